//! Conference pane commands (Host and Participant panes): thin calls into the
//! `red5_session::host` and `red5_session::participant` engines, and subscriber "watches" that
//! put live video (waiting-room previews, the composite) on the UI's canvases.
//!
//! No protocol code lives here. Engine events are translated into [`ConferencePaneEvent`]s and
//! emitted on the app's one event stream ([`crate::EVENT_NAME`]) as
//! `{"type": "conference", "kind": "participant" | "host", …}`; the panes
//! (`ui/js/panes/{participant,host}.js`) render them.
//!
//! Video reaches a canvas as red5-media UI frames (16-byte header + JPEG) over a
//! `tauri::ipc::Channel`, one encoding thread per stream, throttled to what a preview needs.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use red5_config::ProfileKind;
use red5_media::devices::all_devices;
use red5_media::source::synthetic_devices;
use red5_session::subscriber::AudioOutput;
use red5_session::{
    CompositionForm, CompositionInfo, ConferenceRoom, Host, HostConfig, HostEvent, JoinRoute,
    Participant, ParticipantConfig, ParticipantEvent, ParticipantState, PublisherEvent,
    StatsSnapshot, Subscriber, SubscriberConfig, SubscriberEvent,
};
use red5_signal::Secret;
use serde::{Deserialize, Serialize};
use tauri::ipc::{Channel, InvokeResponseBody};
use tauri::{AppHandle, Emitter, Runtime, State};
use tokio::sync::mpsc;

use crate::commands::CommandError;
use crate::events::EVENT_NAME;
use crate::state::AppState;
use crate::video::{FrameSender, Sent};

/// Conference state held by the app for the Host and Participant panes.
#[derive(Default)]
pub struct ConferenceState {
    watches: Mutex<HashMap<String, Watch>>,
    participant: Mutex<Option<ParticipantRun>>,
    host: Mutex<Option<HostRun>>,
    host_view: Mutex<HostView>,
    /// The statistics of the last participant run, for export after it ended.
    last_participant_stats: Mutex<Option<String>>,
    /// Tells runs apart, so the events of an ended run cannot clear its successor.
    generation: AtomicU64,
}

struct ParticipantRun {
    engine: Arc<Participant>,
    generation: u64,
    canvas_stop: Arc<AtomicBool>,
}

struct HostRun {
    engine: Arc<Host>,
    generation: u64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic elsewhere must not lock the panes out.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl ConferenceState {
    fn watches(&self) -> MutexGuard<'_, HashMap<String, Watch>> {
        lock(&self.watches)
    }

    fn next_generation(&self) -> u64 {
        self.generation.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// The running host engine, if any.
    fn host(&self) -> Result<Arc<Host>, CommandError> {
        lock(&self.host)
            .as_ref()
            .map(|h| h.engine.clone())
            .ok_or_else(|| err("Connect to the conference backend first."))
    }

    fn update_host_view(&self, f: impl FnOnce(&mut HostView)) -> HostView {
        let mut v = lock(&self.host_view);
        let seq = v.seq + 1;
        f(&mut v);
        v.seq = seq;
        v.clone()
    }
}

/// An engine error as the panes show it. Settings problems are said without the engine's
/// "the settings are not usable" preamble: the pane's own field is what was wrong.
fn engine_error(e: red5_session::Error) -> String {
    match e {
        red5_session::Error::Config(m) => sentence(m),
        red5_session::Error::Closed => "The session has already ended.".into(),
        other => sentence(other),
    }
}

/// A message as the panes show it: a sentence starting with a capital letter.
fn sentence(e: impl std::fmt::Display) -> String {
    let s = e.to_string();
    let mut c = s.chars();
    match c.next() {
        Some(f) => {
            let mut out: String = f.to_uppercase().collect();
            out.push_str(c.as_str());
            if !out.ends_with(['.', '!', '?', ')']) {
                out.push('.');
            }
            out
        }
        None => s,
    }
}

fn err(message: impl Into<String>) -> CommandError {
    let message = message.into();
    tracing::warn!("conference command failed: {message}");
    CommandError {
        message,
        fields: Default::default(),
    }
}

// ---------------------------------------------------------------------------------------------
// Events

/// What the conference panes hear from the backend, on [`EVENT_NAME`] as `type: "conference"`.
#[derive(Clone, Debug, Serialize)]
#[serde(
    tag = "kind",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum ConferencePaneEvent {
    /// The Participant pane's session changed state, learned something, or failed.
    Participant {
        state: Option<ParticipantPaneState>,
        detail: Option<String>,
        info: Option<ParticipantInfo>,
        error: Option<String>,
    },
    /// The Host pane's view changed (a full snapshot), or a host action failed.
    Host {
        view: Option<HostView>,
        error: Option<String>,
    },
    /// The participant's conference connection, every second while in the conference.
    ParticipantStats { stats: StatsSnapshot },
    /// A watched stream (preview) stopped or failed; `id` is the pane's watch id.
    Watch { id: String, error: Option<String> },
}

#[derive(Serialize)]
struct Envelope<'a> {
    #[serde(rename = "type")]
    ty: &'static str,
    #[serde(flatten)]
    event: &'a ConferencePaneEvent,
}

/// Sends a conference event to every window (a closed window is not worth failing for).
pub fn emit<R: Runtime>(app: &impl Emitter<R>, event: &ConferencePaneEvent) {
    let env = Envelope {
        ty: "conference",
        event,
    };
    if let Err(e) = app.emit(EVENT_NAME, &env) {
        tracing::warn!("could not deliver a conference event to the UI: {e}");
    }
}

/// The Participant pane's states, in the words the pane shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum ParticipantPaneState {
    Idle,
    Connecting,
    /// Published to `<room>_wr`; the host has not admitted us.
    Waiting,
    /// Admitted; `joinGroup` under way.
    Joining,
    /// Receiving the composite and the mix-minus.
    InConference,
    Reconnecting,
    Leaving,
    Left,
    Failed,
}

/// Facts the Participant pane lists under its state.
#[derive(Clone, Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ParticipantInfo {
    pub room: Option<String>,
    pub waiting_room: Option<String>,
    pub composite: Option<String>,
    /// The composite's size once the first frame arrived (`1280×720`).
    pub video: Option<String>,
    pub audio: Option<String>,
}

