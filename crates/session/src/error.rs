//! The one error type of the session layer. `Display` is written for a person.

use std::time::Duration;

/// What went wrong in a publisher or subscriber session.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Error {
    /// Signalling (WS proxy, WHIP/WHEP, Stream Manager REST); its text is already for people.
    #[error("{0}")]
    Signal(#[from] red5_signal::Error),
    /// Camera, microphone, codec or speaker.
    #[error("{0}")]
    Media(String),
    /// The WebRTC stack refused something (a bad SDP, a closed connection).
    #[error("the WebRTC connection could not be set up: {0}")]
    WebRtc(String),
    /// The media connection to the server dropped while live.
    #[error("the connection to the server was lost ({0})")]
    ConnectionLost(String),
    /// The publisher stopped; a viewer waits for the stream to come back.
    #[error("the broadcaster stopped publishing")]
    StreamEnded,
    /// ICE/DTLS or the server's start confirmation did not come in time.
    #[error("the server did not confirm the {what} within {} s", .after.as_secs())]
    StartTimeout { what: &'static str, after: Duration },
    /// Every reconnect attempt failed.
    #[error("could not reconnect after {attempts} attempts; last problem: {last}")]
    ReconnectFailed { attempts: u32, last: String },
    /// The configuration cannot work (empty stream name, bad URL…).
    #[error("the settings are not usable: {0}")]
    Config(String),
    /// The session has already ended.
    #[error("the session has ended")]
    Closed,
}

impl Error {
    /// Whether trying again later can help (network trouble, server restarts). `was_live`:
    /// after a session was up once, "stream not found" only means the publisher is coming back.
    pub fn is_retryable(&self, was_live: bool) -> bool {
        match self {
            Error::Signal(e) => e.is_retryable() || (was_live && e.is_invalid_name()),
            Error::ConnectionLost(_)
            | Error::StartTimeout { .. }
            | Error::WebRtc(_)
            | Error::StreamEnded => true,
            Error::Media(_) | Error::ReconnectFailed { .. } | Error::Config(_) | Error::Closed => {
                false
            }
        }
    }

    /// The server said no to the credentials.
    pub fn is_unauthorized(&self) -> bool {
        matches!(self, Error::Signal(e) if e.is_unauthorized())
    }

    /// The stream does not exist (subscriber) or the name is refused.
    pub fn is_invalid_name(&self) -> bool {
        matches!(self, Error::Signal(e) if e.is_invalid_name())
    }
}

/// Errors reach the UI as the sentence they say.
impl serde::Serialize for Error {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

/// Errors compare by what they say (events are compared in tests and UIs).
impl PartialEq for Error {
    fn eq(&self, other: &Self) -> bool {
        self.to_string() == other.to_string()
    }
}

impl From<red5_media::MediaError> for Error {
    fn from(e: red5_media::MediaError) -> Self {
        Error::Media(e.to_string())
    }
}

impl From<webrtc::error::Error> for Error {
    fn from(e: webrtc::error::Error) -> Self {
        Error::WebRtc(e.to_string())
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
