//! Video into the web UI: I420 frames → JPEG (red5-media's `UiFrameEncoder`) → a
//! `tauri::ipc::Channel` as raw bytes → an `<img>` decoded off the main thread → a canvas.
//!
//! JPEG was chosen by measurement in the real window (README: "Video into the UI"): it is the
//! cheapest to move through the IPC and to paint. Each message is
//! `[f64 LE: wall-clock ms when the frame was handed to the UI path] + UiFrameEncoder bytes`
//! (whose header carries the capture time), so the page can measure the path's own latency.
//!
//! Flow control: at most [`MAX_IN_FLIGHT`] frames are on their way to a canvas; the page acks each
//! painted frame (`video_ack`, or `video_ack_channel` for the conference panes' channels). A newer
//! frame replaces one that cannot be sent yet, so a slow page drops frames instead of queueing
//! seconds of video. Every pane's video goes through [`FrameSender`].

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use red5_media::ui::{UiFormat, UiFrameEncoder};
use red5_media::VideoFrame;
use serde::{Deserialize, Serialize};
use tauri::ipc::{Channel, InvokeResponseBody};

/// Frames sent but not yet painted, per canvas.
pub const MAX_IN_FLIGHT: u32 = 2;

/// `RED5_DESK_VIDEO_IN_FLIGHT` overrides [`MAX_IN_FLIGHT`] (measurements only).
fn max_in_flight() -> u32 {
    std::env::var("RED5_DESK_VIDEO_IN_FLIGHT")
        .ok()
        .and_then(|v| v.parse::<u32>().ok())
        .filter(|n| (1..=16).contains(n))
        .unwrap_or(MAX_IN_FLIGHT)
}
/// An ack that never comes (page reloaded, canvas removed) must not freeze the picture forever.
const ACK_TIMEOUT: Duration = Duration::from_secs(3);
const JPEG_QUALITY: i32 = 80;

/// `RED5_DESK_VIDEO_JPEG_QUALITY` overrides [`JPEG_QUALITY`] (measurements only).
fn jpeg_quality() -> i32 {
    std::env::var("RED5_DESK_VIDEO_JPEG_QUALITY")
        .ok()
        .and_then(|v| v.parse::<i32>().ok())
        .filter(|q| (10..=100).contains(q))
        .unwrap_or(JPEG_QUALITY)
}

/// Which canvas a frame is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Sink {
    /// The Presenter pane's local preview.
    Preview,
    /// The Viewer pane's playback.
    Viewer,
}

/// Counters of one sink, for the measurement mode and stats.
#[derive(Clone, Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SinkCounters {
    pub sent: u64,
    pub dropped: u64,
    pub encode_us_total: u64,
}

/// What became of a frame offered to a [`FrameSender`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sent {
    Sent,
    /// Not sent: the page is behind (or the frame could not be prepared).
    Dropped,
    /// The page is gone (the channel is closed).
    Closed,
}

/// One canvas's flow-controlled JPEG sender: the one frame path of every pane (Presenter,
/// Viewer, Host previews, Participant composite and self view).
pub struct FrameSender {
    channel: Channel<InvokeResponseBody>,
    max_in_flight: u32,
    in_flight: AtomicU32,
    last_ack: Mutex<Instant>,
    encoder: Mutex<Option<UiFrameEncoder>>,
    sent: AtomicU64,
    dropped: AtomicU64,
    encode_us: AtomicU64,
}

/// The canvases the page registered: the fixed sinks, and the conference panes' channels by
/// channel id (held weakly: the pane's pump owns its sender).
#[derive(Default)]
pub struct VideoOutputs {
    outs: Mutex<HashMap<Sink, Arc<FrameSender>>>,
    channels: Mutex<HashMap<u32, Weak<FrameSender>>>,
}

fn now_ms() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64() * 1000.0)
        .unwrap_or(0.0)
}

impl FrameSender {
    pub fn new(channel: Channel<InvokeResponseBody>) -> Self {
        Self {
            channel,
            max_in_flight: max_in_flight(),
            in_flight: AtomicU32::new(0),
            last_ack: Mutex::new(Instant::now()),
            encoder: Mutex::new(None),
            sent: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            encode_us: AtomicU64::new(0),
        }
    }

