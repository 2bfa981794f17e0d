//! Conference backend WebSocket client (§7.4): connect, messages both ways, reconnect 2 s after
//! an abnormal close (close code 1006 or a dropped connection) unless stopped.

use std::collections::VecDeque;
use std::time::Duration;

use super::Timer;
use crate::backend::{ClientMessage, ServerMessage};

#[derive(Debug, Clone, PartialEq)]
pub enum BackendEvent {
    Connected,
    Message(ServerMessage),
    /// A frame that could not be parsed (kept going).
    Warning(String),
    /// The socket went away; `reconnecting` says whether a retry is scheduled; `reason` is
    /// why (connection refused, close code…) in words, when known.
    Disconnected {
        reconnecting: bool,
        reason: Option<String>,
    },
    Stopped,
}

#[derive(Debug, Clone, PartialEq)]
pub enum BackendOutput {
    /// Open the WebSocket to the connect URL.
    Connect,
    Send(ClientMessage),
    Close,
    ArmTimer(Timer, Duration),
    CancelTimer(Timer),
    Event(BackendEvent),
}

#[derive(Debug)]
pub struct BackendClient {
    out: VecDeque<BackendOutput>,
    connected: bool,
    stopped: bool,
    started: bool,
    queued: Vec<ClientMessage>,
    /// `None`: no automatic reconnect (the owner applies its own policy).
    reconnect_delay: Option<Duration>,
}

/// WebSocket close code for "abnormal closure" (no close frame).
pub const ABNORMAL_CLOSE: u16 = 1006;

impl Default for BackendClient {
    fn default() -> Self {
        Self::new()
    }
}

impl BackendClient {
    pub fn new() -> Self {
        BackendClient {
            out: VecDeque::new(),
            connected: false,
            stopped: false,
            started: false,
            queued: Vec::new(),
            reconnect_delay: Some(Duration::from_millis(2000)),
        }
    }

    /// The testbed's fixed 2 s reconnect (default), another delay, or none (`None`) when the
    /// owner runs its own reconnect policy.
    pub fn with_reconnect_delay(mut self, delay: Option<Duration>) -> Self {
        self.reconnect_delay = delay;
        self
    }

    pub fn poll_output(&mut self) -> Option<BackendOutput> {
        self.out.pop_front()
    }

    pub fn is_connected(&self) -> bool {
        self.connected
    }

    pub fn start(&mut self) {
        if !self.started {
            self.started = true;
            self.out.push_back(BackendOutput::Connect);
        }
    }

    pub fn handle_open(&mut self) {
        if self.stopped {
            return;
        }
        self.connected = true;
        self.out
            .push_back(BackendOutput::Event(BackendEvent::Connected));
        for m in std::mem::take(&mut self.queued) {
            self.out.push_back(BackendOutput::Send(m));
        }
    }

    pub fn handle_text(&mut self, text: &str) {
        let ev = match ServerMessage::parse(text) {
            Ok(m) => BackendEvent::Message(m),
            Err(e) => BackendEvent::Warning(e.to_string()),
        };
        self.out.push_back(BackendOutput::Event(ev));
    }

    /// The socket closed (`code` = close code; `None` = dropped without a close frame = 1006),
    /// or the connection attempt failed.
    pub fn handle_closed(&mut self, code: Option<u16>) {
        let reason = code.map(|c| format!("the server closed the socket (close code {c})"));
        self.handle_closed_because(code, reason);
    }

    /// As [`BackendClient::handle_closed`], with why in words (e.g. the connect error).
    pub fn handle_closed_because(&mut self, code: Option<u16>, reason: Option<String>) {
        self.connected = false;
        if self.stopped {
            return;
        }
        let abnormal = code.is_none_or(|c| c == ABNORMAL_CLOSE);
        let retry = match self.reconnect_delay {
            Some(d) if abnormal => {
                self.out
                    .push_back(BackendOutput::ArmTimer(Timer::Reconnect, d));
                true
            }
            _ => false,
        };
        self.out
            .push_back(BackendOutput::Event(BackendEvent::Disconnected {
                reconnecting: retry,
                reason,
            }));
    }

    pub fn on_timer(&mut self, t: Timer) {
        if t == Timer::Reconnect && !self.stopped && !self.connected {
            self.out.push_back(BackendOutput::Connect);
        }
    }

    /// Sends now, or when (re)connected.
    pub fn send(&mut self, m: ClientMessage) {
        if self.connected {
            self.out.push_back(BackendOutput::Send(m));
        } else if !self.stopped {
            self.queued.push(m);
        }
    }

    pub fn stop(&mut self) {
        if self.stopped {
            return;
        }
        self.stopped = true;
        self.out
            .push_back(BackendOutput::CancelTimer(Timer::Reconnect));
        if self.connected {
            self.out.push_back(BackendOutput::Close);
        }
        self.connected = false;
        self.out
            .push_back(BackendOutput::Event(BackendEvent::Stopped));
    }
}
