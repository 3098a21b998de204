//! Connections to the target: TCP, rustls TLS, hyper HTTP/1.1 or HTTP/2, and error classification.
//!
//! Each worker owns its HTTP/1.1 connection (one request in flight, kept
//! alive), which is faster than a pooled client on the hot path. HTTP/2
//! workers share a few multiplexed connections (see `H2Pool`).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::client::conn::{http1, http2};
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;

use super::stream::Stream;
use tokio_rustls::TlsConnector;

use super::EngineError;
use crate::spec::plan::{Endpoint, Target};
use crate::stats::ErrorKind;

pub type Body = Full<Bytes>;

/// A failed request: its class and the message to show the operator.
#[derive(Debug, Clone)]
pub struct Failure {
    pub kind: ErrorKind,
    pub message: String,
    /// No request of this run can succeed (e.g. HTTP/2 without ALPN h2):
    /// the run stops and exits 1 rather than count the same failure forever.
    pub fatal: bool,
}

/// The longest failure text kept, in characters (a server's error body or
/// status message can be any size).
pub const MAX_FAILURE_TEXT: usize = 500;

impl Failure {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Failure {
            kind,
            // Error text can come from the network: keep it printable,
            // and short enough to be one line of a pane or a summary.
            message: crate::util::text::sanitized(&crate::util::text::clip(
                &message.into(),
                MAX_FAILURE_TEXT,
            )),
            fatal: false,
        }
    }

    pub fn fatal(kind: ErrorKind, message: impl Into<String>) -> Self {
        Failure {
            fatal: true,
            ..Failure::new(kind, message)
        }
    }
}

/// Everything needed to open a connection to the target.
pub struct Connector {
    /// The in-process test target instead of the network.
    memory: Option<super::memory::MemoryTarget>,
    addrs: Vec<SocketAddr>,
    next_addr: AtomicUsize,
    tls: Option<(TlsConnector, ServerName<'static>)>,
    pub http2: bool,
    connect_timeout: Duration,
}

impl Connector {
    pub async fn new(endpoint: &Endpoint, target: &Target) -> Result<Self, EngineError> {
        // Resolve once: load goes to the addresses the profile names, and DNS
        // latency is not charged to requests.
        let addrs: Vec<SocketAddr> =
            tokio::net::lookup_host((endpoint.host.as_str(), endpoint.port))
                .await
                .map_err(|e| EngineError::Resolve {
                    host: endpoint.host.clone(),
                    message: e.to_string(),
                })?
                .collect();
        if addrs.is_empty() {
            return Err(EngineError::Resolve {
                host: endpoint.host.clone(),
                message: "no addresses".into(),
            });
        }
        let tls = if endpoint.https {
            let name = ServerName::try_from(endpoint.host.clone()).map_err(|e| {
                EngineError::Tls(format!(
                    "'{}' is not a valid TLS server name: {e}",
                    endpoint.host
                ))
            })?;
            Some((
                TlsConnector::from(Arc::new(super::tls::client_config(target)?)),
                name,
            ))
        } else {
            None
        };
        Ok(Connector {
            memory: None,
            addrs,
            next_addr: AtomicUsize::new(0),
            tls,
            http2: target.http2,
            connect_timeout: target.connect_timeout,
        })
    }

    /// Connections to an in-process server (engine tests on paused time).
    pub fn memory(target: super::memory::MemoryTarget, t: &Target) -> Self {
        Connector {
            memory: Some(target),
            addrs: Vec::new(),
            next_addr: AtomicUsize::new(0),
            tls: None,
            http2: t.http2,
            connect_timeout: t.connect_timeout,
        }
    }

    pub(crate) async fn connect_io(&self) -> Result<Stream, Failure> {
        if let Some(m) = &self.memory {
            return Ok(Stream::memory(m.connect()));
        }
        let (tcp, addr) = self.connect_tcp().await?;
        self.secure(tcp, addr).await
    }

    /// A TCP connection to one of the target's addresses.
    pub async fn connect_tcp(&self) -> Result<(TcpStream, SocketAddr), Failure> {
        // Round-robin over the resolved addresses; if one refuses, try the
        // others before failing (e.g. "localhost" resolving to ::1 first).
        let first = self.next_addr.fetch_add(1, Ordering::Relaxed);
        let mut failure = None;
        let mut stream = None;
        for i in 0..self.addrs.len() {
            let addr = self.addrs[(first + i) % self.addrs.len()];
            match tokio::time::timeout(self.connect_timeout, TcpStream::connect(addr)).await {
                Err(_) => {
                    failure.get_or_insert(Failure::new(
                        ErrorKind::ConnectTimeout,
                        format!(
                            "connect to {addr}: no answer within {:?}",
                            self.connect_timeout
                        ),
                    ));
                }
                Ok(Err(e)) => {
                    failure.get_or_insert(connect_failure(addr, &e));
                }
                Ok(Ok(s)) => {
                    stream = Some((s, addr));
                    break;
                }
            }
        }
        let Some((tcp, addr)) = stream else {
            return Err(failure
                .unwrap_or_else(|| Failure::new(ErrorKind::Connect, "no address to connect to")));
        };
        // Small requests must not wait for Nagle's algorithm.
        let _ = tcp.set_nodelay(true);
        Ok((tcp, addr))
    }

