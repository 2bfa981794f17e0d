//! The conference host engine (red5-protocol.md §7.4, §7.5): the two backend sockets of the
//! seed's host page (`<app>/<room>_wr` and `<app>/<room>`, both `host=true`), the waiting room,
//! the conference list with its presenter, exclusions, mixer regions and compositions with their
//! real state, and the host's controls (create/destroy composition, admit, remove, presenter,
//! ban, order). Reconnects with the product policy; one event enum.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use red5_signal::backend::{connect_url, ClientMessage, ConnectParams, ServerMessage};
use red5_signal::driver::backend::BackendConnection;
use red5_signal::driver::tls::TlsOptions;
use red5_signal::flow::backend::BackendEvent;
use red5_signal::rest::sm1::{Composition, Mixer};
use red5_signal::Secret;
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};

use crate::error::{Error, Result};
use crate::reconnect::{Next, ReconnectPolicy, Reconnector};
use crate::room::{check_stream_name, ConferenceRoom};

/// Where and as whom the host connects.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HostConfig {
    /// The conference backend: `ws://127.0.0.1:5080`, `wss://backend.example.com`, or
    /// `host:port` (ws for IP/localhost, wss otherwise, as the testbed does).
    pub backend_url: String,
    /// The conference context `<app>/<room>` (`live/room1`).
    pub room: String,
    /// Stream Manager 1 origin (`https://sm.example.com`), used to build the mixing page URL.
    pub stream_manager: String,
    /// SM1 access token: the composition's `digest` and the mixing page's `smtoken`.
    pub access_token: Secret,
    pub reconnect: ReconnectPolicy,
    /// How long connecting the backend sockets may take.
    pub connect_timeout: Duration,
}

impl HostConfig {
    pub fn new(backend_url: impl Into<String>, room: impl Into<String>) -> Self {
        let backend_url = backend_url.into();
        HostConfig {
            stream_manager: http_origin(&backend_url),
            backend_url,
            room: room.into(),
            access_token: Secret::default(),
            reconnect: ReconnectPolicy::default(),
            connect_timeout: Duration::from_secs(10),
        }
    }
}

impl HostConfig {
    /// From a saved server profile: the Stream Manager origin and, for SM1, its access token.
    /// The built-in server without auth takes any digest, so it gets a placeholder; a built-in
    /// server started with auth needs its `sm1_access_token()` here instead.
    pub fn from_profile(
        p: &red5_config::profile::ServerProfile,
        backend_url: impl Into<String>,
        room: impl Into<String>,
    ) -> Self {
        use red5_config::profile::ProfileKind;
        let mut c = HostConfig::new(backend_url, room);
        c.stream_manager = p.base_url();
        match &p.kind {
            ProfileKind::Sm1 { access_token } => c.access_token = access_token.clone(),
            ProfileKind::BuiltIn => c.access_token = Secret::new("red5-desk"),
            ProfileKind::Sm2 { .. } | ProfileKind::Standalone => {}
        }
        c
    }
}

/// `ws://h:p/x` → `http://h:p`; `h:p` → `http://h:p` (the built-in server serves both).
fn http_origin(u: &str) -> String {
    let (scheme, rest) = match u.split_once("://") {
        Some(("wss" | "https", r)) => ("https", r),
        Some((_, r)) => ("http", r),
        None => ("http", u),
    };
    let host = rest.split(['/', '?']).next().unwrap_or(rest);
    format!("{scheme}://{host}")
}

/// The Create Composition form, prefilled as the seed's host testbed does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CompositionForm {
    /// Composition id; the join API needs it to equal the room name.
    pub event: String,
    /// Mixer region (one of `mixerRegions`).
    pub region: String,
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    pub bitrate_kbps: u32,
    /// The mixer's mixing page; `None` = the seed's conference layout page on the Stream
    /// Manager, with this room and backend.
    pub mixing_page: Option<String>,
}

impl CompositionForm {
    /// event = room, the region given (first of `mixerRegions`), 1280×720, 30 fps, 1500 kbps.
    pub fn prefilled(room: &ConferenceRoom, region: impl Into<String>) -> Self {
        CompositionForm {
            event: room.name.clone(),
            region: region.into(),
            width: 1280,
            height: 720,
            fps: 30,
            bitrate_kbps: 1500,
            mixing_page: None,
        }
    }

