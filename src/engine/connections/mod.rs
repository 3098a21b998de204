//! The connections mode: each worker opens a connection (paced to the open rate), holds it, echoes messages on it, and closes it.
//!
//! Workers are scheduled as a closed loop's are: worker `i` holds a
//! connection while the level (the count) is above `i`, so stages and the
//! level keys ramp the count. A pause keeps what is held but opens
//! nothing and sends no message. Every end is charged to its cause: closed
//! by rampdeck, closed by the server (FIN, or a WebSocket close code), or
//! reset, with the connection's age; connect failures by phase.

pub mod proxy;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use super::schedule::{Due, Schedule};
use super::stream::Stream;
use super::worker::Shared;
use crate::spec::connections::{ConnectionsPlan, Traffic};
use crate::stats::connections::{ConnStats, Ended};

/// A connections run's plan, pacing and numbers, shared by its workers.
pub struct ConnRun {
    pub plan: Arc<ConnectionsPlan>,
    pub stats: ConnStats,
    /// The next time a connection may open: opens are spaced 1/rate apart.
    next_open: std::sync::Mutex<Option<Instant>>,
    /// What goes in the WebSocket handshake's request line and Host.
    ws_url: Option<String>,
    /// How long an echo may take (the target's timeout).
    echo_timeout: Duration,
}

impl ConnRun {
    pub fn new(
        plan: Arc<ConnectionsPlan>,
        authority: &str,
        tls: bool,
        echo_timeout: Duration,
    ) -> Self {
        let ws_url = match &plan.traffic {
            Traffic::WebSocket { path } => Some(format!(
                "{}://{authority}{path}",
                if tls { "wss" } else { "ws" }
            )),
            _ => None,
        };
        ConnRun {
            plan,
            stats: ConnStats::new(),
            next_open: std::sync::Mutex::new(None),
            ws_url,
            echo_timeout,
        }
    }

    /// When this open may go: the slot after the last one handed out.
    fn open_slot(&self, now: Instant) -> Instant {
        let gap = Duration::from_secs_f64(1.0 / self.plan.open_rate.max(1e-3));
        let mut next = self.next_open.lock().unwrap_or_else(|e| e.into_inner());
        // No catching up after a quiet spell: the rate is a ceiling.
        let at = next.map_or(now, |n| n.max(now));
        *next = Some(at + gap);
        at
    }
}

/// A held connection as its traffic speaks.
enum Held {
    Raw(Stream),
    Ws(Box<WebSocketStream<Stream>>),
}

/// Smaller than tungstenite's 128 KiB default: thousands of mostly idle
/// connections must stay cheap.
fn ws_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(0)
        .max_message_size(Some(1 << 20))
}

/// Opens one connection: TCP, the PROXY header, TLS, the WebSocket
/// upgrade; each phase timed, a failure counted by its phase.
async fn open(run: &ConnRun, shared: &Shared) -> Option<Held> {
    let t0 = Instant::now();
    let (mut tcp, addr) = match shared.connector.connect_tcp().await {
        Ok(x) => x,
        Err(f) => {
            run.stats.failed(f.kind.name(), f.message);
            return None;
        }
    };
    let tcp_done = Instant::now();
    if let Some(version) = run.plan.proxy {
        let local = tcp.local_addr().unwrap_or(addr);
        let header = proxy::header(version, local, addr);
        if let Err(e) = tcp.write_all(&header).await {
            run.stats.failed(
                "proxy_protocol",
                format!("sending the PROXY header to {addr}: {e}"),
            );
            return None;
        }
    }
    let tls = shared.connector.is_tls();
    let stream = match shared.connector.secure(tcp, addr).await {
        Ok(s) => s,
        Err(f) => {
            run.stats.failed(f.kind.name(), f.message);
            return None;
        }
    };
    let tls_done = Instant::now();
    let held = match &run.ws_url {
        None => Held::Raw(stream),
        Some(url) => {
            let upgrade = tokio_tungstenite::client_async_with_config(
                url.as_str(),
                stream,
                Some(ws_config()),
            );
            match tokio::time::timeout(shared.timeout, upgrade).await {
                Ok(Ok((ws, _))) => Held::Ws(Box::new(ws)),
                Ok(Err(tokio_tungstenite::tungstenite::Error::Http(resp))) => {
                    run.stats.failed(
                        "websocket",
                        format!(
                            "WebSocket upgrade at {url}: the server answered HTTP {} instead of 101",
                            resp.status().as_u16()
                        ),
                    );
                    return None;
                }
                Ok(Err(e)) => {
                    run.stats
                        .failed("websocket", format!("WebSocket upgrade at {url}: {e}"));
                    return None;
                }
                Err(_) => {
                    run.stats.failed(
                        "websocket",
                        format!(
                            "WebSocket upgrade at {url}: no answer within {:?}",
                            shared.timeout
                        ),
                    );
                    return None;
                }
            }
        }
    };
    let done = Instant::now();
    run.stats.opened(
        tcp_done - t0,
        tls.then(|| tls_done - tcp_done),
        run.ws_url.as_ref().map(|_| done - tls_done),
    );
    Some(held)
}

