//! The engine's supervisor: run clock, stages, pause and hand-set levels, interval aggregation, shutdown.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tokio::time::MissedTickBehavior;

use super::schedule::{later, Schedule, Segment};
use super::worker::{self, Shared};
use super::{Control, EngineEvent, Snapshot};
use crate::profile::plan::fmt_level;
use crate::profile::{validate::MAX_CONNECTIONS, Mode, Plan};
use crate::run::event::{Event, EventKind};
use crate::stats::summary::RunState;
use crate::stats::{Counts, ErrorKind, IntervalStats, TotalsSummary};

/// A finished run's numbers. `totals` covers what completed after warmup.
#[derive(Debug, Clone)]
pub struct RunResult {
    pub totals: Counts,
    /// Wall time from start to the last request finishing.
    pub elapsed: Duration,
    /// Run-clock time from the end of warmup to the moment sending stopped.
    pub measured: Duration,
    pub paused: Duration,
    /// Requests sent, warmup included.
    pub sent: u64,
    /// Open loop: requests the schedule asked for that never left because
    /// every connection was busy until the run ended.
    pub dropped: u64,
    /// Requests still in flight when the drain timeout gave up on them.
    pub unfinished: u64,
    /// Requests sent again on a new connection because the server closed
    /// the old one before processing them (keep-alive close, HTTP/2 GOAWAY).
    pub resent: u64,
    pub stopped_early: bool,
    pub last_errors: Vec<(ErrorKind, String)>,
    /// Why the run was cut short because no request could succeed (exit 1).
    pub aborted: Option<String>,
}

impl RunResult {
    pub fn rps(&self) -> f64 {
        let s = self.measured.as_secs_f64();
        if s > 0.0 {
            self.totals.completed as f64 / s
        } else {
            0.0
        }
    }
}

pub(super) struct Supervisor {
    plan: Arc<Plan>,
    shared: Arc<Shared>,
    events: mpsc::UnboundedSender<EngineEvent>,
    tx: watch::Sender<Arc<Schedule>>,
    schedule: Schedule,
    workers: JoinSet<()>,
    spawned: usize,
    start: Instant,
    paused_since: Option<Instant>,
    /// A hand-set level and the stage it applies to.
    manual: Option<(usize, f64)>,
    state: RunState,
    keep_histograms: bool,
    // Aggregation.
    interval: Counts,
    spare: Counts,
    totals: Counts,
    in_warmup: bool,
    last_flush: Instant,
    last_started: u64,
    completed_all: u64,
    index: u64,
    seen: [bool; ErrorKind::COUNT],
    seen_status: std::collections::BTreeSet<u16>,
    last_errors: [Option<String>; ErrorKind::COUNT],
    last_stage: Option<usize>,
}

impl Supervisor {
    pub fn new(
        plan: Arc<Plan>,
        shared: Arc<Shared>,
        events: mpsc::UnboundedSender<EngineEvent>,
        workers: usize,
        start: Instant,
        keep_histograms: bool,
    ) -> Self {
        let (tx, _) = watch::channel(Arc::new(Schedule::empty(0)));
        let mut s = Supervisor {
            in_warmup: !plan.load.warmup.is_zero(),
            keep_histograms,
            plan,
            shared,
            events,
            tx,
            schedule: Schedule::empty(0),
            workers: JoinSet::new(),
            spawned: 0,
            start,
            paused_since: None,
            manual: None,
            state: RunState::Running,
            interval: Counts::default(),
            spare: Counts::default(),
            totals: Counts::default(),
            last_flush: start,
            last_started: 0,
            completed_all: 0,
            index: 0,
            seen: [false; ErrorKind::COUNT],
            seen_status: Default::default(),
            last_errors: Default::default(),
            last_stage: None,
        };
        let future = s.future(start, 0.0);
        s.schedule.extend(future);
        s.publish();
        s.spawn_workers(workers);
        s
    }

    fn spawn_workers(&mut self, want: usize) {
        let want = want.min(MAX_CONNECTIONS as usize);
        while self.spawned < want {
            let (id, shared, rx) = (self.spawned, self.shared.clone(), self.tx.subscribe());
            match self.plan.load.mode {
                Mode::Open => self.workers.spawn(worker::open_loop(id, shared, rx)),
                Mode::Closed => self.workers.spawn(worker::closed_loop(id, shared, rx)),
            };
            self.spawned += 1;
        }
    }

    fn publish(&mut self) {
        self.schedule.generation += 1;
        self.tx.send_replace(Arc::new(self.schedule.clone()));
    }

    fn emit(&self, kind: EventKind, message: impl Into<String>) {
        let _ = self.events.send(EngineEvent::Event(Event {
            at: self.start.elapsed(),
            kind,
            message: message.into(),
        }));
    }

