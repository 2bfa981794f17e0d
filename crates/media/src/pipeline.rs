//! Ready-made pipelines for the session layer.
//!
//! Send side (threads, because sources block): source → encoder → encoded frames on a channel,
//! with key-frame requests, live bitrate, mic mute and level meters, and a preview tap for the
//! UI. A failing device ends the pipeline with a [`MediaEvent::DeviceLost`], never a panic.
//!
//! Receive side (sans-I/O): RTP packets in, decoded frames out, plus "send a PLI" signals.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::analysis::Level;
use crate::codec::opus::{OpusDecoder, OpusEncoder};
use crate::codec::{
    new_video_decoder, new_video_encoder, AudioDecoder, AudioEncoder, EncodedVideo, VideoCodec,
    VideoDecoder, VideoEncoderConfig,
};
use crate::devices::DeviceKind;
use crate::error::MediaError;
use crate::events::MediaEvent;
use crate::frame::{AudioFrame, VideoFrame, AUDIO_FRAME_SAMPLES, AUDIO_RATE};
use crate::jitter::{JitterBuffer, JitterConfig, JitterStats};
use crate::rtp::{Packet, RtpCodec};
use crate::source::{AudioSource, VideoSource};

/// What a send pipeline emits.
#[derive(Debug)]
pub enum SendOutput<T> {
    Frame(T),
    /// The pipeline stopped: the source ended or its device was lost (the event says which).
    Stopped(Option<MediaEvent>),
}

/// One encoded Opus packet with its media time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedAudio {
    pub data: Bytes,
    pub timestamp: Duration,
}

fn device_event(kind: DeviceKind, name: String, e: &MediaError) -> Option<MediaEvent> {
    match e {
        MediaError::SourceEnded => None,
        other => Some(MediaEvent::DeviceLost {
            kind,
            name,
            message: other.to_string(),
        }),
    }
}

/// Controls shared with the video send thread.
#[derive(Debug, Default)]
struct VideoControl {
    stop: AtomicBool,
    keyframe: AtomicBool,
    bitrate: AtomicU32,
}

/// Camera/pattern/file → encoder, on its own thread.
pub struct VideoSendPipeline {
    control: Arc<VideoControl>,
    preview: Arc<Mutex<Option<VideoFrame>>>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for VideoSendPipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("VideoSendPipeline")
    }
}

impl VideoSendPipeline {
    /// Start encoding `source` with `codec`. Encoded frames arrive on the returned receiver
    /// (bounded: if the consumer stalls, frames are dropped and a key frame is forced after).
    pub fn start(
        mut source: Box<dyn VideoSource>,
        codec: VideoCodec,
        config: VideoEncoderConfig,
    ) -> Result<(Self, Receiver<SendOutput<EncodedVideo>>), MediaError> {
        let mut encoder = new_video_encoder(codec, config)?;
        let control = Arc::new(VideoControl {
            bitrate: AtomicU32::new(config.bitrate_bps),
            ..Default::default()
        });
        let preview = Arc::new(Mutex::new(None));
        let (tx, rx) = mpsc::sync_channel(8);
        let (c, p) = (control.clone(), preview.clone());
        let thread = std::thread::Builder::new()
            .name("video send".into())
            .spawn(move || {
                let name = source.name();
                let mut bitrate = config.bitrate_bps;
                let mut dropped = false;
                while !c.stop.load(Ordering::Relaxed) {
                    let frame = match source.next_frame() {
                        Ok(f) => f,
                        Err(e) => {
                            let _ = tx.send(SendOutput::Stopped(device_event(
                                DeviceKind::Camera,
                                name,
                                &e,
                            )));
                            return;
                        }
                    };
                    let want = c.bitrate.load(Ordering::Relaxed);
                    if want != bitrate {
                        if let Err(e) = encoder.set_bitrate(want) {
                            tracing::warn!("video bitrate {want}: {e}");
                        }
                        bitrate = want;
                    }
                    if c.keyframe.swap(false, Ordering::Relaxed) || dropped {
                        encoder.request_keyframe();
                    }
                    match encoder.encode(&frame) {
                        Ok(Some(e)) => match tx.try_send(SendOutput::Frame(e)) {
                            Ok(()) => dropped = false,
                            Err(TrySendError::Full(_)) => dropped = true,
                            Err(TrySendError::Disconnected(_)) => return,
                        },
                        Ok(None) => {}
                        Err(e) => {
                            let _ = tx.send(SendOutput::Stopped(Some(MediaEvent::DeviceLost {
                                kind: DeviceKind::Camera,
                                name: name.clone(),
                                message: e.to_string(),
                            })));
                            return;
                        }
                    }
                    if let Ok(mut slot) = p.lock() {
                        *slot = Some(frame);
                    }
                }
                let _ = tx.send(SendOutput::Stopped(None));
            })
            .map_err(|e| MediaError::Other(format!("could not start the video thread: {e}")))?;
        Ok((
            VideoSendPipeline {
                control,
                preview,
                thread: Some(thread),
            },
            rx,
        ))
    }

