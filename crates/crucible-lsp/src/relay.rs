//! A guard in front of tower-lsp-server's transport. Its framed reader stops reading at the
//! first message whose body is not JSON, which would end the session; the relay reads the
//! client's frames itself, answers a body that is not JSON (or a frame without a valid
//! `Content-Length`) with a JSON-RPC parse error, and passes only well-formed messages on.
//! Everything the server writes goes out through the same writer, frame by frame.

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::mpsc;
use tower_lsp_server::{ClientSocket, LspService, Server};

use crate::Backend;

/// Largest message body accepted (a whole document is sent on each change).
const MAX_BODY: usize = 64 << 20;

/// A frame read from a stream.
enum Frame {
    Body(Vec<u8>),
    /// A header block without a usable `Content-Length`.
    BadHeader(String),
}

async fn read_frame<R: AsyncRead + Unpin>(
    reader: &mut BufReader<R>,
) -> std::io::Result<Option<Frame>> {
    let mut length: Option<usize> = None;
    let mut problem = None;
    let mut any = false;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).await? == 0 {
            return Ok(None);
        }
        let line = line.trim_end();
        if line.is_empty() {
            if !any {
                continue;
            }
            break;
        }
        any = true;
        if let Some((name, value)) = line.split_once(':')
            && name.trim().eq_ignore_ascii_case("content-length")
        {
            match value.trim().parse::<usize>() {
                Ok(n) if n <= MAX_BODY => length = Some(n),
                Ok(n) => {
                    problem = Some(format!(
                        "Content-Length {n} is over the limit of {MAX_BODY} bytes"
                    ))
                }
                Err(_) => {
                    problem = Some(format!("Content-Length `{}` is not a number", value.trim()))
                }
            }
        }
    }
    match (length, problem) {
        (Some(length), None) => {
            let mut body = vec![0; length];
            reader.read_exact(&mut body).await?;
            Ok(Some(Frame::Body(body)))
        }
        (_, Some(problem)) => Ok(Some(Frame::BadHeader(problem))),
        (None, None) => Ok(Some(Frame::BadHeader(
            "a header without Content-Length".into(),
        ))),
    }
}

fn parse_error(problem: &str) -> Vec<u8> {
    serde_json::json!({
        "jsonrpc": "2.0",
        "id": null,
        "error": {"code": -32700, "message": format!("Parse error: {problem}")},
    })
    .to_string()
    .into_bytes()
}

async fn write_frames<W: AsyncWrite + Unpin>(mut receiver: mpsc::Receiver<Vec<u8>>, mut output: W) {
    while let Some(body) = receiver.recv().await {
        let header = format!("Content-Length: {}\r\n\r\n", body.len());
        if output.write_all(header.as_bytes()).await.is_err()
            || output.write_all(&body).await.is_err()
            || output.flush().await.is_err()
        {
            return;
        }
    }
}

async fn from_client<R: AsyncRead + Unpin, W: AsyncWrite + Unpin>(
    input: R,
    mut to_server: W,
    replies: mpsc::Sender<Vec<u8>>,
) {
    let mut reader = BufReader::new(input);
    loop {
        let frame = match read_frame(&mut reader).await {
            Ok(Some(frame)) => frame,
            Ok(None) => return,
            Err(err) => {
                tracing::warn!("reading the client's messages failed: {err}");
                return;
            }
        };
        match frame {
            Frame::Body(body) => {
                if let Err(err) = serde_json::from_slice::<serde_json::Value>(&body) {
                    tracing::warn!("a client message is not JSON: {err}");
                    let _ = replies
                        .send(parse_error(&format!("the message is not JSON ({err})")))
                        .await;
                    continue;
                }
                let header = format!("Content-Length: {}\r\n\r\n", body.len());
                if to_server.write_all(header.as_bytes()).await.is_err()
                    || to_server.write_all(&body).await.is_err()
                {
                    return;
                }
            }
            Frame::BadHeader(problem) => {
                tracing::warn!("a client message has a bad header: {problem}");
                let _ = replies.send(parse_error(&problem)).await;
            }
        }
    }
}

async fn from_server<R: AsyncRead + Unpin>(output: R, sender: mpsc::Sender<Vec<u8>>) {
    let mut reader = BufReader::new(output);
    while let Ok(Some(Frame::Body(body))) = read_frame(&mut reader).await {
        if sender.send(body).await.is_err() {
            return;
        }
    }
}

/// Serve `service` on `input` and `output` until the client exits or closes its input.
pub(crate) async fn serve<R, W>(
    input: R,
    output: W,
    service: LspService<Backend>,
    socket: ClientSocket,
) where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let (to_server, server_input) = tokio::io::duplex(1 << 20);
    let (server_output, from_server_end) = tokio::io::duplex(1 << 20);
    let (sender, receiver) = mpsc::channel(64);
    let writer = tokio::spawn(write_frames(receiver, output));
    let outgoing = tokio::spawn(from_server(from_server_end, sender.clone()));
    let incoming = tokio::spawn(from_client(input, to_server, sender));
    Server::new(server_input, server_output, socket)
        .serve(service)
        .await;
    incoming.abort();
    let _ = outgoing.await;
    let _ = writer.await;
}
