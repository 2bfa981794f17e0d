//! The legacy WebSocket driver: tokio-tungstenite (rustls) around [`WsSession`].

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use super::timers::Timers;
use super::{tls, Answer, Cmd, Connected, Handle, SignalEvent, Waiters};
use crate::error::Error;
use crate::flow::ws::{WsConfig, WsEvent, WsOutput, WsRole, WsSession};
use crate::flow::Timer;

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// [`super::Signalling`] over Red5's legacy WebSocket (SM1 `/streammanager/`, SM2
/// `/as/v1/proxy/ws/…`, or a node's `/<app>/`). Build the URL with [`crate::urls`].
#[derive(Debug)]
pub struct WsSignalling(pub(crate) Handle);

impl WsSignalling {
    /// Spawns the driver task on the current tokio runtime; the WebSocket opens right away.
    pub fn spawn(url: impl Into<String>, cfg: WsConfig) -> Self {
        Self::spawn_with_tls(url, cfg, &tls::TlsOptions::default())
    }

    /// As [`WsSignalling::spawn`], trusting extra certificates (or none) for `wss://`.
    pub fn spawn_with_tls(
        url: impl Into<String>,
        cfg: WsConfig,
        tls_opts: &tls::TlsOptions,
    ) -> Self {
        let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
        let (ev_tx, ev_rx) = mpsc::unbounded_channel();
        let outcome = super::Outcome::default();
        // A bad PEM surfaces as the connection error of the flow, like any TLS failure.
        let connector = tls::rustls_config(tls_opts).map(tokio_tungstenite::Connector::Rustls);
        tokio::spawn(run(
            url.into(),
            WsSession::new(cfg),
            connector,
            cmd_rx,
            ev_tx,
            outcome.clone(),
        ));
        WsSignalling(Handle::new(cmd_tx, ev_rx, outcome))
    }
}

super::forward_signalling!(WsSignalling);

struct Driver {
    m: WsSession,
    ws: Option<Ws>,
    timers: Timers,
    w: Waiters,
    ev: mpsc::UnboundedSender<SignalEvent>,
}

async fn run(
    url: String,
    m: WsSession,
    connector: crate::Result<tokio_tungstenite::Connector>,
    mut cmd_rx: mpsc::UnboundedReceiver<Cmd>,
    ev: mpsc::UnboundedSender<SignalEvent>,
    outcome: super::Outcome,
) {
    let open_timeout = m.config().timeouts.open;
    let mut d = Driver {
        m,
        ws: None,
        timers: Timers::default(),
        w: Waiters::default(),
        ev,
    };
    d.m.start();
    d.pump().await;
    match connector {
        Err(e) => d.m.handle_connect_error(&redacted(&url), &e.to_string()),
        Ok(c) => {
            let connect = tokio_tungstenite::connect_async_tls_with_config(
                url.as_str(),
                None,
                false,
                Some(c),
            );
            match tokio::time::timeout(open_timeout, connect).await {
                Ok(Ok((s, _resp))) => d.ws = Some(s),
                Ok(Err(tokio_tungstenite::tungstenite::Error::Http(resp))) => {
                    let body = resp
                        .body()
                        .as_deref()
                        .map(String::from_utf8_lossy)
                        .unwrap_or_default();
                    d.m.handle_upgrade_refused(&redacted(&url), resp.status().as_u16(), &body)
                }
                Ok(Err(e)) => {
                    d.m.handle_connect_error(&redacted(&url), &describe_connect_error(&e))
                }
                Err(_) => d.m.on_timer(Timer::Open),
            }
        }
    }
    d.pump().await;
    let mut handles_gone = false;
    while !d.m.is_finished() {
        tokio::select! {
            // Once every handle is gone the branch is disabled (a closed channel is always ready).
            cmd = cmd_rx.recv(), if !handles_gone => match cmd {
                Some(c) => d.command(c),
                // Every handle dropped: leave politely.
                None => {
                    handles_gone = true;
                    d.m.stop();
                }
            },
            frame = next_frame(&mut d.ws) => d.frame(frame),
            _ = tokio::time::sleep_until(d.timers.next()) => {
                for t in d.timers.due() {
                    d.m.on_timer(t);
                }
            }
        }
        d.pump().await;
    }
    if let Some(mut s) = d.ws.take() {
        let _ = s.close(None).await;
    }
    // Late callers get the final answer instead of hanging.
    outcome.set(d.w.failed.clone());
    let err = d.w.failed.clone().unwrap_or(Error::Closed);
    d.w.fail_all(&err);
    while let Ok(c) = cmd_rx.try_recv() {
        reply_closed(c, &err);
    }
}

