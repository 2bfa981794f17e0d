//! The sans-I/O mixer core: the caller pushes decoded participant media and calls
//! [`Mixer::tick`] with its clock; the mixer returns the composite (raw and H.264) when a video
//! frame is due and the audio outputs every 20 ms.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use red5_media::codec::h264::H264Encoder;
use red5_media::codec::opus::OpusEncoder;
use red5_media::codec::{AudioEncoder, EncodedVideo, VideoEncoder, VideoEncoderConfig};
use red5_media::frame::{AudioFrame, VideoFrame, AUDIO_RATE};
use serde::{Deserialize, Serialize};

use crate::audio::{AudioInputStats, AudioMixer, AudioMixerConfig, FRAME};
use crate::compositor::{Compositor, Refreshed, Yuv, BACKGROUND};
use crate::error::MixerError;
use crate::layout::{LayoutKind, Tile};

/// One 20 ms Opus frame of digital silence (CELT, fullband, 20 ms, no payload): what the
/// talker tracks carry while they have nobody to play, so browsers keep the track alive.
pub const OPUS_SILENCE: [u8; 3] = [0xF8, 0xFF, 0xFE];
/// Audio step.
pub const AUDIO_PERIOD: Duration = Duration::from_millis(20);
/// At most this many late audio frames are produced in one tick; further behind, the audio
/// clock jumps (a caller that stalled for a long time should not get a burst).
const MAX_AUDIO_CATCH_UP: u32 = 5;
/// Smoothed RMS above which a participant counts as speaking (-45 dBFS).
const SPEAKING: f32 = 0.0056;
/// A new active speaker must be this much louder than the current one (3 dB).
const SPEAKER_SWITCH: f32 = 1.413;

/// Composition settings (the SM1 composition's width/height/framerate/bitrate plus mixer
/// details).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct MixerConfig {
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    /// Composite video bitrate in kbps (as in the composition API).
    pub bitrate_kbps: u32,
    pub layout: LayoutKind,
    /// Canvas and letterbox colour.
    pub background: Yuv,
    /// Composite key frame every N frames (0 = on request only).
    pub keyframe_interval: u32,
    /// Opus bitrate of every audio output (bit/s).
    pub audio_bitrate_bps: u32,
    /// Loudest-talker tracks per participant (Red5: 3).
    pub talker_tracks: usize,
    /// Audio FIFO pre-buffer per participant, in 20 ms frames.
    pub jitter_frames: usize,
    /// A participant without a new video frame for this long shows the placeholder.
    pub video_timeout: Duration,
    /// Produce H.264 for the composite (off for a caller that only wants raw frames).
    pub encode_video: bool,
    /// Produce Opus packets for the audio outputs.
    pub encode_audio: bool,
    /// Frame the active speaker's tile (amber outline) when 2+ participants take part.
    pub highlight_speaker: bool,
    /// Participant names on their tiles (bottom left, white on a translucent box).
    pub show_names: bool,
}

impl Default for MixerConfig {
    /// The conference composition of the host page: 1280x720, 30 fps, 1500 kbps.
    fn default() -> Self {
        MixerConfig {
            width: 1280,
            height: 720,
            fps: 30,
            bitrate_kbps: 1500,
            layout: LayoutKind::Presenter,
            background: BACKGROUND,
            keyframe_interval: 60,
            audio_bitrate_bps: 32_000,
            talker_tracks: 3,
            jitter_frames: 2,
            video_timeout: Duration::from_secs(2),
            encode_video: true,
            encode_audio: true,
            highlight_speaker: true,
            show_names: true,
        }
    }
}

impl MixerConfig {
    pub fn new(width: u32, height: u32, fps: u32, bitrate_kbps: u32) -> Self {
        MixerConfig {
            width,
            height,
            fps,
            bitrate_kbps,
            keyframe_interval: fps.saturating_mul(2),
            ..MixerConfig::default()
        }
    }