    /// Checks the form the way a person needs it explained.
    pub fn validate(&self, room: &ConferenceRoom, regions: &[String]) -> Result<()> {
        check_stream_name("composition event", &self.event)?;
        if self.event != room.name {
            return Err(Error::Config(format!(
                "the composition event must be the room name '{}' (participants join by it)",
                room.name
            )));
        }
        if self.region.trim().is_empty() {
            return Err(Error::Config(
                "choose a mixer region (the server has not announced any yet)".into(),
            ));
        }
        if !regions.is_empty() && !regions.iter().any(|r| r == &self.region) {
            return Err(Error::Config(format!(
                "'{}' is not a mixer region of this server (choose one of: {})",
                self.region,
                regions.join(", ")
            )));
        }
        if !(16..=3840).contains(&self.width) || !(16..=2160).contains(&self.height) {
            return Err(Error::Config(format!(
                "{}×{} is not a usable mixer size (16×16 up to 3840×2160)",
                self.width, self.height
            )));
        }
        if !self.width.is_multiple_of(2) || !self.height.is_multiple_of(2) {
            return Err(Error::Config(format!(
                "the mixer size {}×{} must be even in both directions",
                self.width, self.height
            )));
        }
        if !(1..=60).contains(&self.fps) {
            return Err(Error::Config(format!(
                "{} fps is not a usable mixer frame rate (1 to 60)",
                self.fps
            )));
        }
        if !(100..=20_000).contains(&self.bitrate_kbps) {
            return Err(Error::Config(format!(
                "{} kbps is not a usable mixer bitrate (100 to 20000)",
                self.bitrate_kbps
            )));
        }
        Ok(())
    }

    /// The `createComposition` message (§7.2 body): one final mixer writing
    /// `<app>/<room>/<room>`.
    pub(crate) fn to_message(&self, room: &ConferenceRoom, cfg: &HostConfig) -> ClientMessage {
        let page = self.mixing_page.clone().unwrap_or_else(|| {
            let ws = cfg
                .backend_url
                .split_once("://")
                .map_or(cfg.backend_url.as_str(), |(_, r)| r)
                .trim_end_matches('/');
            format!(
                "{}/webrtcexamples/sample-mixer-pages/conference/?role=mixer&app={}&room={}&ws={}&token={}&sm=true&smtoken={}",
                cfg.stream_manager.trim_end_matches('/'),
                room.app,
                room.name,
                ws,
                rand::random::<u32>(),
                cfg.access_token.expose()
            )
        });
        ClientMessage::CreateComposition {
            event: self.event.clone(),
            digest: cfg.access_token.expose().to_owned(),
            transcode_composition: false,
            mixers: vec![Mixer {
                id: None,
                mixer_name: uuid_v4(),
                location: None,
                mixing_page: page,
                stream_name: room.name.clone(),
                path: room.context(),
                destination_mixer_name: String::new(),
                server_address: None,
                destination: None,
                width: Some(self.width),
                height: Some(self.height),
                framerate: Some(self.fps),
                bitrate: Some(self.bitrate_kbps),
                do_forward: true,
                state: None,
                is_web_socket_connected: None,
            }],
            location: vec![self.region.clone()],
        }
    }
}

/// `mixerName` as the testbed makes it (uuidv4).
fn uuid_v4() -> String {
    let b: [u8; 16] = rand::random();
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    let v = format!("4{}", &h[13..16]);
    let var = ["8", "9", "a", "b"][usize::from(b[8] & 3)];
    format!(
        "{}-{}-{}-{}{}-{}",
        &h[0..8],
        &h[8..12],
        v,
        var,
        &h[17..20],
        &h[20..32]
    )
}

/// A composition's state as the Stream Manager reports it (lower-case on the wire).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CompositionState {
    /// Created; the mixer is being provisioned.
    Pending,
    /// The mixer runs but has not emitted a frame yet.
    Inservice,
    /// The composite stream is being produced.
    Composing,
    /// The mixer went away while the composition exists.
    Disconnected,
    /// Being deleted.
    Terminating,
    /// A state this client does not know.
    Unknown,
}

