//! Red5 Desk's desktop shell: Tauri commands and the one backend→UI event stream.
//!
//! No protocol, codec or settings logic lives here: commands are thin calls into `red5-config`,
//! `red5-session` and `red5-localsm` (the built-in server, [`server`]). The UI (`ui/`, plain ES modules) renders what it gets.
#![forbid(unsafe_code)]

pub mod commands;
pub mod conference;
pub mod events;
pub mod measure;
pub mod rendering;
pub mod server;
pub mod sessions;
pub mod state;
pub mod surface;
pub mod video;

pub use events::{BackendEvent, ConnectionState, EVENT_NAME};
pub use state::AppState;

/// Registers state and every command on a builder (the real one in `main`, the mock one in tests).
pub fn builder<R: tauri::Runtime>(
    builder: tauri::Builder<R>,
    state: AppState,
) -> tauri::Builder<R> {
    builder
        .manage(state)
        // The built-in server starts with the app when its profile is active. A plugin's setup
        // runs in `build()` (the app's own `setup` only once the event loop runs), so the mock
        // runtime in tests gets the same start-up as the real window.
        .plugin(
            tauri::plugin::Builder::<R, ()>::new("red5-desk-services")
                .setup(|app, _api| {
                    tauri::async_runtime::spawn(server::sync_with_profile(app.clone()));
                    Ok(())
                })
                .on_webview_ready(|webview| {
                    if surface::enabled() {
                        surface::install(&webview);
                    }
                })
                .build(),
        )
        .invoke_handler(tauri::generate_handler![
            commands::app_info,
            commands::get_snapshot,
            commands::list_profiles,
            commands::new_profile_form,
            commands::validate_profile,
            commands::save_profile,
            commands::delete_profile,
            commands::set_active_profile,
            commands::settings_status,
            commands::acknowledge_settings_problem,
            commands::built_in_server_status,
            sessions::list_devices,
            sessions::video_attach,
            sessions::video_ack,
            sessions::video_ack_channel,
            sessions::video_view_size,
            sessions::video_transport,
            sessions::video_pull,
            sessions::video_native_rect,
            sessions::video_native_stats,
            sessions::video_native_rect_channel,
            sessions::video_native_stats_channel,
            sessions::video_native_clear,
            sessions::window_probe,
            sessions::window_snapshot,
            sessions::video_pull_channel,
            sessions::video_view_size_channel,
            sessions::presenter_preview,
            sessions::presenter_start,
            sessions::presenter_stop,
            sessions::presenter_mute,
            sessions::presenter_set_bitrate,
            sessions::validate_metadata,
            sessions::presenter_send_metadata,
            sessions::viewer_start,
            sessions::viewer_stop,
            sessions::viewer_volume,
            sessions::export_stats,
            measure::measure_config,
            measure::measure_mark,
            measure::measure_finish,
            // conference pane commands (src-tauri/src/conference.rs) — begin
            conference::conference_devices,
            conference::host_defaults,
            conference::conference_watch,
            conference::conference_unwatch,
            conference::participant_join,
            conference::participant_leave,
            conference::participant_set_volume,
            conference::participant_mute,
            conference::participant_export_stats,
            conference::host_connect,
            conference::host_disconnect,
            conference::host_create_composition,
            conference::host_destroy_composition,
            conference::host_control,
            conference::host_view,
            // conference pane commands (src-tauri/src/conference.rs) — end
        ])
}

/// Ends sessions and stops the built-in server (on exit).
pub async fn shutdown<R: tauri::Runtime>(app: &tauri::AppHandle<R>) {
    use tauri::Manager;
    sessions::shutdown(&app.state::<AppState>().sessions).await;
    server::stop(app).await;
}

/// The app context from the root `tauri.conf.json` (assets from `ui/` are embedded at compile time).
pub fn context<R: tauri::Runtime>() -> tauri::Context<R> {
    tauri::generate_context!("../tauri.conf.json")
}

#[cfg(test)]
mod tests;
