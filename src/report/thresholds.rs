//! Thresholds judged: the facts a run gives them, each threshold judged at the end, and the live watch that breaches them early.
//!
//! A threshold is a metric, an operator and a bound: `p99 = "< 250ms"`,
//! `success_rate = "> 99.9"`, `rps = ">= 99% of target"`, a component's
//! `cpu_max = "< 0.5"` or `memory_max = "< 200MiB"`, a probe's `p95 = "< 2s"`.
//! Values are compared in the metric's own unit (ms, %, req/s, cores, bytes).

use std::time::Duration;

use crate::run::RunModel;
use crate::spec::thresholds::Scope;
use crate::spec::thresholds::{Bound, Metric, Pct, Threshold, Verdict};
use crate::stats::epochs::{EpochRow, StageRow};
use crate::stats::Percentiles;

use super::summary::Summary;

/// The percentile `p` names, of `x`.
fn pct(p: Pct, x: &Percentiles) -> f64 {
    match p {
        Pct::P50 => x.p50,
        Pct::P90 => x.p90,
        Pct::P95 => x.p95,
        Pct::P99 => x.p99,
        Pct::P999 => x.p999,
        Pct::Max => x.max,
        Pct::Mean => x.mean,
    }
}

/// The numbers thresholds are judged on.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    /// Successful responses only.
    pub latency: Percentiles,
    pub service: Percentiles,
    /// Failed responses and transport errors.
    pub failed: Percentiles,
    pub requests: u64,
    pub success_rate: Option<f64>,
    pub rps: f64,
    /// Mean target rate over the measured time (open loop only).
    pub target_rps: Option<f64>,
    pub components: Vec<ComponentFacts>,
    /// (name, durations in ms)
    pub probes: Vec<(String, Percentiles)>,
    /// `[delivery]`'s accounting.
    pub delivery: Option<DeliveryFacts>,
    /// Each level epoch and each stage (what `epoch.N.*` and `stage.NAME.*` judge).
    pub epochs: Vec<LevelFacts>,
    pub stages: Vec<LevelFacts>,
}

/// One epoch's or stage's numbers.
#[derive(Debug, Clone, Default)]
pub struct LevelFacts {
    /// 1-based.
    pub index: usize,
    pub name: Option<String>,
    pub latency: Percentiles,
    pub service: Percentiles,
    pub success_rate: Option<f64>,
    pub rps: f64,
    /// The mean level it asked for (what "% of target" takes, open loop).
    pub target: f64,
}

impl LevelFacts {
    pub fn of_epochs(rows: &[EpochRow]) -> Vec<Self> {
        rows.iter()
            .map(|r| LevelFacts {
                index: r.index,
                name: None,
                latency: r.latency,
                service: r.service,
                success_rate: r.success_rate,
                rps: r.achieved,
                target: r.level,
            })
            .collect()
    }

    pub fn of_stages(stages: &[StageRow]) -> Vec<Self> {
        stages
            .iter()
            .map(|s| LevelFacts {
                index: s.index,
                name: s.name.clone(),
                latency: s.latency,
                service: s.service,
                success_rate: s.success_rate,
                rps: s.achieved,
                target: s.level,
            })
            .collect()
    }
}

/// What delivery thresholds judge.
#[derive(Debug, Clone, Default)]
pub struct DeliveryFacts {
    pub delivered_pct: Option<f64>,
    /// End-to-end latency, ms (live: the latest interval's).
    pub latency: Percentiles,
    pub duplicates: u64,
    pub lost: u64,
}

/// A component's CPU (cores) and memory (bytes), where sampled.
#[derive(Debug, Clone, Default)]
pub struct ComponentFacts {
    pub name: String,
    pub cpu_avg: Option<f64>,
    pub cpu_max: Option<f64>,
    pub memory_max: Option<f64>,
}

