//! Gateway API scenarios after gateway-api-bench: attached-routes, route-probe, route-change, route-scale, backend-failover, traffic-matrix, and the mesh scale-test RFC's staleness check, run against any implementation (and the demo).
//!
//! `config` is what was asked for; `objects` builds the HTTPRoutes;
//! `attached`, `probe`, `change`, `scale`, `failover`, `staleness` and
//! `matrix` are the tests (`action` is what they do to the system under
//! test, `fit` the memory slope's regression); `traffic` is
//! route-change's open-loop sender (it keeps every request, which the load
//! engine deliberately does not); `report` is `scenario.json` and the result
//! table; `log` is the run log (`run.jsonl`) that `replay` and `report` read;
//! `resources` folds the control-plane probes into max/avg. Progress
//! goes out as `ScenarioEvent`s, so the headless and console views draw the
//! same run. All Kubernetes access goes through `kube::KubeContext`.

pub mod action;
pub mod attached;
pub mod change;
pub mod config;
pub mod failover;
pub mod fit;
pub mod log;
pub mod matrix;
pub mod objects;
pub mod probe;
pub mod report;
pub mod resources;
pub mod scale;
pub mod session;
pub mod staleness;
pub mod tables;
pub mod traffic;

use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::kube::KubeContext;
use crate::kube::KubeError;
use crate::probes::http::HttpClient;
use config::{ScenarioConfig, ScenarioKind};
use report::ScenarioReport;

/// Why a scenario could not run (as opposed to ran and failed its criteria).
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    #[error("{0}")]
    Kube(#[from] KubeError),
    #[error("{0}")]
    Setup(String),
    #[error("cannot write {path}: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
}

/// What the views draw while a scenario runs; also the scenario's run log
/// (`log`), one per line: `{"type": "scenario_event", "event": "flip", "at_s": 2.3, ...}`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum ScenarioEvent {
    /// A new phase began: a one-word label for chart markers ("setup",
    /// "teardown") and the full line for the log.
    Phase {
        #[serde(rename = "at_s", with = "secs")]
        at: Duration,
        label: String,
        text: String,
    },
    /// A line for the log.
    Log {
        #[serde(rename = "at_s", with = "secs")]
        at: Duration,
        text: String,
    },
    /// attached-routes: routes applied so far (or still present, in teardown) and the Gateway's attachedRoutes.
    Attached {
        #[serde(rename = "at_s", with = "secs")]
        at: Duration,
        applied: usize,
        attached: Option<i64>,
    },
    /// route-probe: route `index` serves; propagation in ms.
    Propagated {
        #[serde(rename = "at_s", with = "secs")]
        at: Duration,
        index: usize,
        data_plane_ms: f64,
    },
    /// route-change: answers in the last 100 ms.
    Traffic {
        #[serde(rename = "at_s", with = "secs")]
        at: Duration,
        ok: u64,
        failed: u64,
    },
    /// backend-failover, route-scale: answers per backend (in `backends` order) and failures
    /// sent in the last `interval_s`.
    Backends {
        #[serde(rename = "at_s", with = "secs")]
        at: Duration,
        interval_s: f64,
        counts: Vec<u64>,
        failed: u64,
        /// The backends' names, on the first such event only.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        names: Vec<String>,
    },
    /// route-change: the route now points at `backend`.
    Flip {
        #[serde(rename = "at_s", with = "secs")]
        at: Duration,
        iteration: u32,
        backend: String,
    },
    /// A control-plane CPU/memory reading (from the profile's sources).
    Resource {
        #[serde(rename = "at_s", with = "secs")]
        at: Duration,
        component: String,
        cpu_cores: Option<f64>,
        memory_bytes: Option<f64>,
    },
}

impl ScenarioEvent {
    /// Seconds since the scenario started.
    pub fn at(&self) -> Duration {
        match self {
            ScenarioEvent::Phase { at, .. }
            | ScenarioEvent::Log { at, .. }
            | ScenarioEvent::Attached { at, .. }
            | ScenarioEvent::Propagated { at, .. }
            | ScenarioEvent::Traffic { at, .. }
            | ScenarioEvent::Backends { at, .. }
            | ScenarioEvent::Flip { at, .. }
            | ScenarioEvent::Resource { at, .. } => *at,
        }
    }
}

/// Durations as plain seconds in the log.
mod secs {
    use std::time::Duration;

    pub fn serialize<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        crate::stats::summary::secs(d, s)
    }

    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        crate::stats::summary::de_secs(d)
    }
}

/// What every scenario works with.
pub struct Ctx {
    /// None for a scenario that needs no Kubernetes API (`ScenarioKind::needs_kube`).
    pub kube: Option<KubeContext>,
    /// The control-plane sources (traffic-matrix hands them to each cell's run).
    pub probes: crate::spec::probes::ProbesConfig,
    pub cfg: ScenarioConfig,
    /// Namespace of the routes.
    pub namespace: String,
    /// Namespace of the Gateway.
    pub gateway_namespace: String,
    pub client: HttpClient,
    pub origin: Instant,
    pub tx: mpsc::UnboundedSender<ScenarioEvent>,
    /// Cancelled on quit, Ctrl-C or SIGTERM: waits end early, clean-up still runs.
    pub cancel: CancellationToken,
}

impl Ctx {
    /// The Kubernetes context; an error for a scenario that was started without one.
    pub fn kube(&self) -> Result<&KubeContext, ScenarioError> {
        self.kube.as_ref().ok_or_else(|| {
            ScenarioError::Setup("this scenario was started without a Kubernetes API".into())
        })
    }

