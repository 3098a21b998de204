//! Reports: the end-of-run summary as text (stdout) and as `summary.json`.

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
