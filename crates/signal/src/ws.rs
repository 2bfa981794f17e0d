//! Legacy WebSocket signalling (§4, §7.6 f): `RTCPublisher`, `RTCSubscriber`,
//! `RTCConferenceParticipant` over the Stream Manager proxy or straight to a node.
//!
//! Client → server messages name the operation by their key (`{"handleOffer":"stream1",…}`);
//! server → client signalling is wrapped in `data`. Non-signalling messages (status, metadata, RPC)
//! are the message-transport vocabulary of [`crate::dc`] and appear here as
//! [`ServerMessage::Transport`] / [`ClientMessage::Transport`].

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use crate::dc::{self, Status};
use crate::error::{Error, Result};
use crate::json;

// ================================================================================================
// Shared pieces
// ================================================================================================

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SdpType {
    Offer,
    Answer,
    Pranswer,
    Rollback,
}

/// `{"type":"offer","sdp":"v=0…"}` (browsers may write `sdp` first; both parse).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionDescription {
    #[serde(rename = "type")]
    pub kind: SdpType,
    pub sdp: String,
}

impl SessionDescription {
    pub fn offer(sdp: impl Into<String>) -> Self {
        Self {
            kind: SdpType::Offer,
            sdp: sdp.into(),
        }
    }
    pub fn answer(sdp: impl Into<String>) -> Self {
        Self {
            kind: SdpType::Answer,
            sdp: sdp.into(),
        }
    }
}

/// An `RTCIceCandidate` JSON. Every field is optional so that both end markers parse:
/// the client's `{"type":"candidate","candidate":""}` and the server's `{}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IceCandidate {
    /// Only in the client end marker.
    #[serde(
        rename = "type",
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "json::lenient_string"
    )]
    pub kind: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "json::lenient_string"
    )]
    pub candidate: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "json::lenient_string"
    )]
    pub sdp_mid: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "json::lenient_u16"
    )]
    pub sdp_m_line_index: Option<u16>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "json::lenient_string"
    )]
    pub username_fragment: Option<String>,
}

impl IceCandidate {
    pub fn new(
        candidate: impl Into<String>,
        sdp_mid: Option<String>,
        sdp_m_line_index: Option<u16>,
    ) -> Self {
        IceCandidate {
            kind: None,
            candidate: Some(candidate.into()),
            sdp_mid,
            sdp_m_line_index,
            username_fragment: None,
        }
    }

    /// The client end-of-candidates marker `{"type":"candidate","candidate":""}`.
    pub fn client_end_marker() -> Self {
        IceCandidate {
            kind: Some("candidate".into()),
            candidate: Some(String::new()),
            ..Default::default()
        }
    }

    /// Both end markers: an empty object or an empty `candidate` string.
    pub fn is_end(&self) -> bool {
        self.candidate
            .as_deref()
            .is_none_or(|c| c.trim().is_empty())
    }

