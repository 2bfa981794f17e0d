//! The native video surface (Linux): decoded frames painted by GTK/cairo straight onto the
//! window, over the page's `<canvas>`, with no JPEG, no IPC and no WebKit decode.
//!
//! Chosen by [`choose`] (without a GPU by default; `RED5_DESK_VIDEO_SURFACE=native|canvas`; see
//! `src-tauri/README.md`, "Video into the UI"): the page reports where each canvas is
//! (`video_native_rect`, CSS pixels of the webview), the [`crate::video::FrameSender`] scales each frame to that size, converts it to cairo's
//! B,G,R,x bytes and posts it to the GTK main thread, and a handler that runs after WebKit's own
//! `draw` paints the newest frame of every visible canvas. A frame waits for the previous one to
//! be painted (a slow window drops frames instead of queueing them).
//!
//! The picture is painted over the page: the page reports the elements that lie over a canvas
//! (badges, messages, the toast) and their rectangles are left unpainted. A WebDriver
//! screenshot is WebKit's own rendering without the video, so tests read the display back
//! ([`probe`], [`snapshot_png`]).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// Chooses the surface: `RED5_DESK_VIDEO_SURFACE=native|canvas` if set; otherwise native
/// where WebKit paints without accelerated compositing (no GPU: [`crate::rendering`] sets
/// `WEBKIT_DISABLE_COMPOSITING_MODE=1`), which is where it was measured and where the page
/// canvas costs the most. Linux (GTK) only.
pub fn choose(linux: bool, get: impl Fn(&str) -> Option<String>) -> bool {
    if !linux {
        return false;
    }
    match get("RED5_DESK_VIDEO_SURFACE").as_deref().map(str::trim) {
        Some("native") => true,
        Some("canvas") => false,
        _ => get("WEBKIT_DISABLE_COMPOSITING_MODE").is_some_and(|v| v.trim() == "1"),
    }
}

/// Whether this process paints video natively ([`choose`] on its environment; read once).
pub fn enabled() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| choose(cfg!(target_os = "linux"), |k| std::env::var(k).ok()))
}

/// A rectangle in CSS pixels of the webview.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Area {
    pub x: f64,
    pub y: f64,
    pub width: f64,
    pub height: f64,
}

/// Where a canvas is, in CSS pixels of the webview (= GTK logical pixels at page zoom 1).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Placement {
    pub x: f64,
    pub y: f64,
    pub width: f64,
    pub height: f64,
    /// The page's devicePixelRatio (frames are scaled to width × dpr).
    pub dpr: f64,
    /// False while the canvas is hidden (another pane, scrolled away): nothing is painted.
    pub visible: bool,
    /// The part of the canvas not cut off by a scrolling pane or the window edge (painting
    /// stays inside it); the whole canvas when absent.
    #[serde(default)]
    pub clip: Option<Area>,
    /// Page elements over the canvas (badges, messages, toasts): left unpainted so they show.
    #[serde(default)]
    pub holes: Vec<Area>,
}

impl Placement {
    /// The canvas size in device pixels, if it is shown.
    pub fn device_size(&self) -> Option<(u32, u32)> {
        let dpr = if self.dpr > 0.0 { self.dpr } else { 1.0 };
        let (w, h) = (
            (self.width * dpr).ceil() as u32,
            (self.height * dpr).ceil() as u32,
        );
        (self.visible && w > 1 && h > 1).then_some((w, h))
    }
}

/// Painting figures of one canvas (measurement mode, tests).
#[derive(Clone, Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SurfaceStats {
    /// Frames that reached the canvas's path, painted or not (hidden canvas, page behind).
    pub frames_received: u64,
    pub frames_painted: u64,
    /// The stream's size (the painted picture may be scaled down to the canvas).
    pub width: u32,
    pub height: u32,
    /// The size painted.
    pub sent_width: u32,
    pub sent_height: u32,
    pub samples: usize,
    /// Frame handed to the path → painted by GTK, in ms.
    pub path_latency_ms_p50: Option<f64>,
    pub path_latency_ms_p95: Option<f64>,
    /// The mean colour of the last painted frame (R, G, B), for tests.
    pub last_mean_rgb: Option<[u8; 3]>,
}

