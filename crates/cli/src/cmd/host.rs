//! `host`: the conference host on red5-session's `Host` engine. One-shot actions (status,
//! create, destroy, admit, remove, presenter, exclude, order) connect, wait for the backend's
//! lists, check the action against them, act, wait until the backend confirms the change (or
//! refuses it), print the room's state as one JSON line and exit. `watch` stays connected,
//! prints every change as a JSON line and takes the same actions as lines on stdin.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use red5_config::{ProfileKind, SettingsStore};
use red5_session::host::{CompositionForm, CompositionState, HostSnapshot};
use red5_session::{Host, HostConfig, HostEvent};
use red5_signal::Secret;
use serde_json::json;
use tokio::io::AsyncBufReadExt;
use tokio::sync::mpsc;

use super::publish::{parse_secs, parse_size};
use super::server::ServerArgs;
use crate::jsonl::Lines;
use crate::signals::{runtime, Stop};
use crate::{CliError, Context};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The room: `room1` (in the server's app, e.g. live/room1) or `<app>/<room>`.
    pub room: String,

    #[command(subcommand)]
    pub action: Action,

    #[command(flatten)]
    pub server: ServerArgs,

    /// The conference backend WebSocket (default: the server's own, ws://host:port/, which the
    /// built-in server provides).
    #[arg(long, value_name = "URL", help_heading = "Conference", global = true)]
    pub backend: Option<String>,
    /// Stream Manager 1.0 access token, the composition's digest (default: the SM1 profile's;
    /// the built-in server accepts any).
    #[arg(
        long,
        env = "RED5_DESK_ACCESS_TOKEN",
        hide_env_values = true,
        help_heading = "Conference",
        global = true
    )]
    pub access_token: Option<String>,
    /// How long to wait for the backend to confirm an action.
    #[arg(
        long,
        value_name = "SECS",
        default_value_t = 30.0,
        help_heading = "Conference",
        global = true
    )]
    pub timeout: f64,
}

#[derive(Debug, Clone, clap::Subcommand)]
pub enum Action {
    /// Print the room: mixer regions, waiting room, conference, presenter, banned, compositions.
    #[command(alias = "list")]
    Status,
    /// Stay connected: print every change; read actions from stdin (`admit alice`, `quit`…).
    Watch,
    /// Create the room's composition (prefilled like the host page: event = room, the first
    /// mixer region, 1280x720, 30 fps, 1500 kbps).
    Create(CreateArgs),
    /// Destroy a composition (default: the room's).
    Destroy {
        /// Composition event (default: the room name).
        event: Option<String>,
    },
    /// Add waiting-room streams to the conference (the first one becomes presenter).
    #[command(alias = "promote")]
    Admit {
        #[arg(required = true)]
        streams: Vec<String>,
    },
    /// Send conference streams back to the waiting room.
    #[command(alias = "demote")]
    Remove {
        #[arg(required = true)]
        streams: Vec<String>,
    },
    /// Make a conference stream the presenter.
    Presenter { stream: String },
    /// Ban streams from the waiting room and the conference (also when they publish again).
    #[command(alias = "ban")]
    Exclude {
        #[arg(required = true)]
        streams: Vec<String>,
    },
    /// Move a conference stream to a position of the layout (0 = first).
    Order { stream: String, index: usize },
}

#[derive(Debug, Clone, clap::Args)]
pub struct CreateArgs {
    /// Mixer region (default: the first the server announces).
    #[arg(long)]
    pub region: Option<String>,
    /// Composite size WIDTHxHEIGHT.
    #[arg(long, default_value = "1280x720")]
    pub size: String,
    #[arg(long, default_value_t = 30)]
    pub fps: u32,
    /// Composite bitrate in kbps.
    #[arg(long, default_value_t = 1500)]
    pub bitrate: u32,
    /// The mixer's page (default: the conference layout page on the Stream Manager).
    #[arg(long, value_name = "URL")]
    pub mixing_page: Option<String>,
    /// Also wait until the mixer produces the composite (state composing).
    #[arg(long)]
    pub wait_composing: bool,
}

