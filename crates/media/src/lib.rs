//! red5-media: capture sources, pixel/sample conversion, codecs, RTP framing, playout and
//! frames for the UI. Unsafe code lives only in [`ffi`].
#![deny(unsafe_code)]

pub mod devices;
pub mod error;
mod ffi;

pub use devices::{cameras, microphones, speakers, DeviceInfo, DeviceKind};
pub use error::MediaError;
