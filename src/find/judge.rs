//! One step's measuring window: its intervals, control-plane samples and probe runs folded together, judged against the SLO, and told apart from the generator's own limit.
//!
//! A step fails on the SLO only when the target broke it. When rampdeck
//! was the limit the step is no verdict on the target: its CPU saturated
//! (an interval marked generator-limited), or every connection was busy
//! while the target answered within the SLO (the SLO holds on service time
//! but not on corrected latency: the requests waited in rampdeck, the pool
//! too small for rate × latency by Little's law). Connections busy because
//! the target slowed down fail on service time too: the target saturating.

use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

use super::search::Verdict;
use crate::report::thresholds::{self, ComponentFacts, Facts};
use crate::spec::thresholds::Threshold;
use crate::stats::{new_histogram, Histograms, IntervalStats, Percentiles};

/// What a step measured, folded as its intervals arrive.
#[derive(Debug, Clone)]
pub struct Window {
    pub level: f64,
    hist: Histograms,
    secs: f64,
    sent: u64,
    finished: u64,
    ok: u64,
    errors: BTreeMap<String, u64>,
    behind_max: u64,
    cpu_max: Option<f64>,
    generator_limited: bool,
    /// Per component: CPU samples (cores) and memory samples (bytes).
    components: BTreeMap<String, (Vec<f64>, Vec<f64>)>,
    probes: BTreeMap<String, Histogram<u64>>,
}

impl Window {
    pub fn new(level: f64) -> Self {
        Window {
            level,
            hist: Histograms::default(),
            secs: 0.0,
            sent: 0,
            finished: 0,
            ok: 0,
            errors: BTreeMap::new(),
            behind_max: 0,
            cpu_max: None,
            generator_limited: false,
            components: BTreeMap::new(),
            probes: BTreeMap::new(),
        }
    }

    pub fn interval(&mut self, i: &IntervalStats, h: &Histograms) {
        self.hist.add(h);
        self.secs += i.len.as_secs_f64();
        self.sent += i.sent;
        self.finished += i.finished;
        self.ok += i.ok;
        for (code, n) in &i.status {
            if crate::stats::is_failure_status(*code) {
                *self
                    .errors
                    .entry(crate::stats::http_error_name(*code))
                    .or_default() += n;
            }
        }
        for (kind, n) in &i.errors {
            *self.errors.entry(kind.name().to_owned()).or_default() += n;
        }
        self.behind_max = self.behind_max.max(i.behind);
        if let Some(c) = i.cpu_percent {
            self.cpu_max = Some(self.cpu_max.map_or(c, |m: f64| m.max(c)));
        }
        self.generator_limited |= i.generator_limited;
    }

    pub fn resource(&mut self, name: &str, cpu: Option<f64>, memory: Option<f64>) {
        let e = self.components.entry(name.to_owned()).or_default();
        e.0.extend(cpu);
        e.1.extend(memory);
    }

    pub fn probe_run(&mut self, name: &str, took: Duration) {
        let h = self
            .probes
            .entry(name.to_owned())
            .or_insert_with(new_histogram);
        let _ = h.record((took.as_micros() as u64).max(1));
    }

    pub fn achieved(&self) -> f64 {
        if self.secs > 0.0 {
            self.sent as f64 / self.secs
        } else {
            0.0
        }
    }

