//! `publish`: one publisher session (red5-session) from synthetic, file or device sources, with
//! metadata once at start and/or periodically, engine events as JSON lines on stdout, and a
//! local control socket through which `send-metadata` reaches it.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use red5_media::codec::VideoCodec;
use red5_session::publisher::{PublishAudio, PublishVideo};
use red5_session::{Publisher, PublisherConfig, PublisherEvent};
use serde_json::{json, Map, Value};
use tokio::io::AsyncBufReadExt;
use tokio::sync::{mpsc, oneshot};

use super::server::{describe, failure_text, ServerArgs};
use crate::control::{self, ControlServer, Incoming, Reply};
use crate::jsonl::{metadata_value, now, Lines};
use crate::signals::{runtime, Stop};
use crate::{CliError, Context};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CodecArg {
    H264,
    Vp8,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Stream name to publish.
    pub stream: String,

    #[command(flatten)]
    pub server: ServerArgs,

    #[command(flatten)]
    pub media: MediaArgs,

    /// Metadata sent once the stream is live: a JSON object as it is, any other text as
    /// {"metadata": "<text>"} (what the Red5 SDK's text field sends).
    #[arg(long, value_name = "JSON|TEXT", help_heading = "Metadata")]
    pub metadata: Option<String>,
    /// Send onMetaData every SECS seconds: the --metadata object (if any) plus "counter" and "time".
    #[arg(long, value_name = "SECS", help_heading = "Metadata")]
    pub metadata_every: Option<f64>,
    /// Control socket for `send-metadata` (default: <config dir>/run/<stream>.sock).
    #[arg(
        long,
        value_name = "PATH",
        conflicts_with = "no_control",
        help_heading = "Metadata"
    )]
    pub control: Option<PathBuf>,
    /// Do not open a control socket.
    #[arg(long, help_heading = "Metadata")]
    pub no_control: bool,
    /// Send each line read from stdin as metadata (a JSON object as it is, text wrapped), e.g.
    /// `tail -f captions.txt | red5-desk-cli publish s --metadata-stdin`.
    #[arg(long, help_heading = "Metadata")]
    pub metadata_stdin: bool,

    /// Unpublish SECS seconds after the stream went live; default: until Ctrl+C or SIGTERM.
    #[arg(long, value_name = "SECS", help_heading = "Run")]
    pub duration: Option<f64>,
    /// Also print a stats line every second.
    #[arg(long, help_heading = "Run")]
    pub stats: bool,
}

/// What to send and how: shared by `publish` and `participant`.
#[derive(Debug, Clone, clap::Args)]
pub struct MediaArgs {
    /// Video source: synthetic[:colour] (moving test pattern with a frame counter),
    /// file:<path.y4m>, device[:<camera id>] (see `devices`), or none.
    #[arg(long, default_value = "synthetic", help_heading = "Media")]
    pub video: String,
    /// Audio source: tone[:hz] (sine, 440 Hz by default), file:<path.wav>,
    /// device[:<microphone id>], or none.
    #[arg(long, default_value = "tone", help_heading = "Media")]
    pub audio: String,
    /// Video size WIDTHxHEIGHT (cameras pick their nearest mode; files keep their own).
    #[arg(long, default_value = "640x360", help_heading = "Media")]
    pub size: String,
    /// Frames per second.
    #[arg(long, default_value_t = 30, help_heading = "Media")]
    pub fps: u32,
    /// Video codec.
    #[arg(long, value_enum, default_value = "h264", help_heading = "Media")]
    pub codec: CodecArg,
    /// Video bitrate in kbps.
    #[arg(long, default_value_t = 800, help_heading = "Media")]
    pub bitrate: u32,
    /// Opus bitrate in kbps.
    #[arg(long, default_value_t = 64, help_heading = "Media")]
    pub audio_bitrate: u32,
    /// Audio channels (1 or 2).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=2), help_heading = "Media")]
    pub channels: u16,
    /// Milliseconds between key frames (Red5 keyFramerate).
    #[arg(long, default_value_t = 3000, help_heading = "Media")]
    pub key_interval_ms: u32,
}

