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
    #[error("{flag} '{value}': a tolerance is a number 0 or more (percent, or percentage points for success_rate and errors.*)")]
    BadNumber { flag: &'static str, value: String },
    #[error("--tolerance-for '{0}': not a metric; metrics are {METRIC_NAMES}")]
    UnknownMetric(String),
}

/// What `--tolerance-for` may name (component and probe names are the runs' own).
pub const METRIC_NAMES: &str = "p50, p95, p99, service_p99, rps, success_rate, errors.KIND (e.g. errors.connect_refused, errors.http_503), component.NAME.cpu_max, component.NAME.memory_max, probe.NAME.p95, stage.NAME.p99 and epoch.N.p99 (also .p95, .rps, .success_rate); for scenarios attached.N.setup_total_s (and setup_s, apply_s, teardown_s, status_writes_setup, apply_errors, delete_errors), probe.N.data_plane_p99 (and _p50, control_plane_p50/p99, error_count, propagated), change.failed_per_flip, change.success_rate, change.during_p99, control_plane.NAME.cpu_max, control_plane.NAME.memory_max; for capacity searches capacity.max_sustainable (and knee, lowest_failing), cost.NAME.cpu_per_1k_rps";

/// Which way is worse for a metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Worse {
    Higher,
    Lower,
}

/// How a metric's change is measured against its tolerance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Scale {
    /// Percent of the base value (latencies, rates, CPU).
    Relative,
    /// Percentage points (success rate, error shares): from 0% errors, any
    /// relative change is infinite, and 99.9% to 99% success is only a 0.9%
    /// relative drop while the failures grew tenfold.
    Points,
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
    /// Relative change, percent of the base value.
    pub delta_pct: Option<f64>,
    /// The tolerance, in the metric's scale (percent or points).
    pub tolerance_pct: f64,
    pub scale: Scale,
    pub worse: Worse,
    pub verdict: Verdict,
}

/// Default tolerance of the points-scaled metrics (success rate, error shares).
pub const DEFAULT_POINTS: f64 = 0.1;

/// How much each metric may worsen by before it is a regression.
#[derive(Debug, Clone)]
pub struct Tolerances {
    /// Percent, for relative metrics.
    pub default_pct: f64,
    /// Percentage points, for success_rate and errors.*.
    pub default_points: f64,
    pub per_metric: BTreeMap<String, f64>,
}

impl Default for Tolerances {
    fn default() -> Self {
        Tolerances {
            default_pct: 10.0,
            default_points: DEFAULT_POINTS,
            per_metric: BTreeMap::new(),
        }
    }
}

fn tolerance_number(flag: &'static str, text: &str) -> Result<f64, CompareError> {
    text.trim()
        .trim_end_matches('%')
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite() && *v >= 0.0)
        .ok_or_else(|| CompareError::BadNumber {
            flag,
            value: text.to_owned(),
        })
}

/// Whether `kind` is a name `summary.json`'s `errors` uses: an error
/// kind (`connect_refused`, `grpc_unavailable`, ...) or `http_NNN`.
fn is_error_name(kind: &str) -> bool {
    if let Some(code) = kind.strip_prefix("http_") {
        return code.len() == 3 && code.parse::<u16>().is_ok_and(|c| (100..=599).contains(&c));
    }
    serde_json::from_value::<crate::stats::ErrorKind>(Value::String(kind.to_owned())).is_ok()
}

/// The `--tolerance-for` names of components and probes that neither run
/// has: a tolerance that can never apply is a typo, not a setting.
pub fn unmatched_tolerances(base: &Value, new: &Value, tol: &Tolerances) -> Vec<String> {
    let kinds = error_names([base, new]);
    let known: Vec<String> = metrics(base, &kinds)
        .into_iter()
        .chain(metrics(new, &kinds))
        .map(|m| m.name)
        .collect();
    tol.per_metric
        .keys()
        .filter(|k| {
            k.starts_with("component.")
                || k.starts_with("stage.")
                || k.starts_with("epoch.")
                || (k.starts_with("probe.") && k.ends_with(".p95"))
        })
        .filter(|k| !known.contains(k))
        .cloned()
        .collect()
}