/// A frame posted and not yet painted is given up after this (window unmapped, canvas gone).
const PENDING_TIMEOUT: Duration = Duration::from_secs(1);
/// Latency samples kept per canvas.
const MAX_SAMPLES: usize = 20_000;

/// One canvas's target on the native surface, shared by its frame sender and the GTK thread.
pub struct NativeTarget {
    key: u64,
    placement: Mutex<Placement>,
    pending: AtomicBool,
    posted_at: Mutex<Option<Instant>>,
    received: AtomicU64,
    painted: AtomicU64,
    samples_us: Mutex<Vec<u32>>,
    last: Mutex<Last>,
    /// Pixel buffers of replaced pictures, for the next frames: a fresh ~1 MB buffer per frame
    /// would be mapped and page-faulted anew every time.
    pool: Arc<Mutex<Vec<Vec<u8>>>>,
}

/// Buffers kept per canvas (the picture shown, one on its way, a spare).
const POOL_MAX: usize = 3;

/// A picture's pixels while cairo holds them; back to the pool when the picture is replaced.
struct Pooled {
    buf: Vec<u8>,
    pool: Arc<Mutex<Vec<Vec<u8>>>>,
}

impl AsMut<[u8]> for Pooled {
    fn as_mut(&mut self) -> &mut [u8] {
        &mut self.buf
    }
}

impl Drop for Pooled {
    fn drop(&mut self) {
        let mut pool = self.pool.lock().unwrap_or_else(|p| p.into_inner());
        if pool.len() < POOL_MAX {
            pool.push(std::mem::take(&mut self.buf));
        }
    }
}

/// What the GTK thread last painted for a canvas.
#[derive(Clone, Copy, Debug, Default)]
struct Last {
    source: (u32, u32),
    painted: (u32, u32),
    mean: Option<[u8; 3]>,
}

/// A frame on its way to the GTK thread.
pub struct Frame {
    pub width: u32,
    pub height: u32,
    pub source: (u32, u32),
    pub bgrx: Vec<u8>,
    pub handed: Instant,
}

impl NativeTarget {
    pub fn new(key: u64) -> Arc<Self> {
        Arc::new(Self {
            key,
            placement: Mutex::new(Placement::default()),
            pending: AtomicBool::new(false),
            posted_at: Mutex::new(None),
            received: AtomicU64::new(0),
            painted: AtomicU64::new(0),
            samples_us: Mutex::new(Vec::new()),
            last: Mutex::new(Last::default()),
            pool: Arc::default(),
        })
    }

