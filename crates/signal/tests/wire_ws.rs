//! §4 / §7.6 f fixtures: every legacy WebSocket message, both directions.
//! "exact" fixtures must parse AND regenerate byte for byte; "lenient" ones must parse to the
//! given meaning.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

use red5_signal::dc::{self, StatusEvent};
use red5_signal::ws::{self, ClientMessage, IceCandidate, ServerMessage};

fn exact_client(json: &str) -> ClientMessage {
    let m = ClientMessage::parse(json).unwrap_or_else(|e| panic!("{json}: {e}"));
    assert_eq!(m.to_json(), json, "client regeneration");
    // serde both ways
    let via_serde: ClientMessage = serde_json::from_str(json).unwrap();
    assert_eq!(via_serde, m);
    assert_eq!(serde_json::to_string(&m).unwrap(), json);
    m
}

fn exact_server(json: &str) -> ServerMessage {
    let m = ServerMessage::parse(json).unwrap_or_else(|e| panic!("{json}: {e}"));
    assert_eq!(m.to_json(), json, "server regeneration");
    let via_serde: ServerMessage = serde_json::from_str(json).unwrap();
    assert_eq!(via_serde, m);
    m
}

fn event(m: &ServerMessage) -> StatusEvent {
    m.as_status().expect("a status").event()
}

const SDP: &str = "v=0\\r\\no=- 1 2 IN IP4 127.0.0.1\\r\\ns=-\\r\\nt=0 0\\r\\n";

