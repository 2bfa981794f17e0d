//! Media in the real Red5 Desk window, over WebDriver under Xvfb (tauri-driver → WebKitWebDriver):
//!
//! - the Presenter publishes the synthetic pattern on the app's own built-in server (started
//!   in-process) and sends metadata (text, then a JSON object after an invalid one is refused);
//!   the Viewer pane, joining late, shows the video — a non-blank canvas with the pattern's colour,
//!   read back from its pixels — and the latest metadata sent before it joined, then live
//!   metadata; stats update and export as JSON; stopping the publisher shows the unpublish notice;
//! - with an external built-in server (red5-localsm) that the test kills and restarts on the same
//!   port mid-publish, publishing resumes by itself and the status bar shows the reconnect.
//!
//! Screenshots go to `artifacts/ui_media/`. These tests fail (never skip) when Xvfb, tauri-driver
//! or WebKitWebDriver are missing.
#![allow(clippy::unwrap_used)]

use std::sync::Mutex;
use std::time::Duration;

use red5_e2e::desktop::{probe_canvas, save_screenshot, Desktop};
use red5_e2e::webdriver::Session;
use serde_json::Value;

const TEST: &str = "ui_media";
const WAIT: Duration = Duration::from_secs(30);

static SERIAL: Mutex<()> = Mutex::new(());

fn shot(s: &Session, name: &str) {
    // From the top of the pane, nothing focused: what a user sees on arrival.
    s.execute(
        "document.activeElement && document.activeElement.blur(); \
         document.getElementById('main').scrollTop = 0; return 1;",
        vec![],
    )
    .unwrap();
    let p = save_screenshot(s, TEST, name).unwrap();
    println!("screenshot: {}", p.display());
}

fn js(s: &Session, expr: &str) -> Value {
    s.execute(&format!("return ({expr});"), vec![]).unwrap()
}

fn wait(s: &Session, what: &str, expr: &str) -> Value {
    s.wait_until(what, expr, WAIT).unwrap_or_else(|e| {
        let _ = save_screenshot(s, TEST, "failure");
        panic!(
            "{e}\nstatus bar: {}\ntoast: {}\nmetadata field: {} / error: {}",
            js(s, "document.querySelector('.statusbar').innerText"),
            js(s, "document.getElementById('toast').innerText"),
            js(s, "document.getElementById('presenter-metadata')?.value"),
            js(
                s,
                "document.getElementById('presenter-metadata-error')?.textContent"
            ),
        )
    })
}

fn text_of(s: &Session, css: &str) -> String {
    let css = serde_json::to_string(css).unwrap();
    js(
        s,
        &format!("document.querySelector({css})?.textContent || ''"),
    )
    .as_str()
    .unwrap_or_default()
    .to_owned()
}

fn wait_text(s: &Session, css: &str, needle: &str) {
    let css_js = serde_json::to_string(css).unwrap();
    let n = serde_json::to_string(needle).unwrap();
    wait(
        s,
        &format!("{css} to contain {needle:?}"),
        &format!("(document.querySelector({css_js})?.textContent || '').includes({n})"),
    );
}

/// Sets a form control's value the way a user's choice would (fires input + change).
fn set_value(s: &Session, css: &str, value: &str) {
    s.execute(
        "const el = document.querySelector(arguments[0]); el.value = arguments[1]; \
         el.dispatchEvent(new Event('input', {bubbles: true})); \
         el.dispatchEvent(new Event('change', {bubbles: true})); return el.value;",
        vec![css.into(), value.into()],
    )
    .unwrap();
}

fn type_into(s: &Session, css: &str, text: &str) {
    let el = s.find(css).unwrap();
    el.clear().unwrap();
    el.send_keys(text).unwrap();
}

fn show_pane(s: &Session, id: &str) {
    s.find(&format!("#nav-{id}")).unwrap().click().unwrap();
    wait(
        s,
        &format!("pane {id}"),
        &format!("!document.getElementById('pane-{id}').hidden"),
    );
}

