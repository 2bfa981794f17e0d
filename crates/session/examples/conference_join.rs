//! Conference timings with the real engines on the built-in server (mixer included): how long
//! the host waits for a composition to compose, and how long a participant takes from the
//! host's "add to conference" to being in the conference, to the first composite frame and to
//! hearing the others (mix-minus tones detected in the decoded audio).
//!
//! `cargo run --release -p red5-session --example conference_join -- [participants] [routes]`
//! (defaults: 3 sm2; routes: sm1 | sm2 | standalone). Figures go into BENCHMARKS.md.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use red5_localsm::{LocalServer, ServerConfig};
use red5_media::analysis::{channel, tone_power};
use red5_session::publisher::PublishVideo;
use red5_session::subscriber::AudioOutput;
use red5_session::{
    CompositionState, Endpoint, Host, HostConfig, HostEvent, JoinRoute, Participant,
    ParticipantConfig, ParticipantEvent, Transport,
};
use red5_signal::Secret;
use tokio::sync::mpsc;

const COLOURS: [&str; 6] = ["red", "green", "blue", "yellow", "magenta", "cyan"];
const TONES: [f32; 6] = [440.0, 660.0, 880.0, 550.0, 770.0, 990.0];

async fn wait<E>(rx: &mut mpsc::UnboundedReceiver<E>, f: impl Fn(&E) -> bool) -> Option<E> {
    tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(e) = rx.recv().await {
            if f(&e) {
                return Some(e);
            }
        }
        None
    })
    .await
    .ok()
    .flatten()
}

fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1000.0)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 4)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let n: usize = args
        .first()
        .and_then(|a| a.parse().ok())
        .unwrap_or(3)
        .clamp(2, 6);
    let (transport, route) = match args.get(1).map(String::as_str) {
        Some("sm1") => (Transport::WsSm1, JoinRoute::Sm1),
        Some("standalone") => (Transport::WsStandalone, JoinRoute::Standalone),
        _ => (Transport::WhipSm2, JoinRoute::Sm2),
    };
    let server = LocalServer::start(ServerConfig::default()).await?;
    let mut hc = HostConfig::new(server.backend_ws_url(), "live/room1");
    hc.access_token = Secret::new("bench");
    let (host, mut hev) = Host::connect(hc).await?;
    wait(&mut hev, |e| matches!(e, HostEvent::Connected)).await;
    wait(&mut hev, |e| matches!(e, HostEvent::MixerRegions { .. })).await;
    let mut form = host.composition_form();
    if form.region.is_empty() {
        form.region = host
            .snapshot()
            .mixer_regions
            .first()
            .cloned()
            .unwrap_or_default();
    }
    let t0 = Instant::now();
    host.create_composition(&form)?;
    wait(&mut hev, |e| {
        matches!(e, HostEvent::Compositions { list }
            if list.iter().any(|c| c.state == CompositionState::Composing))
    })
    .await
    .ok_or("the composition never composed")?;
    let composing = t0.elapsed();

    let mut people = Vec::new();
    for i in 0..n {
        let name = format!("p{i}");
        let mut cfg = ParticipantConfig::new(
            Endpoint::new(server.base_url(), transport, "live"),
            server.backend_ws_url(),
            "live/room1",
            name.clone(),
            Some(&format!("synthetic:pattern:{}", COLOURS[i])),
            Some(&format!("synthetic:tone:{}", TONES[i])),
        );
        cfg.join_route = route;
        cfg.audio_output = AudioOutput::Silent;
        cfg.video = cfg.video.map(|v| PublishVideo {
            width: 640,
            height: 360,
            fps: 30,
            bitrate_bps: 600_000,
            ..v
        });
        let (p, ev) = Participant::start(cfg).await?;
        let audio = Arc::new(Mutex::new(VecDeque::<f32>::new()));
        let a2 = audio.clone();
        let mut arx = p.take_audio_frames().ok_or("no audio tap")?;
        tokio::spawn(async move {
            while let Some(f) = arx.recv().await {
                let mut a = a2.lock().unwrap_or_else(|e| e.into_inner());
                a.extend(channel(&f.samples, f.channels, 0));
                while a.len() > 24_000 {
                    a.pop_front();
                }
            }
        });
        let mut vrx = p.take_video_frames().ok_or("no video")?;
        tokio::spawn(async move { while vrx.recv().await.is_some() {} });
        people.push((name, p, ev, audio));
    }
    wait(
        &mut hev,
        |e| matches!(e, HostEvent::WaitingRoom { streams } if streams.len() == n),
    )
    .await
    .ok_or("participants never reached the waiting room")?;

    println!("composition create → composing: {}", ms(composing));
    println!("| participant | promote → in conference | promote → first composite frame | promote → hears every other | key-frame requests sent |");
    println!("|---|---|---|---|---|");
    for (i, (name, p, ev, audio)) in people.iter_mut().enumerate() {
        let t = Instant::now();
        host.promote(name)?;
        // Events and the received audio are watched together: the first composite frame may
        // decode before the start status, and the mix-minus may be heard before either.
        let others: Vec<f32> = TONES[..i].to_vec();
        let hears = |audio: &Arc<Mutex<VecDeque<f32>>>| {
            let a = audio.lock().unwrap_or_else(|e| e.into_inner());
            let v: Vec<f32> = a.iter().copied().collect();
            v.len() >= 9_600 && others.iter().all(|f| tone_power(&v, 48_000, *f) > 0.002)
        };
        let (mut joined, mut frame, mut heard) = (None, None, others.is_empty().then_some(None));
        let mut tick = tokio::time::interval(Duration::from_millis(10));
        while joined.is_none() || frame.is_none() || heard.is_none() {
            if t.elapsed() > Duration::from_secs(60) {
                return Err(format!("{name}: not in the conference within 60 s").into());
            }
            tokio::select! {
                e = ev.recv() => match e {
                    Some(ParticipantEvent::Joined { .. }) => joined = Some(t.elapsed()),
                    Some(ParticipantEvent::FirstFrame { .. }) => frame = Some(t.elapsed()),
                    Some(ParticipantEvent::Failed { error }) => return Err(error.into()),
                    Some(_) => {}
                    None => return Err("the participant ended".into()),
                },
                _ = tick.tick() => {
                    if heard.is_none() && hears(audio) {
                        heard = Some(Some(t.elapsed()));
                    }
                }
            }
        }
        let (joined, frame) = (joined.unwrap_or_default(), frame.unwrap_or_default());
        let heard = heard.flatten().map_or("—".to_owned(), ms);
        tokio::time::sleep(Duration::from_millis(1100)).await; // one stats tick
        println!(
            "| {name} | {} | {} | {heard} | {} |",
            ms(joined),
            ms(frame),
            p.stats().keyframe_requests
        );
    }
    for (_, p, _, _) in &people {
        p.leave().await;
    }
    host.stop().await;
    server.shutdown().await;
    Ok(())
}
