//! Runs one red5-mixer [`MixerThread`] per composition, following the conference events:
//! created → spawn (state `inservice`), first encoded composite → `composing`, conference list
//! changes → participants/presenter, deleted → stop. Media in via [`MixerHost::push_video`] /
//! [`MixerHost::push_audio`] (decoded frames of `<room>/<stream>`), media out via a
//! [`MixerSink`] that the SFU wiring implements (publish `<app>/<room>/<room>`, mix-minus).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use red5_media::frame::{AudioFrame, VideoFrame};
use red5_mixer::{AudioOutput, MixerConfig, MixerEvent, MixerThread, VideoOutput};
use red5_signal::rest::sm1::Composition;
use tokio::sync::broadcast::error::RecvError;
use tokio::task::JoinHandle;

use super::backend::{base_room, split_guid};
use super::compositions::{final_mixer_path, CompositionStore};
use super::{ConferenceEvent, ConferenceState};

/// Where the mixer outputs go (called on the mixer thread: keep it short, hand off to the SFU).
pub trait MixerSink: Send + Sync + 'static {
    /// A composite frame for `output_guid` (`<path>/<streamName>` of the final mixer).
    fn video(&self, output_guid: &str, v: &VideoOutput);
    /// A 20 ms audio step: `full_mix` for viewers of `output_guid`, per-participant mix-minus.
    fn audio(&self, output_guid: &str, a: &AudioOutput);
    /// The mixer of `output_guid` stopped for good (its thread has ended): unpublish.
    fn stopped(&self, _output_guid: &str) {}
}

struct Running {
    thread: MixerThread,
    /// Conference context (`live/room1`) whose list and streams feed this mixer (empty for
    /// a Brew mixer).
    room: String,
    /// Brew: the `streamGuid`s of the render trees, which are also the participant ids.
    sources: Vec<String>,
    /// The published output (`<path>/<streamName>` or the Brew `streamGuid`).
    output: String,
}

/// Every `streamGuid` string in the render trees, in tree order, without duplicates. (The
/// node geometry is Brew's and not documented publicly: sources are tiled as a grid.)
pub fn render_tree_sources(trees: &[serde_json::Value]) -> Vec<String> {
    fn walk(v: &serde_json::Value, out: &mut Vec<String>) {
        match v {
            serde_json::Value::Object(m) => {
                if let Some(g) = m.get("streamGuid").and_then(serde_json::Value::as_str) {
                    let g = g.trim_matches('/').to_owned();
                    if !g.is_empty() && !out.contains(&g) {
                        out.push(g);
                    }
                }
                m.values().for_each(|c| walk(c, out));
            }
            serde_json::Value::Array(a) => a.iter().for_each(|c| walk(c, out)),
            _ => {}
        }
    }
    let mut out = vec![];
    trees.iter().for_each(|t| walk(t, &mut out));
    out
}

fn brew_key(event_id: &str) -> String {
    format!("brew:{event_id}")
}

/// The mixers of one server.
pub struct MixerHost {
    state: ConferenceState,
    sink: Arc<dyn MixerSink>,
    running: Mutex<HashMap<String, Running>>,
}

impl MixerHost {
    /// Subscribes before returning (no composition created after this call is missed) and
    /// drives the mixers from a tokio task until the state is dropped.
    pub fn spawn(state: ConferenceState, sink: Arc<dyn MixerSink>) -> (Arc<Self>, JoinHandle<()>) {
        let mut rx = state.subscribe();
        let host = Arc::new(MixerHost {
            state,
            sink,
            running: Mutex::new(HashMap::new()),
        });
        let h = host.clone();
        let task = tokio::spawn(async move {
            loop {
                match rx.recv().await {
                    Ok(ev) => h.handle(&ev),
                    Err(RecvError::Lagged(n)) => {
                        tracing::warn!(missed = n, "mixer host lagged behind conference events")
                    }
                    Err(RecvError::Closed) => break,
                }
            }
            h.shutdown();
        });
        (host, task)
    }

    fn running(&self) -> MutexGuard<'_, HashMap<String, Running>> {
        self.running.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Events (compositions) with a live mixer.
    pub fn events(&self) -> Vec<String> {
        let mut v: Vec<String> = self.running().keys().cloned().collect();
        v.sort();
        v
    }

    pub fn handle(&self, ev: &ConferenceEvent) {
        match ev {
            ConferenceEvent::CompositionCreated(c) => self.start(c),
            ConferenceEvent::CompositionDeleted(c) => {
                let r = self.running().remove(&c.event);
                if let Some(r) = r {
                    r.thread.stop();
                    self.sink.stopped(&r.output);
                }
            }
            ConferenceEvent::ConferenceChanged {
                room,
                streams,
                presenter,
            } => {
                for r in self
                    .running()
                    .values()
                    .filter(|r| !r.room.is_empty() && r.room == *room)
                {
                    r.thread.set_participants(streams.clone());
                    r.thread.set_presenter(presenter.clone());
                }
            }
            ConferenceEvent::BrewCreated(e) => self.start_brew(e),
            ConferenceEvent::BrewUpdated(e) => {
                let sources = render_tree_sources(&e.render_trees);
                if let Some(r) = self.running().get_mut(&brew_key(&e.mixer.event_id)) {
                    r.thread.set_participants(sources.clone());
                    r.sources = sources;
                }
            }
            ConferenceEvent::BrewDeleted(e) => {
                let r = self.running().remove(&brew_key(&e.mixer.event_id));
                if let Some(r) = r {
                    r.thread.stop();
                    self.sink.stopped(&r.output);
                }
            }
            ConferenceEvent::CompositionState { .. } => {}
        }
    }

