//! Integer bilinear scaling of I420 planes straight into a region of the canvas.
//! Tables are built once per (source size, destination size) and reused for every frame.

use red5_media::frame::{chroma_size, VideoFrame};

use crate::layout::Rect;

/// Fixed-point weights have 8 fractional bits.
const ONE: u32 = 256;

/// Sample positions for one axis: source index of the left/top tap, of the right/bottom tap,
/// and the weight of the second tap (0..=256).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Axis {
    i0: Vec<u32>,
    i1: Vec<u32>,
    w1: Vec<u32>,
}

impl Axis {
    fn new(src: u32, dst: u32) -> Axis {
        let n = dst as usize;
        let mut a = Axis {
            i0: Vec::with_capacity(n),
            i1: Vec::with_capacity(n),
            w1: Vec::with_capacity(n),
        };
        // Centre-aligned mapping: s = (d + 0.5) * src / dst - 0.5, in 16.16 fixed point.
        let step = ((u64::from(src) << 16) / u64::from(dst.max(1))) as i64;
        let max = i64::from(src.saturating_sub(1));
        for d in 0..i64::from(dst) {
            let s = ((2 * d + 1) * step / 2 - (1 << 15)).max(0);
            let i0 = (s >> 16).min(max);
            let frac = ((s & 0xFFFF) >> 8) as u32;
            let i1 = (i0 + 1).min(max);
            a.i0.push(i0 as u32);
            a.i1.push(i1 as u32);
            a.w1.push(if i1 == i0 { 0 } else { frac });
        }
        a
    }
}

/// Scales one plane of `src_w x src_h` to `dst_w x dst_h`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlaneScaler {
    src_w: u32,
    src_h: u32,
    dst_w: u32,
    dst_h: u32,
    x: Axis,
    y: Axis,
}

impl PlaneScaler {
    pub fn new(src_w: u32, src_h: u32, dst_w: u32, dst_h: u32) -> Self {
        PlaneScaler {
            src_w,
            src_h,
            dst_w,
            dst_h,
            x: Axis::new(src_w, dst_w),
            y: Axis::new(src_h, dst_h),
        }
    }

    /// Scale `src` (rows of `src_stride`) into `dst` at (`dx`, `dy`) (rows of `dst_stride`).
    /// The caller guarantees both buffers hold the planes (checked by `VideoFrame`).
    pub fn scale(
        &self,
        src: &[u8],
        src_stride: usize,
        dst: &mut [u8],
        dst_stride: usize,
        dx: usize,
        dy: usize,
    ) {
        let (sw, dw) = (self.src_w as usize, self.dst_w as usize);
        if self.src_w == self.dst_w && self.src_h == self.dst_h {
            for row in 0..self.dst_h as usize {
                let s = &src[row * src_stride..row * src_stride + sw];
                let o = (dy + row) * dst_stride + dx;
                dst[o..o + dw].copy_from_slice(s);
            }
            return;
        }
        // Separable: each source row is filtered horizontally once (into a u16 row: at most
        // 255 × 256) and kept while the output rows still need it; the vertical blend of two
        // such rows is a straight loop the compiler vectorises. Same arithmetic as blending the
        // four taps per pixel, so the same output, at about half the cost.
        let mut rows: [(usize, Vec<u16>); 2] =
            [(usize::MAX, vec![0; dw]), (usize::MAX, vec![0; dw])];
        for (row, ((&y0, &y1), &wy)) in self.y.i0.iter().zip(&self.y.i1).zip(&self.y.w1).enumerate()
        {
            let (y0, y1) = (y0 as usize, y1 as usize);
            if rows[0].0 != y0 {
                // Moving down, the last row's bottom tap is often this row's top one.
                if rows[1].0 == y0 {
                    rows.swap(0, 1);
                } else {
                    self.filter_row(&src[y0 * src_stride..y0 * src_stride + sw], &mut rows[0].1);
                    rows[0].0 = y0;
                }
            }
            if rows[1].0 != y1 {
                self.filter_row(&src[y1 * src_stride..y1 * src_stride + sw], &mut rows[1].1);
                rows[1].0 = y1;
            }
            let o = (dy + row) * dst_stride + dx;
            let out = &mut dst[o..o + dw];
            let wy0 = ONE - wy;
            for ((p, &top), &bot) in out.iter_mut().zip(&rows[0].1).zip(&rows[1].1) {
                *p = ((u32::from(top) * wy0 + u32::from(bot) * wy + (1 << 15)) >> 16) as u8;
            }
        }
    }

