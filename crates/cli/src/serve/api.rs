//! The `/api` routes of ui/README.md, each a thin call into `almanac_core::App`.

use std::collections::HashMap;

use almanac_core::{App, AskOptions, LibraryEvent, RunEvent};
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;
use serde_json::json;

use super::errors::{parse_json, ApiError};
use super::stream::sse_from_blocking;
use super::Server;

type ApiResult = Result<Response, ApiError>;
pub(super) type BodyBytes = Result<Bytes, BytesRejection>;

pub fn routes() -> Router<Server> {
    Router::new()
        .route("/api/ask", post(ask))
        .route("/api/runs/{run_id}/cancel", post(cancel_run))
        .route("/api/conversations", get(list_conversations))
        .route(
            "/api/conversations/{id}",
            get(get_conversation)
                .patch(rename_conversation)
                .delete(delete_conversation),
        )
        .route("/api/conversations/{id}/export", get(export_conversation))
        .route("/api/conversations/{id}/regenerate", post(regenerate))
        .route(
            "/api/library",
            get(list_documents)
                .post(add_documents)
                .delete(remove_document),
        )
        .route("/api/library/reindex", post(reindex_document))
        .route("/api/library/changes", get(library_changes))
        .route("/api/document", get(get_document))
        .route("/api/models", get(models).delete(remove_model))
        .route("/api/models/import", post(import_model))
        .route("/api/models/catalogue", get(model_catalogue))
        .route("/api/models/pull", post(pull_model))
        .route("/api/models/pulls/{pull_id}/cancel", post(cancel_pull))
        .route("/api/settings", get(get_settings).put(put_settings))
        .route(
            "/api/backend/key",
            axum::routing::put(put_backend_key).delete(delete_backend_key),
        )
        .route("/api/tokenize", post(tokenize))
        .route("/api", axum::routing::any(no_route))
        .route("/api/{*rest}", axum::routing::any(no_route))
        .method_not_allowed_fallback(method_not_allowed)
}

async fn no_route(uri: axum::http::Uri) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        format!("no API route {}", uri.path()),
    )
}

async fn method_not_allowed(method: axum::http::Method, uri: axum::http::Uri) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("{method} is not allowed on {}", uri.path()),
    )
}

/// Runs an App call on a blocking thread.
async fn blocking<T, F>(server: &Server, f: F) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce(&App) -> almanac_core::Result<T> + Send + 'static,
{
    let app = server.app.clone();
    tokio::task::spawn_blocking(move || f(&app))
        .await
        .map_err(|e| ApiError::internal(format!("the request failed: {e}")))?
        .map_err(ApiError::from)
}

/// A JSON request body: `Content-Type: application/json` when there is one.
pub(super) fn body<T: serde::de::DeserializeOwned>(
    headers: &HeaderMap,
    bytes: &BodyBytes,
) -> Result<T, ApiError> {
    let bytes = match bytes {
        Ok(bytes) => bytes,
        Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                format!(
                    "the request body is over the {}-byte limit",
                    super::BODY_LIMIT
                ),
            ))
        }
        Err(e) => return Err(ApiError::bad_request("bad_request", e.body_text())),
    };
    if !bytes.is_empty() {
        let json = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
        if !json {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "the request body must be JSON (Content-Type: application/json)",
            ));
        }
    }
    parse_json(bytes)
}

fn query(
    q: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Result<HashMap<String, String>, ApiError> {
    q.map(|Query(q)| q)
        .map_err(|e| ApiError::bad_request("invalid_argument", format!("the query string: {e}")))
}

fn required<'a>(q: &'a HashMap<String, String>, name: &str) -> Result<&'a str, ApiError> {
    q.get(name).map(String::as_str).ok_or_else(|| {
        ApiError::bad_request(
            "invalid_argument",
            format!("{name}: is required (a query parameter)"),
        )
    })
}

fn line_number(q: &HashMap<String, String>, name: &str) -> Result<usize, ApiError> {
    required(q, name)?.parse().map_err(|_| {
        ApiError::bad_request(
            "invalid_argument",
            format!("{name}: must be a whole number from 1"),
        )
    })
}

fn no_content() -> Response {
    StatusCode::NO_CONTENT.into_response()
}

pub(super) fn json_response(value: impl serde::Serialize) -> Response {
    let body = serde_json::to_vec(&value).expect("responses serialise");
    let mut response = body.into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

// --- answers ------------------------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AskRequest {
    #[serde(default)]
    conversation_id: Option<String>,
    text: String,
    #[serde(default)]
    options: AskOptions,
}

