//! Turning files on disk into indexed chunks: discover, queue, parse (in worker processes), chunk,
//! embed (in batches across documents), store, commit (in batches).
//!
//! The stages run at once, each on its own thread ([`pipeline`]): parse threads each drive one
//! worker process at a time ([`Parser`]), then chunking, embedding and storing. Every file's
//! outcome is recorded in the persistent [`Queue`], so a crash or restart resumes with the files
//! still queued; a file is marked indexed only after its document is durably in the catalog.

mod pipeline;
mod progress;
#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};
use std::sync::RwLock;
use std::time::Duration;

use almanac_documents::worker::{parse_in_worker, WorkerCommand};
use almanac_documents::{Document, Format, Limits, Origin};
use almanac_engine::Embedder;
use almanac_indexes::{
    chunk_text, ChunkDraft, ChunkingOptions, DocumentInput, Index, SourceText, TextKind,
    TokenCounter,
};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::queue::{Queue, Stamp};
use crate::{Error, IngestEvent, Result, Settings};

/// Extensions of the formats read, for messages (source code extensions are also read).
pub const SUPPORTED_EXTENSIONS: &[&str] = &["txt", "md", "html", "pdf", "docx", "epub", "csv"];

/// ".txt, .md, …", for messages.
pub(crate) fn extension_list(separator: &str) -> String {
    let mut names: Vec<String> = SUPPORTED_EXTENSIONS
        .iter()
        .map(|e| format!(".{e}"))
        .collect();
    names.push("source code".into());
    names.join(separator)
}

#[derive(Debug, Default, Clone, Serialize)]
pub struct IngestReport {
    pub indexed: usize,
    pub unchanged: usize,
    pub chunks: usize,
    pub failed: Vec<(PathBuf, String)>,
    /// Files found in folders but not of a supported type: reported, never silently dropped.
    pub skipped: Vec<PathBuf>,
}

/// How files are parsed: in a worker process (the normal case), or in this process when no worker
/// program is known (library tests).
#[derive(Debug, Clone)]
pub enum Parser {
    Worker(PathBuf),
    InProcess,
}

impl Parser {
    /// `ALMANAC_PARSE_WORKER` (a program that runs [`crate::run_parse_worker`] for the argument
    /// `parse-worker`), else this program when it is `almanac` or `almanac-desktop` (both do),
    /// else in-process.
    pub fn detect() -> Parser {
        if let Some(p) = std::env::var_os("ALMANAC_PARSE_WORKER").filter(|p| !p.is_empty()) {
            return Parser::Worker(p.into());
        }
        match std::env::current_exe() {
            Ok(exe)
                if matches!(
                    exe.file_stem().and_then(|s| s.to_str()),
                    Some("almanac" | "almanac-desktop")
                ) =>
            {
                Parser::Worker(exe)
            }
            _ => Parser::InProcess,
        }
    }

    pub fn parse(
        &self,
        path: &Path,
        settings: &Settings,
    ) -> std::result::Result<Document, almanac_documents::Error> {
        let limits = limits(settings);
        match self {
            Parser::Worker(program) => {
                let worker = WorkerCommand {
                    program: program.clone(),
                    args: vec!["parse-worker".into()],
                    memory_limit: settings.parse_memory_mib << 20,
                    timeout: Duration::from_secs(settings.parse_timeout_secs.max(1)),
                };
                parse_in_worker(&worker, path, &limits)
            }
            Parser::InProcess => almanac_documents::parse_file(path, &limits),
        }
    }
}

fn limits(settings: &Settings) -> Limits {
    Limits {
        max_file_bytes: settings.max_document_bytes,
        max_pages: settings.max_pages,
        max_unpacked_bytes: settings.max_unpacked_bytes,
    }
}

/// Files to ingest under the given paths (folders are walked following symbolic links, hidden
/// entries skipped), sorted. Returns the supported files, the unsupported ones found in folders,
/// and entries that could not be walked (symlink loops, unreadable folders) with their reason.
pub fn discover(paths: &[PathBuf]) -> Result<Discovered> {
    let mut found = Discovered::default();
    for path in paths {
        let meta = std::fs::metadata(path).map_err(Error::io(path))?;
        if meta.is_file() {
            // A file named explicitly is attempted whatever its type, so the user gets its error.
            found.files.push(path.clone());
            continue;
        }
        let before = found.files.len();
        let walker = walkdir::WalkDir::new(path)
            .follow_links(true)
            .sort_by_file_name()
            .into_iter();
        for entry in walker.filter_entry(|e| e.depth() == 0 || !is_hidden(e.file_name())) {
            let entry = match entry {
                Ok(entry) => entry,
                Err(e) => {
                    let at = e.path().unwrap_or(path).to_path_buf();
                    let reason = match e.loop_ancestor() {
                        Some(a) => format!(
                            "{}: symbolic link loop (back to {}), not followed",
                            at.display(),
                            a.display()
                        ),
                        None => format!(
                            "{}: cannot read: {}",
                            at.display(),
                            e.io_error()
                                .map_or_else(|| e.to_string(), |io| io.to_string())
                        ),
                    };
                    found.failed.push((at, reason));
                    continue;
                }
            };
            if !entry.file_type().is_file() {
                continue;
            }
            if Format::for_path(entry.path()).is_some() {
                found.files.push(entry.into_path());
            } else {
                found.skipped.push(entry.into_path());
            }
        }
        if found.files.len() == before && found.failed.is_empty() {
            return Err(Error::NothingToIngest { path: path.clone() });
        }
    }
    Ok(found)
}

