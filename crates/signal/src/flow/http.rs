//! WHIP publish and Red5 WHEP subscribe (§3.3–§3.6) as one sans-I/O machine: it emits the HTTP
//! requests to make and consumes their responses. The data channel (`red5pro`) carries the
//! message transport (§5) once open.

use std::collections::VecDeque;
use std::time::Duration;

use url::Url;

use super::ws::ErrorInfo;
use super::{Timeouts, Timer};
use crate::dc::{self, StatusEvent};
use crate::error::Error;
use crate::whip::{self, Discovery, Kind, Params, PostOptions, Request, SdpFrag};
use crate::ws::IceCandidate;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpConfig {
    pub kind: Kind,
    /// The endpoint URL (`…/endpoint/<stream>` or SM2 `…/proxy/whip|whep/<ctx>/<stream>`); for WHEP
    /// it already carries `?requestId=`.
    pub endpoint: Url,
    /// `connectionParams` in order (`nodeGroup`, `region`, `token`, `transcode`…).
    pub params: Params,
    /// `signal` (= data channel), mode, transport, keyFramerate, encodings, doNotSwitch.
    pub post: PostOptions,
    /// WHEP: POST an empty body instead of an informational offer (SDK14 `postEmptyOffer`).
    pub post_empty_offer: bool,
    /// WHIP: trickle candidates with PATCH (SDK15). `false` = the SDK14 alternative: the offer
    /// already carries every candidate (see [`crate::sdp::prepare_non_trickle_offer`]), no PATCH.
    pub trickle: bool,
    pub timeouts: Timeouts,
}

impl HttpConfig {
    pub fn new(kind: Kind, endpoint: Url) -> Self {
        HttpConfig {
            kind,
            endpoint,
            params: Vec::new(),
            post: PostOptions::default(),
            post_empty_offer: false,
            trickle: true,
            timeouts: Timeouts::default(),
        }
    }
}

/// An HTTP request to perform. Answer it with [`HttpSession::handle_response`] (same `id`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRequest {
    pub id: u64,
    pub request: Request,
    pub method: &'static str,
    pub url: String,
    pub content_type: Option<&'static str>,
    pub body: String,
}

/// What came back.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HttpResponse {
    pub status: u16,
    /// `(name, value)`; names in any case.
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl HttpResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum HttpEvent {
    /// OPTIONS answered: Session-Host, ICE servers (use them unless the app set its own), stats URL.
    Discovered(Discovery),
    /// WHIP: create the peer connection and call `set_local_offer`. WHEP: create the recvonly
    /// informational offer (not applied locally) and call `set_local_offer`.
    NeedOffer,
    /// WHIP: the answer.
    RemoteAnswer {
        sdp: String,
    },
    /// WHEP: Red5's server offer; apply it, create the answer, call `set_local_answer`.
    RemoteOffer {
        sdp: String,
    },
    /// Candidates the server put in a PATCH response (if any).
    RemoteCandidates(Vec<IceCandidate>),
    /// The sdpfrag PATCH succeeded (SDK: `WebRTC.IceTrickle.Complete`).
    TrickleComplete,
    /// Publish/subscribe started (data channel open, or ICE connected without one).
    Started,
    Status(StatusEvent),
    Invoke(dc::Invoke),
    RpcReply(dc::RpcReply),
    Message(serde_json::Map<String, serde_json::Value>),
    PublisherUnpublished,
    ConnectionClosed,
    Warning(String),
    Stopped,
    Failed(ErrorInfo),
}

#[derive(Debug, Clone, PartialEq)]
pub enum HttpOutput {
    Request(HttpRequest),
    SendDc(dc::ClientMessage),
    ArmTimer(Timer, Duration),
    CancelTimer(Timer),
    Event(HttpEvent),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Idle,
    Options,
    AwaitLocalOffer,
    Posting,
    AwaitLocalAnswer,
    PatchingAnswer,
    Gathering,
    PatchingTrickle,
    Connected,
    Deleting,
    Stopped,
    Failed,
}

