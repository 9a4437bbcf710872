use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// User settings, stored as `settings.json` in the data directory. Every field is optional in the file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// GGUF chat model: a path, or a file name inside the models directory.
    pub chat_model: PathBuf,
    /// Folder with a BERT-family model.safetensors, config.json and tokenizer.json.
    pub embedding_model: PathBuf,
    /// An empty library whose first documents are mostly Chinese, Japanese or Korean is built with
    /// the multilingual embedder instead (see `embedder_choice`).
    pub auto_embedder: bool,
    /// Used when the GGUF carries no `tokenizer.chat_template`.
    pub chat_template: Option<String>,
    pub context_length: usize,
    pub max_answer_tokens: usize,
    pub temperature: f64,
    pub top_p: Option<f64>,
    pub top_k: Option<usize>,
    pub repeat_penalty: f64,
    pub seed: u64,
    pub system_prompt: Option<String>,
    /// Passages put into the prompt at most.
    pub sources: usize,
    /// Passages whose cosine similarity to the question is below this are not used.
    pub min_similarity: f64,
    pub chunk_tokens: usize,
    pub chunk_overlap_tokens: usize,
    pub max_document_bytes: u64,
    /// Pages of one PDF at most.
    pub max_pages: usize,
    /// Bytes unpacked from one DOCX or EPUB at most (zip bombs).
    pub max_unpacked_bytes: u64,
    /// Wall-clock seconds for parsing one file, in its worker process.
    pub parse_timeout_secs: u64,
    /// Address space of a parser worker process, MiB.
    pub parse_memory_mib: u64,
    /// A SearxNG instance for web search (its JSON API); none is contacted while this is unset.
    pub web_search_url: Option<String>,
    /// Search results fetched per question.
    pub web_results: usize,
    /// A fetched page is reused for this long before it is fetched again.
    pub web_cache_max_age_hours: u64,
    /// Hosts and CIDR ranges the fetcher may reach although the guard refuses them by default
    /// (loopback, private networks…); also `--allow-host` and `ALMANAC_FETCH_ALLOW`.
    pub web_allow: Vec<String>,
    /// A proxy for fetching (`http://…`, `socks5://…`); the system proxy is never used silently.
    pub web_proxy: Option<String>,
    /// Most bytes of one page, counted after decompression.
    pub web_max_page_bytes: u64,
    /// Longest time for fetching one page, redirects included.
    pub web_timeout_s: u64,
    /// Where answers are generated: the local GGUF (`chat_model`) or an OpenAI-compatible endpoint.
    pub backend: Backend,
}

/// The chat backend. An endpoint's API key is never stored here: it is read, when a question is
/// answered, from the environment variable `api_key_env` names (`ALMANAC_BACKEND_KEY` by default)
/// or from the OS keyring (`api_key_from: "keyring"`, see [`crate::backend_key`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Backend {
    #[default]
    Local,
    Openai {
        /// Up to and including `/v1`, e.g. `http://gpu-box:8000/v1`.
        base_url: String,
        /// The model name the endpoint serves.
        #[serde(default = "default_backend_model")]
        model: String,
        /// The endpoint's context window (it has no standard way to say it).
        #[serde(default = "default_backend_context")]
        context_length: usize,
        /// Where the key is read from.
        #[serde(default)]
        api_key_from: KeySource,
        /// The environment variable holding the key (with `api_key_from: "env"`).
        #[serde(default = "default_backend_key_env")]
        api_key_env: String,
        /// Longest wait for the first byte of an answer, and between two streamed chunks.
        #[serde(default = "default_backend_timeout")]
        timeout_s: u64,
    },
}

pub const BACKEND_KEY_ENV: &str = "ALMANAC_BACKEND_KEY";

/// Where an endpoint's API key comes from; never from settings.json.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum KeySource {
    /// An environment variable of the process (`api_key_env`); unset means no key is sent.
    #[default]
    Env,
    /// The OS keyring (Secret Service on Linux, Keychain on macOS, Credential Manager on
    /// Windows), one entry per endpoint URL.
    Keyring,
}

impl Backend {
    /// An endpoint with the defaults for what is not given (the model name and context length).
    pub fn openai(base_url: &str, model: Option<&str>) -> Backend {
        Backend::Openai {
            base_url: base_url.trim_end_matches('/').to_owned(),
            model: model.map_or_else(default_backend_model, str::to_owned),
            context_length: default_backend_context(),
            api_key_from: KeySource::Env,
            api_key_env: default_backend_key_env(),
            timeout_s: default_backend_timeout(),
        }
    }
}

fn default_backend_model() -> String {
    "default".into()
}

fn default_backend_context() -> usize {
    4096
}

fn default_backend_key_env() -> String {
    BACKEND_KEY_ENV.into()
}

fn default_backend_timeout() -> u64 {
    120
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            chat_model: PathBuf::from("SmolLM2-135M-Instruct.Q4_1.gguf"),
            embedding_model: PathBuf::from("all-MiniLM-L6-v2"),
            auto_embedder: true,
            chat_template: None,
            context_length: 2048,
            max_answer_tokens: 256,
            temperature: 0.0,
            top_p: None,
            top_k: None,
            repeat_penalty: 1.0,
            seed: 42,
            system_prompt: None,
            sources: 4,
            min_similarity: 0.2,
            chunk_tokens: 200,
            chunk_overlap_tokens: 40,
            max_document_bytes: 20 * 1024 * 1024,
            max_pages: 2000,
            max_unpacked_bytes: 200 * 1024 * 1024,
            parse_timeout_secs: 60,
            parse_memory_mib: 2048,
            web_search_url: None,
            web_results: 3,
            web_cache_max_age_hours: 24,
            web_allow: Vec::new(),
            web_proxy: None,
            web_max_page_bytes: 5 * 1024 * 1024,
            web_timeout_s: 30,
            backend: Backend::Local,
        }
    }
}

impl Settings {
    /// The context window answers are generated in: the local model's, or the remote backend's.
    pub fn answer_context_length(&self) -> usize {
        match &self.backend {
            Backend::Local => self.context_length,
            Backend::Openai { context_length, .. } => *context_length,
        }
    }

    /// Reads the settings file if there is one; defaults otherwise.
    pub fn load(path: &Path) -> Result<Settings> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Settings::default()),
            Err(e) => return Err(Error::io(path)(e)),
        };
        serde_json::from_str(&text).map_err(|e| Error::Settings {
            path: path.to_path_buf(),
            message: e.to_string(),
        })
    }

    /// Writes the settings beside `path` and renames the file into place, so a crash never leaves a
    /// half-written settings file.
    pub fn save(&self, path: &Path) -> Result<()> {
        let json = serde_json::to_string_pretty(self).expect("settings serialise");
        crate::paths::write_atomically(path, json.as_bytes())
    }
}
