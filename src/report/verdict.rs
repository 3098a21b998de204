//! Noise-aware compare of repeated runs: a direction-aware verdict per metric from the bootstrap interval of its change, and the A/A noise table.
//!
//! A metric regressed only when the whole 95% interval of its change lies
//! on the worse side beyond the tolerance; it improved when the whole
//! interval lies beyond the tolerance on the better side; anything else is
//! noise: no change past the tolerance that these runs can show. (A small
//! shift whose interval misses zero is still called noise: with a handful
//! of runs a percentile bootstrap is narrow, and two sets of one build
//! drift apart by that much.) So a single slow run cannot fail a gate, and
//! a tolerance is never "passed" by a change too noisy to judge: the table
//! says when the interval is wider than the tolerance on both sides.

use std::fmt::Write;

use serde::Serialize;

use super::compare::{Scale, Tolerances, Worse};
use super::repeats::{num, MetricRuns, RunSet};
use crate::stats::bootstrap::{self, Change, Interval, Sample};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StatVerdict {
    Regression,
    Improvement,
    /// No change past the tolerance that the runs can show.
    Noise,
    /// In one set only, or with no value to compare.
    Missing,
}

#[derive(Debug, Clone, Serialize)]
pub struct StatRow {
    pub metric: String,
    pub base: Option<f64>,
    pub new: Option<f64>,
    /// NEW against BASE: percent (relative metrics) or points.
    pub change: Option<f64>,
    /// 95% bootstrap interval of `change`.
    pub ci95: Option<[f64; 2]>,
    pub tolerance: f64,
    pub scale: Scale,
    pub worse: Worse,
    pub verdict: StatVerdict,
    /// The interval is wider than the tolerance on both sides of zero:
    /// these runs cannot tell a change of that size from noise.
    pub too_noisy: bool,
    /// Coefficient of variation over runs, percent, per set.
    pub base_cv_pct: Option<f64>,
    pub new_cv_pct: Option<f64>,
}

pub struct StatCompare {
    pub base_runs: usize,
    pub new_runs: usize,
    pub rows: Vec<StatRow>,
}

fn change_kind(scale: Scale) -> Change {
    match scale {
        Scale::Relative => Change::Relative,
        Scale::Points => Change::Points,
    }
}

fn merged(m: &MetricRuns) -> Option<Sample<'_>> {
    m.pooled.as_ref().map(Sample::Merged)
}

fn cv(m: &MetricRuns) -> Option<f64> {
    bootstrap::Spread::of(&m.present()).and_then(|s| s.cv_pct())
}

/// Judges every metric of NEW against BASE, resampling each set by run.
pub fn compare(base: &RunSet, new: &RunSet, tol: &Tolerances) -> StatCompare {
    let names = super::compare::error_names_of(base.results.iter().chain(&new.results));
    let old = super::repeats::metric_runs(base, &names);
    let newer = super::repeats::metric_runs(new, &names);
    let mut order: Vec<&str> = old.iter().map(|m| m.name.as_str()).collect();
    for m in &newer {
        if !order.contains(&m.name.as_str()) {
            order.push(&m.name);
        }
    }
    let rows = order
        .into_iter()
        .map(|name| {
            let (o, n) = (
                old.iter().find(|m| m.name == name),
                newer.iter().find(|m| m.name == name),
            );
            row(name, o, n, tol)
        })
        // A metric neither set has a value for (CPU from one sample) says nothing.
        .filter(|r| r.base.is_some() || r.new.is_some())
        .collect();
    StatCompare {
        base_runs: base.runs.len(),
        new_runs: new.runs.len(),
        rows,
    }
}

