//! Publisher and subscriber engines against the REAL built-in server (red5-localsm) started
//! in-process on 127.0.0.1, with real codecs and synthetic sources. Every wait is on events,
//! with generous overall deadlines.

#![allow(clippy::unwrap_used)] // tests may unwrap

use std::time::Duration;

use red5_localsm::{AuthConfig, LocalServer, RoundTripAuth, ServerConfig, ServerHandle};
use red5_media::analysis::{channel, dominant_frequency};
use red5_media::codec::VideoCodec;
use red5_media::synthetic::{detect_color, read_stamp, PatternColor};
use red5_session::publisher::{PublishVideo, SessionState};
use red5_session::subscriber::{AudioOutput, DecodedVideo};
use red5_session::{
    Endpoint, Publisher, PublisherConfig, PublisherEvent, Subscriber, SubscriberConfig,
    SubscriberEvent, Transport,
};
use serde_json::json;
use tokio::sync::mpsc;

const DEADLINE: Duration = Duration::from_secs(40);

fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_test_writer()
        .try_init();
}

async fn server() -> ServerHandle {
    init_tracing();
    LocalServer::start(ServerConfig::default()).await.unwrap()
}

fn pub_cfg(base: &str, t: Transport, stream: &str, colour: &str, tone: u32) -> PublisherConfig {
    let mut c = PublisherConfig::new(
        Endpoint::new(base, t, "live"),
        stream,
        Some(&format!("synthetic:pattern:{colour}")),
        Some(&format!("synthetic:tone:{tone}")),
    );
    c.video = Some(PublishVideo {
        width: 320,
        height: 240,
        fps: 15,
        bitrate_bps: 400_000,
        ..c.video.unwrap()
    });
    c
}

fn sub_cfg(base: &str, t: Transport, stream: &str) -> SubscriberConfig {
    let mut c = SubscriberConfig::new(Endpoint::new(base, t, "live"), stream);
    c.audio_output = AudioOutput::Silent;
    c
}

/// Waits for the first event matching `pred`; panics with the events seen on timeout/failure.
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
        _ => panic!(
            "no {what}; events seen: {:#?}",
            seen.iter()
                .filter(|s| !s.starts_with("Stats"))
                .collect::<Vec<_>>()
        ),
    }
}

async fn start_publisher(
    cfg: PublisherConfig,
) -> (Publisher, mpsc::UnboundedReceiver<PublisherEvent>) {
    let (p, mut ev) = Publisher::start(cfg).await.unwrap();
    until(&mut ev, "Publish.Start", |e| {
        matches!(e, PublisherEvent::Started)
    })
    .await;
    assert_eq!(p.state(), SessionState::Live);
    (p, ev)
}

/// Reads decoded frames until `n` stamped ones with increasing counters and the colour arrive.
async fn check_frames(
    frames: &mut mpsc::Receiver<DecodedVideo>,
    n: usize,
    colour: PatternColor,
) -> u32 {
    let mut last: Option<u32> = None;
    let mut good = 0;
    tokio::time::timeout(DEADLINE, async {
        while good < n {
            let f = frames.recv().await.expect("frame channel open");
            let Some(stamp) = read_stamp(&f.frame) else {
                continue;
            };
            assert_eq!(detect_color(&f.frame), Some(colour), "pattern colour");
            if let Some(prev) = last {
                assert!(
                    stamp.frame_number > prev,
                    "frame counter goes up: {prev} then {}",
                    stamp.frame_number
                );
            }
            last = Some(stamp.frame_number);
            good += 1;
        }
    })
    .await
    .expect("decoded stamped frames in time");
    last.unwrap()
}

async fn check_tone(sub: &Subscriber, hz: f32) {
    let mut audio = sub.take_audio_frames().unwrap();
    let mut samples = Vec::new();
    tokio::time::timeout(DEADLINE, async {
        // Skip the first 200 ms (start-up), then analyse one second.
        let mut skipped = 0;
        while samples.len() < 48_000 {
            let f = audio.recv().await.expect("audio channel open");
            if skipped < 10 {
                skipped += 1;
                continue;
            }
            samples.extend(channel(&f.samples, f.channels, 0));
        }
    })
    .await
    .expect("decoded audio in time");
    let f = dominant_frequency(&samples, 48_000);
    assert!(
        (f - hz).abs() < 15.0,
        "dominant frequency {f} Hz, wanted {hz} Hz"
    );
}

