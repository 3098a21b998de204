//! The demo gateway: serves requests matching programmed HTTPRoutes from the echo backends
//! (see `routing`), and everything else by path prefix from simulated routes with latency,
//! errors and stalls.

use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{Either, Full};
use hyper::body::Incoming;
use hyper::header::{HeaderName, HeaderValue, CONTENT_TYPE, HOST};
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use super::config::{DemoConfig, DemoRoute, LatencyModel};
use super::routing::{Decision, Router};
use rampdeck_base::httproute::RequestView;
use rampdeck_base::rng::splitmix64;

/// Per-route counters, exported by the control plane's `/metrics` and `/stats`.
#[derive(Debug, Default)]
pub struct RouteCounters {
    pub ok: AtomicU64,
    pub errors: AtomicU64,
    /// Sum of simulated latency, microseconds.
    pub latency_us: AtomicU64,
    pub window: Mutex<RouteWindow>,
}

/// Seconds of per-second counts kept for `/stats` rates.
pub const WINDOW_SECS: usize = 60;

/// What `/stats` reports per route: per-second counts and a latency histogram.
#[derive(Debug)]
pub struct RouteWindow {
    pub latency: hdrhistogram::Histogram<u64>,
    /// (second since start, requests, ok) in a ring indexed by second.
    seconds: [(u64, u64, u64); WINDOW_SECS],
}

impl Default for RouteWindow {
    fn default() -> Self {
        RouteWindow {
            latency: latency_histogram(),
            seconds: [(u64::MAX, 0, 0); WINDOW_SECS],
        }
    }
}

impl RouteWindow {
    fn record(&mut self, second: u64, ok: bool, latency: Duration) {
        self.latency
            .saturating_record((latency.as_micros() as u64).max(1));
        let slot = &mut self.seconds[second as usize % WINDOW_SECS];
        if slot.0 != second {
            *slot = (second, 0, 0);
        }
        slot.1 += 1;
        slot.2 += u64::from(ok);
    }

    /// Requests and ok responses in the `span` whole seconds before `now`.
    pub fn recent(&self, now: u64, span: u64) -> (u64, u64) {
        let from = now.saturating_sub(span);
        self.seconds
            .iter()
            .filter(|s| s.0 != u64::MAX && s.0 >= from && s.0 < now)
            .fold((0, 0), |acc, s| (acc.0 + s.1, acc.1 + s.2))
    }
}

/// Header naming the echo backend that answered, as hashicorp/http-echo setups often add.
pub const BACKEND_HEADER: &str = "x-backend";

pub struct Gateway {
    pub routes: Vec<DemoRoute>,
    /// Per route with `workers`: when each worker is next free. A request
    /// takes the worker free soonest, first come first served, and is
    /// answered at that worker's start + its service time: completion times
    /// are computed, not chained sleeps, so the timer's millisecond rounding
    /// adds to a response's latency but never lowers the capacity, which is
    /// exactly `workers` / mean service time.
    workers: Vec<Option<Mutex<Vec<tokio::time::Instant>>>>,
    pub counters: Vec<RouteCounters>,
    /// Requests that matched neither an HTTPRoute nor a static route.
    pub not_found: AtomicU64,
    /// HTTPRoutes as programmed by the simulated control plane; consulted first.
    pub router: Arc<Router>,
    /// Per echo backend: its body (`"<name>\n"`) and `x-backend` value.
    echo: Vec<(Bytes, HeaderValue)>,
    pub started: Instant,
    draws: AtomicU64,
    body: Bytes,
    /// `/auth/login` and the token-guarded `/auth/...` paths.
    pub auth: super::auth::Auth,
    /// Sends relay routes' events on.
    relay: Arc<super::relay::Relay>,
    /// The WebSocket echo here and the TCP echo on its own port.
    pub echoes: Arc<super::echo::Echo>,
}

impl Gateway {
    pub fn new(config: &DemoConfig) -> Self {
        let mut routes = config.routes.clone();
        // Longest prefix first, so "/api/slow" wins over "/api".
        routes.sort_by_key(|r| std::cmp::Reverse(r.prefix.len()));
        let max_body = routes.iter().map(|r| r.body_bytes).max().unwrap_or(0);
        let backends = &config.kube.backends;
        Gateway {
            router: Arc::new(Router::with_health(
                backends,
                config.kube.swap_drop,
                config.kube.health(),
            )),
            echo: backends
                .iter()
                .map(|b| {
                    let value = HeaderValue::from_str(b)
                        .unwrap_or_else(|_| HeaderValue::from_static("invalid-name"));
                    (Bytes::from(format!("{b}\n")), value)
                })
                .collect(),
            counters: routes.iter().map(|_| RouteCounters::default()).collect(),
            workers: routes
                .iter()
                .map(|r| {
                    r.workers
                        .map(|n| Mutex::new(vec![tokio::time::Instant::now(); n.max(1)]))
                })
                .collect(),
            routes,
            not_found: AtomicU64::new(0),
            started: Instant::now(),
            draws: AtomicU64::new(1),
            body: Bytes::from(vec![b'x'; max_body]),
            auth: super::auth::Auth::new(),
            relay: Arc::new(super::relay::Relay::new()),
            echoes: Arc::new(super::echo::Echo::new(config.echo.clone())),
        }
    }

