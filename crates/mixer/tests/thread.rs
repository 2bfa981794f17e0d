//! The thread driver with the real clock: media in, events out.
#![allow(clippy::unwrap_used)] // tests may unwrap (project rule)

use std::sync::mpsc;
use std::time::Duration;

use red5_media::codec::h264::H264Decoder;
use red5_media::codec::VideoDecoder;
use red5_media::frame::{AudioFrame, AUDIO_RATE};
use red5_media::synthetic::{detect_color, PatternColor, TestPattern};
use red5_mixer::{MixerConfig, MixerEvent, MixerThread};

#[test]
fn thread_driver_mixes_in_real_time_and_stops() {
    let (tx, rx) = mpsc::channel();
    let mut cfg = MixerConfig::new(320, 180, 30, 300);
    cfg.layout = red5_mixer::LayoutKind::PresenterOnly;
    let m = MixerThread::spawn(cfg, move |ev| {
        let _ = tx.send(ev);
    })
    .unwrap();
    assert!(m.set_participants(vec!["a".into(), "b".into()]));
    assert!(m.set_presenter(Some("b".into())));
    let green = TestPattern::new(320, 180, PatternColor::Green).render(0, 0);
    assert!(m.push_video("b", green));
    let tone: Vec<f32> = (0..960).map(|i| (i as f32 * 0.05).sin() * 0.2).collect();
    for _ in 0..3 {
        assert!(m.push_audio(
            "a",
            AudioFrame {
                samples: tone.clone(),
                channels: 1,
                sample_rate: AUDIO_RATE,
                timestamp: Duration::ZERO
            }
        ));
    }
    // Wait for the events that prove both paths ran.
    let mut dec = H264Decoder::new().unwrap();
    let (mut saw_green, mut b_heard_a) = (false, false);
    while !(saw_green && b_heard_a) {
        match rx
            .recv_timeout(Duration::from_secs(10))
            .expect("mixer events stopped")
        {
            MixerEvent::Video(v) => {
                if let Some(f) = v.encoded.and_then(|e| dec.decode(&e.data).unwrap()) {
                    saw_green |= detect_color(&f) == Some(PatternColor::Green);
                }
            }
            MixerEvent::Audio(a) => {
                // The first ticks may come before the participant list reached the thread.
                let (Some(pa), Some(pb)) = (a.participant("a"), a.participant("b")) else {
                    continue;
                };
                b_heard_a |= pb.mix_minus.pcm.samples.iter().any(|s| s.abs() > 0.1);
                assert!(pa.mix_minus.pcm.samples.iter().all(|s| *s == 0.0));
            }
        }
    }
    m.stop();
    // The callback (and its sender) went away with the thread.
    while rx.recv_timeout(Duration::from_secs(5)).is_ok() {}
}
