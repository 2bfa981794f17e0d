//! Command tests on Tauri's mock runtime: the real command handlers, the real settings store in a
//! temp dir, invoked through IPC exactly as the UI does (no display needed).

use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

use serde_json::{json, Value};
use tauri::test::{get_ipc_response, mock_builder, MockRuntime, INVOKE_KEY};
use tauri::webview::InvokeRequest;
use tauri::{App, Listener, Manager, WebviewWindow, WebviewWindowBuilder};

use crate::{AppState, EVENT_NAME};

/// Events of the built-in server and the sessions, which run on their own schedule.
fn is_service_event(ev: &Value) -> bool {
    matches!(
        ev["type"].as_str(),
        Some("builtInServer" | "connection" | "presenter" | "viewer" | "micLevel")
    )
}

struct Harness {
    _app: App<MockRuntime>,
    window: WebviewWindow<MockRuntime>,
    events: mpsc::Receiver<Value>,
}

fn harness(dir: &Path) -> Harness {
    // Port 0: tests run in parallel and must not fight over 5080.
    let state = AppState::open(dir.to_owned(), Some(dir.join("logs")))
        .with_built_in_port(0)
        .with_export_dir(dir.join("exports"));
    let app = crate::builder(mock_builder(), state)
        .build(crate::context())
        .unwrap();
    let (tx, events) = mpsc::channel();
    app.listen_any(EVENT_NAME, move |e| {
        let _ = tx.send(serde_json::from_str::<Value>(e.payload()).unwrap());
    });
    let window = WebviewWindowBuilder::new(&app, "main", Default::default())
        .build()
        .unwrap();
    Harness {
        _app: app,
        window,
        events,
    }
}

impl Harness {
    fn call(&self, cmd: &str, args: Value) -> Result<Value, Value> {
        get_ipc_response(
            &self.window,
            InvokeRequest {
                cmd: cmd.into(),
                callback: tauri::ipc::CallbackFn(0),
                error: tauri::ipc::CallbackFn(1),
                // Linux's local origin; http://tauri.localhost would count as remote here.
                url: "tauri://localhost".parse().unwrap(),
                body: tauri::ipc::InvokeBody::Json(args),
                headers: Default::default(),
                invoke_key: INVOKE_KEY.to_string(),
            },
        )
        .map(|b| b.deserialize::<Value>().unwrap())
    }

    /// The next settings-related event (the built-in server's and sessions' own are skipped).
    fn next_event(&self) -> Value {
        loop {
            let ev = self
                .events
                .recv_timeout(Duration::from_secs(5))
                .expect("a backend event");
            if !is_service_event(&ev) {
                return ev;
            }
        }
    }

    /// Waits for the first event matching `pred` (up to `secs`).
    fn wait_event(&self, what: &str, secs: u64, pred: impl Fn(&Value) -> bool) -> Value {
        let deadline = std::time::Instant::now() + Duration::from_secs(secs);
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.events.recv_timeout(left) {
                Ok(ev) if pred(&ev) => return ev,
                Ok(_) => {}
                Err(_) => panic!("no event: {what}"),
            }
        }
    }
}

fn sm2_form() -> Value {
    json!({
        "name": "Cluster A", "kind": "sm2", "scheme": "https", "host": "sm.example.com", "port": "443",
        "app": "live", "nodeGroup": "default", "adminUser": "admin", "adminPassword": "pw",
        "iceServers": [{"urls": "stun:stun.example.com:3478"}], "transport": "whipWhep"
    })
}

