//! Benchmarks of the built-in Stream Manager (not tests; run once in release):
//!   cargo run --release -p red5-localsm --bin localsm-bench
//! The server runs in a child process (`--serve`) so its CPU and memory are measured apart from
//! the webrtc-rs clients that load it. Results go to stdout as a Markdown table.
#![forbid(unsafe_code)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rtc::media::Sample;
use rtc::media_stream::MediaStreamTrack;
use rtc::peer_connection::configuration::media_engine::{MIME_TYPE_H264, MIME_TYPE_OPUS};
use rtc::rtp_transceiver::rtp_sender::{
    RTCRtpCodec, RTCRtpCodecParameters, RTCRtpCodingParameters, RTCRtpEncodingParameters,
    RtpCodecKind,
};
use rtc::rtp_transceiver::{RTCRtpTransceiverDirection, RTCRtpTransceiverInit};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;
use webrtc::media_stream::track_local::static_sample::TrackLocalStaticSample;
use webrtc::media_stream::track_local::TrackLocal;
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};
use webrtc::peer_connection::{
    register_default_interceptors, MediaEngine, PeerConnection, PeerConnectionBuilder,
    PeerConnectionEventHandler, RTCIceGatheringState, RTCPeerConnectionState,
    RTCSessionDescription, Registry, SettingEngineBuilder,
};

type BoxErr = Box<dyn std::error::Error + Send + Sync>;

fn main() -> Result<(), BoxErr> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    if std::env::args().nth(1).as_deref() == Some("--serve") {
        return rt.block_on(serve());
    }
    rt.block_on(bench())
}

async fn serve() -> Result<(), BoxErr> {
    let s = red5_localsm::LocalServer::start(red5_localsm::ServerConfig::default()).await?;
    println!("{}", s.base_url());
    // Runs until the parent closes stdin.
    let mut buf = [0u8; 1];
    let _ = tokio::io::stdin().read(&mut buf).await;
    s.shutdown().await;
    Ok(())
}

struct Child {
    child: tokio::process::Child,
    base: String,
    pid: u32,
}

async fn spawn_server() -> Result<Child, BoxErr> {
    let exe = std::env::current_exe()?;
    let mut child = tokio::process::Command::new(exe)
        .arg("--serve")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let out = child.stdout.take().ok_or("no stdout")?;
    let mut lines = tokio::io::BufReader::new(out).lines();
    let base = lines.next_line().await?.ok_or("server printed nothing")?;
    let pid = child.id().ok_or("no pid")?;
    Ok(Child { child, base, pid })
}

/// utime+stime of a process, in seconds.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let t = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (t(11) + t(12)) / 100.0 // clock ticks (USER_HZ = 100)
}

fn rss_kib(pid: u32) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    s.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

async fn http(
    base: &str,
    method: &str,
    path: &str,
    ctype: &str,
    body: &str,
) -> Result<(u16, String, String), BoxErr> {
    let host = base.trim_start_matches("http://");
    let mut s = tokio::net::TcpStream::connect(host).await?;
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await?;
    let text = String::from_utf8_lossy(&buf).into_owned();
    let (head, rest) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let location = head
        .lines()
        .find_map(|l| {
            l.strip_prefix("location: ")
                .or_else(|| l.strip_prefix("Location: "))
        })
        .unwrap_or("")
        .to_owned();
    Ok((status, location, rest.to_owned()))
}

enum Ev {
    Gathered,
    Connected,
    Track(Arc<dyn TrackRemote>),
}

struct H(mpsc::UnboundedSender<Ev>);

#[async_trait::async_trait]
impl PeerConnectionEventHandler for H {
    async fn on_ice_gathering_state_change(&self, s: RTCIceGatheringState) {
        if s == RTCIceGatheringState::Complete {
            let _ = self.0.send(Ev::Gathered);
        }
    }
    async fn on_connection_state_change(&self, s: RTCPeerConnectionState) {
        if s == RTCPeerConnectionState::Connected {
            let _ = self.0.send(Ev::Connected);
        }
    }
    async fn on_track(&self, t: Arc<dyn TrackRemote>) {
        let _ = self.0.send(Ev::Track(t));
    }
}

