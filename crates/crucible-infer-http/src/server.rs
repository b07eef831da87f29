//! Talking to the server: the HTTP client (timeouts, API key), endpoint URLs, and what a server
//! says about itself (its models, its context length).

use std::io::Read;
use std::time::Duration;

use serde_json::Value;

use crate::retry::parse_retry_after;
use crate::wire::error_message;
use crate::{ApiKey, Error, Result};

/// Largest non-streamed body read (a model list, a whole answer, an error page).
const MAX_BODY_BYTES: u64 = 64 << 20;

/// An HTTP client for one server; cheap to clone (the agent shares its connection pool).
#[derive(Clone)]
pub(crate) struct Client {
    agent: ureq::Agent,
    api_key: Option<ApiKey>,
    connect_timeout: Duration,
    read_timeout: Duration,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("api_key", &self.api_key)
            .field("connect_timeout", &self.connect_timeout)
            .field("read_timeout", &self.read_timeout)
            .finish_non_exhaustive()
    }
}

impl Client {
    pub(crate) fn new(
        connect_timeout: Duration,
        read_timeout: Duration,
        api_key: Option<ApiKey>,
    ) -> Client {
        let agent = ureq::AgentBuilder::new()
            .timeout_connect(connect_timeout)
            .timeout_read(read_timeout)
            .build();
        Client {
            agent,
            api_key,
            connect_timeout,
            read_timeout,
        }
    }

    /// GET `url` and parse the JSON answer.
    pub(crate) fn get_json(&self, url: &str) -> Result<Value> {
        let request = self.authorize(self.agent.get(url));
        let response = request.call().map_err(|err| self.request_error(url, err))?;
        read_json(url, response, self.read_timeout)
    }

    /// POST a JSON body to `url`; the answer is returned unread, for streaming. (The request's
    /// deadline is kept by the caller, which stops waiting and closes the connection.)
    pub(crate) fn post_json(&self, url: &str, body: &Value) -> Result<ureq::Response> {
        let request = self
            .authorize(self.agent.post(url))
            .set("Content-Type", "application/json")
            .set("Accept", "text/event-stream, application/json");
        request
            .send_string(&body.to_string())
            .map_err(|err| self.request_error(url, err))
    }

    pub(crate) fn read_timeout(&self) -> Duration {
        self.read_timeout
    }

    fn authorize(&self, request: ureq::Request) -> ureq::Request {
        match &self.api_key {
            Some(key) => request.set("Authorization", &format!("Bearer {}", key.secret())),
            None => request,
        }
    }

    fn request_error(&self, url: &str, err: ureq::Error) -> Error {
        match err {
            ureq::Error::Status(status, response) => {
                let retry_after = response.header("Retry-After").and_then(parse_retry_after);
                let body = read_capped(response.into_reader()).unwrap_or_default();
                Error::Status {
                    url: url.to_owned(),
                    status,
                    message: error_message(&body),
                    retry_after,
                }
            }
            ureq::Error::Transport(transport) => {
                // A connection that never opened timed out on connect; any other on a read.
                let timeout = match transport.kind() {
                    ureq::ErrorKind::ConnectionFailed => self.connect_timeout,
                    _ => self.read_timeout,
                };
                transport_error(url, &transport, timeout)
            }
        }
    }
}

/// A transport failure as one of our errors: timeouts apart, everything else is a failure to
/// connect (refused, DNS, TLS, reset before an answer).
fn transport_error(url: &str, transport: &ureq::Transport, timeout: Duration) -> Error {
    let mut source = std::error::Error::source(transport);
    while let Some(err) = source {
        if let Some(io) = err.downcast_ref::<std::io::Error>()
            && io.kind() == std::io::ErrorKind::TimedOut
        {
            return Error::Timeout {
                url: url.to_owned(),
                after: timeout,
            };
        }
        source = err.source();
    }
    // The underlying IO error says it best ("Connection refused (os error 111)").
    let message = match (std::error::Error::source(transport), transport.message()) {
        (Some(source), _) => source.to_string(),
        (None, Some(detail)) => format!("{}: {detail}", transport.kind()),
        (None, None) => transport.kind().to_string(),
    };
    Error::Connect {
        url: url.to_owned(),
        message,
    }
}

