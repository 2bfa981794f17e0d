//! The conference backend WebSocket (§7.4) as a sans-I/O state machine. Every input returns
//! the frames to send as `(socket id, ServerMessage)` in order, plus [`ConferenceEvent`]s for
//! the mixer wiring.

use std::collections::BTreeMap;

use red5_signal::backend::{ClientMessage, RoomStreams, ServerMessage};
use red5_signal::rest::sm1::Composition;
use serde_json::Value;

use super::compositions::{final_mixer_path, state, CompositionStore};
use super::ConferenceEvent;

pub type SocketId = u64;

/// Frames to send, in order.
pub type Outbox = Vec<(SocketId, ServerMessage)>;

/// Names the backend never lists (the earliest mixer builds' participant copies, §7.1).
const PARTICIPATOR: &str = "_r5participator";
const WAITING: &str = "_wr";

/// The connect query of a backend socket (§7.4), split naively on `&`/`=` without
/// URL-decoding, exactly like the testbed backend.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConnectQuery {
    pub testbed: Option<String>,
    pub room: String,
    pub host: bool,
    pub mixer: bool,
    pub presenter: bool,
}

impl ConnectQuery {
    pub fn parse(query: &str) -> Self {
        let mut q = ConnectQuery::default();
        for pair in query.split('&') {
            let mut kv = pair.splitn(2, '=');
            let k = kv.next().unwrap_or("");
            let v = kv.next().unwrap_or("");
            match k {
                "testbed" => q.testbed = Some(v.to_owned()),
                "room" => q.room = v.to_owned(),
                "host" => q.host = v == "true",
                "mixer" => q.mixer = v == "true",
                "presenter" => q.presenter = !v.is_empty() && v != "0" && v != "false",
                _ => {}
            }
        }
        q
    }

    /// Only `testbed=conference` sockets are served; others are accepted and ignored (BE).
    pub fn is_conference(&self) -> bool {
        self.testbed.as_deref() == Some("conference")
    }
}

#[derive(Debug, Clone)]
struct Socket {
    room: String,
    host: bool,
    mixer: bool,
    /// Streams registered with `post` by this socket: deleted when it closes.
    bound: Vec<(String, String)>,
}

#[derive(Debug, Clone, Default)]
struct Room {
    active: Vec<String>,
    conference: Vec<String>,
    presenter: Option<String>,
    excluded: Vec<String>,
}

/// `live/room1_wr` → `live/room1`.
pub fn base_room(room: &str) -> &str {
    room.strip_suffix(WAITING).unwrap_or(room)
}

/// `live/room1/s1` → (`live/room1`, `s1`).
pub fn split_guid(guid: &str) -> Option<(&str, &str)> {
    let g = guid.trim_matches('/');
    let (ctx, name) = g.rsplit_once('/')?;
    (!ctx.is_empty() && !name.is_empty()).then_some((ctx, name))
}

#[derive(Debug, Default)]
pub struct Backend {
    sockets: BTreeMap<SocketId, Socket>,
    rooms: BTreeMap<String, Room>,
    next_id: SocketId,
}

/// What one input produced.
#[derive(Debug, Default)]
pub struct Output {
    pub send: Outbox,
    pub events: Vec<ConferenceEvent>,
}

impl Output {
    fn error(&mut self, to: SocketId, text: impl Into<String>) {
        self.send
            .push((to, ServerMessage::Error { error: text.into() }));
    }
}

impl Backend {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn socket_count(&self) -> usize {
        self.sockets.len()
    }

    /// Active (published, not excluded) streams of a room.
    pub fn active(&self, room: &str) -> Vec<String> {
        self.rooms
            .get(room)
            .map(|r| r.active.clone())
            .unwrap_or_default()
    }

    /// (conference list, presenter) of a room.
    pub fn conference(&self, room: &str) -> (Vec<String>, Option<String>) {
        self.rooms
            .get(room)
            .map(|r| (r.conference.clone(), r.presenter.clone()))
            .unwrap_or_default()
    }

    pub fn excluded(&self, room: &str) -> Vec<String> {
        self.rooms
            .get(room)
            .map(|r| r.excluded.clone())
            .unwrap_or_default()
    }

