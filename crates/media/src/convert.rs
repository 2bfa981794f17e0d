//! Pixel conversion into I420 (and out of it for the UI).
//!
//! Camera formats go straight to I420: YUYV/UYVY and NV12 are repacked, MJPEG is decoded by
//! libjpeg-turbo into its native planar YUV and only the chroma is resampled. RGB input (rare
//! for cameras) uses BT.601 limited-range integer maths, the same matrix the encoders assume.

use crate::error::MediaError;
use crate::frame::{chroma_size, VideoFrame};

/// Pixel layouts a source can deliver.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PixelFormat {
    I420,
    Nv12,
    Yuyv,
    Uyvy,
    Mjpeg,
    Rgb24,
    Bgr24,
    Rgba,
    Bgra,
    Gray,
}

impl PixelFormat {
    /// Bytes per pixel of a packed layout (None for planar/compressed ones).
    pub fn packed_bpp(self) -> Option<usize> {
        match self {
            PixelFormat::Yuyv | PixelFormat::Uyvy => Some(2),
            PixelFormat::Rgb24 | PixelFormat::Bgr24 => Some(3),
            PixelFormat::Rgba | PixelFormat::Bgra => Some(4),
            PixelFormat::Gray => Some(1),
            _ => None,
        }
    }
}

/// BT.601 limited range, 8-bit fixed point (the usual libyuv coefficients).
#[inline]
pub fn rgb_to_y(r: i32, g: i32, b: i32) -> u8 {
    (((66 * r + 129 * g + 25 * b + 128) >> 8) + 16).clamp(0, 255) as u8
}

#[inline]
pub fn rgb_to_uv(r: i32, g: i32, b: i32) -> (u8, u8) {
    let u = ((-38 * r - 74 * g + 112 * b + 128) >> 8) + 128;
    let v = ((112 * r - 94 * g - 18 * b + 128) >> 8) + 128;
    (u.clamp(0, 255) as u8, v.clamp(0, 255) as u8)
}

/// BT.601 limited range YUV to RGB.
#[inline]
pub fn yuv_to_rgb(y: u8, u: u8, v: u8) -> (u8, u8, u8) {
    let c = i32::from(y) - 16;
    let d = i32::from(u) - 128;
    let e = i32::from(v) - 128;
    let r = (298 * c + 409 * e + 128) >> 8;
    let g = (298 * c - 100 * d - 208 * e + 128) >> 8;
    let b = (298 * c + 516 * d + 128) >> 8;
    (
        r.clamp(0, 255) as u8,
        g.clamp(0, 255) as u8,
        b.clamp(0, 255) as u8,
    )
}

/// JPEG (JFIF) YCbCr is full range; WebRTC video is limited range. Tables for both directions.
#[derive(Clone)]
pub struct RangeTables {
    pub y_to_limited: [u8; 256],
    pub c_to_limited: [u8; 256],
    pub y_to_full: [u8; 256],
    pub c_to_full: [u8; 256],
}

impl RangeTables {
    pub fn new() -> Self {
        let mut t = RangeTables {
            y_to_limited: [0; 256],
            c_to_limited: [0; 256],
            y_to_full: [0; 256],
            c_to_full: [0; 256],
        };
        for i in 0..256i32 {
            let k = i as usize;
            t.y_to_limited[k] = (16 + (i * 219 + 127) / 255) as u8;
            t.c_to_limited[k] =
                (128 + ((i - 128) * 224 + if i >= 128 { 127 } else { -127 }) / 255) as u8;
            t.y_to_full[k] = (((i - 16) * 255 + 109) / 219).clamp(0, 255) as u8;
            t.c_to_full[k] = (128 + ((i - 128) * 255 + if i >= 128 { 112 } else { -112 }) / 224)
                .clamp(0, 255) as u8;
        }
        t
    }
}

impl Default for RangeTables {
    fn default() -> Self {
        Self::new()
    }
}

/// Map a plane in place through a table.
pub fn map_plane(plane: &mut [u8], table: &[u8; 256]) {
    for p in plane {
        *p = table[usize::from(*p)];
    }
}

