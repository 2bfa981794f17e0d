//! `publish`, `subscribe` and `send-metadata` as a user runs them: the REAL binary as child
//! processes against the REAL built-in server (red5-localsm on 127.0.0.1), real codecs, real
//! files. Every wait is on a line the processes print, with a generous deadline.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use red5_localsm::{AuthConfig, LocalServer, RoundTripAuth, ServerConfig, ServerHandle};
use red5_media::analysis::{channel, dominant_frequency};
use red5_media::synthetic::{detect_color, read_stamp, PatternColor};
use red5_media::VideoSource;
use serde_json::{json, Value};

const DEADLINE: Duration = Duration::from_secs(60);

/// A built-in server on its own runtime (the test thread stays free to drive processes).
struct Server {
    rt: tokio::runtime::Runtime,
    handle: Option<ServerHandle>,
}

impl Server {
    fn start(cfg: ServerConfig) -> Server {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let handle = rt.block_on(LocalServer::start(cfg)).unwrap();
        Server {
            rt,
            handle: Some(handle),
        }
    }

    fn url(&self) -> String {
        self.handle.as_ref().unwrap().base_url()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(h) = self.handle.take() {
            self.rt.block_on(h.shutdown());
        }
    }
}

fn cli(config: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_red5-desk-cli"));
    c.env("RED5_DESK_CONFIG_DIR", config)
        .env_remove("RED5_DESK_LOG")
        .env_remove("RUST_LOG")
        .env_remove("RED5_DESK_PASSWORD")
        .env_remove("RED5_DESK_TOKEN");
    c
}

/// A running CLI process whose stdout JSON lines are read as they come.
struct Proc {
    child: Child,
    lines: mpsc::Receiver<Value>,
    /// Every stdout line so far.
    seen: Vec<Value>,
    /// Lines no wait has taken yet.
    unread: std::collections::VecDeque<Value>,
    stderr: Arc<Mutex<String>>,
    /// The stderr reader; joined by `finish` so the text is complete.
    stderr_reader: Option<std::thread::JoinHandle<()>>,
}

impl Proc {
    fn spawn(config: &Path, args: &[&str]) -> Proc {
        let mut c = cli(config);
        c.args(args);
        Proc::start(c)
    }

    /// Starts `c` with stdout and stderr captured (stdin as the caller set it).
    fn start(mut c: Command) -> Proc {
        let mut child = c
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (tx, lines) = mpsc::channel();
        let out = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                let v: Value = serde_json::from_str(&line)
                    .unwrap_or_else(|e| panic!("stdout line is not JSON ({e}): {line}"));
                if tx.send(v).is_err() {
                    break;
                }
            }
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut err = child.stderr.take().unwrap();
        let sink = stderr.clone();
        let reader = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = err.read_to_string(&mut s);
            if let Ok(mut e) = sink.lock() {
                e.push_str(&s);
            }
        });
        Proc {
            child,
            lines,
            seen: Vec::new(),
            unread: Default::default(),
            stderr,
            stderr_reader: Some(reader),
        }
    }

    /// The first line not taken yet that matches `pred` (lines are taken in order of arrival;
    /// the ones skipped stay available to later waits).
    fn wait_for(&mut self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        if let Some(i) = self.unread.iter().position(&pred) {
            return self.unread.remove(i).unwrap();
        }
        let end = Instant::now() + DEADLINE;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(v) => {
                    self.seen.push(v.clone());
                    if pred(&v) {
                        return v;
                    }
                    self.unread.push_back(v);
                }
                Err(_) => {
                    let err = self.stderr();
                    panic!(
                        "no {what}; lines so far:\n{}\nstderr:\n{err}",
                        self.seen
                            .iter()
                            .filter(|v| v["type"] != "stats")
                            .map(|v| v.to_string())
                            .collect::<Vec<_>>()
                            .join("\n"),
                    )
                }
            }
        }
    }

    fn wait_type(&mut self, ty: &str) -> Value {
        self.wait_for(ty, |v| v["type"] == ty)
    }

    /// Waits for the exit; the remaining stdout lines go to `seen`.
    fn finish(&mut self) -> std::process::ExitStatus {
        let end = Instant::now() + DEADLINE;
        let status = loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                break s;
            }
            // Reading lines is the wait (no sleeps); the channel closes when stdout does.
            match self.lines.recv_timeout(Duration::from_millis(200)) {
                Ok(v) => self.seen.push(v),
                Err(_) if Instant::now() > end => {
                    let _ = self.child.kill();
                    panic!("process did not exit; stderr: {}", self.stderr());
                }
                Err(_) => {}
            }
        };
        while let Ok(v) = self.lines.recv_timeout(Duration::from_secs(2)) {
            self.seen.push(v);
        }
        if let Some(r) = self.stderr_reader.take() {
            let _ = r.join();
        }
        status
    }

    fn stderr(&self) -> String {
        self.stderr.lock().map(|s| s.clone()).unwrap_or_default()
    }

    fn sigterm(&self) {
        let ok = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok);
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn publish_args<'a>(url: &'a str, stream: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut v = vec![
        "publish",
        stream,
        "--url",
        url,
        "--size",
        "320x240",
        "--fps",
        "15",
        "--bitrate",
        "400",
    ];
    v.extend_from_slice(extra);
    v
}

