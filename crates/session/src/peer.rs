//! webrtc-rs plumbing shared by the engines: building a peer connection (codecs, interceptors,
//! socket binding), its events as one channel, key-frame requests from the far end, and
//! candidate conversions to the signalling types.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;

use red5_media::codec::{VideoCodec, H264_FMTP, OPUS_FMTP};
use red5_signal::ws::IceCandidate;
use rtc::interceptor::{Attribute, Interceptor, Packet, Slot, StreamInfo, TaggedPacket};
use rtc::peer_connection::configuration::media_engine::{
    MIME_TYPE_H264, MIME_TYPE_OPUS, MIME_TYPE_VP8,
};
use rtc::rtcp::payload_feedbacks::full_intra_request::FullIntraRequest;
use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc::rtp_transceiver::rtp_sender::{
    RTCPFeedback, RTCRtpCodec, RTCRtpCodecParameters, RtpCodecKind,
};
use rtc::sansio::Protocol;
use tokio::sync::mpsc;
use webrtc::data_channel::DataChannel;
use webrtc::media_stream::track_remote::TrackRemote;
use webrtc::peer_connection::{
    register_default_interceptors, MediaEngine, PeerConnection, PeerConnectionBuilder,
    PeerConnectionEventHandler, RTCConfigurationBuilder, RTCIceCandidateInit,
    RTCIceConnectionState, RTCIceGatheringState, RTCIceServer, RTCPeerConnectionIceEvent,
    RTCPeerConnectionState, Registry, SettingEngineBuilder,
};

use crate::error::Result;

pub(crate) const H264_PT: u8 = 102;
pub(crate) const VP8_PT: u8 = 96;
pub(crate) const OPUS_PT: u8 = 111;

/// What the peer connection reports, in order.
pub(crate) enum PcEvent {
    Candidate(RTCIceCandidateInit),
    Gathered,
    Ice(RTCIceConnectionState),
    State(RTCPeerConnectionState),
    DataChannel(Arc<dyn DataChannel>),
    Track(Arc<dyn TrackRemote>),
}

struct Handler(mpsc::UnboundedSender<PcEvent>);

#[async_trait::async_trait]
impl PeerConnectionEventHandler for Handler {
    async fn on_ice_candidate(&self, e: RTCPeerConnectionIceEvent) {
        if let Ok(i) = e.candidate.to_json() {
            let _ = self.0.send(PcEvent::Candidate(i));
        }
    }
    async fn on_ice_gathering_state_change(&self, s: RTCIceGatheringState) {
        if s == RTCIceGatheringState::Complete {
            let _ = self.0.send(PcEvent::Gathered);
        }
    }
    async fn on_ice_connection_state_change(&self, s: RTCIceConnectionState) {
        let _ = self.0.send(PcEvent::Ice(s));
    }
    async fn on_connection_state_change(&self, s: RTCPeerConnectionState) {
        let _ = self.0.send(PcEvent::State(s));
    }
    async fn on_data_channel(&self, dc: Arc<dyn DataChannel>) {
        let _ = self.0.send(PcEvent::DataChannel(dc));
    }
    async fn on_track(&self, t: Arc<dyn TrackRemote>) {
        let _ = self.0.send(PcEvent::Track(t));
    }
}

fn video_feedback() -> Vec<RTCPFeedback> {
    ["nack", "nack pli", "ccm fir", "goog-remb"]
        .iter()
        .map(|f| {
            let (typ, parameter) = f.split_once(' ').unwrap_or((f, ""));
            RTCPFeedback {
                typ: typ.to_owned(),
                parameter: parameter.to_owned(),
            }
        })
        .collect()
}

pub(crate) fn video_codec(codec: VideoCodec) -> RTCRtpCodec {
    match codec {
        VideoCodec::H264 => RTCRtpCodec {
            mime_type: MIME_TYPE_H264.into(),
            clock_rate: 90_000,
            channels: 0,
            sdp_fmtp_line: H264_FMTP.into(),
            rtcp_feedback: video_feedback(),
        },
        VideoCodec::Vp8 => RTCRtpCodec {
            mime_type: MIME_TYPE_VP8.into(),
            clock_rate: 90_000,
            channels: 0,
            sdp_fmtp_line: String::new(),
            rtcp_feedback: video_feedback(),
        },
    }
}

