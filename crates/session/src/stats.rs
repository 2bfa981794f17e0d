//! Per-second session statistics: bitrate in/out, packet loss, RTT, jitter, fps, resolution and
//! ICE state. Bitrates, fps and resolution come from the engine's own counters (what really
//! went into / came out of the tracks); RTT, loss and jitter from webrtc-rs's stats report
//! (RTCP receiver reports, STUN consent checks). A [`StatsSnapshot`] serialises to JSON for
//! export.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use rtc::rtp_transceiver::rtp_sender::RtpCodecKind;
use rtc::statistics::report::RTCStatsReport;
use serde::Serialize;

/// Snapshots kept for export (one per second: an hour).
pub const HISTORY_LEN: usize = 3600;

/// Serialises a duration as whole milliseconds (event payloads for the UI).
pub(crate) fn duration_ms<S: serde::Serializer>(
    d: &std::time::Duration,
    s: S,
) -> Result<S::Ok, S::Error> {
    s.serialize_u64(d.as_millis() as u64)
}

/// One second of statistics, as shown in the UI and exported as JSON.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StatsSnapshot {
    /// Wall clock of the sample, ms since the UNIX epoch.
    pub timestamp_ms: u64,
    /// `new`, `checking`, `connected`, `disconnected`, `failed`, `closed`…
    pub ice_state: String,
    pub connection_state: String,
    pub bitrate_out_kbps: f64,
    pub bitrate_in_kbps: f64,
    /// Lost packets in the last interval, in percent of the packets expected.
    pub packet_loss_percent: f64,
    /// Lost packets since the session started.
    pub packets_lost_total: i64,
    pub rtt_ms: Option<f64>,
    pub jitter_ms: Option<f64>,
    /// Video frames sent (publisher) or decoded (subscriber) per second.
    pub fps: f64,
    pub width: u32,
    pub height: u32,
    pub video_frames_total: u64,
    pub audio_packets_total: u64,
    pub keyframe_requests: u64,
    pub reconnects: u32,
}

impl StatsSnapshot {
    /// Pretty JSON for export.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|_| "{}".into())
    }
}

/// Counters the media tasks bump; cheap to share (`Arc`).
#[derive(Debug, Default)]
pub struct Counters {
    pub bytes_out: AtomicU64,
    pub bytes_in: AtomicU64,
    pub video_frames: AtomicU64,
    pub audio_packets: AtomicU64,
    pub width: AtomicU32,
    pub height: AtomicU32,
    pub keyframe_requests: AtomicU64,
    pub reconnects: AtomicU32,
    states: Mutex<(String, String)>,
}

impl Counters {
    pub fn add_out(&self, bytes: usize) {
        self.bytes_out.fetch_add(bytes as u64, Ordering::Relaxed);
    }
    pub fn add_in(&self, bytes: usize) {
        self.bytes_in.fetch_add(bytes as u64, Ordering::Relaxed);
    }
    pub fn video_frame(&self, width: u32, height: u32) {
        self.video_frames.fetch_add(1, Ordering::Relaxed);
        if width > 0 {
            self.width.store(width, Ordering::Relaxed);
            self.height.store(height, Ordering::Relaxed);
        }
    }
    pub fn audio_packet(&self) {
        self.audio_packets.fetch_add(1, Ordering::Relaxed);
    }
    pub fn set_ice_state(&self, s: impl Into<String>) {
        if let Ok(mut g) = self.states.lock() {
            g.0 = s.into();
        }
    }
    pub fn set_connection_state(&self, s: impl Into<String>) {
        if let Ok(mut g) = self.states.lock() {
            g.1 = s.into();
        }
    }
    fn sample(&self) -> Sample {
        let (ice, conn) = self.states.lock().map(|g| g.clone()).unwrap_or_default();
        Sample {
            bytes_out: self.bytes_out.load(Ordering::Relaxed),
            bytes_in: self.bytes_in.load(Ordering::Relaxed),
            video_frames: self.video_frames.load(Ordering::Relaxed),
            audio_packets: self.audio_packets.load(Ordering::Relaxed),
            width: self.width.load(Ordering::Relaxed),
            height: self.height.load(Ordering::Relaxed),
            keyframe_requests: self.keyframe_requests.load(Ordering::Relaxed),
            reconnects: self.reconnects.load(Ordering::Relaxed),
            ice,
            conn,
        }
    }
}

#[derive(Debug, Clone, Default)]
struct Sample {
    bytes_out: u64,
    bytes_in: u64,
    video_frames: u64,
    audio_packets: u64,
    width: u32,
    height: u32,
    keyframe_requests: u64,
    reconnects: u32,
    ice: String,
    conn: String,
}

