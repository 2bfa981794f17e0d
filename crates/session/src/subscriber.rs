//! The subscriber engine: Red5 WHEP (server offer) or the WS proxy; RTP → jitter buffer →
//! H.264/VP8/Opus decoders (red5-media) → decoded I420 frames on a channel (UI, tests) and
//! audio to the speaker (or a silent output) with volume and mute; metadata and other relayed
//! `send()` calls, the unpublish notice, stats, and automatic resubscribe after a drop.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use red5_media::codec::VideoCodec;
use red5_media::playout::{AudioPlayer, DEFAULT_TARGET_DELAY};
use red5_media::{AudioFrame, VideoFrame};
use red5_signal::dc::StatusEvent;
use red5_signal::driver::SignalEvent;
use rtc::rtp_transceiver::rtp_sender::RtpCodecKind;
use rtc::rtp_transceiver::{RTCRtpTransceiverDirection, RTCRtpTransceiverInit};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};
use webrtc::media_stream::track_remote::TrackRemote;
use webrtc::peer_connection::{RTCSessionDescription, StatsSelector};

use crate::config::{explain, open_signalling, Endpoint, Role};
use crate::error::{Error, Result};
use crate::link::{Link, LinkEvent, Raw};
use crate::peer::{build_peer, is_loopback_url, PeerSpec};
pub use crate::publisher::SessionState;
use crate::receive::{receive_audio, receive_video, spawn_pli, VideoDecode};
use crate::reconnect::{Next, ReconnectPolicy, Reconnector};
use crate::stats::{Counters, StatsBook, StatsMeter, StatsSnapshot};

/// Where decoded audio goes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum AudioOutput {
    /// The system's default speaker; a silent output when there is none.
    Default,
    /// A speaker id from `red5_media::speakers()`; a silent output when it cannot be opened.
    Device(String),
    /// Play nothing (still decodes: levels, stats and the audio tap work).
    Silent,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SubscriberConfig {
    pub endpoint: Endpoint,
    pub stream_name: String,
    /// `requestId` / `subscriptionId`; `None` = `subscriber-<hex>`.
    pub request_id: Option<String>,
    pub audio_output: AudioOutput,
    /// 0.0 ..= 1.0 (and above, to amplify).
    pub volume: f32,
    pub ice_servers: Vec<crate::config::IceServerConfig>,
    pub reconnect: ReconnectPolicy,
    pub start_timeout: Duration,
    /// Decoded frames kept for a slow consumer before the oldest are skipped.
    pub frame_queue: usize,
    /// After `UnpublishNotify`, keep resubscribing (with the reconnect policy) so the stream
    /// shows again when the broadcaster comes back.
    pub resubscribe_after_unpublish: bool,
}

impl SubscriberConfig {
    pub fn new(endpoint: Endpoint, stream_name: impl Into<String>) -> Self {
        SubscriberConfig {
            endpoint,
            stream_name: stream_name.into(),
            request_id: None,
            audio_output: AudioOutput::Default,
            volume: 1.0,
            ice_servers: Vec::new(),
            reconnect: ReconnectPolicy::default(),
            start_timeout: Duration::from_secs(20),
            frame_queue: 8,
            resubscribe_after_unpublish: true,
        }
    }
}

/// One decoded video frame.
#[derive(Debug, Clone)]
pub struct DecodedVideo {
    pub frame: VideoFrame,
    pub rtp_timestamp: u32,
    pub received_at: Instant,
}