    pub fn placement(&self) -> Placement {
        self.placement
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The page moved, resized, showed or hid the canvas.
    pub fn place(self: &Arc<Self>, p: Placement) {
        *self.placement.lock().unwrap_or_else(|e| e.into_inner()) = p;
        gtk_side::repaint(self.clone());
    }

    /// Whether a frame can be posted now (the previous one was painted, or given up on).
    pub fn ready(&self) -> bool {
        if !self.pending.load(Ordering::Acquire) {
            return true;
        }
        let stale = self
            .posted_at
            .lock()
            .map(|t| t.is_none_or(|t| t.elapsed() > PENDING_TIMEOUT))
            .unwrap_or(true);
        if stale {
            self.pending.store(false, Ordering::Release);
        }
        stale
    }

    /// The canvas's size in device pixels while it is shown (frames are scaled to it).
    pub fn device_size(&self) -> Option<(u32, u32)> {
        self.placement
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .device_size()
    }

    /// A frame of `source` size reached the path (painted or not: a hidden canvas still learns
    /// that video is there, and shows itself).
    pub fn received(&self, source: (u32, u32)) {
        if self.received.fetch_add(1, Ordering::Relaxed) == 0 {
            let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
            last.source = source;
        }
    }

    /// A buffer for the next frame's pixels (one a replaced picture gave back, if any).
    pub fn buffer(&self) -> Vec<u8> {
        self.pool
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .pop()
            .unwrap_or_default()
    }

    /// Posts a B,G,R,x frame to the GTK thread.
    pub fn post(self: &Arc<Self>, frame: Frame) {
        self.pending.store(true, Ordering::Release);
        *self.posted_at.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
        gtk_side::post(self.clone(), frame);
    }

    /// Takes the last picture off the surface (the pane's video stopped or was cleared).
    pub fn clear(&self) {
        gtk_side::forget(self.key);
    }

    /// The GTK thread painted (or, off screen, passed over) a frame.
    fn painted(&self, handed: Instant, last: Last) {
        self.painted.fetch_add(1, Ordering::Relaxed);
        let mut s = self.samples_us.lock().unwrap_or_else(|p| p.into_inner());
        if s.len() < MAX_SAMPLES {
            s.push(handed.elapsed().as_micros().min(u128::from(u32::MAX)) as u32);
        }
        *self.last.lock().unwrap_or_else(|p| p.into_inner()) = last;
        self.pending.store(false, Ordering::Release);
    }

    /// Drops the latency samples (measurement windows).
    pub fn reset(&self) {
        self.samples_us
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }

    pub fn stats(&self) -> SurfaceStats {
        let mut s = self
            .samples_us
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        s.sort_unstable();
        let pct = |p: usize| {
            (!s.is_empty()).then(|| f64::from(s[(p * s.len() / 100).min(s.len() - 1)]) / 1000.0)
        };
        let last = *self.last.lock().unwrap_or_else(|p| p.into_inner());
        SurfaceStats {
            frames_received: self.received.load(Ordering::Relaxed),
            frames_painted: self.painted.load(Ordering::Relaxed),
            width: last.source.0,
            height: last.source.1,
            sent_width: last.painted.0,
            sent_height: last.painted.1,
            samples: s.len(),
            path_latency_ms_p50: pct(50),
            path_latency_ms_p95: pct(95),
            last_mean_rgb: last.mean,
        }
    }
}

/// The mean colour of a B,G,R,x picture, from a sparse grid of pixels.
fn mean_rgb(bgrx: &[u8], width: u32, height: u32) -> Option<[u8; 3]> {
    let (w, h) = (width as usize, height as usize);
    let mut sum = [0u64; 3];
    let mut n = 0u64;
    for y in (0..h).step_by((h / 16).max(1)) {
        for x in (0..w).step_by((w / 16).max(1)) {
            let i = (y * w + x) * 4;
            let px = bgrx.get(i..i + 3)?;
            sum[0] += u64::from(px[2]);
            sum[1] += u64::from(px[1]);
            sum[2] += u64::from(px[0]);
            n += 1;
        }
    }
    (n > 0).then(|| sum.map(|v| (v / n) as u8))
}

/// What the window shows in an area, read back from the display (tests, screenshots).
#[derive(Clone, Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Probe {
    pub mean_rgb: [f64; 3],
    /// Brightest minus darkest luma over the area (0 for a flat one).
    pub luma_spread: f64,
    /// The share of pixels that are not near-black (R+G+B > 60).
    pub lit_share: f64,
}

/// Reads back what the window shows at `area` (CSS pixels of the webview): the pixels on the
/// display, native video and page alike. `None` without a window (mock runtime, other OS).
pub async fn probe(area: Area) -> Option<Probe> {
    gtk_side::read(Some(area), false)
        .await
        .and_then(|r| r.probe)
}

/// A PNG of what the webview area of the window shows, read back from the display (the
/// WebDriver screenshot is WebKit's own rendering and has no native video in it).
pub async fn snapshot_png() -> Option<Vec<u8>> {
    gtk_side::read(None, true).await.and_then(|r| r.png)
}

/// A read-back: figures and/or a PNG.
#[derive(Default)]
struct ReadBack {
    probe: Option<Probe>,
    png: Option<Vec<u8>>,
}