/// Whether `name` is something `compare` can produce.
fn is_metric_name(name: &str) -> bool {
    if ["p50", "p95", "p99", "service_p99", "rps", "success_rate"].contains(&name) {
        return true;
    }
    let parts: Vec<&str> = name.split('.').collect();
    match parts.as_slice() {
        ["errors", kind] => is_error_name(kind),
        ["component", rest @ .., last] if !rest.is_empty() => {
            ["cpu_max", "memory_max"].contains(last)
        }
        ["probe", rest @ .., "p95"] => !rest.is_empty(),
        // Scenario results (`report::scenario_compare`).
        ["attached", n, _] | ["probe", n, _] => n.parse::<u64>().is_ok(),
        ["change", k] => ["failed_per_flip", "success_rate", "during_p99"].contains(k),
        ["epoch", n, k] => {
            n.parse::<u64>().is_ok_and(|n| n >= 1)
                && ["p95", "p99", "rps", "success_rate"].contains(k)
        }
        ["stage", n, k] => !n.is_empty() && ["p95", "p99", "rps", "success_rate"].contains(k),
        ["control_plane", .., k] => ["cpu_max", "memory_max"].contains(k),
        // Capacity searches (`report::capacity_compare`).
        ["capacity", k] => ["max_sustainable", "knee", "lowest_failing"].contains(k),
        ["cost", rest @ .., "cpu_per_1k_rps"] => !rest.is_empty(),
        _ => false,
    }
}

impl Tolerances {
    /// Parses `METRIC=PERCENT` overrides, e.g. `p99=20` or `component.destination.cpu_max=25`.
    pub fn with_overrides(default_pct: f64, overrides: &[String]) -> Result<Self, CompareError> {
        if !default_pct.is_finite() || default_pct < 0.0 {
            return Err(CompareError::BadNumber {
                flag: "--tolerance",
                value: default_pct.to_string(),
            });
        }
        let mut t = Tolerances {
            default_pct,
            ..Tolerances::default()
        };
        for o in overrides {
            let (k, v) = o
                .split_once('=')
                .ok_or_else(|| CompareError::BadTolerance(o.clone()))?;
            let k = k.trim();
            if !is_metric_name(k) {
                return Err(CompareError::UnknownMetric(o.clone()));
            }
            let v = tolerance_number("--tolerance-for", v)?;
            t.per_metric.insert(k.to_owned(), v);
        }
        Ok(t)
    }

    /// The tolerance of `metric`: its own, else its scale's default.
    pub fn of(&self, metric: &str, scale: Scale) -> f64 {
        self.per_metric.get(metric).copied().unwrap_or(match scale {
            Scale::Relative => self.default_pct,
            Scale::Points => self.default_points,
        })
    }
}

/// Reads a summary from a run directory or a summary.json path, and
/// refuses one whose schema or field types are not what this rampdeck
/// writes: a gate must not pass on numbers it could not read.
pub fn load(path: &Path) -> Result<Value, CompareError> {
    let (file, v) = read_json(path, "summary.json")?;
    check_shape(&v).map_err(|message| CompareError::NotSummary {
        path: file,
        message,
    })?;
    Ok(v)
}

/// Reads the JSON document at `path`, or `name` inside it if it is a directory.
pub fn read_json(path: &Path, name: &str) -> Result<(PathBuf, Value), CompareError> {
    let file = if path.is_dir() {
        path.join(name)
    } else {
        path.to_owned()
    };
    let text = crate::util::files::read_text(&file, crate::util::files::SUMMARY).map_err(|e| {
        CompareError::Read {
            path: file.clone(),
            source: std::io::Error::other(e.to_string()),
        }
    })?;
    let v: Value = serde_json::from_str(&text).map_err(|e| CompareError::NotSummary {
        path: file.clone(),
        message: e.to_string(),
    })?;
    Ok((file, v))
}

