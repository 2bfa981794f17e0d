//! The Presenter and Viewer panes' sessions: a `red5_session::Publisher` and a
//! `red5_session::Subscriber` on the active profile's server, their events forwarded to the UI
//! (one [`BackendEvent`] stream), their video to the canvases ([`crate::video`]).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use red5_config::profile::ProfileKind;
use red5_media::codec::VideoCodec;
use red5_media::source::{synthetic_devices, VideoSettings};
use red5_media::DeviceInfo;
use red5_session::publisher::{PublishAudio, PublishVideo, SessionState};
use red5_session::subscriber::AudioOutput;
use red5_session::{
    Endpoint, Publisher, PublisherConfig, PublisherEvent, Subscriber, SubscriberConfig,
    SubscriberEvent, Transport,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tauri::{AppHandle, Manager, Runtime};

use crate::commands::CommandError;
use crate::events::{emit, BackendEvent, ConnectionState};
use crate::state::AppState;
use crate::video::{Pull, Pump, Sink, VideoOutputs};

/// Which signalling the user picked in a pane.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum TransportChoice {
    /// The profile's own choice.
    Profile,
    Whip,
    Ws,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PublishOptions {
    pub stream_name: String,
    /// A camera id, a `synthetic:pattern:<colour>` id, or none for audio only.
    pub camera: Option<String>,
    /// A microphone id, a `synthetic:tone:<hz>` id, or none for video only.
    pub microphone: Option<String>,
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    pub codec: VideoCodec,
    pub bitrate_kbps: u32,
    pub transport: TransportChoice,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PreviewOptions {
    pub camera: String,
    pub width: u32,
    pub height: u32,
    pub fps: u32,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubscribeOptions {
    pub stream_name: String,
    /// 0..=1.
    pub volume: f32,
    pub transport: TransportChoice,
}

/// Which session a stats export is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Role {
    Presenter,
    Viewer,
}

/// One line of the presenter's "sent" log.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SentEntry {
    pub time_ms: u64,
    pub method: String,
    pub data: Value,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceLists {
    pub cameras: Vec<DeviceInfo>,
    pub microphones: Vec<DeviceInfo>,
    pub speakers: Vec<DeviceInfo>,
    /// Why a list is incomplete ("no sound system"), in words.
    pub notes: Vec<String>,
}

struct LivePublisher {
    generation: u64,
    publisher: Arc<Publisher>,
    pump: Option<Pump>,
    level_task: tauri::async_runtime::JoinHandle<()>,
}

struct LiveSubscriber {
    generation: u64,
    subscriber: Arc<Subscriber>,
    pump: Option<Pump>,
}

/// The sessions of the Presenter and Viewer panes.
#[derive(Default)]
pub struct Sessions {
    publisher: tokio::sync::Mutex<Option<LivePublisher>>,
    subscriber: tokio::sync::Mutex<Option<LiveSubscriber>>,
    preview: Mutex<Option<Pump>>,
    generation: AtomicU64,
    publisher_state: Mutex<Option<SessionState>>,
    subscriber_state: Mutex<Option<SessionState>>,
    /// Kept after a session ends so its stats can still be exported.
    last_stats: Mutex<[Option<String>; 2]>,
    pub video: Arc<VideoOutputs>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

pub(crate) fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl CommandError {
    pub fn msg(message: impl Into<String>) -> Self {
        let message = message.into();
        tracing::warn!("command failed: {message}");
        Self {
            message,
            fields: Default::default(),
        }
    }
}

impl From<red5_session::Error> for CommandError {
    fn from(e: red5_session::Error) -> Self {
        CommandError::msg(friendly_reason(&e.to_string()))
    }
}

/// Engine texts are sentence fragments ("the stream … is not available"); the UI shows sentences.
pub fn capitalise(s: &str) -> String {
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
        None => String::new(),
    }
}

/// A failure or reconnect reason in words a user understands: the engines pass on the network
/// stack's chain ("…: error sending request for url (…): client error (Connect): tcp connect
/// error: Connection refused (os error 111)"); people need the gist.
pub fn friendly_reason(reason: &str) -> String {
    let l = reason.to_ascii_lowercase();
    let gist = if l.contains("connection refused") {
        "the server is not answering: the connection was refused".to_owned()
    } else if l.contains("timed out") || l.contains("timeout") && !l.contains("did not confirm") {
        "the server did not answer in time".to_owned()
    } else if l.contains("failed to lookup") || l.contains("dns error") {
        "the server's name could not be found".to_owned()
    } else if l.contains("connection reset") || l.contains("broken pipe") {
        "the server closed the connection".to_owned()
    } else {
        // Keep the first clause; drop URLs and the library chain after it.
        let first = reason
            .split(": error sending request")
            .next()
            .unwrap_or(reason)
            .trim();
        let mut out: String = first.chars().take(160).collect();
        if first.chars().count() > 160 {
            out.push('…');
        }
        out
    };
    capitalise(&gist)
}

/// What the Presenter's and the Viewer's event loops need from an engine event: both engines
/// report state, reconnects, failures and notices alike, so one fold updates the pane's state
/// slot and words for the UI.
enum Seen<'a> {
    State(SessionState),
    Reconnecting(u32, u32, &'a str),
    Failed(String),
    Notice(&'a str),
    Other,
}

impl Seen<'_> {
    /// Stores the state in `slot` and returns (text for the pane's log, whether the status bar
    /// changes, the status bar's detail).
    fn fold(
        self,
        slot: &Mutex<Option<SessionState>>,
        pane: &str,
    ) -> (Option<String>, bool, Option<String>) {
        match self {
            Seen::State(state) => {
                *lock(slot) = Some(state);
                (None, true, None)
            }
            Seen::Reconnecting(attempt, of, reason) => {
                *lock(slot) = Some(SessionState::Reconnecting);
                let why = friendly_reason(reason);
                let detail = format!("{pane}: attempt {attempt} of {of}. {why}");
                (Some(why), true, Some(detail))
            }
            Seen::Failed(error) => {
                *lock(slot) = Some(SessionState::Failed);
                let why = friendly_reason(&error);
                (Some(why.clone()), true, Some(why))
            }
            Seen::Notice(message) => (Some(capitalise(message)), false, None),
            Seen::Other => (None, false, None),
        }
    }
}

/// The endpoint for a session: the profile's, with the signalling the pane picked.
fn target(
    state: &AppState,
    choice: TransportChoice,
) -> Result<(Endpoint, Vec<red5_session::IceServerConfig>), CommandError> {
    let (mut ep, ice) = state.session_target().map_err(CommandError::msg)?;
    let kind = state.store().active().kind.clone();
    let ws = match choice {
        TransportChoice::Profile => return Ok((ep, ice)),
        TransportChoice::Ws => true,
        TransportChoice::Whip => false,
    };
    ep.transport = match (kind, ws) {
        (ProfileKind::BuiltIn | ProfileKind::Sm2 { .. }, false) => Transport::WhipSm2,
        (ProfileKind::BuiltIn | ProfileKind::Sm2 { .. }, true) => Transport::WsSm2,
        (ProfileKind::Sm1 { .. } | ProfileKind::Standalone, false) => Transport::WhipNode,
        (ProfileKind::Sm1 { .. }, true) => Transport::WsSm1,
        (ProfileKind::Standalone, true) => Transport::WsStandalone,
    };
    Ok((ep, ice))
}

impl Sessions {
    fn next_generation(&self) -> u64 {
        self.generation.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// Folds both sessions' states into the status bar's one connection state.
    fn update_connection<R: Runtime>(&self, app: &AppHandle<R>, detail: Option<String>) {
        let states = [*lock(&self.publisher_state), *lock(&self.subscriber_state)];
        let rank = |s: &Option<SessionState>| match s {
            None | Some(SessionState::Stopped) => 0,
            Some(SessionState::Live) => 1,
            Some(SessionState::Connecting) => 2,
            Some(SessionState::Reconnecting) => 3,
            Some(SessionState::Failed) => 4,
        };
        let worst = states.iter().max_by_key(|s| rank(s)).copied().flatten();
        let conn = match worst {
            None | Some(SessionState::Stopped) => ConnectionState::Idle,
            Some(SessionState::Live) => ConnectionState::Connected,
            Some(SessionState::Connecting) => ConnectionState::Connecting,
            Some(SessionState::Reconnecting) => ConnectionState::Reconnecting,
            Some(SessionState::Failed) => ConnectionState::Failed,
        };
        let state = app.state::<AppState>();
        state.set_connection(conn);
        emit(
            app,
            BackendEvent::Connection {
                state: conn,
                detail,
            },
        );
    }
}

fn sessions<R: Runtime>(app: &AppHandle<R>) -> &Sessions {
    // `AppState` is managed for the whole app lifetime; `inner()` borrows for the handle's.
    &app.state::<AppState>().inner().sessions
}

// ------------------------------------------------------------------------------------ devices

#[tauri::command]
pub async fn list_devices() -> DeviceLists {
    tauri::async_runtime::spawn_blocking(|| {
        let mut notes = Vec::new();
        let synth = synthetic_devices();
        let mut cameras: Vec<DeviceInfo> = synth
            .iter()
            .filter(|d| d.kind == red5_media::DeviceKind::Camera)
            .cloned()
            .collect();
        match red5_media::cameras() {
            Ok(mut c) => {
                if c.is_empty() {
                    notes.push("No camera was found; the test patterns are available.".into());
                }
                cameras.splice(0..0, c.drain(..));
            }
            Err(e) => notes.push(capitalise(&format!("cameras could not be listed: {e}"))),
        }
        let mut microphones: Vec<DeviceInfo> = Vec::new();
        match red5_media::microphones() {
            Ok(m) => microphones.extend(m),
            Err(e) => notes.push(capitalise(&format!("microphones could not be listed: {e}"))),
        }
        microphones.extend(
            synth
                .iter()
                .filter(|d| d.kind == red5_media::DeviceKind::Microphone)
                .cloned(),
        );
        let speakers = red5_media::speakers().unwrap_or_else(|e| {
            notes.push(capitalise(&format!(
                "speakers could not be listed ({e}); audio plays silently"
            )));
            Vec::new()
        });
        DeviceLists {
            cameras,
            microphones,
            speakers,
            notes,
        }
    })
    .await
    .unwrap_or_else(|e| DeviceLists {
        cameras: Vec::new(),
        microphones: Vec::new(),
        speakers: Vec::new(),
        notes: vec![format!("Devices could not be listed: {e}")],
    })
}

// ------------------------------------------------------------------------------------ video

#[tauri::command]
pub fn video_attach(
    state: tauri::State<'_, AppState>,
    sink: Sink,
    channel: tauri::ipc::Channel<tauri::ipc::InvokeResponseBody>,
) {
    state.sessions.video.attach(sink, channel);
}

#[tauri::command]
pub fn video_ack(state: tauri::State<'_, AppState>, sink: Sink, count: u32) {
    state.sessions.video.ack(sink, count);
}

/// How the page gets frames: `pull` (the default: one `video_pull` request per frame) or
/// `channel` (`RED5_DESK_VIDEO_TRANSPORT=channel`: pushed over the channel, acked; measurements).
#[tauri::command]
pub fn video_transport() -> &'static str {
    if crate::surface::enabled() {
        return "native";
    }
    match std::env::var("RED5_DESK_VIDEO_TRANSPORT").as_deref() {
        Ok("channel") => "channel",
        _ => "pull",
    }
}

/// How long a pull waits for a frame before answering with nothing (the page asks again).
const PULL_WAIT: Duration = Duration::from_secs(1);

/// The next frame of `sink`'s canvas (the bytes a channel message carries), or an empty body
/// when none came within a second or the sink is not attached.
#[tauri::command]
pub async fn video_pull(
    state: tauri::State<'_, AppState>,
    sink: Sink,
) -> Result<tauri::ipc::Response, CommandError> {
    let msg = state.sessions.video.pull(sink, PULL_WAIT).await;
    Ok(tauri::ipc::Response::new(msg.unwrap_or_default()))
}

/// The next frame of a conference pane's canvas, by its channel's id (empty: none yet, or the
/// pane's video ended).
#[tauri::command]
pub async fn video_pull_channel(
    state: tauri::State<'_, AppState>,
    channel: u32,
) -> Result<tauri::ipc::Response, CommandError> {
    let msg = state.sessions.video.pull_channel(channel, PULL_WAIT).await;
    Ok(tauri::ipc::Response::new(msg.unwrap_or_default()))
}

/// `sink`'s canvas is shown at `width`×`height` device pixels: frames are sent at most that big.
#[tauri::command]
pub fn video_view_size(state: tauri::State<'_, AppState>, sink: Sink, width: u32, height: u32) {
    state.sessions.video.set_view(sink, width, height);
}

/// Where `sink`'s canvas is on the native video surface (`video_transport` = "native").
#[tauri::command]
pub fn video_native_rect(
    state: tauri::State<'_, AppState>,
    sink: Sink,
    placement: crate::surface::Placement,
) {
    state.sessions.video.place_native(sink, placement);
}

/// Where the conference channel `channel`'s canvas is on the native video surface.
#[tauri::command]
pub fn video_native_rect_channel(
    state: tauri::State<'_, AppState>,
    channel: u32,
    placement: crate::surface::Placement,
) {
    state
        .sessions
        .video
        .place_native_channel(channel, placement);
}

/// Painting figures of the conference channel `channel` on the native surface.
#[tauri::command]
pub fn video_native_stats_channel(
    state: tauri::State<'_, AppState>,
    channel: u32,
) -> Option<crate::surface::SurfaceStats> {
    state.sessions.video.native_stats_channel(channel)
}

/// What the window shows at `area` (CSS pixels), read back from the display: the mean colour
/// and the luma spread. With the native surface this is the only way to see its pictures (tests).
#[tauri::command]
pub async fn window_probe(area: crate::surface::Area) -> Option<crate::surface::Probe> {
    crate::surface::probe(area).await
}

/// A PNG (base64) of what the window shows, read back from the display (test screenshots: the
/// WebDriver screenshot is WebKit's own rendering, without the native video).
#[tauri::command]
pub async fn window_snapshot() -> Option<String> {
    use base64::Engine as _;
    let png = crate::surface::snapshot_png().await?;
    Some(base64::engine::general_purpose::STANDARD.encode(png))
}

/// Takes `sink`'s last picture off the native surface (the pane cleared its canvas).
#[tauri::command]
pub fn video_native_clear(state: tauri::State<'_, AppState>, sink: Sink) {
    state.sessions.video.clear_native(sink);
}

/// Painting figures of `sink`'s canvas on the native surface (measurement mode, tests);
/// `reset` restarts the latency samples.
#[tauri::command]
pub fn video_native_stats(
    state: tauri::State<'_, AppState>,
    sink: Sink,
    reset: Option<bool>,
) -> Option<crate::surface::SurfaceStats> {
    if reset == Some(true) {
        state.sessions.video.native_reset(sink);
    }
    state.sessions.video.native_stats(sink)
}

/// A conference pane's canvas (by its channel's id) is shown at `width`×`height` device pixels.
#[tauri::command]
pub fn video_view_size_channel(
    state: tauri::State<'_, AppState>,
    channel: u32,
    width: u32,
    height: u32,
) {
    state
        .sessions
        .video
        .set_view_channel(channel, width, height);
}

/// The page painted `count` frames of a conference pane's channel (by the channel's id).
#[tauri::command]
pub fn video_ack_channel(state: tauri::State<'_, AppState>, channel: u32, count: u32) {
    state.sessions.video.ack_channel(channel, count);
}

// ------------------------------------------------------------------------------------ preview

/// Shows the chosen camera in the Presenter pane without publishing (on = false stops it).
#[tauri::command]
pub async fn presenter_preview(
    state: tauri::State<'_, AppState>,
    on: bool,
    options: Option<PreviewOptions>,
) -> Result<(), CommandError> {
    let s = &state.sessions;
    let previous = lock(&s.preview).take();
    if let Some(p) = previous {
        tauri::async_runtime::spawn_blocking(move || p.stop())
            .await
            .map_err(|e| CommandError::msg(format!("The preview did not stop cleanly: {e}")))?;
    }
    if !on {
        return Ok(());
    }
    if s.publisher.lock().await.is_some() {
        // While publishing, the preview shows the published frames already.
        return Ok(());
    }
    let o = options.ok_or_else(|| CommandError::msg("Choose a camera to preview."))?;
    let settings = VideoSettings {
        width: o.width,
        height: o.height,
        fps: o.fps,
        format: None,
    };
    let cam = o.camera.clone();
    let mut source = tauri::async_runtime::spawn_blocking(move || {
        red5_media::open_video_source(Some(&cam), &settings)
    })
    .await
    .map_err(|e| CommandError::msg(format!("The camera could not be opened: {e}")))?
    .map_err(|e| CommandError::msg(capitalise(&e.to_string())))?;
    let pump = Pump::spawn(
        "red5-preview",
        s.video.clone(),
        Sink::Preview,
        move |_| match source.next_frame() {
            Ok(f) => Pull::Frame(f),
            Err(e) => {
                tracing::warn!("preview source ended: {e}");
                Pull::End
            }
        },
    )
    .map_err(|e| CommandError::msg(format!("The preview could not start: {e}")))?;
    *lock(&s.preview) = Some(pump);
    Ok(())
}

// ------------------------------------------------------------------------------------ presenter

#[tauri::command]
pub async fn presenter_start<R: Runtime>(
    app: AppHandle<R>,
    state: tauri::State<'_, AppState>,
    options: PublishOptions,
) -> Result<(), CommandError> {
    let s = &state.sessions;
    let mut slot = s.publisher.lock().await;
    if slot.is_some() {
        return Err(CommandError::msg(
            "Already publishing. Stop first to change the settings.",
        ));
    }
    let name = options.stream_name.trim().to_owned();
    if name.is_empty() {
        return Err(CommandError::msg("Enter a stream name to publish."));
    }
    let (endpoint, ice) = target(&state, options.transport)?;
    let mut cfg = PublisherConfig::new(endpoint, name, None, None);
    cfg.ice_servers = ice;
    cfg.video = options
        .camera
        .clone()
        .filter(|c| !c.is_empty())
        .map(|source| PublishVideo {
            source,
            codec: options.codec,
            width: options.width,
            height: options.height,
            fps: options.fps,
            bitrate_bps: options.bitrate_kbps.saturating_mul(1000),
        });
    cfg.audio = options
        .microphone
        .clone()
        .filter(|m| !m.is_empty())
        .map(|source| PublishAudio {
            source,
            bitrate_bps: 64_000,
            channels: 1,
        });
    // The camera can only be opened once: the publisher takes it over from the preview.
    let previous = lock(&s.preview).take();
    if let Some(p) = previous {
        let _ = tauri::async_runtime::spawn_blocking(move || p.stop()).await;
    }
    *lock(&s.publisher_state) = Some(SessionState::Connecting);
    s.update_connection(&app, None);
    let (publisher, mut events) = match Publisher::start(cfg).await {
        Ok(v) => v,
        Err(e) => {
            *lock(&s.publisher_state) = None;
            s.update_connection(&app, None);
            return Err(e.into());
        }
    };
    let publisher = Arc::new(publisher);
    let generation = s.next_generation();
    let p = publisher.clone();
    let pump = Pump::spawn(
        "red5-preview",
        s.video.clone(),
        Sink::Preview,
        move |_| match p.preview() {
            Some(f) => Pull::Frame(f),
            None => Pull::Idle,
        },
    )
    .map_err(|e| tracing::warn!("the local preview could not start: {e}"))
    .ok();
    let p = publisher.clone();
    let level_app = app.clone();
    let level_task = tauri::async_runtime::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        loop {
            tick.tick().await;
            let l = p.mic_level();
            emit(
                &level_app,
                BackendEvent::MicLevel {
                    peak_db: l.peak_dbfs(),
                    rms_db: l.rms_dbfs(),
                },
            );
        }
    });
    *slot = Some(LivePublisher {
        generation,
        publisher: publisher.clone(),
        pump,
        level_task,
    });
    drop(slot);

    let app2 = app.clone();
    tauri::async_runtime::spawn(async move {
        while let Some(ev) = events.recv().await {
            let s = sessions(&app2);
            let seen = match &ev {
                PublisherEvent::State { state } => Seen::State(*state),
                PublisherEvent::Reconnecting {
                    attempt,
                    of,
                    reason,
                    ..
                } => Seen::Reconnecting(*attempt, *of, reason),
                PublisherEvent::Failed { error } => Seen::Failed(error.to_string()),
                PublisherEvent::DeviceLost { message } | PublisherEvent::Warning { message } => {
                    Seen::Notice(message)
                }
                _ => Seen::Other,
            };
            let (text, changed, detail) = seen.fold(&s.publisher_state, "Presenter");
            emit(
                &app2,
                BackendEvent::Presenter {
                    event: ev.clone(),
                    text,
                },
            );
            if changed {
                s.update_connection(&app2, detail);
            }
            if matches!(
                ev,
                PublisherEvent::Failed { .. } | PublisherEvent::Unpublished
            ) {
                end_publisher(&app2, generation).await;
                break;
            }
        }
    });
    Ok(())
}

