//! Connection tasks: wait for the schedule, send, time, record. This is the hot path.
//!
//! Per request a worker does one relaxed atomic add (claiming a slot, open
//! loop), one atomic load (has the schedule changed?), one uncontended lock
//! (its thread's stats shard), and hyper's own work. No channel, no shared
//! lock, no allocation of ours beyond the request's header map.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use bytes::Bytes;
use http::{HeaderMap, Method, Request, Uri};
use hyper::client::conn::http2;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::conn::{
    send_h2, Body, Checked, Connector, CustomCheck, ExchangeError, Failure, H2Failure, H2Pool,
    Judge, H1,
};
use super::lean::Lean;
use super::schedule::{Due, Schedule};
use super::share::NoSlot;
use super::source::{Call, Context, Custom, SourceError};
use super::timer::PreciseTimer;
use crate::stats::{ErrorKind, Outcome, Recorder, Sent};
use rampdeck_base::rng::{splitmix64, WeightedPick};

/// A request ready to be cloned onto the wire.
pub struct Prepared {
    /// The profile's name for it (check failures name it).
    pub name: String,
    pub method: Method,
    pub uri: Uri,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// Its placeholders (None: the bytes above go as they are).
    pub template: Option<Arc<crate::template::RequestTemplate>>,
    /// What goes before a rendered path: the base path (and, for HTTP/2,
    /// the scheme and authority).
    pub prefix: String,
    /// Its response checks (None: any response is judged by its status).
    pub expect: Option<Arc<crate::checks::Expect>>,
    /// It carries `{{delivery.id}}`: a publish the delivery sink accounts for.
    pub publishes: bool,
    /// A gRPC call: its templated message is encoded per call, and its
    /// outcome is its grpc-status.
    pub grpc: Option<Arc<crate::spec::grpc::GrpcRequest>>,
    /// The lean HTTP/1.1 path: the request's bytes, serialized once.
    pub wire: Option<Bytes>,
}

impl Prepared {
    pub(crate) fn build(&self) -> Request<Body> {
        let mut req = Request::new(Body::new(self.body.clone()));
        *req.method_mut() = self.method.clone();
        *req.uri_mut() = self.uri.clone();
        *req.headers_mut() = self.headers.clone();
        req
    }

    /// The request for slot `seq` with its placeholders filled in; None
    /// when a `[[data]]` feeder with `on_end = "stop"` has no row for it.
    /// A publish's `[delivery] id` is rendered first and left in `event`.
    fn render(
        &self,
        t: &crate::template::RequestTemplate,
        seq: u64,
        s: &Shared,
        event: &mut String,
    ) -> Option<Result<Request<Body>, Failure>> {
        use crate::template::{encode_path_value, Context};
        let mut ctx = Context::new(s.seed, seq, s.agent);
        let mut row = |fi: usize| s.data.feeders.get(fi).and_then(|f| f.row(seq, s.seed));
        if let Some(d) = &s.delivery {
            ctx.delivery_url = Some(d.url.clone());
            if self.publishes {
                // Rendered into the caller's buffer (ctx cannot lend its own).
                let mut id = std::mem::take(event);
                id.clear();
                d.config.id.render(&mut ctx, &mut row, &mut id)?;
                ctx.delivery_id = id;
            }
        }
        let mut req = self.build();
        if let Some(p) = &t.path {
            // Rendered after the prefix into this thread's scratch buffer,
            // then copied once into a buffer of exactly its size: one
            // allocation per request, no growth, no trimming. Only a value
            // that needs percent-encoding (rare) costs a second pass.
            let uri = SCRATCH.with(|cell| {
                let mut uri = cell.take();
                uri.clear();
                uri.push_str(&self.prefix);
                let done = p.render(&mut ctx, &mut row, &mut uri).map(|()| {
                    let rendered = &uri[self.prefix.len()..];
                    if !rendered.bytes().all(crate::template::path_may_carry) {
                        let raw = rendered.to_owned();
                        uri.truncate(self.prefix.len());
                        encode_path_value(&raw, &mut uri);
                    }
                    Bytes::copy_from_slice(uri.as_bytes())
                });
                cell.replace(uri);
                done
            })?;
            match Uri::from_maybe_shared(uri) {
                Ok(u) => *req.uri_mut() = u,
                Err(e) => {
                    return Some(Err(Failure::new(
                        ErrorKind::Template,
                        format!("the path did not render as a URI path: {e}"),
                    )))
                }
            }
        }
        for (name, h) in &t.headers {
            let mut text = SCRATCH.with(|cell| cell.take());
            text.clear();
            h.render(&mut ctx, &mut row, &mut text)?;
            // The rule `HeaderValue` applies, checked before the value is
            // made, so a refusal can still show what was rendered.
            let valid = text.bytes().all(|b| b == b'\t' || (b >= 0x20 && b != 0x7f));
            let value = valid
                .then(|| {
                    http::HeaderValue::from_maybe_shared(Bytes::copy_from_slice(text.as_bytes()))
                        .ok()
                })
                .flatten();
            match value {
                Some(v) => {
                    SCRATCH.with(|cell| cell.replace(text));
                    req.headers_mut().insert(name.clone(), v);
                }
                None => {
                    return Some(Err(Failure::new(
                        ErrorKind::Template,
                        format!(
                            "header {name} rendered as '{}', which a header cannot carry",
                            text.escape_debug()
                        ),
                    )))
                }
            }
        }
        if let Some(b) = &t.body {
            let mut body = String::new();
            b.render(&mut ctx, &mut row, &mut body)?;
            let bytes = match self.grpc.as_ref().and_then(|g| g.input.as_ref()) {
                Some(input) => match crate::util::grpc::encode_json(input, &body) {
                    Ok(message) => rampdeck_base::grpc::frame(&message),
                    Err(e) => {
                        return Some(Err(Failure::new(
                            ErrorKind::Template,
                            format!("the message rendered as {body}: {e}"),
                        )))
                    }
                },
                None => Bytes::from(body),
            };
            *req.body_mut() = Body::new(bytes);
        }
        *event = ctx.delivery_id;
        Some(Ok(req))
    }
}