/// Everything the Host pane shows, sent whole on every change.
#[derive(Clone, Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HostView {
    /// Grows with every change: the pane keeps the newest view, whichever path (a command's
    /// reply or an event) brought it.
    pub seq: u64,
    /// `idle`, `connecting`, `connected`, `reconnecting`, `closed`, `failed`.
    pub connection: String,
    pub app: String,
    pub room: String,
    pub regions: Vec<String>,
    /// Waiting-room streams not (yet) in the conference.
    pub waiting: Vec<String>,
    pub conference: Vec<String>,
    pub presenter: Option<String>,
    pub excluded: Vec<String>,
    pub compositions: Vec<CompositionView>,
}

/// One composition of the room as the Host pane shows it.
#[derive(Clone, Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CompositionView {
    pub event: String,
    /// Lower case: `pending`, `inservice`, `composing`, `disconnected`, `terminating`.
    pub state: String,
    /// The composite's guid, `<app>/<room>/<room>`.
    pub output: String,
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    pub bitrate_kbps: u32,
    pub region: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// Devices and defaults

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceChoice {
    pub id: String,
    pub name: String,
    pub is_default: bool,
}

#[derive(Clone, Debug, Serialize)]
pub struct ConferenceDevices {
    pub cameras: Vec<DeviceChoice>,
    pub mics: Vec<DeviceChoice>,
}

