//! The video compositor: keeps the latest frame of every participant and draws the layout into
//! one persistent canvas. A tile is redrawn only when its participant sent a new frame, went
//! stale, or the layout changed; scaler tables are rebuilt only when sizes change.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use red5_media::frame::VideoFrame;

use crate::label::draw_label;
use crate::layout::{compute_layout, effective_presenter, LayoutKind, Rect, Tile};
use crate::scale::{fill_rect, FrameScaler};

/// A colour as BT.601 limited-range (Y, U, V).
pub type Yuv = (u8, u8, u8);

/// Canvas background and letterbox colour: near-black charcoal.
pub const BACKGROUND: Yuv = (24, 128, 128);
/// Placeholder tile (participant without video): mid-dark grey with a lighter silhouette.
pub const PLACEHOLDER: Yuv = (56, 128, 128);
pub const SILHOUETTE: Yuv = (100, 128, 128);
/// Active-speaker frame: amber (RGB 255,180,0).
pub const SPEAKER: Yuv = (172, 38, 174);
/// Active-speaker frame thickness (even, for chroma alignment).
pub const SPEAKER_BORDER: u32 = 4;

/// What a tile shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TileContent {
    /// The participant's picture, frame sequence number `seq`.
    Video { seq: u64 },
    /// No frame yet, or none within the video timeout.
    Placeholder,
}

#[derive(Debug)]
struct Input {
    frame: VideoFrame,
    seq: u64,
    arrival: Instant,
}

#[derive(Debug)]
struct TileState {
    tile: Tile,
    drawn: Option<TileContent>,
    /// Where the picture went last time (letterbox must be cleared when it changes).
    content: Option<Rect>,
    scaler: Option<FrameScaler>,
}

/// A participant picture that is new in this composite (for latency figures).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refreshed {
    pub id: String,
    /// When the frame was pushed.
    pub arrival: Instant,
    /// The frame's own capture time (µs since the UNIX epoch), 0 if unknown.
    pub capture_time_us: u64,
}

/// See the module documentation.
#[derive(Debug)]
pub struct Compositor {
    canvas: VideoFrame,
    kind: LayoutKind,
    presenter: Option<String>,
    order: Vec<String>,
    inputs: HashMap<String, Input>,
    tiles: Vec<TileState>,
    layout_dirty: bool,
    /// Custom layouts may overlap: then every change redraws all tiles in order.
    overlapping: bool,
    video_timeout: Duration,
    background: Yuv,
    seq: u64,
    highlight: Option<String>,
    show_names: bool,
    names: HashMap<String, String>,
}

impl Compositor {
    /// `width`/`height` must be even and non-zero (checked by the mixer config).
    pub fn new(width: u32, height: u32, kind: LayoutKind, video_timeout: Duration) -> Self {
        let mut canvas = VideoFrame::new(width, height);
        fill_rect(&mut canvas, Rect::new(0, 0, width, height), BACKGROUND);
        Compositor {
            canvas,
            kind,
            presenter: None,
            order: Vec::new(),
            inputs: HashMap::new(),
            tiles: Vec::new(),
            layout_dirty: true,
            overlapping: false,
            video_timeout,
            background: BACKGROUND,
            seq: 0,
            highlight: None,
            show_names: true,
            names: HashMap::new(),
        }
    }

    /// The conference order. Frames of participants not listed are dropped.
    pub fn set_participants(&mut self, order: &[String]) {
        if self.order != order {
            self.order = order.to_vec();
            self.inputs.retain(|id, _| order.contains(id));
            self.layout_dirty = true;
        }
    }

    pub fn set_presenter(&mut self, presenter: Option<&str>) {
        if self.presenter.as_deref() != presenter {
            self.presenter = presenter.map(str::to_owned);
            self.layout_dirty = true;
        }
    }

    /// The presenter shown in the main region (requested one, else the first participant).
    pub fn presenter(&self) -> Option<&str> {
        effective_presenter(self.presenter.as_deref(), &self.order)
    }

    pub fn set_layout(&mut self, kind: LayoutKind) {
        if self.kind != kind {
            self.kind = kind;
            self.layout_dirty = true;
        }
    }

    pub fn layout_kind(&self) -> &LayoutKind {
        &self.kind
    }

    pub fn set_background(&mut self, colour: Yuv) {
        if self.background != colour {
            self.background = colour;
            self.layout_dirty = true;
        }
    }

    /// Show participant names on their tiles (on by default).
    pub fn set_show_names(&mut self, show: bool) {
        if self.show_names != show {
            self.show_names = show;
            self.layout_dirty = true;
        }
    }

