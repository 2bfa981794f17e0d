//! Thin async drivers (tokio) around the sans-I/O flows, and the transport-agnostic
//! [`Signalling`] trait the session layer uses (gst `webrtcsink` style).
//!
//! - [`ws::WsSignalling`]: legacy WebSocket (SM1/SM2 proxy or node), publisher / subscriber /
//!   conference participant, with the data-channel switch.
//! - [`http::WhipSignalling`]: Red5 WHIP publish / WHEP subscribe.
//! - [`rest`]: Stream Manager 1.x / 2.0 REST clients.
//! - [`backend`]: conference backend WebSocket with reconnect.
//!
//! The media layer (webrtc-rs) is not here: it feeds local candidates and data-channel traffic
//! in, and applies what comes out (`SignalEvent::RemoteCandidate`, `SendOnDataChannel`…).

pub mod backend;
pub mod http;
pub mod rest;
mod timers;
pub mod tls;
pub mod ws;

use async_trait::async_trait;
use tokio::sync::{mpsc, oneshot, Mutex};

use crate::dc::{self, StatusEvent};
use crate::error::{Error, Result};
use crate::flow::ws::ErrorInfo;
use crate::whip::{Discovery, IceServer};
use crate::ws::IceCandidate;

/// Result of [`Signalling::connect`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Connected {
    /// ICE servers the server announced (WHIP/WHEP `Link`); use them unless the app has its own.
    pub ice_servers: Vec<IceServer>,
    /// The node the proxy picked (`Session-Host`), if told.
    pub session_host: Option<String>,
}

/// The server's answer to a published offer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub sdp: String,
    /// Conference participant only: the id the server knows us by from now on.
    pub participant_id: Option<String>,
}

/// Everything signalling tells the session while it runs.
#[derive(Debug, Clone, PartialEq)]
pub enum SignalEvent {
    RemoteCandidate(IceCandidate),
    RemoteEndOfCandidates,
    /// Write this text on the `red5pro` data channel.
    SendOnDataChannel(String),
    /// Messages now travel on the data channel (WS closed on purpose).
    TransportSwitched,
    Started,
    /// `NetConnection.ICE.TrickleCompleted` / the trickle PATCH succeeded.
    TrickleCompleted,
    Discovered(Discovery),
    ParticipantJoined {
        participant_id: String,
        group: String,
    },
    Status(StatusEvent),
    /// Metadata (`onMetaData`) or any other relayed `send()`.
    Invoke(dc::Invoke),
    RpcReply(dc::RpcReply),
    Message(serde_json::Map<String, serde_json::Value>),
    PublisherUnpublished,
    ConnectionClosed,
    Warning(String),
    Stopped,
    Failed(ErrorInfo),
}

/// A signalling transport, so sessions do not care whether it is the WS proxy or WHIP/WHEP.
///
/// Publish: `connect` → `publish_offer` → candidates both ways → `wait_started` → messages → `stop`.
/// Subscribe: `connect` → `request_offer` → `send_answer` → candidates → `wait_started` → `stop`.
#[async_trait]
pub trait Signalling: Send + Sync {
    /// Connect and check the name (WS: `Connect.Success` + `isAvailable`; HTTP: OPTIONS).
    async fn connect(&self) -> Result<Connected>;
    /// Publisher/participant: send the offer (already munged), get the answer.
    async fn publish_offer(&self, offer_sdp: String) -> Result<Answer>;
    /// Subscriber: get Red5's server offer. WHEP posts `informational_offer` (or an empty body).
    async fn request_offer(&self, informational_offer: Option<String>) -> Result<String>;
    /// Subscriber: send the answer.
    async fn send_answer(&self, answer_sdp: String) -> Result<()>;
    async fn add_local_candidate(&self, candidate: IceCandidate) -> Result<()>;
    /// Gathering done; `final_local_sdp` lets WHIP/WHEP build the sdpfrag exactly as the SDK.
    async fn end_of_local_candidates(&self, final_local_sdp: Option<String>) -> Result<()>;
    /// Until the server confirms publish/subscribe.
    async fn wait_started(&self) -> Result<()>;
    /// An app message; queued until a transport exists (before the DC opens, before connect).
    async fn send_message(&self, message: dc::ClientMessage) -> Result<()>;
    /// RPC (`callAdapter`) with a fresh id; resolves with the reply's `data`, or
    /// [`Error::RpcFailed`] with the server's text. E.g. `call("switchStreams", [{path, isImmediate}])`.
    async fn call(
        &self,
        method: &str,
        arguments: Vec<serde_json::Value>,
    ) -> Result<serde_json::Value>;
    /// Media-layer notifications.
    async fn data_channel_open(&self) -> Result<()>;
    async fn data_channel_message(&self, text: String) -> Result<()>;
    async fn data_channel_closed(&self) -> Result<()>;
    async fn ice_connected(&self) -> Result<()>;
    /// The next event; `None` once the driver has ended.
    async fn next_event(&self) -> Option<SignalEvent>;
    /// Unpublish / unsubscribe / leave, and end the driver.
    async fn stop(&self) -> Result<()>;
}

