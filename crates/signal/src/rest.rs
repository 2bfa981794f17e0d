//! Stream Manager REST request/response types (§2, §7.2, §7.3, red5-server-side.md §6).
//! Parsing is lenient (numbers-as-strings, object-or-array); generation uses the documented forms.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use crate::error::{Error, Result};

/// The server's own text out of an error body: `{"errorMessage":…}` (SM1, SM2 auth),
/// `{"error":…}` (SM2 proxy/streams), `{"message":…}` (SM2 conference), or plain text.
pub fn error_message(body: &str) -> Option<String> {
    let t = body.trim();
    if t.is_empty() {
        return None;
    }
    if let Ok(Value::Object(m)) = serde_json::from_str::<Value>(t) {
        for k in ["errorMessage", "error", "message", "detail"] {
            match m.get(k) {
                Some(Value::String(s)) if !s.is_empty() => return Some(s.clone()),
                Some(Value::Object(o)) => {
                    if let Some(s) = o.get("message").and_then(Value::as_str) {
                        return Some(s.to_owned());
                    }
                }
                _ => {}
            }
        }
        return Some(t.chars().take(300).collect());
    }
    // Plain text (or an HTML error page): keep it short.
    Some(t.chars().take(300).collect())
}

/// `{"errorMessage":"…","timestamp":…}` as the SM1 REST API writes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Sm1ErrorBody {
    pub error_message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<i64>,
}

/// `{"error":"…"}` as the SM2 proxy and streams API write it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sm2ErrorBody {
    pub error: String,
}

pub(crate) fn lenient_u32<'de, D: Deserializer<'de>>(
    d: D,
) -> std::result::Result<Option<u32>, D::Error> {
    let v = Option::<Value>::deserialize(d)?;
    Ok(match v {
        Some(Value::Number(n)) => n
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .or_else(|| n.as_f64().map(|f| f as u32)),
        Some(Value::String(s)) => s.trim().parse::<f64>().ok().map(|f| f as u32),
        _ => None,
    })
}

/// Accepts a single object or an array of them (SM1 returns an array when `endpoints>1`; SM2
/// documents an array).
pub fn one_or_many<T: serde::de::DeserializeOwned>(
    what: &'static str,
    body: &str,
) -> Result<Vec<T>> {
    let v: Value = serde_json::from_str(body).map_err(|e| Error::BadResponse {
        what,
        reason: e.to_string(),
    })?;
    let items = match v {
        Value::Array(a) => a,
        o @ Value::Object(_) => vec![o],
        other => {
            return Err(Error::BadResponse {
                what,
                reason: format!(
                    "expected an object or array, got {}",
                    crate::json::kind(&other)
                ),
            })
        }
    };
    items
        .into_iter()
        .map(|i| {
            serde_json::from_value(i).map_err(|e| Error::BadResponse {
                what,
                reason: e.to_string(),
            })
        })
        .collect()
}

pub mod sm1 {
    //! Stream Manager 1.x (`/streammanager/api/4.0`).
    use super::*;

