//! `POST /v1/embeddings`: the library's own embedder (the vectors retrieval searches with),
//! L2-normalised; `float` or `base64` (little-endian f32, what OpenAI's Python client asks for).

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde_json::{json, Value};

use super::error::{parse_body, OpenAiError};
use super::wire::{EmbeddingInput, EmbeddingsRequest, Usage};
use super::{Counters, ModelIds, MAX_EMBEDDING_INPUTS};
use crate::serve::Server;

pub async fn embeddings(
    State(server): State<Server>,
    bytes: Result<Bytes, BytesRejection>,
) -> Response {
    match embed(server, bytes).await {
        Ok(response) => response,
        Err(e) => e.into_response(),
    }
}

async fn embed(
    server: Server,
    bytes: Result<Bytes, BytesRejection>,
) -> Result<Response, OpenAiError> {
    let request: EmbeddingsRequest = parse_body(bytes)?;
    let ids = ModelIds::of(&server.app.settings());
    if request.model != ids.embedding {
        return Err(OpenAiError::unknown_model(
            &request.model,
            std::slice::from_ref(&ids.embedding),
        ));
    }
    let texts = match request.input {
        EmbeddingInput::One(text) => vec![text],
        EmbeddingInput::Many(texts) => texts,
        EmbeddingInput::Tokens(_) => {
            return Err(OpenAiError::invalid(
                "input",
                "input: give a string or a list of strings (token ids are not accepted)",
            ))
        }
    };
    if texts.is_empty() || texts.len() > MAX_EMBEDDING_INPUTS {
        return Err(OpenAiError::invalid(
            "input",
            format!("input: give 1 to {MAX_EMBEDDING_INPUTS} texts"),
        ));
    }
    let max_bytes = almanac_core::validate::MAX_TEXT_BYTES;
    if let Some(i) = texts
        .iter()
        .position(|t| t.is_empty() || t.len() > max_bytes)
    {
        return Err(OpenAiError::invalid(
            "input",
            format!("input[{i}]: give text of 1 to {max_bytes} bytes"),
        ));
    }
    let base64 = match request.encoding_format.as_deref() {
        None | Some("float") => false,
        Some("base64") => true,
        Some(other) => {
            return Err(OpenAiError::invalid(
                "encoding_format",
                format!(
                    "encoding_format: {:?} is not float or base64",
                    super::error::clip(other)
                ),
            ))
        }
    };
    let app = server.app.clone();
    let dim = app.assistant().embedder().dim();
    if let Some(d) = request.dimensions.filter(|&d| d != dim) {
        return Err(OpenAiError::invalid(
            "dimensions",
            format!("dimensions: this embedder gives {dim}, not {d}"),
        ));
    }
    let (vectors, tokens) = tokio::task::spawn_blocking(move || {
        let embedder = app.assistant().embedder();
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let tokens: usize = texts.iter().map(|t| embedder.count_tokens(t)).sum();
        embedder.embed(&refs).map(|v| (v, tokens))
    })
    .await
    .map_err(|e| OpenAiError::internal(format!("the embedding failed: {e}")))?
    .map_err(|e| {
        OpenAiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            format!("the embedding failed: {e}"),
        )
    })?;
    Counters::add(&server.counters.embeddings);
    let data: Vec<Value> = vectors
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let embedding = if base64 {
                let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
                json!(base64::engine::general_purpose::STANDARD.encode(bytes))
            } else {
                json!(v)
            };
            json!({"object": "embedding", "index": i, "embedding": embedding})
        })
        .collect();
    Ok(super::json_ok(&json!({
        "object": "list",
        "data": data,
        "model": ids.embedding,
        "usage": Usage::new(tokens, 0),
    })))
}
