//! Every endpoint's status codes, shapes and error paths, over real loopback sockets.
#![allow(clippy::unwrap_used)] // tests may unwrap

mod common;

use std::time::Duration;

use common::*;
use red5_localsm::{AuthConfig, LocalServer, RoundTripAuth, ServerConfig, ServerHandle};
use serde_json::json;

async fn server(cfg: ServerConfig) -> ServerHandle {
    LocalServer::start(cfg).await.unwrap()
}

fn auth_cfg() -> ServerConfig {
    ServerConfig {
        auth: Some(AuthConfig {
            admin_user: "admin".into(),
            admin_password: "pw".into(),
            sm1_access_token: "sm1tok".into(),
            round_trip: Some(RoundTripAuth {
                username: "u".into(),
                password: "p".into(),
                token: "t".into(),
            }),
        }),
        ..Default::default()
    }
}

/// A real offer from a webrtc-rs client (H.264 sendonly + data channel).
async fn client_offer() -> (
    std::sync::Arc<dyn webrtc::peer_connection::PeerConnection>,
    String,
) {
    let (pc, mut ev) = client_peer().await;
    pc.add_track(h264_track(7) as std::sync::Arc<dyn webrtc::media_stream::track_local::TrackLocal>).await.unwrap();
    pc.create_data_channel("red5pro", None).await.unwrap();
    let o = pc.create_offer(None).await.unwrap();
    pc.set_local_description(o).await.unwrap();
    while let Some(e) = ev.recv().await {
        if matches!(e, Ev::Gathered) {
            break;
        }
    }
    let sdp = pc.local_description().await.unwrap().sdp;
    (pc, sdp)
}

#[tokio::test]
async fn start_rejects_non_loopback_and_reports_base_url() {
    let err = LocalServer::start(ServerConfig {
        host: "0.0.0.0".into(),
        ..Default::default()
    })
    .await;
    assert!(err.is_err());
    let s = server(ServerConfig::default()).await;
    assert!(s.base_url().starts_with("http://127.0.0.1:"));
    let r = http(&s.base_url(), "GET", "/", &[], "").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["proxyEnabled"], json!(true));
    let r = http(&s.base_url(), "GET", "/nothing/here", &[], "").await;
    assert_eq!(r.status, 404);
    s.shutdown().await;
}

#[tokio::test]
async fn sm2_login() {
    let s = server(ServerConfig::default()).await;
    let r = http(
        &s.base_url(),
        "PUT",
        "/as/v1/auth/login",
        &[("Authorization", "Basic YTpi")],
        "",
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["token"].as_str().unwrap().split('.').count(), 3);
    let r = http(&s.base_url(), "GET", "/as/v1/auth/login", &[], "").await;
    assert_eq!(r.status, 405);

    let s = server(auth_cfg()).await;
    let b = &s.base_url();
    assert_eq!(
        http(b, "PUT", "/as/v1/auth/login", &[], "").await.status,
        401
    );
    // admin:wrong
    let r = http(
        b,
        "PUT",
        "/as/v1/auth/login",
        &[("Authorization", "Basic YWRtaW46d3Jvbmc=")],
        "",
    )
    .await;
    assert_eq!(r.status, 401);
    assert!(r.json()["errorMessage"].is_string());
    // admin:pw
    let r = http(
        b,
        "PUT",
        "/as/v1/auth/login",
        &[("Authorization", "Basic YWRtaW46cHc=")],
        "",
    )
    .await;
    assert_eq!(r.status, 200);
    let token = r.json()["token"].as_str().unwrap().to_owned();

    // Provision needs the Bearer token.
    let body = json!([{ "streamGuid": "live/p1", "messages": [] }]).to_string();
    let r = http(
        b,
        "POST",
        "/as/v1/streams/provision/default",
        &[("Content-Type", "application/json")],
        &body,
    )
    .await;
    assert_eq!(r.status, 401);
    let bearer = format!("Bearer {token}");
    let h = [
        ("Content-Type", "application/json"),
        ("Authorization", bearer.as_str()),
    ];
    assert_eq!(
        http(b, "POST", "/as/v1/streams/provision/default", &h, &body)
            .await
            .status,
        201
    );
    assert_eq!(
        http(b, "POST", "/as/v1/streams/provision/default", &h, &body)
            .await
            .status,
        409
    );
    assert_eq!(
        http(b, "POST", "/as/v1/streams/provision/default", &h, "{}")
            .await
            .status,
        400
    );
    assert_eq!(
        http(b, "POST", "/as/v1/streams/provision/nope", &h, &body)
            .await
            .status,
        404
    );
}

