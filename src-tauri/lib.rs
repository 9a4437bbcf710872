//! The Almanac desktop shell: the only code that knows Tauri.
//!
//! Every command is a thin wrapper over [`almanac_core::App`], the service layer `almanac serve`
//! shares, which validates each argument as if it came from hostile code and speaks the UI
//! contract (ui/README.md): events tagged by `"event"`, ids as strings, errors as `{code, message}`.
//! This layer adds only what IPC needs: typed arguments, streams over [`Channel`], long work on
//! blocking threads, and errors turned into [`IpcError`].
//!
//! Security lives in the configuration, each part checked by tests/desktop_security.rs:
//! tauri.conf.json (CSP, no global Tauri object), src-tauri/capabilities/ (the main window only:
//! the commands of [`COMMANDS`], the open/save dialogs, http/https/mailto links through the
//! opener, drag-and-drop events) and build.rs (the explicit command list tauri-build turns into
//! permissions); and here, the main window refuses to navigate away from the app, to open new
//! windows and to download. tests/desktop_e2e.rs tries hostile calls from inside the real window.

pub mod error;

use std::sync::{Arc, Mutex};

use almanac_core::{
    App, AskOptions, BackendInfo, Catalogue, Conversation, ConversationSummary, DocumentEntry,
    DocumentText, LibraryEvent, LibraryReport, ModelFile, ModelsInfo, Paths, PullEvent, RunEvent,
    Settings, TokenInfo,
};
use almanac_eval::report::ReportSummary;
use almanac_eval::service::{EvalRequest, EvalStatus, Evaluations, ReportView};
use serde::Serialize;
use serde_json::Value;
use tauri::ipc::Channel;
use tauri::State;

pub use error::{IpcError, IpcResult};

include!("command_names.rs");

/// The service, opened on first use (on a background thread at start, so the window shows at once).
/// A failed open (e.g. models missing) is reported to the command that needed it and tried again
/// by the next one.
#[derive(Clone)]
pub struct Backend {
    paths: Paths,
    app: Arc<Mutex<Option<Arc<App>>>>,
    /// Where the folder watcher's changes go (`library-changed` events), once the window exists.
    events: Arc<Mutex<Option<tauri::AppHandle>>>,
    /// The one evaluation the UI may start, and the reports (needs no open library).
    evals: Arc<Evaluations>,
}

impl Backend {
    /// The data directory from `ALMANAC_DATA_DIR`, else the platform default, as the CLI does.
    pub fn new(paths: Paths) -> Backend {
        Backend {
            evals: Arc::new(Evaluations::new(paths.clone())),
            paths,
            app: Arc::new(Mutex::new(None)),
            events: Arc::new(Mutex::new(None)),
        }
    }

    /// Sends the folder watcher's changes to the windows from now on.
    pub fn set_events(&self, handle: tauri::AppHandle) {
        *self.events.lock().unwrap_or_else(|e| e.into_inner()) = Some(handle);
    }

    /// Shutting down: stops a running answer (stored as cancelled) and the folder watcher.
    pub fn stop(&self) {
        let app = self.app.lock().unwrap_or_else(|e| e.into_inner()).clone();
        self.evals.stop();
        if let Some(app) = app {
            app.cancel_all_runs();
            app.stop_watching();
        }
    }

    pub fn paths(&self) -> &Paths {
        &self.paths
    }

    /// The opened service; opens it if needed (blocking: call from a blocking thread).
    pub fn app(&self) -> IpcResult<Arc<App>> {
        let mut slot = self.app.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(app) = slot.as_ref() {
            return Ok(app.clone());
        }
        let app = Arc::new(App::open(self.paths.clone())?);
        *slot = Some(app.clone());
        // The library's remembered folders are followed while the app runs; each change is a
        // `library-changed` event, on which the UI's library view refreshes.
        app.start_watching()?;
        let handle = self
            .events
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        if let Some(handle) = handle {
            // Ends when watching stops (the channel closes).
            let changes = app.library_changes();
            std::thread::spawn(move || {
                use tauri::Emitter;
                for change in changes {
                    let _ = handle.emit("library-changed", &change);
                }
            });
        }
        Ok(app)
    }
}

