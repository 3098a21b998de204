//! The demo control plane: `/metrics` in Prometheus text format with real process CPU and
//! memory, `/healthz`, `/stats`, and the simulated Kubernetes API (`/api`, `/apis`, `/version`).

use std::convert::Infallible;
use std::fmt::Write;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use super::gateway::Gateway;
use super::kubeapi::http::{full, Body};
use super::kubeapi::KubeApi;
use super::procfs;

/// RPS and success rate in `/stats` cover this many whole seconds.
pub const STATS_WINDOW_SECS: u64 = 10;

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct DemoStats {
    pub window_s: u64,
    pub routes: Vec<RouteStats>,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct RouteStats {
    pub route: String,
    pub requests_total: u64,
    /// Over the window; None when the route saw no requests in it.
    pub success_rate: Option<f64>,
    pub rps: f64,
    /// Since the demo started.
    pub latency_p50_ms: Option<f64>,
    pub latency_p99_ms: Option<f64>,
}

impl DemoStats {
    /// The table `rampdeck demo-stat` prints.
    pub fn table(&self) -> String {
        use std::fmt::Write;
        let mut s = format!(
            "{:<20} {:>9} {:>10} {:>12} {:>12}\n",
            "ROUTE", "SUCCESS", "RPS", "LATENCY_P50", "LATENCY_P99"
        );
        for r in &self.routes {
            let pct = r
                .success_rate
                .map_or_else(|| "-".to_owned(), |v| format!("{v:.2}%"));
            let ms = |v: Option<f64>| v.map_or_else(|| "-".to_owned(), |v| format!("{v:.0}ms"));
            let _ = writeln!(
                s,
                "{:<20} {:>9} {:>7.1}rps {:>12} {:>12}",
                r.route,
                pct,
                r.rps,
                ms(r.latency_p50_ms),
                ms(r.latency_p99_ms)
            );
        }
        s
    }
}

pub struct ControlPlane {
    pub gateway: Arc<Gateway>,
    pub kube: Arc<KubeApi>,
    pub started: SystemTime,
    /// The fault switches' bearer token.
    pub admin_token: String,
}

impl ControlPlane {
    /// The exposition text, as a Prometheus server would scrape it.
    pub fn metrics(&self) -> String {
        let mut s = String::with_capacity(2048);
        if let Some((cpu, rss)) = procfs::self_usage() {
            let _ = writeln!(
                s,
                "# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds."
            );
            let _ = writeln!(s, "# TYPE process_cpu_seconds_total counter");
            let _ = writeln!(s, "process_cpu_seconds_total {cpu}");
            let _ = writeln!(
                s,
                "# HELP process_resident_memory_bytes Resident memory size in bytes."
            );
            let _ = writeln!(s, "# TYPE process_resident_memory_bytes gauge");
            let _ = writeln!(s, "process_resident_memory_bytes {rss}");
        }
        let start = self
            .started
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or(Duration::ZERO);
        let _ = writeln!(s, "# HELP process_start_time_seconds Start time of the process since unix epoch in seconds.");
        let _ = writeln!(s, "# TYPE process_start_time_seconds gauge");
        let _ = writeln!(s, "process_start_time_seconds {}", start.as_secs());
        let gw = &self.gateway;
        let _ = writeln!(
            s,
            "# HELP demo_gateway_routes Routes in the demo gateway's route table."
        );
        let _ = writeln!(s, "# TYPE demo_gateway_routes gauge");
        let _ = writeln!(s, "demo_gateway_routes {}", gw.routes.len());
        let _ = writeln!(
            s,
            "# HELP demo_gateway_requests_total Requests answered, by route and outcome."
        );
        let _ = writeln!(s, "# TYPE demo_gateway_requests_total counter");
        for (r, c) in gw.routes.iter().zip(&gw.counters) {
            let _ = writeln!(
                s,
                "demo_gateway_requests_total{{route=\"{}\",outcome=\"ok\"}} {}",
                r.prefix,
                c.ok.load(Ordering::Relaxed)
            );
            let _ = writeln!(
                s,
                "demo_gateway_requests_total{{route=\"{}\",outcome=\"error\"}} {}",
                r.prefix,
                c.errors.load(Ordering::Relaxed)
            );
        }
        let _ = writeln!(
            s,
            "demo_gateway_requests_total{{route=\"\",outcome=\"not_found\"}} {}",
            gw.not_found.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            s,
            "# HELP demo_gateway_route_latency_seconds_total Simulated latency served, by route."
        );
        let _ = writeln!(s, "# TYPE demo_gateway_route_latency_seconds_total counter");
        for (r, c) in gw.routes.iter().zip(&gw.counters) {
            let _ = writeln!(
                s,
                "demo_gateway_route_latency_seconds_total{{route=\"{}\"}} {}",
                r.prefix,
                c.latency_us.load(Ordering::Relaxed) as f64 / 1e6
            );
        }
        self.httproute_metrics(&mut s);
        s
    }

    /// The HTTPRoute data plane and the simulated Kubernetes API.
    fn httproute_metrics(&self, s: &mut String) {
        let router = &self.gateway.router;
        let _ = writeln!(
            s,
            "# HELP demo_gateway_httproutes_programmed HTTPRoutes in the gateway's live route table."
        );
        let _ = writeln!(s, "# TYPE demo_gateway_httproutes_programmed gauge");
        let _ = writeln!(
            s,
            "demo_gateway_httproutes_programmed {}",
            router.programmed()
        );
        let _ = writeln!(
            s,
            "# HELP demo_gateway_backend_requests_total Requests served by each echo backend through HTTPRoutes."
        );
        let _ = writeln!(s, "# TYPE demo_gateway_backend_requests_total counter");
        for (name, n) in router.backends().iter().zip(&router.backend_requests) {
            let _ = writeln!(
                s,
                "demo_gateway_backend_requests_total{{backend=\"{name}\"}} {}",
                n.load(Ordering::Relaxed)
            );
        }
        let _ = writeln!(
            s,
            "# HELP demo_gateway_backend_in_rotation Whether the gateway sends traffic to the backend (1) or has ejected it (0)."
        );
        let _ = writeln!(s, "# TYPE demo_gateway_backend_in_rotation gauge");
        for (i, name) in router.backends().iter().enumerate() {
            let _ = writeln!(
                s,
                "demo_gateway_backend_in_rotation{{backend=\"{name}\"}} {}",
                u8::from(router.health.in_rotation(i))
            );
        }
        let _ = writeln!(
            s,
            "# HELP demo_gateway_httproute_errors_total Requests matching an HTTPRoute not served: 500 for unresolved backends, 503 from the swap-drop fault."
        );
        let _ = writeln!(s, "# TYPE demo_gateway_httproute_errors_total counter");
        let _ = writeln!(
            s,
            "demo_gateway_httproute_errors_total{{reason=\"backend_not_found\"}} {}",
            router.unroutable.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            s,
            "demo_gateway_httproute_errors_total{{reason=\"swap_drop\"}} {}",
            router.dropped.load(Ordering::Relaxed)
        );
        let kube = &self.kube;
        let _ = writeln!(
            s,
            "# HELP demo_kubeapi_requests_total Requests to the simulated Kubernetes API."
        );
        let _ = writeln!(s, "# TYPE demo_kubeapi_requests_total counter");
        let _ = writeln!(
            s,
            "demo_kubeapi_requests_total {}",
            kube.requests.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            s,
            "# HELP demo_reconcile_passes_total Reconcile passes of the simulated Gateway API controller."
        );
        let _ = writeln!(s, "# TYPE demo_reconcile_passes_total counter");
        let _ = writeln!(
            s,
            "demo_reconcile_passes_total {}",
            kube.stats.passes.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            s,
            "# HELP demo_reconcile_status_writes_total Status writes by the simulated controller, by kind."
        );
        let _ = writeln!(s, "# TYPE demo_reconcile_status_writes_total counter");
        let _ = writeln!(
            s,
            "demo_reconcile_status_writes_total{{kind=\"Gateway\"}} {}",
            kube.stats.gateway_status_writes.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            s,
            "demo_reconcile_status_writes_total{{kind=\"HTTPRoute\"}} {}",
            kube.stats.route_status_writes.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            s,
            "# HELP demo_leaked_bytes Bytes held by the leak_per_route fault."
        );
        let _ = writeln!(s, "# TYPE demo_leaked_bytes gauge");
        let _ = writeln!(
            s,
            "demo_leaked_bytes {}",
            kube.stats.leaked_bytes.load(Ordering::Relaxed)
        );
    }

    /// Per-route success rate, RPS over the last 10 s, latency percentiles:
    /// what `rampdeck demo-stat` prints, like `linkerd viz stat` does.
    pub fn stats(&self) -> DemoStats {
        let gw = &self.gateway;
        let now = gw.started.elapsed();
        let span = now.as_secs().clamp(1, STATS_WINDOW_SECS);
        let routes = gw
            .routes
            .iter()
            .zip(&gw.counters)
            .map(|(r, c)| {
                let w = c.window.lock().unwrap_or_else(|e| e.into_inner());
                let (requests, ok) = w.recent(now.as_secs(), span);
                let total = c.ok.load(Ordering::Relaxed) + c.errors.load(Ordering::Relaxed);
                let ms = |q: f64| w.latency.value_at_quantile(q) as f64 / 1000.0;
                RouteStats {
                    route: r.prefix.clone(),
                    requests_total: total,
                    success_rate: (requests > 0).then(|| 100.0 * ok as f64 / requests as f64),
                    rps: requests as f64 / span as f64,
                    latency_p50_ms: (!w.latency.is_empty()).then(|| ms(0.5)),
                    latency_p99_ms: (!w.latency.is_empty()).then(|| ms(0.99)),
                }
            })
            .collect();
        DemoStats {
            window_s: span,
            routes,
        }
    }

    async fn handle(self: Arc<Self>, req: Request<Incoming>) -> Result<Response<Body>, Infallible> {
        if KubeApi::serves(req.uri().path()) {
            return Ok(self.kube.handle(req).await);
        }
        if req.uri().path().starts_with(super::faults::PREFIX) {
            let (code, text) = super::faults::handle(
                &self.gateway,
                &self.admin_token,
                req.method(),
                req.uri().path(),
                req.headers(),
            );
            let mut r = Response::new(full(text));
            *r.status_mut() = code;
            return Ok(r);
        }
        let (code, ctype, body) = match req.uri().path() {
            "/metrics" => (StatusCode::OK, "text/plain; version=0.0.4", self.metrics()),
            "/healthz" => (StatusCode::OK, "text/plain", "ok\n".to_owned()),
            "/stats" => (
                StatusCode::OK,
                "application/json",
                serde_json::to_string(&self.stats())
                    .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}")),
            ),
            _ => (
                StatusCode::NOT_FOUND,
                "text/plain",
                "try /metrics\n".to_owned(),
            ),
        };
        let mut r = Response::new(full(body));
        *r.status_mut() = code;
        r.headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static(ctype));
        Ok(r)
    }
}

pub async fn serve(listener: TcpListener, cp: Arc<ControlPlane>, cancel: CancellationToken) {
    let done = cancel.clone();
    crate::accept::accept_until(listener, done, move |stream| {
        let cp = cp.clone();
        let cancel = cancel.clone();
        async move {
            let svc = service_fn(move |req| cp.clone().handle(req));
            let builder = auto::Builder::new(TokioExecutor::new());
            // With upgrades: the simulated API's pod port-forward turns its connection
            // into a WebSocket.
            tokio::select! {
                _ = builder.serve_connection_with_upgrades(TokioIo::new(stream), svc) => {}
                _ = cancel.cancelled() => {}
            }
        }
    })
    .await;
}
