//! Audio playout (cpal, or a silent null sink when there is no speaker), volume, mute, level
//! meters, and A/V sync by RTP timestamps.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use cpal::traits::{DeviceTrait, StreamTrait};
use cpal::{ErrorKind, SampleFormat};

use crate::analysis::Level;
use crate::devices::{audio_device_name, find_audio_device, stream_error_is_fatal, DeviceKind};
use crate::error::MediaError;
use crate::events::MediaEvent;
use crate::ffi::alsa_quiet;
use crate::frame::{AudioFrame, AUDIO_RATE};
use crate::resample::AudioConverter;

/// Default playout delay: enough for network jitter, small enough for conversation.
pub const DEFAULT_TARGET_DELAY: Duration = Duration::from_millis(60);
/// Above target + this, old audio is dropped to get the latency back down.
const MAX_EXCESS: Duration = Duration::from_millis(120);

/// The sample queue between the decoder and the output callback (sans-I/O).
#[derive(Debug)]
pub struct PlayoutQueue {
    samples: VecDeque<f32>,
    channels: usize,
    rate: u32,
    target: usize,
    max: usize,
    playing: bool,
    volume: f32,
    muted: bool,
    level: Level,
    underruns: u64,
    dropped: u64,
    last_fill: Option<Instant>,
}

impl PlayoutQueue {
    /// `rate`/`channels` of the device; `target_delay` of buffered audio before playing starts.
    pub fn new(rate: u32, channels: u16, target_delay: Duration) -> Self {
        let ch = usize::from(channels.max(1));
        let frames = |d: Duration| (d.as_secs_f64() * f64::from(rate)) as usize * ch;
        PlayoutQueue {
            samples: VecDeque::new(),
            channels: ch,
            rate,
            target: frames(target_delay),
            max: frames(target_delay + MAX_EXCESS),
            playing: false,
            volume: 1.0,
            muted: false,
            level: Level::SILENT,
            underruns: 0,
            dropped: 0,
            last_fill: None,
        }
    }

    /// Queue interleaved samples in the device format.
    pub fn push(&mut self, samples: &[f32]) {
        self.samples.extend(samples.iter().copied());
        if self.samples.len() > self.max {
            // Latency crept up (sender clock faster, or a burst): drop the oldest audio.
            let excess = self.samples.len() - self.target;
            let excess = excess - excess % self.channels;
            self.samples.drain(..excess);
            self.dropped += excess as u64;
        }
    }

    /// Fill an output buffer (called from the audio callback). Silence while buffering.
    pub fn fill(&mut self, out: &mut [f32]) {
        self.last_fill = Some(Instant::now());
        if !self.playing && self.samples.len() >= self.target.max(1) {
            self.playing = true;
        }
        let mut n = 0;
        if self.playing {
            let gain = if self.muted { 0.0 } else { self.volume };
            let take = out.len().min(self.samples.len());
            for (o, s) in out.iter_mut().zip(self.samples.drain(..take)) {
                *o = s * gain;
                n += 1;
            }
            if n < out.len() {
                // Ran dry: rebuffer to the target instead of stuttering.
                self.playing = false;
                self.underruns += 1;
            }
        }
        out[n..].fill(0.0);
        self.level = Level::measure(out);
    }

    /// Audio waiting to be heard.
    pub fn buffered(&self) -> Duration {
        let frames = self.samples.len() / self.channels;
        Duration::from_secs_f64(frames as f64 / f64::from(self.rate.max(1)))
    }

    pub fn underruns(&self) -> u64 {
        self.underruns
    }

    pub fn dropped_samples(&self) -> u64 {
        self.dropped
    }
}

/// A speaker that has not asked for audio for this long is gone.
const OUTPUT_STALL: Duration = Duration::from_secs(2);

fn spawn_null_sink(queue: Arc<Mutex<PlayoutQueue>>, rate: u32, channels: u16) -> Output {
    let (stop_tx, stop_rx) = mpsc::channel::<()>();
    let thread = std::thread::Builder::new()
        .name("null audio output".into())
        .spawn(move || {
            let period = Duration::from_millis(10);
            let mut buf = vec![0.0f32; (rate / 100) as usize * usize::from(channels.max(1))];
            let start = Instant::now();
            let mut n = 0u32;
            loop {
                n += 1;
                let due = start + period * n;
                let wait = due.saturating_duration_since(Instant::now());
                match stop_rx.recv_timeout(wait) {
                    Err(RecvTimeoutError::Timeout) => {}
                    _ => break,
                }
                if let Ok(mut q) = queue.lock() {
                    q.fill(&mut buf);
                }
            }
        })
        .ok();
    Output::Null {
        stop: Some(stop_tx),
        thread,
    }
}

