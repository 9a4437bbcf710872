use std::path::PathBuf;

use crate::Format;

pub type Result<T> = std::result::Result<T, Error>;

/// Why a file could not be read. Every message is one line naming the file.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{}: cannot read: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: not a regular file", path.display())]
    NotAFile { path: PathBuf },
    #[error("{}: unsupported file type", path.display())]
    Unsupported { path: PathBuf },
    #[error("{}: {size} bytes is over the {limit}-byte limit (max_document_bytes)", path.display())]
    TooLarge {
        path: PathBuf,
        size: u64,
        limit: u64,
    },
    #[error("{}: empty file (0 bytes)", path.display())]
    Empty { path: PathBuf },
    #[error("{}: binary data under a text extension, skipped", path.display())]
    Binary { path: PathBuf },
    #[error("{}: text encoding not recognised ({detail})", path.display())]
    Encoding { path: PathBuf, detail: String },
    #[error("{}: password-protected PDF (encrypted); it cannot be read without its password", path.display())]
    Encrypted { path: PathBuf },
    #[error("{}: {pages} pages is over the {limit}-page limit (max_pages)", path.display())]
    TooManyPages {
        path: PathBuf,
        pages: usize,
        limit: usize,
    },
    #[error("{}: unpacks to more than the {limit}-byte limit (max_unpacked_bytes; a zip bomb?)", path.display())]
    TooMuchUnpacked { path: PathBuf, limit: u64 },
    #[error("{}: no text found in this {format} (a scanned PDF without a text layer needs OCR)", path.display())]
    NoText { path: PathBuf, format: Format },
    #[error("{}: not a readable {format}: {message}", path.display())]
    Malformed {
        path: PathBuf,
        format: Format,
        message: String,
    },
    #[error("{}: {message}", path.display())]
    Worker { path: PathBuf, message: String },
    /// An error the worker process reported; `message` already names the file.
    #[error("{message}")]
    Reported { code: String, message: String },
}

impl Error {
    pub(crate) fn io(path: &std::path::Path, source: std::io::Error) -> Error {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn malformed(
        path: &std::path::Path,
        format: Format,
        message: impl std::fmt::Display,
    ) -> Error {
        let message = message.to_string().replace('\n', " ");
        Error::Malformed {
            path: path.into(),
            format,
            message,
        }
    }

    /// A short code for the kind of failure, for front ends.
    pub fn code(&self) -> &str {
        match self {
            Error::Io { .. } | Error::NotAFile { .. } => "unreadable",
            Error::Unsupported { .. } => "unsupported",
            Error::TooLarge { .. } | Error::TooManyPages { .. } | Error::TooMuchUnpacked { .. } => {
                "too_large"
            }
            Error::Empty { .. } | Error::NoText { .. } => "no_text",
            Error::Binary { .. } => "binary",
            Error::Encoding { .. } => "encoding",
            Error::Encrypted { .. } => "encrypted",
            Error::Malformed { .. } => "malformed",
            Error::Worker { .. } => "parser_failed",
            Error::Reported { code, .. } => code,
        }
    }
}
