//! The legacy WebSocket signalling flow for the three roles (§4.3–§4.5, §7.6 f) and the
//! message-transport switch (`DataChannel.Available` → `switchChannel`, either order vs the
//! start status).

use std::collections::VecDeque;
use std::time::Duration;

use super::{Timeouts, Timer};
use crate::dc::{self, StatusEvent};
use crate::error::Error;
use crate::ws::{
    self, CandidateData, ClientMessage, HandleAnswer, HandleCandidate, HandleOffer, IceCandidate,
    IceTransport, IsAvailable, JoinGroup, PublishMode, RequestOffer, SdpData, ServerMessage,
    SessionDescription,
};

/// Who the client is on this socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WsRole {
    Publisher,
    /// `request_id` = `subscriptionId` (default `subscriber-<hex>`).
    Subscriber {
        request_id: String,
    },
    /// `RTCConferenceParticipant` joining `group` (the room name).
    Participant {
        group: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WsConfig {
    pub role: WsRole,
    pub stream_name: String,
    pub transport: IceTransport,
    /// Skip `isAvailable` (SDK `bypassAvailable`).
    pub bypass_available: bool,
    pub mode: PublishMode,
    pub key_framerate_ms: u32,
    pub video_encoding: Option<String>,
    pub audio_encoding: Option<String>,
    /// The client-created data channel label; `None` = stay on the WebSocket.
    pub data_channel: Option<String>,
    /// Subscriber `doNotSwitch`.
    pub do_not_switch: bool,
    pub timeouts: Timeouts,
}

impl WsConfig {
    pub fn new(role: WsRole, stream_name: impl Into<String>) -> Self {
        WsConfig {
            role,
            stream_name: stream_name.into(),
            transport: IceTransport::Udp,
            bypass_available: false,
            mode: PublishMode::Live,
            key_framerate_ms: 3000,
            video_encoding: None,
            audio_encoding: None,
            data_channel: Some(dc::LABEL.into()),
            do_not_switch: false,
            timeouts: Timeouts::default(),
        }
    }
}

/// Where non-signalling messages currently go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageTransport {
    WebSocket,
    DataChannel,
}

/// Everything the WS flow reports.
#[derive(Debug, Clone, PartialEq)]
pub enum WsEvent {
    /// `NetConnection.Connect.Success`.
    Connected,
    /// Publisher/participant: create the peer connection and call [`WsSession::set_local_offer`].
    NeedOffer,
    /// Publisher/participant: apply the answer. `participant_id` replaces the stream name from now on.
    RemoteAnswer {
        sdp: String,
        participant_id: Option<String>,
    },
    /// Subscriber: apply the server's offer, then call [`WsSession::set_local_answer`].
    RemoteOffer {
        sdp: String,
    },
    RemoteCandidate(IceCandidate),
    RemoteEndOfCandidates,
    /// `NetConnection.ICE.TrickleCompleted`.
    TrickleCompleted,
    /// Publish/subscribe/join confirmed.
    Started,
    /// `participant <id> starting <group>`.
    ParticipantJoined {
        participant_id: String,
        group: String,
    },
    /// Messages now travel on the data channel; the WS is being closed on purpose.
    TransportSwitched {
        label: String,
    },
    /// BW, availability, statistics endpoint, stream-switch result, other statuses.
    Status(StatusEvent),
    /// A relayed `send()` / metadata.
    Invoke(dc::Invoke),
    RpcReply(dc::RpcReply),
    /// An object of no known shape (SDK: `WebRTC.Socket.Message` / `DataChannel.Message`).
    Message(serde_json::Map<String, serde_json::Value>),
    /// Subscriber: the publisher stopped (`NetStream.Play.UnpublishNotify`).
    PublisherUnpublished,
    /// `NetConnection.Connect.Closed`.
    ConnectionClosed,
    /// A problem that does not end a live session (malformed frame, server error while live).
    Warning(String),
    /// Unpublish/leave acknowledged, or the session ended cleanly.
    Stopped,
    /// The flow failed; the WS should be closed.
    Failed(ErrorInfo),
}

/// A cloneable, comparable error summary carried by events (the full [`Error`] is in
/// [`WsSession::error`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorInfo {
    pub message: String,
    pub invalid_name: bool,
    pub timeout: bool,
}

