use std::path::PathBuf;

/// Everything that can go wrong in this crate. Messages are one line and name the file, directory
/// or input field concerned.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `message`: the I/O error, after the disk's fault if any (`storage::explain_io`).
    #[error("{}: {message}", path.display())]
    Io { path: PathBuf, message: String },
    /// `message`: SQLite's, after the disk's fault if any (`storage::explain_sqlite`). Not a
    /// `#[source]`: chained, SQLite's text would be printed two more times.
    #[error("catalog {}: {message}", path.display())]
    Catalog { path: PathBuf, message: String },
    #[error("full-text index {}: {source}", path.display())]
    Text {
        path: PathBuf,
        #[source]
        source: tantivy::TantivyError,
    },
    #[error("vector index {}: {message}", path.display())]
    Vectors { path: PathBuf, message: String },
    #[error("index {}: holds {stored}-dimensional embeddings, opened for {requested}", path.display())]
    DimensionMismatch {
        path: PathBuf,
        stored: usize,
        requested: usize,
    },
    #[error("{}: damaged: {message}", path.display())]
    Damaged { path: PathBuf, message: String },
    #[error("index {}: in use by another Index (or process)", path.display())]
    Locked { path: PathBuf },
    /// A caller-supplied value is unusable; the message names the field.
    #[error("{0}")]
    InvalidInput(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Error {
        let path = path.into();
        Error::Io {
            message: crate::storage::explain_io(&path, &source),
            path,
        }
    }

    pub(crate) fn text(path: impl Into<PathBuf>, source: tantivy::TantivyError) -> Error {
        Error::Text {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn catalog(path: impl Into<PathBuf>, source: rusqlite::Error) -> Error {
        use rusqlite::ErrorCode;
        let path = path.into();
        match source.sqlite_error_code() {
            Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => Error::Locked {
                path: path.parent().map(PathBuf::from).unwrap_or(path),
            },
            Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt) => Error::Damaged {
                message: source.to_string(),
                path,
            },
            _ => Error::Catalog {
                message: crate::storage::explain_sqlite(&path, &source),
                path,
            },
        }
    }
}
