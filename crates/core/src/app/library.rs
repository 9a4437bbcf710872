//! The document library as the UI sees it: documents with a per-file status (the catalog holds the
//! indexed ones; files queued, being indexed or failed in this session are kept in memory), adding
//! files and folders with progress events, removing, re-indexing, and a document's text for the
//! passage view (only for documents in the library).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Instant;

use serde::Serialize;

use super::events::{LibraryEvent, LibraryReport};
use super::{validate, App};
use crate::{ingest, Error, IngestEvent, IngestReport, Result};

#[derive(Debug, Clone, Serialize)]
pub struct DocumentEntry {
    pub path: String,
    pub title: String,
    /// "queued", "indexing", "indexed" or "failed".
    pub status: String,
    pub error: Option<String>,
    pub chunks: usize,
    /// When the indexed version was stored (RFC 3339), for indexed documents.
    pub indexed_at: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DocumentText {
    pub path: String,
    pub title: String,
    /// The whole document as read now: the file's text, or for PDF, DOCX, HTML and EPUB the text
    /// converted from it (which the line numbers refer to).
    pub text: String,
    pub line_start: usize,
    pub line_end: usize,
    /// The file changed since it was indexed: line numbers may be off.
    pub changed: bool,
    /// The PDF page the highlighted lines are on.
    pub page: Option<u32>,
    /// "PDF", "DOCX", "Markdown file", …
    pub format: String,
}

/// The file being indexed now, if any (queued and failed statuses are in the persistent queue).
#[derive(Default)]
pub(crate) struct LibraryState {
    indexing: Mutex<Option<String>>,
}

impl LibraryState {
    pub(super) fn track(&self, event: &IngestEvent) {
        let mut now = self.indexing.lock().unwrap_or_else(|e| e.into_inner());
        match event {
            IngestEvent::Indexing { path } => *now = Some(path.to_string_lossy().into_owned()),
            IngestEvent::Indexed { .. } | IngestEvent::Failed { .. } => *now = None,
            _ => {}
        }
    }

