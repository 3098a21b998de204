//! The byte stream under a connection (TCP or rustls TLS), with the 1xx-flood guard that stops reads.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

pub type TlsStream = tokio_rustls::client::TlsStream<TcpStream>;

/// More 1xx heads than this for one request fail it, as Go's net/http
/// does (it allows 5).
pub const MAX_INFORMATIONAL: u32 = 5;

/// The error a guarded read returns once the limit is passed; `conn`
/// recognises it to word the failure.
#[derive(Debug)]
pub struct InformationalFlood;

impl std::fmt::Display for InformationalFlood {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the server sent more than {MAX_INFORMATIONAL} informational (1xx) responses to one request; rampdeck stops reading there, as Go's net/http does"
        )
    }
}

impl std::error::Error for InformationalFlood {}

enum Inner {
    Plain(TcpStream),
    Tls(Box<TlsStream>),
    /// The in-process test target (`engine::memory`).
    Memory(tokio::io::DuplexStream),
}

/// A connection's stream. With a guard (HTTP/1.1), reads fail once the
/// request in flight has had more than `MAX_INFORMATIONAL` 1xx heads:
/// hyper parses every head a read brings before it returns, so a server
/// that floods them would otherwise keep the task parsing, at full CPU,
/// until the timeout. Failing the next read bounds it to one buffer.
pub struct Stream {
    inner: Inner,
    informational: Option<Arc<AtomicU32>>,
}

impl Stream {
    pub fn plain(s: TcpStream) -> Self {
        Stream {
            inner: Inner::Plain(s),
            informational: None,
        }
    }

    pub fn tls(s: TlsStream) -> Self {
        Stream {
            inner: Inner::Tls(Box::new(s)),
            informational: None,
        }
    }

    pub fn memory(s: tokio::io::DuplexStream) -> Self {
        Stream {
            inner: Inner::Memory(s),
            informational: None,
        }
    }

    /// Guards reads with this request's count of 1xx heads.
    pub fn guard(&mut self, counter: Arc<AtomicU32>) {
        self.informational = Some(counter);
    }

    /// The protocol the TLS handshake agreed on (ALPN), if any.
    pub fn alpn(&self) -> Option<&[u8]> {
        match &self.inner {
            Inner::Plain(_) | Inner::Memory(_) => None,
            Inner::Tls(s) => s.get_ref().1.alpn_protocol(),
        }
    }

    pub fn is_tls(&self) -> bool {
        matches!(self.inner, Inner::Tls(_))
    }
}

/// Whether `counter` has passed the limit.
pub fn flooded(counter: &AtomicU32) -> bool {
    counter.load(Ordering::Relaxed) > MAX_INFORMATIONAL
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.informational.as_deref().is_some_and(flooded) {
            return Poll::Ready(Err(io::Error::other(InformationalFlood)));
        }
        match &mut this.inner {
            Inner::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Inner::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
            Inner::Memory(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match &mut self.get_mut().inner {
            Inner::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Inner::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
            Inner::Memory(s) => Pin::new(s).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match &mut self.get_mut().inner {
            Inner::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Inner::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
            Inner::Memory(s) => Pin::new(s).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match &self.inner {
            Inner::Plain(s) => s.is_write_vectored(),
            Inner::Tls(s) => s.is_write_vectored(),
            Inner::Memory(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().inner {
            Inner::Plain(s) => Pin::new(s).poll_flush(cx),
            Inner::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
            Inner::Memory(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().inner {
            Inner::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Inner::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
            Inner::Memory(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}
