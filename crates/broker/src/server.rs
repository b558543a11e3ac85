//! The TCP side: the accept loop and, per connection, frames in and responses out in request
//! order. Protocol-agnostic: a [`Service`] turns each request frame into a [`Reply`].
//!
//! Requests on one connection are *started* strictly one after another, in arrival order (so a
//! producer's pipelined batches reach the partition in the order it sent them, as Kafka
//! guarantees by muting the socket), but a started request may finish later (an `acks=all`
//! produce waiting for its flush, a fetch long-poll): its [`Reply::Later`] future is queued and
//! the writer answers strictly in request order. The queue is bounded, so a client that
//! pipelines without reading its answers stops being read — memory per connection is bounded.

use bytes::{Bytes, BytesMut};
use semel_wire::FrameDecoder;
use std::future::Future;
use std::io::IoSlice;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::io::{AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tracing::{debug, info, warn};

/// Requests a connection may have started but not yet answered.
const MAX_IN_FLIGHT: usize = 32;
/// Size of one socket read.
const READ_CHUNK_BYTES: usize = 64 * 1024;

/// A response still being computed; `Err` closes the connection instead of answering.
pub type ReplyFuture = Pin<Box<dyn Future<Output = Result<Vec<Bytes>, Close>> + Send>>;

/// What a request turns into.
pub enum Reply {
    /// No response at all (a produce with `acks=0`).
    None,
    /// A response frame (size prefix included), as chunks for a vectored write.
    Now(Vec<Bytes>),
    /// A response frame that will be ready later; later requests on the connection may start
    /// meanwhile, but their answers wait behind this one.
    Later(ReplyFuture),
}

/// Why a connection must be closed instead of answered.
#[derive(Debug)]
pub struct Close(pub String);

/// Turns request frames into replies. Called once per frame, in arrival order per connection.
pub trait Service: Send + Sync + 'static {
    /// Starts handling one request frame (size prefix removed).
    ///
    /// # Errors
    /// [`Close`] when the connection must be closed (malformed header, unadvertised version,
    /// an `acks=0` produce that failed): Kafka's answer when it cannot reply.
    fn call(&self, peer: SocketAddr, frame: Bytes) -> Result<Reply, Close>;

    /// A connection opened or closed (for metrics).
    fn connections_changed(&self, _delta: i64) {}
}

/// Connection counters the server keeps itself.
#[derive(Debug, Default)]
pub struct ServerStats {
    /// Bytes read from clients.
    pub bytes_in: AtomicU64,
    /// Bytes written to clients.
    pub bytes_out: AtomicU64,
}

/// Accepts connections until `shutdown` turns true, then waits for every connection to finish
/// the requests it has started.
///
/// # Errors
/// Only if accepting fails persistently; a failed connection is logged and dropped.
pub async fn serve(
    listener: TcpListener,
    service: Arc<dyn Service>,
    max_frame_bytes: usize,
    stats: Arc<ServerStats>,
    mut shutdown: watch::Receiver<bool>,
) -> std::io::Result<()> {
    let mut connections = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(pair) => pair,
                    Err(e) => {
                        // Out of file descriptors and the like: back off, keep serving the others.
                        warn!(error = %e, "accept failed");
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let service = Arc::clone(&service);
                let stats = Arc::clone(&stats);
                let shutdown = shutdown.clone();
                connections.spawn(async move {
                    service.connections_changed(1);
                    let result = connection(stream, peer, &*service, max_frame_bytes, &stats, shutdown).await;
                    service.connections_changed(-1);
                    match result {
                        Ok(()) => debug!(%peer, "connection closed"),
                        Err(reason) => info!(%peer, %reason, "connection closed by the broker"),
                    }
                });
            }
            _ = shutdown.changed() => break,
            // Reap finished connection tasks so the set does not grow without bound.
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    drop(listener);
    while connections.join_next().await.is_some() {}
    Ok(())
}

