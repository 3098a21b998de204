//! The schedule: when each open-loop request is due and how many closed-loop workers are active, on the run clock.
//!
//! The run clock is the time since the run started, less the time spent
//! paused. The supervisor turns the plan's stages (and any hand-set level)
//! into piecewise-linear segments of the run clock. Workers read the
//! published `Schedule` and compute, for request slot `k`, its run-clock
//! time by inverting the integral of the rate (no per-request message, and
//! a ramp is exact), then its wall time as `origin + rc + paused_total`.
//!
//! Because wall time is derived with the pause total as it is now, a slot
//! due before a pause and sent after it is charged its wait before and
//! after the pause, never the pause itself; while paused nothing is due.

use std::time::Duration;

use tokio::time::Instant;

/// `t + d`, saturating instead of panicking: input durations are bounded
/// at parse time (`util::limits`), but time arithmetic here must not be
/// the place a bad value brings the run down.
pub fn later(t: Instant, d: Duration) -> Instant {
    t.checked_add(d)
        .or_else(|| t.checked_add(rampdeck_base::duration::MAX_DURATION * 2))
        .unwrap_or(t)
}

/// Seconds as a Duration, never panicking on a negative or huge value.
fn secs(s: f64) -> Duration {
    Duration::try_from_secs_f64(s.max(0.0)).unwrap_or(rampdeck_base::duration::MAX_DURATION)
}

/// One linear piece of the level (rate in open mode, concurrency in closed mode).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Segment {
    /// Run-clock start.
    pub t0: Duration,
    pub len: Duration,
    /// Slots due before `t0` (fractional, so rate changes stay continuous).
    pub k0: f64,
    /// Level at `t0`.
    pub r0: f64,
    /// Level change per second.
    pub slope: f64,
    pub stage: usize,
    /// The level epoch it belongs to (`stats::epochs`): its requests' statistics go there.
    pub epoch: u32,
}

impl Segment {
    pub fn level_at(&self, d: f64) -> f64 {
        (self.r0 + self.slope * d).max(0.0)
    }

    /// Slots due from `t0` to `t0 + d`.
    pub fn count_in(&self, d: f64) -> f64 {
        let d = d.clamp(0.0, self.len.as_secs_f64());
        (self.r0 * d + 0.5 * self.slope * d * d).max(0.0)
    }

    pub fn k_end(&self) -> f64 {
        self.k0 + self.count_in(self.len.as_secs_f64())
    }

    pub fn end(&self) -> Duration {
        self.t0.saturating_add(self.len)
    }

    /// Seconds after `t0` at which `n` slots have become due, if within the segment.
    fn offset_of(&self, n: f64) -> Option<f64> {
        if n <= 0.0 {
            return Some(0.0);
        }
        // r0*d + slope/2*d^2 = n; this form stays exact when slope is 0 or tiny.
        let disc = self.r0 * self.r0 + 2.0 * self.slope * n;
        if disc < 0.0 {
            return None;
        }
        let denom = self.r0 + disc.sqrt();
        if denom <= 0.0 {
            return None;
        }
        let d = 2.0 * n / denom;
        (d <= self.len.as_secs_f64() + 1e-9).then_some(d)
    }
}

/// When a slot or worker should act.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Due {
    At(Instant),
    /// Not within the published schedule: wait for the next one (paused, or
    /// past the end, where only a change of plan can bring it back).
    NotScheduled,
}

/// Segments are kept for slots that may still be claimed late (a backlog);
/// past this many, the oldest are dropped and their slots count from the
/// oldest kept segment's start, which can only understate their lateness.
pub const MAX_SEGMENTS: usize = 512;

#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    pub generation: u64,
    /// Contiguous in slots and in run-clock time.
    pub segments: Vec<Segment>,
    /// Wall time of run-clock zero.
    pub origin: Instant,
    /// Time paused so far (while paused, up to when the pause began).
    pub paused_total: Duration,
    pub paused: bool,
    /// An agent's part of the slots and workers (None: all of them).
    pub share: Option<std::sync::Arc<super::share::Share>>,
}

impl Schedule {
    pub fn empty(generation: u64, origin: Instant) -> Self {
        Schedule {
            generation,
            segments: Vec::new(),
            origin,
            paused_total: Duration::ZERO,
            paused: false,
            share: None,
        }
    }

    /// Wall time of run-clock time `rc`, as things stand (unpaused from now on).
    pub fn wall(&self, rc: Duration) -> Instant {
        later(self.origin, rc.saturating_add(self.paused_total))
    }

    /// Run-clock time at wall time `t` (meaningful while not paused).
    pub fn rc_at(&self, t: Instant) -> Duration {
        t.saturating_duration_since(self.origin)
            .saturating_sub(self.paused_total)
    }

