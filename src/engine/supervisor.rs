//! The engine's supervisor: run clock, stages, pause and hand-set levels, intervals on the clock's grid, shutdown.
//!
//! Intervals lie on a fixed grid of the run clock: interval *n* covers run
//! clock `[n·Δ, (n+1)·Δ)` whatever happens in it (a pause stops the clock,
//! so an interval that holds a pause closes after it), so two processes'
//! intervals line up by index. Warmup is rounded up to the grid.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::clock::RunClock;
use super::schedule::{later, Schedule, Segment};
use super::worker::{self, Shared};
use super::{Control, EngineEvent, Snapshot};
use crate::engine::event::{Event, EventKind};
use crate::spec::plan::{Mode, Plan};
use crate::stats::epochs::{EpochKind, EpochMeta};
use crate::stats::summary::RunState;
use crate::stats::{ErrorKind, IntervalStats, Measurements, Percentiles};
use crate::util::limits::MAX_CONNECTIONS;
use rampdeck_base::fmt::fmt_level;

/// A finished run's numbers. `totals` covers what completed after warmup.
#[derive(Debug, Clone)]
pub struct RunResult {
    pub totals: Measurements,
    /// Wall time from start to the last request finishing.
    pub elapsed: Duration,
    /// The measured window on the run clock: from the end of warmup to the
    /// moment sending stopped (pauses excluded).
    pub measured: Duration,
    pub paused: Duration,
    /// Requests sent, warmup included.
    pub sent: u64,
    /// Requests sent within the measured window.
    pub sent_measured: u64,
    /// Open loop: requests the schedule asked for that never left because
    /// every connection was busy until the run ended.
    pub dropped: u64,
    /// Requests still in flight when the drain timeout gave up on them.
    pub unfinished: u64,
    pub stopped_early: bool,
    pub last_errors: Vec<(ErrorKind, String)>,
    /// Why the run was cut short because no request could succeed (exit 1).
    pub aborted: Option<String>,
    /// Requests sent again on a new connection because the server closed
    /// the old one before processing them (keep-alive close, HTTP/2 GOAWAY).
    pub resent: u64,
    /// Measured time rampdeck's CPU was saturated while the schedule fell behind.
    pub generator_limited: Duration,
    /// Why the backlog (and so `dropped`) grew, mostly.
    pub behind_cause: super::pace::Lag,
    /// `[delivery]`: every published event's account.
    pub delivery: Option<crate::stats::delivery::DeliveryTotals>,
    /// `mode = "connections"`: the run's connection numbers after warmup.
    pub connections: Option<crate::stats::connections::ConnInterval>,
}

impl RunResult {
    /// The achieved rate: requests sent within the measured window, per
    /// measured second (docs/numbers.md, "Achieved rate"). Completions during the
    /// drain after it belong to requests already counted here.
    pub fn rps(&self) -> f64 {
        rate(self.sent_measured, self.measured)
    }
}

/// `n` per second of `d` (0 for an empty window).
pub fn rate(n: u64, d: Duration) -> f64 {
    let s = d.as_secs_f64();
    if s > 0.0 {
        n as f64 / s
    } else {
        0.0
    }
}

pub(super) struct Supervisor {
    /// `Control::End` came: the run ends as planned, not early.
    ended: bool,
    plan: Arc<Plan>,
    shared: Arc<Shared>,
    events: mpsc::UnboundedSender<EngineEvent>,
    tx: watch::Sender<Arc<Schedule>>,
    clock_tx: watch::Sender<RunClock>,
    schedule: Schedule,
    workers: JoinSet<()>,
    spawned: usize,
    origin: Instant,
    paused_since: Option<Instant>,
    /// A hand-set level and the stage it applies to.
    manual: Option<(usize, f64)>,
    state: RunState,
    /// The grid step.
    delta: Duration,
    /// Warmup, rounded up to the grid.
    warmup: Duration,
    /// Run-clock time sending stopped (the measured window's end).
    stop_rc: Option<Duration>,
    // Aggregation.
    interval: Measurements,
    spare: Measurements,
    totals: Measurements,
    /// The interval being filled covers [index·Δ, (index+1)·Δ).
    index: u64,
    last_started: u64,
    sent_measured: u64,
    finished_all: u64,
    seen: [bool; ErrorKind::COUNT],
    seen_status: std::collections::BTreeSet<u16>,
    /// Lost, duplicate and unknown deliveries announced.
    delivery_seen: [bool; 3],
    /// Connection failure kinds already announced.
    connection_firsts: std::collections::BTreeSet<String>,
    last_errors: [Option<String>; ErrorKind::COUNT],
    /// Stages whose start has been announced.
    stages_announced: usize,
    /// Each ended pause: the run clock when it began, and its length.
    pauses: Vec<(Duration, Duration)>,
    pub(super) cpu: super::cpu::CpuMeter,
    pace: super::pace::Pace,
    /// Commands waiting for their run-clock time (`Control::At`), soonest first.
    pending: Vec<(Duration, Control)>,
    /// Every level epoch made so far (`stats::epochs`), and whether an
    /// interval has announced it as begun.
    epochs: Vec<(EpochMeta, bool)>,
    /// Each stage's own epoch (its plan from its start), made once.
    stage_epochs: Vec<Option<u32>>,
}

