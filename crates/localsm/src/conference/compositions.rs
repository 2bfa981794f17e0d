//! SM1 composition store (§7.2), conference provisions (§7.3), `join`, mixer regions and the
//! SM2 Brew mixer records — sans-I/O. Every change is reported as a [`ConferenceEvent`] in the
//! returned value so the driver can start/stop the real mixer and push `activeCompositions`.

use std::collections::BTreeMap;

use red5_signal::rest::sm1::{Composition, EventLocation, Provision, ProvisionResponse};
use red5_signal::rest::sm2::{BrewMixer, RenderTree};
use serde_json::Value;

use super::{ApiError, ConferenceEvent};

/// Mixer `state` strings, lower-case as the backend compares them (§7.2).
pub mod state {
    pub const PENDING: &str = "pending";
    pub const INSERVICE: &str = "inservice";
    pub const COMPOSING: &str = "composing";
    pub const TERMINATING: &str = "terminating";
    /// The mixer stopped while its composition still exists (the host page reads this).
    pub const DISCONNECTED: &str = "disconnected";
}

/// What the store reports about itself (the "mixer node" of this server).
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// Mixer region = `availabilityZone` of the mixer node; the only valid composition `location`.
    pub region: String,
    /// `serverAddress` / `destination` reported in compositions and `join`.
    pub server_address: String,
    /// Node group name (SM1 `admin/nodegroup`, SM2 Brew `/streams/mixer/<nodeGroup>`).
    pub node_group: String,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            region: "local".into(),
            server_address: "127.0.0.1".into(),
            node_group: "default".into(),
        }
    }
}

/// The mixer output limits of red5-mixer's `MixerConfig` (checked at create time so a bad
/// composition fails with a 400 instead of a mixer that never starts).
pub fn check_output(width: u32, height: u32, fps: u32, kbps: u32) -> Result<(), ApiError> {
    if !(16..=4096).contains(&width)
        || !(16..=4096).contains(&height)
        || width % 2 + height % 2 != 0
    {
        return Err(ApiError::bad_request(format!(
            "Mixer size {width}x{height} is not supported (even, 16..4096)"
        )));
    }
    if !(1..=60).contains(&fps) {
        return Err(ApiError::bad_request(format!(
            "Mixer framerate {fps} is not supported (1..60)"
        )));
    }
    if !(50..=50_000).contains(&kbps) {
        return Err(ApiError::bad_request(format!(
            "Mixer bitrate {kbps} kbps is not supported (50..50000)"
        )));
    }
    Ok(())
}

/// One Brew mixer (SM2) with its render trees.
#[derive(Debug, Clone, PartialEq)]
pub struct BrewEntry {
    pub mixer: BrewMixer,
    pub render_trees: Vec<RenderTree>,
}

impl BrewEntry {
    /// The GET shape: the create body plus `renderTrees`.
    pub fn to_json(&self) -> Value {
        let mut v = serde_json::to_value(&self.mixer).unwrap_or(Value::Null);
        if let Value::Object(m) = &mut v {
            m.insert(
                "renderTrees".into(),
                Value::Array(self.render_trees.clone()),
            );
        }
        v
    }
}

#[derive(Debug, Default)]
pub struct CompositionStore {
    cfg: StoreConfig,
    /// Creation order (listing is newest first, as the docs' example).
    compositions: Vec<Composition>,
    provisions: BTreeMap<String, ProvisionResponse>,
    brew: BTreeMap<String, BrewEntry>,
    seq: u64,
}

impl CompositionStore {
    pub fn new(cfg: StoreConfig) -> Self {
        CompositionStore {
            cfg,
            ..Default::default()
        }
    }

    pub fn config(&self) -> &StoreConfig {
        &self.cfg
    }

    /// Mixer regions (`mixerRegions`, `availabilityZone` of the mixer node).
    pub fn regions(&self) -> Vec<String> {
        vec![self.cfg.region.clone()]
    }

    // ---- compositions (§7.2)

