//! Conference control plane of the built-in server (issue 6, red5-protocol.md §7): the
//! conference backend WebSocket, the internal publish webhook, SM1 compositions, conference
//! provisions, `join`, mixer regions and the SM2 Brew mixer records.
//!
//! Sans-I/O cores ([`backend::Backend`], [`compositions::CompositionStore`]) plus a thin axum
//! adapter ([`http`]). Wiring into the main server and the real mixer: see `CONFERENCE.md`.

pub mod backend;
pub mod compositions;
pub mod http;
pub mod mixers;

use red5_signal::rest::sm1::Composition;

pub use compositions::BrewEntry;
pub use http::{router, standalone_router, with_backend_ws, ConferenceConfig, ConferenceState};
pub use mixers::{MixerHost, MixerSink};

/// An HTTP-style failure of the control plane (SM1 answers it as
/// `{"errorMessage":…,"timestamp":…}`, SM2 as `{"error":…}`, the backend WS as `error`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} ({status})")]
pub struct ApiError {
    pub status: u16,
    pub message: String,
}

impl ApiError {
    pub fn bad_request(m: impl Into<String>) -> Self {
        ApiError {
            status: 400,
            message: m.into(),
        }
    }
    pub fn not_found(m: impl Into<String>) -> Self {
        ApiError {
            status: 404,
            message: m.into(),
        }
    }
    pub fn conflict(m: impl Into<String>) -> Self {
        ApiError {
            status: 409,
            message: m.into(),
        }
    }
    pub fn unauthorized(m: impl Into<String>) -> Self {
        ApiError {
            status: 401,
            message: m.into(),
        }
    }
}

/// Everything the mixer wiring needs to follow (one event enum for the conference engine).
#[derive(Debug, Clone, PartialEq)]
pub enum ConferenceEvent {
    /// Start a mixer for this composition (state `pending`); output = final mixer
    /// `<path>/<streamName>`.
    CompositionCreated(Composition),
    /// Stop the mixer of this composition (snapshot with state `terminating`).
    CompositionDeleted(Composition),
    /// A mixer state change (`inservice`, `composing`, `disconnected`).
    CompositionState {
        event: String,
        state: String,
    },
    /// The conference list or presenter of a room changed: feed `set_participants` /
    /// `set_presenter` of the mixer whose final path is `room`.
    ConferenceChanged {
        room: String,
        streams: Vec<String>,
        presenter: Option<String>,
    },
    BrewCreated(BrewEntry),
    BrewUpdated(BrewEntry),
    BrewDeleted(BrewEntry),
}

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
