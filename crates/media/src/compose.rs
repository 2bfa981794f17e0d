//! Building blocks for a conference mixer: scaling I420 frames, a grid composition, and
//! mix-minus audio (everyone hears everyone but themselves).

use serde::{Deserialize, Serialize};

use crate::frame::VideoFrame;

/// A rectangle in luma pixels (kept even so chroma lines up).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rect {
    pub x: u32,
    pub y: u32,
    pub w: u32,
    pub h: u32,
}

fn even(v: u32) -> u32 {
    v & !1
}

/// Tiles for `n` participants on a canvas: 1 full, 2 side by side, then the smallest square-ish
/// grid; each tile keeps the 16:9 (or `aspect`) shape, letterboxed inside its cell.
pub fn grid_layout(n: usize, canvas_w: u32, canvas_h: u32, aspect: f32) -> Vec<Rect> {
    if n == 0 || canvas_w < 4 || canvas_h < 4 {
        return Vec::new();
    }
    let cols = (n as f32).sqrt().ceil() as u32;
    let cols = if n == 2 { 2 } else { cols.max(1) };
    let rows = (n as u32).div_ceil(cols);
    let cell_w = canvas_w / cols;
    let cell_h = canvas_h / rows;
    let (mut w, mut h) = (cell_w, (cell_w as f32 / aspect) as u32);
    if h > cell_h {
        h = cell_h;
        w = (cell_h as f32 * aspect) as u32;
    }
    let (w, h) = (even(w.max(2)), even(h.max(2)));
    // Centre the whole grid vertically.
    let used_h = rows * cell_h;
    let top = (canvas_h - used_h) / 2;
    (0..n as u32)
        .map(|i| {
            let (c, r) = (i % cols, i / cols);
            // Centre a short last row.
            let in_row = if r == rows - 1 {
                n as u32 - r * cols
            } else {
                cols
            };
            let row_left = (canvas_w - in_row * cell_w) / 2;
            Rect {
                x: even(row_left + c * cell_w + (cell_w - w) / 2),
                y: even(top + r * cell_h + (cell_h - h) / 2),
                w,
                h,
            }
        })
        .collect()
}

/// Bilinear scale of one plane (8.8 fixed point).
#[allow(clippy::too_many_arguments)]
fn scale_plane(
    src: &[u8],
    sw: usize,
    sh: usize,
    sstride: usize,
    dst: &mut [u8],
    dstride: usize,
    dx0: usize,
    dy0: usize,
    dw: usize,
    dh: usize,
) {
    if sw == 0 || sh == 0 || dw == 0 || dh == 0 {
        return;
    }
    // Source position of each destination column, sampled at pixel centres.
    let xs: Vec<(usize, u32)> = (0..dw)
        .map(|x| {
            let fx = ((x as f32 + 0.5) * sw as f32 / dw as f32 - 0.5).max(0.0);
            let x0 = (fx as usize).min(sw - 1);
            (x0, ((fx - x0 as f32) * 256.0) as u32)
        })
        .collect();
    for y in 0..dh {
        let fy = ((y as f32 + 0.5) * sh as f32 / dh as f32 - 0.5).max(0.0);
        let y0 = (fy as usize).min(sh - 1);
        let y1 = (y0 + 1).min(sh - 1);
        let wy = ((fy - y0 as f32) * 256.0) as u32;
        let r0 = &src[y0 * sstride..];
        let r1 = &src[y1 * sstride..];
        let out = &mut dst[(dy0 + y) * dstride + dx0..(dy0 + y) * dstride + dx0 + dw];
        for (o, &(x0, wx)) in out.iter_mut().zip(&xs) {
            let x1 = (x0 + 1).min(sw - 1);
            let top = u32::from(r0[x0]) * (256 - wx) + u32::from(r0[x1]) * wx;
            let bot = u32::from(r1[x0]) * (256 - wx) + u32::from(r1[x1]) * wx;
            *o = ((top * (256 - wy) + bot * wy + 32768) >> 16) as u8;
        }
    }
}

