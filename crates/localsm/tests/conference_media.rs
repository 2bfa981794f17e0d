//! The conference mixer inside the full server with real media: a participant publishes into
//! the waiting room over WHIP, the host promotes it, the mixer decodes it from the SFU and
//! publishes the composite `live/room1/room1`, which a plain WHEP subscriber plays; destroy
//! unpublishes it.
#![allow(clippy::unwrap_used)] // tests may unwrap

mod common;

use std::time::Duration;

use common::av::*;
use common::*;
use red5_localsm::{LocalServer, ServerConfig};
use red5_media::synthetic::PatternColor;
use red5_mixer::{compute_layout, LayoutKind, TileRole};
use serde_json::{json, Value};

pub fn create(event: &str, room: &str, w: u32, h: u32) -> Value {
    json!({"type":"createComposition","event":event,"digest":"t","transcodeComposition":false,
        "mixers":[{"mixerName":"m1","mixingPage":"https://x/?sm=true","streamName":event,"path":room,
                   "width":w.to_string(),"height":h.to_string(),"framerate":"15","bitrate":"600","doForward":true,
                   "destinationMixerName":""}],"location":["local"]})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn composite_of_the_waiting_room_publish_plays_over_whep_and_destroy_unpublishes() {
    let s = LocalServer::start(ServerConfig::default()).await.unwrap();
    let mut host = ws_connect(&s.backend_ws_url_for("live/room1", true)).await;
    let _alice = whip_publish(&s, "live/room1_wr/alice", PatternColor::Red, 440.0).await;
    ws_send(&mut host, create("room1", "live/room1", 640, 360)).await;
    ws_until(&mut host, |v| {
        v["type"] == "activeCompositions" && v["list"][0]["mixers"][0]["state"] == "composing"
    })
    .await;
    assert!(s
        .published_streams()
        .contains(&"live/room1/room1".to_owned()));
    // The mixer output is not a participant: the room's `active` list never shows it.
    let (streams, _) = s.conference().conference("live/room1");
    assert!(streams.is_empty());

    let mut sub = whep_subscribe(&s, "live/room1/room1").await;
    ws_send(
        &mut host,
        json!({"type":"promote","room":"live/room1","streamName":"alice"}),
    )
    .await;
    let tiles = compute_layout(
        640,
        360,
        &LayoutKind::Presenter,
        Some("alice"),
        &["alice".into()],
    );
    let main = tiles
        .iter()
        .find(|t| t.role == TileRole::Main)
        .unwrap()
        .rect;
    let f = until_frame(
        &mut sub.video,
        "alice (red) fills the presenter region",
        |f| color_in(f, main) == Some(PatternColor::Red),
    )
    .await;
    assert_eq!((f.width, f.height), (640, 360), "the composition's size");
    // The full mix carries alice's tone.
    tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            let a = tail(&sub.audio, 0.5);
            if a.len() > 20_000 && has_tone(&a, 440.0) > 0.005 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .expect("alice's 440 Hz in the full mix");

    ws_send(
        &mut host,
        json!({"type":"destroyComposition","event":"room1"}),
    )
    .await;
    loop {
        let t = tokio::time::timeout(Duration::from_secs(20), sub.dc.recv())
            .await
            .expect("UnpublishNotify in time")
            .unwrap();
        if t.contains("NetStream.Play.UnpublishNotify") {
            break;
        }
    }
    assert!(!s
        .published_streams()
        .contains(&"live/room1/room1".to_owned()));
    s.shutdown().await;
}
