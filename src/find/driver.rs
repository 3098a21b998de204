//! Drives a run session as an operator would during a capacity search: holds each step's level, judges its window, sets the next level, marks every step on the timeline, stops when the search ends.
//!
//! It is a `View` of the one run session, so the engine, probes, run log
//! and summary are wired exactly as for any run; the only thing it adds is
//! the engine's own control channel (`SetRate`, `SetConcurrency`, `Marker`,
//! `Stop`). Time is the run clock of the intervals it is shown, so a test
//! can drive it with made-up intervals.

use std::time::Duration;

use tokio::sync::mpsc;

use super::judge::{StepRecord, Window};
use super::search::{Next, Outcome, Search};
use crate::engine::Control;
use crate::probes::{ProbeEvent, RunOutcome};
use crate::run::RunModel;
use crate::session::{Note, View};
use crate::spec::find::FindConfig;
use crate::stats::Histograms;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Phase {
    /// Not judged until the run clock reaches this.
    Settle {
        until: Duration,
    },
    /// Judged from `from` until `until` (run clock, as probe readings are).
    Measure {
        from: Duration,
        until: Duration,
    },
    /// Open loop after an overloaded step: nothing new is sent until the
    /// requests it left behind (overdue in rampdeck, queued at the target)
    /// are gone, so they are not charged to the next step; at most until `until`.
    Cool {
        until: Duration,
    },
    Done,
}

/// The longest a cool-down waits for an overloaded step's backlog.
const COOL_MAX: Duration = Duration::from_secs(30);

pub struct Driver<V: View> {
    cfg: FindConfig,
    search: Search,
    control: mpsc::UnboundedSender<Control>,
    max_connections: usize,
    /// The level being held and whether it is the confirmation.
    level: f64,
    confirm: bool,
    phase: Phase,
    window: Window,
    /// Behind (open loop) at the end of the last interval seen.
    last_behind: u64,
    pub steps: Vec<StepRecord>,
    pub outcome: Option<Outcome>,
    /// The view that prints (headless) or logs (console) the run as usual.
    inner: V,
    /// A search of its own (`rampdeck find`) stops the run at its end; one
    /// started from the console (`f`) hands the level back to the plan.
    stop_when_done: bool,
}

impl<V: View> Driver<V> {
    /// The run's plan already holds `cfg.search.start`; the first step begins at run clock 0.
    pub fn new(
        cfg: FindConfig,
        control: mpsc::UnboundedSender<Control>,
        max_connections: usize,
        inner: V,
    ) -> Self {
        Self::starting_at(cfg, control, max_connections, inner, Duration::ZERO, true)
    }

    /// A search that begins at run clock `now` in a run already going (the
    /// console's `f`): it sets its first level itself and, at its end,
    /// hands the level back to the plan unless `stop_when_done`.
    pub fn starting_at(
        cfg: FindConfig,
        control: mpsc::UnboundedSender<Control>,
        max_connections: usize,
        inner: V,
        now: Duration,
        stop_when_done: bool,
    ) -> Self {
        let mut search = Search::new(cfg.search.clone());
        let (level, confirm) = match search.first() {
            Next::Step(l) => (l, false),
            Next::Confirm(l) => (l, true),
            Next::Done(_) => (cfg.search.start, false),
        };
        let d = Driver {
            phase: Phase::Settle {
                until: now + cfg.settle,
            },
            stop_when_done,
            window: Window::new(level),
            last_behind: 0,
            cfg,
            search,
            control,
            max_connections,
            level,
            confirm,
            steps: Vec::new(),
            outcome: None,
            inner,
        };
        if !now.is_zero() {
            d.set_level(level);
        }
        d.mark(now);
        d
    }

    /// Ends a search early (the console's `f` again): the plan decides again.
    pub fn abandon(mut self) -> V {
        let _ = self.control.send(Control::FollowPlan);
        self.outcome.get_or_insert(Outcome::NotConfirmed {
            passed: self.search.bounds().0,
        });
        self.inner
    }