/// Scale `src` into `rect` of `dst` (clipped to `dst`).
pub fn blit_scaled(src: &VideoFrame, dst: &mut VideoFrame, rect: Rect) {
    let x = even(rect.x).min(dst.width);
    let y = even(rect.y).min(dst.height);
    let w = even(rect.w).min(dst.width - x);
    let h = even(rect.h).min(dst.height - y);
    if w == 0 || h == 0 {
        return;
    }
    let (scw, sch) = src.chroma_size();
    scale_plane(
        &src.y,
        src.width as usize,
        src.height as usize,
        src.stride_y,
        &mut dst.y,
        dst.stride_y,
        x as usize,
        y as usize,
        w as usize,
        h as usize,
    );
    for (sp, dp) in [(&src.u, &mut dst.u), (&src.v, &mut dst.v)] {
        scale_plane(
            sp,
            scw,
            sch,
            src.stride_uv,
            dp,
            dst.stride_uv,
            x as usize / 2,
            y as usize / 2,
            w as usize / 2,
            h as usize / 2,
        );
    }
}

/// A new frame with `src` scaled to `width` x `height`.
pub fn scale(src: &VideoFrame, width: u32, height: u32) -> VideoFrame {
    let mut out = VideoFrame::new(width, height);
    blit_scaled(
        src,
        &mut out,
        Rect {
            x: 0,
            y: 0,
            w: width,
            h: height,
        },
    );
    out.timestamp = src.timestamp;
    out.capture_time_us = src.capture_time_us;
    out
}

/// Composes participant frames on a canvas in a grid.
#[derive(Debug, Clone)]
pub struct Compositor {
    pub width: u32,
    pub height: u32,
    /// Background (Y, U, V); dark grey by default.
    pub background: (u8, u8, u8),
}

impl Compositor {
    pub fn new(width: u32, height: u32) -> Self {
        Compositor {
            width: even(width),
            height: even(height),
            background: (40, 128, 128),
        }
    }

    /// One canvas with every tile; `None` tiles (no picture yet) stay background.
    pub fn compose(&self, tiles: &[Option<&VideoFrame>]) -> VideoFrame {
        let mut out = VideoFrame::new(self.width, self.height);
        out.y.fill(self.background.0);
        out.u.fill(self.background.1);
        out.v.fill(self.background.2);
        let rects = grid_layout(tiles.len(), self.width, self.height, 16.0 / 9.0);
        for (tile, rect) in tiles.iter().zip(rects) {
            if let Some(f) = tile {
                blit_scaled(f, &mut out, rect);
            }
        }
        out
    }
}

/// Soft limiter: linear up to 0.8, then a smooth knee that never exceeds 1.0.
fn soft_clip(x: f32) -> f32 {
    let a = x.abs();
    if a <= 0.8 {
        x
    } else {
        x.signum() * (0.8 + 0.2 * ((a - 0.8) / 0.2).tanh())
    }
}

/// Mix-minus: for N equally long inputs, output `i` is the sum of all inputs except `i`
/// (so nobody hears their own echo), soft-limited. Missing samples count as silence.
pub fn mix_minus(inputs: &[&[f32]]) -> Vec<Vec<f32>> {
    let len = inputs.iter().map(|i| i.len()).max().unwrap_or(0);
    let mut total = vec![0f32; len];
    for input in inputs {
        for (t, s) in total.iter_mut().zip(input.iter()) {
            *t += s;
        }
    }
    inputs
        .iter()
        .map(|own| {
            total
                .iter()
                .enumerate()
                .map(|(k, t)| soft_clip(t - own.get(k).copied().unwrap_or(0.0)))
                .collect()
        })
        .collect()
}

