//! The events the service streams to a front end, in the shape of the UI contract (ui/README.md):
//! JSON objects tagged by `"event"`, ids as strings. Both the desktop shell (a Tauri channel) and
//! `almanac serve` (Server-Sent Events) send these values as they are.

use serde::Serialize;

use crate::{Error, Passage, Retrieval, StopReason, Timings};

/// An answer run: `Started` first, `Sources` once, `Token`s, then exactly one of `Done` or `Error`.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum RunEvent {
    Started {
        run_id: String,
        conversation_id: String,
        message_id: String,
    },
    Sources {
        retrieval: RetrievalView,
    },
    Token {
        text: String,
    },
    Done {
        stop_reason: StopReason,
        cited: Vec<usize>,
        timings: Timings,
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
/// `Failed`, and last exactly one of `Finished` or `Error`.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum LibraryEvent {
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

/// What retrieval did, as the UI reads it: `snippet` is HTML (escaped text, query terms in `<b>`).
#[derive(Debug, Clone, Serialize)]
pub struct RetrievalView {
    pub used: bool,
    pub reason: Option<String>,
    pub query: String,
    pub library_chunks: usize,
    pub candidates: usize,
    pub min_similarity: f32,
    pub elapsed_ms: f64,
    pub passages: Vec<PassageView>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PassageView {
    pub n: usize,
    pub title: String,
    pub path: String,
    pub heading: String,
    pub line_start: usize,
    pub line_end: usize,
    /// Where the passage is, as a person reads it: `page 3`, `rows 10-24`, `Install > Linux (lines 5-9)`.
    pub location: String,
    /// The PDF page, for opening the document there.
    pub page: Option<u32>,
    /// HTML: escaped text with the query's terms in `<b>…</b>`.
    pub snippet: String,
    /// The same snippet as plain text.
    pub snippet_text: String,
    pub text: String,
    pub date: Option<String>,
    pub score: f32,
    pub bm25: Option<f32>,
    pub bm25_rank: Option<usize>,
    pub vector: Option<f32>,
    pub vector_rank: Option<usize>,
}

impl From<&Retrieval> for RetrievalView {
    fn from(r: &Retrieval) -> RetrievalView {
        RetrievalView {
            used: r.used,
            reason: r.reason.clone(),
            query: r.query.clone(),
            library_chunks: r.library_chunks,
            candidates: r.candidates,
            min_similarity: r.min_similarity,
            elapsed_ms: r.elapsed_ms,
            passages: r.passages.iter().map(PassageView::from).collect(),
        }
    }
}

impl From<&Passage> for PassageView {
    fn from(p: &Passage) -> PassageView {
        PassageView {
            n: p.n,
            title: p.title.clone(),
            path: p.path.clone(),
            heading: p.heading.clone(),
            line_start: p.line_start,
            line_end: p.line_end,
            location: p.location(),
            page: p.page,
            snippet: p.snippet_html.clone(),
            snippet_text: p.snippet.clone(),
            text: p.text.clone(),
            date: p.date.clone(),
            score: p.score,
            bm25: p.bm25,
            bm25_rank: p.bm25_rank,
            vector: p.vector,
            vector_rank: p.vector_rank,
        }
    }
}
