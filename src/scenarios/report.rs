//! A scenario's result: pass/fail against its criteria, `scenario.json`, and the table printed at the end.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::attached::AttachedResult;
use super::change::ChangeResult;
use super::config::{ScenarioConfig, ScenarioKind};
use super::probe::ProbeResult;
use super::resources::Resources;
use super::{Ctx, ScenarioError};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Passed,
    Failed,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScenarioReport {
    pub scenario: ScenarioKind,
    pub rampdeck_version: &'static str,
    /// The kubeconfig context and API server.
    pub cluster: String,
    pub namespace: String,
    pub gateway: String,
    pub gateway_url: Option<String>,
    pub outcome: Outcome,
    /// Each criterion that failed, worded for the operator.
    pub failed_criteria: Vec<String>,
    /// Stopped early (quit, Ctrl-C, SIGTERM): what ran is reported, and fails.
    pub interrupted: bool,
    /// One entry per route count.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub attached_routes: Vec<AttachedResult>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub route_probe: Vec<ProbeResult>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub route_change: Option<ChangeResult>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub route_scale: Option<super::scale::ScaleResult>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backend_failover: Option<super::failover::FailoverResult>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub staleness: Option<super::staleness::StalenessResult>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub traffic_matrix: Option<super::matrix::MatrixResult>,
    /// Max and average CPU and memory per control-plane component, from the profile's sources.
    pub control_plane: Resources,
}

impl ScenarioReport {
    pub fn new(kind: ScenarioKind, ctx: &Ctx) -> Self {
        ScenarioReport {
            scenario: kind,
            rampdeck_version: env!("CARGO_PKG_VERSION"),
            cluster: ctx
                .kube
                .as_ref()
                .map_or_else(|| "no Kubernetes API".to_owned(), |k| k.describe.clone()),
            namespace: ctx.namespace.clone(),
            gateway: if ctx.kube.is_some() {
                format!("{}/{}", ctx.gateway_namespace, ctx.cfg.cluster.gateway)
            } else {
                "not used".to_owned()
            },
            gateway_url: ctx.cfg.cluster.gateway_url.clone(),
            outcome: Outcome::Passed,
            failed_criteria: Vec::new(),
            interrupted: false,
            attached_routes: Vec::new(),
            route_probe: Vec::new(),
            route_change: None,
            route_scale: None,
            backend_failover: None,
            staleness: None,
            traffic_matrix: None,
            control_plane: Resources::default(),
        }
    }

    /// Applies the pass criteria of the scenario that ran.
    pub fn judge(&mut self, cfg: &ScenarioConfig) {
        let mut f = Vec::new();
        if self.interrupted {
            f.push("interrupted before the end".to_owned());
        }
        for r in &self.attached_routes {
            let n = r.routes;
            if r.apply_errors > 0 {
                f.push(format!("{n} routes: {} applies failed", r.apply_errors));
            }
            match r.setup_s {
                // An interrupted run stopped waiting: not the controller's failure.
                None if self.interrupted => {}
                None => f.push(format!(
                    "{n} routes: attachedRoutes never reached {}",
                    r.baseline_attached + r.applied as i64
                )),
                Some(s) => {
                    if let Some(max) = cfg.attached.max_setup.filter(|m| s > m.as_secs_f64()) {
                        f.push(format!(
                            "{n} routes: setup {s:.2}s > max_setup {}",
                            secs(max)
                        ));
                    }
                }
            }
            match r.teardown_s {
                None if self.interrupted => {}
                None => f.push(format!(
                    "{n} routes: attachedRoutes never returned to {}",
                    r.baseline_attached
                )),
                Some(s) => {
                    if let Some(max) = cfg.attached.max_teardown.filter(|m| s > m.as_secs_f64()) {
                        f.push(format!(
                            "{n} routes: teardown {s:.2}s > max_teardown {}",
                            secs(max)
                        ));
                    }
                }
            }
        }
        for r in &self.route_probe {
            let n = r.routes;
            if r.propagated < n && !self.interrupted {
                f.push(format!("{n} routes: only {} answered 200", r.propagated));
            }
            if r.error_count > cfg.probe.max_errors {
                f.push(format!(
                    "{n} routes: {} error answers (not 200 or 404) > max_errors {}",
                    r.error_count, cfg.probe.max_errors
                ));
            }
            if let Some(max) = cfg.probe.max_p99 {
                let p99 = r.data_plane_ms.p99;
                if p99 > max.as_secs_f64() * 1000.0 {
                    f.push(format!(
                        "{n} routes: propagation p99 {p99:.1}ms > max_p99 {}",
                        secs(max)
                    ));
                }
            }
        }
        if let Some(c) = &self.route_change {
            if c.failed > cfg.change.max_failures {
                f.push(format!(
                    "{} failed requests > max_failures {}",
                    c.failed, cfg.change.max_failures
                ));
            }
            let bad_flips = c.flips.iter().filter(|x| x.error.is_some()).count();
            if bad_flips > 0 {
                f.push(format!("{bad_flips} flips failed to apply"));
            }
        }
        use super::tables;
        if let Some(r) = &self.route_scale {
            tables::judge_scale(r, cfg, self.interrupted, &mut f);
        }
        if let Some(r) = &self.backend_failover {
            tables::judge_failover(r, cfg, self.interrupted, &mut f);
        }
        if let Some(r) = &self.staleness {
            tables::judge_staleness(r, cfg, self.interrupted, &mut f);
        }
        if let Some(r) = &self.traffic_matrix {
            tables::judge_matrix(r, &mut f);
        }
        self.outcome = if f.is_empty() {
            Outcome::Passed
        } else {
            Outcome::Failed
        };
        self.failed_criteria = f;
    }

