//! `[find]`: what a capacity search looks for and how it steps (the search itself is `find`).

use std::time::Duration;

use crate::spec::thresholds::Threshold;

#[derive(Debug, Clone, PartialEq)]
pub struct SearchConfig {
    pub start: f64,
    pub max: f64,
    /// Growth per step until the first failure (2 = doubling).
    pub factor: f64,
    /// Stop bisecting when (fail - pass) / pass is at most this.
    pub precision: f64,
    /// Steps at most, the confirmation(s) included.
    pub max_steps: u32,
    /// Whole levels only (closed loop: a concurrency).
    pub integer: bool,
}

/// What to search and how (the `[find]` table and the flags).
#[derive(Debug, Clone, PartialEq)]
pub struct FindConfig {
    pub search: SearchConfig,
    /// Held before each step's window, not judged.
    pub settle: Duration,
    /// Each step's judged window.
    pub step: Duration,
    /// The found level's final, longer hold.
    pub confirm: Duration,
    pub slo: Vec<Threshold>,
    /// Search concurrency (closed loop) instead of rate.
    pub closed: bool,
}

impl FindConfig {
    pub fn defaults(closed: bool) -> Self {
        FindConfig {
            search: SearchConfig {
                start: if closed { 1.0 } else { 100.0 },
                max: if closed { 1_000.0 } else { 1_000_000.0 },
                factor: 2.0,
                precision: 0.02,
                max_steps: 16,
                integer: closed,
            },
            settle: Duration::from_secs(3),
            step: Duration::from_secs(10),
            confirm: Duration::from_secs(30),
            slo: Vec::new(),
            closed,
        }
    }

    /// Long enough for every step the search may take, and every confirmation.
    pub fn budget(&self) -> Duration {
        let steps = self.search.max_steps + 3;
        (self.settle + self.step.max(self.confirm)).saturating_mul(steps)
    }
}

/// Whether an SLO can judge a search's steps: delivery accounting runs over
/// the whole run (a step's window has none of its own), and a criterion on
/// a component or probe the plan does not watch would fail the first step
/// with nothing measured, so both are refused before the search starts.
/// A run's thresholds as a search's SLO: those on one epoch or stage are
/// left out (each step is a level of its own; they judge the run after).
pub fn slo_of_thresholds(
    thresholds: &[crate::spec::thresholds::Threshold],
) -> Vec<crate::spec::thresholds::Threshold> {
    thresholds
        .iter()
        .filter(|t| !matches!(t.metric, crate::spec::thresholds::Metric::Scoped(..)))
        .cloned()
        .collect()
}

pub fn check_slo(
    slo: &[crate::spec::thresholds::Threshold],
    probes: &crate::spec::probes::ProbesConfig,
) -> Result<(), String> {
    use crate::spec::thresholds::Metric;
    for t in slo {
        match &t.metric {
            Metric::Scoped(scope, _) => {
                return Err(format!(
                    "'{} {}' judges {}, and every step of a search is a level of its own: write it without '{}.' to judge each step",
                    t.name,
                    t.expr,
                    scope.prefix(),
                    scope.prefix()
                ))
            }
            Metric::DeliveryRate | Metric::Delivery(_) | Metric::Duplicates | Metric::Lost => {
                return Err(format!(
                    "'{} {}' judges delivery, which a capacity search's steps do not measure on their own; leave it out of the SLO (it still judges a plain run)",
                    t.name, t.expr
                ))
            }
            m => {
                if let Some(why) = probes.missing(m) {
                    return Err(format!("'{} {}': {why}", t.name, t.expr));
                }
            }
        }
    }
    Ok(())
}