/// Cameras and microphones for the Participant pane: real devices, then the synthetic pattern
/// and tone (always available, also with no hardware).
#[tauri::command]
pub async fn conference_devices() -> ConferenceDevices {
    // Device enumeration can block (camera probing); keep it off the async runtime.
    let all = tauri::async_runtime::spawn_blocking(|| {
        let mut v = all_devices();
        v.extend(synthetic_devices());
        // The conference tests' tones (issue 6: 440, 660, 880 Hz), so three people on one
        // machine are told apart by ear and by spectrum.
        for hz in [660, 880] {
            v.push(red5_media::DeviceInfo {
                id: format!("{}:{hz}", red5_media::source::TONE_ID),
                name: format!("Test tone ({hz} Hz)"),
                kind: red5_media::DeviceKind::Microphone,
                is_default: false,
            });
        }
        v
    })
    .await
    .unwrap_or_else(|_| synthetic_devices());
    let pick = |kind: red5_media::DeviceKind| {
        all.iter()
            .filter(|d| d.kind == kind)
            .map(|d| DeviceChoice {
                id: d.id.clone(),
                name: d.name.clone(),
                is_default: d.is_default,
            })
            .collect::<Vec<_>>()
    };
    ConferenceDevices {
        cameras: pick(red5_media::DeviceKind::Camera),
        mics: pick(red5_media::DeviceKind::Microphone),
    }
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HostDefaults {
    /// The conference backend WebSocket for the active profile.
    pub backend_ws: String,
    pub app: String,
}

/// The backend WebSocket of a server base URL: the built-in server serves the conference backend
/// on its own port (`ws://127.0.0.1:<port>/`); a Red5 cluster runs it beside the Stream Manager
/// (the testbed backend's default port 8001).
pub fn backend_ws_for(base_url: &str, built_in: bool) -> String {
    let (secure, rest) = match base_url.split_once("://") {
        Some((scheme, rest)) => (scheme.eq_ignore_ascii_case("https"), rest),
        None => (false, base_url),
    };
    let authority = rest.split('/').next().unwrap_or(rest);
    let scheme = if secure { "wss" } else { "ws" };
    if built_in {
        format!("{scheme}://{authority}/")
    } else {
        let host = match authority.rsplit_once(':') {
            Some((h, p)) if p.chars().all(|c| c.is_ascii_digit()) && !h.ends_with(']') => h,
            _ => authority,
        };
        format!("{scheme}://{host}:8001/")
    }
}

/// Prefills the Host pane from the active profile.
#[tauri::command]
pub fn host_defaults(state: State<'_, AppState>) -> Result<HostDefaults, CommandError> {
    let (ep, _) = state.session_target().map_err(err)?;
    Ok(HostDefaults {
        backend_ws: default_backend(&state)?,
        app: ep.app,
    })
}

// ---------------------------------------------------------------------------------------------
// Watches: a subscriber per previewed stream, frames to a canvas

struct Watch {
    subscriber: Arc<Subscriber>,
    stop: Arc<AtomicBool>,
}

impl Watch {
    fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
        let sub = self.subscriber;
        tauri::async_runtime::spawn(async move { sub.stop().await });
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WatchRequest {
    /// The pane's id for this preview (unique per canvas).
    pub id: String,
    /// `<app…>/<stream>`, e.g. `live/room1_wr/alice` or `live/room1/room1`.
    pub guid: String,
    /// Frames per second sent to the canvas (previews need few).
    pub max_fps: Option<u32>,
}

/// Splits `live/room1_wr/alice` into the app (`live/room1_wr`) and the stream name (`alice`).
pub fn split_guid(guid: &str) -> Option<(&str, &str)> {
    let (app, stream) = guid.trim_matches('/').rsplit_once('/')?;
    (!app.is_empty() && !stream.is_empty()).then_some((app, stream))
}

/// Subscribes to `guid` (silently: previews have no sound) and draws it on the pane's canvas.
#[tauri::command]
pub async fn conference_watch<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
    request: WatchRequest,
    frames: Channel<InvokeResponseBody>,
) -> Result<(), CommandError> {
    let (watch, events) = start_watch(&state, &request, frames).await?;
    spawn_watch_events(app, request.id.clone(), request.guid.clone(), events);
    if let Some(old) = state.conference.watches().insert(request.id, watch) {
        old.stop();
    }
    Ok(())
}

async fn start_watch(
    state: &AppState,
    request: &WatchRequest,
    frames: Channel<InvokeResponseBody>,
) -> Result<(Watch, mpsc::UnboundedReceiver<SubscriberEvent>), CommandError> {
    let (stream_app, stream) = split_guid(&request.guid).ok_or_else(|| {
        err(format!(
            "“{}” is not a stream path (app/stream).",
            request.guid
        ))
    })?;
    let (mut ep, ice) = state.session_target().map_err(err)?;
    ep.app = stream_app.to_string();
    let mut cfg = SubscriberConfig::new(ep, stream);
    cfg.audio_output = AudioOutput::Silent;
    cfg.ice_servers = ice;
    cfg.frame_queue = 2;
    let (sub, events) = Subscriber::start(cfg).await.map_err(|e| {
        err(format!(
            "The preview of {} could not start: {e}",
            request.guid
        ))
    })?;
    let video = sub
        .take_video_frames()
        .ok_or_else(|| err("The preview has no video."))?;
    let stop = Arc::new(AtomicBool::new(false));
    let max_fps = request.max_fps.unwrap_or(15).clamp(1, 60);
    let sender = state.sessions.video.attach_channel(frames);
    if let Err(e) = spawn_canvas_pump(video, sender, max_fps, stop.clone(), |d| d.frame) {
        sub.stop().await;
        return Err(err(format!("The preview could not start: {e}")));
    }
    Ok((
        Watch {
            subscriber: Arc::new(sub),
            stop,
        },
        events,
    ))
}

/// Stops a preview (unknown ids are fine: the stream may have ended by itself).
#[tauri::command]
pub fn conference_unwatch(state: State<'_, AppState>, id: String) {
    if let Some(w) = state.conference.watches().remove(&id) {
        w.stop();
    }
}

fn spawn_watch_events<R: Runtime>(
    app: AppHandle<R>,
    id: String,
    guid: String,
    mut events: mpsc::UnboundedReceiver<SubscriberEvent>,
) {
    tauri::async_runtime::spawn(async move {
        while let Some(ev) = events.recv().await {
            let error = match ev {
                SubscriberEvent::Failed { error } => {
                    Some(format!("The preview of {guid} stopped: {error}"))
                }
                SubscriberEvent::Stopped => None,
                _ => continue,
            };
            emit(&app, &ConferencePaneEvent::Watch { id, error });
            return;
        }
    });
}

/// One thread per canvas: takes decoded frames, drops what exceeds `max_fps` or what the page
/// cannot take yet (the shared flow control of [`crate::video::FrameSender`]: at most two frames
/// in flight, acked by the page), and sends the rest as JPEG. Ends when the frames end, the watch
/// stops or the page is gone.
pub(crate) fn spawn_canvas_pump<T: Send + 'static>(
    mut frames: mpsc::Receiver<T>,
    sender: Arc<FrameSender>,
    max_fps: u32,
    stop: Arc<AtomicBool>,
    to_frame: impl Fn(T) -> red5_media::VideoFrame + Send + 'static,
) -> std::io::Result<()> {
    let period = Duration::from_secs_f64(1.0 / f64::from(max_fps.max(1)));
    std::thread::Builder::new()
        .name("conference-canvas".into())
        .spawn(move || {
            let mut last: Option<Instant> = None;
            while let Some(item) = frames.blocking_recv() {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let now = Instant::now();
                if last.is_some_and(|t| now.duration_since(t) < period) || !sender.ready() {
                    continue;
                }
                last = Some(now);
                if sender.send(&to_frame(item)) == Sent::Closed {
                    break; // the page went away
                }
            }
        })?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Server facts shared by both panes

/// The conference context `<app>/<room>` for what the user typed: a bare room gets the
/// profile's app in front; `live/room1` is taken as it is.
pub fn room_context(app: &str, room: &str) -> String {
    let room = room.trim().trim_matches('/');
    if room.contains('/') || app.trim().is_empty() {
        room.to_string()
    } else {
        format!("{}/{room}", app.trim().trim_matches('/'))
    }
}

/// The SM1 access token for compositions and conference provisions: the built-in server's own,
/// or the SM1 profile's.
fn sm1_token(state: &AppState) -> Secret {
    let kind = state.store().active().kind.clone();
    match kind {
        ProfileKind::Sm1 { access_token } => access_token,
        // Without auth the built-in server takes any token, but the backend still wants a
        // non-empty composition `digest`.
        ProfileKind::BuiltIn => state
            .with_built_in_server(|h| h.sm1_access_token())
            .flatten()
            .filter(|t| !t.is_empty())
            .unwrap_or_else(|| Secret::new("red5-desk-local")),
        _ => Secret::default(),
    }
}

fn default_backend(state: &AppState) -> Result<String, CommandError> {
    let built_in = state.store().active().is_built_in();
    let (ep, _) = state.session_target().map_err(err)?;
    Ok(backend_ws_for(&ep.base_url, built_in))
}

// ---------------------------------------------------------------------------------------------
// Participant

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JoinRequest {
    /// `room1` (the profile's app is put in front) or `live/room1`.
    pub room: String,
    pub name: String,
    /// A camera id from `conference_devices` (`synthetic:pattern:<colour>` included); `None` = no video.
    pub camera: Option<String>,
    /// A microphone id (`synthetic:tone:<hz>` included); `None` = no audio.
    pub mic: Option<String>,
    /// The conference backend; `None` = the active server's.
    pub backend_ws: Option<String>,
}

/// Publishes to the room's waiting room; admission, the composite (drawn on the pane's canvas
/// through `frames`) and the mix-minus (played on the default speaker) follow by themselves.
#[tauri::command]
pub async fn participant_join<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
    request: JoinRequest,
    frames: Channel<InvokeResponseBody>,
    self_view: Channel<InvokeResponseBody>,
) -> Result<ParticipantInfo, CommandError> {
    let conf = &state.conference;
    if lock(&conf.participant).is_some() {
        return Err(err("You are already in a room. Leave it first."));
    }
    let name = request.name.trim();
    if name.is_empty() {
        return Err(err("Enter your name; the host sees it."));
    }
    let (ep, ice) = state.session_target().map_err(err)?;
    let context = room_context(&ep.app, &request.room);
    let room = ConferenceRoom::parse(&context)
        .map_err(engine_error)
        .map_err(err)?;
    let backend = match request.backend_ws.as_deref().map(str::trim) {
        Some(b) if !b.is_empty() => b.to_string(),
        _ => default_backend(&state)?,
    };
    let mut cfg = ParticipantConfig::new(
        ep,
        backend,
        room.context(),
        name,
        request.camera.as_deref().filter(|s| !s.is_empty()),
        request.mic.as_deref().filter(|s| !s.is_empty()),
    );
    if request.camera.as_deref().is_none_or(str::is_empty) {
        cfg.video = None;
    }
    if request.mic.as_deref().is_none_or(str::is_empty) {
        cfg.audio = None;
    }
    cfg.ice_servers = ice;
    cfg.access_token = sm1_token(&state);
    // The join route follows the server kind, not the waiting-room transport: an SM1 profile
    // publishing over WHIP still joins through SM1's lookup and provision.
    cfg.join_route = JoinRoute::for_profile(state.store().active());
    let (engine, events) = Participant::start(cfg).await.map_err(|e| {
        err(format!(
            "Could not join {}: {}",
            room.context(),
            engine_error(e)
        ))
    })?;
    let canvas_stop = Arc::new(AtomicBool::new(false));
    if let Some(video) = engine.take_video_frames() {
        let sender = state.sessions.video.attach_channel(frames);
        spawn_canvas_pump(video, sender, 30, canvas_stop.clone(), |d| d.frame)
            .map_err(|e| err(format!("The conference video cannot be shown: {e}")))?;
    }
    let generation = conf.next_generation();
    let engine = Arc::new(engine);
    if request.camera.as_deref().is_some_and(|c| !c.is_empty()) {
        let sender = state.sessions.video.attach_channel(self_view);
        if let Err(e) = spawn_self_view(engine.clone(), sender, canvas_stop.clone()) {
            // The conference works without the self view; say why it is missing.
            tracing::warn!("no self view: {e}");
        }
    }
    // Another join may have won the race meanwhile; then this one leaves again.
    let raced = {
        let mut slot = lock(&conf.participant);
        if slot.is_some() {
            Some(engine)
        } else {
            *slot = Some(ParticipantRun {
                engine,
                generation,
                canvas_stop: canvas_stop.clone(),
            });
            None
        }
    };
    if let Some(engine) = raced {
        canvas_stop.store(true, Ordering::Relaxed);
        engine.leave().await;
        return Err(err("You are already in a room. Leave it first."));
    }
    let info = ParticipantInfo {
        room: Some(room.context()),
        waiting_room: Some(format!("{}/{name}", room.waiting_context())),
        composite: Some(room.composite_guid()),
        video: None,
        audio: Some("Everyone but you (mix-minus)".into()),
    };
    spawn_participant_events(app, generation, name.to_string(), room, events);
    Ok(info)
}

