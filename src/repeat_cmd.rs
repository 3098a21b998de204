//! `--repeat N`: one command's run N times into `--out/run-i`, then `repeats.json`, the set's table and, with `--baseline`, the noise-aware verdict.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use rampdeck::report::compare::Tolerances;
use rampdeck::report::repeats::{self, RunSet};
use rampdeck::report::{bench_formats, verdict, Print};

use crate::{EXIT_BAD_INPUT, EXIT_CANNOT_RUN, EXIT_THRESHOLDS_FAILED};

/// What a set needs to know of its command's flags.
pub struct Repeat<'a> {
    pub n: u32,
    pub out: Option<&'a Path>,
    pub force: bool,
    /// What stdout carries: the set's table, or (json) repeats.json, or
    /// the set's figures as BMF or benchmark-action JSON.
    pub print: Print,
    pub baseline: Option<&'a Path>,
    pub tolerances: Tolerances,
}

/// A command's flags as one repeat of a set runs them: into its own
/// directory, headless, without the set's baseline (judged once, after).
pub trait Member: Clone {
    fn member(&self, dir: PathBuf) -> Self;
}

/// `drive` with each repeat running `once` on the flags `Member` makes.
pub fn drive_each<A: Member>(
    r: &Repeat,
    args: &A,
    mut once: impl FnMut(&A) -> ExitCode,
) -> ExitCode {
    drive(r, |dir| once(&args.member(dir)))
}

/// Checks a set's flags before any run: it needs --out, and --out must
/// not hold another set unless --force.
pub fn check(r: &Repeat) -> Result<(), String> {
    if r.n < 2 {
        return Ok(());
    }
    let Some(out) = r.out else {
        return Err(format!(
            "--repeat {}: needs --out DIR (each repeat writes its run into DIR/run-1 .. DIR/run-{})",
            r.n, r.n
        ));
    };
    rampdeck::report::outputs::check_out_dir(out, r.force)?;
    if !r.force && out.join(repeats::REPEATS_FILE).exists() {
        return Err(format!(
            "--out '{}' already holds a set ({}); give a new directory, or add --force to replace it",
            out.display(),
            repeats::REPEATS_FILE
        ));
    }
    if let Some(base) = r.baseline {
        RunSet::load(base).map_err(|e| format!("--baseline: {e}"))?;
    }
    Ok(())
}

/// Runs `one(dir)` for each repeat; stops early on bad input, a run that
/// could not run, or a stop signal. Exit: 2 or 1 from a run that stopped
/// the set, 99 if any run failed its thresholds or the set regressed
/// against the baseline, else 0.
pub fn drive(r: &Repeat, mut one: impl FnMut(PathBuf) -> ExitCode) -> ExitCode {
    if let Err(e) = check(r) {
        eprintln!("error: {e}");
        return ExitCode::from(EXIT_BAD_INPUT);
    }
    let Some(out) = r.out else {
        return ExitCode::from(EXIT_BAD_INPUT);
    };
    let mut done = Vec::new();
    let mut failed_thresholds = 0;
    let mut stopped = None;
    for i in 1..=r.n as usize {
        let dir = repeats::run_dir(out, i);
        eprintln!("repeat {i}/{}: {}", r.n, dir.display());
        let code = one(dir.clone());
        if code == ExitCode::from(EXIT_BAD_INPUT) || code == ExitCode::from(EXIT_CANNOT_RUN) {
            eprintln!("repeat {i}/{} could not run: the set stops here", r.n);
            stopped = Some(code);
            break;
        }
        if code == ExitCode::from(EXIT_THRESHOLDS_FAILED) {
            failed_thresholds += 1;
        }
        done.push(dir);
        if rampdeck::signals::stop_asked() {
            eprintln!("stopped after repeat {i}/{}: the set keeps what ran", r.n);
            break;
        }
    }
    if done.is_empty() {
        return stopped.unwrap_or(ExitCode::from(EXIT_CANNOT_RUN));
    }
    let (file, set) = match repeats::write(out, &done) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(EXIT_CANNOT_RUN);
        }
    };
    let table = repeats::render(&file);
    let benchmark = file.profile.as_str().unwrap_or("rampdeck").to_owned();
    let measures = bench_formats::of_repeats(&file);
    let doc = match r.print {
        Print::Text | Print::Nothing => None,
        Print::Json => serde_json::to_value(&file).ok(),
        Print::Bmf => Some(bench_formats::bmf(&benchmark, &measures)),
        Print::BenchmarkAction => {
            if let Err(e) = bench_formats::write_benchmark_action(out, &benchmark, &measures) {
                eprintln!("warning: {e}");
            }
            Some(bench_formats::benchmark_action(&benchmark, &measures, true))
        }
    };
    match doc {
        Some(doc) => {
            eprint!("\n{table}");
            println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
        }
        None => print!("\n{table}"),
    }
    eprintln!("wrote {}", out.join(repeats::REPEATS_FILE).display());
    if failed_thresholds > 0 {
        eprintln!(
            "{failed_thresholds} of {} repeats failed their thresholds",
            done.len()
        );
    }
    let mut regression = false;
    if let Some(base) = r.baseline {
        match RunSet::load(base) {
            Ok(b) => {
                let c = verdict::compare(&b, &set, &r.tolerances);
                let text = format!("Compared with the baseline:\n{}", verdict::render(&c));
                if r.print.machine() {
                    eprint!("{text}");
                } else {
                    print!("{text}");
                }
                regression = verdict::has_regression(&c);
            }
            Err(e) => {
                eprintln!("error: --baseline: {e}");
                return ExitCode::from(EXIT_CANNOT_RUN);
            }
        }
    }
    if let Some(code) = stopped {
        return code;
    }
    if failed_thresholds > 0 || regression {
        ExitCode::from(EXIT_THRESHOLDS_FAILED)
    } else {
        ExitCode::SUCCESS
    }
}
