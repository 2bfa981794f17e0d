//! Mixer benchmark through the built-in server (issue 6 §6): 4 participants publish 720p30
//! H.264 + Opus into the waiting room over WHIP, the host promotes them into a 1280x720 30 fps
//! composition, and two WHEP subscribers decode the composite and (as the baseline) the
//! presenter's own stream. Reports the CPU of the mixer threads (compose + encode, and the
//! SFU-side decoders feeding it) and the latency the mixer adds (presenter capture stamp read
//! in the composite minus the same stamp read in the direct stream).
//!
//! `cargo run --release -p red5-localsm --example conference_bench [seconds]`
//!
//! The participants' media is encoded once before the run and replayed in a loop, so the
//! client side costs little CPU; every frame carries a stamp (frame number) and its send time
//! is recorded when it is written.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark driver, like a test

#[path = "../tests/common/mod.rs"]
mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::av::*;
use common::*;
use red5_localsm::{LocalServer, ServerConfig, ServerHandle};
use red5_media::analysis::LatencyStats;
use red5_media::codec::h264::H264Encoder;
use red5_media::codec::opus::OpusEncoder;
use red5_media::codec::{AudioEncoder, VideoEncoder, VideoEncoderConfig};
use red5_media::frame::{now_unix_micros, AudioFrame, VideoFrame};
use red5_media::rtp::{RtpCodec, RtpPacketizer};
use red5_media::synthetic::{read_stamp, PatternColor, TestPattern};
use red5_mixer::{compute_layout, LayoutKind, TileRole};
use rtc::rtp_transceiver::rtp_sender::RtpCodecKind;
use serde_json::json;
use webrtc::media_stream::track_local::TrackLocal;
use webrtc::peer_connection::RTCSessionDescription;

const PW: u32 = 1280;
const PH: u32 = 720;
const FPS: u32 = 30;
/// Frames in the replayed loop (2 s at 30 fps; the latency measured must stay below it).
const LOOP: usize = 60;

struct Encoded {
    video: Vec<bytes::Bytes>,
    audio: Vec<bytes::Bytes>,
}

fn pre_encode(color: PatternColor, freq: f32) -> Encoded {
    let mut cfg = VideoEncoderConfig::new(PW, PH, FPS, 2_000_000);
    cfg.keyframe_interval = LOOP as u32;
    cfg.allow_frame_drop = false;
    let mut enc = H264Encoder::new(cfg).unwrap();
    let pattern = TestPattern::new(PW, PH, color);
    let video = (0..LOOP)
        .map(|k| {
            // Stamp = frame number k; its send time is recorded at replay.
            let f = pattern.render(k as u32, 0);
            enc.encode(&f).unwrap().expect("no frame skipping").data
        })
        .collect();
    let mut opus = OpusEncoder::new(1, 32_000).unwrap();
    let mut phase = 0f32;
    let audio = (0..LOOP * 50 / FPS as usize)
        .map(|_| {
            let samples: Vec<f32> = (0..960)
                .map(|_| {
                    phase = (phase + freq / 48_000.0).fract();
                    0.3 * (phase * std::f32::consts::TAU).sin()
                })
                .collect();
            opus.encode(&AudioFrame {
                samples,
                channels: 1,
                sample_rate: 48_000,
                timestamp: Duration::ZERO,
            })
            .unwrap()
        })
        .collect();
    Encoded { video, audio }
}

