//! Command tests on Tauri's mock runtime: the real command handlers, the real settings store in a
//! temp dir, invoked through IPC exactly as the UI does (no display needed).

use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

use serde_json::{json, Value};
use tauri::test::{get_ipc_response, mock_builder, MockRuntime, INVOKE_KEY};
use tauri::webview::InvokeRequest;
use tauri::{App, Listener, WebviewWindow, WebviewWindowBuilder};

use crate::{AppState, EVENT_NAME};

struct Harness {
    _app: App<MockRuntime>,
    window: WebviewWindow<MockRuntime>,
    events: mpsc::Receiver<Value>,
}

fn harness(dir: &Path) -> Harness {
    let state = AppState::open(dir.to_owned(), Some(dir.join("logs")));
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

    fn next_event(&self) -> Value {
        self.events
            .recv_timeout(Duration::from_secs(5))
            .expect("a backend event")
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
    assert!(h.events.try_recv().is_err(), "no event for a rejected save");

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