    /// `a=candidate:…` line content without the `a=` (accepts with or without the `candidate:` prefix).
    pub fn sdp_attribute(&self) -> Option<String> {
        let c = self.candidate.as_deref()?.trim();
        if c.is_empty() {
            return None;
        }
        Some(if c.starts_with("candidate:") {
            c.to_owned()
        } else {
            format!("candidate:{c}")
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IceTransport {
    #[default]
    Udp,
    Tcp,
}

impl IceTransport {
    pub fn as_str(self) -> &'static str {
        match self {
            IceTransport::Udp => "udp",
            IceTransport::Tcp => "tcp",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PublishMode {
    #[default]
    Live,
    Record,
    Append,
}

impl PublishMode {
    pub fn as_str(self) -> &'static str {
        match self {
            PublishMode::Live => "live",
            PublishMode::Record => "record",
            PublishMode::Append => "append",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SdpData {
    pub sdp: SessionDescription,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CandidateData {
    pub candidate: IceCandidate,
}

// ================================================================================================
// Client → server
// ================================================================================================

/// `{"isAvailable":"<stream>","bundle":true}` (publisher) / `{"isAvailable":"<stream>"}` (subscriber).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IsAvailable {
    #[serde(rename = "isAvailable")]
    pub stream: String,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "json::lenient_bool"
    )]
    pub bundle: Option<bool>,
}

/// `{"handleOffer":"<stream>","transport":"udp","data":{"sdp":{…}}[,"videoEncoding"][,"audioEncoding"]}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HandleOffer {
    #[serde(rename = "handleOffer")]
    pub stream: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transport: Option<IceTransport>,
    pub data: SdpData,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub video_encoding: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audio_encoding: Option<String>,
}

/// `{"joinGroup":"room1","streamName":"<stream>","transport":"udp","data":{"sdp":{…}}}` (§7.6 f).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JoinGroup {
    #[serde(rename = "joinGroup")]
    pub group: String,
    pub stream_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transport: Option<IceTransport>,
    pub data: SdpData,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub video_encoding: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audio_encoding: Option<String>,
}

/// `{"handleAnswer":"<stream>","requestId":"<id>","data":{"sdp":{…}}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HandleAnswer {
    #[serde(rename = "handleAnswer")]
    pub stream: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    pub data: SdpData,
}

/// `{"handleCandidate":"<stream>"[,"requestId"],"data":{"candidate":{…}}}`. The conference
/// participant's end marker has no `handleCandidate` key at all (`stream == None`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HandleCandidate {
    #[serde(
        rename = "handleCandidate",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub stream: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    pub data: CandidateData,
}

/// `{"requestOffer":"<stream>","requestId":"<id>","transport":"udp","datachannel":true,"doNotSwitch":false…}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestOffer {
    #[serde(rename = "requestOffer")]
    pub stream: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transport: Option<IceTransport>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "json::lenient_bool"
    )]
    pub datachannel: Option<bool>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "json::lenient_bool"
    )]
    pub do_not_switch: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub video_encoding: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audio_encoding: Option<String>,
}

/// `{"publish":"<stream>","mode":"live","keyFramerate":3000}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Publish {
    #[serde(rename = "publish")]
    pub stream: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<PublishMode>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_framerate: Option<u32>,
}

/// `{"subscribe":"<stream>","requestId":"<id>"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Subscribe {
    #[serde(rename = "subscribe")]
    pub stream: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

/// Everything a legacy WS client sends.
#[derive(Debug, Clone, PartialEq)]
pub enum ClientMessage {
    IsAvailable(IsAvailable),
    HandleOffer(HandleOffer),
    JoinGroup(JoinGroup),
    HandleAnswer(HandleAnswer),
    HandleCandidate(HandleCandidate),
    RequestOffer(RequestOffer),
    Publish(Publish),
    Subscribe(Subscribe),
    /// Message-transport messages sent on the WS (before the switch, or when there is no DC):
    /// `unpublish`, `leaveGroup`, `switchChannel`, `send`, `mute`, `callAdapter`, `log`.
    Transport(dc::ClientMessage),
}

impl ClientMessage {
    /// Parses one client text frame (lenient: unknown fields ignored).
    pub fn parse(text: &str) -> Result<Self> {
        Self::from_object(json::parse_object(text)?)
    }

    pub fn from_object(m: Map<String, Value>) -> Result<Self> {
        let has = |k: &str| m.contains_key(k);
        let v = || Value::Object(m.clone());
        if has("isAvailable") {
            json::from_value("isAvailable", v()).map(ClientMessage::IsAvailable)
        } else if has("handleOffer") {
            json::from_value("handleOffer", v()).map(ClientMessage::HandleOffer)
        } else if has("joinGroup") {
            json::from_value("joinGroup", v()).map(ClientMessage::JoinGroup)
        } else if has("handleAnswer") {
            json::from_value("handleAnswer", v()).map(ClientMessage::HandleAnswer)
        } else if has("handleCandidate")
            || m.get("data").is_some_and(|d| d.get("candidate").is_some())
        {
            json::from_value("handleCandidate", v()).map(ClientMessage::HandleCandidate)
        } else if has("requestOffer") {
            json::from_value("requestOffer", v()).map(ClientMessage::RequestOffer)
        } else if has("publish") {
            json::from_value("publish", v()).map(ClientMessage::Publish)
        } else if has("subscribe") {
            json::from_value("subscribe", v()).map(ClientMessage::Subscribe)
        } else {
            match dc::ClientMessage::try_from_object(&m) {
                Some(r) => r.map(ClientMessage::Transport),
                None => Err(Error::UnknownMessage {
                    keys: json::keys(&m),
                }),
            }
        }
    }

