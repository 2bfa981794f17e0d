//! Fidelity of the built-in Stream Manager, proven with the official Red5 browser SDK
//! (red5pro-webrtc-sdk 11.0.0) driven in headless Debian Chromium by tests/interop/run.mjs.
//!
//! Needs /usr/bin/chromium (or $CHROMIUM), node, and `npm ci` run in tests/interop. Missing
//! pieces fail the test with a message saying what to install; nothing is skipped.

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
    let node = std::process::Command::new("node").arg("--version").output();
    assert!(
        node.is_ok_and(|o| o.status.success()),
        "node is missing: install Node.js (>= 18) to run the official-SDK interop tests"
    );
    for m in ["playwright-core", "red5pro-webrtc-sdk"] {
        let p = interop_dir().join("node_modules").join(m);
        assert!(
            p.exists(),
            "{} is missing: run `npm ci` in {}",
            m,
            interop_dir().display()
        );
    }
}

/// One browser at a time: the machine has two cores and Chromium's encoder needs them.
static BROWSER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn run_scenario(scenario: &str, stream: &str) -> Value {
    check_prerequisites();
    let _guard = BROWSER.lock().await;
    let server = LocalServer::start(ServerConfig {
        static_root: Some(interop_dir()),
        ..Default::default()
    })
    .await
    .expect("server starts");
    let child = tokio::process::Command::new("node")
        .arg("run.mjs")
        .arg(server.base_url())
        .arg(scenario)
        .arg(stream)
        .current_dir(interop_dir())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(240), child)
        .await
        .unwrap_or_else(|_| panic!("{scenario}: the browser run did not finish in 240 s"))
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix("RESULT "))
        .unwrap_or_else(|| {
            panic!("{scenario}: no RESULT line\nstdout:\n{stdout}\nstderr:\n{stderr}")
        });
    let v: Value = serde_json::from_str(line).expect("RESULT is JSON");
    assert!(
        out.status.success() && v["ok"] == true,
        "{scenario} failed: {v}\nbrowser log:\n{stderr}"
    );
    server.shutdown().await;
    v
}

fn assert_plays(v: &Value) {
    assert!(
        v["plis"].as_i64().unwrap_or(0) > 0,
        "the server asked the Chrome publisher for key frames (PLI): {}",
        v["plis"]
    );
    let video = &v["video"];
    assert!(
        video["frames"].as_u64().unwrap_or(0) > 0,
        "no decoded frames: {video}"
    );
    assert!(video["w"].as_u64().unwrap_or(0) > 0);
    assert_eq!(
        video["w"], video["pubW"],
        "subscriber width equals the publisher's: {video}"
    );
    assert_eq!(
        video["h"], video["pubH"],
        "subscriber height equals the publisher's: {video}"
    );
}

fn expected_payload() -> Value {
    serde_json::json!({ "metadata": "hello ✓ ünïcode", "n": 42, "nested": { "ok": true } })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_whip_publish_whep_subscribe_through_sm2_proxy() {
    let v = run_scenario("whip-whep-sm2", "sdk-whip").await;
    assert_eq!(
        v["metadata"],
        expected_payload(),
        "Subscribe.Metadata carries the exact payload"
    );
    assert_eq!(
        v["lateMetadata"],
        serde_json::json!({ "metadata": "latest wins" }),
        "late joiner gets the latest"
    );
    assert_eq!(v["unpublish"], "Subscribe.Play.Unpublish");
    assert_plays(&v);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_rtc_publisher_subscriber_over_sm1_ws_proxy() {
    let v = run_scenario("ws-sm1", "sdk-sm1").await;
    assert_eq!(v["metadata"], expected_payload());
    assert_eq!(
        v["afterSwitch"],
        serde_json::json!({ "metadata": "latest wins" })
    );
    assert_eq!(v["unpublish"], "Subscribe.Play.Unpublish");
    assert_plays(&v);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_rtc_publisher_subscriber_over_sm2_ws_proxy() {
    let v = run_scenario("ws-sm2", "sdk-sm2").await;
    assert_eq!(v["metadata"], expected_payload());
    assert_eq!(
        v["afterSwitch"],
        serde_json::json!({ "metadata": "latest wins" })
    );
    assert_eq!(v["unpublish"], "Subscribe.Play.Unpublish");
    assert_plays(&v);
}