/// Everything a subscriber reports. Serialises as `{"type": "...", ...}` (camelCase).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(
    tag = "type",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum SubscriberEvent {
    State {
        state: SessionState,
    },
    /// `Subscribe.Start` (also after each resubscribe).
    Started,
    /// An `onMetaData` from the publisher, including the latest one replayed at join.
    Metadata {
        data: Value,
        received_at_ms: u64,
    },
    /// Any other relayed `send(method, data)`.
    Message {
        method: String,
        data: Value,
    },
    /// The publisher stopped (`NetStream.Play.UnpublishNotify`).
    Unpublished,
    /// The first frame decoded after (re)subscribing, with its size.
    FirstFrame {
        width: u32,
        height: u32,
    },
    TransportSwitched,
    ServerStatus {
        status: String,
    },
    IceState {
        state: String,
    },
    Reconnecting {
        attempt: u32,
        of: u32,
        #[serde(rename = "delayMs", serialize_with = "crate::stats::duration_ms")]
        delay: Duration,
        reason: String,
    },
    Reconnected,
    /// The speaker went away / none exists: audio continues silently.
    AudioOutput {
        message: String,
    },
    Warning {
        message: String,
    },
    Stats {
        stats: StatsSnapshot,
    },
    /// Clean stop finished.
    Stopped,
    Failed {
        error: Error,
    },
}

enum Cmd {
    Volume(f32),
    Mute(bool),
    Keyframe,
    Stop(oneshot::Sender<()>),
}

pub(crate) enum PlayCmd {
    Frame(AudioFrame),
    Volume(f32),
    Mute(bool),
}

struct Shared {
    counters: Arc<Counters>,
    stats: StatsBook,
    state: Mutex<SessionState>,
}

/// Handle to a running subscriber. Dropping it stops the session.
pub struct Subscriber {
    cmd: mpsc::UnboundedSender<Cmd>,
    shared: Arc<Shared>,
    video: Mutex<Option<mpsc::Receiver<DecodedVideo>>>,
    audio: Mutex<Option<mpsc::Receiver<AudioFrame>>>,
}

impl std::fmt::Debug for Subscriber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscriber")
            .field("state", &self.state())
            .finish_non_exhaustive()
    }
}

impl Subscriber {
    pub async fn start(
        cfg: SubscriberConfig,
    ) -> Result<(Subscriber, mpsc::UnboundedReceiver<SubscriberEvent>)> {
        cfg.endpoint.validate(&cfg.stream_name)?;
        let shared = Arc::new(Shared {
            counters: Arc::new(Counters::default()),
            stats: StatsBook::default(),
            state: Mutex::new(SessionState::Connecting),
        });
        let (ev_tx, ev_rx) = mpsc::unbounded_channel();
        let (vtx, vrx) = mpsc::channel(cfg.frame_queue.max(1));
        let (atx, arx) = mpsc::channel(100);
        let notify = ev_tx.clone();
        let play = spawn_playout(cfg.audio_output.clone(), cfg.volume, move |message| {
            let _ = notify.send(SubscriberEvent::AudioOutput { message });
        })?;
        let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
        let engine = Engine {
            rec: Reconnector::new(cfg.reconnect),
            request_id: cfg
                .request_id
                .clone()
                .unwrap_or_else(red5_signal::driver::default_subscription_id),
            cfg,
            shared: shared.clone(),
            ev: ev_tx,
            cmd_rx,
            was_live: false,
            meter: StatsMeter::new(),
            video_tx: vtx,
            audio_tap: atx,
            play,
            pli: None,
        };
        tokio::spawn(engine.run());
        Ok((
            Subscriber {
                cmd: cmd_tx,
                shared,
                video: Mutex::new(Some(vrx)),
                audio: Mutex::new(Some(arx)),
            },
            ev_rx,
        ))
    }

    /// The decoded video frames (once; later calls get `None`). Frames are skipped, never
    /// queued without bound, when the consumer is slow.
    pub fn take_video_frames(&self) -> Option<mpsc::Receiver<DecodedVideo>> {
        self.video.lock().ok()?.take()
    }

    /// A copy of the decoded audio (48 kHz), for analysis or recording (once).
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

    /// Ask the publisher for a key frame (RTCP PLI through the server), e.g. after a glitch.
    pub fn request_keyframe(&self) -> Result<()> {
        self.cmd.send(Cmd::Keyframe).map_err(|_| Error::Closed)
    }

    pub fn stats(&self) -> StatsSnapshot {
        self.shared.stats.latest()
    }

    /// Every per-second snapshot while live (the last hour), as a JSON array for export.
    pub fn export_stats_json(&self) -> String {
        self.shared.stats.export_json()
    }

    pub fn state(&self) -> SessionState {
        self.shared
            .state
            .lock()
            .map(|s| *s)
            .unwrap_or(SessionState::Failed)
    }

