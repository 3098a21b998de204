//! What a capacity search found: `capacity.json` (every step, the result, the environment) and the table printed at the end.

use std::fmt::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::judge::StepRecord;
use super::search::Outcome;
use super::usl::UslFit;

pub const SCHEMA: u32 = 1;

#[derive(Debug, Clone, Serialize)]
pub struct CapacityResult {
    pub schema: u32,
    pub rampdeck: &'static str,
    pub target: String,
    /// "rate" (open loop, req/s) or "concurrency" (closed loop).
    pub searched: &'static str,
    pub slo: Vec<String>,
    pub outcome: Outcome,
    /// The highest level that held its confirmation (None when none did,
    /// or rampdeck was the limit).
    pub max_sustainable: Option<f64>,
    /// The lowest level that failed, and the criterion that broke first.
    pub lowest_failing: Option<LowestFailing>,
    /// The knee of p99 against the achieved rate (Kneedle, over all steps).
    pub knee: Option<f64>,
    /// Each control-plane component's cost at the found level.
    pub cost: Vec<Cost>,
    /// Closed loop with four steps or more: the Universal Scalability Law.
    pub usl: Option<UslFit>,
    /// A demo route's capacity by construction (workers / service time).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub theory: Option<f64>,
    pub steps: Vec<StepRecord>,
    pub environment: crate::run::env::Environment,
}

#[derive(Debug, Clone, Serialize)]
pub struct LowestFailing {
    pub level: f64,
    pub criterion: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Cost {
    pub component: String,
    pub cpu_cores: Option<f64>,
    pub memory_bytes: Option<f64>,
    /// CPU cores per 1,000 req/s at the found rate (open loop).
    pub cpu_per_1k_rps: Option<f64>,
}

/// How a search ended, in a few words (the console's header).
pub fn outcome_words(o: &Outcome, unit: &str) -> String {
    let l = |v: f64| rampdeck_base::fmt::fmt_level((v * 10.0).round() / 10.0);
    match o {
        Outcome::Found { level } => format!("max sustainable {}{unit}", l(*level)),
        Outcome::AboveMax { level } => format!("at least {}{unit} (the maximum)", l(*level)),
        Outcome::FirstStepFailed { level, criterion } => {
            format!("the first step ({}{unit}) failed: {criterion}", l(*level))
        }
        Outcome::GeneratorLimited { level, .. } => {
            format!("generator-limited at {}{unit}: no capacity", l(*level))
        }
        Outcome::NotConfirmed { .. } => "no level held its confirmation".to_owned(),
        Outcome::OutOfSteps { .. } => "out of steps".to_owned(),
    }
}

impl CapacityResult {
    pub fn write_json(&self, dir: &Path) -> Result<PathBuf, std::io::Error> {
        std::fs::create_dir_all(dir)?;
        let path = dir.join("capacity.json");
        let mut text = serde_json::to_string_pretty(self).unwrap_or_default();
        text.push('\n');
        std::fs::write(&path, text)?;
        Ok(path)
    }

    fn unit(&self) -> &'static str {
        if self.searched == "concurrency" {
            " in flight"
        } else {
            " req/s"
        }
    }

