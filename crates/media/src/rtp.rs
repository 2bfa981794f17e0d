//! RTP framing with the rtc crate's payloaders (H.264 FU-A/STAP-A, VP8, Opus) and RTP
//! timestamps derived from media time, so audio and video stay on one clock.

use std::time::Duration;

use bytes::Bytes;
use rtc::rtp::codec::h264::{H264Packet, H264Payloader};
use rtc::rtp::codec::opus::{OpusPacket, OpusPayloader};
use rtc::rtp::codec::vp8::{Vp8Packet, Vp8Payloader};
use rtc::rtp::packetizer::{Depacketizer, Payloader};
use rtc::shared::marshal::{Marshal, Unmarshal};

pub use rtc::rtp::{Header, Packet};

use crate::codec::VideoCodec;
use crate::error::MediaError;

/// Payload for 1200-byte packets: safe under every path MTU WebRTC meets, incl. TURN/TCP.
pub const DEFAULT_MTU: usize = 1200;
const RTP_HEADER: usize = 12;

/// What an RTP stream carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RtpCodec {
    H264,
    Vp8,
    Opus,
}

impl RtpCodec {
    pub fn clock_rate(self) -> u32 {
        match self {
            RtpCodec::Opus => 48_000,
            _ => 90_000,
        }
    }

    pub fn is_video(self) -> bool {
        !matches!(self, RtpCodec::Opus)
    }

    fn payloader(self) -> Box<dyn Payloader> {
        match self {
            RtpCodec::H264 => Box::new(H264Payloader::default()),
            RtpCodec::Vp8 => {
                let mut p = Vp8Payloader::default();
                // Picture ids let receivers detect loss inside a frame (as browsers send).
                p.enable_picture_id = true;
                Box::new(p)
            }
            RtpCodec::Opus => Box::new(OpusPayloader),
        }
    }
}

impl From<VideoCodec> for RtpCodec {
    fn from(c: VideoCodec) -> Self {
        match c {
            VideoCodec::H264 => RtpCodec::H264,
            VideoCodec::Vp8 => RtpCodec::Vp8,
        }
    }
}

/// A depacketizer for any of our codecs (the rtc crate's, behind one type).
#[derive(Debug, Clone)]
pub enum AnyDepacketizer {
    H264(H264Packet),
    Vp8(Vp8Packet),
    Opus(OpusPacket),
}

impl AnyDepacketizer {
    pub fn new(codec: RtpCodec) -> Self {
        match codec {
            RtpCodec::H264 => AnyDepacketizer::H264(H264Packet::default()),
            RtpCodec::Vp8 => AnyDepacketizer::Vp8(Vp8Packet::default()),
            RtpCodec::Opus => AnyDepacketizer::Opus(OpusPacket),
        }
    }
}

impl Depacketizer for AnyDepacketizer {
    fn depacketize(&mut self, b: &Bytes) -> rtc::shared::error::Result<Bytes> {
        match self {
            AnyDepacketizer::H264(d) => d.depacketize(b),
            AnyDepacketizer::Vp8(d) => d.depacketize(b),
            AnyDepacketizer::Opus(d) => d.depacketize(b),
        }
    }

    fn is_partition_head(&self, payload: &Bytes) -> bool {
        match self {
            AnyDepacketizer::H264(d) => d.is_partition_head(payload),
            AnyDepacketizer::Vp8(d) => d.is_partition_head(payload),
            AnyDepacketizer::Opus(d) => d.is_partition_head(payload),
        }
    }

    fn is_partition_tail(&self, marker: bool, payload: &Bytes) -> bool {
        match self {
            AnyDepacketizer::H264(d) => d.is_partition_tail(marker, payload),
            AnyDepacketizer::Vp8(d) => d.is_partition_tail(marker, payload),
            AnyDepacketizer::Opus(d) => d.is_partition_tail(marker, payload),
        }
    }
}

/// Turns encoded frames into RTP packets.
#[derive(Debug)]
pub struct RtpPacketizer {
    codec: RtpCodec,
    payloader: Box<dyn Payloader>,
    payload_type: u8,
    ssrc: u32,
    seq: u16,
    ts_offset: u32,
    mtu: usize,
}

impl RtpPacketizer {
    /// `initial_seq` and `ts_offset` should be random per stream (RFC 3550 §5.1).
    pub fn new(
        codec: RtpCodec,
        payload_type: u8,
        ssrc: u32,
        initial_seq: u16,
        ts_offset: u32,
    ) -> Self {
        RtpPacketizer {
            codec,
            payloader: codec.payloader(),
            payload_type,
            ssrc,
            seq: initial_seq,
            ts_offset,
            mtu: DEFAULT_MTU,
        }
    }

