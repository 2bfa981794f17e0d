//! The conference participant engine (red5-protocol.md §7.6): publish to the room's waiting
//! room `<app>/<room>_wr/<name>` (the publisher engine: sources, encoders, reconnect), watch the
//! backend's `conference` list, and when the host admits us join the conference by itself
//! (`joinGroup` over the WS signalling, one audio + one video sent, three mix-minus audio
//! tracks and the composite video received); leave again by itself when the host removes us.
//!
//! The capture and encoders are opened once: the joinGroup connection gets the same encoded
//! frames as the waiting-room publish.

use std::collections::VecDeque;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use red5_media::codec::VideoCodec;
use red5_media::AudioFrame;
use red5_signal::backend::{connect_url, ConnectParams, ServerMessage};
use red5_signal::driver::backend::BackendConnection;
use red5_signal::driver::rest::Sm1Client;
use red5_signal::driver::ws::WsSignalling;
use red5_signal::driver::Signalling;
use red5_signal::flow::backend::BackendEvent;
use red5_signal::flow::ws::{WsConfig, WsRole};
use red5_signal::rest::{sm1, sm2};
use red5_signal::{urls, Secret};
use rtc::rtp_transceiver::rtp_sender::RtpCodecKind;
use rtc::rtp_transceiver::{RTCRtpTransceiverDirection, RTCRtpTransceiverInit};
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};
use webrtc::media_stream::track_local::{TrackLocal, TrackLocalEvent};
use webrtc::media_stream::track_remote::TrackRemote;
use webrtc::peer_connection::{RTCSessionDescription, StatsSelector};

use crate::config::{explain, Endpoint, IceServerConfig, Transport};
use crate::error::{Error, Result};
use crate::link::{Link, LinkEvent};
use crate::peer::{build_peer, is_loopback_url, opus_codec, video_codec, PeerSpec};
use crate::publisher::{
    add_send_track, PublishAudio, PublishVideo, Publisher, PublisherConfig, PublisherEvent, Sink,
};
use crate::receive::{receive_audio, receive_video, spawn_pli, VideoDecode};
use crate::reconnect::{Next, ReconnectPolicy, Reconnector};
use crate::room::{check_stream_name, ConferenceRoom};
use crate::stats::{Counters, StatsBook, StatsMeter, StatsSnapshot};
use crate::subscriber::{spawn_playout, AudioOutput, DecodedVideo, PlayCmd};

/// How many mix-minus audio tracks a participant receives (the provision's `audiotracks`).
pub const MIX_MINUS_TRACKS: usize = 3;

/// How the joinGroup connection reaches the conference node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum JoinRoute {
    /// Stream Manager 1 (the seed's flow): `GET …/event/<app>/<room>/join` → node, the
    /// conference provision, then the SM1 WS proxy `/streammanager/?id=&host=&app=<app>/<room>`.
    Sm1,
    /// The Stream Manager 2 WS proxy `/as/v1/proxy/ws/publish/<app>/<room>/<name>`.
    Sm2,
    /// Straight to the node: `/<app>/<room>/?id=<name>`.
    Standalone,
}

impl JoinRoute {
    /// The route matching the waiting-room transport's server kind.
    pub fn for_transport(t: Transport) -> Self {
        match t {
            Transport::WsSm1 => JoinRoute::Sm1,
            Transport::WhipSm2 | Transport::WsSm2 => JoinRoute::Sm2,
            Transport::WhipNode | Transport::WsStandalone => JoinRoute::Standalone,
        }
    }

