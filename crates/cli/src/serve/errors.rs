//! Every failure as `{"code", "message"}` with a fitting HTTP status.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: String,
    pub message: String,
    /// The refused argument or setting (`backend.base_url`), for a form to show it by its field.
    pub field: Option<String>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code: code.into(),
            message: message.into(),
            field: None,
        }
    }

    pub fn forbidden(code: &str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, code, message)
    }

    pub fn bad_request(code: &str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
    }
}

/// The status for each of core's error codes.
pub fn status_for(code: &str) -> StatusCode {
    match code {
        "invalid_argument" | "empty_question" | "question_too_long" | "web_unavailable"
        | "bad_document" | "document_too_large" | "nothing_to_ingest" | "bad_settings" => {
            StatusCode::BAD_REQUEST
        }
        "not_found" => StatusCode::NOT_FOUND,
        "gated" => StatusCode::UNAUTHORIZED,
        "disk_full" | "not_enough_memory" => StatusCode::INSUFFICIENT_STORAGE,
        "checksum_mismatch" | "download_failed" => StatusCode::BAD_GATEWAY,
        "busy" | "conflict" | "embedder_mismatch" => StatusCode::CONFLICT,
        "document_failed" => StatusCode::UNPROCESSABLE_ENTITY,
        "model_missing" | "keyring" => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl From<almanac_core::Error> for ApiError {
    fn from(e: almanac_core::Error) -> ApiError {
        ApiError {
            field: e.field().map(str::to_owned),
            ..ApiError::new(status_for(e.code()), e.code(), e.to_string())
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = serde_json::json!({ "code": self.code, "message": self.message });
        if let Some(field) = self.field {
            body["field"] = field.into();
        }
        let body = body.to_string();
        let mut response = (self.status, body).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        response
    }
}

/// Parses a JSON request body into `T`, naming the field that is wrong. An empty body is read as
/// `{}` (so requests without arguments may send nothing).
pub fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let body: &[u8] = if body.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        body
    };
    deserialize_body(body).map_err(|e| match e {
        BodyError::NotJson(message) => ApiError::bad_request("bad_json", message),
        BodyError::Invalid { message, .. } => ApiError::bad_request("invalid_argument", message),
    })
}

/// Why a JSON body could not become the value asked for.
pub enum BodyError {
    /// Not JSON at all (or more than one value); the message says where.
    NotJson(String),
    /// JSON of the wrong shape: the message names the field (`path: ...`) when there is one.
    Invalid {
        path: Option<String>,
        message: String,
    },
}

/// Deserializes a whole JSON body into `T`, keeping the path of a field that does not fit; both
/// the UI's API and the OpenAI-compatible one turn its errors into their own shapes.
pub fn deserialize_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, BodyError> {
    let not_json = |e: &dyn std::fmt::Display| {
        BodyError::NotJson(format!("the request body is not valid JSON: {e}"))
    };
    let mut de = serde_json::Deserializer::from_slice(body);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if inner.is_syntax() || inner.is_eof() {
            return not_json(&inner);
        }
        let message = inner.to_string();
        // serde names a missing or unknown field in its message; otherwise the path does.
        let message = match message.find(" at line ") {
            Some(i) => message[..i].to_owned(),
            None => message,
        };
        if path == "." || path.is_empty() {
            BodyError::Invalid {
                path: None,
                message,
            }
        } else {
            BodyError::Invalid {
                message: format!("{path}: {message}"),
                path: Some(path),
            }
        }
    })?;
    de.end().map_err(|e| not_json(&e))?;
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Ask {
        conversation_id: Option<String>,
        text: String,
    }

    #[test]
    fn names_the_field() {
        let e = parse_json::<Ask>(br#"{"text": 5}"#).unwrap_err();
        assert_eq!(e.code, "invalid_argument");
        assert!(
            e.message.starts_with("text: invalid type: integer `5`"),
            "{}",
            e.message
        );
        let e = parse_json::<Ask>(br#"{"conversation_id": null}"#).unwrap_err();
        assert!(e.message.contains("missing field `text`"), "{}", e.message);
        let e = parse_json::<Ask>(br#"{"text": "a", "bogus": 1}"#).unwrap_err();
        assert!(e.message.contains("unknown field `bogus`"), "{}", e.message);
        let e = parse_json::<Ask>(br#"{"text": "#).unwrap_err();
        assert_eq!(e.code, "bad_json");
        let e = parse_json::<Ask>(br#"{"text": "a"} trailing"#).unwrap_err();
        assert_eq!(e.code, "bad_json");
        assert!(parse_json::<Ask>(br#"{"text": "a"}"#).is_ok());
    }

    #[test]
    fn a_refused_setting_keeps_its_field_for_the_form() {
        let e: ApiError = almanac_core::Error::InvalidArgument {
            field: "backend.base_url".into(),
            message: "must be an http or https URL".into(),
        }
        .into();
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        assert_eq!(e.field.as_deref(), Some("backend.base_url"));
        let e: ApiError = almanac_core::Error::Keyring {
            url: "http://gpu-box/v1".into(),
            detail: "no Secret Service".into(),
        }
        .into();
        assert_eq!(
            (e.status, e.code.as_str(), e.field),
            (StatusCode::SERVICE_UNAVAILABLE, "keyring", None)
        );
    }
}
