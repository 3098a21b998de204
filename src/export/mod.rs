//! rampdeck's own live metrics as OpenMetrics text: the `--metrics-listen` / `[metrics]` endpoint.
//!
//! The endpoint serves `GET /metrics` while a run is live. It never touches
//! the engine's hot path: each scrape locks the run model (the same one the
//! console draws) and encodes what the session has already folded in, so
//! the numbers are the summary's numbers, scrape by scrape. It accepts no
//! commands, so it has no token; it binds 127.0.0.1 unless told otherwise.

pub mod buckets;
pub mod collector;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::run::RunModel;
use crate::spec::metrics::MetricsConfig;

/// The OpenMetrics text content type Prometheus negotiates.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("metrics endpoint: cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// A listening metrics endpoint.
pub struct Exporter {
    pub addr: SocketAddr,
    cancel: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

/// What the collector needs to name things: the plan's request names and
/// the unit of its level.
#[derive(Debug, Clone)]
pub struct Names {
    pub requests: Vec<String>,
    /// `requests_per_second`, `concurrency` or `connections`.
    pub level_unit: &'static str,
}

impl Names {
    pub fn of(plan: &crate::spec::plan::Plan) -> Names {
        let level_unit = match (&plan.connections, plan.load.mode) {
            (Some(_), _) => "connections",
            (None, crate::spec::plan::Mode::Open) => "requests_per_second",
            (None, crate::spec::plan::Mode::Closed) => "concurrency",
        };
        Names {
            requests: plan.requests.iter().map(|r| r.name.clone()).collect(),
            level_unit,
        }
    }
}

impl Exporter {
    /// Binds now (so the address can be printed before the load starts) and
    /// serves scrapes of `model` until stopped.
    pub async fn start(
        config: &MetricsConfig,
        names: Names,
        model: Arc<Mutex<RunModel>>,
    ) -> Result<Exporter, ExportError> {
        let bind = |source| ExportError::Bind {
            addr: config.listen,
            source,
        };
        let listener = TcpListener::bind(config.listen).await.map_err(bind)?;
        let addr = listener.local_addr().map_err(bind)?;
        let mut registry = Registry::with_prefix("rampdeck");
        registry.register_collector(Box::new(collector::RunCollector::new(names, model)));
        let cancel = CancellationToken::new();
        let task = tokio::spawn(accept(listener, Arc::new(registry), cancel.clone()));
        Ok(Exporter { addr, cancel, task })
    }

    /// `http://ADDR/metrics`.
    pub fn url(&self) -> String {
        format!("http://{}/metrics", self.addr)
    }

    pub async fn stop(self) {
        self.cancel.cancel();
        let _ = self.task.await;
    }
}

async fn accept(listener: TcpListener, registry: Arc<Registry>, cancel: CancellationToken) {
    crate::util::serve::serve(
        listener,
        cancel,
        crate::util::serve::Limits::METRICS,
        move |req| serve(req, registry.clone()),
    )
    .await
}

async fn serve(
    req: Request<Incoming>,
    registry: Arc<Registry>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let answer = |status: StatusCode, ctype: &str, body: String| {
        let mut r = Response::new(Full::new(Bytes::from(body)));
        *r.status_mut() = status;
        if let Ok(v) = ctype.parse() {
            r.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
        }
        Ok(r)
    };
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return answer(
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain",
            "only GET /metrics\n".into(),
        );
    }
    if req.uri().path() != "/metrics" {
        return answer(
            StatusCode::NOT_FOUND,
            "text/plain",
            "rampdeck serves its metrics at /metrics\n".into(),
        );
    }
    let mut text = String::new();
    match prometheus_client::encoding::text::encode(&mut text, &registry) {
        Ok(()) => answer(StatusCode::OK, CONTENT_TYPE, text),
        Err(_) => answer(
            StatusCode::INTERNAL_SERVER_ERROR,
            "text/plain",
            "the metrics could not be encoded\n".into(),
        ),
    }
}
