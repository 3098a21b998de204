//! Watch streams: newline-delimited `{"type": ..., "object": ...}` events from a
//! resourceVersion (or synthetic ADDED events for the current objects), filtered by namespace
//! and selectors, with bookmarks, `timeoutSeconds`, and a 410 Expired ERROR event when the
//! requested history was compacted, as kube-apiserver streams them.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use hyper::body::Frame;
use serde_json::{json, Value};
use tokio::sync::{broadcast, mpsc};
use tokio_util::sync::CancellationToken;

use super::query::Filter;
use super::resource::Kind;
use super::store::{set_meta, Event, EventType, Since, Store};
use super::table;

/// How often an idle watch with bookmarks gets one; the API server sends them about every minute.
const BOOKMARK_EVERY: Duration = Duration::from_secs(30);
/// Watches without `timeoutSeconds` end after this, as the API server's default does.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// A streamed response body fed by a channel.
pub struct ChannelBody {
    rx: mpsc::Receiver<Bytes>,
}

impl hyper::body::Body for ChannelBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.rx
            .poll_recv(cx)
            .map(|line| line.map(|b| Ok(Frame::data(b))))
    }
}

pub struct WatchRequest {
    pub kind: Kind,
    pub filter: Filter,
    pub since: Since,
    pub timeout: Duration,
    pub bookmarks: bool,
    /// `sendInitialEvents=true`: mark the end of the synthetic ADDED events with a bookmark.
    pub initial_events_end: bool,
    /// Events carry kubectl Tables instead of objects.
    pub as_table: bool,
}

/// Starts the watch and returns its body; the stream ends at the timeout, on cancel, when
/// the client goes away, or when it falls too far behind (it then resumes from its last rv).
pub fn start(store: &Store, req: WatchRequest, cancel: CancellationToken) -> ChannelBody {
    let (tx, rx) = mpsc::channel(64);
    let kind = req.kind;
    let ns = req.filter.namespace.clone();
    let begun = store.watch(req.since, |k| {
        k.kind == kind && ns.as_deref().is_none_or(|n| k.namespace == n)
    });
    match begun {
        Err(e) => {
            let line = encode("ERROR", &e.status());
            // The channel is fresh and has room for one line.
            let _ = tx.try_send(line);
        }
        Ok(begun) => {
            tokio::spawn(run(req, begun.initial, begun.live, begun.rv, tx, cancel));
        }
    }
    ChannelBody { rx }
}

fn encode(kind: &str, object: &Value) -> Bytes {
    let mut line = serde_json::to_vec(&json!({"type": kind, "object": object}))
        .unwrap_or_else(|_| b"{}".to_vec());
    line.push(b'\n');
    Bytes::from(line)
}

fn bookmark(kind: Kind, rv: u64, initial_events_end: bool) -> Bytes {
    let mut object = json!({
        "kind": kind.kind(),
        "apiVersion": kind.api_version(),
        "metadata": {"resourceVersion": rv.to_string()},
    });
    if initial_events_end {
        object["metadata"]["annotations"] = json!({"k8s.io/initial-events-end": "true"});
    }
    encode("BOOKMARK", &object)
}

/// The event this watcher sees for `e`, if any: a change that moves an object into or out
/// of the selection is an ADDED or DELETED for this watcher.
fn view(filter: &Filter, e: &Event) -> Option<(EventType, Arc<Value>)> {
    let object = e.object();
    let old = e.old();
    let now = filter.matches(&object);
    let before = old.as_ref().map(|o| filter.matches(o));
    match (e.kind, before, now) {
        (EventType::Added | EventType::Deleted, _, true) => Some((e.kind, object)),
        (EventType::Modified, Some(true), true) => Some((EventType::Modified, object)),
        (EventType::Modified, Some(false) | None, true) => Some((EventType::Added, object)),
        (EventType::Modified, Some(true), false) => {
            let mut last = old.as_deref().cloned().unwrap_or(Value::Null);
            set_meta(&mut last, "resourceVersion", json!(e.rv.to_string()));
            Some((EventType::Deleted, Arc::new(last)))
        }
        _ => None,
    }
}

fn render(req: &WatchRequest, t: EventType, obj: &Value, rv: u64) -> Bytes {
    if req.as_table {
        encode(t.as_str(), &table::table(req.kind, &[obj], rv, true))
    } else {
        encode(t.as_str(), obj)
    }
}

async fn run(
    req: WatchRequest,
    initial: Vec<Arc<Event>>,
    mut live: broadcast::Receiver<Arc<Event>>,
    mut rv: u64,
    tx: mpsc::Sender<Bytes>,
    cancel: CancellationToken,
) {
    for e in &initial {
        if let Some((t, obj)) = view(&req.filter, e) {
            if tx.send(render(&req, t, &obj, e.rv)).await.is_err() {
                return;
            }
        }
    }
    if let Some(last) = initial.last() {
        rv = rv.max(last.rv);
    }
    if req.initial_events_end
        && req.bookmarks
        && tx.send(bookmark(req.kind, rv, true)).await.is_err()
    {
        return;
    }
    let deadline = tokio::time::Instant::now() + req.timeout;
    let mut ticks =
        tokio::time::interval_at(tokio::time::Instant::now() + BOOKMARK_EVERY, BOOKMARK_EVERY);
    loop {
        let line = tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tx.closed() => return,
            _ = tokio::time::sleep_until(deadline) => return,
            _ = ticks.tick(), if req.bookmarks => Some(bookmark(req.kind, rv, false)),
            got = live.recv() => match got {
                Ok(e) => {
                    rv = e.rv;
                    if e.key.kind != req.kind {
                        None
                    } else {
                        view(&req.filter, &e).map(|(t, obj)| render(&req, t, &obj, e.rv))
                    }
                }
                // Too slow or shutting down: end the stream; clients resume from their last rv.
                Err(_) => return,
            },
        };
        if let Some(line) = line {
            if tx.send(line).await.is_err() {
                return;
            }
        }
    }
}

/// A followed pod log (`kubectl logs -f`): `first`, then what the container writes after the
/// first `from` bytes, until it stops for good, the client goes, or the demo stops.
pub fn follow_log(
    first: Vec<u8>,
    from: u64,
    runtime: Arc<super::kubelet::Runtime>,
    cancel: CancellationToken,
) -> super::http::Body {
    let (tx, rx) = mpsc::channel(16);
    tokio::spawn(async move {
        if !first.is_empty() && tx.send(Bytes::from(first)).await.is_err() {
            return;
        }
        let mut state = runtime.log.subscribe();
        let mut sent = from;
        loop {
            let (total, finished) = *state.borrow_and_update();
            if total > sent {
                let (more, upto) = runtime.log.since(sent);
                sent = upto;
                if !more.is_empty() && tx.send(Bytes::from(more)).await.is_err() {
                    return;
                }
                continue;
            }
            if finished {
                return;
            }
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = tx.closed() => return,
                changed = state.changed() => if changed.is_err() { return },
            }
        }
    });
    http_body_util::combinators::BoxBody::new(ChannelBody { rx })
}