    /// Whether connections get TLS (an https://, wss:// or tls:// target).
    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// The connection as the target speaks it: TLS when the URL asks for it.
    pub async fn secure(&self, tcp: TcpStream, addr: SocketAddr) -> Result<Stream, Failure> {
        match &self.tls {
            None => Ok(Stream::plain(tcp)),
            Some((connector, name)) => {
                match tokio::time::timeout(
                    self.connect_timeout,
                    connector.connect(name.clone(), tcp),
                )
                .await
                {
                    Err(_) => Err(Failure::new(
                        ErrorKind::ConnectTimeout,
                        format!(
                            "TLS handshake with {addr}: no answer within {:?}",
                            self.connect_timeout
                        ),
                    )),
                    Ok(Err(e)) if self.http2 && super::tls::refused_alpn(&e) => Err(Failure::fatal(
                        ErrorKind::Tls,
                        format!(
                            "TLS handshake with {addr}: the server did not negotiate HTTP/2 (it refused ALPN h2); it may only speak HTTP/1.1: run without http2"
                        ),
                    )),
                    Ok(Err(e)) => Err(Failure::new(
                        ErrorKind::Tls,
                        format!("TLS handshake with {addr}: {}", super::tls::words(&e)),
                    )),
                    Ok(Ok(s)) => Ok(Stream::tls(s)),
                }
            }
        }
    }

    pub async fn connect_h1(&self) -> Result<H1, Failure> {
        let mut stream = self.connect_io().await?;
        let informational = Arc::new(AtomicU32::new(0));
        stream.guard(informational.clone());
        let (sender, conn) = http1::Builder::new()
            // Real gateways send more than hyper's default 100 headers
            // (tracing, CORS, security headers): allow what browsers do.
            .max_headers(MAX_RESPONSE_HEADERS)
            .max_header_size(MAX_RESPONSE_HEAD_BYTES)
            .handshake(TokioIo::new(stream))
            .await
            .map_err(|e| classify(&e, false))?;
        Ok(H1 {
            sender,
            conn: Box::pin(conn),
            conn_done: false,
            informational,
        })
    }