    /// `GET …/event/<scope>/<stream>?action=broadcast|subscribe` and `…/<room>/join`.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct EventLocation {
        #[serde(default)]
        pub name: String,
        /// May carry a leading slash (`"/live"`): use [`EventLocation::context`].
        #[serde(default)]
        pub scope: String,
        pub server_address: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub region: Option<String>,
    }

    impl EventLocation {
        /// The scope without leading/trailing slashes, usable as `app`.
        pub fn context(&self) -> &str {
            self.scope.trim_matches('/')
        }
    }

    /// `broadcast` or `subscribe`.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub enum Action {
        Broadcast,
        Subscribe,
    }

    impl Action {
        pub fn as_str(self) -> &'static str {
            match self {
                Action::Broadcast => "broadcast",
                Action::Subscribe => "subscribe",
            }
        }
    }

    /// Conference provision `parameters`.
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    pub struct ProvisionParameters {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub group: Option<String>,
        #[serde(
            default,
            skip_serializing_if = "Option::is_none",
            deserialize_with = "lenient_u32"
        )]
        pub audiotracks: Option<u32>,
        #[serde(
            default,
            skip_serializing_if = "Option::is_none",
            deserialize_with = "lenient_u32"
        )]
        pub videotracks: Option<u32>,
        #[serde(flatten)]
        pub extra: serde_json::Map<String, Value>,
    }

    /// `POST …/admin/event/meta/<scope>/<room>/<room>` body (§7.3).
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct Provision {
        pub guid: String,
        pub context: String,
        pub name: String,
        #[serde(default)]
        pub level: i64,
        #[serde(default)]
        pub is_restricted: bool,
        pub parameters: ProvisionParameters,
        #[serde(default)]
        pub restrictions: Vec<Value>,
        #[serde(default)]
        pub primaries: Vec<Value>,
        #[serde(default)]
        pub secondaries: Vec<Value>,
    }

    impl Provision {
        /// The conference provision for `live/room1`: `audiotracks:3, videotracks:1`, group `webrtc`.
        pub fn conference(context: &str, room: &str) -> Self {
            Provision {
                guid: context.into(),
                context: context.into(),
                name: room.into(),
                level: 0,
                is_restricted: false,
                parameters: ProvisionParameters {
                    group: Some("webrtc".into()),
                    audiotracks: Some(3),
                    videotracks: Some(1),
                    extra: Default::default(),
                },
                restrictions: vec![],
                primaries: vec![],
                secondaries: vec![],
            }
        }
    }

    /// `200 {"name":"room1","scope":"live","data":{…},"updated":…}`.
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    pub struct ProvisionResponse {
        #[serde(default)]
        pub name: String,
        #[serde(default)]
        pub scope: String,
        #[serde(default)]
        pub data: Value,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub updated: Option<i64>,
    }

    /// One mixer of a composition (§7.2). Sizes accept numbers or strings.
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct Mixer {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub id: Option<String>,
        pub mixer_name: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub location: Option<String>,
        pub mixing_page: String,
        pub stream_name: String,
        pub path: String,
        #[serde(default)]
        pub destination_mixer_name: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub server_address: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub destination: Option<String>,
        #[serde(
            default,
            skip_serializing_if = "Option::is_none",
            deserialize_with = "lenient_u32"
        )]
        pub width: Option<u32>,
        #[serde(
            default,
            skip_serializing_if = "Option::is_none",
            deserialize_with = "lenient_u32"
        )]
        pub height: Option<u32>,
        #[serde(
            default,
            skip_serializing_if = "Option::is_none",
            deserialize_with = "lenient_u32"
        )]
        pub framerate: Option<u32>,
        /// kbps.
        #[serde(
            default,
            skip_serializing_if = "Option::is_none",
            deserialize_with = "lenient_u32"
        )]
        pub bitrate: Option<u32>,
        #[serde(default)]
        pub do_forward: bool,
        /// `pending → inservice → composing` (docs: `INSERVICE`); compare case-insensitively.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub state: Option<String>,
        /// Added by the conference backend in `activeCompositions`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub is_web_socket_connected: Option<bool>,
    }

    /// `POST /streammanager/api/4.0/composition` body and every composition response.
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct Composition {
        pub event: String,
        #[serde(default)]
        pub transcode_composition: bool,
        #[serde(default)]
        pub digest: String,
        #[serde(default)]
        pub mixers: Vec<Mixer>,
        #[serde(default, deserialize_with = "string_or_list")]
        pub location: Vec<String>,
    }

    fn string_or_list<'de, D: Deserializer<'de>>(
        d: D,
    ) -> std::result::Result<Vec<String>, D::Error> {
        Ok(match Option::<Value>::deserialize(d)? {
            Some(Value::String(s)) => vec![s],
            Some(Value::Array(a)) => a
                .into_iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect(),
            _ => vec![],
        })
    }

    impl Composition {
        /// Every mixer composing (the backend's poll target).
        pub fn is_composing(&self) -> bool {
            !self.mixers.is_empty()
                && self.mixers.iter().all(|m| {
                    m.state
                        .as_deref()
                        .is_some_and(|s| s.eq_ignore_ascii_case("composing"))
                })
        }
    }

    /// `GET /admin/nodegroup` entry (only the fields clients read; the rest is kept).
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct NodeGroup {
        pub name: String,
        #[serde(flatten)]
        pub extra: serde_json::Map<String, Value>,
    }

    /// `GET /admin/nodegroup/<name>/node` entry; mixer regions = `availabilityZone` of `role=="mixer"`.
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct Node {
        #[serde(default)]
        pub role: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub availability_zone: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub address: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub state: Option<String>,
        #[serde(flatten)]
        pub extra: serde_json::Map<String, Value>,
    }
}