/// Tears down the publisher slot if it still belongs to `generation`.
async fn end_publisher<R: Runtime>(app: &AppHandle<R>, generation: u64) {
    let s = sessions(app);
    let mut slot = s.publisher.lock().await;
    if slot.as_ref().map(|l| l.generation) == Some(generation) {
        if let Some(live) = slot.take() {
            finish_publisher(s, live).await;
        }
    }
}

async fn finish_publisher(s: &Sessions, mut live: LivePublisher) {
    live.level_task.abort();
    lock(&s.last_stats)[0] = Some(live.publisher.export_stats_json());
    if let Some(p) = live.pump.take() {
        let _ = tauri::async_runtime::spawn_blocking(move || p.stop()).await;
    }
}

#[tauri::command]
pub async fn presenter_stop<R: Runtime>(
    app: AppHandle<R>,
    state: tauri::State<'_, AppState>,
) -> Result<(), CommandError> {
    let s = &state.sessions;
    let live = s.publisher.lock().await.take();
    if let Some(live) = live {
        live.publisher.stop().await;
        finish_publisher(s, live).await;
    }
    *lock(&s.publisher_state) = Some(SessionState::Stopped);
    s.update_connection(&app, None);
    emit(
        &app,
        BackendEvent::Presenter {
            event: PublisherEvent::State {
                state: SessionState::Stopped,
            },
            text: None,
        },
    );
    Ok(())
}