/// Mean RGB of a canvas region given as fractions of its size, plus the luma spread over the
/// whole canvas (0 for a blank one). Read from the display with the native video surface.
fn canvas_probe(s: &Session, canvas: &str, x: f64, y: f64, w: f64, h: f64) -> (f64, f64, f64, f64) {
    let region = probe_canvas(s, canvas, [x, y, w, h]).unwrap();
    let whole = probe_canvas(s, canvas, [0.0, 0.0, 1.0, 1.0]).unwrap();
    (region[0], region[1], region[2], whole[3])
}

fn choose_sources(s: &Session, stream: &str, camera: &str) {
    wait(
        s,
        "the device lists",
        &format!(
            "[...document.querySelectorAll('#presenter-camera option')].some(o => o.value === '{camera}')"
        ),
    );
    set_value(s, "#presenter-camera", camera);
    set_value(s, "#presenter-mic", "synthetic:tone:440");
    set_value(s, "#presenter-resolution", "640x360");
    set_value(s, "#presenter-bitrate", "800");
    type_into(s, "#presenter-stream", stream);
}

fn publish(s: &Session) {
    s.find("#presenter-publish").unwrap().click().unwrap();
    wait(
        s,
        "the publisher to be live",
        "document.getElementById('presenter-state').dataset.state === 'live'",
    );
    wait_text(s, "#presenter-status-log", "Publish.Start");
    wait(
        s,
        "the local preview to paint frames",
        "Number(document.getElementById('presenter-canvas').dataset.frames || 0) > 5",
    );
}

fn send_metadata(s: &Session, text: &str) {
    type_into(s, "#presenter-metadata", text);
    wait(
        s,
        "Send to be enabled",
        "!document.getElementById('presenter-send').disabled",
    );
    s.find("#presenter-send").unwrap().click().unwrap();
}

