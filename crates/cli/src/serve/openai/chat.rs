//! `POST /v1/chat/completions`: OpenAI's request into an `almanac_core::Completion`, a turn in
//! the generation queue, the answer on a blocking thread, and back as one JSON object or as
//! Server-Sent Events in OpenAI's chunk format ending with `data: [DONE]`. A client that leaves
//! (a closed stream, or a dropped request while waiting for the whole answer) cancels its answer.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use almanac_core::{
    Answer, AnswerEvent, AnswerOptions, ChatMessage, Completion, Sampling, Scope, Settings,
};
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};
use tokio::sync::mpsc;

use super::error::{parse_body, OpenAiError};
use super::wire::{
    finish_reason, ChatRequest, Content, ResponseExtension, Stop, Usage, WireMessage,
};
use super::{now, Counters, ModelIds, MAX_MESSAGES};
use crate::serve::queue::Refusal;
use crate::serve::Server;

/// Stop strings per request at most, and bytes of each (OpenAI allows four).
const MAX_STOPS: usize = 4;
const MAX_STOP_BYTES: usize = 256;

pub async fn completions(
    State(server): State<Server>,
    bytes: Result<Bytes, BytesRejection>,
) -> Response {
    match answer(server, bytes).await {
        Ok(response) => response,
        Err(e) => e.into_response(),
    }
}

/// What the blocking run sends to the response.
enum Message {
    Event(AnswerEvent),
    End(Result<Answer, OpenAiError>),
}

async fn answer(
    server: Server,
    bytes: Result<Bytes, BytesRejection>,
) -> Result<Response, OpenAiError> {
    let request: ChatRequest = parse_body(bytes)?;
    let settings = server.app.settings();
    let ids = ModelIds::of(&settings);
    if request.model != ids.chat {
        return Err(OpenAiError::unknown_model(
            &request.model,
            std::slice::from_ref(&ids.chat),
        ));
    }
    let completion = completion_of(&request, &settings)?;
    let turn = server.queue.wait_turn().await.map_err(|refusal| {
        Counters::add(&server.counters.completions_refused);
        let message = match refusal {
            Refusal::Full => format!(
                "the model is busy and {} requests are waiting already; try again later",
                server.queue.capacity
            ),
            Refusal::TimedOut => format!(
                "the model stayed busy for {} s; try again later",
                server.queue.max_wait.as_secs()
            ),
        };
        let mut e = OpenAiError::new(StatusCode::SERVICE_UNAVAILABLE, "server_busy", message);
        e.retry_after = Some(server.queue.retry_after_secs());
        e
    })?;

    let (tx, mut rx) = mpsc::unbounded_channel::<Message>();
    let app = server.app.clone();
    let counters = server.counters.clone();
    tokio::task::spawn_blocking(move || {
        let _turn = turn;
        let events = tx.clone();
        let result = app.complete(&completion, &mut |event| {
            events.send(Message::Event(event)).is_ok()
        });
        count(&counters, &result);
        let _ = tx.send(Message::End(result.map_err(OpenAiError::from)));
    });

    let reply = Reply {
        id: next_id(),
        created: now(),
        model: ids.chat,
        include_usage: request
            .stream_options
            .as_ref()
            .is_some_and(|o| o.include_usage),
    };
    // The first message decides between a refusal and an answer.
    let first = match rx.recv().await {
        Some(Message::End(Err(e))) => return Err(e),
        Some(message) => message,
        None => return Err(OpenAiError::internal("the answer ended before it started")),
    };
    if request.stream {
        Ok(stream(reply, first, rx))
    } else {
        let mut message = Some(first);
        loop {
            match message {
                Some(Message::End(Ok(answer))) => return Ok(reply.whole(&answer)),
                Some(Message::End(Err(e))) => return Err(e),
                Some(Message::Event(_)) => {}
                None => return Err(OpenAiError::internal("the answer ended without a result")),
            }
            message = rx.recv().await;
        }
    }
}

fn count(counters: &Counters, result: &almanac_core::Result<Answer>) {
    Counters::add(match result {
        Ok(a) if a.stop_reason == almanac_core::StopReason::Cancelled => {
            &counters.completions_cancelled
        }
        Ok(_) => &counters.completions_finished,
        Err(_) => &counters.completions_failed,
    });
}

