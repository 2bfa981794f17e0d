//! red5-localsm: the built-in Red5-compatible Stream Manager (SM2 + SM1 + standalone node) with
//! a real SFU on webrtc-rs, bound to loopback.
//!
//! ```no_run
//! # async fn f() -> Result<(), red5_localsm::LocalSmError> {
//! let server = red5_localsm::LocalServer::start(red5_localsm::ServerConfig::default()).await?;
//! println!("serving on {}", server.base_url());
//! server.shutdown().await;
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]

pub mod conference;
mod config;
mod error;
mod feedback;
mod http;
mod mixfeed;
mod peer;
mod sdp;
mod session;
mod sfu;

pub use config::{AuthConfig, RelayForm, RoundTripAuth, ServerConfig};
pub use error::LocalSmError;
pub use http::{LocalServer, ServerHandle, StreamStats};