/// The fields `compare` reads, with their types.
pub fn check_shape(v: &Value) -> Result<(), String> {
    let schema = super::summary::SCHEMA as u64;
    match v["schema"].as_u64() {
        Some(s) if s == schema => {}
        Some(s) => {
            return Err(format!(
                "its schema is {s}; this rampdeck reads schema {schema}"
            ))
        }
        None => return Err("no 'schema' number".into()),
    }
    let number = |path: &str, x: &Value| -> Result<(), String> {
        match x.as_f64() {
            Some(f) if f.is_finite() => Ok(()),
            _ => Err(format!("'{path}' must be a number, found {x}")),
        }
    };
    let count = |path: &str, x: &Value| -> Result<(), String> {
        x.as_u64()
            .map(|_| ())
            .ok_or_else(|| format!("'{path}' must be a whole number 0 or more, found {x}"))
    };
    count("requests", &v["requests"])?;
    count("ok", &v["ok"])?;
    number("rps", &v["rps"])?;
    number("success_rate", &v["success_rate"])?;
    for (table, keys) in [
        ("latency_ms", &["p50", "p95", "p99"][..]),
        ("service_time_ms", &["p99"][..]),
    ] {
        if !v[table].is_object() {
            return Err(format!("'{table}' must be an object of percentiles"));
        }
        for k in keys {
            number(&format!("{table}.{k}"), &v[table][k])?;
        }
    }
    for table in ["errors", "status_codes"] {
        match &v[table] {
            Value::Object(m) => {
                for (k, x) in m {
                    count(&format!("{table}.{k}"), x)?;
                }
            }
            Value::Null => {}
            other => return Err(format!("'{table}' must be an object, found {other}")),
        }
    }
    for list in ["components", "probes"] {
        if !(v[list].is_array() || v[list].is_null()) {
            return Err(format!("'{list}' must be a list"));
        }
    }
    Ok(())
}

/// One metric of one run, as `compare_metrics` takes it.
pub struct MetricValue {
    pub name: String,
    pub value: Option<f64>,
    pub worse: Worse,
    pub scale: Scale,
}

impl MetricValue {
    pub fn new(name: String, value: Option<f64>, worse: Worse, scale: Scale) -> Self {
        MetricValue {
            name,
            value,
            worse,
            scale,
        }
    }
}

fn metric(name: impl Into<String>, value: Option<f64>, worse: Worse, scale: Scale) -> MetricValue {
    MetricValue {
        name: name.into(),
        value,
        worse,
        scale,
    }
}

