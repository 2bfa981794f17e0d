//! `control`: mute/unmute, change the bitrate of, or stop a `publish` running on this machine,
//! through its control socket (see `crate::control`).

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use serde_json::json;

use super::publish::parse_secs;
use crate::control::{self, Request};
use crate::signals::runtime;
use crate::{CliError, Context};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Command {
    /// Silence the microphone (silent audio keeps flowing; the server is told).
    MuteAudio,
    UnmuteAudio,
    /// Stop sending video frames (the server is told).
    MuteVideo,
    UnmuteVideo,
    /// Set the video bitrate (VALUE in kbps).
    Bitrate,
    /// Unpublish cleanly and end the publish.
    Stop,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The stream a `publish` on this machine is publishing.
    pub stream: String,
    #[arg(value_enum)]
    pub command: Command,
    /// The value some commands need (bitrate: kbps).
    pub value: Option<u64>,
    /// The publish's control socket (default: <config dir>/run/<stream>.sock).
    #[arg(long, value_name = "PATH")]
    pub control: Option<PathBuf>,
    /// Give up after SECS seconds.
    #[arg(long, value_name = "SECS", default_value_t = 30.0)]
    pub timeout: f64,
}

pub fn run(ctx: &Context, args: &Args, out: &mut impl Write) -> Result<ExitCode, CliError> {
    let name = match args.command {
        Command::MuteAudio => "mute-audio",
        Command::UnmuteAudio => "unmute-audio",
        Command::MuteVideo => "mute-video",
        Command::UnmuteVideo => "unmute-video",
        Command::Bitrate => "bitrate",
        Command::Stop => "stop",
    };
    if args.command == Command::Bitrate && args.value.is_none() {
        return Err(CliError::Usage(
            "bitrate needs the new value in kbps, e.g. `control s bitrate 1200`".into(),
        ));
    }
    let timeout = parse_secs("--timeout", args.timeout)?;
    let path = args
        .control
        .clone()
        .unwrap_or_else(|| control::default_path(&ctx.config_dir, args.stream.trim()));
    let req = Request::command(name, args.value.map(|v| json!(v)));
    let reply = runtime()?.block_on(async {
        tokio::time::timeout(timeout, control::request(&path, &req))
            .await
            .map_err(|_| {
                CliError::Control(format!(
                    "the publish session did not answer within {} s",
                    timeout.as_secs_f64()
                ))
            })?
    })?;
    if !reply.ok {
        return Err(CliError::Control(format!(
            "the publish session refused {name}: {}",
            reply.error.unwrap_or_else(|| "no reason given".into())
        )));
    }
    serde_json::to_writer(&mut *out, &json!({"done": name, "value": args.value}))?;
    writeln!(out)?;
    Ok(ExitCode::SUCCESS)
}
