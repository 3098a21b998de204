//! An in-process target over in-memory pipes, so engine tests run on paused tokio time with a server of known behaviour.
//!
//! Over real sockets, paused time would jump ahead whenever the runtime
//! waits on the network, firing timeouts at random; over `tokio::io::duplex`
//! every wake-up is a task's, so time only advances when the server sleeps
//! (its fixed delay), exactly as on a quiet machine.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::DuplexStream;
use tokio::time::Instant;

/// How the in-memory server answers.
#[derive(Debug, Clone, Copy)]
pub struct Behaviour {
    pub status: u16,
    /// Before answering (tokio time, so paused time skips it).
    pub delay: Duration,
}

/// What the server saw: when each request arrived.
#[derive(Debug, Default)]
pub struct Received {
    pub count: AtomicU64,
    pub at: Mutex<Vec<Instant>>,
}

impl Received {
    pub fn times(&self) -> Vec<Instant> {
        self.at.lock().map(|v| v.clone()).unwrap_or_default()
    }
}

/// Opens a new connection to the in-process server.
#[derive(Clone)]
pub struct MemoryTarget {
    behaviour: Behaviour,
    pub received: Arc<Received>,
}

impl std::fmt::Debug for MemoryTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryTarget")
            .field("behaviour", &self.behaviour)
            .finish()
    }
}

impl MemoryTarget {
    pub fn new(behaviour: Behaviour) -> Self {
        MemoryTarget {
            behaviour,
            received: Arc::new(Received::default()),
        }
    }

    /// A new connection: the client's end; the server's end is served by a task.
    pub fn connect(&self) -> DuplexStream {
        let (client, server) = tokio::io::duplex(64 * 1024);
        let (b, received) = (self.behaviour, self.received.clone());
        tokio::spawn(async move {
            let svc =
                hyper::service::service_fn(move |_req: hyper::Request<hyper::body::Incoming>| {
                    let received = received.clone();
                    async move {
                        received.count.fetch_add(1, Ordering::Relaxed);
                        if let Ok(mut at) = received.at.lock() {
                            at.push(Instant::now());
                        }
                        tokio::time::sleep(b.delay).await;
                        let mut r = hyper::Response::new(http_body_util::Full::new(
                            bytes::Bytes::from_static(b"ok"),
                        ));
                        *r.status_mut() =
                            hyper::StatusCode::from_u16(b.status).unwrap_or(hyper::StatusCode::OK);
                        Ok::<_, std::convert::Infallible>(r)
                    }
                });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(hyper_util::rt::TokioIo::new(server), svc)
                .await;
        });
        client
    }
}