    /// The name shown for a participant (default: its id, the stream name).
    pub fn set_display_name(&mut self, id: &str, name: Option<&str>) {
        let changed = match name {
            Some(n) => self.names.insert(id.to_owned(), n.to_owned()).as_deref() != Some(n),
            None => self.names.remove(id).is_some(),
        };
        if changed {
            for t in self.tiles.iter_mut().filter(|t| t.tile.id == id) {
                t.drawn = None;
                t.content = None;
            }
        }
    }

    /// Frame one participant's tile as the active speaker (`None`: no frame).
    pub fn set_highlight(&mut self, id: Option<&str>) {
        if self.highlight.as_deref() == id {
            return;
        }
        let old = std::mem::replace(&mut self.highlight, id.map(str::to_owned));
        for t in &mut self.tiles {
            if Some(&t.tile.id) == old.as_ref() || Some(&t.tile.id) == self.highlight.as_ref() {
                // Full redraw: the old frame may sit in the letterbox area.
                t.drawn = None;
                t.content = None;
            }
        }
    }

    pub fn highlight(&self) -> Option<&str> {
        self.highlight.as_deref()
    }

    /// Store a participant's newest frame (replacing the previous one). Returns false for
    /// participants not in the conference.
    pub fn push(&mut self, id: &str, frame: VideoFrame, now: Instant) -> bool {
        if !self.order.iter().any(|p| p == id) || frame.width == 0 || frame.height == 0 {
            return false;
        }
        self.seq += 1;
        self.inputs.insert(
            id.to_owned(),
            Input {
                frame,
                seq: self.seq,
                arrival: now,
            },
        );
        true
    }

    /// The current tiles (after the last [`Compositor::compose`]).
    pub fn tiles(&self) -> Vec<Tile> {
        self.tiles.iter().map(|t| t.tile.clone()).collect()
    }

    /// What each tile showed at the last compose.
    pub fn tile_contents(&self) -> Vec<(String, Option<TileContent>)> {
        self.tiles
            .iter()
            .map(|t| (t.tile.id.clone(), t.drawn))
            .collect()
    }

    /// Set the canvas's media time and capture time (read by the encoder's rate control and
    /// carried into the encoded frame).
    pub fn stamp(&mut self, timestamp: Duration, capture_time_us: u64) {
        self.canvas.timestamp = timestamp;
        self.canvas.capture_time_us = capture_time_us;
    }

    /// The canvas as last composed.
    pub fn canvas(&self) -> &VideoFrame {
        &self.canvas
    }