/// Reusable converter (keeps the JPEG decoder and scratch buffers between frames).
pub struct Converter {
    jpeg: Option<turbojpeg::Decompressor>,
    scratch: Vec<u8>,
    range: RangeTables,
}

impl Default for Converter {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for Converter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Converter")
    }
}

impl Converter {
    pub fn new() -> Self {
        Converter {
            jpeg: None,
            scratch: Vec::new(),
            range: RangeTables::new(),
        }
    }

    /// Convert one captured buffer into a new I420 frame. `stride` is bytes per row of packed
    /// input (0 = tight); it is ignored for MJPEG.
    pub fn to_i420(
        &mut self,
        format: PixelFormat,
        data: &[u8],
        width: u32,
        height: u32,
        stride: usize,
    ) -> Result<VideoFrame, MediaError> {
        if format != PixelFormat::Mjpeg && (width == 0 || height == 0) {
            return Err(MediaError::InvalidFrame("the frame has no pixels".into()));
        }
        match format {
            PixelFormat::Mjpeg => self.mjpeg_to_i420(data),
            PixelFormat::I420 => VideoFrame::from_packed_i420(width, height, data),
            PixelFormat::Nv12 => nv12_to_i420(data, width, height, stride),
            PixelFormat::Yuyv => packed422_to_i420(data, width, height, stride, 0),
            PixelFormat::Uyvy => packed422_to_i420(data, width, height, stride, 1),
            PixelFormat::Rgb24 => rgb_to_i420(data, width, height, stride, 3, [0, 1, 2]),
            PixelFormat::Bgr24 => rgb_to_i420(data, width, height, stride, 3, [2, 1, 0]),
            PixelFormat::Rgba => rgb_to_i420(data, width, height, stride, 4, [0, 1, 2]),
            PixelFormat::Bgra => rgb_to_i420(data, width, height, stride, 4, [2, 1, 0]),
            PixelFormat::Gray => gray_to_i420(data, width, height, stride),
        }
    }

    /// Decode MJPEG into planar YUV with libjpeg-turbo and resample only chroma to 4:2:0.
    pub fn mjpeg_to_i420(&mut self, jpeg: &[u8]) -> Result<VideoFrame, MediaError> {
        let dec = match &mut self.jpeg {
            Some(d) => d,
            None => self.jpeg.insert(
                turbojpeg::Decompressor::new().map_err(|e| MediaError::Jpeg(e.to_string()))?,
            ),
        };
        let header = dec
            .read_header(jpeg)
            .map_err(|e| MediaError::Jpeg(e.to_string()))?;
        let (w, h) = (header.width, header.height);
        if w == 0 || h == 0 {
            return Err(MediaError::Jpeg("the JPEG has no pixels".into()));
        }
        let sub = header.subsamp;
        let len =
            turbojpeg::yuv_pixels_len(w, 1, h, sub).map_err(|e| MediaError::Jpeg(e.to_string()))?;
        self.scratch.resize(len, 0);
        dec.decompress_to_yuv(
            jpeg,
            turbojpeg::YuvImage {
                pixels: self.scratch.as_mut_slice(),
                width: w,
                align: 1,
                height: h,
                subsamp: sub,
            },
        )
        .map_err(|e| MediaError::Jpeg(e.to_string()))?;
        let width = u32::try_from(w).map_err(|_| MediaError::Jpeg("JPEG too wide".into()))?;
        let height = u32::try_from(h).map_err(|_| MediaError::Jpeg("JPEG too tall".into()))?;
        let mut out = VideoFrame::new(width, height);
        out.y.copy_from_slice(&self.scratch[..w * h]);
        map_plane(&mut out.y, &self.range.y_to_limited);
        if matches!(sub, turbojpeg::Subsamp::Gray) {
            return Ok(out);
        }
        // Chroma plane geometry of the JPEG's own subsampling.
        let (sx, sy) = match sub {
            turbojpeg::Subsamp::None => (1, 1),
            turbojpeg::Subsamp::Sub2x1 => (2, 1),
            turbojpeg::Subsamp::Sub2x2 => (2, 2),
            turbojpeg::Subsamp::Sub1x2 => (1, 2),
            turbojpeg::Subsamp::Sub4x1 => (4, 1),
            other => {
                return Err(MediaError::UnsupportedFormat(format!(
                    "JPEG chroma subsampling {other:?}"
                )))
            }
        };
        let jcw = w.div_ceil(sx);
        let jch = h.div_ceil(sy);
        let plane = jcw * jch;
        let ju = &self.scratch[w * h..w * h + plane];
        let jv = &self.scratch[w * h + plane..w * h + 2 * plane];
        let (cw, ch) = chroma_size(width, height);
        if (sx, sy) == (2, 2) {
            out.u.copy_from_slice(&ju[..cw * ch]);
            out.v.copy_from_slice(&jv[..cw * ch]);
        } else {
            resample_chroma(ju, jcw, jch, sx, sy, &mut out.u, cw, ch);
            resample_chroma(jv, jcw, jch, sx, sy, &mut out.v, cw, ch);
        }
        map_plane(&mut out.u, &self.range.c_to_limited);
        map_plane(&mut out.v, &self.range.c_to_limited);
        Ok(out)
    }
}

