//! Real media for conference tests: a synthetic participant (test pattern of one colour + a
//! sine tone, encoded with red5-media's H.264 and Opus encoders, sent over RTP) and receivers
//! that decode what the server sends back.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::{client_peer, dc_texts, http, Ev};
use red5_localsm::ServerHandle;
use red5_media::codec::h264::H264Encoder;
use red5_media::codec::opus::OpusEncoder;
use red5_media::codec::{AudioEncoder, VideoCodec, VideoEncoder, VideoEncoderConfig};
use red5_media::frame::{now_unix_micros, AudioFrame, VideoFrame};
use red5_media::pipeline::{AudioReceiver, VideoReceiveOutput, VideoReceiver};
use red5_media::rtp::{RtpCodec, RtpPacketizer};
use red5_media::synthetic::{PatternColor, TestPattern};
use rtc::media_stream::MediaStreamTrack;
use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc::rtp_transceiver::rtp_sender::{
    RTCRtpCodingParameters, RTCRtpEncodingParameters, RtpCodecKind,
};
use rtc::rtp_transceiver::{RTCRtpTransceiverDirection, RTCRtpTransceiverInit};
use tokio::sync::mpsc;
use tokio::sync::watch;
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::media_stream::track_local::{TrackLocal, TrackLocalEvent};
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};
use webrtc::peer_connection::{PeerConnection, RTCPeerConnectionState, RTCSessionDescription};

/// Decoded mono 48 kHz samples, appended as they arrive.
pub type Pcm = Arc<Mutex<Vec<f32>>>;

pub const W: u32 = 320;
pub const H: u32 = 180;

pub fn rtp_track(kind: RtpCodecKind, stream_id: &str) -> (Arc<TrackLocalStaticRTP>, u32) {
    let ssrc = rand::random::<u32>();
    let (codec, label) = match kind {
        RtpCodecKind::Video => (super::h264(), "video"),
        _ => (
            rtc::rtp_transceiver::rtp_sender::RTCRtpCodec {
                mime_type: "audio/opus".into(),
                clock_rate: 48_000,
                channels: 2,
                sdp_fmtp_line: "minptime=10;useinbandfec=1".into(),
                rtcp_feedback: vec![],
            },
            "audio",
        ),
    };
    let t = TrackLocalStaticRTP::new(MediaStreamTrack::new(
        stream_id.into(),
        format!("{label}-{ssrc:08x}"),
        label.into(),
        kind,
        vec![RTCRtpEncodingParameters {
            rtp_coding_parameters: RTCRtpCodingParameters {
                ssrc: Some(ssrc),
                ..Default::default()
            },
            codec,
            ..Default::default()
        }],
    ));
    (Arc::new(t), ssrc)
}

/// Sends a pattern of `color` (15 fps) and a tone of `freq` Hz until dropped.
pub struct Synth {
    stop: Arc<AtomicBool>,
}

impl Drop for Synth {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
    }
}

