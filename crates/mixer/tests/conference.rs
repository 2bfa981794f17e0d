//! Real media through the mixer: synthetic participants (pattern colours, tones), real Opus
//! and H.264 on the way in and out, checks on decoded pixels and by spectrum.
#![allow(clippy::unwrap_used)] // tests may unwrap (project rule)

use std::collections::HashMap;
use std::time::{Duration, Instant};

use red5_media::codec::h264::{H264Decoder, H264Encoder};
use red5_media::codec::opus::{OpusDecoder, OpusEncoder};
use red5_media::codec::{
    AudioDecoder, AudioEncoder, VideoDecoder, VideoEncoder, VideoEncoderConfig,
};
use red5_media::frame::{AudioFrame, VideoFrame};
use red5_media::source::AudioSource;
use red5_media::synthetic::{PatternColor, TestPattern, ToneSource};
use red5_mixer::{
    AudioTrackPlan, LayoutKind, Mixer, MixerConfig, MixerEvent, Rect, TileRole, OPUS_SILENCE,
};

const STEP: Duration = Duration::from_millis(10);

/// A participant as the server sees it: its camera and microphone go through a real encoder
/// (what it publishes) and the server's decoder before reaching the mixer.
struct Participant {
    id: String,
    freq: f32,
    pattern: TestPattern,
    tone: ToneSource,
    venc: H264Encoder,
    vdec: H264Decoder,
    aenc: OpusEncoder,
    adec: OpusDecoder,
    frames: u32,
    sending: bool,
}

impl Participant {
    fn new(id: &str, color: PatternColor, freq: f32) -> Self {
        let mut cfg = VideoEncoderConfig::new(320, 180, 30, 300_000);
        cfg.allow_frame_drop = false;
        Participant {
            id: id.into(),
            freq,
            pattern: TestPattern::new(320, 180, color),
            tone: ToneSource::new(freq, 0.3, 1, false).unwrap(),
            venc: H264Encoder::new(cfg).unwrap(),
            vdec: H264Decoder::new().unwrap(),
            aenc: OpusEncoder::new(1, 32_000).unwrap(),
            adec: OpusDecoder::new(1).unwrap(),
            frames: 0,
            sending: true,
        }
    }

    fn video(&mut self) -> Option<VideoFrame> {
        let raw = self.pattern.render(self.frames, 0);
        self.frames += 1;
        let enc = self.venc.encode(&raw).unwrap()?;
        self.vdec.decode(&enc.data).unwrap()
    }

    fn audio(&mut self) -> AudioFrame {
        let raw = self.tone.next_frame().unwrap();
        let pkt = self.aenc.encode(&raw).unwrap();
        self.adec.decode(Some(&pkt)).unwrap()
    }
}