/// The participant's own camera (what the host sees in the waiting room), ~10 fps, until the run
/// ends. The engine hands out each captured frame once, so a poll never repeats a frame.
fn spawn_self_view(
    engine: Arc<Participant>,
    sender: Arc<FrameSender>,
    stop: Arc<AtomicBool>,
) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name("conference-self-view".into())
        .spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                if sender.ready() {
                    if let Some(frame) = engine.preview() {
                        if sender.send(&frame) == Sent::Closed {
                            break;
                        }
                    }
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        })?;
    Ok(())
}

/// Leaves the conference and the waiting room.
#[tauri::command]
pub async fn participant_leave<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
) -> Result<(), CommandError> {
    let run = lock(&state.conference.participant).take();
    match run {
        Some(run) => {
            emit(
                &app,
                &participant_event(ParticipantPaneState::Leaving, None),
            );
            run.engine.leave().await;
            run.canvas_stop.store(true, Ordering::Relaxed);
            emit(
                &app,
                &participant_event(
                    ParticipantPaneState::Left,
                    Some("You left the room.".into()),
                ),
            );
            Ok(())
        }
        None => Ok(()),
    }
}

/// Volume of the mix-minus (0 … 1, above amplifies).
#[tauri::command]
pub fn participant_set_volume(state: State<'_, AppState>, volume: f32) -> Result<(), CommandError> {
    let engine = lock(&state.conference.participant)
        .as_ref()
        .map(|r| r.engine.clone())
        .ok_or_else(|| err("You are not in a room."))?;
    engine.set_volume(volume).map_err(engine_error).map_err(err)
}

/// Mutes or unmutes the participant's microphone (`audio`) or camera (`video`), in the waiting
/// room and the conference alike.
#[tauri::command]
pub fn participant_mute(
    state: State<'_, AppState>,
    media: String,
    muted: bool,
) -> Result<(), CommandError> {
    let engine = lock(&state.conference.participant)
        .as_ref()
        .map(|r| r.engine.clone())
        .ok_or_else(|| err("You are not in a room."))?;
    let r = match media.as_str() {
        "audio" => engine.mute_audio(muted),
        "video" => engine.mute_video(muted),
        other => return Err(err(format!("“{other}” is neither audio nor video."))),
    };
    r.map_err(engine_error).map_err(err)
}

/// Writes every statistics snapshot of the conference connection (the running one, or the last
/// one) as a JSON array and returns the file's path.
#[tauri::command]
pub async fn participant_export_stats<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
) -> Result<String, CommandError> {
    use tauri::Manager;
    let live = lock(&state.conference.participant)
        .as_ref()
        .map(|r| r.engine.export_stats_json());
    let json = live
        .or_else(|| lock(&state.conference.last_participant_stats).clone())
        .ok_or_else(|| err("There are no statistics yet: join a room first."))?;
    let dir = match state.export_dir() {
        Some(d) => d.clone(),
        None => match app.path().download_dir() {
            Ok(d) if d.is_dir() => d,
            _ => state.config_dir().join("exports"),
        },
    };
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    let path = dir.join(format!("red5-desk-participant-stats-{stamp}.json"));
    let p2 = path.clone();
    tauri::async_runtime::spawn_blocking(move || {
        std::fs::create_dir_all(&dir)?;
        std::fs::write(&p2, json)
    })
    .await
    .map_err(|e| err(format!("The statistics could not be saved: {e}")))?
    .map_err(|e| {
        err(format!(
            "The statistics could not be saved to {}: {e}",
            path.display()
        ))
    })?;
    Ok(path.display().to_string())
}

fn participant_event(state: ParticipantPaneState, detail: Option<String>) -> ConferencePaneEvent {
    ConferencePaneEvent::Participant {
        state: Some(state),
        detail,
        info: None,
        error: None,
    }
}

