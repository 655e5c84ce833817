//! One client connection: reads size-prefixed frames (bounded by `socket.request.max.bytes`,
//! checked before allocating), handles requests concurrently — so requests to different
//! partitions proceed in parallel — and writes the responses strictly in request order, as
//! Kafka clients require. A frame it cannot parse closes the connection, as Kafka does.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};

use super::dispatch::{handle_frame, Outcome};
use super::Broker;

/// Why reading stopped.
enum ReadEnd {
    Eof,
    Refused(String),
}

async fn read_frame(rd: &mut OwnedReadHalf, max: usize) -> Result<Bytes, ReadEnd> {
    let mut size = [0u8; 4];
    match rd.read_exact(&mut size).await {
        Ok(_) => {}
        Err(err) if err.kind() == std::io::ErrorKind::UnexpectedEof => return Err(ReadEnd::Eof),
        Err(err) => return Err(ReadEnd::Refused(format!("read failed: {err}"))),
    }
    let size = i32::from_be_bytes(size);
    let len = usize::try_from(size)
        .map_err(|_| ReadEnd::Refused(format!("negative frame size {size}")))?;
    if len > max {
        return Err(ReadEnd::Refused(format!(
            "frame of {len} bytes exceeds socket.request.max.bytes={max}"
        )));
    }
    let mut buf = BytesMut::zeroed(len);
    rd.read_exact(&mut buf)
        .await
        .map_err(|err| ReadEnd::Refused(format!("truncated frame of {len} bytes: {err}")))?;
    Ok(buf.freeze())
}

async fn write_loop(
    mut wr: OwnedWriteHalf,
    mut pending: mpsc::Receiver<oneshot::Receiver<Outcome>>,
) {
    while let Some(next) = pending.recv().await {
        match next.await {
            Ok(Outcome::Respond(bytes)) => {
                metrics::counter!("eddy_bytes_out_total").increment(bytes.len() as u64);
                if wr.write_all(&bytes).await.is_err() {
                    return;
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
pub async fn serve(broker: Arc<Broker>, stream: TcpStream, peer: SocketAddr) {
    metrics::gauge!("eddy_connections_active").increment(1.0);
    let _open = broker.connection_guard();
    let mut shutdown = broker.shutdown_signal();
    let (mut rd, wr) = stream.into_split();
    let (tx, rx) = mpsc::channel(broker.inflight_requests_max);
    let writer = actix_rt::spawn(write_loop(wr, rx));
    loop {
        // At shutdown the connection stops reading; requests already read still get their
        // responses before it closes.
        let read = tokio::select! {
            read = read_frame(&mut rd, broker.request_bytes_max) => read,
            _ = shutdown.wait_for(|stop| *stop) => break,
        };
        let frame = match read {
            Ok(frame) => frame,
            Err(ReadEnd::Eof) => break,
            Err(ReadEnd::Refused(reason)) => {
                tracing::warn!(%peer, %reason, "closing client connection");
                break;
            }
        };
        let (done, done_rx) = oneshot::channel();
        if tx.send(done_rx).await.is_err() {
            break;
        }
        let broker = broker.clone();
        // The handler runs concurrently; the writer awaits results in request order. A
        // handler that decides to close makes the writer stop, and the next send fails.
        actix_rt::spawn(async move {
            let outcome = handle_frame(&broker, peer, frame).await;
            if let Outcome::Close(reason) = &outcome {
                tracing::warn!(%peer, %reason, "closing client connection");
            }
            let _ = done.send(outcome);
        });
    }
    drop(tx);
    let _ = writer.await;
    metrics::gauge!("eddy_connections_active").decrement(1.0);
}
