//! Reports: the end-of-run summary as text (stdout) and as `summary.json`.

pub mod capacity_compare;
pub mod capacity_document;
pub mod compare;
pub mod connections;
pub mod delivery;
pub mod document;
pub mod epochs;
pub mod load;
pub mod outputs;
pub mod plot;
pub mod rebuild;
pub mod repeats;
pub mod scenario_compare;
pub mod scenario_document;
pub mod series;
pub mod summary;
pub mod thresholds;
pub mod verdict;

pub use summary::Summary;

use std::io::Write;
use std::path::{Path, PathBuf};

/// What a finished run prints on stdout.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Print {
    /// The summary table.
    #[default]
    Text,
    /// `--output json`: the summary as one JSON object, as summary.json
    /// has it, so stdout pipes into `jq` (everything else goes to stderr).
    Json,
    /// Nothing: the caller prints its own result (`find --output json`).
    Nothing,
}

/// Prints the summary on stdout as `print` says and, with `out`, writes
/// `out/summary.json`.
pub fn deliver(
    summary: &Summary,
    out: Option<&Path>,
    print: Print,
) -> Result<Option<PathBuf>, summary::ReportError> {
    let mut stdout = std::io::stdout().lock();
    match print {
        Print::Text => {
            let _ = writeln!(stdout, "\n{}", summary.render_text());
        }
        Print::Json => {
            // As write_json does: a summary always serializes.
            let text = serde_json::to_string_pretty(summary)
                .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
            let _ = writeln!(stdout, "{text}");
        }
        Print::Nothing => {}
    }
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
    print: Print,
) -> Result<bool, String> {
    let value = serde_json::to_value(summary).map_err(|e| e.to_string())?;
    if let Some(path) = history {
        append_history(path, &compare::history_line(&value))?;
    }
    let Some(base) = baseline else {
        return Ok(false);
    };
    let base = repeats::RunSet::load(base)?;
    // A baseline of repeated runs is judged with its noise; one run as today.
    let (table, regression) = if base.is_repeated() {
        let new = repeats::RunSet {
            path: PathBuf::new(),
            runs: vec![PathBuf::new()],
            kind: compare::ResultKind::Run,
            results: vec![value],
        };
        let c = verdict::compare(&base, &new, tolerances);
        (verdict::render(&c), verdict::has_regression(&c))
    } else {
        let rows = compare::compare(&base.results[0], &value, tolerances);
        (compare::render(&rows), compare::has_regression(&rows))
    };
    let table = format!("Compared with the baseline:\n{table}");
    // With JSON on stdout, the table goes to stderr.
    match print {
        Print::Text => println!("{table}"),
        _ => crate::util::text::stderr_line!("{table}"),
    }
    Ok(regression)
}
