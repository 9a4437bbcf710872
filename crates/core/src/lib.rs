//! The assistant: ingestion, retrieval-augmented answering with citations, prompts, settings, events.
//!
//! This crate never prints: progress and answers reach the caller as events through callbacks,
//! so the command line, the desktop shell and the HTTP server all present the same facts.

mod answer_options;
mod app;
mod assistant;
pub mod backend_key;
mod citations;
pub mod downloads;
pub mod embedder_choice;
mod error;
mod events;
pub mod grounding;
mod ingest;
pub mod library_embedder;
mod paths;
mod prompt;
pub mod queue;
mod retrieval;
mod settings;
pub mod speed;
mod watch;
mod web;

pub use almanac_engine::{CancelFlag, ChatMessage, StopReason};
pub use almanac_fetch::Page as WebPage;
pub use almanac_indexes::{FieldWeights, Fusion, SearchMode};
pub use answer_options::{AnswerOptions, Sampling, Scope};
pub use app::*;
pub use assistant::{load_embedder, remote_endpoint, Answer, Assistant, ChatModelGuard, Timings};
pub use citations::cited_sources;
pub use error::{Error, Result};
pub use events::{AnswerEvent, IngestEvent};
pub use grounding::{
    AnsweredSentence, Attribution, Evidence, EvidenceWeights, Grounding, Support, Thresholds,
};
pub use ingest::{discover, Discovered, IngestReport, Parser, SUPPORTED_EXTENSIONS};
pub use library_embedder::ReembedProgress;
pub use queue::{FileStatus, Queue};

/// The parser worker process's whole life: a program calls this when started with the argument
/// `parse-worker` (see [`Parser::detect`]) and exits with the returned code.
pub fn run_parse_worker() -> i32 {
    almanac_documents::worker::run_child()
}
pub use paths::Paths;
pub use prompt::{FittedPrompt, PromptParts, SYSTEM_INSTRUCTIONS};
pub use retrieval::{widen, Passage, Retrieval};
pub use settings::{Backend, KeySource, Settings, BACKEND_KEY_ENV};
pub use web::{CachedPage, WebFailure, WebReport};

/// Locks `m` even when a thread panicked while holding it: one failed request must not disable the
/// app's shared state (caches, handles, the run table) for every later one.
pub(crate) fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