    /// The route for a saved server profile (SM1 → `Sm1`, standalone → `Standalone`, SM2 and
    /// the built-in server → `Sm2`).
    pub fn for_profile(p: &red5_config::profile::ServerProfile) -> Self {
        use red5_config::profile::ProfileKind;
        match p.kind {
            ProfileKind::Sm1 { .. } => JoinRoute::Sm1,
            ProfileKind::Standalone => JoinRoute::Standalone,
            ProfileKind::BuiltIn | ProfileKind::Sm2 { .. } => JoinRoute::Sm2,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ParticipantConfig {
    /// The server; its `transport` is used for the waiting-room publish, its `app` is replaced
    /// by the room's.
    pub endpoint: Endpoint,
    /// The conference backend (`ws://127.0.0.1:5080`, `host:port`, `wss://…`).
    pub backend_url: String,
    /// The conference context `<app>/<room>` (`live/room1`).
    pub room: String,
    /// This participant's stream name (what the host sees).
    pub name: String,
    /// Camera (H.264: the conference mixer takes constrained baseline only).
    pub video: Option<PublishVideo>,
    pub audio: Option<PublishAudio>,
    pub join_route: JoinRoute,
    /// SM1 access token for the conference provision (route `Sm1`).
    pub access_token: Secret,
    /// Where the mix-minus audio plays.
    pub audio_output: AudioOutput,
    pub volume: f32,
    pub ice_servers: Vec<IceServerConfig>,
    /// Waiting-room reconnects, and retries of a failed join while the host still lists us.
    pub reconnect: ReconnectPolicy,
    pub start_timeout: Duration,
    /// Decoded composite frames kept for a slow consumer before the oldest are skipped.
    pub frame_queue: usize,
}

impl ParticipantConfig {
    /// 640×360 at 30 fps H.264 800 kbps and Opus 64 kbps, the join route of the endpoint's kind.
    pub fn new(
        endpoint: Endpoint,
        backend_url: impl Into<String>,
        room: impl Into<String>,
        name: impl Into<String>,
        video_source: Option<&str>,
        audio_source: Option<&str>,
    ) -> Self {
        let base = PublisherConfig::new(endpoint.clone(), "x", video_source, audio_source);
        ParticipantConfig {
            join_route: JoinRoute::for_transport(endpoint.transport),
            endpoint,
            backend_url: backend_url.into(),
            room: room.into(),
            name: name.into(),
            video: base.video,
            audio: base.audio,
            access_token: Secret::default(),
            audio_output: AudioOutput::Default,
            volume: 1.0,
            ice_servers: Vec::new(),
            reconnect: ReconnectPolicy::default(),
            start_timeout: Duration::from_secs(20),
            frame_queue: 8,
        }
    }
}

impl ParticipantConfig {
    /// From a saved server profile: its endpoint (transport, auth), ICE servers, join route and
    /// SM1 access token.
    pub fn from_profile(
        p: &red5_config::profile::ServerProfile,
        backend_url: impl Into<String>,
        room: impl Into<String>,
        name: impl Into<String>,
        video_source: Option<&str>,
        audio_source: Option<&str>,
    ) -> Self {
        let (ep, ice) = Endpoint::from_profile(p);
        let mut c = ParticipantConfig::new(ep, backend_url, room, name, video_source, audio_source);
        c.ice_servers = ice;
        c.join_route = JoinRoute::for_profile(p);
        if let red5_config::profile::ProfileKind::Sm1 { access_token } = &p.kind {
            c.access_token = access_token.clone();
        }
        c
    }
}

/// Where a participant is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ParticipantState {
    /// Publishing to the waiting room; the host has not admitted us (or removed us again).
    WaitingForHost,
    /// Admitted: the joinGroup connection is being set up (or retried).
    Joining,
    /// In the conference: composite video and mix-minus audio flow.
    InConference,
    /// Left (by `leave()`, or excluded by the host).
    Left,
    /// Ended with an error (see the `Failed` event).
    Failed,
}

/// Everything a participant reports. Serialises as `{"type": "...", ...}` (camelCase).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(
    tag = "type",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum ParticipantEvent {
    State {
        state: ParticipantState,
    },
    /// The waiting-room publish (started, reconnecting, stats…).
    WaitingRoom {
        event: PublisherEvent,
    },
    /// The room's conference list as the backend announces it.
    Conference {
        streams: Vec<String>,
        presenter: Option<String>,
    },
    /// The host added us; joining now.
    Admitted,
    /// The joinGroup connection is live (`participant <id> starting <group>`).
    Joined {
        participant_id: Option<String>,
    },
    /// The first composite frame after (re)joining.
    FirstFrame {
        width: u32,
        height: u32,
    },
    /// The host removed us from the conference: we left it and wait again.
    RemovedByHost,
    /// The host excluded (banned) us: everything stopped.
    Excluded,
    /// A join failed while the host still lists us; trying again after `delay`.
    Reconnecting {
        attempt: u32,
        of: u32,
        #[serde(rename = "delayMs", serialize_with = "crate::stats::duration_ms")]
        delay: Duration,
        reason: String,
    },
    IceState {
        state: String,
    },
    /// Statistics of the conference connection, every second while in the conference.
    Stats {
        stats: StatsSnapshot,
    },
    AudioOutput {
        message: String,
    },
    Warning {
        message: String,
    },
    /// `leave()` finished.
    Left,
    Failed {
        error: Error,
    },
}

enum Cmd {
    Leave(oneshot::Sender<()>),
    Volume(f32),
    Mute(bool),
}

struct Shared {
    state: Mutex<ParticipantState>,
    counters: Arc<Counters>,
    stats: StatsBook,
}

/// Handle to a running participant. Dropping it leaves.
pub struct Participant {
    cmd: mpsc::UnboundedSender<Cmd>,
    shared: Arc<Shared>,
    publisher: Arc<Publisher>,
    video: Mutex<Option<mpsc::Receiver<DecodedVideo>>>,
    audio: Mutex<Option<mpsc::Receiver<AudioFrame>>>,
}

impl std::fmt::Debug for Participant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Participant")
            .field("state", &self.state())
            .finish_non_exhaustive()
    }
}