    /// A `testbed=conference` socket connected: `mixerRegions`, `active`, and for host/mixer
    /// sockets `conference` then `activeCompositions` (§7.4 order).
    pub fn connect(&mut self, q: &ConnectQuery, store: &CompositionStore) -> (SocketId, Output) {
        self.next_id += 1;
        let id = self.next_id;
        let s = Socket {
            room: q.room.clone(),
            host: q.host,
            mixer: q.mixer,
            bound: vec![],
        };
        let mut out = Output::default();
        out.send.push((
            id,
            ServerMessage::MixerRegions {
                regions: store.regions(),
            },
        ));
        out.send.push((id, self.active_msg(&s.room)));
        if s.host || s.mixer {
            out.send.push((id, self.conference_msg(&s.room)));
            out.send.push((id, active_compositions(&s.room, store)));
        }
        self.sockets.insert(id, s);
        (id, out)
    }

    /// Socket closed: streams it `post`ed are deleted.
    pub fn disconnect(&mut self, id: SocketId) -> Output {
        let mut out = Output::default();
        if let Some(s) = self.sockets.remove(&id) {
            for (room, stream) in s.bound {
                if self.remove_active(&room, &stream) {
                    self.notify(&room, &mut out);
                }
            }
        }
        out
    }

    /// Internal webhook `stream-published`.
    pub fn stream_published(&mut self, guid: &str) -> Output {
        let mut out = Output::default();
        if let Some((room, name)) = split_guid(guid) {
            if self.add_active(room, name) {
                self.notify(room, &mut out);
            }
        }
        out
    }

    /// Internal webhook `stream-unpublished`.
    pub fn stream_unpublished(&mut self, guid: &str) -> Output {
        let mut out = Output::default();
        if let Some((room, name)) = split_guid(guid) {
            if self.remove_active(room, name) {
                self.notify(room, &mut out);
            }
        }
        out
    }

    /// A mixer state change: push `activeCompositions` to the host sockets of its room.
    pub fn compositions_changed(&self, room: &str, store: &CompositionStore) -> Output {
        let mut out = Output::default();
        self.push_compositions(room, store, &mut out);
        out
    }

    /// One text frame from a socket.
    pub fn handle_text(
        &mut self,
        id: SocketId,
        text: &str,
        store: &mut CompositionStore,
        now_ms: i64,
    ) -> Output {
        let mut out = Output::default();
        if !self.sockets.contains_key(&id) {
            return out;
        }
        let value: Value = match serde_json::from_str(text) {
            Ok(v) => v,
            Err(e) => {
                out.error(id, format!("The message is not valid JSON: {e}"));
                return out;
            }
        };
        let Some(kind) = value.get("type").and_then(Value::as_str).map(str::to_owned) else {
            out.error(id, "The message needs a string \"type\"");
            return out;
        };
        let needs = match kind.as_str() {
            "promote" | "demote" | "presenter" | "exclude" | "post" | "delete" => {
                "room and streamName (strings)"
            }
            "order" => "room, streamName (strings) and order (a number)",
            "createComposition" => {
                if let Err(e) = validate_create(&value) {
                    out.error(id, e);
                    return out;
                }
                "event, digest, transcodeComposition, mixers (mixerName, mixingPage, streamName, path) and location"
            }
            "destroyComposition" => "event (a string)",
            "getActiveCompositions" | "getActiveStreams" | "error" => "",
            other => {
                out.error(id, format!("Unknown message type \"{other}\""));
                return out;
            }
        };
        let msg = match ClientMessage::parse(text) {
            Ok(m) => m,
            Err(e) => {
                out.error(id, format!("{kind} needs {needs}: {e}"));
                return out;
            }
        };
        self.handle(id, msg, store, now_ms, &mut out);
        out
    }

