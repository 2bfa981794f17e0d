//! Raw media types passed between sources, codecs and playout.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::error::MediaError;

/// The one internal audio rate: Opus and WebRTC run at 48 kHz.
pub const AUDIO_RATE: u32 = 48_000;
/// Samples per channel in one 20 ms audio frame at 48 kHz.
pub const AUDIO_FRAME_SAMPLES: usize = 960;
/// RTP clock of every video codec used here.
pub const VIDEO_CLOCK: u32 = 90_000;

/// Microseconds since the UNIX epoch, the unit of capture timestamps.
pub fn now_unix_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

/// A planar 4:2:0 frame (I420: Y plane, then U, then V). Chroma planes are
/// `ceil(width/2) x ceil(height/2)`. Strides may exceed the visible width.
#[derive(Clone, PartialEq, Eq)]
pub struct VideoFrame {
    pub width: u32,
    pub height: u32,
    pub y: Vec<u8>,
    pub u: Vec<u8>,
    pub v: Vec<u8>,
    pub stride_y: usize,
    pub stride_uv: usize,
    /// Media time since the source started (drives RTP timestamps).
    pub timestamp: Duration,
    /// Wall-clock capture time in microseconds since the UNIX epoch (for latency figures).
    pub capture_time_us: u64,
}

impl std::fmt::Debug for VideoFrame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VideoFrame")
            .field("width", &self.width)
            .field("height", &self.height)
            .field("stride_y", &self.stride_y)
            .field("stride_uv", &self.stride_uv)
            .field("timestamp", &self.timestamp)
            .finish_non_exhaustive()
    }
}

impl VideoFrame {
    /// A black frame with tight strides.
    pub fn new(width: u32, height: u32) -> Self {
        let (cw, ch) = chroma_size(width, height);
        let w = width as usize;
        let h = height as usize;
        VideoFrame {
            width,
            height,
            y: vec![16; w * h],
            u: vec![128; cw * ch],
            v: vec![128; cw * ch],
            stride_y: w,
            stride_uv: cw,
            timestamp: Duration::ZERO,
            capture_time_us: 0,
        }
    }

    /// Wrap existing planes, checking that they are large enough for the strides.
    #[allow(clippy::too_many_arguments)]
    pub fn from_planes(
        width: u32,
        height: u32,
        y: Vec<u8>,
        stride_y: usize,
        u: Vec<u8>,
        v: Vec<u8>,
        stride_uv: usize,
    ) -> Result<Self, MediaError> {
        let (cw, ch) = chroma_size(width, height);
        let w = width as usize;
        let h = height as usize;
        if width == 0 || height == 0 {
            return Err(MediaError::InvalidFrame("the frame has no pixels".into()));
        }
        if stride_y < w || stride_uv < cw {
            return Err(MediaError::InvalidFrame(format!(
                "stride smaller than the width ({stride_y}/{stride_uv} for {width}x{height})"
            )));
        }
        let need_y = stride_y * (h - 1) + w;
        let need_c = stride_uv * (ch - 1) + cw;
        if y.len() < need_y || u.len() < need_c || v.len() < need_c {
            return Err(MediaError::InvalidFrame(format!(
                "planes too small for {width}x{height}"
            )));
        }
        Ok(VideoFrame {
            width,
            height,
            y,
            u,
            v,
            stride_y,
            stride_uv,
            timestamp: Duration::ZERO,
            capture_time_us: 0,
        })
    }

    /// Chroma plane size `(width, height)`.
    pub fn chroma_size(&self) -> (usize, usize) {
        chroma_size(self.width, self.height)
    }

    /// Luma value at a pixel.
    pub fn y_at(&self, x: usize, y: usize) -> u8 {
        self.y[y * self.stride_y + x]
    }

    /// Chroma `(u, v)` at a luma pixel position.
    pub fn uv_at(&self, x: usize, y: usize) -> (u8, u8) {
        let i = (y / 2) * self.stride_uv + x / 2;
        (self.u[i], self.v[i])
    }

    /// Mean (Y, U, V) over a rectangle in luma coordinates (clipped to the frame).
    pub fn mean_yuv(&self, x0: usize, y0: usize, w: usize, h: usize) -> (f32, f32, f32) {
        let x1 = (x0 + w).min(self.width as usize);
        let y1 = (y0 + h).min(self.height as usize);
        let (mut sy, mut su, mut sv, mut n) = (0u64, 0u64, 0u64, 0u64);
        for yy in y0..y1 {
            for xx in x0..x1 {
                sy += u64::from(self.y_at(xx, yy));
                let (u, v) = self.uv_at(xx, yy);
                su += u64::from(u);
                sv += u64::from(v);
                n += 1;
            }
        }
        if n == 0 {
            return (0.0, 0.0, 0.0);
        }
        let n = n as f32;
        (sy as f32 / n, su as f32 / n, sv as f32 / n)
    }

    /// Copy into tightly packed I420 bytes (Y, U, V back to back).
    pub fn to_packed_i420(&self) -> Vec<u8> {
        let w = self.width as usize;
        let h = self.height as usize;
        let (cw, ch) = self.chroma_size();
        let mut out = Vec::with_capacity(w * h + 2 * cw * ch);
        for row in 0..h {
            out.extend_from_slice(&self.y[row * self.stride_y..row * self.stride_y + w]);
        }
        for plane in [&self.u, &self.v] {
            for row in 0..ch {
                out.extend_from_slice(&plane[row * self.stride_uv..row * self.stride_uv + cw]);
            }
        }
        out
    }

    /// Build from tightly packed I420 bytes.
    pub fn from_packed_i420(width: u32, height: u32, data: &[u8]) -> Result<Self, MediaError> {
        let w = width as usize;
        let h = height as usize;
        let (cw, ch) = chroma_size(width, height);
        let need = w * h + 2 * cw * ch;
        if data.len() < need || w == 0 || h == 0 {
            return Err(MediaError::InvalidFrame(format!(
                "{} bytes is not an I420 frame of {width}x{height} ({need} bytes)",
                data.len()
            )));
        }
        let (y, rest) = data.split_at(w * h);
        let (u, v) = rest.split_at(cw * ch);
        VideoFrame::from_planes(
            width,
            height,
            y.to_vec(),
            w,
            u.to_vec(),
            v[..cw * ch].to_vec(),
            cw,
        )
    }
}

/// Chroma plane size for 4:2:0.
pub fn chroma_size(width: u32, height: u32) -> (usize, usize) {
    (width.div_ceil(2) as usize, height.div_ceil(2) as usize)
}

/// Interleaved f32 PCM in [-1, 1].
#[derive(Debug, Clone, PartialEq)]
pub struct AudioFrame {
    /// Interleaved samples (`frames * channels`).
    pub samples: Vec<f32>,
    pub channels: u16,
    pub sample_rate: u32,
    /// Media time of the first sample since the source started.
    pub timestamp: Duration,
}

impl AudioFrame {
    /// Samples per channel.
    pub fn frames(&self) -> usize {
        if self.channels == 0 {
            0
        } else {
            self.samples.len() / usize::from(self.channels)
        }
    }

    /// Duration of the frame.
    pub fn duration(&self) -> Duration {
        if self.sample_rate == 0 {
            return Duration::ZERO;
        }
        Duration::from_secs_f64(self.frames() as f64 / f64::from(self.sample_rate))
    }
}

/// User + system CPU time of this process (getrusage), for CPU-share measurements.
pub fn process_cpu_time() -> Option<Duration> {
    crate::ffi::rusage::process_cpu_time()
}