async fn with_publisher<T>(
    s: &Sessions,
    f: impl FnOnce(&Arc<Publisher>) -> T,
) -> Result<T, CommandError> {
    let slot = s.publisher.lock().await;
    slot.as_ref()
        .map(|l| f(&l.publisher))
        .ok_or_else(|| CommandError::msg("Not publishing. Press Publish first."))
}

#[tauri::command]
pub async fn presenter_mute(
    state: tauri::State<'_, AppState>,
    audio: Option<bool>,
    video: Option<bool>,
) -> Result<(), CommandError> {
    let p = with_publisher(&state.sessions, Arc::clone).await?;
    if let Some(m) = audio {
        p.mute_audio(m)?;
    }
    if let Some(m) = video {
        p.mute_video(m)?;
    }
    Ok(())
}

#[tauri::command]
pub async fn presenter_set_bitrate(
    state: tauri::State<'_, AppState>,
    kbps: u32,
) -> Result<(), CommandError> {
    let p = with_publisher(&state.sessions, Arc::clone).await?;
    p.set_video_bitrate(kbps.saturating_mul(1000))?;
    Ok(())
}

/// What the metadata field holds, as it will be sent: `{metadata: text}`, or in JSON mode the
/// object typed (which must be a JSON object, as `onMetaData` carries one).
pub fn metadata_payload(text: &str, json_mode: bool) -> Result<Value, String> {
    if !json_mode {
        if text.trim().is_empty() {
            return Err("Type the metadata text to send.".into());
        }
        return Ok(serde_json::json!({ "metadata": text }));
    }
    match serde_json::from_str::<Value>(text) {
        Ok(v @ Value::Object(_)) => Ok(v),
        Ok(_) => {
            Err("In JSON mode the metadata must be an object, like {\"title\": \"Intro\"}.".into())
        }
        Err(e) => Err(format!(
            "This is not valid JSON: {} (line {}, column {}).",
            e.to_string()
                .split(" at line")
                .next()
                .unwrap_or("syntax error"),
            e.line(),
            e.column()
        )),
    }
}

