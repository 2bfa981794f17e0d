//! The crate's one error type. Messages are written for the person using the app.

use thiserror::Error;

/// Everything that can go wrong in capture, coding, transport framing and playout.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum MediaError {
    #[error("no camera was found")]
    NoCamera,
    #[error("the camera '{0}' was not found")]
    CameraNotFound(String),
    #[error("the camera '{name}' could not be opened: {reason}")]
    CameraOpen { name: String, reason: String },
    #[error("the camera '{0}' disappeared")]
    CameraDisappeared(String),
    #[error("the camera system is not available: {0}")]
    CameraSystem(String),

    #[error("no microphone was found")]
    NoMicrophone,
    #[error("the microphone '{0}' was not found")]
    MicrophoneNotFound(String),
    #[error("the microphone '{0}' disappeared")]
    MicrophoneDisappeared(String),
    #[error("the microphone '{name}' cannot be used: {reason}")]
    MicrophoneUnavailable { name: String, reason: String },

    #[error("no speaker or headphones were found")]
    NoSpeaker,
    #[error("the speaker '{0}' was not found")]
    SpeakerNotFound(String),
    #[error("the speaker '{0}' disappeared")]
    SpeakerDisappeared(String),
    #[error("the speaker '{name}' cannot be used: {reason}")]
    SpeakerUnavailable { name: String, reason: String },

    #[error("the sound system is not available: {0}")]
    SoundSystem(String),
    #[error("the audio device '{device}' failed: {reason}")]
    AudioDevice { device: String, reason: String },

    #[error("unsupported format: {0}")]
    UnsupportedFormat(String),
    #[error("invalid frame: {0}")]
    InvalidFrame(String),
    #[error("the {codec} codec failed: {reason}")]
    Codec { codec: &'static str, reason: String },
    #[error("audio resampling failed: {0}")]
    Resample(String),
    #[error("JPEG conversion failed: {0}")]
    Jpeg(String),
    #[error("RTP packetization failed: {0}")]
    Rtp(String),
    #[error("the media file '{path}' could not be used: {reason}")]
    File { path: String, reason: String },
    #[error("the media source has ended")]
    SourceEnded,
    #[error("{0}")]
    Other(String),
}

/// Shorthand constructors.
impl MediaError {
    pub fn codec(codec: &'static str, reason: impl std::fmt::Display) -> Self {
        MediaError::Codec {
            codec,
            reason: reason.to_string(),
        }
    }

    pub fn file(path: impl AsRef<std::path::Path>, reason: impl std::fmt::Display) -> Self {
        MediaError::File {
            path: path.as_ref().display().to_string(),
            reason: reason.to_string(),
        }
    }
}
