//! Synthetic sources: a moving test pattern that carries a frame counter and capture time in
//! its pixels, and a sine tone generator.
//!
//! The stamp is a 12x8 grid of black/white cells in the top-left corner (96 bits: 32-bit frame
//! counter, the low 48 bits of the capture time in µs since the UNIX epoch, CRC-16). Cells are
//! sized relative to the frame (1/64 of the width, 1/36 of the height; 20x20 px at 720p) so the
//! stamp survives lossy H.264/VP8 coding and scaling by the far end; the reader samples only
//! the middle of each cell.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::convert::{rgb_to_uv, rgb_to_y};
use crate::error::MediaError;
use crate::frame::{now_unix_micros, AudioFrame, VideoFrame, AUDIO_FRAME_SAMPLES, AUDIO_RATE};
use crate::source::{AudioSource, Pacer, VideoSource};

/// Base colours the pattern can use, so a receiver can tell streams apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PatternColor {
    Red,
    Green,
    Blue,
    Yellow,
    Magenta,
    Cyan,
    Orange,
    Gray,
}

impl PatternColor {
    pub const ALL: [PatternColor; 8] = [
        PatternColor::Red,
        PatternColor::Green,
        PatternColor::Blue,
        PatternColor::Yellow,
        PatternColor::Magenta,
        PatternColor::Cyan,
        PatternColor::Orange,
        PatternColor::Gray,
    ];

    /// Mid-intensity RGB (never near black or white, so it cannot be confused with the stamp).
    pub fn rgb(self) -> (i32, i32, i32) {
        match self {
            PatternColor::Red => (200, 40, 40),
            PatternColor::Green => (40, 180, 60),
            PatternColor::Blue => (40, 70, 200),
            PatternColor::Yellow => (210, 200, 40),
            PatternColor::Magenta => (190, 50, 190),
            PatternColor::Cyan => (40, 190, 200),
            PatternColor::Orange => (230, 130, 30),
            PatternColor::Gray => (128, 128, 128),
        }
    }

    /// BT.601 limited-range (Y, U, V).
    pub fn yuv(self) -> (u8, u8, u8) {
        let (r, g, b) = self.rgb();
        let (u, v) = rgb_to_uv(r, g, b);
        (rgb_to_y(r, g, b), u, v)
    }

    pub fn name(self) -> &'static str {
        match self {
            PatternColor::Red => "red",
            PatternColor::Green => "green",
            PatternColor::Blue => "blue",
            PatternColor::Yellow => "yellow",
            PatternColor::Magenta => "magenta",
            PatternColor::Cyan => "cyan",
            PatternColor::Orange => "orange",
            PatternColor::Gray => "gray",
        }
    }

    pub fn from_name(name: &str) -> Option<PatternColor> {
        PatternColor::ALL
            .into_iter()
            .find(|c| c.name().eq_ignore_ascii_case(name))
    }
}

const COLS: usize = 12;
const ROWS: usize = 8;
const BITS: usize = COLS * ROWS;
const Y_BLACK: u8 = 16;
const Y_WHITE: u8 = 235;

/// What the stamp carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    pub frame_number: u32,
    /// Low 48 bits of the capture time in µs since the UNIX epoch.
    pub capture_time_us48: u64,
}

const MASK48: u64 = (1 << 48) - 1;

impl Stamp {
    /// Glass-to-glass latency given the receiver's wall clock (µs since the epoch). Works across
    /// the 48-bit wrap; valid for latencies under ~4 years, which is plenty.
    pub fn latency_us(&self, now_unix_us: u64) -> u64 {
        (now_unix_us & MASK48).wrapping_sub(self.capture_time_us48) & MASK48
    }

    fn to_bytes(self) -> [u8; 12] {
        let mut b = [0u8; 12];
        b[..4].copy_from_slice(&self.frame_number.to_be_bytes());
        b[4..10].copy_from_slice(&(self.capture_time_us48 & MASK48).to_be_bytes()[2..]);
        let crc = crc16(&b[..10]);
        b[10..].copy_from_slice(&crc.to_be_bytes());
        b
    }
}

