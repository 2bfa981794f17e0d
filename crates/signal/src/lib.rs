//! red5-signal: the client side of Red5 Pro's signalling protocols (see crate README and API.md).
#![forbid(unsafe_code)]

pub mod dc;
pub mod error;
mod json;
pub mod secret;
pub mod ws;

pub use error::{Error, Result};
pub use secret::Secret;
pub mod backend;
pub mod driver;
pub mod flow;
pub mod rest;
pub mod sdp;
pub mod urls;
pub mod whip;
