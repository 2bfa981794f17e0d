//! `subscribe`: one subscriber session (red5-session). Every `onMetaData` (including the latest
//! one the server replays at join) and every engine event is a JSON line on stdout; received
//! video and audio can be written to Y4M and WAV files.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use red5_media::file::Y4mWriter;
use red5_session::subscriber::{AudioOutput, DecodedVideo};
use red5_session::{Subscriber, SubscriberConfig, SubscriberEvent};
use serde_json::{json, Value};
use tokio::sync::{mpsc, watch};

use super::publish::parse_secs;
use super::server::{describe, failure_text, ServerArgs};
use crate::jsonl::{iso_time_ms, Lines};
use crate::signals::{runtime, Stop};
use crate::{CliError, Context};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Stream name to watch.
    pub stream: String,

    #[command(flatten)]
    pub server: ServerArgs,

    /// Write the received video to this Y4M file (raw I420; plays in ffplay/mpv/VLC).
    #[arg(long, value_name = "FILE.y4m", help_heading = "Output")]
    pub video_out: Option<PathBuf>,
    /// Frame rate written in the Y4M header (frames are stored as received).
    #[arg(long, default_value_t = 30, help_heading = "Output")]
    pub video_out_fps: u32,
    /// Write the received audio (48 kHz, 16-bit) to this WAV file.
    #[arg(long, value_name = "FILE.wav", help_heading = "Output")]
    pub audio_out: Option<PathBuf>,
    /// Play the audio on the default speaker (or --speaker); silent by default.
    #[arg(long, help_heading = "Output")]
    pub play: bool,
    /// Speaker id to play on (see `devices`); implies --play.
    #[arg(long, value_name = "ID", help_heading = "Output")]
    pub speaker: Option<String>,
    /// Print only the metadata lines.
    #[arg(long, help_heading = "Output")]
    pub metadata_only: bool,
    /// Also print a stats line every second.
    #[arg(long, help_heading = "Output")]
    pub stats: bool,

    /// Stop after N decoded video frames (written to --video-out if given).
    #[arg(long, value_name = "N", help_heading = "Run")]
    pub frames: Option<u64>,
    /// Stop after SECS seconds.
    #[arg(long, value_name = "SECS", help_heading = "Run")]
    pub duration: Option<f64>,
    /// Exit when the broadcaster unpublishes (default: wait for the stream to come back).
    #[arg(long, help_heading = "Run")]
    pub exit_on_unpublish: bool,
}

/// What the writer tasks tell the main loop.
pub(crate) enum Note {
    Line(Value),
    FramesDone,
}

/// Counts (and writes) decoded frames until `limit`, the end of the stream or `stop`.
pub(crate) async fn video_task(
    mut rx: mpsc::Receiver<DecodedVideo>,
    path: Option<PathBuf>,
    fps: u32,
    limit: Option<u64>,
    mut stop: watch::Receiver<bool>,
    notes: mpsc::UnboundedSender<Note>,
) -> Result<u64, CliError> {
    let mut writer: Option<Y4mWriter> = None;
    let (mut n, mut size, mut skipped) = (0u64, None, 0u64);
    loop {
        let f = tokio::select! {
            f = rx.recv() => match f { Some(f) => f, None => break },
            _ = stop.changed() => break,
        };
        let frame = &f.frame;
        if let Some(p) = &path {
            let dims = (frame.width, frame.height);
            match size {
                None => {
                    writer = Some(Y4mWriter::create(p, dims.0, dims.1, fps.max(1))?);
                    size = Some(dims);
                }
                // A Y4M file has one size; frames of another (after a resubscribe) are left out.
                Some(s) if s != dims => {
                    skipped += 1;
                    if skipped == 1 {
                        let _ = notes.send(Note::Line(json!({
                            "type": "warning",
                            "message": format!(
                                "the video changed to {}x{}; {} keeps {}x{} frames only",
                                dims.0, dims.1, p.display(), s.0, s.1
                            ),
                        })));
                    }
                    continue;
                }
                Some(_) => {}
            }
            if let Some(w) = writer.as_mut() {
                w.write(frame)?;
            }
        }
        n += 1;
        if limit.is_some_and(|l| n >= l) {
            let _ = notes.send(Note::FramesDone);
            break;
        }
    }
    if let Some(w) = writer {
        w.finish()?;
    }
    Ok(n)
}

/// Writes the decoded audio to a WAV file until the stream ends or `stop`.
pub(crate) async fn audio_task(
    mut rx: mpsc::Receiver<red5_media::AudioFrame>,
    path: PathBuf,
    mut stop: watch::Receiver<bool>,
) -> Result<u64, CliError> {
    let mut writer: Option<hound::WavWriter<BufWriter<File>>> = None;
    let mut samples = 0u64;
    let wav_err = |e: hound::Error| CliError::Media(red5_media::MediaError::file(&path, e));
    loop {
        let f = tokio::select! {
            f = rx.recv() => match f { Some(f) => f, None => break },
            _ = stop.changed() => break,
        };
        if writer.is_none() {
            let spec = hound::WavSpec {
                channels: f.channels.max(1),
                sample_rate: f.sample_rate,
                bits_per_sample: 16,
                sample_format: hound::SampleFormat::Int,
            };
            writer = Some(hound::WavWriter::create(&path, spec).map_err(wav_err)?);
        }
        if let Some(w) = writer.as_mut() {
            for &s in &f.samples {
                w.write_sample((s.clamp(-1.0, 1.0) * 32767.0) as i16)
                    .map_err(wav_err)?;
            }
            samples += f.frames() as u64;
        }
    }
    if let Some(w) = writer {
        w.finalize().map_err(wav_err)?;
    }
    Ok(samples)
}