#[test]
fn snapshot_of_a_fresh_install() {
    let dir = tempfile::tempdir().unwrap();
    let h = harness(dir.path());
    let snap = h.call("get_snapshot", json!({})).unwrap();
    assert_eq!(snap["activeProfileId"], "builtin");
    assert_eq!(snap["connection"], "idle");
    let profiles = snap["profiles"].as_array().unwrap();
    assert_eq!(profiles.len(), 1);
    assert_eq!(profiles[0]["builtIn"], true);
    assert_eq!(profiles[0]["endpoint"], "http://127.0.0.1:5080/live");
    assert_eq!(profiles[0]["form"]["port"], "5080");
    assert_eq!(snap["settings"]["problem"], Value::Null);
    assert_eq!(snap["settings"]["savingEnabled"], true);
    let kinds: Vec<&str> = snap["kinds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["key"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["builtIn", "sm2", "sm1", "standalone"]);
}

#[test]
fn save_validates_persists_and_emits_one_event() {
    let dir = tempfile::tempdir().unwrap();
    let h = harness(dir.path());

    let mut bad = sm2_form();
    bad["port"] = json!("99999");
    bad["host"] = json!("");
    let err = h.call("save_profile", json!({ "form": bad })).unwrap_err();
    assert_eq!(err["message"], "Please fix the highlighted fields.");
    assert_eq!(err["fields"]["port"], "Port must be between 1 and 65535.");
    assert!(err["fields"]["host"]
        .as_str()
        .unwrap()
        .contains("host name"));
    assert!(!dir.path().join("settings.json").exists());
    assert!(
        h.events.try_iter().all(|e| is_service_event(&e)),
        "no event for a rejected save"
    );

    let saved = h
        .call("save_profile", json!({ "form": sm2_form() }))
        .unwrap();
    assert_eq!(saved["kindLabel"], "Stream Manager 2.0");
    assert_eq!(saved["endpoint"], "https://sm.example.com:443/live");
    let id = saved["id"].as_str().unwrap().to_owned();
    let ev = h.next_event();
    assert_eq!(ev["type"], "profilesChanged");
    assert_eq!(ev["profiles"].as_array().unwrap().len(), 2);
    assert_eq!(ev["activeProfileId"], "builtin");

    // A new state on the same directory (= an app restart) sees it.
    let h2 = harness(dir.path());
    let list = h2.call("list_profiles", json!({})).unwrap();
    assert_eq!(list[1]["id"], id);
    assert_eq!(list[1]["form"]["nodeGroup"], "default");
    assert_eq!(
        list[1]["form"]["iceServers"][0]["urls"],
        "stun:stun.example.com:3478"
    );
}

#[test]
fn activate_delete_and_the_permanent_built_in() {
    let dir = tempfile::tempdir().unwrap();
    let h = harness(dir.path());
    let id = h
        .call("save_profile", json!({ "form": sm2_form() }))
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    h.next_event();

    h.call("set_active_profile", json!({ "id": id })).unwrap();
    assert_eq!(h.next_event()["activeProfileId"], id);

    let err = h
        .call("delete_profile", json!({ "id": "builtin" }))
        .unwrap_err();
    assert!(
        err["message"]
            .as_str()
            .unwrap()
            .contains("can't be deleted"),
        "{err}"
    );
    let err = h
        .call("set_active_profile", json!({ "id": "nope" }))
        .unwrap_err();
    assert!(
        err["message"]
            .as_str()
            .unwrap()
            .contains("no server profile"),
        "{err}"
    );

    h.call("delete_profile", json!({ "id": id })).unwrap();
    let ev = h.next_event();
    assert_eq!(
        ev["activeProfileId"], "builtin",
        "deleting the active profile falls back to the built-in one"
    );
    assert_eq!(ev["profiles"].as_array().unwrap().len(), 1);
}

#[test]
fn live_validation_and_new_form_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let h = harness(dir.path());
    let form = h
        .call("new_profile_form", json!({ "kind": "sm1" }))
        .unwrap();
    assert_eq!(form["kind"], "sm1");
    assert_eq!(form["port"], "443");
    assert_eq!(form["app"], "live");
    assert_eq!(form["transport"], "whipWhep");
    let err = h
        .call("new_profile_form", json!({ "kind": "builtIn" }))
        .unwrap_err();
    assert!(err["message"]
        .as_str()
        .unwrap()
        .contains("not a server type"));

    let errors = h.call("validate_profile", json!({ "form": form })).unwrap();
    assert_eq!(
        errors.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["host", "name"]
    );
    let ok = h
        .call("validate_profile", json!({ "form": sm2_form() }))
        .unwrap();
    assert_eq!(ok, json!({}));
    assert!(
        !dir.path().join("settings.json").exists(),
        "validation never saves"
    );
}