    /// Run clock at `t`: wall time since start, less time paused.
    fn run_clock(&self, t: Instant) -> Duration {
        let paused_now = self
            .paused_since
            .map_or(Duration::ZERO, |p| t.saturating_duration_since(p));
        t.saturating_duration_since(self.start)
            .saturating_sub(self.schedule.paused_total + paused_now)
    }

    /// The plan's remaining stages from wall time `t` on, as segments starting at slot `k`.
    fn future(&self, t: Instant, mut k: f64) -> Vec<Segment> {
        let rc = self.run_clock(t);
        let mut out = Vec::new();
        let mut stage_start = Duration::ZERO;
        for (i, st) in self.plan.load.stages.iter().enumerate() {
            let stage_end = stage_start + st.duration;
            if stage_end > rc {
                let from = rc.max(stage_start);
                let (r0, slope) = match self.manual {
                    Some((stage, level)) if stage == i => (level, 0.0),
                    _ => {
                        let secs = st.duration.as_secs_f64();
                        let f = (from - stage_start).as_secs_f64() / secs;
                        (st.from + (st.to - st.from) * f, (st.to - st.from) / secs)
                    }
                };
                let seg = Segment {
                    t0: later(t, from - rc),
                    len: stage_end - from,
                    k0: k,
                    r0,
                    slope,
                    paused_before: self.schedule.paused_total,
                    stage: i,
                };
                k = seg.k_end();
                out.push(seg);
            }
            stage_start = stage_end;
        }
        out
    }

    fn current_level(&self, now: Instant) -> f64 {
        let (_, planned) = self.plan.load.level_at(self.run_clock(now));
        match self.manual {
            Some((stage, level)) if Some(stage) == self.current_stage(now) => level,
            _ => planned,
        }
    }

    fn current_stage(&self, now: Instant) -> Option<usize> {
        let rc = self.run_clock(now);
        (rc < self.plan.load.duration()).then(|| self.plan.load.level_at(rc).0)
    }

    /// Applies a command; returns true when the run should stop.
    fn apply(&mut self, cmd: Control) -> bool {
        let now = Instant::now();
        match cmd {
            Control::Pause if self.paused_since.is_none() => {
                self.schedule.truncate_at(now);
                self.schedule.paused = true;
                self.paused_since = Some(now);
                self.state = RunState::Paused;
                self.publish();
                self.emit(EventKind::Paused, "paused: nothing is sent until resumed");
            }
            Control::Resume if self.paused_since.is_some() => {
                let paused_for = self.paused_since.take().map_or(Duration::ZERO, |p| now - p);
                self.schedule.paused_total += paused_for;
                self.schedule.paused = false;
                let k = self.schedule.k_end();
                let future = self.future(now, k);
                self.schedule.extend(future);
                self.state = RunState::Running;
                self.publish();
                self.emit(
                    EventKind::Resumed,
                    format!("resumed after {:.1}s paused", paused_for.as_secs_f64()),
                );
            }
            Control::TogglePause => {
                let next = if self.paused_since.is_some() {
                    Control::Resume
                } else {
                    Control::Pause
                };
                return self.apply(next);
            }
            Control::SetRate(level) if self.plan.load.mode == Mode::Open => {
                self.set_level(now, level)
            }
            Control::SetConcurrency(level) if self.plan.load.mode == Mode::Closed => {
                self.spawn_workers(level as usize);
                self.set_level(now, level as f64)
            }
            Control::SetRate(_) | Control::SetConcurrency(_) => {
                let what = match self.plan.load.mode {
                    Mode::Open => "this is an open-loop run: set its rate, not a concurrency",
                    Mode::Closed => "this is a closed-loop run: set its concurrency, not a rate",
                };
                self.emit(EventKind::Warning, what);
            }
            Control::Marker(name) => self.emit(
                EventKind::Marker { name: name.clone() },
                format!("marker: {name}"),
            ),
            Control::Stop => return true,
            Control::Pause | Control::Resume => {}
        }
        false
    }

    fn set_level(&mut self, now: Instant, level: f64) {
        if !level.is_finite() || level < 0.0 {
            self.emit(
                EventKind::Warning,
                format!("ignored level {level}: must be 0 or more"),
            );
            return;
        }
        let Some(stage) = self.current_stage(now) else {
            return;
        };
        let before = self.current_level(now);
        self.manual = Some((stage, level));
        if self.paused_since.is_none() {
            let k = self.schedule.truncate_at(now);
            let future = self.future(now, k);
            self.schedule.extend(future);
            self.publish();
        }
        self.emit(
            EventKind::LevelSet {
                from: before,
                to: level,
            },
            format!(
                "{} set to {} (was {}) until stage {} ends",
                match self.plan.load.mode {
                    Mode::Open => "rate",
                    Mode::Closed => "concurrency",
                },
                fmt_level(level),
                fmt_level(before),
                stage + 1
            ),
        );
    }

