//! One client connection: reads size-prefixed frames (bounded by `socket.request.max.bytes`,
//! checked before allocating), handles requests concurrently — so requests to different
//! partitions proceed in parallel — and writes the responses strictly in request order, as
//! Kafka clients require. A frame it cannot parse closes the connection, as Kafka does.
//!
//! Memory is bounded per connection and per node, whatever the client does:
//! - Produce requests pipeline, up to `inflight_requests_max` handled or unsent at once
//!   (their responses are small). Every other request is served one at a time, as Kafka
//!   serves all requests: the connection stops reading (is muted) until the response to
//!   the previous non-produce request has been written. So a client that pipelines a
//!   thousand Fetches and never reads its socket holds one fetch response, not a thousand.
//! - A request's bytes are reserved from the node-wide `queued.max.request.bytes` budget
//!   before they are read, and the frame grows as its bytes arrive, so half-sent frames
//!   hold only what was sent and, together, never more than the budget.
//! - A frame must arrive whole within `request_read_timeout_ms` of its size prefix; a
//!   connection with no new request for `connections.max.idle.ms` is closed; a response
//!   that cannot be written for `response_write_timeout_ms` (the client stopped reading)
//!   closes the connection and frees everything it held.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot, OwnedSemaphorePermit, Semaphore};

use super::dispatch::{handle_frame, Outcome};
use super::Broker;

/// The Produce API key: the one request kind that pipelines.
const PRODUCE_API_KEY: i16 = 0;
/// The most a frame's buffer grows by per read (1 MiB), so a frame announcing 100 MiB
/// costs memory only as its bytes arrive.
const FRAME_READ_CHUNK_BYTES: usize = 1 << 20;

/// The limits every connection of a node works within (see the module doc).
#[derive(Debug, Clone)]
pub struct ConnectionLimits {
    /// `queued.max.request.bytes`: request bytes read but not yet handled, node-wide.
    pub queued_request_bytes: Arc<Semaphore>,
    /// The budget's size, so a frame larger than it is refused instead of waiting forever.
    pub queued_request_bytes_max: usize,
    /// `connections.max.idle.ms`: close a connection that sends no request this long.
    pub idle: Duration,
    /// A frame must arrive whole this soon after its size prefix.
    pub request_read: Duration,
    /// A response must make progress on the socket this soon.
    pub response_write: Duration,
}

impl ConnectionLimits {
    /// Limits with a fresh node-wide budget of `queued_request_bytes_max`.
    pub fn new(
        queued_request_bytes_max: usize,
        idle_ms: u64,
        request_read_ms: u64,
        response_write_ms: u64,
    ) -> Self {
        ConnectionLimits {
            queued_request_bytes: Arc::new(Semaphore::new(
                queued_request_bytes_max.min(Semaphore::MAX_PERMITS),
            )),
            queued_request_bytes_max,
            idle: Duration::from_millis(idle_ms),
            request_read: Duration::from_millis(request_read_ms),
            response_write: Duration::from_millis(response_write_ms),
        }
    }
}

/// Why reading stopped.
enum ReadEnd {
    Eof,
    Refused(String),
}

/// A request frame and the budget it holds until it has been handled.
struct Frame {
    bytes: Bytes,
    _budget: OwnedSemaphorePermit,
}

async fn read_frame(
    rd: &mut OwnedReadHalf,
    max: usize,
    limits: &ConnectionLimits,
) -> Result<Frame, ReadEnd> {
    let mut size = [0u8; 4];
    match tokio::time::timeout(limits.idle, rd.read_exact(&mut size)).await {
        Ok(Ok(_)) => {}
        Ok(Err(err)) if err.kind() == std::io::ErrorKind::UnexpectedEof => {
            return Err(ReadEnd::Eof)
        }
        Ok(Err(err)) => return Err(ReadEnd::Refused(format!("read failed: {err}"))),
        Err(_) => {
            return Err(ReadEnd::Refused(format!(
                "idle for connections.max.idle.ms={}",
                limits.idle.as_millis()
            )))
        }
    }
    let size = i32::from_be_bytes(size);
    let len = usize::try_from(size)
        .map_err(|_| ReadEnd::Refused(format!("negative frame size {size}")))?;
    if len > max {
        return Err(ReadEnd::Refused(format!(
            "frame of {len} bytes exceeds socket.request.max.bytes={max}"
        )));
    }
    if len > limits.queued_request_bytes_max {
        return Err(ReadEnd::Refused(format!(
            "frame of {len} bytes exceeds queued.max.request.bytes={}",
            limits.queued_request_bytes_max
        )));
    }
    // Waits while other connections' requests fill the node's budget: back-pressure on
    // this client, not memory.
    let budget = limits
        .queued_request_bytes
        .clone()
        .acquire_many_owned(len.max(1) as u32)
        .await
        .map_err(|_| ReadEnd::Refused("the node is shutting down".into()))?;
    let body = async {
        let mut buf = BytesMut::with_capacity(len.min(FRAME_READ_CHUNK_BYTES));
        while buf.len() < len {
            let want = (len - buf.len()).min(FRAME_READ_CHUNK_BYTES);
            buf.reserve(want);
            let n = (&mut *rd).take(want as u64).read_buf(&mut buf).await?;
            if n == 0 {
                return Err(std::io::Error::from(std::io::ErrorKind::UnexpectedEof));
            }
        }
        Ok(buf)
    };
    match tokio::time::timeout(limits.request_read, body).await {
        Ok(Ok(buf)) => Ok(Frame {
            bytes: buf.freeze(),
            _budget: budget,
        }),
        Ok(Err(err)) => Err(ReadEnd::Refused(format!(
            "truncated frame of {len} bytes: {err}"
        ))),
        Err(_) => Err(ReadEnd::Refused(format!(
            "frame of {len} bytes not received whole within {} ms",
            limits.request_read.as_millis()
        ))),
    }
}

