//! The web playground: a page, a stylesheet and a script, hand-written and embedded in the
//! binary (no CDN, no build step), and `GET /v1/crucible/info`, the options the page offers.
//! `GET /` answers browsers with the page and other clients (curl) with a plain list of routes.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crucible_core::generate::DEFAULT_STRATEGY;
use crucible_core::strategy::Kind;
use crucible_core::types::Language;

use crate::AppState;

const INDEX_HTML: &str = include_str!("../../assets/index.html");
const APP_CSS: &str = include_str!("../../assets/app.css");
const APP_JS: &str = include_str!("../../assets/app.js");

/// The page may load only its own files and talk only to this server.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'";

const ROUTES: &str = "Crucible is serving.\n\nPlayground: open this address in a browser\nOpenAI-compatible API: GET /v1/models, POST /v1/chat/completions, POST /v1/completions\nEditors: POST /infill\nVerified generation: POST /v1/crucible/solve (options: GET /v1/crucible/info)\nSandboxed runs: POST /v1/crucible/run (with --allow-exec)\nHealth: GET /health; metrics: GET /metrics\n";

/// The playground for a browser (its `Accept` names HTML), the list of routes for anyone else.
pub(crate) async fn root(request: Request) -> Response {
    let wants_html = request
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("text/html"));
    if wants_html {
        asset(INDEX_HTML, "text/html; charset=utf-8")
    } else {
        (
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            ROUTES,
        )
            .into_response()
    }
}

pub(crate) async fn css() -> Response {
    asset(APP_CSS, "text/css; charset=utf-8")
}

pub(crate) async fn js() -> Response {
    asset(APP_JS, "text/javascript; charset=utf-8")
}

fn asset(body: &'static str, content_type: &'static str) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// What the playground offers: the languages, the strategies and the default one, the
/// server's budget caps, whether a sandbox is there, and the model (null while it loads).
pub(crate) async fn info(State(state): State<Arc<AppState>>) -> Response {
    let cap = &state.config.solve.max_budget;
    let model = state.engine.loaded().ok().map(|m| m.info.name.clone());
    axum::Json(json!({
        "model": model,
        "languages": Language::names(),
        "strategies": Kind::ALL.map(Kind::name),
        "default_strategy": DEFAULT_STRATEGY,
        "max_budget": {
            "model_calls": cap.model_calls,
            "tokens": cap.tokens,
            "executions": cap.executions,
            "seconds": cap.wall_time.as_secs_f64(),
        },
        "sandbox": state.executor.is_some(),
        "exec": state.config.exec.allow,
    }))
    .into_response()
}