#[allow(clippy::too_many_arguments)]
pub fn synth(
    video: (Arc<TrackLocalStaticRTP>, u32, u8),
    audio: (Arc<TrackLocalStaticRTP>, u32, u8),
    color: PatternColor,
    freq: f32,
) -> Synth {
    let stop = Arc::new(AtomicBool::new(false));
    let key = Arc::new(AtomicBool::new(true));
    // Answer PLIs with a key frame.
    for t in [video.0.clone(), audio.0.clone()] {
        let key = key.clone();
        tokio::spawn(async move {
            while let Some(TrackLocalEvent::OnRtcpPacket(p)) = t.poll().await {
                if p.iter()
                    .any(|p| p.as_any().downcast_ref::<PictureLossIndication>().is_some())
                {
                    key.store(true, Ordering::Release);
                }
            }
        });
    }
    let s = stop.clone();
    tokio::spawn(async move {
        let mut cfg = VideoEncoderConfig::new(W, H, 15, 300_000);
        cfg.keyframe_interval = 15;
        cfg.allow_frame_drop = false;
        let mut enc = H264Encoder::new(cfg).unwrap();
        let mut opus = OpusEncoder::new(1, 32_000).unwrap();
        let pattern = TestPattern::new(W, H, color);
        let r = || rand::random::<u32>();
        let mut vp = RtpPacketizer::new(RtpCodec::H264, video.2, video.1, r() as u16, r());
        let mut ap = RtpPacketizer::new(RtpCodec::Opus, audio.2, audio.1, r() as u16, r());
        let mut tick = tokio::time::interval(Duration::from_millis(20));
        let mut n: u64 = 0;
        let mut phase = 0f32;
        while !s.load(Ordering::Acquire) {
            tick.tick().await;
            let media_time = Duration::from_millis(20 * n);
            let samples: Vec<f32> = (0..960)
                .map(|_| {
                    phase += freq / 48_000.0;
                    0.3 * (phase * std::f32::consts::TAU).sin()
                })
                .collect();
            phase = phase.fract();
            let af = AudioFrame {
                samples,
                channels: 1,
                sample_rate: 48_000,
                timestamp: media_time,
            };
            if let Ok(pkt) = opus.encode(&af) {
                for p in ap.packetize(&pkt, media_time).unwrap() {
                    let _ = audio.0.write_rtp(p).await;
                }
            }
            // 1 video frame every 4 audio frames: 12.5 fps.
            if n.is_multiple_of(4) {
                if key.swap(false, Ordering::AcqRel) {
                    enc.request_keyframe();
                }
                let f = pattern.render((n / 4) as u32, now_unix_micros());
                if let Ok(Some(e)) = enc.encode(&f) {
                    for p in vp.packetize(&e.data, media_time).unwrap() {
                        let _ = video.0.write_rtp(p).await;
                    }
                }
            }
            n += 1;
        }
    });
    Synth { stop }
}

/// The latest decoded picture of a remote video track and how many were decoded.
pub struct VideoSink {
    pub latest: watch::Receiver<Option<Arc<VideoFrame>>>,
    pub decoded: Arc<AtomicU64>,
    /// Frames received (distinct RTP timestamps), decodable or not.
    pub frames: Arc<AtomicU64>,
    /// For every key frame received: the value of `frames` when it arrived.
    pub key_at: Arc<Mutex<Vec<u64>>>,
    pub track: Arc<dyn TrackRemote>,
}

/// H.264 RTP payload that starts an IDR or SPS (single NAL, STAP-A, FU-A start).
pub fn h264_key_start(p: &[u8]) -> bool {
    let key = |t: u8| t == 5 || t == 7;
    match p.first().map(|b| b & 0x1f) {
        Some(24) => p.get(3).is_some_and(|b| key(b & 0x1f)),
        Some(28) => p.get(1).is_some_and(|b| b & 0x80 != 0 && key(b & 0x1f)),
        Some(t) => key(t),
        None => false,
    }
}

/// Sends the sender of `track` a PLI.
pub async fn send_pli(track: &Arc<dyn TrackRemote>) {
    let media_ssrc = track.ssrcs().await.first().copied().unwrap_or(0);
    let pli = PictureLossIndication {
        sender_ssrc: 0,
        media_ssrc,
    };
    track.write_rtcp(vec![Box::new(pli)]).await.unwrap();
}

