//! Request bodies: read within a size cap and a time limit, then parsed as JSON with errors
//! that name the problem (axum's own extractor answers in plain text).

use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use bytes::Bytes;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// Read `request`'s body (at most `limit` bytes, within `timeout`) and parse it as `T`.
pub(crate) async fn read_json<T: DeserializeOwned>(
    request: Request,
    limit: usize,
    timeout: Duration,
) -> Result<T, ApiError> {
    let bytes = read_bytes(request.into_body(), limit, timeout).await?;
    parse_json(&bytes)
}

async fn read_bytes(body: Body, limit: usize, timeout: Duration) -> Result<Bytes, ApiError> {
    let limited = Limited::new(body, limit);
    match tokio::time::timeout(timeout, limited.collect()).await {
        Err(_) => Err(ApiError::body_timeout(timeout)),
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(err)) if err.downcast_ref::<LengthLimitError>().is_some() => {
            Err(ApiError::too_large(limit))
        }
        Ok(Err(err)) => Err(ApiError::invalid(format!(
            "the request body could not be read: {err}"
        ))),
    }
}

/// Parse a JSON body; the error says where and what is wrong.
pub(crate) fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::invalid(
            "the request body is empty; send a JSON object with `Content-Type: application/json`",
        ));
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(&mut de).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        let what = if inner.is_syntax() || inner.is_eof() {
            "the request body is not valid JSON"
        } else {
            "the request does not have the expected shape"
        };
        let mut api = if path == "." || path.is_empty() {
            ApiError::invalid(format!("{what}: {inner}"))
        } else {
            ApiError::invalid_param(&path, format!("{what}: `{path}`: {inner}"))
        };
        if inner.is_syntax() || inner.is_eof() {
            api.param = None;
        }
        api
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    struct Shape {
        #[allow(dead_code)]
        messages: Vec<String>,
        #[allow(dead_code)]
        temperature: Option<f32>,
    }

    #[test]
    fn parse_errors_say_what_and_where() {
        let err = parse_json::<Shape>(b"{\"messages\": [").unwrap_err();
        assert!(err.message.contains("not valid JSON"), "{err}");
        let err = parse_json::<Shape>(br#"{"messages": [], "temperature": "hot"}"#).unwrap_err();
        assert!(err.message.contains("`temperature`"), "{err}");
        assert!(err.message.contains("expected f32"), "{err}");
        assert_eq!(err.param.as_deref(), Some("temperature"));
        let err = parse_json::<Shape>(b"{}").unwrap_err();
        assert!(err.message.contains("missing field `messages`"), "{err}");
        let err = parse_json::<Shape>(b"").unwrap_err();
        assert!(err.message.contains("empty"), "{err}");
    }
}
