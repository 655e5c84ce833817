//! The node's in-process link: clients in this process (a deployed topology's instance,
//! Connect, an embedded node's program) that connect to one of the node's Kafka addresses
//! hand their request frames to [`handle_frame`] directly (`eddy_client::local`), on the
//! arbiter that serves the node's TCP connections — the same decoding, handlers and
//! answers as a socket gets, without the socket, its syscalls and wake-ups.
//!
//! `EDDY_LOCAL_CLIENTS=off` turns it off (every client then goes over TCP), to compare
//! the two paths in a benchmark.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;

use actix_rt::ArbiterHandle;
use bytes::Bytes;
use eddy_client::local::{register, LocalAnswer, LocalNode, Registration};
use kafka_protocol::messages::ApiKey;
use tokio::sync::oneshot;

use super::dispatch::{handle_frame, Outcome};
use super::Broker;

/// The environment variable that turns the in-process link off (`off`, `0` or `false`).
pub const LOCAL_CLIENTS_ENV: &str = "EDDY_LOCAL_CLIENTS";

/// The peer address handlers see for an in-process client.
const LOCAL_PEER: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), 0);

/// Whether `EDDY_LOCAL_CLIENTS` leaves the in-process link on (anything but `off`, `0`,
/// `false`, in any case).
pub fn enabled(value: Option<&str>) -> bool {
    !value.is_some_and(|v| {
        let v = v.trim().to_ascii_lowercase();
        v == "off" || v == "0" || v == "false"
    })
}

/// Takes frames for the broker, handled on its arbiter.
struct LocalLink {
    broker: Arc<Broker>,
    arbiter: ArbiterHandle,
}

impl LocalNode for LocalLink {
    fn call(&self, frame: Bytes) -> LocalAnswer {
        if *self.broker.shutdown_signal().borrow() {
            return Box::pin(async { Err("the node is shutting down".to_string()) });
        }
        let api = frame
            .get(..2)
            .and_then(|b| ApiKey::try_from(i16::from_be_bytes([b[0], b[1]])).ok())
            .map_or_else(|| "unknown".to_string(), |k| format!("{k:?}"));
        metrics::counter!("eddy_local_requests_total", "api" => api).increment(1);
        let (tx, rx) = oneshot::channel();
        let broker = self.broker.clone();
        let spawned = self.arbiter.spawn_fn(move || {
            actix_rt::spawn(async move {
                let outcome = handle_frame(&broker, LOCAL_PEER, frame).await;
                let _ = tx.send(outcome);
            });
        });
        Box::pin(async move {
            if !spawned {
                return Err("the node's arbiter has stopped".to_string());
            }
            match rx.await {
                // The encoded response starts with its size prefix, which a socket needs.
                Ok(Outcome::Respond(bytes)) => Ok(Some(bytes.slice(4.min(bytes.len())..))),
                Ok(Outcome::Silent) => Ok(None),
                Ok(Outcome::Close(reason)) => {
                    tracing::warn!(%reason, "refusing an in-process client's request");
                    Err(reason)
                }
                Err(_) => Err("the node dropped the request".to_string()),
            }
        })
    }
}

/// Registers `broker` under `addrs` for clients of this process, handled on the current
/// arbiter; `None` when `EDDY_LOCAL_CLIENTS` turns the link off.
pub fn register_local(broker: Arc<Broker>, addrs: &[String]) -> Option<Registration> {
    if !enabled(std::env::var(LOCAL_CLIENTS_ENV).ok().as_deref()) {
        tracing::info!("in-process client link off ({LOCAL_CLIENTS_ENV})");
        return None;
    }
    let link = LocalLink {
        broker,
        arbiter: actix_rt::Arbiter::current(),
    };
    Some(register(addrs, Arc::new(link)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_link_is_on_unless_turned_off() {
        assert!(enabled(None));
        assert!(enabled(Some("on")));
        assert!(!enabled(Some("off")));
        assert!(!enabled(Some(" FALSE ")));
        assert!(!enabled(Some("0")));
    }
}
