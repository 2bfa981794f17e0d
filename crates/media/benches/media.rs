//! Media benchmarks (a plain bench binary, no timing asserts). Run once, in release:
//!   CARGO_TARGET_DIR=... cargo bench -p red5-media --bench media
//! Optional argument: a section name (convert, codecs, opus, ui, g2g, pipeline) to run only that.
//!
//! Prints one line per figure; BENCHMARKS.md records a run.

use std::hint::black_box;
use std::time::{Duration, Instant};

use red5_media::codec::opus::{OpusDecoder, OpusEncoder};
use red5_media::codec::{
    new_video_decoder, new_video_encoder, AudioDecoder, AudioEncoder, VideoCodec,
    VideoEncoderConfig,
};
use red5_media::convert::{Converter, PixelFormat};
use red5_media::frame::{now_unix_micros, process_cpu_time, VideoFrame};
use red5_media::rtp::{marshal, RtpCodec, RtpPacketizer};
use red5_media::source::{AudioSource, Pacer};
use red5_media::synthetic::{write_stamp, PatternColor, Stamp, TestPattern, ToneSource};
use red5_media::ui::{UiFormat, UiFrameEncoder};

fn frames(w: u32, h: u32, n: u32) -> Vec<VideoFrame> {
    let p = TestPattern::new(w, h, PatternColor::Blue);
    (0..n)
        .map(|i| {
            let mut f = p.render(i, now_unix_micros());
            f.timestamp = Duration::from_secs(u64::from(i)) / 30;
            f
        })
        .collect()
}

/// Webcam-like sensor noise (luma +-4, different every frame): the clean pattern compresses
/// far better than a real camera picture, which would flatter the encoder figures.
fn noisy_frames(w: u32, h: u32, n: u32) -> Vec<VideoFrame> {
    let mut x = 0x2545_f491u32;
    let mut v = frames(w, h, n);
    for f in &mut v {
        for p in f.y.iter_mut() {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            *p = (i32::from(*p) + (x % 9) as i32 - 4).clamp(16, 235) as u8;
        }
    }
    v
}

fn ms(d: Duration, n: usize) -> f64 {
    d.as_secs_f64() * 1000.0 / n as f64
}

fn codecs() {
    for (w, h, bitrate, noisy) in [
        (1280, 720, 2_500_000, false),
        (1280, 720, 2_500_000, true),
        (1920, 1080, 4_000_000, false),
        (1920, 1080, 4_000_000, true),
    ] {
        let input = if noisy {
            noisy_frames(w, h, 60)
        } else {
            frames(w, h, 60)
        };
        let content = if noisy { "pattern+noise" } else { "pattern" };
        for codec in [VideoCodec::H264, VideoCodec::Vp8] {
            let cfg = VideoEncoderConfig::new(w, h, 30, bitrate);
            let mut enc = new_video_encoder(codec, cfg).expect("encoder");
            let mut encoded = Vec::new();
            let t = Instant::now();
            for f in &input {
                if let Some(e) = enc.encode(f).expect("encode") {
                    encoded.push(e.data);
                }
            }
            let enc_time = t.elapsed();
            let bytes: usize = encoded.iter().map(|b| b.len()).sum();
            let mut dec = new_video_decoder(codec).expect("decoder");
            let t = Instant::now();
            for e in &encoded {
                black_box(dec.decode(e).expect("decode"));
            }
            let dec_time = t.elapsed();
            println!(
                "{codec:?} {w}x{h} {content}: encode {:.2} ms/frame, decode {:.2} ms/frame, {} of {} frames coded, {:.2} Mbit/s at 30 fps (target {:.1})",
                ms(enc_time, input.len()),
                ms(dec_time, encoded.len()),
                encoded.len(),
                input.len(),
                bytes as f64 * 8.0 / (input.len() as f64 / 30.0) / 1e6,
                bitrate as f64 / 1e6
            );
        }
    }
}