/// Serves one connection: reads frames, starts each request in order, and lets a writer task
/// answer in the same order.
async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    service: &dyn Service,
    max_frame_bytes: usize,
    stats: &Arc<ServerStats>,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), String> {
    let (mut reader, writer) = stream.into_split();
    let (replies, queue) = mpsc::channel::<Reply>(MAX_IN_FLIGHT);
    let writer_task = tokio::spawn(write_replies(writer, queue, Arc::clone(stats)));
    let decoder = FrameDecoder::new(max_frame_bytes);
    let mut buf = BytesMut::with_capacity(READ_CHUNK_BYTES);
    let outcome = loop {
        // Start every complete frame already buffered.
        let mut closing = None;
        loop {
            match decoder.decode(&mut buf) {
                Ok(Some(frame)) => match service.call(peer, frame) {
                    Ok(Reply::None) => {}
                    Ok(reply) => {
                        if replies.send(reply).await.is_err() {
                            closing = Some(Err("the writer stopped".to_owned()));
                            break;
                        }
                    }
                    Err(Close(reason)) => {
                        closing = Some(Err(reason));
                        break;
                    }
                },
                Ok(None) => break,
                Err(e) => {
                    closing = Some(Err(format!("bad frame: {e}")));
                    break;
                }
            }
        }
        if let Some(outcome) = closing {
            break outcome;
        }
        if buf.capacity() - buf.len() < 1024 {
            buf.reserve(READ_CHUNK_BYTES);
        }
        tokio::select! {
            read = reader.read_buf(&mut buf) => match read {
                Ok(0) => break Ok(()),
                Ok(n) => { stats.bytes_in.fetch_add(n as u64, Ordering::Relaxed); }
                // A client that goes away without a FIN is an ordinary close.
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break Ok(()),
                Err(e) => break Err(format!("read failed: {e}")),
            },
            // On shutdown stop reading; requests already started are still answered below.
            _ = shutdown.changed() => break Ok(()),
        }
    };
    // Let the writer drain what was started, then finish.
    drop(replies);
    let _ = writer_task.await;
    outcome
}

async fn write_replies(
    mut writer: tokio::net::tcp::OwnedWriteHalf,
    mut queue: mpsc::Receiver<Reply>,
    stats: Arc<ServerStats>,
) {
    while let Some(reply) = queue.recv().await {
        let chunks = match reply {
            Reply::None => continue,
            Reply::Now(chunks) => chunks,
            Reply::Later(future) => match future.await {
                Ok(chunks) => chunks,
                Err(Close(reason)) => {
                    warn!(%reason, "closing the connection instead of answering");
                    let _ = writer.shutdown().await;
                    return;
                }
            },
        };
        match write_all_vectored(&mut writer, &chunks).await {
            Ok(n) => {
                stats.bytes_out.fetch_add(n as u64, Ordering::Relaxed);
            }
            Err(e) => {
                debug!(error = %e, "write failed");
                return;
            }
        }
    }
    let _ = writer.shutdown().await;
}

