//! Baselines for Gateway API scenario results: what each scenario measures, compared with the run compare's tolerances.

use std::path::Path;

use serde_json::Value;

use super::compare::{compare_metrics, CompareError, MetricValue, Row, Scale, Tolerances, Worse};

/// Whether `v` is a scenario result (`scenario.json`) rather than a run summary.
pub fn is_scenario(v: &Value) -> bool {
    v["scenario"].is_string() && v["schema"].is_null()
}

/// Reads `scenario.json` from a scenario's `--out` directory (or the file).
pub fn load(path: &Path) -> Result<Value, CompareError> {
    let (file, v) = super::compare::read_json(path, "scenario.json")?;
    if !is_scenario(&v) {
        return Err(CompareError::NotSummary {
            path: file,
            message: "no 'scenario' name: not a scenario result".into(),
        });
    }
    Ok(v)
}

fn m(name: String, value: Option<f64>, worse: Worse) -> MetricValue {
    MetricValue::new(name, value, worse, Scale::Relative)
}

/// What a scenario measures: setup and teardown times, status writes and
/// errors (attached-routes, per route count), propagation p50/p99 on both
/// planes (route-probe), failures per flip and latency during the flips
/// (route-change), and the control plane's maxima.
pub(crate) fn metrics(v: &Value) -> Vec<MetricValue> {
    use Worse::{Higher, Lower};
    let mut out = Vec::new();
    for a in v["attached_routes"].as_array().into_iter().flatten() {
        let n = a["routes"].as_u64().unwrap_or(0);
        let p = |k: &str| format!("attached.{n}.{k}");
        for k in ["setup_total_s", "setup_s", "apply_s", "teardown_s"] {
            out.push(m(p(k), a[k].as_f64(), Higher));
        }
        for k in ["status_writes_setup", "apply_errors", "delete_errors"] {
            out.push(m(p(k), a[k].as_f64(), Higher));
        }
    }
    for r in v["route_probe"].as_array().into_iter().flatten() {
        let n = r["routes"].as_u64().unwrap_or(0);
        for plane in ["data_plane_ms", "control_plane_ms"] {
            for q in ["p50", "p99"] {
                let key = format!("probe.{n}.{}_{q}", plane.trim_end_matches("_ms"));
                out.push(m(key, r[plane][q].as_f64(), Higher));
            }
        }
        out.push(m(
            format!("probe.{n}.error_count"),
            r["error_count"].as_f64(),
            Higher,
        ));
        out.push(m(
            format!("probe.{n}.propagated"),
            r["propagated"].as_f64(),
            Lower,
        ));
    }
    let c = &v["route_change"];
    if c.is_object() {
        let flips = c["iterations"].as_f64().filter(|n| *n > 0.0);
        out.push(m(
            "change.failed_per_flip".into(),
            flips.and_then(|f| c["failed"].as_f64().map(|x| x / f)),
            Higher,
        ));
        // What the flips themselves caused (older results have no split).
        let drops: Option<f64> = c["flips"]
            .as_array()
            .and_then(|fs| fs.iter().map(|f| f["drops"].as_f64()).sum::<Option<f64>>());
        out.push(m(
            "change.drops_per_flip".into(),
            flips.and_then(|f| drops.map(|d| d / f)),
            Higher,
        ));
        let requests = c["requests"].as_f64().filter(|n| *n > 0.0);
        out.push(MetricValue::new(
            "change.success_rate".into(),
            requests.and_then(|r| c["ok"].as_f64().map(|ok| 100.0 * ok / r)),
            Lower,
            Scale::Points,
        ));
        out.push(m(
            "change.during_p99".into(),
            c["latency_during_ms"]["p99"].as_f64(),
            Higher,
        ));
    }
    more_metrics(v, &mut out);
    // Per component (`{NAME: {cpu_max_cores, memory_max_bytes, ...}}`);
    // results from before components were named held the two flat.
    let cp = &v["control_plane"];
    let flat = cp["cpu_max_cores"].is_number() || cp["memory_max_bytes"].is_number();
    let components: Vec<(String, &Value)> = if flat {
        vec![(String::new(), cp)]
    } else {
        cp.as_object()
            .into_iter()
            .flatten()
            .filter(|(_, c)| c.is_object())
            .map(|(n, c)| (format!("{n}."), c))
            .collect()
    };
    for (prefix, c) in components {
        for (k, name) in [
            ("cpu_max_cores", "cpu_max"),
            ("memory_max_bytes", "memory_max"),
        ] {
            out.push(m(
                format!("control_plane.{prefix}{name}"),
                c[k].as_f64(),
                Higher,
            ));
        }
    }
    out
}