/// Installs the surface on the window's webview (the real window only; a no-op elsewhere).
pub fn install<R: tauri::Runtime>(window: &tauri::Webview<R>) {
    gtk_side::install(window);
}

#[cfg(target_os = "linux")]
mod gtk_side {
    use std::cell::RefCell;
    use std::collections::HashMap;
    use std::sync::Arc;
    use std::time::Instant;

    use gtk::cairo;
    use gtk::glib;
    use gtk::prelude::*;

    use super::{mean_rgb, Area, Frame, Last, NativeTarget, Pooled, Probe, ReadBack};

    struct Shown {
        target: Arc<NativeTarget>,
        frame: Option<(cairo::ImageSurface, Instant, Last)>,
    }

    #[derive(Default)]
    struct Surface {
        widget: Option<gtk::Widget>,
        shown: HashMap<u64, Shown>,
    }

    thread_local! {
        // GTK objects live on the main thread only.
        static SURFACE: RefCell<Surface> = RefCell::new(Surface::default());
    }

    pub fn install<R: tauri::Runtime>(window: &tauri::Webview<R>) {
        let done = window.with_webview(|pv| {
            let wv = pv.inner();
            let widget: gtk::Widget = wv.clone().upcast();
            // After WebKit has painted the page: the video goes on top of its canvas.
            widget.connect_local("draw", true, |args| {
                if let Some(cr) = args.get(1).and_then(|v| v.get::<cairo::Context>().ok()) {
                    draw(&cr);
                }
                Some(false.to_value())
            });
            SURFACE.with(|s| s.borrow_mut().widget = Some(widget));
        });
        if let Err(e) = done {
            tracing::warn!("the native video surface is not available: {e}");
        }
    }

    /// Runs on the GTK thread: stores the frame and asks for the canvas's area to be redrawn.
    pub fn post(target: Arc<NativeTarget>, frame: Frame) {
        glib::MainContext::default().invoke(move || {
            let Frame {
                width,
                height,
                source,
                bgrx,
                handed,
            } = frame;
            let last = Last {
                source,
                painted: (width, height),
                mean: mean_rgb(&bgrx, width, height),
            };
            let stride = (width * 4) as i32;
            let pixels = Pooled {
                buf: bgrx,
                pool: target.pool.clone(),
            };
            let img = match cairo::ImageSurface::create_for_data(
                pixels,
                cairo::Format::Rgb24,
                width as i32,
                height as i32,
                stride,
            ) {
                Ok(i) => i,
                Err(e) => {
                    tracing::debug!("video frame not shown: {e}");
                    target.painted(handed, last);
                    return;
                }
            };
            let key = target.key;
            SURFACE.with(|s| {
                let mut s = s.borrow_mut();
                let shown = s.shown.entry(key).or_insert_with(|| Shown {
                    target: target.clone(),
                    frame: None,
                });
                shown.target = target.clone();
                shown.frame = Some((img, handed, last));
                let p = target.placement();
                match (&s.widget, p.device_size()) {
                    (Some(w), Some(_)) if w.is_drawable() => w.queue_draw_area(
                        p.x.floor() as i32,
                        p.y.floor() as i32,
                        p.width.ceil() as i32 + 1,
                        p.height.ceil() as i32 + 1,
                    ),
                    // Not on screen: nothing will be drawn, so the sender must not wait for it.
                    _ => target.painted(handed, last),
                }
            });
        });
    }

    /// The canvas moved or was hidden: redraw the whole view (old and new places).
    pub fn repaint(target: Arc<NativeTarget>) {
        glib::MainContext::default().invoke(move || {
            SURFACE.with(|s| {
                let s = s.borrow();
                if !target.placement().visible {
                    target
                        .pending
                        .store(false, std::sync::atomic::Ordering::Release);
                }
                if let Some(w) = &s.widget {
                    w.queue_draw();
                }
            });
        });
    }

