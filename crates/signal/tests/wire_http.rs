//! §3 (WHIP/WHEP), §2 (REST), §7.2–§7.4 (composition, conference, backend) fixtures.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

use red5_signal::backend::{self, ConnectParams};
use red5_signal::rest::{self, sm1, sm2};
use red5_signal::whip::{self, Discovery, Kind, Link, PostOptions, Request, SdpFrag};
use red5_signal::{urls, Secret};
use url::Url;

fn p(k: &str, v: &str) -> (String, String) {
    (k.into(), v.into())
}

#[test]
fn query_parameters_in_red5_order_3_2() {
    let params = vec![p("nodeGroup", "default"), p("transcode", "true")];
    let ep = "https://sm/as/v1/proxy/whip/live/stream1";
    assert_eq!(
        whip::append_query(ep, &whip::options_params(true, &params)),
        "https://sm/as/v1/proxy/whip/live/stream1?signal=true&nodeGroup=default&transcode=true"
    );
    let o = PostOptions::default();
    assert_eq!(
        whip::append_query(ep, &whip::whip_post_params(&o, &params, Some("10.0.0.5"))),
        "https://sm/as/v1/proxy/whip/live/stream1?signal=true&nodeGroup=default&mode=live&transport=udp&keyFramerate=3000&host=10.0.0.5"
    );
    let o2 = PostOptions {
        video_encoding: Some("H264".into()),
        audio_encoding: Some("NONE".into()),
        ..PostOptions::default()
    };
    assert_eq!(
        whip::append_query(ep, &whip::whip_post_params(&o2, &[], None)),
        "https://sm/as/v1/proxy/whip/live/stream1?signal=true&mode=live&transport=udp&keyFramerate=3000&videoEncoding=H264"
    );
    let wep = urls::whip_sm2(
        "https://sm",
        Kind::Whep,
        "live",
        "stream1",
        Some("subscriber-1b31"),
    );
    assert_eq!(
        wep,
        "https://sm/as/v1/proxy/whep/live/stream1?requestId=subscriber-1b31"
    );
    assert_eq!(
        whip::append_query(&wep, &whip::whep_post_params(&o, &params, Some("10.0.0.6"))),
        "https://sm/as/v1/proxy/whep/live/stream1?requestId=subscriber-1b31&signal=true&nodeGroup=default&transport=udp&doNotSwitch=false&host=10.0.0.6"
    );
    // host given by the app wins over Session-Host
    let with_host = vec![p("host", "1.2.3.4")];
    assert_eq!(
        whip::resource_params(&with_host, Some("9.9.9.9")),
        vec![p("host", "1.2.3.4")]
    );
    assert_eq!(
        whip::resource_params(&params, Some("9.9.9.9")),
        vec![p("nodeGroup", "default"), p("host", "9.9.9.9")]
    );
    // values are encodeURIComponent-ed like the testbeds do
    assert_eq!(
        whip::append_query("u", &[p("token", "a b&c/d")]),
        "u?token=a%20b%26c%2Fd"
    );
}