/// CRC-16/CCITT-FALSE.
fn crc16(data: &[u8]) -> u16 {
    let mut crc = 0xFFFFu16;
    for &byte in data {
        crc ^= u16::from(byte) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc
}

/// Cell rectangle (x0, y0, x1, y1) in luma pixels for cell (col, row).
fn cell_rect(width: u32, height: u32, col: usize, row: usize) -> (usize, usize, usize, usize) {
    let cw = width as f32 / 64.0;
    let ch = height as f32 / 36.0;
    let x0 = ((col + 1) as f32 * cw).round() as usize;
    let x1 = ((col + 2) as f32 * cw).round() as usize;
    let y0 = ((row + 1) as f32 * ch).round() as usize;
    let y1 = ((row + 2) as f32 * ch).round() as usize;
    (x0, y0, x1, y1)
}

/// Write a stamp into the luma plane (and neutral chroma under it).
pub fn write_stamp(frame: &mut VideoFrame, stamp: Stamp) {
    let bytes = stamp.to_bytes();
    for bit in 0..BITS {
        let on = bytes[bit / 8] & (0x80 >> (bit % 8)) != 0;
        let (x0, y0, x1, y1) = cell_rect(frame.width, frame.height, bit % COLS, bit / COLS);
        let val = if on { Y_WHITE } else { Y_BLACK };
        for y in y0..y1.min(frame.height as usize) {
            let row = &mut frame.y[y * frame.stride_y..];
            row[x0..x1.min(frame.width as usize)].fill(val);
        }
    }
    // Neutral chroma over the whole stamp area so colour bleeding cannot shift luma decisions.
    let (sx0, sy0, _, _) = cell_rect(frame.width, frame.height, 0, 0);
    let (_, _, sx1, sy1) = cell_rect(frame.width, frame.height, COLS - 1, ROWS - 1);
    let (cw, chh) = frame.chroma_size();
    for cy in sy0 / 2..sy1.div_ceil(2).min(chh) {
        for cx in sx0 / 2..sx1.div_ceil(2).min(cw) {
            frame.u[cy * frame.stride_uv + cx] = 128;
            frame.v[cy * frame.stride_uv + cx] = 128;
        }
    }
}

/// Read a stamp back (after any amount of lossy coding). `None` when the CRC does not match,
/// e.g. on a frame that does not carry a stamp.
pub fn read_stamp(frame: &VideoFrame) -> Option<Stamp> {
    if frame.width < 64 || frame.height < 36 {
        return None;
    }
    let mut bytes = [0u8; 12];
    for bit in 0..BITS {
        let (x0, y0, x1, y1) = cell_rect(frame.width, frame.height, bit % COLS, bit / COLS);
        // Middle half of the cell only.
        let (w, h) = (x1 - x0, y1 - y0);
        let (mx0, my0) = (x0 + w / 4, y0 + h / 4);
        let (mw, mh) = ((w / 2).max(1), (h / 2).max(1));
        let mut sum = 0u32;
        for y in my0..my0 + mh {
            for x in mx0..mx0 + mw {
                sum += u32::from(frame.y_at(x, y));
            }
        }
        let mean = sum / (mw * mh) as u32;
        if mean > u32::from(Y_BLACK + Y_WHITE) / 2 {
            bytes[bit / 8] |= 0x80 >> (bit % 8);
        }
    }
    let crc = u16::from_be_bytes([bytes[10], bytes[11]]);
    if crc16(&bytes[..10]) != crc {
        return None;
    }
    let mut t = [0u8; 8];
    t[2..].copy_from_slice(&bytes[4..10]);
    Some(Stamp {
        frame_number: u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]),
        capture_time_us48: u64::from_be_bytes(t),
    })
}

/// The reference patch (bottom right) that only ever shows the base colour.
fn colour_patch(width: u32, height: u32) -> (usize, usize, usize, usize) {
    let (w, h) = (width as usize, height as usize);
    (w * 3 / 4, h * 4 / 5, w / 5, h / 8)
}

