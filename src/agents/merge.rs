//! The exact merge: interval *n* of every agent into one interval *n* (histograms added, counters summed), and which intervals fell short.
//!
//! Intervals lie on the run clock's fixed grid in every agent, so interval
//! *n* covers the same span everywhere and merging is by index, never by
//! arrival time. HDR histograms add without loss: the merged percentiles
//! are exactly those of the sum of the agents' histograms. A part that
//! comes after its interval was closed (an agent that lagged past the
//! deadline) goes into the next open interval rather than being lost.

use std::collections::BTreeMap;

use crate::stats::{ErrorKind, FailureAt, Histograms, IntervalStats, Percentiles};

/// An agent's number in the run (its place in the launcher's list, then
/// joiners after).
pub type AgentId = usize;

#[derive(Default)]
struct Open {
    parts: Vec<(AgentId, IntervalStats)>,
    histograms: Histograms,
    failures: Vec<FailureAt>,
}

/// One merged interval.
pub struct Merged {
    pub stats: IntervalStats,
    pub histograms: Histograms,
    pub failures: Vec<FailureAt>,
    /// The agents whose part is in it.
    pub agents: Vec<AgentId>,
}

#[derive(Default)]
pub struct Merger {
    /// The next interval index to close.
    next: u64,
    open: BTreeMap<u64, Open>,
    /// Parts that came after their interval closed (added to a later one).
    pub late: u64,
}

/// A merged interval is short of its schedule by more than this share of
/// what was due (and more than `SHORT_MIN` requests): timer jitter moves a
/// request or two across a boundary (2 of 48 due was seen in the demo),
/// a lost agent's share (a third, a half) does not.
const SHORT_SHARE: f64 = 0.02;
const SHORT_MIN: f64 = 3.0;

impl Merger {
    pub fn next_index(&self) -> u64 {
        self.next
    }

    pub fn add(
        &mut self,
        agent: AgentId,
        stats: IntervalStats,
        h: &Histograms,
        failures: Vec<FailureAt>,
    ) {
        let index = if stats.index < self.next {
            self.late += 1;
            self.next
        } else {
            stats.index
        };
        let open = self.open.entry(index).or_default();
        open.histograms.add(h);
        let room = crate::stats::measurements::FAILURES_KEPT.saturating_sub(open.failures.len());
        open.failures.extend(failures.into_iter().take(room));
        open.parts.push((agent, stats));
    }

    /// Whether every agent in `expected` has reported the next interval.
    pub fn complete(&self, expected: &[AgentId]) -> bool {
        self.open
            .get(&self.next)
            .is_some_and(|o| expected.iter().all(|a| o.parts.iter().any(|(p, _)| p == a)))
    }

    /// Whether anything has arrived for intervals after the next one.
    pub fn has_later(&self) -> bool {
        self.open.range(self.next + 1..).next().is_some()
    }

    pub fn has_any(&self) -> bool {
        !self.open.is_empty()
    }

    /// Closes the next interval with the parts it has (None if it has none,
    /// which only happens when every agent is gone).
    pub fn close(&mut self) -> Option<Merged> {
        let index = self.next;
        let Some(open) = self.open.remove(&index) else {
            // Nothing at all for this interval: go straight to the next one
            // that has parts, never one index at a time across a gap.
            self.next = self.open.keys().next().copied().unwrap_or(index + 1);
            return None;
        };
        self.next += 1;
        Some(merge(index, open))
    }
}