impl From<&Error> for ErrorInfo {
    fn from(e: &Error) -> Self {
        ErrorInfo {
            message: e.to_string(),
            invalid_name: matches!(e, Error::InvalidName(_)),
            timeout: matches!(
                e,
                Error::OpenTimeout(_) | Error::Timeout { .. } | Error::IceGatheringTimeout(_)
            ),
        }
    }
}

/// What the driver must do.
#[derive(Debug, Clone, PartialEq)]
pub enum WsOutput {
    /// Send a text frame on the WebSocket.
    SendWs(ClientMessage),
    /// Send a text frame on the `red5pro` data channel.
    SendDc(dc::ClientMessage),
    /// Close the WebSocket (after `switchChannel`, on stop or failure).
    CloseWs,
    ArmTimer(Timer, Duration),
    CancelTimer(Timer),
    Event(WsEvent),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Idle,
    Connecting,
    AwaitAvailability,
    AwaitLocalOffer,
    AwaitAnswer,
    AwaitRemoteOffer,
    AwaitLocalAnswer,
    Negotiating,
    AwaitStart,
    Live,
    Stopping,
    Stopped,
    Failed,
}

impl State {
    fn describe(self) -> &'static str {
        match self {
            State::Idle => "not started",
            State::Connecting => "connecting",
            State::AwaitAvailability => "checking the stream name",
            State::AwaitLocalOffer => "creating the offer",
            State::AwaitAnswer => "waiting for the answer",
            State::AwaitRemoteOffer => "waiting for the server's offer",
            State::AwaitLocalAnswer => "creating the answer",
            State::Negotiating => "exchanging ICE candidates",
            State::AwaitStart => "waiting for the stream to start",
            State::Live => "live",
            State::Stopping => "stopping",
            State::Stopped => "stopped",
            State::Failed => "failed",
        }
    }
}

/// The WS signalling state machine.
#[derive(Debug)]
pub struct WsSession {
    cfg: WsConfig,
    state: State,
    out: VecDeque<WsOutput>,
    /// Current signalling name (`participantId` after the conference answer).
    name: String,
    transport: MessageTransport,
    /// App messages sent before the WS was connected.
    queued: Vec<dc::ClientMessage>,
    /// Remote candidates that arrived before the remote description was handed out.
    early_candidates: Vec<ServerMessage>,
    remote_description_given: bool,
    local_candidates: usize,
    local_gathering_done: bool,
    /// `DataChannel.Available` seen, waiting for the start status before switching.
    dc_available: Option<String>,
    switch_armed: bool,
    error: Option<Error>,
}

impl WsSession {
    pub fn new(cfg: WsConfig) -> Self {
        let name = cfg.stream_name.clone();
        WsSession {
            cfg,
            state: State::Idle,
            out: VecDeque::new(),
            name,
            transport: MessageTransport::WebSocket,
            queued: Vec::new(),
            early_candidates: Vec::new(),
            remote_description_given: false,
            local_candidates: 0,
            local_gathering_done: false,
            dc_available: None,
            switch_armed: false,
            error: None,
        }
    }

    pub fn config(&self) -> &WsConfig {
        &self.cfg
    }

    /// The name used on the wire now (stream name, or `participantId` after the answer).
    pub fn signalling_name(&self) -> &str {
        &self.name
    }

    pub fn transport(&self) -> MessageTransport {
        self.transport
    }

    pub fn is_live(&self) -> bool {
        self.state == State::Live
    }

    pub fn is_finished(&self) -> bool {
        matches!(self.state, State::Stopped | State::Failed)
    }

    /// The error that failed the flow, if any.
    pub fn error(&self) -> Option<&Error> {
        self.error.as_ref()
    }

    pub fn take_error(&mut self) -> Option<Error> {
        self.error.take()
    }

