//! The message transport (§5, §6): JSON on the `red5pro` data channel, and on the WebSocket before
//! the switch. Client → server [`ClientMessage`], server → client [`ServerMessage`], with the status
//! vocabulary shared with the WebSocket ([`Status`], [`StatusEvent`]) and the five metadata relay
//! forms A–E of FINDINGS.md ([`RelayForm`]).
//!
//! Parsing is lenient (unknown fields ignored, pretty-printed JSON fine, numbers-as-strings fine);
//! generation is exact (field order as the SDK/server write it, absent options omitted).

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::json;

/// The data channel label Red5 uses.
pub const LABEL: &str = "red5pro";

// ================================================================================================
// Client → server
// ================================================================================================

/// `{"send":{"method":"<name>","data":{…}}}` — stream data / AMF `send()`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Invocation {
    pub method: String,
    #[serde(default)]
    pub data: Value,
}

/// `{"mute":{"muteAudio":…}}` / `{"mute":{"muteVideo":…}}`; subscriber standby sets both.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Mute {
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "json::lenient_bool"
    )]
    pub mute_audio: Option<bool>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "json::lenient_bool"
    )]
    pub mute_video: Option<bool>,
}

/// `{"callAdapter":{"method":…,"arguments":[…]},"id":"<hex>","async":true}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallAdapter {
    #[serde(rename = "callAdapter")]
    pub call: AdapterCall,
    #[serde(deserialize_with = "json::lenient_string", default)]
    pub id: Option<String>,
    #[serde(rename = "async", default = "yes")]
    pub is_async: bool,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AdapterCall {
    pub method: String,
    #[serde(default)]
    pub arguments: Vec<Value>,
}

/// Log levels accepted by `{"log":…}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum LogLevel {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
    Fatal,
}

/// `{"log":"INFO","message":"…"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Log {
    pub log: LogLevel,
    #[serde(default)]
    pub message: String,
}

/// A stats report (SDK15 stats monitor, `type:"stats-report"`). Kept as JSON: its content is the
/// browser's RTCStats subset and varies.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatsReport {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(flatten)]
    pub rest: Map<String, Value>,
}

/// Everything a client sends on the message transport.
#[derive(Debug, Clone, PartialEq)]
pub enum ClientMessage {
    /// `send(method, data)`; `onMetaData` is the AMF metadata case.
    Send(Invocation),
    Mute(Mute),
    /// RPC; the reply carries the same `id`.
    CallAdapter(CallAdapter),
    Log(Log),
    /// `{"unpublish":"<stream>"}`.
    Unpublish {
        stream: String,
    },
    /// `{"leaveGroup":"<group>","streamName":"<stream>"}`; SDK11 omits `streamName`.
    LeaveGroup {
        group: String,
        stream_name: Option<String>,
    },
    /// `{"switchChannel":"red5pro"}` — sent on the WS just before closing it.
    SwitchChannel {
        label: String,
    },
    Stats(StatsReport),
}

#[derive(Serialize, Deserialize)]
struct SendWire {
    send: Invocation,
}
#[derive(Serialize, Deserialize)]
struct MuteWire {
    mute: Mute,
}
#[derive(Serialize)]
struct UnpublishWire<'a> {
    unpublish: &'a str,
}
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct LeaveGroupWire<'a> {
    leave_group: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    stream_name: Option<&'a str>,
}
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SwitchWire<'a> {
    switch_channel: &'a str,
}

impl ClientMessage {
    /// `send("onMetaData", {"metadata": text})` as the testbeds do (§6).
    pub fn metadata_text(text: impl Into<String>) -> Self {
        ClientMessage::Send(Invocation {
            method: "onMetaData".into(),
            data: serde_json::json!({ "metadata": text.into() }),
        })
    }

    pub fn send(method: impl Into<String>, data: Value) -> Self {
        ClientMessage::Send(Invocation {
            method: method.into(),
            data,
        })
    }

    pub fn call(id: impl Into<String>, method: impl Into<String>, arguments: Vec<Value>) -> Self {
        ClientMessage::CallAdapter(CallAdapter {
            call: AdapterCall {
                method: method.into(),
                arguments,
            },
            id: Some(id.into()),
            is_async: true,
        })
    }

    /// Subscriber stream switch (`callServer("switchStreams", [{path, isImmediate}])`); the server
    /// answers `{"data":{"type":"result","message":"Stream switch: Success"}}`.
    pub fn switch_streams(id: impl Into<String>, stream_guid: &str, immediate: bool) -> Self {
        Self::call(
            id,
            "switchStreams",
            vec![serde_json::json!({ "path": stream_guid, "isImmediate": immediate })],
        )
    }