    fn facts(&self, open_loop: bool) -> Facts {
        let mut failures = self.hist.failed.clone();
        let _ = failures.add(&self.hist.errored);
        Facts {
            latency: Percentiles::of(&self.hist.latency),
            service: Percentiles::of(&self.hist.service),
            failed: Percentiles::of(&failures),
            requests: self.finished,
            success_rate: (self.finished > 0)
                .then(|| 100.0 * self.ok as f64 / self.finished as f64),
            rps: self.achieved(),
            target_rps: open_loop.then_some(self.level),
            components: self
                .components
                .iter()
                .map(|(name, (cpu, mem))| ComponentFacts {
                    name: name.clone(),
                    cpu_avg: (!cpu.is_empty()).then(|| cpu.iter().sum::<f64>() / cpu.len() as f64),
                    cpu_max: cpu.iter().copied().reduce(f64::max),
                    memory_max: mem.iter().copied().reduce(f64::max),
                })
                .collect(),
            // A step's window has no delivery accounting of its own, and
            // is one level: no epochs or stages within it.
            delivery: None,
            epochs: Vec::new(),
            stages: Vec::new(),
            probes: self
                .probes
                .iter()
                .map(|(n, h)| (n.clone(), Percentiles::of(h)))
                .collect(),
        }
    }

    /// The step's verdict and each criterion's.
    pub fn judge(
        &self,
        slo: &[Threshold],
        open_loop: bool,
        max_connections: usize,
    ) -> (Verdict, Vec<crate::spec::thresholds::Verdict>) {
        let facts = self.facts(open_loop);
        let verdicts = thresholds::judge(slo, &facts);
        if self.generator_limited {
            let cpu = self.cpu_max.unwrap_or(100.0);
            return (
                Verdict::GeneratorLimited(format!(
                    "generator-limited at {}/s: rampdeck at {cpu:.0}% CPU while the schedule fell behind; add agents or give rampdeck more cores",
                    rampdeck_base::fmt::fmt_rate(self.level)
                )),
                verdicts,
            );
        }
        let Some(first) = verdicts.iter().find(|v| !v.pass) else {
            return (Verdict::Pass, verdicts);
        };
        // Failed on corrected latency while requests waited for a
        // connection: would the target's own answers have met the SLO?
        if open_loop && self.behind_max > 0 {
            let mut on_service = facts.clone();
            on_service.latency = facts.service;
            let held = thresholds::judge(slo, &on_service).iter().all(|v| v.pass);
            if held {
                let need = self.level * facts.service.mean / 1000.0;
                return (
                    Verdict::GeneratorLimited(format!(
                        "generator-limited at {}/s: all {max_connections} connections were busy while the target answered within the SLO (service p99 {:.1} ms); by Little's law the step needs about {:.0} connections (rate × mean service time): raise max_connections or add agents",
                        rampdeck_base::fmt::fmt_rate(self.level),
                        facts.service.p99,
                        need.ceil()
                    )),
                    verdicts,
                );
            }
        }
        (Verdict::Fail(first.describe()), verdicts)
    }

    /// The step as capacity.json records it.
    pub fn record(
        &self,
        index: u32,
        confirm: bool,
        started_s: f64,
        verdict: &Verdict,
        criteria: Vec<crate::spec::thresholds::Verdict>,
    ) -> StepRecord {
        let facts = self.facts(true);
        StepRecord {
            index,
            confirm,
            started_s,
            level: self.level,
            achieved: self.achieved(),
            measured_s: self.secs,
            requests: self.finished,
            success_rate: facts.success_rate,
            latency_ms: facts.latency,
            service_time_ms: facts.service,
            errors: self.errors.clone(),
            behind_max: self.behind_max,
            rampdeck_cpu_percent_max: self.cpu_max,
            components: facts
                .components
                .iter()
                .map(|c| StepComponent {
                    name: c.name.clone(),
                    cpu_avg_cores: c.cpu_avg,
                    cpu_max_cores: c.cpu_max,
                    memory_max_bytes: c.memory_max,
                })
                .collect(),
            verdict: match verdict {
                Verdict::Pass => "pass".into(),
                Verdict::Fail(_) => "fail".into(),
                Verdict::GeneratorLimited(_) => "generator_limited".into(),
            },
            why: match verdict {
                Verdict::Pass => None,
                Verdict::Fail(w) | Verdict::GeneratorLimited(w) => Some(w.clone()),
            },
            criteria,
        }
    }
}