/// 720p30 publish pipeline at real-time pacing: camera-like YUYV → I420 → stamp → H.264 →
/// RTP packets on the wire, CPU measured with getrusage over a fixed number of frames.
fn pipeline() {
    let (w, h, fps, n) = (1280u32, 720u32, 30u32, 300usize);
    // Pre-rendered YUYV frames (with sensor noise) stand in for the camera driver's buffers.
    let yuyv: Vec<Vec<u8>> = noisy_frames(w, h, 30)
        .iter()
        .map(|f| {
            let mut v = Vec::with_capacity((w * h * 2) as usize);
            for y in 0..h as usize {
                for x in (0..w as usize).step_by(2) {
                    let (u, vv) = f.uv_at(x, y);
                    v.extend_from_slice(&[f.y_at(x, y), u, f.y_at(x + 1, y), vv]);
                }
            }
            v
        })
        .collect();
    let mut conv = Converter::new();
    let mut cfg = VideoEncoderConfig::new(w, h, fps, 2_500_000);
    cfg.keyframe_interval = 60;
    let mut enc = new_video_encoder(VideoCodec::H264, cfg).expect("encoder");
    let mut pk = RtpPacketizer::new(RtpCodec::H264, 102, 1, 0, 0);
    let mut pacer = Pacer::new(Duration::from_secs(1) / fps);
    let mut packets = 0usize;
    let mut bytes = 0usize;
    let cpu0 = process_cpu_time().expect("getrusage");
    let t0 = Instant::now();
    for i in 0..n {
        pacer.wait();
        let mut f = conv
            .to_i420(PixelFormat::Yuyv, &yuyv[i % yuyv.len()], w, h, 0)
            .expect("convert");
        f.timestamp = Duration::from_secs(i as u64) / fps;
        write_stamp(
            &mut f,
            Stamp {
                frame_number: i as u32,
                capture_time_us48: now_unix_micros() & ((1 << 48) - 1),
            },
        );
        if let Some(e) = enc.encode(&f).expect("encode") {
            for p in pk.packetize(&e.data, e.timestamp).expect("packetize") {
                bytes += marshal(&p).expect("marshal").len();
                packets += 1;
            }
        }
    }
    let wall = t0.elapsed();
    let cpu = process_cpu_time().expect("getrusage") - cpu0;
    println!(
        "publish pipeline 720p30 (noisy YUYV->I420->H.264 2.5 Mbit/s->RTP), {n} frames in {:.2} s: CPU {:.1}% of one core \
         ({:.2} ms CPU/frame), {packets} packets, {:.2} Mbit/s",
        wall.as_secs_f64(),
        100.0 * cpu.as_secs_f64() / wall.as_secs_f64(),
        ms(cpu, n),
        bytes as f64 * 8.0 / wall.as_secs_f64() / 1e6
    );
}

fn opus() {
    let mut tone = ToneSource::new(440.0, 0.5, 2, false).expect("tone");
    let input: Vec<_> = (0..500).map(|_| tone.next_frame().expect("tone")).collect();
    let mut enc = OpusEncoder::new(2, 64_000).expect("opus");
    let t = Instant::now();
    let packets: Vec<_> = input
        .iter()
        .map(|f| enc.encode(f).expect("encode"))
        .collect();
    let e = t.elapsed();
    let mut dec = OpusDecoder::new(2).expect("opus");
    let t = Instant::now();
    for p in &packets {
        black_box(dec.decode(Some(p)).expect("decode"));
    }
    let d = t.elapsed();
    println!(
        "Opus 48 kHz stereo 20 ms @64 kbit/s: encode {:.1} us/frame ({:.0}x realtime), decode {:.1} us/frame ({:.0}x realtime)",
        e.as_secs_f64() * 1e6 / 500.0,
        10.0 / e.as_secs_f64(),
        d.as_secs_f64() * 1e6 / 500.0,
        10.0 / d.as_secs_f64()
    );
}

