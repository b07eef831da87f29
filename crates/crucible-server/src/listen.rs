//! The listener: accepts connections and serves each with hyper under the server's timeouts,
//! and drains on shutdown.
//!
//! Slow and dead clients are cut off at every stage: headers must arrive within
//! `header_timeout` (a trickling client is disconnected), bodies within `body_timeout` (see
//! `body.rs`), generation ends at `request_timeout`, a write that waits `write_timeout` on a
//! client that stopped reading closes the connection (see `timed_io.rs`), and TCP keepalive
//! with a user timeout closes connections whose peer vanished without a word (a half-open
//! connection).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::Router;
use axum::extract::Request;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tower::ServiceExt;

use crate::timed_io::TimedStream;
use crate::{AppState, Error};

/// The client's address, put into every request's extensions for the access log.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Peer(pub(crate) SocketAddr);

/// After the drain time, how long cancelled requests get to write their last event.
const CLOSE_GRACE: Duration = Duration::from_secs(5);

/// Keepalive probes start after this much silence, and a connection whose sent data stays
/// unacknowledged this long is closed.
const TCP_IDLE: Duration = Duration::from_secs(30);

pub(crate) async fn run(
    listener: TcpListener,
    router: Router,
    state: Arc<AppState>,
    ready: oneshot::Receiver<Result<(), String>>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), Error> {
    let graceful = GracefulShutdown::new();
    let mut ready = Some(ready);
    let mut failure = None;
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(accepted) => accepted,
                    Err(err) => {
                        // Out of file descriptors and the like: wait a little, keep serving.
                        tracing::warn!("could not accept a connection: {err}");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                serve_connection(stream, peer, &router, &state, &graceful);
            }
            loaded = async { ready.as_mut().expect("polled only while waiting").await }, if ready.is_some() => {
                ready = None;
                match loaded {
                    Ok(Ok(())) => {
                        state.engine.metrics.ready.set(1);
                        tracing::info!("the model is ready");
                    }
                    Ok(Err(err)) => {
                        failure = Some(Error::Load(err));
                        break;
                    }
                    Err(_) => {
                        failure = Some(Error::Load("the engine thread ended".into()));
                        break;
                    }
                }
            }
            () = &mut shutdown => break,
        }
    }
    drop(listener);
    state.draining.store(true, Ordering::Relaxed);
    state.engine.metrics.ready.set(0);
    tracing::info!(
        in_flight = state.engine.admitted(),
        "shutting down: no new connections; finishing the requests in flight"
    );
    let drained = graceful.shutdown();
    tokio::pin!(drained);
    tokio::select! {
        () = &mut drained => {}
        () = tokio::time::sleep(state.config.drain_timeout) => {
            tracing::warn!("the drain time is over: cancelling the requests still in flight");
            state.engine.stop_now();
            if tokio::time::timeout(CLOSE_GRACE, &mut drained).await.is_err() {
                tracing::warn!("some connections did not close in time");
            }
        }
    }
    match failure {
        Some(err) => Err(err),
        None => Ok(()),
    }
}

fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    router: &Router,
    state: &Arc<AppState>,
    graceful: &GracefulShutdown,
) {
    let _ = stream.set_nodelay(true);
    let socket = socket2::SockRef::from(&stream);
    let keepalive = socket2::TcpKeepalive::new()
        .with_time(TCP_IDLE)
        .with_interval(Duration::from_secs(10));
    let _ = socket.set_tcp_keepalive(&keepalive);
    let _ = socket.set_tcp_user_timeout(Some(TCP_IDLE));
    let service = router
        .clone()
        .map_request(move |mut request: Request<Incoming>| {
            request.extensions_mut().insert(Peer(peer));
            request
        });
    let stream = TimedStream::new(
        stream,
        state.config.write_timeout,
        peer,
        state.engine.metrics.clone(),
    );
    let connection = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(state.config.header_timeout)
        .keep_alive(true)
        .serve_connection(TokioIo::new(stream), TowerToHyperService::new(service));
    let connection = graceful.watch(connection);
    tokio::spawn(async move {
        if let Err(err) = connection.await {
            tracing::debug!(%peer, "connection ended: {err}");
        }
    });
}
