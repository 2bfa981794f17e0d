//! Test helpers: a minimal HTTP/1.1 client, a WS client and webrtc-rs client peers, all on
//! real loopback sockets.
#![allow(dead_code)]

pub mod av;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use rtc::peer_connection::configuration::media_engine::{MIME_TYPE_H264, MIME_TYPE_OPUS};
use rtc::rtp_transceiver::rtp_sender::{RTCRtpCodec, RTCRtpCodecParameters, RtpCodecKind};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use webrtc::data_channel::{DataChannel, DataChannelEvent};
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};
use webrtc::peer_connection::{
    register_default_interceptors, MediaEngine, PeerConnection, PeerConnectionBuilder,
    PeerConnectionEventHandler, RTCIceCandidateInit, RTCIceGatheringState,
    RTCPeerConnectionIceEvent, RTCPeerConnectionState, Registry, SettingEngineBuilder,
};

pub struct HttpResponse {
    pub status: u16,
    pub headers: HashMap<String, String>,
    pub body: String,
}

impl HttpResponse {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }
    pub fn header(&self, k: &str) -> Option<&str> {
        self.headers
            .get(&k.to_ascii_lowercase())
            .map(String::as_str)
    }
}

/// One request on a fresh connection (`Connection: close`).
pub async fn http(
    base: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> HttpResponse {
    let host = base.trim_start_matches("http://");
    let mut s = tokio::net::TcpStream::connect(host).await.unwrap();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), s.read_to_end(&mut buf))
        .await
        .expect("HTTP response in time")
        .unwrap();
    let text = String::from_utf8_lossy(&buf).into_owned();
    let (head, rest) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: HashMap<String, String> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let body = if headers
        .get("transfer-encoding")
        .is_some_and(|t| t.contains("chunked"))
    {
        dechunk(rest)
    } else {
        rest.to_owned()
    };
    HttpResponse {
        status,
        headers,
        body,
    }
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 {
            break;
        }
        out.push_str(&rest[..n]);
        s = rest[n..].trim_start_matches("\r\n");
    }
    out
}

pub type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

pub async fn ws_connect(url: &str) -> Ws {
    tokio_tungstenite::connect_async(url)
        .await
        .expect("ws connect")
        .0
}

pub async fn ws_send(ws: &mut Ws, v: Value) {
    ws.send(Message::Text(v.to_string().into())).await.unwrap();
}

/// Next JSON text frame (pings skipped); None when the socket closed.
pub async fn ws_next(ws: &mut Ws) -> Option<Value> {
    loop {
        let m = tokio::time::timeout(Duration::from_secs(20), ws.next())
            .await
            .expect("ws frame in time")?;
        match m {
            Ok(Message::Text(t)) => return Some(serde_json::from_str(&t).expect("json frame")),
            Ok(Message::Close(_)) | Err(_) => return None,
            Ok(_) => continue,
        }
    }
}

/// Reads frames until one satisfies `pred`.
pub async fn ws_until(ws: &mut Ws, pred: impl Fn(&Value) -> bool) -> Value {
    loop {
        let v = ws_next(ws)
            .await
            .expect("socket closed before the expected frame");
        if pred(&v) {
            return v;
        }
    }
}

// ------------------------------------------------------------------------------ webrtc-rs peers

pub enum Ev {
    Cand(RTCIceCandidateInit),
    Gathered,
    State(RTCPeerConnectionState),
    Dc(Arc<dyn DataChannel>),
    Track(Arc<dyn TrackRemote>),
}

struct H(mpsc::UnboundedSender<Ev>);

#[async_trait::async_trait]
impl PeerConnectionEventHandler for H {
    async fn on_ice_candidate(&self, e: RTCPeerConnectionIceEvent) {
        if let Ok(i) = e.candidate.to_json() {
            let _ = self.0.send(Ev::Cand(i));
        }
    }
    async fn on_ice_gathering_state_change(&self, s: RTCIceGatheringState) {
        if s == RTCIceGatheringState::Complete {
            let _ = self.0.send(Ev::Gathered);
        }
    }
    async fn on_connection_state_change(&self, s: RTCPeerConnectionState) {
        let _ = self.0.send(Ev::State(s));
    }
    async fn on_data_channel(&self, dc: Arc<dyn DataChannel>) {
        let _ = self.0.send(Ev::Dc(dc));
    }
    async fn on_track(&self, t: Arc<dyn TrackRemote>) {
        let _ = self.0.send(Ev::Track(t));
    }
}