/// Writes every chunk with as few `writev` calls as the socket allows; returns bytes written.
async fn write_all_vectored<W: AsyncWrite + Unpin>(
    writer: &mut W,
    chunks: &[Bytes],
) -> std::io::Result<usize> {
    let total: usize = chunks.iter().map(Bytes::len).sum();
    let mut index = 0;
    let mut offset = 0;
    while index < chunks.len() {
        let slices: Vec<IoSlice<'_>> = chunks[index..]
            .iter()
            .enumerate()
            .map(|(i, c)| IoSlice::new(if i == 0 { &c[offset..] } else { &c[..] }))
            .take(64)
            .collect();
        let mut written = writer.write_vectored(&slices).await?;
        if written == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        while written > 0 && index < chunks.len() {
            let left = chunks[index].len() - offset;
            if written >= left {
                written -= left;
                index += 1;
                offset = 0;
            } else {
                offset += written;
                written = 0;
            }
        }
        // Skip empty chunks so the slice list never starts with nothing to write.
        while index < chunks.len() && chunks[index].len() == offset {
            index += 1;
            offset = 0;
        }
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use tokio::io::AsyncReadExt;

    /// Echoes each frame back; frames starting with `s` answer late, after `Reply::Later` sleeps.
    struct Echo;

    impl Service for Echo {
        fn call(&self, _peer: SocketAddr, frame: Bytes) -> Result<Reply, Close> {
            match frame.first() {
                Some(b'x') => Err(Close("asked to close".into())),
                Some(b'n') => Ok(Reply::None),
                Some(b's') => Ok(Reply::Later(Box::pin(async move {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    Ok(framed(&frame))
                }))),
                _ => Ok(Reply::Now(framed(&frame))),
            }
        }
    }

    fn framed(body: &[u8]) -> Vec<Bytes> {
        vec![
            Bytes::copy_from_slice(&(body.len() as i32).to_be_bytes()),
            Bytes::copy_from_slice(body),
        ]
    }

    async fn start() -> (
        SocketAddr,
        watch::Sender<bool>,
        tokio::task::JoinHandle<std::io::Result<()>>,
    ) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = watch::channel(false);
        let task = tokio::spawn(serve(listener, Arc::new(Echo), 1024, Arc::default(), rx));
        (addr, tx, task)
    }

    async fn read_frame(stream: &mut TcpStream) -> Vec<u8> {
        let size = stream.read_i32().await.unwrap();
        let mut body = vec![0; size as usize];
        stream.read_exact(&mut body).await.unwrap();
        body
    }

    #[tokio::test]
    async fn answers_come_back_in_request_order_even_when_an_earlier_one_is_slow() {
        let (addr, _shutdown, _task) = start().await;
        let mut stream = TcpStream::connect(addr).await.unwrap();
        for body in [&b"slow"[..], b"a", b"n-no-answer", b"b"] {
            for chunk in framed(body) {
                stream.write_all(&chunk).await.unwrap();
            }
        }
        assert_eq!(read_frame(&mut stream).await, b"slow");
        assert_eq!(read_frame(&mut stream).await, b"a");
        assert_eq!(read_frame(&mut stream).await, b"b");
    }

    #[tokio::test]
    async fn an_oversized_frame_closes_only_that_connection() {
        let (addr, _shutdown, _task) = start().await;
        let mut bad = TcpStream::connect(addr).await.unwrap();
        bad.write_all(&i32::MAX.to_be_bytes()).await.unwrap();
        let mut rest = Vec::new();
        let n = tokio::time::timeout(Duration::from_secs(5), bad.read_to_end(&mut rest))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(n, 0, "the broker closes without answering");
        let mut good = TcpStream::connect(addr).await.unwrap();
        for chunk in framed(b"still here") {
            good.write_all(&chunk).await.unwrap();
        }
        assert_eq!(read_frame(&mut good).await, b"still here");
    }

    #[tokio::test]
    async fn shutdown_answers_started_requests_then_stops() {
        let (addr, shutdown, task) = start().await;
        let mut stream = TcpStream::connect(addr).await.unwrap();
        for chunk in framed(b"slow") {
            stream.write_all(&chunk).await.unwrap();
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
        shutdown.send(true).unwrap();
        assert_eq!(read_frame(&mut stream).await, b"slow");
        tokio::time::timeout(Duration::from_secs(5), task)
            .await
            .unwrap()
            .unwrap()
            .unwrap();
    }

    #[tokio::test]
    async fn vectored_writes_handle_partial_writes_and_empty_chunks() {
        let (mut client, mut server) = tokio::io::duplex(7);
        let chunks = vec![
            Bytes::from_static(b"hello "),
            Bytes::new(),
            Bytes::from(vec![b'w'; 100]),
        ];
        let writer = tokio::spawn(async move { write_all_vectored(&mut server, &chunks).await });
        let mut out = vec![0; 106];
        client.read_exact(&mut out).await.unwrap();
        assert_eq!(writer.await.unwrap().unwrap(), 106);
        assert!(out.starts_with(b"hello w"));
    }
}
