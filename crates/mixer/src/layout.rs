//! Conference layouts: a pure function from (canvas size, layout kind, presenter, ordered
//! participants) to tile rectangles. Every rectangle has even x, y, width and height so that
//! I420 chroma planes line up with luma.

use serde::{Deserialize, Serialize};

/// Pixels between neighbouring tiles (and between the main region and the strip).
pub const GAP: u32 = 4;
/// Share of the canvas's long side given to the presenter in [`LayoutKind::Presenter`],
/// as a fraction `MAIN_NUM / MAIN_DEN`.
pub const MAIN_NUM: u32 = 3;
pub const MAIN_DEN: u32 = 4;
/// Tiles smaller than this (either side) are not drawn at all.
pub const MIN_TILE: u32 = 8;

/// A rectangle in canvas pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Rect {
    pub x: u32,
    pub y: u32,
    pub width: u32,
    pub height: u32,
}

impl Rect {
    pub const fn new(x: u32, y: u32, width: u32, height: u32) -> Self {
        Rect {
            x,
            y,
            width,
            height,
        }
    }

    /// Round every edge down to even pixels (chroma alignment).
    pub fn even(self) -> Rect {
        Rect::new(self.x & !1, self.y & !1, self.width & !1, self.height & !1)
    }

    /// Clip to a canvas of `w` x `h`.
    pub fn clip(self, w: u32, h: u32) -> Rect {
        let x = self.x.min(w);
        let y = self.y.min(h);
        Rect::new(x, y, self.width.min(w - x), self.height.min(h - y))
    }

    pub fn is_empty(&self) -> bool {
        self.width == 0 || self.height == 0
    }

    /// Whether two rectangles share any pixel.
    pub fn intersects(&self, o: &Rect) -> bool {
        self.x < o.x + o.width
            && o.x < self.x + self.width
            && self.y < o.y + o.height
            && o.y < self.y + self.height
    }

    /// Whether a point lies inside.
    pub fn contains(&self, x: u32, y: u32) -> bool {
        x >= self.x && y >= self.y && x < self.x + self.width && y < self.y + self.height
    }

    /// The largest rectangle with the aspect `src_w:src_h` centred inside `self`
    /// (letterbox or pillarbox), even-aligned.
    pub fn fit(&self, src_w: u32, src_h: u32) -> Rect {
        if src_w == 0 || src_h == 0 || self.is_empty() {
            return Rect::new(self.x, self.y, 0, 0);
        }
        let (w, h) = (u64::from(self.width), u64::from(self.height));
        let (sw, sh) = (u64::from(src_w), u64::from(src_h));
        // Compare w/h with sw/sh without floats.
        let (fw, fh) = if w * sh > h * sw {
            ((h * sw / sh) as u32, self.height)
        } else {
            (self.width, (w * sh / sw) as u32)
        };
        let (fw, fh) = (fw.max(2) & !1, fh.max(2) & !1);
        let fw = fw.min(self.width & !1);
        let fh = fh.min(self.height & !1);
        Rect::new(
            (self.x + (self.width - fw) / 2) & !1,
            (self.y + (self.height - fh) / 2) & !1,
            fw,
            fh,
        )
    }
}

/// A participant placed at a rectangle (used by [`LayoutKind::Custom`], e.g. from an SM2 Brew
/// render tree).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Region {
    pub id: String,
    pub rect: Rect,
    /// Part of the participant's picture to show (Brew `VideoSourceNode` source rectangle);
    /// `None` = the whole picture.
    #[serde(default)]
    pub crop: Option<Rect>,
}

/// How the composite is arranged.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "kind")]
pub enum LayoutKind {
    /// The conference layout: the presenter large (left 3/4 of a landscape canvas, top 3/4 of
    /// a portrait one), everyone else tiled in the remaining strip in participant order.
    #[default]
    Presenter,
    /// Equal tiles in a grid, presenter first, then the participant order.
    Grid,
    /// Only the presenter, full canvas.
    PresenterOnly,
    /// Explicit rectangles; listed participants that are not in the conference are skipped,
    /// participants without a region are not shown.
    Custom { regions: Vec<Region> },
}

/// Whether a tile is the large presenter region or a strip/grid tile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum TileRole {
    Main,
    Tile,
}

/// One participant's place on the canvas.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tile {
    pub id: String,
    pub rect: Rect,
    pub role: TileRole,
    /// Source crop (custom layouts only).
    pub crop: Option<Rect>,
}

