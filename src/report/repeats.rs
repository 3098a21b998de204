//! Repeated runs of one plan (`--repeat N`): reading a set back, and `repeats.json` with each metric's spread and bootstrap interval.
//!
//! A set is a directory holding one result per repeat (`run-1/`, `run-2/`,
//! ...) and `repeats.json`; `compare` also takes a directory of result
//! directories without it. Latency percentiles of a set are taken from the
//! runs' merged HDR histograms (summary.json's `hdr`), so the set's p99 is
//! the p99 of every request of every repeat, exactly, and its interval is
//! of that same figure; other metrics are the mean over runs.

use std::path::{Path, PathBuf};

use hdrhistogram::Histogram;
use serde::Serialize;
use serde_json::Value;

use super::compare::{self, MetricValue, ResultKind, Scale, Worse};
use crate::stats::bootstrap::{self, Pooled, Sample, Spread};

pub const REPEATS_FILE: &str = "repeats.json";

/// The directory of repeat `i` (from 1) under a set's `--out`.
pub fn run_dir(out: &Path, i: usize) -> PathBuf {
    out.join(format!("run-{i}"))
}

/// The results of one set, or of one run (a set of one).
pub struct RunSet {
    pub path: PathBuf,
    pub runs: Vec<PathBuf>,
    pub results: Vec<Value>,
    pub kind: ResultKind,
}

impl RunSet {
    pub fn is_repeated(&self) -> bool {
        self.runs.len() > 1
    }

    /// Reads a set directory, or a single result (directory or file).
    pub fn load(path: &Path) -> Result<RunSet, String> {
        let runs = set_members(path)?;
        let Some(runs) = runs else {
            let v = super::load::result(path)?;
            return Ok(RunSet {
                path: path.to_owned(),
                kind: ResultKind::of(&v),
                runs: vec![path.to_owned()],
                results: vec![v],
            });
        };
        let mut results = Vec::new();
        for r in &runs {
            results.push(super::load::result(r)?);
        }
        let kind = ResultKind::of(&results[0]);
        if let Some((r, _)) = runs
            .iter()
            .zip(&results)
            .find(|(_, v)| ResultKind::of(v) != kind)
        {
            return Err(format!(
                "{}: repeat '{}' is another kind of result than '{}'",
                path.display(),
                r.display(),
                runs[0].display()
            ));
        }
        Ok(RunSet {
            path: path.to_owned(),
            runs,
            results,
            kind,
        })
    }
}

/// A set's member directories: those `repeats.json` lists, or else each
/// subdirectory holding a result; None for a single result.
fn set_members(path: &Path) -> Result<Option<Vec<PathBuf>>, String> {
    if !path.is_dir() {
        return Ok(None);
    }
    let listed = path.join(REPEATS_FILE);
    if listed.exists() {
        let text = std::fs::read_to_string(&listed)
            .map_err(|e| format!("cannot read '{}': {e}", listed.display()))?;
        let v: Value = serde_json::from_str(&text)
            .map_err(|e| format!("'{}' is not JSON: {e}", listed.display()))?;
        let runs: Vec<PathBuf> = v["runs"]
            .as_array()
            .ok_or_else(|| format!("'{}': no \"runs\" list", listed.display()))?
            .iter()
            .filter_map(Value::as_str)
            .map(|r| path.join(r))
            .collect();
        if runs.is_empty() {
            return Err(format!("'{}' lists no runs", listed.display()));
        }
        return Ok(Some(runs));
    }
    let has_result = |d: &Path| {
        [
            "summary.json",
            "scenario.json",
            "capacity.json",
            "run.jsonl",
        ]
        .iter()
        .any(|f| d.join(f).exists())
    };
    if has_result(path) {
        return Ok(None);
    }
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(path)
        .map_err(|e| format!("cannot read '{}': {e}", path.display()))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|d| d.is_dir() && has_result(d))
        .collect();
    // run-2 before run-10.
    dirs.sort_by_key(|d| {
        let name = d.file_name().map(|n| n.to_string_lossy().into_owned());
        let n = name
            .as_deref()
            .and_then(|n| n.rsplit('-').next())
            .and_then(|n| n.parse::<u64>().ok());
        (n.unwrap_or(u64::MAX), name)
    });
    Ok((!dirs.is_empty()).then_some(dirs))
}

/// Which histogram and quantile a latency metric is, when it is one.
fn hdr_metric(name: &str) -> Option<(&'static str, f64)> {
    Some(match name {
        "p50" => ("corrected", 0.50),
        "p95" => ("corrected", 0.95),
        "p99" => ("corrected", 0.99),
        "service_p99" => ("service", 0.99),
        _ => return None,
    })
}