    /// Exact wire text.
    pub fn to_json(&self) -> String {
        json::to_string(self)
    }

    /// The operation name (for logs and errors).
    pub fn op(&self) -> &'static str {
        match self {
            ClientMessage::IsAvailable(_) => "isAvailable",
            ClientMessage::HandleOffer(_) => "handleOffer",
            ClientMessage::JoinGroup(_) => "joinGroup",
            ClientMessage::HandleAnswer(_) => "handleAnswer",
            ClientMessage::HandleCandidate(_) => "handleCandidate",
            ClientMessage::RequestOffer(_) => "requestOffer",
            ClientMessage::Publish(_) => "publish",
            ClientMessage::Subscribe(_) => "subscribe",
            ClientMessage::Transport(t) => match t {
                dc::ClientMessage::Send(_) => "send",
                dc::ClientMessage::Mute(_) => "mute",
                dc::ClientMessage::CallAdapter(_) => "callAdapter",
                dc::ClientMessage::Log(_) => "log",
                dc::ClientMessage::Unpublish { .. } => "unpublish",
                dc::ClientMessage::LeaveGroup { .. } => "leaveGroup",
                dc::ClientMessage::SwitchChannel { .. } => "switchChannel",
                dc::ClientMessage::Stats(_) => "stats",
            },
        }
    }
}

impl Serialize for ClientMessage {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        match self {
            ClientMessage::IsAvailable(m) => m.serialize(s),
            ClientMessage::HandleOffer(m) => m.serialize(s),
            ClientMessage::JoinGroup(m) => m.serialize(s),
            ClientMessage::HandleAnswer(m) => m.serialize(s),
            ClientMessage::HandleCandidate(m) => m.serialize(s),
            ClientMessage::RequestOffer(m) => m.serialize(s),
            ClientMessage::Publish(m) => m.serialize(s),
            ClientMessage::Subscribe(m) => m.serialize(s),
            ClientMessage::Transport(m) => m.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for ClientMessage {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let v = Value::deserialize(d)?;
        json::into_object(v)
            .and_then(Self::from_object)
            .map_err(serde::de::Error::custom)
    }
}

impl From<dc::ClientMessage> for ClientMessage {
    fn from(m: dc::ClientMessage) -> Self {
        ClientMessage::Transport(m)
    }
}

// ================================================================================================
// Server → client
// ================================================================================================

/// Everything a legacy WS server sends.
#[derive(Debug, Clone, PartialEq)]
pub enum ServerMessage {
    /// Top-level `{"isAvailable":bool}`: publisher proceeds on `false`, subscriber on `true`.
    IsAvailable(bool),
    /// `{"data":{"sdp":{…}[,"participantId":"<id>"]}}` — answer (publisher/participant) or offer (subscriber).
    Sdp {
        sdp: SessionDescription,
        participant_id: Option<String>,
    },
    /// `{"data":{["type":"candidate",]"candidate":{…}}}`; `typed` records whether `type` was present.
    Candidate {
        candidate: IceCandidate,
        typed: bool,
    },
    /// `{"data":{["type":"candidate",]"candidate":{}}}`.
    EndOfCandidates { typed: bool },
    /// Status, error, result, metadata relays, RPC replies, anything else.
    Transport(dc::ServerMessage),
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SdpPayload<'a> {
    sdp: &'a SessionDescription,
    #[serde(skip_serializing_if = "Option::is_none")]
    participant_id: Option<&'a str>,
}

#[derive(Serialize)]
struct CandidatePayload<'a> {
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    kind: Option<&'static str>,
    candidate: &'a IceCandidate,
}

#[derive(Serialize)]
struct Data<T> {
    data: T,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct IsAvailableReply {
    is_available: bool,
}

impl ServerMessage {
    // ---- constructors for servers (exact forms) ------------------------------------------------

    pub fn status(s: Status) -> Self {
        ServerMessage::Transport(dc::ServerMessage::Status(s))
    }

