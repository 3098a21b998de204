//! A capacity search's progress as the views see it: one point per judged step, the bounds, and where the search is; written by the search's driver, drawn by the console.

/// How a step came out, for colouring.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepMark {
    Pass,
    Fail,
    GeneratorLimited,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SearchPoint {
    /// The level offered (req/s, or in flight).
    pub level: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// The first control-plane component's mean CPU in the step (cores).
    pub cpu: Option<f64>,
    pub mark: StepMark,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct SearchProgress {
    pub points: Vec<SearchPoint>,
    /// "step 4 of at most 16: 800/s (settling)" or how it ended.
    pub status: String,
    /// The same in a few cells: "step 4/16 800/s".
    pub short: String,
    /// Why the newest step that did not pass failed: "step 6 at 2760/s
    /// failed: p99 < 1s (actual 1.2 s, limit 1000 ms)".
    pub last_failure: Option<String>,
    /// Highest pass and lowest fail so far.
    pub bounds: (Option<f64>, Option<f64>),
    /// The SLO's first latency criterion: its name and limit in ms.
    pub slo_ms: Option<(String, f64)>,
    /// "req/s" or "in flight".
    pub unit: &'static str,
    pub done: bool,
}
