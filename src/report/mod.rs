//! Reports: the end-of-run summary as text (stdout) and as `summary.json`.

pub mod bench_formats;
pub mod capacity_compare;
pub mod capacity_document;
pub mod compare;
pub mod connections;
pub mod delivery;
pub mod document;
pub mod epochs;
pub mod history;
pub mod load;
pub mod outputs;
pub mod plot;
pub mod rebuild;
pub mod release;
pub mod repeats;
pub mod scenario_compare;
pub mod scenario_document;
pub mod series;
pub mod summary;
pub mod thresholds;
pub mod trend;
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
    /// `--output bmf`: Bencher Metric Format JSON on stdout.
    Bmf,
    /// `--output benchmark-action`: github-action-benchmark's
    /// customSmallerIsBetter JSON on stdout; both files under `--out`.
    BenchmarkAction,
}

impl Print {
    /// Whether stdout carries a machine-readable document (so human
    /// tables go to stderr).
    pub fn machine(self) -> bool {
        !matches!(self, Print::Text)
    }
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
        Print::Json | Print::Bmf | Print::BenchmarkAction => {
            // stdout is for the machine: the tables go to stderr.
            eprintln!("\n{}", summary.render_text());
        }
        _ => {}
    }
    match print {
        Print::Text | Print::Nothing => {}
        Print::Json => {
            // As write_json does: a summary always serializes.
            let text = serde_json::to_string_pretty(summary)
                .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
            let _ = writeln!(stdout, "{text}");
        }
        Print::Bmf | Print::BenchmarkAction => {
            let v = serde_json::to_value(summary).unwrap_or_default();
            let measures = bench_formats::of_result(&v);
            let doc = if print == Print::Bmf {
                bench_formats::bmf(&summary.profile, &measures)
            } else {
                bench_formats::benchmark_action(&summary.profile, &measures, true)
            };
            let _ = writeln!(
                stdout,
                "{}",
                serde_json::to_string_pretty(&doc).unwrap_or_default()
            );
        }
    }
    let _ = stdout.flush();
    match out {
        Some(dir) => {
            let path = summary.write_json(dir)?;
            eprintln!("wrote {}", path.display());
            if print == Print::BenchmarkAction {
                let v = serde_json::to_value(summary).unwrap_or_default();
                match bench_formats::write_benchmark_action(
                    dir,
                    &summary.profile,
                    &bench_formats::of_result(&v),
                ) {
                    Ok(()) => eprintln!(
                        "wrote {} and {}",
                        dir.join(bench_formats::SMALLER_FILE).display(),
                        dir.join(bench_formats::BIGGER_FILE).display()
                    ),
                    Err(e) => eprintln!("warning: {e}"),
                }
            }
            Ok(Some(path))
        }
        None => {
            if print == Print::BenchmarkAction {
                eprintln!("note: stdout has the smaller-is-better metrics; give --out DIR to also get {} (throughput, success rate)", bench_formats::BIGGER_FILE);
            }
            Ok(None)
        }
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
        let mut line = compare::history_line(&value);
        history::enrich(&mut line, &value, &serde_json::Value::Null);
        append_history(path, &line)?;
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