/// Which base colour a (possibly decoded) pattern frame shows: the nearest one in YUV, if it is
/// reasonably close.
pub fn detect_color(frame: &VideoFrame) -> Option<PatternColor> {
    let (x, y, w, h) = colour_patch(frame.width, frame.height);
    let (my, mu, mv) = frame.mean_yuv(x, y, w, h);
    let mut best: Option<(PatternColor, f32)> = None;
    for c in PatternColor::ALL {
        let (cy, cu, cv) = c.yuv();
        let d = (my - f32::from(cy)).powi(2)
            + (mu - f32::from(cu)).powi(2)
            + (mv - f32::from(cv)).powi(2);
        if best.is_none_or(|(_, bd)| d < bd) {
            best = Some((c, d));
        }
    }
    best.filter(|(_, d)| d.sqrt() < 30.0).map(|(c, _)| c)
}

/// Draws the moving pattern.
#[derive(Debug, Clone)]
pub struct TestPattern {
    pub width: u32,
    pub height: u32,
    pub color: PatternColor,
}

impl TestPattern {
    pub fn new(width: u32, height: u32, color: PatternColor) -> Self {
        TestPattern {
            width,
            height,
            color,
        }
    }

    /// Render frame `n` with the given capture time into `frame` (resized if needed).
    pub fn render_into(&self, n: u32, capture_time_us: u64, frame: &mut VideoFrame) {
        if frame.width != self.width || frame.height != self.height {
            *frame = VideoFrame::new(self.width, self.height);
        }
        let (w, h) = (self.width as usize, self.height as usize);
        let (by, bu, bv) = self.color.yuv();
        frame.y.fill(by);
        frame.u.fill(bu);
        frame.v.fill(bv);
        // A soft horizontal luma ramp over the middle third gives the encoder real texture.
        for y in h / 3..h * 2 / 3 {
            let row = &mut frame.y[y * frame.stride_y..y * frame.stride_y + w];
            for (x, p) in row.iter_mut().enumerate() {
                let ramp = ((x * 40) / w.max(1)) as i32 - 20;
                *p = (i32::from(by) + ramp).clamp(16, 235) as u8;
            }
        }
        // A white box that moves one width every 3 s at 30 fps.
        let size = (h / 6).max(2);
        let span = w.saturating_sub(size).max(1);
        let travel = (n as usize * w / 90) % (2 * span);
        let bx = if travel < span {
            travel
        } else {
            2 * span - travel
        };
        let by0 = h * 9 / 20;
        for y in by0..(by0 + size).min(h) {
            frame.y[y * frame.stride_y + bx..y * frame.stride_y + (bx + size).min(w)].fill(Y_WHITE);
        }
        for cy in by0 / 2..((by0 + size) / 2).min(h.div_ceil(2)) {
            for cx in bx / 2..((bx + size) / 2).min(w.div_ceil(2)) {
                frame.u[cy * frame.stride_uv + cx] = 128;
                frame.v[cy * frame.stride_uv + cx] = 128;
            }
        }
        write_stamp(
            frame,
            Stamp {
                frame_number: n,
                capture_time_us48: capture_time_us & MASK48,
            },
        );
    }

    /// Render a new frame.
    pub fn render(&self, n: u32, capture_time_us: u64) -> VideoFrame {
        let mut f = VideoFrame::new(self.width, self.height);
        self.render_into(n, capture_time_us, &mut f);
        f
    }
}

/// A [`VideoSource`] producing the moving pattern at a fixed frame rate.
#[derive(Debug)]
pub struct TestPatternSource {
    pattern: TestPattern,
    fps: u32,
    n: u32,
    pacer: Option<Pacer>,
}

impl TestPatternSource {
    /// `paced`: deliver in real time (for live publishing) or as fast as asked (tests, benches).
    pub fn new(
        width: u32,
        height: u32,
        fps: u32,
        color: PatternColor,
        paced: bool,
    ) -> Result<Self, MediaError> {
        if width < 64 || height < 36 || fps == 0 {
            return Err(MediaError::UnsupportedFormat(format!(
                "test pattern needs at least 64x36 at 1 fps, not {width}x{height} at {fps} fps"
            )));
        }
        Ok(TestPatternSource {
            pattern: TestPattern::new(width, height, color),
            fps,
            n: 0,
            pacer: paced.then(|| Pacer::new(Duration::from_secs(1) / fps)),
        })
    }
}

