//! WHIP/WHEP and Stream Manager REST drivers against scripted axum servers on 127.0.0.1.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, Method, Uri};
use axum::response::Response;
use red5_signal::driver::http::WhipSignalling;
use red5_signal::driver::rest::{Sm1Client, Sm2Client};
use red5_signal::driver::{SignalEvent, Signalling};
use red5_signal::flow::http::HttpConfig;
use red5_signal::rest::{sm1, sm2};
use red5_signal::urls::{self, Lookup};
use red5_signal::whip::Kind;
use red5_signal::ws::IceCandidate;
use red5_signal::{dc, Error, Secret};
use url::Url;

#[derive(Debug, Clone)]
struct Seen {
    method: String,
    uri: String,
    headers: HeaderMap,
    body: String,
}

type Responder = dyn Fn(&Seen) -> (u16, Vec<(&'static str, String)>, String) + Send + Sync;

struct Script {
    log: Mutex<Vec<Seen>>,
    respond: Box<Responder>,
}

async fn handler(
    State(s): State<Arc<Script>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: String,
) -> Response {
    let seen = Seen {
        method: method.to_string(),
        uri: uri.to_string(),
        headers,
        body,
    };
    let (status, hdrs, body) = (s.respond)(&seen);
    s.log.lock().unwrap().push(seen);
    let mut r = Response::builder().status(status);
    for (k, v) in hdrs {
        r = r.header(k, v);
    }
    r.body(Body::from(body)).unwrap()
}

/// Serves `respond` on 127.0.0.1; returns the base URL and the request log.
async fn serve(
    respond: impl Fn(&Seen) -> (u16, Vec<(&'static str, String)>, String) + Send + Sync + 'static,
) -> (String, Arc<Script>) {
    let script = Arc::new(Script {
        log: Mutex::new(Vec::new()),
        respond: Box::new(respond),
    });
    let app = axum::Router::new()
        .fallback(handler)
        .with_state(script.clone());
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    (format!("http://{addr}"), script)
}

/// Guards against hangs only; nothing is timed.
async fn within<F: Future>(f: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(20), f)
        .await
        .expect("test hung")
}

async fn until(s: &impl Signalling, pred: impl Fn(&SignalEvent) -> bool) -> SignalEvent {
    loop {
        let e = s.next_event().await.expect("driver ended");
        if pred(&e) {
            return e;
        }
    }
}

const OFFER: &str = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=ice-ufrag:abcd\r\na=ice-pwd:pwpwpwpwpwpwpwpwpwpwpwpw\r\na=mid:0\r\n";

/// An SM2-like WHIP/WHEP proxy: OPTIONS 204 + Session-Host + Link, POST 201 + relative
/// Location (same path), PATCH 200/204, DELETE 200; PATCH/DELETE without `host` → 400.
fn sm2_proxy(s: &Seen) -> (u16, Vec<(&'static str, String)>, String) {
    let has_host = s.uri.contains("host=10.0.0.5");
    match s.method.as_str() {
        "OPTIONS" => (
            204,
            vec![
                ("Session-Host", "10.0.0.5".into()),
                ("Link", "<stun:127.0.0.1:3478>; rel=\"ice-server\"".into()),
            ],
            String::new(),
        ),
        "POST" if !has_host => (400, vec![], r#"{"error":"host required"}"#.into()),
        "POST" if s.uri.contains("/whip/") => (
            201,
            vec![("Location", "/as/v1/proxy/whip/live/stream1".into())],
            "v=0 answer".into(),
        ),
        "POST" => (
            201,
            vec![("location", "/as/v1/proxy/whep/live/stream1".into())],
            "v=0 server offer".into(),
        ),
        "PATCH" | "DELETE" if !has_host => (400, vec![], r#"{"error":"host required"}"#.into()),
        "PATCH" if s.uri.contains("/whip/") => (200, vec![], String::new()),
        "PATCH" => (204, vec![], String::new()),
        "DELETE" => (200, vec![], String::new()),
        _ => (405, vec![], String::new()),
    }
}

#[tokio::test]
async fn whip_publish_against_sm2_proxy() {
    within(async {
        let (base, script) = serve(sm2_proxy).await;
        let mut cfg = HttpConfig::new(Kind::Whip, Url::parse(&urls::whip_sm2(&base, Kind::Whip, "live", "stream1", None)).unwrap());
        cfg.params = vec![("nodeGroup".into(), "default".into())];
        let s = WhipSignalling::spawn(cfg).unwrap();
        let c = s.connect().await.unwrap();
        assert_eq!(c.session_host.as_deref(), Some("10.0.0.5"));
        assert_eq!(c.ice_servers[0].urls, ["stun:127.0.0.1:3478"]);
        let a = s.publish_offer(OFFER.into()).await.unwrap();
        assert_eq!(a.sdp, "v=0 answer");
        s.add_local_candidate(IceCandidate::new("candidate:1 1 udp 2122194687 127.0.0.1 5000 typ host", None, None)).await.unwrap();
        s.end_of_local_candidates(None).await.unwrap();
        until(&s, |e| *e == SignalEvent::TrickleCompleted).await;
        s.send_message(dc::ClientMessage::metadata_text("before open")).await.unwrap();
        s.data_channel_open().await.unwrap();
        s.wait_started().await.unwrap();
        assert!(matches!(until(&s, |e| matches!(e, SignalEvent::SendOnDataChannel(_))).await, SignalEvent::SendOnDataChannel(t) if t.contains("before open")));
        s.stop().await.unwrap();
        let log = script.log.lock().unwrap().clone();
        let lines: Vec<String> = log.iter().map(|r| format!("{} {}", r.method, r.uri)).collect();
        assert_eq!(
            lines,
            [
                "OPTIONS /as/v1/proxy/whip/live/stream1?signal=true&nodeGroup=default",
                "POST /as/v1/proxy/whip/live/stream1?signal=true&nodeGroup=default&mode=live&transport=udp&keyFramerate=3000&host=10.0.0.5",
                "PATCH /as/v1/proxy/whip/live/stream1?nodeGroup=default&host=10.0.0.5",
                "DELETE /as/v1/proxy/whip/live/stream1?nodeGroup=default&host=10.0.0.5",
            ]
        );
        assert_eq!(log[1].headers["content-type"], "application/sdp");
        assert_eq!(log[1].body, OFFER);
        assert_eq!(log[2].headers["content-type"], "application/trickle-ice-sdpfrag");
        assert!(log[2].body.ends_with("a=candidate:1 1 udp 2122194687 127.0.0.1 5000 typ host\r\na=end-of-candidates"));
        // never an Authorization header on the proxy
        assert!(log.iter().all(|r| !r.headers.contains_key("authorization")));
    })
    .await;
}

#[tokio::test]
async fn whep_subscribe_against_sm2_proxy() {
    within(async {
        let (base, script) = serve(sm2_proxy).await;
        let ep = urls::whip_sm2(&base, Kind::Whep, "live", "stream1", Some("subscriber-1b31"));
        let mut cfg = HttpConfig::new(Kind::Whep, Url::parse(&ep).unwrap());
        cfg.params = vec![("nodeGroup".into(), "default".into())];
        let s = WhipSignalling::spawn(cfg).unwrap();
        s.connect().await.unwrap();
        assert_eq!(s.request_offer(Some("v=0 recvonly".into())).await.unwrap(), "v=0 server offer");
        s.send_answer(OFFER.into()).await.unwrap();
        s.add_local_candidate(IceCandidate::new("candidate:2 1 udp 1 127.0.0.1 6000 typ host", None, None)).await.unwrap();
        s.end_of_local_candidates(None).await.unwrap();
        s.data_channel_open().await.unwrap();
        s.wait_started().await.unwrap();
        // RPC over the data channel: the request comes out as DC text, the reply goes back in
        let s = Arc::new(s);
        let s2 = s.clone();
        let call = tokio::spawn(async move { s2.call("switchStreams", vec![serde_json::json!({"path": "live/x"})]).await });
        let SignalEvent::SendOnDataChannel(t) = until(&*s, |e| matches!(e, SignalEvent::SendOnDataChannel(_))).await else { unreachable!() };
        let dc::ClientMessage::CallAdapter(c) = dc::ClientMessage::parse(&t).unwrap() else { panic!("{t}") };
        let reply = dc::ServerMessage::RpcReply(dc::RpcReply::ok(c.id.unwrap(), serde_json::json!(1))).to_json();
        s.data_channel_message(reply).await.unwrap();
        assert_eq!(call.await.unwrap().unwrap(), serde_json::json!(1));
        s.data_channel_message(r#"{"send":{"method":"onMetaData","data":{"metadata":"m"}},"senderName":"stream1","dcLabel":"red5pro"}"#.into())
            .await
            .unwrap();
        assert!(matches!(until(&*s, |e| matches!(e, SignalEvent::Invoke(_))).await, SignalEvent::Invoke(i) if i.is_metadata()));
        s.stop().await.unwrap();
        let lines: Vec<String> = script.log.lock().unwrap().iter().map(|r| format!("{} {}", r.method, r.uri)).collect();
        assert_eq!(
            lines,
            [
                "OPTIONS /as/v1/proxy/whep/live/stream1?requestId=subscriber-1b31&signal=true&nodeGroup=default",
                "POST /as/v1/proxy/whep/live/stream1?requestId=subscriber-1b31&signal=true&nodeGroup=default&transport=udp&doNotSwitch=false&host=10.0.0.5",
                "PATCH /as/v1/proxy/whep/live/stream1?requestId=subscriber-1b31&nodeGroup=default&host=10.0.0.5",
                "PATCH /as/v1/proxy/whep/live/stream1?requestId=subscriber-1b31&nodeGroup=default&host=10.0.0.5",
                "DELETE /as/v1/proxy/whep/live/stream1?requestId=subscriber-1b31&nodeGroup=default&host=10.0.0.5",
            ]
        );
    })
    .await;
}

#[tokio::test]
async fn whip_node_paths_endpoint_to_resource() {
    within(async {
        let (base, script) = serve(|s| match s.method.as_str() {
            "OPTIONS" => (200, vec![], String::new()),
            "POST" => (
                201,
                vec![("Location", "/live/whip/endpoint/stream1?ignored=1".into())],
                "v=0 a".into(),
            ),
            _ => (200, vec![], String::new()),
        })
        .await;
        let cfg = HttpConfig::new(
            Kind::Whip,
            Url::parse(&urls::whip_standalone(
                &base,
                Kind::Whip,
                "live",
                "stream1",
                None,
            ))
            .unwrap(),
        );
        let s = WhipSignalling::spawn(cfg).unwrap();
        s.connect().await.unwrap();
        s.publish_offer(OFFER.into()).await.unwrap();
        s.end_of_local_candidates(Some(format!(
            "{OFFER}a=candidate:7 1 udp 1 127.0.0.1 7 typ host\r\n"
        )))
        .await
        .unwrap();
        until(&s, |e| *e == SignalEvent::TrickleCompleted).await;
        s.stop().await.unwrap();
        let log = script.log.lock().unwrap().clone();
        assert_eq!(log[2].uri, "/live/whip/resource/stream1");
        assert_eq!(log[3].uri, "/live/whip/resource/stream1");
    })
    .await;
}

async fn post_status(status: u16, body: &'static str) -> Error {
    let (base, _) = serve(move |s| match s.method.as_str() {
        "OPTIONS" => (204, vec![], String::new()),
        _ => (status, vec![], body.into()),
    })
    .await;
    let cfg = HttpConfig::new(
        Kind::Whip,
        Url::parse(&urls::whip_standalone(&base, Kind::Whip, "live", "s", None)).unwrap(),
    );
    let s = WhipSignalling::spawn(cfg).unwrap();
    s.connect().await.unwrap();
    s.publish_offer(OFFER.into()).await.unwrap_err()
}

#[tokio::test]
async fn whip_error_statuses_401_404_409() {
    within(async {
        let e = post_status(401, r#"{"error":"token expired"}"#).await;
        assert!(
            e.to_string().contains("Not authorized.") && e.to_string().contains("token expired"),
            "{e}"
        );
        let e = post_status(404, "").await;
        assert!(
            matches!(&e, Error::InvalidName(m) if m.contains("Scope resolver failed")),
            "{e:?}"
        );
        let e = post_status(409, "Stream is not available to publish").await;
        assert!(
            matches!(&e, Error::InvalidName(m) if m.contains("Session already initialized")),
            "{e:?}"
        );
        // OPTIONS refused
        let (base, _) = serve(|_| {
            (
                500,
                vec![],
                r#"{"error":"Publisher limit reached."}"#.into(),
            )
        })
        .await;
        let cfg = HttpConfig::new(
            Kind::Whip,
            Url::parse(&urls::whip_sm2(&base, Kind::Whip, "live", "s", None)).unwrap(),
        );
        let e = WhipSignalling::spawn(cfg)
            .unwrap()
            .connect()
            .await
            .unwrap_err();
        assert!(e.to_string().contains("Publisher limit reached."), "{e}");
        // nothing listening
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        drop(l);
        let cfg = HttpConfig::new(
            Kind::Whip,
            Url::parse(&format!("http://{addr}/live/whip/endpoint/s")).unwrap(),
        );
        let sig = WhipSignalling::spawn(cfg).unwrap();
        let e = sig.connect().await.unwrap_err();
        assert!(matches!(e, Error::Connect { .. }), "{e:?}");
        // The driver has ended: later calls report the same failure, not "closed".
        while sig.next_event().await.is_some() {}
        assert_eq!(sig.publish_offer("v=0".into()).await.unwrap_err(), e);
        assert_eq!(sig.wait_started().await.unwrap_err(), e);
        // A Stream Manager with its proxy turned off (503 + its text) is named as such.
        let (base, _) = serve(|_| {
            (
                503,
                vec![],
                r#"{"error":"The Stream Manager proxy is disabled (proxy.enabled=false in red5-web.properties)."}"#.into(),
            )
        })
        .await;
        let cfg = HttpConfig::new(
            Kind::Whep,
            Url::parse(&urls::whip_sm2(&base, Kind::Whep, "live", "s", Some("r1"))).unwrap(),
        );
        let e = WhipSignalling::spawn(cfg)
            .unwrap()
            .connect()
            .await
            .unwrap_err();
        assert_eq!(e, Error::ProxyDisabled);
        assert!(!e.is_retryable());
    })
    .await;
}

// ================================================================================================
// Stream Manager REST
// ================================================================================================

#[tokio::test]
async fn sm2_login_lookup_provision_mixer() {
    within(async {
        let (base, script) = serve(|s| {
            let auth = s.headers.get("authorization").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
            match (s.method.as_str(), s.uri.as_str()) {
                ("PUT", "/as/v1/auth/login") if auth == "Basic YWRtaW46cHc=" => (200, vec![], r#"{"token":"jwt.abc.def"}"#.into()),
                ("PUT", "/as/v1/auth/login") => (401, vec![], r#"{"errorMessage":"Invalid credentials"}"#.into()),
                (_, u) if u.starts_with("/as/v1/streams/stream/default/publish/live/s1") => (
                    200,
                    vec![],
                    r#"[{"streamGuid":"live/s1","serverAddress":"10.0.0.7","nodeRole":"origin","subGroup":"a","nodeState":"INSERVICE","subscribers":0}]"#.into(),
                ),
                (_, u) if u.starts_with("/as/v1/streams/stream/") => (404, vec![], r#"{"error":"Node group not found"}"#.into()),
                (_, _) if auth != "Bearer jwt.abc.def" => (401, vec![], r#"{"errorMessage":"bad token"}"#.into()),
                ("POST", "/as/v1/streams/provision/default") if s.body.contains("live/dup") => (409, vec![], String::new()),
                ("POST", "/as/v1/streams/provision/default") => (200, vec![], "[]".into()),
                ("POST", "/as/v1/streams/mixer/default") => (200, vec![], s.body.clone()),
                ("GET", "/as/v1/streams/mixer/default") => (200, vec![], "[]".into()),
                ("GET", "/as/v1/streams/mixer/default/ev1") => (200, vec![], r#"{"eventId":"ev1"}"#.into()),
                ("PUT" | "DELETE", "/as/v1/streams/mixer/default/ev1") => (200, vec![], String::new()),
                _ => (404, vec![], String::new()),
            }
        })
        .await;
        let c = Sm2Client::new(&base).unwrap();
        // not logged in yet: a readable error, no request
        let p = sm2::Provision { provision_guid: "live/s1".into(), streams: vec![], extra: Default::default() };
        assert!(matches!(c.provision("default", std::slice::from_ref(&p)).await, Err(Error::Unauthorized { .. })));
        let e = c.login("admin", &Secret::new("wrong")).await.unwrap_err();
        assert_eq!(e.to_string(), "the Stream Manager rejected the credentials or token (401): Invalid credentials");
        let t = c.login("admin", &Secret::new("pw")).await.unwrap();
        assert_eq!(t.expose(), "jwt.abc.def");
        let nodes = c.lookup("default", sm2::Direction::Publish, "live", "s1", &Lookup { strict: true, ..Default::default() }).await.unwrap();
        assert_eq!(nodes[0].server_address, "10.0.0.7");
        let e = c.lookup("nope", sm2::Direction::Subscribe, "live", "s1", &Lookup::default()).await.unwrap_err();
        assert!(e.to_string().contains("Node group not found") && e.to_string().contains("404"), "{e}");
        assert!(c.provision("default", std::slice::from_ref(&p)).await.unwrap());
        let dup = sm2::Provision { provision_guid: "live/dup".into(), streams: vec![], extra: Default::default() };
        assert!(!c.provision("default", &[dup]).await.unwrap());
        let created = c.create_mixer("default", &sm2::BrewMixer::new("ev1", "live/mix")).await.unwrap();
        assert_eq!(created["eventId"], "ev1");
        assert_eq!(c.get_mixer("default", "ev1").await.unwrap()["eventId"], "ev1");
        c.list_mixers("default").await.unwrap();
        c.update_mixer("default", "ev1", &[serde_json::json!({"type":"root"})]).await.unwrap();
        c.delete_mixer("default", "ev1").await.unwrap();
        let log = script.log.lock().unwrap().clone();
        assert!(log.iter().any(|r| r.uri.ends_with("?strict=true")));
    })
    .await;
}

#[tokio::test]
async fn sm1_lookup_join_provision_compositions_regions() {
    within(async {
        let (base, _script) = serve(|s| {
            let tok = s.uri.contains("accessToken=t0k");
            let path = s.uri.split('?').next().unwrap().to_owned();
            match (s.method.as_str(), path.as_str()) {
                ("GET", "/streammanager/api/4.0/event/live/s1") => {
                    (200, vec![], r#"{"name":"s1","scope":"/live","serverAddress":"10.0.0.8","region":"us-east-1"}"#.into())
                }
                ("GET", "/streammanager/api/4.0/event/live/gone") => {
                    (400, vec![], r#"{"errorMessage":"Stream not found","timestamp":1}"#.into())
                }
                ("GET", "/streammanager/api/4.0/event/live/room1/join") => {
                    (200, vec![], r#"{"scope":"live/room1","name":"room1","serverAddress":"10.0.0.9","region":"nyc3"}"#.into())
                }
                _ if !tok => (401, vec![], r#"{"errorMessage":"Invalid accessToken"}"#.into()),
                ("POST", "/streammanager/api/4.0/admin/event/meta/live/room1/room1") if s.body.contains("\"audiotracks\":3") => (
                    200,
                    vec![],
                    format!(r#"{{"name":"room1","scope":"live","data":{},"updated":5}}"#, s.body),
                ),
                ("POST", "/streammanager/api/4.0/admin/event/meta/live/room2/room2") => {
                    (400, vec![], r#"{"errorMessage":"Provision already exists"}"#.into())
                }
                ("POST", "/streammanager/api/4.0/composition") => {
                    let mut v: serde_json::Value = serde_json::from_str(&s.body).unwrap();
                    v["mixers"][0]["state"] = "pending".into();
                    (200, vec![], v.to_string())
                }
                ("GET", "/streammanager/api/4.0/composition") => (200, vec![], r#"["room1"]"#.into()),
                ("GET", "/streammanager/api/4.0/composition/room1") => (
                    200,
                    vec![],
                    r#"{"event":"room1","transcodeComposition":false,"digest":"d","location":["nyc3"],"mixers":[{"mixerName":"m","mixingPage":"p","streamName":"room1","path":"live/room1","destinationMixerName":"","width":1280,"height":720,"framerate":30,"bitrate":1500,"doForward":true,"state":"composing"}]}"#.into(),
                ),
                ("DELETE", "/streammanager/api/4.0/composition/room1") => (200, vec![], String::new()),
                ("GET", "/streammanager/api/4.0/admin/nodegroup") => (200, vec![], r#"[{"name":"ng1"},{"name":"ng2"}]"#.into()),
                ("GET", "/streammanager/api/4.0/admin/nodegroup/ng1/node") => (
                    200,
                    vec![],
                    r#"[{"role":"mixer","availabilityZone":"nyc3"},{"role":"origin","availabilityZone":"sfo2"}]"#.into(),
                ),
                ("GET", "/streammanager/api/4.0/admin/nodegroup/ng2/node") => {
                    (200, vec![], r#"[{"role":"mixer","availabilityZone":"ams3"},{"role":"mixer","availabilityZone":"nyc3"}]"#.into())
                }
                _ => (404, vec![], r#"{"errorMessage":"no route"}"#.into()),
            }
        })
        .await;
        let c = Sm1Client::new(&base, Secret::new("t0k")).unwrap();
        let n = c.lookup("live", "s1", sm1::Action::Broadcast, &Lookup { region: Some("us-east-1".into()), ..Default::default() }).await.unwrap();
        assert_eq!((n[0].context(), n[0].server_address.as_str()), ("live", "10.0.0.8"));
        let e = c.lookup("live", "gone", sm1::Action::Subscribe, &Lookup::default()).await.unwrap_err();
        assert!(e.to_string().contains("Stream not found") && e.to_string().contains("400"), "{e}");
        assert_eq!(c.join("live", "room1", &Lookup::default()).await.unwrap().server_address, "10.0.0.9");
        let p = c.provision("live/room1", "room1", &sm1::Provision::conference("live/room1", "room1")).await.unwrap();
        assert_eq!(p.unwrap().updated, Some(5));
        assert!(c.provision("live/room2", "room2", &sm1::Provision::conference("live/room2", "room2")).await.unwrap().is_none());
        let comp = sm1::Composition {
            event: "room1".into(),
            transcode_composition: false,
            digest: "t0k".into(),
            mixers: vec![sm1::Mixer {
                id: None,
                mixer_name: "m".into(),
                location: None,
                mixing_page: "https://sm/page?sm=true".into(),
                stream_name: "room1".into(),
                path: "live/room1".into(),
                destination_mixer_name: String::new(),
                server_address: None,
                destination: None,
                width: Some(1280),
                height: Some(720),
                framerate: Some(30),
                bitrate: Some(1500),
                do_forward: true,
                state: None,
                is_web_socket_connected: None,
            }],
            location: vec!["nyc3".into()],
        };
        let created = c.create_composition(&comp).await.unwrap();
        assert_eq!(created.mixers[0].state.as_deref(), Some("pending"));
        assert_eq!(c.list_compositions().await.unwrap(), ["room1"]);
        assert!(c.get_composition("room1").await.unwrap().is_composing());
        c.delete_composition("room1").await.unwrap();
        assert_eq!(c.mixer_regions().await.unwrap(), ["ams3", "nyc3"]);
        // a bad token gives the server's text and never prints the token
        let bad = Sm1Client::new(&base, Secret::new("nope-secret")).unwrap();
        let e = bad.list_compositions().await.unwrap_err();
        assert!(matches!(e, Error::Unauthorized { .. }) && e.to_string().contains("Invalid accessToken"), "{e}");
        assert!(!format!("{e} {e:?}").contains("nope-secret"));
    })
    .await;
}
