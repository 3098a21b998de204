//! Results in the formats trend services read: Bencher Metric Format (`--output bmf`) and github-action-benchmark's custom JSON (`--output benchmark-action`).
//!
//! Both carry the metrics `compare` judges, under its names. BMF: one
//! benchmark (the profile's name) whose measures are the metrics, with the
//! 95% interval as `lower_value`/`upper_value` for a `--repeat` set.
//! github-action-benchmark takes one direction per file: the smaller-is-
//! better metrics (latency, errors, CPU, memory) as `customSmallerIsBetter`
//! and the bigger-is-better ones (throughput, success rate, capacity) as
//! `customBiggerIsBetter`.

use serde_json::{json, Map, Value};

use super::compare::{self, Scale, Worse};
use super::repeats::RepeatsFile;

/// One metric of a result or a set, ready to write.
#[derive(Debug, Clone)]
pub struct Measure {
    pub name: String,
    pub unit: &'static str,
    pub value: f64,
    pub interval: Option<[f64; 2]>,
    pub worse: Worse,
    /// Runs behind the value.
    pub runs: usize,
}

fn unit(name: &str, scale: Scale) -> &'static str {
    match super::trend::unit_of(name, scale) {
        "" => "value",
        u => u,
    }
}

/// The measures of one result (summary, scenario or capacity search).
pub fn of_result(v: &Value) -> Vec<Measure> {
    let names = compare::error_names_of([v]);
    compare::metrics_of(v, &names)
        .into_iter()
        .filter_map(|m| {
            Some(Measure {
                unit: unit(&m.name, m.scale),
                value: m.value.filter(|x| x.is_finite())?,
                name: m.name,
                interval: None,
                worse: m.worse,
                runs: 1,
            })
        })
        .collect()
}

/// The measures of a `--repeat` set, with their intervals.
pub fn of_repeats(f: &RepeatsFile) -> Vec<Measure> {
    f.metrics
        .iter()
        .filter_map(|m| {
            Some(Measure {
                name: m.metric.clone(),
                unit: unit(&m.metric, m.scale),
                value: m.value.filter(|x| x.is_finite())?,
                interval: m.ci95,
                worse: m.worse,
                runs: m.n,
            })
        })
        .collect()
}

/// Bencher Metric Format: `{benchmark: {measure: {value, lower_value, upper_value}}}`.
pub fn bmf(benchmark: &str, measures: &[Measure]) -> Value {
    let mut m = Map::new();
    for x in measures {
        let mut metric = json!({ "value": x.value });
        if let Some([lo, hi]) = x.interval {
            metric["lower_value"] = json!(lo);
            metric["upper_value"] = json!(hi);
        }
        // Bencher identifies a measure by a name of at most 64 characters.
        m.insert(x.name.chars().take(64).collect(), metric);
    }
    json!({ benchmark: m })
}

/// github-action-benchmark's custom format: `[{name, unit, value, range?, extra?}]`,
/// the metrics whose smaller values are better (or, with `smaller` false, bigger).
pub fn benchmark_action(benchmark: &str, measures: &[Measure], smaller: bool) -> Value {
    let want = if smaller { Worse::Higher } else { Worse::Lower };
    Value::Array(
        measures
            .iter()
            .filter(|x| x.worse == want)
            .map(|x| {
                let mut e = json!({
                    "name": format!("{benchmark} {}", x.name),
                    "unit": x.unit,
                    "value": x.value,
                });
                match x.interval {
                    Some([lo, hi]) => {
                        e["range"] = json!(format!("± {:.3}", (hi - lo) / 2.0));
                        e["extra"] = json!(format!(
                            "95% interval {lo:.3} .. {hi:.3} over {} runs",
                            x.runs
                        ));
                    }
                    None => e["extra"] = json!("1 run"),
                }
                e
            })
            .collect(),
    )
}

/// The file names `--output benchmark-action` writes under `--out`.
pub const SMALLER_FILE: &str = "benchmark-action-smaller.json";
pub const BIGGER_FILE: &str = "benchmark-action-bigger.json";

/// Writes both benchmark-action files into `dir`.
pub fn write_benchmark_action(
    dir: &std::path::Path,
    benchmark: &str,
    measures: &[Measure],
) -> Result<(), String> {
    for (file, smaller) in [(SMALLER_FILE, true), (BIGGER_FILE, false)] {
        let path = dir.join(file);
        let text = serde_json::to_string_pretty(&benchmark_action(benchmark, measures, smaller))
            .map_err(|e| e.to_string())?;
        std::fs::write(&path, text + "\n")
            .map_err(|e| format!("cannot write '{}': {e}", path.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_format_takes_the_metrics_by_direction() {
        let v = json!({
            "schema": 1, "requests": 100, "ok": 100, "errors": {}, "rps": 50.0,
            "success_rate": 100.0, "latency_ms": {"p50": 5.0, "p95": 6.0, "p99": 9.0},
            "service_time_ms": {"p99": 8.0}, "components": [], "probes": [],
        });
        let m = of_result(&v);
        let b = bmf("demo", &m);
        assert_eq!(b["demo"]["p99"]["value"], 9.0);
        assert!(b["demo"]["p99"].get("lower_value").is_none());
        let small = benchmark_action("demo", &m, true);
        let names: Vec<&str> = small
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["name"].as_str().unwrap())
            .collect();
        assert!(names.contains(&"demo p99") && !names.contains(&"demo rps"));
        let big = benchmark_action("demo", &m, false);
        assert_eq!(big[0]["name"], "demo rps");
        assert_eq!(big[0]["unit"], "req/s");
        assert_eq!(small[0]["unit"], "ms");
    }
}
