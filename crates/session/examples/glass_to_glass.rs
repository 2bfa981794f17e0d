//! Glass-to-glass latency on loopback through the built-in server, with the real engines:
//! synthetic pattern with its capture time stamped in the pixels → H.264 → publisher engine →
//! built-in server (SFU) → subscriber engine → decode → read the stamp.
//!
//! Also reports the connect time (publish start → first decoded frame at the subscriber).
//!
//! `cargo run --release -p red5-session --example glass_to_glass -- [frames] [WxH] [fps] [whip|ws]`
//! (defaults: 300 640x360 30 whip). Run it in release; the figures go into BENCHMARKS.md.

use std::time::{Duration, Instant};

use red5_localsm::{LocalServer, ServerConfig};
use red5_media::analysis::LatencyStats;
use red5_media::frame::now_unix_micros;
use red5_media::synthetic::read_stamp;
use red5_session::publisher::PublishVideo;
use red5_session::subscriber::AudioOutput;
use red5_session::{
    Endpoint, Publisher, PublisherConfig, PublisherEvent, Subscriber, SubscriberConfig,
    SubscriberEvent, Transport,
};

#[tokio::main(flavor = "multi_thread", worker_threads = 4)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let frames: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(300);
    let (w, h) = args
        .get(1)
        .and_then(|a| a.split_once('x'))
        .and_then(|(w, h)| Some((w.parse().ok()?, h.parse().ok()?)))
        .unwrap_or((640u32, 360u32));
    let fps: u32 = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(30);
    let transport = match args.get(3).map(String::as_str) {
        Some("ws") => Transport::WsSm2,
        _ => Transport::WhipSm2,
    };

    let server = LocalServer::start(ServerConfig::default()).await?;
    let base = server.base_url();
    let mut pc = PublisherConfig::new(
        Endpoint::new(&base, transport, "live"),
        "g2g",
        Some("synthetic:pattern:blue"),
        Some("synthetic:tone:440"),
    );
    pc.video = Some(PublishVideo {
        width: w,
        height: h,
        fps,
        bitrate_bps: 1_500_000,
        ..pc.video.take().ok_or("no video")?
    });

    let t0 = Instant::now();
    let (publisher, mut pev) = Publisher::start(pc).await?;
    let started = loop {
        match tokio::time::timeout(Duration::from_secs(30), pev.recv()).await? {
            Some(PublisherEvent::Started) => break t0.elapsed(),
            Some(PublisherEvent::Failed { error: e }) => return Err(e.into()),
            Some(_) => {}
            None => return Err("publisher ended".into()),
        }
    };
    let t_sub = Instant::now();
    let mut sc = SubscriberConfig::new(Endpoint::new(&base, transport, "live"), "g2g");
    sc.audio_output = AudioOutput::Silent;
    let (sub, mut sev) = Subscriber::start(sc).await?;
    let mut video = sub.take_video_frames().ok_or("no frames")?;
    tokio::spawn(async move {
        while let Some(e) = sev.recv().await {
            if let SubscriberEvent::Failed { error: e } = e {
                eprintln!("subscriber failed: {e}");
            }
        }
    });
    tokio::spawn(async move {
        while let Some(e) = pev.recv().await {
            if let PublisherEvent::Failed { error: e } = e {
                eprintln!("publisher failed: {e}");
            }
        }
    });

    let mut first: Option<(Duration, Duration)> = None;
    let mut lat = LatencyStats::default();
    let mut unstamped = 0;
    let deadline = Instant::now() + Duration::from_secs(60 + frames as u64 / u64::from(fps.max(1)));
    while lat.len() < frames && Instant::now() < deadline {
        let Ok(Some(f)) = tokio::time::timeout(Duration::from_secs(10), video.recv()).await else {
            break;
        };
        let now = now_unix_micros();
        if first.is_none() {
            first = Some((t0.elapsed(), t_sub.elapsed()));
        }
        match read_stamp(&f.frame) {
            Some(s) => lat.add_us(s.latency_us(now)),
            None => unstamped += 1,
        }
    }
    let sum = lat.summary().ok_or("no stamped frames decoded")?;
    let (first_total, first_sub) = first.ok_or("no frame")?;
    let stats = sub.stats();
    println!("glass-to-glass {w}x{h}@{fps} H.264 1.5 Mbit/s over {transport:?} (loopback, built-in server)");
    println!(
        "  frames {} (unstamped {unstamped})  p50 {:.1} ms  p95 {:.1} ms  min {:.1} ms  max {:.1} ms",
        sum.count, sum.p50_ms, sum.p95_ms, sum.min_ms, sum.max_ms
    );
    println!(
        "  connect: publish start -> Publish.Start {:.0} ms; publish start -> first frame at subscriber {:.0} ms; subscribe start -> first frame {:.0} ms",
        started.as_secs_f64() * 1e3,
        first_total.as_secs_f64() * 1e3,
        first_sub.as_secs_f64() * 1e3
    );
    println!("  subscriber stats: {}", serde_json::to_string(&stats)?);
    sub.stop().await;
    publisher.stop().await;
    server.shutdown().await;
    Ok(())
}