/// Box-filter a chroma plane with subsampling (sx, sy) to 4:2:0 (2, 2).
#[allow(clippy::too_many_arguments)]
fn resample_chroma(
    src: &[u8],
    sw: usize,
    sh: usize,
    sx: usize,
    sy: usize,
    dst: &mut [u8],
    dw: usize,
    dh: usize,
) {
    for dy in 0..dh {
        for dx in 0..dw {
            // The 2x2 luma block at (2dx, 2dy) covers these source chroma samples.
            let x0 = (2 * dx) / sx;
            let x1 = ((2 * dx + 1) / sx).min(sw - 1);
            let y0 = (2 * dy) / sy;
            let y1 = ((2 * dy + 1) / sy).min(sh - 1);
            let s = u32::from(src[y0 * sw + x0])
                + u32::from(src[y0 * sw + x1])
                + u32::from(src[y1 * sw + x0])
                + u32::from(src[y1 * sw + x1]);
            dst[dy * dw + dx] = ((s + 2) / 4) as u8;
        }
    }
}

fn check_len(
    data: &[u8],
    stride: usize,
    width: usize,
    bpp: usize,
    height: usize,
) -> Result<usize, MediaError> {
    let stride = if stride == 0 { width * bpp } else { stride };
    if stride < width * bpp || data.len() < stride * (height - 1) + width * bpp {
        return Err(MediaError::InvalidFrame(format!(
            "{} bytes is too small for {width}x{height} at {bpp} bytes per pixel",
            data.len()
        )));
    }
    Ok(stride)
}

/// YUYV (offset 0) or UYVY (offset 1) to I420: luma copied, chroma averaged over row pairs.
fn packed422_to_i420(
    data: &[u8],
    width: u32,
    height: u32,
    stride: usize,
    order: usize,
) -> Result<VideoFrame, MediaError> {
    let w = width as usize;
    let h = height as usize;
    let stride = check_len(data, stride, w.div_ceil(2) * 2, 2, h)?;
    let (yo, uo, vo) = if order == 0 { (0, 1, 3) } else { (1, 0, 2) };
    let mut out = VideoFrame::new(width, height);
    let (cw, ch) = out.chroma_size();
    for row in 0..h {
        let src = &data[row * stride..];
        let dst = &mut out.y[row * w..(row + 1) * w];
        for (x, d) in dst.iter_mut().enumerate() {
            *d = src[x * 2 + yo];
        }
    }
    for cy in 0..ch {
        let r0 = &data[(2 * cy) * stride..];
        let r1 = &data[(2 * cy + 1).min(h - 1) * stride..];
        for cx in 0..cw {
            let i = cx * 4;
            out.u[cy * cw + cx] = (u16::from(r0[i + uo]) + u16::from(r1[i + uo])).div_ceil(2) as u8;
            out.v[cy * cw + cx] = (u16::from(r0[i + vo]) + u16::from(r1[i + vo])).div_ceil(2) as u8;
        }
    }
    Ok(out)
}

