//! Mix-minus audio. Every participant's decoded 48 kHz PCM goes through a small FIFO (jitter
//! tolerant; silence on underrun). Every 20 ms the mixer takes one frame per participant and
//! produces, for each participant, the sum of all the others (limited, never wrapping) and up to
//! `talker_tracks` "loudest other talker" selections, plus one full mix for composite viewers.

use std::collections::VecDeque;
use std::sync::Arc;

use red5_media::frame::{AudioFrame, AUDIO_FRAME_SAMPLES, AUDIO_RATE};

use crate::error::MixerError;

/// Samples in one 20 ms mono frame.
pub const FRAME: usize = AUDIO_FRAME_SAMPLES;
/// Below this smoothed RMS (-60 dBFS) a participant does not count as talking.
pub const TALK_FLOOR: f32 = 0.001;
/// A waiting talker takes a slot from a current one only when this much louder (3 dB).
const SWITCH_RATIO: f32 = 1.413;
/// Level meter release per 20 ms frame (~-1.4 dB per frame, about 1 s to fall 60 dB... slower
/// than speech syllables so talker slots do not flap).
const LEVEL_RELEASE: f32 = 0.85;
/// Limiter ceiling (-1 dBFS) and soft-clip knee.
const CEILING: f32 = 0.891;
const KNEE: f32 = 0.9;
/// Limiter gain recovery per frame (towards 1.0).
const RELEASE: f32 = 0.05;

/// Audio settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AudioMixerConfig {
    /// "Loudest talkers minus self" tracks per participant (Red5 sends 3).
    pub talker_tracks: usize,
    /// Frames (20 ms each) buffered before a participant starts playing, and again after an
    /// underrun.
    pub jitter_frames: usize,
    /// More than this many frames queued means the sender runs fast or came in a burst: the
    /// oldest audio is dropped back to `jitter_frames` to bound latency.
    pub max_buffer_frames: usize,
}

impl Default for AudioMixerConfig {
    fn default() -> Self {
        AudioMixerConfig {
            talker_tracks: 3,
            jitter_frames: 2,
            max_buffer_frames: 10,
        }
    }
}

/// Soft-knee output stage: a per-output gain limiter followed by a soft clipper, so sums of
/// several loud talkers get quieter instead of wrapping or hard clipping.
#[derive(Debug, Clone)]
pub struct Limiter {
    gain: f32,
}

impl Default for Limiter {
    fn default() -> Self {
        Limiter { gain: 1.0 }
    }
}

impl Limiter {
    /// Process one frame in place.
    pub fn process(&mut self, buf: &mut [f32]) {
        let peak = buf.iter().fold(0f32, |m, s| m.max(s.abs()));
        let target = if peak > CEILING { CEILING / peak } else { 1.0 };
        let new = if target < self.gain {
            target
        } else {
            self.gain + (target.min(1.0) - self.gain) * RELEASE
        };
        // Ramp the gain across the frame (1 ms ramp down on attack, whole frame on release)
        // so gain changes do not click.
        let ramp = if new < self.gain {
            48
        } else {
            buf.len().max(1)
        };
        let old = self.gain;
        for (i, s) in buf.iter_mut().enumerate() {
            let g = if i < ramp {
                old + (new - old) * (i as f32 / ramp as f32)
            } else {
                new
            };
            *s = soft_clip(*s * g);
        }
        self.gain = new;
    }

    pub fn gain(&self) -> f32 {
        self.gain
    }
}

/// Identity below the knee, tanh-shaped approach to ±1 above it.
pub fn soft_clip(x: f32) -> f32 {
    let a = x.abs();
    if a <= KNEE {
        x
    } else {
        let over = (a - KNEE) / (1.0 - KNEE);
        (KNEE + (1.0 - KNEE) * over.tanh()).copysign(x)
    }
}