thread_local! {
    /// Where a templated path or header value is rendered before it is
    /// copied out at its exact size (kept per thread: no allocation for it).
    static SCRATCH: std::cell::RefCell<String> = std::cell::RefCell::new(String::with_capacity(256));
}

/// What all workers of one run share (read-only, or atomics).
pub struct Shared {
    pub connector: Connector,
    pub requests: Vec<Prepared>,
    pub pick: WeightedPick,
    pub recorder: Recorder,
    /// Open loop: the next unclaimed slot of the schedule.
    pub next_slot: AtomicU64,
    pub timeout: Duration,
    pub h2: Option<H2Pool>,
    /// Plain HTTP/1.1 goes the lean way (`lean`), not through hyper.
    pub lean: bool,
    /// Stop sending: idle workers exit, busy ones finish their request first.
    pub stop: CancellationToken,
    /// Set by the first failure no request can get past (`Failure::fatal`):
    /// the supervisor then stops the run, and it exits 1.
    pub fatal: std::sync::OnceLock<String>,
    /// Wait with tokio's timer instead of a timerfd: on paused (test) time,
    /// only tokio's timers follow the clock.
    pub tokio_timers: bool,
    /// `[[data]]` rows the templates read, and the seed they render with.
    pub data: Arc<crate::template::Feeders>,
    pub seed: u64,
    /// `{{agent}}`.
    pub agent: u32,
    /// Closed loop: the next templated request's `{{seq}}`.
    pub seq: AtomicU64,
    /// A `stop` feeder ran out of rows: the supervisor ends the run.
    pub data_end: CancellationToken,
    /// The first slot that found no row.
    pub data_end_at: AtomicU64,
    /// A Rust request source, which builds every request instead of `requests`.
    pub(crate) custom: Option<Custom>,
    /// `[delivery]`: publishes are entered here as they are sent.
    pub delivery: Option<Arc<crate::delivery::Tracker>>,
    /// `mode = "connections"`: workers hold connections instead of sending requests.
    pub connections: Option<Arc<super::connections::ConnRun>>,
}

/// How long past a gRPC call's deadline rampdeck waits for the server's
/// own DEADLINE_EXCEEDED, so the error says whose clock ended it.
const GRPC_GRACE: Duration = Duration::from_millis(50);

