//! The media layer's one event type, for the UI and the session engines.

use serde::Serialize;

use crate::devices::{DeviceInfo, DeviceKind};

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum MediaEvent {
    /// A device appeared (plugged in, or a sound server started).
    DeviceAdded { device: DeviceInfo },
    /// A device is gone from the lists.
    DeviceRemoved { device: DeviceInfo },
    /// The system default device of a kind changed.
    DefaultDeviceChanged {
        kind: DeviceKind,
        id: Option<String>,
    },
    /// A device that was in use stopped working; `message` is for the user.
    DeviceLost {
        kind: DeviceKind,
        name: String,
        message: String,
    },
    /// Audio output went to the silent null sink (no speaker, or the speaker failed).
    SilentOutput { reason: String },
}

/// A sentence for the user (UI toasts, CLI output).
impl std::fmt::Display for MediaEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = |k: &DeviceKind| match k {
            DeviceKind::Camera => "camera",
            DeviceKind::Microphone => "microphone",
            DeviceKind::Speaker => "speaker",
        };
        match self {
            MediaEvent::DeviceAdded { device } => {
                write!(
                    f,
                    "the {} '{}' is available",
                    kind(&device.kind),
                    device.name
                )
            }
            MediaEvent::DeviceRemoved { device } => {
                write!(
                    f,
                    "the {} '{}' was removed",
                    kind(&device.kind),
                    device.name
                )
            }
            MediaEvent::DefaultDeviceChanged {
                kind: k,
                id: Some(id),
            } => {
                write!(f, "the default {} is now '{id}'", kind(k))
            }
            MediaEvent::DefaultDeviceChanged { kind: k, id: None } => {
                write!(f, "there is no default {} any more", kind(k))
            }
            MediaEvent::DeviceLost { message, .. } => f.write_str(message),
            MediaEvent::SilentOutput { reason } => write!(f, "audio plays silently: {reason}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::devices::DeviceInfo;

    #[test]
    fn events_read_as_sentences() {
        let dev = DeviceInfo {
            id: "alsa:usb".into(),
            name: "USB Mic".into(),
            kind: DeviceKind::Microphone,
            is_default: false,
        };
        assert_eq!(
            MediaEvent::DeviceRemoved { device: dev }.to_string(),
            "the microphone 'USB Mic' was removed"
        );
        assert_eq!(
            MediaEvent::SilentOutput {
                reason: "no speaker or headphones were found".into()
            }
            .to_string(),
            "audio plays silently: no speaker or headphones were found"
        );
        let json = serde_json::to_string(&MediaEvent::DefaultDeviceChanged {
            kind: DeviceKind::Speaker,
            id: None,
        })
        .unwrap();
        assert_eq!(
            json,
            r#"{"type":"default_device_changed","kind":"speaker","id":null}"#
        );
    }
}
