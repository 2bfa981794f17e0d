//! What the commands share: the settings store, the connection state, the built-in server and
//! the sessions.
//!
//! For pane code (e.g. `conference.rs`): [`AppState::session_target`] gives the endpoint and ICE
//! servers to connect to for the active profile (with the built-in server's real URL), and
//! [`AppState::with_built_in_server`] the running `red5_localsm::ServerHandle`, if any.

use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};

use red5_config::SettingsStore;
use red5_localsm::ServerHandle;
use red5_session::{Endpoint, IceServerConfig};

use crate::conference::ConferenceState;
use crate::events::ConnectionState;
use crate::measure::{MeasureConfig, MeasureState};
use crate::server::BuiltInServerState;
use crate::sessions::Sessions;

pub struct AppState {
    store: Mutex<SettingsStore>,
    connection: Mutex<ConnectionState>,
    config_dir: PathBuf,
    log_dir: Option<PathBuf>,
    built_in: Mutex<Option<ServerHandle>>,
    built_in_state: Mutex<BuiltInServerState>,
    built_in_port: Option<u16>,
    export_dir: Option<PathBuf>,
    /// Host and Participant panes (src-tauri/src/conference.rs).
    pub conference: ConferenceState,
    /// Presenter and Viewer panes.
    pub sessions: Sessions,
    /// The video-to-UI measurement mode (off unless `RED5_DESK_MEASURE_UI` is set).
    pub measure: MeasureState,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic in another command must not lock the user out.
    m.lock().unwrap_or_else(|p| p.into_inner())
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
            built_in: Mutex::new(None),
            built_in_state: Mutex::new(BuiltInServerState::Off),
            built_in_port: None,
            export_dir: None,
            conference: ConferenceState::default(),
            sessions: Sessions::default(),
            measure: MeasureState::default(),
        }
    }

    pub fn store(&self) -> MutexGuard<'_, SettingsStore> {
        lock(&self.store)
    }

    pub fn connection(&self) -> ConnectionState {
        *lock(&self.connection)
    }

    pub fn set_connection(&self, s: ConnectionState) {
        *lock(&self.connection) = s;
    }

    pub fn config_dir(&self) -> &PathBuf {
        &self.config_dir
    }

    pub fn log_dir(&self) -> Option<&PathBuf> {
        self.log_dir.as_ref()
    }

    /// Binds the built-in server to `port` instead of the profile's (0 = any free port).
    pub fn with_built_in_port(mut self, port: u16) -> Self {
        self.built_in_port = Some(port);
        self
    }

    /// Writes exports (stats JSON) to `dir` instead of the Downloads folder.
    pub fn with_export_dir(mut self, dir: PathBuf) -> Self {
        self.export_dir = Some(dir);
        self
    }

    pub fn export_dir(&self) -> Option<&PathBuf> {
        self.export_dir.as_ref()
    }

    /// Turns the measurement mode on (see `measure.rs`).
    pub fn with_measure(mut self, cfg: Option<MeasureConfig>) -> Self {
        self.measure = MeasureState::new(cfg);
        self
    }

    pub fn built_in_port(&self) -> Option<u16> {
        self.built_in_port
    }

    /// Runs `f` on the running built-in server, if any (`None` when it is not running).
    pub fn with_built_in_server<T>(&self, f: impl FnOnce(&ServerHandle) -> T) -> Option<T> {
        lock(&self.built_in).as_ref().map(f)
    }

    /// Keeps a running server as the built-in one (and marks it running).
    pub(crate) fn put_built_in_server(&self, h: ServerHandle) {
        self.set_built_in_state(BuiltInServerState::Running {
            base_url: h.base_url(),
            note: None,
            shared: false,
        });
        *lock(&self.built_in) = Some(h);
    }

    pub(crate) fn take_built_in_server(&self) -> Option<ServerHandle> {
        let h = lock(&self.built_in).take();
        if h.is_some() {
            self.set_built_in_state(BuiltInServerState::Off);
        }
        h
    }

    pub fn built_in_state(&self) -> BuiltInServerState {
        lock(&self.built_in_state).clone()
    }

    pub(crate) fn set_built_in_state(&self, s: BuiltInServerState) {
        *lock(&self.built_in_state) = s;
    }

    /// Where sessions of the active profile connect: its endpoint and ICE servers. For the
    /// built-in profile the URL is the running server's (its port may differ from the saved one).
    pub fn session_target(&self) -> Result<(Endpoint, Vec<IceServerConfig>), String> {
        let profile = self.store().active().clone();
        let (mut ep, ice) = Endpoint::from_profile(&profile);
        if profile.is_built_in() {
            match self.built_in_state() {
                // Ours or another Red5 Desk window's.
                BuiltInServerState::Running { base_url, .. } => ep.base_url = base_url,
                BuiltInServerState::Failed { message } => return Err(message),
                _ => {
                    return Err(
                        "The built-in server is not running yet. Try again in a moment.".into(),
                    )
                }
            }
        }
        Ok((ep, ice))
    }
}
