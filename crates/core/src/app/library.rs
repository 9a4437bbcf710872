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
    /// The whole document, as it is on disk now.
    pub text: String,
    pub line_start: usize,
    pub line_end: usize,
    /// The file changed since it was indexed: line numbers may be off.
    pub changed: bool,
}

#[derive(Debug, Clone)]
enum Pending {
    Queued,
    Indexing,
    Failed(String),
}

/// Files of this session that are not (yet, or no longer) plainly indexed.
#[derive(Default)]
pub(crate) struct LibraryState {
    pending: Mutex<BTreeMap<String, Pending>>,
}

impl LibraryState {
    fn set(&self, path: &std::path::Path, state: Option<Pending>) {
        let key = path.to_string_lossy().into_owned();
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        match state {
            Some(s) => {
                pending.insert(key, s);
            }
            None => {
                pending.remove(&key);
            }
        }
    }

    fn snapshot(&self) -> BTreeMap<String, Pending> {
        self.pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn track(&self, event: &IngestEvent) {
        match event {
            IngestEvent::Planned { .. } => {}
            IngestEvent::Indexing { path } => self.set(path, Some(Pending::Indexing)),
            IngestEvent::Indexed { path, .. } | IngestEvent::Unchanged { path } => {
                self.set(path, None)
            }
            IngestEvent::Failed { path, error } => {
                self.set(path, Some(Pending::Failed(error.clone())))
            }
        }
    }
}

fn to_library_event(event: IngestEvent) -> LibraryEvent {
    let s = |p: PathBuf| p.to_string_lossy().into_owned();
    match event {
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
    }
}

impl App {
    /// Indexed documents (by path) with the files of this session that are queued, being indexed
    /// or failed.
    pub fn list_documents(&self) -> Result<Vec<DocumentEntry>> {
        let mut pending = self.library.snapshot();
        let mut out = Vec::new();
        for doc in self.assistant.index().documents()? {
            let (status, error) = match pending.remove(&doc.path) {
                None => ("indexed", None),
                Some(Pending::Queued) => ("queued", None),
                Some(Pending::Indexing) => ("indexing", None),
                // Re-indexing failed: the earlier version is still searchable.
                Some(Pending::Failed(e)) => ("failed", Some(e)),
            };
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
        for (path, state) in pending {
            let (status, error) = match state {
                Pending::Queued => ("queued", None),
                Pending::Indexing => ("indexing", None),
                Pending::Failed(e) => ("failed", Some(e)),
            };
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
    /// then `finished` (or `error`). `Err` (nothing emitted) for bad paths, a folder with nothing
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
        let (files, skipped) = ingest::discover(&roots)?;
        for f in &files {
            self.library.set(f, Some(Pending::Queued));
        }
        let started = Instant::now();
        let result = self
            .assistant
            .ingest_files(files.clone(), skipped, false, &mut |event| {
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
                for f in &files {
                    if matches!(
                        self.library.snapshot().get(&*f.to_string_lossy()),
                        Some(Pending::Queued | Pending::Indexing)
                    ) {
                        self.library.set(f, Some(Pending::Failed(e.to_string())));
                    }
                }
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
        let was_pending = self.library.snapshot().contains_key(&key);
        let removed = {
            let mut index = self.assistant.index_mut();
            let removed = index.remove_document(&key)?;
            if removed {
                index.commit()?;
            }
            removed
        };
        self.library.set(&path, None);
        if removed || was_pending {
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
            || self.library.snapshot().contains_key(&key);
        if !known {
            return Err(not_in_library(&key));
        }
        let _slot = self.runs.begin_ingest()?;
        let started = Instant::now();
        let report = self
            .assistant
            .ingest_files(vec![path], Vec::new(), true, &mut |event| {
                self.library.track(&event)
            })?;
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
        let loaded = ingest::load_document(&path, settings.max_document_bytes)?;
        let lines = loaded.text.lines().count().max(1);
        let line_end = line_end.min(lines);
        Ok(DocumentText {
            path: key,
            title: doc.title,
            changed: loaded.content_hash != doc.content_hash,
            text: loaded.text,
            line_start: line_start.min(line_end),
            line_end,
        })
    }
}

fn not_in_library(path: &str) -> Error {
    Error::not_found(format!("{} is not in the library", validate::clip(path)))
}