    /// Largest RTP packet (header included) to produce.
    pub fn set_mtu(&mut self, mtu: usize) {
        self.mtu = mtu.max(RTP_HEADER + 100);
    }

    pub fn codec(&self) -> RtpCodec {
        self.codec
    }

    pub fn ssrc(&self) -> u32 {
        self.ssrc
    }

    /// RTP timestamp for a media time.
    pub fn rtp_timestamp(&self, media_time: Duration) -> u32 {
        // Rounded: 1/30 s is not a whole number of nanoseconds.
        let ticks = (media_time.as_nanos() * u128::from(self.codec.clock_rate()) + 500_000_000)
            / 1_000_000_000;
        self.ts_offset.wrapping_add(ticks as u32)
    }

    /// Packetize one encoded frame (Annex-B H.264, a VP8 frame or one Opus packet).
    pub fn packetize(
        &mut self,
        frame: &Bytes,
        media_time: Duration,
    ) -> Result<Vec<Packet>, MediaError> {
        let payloads = self
            .payloader
            .payload(self.mtu - RTP_HEADER, frame)
            .map_err(|e| MediaError::Rtp(e.to_string()))?;
        let ts = self.rtp_timestamp(media_time);
        let n = payloads.len();
        let mut out = Vec::with_capacity(n);
        for (i, payload) in payloads.into_iter().enumerate() {
            out.push(Packet {
                header: Header {
                    version: 2,
                    // Video: last packet of the frame. Audio: we never send silence gaps.
                    marker: self.codec.is_video() && i + 1 == n,
                    payload_type: self.payload_type,
                    sequence_number: self.seq,
                    timestamp: ts,
                    ssrc: self.ssrc,
                    ..Default::default()
                },
                payload,
            });
            self.seq = self.seq.wrapping_add(1);
        }
        Ok(out)
    }
}

/// Serialise a packet for the wire.
pub fn marshal(packet: &Packet) -> Result<Bytes, MediaError> {
    packet
        .marshal()
        .map(|b| b.freeze())
        .map_err(|e| MediaError::Rtp(e.to_string()))
}

/// Parse a packet from the wire.
pub fn unmarshal(mut data: &[u8]) -> Result<Packet, MediaError> {
    Packet::unmarshal(&mut data).map_err(|e| MediaError::Rtp(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn h264_fragments_and_timestamps() {
        let mut p = RtpPacketizer::new(RtpCodec::H264, 102, 0xabc, 65_534, 1000);
        // SPS + PPS + a 5000-byte IDR slice.
        let mut f = vec![
            0, 0, 0, 1, 0x67, 0x42, 0xe0, 0x1f, 0, 0, 0, 1, 0x68, 0xce, 0x3c, 0x80,
        ];
        f.extend_from_slice(&[0, 0, 0, 1, 0x65]);
        f.extend(std::iter::repeat_n(0x11u8, 5000));
        let pkts = p
            .packetize(&Bytes::from(f), Duration::from_millis(100))
            .unwrap();
        assert!(pkts.len() >= 5, "{}", pkts.len());
        assert!(pkts.iter().all(|x| x.header.timestamp == 1000 + 9000));
        assert!(pkts
            .iter()
            .all(|x| marshal(x).unwrap().len() <= DEFAULT_MTU));
        assert_eq!(pkts.iter().filter(|x| x.header.marker).count(), 1);
        assert!(pkts.last().unwrap().header.marker);
        // Sequence numbers wrap.
        let seqs: Vec<u16> = pkts.iter().map(|x| x.header.sequence_number).collect();
        assert_eq!(&seqs[..3], &[65_534, 65_535, 0]);
        let back = unmarshal(&marshal(&pkts[1]).unwrap()).unwrap();
        assert_eq!(back, pkts[1]);
    }

    #[test]
    fn opus_is_one_packet_per_frame() {
        let mut p = RtpPacketizer::new(RtpCodec::Opus, 111, 1, 0, 0);
        let pkts = p
            .packetize(
                &Bytes::from_static(&[0xfc, 1, 2, 3]),
                Duration::from_millis(20),
            )
            .unwrap();
        assert_eq!(pkts.len(), 1);
        assert_eq!(pkts[0].header.timestamp, 960);
        assert!(!pkts[0].header.marker);
    }
}
