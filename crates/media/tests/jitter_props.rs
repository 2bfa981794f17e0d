//! Property test: whatever the network does (reorder within a window, loss, duplicates), the
//! jitter buffer only ever releases frames that were sent, byte-exact, in order, once each, and
//! releases every frame whose packets all arrived.

#![allow(clippy::unwrap_used)] // tests may unwrap (project rule)

use std::collections::HashSet;
use std::time::{Duration, Instant};

use bytes::Bytes;
use proptest::prelude::*;
use red5_media::jitter::{JitterBuffer, JitterConfig};
use red5_media::rtp::{Packet, RtpCodec, RtpPacketizer};

fn stream(sizes: &[usize], seq0: u16) -> (Vec<Bytes>, Vec<Vec<Packet>>) {
    let mut pk = RtpPacketizer::new(RtpCodec::H264, 96, 1, seq0, 0);
    let mut frames = Vec::new();
    let mut packets = Vec::new();
    for (i, &size) in sizes.iter().enumerate() {
        let mut f = vec![0, 0, 0, 1, 0x41];
        f.extend((0..size).map(|k| (k * 7 + i) as u8 | 1));
        let b = Bytes::from(f);
        packets.push(
            pk.packetize(&b, Duration::from_millis(33 * i as u64))
                .unwrap(),
        );
        frames.push(b);
    }
    (frames, packets)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn released_frames_are_sent_frames_in_order(
        sizes in prop::collection::vec(10usize..4000, 1..25),
        seq0 in any::<u16>(),
        drop_mask in prop::collection::vec(0u8..100, 200),
        swaps in prop::collection::vec((0usize..200, 1usize..4), 0..40),
        dups in prop::collection::vec(0usize..200, 0..5),
    ) {
        let (frames, per_frame) = stream(&sizes, seq0);
        let mut wire: Vec<(usize, Packet)> = per_frame
            .iter()
            .enumerate()
            .flat_map(|(i, ps)| ps.iter().cloned().map(move |p| (i, p)))
            .collect();
        let n = wire.len();
        // 5% loss.
        let mut lost_frames = HashSet::new();
        let mut kept = Vec::new();
        for (k, item) in wire.drain(..).enumerate() {
            if drop_mask[k % drop_mask.len()] < 5 {
                lost_frames.insert(item.0);
            } else {
                kept.push(item);
            }
        }
        for &d in &dups {
            if !kept.is_empty() {
                let item = kept[d % kept.len()].clone();
                kept.push(item);
            }
        }
        for &(at, dist) in &swaps {
            if kept.len() > dist {
                let a = at % (kept.len() - dist);
                kept.swap(a, a + dist);
            }
        }
        let mut jb = JitterBuffer::new(RtpCodec::H264, JitterConfig::for_codec(RtpCodec::H264));
        let t0 = Instant::now();
        let mut out = Vec::new();
        for (k, (_, p)) in kept.into_iter().enumerate() {
            let now = t0 + Duration::from_millis(k as u64);
            jb.push(p, now);
            while let Some(f) = jb.pop(now) {
                out.push(f.data);
            }
        }
        let end = t0 + Duration::from_secs(10);
        while let Some(f) = jb.pop(end) {
            out.push(f.data);
        }
        // Subsequence of the sent frames, in order, no repeats.
        let mut idx = 0;
        let mut released = HashSet::new();
        for f in &out {
            let pos = frames[idx..].iter().position(|s| s == f);
            prop_assert!(pos.is_some(), "released a frame that was not sent (or out of order)");
            idx += pos.unwrap() + 1;
            released.insert(idx - 1);
        }
        // Complete frames are released unless a late reordering made them late.
        let complete = (0..frames.len()).filter(|i| !lost_frames.contains(i)).count();
        prop_assert!(released.len() <= complete);
        if swaps.is_empty() && dups.is_empty() {
            prop_assert_eq!(released.len(), complete, "{} packets", n);
        }
    }
}
