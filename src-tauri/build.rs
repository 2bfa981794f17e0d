fn main() {
    // tauri.conf.json lives at the workspace root (frontendDist `ui` is relative to it).
    println!("cargo:rerun-if-changed=../tauri.conf.json");
    // New or removed UI files must re-embed the assets (edits are tracked by include_bytes!).
    println!("cargo:rerun-if-changed=../ui");
    tauri_build::try_build(tauri_build::Attributes::new().config_path("../tauri.conf.json"))
        .unwrap_or_else(|e| panic!("tauri-build failed: {e:#}"));
}