    /// `POST /composition`: validates, fills ids/addresses/numbers, state `pending`.
    pub fn create(
        &mut self,
        mut c: Composition,
        now_ms: i64,
    ) -> Result<(Composition, Vec<ConferenceEvent>), ApiError> {
        if c.event.trim().is_empty() {
            return Err(ApiError::bad_request("The composition needs an event name"));
        }
        if c.mixers.is_empty() {
            return Err(ApiError::bad_request(
                "The composition needs at least one mixer",
            ));
        }
        if c.location.len() != 1 {
            return Err(ApiError::bad_request(
                "The composition needs exactly one location (mixer region)",
            ));
        }
        if c.location[0] != self.cfg.region {
            return Err(ApiError::bad_request(format!(
                "No mixer nodes available in region {}",
                c.location[0]
            )));
        }
        let finals = c
            .mixers
            .iter()
            .filter(|m| m.destination_mixer_name.is_empty())
            .count();
        if finals != 1 {
            return Err(ApiError::bad_request(format!(
                "Exactly one mixer must have an empty destinationMixerName (found {finals})"
            )));
        }
        if self.get(&c.event).is_some() {
            return Err(ApiError::bad_request(format!(
                "A composition for event {} already exists",
                c.event
            )));
        }
        let names: Vec<&str> = c.mixers.iter().map(|m| m.mixer_name.as_str()).collect();
        for m in &c.mixers {
            if m.mixer_name.is_empty()
                || m.path.trim_matches('/').is_empty()
                || m.stream_name.is_empty()
            {
                return Err(ApiError::bad_request(
                    "Every mixer needs mixerName, path and streamName",
                ));
            }
            if !m.destination_mixer_name.is_empty()
                && !names.contains(&m.destination_mixer_name.as_str())
            {
                return Err(ApiError::bad_request(format!(
                    "destinationMixerName {} is not a mixer of this composition",
                    m.destination_mixer_name
                )));
            }
            check_output(
                m.width.unwrap_or(1280),
                m.height.unwrap_or(720),
                m.framerate.unwrap_or(30),
                m.bitrate.unwrap_or(1500),
            )?;
        }
        let region = self.cfg.region.clone();
        for m in &mut c.mixers {
            self.seq += 1;
            m.id = Some(format!(
                "localmixer-{region}-{now_ms}{:03}",
                self.seq % 1000
            ));
            m.location = Some(region.clone());
            m.server_address = Some(self.cfg.server_address.clone());
            m.destination = Some(self.cfg.server_address.clone());
            m.path = m.path.trim_matches('/').to_owned();
            m.width = Some(m.width.unwrap_or(1280));
            m.height = Some(m.height.unwrap_or(720));
            m.framerate = Some(m.framerate.unwrap_or(30));
            m.bitrate = Some(m.bitrate.unwrap_or(1500));
            m.state = Some(state::PENDING.into());
            m.is_web_socket_connected = None;
        }
        self.compositions.push(c.clone());
        Ok((c.clone(), vec![ConferenceEvent::CompositionCreated(c)]))
    }

    /// Event names, newest first.
    pub fn list(&self) -> Vec<String> {
        self.compositions
            .iter()
            .rev()
            .map(|c| c.event.clone())
            .collect()
    }

    pub fn all(&self) -> &[Composition] {
        &self.compositions
    }

    pub fn get(&self, event: &str) -> Option<&Composition> {
        self.compositions.iter().find(|c| c.event == event)
    }

    /// `DELETE /composition/<event>`: the mixers go `terminating` and the composition leaves
    /// the store; the event carries that last snapshot so the driver stops the mixer.
    pub fn delete(&mut self, event: &str) -> Result<(Composition, Vec<ConferenceEvent>), ApiError> {
        let Some(pos) = self.compositions.iter().position(|c| c.event == event) else {
            return Err(ApiError::not_found(format!(
                "No composition for event {event}"
            )));
        };
        let mut c = self.compositions.remove(pos);
        for m in &mut c.mixers {
            m.state = Some(state::TERMINATING.into());
        }
        Ok((c.clone(), vec![ConferenceEvent::CompositionDeleted(c)]))
    }