    /// The page painted `count` frames.
    pub fn ack(&self, count: u32) {
        let _ = self
            .in_flight
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                Some(n.saturating_sub(count))
            });
        *self.last_ack.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now();
    }

    pub fn counters(&self) -> SinkCounters {
        SinkCounters {
            sent: self.sent.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
            encode_us_total: self.encode_us.load(Ordering::Relaxed),
        }
    }

    /// Whether a frame offered now would be sent (so a caller can skip preparing it).
    pub fn ready(&self) -> bool {
        self.in_flight.load(Ordering::Acquire) < self.max_in_flight || self.ack_overdue()
    }

    fn ack_overdue(&self) -> bool {
        self.last_ack
            .lock()
            .map(|t| t.elapsed() > ACK_TIMEOUT)
            .unwrap_or(true)
    }

    /// Sends one frame, or drops it when the page is behind. Runs on the producer's thread
    /// (never on the async runtime).
    pub fn send(&self, frame: &VideoFrame) -> Sent {
        let handed_ms = now_ms();
        if self.in_flight.load(Ordering::Acquire) >= self.max_in_flight {
            if !self.ack_overdue() {
                self.dropped.fetch_add(1, Ordering::Relaxed);
                return Sent::Dropped;
            }
            // The page stopped acking (reload, hidden canvas): start over.
            self.in_flight.store(0, Ordering::Release);
        }
        let started = Instant::now();
        let bytes = {
            let mut enc = self.encoder.lock().unwrap_or_else(|p| p.into_inner());
            if enc.is_none() {
                match UiFrameEncoder::new(UiFormat::Jpeg, jpeg_quality()) {
                    Ok(e) => *enc = Some(e),
                    Err(e) => {
                        tracing::warn!("the video preview cannot be shown: {e}");
                        return Sent::Dropped;
                    }
                }
            }
            let Some(e) = enc.as_mut() else {
                return Sent::Dropped;
            };
            match e.encode(frame) {
                Ok(b) => b,
                Err(e) => {
                    tracing::warn!("a video frame could not be prepared for the window: {e}");
                    return Sent::Dropped;
                }
            }
        };
        self.encode_us
            .fetch_add(started.elapsed().as_micros() as u64, Ordering::Relaxed);
        let mut msg = Vec::with_capacity(8 + bytes.len());
        msg.extend_from_slice(&handed_ms.to_le_bytes());
        msg.extend_from_slice(&bytes);
        if self.in_flight.fetch_add(1, Ordering::AcqRel) == 0 {
            // The ack timeout counts from the oldest frame still on its way.
            *self.last_ack.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now();
        }
        match self.channel.send(InvokeResponseBody::Raw(msg)) {
            Ok(()) => {
                self.sent.fetch_add(1, Ordering::Relaxed);
                Sent::Sent
            }
            Err(e) => {
                self.in_flight.fetch_sub(1, Ordering::AcqRel);
                tracing::debug!("video frame not delivered to the window: {e}");
                Sent::Closed
            }
        }
    }
}

impl VideoOutputs {
    fn get(&self, sink: Sink) -> Option<Arc<FrameSender>> {
        self.outs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&sink)
            .cloned()
    }

    /// The page (re)attached a canvas; a reattach resets the flow control.
    pub fn attach(&self, sink: Sink, channel: Channel<InvokeResponseBody>) {
        self.outs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(sink, Arc::new(FrameSender::new(channel)));
    }

    /// A sender for a conference pane's channel, acked by channel id ([`Self::ack_channel`]).
    pub fn attach_channel(&self, channel: Channel<InvokeResponseBody>) -> Arc<FrameSender> {
        let id = channel.id();
        let sender = Arc::new(FrameSender::new(channel));
        let mut map = self.channels.lock().unwrap_or_else(|p| p.into_inner());
        map.retain(|_, w| w.strong_count() > 0);
        map.insert(id, Arc::downgrade(&sender));
        sender
    }

    /// The page painted `count` frames of `sink`.
    pub fn ack(&self, sink: Sink, count: u32) {
        if let Some(out) = self.get(sink) {
            out.ack(count);
        }
    }

    /// The page painted `count` frames of the conference channel `id` (unknown ids are fine:
    /// the pump may have ended).
    pub fn ack_channel(&self, id: u32, count: u32) {
        let sender = self
            .channels
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&id)
            .and_then(Weak::upgrade);
        if let Some(s) = sender {
            s.ack(count);
        }
    }

    pub fn counters(&self, sink: Sink) -> SinkCounters {
        self.get(sink).map(|o| o.counters()).unwrap_or_default()
    }

    /// Sends one frame to `sink`'s canvas, or drops it when the page is behind. Returns whether
    /// it was sent.
    pub fn deliver(&self, sink: Sink, frame: &VideoFrame) -> bool {
        self.get(sink)
            .is_some_and(|out| out.send(frame) == Sent::Sent)
    }
}

/// A thread that pulls frames from `next` and delivers them to `sink` until stopped or `next`
/// returns `None` for good.
pub struct Pump {
    stop: Arc<AtomicBool>,
    join: Option<std::thread::JoinHandle<()>>,
}

/// What a pump's source says each time it is asked.
pub enum Pull {
    Frame(VideoFrame),
    /// Nothing new yet; ask again shortly.
    Idle,
    /// The source ended.
    End,
}

impl Pump {
    pub fn spawn(
        name: &str,
        outputs: Arc<VideoOutputs>,
        sink: Sink,
        mut next: impl FnMut(&AtomicBool) -> Pull + Send + 'static,
    ) -> std::io::Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let join = std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || {
                while !s.load(Ordering::Relaxed) {
                    match next(&s) {
                        Pull::Frame(f) => {
                            outputs.deliver(sink, &f);
                        }
                        // Polled sources (the publisher's newest frame): a few ms keeps the added
                        // latency far below one frame at 30 fps.
                        Pull::Idle => std::thread::sleep(Duration::from_millis(3)),
                        Pull::End => break,
                    }
                }
            })?;
        Ok(Self {
            stop,
            join: Some(join),
        })
    }

    /// Asks the thread to stop and waits for it (it stops within one frame).
    pub fn stop(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(j) = self.join.take() {
            let _ = j.join();
        }
    }
}

impl Drop for Pump {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}