    pub fn state_description(&self) -> &'static str {
        self.state.describe()
    }

    pub fn poll_output(&mut self) -> Option<WsOutput> {
        self.out.pop_front()
    }

    fn emit(&mut self, e: WsEvent) {
        self.out.push_back(WsOutput::Event(e));
    }

    fn send(&mut self, m: ClientMessage) {
        self.out.push_back(WsOutput::SendWs(m));
    }

    fn fail(&mut self, e: Error) {
        if self.is_finished() {
            return;
        }
        for t in [
            Timer::Open,
            Timer::Gathering,
            Timer::Start,
            Timer::Switch,
            Timer::Stop,
        ] {
            self.out.push_back(WsOutput::CancelTimer(t));
        }
        let info = ErrorInfo::from(&e);
        self.error = Some(e);
        self.state = State::Failed;
        self.out.push_back(WsOutput::CloseWs);
        self.emit(WsEvent::Failed(info));
    }

    fn unexpected(&mut self, m: &ServerMessage) {
        let e = Error::UnexpectedMessage {
            state: self.state.describe(),
            message: m.summary(),
        };
        self.fail(e);
    }

    // ---- inputs -----------------------------------------------------------------------------------

    /// Begin: the driver opens the WebSocket now; `Connect.Success` must arrive within the open timeout.
    pub fn start(&mut self) {
        if self.state != State::Idle {
            return;
        }
        self.state = State::Connecting;
        self.out
            .push_back(WsOutput::ArmTimer(Timer::Open, self.cfg.timeouts.open));
    }

    /// The WebSocket could not be opened (refused, TLS, HTTP error on upgrade).
    pub fn handle_connect_error(&mut self, url: &str, reason: &str) {
        let mut reason = reason.to_owned();
        if reason.contains("404") || reason.contains("403") {
            reason.push_str(" (is the Stream Manager WebSocket proxy enabled?)");
        }
        self.fail(Error::Connect {
            url: url.into(),
            reason,
        });
    }

    /// The WebSocket upgrade was answered with an HTTP error (`status`, response `body`).
    pub fn handle_upgrade_refused(&mut self, url: &str, status: u16, body: &str) {
        if crate::error::says_proxy_disabled(body) {
            return self.fail(Error::ProxyDisabled);
        }
        let mut reason = format!("the server answered HTTP {status} instead of a WebSocket");
        if let Some(m) = crate::rest::error_message(body) {
            reason.push_str(&format!(" ({m})"));
        }
        self.handle_connect_error(url, &reason);
    }

    /// A text frame from the WebSocket.
    pub fn handle_ws_text(&mut self, text: &str) {
        match ServerMessage::parse(text) {
            Ok(m) => self.handle_message(m, MessageTransport::WebSocket),
            Err(e) => self.bad_frame(e),
        }
    }

    /// A binary frame from the WebSocket (Red5 never sends one).
    pub fn handle_ws_binary(&mut self) {
        self.bad_frame(Error::BinaryFrame);
    }

    /// A text message from the `red5pro` data channel.
    pub fn handle_dc_text(&mut self, text: &str) {
        match dc::ServerMessage::parse(text) {
            Ok(m) => {
                self.handle_message(ServerMessage::Transport(m), MessageTransport::DataChannel)
            }
            Err(e) => self.bad_frame(e),
        }
    }

    fn bad_frame(&mut self, e: Error) {
        if matches!(self.state, State::Live | State::Stopping) {
            self.emit(WsEvent::Warning(e.to_string()));
        } else {
            self.fail(e);
        }
    }

    /// The WebSocket closed (by the server or the network).
    pub fn handle_ws_closed(&mut self, reason: Option<String>) {
        if self.transport == MessageTransport::DataChannel
            || self.switch_armed && self.state == State::Live
        {
            // Expected after switchChannel (the server may close it too).
            return;
        }
        match self.state {
            State::Stopping => self.finish_stop(),
            State::Stopped | State::Failed => {}
            State::Idle | State::Connecting => self.fail(Error::ConnectionRejected {
                code: "closed before NetConnection.Connect.Success".into(),
                detail: reason,
            }),
            s => self.fail(Error::ClosedByServer {
                state: s.describe(),
                reason,
            }),
        }
    }

    /// The data channel closed.
    pub fn handle_dc_closed(&mut self) {
        if self.transport == MessageTransport::DataChannel && !self.is_finished() {
            if self.state == State::Stopping {
                self.finish_stop();
            } else {
                self.emit(WsEvent::ConnectionClosed);
            }
        }
    }

    /// Publisher/participant: the local offer (already munged for sending).
    pub fn set_local_offer(&mut self, sdp: impl Into<String>) -> Result<(), Error> {
        if self.state != State::AwaitLocalOffer {
            return Err(Error::InvalidState {
                action: "send an offer",
                state: self.state.describe(),
            });
        }
        let data = SdpData {
            sdp: SessionDescription::offer(sdp),
        };
        let m = match &self.cfg.role {
            WsRole::Participant { group } => ClientMessage::JoinGroup(JoinGroup {
                group: group.clone(),
                stream_name: self.name.clone(),
                transport: Some(self.cfg.transport),
                data,
                video_encoding: self.cfg.video_encoding.clone(),
                audio_encoding: self.cfg.audio_encoding.clone(),
            }),
            _ => ClientMessage::HandleOffer(HandleOffer {
                stream: self.name.clone(),
                transport: Some(self.cfg.transport),
                data,
                video_encoding: self.cfg.video_encoding.clone(),
                audio_encoding: self.cfg.audio_encoding.clone(),
            }),
        };
        self.send(m);
        self.state = State::AwaitAnswer;
        self.out.push_back(WsOutput::ArmTimer(
            Timer::Gathering,
            self.cfg.timeouts.gathering,
        ));
        Ok(())
    }

    /// Subscriber: the local answer (stereo-munged).
    pub fn set_local_answer(&mut self, sdp: impl Into<String>) -> Result<(), Error> {
        if self.state != State::AwaitLocalAnswer {
            return Err(Error::InvalidState {
                action: "send an answer",
                state: self.state.describe(),
            });
        }
        self.send(ClientMessage::HandleAnswer(HandleAnswer {
            stream: self.name.clone(),
            request_id: self.request_id(),
            data: SdpData {
                sdp: SessionDescription::answer(sdp),
            },
        }));
        self.state = State::Negotiating;
        self.out.push_back(WsOutput::ArmTimer(
            Timer::Gathering,
            self.cfg.timeouts.gathering,
        ));
        Ok(())
    }

    fn request_id(&self) -> Option<String> {
        match &self.cfg.role {
            WsRole::Subscriber { request_id } => Some(request_id.clone()),
            _ => None,
        }
    }

    fn negotiating(&self) -> bool {
        matches!(
            self.state,
            State::AwaitAnswer | State::Negotiating | State::AwaitStart | State::Live
        )
    }

    /// A locally gathered candidate.
    pub fn add_local_candidate(&mut self, candidate: IceCandidate) {
        if !self.negotiating() || self.local_gathering_done || candidate.is_end() {
            if candidate.is_end() {
                self.local_gathering_complete();
            }
            return;
        }
        self.local_candidates += 1;
        self.send(ClientMessage::HandleCandidate(HandleCandidate {
            stream: Some(self.name.clone()),
            request_id: self.request_id(),
            data: CandidateData { candidate },
        }));
    }

    /// Local gathering finished: send the end marker (no `requestId`, as the SDK does).
    pub fn local_gathering_complete(&mut self) {
        if !self.negotiating() || self.local_gathering_done {
            return;
        }
        self.local_gathering_done = true;
        self.out.push_back(WsOutput::CancelTimer(Timer::Gathering));
        self.send(ClientMessage::HandleCandidate(HandleCandidate {
            stream: Some(self.name.clone()),
            request_id: None,
            data: CandidateData {
                candidate: IceCandidate::client_end_marker(),
            },
        }));
    }

    /// An app message (`send`, `mute`, `callAdapter`, `log`…) on the current transport. Before the
    /// WS is connected it is queued and flushed on `Connect.Success`.
    pub fn send_message(&mut self, m: dc::ClientMessage) {
        if self.is_finished() {
            return;
        }
        match (self.state, self.transport) {
            (State::Idle | State::Connecting, _) => self.queued.push(m),
            (_, MessageTransport::WebSocket) => self.send(ClientMessage::Transport(m)),
            (_, MessageTransport::DataChannel) => self.out.push_back(WsOutput::SendDc(m)),
        }
    }

    /// Unpublish / leave / unsubscribe.
    pub fn stop(&mut self) {
        match self.state {
            State::Stopping | State::Stopped | State::Failed => return,
            State::Idle => {
                self.state = State::Stopped;
                self.emit(WsEvent::Stopped);
                return;
            }
            _ => {}
        }
        let msg = match &self.cfg.role {
            WsRole::Publisher if self.state == State::Live => Some(dc::ClientMessage::Unpublish {
                stream: self.cfg.stream_name.clone(),
            }),
            WsRole::Participant { group } if self.state == State::Live => {
                Some(dc::ClientMessage::LeaveGroup {
                    group: group.clone(),
                    stream_name: Some(self.cfg.stream_name.clone()),
                })
            }
            _ => None,
        };
        for t in [Timer::Open, Timer::Gathering, Timer::Start, Timer::Switch] {
            self.out.push_back(WsOutput::CancelTimer(t));
        }
        match msg {
            Some(m) => {
                self.state = State::Stopping;
                match self.transport {
                    MessageTransport::WebSocket => self.send(ClientMessage::Transport(m)),
                    MessageTransport::DataChannel => self.out.push_back(WsOutput::SendDc(m)),
                }
                self.out
                    .push_back(WsOutput::ArmTimer(Timer::Stop, self.cfg.timeouts.stop));
            }
            // Subscribers send nothing (SDK); not-yet-live sessions just close.
            None => self.finish_stop(),
        }
    }

    fn finish_stop(&mut self) {
        if matches!(self.state, State::Stopped | State::Failed) {
            return;
        }
        self.state = State::Stopped;
        self.out.push_back(WsOutput::CancelTimer(Timer::Stop));
        if self.transport == MessageTransport::WebSocket {
            self.out.push_back(WsOutput::CloseWs);
        }
        self.emit(WsEvent::Stopped);
    }

    /// A timer armed earlier fired.
    pub fn on_timer(&mut self, t: Timer) {
        match t {
            Timer::Open if self.state == State::Connecting => {
                self.fail(Error::OpenTimeout(self.cfg.timeouts.open))
            }
            Timer::Gathering if self.negotiating() && !self.local_gathering_done => {
                if self.local_candidates == 0 {
                    self.fail(Error::IceGatheringTimeout(self.cfg.timeouts.gathering));
                } else {
                    // Go on with what was gathered, as the SDK does after its wait.
                    self.local_gathering_complete();
                }
            }
            Timer::Start if self.state == State::AwaitStart => self.fail(Error::Timeout {
                waiting_for: "the server to start the stream",
                after: self.cfg.timeouts.start,
            }),
            Timer::Switch if self.switch_armed && self.transport == MessageTransport::WebSocket => {
                self.do_switch()
            }
            Timer::Stop if self.state == State::Stopping => self.finish_stop(),
            _ => {}
        }
    }

    fn do_switch(&mut self) {
        let label = self
            .dc_available
            .clone()
            .unwrap_or_else(|| dc::LABEL.into());
        self.send(ClientMessage::Transport(dc::ClientMessage::SwitchChannel {
            label: label.clone(),
        }));
        self.out.push_back(WsOutput::CloseWs);
        self.transport = MessageTransport::DataChannel;
        self.emit(WsEvent::TransportSwitched { label });
    }

    fn maybe_arm_switch(&mut self) {
        if self.switch_armed
            || self.transport != MessageTransport::WebSocket
            || self.dc_available.is_none()
        {
            return;
        }
        if self.state == State::Live {
            self.switch_armed = true;
            self.out.push_back(WsOutput::ArmTimer(
                Timer::Switch,
                self.cfg.timeouts.switch_delay,
            ));
        }
    }

    fn deliver_remote_description(&mut self, e: WsEvent) {
        self.emit(e);
        self.remote_description_given = true;
        for m in std::mem::take(&mut self.early_candidates) {
            self.handle_message(m, MessageTransport::WebSocket);
        }
    }

    fn handle_message(&mut self, m: ServerMessage, from: MessageTransport) {
        if self.is_finished() {
            return;
        }
        match m {
            ServerMessage::IsAvailable(available) => {
                if self.state != State::AwaitAvailability {
                    return self.emit(WsEvent::Status(StatusEvent::Other));
                }
                match (&self.cfg.role, available) {
                    (WsRole::Subscriber { .. }, true) => self.request_offer(),
                    (WsRole::Subscriber { .. }, false) => self.fail(Error::InvalidName(format!(
                        "the stream \"{}\" is not available (nobody is publishing it)",
                        self.cfg.stream_name
                    ))),
                    (_, false) => {
                        self.state = State::AwaitLocalOffer;
                        self.emit(WsEvent::NeedOffer);
                    }
                    (_, true) => self.fail(Error::InvalidName(format!(
                        "the stream name \"{}\" already has a broadcast session",
                        self.cfg.stream_name
                    ))),
                }
            }
            ServerMessage::Sdp {
                sdp,
                participant_id,
            } => match (self.state, sdp.kind) {
                (State::AwaitAnswer, ws::SdpType::Answer) => {
                    if let Some(id) = &participant_id {
                        self.name = id.clone();
                    }
                    self.state = State::Negotiating;
                    self.deliver_remote_description(WsEvent::RemoteAnswer {
                        sdp: sdp.sdp,
                        participant_id,
                    });
                }
                (State::AwaitRemoteOffer, ws::SdpType::Offer) => {
                    self.state = State::AwaitLocalAnswer;
                    self.deliver_remote_description(WsEvent::RemoteOffer { sdp: sdp.sdp });
                }
                _ => self.unexpected(&ServerMessage::Sdp {
                    sdp,
                    participant_id,
                }),
            },
            m @ (ServerMessage::Candidate { .. } | ServerMessage::EndOfCandidates { .. }) => {
                if !self.remote_description_given {
                    if matches!(self.state, State::AwaitAnswer | State::AwaitRemoteOffer) {
                        self.early_candidates.push(m);
                        return;
                    }
                    return self.unexpected(&m);
                }
                match m {
                    ServerMessage::Candidate { candidate, .. } => {
                        self.emit(WsEvent::RemoteCandidate(candidate))
                    }
                    _ => self.emit(WsEvent::RemoteEndOfCandidates),
                }
            }
            ServerMessage::Transport(t) => self.handle_transport(t, from),
        }
    }

    fn request_offer(&mut self) {
        self.state = State::AwaitRemoteOffer;
        self.send(ClientMessage::RequestOffer(RequestOffer {
            stream: self.name.clone(),
            request_id: self.request_id(),
            transport: Some(self.cfg.transport),
            datachannel: Some(self.cfg.data_channel.is_some()),
            do_not_switch: Some(self.cfg.do_not_switch),
            video_encoding: self.cfg.video_encoding.clone(),
            audio_encoding: self.cfg.audio_encoding.clone(),
        }));
    }

    fn after_connected(&mut self) {
        self.out.push_back(WsOutput::CancelTimer(Timer::Open));
        self.emit(WsEvent::Connected);
        for m in std::mem::take(&mut self.queued) {
            self.send(ClientMessage::Transport(m));
        }
        if self.cfg.bypass_available {
            match self.cfg.role {
                WsRole::Subscriber { .. } => self.request_offer(),
                _ => {
                    self.state = State::AwaitLocalOffer;
                    self.emit(WsEvent::NeedOffer);
                }
            }
        } else {
            self.state = State::AwaitAvailability;
            let bundle = match self.cfg.role {
                WsRole::Subscriber { .. } => None,
                _ => Some(true),
            };
            self.send(ClientMessage::IsAvailable(IsAvailable {
                stream: self.name.clone(),
                bundle,
            }));
        }
    }

    fn on_trickle_completed(&mut self) {
        self.emit(WsEvent::TrickleCompleted);
        if self.state != State::Negotiating {
            return;
        }
        match &self.cfg.role {
            WsRole::Publisher => {
                self.send(ClientMessage::Publish(ws::Publish {
                    stream: self.name.clone(),
                    mode: Some(self.cfg.mode),
                    key_framerate: Some(self.cfg.key_framerate_ms),
                }));
                self.await_start();
            }
            WsRole::Subscriber { request_id } => {
                let request_id = Some(request_id.clone());
                self.send(ClientMessage::Subscribe(ws::Subscribe {
                    stream: self.cfg.stream_name.clone(),
                    request_id,
                }));
                self.await_start();
            }
            // SDK: no publish message; the participant is started right away.
            WsRole::Participant { .. } => self.go_live(),
        }
    }

    fn await_start(&mut self) {
        self.state = State::AwaitStart;
        self.out
            .push_back(WsOutput::ArmTimer(Timer::Start, self.cfg.timeouts.start));
    }

    fn go_live(&mut self) {
        self.out.push_back(WsOutput::CancelTimer(Timer::Start));
        self.state = State::Live;
        self.emit(WsEvent::Started);
        self.maybe_arm_switch();
    }

    fn handle_transport(&mut self, t: dc::ServerMessage, from: MessageTransport) {
        match t {
            dc::ServerMessage::Status(s) => self.handle_status(s, from),
            dc::ServerMessage::Invoke(i) => self.emit(WsEvent::Invoke(i)),
            dc::ServerMessage::RpcReply(r) => self.emit(WsEvent::RpcReply(r)),
            dc::ServerMessage::Other(o) => self.emit(WsEvent::Message(o)),
        }
    }

    fn handle_status(&mut self, s: dc::Status, _from: MessageTransport) {
        let ev = s.event();
        match ev {
            StatusEvent::ConnectSuccess => {
                if self.state == State::Connecting {
                    self.after_connected();
                }
            }
            StatusEvent::ConnectRejected | StatusEvent::ConnectFailed => {
                let code = s
                    .code
                    .clone()
                    .unwrap_or_else(|| "NetConnection.Connect.Rejected".into());
                self.fail(Error::ConnectionRejected {
                    code,
                    detail: s.message.or(s.description).or(s.detail),
                });
            }
            StatusEvent::TrickleCompleted => self.on_trickle_completed(),
            StatusEvent::DataChannelAvailable { label } => match &self.cfg.data_channel {
                Some(own) if self.transport == MessageTransport::WebSocket => {
                    if *own != label {
                        self.emit(WsEvent::Warning(format!(
                                "the server announced data channel \"{label}\" but ours is \"{own}\"; switching anyway"
                            )));
                    }
                    self.dc_available = Some(label);
                    self.maybe_arm_switch();
                }
                _ => self.emit(WsEvent::Status(StatusEvent::DataChannelAvailable { label })),
            },
            StatusEvent::Starting { ref name } => {
                let own = match self.cfg.role {
                    WsRole::Subscriber { .. } => &self.cfg.stream_name,
                    _ => &self.name,
                };
                if self.state == State::AwaitStart && name == own {
                    self.go_live();
                } else {
                    self.emit(WsEvent::Status(ev));
                }
            }
            StatusEvent::ParticipantStarting { participant, group } => {
                if self.state == State::Negotiating
                    && matches!(self.cfg.role, WsRole::Participant { .. })
                {
                    self.go_live();
                }
                self.emit(WsEvent::ParticipantJoined {
                    participant_id: participant,
                    group,
                });
            }
            StatusEvent::AlreadyStarting if self.state == State::AwaitStart => {
                self.fail(Error::AlreadyStarting {
                    stream: self.cfg.stream_name.clone(),
                })
            }
            StatusEvent::Stopping { ref name }
                if self.state == State::Stopping && *name == self.cfg.stream_name =>
            {
                self.finish_stop()
            }
            StatusEvent::LeavingGroup { .. } if self.state == State::Stopping => self.finish_stop(),
            StatusEvent::UnpublishNotify => self.emit(WsEvent::PublisherUnpublished),
            StatusEvent::ConnectClosed => {
                if self.state == State::Stopping {
                    self.finish_stop();
                } else {
                    self.emit(WsEvent::ConnectionClosed);
                }
            }
            StatusEvent::Error { code, message } => {
                if matches!(self.state, State::Live | State::Stopping) {
                    self.emit(WsEvent::Warning(format!(
                        "the server reported an error: {message}"
                    )));
                } else {
                    let not_found = code.as_deref() == Some(dc::code::PLAY_STREAM_NOT_FOUND);
                    if not_found {
                        self.fail(Error::InvalidName(format!(
                            "the stream \"{}\" was not found",
                            self.cfg.stream_name
                        )));
                    } else {
                        self.fail(Error::ServerError { code, message });
                    }
                }
            }
            other => self.emit(WsEvent::Status(other)),
        }
    }
}