/// What the pane shows for one engine event (`None` = nothing to show).
pub fn participant_view(
    ev: &ParticipantEvent,
    name: &str,
    room: &ConferenceRoom,
) -> Option<ConferencePaneEvent> {
    use ParticipantPaneState as S;
    let (state, detail, info, error) = match ev {
        ParticipantEvent::State { state } => match state {
            ParticipantState::WaitingForHost => (
                Some(S::Waiting),
                Some(format!(
                    "You are in the waiting room of {} as “{name}”. The host sees your video and lets you in.",
                    room.context()
                )),
                None,
                None,
            ),
            ParticipantState::Joining => (
                Some(S::Joining),
                Some("The host let you in. Joining the conference…".into()),
                None,
                None,
            ),
            ParticipantState::InConference => (
                Some(S::InConference),
                Some("You see the conference and hear everyone but yourself.".into()),
                None,
                None,
            ),
            ParticipantState::Left => (Some(S::Left), None, None, None),
            ParticipantState::Failed => (Some(S::Failed), None, None, None),
        },
        ParticipantEvent::WaitingRoom { event } => match event {
            PublisherEvent::Reconnecting {
                attempt, of, reason, ..
            } => (
                Some(S::Reconnecting),
                Some(format!(
                    "The connection dropped ({reason}). Reconnecting, attempt {attempt} of {of}…"
                )),
                None,
                None,
            ),
            PublisherEvent::Reconnected => (
                Some(S::Waiting),
                Some("Reconnected to the waiting room.".into()),
                None,
                None,
            ),
            PublisherEvent::DeviceLost { message } => {
                (None, None, None, Some(sentence(message)))
            }
            _ => return None,
        },
        ParticipantEvent::RemovedByHost => (
            Some(S::Waiting),
            Some("The host moved you back to the waiting room.".into()),
            None,
            None,
        ),
        ParticipantEvent::Excluded => (
            Some(S::Left),
            Some("The host removed you from this room.".into()),
            None,
            Some("The host removed you from this room.".into()),
        ),
        ParticipantEvent::Reconnecting {
            attempt, of, reason, ..
        } => (
            Some(S::Joining),
            Some(format!(
                "Joining failed ({reason}). Trying again, attempt {attempt} of {of}…"
            )),
            None,
            None,
        ),
        ParticipantEvent::FirstFrame { width, height } => (
            None,
            None,
            Some(ParticipantInfo {
                video: Some(format!("{width}×{height}")),
                ..Default::default()
            }),
            None,
        ),
        ParticipantEvent::AudioOutput { message } => (
            None,
            None,
            Some(ParticipantInfo {
                audio: Some(format!(
                    "Everyone but you (mix-minus). {}",
                    sentence(message)
                )),
                ..Default::default()
            }),
            None,
        ),
        ParticipantEvent::Warning { message } => (None, Some(sentence(message)), None, None),
        ParticipantEvent::Left => (Some(S::Left), Some("You left the room.".into()), None, None),
        ParticipantEvent::Failed { error } => (Some(S::Failed), None, None, Some(sentence(error))),
        _ => return None,
    };
    Some(ConferencePaneEvent::Participant {
        state,
        detail,
        info,
        error,
    })
}

fn spawn_participant_events<R: Runtime>(
    app: AppHandle<R>,
    generation: u64,
    name: String,
    room: ConferenceRoom,
    mut events: mpsc::UnboundedReceiver<ParticipantEvent>,
) {
    use tauri::Manager;
    tauri::async_runtime::spawn(async move {
        while let Some(ev) = events.recv().await {
            let ended = matches!(
                ev,
                ParticipantEvent::Left
                    | ParticipantEvent::Failed { .. }
                    | ParticipantEvent::Excluded
            );
            if let ParticipantEvent::Stats { stats } = &ev {
                emit(
                    &app,
                    &ConferencePaneEvent::ParticipantStats {
                        stats: stats.clone(),
                    },
                );
            } else if let Some(view) = participant_view(&ev, &name, &room) {
                emit(&app, &view);
            }
            if ended {
                break;
            }
        }
        // The run is over (left, failed, excluded, or the engine went away): free the slot so
        // the user can join again, unless a newer run already took it.
        let state = app.state::<AppState>();
        let mut slot = lock(&state.conference.participant);
        if slot.as_ref().is_some_and(|r| r.generation == generation) {
            if let Some(run) = slot.take() {
                run.canvas_stop.store(true, Ordering::Relaxed);
                *lock(&state.conference.last_participant_stats) =
                    Some(run.engine.export_stats_json());
            }
        }
    });
}

// ---------------------------------------------------------------------------------------------
// Host

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HostRequest {
    pub backend_ws: String,
    pub app: String,
    pub room: String,
}

/// Connects the host to the room's backend sockets (waiting room and conference).
#[tauri::command]
pub async fn host_connect<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
    request: HostRequest,
) -> Result<HostView, CommandError> {
    let conf = &state.conference;
    let old = lock(&conf.host).take();
    if let Some(old) = old {
        old.engine.stop().await;
    }
    let context = room_context(&request.app, &request.room);
    let room = ConferenceRoom::parse(&context)
        .map_err(engine_error)
        .map_err(err)?;
    let mut cfg = HostConfig::new(request.backend_ws.trim(), room.context());
    cfg.access_token = sm1_token(&state);
    let (engine, events) = Host::connect(cfg).await.map_err(|e| {
        err(format!(
            "Could not connect to the conference backend: {}",
            engine_error(e)
        ))
    })?;
    let generation = conf.next_generation();
    *lock(&conf.host) = Some(HostRun {
        engine: Arc::new(engine),
        generation,
    });
    let view = conf.update_host_view(|v| {
        *v = HostView {
            connection: "connecting".into(),
            app: room.app.clone(),
            room: room.name.clone(),
            ..Default::default()
        }
    });
    emit(
        &app,
        &ConferencePaneEvent::Host {
            view: Some(view.clone()),
            error: None,
        },
    );
    spawn_host_events(app, generation, room, events);
    Ok(view)
}

/// Closes the host's backend sockets (compositions stay until destroyed).
#[tauri::command]
pub async fn host_disconnect<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
) -> Result<(), CommandError> {
    let run = lock(&state.conference.host).take();
    if let Some(run) = run {
        run.engine.stop().await;
    }
    let view = state.conference.update_host_view(|v| {
        v.connection = "closed".into();
        v.waiting.clear();
    });
    emit(
        &app,
        &ConferencePaneEvent::Host {
            view: Some(view),
            error: None,
        },
    );
    Ok(())
}

/// The Create Composition form as the pane sends it.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CompositionRequest {
    pub event: String,
    pub region: String,
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    pub bitrate_kbps: u32,
}

#[tauri::command]
pub fn host_create_composition(
    state: State<'_, AppState>,
    form: CompositionRequest,
) -> Result<(), CommandError> {
    let host = state.conference.host()?;
    let form = CompositionForm {
        event: form.event.trim().to_string(),
        region: form.region,
        width: form.width,
        height: form.height,
        fps: form.fps,
        bitrate_kbps: form.bitrate_kbps,
        mixing_page: None,
    };
    host.create_composition(&form)
        .map_err(engine_error)
        .map_err(err)
}

#[tauri::command]
pub fn host_destroy_composition(
    state: State<'_, AppState>,
    event: String,
) -> Result<(), CommandError> {
    let host = state.conference.host()?;
    host.destroy_composition(event.trim())
        .map_err(engine_error)
        .map_err(err)
}