/// Commands from the handle to a driver task.
#[derive(Debug)]
pub(crate) enum Cmd {
    Connect(oneshot::Sender<Result<Connected>>),
    PublishOffer(String, oneshot::Sender<Result<Answer>>),
    RequestOffer(Option<String>, oneshot::Sender<Result<String>>),
    SendAnswer(String, oneshot::Sender<Result<()>>),
    Candidate(IceCandidate),
    EndOfCandidates(Option<String>),
    WaitStarted(oneshot::Sender<Result<()>>),
    Send(dc::ClientMessage, oneshot::Sender<Result<()>>),
    Call(
        String,
        Vec<serde_json::Value>,
        oneshot::Sender<Result<serde_json::Value>>,
    ),
    DcOpen,
    DcText(String),
    DcClosed,
    IceConnected,
    Stop(oneshot::Sender<Result<()>>),
}

/// The handle side shared by both drivers.
#[derive(Debug)]
pub(crate) struct Handle {
    pub(crate) cmd: mpsc::UnboundedSender<Cmd>,
    pub(crate) events: Mutex<mpsc::UnboundedReceiver<SignalEvent>>,
    /// Why the driver ended, kept for calls made afterwards (else they could only say
    /// "closed" and the real failure would be lost).
    pub(crate) outcome: Outcome,
}

/// The failure a driver ended with (`None`: it ended cleanly or is still running).
#[derive(Debug, Clone, Default)]
pub(crate) struct Outcome(std::sync::Arc<std::sync::Mutex<Option<Error>>>);

impl Outcome {
    pub(crate) fn set(&self, e: Option<Error>) {
        if let Ok(mut g) = self.0.lock() {
            *g = e;
        }
    }

    /// The real failure, or `Closed` after a clean end.
    pub(crate) fn error(&self) -> Error {
        self.0
            .lock()
            .ok()
            .and_then(|g| g.clone())
            .unwrap_or(Error::Closed)
    }
}

impl Handle {
    pub(crate) fn new(
        cmd: mpsc::UnboundedSender<Cmd>,
        events: mpsc::UnboundedReceiver<SignalEvent>,
        outcome: Outcome,
    ) -> Self {
        Handle {
            cmd,
            events: Mutex::new(events),
            outcome,
        }
    }

    fn post(&self, c: Cmd) -> Result<()> {
        self.cmd.send(c).map_err(|_| self.outcome.error())
    }

    async fn ask<T>(&self, make: impl FnOnce(oneshot::Sender<Result<T>>) -> Cmd) -> Result<T> {
        let (tx, rx) = oneshot::channel();
        self.post(make(tx))?;
        rx.await.map_err(|_| self.outcome.error())?
    }
}

