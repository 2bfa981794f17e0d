//! The server's path end to end, sans network: participants' RTP (H.264 + Opus, marshalled to
//! wire bytes and parsed back) → red5-media receivers (jitter buffer, decoders) → mixer →
//! RTP for the composite and the three talker tracks → receivers on the participant side.
#![allow(clippy::unwrap_used)] // tests may unwrap (project rule)

use std::time::{Duration, Instant};

use red5_media::codec::h264::H264Encoder;
use red5_media::codec::opus::OpusEncoder;
use red5_media::codec::{AudioEncoder, VideoCodec, VideoEncoder, VideoEncoderConfig};
use red5_media::pipeline::{AudioReceiver, VideoReceiveOutput, VideoReceiver};
use red5_media::rtp::{marshal, unmarshal, Packet, RtpCodec, RtpPacketizer};
use red5_media::source::AudioSource;
use red5_media::synthetic::{PatternColor, TestPattern, ToneSource};
use red5_mixer::{AudioTrackPlan, Mixer, MixerConfig, MixerEvent};

fn wire(p: &Packet) -> Packet {
    unmarshal(&marshal(p).unwrap()).unwrap()
}

fn tone_db(samples: &[f32], freq: f32) -> f32 {
    let w = 2.0 * std::f64::consts::PI * f64::from(freq) / 48_000.0;
    let coeff = 2.0 * w.cos();
    let (mut s1, mut s2) = (0f64, 0f64);
    for &x in samples {
        let s0 = f64::from(x) + coeff * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    let n = samples.len() as f64;
    (10.0
        * ((s1 * s1 + s2 * s2 - coeff * s1 * s2) / (n * n / 4.0))
            .max(1e-20)
            .log10()) as f32
}

struct Sender {
    id: &'static str,
    pattern: TestPattern,
    tone: ToneSource,
    venc: H264Encoder,
    aenc: OpusEncoder,
    vpack: RtpPacketizer,
    apack: RtpPacketizer,
    vrecv: VideoReceiver,
    arecv: AudioReceiver,
    n: u32,
}

#[test]
fn server_path_over_rtp_delivers_composite_and_talker_tracks() {
    let people = [
        ("alice", PatternColor::Red, 440.0f32),
        ("bob", PatternColor::Green, 660.0),
        ("carol", PatternColor::Blue, 880.0),
    ];
    let mut senders: Vec<Sender> = people
        .iter()
        .enumerate()
        .map(|(i, (id, c, f))| Sender {
            id,
            pattern: TestPattern::new(320, 180, *c),
            tone: ToneSource::new(*f, 0.3, 1, false).unwrap(),
            venc: H264Encoder::new(VideoEncoderConfig::new(320, 180, 30, 300_000)).unwrap(),
            aenc: OpusEncoder::new(1, 32_000).unwrap(),
            vpack: RtpPacketizer::new(RtpCodec::H264, 102, 1000 + i as u32, 7, 1234),
            apack: RtpPacketizer::new(RtpCodec::Opus, 111, 2000 + i as u32, 9, 4321),
            vrecv: VideoReceiver::new(VideoCodec::H264).unwrap(),
            arecv: AudioReceiver::new(1).unwrap(),
            n: 0,
        })
        .collect();
    let t0 = Instant::now();
    let mut mixer = Mixer::new(MixerConfig::new(640, 360, 30, 800), t0).unwrap();
    let ids: Vec<String> = people.iter().map(|p| p.0.to_string()).collect();
    mixer.set_participants(&ids).unwrap();
    mixer.set_presenter(Some("carol"));

    // What alice's browser receives: the composite and three talker tracks.
    let mut composite_pack = RtpPacketizer::new(RtpCodec::H264, 102, 77, 100, 5555);
    let mut composite_recv = VideoReceiver::new(VideoCodec::H264).unwrap();
    let mut track_pack: Vec<RtpPacketizer> = (0..3)
        .map(|i| RtpPacketizer::new(RtpCodec::Opus, 111, 90 + i, 200, 6666))
        .collect();
    let mut track_recv: Vec<AudioReceiver> =
        (0..3).map(|_| AudioReceiver::new(1).unwrap()).collect();
    let mut heard: Vec<Vec<f32>> = vec![Vec::new(); 3];
    let mut last_composite = None;

    for step in 0..200u32 {
        let ms = step * 10;
        let now = t0 + Duration::from_millis(u64::from(ms));
        for s in &mut senders {
            if ms % 20 == 0 {
                let a = s.tone.next_frame().unwrap();
                let pkt = s.aenc.encode(&a).unwrap();
                for p in s
                    .apack
                    .packetize(&pkt, Duration::from_millis(u64::from(ms)))
                    .unwrap()
                {
                    s.arecv.push(wire(&p), now);
                }
            }
            if ms * 30 / 1000 != (ms + 10) * 30 / 1000 || ms == 0 {
                let f = s.pattern.render(s.n, 0);
                s.n += 1;
                if let Some(e) = s.venc.encode(&f).unwrap() {
                    for p in s.vpack.packetize(&e.data, e.timestamp).unwrap() {
                        s.vrecv.push(wire(&p), now);
                    }
                }
            }
            for out in s.vrecv.poll(now) {
                if let VideoReceiveOutput::Frame { frame, .. } = out {
                    mixer.push_video(s.id, frame, now).unwrap();
                }
            }
            for (frame, _) in s.arecv.poll(now) {
                mixer.push_audio(s.id, &frame).unwrap();
            }
        }
        for ev in mixer.tick(now).unwrap() {
            match ev {
                MixerEvent::Video(v) => {
                    if let Some(e) = v.encoded {
                        for p in composite_pack.packetize(&e.data, v.timestamp).unwrap() {
                            composite_recv.push(wire(&p), now);
                        }
                    }
                }
                MixerEvent::Audio(a) => {
                    let tracks = a
                        .participant("alice")
                        .unwrap()
                        .tracks(AudioTrackPlan::Talkers)
                        .unwrap();
                    for (i, pkt) in tracks.iter().enumerate() {
                        for p in track_pack[i].packetize(pkt, a.timestamp).unwrap() {
                            track_recv[i].push(wire(&p), now);
                        }
                    }
                }
            }
        }
        for out in composite_recv.poll(now) {
            match out {
                VideoReceiveOutput::Frame { frame, .. } => last_composite = Some(frame),
                VideoReceiveOutput::KeyframeNeeded => mixer.request_keyframe(),
            }
        }
        for (i, r) in track_recv.iter_mut().enumerate() {
            for (f, _) in r.poll(now) {
                heard[i].extend(f.samples);
            }
        }
    }

    // Alice hears bob and carol across her three tracks, never herself.
    let n = heard.iter().map(Vec::len).min().unwrap();
    assert!(n >= 48_000, "only {n} samples per track");
    let sum: Vec<f32> = (n - 24_000..n)
        .map(|k| heard.iter().map(|t| t[k]).sum())
        .collect();
    assert!(
        tone_db(&sum, 660.0) > -16.0,
        "bob: {}",
        tone_db(&sum, 660.0)
    );
    assert!(
        tone_db(&sum, 880.0) > -16.0,
        "carol: {}",
        tone_db(&sum, 880.0)
    );
    assert!(
        tone_db(&sum, 440.0) < -50.0,
        "alice hears herself: {}",
        tone_db(&sum, 440.0)
    );

    // The composite arrives over RTP with carol (blue) in the large region.
    let f = last_composite.expect("no composite decoded");
    assert_eq!((f.width, f.height), (640, 360));
    let main = mixer.layout()[0].rect.fit(320, 180);
    assert_eq!(mixer.layout()[0].id, "carol");
    let (_, u, v) = f.mean_yuv(
        (main.x + main.width * 3 / 4) as usize,
        (main.y + main.height * 4 / 5) as usize,
        (main.width / 5) as usize,
        (main.height / 8) as usize,
    );
    let (_, bu, bv) = PatternColor::Blue.yuv();
    assert!(
        (u - f32::from(bu)).abs() < 8.0 && (v - f32::from(bv)).abs() < 8.0,
        "{u} {v}"
    );
}