/// Runs `work` with the service on a blocking thread: generation, ingestion and SQLite never hold
/// up the IPC thread.
async fn blocking<T, F>(backend: &Backend, work: F) -> IpcResult<T>
where
    T: Send + 'static,
    F: FnOnce(&App) -> IpcResult<T> + Send + 'static,
{
    let backend = backend.clone();
    tauri::async_runtime::spawn_blocking(move || work(&*backend.app()?))
        .await
        .map_err(|e| IpcError::internal(format!("the command's thread failed: {e}")))?
}

/// Sends one stream event; a window that went away just stops receiving.
fn send<E: Serialize>(channel: &Channel<Value>, event: &E) {
    match serde_json::to_value(event) {
        Ok(value) => {
            let _ = channel.send(value);
        }
        Err(e) => {
            let _ = channel
                .send(IpcError::internal(format!("an event did not serialise: {e}")).to_event());
        }
    }
}

/// Per-question options; unknown fields are refused with `{code, message}` like any bad argument.
fn ask_options(options: Option<Value>) -> IpcResult<AskOptions> {
    match options {
        None | Some(Value::Null) => Ok(AskOptions::default()),
        Some(v) => serde_json::from_value(v)
            .map_err(|e| IpcError::new("invalid_argument", format!("options: {e}"))),
    }
}

// --- answers ---------------------------------------------------------------------------------------

/// Streams `started`, `sources`, `token`…, then `done` or `error` on `on_event`; returns when the
/// run has ended. A refused request (bad arguments, another answer running) fails the call instead.
#[tauri::command]
async fn ask(
    backend: State<'_, Backend>,
    conversation_id: Option<String>,
    text: String,
    options: Option<Value>,
    on_event: Channel<Value>,
) -> IpcResult<()> {
    let options = ask_options(options)?;
    blocking(&backend, move |app| {
        app.ask(
            conversation_id.as_deref(),
            &text,
            &options,
            &mut |e: RunEvent| send(&on_event, &e),
        )?;
        Ok(())
    })
    .await
}

/// Answers the conversation's last question again, replacing its last answer; streams like `ask`.
#[tauri::command]
async fn regenerate(
    backend: State<'_, Backend>,
    conversation_id: String,
    on_event: Channel<Value>,
) -> IpcResult<()> {
    blocking(&backend, move |app| {
        app.regenerate(&conversation_id, &mut |e: RunEvent| send(&on_event, &e))?;
        Ok(())
    })
    .await
}

/// Stops a running answer (it ends with `done`, `stop_reason: cancelled`).
#[tauri::command]
async fn cancel_run(backend: State<'_, Backend>, run_id: String) -> IpcResult<()> {
    blocking(&backend, move |app| Ok(app.cancel_run(&run_id)?)).await
}

// --- conversations -----------------------------------------------------------------------------------

#[tauri::command]
async fn list_conversations(
    backend: State<'_, Backend>,
    q: Option<String>,
) -> IpcResult<Vec<ConversationSummary>> {
    blocking(&backend, move |app| {
        Ok(app.list_conversations(q.as_deref())?)
    })
    .await
}

#[tauri::command]
async fn get_conversation(backend: State<'_, Backend>, id: String) -> IpcResult<Conversation> {
    blocking(&backend, move |app| Ok(app.get_conversation(&id)?)).await
}

#[tauri::command]
async fn rename_conversation(
    backend: State<'_, Backend>,
    id: String,
    title: String,
) -> IpcResult<ConversationSummary> {
    blocking(&backend, move |app| {
        Ok(app.rename_conversation(&id, &title)?)
    })
    .await
}

