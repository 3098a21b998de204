//! The criteria and result tables of route-scale, backend-failover, staleness and
//! traffic-matrix (the first three scenarios' are in `report`).

use std::fmt::Write as _;

use super::config::ScenarioConfig;
use super::failover::FailoverResult;
use super::matrix::MatrixResult;
use super::scale::ScaleResult;
use super::staleness::StalenessResult;

fn opt(v: Option<f64>, unit: &str) -> String {
    v.map_or_else(|| "-".into(), |v| format!("{v:.0}{unit}"))
}

pub fn judge_scale(r: &ScaleResult, cfg: &ScenarioConfig, interrupted: bool, f: &mut Vec<String>) {
    let c = &cfg.scale;
    if r.apply_errors > 0 {
        f.push(format!("{} of {} applies failed", r.apply_errors, r.routes));
    }
    if r.ready_s.is_none() && !interrupted {
        f.push("not every route was Accepted after the initial apply".into());
    }
    if r.leak == "leak" {
        let t = r.components.iter().find(|t| t.role == "control plane");
        f.push(format!(
            "control-plane memory leak: {} MiB/h (95% {}..{}) > {} MiB/h",
            opt(t.and_then(|t| t.memory_slope_mib_per_hour), ""),
            opt(t.and_then(|t| t.memory_slope_lo), ""),
            opt(t.and_then(|t| t.memory_slope_hi), ""),
            c.max_memory_slope_mib_per_hour
        ));
    }
    if r.patch_errors > 0 {
        f.push(format!("{} patches failed", r.patch_errors));
    }
    if let Some(max) = c.max_failures.filter(|m| r.failed > *m) {
        f.push(format!("{} failed requests > max_failures {max}", r.failed));
    }
    if let Some(min) = c.min_score.filter(|m| r.score.weighted < *m) {
        f.push(format!("score {:.1} < min_score {min}", r.score.weighted));
    }
}

pub fn judge_failover(
    r: &FailoverResult,
    cfg: &ScenarioConfig,
    interrupted: bool,
    f: &mut Vec<String>,
) {
    let c = &cfg.failover;
    for k in &r.cycles {
        if let Some(e) = &k.kill_error {
            f.push(format!("kill {}: {e}", k.cycle));
            continue;
        }
        if let Some(e) = &k.revive_error {
            f.push(format!("revive {}: {e}", k.cycle));
        }
        if !k.ejected {
            f.push(format!(
                "kill {}: {} never ejected: {} requests went to it until the revive",
                k.cycle, r.flapping, k.sent_to_dead
            ));
        }
        if let (Some(max), Some(e)) = (c.max_ejection, k.ejection_ms) {
            if e > max.as_secs_f64() * 1000.0 {
                f.push(format!(
                    "kill {}: ejection {e:.0}ms > max_ejection {}",
                    k.cycle,
                    rampdeck_base::fmt::fmt_dur(max)
                ));
            }
        }
        if k.revived_at_s.is_some() && k.recovery_ms.is_none() && !interrupted {
            f.push(format!(
                "revive {}: {} got no traffic back",
                k.cycle, r.flapping
            ));
        }
    }
    if let Some(max) = c.max_sent_to_dead.filter(|m| r.sent_to_dead > *m) {
        f.push(format!(
            "{} requests went to the dead backend > max_sent_to_dead {max}",
            r.sent_to_dead
        ));
    }
    if r.failed_outside > 0 {
        f.push(format!(
            "{} requests failed while every backend was alive",
            r.failed_outside
        ));
    }
}

pub fn judge_staleness(
    r: &StalenessResult,
    cfg: &ScenarioConfig,
    interrupted: bool,
    f: &mut Vec<String>,
) {
    let c = &cfg.staleness;
    if let Some(e) = &r.roll_error {
        f.push(format!("the roll failed: {e}"));
    } else if r.rolled_at_s.is_none() && !interrupted {
        f.push("the backends were never rolled".into());
    }
    if r.after.status_503 > c.max_503 {
        f.push(format!(
            "{} answers 503 after the roll > max_503 {}",
            r.after.status_503, c.max_503
        ));
    }
    if r.after.failed() > c.max_failures {
        f.push(format!(
            "{} requests failed after the roll > max_failures {}",
            r.after.failed(),
            c.max_failures
        ));
    }
    if r.before.failed() > 0 {
        f.push(format!(
            "{} requests failed before the roll (the gateway was not serving cleanly)",
            r.before.failed()
        ));
    }
}