/// The metrics compared: latency p95/p99, service p99, throughput, success
/// rate, each error kind's share of requests, and per component CPU and
/// memory maxima and per probe p95, where either run has them.
fn metrics(s: &Value, error_names: &[String]) -> Vec<MetricValue> {
    use Scale::{Points, Relative};
    // Latency is of successful responses: with none there is no latency,
    // not a 0 ms that reads as "better -100%".
    let successes = s["ok"].as_u64().unwrap_or(0) > 0;
    let latency = |v: &Value| v.as_f64().filter(|_| successes);
    let mut m = vec![
        metric(
            "p50",
            latency(&s["latency_ms"]["p50"]),
            Worse::Higher,
            Relative,
        ),
        metric(
            "p95",
            latency(&s["latency_ms"]["p95"]),
            Worse::Higher,
            Relative,
        ),
        metric(
            "p99",
            latency(&s["latency_ms"]["p99"]),
            Worse::Higher,
            Relative,
        ),
        metric(
            "service_p99",
            latency(&s["service_time_ms"]["p99"]),
            Worse::Higher,
            Relative,
        ),
        metric("rps", s["rps"].as_f64(), Worse::Lower, Relative),
    ];
    let requests = s["requests"].as_u64().unwrap_or(0);
    // With no requests there is no rate of anything: a run that sent
    // nothing cannot pass as 100% successful (or 0% failing).
    let share = |n: u64| (requests > 0).then(|| 100.0 * n as f64 / requests as f64);
    m.push(metric(
        "success_rate",
        share(s["ok"].as_u64().unwrap_or(0)),
        Worse::Lower,
        Points,
    ));
    for kind in error_names {
        let n = s["errors"][kind].as_u64().unwrap_or(0);
        m.push(metric(
            format!("errors.{kind}"),
            share(n),
            Worse::Higher,
            Points,
        ));
    }
    for c in s["components"].as_array().into_iter().flatten() {
        let name = c["name"].as_str().unwrap_or("?");
        m.push(metric(
            format!("component.{name}.cpu_max"),
            c["cpu_max_cores"].as_f64(),
            Worse::Higher,
            Relative,
        ));
        m.push(metric(
            format!("component.{name}.memory_max"),
            c["memory_max_bytes"].as_f64(),
            Worse::Higher,
            Relative,
        ));
    }
    for p in s["probes"].as_array().into_iter().flatten() {
        let name = p["name"].as_str().unwrap_or("?");
        m.push(metric(
            format!("probe.{name}.p95"),
            p["p95_ms"].as_f64(),
            Worse::Higher,
            Relative,
        ));
    }
    // One level at a time, where a run has more than one: each stage (by
    // name, else number) and each epoch.
    for (list, prefix) in [(&s["stages"], "stage"), (&s["epochs"], "epoch")] {
        let rows = list.as_array().map_or(&[][..], Vec::as_slice);
        if rows.len() < 2 {
            continue;
        }
        for r in rows {
            let id = match r["name"].as_str() {
                Some(n) if prefix == "stage" => n.to_owned(),
                _ => r["index"].as_u64().unwrap_or(0).to_string(),
            };
            let ok = r["latency"]["count"].as_u64().unwrap_or(0) > 0;
            let lat = |k: &str| r["latency"][k].as_f64().filter(|_| ok);
            m.push(metric(
                format!("{prefix}.{id}.p95"),
                lat("p95"),
                Worse::Higher,
                Relative,
            ));
            m.push(metric(
                format!("{prefix}.{id}.p99"),
                lat("p99"),
                Worse::Higher,
                Relative,
            ));
            m.push(metric(
                format!("{prefix}.{id}.rps"),
                r["achieved"].as_f64(),
                Worse::Lower,
                Relative,
            ));
            m.push(metric(
                format!("{prefix}.{id}.success_rate"),
                r["success_rate"].as_f64(),
                Worse::Lower,
                Points,
            ));
        }
    }
    m
}

/// What kind of result a summary is: a run, a scenario or a capacity search.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ResultKind {
    Run,
    Scenario,
    Capacity,
}

impl ResultKind {
    pub fn of(v: &Value) -> ResultKind {
        if super::capacity_compare::is_capacity(v) {
            ResultKind::Capacity
        } else if super::scenario_compare::is_scenario(v) {
            ResultKind::Scenario
        } else {
            ResultKind::Run
        }
    }
}

/// The metrics `compare` judges in one result of any kind; `error_names`
/// are the error kinds of every result being compared (a kind one run
/// lacks is 0% there, not missing).
pub fn metrics_of(v: &Value, error_names: &[String]) -> Vec<MetricValue> {
    match ResultKind::of(v) {
        ResultKind::Capacity => super::capacity_compare::metrics(v),
        ResultKind::Scenario => super::scenario_compare::metrics(v),
        ResultKind::Run => metrics(v, error_names),
    }
}

/// The error kinds any of `runs` had.
pub fn error_names_of<'a>(runs: impl IntoIterator<Item = &'a Value>) -> Vec<String> {
    let mut names: Vec<String> = runs
        .into_iter()
        .filter_map(|r| r["errors"].as_object())
        .flat_map(|m| m.keys().cloned())
        .collect();
    names.sort();
    names.dedup();
    names
}