    /// Unsubscribe and wait until the session has ended.
    pub async fn stop(&self) {
        let (tx, rx) = oneshot::channel();
        if self.cmd.send(Cmd::Stop(tx)).is_ok() {
            let _ = rx.await;
        }
    }
}

/// The speaker lives on its own thread for the whole session (cpal streams stay on one thread).
pub(crate) fn spawn_playout(
    out: AudioOutput,
    volume: f32,
    notify: impl Fn(String) + Send + 'static,
) -> Result<std::sync::mpsc::Sender<PlayCmd>> {
    let (tx, rx) = std::sync::mpsc::channel::<PlayCmd>();
    std::thread::Builder::new()
        .name("audio playout".into())
        .spawn(move || {
            let mut player = match &out {
                AudioOutput::Default => AudioPlayer::open_or_null(None, 2, DEFAULT_TARGET_DELAY),
                AudioOutput::Device(id) => {
                    AudioPlayer::open_or_null(Some(id), 2, DEFAULT_TARGET_DELAY)
                }
                AudioOutput::Silent => AudioPlayer::null(2, DEFAULT_TARGET_DELAY),
            };
            if player.is_null() && out != AudioOutput::Silent {
                notify("no speaker could be opened; audio plays silently".into());
            }
            player.set_volume(volume);
            while let Ok(c) = rx.recv() {
                match c {
                    PlayCmd::Frame(f) => {
                        if let Err(e) = player.push(&f) {
                            tracing::debug!("playout: {e}");
                        }
                    }
                    PlayCmd::Volume(v) => player.set_volume(v),
                    PlayCmd::Mute(m) => player.set_muted(m),
                }
                while let Some(e) = player.try_event() {
                    notify(e.to_string());
                }
            }
        })
        .map_err(|e| Error::Media(format!("could not start audio playout: {e}")))?;
    Ok(tx)
}

fn set_state(shared: &Shared, ev: &mpsc::UnboundedSender<SubscriberEvent>, s: SessionState) {
    if let Ok(mut g) = shared.state.lock() {
        if *g == s {
            return;
        }
        *g = s;
    }
    let _ = ev.send(SubscriberEvent::State { state: s });
}

enum Outcome {
    Stopped,
    Dropped(Error),
}

struct Engine {
    cfg: SubscriberConfig,
    request_id: String,
    shared: Arc<Shared>,
    ev: mpsc::UnboundedSender<SubscriberEvent>,
    cmd_rx: mpsc::UnboundedReceiver<Cmd>,
    was_live: bool,
    rec: Reconnector,
    meter: StatsMeter,
    video_tx: mpsc::Sender<DecodedVideo>,
    audio_tap: mpsc::Sender<AudioFrame>,
    play: std::sync::mpsc::Sender<PlayCmd>,
    /// Sends a PLI on the current video track.
    pli: Option<mpsc::UnboundedSender<()>>,
}

impl Engine {
    async fn run(mut self) {
        let mut acks = Vec::new();
        loop {
            let outcome = self.attempt(&mut acks).await;
            match outcome {
                Outcome::Stopped => {
                    set_state(&self.shared, &self.ev, SessionState::Stopped);
                    let _ = self.ev.send(SubscriberEvent::Stopped);
                    break;
                }
                Outcome::Dropped(err) => {
                    tracing::info!("subscribe attempt ended: {err}");
                    if !self.was_live || !err.is_retryable(self.was_live) {
                        set_state(&self.shared, &self.ev, SessionState::Failed);
                        let _ = self.ev.send(SubscriberEvent::Failed { error: err });
                        break;
                    }
                    match self.rec.on_drop() {
                        Next::Retry { attempt, of, delay } => {
                            set_state(&self.shared, &self.ev, SessionState::Reconnecting);
                            self.shared
                                .counters
                                .reconnects
                                .fetch_add(1, Ordering::Relaxed);
                            let _ = self.ev.send(SubscriberEvent::Reconnecting {
                                attempt,
                                of,
                                delay,
                                reason: err.to_string(),
                            });
                            if self.wait(delay, &mut acks).await {
                                set_state(&self.shared, &self.ev, SessionState::Stopped);
                                let _ = self.ev.send(SubscriberEvent::Stopped);
                                break;
                            }
                        }
                        Next::GiveUp { attempts } => {
                            set_state(&self.shared, &self.ev, SessionState::Failed);
                            let _ = self.ev.send(SubscriberEvent::Failed {
                                error: Error::ReconnectFailed {
                                    attempts,
                                    last: err.to_string(),
                                },
                            });
                            break;
                        }
                    }
                }
            }
        }
        for a in acks {
            let _ = a.send(());
        }
        while let Ok(c) = self.cmd_rx.try_recv() {
            if let Cmd::Stop(tx) = c {
                let _ = tx.send(());
            }
        }
    }

