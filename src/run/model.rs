//! `RunModel`: folds engine events into the series, event list and totals that every view draws from.

use std::time::Duration;

use crate::engine::{EngineEvent, Snapshot};
use crate::stats::summary::RunState;
use crate::stats::{ErrorKind, Histograms, IntervalStats, Measurements, Series, TotalsSummary};

use super::probes::{ComponentView, ProbeView};
use crate::engine::event::{Event, EventKind};
use crate::probes::{ProbeEvent, ProbeKind};
use crate::spec::plan::Plan;

/// Enough 250 ms intervals for 8 hours; older ones fall off the charts.
pub const SERIES_CAPACITY: usize = 8 * 3600 * 4;
/// Events beyond this are counted but not kept (a flapping target must not grow memory).
pub const EVENTS_CAPACITY: usize = 10_000;

#[derive(Debug, Clone)]
pub struct RunModel {
    pub series: Series<IntervalStats>,
    pub events: Vec<Event>,
    pub events_dropped: u64,
    pub totals: TotalsSummary,
    pub last_errors: Vec<(ErrorKind, String)>,
    pub state: RunState,
    /// Control-plane components, in profile order.
    pub components: Vec<ComponentView>,
    /// Stat commands, then HTTP probes, in profile order.
    pub probes: Vec<ProbeView>,
    /// The thresholds' latest live verdicts.
    pub thresholds: Vec<crate::spec::thresholds::Verdict>,
    /// Route action firings and their drops.
    pub routes: super::routes::RouteLog,
    /// A capacity search's progress, while one steers the run.
    pub search: Option<super::search::SearchProgress>,
    /// A distributed run's agents (None for a run on this machine alone).
    pub agents: Option<crate::stats::agents::AgentsStatus>,
    /// `[delivery]`: the accounting so far (None without a sink).
    pub delivery: Option<super::delivery::DeliverySoFar>,
    /// `mode = "connections"`: the run's connection numbers so far (the
    /// latest interval's running totals).
    pub connections: Option<crate::stats::connections::ConnInterval>,
    /// Requests sent in every interval so far, warmup included.
    pub sent_total: u64,
    /// Everything after warmup, folded from the intervals' histograms.
    cumulative: Measurements,
    /// The same requests by level epoch (stage, hand-set level, search step).
    pub epochs: crate::stats::epochs::EpochBook,
    /// The level in force now: the last interval's, or a newer hand-set one
    /// (while paused no interval comes to show it).
    pub level: f64,
    /// The control plane's and the probes' numbers as they were when the
    /// run ended: the console keeps following them after, for the panes,
    /// but an idle target's readings are not the run's.
    frozen: Option<(Vec<ComponentView>, Vec<ProbeView>)>,
}

impl Default for RunModel {
    fn default() -> Self {
        RunModel {
            series: Series::new(SERIES_CAPACITY),
            events: Vec::new(),
            events_dropped: 0,
            totals: TotalsSummary::default(),
            last_errors: Vec::new(),
            state: RunState::Running,
            components: Vec::new(),
            probes: Vec::new(),
            thresholds: Vec::new(),
            routes: super::routes::RouteLog::default(),
            search: None,
            agents: None,
            delivery: None,
            connections: None,
            sent_total: 0,
            cumulative: Measurements::default(),
            epochs: Default::default(),
            level: 0.0,
            frozen: None,
        }
    }
}

impl RunModel {
    /// A model that already lists the plan's components and probes, so the
    /// panes can show them before their first sample.
    pub fn for_plan(plan: &Plan) -> Self {
        let p = &plan.probes;
        RunModel {
            components: p
                .sources
                .iter()
                .map(|s| ComponentView::new(&s.name))
                .collect(),
            probes: p
                .stats
                .iter()
                .map(|s| ProbeView::new(&s.name, ProbeKind::Stat))
                .chain(
                    p.probes
                        .iter()
                        .map(|h| ProbeView::new(&h.name, ProbeKind::Http)),
                )
                .collect(),
            routes: super::routes::RouteLog::new(
                plan.target.timeout,
                plan.requests
                    .iter()
                    .map(|r| (r.name.clone(), r.weight))
                    .collect(),
            ),
            delivery: plan.delivery.as_ref().map(|_| Default::default()),
            connections: plan.connections.as_ref().map(|_| Default::default()),
            ..RunModel::default()
        }
    }