/// Whether worker `i` should hold a connection now: the count is above
/// it. A pause freezes the count (nothing opens, nothing closes).
fn wanted(s: &Schedule, i: usize, now: Instant) -> bool {
    s.level_at(s.rc_at(now)) + 1e-9 >= i as f64 + 1.0
}

/// What a held connection's read found.
enum Read {
    /// Bytes (raw) or a message's payload (WebSocket).
    Data(Bytes),
    Ended(Ended),
    /// A WebSocket control frame, answered by tungstenite itself.
    Control,
}

impl Held {
    async fn read(&mut self, buf: &mut Vec<u8>) -> Read {
        match self {
            Held::Raw(s) => {
                if buf.is_empty() {
                    buf.resize(64, 0);
                }
                match s.read(buf).await {
                    Ok(0) => Read::Ended(Ended::ServerClosed(None)),
                    Ok(n) => Read::Data(Bytes::copy_from_slice(&buf[..n])),
                    Err(e) => Read::Ended(Ended::Reset(format!("the connection broke: {e}"))),
                }
            }
            Held::Ws(ws) => match ws.next().await {
                None => Read::Ended(Ended::Reset(
                    "the WebSocket ended without a close frame".into(),
                )),
                Some(Err(e)) => Read::Ended(Ended::Reset(format!("the WebSocket broke: {e}"))),
                Some(Ok(Message::Close(frame))) => Read::Ended(Ended::ServerClosed(Some(
                    frame.map_or(1005, |f| u16::from(f.code)),
                ))),
                Some(Ok(Message::Text(t))) => Read::Data(Bytes::copy_from_slice(t.as_bytes())),
                Some(Ok(Message::Binary(b))) => Read::Data(b),
                Some(Ok(_)) => Read::Control,
            },
        }
    }

    async fn send(&mut self, message: &Bytes) -> Result<(), Ended> {
        match self {
            Held::Raw(s) => s
                .write_all(message)
                .await
                .map_err(|e| Ended::Reset(format!("writing a message: {e}"))),
            Held::Ws(ws) => {
                let m = match std::str::from_utf8(message) {
                    Ok(text) => Message::Text(text.into()),
                    Err(_) => Message::Binary(message.clone()),
                };
                ws.send(m)
                    .await
                    .map_err(|e| Ended::Reset(format!("sending a WebSocket message: {e}")))
            }
        }
    }

    /// Closes from rampdeck's side: FIN, or a WebSocket close (1000).
    async fn close(self) {
        let quick = Duration::from_millis(500);
        match self {
            Held::Raw(mut s) => {
                let _ = tokio::time::timeout(quick, s.shutdown()).await;
            }
            Held::Ws(mut ws) => {
                use tokio_tungstenite::tungstenite::protocol::frame::{
                    coding::CloseCode, CloseFrame,
                };
                let bye = Message::Close(Some(CloseFrame {
                    code: CloseCode::Normal,
                    reason: "".into(),
                }));
                let _ = tokio::time::timeout(quick, ws.send(bye)).await;
            }
        }
    }
}