impl State {
    fn describe(self) -> &'static str {
        match self {
            State::Idle => "not started",
            State::Options => "discovering the endpoint (OPTIONS)",
            State::AwaitLocalOffer => "creating the offer",
            State::Posting => "waiting for the POST response",
            State::AwaitLocalAnswer => "creating the answer",
            State::PatchingAnswer => "sending the answer",
            State::Gathering => "gathering ICE candidates",
            State::PatchingTrickle => "sending ICE candidates",
            State::Connected => "connected",
            State::Deleting => "ending the session",
            State::Stopped => "stopped",
            State::Failed => "failed",
        }
    }
}

#[derive(Debug)]
pub struct HttpSession {
    cfg: HttpConfig,
    state: State,
    out: VecDeque<HttpOutput>,
    next_id: u64,
    pending: Option<(u64, Request)>,
    discovery: Discovery,
    resource: Option<Url>,
    /// The SDP the local ICE credentials come from (WHIP offer / WHEP answer).
    local_sdp: Option<String>,
    local_candidates: Vec<String>,
    trickle_done: bool,
    local_gathering_finished: bool,
    dc_open: bool,
    ice_connected: bool,
    started: bool,
    queued: Vec<dc::ClientMessage>,
    error: Option<Error>,
}

impl HttpSession {
    pub fn new(cfg: HttpConfig) -> Self {
        HttpSession {
            cfg,
            state: State::Idle,
            out: VecDeque::new(),
            next_id: 1,
            pending: None,
            discovery: Discovery::default(),
            resource: None,
            local_sdp: None,
            local_candidates: Vec::new(),
            trickle_done: false,
            local_gathering_finished: false,
            dc_open: false,
            ice_connected: false,
            started: false,
            queued: Vec::new(),
            error: None,
        }
    }

    pub fn poll_output(&mut self) -> Option<HttpOutput> {
        self.out.pop_front()
    }

    pub fn error(&self) -> Option<&Error> {
        self.error.as_ref()
    }

    pub fn take_error(&mut self) -> Option<Error> {
        self.error.take()
    }

    pub fn is_finished(&self) -> bool {
        matches!(self.state, State::Stopped | State::Failed)
    }

    pub fn is_started(&self) -> bool {
        self.started
    }

    /// The resolved resource URL (after POST).
    pub fn resource(&self) -> Option<&Url> {
        self.resource.as_ref()
    }

    pub fn discovery(&self) -> &Discovery {
        &self.discovery
    }

    fn emit(&mut self, e: HttpEvent) {
        self.out.push_back(HttpOutput::Event(e));
    }

    fn request(
        &mut self,
        request: Request,
        method: &'static str,
        url: String,
        content_type: Option<&'static str>,
        body: String,
    ) {
        let id = self.next_id;
        self.next_id += 1;
        self.pending = Some((id, request));
        self.out.push_back(HttpOutput::Request(HttpRequest {
            id,
            request,
            method,
            url,
            content_type,
            body,
        }));
    }

    fn fail(&mut self, e: Error) {
        if self.is_finished() {
            return;
        }
        self.out
            .push_back(HttpOutput::CancelTimer(Timer::Gathering));
        let info = ErrorInfo::from(&e);
        self.error = Some(e);
        // Leave no session behind on the server when we already have one (errors ignored).
        if let Some(url) = self.resource_url() {
            self.request(Request::Delete, "DELETE", url, None, String::new());
        }
        self.pending = None;
        self.state = State::Failed;
        self.emit(HttpEvent::Failed(info));
    }

    fn resource_url(&self) -> Option<String> {
        let r = self.resource.as_ref()?;
        let p = whip::resource_params(&self.cfg.params, self.discovery.session_host.as_deref());
        Some(whip::append_query(r.as_str(), &p))
    }

    // ---- inputs -------------------------------------------------------------------------------------

    /// Send OPTIONS.
    pub fn start(&mut self) {
        if self.state != State::Idle {
            return;
        }
        self.state = State::Options;
        let url = whip::append_query(
            self.cfg.endpoint.as_str(),
            &whip::options_params(self.cfg.post.signal, &self.cfg.params),
        );
        self.request(Request::Options, "OPTIONS", url, None, String::new());
    }

    /// The request `id` could not be performed at all.
    pub fn handle_transport_error(&mut self, id: u64, reason: &str) {
        if self.pending.map(|(p, _)| p) != Some(id) {
            return;
        }
        let req = self.pending.map(|(_, r)| r);
        self.pending = None;
        if req == Some(Request::Delete) {
            return self.finish_stop();
        }
        self.fail(Error::Connect {
            url: self.cfg.endpoint.to_string(),
            reason: reason.to_owned(),
        });
    }