pub fn h264() -> RTCRtpCodec {
    RTCRtpCodec {
        mime_type: MIME_TYPE_H264.into(),
        clock_rate: 90_000,
        channels: 0,
        sdp_fmtp_line: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"
            .into(),
        rtcp_feedback: vec![],
    }
}

pub async fn client_peer() -> (Arc<dyn PeerConnection>, mpsc::UnboundedReceiver<Ev>) {
    let mut m = MediaEngine::default();
    m.register_codec(
        RTCRtpCodecParameters {
            rtp_codec: h264(),
            payload_type: 102,
        },
        RtpCodecKind::Video,
    )
    .unwrap();
    m.register_codec(
        RTCRtpCodecParameters {
            rtp_codec: RTCRtpCodec {
                mime_type: MIME_TYPE_OPUS.into(),
                clock_rate: 48_000,
                channels: 2,
                sdp_fmtp_line: "minptime=10;useinbandfec=1".into(),
                rtcp_feedback: vec![],
            },
            payload_type: 111,
        },
        RtpCodecKind::Audio,
    )
    .unwrap();
    let reg = register_default_interceptors(Registry::new(), &mut m).unwrap();
    let se = SettingEngineBuilder::new()
        .with_network_types(vec![rtc::ice::network_type::NetworkType::Udp4])
        .build();
    let (tx, rx) = mpsc::unbounded_channel();
    let pc = PeerConnectionBuilder::new()
        .with_media_engine(m)
        .with_interceptor_registry(reg)
        .with_setting_engine(se)
        .with_handler(Arc::new(H(tx)))
        .with_udp_addrs(vec!["127.0.0.1:0".to_owned()])
        .build()
        .await
        .unwrap();
    (Arc::new(pc), rx)
}

/// Spawns a reader that forwards a data channel's text messages (and an "<open>" marker).
pub fn dc_texts(dc: Arc<dyn DataChannel>) -> mpsc::UnboundedReceiver<String> {
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(ev) = dc.poll().await {
            match ev {
                DataChannelEvent::OnOpen => {
                    let _ = tx.send("<open>".into());
                }
                DataChannelEvent::OnMessage(m) => {
                    let _ = tx.send(String::from_utf8_lossy(&m.data).into_owned());
                }
                DataChannelEvent::OnClose => break,
                _ => {}
            }
        }
    });
    rx
}

/// Counts RTP packets of a remote track into the channel (one unit per packet).
pub fn count_rtp(track: Arc<dyn TrackRemote>) -> mpsc::UnboundedReceiver<()> {
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(ev) = track.poll().await {
            if let TrackRemoteEvent::OnRtpPacket(_) = ev {
                if tx.send(()).is_err() {
                    break;
                }
            }
        }
    });
    rx
}

pub fn fake_h264_frame(i: u32, len: usize) -> bytes::Bytes {
    // Annex-B IDR NAL with pseudo-random payload (forces FU-A fragmentation).
    let mut v = vec![0u8, 0, 0, 1, 0x65];
    let mut x = 0x1234_5678u32 ^ i;
    while v.len() < len {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        v.push((x & 0xff) as u8 | 1);
    }
    bytes::Bytes::from(v)
}

pub async fn ws_send_raw(ws: &mut Ws, t: &str) {
    ws.send(Message::Text(t.to_owned().into())).await.unwrap();
}

/// An H.264 sample track with a fixed SSRC, as a publisher would add.
pub fn h264_track(
    ssrc: u32,
) -> Arc<webrtc::media_stream::track_local::static_sample::TrackLocalStaticSample> {
    use rtc::media_stream::MediaStreamTrack;
    use rtc::rtp_transceiver::rtp_sender::{RTCRtpCodingParameters, RTCRtpEncodingParameters};
    Arc::new(
        webrtc::media_stream::track_local::static_sample::TrackLocalStaticSample::new(
            std::time::Instant::now(),
            MediaStreamTrack::new(
                "stream".into(),
                "video".into(),
                "video".into(),
                RtpCodecKind::Video,
                vec![RTCRtpEncodingParameters {
                    rtp_coding_parameters: RTCRtpCodingParameters {
                        ssrc: Some(ssrc),
                        ..Default::default()
                    },
                    codec: h264(),
                    ..Default::default()
                }],
            ),
        )
        .unwrap(),
    )
}