#[tauri::command]
pub fn validate_metadata(text: String, json_mode: bool) -> Option<String> {
    metadata_payload(&text, json_mode).err()
}

#[tauri::command]
pub async fn presenter_send_metadata(
    state: tauri::State<'_, AppState>,
    text: String,
    json_mode: bool,
) -> Result<SentEntry, CommandError> {
    let data = metadata_payload(&text, json_mode).map_err(CommandError::msg)?;
    let p = with_publisher(&state.sessions, Arc::clone).await?;
    p.send_metadata(data.clone()).await?;
    Ok(SentEntry {
        time_ms: unix_ms(),
        method: "onMetaData".into(),
        data,
    })
}

// ------------------------------------------------------------------------------------ viewer

#[tauri::command]
pub async fn viewer_start<R: Runtime>(
    app: AppHandle<R>,
    state: tauri::State<'_, AppState>,
    options: SubscribeOptions,
) -> Result<(), CommandError> {
    let s = &state.sessions;
    let mut slot = s.subscriber.lock().await;
    if slot.is_some() {
        return Err(CommandError::msg(
            "Already watching a stream. Stop first to watch another one.",
        ));
    }
    let name = options.stream_name.trim().to_owned();
    if name.is_empty() {
        return Err(CommandError::msg("Enter the name of the stream to watch."));
    }
    let (endpoint, ice) = target(&state, options.transport)?;
    let mut cfg = SubscriberConfig::new(endpoint, name);
    cfg.ice_servers = ice;
    cfg.volume = options.volume.clamp(0.0, 1.0);
    cfg.audio_output = AudioOutput::Default;
    *lock(&s.subscriber_state) = Some(SessionState::Connecting);
    s.update_connection(&app, None);
    let (subscriber, mut events) = match Subscriber::start(cfg).await {
        Ok(v) => v,
        Err(e) => {
            *lock(&s.subscriber_state) = None;
            s.update_connection(&app, None);
            return Err(e.into());
        }
    };
    let subscriber = Arc::new(subscriber);
    let generation = s.next_generation();
    let pump = subscriber.take_video_frames().and_then(|mut rx| {
        Pump::spawn(
            "red5-viewer-video",
            s.video.clone(),
            Sink::Viewer,
            move |stop| {
                if stop.load(Ordering::Relaxed) {
                    return Pull::End;
                }
                match rx.try_recv() {
                    Ok(mut v) => {
                        // Show the newest decoded frame; older queued ones are already late.
                        while let Ok(newer) = rx.try_recv() {
                            v = newer;
                        }
                        Pull::Frame(v.frame)
                    }
                    // Polled, so a stop is noticed even when no frame comes.
                    Err(tokio::sync::mpsc::error::TryRecvError::Empty) => Pull::Idle,
                    Err(tokio::sync::mpsc::error::TryRecvError::Disconnected) => Pull::End,
                }
            },
        )
        .map_err(|e| tracing::warn!("the video could not be shown: {e}"))
        .ok()
    });
    *slot = Some(LiveSubscriber {
        generation,
        subscriber: subscriber.clone(),
        pump,
    });
    drop(slot);

    let app2 = app.clone();
    tauri::async_runtime::spawn(async move {
        while let Some(ev) = events.recv().await {
            let s = sessions(&app2);
            let seen = match &ev {
                SubscriberEvent::State { state } => Seen::State(*state),
                SubscriberEvent::Reconnecting {
                    attempt,
                    of,
                    reason,
                    ..
                } => Seen::Reconnecting(*attempt, *of, reason),
                SubscriberEvent::Failed { error } => Seen::Failed(error.to_string()),
                SubscriberEvent::AudioOutput { message } | SubscriberEvent::Warning { message } => {
                    Seen::Notice(message)
                }
                _ => Seen::Other,
            };
            let (text, changed, detail) = seen.fold(&s.subscriber_state, "Viewer");
            emit(
                &app2,
                BackendEvent::Viewer {
                    event: ev.clone(),
                    text,
                },
            );
            if changed {
                s.update_connection(&app2, detail);
            }
            if matches!(
                ev,
                SubscriberEvent::Failed { .. } | SubscriberEvent::Stopped
            ) {
                end_subscriber(&app2, generation).await;
                break;
            }
        }
    });
    Ok(())
}