/// Power of one frequency relative to a full-scale sine, in dB (Goertzel).
fn tone_db(samples: &[f32], freq: f32) -> f32 {
    let w = 2.0 * std::f64::consts::PI * f64::from(freq) / 48_000.0;
    let coeff = 2.0 * w.cos();
    let (mut s1, mut s2) = (0f64, 0f64);
    for &x in samples {
        let s0 = f64::from(x) + coeff * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    let power = s1 * s1 + s2 * s2 - coeff * s1 * s2;
    let n = samples.len() as f64;
    // A full-scale sine gives power (n/2)^2.
    (10.0 * (power / (n * n / 4.0)).max(1e-20).log10()) as f32
}

struct Rig {
    mixer: Mixer,
    people: Vec<Participant>,
    t0: Instant,
    step: u64,
    /// Decoded mix-minus per participant, and per (participant, talker slot).
    heard: HashMap<String, Vec<f32>>,
    talker_heard: HashMap<(String, usize), Vec<f32>>,
    mm_dec: HashMap<String, OpusDecoder>,
    talker_dec: HashMap<(String, usize), OpusDecoder>,
    composite_dec: H264Decoder,
    last_composite: Option<VideoFrame>,
    composites: usize,
}

impl Rig {
    fn new(config: MixerConfig, people: Vec<Participant>) -> Rig {
        let t0 = Instant::now();
        let mut mixer = Mixer::new(config, t0).unwrap();
        for p in &people {
            assert!(mixer.add_participant(&p.id).unwrap());
        }
        Rig {
            mixer,
            people,
            t0,
            step: 0,
            heard: HashMap::new(),
            talker_heard: HashMap::new(),
            mm_dec: HashMap::new(),
            talker_dec: HashMap::new(),
            composite_dec: H264Decoder::new().unwrap(),
            last_composite: None,
            composites: 0,
        }
    }

    /// Run for `d` of media time in 10 ms steps (participants send audio every 20 ms and video
    /// at 30 fps, the mixer ticks every step).
    fn run(&mut self, d: Duration) {
        let steps = d.as_millis() as u64 / 10;
        for _ in 0..steps {
            let ms = self.step * 10;
            let now = self.t0 + STEP * self.step as u32;
            for p in &mut self.people {
                if !p.sending {
                    continue;
                }
                if ms.is_multiple_of(20) {
                    let a = p.audio();
                    self.mixer.push_audio(&p.id, &a).unwrap();
                }
                // A new camera frame whenever the 30 fps clock passes a frame boundary.
                if ms * 30 / 1000 != (ms + 10) * 30 / 1000 || ms == 0 {
                    if let Some(f) = p.video() {
                        self.mixer.push_video(&p.id, f, now).unwrap();
                    }
                }
            }
            for ev in self.mixer.tick(now).unwrap() {
                match ev {
                    MixerEvent::Audio(a) => {
                        for pa in &a.participants {
                            let dec = self
                                .mm_dec
                                .entry(pa.id.clone())
                                .or_insert_with(|| OpusDecoder::new(1).unwrap());
                            let pcm = dec.decode(pa.mix_minus.opus.as_deref()).unwrap();
                            self.heard
                                .entry(pa.id.clone())
                                .or_default()
                                .extend(pcm.samples);
                            for (i, t) in pa.talkers.iter().enumerate() {
                                let key = (pa.id.clone(), i);
                                let dec = self
                                    .talker_dec
                                    .entry(key.clone())
                                    .or_insert_with(|| OpusDecoder::new(1).unwrap());
                                let pcm = dec.decode(t.opus.as_deref()).unwrap();
                                self.talker_heard
                                    .entry(key)
                                    .or_default()
                                    .extend(pcm.samples);
                            }
                        }
                    }
                    MixerEvent::Video(v) => {
                        if let Some(e) = v.encoded {
                            if let Some(f) = self.composite_dec.decode(&e.data).unwrap() {
                                assert_eq!((f.width, f.height), (640, 360));
                                self.last_composite = Some(f);
                                self.composites += 1;
                            }
                        }
                    }
                }
            }
            self.step += 1;
        }
    }

    fn clear_audio(&mut self) {
        self.heard.clear();
        self.talker_heard.clear();
    }

    fn person(&self, id: &str) -> &Participant {
        self.people.iter().find(|p| p.id == id).unwrap()
    }

    /// The decoded composite's colour in the pattern's colour patch of a tile.
    fn tile_colour(&self, id: &str) -> Option<PatternColor> {
        let tile = self.mixer.layout().into_iter().find(|t| t.id == id)?;
        let content = tile.rect.fit(320, 180);
        let f = self.last_composite.as_ref()?;
        let (my, mu, mv) = f.mean_yuv(
            (content.x + content.width * 3 / 4) as usize,
            (content.y + content.height * 4 / 5) as usize,
            (content.width / 5) as usize,
            (content.height / 8) as usize,
        );
        PatternColor::ALL.into_iter().find(|c| {
            let (y, u, v) = c.yuv();
            (my - f32::from(y)).abs() < 14.0
                && (mu - f32::from(u)).abs() < 10.0
                && (mv - f32::from(v)).abs() < 10.0
        })
    }

    fn mean_in(&self, r: Rect) -> (f32, f32, f32) {
        let f = self.last_composite.as_ref().unwrap();
        f.mean_yuv(
            r.x as usize,
            r.y as usize,
            r.width as usize,
            r.height as usize,
        )
    }
}

fn three() -> Vec<Participant> {
    vec![
        Participant::new("alice", PatternColor::Red, 440.0),
        Participant::new("bob", PatternColor::Green, 660.0),
        Participant::new("carol", PatternColor::Blue, 880.0),
    ]
}

fn config() -> MixerConfig {
    let mut c = MixerConfig::new(640, 360, 30, 800);
    c.video_timeout = Duration::from_millis(500);
    c
}

/// The last 0.5 s of what `samples` holds.
fn tail(samples: &[f32]) -> &[f32] {
    &samples[samples.len().saturating_sub(24_000)..]
}

fn assert_hears(rig: &Rig, listener: &str, expect: &[&str], not: &[&str]) {
    let heard = tail(&rig.heard[listener]);
    assert!(heard.len() >= 24_000, "only {} samples", heard.len());
    for other in expect {
        let db = tone_db(heard, rig.person(other).freq);
        // Each tone is 0.3 peak: -10.5 dB re full scale; allow for codec loss.
        assert!(db > -16.0, "{listener} should hear {other}: {db:.1} dB");
    }
    for absent in not {
        let db = tone_db(heard, rig.person(absent).freq);
        assert!(db < -50.0, "{listener} must not hear {absent}: {db:.1} dB");
    }
}

#[test]
fn mix_minus_holds_the_other_two_tones_and_not_your_own() {
    let mut cfg = config();
    cfg.encode_video = false;
    let mut rig = Rig::new(cfg, three());
    rig.run(Duration::from_millis(1500));
    assert_hears(&rig, "alice", &["bob", "carol"], &["alice"]);
    assert_hears(&rig, "bob", &["alice", "carol"], &["bob"]);
    assert_hears(&rig, "carol", &["alice", "bob"], &["carol"]);

    // Talker tracks: each of alice's first two tracks carries exactly one other talker, the
    // third is silence (only two others exist).
    let tracks: Vec<Vec<f32>> = (0..3)
        .map(|i| tail(&rig.talker_heard[&("alice".to_string(), i)]).to_vec())
        .collect();
    let mut found = Vec::new();
    for (i, t) in tracks.iter().take(2).enumerate() {
        let loud: Vec<&str> = ["alice", "bob", "carol"]
            .into_iter()
            .filter(|p| tone_db(t, rig.person(p).freq) > -16.0)
            .collect();
        assert_eq!(loud.len(), 1, "track {i} carries {loud:?}");
        assert!(tone_db(t, 440.0) < -50.0, "track {i} carries alice herself");
        found.push(loud[0]);
    }
    found.sort_unstable();
    assert_eq!(found, ["bob", "carol"]);
    assert!(
        tracks[2].iter().all(|s| s.abs() < 1e-3),
        "third talker track should be silent"
    );
}

#[test]
fn composite_shows_presenter_large_and_follows_changes() {
    let mut rig = Rig::new(config(), three());
    rig.mixer.set_presenter(Some("alice"));
    rig.run(Duration::from_millis(1000));
    assert!(rig.composites > 20, "{} composites decoded", rig.composites);
    let layout = rig.mixer.layout();
    assert_eq!(layout[0].id, "alice");
    assert_eq!(layout[0].role, TileRole::Main);
    assert_eq!(layout[0].rect, Rect::new(0, 0, 480, 360));
    assert_eq!(rig.tile_colour("alice"), Some(PatternColor::Red));
    assert_eq!(rig.tile_colour("bob"), Some(PatternColor::Green));
    assert_eq!(rig.tile_colour("carol"), Some(PatternColor::Blue));
    // The main region's centre row is the presenter's colour (not just the patch).
    let big = rig.mixer.layout()[0].rect.fit(320, 180);
    let (_, u, v) = rig.mean_in(Rect::new(
        big.x + big.width / 2,
        big.y + big.height - 24,
        big.width / 2 - 16,
        16,
    ));
    let (_, ru, rv) = PatternColor::Red.yuv();
    assert!((u - f32::from(ru)).abs() < 8.0 && (v - f32::from(rv)).abs() < 8.0);

    // Presenter change: bob moves into the large region, alice into the strip.
    rig.mixer.set_presenter(Some("bob"));
    rig.run(Duration::from_millis(300));
    let layout = rig.mixer.layout();
    assert_eq!(
        (layout[0].id.as_str(), layout[0].role),
        ("bob", TileRole::Main)
    );
    assert_eq!(rig.tile_colour("bob"), Some(PatternColor::Green));
    assert_eq!(rig.tile_colour("alice"), Some(PatternColor::Red));
    let main_patch = Rect::new(300, 260, 60, 30);
    let (_, u, v) = rig.mean_in(main_patch);
    let (_, gu, gv) = PatternColor::Green.yuv();
    assert!(
        (u - f32::from(gu)).abs() < 8.0 && (v - f32::from(gv)).abs() < 8.0,
        "{u} {v}"
    );

    // Removal: carol's tile leaves the composite.
    let carol_rect = rig
        .mixer
        .layout()
        .iter()
        .find(|t| t.id == "carol")
        .unwrap()
        .rect;
    assert!(rig.mixer.remove_participant("carol"));
    rig.run(Duration::from_millis(300));
    assert!(rig.mixer.layout().iter().all(|t| t.id != "carol"));
    assert_eq!(rig.mixer.layout().len(), 2);
    // Nobody shows Blue anywhere in the strip any more.
    let strip = rig.mean_in(Rect::new(484, 0, 156, 360));
    let (_, bu, _) = PatternColor::Blue.yuv();
    assert!(
        (strip.1 - f32::from(bu)).abs() > 20.0,
        "blue still in the strip: {strip:?}"
    );
    let _ = carol_rect;
}

#[test]
fn a_participant_that_stops_sending_goes_silent_and_placeholder_without_stalling() {
    let mut rig = Rig::new(config(), three());
    rig.run(Duration::from_millis(800));
    assert_eq!(rig.tile_colour("carol"), Some(PatternColor::Blue));
    assert_hears(&rig, "alice", &["bob", "carol"], &["alice"]);

    // Carol's network drops: no more audio or video from her.
    rig.people[2].sending = false;
    let composites_before = rig.composites;
    rig.clear_audio();
    rig.run(Duration::from_millis(1200));
    // The mix kept running at full rate...
    assert!(
        rig.composites - composites_before >= 30,
        "{}",
        rig.composites - composites_before
    );
    assert!(rig.heard["alice"].len() >= 1200 * 48 - 960);
    // ...alice and bob no longer hear carol but still hear each other...
    assert_hears(&rig, "alice", &["bob"], &["alice", "carol"]);
    assert_hears(&rig, "bob", &["alice"], &["bob", "carol"]);
    // ...and carol's tile shows the neutral grey placeholder.
    let tile = rig
        .mixer
        .layout()
        .into_iter()
        .find(|t| t.id == "carol")
        .unwrap();
    let (y, u, v) = rig.mean_in(Rect::new(tile.rect.x + 2, tile.rect.y + 2, 12, 8));
    assert!(
        (y - 56.0).abs() < 8.0 && (u - 128.0).abs() < 4.0 && (v - 128.0).abs() < 4.0,
        "{y} {u} {v}"
    );
    assert!(rig.mixer.stats().audio_inputs[2].underruns >= 1);

    // She comes back: picture and tone return.
    rig.people[2].sending = true;
    rig.clear_audio();
    rig.run(Duration::from_millis(800));
    assert_eq!(rig.tile_colour("carol"), Some(PatternColor::Blue));
    assert_hears(&rig, "alice", &["bob", "carol"], &["alice"]);
}

#[test]
fn keyframe_on_request_and_grid_layout() {
    let mut cfg = config();
    cfg.keyframe_interval = 0;
    cfg.layout = LayoutKind::Grid;
    let mut rig = Rig::new(cfg, three());
    rig.run(Duration::from_millis(300));
    let mut keys = 0;
    let t = rig.t0 + Duration::from_millis(300);
    rig.mixer.request_keyframe();
    for i in 0..5u32 {
        for ev in rig.mixer.tick(t + Duration::from_millis(34) * i).unwrap() {
            if let MixerEvent::Video(v) = ev {
                keys += usize::from(v.encoded.is_some_and(|e| e.keyframe));
            }
        }
    }
    assert_eq!(keys, 1);
    let layout = rig.mixer.layout();
    assert_eq!(layout.len(), 3);
    assert!(layout.iter().all(|t| t.rect.width == layout[0].rect.width));
}

#[test]
fn late_ticks_skip_video_frames_and_bound_audio_catch_up() {
    let t0 = Instant::now();
    let mut cfg = config();
    cfg.encode_video = false;
    let mut m = Mixer::new(cfg, t0).unwrap();
    m.add_participant("a").unwrap();
    let ev = m.tick(t0).unwrap();
    assert_eq!(ev.len(), 2, "one audio and one video frame at t0");
    // One second late: one composite, at most five audio frames, clocks realigned.
    let ev = m.tick(t0 + Duration::from_secs(1)).unwrap();
    let videos = ev
        .iter()
        .filter(|e| matches!(e, MixerEvent::Video(_)))
        .count();
    let audios = ev
        .iter()
        .filter(|e| matches!(e, MixerEvent::Audio(_)))
        .count();
    assert_eq!((videos, audios), (1, 5));
    let s = m.stats();
    assert!(
        s.skipped_video_frames >= 28 && s.skipped_audio_frames >= 40,
        "{s:?}"
    );
    assert!(m.next_deadline() > t0 + Duration::from_secs(1));
    assert!(m.next_deadline() <= t0 + Duration::from_millis(1034));
}

#[test]
fn bad_settings_are_refused_with_a_reason() {
    let t0 = Instant::now();
    let e = Mixer::new(MixerConfig::new(641, 360, 30, 1500), t0).unwrap_err();
    assert!(e.to_string().contains("641x360"), "{e}");
    let e = Mixer::new(MixerConfig::new(640, 360, 0, 1500), t0).unwrap_err();
    assert!(e.to_string().contains("frame rate"), "{e}");
    let mut m = Mixer::new(MixerConfig::new(640, 360, 30, 1500), t0).unwrap();
    assert!(m.set_bitrate_kbps(5).is_err());
    m.set_bitrate_kbps(900).unwrap();
    assert_eq!(m.config().bitrate_kbps, 900);
    let mut broken = VideoFrame::new(64, 64);
    broken.y.truncate(10);
    m.add_participant("a").unwrap();
    assert!(m.push_video("a", broken, t0).is_err());
    // Waiting-room participants are ignored, not errors.
    assert!(!m
        .push_video("stranger", VideoFrame::new(64, 64), t0)
        .unwrap());
}

#[test]
fn opus_silence_packet_decodes_to_silence() {
    let mut d = OpusDecoder::new(1).unwrap();
    let f = d.decode(Some(&red5_mixer::OPUS_SILENCE)).unwrap();
    assert_eq!(f.samples.len(), 960);
    let peak = f.samples.iter().fold(0f32, |m, s| m.max(s.abs()));
    assert!(peak < 1e-4, "peak {peak}");
}

#[test]
fn set_participants_follows_the_conference_list() {
    let t0 = Instant::now();
    let mut m = Mixer::new(config(), t0).unwrap();
    let l = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    m.set_participants(&l(&["a", "b", "c"])).unwrap();
    m.set_participants(&l(&["c", "a", "d"])).unwrap();
    assert_eq!(m.participants(), l(&["c", "a", "d"]).as_slice());
    assert_eq!(m.presenter(), Some("c"));
    m.set_presenter(Some("d"));
    m.tick(t0).unwrap();
    let layout = m.layout();
    assert_eq!(
        layout.iter().map(|t| t.id.as_str()).collect::<Vec<_>>(),
        ["d", "c", "a"]
    );
    let ev = m.tick(t0 + Duration::from_millis(20)).unwrap();
    let audio = ev
        .iter()
        .find_map(|e| match e {
            MixerEvent::Audio(a) => Some(a),
            _ => None,
        })
        .unwrap();
    assert_eq!(audio.participants.len(), 3);
    assert!(audio.participant("b").is_none());
    let a = audio.participant("a").unwrap();
    assert_eq!(a.talkers.len(), 3);
    let talkers = a.tracks(AudioTrackPlan::Talkers).unwrap();
    let mixed = a.tracks(AudioTrackPlan::MixMinusFirst).unwrap();
    assert_eq!((talkers.len(), mixed.len()), (3, 3));
    assert_eq!(mixed[0], a.mix_minus.opus.clone().unwrap());
    assert_eq!(&mixed[1][..], &OPUS_SILENCE[..]);
}

#[test]
fn active_speaker_follows_the_loudest_talker_and_is_framed() {
    let t0 = Instant::now();
    let mut cfg = config();
    cfg.encode_video = false;
    cfg.encode_audio = false;
    let mut m = Mixer::new(cfg, t0).unwrap();
    m.add_participant("a").unwrap();
    m.add_participant("b").unwrap();
    let sine = |amp: f32| AudioFrame {
        samples: (0..960).map(|i| (i as f32 * 0.06).sin() * amp).collect(),
        channels: 1,
        sample_rate: 48_000,
        timestamp: Duration::ZERO,
    };
    let mut speaker = None;
    let mut run = |m: &mut Mixer, amp_a: f32, amp_b: f32, from: u32| {
        for k in from..from + 25 {
            m.push_audio("a", &sine(amp_a)).unwrap();
            m.push_audio("b", &sine(amp_b)).unwrap();
            for ev in m.tick(t0 + Duration::from_millis(20) * k).unwrap() {
                if let MixerEvent::Audio(a) = ev {
                    speaker = a.active_speaker.clone();
                    assert_eq!(a.levels_dbfs.len(), 2);
                }
            }
        }
        speaker.clone()
    };
    assert_eq!(run(&mut m, 0.02, 0.3, 0), Some("b".to_string()));
    let b_tile = m.layout().into_iter().find(|t| t.id == "b").unwrap().rect;
    let top_edge = m
        .composite()
        .mean_yuv(b_tile.x as usize + 20, b_tile.y as usize, 4, 2);
    assert_eq!(top_edge, (172.0, 38.0, 174.0), "amber frame on b");
    // b falls silent: a (quiet but talking) becomes the speaker, b's frame goes.
    assert_eq!(run(&mut m, 0.02, 0.0, 25), Some("a".to_string()));
    let top_edge = m
        .composite()
        .mean_yuv(b_tile.x as usize + 20, b_tile.y as usize, 4, 2);
    assert_ne!(top_edge, (172.0, 38.0, 174.0));
    // Everyone silent: nobody.
    assert_eq!(run(&mut m, 0.0, 0.0, 50), None);
}