pub fn decode_video(track: Arc<dyn TrackRemote>) -> VideoSink {
    let (tx, rx) = watch::channel(None);
    let decoded = Arc::new(AtomicU64::new(0));
    let d = decoded.clone();
    let frames = Arc::new(AtomicU64::new(0));
    let key_at: Arc<Mutex<Vec<u64>>> = Arc::default();
    let (fr, ka, sink_track) = (frames.clone(), key_at.clone(), track.clone());
    tokio::spawn(async move {
        let mut rcv = VideoReceiver::new(VideoCodec::H264).unwrap();
        let mut last_ts = None;
        let mut last_key_ts = None;
        while let Some(ev) = track.poll().await {
            if let TrackRemoteEvent::OnRtpPacket(p) = ev {
                let ts = p.header.timestamp;
                if last_ts != Some(ts) {
                    last_ts = Some(ts);
                    fr.fetch_add(1, Ordering::Relaxed);
                }
                if last_key_ts != Some(ts) && h264_key_start(&p.payload) {
                    last_key_ts = Some(ts);
                    ka.lock().unwrap().push(fr.load(Ordering::Relaxed));
                }
                rcv.push(p, Instant::now());
                for out in rcv.poll(Instant::now()) {
                    match out {
                        VideoReceiveOutput::Frame { frame, .. } => {
                            d.fetch_add(1, Ordering::Relaxed);
                            let _ = tx.send(Some(Arc::new(frame)));
                        }
                        VideoReceiveOutput::KeyframeNeeded => {
                            let media_ssrc = track.ssrcs().await.first().copied().unwrap_or(0);
                            let pli = PictureLossIndication {
                                sender_ssrc: 0,
                                media_ssrc,
                            };
                            let _ = track.write_rtcp(vec![Box::new(pli)]).await;
                        }
                    }
                }
            }
        }
    });
    VideoSink {
        latest: rx,
        decoded,
        frames,
        key_at,
        track: sink_track,
    }
}

/// Decoded mono 48 kHz audio of a remote track (all of it, appended).
pub fn decode_audio(track: Arc<dyn TrackRemote>) -> Arc<Mutex<Vec<f32>>> {
    let pcm = Arc::new(Mutex::new(Vec::new()));
    let out = pcm.clone();
    tokio::spawn(async move {
        let mut rcv = AudioReceiver::new(1).unwrap();
        while let Some(ev) = track.poll().await {
            if let TrackRemoteEvent::OnRtpPacket(p) = ev {
                rcv.push(p, Instant::now());
                for (f, _) in rcv.poll(Instant::now()) {
                    out.lock().unwrap().extend_from_slice(&f.samples);
                }
            }
        }
    });
    pcm
}

/// The last `secs` seconds of decoded audio.
pub fn tail(pcm: &Mutex<Vec<f32>>, secs: f32) -> Vec<f32> {
    let v = pcm.lock().unwrap();
    let n = ((48_000.0 * secs) as usize).min(v.len());
    v[v.len() - n..].to_vec()
}

/// Which pattern colour fills `rect` of a composite (the source aspect is kept inside it).
pub fn color_in(frame: &VideoFrame, rect: red5_mixer::Rect) -> Option<PatternColor> {
    let r = rect.fit(W, H);
    let (x, y, w, h) = (
        r.x as usize,
        r.y as usize,
        r.width as usize,
        r.height as usize,
    );
    // The pattern's reference patch (bottom right, base colour only).
    let (px, py, pw, ph) = (x + w * 3 / 4, y + h * 4 / 5, w / 5, h / 8);
    let (my, mu, mv) = frame.mean_yuv(px, py, pw.max(2), ph.max(2));
    PatternColor::ALL
        .into_iter()
        .map(|c| {
            let (cy, cu, cv) = c.yuv();
            let d = (my - f32::from(cy)).powi(2)
                + (mu - f32::from(cu)).powi(2)
                + (mv - f32::from(cv)).powi(2);
            (c, d)
        })
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .filter(|(_, d)| d.sqrt() < 40.0)
        .map(|(c, _)| c)
}

/// Tone power of `freq` relative to the block's total power (0..~0.5 for a pure tone).
pub fn has_tone(samples: &[f32], freq: f32) -> f32 {
    red5_media::analysis::tone_power(samples, 48_000, freq)
}

pub async fn gathered(ev: &mut mpsc::UnboundedReceiver<Ev>, keep: &mut Vec<Ev>) {
    while let Some(e) = ev.recv().await {
        match e {
            Ev::Gathered => break,
            Ev::Cand(_) => {}
            other => keep.push(other),
        }
    }
}

