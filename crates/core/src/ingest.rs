//! Turning files on disk into indexed chunks: discover, read, check, chunk, embed, store.

use std::path::{Path, PathBuf};
use std::sync::RwLock;

use almanac_engine::Embedder;
use almanac_indexes::{
    chunk_context, chunk_text, ChunkInput, ChunkingOptions, DocumentInput, Index, SourceText,
    TextKind, TokenCounter,
};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::{Error, IngestEvent, Result, Settings};

pub const SUPPORTED_EXTENSIONS: &[&str] = &["txt", "md"];

/// ".txt or .md", for messages.
pub(crate) fn extension_list(separator: &str) -> String {
    SUPPORTED_EXTENSIONS
        .iter()
        .map(|e| format!(".{e}"))
        .collect::<Vec<_>>()
        .join(separator)
}

/// Chunks embedded per batch: large enough to keep the matrix multiplications efficient.
const EMBED_BATCH: usize = 32;

#[derive(Debug, Default, Clone, Serialize)]
pub struct IngestReport {
    pub indexed: usize,
    pub unchanged: usize,
    pub chunks: usize,
    pub failed: Vec<(PathBuf, String)>,
    /// Files found in folders but not of a supported type: reported, never silently dropped.
    pub skipped: Vec<PathBuf>,
}

/// Files to ingest under the given paths (folders are walked, hidden entries skipped), sorted.
/// Returns the supported files and the unsupported ones found in folders.
pub fn discover(paths: &[PathBuf]) -> Result<(Vec<PathBuf>, Vec<PathBuf>)> {
    let mut files = Vec::new();
    let mut skipped = Vec::new();
    for path in paths {
        let meta = std::fs::metadata(path).map_err(Error::io(path))?;
        if meta.is_file() {
            // A file named explicitly is attempted whatever its type, so the user gets its error.
            files.push(path.clone());
            continue;
        }
        let before = files.len();
        let walker = walkdir::WalkDir::new(path).sort_by_file_name().into_iter();
        for entry in walker.filter_entry(|e| e.depth() == 0 || !is_hidden(e.file_name())) {
            let entry = entry.map_err(|e| Error::Io {
                path: e.path().unwrap_or(path).to_path_buf(),
                source: e
                    .into_io_error()
                    .unwrap_or_else(|| std::io::Error::other("file system loop")),
            })?;
            if !entry.file_type().is_file() {
                continue;
            }
            if is_supported(entry.path()) {
                files.push(entry.into_path());
            } else {
                skipped.push(entry.into_path());
            }
        }
        if files.len() == before {
            return Err(Error::NothingToIngest { path: path.clone() });
        }
    }
    Ok((files, skipped))
}

fn is_hidden(name: &std::ffi::OsStr) -> bool {
    name.to_string_lossy().starts_with('.')
}

fn is_supported(path: &Path) -> bool {
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase());
    ext.is_some_and(|e| SUPPORTED_EXTENSIONS.contains(&e.as_str()))
}

/// One readable text document.
pub struct LoadedDocument {
    pub path: String,
    pub title: String,
    pub text: String,
    pub kind: TextKind,
    pub content_hash: String,
    pub modified: Option<i64>,
}

/// Reads and checks one file: supported type, size limit, not binary, valid UTF-8.
pub fn load_document(path: &Path, max_bytes: u64) -> Result<LoadedDocument> {
    if !is_supported(path) {
        return Err(Error::Unsupported {
            path: path.to_path_buf(),
        });
    }
    let meta = std::fs::metadata(path).map_err(Error::io(path))?;
    if meta.len() > max_bytes {
        return Err(Error::TooLarge {
            path: path.to_path_buf(),
            size: meta.len(),
            limit: max_bytes,
        });
    }
    let bytes = std::fs::read(path).map_err(Error::io(path))?;
    if bytes.contains(&0) {
        return Err(Error::Binary {
            path: path.to_path_buf(),
        });
    }
    let text = String::from_utf8(bytes).map_err(|e| Error::NotUtf8 {
        path: path.to_path_buf(),
        offset: e.utf8_error().valid_up_to(),
    })?;
    let text = text
        .strip_prefix('\u{feff}')
        .map(str::to_owned)
        .unwrap_or(text);
    let canonical = std::fs::canonicalize(path).map_err(Error::io(path))?;
    let kind = if path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("md"))
    {
        TextKind::Markdown
    } else {
        TextKind::Plain
    };
    let modified = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_secs() as i64);
    Ok(LoadedDocument {
        title: document_title(&text, kind, path),
        content_hash: format!("{:x}", Sha256::digest(text.as_bytes())),
        path: canonical.to_string_lossy().into_owned(),
        text,
        kind,
        modified,
    })
}