    pub async fn connect_h2(&self) -> Result<http2::SendRequest<Body>, Failure> {
        let stream = self.connect_io().await?;
        if stream.is_tls() && stream.alpn() != Some(b"h2") {
            // Speaking h2 to an HTTP/1.1 server gets "frame with invalid
            // size" on every request: the run cannot measure anything.
            return Err(Failure::fatal(
                ErrorKind::Protocol,
                format!(
                    "the server did not negotiate HTTP/2 over TLS (ALPN offered h2, it chose {}); it may only speak HTTP/1.1: run without http2",
                    stream
                        .alpn()
                        .map_or_else(|| "nothing".to_owned(), |p| format!("'{}'", String::from_utf8_lossy(p)))
                ),
            ));
        }
        let mut b = http2::Builder::new(TokioExecutor::new());
        b.adaptive_window(true);
        // The same head limit as HTTP/1.1 (h2's default is 16 KiB): a
        // gRPC status message of 20 KB is read, not silently dropped.
        b.max_header_list_size(MAX_RESPONSE_HEAD_BYTES as u32);
        let (sender, conn) = b
            .handshake(TokioIo::new(stream))
            .await
            .map_err(|e| classify(&e, false))?;
        tokio::spawn(conn);
        Ok(sender)
    }
}

/// Response heads rampdeck reads: up to this many headers...
pub const MAX_RESPONSE_HEADERS: usize = 256;
/// ...and this many bytes, status line included.
pub const MAX_RESPONSE_HEAD_BYTES: usize = 64 * 1024;

fn connect_failure(addr: SocketAddr, e: &std::io::Error) -> Failure {
    if super::fds::is_local_exhaustion(e) {
        return Failure::new(
            ErrorKind::LocalResources,
            format!(
                "connect to {addr}: {e} (rampdeck ran out of its own resources; this is not the target's failure)"
            ),
        );
    }
    let kind = match e.kind() {
        std::io::ErrorKind::ConnectionRefused => ErrorKind::ConnectRefused,
        std::io::ErrorKind::TimedOut => ErrorKind::ConnectTimeout,
        _ => ErrorKind::Connect,
    };
    Failure::new(kind, format!("connect to {addr}: {e}"))
}

/// Classifies a hyper error. `in_body`: the response head had arrived.
pub fn classify(e: &hyper::Error, in_body: bool) -> Failure {
    let io = io_source(e);
    if io
        .and_then(|io| io.get_ref())
        .is_some_and(|inner| inner.is::<super::stream::InformationalFlood>())
    {
        return Failure::new(
            ErrorKind::Protocol,
            super::stream::InformationalFlood.to_string(),
        );
    }
    if e.is_parse_too_large() {
        return Failure::new(
            ErrorKind::Protocol,
            format!(
                "the response head is larger than rampdeck reads ({MAX_RESPONSE_HEADERS} headers, {} KiB): {}",
                MAX_RESPONSE_HEAD_BYTES / 1024,
                crate::util::text::error_chain(e)
            ),
        );
    }
    if let Some(h2) = h2_source(e) {
        // h2 ends the connection when a header block runs past the
        // CONTINUATION frames its header-list limit allows: the server's
        // headers or trailers (a huge grpc-message, say) are too large,
        // which is the response's fault, not a body's or a timeout.
        if h2.is_library() && h2.to_string().contains("continuations") {
            return Failure::new(
                ErrorKind::Protocol,
                format!(
                    "the response's headers or trailers are larger than rampdeck reads ({} KiB): {}",
                    MAX_RESPONSE_HEAD_BYTES / 1024,
                    crate::util::text::error_chain(e)
                ),
            );
        }
    }
    let io_kind = io.map(std::io::Error::kind);
    let reset = matches!(
        io_kind,
        Some(
            std::io::ErrorKind::ConnectionReset
                | std::io::ErrorKind::BrokenPipe
                | std::io::ErrorKind::ConnectionAborted
                | std::io::ErrorKind::UnexpectedEof
        )
    );
    let kind = if in_body {
        ErrorKind::Body
    } else if reset || e.is_incomplete_message() || e.is_canceled() || e.is_closed() {
        ErrorKind::Reset
    } else if e.is_parse() || e.is_parse_status() {
        ErrorKind::Protocol
    } else if io_kind.is_some() {
        ErrorKind::Reset
    } else {
        ErrorKind::Protocol
    };
    Failure::new(kind, crate::util::text::error_chain(e))
}

fn h2_source<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a h2::Error> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(h2) = err.downcast_ref::<h2::Error>() {
            return Some(h2);
        }
        cur = err.source();
    }
    None
}

fn io_source<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a std::io::Error> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            return Some(io);
        }
        cur = err.source();
    }
    None
}

/// A response read to its end: its status, and the first of its
/// request's checks it failed, in words.
#[derive(Debug, Clone, PartialEq)]
pub struct Checked {
    pub status: u16,
    pub failed: Option<String>,
    /// A gRPC call's grpc-status other than OK.
    pub grpc: Option<super::grpc::Status>,
}

/// How one response is judged: the profile's `expect`, and a request
/// source's own check with the body it keeps.
#[derive(Default)]
pub struct Judge<'a> {
    pub expect: Option<&'a crate::checks::Expect>,
    pub custom: Option<CustomCheck<'a>>,
    /// A gRPC call: its outcome is the grpc-status of a 200 answer.
    pub grpc: bool,
}

/// A request source's check (`source::RequestSource::check`), bound to its
/// connection's session.
pub struct CustomCheck<'a> {
    pub name: &'a str,
    /// Body bytes to keep for it.
    pub keep: usize,
    pub check: &'a mut (dyn FnMut(&super::source::Response<'_>) -> Result<(), String> + Send),
}

impl<'a> Judge<'a> {
    pub fn expect(expect: Option<&'a crate::checks::Expect>) -> Self {
        Judge {
            expect,
            custom: None,
            grpc: false,
        }
    }

    /// The request source's check on a whole response (its session may
    /// learn from it); the profile's verdict, if any, stays first.
    pub fn custom_verdict(
        &mut self,
        status: u16,
        headers: &http::HeaderMap,
        kept: &[u8],
        len: usize,
        failed: &mut Option<String>,
    ) {
        if let Some(c) = self.custom.as_mut() {
            let response = super::source::Response {
                name: c.name,
                status,
                headers,
                body: &kept[..kept.len().min(c.keep)],
                body_len: len,
            };
            if let Err(why) = (c.check)(&response) {
                failed.get_or_insert(why);
            }
        }
    }
}