impl CompositionState {
    fn parse(s: Option<&str>) -> Self {
        match s.map(str::to_ascii_lowercase).as_deref() {
            Some("pending") | None => CompositionState::Pending,
            Some("inservice") => CompositionState::Inservice,
            Some("composing") => CompositionState::Composing,
            Some("disconnected") => CompositionState::Disconnected,
            Some("terminating") => CompositionState::Terminating,
            Some(_) => CompositionState::Unknown,
        }
    }

    /// How far along (for taking the least advanced mixer as the composition's state).
    fn rank(self) -> u8 {
        match self {
            CompositionState::Disconnected => 0,
            CompositionState::Terminating => 1,
            CompositionState::Unknown => 2,
            CompositionState::Pending => 3,
            CompositionState::Inservice => 4,
            CompositionState::Composing => 5,
        }
    }
}

/// One active composition, as the host pane shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CompositionInfo {
    pub event: String,
    /// The least advanced mixer's state (all must compose for the composition to compose).
    pub state: CompositionState,
    pub region: Option<String>,
    /// The composite stream (`live/room1/room1`).
    pub stream: Option<String>,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub fps: Option<u32>,
    pub bitrate_kbps: Option<u32>,
    /// The mixer's page is connected to the backend (the native mixer runs).
    pub mixer_connected: bool,
}

impl CompositionInfo {
    fn from_wire(c: &Composition) -> Self {
        let state = c
            .mixers
            .iter()
            .map(|m| CompositionState::parse(m.state.as_deref()))
            .min_by_key(|s| s.rank())
            .unwrap_or(CompositionState::Pending);
        let last = c
            .mixers
            .iter()
            .find(|m| m.destination_mixer_name.is_empty())
            .or(c.mixers.first());
        CompositionInfo {
            event: c.event.clone(),
            state,
            region: c.location.first().cloned(),
            stream: last.map(|m| format!("{}/{}", m.path, m.stream_name)),
            width: last.and_then(|m| m.width),
            height: last.and_then(|m| m.height),
            fps: last.and_then(|m| m.framerate),
            bitrate_kbps: last.and_then(|m| m.bitrate),
            mixer_connected: !c.mixers.is_empty()
                && c.mixers
                    .iter()
                    .all(|m| m.is_web_socket_connected == Some(true)),
        }
    }
}

/// Everything the host knows right now (for a pane that opens late).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HostSnapshot {
    pub connected: bool,
    pub mixer_regions: Vec<String>,
    /// Waiting-room streams not (yet) in the conference: the ones to preview and admit.
    pub waiting: Vec<String>,
    pub conference: Vec<String>,
    pub presenter: Option<String>,
    pub excluded: Vec<String>,
    pub compositions: Vec<CompositionInfo>,
}

/// Everything a host reports. Serialises as `{"type": "...", ...}` (camelCase).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(
    tag = "type",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum HostEvent {
    /// Both backend sockets are open (also after each reconnect).
    Connected,
    /// The backend connection dropped.
    Disconnected { reason: String },
    Reconnecting {
        attempt: u32,
        of: u32,
        #[serde(rename = "delayMs", serialize_with = "crate::stats::duration_ms")]
        delay: Duration,
        reason: String,
    },
    /// The regions a composition can be created in (`mixerRegions`).
    MixerRegions { regions: Vec<String> },
    /// Waiting-room streams not in the conference (preview them, admit or ban them).
    WaitingRoom { streams: Vec<String> },
    /// The conference list and its presenter.
    Conference {
        streams: Vec<String>,
        presenter: Option<String>,
    },
    /// Banned streams.
    Excluded { streams: Vec<String> },
    /// The room's compositions with their real state.
    Compositions { list: Vec<CompositionInfo> },
    /// The server refused something, in words.
    Error { message: String },
    /// `stop()` finished.
    Stopped,
    /// The host session ended (backend unreachable, reconnects exhausted).
    Failed { error: Error },
}

enum Cmd {
    /// To the conference socket (`true`) or the waiting-room socket.
    Send(bool, ClientMessage),
    Stop(oneshot::Sender<()>),
}