    /// One source row filtered horizontally to the destination width (8.8 fixed point).
    fn filter_row(&self, r: &[u8], out: &mut [u16]) {
        for (((p, &x0), &x1), &wx) in out
            .iter_mut()
            .zip(&self.x.i0)
            .zip(&self.x.i1)
            .zip(&self.x.w1)
        {
            let (a, b) = (u32::from(r[x0 as usize]), u32::from(r[x1 as usize]));
            *p = (a * (ONE - wx) + b * wx) as u16;
        }
    }
}

/// Halve a plane with a 2x2 box filter (`w`/`h` are the source size; odd edges are dropped).
fn halve(src: &[u8], stride: usize, w: usize, h: usize, dst: &mut Vec<u8>) -> (usize, usize) {
    let (w2, h2) = (w / 2, h / 2);
    dst.clear();
    dst.resize(w2 * h2, 0);
    for (y, out) in dst.chunks_exact_mut(w2.max(1)).enumerate().take(h2) {
        let r0 = &src[2 * y * stride..2 * y * stride + 2 * w2];
        let r1 = &src[(2 * y + 1) * stride..(2 * y + 1) * stride + 2 * w2];
        for ((o, a), b) in out
            .iter_mut()
            .zip(r0.chunks_exact(2))
            .zip(r1.chunks_exact(2))
        {
            *o = ((u16::from(a[0]) + u16::from(a[1]) + u16::from(b[0]) + u16::from(b[1]) + 2) >> 2)
                as u8;
        }
    }
    (w2, h2)
}

/// Scales whole I420 frames of one size into canvas rectangles of one size. Big reductions
/// (strip tiles from 720p cameras, screen shares) first halve the picture with a 2x2 box filter
/// while it stays at least the target size, so fine detail averages out instead of aliasing;
/// the last step is bilinear.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameScaler {
    src_w: u32,
    src_h: u32,
    dst_w: u32,
    dst_h: u32,
    halvings: u32,
    luma: PlaneScaler,
    chroma: PlaneScaler,
    /// Scratch planes for the halving steps (Y, U, V), reused every frame.
    scratch: [Vec<u8>; 6],
}

impl FrameScaler {
    /// `dst_w`/`dst_h` must be even (rectangles from the layout are).
    pub fn new(src_w: u32, src_h: u32, dst_w: u32, dst_h: u32) -> Self {
        let (scw, sch) = chroma_size(src_w, src_h);
        let mut halvings = 0;
        while (src_w >> (halvings + 1)) >= dst_w.max(1)
            && (src_h >> (halvings + 1)) >= dst_h.max(1)
            && (scw >> (halvings + 1)) >= 1
            && (sch >> (halvings + 1)) >= 1
        {
            halvings += 1;
        }
        FrameScaler {
            src_w,
            src_h,
            dst_w,
            dst_h,
            halvings,
            luma: PlaneScaler::new(src_w >> halvings, src_h >> halvings, dst_w, dst_h),
            chroma: PlaneScaler::new(
                (scw >> halvings) as u32,
                (sch >> halvings) as u32,
                dst_w / 2,
                dst_h / 2,
            ),
            scratch: Default::default(),
        }
    }

    /// Whether this scaler was built for these sizes.
    pub fn fits(&self, src_w: u32, src_h: u32, dst_w: u32, dst_h: u32) -> bool {
        (self.src_w, self.src_h, self.dst_w, self.dst_h) == (src_w, src_h, dst_w, dst_h)
    }