/// What [`discover`] found.
#[derive(Debug, Default)]
pub struct Discovered {
    pub files: Vec<PathBuf>,
    pub skipped: Vec<PathBuf>,
    pub failed: Vec<(PathBuf, String)>,
}

fn is_hidden(name: &std::ffi::OsStr) -> bool {
    name.to_string_lossy().starts_with('.')
}

struct EmbedderTokens<'a>(&'a Embedder);

impl TokenCounter for EmbedderTokens<'_> {
    fn count_tokens(&self, text: &str) -> usize {
        self.0.count_tokens(text)
    }
}

/// Everything an ingestion run works with.
pub(crate) struct Ingest<'a> {
    pub index: &'a RwLock<Index>,
    pub embedder: &'a Embedder,
    pub settings: &'a Settings,
    pub parser: &'a Parser,
    pub queue: &'a Queue,
}

/// A file read and parsed (or found unchanged) by a parse thread.
enum Parsed {
    Unchanged {
        key: String,
        stamp: Stamp,
        hash: String,
    },
    Document {
        key: String,
        stamp: Stamp,
        hash: String,
        modified: Option<i64>,
        doc: Document,
    },
    Failed {
        key: String,
        error: String,
    },
}

/// A document whose chunks wait to be embedded.
struct Pending {
    key: String,
    stamp: Stamp,
    input: DocumentInput,
    drafts: Vec<ChunkDraft>,
}

fn read_lock<T>(l: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(|e| e.into_inner())
}

fn write_lock<T>(l: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(|e| e.into_inner())
}

/// The key a file is known by: its canonical path, and its size and modification time now.
fn stamp(path: &Path) -> std::io::Result<(String, Stamp, std::fs::Metadata)> {
    let canonical = std::fs::canonicalize(path)?;
    let meta = std::fs::metadata(&canonical)?;
    Ok((
        canonical.to_string_lossy().into_owned(),
        Stamp::of(&meta),
        meta,
    ))
}

