//! `send-metadata`: asks a running `publish` (through its local control socket) to send
//! `onMetaData` (or another `send()` method) on its live stream.
//!
//! Why not a publish session of its own: in Red5 only the stream's publisher can send to its
//! viewers, and a second publisher of the same name is refused while the first is live. So the
//! message goes through the process that publishes. For a one-off stream with metadata, use
//! `publish --metadata … --duration …`.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use serde_json::json;

use super::publish::parse_secs;
use crate::control::{self, Request};
use crate::jsonl::metadata_value;
use crate::signals::runtime;
use crate::{CliError, Context};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The stream a `publish` on this machine is publishing.
    pub stream: String,
    /// What to send: a JSON object as it is, any other text as {"metadata": "<text>"}.
    #[arg(value_name = "JSON|TEXT", required_unless_present = "json")]
    pub value: Option<String>,
    /// A JSON value to send exactly as given (objects, arrays, strings…); validated first.
    #[arg(long, conflicts_with = "value")]
    pub json: Option<String>,
    /// The `send()` method name (viewers get `onMetaData` as metadata, others as messages).
    #[arg(long, default_value = "onMetaData")]
    pub method: String,
    /// The publish's control socket (default: <config dir>/run/<stream>.sock).
    #[arg(long, value_name = "PATH")]
    pub control: Option<PathBuf>,
    /// Give up after SECS seconds (the publish may still be connecting).
    #[arg(long, value_name = "SECS", default_value_t = 30.0)]
    pub timeout: f64,
}

pub fn run(ctx: &Context, args: &Args, out: &mut impl Write) -> Result<ExitCode, CliError> {
    let data = match (&args.json, &args.value) {
        (Some(j), _) => serde_json::from_str(j)
            .map_err(|e| CliError::Usage(format!("--json is not valid JSON: {e}")))?,
        (None, Some(v)) => metadata_value(v),
        (None, None) => return Err(CliError::Usage("nothing to send".into())),
    };
    let timeout = parse_secs("--timeout", args.timeout)?;
    let path = args
        .control
        .clone()
        .unwrap_or_else(|| control::default_path(&ctx.config_dir, args.stream.trim()));
    let req = Request::send(args.method.trim(), data);
    let reply = runtime()?.block_on(async {
        tokio::time::timeout(timeout, control::request(&path, &req))
            .await
            .map_err(|_| {
                CliError::Control(format!(
                    "the publish session did not confirm within {} s (is it still connecting?)",
                    timeout.as_secs_f64()
                ))
            })?
    })?;
    if !reply.ok {
        return Err(CliError::Control(format!(
            "the publish session could not send it: {}",
            reply.error.unwrap_or_else(|| "no reason given".into())
        )));
    }
    serde_json::to_writer(&mut *out, &json!({"sent": req.method, "data": req.data}))?;
    writeln!(out)?;
    Ok(ExitCode::SUCCESS)
}