fn h264() -> RTCRtpCodec {
    RTCRtpCodec {
        mime_type: MIME_TYPE_H264.into(),
        clock_rate: 90_000,
        channels: 0,
        sdp_fmtp_line: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"
            .into(),
        rtcp_feedback: vec![],
    }
}

async fn peer() -> Result<(Arc<dyn PeerConnection>, mpsc::UnboundedReceiver<Ev>), BoxErr> {
    let mut m = MediaEngine::default();
    m.register_codec(
        RTCRtpCodecParameters {
            rtp_codec: h264(),
            payload_type: 102,
        },
        RtpCodecKind::Video,
    )?;
    let opus = RTCRtpCodec {
        mime_type: MIME_TYPE_OPUS.into(),
        clock_rate: 48_000,
        channels: 2,
        sdp_fmtp_line: "minptime=10;useinbandfec=1".into(),
        rtcp_feedback: vec![],
    };
    m.register_codec(
        RTCRtpCodecParameters {
            rtp_codec: opus,
            payload_type: 111,
        },
        RtpCodecKind::Audio,
    )?;
    let reg = register_default_interceptors(Registry::new(), &mut m)?;
    let se = SettingEngineBuilder::new()
        .with_network_types(vec![rtc::ice::network_type::NetworkType::Udp4])
        .build();
    let (tx, rx) = mpsc::unbounded_channel();
    let pc = PeerConnectionBuilder::new()
        .with_media_engine(m)
        .with_interceptor_registry(reg)
        .with_setting_engine(se)
        .with_handler(Arc::new(H(tx)))
        .with_udp_addrs(vec!["127.0.0.1:0".to_owned()])
        .build()
        .await?;
    Ok((Arc::new(pc), rx))
}

async fn until(rx: &mut mpsc::UnboundedReceiver<Ev>, want: fn(&Ev) -> bool) -> Option<Ev> {
    let deadline = tokio::time::sleep(Duration::from_secs(20));
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            e = rx.recv() => { let e = e?; if want(&e) { return Some(e); } }
            _ = &mut deadline => return None,
        }
    }
}

struct Publisher {
    pc: Arc<dyn PeerConnection>,
    track: Arc<TrackLocalStaticSample>,
    pt: u8,
}

async fn publish(base: &str, stream: &str) -> Result<Publisher, BoxErr> {
    let (pc, mut rx) = peer().await?;
    let track = Arc::new(TrackLocalStaticSample::new(
        Instant::now(),
        MediaStreamTrack::new(
            "bench".into(),
            "video".into(),
            "video".into(),
            RtpCodecKind::Video,
            vec![RTCRtpEncodingParameters {
                rtp_coding_parameters: RTCRtpCodingParameters {
                    ssrc: Some(0x5eed),
                    ..Default::default()
                },
                codec: h264(),
                ..Default::default()
            }],
        ),
    )?);
    let sender = pc.add_track(track.clone() as Arc<dyn TrackLocal>).await?;
    let o = pc.create_offer(None).await?;
    pc.set_local_description(o).await?;
    until(&mut rx, |e| matches!(e, Ev::Gathered))
        .await
        .ok_or("publisher gathering")?;
    let offer = pc.local_description().await.ok_or("no offer")?.sdp;
    let (st, _, answer) = http(
        base,
        "POST",
        &format!("/live/whip/endpoint/{stream}"),
        "application/sdp",
        &offer,
    )
    .await?;
    if st != 201 {
        return Err(format!("WHIP POST {st}: {answer}").into());
    }
    pc.set_remote_description(RTCSessionDescription::answer(answer)?)
        .await?;
    until(&mut rx, |e| matches!(e, Ev::Connected))
        .await
        .ok_or("publisher connect")?;
    let pt = sender
        .get_parameters()
        .await?
        .rtp_parameters
        .codecs
        .first()
        .ok_or("no codec")?
        .payload_type;
    Ok(Publisher { pc, track, pt })
}

