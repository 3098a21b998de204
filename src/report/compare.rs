//! Baselines: compare two runs' summaries metric by metric and call regressions past a tolerance.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::Value;

#[derive(Debug, thiserror::Error)]
pub enum CompareError {
    #[error("cannot read '{path}': {source} (give a run's --out directory or its summary.json)")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("'{path}' is not a rampdeck summary: {message}")]
    NotSummary { path: PathBuf, message: String },
    #[error("--tolerance-for '{0}': write it as METRIC=PERCENT, e.g. p99=20")]
    BadTolerance(String),
}

/// Which way is worse for a metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Worse {
    Higher,
    Lower,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Ok,
    Better,
    Regression,
    /// In only one of the two runs.
    Missing,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Row {
    pub metric: String,
    pub old: Option<f64>,
    pub new: Option<f64>,
    pub delta_pct: Option<f64>,
    pub tolerance_pct: f64,
    pub worse: Worse,
    pub verdict: Verdict,
}

/// Percent change each metric may worsen by before it is a regression.
#[derive(Debug, Clone)]
pub struct Tolerances {
    pub default_pct: f64,
    pub per_metric: BTreeMap<String, f64>,
}

impl Default for Tolerances {
    fn default() -> Self {
        Tolerances {
            default_pct: 10.0,
            per_metric: BTreeMap::new(),
        }
    }
}

impl Tolerances {
    /// Parses `METRIC=PERCENT` overrides, e.g. `p99=20` or `component.destination.cpu_max=25`.
    pub fn with_overrides(default_pct: f64, overrides: &[String]) -> Result<Self, CompareError> {
        let mut t = Tolerances {
            default_pct,
            per_metric: BTreeMap::new(),
        };
        for o in overrides {
            let (k, v) = o
                .split_once('=')
                .ok_or_else(|| CompareError::BadTolerance(o.clone()))?;
            let v: f64 = v
                .trim()
                .trim_end_matches('%')
                .parse()
                .map_err(|_| CompareError::BadTolerance(o.clone()))?;
            t.per_metric.insert(k.trim().to_owned(), v);
        }
        Ok(t)
    }

    fn of(&self, metric: &str) -> f64 {
        self.per_metric
            .get(metric)
            .copied()
            .unwrap_or(self.default_pct)
    }
}

/// Reads a summary from a run directory or a summary.json path.
pub fn load(path: &Path) -> Result<Value, CompareError> {
    let file = if path.is_dir() {
        path.join("summary.json")
    } else {
        path.to_owned()
    };
    let text = std::fs::read_to_string(&file).map_err(|source| CompareError::Read {
        path: file.clone(),
        source,
    })?;
    let v: Value = serde_json::from_str(&text).map_err(|e| CompareError::NotSummary {
        path: file.clone(),
        message: e.to_string(),
    })?;
    if v["schema"].as_u64().is_none() || v["latency_ms"].is_null() {
        return Err(CompareError::NotSummary {
            path: file,
            message: "no 'schema' or 'latency_ms' key".into(),
        });
    }
    Ok(v)
}

/// The metrics compared: latency p95/p99, service p99, throughput, and per
/// component CPU and memory maxima and per probe p95, where either run has them.
fn metrics(s: &Value) -> Vec<(String, Option<f64>, Worse)> {
    let mut m = vec![
        (
            "p95".to_owned(),
            s["latency_ms"]["p95"].as_f64(),
            Worse::Higher,
        ),
        (
            "p99".to_owned(),
            s["latency_ms"]["p99"].as_f64(),
            Worse::Higher,
        ),
        (
            "service_p99".to_owned(),
            s["service_time_ms"]["p99"].as_f64(),
            Worse::Higher,
        ),
        ("rps".to_owned(), s["rps"].as_f64(), Worse::Lower),
    ];
    for c in s["components"].as_array().into_iter().flatten() {
        let name = c["name"].as_str().unwrap_or("?");
        m.push((
            format!("component.{name}.cpu_max"),
            c["cpu_max_cores"].as_f64(),
            Worse::Higher,
        ));
        m.push((
            format!("component.{name}.memory_max"),
            c["memory_max_bytes"].as_f64(),
            Worse::Higher,
        ));
    }
    for p in s["probes"].as_array().into_iter().flatten() {
        let name = p["name"].as_str().unwrap_or("?");
        m.push((
            format!("probe.{name}.p95"),
            p["p95_ms"].as_f64(),
            Worse::Higher,
        ));
    }
    m
}

pub fn compare(base: &Value, new: &Value, tol: &Tolerances) -> Vec<Row> {
    let old = metrics(base);
    let newer = metrics(new);
    let mut names: Vec<String> = old.iter().map(|m| m.0.clone()).collect();
    for (n, ..) in &newer {
        if !names.contains(n) {
            names.push(n.clone());
        }
    }
    names
        .into_iter()
        .map(|name| {
            let find = |list: &[(String, Option<f64>, Worse)]| {
                list.iter().find(|m| m.0 == name).map(|m| (m.1, m.2))
            };
            let (o, n) = (find(&old), find(&newer));
            let worse = o.or(n).map_or(Worse::Higher, |x| x.1);
            let (old_v, new_v) = (o.and_then(|x| x.0), n.and_then(|x| x.0));
            let tolerance_pct = tol.of(&name);
            let delta_pct = match (old_v, new_v) {
                (Some(a), Some(b)) if a != 0.0 => Some((b - a) / a * 100.0),
                (Some(_), Some(0.0)) => Some(0.0),
                _ => None,
            };
            let verdict = match (old_v, new_v, delta_pct) {
                (Some(_), Some(_), Some(d)) => {
                    let worse_by = if worse == Worse::Higher { d } else { -d };
                    if worse_by > tolerance_pct {
                        Verdict::Regression
                    } else if worse_by < -tolerance_pct {
                        Verdict::Better
                    } else {
                        Verdict::Ok
                    }
                }
                // From zero to something: only a regression if worse is up.
                (Some(_), Some(b), None) => {
                    if (worse == Worse::Higher) == (b > 0.0) {
                        Verdict::Regression
                    } else {
                        Verdict::Better
                    }
                }
                _ => Verdict::Missing,
            };
            Row {
                metric: name,
                old: old_v,
                new: new_v,
                delta_pct,
                tolerance_pct,
                worse,
                verdict,
            }
        })
        .collect()
}