impl VideoSource for TestPatternSource {
    fn name(&self) -> String {
        format!("Test pattern ({})", self.pattern.color.name())
    }

    fn format(&self) -> (u32, u32, u32) {
        (self.pattern.width, self.pattern.height, self.fps)
    }

    fn next_frame(&mut self) -> Result<VideoFrame, MediaError> {
        if let Some(p) = &mut self.pacer {
            p.wait();
        }
        let now = now_unix_micros();
        let mut f = self.pattern.render(self.n, now);
        f.timestamp = Duration::from_secs(u64::from(self.n)) / self.fps;
        f.capture_time_us = now;
        self.n = self.n.wrapping_add(1);
        Ok(f)
    }
}

/// Sine generator producing 20 ms frames at 48 kHz.
#[derive(Debug)]
pub struct ToneSource {
    freq: f32,
    amplitude: f32,
    channels: u16,
    phase: f64,
    n: u64,
    pacer: Option<Pacer>,
}

impl ToneSource {
    pub fn new(freq: f32, amplitude: f32, channels: u16, paced: bool) -> Result<Self, MediaError> {
        if !(1.0..24_000.0).contains(&freq) || channels == 0 {
            return Err(MediaError::UnsupportedFormat(format!(
                "a tone needs 1 Hz..24 kHz and at least one channel, not {freq} Hz"
            )));
        }
        Ok(ToneSource {
            freq,
            amplitude: amplitude.clamp(0.0, 1.0),
            channels,
            phase: 0.0,
            n: 0,
            pacer: paced.then(|| Pacer::new(Duration::from_millis(20))),
        })
    }
}

impl AudioSource for ToneSource {
    fn name(&self) -> String {
        format!("Tone {} Hz", self.freq)
    }

    fn channels(&self) -> u16 {
        self.channels
    }