#[test]
fn status_meanings_3_4_3_5() {
    use Request::*;
    assert_eq!(
        whip::status_message(Kind::Whip, Post, 400),
        Some("Invalid offer SDP.")
    );
    assert_eq!(
        whip::status_message(Kind::Whip, Post, 401),
        Some("Not authorized.")
    );
    assert_eq!(
        whip::status_message(Kind::Whip, Post, 404),
        Some("Scope resolver failed for the publish name and / or scope.")
    );
    assert!(whip::status_message(Kind::Whip, Post, 405)
        .unwrap()
        .starts_with("Remember to update the URL"));
    assert_eq!(
        whip::status_message(Kind::Whip, Post, 406),
        Some("Scope connection rejected.")
    );
    assert_eq!(
        whip::status_message(Kind::Whip, Post, 409),
        Some("Session already initialized.")
    );
    assert_eq!(
        whip::status_message(Kind::Whip, Post, 412),
        Some("Invalid request body.")
    );
    assert_eq!(
        whip::status_message(Kind::Whip, Post, 417),
        Some("Session lookup or creation failure.")
    );
    assert_eq!(
        whip::status_message(Kind::Whep, Post, 400),
        Some("Offer already sent, double POST assumed.")
    );
    assert_eq!(
        whip::status_message(Kind::Whep, Post, 404),
        Some("Scope resolver failed for the playback name and / or scope.")
    );
    assert_eq!(
        whip::status_message(Kind::Whep, Post, 406),
        Some("Playback failed due to an exception during creation.")
    );
    assert_eq!(
        whip::status_message(Kind::Whep, Post, 409),
        Some("Stream is not available to playback.")
    );
    assert_eq!(
        whip::status_message(Kind::Whep, PatchAnswer, 404),
        Some("Session not found.")
    );
    assert_eq!(whip::status_message(Kind::Whip, Post, 418), None);
    assert!(
        whip::is_invalid_name(Post, 404)
            && whip::is_invalid_name(Post, 409)
            && !whip::is_invalid_name(Post, 401)
    );
    assert_eq!(whip::success_status(Kind::Whip, PatchTrickle), 200);
    assert_eq!(whip::success_status(Kind::Whep, PatchTrickle), 204);
    assert_eq!(whip::success_status(Kind::Whep, Post), 201);
}

#[test]
fn sdpfrag_3_6_matches_the_sdk_byte_for_byte() {
    let expected = include_str!("fixtures/whip-sdpfrag.txt");
    let local = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0 1\r\n\
m=audio 54033 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126\r\nc=IN IP4 192.0.2.2\r\na=ice-ufrag:old\r\na=ice-pwd:oldpwd\r\na=mid:0\r\n\
a=candidate:3975428673 1 udp 2122194688 192.0.2.2 54033 typ host generation 0 network-id 1\r\n\
a=candidate:663944097 1 udp 2122265344 fd00::2 57780 typ host generation 0 network-id 2\r\n\
m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=ice-ufrag:Adc3\r\na=ice-pwd:dCJOin0IcwyEFcIH16XMl/OF\r\na=mid:1\r\n\
a=candidate:308211413 1 tcp 1518214912 192.0.2.2 9 typ host tcptype active generation 0 network-id 1\r\n\
a=candidate:3644337973 1 tcp 1518285568 fd00::2 9 typ host tcptype active generation 0 network-id 2\r\n";
    let frag = SdpFrag::from_local_sdp(local);
    assert_eq!(frag.to_body(), expected);
    let back = SdpFrag::parse(expected).unwrap();
    assert_eq!(back, frag);
    // LF only, no a= prefix on candidates, no end marker: still parses
    let loose = SdpFrag::parse("a=ice-ufrag:x\ncandidate:1 1 udp 1 1.2.3.4 5 typ host\n").unwrap();
    assert_eq!(
        loose.candidates,
        vec!["candidate:1 1 udp 1 1.2.3.4 5 typ host"]
    );
    assert!(!loose.end_of_candidates);
    assert!(SdpFrag::parse("hello").is_err());
}