pub fn judge_matrix(r: &MatrixResult, f: &mut Vec<String>) {
    for c in &r.cells {
        if let Some(e) = &c.error {
            f.push(format!("{} conn {}: {e}", c.connections, c.load));
        }
    }
}

pub fn scale_table(s: &mut String, r: &ScaleResult) {
    let _ = writeln!(
        s,
        "{} routes applied in {:.2}s (all Accepted {}), {} errors",
        r.applied,
        r.apply_s,
        r.ready_s.map_or("never".into(), |v| format!("at {v:.2}s")),
        r.apply_errors
    );
    let _ = writeln!(
        s,
        "churn {:.0}s: {} patches ({} failed, {} never Accepted), {} rolls ({} failed)",
        r.churn_until_s - r.churn_from_s,
        r.patches,
        r.patch_errors,
        r.unpropagated,
        r.rolls,
        r.roll_errors
    );
    let _ = writeln!(
        s,
        "  {:<24} {:>8} {:>8} {:>8} {:>8}",
        "ms", "p50", "p90", "p99", "max"
    );
    for (name, p) in [
        ("write (apply/patch)", &r.write_ms),
        ("propagation (Accepted)", &r.propagation_ms),
        ("request latency", &r.latency_ms),
    ] {
        let _ = writeln!(
            s,
            "  {name:<24} {:>8.1} {:>8.1} {:>8.1} {:>8.1}",
            p.p50, p.p90, p.p99, p.max
        );
    }
    let _ = writeln!(
        s,
        "traffic: {} requests over {} routes, {} failed ({:.2}% ok)",
        r.requests, r.traffic_routes, r.failed, r.success_rate
    );
    let _ = writeln!(
        s,
        "  {:<20} {:>8} {:>8} {:>17} {:>9} {:>8}",
        "memory (churn)", "from MiB", "to MiB", "MiB/h (95%)", "cpu avg", "verdict"
    );
    let _ = writeln!(
        s,
        "  (slope fitted from {:.0}s to {:.0}s, the churn's second half: bounded caches fill in the first)",
        r.fit_from_s, r.churn_until_s
    );
    for t in &r.components {
        let name: String = t.name.chars().take(20).collect();
        let slope = match (
            t.memory_slope_mib_per_hour,
            t.memory_slope_lo,
            t.memory_slope_hi,
        ) {
            (Some(v), Some(lo), Some(hi)) => format!("{v:.1} ({lo:.0}..{hi:.0})"),
            _ => "-".into(),
        };
        let _ = writeln!(
            s,
            "  {name:<20} {:>8} {:>8} {slope:>17} {:>9} {:>8}",
            t.memory_start_mib.map_or("-".into(), |v| format!("{v:.1}")),
            t.memory_end_mib.map_or("-".into(), |v| format!("{v:.1}")),
            t.cpu_avg_cores.map_or("-".into(), |v| format!("{v:.3}")),
            t.leak
        );
    }
    let _ = writeln!(
        s,
        "score {:.1} = 0.8 x data plane {:.1} + 0.2 x control plane {:.1}",
        r.score.weighted, r.score.data_plane, r.score.control_plane
    );
}

