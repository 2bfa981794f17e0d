//! Property tests over the server-message parsers, the client parsers, the SDP helpers and the
//! state machines. Case count: proptest's default (256) or `PROPTEST_CASES`.
//! The 10^6 run: `PROPTEST_CASES=91000 cargo test -p red5-signal --test props` (11 properties).

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

use proptest::prelude::*;
use red5_signal::dc::{self, Status};
use red5_signal::flow::http::{HttpConfig, HttpResponse, HttpSession};
use red5_signal::flow::ws::{WsConfig, WsRole, WsSession};
use red5_signal::flow::Timer;
use red5_signal::sdp::{self, Bandwidth};
use red5_signal::whip::{self, Kind, Link, SdpFrag};
use red5_signal::ws::{self, IceCandidate, ServerMessage};
use red5_signal::{backend, urls};
use serde_json::Value;

/// Keys biased towards Red5's vocabulary so the parsers' deep paths get exercised.
fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(vec![
            "data", "type", "code", "message", "candidate", "sdp", "isAvailable", "method", "send", "id", "async",
            "status", "metadata", "participantId", "error", "description", "detail", "senderName", "dcLabel",
            "sdpMid", "sdpMLineIndex", "room", "streams", "regions", "list", "handleOffer", "publish", "unpublish",
            "leaveGroup", "switchChannel", "mute", "muteAudio", "callAdapter", "arguments", "log", "requestId",
        ])
        .prop_map(str::to_owned),
        1 => "[a-zA-Z]{1,8}",
    ]
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "status",
            "error",
            "result",
            "candidate",
            "metadata",
            "offer",
            "answer",
            "NetConnection.Connect.Success",
            "NetConnection.ICE.TrickleCompleted",
            "NetConnection.DataChannel.Available",
            "NetStream.Play.UnpublishNotify",
            "stream1 starting",
            "stream1 stopping",
            "participant ab starting room1",
            "Leaving group room1",
            "Stream switch: Success",
            "onMetaData",
            "red5pro",
            "mixerRegions",
            "active",
            "conference",
            "",
        ])
        .prop_map(str::to_owned),
        ".{0,16}",
    ]
}

fn json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        // Short decimals: serde_json (without `float_roundtrip`) re-reads long mantissas off by one ulp.
        (-1_000_000_000i64..1_000_000_000).prop_map(|n| Value::from(n as f64 / 1000.0)),
        text().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((key(), inner), 0..6)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

/// Either a JSON object from `json()` or raw junk text.
fn frame() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => json().prop_map(|v| v.to_string()),
        1 => ".{0,64}",
        1 => json().prop_map(|v| serde_json::to_string_pretty(&v).unwrap()),
    ]
}

fn name() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9_-]{1,16}"
}

