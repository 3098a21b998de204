//! The demo's echoes for the connections mode: a TCP echo on its own port and a WebSocket echo on the gateway, with latency, resets and server closes.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::protocol::frame::{coding::CloseCode, CloseFrame};
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;
use tokio_util::sync::CancellationToken;

use super::config::EchoConfig;

/// What the echoes saw, for tests and the demo's own view.
#[derive(Debug, Default)]
pub struct EchoCounters {
    pub accepted: AtomicU64,
    /// Connections open now.
    pub open: AtomicU64,
    /// Ended by the client: FIN (TCP) or a close frame (WebSocket).
    pub client_closed: AtomicU64,
    pub echoed: AtomicU64,
}

pub struct Echo {
    pub config: EchoConfig,
    pub counters: EchoCounters,
}

impl Echo {
    pub fn new(config: EchoConfig) -> Self {
        Echo {
            config,
            counters: EchoCounters::default(),
        }
    }

    /// When this connection's fault ends it, and how (true: a reset).
    fn fault(&self, accepted: Instant) -> Option<(Instant, bool)> {
        let reset = self.config.reset_after.map(|d| (accepted + d, true));
        let close = self.config.close_after.map(|d| (accepted + d, false));
        match (reset, close) {
            (Some(r), Some(c)) => Some(if r.0 <= c.0 { r } else { c }),
            (r, c) => r.or(c),
        }
    }
}

async fn sleep_opt(t: Option<Instant>) {
    match t {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}

/// Accepts TCP connections until `cancel` and echoes what each sends.
pub async fn serve_tcp(listener: TcpListener, echo: Arc<Echo>, cancel: CancellationToken) {
    let done = cancel.clone();
    crate::accept::accept_until(listener, done, move |stream| {
        let echo = echo.clone();
        let cancel = cancel.clone();
        async move {
            echo.counters.accepted.fetch_add(1, Ordering::Relaxed);
            echo.counters.open.fetch_add(1, Ordering::Relaxed);
            tcp_connection(stream, &echo, &cancel).await;
            echo.counters.open.fetch_sub(1, Ordering::Relaxed);
        }
    })
    .await;
}

async fn tcp_connection(mut s: TcpStream, echo: &Echo, cancel: &CancellationToken) {
    let _ = s.set_nodelay(true);
    let fault = echo.fault(Instant::now());
    let mut buf = [0u8; 512];
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = sleep_opt(fault.map(|f| f.0)) => {
                if fault.is_some_and(|f| f.1) {
                    // Linger 0: close sends RST instead of FIN. (A zero
                    // linger never blocks the thread, which is what the
                    // deprecation warns of.)
                    #[allow(deprecated)]
                    let _ = s.set_linger(Some(Duration::ZERO));
                } else {
                    let _ = s.shutdown().await;
                }
                return;
            }
            r = s.read(&mut buf) => match r {
                Ok(0) => {
                    echo.counters.client_closed.fetch_add(1, Ordering::Relaxed);
                    return;
                }
                Ok(n) => {
                    if !echo.config.latency.is_zero() {
                        tokio::time::sleep(echo.config.latency).await;
                    }
                    if s.write_all(&buf[..n]).await.is_err() {
                        return;
                    }
                    echo.counters.echoed.fetch_add(1, Ordering::Relaxed);
                }
                Err(_) => return,
            },
        }
    }
}

/// Echoes an upgraded WebSocket connection's messages.
pub async fn websocket<S>(io: S, echo: Arc<Echo>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let config = WebSocketConfig::default().read_buffer_size(4096);
    let mut ws = WebSocketStream::from_raw_socket(io, Role::Server, Some(config)).await;
    echo.counters.accepted.fetch_add(1, Ordering::Relaxed);
    echo.counters.open.fetch_add(1, Ordering::Relaxed);
    let fault = echo.fault(Instant::now());
    loop {
        tokio::select! {
            _ = sleep_opt(fault.map(|f| f.0)) => {
                if !fault.is_some_and(|f| f.1) {
                    let bye = Message::Close(Some(CloseFrame {
                        code: CloseCode::from(echo.config.close_code),
                        reason: "demo close_after".into(),
                    }));
                    let _ = ws.send(bye).await;
                }
                // A reset: the connection ends with no close frame.
                break;
            }
            m = ws.next() => match m {
                Some(Ok(Message::Close(_))) => {
                    echo.counters.client_closed.fetch_add(1, Ordering::Relaxed);
                    break;
                }
                Some(Ok(m @ (Message::Text(_) | Message::Binary(_)))) => {
                    if !echo.config.latency.is_zero() {
                        tokio::time::sleep(echo.config.latency).await;
                    }
                    if ws.send(m).await.is_err() {
                        break;
                    }
                    echo.counters.echoed.fetch_add(1, Ordering::Relaxed);
                }
                Some(Ok(_)) => {}
                None | Some(Err(_)) => break,
            },
        }
    }
    echo.counters.open.fetch_sub(1, Ordering::Relaxed);
}