    /// Force a key frame (on PLI/FIR from the far end).
    pub fn request_keyframe(&self) {
        self.control.keyframe.store(true, Ordering::Relaxed);
    }

    /// Change the target bitrate (applied at the next frame).
    pub fn set_bitrate(&self, bps: u32) {
        self.control.bitrate.store(bps, Ordering::Relaxed);
    }

    /// The newest captured frame, for the local preview (taken, so each is shown once).
    pub fn take_preview(&self) -> Option<VideoFrame> {
        self.preview.lock().ok().and_then(|mut p| p.take())
    }

    /// Stop after the current frame.
    pub fn stop(&mut self) {
        self.control.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for VideoSendPipeline {
    fn drop(&mut self) {
        self.stop();
    }
}

#[derive(Debug, Default)]
struct AudioControl {
    stop: AtomicBool,
    muted: AtomicBool,
    bitrate: AtomicU32,
}

/// Microphone/tone/file → Opus, on its own thread.
pub struct AudioSendPipeline {
    control: Arc<AudioControl>,
    level: Arc<Mutex<Level>>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for AudioSendPipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AudioSendPipeline")
    }
}

impl AudioSendPipeline {
    pub fn start(
        mut source: Box<dyn AudioSource>,
        bitrate_bps: u32,
    ) -> Result<(Self, Receiver<SendOutput<EncodedAudio>>), MediaError> {
        let channels = source.channels();
        let mut encoder = OpusEncoder::new(channels, bitrate_bps)?;
        let control = Arc::new(AudioControl {
            bitrate: AtomicU32::new(bitrate_bps),
            ..Default::default()
        });
        let level = Arc::new(Mutex::new(Level::SILENT));
        let (tx, rx): (SyncSender<_>, _) = mpsc::sync_channel(50);
        let (c, l) = (control.clone(), level.clone());
        let thread = std::thread::Builder::new()
            .name("audio send".into())
            .spawn(move || {
                let name = source.name();
                let mut bitrate = bitrate_bps;
                while !c.stop.load(Ordering::Relaxed) {
                    let mut frame = match source.next_frame() {
                        Ok(f) => f,
                        Err(e) => {
                            let _ = tx.send(SendOutput::Stopped(device_event(
                                DeviceKind::Microphone,
                                name,
                                &e,
                            )));
                            return;
                        }
                    };
                    // The meter shows the mic even when muted, so the user sees it works.
                    if let Ok(mut lv) = l.lock() {
                        *lv = Level::measure(&frame.samples);
                    }
                    if c.muted.load(Ordering::Relaxed) {
                        frame.samples.fill(0.0);
                    }
                    let want = c.bitrate.load(Ordering::Relaxed);
                    if want != bitrate {
                        let _ = encoder.set_bitrate(want);
                        bitrate = want;
                    }
                    match encoder.encode(&frame) {
                        Ok(data) => {
                            let out = SendOutput::Frame(EncodedAudio {
                                data,
                                timestamp: frame.timestamp,
                            });
                            if let Err(TrySendError::Disconnected(_)) = tx.try_send(out) {
                                return;
                            }
                        }
                        Err(e) => tracing::warn!("opus: {e}"),
                    }
                }
                let _ = tx.send(SendOutput::Stopped(None));
            })
            .map_err(|e| MediaError::Other(format!("could not start the audio thread: {e}")))?;
        Ok((
            AudioSendPipeline {
                control,
                level,
                thread: Some(thread),
            },
            rx,
        ))
    }

    /// Mic mute: keeps sending (silent) packets so the far end's clock keeps running.
    pub fn set_muted(&self, muted: bool) {
        self.control.muted.store(muted, Ordering::Relaxed);
    }

    pub fn set_bitrate(&self, bps: u32) {
        self.control.bitrate.store(bps, Ordering::Relaxed);
    }

    /// Level of the last captured frame (before mute), for the mic meter.
    pub fn level(&self) -> Level {
        self.level.lock().map(|l| *l).unwrap_or(Level::SILENT)
    }

