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
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use red5_media::devices::all_devices;
use red5_media::source::synthetic_devices;
use red5_media::ui::{UiFormat, UiFrameEncoder};
use red5_session::subscriber::AudioOutput;
use red5_session::{Subscriber, SubscriberConfig, SubscriberEvent};
use serde::{Deserialize, Serialize};
use tauri::ipc::{Channel, InvokeResponseBody};
use tauri::{AppHandle, Emitter, Runtime, State};
use tokio::sync::mpsc;

use crate::commands::CommandError;
use crate::events::EVENT_NAME;
use crate::state::AppState;

/// Conference state held by the app for the Host and Participant panes.
#[derive(Default)]
pub struct ConferenceState {
    watches: Mutex<HashMap<String, Watch>>,
}

impl ConferenceState {
    fn watches(&self) -> MutexGuard<'_, HashMap<String, Watch>> {
        self.watches.lock().unwrap_or_else(|p| p.into_inner())
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
    pub audio: Option<String>,
}

/// Everything the Host pane shows, sent whole on every change.
#[derive(Clone, Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HostView {
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
    let built_in = state.store().active().is_built_in();
    let (ep, _) = state.session_target().map_err(err)?;
    Ok(HostDefaults {
        backend_ws: backend_ws_for(&ep.base_url, built_in),
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
    if let Err(e) = spawn_canvas_pump(video, frames, max_fps, stop.clone(), |d| d.frame) {
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

/// One thread per canvas: takes decoded frames, drops what exceeds `max_fps`, encodes JPEG and
/// sends it over the channel. Ends when the frames end, the watch stops or the page is gone.
pub(crate) fn spawn_canvas_pump<T: Send + 'static>(
    mut frames: mpsc::Receiver<T>,
    channel: Channel<InvokeResponseBody>,
    max_fps: u32,
    stop: Arc<AtomicBool>,
    to_frame: impl Fn(T) -> red5_media::VideoFrame + Send + 'static,
) -> std::io::Result<()> {
    let mut enc = UiFrameEncoder::new(UiFormat::Jpeg, 80)
        .map_err(|e| std::io::Error::other(e.to_string()))?;
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
                if last.is_some_and(|t| now.duration_since(t) < period) {
                    continue;
                }
                last = Some(now);
                let frame = to_frame(item);
                match enc.encode(&frame) {
                    Ok(bytes) => {
                        if channel.send(InvokeResponseBody::Raw(bytes)).is_err() {
                            break; // the page went away
                        }
                    }
                    Err(e) => tracing::debug!("a preview frame was not encoded: {e}"),
                }
            }
        })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use red5_localsm::{LocalServer, ServerConfig};
    use red5_media::ui::parse_header;
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
        let (watch, _events) = start_watch(&state, &req, channel).await.unwrap();
        let first = Instant::now();
        let mut got = 0;
        while got < 3 {
            let frame = tokio::time::timeout(Duration::from_secs(20), rx.recv())
                .await
                .expect("a preview frame within 20 s")
                .unwrap();
            let (fmt, w, h) = parse_header(&frame).expect("a UI frame header");
            assert_eq!(fmt, UiFormat::Jpeg);
            assert!(w >= 160 && h >= 120, "{w}x{h}");
            assert_eq!(&frame[16..18], &[0xFF, 0xD8], "JPEG data after the header");
            got += 1;
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