#[derive(Debug)]
struct Channel {
    id: String,
    fifo: VecDeque<f32>,
    playing: bool,
    level: f32,
    underruns: u64,
    dropped: u64,
    limiter: Limiter,
    /// Talker slots: which other participant each of this participant's tracks carries.
    slots: Vec<Option<String>>,
    /// Muted by the host: still drained (no backlog on unmute), heard by nobody.
    muted: bool,
}

/// One participant's audio this frame.
#[derive(Debug, Clone)]
pub struct SourceFrame {
    pub id: String,
    /// What the participant contributed (mono, silence on underrun).
    pub pcm: Arc<[f32]>,
    /// Smoothed level (linear RMS) used to rank talkers.
    pub level: f32,
    /// Whether the participant's FIFO delivered audio (false while buffering/underrun).
    pub active: bool,
}

/// One participant's outputs this frame.
#[derive(Debug, Clone)]
pub struct ParticipantMix {
    pub id: String,
    /// Everyone but this participant, limited (mono).
    pub mix_minus: Vec<f32>,
    /// Per talker track: the other participant it carries (`None` = silence).
    pub talkers: Vec<Option<String>>,
}

/// Everything produced in one 20 ms step.
#[derive(Debug, Clone)]
pub struct AudioMix {
    /// All participants, limited (for viewers of the composite).
    pub full: Vec<f32>,
    pub sources: Vec<SourceFrame>,
    pub participants: Vec<ParticipantMix>,
}

impl AudioMix {
    pub fn source(&self, id: &str) -> Option<&SourceFrame> {
        self.sources.iter().find(|s| s.id == id)
    }
}

/// Per-participant counters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AudioInputStats {
    pub id: String,
    pub buffered_samples: usize,
    pub underruns: u64,
    pub dropped_samples: u64,
}

/// See the module documentation.
#[derive(Debug)]
pub struct AudioMixer {
    config: AudioMixerConfig,
    channels: Vec<Channel>,
    full_limiter: Limiter,
}

impl AudioMixer {
    pub fn new(config: AudioMixerConfig) -> Self {
        AudioMixer {
            config,
            channels: Vec::new(),
            full_limiter: Limiter::default(),
        }
    }

    pub fn config(&self) -> AudioMixerConfig {
        self.config
    }

    /// Add a participant (no-op if present).
    pub fn add(&mut self, id: &str) {
        if self.channels.iter().any(|c| c.id == id) {
            return;
        }
        self.channels.push(Channel {
            id: id.to_owned(),
            fifo: VecDeque::with_capacity(FRAME * (self.config.max_buffer_frames + 1)),
            playing: false,
            level: 0.0,
            underruns: 0,
            dropped: 0,
            limiter: Limiter::default(),
            slots: vec![None; self.config.talker_tracks],
            muted: false,
        });
    }

    /// Remove a participant; its talker slots elsewhere become free.
    pub fn remove(&mut self, id: &str) -> bool {
        let before = self.channels.len();
        self.channels.retain(|c| c.id != id);
        for c in &mut self.channels {
            for s in &mut c.slots {
                if s.as_deref() == Some(id) {
                    *s = None;
                }
            }
        }
        self.channels.len() != before
    }

    /// Host mute: the participant's audio leaves every mix (their own outputs continue).
    /// Returns false for unknown participants.
    pub fn set_muted(&mut self, id: &str, muted: bool) -> bool {
        match self.channels.iter_mut().find(|c| c.id == id) {
            Some(c) => {
                c.muted = muted;
                true
            }
            None => false,
        }
    }

    pub fn ids(&self) -> Vec<String> {
        self.channels.iter().map(|c| c.id.clone()).collect()
    }

    pub fn stats(&self) -> Vec<AudioInputStats> {
        self.channels
            .iter()
            .map(|c| AudioInputStats {
                id: c.id.clone(),
                buffered_samples: c.fifo.len(),
                underruns: c.underruns,
                dropped_samples: c.dropped,
            })
            .collect()
    }