    pub fn handle_response(&mut self, id: u64, resp: HttpResponse) {
        let Some((pid, req)) = self.pending else {
            return;
        };
        if pid != id {
            return;
        }
        self.pending = None;
        let ok = (200..300).contains(&resp.status);
        if req == Request::Delete {
            return self.finish_stop();
        }
        if !ok {
            return self.fail(http_error(self.cfg.kind, req, resp.status, &resp.body));
        }
        match (req, self.state) {
            (Request::Options, State::Options) => {
                let d = Discovery::from_headers(
                    resp.headers.iter().map(|(n, v)| (n.as_str(), v.as_str())),
                );
                self.discovery = d.clone();
                self.emit(HttpEvent::Discovered(d));
                if self.cfg.kind == Kind::Whep && self.cfg.post_empty_offer {
                    self.post(String::new());
                } else {
                    self.state = State::AwaitLocalOffer;
                    self.emit(HttpEvent::NeedOffer);
                }
            }
            (Request::Post, State::Posting) => {
                match whip::resolve_resource(&self.cfg.endpoint, resp.header("location")) {
                    Ok(u) => self.resource = Some(u),
                    Err(e) => return self.fail(e),
                }
                if resp.body.trim().is_empty() {
                    return self.fail(Error::BadResponse {
                        what: "the WHIP/WHEP POST",
                        reason: "the server returned no SDP".into(),
                    });
                }
                match self.cfg.kind {
                    Kind::Whip => {
                        self.emit(HttpEvent::RemoteAnswer { sdp: resp.body });
                        if self.cfg.trickle {
                            self.begin_gathering();
                        } else {
                            self.trickle_done = true;
                            self.state = State::Connected;
                            self.emit(HttpEvent::TrickleComplete);
                            self.maybe_started();
                        }
                    }
                    Kind::Whep => {
                        self.state = State::AwaitLocalAnswer;
                        self.emit(HttpEvent::RemoteOffer { sdp: resp.body });
                    }
                }
            }
            (Request::PatchAnswer, State::PatchingAnswer) => self.begin_gathering(),
            (Request::PatchTrickle, State::PatchingTrickle) => {
                if let Ok(frag) = SdpFrag::parse(&resp.body) {
                    let c: Vec<IceCandidate> = frag
                        .candidates
                        .into_iter()
                        .map(|c| IceCandidate::new(c, Some("0".into()), Some(0)))
                        .collect();
                    if !c.is_empty() {
                        self.emit(HttpEvent::RemoteCandidates(c));
                    }
                }
                self.trickle_done = true;
                self.state = State::Connected;
                self.emit(HttpEvent::TrickleComplete);
                self.maybe_started();
            }
            _ => {}
        }
    }

    fn post(&mut self, body: String) {
        self.state = State::Posting;
        let host = self.discovery.session_host.clone();
        let params = match self.cfg.kind {
            Kind::Whip => whip::whip_post_params(&self.cfg.post, &self.cfg.params, host.as_deref()),
            Kind::Whep => whip::whep_post_params(&self.cfg.post, &self.cfg.params, host.as_deref()),
        };
        let url = whip::append_query(self.cfg.endpoint.as_str(), &params);
        self.request(
            Request::Post,
            "POST",
            url,
            Some(whip::CONTENT_TYPE_SDP),
            body,
        );
    }

    fn begin_gathering(&mut self) {
        self.state = State::Gathering;
        self.out.push_back(HttpOutput::ArmTimer(
            Timer::Gathering,
            self.cfg.timeouts.gathering,
        ));
        if self.local_gathering_finished {
            self.patch_trickle();
        }
    }

    /// WHIP: the local offer (bandwidth-munged, no candidates). WHEP: the informational offer.
    pub fn set_local_offer(&mut self, sdp: impl Into<String>) -> Result<(), Error> {
        if self.state != State::AwaitLocalOffer {
            return Err(Error::InvalidState {
                action: "post an offer",
                state: self.state.describe(),
            });
        }
        let sdp = sdp.into();
        if self.cfg.kind == Kind::Whip {
            self.local_sdp = Some(sdp.clone());
        }
        self.post(
            if self.cfg.kind == Kind::Whep && self.cfg.post_empty_offer {
                String::new()
            } else {
                sdp
            },
        );
        Ok(())
    }