/// Handle to a running host. Dropping it stops the session.
pub struct Host {
    cmd: mpsc::UnboundedSender<Cmd>,
    room: ConferenceRoom,
    cfg: HostConfig,
    state: Arc<Mutex<HostSnapshot>>,
}

impl std::fmt::Debug for Host {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Host")
            .field("room", &self.room.context())
            .finish_non_exhaustive()
    }
}

impl Host {
    /// Validates the settings and starts connecting both backend sockets; the outcome arrives
    /// as `Connected` or `Failed`.
    pub async fn connect(cfg: HostConfig) -> Result<(Host, mpsc::UnboundedReceiver<HostEvent>)> {
        let room = ConferenceRoom::parse(&cfg.room)?;
        let b = cfg.backend_url.trim();
        if b.is_empty() {
            return Err(Error::Config(
                "the conference backend address is empty".into(),
            ));
        }
        if let Some((scheme, _)) = b.split_once("://") {
            if !matches!(scheme, "ws" | "wss" | "http" | "https") {
                return Err(Error::Config(format!(
                    "'{b}' is not a conference backend address (ws://host:port or wss://host)"
                )));
            }
        }
        red5_signal::driver::tls::ensure_crypto_provider();
        let state = Arc::new(Mutex::new(HostSnapshot::default()));
        let (ev_tx, ev_rx) = mpsc::unbounded_channel();
        let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
        let engine = Engine {
            room: room.clone(),
            urls: [
                backend_url(b, &room.context()),
                backend_url(b, &room.waiting_context()),
            ],
            rec: Reconnector::new(cfg.reconnect),
            connect_timeout: cfg.connect_timeout,
            state: state.clone(),
            ev: ev_tx,
            cmd_rx,
            pending: Vec::new(),
            active_wr: Vec::new(),
        };
        tokio::spawn(engine.run());
        Ok((
            Host {
                cmd: cmd_tx,
                room,
                cfg,
                state,
            },
            ev_rx,
        ))
    }

    pub fn room(&self) -> &ConferenceRoom {
        &self.room
    }