    /// Subscriber standby: mute both (`{"mute":{"muteAudio":true,"muteVideo":true}}`).
    pub fn standby(on: bool) -> Self {
        ClientMessage::Mute(Mute {
            mute_audio: Some(on),
            mute_video: Some(on),
        })
    }

    /// Parses one client frame. Unknown shapes are an error naming their keys.
    pub fn parse(text: &str) -> Result<Self> {
        Self::from_object(json::parse_object(text)?)
    }

    pub(crate) fn try_from_object(m: &Map<String, Value>) -> Option<Result<Self>> {
        let str_of = |k: &str| m.get(k).and_then(Value::as_str).map(str::to_owned);
        let v = Value::Object(m.clone());
        Some(if m.contains_key("send") {
            json::from_value::<SendWire>("send", v).map(|w| ClientMessage::Send(w.send))
        } else if m.contains_key("mute") {
            json::from_value::<MuteWire>("mute", v).map(|w| ClientMessage::Mute(w.mute))
        } else if m.contains_key("callAdapter") {
            json::from_value("callAdapter", v).map(ClientMessage::CallAdapter)
        } else if m.contains_key("log") {
            json::from_value("log", v).map(ClientMessage::Log)
        } else if m.contains_key("unpublish") {
            match str_of("unpublish") {
                Some(stream) => Ok(ClientMessage::Unpublish { stream }),
                None => Err(invalid("unpublish", "`unpublish` must be the stream name")),
            }
        } else if m.contains_key("leaveGroup") {
            match str_of("leaveGroup") {
                Some(group) => Ok(ClientMessage::LeaveGroup {
                    group,
                    stream_name: str_of("streamName"),
                }),
                None => Err(invalid("leaveGroup", "`leaveGroup` must be the group name")),
            }
        } else if m.contains_key("switchChannel") {
            Ok(ClientMessage::SwitchChannel {
                label: str_of("switchChannel").unwrap_or_else(|| LABEL.into()),
            })
        } else if m.get("type").and_then(Value::as_str) == Some("stats-report") {
            json::from_value("stats-report", v).map(ClientMessage::Stats)
        } else {
            return None;
        })
    }

    pub(crate) fn from_object(m: Map<String, Value>) -> Result<Self> {
        Self::try_from_object(&m).unwrap_or_else(|| {
            Err(Error::UnknownMessage {
                keys: json::keys(&m),
            })
        })
    }

    /// Exact wire form.
    pub fn to_json(&self) -> String {
        json::to_string(self)
    }
}

fn invalid(what: &'static str, reason: &str) -> Error {
    Error::InvalidMessage {
        what,
        reason: reason.into(),
    }
}

