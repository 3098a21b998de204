//! traffic-matrix: gateway-api-bench's benchtool matrix in one command: 1, 16 and 512
//! connections, each at max rate (closed loop, one request in flight per connection) and at a
//! fixed rate (open loop, coordinated-omission corrected), on rampdeck's own engine; per cell
//! the achieved rate, p50/p90/p99, errors, the target's CPU (from the sources) and rampdeck's.
//!
//! Each cell is an ordinary run (`rampdeck::cells` runs it), so its numbers are a run's
//! numbers: the generator's own limit is reported per cell (`generator_limited_s`) and never
//! passes for the target's.

use serde::Serialize;

use super::{Ctx, ScenarioError, ScenarioEvent};
use crate::stats::Percentiles;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MatrixResult {
    pub rate: f64,
    pub duration_s: f64,
    pub cells: Vec<Cell>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Cell {
    pub connections: usize,
    /// "max" or "fixed".
    pub load: &'static str,
    /// The fixed rate asked for (None at max rate).
    pub target_rps: Option<f64>,
    pub rps: f64,
    pub requests: u64,
    pub failed: u64,
    pub success_rate: f64,
    pub latency_ms: Percentiles,
    /// Average cores of each source (the target's planes) over the cell.
    pub target_cpu: Vec<ComponentCpu>,
    /// rampdeck's own cores over the cell, and CPU-seconds per 100k requests.
    pub rampdeck_cores: Option<f64>,
    pub rampdeck_cpu_s_per_100k: Option<f64>,
    /// Seconds the schedule ran late because rampdeck, not the target, was the limit.
    pub generator_limited_s: f64,
    pub not_sent: u64,
    pub error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ComponentCpu {
    pub name: String,
    pub cpu_avg_cores: Option<f64>,
    pub memory_max_bytes: Option<f64>,
}

pub async fn run(ctx: &Ctx) -> Result<MatrixResult, ScenarioError> {
    let cfg = &ctx.cfg.matrix;
    let base = ctx.gateway_url()?;
    let mut cells = Vec::new();
    for &conns in &cfg.connections {
        for fixed in [false, true] {
            if ctx.cancel.is_cancelled() {
                break;
            }
            let label = if fixed {
                format!("{conns} conn at {}/s", cfg.rate)
            } else {
                format!("{conns} conn at max")
            };
            ctx.phase(
                if fixed { "fixed" } else { "max" },
                format!("traffic-matrix: {label}"),
            );
            let cell = match run_cell(ctx, &base, conns, fixed).await {
                Ok(c) => c,
                Err(e) => {
                    ctx.log(format!("traffic-matrix: {label}: {e}"));
                    failed_cell(conns, fixed.then_some(cfg.rate), e)
                }
            };
            ctx.log(format!(
                "traffic-matrix: {label}: {:.0} req/s, p50 {:.2} ms, p99 {:.2} ms, {} failed",
                cell.rps, cell.latency_ms.p50, cell.latency_ms.p99, cell.failed
            ));
            cells.push(cell);
        }
    }
    Ok(MatrixResult {
        rate: cfg.rate,
        duration_s: cfg.duration.as_secs_f64(),
        cells,
    })
}

pub fn failed_cell(connections: usize, target: Option<f64>, error: String) -> Cell {
    Cell {
        connections,
        load: if target.is_some() { "fixed" } else { "max" },
        target_rps: target,
        rps: 0.0,
        requests: 0,
        failed: 0,
        success_rate: 0.0,
        latency_ms: Percentiles::default(),
        target_cpu: Vec::new(),
        rampdeck_cores: None,
        rampdeck_cpu_s_per_100k: None,
        generator_limited_s: 0.0,
        not_sent: 0,
        error: Some(error),
    }
}

/// One cell to run.
pub struct CellJob {
    /// The gateway's base URL.
    pub url: String,
    pub connections: usize,
    /// The fixed rate, or None for max rate (closed loop).
    pub rate: Option<f64>,
    pub cfg: super::config::MatrixConfig,
    /// The scenario's sources: the target's CPU per cell.
    pub sources: crate::spec::probes::ProbesConfig,
    /// Each interval's answers go here, for the chart.
    pub progress: tokio::sync::mpsc::UnboundedSender<ScenarioEvent>,
    pub origin: std::time::Instant,
    pub cancel: tokio_util::sync::CancellationToken,
}

type CellFuture = std::pin::Pin<Box<dyn std::future::Future<Output = Result<Cell, String>> + Send>>;

/// Runs a cell as an ordinary run. The runner lives above this room (`rampdeck::cells`):
/// it needs the run session, whose reports import the scenarios.
#[derive(Clone)]
pub struct CellRunner(pub std::sync::Arc<dyn Fn(CellJob) -> CellFuture + Send + Sync>);

impl PartialEq for CellRunner {
    fn eq(&self, other: &Self) -> bool {
        std::sync::Arc::ptr_eq(&self.0, &other.0)
    }
}

impl std::fmt::Debug for CellRunner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CellRunner")
    }
}

async fn run_cell(ctx: &Ctx, base: &str, conns: usize, fixed: bool) -> Result<Cell, String> {
    let cfg = &ctx.cfg.matrix;
    let Some(runner) = &cfg.runner else {
        return Err(
            "no cell runner: the caller sets MatrixConfig::runner (rampdeck::cells::runner())"
                .into(),
        );
    };
    (runner.0)(CellJob {
        url: base.to_owned(),
        connections: conns,
        rate: fixed.then_some(cfg.rate),
        cfg: cfg.clone(),
        sources: ctx.probes.clone(),
        progress: ctx.tx.clone(),
        origin: ctx.origin,
        cancel: ctx.cancel.clone(),
    })
    .await
}
