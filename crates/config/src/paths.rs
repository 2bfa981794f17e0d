//! Where Red5 Desk keeps its files. Mirrors Tauri's `app_config_dir` / `app_log_dir` so the desktop app and
//! the CLI read the same settings.

use std::path::PathBuf;

use crate::ConfigError;

/// Must equal `identifier` in tauri.conf.json (a test in the app crate checks it).
pub const APP_IDENTIFIER: &str = "com.red5pro.desk";
/// Overrides the settings directory (tests use a temp dir).
pub const CONFIG_DIR_ENV: &str = "RED5_DESK_CONFIG_DIR";
/// Overrides the log directory.
pub const LOG_DIR_ENV: &str = "RED5_DESK_LOG_DIR";
/// Settings file name inside the config directory.
pub const SETTINGS_FILE: &str = "settings.json";

fn env_dir(var: &str) -> Option<PathBuf> {
    std::env::var_os(var)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

/// The app-config dir: `$RED5_DESK_CONFIG_DIR`, else e.g. `~/.config/com.red5pro.desk` on Linux.
pub fn config_dir() -> Result<PathBuf, ConfigError> {
    if let Some(d) = env_dir(CONFIG_DIR_ENV) {
        return Ok(d);
    }
    directories::BaseDirs::new()
        .map(|b| b.config_dir().join(APP_IDENTIFIER))
        .ok_or(ConfigError::NoDirectory("config", CONFIG_DIR_ENV))
}

/// The app log dir: `$RED5_DESK_LOG_DIR`, else `~/.local/share/com.red5pro.desk/logs` on Linux,
/// `~/Library/Logs/com.red5pro.desk` on macOS, `%LOCALAPPDATA%\com.red5pro.desk\logs` on Windows.
pub fn log_dir() -> Result<PathBuf, ConfigError> {
    if let Some(d) = env_dir(LOG_DIR_ENV) {
        return Ok(d);
    }
    let base = directories::BaseDirs::new().ok_or(ConfigError::NoDirectory("log", LOG_DIR_ENV))?;
    if cfg!(target_os = "macos") {
        Ok(base.home_dir().join("Library/Logs").join(APP_IDENTIFIER))
    } else {
        Ok(base.data_local_dir().join(APP_IDENTIFIER).join("logs"))
    }
}
