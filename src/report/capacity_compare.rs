//! Baselines for capacity searches: the max sustainable rate, the knee, the lowest failing rate and the control plane's cost per 1,000 req/s, compared with the run compare's tolerances.

use std::path::Path;

use serde_json::Value;

use super::compare::{compare_metrics, CompareError, MetricValue, Row, Scale, Tolerances, Worse};

/// Whether `v` is a capacity search's result (`capacity.json`).
pub fn is_capacity(v: &Value) -> bool {
    v["searched"].is_string() && v["steps"].is_array()
}

/// Reads `capacity.json` from a search's `--out` directory (or the file).
pub fn load(path: &Path) -> Result<Value, CompareError> {
    let (file, v) = super::compare::read_json(path, "capacity.json")?;
    if !is_capacity(&v) {
        return Err(CompareError::NotSummary {
            path: file,
            message: "no 'searched' and 'steps': not a capacity search's result".into(),
        });
    }
    if let Err(message) = check_levels(&v) {
        return Err(CompareError::NotSummary {
            path: file,
            message,
        });
    }
    Ok(v)
}

/// A level is a rate or a concurrency: a number of 0 or more, or absent
/// (null when the search found none). Anything else would be judged as a
/// capacity ("REGRESSION -300%") though no search can produce it.
fn check_levels(v: &Value) -> Result<(), String> {
    let fields = [
        ("max_sustainable", &v["max_sustainable"]),
        ("knee", &v["knee"]),
        ("lowest_failing.level", &v["lowest_failing"]["level"]),
    ];
    for (name, x) in fields {
        match x {
            Value::Null => {}
            Value::Number(n) if n.as_f64().is_some_and(|f| f.is_finite() && f >= 0.0) => {}
            other => {
                return Err(format!(
                    "'{name}' is {other}: a level is a number of 0 or more (or null when none was found)"
                ))
            }
        }
    }
    Ok(())
}

pub(crate) fn metrics(v: &Value) -> Vec<MetricValue> {
    use Worse::{Higher, Lower};
    let m = |name: &str, value: Option<f64>, worse| {
        MetricValue::new(name.to_owned(), value, worse, Scale::Relative)
    };
    let mut out = vec![
        m(
            "capacity.max_sustainable",
            v["max_sustainable"].as_f64(),
            Lower,
        ),
        m("capacity.knee", v["knee"].as_f64(), Lower),
        m(
            "capacity.lowest_failing",
            v["lowest_failing"]["level"].as_f64(),
            Lower,
        ),
    ];
    for c in v["cost"].as_array().into_iter().flatten() {
        let name = c["component"].as_str().unwrap_or("");
        out.push(m(
            &format!("cost.{name}.cpu_per_1k_rps"),
            c["cpu_per_1k_rps"].as_f64(),
            Higher,
        ));
    }
    out
}

/// Compares two searches of the same kind (rate with rate, concurrency with concurrency).
pub fn compare(base: &Value, new: &Value, tol: &Tolerances) -> Result<Vec<Row>, String> {
    if base["searched"] != new["searched"] {
        return Err(format!(
            "cannot compare a {} search with a {} search",
            base["searched"], new["searched"]
        ));
    }
    Ok(compare_metrics(metrics(base), metrics(new), tol))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn result(max: f64) -> Value {
        json!({"searched": "rate", "steps": [], "max_sustainable": max, "knee": max * 0.9,
               "lowest_failing": {"level": max * 1.02},
               "cost": [{"component": "istiod", "cpu_per_1k_rps": 0.1}]})
    }

    #[test]
    fn a_lower_capacity_regresses_a_higher_one_does_not() {
        let t = Tolerances::default();
        let fell = compare(&result(1_000.0), &result(800.0), &t).unwrap();
        assert!(super::super::compare::has_regression(&fell));
        let rose = compare(&result(1_000.0), &result(1_200.0), &t).unwrap();
        assert!(!super::super::compare::has_regression(&rose));
        let closed = json!({"searched": "concurrency", "steps": []});
        assert!(compare(&result(1.0), &closed, &t).is_err());
    }
}
