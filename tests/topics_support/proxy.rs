//! A loopback TCP proxy in front of a node's Kafka port that loses acknowledgements: it
//! forwards requests and responses frame by frame and, for every `drop_every`-th Produce
//! response, closes both connections instead of forwarding it — the broker has appended
//! the batch, the client never hears so and must retry.
//!
//! Clients reach the proxy for every request (not only the bootstrap) when the node
//! advertises the proxy's port: bind the proxy's listener first (`ProxyListener::bind`),
//! start the node with `--advertised-listener` set to it, then `start` the proxy.

use std::collections::VecDeque;
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;

/// Largest frame the proxy forwards.
const FRAME_BYTES_MAX: usize = 64 * 1024 * 1024;
const PRODUCE_API_KEY: i16 = 0;

/// The proxy's listening socket, bound before the node starts so its port is reserved.
pub struct ProxyListener {
    listener: TcpListener,
}

impl ProxyListener {
    /// Binds an ephemeral loopback port.
    pub fn bind() -> Self {
        ProxyListener {
            listener: TcpListener::bind("127.0.0.1:0").expect("bind the proxy's port"),
        }
    }

    /// `127.0.0.1:<port>`, to advertise.
    pub fn addr(&self) -> SocketAddr {
        self.listener.local_addr().expect("proxy address")
    }

    /// Starts forwarding to `upstream`.
    pub fn start(self, upstream: SocketAddr, drop_every: u64) -> AckDroppingProxy {
        assert!(drop_every > 0, "drop_every must be at least 1");
        let addr = self.addr();
        let counters = Arc::new(Counters::default());
        let stop = Arc::new(AtomicBool::new(false));
        let (c, s) = (counters.clone(), stop.clone());
        thread::spawn(move || {
            for client in self.listener.incoming() {
                if s.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(client) = client else { continue };
                let Ok(server) = TcpStream::connect(upstream) else {
                    continue;
                };
                let _ = client.set_nodelay(true);
                let _ = server.set_nodelay(true);
                pair(client, server, c.clone(), drop_every);
            }
        });
        AckDroppingProxy {
            addr,
            counters,
            stop,
        }
    }
}

#[derive(Default)]
struct Counters {
    produce_responses: AtomicU64,
    dropped: AtomicU64,
}

/// A running proxy; stops accepting when dropped (open connections end with their peers).
pub struct AckDroppingProxy {
    addr: SocketAddr,
    counters: Arc<Counters>,
    stop: Arc<AtomicBool>,
}

impl AckDroppingProxy {
    /// Produce responses that reached the proxy (forwarded or dropped).
    pub fn produce_responses(&self) -> u64 {
        self.counters.produce_responses.load(Ordering::SeqCst)
    }

    /// Produce responses dropped together with their connection.
    pub fn dropped(&self) -> u64 {
        self.counters.dropped.load(Ordering::SeqCst)
    }
}

impl Drop for AckDroppingProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(self.addr);
    }
}

fn read_frame(stream: &mut TcpStream) -> Option<Vec<u8>> {
    let mut size = [0u8; 4];
    stream.read_exact(&mut size).ok()?;
    let len = usize::try_from(i32::from_be_bytes(size))
        .ok()
        .filter(|l| *l <= FRAME_BYTES_MAX)?;
    let mut frame = vec![0u8; 4 + len];
    frame[..4].copy_from_slice(&size);
    stream.read_exact(&mut frame[4..]).ok()?;
    Some(frame)
}

fn close(a: &TcpStream, b: &TcpStream) {
    let _ = a.shutdown(Shutdown::Both);
    let _ = b.shutdown(Shutdown::Both);
}

/// Forwards one client connection: requests as they come (noting each one's API key, as
/// responses come back in request order), responses unless one is to be dropped.
fn pair(client: TcpStream, server: TcpStream, counters: Arc<Counters>, drop_every: u64) {
    let keys: Arc<Mutex<VecDeque<i16>>> = Arc::default();
    let (Ok(mut client_in), Ok(mut server_out), Ok(client_close), Ok(server_close)) = (
        client.try_clone(),
        server.try_clone(),
        client.try_clone(),
        server.try_clone(),
    ) else {
        close(&client, &server);
        return;
    };
    let requests = keys.clone();
    thread::spawn(move || {
        while let Some(frame) = read_frame(&mut client_in) {
            let key = frame
                .get(4..6)
                .map(|k| i16::from_be_bytes([k[0], k[1]]))
                .unwrap_or(-1);
            requests.lock().expect("proxy key queue").push_back(key);
            if server_out.write_all(&frame).is_err() {
                break;
            }
        }
        close(&client_close, &server_close);
    });
    let (mut server_in, mut client_out) = (server, client);
    thread::spawn(move || {
        while let Some(frame) = read_frame(&mut server_in) {
            let key = keys.lock().expect("proxy key queue").pop_front();
            if key == Some(PRODUCE_API_KEY) {
                let n = counters.produce_responses.fetch_add(1, Ordering::SeqCst) + 1;
                if n.is_multiple_of(drop_every) {
                    counters.dropped.fetch_add(1, Ordering::SeqCst);
                    break;
                }
            }
            if client_out.write_all(&frame).is_err() {
                break;
            }
        }
        close(&client_out, &server_in);
    });
}