    /// The table printed at the end of a search.
    pub fn table(&self) -> String {
        let mut s = String::new();
        let u = self.unit();
        let lvl = |v: f64| rampdeck_base::fmt::fmt_level((v * 10.0).round() / 10.0);
        let _ = writeln!(s, "Capacity search: {} ({})", self.target, self.searched);
        let _ = writeln!(s, "  SLO          {}", self.slo.join(", "));
        let _ = writeln!(
            s,
            "  {:>4} {:>8} {:>9} {:>8} {:>8} {:>8} {:>8}  verdict",
            "step", "level", "achieved", "p50 ms", "p99 ms", "svc p99", "success"
        );
        for st in &self.steps {
            // The failing criterion and its value fit the row; the SLO is
            // above, and capacity.json has each criterion's whole verdict.
            let why = st
                .criteria
                .iter()
                .find(|c| !c.pass && st.verdict == "fail")
                .map(|c| c.brief())
                .or_else(|| st.why.clone());
            let _ = writeln!(
                s,
                "  {:>4} {:>8} {:>9.1} {:>8.2} {:>8.2} {:>8.2} {:>7.2}%  {}{}",
                format!("{}{}", st.index, if st.confirm { "c" } else { "" }),
                lvl(st.level),
                st.achieved,
                st.latency_ms.p50,
                st.latency_ms.p99,
                st.service_time_ms.p99,
                st.success_rate.unwrap_or(0.0),
                st.verdict,
                why.map_or_else(String::new, |w| format!(": {w}"))
            );
        }
        let _ = writeln!(s);
        match &self.outcome {
            Outcome::Found { level } => {
                let _ = writeln!(
                    s,
                    "  Max sustainable  {}{u} (held its confirmation)",
                    lvl(*level)
                );
            }
            Outcome::AboveMax { level } => {
                let _ = writeln!(
                    s,
                    "  Max sustainable  at least {}{u}: every step up to --max passed; raise --max",
                    lvl(*level)
                );
            }
            Outcome::FirstStepFailed { level, criterion } => {
                let _ = writeln!(
                    s,
                    "  FAILED at the first step ({}{u}): {criterion}; lower --start",
                    lvl(*level)
                );
            }
            Outcome::GeneratorLimited { why, passed, .. } => {
                let _ = writeln!(s, "  NO CAPACITY: {why}");
                if let Some(p) = passed {
                    let _ = writeln!(s, "  The target held {}{u}; its capacity is higher than rampdeck could measure here.", lvl(*p));
                }
            }
            Outcome::NotConfirmed { passed } => {
                let _ = writeln!(
                    s,
                    "  NOT CONFIRMED: no level held its confirmation{}",
                    passed.map_or_else(String::new, |p| format!(
                        " (steps passed up to {}{u})",
                        lvl(p)
                    ))
                );
            }
            Outcome::OutOfSteps { passed, failed } => {
                let _ = writeln!(
                    s,
                    "  OUT OF STEPS: between {} and {}{u}; raise --max-steps or --precision",
                    passed.map_or("-".into(), lvl),
                    failed.map_or("-".into(), lvl)
                );
            }
        }
        if let Some(f) = &self.lowest_failing {
            let _ = writeln!(s, "  Lowest failing   {}{u}: {}", lvl(f.level), f.criterion);
        }
        if let Some(k) = self.knee {
            let _ = writeln!(
                s,
                "  Knee             {}{u} (p99 against the achieved rate)",
                lvl(k)
            );
        }
        if let Some(t) = self.theory {
            let _ = writeln!(
                s,
                "  Theory           {} req/s (the demo route's workers / mean service time)",
                lvl(t)
            );
        }
        for c in &self.cost {
            let _ = writeln!(
                s,
                "  Cost             {}: cpu {} cores{}, memory {}",
                c.component,
                c.cpu_cores.map_or("-".into(), |v| format!("{v:.3}")),
                c.cpu_per_1k_rps
                    .map_or_else(String::new, |v| format!(" ({v:.3} per 1,000 req/s)")),
                c.memory_bytes.map_or("-".into(), rampdeck_base::fmt::bytes)
            );
        }
        if let Some(u) = &self.usl {
            let _ = writeln!(
                s,
                "  USL              sigma {:.4} kappa {:.6} lambda {:.1}/s, peak {} at {} in flight (R² {:.3})",
                u.sigma,
                u.kappa,
                u.lambda,
                u.peak_throughput.map_or("-".into(), |v| format!("{v:.0}/s")),
                u.peak_concurrency.map_or("-".into(), |v| format!("{v:.1}")),
                u.r_squared
            );
        }
        // As the run's summary: 80 columns, long lines wrapped under themselves.
        s.lines()
            .flat_map(|l| crate::util::text::wrap(l, crate::report::summary::TEXT_WIDTH))
            .map(|l| l + "\n")
            .collect()
    }
}
