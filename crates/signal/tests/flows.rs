//! Sans-I/O flows, no sockets: every step and error path of §3, §4, §7.4, §7.6.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

use red5_signal::dc::{self, StatusEvent};
use red5_signal::flow::backend::{BackendClient, BackendEvent, BackendOutput};
use red5_signal::flow::http::{
    HttpConfig, HttpEvent, HttpOutput, HttpRequest, HttpResponse, HttpSession,
};
use red5_signal::flow::ws::{MessageTransport, WsConfig, WsEvent, WsOutput, WsRole, WsSession};
use red5_signal::flow::Timer;
use red5_signal::whip::{Kind, Request};
use red5_signal::ws::{IceCandidate, ServerMessage};
use red5_signal::Error;
use url::Url;

fn drain(s: &mut WsSession) -> Vec<WsOutput> {
    std::iter::from_fn(|| s.poll_output()).collect()
}

fn sent(outs: &[WsOutput]) -> Vec<String> {
    outs.iter()
        .filter_map(|o| match o {
            WsOutput::SendWs(m) => Some(m.to_json()),
            _ => None,
        })
        .collect()
}

fn events(outs: &[WsOutput]) -> Vec<WsEvent> {
    outs.iter()
        .filter_map(|o| match o {
            WsOutput::Event(e) => Some(e.clone()),
            _ => None,
        })
        .collect()
}

fn feed(s: &mut WsSession, m: ServerMessage) -> Vec<WsOutput> {
    s.handle_ws_text(&m.to_json());
    drain(s)
}

fn cand(n: u32) -> IceCandidate {
    IceCandidate::new(
        format!("candidate:{n} 1 udp 2122194687 192.0.2.2 4{n} typ host"),
        Some("0".into()),
        Some(0),
    )
}

fn failed(outs: &[WsOutput]) -> Option<String> {
    events(outs).into_iter().find_map(|e| match e {
        WsEvent::Failed(i) => Some(i.message),
        _ => None,
    })
}

