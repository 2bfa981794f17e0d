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
        /// Set when the configured port was taken and a free one was used instead, or when
        /// another Red5 Desk's built-in server on that port is used.
        note: Option<String>,
        /// True when the server belongs to another Red5 Desk window (not stopped on exit).
        #[serde(default)]
        shared: bool,
    },
    Failed {
        message: String,
    },
}

/// What starting the built-in server gave.
enum Bound {
    Own(ServerHandle, Option<String>),
    /// Another Red5 Desk already serves the configured port: use it (so a user can publish in
    /// one window and watch in another).
    Shared(String),
}

/// True when a Red5 Desk built-in server answers on `port` (its `GET /` names itself).
async fn is_red5_desk_server(port: u16) -> bool {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let probe = async {
        let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .ok()?;
        s.write_all(b"GET / HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
            .await
            .ok()?;
        let mut buf = Vec::with_capacity(2048);
        let mut chunk = [0u8; 1024];
        while buf.len() < 8192 {
            match s.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        Some(String::from_utf8_lossy(&buf).contains("Red5 Desk built-in Stream Manager"))
    };
    matches!(
        tokio::time::timeout(std::time::Duration::from_secs(2), probe).await,
        Ok(Some(true))
    )
}

/// Binds the configured port; if it is taken by another Red5 Desk, shares that server; if it is
/// taken by something else, uses a free port.
async fn bind(port: u16) -> Result<Bound, String> {
    let cfg = |port| ServerConfig {
        port,
        ..ServerConfig::default()
    };
    match LocalServer::start(cfg(port)).await {
        Ok(h) => Ok(Bound::Own(h, None)),
        Err(first) if port != 0 => {
            if is_red5_desk_server(port).await {
                tracing::info!(
                    "built-in server: using the one another Red5 Desk runs on port {port}"
                );
                return Ok(Bound::Shared(format!("http://127.0.0.1:{port}")));
            }
            tracing::warn!("built-in server: port {port} unavailable ({first}); using a free port");
            match LocalServer::start(cfg(0)).await {
                Ok(h) => {
                    let note = format!(
                        "port {port} was in use, so port {} is used",
                        h.addr().port()
                    );
                    Ok(Bound::Own(h, Some(note)))
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
    if state.with_built_in_server(|_| ()).is_some()
        || matches!(
            state.built_in_state(),
            BuiltInServerState::Running { shared: true, .. }
        )
    {
        return;
    }
    publish_state(&app, &state, BuiltInServerState::Starting);
    match bind(port).await {
        Ok(Bound::Own(h, note)) => {
            let base_url = h.base_url();
            tracing::info!(%base_url, "built-in server running");
            state.put_built_in_server(h);
            publish_state(
                &app,
                &state,
                BuiltInServerState::Running {
                    base_url,
                    note,
                    shared: false,
                },
            );
        }
        Ok(Bound::Shared(base_url)) => publish_state(
            &app,
            &state,
            BuiltInServerState::Running {
                base_url,
                note: Some("shared with another Red5 Desk window".into()),
                shared: true,
            },
        ),
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