    fn uniform(&self) -> f64 {
        let n = self.draws.fetch_add(1, Ordering::Relaxed);
        (splitmix64(n) >> 11) as f64 / (1u64 << 53) as f64
    }

    fn latency(&self, model: LatencyModel) -> Duration {
        match model {
            LatencyModel::None => Duration::ZERO,
            LatencyModel::Fixed(d) => d,
            LatencyModel::LogNormal { p50, p99 } => {
                // ln(latency) ~ N(mu, sigma): the median is e^mu, p99 is e^(mu + 2.326 sigma).
                let mu = p50.as_secs_f64().ln();
                let sigma = (p99.as_secs_f64().ln() - mu) / 2.326_347_874;
                let (u1, u2) = (self.uniform().max(1e-12), self.uniform());
                let z = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
                Duration::from_secs_f64((mu + sigma * z).exp().min(60.0))
            }
        }
    }

    /// How long a request arriving now must wait for the route's stall to end.
    fn stall_wait(&self, route: &DemoRoute) -> Duration {
        let Some(stall) = route.stall else {
            return Duration::ZERO;
        };
        let t = self.started.elapsed().as_nanos();
        let every = stall.every.as_nanos().max(1);
        // Stall k covers [k*every, k*every + duration) for k >= 1.
        let phase = t % every;
        if t >= every && phase < stall.duration.as_nanos() {
            Duration::from_nanos((stall.duration.as_nanos() - phase) as u64)
        } else {
            Duration::ZERO
        }
    }