    /// What the host knows now.
    pub fn snapshot(&self) -> HostSnapshot {
        self.state.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// The form prefilled for this room with the first announced mixer region.
    pub fn composition_form(&self) -> CompositionForm {
        let region = self
            .snapshot()
            .mixer_regions
            .first()
            .cloned()
            .unwrap_or_default();
        CompositionForm::prefilled(&self.room, region)
    }

    fn send(&self, conference: bool, m: ClientMessage) -> Result<()> {
        self.cmd
            .send(Cmd::Send(conference, m))
            .map_err(|_| Error::Closed)
    }

    /// Create the room's composition; its state then arrives in `Compositions`.
    pub fn create_composition(&self, form: &CompositionForm) -> Result<()> {
        form.validate(&self.room, &self.snapshot().mixer_regions)?;
        if self.cfg.access_token.expose().trim().is_empty() {
            return Err(Error::Config(
                "a composition needs the Stream Manager access token (its digest); enter it in the host settings".into(),
            ));
        }
        self.send(true, form.to_message(&self.room, &self.cfg))
    }

    /// Destroy a composition (the mixer stops, the composite ends).
    pub fn destroy_composition(&self, event: &str) -> Result<()> {
        check_stream_name("composition event", event)?;
        self.send(
            true,
            ClientMessage::DestroyComposition {
                event: event.to_owned(),
            },
        )
    }

    /// Ask the backend for the compositions again.
    pub fn refresh_compositions(&self) -> Result<()> {
        self.send(true, ClientMessage::GetActiveCompositions)
    }

    /// "Add to conference": the waiting-room stream joins (the first one becomes presenter).
    pub fn promote(&self, stream: &str) -> Result<()> {
        check_stream_name("stream name", stream)?;
        self.send(
            true,
            ClientMessage::Promote {
                room: self.room.context(),
                stream_name: stream.to_owned(),
            },
        )
    }

    /// "Remove from conference": back to the waiting room (its engine leaves by itself).
    pub fn demote(&self, stream: &str) -> Result<()> {
        check_stream_name("stream name", stream)?;
        self.send(
            true,
            ClientMessage::Demote {
                room: self.room.context(),
                stream_name: stream.to_owned(),
            },
        )
    }

    /// "Make presenter": the stream takes the large region of the composite.
    pub fn presenter(&self, stream: &str) -> Result<()> {
        check_stream_name("stream name", stream)?;
        self.send(
            true,
            ClientMessage::Presenter {
                room: self.room.context(),
                stream_name: stream.to_owned(),
            },
        )
    }

    /// "Exclude" / "Ban": out of the waiting room and the conference, and kept out when it
    /// publishes again.
    pub fn exclude(&self, stream: &str) -> Result<()> {
        check_stream_name("stream name", stream)?;
        self.send(
            false,
            ClientMessage::Exclude {
                room: self.room.waiting_context(),
                stream_name: stream.to_owned(),
            },
        )
    }

    /// Move a conference stream to position `index` of the list (the layout's order).
    pub fn order(&self, stream: &str, index: usize) -> Result<()> {
        check_stream_name("stream name", stream)?;
        self.send(
            true,
            ClientMessage::Order {
                room: self.room.context(),
                order: i64::try_from(index).unwrap_or(i64::MAX),
                stream_name: stream.to_owned(),
            },
        )
    }

    /// Close both sockets and wait until the session has ended. Compositions stay (destroy
    /// them first if they should end with the host).
    pub async fn stop(&self) {
        let (tx, rx) = oneshot::channel();
        if self.cmd.send(Cmd::Stop(tx)).is_ok() {
            let _ = rx.await;
        }
    }
}

fn backend_url(backend: &str, room: &str) -> String {
    let b = backend
        .replacen("https://", "wss://", 1)
        .replacen("http://", "ws://", 1);
    connect_url(
        &b,
        &ConnectParams {
            room: room.to_owned(),
            host: true,
            mixer: None,
            presenter: false,
        },
    )
}

enum Outcome {
    Stopped(Option<oneshot::Sender<()>>),
    Dropped(String),
}

struct Engine {
    room: ConferenceRoom,
    /// [conference socket, waiting-room socket].
    urls: [String; 2],
    rec: Reconnector,
    connect_timeout: Duration,
    state: Arc<Mutex<HostSnapshot>>,
    ev: mpsc::UnboundedSender<HostEvent>,
    cmd_rx: mpsc::UnboundedReceiver<Cmd>,
    /// Controls given while disconnected, sent once connected again.
    pending: Vec<(bool, ClientMessage)>,
    /// The raw waiting-room `active` list.
    active_wr: Vec<String>,
}

impl Engine {
    async fn run(mut self) {
        let mut was_live = false;
        let ack = loop {
            match self.attempt(&mut was_live).await {
                Outcome::Stopped(ack) => break ack,
                Outcome::Dropped(reason) => {
                    self.set_connected(false);
                    if !was_live {
                        // A first connection that fails is a settings problem more often
                        // than not: say so at once.
                        let _ = self.ev.send(HostEvent::Failed {
                            error: Error::ConnectionLost(reason),
                        });
                        return self.drain();
                    }
                    let _ = self.ev.send(HostEvent::Disconnected {
                        reason: reason.clone(),
                    });
                    match self.rec.on_drop() {
                        Next::Retry { attempt, of, delay } => {
                            let _ = self.ev.send(HostEvent::Reconnecting {
                                attempt,
                                of,
                                delay,
                                reason: reason.clone(),
                            });
                            if let Some(ack) = self.wait(delay).await {
                                break ack;
                            }
                        }
                        Next::GiveUp { attempts } => {
                            let _ = self.ev.send(HostEvent::Failed {
                                error: Error::ReconnectFailed {
                                    attempts,
                                    last: reason,
                                },
                            });
                            return self.drain();
                        }
                    }
                }
            }
        };
        self.set_connected(false);
        let _ = self.ev.send(HostEvent::Stopped);
        if let Some(a) = ack {
            let _ = a.send(());
        }
        self.drain();
    }

    fn drain(&mut self) {
        self.cmd_rx.close();
        while let Ok(c) = self.cmd_rx.try_recv() {
            if let Cmd::Stop(tx) = c {
                let _ = tx.send(());
            }
        }
    }

