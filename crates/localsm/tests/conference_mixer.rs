//! A composition over the backend socket starts a real red5-mixer thread; `composing` is
//! reported only after it encoded a composite, and destroy stops it.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may unwrap

use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use red5_localsm::conference::{
    standalone_router, ConferenceConfig, ConferenceState, MixerHost, MixerSink,
};
use red5_media::frame::{AudioFrame, VideoFrame};
use red5_mixer::{AudioOutput, VideoOutput};
use red5_signal::backend::{connect_url, ClientMessage, ConnectParams, ServerMessage};
use serde_json::json;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

const GUARD: Duration = Duration::from_secs(20);

struct Collect {
    video: mpsc::UnboundedSender<(String, bool)>,
    audio: mpsc::UnboundedSender<Vec<String>>,
}

impl MixerSink for Collect {
    fn video(&self, guid: &str, v: &VideoOutput) {
        if let Some(e) = &v.encoded {
            let _ = self.video.send((guid.to_owned(), e.keyframe));
        }
    }
    fn audio(&self, _guid: &str, a: &AudioOutput) {
        let _ = self
            .audio
            .send(a.participants.iter().map(|p| p.id.clone()).collect());
    }
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn next(ws: &mut Ws) -> ServerMessage {
    loop {
        let f = tokio::time::timeout(GUARD, ws.next())
            .await
            .expect("no frame")
            .unwrap()
            .unwrap();
        if let Message::Text(t) = f {
            return ServerMessage::parse(t.as_str()).unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn composing_needs_a_real_encoded_composite() {
    red5_signal::driver::tls::ensure_crypto_provider();
    let state = ConferenceState::new(ConferenceConfig::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = standalone_router(state.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let (vtx, mut vrx) = mpsc::unbounded_channel();
    let (atx, mut arx) = mpsc::unbounded_channel();
    let (mixers, _task) = MixerHost::spawn(
        state.clone(),
        Arc::new(Collect {
            video: vtx,
            audio: atx,
        }),
    );

    let url = connect_url(
        &addr.to_string(),
        &ConnectParams {
            room: "live/room1".into(),
            host: true,
            mixer: None,
            presenter: false,
        },
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    for _ in 0..4 {
        next(&mut ws).await;
    }
    for s in ["alice", "bob"] {
        let m = ClientMessage::Promote {
            room: "live/room1".into(),
            stream_name: s.into(),
        };
        ws.send(Message::text(m.to_json())).await.unwrap();
    }
    let create = json!({"type":"createComposition","event":"room1","digest":"t","transcodeComposition":false,
        "mixers":[{"mixerName":"m1","mixingPage":"https://x/?sm=true","streamName":"room1","path":"live/room1",
                   "width":"320","height":"180","framerate":"15","bitrate":"300","doForward":true,
                   "destinationMixerName":""}],"location":["local"]});
    ws.send(Message::text(create.to_string())).await.unwrap();

    let mut states = vec![];
    loop {
        if let ServerMessage::ActiveCompositions { list, .. } = next(&mut ws).await {
            let st = list[0].mixers[0].state.clone().unwrap();
            if states.last() != Some(&st) {
                states.push(st.clone());
            }
            if st == "composing" {
                break;
            }
        }
    }
    assert_eq!(states.first().map(String::as_str), Some("pending"));
    // The real mixer's first encoded composite came before `composing`, on the output guid.
    let (guid, keyframe) = vrx.try_recv().expect("composing before any encoded frame");
    assert_eq!(guid, "live/room1/room1");
    assert!(keyframe, "the first composite must be a key frame");
    assert_eq!(mixers.events(), ["room1"]);

    // Participants' media reaches the mixer (waiting-room copy or conference publish).
    assert!(mixers.push_video("live/room1_wr/alice", VideoFrame::new(320, 180)));
    assert!(!mixers.push_video("live/other/alice", VideoFrame::new(320, 180)));
    let tone = AudioFrame {
        samples: vec![0.1; 960],
        channels: 1,
        sample_rate: 48_000,
        timestamp: Duration::ZERO,
    };
    assert!(mixers.push_audio("live/room1/bob", tone));
    // Mix-minus outputs exist for both conference members.
    loop {
        let ids = tokio::time::timeout(GUARD, arx.recv())
            .await
            .expect("no audio step")
            .unwrap();
        if ids.len() == 2 {
            assert_eq!(ids, ["alice", "bob"]);
            break;
        }
    }

    ws.send(Message::text(
        ClientMessage::DestroyComposition {
            event: "room1".into(),
        }
        .to_json(),
    ))
    .await
    .unwrap();
    assert!(
        matches!(next(&mut ws).await, ServerMessage::ActiveCompositions { list, .. } if list.is_empty())
    );
    // The host task handles the deletion asynchronously: wait for the mixer to go.
    tokio::time::timeout(GUARD, async {
        while !mixers.events().is_empty() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("the mixer did not stop");
    assert!(state.with_store(|s| s.get("room1").is_none()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn brew_mixer_runs_on_the_same_core() {
    red5_signal::driver::tls::ensure_crypto_provider();
    let state = ConferenceState::new(ConferenceConfig::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let app = standalone_router(state.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let (vtx, mut vrx) = mpsc::unbounded_channel();
    let (atx, _arx) = mpsc::unbounded_channel();
    let (mixers, _task) = MixerHost::spawn(
        state.clone(),
        Arc::new(Collect {
            video: vtx,
            audio: atx,
        }),
    );
    let sm2 = red5_signal::driver::rest::Sm2Client::new(base).unwrap();
    sm2.set_token(red5_signal::Secret::new("jwt")).await;
    let mut m = red5_signal::rest::sm2::BrewMixer::new("ev1", "live/mix1");
    (m.width, m.height, m.frame_rate, m.bit_rate) = (320, 180, 15, 300_000);
    sm2.create_mixer("default", &m).await.unwrap();
    // The real mixer encodes the composite onto the Brew stream guid.
    let (guid, _) = tokio::time::timeout(GUARD, vrx.recv())
        .await
        .expect("no composite from the Brew mixer")
        .unwrap();
    assert_eq!(guid, "live/mix1");
    assert_eq!(mixers.events(), ["brew:ev1"]);

    let tree = json!({"type":"CompositorNode","children":[
        {"type":"VideoSourceNode","streamGuid":"live/a"},
        {"type":"VideoSourceNode","streamGuid":"/live/b/"},
        {"type":"VideoSourceNode","streamGuid":"live/a"}]});
    assert_eq!(
        red5_localsm::conference::mixers::render_tree_sources(std::slice::from_ref(&tree)),
        ["live/a", "live/b"]
    );
    sm2.update_mixer("default", "ev1", &[tree]).await.unwrap();
    // The update is applied by the host task: wait until a source is accepted.
    tokio::time::timeout(GUARD, async {
        while !mixers.push_video("live/b", VideoFrame::new(320, 180)) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("the render tree never reached the mixer");
    assert!(!mixers.push_video("live/zzz", VideoFrame::new(320, 180)));

    sm2.delete_mixer("default", "ev1").await.unwrap();
    tokio::time::timeout(GUARD, async {
        while !mixers.events().is_empty() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("the Brew mixer did not stop");
}