impl Participant {
    /// Opens the sources and starts publishing to the waiting room; everything after that
    /// (admission, joining, leaving) arrives as events.
    pub async fn start(
        cfg: ParticipantConfig,
    ) -> Result<(Participant, mpsc::UnboundedReceiver<ParticipantEvent>)> {
        let room = ConferenceRoom::parse(&cfg.room)?;
        check_stream_name("participant name", &cfg.name)?;
        if !room.is_participant_name(&cfg.name) {
            return Err(Error::Config(format!(
                "'{}' cannot be a participant name in room '{}'",
                cfg.name,
                room.context()
            )));
        }
        if cfg.backend_url.trim().is_empty() {
            return Err(Error::Config(
                "the conference backend address is empty".into(),
            ));
        }
        if let Some(v) = &cfg.video {
            if v.codec != VideoCodec::H264 {
                return Err(Error::Config(
                    "conferences take H.264 video only; choose H.264".into(),
                ));
            }
        }
        if cfg.video.is_none() && cfg.audio.is_none() {
            return Err(Error::Config(
                "nothing to publish: choose a camera or a microphone".into(),
            ));
        }
        red5_signal::driver::tls::ensure_crypto_provider();
        let mut ep = cfg.endpoint.clone();
        ep.app = room.waiting_context();
        let pcfg = PublisherConfig {
            endpoint: ep,
            stream_name: cfg.name.clone(),
            video: cfg.video.clone(),
            audio: cfg.audio.clone(),
            key_framerate_ms: 2000,
            ice_servers: cfg.ice_servers.clone(),
            reconnect: cfg.reconnect,
            start_timeout: cfg.start_timeout,
        };
        let (publisher, pub_rx) = Publisher::start(pcfg).await?;
        let publisher = Arc::new(publisher);

        let (ev_tx, ev_rx) = mpsc::unbounded_channel();
        let (vtx, vrx) = mpsc::channel(cfg.frame_queue.max(1));
        let (atx, arx) = mpsc::channel(100);
        let notify = ev_tx.clone();
        let play = spawn_playout(cfg.audio_output.clone(), cfg.volume, move |message| {
            let _ = notify.send(ParticipantEvent::AudioOutput { message });
        })?;
        let mix = spawn_mixdown(atx, play.clone())?;
        let shared = Arc::new(Shared {
            state: Mutex::new(ParticipantState::WaitingForHost),
            counters: Arc::new(Counters::default()),
            stats: StatsBook::default(),
        });
        let backend = BackendConnection::spawn(connect_url(
            &cfg.backend_url
                .trim()
                .replacen("https://", "wss://", 1)
                .replacen("http://", "ws://", 1),
            &ConnectParams {
                room: room.context(),
                host: true,
                mixer: None,
                presenter: false,
            },
        ));
        let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
        let _ = ev_tx.send(ParticipantEvent::State {
            state: ParticipantState::WaitingForHost,
        });
        let engine = Engine {
            rec: Reconnector::new(cfg.reconnect),
            ctx: Arc::new(JoinCtx {
                cfg,
                room,
                publisher: publisher.clone(),
                shared: shared.clone(),
                video_tx: vtx,
                mix,
            }),
            shared: shared.clone(),
            ev: ev_tx,
            cmd_rx,
            pub_rx,
            backend,
            play,
            join: None,
            listed: false,
            backend_up: true,
            retry_at: None,
        };
        tokio::spawn(engine.run());
        Ok((
            Participant {
                cmd: cmd_tx,
                shared,
                publisher,
                video: Mutex::new(Some(vrx)),
                audio: Mutex::new(Some(arx)),
            },
            ev_rx,
        ))
    }

    pub fn state(&self) -> ParticipantState {
        self.shared
            .state
            .lock()
            .map(|s| *s)
            .unwrap_or(ParticipantState::Failed)
    }

    /// The decoded composite video (once; later calls get `None`).
    pub fn take_video_frames(&self) -> Option<mpsc::Receiver<DecodedVideo>> {
        self.video.lock().ok()?.take()
    }

    /// A copy of the mix-minus audio as played (48 kHz stereo; the sum of the received
    /// tracks), for analysis or recording (once).
    pub fn take_audio_frames(&self) -> Option<mpsc::Receiver<AudioFrame>> {
        self.audio.lock().ok()?.take()
    }

    pub fn set_volume(&self, volume: f32) -> Result<()> {
        self.cmd
            .send(Cmd::Volume(volume.max(0.0)))
            .map_err(|_| Error::Closed)
    }

    pub fn set_muted(&self, muted: bool) -> Result<()> {
        self.cmd.send(Cmd::Mute(muted)).map_err(|_| Error::Closed)
    }

    /// Mic mute (waiting room and conference alike).
    pub fn mute_audio(&self, muted: bool) -> Result<()> {
        self.publisher.mute_audio(muted)
    }

    /// Camera mute (waiting room and conference alike).
    pub fn mute_video(&self, muted: bool) -> Result<()> {
        self.publisher.mute_video(muted)
    }

    /// The local camera preview.
    pub fn preview(&self) -> Option<red5_media::VideoFrame> {
        self.publisher.preview()
    }

    pub fn mic_level(&self) -> red5_media::analysis::Level {
        self.publisher.mic_level()
    }

    /// The conference connection's last statistics.
    pub fn stats(&self) -> StatsSnapshot {
        self.shared.stats.latest()
    }

    pub fn export_stats_json(&self) -> String {
        self.shared.stats.export_json()
    }

    /// Leave the conference (`leaveGroup`), stop publishing and wait until everything ended.
    pub async fn leave(&self) {
        let (tx, rx) = oneshot::channel();
        if self.cmd.send(Cmd::Leave(tx)).is_ok() {
            let _ = rx.await;
        }
    }
}

/// What a join attempt needs; shared by every attempt.
struct JoinCtx {
    cfg: ParticipantConfig,
    room: ConferenceRoom,
    publisher: Arc<Publisher>,
    shared: Arc<Shared>,
    video_tx: mpsc::Sender<DecodedVideo>,
    mix: std::sync::mpsc::Sender<MixIn>,
}

/// From a running join to the engine.
enum JoinMsg {
    Joined { participant_id: Option<String> },
    FirstFrame { width: u32, height: u32 },
    Ice(String),
    Warning(String),
    Stats(StatsSnapshot),
    Ended(Option<Error>),
}

