//! Issue 6 interop: the official SDK's `RTCConferenceParticipant` (red5pro-webrtc-sdk 11.0.0 in
//! headless Debian Chromium, tests/interop) joins a conference on the built-in server. The page
//! is also the host: it creates the composition over the conference backend WebSocket, posts
//! the conference provision, asks `join`, starts two participants (so each has a mix-minus) and
//! promotes them. Each participant must get `Conference.MediaStream` with one composite video
//! and three audio tracks, all live, the composite decoding at the composition's size and every
//! audio track receiving RTP.
//!
//! Needs /usr/bin/chromium (or $CHROMIUM), node, and `npm ci` run in tests/interop.

use std::path::PathBuf;
use std::time::Duration;

use red5_localsm::{LocalServer, ServerConfig};
use serde_json::Value;

fn interop_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("interop")
}

fn check_prerequisites() {
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        std::path::Path::new(&chromium).exists(),
        "Chromium is missing at {chromium}: install Debian's `chromium` package (or set CHROMIUM)"
    );
    for m in ["playwright-core", "red5pro-webrtc-sdk"] {
        let p = interop_dir().join("node_modules").join(m);
        assert!(
            p.exists(),
            "{m} is missing: run `npm ci` in {}",
            interop_dir().display()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_conference_participants_get_composite_and_mix_minus() {
    check_prerequisites();
    let server = LocalServer::start(ServerConfig {
        static_root: Some(interop_dir()),
        ..Default::default()
    })
    .await
    .expect("server starts");
    let child = tokio::process::Command::new("node")
        .arg("run.mjs")
        .arg(server.base_url())
        .arg("conference")
        .current_dir(interop_dir())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(240), child)
        .await
        .expect("the browser run finishes in 240 s")
        .expect("node runs (install Node.js >= 18)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix("RESULT "))
        .unwrap_or_else(|| panic!("no RESULT line\nstdout:\n{stdout}\nstderr:\n{stderr}"));
    let v: Value = serde_json::from_str(line).expect("RESULT is JSON");
    assert!(
        out.status.success() && v["ok"] == true,
        "conference interop failed: {v}\nbrowser log:\n{stderr}"
    );
    let parts = v["participants"].as_array().expect("participants");
    assert_eq!(parts.len(), 2);
    for p in parts {
        let tracks = p["tracks"].as_array().expect("tracks");
        let kinds = |k: &str| tracks.iter().filter(|t| t["kind"] == k).count();
        assert_eq!(kinds("video"), 1, "one composite video track: {p}");
        assert_eq!(kinds("audio"), 3, "three mix-minus audio tracks: {p}");
        assert!(
            tracks.iter().all(|t| t["state"] == "live"),
            "tracks are live: {p}"
        );
        assert_eq!(p["liveAfter"], true, "tracks stay live while playing: {p}");
        assert!(p["video"]["frames"].as_u64().unwrap_or(0) > 15, "{p}");
        assert_eq!(
            (p["video"]["w"].as_u64(), p["video"]["h"].as_u64()),
            (Some(640), Some(360))
        );
        let audio = p["inbound"]["audio"].as_array().expect("inbound audio");
        assert!(
            audio.len() >= 3
                && audio
                    .iter()
                    .all(|a| a["packets"].as_u64().unwrap_or(0) > 20),
            "every mix-minus track receives RTP: {p}"
        );
    }
    // The composition is gone after destroy: the composite stream was unpublished.
    tokio::time::timeout(Duration::from_secs(20), async {
        while server
            .published_streams()
            .contains(&"live/room1/room1".to_owned())
        {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .expect("destroyComposition unpublished the composite");
    server.shutdown().await;
}
