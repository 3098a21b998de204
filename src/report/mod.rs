//! Reports: the end-of-run summary as text (stdout) and as `summary.json`.

pub mod capacity_compare;
pub mod capacity_document;
pub mod compare;
pub mod connections;
pub mod delivery;
pub mod document;
pub mod outputs;
pub mod plot;
pub mod rebuild;
pub mod scenario_compare;
pub mod scenario_document;
pub mod summary;
pub mod thresholds;

pub use summary::Summary;

use std::io::Write;
use std::path::{Path, PathBuf};

/// Prints the summary on stdout and, with `out`, writes `out/summary.json`.
pub fn deliver(
    summary: &Summary,
    out: Option<&Path>,
) -> Result<Option<PathBuf>, summary::ReportError> {
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "\n{}", summary.render_text());
    let _ = stdout.flush();
    match out {
        Some(dir) => {
            let path = summary.write_json(dir)?;
            eprintln!("wrote {}", path.display());
            Ok(Some(path))
        }
        None => Ok(None),
    }
}

/// Appends one JSON line to a `--history` file.
pub fn append_history(path: &Path, line: &serde_json::Value) -> Result<(), String> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .and_then(|mut f| writeln!(f, "{line}"))
        .map_err(|e| format!("cannot append to history '{}': {e}", path.display()))
}

/// After a run: compare with `baseline` (printing the table) and append to
/// `history`. Returns true when the comparison found a regression.
pub fn after_run(
    summary: &Summary,
    baseline: Option<&Path>,
    history: Option<&Path>,
    tolerances: &compare::Tolerances,
) -> Result<bool, String> {
    let value = serde_json::to_value(summary).map_err(|e| e.to_string())?;
    if let Some(path) = history {
        append_history(path, &compare::history_line(&value))?;
    }
    let Some(base) = baseline else {
        return Ok(false);
    };
    let base = compare::load(base).map_err(|e| e.to_string())?;
    let rows = compare::compare(&base, &value, tolerances);
    println!("Compared with the baseline:\n{}", compare::render(&rows));
    Ok(compare::has_regression(&rows))
}
