//! Source traits and selection of a source by id (devices, synthetic sources, files).
//!
//! Sources are pull-based and blocking: a session runs each on its own thread and calls
//! `next_frame` in a loop. Paced sources block until the next frame is due.

use std::time::{Duration, Instant};

use crate::devices::{DeviceInfo, DeviceKind};
use crate::error::MediaError;
use crate::frame::{AudioFrame, VideoFrame};
use crate::synthetic::{PatternColor, TestPatternSource, ToneSource};

/// A video source delivering I420 frames.
pub trait VideoSource: Send {
    /// Human-readable name for the UI.
    fn name(&self) -> String;
    /// (width, height, frames per second) currently delivered.
    fn format(&self) -> (u32, u32, u32);
    /// Next frame; blocks until it is available. `Err(MediaError::SourceEnded)` at the end of a
    /// file, `Err(MediaError::CameraDisappeared(_))` when the device goes away.
    fn next_frame(&mut self) -> Result<VideoFrame, MediaError>;
}

/// An audio source delivering 20 ms frames of 48 kHz f32 PCM.
pub trait AudioSource: Send {
    fn name(&self) -> String;
    /// Channel count of the delivered frames.
    fn channels(&self) -> u16;
    /// Next 20 ms frame; blocks until it is available.
    fn next_frame(&mut self) -> Result<AudioFrame, MediaError>;
}

impl VideoSource for Box<dyn VideoSource> {
    fn name(&self) -> String {
        (**self).name()
    }
    fn format(&self) -> (u32, u32, u32) {
        (**self).format()
    }
    fn next_frame(&mut self) -> Result<VideoFrame, MediaError> {
        (**self).next_frame()
    }
}

impl AudioSource for Box<dyn AudioSource> {
    fn name(&self) -> String {
        (**self).name()
    }
    fn channels(&self) -> u16 {
        (**self).channels()
    }
    fn next_frame(&mut self) -> Result<AudioFrame, MediaError> {
        (**self).next_frame()
    }
}

/// Real-time pacing against a fixed schedule (no drift: deadlines are start + n * period).
#[derive(Debug)]
pub struct Pacer {
    period: Duration,
    start: Option<Instant>,
    n: u32,
}

impl Pacer {
    pub fn new(period: Duration) -> Self {
        Pacer {
            period,
            start: None,
            n: 0,
        }
    }

    /// Block until the next tick is due. The first call returns at once.
    pub fn wait(&mut self) {
        let start = *self.start.get_or_insert_with(Instant::now);
        let due = start + self.period * self.n;
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        } else if now - due > self.period * 5 {
            // Far behind (machine was suspended or overloaded): restart the schedule rather
            // than bursting frames.
            self.start = Some(now);
            self.n = 0;
        }
        self.n = self.n.saturating_add(1);
    }
}

/// What the caller wants from a video source; devices pick the closest they support.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct VideoSettings {
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    /// Preferred camera pixel format (None = let the camera choose, MJPEG preferred above 480p).
    pub format: Option<crate::convert::PixelFormat>,
}

impl Default for VideoSettings {
    fn default() -> Self {
        VideoSettings {
            width: 1280,
            height: 720,
            fps: 30,
            format: None,
        }
    }
}

/// Id prefix of the synthetic pattern: `synthetic:pattern` or `synthetic:pattern:<colour>`.
pub const PATTERN_ID: &str = "synthetic:pattern";
/// Id prefix of the tone: `synthetic:tone` or `synthetic:tone:<hz>`.
pub const TONE_ID: &str = "synthetic:tone";
/// Id prefix of file sources: `file:<path to .y4m or .wav>`.
pub const FILE_ID: &str = "file:";

