//! OpenAI's request and response shapes (chat completions, models, embeddings), and Almanac's
//! extension object `almanac` in both directions (docs/openai-api.md lists its fields).

use almanac_core::{Evidence, Passage, Retrieval, StopReason};
use serde::{Deserialize, Serialize};

/// `POST /v1/chat/completions`. Fields OpenAI defines that do not apply here (`user`,
/// `frequency_penalty`, `logit_bias`…) are accepted and ignored, as OpenAI-compatible servers do.
#[derive(Debug, Deserialize)]
pub struct ChatRequest {
    pub model: String,
    pub messages: Vec<WireMessage>,
    #[serde(default)]
    pub stream: bool,
    #[serde(default)]
    pub stream_options: Option<StreamOptions>,
    pub temperature: Option<f64>,
    pub top_p: Option<f64>,
    pub max_tokens: Option<i64>,
    /// OpenAI's newer name for `max_tokens`.
    pub max_completion_tokens: Option<i64>,
    pub stop: Option<Stop>,
    pub seed: Option<i64>,
    pub n: Option<i64>,
    #[serde(default)]
    pub almanac: Option<RequestExtension>,
}

#[derive(Debug, Default, Deserialize)]
pub struct StreamOptions {
    #[serde(default)]
    pub include_usage: bool,
}

/// Almanac's request options (`extra_body={"almanac": {...}}` in OpenAI's Python client).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestExtension {
    /// Search the library for sources (default true).
    pub retrieval: Option<bool>,
    /// Also search the web through the configured provider (default false).
    pub web: Option<bool>,
    /// Only documents under this absolute folder.
    pub folder: Option<String>,
    /// Only these documents (library paths, as `GET /api/library` lists them).
    pub documents: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum Stop {
    One(String),
    Many(Vec<String>),
}

#[derive(Debug, Deserialize)]
pub struct WireMessage {
    pub role: String,
    #[serde(default)]
    pub content: Option<Content>,
}

/// A message's content: a string, or a list of parts of which only text parts are read.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum Content {
    Text(String),
    Parts(Vec<ContentPart>),
}

#[derive(Debug, Deserialize)]
pub struct ContentPart {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub text: Option<String>,
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct Usage {
    pub prompt_tokens: usize,
    pub completion_tokens: usize,
    pub total_tokens: usize,
}

impl Usage {
    pub fn new(prompt_tokens: usize, completion_tokens: usize) -> Usage {
        Usage {
            prompt_tokens,
            completion_tokens,
            total_tokens: prompt_tokens + completion_tokens,
        }
    }
}

/// Almanac's extension of a response: the numbered sources the answer may cite as [n], the
/// evidence quoted from them, and which sources the answer's sentences were attributed to.
#[derive(Debug, Default, Serialize)]
pub struct ResponseExtension {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sources: Option<Vec<Passage>>,
    /// The sentences or rows of the sources that best answer the question (a stream: its own chunk
    /// right after the sources').
    #[serde(skip_serializing_if = "Option::is_none")]
    pub evidence: Option<Vec<Evidence>>,
    /// The sources Almanac attributed the answer's sentences to (the last chunk of a stream).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attributed: Option<Vec<usize>>,
    /// Whether sources went into the prompt, and why not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retrieval: Option<RetrievalSummary>,
    /// The source numbers the answer cites (the last chunk of a stream).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cited: Option<Vec<usize>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_reason: Option<StopReason>,
}

#[derive(Debug, Serialize)]
pub struct RetrievalSummary {
    pub used: bool,
    pub reason: Option<String>,
    pub query: String,
    pub elapsed_ms: f64,
}

impl ResponseExtension {
    pub fn sources(retrieval: &Retrieval) -> ResponseExtension {
        ResponseExtension {
            sources: Some(retrieval.passages.clone()),
            retrieval: Some(RetrievalSummary {
                used: retrieval.used,
                reason: retrieval.reason.clone(),
                query: retrieval.query.clone(),
                elapsed_ms: retrieval.elapsed_ms,
            }),
            ..ResponseExtension::default()
        }
    }
}

/// OpenAI's `finish_reason` for how generation stopped.
pub fn finish_reason(stop: StopReason) -> &'static str {
    match stop {
        StopReason::MaxTokens | StopReason::ContextFull => "length",
        // A loop stopped by the guard: OpenAI has no word for it; `almanac.stop_reason` says
        // `repetition`.
        StopReason::EndOfTurn
        | StopReason::StopString
        | StopReason::Cancelled
        | StopReason::Repetition => "stop",
    }
}

/// `POST /v1/embeddings`.
#[derive(Debug, Deserialize)]
pub struct EmbeddingsRequest {
    pub model: String,
    pub input: EmbeddingInput,
    #[serde(default)]
    pub encoding_format: Option<String>,
    #[serde(default)]
    pub dimensions: Option<usize>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum EmbeddingInput {
    One(String),
    Many(Vec<String>),
    /// Token ids: valid for OpenAI, refused here with a clear error (our tokenizer is not theirs).
    Tokens(#[allow(dead_code)] serde::de::IgnoredAny),
}