/// One step in capacity.json.
#[derive(Debug, Clone, Serialize)]
pub struct StepRecord {
    pub index: u32,
    pub confirm: bool,
    /// When its measuring window began, seconds since the start.
    pub started_s: f64,
    /// The level held (req/s, or a concurrency).
    pub level: f64,
    /// Requests sent per second of the window.
    pub achieved: f64,
    pub measured_s: f64,
    pub requests: u64,
    pub success_rate: Option<f64>,
    pub latency_ms: Percentiles,
    pub service_time_ms: Percentiles,
    pub errors: BTreeMap<String, u64>,
    /// Most scheduled requests overdue at once (open loop).
    pub behind_max: u64,
    pub rampdeck_cpu_percent_max: Option<f64>,
    pub components: Vec<StepComponent>,
    /// "pass", "fail" or "generator_limited".
    pub verdict: String,
    pub why: Option<String>,
    /// Each SLO criterion on this step's window.
    pub criteria: Vec<crate::spec::thresholds::Verdict>,
}

#[derive(Debug, Clone, Serialize)]
pub struct StepComponent {
    pub name: String,
    pub cpu_avg_cores: Option<f64>,
    pub cpu_max_cores: Option<f64>,
    pub memory_max_bytes: Option<f64>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::summary::RunState;

    fn interval(
        ok_ms: u64,
        service_ms: u64,
        behind: u64,
        limited: bool,
    ) -> (IntervalStats, Histograms) {
        let mut h = Histograms::default();
        for _ in 0..100 {
            h.latency.record(ok_ms * 1000).unwrap();
            h.service.record(service_ms * 1000).unwrap();
        }
        let i = IntervalStats {
            delivery: None,
            connections: None,
            by_request: Vec::new(),
            epochs_begun: Vec::new(),
            index: 0,
            elapsed: Duration::from_secs(1),
            run_clock: Duration::from_secs(1),
            len: Duration::from_secs(1),
            warmup: false,
            measured: Duration::from_secs(1),
            state: RunState::Running,
            stage: 0,
            target: 100.0,
            manual: true,
            sent: 100,
            finished: 100,
            ok: 100,
            in_flight: 2,
            behind,
            due: None,
            under_supplied: false,
            cpu_percent: Some(if limited { 99.0 } else { 30.0 }),
            generator_limited: limited,
            latency: Percentiles::of(&h.latency),
            service: Percentiles::of(&h.service),
            failed_latency: Percentiles::default(),
            error_latency: Percentiles::default(),
            status: vec![(200, 100)],
            errors: vec![],
            checks: vec![],
        };
        (i, h)
    }

    fn slo() -> Vec<Threshold> {
        vec![crate::spec::thresholds::parse_criterion("p99 < 50ms").unwrap()]
    }

    fn judge(ok_ms: u64, service_ms: u64, behind: u64, limited: bool) -> Verdict {
        let mut w = Window::new(100.0);
        let (i, h) = interval(ok_ms, service_ms, behind, limited);
        w.interval(&i, &h);
        w.judge(&slo(), true, 2).0
    }

    #[test]
    fn a_step_passes_or_fails_on_its_own_window() {
        assert_eq!(judge(10, 9, 0, false), Verdict::Pass);
        assert!(matches!(judge(80, 75, 0, false), Verdict::Fail(w) if w.starts_with("p99 < 50ms")));
    }

    #[test]
    fn the_generators_limits_are_not_the_targets() {
        // CPU saturated while behind.
        assert!(
            matches!(judge(10, 9, 5, true), Verdict::GeneratorLimited(w) if w.contains("% CPU"))
        );
        // Requests waited for a connection; the target itself answered in 9 ms.
        assert!(matches!(
            judge(400, 9, 300, false),
            Verdict::GeneratorLimited(w) if w.contains("Little's law") && w.contains("all 2 connections")
        ));
        // The target slowed down and the connections filled: its failure.
        assert!(matches!(judge(400, 300, 300, false), Verdict::Fail(_)));
    }
}