    fn validate(&self) -> Result<(), MixerError> {
        if self.width < 16
            || self.height < 16
            || !self.width.is_multiple_of(2)
            || !self.height.is_multiple_of(2)
            || self.width > 4096
            || self.height > 4096
        {
            return Err(MixerError::InvalidConfig(format!(
                "the size must be even, 16..4096 pixels a side, not {}x{}",
                self.width, self.height
            )));
        }
        if !(1..=60).contains(&self.fps) {
            return Err(MixerError::InvalidConfig(format!(
                "the frame rate must be 1..60 fps, not {}",
                self.fps
            )));
        }
        if !(50..=50_000).contains(&self.bitrate_kbps) {
            return Err(MixerError::InvalidConfig(format!(
                "the bitrate must be 50..50000 kbps, not {}",
                self.bitrate_kbps
            )));
        }
        if !(6_000..=510_000).contains(&self.audio_bitrate_bps) {
            return Err(MixerError::InvalidConfig(format!(
                "the audio bitrate must be 6000..510000 bit/s, not {}",
                self.audio_bitrate_bps
            )));
        }
        Ok(())
    }

    fn encoder_config(&self) -> VideoEncoderConfig {
        let mut c = VideoEncoderConfig::new(
            self.width,
            self.height,
            self.fps,
            self.bitrate_kbps.saturating_mul(1000),
        );
        c.keyframe_interval = self.keyframe_interval;
        c
    }
}

/// A composite video frame.
#[derive(Debug, Clone)]
pub struct VideoOutput {
    /// Composite frame counter since the mixer started.
    pub frame_number: u64,
    /// Media time since the mixer started (RTP timestamp = 90 kHz × this).
    pub timestamp: Duration,
    /// The H.264 frame (Annex-B, constrained baseline), `None` when encoding is off or rate
    /// control skipped the frame.
    pub encoded: Option<EncodedVideo>,
    /// Participant pictures that are new in this composite (their arrival times give the
    /// latency the mixer adds).
    pub refreshed: Vec<Refreshed>,
    /// The layout changed with this frame.
    pub layout_changed: bool,
}

/// A mono 48 kHz 20 ms output in both forms.
#[derive(Debug, Clone)]
pub struct AudioTrackOutput {
    pub pcm: AudioFrame,
    /// Opus packet (`None` when audio encoding is off).
    pub opus: Option<Bytes>,
}

/// One talker track of a participant.
#[derive(Debug, Clone)]
pub struct TalkerTrack {
    /// The other participant heard on this track (`None` = silence).
    pub source: Option<String>,
    /// Their audio this frame (silence when `source` is `None`).
    pub pcm: Arc<[f32]>,
    /// Their Opus packet ([`OPUS_SILENCE`] when `source` is `None`; `None` when encoding is
    /// off). Shared by every participant who hears the same talker.
    pub opus: Option<Bytes>,
}

/// One participant's audio outputs.
#[derive(Debug, Clone)]
pub struct ParticipantAudio {
    pub id: String,
    /// Everyone but this participant, summed and limited.
    pub mix_minus: AudioTrackOutput,
    /// The loudest other talkers, one per track (Red5's 3 recvonly tracks).
    pub talkers: Vec<TalkerTrack>,
}

/// What the server sends on a participant's extra (`sendonly`) audio m-lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum AudioTrackPlan {
    /// Red5's behaviour: each track carries one of the loudest other talkers (silence when
    /// fewer exist). A receiver that plays all tracks hears exactly the mix-minus for up to
    /// `talker_tracks + 1` participants, and the loudest others beyond.
    #[default]
    Talkers,
    /// The summed mix-minus on the first track, silence on the others: for receivers that play
    /// only one audio track of a stream.
    MixMinusFirst,
}

impl ParticipantAudio {
    /// The Opus packets for the extra audio m-lines, in m-line order (`None` when audio
    /// encoding is off).
    pub fn tracks(&self, plan: AudioTrackPlan) -> Option<Vec<Bytes>> {
        match plan {
            AudioTrackPlan::Talkers => self.talkers.iter().map(|t| t.opus.clone()).collect(),
            AudioTrackPlan::MixMinusFirst => {
                let first = self.mix_minus.opus.clone()?;
                let n = self.talkers.len().max(1);
                Some(
                    std::iter::once(first)
                        .chain(std::iter::repeat_n(
                            Bytes::from_static(&OPUS_SILENCE),
                            n - 1,
                        ))
                        .collect(),
                )
            }
        }
    }
}