/// The waiting-room and conference controls: `admit`, `exclude` (waiting room), `presenter`,
/// `remove`, `ban` (conference).
#[tauri::command]
pub fn host_control(
    state: State<'_, AppState>,
    action: String,
    name: String,
) -> Result<(), CommandError> {
    let host = state.conference.host()?;
    let r = match action.as_str() {
        "admit" => host.promote(&name),
        "remove" => host.demote(&name),
        "presenter" => host.presenter(&name),
        // Both ban the name from the waiting room and the conference.
        "exclude" | "ban" => host.exclude(&name),
        other => return Err(err(format!("“{other}” is not a host action."))),
    };
    r.map_err(engine_error).map_err(err)
}

/// The Host pane's snapshot (for a pane that opens late).
#[tauri::command]
pub fn host_view(state: State<'_, AppState>) -> HostView {
    lock(&state.conference.host_view).clone()
}

fn composition_view(c: &CompositionInfo, room: &ConferenceRoom) -> CompositionView {
    let state = serde_json::to_value(c.state)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_else(|| "pending".into());
    CompositionView {
        event: c.event.clone(),
        state,
        output: c.stream.clone().unwrap_or_else(|| room.composite_guid()),
        width: c.width.unwrap_or(0),
        height: c.height.unwrap_or(0),
        fps: c.fps.unwrap_or(0),
        bitrate_kbps: c.bitrate_kbps.unwrap_or(0),
        region: c.region.clone(),
    }
}

/// Folds one host event into the view; returns an error sentence to show, if any.
pub fn apply_host_event(v: &mut HostView, ev: &HostEvent, room: &ConferenceRoom) -> Option<String> {
    match ev {
        HostEvent::Connected => v.connection = "connected".into(),
        HostEvent::Disconnected { .. } | HostEvent::Reconnecting { .. } => {
            v.connection = "reconnecting".into()
        }
        HostEvent::MixerRegions { regions } => v.regions = regions.clone(),
        HostEvent::WaitingRoom { streams } => v.waiting = streams.clone(),
        HostEvent::Conference { streams, presenter } => {
            v.conference = streams.clone();
            v.presenter = presenter.clone();
        }
        HostEvent::Excluded { streams } => v.excluded = streams.clone(),
        HostEvent::Compositions { list } => {
            v.compositions = list.iter().map(|c| composition_view(c, room)).collect()
        }
        HostEvent::Error { message } => return Some(sentence(message)),
        HostEvent::Stopped => {
            v.connection = "closed".into();
            v.waiting.clear();
        }
        HostEvent::Failed { error } => {
            v.connection = "failed".into();
            v.waiting.clear();
            return Some(sentence(error));
        }
    }
    None
}

