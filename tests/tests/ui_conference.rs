//! The conference in the real window, driven over WebDriver under Xvfb, against the app's own
//! built-in server (real SFU, real mixer, real codecs, 127.0.0.1 only):
//!
//! - window H (the built-in profile) runs the Host pane and one participant ("desk-a", red
//!   pattern, 440 Hz);
//! - window P (a second app instance whose active profile points at H's server) runs another
//!   participant ("desk-b", blue pattern, 660 Hz).
//!
//! The host connects, creates the composition and sees it compose; both participants show up in
//! the waiting room with live previews; the host admits them; each Participant pane says "In
//! conference" and paints the composite (pixels checked: the presenter's colour fills the large
//! region); "Make presenter" moves desk-b there; "Remove" sends desk-b back to the waiting room;
//! "Destroy" ends the composition; "Exclude" bans desk-b, whose pane says so; desk-a leaves.
//! Screenshots go to `artifacts/ui_conference/`.
// The helpers below are test code too: a failed unwrap is a failed test with its message.
#![allow(clippy::unwrap_used)]

use std::net::TcpListener;
use std::time::Duration;

use red5_config::{ProfileForm, SettingsStore};
use red5_e2e::desktop::{probe_canvas, save_screenshot, Desktop};
use red5_e2e::webdriver::Session;
use serde_json::Value;

const TEST: &str = "ui_conference";
const WAIT: Duration = Duration::from_secs(30);
const SLOW: Duration = Duration::from_secs(60);

fn shot(s: &Session, name: &str) -> std::path::PathBuf {
    // Clicks scroll the pane to the clicked control; show each pane from its top.
    s.execute(
        "for (const el of document.querySelectorAll('.main, .panes, .pane, .pane-body')) el.scrollTop = 0; return true;",
        vec![],
    )
    .unwrap();
    let p = save_screenshot(s, TEST, name).unwrap();
    println!("screenshot: {}", p.display());
    p
}

fn js(s: &Session, expr: &str) -> Value {
    s.execute(&format!("return ({expr});"), vec![]).unwrap()
}

fn js_string(s: &Session, expr: &str) -> String {
    match js(s, expr) {
        Value::String(v) => v,
        v => v.to_string(),
    }
}

fn wait(s: &Session, what: &str, expr: &str, timeout: Duration) -> Value {
    s.wait_until(what, expr, timeout).unwrap_or_else(|e| {
        panic!(
            "{e}\n participant: {:?} / {:?}\n host: {:?} / {:?} / {:?}\n last events: {}",
            js_string(
                s,
                "document.getElementById('participant-state')?.textContent"
            ),
            js_string(
                s,
                "document.getElementById('participant-message')?.textContent"
            ),
            js_string(s, "document.getElementById('host-conn-state')?.textContent"),
            js_string(
                s,
                "document.getElementById('host-create-message')?.textContent"
            ),
            js_string(
                s,
                "document.getElementById('host-conn-message')?.textContent"
            ),
            js_string(
                s,
                "JSON.stringify((window.red5DeskConference?.events() || []).slice(-3))"
            ),
        )
    })
}

fn open_pane(s: &Session, id: &str) {
    s.find(&format!("#nav-{id}")).unwrap().click().unwrap();
    wait(
        s,
        &format!("the {id} pane"),
        &format!("!document.getElementById('pane-{id}').hidden"),
        WAIT,
    );
}

fn type_into(s: &Session, css: &str, text: &str) {
    let el = s.find(css).unwrap();
    el.clear().unwrap();
    el.send_keys(text).unwrap();
}

/// Picks an option of a <select> by value, as a user would, and tells the page it changed.
fn choose(s: &Session, css: &str, value: &str) {
    let css_js = serde_json::to_string(css).unwrap();
    let value_js = serde_json::to_string(value).unwrap();
    wait(
        s,
        &format!("{css} to offer {value}"),
        &format!("[...document.querySelector({css_js}).options].some(o => o.value === {value_js})"),
        WAIT,
    );
    s.execute(
        &format!(
            "const el = document.querySelector({css_js}); el.value = {value_js}; \
             el.dispatchEvent(new Event('change', {{ bubbles: true }})); return el.value;"
        ),
        vec![],
    )
    .unwrap();
}