/// A handled request on its way to the socket, with what it holds until written.
struct Pending {
    outcome: Outcome,
    /// The connection's in-flight slot, and for non-produce requests its turn.
    _slots: (OwnedSemaphorePermit, Option<OwnedSemaphorePermit>),
}

async fn write_loop(
    mut wr: OwnedWriteHalf,
    mut pending: mpsc::UnboundedReceiver<oneshot::Receiver<Pending>>,
    write_timeout: Duration,
    peer: SocketAddr,
) {
    while let Some(next) = pending.recv().await {
        match next.await.map(|p| p.outcome) {
            Ok(Outcome::Respond(bytes)) => {
                metrics::counter!("eddy_bytes_out_total").increment(bytes.len() as u64);
                match tokio::time::timeout(write_timeout, wr.write_all(&bytes)).await {
                    Ok(Ok(())) => {}
                    Ok(Err(_)) => return,
                    Err(_) => {
                        tracing::warn!(%peer, bytes = bytes.len(), timeout_ms = write_timeout.as_millis() as u64,
                            "closing client connection: it stopped reading its responses");
                        metrics::counter!("eddy_connections_closed_total", "reason" => "write_stalled")
                            .increment(1);
                        return;
                    }
                }
            }
            Ok(Outcome::Silent) => {}
            // The reader logged why; earlier responses have been written.
            Ok(Outcome::Close(_)) | Err(_) => break,
        }
    }
    let _ = wr.shutdown().await;
}

/// Serves one client until it disconnects or sends something unparseable.
pub(crate) async fn serve(
    broker: Arc<Broker>,
    stream: TcpStream,
    peer: SocketAddr,
    _open: super::ConnectionGuard,
) {
    metrics::gauge!("eddy_connections_active").increment(1.0);
    let mut shutdown = broker.shutdown_signal();
    let limits = broker.connection_limits.clone();
    let (mut rd, wr) = stream.into_split();
    // In-flight slots bound the queue to the writer; the turn serialises non-produce
    // requests. Both are taken here, in request order, so the writer (which also goes in
    // request order) always reaches the holder of the turn: no request waits on a later one.
    let slots = Arc::new(Semaphore::new(broker.inflight_requests_max));
    let turn = Arc::new(Semaphore::new(1));
    let (tx, rx) = mpsc::unbounded_channel();
    let mut writer = actix_rt::spawn(write_loop(wr, rx, limits.response_write, peer));
    // Requests pipelined behind one the node refuses are refused too: the reason is logged
    // once per connection, not once per request.
    let close_logged = Arc::new(std::sync::atomic::AtomicBool::new(false));
    loop {
        // At shutdown the connection stops reading; requests already read still get their
        // responses before it closes. A writer that ended (client gone, write stalled)
        // ends the reader too.
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => slot.expect("the semaphore is never closed"),
            _ = shutdown.wait_for(|stop| *stop) => break,
            _ = &mut writer => return closed(),
        };
        let read = tokio::select! {
            read = read_frame(&mut rd, broker.request_bytes_max, &limits) => read,
            _ = shutdown.wait_for(|stop| *stop) => break,
            _ = &mut writer => return closed(),
        };
        let frame = match read {
            Ok(frame) => frame,
            Err(ReadEnd::Eof) => break,
            Err(ReadEnd::Refused(reason)) => {
                tracing::warn!(%peer, %reason, "closing client connection");
                break;
            }
        };
        let api_key = frame
            .bytes
            .get(..2)
            .map(|b| i16::from_be_bytes([b[0], b[1]]));
        let my_turn = if api_key == Some(PRODUCE_API_KEY) {
            None
        } else {
            tokio::select! {
                t = turn.clone().acquire_owned() => Some(t.expect("the semaphore is never closed")),
                _ = shutdown.wait_for(|stop| *stop) => break,
                _ = &mut writer => return closed(),
            }
        };
        let (done, done_rx) = oneshot::channel();
        if tx.send(done_rx).is_err() {
            break;
        }
        let broker = broker.clone();
        let close_logged = close_logged.clone();
        // The handler runs concurrently; the writer awaits results in request order. A
        // handler that decides to close makes the writer stop, and the next send fails.
        actix_rt::spawn(async move {
            let Frame { bytes, _budget } = frame;
            let outcome = handle_frame(&broker, peer, bytes).await;
            drop(_budget);
            if let Outcome::Close(reason) = &outcome {
                if !close_logged.swap(true, std::sync::atomic::Ordering::Relaxed) {
                    tracing::warn!(%peer, %reason, "closing client connection");
                }
            }
            let _ = done.send(Pending {
                outcome,
                _slots: (slot, my_turn),
            });
        });
    }
    drop(tx);
    let _ = writer.await;
    closed();
}

fn closed() {
    metrics::gauge!("eddy_connections_active").decrement(1.0);
}
