//! A remote chat model: any OpenAI-compatible endpoint (vLLM, llama.cpp's llama-server, Ollama…)
//! reached over `POST {base_url}/chat/completions` with `stream: true`. The endpoint applies its own
//! chat template; the messages are the caller's, exactly as a local model would have rendered them.

use std::io::{BufRead, BufReader};
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::json;

use crate::{CancelFlag, ChatMessage, Error, Generation, GenerationParams, Result, StopReason};

/// Where a remote model is and how long to wait for it.
#[derive(Debug, Clone)]
pub struct OpenAiEndpoint {
    /// Up to and including `/v1`, e.g. `http://gpu-box:8000/v1`.
    pub base_url: String,
    /// The model name the endpoint serves (vLLM needs the exact one; llama-server takes any).
    pub model: String,
    /// Sent as `Authorization: Bearer …` when set.
    pub api_key: Option<String>,
    /// The endpoint's context window as configured: there is no standard way to ask it.
    pub context_length: usize,
    pub connect_timeout: Duration,
    /// Longest wait for the response to start and between two streamed chunks.
    pub read_timeout: Duration,
}

impl OpenAiEndpoint {
    pub fn context_length(&self) -> usize {
        self.context_length
    }

    /// The endpoint's answer URL.
    pub fn url(&self) -> String {
        format!("{}/chat/completions", self.base_url.trim_end_matches('/'))
    }

    /// A conservative token count for text the endpoint will tokenize with a tokenizer we do not
    /// have: about three bytes a token (English runs nearer four), so a fitted prompt fits.
    pub fn estimate_tokens(text: &str) -> usize {
        text.len().div_ceil(3)
    }

    /// Streams an answer to `messages`, calling `on_delta` with each piece of text. Between chunks
    /// the cancel flag is checked; a raised flag drops the connection, which stops the endpoint.
    pub fn generate_chat(
        &self,
        messages: &[ChatMessage],
        params: &GenerationParams,
        cancel: &CancelFlag,
        on_delta: &mut dyn FnMut(&str),
    ) -> Result<Generation> {
        let url = self.url();
        let fail = |detail: String| Error::Backend {
            url: url.clone(),
            detail,
        };
        let agent = ureq::Agent::config_builder()
            .timeout_connect(Some(self.connect_timeout))
            .timeout_recv_response(Some(self.read_timeout))
            .timeout_per_read(Some(self.read_timeout))
            .http_status_as_error(false)
            .build()
            .new_agent();
        let mut body = json!({
            "model": self.model,
            "messages": messages,
            "stream": true,
            "stream_options": {"include_usage": true},
            "max_tokens": params.max_tokens,
            "temperature": params.temperature,
            "seed": params.seed,
        });
        if let Some(top_p) = params.top_p {
            body["top_p"] = json!(top_p);
        }
        if !params.stop.is_empty() {
            body["stop"] = json!(params.stop);
        }
        let mut request = agent.post(&url).header("Accept", "text/event-stream");
        if let Some(key) = &self.api_key {
            request = request.header("Authorization", &format!("Bearer {key}"));
        }
        let started = Instant::now();
        let mut response = request
            .send_json(&body)
            .map_err(|e| fail(transport_detail(&e, self.read_timeout)))?;
        let status = response.status();
        if !status.is_success() {
            let text = response.body_mut().read_to_string().unwrap_or_default();
            let message = error_message(&text);
            let detail = format!("HTTP {}: {message}", status.as_u16());
            if is_template_refusal(status.as_u16(), &message) {
                return Err(Error::BackendTemplate {
                    url: url.clone(),
                    detail,
                });
            }
            return Err(fail(detail));
        }

        let mut generation = Generation {
            text: String::new(),
            stop_reason: StopReason::EndOfTurn,
            prompt_tokens: 0,
            cached_tokens: 0,
            generated_tokens: 0,
            time_to_first_token: Duration::ZERO,
            prefill: Duration::ZERO,
            decode: Duration::ZERO,
        };
        let mut first_at = None;
        let reader = BufReader::new(response.body_mut().as_reader());
        for line in reader.lines() {
            if cancel.is_cancelled() {
                generation.stop_reason = StopReason::Cancelled;
                break;
            }
            let line = line.map_err(|e| {
                fail(match e.kind() {
                    std::io::ErrorKind::TimedOut => format!(
                        "timed out: nothing streamed for {} s (the backend's timeout_s)",
                        self.read_timeout.as_secs()
                    ),
                    _ => format!("the stream broke off: {}", crate::error::one_line(e)),
                })
            })?;
            let Some(data) = line.strip_prefix("data:").map(str::trim) else {
                continue; // blank separators, comments, `event:` lines
            };
            if data == "[DONE]" {
                break;
            }
            let chunk: Chunk = serde_json::from_str(data)
                .map_err(|e| fail(format!("unreadable stream chunk ({e}): {}", clip(data))))?;
            if let Some(error) = chunk.error {
                return Err(fail(format!("the endpoint stopped: {}", error.message)));
            }
            if let Some(usage) = chunk.usage {
                generation.prompt_tokens = usage.prompt_tokens;
                generation.generated_tokens = usage.completion_tokens;
            }
            for choice in chunk.choices {
                if let Some(text) = choice.delta.content.filter(|t| !t.is_empty()) {
                    first_at.get_or_insert_with(Instant::now);
                    generation.text.push_str(&text);
                    // One chunk a token on llama-server and vLLM; `usage` corrects it at the end.
                    generation.generated_tokens += 1;
                    on_delta(&text);
                }
                if let Some(reason) = choice.finish_reason {
                    generation.stop_reason = match reason.as_str() {
                        "length" => StopReason::MaxTokens,
                        _ => StopReason::EndOfTurn,
                    };
                }
            }
        }
        let first_at = first_at.unwrap_or_else(Instant::now);
        generation.time_to_first_token = first_at - started;
        generation.prefill = generation.time_to_first_token;
        generation.decode = first_at.elapsed();
        Ok(generation)
    }
}

