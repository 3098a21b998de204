//! A killed run's summary, rebuilt from the intervals its run log holds, so `report` and `compare` still work.

use std::path::Path;
use std::time::{Duration, SystemTime};

use super::summary::Summary;
use crate::engine::RunResult;
use crate::run::replay::{Recording, Replay, ReplayError};

/// Rebuilds the summary of the run in `dir` from `run.jsonl`, as replay
/// does: totals from the recorded histograms, probes and events as logged.
/// It says it is incomplete, and when the run was cut off.
pub fn rebuild(dir: &Path) -> Result<Summary, ReplayError> {
    let recording = Recording::load(dir)?;
    let header = recording.header.clone();
    let plan = recording.plan.clone();
    let started_at = header["environment"]["started_at"]
        .as_str()
        .and_then(|t| humantime::parse_rfc3339(t).ok())
        .unwrap_or(SystemTime::UNIX_EPOCH);
    // The model folds the totals as it does live; the rest is in its intervals.
    let mut replay = Replay::new(recording);
    replay.seek(Duration::MAX);
    let model = &replay.model;
    let series = || model.series.iter();
    let last = model.last();
    let result = RunResult {
        totals: model.cumulative().clone(),
        elapsed: last.map_or(Duration::ZERO, |i| i.elapsed),
        measured: series().map(|i| i.measured).sum(),
        // Wall time less run-clock time is the time paused.
        paused: last.map_or(Duration::ZERO, |i| i.elapsed.saturating_sub(i.run_clock)),
        sent: series().fold(0, |n: u64, i| n.saturating_add(i.sent)),
        sent_measured: series()
            .filter(|i| !i.measured.is_zero())
            .fold(0, |n: u64, i| n.saturating_add(i.sent)),
        dropped: 0,
        unfinished: last.map_or(0, |i| i.in_flight),
        stopped_early: true,
        last_errors: Vec::new(),
        aborted: None,
        resent: 0,
        generator_limited: series()
            .filter(|i| i.generator_limited)
            .map(|i| i.measured)
            .sum(),
        delivery: model.delivery.as_ref().map(|d| d.totals()),
        connections: model.connections.clone(),
        behind_cause: if series().any(|i| i.generator_limited) {
            crate::engine::pace::Lag::GeneratorLimited
        } else {
            crate::engine::pace::Lag::ConnectionsBusy
        },
    };
    let intervals = model.series.len();
    let elapsed = result.elapsed;
    let mut summary = Summary::new(&plan, &result, model, started_at);
    // Where it ran is the recorded environment, not this machine's now.
    if let Ok(env) = serde_json::from_value(header["environment"].clone()) {
        summary.environment = env;
    }
    summary.incomplete = Some(format!(
        "the run was killed at {:.1}s: this summary is rebuilt from the {} intervals in run.jsonl (requests in flight then, and anything after, are not counted)",
        elapsed.as_secs_f64(),
        intervals
    ));
    Ok(summary)
}
