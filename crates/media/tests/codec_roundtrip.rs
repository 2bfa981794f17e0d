//! encode → RTP → (reorder, wire bytes) → jitter buffer → depacketize → decode, checking the
//! decoded PIXELS: the frame counter in the stamp and the pattern colour must match what was
//! sent. Plus Opus checked by spectrum, and key frames on demand / by interval.

#![allow(clippy::unwrap_used)] // tests may unwrap (project rule)

use std::time::{Duration, Instant};

use red5_media::analysis::dominant_frequency;
use red5_media::codec::opus::{OpusDecoder, OpusEncoder};
use red5_media::codec::{
    new_video_decoder, new_video_encoder, AudioDecoder, AudioEncoder, VideoCodec,
    VideoEncoderConfig,
};
use red5_media::frame::now_unix_micros;
use red5_media::jitter::{JitterBuffer, JitterConfig};
use red5_media::rtp::{marshal, unmarshal, RtpCodec, RtpPacketizer};
use red5_media::source::{AudioSource, VideoSource};
use red5_media::synthetic::{
    detect_color, read_stamp, PatternColor, TestPatternSource, ToneSource,
};

const FRAMES: u32 = 45;

fn video_round_trip(codec: VideoCodec, color: PatternColor, bitrate: u32) {
    let (w, h, fps) = (640, 360, 30);
    let mut src = TestPatternSource::new(w, h, fps, color, false).unwrap();
    let mut cfg = VideoEncoderConfig::new(w, h, fps, bitrate);
    cfg.keyframe_interval = 30;
    let mut enc = new_video_encoder(codec, cfg).unwrap();
    let mut dec = new_video_decoder(codec).unwrap();
    let rtp_codec = RtpCodec::from(codec);
    let mut pk = RtpPacketizer::new(rtp_codec, 96, 0x1234, 65_500, 7_000);
    let mut jb = JitterBuffer::new(rtp_codec, JitterConfig::for_codec(rtp_codec));
    let t0 = Instant::now();

    let mut keyframes = Vec::new();
    let mut decoded = Vec::new();
    let mut bytes = 0usize;
    let mut skipped = 0u32;
    for n in 0..FRAMES {
        let frame = src.next_frame().unwrap();
        if n == 40 {
            enc.request_keyframe(); // as on a PLI
        }
        let Some(encoded) = enc.encode(&frame).unwrap() else {
            skipped += 1; // rate control may drop a frame
            continue;
        };
        if encoded.keyframe {
            keyframes.push(n);
        }
        bytes += encoded.data.len();
        let mut packets = pk.packetize(&encoded.data, encoded.timestamp).unwrap();
        // Reorder: swap neighbours, then go through wire bytes.
        for pair in packets.chunks_mut(2) {
            pair.reverse();
        }
        for p in packets {
            let wire = marshal(&p).unwrap();
            jb.push(unmarshal(&wire).unwrap(), t0);
        }
        while let Some(af) = jb.pop(t0) {
            assert!(!af.after_loss, "no loss was introduced");
            if let Some(pic) = dec.decode(&af.data).unwrap() {
                decoded.push((af.rtp_timestamp, pic));
            }
        }
    }
    assert_eq!(
        jb.stats().lost,
        0,
        "{:?} keyframes {keyframes:?}",
        jb.stats()
    );
    assert_eq!(keyframes[0], 0, "{codec:?} must start with a key frame");
    assert!(
        keyframes.contains(&30),
        "{codec:?} key frame at the interval: {keyframes:?}"
    );
    assert!(
        keyframes.contains(&40),
        "{codec:?} key frame on demand: {keyframes:?}"
    );
    assert!(skipped <= 3, "{codec:?} skipped {skipped} frames");
    assert!(
        decoded.len() as u32 >= FRAMES - skipped - 1,
        "{codec:?} decoded {} of {FRAMES}",
        decoded.len()
    );
    let now = now_unix_micros();
    for (rtp_ts, pic) in &decoded {
        assert_eq!((pic.width, pic.height), (w, h));
        let stamp = read_stamp(pic)
            .unwrap_or_else(|| panic!("{codec:?}: unreadable stamp at rtp {rtp_ts}"));
        // RTP timestamp (90 kHz, offset 7000) and the counter in the pixels must agree.
        let expected = (rtp_ts.wrapping_sub(7_000) + 1_500) / 3_000;
        assert_eq!(stamp.frame_number, expected, "{codec:?}");
        assert!(
            stamp.latency_us(now) < 60_000_000,
            "capture time survived coding"
        );
        assert_eq!(detect_color(pic), Some(color), "{codec:?} frame {expected}");
    }
    // Rate control: the 1.5 s must land within 2x of the target bitrate.
    let bps = bytes as f64 * 8.0 / (f64::from(FRAMES) / f64::from(fps));
    assert!(
        bps < 2.0 * f64::from(bitrate),
        "{codec:?} produced {bps:.0} bit/s for {bitrate}"
    );
}

#[test]
fn h264_round_trip_keeps_counter_and_colour() {
    video_round_trip(VideoCodec::H264, PatternColor::Orange, 800_000);
}

#[test]
fn vp8_round_trip_keeps_counter_and_colour() {
    video_round_trip(VideoCodec::Vp8, PatternColor::Cyan, 800_000);
}

