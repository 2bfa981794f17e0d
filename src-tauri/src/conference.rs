//! Conference pane commands (Host and Participant panes). Owned by the conference work (helper D).
//!
//! Register new commands only inside the marked block of `generate_handler!` in `lib.rs`, and keep
//! per-app conference state in [`ConferenceState`] (reachable as `AppState::conference`).
//! The server to talk to comes from `AppState::session_target()` (endpoint + ICE servers of the
//! active profile, with the built-in server's real URL) and, for the built-in profile,
//! `AppState::with_built_in_server(|h| …)` gives the running `red5_localsm::ServerHandle`.

/// Conference state held by the app for the Host and Participant panes.
#[derive(Default)]
pub struct ConferenceState {}
