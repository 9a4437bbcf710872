//! A run on a blocking thread, streamed as Server-Sent Events (`data: <json>` per event).
//!
//! The run reports through a channel. Its first message decides the response: a refusal (the
//! App returned `Err` before emitting anything) becomes a JSON error with its status; an event
//! starts a `200 text/event-stream` response that ends when the run does. When the client goes
//! away, `emit` returns false so the run can stop.

use std::convert::Infallible;

use axum::http::{header, HeaderValue};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use tokio::sync::mpsc;

use super::errors::ApiError;

enum Message {
    Event(String),
    Refused(ApiError),
}

/// Runs `work` on a blocking thread. `work` gets `emit(json) -> bool` (false once the client is
/// gone) and returns `Err` only when it refused the request before emitting anything.
pub async fn sse_from_blocking<F>(work: F) -> Result<Response, ApiError>
where
    F: FnOnce(&mut dyn FnMut(String) -> bool) -> Result<(), ApiError> + Send + 'static,
{
    let (tx, mut rx) = mpsc::unbounded_channel::<Message>();
    tokio::task::spawn_blocking(move || {
        let events = tx.clone();
        let mut emit = move |json: String| events.send(Message::Event(json)).is_ok();
        if let Err(e) = work(&mut emit) {
            let _ = tx.send(Message::Refused(e));
        }
    });
    let first = match rx.recv().await {
        Some(Message::Event(json)) => json,
        Some(Message::Refused(e)) => return Err(e),
        None => return Err(ApiError::internal("the run ended before it started")),
    };
    let stream = futures_util::stream::unfold((Some(first), rx), |(first, mut rx)| async move {
        if let Some(json) = first {
            return Some((Ok::<_, Infallible>(Event::default().data(json)), (None, rx)));
        }
        loop {
            match rx.recv().await? {
                Message::Event(json) => {
                    return Some((Ok(Event::default().data(json)), (None, rx)));
                }
                Message::Refused(_) => continue,
            }
        }
    });
    let mut response = Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}