struct Sub {
    pc: Arc<dyn PeerConnection>,
    resource: String,
    frames: Arc<AtomicU64>,
    first: Arc<tokio::sync::Notify>,
}

async fn subscribe(base: &str, stream: &str, id: usize) -> Result<Sub, BoxErr> {
    let (pc, mut rx) = peer().await?;
    for k in [RtpCodecKind::Video, RtpCodecKind::Audio] {
        let init = RTCRtpTransceiverInit {
            direction: RTCRtpTransceiverDirection::Recvonly,
            ..Default::default()
        };
        pc.add_transceiver_from_kind(k, Some(init)).await?;
    }
    let path = format!("/live/whep/endpoint/{stream}?requestId=bench-{id}");
    let (st, loc, offer) = http(base, "POST", &path, "application/sdp", "").await?;
    if st != 201 {
        return Err(format!("WHEP POST {st}: {offer}").into());
    }
    let resource = format!("{}?requestId=bench-{id}", loc.trim());
    pc.set_remote_description(RTCSessionDescription::offer(offer)?)
        .await?;
    let a = pc.create_answer(None).await?;
    pc.set_local_description(a).await?;
    until(&mut rx, |e| matches!(e, Ev::Gathered))
        .await
        .ok_or("subscriber gathering")?;
    let answer = pc.local_description().await.ok_or("no answer")?.sdp;
    let (st, _, body) = http(base, "PATCH", &resource, "application/sdp", &answer).await?;
    if st != 204 {
        return Err(format!("WHEP PATCH {st}: {body}").into());
    }
    let frames = Arc::new(AtomicU64::new(0));
    let first = Arc::new(tokio::sync::Notify::new());
    let (f, n) = (frames.clone(), first.clone());
    tokio::spawn(async move {
        while let Some(e) = rx.recv().await {
            if let Ev::Track(t) = e {
                let (f, n) = (f.clone(), n.clone());
                tokio::spawn(async move {
                    let mut notified = false;
                    while let Some(ev) = t.poll().await {
                        if let TrackRemoteEvent::OnRtpPacket(p) = ev {
                            if !notified {
                                notified = true;
                                n.notify_one();
                            }
                            if p.header.marker {
                                f.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    }
                });
            }
        }
    });
    Ok(Sub {
        pc,
        resource,
        frames,
        first,
    })
}

/// A synthetic 720p30 2.5 Mbit/s H.264 stream: a 60 KB IDR every 2 s, P frames sized so the
/// average hits the bitrate.
fn frame(i: u64) -> bytes::Bytes {
    let idr = i.is_multiple_of(60);
    let len = if idr { 60_000 } else { 8_500 };
    let mut v = vec![0u8, 0, 0, 1, if idr { 0x65 } else { 0x41 }];
    let mut x = 0x9e37_79b9u32 ^ i as u32;
    while v.len() < len {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        v.push((x & 0xff) as u8 | 1);
    }
    bytes::Bytes::from(v)
}

/// Streams frames at 30 fps until aborted; counts the frames written.
fn spawn_pump(p: &Publisher) -> (Arc<AtomicU64>, tokio::task::JoinHandle<()>) {
    let sent = Arc::new(AtomicU64::new(0));
    let (track, pt, counter) = (p.track.clone(), p.pt, sent.clone());
    let task = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_micros(33_333));
        for i in 0.. {
            tick.tick().await;
            let s = Sample {
                data: frame(i),
                duration: Duration::from_micros(33_333),
                ..Sample::new(Instant::now())
            };
            let _ = track.sample_writer(0x5eed, pt).write_sample(&s).await;
            counter.fetch_add(1, Ordering::Relaxed);
        }
    });
    (sent, task)
}

