//! The built-in local server (red5-localsm) run inside the app for the "Built-in local server"
//! profile: started on launch on 127.0.0.1, its state shown in the status bar, stopped on exit.

use red5_localsm::{LocalServer, ServerConfig, ServerHandle};
use serde::Serialize;
use tauri::{AppHandle, Manager, Runtime};

use crate::events::{emit, BackendEvent};
use crate::state::AppState;

/// What the status bar shows about the built-in server.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "camelCase")]
pub enum BuiltInServerState {
    /// The active profile is not the built-in one, or the app has not started it yet.
    Off,
    Starting,
    #[serde(rename_all = "camelCase")]
    Running {
        base_url: String,
        /// Set when the configured port was taken and a free one was used instead.
        note: Option<String>,
    },
    Failed {
        message: String,
    },
}

/// Binds the configured port; if it is taken (another Red5 Desk, a real Red5), a free one.
async fn bind(port: u16) -> Result<(ServerHandle, Option<String>), String> {
    let cfg = |port| ServerConfig {
        port,
        ..ServerConfig::default()
    };
    match LocalServer::start(cfg(port)).await {
        Ok(h) => Ok((h, None)),
        Err(first) if port != 0 => {
            tracing::warn!("built-in server: port {port} unavailable ({first}); using a free port");
            match LocalServer::start(cfg(0)).await {
                Ok(h) => {
                    let note = format!(
                        "port {port} was in use, so port {} is used",
                        h.addr().port()
                    );
                    Ok((h, Some(note)))
                }
                Err(e) => Err(format!("The built-in server could not start: {e}")),
            }
        }
        Err(e) => Err(format!("The built-in server could not start: {e}")),
    }
}

fn publish_state<R: Runtime>(app: &AppHandle<R>, state: &AppState, s: BuiltInServerState) {
    state.set_built_in_state(s.clone());
    emit(app, BackendEvent::BuiltInServer { server: s });
}

/// Starts the built-in server when the active profile is the built-in one and it is not running;
/// stops it when another profile became active. Safe to call after every profile change.
pub async fn sync_with_profile<R: Runtime>(app: AppHandle<R>) {
    let state = app.state::<AppState>();
    let (built_in, port) = {
        let store = state.store();
        let p = store.active();
        (p.is_built_in(), p.port)
    };
    let port = state.built_in_port().unwrap_or(port);
    if !built_in {
        if let Some(h) = state.take_built_in_server() {
            h.shutdown().await;
            tracing::info!("built-in server stopped (another profile is active)");
        }
        publish_state(&app, &state, BuiltInServerState::Off);
        return;
    }
    if state.with_built_in_server(|_| ()).is_some() {
        return;
    }
    publish_state(&app, &state, BuiltInServerState::Starting);
    match bind(port).await {
        Ok((h, note)) => {
            let base_url = h.base_url();
            tracing::info!(%base_url, "built-in server running");
            state.put_built_in_server(h);
            publish_state(&app, &state, BuiltInServerState::Running { base_url, note });
        }
        Err(message) => {
            tracing::error!("{message}");
            publish_state(&app, &state, BuiltInServerState::Failed { message });
        }
    }
}

/// Stops the built-in server (on exit).
pub async fn stop<R: Runtime>(app: &AppHandle<R>) {
    let state = app.state::<AppState>();
    if let Some(h) = state.take_built_in_server() {
        h.shutdown().await;
        tracing::info!("built-in server stopped");
    }
}
