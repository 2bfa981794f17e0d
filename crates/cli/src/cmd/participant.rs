//! `participant`: a conference participant on red5-session's `Participant` engine. It publishes
//! into the room's waiting room, waits for the host, joins by itself when admitted (composite
//! video and mix-minus audio, which `--video-out`/`--audio-out` record), goes back to waiting
//! when removed, and ends when banned. Events are JSON lines on stdout.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use red5_media::codec::VideoCodec;
use red5_session::participant::{ParticipantConfig, ParticipantEvent};
use red5_session::subscriber::AudioOutput;
use red5_session::{Participant, PublisherEvent};
use red5_signal::Secret;
use serde_json::json;
use tokio::sync::{mpsc, watch};

use super::publish::{describe_media, parse_secs, MediaArgs};
use super::server::{describe, failure_text, ServerArgs};
use super::subscribe::{audio_task, video_task, Note};
use crate::jsonl::Lines;
use crate::signals::{runtime, Stop};
use crate::{CliError, Context};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The room: `room1` (in the server's app, e.g. live/room1) or `<app>/<room>`.
    pub room: String,
    /// Your stream name in the room (what the host sees and admits).
    pub name: String,

    #[command(flatten)]
    pub server: ServerArgs,
    #[command(flatten)]
    pub media: MediaArgs,

    /// The conference backend WebSocket (default: the server's own, ws://host:port/).
    #[arg(long, value_name = "URL", help_heading = "Conference")]
    pub backend: Option<String>,
    /// Stream Manager 1.0 access token for the conference provision (SM1 route).
    #[arg(
        long,
        env = "RED5_DESK_ACCESS_TOKEN",
        hide_env_values = true,
        help_heading = "Conference"
    )]
    pub access_token: Option<String>,

    /// Write the composite video to this Y4M file.
    #[arg(long, value_name = "FILE.y4m", help_heading = "Output")]
    pub video_out: Option<PathBuf>,
    /// Frame rate written in the Y4M header.
    #[arg(long, default_value_t = 30, help_heading = "Output")]
    pub video_out_fps: u32,
    /// Write the mix-minus audio (48 kHz, 16-bit) to this WAV file.
    #[arg(long, value_name = "FILE.wav", help_heading = "Output")]
    pub audio_out: Option<PathBuf>,
    /// Play the mix-minus on the default speaker (or --speaker); silent by default.
    #[arg(long, help_heading = "Output")]
    pub play: bool,
    /// Speaker id to play on (see `devices`); implies --play.
    #[arg(long, value_name = "ID", help_heading = "Output")]
    pub speaker: Option<String>,
    /// Also print stats lines every second.
    #[arg(long, help_heading = "Output")]
    pub stats: bool,

    /// Leave after SECS seconds; default: until Ctrl+C or SIGTERM.
    #[arg(long, value_name = "SECS", help_heading = "Run")]
    pub duration: Option<f64>,
}

impl Args {
    fn config(&self, ctx: &Context) -> Result<ParticipantConfig, CliError> {
        let (ep, ice) = self.server.resolve(ctx)?;
        let room = if self.room.trim_matches('/').contains('/') {
            self.room.trim_matches('/').to_owned()
        } else {
            format!("{}/{}", ep.app.trim_matches('/'), self.room.trim())
        };
        let backend = match &self.backend {
            Some(b) => b.trim().to_owned(),
            None => format!(
                "{}/",
                ep.base_url
                    .replacen("https://", "wss://", 1)
                    .replacen("http://", "ws://", 1)
                    .trim_end_matches('/')
            ),
        };
        let (video, audio) = self.media.settings()?;
        if video.as_ref().is_some_and(|v| v.codec != VideoCodec::H264) {
            return Err(CliError::Usage(
                "a conference takes H.264 video only (the mixer decodes constrained baseline); \
                 leave out --codec or use --codec h264"
                    .into(),
            ));
        }
        let mut cfg = ParticipantConfig::new(ep, backend, room, self.name.trim(), None, None);
        cfg.video = video;
        cfg.audio = audio;
        cfg.ice_servers = ice;
        if let Some(t) = &self.access_token {
            cfg.access_token = Secret::new(t.clone());
        }
        cfg.audio_output = match (&self.speaker, self.play) {
            (Some(id), _) => AudioOutput::Device(id.clone()),
            (None, true) => AudioOutput::Default,
            (None, false) => AudioOutput::Silent,
        };
        if self.video_out.is_some() {
            cfg.frame_queue = 30;
        }
        Ok(cfg)
    }
}

