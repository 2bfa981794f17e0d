//! Device enumeration: cameras through nokhwa (V4L2 on Linux), microphones and speakers through cpal.
//!
//! Ids are stable strings a user can store in settings: `camera:<index>` for cameras and cpal's
//! `host:device` form (for example `alsa:default`) for audio devices.

use cpal::traits::{DeviceTrait, HostTrait};
use serde::{Deserialize, Serialize};

use crate::error::MediaError;
use crate::ffi::alsa_quiet;

/// What a device does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviceKind {
    Camera,
    Microphone,
    Speaker,
}

/// One entry of a device list, ready to show in a picker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceInfo {
    /// Stable id to pass back when opening the device.
    pub id: String,
    /// Human-readable name.
    pub name: String,
    pub kind: DeviceKind,
    /// True for the system's default device of this kind.
    pub is_default: bool,
}

pub(crate) const CAMERA_ID_PREFIX: &str = "camera:";

/// Cameras the OS exposes. `Ok(vec![])` when there is none (a normal situation, not an error).
pub fn cameras() -> Result<Vec<DeviceInfo>, MediaError> {
    let Some(backend) = nokhwa::native_api_backend() else {
        return Err(MediaError::CameraSystem(
            "this operating system has no supported camera interface".into(),
        ));
    };
    let list = match nokhwa::query(backend) {
        Ok(list) => list,
        // V4L2 reports a missing /dev/video* as an error on some systems: that is "no camera".
        Err(e) if no_device_error(&e.to_string()) => Vec::new(),
        Err(e) => return Err(MediaError::CameraSystem(e.to_string())),
    };
    Ok(list
        .iter()
        .enumerate()
        .map(|(n, info)| DeviceInfo {
            id: format!("{CAMERA_ID_PREFIX}{}", info.index().as_string()),
            name: info.human_name(),
            kind: DeviceKind::Camera,
            is_default: n == 0,
        })
        .collect())
}

fn no_device_error(msg: &str) -> bool {
    let m = msg.to_ascii_lowercase();
    m.contains("no such file") || m.contains("not found") || m.contains("no device")
}

/// Microphones (cpal input devices on the default host).
pub fn microphones() -> Result<Vec<DeviceInfo>, MediaError> {
    audio_devices(DeviceKind::Microphone)
}

/// Speakers and headphones (cpal output devices on the default host).
pub fn speakers() -> Result<Vec<DeviceInfo>, MediaError> {
    audio_devices(DeviceKind::Speaker)
}

/// All devices of every kind; a failing kind is logged and left out rather than failing the list.
pub fn all_devices() -> Vec<DeviceInfo> {
    let mut out = Vec::new();
    for (kind, list) in [
        (DeviceKind::Camera, cameras()),
        (DeviceKind::Microphone, microphones()),
        (DeviceKind::Speaker, speakers()),
    ] {
        match list {
            Ok(mut l) => out.append(&mut l),
            Err(e) => tracing::warn!("listing {kind:?} devices failed: {e}"),
        }
    }
    out
}

fn audio_devices(kind: DeviceKind) -> Result<Vec<DeviceInfo>, MediaError> {
    alsa_quiet::quiet_current_thread();
    let host = cpal::default_host();
    let (devices, default) = match kind {
        DeviceKind::Microphone => (
            host.input_devices().map(|d| d.collect::<Vec<_>>()),
            host.default_input_device(),
        ),
        _ => (
            host.output_devices().map(|d| d.collect::<Vec<_>>()),
            host.default_output_device(),
        ),
    };
    let devices = devices.map_err(|e| MediaError::SoundSystem(e.to_string()))?;
    let default_id = default
        .as_ref()
        .and_then(|d| d.id().ok())
        .map(|id| id.to_string());
    let mut out = Vec::with_capacity(devices.len() + 1);
    // The system default first, even when the enumeration does not list it.
    if let (Some(dev), Some(id)) = (&default, &default_id) {
        if !devices
            .iter()
            .any(|d| d.id().ok().map(|i| i.to_string()).as_ref() == Some(id))
        {
            out.push(DeviceInfo {
                name: audio_device_name(dev).unwrap_or_else(|| "System default".into()),
                id: id.clone(),
                kind,
                is_default: true,
            });
        }
    }
    for dev in devices {
        let Ok(id) = dev.id() else { continue };
        let id = id.to_string();
        if is_helper_pcm(&id) {
            continue;
        }
        out.push(DeviceInfo {
            name: audio_device_name(&dev).unwrap_or_else(|| id.clone()),
            is_default: default_id.as_deref() == Some(id.as_str()),
            id,
            kind,
        });
    }
    Ok(out)
}