    /// Waits out a reconnect delay while keeping commands; `Some` = stop requested.
    async fn wait(&mut self, delay: Duration) -> Option<Option<oneshot::Sender<()>>> {
        let until = tokio::time::Instant::now() + delay;
        loop {
            tokio::select! {
                _ = tokio::time::sleep_until(until) => return None,
                c = self.cmd_rx.recv() => match c {
                    None => return Some(None),
                    Some(Cmd::Stop(tx)) => return Some(Some(tx)),
                    Some(Cmd::Send(conf, m)) => self.pending.push((conf, m)),
                }
            }
        }
    }

    fn set_connected(&self, c: bool) {
        if let Ok(mut s) = self.state.lock() {
            s.connected = c;
        }
    }

    async fn attempt(&mut self, was_live: &mut bool) -> Outcome {
        let tls = TlsOptions::default();
        let mut conf_sock = BackendConnection::spawn_once(self.urls[0].clone(), &tls);
        let mut wr_sock = BackendConnection::spawn_once(self.urls[1].clone(), &tls);
        let mut open = [false, false];
        let deadline = tokio::time::Instant::now() + self.connect_timeout;
        let outcome = loop {
            let both = open[0] && open[1];
            let got = tokio::select! {
                c = self.cmd_rx.recv() => Got::Cmd(c),
                e = conf_sock.next_event() => Got::Ev(0, e),
                e = wr_sock.next_event() => Got::Ev(1, e),
                _ = tokio::time::sleep_until(deadline), if !both => Got::Timeout,
            };
            match got {
                Got::Cmd(None) => break Outcome::Stopped(None),
                Got::Cmd(Some(Cmd::Stop(tx))) => break Outcome::Stopped(Some(tx)),
                Got::Cmd(Some(Cmd::Send(conf, m))) => {
                    if both {
                        if conf {
                            conf_sock.send(m)
                        } else {
                            wr_sock.send(m)
                        }
                    } else {
                        self.pending.push((conf, m));
                    }
                }
                Got::Timeout => {
                    break Outcome::Dropped(format!(
                        "the conference backend did not answer within {} s",
                        self.connect_timeout.as_secs()
                    ))
                }
                Got::Ev(i, None) => {
                    break Outcome::Dropped(format!(
                        "the conference backend connection ({}) ended",
                        self.urls[i].split('?').next().unwrap_or_default()
                    ))
                }
                Got::Ev(i, Some(e)) => match e {
                    BackendEvent::Connected => {
                        open[i] = true;
                        if open[0] && open[1] {
                            *was_live = true;
                            self.rec.reset();
                            self.set_connected(true);
                            let _ = self.ev.send(HostEvent::Connected);
                            for (conf, m) in std::mem::take(&mut self.pending) {
                                if conf {
                                    conf_sock.send(m)
                                } else {
                                    wr_sock.send(m)
                                }
                            }
                        }
                    }
                    BackendEvent::Message(m) => self.on_message(m),
                    BackendEvent::Warning(w) => {
                        tracing::debug!("conference backend: {w}");
                    }
                    BackendEvent::Disconnected { reason, .. } => {
                        break Outcome::Dropped(reason.unwrap_or_else(|| {
                            "the conference backend closed the connection".into()
                        }))
                    }
                    BackendEvent::Stopped => {
                        break Outcome::Dropped("the conference backend connection ended".into())
                    }
                },
            }
        };
        conf_sock.stop();
        wr_sock.stop();
        outcome
    }

    fn update(&self, f: impl FnOnce(&mut HostSnapshot) -> Option<HostEvent>) {
        let ev = match self.state.lock() {
            Ok(mut s) => f(&mut s),
            Err(_) => None,
        };
        if let Some(e) = ev {
            let _ = self.ev.send(e);
        }
    }

    /// Re-derives the waiting list (waiting-room streams not in the conference).
    fn waiting_event(&self, s: &mut HostSnapshot) -> Option<HostEvent> {
        let waiting: Vec<String> = self
            .active_wr
            .iter()
            .filter(|n| self.room.is_participant_name(n) && !s.conference.contains(n))
            .cloned()
            .collect();
        (waiting != s.waiting).then(|| {
            s.waiting = waiting.clone();
            HostEvent::WaitingRoom { streams: waiting }
        })
    }