    pub fn apply_probe(&mut self, e: ProbeEvent) {
        match e {
            ProbeEvent::Resource {
                component,
                at,
                cpu_cores,
                memory_bytes,
                took,
                note,
            } => {
                self.component(&component)
                    .record(at, cpu_cores, memory_bytes, took, note);
            }
            ProbeEvent::Run {
                name,
                kind,
                at,
                took,
                outcome,
                output,
            } => {
                self.probe(&name, kind).record(at, took, outcome, output);
            }
            ProbeEvent::State { name, at, problem } => {
                let (kind, message) = match &problem {
                    Some(p) => (
                        EventKind::ProbeFailing { name: name.clone() },
                        format!("{name} failing: {p}"),
                    ),
                    None => (
                        EventKind::ProbeRecovered { name: name.clone() },
                        format!("{name} ok again"),
                    ),
                };
                if let Some(c) = self.components.iter_mut().find(|c| c.name == name) {
                    c.problem = problem.clone();
                }
                if let Some(p) = self.probes.iter_mut().find(|p| p.name == name) {
                    p.problem = problem;
                }
                self.push_event(Event {
                    at,
                    wall: None,
                    kind,
                    message,
                });
            }
        }
    }

    /// Keeps the probes' numbers as they are now for the summary: the run
    /// has ended; what follows is for the panes only.
    pub fn freeze_probe_stats(&mut self) {
        if self.frozen.is_none() {
            self.frozen = Some((self.components.clone(), self.probes.clone()));
        }
    }

    /// The control plane's and probes' numbers the summary reports.
    pub fn probe_stats(&self) -> (&[ComponentView], &[ProbeView]) {
        match &self.frozen {
            Some((c, p)) => (c, p),
            None => (&self.components, &self.probes),
        }
    }

    /// Folds in a route action firing's new state (its event goes on the timeline).
    pub fn apply_route(&mut self, r: crate::routes::ActionRecord) {
        let e = self.routes.update(r);
        self.push_event(e);
    }

    /// Closes the drop windows still open when the run ends; returns their events.
    pub fn finish_routes(&mut self) -> Vec<Event> {
        let events = self.routes.finish();
        for e in &events {
            self.push_event(e.clone());
        }
        events
    }

    fn component(&mut self, name: &str) -> &mut ComponentView {
        let i = match self.components.iter().position(|c| c.name == name) {
            Some(i) => i,
            None => {
                self.components.push(ComponentView::new(name));
                self.components.len() - 1
            }
        };
        &mut self.components[i]
    }

    fn probe(&mut self, name: &str, kind: ProbeKind) -> &mut ProbeView {
        let i = match self.probes.iter().position(|p| p.name == name) {
            Some(i) => i,
            None => {
                self.probes.push(ProbeView::new(name, kind));
                self.probes.len() - 1
            }
        };
        &mut self.probes[i]
    }

    /// Folds in an engine event; returns the events it made in turn (route
    /// drop reports whose window has passed), which are also in `events`.
    pub fn apply(&mut self, e: EngineEvent) -> Vec<Event> {
        match e {
            EngineEvent::Interval(s) => self.apply_snapshot(*s),
            EngineEvent::Event(ev) => {
                // Between intervals (a pause holds the clock, so none comes), the state follows the events.
                match ev.kind {
                    EventKind::LevelSet { to, .. } => self.level = to,
                    EventKind::Paused => self.state = RunState::Paused,
                    EventKind::Resumed => self.state = RunState::Running,
                    EventKind::Stopping { .. } => self.state = RunState::Stopping,
                    _ => {}
                }
                self.push_event(ev);
                Vec::new()
            }
            EngineEvent::Agents(a) => {
                self.agents = Some(*a);
                Vec::new()
            }
        }
    }

    fn apply_snapshot(&mut self, s: Snapshot) -> Vec<Event> {
        let made = self.routes.interval(&s.failures, &s.interval);
        for e in &made {
            self.push_event(e.clone());
        }
        self.last_errors = s.last_errors;
        self.apply_interval(s.interval, &s.histograms);
        made
    }