/// Whether a cpal stream error means the stream is over. Mid-stream, anything but an xrun or a
/// refused real-time priority means the device (or the sound server behind it) went away,
/// e.g. ALSA's EIO when PulseAudio dies or ENODEV when a USB headset is pulled.
pub(crate) fn stream_error_is_fatal(e: &cpal::Error) -> bool {
    !matches!(
        e.kind(),
        cpal::ErrorKind::Xrun | cpal::ErrorKind::RealtimeDenied | cpal::ErrorKind::DeviceChanged
    )
}

/// ALSA plugin PCMs that only convert or discard audio (rate converters, up/down-mixers,
/// null, OSS emulation, multichannel aliases). They stay openable by id, but are not listed.
pub(crate) fn is_helper_pcm(id: &str) -> bool {
    let Some(name) = id.strip_prefix("alsa:") else {
        return false;
    };
    let base = name.split(':').next().unwrap_or(name);
    matches!(
        base,
        "null"
            | "lavrate"
            | "samplerate"
            | "speexrate"
            | "speex"
            | "upmix"
            | "vdownmix"
            | "oss"
            | "dmix"
            | "dsnoop"
    ) || base.starts_with("surround")
}

/// A device's display name: the first line of cpal's description (ALSA hints span several lines).
pub(crate) fn audio_device_name(dev: &cpal::Device) -> Option<String> {
    let desc = dev.description().ok()?;
    let name = desc
        .name()
        .lines()
        .next()
        .unwrap_or_default()
        .trim()
        .to_owned();
    (!name.is_empty()).then_some(name)
}

/// Find a cpal device by our id (`None` = the default device of that direction).
pub fn find_audio_device(kind: DeviceKind, id: Option<&str>) -> Result<cpal::Device, MediaError> {
    alsa_quiet::quiet_current_thread();
    let host = cpal::default_host();
    let (missing, not_found) = match kind {
        DeviceKind::Microphone => (
            MediaError::NoMicrophone,
            MediaError::MicrophoneNotFound as fn(String) -> MediaError,
        ),
        _ => (
            MediaError::NoSpeaker,
            MediaError::SpeakerNotFound as fn(String) -> MediaError,
        ),
    };
    let Some(id) = id else {
        let dev = match kind {
            DeviceKind::Microphone => host.default_input_device(),
            _ => host.default_output_device(),
        };
        return dev.ok_or(missing);
    };
    let list = match kind {
        DeviceKind::Microphone => host.input_devices().map(|d| d.collect::<Vec<_>>()),
        _ => host.output_devices().map(|d| d.collect::<Vec<_>>()),
    }
    .map_err(|e| MediaError::SoundSystem(e.to_string()))?;
    list.into_iter()
        .find(|d| d.id().map(|i| i.to_string() == id).unwrap_or(false))
        .ok_or_else(|| not_found(id.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_kind_serializes_snake_case() {
        let info = DeviceInfo {
            id: "camera:0".into(),
            name: "Cam".into(),
            kind: DeviceKind::Camera,
            is_default: true,
        };
        let json = serde_json::to_string(&info).unwrap();
        assert!(json.contains("\"kind\":\"camera\""), "{json}");
        let back: DeviceInfo = serde_json::from_str(&json).unwrap();
        assert_eq!(back, info);
    }

    #[test]
    fn camera_listing_does_not_fail_without_cameras() {
        // This machine has no /dev/video*: the list must be empty, not an error.
        let cams = cameras().unwrap();
        for c in &cams {
            assert_eq!(c.kind, DeviceKind::Camera);
            assert!(c.id.starts_with(CAMERA_ID_PREFIX));
        }
    }

    #[test]
    fn audio_listing_works_without_sound_card() {
        let mics = microphones().unwrap();
        let outs = speakers().unwrap();
        assert!(mics.iter().all(|d| d.kind == DeviceKind::Microphone));
        assert!(outs.iter().all(|d| d.kind == DeviceKind::Speaker));
        assert!(mics.iter().filter(|d| d.is_default).count() <= 1);
        // ALSA's helper plugins are not devices a person picks.
        for d in mics.iter().chain(&outs) {
            assert!(!is_helper_pcm(&d.id), "{d:?}");
        }
    }

    #[test]
    fn unknown_microphone_id_is_a_clear_error() {
        let err =
            find_audio_device(DeviceKind::Microphone, Some("alsa:does-not-exist")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "the microphone 'alsa:does-not-exist' was not found"
        );
    }
}