    fn on_message(&mut self, m: ServerMessage) {
        let ctx = self.room.context();
        let wr = self.room.waiting_context();
        match m {
            ServerMessage::MixerRegions { regions } => self.update(|s| {
                (s.mixer_regions != regions).then(|| {
                    s.mixer_regions = regions.clone();
                    HostEvent::MixerRegions { regions }
                })
            }),
            ServerMessage::Active { room, streams, .. } if room == wr => {
                self.active_wr = streams.unwrap_or_default();
                self.update(|s| self.waiting_event(s));
            }
            ServerMessage::Active { .. } => {}
            ServerMessage::Conference {
                presenter,
                room,
                streams,
            } if room == ctx => {
                let streams: Vec<String> = streams
                    .unwrap_or_default()
                    .into_iter()
                    .filter(|n| self.room.is_participant_name(n))
                    .collect();
                let mut waiting = None;
                self.update(|s| {
                    let changed = s.conference != streams || s.presenter != presenter;
                    s.conference = streams.clone();
                    s.presenter = presenter.clone();
                    waiting = self.waiting_event(s);
                    changed.then_some(HostEvent::Conference { streams, presenter })
                });
                if let Some(w) = waiting {
                    let _ = self.ev.send(w);
                }
            }
            ServerMessage::Conference { .. } => {}
            ServerMessage::Excluded { room, streams } if room == ctx || room == wr => {
                self.update(|s| {
                    (s.excluded != streams).then(|| {
                        s.excluded = streams.clone();
                        HostEvent::Excluded { streams }
                    })
                })
            }
            ServerMessage::Excluded { .. } => {}
            ServerMessage::ActiveCompositions { list, .. } => {
                let list: Vec<CompositionInfo> =
                    list.iter().map(CompositionInfo::from_wire).collect();
                self.update(|s| {
                    (s.compositions != list).then(|| {
                        s.compositions = list.clone();
                        HostEvent::Compositions { list }
                    })
                });
            }
            ServerMessage::Error { error } => {
                let _ = self.ev.send(HostEvent::Error {
                    message: format!("the conference server refused: {error}"),
                });
            }
            ServerMessage::ActiveStreams { .. }
            | ServerMessage::CompositionUpdate { .. }
            | ServerMessage::Unknown => {}
        }
    }
}

enum Got {
    Cmd(Option<Cmd>),
    Ev(usize, Option<BackendEvent>),
    Timeout,
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn room() -> ConferenceRoom {
        ConferenceRoom::parse("live/room1").unwrap()
    }

    #[test]
    fn the_form_is_prefilled_like_the_testbed() {
        let f = CompositionForm::prefilled(&room(), "local");
        assert_eq!(
            (f.event.as_str(), f.width, f.height, f.fps, f.bitrate_kbps),
            ("room1", 1280, 720, 30, 1500)
        );
        let mut cfg = HostConfig::new("ws://127.0.0.1:5080", "live/room1");
        cfg.access_token = Secret::new("tok");
        assert_eq!(cfg.stream_manager, "http://127.0.0.1:5080");
        let m = f.to_message(&room(), &cfg);
        let v: serde_json::Value = serde_json::from_str(&m.to_json()).unwrap();
        assert_eq!(v["type"], "createComposition");
        assert_eq!(v["digest"], "tok");
        assert_eq!(v["location"], json!(["local"]));
        let mx = &v["mixers"][0];
        assert_eq!(mx["path"], "live/room1");
        assert_eq!(mx["streamName"], "room1");
        assert_eq!(mx["destinationMixerName"], "");
        assert_eq!(
            (mx["width"].as_u64(), mx["bitrate"].as_u64()),
            (Some(1280), Some(1500))
        );
        let page = mx["mixingPage"].as_str().unwrap();
        assert!(page.starts_with("http://127.0.0.1:5080/webrtcexamples/sample-mixer-pages/conference/?role=mixer&app=live&room=room1&ws=127.0.0.1:5080&token="));
        assert!(page.contains("&sm=true&smtoken=tok"));
        let name = mx["mixerName"].as_str().unwrap();
        assert_eq!(name.len(), 36);
        assert_eq!(&name[14..15], "4");
    }

