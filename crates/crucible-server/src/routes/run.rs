//! `POST /v1/crucible/run`: run a program in the sandbox, in the spirit of Judge0 or Piston.
//! Off unless the server was started with `--allow-exec` (which needs an API key); the limits
//! a request asks for are capped by the server's.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use crucible_core::exec::{ExecRequest, LangOptions, Limits};
use crucible_core::types::{Language, TestSuite};

use crate::AppState;
use crate::body::read_json;
use crate::error::ApiError;

/// A program to run.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RunRequest {
    language: String,
    source: String,
    /// Standard input of a run without tests.
    #[serde(default)]
    stdin: Option<String>,
    /// Tests, in the task format's suite shape (`{"type": "io", "cases": [...], "compare":
    /// ...}` or `{"type": "code", "code": ...}`).
    #[serde(default)]
    tests: Option<TestSuite>,
    #[serde(default)]
    entry_point: Option<String>,
    /// CPU seconds; capped by the server's limit (also the default).
    #[serde(default)]
    time_limit: Option<f64>,
    /// MiB; capped by the server's limit (also the default).
    #[serde(default)]
    memory_limit_mb: Option<u64>,
    /// C++ standard, e.g. `c++20`.
    #[serde(default)]
    cpp_std: Option<String>,
}

pub(crate) async fn handle(
    State(state): State<Arc<AppState>>,
    request: Request,
) -> Result<Response, ApiError> {
    let policy = &state.config.exec;
    if !policy.allow {
        return Err(ApiError::forbidden(
            "the run endpoint is off on this server; start it with `--allow-exec` (which needs an API key)",
        ));
    }
    let config = &state.config;
    let body: RunRequest = read_json(request, config.max_body_bytes, config.body_timeout).await?;
    let executor = state
        .executor
        .clone()
        .ok_or_else(|| ApiError::unavailable("the sandbox could not be started on this server"))?;
    let language: Language = body
        .language
        .parse()
        .map_err(|err| ApiError::invalid_param("language", format!("`language`: {err}")))?;
    let time = match body.time_limit {
        None => policy.max_time,
        Some(seconds) if seconds.is_finite() && seconds > 0.0 => {
            Duration::from_secs_f64(seconds).min(policy.max_time)
        }
        Some(seconds) => {
            return Err(ApiError::invalid_param(
                "time_limit",
                format!("`time_limit` must be a positive number of seconds (got {seconds})"),
            ));
        }
    };
    let memory = body.memory_limit_mb.map_or(policy.max_memory_bytes, |mb| {
        mb.saturating_mul(1 << 20).min(policy.max_memory_bytes)
    });
    let limits = Limits::new(time, memory);
    limits
        .validate()
        .map_err(|err| ApiError::invalid(format!("invalid limits: {err}")))?;
    let exec_request = ExecRequest {
        language,
        source: body.source,
        tests: body.tests.unwrap_or_default(),
        entry_point: body.entry_point,
        limits,
        options: LangOptions {
            cpp_std: body.cpp_std,
            disable_pch: false,
        },
        fail_fast: false,
        stdin: body.stdin,
        // Tests from an API client: treated as untrusted (a model may have written them).
        trusted_tests: false,
    };
    let permit = tokio::time::timeout(config.request_timeout, state.runs.acquire())
        .await
        .map_err(|_| ApiError::timeout(config.request_timeout))?
        .map_err(|_| ApiError::unavailable("the server is shutting down"))?;
    let report = tokio::task::spawn_blocking(move || executor.run(&exec_request))
        .await
        .map_err(|err| ApiError::internal(format!("the run failed: {err}")))?;
    drop(permit);
    let report =
        report.map_err(|err| ApiError::invalid(format!("the program could not be run: {err}")))?;
    let mut value = serde_json::to_value(&report)
        .map_err(|err| ApiError::internal(format!("the report could not be written: {err}")))?;
    value["limits"] = json!({
        "time_limit": time.as_secs_f64(),
        "memory_limit_mb": memory >> 20,
    });
    Ok(axum::Json(value).into_response())
}
