//! The service layer every front end shares (the desktop shell, `almanac serve`, the CLI's
//! `ask` and `chat`): [`App`] owns the [`Assistant`], the conversation store and the running
//! answers, validates every argument as if it came from hostile code, and speaks in the shapes of
//! the UI contract (ui/README.md): events tagged by `"event"`, ids as strings, errors as
//! `{code, message}` ([`Error::code`], [`Error::to_json`]).
//!
//! Streaming operations ([`App::ask`], [`App::regenerate`], [`App::add_documents`]) block the
//! calling thread until the run ends and report through `on_event`. `Err` means the request was
//! refused before anything was emitted (bad arguments, `busy`, `not_found`); once the first event
//! is emitted the call returns `Ok` and the stream has ended with exactly one terminal event
//! (`done` or `error`; `finished` or `error`).
//!
//! One answer is generated at a time: a second `ask` or `regenerate` while one runs is refused
//! with `busy` (so is a second `add_documents` while one runs). Questions and ingestion may run
//! together.

mod answers;
mod completions;
mod downloads;
mod events;
pub(crate) mod export;
mod library;
mod models;
mod runs;
mod settings_input;
mod store;
pub mod validate;
mod watching;

use std::path::Path;

use serde::Deserialize;
use serde_json::Value;

use crate::{Assistant, Backend, Error, Paths, Result, Settings};

pub use answers::{AskOptions, RunOutcome};
pub use completions::Completion;
pub use downloads::{Catalogue, PullEvent};
pub use events::{LibraryEvent, LibraryReport, RunEvent};
pub use library::{DocumentEntry, DocumentText};
pub use models::{
    BackendInfo, ChatModelInfo, EmbeddingModelInfo, ModelFile, ModelsInfo, TokenInfo,
};
pub use store::{
    Conversation, ConversationStore, ConversationSummary, FinishedAnswer, Message, MessageStatus,
    TurnIds, SCHEMA_VERSION,
};

pub struct App {
    assistant: Assistant,
    store: ConversationStore,
    runs: runs::Runs,
    models: models::ModelCatalog,
    pulls: downloads::Pulls,
    library: library::LibraryState,
    watching: watching::Watching,
}

/// `{code, message}`, for a stored or returned error.
#[derive(Debug, Clone, serde::Serialize, Deserialize, PartialEq, Eq)]
pub struct ErrorBody {
    pub code: String,
    pub message: String,
}

impl From<&Error> for ErrorBody {
    fn from(e: &Error) -> ErrorBody {
        ErrorBody {
            code: e.code().into(),
            message: e.to_string(),
        }
    }
}

impl App {
    /// Opens the library (taking its lock, so one process per data directory), loads the
    /// embedding model, and opens the conversation store (marking answers cut off by a crash as
    /// interrupted). The chat model loads at the first question.
    pub fn open(paths: Paths) -> Result<App> {
        std::fs::create_dir_all(&paths.data_dir).map_err(Error::io(&paths.data_dir))?;
        let assistant = Assistant::open(paths)?;
        let store = ConversationStore::open(&assistant.paths().conversations_file())?;
        Ok(App {
            assistant,
            store,
            runs: runs::Runs::default(),
            models: models::ModelCatalog::default(),
            pulls: downloads::Pulls::default(),
            library: library::LibraryState::default(),
            watching: watching::Watching::default(),
        })
    }

    pub fn assistant(&self) -> &Assistant {
        &self.assistant
    }

    pub fn store(&self) -> &ConversationStore {
        &self.store
    }

    pub fn paths(&self) -> &Paths {
        self.assistant.paths()
    }

    /// Whether an answer is being generated now.
    pub fn is_answering(&self) -> bool {
        self.runs.answering()
    }

    /// Stops a running answer; it ends with `done` (`stop_reason: cancelled`) and what was
    /// generated is stored. `not_found` when no such run is in progress.
    pub fn cancel_run(&self, run_id: &str) -> Result<()> {
        if run_id.len() > 64 {
            return Err(Error::invalid("run_id", "is longer than 64 bytes"));
        }
        self.runs.cancel(run_id)
    }

    /// Stops every running answer (e.g. when shutting down).
    pub fn cancel_all_runs(&self) {
        self.runs.cancel_all()
    }

    // --- conversations ---------------------------------------------------------------------------

    /// Newest first; `q` searches titles and message text.
    pub fn list_conversations(&self, q: Option<&str>) -> Result<Vec<ConversationSummary>> {
        let q = validate::search(q)?;
        self.store.list(q.as_deref())
    }

    pub fn get_conversation(&self, id: &str) -> Result<Conversation> {
        self.store.get(validate::id("id", id)?)
    }

    pub fn rename_conversation(&self, id: &str, title: &str) -> Result<ConversationSummary> {
        let id = validate::id("id", id)?;
        self.store.rename(id, &validate::title(title)?)
    }

    pub fn delete_conversation(&self, id: &str) -> Result<()> {
        self.store.delete(validate::id("id", id)?)
    }

    /// The conversation as Markdown.
    pub fn export_conversation(&self, id: &str) -> Result<String> {
        self.store.export_markdown(validate::id("id", id)?)
    }

