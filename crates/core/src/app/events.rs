//! The events the service streams to a front end, in the shape of the UI contract (ui/README.md):
//! JSON objects tagged by `"event"`, ids as strings. Both the desktop shell (a Tauri channel) and
//! `almanac serve` (Server-Sent Events) send these values as they are.

use serde::Serialize;

use crate::{AnsweredSentence, Error, Evidence, Retrieval, StopReason, Timings};

/// An answer run: `Started` first, `Sources` once, `Evidence` once, `Token`s, then exactly one of
/// `Done` or `Error`.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum RunEvent {
    Started {
        run_id: String,
        conversation_id: String,
        message_id: String,
        /// The model writing the answer: the GGUF file name, or the endpoint's model name.
        model: String,
    },
    /// The same [`Retrieval`] that `ask --json` prints: one shape for every front end.
    Sources {
        retrieval: Retrieval,
    },
    /// Quotes of the passages that best answer the question ([`crate::Grounding`]).
    Evidence {
        evidence: Vec<Evidence>,
    },
    Token {
        text: String,
    },
    Done {
        stop_reason: StopReason,
        /// The model's own `[n]`.
        cited: Vec<usize>,
        /// The sources Almanac attributed the answer's sentences to.
        attributed: Vec<usize>,
        sentences: Vec<AnsweredSentence>,
        timings: Timings,
        /// The answer as stored, when it is not the tokens' text joined: after a `repetition` stop
        /// the repeats are dropped.
        #[serde(skip_serializing_if = "Option::is_none")]
        text: Option<String>,
    },
    Error {
        code: String,
        message: String,
    },
}

impl RunEvent {
    pub fn error(e: &Error) -> RunEvent {
        RunEvent::Error {
            code: e.code().into(),
            message: e.to_string(),
        }
    }

    /// `Done` or `Error`: nothing follows it.
    pub fn is_terminal(&self) -> bool {
        matches!(self, RunEvent::Done { .. } | RunEvent::Error { .. })
    }
}

/// An ingestion run: `Planned` first, per file `Indexing` then one of `Indexed`, `Unchanged` or
/// `Failed`, `Progress` now and then, and last exactly one of `Finished` or `Error`.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum LibraryEvent {
    /// The empty library is built with this embedding model: most incoming documents are Chinese,
    /// Japanese or Korean (`installed: false`: it would be, but the model is not installed).
    EmbedderChosen {
        model: String,
        installed: bool,
    },
    Planned {
        files: usize,
        skipped: Vec<String>,
    },
    Indexing {
        path: String,
    },
    Indexed {
        path: String,
        chunks: usize,
    },
    Unchanged {
        path: String,
    },
    Failed {
        path: String,
        error: String,
    },
    /// The file is gone from disk; its document left the library.
    Removed {
        path: String,
    },
    /// The watcher follows this folder from now on (`/api/library/changes` only).
    Following {
        path: String,
    },
    /// Chunks embedded so far, per second, and the seconds left (`None` while unknown).
    Progress {
        chunks: usize,
        chunks_per_second: f64,
        seconds_left: Option<f64>,
    },
    Finished(LibraryReport),
    Error {
        code: String,
        message: String,
    },
}

impl LibraryEvent {
    pub fn is_terminal(&self) -> bool {
        matches!(self, LibraryEvent::Finished(_) | LibraryEvent::Error { .. })
    }
}

/// The summary of an ingestion run (`finished` event, re-index answer).
#[derive(Debug, Clone, Default, Serialize)]
pub struct LibraryReport {
    pub files: usize,
    pub indexed: usize,
    pub unchanged: usize,
    pub failed: usize,
    pub skipped: usize,
    pub chunks: usize,
    /// Documents and chunks in the library afterwards.
    pub documents_total: usize,
    pub chunks_total: usize,
    pub elapsed_ms: f64,
}
