//! Statistics per level epoch: every stage, hand-set level and search step gets its own histograms, so a p99 never mixes levels.
//!
//! An epoch is a stretch of the run clock in which one thing decides the
//! level: a stage as the plan has it, a level set by hand (a `+`/`-` press,
//! a capacity-search step, `Control::SetRate`), or the plan again after a
//! hand-set level mid-stage. The engine tags each request with the epoch of
//! the schedule slot it was sent for (open loop: its intended time; closed
//! loop: when it left), so a backlog sent late is charged, corrected, to the
//! epoch whose schedule asked for it, never to the next level's.
//!
//! The write side is `EpochParts`, carried in every `Measurements` and
//! `Histograms` (a shard, an interval, a run) and merged with them. The read
//! side is `EpochBook`: it folds intervals (live, from agents or from a run
//! log) and turns them into `EpochRow`s and `StageRow`s for summary.json,
//! the console and the report.

use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use super::summary::{de_secs, secs, Percentiles};

/// What decides the level in an epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EpochKind {
    /// A stage as the plan has it, from the stage's start.
    Stage,
    /// A level set by hand or by a capacity-search step, until the stage ends.
    Set,
    /// The plan's level again, from the middle of a stage a hand-set level interrupted.
    Plan,
}

impl EpochKind {
    pub fn name(self) -> &'static str {
        match self {
            EpochKind::Stage => "stage",
            EpochKind::Set => "set",
            EpochKind::Plan => "plan",
        }
    }
}

/// When an epoch began and what level it asked for.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct EpochMeta {
    /// The engine's id (order of creation, not of start: see `EpochBook::rows`).
    pub id: u32,
    /// Run-clock start.
    #[serde(
        rename = "start_s",
        serialize_with = "secs",
        deserialize_with = "de_secs"
    )]
    pub start: Duration,
    /// The plan's stage it lies in (0-based).
    pub stage: usize,
    pub kind: EpochKind,
    /// The level at its start and at `until` (a ramp moves; a hold or a
    /// set level does not), linear in between.
    pub from: f64,
    pub to: f64,
    /// Where the level would reach `to`: the stage's end (a later epoch may
    /// begin before it).
    #[serde(
        default,
        rename = "until_s",
        serialize_with = "secs",
        deserialize_with = "de_secs"
    )]
    pub until: Duration,
}

impl EpochMeta {
    /// The level asked for at run-clock `t` within the epoch.
    pub fn level_at(&self, t: Duration) -> f64 {
        let span = self.until.saturating_sub(self.start).as_secs_f64();
        if span <= 0.0 {
            return self.from;
        }
        let f = (t.saturating_sub(self.start).as_secs_f64() / span).clamp(0.0, 1.0);
        self.from + (self.to - self.from) * f
    }
}

/// Finished requests of one epoch: successes' corrected and service latency
/// (µs), and the counts a success rate comes from.
#[derive(Debug, Clone)]
pub struct EpochPart {
    pub id: u32,
    pub latency: Histogram<u64>,
    pub service: Histogram<u64>,
    pub ok: u64,
    pub finished: u64,
}

/// An auto-sizing histogram: an epoch's grows to its largest value instead
/// of starting at the 60 s range, so a run of many short hand-set levels
/// costs kilobytes an epoch, not the 140 KB of a full-range one.
fn growing() -> Histogram<u64> {
    // 3 significant digits is a constant hdrhistogram accepts.
    #[allow(clippy::expect_used)]
    let mut h = Histogram::new(super::HIST_SIGFIG).expect("3 significant digits are valid");
    h.auto(true);
    h
}

/// Records `v`, growing the histogram (only a value past what hdrhistogram
/// can represent at all saturates).
fn grow_record(h: &mut Histogram<u64>, v: u64) {
    if h.record(v).is_err() {
        h.saturating_record(v);
    }
}

impl EpochPart {
    fn new(id: u32) -> Self {
        EpochPart {
            id,
            latency: growing(),
            service: growing(),
            ok: 0,
            finished: 0,
        }
    }