/// An IO error while reading an answer that had begun.
pub(crate) fn read_error(url: &str, err: &std::io::Error, read_timeout: Duration) -> Error {
    match err.kind() {
        std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock => Error::Timeout {
            url: url.to_owned(),
            after: read_timeout,
        },
        _ => Error::Broken {
            url: url.to_owned(),
            message: err.to_string(),
        },
    }
}

/// Read a whole (capped) JSON answer.
pub(crate) fn read_json(url: &str, response: ureq::Response, timeout: Duration) -> Result<Value> {
    let body = read_capped(response.into_reader()).map_err(|err| read_error(url, &err, timeout))?;
    serde_json::from_str(&body).map_err(|err| Error::Protocol {
        url: url.to_owned(),
        problem: format!("the answer is not JSON ({err})"),
    })
}

fn read_capped(reader: impl Read) -> std::io::Result<String> {
    let mut bytes = Vec::new();
    reader.take(MAX_BODY_BYTES).read_to_end(&mut bytes)?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// The endpoint in its canonical form: `http(s)://host[:port]/path` without a trailing slash;
/// a bare host gets `/v1`, and a pasted route (`.../chat/completions`) is cut back to its base.
pub(crate) fn normalize_endpoint(endpoint: &str) -> Result<String> {
    let invalid = |problem: &str| Error::Endpoint {
        endpoint: endpoint.to_owned(),
        problem: problem.to_owned(),
    };
    let trimmed = endpoint.trim();
    let Some((scheme, rest)) = trimmed.split_once("://") else {
        return Err(invalid("it needs a scheme, `http://` or `https://`"));
    };
    if !matches!(scheme, "http" | "https") {
        return Err(invalid("only `http://` and `https://` are supported"));
    }
    if rest.chars().any(char::is_whitespace) {
        return Err(invalid("it contains whitespace"));
    }
    let (host, path) = match rest.find('/') {
        Some(slash) => rest.split_at(slash),
        None => (rest, ""),
    };
    if host.is_empty() {
        return Err(invalid("it has no host"));
    }
    if path.contains(['?', '#']) {
        return Err(invalid(
            "it must be a base URL, without a query or fragment",
        ));
    }
    let mut path = path.trim_end_matches('/');
    for route in ["/chat/completions", "/completions", "/models"] {
        if let Some(base) = path.strip_suffix(route) {
            path = base;
            break;
        }
    }
    let path = if path.is_empty() { "/v1" } else { path };
    Ok(format!("{scheme}://{host}{path}"))
}

/// A model as `GET /v1/models` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ListedModel {
    pub(crate) id: String,
    /// vLLM's `max_model_len`.
    pub(crate) max_model_len: Option<usize>,
}

/// The server's models, or `None` when it does not list them (404 and the like). A server that
/// cannot be reached, or refuses our key, is an error.
pub(crate) fn list_models(client: &Client, endpoint: &str) -> Result<Option<Vec<ListedModel>>> {
    let url = format!("{endpoint}/models");
    let value = match client.get_json(&url) {
        Ok(value) => value,
        Err(
            err @ Error::Status {
                status: 401 | 403, ..
            },
        ) => return Err(err),
        Err(Error::Status {
            status, message, ..
        }) => {
            tracing::debug!(%url, status, %message, "the server does not list its models");
            return Ok(None);
        }
        Err(Error::Protocol { problem, .. }) => {
            tracing::debug!(%url, %problem, "the model list is not JSON");
            return Ok(None);
        }
        Err(err) => return Err(err),
    };
    let Some(data) = value.get("data").and_then(Value::as_array) else {
        tracing::debug!(%url, "the model list has no `data`");
        return Ok(None);
    };
    let models = data
        .iter()
        .filter_map(|model| {
            let id = model.get("id")?.as_str()?.to_owned();
            let max_model_len = model
                .get("max_model_len")
                .and_then(Value::as_u64)
                .and_then(|len| usize::try_from(len).ok());
            Some(ListedModel { id, max_model_len })
        })
        .collect();
    Ok(Some(models))
}