/// NV12 (Y plane + interleaved UV plane) to I420: a copy and a de-interleave.
fn nv12_to_i420(
    data: &[u8],
    width: u32,
    height: u32,
    stride: usize,
) -> Result<VideoFrame, MediaError> {
    let w = width as usize;
    let h = height as usize;
    let stride = if stride == 0 { w } else { stride };
    let (cw, ch) = chroma_size(width, height);
    let uv_start = stride * h;
    let need = uv_start + stride * (ch - 1) + cw * 2;
    if stride < w || data.len() < need {
        return Err(MediaError::InvalidFrame(format!(
            "{} bytes is too small for an NV12 frame of {width}x{height}",
            data.len()
        )));
    }
    let mut out = VideoFrame::new(width, height);
    for row in 0..h {
        out.y[row * w..(row + 1) * w].copy_from_slice(&data[row * stride..row * stride + w]);
    }
    for cy in 0..ch {
        let src = &data[uv_start + cy * stride..];
        for cx in 0..cw {
            out.u[cy * cw + cx] = src[2 * cx];
            out.v[cy * cw + cx] = src[2 * cx + 1];
        }
    }
    Ok(out)
}

fn gray_to_i420(
    data: &[u8],
    width: u32,
    height: u32,
    stride: usize,
) -> Result<VideoFrame, MediaError> {
    let w = width as usize;
    let h = height as usize;
    let stride = check_len(data, stride, w, 1, h)?;
    let mut out = VideoFrame::new(width, height);
    for row in 0..h {
        for x in 0..w {
            // Full-range grey to limited-range luma.
            out.y[row * w + x] = (16 + (u32::from(data[row * stride + x]) * 219 + 127) / 255) as u8;
        }
    }
    Ok(out)
}

/// Packed RGB(A) to I420; `idx` gives the byte offsets of R, G and B within a pixel.
fn rgb_to_i420(
    data: &[u8],
    width: u32,
    height: u32,
    stride: usize,
    bpp: usize,
    idx: [usize; 3],
) -> Result<VideoFrame, MediaError> {
    let w = width as usize;
    let h = height as usize;
    let stride = check_len(data, stride, w, bpp, h)?;
    let mut out = VideoFrame::new(width, height);
    let (cw, ch) = out.chroma_size();
    let px = |x: usize, y: usize| {
        let p = y * stride + x * bpp;
        (
            i32::from(data[p + idx[0]]),
            i32::from(data[p + idx[1]]),
            i32::from(data[p + idx[2]]),
        )
    };
    for y in 0..h {
        for x in 0..w {
            let (r, g, b) = px(x, y);
            out.y[y * w + x] = rgb_to_y(r, g, b);
        }
    }
    for cy in 0..ch {
        for cx in 0..cw {
            let (x0, y0) = (2 * cx, 2 * cy);
            let (x1, y1) = ((x0 + 1).min(w - 1), (y0 + 1).min(h - 1));
            let a = [px(x0, y0), px(x1, y0), px(x0, y1), px(x1, y1)];
            let r = (a.iter().map(|p| p.0).sum::<i32>() + 2) / 4;
            let g = (a.iter().map(|p| p.1).sum::<i32>() + 2) / 4;
            let b = (a.iter().map(|p| p.2).sum::<i32>() + 2) / 4;
            let (u, v) = rgb_to_uv(r, g, b);
            out.u[cy * cw + cx] = u;
            out.v[cy * cw + cx] = v;
        }
    }
    Ok(out)
}

/// I420 to packed RGBA (for `putImageData` canvases and tests).
pub fn i420_to_rgba(frame: &VideoFrame, out: &mut Vec<u8>) {
    i420_to_packed::<false>(frame, out);
}