/// Over the measured window so far: its length, the requests sent in it,
/// and the mean target level (the same sums the final summary uses).
fn measured(model: &RunModel) -> (f64, u64, Option<f64>) {
    let mut secs = 0.0;
    let mut sent = 0;
    let mut weighted = 0.0;
    for i in model.series.iter().filter(|i| !i.measured.is_zero()) {
        let s = i.measured.as_secs_f64();
        secs += s;
        sent += i.sent;
        weighted += i.target * s;
    }
    (secs, sent, (secs > 0.0).then(|| weighted / secs))
}

impl Facts {
    /// So far, from the live model.
    pub fn live(model: &RunModel, open_loop: bool) -> Self {
        let (secs, sent, target) = measured(model);
        let t = &model.totals;
        Facts {
            latency: t.latency,
            service: t.service,
            failed: t.failures,
            requests: t.requests,
            success_rate: t.success_rate(),
            rps: if secs > 0.0 { sent as f64 / secs } else { 0.0 },
            target_rps: if open_loop { target } else { None },
            components: model
                .components
                .iter()
                .map(|c| ComponentFacts {
                    name: c.name.clone(),
                    cpu_avg: c.cpu_avg(),
                    cpu_max: (!c.cpu.is_empty()).then_some(c.cpu_max),
                    memory_max: (!c.memory.is_empty()).then_some(c.memory_max),
                })
                .collect(),
            probes: model
                .probes
                .iter()
                .map(|p| (p.name.clone(), Percentiles::of(&p.durations)))
                .collect(),
            delivery: model.delivery.as_ref().map(|d| DeliveryFacts {
                delivered_pct: d.delivered_pct(),
                latency: d.recent_latency,
                duplicates: d.duplicates,
                lost: d.lost,
            }),
            epochs: Vec::new(),
            stages: Vec::new(),
        }
    }

    /// Adds the epochs and stages so far (the live watch does when a threshold names one).
    pub fn with_levels(mut self, model: &RunModel, stage_names: &[Option<String>]) -> Self {
        self.epochs = LevelFacts::of_epochs(&model.epochs.rows(stage_names));
        self.stages = LevelFacts::of_stages(&model.epochs.stages(stage_names));
        self
    }

    /// At the end, from the summary (and the model for the target rate).
    pub fn of_summary(s: &Summary, model: &RunModel) -> Self {
        Facts {
            latency: s.latency_ms,
            service: s.service_time_ms,
            failed: s.failed_ms,
            requests: s.requests,
            success_rate: (s.requests > 0).then_some(s.success_rate),
            rps: s.rps,
            target_rps: if s.mode == "open" {
                measured(model).2
            } else {
                None
            },
            components: s
                .components
                .iter()
                .map(|c| ComponentFacts {
                    name: c.name.clone(),
                    cpu_avg: c.cpu_avg_cores,
                    cpu_max: c.cpu_max_cores,
                    memory_max: c.memory_max_bytes,
                })
                .collect(),
            probes: s
                .probes
                .iter()
                .map(|p| {
                    (
                        p.name.clone(),
                        Percentiles {
                            p50: p.p50_ms,
                            p95: p.p95_ms,
                            p99: p.p99_ms,
                            max: p.max_ms,
                            count: p.runs,
                            ..Percentiles::default()
                        },
                    )
                })
                .collect(),
            delivery: s.delivery.as_ref().map(|d| DeliveryFacts {
                delivered_pct: d.delivered_pct,
                latency: d.latency_ms,
                duplicates: d.duplicates,
                lost: d.lost,
            }),
            epochs: LevelFacts::of_epochs(&s.epochs),
            stages: LevelFacts::of_stages(&s.stages),
        }
    }

    /// The epoch or stage a scope names: a stage by name, or by number when
    /// it is one.
    fn level(&self, scope: &Scope) -> Option<&LevelFacts> {
        match scope {
            Scope::Epoch(n) => self.epochs.iter().find(|e| e.index == *n),
            Scope::Stage(s) => self
                .stages
                .iter()
                .find(|x| x.name.as_deref() == Some(s.as_str()) || s.parse() == Ok(x.index)),
        }
    }

    /// What "% of target" is a share of, for `m`.
    fn target_of(&self, m: &Metric) -> Option<f64> {
        match m {
            Metric::Scoped(scope, _) => self.level(scope).map(|l| l.target),
            _ => self.target_rps,
        }
    }