    /// Queue decoded audio (48 kHz, 1 or 2 channels, any length). Returns false for unknown
    /// participants.
    pub fn push(&mut self, id: &str, frame: &AudioFrame) -> Result<bool, MixerError> {
        if frame.sample_rate != AUDIO_RATE || !(1..=2).contains(&frame.channels) {
            return Err(MixerError::UnsupportedAudio {
                id: id.to_owned(),
                reason: format!(
                    "{} Hz with {} channel(s); the mixer takes 48000 Hz mono or stereo",
                    frame.sample_rate, frame.channels
                ),
            });
        }
        let max = self
            .config
            .max_buffer_frames
            .max(self.config.jitter_frames + 1)
            * FRAME;
        let target = self.config.jitter_frames * FRAME;
        let Some(c) = self.channels.iter_mut().find(|c| c.id == id) else {
            return Ok(false);
        };
        if frame.channels == 1 {
            c.fifo.extend(frame.samples.iter().copied());
        } else {
            c.fifo
                .extend(frame.samples.chunks_exact(2).map(|p| 0.5 * (p[0] + p[1])));
        }
        if c.fifo.len() > max {
            let drop = c.fifo.len() - target.max(FRAME);
            c.fifo.drain(..drop);
            c.dropped += drop as u64;
        }
        Ok(true)
    }

    /// Produce the next 20 ms.
    pub fn mix(&mut self) -> AudioMix {
        let jitter = self.config.jitter_frames.max(1) * FRAME;
        let mut sources = Vec::with_capacity(self.channels.len());
        let mut full = vec![0f32; FRAME];
        for c in &mut self.channels {
            let mut pcm = vec![0f32; FRAME];
            if !c.playing && c.fifo.len() >= jitter {
                c.playing = true;
            }
            let mut active = false;
            if c.playing {
                if c.fifo.len() >= FRAME {
                    for (d, s) in pcm.iter_mut().zip(c.fifo.drain(..FRAME)) {
                        *d = s;
                    }
                    active = true;
                } else {
                    // Underrun: play what is left, then silence, and buffer up again.
                    let n = c.fifo.len();
                    for (d, s) in pcm.iter_mut().zip(c.fifo.drain(..)) {
                        *d = s;
                    }
                    // Fade the tail so the cut does not click.
                    for (i, d) in pcm[..n].iter_mut().enumerate() {
                        *d *= 1.0 - i as f32 / n.max(1) as f32;
                    }
                    c.playing = false;
                    c.underruns += 1;
                }
            }
            if c.muted {
                pcm.fill(0.0);
                active = false;
            }
            let rms = (pcm.iter().map(|s| s * s).sum::<f32>() / FRAME as f32).sqrt();
            c.level = rms.max(c.level * LEVEL_RELEASE);
            for (f, s) in full.iter_mut().zip(&pcm) {
                *f += s;
            }
            sources.push(SourceFrame {
                id: c.id.clone(),
                pcm: pcm.into(),
                level: c.level,
                active,
            });
        }
        let levels: Vec<(String, f32)> = sources.iter().map(|s| (s.id.clone(), s.level)).collect();
        let mut participants = Vec::with_capacity(self.channels.len());
        for (c, own) in self.channels.iter_mut().zip(&sources) {
            // Exact mix-minus: the unlimited sum minus this participant's own samples.
            let mut mm: Vec<f32> = full
                .iter()
                .zip(own.pcm.iter())
                .map(|(f, o)| f - o)
                .collect();
            c.limiter.process(&mut mm);
            let others: Vec<(String, f32)> = levels
                .iter()
                .filter(|(id, _)| *id != c.id)
                .cloned()
                .collect();
            assign_talkers(&mut c.slots, &others);
            participants.push(ParticipantMix {
                id: c.id.clone(),
                mix_minus: mm,
                talkers: c.slots.clone(),
            });
        }
        self.full_limiter.process(&mut full);
        AudioMix {
            full,
            sources,
            participants,
        }
    }
}