#[test]
fn presenter_publishes_and_a_late_viewer_sees_the_pattern_and_the_latest_metadata() {
    let _one = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let exports = tempfile::tempdir().unwrap();
    let d = Desktop::start_with_env(&[
        // A free port: the test must not depend on 5080 being unused.
        ("RED5_DESK_BUILTIN_PORT", "0"),
        ("RED5_DESK_EXPORT_DIR", exports.path().to_str().unwrap()),
    ])
    .unwrap_or_else(|e| panic!("the end-to-end harness could not start: {e}"));
    let s = d.launch().unwrap();

    // The built-in server runs inside the app and the status bar says where.
    wait(
        &s,
        "the built-in server to run",
        "document.getElementById('status-server').dataset.state === 'running'",
    );
    assert!(text_of(&s, "#status-server").contains("Built-in server on 127.0.0.1:"));

    // --- Presenter -----------------------------------------------------------------------------
    show_pane(&s, "presenter");
    choose_sources(&s, "desk-e2e", "synthetic:pattern:red");
    publish(&s);
    wait_text(&s, "#status-connection", "Connected");

    send_metadata(&s, "Hello viewers");
    wait_text(&s, "#presenter-sent-log", r#"{"metadata":"Hello viewers"}"#);
    // JSON mode: an invalid object is refused with a message and Send is disabled.
    s.find("#presenter-json-mode").unwrap().click().unwrap();
    type_into(&s, "#presenter-metadata", r#"{"act": "intro","#);
    wait_text(&s, "#presenter-metadata-error", "not valid JSON");
    assert_eq!(
        js(&s, "document.getElementById('presenter-send').disabled"),
        Value::Bool(true)
    );
    send_metadata(&s, r#"{"act": "intro", "n": 1}"#);
    wait_text(&s, "#presenter-sent-log", r#"{"act":"intro","n":1}"#);

    // M mutes the mic and V the camera (focus outside text fields); pressed again, they unmute.
    s.execute(
        "document.activeElement && document.activeElement.blur(); return 1;",
        vec![],
    )
    .unwrap();
    s.find("#presenter-stage").unwrap().click().unwrap();
    s.find("body").unwrap().send_keys("m").unwrap();
    wait(
        &s,
        "M to mute the mic",
        "document.getElementById('presenter-mute-audio').getAttribute('aria-pressed') === 'true'",
    );
    s.find("body").unwrap().send_keys("m").unwrap();
    wait(
        &s,
        "M again to unmute",
        "document.getElementById('presenter-mute-audio').getAttribute('aria-pressed') === 'false'",
    );
    wait(
        &s,
        "the mic meter to move (440 Hz tone)",
        "Number(document.getElementById('presenter-meter').getAttribute('aria-valuenow')) > -40",
    );
    wait(
        &s,
        "presenter stats",
        "/[1-9]/.test(document.getElementById('presenter-stats-bitrateOut').textContent)",
    );
    let (r, g, b, spread) = canvas_probe(&s, "#presenter-canvas", 0.78, 0.82, 0.14, 0.08);
    assert!(
        r > 140.0 && g < 110.0 && b < 110.0 && spread > 40.0,
        "preview shows the red pattern: rgb({r:.0},{g:.0},{b:.0}) spread {spread:.0}"
    );
    // Without a GPU the app paints video natively over the canvas (src-tauri/src/surface.rs),
    // so the probe above read the display back; with one, the page canvas is used.
    let gpu = std::fs::read_dir("/dev/dri").is_ok_and(|d| {
        d.flatten()
            .any(|e| e.file_name().to_string_lossy().starts_with("renderD"))
    });
    let expected = match std::env::var("RED5_DESK_VIDEO_SURFACE").as_deref() {
        Ok("native") => "native",
        Ok("canvas") => "canvas",
        _ if gpu => "canvas",
        _ => "native",
    };
    assert_eq!(
        s.execute(
            "return document.getElementById('presenter-canvas').dataset.surface || 'canvas'",
            vec![]
        )
        .unwrap(),
        expected
    );
    shot(&s, "presenter");

    // --- Viewer, joining after the metadata was sent ---------------------------------------------
    show_pane(&s, "viewer");
    type_into(&s, "#viewer-stream", "desk-e2e");
    set_value(&s, "#viewer-transport", "ws");
    s.find("#viewer-subscribe").unwrap().click().unwrap();
    wait(
        &s,
        "the viewer to play",
        "document.getElementById('viewer-state').dataset.state === 'live'",
    );
    wait(
        &s,
        "decoded frames on the viewer canvas",
        "Number(document.getElementById('viewer-canvas').dataset.frames || 0) > 15",
    );
    let (r, g, b, spread) = canvas_probe(&s, "#viewer-canvas", 0.78, 0.82, 0.14, 0.08);
    assert!(
        r > 140.0 && g < 110.0 && b < 110.0,
        "the viewer shows the red pattern: rgb({r:.0},{g:.0},{b:.0})"
    );
    assert!(
        spread > 40.0,
        "the viewer canvas is not blank (spread {spread:.0})"
    );
    assert_eq!(
        js(
            &s,
            "document.getElementById('viewer-canvas').dataset.sourceWidth"
        ),
        "640"
    );
    // The latest metadata sent before joining is replayed; the earlier one is not.
    wait_text(&s, "#viewer-metadata-log", r#"{"act":"intro","n":1}"#);
    assert!(!text_of(&s, "#viewer-metadata-log").contains("Hello viewers"));

    // Live metadata while watching (sent from the Presenter pane; the viewer keeps playing).
    show_pane(&s, "presenter");
    send_metadata(&s, r#"{"act": "demo", "n": 2}"#);
    show_pane(&s, "viewer");
    wait_text(&s, "#viewer-metadata-log", r#"{"act":"demo","n":2}"#);
    wait(
        &s,
        "viewer stats",
        "/[1-9]/.test(document.getElementById('viewer-stats-bitrateIn').textContent) \
         && document.getElementById('viewer-stats-resolution').textContent.includes('640')",
    );
    shot(&s, "viewer");

    // Stats export writes every snapshot as a JSON array.
    s.find("#viewer-stats-export").unwrap().click().unwrap();
    wait_text(&s, "#viewer-stats-saved", "Saved to");
    let path = js(
        &s,
        "document.getElementById('viewer-stats-saved').dataset.path",
    );
    let path = path.as_str().unwrap();
    assert!(path.starts_with(exports.path().to_str().unwrap()), "{path}");
    let arr: Vec<Value> = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert!(arr
        .iter()
        .any(|x| x["bitrateInKbps"].as_f64().unwrap_or(0.0) > 0.0));

    // The publisher stops: the viewer says so.
    show_pane(&s, "presenter");
    s.find("#presenter-publish").unwrap().click().unwrap();
    wait(
        &s,
        "the publisher to stop",
        "document.getElementById('presenter-state').dataset.state === 'stopped'",
    );
    show_pane(&s, "viewer");
    wait_text(&s, "#viewer-events-log", "stopped publishing");
    wait(
        &s,
        "the unpublish notice",
        "!document.getElementById('viewer-notice').hidden",
    );
    shot(&s, "viewer-unpublished");
    s.find("#viewer-subscribe").unwrap().click().unwrap();
    wait(
        &s,
        "the viewer to stop",
        "document.getElementById('viewer-state').dataset.state === 'stopped'",
    );
    // Closing the app stops its built-in server: the port closes.
    let addr = server_addr(&s);
    assert!(std::net::TcpStream::connect(&addr).is_ok());
    s.close().unwrap();
    wait_port_closed(&addr);
}

/// `127.0.0.1:<port>` of the built-in server, from the status bar.
fn server_addr(s: &Session) -> String {
    let t = text_of(s, "#status-server");
    let at = t.find("127.0.0.1:").unwrap();
    t[at..]
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.' || *c == ':')
        .collect()
}

fn wait_port_closed(addr: &str) {
    let deadline = std::time::Instant::now() + WAIT;
    while std::net::TcpStream::connect(addr).is_ok() {
        assert!(
            std::time::Instant::now() < deadline,
            "the built-in server on {addr} still answers after the app closed"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Two Red5 Desk windows (two app instances) with the default built-in profile: the second finds
/// the first one's server on the configured port and uses it, so one window publishes and the
/// other watches, with the metadata.
#[test]
fn publish_in_one_window_and_watch_in_another() {
    let _one = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
        .to_string();
    let env = [("RED5_DESK_BUILTIN_PORT", port.as_str())];
    let d1 = Desktop::start_with_env(&env)
        .unwrap_or_else(|e| panic!("the end-to-end harness could not start: {e}"));
    let w1 = d1.launch().unwrap();
    wait(
        &w1,
        "window 1's built-in server",
        "document.getElementById('status-server').dataset.state === 'running'",
    );
    assert!(text_of(&w1, "#status-server").contains(&format!("127.0.0.1:{port}")));
    show_pane(&w1, "presenter");
    choose_sources(&w1, "two-windows", "synthetic:pattern:blue");
    publish(&w1);
    send_metadata(&w1, "from window one");
    wait_text(&w1, "#presenter-sent-log", "from window one");

    // Window 2 paints on the page canvas (JPEG frames), whatever the default surface is here
    // (native without a GPU): both video paths run end to end.
    let d2 = Desktop::start_with_env(&[env[0], ("RED5_DESK_VIDEO_SURFACE", "canvas")])
        .unwrap_or_else(|e| panic!("the end-to-end harness could not start: {e}"));
    let w2 = d2.launch().unwrap();
    wait(
        &w2,
        "window 2 to use window 1's server",
        "document.getElementById('status-server').dataset.state === 'running'",
    );
    let t = text_of(&w2, "#status-server");
    assert!(
        t.contains(&format!("127.0.0.1:{port}")) && t.contains("shared with another Red5 Desk"),
        "{t}"
    );
    show_pane(&w2, "viewer");
    type_into(&w2, "#viewer-stream", "two-windows");
    w2.find("#viewer-subscribe").unwrap().click().unwrap();
    wait(
        &w2,
        "decoded frames in window 2",
        "Number(document.getElementById('viewer-canvas').dataset.frames || 0) > 10",
    );
    assert_eq!(
        w2.execute(
            "return document.getElementById('viewer-canvas').dataset.surface || 'canvas'",
            vec![]
        )
        .unwrap(),
        "canvas"
    );
    let (r, g, b, _) = canvas_probe(&w2, "#viewer-canvas", 0.78, 0.82, 0.14, 0.08);
    assert!(
        b > 140.0 && r < 110.0 && g < 130.0,
        "window 2 shows the blue pattern: rgb({r:.0},{g:.0},{b:.0})"
    );
    wait_text(
        &w2,
        "#viewer-metadata-log",
        r#"{"metadata":"from window one"}"#,
    );
    shot(&w2, "second-window-viewer");
    w2.close().unwrap();
    // Window 2 only borrowed the server: it still runs for window 1.
    assert!(std::net::TcpStream::connect(format!("127.0.0.1:{port}")).is_ok());
    w1.close().unwrap();
    wait_port_closed(&format!("127.0.0.1:{port}"));
}

#[test]
fn publishing_resumes_by_itself_after_the_server_restarts() {
    use red5_localsm::{LocalServer, ServerConfig};
    let _one = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let rt = tokio::runtime::Runtime::new().unwrap();
    // A port we own for the whole test, so the restarted server comes back on the same one.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let cfg = || ServerConfig {
        port,
        ..ServerConfig::default()
    };
    let server = rt.block_on(LocalServer::start(cfg())).unwrap();

    let d = Desktop::start_with_env(&[("RED5_DESK_BUILTIN_PORT", "0")])
        .unwrap_or_else(|e| panic!("the end-to-end harness could not start: {e}"));
    // An SM2 profile on the external server, active before the app starts.
    {
        let mut store = red5_config::SettingsStore::open(&d.config_dir());
        let mut form = red5_config::ProfileForm::new_of_kind("sm2");
        form.name = "External local server".into();
        form.scheme = "http".into();
        form.host = "127.0.0.1".into();
        form.port = port.to_string();
        form.node_group = "default".into();
        form.admin_user = "admin".into();
        form.admin_password = red5_signal::Secret::new("pw".to_owned());
        let p = store.save_profile(&form).unwrap();
        store.set_active(&p.id).unwrap();
    }
    let s = d.launch().unwrap();
    wait_text(&s, "#status-profile-name", "External local server");
    // Not the built-in profile: the app starts no server of its own.
    assert_eq!(
        js(&s, "document.getElementById('status-server').hidden"),
        Value::Bool(true)
    );

    show_pane(&s, "presenter");
    choose_sources(&s, "resume-e2e", "synthetic:pattern:green");
    // Preview before publishing; Publish takes the camera over from it.
    s.find("#presenter-preview").unwrap().click().unwrap();
    wait(
        &s,
        "the preview to paint frames before publishing",
        "Number(document.getElementById('presenter-canvas').dataset.frames || 0) > 3",
    );
    let (r, g, b, _) = canvas_probe(&s, "#presenter-canvas", 0.78, 0.82, 0.14, 0.08);
    assert!(
        g > 120.0 && r < 110.0 && b < 110.0,
        "the preview shows the green pattern: rgb({r:.0},{g:.0},{b:.0})"
    );
    publish(&s);
    assert!(server
        .published_streams()
        .iter()
        .any(|g| g.ends_with("resume-e2e")));

    // Kill the server mid-publish.
    rt.block_on(server.shutdown());
    wait(
        &s,
        "the publisher to reconnect",
        "document.getElementById('presenter-state').dataset.state === 'reconnecting'",
    );
    wait_text(&s, "#status-connection", "Reconnecting");
    wait_text(&s, "#presenter-status-log", "Reconnecting: attempt");
    shot(&s, "reconnecting");

    // Back on the same port: publishing resumes without touching the UI.
    let server = rt.block_on(LocalServer::start(cfg())).unwrap();
    wait(
        &s,
        "the publisher to be live again",
        "document.getElementById('presenter-state').dataset.state === 'live'",
    );
    wait_text(&s, "#presenter-status-log", "Reconnected");
    wait_text(&s, "#status-connection", "Connected");
    let deadline = std::time::Instant::now() + WAIT;
    while !server
        .published_streams()
        .iter()
        .any(|g| g.ends_with("resume-e2e"))
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the restarted server never saw the stream again"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // Media flows again, not just signalling: the per-second stats show bytes going out.
    wait(
        &s,
        "presenter stats after the reconnect",
        "/[1-9]/.test(document.getElementById('presenter-stats-bitrateOut').textContent) \
         && document.getElementById('presenter-stats-ice').textContent.includes('connected')",
    );
    shot(&s, "resumed");
    s.find("#presenter-publish").unwrap().click().unwrap();
    wait(
        &s,
        "the publisher to stop",
        "document.getElementById('presenter-state').dataset.state === 'stopped'",
    );
    s.close().unwrap();
    rt.block_on(server.shutdown());
}