impl Serialize for ClientMessage {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        match self {
            ClientMessage::Send(i) => SendWire { send: i.clone() }.serialize(s),
            ClientMessage::Mute(m) => MuteWire { mute: m.clone() }.serialize(s),
            ClientMessage::CallAdapter(c) => c.serialize(s),
            ClientMessage::Log(l) => l.serialize(s),
            ClientMessage::Unpublish { stream } => UnpublishWire { unpublish: stream }.serialize(s),
            ClientMessage::LeaveGroup { group, stream_name } => LeaveGroupWire {
                leave_group: group,
                stream_name: stream_name.as_deref(),
            }
            .serialize(s),
            ClientMessage::SwitchChannel { label } => SwitchWire {
                switch_channel: label,
            }
            .serialize(s),
            ClientMessage::Stats(r) => r.serialize(s),
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

// ================================================================================================
// Status vocabulary (shared with the WebSocket)
// ================================================================================================

/// Well-known status codes.
pub mod code {
    pub const CONNECT_SUCCESS: &str = "NetConnection.Connect.Success";
    pub const CONNECT_REJECTED: &str = "NetConnection.Connect.Rejected";
    pub const CONNECT_FAILED: &str = "NetConnection.Connect.Failed";
    pub const CONNECT_CLOSED: &str = "NetConnection.Connect.Closed";
    pub const TRICKLE_COMPLETED: &str = "NetConnection.ICE.TrickleCompleted";
    /// The 2016 server spelling, still accepted by the SDK.
    pub const TRICKLE_COMPLETED_OLD: &str = "NetConnection.ICE.TricleCompleted";
    pub const DATA_CHANNEL_AVAILABLE: &str = "NetConnection.DataChannel.Available";
    pub const INSUFFICIENT_BW: &str = "NetConnection.Publish.InsufficientBW";
    pub const SUFFICIENT_BW: &str = "NetConnection.Publish.SufficientBW";
    pub const RECOVERING_BW: &str = "NetConnection.Publish.RecoveringBW";
    pub const PUBLISH_IS_AVAILABLE: &str = "NetStream.Publish.IsAvailable";
    pub const UNPUBLISH_NOTIFY: &str = "NetStream.Play.UnpublishNotify";
    pub const STATISTICS_ENDPOINT: &str = "Application.Statistics.Endpoint";
    pub const PUBLISH_START: &str = "NetStream.Publish.Start";
    pub const PLAY_START: &str = "NetStream.Play.Start";
    pub const UNPUBLISH_SUCCESS: &str = "NetStream.Unpublish.Success";
    pub const PLAY_STREAM_NOT_FOUND: &str = "NetStream.Play.StreamNotFound";
    pub const STREAM_FAILED: &str = "NetStream.Failed";
    /// Message text of the stream-switch result.
    pub const STREAM_SWITCH_SUCCESS: &str = "Stream switch: Success";
}

/// The body of every `{"data":{…}}` status, error and result message.
///
/// Field order is the generation order: `type, code, message, description, detail, status`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    /// `"status"`, `"error"`, `"result"`; absent in the real UnpublishNotify.
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
    pub code: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "json::lenient_string"
    )]
    pub message: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "json::lenient_string"
    )]
    pub description: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "json::lenient_string"
    )]
    pub detail: Option<String>,
    /// Real servers put UnpublishNotify here: `{"data":{"status":"NetStream.Play.UnpublishNotify"}}`.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "json::lenient_string"
    )]
    pub status: Option<String>,
    /// `Application.Statistics.Endpoint` carries the stats URL here.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "json::lenient_string"
    )]
    pub statistics: Option<String>,
}

/// What a [`Status`] means, classified as the SDK does (and as red5-server-side.md recommends).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StatusEvent {
    ConnectSuccess,
    ConnectRejected,
    ConnectFailed,
    /// `NetConnection.Connect.Closed` (data channel).
    ConnectClosed,
    TrickleCompleted,
    DataChannelAvailable {
        label: String,
    },
    /// `"<name> starting"`; `name` must equal the own stream name to count as started.
    Starting {
        name: String,
    },
    /// `"… already start…"`: a retryable state, not success.
    AlreadyStarting,
    /// `"<name> stopping"`.
    Stopping {
        name: String,
    },
    /// `"participant <id> starting <group>"`.
    ParticipantStarting {
        participant: String,
        group: String,
    },
    /// `"Leaving group <group>"`.
    LeavingGroup {
        group: String,
    },
    UnpublishNotify,
    InsufficientBandwidth,
    SufficientBandwidth,
    RecoveringBandwidth,
    /// `NetStream.Publish.IsAvailable`.
    PublishAvailable,
    StatisticsEndpoint {
        url: Option<String>,
    },
    /// `{"type":"result","message":"Stream switch: Success"}`.
    StreamSwitchSuccess,
    /// `type:"error"` (or a failure code) with the best human text available.
    Error {
        code: Option<String>,
        message: String,
    },
    /// Anything else (SDK: `Publish.Status` / `Subscribe.Status`).
    Other,
}

impl Status {
    pub fn with_code(code: &str) -> Self {
        Status {
            kind: Some("status".into()),
            code: Some(code.into()),
            ..Default::default()
        }
    }

    pub fn with_message(mut self, m: impl Into<String>) -> Self {
        self.message = Some(m.into());
        self
    }

    pub fn with_description(mut self, d: impl Into<String>) -> Self {
        self.description = Some(d.into());
        self
    }

    fn is(&self, c: &str) -> bool {
        self.code.as_deref() == Some(c)
    }

    fn code_ends(&self, suffix: &str) -> bool {
        self.code.as_deref().is_some_and(|c| c.ends_with(suffix))
    }

