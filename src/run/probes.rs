//! Probe data as the views see it: per component CPU/memory series, per probe durations and failures.

use std::time::Duration;

use hdrhistogram::Histogram;

use crate::probes::{ProbeKind, RunOutcome};
use crate::stats::{new_histogram, Series};

/// Samples kept per component (a 2 s interval: more than 9 hours).
pub const COMPONENT_SAMPLES: usize = 16_384;

#[derive(Debug, Clone)]
pub struct ComponentView {
    pub name: String,
    /// (seconds since start, cores)
    pub cpu: Series<(f64, f64)>,
    /// (seconds since start, bytes)
    pub memory: Series<(f64, f64)>,
    /// How long each scrape or query took, microseconds.
    pub took: Histogram<u64>,
    pub cpu_sum: f64,
    pub cpu_max: f64,
    pub memory_max: f64,
    pub samples: u64,
    /// Why the source is failing now (None: healthy or not yet known).
    pub problem: Option<String>,
    pub note: Option<String>,
}

impl ComponentView {
    pub fn new(name: &str) -> Self {
        ComponentView {
            name: name.to_owned(),
            cpu: Series::new(COMPONENT_SAMPLES),
            memory: Series::new(COMPONENT_SAMPLES),
            took: new_histogram(),
            cpu_sum: 0.0,
            cpu_max: 0.0,
            memory_max: 0.0,
            samples: 0,
            problem: None,
            note: None,
        }
    }

    pub fn record(
        &mut self,
        at: Duration,
        cpu: Option<f64>,
        memory: Option<f64>,
        took: Duration,
        note: Option<String>,
    ) {
        let t = at.as_secs_f64();
        if let Some(c) = cpu {
            self.cpu.push((t, c));
            self.cpu_sum += c;
            self.cpu_max = self.cpu_max.max(c);
        }
        if let Some(m) = memory {
            self.memory.push((t, m));
            self.memory_max = self.memory_max.max(m);
        }
        self.took
            .saturating_record((took.as_micros() as u64).max(1));
        self.samples += 1;
        self.note = note;
    }

    pub fn cpu_avg(&self) -> Option<f64> {
        let n = self.cpu.len() as f64 + self.cpu.dropped() as f64;
        (n > 0.0).then(|| self.cpu_sum / n)
    }
}

#[derive(Debug, Clone)]
pub struct ProbeView {
    pub name: String,
    pub kind: ProbeKind,
    /// Wall time of each run, microseconds.
    pub durations: Histogram<u64>,
    /// (seconds since start, milliseconds) per run.
    pub series: Series<(f64, f64)>,
    pub runs: u64,
    pub failures: u64,
    pub timeouts: u64,
    pub last: Option<(Duration, RunOutcome)>,
    pub output: Vec<String>,
    pub problem: Option<String>,
}

impl ProbeView {
    pub fn new(name: &str, kind: ProbeKind) -> Self {
        ProbeView {
            name: name.to_owned(),
            kind,
            durations: new_histogram(),
            series: Series::new(COMPONENT_SAMPLES),
            runs: 0,
            failures: 0,
            timeouts: 0,
            last: None,
            output: Vec::new(),
            problem: None,
        }
    }

    pub fn record(
        &mut self,
        at: Duration,
        took: Duration,
        outcome: RunOutcome,
        output: Vec<String>,
    ) {
        self.durations
            .saturating_record((took.as_micros() as u64).max(1));
        self.series
            .push((at.as_secs_f64(), took.as_secs_f64() * 1000.0));
        self.runs += 1;
        match &outcome {
            RunOutcome::Ok => {}
            RunOutcome::Failed(_) => self.failures += 1,
            RunOutcome::TimedOut => self.timeouts += 1,
        }
        // A run that printed nothing (a timeout) keeps the last output shown.
        if !output.is_empty() {
            self.output = output;
        }
        self.last = Some((took, outcome));
    }
}