proptest! {
    /// WS server frames: never panic; a parsed message regenerates to text that parses to the same message.
    #[test]
    fn ws_server_parse_is_total_and_stable(f in frame()) {
        if let Ok(m) = ServerMessage::parse(&f) {
            let again = ServerMessage::parse(&m.to_json());
            prop_assert_eq!(again.as_ref().ok(), Some(&m), "{} -> {}", f, m.to_json());
            let _ = m.as_status().map(Status::event);
            let _ = m.summary();
        }
    }

    /// Message-transport server frames: same.
    #[test]
    fn dc_server_parse_is_total_and_stable(f in frame()) {
        if let Ok(m) = dc::ServerMessage::parse(&f) {
            let again = dc::ServerMessage::parse(&m.to_json());
            prop_assert_eq!(again.as_ref().ok(), Some(&m), "{} -> {}", f, m.to_json());
        }
    }

    /// Client frames (what the built-in server parses): never panic, stable regeneration.
    #[test]
    fn client_parse_is_total_and_stable(f in frame()) {
        if let Ok(m) = ws::ClientMessage::parse(&f) {
            let again = ws::ClientMessage::parse(&m.to_json());
            prop_assert_eq!(again.as_ref().ok(), Some(&m), "{} -> {}", f, m.to_json());
        }
    }

    /// Backend frames: never panic.
    #[test]
    fn backend_parse_is_total(f in frame()) {
        if let Ok(m) = backend::ServerMessage::parse(&f) {
            let _ = m.to_json();
        }
        let _ = backend::ClientMessage::parse(&f);
    }

    /// Generated server messages parse back to themselves exactly.
    #[test]
    fn generated_server_messages_round_trip(
        n in name(), g in name(), sdp in ".{0,40}", pid in proptest::option::of(name()),
        cand in "candidate:[0-9]{1,5} 1 udp [0-9]{1,10} 127\\.0\\.0\\.1 [0-9]{1,5} typ host",
        mid in proptest::option::of("[0-9]"), idx in proptest::option::of(0u16..8), typed in any::<bool>(),
        misspelt in any::<bool>(), code in proptest::option::of(Just(dc::code::PUBLISH_START)),
    ) {
        let msgs = vec![
            ServerMessage::connect_success(), ServerMessage::connect_rejected(), ServerMessage::connect_failed(),
            ServerMessage::IsAvailable(typed), ServerMessage::answer(sdp.clone(), pid), ServerMessage::offer(sdp),
            ServerMessage::candidate(IceCandidate::new(cand, mid, idx), typed), ServerMessage::EndOfCandidates { typed },
            ServerMessage::trickle_completed(misspelt), ServerMessage::starting(&n, code), ServerMessage::stopping(&n, None),
            ServerMessage::participant_starting(&n, &g), ServerMessage::leaving_group(&g),
            ServerMessage::data_channel_available(&g), ServerMessage::unpublish_notify(), ServerMessage::stream_switch_success(),
            ServerMessage::error(n.clone(), Some(g.clone())),
        ];
        for m in msgs {
            prop_assert_eq!(ServerMessage::parse(&m.to_json()).unwrap(), m);
        }
        let ev = ServerMessage::starting(&n, None).as_status().unwrap().event();
        prop_assert_eq!(ev, dc::StatusEvent::Starting { name: n.clone() });
        let ev = ServerMessage::participant_starting(&n, &g).as_status().unwrap().event();
        prop_assert_eq!(ev, dc::StatusEvent::ParticipantStarting { participant: n, group: g });
    }

    /// Every relay form of any payload parses back with the same method and data.
    #[test]
    fn relay_forms_round_trip(method in name(), data in json(), sender in proptest::option::of(name())) {
        let inv = dc::Invoke { method: method.clone(), data: data.clone(), sender_name: sender, dc_label: Some("red5pro".into()), form: dc::RelayForm::A };
        for form in dc::RelayForm::ALL {
            let dc::ServerMessage::Invoke(back) = dc::ServerMessage::parse(&inv.to_json_as(form)).unwrap() else {
                return Err(TestCaseError::fail(format!("{form:?} not an invoke")));
            };
            prop_assert_eq!(back.form, form);
            prop_assert_eq!(&back.data, &data);
            let expect = if matches!(form, dc::RelayForm::D | dc::RelayForm::E) { "onMetaData" } else { method.as_str() };
            prop_assert_eq!(back.method.as_str(), expect);
        }
    }

    /// SDP and sdpfrag parsers: never panic on junk.
    #[test]
    fn sdp_parsers_are_total(t in ".{0,200}", lines in prop::collection::vec("[a-z]=[ -~]{0,30}", 0..12)) {
        let _ = sdp::parse(&t);
        let _ = SdpFrag::parse(&t);
        let joined = lines.join("\r\n");
        let _ = sdp::parse(&joined);
        let _ = SdpFrag::parse(&joined);
        let _ = Link::parse_header(&t);
        let _ = whip::Discovery::from_headers([("Link", t.as_str()), ("Session-Host", t.as_str())]);
        let base = url::Url::parse("https://sm.example/live/whip/endpoint/s?requestId=x").unwrap();
        let _ = whip::resolve_resource(&base, Some(&t));
    }

    /// sdpfrag build → parse is the identity.
    #[test]
    fn sdpfrag_round_trip(
        ufrag in "[a-zA-Z0-9+/]{4,12}", pwd in "[a-zA-Z0-9+/]{22,32}",
        cands in prop::collection::vec("candidate:[0-9]{1,8} 1 (udp|tcp) [0-9]{1,10} 192\\.0\\.2\\.[0-9]{1,3} [0-9]{1,5} typ host", 1..6),
    ) {
        let f = SdpFrag {
            ice_ufrag: Some(ufrag), ice_pwd: Some(pwd), media: Some("audio 9 UDP/TLS/RTP/SAVPF 111".into()),
            mid: Some("0".into()), candidates: cands, end_of_candidates: true,
        };
        let body = f.to_body();
        prop_assert!(!body.ends_with("\r\n"));
        prop_assert_eq!(SdpFrag::parse(&body).unwrap(), f);
    }

    /// Munges on generated SDPs: parse back, stereo/bandwidth idempotent, participant munge keeps m-line count.
    #[test]
    fn sdp_munges_on_generated_sdps(
        audio in 1usize..5, video in 0usize..3, dirs in prop::collection::vec(prop::sample::select(vec!["sendrecv", "sendonly", "recvonly", "inactive"]), 8),
        fec in any::<bool>(), akbps in 8u32..512, vkbps in 64u32..8000, b_first in any::<bool>(),
    ) {
        let mut s = String::from("v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n");
        for i in 0..audio + video {
            let is_audio = i < audio;
            let (m, fmts) = if is_audio { ("audio", "111 0 9 13 110") } else { ("video", "96 97 102 103") };
            s.push_str(&format!("m={m} 9 UDP/TLS/RTP/SAVPF {fmts}\r\n"));
            if b_first { s.push_str("b=AS:30\r\nc=IN IP4 0.0.0.0\r\n"); } else { s.push_str("c=IN IP4 0.0.0.0\r\n"); }
            s.push_str(&format!("a=mid:{i}\r\na={}\r\n", dirs[i % dirs.len()]));
            if is_audio {
                s.push_str(&format!("a=rtpmap:111 opus/48000/2\r\na=fmtp:111 minptime=10{}\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:9 G722/8000\r\na=rtpmap:13 CN/8000\r\na=rtpmap:110 telephone-event/48000\r\na=ssrc:1 cname:x\r\n", if fec { ";useinbandfec=1" } else { "" }));
            } else {
                s.push_str("a=rtpmap:96 VP8/90000\r\na=rtpmap:97 rtx/90000\r\na=fmtp:97 apt=96\r\na=rtpmap:102 H264/90000\r\na=fmtp:102 packetization-mode=1;profile-level-id=42001f\r\na=rtpmap:103 rtx/90000\r\na=fmtp:103 apt=102\r\na=ssrc:2 cname:x\r\n");
            }
        }
        let d = sdp::parse(&s).unwrap();
        prop_assert_eq!(d.media_descriptions.len(), audio + video);
        let once = sdp::munge_stereo_str(&s).unwrap();
        prop_assert_eq!(sdp::munge_stereo_str(&once).unwrap(), once.clone());
        prop_assert_eq!(once.contains("stereo=1;sprop-stereo=1"), fec);
        let bw = Bandwidth { audio_kbps: Some(akbps), video_kbps: Some(vkbps), data_kbps: None };
        let b1 = sdp::set_bandwidth_str(&s, &bw).unwrap();
        prop_assert_eq!(sdp::set_bandwidth_str(&b1, &bw).unwrap(), b1.clone());
        let p = sdp::force_h264_profile_str(&s, "42e01f").unwrap();
        prop_assert!(!p.contains("42001f"));
        for prune in [false, true] {
            let mut m = d.clone();
            sdp::munge_participant_offer(&mut m, &bw, prune);
            let text = sdp::write(&m);
            let back = sdp::parse(&text).unwrap();
            prop_assert_eq!(back.media_descriptions.len(), audio + video);
            prop_assert!(!text.contains("PCMU") && !text.contains("telephone-event"));
        }
        let mut k = d.clone();
        sdp::keep_only_codecs(&mut k, "video", &["H264"]);
        prop_assert!(!sdp::write(&k).contains("VP8"));
    }

    /// The WS state machine survives any sequence of frames and timers, and stays quiet once finished.
    #[test]
    fn ws_machine_never_panics(
        role in 0u8..3, frames in prop::collection::vec(frame(), 0..24),
        script in prop::collection::vec(0u8..12, 0..24),
    ) {
        let role = match role { 0 => WsRole::Publisher, 1 => WsRole::Subscriber { request_id: "r".into() }, _ => WsRole::Participant { group: "g".into() } };
        let mut s = WsSession::new(WsConfig::new(role, "stream1"));
        s.start();
        let good = [
            ServerMessage::connect_success().to_json(), ServerMessage::IsAvailable(false).to_json(), ServerMessage::IsAvailable(true).to_json(),
            ServerMessage::answer("a", Some("p".into())).to_json(), ServerMessage::offer("o").to_json(),
            ServerMessage::trickle_completed(false).to_json(), ServerMessage::starting("stream1", None).to_json(),
            ServerMessage::data_channel_available("red5pro").to_json(),
        ];
        let mut fi = frames.iter();
        for step in script {
            match step {
                0..=3 => { if let Some(f) = fi.next() { s.handle_ws_text(f) } }
                4 => s.handle_ws_text(&good[s.signalling_name().len() % good.len()]),
                5 => { let _ = s.set_local_offer("v=0"); let _ = s.set_local_answer("v=0"); }
                6 => s.add_local_candidate(IceCandidate::new("candidate:1 1 udp 1 1.2.3.4 5 typ host", None, None)),
                7 => s.local_gathering_complete(),
                8 => s.on_timer([Timer::Open, Timer::Gathering, Timer::Start, Timer::Switch, Timer::Stop][s.signalling_name().len() % 5]),
                9 => s.send_message(dc::ClientMessage::metadata_text("x")),
                10 => s.handle_ws_closed(None),
                _ => s.stop(),
            }
            while s.poll_output().is_some() {}
            for g in &good { s.handle_ws_text(g); }
            while s.poll_output().is_some() {}
        }
        if s.is_finished() {
            s.handle_ws_text(&good[0]);
            s.on_timer(Timer::Open);
            s.stop();
            let mut events = 0;
            while let Some(o) = s.poll_output() { if matches!(o, red5_signal::flow::ws::WsOutput::Event(_)) { events += 1; } }
            prop_assert_eq!(events, 0);
        }
    }

    /// The HTTP machine survives arbitrary statuses, headers and bodies.
    #[test]
    fn http_machine_never_panics(
        whep in any::<bool>(), responses in prop::collection::vec((100u16..600, ".{0,40}", ".{0,40}"), 0..8),
    ) {
        let kind = if whep { Kind::Whep } else { Kind::Whip };
        let ep = urls::whip_sm2("https://sm", kind, "live", "s", Some("r"));
        let mut s = HttpSession::new(HttpConfig::new(kind, url::Url::parse(&ep).unwrap()));
        s.start();
        for (status, loc, body) in responses {
            let mut ids = vec![];
            while let Some(o) = s.poll_output() {
                if let red5_signal::flow::http::HttpOutput::Request(r) = o { ids.push(r.id); }
            }
            let _ = s.set_local_offer("v=0\r\na=ice-ufrag:x\r\na=ice-pwd:y\r\n");
            let _ = s.set_local_answer("v=0");
            s.add_local_candidate(&IceCandidate::new("candidate:1 1 udp 1 1.2.3.4 5 typ host", None, None));
            s.local_gathering_complete(None);
            s.data_channel_open();
            while let Some(o) = s.poll_output() {
                if let red5_signal::flow::http::HttpOutput::Request(r) = o { ids.push(r.id); }
            }
            for id in ids {
                s.handle_response(id, HttpResponse { status, headers: vec![("Location".into(), loc.clone()), ("Link".into(), loc.clone())], body: body.clone() });
            }
            s.handle_dc_text(&body);
        }
        s.stop();
        while s.poll_output().is_some() {}
    }
}