/// The audio outputs of one 20 ms step.
#[derive(Debug, Clone)]
pub struct AudioOutput {
    /// Audio frame counter since the mixer started.
    pub frame_number: u64,
    /// Media time since the mixer started (RTP timestamp = 48 kHz × this).
    pub timestamp: Duration,
    /// Everybody, for viewers of the composite stream.
    pub full_mix: AudioTrackOutput,
    pub participants: Vec<ParticipantAudio>,
    /// Smoothed level of every participant's input in dBFS (for meters).
    pub levels_dbfs: Vec<(String, f32)>,
    /// The participant currently talking loudest (with 3 dB hysteresis), if anyone talks.
    pub active_speaker: Option<String>,
}

impl AudioOutput {
    pub fn participant(&self, id: &str) -> Option<&ParticipantAudio> {
        self.participants.iter().find(|p| p.id == id)
    }
}

/// What a tick produced (the mixer's one event type).
#[derive(Debug, Clone)]
pub enum MixerEvent {
    Video(VideoOutput),
    Audio(AudioOutput),
}

/// Counters for status pages and logs.
#[derive(Debug, Clone, PartialEq)]
pub struct MixerStats {
    pub video_frames: u64,
    pub encoded_bytes: u64,
    pub skipped_video_frames: u64,
    pub audio_frames: u64,
    pub skipped_audio_frames: u64,
    pub audio_inputs: Vec<AudioInputStats>,
}

struct Encoders {
    /// Mix-minus encoder per participant (same order as the participant list).
    mix_minus: Vec<(String, OpusEncoder)>,
    /// Solo encoder per participant (talker tracks).
    solo: Vec<(String, OpusEncoder)>,
    full: OpusEncoder,
}

/// See the module documentation.
pub struct Mixer {
    config: MixerConfig,
    start: Instant,
    participants: Vec<String>,
    presenter: Option<String>,
    compositor: Compositor,
    audio: AudioMixer,
    video_encoder: Option<H264Encoder>,
    opus: Option<Encoders>,
    next_video: u64,
    next_audio: u64,
    stats: MixerStats,
    speaker: Option<String>,
}

impl std::fmt::Debug for Mixer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mixer")
            .field("config", &self.config)
            .field("participants", &self.participants)
            .field("presenter", &self.presenter)
            .finish_non_exhaustive()
    }
}

fn opus_encoder(bps: u32) -> Result<OpusEncoder, MixerError> {
    Ok(OpusEncoder::new(1, bps)?)
}

fn mono(samples: Vec<f32>, timestamp: Duration) -> AudioFrame {
    AudioFrame {
        samples,
        channels: 1,
        sample_rate: AUDIO_RATE,
        timestamp,
    }
}

impl Mixer {
    /// A mixer whose clock starts at `now`.
    pub fn new(config: MixerConfig, now: Instant) -> Result<Self, MixerError> {
        config.validate()?;
        let mut compositor = Compositor::new(
            config.width,
            config.height,
            config.layout.clone(),
            config.video_timeout,
        );
        compositor.set_background(config.background);
        compositor.set_show_names(config.show_names);
        let video_encoder = if config.encode_video {
            Some(H264Encoder::new(config.encoder_config())?)
        } else {
            None
        };
        let opus = if config.encode_audio {
            Some(Encoders {
                mix_minus: Vec::new(),
                solo: Vec::new(),
                full: opus_encoder(config.audio_bitrate_bps)?,
            })
        } else {
            None
        };
        Ok(Mixer {
            audio: AudioMixer::new(AudioMixerConfig {
                talker_tracks: config.talker_tracks,
                jitter_frames: config.jitter_frames,
                ..AudioMixerConfig::default()
            }),
            config,
            start: now,
            participants: Vec::new(),
            presenter: None,
            compositor,
            video_encoder,
            opus,
            next_video: 0,
            next_audio: 0,
            speaker: None,
            stats: MixerStats {
                video_frames: 0,
                encoded_bytes: 0,
                skipped_video_frames: 0,
                audio_frames: 0,
                skipped_audio_frames: 0,
                audio_inputs: Vec::new(),
            },
        })
    }