async fn end_subscriber<R: Runtime>(app: &AppHandle<R>, generation: u64) {
    let s = sessions(app);
    let mut slot = s.subscriber.lock().await;
    if slot.as_ref().map(|l| l.generation) == Some(generation) {
        if let Some(live) = slot.take() {
            finish_subscriber(s, live).await;
        }
    }
}

async fn finish_subscriber(s: &Sessions, mut live: LiveSubscriber) {
    lock(&s.last_stats)[1] = Some(live.subscriber.export_stats_json());
    if let Some(p) = live.pump.take() {
        let _ = tauri::async_runtime::spawn_blocking(move || p.stop()).await;
    }
}

#[tauri::command]
pub async fn viewer_stop<R: Runtime>(
    app: AppHandle<R>,
    state: tauri::State<'_, AppState>,
) -> Result<(), CommandError> {
    let s = &state.sessions;
    let live = s.subscriber.lock().await.take();
    if let Some(live) = live {
        live.subscriber.stop().await;
        finish_subscriber(s, live).await;
    }
    *lock(&s.subscriber_state) = Some(SessionState::Stopped);
    s.update_connection(&app, None);
    emit(
        &app,
        BackendEvent::Viewer {
            event: SubscriberEvent::State {
                state: SessionState::Stopped,
            },
            text: None,
        },
    );
    Ok(())
}

