//! WebKitGTK software-rendering switch, measured in the real window (README: "Video into the UI").
//!
//! Without a GPU (no `/dev/dri` render node: Xvfb, VMs, CI) WebKitGTK composites through Mesa's
//! software GL, which costs about a core for a 720p30 canvas; with accelerated compositing and the
//! DMA-BUF renderer off it paints in software directly, at ~30 % of a core. On by default when no
//! GPU exists; `RED5_DESK_WEBKIT_SOFTWARE=0` turns it off. A variable the user set is never
//! overridden, and nothing is set when a GPU exists. (In this mode WebKitWebDriver's screenshot
//! of an idle page waits for a repaint that never comes; the e2e harness keeps one coming.)

use std::path::Path;

/// The variables set when no GPU is found (each only when unset).
pub const SOFTWARE_DEFAULTS: &[(&str, &str)] = &[
    ("WEBKIT_DISABLE_COMPOSITING_MODE", "1"),
    ("WEBKIT_DISABLE_DMABUF_RENDERER", "1"),
];

/// `=0` turns [`SOFTWARE_DEFAULTS`] off.
pub const SWITCH: &str = "RED5_DESK_WEBKIT_SOFTWARE";

/// What to set, given whether a GPU render node exists and what the environment already holds.
pub fn defaults_to_apply(
    has_gpu: bool,
    get: impl Fn(&str) -> Option<String>,
) -> Vec<(&'static str, &'static str)> {
    if has_gpu || get(SWITCH).is_some_and(|v| v.trim() == "0") {
        return Vec::new();
    }
    SOFTWARE_DEFAULTS
        .iter()
        .copied()
        .filter(|(k, _)| get(k).is_none())
        .collect()
}

/// Whether a DRM render node (a GPU WebKit could use) exists.
pub fn has_gpu_render_node() -> bool {
    std::fs::read_dir(Path::new("/dev/dri"))
        .map(|d| {
            d.flatten()
                .any(|e| e.file_name().to_string_lossy().starts_with("renderD"))
        })
        .unwrap_or(false)
}

/// Sets the defaults in this process's environment (call first thing in `main`, before any
/// thread starts) and returns a line for the log saying what was set.
pub fn apply_defaults() -> String {
    let set = defaults_to_apply(has_gpu_render_node(), |k| std::env::var(k).ok());
    for (k, v) in &set {
        std::env::set_var(k, v);
    }
    if set.is_empty() {
        "WebKit rendering unchanged".to_owned()
    } else {
        let names: Vec<String> = set.iter().map(|(k, v)| format!("{k}={v}")).collect();
        format!(
            "software rendering asked for and no GPU found; set {}",
            names.join(" ")
        )
    }
}

/// The WebKit rendering variables in effect (for measurement reports).
pub fn webkit_env() -> serde_json::Value {
    let mut m = serde_json::Map::new();
    for (k, v) in std::env::vars() {
        if k.starts_with("WEBKIT_") || k.starts_with("LIBGL_") || k == "GDK_BACKEND" {
            m.insert(k, serde_json::Value::String(v));
        }
    }
    serde_json::Value::Object(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |k| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    #[test]
    fn without_a_gpu_both_variables_are_set() {
        assert_eq!(
            defaults_to_apply(false, env(&[])),
            SOFTWARE_DEFAULTS.to_vec()
        );
    }

    #[test]
    fn the_switch_turns_it_off() {
        assert!(defaults_to_apply(false, env(&[(SWITCH, "0")])).is_empty());
    }

    #[test]
    fn with_a_gpu_nothing_is_set() {
        assert!(defaults_to_apply(true, env(&[(SWITCH, "1")])).is_empty());
    }

    #[test]
    fn a_variable_the_user_set_is_kept() {
        let set = defaults_to_apply(
            false,
            env(&[(SWITCH, "1"), ("WEBKIT_DISABLE_COMPOSITING_MODE", "0")]),
        );
        assert_eq!(set, vec![("WEBKIT_DISABLE_DMABUF_RENDERER", "1")]);
    }
}