fn spawn_host_events<R: Runtime>(
    app: AppHandle<R>,
    generation: u64,
    room: ConferenceRoom,
    mut events: mpsc::UnboundedReceiver<HostEvent>,
) {
    use tauri::Manager;
    tauri::async_runtime::spawn(async move {
        let state = app.state::<AppState>();
        while let Some(ev) = events.recv().await {
            let current = lock(&state.conference.host)
                .as_ref()
                .is_some_and(|h| h.generation == generation);
            if !current {
                break; // a newer connection owns the view
            }
            let mut error = None;
            let view = state
                .conference
                .update_host_view(|v| error = apply_host_event(v, &ev, &room));
            emit(
                &app,
                &ConferencePaneEvent::Host {
                    view: Some(view),
                    error,
                },
            );
            if matches!(ev, HostEvent::Failed { .. } | HostEvent::Stopped) {
                let mut slot = lock(&state.conference.host);
                if slot.as_ref().is_some_and(|h| h.generation == generation) {
                    slot.take();
                }
                break;
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use red5_localsm::{LocalServer, ServerConfig};
    use red5_media::ui::{parse_header, UiFormat};
    use red5_session::{Publisher, PublisherConfig, PublisherEvent};

    /// The app's state with a real built-in server on a free loopback port.
    async fn app_state(dir: &std::path::Path) -> AppState {
        let state = AppState::open(dir.to_owned(), None);
        let server = LocalServer::start(ServerConfig::default()).await.unwrap();
        state.put_built_in_server(server);
        state
    }

    async fn publish(state: &AppState, app: &str, stream: &str, video: &str) -> Publisher {
        let (mut ep, _) = state.session_target().unwrap();
        ep.app = app.into();
        let cfg = PublisherConfig::new(ep, stream, Some(video), None);
        let (p, mut ev) = Publisher::start(cfg).await.unwrap();
        loop {
            match tokio::time::timeout(Duration::from_secs(20), ev.recv()).await {
                Ok(Some(PublisherEvent::Started)) => return p,
                Ok(Some(PublisherEvent::Failed { error })) => panic!("publish failed: {error}"),
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => panic!("the publisher never started"),
            }
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_watch_sends_jpeg_frames_of_a_waiting_room_stream() {
        let dir = tempfile::tempdir().unwrap();
        let state = app_state(dir.path()).await;
        let publisher = publish(&state, "live/room1_wr", "alice", "synthetic:pattern:red").await;

        let (tx, mut rx) = mpsc::unbounded_channel::<Vec<u8>>();
        let channel = Channel::new(move |body| {
            if let InvokeResponseBody::Raw(b) = body {
                let _ = tx.send(b);
            }
            Ok(())
        });
        let req = WatchRequest {
            id: "waiting:alice".into(),
            guid: "live/room1_wr/alice".into(),
            max_fps: Some(5),
        };
        let channel_id = channel.id();
        let (watch, _events) = start_watch(&state, &req, channel).await.unwrap();
        let first = Instant::now();
        let mut got = 0;
        while got < 3 {
            let frame = tokio::time::timeout(Duration::from_secs(20), rx.recv())
                .await
                .expect("a preview frame within 20 s")
                .unwrap();
            // The shared frame path: the 16-byte prefix, then the UI frame.
            let (fmt, w, h) =
                parse_header(&frame[crate::video::PREFIX_LEN..]).expect("a UI frame header");
            assert_eq!(fmt, UiFormat::Jpeg);
            assert!(w >= 160 && h >= 120, "{w}x{h}");
            assert_eq!(
                &frame[crate::video::PREFIX_LEN + 16..crate::video::PREFIX_LEN + 18],
                &[0xFF, 0xD8],
                "JPEG data after the header"
            );
            got += 1;
            // As the page does once it painted the frame (at most two are in flight).
            state.sessions.video.ack_channel(channel_id, 1);
        }
        // Throttled to 5 fps: three frames cannot arrive faster than two periods apart.
        assert!(first.elapsed() >= Duration::from_millis(350));
        watch.stop.store(true, Ordering::Relaxed);
        watch.subscriber.stop().await;
        publisher.stop().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn watching_a_stream_nobody_publishes_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let state = app_state(dir.path()).await;
        let channel = Channel::new(|_| Ok(()));
        let req = WatchRequest {
            id: "x".into(),
            guid: "live/room1_wr/nobody".into(),
            max_fps: None,
        };
        // The subscriber starts at once and reports the missing stream as its failure event.
        let (_watch, mut events) = start_watch(&state, &req, channel).await.unwrap();
        let error = loop {
            match tokio::time::timeout(Duration::from_secs(20), events.recv()).await {
                Ok(Some(SubscriberEvent::Failed { error })) => break error.to_string(),
                Ok(Some(_)) => {}
                other => panic!("no failure for a missing stream: {other:?}"),
            }
        };
        assert!(error.contains("not available"), "{error}");
        let bad = WatchRequest {
            guid: "nobody".into(),
            ..req
        };
        let e = start_watch(&state, &bad, Channel::new(|_| Ok(())))
            .await
            .err()
            .unwrap();
        assert!(e.message.contains("not a stream path"), "{}", e.message);
    }

    // ---- the commands on Tauri's mock runtime, against the app's own built-in server ----------

    use serde_json::{json, Value};
    use std::sync::mpsc as std_mpsc;
    use tauri::test::{get_ipc_response, mock_builder, MockRuntime, INVOKE_KEY};
    use tauri::webview::InvokeRequest;
    use tauri::{App, Listener, Manager, WebviewWindow, WebviewWindowBuilder};

    struct Harness {
        _app: App<MockRuntime>,
        window: WebviewWindow<MockRuntime>,
        events: std_mpsc::Receiver<Value>,
        seen: std::cell::RefCell<Vec<Value>>,
        from: std::cell::Cell<usize>,
    }

    fn harness(dir: &std::path::Path) -> Harness {
        // Port 0: tests run in parallel and must not fight over 5080.
        let state = AppState::open(dir.to_owned(), None)
            .with_built_in_port(0)
            .with_export_dir(dir.join("exports"));
        let app = crate::builder(mock_builder(), state)
            .build(crate::context())
            .unwrap();
        let (tx, events) = std_mpsc::channel();
        app.listen_any(EVENT_NAME, move |e| {
            let v: Value = serde_json::from_str(e.payload()).unwrap();
            if v["type"] == "conference" {
                let _ = tx.send(v);
            }
        });
        let window = WebviewWindowBuilder::new(&app, "main", Default::default())
            .build()
            .unwrap();
        Harness {
            _app: app,
            window,
            events,
            seen: Default::default(),
            from: Default::default(),
        }
    }

    impl Harness {
        fn call(&self, cmd: &str, args: Value) -> Result<Value, Value> {
            self.mark();
            get_ipc_response(
                &self.window,
                InvokeRequest {
                    cmd: cmd.into(),
                    callback: tauri::ipc::CallbackFn(0),
                    error: tauri::ipc::CallbackFn(1),
                    url: "tauri://localhost".parse().unwrap(),
                    body: tauri::ipc::InvokeBody::Json(args),
                    headers: Default::default(),
                    invoke_key: INVOKE_KEY.to_string(),
                },
            )
            .map(|b| b.deserialize::<Value>().unwrap())
        }

        /// Where the event log is now; `wait*` look at events from the last mark on.
        fn mark(&self) {
            let n = self.seen.borrow().len();
            self.from.set(n);
        }

        /// Waits for a conference event matching `pred` since the last [`Harness::mark`].
        fn wait(&self, what: &str, secs: u64, pred: impl Fn(&Value) -> bool) -> Value {
            let deadline = Instant::now() + Duration::from_secs(secs);
            if let Some(ev) = self.seen.borrow()[self.from.get()..]
                .iter()
                .find(|e| pred(e))
            {
                return ev.clone();
            }
            loop {
                let left = deadline.saturating_duration_since(Instant::now());
                match self.events.recv_timeout(left) {
                    Ok(ev) => {
                        self.seen.borrow_mut().push(ev.clone());
                        if pred(&ev) {
                            return ev;
                        }
                    }
                    Err(_) => {
                        let seen = self.seen.borrow();
                        panic!(
                            "no event: {what}; the last ones were {:#?}",
                            &seen[seen.len().saturating_sub(4)..]
                        )
                    }
                }
            }
        }

        fn wait_host(&self, what: &str, secs: u64, pred: impl Fn(&Value) -> bool) -> Value {
            self.wait(what, secs, |e| e["kind"] == "host" && pred(&e["view"]))["view"].clone()
        }

        fn wait_built_in(&self) {
            let state = self.window.state::<AppState>();
            let deadline = Instant::now() + Duration::from_secs(20);
            while state.with_built_in_server(|_| ()).is_none() {
                assert!(
                    Instant::now() < deadline,
                    "the built-in server did not start: {:?}",
                    state.built_in_state()
                );
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }

    #[test]
    fn host_and_participant_commands_run_a_conference_on_the_built_in_server() {
        let dir = tempfile::tempdir().unwrap();
        let h = harness(dir.path());
        h.wait_built_in();

        let d = h.call("host_defaults", json!({})).unwrap();
        let backend = d["backendWs"].as_str().unwrap().to_owned();
        assert!(backend.starts_with("ws://127.0.0.1:"), "{backend}");
        assert_eq!(d["app"], "live");

        // Errors in words before anything runs.
        let e = h
            .call("host_control", json!({"action": "admit", "name": "x"}))
            .unwrap_err();
        assert_eq!(e["message"], "Connect to the conference backend first.");
        let e = h
            .call(
                "participant_join",
                json!({"request": {"room": "room1", "name": " ", "camera": null, "mic": null},
                       "frames": "__CHANNEL__:901", "selfView": "__CHANNEL__:911"}),
            )
            .unwrap_err();
        assert_eq!(e["message"], "Enter your name; the host sees it.");

        // The host connects and hears the mixer region.
        let v = h
            .call(
                "host_connect",
                json!({"request": {"backendWs": backend, "app": "live", "room": "room1"}}),
            )
            .unwrap();
        assert_eq!(v["connection"], "connecting");
        let v = h.wait_host("host connected with regions", 20, |v| {
            v["connection"] == "connected" && v["regions"].as_array().is_some_and(|r| !r.is_empty())
        });
        let region = v["regions"][0].as_str().unwrap().to_owned();

        // A wrong event is explained, then the composition is created and composes.
        let e = h
            .call(
                "host_create_composition",
                json!({"form": {"event": "other", "region": region, "width": 640, "height": 360,
                                "fps": 15, "bitrateKbps": 600}}),
            )
            .unwrap_err();
        assert!(
            e["message"]
                .as_str()
                .unwrap()
                .starts_with("The composition event must be"),
            "{e}"
        );
        h.call(
            "host_create_composition",
            json!({"form": {"event": "room1", "region": region, "width": 640, "height": 360,
                            "fps": 15, "bitrateKbps": 600}}),
        )
        .unwrap();
        let v = h.wait_host("a pending composition", 20, |v| {
            v["compositions"][0]["event"] == "room1"
        });
        assert_eq!(v["compositions"][0]["output"], "live/room1/room1");
        h.wait_host("the composition composing", 30, |v| {
            v["compositions"][0]["state"] == "composing"
        });

        // A participant joins the waiting room and the host sees it there.
        let info = h
            .call(
                "participant_join",
                json!({"request": {"room": "room1", "name": "alice",
                                   "camera": "synthetic:pattern:red", "mic": "synthetic:tone:440"},
                       "frames": "__CHANNEL__:902", "selfView": "__CHANNEL__:912"}),
            )
            .unwrap();
        assert_eq!(info["waitingRoom"], "live/room1_wr/alice");
        assert_eq!(info["composite"], "live/room1/room1");
        h.wait("the participant waiting", 20, |e| {
            e["kind"] == "participant" && e["state"] == "waiting"
        });
        let e = h
            .call(
                "participant_join",
                json!({"request": {"room": "room1", "name": "alice2", "camera": null, "mic": "synthetic:tone:440"},
                       "frames": "__CHANNEL__:903", "selfView": "__CHANNEL__:913"}),
            )
            .unwrap_err();
        assert_eq!(e["message"], "You are already in a room. Leave it first.");
        h.wait_host("alice in the waiting room", 20, |v| {
            v["waiting"]
                .as_array()
                .is_some_and(|w| w.iter().any(|n| n == "alice"))
        });

        // Admitted: she joins by herself and is the presenter (the first one).
        h.call("host_control", json!({"action": "admit", "name": "alice"}))
            .unwrap();
        let v = h.wait_host("alice in the conference", 20, |v| {
            v["conference"]
                .as_array()
                .is_some_and(|c| c.iter().any(|n| n == "alice"))
        });
        assert_eq!(v["presenter"], "alice");
        h.wait("alice in conference", 30, |e| {
            e["kind"] == "participant" && e["state"] == "inConference"
        });
        h.wait("the first composite frame", 30, |e| {
            e["kind"] == "participant" && e["info"]["video"] == "640×360"
        });

        // In the conference: statistics every second, mute, export.
        h.wait("participant statistics", 20, |e| {
            e["kind"] == "participantStats" && e["stats"]["bitrateInKbps"].as_f64() > Some(0.0)
        });
        h.call("participant_mute", json!({"media": "audio", "muted": true}))
            .unwrap();
        h.call(
            "participant_mute",
            json!({"media": "video", "muted": false}),
        )
        .unwrap();
        let e = h
            .call(
                "participant_mute",
                json!({"media": "screen", "muted": true}),
            )
            .unwrap_err();
        assert_eq!(e["message"], "“screen” is neither audio nor video.");

        // Remove → back to waiting; unknown action → words.
        let e = h
            .call("host_control", json!({"action": "kick", "name": "alice"}))
            .unwrap_err();
        assert_eq!(e["message"], "“kick” is not a host action.");
        h.call("host_control", json!({"action": "remove", "name": "alice"}))
            .unwrap();
        h.wait("alice back in the waiting room", 20, |e| {
            e["kind"] == "participant" && e["state"] == "waiting"
        });

        // Ban: she is out, and told so in words.
        h.call("host_control", json!({"action": "ban", "name": "alice"}))
            .unwrap();
        let ev = h.wait("alice excluded", 20, |e| {
            e["kind"] == "participant" && e["state"] == "left"
        });
        assert_eq!(ev["error"], "The host removed you from this room.");
        h.wait_host("alice excluded on the host", 20, |v| {
            v["excluded"]
                .as_array()
                .is_some_and(|x| x.iter().any(|n| n == "alice"))
                && v["waiting"].as_array().is_some_and(|w| w.is_empty())
        });

        // The ended run's statistics can still be exported.
        let path = h.call("participant_export_stats", json!({})).unwrap();
        let text = std::fs::read_to_string(path.as_str().unwrap()).unwrap();
        let snaps: Vec<Value> = serde_json::from_str(&text).unwrap();
        assert!(!snaps.is_empty(), "{text}");

        // Destroy the composition; a second leave is harmless; disconnect.
        h.call("host_destroy_composition", json!({"event": "room1"}))
            .unwrap();
        h.wait_host("no composition", 20, |v| {
            v["compositions"].as_array().is_some_and(|c| c.is_empty())
        });
        h.call("participant_leave", json!({})).unwrap();
        h.call("host_disconnect", json!({})).unwrap();
        h.wait_host("host closed", 10, |v| v["connection"] == "closed");
    }

    #[test]
    fn backend_ws_of_the_built_in_server_is_its_own_port() {
        assert_eq!(
            backend_ws_for("http://127.0.0.1:5080", true),
            "ws://127.0.0.1:5080/"
        );
        assert_eq!(
            backend_ws_for("https://sm.example.com/", false),
            "wss://sm.example.com:8001/"
        );
        assert_eq!(
            backend_ws_for("http://sm.example.com:5080", false),
            "ws://sm.example.com:8001/"
        );
    }

    #[test]
    fn guids_split_into_app_and_stream() {
        assert_eq!(
            split_guid("live/room1_wr/alice"),
            Some(("live/room1_wr", "alice"))
        );
        assert_eq!(
            split_guid("live/room1/room1"),
            Some(("live/room1", "room1"))
        );
        assert_eq!(split_guid("alice"), None);
        assert_eq!(split_guid("live/"), None);
    }

    #[test]
    fn events_carry_the_conference_type_and_kind() {
        let ev = ConferencePaneEvent::Participant {
            state: Some(ParticipantPaneState::InConference),
            detail: None,
            info: None,
            error: None,
        };
        let v = serde_json::to_value(Envelope {
            ty: "conference",
            event: &ev,
        })
        .unwrap();
        assert_eq!(v["type"], "conference");
        assert_eq!(v["kind"], "participant");
        assert_eq!(v["state"], "inConference");
    }
}
