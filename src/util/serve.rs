//! Serving HTTP/1.1 and HTTP/2 on a listener until cancelled: the accept loop rampdeck's own listeners (the delivery sink, the metrics endpoint) share.
//!
//! A listener of rampdeck's must never starve the load of file descriptors:
//! each holds at most `Limits::max_connections` connections (one more is
//! accepted and closed at once), a request head must arrive within
//! `header_timeout` (slowloris), and a connection that moves no bytes for
//! `idle_timeout` is closed. 380 idle connections to the metrics endpoint
//! once made the load fail with `local_resources`.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

/// A listen address from input: `IP:PORT`, or `HOST:PORT` resolved here
/// (`localhost:9464`), IPv4 first.
pub fn listen_addr(text: &str) -> Result<std::net::SocketAddr, String> {
    use std::net::ToSocketAddrs;
    if let Ok(a) = text.parse() {
        return Ok(a);
    }
    let bad = || {
        format!("'{text}' is not an address; give IP:PORT or HOST:PORT, e.g. \"127.0.0.1:9464\" or \"localhost:9464\" (port 0: any free port)")
    };
    let addrs: Vec<std::net::SocketAddr> = text.to_socket_addrs().map_err(|_| bad())?.collect();
    addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or(addrs.first())
        .copied()
        .ok_or_else(bad)
}

/// What one listener may hold.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_connections: usize,
    /// From a connection's first byte (or the end of its last response)
    /// to the end of the next request head.
    pub header_timeout: Duration,
    /// No byte either way for this long closes the connection.
    pub idle_timeout: Duration,
}

impl Limits {
    /// Scrapes: Prometheus keeps one connection per target.
    pub const METRICS: Limits = Limits {
        max_connections: 32,
        header_timeout: Duration::from_secs(10),
        idle_timeout: Duration::from_secs(120),
    };
    /// The delivery sink: a relay's connection pool, at the run's rate.
    pub const SINK: Limits = Limits {
        max_connections: 1024,
        header_timeout: Duration::from_secs(10),
        idle_timeout: Duration::from_secs(60),
    };
}

/// A stream that notes when it last moved a byte.
struct Watched {
    inner: TcpStream,
    origin: Instant,
    last_ms: Arc<AtomicU64>,
}

impl Watched {
    fn touch(&self) {
        self.last_ms
            .store(self.origin.elapsed().as_millis() as u64, Ordering::Relaxed);
    }
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.touch();
        }
        r
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.touch();
        }
        r
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Resolves once `last_ms` has not moved for `idle`.
async fn idle_for(origin: Instant, last_ms: &AtomicU64, idle: Duration) {
    loop {
        let last = Duration::from_millis(last_ms.load(Ordering::Relaxed));
        let quiet = origin.elapsed().saturating_sub(last);
        if quiet >= idle {
            return;
        }
        tokio::time::sleep(idle - quiet).await;
    }
}

/// Accepts connections on `listener` and answers each request with
/// `handle`, within `limits`, until `cancel`; then closes every connection
/// and returns.
pub async fn serve<H, F>(
    listener: TcpListener,
    cancel: CancellationToken,
    limits: Limits,
    handle: H,
) where
    H: Fn(Request<Incoming>) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Result<Response<Full<Bytes>>, Infallible>> + Send + 'static,
{
    let mut conns = tokio::task::JoinSet::new();
    loop {
        let stream = tokio::select! {
            _ = cancel.cancelled() => break,
            r = listener.accept() => match r {
                Ok((s, _)) => s,
                // Out of descriptors and the like: back off and go on.
                Err(_) => { tokio::time::sleep(Duration::from_millis(10)).await; continue }
            },
        };
        while conns.try_join_next().is_some() {}
        if conns.len() >= limits.max_connections {
            // Closed at once: the listener holds no more than its share.
            drop(stream);
            continue;
        }
        let _ = stream.set_nodelay(true);
        let (handle, cancel) = (handle.clone(), cancel.clone());
        conns.spawn(async move {
            let origin = Instant::now();
            let last_ms = Arc::new(AtomicU64::new(0));
            let io = Watched {
                inner: stream,
                origin,
                last_ms: last_ms.clone(),
            };
            let svc = hyper::service::service_fn(handle);
            let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
            builder
                .http1()
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_timeout);
            builder
                .http2()
                .timer(TokioTimer::new())
                .keep_alive_interval(None);
            let conn = builder.serve_connection(TokioIo::new(io), svc);
            tokio::select! {
                _ = conn => {}
                _ = idle_for(origin, &last_ms, limits.idle_timeout) => {}
                _ = cancel.cancelled() => {}
            }
        });
    }
    conns.abort_all();
    while conns.join_next().await.is_some() {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    async fn ok(_: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
        Ok(Response::new(Full::new(Bytes::from_static(b"ok"))))
    }

    /// Reads until the server closes (true) or `within` passes (false).
    async fn closed_within(s: &mut TcpStream, within: Duration) -> bool {
        let mut buf = [0u8; 1024];
        tokio::time::timeout(within, async {
            loop {
                match s.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
            }
        })
        .await
        .is_ok()
    }

    #[test]
    fn listen_addresses_resolve_names() {
        assert_eq!(listen_addr("127.0.0.1:9464").unwrap().port(), 9464);
        let a = listen_addr("localhost:9464").unwrap();
        assert!(a.ip().is_loopback() && a.port() == 9464, "{a}");
        assert!(listen_addr("nowhere").unwrap_err().contains("HOST:PORT"));
    }

    #[tokio::test]
    async fn idle_slow_and_surplus_connections_are_closed() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let cancel = CancellationToken::new();
        let limits = Limits {
            max_connections: 4,
            header_timeout: Duration::from_millis(300),
            idle_timeout: Duration::from_millis(600),
        };
        let server = tokio::spawn(serve(listener, cancel.clone(), limits, ok));
        // Idle, never a byte: closed after the idle time.
        let mut idle = TcpStream::connect(addr).await.unwrap();
        // Slowloris: a byte now and then, never the end of the head.
        let mut slow = TcpStream::connect(addr).await.unwrap();
        slow.write_all(b"GET / HTTP/1.1\r\n").await.unwrap();
        let slow_task = tokio::spawn(async move {
            for _ in 0..20 {
                tokio::time::sleep(Duration::from_millis(100)).await;
                if slow.write_all(b"X").await.is_err() {
                    break;
                }
            }
            closed_within(&mut slow, Duration::from_millis(50)).await
                || slow.write_all(b"X").await.is_err()
        });
        // Fill up to the cap: the one past it is closed at once.
        let mut held = Vec::new();
        for _ in 0..2 {
            held.push(TcpStream::connect(addr).await.unwrap());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        let mut surplus = TcpStream::connect(addr).await.unwrap();
        assert!(
            closed_within(&mut surplus, Duration::from_millis(300)).await,
            "past the cap"
        );
        assert!(
            closed_within(&mut idle, Duration::from_secs(3)).await,
            "idle"
        );
        assert!(slow_task.await.unwrap(), "slowloris");
        // A real request still gets its answer.
        drop(held);
        tokio::time::sleep(Duration::from_millis(700)).await;
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
            .await
            .unwrap();
        let mut buf = vec![0u8; 256];
        let n = s.read(&mut buf).await.unwrap();
        assert!(
            buf[..n].starts_with(b"HTTP/1.1 200"),
            "{:?}",
            String::from_utf8_lossy(&buf[..n])
        );
        cancel.cancel();
        server.await.unwrap();
    }
}