/// Runs a publisher up to `Started` and returns it.
fn live_publisher() -> WsSession {
    let mut s = WsSession::new(WsConfig::new(WsRole::Publisher, "stream1"));
    s.start();
    let o = drain(&mut s);
    assert!(o.contains(&WsOutput::ArmTimer(
        Timer::Open,
        std::time::Duration::from_secs(5)
    )));
    let o = feed(&mut s, ServerMessage::connect_success());
    assert!(o.contains(&WsOutput::CancelTimer(Timer::Open)));
    assert_eq!(sent(&o), [r#"{"isAvailable":"stream1","bundle":true}"#]);
    let o = feed(&mut s, ServerMessage::IsAvailable(false));
    assert_eq!(events(&o), [WsEvent::NeedOffer]);
    s.set_local_offer("v=0\r\n").unwrap();
    let o = drain(&mut s);
    assert_eq!(
        sent(&o),
        [
            r#"{"handleOffer":"stream1","transport":"udp","data":{"sdp":{"type":"offer","sdp":"v=0\r\n"}}}"#
        ]
    );
    s.add_local_candidate(cand(1));
    let o = feed(&mut s, ServerMessage::answer("v=0 answer", None));
    assert_eq!(sent(&o).len(), 1, "candidate sent before the answer");
    assert_eq!(
        events(&o),
        [WsEvent::RemoteAnswer {
            sdp: "v=0 answer".into(),
            participant_id: None
        }]
    );
    s.local_gathering_complete();
    let o = drain(&mut s);
    assert_eq!(
        sent(&o),
        [
            r#"{"handleCandidate":"stream1","data":{"candidate":{"type":"candidate","candidate":""}}}"#
        ]
    );
    let o = feed(&mut s, ServerMessage::candidate(cand(9), true));
    assert!(matches!(events(&o)[..], [WsEvent::RemoteCandidate(_)]));
    let o = feed(&mut s, ServerMessage::EndOfCandidates { typed: true });
    assert_eq!(events(&o), [WsEvent::RemoteEndOfCandidates]);
    let o = feed(&mut s, ServerMessage::trickle_completed(false));
    assert_eq!(
        sent(&o),
        [r#"{"publish":"stream1","mode":"live","keyFramerate":3000}"#]
    );
    let o = feed(&mut s, ServerMessage::starting("stream1", None));
    assert_eq!(events(&o), [WsEvent::Started]);
    assert!(s.is_live());
    s
}

#[test]
fn ws_publisher_full_sequence_with_switch_and_unpublish() {
    let mut s = live_publisher();
    // DataChannel.Available after the start status → switch after the delay.
    let o = feed(&mut s, ServerMessage::data_channel_available("red5pro"));
    assert!(o.contains(&WsOutput::ArmTimer(
        Timer::Switch,
        std::time::Duration::from_millis(1000)
    )));
    assert!(sent(&o).is_empty());
    s.on_timer(Timer::Switch);
    let o = drain(&mut s);
    assert_eq!(sent(&o), [r#"{"switchChannel":"red5pro"}"#]);
    assert!(o.contains(&WsOutput::CloseWs));
    assert!(events(&o).contains(&WsEvent::TransportSwitched {
        label: "red5pro".into()
    }));
    assert_eq!(s.transport(), MessageTransport::DataChannel);
    // server closing the WS after the switch is not a failure
    s.handle_ws_closed(Some("bye".into()));
    assert!(drain(&mut s).is_empty());
    // app messages now go on the data channel
    s.send_message(dc::ClientMessage::metadata_text("hi"));
    assert_eq!(
        drain(&mut s),
        [WsOutput::SendDc(dc::ClientMessage::metadata_text("hi"))]
    );
    // metadata and BW statuses arrive on the DC
    s.handle_dc_text(r#"{"data":{"type":"status","code":"NetConnection.Publish.InsufficientBW"}}"#);
    assert_eq!(
        events(&drain(&mut s)),
        [WsEvent::Status(StatusEvent::InsufficientBandwidth)]
    );
    // garbage while live is a warning, not a failure
    s.handle_dc_text("}{");
    assert!(matches!(events(&drain(&mut s))[..], [WsEvent::Warning(_)]));
    // unpublish on the DC, "stopping" resolves
    s.stop();
    let o = drain(&mut s);
    assert!(o.contains(&WsOutput::SendDc(dc::ClientMessage::Unpublish {
        stream: "stream1".into()
    })));
    s.handle_dc_text(&ServerMessage::stopping("stream1", None).to_json());
    assert_eq!(events(&drain(&mut s)), [WsEvent::Stopped]);
}

#[test]
fn ws_switch_accepts_available_before_start() {
    let mut s = WsSession::new(WsConfig::new(WsRole::Publisher, "s"));
    s.start();
    feed(&mut s, ServerMessage::connect_success());
    feed(&mut s, ServerMessage::IsAvailable(false));
    s.set_local_offer("v=0").unwrap();
    feed(&mut s, ServerMessage::answer("a", None));
    s.add_local_candidate(cand(1));
    feed(&mut s, ServerMessage::trickle_completed(true));
    // Available first: held, no switch yet
    let o = feed(&mut s, ServerMessage::data_channel_available("red5pro"));
    assert!(!o
        .iter()
        .any(|x| matches!(x, WsOutput::ArmTimer(Timer::Switch, _))));
    s.on_timer(Timer::Switch); // stray timer does nothing
    assert!(sent(&drain(&mut s)).is_empty());
    // start status → now the switch is armed
    let o = feed(
        &mut s,
        ServerMessage::starting("s", Some(dc::code::PUBLISH_START)),
    );
    assert!(events(&o).contains(&WsEvent::Started));
    assert!(o
        .iter()
        .any(|x| matches!(x, WsOutput::ArmTimer(Timer::Switch, _))));
    // before the switch fires, messages still use the WS
    s.send_message(dc::ClientMessage::metadata_text("x"));
    assert_eq!(
        sent(&drain(&mut s)),
        [r#"{"send":{"method":"onMetaData","data":{"metadata":"x"}}}"#]
    );
    s.on_timer(Timer::Switch);
    assert_eq!(sent(&drain(&mut s)), [r#"{"switchChannel":"red5pro"}"#]);
}

#[test]
fn ws_subscriber_sequence() {
    let mut s = WsSession::new(WsConfig::new(
        WsRole::Subscriber {
            request_id: "subscriber-probe2".into(),
        },
        "stream1",
    ));
    s.start();
    drain(&mut s);
    // a message queued before connect is flushed after Connect.Success
    s.send_message(dc::ClientMessage::Mute(dc::Mute {
        mute_audio: Some(true),
        mute_video: None,
    }));
    let o = feed(&mut s, ServerMessage::connect_success());
    assert_eq!(
        sent(&o),
        [
            r#"{"mute":{"muteAudio":true}}"#,
            r#"{"isAvailable":"stream1"}"#
        ]
    );
    let o = feed(&mut s, ServerMessage::IsAvailable(true));
    assert_eq!(
        sent(&o),
        [
            r#"{"requestOffer":"stream1","requestId":"subscriber-probe2","transport":"udp","datachannel":true,"doNotSwitch":false}"#
        ]
    );
    // a candidate racing ahead of the offer is held until the offer is delivered
    let o = feed(&mut s, ServerMessage::candidate(cand(3), false));
    assert!(events(&o).is_empty());
    let o = feed(&mut s, ServerMessage::offer("v=0 offer"));
    assert_eq!(events(&o).len(), 2);
    assert_eq!(
        events(&o)[0],
        WsEvent::RemoteOffer {
            sdp: "v=0 offer".into()
        }
    );
    s.set_local_answer("v=0 answer").unwrap();
    s.add_local_candidate(cand(1));
    s.local_gathering_complete();
    let o = drain(&mut s);
    assert_eq!(
        sent(&o),
        [
            r#"{"handleAnswer":"stream1","requestId":"subscriber-probe2","data":{"sdp":{"type":"answer","sdp":"v=0 answer"}}}"#,
            r#"{"handleCandidate":"stream1","requestId":"subscriber-probe2","data":{"candidate":{"candidate":"candidate:1 1 udp 2122194687 192.0.2.2 41 typ host","sdpMid":"0","sdpMLineIndex":0}}}"#,
            r#"{"handleCandidate":"stream1","data":{"candidate":{"type":"candidate","candidate":""}}}"#,
        ]
    );
    let o = feed(&mut s, ServerMessage::trickle_completed(false));
    assert_eq!(
        sent(&o),
        [r#"{"subscribe":"stream1","requestId":"subscriber-probe2"}"#]
    );
    // "starting" for another name does not start us
    let o = feed(&mut s, ServerMessage::starting("other", None));
    assert_eq!(
        events(&o),
        [WsEvent::Status(StatusEvent::Starting {
            name: "other".into()
        })]
    );
    let o = feed(
        &mut s,
        ServerMessage::starting("stream1", Some(dc::code::PLAY_START)),
    );
    assert_eq!(events(&o), [WsEvent::Started]);
    // metadata relay form A over the WS, then unpublish notify
    s.handle_ws_text(r#"{"type":"metadata","method":"onMetaData","data":{"metadata":"m"}}"#);
    assert!(matches!(&events(&drain(&mut s))[..], [WsEvent::Invoke(i)] if i.is_metadata()));
    let o = feed(&mut s, ServerMessage::unpublish_notify());
    assert_eq!(events(&o), [WsEvent::PublisherUnpublished]);
    // subscriber stop sends nothing and closes
    s.stop();
    let o = drain(&mut s);
    assert!(
        sent(&o).is_empty() && o.contains(&WsOutput::CloseWs) && events(&o) == [WsEvent::Stopped]
    );
}

#[test]
fn ws_conference_participant() {
    let mut s = WsSession::new(WsConfig::new(
        WsRole::Participant {
            group: "room1".into(),
        },
        "participant1",
    ));
    s.start();
    feed(&mut s, ServerMessage::connect_success());
    feed(&mut s, ServerMessage::IsAvailable(false));
    s.set_local_offer("v=0").unwrap();
    assert_eq!(
        sent(&drain(&mut s)),
        [
            r#"{"joinGroup":"room1","streamName":"participant1","transport":"udp","data":{"sdp":{"type":"offer","sdp":"v=0"}}}"#
        ]
    );
    let o = feed(&mut s, ServerMessage::answer("ans", Some("3fa9c".into())));
    assert_eq!(
        events(&o),
        [WsEvent::RemoteAnswer {
            sdp: "ans".into(),
            participant_id: Some("3fa9c".into())
        }]
    );
    assert_eq!(s.signalling_name(), "3fa9c");
    s.add_local_candidate(cand(1));
    assert!(sent(&drain(&mut s))[0].starts_with(r#"{"handleCandidate":"3fa9c""#));
    // TrickleCompleted: no publish message, started at once
    let o = feed(&mut s, ServerMessage::trickle_completed(false));
    assert!(sent(&o).is_empty());
    assert!(events(&o).contains(&WsEvent::Started));
    let o = feed(
        &mut s,
        ServerMessage::participant_starting("3fa9c", "room1"),
    );
    assert_eq!(
        events(&o),
        [WsEvent::ParticipantJoined {
            participant_id: "3fa9c".into(),
            group: "room1".into()
        }]
    );
    s.stop();
    assert_eq!(
        sent(&drain(&mut s)),
        [r#"{"leaveGroup":"room1","streamName":"participant1"}"#]
    );
    let o = feed(&mut s, ServerMessage::leaving_group("room1"));
    assert!(events(&o).contains(&WsEvent::Stopped));
}

#[test]
fn ws_error_paths_are_typed_and_readable() {
    let new = || {
        let mut s = WsSession::new(WsConfig::new(WsRole::Publisher, "stream1"));
        s.start();
        drain(&mut s);
        s
    };
    // connection rejected
    let mut s = new();
    let o = feed(&mut s, ServerMessage::connect_rejected());
    assert!(failed(&o).unwrap().contains("rejected the connection"));
    assert!(matches!(s.error(), Some(Error::ConnectionRejected { .. })));
    assert!(o.contains(&WsOutput::CloseWs));
    // open timeout
    let mut s = new();
    s.on_timer(Timer::Open);
    assert!(failed(&drain(&mut s))
        .unwrap()
        .contains("WebSocket proxy enabled"));
    assert!(matches!(s.error(), Some(Error::OpenTimeout(_))));
    // connect error on upgrade
    let mut s = new();
    s.handle_connect_error("wss://sm/streammanager/", "HTTP error: 404 Not Found");
    assert!(failed(&drain(&mut s)).unwrap().contains("proxy enabled"));
    // name taken
    let mut s = new();
    feed(&mut s, ServerMessage::connect_success());
    let o = feed(&mut s, ServerMessage::IsAvailable(true));
    assert!(failed(&o)
        .unwrap()
        .contains("already has a broadcast session"));
    assert!(matches!(s.error(), Some(Error::InvalidName(_))));
    // malformed JSON / binary before live
    let mut s = new();
    s.handle_ws_text("{not json");
    assert!(failed(&drain(&mut s)).unwrap().contains("not valid JSON"));
    let mut s = new();
    s.handle_ws_text("hello there");
    assert!(matches!(s.error(), Some(Error::MalformedJson { .. })));
    let mut s = new();
    s.handle_ws_binary();
    assert!(matches!(s.error(), Some(Error::BinaryFrame)));
    // unexpected message: an answer before isAvailable
    let mut s = new();
    feed(&mut s, ServerMessage::connect_success());
    let o = feed(&mut s, ServerMessage::answer("x", None));
    let m = failed(&o).unwrap();
    assert!(
        m.contains("unexpected message") && m.contains("checking the stream name"),
        "{m}"
    );
    // server closing mid-flow
    let mut s = new();
    feed(&mut s, ServerMessage::connect_success());
    feed(&mut s, ServerMessage::IsAvailable(false));
    s.handle_ws_closed(None);
    assert!(failed(&drain(&mut s))
        .unwrap()
        .contains("closed the connection while creating the offer"));
    // closed before Connect.Success
    let mut s = new();
    s.handle_ws_closed(Some("1006".into()));
    assert!(matches!(s.error(), Some(Error::ConnectionRejected { .. })));
    // ICE gathering timeout with nothing gathered
    let mut s = new();
    feed(&mut s, ServerMessage::connect_success());
    feed(&mut s, ServerMessage::IsAvailable(false));
    s.set_local_offer("v=0").unwrap();
    s.on_timer(Timer::Gathering);
    assert!(failed(&drain(&mut s))
        .unwrap()
        .contains("ICE candidate gathering"));
    // ...but with some candidates it goes on and sends the end marker
    let mut s = new();
    feed(&mut s, ServerMessage::connect_success());
    feed(&mut s, ServerMessage::IsAvailable(false));
    s.set_local_offer("v=0").unwrap();
    s.add_local_candidate(cand(1));
    drain(&mut s);
    s.on_timer(Timer::Gathering);
    assert!(sent(&drain(&mut s))[0].contains(r#""candidate":"""#));
    // server error before start
    let mut s = new();
    feed(&mut s, ServerMessage::connect_success());
    let o = feed(&mut s, ServerMessage::error("Stream not found", None));
    assert!(failed(&o).unwrap().contains("Stream not found"));
    // already starting, start timeout
    let mut s = live_setup_until_publish();
    let o = feed(
        &mut s,
        ServerMessage::status(dc::Status {
            kind: Some("status".into()),
            message: Some("stream1 already starting".into()),
            ..Default::default()
        }),
    );
    assert!(failed(&o).unwrap().contains("already starting"));
    let mut s = live_setup_until_publish();
    s.on_timer(Timer::Start);
    assert!(failed(&drain(&mut s)).unwrap().contains("timed out"));
    // wrong-state calls are errors, not panics
    let mut s = new();
    assert!(matches!(
        s.set_local_answer("x"),
        Err(Error::InvalidState { .. })
    ));
}

fn live_setup_until_publish() -> WsSession {
    let mut s = WsSession::new(WsConfig::new(WsRole::Publisher, "stream1"));
    s.start();
    feed(&mut s, ServerMessage::connect_success());
    feed(&mut s, ServerMessage::IsAvailable(false));
    s.set_local_offer("v=0").unwrap();
    feed(&mut s, ServerMessage::answer("a", None));
    s.add_local_candidate(cand(1));
    feed(&mut s, ServerMessage::trickle_completed(false));
    s
}

#[test]
fn ws_subscriber_name_not_live() {
    let mut s = WsSession::new(WsConfig::new(
        WsRole::Subscriber {
            request_id: "r".into(),
        },
        "nope",
    ));
    s.start();
    feed(&mut s, ServerMessage::connect_success());
    let o = feed(&mut s, ServerMessage::IsAvailable(false));
    assert!(failed(&o).unwrap().contains("\"nope\" is not available"));
}

// ================================================================================================
// WHIP / WHEP
// ================================================================================================

fn hdrain(s: &mut HttpSession) -> Vec<HttpOutput> {
    std::iter::from_fn(|| s.poll_output()).collect()
}

fn req(outs: &[HttpOutput]) -> HttpRequest {
    outs.iter()
        .find_map(|o| match o {
            HttpOutput::Request(r) => Some(r.clone()),
            _ => None,
        })
        .expect("a request")
}

fn hevents(outs: &[HttpOutput]) -> Vec<HttpEvent> {
    outs.iter()
        .filter_map(|o| match o {
            HttpOutput::Event(e) => Some(e.clone()),
            _ => None,
        })
        .collect()
}

fn resp(status: u16, headers: &[(&str, &str)], body: &str) -> HttpResponse {
    HttpResponse {
        status,
        headers: headers
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect(),
        body: body.into(),
    }
}

const OFFER: &str = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=ice-ufrag:abcd\r\na=ice-pwd:pwpwpwpwpwpwpwpwpwpwpwpw\r\na=mid:0\r\n";

fn whip_cfg() -> HttpConfig {
    let mut c = HttpConfig::new(
        Kind::Whip,
        Url::parse("https://sm.example/as/v1/proxy/whip/live/stream1").unwrap(),
    );
    c.params = vec![
        ("nodeGroup".into(), "default".into()),
        ("transcode".into(), "true".into()),
    ];
    c
}

#[test]
fn whip_publish_sequence() {
    let mut s = HttpSession::new(whip_cfg());
    s.start();
    let r = req(&hdrain(&mut s));
    assert_eq!((r.method, r.request), ("OPTIONS", Request::Options));
    assert_eq!(r.url, "https://sm.example/as/v1/proxy/whip/live/stream1?signal=true&nodeGroup=default&transcode=true");
    s.handle_response(
        r.id,
        resp(
            204,
            &[
                ("session-host", "10.0.0.5"),
                ("Link", "<stun:127.0.0.1:3478>; rel=\"ice-server\""),
            ],
            "",
        ),
    );
    let o = hdrain(&mut s);
    let ev = hevents(&o);
    assert!(
        matches!(&ev[0], HttpEvent::Discovered(d) if d.session_host.as_deref() == Some("10.0.0.5") && d.ice_servers.len() == 1)
    );
    assert_eq!(ev[1], HttpEvent::NeedOffer);
    s.set_local_offer(OFFER).unwrap();
    let r = req(&hdrain(&mut s));
    assert_eq!(r.method, "POST");
    assert_eq!(r.content_type, Some("application/sdp"));
    assert_eq!(
        r.url,
        "https://sm.example/as/v1/proxy/whip/live/stream1?signal=true&nodeGroup=default&mode=live&transport=udp&keyFramerate=3000&host=10.0.0.5"
    );
    // candidates gathered while the POST is in flight
    s.add_local_candidate(&IceCandidate::new(
        "candidate:1 1 udp 2122194687 192.0.2.2 5000 typ host",
        None,
        None,
    ));
    s.handle_response(
        r.id,
        resp(
            201,
            &[("Location", "/as/v1/proxy/whip/live/stream1")],
            "v=0 answer",
        ),
    );
    let o = hdrain(&mut s);
    assert!(hevents(&o).contains(&HttpEvent::RemoteAnswer {
        sdp: "v=0 answer".into()
    }));
    assert!(o.contains(&HttpOutput::ArmTimer(
        Timer::Gathering,
        std::time::Duration::from_secs(5)
    )));
    s.local_gathering_complete(None);
    let r = req(&hdrain(&mut s));
    assert_eq!(
        (r.method, r.content_type),
        ("PATCH", Some("application/trickle-ice-sdpfrag"))
    );
    assert_eq!(
        r.url,
        "https://sm.example/as/v1/proxy/whip/live/stream1?nodeGroup=default&host=10.0.0.5"
    );
    assert_eq!(
        r.body,
        "a=ice-ufrag:abcd\r\na=ice-pwd:pwpwpwpwpwpwpwpwpwpwpwpw\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\na=candidate:1 1 udp 2122194687 192.0.2.2 5000 typ host\r\na=end-of-candidates"
    );
    s.handle_response(r.id, resp(200, &[], ""));
    assert_eq!(hevents(&hdrain(&mut s)), [HttpEvent::TrickleComplete]);
    // a message before the DC opens is queued
    s.send_message(dc::ClientMessage::metadata_text("early"))
        .unwrap();
    assert!(hdrain(&mut s).is_empty());
    s.data_channel_open();
    let o = hdrain(&mut s);
    assert_eq!(
        o[0],
        HttpOutput::SendDc(dc::ClientMessage::metadata_text("early"))
    );
    assert_eq!(hevents(&o), [HttpEvent::Started]);
    s.stop();
    let r = req(&hdrain(&mut s));
    assert_eq!(
        (r.method, r.url.as_str()),
        (
            "DELETE",
            "https://sm.example/as/v1/proxy/whip/live/stream1?nodeGroup=default&host=10.0.0.5"
        )
    );
    s.handle_response(r.id, resp(500, &[], "whatever"));
    assert_eq!(hevents(&hdrain(&mut s)), [HttpEvent::Stopped]);
}

#[test]
fn whep_subscribe_sequence_server_offer() {
    let ep = Url::parse("http://127.0.0.1:5080/live/whep/endpoint/stream1?requestId=subscriber-1")
        .unwrap();
    let mut s = HttpSession::new(HttpConfig::new(Kind::Whep, ep));
    s.start();
    let r = req(&hdrain(&mut s));
    assert_eq!(
        r.url,
        "http://127.0.0.1:5080/live/whep/endpoint/stream1?requestId=subscriber-1&signal=true"
    );
    s.handle_response(r.id, resp(200, &[], ""));
    assert!(hevents(&hdrain(&mut s)).contains(&HttpEvent::NeedOffer));
    s.set_local_offer("v=0 informational").unwrap();
    let r = req(&hdrain(&mut s));
    assert_eq!(r.url, "http://127.0.0.1:5080/live/whep/endpoint/stream1?requestId=subscriber-1&signal=true&transport=udp&doNotSwitch=false");
    s.handle_response(
        r.id,
        resp(
            201,
            &[("location", "/live/whep/endpoint/stream1")],
            "v=0 server offer",
        ),
    );
    assert_eq!(
        hevents(&hdrain(&mut s)),
        [HttpEvent::RemoteOffer {
            sdp: "v=0 server offer".into()
        }]
    );
    s.set_local_answer(OFFER).unwrap();
    let r = req(&hdrain(&mut s));
    assert_eq!(
        (r.method, r.content_type),
        ("PATCH", Some("application/sdp"))
    );
    assert_eq!(
        r.url,
        "http://127.0.0.1:5080/live/whep/resource/stream1?requestId=subscriber-1"
    );
    s.handle_response(r.id, resp(204, &[], ""));
    hdrain(&mut s);
    s.add_local_candidate(&IceCandidate::new(
        "candidate:2 1 udp 1 192.0.2.2 6000 typ host",
        None,
        None,
    ));
    s.local_gathering_complete(None);
    let r = req(&hdrain(&mut s));
    assert_eq!(r.request, Request::PatchTrickle);
    // the server may answer the trickle PATCH with its own candidates
    s.handle_response(
        r.id,
        resp(
            204,
            &[],
            "a=candidate:9 1 udp 1 127.0.0.1 7000 typ host\r\na=end-of-candidates",
        ),
    );
    let ev = hevents(&hdrain(&mut s));
    assert!(matches!(&ev[0], HttpEvent::RemoteCandidates(c) if c.len() == 1));
    s.data_channel_open();
    assert_eq!(hevents(&hdrain(&mut s)), [HttpEvent::Started]);
    s.handle_dc_text(r#"{"send":{"method":"onMetaData","data":{"orientation":90}},"senderName":"stream1","dcLabel":"red5pro"}"#);
    assert!(
        matches!(&hevents(&hdrain(&mut s))[..], [HttpEvent::Invoke(i)] if i.sender_name.as_deref() == Some("stream1"))
    );
    s.handle_dc_text(r#"{"data":{"status":"NetStream.Play.UnpublishNotify"}}"#);
    assert_eq!(hevents(&hdrain(&mut s)), [HttpEvent::PublisherUnpublished]);
}

fn whip_until_post() -> (HttpSession, HttpRequest) {
    let mut s = HttpSession::new(whip_cfg());
    s.start();
    let r = req(&hdrain(&mut s));
    s.handle_response(r.id, resp(204, &[], ""));
    hdrain(&mut s);
    s.set_local_offer(OFFER).unwrap();
    let r = req(&hdrain(&mut s));
    (s, r)
}

fn hfailed(outs: &[HttpOutput]) -> String {
    hevents(outs)
        .into_iter()
        .find_map(|e| match e {
            HttpEvent::Failed(i) => Some(i.message),
            _ => None,
        })
        .expect("failed")
}

#[test]
fn whip_whep_error_statuses() {
    let (mut s, r) = whip_until_post();
    s.handle_response(r.id, resp(401, &[], r#"{"error":"bad token"}"#));
    let m = hfailed(&hdrain(&mut s));
    assert!(
        m.contains("Not authorized.") && m.contains("401") && m.contains("bad token"),
        "{m}"
    );
    let (mut s, r) = whip_until_post();
    s.handle_response(r.id, resp(404, &[], ""));
    assert!(
        matches!(s.error(), Some(Error::InvalidName(m)) if m.contains("Scope resolver failed"))
    );
    let (mut s, r) = whip_until_post();
    s.handle_response(r.id, resp(409, &[], "Stream is not available to publish"));
    let m = hfailed(&hdrain(&mut s));
    assert!(
        m.contains("Session already initialized.")
            && m.contains("Stream is not available to publish"),
        "{m}"
    );
    // OPTIONS failure
    let mut s = HttpSession::new(whip_cfg());
    s.start();
    let r = req(&hdrain(&mut s));
    s.handle_response(r.id, resp(503, &[], ""));
    assert!(hfailed(&hdrain(&mut s)).contains("OPTIONS"));
    // transport error
    let (mut s, r) = whip_until_post();
    s.handle_transport_error(r.id, "connection refused");
    assert!(hfailed(&hdrain(&mut s)).contains("connection refused"));
    // 2xx without SDP
    let (mut s, r) = whip_until_post();
    s.handle_response(r.id, resp(201, &[], ""));
    assert!(hfailed(&hdrain(&mut s)).contains("no SDP"));
    // gathering timeout with no candidates: failure + DELETE of the created resource
    let (mut s, r) = whip_until_post();
    s.handle_response(r.id, resp(201, &[], "v=0"));
    hdrain(&mut s);
    s.on_timer(Timer::Gathering);
    let o = hdrain(&mut s);
    assert!(hfailed(&o).contains("ICE candidate gathering"));
    assert_eq!(req(&o).method, "DELETE");
    // WHEP 409
    let ep = Url::parse("https://sm/as/v1/proxy/whep/live/x?requestId=r").unwrap();
    let mut c = HttpConfig::new(Kind::Whep, ep);
    c.post_empty_offer = true;
    let mut s = HttpSession::new(c);
    s.start();
    let r = req(&hdrain(&mut s));
    s.handle_response(r.id, resp(204, &[], ""));
    let r = req(&hdrain(&mut s));
    assert_eq!((r.method, r.body.as_str()), ("POST", ""));
    s.handle_response(r.id, resp(409, &[], ""));
    assert!(
        matches!(s.error(), Some(Error::InvalidName(m)) if m.contains("not available to playback"))
    );
    // stale response ids are ignored
    let (mut s, r) = whip_until_post();
    s.handle_response(r.id + 100, resp(500, &[], ""));
    assert!(hdrain(&mut s).is_empty());
}

// ================================================================================================
// Backend
// ================================================================================================

#[test]
fn backend_reconnects_after_abnormal_close_only() {
    let mut b = BackendClient::new();
    b.start();
    assert_eq!(b.poll_output(), Some(BackendOutput::Connect));
    b.send(red5_signal::backend::ClientMessage::GetActiveCompositions);
    assert_eq!(b.poll_output(), None, "queued until open");
    b.handle_open();
    assert_eq!(
        b.poll_output(),
        Some(BackendOutput::Event(BackendEvent::Connected))
    );
    assert_eq!(
        b.poll_output(),
        Some(BackendOutput::Send(
            red5_signal::backend::ClientMessage::GetActiveCompositions
        ))
    );
    b.handle_text(r#"{"type":"mixerRegions","regions":["nyc3"]}"#);
    assert!(matches!(
        b.poll_output(),
        Some(BackendOutput::Event(BackendEvent::Message(_)))
    ));
    b.handle_text("oops");
    assert!(matches!(
        b.poll_output(),
        Some(BackendOutput::Event(BackendEvent::Warning(_)))
    ));
    b.handle_closed(Some(1006));
    assert_eq!(
        b.poll_output(),
        Some(BackendOutput::ArmTimer(
            Timer::Reconnect,
            std::time::Duration::from_millis(2000)
        ))
    );
    assert_eq!(
        b.poll_output(),
        Some(BackendOutput::Event(BackendEvent::Disconnected {
            reconnecting: true,
            reason: Some("the server closed the socket (close code 1006)".into())
        }))
    );
    b.on_timer(Timer::Reconnect);
    assert_eq!(b.poll_output(), Some(BackendOutput::Connect));
    b.handle_open();
    while b.poll_output().is_some() {}
    b.handle_closed(Some(1000));
    assert_eq!(
        b.poll_output(),
        Some(BackendOutput::Event(BackendEvent::Disconnected {
            reconnecting: false,
            reason: Some("the server closed the socket (close code 1000)".into())
        }))
    );
    b.stop();
    b.on_timer(Timer::Reconnect);
    let rest: Vec<_> = std::iter::from_fn(|| b.poll_output()).collect();
    assert!(!rest.contains(&BackendOutput::Connect));
    assert!(rest.contains(&BackendOutput::Event(BackendEvent::Stopped)));
}

#[test]
fn whip_without_trickle_posts_the_full_offer_and_never_patches() {
    let mut c = whip_cfg();
    c.trickle = false;
    c.post.signal = false;
    let mut s = HttpSession::new(c);
    s.start();
    let r = req(&hdrain(&mut s));
    s.handle_response(r.id, resp(204, &[], ""));
    hdrain(&mut s);
    s.set_local_offer(OFFER).unwrap();
    let r = req(&hdrain(&mut s));
    s.handle_response(r.id, resp(201, &[], "v=0 answer"));
    let o = hdrain(&mut s);
    assert!(!o.iter().any(|x| matches!(x, HttpOutput::Request(_))));
    assert_eq!(
        hevents(&o),
        [
            HttpEvent::RemoteAnswer {
                sdp: "v=0 answer".into()
            },
            HttpEvent::TrickleComplete,
            HttpEvent::Started
        ]
    );
    // no data channel: messages are refused with a readable error
    let e = s
        .send_message(dc::ClientMessage::metadata_text("x"))
        .unwrap_err();
    assert!(e.to_string().contains("without a data channel"), "{e}");
}