/// Reads a response body to its end, keeping of it only what a body check
/// needs (nothing without one); judges the checks.
pub async fn drain(resp: Response<Incoming>, judge: &mut Judge<'_>) -> Result<Checked, Failure> {
    let (head, mut body) = resp.into_parts();
    let status = head.status.as_u16();
    let expect = judge.expect;
    let mut failed = expect.and_then(|e| e.head(status, &head.headers));
    let keep = expect
        .and_then(|e| e.keep())
        .unwrap_or(0)
        .max(judge.custom.as_ref().map_or(0, |c| c.keep));
    let mut kept = Vec::new();
    let mut len = 0usize;
    let mut trailers = None;
    let mut deframer = judge
        .grpc
        .then(|| rampdeck_base::grpc::Deframer::new(head.headers.contains_key("grpc-encoding")));
    let mut framing: Result<(), String> = Ok(());
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| classify(&e, true))?;
        match frame.into_data() {
            Ok(data) => {
                len += data.len();
                if let (Some(d), Ok(())) = (deframer.as_mut(), &framing) {
                    framing = d.feed(&data);
                }
                if kept.len() < keep {
                    let room = keep - kept.len();
                    kept.extend_from_slice(&data[..data.len().min(room)]);
                }
            }
            Err(frame) => {
                if judge.grpc {
                    trailers = frame.into_trailers().ok();
                }
            }
        }
    }
    // A gRPC call that got a 200 is judged by its grpc-status; any other
    // HTTP status (a proxy's 503, say) is the outcome itself.
    let mut grpc = None;
    if judge.grpc && status == 200 {
        let protocol =
            |why: String| Failure::new(ErrorKind::Protocol, format!("gRPC response: {why}"));
        framing.map_err(protocol)?;
        let messages = deframer
            .as_ref()
            .map_or(Ok(0), |d| d.finish())
            .map_err(protocol)?;
        grpc = super::grpc::status(&head.headers, trailers.as_ref())
            .map_err(|why| Failure::new(ErrorKind::Protocol, why))?;
        // A unary call that ends OK carries exactly its one reply.
        if grpc.is_none() && messages != 1 {
            return Err(protocol(format!(
                "status OK with {messages} messages; a unary reply has exactly one"
            )));
        }
    }
    if failed.is_none() {
        if let Some(e) = expect.filter(|e| e.needs_body()) {
            failed = e.body(len, &kept);
        }
    }
    judge.custom_verdict(status, &head.headers, &kept, len, &mut failed);
    Ok(Checked {
        status,
        failed,
        grpc,
    })
}

type DriverFuture = std::pin::Pin<Box<http1::Connection<TokioIo<Stream>, Body>>>;

/// An HTTP/1.1 connection owned by one worker. Its hyper connection future
/// is driven inside the worker's own task rather than spawned: a request
/// then costs no cross-task wake-ups, which is most of hyper's overhead.
pub struct H1 {
    sender: http1::SendRequest<Body>,
    conn: DriverFuture,
    conn_done: bool,
    /// Informational (1xx) heads seen for the request in flight.
    informational: Arc<AtomicU32>,
}

/// How an exchange failed: before anything was written (the connection had
/// gone stale while idle, so the request can go again on a new one), or after.
pub enum ExchangeError {
    NotSent(Failure),
    /// Written, then the server closed (FIN) or reset (RST: it closed with
    /// our request unread) the connection before any answer:
    /// on a reused keep-alive connection this is the idle-close race, and
    /// an idempotent request may go again (RFC 9110 9.2.2; Go's net/http,
    /// which k6 uses, retries exactly this case).
    ClosedBeforeResponse(Failure),
    Failed(Failure),
}

impl H1 {
    pub fn is_closed(&self) -> bool {
        self.conn_done || self.sender.is_closed()
    }