pub(crate) fn opus_codec() -> RTCRtpCodec {
    RTCRtpCodec {
        mime_type: MIME_TYPE_OPUS.into(),
        clock_rate: 48_000,
        channels: 2,
        sdp_fmtp_line: OPUS_FMTP.into(),
        rtcp_feedback: vec![],
    }
}

/// Marks PLI/FIR from the far end for the application (webrtc-rs ends inbound RTCP in the
/// interceptor chain otherwise), so the publisher can force a key frame.
struct KeyframeRequests {
    read: VecDeque<TaggedPacket>,
    write: VecDeque<TaggedPacket>,
}

fn is_keyframe_request(p: &dyn rtc::rtcp::Packet) -> bool {
    let a = p.as_any();
    a.is::<PictureLossIndication>() || a.is::<FullIntraRequest>()
}

impl Protocol<TaggedPacket, TaggedPacket, ()> for KeyframeRequests {
    type Rout = TaggedPacket;
    type Wout = TaggedPacket;
    type Eout = ();
    type Error = rtc::shared::error::Error;
    type Time = Instant;

    fn handle_read(&mut self, mut msg: TaggedPacket) -> std::result::Result<(), Self::Error> {
        if let Packet::Rtcp(packets) = &msg.message.packet {
            let wanted: Vec<Box<dyn rtc::rtcp::Packet>> = packets
                .iter()
                .filter(|p| is_keyframe_request(p.as_ref()))
                .cloned()
                .collect();
            if !wanted.is_empty() {
                msg.message.packet = Packet::Rtcp(wanted);
                msg.message.add(Attribute::DeliverToApplication);
            }
        }
        self.read.push_back(msg);
        Ok(())
    }
    fn poll_read(&mut self) -> Option<TaggedPacket> {
        self.read.pop_front()
    }
    fn handle_write(&mut self, msg: TaggedPacket) -> std::result::Result<(), Self::Error> {
        self.write.push_back(msg);
        Ok(())
    }
    fn poll_write(&mut self) -> Option<TaggedPacket> {
        self.write.pop_front()
    }
}

impl Interceptor for KeyframeRequests {
    fn bind_local_stream(&mut self, _info: &StreamInfo) {}
    fn unbind_local_stream(&mut self, _info: &StreamInfo) {}
    fn bind_remote_stream(&mut self, _info: &StreamInfo) {}
    fn unbind_remote_stream(&mut self, _info: &StreamInfo) {}
}

/// What to put in the peer connection.
pub(crate) struct PeerSpec {
    /// Video codecs to offer/accept (publisher: the chosen one; subscriber: all).
    pub video: Vec<VideoCodec>,
    pub audio: bool,
    pub ice_servers: Vec<RTCIceServer>,
    /// Bind 127.0.0.1 only (server on loopback) instead of every interface.
    pub loopback: bool,
}

pub(crate) async fn build_peer(
    spec: PeerSpec,
) -> Result<(Arc<dyn PeerConnection>, mpsc::UnboundedReceiver<PcEvent>)> {
    let mut m = MediaEngine::default();
    for c in &spec.video {
        let pt = match c {
            VideoCodec::H264 => H264_PT,
            VideoCodec::Vp8 => VP8_PT,
        };
        m.register_codec(
            RTCRtpCodecParameters {
                rtp_codec: video_codec(*c),
                payload_type: pt,
            },
            RtpCodecKind::Video,
        )?;
    }
    if spec.audio {
        m.register_codec(
            RTCRtpCodecParameters {
                rtp_codec: opus_codec(),
                payload_type: OPUS_PT,
            },
            RtpCodecKind::Audio,
        )?;
    }
    let registry = register_default_interceptors(Registry::new(), &mut m)?.with(
        Slot::from(14_000usize),
        KeyframeRequests {
            read: VecDeque::new(),
            write: VecDeque::new(),
        },
    );
    let se = SettingEngineBuilder::new()
        .with_network_types(vec![rtc::ice::network_type::NetworkType::Udp4])
        .build();
    let config = RTCConfigurationBuilder::new()
        .with_ice_servers(spec.ice_servers)
        .build();
    let (tx, rx) = mpsc::unbounded_channel();
    let bind = if spec.loopback {
        "127.0.0.1:0"
    } else {
        "0.0.0.0:0"
    };
    let pc = PeerConnectionBuilder::new()
        .with_configuration(config)
        .with_media_engine(m)
        .with_interceptor_registry(registry)
        .with_setting_engine(se)
        .with_handler(Arc::new(Handler(tx)))
        .with_udp_addrs(vec![bind.to_owned()])
        .build()
        .await?;
    Ok((Arc::new(pc), rx))
}

