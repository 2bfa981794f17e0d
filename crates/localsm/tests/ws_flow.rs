//! The legacy WebSocket signalling end to end with webrtc-rs clients: SM1 WS proxy publisher,
//! SM2 WS proxy subscriber, trickle, start statuses, metadata replay after the start status, the
//! switch to the data channel (the stream survives the WS close), relay after the switch, and
//! unpublish over the data channel.
#![allow(clippy::unwrap_used)] // tests may unwrap

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use red5_localsm::{LocalServer, ServerConfig};
use rtc::media::Sample;
use rtc::rtp_transceiver::rtp_sender::RtpCodecKind;
use rtc::rtp_transceiver::{RTCRtpTransceiverDirection, RTCRtpTransceiverInit};
use serde_json::{json, Value};
use tokio::sync::mpsc;
use webrtc::media_stream::track_local::TrackLocal;
use webrtc::media_stream::track_remote::TrackRemote;
use webrtc::peer_connection::{PeerConnection, RTCIceCandidateInit, RTCSessionDescription};

/// Drives the signalling until `"<name> starting"`; returns the remote tracks seen.
async fn negotiate(
    ws: &mut Ws,
    pc: &Arc<dyn PeerConnection>,
    ev: &mut mpsc::UnboundedReceiver<Ev>,
    name: &str,
    request_id: Option<&str>,
) -> (Vec<Arc<dyn TrackRemote>>, Value, bool) {
    let mut tracks = Vec::new();
    let mut trickle_done = false;
    let mut available_first = false;
    let with_rid = |mut v: Value| {
        if let Some(r) = request_id {
            v["requestId"] = json!(r);
        }
        v
    };
    loop {
        tokio::select! {
            m = ws_next(ws) => {
                let v = m.expect("socket open during negotiation");
                let d = &v["data"];
                if let Some(sdp) = d["sdp"]["sdp"].as_str() {
                    if d["sdp"]["type"] == "answer" {
                        pc.set_remote_description(RTCSessionDescription::answer(sdp.to_owned()).unwrap()).await.unwrap();
                    } else {
                        pc.set_remote_description(RTCSessionDescription::offer(sdp.to_owned()).unwrap()).await.unwrap();
                        let a = pc.create_answer(None).await.unwrap();
                        pc.set_local_description(a.clone()).await.unwrap();
                        ws_send(ws, with_rid(json!({"handleAnswer": name, "data": {"sdp": {"type": "answer", "sdp": a.sdp}}}))).await;
                    }
                } else if d["type"] == "candidate" {
                    let c = &d["candidate"];
                    if let Some(cand) = c["candidate"].as_str() {
                        assert!(c["sdpMid"].is_string(), "server candidates carry sdpMid: {v}");
                        let init = RTCIceCandidateInit {
                            candidate: cand.to_owned(),
                            sdp_mid: c["sdpMid"].as_str().map(str::to_owned),
                            sdp_mline_index: c["sdpMLineIndex"].as_u64().map(|i| i as u16),
                            ..Default::default()
                        };
                        pc.add_ice_candidate(init).await.unwrap();
                    } else {
                        assert_eq!(c, &json!({}), "end marker is an empty candidate");
                    }
                } else if d["code"] == "NetConnection.ICE.TrickleCompleted" {
                    trickle_done = true;
                    let op = if request_id.is_some() { "subscribe" } else { "publish" };
                    let mut m = with_rid(json!({ op: name }));
                    if op == "publish" {
                        m["mode"] = json!("live");
                        m["keyFramerate"] = json!(3000);
                    }
                    ws_send(ws, m).await;
                } else if d["code"] == "NetConnection.DataChannel.Available" {
                    available_first = true;
                } else if d["message"] == format!("{name} starting") {
                    assert!(trickle_done);
                    return (tracks, v, available_first);
                } else if d["type"] == "error" {
                    panic!("server error during negotiation: {v}");
                }
            }
            Some(e) = ev.recv() => match e {
                Ev::Cand(c) => {
                    let cand = json!({"candidate": c.candidate, "sdpMid": c.sdp_mid, "sdpMLineIndex": c.sdp_mline_index});
                    ws_send(ws, with_rid(json!({"handleCandidate": name, "data": {"candidate": cand}}))).await;
                }
                Ev::Gathered => {
                    ws_send(ws, json!({"handleCandidate": name, "data": {"candidate": {"type": "candidate", "candidate": ""}}})).await;
                }
                Ev::Track(t) => tracks.push(t),
                _ => {}
            }
        }
    }
}

