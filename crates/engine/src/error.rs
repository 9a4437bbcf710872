//! The crate's one error type. Every message is a single line that names the file or the limit
//! involved, so callers can show it to a user as is.

use std::path::PathBuf;

pub type Result<T> = std::result::Result<T, Error>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("model file {path} does not exist")]
    ModelNotFound { path: PathBuf },

    #[error("model file {path} could not be read: {reason}")]
    Io { path: PathBuf, reason: String },

    #[error("model file {path} is not a GGUF file: bad magic")]
    NotGguf { path: PathBuf },

    #[error("model file {path} is truncated: {detail}")]
    Truncated { path: PathBuf, detail: String },

    #[error("model file {path} changed while it was being loaded ({before} bytes when opened, {after} now): load it again once it is complete")]
    ChangedWhileLoading {
        path: PathBuf,
        before: u64,
        after: u64,
    },

    #[error("model file {path} is corrupt: {detail}")]
    Corrupt { path: PathBuf, detail: String },

    #[error(
        "model file {path} has architecture \"{architecture}\" but only \"llama\" is supported"
    )]
    UnsupportedArchitecture { path: PathBuf, architecture: String },

    #[error(
        "model file {path} has no chat template (tokenizer.chat_template) and none is configured"
    )]
    NoChatTemplate { path: PathBuf },

    #[error("chat template error: {0}")]
    ChatTemplate(String),

    #[error("tokenizer: {0}")]
    Tokenizer(String),

    #[error("tokenizer: pre-tokenizer \"{0}\" (tokenizer.ggml.pre) is not supported")]
    UnsupportedPreTokenizer(String),

    #[error("tokenizer: model type \"{0}\" (tokenizer.ggml.model) is not supported")]
    UnsupportedTokenizerModel(String),

    #[error("prompt has {tokens} tokens but the model's context window is {limit}")]
    ContextOverflow { tokens: usize, limit: usize },

    #[error("invalid generation parameter: {0}")]
    InvalidParams(String),

    #[error("not supported: {0}")]
    Unsupported(String),

    #[error("inference failed: {0}")]
    Inference(String),

    #[error("generation backend {url}: {detail}")]
    Backend { url: String, detail: String },

    /// The endpoint refused the messages because its chat template did (a system message after
    /// the first, roles out of turn): the caller may send them in another layout.
    #[error("generation backend {url}: {detail}")]
    BackendTemplate { url: String, detail: String },

    #[error("embedding model {path} is not usable: {detail}")]
    EmbeddingModel { path: PathBuf, detail: String },
}

/// Flattens a library error (which may carry a backtrace or several lines) into one line.
pub(crate) fn one_line(err: impl std::fmt::Display) -> String {
    let text = err.to_string();
    let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
    let first = lines.next().unwrap_or("unknown error").to_string();
    // Candle appends backtraces and context on later lines; the first line is the message.
    first
}

impl From<candle_core::Error> for Error {
    fn from(err: candle_core::Error) -> Self {
        Error::Inference(one_line(err))
    }
}
