//! The real cpal capture (and playout) path against a private PulseAudio daemon with a sine
//! source as the default microphone. One test in its own binary: it sets PULSE_SERVER for this
//! process only, so it cannot collide with a daemon something else runs.

#![allow(clippy::unwrap_used)] // tests may unwrap (project rule)

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use red5_media::analysis::{channel, dominant_frequency, Level};
use red5_media::events::MediaEvent;
use red5_media::mic::MicrophoneSource;
use red5_media::playout::AudioPlayer;
use red5_media::source::AudioSource;
use red5_media::synthetic::ToneSource;
use red5_media::DeviceKind;

struct Daemon {
    child: Child,
    _dir: tempfile::TempDir,
    socket: PathBuf,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn pactl(socket: &Path, args: &[&str]) -> Result<String, String> {
    let out = Command::new("pactl")
        .arg("-s")
        .arg(format!("unix:{}", socket.display()))
        .args(args)
        .output()
        .map_err(|e| format!("pactl could not run: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

fn start_daemon() -> Daemon {
    let found = Command::new("pulseaudio").arg("--version").output();
    assert!(
        found.as_ref().is_ok_and(|o| o.status.success()),
        "pulseaudio is not installed; this test needs it (apt-get install pulseaudio \
         pulseaudio-utils libasound2-plugins): {found:?}"
    );
    let dir = tempfile::tempdir().unwrap();
    let runtime = dir.path().join("runtime");
    std::fs::create_dir_all(&runtime).unwrap();
    let socket = dir.path().join("native");
    let script = dir.path().join("pa.pa");
    std::fs::write(
        &script,
        format!(
            "load-module module-native-protocol-unix auth-anonymous=1 socket={}\n\
             load-module module-null-sink sink_name=fakesink\n\
             load-module module-sine-source source_name=fakemic rate=48000 frequency=440\n\
             set-default-source fakemic\n\
             set-default-sink fakesink\n",
            socket.display()
        ),
    )
    .unwrap();
    let child = Command::new("pulseaudio")
        .args(["-n", "-F"])
        .arg(&script)
        .args([
            "--exit-idle-time=-1",
            "--daemonize=no",
            "--use-pid-file=no",
            "--disallow-exit",
        ])
        .env("HOME", dir.path())
        .env("PULSE_RUNTIME_PATH", &runtime)
        .env("XDG_RUNTIME_DIR", &runtime)
        .env("PULSE_STATE_PATH", dir.path().join("state"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("pulseaudio failed to start");
    let mut daemon = Daemon {
        child,
        _dir: dir,
        socket,
    };
    // Ready when the server answers on its socket.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(status) = daemon.child.try_wait().unwrap() {
            panic!("pulseaudio exited early with {status}");
        }
        if pactl(&daemon.socket, &["info"]).is_ok() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "pulseaudio did not become ready in 20 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // Point this process's libpulse (used by ALSA's pulse plugin under cpal) at our daemon.
    std::env::set_var("PULSE_SERVER", format!("unix:{}", daemon.socket.display()));
    std::env::set_var("PULSE_RUNTIME_PATH", daemon._dir.path().join("runtime"));
    daemon
}

fn capture(seconds: f32) -> (Vec<f32>, String, Level) {
    let mut mic = MicrophoneSource::open(None, 1).expect("the PulseAudio microphone must open");
    let name = mic.name();
    let frames = (seconds * 50.0) as usize;
    let mut out = Vec::new();
    for _ in 0..frames {
        let f = mic.next_frame().expect("capture frame");
        assert_eq!((f.sample_rate, f.channels), (48_000, 1));
        out.extend_from_slice(&f.samples);
    }
    (out, name, mic.level())
}

#[test]
fn cpal_captures_the_pulseaudio_sine_microphone_and_plays_back() {
    let daemon = start_daemon();

    // 1. Capture ~1 s from the default input: module-sine-source at 440 Hz.
    let (samples, name, level) = capture(1.0);
    assert!(samples.len() >= 48_000 - 960, "{} samples", samples.len());
    // Skip the first 100 ms (stream start-up).
    let f = dominant_frequency(&samples[4800..], 48_000);
    assert!(
        (f - 440.0).abs() <= 5.0,
        "dominant frequency {f} Hz from '{name}'"
    );
    assert!(level.peak > 0.1, "mic level {level:?}");

    // 2. Play a 1 kHz tone through cpal into the null sink and record its monitor.
    pactl(&daemon.socket, &["set-default-source", "fakesink.monitor"]).unwrap();
    let mut player = AudioPlayer::open(None, 2, Duration::from_millis(40)).expect("pulse speaker");
    assert!(!player.is_null());
    let mut tone = ToneSource::new(1000.0, 0.5, 2, true).unwrap();
    let feeder = std::thread::spawn(move || {
        for _ in 0..250 {
            let f = tone.next_frame().unwrap();
            player.push(&f).unwrap();
        }
        player.level()
    });
    // Wait (on the audio itself) until the tone reaches the monitor, then record 0.5 s.
    let mut monitor = MicrophoneSource::open(None, 1).unwrap();
    let t0 = Instant::now();
    while Level::measure(&monitor.next_frame().unwrap().samples).peak < 0.05 {
        assert!(
            t0.elapsed() < Duration::from_secs(4),
            "the played tone never reached the sink monitor"
        );
    }
    let mut rec = Vec::new();
    for _ in 0..25 {
        rec.extend_from_slice(&monitor.next_frame().unwrap().samples);
    }
    drop(monitor);
    let out_level = feeder.join().unwrap();
    let f = dominant_frequency(&channel(&rec, 1, 0), 48_000);
    // Playback underruns on a loaded machine put gaps in the recorded tone and smear its peak by
    // a few Hz (1009 Hz was seen under CI-like load); ±20 Hz still tells 1 kHz from anything else.
    assert!(
        (f - 1000.0).abs() <= 20.0,
        "monitor dominant frequency {f} Hz"
    );
    assert!(out_level.peak > 0.1, "output level {out_level:?}");

    // 3. The sound server vanishes mid-stream: a clear error for the mic, an event for the
    //    speaker, not a hang or a crash.
    pactl(&daemon.socket, &["set-default-source", "fakemic"]).unwrap();
    let mut mic = MicrophoneSource::open(None, 1).unwrap();
    let name = mic.name();
    mic.next_frame().unwrap();
    let mut player = AudioPlayer::open(None, 1, Duration::from_millis(40)).unwrap();
    drop(daemon); // kills pulseaudio
    let t0 = Instant::now();
    let err = loop {
        match mic.next_frame() {
            Ok(_) => assert!(
                t0.elapsed() < Duration::from_secs(10),
                "still capturing 10 s after the server died"
            ),
            Err(e) => break e,
        }
    };
    assert_eq!(
        err.to_string(),
        format!("the microphone '{name}' disappeared")
    );
    // Keep feeding the speaker until it reports the loss.
    let mut tone = ToneSource::new(500.0, 0.2, 1, true).unwrap();
    let t0 = Instant::now();
    let event = loop {
        if let Some(ev) = player.try_event() {
            break ev;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "no event 10 s after the server died"
        );
        player.push(&tone.next_frame().unwrap()).unwrap();
    };
    assert!(
        matches!(
            event,
            MediaEvent::DeviceLost {
                kind: DeviceKind::Speaker,
                ..
            }
        ),
        "{event:?}"
    );
}