/// A Markdown document's first level-one heading, else the file name without its extension.
fn document_title(text: &str, kind: TextKind, path: &Path) -> String {
    let heading = (kind == TextKind::Markdown)
        .then(|| {
            text.lines()
                .find_map(|l| l.strip_prefix("# ").map(|t| t.trim().to_owned()))
        })
        .flatten()
        .filter(|t| !t.is_empty());
    heading.unwrap_or_else(|| {
        path.file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default()
    })
}

struct EmbedderTokens<'a>(&'a Embedder);

impl TokenCounter for EmbedderTokens<'_> {
    fn count_tokens(&self, text: &str) -> usize {
        self.0.count_tokens(text)
    }
}

/// Ingests files one at a time; a failing file is reported and the rest go on.
pub fn ingest(
    index: &RwLock<Index>,
    embedder: &Embedder,
    settings: &Settings,
    paths: &[PathBuf],
    on_event: &mut dyn FnMut(IngestEvent),
) -> Result<IngestReport> {
    let (files, skipped) = discover(paths)?;
    ingest_files(index, embedder, settings, files, skipped, false, on_event)
}

/// Ingests discovered files (see [`discover`]). With `force`, files whose content is unchanged are
/// indexed again all the same (e.g. after the chunking settings changed).
pub(crate) fn ingest_files(
    index: &RwLock<Index>,
    embedder: &Embedder,
    settings: &Settings,
    files: Vec<PathBuf>,
    skipped: Vec<PathBuf>,
    force: bool,
    on_event: &mut dyn FnMut(IngestEvent),
) -> Result<IngestReport> {
    on_event(IngestEvent::Planned {
        files: files.len(),
        skipped: skipped.clone(),
    });
    let mut report = IngestReport {
        skipped,
        ..IngestReport::default()
    };
    for path in files {
        on_event(IngestEvent::Indexing { path: path.clone() });
        match ingest_file(index, embedder, settings, &path, force) {
            Ok(Some(chunks)) => {
                report.indexed += 1;
                report.chunks += chunks;
                on_event(IngestEvent::Indexed { path, chunks });
            }
            Ok(None) => {
                report.unchanged += 1;
                on_event(IngestEvent::Unchanged { path });
            }
            Err(e) => {
                let error = e.to_string();
                report.failed.push((path.clone(), error.clone()));
                on_event(IngestEvent::Failed { path, error });
            }
        }
    }
    index.write().unwrap_or_else(|e| e.into_inner()).commit()?;
    Ok(report)
}

/// Indexes one file; `None` when its content is already indexed unchanged. The index is locked only
/// to look the file up and to store it, not while it is chunked and embedded.
fn ingest_file(
    index: &RwLock<Index>,
    embedder: &Embedder,
    settings: &Settings,
    path: &Path,
    force: bool,
) -> Result<Option<usize>> {
    let doc = load_document(path, settings.max_document_bytes)?;
    let existing = index
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .document_by_path(&doc.path)?;
    if let Some(existing) = existing {
        if existing.content_hash == doc.content_hash && !force {
            return Ok(None);
        }
    }
    let options = ChunkingOptions {
        max_tokens: settings.chunk_tokens,
        overlap_tokens: settings.chunk_overlap_tokens,
    };
    let source = SourceText {
        title: &doc.title,
        text: &doc.text,
        kind: doc.kind,
    };
    let drafts = chunk_text(&source, &options, &EmbedderTokens(embedder));
    let mut chunks = Vec::with_capacity(drafts.len());
    for batch in drafts.chunks(EMBED_BATCH) {
        let contexts: Vec<String> = batch
            .iter()
            .map(|d| chunk_context(&doc.title, &d.heading, &d.text))
            .collect();
        let refs: Vec<&str> = contexts.iter().map(String::as_str).collect();
        let embeddings = embedder.embed(&refs)?;
        chunks.extend(
            batch
                .iter()
                .cloned()
                .zip(embeddings)
                .map(|(draft, embedding)| ChunkInput { draft, embedding }),
        );
    }
    let count = chunks.len();
    let input = DocumentInput {
        path: doc.path,
        title: doc.title,
        content_hash: doc.content_hash,
        modified: doc.modified,
    };
    index
        .write()
        .unwrap_or_else(|e| e.into_inner())
        .upsert_document(&input, chunks)?;
    Ok(Some(count))
}