#[tauri::command]
async fn delete_conversation(backend: State<'_, Backend>, id: String) -> IpcResult<()> {
    blocking(&backend, move |app| Ok(app.delete_conversation(&id)?)).await
}

/// The conversation as Markdown; with `path` (from the native save dialog) also written there.
#[tauri::command]
async fn export_conversation(
    backend: State<'_, Backend>,
    id: String,
    path: Option<String>,
) -> IpcResult<String> {
    blocking(&backend, move |app| match path {
        Some(path) => Ok(app.export_conversation_to(&id, &path)?),
        None => Ok(app.export_conversation(&id)?),
    })
    .await
}

// --- library -----------------------------------------------------------------------------------------

#[tauri::command]
async fn list_documents(backend: State<'_, Backend>) -> IpcResult<Vec<DocumentEntry>> {
    blocking(&backend, |app| Ok(app.list_documents()?)).await
}

/// Streams `planned`, per file `indexing` and `indexed`/`unchanged`/`failed`, `progress` now and then,
/// then `finished` or `error`.
#[tauri::command]
async fn add_documents(
    backend: State<'_, Backend>,
    paths: Vec<String>,
    on_event: Channel<Value>,
) -> IpcResult<()> {
    blocking(&backend, move |app| {
        app.add_documents(&paths, &mut |e: LibraryEvent| send(&on_event, &e))?;
        Ok(())
    })
    .await
}

#[tauri::command]
async fn remove_document(backend: State<'_, Backend>, path: String) -> IpcResult<()> {
    blocking(&backend, move |app| Ok(app.remove_document(&path)?)).await
}

#[tauri::command]
async fn reindex_document(backend: State<'_, Backend>, path: String) -> IpcResult<LibraryReport> {
    blocking(&backend, move |app| Ok(app.reindex_document(&path)?)).await
}

/// A library document's text for the passage view; only documents in the library are readable.
#[tauri::command]
async fn get_document(
    backend: State<'_, Backend>,
    path: String,
    line_start: usize,
    line_end: usize,
) -> IpcResult<DocumentText> {
    blocking(&backend, move |app| {
        Ok(app.get_document(&path, line_start, line_end)?)
    })
    .await
}

// --- models and settings -----------------------------------------------------------------------------

#[tauri::command]
async fn get_models(backend: State<'_, Backend>) -> IpcResult<ModelsInfo> {
    blocking(&backend, |app| Ok(app.models()?)).await
}

#[tauri::command]
async fn import_model(backend: State<'_, Backend>, path: String) -> IpcResult<ModelFile> {
    blocking(&backend, move |app| Ok(app.import_model(&path)?)).await
}

/// The model catalogue with the memory verdict and the speed to expect.
#[tauri::command]
async fn get_model_catalogue(backend: State<'_, Backend>) -> IpcResult<Catalogue> {
    blocking(&backend, |app| Ok(app.model_catalogue()?)).await
}

/// Downloads a model (`{name}` or `{repo, file, revision?}`), streaming `started`, `progress`,
/// then `done` or `error`.
#[tauri::command]
async fn pull_model(
    backend: State<'_, Backend>,
    request: Value,
    on_event: Channel<Value>,
) -> IpcResult<()> {
    blocking(&backend, move |app| {
        app.pull_model(&request, &mut |e: PullEvent| send(&on_event, &e))?;
        Ok(())
    })
    .await
}

/// Stops a download and removes what it had fetched.
#[tauri::command]
async fn cancel_pull(backend: State<'_, Backend>, pull_id: String) -> IpcResult<()> {
    blocking(&backend, move |app| Ok(app.cancel_pull(&pull_id)?)).await
}

/// Deletes a downloaded model (not the one in use).
#[tauri::command]
async fn remove_model(backend: State<'_, Backend>, name: String) -> IpcResult<()> {
    blocking(&backend, move |app| Ok(app.remove_model(&name)?)).await
}

