//! traffic-matrix: gateway-api-bench's benchtool matrix in one command: 1, 16 and 512
//! connections, each at max rate (closed loop, one request in flight per connection) and at a
//! fixed rate (open loop, coordinated-omission corrected), on rampdeck's own engine; per cell
//! the achieved rate, p50/p90/p99, errors, the target's CPU (from the sources) and rampdeck's.
//!
//! Each cell is an ordinary run (`RunSession`), so its numbers are a run's numbers: the
//! generator's own limit is reported per cell (`generator_limited_s`) and never passes for the
//! target's.

use std::time::Duration;

use serde::Serialize;

use super::{Ctx, ScenarioError, ScenarioEvent};
use crate::report::summary::Summary;
use crate::session::{Note, RunSession, View};
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

fn failed_cell(connections: usize, target: Option<f64>, error: String) -> Cell {
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

/// The cell's run as a profile: the same validation as any run.
fn cell_profile(
    cfg: &super::config::MatrixConfig,
    base: &str,
    conns: usize,
    fixed: bool,
) -> String {
    let host = cfg
        .host
        .as_ref()
        .map_or_else(String::new, |h| format!("headers = {{ Host = {h:?} }}\n"));
    let load = if fixed {
        format!("rate = {}\nmax_connections = {conns}\n", cfg.rate)
    } else {
        format!("concurrency = {conns}\nmax_connections = {conns}\n")
    };
    format!(
        "name = \"traffic-matrix\"\n[target]\nurl = {base:?}\n{host}[[request]]\npath = {:?}\n[load]\n{load}duration = \"{}ms\"\nwarmup = \"{}ms\"\n",
        cfg.path,
        cfg.duration.as_millis() + cfg.warmup.as_millis(),
        cfg.warmup.as_millis()
    )
}

async fn run_cell(ctx: &Ctx, base: &str, conns: usize, fixed: bool) -> Result<Cell, String> {
    let cfg = &ctx.cfg.matrix;
    let text = cell_profile(cfg, base, conns, fixed);
    let mut plan = crate::profile::parse("traffic-matrix", &text).map_err(|e| e.to_string())?;
    plan.probes.sources = ctx.probes.sources.clone();
    let plan = std::sync::Arc::new(plan);
    let mut session = RunSession::start(plan, None)
        .await
        .map_err(|e| e.to_string())?;
    session.print = crate::report::Print::Nothing;
    let stop = session.control();
    let cancel = ctx.cancel.clone();
    let stopper = tokio::spawn(async move {
        cancel.cancelled().await;
        let _ = stop.send(crate::engine::Control::Stop);
    });
    let cpu_before = process_cpu();
    let wall = std::time::Instant::now();
    let mut view = Progress { ctx };
    session.drive(&mut view).await;
    let summary = session.finish(&mut view).await.map_err(|e| e.to_string());
    stopper.abort();
    let summary = summary?;
    let (cpu, took) = (process_cpu().saturating_sub(cpu_before), wall.elapsed());
    Ok(cell_of(
        &summary,
        conns,
        fixed.then_some(cfg.rate),
        cpu,
        took,
    ))
}

fn cell_of(s: &Summary, conns: usize, target: Option<f64>, cpu: Duration, took: Duration) -> Cell {
    let cores = (took.as_secs_f64() > 0.0).then(|| cpu.as_secs_f64() / took.as_secs_f64());
    // Every request the cell sent, warmup included, cost CPU: divide by all of them.
    let all = s.sent.max(s.requests);
    Cell {
        connections: conns,
        load: if target.is_some() { "fixed" } else { "max" },
        target_rps: target,
        rps: s.rps,
        requests: s.requests,
        failed: s.failed,
        success_rate: s.success_rate,
        latency_ms: s.latency_ms.clone(),
        target_cpu: s
            .components
            .iter()
            .map(|c| ComponentCpu {
                name: c.name.clone(),
                cpu_avg_cores: c.cpu_avg_cores,
                memory_max_bytes: c.memory_max_bytes,
            })
            .collect(),
        rampdeck_cores: cores,
        rampdeck_cpu_s_per_100k: (all > 0).then(|| cpu.as_secs_f64() * 100_000.0 / all as f64),
        generator_limited_s: s.generator_limited_s,
        not_sent: s.not_sent,
        error: s.aborted.clone(),
    }
}

/// The process's CPU time (every thread).
fn process_cpu() -> Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ProcessCPUTime);
    Duration::new(
        t.tv_sec.max(0) as u64,
        t.tv_nsec.clamp(0, 999_999_999) as u32,
    )
}

/// Each interval's answers go to the scenario's chart.
struct Progress<'a> {
    ctx: &'a Ctx,
}

impl View for Progress<'_> {
    fn note(&mut self, note: &Note, _: &mut crate::run::RunModel) {
        if let Note::Interval(i, _) = note {
            let secs = i.len.as_secs_f64().max(1e-3);
            // Traffic carries answers per 100 ms.
            let per_100ms = |n: u64| (n as f64 * 0.1 / secs).round() as u64;
            let _ = self.ctx.tx.send(ScenarioEvent::Traffic {
                at: self.ctx.now(),
                ok: per_100ms(i.ok),
                failed: per_100ms(i.finished.saturating_sub(i.ok)),
            });
        }
    }
}