/// Streams a run's events; when the client goes away the run is cancelled (and stored as such).
fn answer_stream(
    app: &App,
    emit: &mut dyn FnMut(String) -> bool,
    run: impl FnOnce(&App, &mut dyn FnMut(RunEvent)) -> almanac_core::Result<almanac_core::RunOutcome>,
) -> Result<(), ApiError> {
    let mut run_id: Option<String> = None;
    let mut gone = false;
    run(app, &mut |event| {
        if let RunEvent::Started { run_id: id, .. } = &event {
            run_id = Some(id.clone());
        }
        let json = serde_json::to_string(&event).expect("events serialise");
        if !gone && !emit(json) {
            gone = true;
            if let Some(id) = &run_id {
                let _ = app.cancel_run(id);
            }
        }
    })
    .map(|_| ())
    .map_err(ApiError::from)
}

/// The model's turn for a UI question: taken now or refused with `busy` (no waiting in line).
fn model_turn(server: &Server) -> Result<super::queue::Turn, ApiError> {
    server.queue.try_take().ok_or_else(|| {
        ApiError::new(
            StatusCode::CONFLICT,
            "busy",
            "another answer is being generated; wait for it or stop it first",
        )
    })
}

async fn ask(State(server): State<Server>, headers: HeaderMap, bytes: BodyBytes) -> ApiResult {
    let request: AskRequest = body(&headers, &bytes)?;
    let turn = model_turn(&server)?;
    let app = server.app.clone();
    sse_from_blocking(move |emit| {
        let _turn = turn;
        answer_stream(&app, emit, |app, on_event| {
            app.ask(
                request.conversation_id.as_deref(),
                &request.text,
                &request.options,
                on_event,
            )
        })
    })
    .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Empty {}

async fn regenerate(
    State(server): State<Server>,
    Path(id): Path<String>,
    headers: HeaderMap,
    bytes: BodyBytes,
) -> ApiResult {
    let _: Empty = body(&headers, &bytes)?;
    let turn = model_turn(&server)?;
    let app = server.app.clone();
    sse_from_blocking(move |emit| {
        let _turn = turn;
        answer_stream(&app, emit, |app, on_event| app.regenerate(&id, on_event))
    })
    .await
}

async fn cancel_run(State(server): State<Server>, Path(run_id): Path<String>) -> ApiResult {
    blocking(&server, move |app| app.cancel_run(&run_id)).await?;
    Ok(no_content())
}

// --- conversations ------------------------------------------------------------------------------

async fn list_conversations(
    State(server): State<Server>,
    q: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> ApiResult {
    let q = query(q)?.remove("q");
    let list = blocking(&server, move |app| app.list_conversations(q.as_deref())).await?;
    Ok(json_response(list))
}

async fn get_conversation(State(server): State<Server>, Path(id): Path<String>) -> ApiResult {
    let c = blocking(&server, move |app| app.get_conversation(&id)).await?;
    Ok(json_response(c))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RenameRequest {
    title: String,
}

async fn rename_conversation(
    State(server): State<Server>,
    Path(id): Path<String>,
    headers: HeaderMap,
    bytes: BodyBytes,
) -> ApiResult {
    let request: RenameRequest = body(&headers, &bytes)?;
    let summary = blocking(&server, move |app| {
        app.rename_conversation(&id, &request.title)
    })
    .await?;
    Ok(json_response(summary))
}

async fn delete_conversation(State(server): State<Server>, Path(id): Path<String>) -> ApiResult {
    blocking(&server, move |app| app.delete_conversation(&id)).await?;
    Ok(no_content())
}

async fn export_conversation(State(server): State<Server>, Path(id): Path<String>) -> ApiResult {
    let markdown = blocking(&server, move |app| app.export_conversation(&id)).await?;
    let mut response = markdown.into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/markdown; charset=utf-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

// --- library ------------------------------------------------------------------------------------

async fn list_documents(State(server): State<Server>) -> ApiResult {
    let docs = blocking(&server, |app| app.list_documents()).await?;
    Ok(json_response(docs))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AddRequest {
    paths: Vec<String>,
}

async fn add_documents(
    State(server): State<Server>,
    headers: HeaderMap,
    bytes: BodyBytes,
) -> ApiResult {
    let request: AddRequest = body(&headers, &bytes)?;
    let app = server.app.clone();
    sse_from_blocking(move |emit| {
        let mut gone = false;
        app.add_documents(&request.paths, &mut |event: LibraryEvent| {
            // Ingestion goes on when the client leaves: the files are still wanted.
            if !gone {
                gone = !emit(serde_json::to_string(&event).expect("events serialise"));
            }
        })
        .map(|_| ())
        .map_err(ApiError::from)
    })
    .await
}

/// How long the changes stream stays silent before a `ping` (which also finds a client gone).
const CHANGES_PING: std::time::Duration = std::time::Duration::from_secs(15);

/// The watcher's changes to the library, as a stream that lasts until the client leaves or the
/// server stops: `watching` first, then `indexed`, `failed`, `removed` (and `ping` when quiet).
async fn library_changes(State(server): State<Server>) -> ApiResult {
    let app = server.app.clone();
    sse_from_blocking(move |emit| {
        let changes = app.library_changes();
        let watching = json!({"event": "watching", "active": app.is_watching()});
        if !emit(watching.to_string()) {
            return Ok(());
        }
        loop {
            let json = match changes.recv_timeout(CHANGES_PING) {
                Ok(event) => serde_json::to_string(&event).expect("events serialise"),
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                    json!({"event": "ping"}).to_string()
                }
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => return Ok(()),
            };
            if !emit(json) {
                return Ok(());
            }
        }
    })
    .await
}

async fn remove_document(
    State(server): State<Server>,
    q: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> ApiResult {
    let q = query(q)?;
    let path = required(&q, "path")?.to_owned();
    blocking(&server, move |app| app.remove_document(&path)).await?;
    Ok(no_content())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PathRequest {
    path: String,
}

async fn reindex_document(
    State(server): State<Server>,
    headers: HeaderMap,
    bytes: BodyBytes,
) -> ApiResult {
    let request: PathRequest = body(&headers, &bytes)?;
    let report = blocking(&server, move |app| app.reindex_document(&request.path)).await?;
    Ok(json_response(report))
}

async fn get_document(
    State(server): State<Server>,
    q: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> ApiResult {
    let q = query(q)?;
    let path = required(&q, "path")?.to_owned();
    let (start, end) = (line_number(&q, "line_start")?, line_number(&q, "line_end")?);
    let doc = blocking(&server, move |app| app.get_document(&path, start, end)).await?;
    Ok(json_response(doc))
}

// --- models, settings, tokens -------------------------------------------------------------------

async fn models(State(server): State<Server>) -> ApiResult {
    let models = blocking(&server, |app| app.models()).await?;
    Ok(json_response(models))
}

async fn import_model(
    State(server): State<Server>,
    headers: HeaderMap,
    bytes: BodyBytes,
) -> ApiResult {
    let request: PathRequest = body(&headers, &bytes)?;
    let model = blocking(&server, move |app| app.import_model(&request.path)).await?;
    Ok(json_response(model))
}

async fn model_catalogue(State(server): State<Server>) -> ApiResult {
    let catalogue = blocking(&server, |app| app.model_catalogue()).await?;
    Ok(json_response(catalogue))
}

/// Streams a pull's events. A client that goes away does not stop the download (cancel does):
/// it finishes in the background and the catalogue then lists the model as downloaded.
async fn pull_model(
    State(server): State<Server>,
    headers: HeaderMap,
    bytes: BodyBytes,
) -> ApiResult {
    let request: serde_json::Value = body(&headers, &bytes)?;
    let app = server.app.clone();
    sse_from_blocking(move |emit| {
        let mut gone = false;
        app.pull_model(&request, &mut |event| {
            let json = serde_json::to_string(&event).expect("events serialise");
            if !gone && !emit(json) {
                gone = true;
            }
        })
        .map_err(ApiError::from)
    })
    .await
}

async fn cancel_pull(State(server): State<Server>, Path(pull_id): Path<String>) -> ApiResult {
    blocking(&server, move |app| app.cancel_pull(&pull_id)).await?;
    Ok(no_content())
}

async fn remove_model(
    State(server): State<Server>,
    q: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> ApiResult {
    let q = query(q)?;
    let name = required(&q, "name")?.to_owned();
    blocking(&server, move |app| app.remove_model(&name)).await?;
    Ok(no_content())
}

async fn get_settings(State(server): State<Server>) -> ApiResult {
    let settings = blocking(&server, |app| Ok(app.settings())).await?;
    Ok(json_response(settings))
}

async fn put_settings(
    State(server): State<Server>,
    headers: HeaderMap,
    bytes: BodyBytes,
) -> ApiResult {
    let input: serde_json::Value = body(&headers, &bytes)?;
    let settings = blocking(&server, move |app| app.put_settings(&input)).await?;
    Ok(json_response(settings))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BackendKeyRequest {
    key: String,
}

/// Stores the endpoint's key in the OS keyring; answers with the backend as `/api/models` shows
/// it (whether a key is present, never the key).
async fn put_backend_key(
    State(server): State<Server>,
    headers: HeaderMap,
    bytes: BodyBytes,
) -> ApiResult {
    let request: BackendKeyRequest = body(&headers, &bytes)?;
    let backend = blocking(&server, move |app| app.set_backend_key(&request.key)).await?;
    Ok(json_response(backend))
}

async fn delete_backend_key(State(server): State<Server>) -> ApiResult {
    let backend = blocking(&server, |app| app.delete_backend_key()).await?;
    Ok(json_response(backend))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenizeRequest {
    text: String,
}

async fn tokenize(State(server): State<Server>, headers: HeaderMap, bytes: BodyBytes) -> ApiResult {
    let request: TokenizeRequest = body(&headers, &bytes)?;
    let tokens = blocking(&server, move |app| app.tokenize(&request.text)).await?;
    Ok(json_response(json!({ "tokens": tokens })))
}