    fn component(&self, name: &str) -> Option<&ComponentFacts> {
        self.components.iter().find(|c| c.name == name)
    }

    fn actual(&self, m: &Metric) -> Option<f64> {
        let nonempty = |p: &Percentiles| p.count > 0;
        match m {
            Metric::Latency(p) => nonempty(&self.latency).then(|| pct(*p, &self.latency)),
            Metric::Service(p) => nonempty(&self.service).then(|| pct(*p, &self.service)),
            Metric::Failed(p) => nonempty(&self.failed).then(|| pct(*p, &self.failed)),
            Metric::SuccessRate => self.success_rate,
            Metric::Rps => Some(self.rps),
            Metric::CpuAvg(n) => self.component(n).and_then(|c| c.cpu_avg),
            Metric::CpuMax(n) => self.component(n).and_then(|c| c.cpu_max),
            Metric::MemoryMax(n) => self.component(n).and_then(|c| c.memory_max),
            Metric::Probe(n, p) => self
                .probes
                .iter()
                .find(|x| &x.0 == n)
                .filter(|x| x.1.count > 0)
                .map(|x| pct(*p, &x.1)),
            Metric::DeliveryRate => self.delivery.as_ref().and_then(|d| d.delivered_pct),
            Metric::Delivery(p) => self
                .delivery
                .as_ref()
                .filter(|d| d.latency.count > 0)
                .map(|d| pct(*p, &d.latency)),
            Metric::Duplicates => self.delivery.as_ref().map(|d| d.duplicates as f64),
            Metric::Lost => self.delivery.as_ref().map(|d| d.lost as f64),
            Metric::Scoped(scope, inner) => {
                let l = self.level(scope)?;
                let facts = Facts {
                    latency: l.latency,
                    service: l.service,
                    success_rate: l.success_rate,
                    rps: l.rps,
                    ..Facts::default()
                };
                facts.actual(inner)
            }
        }
    }
}

/// Judges every threshold. Missing data fails: a threshold nobody could check has not passed.
pub fn judge(thresholds: &[Threshold], facts: &Facts) -> Vec<Verdict> {
    thresholds
        .iter()
        .map(|t| {
            let actual = facts.actual(&t.metric);
            let limit = match t.bound {
                Bound::Value(v) => Some(v),
                Bound::OfTarget(pct) => facts
                    .target_of(&t.metric)
                    .map(|target| target * pct / 100.0),
            };
            let pass = matches!((actual, limit), (Some(a), Some(l)) if t.op.holds(a, l));
            Verdict {
                name: t.name.clone(),
                expr: t.expr.clone(),
                unit: t.metric.unit(),
                actual,
                limit,
                pass,
            }
        })
        .collect()
}

/// Live evaluation: reports each threshold's passage into and out of breach once.
pub struct Watch {
    thresholds: Vec<Threshold>,
    open_loop: bool,
    breached: Vec<bool>,
    /// Set when a threshold names an epoch or a stage: the stages' names.
    levels: Option<Vec<Option<String>>>,
}

/// Live verdicts need this much measured traffic, so the first few requests cannot flap them.
pub const LIVE_MIN_REQUESTS: u64 = 100;
pub const LIVE_MIN_TIME: Duration = Duration::from_secs(2);

impl Watch {
    pub fn new(thresholds: Vec<Threshold>, open_loop: bool) -> Self {
        let n = thresholds.len();
        Watch {
            thresholds,
            open_loop,
            breached: vec![false; n],
            levels: None,
        }
    }

    /// The plan's stage names, for thresholds on a stage or an epoch
    /// (the epochs' percentiles are only worked out when one is judged).
    pub fn with_stages(mut self, names: Vec<Option<String>>) -> Self {
        if self
            .thresholds
            .iter()
            .any(|t| matches!(t.metric, Metric::Scoped(..)))
        {
            self.levels = Some(names);
        }
        self
    }