#[tokio::test]
async fn sm2_stream_lookup() {
    let s = server(ServerConfig {
        node_group: "ng1".into(),
        ..Default::default()
    })
    .await;
    let b = &s.base_url();
    let r = http(
        b,
        "GET",
        "/as/v1/streams/stream/ng1/publish/live/room1/s1",
        &[],
        "",
    )
    .await;
    assert_eq!(r.status, 200);
    let v = r.json();
    assert_eq!(v[0]["streamGuid"], "live/room1/s1");
    assert_eq!(v[0]["serverAddress"], "127.0.0.1");
    for k in ["nodeRole", "subGroup", "nodeState", "subscribers"] {
        assert!(v[0].get(k).is_some(), "missing {k}");
    }
    // `default` aliases the only node group.
    assert_eq!(
        http(
            b,
            "GET",
            "/as/v1/streams/stream/default/publish/live/s1",
            &[],
            ""
        )
        .await
        .status,
        200
    );
    let r = http(
        b,
        "GET",
        "/as/v1/streams/stream/other/publish/live/s1",
        &[],
        "",
    )
    .await;
    assert_eq!(r.status, 404);
    assert!(r.json()["error"].as_str().unwrap().contains("other"));
    let r = http(
        b,
        "GET",
        "/as/v1/streams/stream/ng1/subscribe/live/s1",
        &[],
        "",
    )
    .await;
    assert_eq!(r.status, 404);
    assert_eq!(
        http(
            b,
            "GET",
            "/as/v1/streams/stream/ng1/publish/live/s1?endpoints=0",
            &[],
            ""
        )
        .await
        .status,
        400
    );
    assert_eq!(
        http(
            b,
            "GET",
            "/as/v1/streams/stream/ng1/publish/live/s1?endpoints=2&transcode=true",
            &[],
            ""
        )
        .await
        .status,
        400
    );
    assert_eq!(
        http(
            b,
            "GET",
            "/as/v1/streams/stream/ng1/sideways/live/s1",
            &[],
            ""
        )
        .await
        .status,
        404
    );
    assert_eq!(
        http(b, "GET", "/as/v1/streams/stream/ng1/publish/s1", &[], "")
            .await
            .status,
        400
    );
    assert_eq!(
        http(
            b,
            "DELETE",
            "/as/v1/streams/stream/ng1/publish/live/s1",
            &[],
            ""
        )
        .await
        .status,
        405
    );
    let r = http(b, "GET", "/as/v1/streams/stream/ng1", &[], "").await;
    assert_eq!((r.status, r.json()), (200, json!([])));
    assert_eq!(http(b, "GET", "/as/v1/nothing", &[], "").await.status, 404);
}

#[tokio::test]
async fn sm1_event_and_provision() {
    let s = server(auth_cfg()).await;
    let b = &s.base_url();
    let r = http(
        b,
        "GET",
        "/streammanager/api/4.0/event/live/room1/s1?action=broadcast",
        &[],
        "",
    )
    .await;
    assert_eq!(r.status, 200);
    let v = r.json();
    assert_eq!(v["scope"], "/live/room1", "SM1 scope has a leading slash");
    assert_eq!(v["name"], "s1");
    assert_eq!(v["serverAddress"], "127.0.0.1");
    let r = http(b, "GET", "/streammanager/api/4.0/event/live/s1", &[], "").await;
    assert_eq!(r.status, 400);
    assert!(r.json()["errorMessage"].is_string());
    assert!(r.json()["timestamp"].is_number());
    assert_eq!(
        http(
            b,
            "GET",
            "/streammanager/api/4.0/event/live/s1?action=dance",
            &[],
            ""
        )
        .await
        .status,
        400
    );
    assert_eq!(
        http(
            b,
            "GET",
            "/streammanager/api/4.0/event/live/s1?action=subscribe",
            &[],
            ""
        )
        .await
        .status,
        404
    );
    assert_eq!(
        http(
            b,
            "GET",
            "/streammanager/api/3.1/event/live/s1?action=broadcast",
            &[],
            ""
        )
        .await
        .status,
        404
    );
    // One provision store (the conference's): a conference provision body (§7.3).
    let body = json!({"guid":"live/room1","context":"live/room1","name":"room1",
                      "parameters":{"group":"webrtc","audiotracks":3,"videotracks":1}})
    .to_string();
    let p = "/streammanager/api/4.0/admin/event/meta/live/room1/room1";
    assert_eq!(
        http(b, "POST", &format!("{p}?accessToken=bad"), &[], &body)
            .await
            .status,
        401
    );
    let r = http(b, "POST", &format!("{p}?accessToken=sm1tok"), &[], &body).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["name"], "room1");
    let r = http(b, "POST", &format!("{p}?accessToken=sm1tok"), &[], &body).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["errorMessage"], "Provision already exists");
    assert_eq!(
        http(b, "DELETE", &format!("{p}?accessToken=sm1tok"), &[], "")
            .await
            .status,
        200
    );
    assert_eq!(
        http(b, "GET", &format!("{p}?accessToken=sm1tok"), &[], "")
            .await
            .status,
        404
    );
}