/// route-scale, backend-failover, staleness and traffic-matrix.
fn more_metrics(v: &Value, out: &mut Vec<MetricValue>) {
    use Worse::{Higher, Lower};
    let points =
        |name: &str, v: Option<f64>, worse| MetricValue::new(name.into(), v, worse, Scale::Points);
    let s = &v["route_scale"];
    if s.is_object() {
        out.push(points(
            "scale.score",
            s["score"]["weighted"].as_f64(),
            Lower,
        ));
        out.push(points(
            "scale.data_plane_score",
            s["score"]["data_plane"].as_f64(),
            Lower,
        ));
        out.push(points(
            "scale.control_plane_score",
            s["score"]["control_plane"].as_f64(),
            Lower,
        ));
        out.push(m(
            "scale.propagation_p99".into(),
            s["propagation_ms"]["p99"].as_f64(),
            Higher,
        ));
        out.push(m(
            "scale.write_p99".into(),
            s["write_ms"]["p99"].as_f64(),
            Higher,
        ));
        out.push(m(
            "scale.latency_p99".into(),
            s["latency_ms"]["p99"].as_f64(),
            Higher,
        ));
        out.push(points(
            "scale.success_rate",
            s["success_rate"].as_f64(),
            Lower,
        ));
        let cp = s["components"]
            .as_array()
            .and_then(|c| c.iter().find(|t| t["role"] == "control plane"));
        // A slope near zero has no meaningful relative change: compared in MiB/h as points.
        out.push(points(
            "scale.memory_slope_mib_h",
            cp.and_then(|t| t["memory_slope_mib_per_hour"].as_f64()),
            Higher,
        ));
    }
    let f = &v["backend_failover"];
    if f.is_object() {
        let cycles = f["cycles"].as_array().cloned().unwrap_or_default();
        let max_of = |k: &str| cycles.iter().filter_map(|c| c[k].as_f64()).reduce(f64::max);
        out.push(m(
            "failover.ejection_ms".into(),
            max_of("ejection_ms"),
            Higher,
        ));
        out.push(m(
            "failover.recovery_ms".into(),
            max_of("recovery_ms"),
            Higher,
        ));
        out.push(m(
            "failover.sent_to_dead".into(),
            f["sent_to_dead"].as_f64(),
            Higher,
        ));
        out.push(m("failover.failed".into(), f["failed"].as_f64(), Higher));
        out.push(m(
            "failover.down_p99".into(),
            f["latency_down_ms"]["p99"].as_f64(),
            Higher,
        ));
    }
    let st = &v["staleness"];
    if st.is_object() {
        out.push(m(
            "staleness.after_503".into(),
            st["after"]["status_503"].as_f64(),
            Higher,
        ));
        let failed = st["after"]["failures"]
            .as_object()
            .map(|o| o.values().filter_map(Value::as_f64).sum::<f64>());
        out.push(m("staleness.after_failed".into(), failed, Higher));
        out.push(m(
            "staleness.after_p99".into(),
            st["after"]["latency_ms"]["p99"].as_f64(),
            Higher,
        ));
    }
    for c in v["traffic_matrix"]["cells"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let key = format!(
            "matrix.{}.{}",
            c["connections"],
            c["load"].as_str().unwrap_or("")
        );
        if c["load"] == "max" {
            out.push(m(format!("{key}.rps"), c["rps"].as_f64(), Lower));
        }
        for q in ["p50", "p90", "p99"] {
            out.push(m(format!("{key}.{q}"), c["latency_ms"][q].as_f64(), Higher));
        }
        if c["load"] == "fixed" {
            let cpu: Option<f64> = c["target_cpu"]
                .as_array()
                .and_then(|a| a.iter().map(|x| x["cpu_avg_cores"].as_f64()).sum());
            out.push(m(format!("{key}.target_cpu"), cpu, Higher));
        }
    }
}

/// Compares two scenario results of the same scenario.
pub fn compare(base: &Value, new: &Value, tol: &Tolerances) -> Result<Vec<Row>, String> {
    if base["scenario"] != new["scenario"] {
        return Err(format!(
            "cannot compare a {} result with a {} result",
            base["scenario"], new["scenario"]
        ));
    }
    Ok(compare_metrics(metrics(base), metrics(new), tol))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn attached(setup: f64, errors: u64) -> Value {
        json!({
            "scenario": "attached-routes",
            "attached_routes": [{"routes": 100, "setup_total_s": setup, "setup_s": setup / 2.0,
                "apply_s": setup / 2.0, "teardown_s": 1.0, "status_writes_setup": 10,
                "apply_errors": errors, "delete_errors": 0}],
            "control_plane": {"cpu_max_cores": 0.5, "memory_max_bytes": 1e8},
        })
    }

    #[test]
    fn a_slower_setup_or_new_errors_regress() {
        let t = Tolerances::default();
        let same = compare(&attached(10.0, 0), &attached(10.5, 0), &t).unwrap();
        assert!(!super::super::compare::has_regression(&same));
        let slow = compare(&attached(10.0, 0), &attached(13.0, 0), &t).unwrap();
        assert!(slow.iter().any(|r| r.metric == "attached.100.setup_total_s"
            && r.verdict == super::super::compare::Verdict::Regression));
        let errors = compare(&attached(10.0, 0), &attached(10.0, 5), &t).unwrap();
        assert!(super::super::compare::has_regression(&errors));
        let other = json!({"scenario": "route-change"});
        assert!(compare(&attached(1.0, 0), &other, &t).is_err());
    }

    #[test]
    fn control_plane_components_are_compared_each_by_name() {
        let with = |mem: f64| {
            let mut v = attached(10.0, 0);
            v["control_plane"] = json!({
                "controller": {"samples": 5, "cpu_max_cores": 0.2, "memory_max_bytes": mem},
                "gateway": {"samples": 5, "cpu_max_cores": 0.4, "memory_max_bytes": 5e7},
            });
            v
        };
        let rows = compare(&with(1e8), &with(1.5e8), &Tolerances::default()).unwrap();
        let row = |m: &str| rows.iter().find(|r| r.metric == m).unwrap();
        use super::super::compare::Verdict;
        assert_eq!(
            row("control_plane.controller.memory_max").verdict,
            Verdict::Regression
        );
        assert_eq!(row("control_plane.gateway.cpu_max").verdict, Verdict::Ok);
        assert!(rows.iter().all(|r| r.verdict != Verdict::Missing));
    }
}