struct JoinHandle {
    stop: Option<oneshot::Sender<()>>,
    rx: mpsc::UnboundedReceiver<JoinMsg>,
    live: bool,
}

fn set_state(shared: &Shared, ev: &mpsc::UnboundedSender<ParticipantEvent>, s: ParticipantState) {
    if let Ok(mut g) = shared.state.lock() {
        if *g == s {
            return;
        }
        *g = s;
    }
    let _ = ev.send(ParticipantEvent::State { state: s });
}

struct Engine {
    ctx: Arc<JoinCtx>,
    shared: Arc<Shared>,
    ev: mpsc::UnboundedSender<ParticipantEvent>,
    cmd_rx: mpsc::UnboundedReceiver<Cmd>,
    pub_rx: mpsc::UnboundedReceiver<PublisherEvent>,
    backend: BackendConnection,
    play: std::sync::mpsc::Sender<PlayCmd>,
    join: Option<JoinHandle>,
    /// The host's conference list holds our name.
    listed: bool,
    /// The backend socket is open (warn once per outage).
    backend_up: bool,
    retry_at: Option<tokio::time::Instant>,
    rec: Reconnector,
}

enum Got {
    Cmd(Option<Cmd>),
    Pub(Option<PublisherEvent>),
    Backend(Option<BackendEvent>),
    Join(Option<JoinMsg>),
    Retry,
}

async fn join_next(j: &mut Option<JoinHandle>) -> Option<JoinMsg> {
    match j {
        Some(h) => h.rx.recv().await,
        None => std::future::pending().await,
    }
}