    /// The output stream `<path>/<streamName>` of the final mixer.
    pub fn output_guid(c: &Composition) -> Option<String> {
        final_mixer_path(c).and_then(|p| {
            c.mixers
                .iter()
                .find(|m| m.destination_mixer_name.is_empty())
                .map(|m| format!("{p}/{}", m.stream_name))
        })
    }

    fn set_state(&mut self, event: &str, to: &str, from: &[&str]) -> Vec<ConferenceEvent> {
        let Some(c) = self.compositions.iter_mut().find(|c| c.event == event) else {
            return vec![];
        };
        let mut changed = false;
        for m in &mut c.mixers {
            let cur = m.state.as_deref().unwrap_or(state::PENDING);
            if from.iter().any(|f| cur.eq_ignore_ascii_case(f)) {
                m.state = Some(to.into());
                changed = true;
            }
        }
        if changed {
            vec![ConferenceEvent::CompositionState {
                event: event.into(),
                state: to.into(),
            }]
        } else {
            vec![]
        }
    }

    /// The mixer of `event` is running (pipeline built, not yet composing): `inservice`.
    pub fn mixer_started(&mut self, event: &str) -> Vec<ConferenceEvent> {
        self.set_state(
            event,
            state::INSERVICE,
            &[state::PENDING, state::DISCONNECTED],
        )
    }

    /// The mixer emitted an encoded composite frame: `composing` (only the first call changes
    /// anything, so calling it per frame is cheap).
    pub fn mixer_emitted_frame(&mut self, event: &str) -> Vec<ConferenceEvent> {
        self.set_state(
            event,
            state::COMPOSING,
            &[state::PENDING, state::INSERVICE, state::DISCONNECTED],
        )
    }

    /// The mixer ended while the composition exists (a crash or a failed start).
    pub fn mixer_stopped(&mut self, event: &str) -> Vec<ConferenceEvent> {
        self.set_state(
            event,
            state::DISCONNECTED,
            &[state::PENDING, state::INSERVICE, state::COMPOSING],
        )
    }

    // ---- join (§2.1 / DOC-MIXER join-conference)

    /// `GET /event/<scope>/<room>/join`: a composition with `event == room` whose mixer
    /// publishes `<scope>/<room>/<room>`.
    pub fn join(&self, scope: &str, room: &str) -> Result<EventLocation, ApiError> {
        let scope = scope.trim_matches('/');
        let ctx = format!("{scope}/{room}");
        let found = self.get(room).is_some_and(|c| {
            c.mixers
                .iter()
                .any(|m| m.path.trim_matches('/') == ctx && m.stream_name == room)
        });
        if !found {
            return Err(ApiError::bad_request(format!(
                "No conference composition publishes {ctx}/{room}"
            )));
        }
        Ok(EventLocation {
            name: room.into(),
            scope: ctx,
            server_address: self.cfg.server_address.clone(),
            region: Some(self.cfg.region.clone()),
        })
    }

    // ---- conference provisions (§7.3)

    /// `POST admin/event/meta/<context>/<name>`.
    pub fn create_provision(
        &mut self,
        context: &str,
        name: &str,
        body: Provision,
        now_ms: i64,
    ) -> Result<ProvisionResponse, ApiError> {
        let context = context.trim_matches('/');
        if context.is_empty() || name.is_empty() {
            return Err(ApiError::bad_request(
                "Expected admin/event/meta/<scope>/<room>/<room>",
            ));
        }
        let key = format!("{context}/{name}");
        if self.provisions.contains_key(&key) {
            return Err(ApiError::bad_request("Provision already exists"));
        }
        let scope = context.split('/').next().unwrap_or(context).to_owned();
        let resp = ProvisionResponse {
            name: name.into(),
            scope,
            data: serde_json::to_value(&body).unwrap_or(Value::Null),
            updated: Some(now_ms),
        };
        self.provisions.insert(key, resp.clone());
        Ok(resp)
    }

