//! Errors: [`ApiError`], what a client gets (OpenAI's JSON error shape with the matching HTTP
//! status), and [`Error`], why the server could not start or stopped.

use std::time::Duration;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// Why the server could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "refusing to listen on `{addr}` without an API key: anyone who can reach it could use the model{exec}"
    )]
    ExposedWithoutKey { addr: String, exec: &'static str },
    #[error(
        "`--allow-exec` runs code that clients send, so it needs an API key (`--api-key` or CRUCIBLE_API_KEY)"
    )]
    ExecWithoutKey,
    #[error("server setting `{name}` {problem}")]
    Config { name: &'static str, problem: String },
    #[error("the model could not be loaded: {0}")]
    Load(String),
    #[error("could not serve on the socket: {0}")]
    Io(#[from] std::io::Error),
}

impl Error {
    /// What the user can do about it, when there is something to say.
    pub fn hint(&self) -> Option<String> {
        match self {
            Error::ExposedWithoutKey { .. } => Some(
                "set a key with `--api-key KEY` or CRUCIBLE_API_KEY, listen on 127.0.0.1, or pass `--insecure-no-api-key` if the network is trusted".into(),
            ),
            _ => None,
        }
    }
}

/// An error answered to a client, in OpenAI's shape:
/// `{"error": {"message", "type", "param", "code"}}`.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
    /// OpenAI's `type`: `invalid_request_error`, `authentication_error`, `server_error`, ...
    pub kind: &'static str,
    /// The request field at fault, if one is.
    pub param: Option<String>,
    /// A machine-readable code (`model_not_found`, `rate_limit_exceeded`, ...).
    pub code: Option<&'static str>,
    /// Seconds after which a retry may succeed (sent as `Retry-After`).
    pub retry_after: Option<Duration>,
}

impl ApiError {
    fn new(status: StatusCode, kind: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
            kind,
            param: None,
            code: None,
            retry_after: None,
        }
    }

    /// 400: the request is malformed or asks for something impossible.
    pub fn invalid(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid_request_error", message)
    }

    /// 400 about the field `param`.
    pub fn invalid_param(param: &str, message: impl Into<String>) -> ApiError {
        let mut err = ApiError::invalid(message);
        err.param = Some(param.to_owned());
        err
    }

    /// 401: no key or a wrong one.
    pub fn unauthorized() -> ApiError {
        let mut err = ApiError::new(
            StatusCode::UNAUTHORIZED,
            "authentication_error",
            "missing or invalid API key: send it as `Authorization: Bearer KEY`",
        );
        err.code = Some("invalid_api_key");
        err
    }

    /// 403: the feature is switched off on this server.
    pub fn forbidden(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, "permission_error", message)
    }

    /// 404: no such route or model.
    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found_error", message)
    }

    /// 404 for a model the server does not serve.
    pub fn unknown_model(asked: &str, served: &str) -> ApiError {
        let mut err = ApiError::not_found(format!(
            "the model `{asked}` does not exist on this server; it serves `{served}` (GET /v1/models)"
        ));
        err.kind = "invalid_request_error";
        err.param = Some("model".into());
        err.code = Some("model_not_found");
        err
    }

    /// 408: the client took too long to send its request.
    pub fn body_timeout(limit: Duration) -> ApiError {
        ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "invalid_request_error",
            format!(
                "the request body did not arrive within {} s",
                limit.as_secs_f64()
            ),
        )
    }

    /// 413: the body is larger than the server accepts.
    pub fn too_large(limit: usize) -> ApiError {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "invalid_request_error",
            format!("the request body is larger than this server accepts ({limit} bytes)"),
        )
    }

    /// 429: every slot and queue place is taken.
    pub fn overloaded(retry_after: Duration) -> ApiError {
        let mut err = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limit_error",
            "the server is busy: every decoding slot and queue place is taken; retry later",
        );
        err.code = Some("rate_limit_exceeded");
        err.retry_after = Some(retry_after);
        err
    }

    /// 503: the model is still loading, or the server is shutting down.
    pub fn unavailable(message: impl Into<String>) -> ApiError {
        let mut err = ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "server_error", message);
        err.retry_after = Some(Duration::from_secs(5));
        err
    }

    /// 504: the request ran out of time.
    pub fn timeout(limit: Duration) -> ApiError {
        ApiError::new(
            StatusCode::GATEWAY_TIMEOUT,
            "server_error",
            format!(
                "the request took longer than the server's limit of {} s",
                limit.as_secs_f64()
            ),
        )
    }

    /// 500: something broke on the server's side.
    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "server_error", message)
    }

    /// The JSON body.
    pub fn body(&self) -> serde_json::Value {
        json!({
            "error": {
                "message": self.message,
                "type": self.kind,
                "param": self.param,
                "code": self.code,
            }
        })
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.message, self.status)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = self.body().to_string();
        let mut response = (
            self.status,
            [(header::CONTENT_TYPE, "application/json")],
            body,
        )
            .into_response();
        if let Some(after) = self.retry_after {
            let seconds = after.as_secs().max(1).to_string();
            if let Ok(value) = HeaderValue::from_str(&seconds) {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
        }
        response
    }
}

/// An inference error as a client's error: its own request's fault (400) or the server's.
pub(crate) fn from_infer(err: &crucible_core::infer::Error) -> ApiError {
    use crucible_core::infer::Error as E;
    match err {
        E::PromptTooLong { .. } => {
            let mut api =
                ApiError::invalid(format!("{err}; shorten the prompt or lower max_tokens"));
            api.code = Some("context_length_exceeded");
            api
        }
        E::Params(_) | E::Template(_) => ApiError::invalid(err.to_string()),
        E::Cancelled => {
            ApiError::unavailable("the request was cancelled: the server is shutting down")
        }
        other => ApiError::internal(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_have_openais_shape_and_a_retry_after_when_busy() {
        let response = ApiError::overloaded(Duration::from_secs(2)).into_response();
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers()[header::RETRY_AFTER], "2");
        let err = ApiError::unknown_model("gpt-4", "qwen");
        let body = err.body();
        assert_eq!(body["error"]["code"], "model_not_found");
        assert_eq!(body["error"]["param"], "model");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("`qwen`")
        );
    }
}
