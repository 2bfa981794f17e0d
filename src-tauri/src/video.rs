//! Video into the web UI: I420 frames → JPEG (red5-media's `UiFrameEncoder`) → a
//! `tauri::ipc::Channel` as raw bytes → an `<img>` decoded off the main thread → a canvas.
//!
//! JPEG was chosen by measurement in the real window (README: "Video into the UI"): it is the
//! cheapest to move through the IPC and to paint. Each message is
//! `[f64 LE: wall-clock ms when the frame was handed to the UI path] + UiFrameEncoder bytes`
//! (whose header carries the capture time), so the page can measure the path's own latency.
//!
//! Flow control: at most [`MAX_IN_FLIGHT`] frames are on their way to a canvas; the page acks each
//! painted frame (`video_ack`). A newer frame replaces one that cannot be sent yet, so a slow page
//! drops frames instead of queueing seconds of video.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
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

struct Out {
    channel: Channel<InvokeResponseBody>,
    max_in_flight: u32,
    in_flight: AtomicU32,
    last_ack: Mutex<Instant>,
    encoder: Mutex<Option<UiFrameEncoder>>,
    sent: AtomicU64,
    dropped: AtomicU64,
    encode_us: AtomicU64,
}

/// The canvases the page registered, by sink.
#[derive(Default)]
pub struct VideoOutputs {
    outs: Mutex<HashMap<Sink, Arc<Out>>>,
}

fn now_ms() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64() * 1000.0)
        .unwrap_or(0.0)
}

impl VideoOutputs {
    fn get(&self, sink: Sink) -> Option<Arc<Out>> {
        self.outs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&sink)
            .cloned()
    }

    /// The page (re)attached a canvas; a reattach resets the flow control.
    pub fn attach(&self, sink: Sink, channel: Channel<InvokeResponseBody>) {
        let out = Arc::new(Out {
            channel,
            max_in_flight: max_in_flight(),
            in_flight: AtomicU32::new(0),
            last_ack: Mutex::new(Instant::now()),
            encoder: Mutex::new(None),
            sent: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            encode_us: AtomicU64::new(0),
        });
        self.outs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(sink, out);
    }

    /// The page painted `count` frames of `sink`.
    pub fn ack(&self, sink: Sink, count: u32) {
        if let Some(out) = self.get(sink) {
            let _ = out
                .in_flight
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                    Some(n.saturating_sub(count))
                });
            *out.last_ack.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now();
        }
    }

    pub fn counters(&self, sink: Sink) -> SinkCounters {
        self.get(sink)
            .map(|o| SinkCounters {
                sent: o.sent.load(Ordering::Relaxed),
                dropped: o.dropped.load(Ordering::Relaxed),
                encode_us_total: o.encode_us.load(Ordering::Relaxed),
            })
            .unwrap_or_default()
    }

    /// Sends one frame to `sink`'s canvas, or drops it when the page is behind. Returns whether
    /// it was sent. Runs on the producer's thread (never on the async runtime).
    pub fn deliver(&self, sink: Sink, frame: &VideoFrame) -> bool {
        let Some(out) = self.get(sink) else {
            return false;
        };
        let handed_ms = now_ms();
        if out.in_flight.load(Ordering::Acquire) >= out.max_in_flight {
            let stale = out
                .last_ack
                .lock()
                .map(|t| t.elapsed() > ACK_TIMEOUT)
                .unwrap_or(true);
            if !stale {
                out.dropped.fetch_add(1, Ordering::Relaxed);
                return false;
            }
            // The page stopped acking (reload, hidden canvas): start over.
            out.in_flight.store(0, Ordering::Release);
        }
        let started = Instant::now();
        let bytes = {
            let mut enc = out.encoder.lock().unwrap_or_else(|p| p.into_inner());
            if enc.is_none() {
                match UiFrameEncoder::new(UiFormat::Jpeg, JPEG_QUALITY) {
                    Ok(e) => *enc = Some(e),
                    Err(e) => {
                        tracing::warn!("the video preview cannot be shown: {e}");
                        return false;
                    }
                }
            }
            let Some(e) = enc.as_mut() else {
                return false;
            };
            match e.encode(frame) {
                Ok(b) => b,
                Err(e) => {
                    tracing::warn!("a video frame could not be prepared for the window: {e}");
                    return false;
                }
            }
        };
        out.encode_us
            .fetch_add(started.elapsed().as_micros() as u64, Ordering::Relaxed);
        let mut msg = Vec::with_capacity(8 + bytes.len());
        msg.extend_from_slice(&handed_ms.to_le_bytes());
        msg.extend_from_slice(&bytes);
        if out.in_flight.fetch_add(1, Ordering::AcqRel) == 0 {
            // The ack timeout counts from the oldest frame still on its way.
            *out.last_ack.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now();
        }
        match out.channel.send(InvokeResponseBody::Raw(msg)) {
            Ok(()) => {
                out.sent.fetch_add(1, Ordering::Relaxed);
                true
            }
            Err(e) => {
                out.in_flight.fetch_sub(1, Ordering::AcqRel);
                tracing::debug!("video frame not delivered to the window: {e}");
                false
            }
        }
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
