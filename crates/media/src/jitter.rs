//! Jitter buffer: reorders RTP packets, drops late and duplicate ones, reassembles frames with
//! the rtc crate's depacketizers, and waits a bounded time for missing packets before skipping
//! them (reported as loss so video can ask for a key frame and audio can conceal).
//!
//! Sans-I/O: the caller passes arrival times in; nothing here reads a clock or sleeps.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use rtc::rtp::packetizer::Depacketizer;

use crate::rtp::{AnyDepacketizer, Packet, RtpCodec};

/// Jitter buffer settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JitterConfig {
    /// How long to wait for a missing packet before giving up on it.
    pub max_wait: Duration,
    /// Upper bound on buffered packets (a burst beyond this drops the oldest frames).
    pub max_packets: usize,
}

impl JitterConfig {
    /// Sensible defaults: video waits up to 100 ms for retransmissions/reordering, audio 60 ms.
    pub fn for_codec(codec: RtpCodec) -> Self {
        if codec.is_video() {
            JitterConfig {
                max_wait: Duration::from_millis(100),
                max_packets: 2000,
            }
        } else {
            JitterConfig {
                max_wait: Duration::from_millis(60),
                max_packets: 200,
            }
        }
    }
}

/// A reassembled frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssembledFrame {
    /// Annex-B H.264, a VP8 frame or an Opus packet.
    pub data: Bytes,
    pub rtp_timestamp: u32,
    /// Packets were lost or skipped before this frame (video: decode may need a key frame).
    pub after_loss: bool,
    /// Arrival of the frame's last packet.
    pub arrival: Instant,
}

/// Counters for stats and the UI.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct JitterStats {
    pub received: u64,
    pub late: u64,
    pub duplicate: u64,
    pub lost: u64,
    pub frames: u64,
    pub dropped_frames: u64,
}

#[derive(Debug)]
pub struct JitterBuffer {
    codec: RtpCodec,
    config: JitterConfig,
    packets: BTreeMap<u64, (Packet, Instant)>,
    /// Extended sequence number expected next (None before the first frame went out).
    next: Option<u64>,
    last_ext: Option<u64>,
    pending_loss: bool,
    stats: JitterStats,
}

impl JitterBuffer {
    pub fn new(codec: RtpCodec, config: JitterConfig) -> Self {
        JitterBuffer {
            codec,
            config,
            packets: BTreeMap::new(),
            next: None,
            last_ext: None,
            pending_loss: false,
            stats: JitterStats::default(),
        }
    }

    pub fn stats(&self) -> JitterStats {
        self.stats
    }

    pub fn buffered_packets(&self) -> usize {
        self.packets.len()
    }

    /// Unwrap a 16-bit sequence number to 64 bits around the last seen one.
    fn extend(&mut self, seq: u16) -> u64 {
        let ext = match self.last_ext {
            None => (1u64 << 32) + u64::from(seq), // room below for reordered early packets
            Some(last) => {
                let diff = seq.wrapping_sub(last as u16) as i16;
                last.wrapping_add_signed(i64::from(diff))
            }
        };
        if self.last_ext.is_none_or(|l| ext > l) {
            self.last_ext = Some(ext);
        }
        ext
    }

    /// Add a received packet.
    pub fn push(&mut self, packet: Packet, arrival: Instant) {
        self.stats.received += 1;
        let ext = self.extend(packet.header.sequence_number);
        if self.next.is_some_and(|n| ext < n) {
            self.stats.late += 1;
            return;
        }
        if self.packets.contains_key(&ext) {
            self.stats.duplicate += 1;
            return;
        }
        self.packets.insert(ext, (packet, arrival));
        while self.packets.len() > self.config.max_packets {
            self.drop_first_frame();
        }
    }

    /// Drop every packet of the oldest buffered timestamp.
    fn drop_first_frame(&mut self) {
        let Some((&k0, (p0, _))) = self.packets.iter().next() else {
            return;
        };
        let ts = p0.header.timestamp;
        let keys: Vec<u64> = self
            .packets
            .range(k0..)
            .take_while(|(_, (p, _))| p.header.timestamp == ts)
            .map(|(k, _)| *k)
            .collect();
        let last = keys.last().copied().unwrap_or(k0);
        for k in keys {
            self.packets.remove(&k);
        }
        if let Some(n) = self.next {
            self.stats.lost += k0.saturating_sub(n);
        }
        self.next = Some(last + 1);
        self.pending_loss = true;
        self.stats.dropped_frames += 1;
    }

