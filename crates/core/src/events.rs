use std::path::PathBuf;

use serde::Serialize;

use crate::retrieval::Retrieval;
use crate::{AnsweredSentence, Evidence, StopReason, Timings};

/// Progress of an ingestion run, one event per file.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum IngestEvent {
    /// The library, empty until now, is built with this embedding model because most of the
    /// documents about to come in are Chinese, Japanese or Korean (`crate::embedder_choice`);
    /// `installed: false` when that model is missing, so the library stays on the default one.
    EmbedderChosen {
        model: String,
        installed: bool,
    },
    Planned {
        files: usize,
        skipped: Vec<PathBuf>,
    },
    /// About to read this file.
    Indexing {
        path: PathBuf,
    },
    Indexed {
        path: PathBuf,
        chunks: usize,
    },
    Unchanged {
        path: PathBuf,
    },
    Failed {
        path: PathBuf,
        error: String,
    },
    /// The file is gone from disk, so its document left the library.
    Removed {
        path: PathBuf,
    },
    /// A watch follows this folder from now on: changes in it are seen.
    Following {
        path: PathBuf,
    },
    /// How fast the run goes: chunks embedded so far, per second since its work began, and the
    /// time left (`None` until a file has been parsed to estimate from). At most a few a second,
    /// and one when the work is done.
    Progress {
        chunks: usize,
        chunks_per_second: f64,
        seconds_left: Option<f64>,
    },
}

/// What an answer run emits, in order: `Sources` once, `Evidence` once, `Token` per text delta,
/// then `Done`.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum AnswerEvent {
    Sources {
        retrieval: Retrieval,
    },
    /// The passages' sentences and rows that best answer the question, whatever the model writes.
    Evidence {
        evidence: Vec<Evidence>,
    },
    Token {
        text: String,
    },
    Done {
        stop_reason: StopReason,
        /// The sources the model cited itself, as `[n]`.
        cited: Vec<usize>,
        /// The sources Almanac attributed the answer's sentences to (see `sentences`).
        attributed: Vec<usize>,
        /// The answer's sentences, each with the sources that support it.
        sentences: Vec<AnsweredSentence>,
        timings: Timings,
        /// The answer as kept, when it is not the tokens' text joined: after a `repetition` stop
        /// the repeats are dropped.
        #[serde(skip_serializing_if = "Option::is_none")]
        text: Option<String>,
    },
}
