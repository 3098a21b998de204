//! The sink: an HTTP receiver for what the system under test delivers, answering as `[delivery.respond]` says and telling the tracker what arrived.

use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use super::{DeliveryError, IdFrom, Tracker};

/// The most of a delivery's body the sink reads (to find a JSON pointer's id).
pub const MAX_BODY: usize = 1024 * 1024;

/// A listening sink.
pub struct Sink {
    cancel: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl Sink {
    /// Binds `listen` now (so `{{delivery.url}}` is known before any load).
    pub async fn bind(
        listen: std::net::SocketAddr,
    ) -> Result<(TcpListener, std::net::SocketAddr), DeliveryError> {
        let l = TcpListener::bind(listen)
            .await
            .map_err(|source| DeliveryError::Bind {
                addr: listen,
                source,
            })?;
        let addr = l.local_addr().map_err(|source| DeliveryError::Bind {
            addr: listen,
            source,
        })?;
        Ok((l, addr))
    }

    /// Serves deliveries into `tracker` until stopped.
    pub fn serve(listener: TcpListener, tracker: Arc<Tracker>) -> Sink {
        let cancel = CancellationToken::new();
        let task = tokio::spawn(accept(listener, tracker, cancel.clone()));
        Sink { cancel, task }
    }

    /// Stops accepting and closes the connections.
    pub async fn stop(self) {
        self.cancel.cancel();
        let _ = self.task.await;
    }
}

async fn accept(listener: TcpListener, tracker: Arc<Tracker>, cancel: CancellationToken) {
    let draws = Arc::new(AtomicU64::new(0));
    crate::util::serve::serve(
        listener,
        cancel,
        crate::util::serve::Limits::SINK,
        move |req| handle(req, tracker.clone(), draws.clone()),
    )
    .await
}

async fn handle(
    req: Request<Incoming>,
    tracker: Arc<Tracker>,
    draws: Arc<AtomicU64>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let header_id = match &tracker.config.id_from {
        IdFrom::Header(name) => Some(
            req.headers()
                .get(name)
                .map(|v| Bytes::copy_from_slice(v.as_bytes())),
        ),
        IdFrom::Pointer(_) => None,
    };
    let body = Limited::new(req.into_body(), MAX_BODY)
        .collect()
        .await
        .map(|c| c.to_bytes());
    let at = Instant::now();
    let id = match (&tracker.config.id_from, header_id) {
        (_, Some(h)) => h,
        (IdFrom::Pointer(p), None) => body.as_ref().ok().and_then(|b| id_at(b, p)),
        (IdFrom::Header(_), None) => None,
    };
    let Some(id) = id else {
        // No id to account it by: it is an arrival nobody published.
        tracker.arrive(b"", false, at);
        return Ok(answer(StatusCode::BAD_REQUEST, "no event id\n"));
    };
    let respond = tracker.config.respond;
    let n = draws.fetch_add(1, Ordering::Relaxed);
    let draw = (rampdeck_base::rng::splitmix64(n ^ 0xde11) >> 11) as f64 / (1u64 << 53) as f64;
    let fail = respond.failure_rate > 0.0 && draw < respond.failure_rate;
    let status = if fail {
        respond.failure_status
    } else {
        respond.status
    };
    tracker.arrive(&id, (200..300).contains(&status), at);
    if !respond.latency.is_zero() {
        tokio::time::sleep(respond.latency).await;
    }
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    Ok(answer(code, if fail { "refused\n" } else { "ok\n" }))
}

fn answer(code: StatusCode, text: &'static str) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from_static(text.as_bytes())));
    *r.status_mut() = code;
    r
}

/// The id at a JSON pointer: a string as it is, a number as written.
pub fn id_at(body: &[u8], pointer: &str) -> Option<Bytes> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    match v.pointer(pointer)? {
        serde_json::Value::String(s) => Some(Bytes::from(s.clone())),
        serde_json::Value::Number(n) => Some(Bytes::from(n.to_string())),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_found_by_pointer() {
        let b = br#"{"data": {"id": "e-1", "n": 7}}"#;
        assert_eq!(id_at(b, "/data/id").as_deref(), Some(&b"e-1"[..]));
        assert_eq!(id_at(b, "/data/n").as_deref(), Some(&b"7"[..]));
        assert_eq!(id_at(b, "/nope"), None);
        assert_eq!(id_at(b"not json", "/data/id"), None);
    }
}
