//! Sans-I/O state machines (str0m style): feed inputs (`start`, `handle_*`, `on_timer`), then
//! drain [`poll_output`](ws::WsSession::poll_output) until `None`. Outputs are messages to send,
//! timers to arm or cancel, and events. No sockets, no clocks: every flow is tested without I/O.
//!
//! | Flow | Machine | Events |
//! |---|---|---|
//! | WS publisher / subscriber / conference participant (§4, §7.6) + transport switch | [`ws::WsSession`] | [`ws::WsEvent`] |
//! | WHIP publisher / Red5 WHEP subscriber (§3) | [`http::HttpSession`] | [`http::HttpEvent`] |
//! | Conference backend WS (§7.4) | [`backend::BackendClient`] | [`backend::BackendEvent`] |

pub mod backend;
pub mod http;
pub mod ws;

use std::time::Duration;

/// Timers a machine may arm. Arming an armed timer re-arms it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Timer {
    /// WS open + `Connect.Success` (SDK: ~5 s).
    Open,
    /// ICE gathering (SDK15: 5 s).
    Gathering,
    /// Waiting for the start status after `publish`/`subscribe`.
    Start,
    /// `socketSwitchDelay` before `switchChannel` (1 s).
    Switch,
    /// Waiting for the stop/leave acknowledgement.
    Stop,
    /// Backend reconnect delay (2 s).
    Reconnect,
}

/// Common timing knobs, SDK defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    pub open: Duration,
    pub gathering: Duration,
    pub start: Duration,
    pub switch_delay: Duration,
    pub stop: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            open: Duration::from_secs(5),
            gathering: Duration::from_secs(5),
            start: Duration::from_secs(20),
            switch_delay: Duration::from_millis(1000),
            stop: Duration::from_secs(3),
        }
    }
}