/// The presenter actually used: the requested one if it takes part, else the first participant
/// (what the conference backend does when the presenter leaves).
pub fn effective_presenter<'a>(
    presenter: Option<&str>,
    participants: &'a [String],
) -> Option<&'a str> {
    presenter
        .and_then(|p| participants.iter().find(|q| q.as_str() == p))
        .or_else(|| participants.first())
        .map(String::as_str)
}

/// Place the participants. `participants` is the conference order (duplicates are ignored
/// after their first appearance).
pub fn compute_layout(
    canvas_w: u32,
    canvas_h: u32,
    kind: &LayoutKind,
    presenter: Option<&str>,
    participants: &[String],
) -> Vec<Tile> {
    let mut ids: Vec<String> = Vec::with_capacity(participants.len());
    for p in participants {
        if !ids.contains(p) {
            ids.push(p.clone());
        }
    }
    let canvas = Rect::new(0, 0, canvas_w & !1, canvas_h & !1);
    let Some(main_id) = effective_presenter(presenter, &ids).map(str::to_owned) else {
        return Vec::new();
    };
    let others: Vec<String> = ids.iter().filter(|i| **i != main_id).cloned().collect();
    let mut tiles = match kind {
        LayoutKind::PresenterOnly => vec![Tile {
            id: main_id,
            rect: canvas,
            role: TileRole::Main,
            crop: None,
        }],
        LayoutKind::Presenter if others.is_empty() => vec![Tile {
            id: main_id,
            rect: canvas,
            role: TileRole::Main,
            crop: None,
        }],
        LayoutKind::Presenter => {
            let landscape = canvas.width >= canvas.height;
            let (main, strip) = if landscape {
                let mw = (canvas.width * MAIN_NUM / MAIN_DEN) & !1;
                (
                    Rect::new(0, 0, mw, canvas.height),
                    Rect::new(
                        mw + GAP,
                        0,
                        canvas.width.saturating_sub(mw + GAP),
                        canvas.height,
                    ),
                )
            } else {
                let mh = (canvas.height * MAIN_NUM / MAIN_DEN) & !1;
                (
                    Rect::new(0, 0, canvas.width, mh),
                    Rect::new(
                        0,
                        mh + GAP,
                        canvas.width,
                        canvas.height.saturating_sub(mh + GAP),
                    ),
                )
            };
            let mut t = vec![Tile {
                id: main_id,
                rect: main,
                role: TileRole::Main,
                crop: None,
            }];
            let cells = grid_cells(strip, others.len(), canvas.width, canvas.height);
            t.extend(others.into_iter().zip(cells).map(|(id, rect)| Tile {
                id,
                rect,
                role: TileRole::Tile,
                crop: None,
            }));
            t
        }
        LayoutKind::Grid => {
            let n = others.len() + 1;
            let cells = grid_cells(canvas, n, canvas.width, canvas.height);
            std::iter::once(main_id.clone())
                .chain(others)
                .zip(cells)
                .map(|(id, rect)| Tile {
                    role: if id == main_id {
                        TileRole::Main
                    } else {
                        TileRole::Tile
                    },
                    id,
                    rect,
                    crop: None,
                })
                .collect()
        }
        LayoutKind::Custom { regions } => regions
            .iter()
            .filter(|r| ids.contains(&r.id))
            .map(|r| Tile {
                id: r.id.clone(),
                rect: r.rect.even().clip(canvas.width, canvas.height),
                crop: r.crop,
                role: if r.id == main_id {
                    TileRole::Main
                } else {
                    TileRole::Tile
                },
            })
            .collect(),
    };
    tiles.retain(|t| t.rect.width >= MIN_TILE && t.rect.height >= MIN_TILE);
    tiles
}