    fn command(&mut self, c: Cmd) {
        match c {
            Cmd::Volume(v) => drop(self.play.send(PlayCmd::Volume(v))),
            Cmd::Mute(m) => drop(self.play.send(PlayCmd::Mute(m))),
            Cmd::Keyframe => {
                if let Some(tx) = &self.pli {
                    let _ = tx.send(());
                }
            }
            Cmd::Stop(_) => {}
        }
    }

    async fn wait(&mut self, delay: Duration, acks: &mut Vec<oneshot::Sender<()>>) -> bool {
        let until = tokio::time::Instant::now() + delay;
        loop {
            tokio::select! {
                _ = tokio::time::sleep_until(until) => return false,
                c = self.cmd_rx.recv() => match c {
                    None => return true,
                    Some(Cmd::Stop(tx)) => { acks.push(tx); return true; }
                    Some(c) => self.command(c),
                }
            }
        }
    }

    async fn connect(&mut self) -> Result<Link> {
        let cfg = &self.cfg;
        let role = Role::Subscriber {
            request_id: self.request_id.clone(),
        };
        let sig: Arc<dyn red5_signal::driver::Signalling> =
            Arc::from(open_signalling(&cfg.endpoint, &role, &cfg.stream_name).await?);
        let connected = match tokio::time::timeout(cfg.start_timeout, sig.connect()).await {
            Ok(Ok(c)) => c,
            Ok(Err(e)) => return Err(explain(sig.as_ref(), e).await),
            Err(_) => {
                return Err(Error::StartTimeout {
                    what: "connection",
                    after: cfg.start_timeout,
                })
            }
        };
        let ice = if cfg.ice_servers.is_empty() {
            crate::peer::ice_servers(&connected.ice_servers)
        } else {
            crate::peer::own_ice_servers(&cfg.ice_servers)
        };
        let (pc, pc_rx) = build_peer(PeerSpec {
            video: vec![VideoCodec::H264, VideoCodec::Vp8],
            audio: true,
            ice_servers: ice,
            loopback: is_loopback_url(&cfg.endpoint.base_url),
        })
        .await?;
        let link = Link::new(
            sig.clone(),
            pc.clone(),
            pc_rx,
            self.shared.counters.clone(),
            "subscription",
            cfg.start_timeout,
        );
        // Whatever fails from here on, the peer connection and the signalling are closed.
        let negotiated: Result<()> = async {
            for kind in [RtpCodecKind::Video, RtpCodecKind::Audio] {
                pc.add_transceiver_from_kind(
                    kind,
                    Some(RTCRtpTransceiverInit {
                        direction: RTCRtpTransceiverDirection::Recvonly,
                        ..Default::default()
                    }),
                )
                .await?;
            }
            link.open_dc().await?;
            let offer = match sig.request_offer(None).await {
                Ok(o) => o,
                Err(e) => return Err(explain(sig.as_ref(), e).await),
            };
            pc.set_remote_description(RTCSessionDescription::offer(offer)?)
                .await?;
            let answer = pc.create_answer(None).await?;
            pc.set_local_description(answer).await?;
            let local = pc.local_description().await.ok_or_else(|| {
                Error::WebRtc("no local description after creating the answer".into())
            })?;
            if let Err(e) = sig.send_answer(local.sdp).await {
                return Err(explain(sig.as_ref(), e).await);
            }
            Ok(())
        }
        .await;
        match negotiated {
            Ok(()) => Ok(link),
            Err(e) => {
                link.close(false).await;
                Err(e)
            }
        }
    }