fn run(config: &Path, args: &[&str]) -> (std::process::Output, String) {
    let o = cli(config).args(args).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    (o, err)
}

/// The whole user flow: publish (pattern + tone, metadata at start), send-metadata from another
/// process, a late subscriber that gets the latest metadata, live metadata, Y4M + WAV recording,
/// SIGTERM → clean unpublish that the subscriber sees.
#[test]
fn publish_send_metadata_subscribe_record_and_sigterm() {
    let server = Server::start(ServerConfig::default());
    let url = server.url();
    let cfg = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();

    let mut publisher = Proc::spawn(
        cfg.path(),
        &publish_args(
            &url,
            "cli-main",
            &[
                "--video",
                "synthetic:green",
                "--audio",
                "tone:660",
                "--metadata",
                "hello",
            ],
        ),
    );
    let intro = publisher.wait_type("publishing");
    assert_eq!(intro["stream"], "cli-main");
    assert_eq!(intro["transport"], "whip-sm2");
    assert!(intro["control"]
        .as_str()
        .unwrap()
        .ends_with("cli-main.sock"));
    publisher.wait_type("started");
    let sent = publisher.wait_type("sent");
    assert_eq!(sent["data"], json!({"metadata": "hello"}));
    assert_eq!(sent["via"], "start");

    // Another process sends through the running publish.
    let (o, err) = run(
        cfg.path(),
        &[
            "send-metadata",
            "cli-main",
            r#"{"slide":{"index":3,"title":"Q&A"}}"#,
        ],
    );
    assert!(o.status.success(), "send-metadata failed: {err}");
    let slide = json!({"slide": {"index": 3, "title": "Q&A"}});
    let sent = publisher.wait_for("sent via control", |v| v["via"] == "control");
    assert_eq!(sent["data"], slide);

    // A late viewer: the latest metadata comes first.
    let video = dir.path().join("got.y4m");
    let audio = dir.path().join("got.wav");
    let mut viewer = Proc::spawn(
        cfg.path(),
        &[
            "subscribe",
            "cli-main",
            "--url",
            &url,
            "--video-out",
            video.to_str().unwrap(),
            "--audio-out",
            audio.to_str().unwrap(),
            "--video-out-fps",
            "15",
            "--stats",
            "--exit-on-unpublish",
        ],
    );
    let first = viewer.wait_type("metadata");
    assert_eq!(
        first["metadata"], slide,
        "late joiner gets the latest value"
    );
    assert!(first["time"].as_str().unwrap().ends_with('Z'));

    // Live metadata: text is sent as {"metadata": text}; --json sends exactly what it is given.
    let (o, err) = run(cfg.path(), &["send-metadata", "cli-main", "live text ✓"]);
    assert!(o.status.success(), "{err}");
    let got = viewer.wait_type("metadata");
    assert_eq!(got["metadata"], json!({"metadata": "live text ✓"}));
    let (o, err) = run(
        cfg.path(),
        &["send-metadata", "cli-main", "--json", r#"{"n":[1,2,3]}"#],
    );
    assert!(o.status.success(), "{err}");
    assert_eq!(
        viewer.wait_type("metadata")["metadata"],
        json!({"n": [1, 2, 3]})
    );
    let (o, err) = run(
        cfg.path(),
        &["send-metadata", "cli-main", "--json", "{oops"],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(err.contains("--json is not valid JSON"), "{err}");

    // Enough media recorded: the viewer's own stats count decoded frames.
    let first_frame = viewer.wait_type("firstFrame");
    assert_eq!(
        (
            first_frame["width"].as_u64(),
            first_frame["height"].as_u64()
        ),
        (Some(320), Some(240))
    );
    viewer.wait_for("30 decoded frames", |v| {
        v["type"] == "stats" && v["stats"]["videoFramesTotal"].as_u64().unwrap_or(0) >= 30
    });

    // SIGTERM: the publisher unpublishes and exits 0; the viewer is told and exits 0.
    publisher.sigterm();
    let st = publisher.finish();
    assert!(st.success(), "publish exited {st}: {}", publisher.stderr());
    assert!(
        publisher.seen.iter().any(|v| v["type"] == "unpublished"),
        "publish printed its unpublish: {:?}",
        publisher.seen.iter().rev().take(5).collect::<Vec<_>>()
    );
    assert!(
        !Path::new(intro["control"].as_str().unwrap()).exists(),
        "control socket removed"
    );
    viewer.wait_type("unpublished");
    let st = viewer.finish();
    assert!(st.success(), "subscribe exited {st}: {}", viewer.stderr());
    // Written frames (a slow disk may skip a few; the engine never queues without bound).
    let summary = viewer
        .seen
        .iter()
        .find(|v| v["type"] == "summary")
        .unwrap()
        .clone();
    assert!(summary["videoFrames"].as_u64().unwrap() >= 20, "{summary}");

    // The Y4M holds the stamped green pattern with increasing counters.
    let mut src = red5_media::file::Y4mSource::open(&video, false, false).unwrap();
    assert_eq!((src.header().width, src.header().height), (320, 240));
    let (mut stamped, mut last) = (0, None::<u32>);
    while let Ok(f) = src.next_frame() {
        let Some(stamp) = read_stamp(&f) else {
            continue;
        };
        assert_eq!(detect_color(&f), Some(PatternColor::Green));
        if let Some(prev) = last {
            assert!(
                stamp.frame_number > prev,
                "{prev} then {}",
                stamp.frame_number
            );
        }
        last = Some(stamp.frame_number);
        stamped += 1;
    }
    assert!(stamped >= 15, "only {stamped} stamped frames in the Y4M");

    // The WAV holds the 660 Hz tone.
    let mut wav = hound::WavReader::open(&audio).unwrap();
    let spec = wav.spec();
    assert_eq!(spec.sample_rate, 48_000);
    let all: Vec<f32> = wav
        .samples::<i16>()
        .map(|s| f32::from(s.unwrap()) / 32768.0)
        .collect();
    let mono = channel(&all, spec.channels, 0);
    assert!(mono.len() > 48_000, "{} samples", mono.len());
    let f = dominant_frequency(&mono[9_600..], 48_000);
    assert!((f - 660.0).abs() < 15.0, "dominant frequency {f} Hz");
}

/// `--metadata-every` sends the base object plus an increasing counter; `--duration` ends the
/// publish cleanly (exit 0) and a metadata-only viewer sees it all, with lines piped into
/// `--metadata-stdin`, then the unpublish. Both over the WS proxy; `--stats` lines carry real
/// traffic.
#[test]
fn metadata_every_and_duration() {
    let server = Server::start(ServerConfig::default());
    let url = server.url();
    let cfg = tempfile::tempdir().unwrap();
    let mut c = cli(cfg.path());
    c.args(publish_args(
        &url,
        "cli-every",
        &[
            "--video",
            "synthetic",
            "--audio",
            "none",
            "--transport",
            "ws-sm2",
            "--stats",
            "--metadata",
            r#"{"title":"tick"}"#,
            "--metadata-every",
            "0.3",
            "--metadata-stdin",
            "--duration",
            "6",
            "--no-control",
        ],
    ))
    .stdin(Stdio::piped());
    let mut publisher = Proc::start(c);
    let mut stdin = publisher.child.stdin.take().unwrap();
    assert_eq!(publisher.wait_type("publishing")["control"], Value::Null);
    publisher.wait_type("started");
    let mut viewer = Proc::spawn(
        cfg.path(),
        &[
            "subscribe",
            "cli-every",
            "--url",
            &url,
            "--transport",
            "ws-sm2",
            "--metadata-only",
            "--exit-on-unpublish",
        ],
    );
    let mut counters = Vec::new();
    while counters.len() < 4 {
        let m = viewer.wait_type("metadata");
        assert_eq!(m["metadata"]["title"], "tick", "{m}");
        if let Some(n) = m["metadata"]["counter"].as_u64() {
            counters.push(n);
        }
    }
    assert!(counters.windows(2).all(|w| w[1] > w[0]), "{counters:?}");
    // Lines piped into --metadata-stdin go out as they come; then stdin ends, publishing goes on.
    {
        use std::io::Write as _;
        writeln!(stdin, "caption one").unwrap();
        writeln!(stdin, r#"{{"slide":7}}"#).unwrap();
    }
    drop(stdin);
    viewer.wait_for("the first stdin line", |v| {
        v["metadata"] == json!({"metadata": "caption one"})
    });
    viewer.wait_for("the second stdin line", |v| {
        v["metadata"] == json!({"slide": 7})
    });
    let st = publisher.finish();
    assert!(st.success(), "{}", publisher.stderr());
    assert!(publisher.seen.iter().any(|v| v["via"] == "timer"));
    assert_eq!(
        publisher
            .seen
            .iter()
            .filter(|v| v["via"] == "stdin")
            .count(),
        2
    );
    let stats: Vec<&Value> = publisher
        .seen
        .iter()
        .filter(|v| v["type"] == "stats")
        .collect();
    assert!(!stats.is_empty(), "--stats prints stats lines");
    assert!(
        stats
            .iter()
            .any(|v| v["stats"]["bitrateOutKbps"].as_f64().unwrap() > 0.0),
        "stats carry the traffic: {stats:?}"
    );
    let st = viewer.finish();
    assert!(st.success(), "{}", viewer.stderr());
    assert!(
        viewer.seen.iter().all(|v| v["type"] == "metadata"),
        "--metadata-only prints only metadata"
    );
}

/// Mistakes and refusals: clear sentences on stderr, non-zero exits.
#[test]
fn errors_are_sentences_with_non_zero_exits() {
    let cfg = tempfile::tempdir().unwrap();
    let c = cfg.path();

    let (o, err) = run(c, &["publish", "x", "--url", "localhost:5080"]);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("is not a server address"), "{err}");

    let (o, err) = run(c, &["publish", "x", "--profile", "Nope"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(err.contains("no server profile \"Nope\""), "{err}");

    let (o, err) = run(c, &["publish", "x", "--video", "none", "--audio", "none"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(err.contains("nothing to publish"), "{err}");

    // Nobody listens on this port.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dead = format!("http://127.0.0.1:{port}");
    let (o, err) = run(c, &["publish", "x", "--url", &dead, "--no-control"]);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("could not connect") || err.contains("refused"),
        "{err}"
    );
    assert!(
        !err.contains("Error {") && !err.contains("Os {"),
        "no debug dumps: {err}"
    );

    // Unknown stream.
    let server = Server::start(ServerConfig::default());
    let (o, err) = run(c, &["subscribe", "nobody-here", "--url", &server.url()]);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("nobody-here") && err.contains("check the stream name"),
        "{err}"
    );

    // send-metadata without a publish.
    let (o, err) = run(c, &["send-metadata", "nobody-here", "hi"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        err.contains("no `publish` of that stream is running"),
        "{err}"
    );
    drop(server);

    // 401 from a server that wants round-trip credentials; the right ones publish.
    let locked = Server::start(ServerConfig {
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
    });
    let url = locked.url();
    let (o, err) = run(c, &["publish", "locked", "--url", &url, "--no-control"]);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("401") || err.to_lowercase().contains("not authorized"),
        "{err}"
    );
    assert!(err.contains("--username"), "says what to check: {err}");
    let o = cli(c)
        .args(publish_args(
            &url,
            "locked",
            &[
                "--username",
                "u",
                "--token",
                "t",
                "--duration",
                "1",
                "--no-control",
            ],
        ))
        .env("RED5_DESK_PASSWORD", "p")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains(r#""type":"started""#), "{out}");
    assert!(
        !out.contains("\"p\"") && !err.contains("\"p\""),
        "no password in output"
    );
}

/// Runs `host` one-shot and returns the room line it prints.
fn host(config: &Path, url: &str, args: &[&str]) -> Value {
    let mut all = vec!["host", "room1"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--url", url, "--access-token", "local"]);
    let (o, err) = run(config, &all);
    assert!(o.status.success(), "host {args:?} failed: {err}");
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        (v["type"].as_str(), v["room"].as_str()),
        (Some("room"), Some("live/room1"))
    );
    v
}

/// The host flow on the built-in server: a CLI `participant` and a CLI publisher wait in
/// `live/room1_wr`; `host` creates the composition (until it composes), admits both (the
/// participant joins by itself and records the composite and a mix-minus without her own
/// voice), changes the presenter and order, removes and bans (the participant is told and
/// ends); the composite is watchable; `watch` takes actions from stdin; refused actions and
/// an unreachable backend are told in words.
#[test]
fn host_manages_a_conference_room() {
    let server = Server::start(ServerConfig::default());
    let url = server.url();
    let cfg = tempfile::tempdir().unwrap();
    let c = cfg.path();

    let start = host(c, &url, &["status"]);
    assert_eq!(start["mixerRegions"], json!(["local"]));
    assert_eq!(start["waiting"], json!([]));

    // alice joins as a participant (recording what she gets), bob just publishes into the
    // waiting room.
    let dir = tempfile::tempdir().unwrap();
    let (mix_video, mix_audio) = (dir.path().join("alice.y4m"), dir.path().join("alice.wav"));
    let mut alice = Proc::spawn(
        c,
        &[
            "participant",
            "room1",
            "alice",
            "--url",
            &url,
            "--size",
            "320x240",
            "--fps",
            "15",
            "--bitrate",
            "300",
            "--video",
            "synthetic:red",
            "--audio",
            "tone:440",
            "--stats",
            "--video-out",
            mix_video.to_str().unwrap(),
            "--audio-out",
            mix_audio.to_str().unwrap(),
        ],
    );
    let intro = alice.wait_type("participating");
    assert_eq!(
        (intro["room"].as_str(), intro["joinRoute"].as_str()),
        (Some("live/room1"), Some("sm2"))
    );
    alice.wait_for("waiting for the host", |v| v["state"] == "waiting-for-host");
    let mut bob = Proc::spawn(
        c,
        &publish_args(
            &url,
            "bob",
            &[
                "--app",
                "live/room1_wr",
                "--video",
                "synthetic:blue",
                "--audio",
                "tone:880",
                "--no-control",
            ],
        ),
    );
    bob.wait_type("started");
    // The waiting room lists both once the server has them (it is told on publish).
    let mut waiting = host(c, &url, &["status"]);
    let end = Instant::now() + DEADLINE;
    while waiting["waiting"].as_array().unwrap().len() < 2 {
        assert!(Instant::now() < end, "waiting room: {waiting}");
        waiting = host(c, &url, &["status"]);
    }
    assert_eq!(waiting["waiting"], json!(["alice", "bob"]));

    let created = host(
        c,
        &url,
        &[
            "create",
            "--size",
            "320x240",
            "--fps",
            "15",
            "--bitrate",
            "500",
            "--wait-composing",
        ],
    );
    let comp = &created["compositions"][0];
    assert_eq!(comp["event"], "room1");
    assert_eq!(comp["state"], "composing");
    assert_eq!(comp["stream"], "live/room1/room1");
    assert_eq!(
        (comp["width"].as_u64(), comp["height"].as_u64()),
        (Some(320), Some(240))
    );

    let admitted = host(c, &url, &["admit", "alice", "bob"]);
    assert_eq!(admitted["conference"], json!(["alice", "bob"]));
    assert_eq!(admitted["presenter"], "alice");
    assert_eq!(admitted["waiting"], json!([]));
    // alice joins by herself and gets the composite and the mix-minus.
    alice.wait_type("admitted");
    alice.wait_type("joined");
    let first = alice.wait_type("firstFrame");
    assert_eq!(
        (first["width"].as_u64(), first["height"].as_u64()),
        (Some(320), Some(240))
    );
    alice.wait_for("30 composite frames", |v| {
        v["type"] == "stats" && v["stats"]["videoFramesTotal"].as_u64().unwrap_or(0) >= 30
    });
    assert_eq!(host(c, &url, &["presenter", "bob"])["presenter"], "bob");
    assert_eq!(
        host(c, &url, &["order", "bob", "0"])["conference"],
        json!(["bob", "alice"])
    );

    // The composite is a stream like any other.
    let composite = dir.path().join("composite.y4m");
    let (o, err) = run(
        c,
        &[
            "subscribe",
            "room1",
            "--url",
            &url,
            "--app",
            "live/room1",
            "--frames",
            "5",
            "--video-out",
            composite.to_str().unwrap(),
        ],
    );
    assert!(o.status.success(), "{err}");
    let src = red5_media::file::Y4mSource::open(&composite, false, false).unwrap();
    assert_eq!((src.header().width, src.header().height), (320, 240));

    let removed = host(c, &url, &["remove", "alice"]);
    assert_eq!(removed["conference"], json!(["bob"]));
    assert_eq!(removed["waiting"], json!(["alice"]));
    alice.wait_type("removedByHost");
    let banned = host(c, &url, &["exclude", "alice"]);
    assert_eq!(banned["excluded"], json!(["alice"]));
    assert_eq!(banned["waiting"], json!([]));
    alice.wait_type("excluded");
    let st = alice.finish();
    assert_eq!(
        st.code(),
        Some(1),
        "a banned participant's session ends as a failure"
    );
    assert!(
        alice.stderr().contains("the host excluded you"),
        "{}",
        alice.stderr()
    );

    // What alice recorded: the composite, and a mix-minus with bob's 880 Hz but not her 440 Hz.
    let src = red5_media::file::Y4mSource::open(&mix_video, false, false).unwrap();
    assert_eq!((src.header().width, src.header().height), (320, 240));
    let mut wav = hound::WavReader::open(&mix_audio).unwrap();
    let spec = wav.spec();
    let all: Vec<f32> = wav
        .samples::<i16>()
        .map(|s| f32::from(s.unwrap()) / 32768.0)
        .collect();
    // Only the blocks with sound (she also recorded silence while waiting).
    let loud: Vec<f32> = channel(&all, spec.channels, 0)
        .chunks(9_600)
        .filter(|b| b.iter().map(|x| x * x).sum::<f32>() / b.len() as f32 > 1e-4)
        .flatten()
        .copied()
        .collect();
    assert!(loud.len() >= 48_000, "{} loud samples", loud.len());
    let f = dominant_frequency(&loud, spec.sample_rate);
    assert!((f - 880.0).abs() < 15.0, "mix-minus dominant {f} Hz");
    let (p880, p440) = (
        red5_media::analysis::tone_power(&loud, spec.sample_rate, 880.0),
        red5_media::analysis::tone_power(&loud, spec.sample_rate, 440.0),
    );
    assert!(
        p440 < p880 / 20.0,
        "her own tone is not in her mix: 440 {p440}, 880 {p880}"
    );

    // Refusals, in words.
    let (o, err) = run(c, &["host", "room1", "admit", "zed", "--url", &url]);
    assert_eq!(o.status.code(), Some(1));
    assert!(err.contains("zed is not in the waiting room"), "{err}");
    let (o, err) = run(
        c,
        &[
            "host",
            "room1",
            "create",
            "--url",
            &url,
            "--access-token",
            "local",
        ],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(err.contains("already exists"), "{err}");
    let (o, err) = run(c, &["host", "room1", "create", "--url", &url]);
    assert_eq!(o.status.code(), Some(2));
    assert!(err.contains("access token"), "{err}");

    // watch: the state, then actions typed on stdin and their effects as lines.
    let mut watch = cli(c);
    watch
        .args(["host", "room1", "watch", "--url", &url])
        .stdin(Stdio::piped());
    let mut w = Proc::start(watch);
    let mut stdin = w.child.stdin.take().unwrap();
    let room = w.wait_type("room");
    assert_eq!(room["conference"], json!(["bob"]));
    use std::io::Write as _;
    writeln!(stdin, "remove bob").unwrap();
    let conf = w.wait_for("the emptied conference", |v| {
        v["type"] == "conference" && v["streams"] == json!([])
    });
    assert_eq!(conf["presenter"], Value::Null);
    writeln!(stdin, "admit nobody-else").unwrap();
    let e = w.wait_type("error");
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .contains("nobody-else is not in the waiting room"),
        "{e}"
    );
    writeln!(stdin, "destroy").unwrap();
    w.wait_for("no compositions", |v| {
        v["type"] == "compositions" && v["list"] == json!([])
    });
    writeln!(stdin, "quit").unwrap();
    assert!(w.finish().success());

    // A backend nobody runs.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (o, err) = run(
        c,
        &[
            "host",
            "room1",
            "status",
            "--url",
            &format!("http://127.0.0.1:{port}"),
        ],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(
        err.contains("could not reach the conference backend"),
        "{err}"
    );
    bob.sigterm();
    assert!(bob.finish().success(), "{}", bob.stderr());
}

/// A private PulseAudio daemon whose default microphone is a sine (the CLI children are
/// pointed at it through PULSE_SERVER; nothing else on the machine is touched).
struct Pulse {
    child: Child,
    dir: tempfile::TempDir,
}

impl Pulse {
    fn start(hz: u32) -> Pulse {
        let dir = tempfile::tempdir().unwrap();
        let runtime = dir.path().join("runtime");
        std::fs::create_dir_all(&runtime).unwrap();
        let script = dir.path().join("pa.pa");
        std::fs::write(
            &script,
            format!(
                "load-module module-native-protocol-unix auth-anonymous=1 socket={}\n\
                 load-module module-null-sink sink_name=fakesink\n\
                 load-module module-sine-source source_name=fakemic rate=48000 frequency={hz}\n\
                 set-default-source fakemic\n\
                 set-default-sink fakesink\n",
                dir.path().join("native").display()
            ),
        )
        .unwrap();
        let child = Command::new("pulseaudio")
            .args(["-n", "-F"])
            .arg(&script)
            .args(["--exit-idle-time=-1", "--daemonize=no", "--use-pid-file=no"])
            // Its own daemon, whatever PulseAudio the environment points at (CI runs one).
            .env_remove("PULSE_SERVER")
            .env("HOME", dir.path())
            .env("PULSE_RUNTIME_PATH", &runtime)
            .env("XDG_RUNTIME_DIR", &runtime)
            .env("PULSE_STATE_PATH", dir.path().join("state"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("pulseaudio is needed (apt-get install pulseaudio pulseaudio-utils)");
        let mut p = Pulse { child, dir };
        let end = Instant::now() + Duration::from_secs(20);
        // Ready when it answers on its socket (pactl returns at once either way).
        while !Command::new("pactl")
            .arg("-s")
            .arg(p.server())
            .arg("info")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap()
            .success()
        {
            assert!(p.child.try_wait().unwrap().is_none(), "pulseaudio exited");
            assert!(Instant::now() < end, "pulseaudio did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        p
    }

    fn server(&self) -> String {
        format!("unix:{}", self.dir.path().join("native").display())
    }
}

impl Drop for Pulse {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The dominant frequency of a WAV file's first channel (skipping the first 200 ms).
fn wav_frequency(path: &Path) -> f32 {
    let mut wav = hound::WavReader::open(path).unwrap();
    let spec = wav.spec();
    let all: Vec<f32> = wav
        .samples::<i16>()
        .map(|s| f32::from(s.unwrap()) / 32768.0)
        .collect();
    let mono = channel(&all, spec.channels, 0);
    assert!(mono.len() > 24_000, "{} samples", mono.len());
    dominant_frequency(&mono[9_600.min(mono.len() / 4)..], spec.sample_rate)
}

/// File and device sources: video from a Y4M file (magenta pattern written here), audio from the
/// default microphone (a private PulseAudio sine at 523 Hz); the subscriber stops by itself
/// after `--frames` and its files show both.
#[test]
fn publishes_a_y4m_file_and_the_default_microphone() {
    let pulse = Pulse::start(523);
    let server = Server::start(ServerConfig::default());
    let url = server.url();
    let cfg = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();

    let clip = dir.path().join("clip.y4m");
    let pattern = red5_media::synthetic::TestPattern::new(320, 240, PatternColor::Magenta);
    let mut w = red5_media::file::Y4mWriter::create(&clip, 320, 240, 15).unwrap();
    let mut frame = red5_media::VideoFrame::new(320, 240);
    for n in 0..30 {
        pattern.render_into(n, 0, &mut frame);
        w.write(&frame).unwrap();
    }
    w.finish().unwrap();

    let spec = format!("file:{}", clip.display());
    let mut c = cli(cfg.path());
    c.env("PULSE_SERVER", pulse.server()).args(publish_args(
        &url,
        "cli-files",
        &["--video", &spec, "--audio", "device", "--no-control"],
    ));
    let mut publisher = Proc::start(c);
    let intro = publisher.wait_type("publishing");
    assert!(intro["video"]["source"]
        .as_str()
        .unwrap()
        .ends_with("clip.y4m"));
    publisher.wait_type("started");

    let video = dir.path().join("got.y4m");
    let audio = dir.path().join("got.wav");
    let (o, err) = run(
        cfg.path(),
        &[
            "subscribe",
            "cli-files",
            "--url",
            &url,
            "--frames",
            "40",
            "--video-out",
            video.to_str().unwrap(),
            "--audio-out",
            audio.to_str().unwrap(),
        ],
    );
    assert!(o.status.success(), "{err}");
    let summary: Value = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|v| v["type"] == "summary")
        .unwrap();
    assert_eq!(summary["videoFrames"], 40);

    let mut src = red5_media::file::Y4mSource::open(&video, false, false).unwrap();
    let mut magenta = 0;
    while let Ok(f) = src.next_frame() {
        if read_stamp(&f).is_some() {
            assert_eq!(detect_color(&f), Some(PatternColor::Magenta));
            magenta += 1;
        }
    }
    assert!(magenta >= 30, "{magenta} stamped magenta frames of 40");
    let f = wav_frequency(&audio);
    assert!(
        (f - 523.0).abs() < 15.0,
        "the microphone's 523 Hz, got {f} Hz"
    );

    publisher.sigterm();
    assert!(publisher.finish().success(), "{}", publisher.stderr());
}

/// The server goes away mid-publish and comes back on the same port: `publish` reconnects by
/// itself, sends the latest metadata again, and a viewer who joins afterwards gets it. Then
/// `control` mutes, changes the bitrate and stops it.
#[test]
fn publish_resumes_after_a_server_restart_and_resends_metadata() {
    let mut server = Server::start(ServerConfig::default());
    let url = server.url();
    let port: u16 = url.rsplit(':').next().unwrap().parse().unwrap();
    let cfg = tempfile::tempdir().unwrap();
    let mut publisher = Proc::spawn(
        cfg.path(),
        &publish_args(
            &url,
            "cli-phoenix",
            &[
                "--metadata",
                r#"{"title":"before"}"#,
                "--audio",
                "none",
                "--codec",
                "vp8",
            ],
        ),
    );
    publisher.wait_type("started");
    publisher.wait_type("sent");
    let (o, err) = run(
        cfg.path(),
        &["send-metadata", "cli-phoenix", r#"{"title":"latest"}"#],
    );
    assert!(o.status.success(), "{err}");
    publisher.wait_for("sent via control", |v| v["via"] == "control");

    let h = server.handle.take().unwrap();
    server.rt.block_on(h.shutdown());
    publisher.wait_type("reconnecting");
    let again = server
        .rt
        .block_on(LocalServer::start(ServerConfig {
            port,
            ..ServerConfig::default()
        }))
        .unwrap();
    server.handle = Some(again);
    publisher.wait_type("started");
    let resent = publisher.wait_for("metadata sent again", |v| v["via"] == "reconnect");
    assert_eq!(resent["data"], json!({"title": "latest"}));

    let mut viewer = Proc::spawn(
        cfg.path(),
        &["subscribe", "cli-phoenix", "--url", &url, "--metadata-only"],
    );
    assert_eq!(
        viewer.wait_type("metadata")["metadata"],
        json!({"title": "latest"})
    );
    viewer.sigterm();
    assert!(viewer.finish().success(), "{}", viewer.stderr());

    // `control` reaches the live session: mute, bitrate (checked), and a clean stop.
    let c = cfg.path();
    for args in [
        &["control", "cli-phoenix", "mute-video"][..],
        &["control", "cli-phoenix", "unmute-video"],
        &["control", "cli-phoenix", "bitrate", "500"],
    ] {
        let (o, err) = run(c, args);
        assert!(o.status.success(), "{args:?}: {err}");
        let line = publisher.wait_type("control");
        assert_eq!(
            (line["command"].as_str(), line["ok"].as_bool()),
            (Some(args[2]), Some(true))
        );
    }
    let (o, err) = run(c, &["control", "cli-phoenix", "bitrate", "1"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(err.contains("between 50 and 50000"), "{err}");
    let (o, err) = run(c, &["control", "cli-phoenix", "bitrate"]);
    assert_eq!(o.status.code(), Some(2), "{err}");
    let (o, err) = run(c, &["control", "cli-phoenix", "stop"]);
    assert!(o.status.success(), "{err}");
    assert!(publisher.finish().success(), "{}", publisher.stderr());
    assert!(publisher.seen.iter().any(|v| v["type"] == "unpublished"));
}
