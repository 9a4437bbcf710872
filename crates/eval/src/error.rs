use std::path::PathBuf;

pub type Result<T> = std::result::Result<T, Error>;

/// Every message is one line that names the file, field or limit involved.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Engine(#[from] almanac_engine::Error),
    #[error(transparent)]
    Core(#[from] almanac_core::Error),
    #[error(transparent)]
    Index(#[from] almanac_indexes::Error),
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A data file is not in the layout its format promises.
    #[error("{}: {message}", path.display())]
    Data { path: PathBuf, message: String },
    /// A caller's choice is out of its limits or names nothing; `field` names it.
    #[error("{field}: {message}")]
    InvalidArgument { field: String, message: String },
    #[error("the model {model}: {message}")]
    Model { model: String, message: String },
    #[error("{}: {message}", path.display())]
    Chart { path: PathBuf, message: String },
    /// One evaluation runs at a time.
    #[error("{0}")]
    Busy(String),
}

impl Error {
    /// The snake_case code front ends show (core's codes where they apply).
    pub fn code(&self) -> &'static str {
        match self {
            Error::Core(e) => e.code(),
            Error::Engine(_) => "engine",
            Error::Index(_) => "index",
            Error::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
                "not_found"
            }
            Error::Io { .. } => "io",
            Error::Data { .. } | Error::InvalidArgument { .. } | Error::Model { .. } => {
                "invalid_argument"
            }
            Error::Chart { .. } => "chart",
            Error::Busy(_) => "busy",
        }
    }

    /// The refused argument, for a form to show the message beside it.
    pub fn field(&self) -> Option<&str> {
        match self {
            Error::InvalidArgument { field, .. } => Some(field),
            Error::Core(e) => e.field(),
            _ => None,
        }
    }

    /// `{code, message}` (and `field`), the shape every front end shows.
    pub fn to_json(&self) -> serde_json::Value {
        let mut json = serde_json::json!({ "code": self.code(), "message": self.to_string() });
        if let Some(field) = self.field() {
            json["field"] = field.into();
        }
        json
    }

    pub(crate) fn io(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
        move |source| Error::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    pub(crate) fn data(path: &std::path::Path, message: impl Into<String>) -> Error {
        Error::Data {
            path: path.to_path_buf(),
            message: message.into(),
        }
    }

    pub(crate) fn argument(field: &str, message: impl Into<String>) -> Error {
        Error::InvalidArgument {
            field: field.into(),
            message: message.into(),
        }
    }
}