    /// Moves what workers recorded since the last flush into an interval snapshot.
    fn flush(&mut self, now: Instant) {
        // Started is read before the drain: a request counts as started
        // before its result is recorded, so in-flight (started - completed)
        // can then never exceed what really was in flight. Read after the
        // drain, a supervisor preempted between the two reads counted every
        // request that started and finished meanwhile as still in flight
        // (16 in flight under a concurrency of 8 on a busy machine).
        let started_all = self.shared.recorder.started_total();
        self.shared
            .recorder
            .drain_into(&mut self.interval, &mut self.spare);
        let started = started_all - self.last_started;
        self.last_started = started_all;
        self.completed_all += self.interval.completed;
        for kind in ErrorKind::ALL {
            if let Some(m) = &self.interval.messages[kind.index()] {
                if !self.seen[kind.index()] {
                    self.seen[kind.index()] = true;
                    self.emit(EventKind::FirstError { kind }, format!("first {kind}: {m}"));
                }
                self.last_errors[kind.index()] = Some(m.clone());
            }
        }
        let status = self.interval.status_list();
        for &(code, _) in &status {
            if crate::stats::is_failure_status(code) && self.seen_status.insert(code) {
                let text = if (100..600).contains(&code) {
                    format!("first HTTP {code} response")
                } else {
                    format!("first response with status {code}, which HTTP does not define (counted as a failure)")
                };
                self.emit(EventKind::FirstStatus { code }, text);
            }
        }
        let stage = self.schedule.stage_at(now).or(self.last_stage).unwrap_or(0);
        if self.last_stage != Some(stage) && self.state != RunState::Stopping {
            if let Some(st) = self.plan.load.stages.get(stage) {
                let n = self.plan.load.stages.len();
                let text = format!(
                    "stage {}/{n}: {}",
                    stage + 1,
                    st.describe(self.plan.load.mode)
                );
                self.emit(EventKind::Stage { index: stage }, text);
            }
            self.last_stage = Some(stage);
        }
        // The run totals keep no per-request list: it only serves route
        // actions, which read it from the interval.
        let failures = std::mem::take(&mut self.interval.failures);
        if !self.in_warmup {
            self.totals.merge(&self.interval);
        }
        let interval = IntervalStats {
            index: self.index,
            elapsed: now - self.start,
            run_clock: self.run_clock(now),
            len: now - self.last_flush,
            warmup: self.in_warmup,
            state: self.state,
            stage,
            // The level in force (also while paused: what the run resumes at).
            target: if self.current_stage(now).is_some()
                && self.state != RunState::Stopping
                && self.state != RunState::Finished
            {
                self.current_level(now)
            } else {
                0.0
            },
            manual: self
                .manual
                .is_some_and(|(s, _)| Some(s) == self.current_stage(now)),
            started,
            completed: self.interval.completed,
            ok: self.interval.ok,
            in_flight: started_all.saturating_sub(self.completed_all),
            latency: crate::stats::Percentiles::of(&self.interval.latency),
            service: crate::stats::Percentiles::of(&self.interval.service),
            status,
            errors: self.interval.error_list(),
        };
        let histograms = self.keep_histograms.then(|| {
            std::sync::Arc::new((self.interval.latency.clone(), self.interval.service.clone()))
        });
        let snapshot = Snapshot {
            interval,
            histograms,
            totals: TotalsSummary::of(&self.totals),
            last_errors: self.last_error_list(),
            failures,
        };
        let _ = self.events.send(EngineEvent::Interval(Box::new(snapshot)));
        self.interval.reset();
        self.index += 1;
        self.last_flush = now;
    }

    /// A scheduled flush, unless one happened moments ago (an interval of a
    /// few microseconds would show as a wild rate).
    fn tick(&mut self, interval: Duration) {
        let now = Instant::now();
        if now - self.last_flush >= interval / 2 {
            self.flush(now);
        }
    }

    fn last_error_list(&self) -> Vec<(ErrorKind, String)> {
        ErrorKind::ALL
            .iter()
            .filter_map(|&k| self.last_errors[k.index()].clone().map(|m| (k, m)))
            .collect()
    }

    /// Wall time at which warmup ends, if it is still ahead and the run is not paused.
    fn warmup_end(&self) -> Option<Instant> {
        (self.in_warmup && self.paused_since.is_none()).then(|| {
            later(
                self.start,
                self.plan.load.warmup + self.schedule.paused_total,
            )
        })
    }