    async fn handle(self: Arc<Self>, req: Request<Incoming>) -> Result<Response<Body>, Infallible> {
        if super::grpc::is_grpc(&req) {
            return Ok(self.grpc(req).await);
        }
        if req.uri().path() == super::config::WS_PATH {
            return Ok(self.websocket(req).map(Either::Left));
        }
        let host = req
            .headers()
            .get(HOST)
            .and_then(|h| h.to_str().ok())
            .or_else(|| req.uri().authority().map(|a| a.as_str()))
            .unwrap_or("");
        let view = RequestView {
            host,
            path: req.uri().path(),
            method: req.method().as_str(),
            headers: req.headers(),
            query: req.uri().query(),
        };
        if let Some(decision) = self.router.route(&view) {
            return Ok(self.httproute_response(decision).map(Either::Left));
        }
        let path = req.uri().path();
        // The built-in routes answer requests addressed to the gateway
        // itself; a hostname no HTTPRoute serves gets 404, as on a real Gateway.
        if addressed_by_ip(host) && path.starts_with(super::auth::PREFIX) {
            return Ok(self
                .auth
                .handle(req.method(), path, req.headers())
                .map(Either::Left));
        }
        let matched = if addressed_by_ip(host) {
            self.routes.iter().position(|r| path.starts_with(&r.prefix))
        } else {
            None
        };
        let Some(i) = matched else {
            self.not_found.fetch_add(1, Ordering::Relaxed);
            return Ok(status(StatusCode::NOT_FOUND, "no route\n"));
        };
        let route = &self.routes[i];
        let arrived = tokio::time::Instant::now();
        // A relay route takes the event now and sends it on once accepted.
        let job = match route.relay {
            Some(config) => match self.relay.accept(config, req).await {
                Ok(job) => Some(job),
                Err(refused) => return Ok(refused.map(Either::Left)),
            },
            None => None,
        };
        let done = self.admit(i, arrived);
        if done > arrived {
            tokio::time::sleep_until(done).await;
        }
        if self.settle(i, arrived) {
            let code =
                StatusCode::from_u16(route.error_status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
            return Ok(status(code, "injected failure\n"));
        }
        if let Some(job) = job {
            self.relay.start(job);
            return Ok(status(StatusCode::ACCEPTED, "accepted\n"));
        }
        Ok(Response::new(Either::Left(Full::new(
            self.body.slice(..route.body_bytes),
        ))))
    }

    /// The WebSocket echo: a 101 answer, then the upgraded connection echoes.
    fn websocket(&self, mut req: Request<Incoming>) -> Response<Full<Bytes>> {
        use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
        let upgrade = req
            .headers()
            .get(hyper::header::UPGRADE)
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"websocket"));
        let key = req.headers().get("sec-websocket-key").cloned();
        let (true, Some(key)) = (upgrade, key) else {
            return plain(
                StatusCode::BAD_REQUEST,
                "a WebSocket upgrade is expected here\n",
            );
        };
        let accept = derive_accept_key(key.as_bytes());
        let echo = self.echoes.clone();
        let on_upgrade = hyper::upgrade::on(&mut req);
        tokio::spawn(async move {
            if let Ok(up) = on_upgrade.await {
                super::echo::websocket(TokioIo::new(up), echo).await;
            }
        });
        let mut r = Response::new(Full::new(Bytes::new()));
        *r.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
        let h = r.headers_mut();
        h.insert(
            hyper::header::UPGRADE,
            HeaderValue::from_static("websocket"),
        );
        h.insert(
            hyper::header::CONNECTION,
            HeaderValue::from_static("upgrade"),
        );
        if let Ok(v) = HeaderValue::from_str(&accept) {
            h.insert("sec-websocket-accept", v);
        }
        r
    }

    /// When a request to route `i` arriving at `arrived` is served: its
    /// stall, its latency draw, and its place in the route's queue.
    fn admit(&self, i: usize, arrived: tokio::time::Instant) -> tokio::time::Instant {
        let route = &self.routes[i];
        let service = self.stall_wait(route) + self.latency(route.latency);
        // A route with workers serves this many at once; the rest queue.
        match &self.workers[i] {
            Some(free) => {
                let mut free = free.lock().unwrap_or_else(|e| e.into_inner());
                let (w, at) = free
                    .iter()
                    .copied()
                    .enumerate()
                    .min_by_key(|&(_, t)| t)
                    .unwrap_or((0, arrived));
                let done = at.max(arrived) + service;
                if let Some(slot) = free.get_mut(w) {
                    *slot = done;
                }
                done
            }
            None => arrived + service,
        }
    }

    /// Counts a request to route `i` that waited since `arrived`, and draws
    /// whether it fails; true: answer with the route's injected failure.
    fn settle(&self, i: usize, arrived: tokio::time::Instant) -> bool {
        let route = &self.routes[i];
        let fail = route.error_rate > 0.0 && self.uniform() < route.error_rate;
        self.count(i, arrived, !fail);
        fail
    }

    fn count(&self, i: usize, arrived: tokio::time::Instant, ok: bool) {
        let wait = arrived.elapsed();
        let counters = &self.counters[i];
        counters
            .latency_us
            .fetch_add(wait.as_micros() as u64, Ordering::Relaxed);
        let second = self.started.elapsed().as_secs();
        counters
            .window
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .record(second, ok, wait);
        if ok {
            counters.ok.fetch_add(1, Ordering::Relaxed);
        } else {
            counters.errors.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// A gRPC call (`content-type: application/grpc`): the echo service on
    /// the route its path matches, with that route's latency, queue and
    /// faults; an injected failure is the gRPC code for the route's HTTP
    /// status, and a call whose `grpc-timeout` passes first is answered
    /// DEADLINE_EXCEEDED at its deadline.
    async fn grpc(&self, req: Request<Incoming>) -> Response<Body> {
        use super::grpc as g;
        let arrived = tokio::time::Instant::now();
        let deadline = req
            .headers()
            .get("grpc-timeout")
            .and_then(|v| v.to_str().ok())
            .and_then(rampdeck_base::grpc::parse_timeout);
        let path = req.uri().path().to_owned();
        if path != g::SAY {
            self.not_found.fetch_add(1, Ordering::Relaxed);
            return g::status_only(g::UNIMPLEMENTED, &format!("unknown method {path}"));
        }
        let Some(i) = self.routes.iter().position(|r| path.starts_with(&r.prefix)) else {
            self.not_found.fetch_add(1, Ordering::Relaxed);
            return g::status_only(g::UNIMPLEMENTED, "no route");
        };
        let message = match http_body_util::BodyExt::collect(req.into_body()).await {
            Ok(b) => b.to_bytes(),
            Err(e) => return g::status_only(g::INTERNAL, &format!("reading the request: {e}")),
        };
        let message = match rampdeck_base::grpc::unframe(&message) {
            Ok(m) => Bytes::copy_from_slice(m),
            Err(e) => return g::status_only(g::INTERNAL, &e),
        };
        let done = self.admit(i, arrived);
        let cut = deadline.map(|d| arrived + d);
        match cut {
            Some(cut) if cut < done => {
                tokio::time::sleep_until(cut).await;
                self.count(i, arrived, false);
                return g::status_only(
                    g::DEADLINE_EXCEEDED,
                    "deadline exceeded before the echo answered",
                );
            }
            _ => tokio::time::sleep_until(done).await,
        }
        let route = &self.routes[i];
        if self.settle(i, arrived) {
            return g::status_only(g::from_http(route.error_status), "injected failure");
        }
        g::reply(&message, &route.prefix)
    }
}

impl Gateway {
    /// The answer for a request that matched an HTTPRoute rule.
    fn httproute_response(&self, decision: Decision) -> Response<Full<Bytes>> {
        match decision {
            Decision::Backend(i) => {
                let Some((body, name)) = self.echo.get(i) else {
                    return plain(StatusCode::INTERNAL_SERVER_ERROR, "backend not found\n");
                };
                let mut r = Response::new(Full::new(body.clone()));
                let headers = r.headers_mut();
                headers.insert(HeaderName::from_static(BACKEND_HEADER), name.clone());
                headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
                r
            }
            // The Gateway API requires 500 for rules whose backends do not resolve.
            Decision::Unroutable => plain(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the matched route's backend is not found or invalid\n",
            ),
            // What Envoy answers when no upstream answered (a dead pod, a stale pooled connection).
            Decision::NoAnswer(_) => plain(
                StatusCode::SERVICE_UNAVAILABLE,
                "upstream connect error or disconnect/reset before headers. reset reason: connection failure\n",
            ),
            // What Envoy answers when the upstream cluster vanished mid-swap.
            Decision::Dropped => plain(
                StatusCode::SERVICE_UNAVAILABLE,
                "upstream connect error or disconnect/reset before headers. reset reason: connection termination\n",
            ),
        }
    }
}

/// The demo's own latency record (for its stat command): 1 µs to 60 s.
fn latency_histogram() -> hdrhistogram::Histogram<u64> {
    // Constant bounds that hdrhistogram accepts; this cannot fail.
    #[allow(clippy::expect_used)]
    hdrhistogram::Histogram::new_with_bounds(1, 60_000_000, 3).expect("constant bounds are valid")
}

fn status(code: StatusCode, text: &'static str) -> Response<Body> {
    plain(code, text).map(Either::Left)
}

fn plain(code: StatusCode, text: &'static str) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from_static(text.as_bytes())));
    *r.status_mut() = code;
    r
}

/// What the gateway answers with: a whole body, or a gRPC reply with trailers.
pub type Body = Either<Full<Bytes>, super::grpc::ReplyBody>;

/// Accepts connections until `cancel`, serving HTTP/1.1 and HTTP/2 (prior knowledge).
pub async fn serve(listener: TcpListener, gateway: Arc<Gateway>, cancel: CancellationToken) {
    let done = cancel.clone();
    crate::accept::accept_until(listener, done, move |stream| {
        let _ = stream.set_nodelay(true);
        let gw = gateway.clone();
        let cancel = cancel.clone();
        async move {
            let svc = service_fn(move |req| gw.clone().handle(req));
            let builder = auto::Builder::new(TokioExecutor::new());
            let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), svc);
            tokio::select! {
                _ = conn => {}
                _ = cancel.cancelled() => {}
            }
        }
    })
    .await;
}

/// Whether `host` (with an optional port) is an IP address or localhost, not a virtual host name.
fn addressed_by_ip(host: &str) -> bool {
    let h = match host.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or(rest),
        None => host.rsplit_once(':').map_or(host, |(h, p)| {
            if p.bytes().all(|b| b.is_ascii_digit()) && !h.contains(':') {
                h
            } else {
                host
            }
        }),
    };
    h.is_empty() || h.eq_ignore_ascii_case("localhost") || h.parse::<std::net::IpAddr>().is_ok()
}

#[cfg(test)]
mod host_tests {
    use super::addressed_by_ip;

    #[test]
    fn addresses_are_not_virtual_hosts() {
        for h in [
            "127.0.0.1:8080",
            "127.0.0.1",
            "[::1]:80",
            "::1",
            "localhost:3000",
            "",
        ] {
            assert!(addressed_by_ip(h), "{h}");
        }
        for h in ["shop.example.com", "1-route.example.com:80", "gw"] {
            assert!(!addressed_by_ip(h), "{h}");
        }
    }
}