    /// WHEP: the local answer (stereo-munged) — sent with PATCH `application/sdp`.
    pub fn set_local_answer(&mut self, sdp: impl Into<String>) -> Result<(), Error> {
        if self.state != State::AwaitLocalAnswer {
            return Err(Error::InvalidState {
                action: "send an answer",
                state: self.state.describe(),
            });
        }
        let sdp = sdp.into();
        self.local_sdp = Some(sdp.clone());
        self.state = State::PatchingAnswer;
        let url = self
            .resource_url()
            .unwrap_or_else(|| self.cfg.endpoint.to_string());
        self.request(
            Request::PatchAnswer,
            "PATCH",
            url,
            Some(whip::CONTENT_TYPE_SDP),
            sdp,
        );
        Ok(())
    }

    pub fn add_local_candidate(&mut self, c: &IceCandidate) {
        if let Some(a) = c.sdp_attribute() {
            if !self.local_candidates.contains(&a) {
                self.local_candidates.push(a);
            }
        }
    }

    /// Gathering finished. Pass the final local SDP when available (the SDK builds the sdpfrag
    /// from it, gathered port included); otherwise the fragment is built from the offer/answer
    /// and the candidates added so far.
    pub fn local_gathering_complete(&mut self, final_local_sdp: Option<String>) {
        if let Some(s) = final_local_sdp {
            self.local_sdp = Some(s);
        }
        self.local_gathering_finished = true;
        if self.state == State::Gathering {
            self.patch_trickle();
        }
    }

    fn patch_trickle(&mut self) {
        self.out
            .push_back(HttpOutput::CancelTimer(Timer::Gathering));
        let local = self.local_sdp.clone().unwrap_or_default();
        let mut frag = SdpFrag::from_local_sdp(&local);
        for c in &self.local_candidates {
            if !frag.candidates.contains(c) {
                frag.candidates.push(c.clone());
            }
        }
        if frag.candidates.is_empty() {
            return self.fail(Error::IceGatheringTimeout(self.cfg.timeouts.gathering));
        }
        self.state = State::PatchingTrickle;
        let url = self
            .resource_url()
            .unwrap_or_else(|| self.cfg.endpoint.to_string());
        self.request(
            Request::PatchTrickle,
            "PATCH",
            url,
            Some(whip::CONTENT_TYPE_SDPFRAG),
            frag.to_body(),
        );
    }

    pub fn on_timer(&mut self, t: Timer) {
        if t == Timer::Gathering && self.state == State::Gathering {
            // SDK15: after 5 s go on with what was gathered.
            self.patch_trickle();
        }
    }

    /// The `red5pro` data channel opened.
    pub fn data_channel_open(&mut self) {
        self.dc_open = true;
        for m in std::mem::take(&mut self.queued) {
            self.out.push_back(HttpOutput::SendDc(m));
        }
        self.maybe_started();
    }

    /// ICE/DTLS connected (the start signal when there is no data channel).
    pub fn ice_connected(&mut self) {
        self.ice_connected = true;
        self.maybe_started();
    }

    fn maybe_started(&mut self) {
        if self.started || !self.trickle_done || self.is_finished() {
            return;
        }
        let ready = if self.cfg.post.signal {
            self.dc_open
        } else {
            self.cfg.kind == Kind::Whip || self.ice_connected
        };
        if ready {
            self.started = true;
            self.emit(HttpEvent::Started);
        }
    }

    /// App message on the data channel (queued until it opens).
    pub fn send_message(&mut self, m: dc::ClientMessage) -> Result<(), Error> {
        if !self.cfg.post.signal {
            return Err(Error::InvalidState {
                action: "send a message",
                state: "running without a data channel (signal=false)",
            });
        }
        if self.dc_open {
            self.out.push_back(HttpOutput::SendDc(m));
        } else {
            self.queued.push(m);
        }
        Ok(())
    }

