//! The `/api/eval` routes of ui/README.md: start an evaluation, follow it, stop it, read reports;
//! each a thin call into `almanac_eval::service::Evaluations`.

use almanac_eval::service::EvalRequest;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;

use super::api::{body, json_response, BodyBytes};
use super::errors::ApiError;
use super::Server;

type ApiResult = Result<Response, ApiError>;

pub fn routes() -> Router<Server> {
    Router::new()
        .route("/api/eval/start", post(start))
        .route("/api/eval/status", get(status))
        .route("/api/eval/stop", post(stop))
        .route("/api/eval/reports", get(reports))
        .route("/api/eval/reports/{name}", get(report))
}

impl From<almanac_eval::Error> for ApiError {
    fn from(e: almanac_eval::Error) -> ApiError {
        let status = match e.code() {
            "invalid_argument" => StatusCode::BAD_REQUEST,
            "not_found" => StatusCode::NOT_FOUND,
            "busy" => StatusCode::CONFLICT,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError {
            field: e.field().map(str::to_owned),
            ..ApiError::new(status, e.code(), e.to_string())
        }
    }
}

/// Runs an evaluation call on a blocking thread (they read files).
async fn blocking<T, F>(server: &Server, f: F) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce(&almanac_eval::service::Evaluations) -> almanac_eval::Result<T> + Send + 'static,
{
    let evals = server.evals.clone();
    tokio::task::spawn_blocking(move || f(&evals))
        .await
        .map_err(|e| ApiError::internal(format!("the request failed: {e}")))?
        .map_err(ApiError::from)
}

async fn start(State(server): State<Server>, headers: HeaderMap, bytes: BodyBytes) -> ApiResult {
    let request: EvalRequest = body(&headers, &bytes)?;
    let status = blocking(&server, move |evals| evals.start(request)).await?;
    Ok(json_response(status))
}

async fn status(State(server): State<Server>) -> ApiResult {
    Ok(json_response(server.evals.status()))
}

async fn stop(State(server): State<Server>) -> ApiResult {
    Ok(json_response(server.evals.stop()))
}

async fn reports(State(server): State<Server>) -> ApiResult {
    let list = blocking(&server, |evals| evals.reports()).await?;
    Ok(json_response(list))
}

async fn report(State(server): State<Server>, Path(name): Path<String>) -> ApiResult {
    let view = blocking(&server, move |evals| evals.report(&name)).await?;
    Ok(json_response(view))
}