    /// Classifies the status (lenient: code, status and message are all consulted).
    pub fn event(&self) -> StatusEvent {
        use StatusEvent as E;
        let n = code::UNPUBLISH_NOTIFY;
        if self.is(n) || self.status.as_deref() == Some(n) || self.message.as_deref() == Some(n) {
            return E::UnpublishNotify;
        }
        if self.is(code::CONNECT_SUCCESS) {
            return E::ConnectSuccess;
        }
        if self.is(code::CONNECT_REJECTED) {
            return E::ConnectRejected;
        }
        if self.is(code::CONNECT_FAILED) {
            return E::ConnectFailed;
        }
        if self.is(code::CONNECT_CLOSED) {
            return E::ConnectClosed;
        }
        if self.is(code::TRICKLE_COMPLETED) || self.is(code::TRICKLE_COMPLETED_OLD) {
            return E::TrickleCompleted;
        }
        if self.is(code::DATA_CHANNEL_AVAILABLE) {
            return E::DataChannelAvailable {
                label: self.description.clone().unwrap_or_else(|| LABEL.into()),
            };
        }
        if self.code_ends(".InsufficientBW") {
            return E::InsufficientBandwidth;
        }
        if self.code_ends(".SufficientBW") {
            return E::SufficientBandwidth;
        }
        if self.code_ends(".RecoveringBW") {
            return E::RecoveringBandwidth;
        }
        if self.is(code::PUBLISH_IS_AVAILABLE) {
            return E::PublishAvailable;
        }
        if self.is(code::STATISTICS_ENDPOINT) {
            return E::StatisticsEndpoint {
                url: self.statistics.clone(),
            };
        }
        let kind = self.kind.as_deref().unwrap_or("");
        if kind.eq_ignore_ascii_case("error") {
            let message = self
                .message
                .clone()
                .or_else(|| self.detail.clone())
                .or_else(|| self.description.clone())
                .or_else(|| self.code.clone())
                .unwrap_or_else(|| "unknown error".into());
            return E::Error {
                code: self.code.clone(),
                message,
            };
        }
        if let Some(msg) = self.message.as_deref() {
            if kind.eq_ignore_ascii_case("result") && msg == code::STREAM_SWITCH_SUCCESS {
                return E::StreamSwitchSuccess;
            }
            if let Some(ev) = classify_message(msg) {
                return ev;
            }
        }
        if self.is(code::PLAY_STREAM_NOT_FOUND) || self.is(code::STREAM_FAILED) {
            return E::Error {
                code: self.code.clone(),
                message: self
                    .message
                    .clone()
                    .unwrap_or_else(|| self.code.clone().unwrap_or_default()),
            };
        }
        E::Other
    }
}

/// The SDK's regexes, emulated: `/participant (.*) starting (.*)/i`, `/Leaving group (.*)/i`,
/// `/already start/`, `/(.*) starting/i`, `/(.*) stopping/i` (greedy: the last occurrence).
fn classify_message(msg: &str) -> Option<StatusEvent> {
    let lower = msg.to_ascii_lowercase();
    if let Some(rest) = lower
        .strip_prefix("participant ")
        .map(|_| &msg["participant ".len()..])
    {
        let rl = rest.to_ascii_lowercase();
        if let Some(i) = rl.rfind(" starting ") {
            return Some(StatusEvent::ParticipantStarting {
                participant: rest[..i].to_owned(),
                group: rest[i + " starting ".len()..].to_owned(),
            });
        }
    }
    if let Some(i) = lower.find("leaving group ") {
        return Some(StatusEvent::LeavingGroup {
            group: msg[i + "leaving group ".len()..].to_owned(),
        });
    }
    if msg.contains("already start") {
        return Some(StatusEvent::AlreadyStarting);
    }
    if let Some(i) = lower.rfind(" starting") {
        return Some(StatusEvent::Starting {
            name: msg[..i].to_owned(),
        });
    }
    if let Some(i) = lower.rfind(" stopping") {
        return Some(StatusEvent::Stopping {
            name: msg[..i].to_owned(),
        });
    }
    None
}

// ================================================================================================
// Server → client
// ================================================================================================

/// How a `send()` / metadata relay was (or is to be) written. See FINDINGS.md.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum RelayForm {
    /// `{"type":"metadata","method":m,"data":d}` — fires on every SDK path.
    A,
    /// `{"send":{"method":m,"data":d},"senderName":s,"dcLabel":l}` — what real servers send on the DC.
    B,
    /// `{"method":m,"data":d}`.
    C,
    /// `{"type":"metadata","data":d}` (no method: metadata).
    D,
    /// `{"type":"metadata","metadata":d}` (WS subscriber only).
    E,
}

impl RelayForm {
    pub const ALL: [RelayForm; 5] = [
        RelayForm::A,
        RelayForm::B,
        RelayForm::C,
        RelayForm::D,
        RelayForm::E,
    ];
}