/// Sleeps shorter than this are not interrupted by schedule changes: a
/// change then takes effect on the next slot, well within one tick, and the
/// hot path skips registering a waker on the shared watch channel.
const UNINTERRUPTED: Duration = Duration::from_millis(2);
/// A slot due this soon is sent now; waking the timer costs more than this.
const SEND_EARLY: Duration = Duration::from_micros(20);

enum Conn {
    H1(Option<H1>),
    Lean(Option<Lean>),
    H2 {
        generation: Option<u64>,
        sender: Option<http2::SendRequest<Body>>,
    },
}

struct Worker {
    id: usize,
    shared: Arc<Shared>,
    rx: watch::Receiver<Arc<Schedule>>,
    schedule: Arc<Schedule>,
    conn: Conn,
    /// A request source's state for this connection, made before its first request.
    session: Option<Box<dyn std::any::Any + Send>>,
    /// Connect failures in a row (refused, timed out, unreachable): a
    /// closed loop waits before its next try instead of spinning through
    /// thousands of connect attempts a second against a dead port.
    connect_failures: u32,
}

/// How a request is built again for a resend.
enum Again<'a> {
    Fixed,
    Template(&'a crate::template::RequestTemplate, u64),
    Custom(&'a Custom, Call),
}

impl Worker {
    fn new(id: usize, shared: Arc<Shared>, mut rx: watch::Receiver<Arc<Schedule>>) -> Self {
        let schedule = rx.borrow_and_update().clone();
        let conn = if shared.h2.is_some() {
            Conn::H2 {
                generation: None,
                sender: None,
            }
        } else if shared.lean {
            Conn::Lean(None)
        } else {
            Conn::H1(None)
        };
        Worker {
            id,
            shared,
            rx,
            schedule,
            conn,
            session: None,
            connect_failures: 0,
        }
    }

    /// Picks up a new schedule if one was published. Returns false when the
    /// engine has gone away.
    #[inline]
    fn refresh(&mut self) -> bool {
        match self.rx.has_changed() {
            Ok(false) => true,
            Ok(true) => {
                self.schedule = self.rx.borrow_and_update().clone();
                true
            }
            Err(_) => false,
        }
    }

    /// Waits for the next schedule change and loads it; false if the run is over.
    async fn changed(&mut self) -> bool {
        let changed = tokio::select! {
            biased;
            _ = self.shared.stop.cancelled() => false,
            r = self.rx.changed() => r.is_ok(),
        };
        if changed {
            self.reload();
        }
        changed
    }

    /// `changed()` marks the value seen, so after it fires the new schedule
    /// must be loaded here: `refresh` would no longer notice it.
    fn reload(&mut self) {
        self.schedule = self.rx.borrow_and_update().clone();
    }

    /// The next open-loop slot to send and the share epoch it was claimed
    /// under: one relaxed add for a whole run, a compare-and-swap for an
    /// agent's share (`share::Share::claim`). None when the run is over.
    async fn claim(&mut self) -> Option<(u64, u16)> {
        loop {
            let Some(share) = self.schedule.share.clone() else {
                return Some((self.shared.next_slot.fetch_add(1, Ordering::Relaxed), 0));
            };
            match share.claim(&self.shared.next_slot) {
                Ok(k) => return Some((k, share.current().id)),
                // The supervisor publishes a new share before it moves the
                // counter onto it, so the newer schedule is there to load.
                Err(NoSlot::Stale) => {
                    self.reload();
                    tokio::task::yield_now().await;
                }
                Err(NoSlot::NoneOwned) => {
                    if !self.changed().await {
                        return None;
                    }
                }
            }
        }
    }

    fn released(&self, epoch: u16, k: u64) -> bool {
        self.schedule
            .share
            .as_ref()
            .is_some_and(|s| s.releases(epoch, k))
    }

    /// One exchange on the worker's connection (a free function over its
    /// fields, so the request being sent can borrow the shared state while
    /// the connection is borrowed mutably, with no reference count touched).
    async fn exchange(
        conn: &mut Conn,
        shared: &Shared,
        id: usize,
        request: usize,
        make: &(dyn Fn() -> Request<Body> + Sync),
        fixed: bool,
        judge: &mut Judge<'_>,
    ) -> Result<Checked, Failure> {
        let spec = &shared.requests[request];
        match conn {
            Conn::Lean(slot) => {
                // A fixed request's bytes were made once; a rendered one is
                // serialized here.
                let rendered;
                let wire: &[u8] = match (&spec.wire, fixed) {
                    (Some(w), true) => w,
                    _ => {
                        rendered = super::lean::encode_request(make());
                        &rendered
                    }
                };
                let head_only = spec.method == Method::HEAD;
                let mut reused = true;
                let conn = match slot {
                    Some(c) if !c.is_closed() => c,
                    _ => {
                        reused = false;
                        slot.insert(Lean::new(shared.connector.connect_io().await?))
                    }
                };
                let mut r = conn.exchange(wire, head_only, judge).await;
                if reused && goes_again(&r, &spec.method) {
                    shared.recorder.resent();
                    let conn = slot.insert(Lean::new(shared.connector.connect_io().await?));
                    r = conn.exchange(wire, head_only, judge).await;
                }
                settle(slot, r, Lean::is_closed)
            }
            Conn::H1(slot) => {
                let mut reused = true;
                let conn = match slot {
                    Some(c) if !c.is_closed() => c,
                    _ => {
                        reused = false;
                        slot.insert(shared.connector.connect_h1().await?)
                    }
                };
                let mut r = conn.exchange(make(), judge).await;
                if reused && goes_again(&r, &spec.method) {
                    shared.recorder.resent();
                    let conn = slot.insert(shared.connector.connect_h1().await?);
                    r = conn.exchange(make(), judge).await;
                }
                settle(slot, r, H1::is_closed)
            }
            Conn::H2 { generation, sender } => {
                let pool = shared
                    .h2
                    .as_ref()
                    .ok_or_else(|| Failure::new(ErrorKind::Connect, "no HTTP/2 pool"))?;
                let mut resent = false;
                loop {
                    let s = match sender {
                        Some(s) if !s.is_closed() => s,
                        _ => {
                            let (g, s) = pool.get(&shared.connector, id, *generation).await?;
                            *generation = Some(g);
                            sender.insert(s)
                        }
                    };
                    let r = send_h2(s, make(), judge).await;
                    match r {
                        Ok(status) => return Ok(status),
                        // A graceful GOAWAY (nginx at keepalive_requests) or
                        // REFUSED_STREAM: the server says it never processed
                        // this stream, so it goes again on a new connection,
                        // once, whatever its method (RFC 9113 8.7).
                        Err(H2Failure::Unprocessed(_)) if !resent => {
                            resent = true;
                            shared.recorder.resent();
                            *sender = None;
                        }
                        Err(H2Failure::Unprocessed(f) | H2Failure::Failed(f)) => {
                            *sender = None;
                            return Err(f);
                        }
                    }
                }
            }
        }
    }

    /// Sends one request under the run's timeout and records it.
    ///
    /// The timeout timer is re-armed only when it fires: it is always set no
    /// later than the current request's deadline (deadlines only move
    /// forward), so a request never waits past its own, and the common case
    /// costs no timer-wheel update per request.
    async fn send(
        &mut self,
        draw: u64,
        intended: Option<Instant>,
        mut timer: std::pin::Pin<&mut tokio::time::Sleep>,
    ) -> Instant {
        let shared: &Shared = &self.shared;
        let mut request = shared.pick.pick(draw);
        let seq = || match intended {
            Some(_) => draw,
            None => shared.seq.fetch_add(1, Ordering::Relaxed),
        };
        let data_end = |seq: u64| {
            shared.data_end_at.fetch_min(seq, Ordering::Relaxed);
            shared.data_end.cancel();
            Instant::now()
        };
        // A request is built (a source's call, a template rendered) before
        // it counts as sent; one whose data rows ran out (`on_end =
        // "stop"`) is never sent.
        let mut first = None;
        let mut failed = None;
        let mut again = Again::Fixed;
        // A publish: its delivery id, and its slot.
        let mut event = String::new();
        let mut published = None;
        if let Some(custom) = &shared.custom {
            let seq = seq();
            let session = self.session.get_or_insert_with(|| custom.source.session());
            let drawn = &shared.requests[request].name;
            let mut ctx = Context::new(shared.seed, seq, shared.agent, drawn, &shared.data);
            match custom.source.request(&mut ctx, session.as_mut()) {
                Ok(call) => match custom.resolve(&shared.requests, request, &call) {
                    Ok((i, req)) => {
                        request = i;
                        first = Some(req);
                        again = Again::Custom(custom, call);
                    }
                    Err(f) => failed = Some(f),
                },
                Err(SourceError::DataEnd) => return data_end(seq),
                Err(e) => {
                    failed = Some(Failure::new(
                        ErrorKind::Template,
                        format!("the request source: {e}"),
                    ))
                }
            }
        } else if let Some(t) = &shared.requests[request].template {
            let seq = seq();
            match shared.requests[request].render(t, seq, shared, &mut event) {
                Some(Ok(req)) => {
                    first = Some(req);
                    again = Again::Template(t, seq);
                    if shared.requests[request].publishes {
                        published = Some(seq);
                    }
                }
                Some(Err(f)) => failed = Some(f),
                None => return data_end(seq),
            }
        }
        let spec = &shared.requests[request];
        let start = Instant::now();
        // A gRPC call's server gets to answer DEADLINE_EXCEEDED itself
        // (its grpc-timeout is the run's timeout) before rampdeck gives up.
        let patience = match spec.grpc {
            Some(_) => shared.timeout + GRPC_GRACE,
            None => shared.timeout,
        };
        let deadline = super::schedule::later(start, patience);
        shared.recorder.sent();
        if let (Some(seq), Some(d)) = (published, &shared.delivery) {
            d.publish(&event, seq, start.into_std());
        }
        let first = std::sync::Mutex::new(first);
        // The first call takes the built request; a resend builds it again.
        let make = || -> Request<Body> {
            if let Some(r) = first.lock().ok().and_then(|mut g| g.take()) {
                return r;
            }
            match &again {
                Again::Template(t, seq) => match spec.render(t, *seq, shared, &mut String::new()) {
                    Some(Ok(r)) => r,
                    _ => spec.build(),
                },
                Again::Custom(custom, call) => custom.build(call).unwrap_or_else(|_| spec.build()),
                Again::Fixed => spec.build(),
            }
        };
        // A source's check runs on this connection's session.
        let mut check = match (&again, self.session.as_mut()) {
            (Again::Custom(custom, call), Some(session)) => {
                Some((call.keep(), move |r: &super::source::Response<'_>| {
                    custom.source.check(r, session.as_mut())
                }))
            }
            _ => None,
        };
        let mut judge = Judge::expect(spec.expect.as_deref());
        judge.grpc = spec.grpc.is_some();
        if let Some((keep, f)) = check.as_mut() {
            judge.custom = Some(CustomCheck {
                name: &spec.name,
                keep: *keep,
                check: f,
            });
        }
        let result = if let Some(f) = failed {
            Some(Err(f))
        } else {
            // Deadlines only move forward but for a gRPC call's longer
            // patience: a plain request right after one must not wait for it.
            if timer.deadline() > deadline {
                timer.as_mut().reset(deadline);
            }
            let fixed = matches!(again, Again::Fixed);
            let exchange = Self::exchange(
                &mut self.conn,
                shared,
                self.id,
                request,
                &make,
                fixed,
                &mut judge,
            );
            tokio::pin!(exchange);
            loop {
                // The timer first: a server that floods bytes (1xx heads,
                // say) keeps the exchange busy until tokio's cooperative
                // budget runs out, and a timer polled after that reports
                // Pending however late it is. Polled first, it sees a fresh
                // budget on every wake-up, so the timeout fires on time.
                tokio::select! {
                    biased;
                    _ = timer.as_mut() => {
                        if Instant::now() >= deadline {
                            break None;
                        }
                        timer.as_mut().reset(deadline);
                    }
                    r = &mut exchange => break Some(r),
                }
            }
        };
        let result = result.unwrap_or_else(|| {
            // The connection's state is unknown after a timeout: replace it.
            self.conn = match self.conn {
                Conn::H1(_) => Conn::H1(None),
                Conn::Lean(_) => Conn::Lean(None),
                Conn::H2 { .. } => Conn::H2 {
                    generation: None,
                    sender: None,
                },
            };
            // A gRPC call past its deadline is DEADLINE_EXCEEDED, as a
            // gRPC client reports it; the message says the client ended it.
            let (kind, whose) = match spec.grpc {
                Some(_) => (
                    ErrorKind::GrpcDeadlineExceeded,
                    " (rampdeck's deadline: the server had not answered)",
                ),
                None => (ErrorKind::Timeout, ""),
            };
            Err(Failure::new(
                kind,
                format!(
                    "no complete response within {:?}{whose}",
                    self.shared.timeout
                ),
            ))
        });
        let end = Instant::now();
        let service = end - start;
        // The schedule's time, never later than the actual send.
        let latency = intended.map_or(service, |t| end - t.min(start));
        // The epoch of the slot's schedule: a backlog sent after a level
        // change is still its own level's (corrected against its schedule).
        let epoch = match intended {
            Some(_) => self.schedule.epoch_of_slot(draw),
            None => self.schedule.epoch_at(self.schedule.rc_at(start)),
        };
        // On the run clock, as route firings are (their drop windows take these).
        let sent = Sent {
            at: self.schedule.rc_at(start),
            request: request as u16,
            epoch,
        };
        // A publish the system refused is not expected at the sink; one
        // whose answer never came (a timeout) may still be delivered.
        if let (Some(_), Some(d)) = (published, &shared.delivery) {
            let accepted = match &result {
                Ok(c) => (200..300).contains(&c.status) && c.failed.is_none() && c.grpc.is_none(),
                Err(f) => f.kind == ErrorKind::Timeout,
            };
            if !accepted {
                d.publish_failed(&event);
            }
        }
        match result {
            Ok(Checked {
                grpc: Some(status), ..
            }) => self.shared.recorder.record(
                latency,
                service,
                Outcome::Error(status.kind()),
                sent,
                || status.describe(),
            ),
            Ok(Checked {
                status,
                failed: None,
                ..
            }) => self.shared.recorder.record(
                latency,
                service,
                Outcome::Status(status),
                sent,
                String::new,
            ),
            Ok(Checked {
                failed: Some(why), ..
            }) => {
                let name = &self.shared.requests[request].name;
                self.shared.recorder.record(
                    latency,
                    service,
                    Outcome::Error(ErrorKind::Check),
                    sent,
                    || format!("'{name}': {why}"),
                )
            }
            Err(f) => {
                if f.fatal {
                    let _ = self.shared.fatal.set(f.message.clone());
                }
                let connect = matches!(
                    f.kind,
                    ErrorKind::ConnectRefused | ErrorKind::Connect | ErrorKind::ConnectTimeout
                );
                self.shared
                    .recorder
                    .record(latency, service, Outcome::Error(f.kind), sent, || f.message);
                if connect {
                    self.connect_failures = self.connect_failures.saturating_add(1);
                    return end;
                }
            }
        }
        self.connect_failures = 0;
        end
    }
}