    fn handle(
        &mut self,
        id: SocketId,
        msg: ClientMessage,
        store: &mut CompositionStore,
        now_ms: i64,
        out: &mut Output,
    ) {
        match msg {
            ClientMessage::Promote { room, stream_name } => {
                let r = self.rooms.entry(room.clone()).or_default();
                if r.excluded.contains(&stream_name) {
                    return out.error(id, format!("{stream_name} is excluded from {room}"));
                }
                if r.conference.contains(&stream_name) {
                    return out.error(id, format!("{stream_name} is already in the conference"));
                }
                r.conference.push(stream_name.clone());
                if r.presenter.is_none() {
                    r.presenter = Some(stream_name);
                }
                self.conference_changed(&room, out);
            }
            ClientMessage::Demote { room, stream_name } => {
                let r = self.rooms.entry(room.clone()).or_default();
                let Some(pos) = r.conference.iter().position(|s| *s == stream_name) else {
                    return out.error(id, format!("{stream_name} is not in the conference"));
                };
                r.conference.remove(pos);
                if r.presenter.as_deref() == Some(stream_name.as_str()) {
                    r.presenter = r.conference.first().cloned();
                }
                self.conference_changed(&room, out);
            }
            ClientMessage::Presenter { room, stream_name } => {
                let r = self.rooms.entry(room.clone()).or_default();
                if !r.conference.contains(&stream_name) {
                    return out.error(
                        id,
                        format!("{stream_name} must be in the conference to present"),
                    );
                }
                r.presenter = Some(stream_name);
                self.conference_changed(&room, out);
            }
            ClientMessage::Order {
                room,
                order,
                stream_name,
            } => {
                let r = self.rooms.entry(room.clone()).or_default();
                let Some(pos) = r.conference.iter().position(|s| *s == stream_name) else {
                    return out.error(id, format!("{stream_name} is not in the conference"));
                };
                let s = r.conference.remove(pos);
                let to = usize::try_from(order.max(0))
                    .unwrap_or(usize::MAX)
                    .min(r.conference.len());
                r.conference.insert(to, s);
                self.conference_changed(&room, out);
            }
            ClientMessage::Exclude { room, stream_name } => {
                // A ban covers the waiting room and the conference of the same room.
                let base = base_room(&room).to_owned();
                let wr = format!("{base}{WAITING}");
                for ctx in [&base, &wr] {
                    let r = self.rooms.entry(ctx.clone()).or_default();
                    if !r.excluded.contains(&stream_name) {
                        r.excluded.push(stream_name.clone());
                    }
                    r.active.retain(|s| *s != stream_name);
                    r.conference.retain(|s| *s != stream_name);
                    if r.presenter.as_deref() == Some(stream_name.as_str()) {
                        r.presenter = r.conference.first().cloned();
                    }
                }
                for ctx in [&base, &wr] {
                    let streams = self.excluded(ctx);
                    for sid in self.sockets_of(ctx, false) {
                        out.send.push((
                            sid,
                            ServerMessage::Excluded {
                                room: ctx.clone(),
                                streams: streams.clone(),
                            },
                        ));
                    }
                }
                self.notify(&wr, out);
                self.conference_changed(&base, out);
            }
            ClientMessage::Post { room, stream_name } => {
                if split_guid(&format!("{room}/{stream_name}")).is_none()
                    || stream_name.contains('/')
                {
                    return out.error(id, "post needs a room and a plain stream name");
                }
                if self.is_excluded(&room, &stream_name) {
                    return out.error(id, format!("{stream_name} is excluded from {room}"));
                }
                if let Some(s) = self.sockets.get_mut(&id) {
                    let b = (room.clone(), stream_name.clone());
                    if !s.bound.contains(&b) {
                        s.bound.push(b);
                    }
                }
                if self.add_active(&room, &stream_name) {
                    self.notify(&room, out);
                }
            }
            ClientMessage::Delete { room, stream_name } => {
                if let Some(s) = self.sockets.get_mut(&id) {
                    s.bound.retain(|(r, n)| !(*r == room && *n == stream_name));
                }
                if self.remove_active(&room, &stream_name) {
                    self.notify(&room, out);
                }
            }
            ClientMessage::CreateComposition {
                event,
                digest,
                transcode_composition,
                mixers,
                location,
            } => {
                let c = Composition {
                    event,
                    transcode_composition,
                    digest,
                    mixers,
                    location,
                };
                match store.create(c, now_ms) {
                    Ok((c, events)) => {
                        out.events.extend(events);
                        let room = final_mixer_path(&c).unwrap_or_default();
                        self.push_compositions(&room, store, out);
                    }
                    Err(e) => out.error(id, e.message),
                }
            }
            ClientMessage::GetActiveCompositions => {
                let room = self
                    .sockets
                    .get(&id)
                    .map(|s| s.room.clone())
                    .unwrap_or_default();
                out.send.push((id, active_compositions(&room, store)));
            }
            ClientMessage::DestroyComposition { event } => match store.delete(&event) {
                Ok((c, events)) => {
                    out.events.extend(events);
                    let room = final_mixer_path(&c).unwrap_or_default();
                    self.push_compositions(&room, store, out);
                    for sid in self.host_sockets_of_pair(&room) {
                        out.send
                            .push((sid, ServerMessage::ActiveStreams { list: vec![] }));
                    }
                }
                Err(_) => out.error(id, format!("No composition for event {event}")),
            },
            ClientMessage::GetActiveStreams => {
                let room = self
                    .sockets
                    .get(&id)
                    .map(|s| s.room.clone())
                    .unwrap_or_default();
                let streams = self.active(&room);
                out.send.push((
                    id,
                    ServerMessage::ActiveStreams {
                        list: vec![RoomStreams { room, streams }],
                    },
                ));
            }
            ClientMessage::Error { error } => {
                tracing::debug!(socket = id, %error, "backend client reported an error");
            }
        }
    }