/// The synthetic entries to show next to real devices in pickers.
pub fn synthetic_devices() -> Vec<DeviceInfo> {
    let mut v: Vec<DeviceInfo> = PatternColor::ALL
        .iter()
        .map(|c| DeviceInfo {
            id: format!("{PATTERN_ID}:{}", c.name()),
            name: format!("Test pattern ({})", c.name()),
            kind: DeviceKind::Camera,
            is_default: false,
        })
        .collect();
    for hz in [440, 1000] {
        v.push(DeviceInfo {
            id: format!("{TONE_ID}:{hz}"),
            name: format!("Test tone ({hz} Hz)"),
            kind: DeviceKind::Microphone,
            is_default: false,
        });
    }
    v
}

/// Open a video source by id: a camera id from [`crate::cameras`], a synthetic pattern id or a
/// `file:` id. `None` = the default camera.
pub fn open_video_source(
    id: Option<&str>,
    settings: &VideoSettings,
) -> Result<Box<dyn VideoSource>, MediaError> {
    match id {
        Some(id) if id.starts_with(PATTERN_ID) => {
            let color = match id[PATTERN_ID.len()..].strip_prefix(':') {
                None | Some("") => PatternColor::Blue,
                Some(name) => PatternColor::from_name(name).ok_or_else(|| {
                    MediaError::UnsupportedFormat(format!("unknown pattern colour '{name}'"))
                })?,
            };
            Ok(Box::new(TestPatternSource::new(
                settings.width,
                settings.height,
                settings.fps,
                color,
                true,
            )?))
        }
        Some(id) if id.starts_with(FILE_ID) => Ok(Box::new(crate::file::Y4mSource::open(
            &id[FILE_ID.len()..],
            true,
            true,
        )?)),
        other => Ok(Box::new(crate::camera::CameraSource::open(
            other, settings,
        )?)),
    }
}

/// Open an audio source by id: a microphone id from [`crate::microphones`], a tone id or a
/// `file:` id. `None` = the default microphone. `channels` is the wanted output channel count.
pub fn open_audio_source(
    id: Option<&str>,
    channels: u16,
) -> Result<Box<dyn AudioSource>, MediaError> {
    match id {
        Some(id) if id.starts_with(TONE_ID) => {
            let hz = match id[TONE_ID.len()..].strip_prefix(':') {
                None | Some("") => 440.0,
                Some(v) => v.parse::<f32>().map_err(|_| {
                    MediaError::UnsupportedFormat(format!("'{v}' is not a tone frequency in Hz"))
                })?,
            };
            Ok(Box::new(ToneSource::new(hz, 0.5, channels, true)?))
        }
        Some(id) if id.starts_with(FILE_ID) => Ok(Box::new(crate::file::WavSource::open(
            &id[FILE_ID.len()..],
            channels,
            true,
            true,
        )?)),
        other => Ok(Box::new(crate::mic::MicrophoneSource::open(
            other, channels,
        )?)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pacer_keeps_schedule() {
        let mut p = Pacer::new(Duration::from_millis(5));
        let t0 = Instant::now();
        for _ in 0..5 {
            p.wait();
        }
        // Four full periods must have elapsed (the first tick is immediate).
        assert!(t0.elapsed() >= Duration::from_millis(20));
    }

    #[test]
    fn synthetic_ids_open() {
        let s = VideoSettings {
            width: 320,
            height: 180,
            fps: 15,
            format: None,
        };
        let mut v = open_video_source(Some("synthetic:pattern:green"), &s).unwrap();
        assert_eq!(v.format(), (320, 180, 15));
        let f = v.next_frame().unwrap();
        assert_eq!(
            crate::synthetic::detect_color(&f),
            Some(PatternColor::Green)
        );
        assert!(open_video_source(Some("synthetic:pattern:plaid"), &s).is_err());
        let mut a = open_audio_source(Some("synthetic:tone:1000"), 1).unwrap();
        assert_eq!(a.next_frame().unwrap().samples.len(), 960);
        assert!(open_audio_source(Some("synthetic:tone:loud"), 1).is_err());
        assert!(synthetic_devices()
            .iter()
            .any(|d| d.id == "synthetic:pattern:red"));
    }
}
