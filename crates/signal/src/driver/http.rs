//! The WHIP/WHEP driver: reqwest (rustls) around [`HttpSession`].

use tokio::sync::mpsc;

use super::timers::Timers;
use super::ws::reply_closed;
use super::{tls, Answer, Cmd, Connected, Handle, SignalEvent, Waiters};
use crate::error::Error;
use crate::flow::http::{
    HttpConfig, HttpEvent, HttpOutput, HttpRequest, HttpResponse, HttpSession,
};
use crate::whip::Kind;

/// [`super::Signalling`] over Red5 WHIP (publish) or Red5 WHEP (subscribe, server offer).
/// Build the endpoint with [`crate::urls::whip_sm2`] / [`crate::urls::whip_standalone`].
#[derive(Debug)]
pub struct WhipSignalling(pub(crate) Handle);

impl WhipSignalling {
    /// Spawns the driver task; OPTIONS is sent right away.
    pub fn spawn(cfg: HttpConfig) -> crate::Result<Self> {
        Self::spawn_with_tls(cfg, &tls::TlsOptions::default())
    }

    /// As [`WhipSignalling::spawn`], trusting extra certificates (or none).
    pub fn spawn_with_tls(cfg: HttpConfig, tls_opts: &tls::TlsOptions) -> crate::Result<Self> {
        let client = tls::http_client_with(tls_opts)?;
        let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
        let (ev_tx, ev_rx) = mpsc::unbounded_channel();
        let outcome = super::Outcome::default();
        tokio::spawn(run(
            client,
            HttpSession::new(cfg.clone()),
            cfg.kind,
            cmd_rx,
            ev_tx,
            outcome.clone(),
        ));
        Ok(WhipSignalling(Handle::new(cmd_tx, ev_rx, outcome)))
    }
}

super::forward_signalling!(WhipSignalling);

type Reply = (u64, Result<HttpResponse, String>);

struct Driver {
    m: HttpSession,
    kind: Kind,
    client: reqwest::Client,
    timers: Timers,
    w: Waiters,
    ev: mpsc::UnboundedSender<SignalEvent>,
    replies: mpsc::UnboundedSender<Reply>,
    discovered: Connected,
}

async fn run(
    client: reqwest::Client,
    m: HttpSession,
    kind: Kind,
    mut cmd_rx: mpsc::UnboundedReceiver<Cmd>,
    ev: mpsc::UnboundedSender<SignalEvent>,
    outcome: super::Outcome,
) {
    let (replies, mut reply_rx) = mpsc::unbounded_channel::<Reply>();
    let mut d = Driver {
        m,
        kind,
        client,
        timers: Timers::default(),
        w: Waiters::default(),
        ev,
        replies,
        discovered: Connected::default(),
    };
    d.m.start();
    d.pump();
    let mut handles_gone = false;
    while !d.m.is_finished() {
        tokio::select! {
            // Once every handle is gone the branch is disabled (a closed channel is always ready).
            cmd = cmd_rx.recv(), if !handles_gone => match cmd {
                Some(c) => d.command(c),
                None => {
                    handles_gone = true;
                    d.m.stop();
                }
            },
            Some((id, r)) = reply_rx.recv() => match r {
                Ok(resp) => d.m.handle_response(id, resp),
                Err(e) => d.m.handle_transport_error(id, &e),
            },
            _ = tokio::time::sleep_until(d.timers.next()) => {
                for t in d.timers.due() {
                    d.m.on_timer(t);
                }
            }
        }
        d.pump();
    }
    // A DELETE issued on failure still goes out (fire and forget, errors ignored by design).
    outcome.set(d.w.failed.clone());
    let err = d.w.failed.clone().unwrap_or(Error::Closed);
    d.w.fail_all(&err);
    while let Ok(c) = cmd_rx.try_recv() {
        reply_closed(c, &err);
    }
}

async fn perform(client: reqwest::Client, r: HttpRequest) -> Result<HttpResponse, String> {
    let method = reqwest::Method::from_bytes(r.method.as_bytes()).map_err(|e| e.to_string())?;
    let mut b = client.request(method, &r.url);
    if let Some(ct) = r.content_type {
        b = b.header(reqwest::header::CONTENT_TYPE, ct).body(r.body);
    }
    let resp = b.send().await.map_err(|e| describe_reqwest(&e))?;
    let status = resp.status().as_u16();
    let headers = resp
        .headers()
        .iter()
        .filter_map(|(n, v)| {
            v.to_str()
                .ok()
                .map(|v| (n.as_str().to_owned(), v.to_owned()))
        })
        .collect();
    let body = resp.text().await.map_err(|e| describe_reqwest(&e))?;
    Ok(HttpResponse {
        status,
        headers,
        body,
    })
}

/// reqwest's Display hides the cause; walk the chain for the useful part ("connection refused").
pub(crate) fn describe_reqwest(e: &reqwest::Error) -> String {
    let mut s = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(c) = src {
        s.push_str(": ");
        s.push_str(&c.to_string());
        src = c.source();
    }
    s
}

