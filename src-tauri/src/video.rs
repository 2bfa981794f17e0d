//! Video into the web UI: I420 frames → JPEG (red5-media's `UiFrameEncoder`) → a
//! `tauri::ipc::Channel` as raw bytes → an `<img>` decoded off the main thread → a canvas.
//!
//! JPEG was chosen by measurement in the real window (README: "Video into the UI"): it is the
//! cheapest to move through the IPC and to paint. Each message is a [`PREFIX_LEN`]-byte prefix
//! `[f64 LE: wall-clock ms when the frame was handed to the UI path][u16 LE source width]
//! [u16 LE source height][4 bytes 0]` + UiFrameEncoder bytes (whose header carries the capture
//! time and the size of the JPEG), so the page can measure the path's own latency and still
//! knows the stream's real size when the picture was scaled down.
//!
//! Size: the page reports each canvas's on-screen size in device pixels (`video_view_size`,
//! `video_view_size_channel`, on start and on every resize); frames larger than that are scaled
//! down (aspect kept, never up, red5-mixer's I420 scaler) before the JPEG encode. Encoding,
//! moving and decoding a 720p JPEG for a 620×350 canvas was most of the path's CPU.
//!
//! Delivery: the page pulls each frame (`video_pull`, `video_pull_channel`: one request at a
//! time, answered with the next message; a frame is prepared only while a request waits, so a
//! slow page drops frames instead of queueing seconds of video). One request per frame costs the
//! GTK main thread and WebKit less than a channel message (Tauri sends raw bytes over 1 KiB as an
//! `eval` that makes the page fetch them) plus its ack: 31–33 % against 36–39 % of one core at
//! 720p30 (README). Until the first pull (and with `RED5_DESK_VIDEO_TRANSPORT=channel`) frames
//! go over the channel: at most [`MAX_IN_FLIGHT`] on their way, the page acks each painted frame
//! (`video_ack`, `video_ack_channel`), a newer frame is dropped while they are pending. Every
//! pane's video goes through [`FrameSender`].

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use red5_media::convert::i420_to_bgrx;
use red5_media::ui::{UiFormat, UiFrameEncoder};
use red5_media::VideoFrame;
use red5_mixer::scale::FrameScaler;
use red5_mixer::Rect;
use serde::{Deserialize, Serialize};
use tauri::ipc::{Channel, InvokeResponseBody};

use crate::surface::{Frame, NativeTarget, Placement, SurfaceStats};

/// Bytes before the red5-media UI frame in each message (see the module docs).
pub const PREFIX_LEN: usize = 16;

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

/// The size a frame is sent at for a canvas shown at `view` device pixels: the largest even
/// size that fits in `view` with the frame's aspect, never larger than the frame. `None` (or a
/// zero side) means the canvas size is not known: the frame's own size.
pub fn fit_to_view(src_w: u32, src_h: u32, view: Option<(u32, u32)>) -> (u32, u32) {
    let Some((vw, vh)) = view.filter(|&(w, h)| w > 0 && h > 0) else {
        return (src_w, src_h);
    };
    if src_w == 0 || src_h == 0 || (vw >= src_w && vh >= src_h) {
        return (src_w, src_h);
    }
    // The smaller of the two ratios, in integers: w = src_w * min(vw/src_w, vh/src_h).
    let (w, h) = if u64::from(vw) * u64::from(src_h) <= u64::from(vh) * u64::from(src_w) {
        (
            vw,
            (u64::from(src_h) * u64::from(vw) / u64::from(src_w)) as u32,
        )
    } else {
        (
            (u64::from(src_w) * u64::from(vh) / u64::from(src_h)) as u32,
            vh,
        )
    };
    // I420 needs even sides; 2×2 is the smallest picture.
    let even = |v: u32| (v & !1).max(2);
    let (w, h) = (even(w), even(h));
    if w >= src_w || h >= src_h {
        (src_w, src_h)
    } else {
        (w, h)
    }
}