/// Whether an HTTP/1.1 exchange on a reused connection goes again on a new
/// one: the idle connection had been closed by the server (nothing was
/// sent, so this is not the request's failure), or it was sent as the
/// server closed it and no answer came (an idempotent request, once).
fn goes_again(r: &Result<Checked, ExchangeError>, method: &Method) -> bool {
    match r {
        Err(ExchangeError::NotSent(_)) => true,
        Err(ExchangeError::ClosedBeforeResponse(_)) => method.is_idempotent(),
        _ => false,
    }
}

/// An HTTP/1.1 exchange's result; its connection is dropped after a
/// failure, or once it is closed (the server said `connection: close`).
fn settle<C>(
    slot: &mut Option<C>,
    r: Result<Checked, ExchangeError>,
    closed: fn(&C) -> bool,
) -> Result<Checked, Failure> {
    match r {
        Ok(c) => {
            if slot.as_ref().is_some_and(closed) {
                *slot = None;
            }
            Ok(c)
        }
        Err(
            ExchangeError::NotSent(f)
            | ExchangeError::ClosedBeforeResponse(f)
            | ExchangeError::Failed(f),
        ) => {
            *slot = None;
            Err(f)
        }
    }
}

/// Open loop: claim the next slot, wait until it is due, send, repeat.
pub async fn open_loop(id: usize, shared: Arc<Shared>, rx: watch::Receiver<Arc<Schedule>>) {
    let mut w = Worker::new(id, shared.clone(), rx);
    let timer = PreciseTimer::new();
    let timeout = tokio::time::sleep(Duration::ZERO);
    tokio::pin!(timeout);
    'claim: loop {
        let Some((k, epoch)) = w.claim().await else {
            return;
        };
        let intended = loop {
            if !w.refresh() {
                return;
            }
            // An agent's share changed under a claimed slot: a newer rule
            // hands it out again (maybe to another agent).
            if w.released(epoch, k) {
                continue 'claim;
            }
            match w.schedule.due(k) {
                Due::At(t) => {
                    let now = Instant::now();
                    if t <= now + SEND_EARLY {
                        break t;
                    }
                    if t - now <= UNINTERRUPTED {
                        tokio::select! {
                            biased;
                            _ = shared.stop.cancelled() => return,
                            _ = sleep_precise(&timer, &shared, t) => {
                                // A pause that came during the sleep: the slot waits for the resume.
                                if w.refresh() && (w.schedule.paused || w.released(epoch, k)) { continue }
                                break t
                            }
                        }
                    }
                    tokio::select! {
                        biased;
                        _ = shared.stop.cancelled() => return,
                        r = w.rx.changed() => if r.is_err() { return } else { w.reload() },
                        _ = sleep_precise(&timer, &shared, t) => break t,
                    }
                }
                Due::NotScheduled => {
                    if !w.changed().await {
                        return;
                    }
                }
            }
        };
        if shared.stop.is_cancelled() {
            return;
        }
        w.send(k, Some(intended), timeout.as_mut()).await;
    }
}