#[test]
fn client_publisher_sequence_table_4_4() {
    // #1
    let m = exact_client(r#"{"isAvailable":"stream1","bundle":true}"#);
    assert!(
        matches!(m, ClientMessage::IsAvailable(ws::IsAvailable { ref stream, bundle: Some(true) }) if stream == "stream1")
    );
    // #4 with and without encodings
    exact_client(&format!(
        r#"{{"handleOffer":"stream1","transport":"udp","data":{{"sdp":{{"type":"offer","sdp":"{SDP}"}}}}}}"#
    ));
    let m = exact_client(&format!(
        r#"{{"handleOffer":"stream1","transport":"tcp","data":{{"sdp":{{"type":"offer","sdp":"{SDP}"}}}},"videoEncoding":"H264","audioEncoding":"OPUS"}}"#
    ));
    let ClientMessage::HandleOffer(o) = m else {
        panic!()
    };
    assert_eq!(o.transport, Some(ws::IceTransport::Tcp));
    assert_eq!(o.video_encoding.as_deref(), Some("H264"));
    // #6 candidate, #7 end marker
    let m = exact_client(
        r#"{"handleCandidate":"stream1","data":{"candidate":{"candidate":"candidate:1 1 udp 2122265344 192.0.2.2 44205 typ host","sdpMid":"0","sdpMLineIndex":0,"usernameFragment":"V2tc"}}}"#,
    );
    let ClientMessage::HandleCandidate(c) = m else {
        panic!()
    };
    assert!(!c.data.candidate.is_end());
    let m = exact_client(
        r#"{"handleCandidate":"stream1","data":{"candidate":{"type":"candidate","candidate":""}}}"#,
    );
    let ClientMessage::HandleCandidate(c) = m else {
        panic!()
    };
    assert!(c.data.candidate.is_end());
    assert_eq!(c.data.candidate, IceCandidate::client_end_marker());
    // #10
    let m = exact_client(r#"{"publish":"stream1","mode":"live","keyFramerate":3000}"#);
    assert!(matches!(
        m,
        ClientMessage::Publish(ws::Publish {
            mode: Some(ws::PublishMode::Live),
            key_framerate: Some(3000),
            ..
        })
    ));
    exact_client(r#"{"publish":"stream1","mode":"record","keyFramerate":1000}"#);
    exact_client(r#"{"publish":"stream1","mode":"append","keyFramerate":3000}"#);
    // #12, #13
    let m = exact_client(r#"{"switchChannel":"red5pro"}"#);
    assert_eq!(
        m,
        ClientMessage::Transport(dc::ClientMessage::SwitchChannel {
            label: "red5pro".into()
        })
    );
    exact_client(r#"{"unpublish":"stream1"}"#);
}

#[test]
fn client_subscriber_sequence_table_4_5() {
    let m = exact_client(r#"{"isAvailable":"stream1"}"#);
    assert!(matches!(
        m,
        ClientMessage::IsAvailable(ws::IsAvailable { bundle: None, .. })
    ));
    exact_client(
        r#"{"requestOffer":"stream1","requestId":"subscriber-probe2","transport":"udp","datachannel":true,"doNotSwitch":false}"#,
    );
    exact_client(
        r#"{"requestOffer":"stream1","requestId":"subscriber-1","transport":"udp","datachannel":true,"doNotSwitch":true,"videoEncoding":"H264","audioEncoding":"OPUS"}"#,
    );
    exact_client(&format!(
        r#"{{"handleAnswer":"stream1","requestId":"subscriber-probe2","data":{{"sdp":{{"type":"answer","sdp":"{SDP}"}}}}}}"#
    ));
    exact_client(
        r#"{"handleCandidate":"stream1","requestId":"subscriber-probe2","data":{"candidate":{"candidate":"candidate:2 1 udp 1 192.0.2.2 33818 typ host","sdpMid":"0","sdpMLineIndex":0,"usernameFragment":"gix4"}}}"#,
    );
    exact_client(r#"{"subscribe":"stream1","requestId":"subscriber-probe2"}"#);
}

#[test]
fn client_conference_participant_7_6() {
    let m = exact_client(&format!(
        r#"{{"joinGroup":"room1","streamName":"participant1","transport":"udp","data":{{"sdp":{{"type":"offer","sdp":"{SDP}"}}}}}}"#
    ));
    let ClientMessage::JoinGroup(j) = m else {
        panic!()
    };
    assert_eq!(
        (j.group.as_str(), j.stream_name.as_str()),
        ("room1", "participant1")
    );
    // SDK11 end marker without handleCandidate key.
    let m = exact_client(r#"{"data":{"candidate":{"type":"candidate","candidate":""}}}"#);
    let ClientMessage::HandleCandidate(c) = m else {
        panic!()
    };
    assert!(c.stream.is_none() && c.data.candidate.is_end());
    // leave: spec form and SDK11 form
    let m = exact_client(r#"{"leaveGroup":"room1","streamName":"participant1"}"#);
    assert_eq!(
        m,
        ClientMessage::Transport(dc::ClientMessage::LeaveGroup {
            group: "room1".into(),
            stream_name: Some("participant1".into())
        })
    );
    exact_client(r#"{"leaveGroup":"room1"}"#);
}

#[test]
fn client_parse_is_lenient() {
    // SDK11 writes sdp before type, extra fields appear, sdpMLineIndex as string.
    let m = ClientMessage::parse(
        r#"{"handleOffer":"s","transport":"udp","extra":1,"data":{"sdp":{"sdp":"v=0","type":"offer"}}}"#,
    )
    .unwrap();
    assert_eq!(
        m.to_json(),
        r#"{"handleOffer":"s","transport":"udp","data":{"sdp":{"type":"offer","sdp":"v=0"}}}"#
    );
    let m = ClientMessage::parse(r#"{"handleCandidate":"s","data":{"candidate":{"candidate":"candidate:1","sdpMLineIndex":"2"}}}"#).unwrap();
    let ClientMessage::HandleCandidate(c) = m else {
        panic!()
    };
    assert_eq!(c.data.candidate.sdp_m_line_index, Some(2));
    // pretty-printed
    assert!(ClientMessage::parse("{\n  \"unpublish\": \"stream1\"\n}").is_ok());
}

#[test]
fn client_parse_errors_are_typed() {
    assert!(matches!(
        ClientMessage::parse("not json"),
        Err(red5_signal::Error::MalformedJson { .. })
    ));
    assert!(matches!(
        ClientMessage::parse("[1]"),
        Err(red5_signal::Error::NotAnObject { found: "array" })
    ));
    assert!(matches!(
        ClientMessage::parse(r#"{"bogus":1}"#),
        Err(red5_signal::Error::UnknownMessage { .. })
    ));
    let e = ClientMessage::parse(r#"{"handleOffer":"s"}"#).unwrap_err();
    assert!(e.to_string().contains("handleOffer"), "{e}");
}

#[test]
fn server_connection_phase_4_3() {
    let m = exact_server(r#"{"data":{"type":"status","code":"NetConnection.Connect.Success"}}"#);
    assert_eq!(m, ServerMessage::connect_success());
    assert_eq!(event(&m), StatusEvent::ConnectSuccess);
    let m = exact_server(r#"{"data":{"type":"status","code":"NetConnection.Connect.Rejected"}}"#);
    assert_eq!(event(&m), StatusEvent::ConnectRejected);
    let m = exact_server(r#"{"data":{"type":"error","code":"NetConnection.Connect.Rejected"}}"#);
    assert_eq!(event(&m), StatusEvent::ConnectRejected);
    let m = exact_server(r#"{"data":{"type":"error","code":"NetConnection.Connect.Failed"}}"#);
    assert_eq!(m, ServerMessage::connect_failed());
    assert_eq!(event(&m), StatusEvent::ConnectFailed);
    let m =
        exact_server(r#"{"data":{"type":"error","message":"Stream not found","detail":"live/x"}}"#);
    assert_eq!(
        m,
        ServerMessage::error("Stream not found", Some("live/x".into()))
    );
    assert_eq!(
        event(&m),
        StatusEvent::Error {
            code: None,
            message: "Stream not found".into()
        }
    );
}

#[test]
fn server_publisher_and_subscriber_tables() {
    let m = exact_server(r#"{"isAvailable":false}"#);
    assert_eq!(m, ServerMessage::IsAvailable(false));
    exact_server(r#"{"isAvailable":true}"#);
    let m = exact_server(&format!(
        r#"{{"data":{{"sdp":{{"type":"answer","sdp":"{SDP}"}}}}}}"#
    ));
    assert!(matches!(
        m,
        ServerMessage::Sdp {
            participant_id: None,
            ..
        }
    ));
    exact_server(&format!(
        r#"{{"data":{{"sdp":{{"type":"offer","sdp":"{SDP}"}}}}}}"#
    ));
    // candidates: with type (real server), without (spec), end markers both ways
    let m = exact_server(
        r#"{"data":{"type":"candidate","candidate":{"candidate":"candidate:1 1 udp 2130706431 127.0.0.1 33151 typ host","sdpMid":"0","sdpMLineIndex":0}}}"#,
    );
    assert!(matches!(m, ServerMessage::Candidate { typed: true, .. }));
    let m = exact_server(
        r#"{"data":{"candidate":{"candidate":"candidate:1 1 udp 2130706431 127.0.0.1 33151 typ host","sdpMLineIndex":0}}}"#,
    );
    assert!(matches!(m, ServerMessage::Candidate { typed: false, .. }));
    assert_eq!(
        exact_server(r#"{"data":{"type":"candidate","candidate":{}}}"#),
        ServerMessage::EndOfCandidates { typed: true }
    );
    assert_eq!(
        exact_server(r#"{"data":{"candidate":{}}}"#),
        ServerMessage::EndOfCandidates { typed: false }
    );
    // TrickleCompleted, both spellings
    let m =
        exact_server(r#"{"data":{"type":"status","code":"NetConnection.ICE.TrickleCompleted"}}"#);
    assert_eq!(m, ServerMessage::trickle_completed(false));
    assert_eq!(event(&m), StatusEvent::TrickleCompleted);
    let m =
        exact_server(r#"{"data":{"type":"status","code":"NetConnection.ICE.TricleCompleted"}}"#);
    assert_eq!(m, ServerMessage::trickle_completed(true));
    assert_eq!(event(&m), StatusEvent::TrickleCompleted);
    // starting: no code (server-side default) and with the inferred codes
    let m = exact_server(r#"{"data":{"type":"status","message":"stream1 starting"}}"#);
    assert_eq!(m, ServerMessage::starting("stream1", None));
    assert_eq!(
        event(&m),
        StatusEvent::Starting {
            name: "stream1".into()
        }
    );
    let m = exact_server(
        r#"{"data":{"type":"status","code":"NetStream.Publish.Start","message":"stream1 starting"}}"#,
    );
    assert_eq!(
        m,
        ServerMessage::starting("stream1", Some(dc::code::PUBLISH_START))
    );
    exact_server(
        r#"{"data":{"type":"status","code":"NetStream.Play.Start","message":"stream1 starting"}}"#,
    );
    let m = exact_server(r#"{"data":{"type":"status","message":"stream1 already starting"}}"#);
    assert_eq!(event(&m), StatusEvent::AlreadyStarting);
    let m = exact_server(r#"{"data":{"type":"status","message":"stream1 stopping"}}"#);
    assert_eq!(m, ServerMessage::stopping("stream1", None));
    assert_eq!(
        event(&m),
        StatusEvent::Stopping {
            name: "stream1".into()
        }
    );
    let m = exact_server(
        r#"{"data":{"type":"status","code":"NetConnection.DataChannel.Available","description":"red5pro"}}"#,
    );
    assert_eq!(m, ServerMessage::data_channel_available("red5pro"));
    assert_eq!(
        event(&m),
        StatusEvent::DataChannelAvailable {
            label: "red5pro".into()
        }
    );
    // other publisher statuses
    for (code, ev) in [
        (
            "NetConnection.Publish.InsufficientBW",
            StatusEvent::InsufficientBandwidth,
        ),
        (
            "NetConnection.Publish.SufficientBW",
            StatusEvent::SufficientBandwidth,
        ),
        (
            "NetConnection.Publish.RecoveringBW",
            StatusEvent::RecoveringBandwidth,
        ),
        (
            "NetStream.Publish.IsAvailable",
            StatusEvent::PublishAvailable,
        ),
        ("NetConnection.Connect.Closed", StatusEvent::ConnectClosed),
        ("Some.Unknown.Code", StatusEvent::Other),
    ] {
        let m = exact_server(&format!(
            r#"{{"data":{{"type":"status","code":"{code}"}}}}"#
        ));
        assert_eq!(event(&m), ev, "{code}");
    }
    let m = exact_server(
        r#"{"data":{"type":"status","code":"Application.Statistics.Endpoint","statistics":"https://stats.example/x"}}"#,
    );
    assert_eq!(
        event(&m),
        StatusEvent::StatisticsEndpoint {
            url: Some("https://stats.example/x".into())
        }
    );
    // UnpublishNotify: the real form and the code/message variants
    let m = exact_server(r#"{"data":{"status":"NetStream.Play.UnpublishNotify"}}"#);
    assert_eq!(m, ServerMessage::unpublish_notify());
    assert_eq!(event(&m), StatusEvent::UnpublishNotify);
    assert_eq!(
        event(&exact_server(
            r#"{"data":{"type":"status","code":"NetStream.Play.UnpublishNotify"}}"#
        )),
        StatusEvent::UnpublishNotify
    );
    assert_eq!(
        event(&exact_server(
            r#"{"data":{"type":"status","message":"NetStream.Play.UnpublishNotify"}}"#
        )),
        StatusEvent::UnpublishNotify
    );
    // stream switch result
    let m = exact_server(r#"{"data":{"type":"result","message":"Stream switch: Success"}}"#);
    assert_eq!(m, ServerMessage::stream_switch_success());
    assert_eq!(event(&m), StatusEvent::StreamSwitchSuccess);
    // failure codes
    let m = exact_server(r#"{"data":{"type":"status","code":"NetStream.Play.StreamNotFound"}}"#);
    assert!(matches!(event(&m), StatusEvent::Error { .. }));
}

#[test]
fn server_conference_7_6() {
    let m = exact_server(&format!(
        r#"{{"data":{{"sdp":{{"type":"answer","sdp":"{SDP}"}},"participantId":"3fa9c"}}}}"#
    ));
    assert!(matches!(m, ServerMessage::Sdp { participant_id: Some(ref p), .. } if p == "3fa9c"));
    // numeric ids are accepted (opaque)
    let m = ServerMessage::parse(
        r#"{"data":{"sdp":{"type":"answer","sdp":"v=0"},"participantId":42}}"#,
    )
    .unwrap();
    assert!(matches!(m, ServerMessage::Sdp { participant_id: Some(ref p), .. } if p == "42"));
    let m =
        exact_server(r#"{"data":{"type":"status","message":"participant 3fa9c starting room1"}}"#);
    assert_eq!(m, ServerMessage::participant_starting("3fa9c", "room1"));
    assert_eq!(
        event(&m),
        StatusEvent::ParticipantStarting {
            participant: "3fa9c".into(),
            group: "room1".into()
        }
    );
    let m = exact_server(r#"{"data":{"type":"status","message":"Leaving group room1"}}"#);
    assert_eq!(m, ServerMessage::leaving_group("room1"));
    assert_eq!(
        event(&m),
        StatusEvent::LeavingGroup {
            group: "room1".into()
        }
    );
}

#[test]
fn server_parse_lenient_and_errors() {
    // pretty, extra fields, python-style spacing
    let m = ServerMessage::parse("{ \"data\" : { \"type\": \"status\", \"code\": \"NetConnection.Connect.Success\", \"x\": [1] } }").unwrap();
    assert_eq!(m, ServerMessage::connect_success());
    // isAvailable as string
    assert_eq!(
        ServerMessage::parse(r#"{"isAvailable":"false"}"#).unwrap(),
        ServerMessage::IsAvailable(false)
    );
    // candidate null = end
    assert_eq!(
        ServerMessage::parse(r#"{"data":{"candidate":null}}"#).unwrap(),
        ServerMessage::EndOfCandidates { typed: false }
    );
    assert!(matches!(
        ServerMessage::parse("<html>"),
        Err(red5_signal::Error::MalformedJson { .. })
    ));
    assert!(matches!(
        ServerMessage::parse("\"hi\""),
        Err(red5_signal::Error::NotAnObject { found: "string" })
    ));
    assert!(matches!(
        ServerMessage::parse(r#"{"isAvailable":[]}"#),
        Err(red5_signal::Error::InvalidMessage { .. })
    ));
    assert!(matches!(
        ServerMessage::parse(r#"{"data":{"sdp":{"type":"bogus","sdp":"x"}}}"#),
        Err(red5_signal::Error::InvalidMessage { .. })
    ));
    // unknown objects are not errors: they surface as messages
    assert!(matches!(
        ServerMessage::parse(r#"{"hello":1}"#).unwrap(),
        ServerMessage::Transport(dc::ServerMessage::Other(_))
    ));
}

#[derive(serde::Deserialize)]
struct Line {
    transport: String,
    text: String,
}

fn transcript(name: &str) -> Vec<Line> {
    let path = format!(
        "{}/tests/fixtures/transcripts/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{path}: {e}"))
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn every_sdk11_transcript_frame_parses() {
    let mut n = 0;
    for f in ["ws-pub", "ws-sub", "conference", "whip", "whep"] {
        for side in ["client", "server"] {
            let p = format!(
                "{}/tests/fixtures/transcripts/{f}.{side}.jsonl",
                env!("CARGO_MANIFEST_DIR")
            );
            if !std::path::Path::new(&p).exists() {
                continue;
            }
            for l in transcript(&format!("{f}.{side}.jsonl")) {
                n += 1;
                match (side, l.transport.as_str()) {
                    ("client", "ws") => {
                        let m = ClientMessage::parse(&l.text)
                            .unwrap_or_else(|e| panic!("{f}: {}: {e}", l.text));
                        // regenerate + reparse is stable
                        assert_eq!(ClientMessage::parse(&m.to_json()).unwrap(), m);
                    }
                    ("client", _) => {
                        dc::ClientMessage::parse(&l.text)
                            .unwrap_or_else(|e| panic!("{f}: {}: {e}", l.text));
                    }
                    ("server", "ws") => {
                        let m = ServerMessage::parse(&l.text)
                            .unwrap_or_else(|e| panic!("{f}: {}: {e}", l.text));
                        assert!(
                            !matches!(m, ServerMessage::Transport(dc::ServerMessage::Other(_))),
                            "{f}: unclassified {}",
                            l.text
                        );
                        assert_eq!(ServerMessage::parse(&m.to_json()).unwrap(), m);
                    }
                    _ => {
                        let m = dc::ServerMessage::parse(&l.text)
                            .unwrap_or_else(|e| panic!("{f}: {}: {e}", l.text));
                        assert!(
                            !matches!(m, dc::ServerMessage::Other(_)),
                            "{f}: unclassified {}",
                            l.text
                        );
                    }
                }
            }
        }
    }
    assert!(n >= 70, "only {n} transcript frames");
}

#[test]
fn transcript_publisher_sequence_has_the_expected_meanings() {
    let server: Vec<ServerMessage> = transcript("ws-pub.server.jsonl")
        .iter()
        .map(|l| ServerMessage::parse(&l.text).unwrap())
        .collect();
    assert_eq!(server[0], ServerMessage::connect_success());
    assert_eq!(server[1], ServerMessage::IsAvailable(false));
    assert!(matches!(server[2], ServerMessage::Sdp { .. }));
    assert!(server
        .iter()
        .any(|m| matches!(m, ServerMessage::EndOfCandidates { .. })));
    assert!(server
        .iter()
        .any(|m| m.as_status().is_some_and(|s| s.event()
            == StatusEvent::Starting {
                name: "stream1".into()
            })));
    let client: Vec<ClientMessage> = transcript("ws-pub.client.jsonl")
        .iter()
        .filter(|l| l.transport == "ws")
        .map(|l| ClientMessage::parse(&l.text).unwrap())
        .collect();
    let ops: Vec<&str> = client.iter().map(ClientMessage::op).collect();
    assert_eq!(ops.first(), Some(&"isAvailable"));
    assert!(
        ops.contains(&"handleOffer") && ops.contains(&"publish") && ops.contains(&"switchChannel")
    );
}