    /// Run-clock time at which the last scheduled segment ends.
    pub fn end(&self) -> Option<Duration> {
        self.segments.last().map(Segment::end)
    }

    /// Total slots in the schedule.
    pub fn k_end(&self) -> f64 {
        self.segments.last().map_or(0.0, Segment::k_end)
    }

    fn segment_at(&self, rc: Duration) -> Option<&Segment> {
        self.segments
            .iter()
            .rev()
            .find(|s| s.t0 <= rc)
            .filter(|s| rc < s.end())
    }

    /// The level at run-clock `rc` (0 before the start or after the end).
    pub fn level_at(&self, rc: Duration) -> f64 {
        self.segment_at(rc)
            .map_or(0.0, |s| s.level_at((rc - s.t0).as_secs_f64()))
    }

    /// The epoch of what is sent at run-clock `rc` (closed loop); before the
    /// first segment the first's, after the last the last's.
    pub fn epoch_at(&self, rc: Duration) -> u32 {
        self.segments
            .iter()
            .rev()
            .find(|s| s.t0 <= rc)
            .or(self.segments.first())
            .map_or(0, |s| s.epoch)
    }

    /// The epoch of open-loop slot `k`: the segment that made it due.
    pub fn epoch_of_slot(&self, k: u64) -> u32 {
        let k = k as f64;
        self.segments
            .iter()
            .rev()
            .find(|s| s.k0 <= k && s.len > Duration::ZERO)
            .or(self.segments.first())
            .map_or(0, |s| s.epoch)
    }

    pub fn stage_at(&self, rc: Duration) -> Option<usize> {
        self.segment_at(rc).map(|s| s.stage)
    }

    /// Slots due by run-clock `rc`.
    pub fn count_at(&self, rc: Duration) -> f64 {
        match self.segments.iter().rev().find(|s| s.t0 <= rc) {
            Some(s) => s.k0 + s.count_in((rc - s.t0).as_secs_f64()),
            None => self.segments.first().map_or(0.0, |s| s.k0),
        }
    }

    /// Run-clock time of open-loop slot `k` (0-based), if it is scheduled.
    pub fn slot_time(&self, k: u64) -> Option<Duration> {
        let k = k as f64;
        let first = self.segments.first()?;
        if k < first.k0 {
            return Some(first.t0);
        }
        let s = self.segments.iter().rev().find(|s| s.k0 <= k)?;
        match s.offset_of(k - s.k0) {
            Some(d) if k < s.k_end() => Some(s.t0.saturating_add(secs(d))),
            _ => None,
        }
    }

    /// Intended send time of open-loop slot `k`; nothing is due while paused.
    pub fn due(&self, k: u64) -> Due {
        if self.paused {
            return Due::NotScheduled;
        }
        self.slot_time(k)
            .map_or(Due::NotScheduled, |rc| Due::At(self.wall(rc)))
    }

    /// Closed loop: the first time at or after `now` when worker `i` (0-based)
    /// is active, i.e. the concurrency is at least `i + 1`.
    pub fn active_from(&self, i: usize, now: Instant) -> Due {
        if self.paused {
            return Due::NotScheduled;
        }
        let rc = self.rc_at(now);
        let need = i as f64 + 1.0;
        for s in self.segments.iter().filter(|s| s.end() > rc) {
            let start = s.t0.max(rc);
            let d0 = (start - s.t0).as_secs_f64();
            if s.level_at(d0) + 1e-9 >= need {
                return Due::At(self.wall(start));
            }
            if s.slope > 0.0 {
                let d = (need - s.r0) / s.slope;
                if d <= s.len.as_secs_f64() {
                    return Due::At(self.wall(s.t0.saturating_add(secs(d.max(d0)))));
                }
            }
        }
        Due::NotScheduled
    }

    /// Closed loop: whether worker `i` should be sending at `now`.
    pub fn is_active(&self, i: usize, now: Instant) -> bool {
        !self.paused && self.level_at(self.rc_at(now)) + 1e-9 >= i as f64 + 1.0
    }

    /// Cuts the schedule at run-clock `rc`: segments after it are dropped,
    /// the one containing it ends there. Returns the slots due by `rc`.
    pub fn truncate_at(&mut self, rc: Duration) -> f64 {
        let k = self.count_at(rc);
        self.segments.retain(|s| s.t0 < rc);
        if let Some(last) = self.segments.last_mut() {
            if last.end() > rc {
                last.len = rc - last.t0;
            }
        }
        k
    }