pub mod sm2 {
    //! Stream Manager 2.0 (`/as/v1`).
    use super::*;
    use crate::Secret;

    /// `PUT /as/v1/auth/login` → `{"token":"<jwt>"}`.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    pub struct LoginResponse {
        pub token: Secret,
    }

    /// One entry of `GET /as/v1/streams/stream/<ng>/publish|subscribe/<guid>`.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct StreamLocation {
        #[serde(default)]
        pub stream_guid: String,
        pub server_address: String,
        #[serde(default)]
        pub node_role: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub sub_group: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub node_state: Option<String>,
        #[serde(
            default,
            skip_serializing_if = "Option::is_none",
            deserialize_with = "lenient_u32"
        )]
        pub subscribers: Option<u32>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub duration_ms: Option<u64>,
    }

    /// `publish` or `subscribe` lookup.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub enum Direction {
        Publish,
        Subscribe,
    }

    impl Direction {
        pub fn as_str(self) -> &'static str {
            match self {
                Direction::Publish => "publish",
                Direction::Subscribe => "subscribe",
            }
        }
    }

    /// A stream provision for `POST /as/v1/streams/provision/<ng>` (body = array). Known fields
    /// are typed; everything else (auth, recording, transcode ladder) is kept as JSON.
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct Provision {
        pub provision_guid: String,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub streams: Vec<ProvisionStream>,
        #[serde(flatten)]
        pub extra: serde_json::Map<String, Value>,
    }

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct ProvisionStream {
        pub stream_guid: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub abr_level: Option<u32>,
        #[serde(flatten)]
        pub extra: serde_json::Map<String, Value>,
    }

    /// Brew mixer create body / response (`POST /as/v1/streams/mixer/<ng>`).
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct BrewMixer {
        pub event_id: String,
        pub stream_guid: String,
        pub width: u32,
        pub height: u32,
        pub frame_rate: u32,
        pub bit_rate: u32,
        pub max_bit_rate: u32,
        pub qp_min: u32,
        pub qp_max: u32,
        pub audio_sample_rate: u32,
        pub audio_channels: u32,
        pub sub_mixes: u32,
        #[serde(flatten)]
        pub extra: serde_json::Map<String, Value>,
    }

    impl BrewMixer {
        /// The testbed defaults (720p30, 2 channels, 1 sub-mix).
        pub fn new(event_id: &str, stream_guid: &str) -> Self {
            BrewMixer {
                event_id: event_id.into(),
                stream_guid: stream_guid.into(),
                width: 1280,
                height: 720,
                frame_rate: 30,
                bit_rate: 1_500_000,
                max_bit_rate: 2_000_000,
                qp_min: 10,
                qp_max: 42,
                audio_sample_rate: 48000,
                audio_channels: 2,
                sub_mixes: 1,
                extra: Default::default(),
            }
        }
    }

    /// A render tree for `PUT …/mixer/<ng>/<eventId>` (body = array of these); the tree format
    /// belongs to the Brew mixer and is passed through as JSON.
    pub type RenderTree = Value;
}