fn ui() {
    for (w, h) in [(1280, 720), (1920, 1080)] {
        let input = frames(w, h, 30);
        for (fmt, q) in [
            (UiFormat::Jpeg, 80),
            (UiFormat::Rgba, 0),
            (UiFormat::I420, 0),
        ] {
            let mut enc = UiFrameEncoder::new(fmt, q).expect("ui encoder");
            let t = Instant::now();
            let mut size = 0;
            for f in &input {
                size += enc.encode(f).expect("ui frame").len();
            }
            println!(
                "UI frame {fmt:?} {w}x{h}: {:.2} ms/frame, {} KiB/frame",
                ms(t.elapsed(), input.len()),
                size / input.len() / 1024
            );
        }
    }
}

fn convert() {
    let (w, h) = (1280u32, 720u32);
    let f = &frames(w, h, 1)[0];
    let mut ui = UiFrameEncoder::new(UiFormat::Jpeg, 85).expect("jpeg");
    let jpeg = ui.encode(f).expect("jpeg")[red5_media::ui::UI_HEADER_LEN..].to_vec();
    let yuyv = vec![128u8; (w * h * 2) as usize];
    let nv12 = vec![128u8; (w * h * 3 / 2) as usize];
    let rgb = vec![128u8; (w * h * 3) as usize];
    let mut conv = Converter::new();
    for (name, fmt, data) in [
        ("MJPEG", PixelFormat::Mjpeg, &jpeg),
        ("YUYV", PixelFormat::Yuyv, &yuyv),
        ("NV12", PixelFormat::Nv12, &nv12),
        ("RGB24", PixelFormat::Rgb24, &rgb),
    ] {
        let t = Instant::now();
        for _ in 0..30 {
            black_box(conv.to_i420(fmt, data, w, h, 0).expect("convert"));
        }
        println!(
            "convert {name} 1280x720 -> I420: {:.2} ms/frame",
            ms(t.elapsed(), 30)
        );
    }
}

/// In-process glass-to-glass (no network): paced 720p30 pattern → H.264 → RTP → jitter
/// buffer → decode → read the capture time back from the pixels.
fn g2g() {
    use red5_media::analysis::LatencyStats;
    use red5_media::pipeline::{VideoReceiveOutput, VideoReceiver};
    use red5_media::source::VideoSource;
    use red5_media::synthetic::{read_stamp, TestPatternSource};
    let mut src = TestPatternSource::new(1280, 720, 30, PatternColor::Green, true).expect("source");
    let mut enc = new_video_encoder(
        VideoCodec::H264,
        VideoEncoderConfig::new(1280, 720, 30, 2_500_000),
    )
    .expect("encoder");
    let mut pk = RtpPacketizer::new(RtpCodec::H264, 102, 1, 0, 0);
    let mut rx = VideoReceiver::new(VideoCodec::H264).expect("receiver");
    let mut stats = LatencyStats::default();
    for _ in 0..90 {
        let f = src.next_frame().expect("frame");
        if let Some(e) = enc.encode(&f).expect("encode") {
            for p in pk.packetize(&e.data, e.timestamp).expect("packetize") {
                rx.push(p, Instant::now());
            }
        }
        for out in rx.poll(Instant::now()) {
            if let VideoReceiveOutput::Frame { frame, .. } = out {
                if let Some(s) = read_stamp(&frame) {
                    stats.add_us(s.latency_us(now_unix_micros()));
                }
            }
        }
    }
    if let Some(s) = stats.summary() {
        println!(
            "in-process glass-to-glass 720p30 H.264 (no network): p50 {:.1} ms, p95 {:.1} ms, max {:.1} ms over {} frames",
            s.p50_ms, s.p95_ms, s.max_ms, s.count
        );
    }
}

fn main() {
    // `cargo bench` passes "--bench"; ignore flags.
    let only: Option<String> = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let run = |name: &str| only.as_deref().is_none_or(|o| o == name);
    if run("convert") {
        convert();
    }
    if run("codecs") {
        codecs();
    }
    if run("opus") {
        opus();
    }
    if run("ui") {
        ui();
    }
    if run("g2g") {
        g2g();
    }
    if run("pipeline") {
        pipeline();
    }
}