/// What the WebRTC stack knows about the network (from `get_stats`).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct NetworkFigures {
    pub rtt_ms: Option<f64>,
    pub jitter_ms: Option<f64>,
    /// Receiver side: cumulative packets received and lost (RTCP-style, may be negative).
    pub packets_received: u64,
    pub packets_lost: i64,
    /// Sender side: the far end's last reported loss fraction (0..1).
    pub remote_fraction_lost: Option<f64>,
}

impl NetworkFigures {
    /// Reads RTT (nominated candidate pair, else RTCP), jitter and loss from a report.
    pub fn from_report(report: &RTCStatsReport) -> Self {
        let mut f = NetworkFigures::default();
        for p in report.candidate_pairs() {
            if p.nominated && p.current_round_trip_time > 0.0 {
                f.rtt_ms = Some(p.current_round_trip_time * 1000.0);
            }
        }
        let mut video_jitter = None;
        let mut audio_jitter = None;
        for s in report.inbound_rtp_streams() {
            let r = &s.received_rtp_stream_stats;
            f.packets_received += r.packets_received;
            f.packets_lost += r.packets_lost;
            let j = jitter_ms(r.jitter, r.rtp_stream_stats.kind);
            match r.rtp_stream_stats.kind {
                RtpCodecKind::Video => video_jitter = Some(j),
                _ => audio_jitter = Some(j),
            }
        }
        f.jitter_ms = video_jitter.or(audio_jitter);
        for e in report.iter() {
            if let rtc::statistics::report::RTCStatsReportEntry::RemoteInboundRtp(r) = e {
                if f.rtt_ms.is_none() && r.round_trip_time > 0.0 {
                    f.rtt_ms = Some(r.round_trip_time * 1000.0);
                }
                let lost = r.fraction_lost;
                f.remote_fraction_lost =
                    Some(f.remote_fraction_lost.map_or(lost, |x: f64| x.max(lost)));
                if f.jitter_ms.is_none() {
                    let rs = &r.received_rtp_stream_stats;
                    f.jitter_ms = Some(jitter_ms(rs.jitter, rs.rtp_stream_stats.kind));
                }
            }
        }
        f
    }
}

/// webrtc-rs 0.21 fills `jitter` with the RTCP report's raw value, in RTP timestamp units
/// (its docs say seconds): convert with the media clock.
fn jitter_ms(raw: f64, kind: RtpCodecKind) -> f64 {
    let clock = if kind == RtpCodecKind::Video {
        90_000.0
    } else {
        48_000.0
    };
    raw / clock * 1000.0
}

/// Turns counter samples taken about once a second into rates.
#[derive(Debug, Default)]
pub struct StatsMeter {
    prev: Option<(Instant, Sample, NetworkFigures)>,
}

impl StatsMeter {
    pub fn new() -> Self {
        Self::default()
    }

    /// The snapshot for the interval since the previous call.
    pub fn tick(
        &mut self,
        now: Instant,
        counters: &Counters,
        net: NetworkFigures,
    ) -> StatsSnapshot {
        let cur = counters.sample();
        let snap = self.compute(now, &cur, net);
        self.prev = Some((now, cur, net));
        snap
    }

    fn compute(&self, now: Instant, cur: &Sample, net: NetworkFigures) -> StatsSnapshot {
        let mut s = StatsSnapshot {
            timestamp_ms: red5_media::frame::now_unix_micros() / 1000,
            ice_state: cur.ice.clone(),
            connection_state: cur.conn.clone(),
            packets_lost_total: net.packets_lost.max(0),
            rtt_ms: net.rtt_ms,
            jitter_ms: net.jitter_ms,
            width: cur.width,
            height: cur.height,
            video_frames_total: cur.video_frames,
            audio_packets_total: cur.audio_packets,
            keyframe_requests: cur.keyframe_requests,
            reconnects: cur.reconnects,
            ..Default::default()
        };
        let Some((t0, prev, pnet)) = &self.prev else {
            return s;
        };
        let secs = now.saturating_duration_since(*t0).as_secs_f64();
        if secs <= 0.0 {
            return s;
        }
        let rate = |a: u64, b: u64| a.saturating_sub(b) as f64 / secs;
        s.bitrate_out_kbps = rate(cur.bytes_out, prev.bytes_out) * 8.0 / 1000.0;
        s.bitrate_in_kbps = rate(cur.bytes_in, prev.bytes_in) * 8.0 / 1000.0;
        s.fps = rate(cur.video_frames, prev.video_frames);
        s.packet_loss_percent = match net.remote_fraction_lost {
            Some(f) => f * 100.0,
            None => {
                let lost = (net.packets_lost - pnet.packets_lost).max(0) as f64;
                let got = net.packets_received.saturating_sub(pnet.packets_received) as f64;
                if lost + got > 0.0 {
                    100.0 * lost / (lost + got)
                } else {
                    0.0
                }
            }
        };
        s
    }
}

