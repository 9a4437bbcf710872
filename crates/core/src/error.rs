use std::path::PathBuf;

pub type Result<T> = std::result::Result<T, Error>;

/// Every message is one line that names the file, field or limit involved.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Engine(#[from] almanac_engine::Error),
    #[error(transparent)]
    Index(#[from] almanac_indexes::Error),
    #[error(transparent)]
    Document(#[from] almanac_documents::Error),
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: not valid UTF-8 text (first invalid byte at offset {offset}); only UTF-8 text is supported for now", path.display())]
    NotUtf8 { path: PathBuf, offset: usize },
    #[error("{}: looks like a binary file (it contains NUL bytes), not text", path.display())]
    Binary { path: PathBuf },
    #[error("{}: {size} bytes is over the {limit}-byte limit for one document", path.display())]
    TooLarge {
        path: PathBuf,
        size: u64,
        limit: u64,
    },
    #[error("{}: unsupported file type; supported: {}", path.display(), crate::ingest::extension_list(", "))]
    Unsupported { path: PathBuf },
    #[error("no {} files found in {}", crate::ingest::extension_list(" or "), path.display())]
    NothingToIngest { path: PathBuf },
    #[error("settings file {}: {message}", path.display())]
    Settings { path: PathBuf, message: String },
    #[error("model file {} not found; run scripts/install-models.sh or set ALMANAC_MODELS_DIR", path.display())]
    ModelMissing { path: PathBuf },
    #[error("the question has {tokens} tokens but the model's context window is {limit} tokens, {reserved} of which are kept for the answer")]
    QuestionTooLong {
        tokens: usize,
        limit: usize,
        reserved: usize,
    },
    #[error("the question is empty")]
    EmptyQuestion,
    /// A caller's argument is out of its limits or of the wrong kind; `field` names it.
    #[error("{field}: {message}")]
    InvalidArgument { field: String, message: String },
    #[error("{what}")]
    NotFound { what: String },
    /// Another run of the same kind is in progress (one answer, one ingestion at a time).
    #[error("{0}")]
    Busy(String),
    /// The request cannot be carried out in the current state (e.g. nothing to regenerate).
    #[error("{0}")]
    Conflict(String),
    #[error("web search is on but no search provider is configured: set web_search_url in the settings (a SearxNG instance)")]
    WebUnavailable,
    #[error(transparent)]
    Web(#[from] almanac_fetch::Error),
    /// A model download or catalogue lookup failed.
    #[error(transparent)]
    Models(#[from] almanac_models::Error),
    /// The chat model would not fit in the memory free now (the message names what it needs).
    #[error("{message}")]
    NotEnoughMemory { message: String },
    /// One document could not be indexed (re-indexing it failed).
    #[error("{message}")]
    DocumentFailed { message: String },
    /// The OS keyring could not give or keep an endpoint's API key.
    #[error("OS keyring, API key of {url}: {detail}")]
    Keyring { url: String, detail: String },
    #[error("conversation store {}: {message}", path.display())]
    Store { path: PathBuf, message: String },
    #[error("ingestion queue {}: {message}", path.display())]
    Queue { path: PathBuf, message: String },
    /// The library's vectors come from another embedding model than the configured one.
    #[error("library {}: its vectors are from the embedding model {recorded}, but the embedding_model setting names {configured}: run `almanac library embedder {configured}` to re-embed the library with it, or set embedding_model back to {recorded}", library.display())]
    EmbedderMismatch {
        library: PathBuf,
        recorded: String,
        configured: String,
    },
}

impl Error {
    /// A stable machine-readable code for the `{code, message}` shape at IPC and HTTP boundaries.
    pub fn code(&self) -> &'static str {
        match self {
            Error::Engine(_) => "engine",
            Error::Index(_) => "index",
            Error::Document(e) => match e.code() {
                "too_large" => "document_too_large",
                _ => "bad_document",
            },
            Error::Io { .. } => "io",
            Error::NotUtf8 { .. } | Error::Binary { .. } | Error::Unsupported { .. } => {
                "bad_document"
            }
            Error::TooLarge { .. } => "document_too_large",
            Error::NothingToIngest { .. } => "nothing_to_ingest",
            Error::Settings { .. } => "bad_settings",
            Error::ModelMissing { .. } => "model_missing",
            Error::QuestionTooLong { .. } => "question_too_long",
            Error::EmptyQuestion => "empty_question",
            Error::InvalidArgument { .. } => "invalid_argument",
            Error::NotFound { .. } => "not_found",
            Error::Busy(_) => "busy",
            Error::Conflict(_) => "conflict",
            Error::DocumentFailed { .. } => "document_failed",
            Error::WebUnavailable => "web_unavailable",
            Error::Web(_) => "web",
            Error::Models(e) => models_code(e),
            Error::NotEnoughMemory { .. } => "not_enough_memory",
            Error::Store { .. } | Error::Queue { .. } => "storage",
            Error::EmbedderMismatch { .. } => "embedder_mismatch",
            Error::Keyring { .. } => "keyring",
        }
    }

    /// The setting or argument a refusal is about (`backend.base_url`), so a form can show the
    /// message beside that field.
    pub fn field(&self) -> Option<&str> {
        match self {
            Error::InvalidArgument { field, .. } => Some(field),
            Error::Models(almanac_models::Error::Invalid { field, .. }) => Some(field),
            _ => None,
        }
    }

    /// `{code, message}` (and `field` for a refused argument), the shape every front end shows.
    pub fn to_json(&self) -> serde_json::Value {
        let mut json = serde_json::json!({ "code": self.code(), "message": self.to_string() });
        if let Some(field) = self.field() {
            json["field"] = field.into();
        }
        json
    }

    pub(crate) fn invalid(field: impl Into<String>, message: impl Into<String>) -> Error {
        Error::InvalidArgument {
            field: field.into(),
            message: message.into(),
        }
    }

    pub(crate) fn not_found(what: impl Into<String>) -> Error {
        Error::NotFound { what: what.into() }
    }

    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io { path, source }
    }
}

fn models_code(e: &almanac_models::Error) -> &'static str {
    use almanac_models::Error as M;
    match e {
        M::UnknownModel { .. } | M::RepoNotFound { .. } | M::FileNotFound { .. } => "not_found",
        M::Invalid { .. } => "invalid_argument",
        M::Gated { .. } => "gated",
        M::DiskFull { .. } => "disk_full",
        M::Checksum { .. } => "checksum_mismatch",
        M::Cancelled { .. } => "cancelled",
        M::NoChecksum { .. } | M::Http { .. } | M::Transport { .. } | M::Protocol { .. } => {
            "download_failed"
        }
        M::Io { .. } => "io",
    }
}
