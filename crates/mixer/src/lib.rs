//! red5-mixer: the conference mixer (compositor + mix-minus audio).
#![forbid(unsafe_code)]

pub mod audio;
pub mod compositor;
pub mod error;
pub mod layout;
pub mod scale;

pub use error::MixerError;