pub fn run(ctx: &Context, args: &Args, out: &mut impl Write) -> Result<ExitCode, CliError> {
    let (endpoint, ice) = args.server.resolve(ctx)?;
    let duration = args
        .duration
        .map(|s| parse_secs("--duration", s))
        .transpose()?;
    if args.frames == Some(0) {
        return Err(CliError::Usage("--frames must be at least 1".into()));
    }
    let mut cfg = SubscriberConfig::new(endpoint, args.stream.trim());
    cfg.ice_servers = ice;
    cfg.audio_output = match (&args.speaker, args.play) {
        (Some(id), _) => AudioOutput::Device(id.clone()),
        (None, true) => AudioOutput::Default,
        (None, false) => AudioOutput::Silent,
    };
    cfg.resubscribe_after_unpublish = !args.exit_on_unpublish;
    // Keep a few more frames while writing to disk, so a slow disk skips less.
    if args.video_out.is_some() {
        cfg.frame_queue = 30;
    }
    runtime()?.block_on(async move {
        let mut stop = Stop::install();
        let mut lines = Lines::new(out);
        if !args.metadata_only {
            let mut intro = describe(&cfg.endpoint);
            intro["type"] = json!("subscribing");
            intro["stream"] = json!(cfg.stream_name);
            lines.emit(intro)?;
        }
        let stream = cfg.stream_name.clone();
        let mut started = false;
        let (sub, mut events) = Subscriber::start(cfg).await?;
        let (stop_tx, stop_rx) = watch::channel(false);
        let (note_tx, mut notes) = mpsc::unbounded_channel();
        let video = match (
            sub.take_video_frames(),
            args.video_out.is_some() || args.frames.is_some(),
        ) {
            (Some(rx), true) => Some(tokio::spawn(video_task(
                rx,
                args.video_out.clone(),
                args.video_out_fps,
                args.frames,
                stop_rx.clone(),
                note_tx.clone(),
            ))),
            _ => None,
        };
        let audio = match (sub.take_audio_frames(), &args.audio_out) {
            (Some(rx), Some(p)) => Some(tokio::spawn(audio_task(rx, p.clone(), stop_rx.clone()))),
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
                        eprintln!("red5-desk-cli: the subscribe session ended unexpectedly");
                        break ExitCode::FAILURE;
                    };
                    match &ev {
                        SubscriberEvent::Metadata { data, received_at_ms } => {
                            lines.emit_at(iso_time_ms(*received_at_ms), json!({
                                "type": "metadata",
                                "metadata": data,
                            }))?;
                        }
                        SubscriberEvent::Stats { .. } if !args.stats => {}
                        _ if args.metadata_only => {}
                        _ => lines.event(&ev)?,
                    }
                    match ev {
                        SubscriberEvent::Failed { error } => {
                            let context = if started {
                                format!("watching \"{stream}\" stopped")
                            } else {
                                format!("could not subscribe to \"{stream}\"")
                            };
                            eprintln!("red5-desk-cli: {}", failure_text(&context, &error));
                            break ExitCode::FAILURE;
                        }
                        SubscriberEvent::Started => started = true,
                        SubscriberEvent::Unpublished if args.exit_on_unpublish => {
                            break ExitCode::SUCCESS;
                        }
                        _ => {}
                    }
                }
                Some(note) = notes.recv() => match note {
                    Note::Line(v) => lines.emit(v)?,
                    Note::FramesDone => break ExitCode::SUCCESS,
                },
                _ = stop.wait() => break ExitCode::SUCCESS,
                _ = &mut deadline => break ExitCode::SUCCESS,
            }
        };
        sub.stop().await;
        while let Ok(ev) = events.try_recv() {
            if !args.metadata_only && !matches!(ev, SubscriberEvent::Stats { .. }) {
                lines.event(&ev)?;
            }
        }
        let _ = stop_tx.send(true);
        let mut summary = json!({"type": "summary"});
        if let Some(task) = video {
            match task.await {
                Ok(Ok(n)) => summary["videoFrames"] = json!(n),
                Ok(Err(e)) => {
                    eprintln!("red5-desk-cli: {e}");
                    code = ExitCode::FAILURE;
                }
                Err(e) => {
                    eprintln!("red5-desk-cli: the video writer stopped: {e}");
                    code = ExitCode::FAILURE;
                }
            }
            if let Some(p) = &args.video_out {
                summary["videoFile"] = json!(p.display().to_string());
            }
        }
        if let Some(task) = audio {
            match task.await {
                Ok(Ok(n)) => summary["audioSamples"] = json!(n),
                Ok(Err(e)) => {
                    eprintln!("red5-desk-cli: {e}");
                    code = ExitCode::FAILURE;
                }
                Err(e) => {
                    eprintln!("red5-desk-cli: the audio writer stopped: {e}");
                    code = ExitCode::FAILURE;
                }
            }
            if let Some(p) = &args.audio_out {
                summary["audioFile"] = json!(p.display().to_string());
            }
        }
        if !args.metadata_only && summary.as_object().is_some_and(|m| m.len() > 1) {
            lines.emit(summary)?;
        }
        Ok(code)
    })
}