/// A WebSocket connect error in words (the IO cause, e.g. "Connection refused", included).
pub(crate) fn describe_connect_error(e: &tokio_tungstenite::tungstenite::Error) -> String {
    use tokio_tungstenite::tungstenite::Error as E;
    match e {
        E::Http(resp) => {
            let body = resp
                .body()
                .as_deref()
                .map(String::from_utf8_lossy)
                .unwrap_or_default();
            let mut s = format!("HTTP {}", resp.status().as_u16());
            if let Some(m) = crate::rest::error_message(&body) {
                s.push_str(&format!(" ({m})"));
            }
            s
        }
        other => other.to_string(),
    }
}

/// The URL without its query (which may carry `token`/`password` connection params).
fn redacted(url: &str) -> String {
    url.split('?').next().unwrap_or(url).to_owned()
}

pub(crate) fn reply_closed(c: Cmd, err: &Error) {
    match c {
        Cmd::Connect(tx) => drop(tx.send(Err(err.clone()))),
        Cmd::PublishOffer(_, tx) => drop(tx.send(Err(err.clone()))),
        Cmd::RequestOffer(_, tx) => drop(tx.send(Err(err.clone()))),
        Cmd::SendAnswer(_, tx) | Cmd::WaitStarted(tx) | Cmd::Send(_, tx) => {
            drop(tx.send(Err(err.clone())))
        }
        Cmd::Stop(tx) => drop(tx.send(Ok(()))),
        _ => {}
    }
}

async fn next_frame(
    ws: &mut Option<Ws>,
) -> Option<Result<Message, tokio_tungstenite::tungstenite::Error>> {
    match ws {
        Some(s) => s.next().await,
        None => std::future::pending().await,
    }
}

impl Driver {
    fn frame(&mut self, f: Option<Result<Message, tokio_tungstenite::tungstenite::Error>>) {
        match f {
            Some(Ok(Message::Text(t))) => self.m.handle_ws_text(t.as_str()),
            Some(Ok(Message::Binary(_))) => self.m.handle_ws_binary(),
            Some(Ok(Message::Close(frame))) => {
                self.ws = None;
                let reason = frame.map(|f| {
                    format!(
                        "close code {}{}",
                        u16::from(f.code),
                        if f.reason.is_empty() {
                            String::new()
                        } else {
                            format!(": {}", f.reason)
                        }
                    )
                });
                self.m.handle_ws_closed(reason);
            }
            Some(Ok(_)) => {} // ping/pong/frame
            Some(Err(e)) => {
                self.ws = None;
                self.m.handle_ws_closed(Some(e.to_string()));
            }
            None => {
                self.ws = None;
                self.m.handle_ws_closed(None);
            }
        }
    }

    fn command(&mut self, c: Cmd) {
        if let Some(e) = &self.w.failed {
            return reply_closed(c, &e.clone());
        }
        match c {
            Cmd::Connect(tx) => match self.w.connected.take() {
                Some(c) => drop(tx.send(Ok(c))),
                None => self.w.connect = Some(tx),
            },
            Cmd::PublishOffer(sdp, tx) => match self.m.set_local_offer(sdp) {
                Ok(()) => self.w.answer = Some(tx),
                Err(e) => drop(tx.send(Err(e))),
            },
            Cmd::RequestOffer(_, tx) => {
                if !matches!(self.m.config().role, WsRole::Subscriber { .. }) {
                    let _ = tx.send(Err(Error::InvalidState {
                        action: "request an offer",
                        state: "publishing",
                    }));
                    return;
                }
                match self.w.offer_slot.take() {
                    Some(o) => drop(tx.send(Ok(o))),
                    None => self.w.offer = Some(tx),
                }
            }
            Cmd::SendAnswer(sdp, tx) => drop(tx.send(self.m.set_local_answer(sdp))),
            Cmd::Candidate(c) => self.m.add_local_candidate(c),
            Cmd::EndOfCandidates(_) => self.m.local_gathering_complete(),
            Cmd::WaitStarted(tx) => {
                if self.w.is_started {
                    let _ = tx.send(Ok(()));
                } else {
                    self.w.started.push(tx);
                }
            }
            Cmd::Send(msg, tx) => {
                self.m.send_message(msg);
                let _ = tx.send(Ok(()));
            }
            Cmd::Call(method, args, tx) => {
                let msg = self.w.new_call(method, args, tx);
                self.m.send_message(msg);
            }
            Cmd::DcOpen | Cmd::IceConnected => {}
            Cmd::DcText(t) => self.m.handle_dc_text(&t),
            Cmd::DcClosed => self.m.handle_dc_closed(),
            Cmd::Stop(tx) => {
                self.w.stop.push(tx);
                self.m.stop();
            }
        }
    }