    /// Folds in one interval and its histograms: the series, the state, and
    /// the totals (after warmup), which are exact because histograms merge.
    /// Live runs, replays and merged agents all go through here.
    pub fn apply_interval(&mut self, i: IntervalStats, h: &Histograms) {
        if !i.warmup {
            self.cumulative.add_interval(&i, h);
            self.totals = TotalsSummary::of(&self.cumulative);
        }
        self.epochs.add_interval(&i, &h.epochs);
        self.sent_total += i.sent;
        if let Some(d) = &i.delivery {
            self.delivery.get_or_insert_with(Default::default).fold(d);
        }
        if let Some(c) = &i.connections {
            self.connections = Some(c.run.clone());
        }
        self.state = i.state;
        self.level = i.target;
        self.series.push(i);
    }

    /// Keeps events in time order: probe and engine events arrive on
    /// different channels and may cross.
    pub fn push_event(&mut self, ev: Event) {
        if self.events.len() < EVENTS_CAPACITY {
            let at = self
                .events
                .iter()
                .rposition(|e| e.at <= ev.at)
                .map_or(0, |i| i + 1);
            self.events.insert(at, ev);
        } else {
            self.events_dropped += 1;
        }
    }

    /// Records what a threshold watch reported, as timeline events; returns them.
    pub fn threshold_changes(&mut self, changes: Vec<(bool, String)>) -> Vec<Event> {
        let mut added = Vec::new();
        let (at, wall) = self
            .last()
            .map_or((Duration::ZERO, None), |i| (i.run_clock, Some(i.elapsed)));
        for (breach, text) in changes {
            let (kind, message) = if breach {
                (
                    EventKind::ThresholdBreached,
                    format!("threshold breached: {text}"),
                )
            } else {
                (
                    EventKind::ThresholdRecovered,
                    format!("threshold holds again: {text}"),
                )
            };
            let e = Event {
                at,
                wall,
                kind,
                message,
            };
            added.push(e.clone());
            self.push_event(e);
        }
        added
    }

    /// Everything after warmup, as folded from the intervals (histograms and counters).
    pub fn cumulative(&self) -> &Measurements {
        &self.cumulative
    }

    pub fn last(&self) -> Option<&IntervalStats> {
        self.series.last()
    }

    /// Sums the intervals that ended within `window` of the newest one.
    pub fn recent(&self, window: Duration) -> Recent {
        let mut r = Recent::default();
        let Some(newest) = self.series.last() else {
            return r;
        };
        for i in self.series.iter().rev() {
            if newest.elapsed.saturating_sub(i.elapsed) >= window {
                break;
            }
            r.secs += i.len.as_secs_f64();
            r.sent += i.sent;
            r.finished += i.finished;
            r.ok += i.ok;
            r.delivered += i.delivery.as_ref().map_or(0, |d| d.delivered);
        }
        r
    }
}

/// Measurements over a recent window of intervals.
#[derive(Debug, Clone, Copy, Default)]
pub struct Recent {
    pub secs: f64,
    pub sent: u64,
    pub finished: u64,
    pub ok: u64,
    /// `[delivery]`: events delivered.
    pub delivered: u64,
}

impl Recent {
    pub fn sent_rate(&self) -> f64 {
        if self.secs > 0.0 {
            self.sent as f64 / self.secs
        } else {
            0.0
        }
    }
    pub fn done_rate(&self) -> f64 {
        if self.secs > 0.0 {
            self.finished as f64 / self.secs
        } else {
            0.0
        }
    }
    pub fn success_rate(&self) -> Option<f64> {
        (self.finished > 0).then(|| 100.0 * self.ok as f64 / self.finished as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reading(at: u64, cpu: f64) -> ProbeEvent {
        ProbeEvent::Resource {
            component: "cp".into(),
            at: Duration::from_secs(at),
            cpu_cores: Some(cpu),
            memory_bytes: Some(1e6),
            took: Duration::from_millis(2),
            note: None,
        }
    }

    #[test]
    fn readings_after_the_run_show_in_the_panes_not_the_summary() {
        let mut m = RunModel::default();
        m.apply_probe(reading(1, 0.5));
        m.apply_probe(reading(2, 0.5));
        m.freeze_probe_stats();
        // The console follows an idle target after the run ends.
        for at in 3..20 {
            m.apply_probe(reading(at, 0.0));
        }
        assert_eq!(m.components[0].samples, 19);
        let (c, _) = m.probe_stats();
        assert_eq!(c[0].samples, 2);
        assert_eq!(c[0].cpu_avg(), Some(0.5));
    }
}