    pub fn done(&self) -> bool {
        self.outcome.is_some()
    }

    pub fn into_inner(self) -> V {
        self.inner
    }

    fn unit(&self) -> &'static str {
        if self.cfg.closed {
            " in flight"
        } else {
            "/s"
        }
    }

    /// A marker on the timeline for the step that begins now.
    fn mark(&self, _at: Duration) {
        let what = if self.confirm { "confirm" } else { "step" };
        let n = self.search.steps_taken();
        let level = rampdeck_base::fmt::fmt_level(self.level.round());
        let _ = self.control.send(Control::Marker(format!(
            "{what} {n}: {level}{}",
            self.unit()
        )));
    }

    fn set_level(&self, level: f64) {
        let c = if self.cfg.closed {
            Control::SetConcurrency(level.round().clamp(1.0, u32::MAX as f64) as u32)
        } else {
            Control::SetRate(level)
        };
        let _ = self.control.send(c);
    }

    fn interval(&mut self, i: &crate::stats::IntervalStats, h: &Histograms) {
        let end = i.run_clock;
        let start = end.saturating_sub(i.len);
        self.last_behind = i.behind;
        match self.phase {
            Phase::Done => {}
            Phase::Cool { until } => {
                if (i.behind == 0 && i.in_flight == 0) || end >= until {
                    self.begin(end);
                }
            }
            Phase::Settle { until } => {
                if end >= until {
                    let len = if self.confirm {
                        self.cfg.confirm
                    } else {
                        self.cfg.step
                    };
                    self.phase = Phase::Measure {
                        from: until,
                        until: until + len,
                    };
                    self.window = Window::new(self.level);
                }
            }
            Phase::Measure { from, until } => {
                if start >= from && end <= until + Duration::from_millis(1) && !i.warmup {
                    self.window.interval(i, h);
                }
                if end >= until {
                    self.end_step(end, from);
                }
            }
        }
    }

    fn end_step(&mut self, now: Duration, from: Duration) {
        let (verdict, criteria) =
            self.window
                .judge(&self.cfg.slo, !self.cfg.closed, self.max_connections);
        let index = self.search.steps_taken();
        self.steps.push(self.window.record(
            index,
            self.confirm,
            from.as_secs_f64(),
            &verdict,
            criteria,
        ));
        let overloaded = self.last_behind > 0 || matches!(verdict, super::search::Verdict::Fail(_));
        let next = self.search.judge(verdict);
        match next {
            Next::Step(l) | Next::Confirm(l) => {
                self.confirm = matches!(next, Next::Confirm(_));
                self.level = l;
                if overloaded && !self.cfg.closed {
                    // Nothing is sent until the step's backlog is gone: a
                    // marker says why the rate drops to 0 on the charts.
                    let _ = self.control.send(Control::SetRate(0.0));
                    let _ = self.control.send(Control::Marker("cool down".into()));
                    self.phase = Phase::Cool {
                        until: now + COOL_MAX,
                    };
                } else {
                    self.begin(now);
                }
            }
            Next::Done(o) => {
                self.outcome = Some(o);
                self.phase = Phase::Done;
                let _ = self.control.send(if self.stop_when_done {
                    Control::End
                } else {
                    Control::FollowPlan
                });
            }
        }
    }

    /// Sets the next step's level and starts its settling.
    fn begin(&mut self, now: Duration) {
        self.set_level(self.level);
        self.phase = Phase::Settle {
            until: now + self.cfg.settle,
        };
        self.mark(now);
    }

    fn measuring_since(&self) -> Option<Duration> {
        match self.phase {
            Phase::Measure { from, .. } => Some(from),
            _ => None,
        }
    }
}

