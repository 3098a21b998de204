//! `--history FILE`: one JSON line per result, with the metrics `compare` names and the testbed it ran on, and reading the lines back for `trend`.
//!
//! Every line has `metrics` (name -> value, the names `compare` and
//! `--tolerance-for` use), `environment` (host, CPU model, cores, kernel)
//! and `testbed` (those in one string), so a trend only ever joins runs
//! from one machine: a new CI runner type is a new series, not a
//! "regression". Older lines without `metrics` still read: their flat
//! `p50_ms`, `p95_ms`, `p99_ms`, `rps` and `success_rate` are taken.

use std::path::{Path, PathBuf};

use serde_json::{json, Map, Value};

#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error("cannot read the history '{path}': {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}:{line}: not a history line: {message}")]
    Corrupt {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("{path}: no history lines")]
    Empty { path: PathBuf },
}

/// The testbed a result ran on, as one string (host, CPU, cores, kernel).
pub fn testbed(env: &Value) -> String {
    let s = |k: &str| env[k].as_str().unwrap_or("?").to_owned();
    format!(
        "{} · {} ×{} · {}",
        s("hostname"),
        s("cpu_model"),
        env["cores"].as_u64().unwrap_or(0),
        s("kernel")
    )
}

/// Adds `kind`, `metrics`, `environment` and `testbed` to a history line
/// for `result` (a summary, scenario result or capacity search), with
/// `env` where the result has none of its own.
pub fn enrich(line: &mut Value, result: &Value, env: &Value) {
    let names = super::compare::error_names_of([result]);
    let metrics: Map<String, Value> = super::compare::metrics_of(result, &names)
        .into_iter()
        .filter_map(|m| m.value.map(|v| (m.name, json!(v))))
        .collect();
    let env = if result["environment"].is_object() {
        &result["environment"]
    } else {
        env
    };
    if let Some(map) = line.as_object_mut() {
        map.insert("kind".into(), json!(super::compare::ResultKind::of(result)));
        map.insert("metrics".into(), Value::Object(metrics));
        map.insert(
            "environment".into(),
            json!({
                "hostname": env["hostname"],
                "cpu_model": env["cpu_model"],
                "cores": env["cores"],
                "kernel": env["kernel"],
                "rampdeck": env["rampdeck"],
            }),
        );
        map.insert("testbed".into(), json!(testbed(env)));
        if map.get("git_commit").is_none_or(Value::is_null) {
            map.insert("git_commit".into(), env["git_commit"].clone());
        }
    }
}

/// One history line as `trend` reads it.
#[derive(Debug, Clone)]
pub struct Entry {
    /// 1-based line number in the file.
    pub line: usize,
    pub at: Option<String>,
    pub git_commit: Option<String>,
    pub profile: Option<String>,
    pub testbed: Option<String>,
    pub metrics: Map<String, Value>,
}

impl Entry {
    pub fn metric(&self, name: &str) -> Option<f64> {
        self.metrics.get(name).and_then(Value::as_f64)
    }
}

fn entry(v: &Value, line: usize) -> Entry {
    let mut metrics = v["metrics"].as_object().cloned().unwrap_or_default();
    // Lines from before `metrics`: the flat keys.
    for (key, name) in [
        ("p50_ms", "p50"),
        ("p95_ms", "p95"),
        ("p99_ms", "p99"),
        ("rps", "rps"),
        ("success_rate", "success_rate"),
    ] {
        if !metrics.contains_key(name) {
            if let Some(x) = v[key].as_f64() {
                metrics.insert(name.into(), json!(x));
            }
        }
    }
    let text = |k: &str| v[k].as_str().map(str::to_owned);
    Entry {
        line,
        at: text("started_at").or_else(|| text("at")),
        git_commit: text("git_commit"),
        profile: text("profile").or_else(|| text("scenario")),
        testbed: text("testbed"),
        metrics,
    }
}

/// Every line of a history file, in order.
pub fn read(path: &Path) -> Result<Vec<Entry>, HistoryError> {
    let text = std::fs::read_to_string(path).map_err(|source| HistoryError::Read {
        path: path.to_owned(),
        source,
    })?;
    let mut out = Vec::new();
    for (i, l) in text.lines().enumerate() {
        if l.trim().is_empty() {
            continue;
        }
        let v: Value = serde_json::from_str(l).map_err(|e| HistoryError::Corrupt {
            path: path.to_owned(),
            line: i + 1,
            message: e.to_string(),
        })?;
        if !v.is_object() {
            return Err(HistoryError::Corrupt {
                path: path.to_owned(),
                line: i + 1,
                message: "not a JSON object".into(),
            });
        }
        out.push(entry(&v, i + 1));
    }
    if out.is_empty() {
        return Err(HistoryError::Empty {
            path: path.to_owned(),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_carry_metrics_and_testbed_and_old_lines_still_read() {
        let summary = json!({
            "schema": 1, "requests": 100, "ok": 99, "errors": {"http_503": 1},
            "rps": 50.0, "success_rate": 99.0,
            "latency_ms": {"p50": 5.0, "p95": 6.0, "p99": 9.0},
            "service_time_ms": {"p99": 8.0}, "components": [], "probes": [],
            "environment": {"hostname": "ci-1", "cpu_model": "EPYC", "cores": 2, "kernel": "6.1", "git_commit": "abc"},
        });
        let mut line = json!({"started_at": "2026-12-07T10:00:00Z"});
        enrich(&mut line, &summary, &Value::Null);
        assert_eq!(line["metrics"]["p95"], 6.0);
        assert_eq!(line["metrics"]["errors.http_503"], 1.0);
        assert_eq!(line["testbed"], "ci-1 · EPYC ×2 · 6.1");
        assert_eq!(line["git_commit"], "abc");
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("h.jsonl");
        std::fs::write(
            &p,
            format!("{line}\n\n{{\"started_at\": \"x\", \"p95_ms\": 7.5, \"rps\": 10}}\n"),
        )
        .unwrap();
        let e = read(&p).unwrap();
        assert_eq!(e.len(), 2);
        assert_eq!(e[1].metric("p95"), Some(7.5));
        assert_eq!(e[1].line, 3);
        std::fs::write(&p, "{}\nnot json\n").unwrap();
        let err = read(&p).unwrap_err().to_string();
        assert!(err.contains("h.jsonl:2:"), "{err}");
    }
}
