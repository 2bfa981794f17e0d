//! Camera capture through nokhwa (V4L2 on Linux), delivering I420.
//!
//! nokhwa's `Camera` is not `Send`, so each open camera lives on its own capture thread, which
//! converts frames (MJPEG/YUYV/NV12/... straight to I420) and hands them over a small channel.

use std::sync::mpsc::{self, Receiver, SyncSender};
use std::thread::JoinHandle;

use nokhwa::pixel_format::RgbFormat;
use nokhwa::utils::{
    CameraFormat, CameraIndex, FrameFormat, RequestedFormat, RequestedFormatType, Resolution,
};
use serde::{Deserialize, Serialize};

use crate::convert::{Converter, PixelFormat};
use crate::devices::{cameras, DeviceInfo, CAMERA_ID_PREFIX};
use crate::error::MediaError;
use crate::frame::{now_unix_micros, VideoFrame};
use crate::source::{VideoSettings, VideoSource};

/// One capture mode a camera offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CameraMode {
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    pub format: PixelFormat,
}

fn to_pixel_format(f: FrameFormat) -> PixelFormat {
    match f {
        FrameFormat::MJPEG => PixelFormat::Mjpeg,
        FrameFormat::YUYV => PixelFormat::Yuyv,
        FrameFormat::NV12 => PixelFormat::Nv12,
        FrameFormat::GRAY => PixelFormat::Gray,
        FrameFormat::RAWRGB => PixelFormat::Rgb24,
        FrameFormat::RAWBGR => PixelFormat::Bgr24,
    }
}

/// Choose the mode closest to what was asked: exact size first, then frame rate, then format
/// (the asked one, else MJPEG for sizes above 640x480 because raw YUYV rarely reaches 30 fps
/// there over USB 2, else YUYV/NV12 which need no decoding).
pub fn choose_mode(modes: &[CameraMode], want: &VideoSettings) -> Option<CameraMode> {
    let area = |m: &CameraMode| i64::from(m.width) * i64::from(m.height);
    let want_area = i64::from(want.width) * i64::from(want.height);
    modes.iter().copied().min_by_key(|m| {
        let size_cost = (area(m) - want_area).abs() / 1000;
        let fps_cost = if m.fps >= want.fps {
            i64::from(m.fps - want.fps)
        } else {
            10 * i64::from(want.fps - m.fps)
        };
        let fmt_cost = match (want.format, m.format) {
            (Some(f), g) if f == g => 0,
            (Some(_), _) => 3,
            (None, PixelFormat::Mjpeg) if want_area > 640 * 480 => 0,
            (None, PixelFormat::Yuyv | PixelFormat::Nv12) => 1,
            (None, PixelFormat::Mjpeg) => 2,
            (None, _) => 4,
        };
        (size_cost, fps_cost, fmt_cost)
    })
}

fn camera_index(id: &str) -> CameraIndex {
    let raw = id.strip_prefix(CAMERA_ID_PREFIX).unwrap_or(id);
    match raw.parse::<u32>() {
        Ok(n) => CameraIndex::Index(n),
        Err(_) => CameraIndex::String(raw.to_owned()),
    }
}

fn find_camera(id: Option<&str>) -> Result<DeviceInfo, MediaError> {
    let list = cameras()?;
    match id {
        None => list.into_iter().next().ok_or(MediaError::NoCamera),
        Some(id) => list
            .into_iter()
            .find(|c| c.id == id)
            .ok_or_else(|| MediaError::CameraNotFound(id.to_owned())),
    }
}

fn open_camera(info: &DeviceInfo) -> Result<nokhwa::Camera, MediaError> {
    nokhwa::Camera::new(
        camera_index(&info.id),
        RequestedFormat::new::<RgbFormat>(RequestedFormatType::None),
    )
    .map_err(|e| MediaError::CameraOpen {
        name: info.name.clone(),
        reason: e.to_string(),
    })
}

fn list_modes(cam: &mut nokhwa::Camera, name: &str) -> Result<Vec<CameraMode>, MediaError> {
    let formats = cam
        .compatible_camera_formats()
        .map_err(|e| MediaError::CameraOpen {
            name: name.to_owned(),
            reason: e.to_string(),
        })?;
    Ok(formats
        .into_iter()
        .map(|f| CameraMode {
            width: f.width(),
            height: f.height(),
            fps: f.frame_rate(),
            format: to_pixel_format(f.format()),
        })
        .collect())
}

/// The capture modes of a camera (`None` = default camera).
pub fn camera_modes(id: Option<&str>) -> Result<Vec<CameraMode>, MediaError> {
    let info = find_camera(id)?;
    let mut cam = open_camera(&info)?;
    list_modes(&mut cam, &info.name)
}

/// A running camera.
pub struct CameraSource {
    name: String,
    mode: CameraMode,
    frames: Receiver<Result<VideoFrame, MediaError>>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for CameraSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CameraSource")
            .field("name", &self.name)
            .field("mode", &self.mode)
            .finish_non_exhaustive()
    }
}

impl CameraSource {
    /// Open a camera (`None` = the default one) in the mode closest to `settings`.
    pub fn open(id: Option<&str>, settings: &VideoSettings) -> Result<Self, MediaError> {
        let info = find_camera(id)?;
        let (ready_tx, ready_rx) = mpsc::sync_channel::<Result<CameraMode, MediaError>>(1);
        let (frame_tx, frame_rx) = mpsc::sync_channel(2);
        let settings = *settings;
        let thread_info = info.clone();
        let thread = std::thread::Builder::new()
            .name(format!("camera {}", info.id))
            .spawn(move || capture_thread(thread_info, settings, ready_tx, frame_tx))
            .map_err(|e| MediaError::CameraOpen {
                name: info.name.clone(),
                reason: e.to_string(),
            })?;
        let mode = match ready_rx.recv() {
            Ok(Ok(mode)) => mode,
            Ok(Err(e)) => return Err(e),
            Err(_) => return Err(MediaError::CameraDisappeared(info.name)),
        };
        Ok(CameraSource {
            name: info.name,
            mode,
            frames: frame_rx,
            thread: Some(thread),
        })
    }

