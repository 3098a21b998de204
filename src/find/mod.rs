//! The capacity search: the highest rate (or concurrency) that holds the SLO, found step by step on one run session, with its knee, its cost and, for a closed loop, the Universal Scalability Law.
//!
//! `search` decides the levels (pure), `judge` folds and judges a step's
//! window (and tells the generator's limits from the target's), `driver`
//! steers a `RunSession` as a `View` through the engine's control channel,
//! `knee` and `usl` fit the curves, `result` is `capacity.json` and the
//! table. The run underneath is an ordinary run: `run.jsonl`, `summary.json`,
//! `replay` and `report` work on it.

pub mod driver;
pub mod judge;
pub mod knee;
pub mod result;
pub mod search;
pub mod steer;
pub mod usl;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use crate::session::{RunSession, SessionError, View};
use crate::spec::find::FindConfig;
use crate::spec::plan::Stage;
use crate::spec::plan::{Mode, Plan};
use result::{CapacityResult, Cost, LowestFailing};
use search::Outcome;

#[derive(Debug, thiserror::Error)]
pub enum FindError {
    #[error(transparent)]
    Session(#[from] SessionError),
    #[error(transparent)]
    Report(#[from] crate::report::summary::ReportError),
    #[error("cannot write '{path}': {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
}

/// The plan a search runs: one hold at the start level that the search
/// then moves, no warmup (each step settles on its own), and no
/// whole-run thresholds (the SLO is judged per step).
pub fn search_plan(base: &Plan, cfg: &FindConfig) -> Plan {
    let mut p = base.clone();
    p.load.mode = if cfg.closed { Mode::Closed } else { Mode::Open };
    p.load.stages = vec![Stage::hold(cfg.search.start, cfg.budget())];
    p.load.warmup = Duration::ZERO;
    if cfg.closed {
        p.load.max_connections = p.load.max_connections.max(cfg.search.max as usize);
    }
    p.thresholds.clear();
    p
}

/// Runs the search on `plan` (from `search_plan`) with `view` printing or
/// drawing it as any run; returns what it found.
pub async fn run<V: View>(
    plan: Arc<Plan>,
    cfg: FindConfig,
    out: Option<&Path>,
    view: V,
    signals: crate::signals::StopSignals,
    print: crate::report::Print,
) -> Result<(CapacityResult, crate::report::summary::Summary), FindError> {
    let mut session = RunSession::start(plan.clone(), out).await?;
    session.print = print;
    let forward = tokio::spawn(crate::headless::forward_signals(session.control(), signals));
    let mut driver = driver::Driver::new(
        cfg.clone(),
        session.control(),
        plan.load.max_connections,
        view,
    );
    session.drive(&mut driver).await;
    let summary = session.finish(&mut driver).await?;
    forward.abort();
    let result = conclude(&plan, &cfg, &driver, &summary, out)?;
    Ok((result, summary))
}

/// The result of a search `driver` steered (headless or in the console),
/// written to `out/capacity.json`.
pub fn conclude<V: View>(
    plan: &Plan,
    cfg: &FindConfig,
    driver: &driver::Driver<V>,
    summary: &crate::report::summary::Summary,
    out: Option<&Path>,
) -> Result<CapacityResult, FindError> {
    let result = assemble(
        plan,
        cfg,
        driver.steps.clone(),
        driver.outcome.clone(),
        summary,
    );
    if let Some(dir) = out {
        result.write_json(dir).map_err(|source| FindError::Write {
            path: dir.join("capacity.json").display().to_string(),
            source,
        })?;
    }
    Ok(result)
}

/// The result from the steps: the found level, the lowest failure, the
/// knee, the cost at the found level and (closed loop) the USL fit.
pub fn assemble(
    plan: &Plan,
    cfg: &FindConfig,
    steps: Vec<judge::StepRecord>,
    outcome: Option<Outcome>,
    summary: &crate::report::summary::Summary,
) -> CapacityResult {
    let outcome = outcome.unwrap_or(Outcome::NotConfirmed {
        passed: steps
            .iter()
            .filter(|s| s.verdict == "pass")
            .map(|s| s.level)
            .reduce(f64::max),
    });
    let max_sustainable = match outcome {
        Outcome::Found { level } | Outcome::AboveMax { level } => Some(level),
        _ => None,
    };
    let lowest_failing = steps
        .iter()
        .filter(|s| s.verdict == "fail")
        .min_by(|a, b| a.level.total_cmp(&b.level))
        .map(|s| LowestFailing {
            level: s.level,
            criterion: s.why.clone().unwrap_or_default(),
        });
    let curve: Vec<(f64, f64)> = steps
        .iter()
        .filter(|s| s.latency_ms.count > 0)
        .map(|s| (s.achieved, s.latency_ms.p99))
        .collect();
    // The cost at the found level: its confirmation's window.
    let at = max_sustainable.and_then(|l| {
        steps
            .iter()
            .rev()
            .find(|s| s.level == l && s.verdict == "pass")
    });
    let cost = at
        .map(|s| {
            s.components
                .iter()
                .map(|c| Cost {
                    component: c.name.clone(),
                    cpu_cores: c.cpu_avg_cores,
                    memory_bytes: c.memory_max_bytes,
                    cpu_per_1k_rps: (!cfg.closed && s.achieved > 0.0)
                        .then_some(c.cpu_avg_cores)
                        .flatten()
                        .map(|cpu| cpu / (s.achieved / 1000.0)),
                })
                .collect()
        })
        .unwrap_or_default();
    let usl = if cfg.closed {
        // Throughput against concurrency, from every step that measured.
        let pts: Vec<(f64, f64)> = steps
            .iter()
            .filter(|s| s.measured_s > 0.0 && s.requests > 0)
            .map(|s| (s.level, s.requests as f64 / s.measured_s))
            .collect();
        usl::fit(&pts)
    } else {
        None
    };
    CapacityResult {
        schema: result::SCHEMA,
        rampdeck: env!("CARGO_PKG_VERSION"),
        target: plan.target_display(),
        searched: if cfg.closed { "concurrency" } else { "rate" },
        slo: cfg
            .slo
            .iter()
            .map(|t| format!("{} {}", t.name, t.expr))
            .collect(),
        outcome,
        max_sustainable,
        lowest_failing,
        knee: if cfg.closed { None } else { knee::knee(&curve) },
        cost,
        usl,
        theory: demo_capacity(plan),
        steps,
        environment: summary.environment.clone(),
    }
}

/// What theory says a demo target can serve: when every request goes to
/// one demo route with `workers`, workers / its mean service time.
pub fn demo_capacity(plan: &Plan) -> Option<f64> {
    use rampdeck_demo::config::LatencyModel;
    let demo = plan.demo.as_ref()?;
    let mut routes = plan.requests.iter().map(|r| {
        let path = r.path.split('?').next().unwrap_or("");
        demo.routes
            .iter()
            .filter(|d| path.starts_with(&d.prefix))
            .max_by_key(|d| d.prefix.len())
    });
    let first = routes.next()??;
    if !routes.all(|r| r == Some(first)) {
        return None;
    }
    let mean = match first.latency {
        LatencyModel::Fixed(d) => d.as_secs_f64(),
        // A log-normal's mean is e^(mu + sigma²/2).
        LatencyModel::LogNormal { p50, p99 } => {
            let mu = p50.as_secs_f64().ln();
            let sigma = (p99.as_secs_f64().ln() - mu) / 2.326;
            (mu + sigma * sigma / 2.0).exp()
        }
        LatencyModel::None => return None,
    };
    (mean > 0.0).then(|| first.workers.map(|w| w as f64 / mean))?
}
