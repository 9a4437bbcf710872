//! The OpenAI-compatible API (`/v1`), with retrieval built in: chat completions answered from the
//! library with numbered sources (the extension field `almanac`), the models, and embeddings from
//! the library's embedder. This module alone knows OpenAI's wire format; it calls the same `App`
//! as the UI's API, and its answers wait in the one generation queue (`super::queue`).
//! docs/openai-api.md is the reference for clients.

mod chat;
mod embeddings;
mod error;
mod wire;

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde_json::json;

pub use error::OpenAiError;

use super::Server;

/// How many messages one request may carry.
pub const MAX_MESSAGES: usize = 256;
/// How many texts one embeddings request may carry.
pub const MAX_EMBEDDING_INPUTS: usize = 256;

/// What the API has done since the server started (`GET /v1/almanac/status`).
#[derive(Default)]
pub struct Counters {
    pub completions_finished: AtomicU64,
    /// Answers stopped because their client left (the engine's stop reason was `cancelled`).
    pub completions_cancelled: AtomicU64,
    pub completions_failed: AtomicU64,
    /// Requests refused by the generation queue (503).
    pub completions_refused: AtomicU64,
    pub embeddings: AtomicU64,
}

impl Counters {
    pub fn add(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

pub fn routes() -> Router<Server> {
    Router::new()
        .route("/v1/chat/completions", post(chat::completions))
        .route("/v1/embeddings", post(embeddings::embeddings))
        .route("/v1/models", get(models))
        .route("/v1/almanac/status", get(status))
        .route("/v1", axum::routing::any(no_route))
        .route("/v1/{*rest}", axum::routing::any(no_route))
        .method_not_allowed_fallback(method_not_allowed)
}

async fn method_not_allowed(method: axum::http::Method, uri: axum::http::Uri) -> OpenAiError {
    OpenAiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("{method} is not allowed on {}", uri.path()),
    )
}

async fn no_route(method: axum::http::Method, uri: axum::http::Uri) -> OpenAiError {
    OpenAiError::new(
        StatusCode::NOT_FOUND,
        "unknown_url",
        format!("no route {method} {}", uri.path()),
    )
}

/// The model ids clients name: the chat model's file name without `.gguf` (with a remote backend,
/// the endpoint's model name: it is the one answering), and the embedder's folder name.
pub struct ModelIds {
    pub chat: String,
    pub embedding: String,
}

impl ModelIds {
    pub fn of(settings: &almanac_core::Settings) -> ModelIds {
        let name = |p: &Path| {
            let stem = p.file_name().map(|n| n.to_string_lossy().into_owned());
            stem.map(|s| s.strip_suffix(".gguf").map(str::to_owned).unwrap_or(s))
                .unwrap_or_default()
        };
        let chat = match &settings.backend {
            almanac_core::Backend::Local => name(&settings.chat_model),
            almanac_core::Backend::Openai { model, .. } => model.clone(),
        };
        ModelIds {
            chat,
            embedding: name(&settings.embedding_model),
        }
    }
}

async fn models(State(server): State<Server>) -> Response {
    let settings = server.app.settings();
    let ids = ModelIds::of(&settings);
    let dim = server.app.assistant().embedder().dim();
    // Which backend answers: the local GGUF, or the endpoint (its URL; never its key).
    let backend = match &settings.backend {
        almanac_core::Backend::Local => json!({"kind": "local"}),
        almanac_core::Backend::Openai { base_url, .. } => {
            json!({"kind": "openai", "base_url": base_url})
        }
    };
    json_ok(&json!({
        "object": "list",
        "data": [
            {"id": ids.chat, "object": "model", "created": 0, "owned_by": "almanac",
             "almanac": {"kind": "chat", "context_length": settings.answer_context_length(),
                         "backend": backend}},
            {"id": ids.embedding, "object": "model", "created": 0, "owned_by": "almanac",
             "almanac": {"kind": "embedding", "dimensions": dim}},
        ],
    }))
}

async fn status(State(server): State<Server>) -> Response {
    let c = &server.counters;
    let q = &server.queue;
    let n = |a: &AtomicU64| a.load(Ordering::Relaxed);
    json_ok(&json!({
        "queue": {
            "generating": q.generating(),
            "waiting": q.waiting(),
            "capacity": q.capacity,
            "max_wait_s": q.max_wait.as_secs_f64(),
        },
        "completions": {
            "finished": n(&c.completions_finished),
            "cancelled": n(&c.completions_cancelled),
            "failed": n(&c.completions_failed),
            "refused": n(&c.completions_refused),
        },
        "embeddings": n(&c.embeddings),
    }))
}

/// A 200 JSON response.
fn json_ok(value: &impl serde::Serialize) -> Response {
    let body = serde_json::to_vec(value).expect("responses serialise");
    let mut response = body.into_response();
    let h = response.headers_mut();
    h.insert(
        axum::http::header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static("application/json"),
    );
    h.insert(
        axum::http::header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("no-store"),
    );
    response
}

/// Seconds since the Unix epoch, for `created`.
fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