impl MediaArgs {
    /// The video and audio settings (`None` = that medium is off; not both).
    pub fn settings(&self) -> Result<(Option<PublishVideo>, Option<PublishAudio>), CliError> {
        let (video, audio) = (video_source(&self.video)?, audio_source(&self.audio)?);
        if video.is_none() && audio.is_none() {
            return Err(CliError::Usage(
                "nothing to publish: --video and --audio are both none".into(),
            ));
        }
        let (width, height) = parse_size(&self.size)?;
        if !(1..=120).contains(&self.fps) {
            return Err(CliError::Usage(format!(
                "--fps {} is out of range (1 to 120)",
                self.fps
            )));
        }
        let video = video.map(|source| PublishVideo {
            source,
            codec: match self.codec {
                CodecArg::H264 => VideoCodec::H264,
                CodecArg::Vp8 => VideoCodec::Vp8,
            },
            width,
            height,
            fps: self.fps,
            bitrate_bps: self.bitrate.saturating_mul(1000).max(50_000),
        });
        let audio = audio.map(|source| PublishAudio {
            source,
            bitrate_bps: self
                .audio_bitrate
                .saturating_mul(1000)
                .clamp(6_000, 510_000),
            channels: self.channels,
        });
        Ok((video, audio))
    }
}

/// The `publishing`/`participating` line's description of the media (camelCase, no secrets).
pub fn describe_media(v: Option<&PublishVideo>, a: Option<&PublishAudio>) -> (Value, Value) {
    (
        json!(v.map(|v| json!({
            "source": v.source,
            "codec": format!("{:?}", v.codec).to_lowercase(),
            "width": v.width,
            "height": v.height,
            "fps": v.fps,
            "bitrateKbps": v.bitrate_bps / 1000,
        }))),
        json!(a.map(|a| json!({
            "source": a.source,
            "channels": a.channels,
            "bitrateKbps": a.bitrate_bps / 1000,
        }))),
    )
}

/// `WIDTHxHEIGHT`.
pub fn parse_size(s: &str) -> Result<(u32, u32), CliError> {
    let bad = || CliError::Usage(format!("--size '{s}' is not WIDTHxHEIGHT (e.g. 1280x720)"));
    let (w, h) = s.trim().split_once(['x', 'X']).ok_or_else(bad)?;
    let (w, h): (u32, u32) = (w.parse().map_err(|_| bad())?, h.parse().map_err(|_| bad())?);
    if !(16..=7680).contains(&w) || !(16..=4320).contains(&h) {
        return Err(CliError::Usage(format!(
            "--size {w}x{h} is out of range (16x16 to 7680x4320)"
        )));
    }
    Ok((w, h))
}

/// Parses `--duration`-style seconds.
pub fn parse_secs(flag: &str, v: f64) -> Result<Duration, CliError> {
    Duration::try_from_secs_f64(v)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| CliError::Usage(format!("{flag} {v} is not a positive number of seconds")))
}

/// Maps `--video` to a red5-media source id (`None` = no video).
pub fn video_source(spec: &str) -> Result<Option<String>, CliError> {
    let spec = spec.trim();
    Ok(match spec.split_once(':') {
        _ if spec == "none" => None,
        _ if spec == "synthetic" => Some(red5_media::source::PATTERN_ID.to_owned()),
        Some(("synthetic", colour)) => {
            if red5_media::synthetic::PatternColor::from_name(colour).is_none() {
                let names: Vec<&str> = red5_media::synthetic::PatternColor::ALL
                    .iter()
                    .map(|c| c.name())
                    .collect();
                return Err(CliError::Usage(format!(
                    "--video synthetic:{colour}: unknown colour; use one of {}",
                    names.join(", ")
                )));
            }
            Some(format!("{}:{colour}", red5_media::source::PATTERN_ID))
        }
        Some(("file", path)) => Some(file_id(path, "--video", "y4m")?),
        Some(("device", id)) if !id.is_empty() => Some(id.to_owned()),
        _ if spec == "device" => Some(default_device(red5_media::cameras(), "camera")?),
        _ => {
            return Err(CliError::Usage(format!(
                "--video '{spec}' is not a source; use synthetic[:colour], file:<path.y4m>, \
                 device[:<id>] or none"
            )))
        }
    })
}

/// Maps `--audio` to a red5-media source id (`None` = no audio).
pub fn audio_source(spec: &str) -> Result<Option<String>, CliError> {
    let spec = spec.trim();
    Ok(match spec.split_once(':') {
        _ if spec == "none" => None,
        _ if spec == "tone" => Some(red5_media::source::TONE_ID.to_owned()),
        Some(("tone", hz)) => match hz.parse::<f32>() {
            Ok(f) if (20.0..=20_000.0).contains(&f) => {
                Some(format!("{}:{hz}", red5_media::source::TONE_ID))
            }
            _ => {
                return Err(CliError::Usage(format!(
                    "--audio tone:{hz}: the frequency must be a number of Hz between 20 and 20000"
                )))
            }
        },
        Some(("file", path)) => Some(file_id(path, "--audio", "wav")?),
        Some(("device", id)) if !id.is_empty() => Some(id.to_owned()),
        _ if spec == "device" => Some(default_device(red5_media::microphones(), "microphone")?),
        _ => {
            return Err(CliError::Usage(format!(
                "--audio '{spec}' is not a source; use tone[:hz], file:<path.wav>, device[:<id>] \
                 or none"
            )))
        }
    })
}