async fn dc_until(
    rx: &mut mpsc::UnboundedReceiver<String>,
    what: &str,
    pred: impl Fn(&Value) -> bool,
) -> Value {
    loop {
        let t = tokio::time::timeout(Duration::from_secs(20), rx.recv())
            .await
            .unwrap_or_else(|_| panic!("{what}: timed out"))
            .unwrap_or_else(|| panic!("{what}: data channel closed"));
        if let Ok(v) = serde_json::from_str::<Value>(&t) {
            if pred(&v) {
                return v;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ws_publish_and_subscribe_with_switch_to_data_channel() {
    let s = LocalServer::start(ServerConfig::default()).await.unwrap();

    // ---- publisher over the SM1 proxy
    let mut pws = ws_connect(&format!(
        "{}/streammanager/?id=cam&host=127.0.0.1&app=live",
        s.ws_url()
    ))
    .await;
    assert_eq!(
        ws_next(&mut pws).await.unwrap()["data"]["code"],
        "NetConnection.Connect.Success"
    );
    ws_send(&mut pws, json!({"isAvailable": "cam", "bundle": true})).await;
    assert_eq!(
        ws_next(&mut pws).await.unwrap(),
        json!({"isAvailable": false})
    );
    let (ppc, mut pev) = client_peer().await;
    let pdc = ppc.create_data_channel("red5pro", None).await.unwrap();
    let mut pdc_rx = dc_texts(pdc.clone());
    let track = h264_track(0xabcd);
    let sender = ppc
        .add_track(track.clone() as Arc<dyn TrackLocal>)
        .await
        .unwrap();
    let o = ppc.create_offer(None).await.unwrap();
    ppc.set_local_description(o.clone()).await.unwrap();
    ws_send(&mut pws, json!({"handleOffer": "cam", "transport": "udp", "data": {"sdp": {"type": "offer", "sdp": o.sdp}}})).await;
    let (_, start, available_first) = negotiate(&mut pws, &ppc, &mut pev, "cam", None).await;
    assert!(
        start["data"].get("code").is_none(),
        "no code by default: {start}"
    );
    assert!(!available_first, "start status first by default");
    assert_eq!(s.published_streams(), vec!["live/cam".to_owned()]);
    ws_until(&mut pws, |v| {
        v["data"]["code"] == "NetConnection.DataChannel.Available"
    })
    .await;

    // Metadata sent over the WS before the switch is stored for late joiners.
    ws_send(
        &mut pws,
        json!({"send": {"method": "onMetaData", "data": {"metadata": "before switch"}}}),
    )
    .await;
    ws_send(&mut pws, json!({"switchChannel": "red5pro"})).await;
    drop(pws); // the client closes the WS after the switch; the stream must survive
    let pt = sender.get_parameters().await.unwrap().rtp_parameters.codecs[0].payload_type;
    let pump = tokio::spawn(async move {
        for i in 0..600u32 {
            let f = fake_h264_frame(i, if i.is_multiple_of(30) { 12_000 } else { 2_000 });
            let smp = Sample {
                data: f,
                duration: Duration::from_millis(33),
                ..Sample::new(std::time::Instant::now())
            };
            let _ = track.sample_writer(0xabcd, pt).write_sample(&smp).await;
            tokio::time::sleep(Duration::from_millis(33)).await;
        }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        s.published_streams(),
        vec!["live/cam".to_owned()],
        "switched publisher survives the WS close"
    );

    // ---- subscriber over the SM2 proxy path (SDK 11 puts '/' before '?')
    let mut sws = ws_connect(&format!(
        "{}/as/v1/proxy/ws/subscribe/live/cam/?id=sub1&nodeGroup=default",
        s.ws_url()
    ))
    .await;
    ws_next(&mut sws).await.unwrap();
    ws_send(&mut sws, json!({"isAvailable": "cam"})).await;
    assert_eq!(
        ws_next(&mut sws).await.unwrap(),
        json!({"isAvailable": true})
    );
    let (spc, mut sev) = client_peer().await;
    for kind in [RtpCodecKind::Video, RtpCodecKind::Audio] {
        let init = RTCRtpTransceiverInit {
            direction: RTCRtpTransceiverDirection::Recvonly,
            ..Default::default()
        };
        spc.add_transceiver_from_kind(kind, Some(init))
            .await
            .unwrap();
    }
    let sdc = spc.create_data_channel("red5pro", None).await.unwrap();
    let mut sdc_rx = dc_texts(sdc);
    ws_send(&mut sws, json!({"requestOffer": "cam", "requestId": "sub1", "transport": "udp", "datachannel": true, "doNotSwitch": false})).await;
    let (mut tracks, _, _) = negotiate(&mut sws, &spc, &mut sev, "cam", Some("sub1")).await;
    // Right after the start status: the latest metadata, form A, on the WS.
    let v = ws_next(&mut sws).await.unwrap();
    assert_eq!(
        v,
        json!({"type": "metadata", "method": "onMetaData", "data": {"metadata": "before switch"}})
    );
    ws_until(&mut sws, |v| {
        v["data"]["code"] == "NetConnection.DataChannel.Available"
    })
    .await;
    ws_send(&mut sws, json!({"switchChannel": "red5pro"})).await;
    drop(sws);

    // RTP reaches the subscriber.
    while tracks.is_empty() {
        if let Some(Ev::Track(t)) = tokio::time::timeout(Duration::from_secs(20), sev.recv())
            .await
            .unwrap()
        {
            tracks.push(t);
        }
    }
    let mut rtp = count_rtp(tracks.remove(0));
    for _ in 0..20 {
        tokio::time::timeout(Duration::from_secs(20), rtp.recv())
            .await
            .expect("RTP")
            .unwrap();
    }

    // After the switch: relay over the data channels, unpublish over the publisher's DC.
    pdc.send_text(r#"{"send":{"method":"onMetaData","data":{"metadata":"after switch"}}}"#)
        .await
        .unwrap();
    let v = dc_until(&mut sdc_rx, "subscriber metadata", |v| {
        v["type"] == "metadata"
    })
    .await;
    assert_eq!(v["data"], json!({"metadata": "after switch"}));
    pdc.send_text(r#"{"unpublish":"cam"}"#).await.unwrap();
    let v = dc_until(&mut pdc_rx, "publisher stopping", |v| {
        v["data"]["message"].is_string()
    })
    .await;
    assert_eq!(v["data"]["message"], "cam stopping");
    let v = dc_until(&mut sdc_rx, "subscriber unpublish", |v| {
        v["data"]["status"].is_string()
    })
    .await;
    assert_eq!(
        v,
        json!({"data": {"status": "NetStream.Play.UnpublishNotify"}})
    );
    assert!(s.published_streams().is_empty());
    pump.abort();
    s.shutdown().await;
}

#[tokio::test]
async fn ws_close_without_switch_ends_the_stream() {
    // Also exercises the switches: start status with code, DataChannel.Available first.
    let s = LocalServer::start(ServerConfig {
        start_status_code: true,
        dc_available_first: true,
        ..Default::default()
    })
    .await
    .unwrap();
    let mut ws = ws_connect(&format!("{}/live/room1/?id=cam", s.ws_url())).await;
    ws_next(&mut ws).await.unwrap();
    let (pc, mut ev) = client_peer().await;
    pc.create_data_channel("red5pro", None).await.unwrap();
    pc.add_track(h264_track(1) as Arc<dyn TrackLocal>)
        .await
        .unwrap();
    let o = pc.create_offer(None).await.unwrap();
    pc.set_local_description(o.clone()).await.unwrap();
    ws_send(&mut ws, json!({"handleOffer": "cam", "transport": "udp", "data": {"sdp": {"type": "offer", "sdp": o.sdp}}})).await;
    let (_, start, available_first) = negotiate(&mut ws, &pc, &mut ev, "cam", None).await;
    assert_eq!(start["data"]["code"], "NetStream.Publish.Start");
    if !available_first {
        // The channel may open after the start status even when announced first.
        ws_until(&mut ws, |v| {
            v["data"]["code"] == "NetConnection.DataChannel.Available"
        })
        .await;
    }
    assert_eq!(s.published_streams(), vec!["live/room1/cam".to_owned()]);
    drop(ws);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !s.published_streams().is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "stream not torn down after WS close"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