async fn media_round_trip(pub_t: Transport, sub_t: Transport, stream: &str) {
    media_round_trip_codec(pub_t, sub_t, stream, VideoCodec::H264).await
}

async fn media_round_trip_codec(
    pub_t: Transport,
    sub_t: Transport,
    stream: &str,
    codec: VideoCodec,
) {
    let s = server().await;
    let base = s.base_url();
    let mut cfg = pub_cfg(&base, pub_t, stream, "red", 440);
    if let Some(v) = cfg.video.as_mut() {
        v.codec = codec;
    }
    let (publisher, mut pev) = start_publisher(cfg).await;
    let (sub, mut sev) = Subscriber::start(sub_cfg(&base, sub_t, stream))
        .await
        .unwrap();
    until(&mut sev, "Subscribe.Start", |e| {
        matches!(e, SubscriberEvent::Started)
    })
    .await;
    until(&mut sev, "first frame", |e| {
        matches!(
            e,
            SubscriberEvent::FirstFrame {
                width: 320,
                height: 240
            }
        )
    })
    .await;
    // The local preview and the mic meter work while publishing.
    tokio::time::timeout(DEADLINE, async {
        while publisher.preview().is_none() || publisher.mic_level().rms < 0.1 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("preview frame and mic level");
    let mut frames = sub.take_video_frames().unwrap();
    check_frames(&mut frames, 15, PatternColor::Red).await;
    check_tone(&sub, 440.0).await;
    // A viewer's key-frame request (RTCP PLI) goes through the server to the publisher, whose
    // encoder is told (asked again until it arrives: the server rate-limits PLIs).
    tokio::time::timeout(DEADLINE, async {
        loop {
            sub.request_keyframe().unwrap();
            let got = tokio::time::timeout(Duration::from_millis(500), async {
                loop {
                    if let Some(PublisherEvent::KeyframeRequested) = pev.recv().await {
                        return;
                    }
                }
            })
            .await;
            if got.is_ok() {
                break;
            }
        }
    })
    .await
    .expect("the PLI reached the publisher");
    // Stats are computed every second from real traffic.
    let st = until(
        &mut sev,
        "subscriber stats with traffic",
        |e| matches!(e, SubscriberEvent::Stats { stats: s } if s.bitrate_in_kbps > 10.0 && s.fps > 1.0),
    )
    .await;
    if let SubscriberEvent::Stats { stats: st } = st {
        assert_eq!((st.width, st.height), (320, 240));
        assert!(!st.ice_state.is_empty());
        assert!(st.to_json().contains("bitrateInKbps"));
    }
    until(
        &mut pev,
        "publisher stats with traffic",
        |e| matches!(e, PublisherEvent::Stats { stats: s } if s.bitrate_out_kbps > 10.0 && s.fps > 1.0),
    )
    .await;
    for json in [sub.export_stats_json(), publisher.export_stats_json()] {
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert!(
            v.as_array()
                .is_some_and(|a| !a.is_empty() && a[0]["iceState"].is_string()),
            "{v}"
        );
    }
    sub.stop().await;
    publisher.stop().await;
    until(&mut pev, "Unpublished", |e| {
        matches!(e, PublisherEvent::Unpublished)
    })
    .await;
    assert_eq!(publisher.state(), SessionState::Stopped);
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn whip_sm2_to_whep_pattern_and_tone() {
    media_round_trip(Transport::WhipSm2, Transport::WhipSm2, "whip1").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ws_sm2_proxy_pattern_and_tone() {
    media_round_trip(Transport::WsSm2, Transport::WsSm2, "ws2").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ws_sm1_proxy_pattern_and_tone() {
    media_round_trip(Transport::WsSm1, Transport::WsSm1, "ws1").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn vp8_straight_to_a_node_over_whip_and_whep() {
    media_round_trip_codec(
        Transport::WhipNode,
        Transport::WhipNode,
        "vp8",
        VideoCodec::Vp8,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ws_standalone_publish_whep_subscribe() {
    media_round_trip(Transport::WsStandalone, Transport::WhipSm2, "mixed").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn metadata_in_order_late_joiner_gets_latest_then_unpublish() {
    let s = server().await;
    let base = s.base_url();
    let (publisher, _pev) =
        start_publisher(pub_cfg(&base, Transport::WhipSm2, "meta", "green", 660)).await;
    let (sub, mut sev) = Subscriber::start(sub_cfg(&base, Transport::WhipSm2, "meta"))
        .await
        .unwrap();
    until(&mut sev, "Subscribe.Start", |e| {
        matches!(e, SubscriberEvent::Started)
    })
    .await;
    let values = [
        json!({"metadata": "first"}),
        json!({"metadata": "second ✓", "n": 2}),
        json!({"slide": {"index": 3, "title": "Q&A"}, "list": [1, 2, 3]}),
    ];
    for v in &values {
        publisher.send_metadata(v.clone()).await.unwrap();
    }
    publisher.send("onCue", json!({"at": 12.5})).await.unwrap();
    for v in &values {
        let got = until(&mut sev, "metadata", |e| {
            matches!(e, SubscriberEvent::Metadata { .. })
        })
        .await;
        assert_eq!(
            got,
            SubscriberEvent::Metadata {
                data: v.clone(),
                received_at_ms: match &got {
                    SubscriberEvent::Metadata { received_at_ms, .. } => *received_at_ms,
                    _ => 0,
                }
            }
        );
    }
    let cue = until(&mut sev, "onCue", |e| {
        matches!(e, SubscriberEvent::Message { .. })
    })
    .await;
    assert_eq!(
        cue,
        SubscriberEvent::Message {
            method: "onCue".into(),
            data: json!({"at": 12.5})
        }
    );

    // A late viewer (over the WS proxy) gets the latest value at join.
    let (late, mut lev) = Subscriber::start(sub_cfg(&base, Transport::WsSm2, "meta"))
        .await
        .unwrap();
    let got = until(&mut lev, "replayed metadata", |e| {
        matches!(e, SubscriberEvent::Metadata { .. })
    })
    .await;
    assert!(matches!(got, SubscriberEvent::Metadata { data, .. } if data == values[2]));

    // Unpublish: both viewers are told.
    publisher.stop().await;
    until(&mut sev, "UnpublishNotify (early)", |e| {
        matches!(e, SubscriberEvent::Unpublished)
    })
    .await;
    until(&mut lev, "UnpublishNotify (late)", |e| {
        matches!(e, SubscriberEvent::Unpublished)
    })
    .await;
    sub.stop().await;
    late.stop().await;
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn server_restart_on_same_port_publisher_and_subscriber_resume() {
    restart_case(Transport::WhipSm2, "phoenix").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn server_restart_over_the_ws_proxy() {
    restart_case(Transport::WsSm2, "phoenix-ws").await;
}

async fn restart_case(t: Transport, stream: &str) {
    let s = server().await;
    let port = s.addr().port();
    let base = s.base_url();
    let (publisher, mut pev) = start_publisher(pub_cfg(&base, t, stream, "blue", 440)).await;
    let (sub, mut sev) = Subscriber::start(sub_cfg(&base, t, stream)).await.unwrap();
    until(&mut sev, "Subscribe.Start", |e| {
        matches!(e, SubscriberEvent::Started)
    })
    .await;
    let mut frames = sub.take_video_frames().unwrap();
    let before = check_frames(&mut frames, 5, PatternColor::Blue).await;

    s.shutdown().await;
    until(&mut pev, "publisher reconnecting", |e| {
        matches!(e, PublisherEvent::Reconnecting { .. })
    })
    .await;
    let s2 = LocalServer::start(ServerConfig {
        port,
        ..Default::default()
    })
    .await
    .unwrap();
    until(&mut pev, "publisher reconnected", |e| {
        matches!(e, PublisherEvent::Reconnected)
    })
    .await;
    assert_eq!(publisher.state(), SessionState::Live);
    until(&mut sev, "subscriber reconnected", |e| {
        matches!(e, SubscriberEvent::Reconnected)
    })
    .await;
    // Fresh frames (later capture counters) flow again.
    let after = check_frames(&mut frames, 5, PatternColor::Blue).await;
    assert!(after > before);
    assert!(sub.stats().reconnects >= 1);
    sub.stop().await;
    publisher.stop().await;
    s2.shutdown().await;
}

async fn failure<E: std::fmt::Debug>(
    rx: &mut mpsc::UnboundedReceiver<E>,
    get: impl Fn(&E) -> Option<red5_session::Error>,
) -> red5_session::Error {
    let e = until(rx, "a failure", |e| get(e).is_some()).await;
    get(&e).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bad_inputs_give_clear_errors() {
    init_tracing();
    // Connection refused: a port nobody listens on.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let base = format!("http://127.0.0.1:{port}");
    for t in [Transport::WhipSm2, Transport::WsSm2] {
        let (_p, mut ev) = Publisher::start(pub_cfg(&base, t, "x", "red", 440))
            .await
            .unwrap();
        let err = failure(&mut ev, |e| match e {
            PublisherEvent::Failed { error: e } => Some(e.clone()),
            _ => None,
        })
        .await;
        let text = err.to_string();
        assert!(
            text.contains("could not connect") || text.contains("refused"),
            "{t:?}: {text}"
        );
    }

    // 401 from a server with round-trip auth, without and with wrong credentials.
    let s = LocalServer::start(ServerConfig {
        auth: Some(AuthConfig {
            admin_user: "admin".into(),
            admin_password: "pw".into(),
            sm1_access_token: "tok".into(),
            round_trip: Some(RoundTripAuth {
                username: "u".into(),
                password: "p".into(),
                token: "t".into(),
            }),
        }),
        ..Default::default()
    })
    .await
    .unwrap();
    let (_p, mut ev) = Publisher::start(pub_cfg(
        &s.base_url(),
        Transport::WhipSm2,
        "locked",
        "red",
        440,
    ))
    .await
    .unwrap();
    let err = failure(&mut ev, |e| match e {
        PublisherEvent::Failed { error: e } => Some(e.clone()),
        _ => None,
    })
    .await;
    assert!(err.is_unauthorized(), "{err}");
    // With the right credentials it publishes.
    let mut ok = pub_cfg(&s.base_url(), Transport::WhipSm2, "locked", "red", 440);
    ok.endpoint = ok.endpoint.with_auth(red5_session::Auth {
        username: "u".into(),
        password: "p".into(),
        token: "t".into(),
    });
    let (p, _ev) = start_publisher(ok).await;
    p.stop().await;
    s.shutdown().await;

    // Unknown stream for a subscriber (WHEP and WS).
    let s = server().await;
    for t in [Transport::WhipSm2, Transport::WsSm2] {
        let (_sub, mut ev) = Subscriber::start(sub_cfg(&s.base_url(), t, "nobody-here"))
            .await
            .unwrap();
        let err = failure(&mut ev, |e| match e {
            SubscriberEvent::Failed { error: e } => Some(e.clone()),
            _ => None,
        })
        .await;
        assert!(err.is_invalid_name(), "{t:?}: {err}");
    }
    // Settings that cannot work are refused up front.
    let e = Publisher::start(pub_cfg("localhost:1", Transport::WhipSm2, "x", "red", 440))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("not a server address"));
    let e = Publisher::start(pub_cfg(
        &s.base_url(),
        Transport::WhipSm2,
        "x",
        "purple",
        440,
    ))
    .await
    .unwrap_err();
    assert!(e.to_string().contains("purple"), "{e}");
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mute_audio_and_video_then_unmute() {
    let s = server().await;
    let base = s.base_url();
    let (publisher, mut pev) =
        start_publisher(pub_cfg(&base, Transport::WhipSm2, "mute", "yellow", 880)).await;
    let (sub, mut sev) = Subscriber::start(sub_cfg(&base, Transport::WhipSm2, "mute"))
        .await
        .unwrap();
    until(&mut sev, "Subscribe.Start", |e| {
        matches!(e, SubscriberEvent::Started)
    })
    .await;
    let mut frames = sub.take_video_frames().unwrap();
    let mut audio = sub.take_audio_frames().unwrap();
    let before = check_frames(&mut frames, 3, PatternColor::Yellow).await;

    // Mic mute: the far end hears silence (packets keep flowing).
    publisher.mute_audio(true).unwrap();
    tokio::time::timeout(DEADLINE, async {
        let mut quiet = 0;
        while quiet < 10 {
            let f = audio.recv().await.unwrap();
            let rms = red5_media::analysis::Level::measure(&f.samples).rms;
            quiet = if rms < 1e-3 { quiet + 1 } else { 0 };
        }
    })
    .await
    .expect("silence after mute");
    publisher.mute_audio(false).unwrap();
    tokio::time::timeout(DEADLINE, async {
        loop {
            let f = audio.recv().await.unwrap();
            if red5_media::analysis::Level::measure(&f.samples).rms > 0.05 {
                break;
            }
        }
    })
    .await
    .expect("sound after unmute");

    // Camera mute: no video goes out; unmute resumes with later frames.
    publisher.mute_video(true).unwrap();
    until(
        &mut pev,
        "publisher stats showing no video",
        |e| matches!(e, PublisherEvent::Stats { stats: s } if s.fps == 0.0),
    )
    .await;
    publisher.mute_video(false).unwrap();
    while frames.try_recv().is_ok() {}
    let after = check_frames(&mut frames, 3, PatternColor::Yellow).await;
    assert!(
        after > before + 15,
        "frames resumed later in the capture ({before} -> {after})"
    );
    assert_eq!(publisher.state(), SessionState::Live);
    sub.stop().await;
    publisher.stop().await;
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn viewer_picks_the_stream_up_again_when_the_publisher_returns() {
    let s = server().await;
    let base = s.base_url();
    let (publisher, _pev) =
        start_publisher(pub_cfg(&base, Transport::WhipSm2, "again", "cyan", 440)).await;
    let (sub, mut sev) = Subscriber::start(sub_cfg(&base, Transport::WhipSm2, "again"))
        .await
        .unwrap();
    until(&mut sev, "Subscribe.Start", |e| {
        matches!(e, SubscriberEvent::Started)
    })
    .await;
    let mut frames = sub.take_video_frames().unwrap();
    check_frames(&mut frames, 3, PatternColor::Cyan).await;
    publisher.stop().await;
    until(&mut sev, "UnpublishNotify", |e| {
        matches!(e, SubscriberEvent::Unpublished)
    })
    .await;
    // The broadcaster comes back with another colour: the viewer shows it without any action.
    let (publisher, _pev) =
        start_publisher(pub_cfg(&base, Transport::WhipSm2, "again", "orange", 440)).await;
    check_frames(&mut frames, 5, PatternColor::Orange).await;
    sub.stop().await;
    publisher.stop().await;
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ws_metadata_before_and_after_the_transport_switch() {
    let s = server().await;
    let base = s.base_url();
    let (publisher, mut pev) =
        start_publisher(pub_cfg(&base, Transport::WsSm1, "switch", "gray", 440)).await;
    let (sub, mut sev) = Subscriber::start(sub_cfg(&base, Transport::WsSm1, "switch"))
        .await
        .unwrap();
    until(&mut sev, "Subscribe.Start", |e| {
        matches!(e, SubscriberEvent::Started)
    })
    .await;
    // Right after Publish.Start the messages still travel on the WebSocket…
    publisher
        .send_metadata(json!({"metadata": "over the socket"}))
        .await
        .unwrap();
    // …and after MessageTransport.Change on the data channel.
    until(&mut pev, "transport switch", |e| {
        matches!(e, PublisherEvent::TransportSwitched)
    })
    .await;
    publisher
        .send_metadata(json!({"metadata": "over the data channel"}))
        .await
        .unwrap();
    for want in ["over the socket", "over the data channel"] {
        let got = until(&mut sev, "metadata", |e| {
            matches!(e, SubscriberEvent::Metadata { .. })
        })
        .await;
        assert!(
            matches!(&got, SubscriberEvent::Metadata { data, .. } if data["metadata"] == want),
            "{got:?}"
        );
    }
    sub.stop().await;
    publisher.stop().await;
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn publishes_from_y4m_and_wav_files() {
    use red5_media::source::AudioSource;
    let dir = tempfile::tempdir().unwrap();
    let y4m = dir.path().join("clip.y4m");
    let wav = dir.path().join("tone.wav");
    let pattern = red5_media::synthetic::TestPattern::new(320, 240, PatternColor::Magenta);
    let mut w = red5_media::file::Y4mWriter::create(&y4m, 320, 240, 15).unwrap();
    for n in 0..90 {
        w.write(&pattern.render(n, 1_000_000 + u64::from(n) * 66_666))
            .unwrap();
    }
    w.finish().unwrap();
    let mut tone = red5_media::synthetic::ToneSource::new(660.0, 0.5, 1, false).unwrap();
    let mut pcm = Vec::new();
    for _ in 0..100 {
        pcm.extend(tone.next_frame().unwrap().samples);
    }
    red5_media::file::write_wav(&wav, &pcm, 48_000, 1).unwrap();

    let s = server().await;
    let base = s.base_url();
    let mut cfg = pub_cfg(&base, Transport::WhipSm2, "file", "red", 440);
    cfg.video.as_mut().unwrap().source = format!("file:{}", y4m.display());
    cfg.audio.as_mut().unwrap().source = format!("file:{}", wav.display());
    let (publisher, _pev) = start_publisher(cfg).await;
    let (sub, mut sev) = Subscriber::start(sub_cfg(&base, Transport::WhipSm2, "file"))
        .await
        .unwrap();
    until(&mut sev, "Subscribe.Start", |e| {
        matches!(e, SubscriberEvent::Started)
    })
    .await;
    let mut frames = sub.take_video_frames().unwrap();
    let mut stamped = 0;
    tokio::time::timeout(DEADLINE, async {
        while stamped < 10 {
            let f = frames.recv().await.unwrap();
            if let Some(st) = read_stamp(&f.frame) {
                assert!(st.frame_number < 90, "a frame of the file");
                assert_eq!(detect_color(&f.frame), Some(PatternColor::Magenta));
                stamped += 1;
            }
        }
    })
    .await
    .expect("frames from the file");
    check_tone(&sub, 660.0).await;
    sub.stop().await;
    publisher.stop().await;
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn gives_up_with_a_clear_failure_when_the_server_stays_away() {
    let s = server().await;
    let mut cfg = pub_cfg(&s.base_url(), Transport::WhipSm2, "gone", "red", 440);
    // A short policy keeps the test quick; the shape is the product's (see reconnect.rs).
    cfg.reconnect = red5_session::ReconnectPolicy {
        first_delay: Duration::from_millis(50),
        factor: 2,
        max_delay: Duration::from_millis(200),
        max_attempts: 3,
    };
    let (publisher, mut pev) = start_publisher(cfg).await;
    s.shutdown().await;
    for n in 1..=3 {
        let e = until(&mut pev, "a reconnect attempt", |e| {
            matches!(e, PublisherEvent::Reconnecting { .. })
        })
        .await;
        assert!(
            matches!(e, PublisherEvent::Reconnecting { attempt, of: 3, .. } if attempt == n),
            "{e:?}"
        );
    }
    let e = until(&mut pev, "the final failure", |e| {
        matches!(e, PublisherEvent::Failed { .. })
    })
    .await;
    let PublisherEvent::Failed { error } = e else {
        unreachable!()
    };
    assert!(
        error
            .to_string()
            .starts_with("could not reconnect after 3 attempts"),
        "{error}"
    );
    assert_eq!(publisher.state(), SessionState::Failed);
}