    pub fn extend(&mut self, future: Vec<Segment>) {
        self.segments.extend(future);
        let excess = self.segments.len().saturating_sub(MAX_SEGMENTS);
        if excess > 0 {
            self.segments.drain(..excess);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(t0: f64, secs: f64, k0: f64, r0: f64, slope: f64) -> Segment {
        Segment {
            t0: Duration::from_secs_f64(t0),
            len: Duration::from_secs_f64(secs),
            k0,
            r0,
            slope,
            stage: 0,
            epoch: 0,
        }
    }

    fn schedule(segments: Vec<Segment>) -> Schedule {
        Schedule {
            segments,
            ..Schedule::empty(0, Instant::now())
        }
    }

    fn at(s: &Schedule, d: Due) -> Duration {
        match d {
            Due::At(t) => t - s.origin,
            Due::NotScheduled => panic!("not scheduled"),
        }
    }

    #[test]
    fn constant_rate_spaces_slots_evenly() {
        let s = schedule(vec![seg(0.0, 10.0, 0.0, 100.0, 0.0)]);
        assert_eq!(at(&s, s.due(0)), Duration::ZERO);
        let t = at(&s, s.due(250));
        assert!((t.as_secs_f64() - 2.5).abs() < 1e-9, "{t:?}");
        assert_eq!(s.due(1000), Due::NotScheduled, "past the end");
        assert!((s.k_end() - 1000.0).abs() < 1e-9);
    }

    #[test]
    fn ramp_integrates_the_rate() {
        // 0 -> 100 req/s over 10 s: 500 slots, half of them in the last 2.93 s.
        let s = schedule(vec![seg(0.0, 10.0, 0.0, 0.0, 10.0)]);
        assert!((s.k_end() - 500.0).abs() < 1e-6);
        let t = at(&s, s.due(250)).as_secs_f64();
        assert!((t - 50f64.sqrt()).abs() < 1e-6, "{t}");
        assert!((s.level_at(Duration::from_secs(5)) - 50.0).abs() < 1e-9);
        let down = schedule(vec![seg(0.0, 10.0, 0.0, 100.0, -10.0)]);
        assert!((down.k_end() - 500.0).abs() < 1e-6);
        let t = at(&down, down.due(499)).as_secs_f64();
        assert!(t < 10.0 && t > 9.0, "{t}");
    }

    #[test]
    fn truncate_and_continue_keeps_slots_continuous() {
        let mut s = schedule(vec![seg(0.0, 10.0, 0.0, 100.0, 0.0)]);
        let tc = Duration::from_millis(1005);
        let k = s.truncate_at(tc);
        assert!((k - 100.5).abs() < 1e-9);
        s.extend(vec![seg(1.005, 5.0, k, 1000.0, 0.0)]);
        // Slot 100 was due under the old rate, slot 101 under the new one.
        assert_eq!(at(&s, s.due(100)), Duration::from_secs(1));
        let t101 = at(&s, s.due(101)) - tc;
        assert!((t101.as_secs_f64() - 0.0005).abs() < 1e-6, "{t101:?}");
    }

    #[test]
    fn nothing_is_due_while_paused_and_the_pause_is_charged_to_no_slot() {
        let mut s = schedule(vec![seg(0.0, 10.0, 0.0, 10.0, 0.0)]);
        s.paused = true;
        s.paused_total = Duration::ZERO;
        assert_eq!(s.due(15), Due::NotScheduled, "a backlog slot waits too");
        assert_eq!(s.active_from(0, s.origin), Due::NotScheduled);
        // Resumed after 3 s: slot 15 (run clock 1.5 s) is due at wall 4.5 s,
        // so one sent then was late by its wait after the resume only.
        s.paused = false;
        s.paused_total = Duration::from_secs(3);
        assert_eq!(at(&s, s.due(15)), Duration::from_millis(4500));
        assert_eq!(
            s.rc_at(s.origin + Duration::from_secs(5)),
            Duration::from_secs(2)
        );
    }

    #[test]
    fn closed_loop_workers_follow_the_ramp() {
        let s = schedule(vec![
            seg(0.0, 10.0, 0.0, 0.0, 1.0),
            seg(10.0, 5.0, 0.0, 10.0, 0.0),
        ]);
        let o = s.origin;
        assert_eq!(at(&s, s.active_from(0, o)), Duration::from_secs(1));
        assert_eq!(at(&s, s.active_from(4, o)), Duration::from_secs(5));
        assert_eq!(
            at(&s, s.active_from(9, o + Duration::from_secs(12))),
            Duration::from_secs(12)
        );
        assert_eq!(s.active_from(10, o), Due::NotScheduled);
        assert!(s.is_active(2, o + Duration::from_secs(3)));
        assert!(!s.is_active(3, o + Duration::from_secs(3)));
    }
}