pub fn has_regression(rows: &[Row]) -> bool {
    rows.iter().any(|r| r.verdict == Verdict::Regression)
}

pub fn render(rows: &[Row]) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "  {:<36}{:>12}{:>12}{:>10}  verdict",
        "metric", "base", "new", "delta"
    );
    let v = |x: Option<f64>| {
        x.map_or_else(
            || "-".to_owned(),
            |x| {
                if x.abs() >= 1e5 {
                    format!("{x:.3e}")
                } else {
                    format!("{x:.3}")
                }
            },
        )
    };
    for r in rows {
        let delta = r
            .delta_pct
            .map_or_else(|| "-".to_owned(), |d| format!("{d:+.1}%"));
        let verdict = match r.verdict {
            Verdict::Ok => format!("ok (within {}%)", r.tolerance_pct),
            Verdict::Better => "better".to_owned(),
            Verdict::Regression => format!(
                "REGRESSION (more than {}% {})",
                r.tolerance_pct,
                if r.worse == Worse::Higher {
                    "higher"
                } else {
                    "lower"
                }
            ),
            Verdict::Missing => "only in one run".to_owned(),
        };
        let _ = writeln!(
            s,
            "  {:<36}{:>12}{:>12}{:>10}  {verdict}",
            r.metric,
            v(r.old),
            v(r.new),
            delta
        );
    }
    s
}

/// One line per run for `--history FILE`: enough to draw a trend.
pub fn history_line(s: &Value) -> Value {
    serde_json::json!({
        "started_at": s["started_at"],
        "profile": s["profile"],
        "profile_sha256": s["environment"]["profile_sha256"],
        "git_commit": s["environment"]["git_commit"],
        "requests": s["requests"],
        "rps": s["rps"],
        "success_rate": s["success_rate"],
        "p50_ms": s["latency_ms"]["p50"],
        "p95_ms": s["latency_ms"]["p95"],
        "p99_ms": s["latency_ms"]["p99"],
        "thresholds_passed": s["thresholds_passed"],
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn summary(p99: f64, rps: f64, cpu: f64) -> Value {
        json!({
            "schema": 1,
            "rps": rps,
            "latency_ms": {"p95": p99 / 2.0, "p99": p99},
            "service_time_ms": {"p99": 5.0},
            "components": [{"name": "cp", "cpu_max_cores": cpu, "memory_max_bytes": 1e8}],
            "probes": [],
        })
    }

    fn verdict(rows: &[Row], metric: &str) -> Verdict {
        rows.iter()
            .find(|r| r.metric == metric)
            .map(|r| r.verdict)
            .unwrap()
    }

    #[test]
    fn worse_beyond_tolerance_is_a_regression_either_way() {
        let rows = compare(
            &summary(100.0, 1000.0, 0.5),
            &summary(115.0, 880.0, 0.52),
            &Tolerances::default(),
        );
        assert_eq!(verdict(&rows, "p99"), Verdict::Regression, "15% slower");
        assert_eq!(
            verdict(&rows, "rps"),
            Verdict::Regression,
            "12% less throughput"
        );
        assert_eq!(
            verdict(&rows, "component.cp.cpu_max"),
            Verdict::Ok,
            "4% more CPU"
        );
        assert!(has_regression(&rows));
        let rows = compare(
            &summary(100.0, 1000.0, 0.5),
            &summary(80.0, 1200.0, 0.5),
            &Tolerances::default(),
        );
        assert_eq!(verdict(&rows, "p99"), Verdict::Better);
        assert_eq!(verdict(&rows, "rps"), Verdict::Better);
        assert!(!has_regression(&rows));
    }

    #[test]
    fn tolerances_can_be_set_per_metric() {
        let t = Tolerances::with_overrides(10.0, &["p99=20".into()]).unwrap();
        let rows = compare(
            &summary(100.0, 1000.0, 0.5),
            &summary(115.0, 1000.0, 0.5),
            &t,
        );
        assert_eq!(verdict(&rows, "p99"), Verdict::Ok);
        assert!(Tolerances::with_overrides(10.0, &["p99".into()]).is_err());
    }

    #[test]
    fn metrics_in_one_run_only_are_listed_not_judged() {
        let mut new = summary(100.0, 1000.0, 0.5);
        new["components"] = json!([]);
        let rows = compare(&summary(100.0, 1000.0, 0.5), &new, &Tolerances::default());
        assert_eq!(verdict(&rows, "component.cp.cpu_max"), Verdict::Missing);
        assert!(!has_regression(&rows));
    }
}