/// Keep talker slots stable: a current talker keeps its slot while it stays among the loudest
/// `slots.len()` (or within 3 dB of a waiting one); silent or departed talkers free their slot;
/// free slots take the loudest waiting talkers.
pub fn assign_talkers(slots: &mut [Option<String>], others: &[(String, f32)]) {
    let k = slots.len();
    if k == 0 {
        return;
    }
    let mut ranked: Vec<&(String, f32)> = others.iter().filter(|(_, l)| *l >= TALK_FLOOR).collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1));
    let desired: Vec<&str> = ranked.iter().take(k).map(|(id, _)| id.as_str()).collect();
    let level_of = |id: &str| others.iter().find(|(o, _)| o == id).map(|(_, l)| *l);
    // Loudest waiting candidate (desired but not held).
    for i in 0..k {
        let Some(holder) = slots[i].clone() else {
            continue;
        };
        let keep = match level_of(&holder) {
            None => false,
            Some(l) if l < TALK_FLOOR => false,
            Some(_) if desired.contains(&holder.as_str()) => true,
            Some(l) => {
                let waiting = desired
                    .iter()
                    .filter(|d| !slots.iter().any(|s| s.as_deref() == Some(**d)))
                    .filter_map(|d| level_of(d))
                    .fold(0f32, f32::max);
                waiting <= l * SWITCH_RATIO
            }
        };
        if !keep {
            slots[i] = None;
        }
    }
    for d in desired {
        if slots.iter().any(|s| s.as_deref() == Some(d)) {
            continue;
        }
        if let Some(free) = slots.iter_mut().find(|s| s.is_none()) {
            *free = Some(d.to_owned());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(v: f32, n: usize, channels: u16) -> AudioFrame {
        AudioFrame {
            samples: vec![v; n * usize::from(channels)],
            channels,
            sample_rate: AUDIO_RATE,
            timestamp: std::time::Duration::ZERO,
        }
    }

    fn lv(v: &[(&str, f32)]) -> Vec<(String, f32)> {
        v.iter().map(|(a, b)| (a.to_string(), *b)).collect()
    }

    #[test]
    fn soft_clip_is_bounded_and_transparent_below_knee() {
        assert_eq!(soft_clip(0.5), 0.5);
        assert_eq!(soft_clip(-0.9), -0.9);
        for x in [1.0f32, 2.0, 10.0, 1e6] {
            let y = soft_clip(x);
            assert!(y <= 1.0 && y > 0.9, "{x} -> {y}");
            assert_eq!(soft_clip(-x), -y);
        }
        assert!(soft_clip(1.5) > soft_clip(1.2));
    }

    #[test]
    fn limiter_never_wraps_and_recovers() {
        let mut l = Limiter::default();
        let mut loud = vec![2.5f32; FRAME];
        l.process(&mut loud);
        assert!(loud.iter().all(|s| s.abs() <= 1.0 && *s > 0.5));
        assert!(l.gain() < 0.4);
        for _ in 0..200 {
            let mut quiet = vec![0.1f32; FRAME];
            l.process(&mut quiet);
        }
        assert!(l.gain() > 0.99);
        let mut quiet = vec![0.1f32; FRAME];
        l.process(&mut quiet);
        assert!((quiet[FRAME - 1] - 0.1).abs() < 0.002);
    }

    #[test]
    fn mix_minus_excludes_self_and_underrun_is_silence() {
        let mut m = AudioMixer::new(AudioMixerConfig {
            jitter_frames: 1,
            ..Default::default()
        });
        for id in ["a", "b", "c"] {
            m.add(id);
        }
        m.push("a", &frame(0.1, FRAME, 1)).unwrap();
        m.push("b", &frame(0.2, FRAME, 2)).unwrap();
        m.push("c", &frame(0.3, FRAME / 2, 1)).unwrap();
        assert!(!m.push("zz", &frame(0.3, FRAME, 1)).unwrap());
        assert!(m
            .push(
                "a",
                &AudioFrame {
                    sample_rate: 44_100,
                    ..frame(0.1, 10, 1)
                }
            )
            .is_err());
        let out = m.mix();
        // c has only half a frame: still buffering, contributes silence.
        let mm = |id: &str| {
            out.participants
                .iter()
                .find(|p| p.id == id)
                .unwrap()
                .mix_minus[500]
        };
        assert!((mm("a") - 0.2).abs() < 1e-6);
        assert!((mm("b") - 0.1).abs() < 1e-6);
        assert!((mm("c") - 0.3).abs() < 1e-6);
        assert!((out.full[500] - 0.3).abs() < 1e-6);
        assert!(!out.source("c").unwrap().active);
        // Nothing more arrives: a and b underrun into silence, the mix keeps going.
        let out = m.mix();
        assert!(out.full.iter().all(|s| *s == 0.0));
        assert_eq!(m.stats()[0].underruns, 1);
    }

    #[test]
    fn fifo_drops_old_audio_after_a_burst() {
        let mut m = AudioMixer::new(AudioMixerConfig::default());
        m.add("a");
        for _ in 0..30 {
            m.push("a", &frame(0.1, FRAME, 1)).unwrap();
        }
        let s = &m.stats()[0];
        assert!(s.buffered_samples <= 10 * FRAME, "{s:?}");
        assert!(s.dropped_samples > 0);
    }

    #[test]
    fn talker_slots_are_sticky_and_ranked() {
        let mut slots = vec![None, None, None];
        assign_talkers(&mut slots, &lv(&[("a", 0.1), ("b", 0.2), ("c", 0.0)]));
        assert_eq!(slots, [Some("b".into()), Some("a".into()), None]);
        // b fades under the floor: its slot empties; a keeps its slot (no reshuffle).
        assign_talkers(&mut slots, &lv(&[("a", 0.1), ("b", 0.0001), ("c", 0.05)]));
        assert_eq!(slots, [Some("c".into()), Some("a".into()), None]);
        // Five talkers, three slots: a newcomer only 1 dB louder does not evict, 6 dB does.
        let mut slots = vec![
            Some("a".to_string()),
            Some("b".to_string()),
            Some("c".to_string()),
        ];
        assign_talkers(
            &mut slots,
            &lv(&[("a", 0.1), ("b", 0.1), ("c", 0.1), ("d", 0.112)]),
        );
        assert_eq!(slots.iter().flatten().filter(|s| *s == "d").count(), 0);
        assign_talkers(
            &mut slots,
            &lv(&[("a", 0.1), ("b", 0.1), ("c", 0.05), ("d", 0.2)]),
        );
        assert_eq!(
            slots,
            [Some("a".into()), Some("b".into()), Some("d".into())]
        );
        // A departed talker frees its slot.
        assign_talkers(&mut slots, &lv(&[("a", 0.1), ("d", 0.2)]));
        assert_eq!(slots, [Some("a".into()), None, Some("d".into())]);
    }

    #[test]
    fn muted_participant_leaves_every_mix_without_backlog() {
        let mut m = AudioMixer::new(AudioMixerConfig {
            jitter_frames: 1,
            ..Default::default()
        });
        m.add("a");
        m.add("b");
        assert!(m.set_muted("a", true));
        assert!(!m.set_muted("zz", true));
        m.push("a", &frame(0.4, FRAME, 1)).unwrap();
        m.push("b", &frame(0.1, FRAME, 1)).unwrap();
        let out = m.mix();
        let mm = |out: &AudioMix, id: &str| {
            out.participants
                .iter()
                .find(|p| p.id == id)
                .unwrap()
                .mix_minus[100]
        };
        assert_eq!(mm(&out, "b"), 0.0);
        assert!((mm(&out, "a") - 0.1).abs() < 1e-6, "a still hears b");
        assert!((out.full[100] - 0.1).abs() < 1e-6);
        assert_eq!(
            m.stats()[0].buffered_samples,
            0,
            "muted audio is still drained"
        );
        m.set_muted("a", false);
        m.push("a", &frame(0.4, FRAME, 1)).unwrap();
        m.push("b", &frame(0.1, FRAME, 1)).unwrap();
        assert!((mm(&m.mix(), "b") - 0.4).abs() < 1e-6);
    }
}