    pub fn stop(&mut self) {
        self.control.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for AudioSendPipeline {
    fn drop(&mut self) {
        self.stop();
    }
}

/// What the video receiver produced.
#[derive(Debug)]
pub enum VideoReceiveOutput {
    Frame {
        frame: VideoFrame,
        rtp_timestamp: u32,
    },
    /// Ask the sender for a key frame (send an RTCP PLI).
    KeyframeNeeded,
}

/// RTP → jitter buffer → decoder (sans-I/O).
pub struct VideoReceiver {
    jitter: JitterBuffer,
    decoder: Box<dyn VideoDecoder>,
    waiting_for_key: bool,
    last_pli: Option<Instant>,
}

impl std::fmt::Debug for VideoReceiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VideoReceiver")
            .field("stats", &self.jitter.stats())
            .finish_non_exhaustive()
    }
}

/// Don't ask for key frames more often than this.
const PLI_INTERVAL: Duration = Duration::from_millis(300);

impl VideoReceiver {
    pub fn new(codec: VideoCodec) -> Result<Self, MediaError> {
        let rc = RtpCodec::from(codec);
        Ok(VideoReceiver {
            jitter: JitterBuffer::new(rc, JitterConfig::for_codec(rc)),
            decoder: new_video_decoder(codec)?,
            waiting_for_key: false,
            last_pli: None,
        })
    }

    pub fn push(&mut self, packet: Packet, arrival: Instant) {
        self.jitter.push(packet, arrival);
    }

    pub fn stats(&self) -> JitterStats {
        self.jitter.stats()
    }

    /// Decode whatever is ready.
    pub fn poll(&mut self, now: Instant) -> Vec<VideoReceiveOutput> {
        let mut out = Vec::new();
        let mut need_key = false;
        while let Some(f) = self.jitter.pop(now) {
            if f.after_loss {
                need_key = true;
            }
            match self.decoder.decode(&f.data) {
                Ok(Some(frame)) => {
                    self.waiting_for_key = false;
                    out.push(VideoReceiveOutput::Frame {
                        frame,
                        rtp_timestamp: f.rtp_timestamp,
                    });
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::debug!("video decode: {e}");
                    need_key = true;
                }
            }
        }
        if need_key {
            self.waiting_for_key = true;
        }
        if self.waiting_for_key
            && self
                .last_pli
                .is_none_or(|t| now.duration_since(t) >= PLI_INTERVAL)
        {
            self.last_pli = Some(now);
            out.push(VideoReceiveOutput::KeyframeNeeded);
        }
        out
    }
}

/// RTP → jitter buffer → Opus decoder with concealment of lost packets (sans-I/O).
pub struct AudioReceiver {
    jitter: JitterBuffer,
    decoder: OpusDecoder,
    last_ts: Option<u32>,
    channels: u16,
}

impl std::fmt::Debug for AudioReceiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AudioReceiver")
            .field("stats", &self.jitter.stats())
            .finish_non_exhaustive()
    }
}

impl AudioReceiver {
    /// `channels`: the output layout (1 or 2).
    pub fn new(channels: u16) -> Result<Self, MediaError> {
        Ok(AudioReceiver {
            jitter: JitterBuffer::new(RtpCodec::Opus, JitterConfig::for_codec(RtpCodec::Opus)),
            decoder: OpusDecoder::new(channels)?,
            last_ts: None,
            channels,
        })
    }

    pub fn push(&mut self, packet: Packet, arrival: Instant) {
        self.jitter.push(packet, arrival);
    }

    pub fn stats(&self) -> JitterStats {
        self.jitter.stats()
    }

    /// Decoded audio ready at `now`, each with its RTP timestamp; gaps are concealed.
    pub fn poll(&mut self, now: Instant) -> Vec<(AudioFrame, u32)> {
        let mut out = Vec::new();
        while let Some(f) = self.jitter.pop(now) {
            if let Some(prev) = self.last_ts {
                let gap = f.rtp_timestamp.wrapping_sub(prev) / AUDIO_FRAME_SAMPLES as u32;
                // Conceal up to 100 ms; beyond that, just resume.
                for k in 1..gap.min(6) {
                    if let Ok(plc) = self.decoder.decode(None) {
                        out.push((plc, prev.wrapping_add(k * AUDIO_FRAME_SAMPLES as u32)));
                    }
                }
            }
            self.last_ts = Some(f.rtp_timestamp);
            match self.decoder.decode(Some(&f.data)) {
                Ok(frame) => out.push((frame, f.rtp_timestamp)),
                Err(e) => tracing::debug!("opus decode: {e}"),
            }
        }
        out
    }

    pub fn channels(&self) -> u16 {
        self.channels
    }

