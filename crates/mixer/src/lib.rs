//! red5-mixer: the conference mixer (compositor + mix-minus audio).
#![forbid(unsafe_code)]

pub mod audio;
pub mod compositor;
pub mod error;
pub mod label;
pub mod layout;
pub mod scale;

pub use error::MixerError;
pub mod mixer;

pub use layout::{compute_layout, LayoutKind, Rect, Region, Tile, TileRole};
pub use mixer::{
    AudioOutput, AudioTrackOutput, AudioTrackPlan, Mixer, MixerConfig, MixerEvent, MixerStats,
    ParticipantAudio, TalkerTrack, VideoOutput, OPUS_SILENCE,
};
pub mod thread;

pub use thread::MixerThread;
