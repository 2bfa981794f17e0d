//! `red5-desk`: opens the Red5 Desk window.
// No console window behind the app on Windows release builds.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]
#![forbid(unsafe_code)]

use std::process::ExitCode;

use red5_config::logging::{self, LogOptions};
use red5_config::paths;

fn main() -> ExitCode {
    // Before any other thread exists (logging starts one): WebKit reads these when it starts.
    let rendering = red5_desk::rendering::apply_defaults();
    let log_dir = match paths::log_dir() {
        Ok(d) => Some(d),
        Err(e) => {
            eprintln!("red5-desk: {e}; logging to stderr only");
            None
        }
    };
    // Without file logging the app still works; say so and carry on.
    let _log_guard = match logging::init(&LogOptions::new("red5-desk", log_dir.clone())) {
        Ok(g) => Some(g),
        Err(e) => {
            eprintln!("red5-desk: {e}");
            None
        }
    };
    install_panic_logger();

    let config_dir = match paths::config_dir() {
        Ok(d) => d,
        Err(e) => {
            tracing::error!("{e}");
            return ExitCode::FAILURE;
        }
    };
    tracing::info!(
        version = env!("CARGO_PKG_VERSION"),
        config = %config_dir.display(),
        logs = %log_dir.as_deref().map(|d| d.display().to_string()).unwrap_or_default(),
        rendering = %rendering,
        "starting Red5 Desk"
    );
    let mut state = red5_desk::AppState::open(config_dir, log_dir);
    // Another port for the built-in server (tests; two instances side by side).
    if let Some(port) = std::env::var("RED5_DESK_BUILTIN_PORT")
        .ok()
        .and_then(|v| v.trim().parse::<u16>().ok())
    {
        state = state.with_built_in_port(port);
    }
    state = state.with_measure(red5_desk::measure::MeasureConfig::from_env());
    if let Some(dir) = std::env::var_os("RED5_DESK_EXPORT_DIR") {
        state = state.with_export_dir(dir.into());
    }
    let app = match red5_desk::builder(tauri::Builder::default(), state).build(red5_desk::context())
    {
        Ok(app) => app,
        Err(e) => {
            tracing::error!("the window could not be opened: {e}");
            return ExitCode::FAILURE;
        }
    };
    app.run(|handle, event| {
        if let tauri::RunEvent::Exit = event {
            // Sessions unpublish and the built-in server closes its sockets before the process ends.
            tauri::async_runtime::block_on(red5_desk::shutdown(handle));
        }
    });
    ExitCode::SUCCESS
}

/// Panics go to the log file too (through the redacting writer), not just to a terminal nobody sees.
fn install_panic_logger() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        tracing::error!("panic: {info}");
        default(info);
    }));
}