fn is_stats(ev: &ParticipantEvent) -> bool {
    matches!(
        ev,
        ParticipantEvent::Stats { .. }
            | ParticipantEvent::WaitingRoom {
                event: PublisherEvent::Stats { .. }
            }
    )
}

pub fn run(ctx: &Context, args: &Args, out: &mut impl Write) -> Result<ExitCode, CliError> {
    let cfg = args.config(ctx)?;
    let duration = args
        .duration
        .map(|s| parse_secs("--duration", s))
        .transpose()?;
    runtime()?.block_on(async move {
        let mut stop = Stop::install();
        let mut lines = Lines::new(out);
        let mut intro = describe(&cfg.endpoint);
        intro["type"] = json!("participating");
        intro["room"] = json!(cfg.room);
        intro["name"] = json!(cfg.name);
        intro["backend"] = json!(cfg.backend_url);
        intro["joinRoute"] = json!(cfg.join_route);
        let (video, audio) = describe_media(cfg.video.as_ref(), cfg.audio.as_ref());
        intro["video"] = video;
        intro["audio"] = audio;
        lines.emit(intro)?;
        let who = format!("{} in {}", cfg.name, cfg.room);

        let (p, mut events) = Participant::start(cfg).await?;
        let (stop_tx, stop_rx) = watch::channel(false);
        let (note_tx, mut notes) = mpsc::unbounded_channel::<Note>();
        let video = match (p.take_video_frames(), &args.video_out) {
            (Some(rx), Some(path)) => Some(tokio::spawn(video_task(
                rx,
                Some(path.clone()),
                args.video_out_fps,
                None,
                stop_rx.clone(),
                note_tx.clone(),
            ))),
            _ => None,
        };
        let audio = match (p.take_audio_frames(), &args.audio_out) {
            (Some(rx), Some(path)) => Some(tokio::spawn(audio_task(rx, path.clone(), stop_rx))),
            _ => None,
        };
        drop(note_tx);
        let deadline = async {
            match duration {
                Some(d) => tokio::time::sleep(d).await,
                None => std::future::pending().await,
            }
        };
        tokio::pin!(deadline);

        let mut code = loop {
            tokio::select! {
                ev = events.recv() => {
                    let Some(ev) = ev else {
                        eprintln!("red5-desk-cli: the participant session ended unexpectedly");
                        break ExitCode::FAILURE;
                    };
                    if !is_stats(&ev) || args.stats {
                        lines.event(&ev)?;
                    }
                    match ev {
                        ParticipantEvent::Failed { error } => {
                            eprintln!("red5-desk-cli: {}", failure_text(&who, &error));
                            break ExitCode::FAILURE;
                        }
                        ParticipantEvent::Excluded => {
                            eprintln!("red5-desk-cli: {who}: the host excluded you from the room");
                            break ExitCode::FAILURE;
                        }
                        _ => {}
                    }
                }
                Some(note) = notes.recv() => {
                    if let Note::Line(v) = note {
                        lines.emit(v)?;
                    }
                }
                _ = stop.wait() => break ExitCode::SUCCESS,
                _ = &mut deadline => break ExitCode::SUCCESS,
            }
        };
        p.leave().await;
        while let Ok(ev) = events.try_recv() {
            if !is_stats(&ev) {
                lines.event(&ev)?;
            }
        }
        let _ = stop_tx.send(true);
        for (task, what) in [(video, "video"), (audio, "audio")] {
            let Some(task) = task else { continue };
            match task.await {
                Ok(Ok(n)) => lines.emit(json!({"type": "saved", "media": what, "count": n}))?,
                Ok(Err(e)) => {
                    eprintln!("red5-desk-cli: {e}");
                    code = ExitCode::FAILURE;
                }
                Err(e) => {
                    eprintln!("red5-desk-cli: the {what} writer stopped: {e}");
                    code = ExitCode::FAILURE;
                }
            }
        }
        Ok(code)
    })
}
