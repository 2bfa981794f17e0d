//! The conference control plane mounted in the full server: backend WS on any path with
//! `testbed=conference`, SFU publishes feeding the `active` list (internal webhook), SM1
//! provisions in one store, `join`, all on one port.
#![allow(clippy::unwrap_used)] // tests may unwrap

mod common;

use common::*;
use red5_localsm::{AuthConfig, LocalServer, ServerConfig, ServerHandle};
use red5_signal::Secret;
use serde_json::{json, Value};
use webrtc::media_stream::track_local::TrackLocal;

fn auth() -> ServerConfig {
    ServerConfig {
        auth: Some(AuthConfig {
            admin_user: "admin".into(),
            admin_password: Secret::new("pw"),
            sm1_access_token: Secret::new("sm1tok"),
            round_trip: None,
        }),
        ..Default::default()
    }
}

/// WHIP POST only: the server registers the stream at POST time.
async fn whip_post(
    s: &ServerHandle,
    guid: &str,
) -> (
    std::sync::Arc<dyn webrtc::peer_connection::PeerConnection>,
    String,
) {
    let (pc, mut ev) = client_peer().await;
    pc.add_track(h264_track(7) as std::sync::Arc<dyn TrackLocal>)
        .await
        .unwrap();
    let offer = pc.create_offer(None).await.unwrap();
    pc.set_local_description(offer).await.unwrap();
    while let Some(e) = ev.recv().await {
        if matches!(e, Ev::Gathered) {
            break;
        }
    }
    let sdp = pc.local_description().await.unwrap().sdp;
    let path = format!("/as/v1/proxy/whip/{guid}");
    let r = http(
        &s.base_url(),
        "POST",
        &path,
        &[("Content-Type", "application/sdp")],
        &sdp,
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    (pc, path)
}

fn is(t: &'static str) -> impl Fn(&Value) -> bool {
    move |v| v["type"] == t
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backend_ws_sees_sfu_publishes_and_provisions_share_one_store() {
    let s = LocalServer::start(auth()).await.unwrap();
    assert_eq!(s.backend_ws_url(), format!("ws://{}/", s.addr()));
    let mut host = ws_connect(&s.backend_ws_url_for("live/room1_wr", true)).await;
    let v = ws_until(&mut host, is("mixerRegions")).await;
    assert_eq!(v["regions"], json!(["local"]));
    ws_until(&mut host, is("active")).await;

    // A participant publishes into the waiting room through the SFU: the host sees it.
    let (_pc, path) = whip_post(&s, "live/room1_wr/alice").await;
    let v = ws_until(&mut host, |v| {
        v["type"] == "active" && v["streams"] == json!(["alice"])
    })
    .await;
    assert_eq!(v["room"], "live/room1_wr");
    // A non-conference WS on `/` is still the server's own (standalone node) socket.
    assert!(s
        .published_streams()
        .contains(&"live/room1_wr/alice".to_owned()));

    // Unpublish (WHIP DELETE) removes it.
    let r = http(&s.base_url(), "DELETE", &path, &[], "").await;
    assert_eq!(r.status, 200);
    ws_until(&mut host, |v| {
        v["type"] == "active" && v["streams"].as_array().is_none_or(|a| a.is_empty())
    })
    .await;

    // One provision store: the SM1 route and `join` use the conference store.
    let api = s.sm1_api_url();
    let tok = s.sm1_access_token().unwrap();
    let base = s.base_url();
    let prefix = api.trim_start_matches(&base).to_owned();
    let body = serde_json::to_string(&red5_signal::rest::sm1::Provision::conference(
        "live/room1",
        "room1",
    ))
    .unwrap();
    let p = format!("{prefix}/admin/event/meta/live/room1/room1");
    assert_eq!(http(&base, "POST", &p, &[], &body).await.status, 401);
    let r = http(
        &base,
        "POST",
        &format!("{p}?accessToken={}", tok.expose()),
        &[],
        &body,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = http(
        &base,
        "GET",
        &format!("{prefix}/admin/event/meta?accessToken={}", tok.expose()),
        &[],
        "",
    )
    .await;
    assert_eq!(r.json(), json!(["guid: live/room1/room1"]));
    // No composition yet: join is refused with a sentence.
    let r = http(
        &base,
        "GET",
        &format!("{prefix}/event/live/room1/join"),
        &[],
        "",
    )
    .await;
    assert_eq!(r.status, 400);
    assert!(r.json()["errorMessage"]
        .as_str()
        .unwrap()
        .contains("live/room1"));
    // Ordinary SM1 lookups still reach the main dispatcher.
    let r = http(
        &base,
        "GET",
        &format!("{prefix}/event/live/room1/x?action=broadcast"),
        &[],
        "",
    )
    .await;
    assert_eq!(r.status, 200);
    s.shutdown().await;
}

/// `shutdown()` closes the conference backend sockets and the session sockets, so a host, a
/// watcher and an SDK client all see the server go away (not a silent socket for 60 s).
#[tokio::test]
async fn shutdown_closes_backend_and_session_sockets() {
    let s = LocalServer::start(ServerConfig::default()).await.unwrap();
    let mut host = ws_connect(&s.backend_ws_url_for("live/room1", true)).await;
    let mut watcher = ws_connect(&s.backend_ws_url_for("live/room1_wr", false)).await;
    let mut sdk = ws_connect(&format!(
        "{}/streammanager/?id=viewer&host=127.0.0.1&app=live",
        s.ws_url()
    ))
    .await;
    assert_eq!(
        ws_next(&mut sdk).await.unwrap()["data"]["code"],
        "NetConnection.Connect.Success"
    );
    s.shutdown().await;
    // ws_next's own 20 s limit is only a hang guard: each socket must end (close or EOF).
    for (who, ws) in [
        ("host", &mut host),
        ("watcher", &mut watcher),
        ("sdk", &mut sdk),
    ] {
        while let Some(v) = ws_next(ws).await {
            assert_ne!(v["type"], "error", "{who}: {v}");
        }
    }
}
