//! `rampdeck trend`: reads a history file, analyses it and prints (and, with --html, writes) the trend; exit 99 on a newest change point that regressed.

use std::path::PathBuf;
use std::process::ExitCode;

use rampdeck::report::{history, trend};

use crate::cli::{ToleranceArgs, TrendBy};
use crate::{EXIT_BAD_INPUT, EXIT_CANNOT_RUN, EXIT_THRESHOLDS_FAILED};

pub struct Args {
    pub history: PathBuf,
    pub metric: Vec<String>,
    pub by: TrendBy,
    pub testbed: Option<String>,
    pub last: usize,
    pub html: Option<PathBuf>,
    pub width: usize,
    pub tolerance: ToleranceArgs,
}

pub fn main(a: &Args) -> ExitCode {
    let tolerance = match rampdeck::report::compare::Tolerances::with_overrides(
        a.tolerance.tolerance,
        &a.tolerance.tolerance_for,
    ) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(EXIT_BAD_INPUT);
        }
    };
    let entries = match history::read(&a.history) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(EXIT_BAD_INPUT);
        }
    };
    let by = match a.by {
        TrendBy::Time => trend::By::Time,
        TrendBy::Git => trend::By::Git,
    };
    // `p95_ms` as the history's flat keys spell it means p95.
    let metrics = a
        .metric
        .iter()
        .map(|m| m.trim().trim_end_matches("_ms").to_owned())
        .filter(|m| !m.is_empty())
        .collect();
    let opts = trend::Options {
        metrics,
        by,
        testbed: a.testbed.clone(),
        tolerance,
        last: a.last,
    };
    let t = match trend::analyze(&entries, &opts) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {}: {e}", a.history.display());
            return ExitCode::from(EXIT_BAD_INPUT);
        }
    };
    print!("{}", trend::render(&t, by, a.width));
    if let Some(path) = &a.html {
        let written = trend::html(&t).and_then(|page| {
            std::fs::write(path, page)
                .map_err(|e| format!("cannot write '{}': {e}", path.display()))
        });
        match written {
            Ok(()) => eprintln!("wrote {}", path.display()),
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(EXIT_CANNOT_RUN);
            }
        }
    }
    if t.regressed() {
        let which: Vec<&str> = t
            .series
            .iter()
            .filter(|s| s.latest_regression().is_some())
            .map(|s| s.metric.as_str())
            .collect();
        eprintln!(
            "regression: the newest change point of {} is worse beyond its tolerance",
            which.join(", ")
        );
        ExitCode::from(EXIT_THRESHOLDS_FAILED)
    } else {
        ExitCode::SUCCESS
    }
}