#[test]
fn corrupt_settings_are_reported_then_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("settings.json"), "{oops").unwrap();
    let h = harness(dir.path());
    let st = h.call("settings_status", json!({})).unwrap();
    assert_eq!(st["problem"]["type"], "corrupt");
    let moved = st["problem"]["movedTo"].as_str().unwrap();
    assert!(moved.contains("settings.json.corrupt-"));
    assert_eq!(std::fs::read_to_string(moved).unwrap(), "{oops");
    assert!(st["problemMessage"].as_str().unwrap().contains("kept as"));

    let st = h.call("acknowledge_settings_problem", json!({})).unwrap();
    assert_eq!(st["problem"], Value::Null);
    assert_eq!(h.next_event()["type"], "settingsStatus");
}

#[test]
fn app_info_matches_the_shared_identifier() {
    let dir = tempfile::tempdir().unwrap();
    let h = harness(dir.path());
    let info = h.call("app_info", json!({})).unwrap();
    assert_eq!(
        info["identifier"],
        red5_config::paths::APP_IDENTIFIER,
        "tauri.conf.json and red5-config disagree"
    );
    assert_eq!(info["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(info["configDir"], dir.path().to_str().unwrap());
}

#[test]
fn config_serves_ui_with_a_strict_csp() {
    let ctx = crate::context::<MockRuntime>();
    let cfg = ctx.config();
    assert_eq!(cfg.product_name.as_deref(), Some("Red5 Desk"));
    assert!(cfg.app.with_global_tauri);
    assert_eq!(cfg.app.windows.len(), 1);
    let csp = cfg.app.security.csp.as_ref().expect("a CSP").to_string();
    for directive in [
        "default-src 'self'",
        "script-src 'self'",
        "object-src 'none'",
    ] {
        assert!(csp.contains(directive), "CSP lacks {directive}: {csp}");
    }
    assert!(
        !csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"),
        "{csp}"
    );
    // The UI really is embedded from ui/.
    assert!(
        ctx.assets().get(&"index.html".into()).is_some(),
        "ui/index.html is not embedded"
    );
    assert!(ctx.assets().get(&"js/main.js".into()).is_some());
}

// ------------------------------------------------------------------ built-in server and sessions

fn wait_running(h: &Harness) -> String {
    // The app may have started it before the test's listener existed.
    let now = h.call("built_in_server_status", json!({})).unwrap();
    if now["state"] == "running" {
        return now["baseUrl"].as_str().unwrap().to_owned();
    }
    let ev = h.wait_event("the built-in server running", 20, |e| {
        e["type"] == "builtInServer" && e["server"]["state"] != "starting"
    });
    assert_eq!(ev["server"]["state"], "running", "{ev}");
    ev["server"]["baseUrl"].as_str().unwrap().to_owned()
}

#[test]
fn built_in_server_runs_in_process_for_the_built_in_profile_only() {
    let dir = tempfile::tempdir().unwrap();
    let h = harness(dir.path());
    let base = wait_running(&h);
    assert!(base.starts_with("http://127.0.0.1:"), "{base}");
    let snap = h.call("get_snapshot", json!({})).unwrap();
    assert_eq!(snap["builtInServer"]["state"], "running");
    assert_eq!(snap["builtInServer"]["baseUrl"], base.as_str());
    // A real server answers on that port: an SM2 lookup of a stream nobody publishes.
    let addr = base.trim_start_matches("http://").to_owned();
    let state = h.window.state::<AppState>();
    let (ep, _) = state.session_target().unwrap();
    assert_eq!(ep.base_url, base);
    assert!(std::net::TcpStream::connect(&addr).is_ok());

    // Another profile becomes active: the built-in server stops and its port closes.
    let saved = h
        .call("save_profile", json!({ "form": sm2_form() }))
        .unwrap();
    let id = saved["id"].as_str().unwrap().to_owned();
    h.call("set_active_profile", json!({ "id": id })).unwrap();
    h.wait_event("the built-in server stopped", 10, |e| {
        e["type"] == "builtInServer" && e["server"]["state"] == "off"
    });
    assert!(std::net::TcpStream::connect(&addr).is_err());
    let (ep, _) = state.session_target().unwrap();
    assert_eq!(ep.base_url, "https://sm.example.com:443");
    // Back to the built-in one: it starts again.
    h.call("set_active_profile", json!({ "id": "builtin" }))
        .unwrap();
    wait_running(&h);
}

#[test]
fn metadata_text_and_json_modes() {
    use crate::sessions::metadata_payload;
    assert_eq!(
        metadata_payload("Now: keynote", false).unwrap(),
        json!({"metadata": "Now: keynote"})
    );
    assert!(metadata_payload("   ", false).unwrap_err().contains("Type"));
    assert_eq!(
        metadata_payload(r#"{"title":"Intro","n":2}"#, true).unwrap(),
        json!({"title": "Intro", "n": 2})
    );
    let e = metadata_payload(r#"{"title": }"#, true).unwrap_err();
    assert!(
        e.starts_with("This is not valid JSON") && e.contains("line 1"),
        "{e}"
    );
    let e = metadata_payload("[1,2]", true).unwrap_err();
    assert!(e.contains("must be an object"), "{e}");
    assert_eq!(
        crate::sessions::friendly_reason(
            "could not connect to http://127.0.0.1:1/as/v1/proxy/whip/live/s: error sending request \
             for url (http://127.0.0.1:1/): client error (Connect): tcp connect error: Connection \
             refused (os error 111)"
        ),
        "The server is not answering: the connection was refused."
    );
    assert_eq!(
        crate::sessions::friendly_reason("the broadcaster stopped publishing"),
        "The broadcaster stopped publishing."
    );
    assert_eq!(
        crate::sessions::capitalise("the stream \"x\" is not available"),
        "The stream \"x\" is not available."
    );
}

#[test]
fn commands_without_a_session_say_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let h = harness(dir.path());
    let e = h
        .call(
            "presenter_send_metadata",
            json!({"text": "hi", "jsonMode": false}),
        )
        .unwrap_err();
    assert_eq!(e["message"], "Not publishing. Press Publish first.");
    let e = h
        .call("export_stats", json!({"role": "viewer"}))
        .unwrap_err();
    assert!(e["message"].as_str().unwrap().contains("no statistics"));
    let e = h
        .call("validate_metadata", json!({"text": "{", "jsonMode": true}))
        .unwrap();
    assert!(e.as_str().unwrap().contains("not valid JSON"));
}

/// The whole Presenter → Viewer path on the real built-in server, through the commands: the
/// synthetic pattern is published, metadata sent before the viewer joins is replayed to it, later
/// metadata arrives live, decoded frames reach the viewer's canvas channel as JPEG, stats export
/// writes a JSON file, and stopping the publisher tells the viewer.
#[test]
fn publish_subscribe_metadata_video_and_export_through_commands() {
    use std::sync::{Arc, Mutex};
    let dir = tempfile::tempdir().unwrap();
    let h = harness(dir.path());
    wait_running(&h);
    let state = h.window.state::<AppState>();

    // The viewer's canvas: a Rust-side channel that records what the page would get.
    let frames: Arc<Mutex<Vec<Vec<u8>>>> = Arc::default();
    let f2 = frames.clone();
    let channel = tauri::ipc::Channel::new(move |body| {
        if let tauri::ipc::InvokeResponseBody::Raw(b) = body {
            f2.lock().unwrap().push(b);
        }
        Ok(())
    });
    state
        .sessions
        .video
        .attach(crate::video::Sink::Viewer, channel);

    h.call(
        "presenter_start",
        json!({"options": {
            "streamName": "desk1", "camera": "synthetic:pattern:red", "microphone": "synthetic:tone:440",
            "width": 320, "height": 180, "fps": 30, "codec": "h264", "bitrateKbps": 600, "transport": "profile"
        }}),
    )
    .unwrap();
    h.wait_event("Publish.Start", 30, |e| {
        e["type"] == "presenter" && e["event"]["type"] == "started"
    });
    let sent = h
        .call(
            "presenter_send_metadata",
            json!({"text": "before the viewer", "jsonMode": false}),
        )
        .unwrap();
    assert_eq!(sent["method"], "onMetaData");
    assert_eq!(sent["data"], json!({"metadata": "before the viewer"}));
    let e = h
        .call(
            "presenter_send_metadata",
            json!({"text": "{oops", "jsonMode": true}),
        )
        .unwrap_err();
    assert!(e["message"].as_str().unwrap().contains("not valid JSON"));

    h.call(
        "viewer_start",
        json!({"options": {"streamName": "desk1", "volume": 0.5, "transport": "ws"}}),
    )
    .unwrap();
    let md = h.wait_event("the replayed metadata", 30, |e| {
        e["type"] == "viewer" && e["event"]["type"] == "metadata"
    });
    assert_eq!(
        md["event"]["data"],
        json!({"metadata": "before the viewer"})
    );
    h.call(
        "presenter_send_metadata",
        json!({"text": r#"{"cue": 2, "title": "Live"}"#, "jsonMode": true}),
    )
    .unwrap();
    let md = h.wait_event("live metadata", 20, |e| {
        e["type"] == "viewer" && e["event"]["type"] == "metadata"
    });
    assert_eq!(md["event"]["data"], json!({"cue": 2, "title": "Live"}));
    h.wait_event("viewer stats", 20, |e| {
        e["type"] == "viewer"
            && e["event"]["type"] == "stats"
            && e["event"]["stats"]["bitrateInKbps"].as_f64().unwrap_or(0.0) > 0.0
    });

    // Frames reached the canvas channel: our prefix, the R5F1 header, a JPEG. Nobody acks here,
    // so flow control lets MAX_IN_FLIGHT through per ack timeout (3 s) and drops the rest.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while frames.lock().unwrap().is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "no frame reached the canvas channel"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let got = frames.lock().unwrap().clone();
    let f = &got[0];
    let p = crate::video::PREFIX_LEN;
    assert_eq!(&f[p..p + 4], b"R5F1");
    let (fmt, w, hh) = red5_media::ui::parse_header(&f[p..]).unwrap();
    assert_eq!((fmt, w, hh), (red5_media::ui::UiFormat::Jpeg, 320, 180));
    // No canvas size reported: sent at the stream's size, which the prefix also carries.
    assert_eq!(&f[8..12], &[64, 1, 180, 0], "source 320x180 in the prefix");
    assert_eq!(&f[p + 16..p + 18], &[0xFF, 0xD8], "JPEG start of image");
    // Without acks most frames are dropped (30 fps in, 2 per ack timeout out).
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let c = state.sessions.video.counters(crate::video::Sink::Viewer);
        if c.dropped > 3 * c.sent {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "unacked frames must be dropped: {c:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // Acks let more through.
    h.call("video_ack", json!({"sink": "viewer", "count": 2}))
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while frames.lock().unwrap().len() <= got.len() {
        assert!(
            std::time::Instant::now() < deadline,
            "no frame after the ack"
        );
        std::thread::sleep(Duration::from_millis(20));
    }

    let path = h.call("export_stats", json!({"role": "viewer"})).unwrap();
    let text = std::fs::read_to_string(path.as_str().unwrap()).unwrap();
    let arr: Vec<Value> = serde_json::from_str(&text).unwrap();
    assert!(
        !arr.is_empty() && arr[0].get("bitrateInKbps").is_some(),
        "{text}"
    );

    h.call("presenter_stop", json!({})).unwrap();
    h.wait_event("the unpublish notice", 20, |e| {
        e["type"] == "viewer" && e["event"]["type"] == "unpublished"
    });
    h.call("viewer_stop", json!({})).unwrap();
    let snap = h.call("get_snapshot", json!({})).unwrap();
    assert_eq!(snap["connection"], "idle");
}

/// A second Red5 Desk finds the first one's built-in server on the configured port and uses it,
/// so a user can publish in one window and watch in another.
#[test]
fn a_second_window_shares_the_built_in_server_already_on_its_port() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let first = rt
        .block_on(red5_localsm::LocalServer::start(
            red5_localsm::ServerConfig::default(),
        ))
        .unwrap();
    let port = first.addr().port();
    let dir = tempfile::tempdir().unwrap();
    let state = AppState::open(dir.path().to_owned(), None).with_built_in_port(port);
    let app = crate::builder(mock_builder(), state)
        .build(crate::context())
        .unwrap();
    let state = app.state::<AppState>();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let running = loop {
        match state.built_in_state() {
            s @ crate::server::BuiltInServerState::Running { .. } => break s,
            crate::server::BuiltInServerState::Failed { message } => panic!("{message}"),
            _ => {}
        }
        assert!(std::time::Instant::now() < deadline, "never running");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(
        running,
        crate::server::BuiltInServerState::Running {
            base_url: first.base_url(),
            note: Some("shared with another Red5 Desk window".into()),
            shared: true,
        }
    );
    assert!(
        state.with_built_in_server(|_| ()).is_none(),
        "no second server"
    );
    assert_eq!(state.session_target().unwrap().0.base_url, first.base_url());
    rt.block_on(first.shutdown());
}