/// One message and its echo: the round trip, or how the connection ended.
async fn echo(run: &ConnRun, held: &mut Held, buf: &mut Vec<u8>) -> Result<Duration, Ended> {
    let message = &run.plan.message;
    let sent = Instant::now();
    held.send(message).await?;
    let deadline = sent + run.echo_timeout;
    let mut got = Vec::with_capacity(message.len());
    while got.len() < message.len() {
        let read = tokio::time::timeout_at(deadline, held.read(buf)).await;
        match read {
            Err(_) => {
                return Err(Ended::EchoFailed(format!(
                    "no echo of a {}-byte message within {:?}",
                    message.len(),
                    run.echo_timeout
                )))
            }
            Ok(Read::Data(d)) => got.extend_from_slice(&d),
            Ok(Read::Control) => {}
            Ok(Read::Ended(e)) => return Err(e),
        }
    }
    if got[..] != message[..] {
        return Err(Ended::EchoFailed(format!(
            "the echo was not the message sent ({} bytes back for {})",
            got.len(),
            message.len()
        )));
    }
    Ok(sent.elapsed())
}

/// A worker: while the count asks for it, open (paced), hold, close, again.
pub async fn hold_loop(id: usize, shared: Arc<Shared>, mut rx: watch::Receiver<Arc<Schedule>>) {
    let Some(run) = shared.connections.clone() else {
        return;
    };
    let mut schedule = rx.borrow_and_update().clone();
    let mut buf = Vec::new();
    // When this worker's last connection was lost (closed by the server,
    // reset), until its replacement is up.
    let mut lost_at: Option<Instant> = None;
    loop {
        if shared.stop.is_cancelled() {
            return;
        }
        let now = Instant::now();
        if schedule.paused || !wanted(&schedule, id, now) {
            // Wait for the count to reach this worker, or for a new schedule.
            let at = match schedule.active_from(id, now) {
                Due::At(t) if !schedule.paused => Some(t),
                _ => None,
            };
            tokio::select! {
                biased;
                _ = shared.stop.cancelled() => return,
                r = rx.changed() => {
                    if r.is_err() { return }
                    schedule = rx.borrow_and_update().clone();
                }
                _ = sleep_opt(at) => {}
            }
            continue;
        }
        let at = run.open_slot(now);
        tokio::select! {
            biased;
            _ = shared.stop.cancelled() => return,
            _ = tokio::time::sleep_until(at) => {}
        }
        let Some(mut held) = open(&run, &shared).await else {
            continue;
        };
        let opened = Instant::now();
        if let Some(lost) = lost_at.take() {
            run.stats.reopened(opened - lost);
        }
        let until = run.plan.hold.map(|h| opened + h);
        let mut next_message = run.plan.message_interval.map(|i| opened + i);
        let ended = loop {
            let paused = schedule.paused;
            tokio::select! {
                biased;
                _ = shared.stop.cancelled() => break Ended::Closed,
                r = rx.changed() => {
                    if r.is_err() { break Ended::Closed }
                    schedule = rx.borrow_and_update().clone();
                    if !wanted(&schedule, id, Instant::now()) {
                        break Ended::Closed;
                    }
                }
                _ = sleep_opt(until) => break Ended::Closed,
                _ = sleep_opt(next_message.filter(|_| !paused)) => {
                    match echo(&run, &mut held, &mut buf).await {
                        Ok(rtt) => run.stats.echoed(rtt),
                        Err(e) => break e,
                    }
                    if let (Some(n), Some(i)) = (next_message.as_mut(), run.plan.message_interval) {
                        // The next on the grid; a slow echo skips, never bunches.
                        *n += i;
                        let now = Instant::now();
                        while *n <= now {
                            *n += i;
                        }
                    }
                }
                r = held.read(&mut buf) => match r {
                    Read::Ended(e) => break e,
                    // Unasked-for bytes, or a ping: nothing to measure.
                    Read::Data(_) | Read::Control => {}
                },
            }
        };
        let now = Instant::now();
        let age = now - opened;
        if matches!(ended, Ended::Closed | Ended::EchoFailed(_)) {
            held.close().await;
        }
        // On the run clock, as route firings are (their drop windows take these).
        let at = schedule.rc_at(now);
        run.stats.ended(&ended, age, at);
        if matches!(ended, Ended::ServerClosed(_) | Ended::Reset(_)) {
            if !run.plan.reconnect {
                // `reconnect = false`: a lost connection stays lost.
                return;
            }
            lost_at = Some(now);
        }
        // Memory for an idle connection stays small: drop a grown buffer.
        if buf.capacity() > 4096 {
            buf = Vec::new();
        }
    }
}

async fn sleep_opt(t: Option<Instant>) {
    match t {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}
