//! End to end through the SFU with real webrtc-rs clients: WHIP publisher → server → WHEP and
//! WS subscribers; RTP arrives, metadata is relayed (and replayed to late joiners), unpublish
//! is announced.
#![allow(clippy::unwrap_used)] // tests may unwrap

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use red5_localsm::{LocalServer, ServerConfig, ServerHandle};
use rtc::media::Sample;
use rtc::rtp_transceiver::rtp_sender::RtpCodecKind;
use rtc::rtp_transceiver::{RTCRtpTransceiverDirection, RTCRtpTransceiverInit};
use serde_json::{json, Value};
use tokio::sync::mpsc;
use webrtc::data_channel::DataChannel;
use webrtc::media_stream::track_local::TrackLocal;
use webrtc::peer_connection::{PeerConnection, RTCPeerConnectionState, RTCSessionDescription};

struct Publisher {
    pc: Arc<dyn PeerConnection>,
    dc: Arc<dyn DataChannel>,
    stop: mpsc::UnboundedSender<()>,
}

async fn wait_gathered(ev: &mut mpsc::UnboundedReceiver<Ev>, keep: &mut Vec<Ev>) {
    while let Some(e) = ev.recv().await {
        match e {
            Ev::Gathered => break,
            Ev::Cand(_) => {}
            other => keep.push(other),
        }
    }
}