    pub fn mode(&self) -> CameraMode {
        self.mode
    }
}

fn capture_thread(
    info: DeviceInfo,
    settings: VideoSettings,
    ready: SyncSender<Result<CameraMode, MediaError>>,
    frames: SyncSender<Result<VideoFrame, MediaError>>,
) {
    let setup = (|| {
        let mut cam = open_camera(&info)?;
        let modes = list_modes(&mut cam, &info.name)?;
        let mode = choose_mode(&modes, &settings).ok_or_else(|| MediaError::CameraOpen {
            name: info.name.clone(),
            reason: "the camera reports no usable capture mode".into(),
        })?;
        let fourcc = match mode.format {
            PixelFormat::Mjpeg => FrameFormat::MJPEG,
            PixelFormat::Yuyv => FrameFormat::YUYV,
            PixelFormat::Nv12 => FrameFormat::NV12,
            PixelFormat::Gray => FrameFormat::GRAY,
            PixelFormat::Bgr24 => FrameFormat::RAWBGR,
            _ => FrameFormat::RAWRGB,
        };
        let fmt = CameraFormat::new(Resolution::new(mode.width, mode.height), fourcc, mode.fps);
        let open_err = |e: nokhwa::NokhwaError| MediaError::CameraOpen {
            name: info.name.clone(),
            reason: e.to_string(),
        };
        cam.set_camera_requset(RequestedFormat::new::<RgbFormat>(
            RequestedFormatType::Exact(fmt),
        ))
        .map_err(open_err)?;
        cam.open_stream().map_err(open_err)?;
        Ok::<_, MediaError>((cam, mode))
    })();
    let (mut cam, mode) = match setup {
        Ok(v) => v,
        Err(e) => {
            let _ = ready.send(Err(e));
            return;
        }
    };
    if ready.send(Ok(mode)).is_err() {
        return;
    }
    let mut conv = Converter::new();
    let start = std::time::Instant::now();
    loop {
        let item = match cam.frame() {
            Ok(buf) => {
                let res = buf.resolution();
                conv.to_i420(mode.format, buf.buffer(), res.width(), res.height(), 0)
                    .map(|mut f| {
                        f.timestamp = start.elapsed();
                        f.capture_time_us = now_unix_micros();
                        f
                    })
            }
            Err(e) => {
                // A vanished device is an event for the UI, not a crash.
                let still_there = cameras()
                    .map(|l| l.iter().any(|c| c.id == info.id))
                    .unwrap_or(false);
                let err = if still_there {
                    MediaError::CameraSystem(format!("reading from '{}' failed: {e}", info.name))
                } else {
                    MediaError::CameraDisappeared(info.name.clone())
                };
                let _ = frames.send(Err(err));
                break;
            }
        };
        if frames.send(item).is_err() {
            break; // the source was dropped
        }
    }
    let _ = cam.stop_stream();
}

impl VideoSource for CameraSource {
    fn name(&self) -> String {
        self.name.clone()
    }

    fn format(&self) -> (u32, u32, u32) {
        (self.mode.width, self.mode.height, self.mode.fps)
    }

    fn next_frame(&mut self) -> Result<VideoFrame, MediaError> {
        self.frames
            .recv()
            .unwrap_or_else(|_| Err(MediaError::CameraDisappeared(self.name.clone())))
    }
}

impl Drop for CameraSource {
    fn drop(&mut self) {
        // Dropping the receiver ends the capture loop at its next frame; don't block on a stuck
        // driver here.
        let _ = self.thread.take();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(width: u32, height: u32, fps: u32, format: PixelFormat) -> CameraMode {
        CameraMode {
            width,
            height,
            fps,
            format,
        }
    }

    #[test]
    fn mode_choice() {
        let modes = [
            m(640, 480, 30, PixelFormat::Yuyv),
            m(1280, 720, 10, PixelFormat::Yuyv),
            m(1280, 720, 30, PixelFormat::Mjpeg),
            m(1920, 1080, 30, PixelFormat::Mjpeg),
        ];
        let want = VideoSettings::default();
        assert_eq!(choose_mode(&modes, &want), Some(modes[2]));
        let want = VideoSettings {
            width: 640,
            height: 480,
            fps: 30,
            format: None,
        };
        assert_eq!(choose_mode(&modes, &want), Some(modes[0]));
        assert_eq!(choose_mode(&[], &want), None);
    }

    #[test]
    fn no_camera_gives_clear_messages() {
        // This machine has no camera at all.
        if !cameras().unwrap().is_empty() {
            return; // a real camera is attached: the no-camera path cannot be exercised here
        }
        let err = CameraSource::open(None, &VideoSettings::default()).unwrap_err();
        assert_eq!(err.to_string(), "no camera was found");
        let err = CameraSource::open(Some("camera:3"), &VideoSettings::default()).unwrap_err();
        assert_eq!(err.to_string(), "the camera 'camera:3' was not found");
        assert!(matches!(camera_modes(None), Err(MediaError::NoCamera)));
        let err = crate::source::open_video_source(None, &VideoSettings::default()).err();
        assert_eq!(
            err.map(|e| e.to_string()).as_deref(),
            Some("no camera was found")
        );
    }
}