/// WHIP-publishes `guid` and replays `media` at 30 fps / 50 audio packets per second, writing
/// the wall-clock send time of loop frame k into `sent[k]`.
async fn publish(s: &ServerHandle, guid: &str, media: Arc<Encoded>, sent: Arc<Vec<AtomicU64>>) {
    let (pc, mut ev) = client_peer().await;
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
    let r = http(
        &s.base_url(),
        "POST",
        &format!("/as/v1/proxy/whip/{guid}"),
        &[("Content-Type", "application/sdp")],
        &sdp,
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    pc.set_remote_description(RTCSessionDescription::answer(r.body).unwrap())
        .await
        .unwrap();
    connected(&mut ev, &mut keep).await;
    tokio::spawn(async move {
        let _pc = pc;
        while ev.recv().await.is_some() {}
    });
    tokio::spawn(async move {
        let r = || rand::random::<u32>();
        let mut vp = RtpPacketizer::new(RtpCodec::H264, 102, vssrc, r() as u16, r());
        let mut ap = RtpPacketizer::new(RtpCodec::Opus, 111, assrc, r() as u16, r());
        // 10 ms ticks: video every 1/30 s, audio every 20 ms, on one media clock.
        let t0 = Instant::now();
        let mut tick = tokio::time::interval(Duration::from_millis(5));
        let (mut nv, mut na) = (0u64, 0u64);
        loop {
            tick.tick().await;
            let el = t0.elapsed();
            while Duration::from_micros(na * 20_000) <= el {
                let p = &media.audio[na as usize % media.audio.len()];
                for pkt in ap.packetize(p, Duration::from_micros(na * 20_000)).unwrap() {
                    let _ = at.write_rtp(pkt).await;
                }
                na += 1;
            }
            while Duration::from_micros(nv * 1_000_000 / u64::from(FPS)) <= el {
                let k = nv as usize % LOOP;
                sent[k].store(now_unix_micros(), Ordering::Release);
                let mt = Duration::from_micros(nv * 1_000_000 / u64::from(FPS));
                for pkt in vp.packetize(&media.video[k], mt).unwrap() {
                    if vt.write_rtp(pkt).await.is_err() {
                        return;
                    }
                }
                nv += 1;
            }
        }
    });
}

fn crop(f: &VideoFrame, r: red5_mixer::Rect) -> VideoFrame {
    let r = r.fit(PW, PH);
    let (x, y, w, h) = (
        r.x as usize,
        r.y as usize,
        r.width as usize,
        r.height as usize,
    );
    let mut yp = Vec::with_capacity(w * h);
    for row in y..y + h {
        yp.extend_from_slice(&f.y[row * f.stride_y + x..row * f.stride_y + x + w]);
    }
    let (cw, ch) = (w / 2, h / 2);
    let (mut u, mut v) = (Vec::with_capacity(cw * ch), Vec::with_capacity(cw * ch));
    for row in y / 2..y / 2 + ch {
        let o = row * f.stride_uv + x / 2;
        u.extend_from_slice(&f.u[o..o + cw]);
        v.extend_from_slice(&f.v[o..o + cw]);
    }
    VideoFrame::from_planes(w as u32, h as u32, yp, w, u, v, cw).unwrap()
}

/// CPU seconds (utime + stime) of this process's threads whose name starts with `prefix`.
fn thread_cpu(prefix: &str) -> f64 {
    let ticks = 100.0; // USER_HZ on Linux
    let mut total = 0.0;
    if let Ok(dir) = std::fs::read_dir("/proc/self/task") {
        for e in dir.flatten() {
            let p = e.path();
            let comm = std::fs::read_to_string(p.join("comm")).unwrap_or_default();
            if !comm.trim().starts_with(prefix) {
                continue;
            }
            let stat = std::fs::read_to_string(p.join("stat")).unwrap_or_default();
            // Fields after the parenthesised name: state is field 3; utime 14, stime 15.
            let rest = stat.rsplit_once(')').map(|x| x.1).unwrap_or("");
            let f: Vec<&str> = rest.split_whitespace().collect();
            let ut: f64 = f.get(11).and_then(|v| v.parse().ok()).unwrap_or(0.0);
            let st: f64 = f.get(12).and_then(|v| v.parse().ok()).unwrap_or(0.0);
            total += (ut + st) / ticks;
        }
    }
    total
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let secs: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(15);
    let s = LocalServer::start(ServerConfig::default()).await.unwrap();
    let people = [
        ("p1", PatternColor::Red, 440.0),
        ("p2", PatternColor::Green, 660.0),
        ("p3", PatternColor::Blue, 880.0),
        ("p4", PatternColor::Yellow, 1100.0),
    ];
    eprintln!("pre-encoding 4 x {LOOP} frames of {PW}x{PH}…");
    let mut sents = vec![];
    for (name, color, freq) in people {
        let media = Arc::new(pre_encode(color, freq));
        let sent: Arc<Vec<AtomicU64>> = Arc::new((0..LOOP).map(|_| AtomicU64::new(0)).collect());
        publish(&s, &format!("live/room1_wr/{name}"), media, sent.clone()).await;
        sents.push(sent);
    }
    let mut host = ws_connect(&s.backend_ws_url_for("live/room1", true)).await;
    ws_send(
        &mut host,
        json!({"type":"createComposition","event":"room1","digest":"bench","transcodeComposition":false,
        "mixers":[{"mixerName":"m1","mixingPage":"https://x/?sm=true","streamName":"room1","path":"live/room1",
                   "width":PW.to_string(),"height":PH.to_string(),"framerate":FPS.to_string(),"bitrate":"1500","doForward":true,
                   "destinationMixerName":""}],"location":["local"]}),
    )
    .await;
    ws_until(&mut host, |v| {
        v["type"] == "activeCompositions" && v["list"][0]["mixers"][0]["state"] == "composing"
    })
    .await;
    for (name, _, _) in people {
        ws_send(
            &mut host,
            json!({"type":"promote","room":"live/room1","streamName":name}),
        )
        .await;
    }
    let ids: Vec<String> = people.iter().map(|p| p.0.to_owned()).collect();
    let main = compute_layout(PW, PH, &LayoutKind::Presenter, Some("p1"), &ids)
        .into_iter()
        .find(|t| t.role == TileRole::Main)
        .unwrap()
        .rect;
    let mut comp = whep_subscribe(&s, "live/room1/room1").await;
    let mut direct = whep_subscribe(&s, "live/room1_wr/p1").await;
    // Warm up: until the presenter's stamp is readable in the composite.
    until_frame(&mut comp.video, "the presenter stamp is readable", |f| {
        read_stamp(&crop(f, main)).is_some()
    })
    .await;
    eprintln!("measuring for {secs} s…");
    let (mix0, dec0, t0) = (
        thread_cpu("red5-mixer"),
        thread_cpu("red5-mixfeed"),
        Instant::now(),
    );
    let comp_frames0 = comp.video.decoded.load(Ordering::Relaxed);
    let sent = sents[0].clone();
    let lat = |f: &VideoFrame, crop_main: bool| -> Option<u64> {
        let st = if crop_main {
            read_stamp(&crop(f, main))?
        } else {
            read_stamp(f)?
        };
        let at = sent[st.frame_number as usize % LOOP].load(Ordering::Acquire);
        Some(now_unix_micros().saturating_sub(at))
    };
    let (mut lc, mut ld) = (LatencyStats::default(), LatencyStats::default());
    let (mut miss_c, mut miss_d) = (0u32, 0u32);
    let end = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        tokio::select! {
            r = comp.video.latest.changed() => {
                r.unwrap();
                let f = comp.video.latest.borrow_and_update().clone();
                match f.and_then(|f| lat(&f, true)) { Some(us) => lc.add_us(us), None => miss_c += 1 }
            }
            r = direct.video.latest.changed() => {
                r.unwrap();
                let f = direct.video.latest.borrow_and_update().clone();
                match f.and_then(|f| lat(&f, false)) { Some(us) => ld.add_us(us), None => miss_d += 1 }
            }
            _ = tokio::time::sleep_until(end) => break,
        }
    }
    let wall = t0.elapsed().as_secs_f64();
    let mix = (thread_cpu("red5-mixer") - mix0) / wall * 100.0;
    let dec = (thread_cpu("red5-mixfeed") - dec0) / wall * 100.0;
    let fps = (comp.video.decoded.load(Ordering::Relaxed) - comp_frames0) as f64 / wall;
    let (c, d) = (lc.summary().unwrap(), ld.summary().unwrap());
    println!("| measurement | value |");
    println!("|---|---|");
    println!("| participants | 4 × {PW}x{PH} {FPS} fps H.264 ≈ 2 Mbit/s + Opus, WHIP into the waiting room, promoted |");
    println!(
        "| composition | {PW}x{PH} {FPS} fps 1500 kbit/s, presenter layout, mix-minus for 4 |"
    );
    println!("| mixer thread CPU (compose + scale + H.264/Opus encode + mix-minus), share of one core | {mix:.1} % |");
    println!("| SFU-side decoder threads feeding it (4 × H.264 720p30 + Opus) | {dec:.1} % |");
    println!("| mixer total | {:.1} % of one core |", mix + dec);
    println!("| composite frame rate at a WHEP subscriber | {fps:.1} fps |");
    println!(
        "| presenter capture → composite decoded at a WHEP subscriber, p50 / p95 (n={}) | {:.1} / {:.1} ms |",
        c.count, c.p50_ms, c.p95_ms
    );
    println!(
        "| presenter capture → its own stream decoded directly (SFU only), p50 / p95 (n={}) | {:.1} / {:.1} ms |",
        d.count, d.p50_ms, d.p95_ms
    );
    println!(
        "| latency the mixer adds (difference of the medians) | {:.1} ms |",
        c.p50_ms - d.p50_ms
    );
    eprintln!("unreadable stamps: composite {miss_c}, direct {miss_d}");
    s.shutdown().await;
}