fn next_id() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    format!(
        "chatcmpl-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// The parts every response object of one answer shares.
struct Reply {
    id: String,
    created: u64,
    model: String,
    include_usage: bool,
}

impl Reply {
    fn whole(&self, answer: &Answer) -> Response {
        let mut extension = ResponseExtension::sources(&answer.retrieval);
        extension.cited = Some(answer.cited.clone());
        extension.evidence = Some(answer.evidence.clone());
        extension.attributed = Some(answer.attributed.clone());
        extension.stop_reason = Some(answer.stop_reason);
        let body = json!({
            "id": self.id,
            "object": "chat.completion",
            "created": self.created,
            "model": self.model,
            "system_fingerprint": null,
            "choices": [{
                "index": 0,
                "message": {"role": "assistant", "content": answer.answer, "refusal": null},
                "logprobs": null,
                "finish_reason": finish_reason(answer.stop_reason),
            }],
            "usage": usage(answer),
            "almanac": extension,
        });
        super::json_ok(&body)
    }

    fn chunk(
        &self,
        delta: Value,
        finish: Option<&str>,
        extension: Option<ResponseExtension>,
    ) -> Event {
        let mut chunk = json!({
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "system_fingerprint": null,
            "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}],
        });
        if let Some(extension) = extension {
            chunk["almanac"] = serde_json::to_value(extension).expect("extension serialises");
        }
        Event::default().data(chunk.to_string())
    }

    /// The SSE events for one message of the run (the last message ends with `[DONE]`).
    fn events(&self, message: Message) -> Vec<Event> {
        match message {
            Message::Event(AnswerEvent::Sources { retrieval }) => vec![self.chunk(
                json!({"role": "assistant", "content": ""}),
                None,
                Some(ResponseExtension::sources(&retrieval)),
            )],
            Message::Event(AnswerEvent::Evidence { evidence }) => vec![self.chunk(
                json!({}),
                None,
                Some(ResponseExtension {
                    evidence: Some(evidence),
                    ..ResponseExtension::default()
                }),
            )],
            Message::Event(AnswerEvent::Token { text }) => {
                vec![self.chunk(json!({"content": text}), None, None)]
            }
            Message::Event(AnswerEvent::Done { .. }) => Vec::new(),
            Message::End(Ok(answer)) => {
                let extension = ResponseExtension {
                    cited: Some(answer.cited.clone()),
                    attributed: Some(answer.attributed.clone()),
                    stop_reason: Some(answer.stop_reason),
                    ..ResponseExtension::default()
                };
                let mut events = vec![self.chunk(
                    json!({}),
                    Some(finish_reason(answer.stop_reason)),
                    Some(extension),
                )];
                if self.include_usage {
                    let chunk = json!({
                        "id": self.id,
                        "object": "chat.completion.chunk",
                        "created": self.created,
                        "model": self.model,
                        "system_fingerprint": null,
                        "choices": [],
                        "usage": usage(&answer),
                    });
                    events.push(Event::default().data(chunk.to_string()));
                }
                events.push(Event::default().data("[DONE]"));
                events
            }
            // OpenAI's clients raise an error for a chunk that carries `error`.
            Message::End(Err(e)) => vec![
                Event::default().data(e.body().to_string()),
                Event::default().data("[DONE]"),
            ],
        }
    }
}

fn usage(answer: &Answer) -> Usage {
    Usage::new(answer.timings.prompt_tokens, answer.timings.tokens)
}

fn stream(reply: Reply, first: Message, rx: mpsc::UnboundedReceiver<Message>) -> Response {
    let reply = Arc::new(reply);
    let pending: VecDeque<Event> = reply.events(first).into();
    let state = (reply, pending, rx);
    let events = futures_util::stream::unfold(state, |(reply, mut pending, mut rx)| async move {
        loop {
            if let Some(event) = pending.pop_front() {
                return Some((Ok::<_, Infallible>(event), (reply, pending, rx)));
            }
            // Dropping `rx` (the client left) makes the run's next send fail, which cancels it.
            let message = rx.recv().await?;
            pending.extend(reply.events(message));
        }
    });
    let mut response = Sse::new(events)
        .keep_alive(KeepAlive::default())
        .into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// OpenAI's request as Almanac's: the messages into history and question, the options checked.
fn completion_of(request: &ChatRequest, settings: &Settings) -> Result<Completion, OpenAiError> {
    if let Some(n) = request.n.filter(|&n| n != 1) {
        return Err(OpenAiError::invalid(
            "n",
            format!("n: {n} choices were asked for; this server gives 1"),
        ));
    }
    let (system, mut history) = conversation(&request.messages)?;
    let question = match history.pop() {
        Some(last) if last.role == "user" => last.content,
        _ => {
            return Err(OpenAiError::invalid(
                "messages",
                "messages: the last message must be the user's question",
            ))
        }
    };
    let extension = request.almanac.as_ref();
    let folder = extension.and_then(|x| x.folder.clone()).map(PathBuf::from);
    let documents = extension.and_then(|x| x.documents.clone());
    let scope = (folder.is_some() || documents.is_some()).then(|| Scope {
        folder,
        documents: documents.unwrap_or_default(),
    });
    Ok(Completion {
        history,
        question,
        options: AnswerOptions {
            retrieval: extension.and_then(|x| x.retrieval).unwrap_or(true),
            web: extension.and_then(|x| x.web).unwrap_or(false),
            scope,
            system_prompt: system,
            sampling: sampling(request, settings)?,
        },
    })
}

/// System (and developer) messages become the system prompt; user and assistant turns the
/// history.
fn conversation(
    messages: &[WireMessage],
) -> Result<(Option<String>, Vec<ChatMessage>), OpenAiError> {
    if messages.is_empty() {
        return Err(OpenAiError::invalid(
            "messages",
            "messages: at least one message is required",
        ));
    }
    if messages.len() > MAX_MESSAGES {
        return Err(OpenAiError::new(
            StatusCode::BAD_REQUEST,
            "too_many_messages",
            format!(
                "messages: {} messages is over the limit of {MAX_MESSAGES}",
                messages.len()
            ),
        )
        .param("messages"));
    }
    let mut system: Vec<String> = Vec::new();
    let mut turns = Vec::new();
    for (i, message) in messages.iter().enumerate() {
        let param = format!("messages[{i}]");
        let text = text_of(message.content.as_ref(), &param)?;
        match message.role.as_str() {
            "system" | "developer" => system.push(text),
            "user" | "assistant" => turns.push(ChatMessage {
                role: message.role.clone(),
                content: text,
            }),
            other => {
                return Err(OpenAiError::invalid(
                    &format!("{param}.role"),
                    format!(
                        "{param}.role: {:?} is not supported here (system, developer, user or assistant)",
                        super::error::clip(other)
                    ),
                ))
            }
        }
    }
    let system = (!system.is_empty()).then(|| system.join("\n\n"));
    Ok((system, turns))
}

fn text_of(content: Option<&Content>, param: &str) -> Result<String, OpenAiError> {
    match content {
        None => Ok(String::new()),
        Some(Content::Text(text)) => Ok(text.clone()),
        Some(Content::Parts(parts)) => {
            let mut text = String::new();
            for part in parts {
                match (part.kind.as_str(), &part.text) {
                    ("text", Some(t)) => text.push_str(t),
                    _ => {
                        return Err(OpenAiError::invalid(
                            &format!("{param}.content"),
                            format!(
                                "{param}.content: only text parts are supported, not {:?}",
                                super::error::clip(&part.kind)
                            ),
                        ))
                    }
                }
            }
            Ok(text)
        }
    }
}

fn sampling(request: &ChatRequest, settings: &Settings) -> Result<Sampling, OpenAiError> {
    let context = settings.answer_context_length();
    let (max_param, max) = match (request.max_completion_tokens, request.max_tokens) {
        (Some(n), _) => ("max_completion_tokens", Some(n)),
        (None, n) => ("max_tokens", n),
    };
    let max_tokens = match max {
        None => None,
        Some(n) if n >= 1 && n as u64 <= context as u64 => Some(n as usize),
        Some(n) => {
            return Err(OpenAiError::invalid(
                max_param,
                format!(
                    "{max_param}: {n} is out of range; give 1 to {context} (the context window)"
                ),
            ))
        }
    };
    if let Some(t) = request.temperature.filter(|t| !(0.0..=2.0).contains(t)) {
        return Err(OpenAiError::invalid(
            "temperature",
            format!("temperature: {t} is out of range; give 0 to 2"),
        ));
    }
    if let Some(p) = request.top_p.filter(|p| !(*p > 0.0 && *p <= 1.0)) {
        return Err(OpenAiError::invalid(
            "top_p",
            format!("top_p: {p} is out of range; give a number above 0, at most 1"),
        ));
    }
    let stop = match &request.stop {
        None => Vec::new(),
        Some(Stop::One(s)) => vec![s.clone()],
        Some(Stop::Many(list)) => list.clone(),
    };
    if stop.len() > MAX_STOPS
        || stop
            .iter()
            .any(|s| s.is_empty() || s.len() > MAX_STOP_BYTES)
    {
        return Err(OpenAiError::invalid(
            "stop",
            format!("stop: give at most {MAX_STOPS} strings of 1 to {MAX_STOP_BYTES} bytes"),
        ));
    }
    Ok(Sampling {
        max_tokens,
        temperature: request.temperature,
        top_p: request.top_p,
        // OpenAI's seed is any integer; its bits are the engine's seed.
        seed: request.seed.map(|s| s as u64),
        stop,
    })
}