async fn bench() -> Result<(), BoxErr> {
    println!("| measurement | value |\n|---|---|");
    // 1. publish → first RTP at a subscriber (WHIP POST → first packet), median of 5.
    let srv = spawn_server().await?;
    let mut firsts = Vec::new();
    for run in 0..5 {
        let stream = format!("first{run}");
        let t0 = Instant::now();
        let p = publish(&srv.base, &stream).await?;
        let sub = subscribe(&srv.base, &stream, run).await?;
        let first = sub.first.clone();
        let (_, pumping) = spawn_pump(&p);
        tokio::time::timeout(Duration::from_secs(10), first.notified()).await?;
        firsts.push(t0.elapsed().as_secs_f64() * 1e3);
        pumping.abort();
        let _ = sub.pc.close().await;
        let _ = p.pc.close().await;
    }
    firsts.sort_by(|a, b| a.total_cmp(b));
    println!(
        "| publish (WHIP POST) → first RTP at a WHEP subscriber, median of 5 | {:.0} ms (min {:.0}, max {:.0}) |",
        firsts[2], firsts[0], firsts[4]
    );

    // 2. fan-out: one 720p30 2.5 Mbit/s publisher to N subscribers, measured over 10 s.
    for (k, n) in [1usize, 10, 50].into_iter().enumerate() {
        let stream = format!("fan{n}");
        let p = publish(&srv.base, &stream).await?;
        let (sent_frames, pumping) = spawn_pump(&p);
        let mut subs = Vec::new();
        for i in 0..n {
            subs.push(subscribe(&srv.base, &stream, 1000 * (k + 1) + i).await?);
        }
        for s in &subs {
            tokio::time::timeout(Duration::from_secs(20), s.first.notified())
                .await
                .ok();
        }
        // Every subscriber has started at a key frame (≤ 2 s GOP); then measure.
        tokio::time::sleep(Duration::from_secs(3)).await;
        let base_frames: Vec<u64> = subs
            .iter()
            .map(|s| s.frames.load(Ordering::Relaxed))
            .collect();
        let sent0 = sent_frames.load(Ordering::Relaxed);
        let cpu0 = cpu_seconds(srv.pid);
        let t0 = Instant::now();
        tokio::time::sleep(Duration::from_secs(10)).await;
        let sent = sent_frames.load(Ordering::Relaxed) - sent0;
        let wall = t0.elapsed().as_secs_f64();
        let cpu = cpu_seconds(srv.pid) - cpu0;
        let delivered: Vec<f64> = subs
            .iter()
            .zip(base_frames)
            .map(|(s, b)| (s.frames.load(Ordering::Relaxed) - b) as f64 / sent as f64)
            .collect();
        let min = delivered.iter().cloned().fold(f64::MAX, f64::min);
        let avg = delivered.iter().sum::<f64>() / delivered.len() as f64;
        println!(
            "| fan-out to {n:>2}: server CPU (share of one core) / per subscriber / frames delivered avg (worst) | {:.1} % / {:.2} % / {:.2} % ({:.2} %) |",
            100.0 * cpu / wall,
            100.0 * cpu / wall / n as f64,
            100.0 * avg.min(1.0),
            100.0 * min.min(1.0)
        );
        pumping.abort();
        for s in subs {
            let _ = http(&srv.base, "DELETE", &s.resource, "text/plain", "").await;
            let _ = s.pc.close().await;
        }
        let _ = p.pc.close().await;
    }

    // 3. memory across 100 connect/disconnect cycles of a subscriber.
    let p = publish(&srv.base, "mem").await?;
    let (_, pumping) = spawn_pump(&p);
    let mut marks = vec![(0, rss_kib(srv.pid))];
    for i in 0..100 {
        let s = subscribe(&srv.base, "mem", 90_000 + i).await?;
        tokio::time::timeout(Duration::from_secs(3), s.first.notified())
            .await
            .ok();
        let _ = http(&srv.base, "DELETE", &s.resource, "text/plain", "").await;
        let _ = s.pc.close().await;
        if [0, 9, 49, 99].contains(&i) {
            tokio::time::sleep(Duration::from_millis(300)).await;
            marks.push((i + 1, rss_kib(srv.pid)));
        }
    }
    pumping.abort();
    let m: Vec<String> = marks
        .iter()
        .map(|(i, k)| format!("after {i}: {:.1} MiB", *k as f64 / 1024.0))
        .collect();
    println!(
        "| server RSS across 100 subscriber connect/disconnect cycles | {} |",
        m.join(", ")
    );
    drop(srv.child);
    Ok(())
}