    fn add(&mut self, other: &EpochPart) {
        // Auto-sizing histograms grow to take any value: adding cannot fail.
        let _ = self.latency.add(&other.latency);
        let _ = self.service.add(&other.service);
        self.ok = self.ok.saturating_add(other.ok);
        self.finished = self.finished.saturating_add(other.finished);
    }

    fn clear(&mut self) {
        if self.finished > 0 {
            self.latency.reset();
            self.service.reset();
            self.ok = 0;
            self.finished = 0;
        }
    }
}

/// The epochs' parts of a shard, an interval or a run. Usually one part
/// (two while a level change's last requests come back); a reset keeps the
/// parts' memory so an interval allocates nothing.
#[derive(Debug, Clone, Default)]
pub struct EpochParts {
    parts: Vec<EpochPart>,
}

/// Past this many epochs in one set of parts, further epochs are folded
/// into the last one kept (a run never gets near it: that is 16 level
/// changes inside one interval, or `EpochBook::MAX` over a run).
const PARTS_MAX: usize = 16;

impl EpochParts {
    fn part(&mut self, id: u32) -> &mut EpochPart {
        let at = match self.parts.iter().rposition(|p| p.id == id) {
            Some(i) => i,
            None => match self.parts.iter().position(|p| p.finished == 0) {
                Some(i) => {
                    self.parts[i].id = id;
                    i
                }
                None if self.parts.len() < PARTS_MAX => {
                    self.parts.push(EpochPart::new(id));
                    self.parts.len() - 1
                }
                None => self.parts.len() - 1,
            },
        };
        &mut self.parts[at]
    }

    /// One finished request of epoch `id`; latencies in µs (success only).
    #[inline]
    pub fn record(&mut self, id: u32, ok: Option<(u64, u64)>) {
        let p = self.part(id);
        p.finished += 1;
        if let Some((latency, service)) = ok {
            p.ok += 1;
            grow_record(&mut p.latency, latency);
            grow_record(&mut p.service, service);
        }
    }

    pub fn merge(&mut self, other: &EpochParts) {
        for o in other.iter() {
            self.part(o.id).add(o);
        }
    }

    pub fn reset(&mut self) {
        self.parts.iter_mut().for_each(EpochPart::clear);
    }

    /// The parts with finished requests, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = &EpochPart> {
        self.parts.iter().filter(|p| p.finished > 0)
    }

    /// Adds a part read back from a log line or an agent's interval.
    pub fn add_part(&mut self, part: &EpochPart) {
        if part.finished > 0 {
            self.part(part.id).add(part);
        }
    }

    pub fn new_part(id: u32) -> EpochPart {
        EpochPart::new(id)
    }
}

/// One epoch of a run, as summary.json lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochRow {
    /// 1-based, in the order the epochs began (what `epoch.N.p99` names).
    pub index: usize,
    pub kind: EpochKind,
    /// 1-based stage number, and its name when the profile gives one.
    pub stage: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage_name: Option<String>,
    /// The level asked for at the start and the end (req/s or concurrency),
    /// and on average.
    pub from: f64,
    pub to: f64,
    pub level: f64,
    /// Measured run-clock window (warmup cut off).
    pub start_s: f64,
    pub end_s: f64,
    /// Requests sent for the epoch's schedule that finished (those still in
    /// flight when the run ended are the run's `unfinished`).
    pub sent: u64,
    /// `sent` per second of the epoch.
    pub achieved: f64,
    /// Percent of `sent` that succeeded; None when nothing finished.
    pub success_rate: Option<f64>,
    /// Successes' corrected latency (from the epoch's own schedule) and service time, ms.
    pub latency: Percentiles,
    pub service: Percentiles,
}

/// One stage of a run: all its epochs together (a stage with a hand-set
/// level in the middle has two or three).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StageRow {
    /// 1-based, what `stage.N.p99` names (or `stage.NAME.p99` with a name).
    pub index: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub epochs: Vec<usize>,
    pub start_s: f64,
    pub end_s: f64,
    /// The mean level its epochs asked for, over its measured time.
    pub level: f64,
    pub sent: u64,
    pub achieved: f64,
    pub success_rate: Option<f64>,
    pub latency: Percentiles,
    pub service: Percentiles,
}

