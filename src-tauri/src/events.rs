//! The one event stream from the backend to the UI. Every backend→UI notification is a [`BackendEvent`]
//! on [`EVENT_NAME`]; the UI's store applies them in order.

use serde::Serialize;
use tauri::{Emitter, Runtime};

use crate::commands::ProfileView;
use red5_config::SettingsStatus;

/// Tauri event name the UI listens on.
pub const EVENT_NAME: &str = "red5:event";

/// Connection state shown in the status bar. Sessions (later issues) drive it; nothing connects yet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum ConnectionState {
    Idle,
    Connecting,
    Connected,
    Reconnecting,
    Failed,
}

#[derive(Clone, Debug, Serialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum BackendEvent {
    /// The profile list or the active profile changed.
    #[serde(rename_all = "camelCase")]
    ProfilesChanged {
        profiles: Vec<ProfileView>,
        active_profile_id: String,
    },
    /// The settings file status changed (a problem appeared or was acknowledged).
    SettingsStatus { status: SettingsStatus },
    /// The connection state of the active session changed.
    Connection {
        state: ConnectionState,
        detail: Option<String>,
    },
    /// Everything the Presenter pane's publisher reports.
    Presenter {
        event: red5_session::PublisherEvent,
        /// For failures, reconnects and warnings: the sentence to show (no socket-level detail).
        text: Option<String>,
    },
    /// Everything the Viewer pane's subscriber reports.
    Viewer {
        event: red5_session::SubscriberEvent,
        text: Option<String>,
    },
    /// The microphone level while publishing (10 per second), in dBFS.
    #[serde(rename_all = "camelCase")]
    MicLevel { peak_db: f32, rms_db: f32 },
    /// The built-in server started, stopped or failed.
    BuiltInServer {
        server: crate::server::BuiltInServerState,
    },
}

/// Sends an event to every window. A closed window is not an error worth failing a command for.
pub fn emit<R: Runtime>(app: &impl Emitter<R>, event: BackendEvent) {
    if let Err(e) = app.emit(EVENT_NAME, &event) {
        tracing::warn!("could not deliver a backend event to the UI: {e}");
    }
}