#[test]
fn encoders_follow_bitrate_changes_and_resolution_changes() {
    for codec in [VideoCodec::H264, VideoCodec::Vp8] {
        let mut enc =
            new_video_encoder(codec, VideoEncoderConfig::new(320, 180, 30, 300_000)).unwrap();
        let mut small = TestPatternSource::new(320, 180, 30, PatternColor::Red, false).unwrap();
        enc.set_bitrate(250_000).unwrap();
        enc.encode(&small.next_frame().unwrap()).unwrap();
        enc.set_bitrate(200_000).unwrap();
        assert_eq!(enc.config().bitrate_bps, 200_000);
        // The camera switches resolution: the encoder follows and restarts with a key frame.
        let mut big = TestPatternSource::new(640, 360, 30, PatternColor::Red, false).unwrap();
        let e = enc.encode(&big.next_frame().unwrap()).unwrap().unwrap();
        assert!(e.keyframe, "{codec:?}");
        let mut dec = new_video_decoder(codec).unwrap();
        let pic = dec.decode(&e.data).unwrap().unwrap();
        assert_eq!((pic.width, pic.height), (640, 360));
        assert!(enc.set_bitrate(10).is_err() || codec == VideoCodec::Vp8);
    }
}

#[test]
fn bad_encoder_settings_are_clear_errors() {
    let err = new_video_encoder(
        VideoCodec::H264,
        VideoEncoderConfig::new(641, 360, 30, 500_000),
    )
    .err()
    .unwrap();
    assert!(err.to_string().contains("even sides"), "{err}");
    let mut dec = new_video_decoder(VideoCodec::Vp8).unwrap();
    assert!(dec.decode(b"\x00garbage that is not vp8").is_err());
}

#[test]
fn opus_tone_round_trip_by_spectrum_with_concealment() {
    let mut tone = ToneSource::new(1000.0, 0.5, 2, false).unwrap();
    let mut enc = OpusEncoder::new(2, 64_000).unwrap();
    let mut dec = OpusDecoder::new(1).unwrap();
    let mut pk = RtpPacketizer::new(RtpCodec::Opus, 111, 9, 0, 0);
    let mut jb = JitterBuffer::new(RtpCodec::Opus, JitterConfig::for_codec(RtpCodec::Opus));
    let t0 = Instant::now();
    let mut out = Vec::new();
    for n in 0..50u64 {
        let f = tone.next_frame().unwrap();
        let pkt = enc.encode(&f).unwrap();
        assert!(pkt.len() < 400, "{} bytes", pkt.len());
        for p in pk.packetize(&pkt, Duration::from_millis(20 * n)).unwrap() {
            if n != 25 {
                jb.push(p, t0);
            }
        }
    }
    let mut last_ts: Option<u32> = None;
    while let Some(af) = jb.pop(t0 + Duration::from_secs(1)) {
        if let Some(prev) = last_ts {
            // Conceal every missing 20 ms.
            for _ in 1..(af.rtp_timestamp.wrapping_sub(prev) / 960) {
                let plc = dec.decode(None).unwrap();
                assert_eq!(plc.samples.len(), 960);
                out.extend_from_slice(&plc.samples);
            }
        }
        last_ts = Some(af.rtp_timestamp);
        let f = dec.decode(Some(&af.data)).unwrap();
        assert_eq!(
            (f.sample_rate, f.channels, f.samples.len()),
            (48_000, 1, 960)
        );
        out.extend_from_slice(&f.samples);
    }
    assert_eq!(out.len(), 50 * 960);
    assert_eq!(jb.stats().lost, 1);
    let f = dominant_frequency(&out[4800..], 48_000);
    assert!((f - 1000.0).abs() <= 3.0, "dominant {f} Hz");
}

/// openh264-sys2 silently falls back to C (3x slower) when nasm is missing. The assembly
/// routines only exist in the binary when nasm ran, so look for them in this test binary.
#[test]
fn openh264_was_built_with_nasm_assembly() {
    let exe = std::env::current_exe().unwrap();
    let out = std::process::Command::new("nm")
        .arg(&exe)
        .output()
        .expect("`nm` (binutils) is needed to inspect the binary");
    let syms = String::from_utf8_lossy(&out.stdout);
    assert!(
        syms.contains("WelsCPUId") && syms.contains("_sse2"),
        "openh264 has no x86 assembly linked: install nasm and rebuild (cargo clean -p openh264-sys2)"
    );
}

/// Red5 negotiates `profile-level-id=42e01f`: the SPS must say Baseline (66) with
/// constraint_set1 (constrained baseline) and level 3.1 for up to 720p30.
#[test]
fn h264_sps_is_constrained_baseline_level_3_1() {
    for (w, h) in [(640, 360), (1280, 720)] {
        let mut src = TestPatternSource::new(w, h, 30, PatternColor::Gray, false).unwrap();
        let mut enc = new_video_encoder(
            VideoCodec::H264,
            VideoEncoderConfig::new(w, h, 30, 1_000_000),
        )
        .unwrap();
        let e = enc.encode(&src.next_frame().unwrap()).unwrap().unwrap();
        let d = &e.data;
        let sps = (0..d.len() - 4)
            .find(|&i| d[i..i + 3] == [0, 0, 1] && d[i + 3] & 0x1f == 7)
            .map(|i| &d[i + 4..i + 7])
            .expect("key frame carries an SPS");
        assert_eq!(sps[0], 0x42, "profile_idc for {w}x{h}");
        assert_ne!(
            sps[1] & 0x40,
            0,
            "constraint_set1 for {w}x{h}: {:#x}",
            sps[1]
        );
        assert_eq!(sps[2], 0x1f, "level_idc for {w}x{h}");
    }
}