/// A canvas size packed in one atomic: width << 32 | height; 0 = not known.
fn pack(w: u32, h: u32) -> u64 {
    (u64::from(w) << 32) | u64::from(h)
}

fn unpack(v: u64) -> Option<(u32, u32)> {
    let (w, h) = ((v >> 32) as u32, v as u32);
    (w > 0 && h > 0).then_some((w, h))
}

/// The JPEG encoder and the scaler with its output frame, reused frame after frame.
#[derive(Default)]
struct Prep {
    encoder: Option<UiFrameEncoder>,
    scaler: Option<FrameScaler>,
    scaled: Option<VideoFrame>,
}

/// `frame`, or a copy scaled down into `scaled` to fit `view` (`scaler` is rebuilt when the
/// sizes change).
fn fit_frame<'a>(
    scaler: &mut Option<FrameScaler>,
    scaled: &'a mut Option<VideoFrame>,
    frame: &'a VideoFrame,
    view: Option<(u32, u32)>,
) -> &'a VideoFrame {
    // The scaler works on even-sized pictures: an odd last row/column is left out.
    let (sw, sh) = (frame.width & !1, frame.height & !1);
    let (w, h) = fit_to_view(sw, sh, view);
    if (w, h) == (sw, sh) || sw < 2 || sh < 2 {
        return frame;
    }
    if !scaler.as_ref().is_some_and(|s| s.fits(sw, sh, w, h)) {
        *scaler = Some(FrameScaler::new(sw, sh, w, h));
    }
    if scaled.as_ref().map(|f| (f.width, f.height)) != Some((w, h)) {
        *scaled = Some(VideoFrame::new(w, h));
    }
    let (Some(sc), Some(out)) = (scaler.as_mut(), scaled.as_mut()) else {
        return frame;
    };
    sc.scale_into(frame, Rect::new(0, 0, sw, sh), out, Rect::new(0, 0, w, h));
    out.timestamp = frame.timestamp;
    out.capture_time_us = frame.capture_time_us;
    out
}

/// The newest message of a pulled sender and the page's waiting requests.
#[derive(Default)]
struct PullSlot {
    msg: Mutex<Option<Vec<u8>>>,
    ready: tokio::sync::Notify,
    waiting: AtomicU32,
}

impl PullSlot {
    /// The next message, or `None` after `wait` without one (the page asks again).
    async fn next(&self, wait: Duration) -> Option<Vec<u8>> {
        self.waiting.fetch_add(1, Ordering::AcqRel);
        let deadline = tokio::time::Instant::now() + wait;
        let got = loop {
            if let Some(m) = self.msg.lock().unwrap_or_else(|p| p.into_inner()).take() {
                break Some(m);
            }
            if tokio::time::timeout_at(deadline, self.ready.notified())
                .await
                .is_err()
            {
                break None;
            }
        };
        self.waiting.fetch_sub(1, Ordering::AcqRel);
        got
    }
}

/// One canvas's flow-controlled JPEG sender: the one frame path of every pane (Presenter,
/// Viewer, Host previews, Participant composite and self view).
pub struct FrameSender {
    channel: Channel<InvokeResponseBody>,
    /// Set by the page's first pull: from then on frames wait in `slot` for `video_pull`
    /// instead of going over the channel.
    pulled: AtomicBool,
    slot: PullSlot,
    max_in_flight: u32,
    in_flight: AtomicU32,
    last_ack: Mutex<Instant>,
    /// The canvas's on-screen size in device pixels ([`pack`]ed; 0 = not known).
    view: AtomicU64,
    prep: Mutex<Prep>,
    sent: AtomicU64,
    dropped: AtomicU64,
    encode_us: AtomicU64,
    /// Where the canvas is on the native surface, once the page placed it there
    /// ([`crate::surface`]): frames are then painted natively instead of being sent.
    native: Mutex<Option<Arc<NativeTarget>>>,
}

impl Drop for FrameSender {
    fn drop(&mut self) {
        // The pane's video ended: its last picture must not stay painted over the page.
        if let Some(t) = self
            .native
            .get_mut()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        {
            t.clear();
        }
    }
}

