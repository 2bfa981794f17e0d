//! The real Red5 Desk window, driven over WebDriver (tauri-driver → WebKitWebDriver) under Xvfb:
//! pane switching by mouse and keyboard, creating an SM2 profile (with an inline validation message
//! first), restarting the app and finding the profile again, and the corrupt-settings banner.
//! Screenshots go to `artifacts/ui_shell/`.
//!
//! These tests fail (they do not skip) when Xvfb, tauri-driver or WebKitWebDriver are missing.
// The helpers below are test code too: a failed unwrap is a failed test with its message.
#![allow(clippy::unwrap_used)]

use std::sync::Mutex;
use std::time::Duration;

use red5_e2e::desktop::{save_screenshot, Desktop};
use red5_e2e::webdriver::{keys, Session};
use serde_json::Value;

const TEST: &str = "ui_shell";
const WAIT: Duration = Duration::from_secs(15);
const PANES: [(&str, &str); 5] = [
    ("participant", "Participant"),
    ("host", "Host"),
    ("presenter", "Presenter"),
    ("viewer", "Viewer"),
    ("settings", "Settings"),
];

/// Each test runs a window with its own driver; one at a time keeps a 2-core machine responsive.
static SERIAL: Mutex<()> = Mutex::new(());

fn desktop() -> Desktop {
    Desktop::start().unwrap_or_else(|e| panic!("the end-to-end harness could not start: {e}"))
}

fn shot(s: &Session, name: &str) {
    let p = save_screenshot(s, TEST, name).unwrap();
    println!("screenshot: {}", p.display());
}

fn js_string(s: &Session, expr: &str) -> String {
    match s.execute(&format!("return ({expr});"), vec![]).unwrap() {
        Value::String(v) => v,
        v => v.to_string(),
    }
}

fn visible_panes(s: &Session) -> String {
    js_string(
        s,
        "[...document.querySelectorAll('.pane')].filter(p => !p.hidden).map(p => p.id).join(',')",
    )
}

fn wait_pane(s: &Session, id: &str) {
    s.wait_until(
        &format!("pane {id} to be the only visible pane"),
        &format!(
            "[...document.querySelectorAll('.pane')].filter(p => !p.hidden).map(p => p.id).join(',') === 'pane-{id}' \
             && document.getElementById('nav-{id}').getAttribute('aria-selected') === 'true'"
        ),
        WAIT,
    )
    .unwrap_or_else(|e| panic!("{e}; visible: {}", visible_panes(s)));
}

fn wait_text(s: &Session, css: &str, needle: &str) -> String {
    let css_js = serde_json::to_string(css).unwrap();
    let needle_js = serde_json::to_string(needle).unwrap();
    s.wait_until(
        &format!("{css} to contain {needle:?}"),
        &format!("(document.querySelector({css_js})?.textContent || '').includes({needle_js})"),
        WAIT,
    )
    .unwrap_or_else(|e| {
        panic!(
            "{e}; actual text: {:?}",
            js_string(s, &format!("document.querySelector({css_js})?.textContent"))
        )
    });
    s.find(css).unwrap().text().unwrap()
}

fn focused_id(s: &Session) -> String {
    js_string(s, "document.activeElement ? document.activeElement.id : ''")
}

fn type_into(s: &Session, css: &str, text: &str) {
    let el = s.find(css).unwrap();
    el.clear().unwrap();
    el.send_keys(text).unwrap();
}