/// I420 to packed B,G,R,255 bytes: cairo's `RGB24`/`ARGB32` and GDK's native order on
/// little-endian machines (the native video surface paints it without another pass).
pub fn i420_to_bgrx(frame: &VideoFrame, out: &mut Vec<u8>) {
    i420_to_packed::<true>(frame, out);
}

/// R,G,B,255 pixels, or B,G,R,255 with `BGR` (a constant, so the byte order costs nothing in
/// the loop). Chroma terms are computed once per pixel pair.
fn i420_to_packed<const BGR: bool>(frame: &VideoFrame, out: &mut Vec<u8>) {
    let w = frame.width as usize;
    let h = frame.height as usize;
    out.resize(w * h * 4, 0);
    let clamp = |v: i32| (v >> 8).clamp(0, 255) as u8;
    let pixel = |r: u8, g: u8, b: u8| if BGR { [b, g, r, 255] } else { [r, g, b, 255] };
    let cw = w.div_ceil(2);
    for (y, orow) in out.chunks_exact_mut(w * 4).enumerate().take(h) {
        let yrow = &frame.y[y * frame.stride_y..y * frame.stride_y + w];
        let c0 = (y / 2) * frame.stride_uv;
        let (urow, vrow) = (&frame.u[c0..c0 + cw], &frame.v[c0..c0 + cw]);
        // Fixed-size steps without index checks: the compiler keeps them in registers.
        let pairs = yrow.chunks_exact(2).zip(orow.chunks_exact_mut(8));
        for ((ys, px), (&u, &v)) in pairs.zip(urow.iter().zip(vrow)) {
            let d = i32::from(u) - 128;
            let e = i32::from(v) - 128;
            let (rc, gc, bc) = (409 * e + 128, -100 * d - 208 * e + 128, 516 * d + 128);
            for (yv, p) in ys.iter().zip(px.chunks_exact_mut(4)) {
                let c = 298 * (i32::from(*yv) - 16);
                p.copy_from_slice(&pixel(clamp(c + rc), clamp(c + gc), clamp(c + bc)));
            }
        }
        if w % 2 == 1 {
            // The odd last column has its own chroma sample.
            let (d, e) = (i32::from(urow[cw - 1]) - 128, i32::from(vrow[cw - 1]) - 128);
            let c = 298 * (i32::from(yrow[w - 1]) - 16);
            let q = pixel(
                clamp(c + 409 * e + 128),
                clamp(c - 100 * d - 208 * e + 128),
                clamp(c + 516 * d + 128),
            );
            orow[(w - 1) * 4..].copy_from_slice(&q);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn solid_rgb(w: usize, h: usize, rgb: [u8; 3]) -> Vec<u8> {
        rgb.iter().copied().cycle().take(w * h * 3).collect()
    }

    #[test]
    fn bgrx_is_rgba_with_red_and_blue_swapped() {
        let mut f = VideoFrame::new(4, 2);
        f.y.fill(82);
        f.u.fill(90);
        f.v.fill(240);
        let (mut rgba, mut bgrx) = (Vec::new(), Vec::new());
        i420_to_rgba(&f, &mut rgba);
        i420_to_bgrx(&f, &mut bgrx);
        assert_eq!(bgrx.len(), 4 * 2 * 4);
        for (a, b) in rgba.chunks_exact(4).zip(bgrx.chunks_exact(4)) {
            assert_eq!([a[2], a[1], a[0], a[3]], [b[0], b[1], b[2], b[3]]);
        }
        assert!(
            bgrx[2] >= 250 && bgrx[0] <= 3,
            "red pixel in B,G,R order: {:?}",
            &bgrx[..4]
        );
    }

    #[test]
    fn bt601_known_colours() {
        // White, black, pure red in limited range.
        assert_eq!(rgb_to_y(255, 255, 255), 235);
        assert_eq!(rgb_to_y(0, 0, 0), 16);
        assert_eq!(rgb_to_y(255, 0, 0), 82);
        assert_eq!(rgb_to_uv(255, 0, 0), (90, 240));
        assert_eq!(rgb_to_uv(128, 128, 128), (128, 128));
        let (r, g, b) = yuv_to_rgb(82, 90, 240);
        assert!(r >= 250 && g <= 3 && b <= 3, "{r} {g} {b}");
    }

    #[test]
    fn yuyv_fast_path_keeps_luma_and_averages_chroma() {
        // 4x2: row 0 U=100 V=200, row 1 U=110 V=210; luma = 10*x + row.
        let mut data = Vec::new();
        for row in 0..2u8 {
            for pair in 0..2u8 {
                let y0 = 20 * pair + row;
                data.extend_from_slice(&[y0, 100 + 10 * row, y0 + 10, 200 + 10 * row]);
            }
        }
        let f = Converter::new()
            .to_i420(PixelFormat::Yuyv, &data, 4, 2, 0)
            .unwrap();
        assert_eq!(&f.y[..4], &[0, 10, 20, 30]);
        assert_eq!(&f.y[4..], &[1, 11, 21, 31]);
        assert_eq!(f.u, vec![105, 105]);
        assert_eq!(f.v, vec![205, 205]);
    }

    #[test]
    fn uyvy_and_padded_stride() {
        // 2x2 UYVY with 4 bytes of row padding.
        let data = [
            50, 16, 60, 235, 0, 0, 0, 0, //
            70, 17, 80, 235, 0, 0, 0, 0,
        ];
        let f = Converter::new()
            .to_i420(PixelFormat::Uyvy, &data, 2, 2, 8)
            .unwrap();
        assert_eq!(f.y, vec![16, 235, 17, 235]);
        assert_eq!((f.u[0], f.v[0]), (60, 70));
    }

    #[test]
    fn nv12_deinterleaves() {
        let (w, h) = (4usize, 2usize);
        let mut data: Vec<u8> = (0..(w * h) as u8).collect();
        data.extend_from_slice(&[1, 2, 3, 4]);
        let f = Converter::new()
            .to_i420(PixelFormat::Nv12, &data, 4, 2, 0)
            .unwrap();
        assert_eq!(f.y, (0..8).collect::<Vec<u8>>());
        assert_eq!(f.u, vec![1, 3]);
        assert_eq!(f.v, vec![2, 4]);
    }

    #[test]
    fn rgb_and_bgra_give_same_yuv() {
        let rgb = solid_rgb(6, 4, [255, 0, 0]);
        let bgra: Vec<u8> = [0u8, 0, 255, 255]
            .iter()
            .copied()
            .cycle()
            .take(6 * 4 * 4)
            .collect();
        let mut c = Converter::new();
        let a = c.to_i420(PixelFormat::Rgb24, &rgb, 6, 4, 0).unwrap();
        let b = c.to_i420(PixelFormat::Bgra, &bgra, 6, 4, 0).unwrap();
        assert_eq!(a, b);
        assert!(a.y.iter().all(|&v| v == 82));
        assert!(a.u.iter().all(|&v| v == 90) && a.v.iter().all(|&v| v == 240));
    }

    #[test]
    fn odd_sizes_are_handled() {
        let rgb = solid_rgb(5, 3, [0, 0, 255]);
        let f = Converter::new()
            .to_i420(PixelFormat::Rgb24, &rgb, 5, 3, 0)
            .unwrap();
        assert_eq!(f.chroma_size(), (3, 2));
        assert_eq!(f.u.len(), 6);
    }

    #[test]
    fn short_buffers_are_errors_not_panics() {
        let mut c = Converter::new();
        for fmt in [
            PixelFormat::Yuyv,
            PixelFormat::Nv12,
            PixelFormat::Rgba,
            PixelFormat::I420,
        ] {
            let err = c.to_i420(fmt, &[0u8; 10], 64, 64, 0).unwrap_err();
            assert!(matches!(err, MediaError::InvalidFrame(_)), "{fmt:?}: {err}");
        }
        assert!(c
            .to_i420(PixelFormat::Mjpeg, b"not a jpeg", 64, 64, 0)
            .is_err());
    }

    #[test]
    fn mjpeg_422_goes_to_i420_without_rgb() {
        // Encode a two-colour 4:2:2 JPEG (left red, right blue) with turbojpeg, then decode.
        let (w, h) = (64usize, 32usize);
        let mut rgb = Vec::with_capacity(w * h * 3);
        for _y in 0..h {
            for x in 0..w {
                rgb.extend_from_slice(if x < w / 2 {
                    &[255, 0, 0]
                } else {
                    &[0, 0, 255]
                });
            }
        }
        let img = turbojpeg::Image {
            pixels: rgb.as_slice(),
            width: w,
            pitch: w * 3,
            height: h,
            format: turbojpeg::PixelFormat::RGB,
        };
        let jpeg = turbojpeg::compress(img, 95, turbojpeg::Subsamp::Sub2x1).unwrap();
        let f = Converter::new()
            .to_i420(PixelFormat::Mjpeg, &jpeg, 0, 0, 0)
            .unwrap();
        assert_eq!((f.width, f.height), (64, 32));
        let (y, u, v) = f.mean_yuv(4, 4, 16, 16);
        assert!(
            (y - 82.0).abs() < 4.0 && (u - 90.0).abs() < 4.0 && (v - 240.0).abs() < 4.0,
            "{y} {u} {v}"
        );
        let (y, u, v) = f.mean_yuv(44, 4, 16, 16);
        // Blue: Y 41, U 240, V 110.
        assert!(
            (y - 41.0).abs() < 4.0 && (u - 240.0).abs() < 4.0 && (v - 110.0).abs() < 4.0,
            "{y} {u} {v}"
        );
    }

    #[test]
    fn range_tables_are_inverse_enough() {
        let t = RangeTables::new();
        assert_eq!((t.y_to_limited[0], t.y_to_limited[255]), (16, 235));
        assert_eq!(
            (t.c_to_limited[0], t.c_to_limited[128], t.c_to_limited[255]),
            (16, 128, 240)
        );
        assert_eq!(
            (t.y_to_full[16], t.y_to_full[235], t.y_to_full[0]),
            (0, 255, 0)
        );
        assert_eq!(
            (t.c_to_full[16], t.c_to_full[128], t.c_to_full[240]),
            (0, 128, 255)
        );
        for i in 0..=255u8 {
            let back = t.y_to_full[usize::from(t.y_to_limited[usize::from(i)])];
            assert!((i32::from(back) - i32::from(i)).abs() <= 1, "{i} -> {back}");
        }
    }

    #[test]
    fn fast_rgba_matches_the_scalar_formula_on_odd_sizes() {
        let (w, h) = (13u32, 7u32);
        let mut f = VideoFrame::new(w, h);
        let mut x = 12345u32;
        for p in f.y.iter_mut().chain(f.u.iter_mut()).chain(f.v.iter_mut()) {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            *p = (x >> 16) as u8;
        }
        let mut out = Vec::new();
        i420_to_rgba(&f, &mut out);
        for yy in 0..h as usize {
            for xx in 0..w as usize {
                let (u, v) = f.uv_at(xx, yy);
                let (r, g, b) = yuv_to_rgb(f.y_at(xx, yy), u, v);
                let i = (yy * w as usize + xx) * 4;
                assert_eq!(&out[i..i + 4], &[r, g, b, 255], "pixel {xx},{yy}");
            }
        }
    }

    #[test]
    fn i420_to_rgba_round_trip() {
        let rgb = solid_rgb(8, 8, [10, 200, 30]);
        let f = Converter::new()
            .to_i420(PixelFormat::Rgb24, &rgb, 8, 8, 0)
            .unwrap();
        let mut out = Vec::new();
        i420_to_rgba(&f, &mut out);
        assert_eq!(out.len(), 8 * 8 * 4);
        for px in out.chunks(4) {
            assert!((i32::from(px[0]) - 10).abs() <= 3, "{px:?}");
            assert!((i32::from(px[1]) - 200).abs() <= 3, "{px:?}");
            assert!((i32::from(px[2]) - 30).abs() <= 3, "{px:?}");
            assert_eq!(px[3], 255);
        }
    }
}