    /// Judges the model so far; returns the messages of thresholds that
    /// changed state (breached: true). Stores the verdicts on the model.
    pub fn update(&mut self, model: &mut RunModel) -> Vec<(bool, String)> {
        if self.thresholds.is_empty() {
            return Vec::new();
        }
        let mut facts = Facts::live(model, self.open_loop);
        if let Some(names) = &self.levels {
            facts = facts.with_levels(model, names);
        }
        let (secs, _, _) = measured(model);
        if facts.requests < LIVE_MIN_REQUESTS || secs < LIVE_MIN_TIME.as_secs_f64() {
            return Vec::new();
        }
        let verdicts = judge(&self.thresholds, &facts);
        let mut changes = Vec::new();
        for (v, was) in verdicts.iter().zip(self.breached.iter_mut()) {
            // No data yet (e.g. no probe sample) is not a live breach.
            let breach = !v.pass && v.actual.is_some();
            if breach != *was {
                *was = breach;
                changes.push((breach, v.describe()));
            }
        }
        model.thresholds = verdicts;
        changes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::thresholds::{parse, Op};

    fn t(metric: Metric, text: &str) -> Threshold {
        parse("x", metric, text).unwrap()
    }

    #[test]
    fn parses_each_kind_of_bound() {
        assert_eq!(
            t(Metric::Latency(Pct::P99), "< 250ms").bound,
            Bound::Value(250.0)
        );
        assert_eq!(t(Metric::Latency(Pct::P99), "<=1.5s").op, Op::Le);
        assert_eq!(t(Metric::SuccessRate, "> 99.9%").bound, Bound::Value(99.9));
        assert_eq!(
            t(Metric::Rps, ">= 99% of target").bound,
            Bound::OfTarget(99.0)
        );
        assert_eq!(t(Metric::Rps, ">= 950").bound, Bound::Value(950.0));
        assert_eq!(
            t(Metric::MemoryMax("cp".into()), "< 200MiB").bound,
            Bound::Value(200.0 * 1024.0 * 1024.0)
        );
        assert_eq!(
            t(Metric::CpuMax("cp".into()), "< 0.5 cores").bound,
            Bound::Value(0.5)
        );
    }

    #[test]
    fn bad_expressions_say_what_is_allowed() {
        let e = parse("p99", Metric::Latency(Pct::P99), "250ms").unwrap_err();
        assert!(
            e.contains("does not start with <, <=, > or >=") && e.contains("\"< 250ms\""),
            "{e}"
        );
        let e = parse("p99", Metric::Latency(Pct::P99), "< fast").unwrap_err();
        assert!(e.contains("'fast' is not a duration"), "{e}");
        let e = parse("rps", Metric::Rps, ">= lots").unwrap_err();
        assert!(e.contains("\"N% of target\""), "{e}");
        assert!(parse("m", Metric::MemoryMax("c".into()), "< 2 parsecs").is_err());
    }

    #[test]
    fn judges_against_facts_and_fails_without_data() {
        let facts = Facts {
            latency: Percentiles {
                p99: 300.0,
                count: 10,
                ..Percentiles::default()
            },
            success_rate: Some(99.95),
            rps: 495.0,
            target_rps: Some(500.0),
            requests: 10,
            ..Facts::default()
        };
        let v = judge(
            &[
                t(Metric::Latency(Pct::P99), "< 250ms"),
                t(Metric::SuccessRate, "> 99.9"),
                t(Metric::Rps, ">= 99% of target"),
                t(Metric::Rps, ">= 99.5% of target"),
                t(Metric::CpuMax("nobody".into()), "< 1"),
            ],
            &facts,
        );
        assert_eq!(
            v.iter().map(|v| v.pass).collect::<Vec<_>>(),
            vec![false, true, true, false, false]
        );
        assert_eq!(v[2].limit, Some(495.0));
        assert_eq!(
            v[4].actual, None,
            "no such component: no data, so not passed"
        );
        assert!(
            v[0].describe().contains("actual 300 ms, limit 250 ms"),
            "{}",
            v[0].describe()
        );
    }
}