/// Sleeps until `t`: a timerfd for sub-millisecond precision, or tokio's
/// timer on test time.
async fn sleep_precise(timer: &PreciseTimer, shared: &Shared, t: Instant) {
    if shared.tokio_timers {
        tokio::time::sleep_until(t).await
    } else {
        timer.sleep_until(t.into_std()).await
    }
}

/// Closed loop: while this worker is within the current concurrency, send
/// the next request as soon as the last one returns.
pub async fn closed_loop(id: usize, shared: Arc<Shared>, rx: watch::Receiver<Arc<Schedule>>) {
    let mut w = Worker::new(id, shared.clone(), rx);
    let timeout = tokio::time::sleep(Duration::ZERO);
    tokio::pin!(timeout);
    let mut n = 0u64;
    // The end of the last request stands for now: one clock read less per request.
    let mut last_end = None;
    loop {
        if !w.refresh() || shared.stop.is_cancelled() {
            return;
        }
        let now = last_end.take().unwrap_or_else(Instant::now);
        // An agent runs its share of the workers (`share::Share::global_worker`).
        let global = match &w.schedule.share {
            None => Some(id),
            Some(s) => s.global_worker(id),
        };
        let Some(global) = global else {
            if !w.changed().await {
                return;
            }
            continue;
        };
        if !w.schedule.is_active(global, now) {
            match w.schedule.active_from(global, now) {
                Due::At(t) => {
                    tokio::select! {
                        biased;
                        _ = shared.stop.cancelled() => return,
                        r = w.rx.changed() => if r.is_err() { return } else { w.reload() },
                        _ = tokio::time::sleep_until(t) => {}
                    }
                }
                Due::NotScheduled => {
                    if !w.changed().await {
                        return;
                    }
                }
            }
            continue;
        }
        n += 1;
        // Each worker draws its own reproducible sequence.
        let draw = splitmix64(global as u64) ^ n;
        last_end = Some(w.send(draw, None, timeout.as_mut()).await);
        if w.connect_failures > 0 {
            // 1 ms after the first refusal, doubling to 1 s: a dead or
            // restarting target is retried, not hammered (and a closed
            // loop's "throughput" of refusals is not the target's).
            let wait = CONNECT_BACKOFF_FIRST
                .saturating_mul(1 << (w.connect_failures - 1).min(10))
                .min(CONNECT_BACKOFF_MAX);
            tokio::select! {
                biased;
                _ = shared.stop.cancelled() => return,
                r = w.rx.changed() => if r.is_err() { return } else { w.reload() },
                _ = tokio::time::sleep(wait) => {}
            }
            last_end = None;
        }
    }
}

const CONNECT_BACKOFF_FIRST: Duration = Duration::from_millis(1);
const CONNECT_BACKOFF_MAX: Duration = Duration::from_secs(1);
