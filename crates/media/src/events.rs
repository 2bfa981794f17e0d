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