fn row(name: &str, o: Option<&MetricRuns>, n: Option<&MetricRuns>, tol: &Tolerances) -> StatRow {
    let (worse, scale) = o
        .or(n)
        .map_or((Worse::Higher, Scale::Relative), |m| (m.worse, m.scale));
    let tolerance = tol.of(name, scale);
    let mut r = StatRow {
        metric: name.to_owned(),
        base: o.and_then(MetricRuns::point),
        new: n.and_then(MetricRuns::point),
        change: None,
        ci95: None,
        tolerance,
        scale,
        worse,
        verdict: StatVerdict::Missing,
        too_noisy: false,
        base_cv_pct: o.and_then(cv),
        new_cv_pct: n.and_then(cv),
    };
    let (Some(o), Some(n)) = (o, n) else {
        return r;
    };
    let (op, np) = (o.present(), n.present());
    let kind = change_kind(scale);
    let interval = match (merged(o), merged(n)) {
        (Some(a), Some(b)) => bootstrap::change_interval(&a, &b, kind),
        _ if !op.is_empty() && !np.is_empty() => {
            bootstrap::change_interval(&Sample::Values(&op), &Sample::Values(&np), kind)
        }
        _ => None,
    };
    r.change = match (r.base, r.new) {
        (Some(a), Some(b)) => kind.of(a, b),
        _ => None,
    };
    if r.base.is_some() && r.new.is_none() && scale == Scale::Points {
        // The new set completed nothing where the base had a rate: no pass.
        r.verdict = StatVerdict::Regression;
        return r;
    }
    let Some(Interval { lo, hi }) = interval else {
        return r;
    };
    r.ci95 = Some([lo, hi]);
    // The interval as "how much worse": up for latency, down for throughput.
    let (wlo, whi) = match worse {
        Worse::Higher => (lo, hi),
        Worse::Lower => (-hi, -lo),
    };
    r.verdict = if wlo > tolerance {
        StatVerdict::Regression
    } else if whi < -tolerance {
        StatVerdict::Improvement
    } else {
        StatVerdict::Noise
    };
    r.too_noisy = wlo < -tolerance && whi > tolerance;
    r
}

pub fn has_regression(c: &StatCompare) -> bool {
    c.rows.iter().any(|r| r.verdict == StatVerdict::Regression)
}

fn unit(scale: Scale) -> &'static str {
    match scale {
        Scale::Relative => "%",
        Scale::Points => "pt",
    }
}

fn change_text(r: &StatRow) -> (String, String) {
    let u = unit(r.scale);
    let c = r
        .change
        .map_or_else(|| "-".to_owned(), |c| format!("{c:+.1}{u}"));
    let ci = r.ci95.map_or_else(
        || "-".to_owned(),
        |[lo, hi]| format!("{lo:+.1} .. {hi:+.1}{u}"),
    );
    (c, ci)
}

fn verdict_text(r: &StatRow) -> String {
    let u = unit(r.scale);
    let t = r.tolerance;
    let dir = |worse_up: bool| if worse_up { "higher" } else { "lower" };
    match r.verdict {
        StatVerdict::Regression if r.new.is_none() => {
            "REGRESSION (the new runs completed no requests)".to_owned()
        }
        StatVerdict::Regression => format!(
            "REGRESSION ({} beyond {t}{u}, past the noise)",
            dir(r.worse == Worse::Higher)
        ),
        StatVerdict::Improvement => format!("improvement (beyond {t}{u}, past the noise)"),
        StatVerdict::Noise if r.too_noisy => {
            format!("noise (interval wider than ±{t}{u}: too few or too noisy runs to judge)")
        }
        StatVerdict::Noise => format!("noise (within {t}{u})"),
        StatVerdict::Missing => "only in one set".to_owned(),
    }
}

/// The verdict table, for a terminal.
pub fn render(c: &StatCompare) -> String {
    let mut s = format!(
        "Compared {} base run{} with {} new run{} (95% bootstrap intervals, resampling runs):\n",
        c.base_runs,
        if c.base_runs == 1 { "" } else { "s" },
        c.new_runs,
        if c.new_runs == 1 { "" } else { "s" },
    );
    if c.base_runs == 1 || c.new_runs == 1 {
        s.push_str(
            "  (a set of one run shows no spread: the intervals hold only the other set's noise)\n",
        );
    }
    let w = super::repeats::name_width(c.rows.iter().map(|r| r.metric.as_str()));
    let _ = writeln!(
        s,
        "  {:<w$}{:>11}{:>11}{:>9}{:>19}  verdict",
        "metric", "base", "new", "change", "95% interval"
    );
    for r in &c.rows {
        let (ch, ci) = change_text(r);
        let v = |x: Option<f64>| x.map_or_else(|| "-".to_owned(), num);
        let _ = writeln!(
            s,
            "  {:<w$}{:>11}{:>11}{:>9}{:>19}  {}",
            r.metric,
            v(r.base),
            v(r.new),
            ch,
            ci,
            verdict_text(r)
        );
    }
    s
}