    /// Reads the window's pixels under the webview (all of it, or `area`) on the GTK thread.
    pub async fn read(area: Option<Area>, png: bool) -> Option<ReadBack> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        glib::MainContext::default().invoke(move || {
            let _ = tx.send(read_now(area, png));
        });
        rx.await.ok().flatten()
    }

    fn read_now(area: Option<Area>, png: bool) -> Option<ReadBack> {
        let widget = SURFACE.with(|s| s.borrow().widget.clone())?;
        let top = widget.toplevel()?;
        let window = top.window()?;
        let alloc = widget.allocation();
        let (x, y, w, h) = match area {
            Some(a) => (a.x as i32, a.y as i32, a.width as i32, a.height as i32),
            None => (0, 0, alloc.width(), alloc.height()),
        };
        if w < 1 || h < 1 {
            return None;
        }
        let (tx, ty) = widget.translate_coordinates(&top, x, y)?;
        let pix = gtk::gdk::prelude::WindowExtManual::pixbuf(&window, tx, ty, w, h)?;
        let mut out = ReadBack::default();
        if png {
            out.png = pix.save_to_bufferv("png", &[]).ok();
        }
        if area.is_some() {
            out.probe = Some(measure(&pix));
        }
        Some(out)
    }

    fn measure(pix: &gtk::gdk_pixbuf::Pixbuf) -> Probe {
        let bytes = pix.read_pixel_bytes();
        let (w, h) = (pix.width() as usize, pix.height() as usize);
        let (stride, n) = (pix.rowstride() as usize, pix.n_channels() as usize);
        let (mut sum, mut count, mut lo, mut hi, mut lit) = ([0f64; 3], 0f64, 255f64, 0f64, 0f64);
        for y in 0..h {
            for x in 0..w {
                let i = y * stride + x * n;
                let Some(px) = bytes.get(i..i + 3) else {
                    continue;
                };
                let (r, g, b) = (f64::from(px[0]), f64::from(px[1]), f64::from(px[2]));
                sum[0] += r;
                sum[1] += g;
                sum[2] += b;
                count += 1.0;
                let l = (r + g + b) / 3.0;
                if r + g + b > 60.0 {
                    lit += 1.0;
                }
                lo = lo.min(l);
                hi = hi.max(l);
            }
        }
        let count = count.max(1.0);
        Probe {
            mean_rgb: sum.map(|v| v / count),
            luma_spread: (hi - lo).max(0.0),
            lit_share: lit / count,
        }
    }

    /// Takes a canvas's picture off the surface.
    pub fn forget(key: u64) {
        glib::MainContext::default().invoke(move || {
            SURFACE.with(|s| {
                let mut s = s.borrow_mut();
                if s.shown.remove(&key).is_some() {
                    if let Some(w) = &s.widget {
                        w.queue_draw();
                    }
                }
            });
        });
    }

    fn draw(cr: &cairo::Context) {
        SURFACE.with(|s| {
            let s = s.borrow();
            for shown in s.shown.values() {
                let p = shown.target.placement();
                let Some((img, handed, last)) = &shown.frame else {
                    continue;
                };
                if p.device_size().is_none() || p.width < 1.0 || p.height < 1.0 {
                    continue;
                }
                let (fw, fh) = (f64::from(img.width()), f64::from(img.height()));
                // Fit (letterbox) like the canvas does, centred.
                let scale = (p.width / fw).min(p.height / fh);
                let (dw, dh) = (fw * scale, fh * scale);
                let (dx, dy) = (p.x + (p.width - dw) / 2.0, p.y + (p.height - dh) / 2.0);
                cr.save().ok();
                // The canvas minus the page elements over it (even-odd: holes stay unpainted).
                if let Some(c) = &p.clip {
                    cr.rectangle(c.x, c.y, c.width, c.height);
                    cr.clip();
                }
                cr.set_fill_rule(cairo::FillRule::EvenOdd);
                cr.rectangle(p.x, p.y, p.width, p.height);
                for h in &p.holes {
                    cr.rectangle(h.x, h.y, h.width, h.height);
                }
                cr.clip();
                cr.set_source_rgb(0.04, 0.047, 0.06);
                cr.paint().ok();
                cr.translate(dx, dy);
                cr.scale(scale, scale);
                if cr.set_source_surface(img, 0.0, 0.0).is_ok() {
                    cr.paint().ok();
                }
                cr.restore().ok();
                if shown
                    .target
                    .pending
                    .load(std::sync::atomic::Ordering::Acquire)
                {
                    shown.target.painted(*handed, *last);
                }
            }
        });
    }
}

