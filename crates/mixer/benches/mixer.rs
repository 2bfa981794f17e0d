//! Mixer CPU and latency at real-time pacing: 4 participants publishing 720p30 H.264 and Opus
//! (decoded here, as the server would), composed into 1280x720 at 30 fps, encoded at
//! 1500 kbps, plus mix-minus and talker tracks (Opus) for each participant.
//!
//! `cargo bench -p red5-mixer --bench mixer [-- SECONDS]` (default 10 s).
#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark binary, not product code

use std::time::{Duration, Instant};

use red5_media::analysis::LatencyStats;
use red5_media::codec::h264::{H264Decoder, H264Encoder};
use red5_media::codec::opus::{OpusDecoder, OpusEncoder};
use red5_media::codec::{
    AudioDecoder, AudioEncoder, VideoDecoder, VideoEncoder, VideoEncoderConfig,
};
use red5_media::frame::process_cpu_time;
use red5_media::source::AudioSource;
use red5_media::synthetic::{PatternColor, TestPattern, ToneSource};
use red5_mixer::{Mixer, MixerConfig, MixerEvent};

const CLIP_FRAMES: u32 = 60;
const CLIP_AUDIO: usize = 100;

struct Input {
    id: String,
    video: Vec<bytes::Bytes>,
    audio: Vec<bytes::Bytes>,
    vdec: H264Decoder,
    adec: OpusDecoder,
}

/// Camera-like clip: the moving pattern plus fresh luma noise every frame (what makes rate
/// control and decoding work as with a real camera), looped from an IDR.
fn clip(color: PatternColor, freq: f32) -> (Vec<bytes::Bytes>, Vec<bytes::Bytes>) {
    let pattern = TestPattern::new(1280, 720, color);
    let mut cfg = VideoEncoderConfig::new(1280, 720, 30, 1_500_000);
    cfg.keyframe_interval = CLIP_FRAMES;
    cfg.allow_frame_drop = false;
    let mut enc = H264Encoder::new(cfg).unwrap();
    let mut seed = 0x2545_f491_u32 ^ (freq as u32);
    let mut video = Vec::new();
    for n in 0..CLIP_FRAMES {
        let mut f = pattern.render(n, 0);
        for p in f.y.iter_mut() {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            *p = (i32::from(*p) + (seed % 9) as i32 - 4).clamp(16, 235) as u8;
        }
        video.push(enc.encode(&f).unwrap().expect("no frame dropping").data);
    }
    let mut tone = ToneSource::new(freq, 0.3, 1, false).unwrap();
    let mut aenc = OpusEncoder::new(1, 32_000).unwrap();
    let audio = (0..CLIP_AUDIO)
        .map(|_| aenc.encode(&tone.next_frame().unwrap()).unwrap())
        .collect();
    (video, audio)
}

