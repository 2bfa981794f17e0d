//! `profiles`: the saved server profiles as a table, or JSON with secrets masked.

use std::io::Write;
use std::process::ExitCode;

use red5_config::{ServerProfile, SettingsStore};
use serde_json::Value;

use crate::{table, CliError, Context};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print JSON (passwords and tokens masked) instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Keys whose values are secrets in the stored profile JSON.
const SECRET_KEYS: [&str; 5] = [
    "password",
    "token",
    "adminPassword",
    "accessToken",
    "credential",
];

pub fn run(ctx: &Context, args: &Args, out: &mut impl Write) -> Result<ExitCode, CliError> {
    let store = SettingsStore::open(&ctx.config_dir);
    if let Some(p) = store.problem() {
        eprintln!("warning: {}", p.message());
    }
    let active = store.settings().active_profile_id.as_str();
    if args.json {
        let list: Vec<Value> = store
            .profiles()
            .iter()
            .map(|p| {
                let mut v = serde_json::to_value(p)?;
                mask_secrets(&mut v);
                if let Value::Object(m) = &mut v {
                    m.insert("active".into(), Value::Bool(p.id == active));
                }
                Ok(v)
            })
            .collect::<Result<_, serde_json::Error>>()?;
        serde_json::to_writer_pretty(&mut *out, &list)?;
        writeln!(out)?;
    } else {
        out.write_all(render(store.profiles(), active).as_bytes())?;
    }
    Ok(ExitCode::SUCCESS)
}

pub fn render(profiles: &[ServerProfile], active: &str) -> String {
    let rows: Vec<Vec<String>> = profiles
        .iter()
        .map(|p| {
            vec![
                if p.id == active {
                    "*".into()
                } else {
                    String::new()
                },
                p.name.clone(),
                p.kind.label().to_owned(),
                p.endpoint_summary(),
                p.transport.label().to_owned(),
                p.id.clone(),
            ]
        })
        .collect();
    table::render(&["", "NAME", "TYPE", "ENDPOINT", "TRANSPORT", "ID"], &rows)
}

/// Replaces every non-empty secret string with `***` (a terminal is not a safe place for them).
fn mask_secrets(v: &mut Value) {
    match v {
        Value::Object(m) => {
            for (k, val) in m.iter_mut() {
                match val {
                    Value::String(s) if SECRET_KEYS.contains(&k.as_str()) && !s.is_empty() => {
                        *s = red5_config::redact::MASK.to_owned()
                    }
                    _ => mask_secrets(val),
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(mask_secrets),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn masks_nested_secrets_only() {
        let mut v = json!({
            "name": "x", "auth": {"username": "u", "password": "p", "token": ""},
            "kind": {"type": "sm2", "adminPassword": "a"},
            "iceServers": [{"urls": ["turn:t"], "credential": "c"}]
        });
        mask_secrets(&mut v);
        assert_eq!(v["auth"]["password"], "***");
        assert_eq!(v["auth"]["token"], "", "empty stays empty");
        assert_eq!(v["auth"]["username"], "u");
        assert_eq!(v["kind"]["adminPassword"], "***");
        assert_eq!(v["iceServers"][0]["credential"], "***");
    }

    #[test]
    fn table_marks_the_active_profile() {
        let b = ServerProfile::built_in();
        let t = render(&[b], "builtin");
        let lines: Vec<&str> = t.lines().collect();
        assert!(lines[0].contains("NAME") && lines[0].contains("ENDPOINT"));
        assert!(lines[1].starts_with("*  Built-in local server"), "{t}");
        assert!(lines[1].contains("http://127.0.0.1:5080/live"));
    }
}