    /// Scale the part `crop` of `src` (even-aligned, inside the frame, the size this scaler
    /// was built for) into `rect` of `canvas` (even-aligned, inside the canvas).
    pub fn scale_into(
        &mut self,
        src: &VideoFrame,
        crop: Rect,
        canvas: &mut VideoFrame,
        rect: Rect,
    ) {
        let (x, y) = (rect.x as usize, rect.y as usize);
        let (cw, ch) = chroma_size(crop.width, crop.height);
        let (sx, sy) = (crop.x as usize, crop.y as usize);
        let luma_at = sy * src.stride_y + sx;
        let chroma_at = (sy / 2) * src.stride_uv + sx / 2;
        let planes = [
            (
                &src.y[luma_at..],
                src.stride_y,
                crop.width as usize,
                crop.height as usize,
            ),
            (&src.u[chroma_at..], src.stride_uv, cw, ch),
            (&src.v[chroma_at..], src.stride_uv, cw, ch),
        ];
        for (i, (plane, stride, w, h)) in planes.into_iter().enumerate() {
            let (dst, dst_stride, dx, dy, scaler) = match i {
                0 => (&mut canvas.y, canvas.stride_y, x, y, &self.luma),
                1 => (&mut canvas.u, canvas.stride_uv, x / 2, y / 2, &self.chroma),
                _ => (&mut canvas.v, canvas.stride_uv, x / 2, y / 2, &self.chroma),
            };
            if self.halvings == 0 {
                scaler.scale(plane, stride, dst, dst_stride, dx, dy);
                continue;
            }
            // Ping-pong between two scratch buffers of this plane.
            let (a, b) = self.scratch[2 * i..2 * i + 2].split_at_mut(1);
            let (mut cur, mut next) = (&mut a[0], &mut b[0]);
            let (mut w, mut h) = halve(plane, stride, w, h, cur);
            for _ in 1..self.halvings {
                let (w2, h2) = halve(cur, w, w, h, next);
                std::mem::swap(&mut cur, &mut next);
                (w, h) = (w2, h2);
            }
            scaler.scale(cur, w, dst, dst_stride, dx, dy);
        }
    }
}