/// One `chat.completion.chunk` (or an error object some servers send mid-stream).
#[derive(Deserialize)]
struct Chunk {
    #[serde(default)]
    choices: Vec<ChunkChoice>,
    usage: Option<Usage>,
    error: Option<ErrorBody>,
}

#[derive(Deserialize)]
struct ChunkChoice {
    #[serde(default)]
    delta: Delta,
    finish_reason: Option<String>,
}

#[derive(Deserialize, Default)]
struct Delta {
    content: Option<String>,
}

#[derive(Deserialize)]
struct Usage {
    prompt_tokens: usize,
    completion_tokens: usize,
}

#[derive(Deserialize)]
struct ErrorBody {
    message: String,
}

#[derive(Deserialize)]
struct ErrorEnvelope {
    error: ErrorBody,
}

/// The `error.message` of an OpenAI-style error body, or the body itself, on one line.
fn error_message(body: &str) -> String {
    let message = serde_json::from_str::<ErrorEnvelope>(body)
        .map(|e| e.error.message)
        .unwrap_or_else(|_| body.to_owned());
    let message = crate::error::one_line(message.trim());
    if message == "unknown error" {
        "no message".into()
    } else {
        clip(&message)
    }
}

/// Whether an error response says the chat template refused the messages. llama-server answers
/// 400 "… Jinja Exception: <the template's message>", vLLM 400 with the template's message
/// (Mistral's and Llama 2's: "Conversation roles must alternate user/assistant/…", others
/// "System message must be at the beginning"); a context or key error mentions none of these.
pub fn is_template_refusal(status: u16, message: &str) -> bool {
    const SIGNS: [&str; 5] = [
        "jinja",
        "template",
        "roles must alternate",
        "system message",
        "system role",
    ];
    let message = message.to_ascii_lowercase();
    matches!(status, 400 | 422 | 500) && SIGNS.iter().any(|sign| message.contains(sign))
}

/// Says what went wrong in words a user acts on: nothing listening, no answer in time…
fn transport_detail(err: &ureq::Error, read_timeout: Duration) -> String {
    match err {
        ureq::Error::Timeout(_) => format!(
            "timed out: no answer within {} s (the backend's timeout_s)",
            read_timeout.as_secs()
        ),
        ureq::Error::ConnectionFailed => "could not connect (is the server running?)".into(),
        ureq::Error::Io(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
            "connection refused (is the server running?)".into()
        }
        other => crate::error::one_line(other),
    }
}

fn clip(text: &str) -> String {
    const MAX: usize = 300;
    match text.char_indices().nth(MAX) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_openai_error_body_becomes_its_message_on_one_line() {
        let body = r#"{"error":{"code":401,"message":"Invalid API Key\nsecond line","type":"authentication_error"}}"#;
        assert_eq!(error_message(body), "Invalid API Key");
        assert_eq!(error_message("plain text\n"), "plain text");
        assert_eq!(error_message(""), "no message");
        assert!(error_message(&"x".repeat(1000)).ends_with('…'));
    }

    #[test]
    fn a_template_refusal_is_told_from_other_errors() {
        let llama_server = "Unable to generate parser for this template. Automatic parser generation failed: While executing CallExpression at line 2 Error: Jinja Exception: Conversation roles must alternate user/assistant/user/assistant/...";
        assert!(is_template_refusal(400, llama_server));
        assert!(is_template_refusal(
            400,
            "System message must be at the beginning."
        ));
        assert!(is_template_refusal(
            500,
            "Conversation roles must alternate user/assistant"
        ));
        assert!(!is_template_refusal(401, "Invalid API Key"));
        assert!(!is_template_refusal(
            400,
            "the request exceeds the available context size, try increasing it"
        ));
        assert!(!is_template_refusal(
            404,
            "The model `template-x` does not exist"
        ));
    }

    #[test]
    fn the_estimate_counts_three_bytes_a_token_rounded_up() {
        assert_eq!(OpenAiEndpoint::estimate_tokens(""), 0);
        assert_eq!(OpenAiEndpoint::estimate_tokens("abcd"), 2);
        assert_eq!(OpenAiEndpoint::estimate_tokens("é"), 1);
    }

    #[test]
    fn the_url_joins_the_base_without_a_double_slash() {
        let endpoint = OpenAiEndpoint {
            base_url: "http://gpu-box:8000/v1/".into(),
            model: "m".into(),
            api_key: None,
            context_length: 4096,
            connect_timeout: Duration::from_secs(1),
            read_timeout: Duration::from_secs(1),
        };
        assert_eq!(endpoint.url(), "http://gpu-box:8000/v1/chat/completions");
    }
}