/// The canvases the page registered: the fixed sinks, and the conference panes' channels by
/// channel id (held weakly: the pane's pump owns its sender).
#[derive(Default)]
pub struct VideoOutputs {
    outs: Mutex<HashMap<Sink, Arc<FrameSender>>>,
    channels: Mutex<HashMap<u32, Weak<FrameSender>>>,
    /// The canvas sizes the page reported, kept across re-attaches of a sink.
    sink_views: Mutex<HashMap<Sink, (u32, u32)>>,
    /// Sizes reported for a channel before the backend made its sender (the page observes the
    /// canvas before the start command arrives); taken by [`VideoOutputs::attach_channel`].
    pending_channel_views: Mutex<HashMap<u32, (u32, u32)>>,
    /// The fixed sinks' targets on the native surface, kept across re-attaches.
    native: Mutex<HashMap<Sink, Arc<NativeTarget>>>,
    /// Placements reported for a channel before its sender exists (see `pending_channel_views`).
    pending_native: Mutex<HashMap<u32, Placement>>,
}

/// Keeps what the page reported for a channel whose sender does not exist yet, at most
/// [`MAX_PENDING_VIEWS`] channels (those whose start never came are forgotten).
fn keep_pending<T>(map: &Mutex<HashMap<u32, T>>, id: u32, value: T) {
    let mut pending = map.lock().unwrap_or_else(|p| p.into_inner());
    if pending.len() >= MAX_PENDING_VIEWS && !pending.contains_key(&id) {
        pending.clear();
    }
    pending.insert(id, value);
}

/// The native-surface key of a conference channel (the fixed sinks are 1 and 2).
fn channel_key(id: u32) -> u64 {
    1000 + u64::from(id)
}

