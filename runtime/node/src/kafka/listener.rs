//! The Kafka listener: accepts client TCP connections and runs one connection task per
//! client on the node's main arbiter. Partition work happens on the partition arbiters, so
//! the connection tasks only decode, route and encode.

use std::sync::Arc;

use tokio::net::TcpListener;

use super::{connection, Broker};

/// Accepts connections until the listener fails or the task is dropped.
pub async fn serve_listener(listener: TcpListener, broker: Arc<Broker>) {
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                if let Err(shortage) = crate::fd_limit::client_connection_allowed() {
                    // Dropping the stream closes it at once and gives the descriptor back.
                    crate::fd_limit::note_refused(peer, &shortage);
                    continue;
                }
                let guard = match broker.connection_guard(peer.ip()) {
                    Ok(guard) => guard,
                    Err(limit) => {
                        // Kafka closes such connections at once, too.
                        tracing::warn!(%peer, %limit, "refusing client connection");
                        metrics::counter!("eddy_connections_refused_total", "reason" => "limit")
                            .increment(1);
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let broker = broker.clone();
                actix_rt::spawn(async move {
                    connection::serve(broker, stream, peer, guard).await;
                });
            }
            Err(err) => {
                // Running out of file descriptors is the usual cause; back off briefly
                // instead of spinning.
                tracing::warn!(error = %err, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }
    }
}