fn merge(index: u64, open: Open) -> Merged {
    let Open {
        parts,
        histograms,
        failures,
    } = open;
    let mut status: BTreeMap<u16, u64> = BTreeMap::new();
    let mut errors: BTreeMap<ErrorKind, u64> = BTreeMap::new();
    let mut checks: BTreeMap<u16, u64> = BTreeMap::new();
    let first = &parts[0].1;
    let mut s = IntervalStats {
        // Delivery accounting and held connections never run on agents.
        delivery: None,
        connections: None,
        index,
        elapsed: first.elapsed,
        run_clock: first.run_clock,
        len: first.len,
        warmup: first.warmup,
        measured: first.measured,
        state: first.state,
        stage: first.stage,
        target: first.target,
        manual: first.manual,
        sent: 0,
        finished: 0,
        ok: 0,
        in_flight: 0,
        behind: 0,
        due: None,
        under_supplied: false,
        cpu_percent: None,
        generator_limited: false,
        latency: Percentiles::of(&histograms.latency),
        service: Percentiles::of(&histograms.service),
        failed_latency: Percentiles::of(&histograms.failed),
        error_latency: Percentiles::of(&histograms.errored),
        status: Vec::new(),
        errors: Vec::new(),
        checks: Vec::new(),
        by_request: Vec::new(),
        epochs_begun: Vec::new(),
    };
    for (_, p) in &parts {
        // Every agent makes the same epochs (same plan, same commands);
        // each may begin one a little apart from the others.
        for m in &p.epochs_begun {
            match s.epochs_begun.iter_mut().find(|e| e.id == m.id) {
                Some(e) => e.start = e.start.min(m.start),
                None => s.epochs_begun.push(*m),
            }
        }
        // The grid is the same everywhere; these only differ by the
        // moment each agent closed its interval.
        s.elapsed = s.elapsed.max(p.elapsed);
        s.run_clock = s.run_clock.max(p.run_clock);
        s.len = s.len.max(p.len);
        s.measured = s.measured.max(p.measured);
        s.warmup &= p.warmup;
        s.stage = s.stage.max(p.stage);
        // Every agent runs the whole schedule: the level is the plan's.
        s.target = s.target.max(p.target);
        s.manual |= p.manual;
        s.sent += p.sent;
        s.finished += p.finished;
        s.ok += p.ok;
        s.in_flight += p.in_flight;
        s.behind += p.behind;
        s.due = match (s.due, p.due) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        // The busiest agent is the one that limits.
        s.cpu_percent = match (s.cpu_percent, p.cpu_percent) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        s.generator_limited |= p.generator_limited;
        for &(code, n) in &p.status {
            *status.entry(code).or_default() += n;
        }
        for &(kind, n) in &p.errors {
            *errors.entry(kind).or_default() += n;
        }
        for &(r, n) in &p.checks {
            *checks.entry(r).or_default() += n;
        }
        for &(r, o, n) in &p.by_request {
            match s
                .by_request
                .iter_mut()
                .find(|(r2, o2, _)| (*r2, *o2) == (r, o))
            {
                Some((_, _, c)) => *c += n,
                None => s.by_request.push((r, o, n)),
            }
        }
    }
    s.status = status.into_iter().collect();
    s.errors = errors.into_iter().collect();
    s.checks = checks.into_iter().collect();
    s.under_supplied = s.due.is_some_and(|due| {
        let short = due - s.sent as f64;
        short > SHORT_MIN && short > SHORT_SHARE * due
    });
    Merged {
        stats: s,
        histograms,
        failures,
        agents: parts.iter().map(|(a, _)| *a).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn part(index: u64, sent: u64, ms: &[u64]) -> (IntervalStats, Histograms) {
        let mut h = Histograms::default();
        for &m in ms {
            h.latency.record(m * 1000).unwrap();
            h.service.record(m * 1000).unwrap();
        }
        let n = ms.len() as u64;
        let s = IntervalStats {
            by_request: Vec::new(),
            epochs_begun: Vec::new(),
            delivery: None,
            connections: None,
            index,
            elapsed: Duration::from_secs(index + 1),
            run_clock: Duration::from_secs(index + 1),
            len: Duration::from_secs(1),
            warmup: false,
            measured: Duration::from_secs(1),
            state: crate::stats::summary::RunState::Running,
            stage: 0,
            target: 300.0,
            manual: false,
            sent,
            finished: n,
            ok: n,
            in_flight: 0,
            behind: 0,
            due: Some(300.0),
            under_supplied: false,
            cpu_percent: Some(10.0),
            generator_limited: false,
            latency: Percentiles::of(&h.latency),
            service: Percentiles::of(&h.service),
            failed_latency: Percentiles::default(),
            error_latency: Percentiles::default(),
            status: vec![(200, n)],
            errors: vec![],
            checks: vec![],
        };
        (s, h)
    }

    #[test]
    fn closing_across_a_gap_jumps_to_the_next_open_interval() {
        // A far index (what a hostile agent once sent) must not be walked
        // to one empty interval at a time.
        let mut m = Merger::default();
        let (s, h) = part(1 << 50, 100, &[1]);
        m.add(0, s, &h, vec![]);
        assert!(m.close().is_none());
        assert_eq!(m.next_index(), 1 << 50);
        assert_eq!(m.close().unwrap().stats.index, 1 << 50);
        assert!(!m.has_any());
    }

    #[test]
    fn percentiles_are_those_of_the_summed_histograms() {
        let mut m = Merger::default();
        let a: Vec<u64> = (1..=100).collect();
        let b: Vec<u64> = (200..=300).collect();
        let (sa, ha) = part(0, 100, &a);
        let (sb, hb) = part(0, 200, &b);
        m.add(0, sa, &ha, vec![]);
        assert!(!m.complete(&[0, 1]));
        m.add(1, sb, &hb, vec![]);
        assert!(m.complete(&[0, 1]));
        let out = m.close().unwrap();
        let mut sum = ha.latency.clone();
        sum.add(&hb.latency).unwrap();
        assert_eq!(out.stats.latency, Percentiles::of(&sum));
        assert_eq!(out.stats.sent, 300);
        assert_eq!(out.stats.status, vec![(200, 201)]);
        assert!(!out.stats.under_supplied);
    }

    #[test]
    fn a_missing_share_is_under_supplied_and_a_late_part_is_kept() {
        let mut m = Merger::default();
        let (s, h) = part(0, 200, &[1, 2]);
        m.add(0, s, &h, vec![]);
        let out = m.close().unwrap();
        assert!(out.stats.under_supplied, "200 of 300 due");
        let (late, h) = part(0, 100, &[5]);
        m.add(1, late, &h, vec![]);
        assert_eq!(m.late, 1);
        let (s, h2) = part(1, 200, &[1]);
        m.add(0, s, &h2, vec![]);
        let out = m.close().unwrap();
        assert_eq!(out.stats.sent, 300, "the late part went into interval 1");
        assert_eq!(out.histograms.latency.len(), 2);
    }
}
