//! Build script of the desktop package (the root package; see docs/decisions/0001-desktop-package-at-root.md).
//!
//! tauri-build reads tauri.conf.json from the package directory (the repository root), generates an
//! `allow-<command>`/`deny-<command>` permission for each of the app's commands (listed explicitly, so a
//! command added to the handler but not here cannot be called), and checks src-tauri/capabilities/.

include!("command_names.rs");

fn main() {
    // The window embeds the built UI at compile time: say how to make it instead of failing obscurely.
    let index = std::path::Path::new("ui/dist/index.html");
    println!("cargo:rerun-if-changed=ui/dist");
    println!("cargo:rerun-if-changed=src-tauri/capabilities");
    println!("cargo:rerun-if-changed=src-tauri/command_names.rs");
    if !index.exists() {
        eprintln!(
            "error: ui/dist/index.html is missing: build the UI first (cd ui && npm ci && npm run build)"
        );
        std::process::exit(1);
    }
    let attributes = tauri_build::Attributes::new()
        .capabilities_path_pattern("./src-tauri/capabilities/**/*")
        .app_manifest(tauri_build::AppManifest::new().commands(COMMANDS));
    if let Err(error) = tauri_build::try_build(attributes) {
        eprintln!("error: tauri-build: {error:#}");
        std::process::exit(1);
    }
}
