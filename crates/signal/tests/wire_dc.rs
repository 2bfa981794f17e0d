//! §5 / §6 fixtures: the message transport (data channel `red5pro`, WS before the switch).

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

use red5_signal::dc::{
    self, ClientMessage, Invoke, LogLevel, RelayForm, RpcReply, ServerMessage, StatusEvent,
};
use serde_json::json;

fn exact_client(text: &str) -> ClientMessage {
    let m = ClientMessage::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
    assert_eq!(m.to_json(), text);
    let via: ClientMessage = serde_json::from_str(text).unwrap();
    assert_eq!(via, m);
    m
}

fn exact_server(text: &str) -> ServerMessage {
    let m = ServerMessage::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
    assert_eq!(m.to_json(), text);
    let via: ServerMessage = serde_json::from_str(text).unwrap();
    assert_eq!(via, m);
    m
}

/// Opaque payloads (`data`, `arguments`) are `serde_json::Value`: their keys regenerate in
/// sorted order (JSON object order carries no meaning), so fixtures list them sorted.
#[test]
fn client_table_5_1() {
    let m = exact_client(r#"{"send":{"method":"onMetaData","data":{"metadata":"hello"}}}"#);
    assert_eq!(m, ClientMessage::metadata_text("hello"));
    exact_client(r#"{"send":{"method":"onMetaData","data":{"deviceOrientation":90}}}"#);
    exact_client(r#"{"send":{"method":"whiteboardDraw","data":{"x":1,"y":[2,3]}}}"#);
    exact_client(r#"{"mute":{"muteAudio":true}}"#);
    exact_client(r#"{"mute":{"muteVideo":false}}"#);
    let m = exact_client(r#"{"mute":{"muteAudio":true,"muteVideo":true}}"#);
    assert_eq!(
        m,
        ClientMessage::Mute(dc::Mute {
            mute_audio: Some(true),
            mute_video: Some(true)
        })
    );
    let m = exact_client(
        r#"{"callAdapter":{"method":"switchStreams","arguments":[{"isImmediate":true,"path":"live/stream2"}]},"id":"a1b2","async":true}"#,
    );
    assert_eq!(
        m,
        ClientMessage::call(
            "a1b2",
            "switchStreams",
            vec![json!({"path":"live/stream2","isImmediate":true})]
        )
    );
    assert_eq!(
        ClientMessage::switch_streams("a1b2", "live/stream2", true).to_json(),
        r#"{"callAdapter":{"method":"switchStreams","arguments":[{"isImmediate":true,"path":"live/stream2"}]},"id":"a1b2","async":true}"#
    );
    assert_eq!(
        ClientMessage::standby(true).to_json(),
        r#"{"mute":{"muteAudio":true,"muteVideo":true}}"#
    );
    for lvl in ["DEBUG", "INFO", "WARN", "ERROR", "TRACE", "FATAL"] {
        exact_client(&format!(r#"{{"log":"{lvl}","message":"hi"}}"#));
    }
    assert!(matches!(
        ClientMessage::parse(r#"{"log":"WARN","message":"x"}"#).unwrap(),
        ClientMessage::Log(dc::Log {
            log: LogLevel::Warn,
            ..
        })
    ));
    exact_client(r#"{"unpublish":"stream1"}"#);
    exact_client(r#"{"leaveGroup":"room1","streamName":"participant1"}"#);
    exact_client(r#"{"switchChannel":"red5pro"}"#);
    let m = ClientMessage::parse(r#"{"name":"RTCPublisherStats","created":1,"fingerprint":"f","device":{},"client":{},"type":"stats-report","timestamp":2,"data":{"action":{"type":"started"}}}"#).unwrap();
    let ClientMessage::Stats(s) = &m else {
        panic!()
    };
    assert_eq!(s.name, "RTCPublisherStats");
    assert_eq!(ClientMessage::parse(&m.to_json()).unwrap(), m);
}

#[test]
fn client_pretty_printed_sdk15_frames_parse() {
    // Verbatim SDK frame (whip.log:352): pretty-printed, raw non-ASCII.
    let m = ClientMessage::parse("{\n  \"send\": {\n    \"method\": \"onMetaData\",\n    \"data\": {\n      \"metadata\": \"hello ✓ ünïcode\"\n    }\n  }\n}").unwrap();
    assert_eq!(m, ClientMessage::metadata_text("hello ✓ ünïcode"));
    // non-ASCII is written raw, not \u-escaped
    assert_eq!(
        m.to_json(),
        r#"{"send":{"method":"onMetaData","data":{"metadata":"hello ✓ ünïcode"}}}"#
    );
}

#[test]
fn server_relay_forms_a_to_e() {
    let data = json!({"metadata":"form-A"});
    let a =
        exact_server(r#"{"type":"metadata","method":"onMetaData","data":{"metadata":"form-A"}}"#);
    let ServerMessage::Invoke(i) = &a else {
        panic!()
    };
    assert_eq!(
        (i.method.as_str(), &i.data, i.form),
        ("onMetaData", &data, RelayForm::A)
    );
    assert!(i.is_metadata());

    let b = exact_server(
        r#"{"send":{"method":"onMetaData","data":{"metadata":"form-B"}},"senderName":"stream1","dcLabel":"red5pro"}"#,
    );
    let ServerMessage::Invoke(i) = &b else {
        panic!()
    };
    assert_eq!(
        (i.sender_name.as_deref(), i.dc_label.as_deref(), i.form),
        (Some("stream1"), Some("red5pro"), RelayForm::B)
    );
    // B without senderName (real servers sometimes omit it)
    exact_server(r#"{"send":{"method":"onKLV","data":{"k":1}},"dcLabel":"red5pro"}"#);

    let c = exact_server(r#"{"method":"onMetaData","data":{"metadata":"form-C"}}"#);
    assert!(matches!(
        c,
        ServerMessage::Invoke(Invoke {
            form: RelayForm::C,
            ..
        })
    ));
    let d = exact_server(r#"{"type":"metadata","data":{"metadata":"form-D"}}"#);
    assert!(matches!(&d, ServerMessage::Invoke(i) if i.form == RelayForm::D && i.is_metadata()));
    let e = exact_server(r#"{"type":"metadata","metadata":{"metadata":"form-E"}}"#);
    assert!(
        matches!(&e, ServerMessage::Invoke(i) if i.form == RelayForm::E && i.data == json!({"metadata":"form-E"}))
    );
}

#[test]
fn relay_generation_helpers_write_each_form() {
    let inv = Invoke {
        method: "onMetaData".into(),
        data: json!({"metadata":"x"}),
        sender_name: Some("pub1".into()),
        dc_label: Some("red5pro".into()),
        form: RelayForm::A,
    };
    let expect = [
        (
            RelayForm::A,
            r#"{"type":"metadata","method":"onMetaData","data":{"metadata":"x"}}"#,
        ),
        (
            RelayForm::B,
            r#"{"send":{"method":"onMetaData","data":{"metadata":"x"}},"senderName":"pub1","dcLabel":"red5pro"}"#,
        ),
        (
            RelayForm::C,
            r#"{"method":"onMetaData","data":{"metadata":"x"}}"#,
        ),
        (
            RelayForm::D,
            r#"{"type":"metadata","data":{"metadata":"x"}}"#,
        ),
        (
            RelayForm::E,
            r#"{"type":"metadata","metadata":{"metadata":"x"}}"#,
        ),
    ];
    for (form, text) in expect {
        assert_eq!(inv.to_json_as(form), text, "{form:?}");
        let ServerMessage::Invoke(back) = ServerMessage::parse(text).unwrap() else {
            panic!()
        };
        assert_eq!(back.form, form);
        assert_eq!(back.data, inv.data);
        assert_eq!(back.method, "onMetaData");
    }
}

#[test]
fn server_rpc_replies_and_statuses() {
    let m = exact_server(r#"{"id":"a1b2","async":true,"data":{"ok":1}}"#);
    assert_eq!(
        m,
        ServerMessage::RpcReply(RpcReply::ok("a1b2", json!({"ok":1})))
    );
    let ServerMessage::RpcReply(r) = &m else {
        panic!()
    };
    assert_eq!(r.result(), Ok(json!({"ok":1})));
    let m = exact_server(r#"{"id":"a1b2","async":true,"error":"no such stream"}"#);
    let ServerMessage::RpcReply(r) = &m else {
        panic!()
    };
    assert_eq!(r.result(), Err("no such stream".into()));
    let m = exact_server(r#"{"id":"c3","async":true,"data":{"message":"denied","type":"error"}}"#);
    let ServerMessage::RpcReply(r) = &m else {
        panic!()
    };
    assert_eq!(r.result(), Err("denied".into()));

    let ev = |t: &str| match exact_server(t) {
        ServerMessage::Status(s) => s.event(),
        other => panic!("{other:?}"),
    };
    assert_eq!(
        ev(r#"{"data":{"type":"status","code":"NetConnection.Connect.Closed"}}"#),
        StatusEvent::ConnectClosed
    );
    assert_eq!(
        ev(r#"{"data":{"type":"status","code":"NetConnection.Publish.InsufficientBW"}}"#),
        StatusEvent::InsufficientBandwidth
    );
    assert_eq!(
        ev(r#"{"data":{"type":"error","code":"DataChannel.Error","message":"bad"}}"#),
        StatusEvent::Error {
            code: Some("DataChannel.Error".into()),
            message: "bad".into()
        }
    );
    assert_eq!(
        ev(r#"{"data":{"status":"NetStream.Play.UnpublishNotify"}}"#),
        StatusEvent::UnpublishNotify
    );
    assert_eq!(
        ev(r#"{"data":{"type":"result","message":"Stream switch: Success"}}"#),
        StatusEvent::StreamSwitchSuccess
    );
    assert_eq!(
        ev(
            r#"{"data":{"type":"status","code":"NetStream.Unpublish.Success","message":"stream1 stopping"}}"#
        ),
        StatusEvent::Stopping {
            name: "stream1".into()
        }
    );
}

#[test]
fn unknown_server_objects_are_kept() {
    let m = ServerMessage::parse(r#"{"whatever":true}"#).unwrap();
    assert!(matches!(m, ServerMessage::Other(_)));
    // found by the property run: an empty status stays an unknown object, so it regenerates stably
    for t in [
        r#"{"data":{"type":null}}"#,
        r#"{"data":{"description":false,"type":null}}"#,
    ] {
        let m = ServerMessage::parse(t).unwrap();
        assert!(matches!(m, ServerMessage::Other(_)), "{t}");
        assert_eq!(ServerMessage::parse(&m.to_json()).unwrap(), m);
    }
    assert!(ServerMessage::parse("nope").is_err());
}

#[test]
fn status_message_classification_follows_the_sdk_regexes() {
    let ev = |m: &str| {
        dc::Status {
            kind: Some("status".into()),
            message: Some(m.into()),
            ..Default::default()
        }
        .event()
    };
    assert_eq!(
        ev("stream1 starting"),
        StatusEvent::Starting {
            name: "stream1".into()
        }
    );
    assert_eq!(
        ev("Stream1 STARTING now"),
        StatusEvent::Starting {
            name: "Stream1".into()
        }
    );
    assert_eq!(
        ev("a starting b starting"),
        StatusEvent::Starting {
            name: "a starting b".into()
        }
    );
    assert_eq!(ev("x already started"), StatusEvent::AlreadyStarting);
    assert_eq!(
        ev("Participant ab12 starting room1"),
        StatusEvent::ParticipantStarting {
            participant: "ab12".into(),
            group: "room1".into()
        }
    );
    assert_eq!(
        ev("leaving group room1"),
        StatusEvent::LeavingGroup {
            group: "room1".into()
        }
    );
    assert_eq!(ev("hello"), StatusEvent::Other);
}
