//! Reading one finished result for `compare`: a run's summary (rebuilt from its log if the run was killed), a scenario's result or a capacity search's.

use std::path::Path;

use serde_json::Value;

use super::compare;

/// A run's summary for `compare`: its summary.json, or, for a run killed
/// before it wrote one, the summary rebuilt from its run log (said so).
pub fn result(path: &Path) -> Result<Value, String> {
    // A capacity search's directory compares as a search (what it found),
    // a scenario's as a scenario.
    if path.join("capacity.json").exists() || path.file_name().is_some_and(|n| n == "capacity.json")
    {
        return super::capacity_compare::load(path).map_err(|e| e.to_string());
    }
    if path.is_dir() && !path.join("summary.json").exists() && path.join("scenario.json").exists() {
        return super::scenario_compare::load(path).map_err(|e| e.to_string());
    }
    match compare::load(path) {
        Ok(v) => Ok(v),
        Err(e @ compare::CompareError::Read { .. })
            if path.is_dir() && path.join("run.jsonl").exists() =>
        {
            // summary.json gone, but the run finished: its log ends in the summary.
            if let Ok(Some(mut v)) = crate::run::log::logged_summary(path) {
                if let Some(m) = v.as_object_mut() {
                    m.remove("type");
                }
                compare::check_shape(&v)
                    .map_err(|m| format!("{}: its summary line: {m}", path.display()))?;
                eprintln!(
                    "warning: {}: no summary.json; using the summary the run wrote at its end in run.jsonl",
                    path.display()
                );
                return Ok(v);
            }
            let s = super::rebuild::rebuild(path).map_err(|r| format!("{e}; {r}"))?;
            if let Some(why) = &s.incomplete {
                eprintln!("warning: {}: incomplete: {why}", path.display());
            }
            serde_json::to_value(&s).map_err(|e| e.to_string())
        }
        // A scenario.json given as a file.
        Err(e @ compare::CompareError::NotSummary { .. }) => {
            super::scenario_compare::load(path).map_err(|_| e.to_string())
        }
        Err(e) => Err(e.to_string()),
    }
}