enum Output {
    Device(cpal::Stream),
    Null {
        stop: Option<Sender<()>>,
        thread: Option<JoinHandle<()>>,
    },
}

/// Plays decoded 48 kHz audio on a speaker.
pub struct AudioPlayer {
    queue: Arc<Mutex<PlayoutQueue>>,
    converter: AudioConverter,
    output: Output,
    name: String,
    events: Receiver<MediaEvent>,
    event_tx: Sender<MediaEvent>,
    last_rtp: Option<(u32, u32)>, // (rtp timestamp of the newest pushed frame, its length)
    opened: Instant,
    failed: Arc<AtomicBool>,
}

impl std::fmt::Debug for AudioPlayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AudioPlayer")
            .field("name", &self.name)
            .field("null", &self.is_null())
            .finish_non_exhaustive()
    }
}

const NULL_NAME: &str = "Silent output";

impl AudioPlayer {
    /// Open a speaker (`None` = the system default) for audio with `channels` channels at
    /// 48 kHz.
    pub fn open(
        device: Option<&str>,
        channels: u16,
        target_delay: Duration,
    ) -> Result<Self, MediaError> {
        alsa_quiet::quiet_current_thread();
        let dev = find_audio_device(DeviceKind::Speaker, device)?;
        let name =
            audio_device_name(&dev).unwrap_or_else(|| device.unwrap_or("default").to_owned());
        let supported = dev
            .default_output_config()
            .map_err(|e| match (device, e.kind()) {
                (None, ErrorKind::DeviceNotAvailable | ErrorKind::HostUnavailable) => {
                    MediaError::NoSpeaker
                }
                _ => MediaError::SpeakerUnavailable {
                    name: name.clone(),
                    reason: e.to_string(),
                },
            })?;
        if supported.sample_format() != SampleFormat::F32
            && supported.sample_format() != SampleFormat::I16
        {
            return Err(MediaError::SpeakerUnavailable {
                name,
                reason: format!(
                    "sample format {} is not supported",
                    supported.sample_format()
                ),
            });
        }
        let config = supported.config();
        let queue = Arc::new(Mutex::new(PlayoutQueue::new(
            config.sample_rate,
            config.channels,
            target_delay,
        )));
        let (event_tx, events) = mpsc::channel();
        let q = queue.clone();
        let etx = event_tx.clone();
        let ename = name.clone();
        let failed = Arc::new(AtomicBool::new(false));
        let fail_flag = failed.clone();
        let on_error = move |e: cpal::Error| {
            if stream_error_is_fatal(&e) && !fail_flag.swap(true, Ordering::Relaxed) {
                let _ = etx.send(MediaEvent::DeviceLost {
                    kind: DeviceKind::Speaker,
                    name: ename.clone(),
                    message: MediaError::SpeakerDisappeared(ename.clone()).to_string(),
                });
            } else {
                tracing::debug!("speaker '{ename}': {e}");
            }
        };
        let unavailable = |e: cpal::Error| MediaError::SpeakerUnavailable {
            name: name.clone(),
            reason: e.to_string(),
        };
        let stream = if supported.sample_format() == SampleFormat::F32 {
            dev.build_output_stream::<f32, _, _>(
                config,
                move |out: &mut [f32], _| match q.lock() {
                    Ok(mut q) => q.fill(out),
                    Err(_) => out.fill(0.0),
                },
                on_error,
                Some(Duration::from_secs(5)),
            )
        } else {
            let mut scratch = Vec::new();
            dev.build_output_stream::<i16, _, _>(
                config,
                move |out: &mut [i16], _| {
                    scratch.resize(out.len(), 0.0f32);
                    match q.lock() {
                        Ok(mut q) => q.fill(&mut scratch),
                        Err(_) => scratch.fill(0.0),
                    }
                    for (o, s) in out.iter_mut().zip(&scratch) {
                        *o = (s.clamp(-1.0, 1.0) * 32767.0) as i16;
                    }
                },
                on_error,
                Some(Duration::from_secs(5)),
            )
        }
        .map_err(unavailable)?;
        stream.play().map_err(unavailable)?;
        let converter =
            AudioConverter::with_output(AUDIO_RATE, channels, config.sample_rate, config.channels)?;
        Ok(AudioPlayer {
            queue,
            converter,
            output: Output::Device(stream),
            name,
            events,
            event_tx,
            last_rtp: None,
            opened: Instant::now(),
            failed,
        })
    }

