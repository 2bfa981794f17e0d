//! `red5-desk-cli`: Red5 Desk without a window, over the same crates as the desktop app.
//!
//! Each subcommand lives in `cmd/<name>.rs` with its clap `Args` and a `run(&Context, args)`;
//! adding one means adding a module and a variant here. Session commands print JSON lines on
//! stdout, people's sentences on stderr, and exit 1 on failure (2 on a usage mistake).
#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod cmd;
mod control;
mod error;
mod jsonl;
mod signals;
mod table;

pub use error::CliError;

#[derive(Debug, Parser)]
#[command(
    name = "red5-desk-cli",
    version,
    about = "Red5 Desk from the command line: publish, subscribe, send metadata, host or join a \
             conference, devices, server profiles and the built-in server.",
    long_about = "Red5 Desk from the command line. Uses the same settings as the desktop app \
                  (server profiles in the app-config directory) and the same device backends."
)]
struct Cli {
    /// Settings directory (default: the app-config dir, or $RED5_DESK_CONFIG_DIR).
    #[arg(long, global = true, value_name = "DIR")]
    config_dir: Option<PathBuf>,

    /// More log output on stderr (-v info, -vv debug, -vvv trace). $RED5_DESK_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Publish a stream (test pattern, tone, files or devices) with metadata; events as JSON lines.
    Publish(cmd::publish::Args),
    /// Watch a stream: metadata and events as JSON lines; save the video (Y4M) and audio (WAV).
    Subscribe(cmd::subscribe::Args),
    /// Send onMetaData (or another message) through a `publish` running on this machine.
    SendMetadata(cmd::send_metadata::Args),
    /// Mute, unmute, change the bitrate of or stop a `publish` running on this machine.
    Control(cmd::control::Args),
    /// Host a conference room: compositions, admit/remove/presenter/ban, status, watch.
    Host(cmd::host::Args),
    /// Join a conference room: wait for the host, then get the composite and the mix-minus.
    Participant(cmd::participant::Args),
    /// List cameras, microphones and speakers.
    Devices(cmd::devices::Args),
    /// List the server profiles (the active one is marked with *).
    Profiles(cmd::profiles::Args),
    /// Run the built-in Red5-compatible Stream Manager (SM2, SM1, node) on loopback.
    LocalServer(cmd::local_server::Args),
}

/// What every subcommand may need.
pub struct Context {
    pub config_dir: PathBuf,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter = match cli.verbose {
        // Failures reach the user as one sentence on stderr; library warnings would repeat them.
        0 => "error",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let mut opts = red5_config::logging::LogOptions::new("red5-desk-cli", None);
    opts.default_filter = filter.to_owned();
    // The CLI logs to stderr only; stdout stays clean for tables and JSON.
    let _guard = red5_config::logging::init(&opts)
        .map_err(|e| eprintln!("red5-desk-cli: {e}"))
        .ok();

    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("red5-desk-cli: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode, CliError> {
    let config_dir = match cli.config_dir {
        Some(d) => d,
        None => red5_config::paths::config_dir()?,
    };
    let ctx = Context { config_dir };
    let mut out = std::io::stdout().lock();
    match cli.command {
        Command::Publish(a) => cmd::publish::run(&ctx, &a, &mut out),
        Command::Subscribe(a) => cmd::subscribe::run(&ctx, &a, &mut out),
        Command::SendMetadata(a) => cmd::send_metadata::run(&ctx, &a, &mut out),
        Command::Control(a) => cmd::control::run(&ctx, &a, &mut out),
        Command::Host(a) => cmd::host::run(&ctx, &a, &mut out),
        Command::Participant(a) => cmd::participant::run(&ctx, &a, &mut out),
        Command::Devices(a) => cmd::devices::run(&ctx, &a, &mut out),
        Command::Profiles(a) => cmd::profiles::run(&ctx, &a, &mut out),
        Command::LocalServer(a) => cmd::local_server::run(&ctx, &a, &mut out),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn parses_global_options_after_the_subcommand() {
        let c = Cli::try_parse_from([
            "red5-desk-cli",
            "profiles",
            "--json",
            "--config-dir",
            "/x",
            "-vv",
        ])
        .unwrap();
        assert_eq!(c.config_dir.as_deref(), Some(std::path::Path::new("/x")));
        assert_eq!(c.verbose, 2);
        assert!(matches!(
            c.command,
            Command::Profiles(cmd::profiles::Args { json: true })
        ));
    }
}
