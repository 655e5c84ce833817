//! A connection to one peer: one request in flight, reconnecting after any failure. Each
//! user (the Raft network per target, each replica fetcher, the forwarding of proposals)
//! holds its own, so a long-polling fetch never delays a Raft heartbeat.

use std::time::Duration;

use tokio::net::TcpStream;
use tokio::sync::Mutex;

use super::frame;
use super::messages::{PeerRequest, PeerResponse};

/// How long a connect may take on loopback or a LAN before the peer counts as unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// Could not connect, or the connection broke.
    #[error("peer {addr} unreachable: {reason}")]
    Unreachable {
        /// The peer.
        addr: String,
        /// What happened.
        reason: String,
    },
    /// No answer in time.
    #[error("peer {0} did not answer in time")]
    Timeout(String),
}

/// A client of one peer.
pub struct PeerClient {
    addr: String,
    conn: Mutex<Option<TcpStream>>,
}

impl PeerClient {
    /// A client of the peer at `addr` (connects on first use).
    pub fn new(addr: impl Into<String>) -> Self {
        PeerClient {
            addr: addr.into(),
            conn: Mutex::new(None),
        }
    }

    /// Sends `req` and waits up to `timeout` for the answer.
    pub async fn call(
        &self,
        req: &PeerRequest,
        timeout: Duration,
    ) -> Result<PeerResponse, CallError> {
        let mut conn = self.conn.lock().await;
        let result = tokio::time::timeout(timeout, async {
            if conn.is_none() {
                let stream = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(&self.addr))
                    .await
                    .map_err(|_| "connect timed out".to_string())?
                    .map_err(|e| e.to_string())?;
                let _ = stream.set_nodelay(true);
                *conn = Some(stream);
            }
            let stream = conn.as_mut().ok_or("no connection")?;
            frame::write(stream, req).await.map_err(|e| e.to_string())?;
            frame::read::<_, PeerResponse>(stream)
                .await
                .map_err(|e| e.to_string())
        })
        .await;
        match result {
            Ok(Ok(resp)) => Ok(resp),
            Ok(Err(reason)) => {
                *conn = None;
                Err(CallError::Unreachable {
                    addr: self.addr.clone(),
                    reason,
                })
            }
            Err(_) => {
                // The answer may still arrive: this connection is out of step now.
                *conn = None;
                Err(CallError::Timeout(self.addr.clone()))
            }
        }
    }
}
