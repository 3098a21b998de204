//! The demo's gRPC echo service (`rampdeck.demo.Echo/Say`, assets/grpc/echo.proto): replies and status answers with trailers.
//!
//! The gateway routes the call and applies its route's latency and faults;
//! this module only speaks the wire: the reply is the request's message
//! followed by field 3 (`backend`), which protobuf's merge rule makes a
//! valid `EchoReply`, and every outcome is a `grpc-status` trailer.

use std::convert::Infallible;

use bytes::{Bytes, BytesMut};
use http::{HeaderMap, HeaderValue, Request, Response};
use http_body_util::{Either, Full, StreamBody};
use hyper::body::Frame;

/// The echo method's path.
pub const SAY: &str = "/rampdeck.demo.Echo/Say";

pub const INTERNAL: u32 = 13;
pub const UNIMPLEMENTED: u32 = 12;
pub const DEADLINE_EXCEEDED: u32 = 4;

/// A reply: one data frame, then the trailers.
pub type ReplyBody = StreamBody<
    futures_util::stream::Iter<std::array::IntoIter<Result<Frame<Bytes>, Infallible>, 2>>,
>;

pub fn is_grpc<B>(req: &Request<B>) -> bool {
    req.headers()
        .get(http::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/grpc"))
}

/// The gRPC code a failing route's HTTP status becomes (gRPC's own
/// HTTP-to-status mapping, as a proxy in front of a gRPC server applies it).
pub fn from_http(status: u16) -> u32 {
    match status {
        400 => INTERNAL,
        401 => 16,
        403 => 7,
        404 => UNIMPLEMENTED,
        429 | 502 | 503 | 504 => 14,
        _ => 2,
    }
}

fn head() -> Response<()> {
    let mut r = Response::new(());
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/grpc"),
    );
    r
}

fn status_headers(headers: &mut HeaderMap, code: u32, message: &str) {
    headers.insert("grpc-status", HeaderValue::from(code));
    if !message.is_empty() {
        // grpc-message is percent-encoded; these texts are plain ASCII
        // but for spaces, which a header value may carry.
        if let Ok(v) = HeaderValue::from_str(message) {
            headers.insert("grpc-message", v);
        }
    }
}

/// A trailers-only answer: the status in the response head, no body.
pub fn status_only<T>(code: u32, message: &str) -> Response<Either<Full<Bytes>, T>> {
    let (mut parts, ()) = head().into_parts();
    status_headers(&mut parts.headers, code, message);
    Response::from_parts(parts, Either::Left(Full::new(Bytes::new())))
}

/// OK: the request's message, plus `backend`, framed, then `grpc-status: 0`.
pub fn reply(message: &[u8], backend: &str) -> Response<Either<Full<Bytes>, ReplyBody>> {
    let mut reply = BytesMut::with_capacity(message.len() + backend.len() + 8);
    reply.extend_from_slice(message);
    prost::encoding::string::encode(3, &backend.to_owned(), &mut reply);
    let data = rampdeck_base::grpc::frame(&reply);
    let mut trailers = HeaderMap::new();
    status_headers(&mut trailers, 0, "");
    let frames = [Ok(Frame::data(data)), Ok(Frame::trailers(trailers))];
    let (parts, ()) = head().into_parts();
    Response::from_parts(
        parts,
        Either::Right(StreamBody::new(futures_util::stream::iter(frames))),
    )
}
