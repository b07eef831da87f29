//! A connection whose writes time out: a client that stops reading (its receive window and our
//! send buffer full) makes a write wait; after the write timeout the write fails, hyper closes
//! the connection and drops the response, and a stream's task then sees its client gone and
//! withdraws the request, which frees its slots.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::Sleep;

use crate::metrics::Metrics;

/// A TCP stream whose writes (and flushes) fail after `limit` without progress.
pub(crate) struct TimedStream {
    inner: TcpStream,
    limit: Duration,
    /// Runs while a write waits; reset by any progress.
    stalled: Option<Pin<Box<Sleep>>>,
    peer: SocketAddr,
    metrics: Arc<Metrics>,
}

impl TimedStream {
    pub(crate) fn new(
        inner: TcpStream,
        limit: Duration,
        peer: SocketAddr,
        metrics: Arc<Metrics>,
    ) -> TimedStream {
        TimedStream {
            inner,
            limit,
            stalled: None,
            peer,
            metrics,
        }
    }

    /// Pass on a write's result: progress stops the clock; waiting starts it (or checks it).
    fn timed<T>(
        &mut self,
        cx: &mut Context<'_>,
        polled: Poll<io::Result<T>>,
    ) -> Poll<io::Result<T>> {
        if polled.is_ready() {
            self.stalled = None;
            return polled;
        }
        let limit = self.limit;
        let stalled = self
            .stalled
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
        if stalled.as_mut().poll(cx).is_pending() {
            return Poll::Pending;
        }
        self.stalled = None;
        self.metrics.write_timeouts.inc();
        tracing::warn!(
            peer = %self.peer,
            seconds = limit.as_secs_f64(),
            "the client stopped reading: a write waited past the write timeout; closing the connection and cancelling its request"
        );
        Poll::Ready(Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!(
                "the client read nothing for {} s (write timeout)",
                limit.as_secs_f64()
            ),
        )))
    }
}

impl AsyncRead for TimedStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for TimedStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_write(cx, buf);
        this.timed(cx, polled)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        this.timed(cx, polled)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_flush(cx);
        this.timed(cx, polled)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_shutdown(cx);
        this.timed(cx, polled)
    }
}
