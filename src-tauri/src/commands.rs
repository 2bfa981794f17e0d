//! Tauri commands: thin wrappers over `red5-config`. Each returns data shaped for the UI or a
//! [`CommandError`] with a sentence and, for validation failures, a field → message map.

use std::path::PathBuf;

use red5_config::{
    ConfigError, FieldErrors, ProfileForm, ServerProfile, SettingsStatus, SettingsStore,
};
use serde::Serialize;
use tauri::{AppHandle, Runtime, State};

use crate::events::{emit, BackendEvent, ConnectionState};
use crate::state::AppState;

/// What the UI gets when a command fails.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CommandError {
    pub message: String,
    /// Inline messages keyed by form field (empty unless the input was invalid).
    pub fields: FieldErrors,
}

impl From<ConfigError> for CommandError {
    fn from(e: ConfigError) -> Self {
        tracing::warn!("command failed: {e}");
        let fields = e.field_errors().cloned().unwrap_or_default();
        let message = if fields.is_empty() {
            e.to_string()
        } else {
            "Please fix the highlighted fields.".into()
        };
        Self { message, fields }
    }
}

/// A profile as the settings list and status bar show it, plus the form to edit it.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProfileView {
    pub id: String,
    pub name: String,
    pub kind: &'static str,
    pub kind_label: &'static str,
    pub endpoint: String,
    pub transport_label: &'static str,
    pub built_in: bool,
    pub form: ProfileForm,
}

impl From<&ServerProfile> for ProfileView {
    fn from(p: &ServerProfile) -> Self {
        Self {
            id: p.id.clone(),
            name: p.name.clone(),
            kind: p.kind.key(),
            kind_label: p.kind.label(),
            endpoint: p.endpoint_summary(),
            transport_label: p.transport.label(),
            built_in: p.is_built_in(),
            form: ProfileForm::from(p),
        }
    }
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KindOption {
    pub key: &'static str,
    pub label: &'static str,
    pub creatable: bool,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AppInfo {
    pub name: String,
    pub version: String,
    pub identifier: String,
    pub config_dir: PathBuf,
    pub log_dir: Option<PathBuf>,
}

/// Everything the UI needs on start, in one call.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Snapshot {
    pub profiles: Vec<ProfileView>,
    pub active_profile_id: String,
    pub connection: ConnectionState,
    pub settings: SettingsStatus,
    pub kinds: Vec<KindOption>,
    pub built_in_server: crate::server::BuiltInServerState,
}

fn views(store: &SettingsStore) -> Vec<ProfileView> {
    store.profiles().iter().map(ProfileView::from).collect()
}

fn profiles_changed<R: Runtime>(app: &AppHandle<R>, store: &SettingsStore) {
    emit(
        app,
        BackendEvent::ProfilesChanged {
            profiles: views(store),
            active_profile_id: store.settings().active_profile_id.clone(),
        },
    );
}

#[tauri::command]
pub fn app_info<R: Runtime>(app: AppHandle<R>, state: State<'_, AppState>) -> AppInfo {
    let pkg = app.package_info();
    AppInfo {
        name: pkg.name.clone(),
        version: pkg.version.to_string(),
        identifier: app.config().identifier.clone(),
        config_dir: state.config_dir().clone(),
        log_dir: state.log_dir().cloned(),
    }
}

#[tauri::command]
pub fn get_snapshot(state: State<'_, AppState>) -> Snapshot {
    let store = state.store();
    Snapshot {
        profiles: views(&store),
        active_profile_id: store.settings().active_profile_id.clone(),
        connection: state.connection(),
        settings: store.status(),
        kinds: red5_config::KINDS
            .iter()
            .map(|&(key, label)| KindOption {
                key,
                label,
                creatable: key != "builtIn",
            })
            .collect(),
        built_in_server: state.built_in_state(),
    }
}

#[tauri::command]
pub fn list_profiles(state: State<'_, AppState>) -> Vec<ProfileView> {
    views(&state.store())
}

/// A blank form with the defaults for `kind` (the UI never hard-codes defaults).
#[tauri::command]
pub fn new_profile_form(kind: String) -> Result<ProfileForm, CommandError> {
    match kind.as_str() {
        "sm2" | "sm1" | "standalone" => Ok(ProfileForm::new_of_kind(&kind)),
        _ => Err(CommandError {
            message: format!("\"{kind}\" is not a server type that can be added."),
            fields: FieldErrors::new(),
        }),
    }
}

/// Field messages for a form as it is being typed (nothing is saved).
#[tauri::command]
pub fn validate_profile(form: ProfileForm) -> FieldErrors {
    form.parse().err().unwrap_or_default()
}

#[tauri::command]
pub fn save_profile<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
    form: ProfileForm,
) -> Result<ProfileView, CommandError> {
    let mut store = state.store();
    let saved = store.save_profile(&form)?;
    profiles_changed(&app, &store);
    Ok(ProfileView::from(&saved))
}

#[tauri::command]
pub fn delete_profile<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
    id: String,
) -> Result<(), CommandError> {
    let mut store = state.store();
    store.delete_profile(&id)?;
    profiles_changed(&app, &store);
    Ok(())
}

#[tauri::command]
pub fn set_active_profile<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
    id: String,
) -> Result<(), CommandError> {
    let mut store = state.store();
    store.set_active(&id)?;
    profiles_changed(&app, &store);
    drop(store);
    // Start or stop the built-in server to match the new profile.
    tauri::async_runtime::spawn(crate::server::sync_with_profile(app.clone()));
    Ok(())
}

#[tauri::command]
pub fn settings_status(state: State<'_, AppState>) -> SettingsStatus {
    state.store().status()
}

/// The user closed the settings banner.
#[tauri::command]
pub fn acknowledge_settings_problem<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
) -> SettingsStatus {
    let mut store = state.store();
    store.acknowledge_problem();
    let status = store.status();
    emit(
        &app,
        BackendEvent::SettingsStatus {
            status: status.clone(),
        },
    );
    status
}

/// The built-in server's state (for the status bar).
#[tauri::command]
pub fn built_in_server_status(state: State<'_, AppState>) -> crate::server::BuiltInServerState {
    state.built_in_state()
}