async fn sleep_opt(at: Option<tokio::time::Instant>) {
    match at {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}

impl Engine {
    async fn run(mut self) {
        let mut pub_open = true;
        let ack = loop {
            let got = tokio::select! {
                c = self.cmd_rx.recv() => Got::Cmd(c),
                e = self.pub_rx.recv(), if pub_open => Got::Pub(e),
                e = self.backend.next_event() => Got::Backend(e),
                m = join_next(&mut self.join) => Got::Join(m),
                _ = sleep_opt(self.retry_at) => Got::Retry,
            };
            match got {
                Got::Cmd(None) => break None,
                Got::Cmd(Some(Cmd::Leave(tx))) => break Some(tx),
                Got::Cmd(Some(Cmd::Volume(v))) => drop(self.play.send(PlayCmd::Volume(v))),
                Got::Cmd(Some(Cmd::Mute(m))) => drop(self.play.send(PlayCmd::Mute(m))),
                Got::Pub(None) => pub_open = false,
                Got::Pub(Some(e)) => {
                    let failed = match &e {
                        PublisherEvent::Failed { error } => Some(error.clone()),
                        _ => None,
                    };
                    let _ = self.ev.send(ParticipantEvent::WaitingRoom { event: e });
                    if let Some(error) = failed {
                        self.end_join().await;
                        return self
                            .finish(ParticipantState::Failed, Some(error), None)
                            .await;
                    }
                }
                Got::Backend(None) => {}
                Got::Backend(Some(e)) => {
                    if self.on_backend(e).await {
                        let _ = self.ev.send(ParticipantEvent::Excluded);
                        return self.finish(ParticipantState::Left, None, None).await;
                    }
                }
                Got::Retry => {
                    self.retry_at = None;
                    if self.listed && self.join.is_none() {
                        self.start_join();
                    }
                }
                Got::Join(None) => self.join = None,
                Got::Join(Some(m)) => {
                    if let Some(error) = self.on_join(m).await {
                        return self
                            .finish(ParticipantState::Failed, Some(error), None)
                            .await;
                    }
                }
            }
        };
        self.finish(ParticipantState::Left, None, ack).await;
    }

    /// Ends everything: the join, the waiting-room publish, the backend socket.
    async fn finish(
        &mut self,
        state: ParticipantState,
        error: Option<Error>,
        ack: Option<oneshot::Sender<()>>,
    ) {
        self.end_join().await;
        self.ctx.publisher.stop().await;
        self.backend.stop();
        set_state(&self.shared, &self.ev, state);
        match error {
            Some(error) => drop(self.ev.send(ParticipantEvent::Failed { error })),
            None => drop(self.ev.send(ParticipantEvent::Left)),
        }
        if let Some(a) = ack {
            let _ = a.send(());
        }
        self.cmd_rx.close();
        while let Ok(c) = self.cmd_rx.try_recv() {
            if let Cmd::Leave(tx) = c {
                let _ = tx.send(());
            }
        }
    }

    fn start_join(&mut self) {
        set_state(&self.shared, &self.ev, ParticipantState::Joining);
        let (stop_tx, stop_rx) = oneshot::channel();
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(run_join(self.ctx.clone(), stop_rx, tx));
        self.join = Some(JoinHandle {
            stop: Some(stop_tx),
            rx,
            live: false,
        });
    }

    /// Leaves the conference connection (leaveGroup) and waits for it to end.
    async fn end_join(&mut self) {
        self.retry_at = None;
        let Some(mut j) = self.join.take() else {
            return;
        };
        if let Some(s) = j.stop.take() {
            let _ = s.send(());
        }
        let wait = async {
            while let Some(m) = j.rx.recv().await {
                if matches!(m, JoinMsg::Ended(_)) {
                    break;
                }
            }
        };
        let _ = tokio::time::timeout(Duration::from_secs(6), wait).await;
    }

    /// `true` = we were excluded.
    async fn on_backend(&mut self, e: BackendEvent) -> bool {
        let ctx = self.ctx.room.context();
        let name = self.ctx.cfg.name.clone();
        match e {
            BackendEvent::Message(ServerMessage::Conference {
                presenter,
                room,
                streams,
            }) if room == ctx => {
                let streams = streams.unwrap_or_default();
                let listed = streams.contains(&name);
                let _ = self
                    .ev
                    .send(ParticipantEvent::Conference { streams, presenter });
                if listed && !self.listed {
                    self.listed = true;
                    self.rec.reset();
                    let _ = self.ev.send(ParticipantEvent::Admitted);
                    if self.join.is_none() {
                        self.start_join();
                    }
                } else if !listed && self.listed {
                    self.listed = false;
                    self.end_join().await;
                    set_state(&self.shared, &self.ev, ParticipantState::WaitingForHost);
                    let _ = self.ev.send(ParticipantEvent::RemovedByHost);
                }
                false
            }
            BackendEvent::Message(ServerMessage::Excluded { streams, .. }) => {
                streams.contains(&name)
            }
            BackendEvent::Message(ServerMessage::Error { error }) => {
                let _ = self.ev.send(ParticipantEvent::Warning {
                    message: format!("the conference server said: {error}"),
                });
                false
            }
            BackendEvent::Disconnected { reason, .. } => {
                // Once per outage, not on every 2 s retry.
                if std::mem::replace(&mut self.backend_up, false) {
                    let _ = self.ev.send(ParticipantEvent::Warning {
                        message: format!(
                            "lost the conference backend ({}); reconnecting",
                            reason.unwrap_or_else(|| "closed".into())
                        ),
                    });
                }
                false
            }
            BackendEvent::Connected => {
                self.backend_up = true;
                false
            }
            _ => false,
        }
    }

    /// `Some` = the participant fails with this error.
    async fn on_join(&mut self, m: JoinMsg) -> Option<Error> {
        match m {
            JoinMsg::Joined { participant_id } => {
                if let Some(j) = &mut self.join {
                    j.live = true;
                }
                self.rec.reset();
                set_state(&self.shared, &self.ev, ParticipantState::InConference);
                let _ = self.ev.send(ParticipantEvent::Joined { participant_id });
            }
            JoinMsg::FirstFrame { width, height } => {
                let _ = self.ev.send(ParticipantEvent::FirstFrame { width, height });
            }
            JoinMsg::Ice(state) => {
                let _ = self.ev.send(ParticipantEvent::IceState { state });
            }
            JoinMsg::Warning(message) => {
                let _ = self.ev.send(ParticipantEvent::Warning { message });
            }
            JoinMsg::Stats(stats) => {
                let _ = self.ev.send(ParticipantEvent::Stats { stats });
            }
            JoinMsg::Ended(err) => {
                let was_live = self.join.as_ref().is_some_and(|j| j.live);
                self.join = None;
                let err = err?;
                if !self.listed {
                    return None;
                }
                tracing::info!("conference join ended: {err}");
                if !err.is_retryable(was_live) && !matches!(err, Error::Signal(_)) {
                    return Some(err);
                }
                match self.rec.on_drop() {
                    Next::Retry { attempt, of, delay } => {
                        set_state(&self.shared, &self.ev, ParticipantState::Joining);
                        let _ = self.ev.send(ParticipantEvent::Reconnecting {
                            attempt,
                            of,
                            delay,
                            reason: err.to_string(),
                        });
                        self.retry_at = Some(tokio::time::Instant::now() + delay);
                    }
                    Next::GiveUp { attempts } => {
                        return Some(Error::ReconnectFailed {
                            attempts,
                            last: err.to_string(),
                        })
                    }
                }
            }
        }
        None
    }
}

/// One joinGroup connection, until stopped or dropped.
async fn run_join(
    ctx: Arc<JoinCtx>,
    mut stop: oneshot::Receiver<()>,
    tx: mpsc::UnboundedSender<JoinMsg>,
) {
    let _ = ctx.mix.send(MixIn::Reset);
    let connected = tokio::select! {
        r = join_connect(&ctx) => Some(r),
        _ = &mut stop => None,
    };
    let (mut link, pid) = match connected {
        None => {
            let _ = tx.send(JoinMsg::Ended(None));
            return;
        }
        Some(Err(e)) => {
            let _ = tx.send(JoinMsg::Ended(Some(e)));
            return;
        }
        Some(Ok(l)) => l,
    };
    let mut meter = StatsMeter::new();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let first_frame = Arc::new(AtomicBool::new(false));
    let mut audio_index = 0usize;
    let mut pli: Option<mpsc::UnboundedSender<()>> = None;
    let end = loop {
        tokio::select! {
            _ = &mut stop => {
                link.close(true).await;
                break None;
            }
            _ = tick.tick() => {
                let report = link.pc.get_stats(Instant::now(), StatsSelector::None).await;
                let snap =
                    ctx.shared.stats.record(&mut meter, &ctx.shared.counters, &report, link.started);
                if link.started {
                    let _ = tx.send(JoinMsg::Stats(snap));
                }
            }
            raw = link.recv() => match link.handle(raw).await {
                None => {}
                Some(LinkEvent::Dropped(e)) => {
                    link.close(false).await;
                    break Some(e);
                }
                Some(LinkEvent::Started) => {
                    ctx.publisher.request_keyframe();
                    let _ = tx.send(JoinMsg::Joined { participant_id: pid.clone() });
                }
                Some(LinkEvent::Ice(s)) => drop(tx.send(JoinMsg::Ice(s))),
                Some(LinkEvent::Track(t)) => {
                    if t.kind().await == RtpCodecKind::Video {
                        pli = Some(receive_composite(&ctx, t, first_frame.clone(), tx.clone()));
                    } else {
                        receive_mix_minus(&ctx, t, audio_index, tx.clone());
                        audio_index += 1;
                    }
                }
                Some(LinkEvent::Signal(red5_signal::driver::SignalEvent::Warning(w))) => {
                    let _ = tx.send(JoinMsg::Warning(w));
                }
                Some(LinkEvent::Signal(_)) => {}
            }
        }
    };
    drop(pli);
    ctx.publisher.set_conference_sinks(None, None);
    let _ = ctx.mix.send(MixIn::Reset);
    let _ = tx.send(JoinMsg::Ended(end));
}

/// The WS URL of the joinGroup connection for the configured route.
async fn join_url(ctx: &JoinCtx) -> Result<String> {
    let ep = &ctx.cfg.endpoint;
    let base = ep
        .base_url
        .replacen("wss://", "https://", 1)
        .replacen("ws://", "http://", 1);
    let params = ep.connection_params();
    let room = &ctx.room;
    let name = &ctx.cfg.name;
    Ok(match ctx.cfg.join_route {
        JoinRoute::Sm1 => {
            let client = Sm1Client::new(&base, ctx.cfg.access_token.clone())?;
            let node = client
                .join(&room.app, &room.name, &urls::Lookup::default())
                .await?;
            // The SDK posts the conference provision before joining ("already exists" is fine).
            client
                .provision(
                    &room.context(),
                    &room.name,
                    &sm1::Provision::conference(&room.context(), &room.name),
                )
                .await?;
            urls::ws_sm1(&base, name, &node.server_address, &room.context(), &params)
        }
        JoinRoute::Sm2 => urls::ws_sm2(
            &base,
            sm2::Direction::Publish,
            &room.context(),
            name,
            name,
            &ep.node_group,
            &params,
        ),
        JoinRoute::Standalone => urls::ws_standalone(&base, &room.context(), name, &params),
    })
}

/// Signalling + peer connection of a join, negotiated: 1 audio + 1 video sent (the shared
/// encoders), 3 audio + 1 video received.
async fn join_connect(ctx: &JoinCtx) -> Result<(Link, Option<String>)> {
    let url = join_url(ctx).await?;
    let cfg = &ctx.cfg;
    let sig: Arc<dyn Signalling> = Arc::new(WsSignalling::spawn(
        url,
        WsConfig::new(
            WsRole::Participant {
                group: ctx.room.name.clone(),
            },
            cfg.name.clone(),
        ),
    ));
    match tokio::time::timeout(cfg.start_timeout, sig.connect()).await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => return Err(explain(sig.as_ref(), e).await),
        Err(_) => {
            let _ = sig.stop().await;
            return Err(Error::StartTimeout {
                what: "conference connection",
                after: cfg.start_timeout,
            });
        }
    }
    let (pc, pc_rx) = build_peer(PeerSpec {
        video: vec![VideoCodec::H264],
        audio: true,
        ice_servers: crate::peer::own_ice_servers(&cfg.ice_servers),
        loopback: is_loopback_url(&cfg.endpoint.base_url),
    })
    .await?;
    let link = Link::new(
        sig.clone(),
        pc.clone(),
        pc_rx,
        ctx.shared.counters.clone(),
        "conference join",
        cfg.start_timeout,
    );
    let negotiated: Result<Option<String>> = async {
        link.open_dc().await?;
        let recvonly = || {
            Some(RTCRtpTransceiverInit {
                direction: RTCRtpTransceiverDirection::Recvonly,
                ..Default::default()
            })
        };
        // m-line order as Chrome lists the SDK's tracks: our audio, 3 mix-minus audio, our
        // video, the composite video.
        // Our own sections are always sending ones, even without a camera or microphone (then
        // nothing is written to them): the server takes the first audio and video sections as
        // the participant's media and answers the others with the conference.
        let mut sinks = Vec::new();
        let audio = add_send_track(&pc, RtpCodecKind::Audio, opus_codec()).await?;
        if cfg.audio.is_some() {
            sinks.push(audio);
        }
        for _ in 0..MIX_MINUS_TRACKS {
            pc.add_transceiver_from_kind(RtpCodecKind::Audio, recvonly())
                .await?;
        }
        let video = add_send_track(&pc, RtpCodecKind::Video, video_codec(VideoCodec::H264)).await?;
        if ctx.publisher.has_video() {
            sinks.push(video);
        }
        pc.add_transceiver_from_kind(RtpCodecKind::Video, recvonly())
            .await?;
        let offer = pc.create_offer(None).await?;
        pc.set_local_description(offer).await?;
        let local = pc
            .local_description()
            .await
            .ok_or_else(|| Error::WebRtc("no local description after creating the offer".into()))?;
        // The sent copy is munged like the SDK's; the local description keeps the original.
        let sent = red5_signal::sdp::munge_participant_offer_str(
            &local.sdp,
            &red5_signal::sdp::Bandwidth::default(),
            false,
        )
        .unwrap_or(local.sdp);
        let answer = match sig.publish_offer(sent).await {
            Ok(a) => a,
            Err(e) => return Err(explain(sig.as_ref(), e).await),
        };
        pc.set_remote_description(RTCSessionDescription::answer(answer.sdp)?)
            .await?;
        let (mut video, mut audio) = (None, None);
        for (is_video, track, ssrc, sender) in sinks {
            let sink = Sink::negotiated(track.clone(), ssrc, &sender).await?;
            if is_video {
                video = Some(sink);
                // The mixer asks for key frames (PLI/FIR) like any subscriber.
                let publisher = ctx.publisher.clone();
                tokio::spawn(async move {
                    while let Some(TrackLocalEvent::OnRtcpPacket(_)) = track.poll().await {
                        publisher.request_keyframe();
                    }
                });
            } else {
                audio = Some(sink);
            }
        }
        ctx.publisher.set_conference_sinks(video, audio);
        Ok(answer.participant_id)
    }
    .await;
    match negotiated {
        Ok(pid) => Ok((link, pid)),
        Err(e) => {
            link.close(false).await;
            ctx.publisher.set_conference_sinks(None, None);
            Err(e)
        }
    }
}