    fn start(&self, c: &Composition) {
        let (Some(room), Some(output)) = (final_mixer_path(c), CompositionStore::output_guid(c))
        else {
            return;
        };
        let Some(m) = c
            .mixers
            .iter()
            .find(|m| m.destination_mixer_name.is_empty())
        else {
            return;
        };
        let config = MixerConfig::new(
            m.width.unwrap_or(1280),
            m.height.unwrap_or(720),
            m.framerate.unwrap_or(30),
            m.bitrate.unwrap_or(1500),
        );
        let (st, sink, event) = (self.state.clone(), self.sink.clone(), c.event.clone());
        let out = output.clone();
        let spawned = MixerThread::spawn(config, move |ev| match ev {
            MixerEvent::Video(v) => {
                sink.video(&output, &v);
                // Only a real encoded composite makes the composition `composing`.
                if v.encoded.is_some() {
                    st.mixer_emitted_frame(&event);
                }
            }
            MixerEvent::Audio(a) => sink.audio(&output, &a),
        });
        match spawned {
            Ok(thread) => {
                let (streams, presenter) = self.state.conference(&room);
                thread.set_participants(streams);
                thread.set_presenter(presenter);
                if let Some(old) = self.running().insert(
                    c.event.clone(),
                    Running {
                        thread,
                        room,
                        sources: vec![],
                        output: out,
                    },
                ) {
                    old.thread.stop();
                }
                self.state.mixer_started(&c.event);
            }
            Err(e) => {
                tracing::warn!(event = %c.event, "the mixer did not start: {e}");
                self.state.mixer_stopped(&c.event);
            }
        }
    }

    fn start_brew(&self, e: &super::BrewEntry) {
        let m = &e.mixer;
        let mut config =
            MixerConfig::new(m.width, m.height, m.frame_rate, (m.bit_rate / 1000).max(1));
        config.layout = red5_mixer::LayoutKind::Grid;
        let (sink, output) = (
            self.sink.clone(),
            m.stream_guid.trim_matches('/').to_owned(),
        );
        let out = output.clone();
        let spawned = MixerThread::spawn(config, move |ev| match ev {
            MixerEvent::Video(v) => sink.video(&output, &v),
            MixerEvent::Audio(a) => sink.audio(&output, &a),
        });
        match spawned {
            Ok(thread) => {
                let sources = render_tree_sources(&e.render_trees);
                thread.set_participants(sources.clone());
                let r = Running {
                    thread,
                    room: String::new(),
                    sources,
                    output: out,
                };
                if let Some(old) = self.running().insert(brew_key(&m.event_id), r) {
                    old.thread.stop();
                }
            }
            Err(err) => tracing::warn!(event = %m.event_id, "the Brew mixer did not start: {err}"),
        }
    }

    /// A decoded picture of `guid` (`<room>/<stream>`, or its waiting-room copy
    /// `<room>_wr/<stream>` until the conference publish exists). `false` if no mixer takes it.
    pub fn push_video(&self, guid: &str, frame: VideoFrame) -> bool {
        let Some((ctx, name)) = split_guid(guid) else {
            return false;
        };
        let room = base_room(ctx);
        let running = self.running();
        let mut took = false;
        for r in running.values() {
            if !r.room.is_empty() && r.room == room {
                took |= r.thread.push_video(name, frame.clone());
            } else if r.sources.iter().any(|g| g == guid.trim_matches('/')) {
                took |= r.thread.push_video(guid.trim_matches('/'), frame.clone());
            }
        }
        took
    }

    /// Decoded 48 kHz audio of `guid` (see [`MixerHost::push_video`]).
    pub fn push_audio(&self, guid: &str, frame: AudioFrame) -> bool {
        let Some((ctx, name)) = split_guid(guid) else {
            return false;
        };
        let room = base_room(ctx);
        let running = self.running();
        let mut took = false;
        for r in running.values() {
            if !r.room.is_empty() && r.room == room {
                took |= r.thread.push_audio(name, frame.clone());
            } else if r.sources.iter().any(|g| g == guid.trim_matches('/')) {
                took |= r.thread.push_audio(guid.trim_matches('/'), frame.clone());
            }
        }
        took
    }

    /// A subscriber of `output_guid` needs a key frame: the mixer encodes one next.
    pub fn request_keyframe(&self, output_guid: &str) {
        for r in self.running().values().filter(|r| r.output == output_guid) {
            r.thread.request_keyframe();
        }
    }

    /// Rooms (`live/room1`) with a running conference mixer, and the Brew source GUIDs.
    pub fn inputs(&self) -> (Vec<String>, Vec<String>) {
        let running = self.running();
        let mut rooms: Vec<String> = running
            .values()
            .filter(|r| !r.room.is_empty())
            .map(|r| r.room.clone())
            .collect();
        rooms.sort();
        rooms.dedup();
        let mut sources: Vec<String> = running.values().flat_map(|r| r.sources.clone()).collect();
        sources.sort();
        sources.dedup();
        (rooms, sources)
    }

    /// Stops every mixer (server shutdown; abort the task returned by `spawn` as well).
    pub fn shutdown(&self) {
        let all: Vec<Running> = self.running().drain().map(|(_, r)| r).collect();
        for r in all {
            r.thread.stop();
            self.sink.stopped(&r.output);
        }
    }
}
