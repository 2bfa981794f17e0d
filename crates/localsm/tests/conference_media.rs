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

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn brew_mixer_composes_sfu_sources_into_a_playable_stream() {
    let s = LocalServer::start(ServerConfig::default()).await.unwrap();
    let _src = whip_publish(&s, "live/cam1", PatternColor::Cyan, 660.0).await;
    let mut m = red5_signal::rest::sm2::BrewMixer::new("ev1", "live/mix1");
    (m.width, m.height, m.frame_rate, m.bit_rate) = (640, 360, 15, 600_000);
    let auth = [
        ("Authorization", "Bearer local"),
        ("Content-Type", "application/json"),
    ];
    let r = http(
        &s.base_url(),
        "POST",
        "/as/v1/streams/mixer/default",
        &auth,
        &serde_json::to_string(&m).unwrap(),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let trees = json!([{"type":"CompositorNode","children":[{"type":"VideoSourceNode","streamGuid":"live/cam1"}]}]);
    let r = http(
        &s.base_url(),
        "PUT",
        "/as/v1/streams/mixer/default/ev1",
        &auth,
        &trees.to_string(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    // The Brew output is an ordinary stream (published with its first encoded composite):
    // WHEP plays it, showing the SFU source.
    eventually("the Brew output is published", || {
        s.published_streams().contains(&"live/mix1".to_owned())
    })
    .await;
    let mut sub = whep_subscribe(&s, "live/mix1").await;
    let tiles = compute_layout(640, 360, &LayoutKind::Grid, None, &["live/cam1".into()]);
    let rect = tiles[0].rect;
    until_frame(&mut sub.video, "cam1 (cyan) in the Brew composite", |f| {
        color_in(f, rect) == Some(PatternColor::Cyan)
    })
    .await;
    let r = http(
        &s.base_url(),
        "DELETE",
        "/as/v1/streams/mixer/default/ev1",
        &auth,
        "",
    )
    .await;
    assert_eq!(r.status, 204);
    loop {
        let t = tokio::time::timeout(Duration::from_secs(20), sub.dc.recv())
            .await
            .expect("UnpublishNotify in time")
            .unwrap();
        if t.contains("NetStream.Play.UnpublishNotify") {
            break;
        }
    }
    s.shutdown().await;
}
