//! The events the service streams to a front end, in the shape of the UI contract (ui/README.md):
//! JSON objects tagged by `"event"`, ids as strings. Both the desktop shell (a Tauri channel) and
//! `almanac serve` (Server-Sent Events) send these values as they are.

use serde::Serialize;

use crate::{AnswerEvent, Error};

/// An answer run: `Started` first, then the assistant's [`AnswerEvent`]s (`Sources` once,
/// `Evidence` once, `Token`s), then exactly one of `Done` (sent once the answer is stored) or
/// `Error`.
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
    Error {
        code: String,
        message: String,
    },
    /// Serialised as the answer event itself: its own `"event"` tag.
    #[serde(untagged)]
    Answer(AnswerEvent),
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
        matches!(
            self,
            RunEvent::Answer(AnswerEvent::Done { .. }) | RunEvent::Error { .. }
        )
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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn answer_events_inside_a_run_keep_their_own_tag() {
        let token = RunEvent::Answer(AnswerEvent::Token { text: "Hi".into() });
        assert_eq!(
            serde_json::to_value(&token).unwrap(),
            json!({"event": "token", "text": "Hi"})
        );
        let started = RunEvent::Started {
            run_id: "1".into(),
            conversation_id: "2".into(),
            message_id: "3".into(),
            model: "m.gguf".into(),
        };
        assert_eq!(serde_json::to_value(&started).unwrap()["event"], "started");
        let error = RunEvent::error(&Error::EmptyQuestion);
        assert_eq!(
            serde_json::to_value(&error).unwrap(),
            json!({"event": "error", "code": "empty_question", "message": "the question is empty"})
        );
        assert!(error.is_terminal() && !token.is_terminal() && !started.is_terminal());
    }
}
