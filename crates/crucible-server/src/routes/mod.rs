//! The routes, and the layer every request passes: the access log, the API key, the drain.

mod chat;
mod completions;
mod generation;
mod infill;
mod run;
mod solve;
mod ui;

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;

use crate::error::ApiError;
use crate::listen::Peer;
use crate::{AppState, metrics};

/// Every route, behind the access log, the key check and the drain check.
pub(crate) fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/", get(ui::root))
        .route("/assets/app.css", get(ui::css))
        .route("/assets/app.js", get(ui::js))
        .route("/v1/crucible/info", get(ui::info))
        .route("/health", get(health))
        .route("/metrics", get(metrics_text))
        .route("/v1/models", get(models))
        .route("/models", get(models))
        .route("/v1/chat/completions", post(chat::handle))
        .route("/chat/completions", post(chat::handle))
        .route("/v1/completions", post(completions::handle))
        .route("/completions", post(completions::handle))
        .route("/infill", post(infill::handle))
        .route("/v1/crucible/solve", post(solve::handle))
        .route("/v1/crucible/run", post(run::handle))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(state.clone(), gate))
        .with_state(state)
}

/// Routes anyone may call: the liveness probe and the playground's files (the page asks for
/// the key itself when the API answers 401).
fn is_public(path: &str) -> bool {
    matches!(path, "/" | "/health" | "/assets/app.css" | "/assets/app.js")
}

/// The access log (method, path, status, time, client; never headers, so never the key), the
/// key check, and 503 for new work once shutdown has begun.
async fn gate(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let peer = request.extensions().get::<Peer>().map(|p| p.0);
    let response = if let Some(refusal) = refuse(&state, &request, &path) {
        refusal.into_response()
    } else {
        next.run(request).await
    };
    let status = response.status();
    let route = metric_route(&path);
    state.engine.metrics.request(route, status.as_u16());
    tracing::info!(
        target: "crucible_server::access",
        %method,
        path = route,
        status = status.as_u16(),
        ms = started.elapsed().as_millis() as u64,
        peer = peer.map(|p| p.to_string()).unwrap_or_default(),
        "request"
    );
    response
}

fn refuse(state: &AppState, request: &Request, path: &str) -> Option<ApiError> {
    if let Some(key) = &state.config.api_key
        && !is_public(path)
    {
        let header = request
            .headers()
            .get(header::AUTHORIZATION)
            .map(|v| v.as_bytes());
        if !key.admits(header) {
            return Some(ApiError::unauthorized());
        }
    }
    if state.draining() && path != "/health" && path != "/metrics" {
        return Some(ApiError::unavailable("the server is shutting down"));
    }
    None
}

/// The route name used in metrics: known routes as they are, everything else as one label, so
/// clients cannot grow the metrics without bound.
fn metric_route(path: &str) -> &str {
    match path {
        "/"
        | "/health"
        | "/metrics"
        | "/v1/models"
        | "/models"
        | "/v1/chat/completions"
        | "/chat/completions"
        | "/v1/completions"
        | "/completions"
        | "/infill"
        | "/v1/crucible/solve"
        | "/v1/crucible/run"
        | "/v1/crucible/info"
        | "/assets/app.css"
        | "/assets/app.js" => path,
        _ => "other",
    }
}

async fn health(State(state): State<Arc<AppState>>) -> Response {
    let (status, text) = if state.draining() {
        (StatusCode::SERVICE_UNAVAILABLE, "shutting down")
    } else if state.engine.ready() {
        (StatusCode::OK, "ok")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "loading model")
    };
    (status, axum::Json(json!({"status": text}))).into_response()
}

async fn metrics_text(State(state): State<Arc<AppState>>) -> Response {
    (
        [(header::CONTENT_TYPE, metrics::CONTENT_TYPE)],
        state.engine.metrics.render(),
    )
        .into_response()
}

async fn models(State(state): State<Arc<AppState>>) -> Result<Response, ApiError> {
    let loaded = state.engine.loaded()?;
    let info = &loaded.info;
    Ok(axum::Json(json!({
        "object": "list",
        "data": [{
            "id": info.name,
            "object": "model",
            "created": 0,
            "owned_by": "crucible",
            "max_model_len": info.context_length,
            "meta": {
                "source": info.source,
                "context_length": info.context_length,
                "fim": loaded.fim.is_some(),
            },
        }],
    }))
    .into_response())
}

async fn not_found(request: Request) -> ApiError {
    ApiError::not_found(format!(
        "no route for {} {}; see GET / for the routes",
        request.method(),
        request.uri().path()
    ))
}