fn value_of(s: &Session, css: &str) -> String {
    s.find(css)
        .unwrap()
        .property("value")
        .unwrap()
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[test]
fn shell_navigation_profile_editing_and_restart() {
    let _one_at_a_time = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let d = desktop();
    let s = d.launch().unwrap();

    // --- The shell ---------------------------------------------------------------------------
    assert_eq!(s.title().unwrap(), "Red5 Desk");
    let labels: Vec<String> = s
        .find_all("#nav .nav-label")
        .unwrap()
        .iter()
        .map(|e| e.text().unwrap())
        .collect();
    assert_eq!(
        labels,
        PANES.iter().map(|(_, l)| l.to_string()).collect::<Vec<_>>()
    );
    assert_eq!(
        s.find("#status-profile-name").unwrap().text().unwrap(),
        "Built-in local server"
    );
    assert!(s
        .find("#status-profile-endpoint")
        .unwrap()
        .text()
        .unwrap()
        .contains("http://127.0.0.1:5080/live"));
    assert_eq!(
        s.find("#status-connection .status-text")
            .unwrap()
            .text()
            .unwrap(),
        "Not connected"
    );
    assert!(
        s.find_all("#settings-banner").unwrap().is_empty(),
        "no banner on a clean start"
    );
    wait_pane(&s, "participant");
    shot(&s, "01-shell");

    // --- Switching panes with the mouse --------------------------------------------------------
    for (id, title) in PANES {
        s.find(&format!("#nav-{id}")).unwrap().click().unwrap();
        wait_pane(&s, id);
        assert_eq!(
            s.find(&format!("#pane-{id}-title"))
                .unwrap()
                .text()
                .unwrap(),
            title
        );
        assert!(s
            .find(&format!("#pane-{id}"))
            .unwrap()
            .is_displayed()
            .unwrap());
        shot(&s, &format!("02-pane-{id}"));
    }

    // --- Keyboard: arrows/Home/End in the nav, Ctrl+N anywhere, visible focus -------------------
    // Element "send keys" focuses the element first, like a user tabbing to it.
    let press = |css: &str, keys: &str| s.find(css).unwrap().send_keys(keys).unwrap();
    s.find("#nav-participant").unwrap().click().unwrap();
    wait_pane(&s, "participant");
    press("#nav-participant", &keys::ARROW_DOWN.to_string());
    wait_pane(&s, "host");
    assert_eq!(focused_id(&s), "nav-host", "focus follows the selection");
    assert_eq!(
        js_string(&s, "getComputedStyle(document.activeElement).outlineStyle"),
        "solid",
        "keyboard focus must be visible"
    );
    press("#nav-host", &keys::END.to_string());
    wait_pane(&s, "settings");
    assert_eq!(focused_id(&s), "nav-settings");
    press("#nav-settings", &keys::HOME.to_string());
    wait_pane(&s, "participant");
    press("#nav-participant", &keys::ARROW_UP.to_string());
    wait_pane(&s, "settings");
    press(
        "#nav-settings",
        &format!("{}4{}", keys::CONTROL, keys::NULL),
    );
    wait_pane(&s, "viewer");
    assert_eq!(focused_id(&s), "nav-viewer");
    // Only the selected tab is a Tab stop: Tab leaves the nav.
    let tab_stops = js_string(
        &s,
        "[...document.querySelectorAll('#nav [role=tab]')].filter(t => t.tabIndex === 0).length",
    );
    assert_eq!(tab_stops, "1");
    press("#nav-viewer", &keys::TAB.to_string());
    let after_tab = focused_id(&s);
    assert!(
        !after_tab.starts_with("nav-"),
        "Tab moved focus out of the nav (now on {after_tab:?})"
    );

    // --- Settings: create an SM2 profile, first with a bad port -------------------------------
    press(
        "#status-profile",
        &format!("{}5{}", keys::CONTROL, keys::NULL),
    );
    wait_pane(&s, "settings");
    wait_text(&s, "#profile-list", "Built-in local server");
    s.find("#new-kind option[value=sm2]")
        .unwrap()
        .click()
        .unwrap();
    s.find("#profile-new").unwrap().click().unwrap();
    wait_text(&s, "#pf-title", "New profile");
    assert_eq!(value_of(&s, "#pf-port"), "443", "defaults come from Rust");
    assert_eq!(value_of(&s, "#pf-app"), "live");
    type_into(&s, "#pf-name", "E2E SM2 cluster");
    type_into(&s, "#pf-host", "sm.example.test");
    type_into(&s, "#pf-port", "99999");
    type_into(&s, "#pf-nodeGroup", "default");
    type_into(&s, "#pf-region", "us-east");
    type_into(&s, "#pf-adminUser", "admin");
    type_into(&s, "#pf-adminPassword", "pw-e2e-Secret9");
    s.find("#pf-transport-wsProxy").unwrap().click().unwrap();
    s.find("#pf-save").unwrap().click().unwrap();
    let msg = wait_text(&s, "#pf-port-error", "between 1 and 65535");
    assert_eq!(msg, "Port must be between 1 and 65535.");
    assert_eq!(
        s.find("#pf-port")
            .unwrap()
            .attribute("aria-invalid")
            .unwrap()
            .as_deref(),
        Some("true")
    );
    assert_eq!(
        focused_id(&s),
        "pf-port",
        "focus goes to the first invalid field"
    );
    shot(&s, "03-validation-bad-port");
    let settings_file = d.config_dir().join("settings.json");
    assert!(
        !settings_file.exists(),
        "nothing is saved while the form is invalid"
    );

    type_into(&s, "#pf-port", "8443");
    s.wait_until(
        "the port message to clear",
        "document.getElementById('pf-port-error').textContent === ''",
        WAIT,
    )
    .unwrap();
    s.find("#pf-save").unwrap().click().unwrap();
    wait_text(&s, "#pf-message", "Saved");
    wait_text(&s, "#profile-list", "E2E SM2 cluster");
    s.find("#pf-activate").unwrap().click().unwrap();
    wait_text(&s, "#status-profile-name", "E2E SM2 cluster");
    assert!(s
        .find("#status-profile-endpoint")
        .unwrap()
        .text()
        .unwrap()
        .contains("https://sm.example.test:8443/live"));
    shot(&s, "04-profile-saved");
    s.close().unwrap();

    // What reached the disk.
    let saved: Value = serde_json::from_slice(&std::fs::read(&settings_file).unwrap()).unwrap();
    let profiles = saved["profiles"].as_array().unwrap();
    let p = profiles
        .iter()
        .find(|p| p["name"] == "E2E SM2 cluster")
        .expect("profile in settings.json");
    assert_eq!(saved["activeProfileId"], p["id"]);
    assert_eq!(p["kind"]["type"], "sm2");
    assert_eq!(p["kind"]["nodeGroup"], "default");
    assert_eq!(p["port"], 8443);
    assert_eq!(p["transport"], "wsProxy");

    // --- Restart: the profile is still there and still active ----------------------------------
    let s = d.launch().unwrap();
    wait_text(&s, "#status-profile-name", "E2E SM2 cluster");
    s.find("#nav-settings").unwrap().click().unwrap();
    wait_pane(&s, "settings");
    // The editor opens on the active profile.
    wait_text(&s, "#pf-title", "Edit profile");
    assert_eq!(value_of(&s, "#pf-name"), "E2E SM2 cluster");
    assert_eq!(value_of(&s, "#pf-host"), "sm.example.test");
    assert_eq!(value_of(&s, "#pf-port"), "8443");
    assert_eq!(value_of(&s, "#pf-nodeGroup"), "default");
    assert_eq!(value_of(&s, "#pf-region"), "us-east");
    assert_eq!(value_of(&s, "#pf-adminUser"), "admin");
    assert_eq!(value_of(&s, "#pf-adminPassword"), "pw-e2e-Secret9");
    assert_eq!(
        s.find("#pf-adminPassword")
            .unwrap()
            .attribute("type")
            .unwrap()
            .as_deref(),
        Some("password")
    );
    assert_eq!(
        s.find("#pf-transport-wsProxy")
            .unwrap()
            .property("checked")
            .unwrap(),
        Value::Bool(true)
    );
    let rows: Vec<String> = s
        .find_all(".profile-row .profile-name")
        .unwrap()
        .iter()
        .map(|e| e.text().unwrap())
        .collect();
    assert_eq!(rows, vec!["Built-in local server", "E2E SM2 cluster"]);
    shot(&s, "05-after-restart");
    s.close().unwrap();

    // The app logged to its log dir, and no secret went there.
    let mut logs = String::new();
    for e in std::fs::read_dir(d.log_dir()).unwrap() {
        logs += &std::fs::read_to_string(e.unwrap().path()).unwrap();
    }
    assert!(logs.contains("saved server profile"), "app log: {logs}");
    assert!(
        !logs.contains("pw-e2e-Secret9"),
        "a password reached the log:\n{logs}"
    );
}

#[test]
fn corrupt_settings_file_is_kept_aside_and_reported() {
    let _one_at_a_time = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let d = desktop();
    let garbage = b"{ \"version\": 1, \"profiles\": [ truncated";
    std::fs::write(d.config_dir().join("settings.json"), garbage).unwrap();

    let s = d.launch().unwrap();
    let text = wait_text(&s, "#settings-banner", "kept as");
    assert!(text.contains("settings.json.corrupt-"), "{text}");
    assert_eq!(
        s.find("#status-profile-name").unwrap().text().unwrap(),
        "Built-in local server"
    );
    shot(&s, "06-corrupt-settings-banner");

    let kept: Vec<_> = std::fs::read_dir(d.config_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("settings.json.corrupt-")
        })
        .collect();
    assert_eq!(kept.len(), 1, "exactly one file kept aside: {kept:?}");
    assert_eq!(
        std::fs::read(&kept[0]).unwrap(),
        garbage,
        "the damaged file is kept byte for byte"
    );

    s.find("#settings-banner-dismiss").unwrap().click().unwrap();
    s.wait_until(
        "the banner to go away",
        "!document.getElementById('settings-banner')",
        WAIT,
    )
    .unwrap();
    s.close().unwrap();
}