#[tokio::test]
async fn whip_whep_error_paths() {
    let s = server(ServerConfig::default()).await;
    let b = &s.base_url();
    for path in [
        "/as/v1/proxy/whip/live/s1",
        "/live/whip/endpoint/s1",
        "/live/room1/whep/endpoint/s1?requestId=x",
    ] {
        let r = http(b, "OPTIONS", path, &[], "").await;
        assert_eq!(r.status, 204, "{path}");
        assert_eq!(r.header("session-host"), Some("127.0.0.1"));
    }
    let sdp = [("Content-Type", "application/sdp")];
    let r = http(b, "POST", "/as/v1/proxy/whip/live/s1", &sdp, "").await;
    assert_eq!((r.status, r.body.as_str()), (412, "Invalid request body."));
    let r = http(
        b,
        "POST",
        "/as/v1/proxy/whip/live/s1",
        &sdp,
        "this is not sdp",
    )
    .await;
    assert_eq!(r.status, 400);
    assert!(r.body.starts_with("Invalid offer SDP."));
    let r = http(b, "GET", "/as/v1/proxy/whip/live/s1", &[], "").await;
    assert_eq!(r.status, 405);
    let frag = [("Content-Type", "application/trickle-ice-sdpfrag")];
    let r = http(
        b,
        "PATCH",
        "/as/v1/proxy/whip/live/s1",
        &frag,
        "a=end-of-candidates",
    )
    .await;
    assert_eq!((r.status, r.body.as_str()), (404, "Session not found."));
    assert_eq!(
        http(b, "DELETE", "/live/whip/resource/s1", &[], "")
            .await
            .status,
        404
    );
    // WHEP on a stream nobody publishes.
    let r = http(
        b,
        "POST",
        "/as/v1/proxy/whep/live/s1?requestId=sub1",
        &sdp,
        "",
    )
    .await;
    assert_eq!(
        (r.status, r.body.as_str()),
        (409, "Stream is not available to playback.")
    );
    let r = http(
        b,
        "POST",
        "/live/whep/endpoint/s1?requestId=sub1",
        &sdp,
        "garbage",
    )
    .await;
    assert_eq!(r.status, 400);
    // WHEP follow-ups need the requestId.
    let r = http(
        b,
        "PATCH",
        "/as/v1/proxy/whep/live/s1",
        &frag,
        "a=end-of-candidates",
    )
    .await;
    assert_eq!(r.status, 400);
    // Paths without a context are not streams.
    assert_eq!(
        http(b, "POST", "/as/v1/proxy/whip/s1", &sdp, "v=0")
            .await
            .status,
        404
    );
}

#[tokio::test]
async fn whip_double_post_and_unconnected_session_timeout() {
    let s = server(ServerConfig {
        session_timeout: Duration::from_secs(2),
        ..Default::default()
    })
    .await;
    let b = &s.base_url();
    let (_pc, offer) = client_offer().await;
    let sdp = [("Content-Type", "application/sdp")];
    let r = http(
        b,
        "POST",
        "/as/v1/proxy/whip/live/s1?signal=true&mode=live",
        &sdp,
        &offer,
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.header("location"), Some("/as/v1/proxy/whip/live/s1"));
    assert!(r.body.contains("o=red5pro "));
    assert!(r.body.contains("a=candidate:"));
    assert_eq!(s.published_streams(), vec!["live/s1".to_owned()]);
    let r = http(b, "POST", "/as/v1/proxy/whip/live/s1", &sdp, &offer).await;
    assert_eq!(
        (r.status, r.body.as_str()),
        (409, "Session already initialized.")
    );
    // A WS publisher cannot take the name either.
    let mut ws = ws_connect(&format!("{}/live/?id=s1", s.ws_url())).await;
    ws_until(&mut ws, |v| {
        v["data"]["code"] == "NetConnection.Connect.Success"
    })
    .await;
    ws_send(&mut ws, json!({"isAvailable":"s1","bundle":true})).await;
    assert_eq!(
        ws_next(&mut ws).await.unwrap(),
        json!({"isAvailable": true})
    );
    // Nobody connects: the session is torn down.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !s.published_streams().is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "session not torn down"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        http(b, "DELETE", "/as/v1/proxy/whip/live/s1", &[], "")
            .await
            .status,
        404
    );
}