fn main() {
    let seconds: u64 = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(10);
    let people = [
        ("alice", PatternColor::Red, 440.0),
        ("bob", PatternColor::Green, 660.0),
        ("carol", PatternColor::Blue, 880.0),
        ("dave", PatternColor::Yellow, 550.0),
    ];
    eprintln!("pre-encoding 4 participant clips (not measured)...");
    let mut inputs: Vec<Input> = people
        .iter()
        .map(|(id, c, f)| {
            let (video, audio) = clip(*c, *f);
            Input {
                id: (*id).to_string(),
                video,
                audio,
                vdec: H264Decoder::new().unwrap(),
                adec: OpusDecoder::new(1).unwrap(),
            }
        })
        .collect();
    let input_bytes: usize = inputs[0].video.iter().map(|b| b.len()).sum();
    let config = MixerConfig::new(1280, 720, 30, 1500);
    let start = Instant::now();
    let mut mixer = Mixer::new(config, start).unwrap();
    for i in &inputs {
        mixer.add_participant(&i.id).unwrap();
    }
    mixer.set_presenter(Some("alice"));

    let frame_period = Duration::from_nanos(1_000_000_000 / 30);
    let audio_period = Duration::from_millis(20);
    let (mut vn, mut an) = (0u64, 0u64);
    let mut latency = LatencyStats::default();
    let mut tick_time = Duration::ZERO;
    let mut decode_time = Duration::ZERO;
    let mut composites = 0u64;
    let mut out_bytes = 0u64;
    let cpu0 = process_cpu_time().expect("getrusage");
    let wall0 = Instant::now();
    let end = start + Duration::from_secs(seconds);
    loop {
        let now = Instant::now();
        if now >= end {
            break;
        }
        let t = Instant::now();
        // Participants' frames arrive at their own 30 fps / 20 ms clocks, decoded on arrival.
        while start + frame_period * vn as u32 <= now {
            for i in &mut inputs {
                let pkt = &i.video[(vn % u64::from(CLIP_FRAMES)) as usize];
                if let Some(f) = i.vdec.decode(pkt).unwrap() {
                    mixer.push_video(&i.id, f, Instant::now()).unwrap();
                }
            }
            vn += 1;
        }
        while start + audio_period * an as u32 <= now {
            for i in &mut inputs {
                let pkt = &i.audio[an as usize % CLIP_AUDIO];
                let pcm = i.adec.decode(Some(pkt)).unwrap();
                mixer.push_audio(&i.id, &pcm).unwrap();
            }
            an += 1;
        }
        decode_time += t.elapsed();
        let t = Instant::now();
        for ev in mixer.tick(Instant::now()).unwrap() {
            if let MixerEvent::Video(v) = ev {
                let done = Instant::now();
                composites += 1;
                if let Some(e) = &v.encoded {
                    out_bytes += e.data.len() as u64;
                }
                for r in &v.refreshed {
                    latency.add_us(done.duration_since(r.arrival).as_micros() as u64);
                }
            }
        }
        tick_time += t.elapsed();
        let next = mixer
            .next_deadline()
            .min(start + frame_period * vn as u32)
            .min(start + audio_period * an as u32);
        let now = Instant::now();
        if next > now {
            std::thread::sleep(next - now);
        }
    }
    let wall = wall0.elapsed();
    let cpu = process_cpu_time().expect("getrusage") - cpu0;
    let lat = latency.summary().expect("no composite was made");
    let stats = mixer.stats();
    let pct = |d: Duration| 100.0 * d.as_secs_f64() / wall.as_secs_f64();
    println!(
        "## Mixer at real-time pacing ({seconds} s, 4 participants, 1280x720@30, 1500 kbps)\n"
    );
    println!("| measure | value |");
    println!("|---|---|");
    println!(
        "| process CPU (getrusage), % of one core | {:.1} % |",
        pct(cpu)
    );
    println!(
        "| of which input decoding (4x H.264 720p + 4x Opus), wall in loop | {:.1} % |",
        pct(decode_time)
    );
    println!(
        "| of which mixer tick (compose + H.264 encode + audio mix + Opus), wall | {:.1} % |",
        pct(tick_time)
    );
    println!(
        "| composites | {composites} ({:.1} fps), skipped {} |",
        composites as f64 / wall.as_secs_f64(),
        stats.skipped_video_frames
    );
    println!(
        "| composite bitrate | {:.0} kbps (target 1500) |",
        out_bytes as f64 * 8.0 / wall.as_secs_f64() / 1000.0
    );
    println!(
        "| input bitrate per participant | {:.0} kbps |",
        input_bytes as f64 * 8.0 / 2.0 / 1000.0
    );
    println!(
        "| audio frames | {} (skipped {}) |",
        stats.audio_frames, stats.skipped_audio_frames
    );
    println!(
        "| latency arrival -> encoded composite (ms) | p50 {:.1}, p95 {:.1}, max {:.1} (n={}) |",
        lat.p50_ms, lat.p95_ms, lat.max_ms, lat.count
    );
}