/// Fill an even-aligned rectangle of the canvas with one colour.
pub fn fill_rect(canvas: &mut VideoFrame, rect: Rect, (y, u, v): (u8, u8, u8)) {
    let r = rect.clip(canvas.width, canvas.height);
    let (x0, y0, w, h) = (
        r.x as usize,
        r.y as usize,
        r.width as usize,
        r.height as usize,
    );
    for row in y0..y0 + h {
        canvas.y[row * canvas.stride_y + x0..row * canvas.stride_y + x0 + w].fill(y);
    }
    let (cw, ch) = canvas.chroma_size();
    let (cx0, cy0) = (x0 / 2, y0 / 2);
    let cx1 = (x0 + w).div_ceil(2).min(cw);
    let cy1 = (y0 + h).div_ceil(2).min(ch);
    for row in cy0..cy1 {
        let o = row * canvas.stride_uv;
        canvas.u[o + cx0..o + cx1].fill(u);
        canvas.v[o + cx0..o + cx1].fill(v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The four-tap blend per pixel (what the separable pass must reproduce exactly).
    fn four_taps(s: &PlaneScaler, src: &[u8], stride: usize) -> Vec<u8> {
        let mut out = Vec::new();
        for ((&y0, &y1), &wy) in s.y.i0.iter().zip(&s.y.i1).zip(&s.y.w1) {
            for ((&x0, &x1), &wx) in s.x.i0.iter().zip(&s.x.i1).zip(&s.x.w1) {
                let px = |y: u32, x: u32| u32::from(src[y as usize * stride + x as usize]);
                let top = px(y0, x0) * (ONE - wx) + px(y0, x1) * wx;
                let bot = px(y1, x0) * (ONE - wx) + px(y1, x1) * wx;
                out.push(((top * (ONE - wy) + bot * wy + (1 << 15)) >> 16) as u8);
            }
        }
        out
    }

    #[test]
    fn separable_pass_matches_the_four_tap_blend() {
        let (w, h) = (97usize, 61usize);
        let src: Vec<u8> = (0..w * h)
            .map(|i| ((i * 37 + i / 7 * 11) % 256) as u8)
            .collect();
        for (dw, dh) in [
            (640u32, 360u32),
            (48, 30),
            (96, 60),
            (13, 7),
            (200, 61),
            (97, 20),
        ] {
            let s = PlaneScaler::new(w as u32, h as u32, dw, dh);
            let mut dst = vec![0u8; (dw * dh) as usize];
            s.scale(&src, w, &mut dst, dw as usize, 0, 0);
            let want = four_taps(&s, &src, w);
            let first = dst.iter().zip(&want).position(|(a, b)| a != b);
            assert_eq!(first, None, "{w}x{h} -> {dw}x{dh}: first difference");
        }
    }

    #[test]
    fn identity_copies() {
        let src: Vec<u8> = (0..64).collect();
        let s = PlaneScaler::new(8, 8, 8, 8);
        let mut dst = vec![0u8; 100];
        s.scale(&src, 8, &mut dst, 10, 1, 1);
        assert_eq!(&dst[11..19], &src[0..8]);
        assert_eq!(dst[0], 0);
    }

    #[test]
    fn flat_stays_flat_and_gradients_stay_monotonic() {
        let flat = vec![77u8; 40 * 30];
        for (dw, dh) in [(10, 8), (80, 60), (33, 17), (40, 30)] {
            let s = PlaneScaler::new(40, 30, dw, dh);
            let mut dst = vec![0u8; (dw * dh) as usize];
            s.scale(&flat, 40, &mut dst, dw as usize, 0, 0);
            assert!(dst.iter().all(|&p| p == 77), "{dw}x{dh}");
        }
        // Horizontal ramp 0..=255 over 256 px, scaled down 4x and up 2x.
        let ramp: Vec<u8> = (0..4)
            .flat_map(|_| (0..=255u8).collect::<Vec<_>>())
            .collect();
        for dw in [64u32, 512] {
            let s = PlaneScaler::new(256, 4, dw, 4);
            let mut dst = vec![0u8; dw as usize * 4];
            s.scale(&ramp, 256, &mut dst, dw as usize, 0, 0);
            let row = &dst[..dw as usize];
            assert!(row.windows(2).all(|w| w[0] <= w[1]), "{dw}");
            assert!(
                row[0] < 4 && row[dw as usize - 1] > 250,
                "{dw}: {} {}",
                row[0],
                row[dw as usize - 1]
            );
            // The middle maps to the middle.
            let mid = i32::from(row[dw as usize / 2]);
            assert!((mid - 128).abs() <= 3, "{dw}: {mid}");
        }
    }

    #[test]
    fn frame_scaled_into_rect_only_touches_the_rect() {
        let mut src = VideoFrame::new(64, 48);
        src.y.fill(200);
        src.u.fill(50);
        src.v.fill(60);
        let mut canvas = VideoFrame::new(128, 96);
        let rect = Rect::new(10, 20, 32, 24);
        let mut sc = FrameScaler::new(64, 48, 32, 24);
        assert!(sc.fits(64, 48, 32, 24) && !sc.fits(64, 48, 32, 26));
        sc.scale_into(&src, Rect::new(0, 0, 64, 48), &mut canvas, rect);
        assert_eq!(canvas.mean_yuv(10, 20, 32, 24), (200.0, 50.0, 60.0));
        assert_eq!(canvas.y_at(9, 20), 16);
        assert_eq!(canvas.y_at(42, 20), 16);
        assert_eq!(canvas.y_at(10, 44), 16);
        assert_eq!(canvas.uv_at(8, 20), (128, 128));
        fill_rect(&mut canvas, Rect::new(0, 0, 128, 96), (30, 120, 130));
        assert_eq!(canvas.mean_yuv(0, 0, 128, 96), (30.0, 120.0, 130.0));
    }

    #[test]
    fn big_reductions_average_fine_detail_instead_of_aliasing() {
        // A 1-pixel checkerboard is mid grey once shrunk; plain bilinear at 3.2x would pick
        // near-black and near-white samples.
        let (w, h) = (256u32, 192u32);
        let mut src = VideoFrame::new(w, h);
        for y in 0..h as usize {
            for x in 0..w as usize {
                src.y[y * w as usize + x] = if (x + y) % 2 == 0 { 16 } else { 240 };
            }
        }
        let mut canvas = VideoFrame::new(80, 60);
        let mut sc = FrameScaler::new(w, h, 80, 60);
        assert_eq!(sc.halvings, 1);
        sc.scale_into(
            &src,
            Rect::new(0, 0, w, h),
            &mut canvas,
            Rect::new(0, 0, 80, 60),
        );
        assert!(
            canvas.y.iter().all(|&p| (126..=130).contains(&p)),
            "{:?}",
            &canvas.y[..16]
        );
        // Plain bilinear (what the last step alone does) really does alias here.
        let plain = PlaneScaler::new(w, h, 80, 60);
        let mut out = vec![0u8; 80 * 60];
        plain.scale(&src.y, w as usize, &mut out, 80, 0, 0);
        assert!(out.iter().any(|&p| !(100..=156).contains(&p)));
        // 1280x720 into a 316x176 strip tile: two halvings, then bilinear.
        assert_eq!(FrameScaler::new(1280, 720, 316, 176).halvings, 2);
        assert_eq!(FrameScaler::new(1280, 720, 960, 540).halvings, 0);
    }
}
