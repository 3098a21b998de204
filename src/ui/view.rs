//! What the panes show, derived from the `RunModel`: windowed series, markers, recent rates.

use std::time::Duration;

use crate::run::RunModel;
use crate::stats::IntervalStats;

use super::app::ChartWindow;

/// The x range (seconds since start) a chart shows for `window`.
pub fn x_range(model: &RunModel, window: ChartWindow) -> (f64, f64) {
    let now = model.last().map_or(0.0, |i| i.run_clock.as_secs_f64());
    match window.duration() {
        // Until the run is as long as the window, stretch what there is
        // across the chart instead of squeezing it into the left edge.
        Some(w) => ((now - w.as_secs_f64()).max(0.0), now.max(10.0)),
        None => (0.0, now.max(10.0)),
    }
}

/// One value per interval within `x`.
pub fn points(
    model: &RunModel,
    x: (f64, f64),
    f: impl Fn(&IntervalStats) -> Option<f64>,
) -> Vec<(f64, f64)> {
    model
        .series
        .iter()
        .filter(|i| i.run_clock.as_secs_f64() >= x.0)
        .filter_map(|i| f(i).map(|v| (i.run_clock.as_secs_f64(), v)))
        .collect()
}

/// Intervals shorter than this (only the last one of a run can be) give no
/// meaningful rate; rate charts skip them.
pub const MIN_RATE_INTERVAL: Duration = Duration::from_millis(50);

/// A per-second rate of `count` over the interval, if the interval is long enough.
pub fn rate_of(i: &IntervalStats, count: u64) -> Option<f64> {
    (i.len >= MIN_RATE_INTERVAL).then(|| count as f64 / i.secs())
}

/// Events worth a marker on the charts, within `x`: what the operator,
/// the stages and the route actions did gets a labelled line; what the run
/// noticed by itself (a first error, a first failing status) only a tick
/// on the axis, with its words in the Events pane, so it cannot crowd them.
pub fn markers(model: &RunModel, x: (f64, f64)) -> Vec<ChartMarker> {
    crate::engine::event::chart_marks(&model.events)
        .into_iter()
        .filter(|m| m.at >= x.0 && m.at <= x.1)
        .map(|m| ChartMarker {
            x: m.at,
            label: m.label,
        })
        .collect()
}

/// One event on a chart: a labelled line, or (no label) a tick on the axis.
#[derive(Debug, Clone, PartialEq)]
pub struct ChartMarker {
    pub x: f64,
    pub label: Option<String>,
}

/// A short window of recent intervals for the headline numbers.
pub const RECENT: Duration = Duration::from_secs(1);

pub fn fmt_rate(v: f64) -> String {
    if v >= 10_000.0 {
        format!("{:.1}k", v / 1000.0)
    } else if v >= 100.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

pub fn fmt_ms(v: f64) -> String {
    if v >= 1000.0 {
        format!("{:.2}s", v / 1000.0)
    } else if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// A latency axis label: "250 ms", "1.5 s".
pub fn fmt_ms_axis(v: f64) -> String {
    if v >= 1000.0 {
        format!("{} s", trim(v / 1000.0))
    } else {
        format!("{} ms", trim(v))
    }
}

fn trim(v: f64) -> String {
    let s = format!("{v:.2}");
    s.trim_end_matches('0').trim_end_matches('.').to_owned()
}

pub fn fmt_clock(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 3600 {
        format!("{}h{:02}m{:02}s", s / 3600, s / 60 % 60, s % 60)
    } else {
        format!("{}m{:02}s", s / 60, s % 60)
    }
}