    /// Bring the canvas up to date. Returns the participant pictures that are new in it and
    /// whether the layout changed.
    pub fn compose(&mut self, now: Instant) -> (Vec<Refreshed>, bool) {
        let relayout = self.layout_dirty;
        if relayout {
            self.layout_dirty = false;
            let tiles = compute_layout(
                self.canvas.width,
                self.canvas.height,
                &self.kind,
                self.presenter.as_deref(),
                &self.order,
            );
            // Keep scalers of tiles whose rectangle did not move.
            let mut old: HashMap<String, TileState> = self
                .tiles
                .drain(..)
                .map(|t| (t.tile.id.clone(), t))
                .collect();
            self.tiles = tiles
                .into_iter()
                .map(|tile| {
                    let scaler = old
                        .remove(&tile.id)
                        .filter(|o| o.tile.rect == tile.rect)
                        .and_then(|o| o.scaler);
                    TileState {
                        tile,
                        drawn: None,
                        content: None,
                        scaler,
                    }
                })
                .collect();
            self.overlapping = self.tiles.iter().enumerate().any(|(i, a)| {
                self.tiles[i + 1..]
                    .iter()
                    .any(|b| a.tile.rect.intersects(&b.tile.rect))
            });
            let full = Rect::new(0, 0, self.canvas.width, self.canvas.height);
            fill_rect(&mut self.canvas, full, self.background);
        }
        let timeout = self.video_timeout;
        let inputs = &self.inputs;
        let wanted = |t: &TileState| match inputs
            .get(&t.tile.id)
            .filter(|i| now.saturating_duration_since(i.arrival) <= timeout)
        {
            Some(i) => TileContent::Video { seq: i.seq },
            None => TileContent::Placeholder,
        };
        if self.overlapping && self.tiles.iter().any(|t| t.drawn != Some(wanted(t))) {
            // Overlapping tiles: repaint everything in order so upper tiles stay on top.
            let full = Rect::new(0, 0, self.canvas.width, self.canvas.height);
            fill_rect(&mut self.canvas, full, self.background);
            for t in &mut self.tiles {
                t.drawn = None;
                t.content = None;
            }
        }
        let mut refreshed = Vec::new();
        for t in &mut self.tiles {
            let input = self
                .inputs
                .get(&t.tile.id)
                .filter(|i| now.saturating_duration_since(i.arrival) <= self.video_timeout);
            let want = match input {
                Some(i) => TileContent::Video { seq: i.seq },
                None => TileContent::Placeholder,
            };
            if t.drawn == Some(want) {
                continue;
            }
            match input {
                Some(i) => {
                    let full = Rect::new(0, 0, i.frame.width, i.frame.height);
                    // Crops are even-aligned so chroma stays aligned; an empty or outside crop
                    // shows the whole picture.
                    let src = t
                        .tile
                        .crop
                        .map(|c| c.even().clip(i.frame.width, i.frame.height))
                        .filter(|c| c.width >= 2 && c.height >= 2)
                        .unwrap_or(full);
                    let rect = t.tile.rect.fit(src.width, src.height);
                    if t.content != Some(rect) {
                        if !self.overlapping {
                            fill_rect(&mut self.canvas, t.tile.rect, self.background);
                        }
                        t.content = Some(rect);
                    }
                    if !rect.is_empty() {
                        let fits = t.scaler.as_ref().is_some_and(|s| {
                            s.fits(src.width, src.height, rect.width, rect.height)
                        });
                        if !fits {
                            t.scaler = Some(FrameScaler::new(
                                src.width,
                                src.height,
                                rect.width,
                                rect.height,
                            ));
                        }
                        if let Some(s) = &mut t.scaler {
                            s.scale_into(&i.frame, src, &mut self.canvas, rect);
                        }
                    }
                    if self.show_names {
                        let name = self.names.get(&t.tile.id).unwrap_or(&t.tile.id);
                        draw_label(&mut self.canvas, rect, name);
                    }
                    refreshed.push(Refreshed {
                        id: t.tile.id.clone(),
                        arrival: i.arrival,
                        capture_time_us: i.frame.capture_time_us,
                    });
                }
                None => {
                    draw_placeholder(&mut self.canvas, t.tile.rect);
                    if self.show_names {
                        let name = self.names.get(&t.tile.id).unwrap_or(&t.tile.id);
                        draw_label(&mut self.canvas, t.tile.rect, name);
                    }
                    t.content = None;
                }
            }
            if self.highlight.as_ref() == Some(&t.tile.id) {
                draw_frame(&mut self.canvas, t.tile.rect, SPEAKER_BORDER, SPEAKER);
            }
            t.drawn = Some(want);
        }
        (refreshed, relayout)
    }
}

/// An outline of `thickness` pixels just inside `rect`.
fn draw_frame(canvas: &mut VideoFrame, rect: Rect, thickness: u32, colour: Yuv) {
    let th = thickness.min(rect.width / 2).min(rect.height / 2) & !1;
    if th == 0 {
        return;
    }
    let Rect {
        x,
        y,
        width: w,
        height: h,
    } = rect;
    fill_rect(canvas, Rect::new(x, y, w, th), colour);
    fill_rect(canvas, Rect::new(x, y + h - th, w, th), colour);
    fill_rect(canvas, Rect::new(x, y, th, h), colour);
    fill_rect(canvas, Rect::new(x + w - th, y, th, h), colour);
}