/// One metric over a set's runs, ready to resample.
pub struct MetricRuns {
    pub name: String,
    pub worse: Worse,
    pub scale: Scale,
    /// Each run's own value (None where it has none).
    pub values: Vec<Option<f64>>,
    /// The runs' histograms, when the metric is a latency percentile and
    /// every run carries its HDR data.
    pub pooled: Option<Pooled>,
}

impl MetricRuns {
    /// Its values where present, for resampling by run.
    pub fn present(&self) -> Vec<f64> {
        self.values.iter().flatten().copied().collect()
    }

    /// The set's figure: the merged percentile, else the mean over runs.
    pub fn point(&self) -> Option<f64> {
        let present = self.present();
        match &self.pooled {
            Some(p) => Sample::Merged(p).whole(),
            None => Sample::Values(&present).whole(),
        }
    }

    pub fn interval(&self) -> Option<bootstrap::Interval> {
        let present = self.present();
        match &self.pooled {
            Some(p) => bootstrap::interval(&Sample::Merged(p)),
            None => bootstrap::interval(&Sample::Values(&present)),
        }
    }
}

/// Each run's histograms (`summary.json` `hdr`), None when one lacks them.
fn histograms(results: &[Value], which: &str) -> Option<Vec<Histogram<u64>>> {
    results
        .iter()
        .map(|r| match crate::run::log::decode(&r["hdr"], which) {
            Ok(Some(h)) => Some(h),
            // A run with no successes has an empty histogram, written as absent.
            Ok(None) if r["hdr"].is_object() => Some(crate::stats::new_histogram()),
            _ => None,
        })
        .collect()
}

/// Every metric of the sets' results, over the runs of `set`; `error_names`
/// spans all sets compared.
pub fn metric_runs(set: &RunSet, error_names: &[String]) -> Vec<MetricRuns> {
    let per_run: Vec<Vec<MetricValue>> = set
        .results
        .iter()
        .map(|r| compare::metrics_of(r, error_names))
        .collect();
    let mut names: Vec<(String, Worse, Scale)> = Vec::new();
    for m in per_run.iter().flatten() {
        if !names.iter().any(|n| n.0 == m.name) {
            names.push((m.name.clone(), m.worse, m.scale));
        }
    }
    let corrected = histograms(&set.results, "corrected");
    let service = histograms(&set.results, "service");
    names
        .into_iter()
        .map(|(name, worse, scale)| {
            let values: Vec<Option<f64>> = per_run
                .iter()
                .map(|ms| ms.iter().find(|m| m.name == name).and_then(|m| m.value))
                .collect();
            let pooled = hdr_metric(&name).and_then(|(which, q)| {
                let hists = if which == "service" {
                    service.as_ref()
                } else {
                    corrected.as_ref()
                }?;
                // Latency is of successes: a set with none has no latency.
                values.iter().any(Option::is_some).then(|| {
                    let refs: Vec<&Histogram<u64>> = hists.iter().collect();
                    Pooled::new(&refs, q)
                })
            });
            MetricRuns {
                name,
                worse,
                scale,
                values,
                pooled,
            }
        })
        .collect()
}

/// `repeats.json`.
#[derive(Debug, Serialize)]
pub struct RepeatsFile {
    pub schema: u32,
    pub kind: ResultKind,
    pub repeats: usize,
    /// The run directories, relative to this file.
    pub runs: Vec<String>,
    pub profile: Value,
    pub target: Value,
    pub environment: Value,
    pub metrics: Vec<MetricStats>,
}

#[derive(Debug, Serialize)]
pub struct MetricStats {
    pub metric: String,
    pub worse: Worse,
    pub scale: Scale,
    /// Runs with a value.
    pub n: usize,
    pub values: Vec<Option<f64>>,
    #[serde(flatten)]
    pub spread: Option<Spread>,
    pub cv_pct: Option<f64>,
    /// The set's figure: for latency percentiles the percentile of every
    /// run's requests merged (HDR), else the mean over runs.
    pub value: Option<f64>,
    /// 95% bootstrap interval of `value`, resampling runs.
    pub ci95: Option<[f64; 2]>,
    /// "merged_hdr" or "runs": what `value` and `ci95` come from.
    pub from: &'static str,
}

/// The figures of a set's metrics.
pub fn metric_stats(runs: &[MetricRuns]) -> Vec<MetricStats> {
    runs.iter()
        .map(|m| {
            let present = m.present();
            let spread = Spread::of(&present);
            MetricStats {
                metric: m.name.clone(),
                worse: m.worse,
                scale: m.scale,
                n: present.len(),
                values: m.values.clone(),
                cv_pct: spread.and_then(|s| s.cv_pct()),
                spread,
                value: m.point(),
                ci95: m.interval().map(|i| [i.lo, i.hi]),
                from: if m.pooled.is_some() {
                    "merged_hdr"
                } else {
                    "runs"
                },
            }
        })
        .collect()
}