    /// Exports and also writes the Markdown to `path` (from a native save dialog): an absolute
    /// `.md`/`.markdown`/`.txt` path in an existing folder, not an existing non-file.
    pub fn export_conversation_to(&self, id: &str, path: &str) -> Result<String> {
        let markdown = self.export_conversation(id)?;
        let path = validate::absolute_path("path", path)?;
        let ext_ok = path.extension().is_some_and(|e| {
            ["md", "markdown", "txt"]
                .iter()
                .any(|ok| e.eq_ignore_ascii_case(ok))
        });
        if !ext_ok {
            return Err(Error::invalid("path", "must end in .md, .markdown or .txt"));
        }
        if path.exists() && !path.is_file() {
            return Err(Error::invalid(
                "path",
                format!("{} exists and is not a file", path.display()),
            ));
        }
        if !path.parent().is_some_and(Path::is_dir) {
            return Err(Error::invalid(
                "path",
                format!("the folder of {} does not exist", path.display()),
            ));
        }
        crate::paths::write_atomically(&path, markdown.as_bytes())?;
        Ok(markdown)
    }

    // --- models and settings ---------------------------------------------------------------------

    pub fn models(&self) -> Result<ModelsInfo> {
        let settings = self.assistant.settings();
        let chat_path = self.assistant.chat_model_path();
        let chat = match &settings.backend {
            Backend::Local => self.models.chat_info(&chat_path, settings.context_length),
            Backend::Openai {
                base_url,
                model,
                context_length,
                ..
            } => Some(ChatModelInfo {
                backend: "openai",
                path: base_url.clone(),
                name: model.clone(),
                context_length: *context_length,
                trained_context_length: None,
            }),
        };
        Ok(ModelsInfo {
            backend: BackendInfo::of(&settings.backend),
            chat,
            embedding: Some(EmbeddingModelInfo {
                path: self
                    .paths()
                    .resolve_model(&settings.embedding_model)
                    .to_string_lossy()
                    .into_owned(),
                dim: self.assistant.embedder().dim(),
            }),
            available: self.models.available(self.paths()),
        })
    }

    /// Checks that the file is a GGUF chat model the engine loads, then lists it (referenced where
    /// it is, not copied) so the settings can choose it.
    pub fn import_model(&self, path: &str) -> Result<ModelFile> {
        let path = validate::existing_path("path", path)?;
        self.models.import(self.paths(), &path)
    }

    pub fn settings(&self) -> Settings {
        self.assistant.settings()
    }

    /// Validates the settings (kinds, ranges; fields left out keep their values; unknown fields
    /// are refused), saves them atomically, and returns them as stored.
    pub fn put_settings(&self, input: &Value) -> Result<Settings> {
        let chat_models = self.models.chat_model_paths(self.paths());
        let paths = self.paths().clone();
        let resolve = move |p: &Path| paths.resolve_model(p);
        let ctx = settings_input::SettingsContext {
            chat_models: &chat_models,
            resolve: &resolve,
        };
        let settings = settings_input::apply(&self.assistant.settings(), input, &ctx)?;
        settings.save(&self.paths().settings_file())?;
        let stored = settings.clone();
        self.assistant.update_settings(move |s| *s = stored);
        Ok(settings)
    }

    /// Stores the configured endpoint's API key in the OS keyring (the backend must be an
    /// endpoint whose `api_key_from` is `keyring`); returns the backend as `models` shows it.
    pub fn set_backend_key(&self, key: &str) -> Result<BackendInfo> {
        let backend = self.keyring_backend()?;
        if let Backend::Openai { base_url, .. } = &backend {
            crate::backend_key::store(base_url, key)?;
        }
        Ok(BackendInfo::of(&backend))
    }

    /// Removes the configured endpoint's API key from the OS keyring (nothing to remove is fine).
    pub fn delete_backend_key(&self) -> Result<BackendInfo> {
        let backend = self.keyring_backend()?;
        if let Backend::Openai { base_url, .. } = &backend {
            crate::backend_key::delete(base_url)?;
        }
        Ok(BackendInfo::of(&backend))
    }

    fn keyring_backend(&self) -> Result<Backend> {
        let backend = self.assistant.settings().backend;
        match &backend {
            Backend::Openai {
                api_key_from: crate::KeySource::Keyring,
                ..
            } => Ok(backend),
            _ => Err(Error::invalid(
                "backend.api_key_from",
                "the key goes into the OS keyring only for an endpoint whose key is read from there: save the backend with api_key_from \"keyring\" first",
            )),
        }
    }

    /// How the chat model splits `text` into tokens (at most 32 KiB; no BOS).
    pub fn tokenize(&self, text: &str) -> Result<Vec<TokenInfo>> {
        if text.len() > validate::MAX_TEXT_BYTES {
            return Err(Error::invalid(
                "text",
                format!(
                    "{} bytes is over the limit of {}",
                    text.len(),
                    validate::MAX_TEXT_BYTES
                ),
            ));
        }
        self.models
            .tokenizer(&self.assistant.chat_model_path())?
            .tokenize(text)
    }
}
