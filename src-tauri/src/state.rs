//! What the commands share: the settings store and the current connection state.

use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};

use red5_config::SettingsStore;

use crate::events::ConnectionState;

pub struct AppState {
    store: Mutex<SettingsStore>,
    connection: Mutex<ConnectionState>,
    config_dir: PathBuf,
    log_dir: Option<PathBuf>,
}

impl AppState {
    /// Opens (or creates on first save) `settings.json` in `config_dir`.
    pub fn open(config_dir: PathBuf, log_dir: Option<PathBuf>) -> Self {
        let store = SettingsStore::open(&config_dir);
        Self {
            store: Mutex::new(store),
            connection: Mutex::new(ConnectionState::Idle),
            config_dir,
            log_dir,
        }
    }

    /// The store; a panic in another command must not lock the user out of their settings.
    pub fn store(&self) -> MutexGuard<'_, SettingsStore> {
        self.store.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn connection(&self) -> ConnectionState {
        *self.connection.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn set_connection(&self, s: ConnectionState) {
        *self.connection.lock().unwrap_or_else(|p| p.into_inner()) = s;
    }

    pub fn config_dir(&self) -> &PathBuf {
        &self.config_dir
    }

    pub fn log_dir(&self) -> Option<&PathBuf> {
        self.log_dir.as_ref()
    }
}