/// Writes `repeats.json` for the runs in `out` and returns its figures
/// and the set as read (for a baseline verdict without reading it again).
pub fn write(out: &Path, runs: &[PathBuf]) -> Result<(RepeatsFile, RunSet), String> {
    let results: Vec<Value> = runs
        .iter()
        .map(|r| super::load::result(r))
        .collect::<Result<_, _>>()?;
    let set = RunSet {
        path: out.to_owned(),
        runs: runs.to_vec(),
        kind: results.first().map_or(ResultKind::Run, ResultKind::of),
        results,
    };
    let kind = set.kind;
    let names = compare::error_names_of(&set.results);
    let first = set.results.first().cloned().unwrap_or(Value::Null);
    let file = RepeatsFile {
        schema: 1,
        kind,
        repeats: runs.len(),
        runs: runs
            .iter()
            .map(|r| {
                r.strip_prefix(out)
                    .unwrap_or(r)
                    .to_string_lossy()
                    .into_owned()
            })
            .collect(),
        // What the set is of: the profile's name, the scenario's, or the
        // searched target's (a capacity search has no profile name).
        profile: match (&first["profile"], &first["scenario"]) {
            (Value::String(p), _) | (_, Value::String(p)) => Value::String(p.clone()),
            _ => Value::String(format!(
                "capacity {}",
                first["target"].as_str().unwrap_or("")
            )),
        },
        target: first["target"].clone(),
        environment: first["environment"].clone(),
        metrics: metric_stats(&metric_runs(&set, &names)),
    };
    let path = out.join(REPEATS_FILE);
    let text = serde_json::to_string_pretty(&file).map_err(|e| e.to_string())?;
    std::fs::write(&path, text + "\n")
        .map_err(|e| format!("cannot write '{}': {e}", path.display()))?;
    Ok((file, set))
}

/// The set's figures as a table: value, interval, spread over runs.
pub fn render(file: &RepeatsFile) -> String {
    use std::fmt::Write;
    let w = name_width(file.metrics.iter().map(|m| m.metric.as_str()));
    let mut s = format!(
        "Repeats: {} runs of '{}'\n  {:<w$}{:>12}{:>24}{:>9}  from\n",
        file.repeats,
        file.profile.as_str().unwrap_or("?"),
        "metric",
        "value",
        "95% interval",
        "cv"
    );
    for m in &file.metrics {
        let Some(v) = m.value else {
            continue;
        };
        let ci = m.ci95.map_or_else(
            || "-".to_owned(),
            |[lo, hi]| format!("{} .. {}", num(lo), num(hi)),
        );
        let cv = m
            .cv_pct
            .map_or_else(|| "-".to_owned(), |c| format!("{c:.1}%"));
        let from = if m.from == "merged_hdr" {
            "all requests merged"
        } else {
            "mean of runs"
        };
        let _ = writeln!(
            s,
            "  {:<w$}{:>12}{:>24}{:>9}  {from}",
            m.metric,
            num(v),
            ci,
            cv
        );
    }
    s
}

/// The metric column's width: the longest name and a gap.
pub fn name_width<'a>(names: impl Iterator<Item = &'a str>) -> usize {
    names
        .map(|n| n.chars().count() + 2)
        .max()
        .unwrap_or(0)
        .max(14)
}

/// A figure with sensible digits (memory in bytes stays readable).
pub fn num(x: f64) -> String {
    let a = x.abs();
    if a >= 1e6 {
        format!("{:.1}Mi", x / (1024.0 * 1024.0))
    } else if a >= 1000.0 {
        format!("{x:.0}")
    } else if a >= 100.0 {
        format!("{x:.1}")
    } else if a >= 10.0 {
        format!("{x:.2}")
    } else {
        format!("{x:.3}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_set_is_found_by_its_file_or_by_its_run_directories() {
        let dir = tempfile::tempdir().unwrap();
        assert!(set_members(dir.path()).unwrap().is_none());
        for i in [1, 2, 10] {
            let d = run_dir(dir.path(), i);
            std::fs::create_dir_all(&d).unwrap();
            std::fs::write(d.join("summary.json"), "{}").unwrap();
        }
        let found = set_members(dir.path()).unwrap().unwrap();
        let names: Vec<_> = found
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["run-1", "run-2", "run-10"]);
        std::fs::write(
            dir.path().join(REPEATS_FILE),
            r#"{"runs": ["run-2", "run-1"]}"#,
        )
        .unwrap();
        let listed = set_members(dir.path()).unwrap().unwrap();
        assert_eq!(listed[0], dir.path().join("run-2"));
        assert!(set_members(&dir.path().join("run-1")).unwrap().is_none());
    }
}
