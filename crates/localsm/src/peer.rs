//! Thin glue over webrtc-rs 0.21: build loopback-only peer connections whose events arrive on a
//! channel, and the codec sets the SFU negotiates.

use std::sync::Arc;

use rtc::peer_connection::configuration::media_engine::{
    MIME_TYPE_H264, MIME_TYPE_OPUS, MIME_TYPE_VP8,
};
use rtc::rtp_transceiver::rtp_sender::{
    RTCPFeedback, RTCRtpCodec, RTCRtpCodecParameters, RtpCodecKind,
};
use tokio::sync::mpsc;
use webrtc::data_channel::DataChannel;
use webrtc::media_stream::track_remote::TrackRemote;
use webrtc::peer_connection::{
    register_default_interceptors, MediaEngine, PeerConnection, PeerConnectionBuilder,
    PeerConnectionEventHandler, RTCIceCandidateInit, RTCIceGatheringState,
    RTCPeerConnectionIceEvent, RTCPeerConnectionState, Registry, SettingEngineBuilder,
};

use crate::error::{LocalSmError, Result};

/// What a peer connection reports to the session that owns it.
pub enum PeerEvent {
    Candidate(RTCIceCandidateInit),
    GatheringComplete,
    State(RTCPeerConnectionState),
    DataChannel(Arc<dyn DataChannel>),
    Track(Arc<dyn TrackRemote>),
}

struct Handler {
    tx: mpsc::UnboundedSender<PeerEvent>,
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for Handler {
    async fn on_ice_candidate(&self, e: RTCPeerConnectionIceEvent) {
        if let Ok(init) = e.candidate.to_json() {
            let _ = self.tx.send(PeerEvent::Candidate(init));
        }
    }
    async fn on_ice_gathering_state_change(&self, s: RTCIceGatheringState) {
        if s == RTCIceGatheringState::Complete {
            let _ = self.tx.send(PeerEvent::GatheringComplete);
        }
    }
    async fn on_connection_state_change(&self, s: RTCPeerConnectionState) {
        let _ = self.tx.send(PeerEvent::State(s));
    }
    async fn on_data_channel(&self, dc: Arc<dyn DataChannel>) {
        let _ = self.tx.send(PeerEvent::DataChannel(dc));
    }
    async fn on_track(&self, track: Arc<dyn TrackRemote>) {
        let _ = self.tx.send(PeerEvent::Track(track));
    }
}

pub struct Peer {
    pub pc: Arc<dyn PeerConnection>,
    pub events: mpsc::UnboundedReceiver<PeerEvent>,
}

fn video_feedback() -> Vec<RTCPFeedback> {
    [
        ("nack", ""),
        ("nack", "pli"),
        ("ccm", "fir"),
        ("goog-remb", ""),
    ]
    .into_iter()
    .map(|(t, p)| RTCPFeedback {
        typ: t.into(),
        parameter: p.into(),
    })
    .collect()
}

pub fn h264_codec() -> RTCRtpCodec {
    RTCRtpCodec {
        mime_type: MIME_TYPE_H264.into(),
        clock_rate: 90_000,
        channels: 0,
        sdp_fmtp_line: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"
            .into(),
        rtcp_feedback: video_feedback(),
    }
}

pub fn vp8_codec() -> RTCRtpCodec {
    RTCRtpCodec {
        mime_type: MIME_TYPE_VP8.into(),
        clock_rate: 90_000,
        channels: 0,
        sdp_fmtp_line: String::new(),
        rtcp_feedback: video_feedback(),
    }
}

pub fn opus_codec() -> RTCRtpCodec {
    RTCRtpCodec {
        mime_type: MIME_TYPE_OPUS.into(),
        clock_rate: 48_000,
        channels: 2,
        sdp_fmtp_line: "minptime=10;useinbandfec=1".into(),
        rtcp_feedback: vec![],
    }
}

/// A codec negotiated with a publisher, reused verbatim towards its subscribers.
#[derive(Debug, Clone)]
pub struct Negotiated {
    pub codec: RTCRtpCodec,
    pub payload_type: u8,
}

/// Publisher side: exactly one video codec, H.264 42e01f when offered, else VP8, so the answer
/// leaves the sender no choice; Opus audio. No RTX, so retransmissions arrive on the media SSRC
/// and the forwarding path stays simple.
pub fn publisher_media_engine(h264: bool) -> Result<MediaEngine> {
    let mut m = MediaEngine::default();
    let (codec, pt) = if h264 {
        (h264_codec(), 102u8)
    } else {
        (vp8_codec(), 96u8)
    };
    m.register_codec(
        RTCRtpCodecParameters {
            rtp_codec: codec,
            payload_type: pt,
        },
        RtpCodecKind::Video,
    )
    .map_err(|e| LocalSmError::WebRtc(e.to_string()))?;
    m.register_codec(
        RTCRtpCodecParameters {
            rtp_codec: opus_codec(),
            payload_type: 111,
        },
        RtpCodecKind::Audio,
    )
    .map_err(|e| LocalSmError::WebRtc(e.to_string()))?;
    Ok(m)
}

/// Subscriber side: exactly the publisher's negotiated codecs.
pub fn subscriber_media_engine(
    video: Option<&Negotiated>,
    audio: Option<&Negotiated>,
) -> Result<MediaEngine> {
    let mut m = MediaEngine::default();
    if let Some(v) = video {
        let mut codec = v.codec.clone();
        codec.rtcp_feedback = video_feedback();
        m.register_codec(
            RTCRtpCodecParameters {
                rtp_codec: codec,
                payload_type: v.payload_type,
            },
            RtpCodecKind::Video,
        )
        .map_err(|e| LocalSmError::WebRtc(e.to_string()))?;
    }
    let a = audio.cloned().unwrap_or(Negotiated {
        codec: opus_codec(),
        payload_type: 111,
    });
    m.register_codec(
        RTCRtpCodecParameters {
            rtp_codec: a.codec,
            payload_type: a.payload_type,
        },
        RtpCodecKind::Audio,
    )
    .map_err(|e| LocalSmError::WebRtc(e.to_string()))?;
    Ok(m)
}

/// Builds a peer connection bound to 127.0.0.1 only, with NACK/RTCP-report interceptors and
/// PLI/FIR delivered to the application ([`crate::feedback`]).
pub async fn build(mut media: MediaEngine) -> Result<Peer> {
    let registry = register_default_interceptors(Registry::new(), &mut media)
        .map_err(|e| LocalSmError::WebRtc(e.to_string()))?
        .with(
            rtc::interceptor::Slot::Custom(crate::feedback::SLOT),
            crate::feedback::KeyframeFeedback::default(),
        );
    let se = SettingEngineBuilder::new()
        .with_network_types(vec![rtc::ice::network_type::NetworkType::Udp4])
        .build();
    let (tx, rx) = mpsc::unbounded_channel();
    let pc = PeerConnectionBuilder::new()
        .with_media_engine(media)
        .with_interceptor_registry(registry)
        .with_setting_engine(se)
        .with_handler(Arc::new(Handler { tx }))
        .with_udp_addrs(vec!["127.0.0.1:0".to_owned()])
        .build()
        .await?;
    Ok(Peer {
        pc: Arc::new(pc),
        events: rx,
    })
}
