//! OpenAI's error object, `{"error": {"message", "type", "code", "param"}}`, with the status
//! OpenAI gives the same refusal.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use serde_json::json;

use crate::serve::errors::{deserialize_body, BodyError};

#[derive(Debug)]
pub struct OpenAiError {
    pub status: StatusCode,
    pub message: String,
    pub code: &'static str,
    pub param: Option<String>,
    /// Seconds, for a 503 from the generation queue.
    pub retry_after: Option<u64>,
}

impl OpenAiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> OpenAiError {
        OpenAiError {
            status,
            message: message.into(),
            code,
            param: None,
            retry_after: None,
        }
    }

    /// A 400 about one request field.
    pub fn invalid(param: &str, message: impl Into<String>) -> OpenAiError {
        OpenAiError::new(StatusCode::BAD_REQUEST, "invalid_value", message).param(param)
    }

    pub fn param(mut self, param: &str) -> OpenAiError {
        self.param = Some(param.to_owned());
        self
    }

    pub fn unknown_model(model: &str, known: &[String]) -> OpenAiError {
        OpenAiError::new(
            StatusCode::NOT_FOUND,
            "model_not_found",
            format!(
                "the model {:?} does not exist here; this server has {}",
                clip(model),
                known.join(", ")
            ),
        )
        .param("model")
    }

    pub fn internal(message: impl Into<String>) -> OpenAiError {
        OpenAiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
    }

    /// OpenAI's `type`: what kind of mistake, by status.
    fn kind(&self) -> &'static str {
        match self.status {
            StatusCode::UNAUTHORIZED => "authentication_error",
            StatusCode::TOO_MANY_REQUESTS => "rate_limit_error",
            s if s.is_client_error() => "invalid_request_error",
            _ => "server_error",
        }
    }

    /// The error object alone (also sent as the last chunk of a stream that fails midway).
    pub fn body(&self) -> serde_json::Value {
        json!({"error": {
            "message": self.message,
            "type": self.kind(),
            "code": self.code,
            "param": self.param,
        }})
    }
}

impl From<almanac_core::Error> for OpenAiError {
    fn from(e: almanac_core::Error) -> OpenAiError {
        let status = crate::serve::errors::status_for(e.code());
        let (code, param) = match e.code() {
            "question_too_long" => ("context_length_exceeded", Some("messages")),
            "empty_question" => ("invalid_value", Some("messages")),
            "model_missing" => ("model_not_available", None),
            "web_unavailable" => ("web_unavailable", Some("almanac.web")),
            "invalid_argument" => ("invalid_value", None),
            "busy" => ("busy", None),
            _ => ("internal", None),
        };
        let mut error = OpenAiError::new(status, code, e.to_string());
        error.param = param.map(str::to_owned);
        error
    }
}

impl IntoResponse for OpenAiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, self.body().to_string()).into_response();
        let h = response.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if let Some(secs) = self.retry_after {
            h.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

/// A request body as `T`: malformed JSON and wrong fields become OpenAI errors naming the field.
pub fn parse_body<T: DeserializeOwned>(
    bytes: Result<axum::body::Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<T, OpenAiError> {
    let bytes = bytes.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            OpenAiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "request_too_large",
                format!(
                    "the request body is over the {}-byte limit",
                    crate::serve::BODY_LIMIT
                ),
            )
        } else {
            OpenAiError::new(StatusCode::BAD_REQUEST, "invalid_body", e.body_text())
        }
    })?;
    deserialize_body(&bytes).map_err(|e| match e {
        BodyError::NotJson(message) => {
            OpenAiError::new(StatusCode::BAD_REQUEST, "invalid_json", message)
        }
        BodyError::Invalid {
            path: None,
            message,
        } => OpenAiError::new(StatusCode::BAD_REQUEST, "invalid_value", message),
        BodyError::Invalid {
            path: Some(path),
            message,
        } => OpenAiError::invalid(&path, message),
    })
}

pub fn clip(s: &str) -> String {
    s.chars().take(100).collect()
}
