//! In-process links to a node running in this same process.
//!
//! A node registers its Kafka addresses here when it starts ([`register`]); a client of this
//! process that connects to one of them then hands its request frames to the node's request
//! handler directly — the same frames, the same handler, the same answers — instead of
//! writing them to a loopback socket. A topology deployed to a node (or run beside an
//! embedded node) thus reaches its own node without TCP, syscalls or a connection task;
//! any other node is still reached over TCP. Dropping the [`Registration`] (the node
//! stopping) removes the addresses: new connections go over TCP again, and calls on links
//! already open fail like a closed connection.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock, RwLock};

use bytes::Bytes;

/// What a node answers a request frame handed to it in process.
pub type LocalAnswer = Pin<Box<dyn Future<Output = Result<Option<Bytes>, String>> + Send>>;

/// A node of this process that takes request frames directly.
pub trait LocalNode: Send + Sync + 'static {
    /// Handles one request frame (header and body, without the size prefix), as the node
    /// handles a frame read from a socket: the response frame (without its size prefix),
    /// `None` when the request gets no answer (Produce with acks=0), or `Err` with the
    /// reason when the node would close the connection.
    fn call(&self, frame: Bytes) -> LocalAnswer;
}

type Registry = RwLock<HashMap<String, Arc<dyn LocalNode>>>;

fn registry() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(Default::default)
}

/// Registers `node` under each of `addrs` (`HOST:PORT`, as clients name it: the listener's
/// address and the advertised one); the addresses stay registered until the returned
/// [`Registration`] is dropped.
pub fn register(addrs: &[String], node: Arc<dyn LocalNode>) -> Registration {
    let mut map = registry().write().unwrap_or_else(|e| e.into_inner());
    for addr in addrs {
        map.insert(addr.clone(), node.clone());
    }
    Registration {
        addrs: addrs.to_vec(),
        node,
    }
}

/// The node of this process registered under `addr`, if any.
pub(crate) fn lookup(addr: &str) -> Option<Arc<dyn LocalNode>> {
    let map = registry().read().unwrap_or_else(|e| e.into_inner());
    map.get(addr).cloned()
}

/// Keeps a node's addresses registered; dropping it unregisters them (those still
/// pointing at this node: a node started since under the same address keeps its own).
pub struct Registration {
    addrs: Vec<String>,
    node: Arc<dyn LocalNode>,
}

impl fmt::Debug for Registration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registration")
            .field("addrs", &self.addrs)
            .finish()
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        let mut map = registry().write().unwrap_or_else(|e| e.into_inner());
        for addr in &self.addrs {
            if map.get(addr).is_some_and(|n| Arc::ptr_eq(n, &self.node)) {
                map.remove(addr);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Echo;

    impl LocalNode for Echo {
        fn call(&self, frame: Bytes) -> LocalAnswer {
            Box::pin(async move { Ok(Some(frame)) })
        }
    }

    #[test]
    fn an_address_is_local_while_registered_and_only_for_its_own_node() {
        let addr = "local-test:1".to_string();
        let first = register(std::slice::from_ref(&addr), Arc::new(Echo));
        assert!(lookup(&addr).is_some());
        assert!(lookup("local-test:2").is_none());
        // A second node under the same address: dropping the first keeps the second.
        let second = register(std::slice::from_ref(&addr), Arc::new(Echo));
        drop(first);
        assert!(lookup(&addr).is_some());
        drop(second);
        assert!(lookup(&addr).is_none());
    }
}
