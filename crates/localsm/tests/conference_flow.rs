//! The conference control plane over real sockets: the router alone on 127.0.0.1:0, driven by
//! red5-signal's backend types over tokio-tungstenite, its SM1/SM2 REST clients and reqwest.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may unwrap

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use red5_localsm::conference::{
    standalone_router, ConferenceConfig, ConferenceEvent, ConferenceState,
};
use red5_signal::backend::{connect_url, ClientMessage, ConnectParams, RoomStreams, ServerMessage};
use red5_signal::driver::backend::BackendConnection;
use red5_signal::driver::rest::{Sm1Client, Sm2Client};
use red5_signal::flow::backend::BackendEvent;
use red5_signal::rest::sm1::{Composition, Mixer, Provision};
use red5_signal::rest::sm2::BrewMixer;
use red5_signal::urls::Lookup;
use red5_signal::Secret;
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// Guard against a hung socket; tests wait on frames, this only bounds a failure.
const GUARD: Duration = Duration::from_secs(15);
const TOKEN: &str = "sm-token";

struct Server {
    http: String,
    authority: String,
    state: ConferenceState,
}

async fn start() -> Server {
    // reqwest is built with rustls-no-provider (via red5-signal).
    red5_signal::driver::tls::ensure_crypto_provider();
    let state = ConferenceState::new(ConferenceConfig {
        access_token: Some(Secret::new(TOKEN)),
        ..Default::default()
    });
    let app = standalone_router(state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    Server {
        http: format!("http://{addr}"),
        authority: addr.to_string(),
        state,
    }
}

struct Sock(WebSocketStream<MaybeTlsStream<TcpStream>>);

impl Sock {
    async fn open(srv: &Server, room: &str, host: bool, mixer: Option<bool>) -> Sock {
        let url = connect_url(
            &srv.authority,
            &ConnectParams {
                room: room.into(),
                host,
                mixer,
                presenter: false,
            },
        );
        let (ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
        Sock(ws)
    }

    async fn next(&mut self) -> ServerMessage {
        loop {
            let frame = tokio::time::timeout(GUARD, self.0.next())
                .await
                .expect("no frame from the backend")
                .expect("socket ended")
                .unwrap();
            if let Message::Text(t) = frame {
                return ServerMessage::parse(t.as_str()).unwrap();
            }
        }
    }

    async fn kind(&mut self) -> String {
        let m = self.next().await;
        serde_json::to_value(&m).unwrap()["type"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    async fn kinds(&mut self, n: usize) -> Vec<String> {
        let mut v = vec![];
        for _ in 0..n {
            v.push(self.kind().await);
        }
        v
    }

    async fn send(&mut self, m: &ClientMessage) {
        self.0.send(Message::text(m.to_json())).await.unwrap();
    }

    async fn raw(&mut self, t: &str) {
        self.0.send(Message::text(t.to_owned())).await.unwrap();
    }

    /// `getActiveStreams` is answered in order: receiving its reply proves nothing else was
    /// queued before it.
    async fn barrier(&mut self) {
        self.send(&ClientMessage::GetActiveStreams).await;
        match self.next().await {
            ServerMessage::ActiveStreams { .. } => {}
            other => panic!("unexpected frame before the barrier: {other:?}"),
        }
    }

    async fn expect_error(&mut self, want: &str) {
        match self.next().await {
            ServerMessage::Error { error } => assert!(error.contains(want), "{error} !~ {want}"),
            other => panic!("expected an error with {want}, got {other:?}"),
        }
    }
}

fn room_msg(kind: &str, room: &str, s: &str) -> ClientMessage {
    let (room, stream_name) = (room.to_owned(), s.to_owned());
    match kind {
        "promote" => ClientMessage::Promote { room, stream_name },
        "demote" => ClientMessage::Demote { room, stream_name },
        "presenter" => ClientMessage::Presenter { room, stream_name },
        "exclude" => ClientMessage::Exclude { room, stream_name },
        _ => unreachable!(),
    }
}

async fn webhook(srv: &Server, event: &str, guid: &str) {
    let r = reqwest::Client::new()
        .post(format!("{}/webhook", srv.http))
        .json(&json!({"event": event, "guid": guid, "clusterNodeType": "TYPE_ORIGIN"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap(), json!({"result": true}));
}

fn conference(presenter: Option<&str>, room: &str, streams: &[&str]) -> ServerMessage {
    ServerMessage::Conference {
        presenter: presenter.map(str::to_owned),
        room: room.into(),
        streams: Some(streams.iter().map(|s| s.to_string()).collect()),
    }
}

fn active(room: &str, streams: &[&str]) -> ServerMessage {
    ServerMessage::Active {
        room: room.into(),
        screenshare_name: None,
        streams: Some(streams.iter().map(|s| s.to_string()).collect()),
    }
}

fn mixer_json() -> Mixer {
    serde_json::from_value(json!({
        "mixerName": "7d3c", "mixingPage": "https://sm/webrtcexamples/sample-mixer-pages/conference/?role=mixer&app=live&room=room1&sm=true",
        "streamName": "room1", "path": "live/room1", "width": "1280", "height": "720",
        "framerate": "30", "bitrate": "1500", "doForward": true, "destinationMixerName": ""
    }))
    .unwrap()
}

fn create_msg() -> Value {
    json!({"type":"createComposition","event":"room1","digest":TOKEN,"transcodeComposition":false,
           "mixers":[serde_json::to_value(mixer_json()).unwrap()],"location":["local"]})
}

#[tokio::test]
async fn waiting_room_promote_presenter_demote_exclude() {
    let srv = start().await;
    let mut events = srv.state.subscribe();
    let mut wr = Sock::open(&srv, "live/room1_wr", true, None).await;
    assert_eq!(
        wr.kinds(4).await,
        ["mixerRegions", "active", "conference", "activeCompositions"]
    );
    let mut host = Sock::open(&srv, "live/room1", true, Some(false)).await;
    assert_eq!(
        host.next().await,
        ServerMessage::MixerRegions {
            regions: vec!["local".into()]
        }
    );
    assert_eq!(host.next().await, active("live/room1", &[]));
    assert_eq!(host.next().await, conference(None, "live/room1", &[]));
    assert_eq!(host.kind().await, "activeCompositions");
    let mut viewer = Sock::open(&srv, "live/room1", false, None).await;
    assert_eq!(viewer.kinds(2).await, ["mixerRegions", "active"]);

    // Three participants publish into the waiting room.
    for (i, s) in ["alice", "bob", "carol"].iter().enumerate() {
        webhook(&srv, "stream-published", &format!("live/room1_wr/{s}")).await;
        let want: Vec<&str> = ["alice", "bob", "carol"][..=i].to_vec();
        assert_eq!(wr.next().await, active("live/room1_wr", &want));
        assert_eq!(wr.next().await, conference(None, "live/room1_wr", &[]));
    }
    // Ignored names never show.
    webhook(&srv, "stream-published", "live/room1_wr/x_r5participator").await;
    wr.barrier().await;

    // Admit all three (host uses the conference context with the waiting-room names).
    for (i, s) in ["alice", "bob", "carol"].iter().enumerate() {
        host.send(&room_msg("promote", "live/room1", s)).await;
        let want: Vec<&str> = ["alice", "bob", "carol"][..=i].to_vec();
        assert_eq!(host.next().await, active("live/room1", &[]));
        assert_eq!(
            host.next().await,
            conference(Some("alice"), "live/room1", &want)
        );
        assert_eq!(viewer.next().await, active("live/room1", &[]));
    }
    match events.recv().await.unwrap() {
        ConferenceEvent::ConferenceChanged {
            room,
            streams,
            presenter,
        } => {
            assert_eq!(
                (room.as_str(), streams.len(), presenter.as_deref()),
                ("live/room1", 1, Some("alice"))
            );
        }
        other => panic!("{other:?}"),
    }
    host.send(&room_msg("promote", "live/room1", "bob")).await;
    host.expect_error("already in the conference").await;

    host.send(&room_msg("presenter", "live/room1", "carol"))
        .await;
    host.next().await;
    assert_eq!(
        host.next().await,
        conference(Some("carol"), "live/room1", &["alice", "bob", "carol"])
    );
    host.send(&room_msg("demote", "live/room1", "carol")).await;
    host.next().await;
    assert_eq!(
        host.next().await,
        conference(Some("alice"), "live/room1", &["alice", "bob"])
    );

    // Order: move bob first (the testbed's buggy index is not reproduced).
    host.send(&ClientMessage::Order {
        room: "live/room1".into(),
        order: 0,
        stream_name: "bob".into(),
    })
    .await;
    host.next().await;
    assert_eq!(
        host.next().await,
        conference(Some("alice"), "live/room1", &["bob", "alice"])
    );

    // Exclude bob from the waiting room: out of both lists, and stays out.
    wr.send(&room_msg("exclude", "live/room1_wr", "bob")).await;
    assert_eq!(
        wr.next().await,
        ServerMessage::Excluded {
            room: "live/room1_wr".into(),
            streams: vec!["bob".into()]
        }
    );
    assert_eq!(
        wr.next().await,
        active("live/room1_wr", &["alice", "carol"])
    );
    assert_eq!(wr.next().await, conference(None, "live/room1_wr", &[]));
    assert_eq!(host.kind().await, "excluded");
    host.next().await;
    assert_eq!(
        host.next().await,
        conference(Some("alice"), "live/room1", &["alice"])
    );
    assert_eq!(
        viewer.kinds(4).await,
        ["active", "active", "active", "excluded"]
    );
    assert_eq!(viewer.next().await, active("live/room1", &[]));

    webhook(&srv, "stream-unpublished", "live/room1_wr/bob").await;
    webhook(&srv, "stream-published", "live/room1_wr/bob").await;
    wr.barrier().await;
    host.send(&room_msg("promote", "live/room1", "bob")).await;
    host.expect_error("excluded").await;
    assert_eq!(srv.state.conference("live/room1").0, ["alice"]);

    // Unpublish carol: active shrinks.
    webhook(&srv, "stream-unpublished", "live/room1_wr/carol").await;
    assert_eq!(wr.next().await, active("live/room1_wr", &["alice"]));
}

#[tokio::test]
async fn composition_over_the_backend_socket() {
    let srv = start().await;
    let mut events = srv.state.subscribe();
    let mut host = Sock::open(&srv, "live/room1", true, None).await;
    host.kinds(4).await;
    let mut wr = Sock::open(&srv, "live/room1_wr", true, None).await;
    wr.kinds(4).await;

    for (field, value, want) in [
        (
            "transcodeComposition",
            json!("no"),
            "transcodeComposition must be a boolean",
        ),
        ("mixers", json!([]), "mixers must be a non-empty list"),
        ("digest", json!(""), "digest"),
        ("location", json!([]), "exactly one region"),
        ("location", json!(["mars"]), "region mars"),
    ] {
        let mut m = create_msg();
        m[field] = value;
        host.raw(&m.to_string()).await;
        host.expect_error(want).await;
    }
    let mut two = create_msg();
    let mx = two["mixers"][0].clone();
    two["mixers"] = json!([mx.clone(), mx]);
    host.raw(&two.to_string()).await;
    host.expect_error("found 2").await;

    host.raw(&create_msg().to_string()).await;
    for s in [&mut host, &mut wr] {
        match s.next().await {
            ServerMessage::ActiveCompositions { list, .. } => {
                assert_eq!(list.len(), 1);
                assert_eq!(list[0].event, "room1");
                assert_eq!(list[0].mixers[0].state.as_deref(), Some("pending"));
            }
            other => panic!("{other:?}"),
        }
    }
    match events.recv().await.unwrap() {
        ConferenceEvent::CompositionCreated(c) => assert_eq!(c.mixers[0].path, "live/room1"),
        other => panic!("{other:?}"),
    }

    // The mixer thread runs, then encodes its first composite frame.
    srv.state.mixer_started("room1");
    match host.next().await {
        ServerMessage::ActiveCompositions { list, .. } => {
            assert_eq!(list[0].mixers[0].state.as_deref(), Some("inservice"));
            assert!(!list[0].is_composing());
        }
        other => panic!("{other:?}"),
    }
    srv.state.mixer_emitted_frame("room1");
    srv.state.mixer_emitted_frame("room1");
    match host.next().await {
        ServerMessage::ActiveCompositions { room, list } => {
            assert_eq!(room, "live/room1");
            assert!(list[0].is_composing());
            assert_eq!(list[0].mixers[0].is_web_socket_connected, Some(true));
        }
        other => panic!("{other:?}"),
    }
    // The second frame changed nothing: the next frame is the barrier.
    host.barrier().await;
    host.send(&ClientMessage::GetActiveCompositions).await;
    assert!(
        matches!(host.next().await, ServerMessage::ActiveCompositions { list, .. } if list[0].is_composing())
    );

    host.send(&ClientMessage::DestroyComposition {
        event: "room1".into(),
    })
    .await;
    assert_eq!(
        host.next().await,
        ServerMessage::ActiveCompositions {
            room: "live/room1".into(),
            list: vec![]
        }
    );
    assert_eq!(
        host.next().await,
        ServerMessage::ActiveStreams { list: vec![] }
    );
    host.send(&ClientMessage::DestroyComposition {
        event: "room1".into(),
    })
    .await;
    host.expect_error("No composition for event room1").await;
}

#[tokio::test]
async fn malformed_input_gets_errors_and_the_socket_lives_on() {
    let srv = start().await;
    let mut s = Sock::open(&srv, "live/room1", true, None).await;
    s.kinds(4).await;
    s.raw("{oops").await;
    s.expect_error("not valid JSON").await;
    s.raw("42").await;
    s.expect_error("\"type\"").await;
    s.raw(r#"{"type":"fly"}"#).await;
    s.expect_error("Unknown message type").await;
    s.raw(r#"{"type":"exclude","room":"live/room1"}"#).await;
    s.expect_error("exclude needs room and streamName").await;
    s.0.send(Message::binary(vec![1u8, 2, 3])).await.unwrap();
    s.expect_error("Binary").await;
    s.raw(r#"{"type":"post","room":"live/room1","streamName":"manual"}"#)
        .await;
    assert_eq!(s.next().await, active("live/room1", &["manual"]));
    s.next().await;
    s.send(&ClientMessage::GetActiveStreams).await;
    assert_eq!(
        s.next().await,
        ServerMessage::ActiveStreams {
            list: vec![RoomStreams {
                room: "live/room1".into(),
                streams: vec!["manual".into()]
            }]
        }
    );

    // Closing the posting socket deletes its stream for the others.
    let mut other = Sock::open(&srv, "live/room1", false, None).await;
    other.kinds(2).await;
    s.0.close(None).await.unwrap();
    assert_eq!(other.next().await, active("live/room1", &[]));

    // A socket without testbed=conference is accepted and ignored (closes cleanly).
    let url = format!("ws://{}/?room=live/room1&host=true", srv.authority);
    let (mut plain, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    plain
        .send(Message::text(r#"{"type":"getActiveStreams"}"#))
        .await
        .unwrap();
    plain.close(None).await.unwrap();
    let rest = tokio::time::timeout(GUARD, plain.next()).await.unwrap();
    assert!(
        matches!(rest, None | Some(Ok(Message::Close(_))) | Some(Err(_))),
        "{rest:?}"
    );

    // Any path is accepted for conference sockets.
    let url = format!(
        "ws://{}/backend/ws?testbed=conference&room=live/room9&host=false",
        srv.authority
    );
    let (ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    let mut deep = Sock(ws);
    assert_eq!(deep.kinds(2).await, ["mixerRegions", "active"]);

    // HTTP side: bad webhooks and credentials.
    let http = reqwest::Client::new();
    let r = http
        .post(format!("{}/webhook", srv.http))
        .body("nope")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let r = http
        .post(format!("{}/webhook", srv.http))
        .json(&json!({"event":"stream-published"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    // Edge nodes do not count.
    let r = http
        .post(format!("{}/webhook", srv.http))
        .json(&json!({"event":"stream-published","guid":"live/room9/edge","clusterNodeType":"TYPE_EDGE"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    deep.barrier().await;
    let r = http
        .post(format!("{}/validateCredentials", srv.http))
        .json(&json!({"username":"u","password":"p","token":"t"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.json::<Value>().await.unwrap(), json!({"result": true}));
    let r = http
        .post(format!("{}/invalidateCredentials", srv.http))
        .json(&json!({"username":"u"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
}

#[tokio::test]
async fn sm1_composition_rest_join_provision_regions() {
    let srv = start().await;
    let sm1 = Sm1Client::new(srv.http.clone(), Secret::new(TOKEN)).unwrap();
    let http = reqwest::Client::new();

    // Wrong token → 401 with the SM1 error shape.
    let r = http
        .get(format!(
            "{}/streammanager/api/4.0/composition?accessToken=bad",
            srv.http
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let body: Value = r.json().await.unwrap();
    assert!(body["errorMessage"]
        .as_str()
        .unwrap()
        .contains("accessToken"));
    assert!(body["timestamp"].is_i64());

    assert_eq!(sm1.mixer_regions().await.unwrap(), ["local"]);
    assert!(sm1.join("live", "room1", &Lookup::default()).await.is_err());
    // A browser preflight for the provision POST.
    let r = http
        .request(
            reqwest::Method::OPTIONS,
            format!(
                "{}/streammanager/api/4.0/admin/event/meta/live/room1/room1",
                srv.http
            ),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(r.headers()["access-control-allow-origin"], "*");
    assert!(r.headers()["access-control-allow-methods"]
        .to_str()
        .unwrap()
        .contains("POST"));
    let r = http
        .get(format!(
            "{}/streammanager/api/4.0/event/live/room1/join",
            srv.http
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.json::<Value>().await.unwrap()["errorMessage"].is_string());

    let created = sm1
        .create_composition(&Composition {
            event: "room1".into(),
            transcode_composition: false,
            digest: TOKEN.into(),
            mixers: vec![mixer_json()],
            location: vec!["local".into()],
        })
        .await
        .unwrap();
    assert_eq!(created.mixers[0].state.as_deref(), Some("pending"));
    assert_eq!(created.mixers[0].width, Some(1280));
    assert!(created.mixers[0].id.is_some());
    // Numbers on the wire, not strings.
    let raw: Value = http
        .get(format!(
            "{}/streammanager/api/4.0/composition/room1?accessToken={TOKEN}",
            srv.http
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(raw["mixers"][0]["framerate"], 30);
    assert_eq!(sm1.list_compositions().await.unwrap(), ["room1"]);

    let j = sm1.join("live", "room1", &Lookup::default()).await.unwrap();
    assert_eq!(j.scope, "live/room1");
    assert_eq!(j.name, "room1");
    assert_eq!(j.server_address, "127.0.0.1");
    assert_eq!(j.region.as_deref(), Some("local"));

    srv.state.mixer_started("room1");
    assert!(!sm1.get_composition("room1").await.unwrap().is_composing());
    srv.state.mixer_emitted_frame("room1");
    assert!(sm1.get_composition("room1").await.unwrap().is_composing());

    // Duplicate → 400.
    let r = http
        .post(format!(
            "{}/streammanager/api/4.0/composition?accessToken={TOKEN}",
            srv.http
        ))
        .json(&created)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);

    // Conference provision; the second create is "already exists" (the client maps it to None).
    let p = Provision::conference("live/room1", "room1");
    let resp = sm1
        .provision("live/room1", "room1", &p)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(resp.scope, "live");
    assert_eq!(resp.data["parameters"]["audiotracks"], 3);
    assert!(sm1
        .provision("live/room1", "room1", &p)
        .await
        .unwrap()
        .is_none());
    let list: Value = http
        .get(format!(
            "{}/streammanager/api/4.0/admin/event/meta?accessToken={TOKEN}",
            srv.http
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list, json!(["guid: live/room1/room1"]));
    sm1.delete_provision("live/room1", "room1").await.unwrap();
    assert!(sm1.delete_provision("live/room1", "room1").await.is_err());

    sm1.delete_composition("room1").await.unwrap();
    let r = http
        .get(format!(
            "{}/streammanager/api/4.0/composition/room1?accessToken={TOKEN}",
            srv.http
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert!(sm1.delete_composition("room1").await.is_err());
    assert!(sm1.join("live", "room1", &Lookup::default()).await.is_err());
}

#[tokio::test]
async fn brew_mixer_crud() {
    let srv = start().await;
    let mut events = srv.state.subscribe();
    let r = reqwest::Client::new()
        .get(format!("{}/as/v1/streams/mixer/default", srv.http))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let sm2 = Sm2Client::new(srv.http.clone()).unwrap();
    sm2.set_token(Secret::new("jwt")).await;
    let m = BrewMixer::new("ev1", "live/mix1");
    let created = sm2.create_mixer("default", &m).await.unwrap();
    assert_eq!(created["eventId"], "ev1");
    assert!(
        matches!(events.recv().await.unwrap(), ConferenceEvent::BrewCreated(e) if e.mixer.width == 1280)
    );
    assert!(sm2.create_mixer("default", &m).await.is_err());
    assert!(sm2
        .create_mixer("nope", &BrewMixer::new("ev2", "live/x"))
        .await
        .is_err());
    let tree = json!({"type":"CompositorNode","children":[{"type":"VideoSourceNode","streamGuid":"live/a"}]});
    sm2.update_mixer("default", "ev1", std::slice::from_ref(&tree))
        .await
        .unwrap();
    assert!(
        matches!(events.recv().await.unwrap(), ConferenceEvent::BrewUpdated(e) if e.render_trees.len() == 1)
    );
    assert!(sm2
        .update_mixer("default", "ev1", &[json!(1)])
        .await
        .is_err());
    let got = sm2.get_mixer("default", "ev1").await.unwrap();
    assert_eq!(got["renderTrees"][0], tree);
    assert_eq!(
        sm2.list_mixers("default")
            .await
            .unwrap()
            .as_array()
            .unwrap()
            .len(),
        1
    );
    sm2.delete_mixer("default", "ev1").await.unwrap();
    assert!(sm2.get_mixer("default", "ev1").await.is_err());
    assert!(sm2.delete_mixer("default", "ev1").await.is_err());
}

#[tokio::test]
async fn red5_signal_backend_driver_as_participant() {
    let srv = start().await;
    let url = connect_url(
        &srv.authority,
        &ConnectParams {
            room: "live/room1".into(),
            host: true,
            mixer: None,
            presenter: false,
        },
    );
    let mut conn = BackendConnection::spawn(url);
    let mut msgs = vec![];
    while msgs.len() < 4 {
        match tokio::time::timeout(GUARD, conn.next_event())
            .await
            .unwrap()
            .unwrap()
        {
            BackendEvent::Message(m) => msgs.push(m),
            BackendEvent::Connected => {}
            other => panic!("{other:?}"),
        }
    }
    assert!(matches!(msgs[3], ServerMessage::ActiveCompositions { .. }));
    // The host admits this participant: it sees itself in `conference`.
    conn.send(room_msg("promote", "live/room1", "p1"));
    loop {
        match tokio::time::timeout(GUARD, conn.next_event())
            .await
            .unwrap()
            .unwrap()
        {
            BackendEvent::Message(ServerMessage::Conference {
                streams, presenter, ..
            }) => {
                assert_eq!(streams.unwrap(), ["p1"]);
                assert_eq!(presenter.as_deref(), Some("p1"));
                break;
            }
            BackendEvent::Message(_) | BackendEvent::Connected => {}
            other => panic!("{other:?}"),
        }
    }
    conn.stop();
}

/// The wiring CONFERENCE.md prescribes: merge into a router that has its own fallback (the main
/// server's `dispatch`), wrap with `with_backend_ws`. No merge panic; each side keeps its paths.
#[tokio::test]
async fn merges_into_a_fallback_router() {
    red5_signal::driver::tls::ensure_crypto_provider();
    let state = ConferenceState::new(ConferenceConfig::default());
    let main = axum::Router::new()
        .merge(red5_localsm::conference::router(state.clone()))
        .fallback(|| async { "main server" });
    let app = red5_localsm::conference::with_backend_ws(main, state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let http = reqwest::Client::new();
    let body = http
        .get(format!("http://{addr}/live/stream1"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(body, "main server");
    let r = http
        .get(format!("http://{addr}/streammanager/api/4.0/composition"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.json::<Value>().await.unwrap(), json!([]));
    let url = format!("ws://{addr}/?testbed=conference&room=live/room1&host=true");
    let (ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    let mut s = Sock(ws);
    assert_eq!(
        s.kinds(4).await,
        ["mixerRegions", "active", "conference", "activeCompositions"]
    );
    state.stream_published("live/room1/s1");
    assert_eq!(s.next().await, active("live/room1", &["s1"]));
}