    pub fn handle_dc_text(&mut self, text: &str) {
        match dc::ServerMessage::parse(text) {
            Ok(dc::ServerMessage::Status(s)) => match s.event() {
                StatusEvent::UnpublishNotify => self.emit(HttpEvent::PublisherUnpublished),
                StatusEvent::ConnectClosed => self.emit(HttpEvent::ConnectionClosed),
                StatusEvent::Stopping { .. } if self.state == State::Deleting => {}
                ev => self.emit(HttpEvent::Status(ev)),
            },
            Ok(dc::ServerMessage::Invoke(i)) => self.emit(HttpEvent::Invoke(i)),
            Ok(dc::ServerMessage::RpcReply(r)) => self.emit(HttpEvent::RpcReply(r)),
            Ok(dc::ServerMessage::Other(o)) => self.emit(HttpEvent::Message(o)),
            Err(e) => self.emit(HttpEvent::Warning(e.to_string())),
        }
    }

    pub fn handle_dc_closed(&mut self) {
        if self.dc_open && !self.is_finished() && self.state != State::Deleting {
            self.emit(HttpEvent::ConnectionClosed);
        }
        self.dc_open = false;
    }

    /// Unpublish/unsubscribe: DELETE the resource (errors ignored), then `Stopped`.
    pub fn stop(&mut self) {
        match self.state {
            State::Deleting | State::Stopped | State::Failed => {}
            _ => match self.resource_url() {
                Some(url) => {
                    self.out
                        .push_back(HttpOutput::CancelTimer(Timer::Gathering));
                    self.state = State::Deleting;
                    self.request(Request::Delete, "DELETE", url, None, String::new());
                }
                None => {
                    self.pending = None;
                    self.finish_stop();
                }
            },
        }
    }

    fn finish_stop(&mut self) {
        if self.state == State::Failed || self.state == State::Stopped {
            return;
        }
        self.state = State::Stopped;
        self.emit(HttpEvent::Stopped);
    }
}

/// Maps an error status to a typed error with Red5's meaning and the server's own text.
pub fn http_error(kind: Kind, req: Request, status: u16, body: &str) -> Error {
    if crate::error::says_proxy_disabled(body) {
        return Error::ProxyDisabled;
    }
    let meaning = whip::status_message(kind, req, status)
        .map(str::to_owned)
        .unwrap_or_else(|| format!("unexpected status {status}"));
    // Red5 often sends the very text its status means; saying it twice reads like a bug.
    let server_message = crate::rest::error_message(body).filter(|s| !same_text(s, &meaning));
    if whip::is_invalid_name(req, status) {
        let mut m = meaning;
        if let Some(s) = &server_message {
            m.push_str(&format!(" ({s})"));
        }
        return Error::InvalidName(m);
    }
    Error::Http {
        what: req.describe(kind),
        status,
        meaning,
        server_message,
    }
}

/// Equal but for case, surrounding blanks and a final full stop.
fn same_text(a: &str, b: &str) -> bool {
    let norm = |s: &str| s.trim().trim_end_matches('.').trim().to_lowercase();
    norm(a) == norm(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_server_text_equal_to_the_meaning_is_not_repeated() {
        let e = http_error(
            Kind::Whep,
            Request::Post,
            409,
            "Stream is not available to playback.",
        );
        assert_eq!(
            e,
            Error::InvalidName("Stream is not available to playback.".into())
        );
        assert_eq!(e.to_string(), "Stream is not available to playback.");
        // Same text, other case and no full stop: still not repeated.
        let e = http_error(
            Kind::Whep,
            Request::Post,
            409,
            r#"{"error":"stream is not available to playback"}"#,
        );
        assert_eq!(e.to_string(), "Stream is not available to playback.");
        // A different server text is kept.
        let e = http_error(Kind::Whep, Request::Post, 409, "stream1 is not live");
        assert_eq!(
            e.to_string(),
            "Stream is not available to playback. (stream1 is not live)"
        );
    }

    #[test]
    fn http_errors_drop_a_server_text_equal_to_the_meaning() {
        let e = http_error(Kind::Whip, Request::Post, 412, "Invalid request body.");
        assert_eq!(
            e.to_string(),
            "publishing (WHIP offer) failed: Invalid request body. (HTTP 412)"
        );
        let e = http_error(Kind::Whip, Request::Post, 412, "body was empty");
        assert!(e.to_string().ends_with("(HTTP 412): body was empty"), "{e}");
    }
}