    async fn pump(&mut self) {
        while let Some(o) = self.m.poll_output() {
            match o {
                WsOutput::SendWs(msg) => {
                    let text = msg.to_json();
                    tracing::debug!(op = msg.op(), "ws send");
                    let failed = match &mut self.ws {
                        Some(s) => s.send(Message::text(text)).await.err(),
                        None => None,
                    };
                    if let Some(e) = failed {
                        self.ws = None;
                        self.m.handle_ws_closed(Some(e.to_string()));
                    }
                }
                WsOutput::SendDc(msg) => self.emit(SignalEvent::SendOnDataChannel(msg.to_json())),
                WsOutput::CloseWs => {
                    if let Some(mut s) = self.ws.take() {
                        let _ = s.close(None).await;
                    }
                }
                WsOutput::ArmTimer(t, after) => self.timers.arm(t, after),
                WsOutput::CancelTimer(t) => self.timers.cancel(t),
                WsOutput::Event(e) => self.event(e),
            }
        }
    }

    fn emit(&self, e: SignalEvent) {
        let _ = self.ev.send(e);
    }

    fn event(&mut self, e: WsEvent) {
        match e {
            WsEvent::Connected => {
                if matches!(self.m.config().role, WsRole::Subscriber { .. }) {
                    self.w.resolve_connect(Connected::default());
                }
            }
            WsEvent::NeedOffer => self.w.resolve_connect(Connected::default()),
            WsEvent::RemoteAnswer {
                sdp,
                participant_id,
            } => {
                if let Some(tx) = self.w.answer.take() {
                    let _ = tx.send(Ok(Answer {
                        sdp,
                        participant_id,
                    }));
                }
            }
            WsEvent::RemoteOffer { sdp } => self.w.resolve_offer(sdp),
            WsEvent::RemoteCandidate(c) => self.emit(SignalEvent::RemoteCandidate(c)),
            WsEvent::RemoteEndOfCandidates => self.emit(SignalEvent::RemoteEndOfCandidates),
            WsEvent::TrickleCompleted => self.emit(SignalEvent::TrickleCompleted),
            WsEvent::Started => {
                self.w.resolve_started();
                self.emit(SignalEvent::Started);
            }
            WsEvent::ParticipantJoined {
                participant_id,
                group,
            } => self.emit(SignalEvent::ParticipantJoined {
                participant_id,
                group,
            }),
            WsEvent::TransportSwitched { .. } => self.emit(SignalEvent::TransportSwitched),
            WsEvent::Status(s) => self.emit(SignalEvent::Status(s)),
            WsEvent::Invoke(i) => self.emit(SignalEvent::Invoke(i)),
            WsEvent::RpcReply(r) => {
                if !self.w.resolve_call(&r) {
                    self.emit(SignalEvent::RpcReply(r));
                }
            }
            WsEvent::Message(m) => self.emit(SignalEvent::Message(m)),
            WsEvent::PublisherUnpublished => self.emit(SignalEvent::PublisherUnpublished),
            WsEvent::ConnectionClosed => self.emit(SignalEvent::ConnectionClosed),
            WsEvent::Warning(w) => {
                tracing::warn!("{w}");
                self.emit(SignalEvent::Warning(w))
            }
            WsEvent::Stopped => {
                self.w.resolve_stopped();
                self.emit(SignalEvent::Stopped);
            }
            WsEvent::Failed(info) => {
                let e = self
                    .m
                    .take_error()
                    .unwrap_or_else(|| Error::Transport(info.message.clone()));
                tracing::warn!("signalling failed: {e}");
                self.w.fail_all(&e);
                self.emit(SignalEvent::Failed(info));
            }
        }
    }
}