    fn indexing(&self) -> Option<String> {
        self.indexing
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

pub(super) fn to_library_event(event: IngestEvent) -> LibraryEvent {
    let s = |p: PathBuf| p.to_string_lossy().into_owned();
    match event {
        IngestEvent::EmbedderChosen { model, installed } => {
            LibraryEvent::EmbedderChosen { model, installed }
        }
        IngestEvent::Planned { files, skipped } => LibraryEvent::Planned {
            files,
            skipped: skipped.into_iter().map(s).collect(),
        },
        IngestEvent::Indexing { path } => LibraryEvent::Indexing { path: s(path) },
        IngestEvent::Indexed { path, chunks } => LibraryEvent::Indexed {
            path: s(path),
            chunks,
        },
        IngestEvent::Unchanged { path } => LibraryEvent::Unchanged { path: s(path) },
        IngestEvent::Failed { path, error } => LibraryEvent::Failed {
            path: s(path),
            error,
        },
        IngestEvent::Removed { path } => LibraryEvent::Removed { path: s(path) },
        IngestEvent::Following { path } => LibraryEvent::Following { path: s(path) },
        IngestEvent::Progress {
            chunks,
            chunks_per_second,
            seconds_left,
        } => LibraryEvent::Progress {
            chunks,
            chunks_per_second,
            seconds_left,
        },
    }
}

impl App {
    /// Indexed documents (by path) with every file that is queued, being indexed or failed; the
    /// statuses are kept in the library's queue, so they survive a restart.
    pub fn list_documents(&self) -> Result<Vec<DocumentEntry>> {
        let mut statuses: BTreeMap<String, crate::FileStatus> = self
            .assistant
            .queue()
            .statuses()?
            .into_iter()
            .map(|s| (s.path.clone(), s))
            .collect();
        let indexing = self.library.indexing();
        let status_of =
            |path: &str, queued: Option<&crate::FileStatus>| -> (&'static str, Option<String>) {
                if indexing.as_deref() == Some(path) {
                    return ("indexing", None);
                }
                match queued {
                    Some(s) if s.status == "queued" => ("queued", None),
                    // Re-indexing failed: an earlier version may still be searchable.
                    Some(s) if s.status == "failed" => ("failed", s.error.clone()),
                    _ => ("indexed", None),
                }
            };
        let mut out = Vec::new();
        for doc in self.assistant.index().documents()? {
            let queued = statuses.remove(&doc.path);
            let (status, error) = status_of(&doc.path, queued.as_ref());
            out.push(DocumentEntry {
                indexed_at: chrono::DateTime::from_timestamp(doc.indexed_at, 0)
                    .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
                path: doc.path,
                title: doc.title,
                status: status.into(),
                error,
                chunks: doc.chunk_count,
            });
        }
        for (path, state) in statuses {
            if state.status == "indexed" {
                continue; // indexed, then removed from the catalog: not in the library
            }
            let (status, error) = status_of(&path, Some(&state));
            out.push(DocumentEntry {
                title: std::path::Path::new(&path)
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                path,
                status: status.into(),
                error,
                chunks: 0,
                indexed_at: None,
            });
        }
        out.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(out)
    }

    /// Adds files and folders (walked; hidden entries skipped; unsupported files reported as
    /// skipped). Emits `planned`, per file `indexing` and one of `indexed`/`unchanged`/`failed`,
    /// `progress` (chunks/s, time left) now and then, then `finished` (or `error`). `Err` (nothing emitted) for bad paths, a folder with nothing
    /// to index, or `busy` while another ingestion runs. Returns the report, `None` when the run
    /// ended in an `error` event.
    pub fn add_documents(
        &self,
        paths: &[String],
        on_event: &mut dyn FnMut(LibraryEvent),
    ) -> Result<Option<LibraryReport>> {
        if paths.is_empty() || paths.len() > validate::MAX_PATHS {
            return Err(Error::invalid(
                "paths",
                format!("must list 1 to {} paths", validate::MAX_PATHS),
            ));
        }
        let roots = paths
            .iter()
            .enumerate()
            .map(|(i, p)| validate::existing_path(&format!("paths[{i}]"), p))
            .collect::<Result<Vec<_>>>()?;
        let _slot = self.runs.begin_ingest()?;
        // Folders are remembered: the library follows them (`sync`, `watch`).
        ingest::discover(&roots)?;
        let started = Instant::now();
        let result = self.assistant.add_folders(&roots, &mut |event| {
            self.library.track(&event);
            on_event(to_library_event(event));
        });
        match result {
            Ok(report) => {
                let report = self.library_report(&report, started)?;
                on_event(LibraryEvent::Finished(report.clone()));
                Ok(Some(report))
            }
            Err(e) => {
                self.library.track(&IngestEvent::Indexed {
                    path: PathBuf::new(),
                    chunks: 0,
                });
                on_event(LibraryEvent::Error {
                    code: e.code().into(),
                    message: e.to_string(),
                });
                Ok(None)
            }
        }
    }

    fn library_report(&self, report: &IngestReport, started: Instant) -> Result<LibraryReport> {
        let stats = self.assistant.index().stats()?;
        Ok(LibraryReport {
            files: report.indexed + report.unchanged + report.failed.len(),
            indexed: report.indexed,
            unchanged: report.unchanged,
            failed: report.failed.len(),
            skipped: report.skipped.len(),
            chunks: report.chunks,
            documents_total: stats.documents,
            chunks_total: stats.chunks,
            elapsed_ms: started.elapsed().as_secs_f64() * 1000.0,
        })
    }

    /// Removes a document (or a failed entry) from the library. `not_found` when it is not there.
    pub fn remove_document(&self, path: &str) -> Result<()> {
        let path = validate::absolute_path("path", path)?;
        let key = path.to_string_lossy().into_owned();
        let removed = self.assistant.remove_path(&key)?;
        if removed {
            self.assistant.index_mut().commit()?;
            Ok(())
        } else {
            Err(not_in_library(&key))
        }
    }

    /// Indexes one library document again, even if unchanged. `document_failed` when it cannot
    /// be (the earlier version, if any, stays).
    pub fn reindex_document(&self, path: &str) -> Result<LibraryReport> {
        let path = validate::absolute_path("path", path)?;
        let key = path.to_string_lossy().into_owned();
        let known = self.assistant.index().document_by_path(&key)?.is_some()
            || self.assistant.queue().status(&key)?.is_some();
        if !known {
            return Err(not_in_library(&key));
        }
        let _slot = self.runs.begin_ingest()?;
        let started = Instant::now();
        let found = ingest::Discovered {
            files: vec![path],
            ..Default::default()
        };
        let report = self
            .assistant
            .ingest_found(found, true, &mut |event| self.library.track(&event))?;
        if let Some((_, error)) = report.failed.first() {
            return Err(Error::DocumentFailed {
                message: error.clone(),
            });
        }
        self.library_report(&report, started)
    }

    /// The text of a library document for the passage view, with the lines to highlight. Only
    /// documents in the library can be read this way: any other path is `not_found`.
    pub fn get_document(
        &self,
        path: &str,
        line_start: usize,
        line_end: usize,
    ) -> Result<DocumentText> {
        let path = validate::absolute_path("path", path)?;
        let (line_start, line_end) = validate::line_range(line_start, line_end)?;
        let key = path.to_string_lossy().into_owned();
        let doc = self
            .assistant
            .index()
            .document_by_path(&key)?
            .ok_or_else(|| not_in_library(&key))?;
        let settings = self.assistant.settings();
        let (loaded, hash) = ingest::read_document(self.assistant.parser(), &path, &settings)?;
        let lines = loaded.text.lines().count().max(1);
        let line_end = line_end.min(lines);
        let line_start = line_start.min(line_end);
        // The page holding the highlighted lines, for PDFs.
        let page = loaded
            .sections
            .iter()
            .take_while(|s| s.first_line <= line_start)
            .last()
            .and_then(|s| match s.origin {
                almanac_documents::Origin::Page { page } => Some(page),
                _ => None,
            });
        Ok(DocumentText {
            path: key,
            title: doc.title,
            changed: hash != doc.content_hash,
            text: loaded.text,
            line_start,
            line_end,
            page,
            format: loaded.format.name().into(),
        })
    }
}

fn not_in_library(path: &str) -> Error {
    Error::not_found(format!("{} is not in the library", validate::clip(path)))
}
