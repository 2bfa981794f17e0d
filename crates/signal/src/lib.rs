//! red5-signal: the client side of Red5 Pro's signalling protocols (see crate README).

pub mod secret;

pub use secret::Secret;
