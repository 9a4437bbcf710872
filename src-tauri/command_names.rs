// The app's own IPC commands, exactly as ui/README.md names them. Included by build.rs (which generates
// an `allow-<command>` permission for each, see tauri_build::AppManifest) and by lib.rs (a test checks
// that this list, the invoke handler and the main window's capability agree).
pub const COMMANDS: &[&str] = &[
    "ask",
    "cancel_run",
    "regenerate",
    "list_conversations",
    "get_conversation",
    "rename_conversation",
    "delete_conversation",
    "export_conversation",
    "list_documents",
    "add_documents",
    "remove_document",
    "reindex_document",
    "get_document",
    "get_models",
    "import_model",
    "get_model_catalogue",
    "pull_model",
    "cancel_pull",
    "remove_model",
    "get_settings",
    "put_settings",
    "set_backend_key",
    "delete_backend_key",
    "tokenize",
];