/// The verdict table as Markdown, for release notes.
pub fn markdown(c: &StatCompare, title: &str) -> String {
    let regressions = c
        .rows
        .iter()
        .filter(|r| r.verdict == StatVerdict::Regression)
        .count();
    let improvements = c
        .rows
        .iter()
        .filter(|r| r.verdict == StatVerdict::Improvement)
        .count();
    let mut s = format!("## {title}\n\n");
    let _ = writeln!(
        s,
        "**{}**: {regressions} regression{}, {improvements} improvement{} ({} base run{}, {} new run{}; a verdict stands only when the 95% interval of the change clears the tolerance).\n",
        if regressions > 0 { "Regressed" } else { "No regression" },
        if regressions == 1 { "" } else { "s" },
        if improvements == 1 { "" } else { "s" },
        c.base_runs,
        if c.base_runs == 1 { "" } else { "s" },
        c.new_runs,
        if c.new_runs == 1 { "" } else { "s" },
    );
    s.push_str("| metric | base | new | change | 95% interval | verdict |\n| --- | ---: | ---: | ---: | ---: | --- |\n");
    for r in c.rows.iter().filter(|r| r.verdict != StatVerdict::Missing) {
        let (ch, ci) = change_text(r);
        let v = |x: Option<f64>| x.map_or_else(|| "-".to_owned(), num);
        let verdict = verdict_text(r);
        let verdict = if r.verdict == StatVerdict::Regression {
            format!("**{verdict}**")
        } else {
            verdict
        };
        let unit = match super::trend::unit_of(&r.metric, r.scale) {
            "" => String::new(),
            u => format!(" ({u})"),
        };
        let _ = writeln!(
            s,
            "| `{}`{unit} | {} | {} | {ch} | {ci} | {verdict} |",
            r.metric,
            v(r.base),
            v(r.new)
        );
    }
    s
}

/// A/A: two sets of the same build. Each metric's measured noise: the
/// interval of the change (which should hold zero), each set's spread,
/// and a tolerance that would have kept this pair quiet with room to spare.
pub fn render_noise(c: &StatCompare) -> String {
    let mut s = format!(
        "A/A noise: {} and {} runs of the same build; a tolerance below the suggested one will flag noise as change.\n",
        c.base_runs, c.new_runs
    );
    let w = super::repeats::name_width(c.rows.iter().map(|r| r.metric.as_str()));
    let _ = writeln!(
        s,
        "  {:<w$}{:>9}{:>19}{:>9}{:>9}  suggested tolerance",
        "metric", "change", "95% interval", "cv base", "cv new"
    );
    let mut flags = Vec::new();
    for r in c.rows.iter().filter(|r| r.ci95.is_some()) {
        let (ch, ci) = change_text(r);
        let cv = |x: Option<f64>| x.map_or_else(|| "-".to_owned(), |c| format!("{c:.1}%"));
        let suggested = suggested_tolerance(r);
        let _ = writeln!(
            s,
            "  {:<w$}{:>9}{:>19}{:>9}{:>9}  {}",
            r.metric,
            ch,
            ci,
            cv(r.base_cv_pct),
            cv(r.new_cv_pct),
            suggested.map_or_else(|| "-".to_owned(), |t| format!("{t}{}", unit(r.scale)))
        );
        if let Some(t) = suggested {
            flags.push(format!("{}={t}", r.metric));
        }
        if matches!(
            r.verdict,
            StatVerdict::Regression | StatVerdict::Improvement
        ) {
            let _ = writeln!(
                s,
                "    ! {} changed between two sets of one build: the testbed is not steady",
                r.metric
            );
        }
    }
    if !flags.is_empty() {
        let _ = writeln!(
            s,
            "\n  As flags: {}",
            flags
                .iter()
                .map(|f| if f.contains(' ') {
                    format!("--tolerance-for '{f}'")
                } else {
                    format!("--tolerance-for {f}")
                })
                .collect::<Vec<_>>()
                .join(" ")
        );
    }
    s
}

