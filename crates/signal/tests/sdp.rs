//! SDP helpers against real Chrome SDPs from the SDK transcripts.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

use red5_signal::sdp::{self, Bandwidth, Direction};
use red5_signal::ws::{ClientMessage, ServerMessage};

fn transcript_sdp(file: &str, pick: impl Fn(&str) -> Option<String>) -> String {
    let path = format!(
        "{}/tests/fixtures/transcripts/{file}",
        env!("CARGO_MANIFEST_DIR")
    );
    for line in std::fs::read_to_string(path).unwrap().lines() {
        let l: serde_json::Value = serde_json::from_str(line).unwrap();
        if let Some(s) = pick(l["text"].as_str().unwrap()) {
            return s;
        }
    }
    panic!("no SDP in {file}");
}

fn publisher_offer() -> String {
    transcript_sdp("ws-pub.client.jsonl", |t| {
        match ClientMessage::parse(t).ok()? {
            ClientMessage::HandleOffer(o) => Some(o.data.sdp.sdp),
            _ => None,
        }
    })
}

fn participant_offer() -> String {
    transcript_sdp("conference.client.jsonl", |t| {
        match ClientMessage::parse(t).ok()? {
            ClientMessage::JoinGroup(j) => Some(j.data.sdp.sdp),
            _ => None,
        }
    })
}

fn server_offer() -> String {
    transcript_sdp("ws-sub.server.jsonl", |t| {
        match ServerMessage::parse(t).ok()? {
            ServerMessage::Sdp { sdp, .. } => Some(sdp.sdp),
            _ => None,
        }
    })
}

#[test]
fn parses_the_sdk_order_with_b_before_c() {
    let offer = publisher_offer();
    assert!(offer
        .contains("m=audio 9 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126\r\nb=AS:56\r\nc=IN IP4"));
    let d = sdp::parse(&offer).unwrap();
    assert_eq!(d.media_descriptions.len(), 3);
    assert_eq!(d.media_descriptions[0].bandwidth[0].bandwidth, 56);
    assert_eq!(d.media_descriptions[1].bandwidth[0].bandwidth, 512);
    // round trip is stable
    let again = sdp::write(&sdp::parse(&sdp::write(&d)).unwrap());
    assert_eq!(again, sdp::write(&d));
}

#[test]
fn bandwidth_lines() {
    let mut d = sdp::parse(&publisher_offer()).unwrap();
    sdp::set_bandwidth(
        &mut d,
        &Bandwidth {
            audio_kbps: Some(64),
            video_kbps: Some(1500),
            data_kbps: Some(10),
        },
    );
    let out = sdp::write(&d);
    assert!(
        out.contains("b=AS:64\r\n") && out.contains("b=AS:1500\r\n") && out.contains("b=AS:10\r\n"),
        "{out}"
    );
    assert!(!out.contains("b=AS:56") && !out.contains("b=AS:512"));
    assert_eq!(out.matches("b=AS:").count(), 3);
}

#[test]
fn stereo_munge_3_5() {
    let answer = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\na=rtpmap:111 opus/48000/2\r\na=fmtp:111 minptime=10;useinbandfec=1\r\n";
    let out = sdp::munge_stereo_str(answer).unwrap();
    assert!(
        out.contains("a=fmtp:111 minptime=10;useinbandfec=1;stereo=1;sprop-stereo=1\r\n"),
        "{out}"
    );
    // idempotent
    assert_eq!(sdp::munge_stereo_str(&out).unwrap(), out);
}

#[test]
fn h264_profile_rewrite() {
    let mut d = sdp::parse(&publisher_offer()).unwrap();
    let n = sdp::force_h264_profile(&mut d, "42e01f");
    assert!(n >= 2, "{n}");
    let out = sdp::write(&d);
    assert!(!out.contains("profile-level-id=42001f"));
    assert!(out.contains("profile-level-id=42e01f"));
    // high profile (64…) untouched
    assert!(
        out.contains("profile-level-id=640c1f")
            || !publisher_offer().contains("profile-level-id=640c1f")
    );
}