    /// `{"data":{"type":"status","code":"NetConnection.Connect.Success"}}` — sent right after the upgrade.
    pub fn connect_success() -> Self {
        Self::status(Status::with_code(dc::code::CONNECT_SUCCESS))
    }

    /// `{"data":{"type":"status","code":"NetConnection.Connect.Rejected"}}`.
    pub fn connect_rejected() -> Self {
        Self::status(Status::with_code(dc::code::CONNECT_REJECTED))
    }

    /// `{"data":{"type":"error","code":"NetConnection.Connect.Failed"}}`.
    pub fn connect_failed() -> Self {
        Self::status(Status {
            kind: Some("error".into()),
            code: Some(dc::code::CONNECT_FAILED.into()),
            ..Default::default()
        })
    }

    /// `{"data":{"type":"error","message":"…","detail":"…"}}`.
    pub fn error(message: impl Into<String>, detail: Option<String>) -> Self {
        Self::status(Status {
            kind: Some("error".into()),
            message: Some(message.into()),
            detail,
            ..Default::default()
        })
    }

    pub fn answer(sdp: impl Into<String>, participant_id: Option<String>) -> Self {
        ServerMessage::Sdp {
            sdp: SessionDescription::answer(sdp),
            participant_id,
        }
    }

    pub fn offer(sdp: impl Into<String>) -> Self {
        ServerMessage::Sdp {
            sdp: SessionDescription::offer(sdp),
            participant_id: None,
        }
    }

    /// `typed = true` is what real servers send (`"type":"candidate"`).
    pub fn candidate(candidate: IceCandidate, typed: bool) -> Self {
        ServerMessage::Candidate { candidate, typed }
    }

    /// `misspelt` selects the 2016 `TricleCompleted`.
    pub fn trickle_completed(misspelt: bool) -> Self {
        Self::status(Status::with_code(if misspelt {
            dc::code::TRICKLE_COMPLETED_OLD
        } else {
            dc::code::TRICKLE_COMPLETED
        }))
    }

    /// `{"data":{"type":"status"[,"code":…],"message":"<name> starting"}}`. Real servers seem to omit `code`.
    pub fn starting(name: &str, code: Option<&str>) -> Self {
        Self::status(Status {
            kind: Some("status".into()),
            code: code.map(str::to_owned),
            message: Some(format!("{name} starting")),
            ..Default::default()
        })
    }

    /// `{"data":{"type":"status"[,"code":…],"message":"<name> stopping"}}`.
    pub fn stopping(name: &str, code: Option<&str>) -> Self {
        Self::status(Status {
            kind: Some("status".into()),
            code: code.map(str::to_owned),
            message: Some(format!("{name} stopping")),
            ..Default::default()
        })
    }

    /// `"participant <id> starting <group>"`.
    pub fn participant_starting(participant_id: &str, group: &str) -> Self {
        Self::status(Status {
            kind: Some("status".into()),
            message: Some(format!("participant {participant_id} starting {group}")),
            ..Default::default()
        })
    }

    /// `"Leaving group <group>"`.
    pub fn leaving_group(group: &str) -> Self {
        Self::status(Status {
            kind: Some("status".into()),
            message: Some(format!("Leaving group {group}")),
            ..Default::default()
        })
    }

    /// `{"data":{"type":"status","code":"NetConnection.DataChannel.Available","description":"red5pro"}}`.
    pub fn data_channel_available(label: &str) -> Self {
        Self::status(Status::with_code(dc::code::DATA_CHANNEL_AVAILABLE).with_description(label))
    }

    /// The real form `{"data":{"status":"NetStream.Play.UnpublishNotify"}}`.
    pub fn unpublish_notify() -> Self {
        Self::status(Status {
            status: Some(dc::code::UNPUBLISH_NOTIFY.into()),
            ..Default::default()
        })
    }

    /// `{"data":{"type":"result","message":"Stream switch: Success"}}`.
    pub fn stream_switch_success() -> Self {
        Self::status(Status {
            kind: Some("result".into()),
            message: Some(dc::code::STREAM_SWITCH_SUCCESS.into()),
            ..Default::default()
        })
    }

    // ---- parsing -------------------------------------------------------------------------------