/// A relayed `send()` invocation (metadata or any other method), whatever form it came in.
#[derive(Debug, Clone, PartialEq)]
pub struct Invoke {
    /// Method name; forms D and E carry none and mean `onMetaData`.
    pub method: String,
    pub data: Value,
    pub sender_name: Option<String>,
    pub dc_label: Option<String>,
    pub form: RelayForm,
}

impl Invoke {
    pub fn metadata(data: Value) -> Self {
        Invoke {
            method: "onMetaData".into(),
            data,
            sender_name: None,
            dc_label: None,
            form: RelayForm::A,
        }
    }

    pub fn is_metadata(&self) -> bool {
        self.method == "onMetaData"
    }

    /// The exact wire text in `form` (D and E drop the method).
    pub fn to_json_as(&self, form: RelayForm) -> String {
        json::to_string(&InvokeWire {
            inv: self,
            form,
            keep_sender: false,
        })
    }
}

struct InvokeWire<'a> {
    inv: &'a Invoke,
    form: RelayForm,
    /// Forms A/C: also write `senderName`/`dcLabel` (re-serialising a parsed message).
    keep_sender: bool,
}

impl Serialize for InvokeWire<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let i = self.inv;
        let mut m = s.serialize_map(None)?;
        match self.form {
            RelayForm::A => {
                m.serialize_entry("type", "metadata")?;
                m.serialize_entry("method", &i.method)?;
                m.serialize_entry("data", &i.data)?;
                if self.keep_sender {
                    extras(&mut m, i)?;
                }
            }
            RelayForm::B => {
                m.serialize_entry(
                    "send",
                    &Invocation {
                        method: i.method.clone(),
                        data: i.data.clone(),
                    },
                )?;
                if let Some(n) = &i.sender_name {
                    m.serialize_entry("senderName", n)?;
                }
                if let Some(l) = &i.dc_label {
                    m.serialize_entry("dcLabel", l)?;
                }
            }
            RelayForm::C => {
                m.serialize_entry("method", &i.method)?;
                m.serialize_entry("data", &i.data)?;
                if self.keep_sender {
                    extras(&mut m, i)?;
                }
            }
            RelayForm::D => {
                m.serialize_entry("type", "metadata")?;
                m.serialize_entry("data", &i.data)?;
            }
            RelayForm::E => {
                m.serialize_entry("type", "metadata")?;
                m.serialize_entry("metadata", &i.data)?;
            }
        }
        m.end()
    }
}

/// `senderName`/`dcLabel` after the payload, when known (forms A and C carry them only if set).
fn extras<M: serde::ser::SerializeMap>(m: &mut M, i: &Invoke) -> std::result::Result<(), M::Error> {
    if let Some(n) = &i.sender_name {
        m.serialize_entry("senderName", n)?;
    }
    if let Some(l) = &i.dc_label {
        m.serialize_entry("dcLabel", l)?;
    }
    Ok(())
}

/// Reply to a `callAdapter`: `{"id":…,"async":true,"data":…}` or `…"error":…}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RpcReply {
    #[serde(deserialize_with = "json::lenient_string", default)]
    pub id: Option<String>,
    #[serde(rename = "async", default, deserialize_with = "lenient_bool_or_false")]
    pub is_async: bool,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present"
    )]
    pub data: Option<Value>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present"
    )]
    pub error: Option<Value>,
}

fn lenient_bool_or_false<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<bool, D::Error> {
    json::lenient_bool(d).map(|b| b.unwrap_or(false))
}

/// A key that is present (even with `null`) is `Some`.
fn present<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

impl RpcReply {
    pub fn ok(id: impl Into<String>, data: Value) -> Self {
        RpcReply {
            id: Some(id.into()),
            is_async: true,
            data: Some(data),
            error: None,
        }
    }

    pub fn err(id: impl Into<String>, error: Value) -> Self {
        RpcReply {
            id: Some(id.into()),
            is_async: true,
            data: None,
            error: Some(error),
        }
    }

    /// `Ok(data)` or `Err(text)`; SDK15 also treats `data.type=="error"` as a rejection.
    pub fn result(&self) -> std::result::Result<Value, String> {
        if let Some(e) = self.error.as_ref().filter(|e| !e.is_null()) {
            return Err(text_of(e));
        }
        let data = self.data.clone().unwrap_or(Value::Null);
        if data.get("type").and_then(Value::as_str) == Some("error") {
            return Err(text_of(&data));
        }
        Ok(data)
    }
}