    /// A player that plays into nothing, in real time, so timing, levels and A/V sync still
    /// work without a sound card.
    pub fn null(channels: u16, target_delay: Duration) -> Self {
        let ch = channels.max(1);
        let queue = Arc::new(Mutex::new(PlayoutQueue::new(AUDIO_RATE, ch, target_delay)));
        let (event_tx, events) = mpsc::channel();
        AudioPlayer {
            output: spawn_null_sink(queue.clone(), AUDIO_RATE, ch),
            queue,
            // 48 kHz in, 48 kHz out: the converter only copies.
            converter: AudioConverter::passthrough(AUDIO_RATE, ch),
            name: NULL_NAME.into(),
            events,
            event_tx,
            last_rtp: None,
            opened: Instant::now(),
            failed: Arc::new(AtomicBool::new(false)),
        }
    }

    /// A device that stopped calling back (or reported a fatal error) is lost: tell the UI
    /// once and keep the timeline running on the silent sink.
    fn check_alive(&mut self) {
        let Output::Device(_) = &self.output else {
            return;
        };
        let last = self
            .queue
            .lock()
            .ok()
            .and_then(|q| q.last_fill)
            .unwrap_or(self.opened);
        let failed = self.failed.load(Ordering::Relaxed);
        if !failed && last.elapsed() < OUTPUT_STALL {
            return;
        }
        if !failed {
            let _ = self.event_tx.send(MediaEvent::DeviceLost {
                kind: DeviceKind::Speaker,
                name: self.name.clone(),
                message: MediaError::SpeakerDisappeared(self.name.clone()).to_string(),
            });
        }
        let (rate, ch) = self
            .queue
            .lock()
            .map(|q| (q.rate, q.channels as u16))
            .unwrap_or((AUDIO_RATE, 1));
        let dead = std::mem::replace(
            &mut self.output,
            spawn_null_sink(self.queue.clone(), rate, ch),
        );
        if let Output::Device(stream) = dead {
            // Dropping a stream whose server died can block in the backend; let it go.
            std::mem::forget(stream);
        }
    }

