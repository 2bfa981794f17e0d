//! Runs the real `red5-desk-cli` binary.
// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use std::process::{Command, Output};

fn cli(args: &[&str], config_dir: &std::path::Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_red5-desk-cli"))
        .args(args)
        .env("RED5_DESK_CONFIG_DIR", config_dir)
        .env_remove("RED5_DESK_LOG")
        .env_remove("RUST_LOG")
        .output()
        .unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn help_lists_the_subcommands() {
    let dir = tempfile::tempdir().unwrap();
    let o = cli(&["--help"], dir.path());
    assert!(o.status.success());
    let text = stdout(&o);
    for needle in [
        "Usage: red5-desk-cli",
        "publish",
        "subscribe",
        "send-metadata",
        "control",
        "host",
        "participant",
        "local-server",
        "devices",
        "profiles",
        "--config-dir",
        "--verbose",
    ] {
        assert!(text.contains(needle), "--help lacks {needle}:\n{text}");
    }
    let o = cli(&["--version"], dir.path());
    assert_eq!(
        stdout(&o).trim(),
        format!("red5-desk-cli {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn unknown_subcommand_fails_with_usage() {
    let dir = tempfile::tempdir().unwrap();
    let o = cli(&["frobnicate"], dir.path());
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("unrecognized subcommand"));
}

#[test]
fn profiles_on_a_fresh_install_shows_the_built_in_server() {
    let dir = tempfile::tempdir().unwrap();
    let o = cli(&["profiles"], dir.path());
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = stdout(&o);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(lines[1].starts_with("*  Built-in local server"), "{text}");
    assert!(
        !dir.path().join("settings.json").exists(),
        "listing must not write settings"
    );
}

#[test]
fn profiles_lists_saved_profiles_and_masks_secrets_in_json() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = red5_config::SettingsStore::open(dir.path());
    let form = red5_config::ProfileForm {
        name: "Prod SM2".into(),
        host: "sm.example.com".into(),
        node_group: "ng1".into(),
        admin_user: "admin".into(),
        admin_password: "cli-secret-1".into(),
        ..red5_config::ProfileForm::new_of_kind("sm2")
    };
    let p = store.save_profile(&form).unwrap();
    store.set_active(&p.id).unwrap();

    let o = cli(&["profiles"], dir.path());
    let text = stdout(&o);
    assert!(
        text.lines()
            .any(|l| l.starts_with("*  Prod SM2") && l.contains("Stream Manager 2.0")),
        "{text}"
    );
    assert!(text.contains("https://sm.example.com:443/live"));
    assert!(!text.contains("cli-secret-1"));

    let o = cli(&["profiles", "--json"], dir.path());
    assert!(o.status.success());
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 2);
    assert_eq!(v[1]["name"], "Prod SM2");
    assert_eq!(v[1]["active"], true);
    assert_eq!(v[1]["kind"]["adminPassword"], "***");
    assert!(!stdout(&o).contains("cli-secret-1"));
}

#[test]
fn profiles_reports_a_corrupt_settings_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("settings.json"), "not json").unwrap();
    let o = cli(&["profiles"], dir.path());
    assert!(o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("warning: The settings file was damaged"),
        "{err}"
    );
    assert!(stdout(&o).contains("Built-in local server"));
}

#[test]
fn devices_lists_every_kind_or_says_none_found() {
    let dir = tempfile::tempdir().unwrap();
    let o = cli(&["devices"], dir.path());
    let text = stdout(&o);
    assert!(
        o.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let mut current = None;
    let mut seen = Vec::new();
    let mut entries = 0;
    for line in text.lines() {
        if let Some(title) = line.strip_suffix(':') {
            if let Some(t) = current.replace(title.to_owned()) {
                assert!(entries > 0, "section {t} is empty:\n{text}");
            }
            seen.push(title.to_owned());
            entries = 0;
        } else {
            assert!(line.starts_with("  "), "unexpected line {line:?}");
            entries += 1;
        }
    }
    assert!(entries > 0, "last section is empty:\n{text}");
    assert_eq!(seen, ["Cameras", "Microphones", "Speakers"]);

    let o = cli(&["devices", "--json"], dir.path());
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let kinds: Vec<&str> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["cameras", "microphones", "speakers"]);
}

/// `local-server` really serves: the first stdout line carries the URL, an SM2 lookup of a stream
/// nobody publishes gets Red5's 404 JSON, and SIGTERM stops it cleanly.
#[test]
fn local_server_serves_red5_endpoints_until_stopped() {
    use std::io::{BufRead, BufReader, Read, Write};
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_red5-desk-cli"))
        .args(["local-server", "--port", "0"])
        .env("RED5_DESK_CONFIG_DIR", dir.path())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    let base = first
        .strip_prefix("listening on http://")
        .unwrap()
        .to_owned();

    let mut s = std::net::TcpStream::connect(&base).unwrap();
    write!(
        s,
        "GET /as/v1/streams/stream/default/subscribe/live/nobody HTTP/1.1\r\nHost: {base}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut reply = String::new();
    s.read_to_string(&mut reply).unwrap();
    assert!(reply.starts_with("HTTP/1.1 404"), "{reply}");
    assert!(reply.contains("\"error\""), "{reply}");

    let pid = child.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let status = child.wait().unwrap();
    assert!(status.success(), "local-server exited with {status}");
}
