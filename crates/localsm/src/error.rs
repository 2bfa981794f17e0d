//! The one error type of the built-in server.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum LocalSmError {
    #[error("the built-in server could not listen on {addr}: {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
    #[error("the built-in server must listen on a loopback address, not {0}")]
    NotLoopback(String),
    #[error("WebRTC engine error: {0}")]
    WebRtc(String),
    #[error("the offer SDP is invalid: {0}")]
    InvalidSdp(String),
    #[error("the stream {0} is already being published")]
    AlreadyPublished(String),
    #[error("the stream {0} is not published")]
    NotPublished(String),
    #[error("the server is shutting down")]
    ShuttingDown,
    /// A conference control-plane request failed (status + a sentence for the client).
    #[error("conference request refused: {0}")]
    Conference(#[from] crate::conference::ApiError),
}

impl From<webrtc::error::Error> for LocalSmError {
    fn from(e: webrtc::error::Error) -> Self {
        LocalSmError::WebRtc(e.to_string())
    }
}

pub type Result<T> = std::result::Result<T, LocalSmError>;