    pub fn config(&self) -> &MixerConfig {
        &self.config
    }

    /// The conference order.
    pub fn participants(&self) -> &[String] {
        &self.participants
    }

    /// Add a participant at the end of the order (no-op if present). Until its first frame it
    /// shows as a placeholder tile and contributes silence.
    pub fn add_participant(&mut self, id: &str) -> Result<bool, MixerError> {
        if self.participants.iter().any(|p| p == id) {
            return Ok(false);
        }
        if let Some(enc) = &mut self.opus {
            enc.mix_minus
                .push((id.to_owned(), opus_encoder(self.config.audio_bitrate_bps)?));
            enc.solo
                .push((id.to_owned(), opus_encoder(self.config.audio_bitrate_bps)?));
        }
        self.participants.push(id.to_owned());
        self.audio.add(id);
        self.compositor.set_participants(&self.participants);
        Ok(true)
    }

    /// Remove a participant: its tile and its audio leave the mix at the next tick.
    pub fn remove_participant(&mut self, id: &str) -> bool {
        let before = self.participants.len();
        self.participants.retain(|p| p != id);
        if self.participants.len() == before {
            return false;
        }
        if let Some(enc) = &mut self.opus {
            enc.mix_minus.retain(|(p, _)| p != id);
            enc.solo.retain(|(p, _)| p != id);
        }
        self.audio.remove(id);
        self.compositor.set_participants(&self.participants);
        true
    }

    /// Make the conference exactly `order` (adds, removes and reorders), e.g. from the
    /// backend's `conference` list.
    pub fn set_participants(&mut self, order: &[String]) -> Result<(), MixerError> {
        let gone: Vec<String> = self
            .participants
            .iter()
            .filter(|p| !order.contains(p))
            .cloned()
            .collect();
        for p in gone {
            self.remove_participant(&p);
        }
        for p in order {
            self.add_participant(p)?;
        }
        let mut seen: Vec<String> = Vec::with_capacity(order.len());
        for p in order {
            if !seen.contains(p) {
                seen.push(p.clone());
            }
        }
        self.participants = seen;
        self.compositor.set_participants(&self.participants);
        Ok(())
    }

    /// Host mute/unmute of a participant's audio in every mix (the grid API's `mute`/`unmute`).
    /// False for participants not in the conference.
    pub fn set_audio_muted(&mut self, id: &str, muted: bool) -> bool {
        self.audio.set_muted(id, muted)
    }

    /// The name shown on a participant's tile (`None`: its id, i.e. the stream name).
    pub fn set_display_name(&mut self, id: &str, name: Option<&str>) {
        self.compositor.set_display_name(id, name);
    }

    /// Choose the presenter (`None`: the first participant).
    pub fn set_presenter(&mut self, presenter: Option<&str>) {
        self.presenter = presenter.map(str::to_owned);
        self.compositor.set_presenter(presenter);
    }

    /// The presenter actually shown large.
    pub fn presenter(&self) -> Option<&str> {
        self.compositor.presenter()
    }

    pub fn set_layout(&mut self, layout: LayoutKind) {
        self.config.layout = layout.clone();
        self.compositor.set_layout(layout);
    }

    /// Change the composite bitrate at runtime.
    pub fn set_bitrate_kbps(&mut self, kbps: u32) -> Result<(), MixerError> {
        let mut c = self.config.clone();
        c.bitrate_kbps = kbps;
        c.validate()?;
        if let Some(enc) = &mut self.video_encoder {
            enc.set_bitrate(kbps.saturating_mul(1000))?;
        }
        self.config = c;
        Ok(())
    }

    /// Make the next composite frame a key frame (a viewer sent PLI/FIR or just joined).
    pub fn request_keyframe(&mut self) {
        if let Some(enc) = &mut self.video_encoder {
            enc.request_keyframe();
        }
    }