/// Every epoch a run has begun, with its requests after warmup.
#[derive(Debug, Clone, Default)]
pub struct EpochBook {
    metas: BTreeMap<u32, EpochMeta>,
    data: EpochParts,
    /// Epochs begun past `MAX` (not kept apart; their requests count in the last kept).
    pub overflow: u64,
    /// The measured window on the run clock, as the intervals showed it.
    warmup_end: Duration,
    window_end: Duration,
}

impl EpochBook {
    /// Epochs kept apart in one run (tens of KB each at a few ms latency,
    /// at most 280 KB with minute-long ones).
    pub const MAX: usize = 200;

    /// Notes the epochs an interval began, and adds its requests when it is
    /// measured (not warmup), as the run's totals do.
    pub fn add_interval(&mut self, i: &super::IntervalStats, parts: &EpochParts) {
        let measured = !i.warmup;
        if i.warmup {
            self.warmup_end = self.warmup_end.max(i.run_clock);
        } else if i.measured > Duration::ZERO {
            let start = i.run_clock.saturating_sub(i.len).max(self.warmup_end);
            self.window_end = self.window_end.max(start + i.measured);
        }
        for m in &i.epochs_begun {
            if self.metas.len() >= Self::MAX && !self.metas.contains_key(&m.id) {
                self.overflow += 1;
                continue;
            }
            // Agents begin the same epoch at nearly the same time: keep the first.
            self.metas
                .entry(m.id)
                .and_modify(|e| e.start = e.start.min(m.start))
                .or_insert(*m);
        }
        if measured {
            // An epoch past `MAX` has no row of its own: its requests count
            // in the latest epoch kept, so the rows still add up to the run.
            let last = self.metas.keys().next_back().copied();
            for p in parts.iter() {
                match last {
                    Some(l) if !self.metas.contains_key(&p.id) => {
                        let mut folded = p.clone();
                        folded.id = l;
                        self.data.add_part(&folded);
                    }
                    _ => self.data.add_part(p),
                }
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.metas.is_empty()
    }

    /// The epoch begun most recently by `rc` (what the console shows beside the run).
    pub fn current(&self, rc: Duration) -> Option<(usize, &EpochMeta, Option<&EpochPart>)> {
        let mut order: Vec<&EpochMeta> = self.metas.values().filter(|m| m.start <= rc).collect();
        order.sort_by_key(|m| (m.start, m.id));
        let index = order.len();
        let m = *order.last()?;
        Some((index, m, self.data.iter().find(|p| p.id == m.id)))
    }

    /// The epochs in start order, each cut to the measured window
    /// `[warmup, end)`, with its requests; one that lay wholly in warmup is
    /// left out, and so is one re-planned before it began (a stage's epoch
    /// whose start a hand-set level moved past the run's end).
    fn measured(&self) -> Vec<Span<'_>> {
        let (warmup, end) = (self.warmup_end, self.window_end);
        let mut order: Vec<&EpochMeta> = self.metas.values().filter(|m| m.start < end).collect();
        order.sort_by_key(|m| (m.start, m.id));
        let mut out = Vec::new();
        for (i, &meta) in order.iter().enumerate() {
            let stop = order.get(i + 1).map_or(end, |n| n.start).min(end);
            let start = meta.start.max(warmup);
            let part = self.data.iter().find(|p| p.id == meta.id);
            if stop > start || part.is_some() {
                out.push(Span {
                    meta,
                    start,
                    stop: stop.max(start),
                    part,
                });
            }
        }
        out
    }

    /// The epochs in start order (see `measured`), numbered from 1.
    pub fn rows(&self, stage_names: &[Option<String>]) -> Vec<EpochRow> {
        self.measured()
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let sent = s.part.map_or(0, |p| p.finished);
                let len = s.stop - s.start;
                // What it asked for in its measured window (a ramp cut by warmup starts higher).
                let (from, to) = (s.meta.level_at(s.start), s.meta.level_at(s.stop));
                EpochRow {
                    index: i + 1,
                    kind: s.meta.kind,
                    stage: s.meta.stage + 1,
                    stage_name: stage_names.get(s.meta.stage).cloned().flatten(),
                    from,
                    to,
                    level: (from + to) / 2.0,
                    start_s: s.start.as_secs_f64(),
                    end_s: s.stop.as_secs_f64(),
                    sent,
                    achieved: per_second(sent, len.as_secs_f64()),
                    success_rate: s.part.and_then(success),
                    latency: s
                        .part
                        .map_or_else(Percentiles::default, |p| Percentiles::of(&p.latency)),
                    service: s
                        .part
                        .map_or_else(Percentiles::default, |p| Percentiles::of(&p.service)),
                }
            })
            .collect()
    }

    /// Each stage that had an epoch, its epochs' requests together.
    pub fn stages(&self, stage_names: &[Option<String>]) -> Vec<StageRow> {
        // Each stage's row, its epochs' requests, and its level-seconds.
        let mut out: Vec<(StageRow, EpochPart, f64)> = Vec::new();
        for (i, s) in self.measured().iter().enumerate() {
            let index = s.meta.stage + 1;
            let at = match out.iter().position(|(r, _, _)| r.index == index) {
                Some(at) => at,
                None => {
                    out.push((
                        StageRow {
                            index,
                            name: stage_names.get(s.meta.stage).cloned().flatten(),
                            epochs: Vec::new(),
                            start_s: s.start.as_secs_f64(),
                            end_s: 0.0,
                            level: 0.0,
                            sent: 0,
                            achieved: 0.0,
                            success_rate: None,
                            latency: Percentiles::default(),
                            service: Percentiles::default(),
                        },
                        EpochPart::new(0),
                        0.0,
                    ));
                    out.len() - 1
                }
            };
            let (row, acc, level_secs) = &mut out[at];
            let mean = (s.meta.level_at(s.start) + s.meta.level_at(s.stop)) / 2.0;
            *level_secs += mean * (s.stop - s.start).as_secs_f64();
            row.epochs.push(i + 1);
            row.end_s = s.stop.as_secs_f64();
            if let Some(p) = s.part {
                acc.add(p);
            }
        }
        out.into_iter()
            .map(|(mut r, p, level_secs)| {
                let len = (r.end_s - r.start_s).max(0.0);
                r.level = if len > 0.0 { level_secs / len } else { 0.0 };
                r.sent = p.finished;
                r.achieved = per_second(p.finished, len);
                r.success_rate = success(&p);
                r.latency = Percentiles::of(&p.latency);
                r.service = Percentiles::of(&p.service);
                r
            })
            .collect()
    }
}