#[test]
fn link_and_session_host_headers_3_3() {
    let links = Link::parse_header(
        r#"<stun:127.0.0.1:3478>; rel="ice-server", <turn:t.example:3478?transport=udp>; rel="ice-server"; username="u"; credential="c""#,
    );
    assert_eq!(links.len(), 2);
    assert_eq!(links[1].param("username"), Some("u"));
    let l = Link::ice_server("turn:t.example:3478", Some("u"), Some("c"));
    assert_eq!(
        l.to_header(),
        r#"<turn:t.example:3478>; rel="ice-server"; username="u"; credential="c""#
    );
    assert_eq!(Link::parse_header(&l.to_header()), vec![l]);
    let d = Discovery::from_headers([
        ("session-host", " 10.0.0.5 "),
        ("link", r#"<stun:127.0.0.1:3478>; rel="ice-server""#),
        (
            "Link",
            r#"<turn:t:3478>; rel="ice-server"; username="u"; credential="c""#,
        ),
        (
            "LINK",
            r#"<https://stats.example/ingest>; rel="statistics""#,
        ),
    ]);
    assert_eq!(d.session_host.as_deref(), Some("10.0.0.5"));
    assert_eq!(d.ice_servers.len(), 2);
    assert_eq!(d.ice_servers[1].credential, Some(Secret::new("c")));
    assert_eq!(
        d.statistics_url.as_deref(),
        Some("https://stats.example/ingest")
    );
}

#[test]
fn location_resolution_3_4() {
    let ep = Url::parse("https://sm.example/live/whip/endpoint/stream1?x=1").unwrap();
    // relative: path replaced, Location query dropped, endpoint query kept, endpoint→resource
    let r = whip::resolve_resource(
        &ep,
        Some("/as/v1/proxy/whip/endpoint/live/stream1/1add2fc2?ignored=1"),
    )
    .unwrap();
    assert_eq!(
        r.as_str(),
        "https://sm.example/as/v1/proxy/whip/resource/live/stream1/1add2fc2?x=1"
    );
    // absolute: verbatim
    let r = whip::resolve_resource(
        &ep,
        Some("https://node.example:5443/live/whip/resource/stream1"),
    )
    .unwrap();
    assert_eq!(
        r.as_str(),
        "https://node.example:5443/live/whip/resource/stream1"
    );
    // missing: endpoint with endpoint→resource
    let r = whip::resolve_resource(&ep, None).unwrap();
    assert_eq!(
        r.as_str(),
        "https://sm.example/live/whip/resource/stream1?x=1"
    );
    // SM2: same path, requestId kept
    let ep2 =
        Url::parse("https://sm/as/v1/proxy/whep/live/stream1?requestId=subscriber-1").unwrap();
    let r = whip::resolve_resource(&ep2, Some("/as/v1/proxy/whep/live/stream1")).unwrap();
    assert_eq!(
        r.as_str(),
        "https://sm/as/v1/proxy/whep/live/stream1?requestId=subscriber-1"
    );
}

#[test]
fn ws_urls_4_1() {
    assert_eq!(
        urls::ws_standalone("https://node:443", "live", "stream1", &[]),
        "wss://node:443/live/?id=stream1"
    );
    assert_eq!(
        urls::ws_sm1("https://sm", "stream1", "10.0.0.5", "live", &[]),
        "wss://sm/streammanager/?id=stream1&host=10.0.0.5&app=live"
    );
    assert_eq!(
        urls::ws_sm1(
            "https://sm",
            "participant1",
            "10.0.0.5",
            "live/room1",
            &[p("token", "t")]
        ),
        "wss://sm/streammanager/?id=participant1&host=10.0.0.5&app=live%2Froom1&token=t"
    );
    assert_eq!(
        urls::ws_sm2("https://sm", sm2::Direction::Subscribe, "live", "stream1", "subscriber-1b31", "default", &[p("region", "us-east-1")]),
        "wss://sm/as/v1/proxy/ws/subscribe/live/stream1?id=subscriber-1b31&nodeGroup=default&region=us-east-1"
    );
    assert_eq!(
        urls::whip_standalone(
            "http://127.0.0.1:5080",
            Kind::Whip,
            "live/room1",
            "s1",
            None
        ),
        "http://127.0.0.1:5080/live/room1/whip/endpoint/s1"
    );
}

#[test]
fn rest_urls_2() {
    let l = urls::Lookup {
        region: Some("nyc3".into()),
        strict: true,
        ..Default::default()
    };
    assert_eq!(
        urls::sm1_event("https://sm", "live", "s1", sm1::Action::Broadcast, &l),
        "https://sm/streammanager/api/4.0/event/live/s1?action=broadcast&region=nyc3&strict=true"
    );
    assert_eq!(
        urls::sm1_join("https://sm", "live", "room1", &Default::default()),
        "https://sm/streammanager/api/4.0/event/live/room1/join"
    );
    assert_eq!(
        urls::sm1_event_meta("https://sm", "live/room1", "room1", "tok"),
        "https://sm/streammanager/api/4.0/admin/event/meta/live/room1/room1?accessToken=tok"
    );
    assert_eq!(
        urls::sm1_composition("https://sm", Some("room1"), "t"),
        "https://sm/streammanager/api/4.0/composition/room1?accessToken=t"
    );
    assert_eq!(
        urls::sm1_nodegroups("https://sm", Some("ng1"), "t"),
        "https://sm/streammanager/api/4.0/admin/nodegroup/ng1/node?accessToken=t"
    );
    let l2 = urls::Lookup {
        subgroup: Some("ashburn".into()),
        strict: true,
        ..Default::default()
    };
    assert_eq!(
        urls::sm2_stream(
            "https://sm",
            "default",
            sm2::Direction::Publish,
            "live",
            "s1",
            &l2
        ),
        "https://sm/as/v1/streams/stream/default/publish/live/s1?subgroup=ashburn&strict=true"
    );
    assert_eq!(
        urls::sm2_login("https://sm/"),
        "https://sm/as/v1/auth/login"
    );
    assert_eq!(
        urls::sm2_mixer("https://sm", "default", Some("ev1")),
        "https://sm/as/v1/streams/mixer/default/ev1"
    );
}

#[test]
fn rest_bodies_sm1() {
    let v: Vec<sm1::EventLocation> = rest::one_or_many(
        "lookup",
        r#"{"name":"demo","scope":"/live","serverAddress":"104.197.131.87","region":"us-east-1"}"#,
    )
    .unwrap();
    assert_eq!(v[0].context(), "live");
    assert_eq!(v[0].server_address, "104.197.131.87");
    let v: Vec<sm1::EventLocation> = rest::one_or_many("lookup", r#"[{"name":"a","scope":"live","serverAddress":"1.1.1.1"},{"name":"a","scope":"live","serverAddress":"2.2.2.2"}]"#).unwrap();
    assert_eq!(v.len(), 2);
    let join: sm1::EventLocation = serde_json::from_str(
        r#"{"scope":"live/room1","name":"room1","serverAddress":"10.0.0.9","region":"nyc3"}"#,
    )
    .unwrap();
    assert_eq!(join.context(), "live/room1");
    // conference provision §7.3 — exact
    let prov = sm1::Provision::conference("live/room1", "room1");
    let text = r#"{"guid":"live/room1","context":"live/room1","name":"room1","level":0,"isRestricted":false,"parameters":{"group":"webrtc","audiotracks":3,"videotracks":1},"restrictions":[],"primaries":[],"secondaries":[]}"#;
    assert_eq!(serde_json::to_string(&prov).unwrap(), text);
    assert_eq!(serde_json::from_str::<sm1::Provision>(text).unwrap(), prov);
    let resp: sm1::ProvisionResponse = serde_json::from_str(&format!(
        r#"{{"name":"room1","scope":"live","data":{text},"updated":1615402189012}}"#
    ))
    .unwrap();
    assert_eq!(resp.updated, Some(1615402189012));
    // composition §7.2: testbed strings and docs numbers both parse
    let req = r#"{"event":"room1","transcodeComposition":false,"digest":"tok","mixers":[{"mixerName":"m1","mixingPage":"https://sm/page?sm=true","streamName":"room1","path":"live/room1","width":"1280","height":"720","framerate":"30","bitrate":"1500","doForward":true,"destinationMixerName":""}],"location":["nyc3"]}"#;
    let c: sm1::Composition = serde_json::from_str(req).unwrap();
    assert_eq!(c.mixers[0].width, Some(1280));
    let resp = r#"{"event":"room1","transcodeComposition":false,"digest":"tok","location":["nyc3"],"mixers":[{"id":"nex83node-nyc3-1615320241113","mixerName":"m1","location":"nyc3","mixingPage":"p","streamName":"room1","path":"live/room1","destinationMixerName":"","serverAddress":"1.2.3.4","destination":"5.6.7.8","width":1280,"height":720,"framerate":30,"bitrate":1500,"doForward":true,"state":"INSERVICE"}]}"#;
    let c: sm1::Composition = serde_json::from_str(resp).unwrap();
    assert!(!c.is_composing());
    let out = serde_json::to_string(&c).unwrap();
    assert_eq!(serde_json::from_str::<sm1::Composition>(&out).unwrap(), c);
    let list: Vec<String> = serde_json::from_str(r#"["test9","test8","test1"]"#).unwrap();
    assert_eq!(list.len(), 3);
    let nodes: Vec<sm1::Node> = serde_json::from_str(r#"[{"role":"mixer","availabilityZone":"nyc3","address":"1.1.1.1","state":"inservice","extra":1}]"#).unwrap();
    assert_eq!(nodes[0].availability_zone.as_deref(), Some("nyc3"));
}

#[test]
fn rest_bodies_sm2_and_errors() {
    let l: sm2::LoginResponse = serde_json::from_str(r#"{"token":"eyJ.x.y"}"#).unwrap();
    assert_eq!(format!("{l:?}"), "LoginResponse { token: *** }");
    let v: Vec<sm2::StreamLocation> = rest::one_or_many(
        "lookup",
        r#"[{"streamGuid":"live/stream1","serverAddress":"132.226.54.176","nodeRole":"allinone","subGroup":"ashburn","nodeState":"INSERVICE","subscribers":0}]"#,
    )
    .unwrap();
    assert_eq!(v[0].server_address, "132.226.54.176");
    let v: Vec<sm2::StreamLocation> = rest::one_or_many("lookup", r#"{"streamGuid":"live/s","serverAddress":"1.1.1.1","nodeRole":"edge","durationMs":600000}"#).unwrap();
    assert_eq!(v[0].duration_ms, Some(600000));
    assert!(rest::one_or_many::<sm2::StreamLocation>("lookup", "42").is_err());
    let m = sm2::BrewMixer::new("ev1", "live/mix1");
    let s = serde_json::to_string(&m).unwrap();
    assert!(
        s.starts_with(
            r#"{"eventId":"ev1","streamGuid":"live/mix1","width":1280,"height":720,"frameRate":30"#
        ),
        "{s}"
    );
    assert!(s.contains(r#""audioChannels":2,"subMixes":1"#));
    let prov: sm2::Provision = serde_json::from_str(r#"{"provisionGuid":"live/test","streams":[{"streamGuid":"live/test_1","abrLevel":1,"videoParams":{"videoWidth":640}}],"extra":true}"#).unwrap();
    assert_eq!(prov.streams[0].abr_level, Some(1));
    assert_eq!(
        rest::error_message(r#"{"errorMessage":"Provision already exists","timestamp":1}"#)
            .as_deref(),
        Some("Provision already exists")
    );
    assert_eq!(
        rest::error_message(r#"{"error":"Publisher limit reached."}"#).as_deref(),
        Some("Publisher limit reached.")
    );
    assert_eq!(
        rest::error_message("plain text").as_deref(),
        Some("plain text")
    );
    assert_eq!(rest::error_message("  "), None);
}

#[test]
fn backend_messages_7_4() {
    let exact_s = |t: &str| {
        let m = backend::ServerMessage::parse(t).unwrap();
        assert_eq!(m.to_json(), t);
        m
    };
    exact_s(r#"{"type":"mixerRegions","regions":["us-east-1","nyc3"]}"#);
    exact_s(
        r#"{"type":"active","room":"live/room1_wr","screenshareName":"bob_screenshare","streams":["alice","bob"]}"#,
    );
    exact_s(r#"{"type":"active","room":"live/room1"}"#);
    exact_s(r#"{"type":"excluded","room":"live/room1","streams":["eve"]}"#);
    let m = exact_s(
        r#"{"type":"conference","presenter":"alice","room":"live/room1","streams":["alice","bob"]}"#,
    );
    assert!(matches!(
        m,
        backend::ServerMessage::Conference {
            presenter: Some(_),
            ..
        }
    ));
    exact_s(r#"{"type":"activeStreams","list":[{"room":"live/room1","streams":[]}]}"#);
    exact_s(r#"{"type":"error","error":"no such event"}"#);
    let m = backend::ServerMessage::parse(r#"{"type":"activeCompositions","room":"live/room1","list":[{"event":"room1","transcodeComposition":false,"digest":"d","location":["nyc3"],"mixers":[{"mixerName":"m","mixingPage":"p","streamName":"room1","path":"live/room1","destinationMixerName":"","doForward":true,"state":"composing","isWebSocketConnected":false}]}]}"#).unwrap();
    let backend::ServerMessage::ActiveCompositions { list, .. } = m else {
        panic!()
    };
    assert!(list[0].is_composing());
    assert_eq!(
        backend::ServerMessage::parse(r#"{"type":"somethingNew","x":1}"#).unwrap(),
        backend::ServerMessage::Unknown
    );

    let exact_c = |t: &str| {
        let m = backend::ClientMessage::parse(t).unwrap();
        assert_eq!(m.to_json(), t);
    };
    for ty in [
        "promote",
        "demote",
        "presenter",
        "exclude",
        "post",
        "delete",
    ] {
        exact_c(&format!(
            r#"{{"type":"{ty}","room":"live/room1","streamName":"s1"}}"#
        ));
    }
    exact_c(r#"{"type":"order","room":"live/room1","order":3,"streamName":"s1"}"#);
    exact_c(
        r#"{"type":"createComposition","event":"room1","digest":"tok","transcodeComposition":false,"mixers":[{"mixerName":"m1","mixingPage":"p","streamName":"room1","path":"live/room1","destinationMixerName":"","width":1280,"height":720,"framerate":30,"bitrate":1500,"doForward":true}],"location":["nyc3"]}"#,
    );
    exact_c(r#"{"type":"getActiveCompositions"}"#);
    exact_c(r#"{"type":"destroyComposition","event":"room1"}"#);
    exact_c(r#"{"type":"getActiveStreams"}"#);
    let cp = ConnectParams {
        room: "live/room1".into(),
        host: true,
        mixer: None,
        presenter: false,
    };
    assert_eq!(
        backend::connect_url("localhost:8001", &cp),
        "ws://localhost:8001/?testbed=conference&room=live/room1&host=true"
    );
    let cp2 = ConnectParams {
        room: "live/room1".into(),
        host: false,
        mixer: Some(true),
        presenter: true,
    };
    assert_eq!(
        backend::connect_url("backend.example.com", &cp2),
        "wss://backend.example.com/?testbed=conference&room=live/room1&host=false&mixer=true&presenter=1"
    );
}

#[test]
fn error_texts_and_classes() {
    use red5_signal::flow::http::http_error;
    let e = http_error(
        Kind::Whip,
        Request::Post,
        409,
        r#"{"error":"Stream is not available to publish"}"#,
    );
    assert!(e.is_invalid_name());
    assert_eq!(
        e.to_string(),
        "Session already initialized. (Stream is not available to publish)"
    );
    let e = http_error(Kind::Whep, Request::Options, 401, "");
    assert!(e.is_unauthorized() && !e.is_retryable());
    assert_eq!(
        e.to_string(),
        "the WHIP/WHEP discovery request (OPTIONS) failed: Not authorized. (HTTP 401)"
    );
    let e = http_error(Kind::Whip, Request::Post, 503, "busy");
    assert!(e.is_retryable());
    assert_eq!(
        e.to_string(),
        "publishing (WHIP offer) failed: The Stream Manager has no capacity for this stream (publisher/subscriber limit). (HTTP 503): busy"
    );
    let e = red5_signal::Error::AlreadyStarting {
        stream: "s1".into(),
    };
    assert!(e.is_retryable());
}