    /// A participant's newest decoded picture (any size). Returns false for participants not in
    /// the conference (e.g. still in the waiting room).
    pub fn push_video(
        &mut self,
        id: &str,
        frame: VideoFrame,
        now: Instant,
    ) -> Result<bool, MixerError> {
        let (cw, ch) = frame.chroma_size();
        let (w, h) = (frame.width as usize, frame.height as usize);
        let ok = w > 0
            && h > 0
            && frame.stride_y >= w
            && frame.stride_uv >= cw
            && frame.y.len() >= frame.stride_y * (h - 1) + w
            && frame.u.len() >= frame.stride_uv * (ch - 1) + cw
            && frame.v.len() >= frame.stride_uv * (ch - 1) + cw;
        if !ok {
            return Err(MixerError::InvalidVideo {
                id: id.to_owned(),
                reason: format!("planes do not match {}x{}", frame.width, frame.height),
            });
        }
        Ok(self.compositor.push(id, frame, now))
    }

    /// A participant's decoded audio (48 kHz, mono or stereo, any length).
    pub fn push_audio(&mut self, id: &str, frame: &AudioFrame) -> Result<bool, MixerError> {
        self.audio.push(id, frame)
    }

    fn video_due(&self, index: u64) -> Duration {
        Duration::from_nanos(index.saturating_mul(1_000_000_000) / u64::from(self.config.fps))
    }

    fn audio_due(&self, index: u64) -> Duration {
        AUDIO_PERIOD.saturating_mul(index as u32)
    }

    /// When the next output is due (sleep until then).
    pub fn next_deadline(&self) -> Instant {
        self.start
            + self
                .video_due(self.next_video)
                .min(self.audio_due(self.next_audio))
    }

    /// Produce everything due at `now`: at most one composite frame (late frames are skipped,
    /// never bursted) and the due 20 ms audio steps (in order).
    pub fn tick(&mut self, now: Instant) -> Result<Vec<MixerEvent>, MixerError> {
        let elapsed = now.saturating_duration_since(self.start);
        let mut events = Vec::new();
        let mut produced = 0;
        while self.audio_due(self.next_audio) <= elapsed {
            if produced == MAX_AUDIO_CATCH_UP {
                let skip_to = (elapsed.as_micros() / AUDIO_PERIOD.as_micros()) as u64 + 1;
                self.stats.skipped_audio_frames += skip_to - self.next_audio;
                self.next_audio = skip_to;
                break;
            }
            events.push(MixerEvent::Audio(self.mix_audio()?));
            produced += 1;
        }
        if self.video_due(self.next_video) <= elapsed {
            events.push(MixerEvent::Video(self.compose(now)?));
            let current = elapsed.as_nanos() as u64 * u64::from(self.config.fps) / 1_000_000_000;
            let next = (self.next_video + 1).max(current + 1);
            self.stats.skipped_video_frames += next - self.next_video - 1;
            self.next_video = next;
        }
        Ok(events)
    }

    fn compose(&mut self, now: Instant) -> Result<VideoOutput, MixerError> {
        let timestamp = self.video_due(self.next_video);
        let (refreshed, layout_changed) = self.compositor.compose(now);
        let encoded = match &mut self.video_encoder {
            Some(enc) => {
                // The composite carries the presenter's capture time so downstream latency
                // figures follow the main picture.
                let capture = refreshed
                    .iter()
                    .find(|r| Some(r.id.as_str()) == self.compositor.presenter())
                    .map_or(0, |r| r.capture_time_us);
                self.compositor.stamp(timestamp, capture);
                enc.encode(self.compositor.canvas())?
            }
            None => None,
        };
        if let Some(e) = &encoded {
            self.stats.encoded_bytes += e.data.len() as u64;
        }
        self.stats.video_frames += 1;
        Ok(VideoOutput {
            frame_number: self.next_video,
            timestamp,
            encoded,
            refreshed,
            layout_changed,
        })
    }

