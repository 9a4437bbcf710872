//! Errors at the IPC boundary: every failure reaches the UI as `{"code", "message"}` (ui/README.md).

use serde::Serialize;

/// What a command returns on failure, serialised as `{"code": "snake_case", "message": "one line"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IpcError {
    pub code: String,
    pub message: String,
    /// The refused argument or setting (`backend.base_url`), for a form to show it by its field.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

pub type IpcResult<T> = std::result::Result<T, IpcError>;

impl IpcError {
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> IpcError {
        IpcError {
            code: code.into(),
            message: one_line(&message.into()),
            field: None,
        }
    }

    /// A refused argument: the message names the argument and its limits.
    pub fn bad_argument(message: impl Into<String>) -> IpcError {
        IpcError::new("bad_argument", message)
    }

    pub fn not_found(message: impl Into<String>) -> IpcError {
        IpcError::new("not_found", message)
    }

    pub fn internal(message: impl Into<String>) -> IpcError {
        IpcError::new("internal", message)
    }

    /// As an `error` event inside a stream.
    pub fn to_event(&self) -> serde_json::Value {
        serde_json::json!({"event": "error", "code": self.code, "message": self.message})
    }
}

impl std::fmt::Display for IpcError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for IpcError {}

impl From<almanac_eval::Error> for IpcError {
    fn from(error: almanac_eval::Error) -> IpcError {
        IpcError {
            field: error.field().map(str::to_owned),
            ..IpcError::new(error.code(), error.to_string())
        }
    }
}

impl From<almanac_core::Error> for IpcError {
    fn from(error: almanac_core::Error) -> IpcError {
        IpcError {
            field: error.field().map(str::to_owned),
            ..IpcError::new(error.code(), error.to_string())
        }
    }
}

impl From<anyhow::Error> for IpcError {
    fn from(error: anyhow::Error) -> IpcError {
        IpcError::internal(format!("{error:#}"))
    }
}

/// Messages are one line a person can read; nothing a hostile caller sent is echoed at length.
fn one_line(message: &str) -> String {
    let flat: String = message
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let flat = flat.trim();
    match flat.char_indices().nth(500) {
        Some((cut, _)) => format!("{}…", &flat[..cut]),
        None => flat.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serialises_as_code_and_message() {
        let e = IpcError::bad_argument("text: empty");
        assert_eq!(
            serde_json::to_value(&e).unwrap(),
            serde_json::json!({"code": "bad_argument", "message": "text: empty"})
        );
        assert_eq!(
            e.to_event(),
            serde_json::json!({"event": "error", "code": "bad_argument", "message": "text: empty"})
        );
    }

    #[test]
    fn messages_are_one_bounded_line() {
        let e = IpcError::internal(format!("a\nb\r\n{}", "x".repeat(2000)));
        assert!(!e.message.contains('\n'));
        assert!(e.message.chars().count() <= 501);
    }

    #[test]
    fn core_errors_keep_their_code() {
        let e: IpcError = almanac_core::Error::EmptyQuestion.into();
        assert_eq!(e.code, "empty_question");
    }
}
