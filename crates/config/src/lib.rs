//! red5-config: everything Red5 Desk remembers between runs, shared by the desktop app and the CLI.
//!
//! - [`profile`]: the server profile model (built-in local server, Stream Manager 2.0, Stream Manager 1.x,
//!   standalone node), the flat [`ProfileForm`] the UI edits, and validation into field → message maps.
//! - [`store`]: `settings.json` in the OS app-config dir, written atomically; a corrupt file is moved aside
//!   and reported, never silently lost.
//! - [`logging`]: `tracing` to stderr and a rolling file, with every line passed through [`redact`].
//! - [`paths`]: where those files live (overridable for tests).
//!
//! This crate is the single source of truth for the profile model: the UI only renders what it gets from here.
#![forbid(unsafe_code)]

pub mod error;
pub mod logging;
pub mod paths;
pub mod profile;
pub mod redact;
pub mod store;
mod timestamp;

pub use error::ConfigError;
pub use profile::{
    FieldErrors, IceServer, IceServerForm, ProfileForm, ProfileKind, RoundTripAuth, Scheme,
    ServerProfile, Transport, BUILT_IN_PROFILE_ID, KINDS,
};
pub use store::{Settings, SettingsProblem, SettingsStatus, SettingsStore};