pub fn failover_table(s: &mut String, r: &FailoverResult) {
    let _ = writeln!(
        s,
        "{} requests at {}/s over {} path(s) to {}; {} killed {} time(s)",
        r.requests,
        r.rate,
        r.paths,
        r.backends.join(", "),
        r.flapping,
        r.cycles.len()
    );
    let _ = writeln!(s, "  kill: {}\n  revive: {}", r.kill, r.revive);
    let shares: Vec<String> = r
        .backends
        .iter()
        .zip(&r.per_backend)
        .map(|(b, n)| format!("{b} {n}"))
        .collect();
    let _ = writeln!(
        s,
        "  answers: {}; failed {} ({} while all were alive)",
        shares.join(", "),
        r.failed,
        r.failed_outside
    );
    let _ = writeln!(
        s,
        "  detection resolution {:.1}ms (1/rate); ejected = no request to it in the last {:.0}ms before the revive",
        r.resolution_ms, r.settle_ms
    );
    let _ = writeln!(
        s,
        "  {:>4} {:>8} {:>8} {:>9} {:>12} {:>10} {:>10}",
        "kill", "at", "sent", "to dead", "ejection", "ejected", "recovery"
    );
    for k in &r.cycles {
        let _ = writeln!(
            s,
            "  {:>4} {:>7.2}s {:>8} {:>9} {:>12} {:>10} {:>10}{}",
            k.cycle,
            k.killed_at_s,
            k.sent,
            k.sent_to_dead,
            opt(k.ejection_ms, "ms"),
            if k.ejected { "yes" } else { "no" },
            opt(k.recovery_ms, "ms"),
            k.kill_error
                .as_deref()
                .or(k.revive_error.as_deref())
                .map_or(String::new(), |e| format!("  error: {e}"))
        );
    }
    let _ = writeln!(
        s,
        "  latency p50/p99 ms: while dead {:.2}/{:.2}, otherwise {:.2}/{:.2}",
        r.latency_down_ms.p50, r.latency_down_ms.p99, r.latency_up_ms.p50, r.latency_up_ms.p99
    );
}

pub fn staleness_table(s: &mut String, r: &StalenessResult) {
    let _ = writeln!(
        s,
        "{} connections x {} requests, idle {:.0}s, roll ({}), resume {:.1}s after it",
        r.connections, r.requests_per_connection, r.idle_s, r.roll, r.settle_s
    );
    let _ = writeln!(
        s,
        "  {:<12} {:>8} {:>6} {:>6} {:>7} {:>13} {:>8}",
        "phase", "requests", "ok", "503", "failed", "first failed", "p99 ms"
    );
    for (name, p) in [("before roll", &r.before), ("after roll", &r.after)] {
        let _ = writeln!(
            s,
            "  {name:<12} {:>8} {:>6} {:>6} {:>7} {:>13} {:>8.2}",
            p.requests,
            p.ok,
            p.status_503,
            p.failed(),
            p.first_request_failed,
            p.latency_ms.p99
        );
    }
    if !r.after.failures.is_empty() {
        let causes: Vec<String> = r
            .after
            .failures
            .iter()
            .map(|(k, v)| format!("{k} x{v}"))
            .collect();
        let _ = writeln!(s, "  charged to the roll: {}", causes.join(", "));
    }
    let _ = writeln!(
        s,
        "  closed by the gateway while idle: {} (reopened)",
        r.closed_while_idle
    );
}

pub fn matrix_table(s: &mut String, r: &MatrixResult) {
    let _ = writeln!(
        s,
        "{:>5} {:>6} {:>8} {:>7} {:>7} {:>7} {:>6} {:>9} {:>9}",
        "conns", "load", "req/s", "p50 ms", "p90 ms", "p99 ms", "failed", "target", "rampdeck"
    );
    for c in &r.cells {
        let target: Option<f64> = c
            .target_cpu
            .iter()
            .filter_map(|x| x.cpu_avg_cores)
            .reduce(|a, b| a + b);
        let load = match c.target_rps {
            Some(t) => format!("{t:.0}/s"),
            None => "max".into(),
        };
        let _ = writeln!(
            s,
            "{:>5} {:>6} {:>8.0} {:>7.2} {:>7.2} {:>7.2} {:>6} {:>9} {:>9}",
            c.connections,
            load,
            c.rps,
            c.latency_ms.p50,
            c.latency_ms.p90,
            c.latency_ms.p99,
            c.failed,
            target.map_or("-".into(), |v| format!("{v:.2} cpu")),
            c.rampdeck_cores
                .map_or("-".into(), |v| format!("{v:.2} cpu"))
        );
        if c.generator_limited_s > 0.0 {
            let _ = writeln!(
                s,
                "      the generator was the limit for {:.1}s: rampdeck, not the target, held this rate back",
                c.generator_limited_s
            );
        }
    }
    let _ = writeln!(
        s,
        "cpu: the target's average cores (its sources) and rampdeck's own, per cell"
    );
}
