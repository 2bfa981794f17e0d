//! The no-sound-card paths give clear messages. Runs the checks in a child process whose
//! PulseAudio client points at a socket that does not exist, so no sound server a test script
//! (or the developer's desktop) runs can leak in.

#![allow(clippy::unwrap_used)] // tests may unwrap (project rule)

use std::process::Command;
use std::time::Duration;

use red5_media::events::MediaEvent;
use red5_media::mic::MicrophoneSource;
use red5_media::playout::AudioPlayer;
use red5_media::MediaError;

const CHILD: &str = "RED5_MEDIA_NO_SOUND_CHILD";

fn in_child(test: &str) -> bool {
    if std::env::var_os(CHILD).is_some() {
        return true;
    }
    let out = Command::new(std::env::current_exe().unwrap())
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD, "1")
        .env("PULSE_SERVER", "unix:/nonexistent/red5-media-test/native")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "child run failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("1 passed"), "child ran no test: {stdout}");
    // ALSA's "cannot find card" chatter must not reach the terminal.
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("ALSA lib"),
        "ALSA noise on stderr: {stderr}"
    );
    false
}

fn has_sound_card() -> bool {
    std::path::Path::new("/dev/snd").exists()
}

#[test]
fn default_microphone_without_sound_card_is_a_clear_error() {
    if !in_child("default_microphone_without_sound_card_is_a_clear_error") {
        return;
    }
    match MicrophoneSource::open(None, 1) {
        Err(e) if !has_sound_card() => {
            assert!(matches!(e, MediaError::NoMicrophone), "{e:?}");
            assert_eq!(e.to_string(), "no microphone was found");
        }
        Err(e) => assert!(!e.to_string().is_empty()),
        Ok(m) => assert!(
            has_sound_card(),
            "opened '{}' without a sound card",
            red5_media::AudioSource::name(&m)
        ),
    }
}

#[test]
fn default_speaker_without_sound_card_falls_back_to_silence() {
    if !in_child("default_speaker_without_sound_card_falls_back_to_silence") {
        return;
    }
    if has_sound_card() {
        return;
    }
    let err = AudioPlayer::open(None, 2, Duration::from_millis(60)).unwrap_err();
    assert_eq!(err.to_string(), "no speaker or headphones were found");
    let mut p = AudioPlayer::open_or_null(None, 2, Duration::from_millis(60));
    assert!(p.is_null());
    assert_eq!(
        p.try_event(),
        Some(MediaEvent::SilentOutput {
            reason: "no speaker or headphones were found".into()
        })
    );
}
