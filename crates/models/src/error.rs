use std::path::{Path, PathBuf};

/// Every failure is one line naming the repository, file, folder or limit.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("no catalogue model named {name:?} (see `almanac models list`)")]
    UnknownModel { name: String },
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    #[error("repository {repo} not found on {endpoint} (HTTP 404)")]
    RepoNotFound { repo: String, endpoint: String },
    #[error("{file} is not in repository {repo} at revision {revision}")]
    FileNotFound {
        repo: String,
        revision: String,
        file: String,
    },
    #[error("repository {repo} is gated (HTTP {status}): {hint}")]
    Gated {
        repo: String,
        status: u16,
        hint: &'static str,
    },
    #[error("{url}: HTTP {status}")]
    Http { url: String, status: u16 },
    #[error("{url}: {detail}")]
    Transport { url: String, detail: String },
    #[error("{url}: unexpected answer: {detail}")]
    Protocol { url: String, detail: String },
    #[error("{file} in {repo} has no LFS sha256 on the hub, so it cannot be verified")]
    NoChecksum { repo: String, file: String },
    #[error("not enough disk space in {}: the download needs {needed} bytes more, {available} are free", dir.display())]
    DiskFull {
        dir: PathBuf,
        needed: u64,
        available: u64,
    },
    #[error("{file}: sha256 {actual} differs from the hub's {expected}; the download was removed")]
    Checksum {
        file: String,
        expected: String,
        actual: String,
    },
    #[error("the download of {file} was cancelled")]
    Cancelled { file: String },
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
        move |source| Error::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    pub(crate) fn invalid(field: &str, message: impl Into<String>) -> Error {
        Error::Invalid {
            field: field.into(),
            message: message.into(),
        }
    }
}