impl Args {
    fn config(&self, ctx: &Context) -> Result<HostConfig, CliError> {
        let (ep, _) = self.server.resolve(ctx)?;
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
        let mut cfg = HostConfig::new(backend, room);
        cfg.access_token = match &self.access_token {
            Some(t) => Secret::new(t.clone()),
            None => self.profile_token(ctx),
        };
        Ok(cfg)
    }

    /// The SM1 profile's access token; the built-in server takes any non-empty digest.
    fn profile_token(&self, ctx: &Context) -> Secret {
        if self.server.url.is_some() {
            return Secret::default();
        }
        let store = SettingsStore::open(&ctx.config_dir);
        let p = match &self.server.profile {
            Some(want) => store
                .profile(want)
                .or_else(|| {
                    store
                        .profiles()
                        .iter()
                        .find(|p| p.name.eq_ignore_ascii_case(want.trim()))
                })
                .cloned(),
            None => Some(store.active().clone()),
        };
        match p.map(|p| p.kind) {
            Some(ProfileKind::Sm1 { access_token }) => access_token,
            Some(ProfileKind::BuiltIn) => Secret::new("local"),
            _ => Secret::default(),
        }
    }
}

/// An action checked against what the backend said, and what confirms it.
fn check(action: &Action, s: &HostSnapshot, room_name: &str) -> Result<(), String> {
    let list = |v: &[String], place: &str| {
        if v.is_empty() {
            format!("the {place} is empty")
        } else {
            format!("in the {place}: {}", v.join(", "))
        }
    };
    match action {
        Action::Admit { streams } => {
            for n in streams {
                if s.excluded.contains(n) {
                    return Err(format!("{n} is banned from this room"));
                }
                if !s.waiting.contains(n) && !s.conference.contains(n) {
                    return Err(format!(
                        "{n} is not in the waiting room ({})",
                        list(&s.waiting, "waiting room")
                    ));
                }
            }
        }
        Action::Remove { streams } => {
            for n in streams {
                if !s.conference.contains(n) {
                    return Err(format!(
                        "{n} is not in the conference ({})",
                        list(&s.conference, "conference")
                    ));
                }
            }
        }
        Action::Presenter { stream } | Action::Order { stream, .. } => {
            if !s.conference.contains(stream) {
                return Err(format!(
                    "{stream} is not in the conference ({})",
                    list(&s.conference, "conference")
                ));
            }
        }
        Action::Destroy { event } => {
            let event = event.as_deref().unwrap_or(room_name);
            if !s.compositions.iter().any(|c| c.event == event) {
                let events: Vec<String> = s.compositions.iter().map(|c| c.event.clone()).collect();
                return Err(format!(
                    "there is no composition '{event}' (compositions: {})",
                    if events.is_empty() {
                        "none".into()
                    } else {
                        events.join(", ")
                    }
                ));
            }
        }
        Action::Create(_) => {
            if s.compositions.iter().any(|c| c.event == room_name) {
                return Err(format!(
                    "the composition '{room_name}' already exists (destroy it first)"
                ));
            }
        }
        Action::Exclude { .. } | Action::Status | Action::Watch => {}
    }
    Ok(())
}

/// Whether the snapshot shows the action done.
fn done(action: &Action, s: &HostSnapshot, room_name: &str) -> bool {
    match action {
        Action::Admit { streams } => streams.iter().all(|n| s.conference.contains(n)),
        Action::Remove { streams } => streams.iter().all(|n| !s.conference.contains(n)),
        Action::Presenter { stream } => s.presenter.as_deref() == Some(stream),
        // The ban lands first, the lists that drop the name right after it.
        Action::Exclude { streams } => streams
            .iter()
            .all(|n| s.excluded.contains(n) && !s.waiting.contains(n) && !s.conference.contains(n)),
        Action::Order { stream, index } => {
            let at = (*index).min(s.conference.len().saturating_sub(1));
            s.conference.get(at) == Some(stream)
        }
        Action::Destroy { event } => {
            let event = event.as_deref().unwrap_or(room_name);
            !s.compositions.iter().any(|c| c.event == event)
        }
        Action::Create(a) => s.compositions.iter().any(|c| {
            c.event == room_name && (!a.wait_composing || c.state == CompositionState::Composing)
        }),
        Action::Status | Action::Watch => true,
    }
}

