//! Frames for the web UI: I420 → JPEG (libjpeg-turbo straight from the planes, no RGB step),
//! RGBA (for `putImageData`) or packed I420 (for a WebGL shader), each with a small binary
//! header the page can parse.
//!
//! Header (16 bytes, little endian): b"R5F1", format (u8: 0 JPEG, 1 RGBA, 2 I420), 1 byte 0,
//! width (u16), height (u16), 2 bytes 0, then 4 bytes: low 32 bits of the capture time in ms.

use serde::{Deserialize, Serialize};

use crate::convert::{i420_to_rgba, RangeTables};
use crate::error::MediaError;
use crate::frame::VideoFrame;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UiFormat {
    Jpeg,
    Rgba,
    I420,
}

impl UiFormat {
    fn code(self) -> u8 {
        match self {
            UiFormat::Jpeg => 0,
            UiFormat::Rgba => 1,
            UiFormat::I420 => 2,
        }
    }
}

pub const UI_HEADER_LEN: usize = 16;

/// Converts frames for the webview, reusing buffers and the JPEG compressor.
pub struct UiFrameEncoder {
    format: UiFormat,
    quality: i32,
    jpeg: Option<turbojpeg::Compressor>,
    scratch: Vec<u8>,
    planes: [Vec<u8>; 3],
    range: RangeTables,
}

impl std::fmt::Debug for UiFrameEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UiFrameEncoder")
            .field("format", &self.format)
            .field("quality", &self.quality)
            .finish_non_exhaustive()
    }
}

impl UiFrameEncoder {
    /// `quality` applies to JPEG (1..=100; 80 is a good preview setting).
    pub fn new(format: UiFormat, quality: i32) -> Result<Self, MediaError> {
        let jpeg = if format == UiFormat::Jpeg {
            let mut c =
                turbojpeg::Compressor::new().map_err(|e| MediaError::Jpeg(e.to_string()))?;
            c.set_quality(quality.clamp(1, 100))
                .map_err(|e| MediaError::Jpeg(e.to_string()))?;
            c.set_subsamp(turbojpeg::Subsamp::Sub2x2)
                .map_err(|e| MediaError::Jpeg(e.to_string()))?;
            Some(c)
        } else {
            None
        };
        Ok(UiFrameEncoder {
            format,
            quality,
            jpeg,
            scratch: Vec::new(),
            planes: Default::default(),
            range: RangeTables::new(),
        })
    }

    pub fn format(&self) -> UiFormat {
        self.format
    }

    /// Header + payload, ready to send over a `tauri::ipc::Channel` as raw bytes.
    pub fn encode(&mut self, frame: &VideoFrame) -> Result<Vec<u8>, MediaError> {
        let w = u16::try_from(frame.width)
            .map_err(|_| MediaError::InvalidFrame("too wide for the UI".into()))?;
        let h = u16::try_from(frame.height)
            .map_err(|_| MediaError::InvalidFrame("too tall for the UI".into()))?;
        let mut out = Vec::with_capacity(UI_HEADER_LEN + frame.y.len() * 2);
        out.extend_from_slice(b"R5F1");
        out.push(self.format.code());
        out.push(0);
        out.extend_from_slice(&w.to_le_bytes());
        out.extend_from_slice(&h.to_le_bytes());
        out.extend_from_slice(&[0, 0]);
        out.extend_from_slice(&((frame.capture_time_us / 1000) as u32).to_le_bytes());
        match self.format {
            UiFormat::Jpeg => {
                let c = self
                    .jpeg
                    .as_mut()
                    .ok_or_else(|| MediaError::Jpeg("no compressor".into()))?;
                // JPEG (JFIF) is full range: expand limited-range video while copying.
                let [py, pu, pv] = &mut self.planes;
                for (dst, src, table) in [
                    (py, &frame.y, &self.range.y_to_full),
                    (pu, &frame.u, &self.range.c_to_full),
                    (pv, &frame.v, &self.range.c_to_full),
                ] {
                    dst.clear();
                    dst.extend(src.iter().map(|&p| table[usize::from(p)]));
                }
                let img = turbojpeg::YuvPlanesImage {
                    y_plane: self.planes[0].as_slice(),
                    u_plane: self.planes[1].as_slice(),
                    v_plane: self.planes[2].as_slice(),
                    width: frame.width as usize,
                    height: frame.height as usize,
                    y_stride: frame.stride_y,
                    u_stride: frame.stride_uv,
                    v_stride: frame.stride_uv,
                    subsamp: turbojpeg::Subsamp::Sub2x2,
                };
                let jpeg = c
                    .compress_yuv_planes_to_owned(&img)
                    .map_err(|e| MediaError::Jpeg(e.to_string()))?;
                out.extend_from_slice(&jpeg);
            }
            UiFormat::Rgba => {
                i420_to_rgba(frame, &mut self.scratch);
                out.extend_from_slice(&self.scratch);
            }
            UiFormat::I420 => out.extend_from_slice(&frame.to_packed_i420()),
        }
        Ok(out)
    }
}

/// Parse the header back (tests, and the shell's own checks): (format, width, height).
pub fn parse_header(data: &[u8]) -> Option<(UiFormat, u16, u16)> {
    if data.len() < UI_HEADER_LEN || &data[..4] != b"R5F1" {
        return None;
    }
    let fmt = match data[4] {
        0 => UiFormat::Jpeg,
        1 => UiFormat::Rgba,
        2 => UiFormat::I420,
        _ => return None,
    };
    Some((
        fmt,
        u16::from_le_bytes([data[6], data[7]]),
        u16::from_le_bytes([data[8], data[9]]),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::convert::{Converter, PixelFormat};
    use crate::synthetic::{read_stamp, PatternColor, TestPattern};

    #[test]
    fn jpeg_from_i420_decodes_back_with_the_stamp() {
        let f = TestPattern::new(640, 360, PatternColor::Yellow).render(77, 5);
        let mut enc = UiFrameEncoder::new(UiFormat::Jpeg, 80).unwrap();
        let bytes = enc.encode(&f).unwrap();
        assert_eq!(parse_header(&bytes), Some((UiFormat::Jpeg, 640, 360)));
        let back = Converter::new()
            .to_i420(PixelFormat::Mjpeg, &bytes[UI_HEADER_LEN..], 0, 0, 0)
            .unwrap();
        assert_eq!(read_stamp(&back).unwrap().frame_number, 77);
        assert_eq!(
            crate::synthetic::detect_color(&back),
            Some(PatternColor::Yellow)
        );
    }

    #[test]
    fn rgba_and_i420_sizes() {
        let f = TestPattern::new(64, 36, PatternColor::Red).render(0, 0);
        let mut e = UiFrameEncoder::new(UiFormat::Rgba, 0).unwrap();
        assert_eq!(e.encode(&f).unwrap().len(), UI_HEADER_LEN + 64 * 36 * 4);
        let mut e = UiFrameEncoder::new(UiFormat::I420, 0).unwrap();
        assert_eq!(e.encode(&f).unwrap().len(), UI_HEADER_LEN + 64 * 36 * 3 / 2);
        assert_eq!(parse_header(b"nope"), None);
    }
}