fn error_names(runs: [&Value; 2]) -> Vec<String> {
    error_names_of(runs)
}

pub fn compare(base: &Value, new: &Value, tol: &Tolerances) -> Vec<Row> {
    let kinds = error_names([base, new]);
    compare_metrics(metrics(base, &kinds), metrics(new, &kinds), tol)
}

/// Rows for two runs' metrics: each judged against its tolerance.
pub fn compare_metrics(
    old: Vec<MetricValue>,
    newer: Vec<MetricValue>,
    tol: &Tolerances,
) -> Vec<Row> {
    let mut names: Vec<String> = old.iter().map(|m| m.name.clone()).collect();
    for m in &newer {
        if !names.contains(&m.name) {
            names.push(m.name.clone());
        }
    }
    names
        .into_iter()
        .map(|name| {
            let find = |list: &[MetricValue]| {
                list.iter()
                    .find(|m| m.name == name)
                    .map(|m| (m.value, m.worse, m.scale))
            };
            let (o, n) = (find(&old), find(&newer));
            let (worse, scale) = o
                .or(n)
                .map_or((Worse::Higher, Scale::Relative), |x| (x.1, x.2));
            let (old_v, new_v) = (o.and_then(|x| x.0), n.and_then(|x| x.0));
            let tolerance_pct = tol.of(&name, scale);
            let delta_pct = match (old_v, new_v) {
                (Some(a), Some(b)) if a != 0.0 => Some((b - a) / a * 100.0),
                (Some(_), Some(0.0)) => Some(0.0),
                _ => None,
            };
            let change = match (scale, old_v, new_v) {
                (Scale::Points, Some(a), Some(b)) => Some(b - a),
                (Scale::Relative, _, _) => delta_pct,
                _ => None,
            };
            let verdict = match (old_v, new_v, change) {
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
                // The new run has nothing to judge where the base had a
                // value (it sent no requests, say): that is no pass.
                (Some(_), None, _) if scale == Scale::Points => Verdict::Regression,
                _ => Verdict::Missing,
            };
            Row {
                metric: name,
                old: old_v,
                new: new_v,
                delta_pct,
                tolerance_pct,
                scale,
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
    for r in rows {
        // Memory in MiB, not 2.018e7 bytes.
        let memory = r.metric.ends_with("memory_max");
        let v = |x: Option<f64>| {
            x.map_or_else(
                || "-".to_owned(),
                |x| {
                    if memory {
                        format!("{:.1} MiB", x / (1024.0 * 1024.0))
                    } else if x.abs() >= 1e5 {
                        format!("{x:.3e}")
                    } else {
                        format!("{x:.3}")
                    }
                },
            )
        };
        let delta = match (r.scale, r.old, r.new) {
            (Scale::Points, Some(a), Some(b)) => format!("{:+.2}pt", b - a),
            _ => r
                .delta_pct
                .map_or_else(|| "-".to_owned(), |d| format!("{d:+.1}%")),
        };
        let unit = match r.scale {
            Scale::Relative => "%",
            Scale::Points => " points",
        };
        let verdict = match r.verdict {
            Verdict::Ok => format!("ok (within {}{unit})", r.tolerance_pct),
            Verdict::Better => "better".to_owned(),
            Verdict::Regression if r.new.is_none() => {
                "REGRESSION (the new run has no value: it completed no requests)".to_owned()
            }
            Verdict::Regression => format!(
                "REGRESSION (more than {}{unit} {})",
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

/// What makes two results not like for like: another profile (by its
/// hash), another target, another mode. Empty when they match or a side
/// does not say.
pub fn mismatches(base: &Value, new: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for (what, b, n) in [
        (
            "profile",
            &base["environment"]["profile_sha256"],
            &new["environment"]["profile_sha256"],
        ),
        ("target", &base["target"], &new["target"]),
        ("mode", &base["mode"], &new["mode"]),
        ("search", &base["searched"], &new["searched"]),
    ] {
        if let (Some(b), Some(n)) = (b.as_str(), n.as_str()) {
            // A local server's port is ephemeral (the demo picks one each run).
            if what == "target" && same_loopback_server(b, n) {
                continue;
            }
            if b != n {
                let short = |s: &str| {
                    if what == "profile" {
                        format!("sha256 {}", &s[..s.len().min(12)])
                    } else {
                        format!("'{s}'")
                    }
                };
                out.push(format!("{what}: {} against {}", short(b), short(n)));
            }
        }
    }
    out
}

/// Two URLs that differ at most in the port of a loopback host.
fn same_loopback_server(a: &str, b: &str) -> bool {
    let strip = |u: &str| -> Option<(String, String)> {
        let (scheme, rest) = u.split_once("://")?;
        let (authority, path) = rest.split_once('/').map_or((rest, ""), |(a, p)| (a, p));
        let host = match authority.rsplit_once(':') {
            Some((h, port)) if port.chars().all(|c| c.is_ascii_digit()) => h,
            _ => authority,
        };
        ["127.0.0.1", "[::1]", "localhost"]
            .contains(&host)
            .then(|| (format!("{scheme}://{host}"), path.to_owned()))
    };
    matches!((strip(a), strip(b)), (Some(x), Some(y)) if x == y)
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
            "requests": 1000,
            "ok": 1000,
            "success_rate": 100.0,
            "errors": {},
            "rps": rps,
            "latency_ms": {"p50": p99 / 4.0, "p95": p99 / 2.0, "p99": p99},
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
    fn results_of_another_profile_target_or_mode_are_named() {
        let run = |sha: &str, target: &str, mode: &str| json!({"environment": {"profile_sha256": sha}, "target": target, "mode": mode});
        let a = run("aaaaaaaaaaaaaaaa", "http://10.0.0.1:80", "open");
        assert!(mismatches(&a, &a).is_empty());
        let b = run("bbbbbbbbbbbbbbbb", "http://10.0.0.2:80", "closed");
        let m = mismatches(&a, &b);
        assert_eq!(m.len(), 3, "{m:?}");
        assert!(m[0].starts_with("profile: sha256 aaaaaaaaaaaa against"));
        // The demo's port changes every run: the same local server.
        let d1 = run("a", "http://127.0.0.1:38413", "open");
        let d2 = run("a", "http://127.0.0.1:40001", "open");
        assert!(mismatches(&d1, &d2).is_empty());
        let far = run("a", "http://127.0.0.2:40001", "open");
        assert_eq!(mismatches(&d1, &far).len(), 1);
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
        for bad in [
            "p98=5",
            "latency=5",
            "component.x=5",
            "p99=NaN",
            "p99=-1",
            "p99=inf",
        ] {
            assert!(
                Tolerances::with_overrides(10.0, &[bad.into()]).is_err(),
                "{bad}"
            );
        }
        assert!(Tolerances::with_overrides(f64::NAN, &[]).is_err());
        assert!(Tolerances::with_overrides(
            10.0,
            &[
                "errors.connect_refused=1".into(),
                "component.a.b.cpu_max=5".into()
            ]
        )
        .is_ok());
    }

    #[test]
    fn a_target_that_went_down_is_a_regression() {
        let base = summary(100.0, 1000.0, 0.5);
        // Every request refused, fast: latency and rps alone would look fine.
        let mut down = summary(100.0, 1000.0, 0.5);
        down["ok"] = json!(0);
        down["success_rate"] = json!(0.0);
        down["errors"] = json!({"connect_refused": 1000});
        let rows = compare(&base, &down, &Tolerances::default());
        assert_eq!(verdict(&rows, "success_rate"), Verdict::Regression);
        assert_eq!(
            verdict(&rows, "errors.connect_refused"),
            Verdict::Regression
        );
        assert!(has_regression(&rows));
        // Status 999 is counted as a failure, so it regresses too.
        let mut odd = summary(100.0, 1000.0, 0.5);
        odd["ok"] = json!(0);
        odd["errors"] = json!({"http_invalid_status": 1000});
        assert!(has_regression(&compare(
            &base,
            &odd,
            &Tolerances::default()
        )));
        // Nothing completed at all: no pass either.
        let mut empty = summary(100.0, 0.0, 0.5);
        empty["requests"] = json!(0);
        empty["ok"] = json!(0);
        assert!(has_regression(&compare(
            &base,
            &empty,
            &Tolerances::default()
        )));
        // 99.95% against 100%: within the default 0.1 points.
        let mut fine = summary(100.0, 1000.0, 0.5);
        fine["requests"] = json!(2000);
        fine["ok"] = json!(1999);
        fine["errors"] = json!({"http_503": 1});
        assert!(!has_regression(&compare(
            &base,
            &fine,
            &Tolerances::default()
        )));
    }

    #[test]
    fn summaries_of_another_shape_are_refused() {
        let good = summary(100.0, 1000.0, 0.5);
        assert_eq!(check_shape(&good), Ok(()));
        let mut newer = good.clone();
        newer["schema"] = json!(2);
        assert!(check_shape(&newer).unwrap_err().contains("schema is 2"));
        let mut typed = good.clone();
        typed["rps"] = json!("fast");
        assert!(check_shape(&typed)
            .unwrap_err()
            .contains("'rps' must be a number"));
        let mut errs = good;
        errs["errors"] = json!({"reset": -3});
        assert!(check_shape(&errs).unwrap_err().contains("errors.reset"));
    }

    #[test]
    fn metrics_in_one_run_only_are_listed_not_judged() {
        let mut new = summary(100.0, 1000.0, 0.5);
        new["components"] = json!([]);
        let rows = compare(&summary(100.0, 1000.0, 0.5), &new, &Tolerances::default());
        assert_eq!(verdict(&rows, "component.cp.cpu_max"), Verdict::Missing);
        assert!(!has_regression(&rows));
    }

    #[test]
    fn each_stage_is_compared_on_its_own() {
        let stages = |peak_p99: f64| {
            json!([
                {"index": 1, "name": "warm", "achieved": 100.0, "success_rate": 100.0,
                 "latency": {"count": 200, "p95": 2.0, "p99": 3.0}},
                {"index": 2, "name": "peak", "achieved": 400.0, "success_rate": 99.9,
                 "latency": {"count": 800, "p95": 9.0, "p99": peak_p99}},
            ])
        };
        let mut base = summary(100.0, 1000.0, 0.5);
        base["stages"] = stages(10.0);
        let mut new = summary(100.0, 1000.0, 0.5);
        // The whole run's p99 is unchanged; the peak stage's doubled.
        new["stages"] = stages(20.0);
        let rows = compare(&base, &new, &Tolerances::default());
        assert_eq!(verdict(&rows, "p99"), Verdict::Ok);
        assert_eq!(verdict(&rows, "stage.warm.p99"), Verdict::Ok);
        assert_eq!(verdict(&rows, "stage.peak.p99"), Verdict::Regression);
        assert_eq!(verdict(&rows, "stage.peak.rps"), Verdict::Ok);
        let t = Tolerances::with_overrides(10.0, &["stage.peak.p99=150".into()]).unwrap();
        assert_eq!(
            verdict(&compare(&base, &new, &t), "stage.peak.p99"),
            Verdict::Ok
        );
        assert!(Tolerances::with_overrides(10.0, &["epoch.0.p99=5".into()]).is_err());
        // One stage is the run itself: no stage rows.
        base["stages"] = json!([base["stages"][0]]);
        new["stages"] = json!([new["stages"][0]]);
        let rows = compare(&base, &new, &Tolerances::default());
        assert!(rows.iter().all(|r| !r.metric.starts_with("stage.")));
    }
}
