//! Conference engines (Host + Participants) against the REAL built-in server (red5-localsm, with
//! its conference backend, mixer and joinGroup) on 127.0.0.1, with real codecs and synthetic
//! sources: tones 440/660/880 Hz and red/green/blue patterns. Waits are on events or on the
//! received media, bounded by generous deadlines.

#![allow(clippy::unwrap_used)] // tests may unwrap

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use red5_localsm::{LocalServer, ServerConfig, ServerHandle};
use red5_media::analysis::{channel, tone_power};
use red5_media::synthetic::PatternColor;
use red5_media::VideoFrame;
use red5_mixer::{compute_layout, LayoutKind, Rect, TileRole};
use red5_session::publisher::PublishVideo;
use red5_session::subscriber::AudioOutput;
use red5_session::{
    CompositionState, Endpoint, Host, HostConfig, HostEvent, JoinRoute, Participant,
    ParticipantConfig, ParticipantEvent, ParticipantState, Transport,
};
use red5_signal::Secret;
use tokio::sync::mpsc;

const DEADLINE: Duration = Duration::from_secs(60);
const MIX_W: u32 = 640;
const MIX_H: u32 = 360;
const SRC_W: u32 = 320;
const SRC_H: u32 = 180;

fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_test_writer()
        .try_init();
}

/// Waits for the first event matching `pred`; panics with what was seen otherwise.
async fn until<E: std::fmt::Debug>(
    rx: &mut mpsc::UnboundedReceiver<E>,
    what: &str,
    pred: impl Fn(&E) -> bool,
) -> E {
    let mut seen = Vec::new();
    let r = tokio::time::timeout(DEADLINE, async {
        while let Some(e) = rx.recv().await {
            if pred(&e) {
                return Some(e);
            }
            seen.push(format!("{e:?}"));
        }
        None
    })
    .await;
    match r {
        Ok(Some(e)) => e,
        _ => panic!("no {what}; saw: {seen:#?}"),
    }
}