    /// Next complete frame in order, if one can be released at `now`.
    pub fn pop(&mut self, now: Instant) -> Option<AssembledFrame> {
        loop {
            let (&k0, (p0, arr0)) = self.packets.iter().next()?;
            let waited = now.saturating_duration_since(*arr0) >= self.config.max_wait;
            // A gap before the first buffered packet: wait for it, then give up on it.
            if self.next.is_some_and(|n| k0 > n) {
                if !waited {
                    return None;
                }
                let n = self.next.unwrap_or(k0);
                self.stats.lost += k0 - n;
                self.pending_loss = true;
                self.next = Some(k0);
            }
            let ts = p0.header.timestamp;
            // Consecutive packets of this timestamp.
            let mut run = Vec::new();
            let mut k = k0;
            let mut ends_at_other_ts = false;
            while let Some((p, a)) = self.packets.get(&k) {
                if p.header.timestamp != ts {
                    ends_at_other_ts = true;
                    break;
                }
                run.push((k, p, *a));
                k += 1;
            }
            let dep = AnyDepacketizer::new(self.codec);
            let head_ok = dep.is_partition_head(&p0.payload);
            let tail = run
                .last()
                .map(|(_, p, _)| dep.is_partition_tail(p.header.marker, &p.payload));
            let complete = head_ok && tail == Some(true);
            if complete {
                let keys: Vec<u64> = run.iter().map(|(k, _, _)| *k).collect();
                let arrival = run.iter().map(|(_, _, a)| *a).max().unwrap_or(*arr0);
                let payloads: Vec<Bytes> = run.iter().map(|(_, p, _)| p.payload.clone()).collect();
                for k in &keys {
                    self.packets.remove(k);
                }
                self.next = Some(k);
                let after_loss = std::mem::take(&mut self.pending_loss);
                match depacketize(self.codec, &payloads) {
                    Some(data) => {
                        self.stats.frames += 1;
                        return Some(AssembledFrame {
                            data,
                            rtp_timestamp: ts,
                            after_loss,
                            arrival,
                        });
                    }
                    None => {
                        self.stats.dropped_frames += 1;
                        self.pending_loss = true;
                        continue;
                    }
                }
            }
            // Incomplete. Give up on it when it cannot complete any more (its head is missing
            // and we are past it) or when we waited long enough.
            let hopeless = !head_ok && self.next.is_some_and(|n| n == k0);
            if hopeless || waited || (ends_at_other_ts && !head_ok) {
                self.drop_first_frame();
                continue;
            }
            return None;
        }
    }
}

fn depacketize(codec: RtpCodec, payloads: &[Bytes]) -> Option<Bytes> {
    let mut dep = AnyDepacketizer::new(codec);
    let mut out = BytesMut::new();
    for p in payloads {
        match dep.depacketize(p) {
            Ok(b) => out.extend_from_slice(&b),
            Err(e) => {
                tracing::debug!("dropping a malformed {codec:?} frame: {e}");
                return None;
            }
        }
    }
    (!out.is_empty()).then(|| out.freeze())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rtp::RtpPacketizer;

    fn frames(n: usize, size: usize) -> (Vec<Bytes>, Vec<Vec<Packet>>) {
        let mut pk = RtpPacketizer::new(RtpCodec::H264, 96, 1, 65_530, 0);
        let mut sent = Vec::new();
        let mut pkts = Vec::new();
        for i in 0..n {
            let mut f = vec![0, 0, 0, 1, 0x41];
            f.extend(std::iter::repeat_n(i as u8 + 1, size));
            let b = Bytes::from(f);
            pkts.push(
                pk.packetize(&b, Duration::from_millis(33 * i as u64))
                    .unwrap(),
            );
            sent.push(b);
        }
        (sent, pkts)
    }

    #[test]
    fn reorders_and_reassembles_across_seq_wrap() {
        let (sent, pkts) = frames(4, 3000);
        let mut jb = JitterBuffer::new(RtpCodec::H264, JitterConfig::for_codec(RtpCodec::H264));
        let t = Instant::now();
        // Reverse the packets inside every frame and swap frames 1 and 2.
        let order = [0usize, 2, 1, 3];
        for &i in &order {
            for p in pkts[i].iter().rev() {
                jb.push(p.clone(), t);
            }
        }
        let got: Vec<Bytes> = std::iter::from_fn(|| jb.pop(t)).map(|f| f.data).collect();
        assert_eq!(got, sent);
        assert_eq!(jb.stats().lost, 0);
        assert_eq!(jb.stats().frames, 4);
    }

    #[test]
    fn late_and_duplicate_packets_are_dropped() {
        let (_, pkts) = frames(2, 100);
        let mut jb = JitterBuffer::new(RtpCodec::H264, JitterConfig::for_codec(RtpCodec::H264));
        let t = Instant::now();
        jb.push(pkts[0][0].clone(), t);
        jb.push(pkts[0][0].clone(), t);
        assert!(jb.pop(t).is_some());
        jb.push(pkts[0][0].clone(), t); // late now
        jb.push(pkts[1][0].clone(), t);
        assert!(jb.pop(t).is_some());
        let s = jb.stats();
        assert_eq!((s.duplicate, s.late, s.frames), (1, 1, 2));
    }

    #[test]
    fn loss_waits_then_skips_and_flags() {
        let (sent, pkts) = frames(3, 3000);
        let cfg = JitterConfig::for_codec(RtpCodec::H264);
        let mut jb = JitterBuffer::new(RtpCodec::H264, cfg);
        let t = Instant::now();
        for p in &pkts[0] {
            jb.push(p.clone(), t);
        }
        // Frame 1 loses its middle packet; frame 2 arrives whole.
        for (i, p) in pkts[1].iter().enumerate() {
            if i != 1 {
                jb.push(p.clone(), t);
            }
        }
        for p in &pkts[2] {
            jb.push(p.clone(), t);
        }
        assert_eq!(jb.pop(t).map(|f| f.data), Some(sent[0].clone()));
        // Still within max_wait: hold on, the packet may be retransmitted.
        assert_eq!(jb.pop(t + Duration::from_millis(10)), None);
        let f = jb.pop(t + cfg.max_wait).unwrap();
        assert_eq!(f.data, sent[2]);
        assert!(f.after_loss);
        assert!(jb.stats().dropped_frames >= 1);
    }

    #[test]
    fn joining_mid_frame_skips_the_fragment() {
        let (sent, pkts) = frames(2, 3000);
        let mut jb = JitterBuffer::new(RtpCodec::H264, JitterConfig::for_codec(RtpCodec::H264));
        let t = Instant::now();
        for p in pkts[0].iter().skip(1) {
            jb.push(p.clone(), t);
        }
        for p in &pkts[1] {
            jb.push(p.clone(), t);
        }
        let f = jb.pop(t + Duration::from_millis(200)).unwrap();
        assert_eq!(f.data, sent[1]);
    }
}
