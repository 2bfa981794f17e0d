//! red5-session: publisher and subscriber engines on webrtc-rs. Each joins signalling
//! (red5-signal: WS proxy, WHIP/WHEP) and media (red5-media: sources, codecs, playout), owns its
//! reconnect policy and statistics, runs on its own tasks and reports through one event enum.
#![forbid(unsafe_code)]

pub mod config;
pub mod error;
mod link;
mod peer;
pub mod publisher;
pub mod reconnect;
pub mod stats;
pub mod subscriber;

pub use config::{Auth, Endpoint, IceServerConfig, Transport};
pub use error::{Error, Result};
pub use publisher::{Publisher, PublisherConfig, PublisherEvent};
pub use reconnect::{Next, ReconnectPolicy, Reconnector};
pub use stats::StatsSnapshot;
pub use subscriber::{Subscriber, SubscriberConfig, SubscriberEvent};
