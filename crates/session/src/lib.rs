//! red5-session: publisher, subscriber, conference participant and host engines on webrtc-rs. Each joins signalling
//! (red5-signal: WS proxy, WHIP/WHEP) and media (red5-media: sources, codecs, playout), owns its
//! reconnect policy and statistics, runs on its own tasks and reports through one event enum.
#![forbid(unsafe_code)]

pub mod config;
pub mod error;
pub mod host;
mod link;
pub mod participant;
mod peer;
pub mod publisher;
mod receive;
pub mod reconnect;
pub mod room;
pub mod stats;
pub mod subscriber;

pub use config::{Auth, Endpoint, IceServerConfig, Transport};
pub use error::{Error, Result};
pub use host::{
    CompositionForm, CompositionInfo, CompositionState, Host, HostConfig, HostEvent, HostSnapshot,
};
pub use participant::{
    JoinRoute, Participant, ParticipantConfig, ParticipantEvent, ParticipantState,
};
pub use publisher::{Publisher, PublisherConfig, PublisherEvent};
pub use reconnect::{Next, ReconnectPolicy, Reconnector};
pub use room::ConferenceRoom;
pub use stats::StatsSnapshot;
pub use subscriber::{Subscriber, SubscriberConfig, SubscriberEvent};