impl<V: View> Driver<V> {
    /// The search's progress for the console: one point per judged step.
    fn progress(&self) -> crate::run::search::SearchProgress {
        use crate::run::search::{SearchPoint, SearchProgress, StepMark};
        let points = self
            .steps
            .iter()
            .map(|s| SearchPoint {
                level: s.level,
                p50_ms: s.latency_ms.p50,
                p99_ms: s.latency_ms.p99,
                cpu: s.components.first().and_then(|c| c.cpu_avg_cores),
                mark: match s.verdict.as_str() {
                    "pass" => StepMark::Pass,
                    "fail" => StepMark::Fail,
                    _ => StepMark::GeneratorLimited,
                },
            })
            .collect();
        let what = if self.confirm { "confirm" } else { "step" };
        let phase = match self.phase {
            Phase::Settle { .. } => "settling",
            Phase::Measure { .. } => "measuring",
            Phase::Cool { .. } => "cooling down",
            Phase::Done => "done",
        };
        let status = match &self.outcome {
            Some(o) => format!(
                "search ended: {}",
                super::result::outcome_words(o, self.unit())
            ),
            None => format!(
                "{what} {} of at most {}: {}{} ({phase})",
                self.search.steps_taken(),
                self.cfg.search.max_steps,
                rampdeck_base::fmt::fmt_level(self.level.round()),
                self.unit()
            ),
        };
        let short = match &self.outcome {
            Some(_) => "search ended".to_owned(),
            // The rate is 0 on purpose: say so where the level would be.
            None if matches!(self.phase, Phase::Cool { .. }) => format!(
                "{what} {}/{} cooling down: 0{}",
                self.search.steps_taken(),
                self.cfg.search.max_steps,
                self.unit()
            ),
            None => format!(
                "{what} {}/{} {}{}",
                self.search.steps_taken(),
                self.cfg.search.max_steps,
                rampdeck_base::fmt::fmt_level(self.level.round()),
                self.unit()
            ),
        };
        let last_failure = self.steps.iter().rev().find_map(|s| {
            let why = s.why.as_ref()?;
            let what = if s.confirm { "confirm" } else { "step" };
            Some(format!(
                "{what} {} at {}{} {}: {why}",
                s.index,
                rampdeck_base::fmt::fmt_level(s.level.round()),
                self.unit(),
                if s.verdict == "fail" {
                    "failed"
                } else {
                    "was rampdeck-limited"
                }
            ))
        });
        SearchProgress {
            points,
            status,
            short,
            last_failure,
            bounds: self.search.bounds(),
            slo_ms: self
                .cfg
                .slo
                .iter()
                .find_map(|t| match (&t.metric, t.bound) {
                    (
                        crate::spec::thresholds::Metric::Latency(_),
                        crate::spec::thresholds::Bound::Value(v),
                    ) => Some((t.name.clone(), v)),
                    _ => None,
                }),
            unit: if self.cfg.closed {
                "in flight"
            } else {
                "req/s"
            },
            done: self.outcome.is_some(),
        }
    }
}

impl<V: View> View for Driver<V> {
    fn note(&mut self, note: &Note, model: &mut RunModel) {
        match note {
            Note::Interval(i, h) => {
                self.interval(i, h);
                // Steps begin and end on interval boundaries: only then can
                // the progress the console draws have changed.
                model.search = Some(self.progress());
            }
            Note::Probe(ProbeEvent::Resource {
                component,
                at,
                cpu_cores,
                memory_bytes,
                ..
            }) if self.measuring_since().is_some_and(|w| *at >= w) => {
                self.window.resource(component, *cpu_cores, *memory_bytes);
            }
            Note::Probe(ProbeEvent::Run {
                name,
                at,
                took,
                outcome: RunOutcome::Ok,
                ..
            }) if self.measuring_since().is_some_and(|w| *at >= w) => {
                self.window.probe_run(name, *took);
            }
            _ => {}
        }
        if model.search.is_none() {
            model.search = Some(self.progress());
        }
        self.inner.note(note, model);
    }
}