/// WHIP publish through the SM2 proxy path, then stream synthetic H.264 frames.
async fn whip_publish(s: &ServerHandle, path: &str) -> Publisher {
    let (pc, mut ev) = client_peer().await;
    let dc = pc.create_data_channel("red5pro", None).await.unwrap();
    let track = h264_track(0x0102_0304);
    let sender = pc
        .add_track(track.clone() as Arc<dyn TrackLocal>)
        .await
        .unwrap();
    let offer = pc.create_offer(None).await.unwrap();
    pc.set_local_description(offer).await.unwrap();
    let mut keep = Vec::new();
    wait_gathered(&mut ev, &mut keep).await;
    let offer = pc.local_description().await.unwrap().sdp;
    let r = http(
        &s.base_url(),
        "POST",
        path,
        &[("Content-Type", "application/sdp")],
        &offer,
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    pc.set_remote_description(RTCSessionDescription::answer(r.body).unwrap())
        .await
        .unwrap();
    // Wait until connected, then stream 30 fps until stopped.
    loop {
        match ev.recv().await.unwrap() {
            Ev::State(RTCPeerConnectionState::Connected) => break,
            Ev::State(RTCPeerConnectionState::Failed) => panic!("publisher failed"),
            _ => {}
        }
    }
    let pt = sender.get_parameters().await.unwrap().rtp_parameters.codecs[0].payload_type;
    let (stop, mut stop_rx) = mpsc::unbounded_channel::<()>();
    tokio::spawn(async move {
        let _ev = ev; // keep the event channel alive
        let mut i = 0u32;
        loop {
            if stop_rx.try_recv().is_ok() {
                break;
            }
            let f = fake_h264_frame(i, if i.is_multiple_of(30) { 20_000 } else { 3_000 });
            let s = Sample {
                data: f,
                duration: Duration::from_millis(33),
                ..Sample::new(std::time::Instant::now())
            };
            if track
                .sample_writer(0x0102_0304, pt)
                .write_sample(&s)
                .await
                .is_err()
            {
                break;
            }
            i += 1;
            tokio::time::sleep(Duration::from_millis(33)).await;
        }
    });
    Publisher { pc, dc, stop }
}

struct Subscriber {
    _pc: Arc<dyn PeerConnection>,
    rtp: mpsc::UnboundedReceiver<()>,
    dc: mpsc::UnboundedReceiver<String>,
}

/// Red5 WHEP: POST → server offer → PATCH answer → PATCH sdpfrag.
async fn whep_subscribe(s: &ServerHandle, path: &str) -> Subscriber {
    let (pc, mut ev) = client_peer().await;
    for kind in [RtpCodecKind::Video, RtpCodecKind::Audio] {
        pc.add_transceiver_from_kind(
            kind,
            Some(RTCRtpTransceiverInit {
                direction: RTCRtpTransceiverDirection::Recvonly,
                ..Default::default()
            }),
        )
        .await
        .unwrap();
    }
    let dc = pc.create_data_channel("red5pro", None).await.unwrap();
    let dc_rx = dc_texts(dc);
    let r = http(
        &s.base_url(),
        "POST",
        path,
        &[("Content-Type", "application/sdp")],
        "",
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert!(r.body.contains("a=ice-options:trickle"));
    assert!(r.body.contains("o=red5pro "));
    let loc = r.header("location").unwrap().to_owned();
    let query = path
        .split_once('?')
        .map(|(_, q)| format!("?{q}"))
        .unwrap_or_default();
    let resource = format!("{loc}{query}");
    pc.set_remote_description(RTCSessionDescription::offer(r.body).unwrap())
        .await
        .unwrap();
    let answer = pc.create_answer(None).await.unwrap();
    pc.set_local_description(answer).await.unwrap();
    let mut keep = Vec::new();
    wait_gathered(&mut ev, &mut keep).await;
    let local = pc.local_description().await.unwrap().sdp;
    let r = http(
        &s.base_url(),
        "PATCH",
        &resource,
        &[("Content-Type", "application/sdp")],
        &local,
    )
    .await;
    assert_eq!(r.status, 204, "{}", r.body);
    let frag = red5_signal::whip::SdpFrag::from_local_sdp(&local).to_body();
    let r = http(
        &s.base_url(),
        "PATCH",
        &resource,
        &[("Content-Type", "application/trickle-ice-sdpfrag")],
        &frag,
    )
    .await;
    assert_eq!(r.status, 204);
    let (rtp_tx, rtp) = mpsc::unbounded_channel();
    let mut pending = keep;
    tokio::spawn(async move {
        loop {
            let e = match pending.pop() {
                Some(e) => e,
                None => match ev.recv().await {
                    Some(e) => e,
                    None => break,
                },
            };
            if let Ev::Track(t) = e {
                let mut c = count_rtp(t);
                let tx = rtp_tx.clone();
                tokio::spawn(async move {
                    while c.recv().await.is_some() {
                        if tx.send(()).is_err() {
                            break;
                        }
                    }
                });
            }
        }
    });
    Subscriber {
        _pc: pc,
        rtp,
        dc: dc_rx,
    }
}

async fn recv_rtp(sub: &mut Subscriber, n: usize) {
    for _ in 0..n {
        tokio::time::timeout(Duration::from_secs(20), sub.rtp.recv())
            .await
            .expect("RTP in time")
            .unwrap();
    }
}

async fn dc_json_until(
    rx: &mut mpsc::UnboundedReceiver<String>,
    pred: impl Fn(&Value) -> bool,
) -> Value {
    loop {
        let t = tokio::time::timeout(Duration::from_secs(20), rx.recv())
            .await
            .expect("DC message in time")
            .unwrap();
        if let Ok(v) = serde_json::from_str::<Value>(&t) {
            if pred(&v) {
                return v;
            }
        }
    }
}

async fn wait_dc_open(rx: &mut mpsc::UnboundedReceiver<String>) {
    loop {
        let t = tokio::time::timeout(Duration::from_secs(20), rx.recv())
            .await
            .expect("DC open in time")
            .unwrap();
        if t == "<open>" {
            return;
        }
    }
}

#[tokio::test]
async fn whip_to_whep_media_metadata_and_unpublish() {
    let s = LocalServer::start(ServerConfig::default()).await.unwrap();
    let publisher = whip_publish(
        &s,
        "/as/v1/proxy/whip/live/room1/cam?signal=true&mode=live&keyFramerate=3000",
    )
    .await;
    let mut pub_dc = dc_texts(publisher.dc.clone());
    wait_dc_open(&mut pub_dc).await;

    let mut early = whep_subscribe(
        &s,
        "/as/v1/proxy/whep/live/room1/cam?requestId=sub-early&signal=true",
    )
    .await;
    recv_rtp(&mut early, 20).await;
    wait_dc_open(&mut early.dc).await;
    assert_eq!(s.subscriber_count("live/room1/cam"), 1);

    // Double POST with the same requestId.
    let r = http(
        &s.base_url(),
        "POST",
        "/as/v1/proxy/whep/live/room1/cam?requestId=sub-early",
        &[],
        "",
    )
    .await;
    assert_eq!(
        (r.status, r.body.as_str()),
        (400, "Offer already sent, double POST assumed.")
    );

    // Metadata twice: the late joiner must get the latest.
    for text in ["first", "second ✓"] {
        let m = json!({"send":{"method":"onMetaData","data":{"metadata": text}}});
        publisher
            .dc
            .send_text(&serde_json::to_string_pretty(&m).unwrap())
            .await
            .unwrap();
        let v = dc_json_until(&mut early.dc, |v| v["type"] == "metadata").await;
        assert_eq!(
            v,
            json!({"type":"metadata","method":"onMetaData","data":{"metadata": text}})
        );
    }
    // Any other method is relayed too.
    publisher
        .dc
        .send_text(r#"{"send":{"method":"onCue","data":{"n":1}}}"#)
        .await
        .unwrap();
    let v = dc_json_until(&mut early.dc, |v| v["method"] == "onCue").await;
    assert_eq!(v["data"], json!({"n":1}));

    let mut late = whep_subscribe(&s, "/live/room1/whep/endpoint/cam?requestId=sub-late").await;
    let v = dc_json_until(&mut late.dc, |v| v["type"] == "metadata").await;
    assert_eq!(v["data"], json!({"metadata":"second ✓"}));
    recv_rtp(&mut late, 20).await;
    assert_eq!(s.subscriber_count("live/room1/cam"), 2);

    // Unpublish (WHIP DELETE): subscribers are told on their data channel.
    let _ = publisher.stop.send(());
    let r = http(
        &s.base_url(),
        "DELETE",
        "/as/v1/proxy/whip/live/room1/cam",
        &[],
        "",
    )
    .await;
    assert_eq!(r.status, 200);
    for sub in [&mut early, &mut late] {
        let v = dc_json_until(&mut sub.dc, |v| v["data"]["status"].is_string()).await;
        assert_eq!(
            v,
            json!({"data":{"status":"NetStream.Play.UnpublishNotify"}})
        );
    }
    assert!(s.published_streams().is_empty());
    let _ = publisher.pc.close().await;
    s.shutdown().await;
}