    #[test]
    fn form_validation_speaks_plainly() {
        let regions = vec!["local".to_owned()];
        let mut f = CompositionForm::prefilled(&room(), "local");
        assert!(f.validate(&room(), &regions).is_ok());
        f.region = "mars".into();
        let e = f.validate(&room(), &regions).unwrap_err().to_string();
        assert!(
            e.contains("not a mixer region") && e.contains("local"),
            "{e}"
        );
        f.region = "local".into();
        f.width = 1279;
        assert!(f
            .validate(&room(), &regions)
            .unwrap_err()
            .to_string()
            .contains("even"));
        f.width = 1280;
        f.event = "other".into();
        assert!(f
            .validate(&room(), &regions)
            .unwrap_err()
            .to_string()
            .contains("must be the room name"));
        f.event = "room1".into();
        f.fps = 0;
        assert!(f.validate(&room(), &regions).is_err());
    }

    #[test]
    fn composition_state_is_the_least_advanced_mixer() {
        let c: Composition = serde_json::from_value(json!({
            "event": "room1", "location": ["local"],
            "mixers": [
                {"mixerName": "a", "mixingPage": "p", "streamName": "room1", "path": "live/room1",
                 "destinationMixerName": "", "width": 1280, "height": 720, "framerate": 30,
                 "bitrate": 1500, "state": "composing", "isWebSocketConnected": true},
                {"mixerName": "b", "mixingPage": "p", "streamName": "x", "path": "live/room1",
                 "destinationMixerName": "a", "state": "INSERVICE"}
            ]
        }))
        .unwrap();
        let i = CompositionInfo::from_wire(&c);
        assert_eq!(i.state, CompositionState::Inservice);
        assert_eq!(i.stream.as_deref(), Some("live/room1/room1"));
        assert_eq!((i.width, i.fps), (Some(1280), Some(30)));
        assert!(!i.mixer_connected);
    }

    #[test]
    fn events_serialise_for_the_ui() {
        let v = serde_json::to_value(HostEvent::Conference {
            streams: vec!["a".into()],
            presenter: Some("a".into()),
        })
        .unwrap();
        assert_eq!(
            v,
            json!({"type": "conference", "streams": ["a"], "presenter": "a"})
        );
        let v = serde_json::to_value(HostEvent::Reconnecting {
            attempt: 1,
            of: 10,
            delay: Duration::from_millis(300),
            reason: "x".into(),
        })
        .unwrap();
        assert_eq!(v["delayMs"], 300);
        let v = serde_json::to_value(HostEvent::Failed {
            error: Error::Config("bad".into()),
        })
        .unwrap();
        assert_eq!(
            v,
            json!({"type": "failed", "error": "the settings are not usable: bad"})
        );
    }

    #[test]
    fn profiles_give_the_stream_manager_and_token() {
        use red5_config::profile::{ProfileKind, ServerProfile};
        let mut p = ServerProfile::built_in();
        let c = HostConfig::from_profile(&p, "ws://127.0.0.1:5080", "live/room1");
        assert_eq!(c.stream_manager, "http://127.0.0.1:5080");
        assert!(!c.access_token.expose().is_empty());
        p.kind = ProfileKind::Sm1 {
            access_token: Secret::new("t1"),
        };
        let c = HostConfig::from_profile(&p, "ws://127.0.0.1:8001", "live/room1");
        assert_eq!(c.access_token.expose(), "t1");
    }

    #[test]
    fn backend_urls_for_both_rooms() {
        assert_eq!(
            backend_url("http://127.0.0.1:5080", "live/room1_wr"),
            "ws://127.0.0.1:5080/?testbed=conference&room=live/room1_wr&host=true"
        );
        assert_eq!(
            http_origin("wss://b.example.com/x"),
            "https://b.example.com"
        );
        assert_eq!(http_origin("127.0.0.1:8001"), "http://127.0.0.1:8001");
    }
}
