//! One module per subcommand.
pub mod control;
pub mod devices;
pub mod host;
pub mod local_server;
pub mod participant;
pub mod profiles;
pub mod publish;
pub mod send_metadata;
pub mod server;
pub mod subscribe;