fn file_id(path: &str, flag: &str, ext: &str) -> Result<String, CliError> {
    let p = std::path::Path::new(path);
    if !p.is_file() {
        return Err(CliError::Usage(format!(
            "{flag} file:{path}: there is no such file (a .{ext} file is expected)"
        )));
    }
    Ok(format!("{}{path}", red5_media::source::FILE_ID))
}

fn default_device(
    list: Result<Vec<red5_media::DeviceInfo>, red5_media::MediaError>,
    kind: &str,
) -> Result<String, CliError> {
    let list = list?;
    list.iter()
        .find(|d| d.is_default)
        .or_else(|| list.first())
        .map(|d| d.id.clone())
        .ok_or_else(|| CliError::Usage(format!("no {kind} was found on this machine")))
}

impl Args {
    fn config(&self, ctx: &Context) -> Result<PublisherConfig, CliError> {
        let (endpoint, ice) = self.server.resolve(ctx)?;
        let (video, audio) = self.media.settings()?;
        let mut cfg = PublisherConfig::new(endpoint, self.stream.trim(), None, None);
        cfg.ice_servers = ice;
        cfg.key_framerate_ms = self.media.key_interval_ms.max(100);
        cfg.video = video;
        cfg.audio = audio;
        Ok(cfg)
    }
}

/// What the periodic metadata carries: the `--metadata` object plus a counter and the time.
pub fn periodic_metadata(base: Option<&Value>, counter: u64) -> Value {
    let mut m = match base {
        Some(Value::Object(o)) => o.clone(),
        _ => Map::new(),
    };
    m.insert("counter".into(), json!(counter));
    m.insert("time".into(), json!(now()));
    Value::Object(m)
}

/// Why a message is sent (printed with the `sent` line).
#[derive(Debug, Clone, Copy)]
enum Origin {
    Start,
    Resend,
    Timer,
    Control,
    Stdin,
}

impl Origin {
    fn label(self) -> &'static str {
        match self {
            Origin::Start => "start",
            Origin::Resend => "reconnect",
            Origin::Timer => "timer",
            Origin::Control => "control",
            Origin::Stdin => "stdin",
        }
    }
}

struct Outgoing {
    method: String,
    data: Value,
    origin: Origin,
    reply: Option<oneshot::Sender<Reply>>,
}

/// A message and how sending it went.
type Sent = (Outgoing, Result<(), red5_session::Error>);

/// One task sends in order, so the main loop never waits on the network and messages keep
/// their order (the engine queues them while connecting or reconnecting).
fn spawn_sender(
    publisher: Arc<Publisher>,
) -> (
    mpsc::UnboundedSender<Outgoing>,
    mpsc::UnboundedReceiver<Sent>,
) {
    let (tx, mut rx) = mpsc::unbounded_channel::<Outgoing>();
    let (done_tx, done_rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(o) = rx.recv().await {
            let r = publisher.send(o.method.clone(), o.data.clone()).await;
            if done_tx.send((o, r)).is_err() {
                break;
            }
        }
    });
    (tx, done_rx)
}