/// An engine's snapshots: the latest one, and the last hour while live (what "export" writes).
#[derive(Default)]
pub(crate) struct StatsBook {
    latest: Mutex<StatsSnapshot>,
    history: Mutex<std::collections::VecDeque<StatsSnapshot>>,
}

impl StatsBook {
    /// One stats tick: fold webrtc-rs' report with our counters and store the snapshot.
    pub(crate) fn record(
        &self,
        meter: &mut StatsMeter,
        counters: &Counters,
        report: &RTCStatsReport,
        live: bool,
    ) -> StatsSnapshot {
        let snap = meter.tick(
            Instant::now(),
            counters,
            NetworkFigures::from_report(report),
        );
        if let Ok(mut s) = self.latest.lock() {
            *s = snap.clone();
        }
        if live {
            if let Ok(mut h) = self.history.lock() {
                if h.len() >= HISTORY_LEN {
                    h.pop_front();
                }
                h.push_back(snap.clone());
            }
        }
        snap
    }

    pub(crate) fn latest(&self) -> StatsSnapshot {
        self.latest.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// The history as a pretty JSON array.
    pub(crate) fn export_json(&self) -> String {
        let h: Vec<StatsSnapshot> = self
            .history
            .lock()
            .map(|h| h.iter().cloned().collect())
            .unwrap_or_default();
        serde_json::to_string_pretty(&h).unwrap_or_else(|_| "[]".into())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn jitter_converts_rtp_units_with_the_media_clock() {
        assert!((jitter_ms(900.0, RtpCodecKind::Video) - 10.0).abs() < 1e-9);
        assert!((jitter_ms(480.0, RtpCodecKind::Audio) - 10.0).abs() < 1e-9);
    }

    #[test]
    fn rates_come_from_counter_deltas() {
        let c = Counters::default();
        let mut m = StatsMeter::new();
        let t0 = Instant::now();
        let first = m.tick(t0, &c, NetworkFigures::default());
        assert_eq!(first.bitrate_out_kbps, 0.0);
        c.add_out(125_000); // 1 Mbit
        c.add_in(12_500);
        for _ in 0..30 {
            c.video_frame(640, 360);
        }
        c.set_ice_state("connected");
        let s = m.tick(
            t0 + Duration::from_secs(2),
            &c,
            NetworkFigures {
                rtt_ms: Some(12.5),
                jitter_ms: Some(3.0),
                packets_received: 990,
                packets_lost: 10,
                remote_fraction_lost: None,
            },
        );
        assert!((s.bitrate_out_kbps - 500.0).abs() < 1e-9);
        assert!((s.bitrate_in_kbps - 50.0).abs() < 1e-9);
        assert!((s.fps - 15.0).abs() < 1e-9);
        assert_eq!((s.width, s.height, s.video_frames_total), (640, 360, 30));
        assert!((s.packet_loss_percent - 1.0).abs() < 1e-9);
        assert_eq!(s.rtt_ms, Some(12.5));
        assert_eq!(s.ice_state, "connected");
    }

    #[test]
    fn sender_loss_uses_the_far_ends_report_and_json_has_every_field() {
        let c = Counters::default();
        let mut m = StatsMeter::new();
        let t0 = Instant::now();
        m.tick(t0, &c, NetworkFigures::default());
        let net = NetworkFigures {
            remote_fraction_lost: Some(0.25),
            ..Default::default()
        };
        let s = m.tick(t0 + Duration::from_secs(1), &c, net);
        assert!((s.packet_loss_percent - 25.0).abs() < 1e-9);
        let v: serde_json::Value = serde_json::from_str(&s.to_json()).unwrap();
        for k in [
            "timestamp",
            "iceState",
            "bitrateOutKbps",
            "bitrateInKbps",
            "packetLossPercent",
            "rttMs",
            "jitterMs",
            "fps",
            "width",
            "height",
        ] {
            let key = if k == "timestamp" { "timestampMs" } else { k };
            assert!(v.get(key).is_some(), "{key} missing in {v}");
        }
    }

    #[test]
    fn a_zero_interval_or_counter_reset_never_yields_nonsense() {
        let c = Counters::default();
        let mut m = StatsMeter::new();
        let t0 = Instant::now();
        c.add_out(1000);
        m.tick(t0, &c, NetworkFigures::default());
        let s = m.tick(t0, &c, NetworkFigures::default());
        assert_eq!(s.bitrate_out_kbps, 0.0);
        // Loss counters going backwards (new peer connection after a reconnect).
        let s = m.tick(
            t0 + Duration::from_secs(1),
            &c,
            NetworkFigures {
                packets_lost: -5,
                ..Default::default()
            },
        );
        assert!(s.packet_loss_percent >= 0.0);
        assert_eq!(s.packets_lost_total, 0);
    }
}