    fn is_excluded(&self, room: &str, name: &str) -> bool {
        self.rooms
            .get(room)
            .is_some_and(|r| r.excluded.iter().any(|s| s == name))
    }

    fn add_active(&mut self, room: &str, name: &str) -> bool {
        if name.contains(PARTICIPATOR) || self.is_excluded(room, name) {
            return false;
        }
        let r = self.rooms.entry(room.to_owned()).or_default();
        if r.active.iter().any(|s| s == name) {
            return false;
        }
        r.active.push(name.to_owned());
        true
    }

    fn remove_active(&mut self, room: &str, name: &str) -> bool {
        let Some(r) = self.rooms.get_mut(room) else {
            return false;
        };
        let before = r.active.len();
        r.active.retain(|s| s != name);
        r.active.len() != before
    }

    fn sockets_of(&self, room: &str, host_or_mixer: bool) -> Vec<SocketId> {
        self.sockets
            .iter()
            .filter(|(_, s)| s.room == room && (!host_or_mixer || s.host || s.mixer))
            .map(|(id, _)| *id)
            .collect()
    }

    /// Host sockets of `room` and of `room_wr` (who see `activeCompositions`).
    fn host_sockets_of_pair(&self, room: &str) -> Vec<SocketId> {
        let wr = format!("{room}{WAITING}");
        self.sockets
            .iter()
            .filter(|(_, s)| (s.room == room || s.room == wr) && (s.host || s.mixer))
            .map(|(id, _)| *id)
            .collect()
    }

    fn push_compositions(&self, room: &str, store: &CompositionStore, out: &mut Output) {
        for sid in self.host_sockets_of_pair(room) {
            let r = self
                .sockets
                .get(&sid)
                .map(|s| s.room.as_str())
                .unwrap_or(room);
            out.send.push((sid, active_compositions(r, store)));
        }
    }

    fn active_msg(&self, room: &str) -> ServerMessage {
        let streams = self.active(room);
        ServerMessage::Active {
            room: room.to_owned(),
            screenshare_name: streams.iter().find(|s| s.contains("_screenshare")).cloned(),
            streams: Some(streams),
        }
    }

    fn conference_msg(&self, room: &str) -> ServerMessage {
        let (streams, presenter) = self.conference(room);
        ServerMessage::Conference {
            presenter,
            room: room.to_owned(),
            streams: Some(streams),
        }
    }

    /// After a list change: `active` to every socket of the room, `conference` to host/mixer.
    fn notify(&self, room: &str, out: &mut Output) {
        for sid in self.sockets_of(room, false) {
            out.send.push((sid, self.active_msg(room)));
        }
        for sid in self.sockets_of(room, true) {
            out.send.push((sid, self.conference_msg(room)));
        }
    }

    fn conference_changed(&self, room: &str, out: &mut Output) {
        self.notify(room, out);
        let (streams, presenter) = self.conference(room);
        out.events.push(ConferenceEvent::ConferenceChanged {
            room: room.to_owned(),
            streams,
            presenter,
        });
    }
}