    pub async fn run(mut self, mut control: mpsc::UnboundedReceiver<Control>) -> RunResult {
        let interval = self.plan.load.interval;
        let mut tick = tokio::time::interval_at(later(self.start, interval).into(), interval);
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut control_open = true;
        let mut stopped_early = false;
        self.emit(
            EventKind::Started,
            format!(
                "started: {} against {}",
                self.plan.name,
                self.plan.target_display()
            ),
        );
        loop {
            let end = if self.paused_since.is_some() {
                None
            } else {
                self.schedule.end()
            };
            let warm_end = self.warmup_end();
            tokio::select! {
                biased;
                cmd = control.recv(), if control_open => match cmd {
                    None => control_open = false,
                    Some(cmd) => if self.apply(cmd) { stopped_early = true; break },
                },
                _ = sleep_until_opt(warm_end), if warm_end.is_some() => {
                    let now = Instant::now();
                    self.flush(now);
                    // Intervals restart at the warmup boundary, full length.
                    tick.reset();
                    self.in_warmup = false;
                    self.emit(EventKind::WarmupEnded, "warmup over: statistics start now");
                }
                _ = tick.tick() => {
                    self.tick(interval);
                    if let Some(why) = self.shared.fatal.get() {
                        self.emit(EventKind::Warning, format!("cannot go on: {why}"));
                        stopped_early = true;
                        break;
                    }
                }
                _ = sleep_until_opt(end), if end.is_some() => break,
            }
        }

        // Stop sending; let requests in flight finish, up to the drain timeout.
        let stop_at = Instant::now();
        let measured = self
            .run_clock(stop_at)
            .saturating_sub(self.plan.load.warmup);
        let due = self.schedule.count_at(stop_at).floor() as u64;
        self.schedule.truncate_at(stop_at);
        self.publish();
        self.shared.stop.cancel();
        self.state = RunState::Stopping;
        let paused =
            self.schedule.paused_total + self.paused_since.map_or(Duration::ZERO, |p| stop_at - p);
        self.emit(
            EventKind::Stopping {
                early: stopped_early,
            },
            if stopped_early {
                "stopping early: waiting for requests in flight"
            } else {
                "schedule complete: waiting for requests in flight"
            },
        );
        let deadline =
            tokio::time::Instant::from_std(later(stop_at, super::drain_timeout(&self.plan)));
        // A Stop while draining abandons what is in flight only if it is
        // the second: one that stopped the run early, or one before it here.
        // After a schedule that ran out, one signal must not drop requests.
        let mut abandon_on_stop = stopped_early;
        loop {
            tokio::select! {
                biased;
                cmd = control.recv(), if control_open => match cmd {
                    Some(Control::Stop) if abandon_on_stop => break,
                    Some(Control::Stop) => {
                        abandon_on_stop = true;
                        let in_flight = self.shared.recorder.started_total().saturating_sub(self.completed_all);
                        self.emit(
                            EventKind::Warning,
                            format!(
                                "stop asked: still waiting up to {} for about {in_flight} requests in flight; stop again to abandon them",
                                crate::profile::plan::fmt_dur(super::drain_timeout(&self.plan))
                            ),
                        );
                    }
                    Some(_) => {}
                    None => control_open = false,
                },
                joined = self.workers.join_next() => if joined.is_none() { break },
                _ = tick.tick() => self.tick(interval),
                _ = tokio::time::sleep_until(deadline) => break,
            }
        }
        self.workers.abort_all();
        while self.workers.join_next().await.is_some() {}
        let end = Instant::now();
        self.state = RunState::Finished;
        self.flush(end);
        let sent = self.shared.recorder.started_total();
        let unfinished = sent.saturating_sub(self.completed_all);
        let dropped = match self.plan.load.mode {
            Mode::Open => due.saturating_sub(sent),
            Mode::Closed => 0,
        };
        if unfinished > 0 {
            self.emit(EventKind::Warning, format!("{unfinished} requests were still in flight when the run ended; they are not counted"));
        }
        if dropped > 0 {
            self.emit(
                EventKind::Warning,
                format!(
                    "{dropped} scheduled requests never left: all {} connections were busy",
                    self.plan.load.max_connections
                ),
            );
        }
        self.emit(
            EventKind::Finished,
            format!("finished after {:.1}s", (end - self.start).as_secs_f64()),
        );
        RunResult {
            totals: std::mem::take(&mut self.totals),
            elapsed: end - self.start,
            measured,
            paused,
            sent,
            dropped,
            unfinished,
            stopped_early,
            last_errors: self.last_error_list(),
            aborted: self.shared.fatal.get().cloned(),
            resent: self.shared.recorder.resent_total(),
        }
    }
}

async fn sleep_until_opt(t: Option<Instant>) {
    match t {
        Some(t) => tokio::time::sleep_until(t.into()).await,
        None => std::future::pending().await,
    }
}