    pub fn now(&self) -> Duration {
        self.origin.elapsed()
    }

    pub fn since(&self, t: Instant) -> Duration {
        t.saturating_duration_since(self.origin)
    }

    pub fn log(&self, text: impl Into<String>) {
        let _ = self.tx.send(ScenarioEvent::Log {
            at: self.now(),
            text: text.into(),
        });
    }

    pub fn phase(&self, label: &'static str, text: impl Into<String>) {
        let _ = self.tx.send(ScenarioEvent::Phase {
            at: self.now(),
            label: label.to_owned(),
            text: text.into(),
        });
    }

    /// The data plane's base URL without a trailing slash.
    pub fn gateway_url(&self) -> Result<String, ScenarioError> {
        self.cfg
            .cluster
            .gateway_url
            .as_deref()
            .map(|u| u.trim_end_matches('/').to_owned())
            .ok_or_else(|| {
                ScenarioError::Setup(
                    "no data-plane address: give --gateway-url (or [scenario] gateway_url), e.g. http://203.0.113.10, the address of the Gateway's listener".into(),
                )
            })
    }

    /// The label selector of this run's routes.
    pub fn selector(&self) -> String {
        format!("{}={}", objects::LABEL, self.cfg.cluster.name_prefix)
    }

    /// Deletes routes an interrupted earlier run left behind, so counts start clean.
    pub async fn remove_leftovers(&self) -> Result<usize, ScenarioError> {
        let Some(kube) = &self.kube else {
            return Ok(0);
        };
        let names = kube.list_routes(&self.namespace, &self.selector()).await?;
        for n in &names {
            kube.delete_route(&self.namespace, n).await?;
        }
        if !names.is_empty() {
            self.log(format!(
                "removed {} route(s) labelled {} left by an earlier run",
                names.len(),
                self.selector()
            ));
        }
        Ok(names.len())
    }
}

/// Connects to the cluster (when `kind` needs it) and checks the Gateway is there, so a
/// wrong context or name fails before anything is created.
pub async fn connect(
    cfg: ScenarioConfig,
    kind: ScenarioKind,
    probes: crate::spec::probes::ProbesConfig,
    tx: mpsc::UnboundedSender<ScenarioEvent>,
    cancel: CancellationToken,
    origin: Instant,
) -> Result<Ctx, ScenarioError> {
    let client = HttpClient::new().map_err(ScenarioError::Setup)?;
    if !kind.needs_kube(&cfg) {
        let namespace = cfg.cluster.namespace.clone().unwrap_or_default();
        return Ok(Ctx {
            kube: None,
            probes,
            gateway_namespace: namespace.clone(),
            namespace,
            cfg,
            client,
            origin,
            tx,
            cancel,
        });
    }
    let kube = KubeContext::connect(&cfg.kube).await?;
    let namespace = cfg
        .cluster
        .namespace
        .clone()
        .unwrap_or_else(|| kube.namespace.clone());
    let gateway_namespace = cfg
        .cluster
        .gateway_namespace
        .clone()
        .unwrap_or_else(|| namespace.clone());
    kube.attached_routes(&gateway_namespace, &cfg.cluster.gateway)
        .await
        .map_err(|e| match e {
            KubeError::Api { code: 404, .. } => ScenarioError::Setup(format!(
                "Gateway {gateway_namespace}/{} not found ({}); create it (manifests/gateway.yaml) or name yours with --gateway",
                cfg.cluster.gateway, kube.describe
            )),
            other => ScenarioError::Kube(other),
        })?;
    Ok(Ctx {
        kube: Some(kube),
        probes,
        cfg,
        namespace,
        gateway_namespace,
        client,
        origin,
        tx,
        cancel,
    })
}

/// Runs one scenario to the end (or until cancelled) and returns its report.
/// Routes it created are removed before it returns, even when cancelled.
pub async fn run(ctx: &Ctx, kind: ScenarioKind) -> Result<ScenarioReport, ScenarioError> {
    let mut report = ScenarioReport::new(kind, ctx);
    ctx.remove_leftovers().await?;
    match kind {
        ScenarioKind::AttachedRoutes => {
            for &n in &ctx.cfg.attached.routes {
                if ctx.cancel.is_cancelled() {
                    break;
                }
                let r = attached::run(ctx, n).await?;
                report.attached_routes.push(r);
            }
        }
        ScenarioKind::RouteProbe => {
            for &n in &ctx.cfg.probe.routes {
                if ctx.cancel.is_cancelled() {
                    break;
                }
                let r = probe::run(ctx, n).await?;
                report.route_probe.push(r);
            }
        }
        ScenarioKind::RouteChange => {
            report.route_change = Some(change::run(ctx).await?);
        }
        ScenarioKind::RouteScale => {
            report.route_scale = Some(scale::run(ctx).await?);
        }
        ScenarioKind::BackendFailover => {
            report.backend_failover = Some(failover::run(ctx).await?);
        }
        ScenarioKind::Staleness => {
            report.staleness = Some(staleness::run(ctx).await?);
        }
        ScenarioKind::TrafficMatrix => {
            report.traffic_matrix = Some(matrix::run(ctx).await?);
        }
    }
    report.interrupted = ctx.cancel.is_cancelled();
    report.judge(&ctx.cfg);
    Ok(report)
}

/// Waits for `d` unless cancelled first; false if cancelled.
pub async fn pause(cancel: &CancellationToken, d: Duration) -> bool {
    tokio::select! {
        _ = cancel.cancelled() => false,
        _ = tokio::time::sleep(d) => true,
    }
}