    /// Writes `dir/scenario.json`.
    pub fn write(&self, dir: &Path) -> Result<PathBuf, ScenarioError> {
        let path = dir.join("scenario.json");
        let err = |source| ScenarioError::Write {
            path: path.display().to_string(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(err)?;
        let text = serde_json::to_string_pretty(self).map_err(|e| err(std::io::Error::other(e)))?;
        std::fs::write(&path, text + "\n").map_err(err)?;
        Ok(path)
    }

    /// The result table printed when the scenario ends.
    pub fn table(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "{} against {} ({}; Gateway {})",
            self.scenario.name(),
            self.gateway_url.as_deref().unwrap_or("-"),
            self.cluster,
            self.gateway
        );
        if !self.attached_routes.is_empty() {
            let _ = writeln!(
                s,
                "{:>7} {:>7} {:>9} {:>9} {:>11} {:>10} {:>11} {:>13}",
                "routes",
                "writers",
                "apply",
                "setup",
                "setup total",
                "teardown",
                "max attached",
                "status writes"
            );
            for r in &self.attached_routes {
                let _ = writeln!(
                    s,
                    "{:>7} {:>7} {:>9} {:>9} {:>11} {:>10} {:>11} {:>13}",
                    r.routes,
                    r.writers,
                    fmt_s(Some(r.apply_s)),
                    fmt_s(r.setup_s),
                    fmt_s(r.setup_total_s),
                    fmt_s(r.teardown_s),
                    r.max_attached,
                    r.status_writes_setup + r.status_writes_teardown
                );
            }
        }
        for r in &self.route_probe {
            let _ = writeln!(
                s,
                "{} routes, {} serving, {} probes",
                r.routes, r.propagated, r.polls
            );
            let _ = writeln!(
                s,
                "  {:<22} {:>9} {:>9} {:>9} {:>9} {:>9}",
                "propagation (ms)", "p50", "p90", "p99", "max", "mean"
            );
            for (name, p) in [
                ("data plane", &r.data_plane_ms),
                ("control plane (watch)", &r.control_plane_ms),
                ("apply", &r.apply_ms),
                ("route (apply to 200)", &r.route_ms),
            ] {
                let _ = writeln!(
                    s,
                    "  {name:<22} {:>9.1} {:>9.1} {:>9.1} {:>9.1} {:>9.1}",
                    p.p50, p.p90, p.p99, p.max, p.mean
                );
            }
            let errors = if r.errors.is_empty() {
                "none".to_owned()
            } else {
                r.errors
                    .iter()
                    .map(|(k, v)| {
                        if *k == 0 {
                            format!("no answer x{v}")
                        } else {
                            format!("HTTP {k} x{v}")
                        }
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let _ = writeln!(s, "  errors (not 200/404): {errors}");
        }
        if let Some(c) = &self.route_change {
            let how = if c.closed_loop {
                format!("as fast as answers came ({:.0}/s)", c.rate)
            } else {
                format!("at {}/s", c.rate)
            };
            let _ = writeln!(
                s,
                "{} requests {how}, {} flips every {:.0}ms: {} ok, {} failed",
                c.requests,
                c.flips.len(),
                c.period_ms,
                c.ok,
                c.failed
            );
            // What "no drops" can mean: an outage shorter than the longest
            // gap between two requests can fall between them, unseen.
            let _ = writeln!(s, "  {}", resolution_line(c));
            let _ = writeln!(
                s,
                "  {:<8} {:>9} {:>9} {:>9} {:>9} {:>7}",
                "latency", "p50 ms", "p90 ms", "p99 ms", "max ms", "count"
            );
            for (name, p) in [
                ("before", &c.latency_before_ms),
                ("during", &c.latency_during_ms),
                ("after", &c.latency_after_ms),
            ] {
                let _ = writeln!(
                    s,
                    "  {name:<8} {:>9.2} {:>9.2} {:>9.2} {:>9.2} {:>7}",
                    p.p50, p.p90, p.p99, p.max, p.count
                );
            }
            let _ = writeln!(
                s,
                "  {:>4} {:<10} {:>9} {:>8} {:>9} {:>11} {:>11} {:>6} {:>7}",
                "flip",
                "to",
                "apply ms",
                "requests",
                "new share",
                "first new",
                "last old",
                "drops",
                "before"
            );
            for f in &c.flips {
                let _ = writeln!(
                    s,
                    "  {:>4} {:<10} {:>9} {:>8} {:>9} {:>11} {:>11} {:>6} {:>7}{}",
                    f.iteration,
                    f.backend,
                    f.apply_ms.map_or("-".into(), |v| format!("{v:.1}")),
                    f.requests,
                    f.new_share
                        .map_or("-".into(), |v| format!("{:.0}%", v * 100.0)),
                    f.first_new_ms.map_or("-".into(), |v| format!("+{v:.0}ms")),
                    f.last_old_ms.map_or("-".into(), |v| format!("+{v:.0}ms")),
                    f.drops,
                    f.before,
                    f.error
                        .as_deref()
                        .map_or(String::new(), |e| format!("  error: {e}"))
                );
            }
            if !c.failures.is_empty() {
                let _ = writeln!(s, "  failed requests (offset from the nearest flip):");
                for f in c.failures.iter().take(50) {
                    let _ = writeln!(
                        s,
                        "    t={:.3}s flip {} {:+.0}ms {}",
                        f.sent_s, f.flip, f.offset_ms, f.answer
                    );
                }
                if c.failures.len() > 50 {
                    let _ = writeln!(s, "    ... {} more in scenario.json", c.failures.len() - 50);
                }
            }
        }
        if let Some(r) = &self.route_scale {
            super::tables::scale_table(&mut s, r);
        }
        if let Some(r) = &self.backend_failover {
            super::tables::failover_table(&mut s, r);
        }
        if let Some(r) = &self.staleness {
            super::tables::staleness_table(&mut s, r);
        }
        if let Some(r) = &self.traffic_matrix {
            super::tables::matrix_table(&mut s, r);
        }
        for (name, r) in &self.control_plane.0 {
            let r = r.summary();
            let _ = writeln!(
                s,
                "control plane {name}: cpu avg {} max {}, memory avg {} max {} ({} samples)",
                cores(r.cpu_avg_cores),
                cores(r.cpu_max_cores),
                mib(r.memory_avg_bytes),
                mib(r.memory_max_bytes),
                r.samples
            );
        }
        match self.outcome {
            Outcome::Passed => {
                let _ = writeln!(s, "PASSED");
            }
            Outcome::Failed => {
                let _ = writeln!(s, "FAILED: {}", self.failed_criteria.join("; "));
            }
        }
        s
    }
}

fn secs(d: std::time::Duration) -> String {
    rampdeck_base::fmt::fmt_dur(d)
}

fn fmt_s(v: Option<f64>) -> String {
    v.map_or_else(|| "-".into(), |v| format!("{v:.3}s"))
}

fn cores(v: Option<f64>) -> String {
    v.map_or_else(|| "-".into(), |v| format!("{v:.3} cores"))
}

fn mib(v: Option<f64>) -> String {
    v.map_or_else(|| "-".into(), |v| format!("{:.1} MiB", v / 1048576.0))
}

/// How short an outage route-change could have seen, in words.
pub fn resolution_line(c: &super::change::ChangeResult) -> String {
    if c.closed_loop {
        format!(
            "detection resolution {:.1}ms: requests went every {:.2}ms (median) while flipping, at most {:.1}ms apart; an outage shorter than that can go unseen",
            c.resolution_ms, c.send_gap_ms.p50, c.resolution_ms
        )
    } else {
        format!(
            "detection resolution {:.1}ms: an outage shorter than one request interval (1/rate) can go unseen; raise --rate, or use --max-rate, to see shorter ones",
            c.resolution_ms
        )
    }
}