    /// `GET admin/event/meta` → `["guid: live/room1/room1", …]`.
    pub fn list_provisions(&self) -> Vec<String> {
        self.provisions
            .keys()
            .map(|k| format!("guid: {k}"))
            .collect()
    }

    pub fn get_provision(&self, context: &str, name: &str) -> Option<&ProvisionResponse> {
        self.provisions
            .get(&format!("{}/{name}", context.trim_matches('/')))
    }

    pub fn delete_provision(
        &mut self,
        context: &str,
        name: &str,
    ) -> Result<ProvisionResponse, ApiError> {
        self.provisions
            .remove(&format!("{}/{name}", context.trim_matches('/')))
            .ok_or_else(|| ApiError::not_found("Provision not found"))
    }

    // ---- SM2 Brew mixer (`/as/v1/streams/mixer/<nodeGroup>[/<eventId>]`)

    fn check_node_group(&self, ng: &str) -> Result<(), ApiError> {
        if ng == self.cfg.node_group {
            Ok(())
        } else {
            Err(ApiError::not_found(format!("Node group not found: {ng}")))
        }
    }

    pub fn brew_create(
        &mut self,
        ng: &str,
        m: BrewMixer,
    ) -> Result<(BrewEntry, Vec<ConferenceEvent>), ApiError> {
        self.check_node_group(ng)?;
        if m.event_id.is_empty() || m.stream_guid.trim_matches('/').is_empty() {
            return Err(ApiError::bad_request(
                "The mixer needs eventId and streamGuid",
            ));
        }
        if self.brew.contains_key(&m.event_id) {
            return Err(ApiError::conflict(format!(
                "A mixer for event {} already exists",
                m.event_id
            )));
        }
        check_output(m.width, m.height, m.frame_rate, m.bit_rate / 1000)?;
        if !(1..=2).contains(&m.audio_channels) || m.audio_sample_rate != 48_000 {
            return Err(ApiError::bad_request(
                "The mixer supports 48000 Hz audio with 1 or 2 channels",
            ));
        }
        let e = BrewEntry {
            mixer: m,
            render_trees: vec![],
        };
        self.brew.insert(e.mixer.event_id.clone(), e.clone());
        Ok((e.clone(), vec![ConferenceEvent::BrewCreated(e)]))
    }

    pub fn brew_list(&self, ng: &str) -> Result<Vec<&BrewEntry>, ApiError> {
        self.check_node_group(ng)?;
        Ok(self.brew.values().collect())
    }

    pub fn brew_get(&self, ng: &str, id: &str) -> Result<&BrewEntry, ApiError> {
        self.check_node_group(ng)?;
        self.brew
            .get(id)
            .ok_or_else(|| ApiError::not_found(format!("No mixer for event {id}")))
    }

    /// `PUT …/<eventId>` with an array of render trees (each must be a JSON object).
    pub fn brew_update(
        &mut self,
        ng: &str,
        id: &str,
        trees: Vec<RenderTree>,
    ) -> Result<(BrewEntry, Vec<ConferenceEvent>), ApiError> {
        self.check_node_group(ng)?;
        let Some(e) = self.brew.get_mut(id) else {
            return Err(ApiError::not_found(format!("No mixer for event {id}")));
        };
        if trees.is_empty() || !trees.iter().all(Value::is_object) {
            return Err(ApiError::bad_request(
                "The body must be a non-empty array of render tree objects",
            ));
        }
        if trees.len() as u32 > e.mixer.sub_mixes.max(1) {
            return Err(ApiError::bad_request(format!(
                "{} render trees for a mixer with {} sub-mixes",
                trees.len(),
                e.mixer.sub_mixes
            )));
        }
        e.render_trees = trees;
        let e = e.clone();
        Ok((e.clone(), vec![ConferenceEvent::BrewUpdated(e)]))
    }

    pub fn brew_delete(
        &mut self,
        ng: &str,
        id: &str,
    ) -> Result<(BrewEntry, Vec<ConferenceEvent>), ApiError> {
        self.check_node_group(ng)?;
        let e = self
            .brew
            .remove(id)
            .ok_or_else(|| ApiError::not_found(format!("No mixer for event {id}")))?;
        Ok((e.clone(), vec![ConferenceEvent::BrewDeleted(e)]))
    }
}