#[tauri::command]
pub async fn viewer_volume(
    state: tauri::State<'_, AppState>,
    volume: f32,
    muted: bool,
) -> Result<(), CommandError> {
    let slot = state.sessions.subscriber.lock().await;
    if let Some(l) = slot.as_ref() {
        l.subscriber.set_volume(volume.clamp(0.0, 1.0))?;
        l.subscriber.set_muted(muted)?;
    }
    Ok(())
}

// ------------------------------------------------------------------------------------ stats

/// Where exported stats go: the user's Downloads folder, else `<config dir>/exports`.
fn export_dir<R: Runtime>(app: &AppHandle<R>, state: &AppState) -> std::path::PathBuf {
    if let Some(d) = state.export_dir() {
        return d.clone();
    }
    match app.path().download_dir() {
        Ok(d) if d.is_dir() => d,
        _ => state.config_dir().join("exports"),
    }
}

/// Writes every stats snapshot of the session (the live one, or the last one that ended) as a
/// JSON array and returns the file's path.
#[tauri::command]
pub async fn export_stats<R: Runtime>(
    app: AppHandle<R>,
    state: tauri::State<'_, AppState>,
    role: Role,
) -> Result<String, CommandError> {
    let s = &state.sessions;
    let live = match role {
        Role::Presenter => s
            .publisher
            .lock()
            .await
            .as_ref()
            .map(|l| l.publisher.export_stats_json()),
        Role::Viewer => s
            .subscriber
            .lock()
            .await
            .as_ref()
            .map(|l| l.subscriber.export_stats_json()),
    };
    let idx = usize::from(role == Role::Viewer);
    let json = live
        .or_else(|| lock(&s.last_stats)[idx].clone())
        .ok_or_else(|| CommandError::msg("There are no statistics yet: start a session first."))?;
    let dir = export_dir(&app, &state);
    let name = format!(
        "red5-desk-{}-stats-{}.json",
        if idx == 0 { "presenter" } else { "viewer" },
        unix_ms()
    );
    let path = dir.join(name);
    let p2 = path.clone();
    tauri::async_runtime::spawn_blocking(move || {
        std::fs::create_dir_all(&dir)?;
        std::fs::write(&p2, json)
    })
    .await
    .map_err(|e| CommandError::msg(format!("The statistics could not be saved: {e}")))?
    .map_err(|e| {
        CommandError::msg(format!(
            "The statistics could not be saved to {}: {e}",
            path.display()
        ))
    })?;
    Ok(path.display().to_string())
}

/// Ends both sessions (app exit).
pub async fn shutdown(s: &Sessions) {
    if let Some(live) = s.publisher.lock().await.take() {
        live.publisher.stop().await;
        finish_publisher(s, live).await;
    }
    if let Some(live) = s.subscriber.lock().await.take() {
        live.subscriber.stop().await;
        finish_subscriber(s, live).await;
    }
    if let Some(p) = lock(&s.preview).take() {
        p.stop();
    }
}