    fn next_frame(&mut self) -> Result<AudioFrame, MediaError> {
        if let Some(p) = &mut self.pacer {
            p.wait();
        }
        let ch = usize::from(self.channels);
        let mut samples = Vec::with_capacity(AUDIO_FRAME_SAMPLES * ch);
        let step = 2.0 * std::f64::consts::PI * f64::from(self.freq) / f64::from(AUDIO_RATE);
        for _ in 0..AUDIO_FRAME_SAMPLES {
            let s = (self.phase.sin() as f32) * self.amplitude;
            samples.extend(std::iter::repeat_n(s, ch));
            self.phase = (self.phase + step) % (2.0 * std::f64::consts::PI);
        }
        let timestamp = Duration::from_millis(20 * self.n);
        self.n += 1;
        Ok(AudioFrame {
            samples,
            channels: self.channels,
            sample_rate: AUDIO_RATE,
            timestamp,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::dominant_frequency;

    #[test]
    fn stamp_round_trips_on_raw_frames() {
        for (w, h) in [(1280, 720), (640, 360), (1920, 1080), (320, 240)] {
            let p = TestPattern::new(w, h, PatternColor::Blue);
            let t = 0x1234_5678_9abc_u64;
            let f = p.render(4_000_000_123, t);
            let s = read_stamp(&f).expect("stamp");
            assert_eq!(s.frame_number, 4_000_000_123);
            assert_eq!(s.capture_time_us48, t);
            assert_eq!(detect_color(&f), Some(PatternColor::Blue));
        }
    }

    #[test]
    fn corrupted_stamp_is_rejected() {
        let p = TestPattern::new(640, 360, PatternColor::Red);
        let mut f = p.render(7, 99);
        // Flip one cell.
        let (x0, y0, x1, y1) = cell_rect(640, 360, 3, 0);
        let v = if f.y_at(x0 + 2, y0 + 2) > 128 {
            Y_BLACK
        } else {
            Y_WHITE
        };
        for y in y0..y1 {
            for x in x0..x1 {
                f.y[y * f.stride_y + x] = v;
            }
        }
        assert_eq!(read_stamp(&f), None);
        assert_eq!(read_stamp(&VideoFrame::new(640, 360)), None);
    }

    #[test]
    fn stamp_survives_noise_and_blur() {
        let p = TestPattern::new(640, 360, PatternColor::Green);
        let mut f = p.render(42, 1_000_000);
        // +-40 pseudo-random luma noise: far worse than an encoder at sane bitrates.
        let mut x = 0x9e37_79b9u32;
        for px in f.y.iter_mut() {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            *px = (i32::from(*px) + (x % 81) as i32 - 40).clamp(0, 255) as u8;
        }
        assert_eq!(read_stamp(&f).map(|s| s.frame_number), Some(42));
    }

    #[test]
    fn stamp_survives_the_far_end_scaling_the_video_down() {
        // Browsers and SFUs scale video (e.g. 1280x720 sent, 640x360 received).
        let big = TestPattern::new(1280, 720, PatternColor::Blue).render(123_456, 42);
        let mut small = VideoFrame::new(640, 360);
        for y in 0..360 {
            for x in 0..640 {
                let s: u32 = [(0, 0), (1, 0), (0, 1), (1, 1)]
                    .iter()
                    .map(|(dx, dy)| u32::from(big.y_at(2 * x + dx, 2 * y + dy)))
                    .sum();
                small.y[y * small.stride_y + x] = ((s + 2) / 4) as u8;
            }
        }
        for (dst, src) in [(&mut small.u, &big.u), (&mut small.v, &big.v)] {
            for y in 0..180 {
                for x in 0..320 {
                    dst[y * 320 + x] = src[(2 * y) * 640 + 2 * x];
                }
            }
        }
        let s = read_stamp(&small).unwrap();
        assert_eq!((s.frame_number, s.capture_time_us48), (123_456, 42));
        assert_eq!(detect_color(&small), Some(PatternColor::Blue));
    }

    #[test]
    fn latency_wraps() {
        let s = Stamp {
            frame_number: 0,
            capture_time_us48: MASK48 - 10,
        };
        assert_eq!(s.latency_us((1 << 48) + 5), 16);
        let s = Stamp {
            frame_number: 0,
            capture_time_us48: 1000 & MASK48,
        };
        assert_eq!(s.latency_us(1_080), 80);
    }

    #[test]
    fn pattern_moves_and_colours_differ() {
        let p = TestPattern::new(320, 180, PatternColor::Orange);
        let a = p.render(0, 0);
        let b = p.render(10, 0);
        let band = |f: &VideoFrame| f.y[(180 * 9 / 20 + 2) * f.stride_y..][..320].to_vec();
        assert_ne!(band(&a), band(&b));
        let colours: std::collections::HashSet<_> =
            PatternColor::ALL.iter().map(|c| c.yuv()).collect();
        assert_eq!(colours.len(), PatternColor::ALL.len());
        for c in PatternColor::ALL {
            assert_eq!(
                detect_color(&TestPattern::new(320, 180, c).render(5, 0)),
                Some(c)
            );
            assert_eq!(PatternColor::from_name(c.name()), Some(c));
        }
    }

    #[test]
    fn pattern_source_counts_frames() {
        let mut s = TestPatternSource::new(320, 180, 30, PatternColor::Cyan, false).unwrap();
        for n in 0..3 {
            let f = s.next_frame().unwrap();
            assert_eq!(read_stamp(&f).unwrap().frame_number, n);
            assert_eq!(f.timestamp, Duration::from_secs(u64::from(n)) / 30);
        }
        assert!(TestPatternSource::new(10, 10, 30, PatternColor::Cyan, false).is_err());
    }

    #[test]
    fn tone_source() {
        let mut t = ToneSource::new(440.0, 0.5, 2, false).unwrap();
        let mut mono = Vec::new();
        for _ in 0..10 {
            let f = t.next_frame().unwrap();
            assert_eq!(f.samples.len(), 1920);
            mono.extend(f.samples.iter().step_by(2));
        }
        let f = dominant_frequency(&mono, 48_000);
        assert!((f - 440.0).abs() <= 2.0, "{f}");
        assert!(ToneSource::new(0.0, 0.5, 1, false).is_err());
    }
}