pub async fn connected(ev: &mut mpsc::UnboundedReceiver<Ev>, keep: &mut Vec<Ev>) {
    loop {
        match tokio::time::timeout(Duration::from_secs(20), ev.recv())
            .await
            .expect("connected in time")
            .unwrap()
        {
            Ev::State(RTCPeerConnectionState::Connected) => break,
            Ev::State(RTCPeerConnectionState::Failed) => panic!("peer connection failed"),
            other => keep.push(other),
        }
    }
}

/// A WHIP publisher (SM2 proxy path) sending a pattern + tone.
pub struct WhipPub {
    pub pc: Arc<dyn PeerConnection>,
    pub resource: String,
    _synth: Synth,
}

pub async fn whip_publish(s: &ServerHandle, guid: &str, color: PatternColor, freq: f32) -> WhipPub {
    let (pc, mut ev) = client_peer().await;
    let _dc = pc.create_data_channel("red5pro", None).await.unwrap();
    let (vt, vssrc) = rtp_track(RtpCodecKind::Video, guid);
    let (at, assrc) = rtp_track(RtpCodecKind::Audio, guid);
    pc.add_track(vt.clone() as Arc<dyn TrackLocal>)
        .await
        .unwrap();
    pc.add_track(at.clone() as Arc<dyn TrackLocal>)
        .await
        .unwrap();
    let offer = pc.create_offer(None).await.unwrap();
    pc.set_local_description(offer).await.unwrap();
    let mut keep = vec![];
    gathered(&mut ev, &mut keep).await;
    let sdp = pc.local_description().await.unwrap().sdp;
    let path = format!("/as/v1/proxy/whip/{guid}");
    let r = http(
        &s.base_url(),
        "POST",
        &path,
        &[("Content-Type", "application/sdp")],
        &sdp,
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    pc.set_remote_description(RTCSessionDescription::answer(r.body).unwrap())
        .await
        .unwrap();
    connected(&mut ev, &mut keep).await;
    tokio::spawn(async move { while ev.recv().await.is_some() {} });
    let synth = synth((vt, vssrc, 102), (at, assrc, 111), color, freq);
    WhipPub {
        pc,
        resource: path,
        _synth: synth,
    }
}

/// A WHEP subscriber that decodes video and audio and sees data channel messages.
pub struct WhepSub {
    pub _pc: Arc<dyn PeerConnection>,
    pub video: VideoSink,
    pub audio: Arc<Mutex<Vec<f32>>>,
    pub dc: mpsc::UnboundedReceiver<String>,
}

pub async fn whep_subscribe(s: &ServerHandle, guid: &str) -> WhepSub {
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
    let dc = dc_texts(pc.create_data_channel("red5pro", None).await.unwrap());
    let path = format!(
        "/as/v1/proxy/whep/{guid}?requestId=sub-{:x}",
        rand::random::<u32>()
    );
    let r = http(
        &s.base_url(),
        "POST",
        &path,
        &[("Content-Type", "application/sdp")],
        "",
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    pc.set_remote_description(RTCSessionDescription::offer(r.body).unwrap())
        .await
        .unwrap();
    let answer = pc.create_answer(None).await.unwrap();
    pc.set_local_description(answer).await.unwrap();
    let mut keep = vec![];
    gathered(&mut ev, &mut keep).await;
    let local = pc.local_description().await.unwrap().sdp;
    let r = http(
        &s.base_url(),
        "PATCH",
        &path,
        &[("Content-Type", "application/sdp")],
        &local,
    )
    .await;
    assert_eq!(r.status, 204, "{}", r.body);
    let frag = red5_signal::whip::SdpFrag::from_local_sdp(&local).to_body();
    let r = http(
        &s.base_url(),
        "PATCH",
        &path,
        &[("Content-Type", "application/trickle-ice-sdpfrag")],
        &frag,
    )
    .await;
    assert_eq!(r.status, 204);
    let mut video = None;
    let mut audio = None;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let mut pending = keep.into_iter();
    while video.is_none() || audio.is_none() {
        let e = match pending.next() {
            Some(e) => e,
            None => tokio::time::timeout_at(deadline, ev.recv())
                .await
                .expect("tracks in time")
                .unwrap(),
        };
        if let Ev::Track(t) = e {
            match t.kind().await {
                RtpCodecKind::Video => video = Some(decode_video(t)),
                _ => audio = Some(decode_audio(t)),
            }
        }
    }
    tokio::spawn(async move { while ev.recv().await.is_some() {} });
    WhepSub {
        _pc: pc,
        video: video.unwrap(),
        audio: audio.unwrap(),
        dc,
    }
}

/// Waits (bounded) until `f` holds for the latest decoded picture.
pub async fn until_frame(
    v: &mut VideoSink,
    what: &str,
    f: impl Fn(&VideoFrame) -> bool,
) -> Arc<VideoFrame> {
    tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            if let Some(fr) = v.latest.borrow_and_update().clone() {
                if f(&fr) {
                    return fr;
                }
            }
            v.latest.changed().await.unwrap();
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no composite frame where {what}"))
}

/// A joinGroup participant (§7.6) over the SM1 WS proxy, sending a pattern + tone and
/// decoding the composite and its mix-minus tracks.
pub struct Participant {
    pub pc: Arc<dyn PeerConnection>,
    pub ws: super::Ws,
    pub id: String,
    pub composite: Arc<Mutex<Option<VideoSink>>>,
    pub audio: Arc<Mutex<Vec<Pcm>>>,
    _synth: Synth,
}

pub async fn join(
    s: &ServerHandle,
    app: &str,
    group: &str,
    name: &str,
    color: PatternColor,
    freq: f32,
) -> Participant {
    use super::{ws_connect, ws_next, ws_send};
    use serde_json::json;
    let mut ws = ws_connect(&format!(
        "{}/streammanager/?id={name}&host=127.0.0.1&app={app}",
        s.ws_url()
    ))
    .await;
    assert_eq!(
        ws_next(&mut ws).await.unwrap()["data"]["code"],
        "NetConnection.Connect.Success"
    );
    let (pc, mut ev) = client_peer().await;
    let (vt, vssrc) = rtp_track(RtpCodecKind::Video, name);
    let (at, assrc) = rtp_track(RtpCodecKind::Audio, name);
    pc.add_track(at.clone() as Arc<dyn TrackLocal>)
        .await
        .unwrap();
    for kind in [
        RtpCodecKind::Audio,
        RtpCodecKind::Audio,
        RtpCodecKind::Audio,
    ] {
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
    pc.add_track(vt.clone() as Arc<dyn TrackLocal>)
        .await
        .unwrap();
    pc.add_transceiver_from_kind(
        RtpCodecKind::Video,
        Some(RTCRtpTransceiverInit {
            direction: RTCRtpTransceiverDirection::Recvonly,
            ..Default::default()
        }),
    )
    .await
    .unwrap();
    let offer = pc.create_offer(None).await.unwrap();
    pc.set_local_description(offer.clone()).await.unwrap();
    ws_send(
        &mut ws,
        json!({"joinGroup": group, "streamName": name, "transport": "udp",
               "data": {"sdp": {"type": "offer", "sdp": offer.sdp}}}),
    )
    .await;
    let composite: Arc<Mutex<Option<VideoSink>>> = Arc::default();
    let audio: Arc<Mutex<Vec<Pcm>>> = Arc::default();
    let on_track = {
        let (composite, audio) = (composite.clone(), audio.clone());
        move |t: Arc<dyn TrackRemote>, kind: RtpCodecKind| match kind {
            RtpCodecKind::Video => *composite.lock().unwrap() = Some(decode_video(t)),
            _ => audio.lock().unwrap().push(decode_audio(t)),
        }
    };
    let mut id = None::<String>;
    loop {
        tokio::select! {
            m = ws_next(&mut ws) => {
                let v = m.expect("socket open during joinGroup");
                let d = &v["data"];
                if d["sdp"]["type"] == "answer" {
                    id = Some(d["participantId"].as_str().expect("participantId in the answer").to_owned());
                    let sdp = d["sdp"]["sdp"].as_str().unwrap().to_owned();
                    pc.set_remote_description(RTCSessionDescription::answer(sdp).unwrap()).await.unwrap();
                } else if d["type"] == "candidate" {
                    if let Some(c) = d["candidate"]["candidate"].as_str() {
                        let init = webrtc::peer_connection::RTCIceCandidateInit {
                            candidate: c.to_owned(),
                            sdp_mid: d["candidate"]["sdpMid"].as_str().map(str::to_owned),
                            sdp_mline_index: d["candidate"]["sdpMLineIndex"].as_u64().map(|i| i as u16),
                            ..Default::default()
                        };
                        pc.add_ice_candidate(init).await.unwrap();
                    }
                } else if let (Some(msg), Some(pid)) = (d["message"].as_str(), id.as_deref()) {
                    if msg == format!("participant {pid} starting {group}") {
                        break;
                    }
                } else if d["type"] == "error" {
                    panic!("server error during joinGroup: {v}");
                }
            }
            Some(e) = ev.recv() => match e {
                Ev::Cand(c) => {
                    let who = id.clone().unwrap_or_else(|| name.to_owned());
                    let cand = json!({"candidate": c.candidate, "sdpMid": c.sdp_mid, "sdpMLineIndex": c.sdp_mline_index});
                    ws_send(&mut ws, json!({"handleCandidate": who, "data": {"candidate": cand}})).await;
                }
                // SDK 11's end marker has no handleCandidate key.
                Ev::Gathered => ws_send(&mut ws, json!({"data": {"candidate": {"type": "candidate", "candidate": ""}}})).await,
                Ev::Track(t) => { let k = t.kind().await; on_track(t, k) }
                _ => {}
            }
        }
    }
    tokio::spawn(async move {
        while let Some(e) = ev.recv().await {
            if let Ev::Track(t) = e {
                let k = t.kind().await;
                on_track(t, k);
            }
        }
    });
    let synth = synth((vt, vssrc, 102), (at, assrc, 111), color, freq);
    Participant {
        pc,
        ws,
        id: id.unwrap(),
        composite,
        audio,
        _synth: synth,
    }
}

impl Participant {
    /// Max tone power of `freq` over the mix-minus tracks in the last `secs`.
    pub fn tone(&self, freq: f32, secs: f32) -> f32 {
        self.audio
            .lock()
            .unwrap()
            .iter()
            .map(|pcm| {
                let a = tail(pcm, secs);
                if a.len() < (48_000.0 * secs * 0.8) as usize {
                    0.0
                } else {
                    has_tone(&a, freq)
                }
            })
            .fold(0.0, f32::max)
    }

    /// Tone power of each of `freqs` on each mix-minus track (last `secs`).
    pub fn per_track(&self, freqs: &[f32], secs: f32) -> Vec<Vec<f32>> {
        self.audio
            .lock()
            .unwrap()
            .iter()
            .map(|pcm| {
                let a = tail(pcm, secs);
                freqs.iter().map(|f| has_tone(&a, *f)).collect()
            })
            .collect()
    }

    pub fn audio_tracks(&self) -> usize {
        self.audio.lock().unwrap().len()
    }

    /// The latest composite picture (None before the first one).
    pub fn picture(&self) -> Option<Arc<VideoFrame>> {
        self.composite
            .lock()
            .unwrap()
            .as_ref()
            .and_then(|v| v.latest.borrow().clone())
    }
}

/// Polls `f` every 100 ms for up to 30 s.
pub async fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let t = Instant::now();
    while !f() {
        assert!(t.elapsed() < Duration::from_secs(30), "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
