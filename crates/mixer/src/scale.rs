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
        for (row, ((&y0, &y1), &wy)) in self.y.i0.iter().zip(&self.y.i1).zip(&self.y.w1).enumerate()
        {
            let r0 = &src[y0 as usize * src_stride..y0 as usize * src_stride + sw];
            let r1 = &src[y1 as usize * src_stride..y1 as usize * src_stride + sw];
            let o = (dy + row) * dst_stride + dx;
            let out = &mut dst[o..o + dw];
            let wy0 = ONE - wy;
            for (((p, &x0), &x1), &wx) in out
                .iter_mut()
                .zip(&self.x.i0)
                .zip(&self.x.i1)
                .zip(&self.x.w1)
            {
                let (x0, x1) = (x0 as usize, x1 as usize);
                let wx0 = ONE - wx;
                let top = u32::from(r0[x0]) * wx0 + u32::from(r0[x1]) * wx;
                let bot = u32::from(r1[x0]) * wx0 + u32::from(r1[x1]) * wx;
                *p = ((top * wy0 + bot * wy + (1 << 15)) >> 16) as u8;
            }
        }
    }
}

/// Scales whole I420 frames of one size into canvas rectangles of one size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameScaler {
    luma: PlaneScaler,
    chroma: PlaneScaler,
}

impl FrameScaler {
    /// `dst_w`/`dst_h` must be even (rectangles from the layout are).
    pub fn new(src_w: u32, src_h: u32, dst_w: u32, dst_h: u32) -> Self {
        let (scw, sch) = chroma_size(src_w, src_h);
        FrameScaler {
            luma: PlaneScaler::new(src_w, src_h, dst_w, dst_h),
            chroma: PlaneScaler::new(scw as u32, sch as u32, dst_w / 2, dst_h / 2),
        }
    }

    /// Whether this scaler was built for these sizes.
    pub fn fits(&self, src_w: u32, src_h: u32, dst_w: u32, dst_h: u32) -> bool {
        (
            self.luma.src_w,
            self.luma.src_h,
            self.luma.dst_w,
            self.luma.dst_h,
        ) == (src_w, src_h, dst_w, dst_h)
    }

    /// Scale `src` into `rect` of `canvas` (even-aligned, inside the canvas).
    pub fn scale_into(&self, src: &VideoFrame, canvas: &mut VideoFrame, rect: Rect) {
        let (x, y) = (rect.x as usize, rect.y as usize);
        self.luma
            .scale(&src.y, src.stride_y, &mut canvas.y, canvas.stride_y, x, y);
        self.chroma.scale(
            &src.u,
            src.stride_uv,
            &mut canvas.u,
            canvas.stride_uv,
            x / 2,
            y / 2,
        );
        self.chroma.scale(
            &src.v,
            src.stride_uv,
            &mut canvas.v,
            canvas.stride_uv,
            x / 2,
            y / 2,
        );
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
        let sc = FrameScaler::new(64, 48, 32, 24);
        assert!(sc.fits(64, 48, 32, 24) && !sc.fits(64, 48, 32, 26));
        sc.scale_into(&src, &mut canvas, rect);
        assert_eq!(canvas.mean_yuv(10, 20, 32, 24), (200.0, 50.0, 60.0));
        assert_eq!(canvas.y_at(9, 20), 16);
        assert_eq!(canvas.y_at(42, 20), 16);
        assert_eq!(canvas.y_at(10, 44), 16);
        assert_eq!(canvas.uv_at(8, 20), (128, 128));
        fill_rect(&mut canvas, Rect::new(0, 0, 128, 96), (30, 120, 130));
        assert_eq!(canvas.mean_yuv(0, 0, 128, 96), (30.0, 120.0, 130.0));
    }
}