/// Polls a condition on received media/events until it holds (bounded).
async fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let t = Instant::now();
    while !f() {
        assert!(t.elapsed() < DEADLINE, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A participant engine with everything it reports collected for the test.
struct P {
    name: &'static str,
    freq: f32,
    engine: Participant,
    events: Arc<Mutex<Vec<ParticipantEvent>>>,
    audio: Arc<Mutex<VecDeque<f32>>>,
    picture: Arc<Mutex<Option<VideoFrame>>>,
}

impl P {
    async fn start(
        s: &ServerHandle,
        transport: Transport,
        route: JoinRoute,
        name: &'static str,
        colour: &str,
        freq: f32,
    ) -> P {
        P::start_with(s, transport, route, name, Some(colour), freq).await
    }

    /// `colour: None` = no camera (audio only).
    async fn start_with(
        s: &ServerHandle,
        transport: Transport,
        route: JoinRoute,
        name: &'static str,
        colour: Option<&str>,
        freq: f32,
    ) -> P {
        let video = colour.map(|c| format!("synthetic:pattern:{c}"));
        let mut cfg = ParticipantConfig::new(
            Endpoint::new(s.base_url(), transport, "live"),
            s.backend_ws_url(),
            "live/room1",
            name,
            video.as_deref(),
            Some(&format!("synthetic:tone:{freq}")),
        );
        cfg.join_route = route;
        cfg.audio_output = AudioOutput::Silent;
        cfg.video = cfg.video.map(|v| PublishVideo {
            width: SRC_W,
            height: SRC_H,
            fps: 15,
            bitrate_bps: 300_000,
            ..v
        });
        let (engine, mut rx) = Participant::start(cfg).await.unwrap();
        let events = Arc::new(Mutex::new(Vec::new()));
        let e2 = events.clone();
        tokio::spawn(async move {
            while let Some(e) = rx.recv().await {
                e2.lock().unwrap().push(e);
            }
        });
        let audio = Arc::new(Mutex::new(VecDeque::new()));
        let a2 = audio.clone();
        let mut arx = engine.take_audio_frames().unwrap();
        tokio::spawn(async move {
            while let Some(f) = arx.recv().await {
                let mono = channel(&f.samples, f.channels, 0);
                let mut a = a2.lock().unwrap();
                a.extend(mono);
                while a.len() > 48_000 * 2 {
                    a.pop_front();
                }
            }
        });
        let picture = Arc::new(Mutex::new(None));
        let p2 = picture.clone();
        let mut vrx = engine.take_video_frames().unwrap();
        tokio::spawn(async move {
            while let Some(f) = vrx.recv().await {
                *p2.lock().unwrap() = Some(f.frame);
            }
        });
        P {
            name,
            freq,
            engine,
            events,
            audio,
            picture,
        }
    }

    fn saw(&self, f: impl Fn(&ParticipantEvent) -> bool) -> bool {
        self.events.lock().unwrap().iter().any(f)
    }

    fn events(&self) -> String {
        format!("{:#?}", self.events.lock().unwrap())
    }

    /// Relative power of `freq` in the last second of the received mix.
    fn tone(&self, freq: f32) -> f32 {
        let a = self.audio.lock().unwrap();
        if a.len() < 48_000 {
            return 0.0;
        }
        let tail: Vec<f32> = a.iter().skip(a.len() - 48_000).copied().collect();
        tone_power(&tail, 48_000, freq)
    }

    /// The pattern colour in the main (presenter) tile of the latest composite.
    fn main_colour(&self, presenter: &str, order: &[&str]) -> Option<PatternColor> {
        let f = self.picture.lock().unwrap().clone()?;
        let ids: Vec<String> = order.iter().map(|s| s.to_string()).collect();
        let main = compute_layout(
            f.width,
            f.height,
            &LayoutKind::Presenter,
            Some(presenter),
            &ids,
        )
        .into_iter()
        .find(|t| t.role == TileRole::Main)?;
        colour_in(&f, main.rect)
    }
}

/// The colour of the pattern's reference patch (bottom right, base colour) inside `rect`.
fn colour_in(frame: &VideoFrame, rect: Rect) -> Option<PatternColor> {
    let r = rect.fit(SRC_W, SRC_H);
    let (x, y, w, h) = (
        r.x as usize,
        r.y as usize,
        r.width as usize,
        r.height as usize,
    );
    let (px, py, pw, ph) = (x + w * 3 / 4, y + h * 4 / 5, w / 5, h / 8);
    let (my, mu, mv) = frame.mean_yuv(px, py, pw.max(2), ph.max(2));
    PatternColor::ALL
        .into_iter()
        .map(|c| {
            let (cy, cu, cv) = c.yuv();
            let d = (my - f32::from(cy)).powi(2)
                + (mu - f32::from(cu)).powi(2)
                + (mv - f32::from(cv)).powi(2);
            (c, d)
        })
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .filter(|(_, d)| d.sqrt() < 40.0)
        .map(|(c, _)| c)
}

async fn host(s: &ServerHandle) -> (Host, mpsc::UnboundedReceiver<HostEvent>) {
    let mut cfg = HostConfig::new(s.backend_ws_url(), "live/room1");
    // The built-in server without auth accepts any token; the backend still wants a digest.
    cfg.access_token = s.sm1_access_token().unwrap_or_else(|| Secret::new("local"));
    let (h, mut ev) = Host::connect(cfg).await.unwrap();
    until(&mut ev, "host connected", |e| {
        matches!(e, HostEvent::Connected)
    })
    .await;
    (h, ev)
}

async fn composing(h: &Host, ev: &mut mpsc::UnboundedReceiver<HostEvent>) {
    let regions = match h.snapshot().mixer_regions {
        r if !r.is_empty() => r,
        _ => match until(ev, "mixer regions", |e| {
            matches!(e, HostEvent::MixerRegions { .. })
        })
        .await
        {
            HostEvent::MixerRegions { regions } => regions,
            _ => unreachable!(),
        },
    };
    let mut form = h.composition_form();
    assert_eq!(form.region, regions[0]);
    assert_eq!(
        (form.width, form.height, form.fps, form.bitrate_kbps),
        (1280, 720, 30, 1500)
    );
    form.width = MIX_W;
    form.height = MIX_H;
    form.fps = 15;
    form.bitrate_kbps = 800;
    h.create_composition(&form).unwrap();
    // The real state progression: listed pending/inservice first, composing once the mixer
    // encoded a composite.
    let first = until(
        ev,
        "the composition listed",
        |e| matches!(e, HostEvent::Compositions { list } if !list.is_empty()),
    )
    .await;
    if let HostEvent::Compositions { list } = first {
        assert_eq!(list[0].event, "room1");
        // Listed at once as pending; composing only comes with the mixer's first frame.
        assert_eq!(list[0].state, CompositionState::Pending);
        assert_eq!(list[0].stream.as_deref(), Some("live/room1/room1"));
        assert_eq!((list[0].width, list[0].height), (Some(MIX_W), Some(MIX_H)));
    }
    until(ev, "the composition composing", |e| {
        matches!(e, HostEvent::Compositions { list }
            if list.iter().any(|c| c.event == "room1" && c.state == CompositionState::Composing))
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn host_admits_three_participants_who_hear_mix_minus_and_see_the_presenter() {
    init_tracing();
    let s = LocalServer::start(ServerConfig::default()).await.unwrap();
    let (h, mut hev) = host(&s).await;
    composing(&h, &mut hev).await;

    // Three participants, one per join route, all waiting for the host.
    let people = [
        P::start(&s, Transport::WsSm1, JoinRoute::Sm1, "alice", "red", 440.0).await,
        P::start(
            &s,
            Transport::WhipSm2,
            JoinRoute::Sm2,
            "bob",
            "green",
            660.0,
        )
        .await,
        P::start(
            &s,
            Transport::WsStandalone,
            JoinRoute::Standalone,
            "carol",
            "blue",
            880.0,
        )
        .await,
    ];
    until(
        &mut hev,
        "all three in the waiting room",
        |e| matches!(e, HostEvent::WaitingRoom { streams } if streams.len() == 3),
    )
    .await;
    for p in &people {
        assert_eq!(
            p.engine.state(),
            ParticipantState::WaitingForHost,
            "{}",
            p.name
        );
        assert!(!p.saw(|e| matches!(e, ParticipantEvent::Admitted)));
    }

    // Admission: each one joins by itself.
    for p in &people {
        h.promote(p.name).unwrap();
    }
    until(&mut hev, "the conference list", |e| {
        matches!(e, HostEvent::Conference { streams, presenter }
            if streams.len() == 3 && presenter.as_deref() == Some("alice"))
    })
    .await;
    for p in &people {
        eventually(&format!("{} in the conference", p.name), || {
            p.engine.state() == ParticipantState::InConference
        })
        .await;
        assert!(
            p.saw(|e| matches!(e, ParticipantEvent::Admitted)),
            "{}",
            p.events()
        );
        assert!(p.saw(|e| matches!(
            e,
            ParticipantEvent::Joined {
                participant_id: Some(_)
            }
        )));
    }
    assert!(
        h.snapshot().waiting.is_empty(),
        "admitted streams leave the waiting list"
    );

    // Mix-minus: the other two tones, never one's own.
    for p in &people {
        let others: Vec<f32> = people
            .iter()
            .filter(|o| o.name != p.name)
            .map(|o| o.freq)
            .collect();
        eventually(&format!("{} hears {others:?}", p.name), || {
            others.iter().all(|f| p.tone(*f) > 0.002)
        })
        .await;
        let quietest_other = others.iter().map(|f| p.tone(*f)).fold(f32::MAX, f32::min);
        let mine = p.tone(p.freq);
        assert!(
            mine * 30.0 < quietest_other,
            "{} hears its own voice: {mine} vs others {quietest_other}",
            p.name
        );
    }

    // The composite: alice (first admitted) is the presenter, in the large region.
    let order = ["alice", "bob", "carol"];
    for p in &people {
        eventually(&format!("{} sees alice large", p.name), || {
            p.main_colour("alice", &order) == Some(PatternColor::Red)
        })
        .await;
        assert!(p.saw(|e| matches!(
            e,
            ParticipantEvent::FirstFrame {
                width: MIX_W,
                height: MIX_H
            }
        )));
    }

    // Presenter change.
    h.presenter("bob").unwrap();
    until(&mut hev, "bob presenting", |e| {
        matches!(e, HostEvent::Conference { presenter, .. } if presenter.as_deref() == Some("bob"))
    })
    .await;
    eventually("bob moves to the large region", || {
        people[0].main_colour("bob", &order) == Some(PatternColor::Green)
    })
    .await;

    // Remove carol: she leaves by herself and waits again; the others stop hearing her.
    h.demote("carol").unwrap();
    eventually("carol removed", || {
        people[2].saw(|e| matches!(e, ParticipantEvent::RemovedByHost))
            && people[2].engine.state() == ParticipantState::WaitingForHost
    })
    .await;
    until(
        &mut hev,
        "carol back in the waiting room",
        |e| matches!(e, HostEvent::WaitingRoom { streams } if streams == &["carol".to_owned()]),
    )
    .await;
    eventually("alice no longer hears carol", || {
        people[0].tone(880.0) < 0.0002 && people[0].tone(660.0) > 0.002
    })
    .await;
    assert!(!s
        .published_streams()
        .contains(&"live/room1/carol".to_owned()));

    // Destroy tears the composite down.
    h.destroy_composition("room1").unwrap();
    until(
        &mut hev,
        "no composition",
        |e| matches!(e, HostEvent::Compositions { list } if list.is_empty()),
    )
    .await;
    eventually("the composite is unpublished", || {
        !s.published_streams()
            .contains(&"live/room1/room1".to_owned())
    })
    .await;

    for p in &people {
        p.engine.leave().await;
        assert_eq!(p.engine.state(), ParticipantState::Left);
        eventually("the Left event", || {
            p.saw(|e| matches!(e, ParticipantEvent::Left))
        })
        .await;
    }
    eventually("every participant stream is unpublished", || {
        s.published_streams()
            .iter()
            .all(|g| !g.starts_with("live/room1"))
    })
    .await;
    h.stop().await;
    until(&mut hev, "host stopped", |e| {
        matches!(e, HostEvent::Stopped)
    })
    .await;
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn admitted_before_the_composition_they_join_once_it_runs() {
    init_tracing();
    let s = LocalServer::start(ServerConfig::default()).await.unwrap();
    let (h, mut hev) = host(&s).await;
    // dave has no camera; he still gets the composite and his voice reaches frank.
    let dave = P::start_with(&s, Transport::WsSm1, JoinRoute::Sm1, "dave", None, 330.0).await;
    let frank = P::start(
        &s,
        Transport::WhipSm2,
        JoinRoute::Sm2,
        "frank",
        "orange",
        550.0,
    )
    .await;
    until(
        &mut hev,
        "both waiting",
        |e| matches!(e, HostEvent::WaitingRoom { streams } if streams.len() == 2),
    )
    .await;
    h.promote("frank").unwrap(); // the first admitted presents
    h.promote("dave").unwrap();
    // No composition yet: the SM1 join API refuses; dave keeps trying while listed.
    eventually("dave retries the join", || {
        dave.saw(|e| matches!(e, ParticipantEvent::Reconnecting { .. }))
    })
    .await;
    assert_ne!(dave.engine.state(), ParticipantState::InConference);
    composing(&h, &mut hev).await;
    for p in [&dave, &frank] {
        eventually(&format!("{} in the conference", p.name), || {
            p.engine.state() == ParticipantState::InConference
        })
        .await;
    }
    eventually("dave hears frank", || dave.tone(550.0) > 0.002).await;
    eventually("frank hears dave", || frank.tone(330.0) > 0.002).await;
    assert!(dave.tone(330.0) * 30.0 < dave.tone(550.0));
    eventually("dave sees frank presenting", || {
        dave.main_colour("frank", &["frank", "dave"]) == Some(PatternColor::Orange)
    })
    .await;
    eventually("stats of the conference connection", || {
        dave.saw(|e| matches!(e, ParticipantEvent::Stats { stats } if stats.bitrate_in_kbps > 0.0))
    })
    .await;
    for p in [&dave, &frank] {
        p.engine.leave().await;
    }
    h.stop().await;
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_excluded_participant_stays_out_after_publishing_again() {
    init_tracing();
    let s = LocalServer::start(ServerConfig::default()).await.unwrap();
    let (h, mut hev) = host(&s).await;
    let eve = P::start(
        &s,
        Transport::WhipSm2,
        JoinRoute::Sm2,
        "eve",
        "magenta",
        550.0,
    )
    .await;
    until(
        &mut hev,
        "eve waiting",
        |e| matches!(e, HostEvent::WaitingRoom { streams } if streams == &["eve".to_owned()]),
    )
    .await;
    h.exclude("eve").unwrap();
    until(
        &mut hev,
        "eve excluded",
        |e| matches!(e, HostEvent::Excluded { streams } if streams == &["eve".to_owned()]),
    )
    .await;
    eventually("eve told and stopped", || {
        eve.saw(|e| matches!(e, ParticipantEvent::Excluded))
            && eve.engine.state() == ParticipantState::Left
    })
    .await;
    assert!(h.snapshot().waiting.is_empty());

    // She publishes again under the same name: the server keeps her out of every list, and
    // admitting her is refused in words.
    let eve2 = P::start(
        &s,
        Transport::WsSm2,
        JoinRoute::Sm2,
        "eve",
        "magenta",
        550.0,
    )
    .await;
    eventually("eve publishing again", || {
        s.published_streams()
            .contains(&"live/room1_wr/eve".to_owned())
    })
    .await;
    h.promote("eve").unwrap();
    let e = until(&mut hev, "a refusal", |e| {
        matches!(e, HostEvent::Error { .. })
    })
    .await;
    let HostEvent::Error { message } = e else {
        unreachable!()
    };
    assert!(message.contains("eve"), "{message}");
    assert!(h.snapshot().waiting.is_empty() && h.snapshot().conference.is_empty());
    assert_eq!(eve2.engine.state(), ParticipantState::WaitingForHost);
    eve2.engine.leave().await;
    h.stop().await;
    s.shutdown().await;
}

#[tokio::test]
async fn host_failures_and_bad_forms_are_told_in_words() {
    init_tracing();
    // Nothing listens on this port.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let (_h, mut ev) = Host::connect(HostConfig::new(
        format!("ws://127.0.0.1:{port}"),
        "live/room1",
    ))
    .await
    .unwrap();
    let e = until(&mut ev, "a failure", |e| {
        matches!(e, HostEvent::Failed { .. })
    })
    .await;
    let text = serde_json::to_value(&e).unwrap()["error"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        text.contains("could not reach the conference backend"),
        "{text}"
    );

    let err = Host::connect(HostConfig::new("ws://127.0.0.1:1", "room1"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("like live/room1"), "{err}");

    let s = LocalServer::start(ServerConfig::default()).await.unwrap();
    let (h, _ev) = host(&s).await;
    eventually("mixer regions", || !h.snapshot().mixer_regions.is_empty()).await;
    let mut form = h.composition_form();
    form.region = "nowhere".into();
    let err = h.create_composition(&form).unwrap_err().to_string();
    assert!(err.contains("not a mixer region"), "{err}");
    assert!(h.promote("a/b").is_err());
    h.stop().await;
    s.shutdown().await;
}

#[tokio::test]
async fn host_controls_order_and_presenter_fallback() {
    init_tracing();
    let s = LocalServer::start(ServerConfig::default()).await.unwrap();
    let (h, mut ev) = host(&s).await;
    for n in ["x", "y", "z"] {
        h.promote(n).unwrap();
    }
    until(&mut ev, "three in the conference", |e| {
        matches!(e, HostEvent::Conference { streams, presenter }
            if streams.len() == 3 && presenter.as_deref() == Some("x"))
    })
    .await;
    h.order("z", 0).unwrap();
    until(&mut ev, "z first", |e| {
        matches!(e, HostEvent::Conference { streams, presenter }
            if streams == &["z", "x", "y"] && presenter.as_deref() == Some("x"))
    })
    .await;
    h.demote("x").unwrap();
    until(&mut ev, "the presenter falls back to the first", |e| {
        matches!(e, HostEvent::Conference { streams, presenter }
            if streams == &["z", "y"] && presenter.as_deref() == Some("z"))
    })
    .await;
    h.presenter("nobody").unwrap();
    let e = until(&mut ev, "a refusal", |e| {
        matches!(e, HostEvent::Error { .. })
    })
    .await;
    assert!(format!("{e:?}").contains("nobody"), "{e:?}");
    assert_eq!(h.snapshot().presenter.as_deref(), Some("z"));
    h.stop().await;
    s.shutdown().await;
}

/// A TCP forwarder in front of the server whose connections the test can cut (and whose
/// port refuses while cut): a network drop, independent of how the server shuts down.
struct Cable {
    port: u16,
    target: std::net::SocketAddr,
    tasks: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>>,
}

impl Cable {
    async fn new(target: std::net::SocketAddr) -> Cable {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let c = Cable {
            port: l.local_addr().unwrap().port(),
            target,
            tasks: Arc::new(Mutex::new(Vec::new())),
        };
        c.serve(l);
        c
    }

    fn serve(&self, l: tokio::net::TcpListener) {
        let (target, tasks) = (self.target, self.tasks.clone());
        let accept = tokio::spawn(async move {
            while let Ok((mut a, _)) = l.accept().await {
                let t = tokio::spawn(async move {
                    if let Ok(mut b) = tokio::net::TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut a, &mut b).await;
                    }
                });
                tasks.lock().unwrap().push(t);
            }
        });
        self.tasks.lock().unwrap().push(accept);
    }

    fn cut(&self) {
        for t in self.tasks.lock().unwrap().drain(..) {
            t.abort();
        }
    }

    async fn mend(&self) {
        let l = tokio::net::TcpListener::bind(("127.0.0.1", self.port))
            .await
            .unwrap();
        self.serve(l);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_reconnects_after_a_network_drop() {
    init_tracing();
    let s = LocalServer::start(ServerConfig::default()).await.unwrap();
    let cable = Cable::new(s.addr()).await;
    let mut cfg = HostConfig::new(format!("ws://127.0.0.1:{}", cable.port), "live/room1");
    cfg.access_token = Secret::new("local");
    let (h, mut ev) = Host::connect(cfg).await.unwrap();
    until(&mut ev, "connected", |e| matches!(e, HostEvent::Connected)).await;
    h.promote("early").unwrap();
    until(
        &mut ev,
        "early admitted",
        |e| matches!(e, HostEvent::Conference { streams, .. } if streams == &["early"]),
    )
    .await;
    cable.cut();
    until(&mut ev, "disconnected", |e| {
        matches!(e, HostEvent::Disconnected { .. })
    })
    .await;
    let r = until(&mut ev, "reconnecting", |e| {
        matches!(e, HostEvent::Reconnecting { .. })
    })
    .await;
    if let HostEvent::Reconnecting {
        attempt, of, delay, ..
    } = r
    {
        assert_eq!((attempt, of, delay), (1, 10, Duration::from_millis(300)));
    }
    assert!(!h.snapshot().connected);
    // A control given while away is sent once back.
    h.promote("late").unwrap();
    cable.mend().await;
    until(&mut ev, "connected again", |e| {
        matches!(e, HostEvent::Connected)
    })
    .await;
    until(
        &mut ev,
        "the queued control applied",
        |e| matches!(e, HostEvent::Conference { streams, .. } if streams == &["early", "late"]),
    )
    .await;
    assert!(h.snapshot().connected);
    h.stop().await;
    cable.cut();
    s.shutdown().await;
}