impl Ingest<'_> {
    /// Queues `files` (those indexed with the same size and modification time are unchanged
    /// without being read, unless `force`), then works through the whole queue: these files and
    /// any left queued by an earlier run that stopped.
    pub(crate) fn run(
        &self,
        found: Discovered,
        force: bool,
        on_event: &mut dyn FnMut(IngestEvent),
    ) -> Result<IngestReport> {
        let mut report = IngestReport {
            skipped: found.skipped.clone(),
            ..IngestReport::default()
        };
        let mut stamped = Vec::with_capacity(found.files.len());
        let mut early_failures = found.failed;
        for path in &found.files {
            match stamp(path) {
                Ok((key, stamp, meta)) if meta.is_file() => stamped.push((key, stamp)),
                Ok(_) => early_failures.push((
                    path.clone(),
                    format!("{}: not a regular file", path.display()),
                )),
                Err(e) => early_failures.push((
                    path.clone(),
                    format!("{}: cannot read: {e}", path.display()),
                )),
            }
        }
        let mut unchanged = self.queue.enqueue(&stamped, force)?;
        // Unchanged by stamp, but gone from the catalog (e.g. removed meanwhile): index it again.
        let missing: Vec<(String, Stamp)> = {
            let index = read_lock(self.index);
            let mut missing = Vec::new();
            for key in &unchanged {
                if index.document_by_path(key)?.is_none() {
                    let s = stamped
                        .iter()
                        .find(|(k, _)| k == key)
                        .map(|(_, s)| *s)
                        .expect("stamped");
                    missing.push((key.clone(), s));
                }
            }
            missing
        };
        if !missing.is_empty() {
            self.queue.enqueue(&missing, true)?;
            unchanged.retain(|k| !missing.iter().any(|(m, _)| m == k));
        }
        let work = self.queue.queued()?;
        on_event(IngestEvent::Planned {
            files: work.len() + unchanged.len() + early_failures.len(),
            skipped: found.skipped,
        });
        for (path, error) in early_failures {
            self.queue.mark_failed(&path.to_string_lossy(), &error)?;
            report.failed.push((path.clone(), error.clone()));
            on_event(IngestEvent::Failed { path, error });
        }
        for key in unchanged {
            report.unchanged += 1;
            on_event(IngestEvent::Unchanged { path: key.into() });
        }
        self.process(work, force, &mut report, on_event)?;
        Ok(report)
    }

    fn fail(
        &self,
        key: &str,
        error: String,
        report: &mut IngestReport,
        on_event: &mut dyn FnMut(IngestEvent),
    ) -> Result<()> {
        // A file deleted meanwhile leaves the library too, so the catalog does not keep a ghost.
        if !Path::new(key).exists() {
            write_lock(self.index).remove_document(key)?;
        }
        self.queue.mark_failed(key, &error)?;
        report.failed.push((key.into(), error.clone()));
        on_event(IngestEvent::Failed {
            path: key.into(),
            error,
        });
        Ok(())
    }

    /// Reads, hashes and (unless unchanged) parses one queued file. Runs on a parse thread.
    fn parse_one(&self, key: String, force: bool) -> Parsed {
        let path = Path::new(&key);
        let failed = |error: String| Parsed::Failed {
            key: key.clone(),
            error,
        };
        let meta = match std::fs::metadata(path) {
            Ok(m) => m,
            Err(e) => return failed(format!("{key}: cannot read: {e}")),
        };
        let stamp = Stamp::of(&meta);
        if meta.len() > self.settings.max_document_bytes {
            let e = almanac_documents::Error::TooLarge {
                path: path.into(),
                size: meta.len(),
                limit: self.settings.max_document_bytes,
            };
            return failed(e.to_string());
        }
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) => return failed(format!("{key}: cannot read: {e}")),
        };
        let hash = format!("{:x}", Sha256::digest(&bytes));
        drop(bytes);
        if !force {
            let existing = read_lock(self.index).document_by_path(&key);
            if matches!(existing, Ok(Some(ref d)) if d.content_hash == hash) {
                return Parsed::Unchanged { key, stamp, hash };
            }
        }
        let modified = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_secs() as i64);
        match self.parser.parse(path, self.settings) {
            Ok(doc) => Parsed::Document {
                key,
                stamp,
                hash,
                modified,
                doc,
            },
            Err(e) => failed(e.to_string()),
        }
    }
}

/// Chunks of a parsed document, each knowing its place: lines of the document's text (its file's
/// own lines for text, Markdown and code), the heading path, and a location for pages and rows.
pub(crate) fn drafts(
    doc: &Document,
    settings: &Settings,
    counter: &dyn TokenCounter,
) -> Vec<ChunkDraft> {
    let options = ChunkingOptions {
        max_tokens: settings.chunk_tokens,
        overlap_tokens: settings.chunk_overlap_tokens,
    };
    let mut out = Vec::new();
    for section in &doc.sections {
        // The heading is embedded with each chunk: count it in the budget as the chunker counts a title.
        let budget_title = if section.heading.is_empty() {
            doc.title.clone()
        } else {
            format!("{}\n{}", doc.title, section.heading)
        };
        let kind = if section.markdown {
            TextKind::Markdown
        } else {
            TextKind::Plain
        };
        let source = SourceText {
            title: &budget_title,
            text: &section.text,
            kind,
        };
        for mut d in chunk_text(&source, &options, counter) {
            let (first, last) = (d.line_start, d.line_end);
            if d.heading.is_empty() {
                d.heading = section.heading.clone();
            }
            d.line_start += section.first_line - 1;
            d.line_end += section.first_line - 1;
            d.location = match section.origin {
                Origin::Lines => String::new(),
                Origin::Page { page } => format!("page:{page}"),
                Origin::Rows { first_row } => format!(
                    "rows:{}-{}",
                    first_row + first as u64 - 1,
                    first_row + last as u64 - 1
                ),
                Origin::Converted => "converted".into(),
            };
            out.push(d);
        }
    }
    out
}

/// A library document read again for the passage view: its text as indexed, and its hash now.
pub(crate) fn read_document(
    parser: &Parser,
    path: &Path,
    settings: &Settings,
) -> Result<(Document, String)> {
    let bytes = std::fs::read(path).map_err(Error::io(path))?;
    let hash = format!("{:x}", Sha256::digest(&bytes));
    let doc = parser.parse(path, settings)?;
    Ok((doc, hash))
}