/// A grey tile with a head-and-shoulders silhouette, like a camera-off tile in any
/// conferencing client.
fn draw_placeholder(canvas: &mut VideoFrame, rect: Rect) {
    fill_rect(canvas, rect, PLACEHOLDER);
    let (w, h) = (i64::from(rect.width), i64::from(rect.height));
    let size = w.min(h);
    if size < 16 {
        return;
    }
    let (cx, cy) = (i64::from(rect.x) + w / 2, i64::from(rect.y) + h / 2);
    let head_r = size / 8;
    let head_cy = cy - size / 10;
    let body_rx = size / 4;
    let body_ry = size / 6;
    let body_cy = cy + size / 4;
    let y_top = (head_cy - head_r).max(i64::from(rect.y));
    let y_bot = (body_cy).min(i64::from(rect.y) + h - 1);
    for y in y_top..=y_bot {
        for x in (cx - body_rx)..=(cx + body_rx) {
            let (dx, dy) = (x - cx, y - head_cy);
            let in_head = dx * dx + dy * dy <= head_r * head_r;
            let (bx, by) = (x - cx, y - body_cy);
            // Upper half of an ellipse for the shoulders.
            let in_body = by <= 0
                && bx * bx * body_ry * body_ry + by * by * body_rx * body_rx
                    <= body_rx * body_rx * body_ry * body_ry;
            if in_head || in_body {
                canvas.y[y as usize * canvas.stride_y + x as usize] = SILHOUETTE.0;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use red5_media::synthetic::{PatternColor, TestPattern};

    fn ids(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    fn close(a: (f32, f32, f32), b: (u8, u8, u8), tol: f32) -> bool {
        (a.0 - f32::from(b.0)).abs() <= tol
            && (a.1 - f32::from(b.1)).abs() <= tol
            && (a.2 - f32::from(b.2)).abs() <= tol
    }

    /// Mean colour of the bottom-right quarter of a content rect (away from stamp, ramp, box).
    fn patch(c: &VideoFrame, r: Rect) -> (f32, f32, f32) {
        c.mean_yuv(
            (r.x + r.width * 3 / 4) as usize,
            (r.y + r.height * 4 / 5) as usize,
            (r.width / 5) as usize,
            (r.height / 8) as usize,
        )
    }

    #[test]
    fn placeholder_then_video_then_stale() {
        let t0 = Instant::now();
        let mut c = Compositor::new(320, 180, LayoutKind::Presenter, Duration::from_secs(1));
        c.set_participants(&ids(&["a", "b"]));
        let (r, relayout) = c.compose(t0);
        assert!(r.is_empty() && relayout);
        assert_eq!(c.tile_contents()[0].1, Some(TileContent::Placeholder));
        let main = c.tiles()[0].rect;
        assert_eq!(
            c.canvas().y_at(main.x as usize + 2, main.y as usize + 2),
            PLACEHOLDER.0
        );

        let red = TestPattern::new(160, 90, PatternColor::Red).render(0, 0);
        assert!(c.push("a", red, t0));
        assert!(!c.push("nobody", VideoFrame::new(16, 16), t0));
        let (r, relayout) = c.compose(t0);
        assert!(!relayout);
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].id, "a");
        let content = main.fit(160, 90);
        assert!(close(
            patch(c.canvas(), content),
            PatternColor::Red.yuv(),
            2.0
        ));
        // Nothing new: nothing redrawn.
        assert!(c.compose(t0 + Duration::from_millis(500)).0.is_empty());
        // Timed out: placeholder again.
        c.compose(t0 + Duration::from_millis(1500));
        assert_eq!(c.tile_contents()[0].1, Some(TileContent::Placeholder));
        assert_eq!(
            c.canvas().y_at(main.x as usize + 2, main.y as usize + 2),
            PLACEHOLDER.0
        );
    }

    #[test]
    fn aspect_change_clears_the_letterbox() {
        let t0 = Instant::now();
        let mut c = Compositor::new(320, 180, LayoutKind::Presenter, Duration::from_secs(1));
        c.set_participants(&ids(&["a"]));
        c.push(
            "a",
            TestPattern::new(320, 180, PatternColor::Blue).render(0, 0),
            t0,
        );
        c.compose(t0);
        assert!(close(
            c.canvas().mean_yuv(300, 170, 8, 8),
            PatternColor::Blue.yuv(),
            2.0
        ));
        // Now a portrait camera: pillarboxed, the sides go back to the background.
        c.push(
            "a",
            TestPattern::new(90, 160, PatternColor::Blue).render(0, 0),
            t0,
        );
        c.compose(t0);
        assert!(close(c.canvas().mean_yuv(0, 0, 8, 180), BACKGROUND, 0.5));
    }

    #[test]
    fn overlapping_custom_regions_keep_their_order() {
        use crate::layout::Region;
        let t0 = Instant::now();
        let kind = LayoutKind::Custom {
            regions: vec![
                Region {
                    id: "big".into(),
                    rect: Rect::new(0, 0, 320, 180),
                    crop: None,
                },
                Region {
                    id: "pip".into(),
                    rect: Rect::new(200, 100, 96, 54),
                    crop: None,
                },
            ],
        };
        let mut c = Compositor::new(320, 180, kind, Duration::from_secs(1));
        c.set_participants(&ids(&["big", "pip"]));
        let pip = TestPattern::new(320, 180, PatternColor::Green).render(0, 0);
        c.push("pip", pip, t0);
        c.compose(t0);
        // Only the big one changes: the picture-in-picture must stay on top.
        for n in 0..3 {
            c.push(
                "big",
                TestPattern::new(320, 180, PatternColor::Red).render(n, 0),
                t0,
            );
            c.compose(t0);
            let (_, u, v) = c
                .canvas()
                .mean_yuv(200 + 96 * 3 / 4, 100 + 54 * 4 / 5, 16, 6);
            let (_, gu, gv) = PatternColor::Green.yuv();
            assert!(
                (u - f32::from(gu)).abs() < 3.0 && (v - f32::from(gv)).abs() < 3.0,
                "{u} {v}"
            );
        }
    }

    #[test]
    fn active_speaker_frame_moves_and_clears() {
        let t0 = Instant::now();
        let mut c = Compositor::new(640, 360, LayoutKind::Presenter, Duration::from_secs(1));
        c.set_participants(&ids(&["a", "b"]));
        for id in ["a", "b"] {
            c.push(
                id,
                TestPattern::new(320, 180, PatternColor::Gray).render(0, 0),
                t0,
            );
        }
        c.compose(t0);
        let tiles = c.tiles();
        let (ra, rb) = (tiles[0].rect, tiles[1].rect);
        let edge = |c: &Compositor, r: Rect| {
            c.canvas()
                .mean_yuv(r.x as usize + r.width as usize / 2, r.y as usize, 2, 2)
        };
        assert!(!close(edge(&c, ra), SPEAKER, 1.0));
        c.set_highlight(Some("b"));
        c.compose(t0);
        assert!(close(edge(&c, rb), SPEAKER, 1.0), "{:?}", edge(&c, rb));
        assert!(!close(edge(&c, ra), SPEAKER, 1.0));
        // A new frame for b keeps the frame on top.
        c.push(
            "b",
            TestPattern::new(320, 180, PatternColor::Gray).render(1, 0),
            t0,
        );
        c.compose(t0);
        assert!(close(edge(&c, rb), SPEAKER, 1.0));
        c.set_highlight(Some("a"));
        c.compose(t0);
        assert!(close(edge(&c, ra), SPEAKER, 1.0));
        assert!(
            !close(edge(&c, rb), SPEAKER, 1.0),
            "old frame must go: {:?}",
            edge(&c, rb)
        );
    }

    #[test]
    fn names_are_drawn_renamed_and_can_be_hidden() {
        let t0 = Instant::now();
        let mut c = Compositor::new(640, 360, LayoutKind::Presenter, Duration::from_secs(1));
        c.set_participants(&ids(&["a", "b"]));
        let text = |c: &Compositor| {
            c.canvas()
                .y
                .iter()
                .filter(|&&p| p == crate::label::TEXT_Y)
                .count()
        };
        c.compose(t0);
        let short = text(&c);
        assert!(short > 0, "placeholder tiles carry names");
        c.set_display_name("b", Some("Bob Builder"));
        c.compose(t0);
        assert!(text(&c) > short, "a longer name has more text pixels");
        c.set_show_names(false);
        c.compose(t0);
        assert_eq!(text(&c), 0);
    }

    #[test]
    fn custom_region_crop_shows_only_that_part() {
        use crate::layout::Region;
        let t0 = Instant::now();
        let mut f = VideoFrame::new(320, 180);
        fill_rect(&mut f, Rect::new(0, 0, 160, 180), PatternColor::Red.yuv());
        fill_rect(
            &mut f,
            Rect::new(160, 0, 160, 180),
            PatternColor::Green.yuv(),
        );
        let kind = LayoutKind::Custom {
            regions: vec![Region {
                id: "a".into(),
                rect: Rect::new(0, 0, 320, 180),
                // The right half (green), a 160x180 picture: pillarboxed in the 16:9 tile.
                crop: Some(Rect::new(160, 0, 160, 180)),
            }],
        };
        let mut c = Compositor::new(320, 180, kind, Duration::from_secs(1));
        c.set_show_names(false);
        c.set_participants(&ids(&["a"]));
        c.push("a", f, t0);
        c.compose(t0);
        let content = Rect::new(0, 0, 320, 180).fit(160, 180);
        assert_eq!(content, Rect::new(80, 0, 160, 180));
        assert!(close(
            c.canvas().mean_yuv(82, 2, 156, 176),
            PatternColor::Green.yuv(),
            0.5
        ));
        assert!(close(c.canvas().mean_yuv(0, 0, 78, 180), BACKGROUND, 0.5));
    }
}
