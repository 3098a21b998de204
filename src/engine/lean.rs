//! The lean HTTP/1.1 path: a plain-text keep-alive connection that writes each request's bytes in one write and reads the answer with httparse.
//!
//! hyper stays the client for TLS, HTTP/2 and gRPC. On plain HTTP/1.1 its
//! per-request cost (a request channel between the sender and the
//! connection task, a header map per request and per response, its
//! dispatcher) is most of rampdeck's user-space time, so here a fixed
//! request is serialized once when the run starts, as wrk does, and a
//! response head is parsed in place; a header map is built only when a
//! check reads headers. What it must do the same as the hyper path (the
//! differential tests in tests/lean.rs hold the two to it):
//!
//! - the idle-close race: a reused connection the server closed while idle
//!   is noticed before writing (`NotSent`); one closed or reset after the
//!   write with no answer byte is `ClosedBeforeResponse`;
//! - framing by Content-Length, chunked (trailers read and ignored), or the
//!   connection's close; no body for HEAD, 204 and 304;
//! - 1xx heads skipped, more than `MAX_INFORMATIONAL` of them a protocol
//!   error; heads past `MAX_RESPONSE_HEADERS` / `MAX_RESPONSE_HEAD_BYTES` a
//!   protocol error;
//! - failures classified as hyper's are: reset before the head, protocol
//!   for a head that does not parse, body for anything wrong after it.

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::conn::{
    Checked, ExchangeError, Failure, Judge, MAX_RESPONSE_HEADERS, MAX_RESPONSE_HEAD_BYTES,
};
use super::stream::{Stream, MAX_INFORMATIONAL};
use crate::stats::ErrorKind;

/// Reads go this much at a time (a typical response head and body at once).
const READ_CHUNK: usize = 16 * 1024;
/// Headers parsed without the big array first (most answers have fewer).
const FEW_HEADERS: usize = 32;

pub struct Lean {
    stream: Stream,
    buf: BytesMut,
    /// The last response left the connection usable (keep-alive, framed).
    reusable: bool,
    /// It carried at least one exchange (a stale close is then the race).
    used: bool,
}

/// What a response head says about the body that follows.
enum Framing {
    None,
    Length(u64),
    Chunked,
    /// Until the server closes the connection.
    Close,
}

struct Head {
    status: u16,
    framing: Framing,
    keep_alive: bool,
    headers: Option<http::HeaderMap>,
}

fn reset(message: impl Into<String>) -> Failure {
    Failure::new(ErrorKind::Reset, message)
}

fn protocol(message: impl Into<String>) -> Failure {
    Failure::new(ErrorKind::Protocol, message)
}

fn body(message: impl Into<String>) -> Failure {
    Failure::new(ErrorKind::Body, message)
}

/// `encode` of a built request (its body is a `Full`, ready at once).
pub fn encode_request(req: http::Request<super::conn::Body>) -> Vec<u8> {
    use http_body_util::BodyExt;
    let (parts, b) = req.into_parts();
    let bytes = futures_util::FutureExt::now_or_never(b.collect())
        .and_then(Result::ok)
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    let req = http::Request::from_parts(parts, super::conn::Body::new(bytes.clone()));
    encode(&req, &bytes)
}