impl Driver {
    fn command(&mut self, c: Cmd) {
        if let Some(e) = &self.w.failed {
            return reply_closed(c, &e.clone());
        }
        match c {
            Cmd::Connect(tx) => match self.w.connected.take() {
                Some(c) => drop(tx.send(Ok(c))),
                None => self.w.connect = Some(tx),
            },
            Cmd::PublishOffer(sdp, tx) => {
                if self.kind != Kind::Whip {
                    let _ = tx.send(Err(Error::InvalidState {
                        action: "publish an offer",
                        state: "subscribing (WHEP)",
                    }));
                    return;
                }
                match self.m.set_local_offer(sdp) {
                    Ok(()) => self.w.answer = Some(tx),
                    Err(e) => drop(tx.send(Err(e))),
                }
            }
            Cmd::RequestOffer(info, tx) => {
                if self.kind != Kind::Whep {
                    let _ = tx.send(Err(Error::InvalidState {
                        action: "request an offer",
                        state: "publishing (WHIP)",
                    }));
                    return;
                }
                if let Some(o) = self.w.offer_slot.take() {
                    let _ = tx.send(Ok(o));
                    return;
                }
                // With `post_empty_offer` the POST is already out and this call is refused: fine.
                let _ = self.m.set_local_offer(info.unwrap_or_default());
                self.w.offer = Some(tx);
            }
            // Accepted = queued for PATCH; a failing PATCH fails the flow (seen by `wait_started`).
            // Waiting for the PATCH here would deadlock sessions that feed candidates afterwards.
            Cmd::SendAnswer(sdp, tx) => drop(tx.send(self.m.set_local_answer(sdp))),
            Cmd::Candidate(c) => self.m.add_local_candidate(&c),
            Cmd::EndOfCandidates(sdp) => self.m.local_gathering_complete(sdp),
            Cmd::WaitStarted(tx) => {
                if self.w.is_started {
                    let _ = tx.send(Ok(()));
                } else {
                    self.w.started.push(tx);
                }
            }
            Cmd::Send(msg, tx) => drop(tx.send(self.m.send_message(msg))),
            Cmd::Call(method, args, tx) => {
                // Register first so the id is known; refuse (no data channel) through the waiter.
                let (ctx, crx) = tokio::sync::oneshot::channel();
                let msg = self.w.new_call(method, args, ctx);
                let id = match &msg {
                    crate::dc::ClientMessage::CallAdapter(c) => c.id.clone(),
                    _ => None,
                };
                match self.m.send_message(msg) {
                    Ok(()) => {
                        tokio::spawn(async move {
                            let r = crx.await.unwrap_or(Err(Error::Closed));
                            let _ = tx.send(r);
                        });
                    }
                    Err(e) => {
                        if let Some(id) = id {
                            self.w.calls.remove(&id);
                        }
                        let _ = tx.send(Err(e));
                    }
                }
            }
            Cmd::DcOpen => self.m.data_channel_open(),
            Cmd::DcText(t) => self.m.handle_dc_text(&t),
            Cmd::DcClosed => self.m.handle_dc_closed(),
            Cmd::IceConnected => self.m.ice_connected(),
            Cmd::Stop(tx) => {
                self.w.stop.push(tx);
                self.m.stop();
            }
        }
    }

    fn pump(&mut self) {
        while let Some(o) = self.m.poll_output() {
            match o {
                HttpOutput::Request(r) => {
                    tracing::debug!(method = r.method, "whip/whep request");
                    let (client, replies) = (self.client.clone(), self.replies.clone());
                    tokio::spawn(async move {
                        let id = r.id;
                        let res = perform(client, r).await;
                        let _ = replies.send((id, res));
                    });
                }
                HttpOutput::SendDc(m) => self.emit(SignalEvent::SendOnDataChannel(m.to_json())),
                HttpOutput::ArmTimer(t, after) => self.timers.arm(t, after),
                HttpOutput::CancelTimer(t) => self.timers.cancel(t),
                HttpOutput::Event(e) => self.event(e),
            }
        }
    }

    fn emit(&self, e: SignalEvent) {
        let _ = self.ev.send(e);
    }

    fn event(&mut self, e: HttpEvent) {
        match e {
            HttpEvent::Discovered(d) => {
                self.discovered = Connected {
                    ice_servers: d.ice_servers.clone(),
                    session_host: d.session_host.clone(),
                };
                self.w.resolve_connect(self.discovered.clone());
                self.emit(SignalEvent::Discovered(d));
            }
            HttpEvent::NeedOffer => {}
            HttpEvent::RemoteAnswer { sdp } => {
                if let Some(tx) = self.w.answer.take() {
                    let _ = tx.send(Ok(Answer {
                        sdp,
                        participant_id: None,
                    }));
                }
            }
            HttpEvent::RemoteOffer { sdp } => self.w.resolve_offer(sdp),
            HttpEvent::RemoteCandidates(cs) => {
                for c in cs {
                    self.emit(SignalEvent::RemoteCandidate(c));
                }
            }
            HttpEvent::TrickleComplete => self.emit(SignalEvent::TrickleCompleted),
            HttpEvent::Started => {
                self.w.resolve_started();
                self.emit(SignalEvent::Started);
            }
            HttpEvent::Status(s) => self.emit(SignalEvent::Status(s)),
            HttpEvent::Invoke(i) => self.emit(SignalEvent::Invoke(i)),
            HttpEvent::RpcReply(r) => {
                if !self.w.resolve_call(&r) {
                    self.emit(SignalEvent::RpcReply(r));
                }
            }
            HttpEvent::Message(m) => self.emit(SignalEvent::Message(m)),
            HttpEvent::PublisherUnpublished => self.emit(SignalEvent::PublisherUnpublished),
            HttpEvent::ConnectionClosed => self.emit(SignalEvent::ConnectionClosed),
            HttpEvent::Warning(w) => self.emit(SignalEvent::Warning(w)),
            HttpEvent::Stopped => {
                self.w.resolve_stopped();
                self.emit(SignalEvent::Stopped);
            }
            HttpEvent::Failed(info) => {
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
