//! red5-media: capture sources, pixel/sample conversion, codecs, RTP framing, playout and
//! frames for the UI. Unsafe code lives only in the private `ffi` module.
//!
//! Data flow for publishing: [`VideoSource`] → [`VideoFrame`] (I420) → a video encoder →
//! RTP packets; [`AudioSource`] → 20 ms 48 kHz [`AudioFrame`] → Opus → RTP packets.
#![deny(unsafe_code)]

pub mod analysis;
pub mod camera;
pub mod codec;
pub mod convert;
pub mod devices;
pub mod error;
pub mod events;
mod ffi;
pub mod file;
pub mod frame;
pub mod jitter;
pub mod mic;
pub mod pipeline;
pub mod playout;
pub mod resample;
pub mod rtp;
pub mod source;
pub mod synthetic;
pub mod ui;
pub mod watcher;

pub use devices::{cameras, microphones, speakers, DeviceInfo, DeviceKind};
pub use error::MediaError;
pub use frame::{AudioFrame, VideoFrame};
pub use source::{open_audio_source, open_video_source, AudioSource, VideoSettings, VideoSource};