#[async_trait]
impl Signalling for Handle {
    async fn connect(&self) -> Result<Connected> {
        self.ask(Cmd::Connect).await
    }
    async fn publish_offer(&self, offer_sdp: String) -> Result<Answer> {
        self.ask(|tx| Cmd::PublishOffer(offer_sdp, tx)).await
    }
    async fn request_offer(&self, informational_offer: Option<String>) -> Result<String> {
        self.ask(|tx| Cmd::RequestOffer(informational_offer, tx))
            .await
    }
    async fn send_answer(&self, answer_sdp: String) -> Result<()> {
        self.ask(|tx| Cmd::SendAnswer(answer_sdp, tx)).await
    }
    async fn add_local_candidate(&self, candidate: IceCandidate) -> Result<()> {
        self.post(Cmd::Candidate(candidate))
    }
    async fn end_of_local_candidates(&self, final_local_sdp: Option<String>) -> Result<()> {
        self.post(Cmd::EndOfCandidates(final_local_sdp))
    }
    async fn wait_started(&self) -> Result<()> {
        self.ask(Cmd::WaitStarted).await
    }
    async fn send_message(&self, message: dc::ClientMessage) -> Result<()> {
        self.ask(|tx| Cmd::Send(message, tx)).await
    }
    async fn call(
        &self,
        method: &str,
        arguments: Vec<serde_json::Value>,
    ) -> Result<serde_json::Value> {
        self.ask(|tx| Cmd::Call(method.to_owned(), arguments, tx))
            .await
    }
    async fn data_channel_open(&self) -> Result<()> {
        self.post(Cmd::DcOpen)
    }
    async fn data_channel_message(&self, text: String) -> Result<()> {
        self.post(Cmd::DcText(text))
    }
    async fn data_channel_closed(&self) -> Result<()> {
        self.post(Cmd::DcClosed)
    }
    async fn ice_connected(&self) -> Result<()> {
        self.post(Cmd::IceConnected)
    }
    async fn next_event(&self) -> Option<SignalEvent> {
        self.events.lock().await.recv().await
    }
    async fn stop(&self) -> Result<()> {
        // Stopping a session that already ended (for whatever reason) is done.
        if self.cmd.is_closed() {
            return Ok(());
        }
        match self.ask(Cmd::Stop).await {
            Err(_) if self.cmd.is_closed() => Ok(()),
            r => r,
        }
    }
}

/// Pending request/response-style calls and the results that arrived before anyone asked.
#[derive(Default)]
pub(crate) struct Waiters {
    pub connect: Option<oneshot::Sender<Result<Connected>>>,
    pub connected: Option<Connected>,
    pub answer: Option<oneshot::Sender<Result<Answer>>>,
    pub offer: Option<oneshot::Sender<Result<String>>>,
    pub offer_slot: Option<String>,
    pub started: Vec<oneshot::Sender<Result<()>>>,
    pub is_started: bool,
    pub stop: Vec<oneshot::Sender<Result<()>>>,
    /// Outstanding RPCs by id: (method, reply).
    pub calls:
        std::collections::HashMap<String, (String, oneshot::Sender<Result<serde_json::Value>>)>,
    pub failed: Option<Error>,
}

impl Waiters {
    pub fn resolve_connect(&mut self, c: Connected) {
        match self.connect.take() {
            Some(tx) => {
                let _ = tx.send(Ok(c));
            }
            None => self.connected = Some(c),
        }
    }

    pub fn resolve_offer(&mut self, sdp: String) {
        match self.offer.take() {
            Some(tx) => {
                let _ = tx.send(Ok(sdp));
            }
            None => self.offer_slot = Some(sdp),
        }
    }

    pub fn resolve_started(&mut self) {
        self.is_started = true;
        for tx in self.started.drain(..) {
            let _ = tx.send(Ok(()));
        }
    }

    pub fn resolve_stopped(&mut self) {
        for tx in self.stop.drain(..) {
            let _ = tx.send(Ok(()));
        }
    }

    /// Registers an RPC and returns the message to send.
    pub fn new_call(
        &mut self,
        method: String,
        arguments: Vec<serde_json::Value>,
        tx: oneshot::Sender<Result<serde_json::Value>>,
    ) -> dc::ClientMessage {
        let id = loop {
            let id = format!("{:08x}", rand::random::<u32>());
            if !self.calls.contains_key(&id) {
                break id;
            }
        };
        let msg = dc::ClientMessage::call(id.clone(), method.clone(), arguments);
        self.calls.insert(id, (method, tx));
        msg
    }