#[test]
fn participant_munge_7_6_e() {
    let offer = participant_offer();
    let before = sdp::parse(&offer).unwrap();
    let kinds: Vec<String> = sdp::sections(&before)
        .into_iter()
        .map(|(k, _, _)| k)
        .collect();
    assert_eq!(
        kinds,
        [
            "audio",
            "audio",
            "audio",
            "audio",
            "video",
            "video",
            "application"
        ]
    );
    let mut d = before.clone();
    sdp::munge_participant_offer(&mut d, &Bandwidth::default(), false);
    let out = sdp::write(&d);
    for codec in ["ISAC", "G722", "CN/", "PCMU", "PCMA", "telephone-event"] {
        assert!(!out.contains(codec), "{codec} left in");
    }
    // m= lines untouched (SDK-exact)
    for (a, b) in before.media_descriptions.iter().zip(&d.media_descriptions) {
        assert_eq!(a.media_name.formats, b.media_name.formats);
    }
    let secs = sdp::sections(&d);
    assert_eq!(secs[0].2, Direction::SendRecv);
    assert!(secs[1..4].iter().all(|s| s.2 == Direction::RecvOnly));
    assert_eq!(secs[4].2, Direction::SendRecv);
    assert_eq!(secs[5].2, Direction::RecvOnly);
    // only the first audio/video keep ssrc lines
    for (i, m) in d.media_descriptions.iter().enumerate() {
        let has_ssrc = m.attributes.iter().any(|a| a.key.starts_with("ssrc"));
        if i != 0 && i != 4 {
            assert!(!has_ssrc, "section {i} kept ssrc");
        }
    }
    // the sendrecv video keeps only baseline H.264
    let maps = sdp::rtpmaps(&d.media_descriptions[4]);
    assert!(!maps.is_empty());
    assert!(maps.iter().all(|(_, n)| n == "H264"), "{maps:?}");
    assert!(out.contains("b=AS:56") && out.contains("b=AS:750"));
    // prune variant also cleans the m= line
    let mut d2 = before.clone();
    sdp::munge_participant_offer(&mut d2, &Bandwidth::default(), true);
    let f = &d2.media_descriptions[0].media_name.formats;
    assert!(!f.contains(&"0".to_string()) && !f.contains(&"9".to_string()));
    assert!(sdp::parse(&sdp::write(&d2)).is_ok());
    for m in &d2.media_descriptions[..6] {
        assert_eq!(
            m.media_name.formats.len(),
            sdp::rtpmaps(m).len(),
            "orphan formats left on {:?}",
            m.media_name
        );
    }
}

#[test]
fn the_sdk_munged_participant_offer_is_a_fixed_point() {
    // The transcript holds the SDK's munged copy: munging it again must change nothing.
    let offer = participant_offer();
    let d = sdp::parse(&offer).unwrap();
    let bw = Bandwidth {
        audio_kbps: Some(d.media_descriptions[0].bandwidth[0].bandwidth as u32),
        video_kbps: Some(d.media_descriptions[4].bandwidth[0].bandwidth as u32),
        data_kbps: None,
    };
    let mut again = d.clone();
    sdp::munge_participant_offer(&mut again, &bw, false);
    assert_eq!(sdp::write(&again), sdp::write(&d));
}

#[test]
fn codec_filtering_and_misc() {
    let mut d = sdp::parse(&publisher_offer()).unwrap();
    sdp::keep_only_codecs(&mut d, "video", &["H264"]);
    let v = &d.media_descriptions[1];
    let maps = sdp::rtpmaps(v);
    assert!(
        maps.iter().all(|(_, n)| n == "H264" || n == "rtx"),
        "{maps:?}"
    );
    assert_eq!(v.media_name.formats.len(), maps.len());
    sdp::strip_extmap(&mut d);
    assert!(!sdp::write(&d).contains("a=extmap:"));
    sdp::set_framesize(&mut d, 1280, 720);
    assert!(sdp::write(&d).contains("a=mid:1\r\na=framesize:1280-720\r\n"));

    let mut s = sdp::parse(&server_offer()).unwrap();
    let had = sdp::candidates(&s).len();
    sdp::ensure_ice_trickle(&mut s);
    assert!(sdp::write(&s).contains("a=ice-options:trickle"));
    sdp::strip_candidates(&mut s);
    assert!(sdp::candidates(&s).is_empty());
    let _ = had;
}

#[test]
fn invalid_sdp_is_a_typed_error() {
    let e = sdp::parse("hello").unwrap_err();
    assert!(e.to_string().contains("not valid SDP"), "{e}");
    assert!(sdp::parse("").is_err());
}

#[test]
fn non_trickle_offer_and_bundle_order() {
    let mut d = sdp::parse(&publisher_offer()).unwrap();
    // pretend gathering added candidates to the first section
    d.media_descriptions[0]
        .attributes
        .push(sdp::raw::description::common::Attribute::new(
            "candidate".into(),
            Some("1 1 udp 1 192.0.2.2 5 typ host".into()),
        ));
    sdp::prepare_non_trickle_offer(&mut d);
    let out = sdp::write(&d);
    assert!(!out.contains("a=ice-options:trickle"));
    assert!(out.contains("a=candidate:1 1 udp 1 192.0.2.2 5 typ host\r\na=end-of-candidates\r\n"));
    assert_eq!(out.matches("a=end-of-candidates").count(), 1);

    let offer = sdp::parse(&server_offer()).unwrap();
    let group = offer
        .attributes
        .iter()
        .find(|a| a.key == "group")
        .unwrap()
        .value
        .clone()
        .unwrap();
    let mut answer = offer.clone();
    for a in answer.attributes.iter_mut().filter(|a| a.key == "group") {
        let mut mids: Vec<&str> = group.split_whitespace().skip(1).collect();
        mids.reverse();
        a.value = Some(format!("BUNDLE {}", mids.join(" ")));
    }
    sdp::match_bundle_order(&mut answer, &offer);
    assert_eq!(
        answer
            .attributes
            .iter()
            .find(|a| a.key == "group")
            .unwrap()
            .value
            .as_deref(),
        Some(group.as_str())
    );
}