pub(crate) fn to_signal_candidate(c: &RTCIceCandidateInit) -> IceCandidate {
    let mut s = IceCandidate::new(c.candidate.clone(), c.sdp_mid.clone(), c.sdp_mline_index);
    s.username_fragment = c.username_fragment.clone();
    s
}

pub(crate) fn from_signal_candidate(c: &IceCandidate) -> Option<RTCIceCandidateInit> {
    if c.is_end() {
        return None;
    }
    let cand = c.candidate.clone()?;
    Some(RTCIceCandidateInit {
        candidate: cand.trim_start_matches("a=").to_owned(),
        sdp_mid: c.sdp_mid.clone(),
        sdp_mline_index: c.sdp_m_line_index,
        username_fragment: c.username_fragment.clone(),
        ..Default::default()
    })
}

/// Signalled ICE servers (WHIP `Link`) or the app's own, as webrtc-rs wants them.
pub(crate) fn ice_servers(list: &[red5_signal::whip::IceServer]) -> Vec<RTCIceServer> {
    list.iter()
        .map(|s| RTCIceServer {
            urls: s.urls.clone(),
            username: s.username.clone().unwrap_or_default(),
            credential: s
                .credential
                .as_ref()
                .map(|c| c.expose().to_owned())
                .unwrap_or_default(),
        })
        .collect()
}

/// The app's own STUN/TURN servers (settings), as webrtc-rs wants them.
pub(crate) fn own_ice_servers(list: &[crate::config::IceServerConfig]) -> Vec<RTCIceServer> {
    list.iter()
        .map(|s| RTCIceServer {
            urls: s.urls.clone(),
            username: s.username.clone(),
            credential: s.credential.expose().to_owned(),
        })
        .collect()
}

/// Whether a server URL points at this machine.
pub(crate) fn is_loopback_url(url: &str) -> bool {
    let rest = url.split("://").nth(1).unwrap_or(url);
    let host = rest.split(['/', '?']).next().unwrap_or("");
    let host = host.rsplit_once(':').map_or(host, |(h, p)| {
        if p.chars().all(|c| c.is_ascii_digit()) {
            h
        } else {
            host
        }
    });
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn loopback_detection() {
        assert!(is_loopback_url("http://127.0.0.1:5080"));
        assert!(is_loopback_url("ws://localhost:80/live"));
        assert!(is_loopback_url("http://[::1]:5080/x"));
        assert!(!is_loopback_url("https://sm.example.com/as/v1"));
        assert!(!is_loopback_url("https://10.0.0.2:443"));
    }

    #[test]
    fn candidate_round_trip_and_end_marker() {
        let c = RTCIceCandidateInit {
            candidate: "candidate:1 1 udp 2130706431 127.0.0.1 5000 typ host".into(),
            sdp_mid: Some("0".into()),
            sdp_mline_index: Some(0),
            username_fragment: Some("abcd".into()),
            ..Default::default()
        };
        let s = to_signal_candidate(&c);
        assert_eq!(from_signal_candidate(&s), Some(c));
        assert_eq!(
            from_signal_candidate(&IceCandidate::client_end_marker()),
            None
        );
        let a = IceCandidate::new("a=candidate:1 1 udp 1 127.0.0.1 9 typ host", None, Some(1));
        assert_eq!(
            from_signal_candidate(&a).unwrap().candidate,
            "candidate:1 1 udp 1 127.0.0.1 9 typ host"
        );
    }
}
