//! The one error type of the crate. Every message is written for the person at the keyboard.

use std::time::Duration;

/// Anything that can go wrong while talking to a Red5 Pro server or Stream Manager.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    // ---- wire format -------------------------------------------------------------------------
    /// A frame or body that is not JSON at all.
    #[error("the server sent something that is not valid JSON ({reason})")]
    MalformedJson { reason: String },
    /// Valid JSON but not an object (a number, string, array…).
    #[error("the server sent a JSON {found} where a JSON object was expected")]
    NotAnObject { found: &'static str },
    /// A binary WebSocket frame where text was expected.
    #[error("the server sent a binary frame; Red5 signalling uses JSON text frames only")]
    BinaryFrame,
    /// A message whose fields do not fit the shape its key announces.
    #[error("the server's {what} message is malformed: {reason}")]
    InvalidMessage { what: &'static str, reason: String },
    /// A client message this library does not know (server-side parsing).
    #[error("unknown signalling message (keys: {keys})")]
    UnknownMessage { keys: String },
    /// An SDP or sdpfrag body that cannot be parsed.
    #[error("the session description is not valid SDP: {reason}")]
    InvalidSdp { reason: String },
    /// A URL that cannot be built or resolved.
    #[error("invalid URL {url:?}: {reason}")]
    InvalidUrl { url: String, reason: String },

    // ---- signalling flows --------------------------------------------------------------------
    /// `NetConnection.Connect.Rejected` / `Failed`.
    #[error("the server rejected the connection ({code}){}", detail_suffix(.detail))]
    ConnectionRejected {
        code: String,
        detail: Option<String>,
    },
    /// The WebSocket did not open, or no `Connect.Success` arrived, in time.
    #[error("no answer from the signalling server within {0:?} (is the Stream Manager WebSocket proxy enabled?)")]
    OpenTimeout(Duration),
    /// ICE gathering did not finish in time and there are no candidates at all.
    #[error("ICE candidate gathering did not finish within {0:?} and found no usable candidate")]
    IceGatheringTimeout(Duration),
    /// Any other protocol step that waited too long.
    #[error("timed out after {after:?} waiting for {waiting_for}")]
    Timeout {
        waiting_for: &'static str,
        after: Duration,
    },
    /// `isAvailable` said a publish name is taken, or a subscribe name is not live.
    #[error("{0}")]
    InvalidName(String),
    /// The server reports the stream as "already starting" (an edge without the stream yet):
    /// retryable, not a success.
    #[error("the server says \"{stream}\" is already starting; try again in a moment")]
    AlreadyStarting { stream: String },
    /// A known message that makes no sense at this point of the flow.
    #[error("unexpected message from the server while {state}: {message}")]
    UnexpectedMessage {
        state: &'static str,
        message: String,
    },
    /// The server reported an error (`{"data":{"type":"error",…}}`).
    #[error("the server reported an error: {message}")]
    ServerError {
        code: Option<String>,
        message: String,
    },
    /// The server closed the connection before the flow finished.
    #[error("the server closed the connection while {state}{}", detail_suffix(.reason))]
    ClosedByServer {
        state: &'static str,
        reason: Option<String>,
    },
    /// A method called in the wrong state of a state machine (a bug in the caller).
    #[error("cannot {action} while {state}")]
    InvalidState {
        action: &'static str,
        state: &'static str,
    },
    /// An RPC (`callAdapter`) answered with an error.
    #[error("the server refused the call {method}: {message}")]
    RpcFailed { method: String, message: String },

    // ---- HTTP (WHIP/WHEP, Stream Manager REST) -----------------------------------------------
    /// An HTTP error status, with Red5's meaning and the server's own text.
    #[error("{what} failed: {meaning} (HTTP {status}){}", detail_suffix(.server_message))]
    Http {
        what: &'static str,
        status: u16,
        meaning: String,
        server_message: Option<String>,
    },
    /// The Stream Manager refused the credentials or token.
    #[error("the Stream Manager rejected the credentials or token (401){}", detail_suffix(.server_message))]
    Unauthorized { server_message: Option<String> },
    /// A 2xx response whose body is not what the API documents.
    #[error("{what}: unexpected response body ({reason})")]
    BadResponse { what: &'static str, reason: String },

    /// The Stream Manager refused its proxy endpoints: `proxy.enabled=false`.
    #[error("The Stream Manager's WebRTC proxy is turned off (proxy.enabled=false in red5-web.properties). Turn it on, or connect to the node directly with a Standalone profile.")]
    ProxyDisabled,

    // ---- transport -----------------------------------------------------------------------------
    /// Could not reach the server at all (DNS, TCP, TLS, WebSocket upgrade).
    #[error("could not connect to {url}: {reason}")]
    Connect { url: String, reason: String },
    /// The connection broke while in use.
    #[error("connection to the server lost: {0}")]
    Transport(String),
    /// The session was stopped locally.
    #[error("the session was closed")]
    Closed,
}

impl Error {
    /// The stream name is taken (publish) or not live (subscribe): ask the user for another name.
    pub fn is_invalid_name(&self) -> bool {
        matches!(self, Error::InvalidName(_))
    }

    /// Credentials or token refused.
    pub fn is_unauthorized(&self) -> bool {
        matches!(
            self,
            Error::Unauthorized { .. }
                | Error::Http {
                    status: 401 | 403,
                    ..
                }
        )
    }

    /// Worth retrying as is (network trouble, timeouts, an edge not ready yet).
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Error::OpenTimeout(_)
                | Error::Timeout { .. }
                | Error::AlreadyStarting { .. }
                | Error::Connect { .. }
                | Error::Transport(_)
                | Error::ClosedByServer { .. }
                | Error::Http {
                    status: 500..=599,
                    ..
                }
        )
    }
}

/// Whether a server's error text says the Stream Manager proxy is switched off.
pub fn says_proxy_disabled(text: &str) -> bool {
    let l = text.to_ascii_lowercase();
    l.contains("proxy.enabled=false")
        || (l.contains("proxy")
            && (l.contains("disabled") || l.contains("not enabled") || l.contains("turned off")))
}

fn detail_suffix(d: &Option<String>) -> String {
    match d {
        Some(d) if !d.is_empty() => format!(": {d}"),
        _ => String::new(),
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