/// Sends the action to the backend.
fn act(host: &Host, action: &Action) -> Result<(), CliError> {
    match action {
        Action::Admit { streams } => streams.iter().try_for_each(|n| host.promote(n))?,
        Action::Remove { streams } => streams.iter().try_for_each(|n| host.demote(n))?,
        Action::Presenter { stream } => host.presenter(stream)?,
        Action::Exclude { streams } => streams.iter().try_for_each(|n| host.exclude(n))?,
        Action::Order { stream, index } => host.order(stream, *index)?,
        Action::Destroy { event } => {
            let event = event.clone().unwrap_or_else(|| host.room().name.clone());
            host.destroy_composition(&event)?
        }
        Action::Create(a) => {
            let mut form: CompositionForm = host.composition_form();
            if let Some(r) = &a.region {
                form.region = r.clone();
            }
            (form.width, form.height) = parse_size(&a.size)?;
            form.fps = a.fps;
            form.bitrate_kbps = a.bitrate;
            form.mixing_page = a.mixing_page.clone();
            host.create_composition(&form)?
        }
        Action::Status | Action::Watch => {}
    }
    Ok(())
}

fn snapshot_line(s: &HostSnapshot, room: &str) -> Result<serde_json::Value, CliError> {
    let mut v = serde_json::to_value(s)?;
    v["type"] = json!("room");
    v["room"] = json!(room);
    Ok(v)
}

/// How long the backend's lists may keep coming after the connection opens: it sends them
/// right away (mixerRegions first), so a short quiet spell means they are all in.
const SETTLE_QUIET: Duration = Duration::from_millis(300);
const SETTLE_MAX: Duration = Duration::from_secs(3);
const CHECK_GRACE: Duration = Duration::from_millis(1500);