#[cfg(not(target_os = "linux"))]
mod gtk_side {
    use super::{Area, Frame, Last, NativeTarget, ReadBack};
    use std::sync::Arc;

    pub async fn read(_area: Option<Area>, _png: bool) -> Option<ReadBack> {
        None
    }

    pub fn install<R: tauri::Runtime>(_window: &tauri::Webview<R>) {}

    pub fn post(target: Arc<NativeTarget>, f: Frame) {
        let last = Last {
            source: f.source,
            painted: (f.width, f.height),
            mean: None,
        };
        target.painted(f.handed, last);
    }

    pub fn repaint(_target: Arc<NativeTarget>) {}

    pub fn forget(_key: u64) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |k| {
            vars.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    #[test]
    fn native_without_compositing_and_when_asked() {
        assert!(choose(
            true,
            env(&[("WEBKIT_DISABLE_COMPOSITING_MODE", "1")])
        ));
        assert!(!choose(true, env(&[])), "with a GPU the page canvas stays");
        assert!(choose(true, env(&[("RED5_DESK_VIDEO_SURFACE", "native")])));
        assert!(!choose(
            true,
            env(&[
                ("RED5_DESK_VIDEO_SURFACE", "canvas"),
                ("WEBKIT_DISABLE_COMPOSITING_MODE", "1")
            ])
        ));
        assert!(!choose(
            false,
            env(&[("RED5_DESK_VIDEO_SURFACE", "native")])
        ));
    }

    #[test]
    fn placement_size_in_device_pixels_only_when_shown() {
        let mut p = Placement {
            x: 10.0,
            y: 20.0,
            width: 616.0,
            height: 346.5,
            dpr: 2.0,
            visible: true,
            clip: None,
            holes: Vec::new(),
        };
        assert_eq!(p.device_size(), Some((1232, 693)));
        p.visible = false;
        assert_eq!(p.device_size(), None);
    }

    #[test]
    fn a_target_waits_for_its_frame_to_be_painted() {
        let t = NativeTarget::new(1);
        assert!(t.ready());
        t.pending.store(true, Ordering::Release);
        *t.posted_at.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
        assert!(!t.ready(), "one frame at a time");
        t.painted(Instant::now(), Last::default());
        assert!(t.ready());
        assert_eq!(t.stats().frames_painted, 1);
        // A frame that is never painted (window unmapped) is given up on.
        t.pending.store(true, Ordering::Release);
        *t.posted_at.lock().unwrap_or_else(|p| p.into_inner()) =
            Instant::now().checked_sub(PENDING_TIMEOUT * 2);
        assert!(t.ready());
    }

    #[test]
    fn replaced_pictures_give_their_buffers_back() {
        let t = NativeTarget::new(1);
        assert!(t.buffer().is_empty(), "nothing to reuse yet");
        for _ in 0..POOL_MAX + 2 {
            drop(Pooled {
                buf: vec![7; 64],
                pool: t.pool.clone(),
            });
        }
        assert_eq!(t.pool.lock().map(|p| p.len()).unwrap_or(0), POOL_MAX);
        assert_eq!(t.buffer().len(), 64);
    }

    #[test]
    fn mean_colour_of_a_bgrx_picture() {
        let px = [10u8, 20, 200, 255].repeat(64 * 36);
        assert_eq!(mean_rgb(&px, 64, 36), Some([200, 20, 10]));
    }
}