pub fn run(ctx: &Context, args: &Args, out: &mut impl Write) -> Result<ExitCode, CliError> {
    let cfg = args.config(ctx)?;
    let initial = args.metadata.as_deref().map(metadata_value);
    let every = args
        .metadata_every
        .map(|s| parse_secs("--metadata-every", s))
        .transpose()?;
    let duration = args
        .duration
        .map(|s| parse_secs("--duration", s))
        .transpose()?;
    let control_path = (!args.no_control).then(|| {
        args.control
            .clone()
            .unwrap_or_else(|| control::default_path(&ctx.config_dir, &cfg.stream_name))
    });
    runtime()?.block_on(async move {
        let mut stop = Stop::install();
        let (control, mut control_rx) = match &control_path {
            Some(p) => {
                let (s, rx) = ControlServer::bind(p).await?;
                (Some(s), rx)
            }
            None => (None, mpsc::channel::<Incoming>(1).1),
        };
        let mut lines = Lines::new(out);
        let mut intro = describe(&cfg.endpoint);
        intro["type"] = json!("publishing");
        intro["stream"] = json!(cfg.stream_name);
        let (video, audio) = describe_media(cfg.video.as_ref(), cfg.audio.as_ref());
        intro["video"] = video;
        intro["audio"] = audio;
        intro["control"] = json!(control.as_ref().map(|c| c.path().display().to_string()));
        lines.emit(intro)?;

        let stream = cfg.stream_name.clone();
        let (publisher, mut events) = Publisher::start(cfg).await?;
        let publisher = Arc::new(publisher);
        let (send_tx, mut sent_rx) = spawn_sender(publisher.clone());

        let mut stdin = args
            .metadata_stdin
            .then(|| tokio::io::BufReader::new(tokio::io::stdin()).lines());
        // `--duration` counts from the moment the stream is live.
        let mut deadline: Option<tokio::time::Instant> = None;
        let mut ticker = every.map(|d| {
            let mut t = tokio::time::interval_at(tokio::time::Instant::now() + d, d);
            t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            t
        });
        let (mut live, mut started_once, mut counter) = (false, false, 0u64);
        // The latest metadata sent, re-sent after a reconnect so late viewers still get it.
        let mut latest: Option<Value> = None;
        let queue = |method: &str, data: Value, origin, reply| {
            let _ = send_tx.send(Outgoing {
                method: method.to_owned(),
                data,
                origin,
                reply,
            });
        };

        let code = loop {
            tokio::select! {
                ev = events.recv() => {
                    let Some(ev) = ev else {
                        eprintln!("red5-desk-cli: the publish session ended unexpectedly");
                        break ExitCode::FAILURE;
                    };
                    if matches!(ev, PublisherEvent::Stats { .. }) && !args.stats {
                        continue;
                    }
                    lines.event(&ev)?;
                    match ev {
                        PublisherEvent::Started => {
                            live = true;
                            if !started_once {
                                started_once = true;
                                deadline = duration.map(|d| tokio::time::Instant::now() + d);
                                if let Some(m) = &initial {
                                    queue("onMetaData", m.clone(), Origin::Start, None);
                                }
                            } else if let Some(m) = &latest {
                                queue("onMetaData", m.clone(), Origin::Resend, None);
                            }
                        }
                        PublisherEvent::Reconnecting { .. } => live = false,
                        PublisherEvent::Failed { error } => {
                            let context = if started_once {
                                format!("publishing \"{stream}\" stopped")
                            } else {
                                format!("could not publish \"{stream}\"")
                            };
                            eprintln!("red5-desk-cli: {}", failure_text(&context, &error));
                            break ExitCode::FAILURE;
                        }
                        PublisherEvent::Unpublished => break ExitCode::SUCCESS,
                        _ => {}
                    }
                }
                Some((o, r)) = sent_rx.recv() => {
                    let ok = r.is_ok();
                    if ok && o.method == "onMetaData" {
                        latest = Some(o.data.clone());
                    }
                    let mut line = json!({
                        "type": if ok { "sent" } else { "sendFailed" },
                        "method": o.method,
                        "data": o.data,
                        "via": o.origin.label(),
                    });
                    if let Err(e) = &r {
                        line["error"] = json!(e.to_string());
                        eprintln!("red5-desk-cli: could not send {}: {e}", o.method);
                    }
                    lines.emit(line)?;
                    if let Some(reply) = o.reply {
                        let _ = reply.send(Reply { ok, error: r.err().map(|e| e.to_string()) });
                    }
                }
                line = next_stdin_line(&mut stdin) => match line {
                    Some(line) if !line.trim().is_empty() => {
                        queue("onMetaData", metadata_value(line.trim()), Origin::Stdin, None);
                    }
                    Some(_) => {}
                    // End of input: keep publishing.
                    None => stdin = None,
                },
                Some(inc) = control_rx.recv() => {
                    let Incoming { request, reply } = inc;
                    match request.command.as_deref() {
                        Some(command) => {
                            let r = apply_command(&publisher, command, request.value.as_ref());
                            let ok = r.is_ok();
                            let mut line = json!({"type": "control", "command": command, "ok": ok});
                            if let Err(e) = &r {
                                line["error"] = json!(e);
                            }
                            lines.emit(line)?;
                            let _ = reply.send(Reply { ok, error: r.err() });
                            if ok && command == "stop" {
                                break stop_cleanly(&publisher, &mut events, &mut lines).await?;
                            }
                        }
                        None if request.method.trim().is_empty() => {
                            let _ = reply.send(Reply { ok: false, error: Some("a message needs a method name".into()) });
                        }
                        None => queue(&request.method, request.data, Origin::Control, Some(reply)),
                    }
                }
                _ = tick(&mut ticker), if live => {
                    counter += 1;
                    queue("onMetaData", periodic_metadata(initial.as_ref(), counter), Origin::Timer, None);
                }
                _ = stop.wait() => break stop_cleanly(&publisher, &mut events, &mut lines).await?,
                _ = until(deadline) => break stop_cleanly(&publisher, &mut events, &mut lines).await?,
            }
        };
        drop(control);
        Ok(code)
    })
}