    async fn attempt(&mut self, acks: &mut Vec<oneshot::Sender<()>>) -> Outcome {
        if !self.was_live {
            set_state(&self.shared, &self.ev, SessionState::Connecting);
        }
        let mut link = match self.connect().await {
            Ok(l) => l,
            Err(e) => return Outcome::Dropped(e),
        };
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        let first_frame = Arc::new(std::sync::atomic::AtomicBool::new(false));
        loop {
            enum Got {
                Cmd(Option<Cmd>),
                Link(Raw),
                Tick,
            }
            let got = tokio::select! {
                c = self.cmd_rx.recv() => Got::Cmd(c),
                r = link.recv() => Got::Link(r),
                _ = tick.tick() => Got::Tick,
            };
            match got {
                Got::Cmd(None) => {
                    link.close(true).await;
                    return Outcome::Stopped;
                }
                Got::Cmd(Some(Cmd::Stop(tx))) => {
                    acks.push(tx);
                    link.close(true).await;
                    return Outcome::Stopped;
                }
                Got::Cmd(Some(c)) => self.command(c),
                Got::Tick => {
                    let report = link
                        .pc
                        .get_stats(std::time::Instant::now(), StatsSelector::None)
                        .await;
                    let snap = self.shared.stats.record(
                        &mut self.meter,
                        &self.shared.counters,
                        &report,
                        link.started,
                    );
                    if link.started {
                        let _ = self.ev.send(SubscriberEvent::Stats { stats: snap });
                    }
                }
                Got::Link(raw) => match link.handle(raw).await {
                    None => {}
                    Some(LinkEvent::Dropped(e)) => {
                        link.close(false).await;
                        return Outcome::Dropped(e);
                    }
                    Some(LinkEvent::Started) => {
                        let again = self.was_live;
                        self.was_live = true;
                        self.rec.reset();
                        set_state(&self.shared, &self.ev, SessionState::Live);
                        let _ = self.ev.send(SubscriberEvent::Started);
                        if again {
                            let _ = self.ev.send(SubscriberEvent::Reconnected);
                        }
                    }
                    Some(LinkEvent::Ice(s)) => {
                        drop(self.ev.send(SubscriberEvent::IceState { state: s }))
                    }
                    Some(LinkEvent::Track(t)) => self.on_track(t, first_frame.clone()).await,
                    Some(LinkEvent::Signal(s)) => {
                        let gone = matches!(
                            s,
                            SignalEvent::PublisherUnpublished
                                | SignalEvent::Status(StatusEvent::UnpublishNotify)
                        );
                        self.on_signal(s);
                        if gone && self.cfg.resubscribe_after_unpublish {
                            link.close(true).await;
                            return Outcome::Dropped(Error::StreamEnded);
                        }
                    }
                },
            }
        }
    }

    async fn on_track(
        &mut self,
        track: Arc<dyn TrackRemote>,
        first_frame: Arc<std::sync::atomic::AtomicBool>,
    ) {
        let counters = self.shared.counters.clone();
        let ev = self.ev.clone();
        let broken_ev = self.ev.clone();
        let (spawned, what) = if track.kind().await == RtpCodecKind::Video {
            let pli = spawn_pli(track.clone());
            self.pli = Some(pli.clone());
            // The codec is known once the first packet arrives (its payload type).
            let ssrc = track.ssrcs().await.first().copied().unwrap_or(0);
            let codec = track
                .codec(ssrc)
                .await
                .and_then(|c| VideoCodec::from_name(&c.mime_type))
                .unwrap_or(VideoCodec::H264);
            let v = VideoDecode {
                thread: "video decode",
                codec,
                counters,
                frames: self.video_tx.clone(),
                first_frame,
                pli,
                ask_until_picture: None,
            };
            let spawned = receive_video(
                track,
                v,
                move |width, height| {
                    let _ = ev.send(SubscriberEvent::FirstFrame { width, height });
                },
                move |e| {
                    let _ = broken_ev.send(SubscriberEvent::Warning {
                        message: format!("video cannot be decoded: {e}"),
                    });
                },
            );
            (spawned, "video")
        } else {
            let tap = self.audio_tap.clone();
            let play = self.play.clone();
            let spawned = receive_audio(
                track,
                "audio decode",
                counters,
                move |frame| {
                    let _ = tap.try_send(frame.clone());
                    let _ = play.send(PlayCmd::Frame(frame));
                    true
                },
                move |e| {
                    let _ = broken_ev.send(SubscriberEvent::Warning {
                        message: format!("audio cannot be decoded: {e}"),
                    });
                },
            );
            (spawned, "audio")
        };
        if let Err(e) = spawned {
            let _ = self.ev.send(SubscriberEvent::Warning {
                message: format!("could not start {what} decoding: {e}"),
            });
        }
    }

