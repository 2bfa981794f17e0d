//! The conference backend WebSocket (§7.4): connect URL and every message in both directions.
//! All frames are JSON objects tagged by `type`.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::Result;
use crate::json;
use crate::rest::sm1::{Composition, Mixer};

/// Server → client.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum ServerMessage {
    /// `{"type":"mixerRegions","regions":[…]}`
    MixerRegions {
        #[serde(default)]
        regions: Vec<String>,
    },
    /// `{"type":"active","room":…,"screenshareName"?,"streams"?}`
    #[serde(rename_all = "camelCase")]
    Active {
        room: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        screenshare_name: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        streams: Option<Vec<String>>,
    },
    /// `{"type":"excluded","room":…,"streams":[…]}`
    Excluded {
        room: String,
        #[serde(default)]
        streams: Vec<String>,
    },
    /// `{"type":"conference","presenter"?,"room":…,"streams"?}`
    Conference {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        presenter: Option<String>,
        room: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        streams: Option<Vec<String>>,
    },
    /// `{"type":"activeCompositions","room":…,"list":[composition…]}`
    ActiveCompositions {
        #[serde(default)]
        room: String,
        #[serde(default)]
        list: Vec<Composition>,
    },
    /// `{"type":"activeStreams","list":[{"room":…,"streams":[…]}]}`
    ActiveStreams {
        #[serde(default)]
        list: Vec<RoomStreams>,
    },
    /// Grid variant: `{"type":"compositionUpdate","event":…,"list":[…]}` (kept as JSON).
    CompositionUpdate {
        #[serde(default)]
        event: String,
        #[serde(default)]
        list: Vec<Value>,
    },
    /// `{"type":"error","error":"<text>"}`
    Error {
        #[serde(default)]
        error: String,
    },
    /// A `type` this library does not know.
    #[serde(other)]
    Unknown,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomStreams {
    pub room: String,
    #[serde(default)]
    pub streams: Vec<String>,
}

/// Client → server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum ClientMessage {
    /// Add to the conference list (first one becomes presenter).
    #[serde(rename_all = "camelCase")]
    Promote {
        room: String,
        stream_name: String,
    },
    #[serde(rename_all = "camelCase")]
    Demote {
        room: String,
        stream_name: String,
    },
    #[serde(rename_all = "camelCase")]
    Presenter {
        room: String,
        stream_name: String,
    },
    #[serde(rename_all = "camelCase")]
    Exclude {
        room: String,
        stream_name: String,
    },
    #[serde(rename_all = "camelCase")]
    Order {
        room: String,
        order: i64,
        stream_name: String,
    },
    #[serde(rename_all = "camelCase")]
    Post {
        room: String,
        stream_name: String,
    },
    #[serde(rename_all = "camelCase")]
    Delete {
        room: String,
        stream_name: String,
    },
    /// `{"type":"createComposition","event","digest","transcodeComposition","mixers","location"}`.
    #[serde(rename_all = "camelCase")]
    CreateComposition {
        event: String,
        digest: String,
        transcode_composition: bool,
        mixers: Vec<Mixer>,
        location: Vec<String>,
    },
    GetActiveCompositions,
    DestroyComposition {
        event: String,
    },
    GetActiveStreams,
    Error {
        #[serde(default)]
        error: String,
    },
}

impl ServerMessage {
    pub fn parse(text: &str) -> Result<Self> {
        json::from_value(
            "backend",
            serde_json::Value::Object(json::parse_object(text)?),
        )
    }
    pub fn to_json(&self) -> String {
        json::to_string(self)
    }
}

impl ClientMessage {
    pub fn parse(text: &str) -> Result<Self> {
        json::from_value(
            "backend",
            serde_json::Value::Object(json::parse_object(text)?),
        )
    }
    pub fn to_json(&self) -> String {
        json::to_string(self)
    }
}

/// Role parameters of the connect URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectParams {
    /// Conference context, e.g. `live/room1` (or `live/room1_wr`).
    pub room: String,
    pub host: bool,
    pub mixer: Option<bool>,
    pub presenter: bool,
}

/// `ws[s]://<backend>/?testbed=conference&room=<ctx>&host=<bool>[&mixer=<bool>][&presenter=1]`.
/// The backend splits on `&`/`=` without URL-decoding, so `room` is written raw. `ws://` is used
/// for IP/localhost backends, `wss://` otherwise (as the participant page does).
pub fn connect_url(backend: &str, p: &ConnectParams) -> String {
    let b = backend.trim_end_matches('/');
    let base = if b.starts_with("ws://") || b.starts_with("wss://") {
        b.to_owned()
    } else {
        let host = b.split(':').next().unwrap_or(b);
        let plain = host == "localhost" || host.parse::<std::net::IpAddr>().is_ok();
        format!("{}://{b}", if plain { "ws" } else { "wss" })
    };
    // A browser turns `wss://host?q` into `wss://host/?q`; an HTTP request line needs the `/`.
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let base = if base[scheme_end..].contains('/') {
        base
    } else {
        format!("{base}/")
    };
    let mut u = format!("{base}?testbed=conference&room={}&host={}", p.room, p.host);
    if let Some(m) = p.mixer {
        u.push_str(&format!("&mixer={m}"));
    }
    if p.presenter {
        u.push_str("&presenter=1");
    }
    u
}