/// llama-server's context per slot (`GET /props`, `default_generation_settings.n_ctx`), which
/// lives at the server's root rather than under `/v1`. Any failure means "not told".
pub(crate) fn props_context_length(client: &Client, endpoint: &str) -> Option<usize> {
    let root = endpoint.strip_suffix("/v1").unwrap_or(endpoint);
    let url = format!("{root}/props");
    match client.get_json(&url) {
        Ok(props) => props
            .pointer("/default_generation_settings/n_ctx")
            .or_else(|| props.get("n_ctx"))
            .and_then(Value::as_u64)
            .and_then(|n| usize::try_from(n).ok())
            .filter(|&n| n > 0),
        Err(err) => {
            tracing::debug!(%url, %err, "no context length from /props");
            None
        }
    }
}

/// The model to ask for: the requested one if the server lists it (Ollama also accepts a name
/// without its `:latest` tag), or the server's only model when none was requested.
pub(crate) fn choose_model(
    requested: Option<&str>,
    listed: Option<&[ListedModel]>,
    endpoint: &str,
) -> Result<String> {
    let ids = || -> Vec<String> {
        listed
            .unwrap_or_default()
            .iter()
            .map(|m| m.id.clone())
            .collect()
    };
    match (requested, listed) {
        (Some(model), None) => Ok(model.to_owned()),
        (Some(model), Some(listed)) => {
            let tagged = format!("{model}:latest");
            if listed.iter().any(|m| m.id == model || m.id == tagged) {
                Ok(model.to_owned())
            } else {
                Err(Error::UnknownModel {
                    model: model.to_owned(),
                    endpoint: endpoint.to_owned(),
                    available: ids(),
                })
            }
        }
        (None, Some([only])) => Ok(only.id.clone()),
        (None, Some([])) | (None, None) => Err(Error::NoModelList {
            endpoint: endpoint.to_owned(),
        }),
        (None, Some(_)) => Err(Error::ChooseModel {
            endpoint: endpoint.to_owned(),
            available: ids(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_are_normalized() {
        let ok = |input: &str| normalize_endpoint(input).unwrap();
        assert_eq!(ok("http://localhost:8000/v1"), "http://localhost:8000/v1");
        assert_eq!(
            ok(" http://localhost:8000/v1/ "),
            "http://localhost:8000/v1"
        );
        assert_eq!(ok("http://localhost:8000"), "http://localhost:8000/v1");
        assert_eq!(ok("http://gpu:11434/"), "http://gpu:11434/v1");
        assert_eq!(
            ok("https://proxy.internal/openai/v1/chat/completions"),
            "https://proxy.internal/openai/v1"
        );
        assert_eq!(ok("http://h:1/v1/completions"), "http://h:1/v1");
        for bad in [
            "localhost:8000",
            "ftp://h/v1",
            "http:///v1",
            "http://h/v1?x=1",
            "",
        ] {
            let err = normalize_endpoint(bad).unwrap_err();
            assert!(matches!(err, Error::Endpoint { .. }), "{bad}: {err}");
        }
    }

    fn listed(ids: &[&str]) -> Vec<ListedModel> {
        ids.iter()
            .map(|id| ListedModel {
                id: id.to_string(),
                max_model_len: None,
            })
            .collect()
    }

    #[test]
    fn model_choice() {
        let one = listed(&["qwen"]);
        let two = listed(&["a", "coder:latest"]);
        assert_eq!(choose_model(None, Some(&one), "e").unwrap(), "qwen");
        assert_eq!(choose_model(Some("x"), None, "e").unwrap(), "x");
        assert_eq!(choose_model(Some("a"), Some(&two), "e").unwrap(), "a");
        assert_eq!(
            choose_model(Some("coder"), Some(&two), "e").unwrap(),
            "coder"
        );
        assert_eq!(
            choose_model(Some("b"), Some(&two), "e")
                .unwrap_err()
                .to_string(),
            "model `b` is not served at `e`; the server lists `a`, `coder:latest`"
        );
        assert!(matches!(
            choose_model(None, Some(&two), "e"),
            Err(Error::ChooseModel { .. })
        ));
        assert!(matches!(
            choose_model(None, None, "e"),
            Err(Error::NoModelList { .. })
        ));
    }
}