    fn on_signal(&mut self, s: SignalEvent) {
        let e = match s {
            SignalEvent::Invoke(i) if i.is_metadata() => SubscriberEvent::Metadata {
                data: i.data,
                received_at_ms: red5_media::frame::now_unix_micros() / 1000,
            },
            SignalEvent::Invoke(i) => SubscriberEvent::Message {
                method: i.method,
                data: i.data,
            },
            SignalEvent::PublisherUnpublished => SubscriberEvent::Unpublished,
            SignalEvent::TransportSwitched => SubscriberEvent::TransportSwitched,
            SignalEvent::Status(st) => match st {
                StatusEvent::UnpublishNotify => SubscriberEvent::Unpublished,
                StatusEvent::Error { message, .. } => SubscriberEvent::Warning {
                    message: format!("the server reported: {message}"),
                },
                StatusEvent::Other
                | StatusEvent::DataChannelAvailable { .. }
                | StatusEvent::StatisticsEndpoint { .. } => return,
                other => SubscriberEvent::ServerStatus {
                    status: format!("{other:?}"),
                },
            },
            SignalEvent::Message(m) => SubscriberEvent::Message {
                method: String::new(),
                data: Value::Object(m),
            },
            SignalEvent::Warning(w) => SubscriberEvent::Warning { message: w },
            _ => return,
        };
        let _ = self.ev.send(e);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::publisher::{Bandwidth, PublisherEvent};
    use serde_json::json;

    #[test]
    fn events_serialise_for_the_ui_event_stream() {
        let v = |e: &SubscriberEvent| serde_json::to_value(e).unwrap();
        assert_eq!(
            v(&SubscriberEvent::Reconnecting {
                attempt: 2,
                of: 10,
                delay: Duration::from_millis(600),
                reason: "gone".into()
            }),
            json!({"type": "reconnecting", "attempt": 2, "of": 10, "delayMs": 600, "reason": "gone"})
        );
        assert_eq!(
            v(&SubscriberEvent::Failed {
                error: Error::StreamEnded
            }),
            json!({"type": "failed", "error": "the broadcaster stopped publishing"})
        );
        assert_eq!(
            v(&SubscriberEvent::Metadata {
                data: json!({"metadata": "hi"}),
                received_at_ms: 5
            }),
            json!({"type": "metadata", "data": {"metadata": "hi"}, "receivedAtMs": 5})
        );
        assert_eq!(
            v(&SubscriberEvent::Unpublished),
            json!({"type": "unpublished"})
        );
        let p = |e: &PublisherEvent| serde_json::to_value(e).unwrap();
        assert_eq!(
            p(&PublisherEvent::State {
                state: SessionState::Reconnecting
            }),
            json!({"type": "state", "state": "reconnecting"})
        );
        assert_eq!(
            p(&PublisherEvent::Bandwidth {
                bandwidth: Bandwidth::Insufficient
            }),
            json!({"type": "bandwidth", "bandwidth": "insufficient"})
        );
        let stats = p(&PublisherEvent::Stats {
            stats: StatsSnapshot::default(),
        });
        assert_eq!(stats["type"], "stats");
        assert!(stats["stats"]["bitrateOutKbps"].is_number());
    }
}
