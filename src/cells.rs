//! traffic-matrix's cells as ordinary runs: each cell's plan is a profile validated as any run's,
//! run by the run session without printing, its summary turned into the cell's row.
//!
//! This sits above `scenarios` (which may not import the session: the reports it feeds import
//! the scenarios), and the scenario is handed `runner()`.

use std::sync::Arc;
use std::time::Duration;

use crate::report::summary::Summary;
use crate::scenarios::config::MatrixConfig;
use crate::scenarios::matrix::{Cell, CellJob, CellRunner, ComponentCpu};
use crate::scenarios::ScenarioEvent;
use crate::session::{Note, RunSession, View};

/// The runner to put in `MatrixConfig::runner`.
pub fn runner() -> CellRunner {
    CellRunner(Arc::new(|job: CellJob| Box::pin(run(job))))
}

/// The cell's run as a profile: the same validation as any run.
fn cell_profile(cfg: &MatrixConfig, base: &str, conns: usize, rate: Option<f64>) -> String {
    let host = cfg
        .host
        .as_ref()
        .map_or_else(String::new, |h| format!("headers = {{ Host = {h:?} }}\n"));
    let load = match rate {
        Some(r) => format!("rate = {r}\nmax_connections = {conns}\n"),
        None => format!("concurrency = {conns}\nmax_connections = {conns}\n"),
    };
    format!(
        "name = \"traffic-matrix\"\n[target]\nurl = {:?}\n{host}[[request]]\npath = {:?}\n[load]\n{load}duration = \"{}ms\"\nwarmup = \"{}ms\"\n",
        base.trim_end_matches('/'),
        cfg.path,
        cfg.duration.as_millis() + cfg.warmup.as_millis(),
        cfg.warmup.as_millis()
    )
}

async fn run(job: CellJob) -> Result<Cell, String> {
    let text = cell_profile(&job.cfg, &job.url, job.connections, job.rate);
    let mut plan = crate::profile::parse("traffic-matrix", &text).map_err(|e| e.to_string())?;
    plan.probes.sources = job.sources.sources.clone();
    let mut session = RunSession::start(Arc::new(plan), None)
        .await
        .map_err(|e| e.to_string())?;
    session.print = crate::report::Print::Nothing;
    let stop = session.control();
    let cancel = job.cancel.clone();
    let stopper = tokio::spawn(async move {
        cancel.cancelled().await;
        let _ = stop.send(crate::engine::Control::Stop);
    });
    let cpu_before = process_cpu();
    let wall = std::time::Instant::now();
    let mut view = Progress { job: &job };
    session.drive(&mut view).await;
    let summary = session.finish(&mut view).await.map_err(|e| e.to_string());
    stopper.abort();
    let summary = summary?;
    let (cpu, took) = (process_cpu().saturating_sub(cpu_before), wall.elapsed());
    Ok(cell_of(&summary, job.connections, job.rate, cpu, took))
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
        latency_ms: s.latency_ms,
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
    job: &'a CellJob,
}

impl View for Progress<'_> {
    fn note(&mut self, note: &Note, _: &mut crate::run::RunModel) {
        if let Note::Interval(i, _) = note {
            let secs = i.len.as_secs_f64().max(1e-3);
            // Traffic carries answers per 100 ms.
            let per_100ms = |n: u64| (n as f64 * 0.1 / secs).round() as u64;
            let _ = self.job.progress.send(ScenarioEvent::Traffic {
                at: self.job.origin.elapsed(),
                ok: per_100ms(i.ok),
                failed: per_100ms(i.finished.saturating_sub(i.ok)),
            });
        }
    }
}