/// Plain mix of every input (what a recording or a listener-only viewer hears).
pub fn mix_all(inputs: &[&[f32]]) -> Vec<f32> {
    let len = inputs.iter().map(|i| i.len()).max().unwrap_or(0);
    let mut total = vec![0f32; len];
    for input in inputs {
        for (t, s) in total.iter_mut().zip(input.iter()) {
            *t += s;
        }
    }
    total.into_iter().map(soft_clip).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::tone_power;
    use crate::synthetic::{detect_color, read_stamp, PatternColor, TestPattern};

    #[test]
    fn layouts_fit_and_do_not_overlap() {
        for n in 1..=9 {
            let rects = grid_layout(n, 1280, 720, 16.0 / 9.0);
            assert_eq!(rects.len(), n);
            for (i, a) in rects.iter().enumerate() {
                assert!(a.x + a.w <= 1280 && a.y + a.h <= 720, "{n}: {a:?}");
                assert!(a.x % 2 == 0 && a.y % 2 == 0 && a.w % 2 == 0 && a.h % 2 == 0);
                for b in &rects[i + 1..] {
                    let apart = a.x + a.w <= b.x
                        || b.x + b.w <= a.x
                        || a.y + a.h <= b.y
                        || b.y + b.h <= a.y;
                    assert!(apart, "{n}: {a:?} overlaps {b:?}");
                }
            }
        }
        assert_eq!(
            grid_layout(1, 1280, 720, 16.0 / 9.0)[0],
            Rect {
                x: 0,
                y: 0,
                w: 1280,
                h: 720
            }
        );
        assert!(grid_layout(0, 1280, 720, 1.0).is_empty());
    }

    #[test]
    fn scaling_keeps_the_stamp_and_colour() {
        let f = TestPattern::new(1280, 720, PatternColor::Magenta).render(99, 7);
        let s = scale(&f, 640, 360);
        assert_eq!(read_stamp(&s).unwrap().frame_number, 99);
        assert_eq!(detect_color(&s), Some(PatternColor::Magenta));
        let up = scale(&s, 1920, 1080);
        assert_eq!(read_stamp(&up).unwrap().frame_number, 99);
    }

    #[test]
    fn four_participants_land_in_their_quadrants() {
        let colours = [
            PatternColor::Red,
            PatternColor::Green,
            PatternColor::Blue,
            PatternColor::Yellow,
        ];
        let frames: Vec<VideoFrame> = colours
            .iter()
            .map(|c| TestPattern::new(640, 360, *c).render(0, 0))
            .collect();
        let tiles: Vec<Option<&VideoFrame>> = frames.iter().map(Some).collect();
        let canvas = Compositor::new(1280, 720).compose(&tiles);
        for (rect, c) in grid_layout(4, 1280, 720, 16.0 / 9.0).iter().zip(colours) {
            // Sample each tile's own colour patch (bottom right of the tile).
            let (x, y) = (rect.x + rect.w * 3 / 4, rect.y + rect.h * 4 / 5);
            let (my, mu, mv) = canvas.mean_yuv(
                x as usize,
                y as usize,
                (rect.w / 5) as usize,
                (rect.h / 8) as usize,
            );
            let (cy, cu, cv) = c.yuv();
            let d = (my - f32::from(cy)).abs()
                + (mu - f32::from(cu)).abs()
                + (mv - f32::from(cv)).abs();
            assert!(d < 12.0, "{c:?}: {my} {mu} {mv}");
        }
        // A missing picture leaves background.
        let canvas = Compositor::new(1280, 720).compose(&[None, Some(&frames[0])]);
        assert_eq!(canvas.y_at(10, 360), 40);
    }

    #[test]
    fn mix_minus_removes_each_participants_own_voice() {
        let tone = |hz: f32| -> Vec<f32> {
            (0..4800)
                .map(|i| 0.3 * (2.0 * std::f32::consts::PI * hz * i as f32 / 48_000.0).sin())
                .collect()
        };
        let (a, b, c) = (tone(300.0), tone(500.0), tone(700.0));
        let outs = mix_minus(&[&a, &b, &c]);
        let p = |s: &[f32], hz| tone_power(s, 48_000, hz);
        // Participant A hears B and C, not A.
        assert!(p(&outs[0], 500.0) > 0.01 && p(&outs[0], 700.0) > 0.01);
        assert!(p(&outs[0], 300.0) < 1e-4, "{}", p(&outs[0], 300.0));
        assert!(p(&outs[2], 700.0) < 1e-4);
        let all = mix_all(&[&a, &b, &c]);
        assert!(all.iter().all(|s| s.abs() <= 1.0));
        assert!(p(&all, 300.0) > 0.01);
        // Loud inputs are limited, never clipped past full scale.
        let loud = vec![0.9f32; 10];
        assert!(mix_all(&[&loud, &loud, &loud])
            .iter()
            .all(|s| *s <= 1.0 && *s > 0.8));
    }
}