    /// Open the speaker, or fall back to the silent output (with a `SilentOutput` event saying
    /// why) when there is none or it cannot be used.
    pub fn open_or_null(device: Option<&str>, channels: u16, target_delay: Duration) -> Self {
        match Self::open(device, channels, target_delay) {
            Ok(p) => p,
            Err(e) => {
                tracing::info!("audio output: {e}; playing silently");
                let p = Self::null(channels, target_delay);
                let _ = p.event_tx.send(MediaEvent::SilentOutput {
                    reason: e.to_string(),
                });
                p
            }
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn is_null(&self) -> bool {
        matches!(self.output, Output::Null { .. })
    }

    /// Queue a decoded 48 kHz frame.
    pub fn push(&mut self, frame: &AudioFrame) -> Result<(), MediaError> {
        self.check_alive();
        if frame.sample_rate != AUDIO_RATE || frame.channels != self.converter.input_channels() {
            return Err(MediaError::InvalidFrame(format!(
                "the player takes 48 kHz audio with {} channel(s), not {} Hz with {}",
                self.converter.input_channels(),
                frame.sample_rate,
                frame.channels
            )));
        }
        self.converter.push(&frame.samples)?;
        let out = self.converter.take_all();
        if let Ok(mut q) = self.queue.lock() {
            q.push(&out);
        }
        Ok(())
    }

    /// Queue a frame and remember its RTP timestamp (48 kHz clock) for A/V sync.
    pub fn push_rtp(&mut self, frame: &AudioFrame, rtp_timestamp: u32) -> Result<(), MediaError> {
        self.last_rtp = Some((rtp_timestamp, frame.frames() as u32));
        self.push(frame)
    }

    /// RTP timestamp (48 kHz) of the audio reaching the speaker now, if known.
    pub fn playing_rtp(&self) -> Option<u32> {
        let (ts, len) = self.last_rtp?;
        let buffered = (self.buffered().as_secs_f64() * f64::from(AUDIO_RATE)) as u32;
        Some(ts.wrapping_add(len).wrapping_sub(buffered))
    }

    pub fn set_volume(&self, volume: f32) {
        if let Ok(mut q) = self.queue.lock() {
            q.volume = volume.clamp(0.0, 2.0);
        }
    }

    pub fn set_muted(&self, muted: bool) {
        if let Ok(mut q) = self.queue.lock() {
            q.muted = muted;
        }
    }

    /// Level of what is being played (after volume and mute), for the output meter.
    pub fn level(&self) -> Level {
        self.queue.lock().map(|q| q.level).unwrap_or(Level::SILENT)
    }

    pub fn buffered(&self) -> Duration {
        self.queue.lock().map(|q| q.buffered()).unwrap_or_default()
    }

    pub fn underruns(&self) -> u64 {
        self.queue.lock().map(|q| q.underruns()).unwrap_or(0)
    }

    /// Device events (speaker lost, fell back to silent output).
    pub fn try_event(&mut self) -> Option<MediaEvent> {
        self.check_alive();
        self.events.try_recv().ok()
    }
}

impl Drop for AudioPlayer {
    fn drop(&mut self) {
        // Swaps a dead device for the null sink first, so we never join a stuck backend thread.
        self.check_alive();
        match &mut self.output {
            Output::Device(s) => {
                let _ = s.pause();
            }
            Output::Null { stop, thread } => {
                drop(stop.take());
                if let Some(t) = thread.take() {
                    let _ = t.join();
                }
            }
        }
    }
}

/// Maps one stream's RTP timestamps to seconds on a shared timeline: the sender's NTP clock
/// once an RTCP sender report arrived, else the local arrival time of the first packet.
#[derive(Debug, Clone)]
pub struct StreamClock {
    clock_rate: u32,
    sender_report: Option<(f64, u32)>,
    first: Option<(f64, u32)>,
}

impl StreamClock {
    pub fn new(clock_rate: u32) -> Self {
        StreamClock {
            clock_rate,
            sender_report: None,
            first: None,
        }
    }

    /// From an RTCP SR: 64-bit NTP time and the RTP timestamp that matches it.
    pub fn on_sender_report(&mut self, ntp: u64, rtp: u32) {
        let secs = (ntp >> 32) as f64 + (ntp & 0xffff_ffff) as f64 / 4_294_967_296.0;
        self.sender_report = Some((secs, rtp));
    }

    /// Record a packet's arrival (seconds on the local timeline).
    pub fn on_packet(&mut self, arrival_secs: f64, rtp: u32) {
        if self.first.is_none() {
            self.first = Some((arrival_secs, rtp));
        }
    }

    fn map(&self, base: (f64, u32), rtp: u32) -> f64 {
        let delta = rtp.wrapping_sub(base.1) as i32;
        base.0 + f64::from(delta) / f64::from(self.clock_rate)
    }
}

/// Lip sync: how long a video frame must wait (or how late it is) relative to the audio that
/// is playing.
#[derive(Debug, Clone)]
pub struct AvSync {
    pub audio: StreamClock,
    pub video: StreamClock,
}

impl Default for AvSync {
    fn default() -> Self {
        AvSync {
            audio: StreamClock::new(AUDIO_RATE),
            video: StreamClock::new(crate::frame::VIDEO_CLOCK),
        }
    }
}

impl AvSync {
    /// Seconds to hold the video frame `video_rtp` while the speaker plays `audio_rtp`:
    /// positive = show later, negative = the frame is late. `None` until both streams have a
    /// reference.
    pub fn video_delay(&self, video_rtp: u32, audio_rtp_playing: u32) -> Option<f64> {
        let (a, v) = match (&self.audio.sender_report, &self.video.sender_report) {
            (Some(a), Some(v)) => (*a, *v),
            _ => (self.audio.first?, self.video.first?),
        };
        Some(self.video.map(v, video_rtp) - self.audio.map(a, audio_rtp_playing))
    }
}

#[cfg(test)]
impl PlayoutQueue {
    fn set_for_test(&mut self, volume: f32, muted: bool) {
        self.volume = volume;
        self.muted = muted;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_buffers_to_target_then_plays_and_rebuffers() {
        let mut q = PlayoutQueue::new(48_000, 1, Duration::from_millis(40));
        let mut out = vec![1.0f32; 480];
        q.push(&vec![0.5; 960]); // 20 ms: below target
        q.fill(&mut out);
        assert!(out.iter().all(|&s| s == 0.0));
        q.push(&vec![0.5; 960]); // 40 ms: play
        q.fill(&mut out);
        assert!(out.iter().all(|&s| s == 0.5));
        assert!((q.buffered().as_secs_f64() - 0.030).abs() < 1e-6);
        q.set_for_test(0.5, false);
        q.fill(&mut out);
        assert!(out.iter().all(|&s| s == 0.25));
        assert!((q.level.peak - 0.25).abs() < 1e-6);
        q.set_for_test(1.0, true);
        q.fill(&mut out);
        assert!(out.iter().all(|&s| s == 0.0));
        assert_eq!(q.level.peak, 0.0);
        // 10 ms left; asking for 10 ms + more runs dry.
        let mut big = vec![0.0; 960];
        q.fill(&mut big);
        assert_eq!(q.underruns(), 1);
    }

    #[test]
    fn queue_caps_latency() {
        let mut q = PlayoutQueue::new(48_000, 2, Duration::from_millis(60));
        q.push(&vec![0.1; 2 * 48_000]); // 1 s burst
        assert!(q.buffered() <= Duration::from_millis(60));
        assert!(q.dropped_samples() > 0);
    }

    #[test]
    fn null_output_plays_in_real_time() {
        let mut p = AudioPlayer::null(1, Duration::from_millis(20));
        assert!(p.is_null());
        let frame = AudioFrame {
            samples: vec![0.3; 960],
            channels: 1,
            sample_rate: 48_000,
            timestamp: Duration::ZERO,
        };
        for i in 0..5 {
            p.push_rtp(&frame, 1000 + i * 960).unwrap();
        }
        assert!(p.buffered() > Duration::ZERO);
        let rtp_now = p.playing_rtp().unwrap();
        assert!((1000..=1000 + 5 * 960).contains(&rtp_now));
        // Wait for the null sink to drain (event-driven poll on its own progress).
        let t0 = Instant::now();
        while p.buffered() > Duration::ZERO && t0.elapsed() < Duration::from_secs(5) {
            std::thread::yield_now();
        }
        assert_eq!(p.buffered(), Duration::ZERO);
        assert!(p
            .push(&AudioFrame {
                sample_rate: 44_100,
                ..frame
            })
            .is_err());
    }

    #[test]
    fn no_speaker_falls_back_to_silence_with_a_reason() {
        let mut p =
            AudioPlayer::open_or_null(Some("alsa:no-such-speaker"), 2, DEFAULT_TARGET_DELAY);
        assert!(p.is_null());
        match p.try_event() {
            Some(MediaEvent::SilentOutput { reason }) => {
                assert_eq!(reason, "the speaker 'alsa:no-such-speaker' was not found")
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn av_sync_by_arrival_and_by_sender_report() {
        let mut s = AvSync::default();
        assert_eq!(s.video_delay(0, 0), None);
        s.audio.on_packet(10.0, 48_000);
        s.video.on_packet(10.0, 90_000);
        // Video frame 100 ms after the first one while audio plays 50 ms in: wait 50 ms.
        let d = s.video_delay(90_000 + 9_000, 48_000 + 2_400).unwrap();
        assert!((d - 0.05).abs() < 1e-9, "{d}");
        // With SRs: audio rtp 0 <-> NTP 100 s, video rtp 0 <-> NTP 100.2 s.
        s.audio.on_sender_report(100u64 << 32, 0);
        s.video
            .on_sender_report((100u64 << 32) + (1u64 << 32) / 5, 0);
        let d = s.video_delay(0, 0).unwrap();
        assert!((d - 0.2).abs() < 1e-6, "{d}");
    }
}
