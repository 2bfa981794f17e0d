//! One connection attempt's plumbing, shared by the engines: a signalling driver and a peer
//! connection bridged both ways (candidates, the `red5pro` data channel, ICE state), reduced
//! to the few events an engine acts on.
//!
//! Contract: `recv()` only waits on channels and timers (cancel safe, use it in `select!`);
//! `handle()` then does the awaited work for what arrived.

use std::sync::Arc;
use std::time::Duration;

use red5_signal::driver::{SignalEvent, Signalling};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use webrtc::data_channel::{DataChannel, DataChannelEvent, RTCDataChannelInit};
use webrtc::media_stream::track_remote::TrackRemote;
use webrtc::peer_connection::{PeerConnection, RTCIceConnectionState, RTCPeerConnectionState};

use crate::error::Error;
use crate::peer::{from_signal_candidate, to_signal_candidate, PcEvent};
use crate::stats::Counters;

/// How long ICE may stay `disconnected` before the attempt counts as dropped.
const DISCONNECTED_GRACE: Duration = Duration::from_secs(3);

pub(crate) enum Raw {
    Pc(Option<PcEvent>),
    Dc(DcMsg),
    Sig(Option<SignalEvent>),
    StartDeadline,
    DisconnectedTooLong,
}

pub(crate) enum DcMsg {
    Open(Arc<dyn DataChannel>),
    Text(String),
    Closed,
}

/// What the engine sees.
pub(crate) enum LinkEvent {
    Started,
    Track(Arc<dyn TrackRemote>),
    Signal(SignalEvent),
    Ice(String),
    Dropped(Error),
}

pub(crate) struct Link {
    pub sig: Arc<dyn Signalling>,
    pub pc: Arc<dyn PeerConnection>,
    pc_rx: mpsc::UnboundedReceiver<PcEvent>,
    dc_tx: mpsc::UnboundedSender<DcMsg>,
    dc_rx: mpsc::UnboundedReceiver<DcMsg>,
    /// The open `red5pro` channel messages go out on.
    dc: Option<Arc<dyn DataChannel>>,
    dc_queue: Vec<String>,
    started_rx: Option<oneshot::Receiver<red5_signal::Result<()>>>,
    pub started: bool,
    start_deadline: Instant,
    disconnected_since: Option<Instant>,
    counters: Arc<Counters>,
    what: &'static str,
    start_timeout: Duration,
}

impl Link {
    pub fn new(
        sig: Arc<dyn Signalling>,
        pc: Arc<dyn PeerConnection>,
        pc_rx: mpsc::UnboundedReceiver<PcEvent>,
        counters: Arc<Counters>,
        what: &'static str,
        start_timeout: Duration,
    ) -> Self {
        let (dc_tx, dc_rx) = mpsc::unbounded_channel();
        let (tx, started_rx) = oneshot::channel();
        let s = sig.clone();
        // The typed error of a failed start arrives here (events only carry its text).
        tokio::spawn(async move {
            let _ = tx.send(s.wait_started().await);
        });
        Link {
            sig,
            pc,
            pc_rx,
            dc_tx,
            dc_rx,
            dc: None,
            dc_queue: Vec::new(),
            started_rx: Some(started_rx),
            started: false,
            start_deadline: Instant::now() + start_timeout,
            disconnected_since: None,
            counters,
            what,
            start_timeout,
        }
    }

    /// Creates the `red5pro` data channel (ordered, as the SDK does) and watches it.
    pub async fn open_dc(&self) -> Result<(), Error> {
        let dc = self
            .pc
            .create_data_channel(
                red5_signal::dc::LABEL,
                Some(RTCDataChannelInit {
                    ordered: true,
                    ..Default::default()
                }),
            )
            .await?;
        self.watch_dc(dc);
        Ok(())
    }

    /// Reads a data channel's events into the link.
    fn watch_dc(&self, dc: Arc<dyn DataChannel>) {
        let tx = self.dc_tx.clone();
        tokio::spawn(async move {
            while let Some(ev) = dc.poll().await {
                let m = match ev {
                    DataChannelEvent::OnOpen => DcMsg::Open(dc.clone()),
                    DataChannelEvent::OnMessage(m) => {
                        DcMsg::Text(String::from_utf8_lossy(&m.data).into_owned())
                    }
                    DataChannelEvent::OnClose => {
                        let _ = tx.send(DcMsg::Closed);
                        break;
                    }
                    _ => continue,
                };
                if tx.send(m).is_err() {
                    break;
                }
            }
        });
    }

    pub async fn recv(&mut self) -> Raw {
        let grace = self.disconnected_since.map(|t| t + DISCONNECTED_GRACE);
        let start = (!self.started).then_some(self.start_deadline);
        tokio::select! {
            e = self.pc_rx.recv() => Raw::Pc(e),
            Some(m) = self.dc_rx.recv() => Raw::Dc(m),
            e = self.sig.next_event() => Raw::Sig(e),
            _ = sleep_opt(start) => Raw::StartDeadline,
            _ = sleep_opt(grace) => Raw::DisconnectedTooLong,
        }
    }