/// Pending channel sizes kept at most (channels whose start never came are forgotten).
const MAX_PENDING_VIEWS: usize = 64;

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
            pulled: AtomicBool::new(false),
            slot: PullSlot::default(),
            max_in_flight: max_in_flight(),
            in_flight: AtomicU32::new(0),
            last_ack: Mutex::new(Instant::now()),
            view: AtomicU64::new(0),
            prep: Mutex::new(Prep::default()),
            sent: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            encode_us: AtomicU64::new(0),
            native: Mutex::new(None),
        }
    }

    /// This canvas's target on the native surface, if the page placed it there.
    pub fn native(&self) -> Option<Arc<NativeTarget>> {
        self.native
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn set_native(&self, t: Arc<NativeTarget>) {
        *self.native.lock().unwrap_or_else(|p| p.into_inner()) = Some(t);
    }

    /// The canvas is shown at `width`×`height` device pixels; frames are sent at most that big.
    /// A zero side (a hidden canvas) keeps the last size shown.
    pub fn set_view(&self, width: u32, height: u32) {
        if width > 0 && height > 0 {
            self.view.store(pack(width, height), Ordering::Relaxed);
        }
    }

    /// The next frame, pulled by the page (`video_pull`): the same bytes a channel message
    /// carries, or `None` after `wait` without one. The first pull switches this sender from
    /// the channel to pulls for good; each request is the flow control (a frame is prepared
    /// only while one waits), so no acks are needed. One request per frame costs the GTK main
    /// thread and WebKit less than a channel message (an `eval`, then a fetch) plus its ack.
    pub async fn pull(&self, wait: Duration) -> Option<Vec<u8>> {
        self.pulled.store(true, Ordering::Release);
        self.slot.next(wait).await
    }

    /// The canvas size frames are fitted to, if the page reported one.
    pub fn view(&self) -> Option<(u32, u32)> {
        unpack(self.view.load(Ordering::Relaxed))
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

    /// Paints one frame on the native surface (scaled to the canvas, B,G,R,x), or drops it while
    /// the previous one is not painted yet or the canvas is hidden.
    fn send_native(&self, target: &Arc<NativeTarget>, frame: &VideoFrame) -> Sent {
        let handed = Instant::now();
        target.received((frame.width, frame.height));
        let Some(view) = target.device_size() else {
            return Sent::Dropped;
        };
        if !target.ready() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return Sent::Dropped;
        }
        let (w, h, bgrx) = {
            let mut prep = self.prep.lock().unwrap_or_else(|p| p.into_inner());
            let Prep { scaler, scaled, .. } = &mut *prep;
            // Scaled here to the canvas's size, so cairo paints 1:1 (letting cairo scale a 2×2
            // halving while painting measured ~3 % of a core more at 720p30).
            let f = fit_frame(scaler, scaled, frame, Some(view));
            let mut out = target.buffer();
            i420_to_bgrx(f, &mut out);
            (f.width, f.height, out)
        };
        self.encode_us
            .fetch_add(handed.elapsed().as_micros() as u64, Ordering::Relaxed);
        target.post(Frame {
            width: w,
            height: h,
            source: (frame.width, frame.height),
            bgrx,
            handed,
        });
        self.sent.fetch_add(1, Ordering::Relaxed);
        Sent::Sent
    }

    /// Sends one frame, or drops it when the page is behind. Runs on the producer's thread
    /// (never on the async runtime).
    pub fn send(&self, frame: &VideoFrame) -> Sent {
        if let Some(t) = self.native() {
            return self.send_native(&t, frame);
        }
        let handed_ms = now_ms();
        let pulled = self.pulled.load(Ordering::Acquire);
        if pulled {
            // Flow control is the page's request: nothing is prepared until it asks.
            if self.slot.waiting.load(Ordering::Acquire) == 0 {
                self.dropped.fetch_add(1, Ordering::Relaxed);
                return Sent::Dropped;
            }
        } else if self.in_flight.load(Ordering::Acquire) >= self.max_in_flight {
            if !self.ack_overdue() {
                self.dropped.fetch_add(1, Ordering::Relaxed);
                return Sent::Dropped;
            }
            // The page stopped acking (reload, hidden canvas): start over.
            self.in_flight.store(0, Ordering::Release);
        }
        let started = Instant::now();
        let view = self.view();
        let bytes = {
            let mut prep = self.prep.lock().unwrap_or_else(|p| p.into_inner());
            let prep = &mut *prep;
            if prep.encoder.is_none() {
                match UiFrameEncoder::new(UiFormat::Jpeg, jpeg_quality()) {
                    Ok(e) => prep.encoder = Some(e),
                    Err(e) => {
                        tracing::warn!("the video preview cannot be shown: {e}");
                        return Sent::Dropped;
                    }
                }
            }
            let Prep {
                encoder,
                scaler,
                scaled,
            } = prep;
            let Some(e) = encoder.as_mut() else {
                return Sent::Dropped;
            };
            match e.encode(fit_frame(scaler, scaled, frame, view)) {
                Ok(b) => b,
                Err(e) => {
                    tracing::warn!("a video frame could not be prepared for the window: {e}");
                    return Sent::Dropped;
                }
            }
        };
        self.encode_us
            .fetch_add(started.elapsed().as_micros() as u64, Ordering::Relaxed);
        let mut msg = Vec::with_capacity(PREFIX_LEN + bytes.len());
        msg.extend_from_slice(&handed_ms.to_le_bytes());
        // The stream's own size (the JPEG may be smaller); larger than u16 is not sent anyway.
        msg.extend_from_slice(&(frame.width.min(0xFFFF) as u16).to_le_bytes());
        msg.extend_from_slice(&(frame.height.min(0xFFFF) as u16).to_le_bytes());
        msg.extend_from_slice(&[0; 4]);
        msg.extend_from_slice(&bytes);
        if pulled {
            *self.slot.msg.lock().unwrap_or_else(|p| p.into_inner()) = Some(msg);
            self.slot.ready.notify_one();
            self.sent.fetch_add(1, Ordering::Relaxed);
            return Sent::Sent;
        }
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

    /// The live sender of the conference channel `id` (its pump may have ended).
    fn channel(&self, id: u32) -> Option<Arc<FrameSender>> {
        self.channels
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&id)
            .and_then(Weak::upgrade)
    }

    /// The page (re)attached a canvas; a reattach resets the flow control.
    pub fn attach(&self, sink: Sink, channel: Channel<InvokeResponseBody>) {
        let sender = FrameSender::new(channel);
        let view = self
            .sink_views
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&sink)
            .copied();
        if let Some((w, h)) = view {
            sender.set_view(w, h);
        }
        if let Some(t) = self.native_target(sink) {
            sender.set_native(t);
        }
        self.outs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(sink, Arc::new(sender));
    }

    /// The next frame for `sink`'s canvas, pulled by the page (see [`FrameSender::pull`]).
    pub async fn pull(&self, sink: Sink, wait: Duration) -> Option<Vec<u8>> {
        let sender = self.get(sink)?;
        sender.pull(wait).await
    }

    /// The next frame for the conference channel `id`'s canvas, pulled by the page.
    pub async fn pull_channel(&self, id: u32, wait: Duration) -> Option<Vec<u8>> {
        self.channel(id)?.pull(wait).await
    }

    /// `sink`'s canvas is shown at `width`×`height` device pixels (0×0: hidden, keep the last).
    pub fn set_view(&self, sink: Sink, width: u32, height: u32) {
        if width == 0 || height == 0 {
            return;
        }
        self.sink_views
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(sink, (width, height));
        if let Some(out) = self.get(sink) {
            out.set_view(width, height);
        }
    }

    /// The conference channel `id`'s canvas is shown at `width`×`height` device pixels.
    pub fn set_view_channel(&self, id: u32, width: u32, height: u32) {
        if width == 0 || height == 0 {
            return;
        }
        match self.channel(id) {
            Some(s) => s.set_view(width, height),
            None => keep_pending(&self.pending_channel_views, id, (width, height)),
        }
    }

    /// A sender for a conference pane's channel, acked by channel id ([`Self::ack_channel`]).
    pub fn attach_channel(&self, channel: Channel<InvokeResponseBody>) -> Arc<FrameSender> {
        let id = channel.id();
        let sender = Arc::new(FrameSender::new(channel));
        let view = self
            .pending_channel_views
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&id);
        if let Some((w, h)) = view {
            sender.set_view(w, h);
        }
        let placed = self
            .pending_native
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&id);
        if let Some(p) = placed {
            let t = NativeTarget::new(channel_key(id));
            t.place(p);
            sender.set_native(t);
        }
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
        if let Some(s) = self.channel(id) {
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

    fn native_target(&self, sink: Sink) -> Option<Arc<NativeTarget>> {
        self.native
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&sink)
            .cloned()
    }

    /// The page placed `sink`'s canvas at `p` on the native surface (from then on its frames are
    /// painted there instead of being sent to the page).
    pub fn place_native(&self, sink: Sink, p: Placement) {
        let key = match sink {
            Sink::Preview => 1,
            Sink::Viewer => 2,
        };
        let t = self
            .native
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(sink)
            .or_insert_with(|| NativeTarget::new(key))
            .clone();
        t.place(p);
        if let Some(out) = self.get(sink) {
            if out.native().is_none() {
                out.set_native(t);
            }
        }
    }

    /// The page placed the conference channel `id`'s canvas at `p` on the native surface.
    pub fn place_native_channel(&self, id: u32, p: Placement) {
        let Some(sender) = self.channel(id) else {
            keep_pending(&self.pending_native, id, p);
            return;
        };
        match sender.native() {
            Some(t) => t.place(p),
            None => {
                let t = NativeTarget::new(channel_key(id));
                t.place(p);
                sender.set_native(t);
            }
        }
    }

    /// Takes `sink`'s last picture off the native surface (the pane cleared its canvas).
    pub fn clear_native(&self, sink: Sink) {
        if let Some(t) = self.native_target(sink) {
            t.clear();
        }
    }

    /// Painting figures of `sink` on the native surface.
    pub fn native_stats(&self, sink: Sink) -> Option<SurfaceStats> {
        self.native_target(sink).map(|t| t.stats())
    }

    /// Painting figures of the conference channel `id` on the native surface.
    pub fn native_stats_channel(&self, id: u32) -> Option<SurfaceStats> {
        self.channel(id).and_then(|s| s.native()).map(|t| t.stats())
    }

    /// Restarts `sink`'s latency samples on the native surface.
    pub fn native_reset(&self, sink: Sink) {
        if let Some(t) = self.native_target(sink) {
            t.reset();
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

#[cfg(test)]
mod tests {
    use super::*;
    use red5_media::convert::Converter;
    use red5_media::synthetic::{detect_color, read_stamp, PatternColor, TestPattern};
    use red5_media::ui::{parse_header, UI_HEADER_LEN};

    #[test]
    fn fit_keeps_the_aspect_and_never_scales_up() {
        // Unknown or hidden canvas: the frame's own size.
        assert_eq!(fit_to_view(1280, 720, None), (1280, 720));
        assert_eq!(fit_to_view(1280, 720, Some((0, 0))), (1280, 720));
        // A 620×350 stage: width-bound is 622.2×350 → height-bound wins at 620 wide.
        assert_eq!(fit_to_view(1280, 720, Some((620, 350))), (620, 348));
        assert_eq!(fit_to_view(1920, 1080, Some((1240, 700))), (1240, 696));
        // Height-bound (a tall box), and odd results rounded down to even.
        assert_eq!(fit_to_view(1280, 720, Some((1000, 301))), (534, 300));
        // A bigger canvas (or HiDPI) never enlarges the frame.
        assert_eq!(fit_to_view(640, 360, Some((1280, 720))), (640, 360));
        assert_eq!(fit_to_view(640, 360, Some((700, 360))), (640, 360));
        // Tiny canvases still get a valid I420 size.
        assert_eq!(fit_to_view(1280, 720, Some((1, 1))), (2, 2));
    }

    /// A channel that records what the page would receive.
    fn recording_sender() -> (FrameSender, Arc<Mutex<Vec<Vec<u8>>>>) {
        let got: Arc<Mutex<Vec<Vec<u8>>>> = Arc::default();
        let g = got.clone();
        let channel = Channel::new(move |body| {
            if let InvokeResponseBody::Raw(b) = body {
                g.lock().unwrap().push(b);
            }
            Ok(())
        });
        (FrameSender::new(channel), got)
    }

    fn source_size(msg: &[u8]) -> (u16, u16) {
        (
            u16::from_le_bytes([msg[8], msg[9]]),
            u16::from_le_bytes([msg[10], msg[11]]),
        )
    }

    #[test]
    fn frames_are_sent_at_the_canvas_size_with_the_source_size_and_pattern_kept() {
        let (sender, got) = recording_sender();
        let pattern = TestPattern::new(1280, 720, PatternColor::Green);
        let mut frame = pattern.render(41, 1_700_000_123_456_000);
        // The pattern stamps the time in pixels; sources set the frame's field.
        frame.capture_time_us = 1_700_000_123_456_000;

        // Before the page reports a size: the full frame.
        assert_eq!(sender.send(&frame), Sent::Sent);
        sender.ack(1);
        // The stage in a 1200-wide window, device pixels.
        sender.set_view(620, 350);
        assert_eq!(sender.send(&frame), Sent::Sent);
        sender.ack(1);
        // Hidden (0×0) keeps the last size; a HiDPI canvas bigger than the frame gets it whole.
        sender.set_view(0, 0);
        assert_eq!(sender.send(&frame), Sent::Sent);
        sender.ack(1);
        sender.set_view(2560, 1440);
        assert_eq!(sender.send(&frame), Sent::Sent);

        let got = got.lock().unwrap();
        let sizes: Vec<_> = got
            .iter()
            .map(|m| {
                let (_, w, h) = parse_header(&m[PREFIX_LEN..]).unwrap();
                (w, h)
            })
            .collect();
        assert_eq!(sizes, [(1280, 720), (620, 348), (620, 348), (1280, 720)]);
        for m in got.iter() {
            assert_eq!(source_size(m), (1280, 720), "the stream's own size");
            // The capture time (low 32 bits of ms) survives scaling: the page's latency figure.
            let capture =
                u32::from_le_bytes(m[PREFIX_LEN + 12..PREFIX_LEN + 16].try_into().unwrap());
            assert_eq!(capture, (1_700_000_123_456u64 % (1 << 32)) as u32);
        }
        // The scaled JPEG still shows the pattern: its colour and the pixel stamp read back.
        let small = Converter::new()
            .mjpeg_to_i420(&got[1][PREFIX_LEN + UI_HEADER_LEN..])
            .unwrap();
        assert_eq!((small.width, small.height), (620, 348));
        assert_eq!(detect_color(&small), Some(PatternColor::Green));
        assert_eq!(read_stamp(&small).map(|s| s.frame_number), Some(41));
    }

    #[tokio::test]
    async fn a_pulled_sender_prepares_frames_only_while_the_page_waits() {
        let (sender, pushed) = recording_sender();
        let sender = Arc::new(sender);
        let frame = TestPattern::new(320, 180, PatternColor::Red).render(3, 0);
        // Before any pull: the channel (pushed, acked).
        assert_eq!(sender.send(&frame), Sent::Sent);
        sender.ack(1);
        // Nothing waiting yet after the first pull ended empty: the frame is dropped, not queued.
        assert_eq!(sender.pull(Duration::from_millis(20)).await, None);
        assert_eq!(sender.send(&frame), Sent::Dropped);
        // A waiting pull gets the next frame, with the same prefix and header as a message.
        let s2 = sender.clone();
        let producer = std::thread::spawn(move || loop {
            match s2.send(&frame) {
                Sent::Sent => break,
                _ => std::thread::sleep(Duration::from_millis(2)),
            }
        });
        let msg = sender.pull(Duration::from_secs(10)).await.unwrap();
        producer.join().unwrap();
        let (_, w, h) = parse_header(&msg[PREFIX_LEN..]).unwrap();
        assert_eq!((w, h), (320, 180));
        assert_eq!(source_size(&msg), (320, 180));
        // Only the first frame went over the channel.
        assert_eq!(pushed.lock().unwrap().len(), 1);
        let c = sender.counters();
        assert_eq!((c.sent, c.dropped >= 1), (2, true));
    }

    #[test]
    fn view_sizes_reported_before_the_sender_exists_are_applied() {
        let outputs = VideoOutputs::default();
        // A sink's size survives a re-attach.
        outputs.set_view(Sink::Preview, 640, 360);
        outputs.attach(Sink::Preview, Channel::new(|_| Ok(())));
        assert_eq!(outputs.get(Sink::Preview).unwrap().view(), Some((640, 360)));
        outputs.set_view(Sink::Preview, 320, 180);
        assert_eq!(outputs.get(Sink::Preview).unwrap().view(), Some((320, 180)));
        outputs.attach(Sink::Preview, Channel::new(|_| Ok(())));
        assert_eq!(outputs.get(Sink::Preview).unwrap().view(), Some((320, 180)));

        // A conference channel: the page observes its canvas before the start command.
        let channel: Channel<InvokeResponseBody> = Channel::new(|_| Ok(()));
        outputs.set_view_channel(channel.id(), 400, 226);
        let sender = outputs.attach_channel(channel);
        assert_eq!(sender.view(), Some((400, 226)));
        let id = outputs
            .channels
            .lock()
            .unwrap()
            .iter()
            .find(|(_, w)| w.upgrade().is_some())
            .map(|(id, _)| *id)
            .unwrap();
        outputs.set_view_channel(id, 200, 112);
        assert_eq!(sender.view(), Some((200, 112)));
        assert!(outputs.pending_channel_views.lock().unwrap().is_empty());
    }
}
