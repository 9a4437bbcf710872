//! Reading documents: a file becomes a title, its text as a person would read it, and sections of
//! that text, each with where it sits in the original (page, heading path, rows, lines).
//!
//! Formats: plain text and source code (by extension), Markdown, HTML, PDF (text layer, page by
//! page), DOCX (headings kept), EPUB (chapters in reading order), CSV (rows with their header).
//! Text encodings are detected (BOMs, UTF-8, then a guess among legacy ones such as EUC-KR and
//! Shift_JIS). Every limit ([`Limits`]) is an error that names the file and the limit.
//!
//! Parsers of untrusted files can panic, overflow the stack or run away with memory, so callers run
//! [`parse_file`] in a separate process: see [`worker`].

mod builder;
mod csv_rows;
mod docx;
mod encoding;
mod epub;
mod error;
mod format;
mod html;
mod pdf;
pub mod worker;
mod zipped;

use std::path::Path;

use serde::{Deserialize, Serialize};

pub use builder::tidy;
pub use encoding::decode_text;
pub use error::{Error, Result};
pub use format::{Format, CODE_EXTENSIONS};

/// How much a single file may cost to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// Bytes on disk.
    pub max_file_bytes: u64,
    /// Pages of a PDF.
    pub max_pages: usize,
    /// Bytes unpacked from a DOCX or EPUB archive, all entries together (zip bombs).
    pub max_unpacked_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_file_bytes: 20 << 20,
            max_pages: 2000,
            max_unpacked_bytes: 200 << 20,
        }
    }
}

/// Where a section's text sits in the original file, beyond its heading path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Origin {
    /// The text is the file's own lines (text, Markdown, code): line numbers are the file's.
    Lines,
    /// One page of a PDF (1-based).
    Page { page: u32 },
    /// Table rows, one per line of the section: its first line is data row `first_row` (1-based,
    /// the header not counted).
    Rows { first_row: u64 },
    /// Converted text (HTML, DOCX, EPUB): the heading path says where; line numbers refer to
    /// [`Document::text`].
    Converted,
}

/// A run of the document's text under one heading path, from one place in the original.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Section {
    /// Heading path such as `Install > Linux`; empty when none. For Markdown sections the chunker
    /// finds the headings itself, and this is empty.
    pub heading: String,
    /// Line of [`Document::text`] (1-based) where `text` starts.
    pub first_line: usize,
    pub text: String,
    /// Markdown syntax: the chunker cuts it at its `#` headings.
    pub markdown: bool,
    pub origin: Origin,
}

/// A document as read: what is shown to a person and what gets chunked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Document {
    pub title: String,
    pub format: Format,
    /// The whole readable text: the sections, in order, separated by blank lines.
    pub text: String,
    pub sections: Vec<Section>,
    /// Pages of a PDF.
    pub pages: Option<u32>,
}

/// Reads and converts one file in this process. Untrusted input: prefer [`worker::parse_in_worker`].
pub fn parse_file(path: &Path, limits: &Limits) -> Result<Document> {
    let format = Format::for_path(path).ok_or_else(|| Error::Unsupported { path: path.into() })?;
    let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
    if !meta.is_file() {
        return Err(Error::NotAFile { path: path.into() });
    }
    if meta.len() > limits.max_file_bytes {
        return Err(Error::TooLarge {
            path: path.into(),
            size: meta.len(),
            limit: limits.max_file_bytes,
        });
    }
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    if bytes.len() as u64 > limits.max_file_bytes {
        return Err(Error::TooLarge {
            path: path.into(),
            size: bytes.len() as u64,
            limit: limits.max_file_bytes,
        });
    }
    parse_bytes(path, format, &bytes, limits)
}

/// [`parse_file`] on bytes already read; `path` names the file in titles and errors.
pub fn parse_bytes(path: &Path, format: Format, bytes: &[u8], limits: &Limits) -> Result<Document> {
    if bytes.is_empty() {
        return Err(Error::Empty { path: path.into() });
    }
    let stem = || {
        path.file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    let doc = match format {
        Format::Text | Format::Code | Format::Markdown => {
            let text = decode_text(path, bytes)?;
            let markdown = format == Format::Markdown;
            let title = if markdown {
                markdown_title(&text)
            } else {
                None
            }
            .unwrap_or_else(stem);
            let mut b = builder::Builder::new();
            b.push_verbatim(&text, markdown);
            b.finish(title, format, None)
        }
        Format::Csv => csv_rows::parse(path, bytes, stem())?,
        Format::Html => {
            let text = decode_text(path, bytes)?;
            html::parse(&text, stem())
        }
        Format::Docx => docx::parse(path, bytes, limits, stem())?,
        Format::Epub => epub::parse(path, bytes, limits, stem())?,
        Format::Pdf => pdf::parse(path, bytes, limits, stem())?,
    };
    if doc.sections.iter().all(|s| s.text.trim().is_empty()) {
        return Err(Error::NoText {
            path: path.into(),
            format,
        });
    }
    Ok(doc)
}

/// The first level-one heading of a Markdown text (`# Title`, or `Title` underlined with `===`),
/// outside fenced code (where `# ` starts a shell comment).
fn markdown_title(text: &str) -> Option<String> {
    let mut fence: Option<&str> = None;
    let mut previous = "";
    for line in text.lines() {
        let trimmed = line.trim_start();
        let marker = ["```", "~~~"].into_iter().find(|m| trimmed.starts_with(m));
        match (fence, marker) {
            (None, Some(m)) => fence = Some(m),
            (Some(open), Some(m)) if open == m => fence = None,
            _ => {}
        }
        if fence.is_none() && marker.is_none() {
            let title = if let Some(t) = line.strip_prefix("# ") {
                Some(t.trim().trim_end_matches('#').trim())
            } else if !line.is_empty()
                && line.chars().all(|c| c == '=')
                && !previous.trim().is_empty()
            {
                Some(previous.trim())
            } else {
                None
            };
            if let Some(t) = title.filter(|t| !t.is_empty()) {
                return Some(t.to_owned());
            }
        }
        previous = line;
    }
    None
}