/// The request's bytes: request line, headers (Content-Length added for a
/// body, as hyper adds it), body.
pub fn encode(req: &http::Request<super::conn::Body>, body_bytes: &[u8]) -> Vec<u8> {
    let pq = req.uri().path_and_query().map_or("/", |p| p.as_str());
    let mut out = Vec::with_capacity(64 + pq.len() + body_bytes.len() + req.headers().len() * 32);
    out.extend_from_slice(req.method().as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(pq.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\n");
    for (name, value) in req.headers() {
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    let framed = req.headers().contains_key(http::header::CONTENT_LENGTH)
        || req.headers().contains_key(http::header::TRANSFER_ENCODING);
    let wants_length = !body_bytes.is_empty()
        || matches!(
            *req.method(),
            http::Method::POST | http::Method::PUT | http::Method::PATCH
        );
    if !framed && wants_length {
        out.extend_from_slice(b"content-length: ");
        out.extend_from_slice(itoa::Buffer::new().format(body_bytes.len()).as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body_bytes);
    out
}

impl Lean {
    pub fn new(stream: Stream) -> Self {
        Lean {
            stream,
            buf: BytesMut::with_capacity(READ_CHUNK),
            reusable: true,
            used: false,
        }
    }

    pub fn is_closed(&self) -> bool {
        !self.reusable
    }

    /// Whether the server closed (or wrote to) the connection while it was
    /// idle: looked at without waiting, before anything is written.
    fn stale(&mut self) -> Option<Failure> {
        if !self.buf.is_empty() {
            return Some(reset(
                "the server sent bytes on the idle keep-alive connection",
            ));
        }
        let mut probe = [0u8; 1];
        match futures_util::FutureExt::now_or_never(self.stream.read(&mut probe)) {
            None => None,
            Some(Ok(0)) => Some(reset("the server closed the idle keep-alive connection")),
            Some(Ok(_)) => Some(reset(
                "the server sent bytes on the idle keep-alive connection",
            )),
            Some(Err(e)) => Some(reset(format!("the idle keep-alive connection failed: {e}"))),
        }
    }

    /// Reads more into the buffer; Ok(0) at the end of the stream.
    async fn fill(&mut self) -> std::io::Result<usize> {
        if self.buf.capacity() - self.buf.len() < READ_CHUNK / 4 {
            self.buf.reserve(READ_CHUNK);
        }
        self.stream.read_buf(&mut self.buf).await
    }

    /// One request and its response. `head_only`: the request was HEAD.
    pub async fn exchange(
        &mut self,
        wire: &[u8],
        head_only: bool,
        judge: &mut Judge<'_>,
    ) -> Result<Checked, ExchangeError> {
        if self.used {
            if let Some(f) = self.stale() {
                self.reusable = false;
                return Err(ExchangeError::NotSent(f));
            }
        }
        self.used = true;
        if let Err(e) = self.write(wire).await {
            self.reusable = false;
            return Err(ExchangeError::ClosedBeforeResponse(reset(format!(
                "writing the request: {e}"
            ))));
        }
        let wants_headers =
            judge.expect.is_some_and(|e| !e.headers.is_empty()) || judge.custom.is_some();
        let head = match self.head(wants_headers).await {
            Ok(h) => h,
            Err(e) => {
                self.reusable = false;
                return Err(e);
            }
        };
        let framing = if head_only || head.status == 204 || head.status == 304 {
            Framing::None
        } else {
            head.framing
        };
        let expect = judge.expect;
        let empty = http::HeaderMap::new();
        let headers = head.headers.as_ref().unwrap_or(&empty);
        let mut failed = expect.and_then(|e| e.head(head.status, headers));
        let keep = expect
            .and_then(|e| e.keep())
            .unwrap_or(0)
            .max(judge.custom.as_ref().map_or(0, |c| c.keep));
        let mut kept = Vec::new();
        let close_delimited = matches!(framing, Framing::Close);
        let len = match self.body(framing, keep, &mut kept).await {
            Ok(n) => n,
            Err(f) => {
                self.reusable = false;
                return Err(ExchangeError::Failed(f));
            }
        };
        self.reusable = head.keep_alive && !close_delimited;
        if failed.is_none() {
            if let Some(e) = expect.filter(|e| e.needs_body()) {
                failed = e.body(len, &kept);
            }
        }
        judge.custom_verdict(head.status, headers, &kept, len, &mut failed);
        Ok(Checked {
            status: head.status,
            failed,
            grpc: None,
        })
    }

    async fn write(&mut self, wire: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(wire).await?;
        self.stream.flush().await
    }

    /// Reads to the end of the final (non-1xx) response head.
    async fn head(&mut self, wants_headers: bool) -> Result<Head, ExchangeError> {
        let mut informational = 0u32;
        let mut answered = false;
        loop {
            if !self.buf.is_empty() {
                answered = true;
                match parse_head(&self.buf, wants_headers) {
                    Ok(Some((n, head))) => {
                        self.buf.advance(n);
                        if (100..200).contains(&head.status) {
                            if head.status == 101 {
                                return Err(ExchangeError::Failed(protocol(
                                    "the server switched protocols (101), which rampdeck does not ask for",
                                )));
                            }
                            informational += 1;
                            if informational > MAX_INFORMATIONAL {
                                return Err(ExchangeError::Failed(protocol(
                                    super::stream::InformationalFlood.to_string(),
                                )));
                            }
                            continue;
                        }
                        return Ok(head);
                    }
                    Ok(None) => {
                        if self.buf.len() > MAX_RESPONSE_HEAD_BYTES {
                            return Err(ExchangeError::Failed(too_large()));
                        }
                    }
                    Err(f) => return Err(ExchangeError::Failed(f)),
                }
            }
            match self.fill().await {
                Ok(0) if !answered => {
                    return Err(ExchangeError::ClosedBeforeResponse(reset(
                        "connection closed before message completed",
                    )))
                }
                Ok(0) => {
                    return Err(ExchangeError::Failed(reset(
                        "connection closed before the response head was complete",
                    )))
                }
                Ok(_) => {}
                Err(e) if !answered => {
                    return Err(ExchangeError::ClosedBeforeResponse(reset(format!(
                        "connection error: {e}"
                    ))))
                }
                Err(e) => {
                    return Err(ExchangeError::Failed(reset(format!(
                        "connection error in the response head: {e}"
                    ))))
                }
            }
        }
    }

    /// Reads the body as framed; returns its length, keeping up to `keep` bytes.
    async fn body(
        &mut self,
        framing: Framing,
        keep: usize,
        kept: &mut Vec<u8>,
    ) -> Result<usize, Failure> {
        let mut take = |data: &[u8], kept: &mut Vec<u8>| {
            if kept.len() < keep {
                let room = keep - kept.len();
                kept.extend_from_slice(&data[..data.len().min(room)]);
            }
        };
        match framing {
            Framing::None => Ok(0),
            Framing::Length(total) => {
                let mut left = total;
                loop {
                    let n = (self.buf.len() as u64).min(left) as usize;
                    take(&self.buf[..n], kept);
                    self.buf.advance(n);
                    left -= n as u64;
                    if left == 0 {
                        return Ok(total as usize);
                    }
                    match self.fill().await {
                        Ok(0) => {
                            return Err(body(format!(
                                "the connection closed {left} bytes before the end of the body (content-length {total})"
                            )))
                        }
                        Ok(_) => {}
                        Err(e) => return Err(body(format!("reading the body: {e}"))),
                    }
                }
            }
            Framing::Close => {
                let mut len = 0;
                loop {
                    len += self.buf.len();
                    take(&self.buf, kept);
                    self.buf.clear();
                    match self.fill().await {
                        Ok(0) => return Ok(len),
                        Ok(_) => {}
                        Err(e) => return Err(body(format!("reading the body: {e}"))),
                    }
                }
            }
            Framing::Chunked => self.chunked(&mut take, kept).await,
        }
    }

    async fn chunked(
        &mut self,
        take: &mut impl FnMut(&[u8], &mut Vec<u8>),
        kept: &mut Vec<u8>,
    ) -> Result<usize, Failure> {
        let mut len = 0usize;
        loop {
            // The chunk size line.
            let size = loop {
                match httparse::parse_chunk_size(&self.buf) {
                    Ok(httparse::Status::Complete((n, size))) => {
                        self.buf.advance(n);
                        break size;
                    }
                    Ok(httparse::Status::Partial) => {
                        if self.buf.len() > 4096 {
                            return Err(body("a chunk size line longer than 4 KiB"));
                        }
                        self.more("a chunk size").await?;
                    }
                    Err(_) => return Err(body("invalid chunk size line in the body")),
                }
            };
            if size == 0 {
                // Trailers (ignored) up to the empty line.
                loop {
                    if let Some(i) = find_crlf(&self.buf) {
                        let line_empty = i == 0;
                        self.buf.advance(i + 2);
                        if line_empty {
                            return Ok(len);
                        }
                        continue;
                    }
                    if self.buf.len() > MAX_RESPONSE_HEAD_BYTES {
                        return Err(body("trailers larger than rampdeck reads"));
                    }
                    self.more("the trailers").await?;
                }
            }
            let mut left = size;
            while left > 0 {
                if self.buf.is_empty() {
                    self.more("a chunk").await?;
                }
                let n = (self.buf.len() as u64).min(left) as usize;
                take(&self.buf[..n], kept);
                self.buf.advance(n);
                left -= n as u64;
                len += n;
            }
            while self.buf.len() < 2 {
                self.more("a chunk's end").await?;
            }
            if &self.buf[..2] != b"\r\n" {
                return Err(body("a chunk not followed by CRLF"));
            }
            self.buf.advance(2);
        }
    }

    async fn more(&mut self, what: &str) -> Result<(), Failure> {
        match self.fill().await {
            Ok(0) => Err(body(format!(
                "the connection closed in {what} of a chunked body"
            ))),
            Ok(_) => Ok(()),
            Err(e) => Err(body(format!("reading {what} of a chunked body: {e}"))),
        }
    }
}

fn find_crlf(b: &[u8]) -> Option<usize> {
    b.windows(2).position(|w| w == b"\r\n")
}

fn too_large() -> Failure {
    protocol(format!(
        "the response head is larger than rampdeck reads ({MAX_RESPONSE_HEADERS} headers, {} KiB)",
        MAX_RESPONSE_HEAD_BYTES / 1024
    ))
}

/// A complete head in `buf`: its length and what it says; None if more is needed.
fn parse_head(buf: &[u8], wants_headers: bool) -> Result<Option<(usize, Head)>, Failure> {
    let mut few = [httparse::EMPTY_HEADER; FEW_HEADERS];
    let mut r = httparse::Response::new(&mut few);
    match r.parse(buf) {
        Ok(httparse::Status::Complete(n)) => head_of(&r, wants_headers).map(|h| Some((n, h))),
        Ok(httparse::Status::Partial) => Ok(None),
        Err(httparse::Error::TooManyHeaders) => {
            let mut many = vec![httparse::EMPTY_HEADER; MAX_RESPONSE_HEADERS];
            let mut r = httparse::Response::new(&mut many);
            match r.parse(buf) {
                Ok(httparse::Status::Complete(n)) => {
                    head_of(&r, wants_headers).map(|h| Some((n, h)))
                }
                Ok(httparse::Status::Partial) => Ok(None),
                Err(httparse::Error::TooManyHeaders) => Err(too_large()),
                Err(e) => Err(protocol(format!("invalid HTTP response head: {e}"))),
            }
        }
        Err(e) => Err(protocol(format!("invalid HTTP response head: {e}"))),
    }
}

fn head_of(r: &httparse::Response<'_, '_>, wants_headers: bool) -> Result<Head, Failure> {
    let status = r.code.unwrap_or(0);
    let http10 = r.version == Some(0);
    let mut length: Option<u64> = None;
    let mut chunked = false;
    let mut close = http10;
    let mut map = wants_headers.then(http::HeaderMap::new);
    for h in r.headers.iter() {
        let name = h.name.as_bytes();
        if name.eq_ignore_ascii_case(b"content-length") {
            let v = std::str::from_utf8(h.value)
                .ok()
                .and_then(|s| s.trim().parse::<u64>().ok())
                .ok_or_else(|| protocol("invalid content-length in the response head"))?;
            if length.is_some_and(|l| l != v) {
                return Err(protocol(
                    "conflicting content-length headers in the response",
                ));
            }
            length = Some(v);
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            // Chunked must be the last coding; anything else is read to the close.
            let last = h.value.rsplit(|b| *b == b',').next().unwrap_or(b"");
            chunked = last.trim_ascii().eq_ignore_ascii_case(b"chunked");
            if !chunked {
                close = true;
            }
        } else if name.eq_ignore_ascii_case(b"connection") {
            let v = h.value;
            if contains_token(v, b"close") {
                close = true;
            } else if http10 && contains_token(v, b"keep-alive") {
                close = false;
            }
        }
        if let Some(m) = map.as_mut() {
            if let (Ok(n), Ok(v)) = (
                http::HeaderName::from_bytes(name),
                http::HeaderValue::from_bytes(h.value),
            ) {
                m.append(n, v);
            }
        }
    }
    let framing = if chunked {
        Framing::Chunked
    } else if let Some(l) = length {
        Framing::Length(l)
    } else if (100..200).contains(&status) {
        Framing::None
    } else {
        Framing::Close
    };
    Ok(Head {
        status,
        framing,
        keep_alive: !close,
        headers: map,
    })
}

fn contains_token(v: &[u8], token: &[u8]) -> bool {
    v.split(|b| *b == b',')
        .any(|t| t.trim_ascii().eq_ignore_ascii_case(token))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_are_framed_as_rfc_9112_says() {
        let (n, h) = parse_head(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello", false)
            .unwrap()
            .unwrap();
        assert_eq!(n, 38);
        assert!(matches!(h.framing, Framing::Length(5)) && h.keep_alive);
        let (_, h) = parse_head(
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: gzip, chunked\r\n\r\n",
            false,
        )
        .unwrap()
        .unwrap();
        assert!(matches!(h.framing, Framing::Chunked));
        let (_, h) = parse_head(b"HTTP/1.0 200 OK\r\n\r\n", false)
            .unwrap()
            .unwrap();
        assert!(matches!(h.framing, Framing::Close) && !h.keep_alive);
        let (_, h) = parse_head(
            b"HTTP/1.1 503 x\r\nConnection: close\r\ncontent-length: 0\r\n\r\n",
            true,
        )
        .unwrap()
        .unwrap();
        assert!(!h.keep_alive);
        assert_eq!(h.headers.unwrap()["connection"], "close");
        assert!(parse_head(b"HTTP/1.1 200 OK\r\ncontent-le", false)
            .unwrap()
            .is_none());
        assert_eq!(
            parse_head(
                b"HTTP/1.1 200 OK\r\ncontent-length: 1\r\ncontent-length: 2\r\n\r\n",
                false
            )
            .err()
            .unwrap()
            .kind,
            ErrorKind::Protocol
        );
        assert_eq!(
            parse_head(b"garbage\r\n\r\n", false).err().unwrap().kind,
            ErrorKind::Protocol
        );
    }

    #[test]
    fn many_headers_take_the_big_array_and_too_many_fail() {
        let mut text = String::from("HTTP/1.1 200 OK\r\n");
        for i in 0..100 {
            text.push_str(&format!("x-{i}: v\r\n"));
        }
        text.push_str("content-length: 0\r\n\r\n");
        assert!(parse_head(text.as_bytes(), false).unwrap().is_some());
        let mut text = String::from("HTTP/1.1 200 OK\r\n");
        for i in 0..300 {
            text.push_str(&format!("x-{i}: v\r\n"));
        }
        text.push_str("\r\n");
        let f = parse_head(text.as_bytes(), false).err().unwrap();
        assert_eq!(f.kind, ErrorKind::Protocol);
        assert!(
            f.message.contains("larger than rampdeck reads"),
            "{}",
            f.message
        );
    }

    #[test]
    fn requests_are_encoded_with_their_length() {
        let mut req = http::Request::new(super::super::conn::Body::new(bytes::Bytes::from_static(
            b"{}",
        )));
        *req.method_mut() = http::Method::POST;
        *req.uri_mut() = "/cart?x=1".parse().unwrap();
        req.headers_mut()
            .insert(http::header::HOST, "h:1".parse().unwrap());
        assert_eq!(
            encode(&req, b"{}"),
            b"POST /cart?x=1 HTTP/1.1\r\nhost: h:1\r\ncontent-length: 2\r\n\r\n{}".to_vec()
        );
        let mut get = http::Request::new(super::super::conn::Body::new(bytes::Bytes::new()));
        *get.uri_mut() = "/".parse().unwrap();
        assert_eq!(encode(&get, b""), b"GET / HTTP/1.1\r\n\r\n".to_vec());
    }
}