    pub async fn exchange(
        &mut self,
        mut req: Request<Body>,
        judge: &mut Judge<'_>,
    ) -> Result<Checked, ExchangeError> {
        let H1 {
            sender,
            conn,
            conn_done,
            informational,
        } = self;
        informational.store(0, Ordering::Relaxed);
        let seen = informational.clone();
        hyper::ext::on_informational(&mut req, move |_| {
            seen.fetch_add(1, Ordering::Relaxed);
        });
        let exchange = async {
            // A keep-alive connection the server has since closed fails here,
            // before anything is sent.
            sender
                .ready()
                .await
                .map_err(|e| ExchangeError::NotSent(classify(&e, false)))?;
            let resp = sender.send_request(req).await.map_err(|e| {
                // Closed or reset before any response head: no answer bytes
                // were read (a parse error would mean some were).
                let f = classify(&e, false);
                if f.kind == ErrorKind::Reset {
                    ExchangeError::ClosedBeforeResponse(f)
                } else {
                    ExchangeError::Failed(f)
                }
            })?;
            drain(resp, judge).await.map_err(ExchangeError::Failed)
        };
        tokio::pin!(exchange);
        loop {
            tokio::select! {
                biased;
                // The connection first: it moves the bytes the exchange waits for.
                done = conn.as_mut(), if !*conn_done => {
                    *conn_done = true;
                    // A connection that ended cleanly had no request in flight
                    // (one in flight ends it with an error, which the exchange
                    // gets). It was closed by the server while idle, e.g. on a
                    // gateway's config reload: the request is still queued in
                    // a dispatcher that will never run, so it was not sent.
                    // Whatever the exchange already has is delivered first.
                    if done.is_ok() {
                        return futures_util::FutureExt::now_or_never(exchange.as_mut())
                            .unwrap_or_else(|| {
                                Err(ExchangeError::NotSent(Failure::new(
                                    ErrorKind::Reset,
                                    "the server closed the idle keep-alive connection",
                                )))
                            });
                    }
                }
                r = &mut exchange => return r,
            }
        }
    }
}

/// How an HTTP/2 exchange failed: on a stream the server says it never
/// processed (safe to send again), or otherwise.
pub enum H2Failure {
    Unprocessed(Failure),
    Failed(Failure),
}

pub async fn send_h2(
    sender: &mut http2::SendRequest<Body>,
    req: Request<Body>,
    judge: &mut Judge<'_>,
) -> Result<Checked, H2Failure> {
    let head = |e: hyper::Error| {
        let f = classify(&e, false);
        if unprocessed(&e) {
            H2Failure::Unprocessed(f)
        } else {
            H2Failure::Failed(f)
        }
    };
    sender.ready().await.map_err(head)?;
    let resp = sender.send_request(req).await.map_err(head)?;
    drain(resp, judge).await.map_err(H2Failure::Failed)
}

/// A stream the server refused or cut off with a graceful GOAWAY: by the
/// protocol it was not processed (RFC 9113 6.8, 8.7). Also a request
/// hyper had queued when the connection closed: it never left.
fn unprocessed(e: &hyper::Error) -> bool {
    // Canceled: still queued when the connection ended. Closed: the
    // connection's dispatch channel was gone, so it was never handed over.
    if e.is_canceled() || e.is_closed() {
        return true;
    }
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(h2e) = err.downcast_ref::<h2::Error>() {
            return match h2e.reason() {
                Some(h2::Reason::REFUSED_STREAM) => true,
                Some(h2::Reason::NO_ERROR) => h2e.is_go_away() && h2e.is_remote(),
                _ => false,
            };
        }
        cur = err.source();
    }
    false
}

/// HTTP/2 connections shared by workers: each carries up to `STREAMS_PER_CONN`
/// workers' requests. A worker clones its slot's sender once and only comes
/// back here when that connection fails.
pub struct H2Pool {
    slots: Vec<tokio::sync::Mutex<(u64, Option<http2::SendRequest<Body>>)>>,
}

pub const STREAMS_PER_CONN: usize = 100;

impl H2Pool {
    pub fn new(workers: usize) -> Self {
        let n = workers.div_ceil(STREAMS_PER_CONN).max(1);
        H2Pool {
            slots: (0..n).map(|_| tokio::sync::Mutex::new((0, None))).collect(),
        }
    }

    /// A sender for `worker`'s slot; `failed_gen` is the generation the worker
    /// saw fail (so only one of the workers sharing it reconnects).
    pub async fn get(
        &self,
        connector: &Connector,
        worker: usize,
        failed_gen: Option<u64>,
    ) -> Result<(u64, http2::SendRequest<Body>), Failure> {
        let mut slot = self.slots[worker % self.slots.len()].lock().await;
        let stale = match (&slot.1, failed_gen) {
            (None, _) => true,
            (Some(s), _) if s.is_closed() => true,
            (Some(_), Some(g)) => g == slot.0,
            (Some(_), None) => false,
        };
        if stale {
            let s = connector.connect_h2().await?;
            slot.0 += 1;
            slot.1 = Some(s);
        }
        match &slot.1 {
            Some(s) => Ok((slot.0, s.clone())),
            None => Err(Failure::new(ErrorKind::Connect, "no HTTP/2 connection")),
        }
    }
}