    /// Resolves the RPC a reply belongs to; `false` if it is not ours.
    pub fn resolve_call(&mut self, r: &dc::RpcReply) -> bool {
        let Some((method, tx)) = r.id.as_ref().and_then(|id| self.calls.remove(id)) else {
            return false;
        };
        let _ = tx.send(
            r.result()
                .map_err(|message| Error::RpcFailed { method, message }),
        );
        true
    }

    /// Fails every waiter with the flow's error.
    pub fn fail_all(&mut self, e: &Error) {
        self.failed = Some(e.clone());
        if let Some(tx) = self.connect.take() {
            let _ = tx.send(Err(e.clone()));
        }
        if let Some(tx) = self.answer.take() {
            let _ = tx.send(Err(e.clone()));
        }
        if let Some(tx) = self.offer.take() {
            let _ = tx.send(Err(e.clone()));
        }
        for tx in self.started.drain(..) {
            let _ = tx.send(Err(e.clone()));
        }
        for (_, (_, tx)) in self.calls.drain() {
            let _ = tx.send(Err(e.clone()));
        }
        // A stop request is satisfied by the session ending, whatever the reason.
        self.resolve_stopped();
    }
}

/// `subscriber-<random 16-bit hex>`, the SDK's default subscription id.
pub fn default_subscription_id() -> String {
    format!("subscriber-{:04x}", rand::random::<u16>())
}

/// Implements [`Signalling`] for a newtype around [`Handle`].
macro_rules! forward_signalling {
    ($t:ty) => {
        #[async_trait::async_trait]
        impl $crate::driver::Signalling for $t {
            async fn connect(&self) -> $crate::Result<$crate::driver::Connected> {
                self.0.connect().await
            }
            async fn publish_offer(
                &self,
                offer_sdp: String,
            ) -> $crate::Result<$crate::driver::Answer> {
                self.0.publish_offer(offer_sdp).await
            }
            async fn request_offer(
                &self,
                informational_offer: Option<String>,
            ) -> $crate::Result<String> {
                self.0.request_offer(informational_offer).await
            }
            async fn send_answer(&self, answer_sdp: String) -> $crate::Result<()> {
                self.0.send_answer(answer_sdp).await
            }
            async fn add_local_candidate(
                &self,
                candidate: $crate::ws::IceCandidate,
            ) -> $crate::Result<()> {
                self.0.add_local_candidate(candidate).await
            }
            async fn end_of_local_candidates(
                &self,
                final_local_sdp: Option<String>,
            ) -> $crate::Result<()> {
                self.0.end_of_local_candidates(final_local_sdp).await
            }
            async fn wait_started(&self) -> $crate::Result<()> {
                self.0.wait_started().await
            }
            async fn send_message(&self, message: $crate::dc::ClientMessage) -> $crate::Result<()> {
                self.0.send_message(message).await
            }
            async fn call(
                &self,
                method: &str,
                arguments: Vec<serde_json::Value>,
            ) -> $crate::Result<serde_json::Value> {
                self.0.call(method, arguments).await
            }
            async fn data_channel_open(&self) -> $crate::Result<()> {
                self.0.data_channel_open().await
            }
            async fn data_channel_message(&self, text: String) -> $crate::Result<()> {
                self.0.data_channel_message(text).await
            }
            async fn data_channel_closed(&self) -> $crate::Result<()> {
                self.0.data_channel_closed().await
            }
            async fn ice_connected(&self) -> $crate::Result<()> {
                self.0.ice_connected().await
            }
            async fn next_event(&self) -> Option<$crate::driver::SignalEvent> {
                self.0.next_event().await
            }
            async fn stop(&self) -> $crate::Result<()> {
                self.0.stop().await
            }
        }
    };
}
pub(crate) use forward_signalling;