/// `n` cells of aspect `aw:ah` inside `region`: the column count that gives the largest
/// pictures, cells centred as a block, a short last row centred.
pub fn grid_cells(region: Rect, n: usize, aw: u32, ah: u32) -> Vec<Rect> {
    if n == 0 || region.is_empty() || aw == 0 || ah == 0 {
        return Vec::new();
    }
    let n32 = n as u32;
    let cell_for = |cols: u32| {
        let rows = n32.div_ceil(cols);
        let cw = region.width.saturating_sub((cols - 1) * GAP) / cols;
        let ch = region.height.saturating_sub((rows - 1) * GAP) / rows;
        // Shrink to the aspect so the block can be centred.
        let (w, h) = if u64::from(cw) * u64::from(ah) > u64::from(ch) * u64::from(aw) {
            ((u64::from(ch) * u64::from(aw) / u64::from(ah)) as u32, ch)
        } else {
            (cw, (u64::from(cw) * u64::from(ah) / u64::from(aw)) as u32)
        };
        (rows, w & !1, h & !1)
    };
    let mut best = (1u32, cell_for(1));
    for cols in 2..=n32 {
        let c = cell_for(cols);
        if u64::from(c.1) * u64::from(c.2) > u64::from(best.1 .1) * u64::from(best.1 .2) {
            best = (cols, c);
        }
    }
    let (cols, (rows, w, h)) = best;
    let block_h = rows * h + (rows - 1) * GAP;
    let y0 = region.y + (region.height.saturating_sub(block_h)) / 2;
    let mut out = Vec::with_capacity(n);
    for i in 0..n32 {
        let (row, col) = (i / cols, i % cols);
        let in_row = if row == rows - 1 {
            n32 - row * cols
        } else {
            cols
        };
        let row_w = in_row * w + (in_row - 1) * GAP;
        let x0 = region.x + (region.width.saturating_sub(row_w)) / 2;
        out.push(Rect::new(x0 + col * (w + GAP), y0 + row * (h + GAP), w, h).even());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    fn overlap(a: &Rect, b: &Rect) -> bool {
        a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height
    }

    fn check_sane(tiles: &[Tile], w: u32, h: u32) {
        for (i, t) in tiles.iter().enumerate() {
            let r = t.rect;
            assert!(
                r.x.is_multiple_of(2)
                    && r.y.is_multiple_of(2)
                    && r.width.is_multiple_of(2)
                    && r.height.is_multiple_of(2),
                "{r:?}"
            );
            assert!(
                r.x + r.width <= w && r.y + r.height <= h,
                "{r:?} outside {w}x{h}"
            );
            for u in &tiles[i + 1..] {
                assert!(!overlap(&r, &u.rect), "{r:?} overlaps {:?}", u.rect);
            }
        }
    }

    #[test]
    fn empty_and_single() {
        assert!(compute_layout(1280, 720, &LayoutKind::Presenter, None, &[]).is_empty());
        let t = compute_layout(1280, 720, &LayoutKind::Presenter, Some("x"), &ids(&["a"]));
        assert_eq!(t.len(), 1);
        assert_eq!(
            (t[0].id.as_str(), t[0].rect, t[0].role),
            ("a", Rect::new(0, 0, 1280, 720), TileRole::Main)
        );
    }

    #[test]
    fn presenter_left_three_quarters_others_in_strip() {
        let t = compute_layout(
            1280,
            720,
            &LayoutKind::Presenter,
            Some("b"),
            &ids(&["a", "b", "c"]),
        );
        check_sane(&t, 1280, 720);
        assert_eq!(t[0].id, "b");
        assert_eq!(t[0].role, TileRole::Main);
        assert_eq!(t[0].rect, Rect::new(0, 0, 960, 720));
        // The others keep their order, stacked in the right strip at 16:9.
        assert_eq!(t[1].id, "a");
        assert_eq!(t[2].id, "c");
        for tile in &t[1..] {
            assert_eq!(tile.role, TileRole::Tile);
            assert!(tile.rect.x >= 960 + GAP);
            assert_eq!(tile.rect.width, 316);
            assert_eq!(tile.rect.height, 176);
        }
        assert!(t[1].rect.y < t[2].rect.y);
        // Block is centred vertically.
        let top = t[1].rect.y;
        let bottom = 720 - (t[2].rect.y + t[2].rect.height);
        assert!(top.abs_diff(bottom) <= 2, "{top} vs {bottom}");
    }

    #[test]
    fn presenter_change_swaps_main() {
        let p = ids(&["a", "b", "c"]);
        let t1 = compute_layout(1280, 720, &LayoutKind::Presenter, Some("a"), &p);
        let t2 = compute_layout(1280, 720, &LayoutKind::Presenter, Some("c"), &p);
        assert_eq!(t1[0].id, "a");
        assert_eq!(t2[0].id, "c");
        assert_eq!(t1[0].rect, t2[0].rect);
        assert_eq!(
            t2.iter().map(|t| t.id.as_str()).collect::<Vec<_>>(),
            ["c", "a", "b"]
        );
    }

    #[test]
    fn unknown_or_missing_presenter_falls_back_to_first() {
        let p = ids(&["a", "b"]);
        for pres in [None, Some("gone")] {
            let t = compute_layout(640, 360, &LayoutKind::Presenter, pres, &p);
            assert_eq!(t[0].id, "a");
            assert_eq!(t[0].role, TileRole::Main);
        }
    }

    #[test]
    fn removal_drops_the_tile_and_duplicates_are_ignored() {
        let t = compute_layout(
            1280,
            720,
            &LayoutKind::Presenter,
            Some("a"),
            &ids(&["a", "b", "b", "c"]),
        );
        assert_eq!(t.len(), 3);
        let t = compute_layout(
            1280,
            720,
            &LayoutKind::Presenter,
            Some("a"),
            &ids(&["a", "c"]),
        );
        assert_eq!(
            t.iter().map(|t| t.id.as_str()).collect::<Vec<_>>(),
            ["a", "c"]
        );
    }

    #[test]
    fn many_participants_use_several_strip_columns() {
        let p: Vec<String> = (0..13).map(|i| format!("p{i}")).collect();
        let t = compute_layout(1280, 720, &LayoutKind::Presenter, None, &p);
        assert_eq!(t.len(), 13);
        check_sane(&t, 1280, 720);
        let xs: std::collections::BTreeSet<u32> = t[1..].iter().map(|t| t.rect.x).collect();
        assert!(
            xs.len() >= 2,
            "12 tiles in a 316 px strip need 2+ columns: {xs:?}"
        );
    }

    #[test]
    fn portrait_puts_presenter_on_top() {
        let t = compute_layout(
            720,
            1280,
            &LayoutKind::Presenter,
            None,
            &ids(&["a", "b", "c"]),
        );
        check_sane(&t, 720, 1280);
        assert_eq!(t[0].rect, Rect::new(0, 0, 720, 960));
        assert!(t[1..].iter().all(|t| t.rect.y >= 960 + GAP));
    }

    #[test]
    fn grid_is_equal_and_presenter_first() {
        let t = compute_layout(
            1280,
            720,
            &LayoutKind::Grid,
            Some("d"),
            &ids(&["a", "b", "c", "d"]),
        );
        check_sane(&t, 1280, 720);
        assert_eq!(t[0].id, "d");
        assert!(t
            .iter()
            .all(|x| (x.rect.width, x.rect.height) == (t[0].rect.width, t[0].rect.height)));
        // 2x2 at 16:9 in 1280x720.
        assert_eq!((t[0].rect.width, t[0].rect.height), (636, 358));
        let t = compute_layout(1280, 720, &LayoutKind::Grid, None, &ids(&["a", "b", "c"]));
        // Short last row is centred.
        assert!(t[2].rect.x > t[0].rect.x);
    }

    #[test]
    fn presenter_only_and_custom() {
        let p = ids(&["a", "b"]);
        let t = compute_layout(1280, 720, &LayoutKind::PresenterOnly, Some("b"), &p);
        assert_eq!(t.len(), 1);
        assert_eq!(t[0].id, "b");
        let kind = LayoutKind::Custom {
            regions: vec![
                Region {
                    id: "b".into(),
                    rect: Rect::new(11, 11, 101, 101),
                    crop: None,
                },
                Region {
                    id: "zz".into(),
                    rect: Rect::new(0, 0, 100, 100),
                    crop: None,
                },
                Region {
                    id: "a".into(),
                    rect: Rect::new(1200, 700, 500, 500),
                    crop: None,
                },
            ],
        };
        let t = compute_layout(1280, 720, &kind, Some("b"), &p);
        assert_eq!(t.len(), 2);
        assert_eq!(t[0].rect, Rect::new(10, 10, 100, 100));
        assert_eq!(t[0].role, TileRole::Main);
        assert_eq!(t[1].rect, Rect::new(1200, 700, 80, 20));
    }

    #[test]
    fn fit_letterboxes_and_pillarboxes() {
        let cell = Rect::new(0, 0, 960, 720);
        assert_eq!(cell.fit(1280, 720), Rect::new(0, 90, 960, 540));
        assert_eq!(cell.fit(480, 640), Rect::new(210, 0, 540, 720));
        assert_eq!(cell.fit(960, 720), cell);
        let odd = Rect::new(100, 50, 316, 176).fit(641, 481);
        assert!(
            odd.x.is_multiple_of(2)
                && odd.y.is_multiple_of(2)
                && odd.width.is_multiple_of(2)
                && odd.height.is_multiple_of(2)
        );
    }
}