#[tauri::command]
async fn get_settings(backend: State<'_, Backend>) -> IpcResult<Settings> {
    blocking(&backend, |app| Ok(app.settings())).await
}

/// Validates, saves and returns the settings as stored.
#[tauri::command]
async fn put_settings(backend: State<'_, Backend>, settings: Value) -> IpcResult<Settings> {
    blocking(&backend, move |app| Ok(app.put_settings(&settings)?)).await
}

/// Stores the endpoint's API key in the OS keyring (never in the settings).
#[tauri::command]
async fn set_backend_key(backend: State<'_, Backend>, key: String) -> IpcResult<BackendInfo> {
    blocking(&backend, move |app| Ok(app.set_backend_key(&key)?)).await
}

#[tauri::command]
async fn delete_backend_key(backend: State<'_, Backend>) -> IpcResult<BackendInfo> {
    blocking(&backend, |app| Ok(app.delete_backend_key()?)).await
}

#[derive(Serialize)]
struct Tokens {
    tokens: Vec<TokenInfo>,
}

#[tauri::command]
async fn tokenize(backend: State<'_, Backend>, text: String) -> IpcResult<Tokens> {
    blocking(&backend, move |app| {
        Ok(Tokens {
            tokens: app.tokenize(&text)?,
        })
    })
    .await
}

// --- evaluation --------------------------------------------------------------------------------------

/// Runs an evaluation call on a blocking thread (they read files and load models).
async fn evaluations<T, F>(backend: &Backend, work: F) -> IpcResult<T>
where
    T: Send + 'static,
    F: FnOnce(&Evaluations) -> almanac_eval::Result<T> + Send + 'static,
{
    let evals = backend.evals.clone();
    tauri::async_runtime::spawn_blocking(move || work(&evals).map_err(IpcError::from))
        .await
        .map_err(|e| IpcError::internal(format!("the command's thread failed: {e}")))?
}

/// Starts an MMLU/KMMLU or question-answering evaluation; returns at once with its status.
#[tauri::command]
async fn start_evaluation(backend: State<'_, Backend>, request: Value) -> IpcResult<EvalStatus> {
    let request: EvalRequest = serde_json::from_value(request)
        .map_err(|e| IpcError::new("invalid_argument", format!("request: {e}")))?;
    evaluations(&backend, move |evals| evals.start(request)).await
}

#[tauri::command]
fn evaluation_status(backend: State<'_, Backend>) -> EvalStatus {
    backend.evals.status()
}

/// Stops the running evaluation after the question in hand; the same request resumes it.
#[tauri::command]
fn stop_evaluation(backend: State<'_, Backend>) -> EvalStatus {
    backend.evals.stop()
}

#[tauri::command]
async fn list_eval_reports(backend: State<'_, Backend>) -> IpcResult<Vec<ReportSummary>> {
    evaluations(&backend, |evals| evals.reports()).await
}

#[tauri::command]
async fn get_eval_report(backend: State<'_, Backend>, name: String) -> IpcResult<ReportView> {
    evaluations(&backend, move |evals| evals.report(&name)).await
}

// --- the app -----------------------------------------------------------------------------------------

fn context() -> tauri::Context<tauri::Wry> {
    tauri::generate_context!()
}

/// The configuration compiled into the app (what tests/desktop_security.rs checks at run time).
pub fn embedded_config() -> tauri::Config {
    context().config().clone()
}

/// Whether the webview may load `url`: only the app's own embedded pages. Links in answers never
/// navigate (the UI hands them to the opener plugin, which opens the system browser), so anything
/// else is a bug or an attack and is refused.
pub fn is_app_url(url: &tauri::Url) -> bool {
    match (url.scheme(), url.host_str()) {
        // Linux and macOS serve the embedded UI as tauri://localhost; Windows and Android as
        // http(s)://tauri.localhost.
        ("tauri", Some("localhost")) => true,
        ("http" | "https", Some("tauri.localhost")) => url.port().is_none(),
        _ => false,
    }
}