    fn mix_audio(&mut self) -> Result<AudioOutput, MixerError> {
        let timestamp = self.audio_due(self.next_audio);
        let frame_number = self.next_audio;
        self.next_audio += 1;
        self.stats.audio_frames += 1;
        let crate::audio::AudioMix {
            full,
            sources,
            participants: mixes,
        } = self.audio.mix();
        let source_of = |id: &str| sources.iter().find(|s| s.id == id);
        self.update_speaker(&sources);
        let levels_dbfs = sources
            .iter()
            .map(|s| (s.id.clone(), red5_media::analysis::to_dbfs(s.level)))
            .collect();
        let silence: Arc<[f32]> = vec![0f32; FRAME].into();
        let silence_packet = Bytes::from_static(&OPUS_SILENCE);
        // Solo packets: one encode per talking participant, shared by every listener.
        let mut solo_packets: Vec<(String, Bytes)> = Vec::new();
        let full_frame = mono(full, timestamp);
        let mut full_opus = None;
        if let Some(enc) = &mut self.opus {
            for (id, e) in &mut enc.solo {
                let Some(src) = source_of(id) else { continue };
                // Always encode so the encoder state follows the signal, even when unused.
                let pkt = e.encode(&mono(src.pcm.to_vec(), timestamp))?;
                solo_packets.push((id.clone(), pkt));
            }
            full_opus = Some(enc.full.encode(&full_frame)?);
        }
        let mut participants = Vec::with_capacity(mixes.len());
        for p in mixes {
            let pcm = mono(p.mix_minus, timestamp);
            let opus = match &mut self.opus {
                Some(enc) => match enc.mix_minus.iter_mut().find(|(id, _)| *id == p.id) {
                    Some((_, e)) => Some(e.encode(&pcm)?),
                    None => None,
                },
                None => None,
            };
            let talkers = p
                .talkers
                .into_iter()
                .map(|source| {
                    let (pcm, opus) = match &source {
                        Some(s) => (
                            source_of(s).map_or_else(|| silence.clone(), |f| f.pcm.clone()),
                            self.opus.as_ref().map(|_| {
                                solo_packets
                                    .iter()
                                    .find(|(id, _)| id == s)
                                    .map_or_else(|| silence_packet.clone(), |(_, b)| b.clone())
                            }),
                        ),
                        None => (
                            silence.clone(),
                            self.opus.as_ref().map(|_| silence_packet.clone()),
                        ),
                    };
                    TalkerTrack { source, pcm, opus }
                })
                .collect();
            participants.push(ParticipantAudio {
                id: p.id,
                mix_minus: AudioTrackOutput { pcm, opus },
                talkers,
            });
        }
        Ok(AudioOutput {
            frame_number,
            timestamp,
            full_mix: AudioTrackOutput {
                pcm: full_frame,
                opus: full_opus,
            },
            participants,
            levels_dbfs,
            active_speaker: self.speaker.clone(),
        })
    }

    fn update_speaker(&mut self, sources: &[crate::audio::SourceFrame]) {
        let level = |id: &str| sources.iter().find(|s| s.id == id).map_or(0.0, |s| s.level);
        let loudest = sources
            .iter()
            .filter(|s| s.level >= SPEAKING)
            .max_by(|a, b| a.level.total_cmp(&b.level));
        let current = self.speaker.as_deref().map(level).unwrap_or(0.0);
        let next = match loudest {
            None => None,
            Some(l) if current < SPEAKING || l.level > current * SPEAKER_SWITCH => {
                Some(l.id.clone())
            }
            Some(_) => self.speaker.clone(),
        };
        if next != self.speaker {
            self.speaker = next;
        }
        let show = self.config.highlight_speaker && self.participants.len() >= 2;
        self.compositor
            .set_highlight(self.speaker.as_deref().filter(|_| show));
    }

    /// The composite as last drawn.
    pub fn composite(&self) -> &VideoFrame {
        self.compositor.canvas()
    }

    /// The tiles of the last composite.
    pub fn layout(&self) -> Vec<Tile> {
        self.compositor.tiles()
    }

    pub fn stats(&self) -> MixerStats {
        MixerStats {
            audio_inputs: self.audio.stats(),
            ..self.stats.clone()
        }
    }
}
