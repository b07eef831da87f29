//! Server-Sent Events: a response whose body is fed from a channel by the task that drives the
//! generation. When the client goes away hyper drops the body, the channel closes, and the
//! driving task sees it ([`SseSender::closed`]) and stops, which withdraws the request.

use std::convert::Infallible;
use std::time::Duration;

use axum::body::Body;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use tokio::sync::mpsc;

/// Events waiting to be written; a client that does not read stalls its own task only.
const BUFFER: usize = 64;

/// While nothing else is sent, a comment this often: a write shows at once that a client went
/// away during a long prompt evaluation, and keeps proxies from closing an idle stream.
pub(crate) const KEEP_ALIVE: Duration = Duration::from_secs(2);

/// The sending side of an event stream.
pub(crate) struct SseSender {
    tx: mpsc::Sender<Bytes>,
}

impl SseSender {
    /// `data: JSON`; false once the client is gone.
    pub(crate) async fn data(&self, json: &serde_json::Value) -> bool {
        self.send(format!("data: {json}\n\n")).await
    }

    /// `event: NAME` with `data: JSON`; false once the client is gone.
    pub(crate) async fn event(&self, name: &str, json: &serde_json::Value) -> bool {
        self.send(format!("event: {name}\ndata: {json}\n\n")).await
    }

    /// `data: [DONE]`, OpenAI's end of stream.
    pub(crate) async fn done(&self) -> bool {
        self.send("data: [DONE]\n\n".to_owned()).await
    }

    /// A comment line that clients ignore.
    pub(crate) async fn keep_alive(&self) -> bool {
        self.send(": keep-alive\n\n".to_owned()).await
    }

    /// Resolves when the client has gone away.
    pub(crate) async fn closed(&self) {
        self.tx.closed().await;
    }

    async fn send(&self, frame: String) -> bool {
        self.tx.send(Bytes::from(frame)).await.is_ok()
    }
}

/// A sender and the response that streams what it sends.
pub(crate) fn channel() -> (SseSender, Response) {
    let (tx, rx) = mpsc::channel::<Bytes>(BUFFER);
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|frame| (Ok::<_, Infallible>(frame), rx))
    });
    let response = (
        [
            (header::CONTENT_TYPE, "text/event-stream"),
            (header::CACHE_CONTROL, "no-cache"),
            (header::HeaderName::from_static("x-accel-buffering"), "no"),
        ],
        Body::from_stream(stream),
    )
        .into_response();
    (SseSender { tx }, response)
}
