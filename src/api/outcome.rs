//! What a finished run measured, as a program reads it: totals, latency, checks, thresholds, and the summary.json text.

use std::process::ExitCode;

use crate::report::summary::Summary;

/// A finished run: the same summary `rampdeck run` prints and writes.
#[derive(Debug, Clone)]
pub struct Outcome {
    summary: Summary,
}

impl Outcome {
    pub(crate) fn new(summary: Summary) -> Self {
        Outcome { summary }
    }

    /// Requests completed after warmup (responses and failures).
    pub fn requests(&self) -> u64 {
        self.summary.requests
    }

    /// Of those, the ones that succeeded (a 1xx-3xx status that passed its checks).
    pub fn succeeded(&self) -> u64 {
        self.summary.ok
    }

    /// Percent of requests that succeeded (0-100).
    pub fn success_rate(&self) -> f64 {
        self.summary.success_rate
    }

    /// Completed requests per second of measured time.
    pub fn rps(&self) -> f64 {
        self.summary.rps
    }

    /// Successful responses' latency at `percentile` (50, 90, 95, 99 or
    /// 99.9; 100 for the maximum), in milliseconds, coordinated-omission
    /// corrected in open loop. None for other percentiles.
    pub fn latency_ms(&self, percentile: f64) -> Option<f64> {
        let p = &self.summary.latency_ms;
        [
            (50.0, p.p50),
            (90.0, p.p90),
            (95.0, p.p95),
            (99.0, p.p99),
            (99.9, p.p999),
            (100.0, p.max),
        ]
        .iter()
        .find(|(q, _)| (q - percentile).abs() < 1e-9)
        .map(|&(_, v)| v)
    }

    /// Failures of one kind (`"check"`, `"timeout"`, `"reset"`, `"template"`, ...).
    pub fn errors(&self, kind: &str) -> u64 {
        self.summary.errors.get(kind).copied().unwrap_or(0)
    }

    /// Responses of the request named `request` that failed a check.
    pub fn check_failures(&self, request: &str) -> u64 {
        self.summary.checks.get(request).copied().unwrap_or(0)
    }

    /// Whether every `[thresholds]` entry held (None when the plan has none).
    pub fn thresholds_passed(&self) -> Option<bool> {
        self.summary.thresholds_passed
    }

    /// The exit code `rampdeck run` gives this run: 99 when a threshold
    /// failed, 0 otherwise.
    pub fn exit_code(&self) -> ExitCode {
        match self.summary.thresholds_passed {
            Some(false) => ExitCode::from(99),
            _ => ExitCode::SUCCESS,
        }
    }

    /// The summary as `summary.json` holds it (docs/output.md).
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(&self.summary).unwrap_or_default()
    }
}

impl std::fmt::Display for Outcome {
    /// The summary table `rampdeck run` prints.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.summary.render_text())
    }
}