pub fn run(ctx: &Context, args: &Args, out: &mut impl Write) -> Result<ExitCode, CliError> {
    let cfg = args.config(ctx)?;
    if matches!(args.action, Action::Create(_)) && cfg.access_token.expose().trim().is_empty() {
        return Err(CliError::Usage(
            "creating a composition needs the Stream Manager access token: pass --access-token \
             or set RED5_DESK_ACCESS_TOKEN (or use an SM1 profile that has it)"
                .into(),
        ));
    }
    let timeout = parse_secs("--timeout", args.timeout)?;
    runtime()?.block_on(async move {
        let mut stop = Stop::install();
        let mut lines = Lines::new(out);
        let (host, mut events) = Host::connect(cfg).await?;
        let context = host.room().context();
        let room_name = host.room().name.clone();

        // Connected, then the lists.
        // What arrives before and while the lists settle is shown first by `watch`.
        let mut watch_events = Vec::new();
        let connected = tokio::time::timeout(timeout, async {
            while let Some(ev) = events.recv().await {
                match ev {
                    HostEvent::Connected => return Ok(()),
                    HostEvent::Failed { error } => return Err(error),
                    other => watch_events.push(other),
                }
            }
            Err(red5_session::Error::Closed)
        })
        .await;
        match connected {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                eprintln!("red5-desk-cli: the host could not connect for {context}: {e}");
                return Ok(ExitCode::FAILURE);
            }
            Err(_) => {
                eprintln!(
                    "red5-desk-cli: the conference backend did not answer within {} s",
                    timeout.as_secs()
                );
                return Ok(ExitCode::FAILURE);
            }
        }
        let settle_end = tokio::time::Instant::now() + SETTLE_MAX;
        loop {
            let quiet = tokio::time::Instant::now() + SETTLE_QUIET;
            let until = quiet.min(settle_end);
            match tokio::time::timeout_at(until, events.recv()).await {
                Ok(Some(ev)) => watch_events.push(ev),
                Ok(None) | Err(_) => break,
            }
        }

        if matches!(args.action, Action::Watch) {
            let code = watch(&host, &mut events, watch_events, &mut lines, &mut stop, &context).await?;
            host.stop().await;
            return Ok(code);
        }

        // A refusal is only final after a grace spell: on a loaded machine a list can come
        // in after the quiet spell, and each event is a reason to look again.
        let grace_end = tokio::time::Instant::now() + CHECK_GRACE;
        while let Err(why) = check(&args.action, &host.snapshot(), &room_name) {
            match tokio::time::timeout_at(grace_end, events.recv()).await {
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => {
                    eprintln!("red5-desk-cli: {context}: {why}");
                    host.stop().await;
                    return Ok(ExitCode::FAILURE);
                }
            }
        }
        if let Err(e) = act(&host, &args.action) {
            host.stop().await;
            return Err(e);
        }
        let deadline = tokio::time::Instant::now() + timeout;
        let code = loop {
            if done(&args.action, &host.snapshot(), &room_name) {
                lines.emit(snapshot_line(&host.snapshot(), &context)?)?;
                break ExitCode::SUCCESS;
            }
            tokio::select! {
                ev = events.recv() => match ev {
                    Some(HostEvent::Error { message }) => {
                        eprintln!("red5-desk-cli: {context}: {message}");
                        break ExitCode::FAILURE;
                    }
                    Some(HostEvent::Failed { error }) => {
                        eprintln!("red5-desk-cli: {context}: {error}");
                        break ExitCode::FAILURE;
                    }
                    Some(_) => {}
                    None => {
                        eprintln!("red5-desk-cli: {context}: the host session ended unexpectedly");
                        break ExitCode::FAILURE;
                    }
                },
                _ = tokio::time::sleep_until(deadline) => {
                    eprintln!(
                        "red5-desk-cli: {context}: the conference backend did not confirm within {} s",
                        timeout.as_secs()
                    );
                    break ExitCode::FAILURE;
                }
                _ = stop.wait() => break ExitCode::FAILURE,
            }
        };
        host.stop().await;
        Ok(code)
    })
}

/// `watch`: the settled state first, then every change; actions from stdin lines.
async fn watch<W: Write>(
    host: &Host,
    events: &mut mpsc::UnboundedReceiver<HostEvent>,
    first: Vec<HostEvent>,
    lines: &mut Lines<'_, W>,
    stop: &mut Stop,
    context: &str,
) -> Result<ExitCode, CliError> {
    lines.emit(json!({"type": "connected"}))?;
    for ev in &first {
        if !matches!(ev, HostEvent::Connected) {
            lines.event(ev)?;
        }
    }
    lines.emit(snapshot_line(&host.snapshot(), context)?)?;
    let mut stdin = Some(tokio::io::BufReader::new(tokio::io::stdin()).lines());
    loop {
        tokio::select! {
            ev = events.recv() => match ev {
                Some(ev) => {
                    lines.event(&ev)?;
                    if let HostEvent::Failed { error } = &ev {
                        eprintln!("red5-desk-cli: {context}: {error}");
                        return Ok(ExitCode::FAILURE);
                    }
                }
                None => return Ok(ExitCode::FAILURE),
            },
            line = next_line(&mut stdin) => {
                let Some(line) = line else {
                    // stdin closed (or not a terminal): keep watching until a signal.
                    stdin = None;
                    continue;
                };
                let line = line.trim();
                if line.is_empty() {
                    continue;
                }
                if matches!(line, "quit" | "exit") {
                    return Ok(ExitCode::SUCCESS);
                }
                match parse_line(line) {
                    Ok(Action::Status) => lines.emit(snapshot_line(&host.snapshot(), context)?)?,
                    Ok(action) => {
                        let room_name = host.room().name.clone();
                        let r = check(&action, &host.snapshot(), &room_name)
                            .map_err(CliError::Control)
                            .and_then(|()| act(host, &action));
                        if let Err(e) = r {
                            lines.emit(json!({"type": "error", "message": e.to_string()}))?;
                        }
                    }
                    Err(e) => lines.emit(json!({"type": "error", "message": e}))?,
                }
            }
            _ = stop.wait() => return Ok(ExitCode::SUCCESS),
        }
    }
}