    pub async fn handle(&mut self, raw: Raw) -> Option<LinkEvent> {
        match raw {
            Raw::Pc(None) => Some(LinkEvent::Dropped(Error::ConnectionLost(
                "the media connection closed".into(),
            ))),
            Raw::Pc(Some(e)) => self.pc_event(e).await,
            Raw::Dc(m) => {
                match m {
                    DcMsg::Open(dc) => {
                        if self.dc.is_none() {
                            for t in self.dc_queue.drain(..) {
                                let _ = dc.send_text(&t).await;
                            }
                            self.dc = Some(dc);
                            let _ = self.sig.data_channel_open().await;
                        }
                    }
                    DcMsg::Text(t) => {
                        let _ = self.sig.data_channel_message(t).await;
                    }
                    DcMsg::Closed => {
                        self.dc = None;
                        let _ = self.sig.data_channel_closed().await;
                    }
                }
                None
            }
            Raw::Sig(None) => Some(LinkEvent::Dropped(
                self.failure("the signalling connection ended").await,
            )),
            Raw::Sig(Some(e)) => self.sig_event(e).await,
            Raw::StartDeadline => Some(LinkEvent::Dropped(Error::StartTimeout {
                what: self.what,
                after: self.start_timeout,
            })),
            Raw::DisconnectedTooLong => Some(LinkEvent::Dropped(Error::ConnectionLost(
                "no media from the server for several seconds".into(),
            ))),
        }
    }

    async fn pc_event(&mut self, e: PcEvent) -> Option<LinkEvent> {
        match e {
            PcEvent::Candidate(c) => {
                let _ = self.sig.add_local_candidate(to_signal_candidate(&c)).await;
                None
            }
            PcEvent::Gathered => {
                let sdp = self.pc.local_description().await.map(|d| d.sdp);
                let _ = self.sig.end_of_local_candidates(sdp).await;
                None
            }
            PcEvent::Ice(s) => {
                let text = s.to_string();
                self.counters.set_ice_state(text.clone());
                match s {
                    RTCIceConnectionState::Disconnected => {
                        self.disconnected_since.get_or_insert_with(Instant::now);
                    }
                    RTCIceConnectionState::Connected | RTCIceConnectionState::Completed => {
                        self.disconnected_since = None;
                    }
                    _ => {}
                }
                Some(LinkEvent::Ice(text))
            }
            PcEvent::State(s) => {
                self.counters.set_connection_state(s.to_string());
                match s {
                    RTCPeerConnectionState::Connected => {
                        self.disconnected_since = None;
                        let _ = self.sig.ice_connected().await;
                        None
                    }
                    RTCPeerConnectionState::Disconnected => {
                        self.disconnected_since.get_or_insert_with(Instant::now);
                        None
                    }
                    RTCPeerConnectionState::Failed => Some(LinkEvent::Dropped(
                        Error::ConnectionLost("the media connection failed".into()),
                    )),
                    RTCPeerConnectionState::Closed => Some(LinkEvent::Dropped(
                        Error::ConnectionLost("the media connection closed".into()),
                    )),
                    _ => None,
                }
            }
            PcEvent::DataChannel(dc) => {
                self.watch_dc(dc);
                None
            }
            PcEvent::Track(t) => Some(LinkEvent::Track(t)),
        }
    }

    async fn sig_event(&mut self, e: SignalEvent) -> Option<LinkEvent> {
        match e {
            SignalEvent::RemoteCandidate(c) => {
                if let Some(init) = from_signal_candidate(&c) {
                    if let Err(err) = self.pc.add_ice_candidate(init).await {
                        tracing::debug!("remote candidate refused: {err}");
                    }
                }
                None
            }
            SignalEvent::RemoteEndOfCandidates
            | SignalEvent::TrickleCompleted
            | SignalEvent::Discovered(_) => None,
            SignalEvent::SendOnDataChannel(text) => {
                match &self.dc {
                    Some(dc) => {
                        if let Err(err) = dc.send_text(&text).await {
                            tracing::debug!("data channel send: {err}");
                        }
                    }
                    None => self.dc_queue.push(text),
                }
                None
            }
            SignalEvent::Started => {
                self.started = true;
                Some(LinkEvent::Started)
            }
            SignalEvent::ConnectionClosed => Some(LinkEvent::Dropped(Error::ConnectionLost(
                "the server closed the connection".into(),
            ))),
            SignalEvent::Failed(info) => {
                Some(LinkEvent::Dropped(self.failure(&info.message).await))
            }
            SignalEvent::Stopped => Some(LinkEvent::Dropped(Error::ConnectionLost(
                "the server ended the session".into(),
            ))),
            other => Some(LinkEvent::Signal(other)),
        }
    }

    /// The typed error behind a failure, when the start never happened; else "lost".
    async fn failure(&mut self, text: &str) -> Error {
        if !self.started {
            if let Some(rx) = self.started_rx.take() {
                if let Ok(Ok(Err(e))) = tokio::time::timeout(Duration::from_millis(500), rx).await {
                    return Error::Signal(e);
                }
            }
        }
        Error::ConnectionLost(text.to_owned())
    }

    /// Ends the attempt: unpublish/unsubscribe (bounded wait), then close the peer connection.
    pub async fn close(&self, clean: bool) {
        if clean {
            let _ = tokio::time::timeout(Duration::from_secs(3), self.sig.stop()).await;
        } else {
            let sig = self.sig.clone();
            tokio::spawn(async move {
                let _ = tokio::time::timeout(Duration::from_secs(3), sig.stop()).await;
            });
        }
        let _ = tokio::time::timeout(Duration::from_secs(2), self.pc.close()).await;
    }
}

async fn sleep_opt(at: Option<Instant>) {
    match at {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}