/// Decodes the composite; returns the PLI trigger for it.
fn receive_composite(
    ctx: &JoinCtx,
    track: Arc<dyn TrackRemote>,
    first_frame: Arc<AtomicBool>,
    tx: mpsc::UnboundedSender<JoinMsg>,
) -> mpsc::UnboundedSender<()> {
    let pli = spawn_pli(track.clone());
    let v = VideoDecode {
        thread: "composite decode",
        codec: VideoCodec::H264,
        counters: ctx.shared.counters.clone(),
        frames: ctx.video_tx.clone(),
        first_frame,
        pli: pli.clone(),
        ask_until_picture: Some(Duration::from_millis(300)),
    };
    let broken = tx.clone();
    let spawned = receive_video(
        track,
        v,
        move |width, height| {
            let _ = tx.send(JoinMsg::FirstFrame { width, height });
        },
        move |e| {
            let _ = broken.send(JoinMsg::Warning(format!(
                "the composite video cannot be decoded: {e}"
            )));
        },
    );
    if let Err(e) = spawned {
        tracing::warn!("could not start composite decoding: {e}");
    }
    pli
}

/// Decodes one mix-minus track into the mixdown.
fn receive_mix_minus(
    ctx: &JoinCtx,
    track: Arc<dyn TrackRemote>,
    index: usize,
    tx: mpsc::UnboundedSender<JoinMsg>,
) {
    let mix = ctx.mix.clone();
    let spawned = receive_audio(
        track,
        "mix-minus decode",
        ctx.shared.counters.clone(),
        move |frame| mix.send(MixIn::Frame(index, frame)).is_ok(),
        move |e| {
            let _ = tx.send(JoinMsg::Warning(format!(
                "the conference audio cannot be decoded: {e}"
            )));
        },
    );
    if let Err(e) = spawned {
        tracing::warn!("could not start audio decoding: {e}");
    }
}

