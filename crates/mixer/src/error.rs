//! The one error type of the mixer.

use red5_media::MediaError;

/// Why the mixer refused a setting or an input.
#[derive(Debug, thiserror::Error)]
pub enum MixerError {
    /// The composition settings cannot be used (size, frame rate, bitrate).
    #[error("the composition settings are not usable: {0}")]
    InvalidConfig(String),
    /// Audio that is not 48 kHz PCM with 1 or 2 channels.
    #[error("participant '{id}' sent audio the mixer cannot take: {reason}")]
    UnsupportedAudio { id: String, reason: String },
    /// A frame with no pixels or planes too small for its size.
    #[error("participant '{id}' sent a broken video frame: {reason}")]
    InvalidVideo { id: String, reason: String },
    /// The H.264 or Opus encoder failed.
    #[error("the mixer could not encode its output: {0}")]
    Codec(#[from] MediaError),
}
