//! The API key. On the default loopback bind none is needed; `almanac serve` refuses to listen on
//! any other address without one (`--api-key` or `ALMANAC_API_KEY`). With a key set:
//! - `/v1` (the OpenAI-compatible API) needs `Authorization: Bearer KEY` from every client;
//! - everything else needs it from clients that are not on this machine (the web UI, which
//!   cannot send the header, is meant for the machine itself or an SSH tunnel).
//!
//! Keys are compared in constant time (`subtle`), so response timing says nothing about them.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use subtle::ConstantTimeEq;

use super::openai::OpenAiError;

pub struct ApiKey(Option<String>);

impl ApiKey {
    pub fn new(key: Option<String>) -> ApiKey {
        ApiKey(key.filter(|k| !k.is_empty()))
    }

    pub fn is_set(&self) -> bool {
        self.0.is_some()
    }

    /// Whether the request's `Authorization: Bearer …` carries the key.
    fn presented_by(&self, request: &Request) -> bool {
        let Some(key) = &self.0 else {
            return true;
        };
        let presented = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .unwrap_or("");
        // ct_eq on slices of different lengths is false (the length is not secret).
        bool::from(presented.as_bytes().ct_eq(key.as_bytes()))
    }
}

pub async fn check(State(key): State<Arc<ApiKey>>, request: Request, next: Next) -> Response {
    if !key.is_set() {
        return next.run(request).await;
    }
    let local_peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .is_some_and(|ConnectInfo(peer)| peer.ip().is_loopback());
    let openai = super::guard::is_openai_path(request.uri().path());
    if (openai || !local_peer) && !key.presented_by(&request) {
        let message = if openai {
            "a valid API key is required: send it as Authorization: Bearer KEY"
        } else {
            "a valid API key is required from another machine: send it as Authorization: Bearer KEY"
        };
        return OpenAiError::new(StatusCode::UNAUTHORIZED, "invalid_api_key", message)
            .into_response();
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(auth: Option<&str>) -> Request {
        let mut builder = Request::builder().uri("/v1/models");
        if let Some(auth) = auth {
            builder = builder.header(header::AUTHORIZATION, auth);
        }
        builder.body(axum::body::Body::empty()).unwrap()
    }

    #[test]
    fn only_the_exact_key_passes() {
        let key = ApiKey::new(Some("s3cret".into()));
        assert!(key.presented_by(&request(Some("Bearer s3cret"))));
        assert!(!key.presented_by(&request(Some("Bearer s3cre"))));
        assert!(!key.presented_by(&request(Some("Bearer s3cret2"))));
        assert!(!key.presented_by(&request(Some("s3cret"))));
        assert!(!key.presented_by(&request(None)));
        assert!(ApiKey::new(None).presented_by(&request(None)));
        assert!(!ApiKey::new(Some(String::new())).is_set());
    }
}