fn text_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Object(o) => ["message", "detail", "description", "code", "error"]
            .iter()
            .find_map(|k| o.get(*k).and_then(Value::as_str).map(str::to_owned))
            .unwrap_or_else(|| v.to_string()),
        other => other.to_string(),
    }
}

/// Everything a server sends on the message transport (and the non-signalling part of the WS).
#[derive(Debug, Clone, PartialEq)]
pub enum ServerMessage {
    /// `{"data":{"type":"status"|"error"|"result",…}}` and the bare `{"data":{"status":…}}`.
    Status(Status),
    /// A relayed `send()` / metadata in any of the forms A–E.
    Invoke(Invoke),
    RpcReply(RpcReply),
    /// A JSON object of no known shape (the SDK's `WebRTC.DataChannel.Message`).
    Other(Map<String, Value>),
}

#[derive(Serialize, Deserialize)]
struct DataWire<T> {
    data: T,
}

impl ServerMessage {
    pub fn status(s: Status) -> Self {
        ServerMessage::Status(s)
    }

    /// Parses one frame (lenient).
    pub fn parse(text: &str) -> Result<Self> {
        Self::from_object(json::parse_object(text)?)
    }

    /// Classifies an object in the SDK's order (§5.2), RPC replies first because they are unambiguous.
    pub fn from_object(m: Map<String, Value>) -> Result<Self> {
        let has = |k: &str| m.contains_key(k);
        if has("id")
            && (has("async") || has("error") || has("data"))
            && !has("method")
            && !has("send")
        {
            return json::from_value("rpc reply", Value::Object(m)).map(ServerMessage::RpcReply);
        }
        let is_metadata = m
            .get("type")
            .and_then(Value::as_str)
            .is_some_and(|t| t.eq_ignore_ascii_case("metadata"));
        if let Some(method) = m.get("method").and_then(Value::as_str) {
            return Ok(ServerMessage::Invoke(Invoke {
                method: method.to_owned(),
                data: m.get("data").cloned().unwrap_or(Value::Null),
                sender_name: m
                    .get("senderName")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
                dc_label: m.get("dcLabel").and_then(Value::as_str).map(str::to_owned),
                form: if is_metadata {
                    RelayForm::A
                } else {
                    RelayForm::C
                },
            }));
        }
        if let Some(send) = m.get("send") {
            let inv: Invocation = json::from_value("send relay", send.clone())?;
            return Ok(ServerMessage::Invoke(Invoke {
                method: inv.method,
                data: inv.data,
                sender_name: m
                    .get("senderName")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
                dc_label: m.get("dcLabel").and_then(Value::as_str).map(str::to_owned),
                form: RelayForm::B,
            }));
        }
        if is_metadata {
            let (data, form) = match (m.get("data"), m.get("metadata")) {
                (Some(d), _) => (d.clone(), RelayForm::D),
                (None, Some(md)) => (md.clone(), RelayForm::E),
                (None, None) => (Value::Null, RelayForm::D),
            };
            return Ok(ServerMessage::Invoke(Invoke {
                method: "onMetaData".into(),
                data,
                sender_name: None,
                dc_label: None,
                form,
            }));
        }
        if let Some(Value::Object(d)) = m.get("data") {
            let looks_like_status = ["type", "code", "status", "message"]
                .iter()
                .any(|k| d.contains_key(*k));
            if looks_like_status {
                let st: Status = json::from_value("status", Value::Object(d.clone()))?;
                // `{"data":{"type":null}}` says nothing: keep it as an unknown object. The test is
                // on the parsed fields so that regenerating a message never changes its class.
                let says_something = st.kind.is_some()
                    || st.code.is_some()
                    || st.status.is_some()
                    || st.message.is_some();
                if says_something {
                    return Ok(ServerMessage::Status(st));
                }
            }
        }
        Ok(ServerMessage::Other(m))
    }

    /// Exact wire text (relays in their recorded form).
    pub fn to_json(&self) -> String {
        json::to_string(self)
    }
}

impl Serialize for ServerMessage {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        match self {
            ServerMessage::Status(st) => DataWire { data: st }.serialize(s),
            ServerMessage::Invoke(i) => InvokeWire {
                inv: i,
                form: i.form,
                keep_sender: true,
            }
            .serialize(s),
            ServerMessage::RpcReply(r) => r.serialize(s),
            ServerMessage::Other(m) => m.serialize(s),
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