/// Clicks the button `action` of the row/tile of `stream` inside `list_css`.
fn click_action(s: &Session, list_css: &str, stream: &str, action: &str) {
    let css = format!("{list_css} [data-stream='{stream}'] button[data-action='{action}']");
    wait(
        s,
        &format!("the {action} button of {stream}"),
        &format!(
            "document.querySelector({})",
            serde_json::to_string(&css).unwrap()
        ),
        WAIT,
    );
    s.find(&css).unwrap().click().unwrap();
}

/// Average colour of a box of a canvas, as fractions of its size: (r, g, b), plus the share of
/// pixels that are not near-black over the whole canvas (non-blank check). Read from the display
/// with the native video surface.
fn canvas_colour(s: &Session, id: &str, x: f64, y: f64, w: f64, h: f64) -> (f64, f64, f64, f64) {
    let sel = format!("#{id}");
    let region = probe_canvas(s, &sel, [x, y, w, h]).unwrap();
    let whole = probe_canvas(s, &sel, [0.0, 0.0, 1.0, 1.0]).unwrap();
    (region[0], region[1], region[2], whole[4])
}

/// The presenter region of the conference layout is the left 3/4 of a landscape composite;
/// sample its middle (away from the name label and the tile edges).
fn presenter_colour(s: &Session, canvas: &str) -> (f64, f64, f64, f64) {
    canvas_colour(s, canvas, 0.2, 0.3, 0.35, 0.4)
}

fn is_red((r, g, b, _): (f64, f64, f64, f64)) -> bool {
    r > g + 60.0 && r > b + 60.0
}

fn is_blue((r, g, b, _): (f64, f64, f64, f64)) -> bool {
    b > r + 60.0 && b > g + 60.0
}