#[tokio::test]
async fn proxy_disabled_refuses_with_explanation() {
    let s = server(ServerConfig {
        proxy_enabled: false,
        ..Default::default()
    })
    .await;
    let b = &s.base_url();
    let r = http(
        b,
        "POST",
        "/as/v1/proxy/whip/live/s1",
        &[("Content-Type", "application/sdp")],
        "v=0",
    )
    .await;
    assert_eq!(r.status, 503);
    assert!(r.json()["error"]
        .as_str()
        .unwrap()
        .contains("proxy.enabled=false"));
    let r = http(
        b,
        "OPTIONS",
        "/as/v1/proxy/whep/live/s1?requestId=a",
        &[],
        "",
    )
    .await;
    assert_eq!(r.status, 503);
    for url in [
        format!(
            "{}/streammanager/?id=s1&host=127.0.0.1&app=live",
            s.ws_url()
        ),
        format!("{}/as/v1/proxy/ws/publish/live/s1?id=s1", s.ws_url()),
    ] {
        let Err(e) = tokio_tungstenite::connect_async(url.as_str()).await else {
            panic!("upgrade accepted: {url}")
        };
        match e {
            tokio_tungstenite::tungstenite::Error::Http(resp) => {
                assert_eq!(resp.status().as_u16(), 404)
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    // Node endpoints are not the proxy: the standalone WS still works.
    let mut ws = ws_connect(&format!("{}/live/?id=s1", s.ws_url())).await;
    ws_until(&mut ws, |v| {
        v["data"]["code"] == "NetConnection.Connect.Success"
    })
    .await;
}

#[tokio::test]
async fn round_trip_auth() {
    let s = server(auth_cfg()).await;
    let b = &s.base_url();
    let r = http(
        b,
        "POST",
        "/as/v1/proxy/whip/live/s1",
        &[("Content-Type", "application/sdp")],
        "v=0",
    )
    .await;
    assert_eq!((r.status, r.body.as_str()), (401, "Not authorized."));
    let r = http(
        b,
        "POST",
        "/live/whep/endpoint/s1?requestId=a&username=u&password=p&token=wrong",
        &[],
        "",
    )
    .await;
    assert_eq!(r.status, 401);
    let r = http(
        b,
        "POST",
        "/live/whep/endpoint/s1?requestId=a&username=u&password=p&token=t",
        &[],
        "",
    )
    .await;
    assert_eq!(r.status, 409, "authorised, but nothing is published");
    let mut ws = ws_connect(&format!(
        "{}/streammanager/?id=s1&host=127.0.0.1&app=live&username=u",
        s.ws_url()
    ))
    .await;
    let v = ws_next(&mut ws).await.unwrap();
    assert_eq!(v["data"]["code"], "NetConnection.Connect.Rejected");
    assert!(ws_next(&mut ws).await.is_none());
    let mut ws = ws_connect(&format!(
        "{}/streammanager/?id=s1&host=127.0.0.1&app=live&username=u&password=p&token=t",
        s.ws_url()
    ))
    .await;
    assert_eq!(
        ws_next(&mut ws).await.unwrap()["data"]["code"],
        "NetConnection.Connect.Success"
    );
}

#[tokio::test]
async fn websocket_strict_input() {
    let s = server(ServerConfig::default()).await;
    // SDK 11 puts a slash before the query.
    let mut ws = ws_connect(&format!(
        "{}/as/v1/proxy/ws/publish/live/s1/?id=s1&nodeGroup=default",
        s.ws_url()
    ))
    .await;
    assert_eq!(
        ws_next(&mut ws).await.unwrap(),
        json!({"data":{"type":"status","code":"NetConnection.Connect.Success"}})
    );
    ws_send_raw(&mut ws, "{not json").await;
    let v = ws_next(&mut ws).await.unwrap();
    assert_eq!(v["data"]["type"], "error");
    assert_eq!(v["data"]["message"], "Invalid JSON");
    ws_send(&mut ws, json!({"dance":"s1"})).await;
    let v = ws_next(&mut ws).await.unwrap();
    assert!(v["data"]["message"]
        .as_str()
        .unwrap()
        .starts_with("Unknown or malformed operation"));
    ws_send(&mut ws, json!({"isAvailable":"s1","bundle":true})).await;
    assert_eq!(
        ws_next(&mut ws).await.unwrap(),
        json!({"isAvailable": false})
    );
    // Wrong stream name for this proxy path.
    ws_send(&mut ws, json!({"handleOffer":"other","transport":"udp","data":{"sdp":{"type":"offer","sdp":"v=0"}}})).await;
    let v = ws_next(&mut ws).await.unwrap();
    assert!(
        v["data"]["message"]
            .as_str()
            .unwrap()
            .contains("does not match"),
        "{v}"
    );
    // Bad SDP.
    ws_send(&mut ws, json!({"handleOffer":"s1","transport":"udp","data":{"sdp":{"type":"offer","sdp":"nonsense"}}})).await;
    let v = ws_next(&mut ws).await.unwrap();
    assert!(
        v["data"]["message"].as_str().unwrap().contains("SDP"),
        "{v}"
    );
    // Commands out of order.
    ws_send(&mut ws, json!({"publish":"s1","mode":"live"})).await;
    assert_eq!(ws_next(&mut ws).await.unwrap()["data"]["type"], "error");
    ws_send(
        &mut ws,
        json!({"handleCandidate":"s1","data":{"candidate":{"candidate":"x"}}}),
    )
    .await;
    assert_eq!(ws_next(&mut ws).await.unwrap()["data"]["type"], "error");

    // Subscriber on an unpublished stream.
    let mut ws = ws_connect(&format!(
        "{}/streammanager/?id=subscriber-1&host=127.0.0.1&app=live%2Froom1",
        s.ws_url()
    ))
    .await;
    ws_next(&mut ws).await.unwrap();
    ws_send(&mut ws, json!({"isAvailable":"s9"})).await;
    assert_eq!(
        ws_next(&mut ws).await.unwrap(),
        json!({"isAvailable": false})
    );
    ws_send(&mut ws, json!({"requestOffer":"s9","requestId":"subscriber-1","transport":"udp","datachannel":true,"doNotSwitch":false})).await;
    let v = ws_next(&mut ws).await.unwrap();
    assert_eq!(v["data"]["code"], "NetStream.Play.StreamNotFound");
    // Missing app on the SM1 proxy.
    let e = tokio_tungstenite::connect_async(format!("{}/streammanager/?id=s1", s.ws_url())).await;
    assert!(e.is_err());
}

#[tokio::test]
async fn idle_websocket_times_out() {
    let s = server(ServerConfig {
        ws_idle_timeout: Duration::from_millis(800),
        ..Default::default()
    })
    .await;
    let mut ws = ws_connect(&format!("{}/live/?id=s1", s.ws_url())).await;
    ws_next(&mut ws).await.unwrap();
    let t = std::time::Instant::now();
    assert!(
        ws_next(&mut ws).await.is_none(),
        "the server closes an idle socket"
    );
    assert!(t.elapsed() < Duration::from_secs(10));
}

#[tokio::test]
async fn shutdown_closes_open_sessions() {
    let s = server(ServerConfig::default()).await;
    let mut ws = ws_connect(&format!("{}/live/?id=s1", s.ws_url())).await;
    ws_next(&mut ws).await.unwrap();
    s.shutdown().await;
    assert!(
        ws_next(&mut ws).await.is_none(),
        "the WebSocket is closed by the shutdown"
    );
}

#[tokio::test]
async fn whip_whep_announce_configured_ice_servers_in_link_headers() {
    let s = server(ServerConfig {
        ice_servers: vec![red5_signal::whip::IceServer {
            urls: vec!["turn:127.0.0.1:3478?transport=udp".into()],
            username: Some("user1".into()),
            credential: Some(red5_signal::Secret::new("pw1")),
        }],
        ..Default::default()
    })
    .await;
    for path in ["/as/v1/proxy/whip/live/s1", "/live/whep/endpoint/s1"] {
        let r = http(&s.base_url(), "OPTIONS", path, &[], "").await;
        assert_eq!(r.status, 204, "{path}");
        let link = r.header("link").expect("a Link header");
        assert_eq!(
            link,
            r#"<turn:127.0.0.1:3478?transport=udp>; rel="ice-server"; username="user1"; credential="pw1""#
        );
        // Our own client reads it back.
        let d = red5_signal::whip::Discovery::from_headers([("Link", link)]);
        assert_eq!(d.ice_servers.len(), 1);
        assert_eq!(d.ice_servers[0].username.as_deref(), Some("user1"));
    }
    // None configured: no Link header.
    let plain = server(ServerConfig::default()).await;
    let r = http(
        &plain.base_url(),
        "OPTIONS",
        "/as/v1/proxy/whip/live/s1",
        &[],
        "",
    )
    .await;
    assert!(r.header("link").is_none());
}