/// Half again the largest distance of the A/A interval from zero, rounded
/// up to a readable step: noise that large stays quiet under it.
pub fn suggested_tolerance(r: &StatRow) -> Option<f64> {
    let [lo, hi] = r.ci95?;
    let reach = lo.abs().max(hi.abs()) * 1.5;
    let step = match r.scale {
        Scale::Relative => 0.5,
        Scale::Points => 0.01,
    };
    Some(((reach / step).ceil() * step).max(step))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn set(p50s: &[f64]) -> RunSet {
        let results: Vec<_> = p50s
            .iter()
            .map(|p| {
                json!({
                    "schema": 1, "requests": 1000, "ok": 1000, "errors": {},
                    "rps": 100.0, "success_rate": 100.0,
                    "latency_ms": {"p50": p, "p95": p * 1.5, "p99": p * 2.0},
                    "service_time_ms": {"p99": p * 2.0},
                    "components": [], "probes": [],
                })
            })
            .collect();
        RunSet {
            path: "x".into(),
            runs: p50s.iter().map(|_| "r".into()).collect(),
            results,
            kind: super::super::compare::ResultKind::Run,
        }
    }

    fn verdict(c: &StatCompare, m: &str) -> StatVerdict {
        c.rows.iter().find(|r| r.metric == m).unwrap().verdict
    }

    #[test]
    fn verdicts_follow_the_interval_and_the_direction() {
        let tol = Tolerances {
            default_pct: 5.0,
            ..Default::default()
        };
        let base = set(&[5.0, 5.05, 4.95, 5.02, 4.98]);
        let slower = set(&[5.5, 5.55, 5.45, 5.52, 5.48]);
        let c = compare(&base, &slower, &tol);
        assert_eq!(verdict(&c, "p50"), StatVerdict::Regression);
        let c = compare(&slower, &base, &tol);
        assert_eq!(verdict(&c, "p50"), StatVerdict::Improvement);
        let same = set(&[5.01, 4.97, 5.04, 4.99, 5.0]);
        let c = compare(&base, &same, &tol);
        assert_eq!(verdict(&c, "p50"), StatVerdict::Noise);
        assert_eq!(verdict(&c, "rps"), StatVerdict::Noise);
        assert!(!has_regression(&c));
        // A small shift past zero but not past the tolerance is no verdict.
        let a_bit = set(&[5.1, 5.12, 5.09, 5.11, 5.1]);
        let c = compare(&base, &a_bit, &tol);
        assert_eq!(verdict(&c, "p50"), StatVerdict::Noise);
        // One slow run among five does not clear the noise.
        let one_slow = set(&[5.0, 5.05, 4.95, 7.5, 4.98]);
        let c = compare(&base, &one_slow, &tol);
        assert_ne!(verdict(&c, "p50"), StatVerdict::Regression);
        let text = render_noise(&compare(&base, &same, &tol));
        assert!(text.contains("--tolerance-for p50="), "{text}");
    }

    #[test]
    fn a_suggested_tolerance_covers_the_noise() {
        let r = StatRow {
            metric: "p99".into(),
            base: None,
            new: None,
            change: None,
            ci95: Some([-3.2, 2.1]),
            tolerance: 10.0,
            scale: Scale::Relative,
            worse: Worse::Higher,
            verdict: StatVerdict::Noise,
            too_noisy: false,
            base_cv_pct: None,
            new_cv_pct: None,
        };
        assert_eq!(suggested_tolerance(&r), Some(5.0));
    }
}