/// A control-socket command on the live session.
fn apply_command(
    publisher: &Publisher,
    command: &str,
    value: Option<&Value>,
) -> Result<(), String> {
    let r = match command {
        "mute-audio" => publisher.mute_audio(true),
        "unmute-audio" => publisher.mute_audio(false),
        "mute-video" => publisher.mute_video(true),
        "unmute-video" => publisher.mute_video(false),
        "bitrate" => match value.and_then(Value::as_u64) {
            Some(kbps) if (50..=50_000).contains(&kbps) => {
                publisher.set_video_bitrate((kbps * 1000) as u32)
            }
            _ => return Err("bitrate needs a value in kbps between 50 and 50000".into()),
        },
        "stop" => Ok(()),
        other => {
            return Err(format!(
                "unknown command '{other}' (mute-audio, unmute-audio, mute-video, unmute-video, \
                 bitrate, stop)"
            ))
        }
    };
    r.map_err(|e| e.to_string())
}

type StdinLines = tokio::io::Lines<tokio::io::BufReader<tokio::io::Stdin>>;

/// The next stdin line; never once stdin is done (or not read at all).
async fn next_stdin_line(stdin: &mut Option<StdinLines>) -> Option<String> {
    match stdin {
        Some(l) => l.next_line().await.ok().flatten(),
        None => std::future::pending().await,
    }
}

/// Resolves at `at`; never without one.
async fn until(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// The next periodic-metadata tick; never without `--metadata-every`.
async fn tick(t: &mut Option<tokio::time::Interval>) {
    match t {
        Some(t) => {
            t.tick().await;
        }
        None => std::future::pending().await,
    }
}

/// Unpublish, print what the engine reports on the way out, succeed.
async fn stop_cleanly<W: Write>(
    publisher: &Publisher,
    events: &mut mpsc::UnboundedReceiver<PublisherEvent>,
    lines: &mut Lines<'_, W>,
) -> Result<ExitCode, CliError> {
    publisher.stop().await;
    while let Ok(ev) = events.try_recv() {
        if !matches!(ev, PublisherEvent::Stats { .. }) {
            lines.event(&ev)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn sources_map_to_media_ids() {
        assert_eq!(
            video_source("synthetic").unwrap().as_deref(),
            Some("synthetic:pattern")
        );
        assert_eq!(
            video_source("synthetic:red").unwrap().as_deref(),
            Some("synthetic:pattern:red")
        );
        assert!(video_source("synthetic:purple")
            .unwrap_err()
            .to_string()
            .contains("unknown colour"));
        assert_eq!(video_source("none").unwrap(), None);
        assert_eq!(
            video_source("device:camera:0").unwrap().as_deref(),
            Some("camera:0")
        );
        assert!(video_source("file:/no/such.y4m")
            .unwrap_err()
            .to_string()
            .contains("no such file"));
        assert!(video_source("webcam").is_err());
        assert_eq!(
            audio_source("tone").unwrap().as_deref(),
            Some("synthetic:tone")
        );
        assert_eq!(
            audio_source("tone:1000").unwrap().as_deref(),
            Some("synthetic:tone:1000")
        );
        assert!(audio_source("tone:loud").is_err());
        assert_eq!(
            audio_source("device:alsa:default").unwrap().as_deref(),
            Some("alsa:default")
        );
    }

    #[test]
    fn sizes_and_seconds() {
        assert_eq!(parse_size("1280x720").unwrap(), (1280, 720));
        assert!(parse_size("1280").is_err());
        assert!(parse_size("0x0").is_err());
        assert_eq!(
            parse_secs("--duration", 1.5).unwrap(),
            Duration::from_millis(1500)
        );
        assert!(parse_secs("--duration", -1.0).is_err());
        assert!(parse_secs("--duration", 0.0).is_err());
    }

    #[test]
    fn periodic_metadata_extends_the_base_object() {
        let v = periodic_metadata(Some(&json!({"title": "t"})), 3);
        assert_eq!(v["title"], "t");
        assert_eq!(v["counter"], 3);
        assert!(v["time"].as_str().unwrap().ends_with('Z'));
        let v = periodic_metadata(None, 1);
        assert_eq!(v.as_object().unwrap().len(), 2);
    }
}