impl Supervisor {
    pub fn new(
        plan: Arc<Plan>,
        shared: Arc<Shared>,
        events: mpsc::UnboundedSender<EngineEvent>,
        clock_tx: watch::Sender<RunClock>,
        workers: usize,
        origin: Instant,
        share: Option<Arc<super::share::Share>>,
    ) -> Self {
        let delta = plan.load.interval.max(Duration::from_millis(1));
        let warmup = round_up(plan.load.warmup, delta);
        let (tx, _) = watch::channel(Arc::new(Schedule::empty(0, origin)));
        let mut s = Supervisor {
            plan,
            shared,
            events,
            tx,
            clock_tx,
            schedule: Schedule::empty(0, origin),
            workers: JoinSet::new(),
            spawned: 0,
            origin,
            paused_since: None,
            manual: None,
            state: RunState::Running,
            delta,
            warmup,
            stop_rc: None,
            interval: Measurements::default(),
            spare: Measurements::default(),
            totals: Measurements::default(),
            index: 0,
            last_started: 0,
            sent_measured: 0,
            finished_all: 0,
            seen: [false; ErrorKind::COUNT],
            seen_status: Default::default(),
            delivery_seen: [false; 3],
            connection_firsts: Default::default(),
            last_errors: Default::default(),
            stages_announced: 0,
            ended: false,
            pauses: Vec::new(),
            cpu: super::cpu::CpuMeter::new(),
            pace: super::pace::Pace::default(),
            pending: Vec::new(),
            epochs: Vec::new(),
            stage_epochs: Vec::new(),
        };
        s.schedule.share = share;
        let future = s.future(Duration::ZERO, 0.0);
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
                Mode::Closed if shared.connections.is_some() => self
                    .workers
                    .spawn(super::connections::hold_loop(id, shared, rx)),
                Mode::Closed => self.workers.spawn(worker::closed_loop(id, shared, rx)),
            };
            self.spawned += 1;
        }
    }

    fn publish(&mut self) {
        self.schedule.generation += 1;
        self.tx.send_replace(Arc::new(self.schedule.clone()));
        let clock = RunClock {
            origin: self.origin,
            paused_total: self.schedule.paused_total,
            paused_since: self.paused_since,
            stopped: self.state == RunState::Finished,
        };
        self.clock_tx.send_replace(clock);
    }

    fn clock(&self) -> RunClock {
        *self.clock_tx.borrow()
    }

    /// Run clock now.
    fn rc(&self) -> Duration {
        self.clock().now()
    }

    /// Wall time since the start at which the run clock read `rc` (for
    /// event stamps): `rc` plus the pauses that began before it.
    fn elapsed_of(&self, rc: Duration) -> Duration {
        let paused: Duration = self
            .pauses
            .iter()
            .filter(|(at, _)| *at < rc)
            .map(|(_, len)| *len)
            .sum();
        rc.saturating_add(paused)
    }

    /// An event at run-clock `rc` (a stage's start, warmup's end).
    fn emit_at(&self, rc: Duration, kind: EventKind, message: impl Into<String>) {
        self.send_event(rc, self.elapsed_of(rc), kind, message.into());
    }

    /// An event now.
    fn emit(&self, kind: EventKind, message: impl Into<String>) {
        self.send_event(self.rc(), self.origin.elapsed(), kind, message.into());
    }

    fn send_event(&self, at: Duration, wall: Duration, kind: EventKind, message: String) {
        let _ = self.events.send(EngineEvent::Event(Event {
            at,
            wall: Some(wall),
            kind,
            message,
        }));
    }

    /// A new level epoch over run-clock `span` (its start, and the stage's
    /// end where the level would reach `to`).
    fn new_epoch(
        &mut self,
        span: (Duration, Duration),
        stage: usize,
        kind: EpochKind,
        (from, to): (f64, f64),
    ) -> u32 {
        let id = self.epochs.len() as u32;
        let meta = EpochMeta {
            id,
            start: span.0,
            until: span.1,
            stage,
            kind,
            from,
            to,
        };
        self.epochs.push((meta, false));
        id
    }

    /// The epoch of stage `i`'s segment over `span` (from, stage end): the
    /// stage's own when it starts at `stage_start` under the plan, a new one
    /// when a hand-set level (or the plan again) takes over mid-stage.
    fn epoch_for(
        &mut self,
        i: usize,
        span: (Duration, Duration),
        stage_start: Duration,
        levels: (f64, f64),
    ) -> u32 {
        let manual = matches!(self.manual, Some((s, _)) if s == i);
        if !manual && span.0 == stage_start {
            if self.stage_epochs.len() <= i {
                self.stage_epochs.resize(i + 1, None);
            }
            if let Some(id) = self.stage_epochs[i] {
                return id;
            }
            let id = self.new_epoch(span, i, EpochKind::Stage, levels);
            self.stage_epochs[i] = Some(id);
            return id;
        }
        let kind = if manual {
            EpochKind::Set
        } else {
            EpochKind::Plan
        };
        self.new_epoch(span, i, kind, levels)
    }

    /// The plan's remaining stages from run-clock `rc` on, as segments starting at slot `k`.
    fn future(&mut self, rc: Duration, mut k: f64) -> Vec<Segment> {
        let mut out = Vec::new();
        let mut stage_start = Duration::ZERO;
        let plan = self.plan.clone();
        for (i, st) in plan.load.stages.iter().enumerate() {
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
                let to = r0 + slope * (stage_end - from).as_secs_f64();
                let epoch = self.epoch_for(i, (from, stage_end), stage_start, (r0, to));
                let seg = Segment {
                    t0: from,
                    len: stage_end - from,
                    k0: k,
                    r0,
                    slope,
                    stage: i,
                    epoch,
                };
                k = seg.k_end();
                out.push(seg);
            }
            stage_start = stage_end;
        }
        out
    }

    fn current_stage(&self, rc: Duration) -> Option<usize> {
        (rc < self.plan.load.duration()).then(|| self.plan.load.level_at(rc).0)
    }

    fn current_level(&self, rc: Duration) -> f64 {
        let (stage, planned) = self.plan.load.level_at(rc);
        match self.manual {
            Some((s, level)) if s == stage => level,
            _ => planned,
        }
    }

    /// Applies a command at the run clock's now; returns true when the run should stop.
    fn apply(&mut self, cmd: Control) -> bool {
        self.apply_at(cmd, None)
    }

    /// Applies a command as at run-clock `at` (None: now).
    fn apply_at(&mut self, cmd: Control, at: Option<Duration>) -> bool {
        let now = Instant::now();
        match cmd {
            Control::Pause if self.paused_since.is_none() => {
                self.paused_since = Some(now);
                self.schedule.paused = true;
                self.state = RunState::Paused;
                self.publish();
                self.emit(EventKind::Paused, "paused: nothing is sent until resumed");
            }
            Control::Resume if self.paused_since.is_some() => {
                let rc = self.rc();
                let paused_for = self.paused_since.take().map_or(Duration::ZERO, |p| now - p);
                self.pauses.push((rc, paused_for));
                self.schedule.paused_total += paused_for;
                self.schedule.paused = false;
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
                self.set_level(level, at)
            }
            Control::SetConcurrency(level) if self.plan.load.mode == Mode::Closed => {
                self.spawn_workers(self.workers_for(level as usize));
                self.set_level(level as f64, at)
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
            Control::FollowPlan => self.follow_plan(at),
            Control::Stop => return true,
            Control::End => {
                self.ended = true;
                return true;
            }
            Control::Pause | Control::Resume => {}
            // A resume cannot wait for a clock that stands still.
            Control::At(_, cmd) if matches!(*cmd, Control::Resume | Control::TogglePause) => {
                return self.apply(*cmd)
            }
            Control::At(rc, cmd) if rc <= self.rc() => return self.apply_at(*cmd, Some(rc)),
            Control::At(rc, cmd) => {
                let i = self.pending.partition_point(|(t, _)| *t <= rc);
                self.pending.insert(i, (rc, *cmd));
            }
            Control::Share {
                from,
                members,
                position,
            } => self.change_share(from, members, position),
        }
        false
    }

    /// Open loop: this process's slots due by run-clock `rc` (all of them
    /// unless it is an agent with a share).
    fn owned_due(&self, rc: Duration) -> u64 {
        let k = self.schedule.count_at(rc).floor() as u64;
        match &self.schedule.share {
            Some(s) => s.owned_before(k),
            None => k,
        }
    }

    /// Workers this process runs for a closed-loop concurrency of `level`.
    fn workers_for(&self, level: usize) -> usize {
        match &self.schedule.share {
            Some(s) => s.local_workers(level),
            None => level,
        }
    }

    /// A new share from the slot due at run-clock `from` on: published
    /// first, then the claim counter moves onto it (`share::Share::rebase`).
    fn change_share(&mut self, from: Duration, members: u32, position: Option<u32>) {
        let Some(share) = &self.schedule.share else {
            self.emit(
                EventKind::Warning,
                "ignored a share change: this run is not an agent's",
            );
            return;
        };
        let mut share = (**share).clone();
        let from_slot = self.schedule.count_at(from).ceil() as u64;
        let epoch = share.change(from_slot, members, position);
        self.schedule.share = Some(Arc::new(share));
        self.publish();
        super::share::Share::rebase(&self.shared.next_slot, &epoch);
        if self.plan.load.mode == Mode::Closed {
            let peak = self.plan.load.peak_level().ceil() as usize;
            let level = self.manual.map_or(0, |(_, l)| l.ceil() as usize);
            self.spawn_workers(self.workers_for(peak.max(level)));
        }
    }

    /// Run-clock time of the soonest waiting command, if the clock runs.
    fn next_pending(&self) -> Option<Instant> {
        let (rc, _) = self.pending.first()?;
        self.paused_since.is_none().then(|| self.schedule.wall(*rc))
    }

    /// Applies the waiting commands whose time has come; true to stop.
    fn apply_due(&mut self) -> bool {
        let now = self.rc();
        while self.pending.first().is_some_and(|(t, _)| *t <= now) {
            let (rc, cmd) = self.pending.remove(0);
            if self.apply_at(cmd, Some(rc)) {
                return true;
            }
        }
        false
    }

    /// Hands the level back to the plan (after a capacity search steered it).
    fn follow_plan(&mut self, at: Option<Duration>) {
        if self.manual.is_none() {
            return;
        }
        let rc = at.unwrap_or_else(|| self.rc());
        let before = self.current_level(rc);
        self.manual = None;
        let k = self.schedule.truncate_at(rc);
        let future = self.future(rc, k);
        self.schedule.extend(future);
        self.publish();
        let now = self.current_level(rc);
        self.emit(
            EventKind::LevelSet {
                from: before,
                to: now,
            },
            format!(
                "the plan decides the level again: {} (was {})",
                fmt_level(now),
                fmt_level(before)
            ),
        );
    }

    fn set_level(&mut self, level: f64, at: Option<Duration>) {
        if !level.is_finite() || level < 0.0 {
            self.emit(
                EventKind::Warning,
                format!("ignored level {level}: must be 0 or more"),
            );
            return;
        }
        let rc = at.unwrap_or_else(|| self.rc());
        let Some(stage) = self.current_stage(rc) else {
            return;
        };
        let before = self.current_level(rc);
        self.manual = Some((stage, level));
        // While paused the clock stands still: the new level starts where it stopped.
        let k = self.schedule.truncate_at(rc);
        let future = self.future(rc, k);
        self.schedule.extend(future);
        self.publish();
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

    /// Announces each stage at the run-clock time it began, up to `upto`.
    fn announce_stages(&mut self, upto: Duration) {
        let n = self.plan.load.stages.len();
        while self.stages_announced < n && self.state != RunState::Stopping {
            let i = self.stages_announced;
            let start = self.plan.load.stage_start(i);
            if start > upto || self.stop_rc.is_some_and(|s| start >= s) {
                break;
            }
            let st = &self.plan.load.stages[i];
            let text = format!(
                "stage {}/{n}: {}",
                i + 1,
                st.describe(self.plan.level_unit())
            );
            self.emit_at(start, EventKind::Stage { index: i }, text);
            self.stages_announced += 1;
        }
    }

    /// Closes the interval being filled at run-clock `end` (its grid
    /// boundary, or earlier for the last one) and publishes it.
    fn close_interval(&mut self, end: Duration) {
        let start = self.delta.saturating_mul(self.index as u32);
        self.announce_stages(start);
        // Started is read before the drain: a request counts as started
        // before its result is recorded, so in-flight (started - completed)
        // can then never exceed what really was in flight.
        let started_all = self.shared.recorder.sent_total();
        self.shared
            .recorder
            .drain_into(&mut self.interval, &mut self.spare);
        let started = started_all - self.last_started;
        self.last_started = started_all;
        self.finished_all += self.interval.finished;
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
        let warmup = start < self.warmup;
        let window_end = self.stop_rc.unwrap_or(Duration::MAX);
        let measured = end.min(window_end).saturating_sub(start.max(self.warmup));
        if !warmup && start < window_end {
            self.sent_measured += started;
        }
        let stage = self.plan.load.level_at(start).0;
        // The run totals keep no per-request list: it only serves route
        // actions, which read it from the interval.
        let mut failures = std::mem::take(&mut self.interval.failures);
        // Held connections the server closed or reset are charged by route
        // actions as failed requests are.
        if let Some(c) = &self.shared.connections {
            failures.extend(c.stats.take_losses());
        }
        if !warmup {
            // The epochs' parts travel in the snapshot; the totals need no copy.
            let epochs = std::mem::take(&mut self.interval.epochs);
            self.totals.merge(&self.interval);
            self.interval.epochs = epochs;
        }
        let sending = self.stop_rc.is_none() && self.current_stage(end).is_some();
        let behind = match self.plan.load.mode {
            Mode::Open => self
                .owned_due(end.saturating_sub(super::pace::LATE))
                .saturating_sub(started_all),
            Mode::Closed => 0,
        };
        let due = (self.plan.load.mode == Mode::Open)
            .then(|| (self.schedule.count_at(end) - self.schedule.count_at(start)).max(0.0));
        let cpu_cores = self.cpu.sample();
        let saturated = cpu_cores.is_some_and(|c| self.cpu.saturated(c));
        let generator_limited = behind > 0 && saturated && self.stop_rc.is_none();
        let target_now = self.current_level(end);
        // Once sending has stopped the backlog is final: no more pace to judge.
        let judged = if self.stop_rc.is_none() {
            self.pace.observe(
                behind,
                saturated,
                if warmup { Duration::ZERO } else { measured },
            )
        } else {
            None
        };
        if let Some(lag) = judged {
            let len = end.saturating_sub(start).as_secs_f64().max(1e-9);
            let message = pace_message(
                lag,
                started as f64 / len,
                target_now,
                cpu_cores.unwrap_or(0.0),
                self.cpu.cores,
                behind,
                self.plan.load.max_connections,
            );
            let kind = match lag {
                super::pace::Lag::GeneratorLimited => EventKind::GeneratorLimited,
                super::pace::Lag::ConnectionsBusy => EventKind::ConnectionsBusy,
                super::pace::Lag::KeepingUp => EventKind::KeepingUp,
            };
            self.emit(kind, message);
        }
        let interval = IntervalStats {
            index: self.index,
            elapsed: self.origin.elapsed(),
            run_clock: end,
            len: end.saturating_sub(start),
            warmup,
            measured: if warmup { Duration::ZERO } else { measured },
            state: self.state,
            stage,
            // The level in force (also while paused: what the run resumes at).
            target: if sending {
                self.current_level(end)
            } else {
                0.0
            },
            manual: self
                .manual
                .is_some_and(|(s, _)| Some(s) == self.current_stage(end)),
            sent: started,
            finished: self.interval.finished,
            ok: self.interval.ok,
            in_flight: started_all.saturating_sub(self.finished_all),
            behind,
            due,
            under_supplied: false,
            cpu_percent: cpu_cores.map(|c| 100.0 * c / self.cpu.cores.max(1) as f64),
            generator_limited,
            latency: Percentiles::of(&self.interval.latency),
            service: Percentiles::of(&self.interval.service),
            failed_latency: Percentiles::of(&self.interval.failed_latency),
            error_latency: Percentiles::of(&self.interval.error_latency),
            status,
            errors: self.interval.error_list(),
            checks: self.interval.check_list(),
            by_request: self.interval.request_list(),
            delivery: self
                .shared
                .delivery
                .as_ref()
                .map(|t| t.interval(std::time::Instant::now())),
            connections: self
                .shared
                .connections
                .as_ref()
                .map(|c| c.stats.interval(warmup)),
            epochs_begun: Vec::new(),
        };
        if let Some(d) = &interval.delivery {
            self.delivery_firsts(d);
        }
        if let Some(c) = &interval.connections {
            // The first of each kind of connection failure, on the timeline.
            for (kind, message) in &c.now.first {
                if self.connection_firsts.insert(kind.clone()) {
                    self.emit(EventKind::Warning, format!("first {kind}: {message}"));
                }
            }
        }
        // Epochs are announced in the interval they began in (one set by
        // hand at an earlier run-clock time, in the next to close).
        let mut epochs_begun = Vec::new();
        for (meta, announced) in self.epochs.iter_mut() {
            if !*announced && meta.start < end.max(Duration::from_nanos(1)) {
                *announced = true;
                epochs_begun.push(*meta);
            }
        }
        let interval = IntervalStats {
            epochs_begun,
            ..interval
        };
        let snapshot = Snapshot {
            interval,
            histograms: Arc::new(self.interval.histograms()),
            last_errors: self.last_error_list(),
            failures,
        };
        let _ = self.events.send(EngineEvent::Interval(Box::new(snapshot)));
        self.interval.reset();
        self.index += 1;
        if self.warmup > Duration::ZERO && end == self.warmup && warmup {
            self.emit_at(
                self.warmup,
                EventKind::WarmupEnded,
                "warmup over: statistics start now",
            );
        }
    }

    /// The first lost, duplicated and unknown events, on the timeline.
    fn delivery_firsts(&mut self, d: &crate::stats::delivery::DeliveryInterval) {
        let deadline = self
            .shared
            .delivery
            .as_ref()
            .map_or(Duration::ZERO, |t| t.config.deadline);
        let firsts = [
            (
                d.lost,
                format!(
                    "first lost events: {} not delivered within the {} deadline",
                    d.lost,
                    rampdeck_base::fmt::fmt_dur(deadline)
                ),
            ),
            (
                d.duplicates,
                format!(
                    "first duplicate deliveries: {} beyond the expected copies",
                    d.duplicates
                ),
            ),
            (
                d.unknown,
                format!(
                    "first unknown deliveries: {} with ids never published",
                    d.unknown
                ),
            ),
        ];
        for (i, (n, text)) in firsts.into_iter().enumerate() {
            if n > 0 && !self.delivery_seen[i] {
                self.delivery_seen[i] = true;
                self.emit(EventKind::Warning, text);
            }
        }
    }

    fn last_error_list(&self) -> Vec<(ErrorKind, String)> {
        ErrorKind::ALL
            .iter()
            .filter_map(|&k| self.last_errors[k.index()].clone().map(|m| (k, m)))
            .collect()
    }

    /// Wall time of the next grid boundary, None while paused.
    fn next_boundary(&self) -> Option<Instant> {
        let rc = self.delta.saturating_mul(self.index as u32 + 1);
        (self.paused_since.is_none()).then(|| self.schedule.wall(rc))
    }

    pub async fn run(mut self, mut control: mpsc::UnboundedReceiver<Control>) -> RunResult {
        let mut control_open = true;
        let mut stopped_early = false;
        self.emit_at(
            Duration::ZERO,
            EventKind::Started,
            format!(
                "started: {} against {}",
                self.plan.name,
                self.plan.target_display()
            ),
        );
        self.announce_stages(Duration::ZERO);
        let total = self.plan.load.duration();
        loop {
            let boundary = self.next_boundary();
            let end = (self.paused_since.is_none()).then(|| self.schedule.wall(total));
            let pending = self.next_pending();
            tokio::select! {
                biased;
                cmd = control.recv(), if control_open => match cmd {
                    None => control_open = false,
                    Some(cmd) => if self.apply(cmd) { stopped_early = true; break },
                },
                _ = sleep_until_opt(pending) => if self.apply_due() { stopped_early = true; break },
                _ = self.shared.data_end.cancelled() => {
                    self.emit(
                        EventKind::Warning,
                        "the [[data]] rows ran out (on_end = \"stop\"): the run ends here",
                    );
                    break;
                }
                _ = sleep_until_opt(boundary) => {
                    let end_rc = self.delta.saturating_mul(self.index as u32 + 1);
                    self.close_interval(end_rc);
                    if let Some(why) = self.shared.fatal.get() {
                        self.emit(EventKind::Warning, format!("cannot go on: {why}"));
                        stopped_early = true;
                        break;
                    }
                }
                _ = sleep_until_opt(end) => break,
            }
        }

        if self.ended {
            stopped_early = false;
        }
        // Stop sending; let requests in flight finish, up to the drain timeout.
        let stop_at = Instant::now();
        let stop_rc = self.rc().min(total);
        self.stop_rc = Some(stop_rc);
        let measured = stop_rc.saturating_sub(self.warmup);
        let mut due = self.owned_due(stop_rc);
        // Slots past the last data row were never meant to be sent.
        let rows_end = self
            .shared
            .data_end_at
            .load(std::sync::atomic::Ordering::Relaxed);
        if rows_end != u64::MAX {
            let owned = match &self.schedule.share {
                Some(s) => s.owned_before(rows_end),
                None => rows_end,
            };
            due = due.min(owned);
        }
        self.schedule.truncate_at(stop_rc);
        self.publish();
        self.shared.stop.cancel();
        self.state = RunState::Stopping;
        let paused =
            self.schedule.paused_total + self.paused_since.map_or(Duration::ZERO, |p| stop_at - p);
        self.emit(
            EventKind::Stopping {
                early: stopped_early,
            },
            match (stopped_early, self.shared.connections.is_some()) {
                (true, false) => "stopping early: waiting for requests in flight",
                (false, false) => "schedule complete: waiting for requests in flight",
                (true, true) => "stopping early: closing the held connections",
                (false, true) => "schedule complete: closing the held connections",
            },
        );
        // The drain runs on the clock again, even if it was paused.
        if let Some(p) = self.paused_since.take() {
            self.pauses.push((stop_rc, stop_at - p));
            self.schedule.paused_total += stop_at - p;
            self.schedule.paused = false;
            self.publish();
        }
        let deadline = later(stop_at, super::drain_timeout(&self.plan));
        // A Stop while draining abandons what is in flight only if it is
        // the second: one that stopped the run early, or one before it here.
        // After a schedule that ran out, one signal must not drop requests.
        let mut abandon_on_stop = stopped_early;
        loop {
            let boundary = self.next_boundary();
            tokio::select! {
                biased;
                cmd = control.recv(), if control_open => match cmd {
                    Some(Control::Stop) if abandon_on_stop => break,
                    Some(Control::Stop) => {
                        abandon_on_stop = true;
                        let in_flight = self.shared.recorder.sent_total().saturating_sub(self.finished_all);
                        self.emit(
                            EventKind::Warning,
                            format!(
                                "stop asked: still waiting up to {} for about {in_flight} requests in flight; stop again to abandon them",
                                rampdeck_base::fmt::fmt_dur(super::drain_timeout(&self.plan))
                            ),
                        );
                    }
                    Some(_) => {}
                    None => control_open = false,
                },
                joined = self.workers.join_next() => if joined.is_none() { break },
                _ = sleep_until_opt(boundary) => {
                    let end_rc = self.delta.saturating_mul(self.index as u32 + 1);
                    self.close_interval(end_rc);
                }
                _ = tokio::time::sleep_until(deadline) => break,
            }
        }
        self.workers.abort_all();
        while self.workers.join_next().await.is_some() {}
        // A run stopped by hand (early, or while draining) reports what is
        // in transit as pending at once.
        if !abandon_on_stop {
            self.settle_deliveries(&mut control, &mut control_open)
                .await;
        }
        let end = Instant::now();
        self.state = RunState::Finished;
        let end_rc = self.rc();
        self.close_interval(end_rc);
        self.publish();
        let sent = self.shared.recorder.sent_total();
        let unfinished = sent.saturating_sub(self.finished_all);
        let dropped = match self.plan.load.mode {
            Mode::Open => due.saturating_sub(sent),
            Mode::Closed => 0,
        };
        if unfinished > 0 {
            self.emit(EventKind::Warning, format!("{unfinished} requests were still in flight when the run ended; they are not counted"));
        }
        if dropped > 0 {
            let why = match self.pace.cause() {
                super::pace::Lag::GeneratorLimited => {
                    "rampdeck was out of CPU (generator-limited)".to_owned()
                }
                _ => format!(
                    "all {} connections were waiting on the target",
                    self.plan.load.max_connections
                ),
            };
            self.emit(
                EventKind::Warning,
                format!("{dropped} scheduled requests never left: {why}"),
            );
        }
        self.emit(
            EventKind::Finished,
            format!("finished after {:.1}s", (end - self.origin).as_secs_f64()),
        );
        RunResult {
            totals: std::mem::take(&mut self.totals),
            elapsed: end - self.origin,
            measured,
            paused,
            sent,
            sent_measured: self.sent_measured,
            dropped,
            unfinished,
            stopped_early,
            last_errors: self.last_error_list(),
            aborted: self.shared.fatal.get().cloned(),
            resent: self.shared.recorder.resent_total(),
            generator_limited: self.pace.generator_limited,
            behind_cause: self.pace.cause(),
            delivery: self.shared.delivery.as_ref().map(|t| t.totals()),
            connections: self.shared.connections.as_ref().map(|c| c.stats.totals()),
        }
    }

    /// Waits (after the last request) for the events still in transit to
    /// arrive, at most one deadline; a Stop ends the wait and they are
    /// reported as pending, not lost.
    async fn settle_deliveries(
        &mut self,
        control: &mut mpsc::UnboundedReceiver<Control>,
        control_open: &mut bool,
    ) {
        let Some(tracker) = self.shared.delivery.clone() else {
            return;
        };
        let in_transit = tracker.sweep(std::time::Instant::now());
        if in_transit == 0 {
            return;
        }
        let deadline = tracker.config.deadline;
        self.emit(
            EventKind::Warning,
            format!(
                "waiting up to {} for {in_transit} events in transit to be delivered (stop to report them as pending)",
                rampdeck_base::fmt::fmt_dur(deadline)
            ),
        );
        let until = Instant::now() + deadline;
        let mut poll = tokio::time::interval(Duration::from_millis(50));
        loop {
            let boundary = self.next_boundary();
            tokio::select! {
                biased;
                cmd = control.recv(), if *control_open => match cmd {
                    Some(Control::Stop) => break,
                    Some(_) => {}
                    None => *control_open = false,
                },
                _ = sleep_until_opt(boundary) => {
                    let end_rc = self.delta.saturating_mul(self.index as u32 + 1);
                    self.close_interval(end_rc);
                }
                _ = poll.tick() => if tracker.sweep(std::time::Instant::now()) == 0 { break },
                _ = tokio::time::sleep_until(until) => break,
            }
        }
    }
}

/// The event line for a change of pace: the generator's limit in words,
/// never left to pass for the target's latency.
fn pace_message(
    lag: super::pace::Lag,
    sent_rate: f64,
    target: f64,
    cores_used: f64,
    cores: usize,
    behind: u64,
    connections: usize,
) -> String {
    use super::pace::Lag;
    let rate = |r: f64| rampdeck_base::fmt::fmt_rate(r);
    match lag {
        Lag::GeneratorLimited => format!(
            "generator-limited: rampdeck at {:.0}% CPU ({cores} core{}), sending {}/s of {}/s; latency and capacity from here on are rampdeck's limit, not the target's",
            100.0 * cores_used / cores.max(1) as f64,
            if cores == 1 { "" } else { "s" },
            rate(sent_rate),
            rate(target)
        ),
        Lag::ConnectionsBusy => format!(
            "all {connections} connections busy waiting on the target: {behind} scheduled requests not sent yet (rampdeck has CPU to spare)"
        ),
        Lag::KeepingUp => "the schedule keeps up again".to_owned(),
    }
}

/// `d` rounded up to a multiple of `step`.
fn round_up(d: Duration, step: Duration) -> Duration {
    let n = d.as_nanos().div_ceil(step.as_nanos().max(1));
    step.saturating_mul(n.min(u32::MAX as u128) as u32)
}

async fn sleep_until_opt(t: Option<Instant>) {
    match t {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}