async fn next_line(
    stdin: &mut Option<tokio::io::Lines<tokio::io::BufReader<tokio::io::Stdin>>>,
) -> Option<String> {
    match stdin {
        Some(l) => l.next_line().await.ok().flatten(),
        None => std::future::pending().await,
    }
}

/// A `watch` input line as an action, parsed with the same clap definitions as the command line.
fn parse_line(line: &str) -> Result<Action, String> {
    #[derive(clap::Parser)]
    #[command(no_binary_name = true, disable_help_flag = true)]
    struct Line {
        #[command(subcommand)]
        action: Action,
    }
    use clap::Parser;
    let words: Vec<&str> = line.split_whitespace().collect();
    match Line::try_parse_from(words) {
        Ok(Line {
            action: Action::Watch,
        }) => Err("already watching".into()),
        Ok(l) => Ok(l.action),
        Err(e) => Err(e
            .to_string()
            .lines()
            .next()
            .unwrap_or("not an action")
            .trim_start_matches("error: ")
            .to_owned()),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn snap() -> HostSnapshot {
        HostSnapshot {
            connected: true,
            mixer_regions: vec!["local".into()],
            waiting: vec!["bob".into()],
            conference: vec!["alice".into(), "carol".into()],
            presenter: Some("alice".into()),
            excluded: vec!["eve".into()],
            compositions: vec![],
        }
    }

    #[test]
    fn actions_are_checked_against_the_room() {
        let s = snap();
        let admit = |n: &str| Action::Admit {
            streams: vec![n.into()],
        };
        assert!(check(&admit("bob"), &s, "room1").is_ok());
        assert!(check(&admit("eve"), &s, "room1")
            .unwrap_err()
            .contains("banned"));
        let e = check(&admit("zed"), &s, "room1").unwrap_err();
        assert_eq!(
            e,
            "zed is not in the waiting room (in the waiting room: bob)"
        );
        assert!(check(
            &Action::Remove {
                streams: vec!["bob".into()]
            },
            &s,
            "room1"
        )
        .is_err());
        let e = check(&Action::Destroy { event: None }, &s, "room1").unwrap_err();
        assert!(
            e.contains("no composition 'room1'") && e.contains("none"),
            "{e}"
        );
        assert!(done(
            &Action::Presenter {
                stream: "alice".into()
            },
            &s,
            "room1"
        ));
        assert!(done(
            &Action::Order {
                stream: "carol".into(),
                index: 9
            },
            &s,
            "room1"
        ));
        assert!(!done(&admit("bob"), &s, "room1"));
    }

    #[test]
    fn watch_lines_parse_like_the_command_line() {
        assert!(
            matches!(parse_line("admit alice bob"), Ok(Action::Admit { streams }) if streams.len() == 2)
        );
        assert!(matches!(parse_line("ban eve"), Ok(Action::Exclude { .. })));
        assert!(matches!(
            parse_line("order bob 0"),
            Ok(Action::Order { index: 0, .. })
        ));
        assert!(
            matches!(parse_line("create --size 640x360"), Ok(Action::Create(a)) if a.size == "640x360")
        );
        assert!(parse_line("frobnicate").unwrap_err().contains("frobnicate"));
        assert!(parse_line("watch").is_err());
    }
}