/// Input of the mixdown thread.
enum MixIn {
    Frame(usize, AudioFrame),
    /// A join started or ended: forget the tracks.
    Reset,
}

const MIX_RATE: u32 = 48_000;
const MIX_CHANNELS: usize = 2;
/// 20 ms of stereo samples.
const MIX_STEP: usize = 960 * MIX_CHANNELS;
/// Each track is primed with this much before it is mixed (absorbs decode-thread jitter).
const MIX_PRIME: usize = 2 * MIX_STEP;
/// More than this buffered on a track: drop its oldest (it runs ahead of the clock).
const MIX_MAX: usize = 10 * MIX_STEP;

/// Sums the mix-minus tracks into one stereo signal on a 20 ms clock: for the speaker and the
/// tap. (Red5 sends one talker per track; a person hears them all together.)
fn spawn_mixdown(
    tap: mpsc::Sender<AudioFrame>,
    play: std::sync::mpsc::Sender<PlayCmd>,
) -> Result<std::sync::mpsc::Sender<MixIn>> {
    let (tx, rx) = std::sync::mpsc::channel::<MixIn>();
    std::thread::Builder::new()
        .name("mix-minus mixdown".into())
        .spawn(move || {
            let mut tracks: Vec<(VecDeque<f32>, bool)> = Vec::new();
            let mut next = Instant::now() + Duration::from_millis(20);
            let mut produced: u64 = 0;
            loop {
                let wait = next.saturating_duration_since(Instant::now());
                match rx.recv_timeout(wait) {
                    Ok(MixIn::Frame(i, f)) => {
                        if tracks.len() <= i {
                            tracks.resize_with(i + 1, || (VecDeque::new(), false));
                        }
                        let (buf, _) = &mut tracks[i];
                        push_stereo(buf, &f);
                        while buf.len() > MIX_MAX {
                            buf.pop_front();
                        }
                        continue;
                    }
                    Ok(MixIn::Reset) => {
                        tracks.clear();
                        continue;
                    }
                    Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
                    Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => return,
                }
                next += Duration::from_millis(20);
                let now = Instant::now();
                if next + Duration::from_millis(100) < now {
                    next = now + Duration::from_millis(20);
                }
                let mut any = false;
                let mut out = vec![0f32; MIX_STEP];
                for (buf, primed) in &mut tracks {
                    if !*primed && buf.len() >= MIX_PRIME {
                        *primed = true;
                    }
                    if !*primed {
                        continue;
                    }
                    if buf.len() < MIX_STEP {
                        // Ran dry: prime again before mixing it in.
                        *primed = false;
                    }
                    for o in out.iter_mut() {
                        match buf.pop_front() {
                            Some(s) => *o += s,
                            None => break,
                        }
                    }
                    any = true;
                }
                if !any {
                    continue;
                }
                for o in &mut out {
                    *o = o.clamp(-1.0, 1.0);
                }
                let frame = AudioFrame {
                    samples: out,
                    channels: MIX_CHANNELS as u16,
                    sample_rate: MIX_RATE,
                    timestamp: Duration::from_millis(20 * produced),
                };
                produced += 1;
                let _ = tap.try_send(frame.clone());
                if play.send(PlayCmd::Frame(frame)).is_err() {
                    return;
                }
            }
        })
        .map_err(|e| Error::Media(format!("could not start the conference audio mixdown: {e}")))?;
    Ok(tx)
}