/// Waits until the presenter region of `canvas` is judged by `pred`, re-sampling each time.
fn wait_presenter(s: &Session, canvas: &str, what: &str, pred: fn((f64, f64, f64, f64)) -> bool) {
    let deadline = std::time::Instant::now() + SLOW;
    loop {
        let c = presenter_colour(s, canvas);
        if pred(c) {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{what}: the presenter region of #{canvas} stayed {c:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Fills the Participant pane and joins.
fn join(s: &Session, name: &str, camera: &str, mic: &str, backend: Option<&str>) {
    open_pane(s, "participant");
    type_into(s, "#participant-room", "room1");
    type_into(s, "#participant-name", name);
    choose(s, "#participant-camera", camera);
    choose(s, "#participant-mic", mic);
    if let Some(b) = backend {
        type_into(s, "#participant-backend", b);
    } else {
        wait(
            s,
            "the backend prefilled",
            "document.getElementById('participant-backend').value.startsWith('ws://127.0.0.1:')",
            WAIT,
        );
    }
    s.find("#participant-join-btn").unwrap().click().unwrap();
    wait(
        s,
        &format!("{name} waiting for the host"),
        "document.getElementById('participant-state').dataset.state === 'waiting'",
        WAIT,
    );
    assert_eq!(
        s.find("#participant-state").unwrap().text().unwrap(),
        "Waiting for the host"
    );
}

/// The status bar's connection state (`data-state`) and its list of running sessions.
fn status_bar(s: &Session) -> (String, String) {
    (
        js_string(
            s,
            "document.getElementById('status-connection').dataset.state",
        ),
        js_string(s, "document.getElementById('status-sessions').textContent"),
    )
}

/// Waits until the status bar shows `state` and its sessions list contains `each` part.
fn wait_status(s: &Session, state: &str, each: &[&str]) {
    let mut expr = format!(
        "document.getElementById('status-connection').dataset.state === {}",
        serde_json::to_string(state).unwrap()
    );
    for part in each {
        expr.push_str(&format!(
            " && document.getElementById('status-sessions').textContent.includes({})",
            serde_json::to_string(part).unwrap()
        ));
    }
    if s.wait_until("the status bar", &expr, WAIT).is_err() {
        panic!(
            "the status bar should show {state} with {each:?}, shows {:?}",
            status_bar(s)
        );
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn host_admits_two_participants_who_see_the_composite() {
    // Window H's built-in server listens on a port the test knows, so window P can point at it.
    let port = free_port();
    std::env::set_var("RED5_DESK_BUILTIN_PORT", port.to_string());
    let backend = format!("ws://127.0.0.1:{port}/");

    let hd = Desktop::start().unwrap_or_else(|e| panic!("the harness could not start: {e}"));
    let h = hd.launch().unwrap();

    // --- Host: connect, create the composition, watch it compose ---------------------------------
    open_pane(&h, "host");
    wait(
        &h,
        "the backend prefilled from the built-in server",
        &format!(
            "document.getElementById('host-backend').value === {}",
            serde_json::to_string(&backend).unwrap()
        ),
        WAIT,
    );
    h.find("#host-connect-btn").unwrap().click().unwrap();
    wait(
        &h,
        "the host connected",
        "document.getElementById('host-conn-state').dataset.state === 'connected'",
        WAIT,
    );
    // Hosting is a connection: the status bar says so, not "Not connected".
    wait_status(&h, "connected", &["Host: connected"]);
    assert_eq!(
        js_string(
            &h,
            "document.querySelector('#status-connection .status-text').textContent"
        ),
        "Connected"
    );
    wait(
        &h,
        "the mixer region from mixerRegions",
        "document.getElementById('host-region').value === 'local'",
        WAIT,
    );
    // The form is prefilled as the seed's testbed: event = room, 1280×720, 30 fps, 1500 kbps.
    for (id, want) in [
        ("host-event", "room1"),
        ("host-width", "1280"),
        ("host-height", "720"),
        ("host-fps", "30"),
        ("host-bitrate", "1500"),
    ] {
        assert_eq!(
            js_string(&h, &format!("document.getElementById('{id}').value")),
            want,
            "{id}"
        );
    }
    shot(&h, "01-host-connected");
    // Record every composition state the pane shows, to see Pending before Composing.
    h.execute(
        "window.__compStates = []; const el = document.getElementById('host-comp-state'); \
         new MutationObserver(() => { const s = el.dataset.state; \
           if (window.__compStates[window.__compStates.length - 1] !== s) window.__compStates.push(s); }) \
         .observe(el, { attributes: true, childList: true, characterData: true, subtree: true }); return true;",
        vec![],
    )
    .unwrap();
    h.find("#host-create-btn").unwrap().click().unwrap();
    wait(
        &h,
        "the composition composing",
        "document.getElementById('host-comp-state').dataset.state === 'composing'",
        SLOW,
    );
    let states = js_string(&h, "window.__compStates.join(',')");
    assert!(
        states.starts_with("pending") && states.ends_with("composing"),
        "the pane showed the real progression, got {states}"
    );
    assert_eq!(
        h.find("#host-comp-state").unwrap().text().unwrap(),
        "Composing"
    );
    // The composite itself plays on the host's stage.
    wait(
        &h,
        "the composite on the host's stage",
        "Number(document.getElementById('host-composite').dataset.frames || 0) >= 3",
        SLOW,
    );
    shot(&h, "02-host-composing");

    // --- Participant desk-a in window H ------------------------------------------------------------
    join(
        &h,
        "desk-a",
        "synthetic:pattern:red",
        "synthetic:tone:440",
        None,
    );
    // While waiting, the pane shows the participant's own camera (what the host previews).
    wait(
        &h,
        "desk-a's self view",
        "Number(document.getElementById('participant-self').dataset.frames || 0) >= 2 \
         && !document.getElementById('participant-self').hidden",
        WAIT,
    );
    let me = canvas_colour(&h, "participant-self", 0.3, 0.3, 0.4, 0.4);
    assert!(is_red(me), "desk-a sees its red pattern: {me:?}");
    wait_status(
        &h,
        "connected",
        &["Host: connected", "Participant: waiting for the host"],
    );
    shot(&h, "03-participant-waiting");

    // --- Participant desk-b in window P, whose profile points at H's server -----------------------
    let pd = Desktop::start().unwrap_or_else(|e| panic!("the second harness could not start: {e}"));
    {
        let mut store = SettingsStore::open(&pd.config_dir());
        let mut form = ProfileForm::new_of_kind("sm2");
        form.name = "Desk H".into();
        form.scheme = "http".into();
        form.host = "127.0.0.1".into();
        form.port = port.to_string();
        form.node_group = "default".into();
        let p = store.save_profile(&form).unwrap();
        store.set_active(&p.id).unwrap();
    }
    let p = pd.launch().unwrap();
    join(
        &p,
        "desk-b",
        "synthetic:pattern:blue",
        "synthetic:tone:660",
        Some(&backend),
    );

    // --- Host: the waiting room with live previews ----------------------------------------------
    open_pane(&h, "host");
    for name in ["desk-a", "desk-b"] {
        wait(
            &h,
            &format!("a live preview of {name}"),
            &format!(
                "Number(document.querySelector(\"#host-waiting-list [data-stream='{name}'] canvas\")?.dataset.frames || 0) >= 2"
            ),
            SLOW,
        );
    }
    let tile_colour = |name: &str| {
        let sel = format!("#host-waiting-list [data-stream='{name}'] canvas");
        let c = probe_canvas(&h, &sel, [0.3, 0.3, 0.4, 0.4]).unwrap();
        serde_json::json!([c[0], c[1], c[2]])
    };
    let a = tile_colour("desk-a");
    let b = tile_colour("desk-b");
    let ch = |v: &Value, i: usize| v[i].as_f64().unwrap();
    assert!(ch(&a, 0) > ch(&a, 2) + 60.0, "desk-a's preview is red: {a}");
    assert!(
        ch(&b, 2) > ch(&b, 0) + 60.0,
        "desk-b's preview is blue: {b}"
    );
    shot(&h, "04-host-waiting-room");

    // --- Admit desk-a (first = presenter) -----------------------------------------------------------
    click_action(&h, "#host-waiting-list", "desk-a", "admit");
    wait(
        &h,
        "desk-a in the conference as presenter",
        "document.querySelector(\"#host-conference-list [data-stream='desk-a'] .host-presenter\")",
        WAIT,
    );
    wait(
        &h,
        "desk-a out of the waiting room",
        "!document.querySelector(\"#host-waiting-list [data-stream='desk-a']\")",
        WAIT,
    );
    // The host's stage shows the composite with desk-a's red in the large region.
    wait_presenter(
        &h,
        "host-composite",
        "host stage after admitting desk-a",
        is_red,
    );
    let host_png = shot(&h, "05-host-one-admitted");

    // --- desk-a's pane: In conference, a non-blank composite with its own red as presenter ------------
    open_pane(&h, "participant");
    wait(
        &h,
        "desk-a in conference",
        "document.getElementById('participant-state').dataset.state === 'inConference'",
        SLOW,
    );
    assert_eq!(
        h.find("#participant-state").unwrap().text().unwrap(),
        "In conference"
    );
    wait(
        &h,
        "the composite painted on desk-a's canvas",
        "Number(document.getElementById('participant-video').dataset.frames || 0) >= 5 \
         && !document.getElementById('participant-video').hidden",
        SLOW,
    );
    wait_presenter(&h, "participant-video", "desk-a's composite", is_red);
    let c = presenter_colour(&h, "participant-video");
    assert!(c.3 > 0.5, "the composite is not blank: {c:?}");
    assert_eq!(
        js_string(
            &h,
            "document.getElementById('participant-video').dataset.size"
        ),
        "1280x720",
        "the composite has the composition's size"
    );
    // Statistics every second, and M mutes the mic (V the camera) in this pane.
    wait(
        &h,
        "conference statistics on desk-a's pane",
        "document.getElementById('participant-stats')?.dataset.updated \
         && document.getElementById('participant-stats-bitrateIn').textContent !== '—'",
        WAIT,
    );
    let mute = h.find("#participant-mute-audio").unwrap();
    mute.send_keys("m").unwrap();
    wait(
        &h,
        "M muted the mic",
        "document.getElementById('participant-mute-audio').getAttribute('aria-pressed') === 'true'",
        WAIT,
    );
    mute.send_keys("m").unwrap();
    wait(
        &h,
        "M unmuted the mic",
        "document.getElementById('participant-mute-audio').getAttribute('aria-pressed') === 'false'",
        WAIT,
    );
    shot(&h, "06-participant-a-in-conference");

    // --- Admit desk-b; its pane shows the conference too -------------------------------------------
    open_pane(&h, "host");
    click_action(&h, "#host-waiting-list", "desk-b", "admit");
    wait(
        &h,
        "desk-b in the conference",
        "document.querySelector(\"#host-conference-list [data-stream='desk-b']\")",
        WAIT,
    );
    wait(
        &p,
        "desk-b in conference",
        "document.getElementById('participant-state').dataset.state === 'inConference'",
        SLOW,
    );
    // Window P only participates: its status bar shows that alone.
    wait_status(&p, "connected", &["Participant: in conference"]);
    assert!(
        !status_bar(&p).1.contains("Host"),
        "window P does not host: {:?}",
        status_bar(&p)
    );
    wait(
        &p,
        "the composite painted on desk-b's canvas",
        "Number(document.getElementById('participant-video').dataset.frames || 0) >= 5",
        SLOW,
    );
    wait_presenter(
        &p,
        "participant-video",
        "desk-b sees desk-a presenting",
        is_red,
    );
    let participant_png = shot(&p, "07-participant-b-in-conference");

    // --- Make desk-b presenter: the large region turns blue ------------------------------------------
    click_action(&h, "#host-conference-list", "desk-b", "presenter");
    wait(
        &h,
        "desk-b marked presenter",
        "document.querySelector(\"#host-conference-list [data-stream='desk-b'] .host-presenter\")",
        WAIT,
    );
    wait_presenter(&p, "participant-video", "desk-b presenting", is_blue);
    wait_presenter(
        &h,
        "host-composite",
        "host stage with desk-b presenting",
        is_blue,
    );
    shot(&h, "08-host-two-in-conference");
    shot(&p, "09-participant-b-presenting");

    // --- Remove desk-b: back to the waiting room -----------------------------------------------------
    click_action(&h, "#host-conference-list", "desk-b", "remove");
    wait(
        &p,
        "desk-b back in the waiting room",
        "document.getElementById('participant-state').dataset.state === 'waiting'",
        SLOW,
    );
    wait(
        &h,
        "desk-b listed as waiting again",
        "document.querySelector(\"#host-waiting-list [data-stream='desk-b']\") \
         && !document.querySelector(\"#host-conference-list [data-stream='desk-b']\")",
        WAIT,
    );
    // desk-a presents again.
    wait_presenter(
        &h,
        "host-composite",
        "desk-a presenting after the removal",
        is_red,
    );
    shot(&h, "10-host-after-remove");

    // --- Destroy the composition ----------------------------------------------------------------------
    h.find("#host-destroy-btn").unwrap().click().unwrap();
    wait(
        &h,
        "the composition gone (the create form is back)",
        "!document.getElementById('host-create-form').hidden \
         && document.getElementById('host-active-composition').hidden",
        WAIT,
    );
    shot(&h, "11-host-destroyed");

    // --- Exclude desk-b from the waiting room: its pane ends and says why ---------------------------
    click_action(&h, "#host-waiting-list", "desk-b", "exclude");
    wait(
        &p,
        "desk-b excluded",
        "document.getElementById('participant-state').dataset.state === 'left' \
         && document.getElementById('participant-message').textContent === 'The host removed you from this room.'",
        WAIT,
    );
    wait(
        &h,
        "desk-b gone from the waiting room and listed as excluded",
        "!document.querySelector(\"#host-waiting-list [data-stream='desk-b']\") \
         && document.getElementById('host-excluded').textContent.includes('desk-b')",
        WAIT,
    );
    shot(&p, "12-participant-b-excluded");

    // --- desk-a leaves --------------------------------------------------------------------------------
    open_pane(&h, "participant");
    h.find("#participant-leave-btn").unwrap().click().unwrap();
    wait(
        &h,
        "desk-a left",
        "document.getElementById('participant-state').dataset.state === 'left'",
        WAIT,
    );
    // Having left, only the host's connection remains in window H's status bar.
    wait_status(&h, "connected", &["Host: connected"]);
    assert!(
        !status_bar(&h).1.contains("Participant"),
        "desk-a left: {:?}",
        status_bar(&h)
    );

    println!(
        "README candidates: {} (host), {} (participant)",
        host_png.display(),
        participant_png.display()
    );

    p.close().unwrap();
    h.close().unwrap();
}