/// The main window from tauri.conf.json (`"create": false` there), built here so that it refuses to
/// navigate away from the app, to open new windows and to download anything.
fn open_main_window(app: &mut tauri::App) -> tauri::Result<()> {
    let config = app
        .config()
        .app
        .windows
        .iter()
        .find(|w| w.label == "main")
        .cloned()
        .expect("tauri.conf.json defines the main window");
    tauri::WebviewWindowBuilder::from_config(app.handle(), &config)?
        .on_navigation(is_app_url)
        .on_new_window(|_, _| tauri::webview::NewWindowResponse::Deny)
        .on_download(|_, _| false)
        .build()?;
    Ok(())
}

/// Opens the main window over the library in `ALMANAC_DATA_DIR` (else the platform default).
pub fn run() {
    // ALMANAC_DATA_DIR, else the platform default; models from ALMANAC_MODELS_DIR, else the
    // default models folder: the same rules as the CLI.
    let backend = Backend::new(Paths::new(None));
    let warm = backend.clone();
    let stopping = backend.clone();
    tauri::Builder::default()
        .plugin(tauri_plugin_dialog::init())
        .plugin(tauri_plugin_opener::init())
        .manage(backend)
        .setup(move |app| {
            warm.set_events(app.handle().clone());
            open_main_window(app)?;
            // Load the embedding model and open the stores while the window paints; the first
            // command waits for it (an error reaches that command instead).
            std::thread::spawn(move || {
                let _ = warm.app();
            });
            Ok(())
        })
        .invoke_handler(tauri::generate_handler![
            ask,
            regenerate,
            cancel_run,
            list_conversations,
            get_conversation,
            rename_conversation,
            delete_conversation,
            export_conversation,
            list_documents,
            add_documents,
            remove_document,
            reindex_document,
            get_document,
            get_models,
            import_model,
            get_model_catalogue,
            pull_model,
            cancel_pull,
            remove_model,
            get_settings,
            put_settings,
            set_backend_key,
            delete_backend_key,
            tokenize,
            start_evaluation,
            evaluation_status,
            stop_evaluation,
            list_eval_reports,
            get_eval_report
        ])
        .build(context())
        .unwrap_or_else(|e| {
            eprintln!("almanac-desktop: {e}");
            std::process::exit(1);
        })
        .run(move |_, event| {
            if let tauri::RunEvent::Exit = event {
                stopping.stop();
            }
        });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_loads_only_the_app_itself() {
        for ok in [
            "tauri://localhost/",
            "tauri://localhost/index.html",
            "http://tauri.localhost/",
            "https://tauri.localhost/x",
        ] {
            assert!(is_app_url(&ok.parse().unwrap()), "{ok}");
        }
        for bad in [
            "https://example.com/",
            "http://localhost:8080/",
            "http://tauri.localhost:8080/",
            "tauri://evil/",
            "file:///etc/passwd",
            "data:text/html,<script>alert(1)</script>",
            "javascript:alert(1)",
            "about:blank",
            "ipc://localhost/ask",
            "mailto:a@b.c",
        ] {
            assert!(!is_app_url(&bad.parse().unwrap()), "{bad}");
        }
    }

    #[test]
    fn ask_options_refuse_unknown_fields_as_code_and_message() {
        assert!(ask_options(None).is_ok());
        assert!(ask_options(Some(Value::Null)).is_ok());
        assert!(ask_options(Some(serde_json::json!({"web": false}))).is_ok());
        let e = ask_options(Some(serde_json::json!({"fetch": "https://example.com"}))).unwrap_err();
        assert_eq!(e.code, "invalid_argument");
        assert!(e.message.contains("fetch"), "{}", e.message);
        assert!(ask_options(Some(serde_json::json!("web"))).is_err());
    }
}
