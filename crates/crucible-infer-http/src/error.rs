//! Errors of the HTTP backend, each naming the URL it concerns, with hints for the user.

use std::time::Duration;

/// What can go wrong talking to an OpenAI-compatible server.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid endpoint `{endpoint}`: {problem}")]
    Endpoint { endpoint: String, problem: String },
    #[error("could not connect to `{url}`: {message}")]
    Connect { url: String, message: String },
    #[error("no answer from `{url}` within {} s", after.as_secs_f64())]
    Timeout { url: String, after: Duration },
    #[error("the connection to `{url}` broke: {message}")]
    Broken { url: String, message: String },
    #[error("`{url}` answered HTTP {status}: {message}")]
    Status {
        url: String,
        status: u16,
        message: String,
        /// The server's `Retry-After`, when it sent one.
        retry_after: Option<Duration>,
    },
    #[error("{last} (gave up after {tries} tries)")]
    GaveUp { tries: u32, last: Box<Error> },
    #[error("`{url}` did not finish within the request deadline of {} s", after.as_secs_f64())]
    Deadline { url: String, after: Duration },
    #[error("`{url}` reported an error while streaming: {message}")]
    Stream { url: String, message: String },
    #[error("`{url}` sent a response that is not OpenAI-compatible: {problem}")]
    Protocol { url: String, problem: String },
    #[error(
        "model `{model}` is not served at `{endpoint}`; the server lists {}",
        list(available)
    )]
    UnknownModel {
        model: String,
        endpoint: String,
        available: Vec<String>,
    },
    #[error(
        "the server at `{endpoint}` serves several models ({}); name one with `--model`",
        list(available)
    )]
    ChooseModel {
        endpoint: String,
        available: Vec<String>,
    },
    #[error("the server at `{endpoint}` does not list its models; name the model with `--model`")]
    NoModelList { endpoint: String },
    #[error(
        "beam search cannot be expressed in the OpenAI API (it has no way to keep several hypotheses per request); use the local llama.cpp backend for `--beam`"
    )]
    BeamSearch,
    #[error("could not start a request thread: {0}")]
    Thread(std::io::Error),
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// What the user can do about it, when there is something to say.
    pub fn hint(&self) -> Option<String> {
        match self {
            Error::GaveUp { last, .. } => last.hint(),
            Error::Deadline { .. } => Some(
                "the server is too slow or too busy for this request; ask for fewer tokens, or raise the deadline".into(),
            ),
            Error::Connect { url, .. } | Error::Timeout { url, .. } | Error::Broken { url, .. } => {
                Some(format!(
                    "check that the server is running and reachable from here: `curl {}`",
                    models_url(url)
                ))
            }
            Error::Status {
                status: 401 | 403, ..
            } => Some(
                "set `CRUCIBLE_API_KEY` (or `OPENAI_API_KEY`) to the key the server expects".into(),
            ),
            Error::UnknownModel { .. } | Error::ChooseModel { .. } => {
                Some("pass one of the listed models with `--model`".into())
            }
            Error::Endpoint { .. } => Some(
                "give the server's OpenAI base URL, e.g. `--endpoint http://localhost:8000/v1`"
                    .into(),
            ),
            Error::BeamSearch => Some(
                "drop `--endpoint` (and `CRUCIBLE_ENDPOINT`) to decode with beam search locally, or sample instead of `--beam`".into(),
            ),
            _ => None,
        }
    }
}

/// Errors during generation surface as the backend-neutral [`crucible_infer::Error`], with the
/// hint kept in the message because that error has no place for one.
impl From<Error> for crucible_infer::Error {
    fn from(err: Error) -> crucible_infer::Error {
        let message = match err.hint() {
            Some(hint) => format!("{err}\n\nhint: {hint}"),
            None => err.to_string(),
        };
        crucible_infer::Error::Backend {
            backend: "HTTP",
            message,
        }
    }
}

/// `a`, `b`, `c` for messages; "no models" when empty.
fn list(items: &[String]) -> String {
    if items.is_empty() {
        return "no models".into();
    }
    items
        .iter()
        .map(|item| format!("`{item}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The models listing next to a request URL, the cheapest way to check a server by hand.
fn models_url(url: &str) -> String {
    match url.rfind("/v1/") {
        Some(pos) => format!("{}/v1/models", &url[..pos]),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_hints_name_the_models_url() {
        let err = Error::Connect {
            url: "http://gpu:8000/v1/chat/completions".into(),
            message: "connection refused".into(),
        };
        assert_eq!(
            err.hint().unwrap(),
            "check that the server is running and reachable from here: `curl http://gpu:8000/v1/models`"
        );
        let infer: crucible_infer::Error = err.into();
        assert_eq!(
            infer.to_string(),
            "HTTP backend: could not connect to `http://gpu:8000/v1/chat/completions`: connection refused\n\nhint: check that the server is running and reachable from here: `curl http://gpu:8000/v1/models`"
        );
    }

    #[test]
    fn model_lists_are_quoted() {
        let err = Error::UnknownModel {
            model: "x".into(),
            endpoint: "http://h/v1".into(),
            available: vec!["a".into(), "b".into()],
        };
        assert_eq!(
            err.to_string(),
            "model `x` is not served at `http://h/v1`; the server lists `a`, `b`"
        );
    }
}