    pub fn sample_rate(&self) -> u32 {
        AUDIO_RATE
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rtp::RtpPacketizer;
    use crate::synthetic::{read_stamp, PatternColor, TestPatternSource, ToneSource};

    /// A source that fails like an unplugged camera after a few frames.
    struct Unplugged(TestPatternSource, u32);

    impl VideoSource for Unplugged {
        fn name(&self) -> String {
            "USB cam".into()
        }
        fn format(&self) -> (u32, u32, u32) {
            self.0.format()
        }
        fn next_frame(&mut self) -> Result<VideoFrame, MediaError> {
            if self.1 == 0 {
                return Err(MediaError::CameraDisappeared("USB cam".into()));
            }
            self.1 -= 1;
            self.0.next_frame()
        }
    }

    #[test]
    fn video_send_to_receive_and_camera_loss_is_an_event() {
        let src = TestPatternSource::new(320, 180, 30, PatternColor::Green, false).unwrap();
        let cfg = VideoEncoderConfig::new(320, 180, 30, 400_000);
        let (mut pipe, rx) =
            VideoSendPipeline::start(Box::new(Unplugged(src, 5)), VideoCodec::H264, cfg).unwrap();
        let mut pk = RtpPacketizer::new(RtpCodec::H264, 102, 5, 100, 0);
        let mut recv = VideoReceiver::new(VideoCodec::H264).unwrap();
        let t = Instant::now();
        let mut decoded = Vec::new();
        let mut stop_event = None;
        for out in rx.iter() {
            match out {
                SendOutput::Frame(e) => {
                    for p in pk.packetize(&e.data, e.timestamp).unwrap() {
                        recv.push(p, t);
                    }
                    for o in recv.poll(t) {
                        if let VideoReceiveOutput::Frame { frame, .. } = o {
                            decoded.push(read_stamp(&frame).unwrap().frame_number);
                        }
                    }
                }
                SendOutput::Stopped(ev) => {
                    stop_event = ev;
                    break;
                }
            }
        }
        assert_eq!(decoded, vec![0, 1, 2, 3, 4]);
        assert_eq!(
            stop_event,
            Some(MediaEvent::DeviceLost {
                kind: DeviceKind::Camera,
                name: "USB cam".into(),
                message: "the camera 'USB cam' disappeared".into()
            })
        );
        assert!(pipe.take_preview().is_some());
        pipe.stop();
    }

    #[test]
    fn receiver_asks_for_a_key_frame_after_loss() {
        let mut src = TestPatternSource::new(320, 180, 30, PatternColor::Red, false).unwrap();
        let mut enc = new_video_encoder(
            VideoCodec::Vp8,
            VideoEncoderConfig::new(320, 180, 30, 300_000),
        )
        .unwrap();
        let mut pk = RtpPacketizer::new(RtpCodec::Vp8, 96, 5, 100, 0);
        let mut recv = VideoReceiver::new(VideoCodec::Vp8).unwrap();
        let t = Instant::now();
        for n in 0..4 {
            let e = enc.encode(&src.next_frame().unwrap()).unwrap().unwrap();
            for (i, p) in pk
                .packetize(&e.data, e.timestamp)
                .unwrap()
                .into_iter()
                .enumerate()
            {
                if !(n == 2 && i == 0) {
                    recv.push(p, t);
                }
            }
        }
        let outs = recv.poll(t + Duration::from_secs(1));
        assert!(outs
            .iter()
            .any(|o| matches!(o, VideoReceiveOutput::KeyframeNeeded)));
        // Rate-limited: no second PLI straight away.
        assert!(recv.poll(t + Duration::from_millis(1100)).is_empty());
    }

    #[test]
    fn audio_send_mute_level_and_receive_with_concealment() {
        let tone = ToneSource::new(440.0, 0.5, 1, false).unwrap();
        let (pipe, rx) = AudioSendPipeline::start(Box::new(tone), 32_000).unwrap();
        let mut pk = RtpPacketizer::new(RtpCodec::Opus, 111, 7, 0, 0);
        let mut recv = AudioReceiver::new(1).unwrap();
        let t = Instant::now();
        let mut n = 0;
        for out in rx.iter() {
            if let SendOutput::Frame(a) = out {
                for p in pk.packetize(&a.data, a.timestamp).unwrap() {
                    if n != 3 {
                        recv.push(p, t);
                    }
                }
                n += 1;
                if n == 10 {
                    break;
                }
            }
        }
        assert!(pipe.level().peak > 0.4);
        pipe.set_muted(true);
        let frames = recv.poll(t + Duration::from_secs(1));
        assert_eq!(frames.len(), 10, "9 decoded + 1 concealed");
        let ts: Vec<u32> = frames.iter().map(|(_, ts)| *ts).collect();
        assert_eq!(ts, (0..10).map(|i| i * 960).collect::<Vec<_>>());
        assert_eq!(recv.stats().lost, 1);
    }
}