/// `activeCompositions` for a socket of `room`: compositions whose final mixer path is `room`
/// or `room` minus `_wr`; `isWebSocketConnected` = the native mixer is running.
pub fn active_compositions(room: &str, store: &CompositionStore) -> ServerMessage {
    let base = base_room(room);
    let list = store
        .all()
        .iter()
        .filter(|c| final_mixer_path(c).is_some_and(|p| p == room || p == base))
        .cloned()
        .map(|mut c| {
            for m in &mut c.mixers {
                let st = m.state.as_deref().unwrap_or("");
                m.is_web_socket_connected = Some(st == state::INSERVICE || st == state::COMPOSING);
            }
            c
        })
        .collect();
    ServerMessage::ActiveCompositions {
        room: room.to_owned(),
        list,
    }
}

/// The createComposition checks of the testbed backend, on the raw JSON so the error says
/// which field is wrong.
fn validate_create(v: &Value) -> Result<(), String> {
    if !v.get("transcodeComposition").is_some_and(Value::is_boolean) {
        return Err("transcodeComposition must be a boolean".into());
    }
    let Some(mixers) = v
        .get("mixers")
        .and_then(Value::as_array)
        .filter(|m| !m.is_empty())
    else {
        return Err("mixers must be a non-empty list".into());
    };
    if v.get("digest")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
    {
        return Err("digest (the Stream Manager access token) is required".into());
    }
    if v.get("location").and_then(Value::as_array).map(Vec::len) != Some(1) {
        return Err("location must be a list with exactly one region".into());
    }
    let finals = mixers
        .iter()
        .filter(|m| {
            m.get("destinationMixerName")
                .and_then(Value::as_str)
                .is_none_or(str::is_empty)
        })
        .count();
    if finals != 1 {
        return Err(format!(
            "exactly one mixer must have an empty destinationMixerName (found {finals})"
        ));
    }
    if v.get("event")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
    {
        return Err("event is required".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conference::compositions::StoreConfig;
    use serde_json::json;

    fn q(room: &str, host: bool, mixer: bool) -> ConnectQuery {
        ConnectQuery::parse(&format!(
            "testbed=conference&room={room}&host={host}&mixer={mixer}"
        ))
    }

    fn kinds(out: &Outbox, id: SocketId) -> Vec<String> {
        out.iter()
            .filter(|(s, _)| *s == id)
            .map(|(_, m)| {
                serde_json::to_value(m).unwrap()["type"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect()
    }

    fn msg(t: &str, room: &str, s: &str) -> String {
        json!({"type": t, "room": room, "streamName": s}).to_string()
    }

    struct Fx {
        b: Backend,
        st: CompositionStore,
    }

    impl Fx {
        fn new() -> Self {
            Fx {
                b: Backend::new(),
                st: CompositionStore::new(StoreConfig::default()),
            }
        }
        fn send(&mut self, id: SocketId, text: &str) -> Output {
            self.b.handle_text(id, text, &mut self.st, 5)
        }
        fn conn(&mut self, room: &str, host: bool, mixer: bool) -> SocketId {
            self.b.connect(&q(room, host, mixer), &self.st).0
        }
    }

    fn composition_json() -> Value {
        json!({"type":"createComposition","event":"room1","digest":"tok","transcodeComposition":false,
               "mixers":[{"mixerName":"m","mixingPage":"https://x/?sm=true","streamName":"room1",
                          "path":"live/room1","width":"1280","height":"720","framerate":"30",
                          "bitrate":"1500","doForward":true,"destinationMixerName":""}],
               "location":["local"]})
    }

    #[test]
    fn connect_query_is_split_naively() {
        let c = ConnectQuery::parse("testbed=conference&room=live/room1_wr&host=true&presenter=1");
        assert!(c.is_conference());
        assert_eq!(c.room, "live/room1_wr");
        assert!(c.host && c.presenter && !c.mixer);
        // No URL-decoding, like the testbed backend.
        assert_eq!(
            ConnectQuery::parse("room=live%2Froom1").room,
            "live%2Froom1"
        );
        assert!(!ConnectQuery::parse("room=x&host=true").is_conference());
    }

    #[test]
    fn connect_order_depends_on_role() {
        let mut f = Fx::new();
        let (h, out) = f.b.connect(&q("live/room1", true, false), &f.st);
        assert_eq!(
            kinds(&out.send, h),
            ["mixerRegions", "active", "conference", "activeCompositions"]
        );
        let (m, out) = f.b.connect(&q("live/room1", false, true), &f.st);
        assert_eq!(kinds(&out.send, m).len(), 4);
        let (v, out) = f.b.connect(&q("live/room1", false, false), &f.st);
        assert_eq!(kinds(&out.send, v), ["mixerRegions", "active"]);
        assert_eq!(
            out.send[0].1,
            ServerMessage::MixerRegions {
                regions: vec!["local".into()]
            }
        );
    }

    #[test]
    fn webhook_feeds_active_and_ignores_participator() {
        let mut f = Fx::new();
        let wr = f.conn("live/room1_wr", true, false);
        let viewer = f.conn("live/room1_wr", false, false);
        let out = f.b.stream_published("live/room1_wr/alice");
        assert_eq!(kinds(&out.send, wr), ["active", "conference"]);
        assert_eq!(kinds(&out.send, viewer), ["active"]);
        assert!(f.b.stream_published("live/room1_wr/alice").send.is_empty());
        assert!(f
            .b
            .stream_published("live/room1_wr/x_r5participator")
            .send
            .is_empty());
        f.b.stream_published("live/room1_wr/bob_screenshare");
        assert_eq!(
            f.b.active_msg("live/room1_wr"),
            ServerMessage::Active {
                room: "live/room1_wr".into(),
                screenshare_name: Some("bob_screenshare".into()),
                streams: Some(vec!["alice".into(), "bob_screenshare".into()])
            }
        );
        assert!(f.b.stream_published("nocontext").send.is_empty());
        let out = f.b.stream_unpublished("live/room1_wr/alice");
        assert_eq!(kinds(&out.send, viewer), ["active"]);
        assert_eq!(f.b.active("live/room1_wr"), vec!["bob_screenshare"]);
    }

    #[test]
    fn promote_presenter_demote_rules() {
        let mut f = Fx::new();
        let h = f.conn("live/room1", true, false);
        let p = f.conn("live/room1", false, false);
        let out = f.send(h, &msg("promote", "live/room1", "a"));
        assert_eq!(kinds(&out.send, h), ["active", "conference"]);
        assert_eq!(kinds(&out.send, p), ["active"]);
        assert!(matches!(
            &out.events[0],
            ConferenceEvent::ConferenceChanged { presenter: Some(x), .. } if x == "a"
        ));
        f.send(h, &msg("promote", "live/room1", "b"));
        f.send(h, &msg("promote", "live/room1", "c"));
        assert_eq!(f.b.conference("live/room1").1.as_deref(), Some("a"));
        let dup = f.send(h, &msg("promote", "live/room1", "b"));
        assert_eq!(kinds(&dup.send, h), ["error"]);
        f.send(h, &msg("presenter", "live/room1", "c"));
        assert_eq!(f.b.conference("live/room1").1.as_deref(), Some("c"));
        let bad = f.send(h, &msg("presenter", "live/room1", "zz"));
        assert_eq!(kinds(&bad.send, h), ["error"]);
        f.send(h, &msg("demote", "live/room1", "c"));
        // Presenter falls back to the first remaining.
        assert_eq!(
            f.b.conference("live/room1"),
            (vec!["a".into(), "b".into()], Some("a".into()))
        );
        f.send(h, &msg("demote", "live/room1", "a"));
        f.send(h, &msg("demote", "live/room1", "b"));
        assert_eq!(f.b.conference("live/room1"), (vec![], None));
        assert_eq!(
            kinds(&f.send(h, &msg("demote", "live/room1", "b")).send, h),
            ["error"]
        );
    }

    #[test]
    fn order_moves_within_the_conference() {
        let mut f = Fx::new();
        let h = f.conn("live/room1", true, false);
        for s in ["a", "b", "c", "d"] {
            f.send(h, &msg("promote", "live/room1", s));
        }
        let o = |s: &str, n: i64| {
            json!({"type":"order","room":"live/room1","streamName":s,"order":n}).to_string()
        };
        let out = f.send(h, &o("d", 0));
        assert_eq!(kinds(&out.send, h), ["active", "conference"]);
        assert_eq!(f.b.conference("live/room1").0, ["d", "a", "b", "c"]);
        f.send(h, &o("d", 99));
        assert_eq!(f.b.conference("live/room1").0, ["a", "b", "c", "d"]);
        f.send(h, &o("a", 2));
        assert_eq!(f.b.conference("live/room1").0, ["b", "c", "a", "d"]);
        f.send(h, &o("b", -3));
        assert_eq!(f.b.conference("live/room1").0, ["b", "c", "a", "d"]);
        assert_eq!(f.b.conference("live/room1").1.as_deref(), Some("a"));
        assert_eq!(kinds(&f.send(h, &o("zz", 1)).send, h), ["error"]);
        let missing = f.send(
            h,
            &json!({"type":"order","room":"live/room1","streamName":"a"}).to_string(),
        );
        assert!(
            matches!(&missing.send[0].1, ServerMessage::Error { error } if error.contains("order (a number)"))
        );
    }

    #[test]
    fn exclude_bans_from_both_rooms_and_survives_republish() {
        let mut f = Fx::new();
        let wr = f.conn("live/room1_wr", true, false);
        let conf = f.conn("live/room1", true, false);
        f.b.stream_published("live/room1_wr/a");
        f.b.stream_published("live/room1_wr/b");
        f.send(conf, &msg("promote", "live/room1", "a"));
        f.send(conf, &msg("promote", "live/room1", "b"));
        let out = f.send(wr, &msg("exclude", "live/room1_wr", "a"));
        assert_eq!(kinds(&out.send, wr), ["excluded", "active", "conference"]);
        assert_eq!(kinds(&out.send, conf), ["excluded", "active", "conference"]);
        assert_eq!(f.b.active("live/room1_wr"), ["b"]);
        assert_eq!(
            f.b.conference("live/room1"),
            (vec!["b".into()], Some("b".into()))
        );
        assert_eq!(f.b.excluded("live/room1"), ["a"]);
        // Published again: stays out.
        assert!(f.b.stream_published("live/room1_wr/a").send.is_empty());
        assert_eq!(f.b.active("live/room1_wr"), ["b"]);
        assert_eq!(
            kinds(&f.send(conf, &msg("promote", "live/room1", "a")).send, conf),
            ["error"]
        );
        assert_eq!(
            kinds(&f.send(wr, &msg("post", "live/room1_wr", "a")).send, wr),
            ["error"]
        );
    }

    #[test]
    fn post_binds_and_close_deletes() {
        let mut f = Fx::new();
        let watcher = f.conn("live/room1_wr", false, false);
        let poster = f.conn("live/room1_wr", false, false);
        let out = f.send(poster, &msg("post", "live/room1_wr", "p1"));
        assert_eq!(kinds(&out.send, watcher), ["active"]);
        assert_eq!(f.b.active("live/room1_wr"), ["p1"]);
        f.send(poster, &msg("post", "live/room1_wr", "p2"));
        f.send(poster, &msg("delete", "live/room1_wr", "p2"));
        assert_eq!(f.b.active("live/room1_wr"), ["p1"]);
        let out = f.b.disconnect(poster);
        assert_eq!(kinds(&out.send, watcher), ["active"]);
        assert!(f.b.active("live/room1_wr").is_empty());
        assert_eq!(f.b.socket_count(), 1);
    }

    #[test]
    fn create_composition_validation() {
        let mut f = Fx::new();
        let h = f.conn("live/room1", true, false);
        let check = |f: &mut Fx, v: Value, want: &str| {
            let out = f.send(h, &v.to_string());
            match &out.send[..] {
                [(_, ServerMessage::Error { error })] => {
                    assert!(error.contains(want), "{error} !~ {want}")
                }
                other => panic!("{other:?}"),
            }
        };
        let mut v = composition_json();
        v["transcodeComposition"] = json!("false");
        check(&mut f, v, "transcodeComposition must be a boolean");
        let mut v = composition_json();
        v["mixers"] = json!([]);
        check(&mut f, v, "mixers must be a non-empty list");
        let mut v = composition_json();
        v["digest"] = json!("");
        check(&mut f, v, "digest");
        let mut v = composition_json();
        v["location"] = json!(["a", "b"]);
        check(&mut f, v, "exactly one region");
        let mut v = composition_json();
        let m = v["mixers"][0].clone();
        v["mixers"] = json!([m.clone(), m]);
        check(&mut f, v, "found 2");
        let mut v = composition_json();
        v["mixers"][0].as_object_mut().unwrap().remove("mixingPage");
        check(&mut f, v, "mixingPage");
        let mut v = composition_json();
        v["location"] = json!(["elsewhere"]);
        check(&mut f, v, "region elsewhere");
    }

    #[test]
    fn composition_lifecycle_pushes_to_hosts_of_both_rooms() {
        let mut f = Fx::new();
        let conf = f.conn("live/room1", true, false);
        let wr = f.conn("live/room1_wr", true, false);
        let part = f.conn("live/room1", false, false);
        let other = f.conn("live/room2", true, false);
        let out = f.send(conf, &composition_json().to_string());
        assert!(matches!(
            out.events[0],
            ConferenceEvent::CompositionCreated(_)
        ));
        assert_eq!(kinds(&out.send, conf), ["activeCompositions"]);
        assert_eq!(kinds(&out.send, wr), ["activeCompositions"]);
        assert!(kinds(&out.send, part).is_empty() && kinds(&out.send, other).is_empty());
        let ServerMessage::ActiveCompositions { room, list } = &out.send[1].1 else {
            panic!()
        };
        assert_eq!(room, "live/room1_wr");
        assert_eq!(list[0].mixers[0].state.as_deref(), Some("pending"));
        assert_eq!(list[0].mixers[0].is_web_socket_connected, Some(false));
        // Duplicate event → error from the store.
        assert_eq!(
            kinds(&f.send(conf, &composition_json().to_string()).send, conf),
            ["error"]
        );
        // Mixer frames → composing; the driver pushes again.
        f.st.mixer_emitted_frame("room1");
        let out = f.b.compositions_changed("live/room1", &f.st);
        let ServerMessage::ActiveCompositions { list, .. } = &out.send[0].1 else {
            panic!()
        };
        assert!(list[0].is_composing());
        assert_eq!(list[0].mixers[0].is_web_socket_connected, Some(true));
        let out = f.send(other, r#"{"type":"getActiveCompositions"}"#);
        assert_eq!(
            out.send[0].1,
            ServerMessage::ActiveCompositions {
                room: "live/room2".into(),
                list: vec![]
            }
        );
        let out = f.send(part, r#"{"type":"destroyComposition","event":"room1"}"#);
        assert!(matches!(
            out.events[0],
            ConferenceEvent::CompositionDeleted(_)
        ));
        assert_eq!(
            kinds(&out.send, conf),
            ["activeCompositions", "activeStreams"]
        );
        assert!(f.st.get("room1").is_none());
        let out = f.send(part, r#"{"type":"destroyComposition","event":"room1"}"#);
        assert_eq!(kinds(&out.send, part), ["error"]);
    }

    #[test]
    fn bad_input_gets_human_errors() {
        let mut f = Fx::new();
        let h = f.conn("live/room1", true, false);
        let err = |f: &mut Fx, t: &str| match &f.send(h, t).send[..] {
            [(_, ServerMessage::Error { error })] => error.clone(),
            other => panic!("{other:?}"),
        };
        assert!(err(&mut f, "{not json").contains("not valid JSON"));
        assert!(err(&mut f, "[1,2]").contains("\"type\""));
        assert!(err(&mut f, r#"{"type":"dance"}"#).contains("Unknown message type \"dance\""));
        assert!(err(&mut f, r#"{"type":"promote","room":"live/room1"}"#)
            .contains("promote needs room and streamName"));
        assert!(err(&mut f, r#"{"type":"destroyComposition"}"#).contains("event"));
        assert!(f.send(h, r#"{"type":"error","error":"x"}"#).send.is_empty());
        // getActiveStreams is answered.
        f.b.stream_published("live/room1/s1");
        let out = f.send(h, r#"{"type":"getActiveStreams"}"#);
        assert_eq!(
            out.send[0].1,
            ServerMessage::ActiveStreams {
                list: vec![RoomStreams {
                    room: "live/room1".into(),
                    streams: vec!["s1".into()]
                }]
            }
        );
        // Unknown sockets are ignored.
        assert!(f.send(999, "{}").send.is_empty());
    }
}