/// An epoch cut to the measured window.
struct Span<'a> {
    meta: &'a EpochMeta,
    start: Duration,
    stop: Duration,
    part: Option<&'a EpochPart>,
}

fn per_second(n: u64, secs: f64) -> f64 {
    if secs > 0.0 {
        n as f64 / secs
    } else {
        0.0
    }
}

fn success(p: &EpochPart) -> Option<f64> {
    (p.finished > 0).then(|| 100.0 * p.ok as f64 / p.finished as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_count_every_request_and_merge_by_epoch() {
        let mut a = EpochParts::default();
        for i in 0..100u64 {
            a.record((i / 50) as u32, Some((1000 + i, 900)));
        }
        a.record(1, None);
        let mut b = EpochParts::default();
        b.merge(&a);
        b.merge(&a);
        let counts: Vec<_> = {
            let mut v: Vec<_> = b.iter().map(|p| (p.id, p.ok, p.finished)).collect();
            v.sort();
            v
        };
        assert_eq!(counts, [(0, 100, 100), (1, 100, 102)]);
        a.reset();
        assert_eq!(a.iter().count(), 0);
        a.record(7, Some((5, 5)));
        assert_eq!(
            a.iter().map(|p| (p.id, p.finished)).collect::<Vec<_>>(),
            [(7, 1)]
        );
    }
}