/// Appends a decoded frame as 48 kHz stereo (mono is duplicated).
fn push_stereo(buf: &mut VecDeque<f32>, f: &AudioFrame) {
    match f.channels {
        1 => {
            for s in &f.samples {
                buf.push_back(*s);
                buf.push_back(*s);
            }
        }
        2 => buf.extend(f.samples.iter().copied()),
        n => {
            let n = usize::from(n.max(1));
            for c in f.samples.chunks(n) {
                buf.push_back(c[0]);
                buf.push_back(*c.get(1).unwrap_or(&c[0]));
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn routes_follow_the_server_kind() {
        assert_eq!(JoinRoute::for_transport(Transport::WsSm1), JoinRoute::Sm1);
        assert_eq!(JoinRoute::for_transport(Transport::WhipSm2), JoinRoute::Sm2);
        assert_eq!(
            JoinRoute::for_transport(Transport::WsStandalone),
            JoinRoute::Standalone
        );
    }

    #[test]
    fn profiles_give_route_endpoint_and_token() {
        use red5_config::profile::{ProfileKind, ServerProfile};
        let mut p = ServerProfile::built_in();
        let c = ParticipantConfig::from_profile(
            &p,
            "ws://127.0.0.1:5080",
            "live/r",
            "a",
            None,
            Some("synthetic:tone"),
        );
        assert_eq!(
            (c.join_route, c.endpoint.transport),
            (JoinRoute::Sm2, Transport::WhipSm2)
        );
        p.kind = ProfileKind::Sm1 {
            access_token: Secret::new("t1"),
        };
        let c = ParticipantConfig::from_profile(&p, "b:8001", "live/r", "a", None, None);
        // SM1 with WHIP/WHEP still joins through the SM1 conference flow.
        assert_eq!(
            (c.join_route, c.endpoint.transport),
            (JoinRoute::Sm1, Transport::WhipNode)
        );
        assert_eq!(c.access_token.expose(), "t1");
        p.kind = ProfileKind::Standalone;
        let c = ParticipantConfig::from_profile(&p, "b:8001", "live/r", "a", None, None);
        assert_eq!(c.join_route, JoinRoute::Standalone);
    }

    #[test]
    fn events_serialise_for_the_ui() {
        let v = serde_json::to_value(ParticipantEvent::State {
            state: ParticipantState::WaitingForHost,
        })
        .unwrap();
        assert_eq!(v, json!({"type": "state", "state": "waiting-for-host"}));
        let v = serde_json::to_value(ParticipantEvent::WaitingRoom {
            event: PublisherEvent::Started,
        })
        .unwrap();
        assert_eq!(
            v,
            json!({"type": "waitingRoom", "event": {"type": "started"}})
        );
        let v = serde_json::to_value(ParticipantEvent::Joined {
            participant_id: Some("ab12".into()),
        })
        .unwrap();
        assert_eq!(v, json!({"type": "joined", "participantId": "ab12"}));
    }

    #[test]
    fn mixdown_sums_tracks_on_its_clock() {
        let (tap_tx, mut tap) = mpsc::channel(100);
        let (play_tx, _play_rx) = std::sync::mpsc::channel();
        let mix = spawn_mixdown(tap_tx, play_tx).unwrap();
        let frame = |v: f32| AudioFrame {
            samples: vec![v; MIX_STEP],
            channels: 2,
            sample_rate: 48_000,
            timestamp: Duration::ZERO,
        };
        for _ in 0..3 {
            mix.send(MixIn::Frame(0, frame(0.25))).unwrap();
            mix.send(MixIn::Frame(1, frame(0.5))).unwrap();
        }
        let got = tap.blocking_recv().unwrap();
        assert_eq!(got.channels, 2);
        assert_eq!(got.samples.len(), MIX_STEP);
        assert!((got.samples[0] - 0.75).abs() < 1e-6, "{}", got.samples[0]);
        // A track alone is mixed alone; loud sums clamp.
        mix.send(MixIn::Reset).unwrap();
        for _ in 0..3 {
            mix.send(MixIn::Frame(0, frame(0.8))).unwrap();
            mix.send(MixIn::Frame(2, frame(0.8))).unwrap();
        }
        let got = loop {
            let f = tap.blocking_recv().unwrap();
            if f.samples[0] > 0.8 {
                break f;
            }
        };
        assert_eq!(got.samples[0], 1.0);
    }
}
