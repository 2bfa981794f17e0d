//! One module per subcommand.
pub mod devices;
pub mod local_server;
pub mod profiles;
