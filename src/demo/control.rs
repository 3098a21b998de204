//! The demo control plane: `/metrics` in Prometheus text format with real process CPU and memory.

use std::convert::Infallible;
use std::fmt::Write;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use super::gateway::Gateway;
use super::procfs;

pub struct ControlPlane {
    pub gateway: Arc<Gateway>,
    pub started: SystemTime,
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
        s
    }

    async fn handle(
        self: Arc<Self>,
        req: Request<Incoming>,
    ) -> Result<Response<Full<Bytes>>, Infallible> {
        let (code, ctype, body) = match req.uri().path() {
            "/metrics" => (StatusCode::OK, "text/plain; version=0.0.4", self.metrics()),
            "/healthz" => (StatusCode::OK, "text/plain", "ok\n".to_owned()),
            _ => (
                StatusCode::NOT_FOUND,
                "text/plain",
                "try /metrics\n".to_owned(),
            ),
        };
        let mut r = Response::new(Full::new(Bytes::from(body)));
        *r.status_mut() = code;
        r.headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static(ctype));
        Ok(r)
    }
}

pub async fn serve(listener: TcpListener, cp: Arc<ControlPlane>, cancel: CancellationToken) {
    loop {
        let stream = tokio::select! {
            _ = cancel.cancelled() => return,
            r = listener.accept() => match r {
                Ok((s, _)) => s,
                Err(_) => { tokio::time::sleep(Duration::from_millis(10)).await; continue }
            },
        };
        let cp = cp.clone();
        let cancel = cancel.clone();
        tokio::spawn(async move {
            let svc = service_fn(move |req| cp.clone().handle(req));
            let builder = auto::Builder::new(TokioExecutor::new());
            tokio::select! {
                _ = builder.serve_connection(TokioIo::new(stream), svc) => {}
                _ = cancel.cancelled() => {}
            }
        });
    }
}