/// `path` of the composition's final mixer (the one with an empty `destinationMixerName`).
pub fn final_mixer_path(c: &Composition) -> Option<String> {
    c.mixers
        .iter()
        .find(|m| m.destination_mixer_name.is_empty())
        .map(|m| m.path.trim_matches('/').to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use red5_signal::rest::sm1::Mixer;

    pub(crate) fn mixer(name: &str, dest: &str) -> Mixer {
        serde_json::from_value(serde_json::json!({
            "mixerName": name, "mixingPage": "https://sm/page?sm=true", "streamName": "room1",
            "path": "live/room1", "width": "1280", "height": "720", "framerate": "30",
            "bitrate": "1500", "doForward": true, "destinationMixerName": dest
        }))
        .unwrap()
    }

    fn comp(event: &str) -> Composition {
        Composition {
            event: event.into(),
            transcode_composition: false,
            digest: "t".into(),
            mixers: vec![mixer("m1", "")],
            location: vec!["local".into()],
        }
    }

    #[test]
    fn create_fills_ids_and_state_progresses_only_on_frames() {
        let mut s = CompositionStore::new(StoreConfig::default());
        let (c, ev) = s.create(comp("room1"), 1000).unwrap();
        assert!(matches!(ev[0], ConferenceEvent::CompositionCreated(_)));
        let m = &c.mixers[0];
        assert_eq!(m.state.as_deref(), Some("pending"));
        assert_eq!(m.location.as_deref(), Some("local"));
        assert_eq!((m.width, m.bitrate), (Some(1280), Some(1500)));
        assert!(m
            .id
            .as_deref()
            .unwrap()
            .starts_with("localmixer-local-1000"));
        assert_eq!(s.mixer_started("room1").len(), 1);
        assert_eq!(
            s.get("room1").unwrap().mixers[0].state.as_deref(),
            Some("inservice")
        );
        assert!(!s.get("room1").unwrap().is_composing());
        assert_eq!(s.mixer_emitted_frame("room1").len(), 1);
        assert!(s.get("room1").unwrap().is_composing());
        // Per-frame calls after the first change nothing.
        assert!(s.mixer_emitted_frame("room1").is_empty());
        assert!(s.mixer_started("room1").is_empty());
        assert_eq!(s.mixer_stopped("room1").len(), 1);
        assert_eq!(
            s.get("room1").unwrap().mixers[0].state.as_deref(),
            Some("disconnected")
        );
        assert!(s.mixer_emitted_frame("nope").is_empty());
    }

    #[test]
    fn create_rejects_bad_compositions() {
        let mut s = CompositionStore::new(StoreConfig::default());
        let mut c = comp("");
        assert!(s
            .create(c.clone(), 1)
            .unwrap_err()
            .message
            .contains("event"));
        c.event = "e".into();
        c.location = vec![];
        assert_eq!(s.create(c.clone(), 1).unwrap_err().status, 400);
        c.location = vec!["mars".into()];
        assert!(s.create(c.clone(), 1).unwrap_err().message.contains("mars"));
        c.location = vec!["local".into()];
        c.mixers = vec![mixer("a", ""), mixer("b", "")];
        assert!(s
            .create(c.clone(), 1)
            .unwrap_err()
            .message
            .contains("found 2"));
        c.mixers = vec![mixer("a", "zzz"), mixer("b", "")];
        assert!(s.create(c.clone(), 1).unwrap_err().message.contains("zzz"));
        c.mixers = vec![mixer("a", "b"), mixer("b", "")];
        c.mixers[1].width = Some(1279);
        assert!(s
            .create(c.clone(), 1)
            .unwrap_err()
            .message
            .contains("1279x720"));
        c.mixers[1].width = None;
        s.create(c.clone(), 1).unwrap();
        assert!(s
            .create(c, 1)
            .unwrap_err()
            .message
            .contains("already exists"));
    }

    #[test]
    fn list_get_delete() {
        let mut s = CompositionStore::new(StoreConfig::default());
        s.create(comp("a"), 1).unwrap();
        s.create(comp("b"), 1).unwrap();
        assert_eq!(s.list(), vec!["b", "a"]);
        let (gone, ev) = s.delete("a").unwrap();
        assert_eq!(gone.mixers[0].state.as_deref(), Some("terminating"));
        assert!(matches!(ev[0], ConferenceEvent::CompositionDeleted(_)));
        assert!(s.get("a").is_none());
        assert_eq!(s.delete("a").unwrap_err().status, 404);
        assert_eq!(
            CompositionStore::output_guid(s.get("b").unwrap()).as_deref(),
            Some("live/room1/room1")
        );
    }

    #[test]
    fn join_needs_the_room_composition() {
        let mut s = CompositionStore::new(StoreConfig::default());
        assert_eq!(s.join("live", "room1").unwrap_err().status, 400);
        s.create(comp("room1"), 1).unwrap();
        let j = s.join("/live/", "room1").unwrap();
        assert_eq!(j.scope, "live/room1");
        assert_eq!(j.name, "room1");
        assert_eq!(j.server_address, "127.0.0.1");
        assert_eq!(j.region.as_deref(), Some("local"));
        assert_eq!(s.join("other", "room1").unwrap_err().status, 400);
        let mut c = comp("room2");
        c.mixers[0].stream_name = "x".into();
        s.create(c, 1).unwrap();
        assert!(s.join("live", "room2").is_err());
    }

    #[test]
    fn provisions() {
        let mut s = CompositionStore::new(StoreConfig::default());
        let p = Provision::conference("live/room1", "room1");
        let r = s
            .create_provision("live/room1", "room1", p.clone(), 7)
            .unwrap();
        assert_eq!(
            (r.name.as_str(), r.scope.as_str(), r.updated),
            ("room1", "live", Some(7))
        );
        assert_eq!(r.data["parameters"]["audiotracks"], 3);
        let e = s.create_provision("live/room1", "room1", p, 8).unwrap_err();
        assert_eq!(e.message, "Provision already exists");
        assert_eq!(s.list_provisions(), vec!["guid: live/room1/room1"]);
        assert!(s.get_provision("live/room1", "room1").is_some());
        assert_eq!(
            s.delete_provision("live/room1", "room1").unwrap().name,
            "room1"
        );
        assert_eq!(
            s.delete_provision("live/room1", "room1")
                .unwrap_err()
                .status,
            404
        );
    }

    #[test]
    fn brew_crud() {
        let mut s = CompositionStore::new(StoreConfig::default());
        let m = BrewMixer::new("ev1", "live/mix1");
        assert_eq!(s.brew_create("other", m.clone()).unwrap_err().status, 404);
        s.brew_create("default", m.clone()).unwrap();
        assert_eq!(s.brew_create("default", m.clone()).unwrap_err().status, 409);
        let mut bad = BrewMixer::new("ev2", "live/mix2");
        bad.frame_rate = 0;
        assert_eq!(s.brew_create("default", bad).unwrap_err().status, 400);
        assert_eq!(s.brew_list("default").unwrap().len(), 1);
        let tree = serde_json::json!({"type":"CompositorNode","children":[]});
        assert!(s.brew_update("default", "ev1", vec![]).is_err());
        assert!(s
            .brew_update("default", "ev1", vec![tree.clone(), tree.clone()])
            .unwrap_err()
            .message
            .contains("sub-mixes"));
        let (e, _) = s.brew_update("default", "ev1", vec![tree.clone()]).unwrap();
        assert_eq!(e.to_json()["renderTrees"][0], tree);
        assert_eq!(s.brew_get("default", "ev1").unwrap().render_trees.len(), 1);
        assert!(s.brew_delete("default", "ev1").is_ok());
        assert_eq!(s.brew_get("default", "ev1").unwrap_err().status, 404);
    }
}