    /// Parses one server text frame (lenient).
    pub fn parse(text: &str) -> Result<Self> {
        Self::from_object(json::parse_object(text)?)
    }

    pub fn from_object(m: Map<String, Value>) -> Result<Self> {
        if let Some(v) = m.get("isAvailable") {
            return match json::truthy(v) {
                Some(b) => Ok(ServerMessage::IsAvailable(b)),
                None => Err(Error::InvalidMessage {
                    what: "isAvailable",
                    reason: format!("expected a boolean, got {}", json::kind(v)),
                }),
            };
        }
        if let Some(Value::Object(d)) = m.get("data") {
            if let Some(sdp) = d.get("sdp") {
                let sdp: SessionDescription = json::from_value("sdp", sdp.clone())?;
                let participant_id = d.get("participantId").and_then(|p| match p {
                    Value::String(s) => Some(s.clone()),
                    Value::Number(n) => Some(n.to_string()),
                    _ => None,
                });
                return Ok(ServerMessage::Sdp {
                    sdp,
                    participant_id,
                });
            }
            if let Some(c) = d.get("candidate") {
                let typed = d.get("type").and_then(Value::as_str) == Some("candidate");
                let candidate: IceCandidate = match c {
                    Value::Null => IceCandidate::default(),
                    other => json::from_value("candidate", other.clone())?,
                };
                return Ok(if candidate.is_end() {
                    ServerMessage::EndOfCandidates { typed }
                } else {
                    ServerMessage::Candidate { candidate, typed }
                });
            }
        }
        dc::ServerMessage::from_object(m).map(ServerMessage::Transport)
    }

    /// Exact wire text.
    pub fn to_json(&self) -> String {
        json::to_string(self)
    }

    /// The status carried, if any.
    pub fn as_status(&self) -> Option<&Status> {
        match self {
            ServerMessage::Transport(dc::ServerMessage::Status(s)) => Some(s),
            _ => None,
        }
    }

    /// A short description for errors and logs (never contains SDP bodies).
    pub fn summary(&self) -> String {
        match self {
            ServerMessage::IsAvailable(b) => format!("isAvailable={b}"),
            ServerMessage::Sdp { sdp, .. } => format!("{:?} SDP", sdp.kind).to_lowercase(),
            ServerMessage::Candidate { .. } => "ICE candidate".into(),
            ServerMessage::EndOfCandidates { .. } => "end of candidates".into(),
            ServerMessage::Transport(dc::ServerMessage::Status(s)) => {
                let mut t = String::from("status");
                for v in [&s.code, &s.message, &s.status].into_iter().flatten() {
                    t.push(' ');
                    t.push_str(v);
                }
                t
            }
            ServerMessage::Transport(dc::ServerMessage::Invoke(i)) => format!("send {}", i.method),
            ServerMessage::Transport(dc::ServerMessage::RpcReply(_)) => "RPC reply".into(),
            ServerMessage::Transport(dc::ServerMessage::Other(m)) => {
                format!("message with keys {}", json::keys(m))
            }
        }
    }
}

impl Serialize for ServerMessage {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        match self {
            ServerMessage::IsAvailable(b) => IsAvailableReply { is_available: *b }.serialize(s),
            ServerMessage::Sdp {
                sdp,
                participant_id,
            } => Data {
                data: SdpPayload {
                    sdp,
                    participant_id: participant_id.as_deref(),
                },
            }
            .serialize(s),
            ServerMessage::Candidate { candidate, typed } => Data {
                data: CandidatePayload {
                    kind: typed.then_some("candidate"),
                    candidate,
                },
            }
            .serialize(s),
            ServerMessage::EndOfCandidates { typed } => Data {
                data: CandidatePayload {
                    kind: typed.then_some("candidate"),
                    candidate: &IceCandidate::default(),
                },
            }
            .serialize(s),
            ServerMessage::Transport(t) => t.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for ServerMessage {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let v = Value::deserialize(d)?;
        json::into_object(v)
            .and_then(Self::from_object)
            .map_err(serde::de::Error::custom)
    }
}

impl From<dc::ServerMessage> for ServerMessage {
    fn from(m: dc::ServerMessage) -> Self {
        ServerMessage::Transport(m)
    }
}
