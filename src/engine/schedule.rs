//! The schedule: when each open-loop request is due and how many closed-loop workers are active.
//!
//! The controller turns the plan's stages (and any pause or hand-set level)
//! into piecewise-linear segments of wall time. Workers read the published
//! `Schedule` and compute, for request slot `k`, its intended send time by
//! inverting the integral of the rate: no per-request message from the
//! controller is needed, and a ramp is exact rather than stepped.
//!
//! A slot's intended time never includes time spent paused: when a pause
//! ends, slots that were due before it are shifted by the pause's length.

use std::time::{Duration, Instant};

/// `t + d`, saturating instead of panicking: input durations are bounded
/// at parse time (`util::limits`), but time arithmetic here must not be
/// the place a bad value brings the run down.
pub fn later(t: Instant, d: Duration) -> Instant {
    t.checked_add(d)
        .or_else(|| t.checked_add(crate::util::limits::MAX_DURATION * 2))
        .unwrap_or(t)
}

/// One linear piece of the level (rate in open mode, concurrency in closed mode).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Segment {
    pub t0: Instant,
    pub len: Duration,
    /// Slots due before `t0` (fractional, so rate changes stay continuous).
    pub k0: f64,
    /// Level at `t0`.
    pub r0: f64,
    /// Level change per second.
    pub slope: f64,
    /// Total paused time before this segment started.
    pub paused_before: Duration,
    pub stage: usize,
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

    pub fn end(&self) -> Instant {
        later(self.t0, self.len)
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
    /// Contiguous in slots; in time too, except for paused gaps.
    pub segments: Vec<Segment>,
    pub paused_total: Duration,
    pub paused: bool,
}

impl Schedule {
    pub fn empty(generation: u64) -> Self {
        Schedule {
            generation,
            segments: Vec::new(),
            paused_total: Duration::ZERO,
            paused: false,
        }
    }

    /// Wall time at which the last scheduled segment ends.
    pub fn end(&self) -> Option<Instant> {
        self.segments.last().map(Segment::end)
    }

    /// Total slots in the schedule.
    pub fn k_end(&self) -> f64 {
        self.segments.last().map_or(0.0, Segment::k_end)
    }

    fn segment_at(&self, t: Instant) -> Option<&Segment> {
        self.segments
            .iter()
            .rev()
            .find(|s| s.t0 <= t)
            .filter(|s| t < s.end())
    }

    /// The level at `t` (0 when paused, before the start or after the end).
    pub fn level_at(&self, t: Instant) -> f64 {
        self.segment_at(t)
            .map_or(0.0, |s| s.level_at((t - s.t0).as_secs_f64()))
    }

    pub fn stage_at(&self, t: Instant) -> Option<usize> {
        self.segment_at(t).map(|s| s.stage)
    }

    /// Slots due by `t`.
    pub fn count_at(&self, t: Instant) -> f64 {
        match self.segments.iter().rev().find(|s| s.t0 <= t) {
            Some(s) => s.k0 + s.count_in((t - s.t0).as_secs_f64()),
            None => self.segments.first().map_or(0.0, |s| s.k0),
        }
    }

    /// Intended send time of open-loop slot `k` (0-based).
    pub fn due(&self, k: u64) -> Due {
        let k = k as f64;
        let Some(first) = self.segments.first() else {
            return Due::NotScheduled;
        };
        let shift = |s: &Segment| self.paused_total - s.paused_before;
        if k < first.k0 {
            return Due::At(later(first.t0, shift(first)));
        }
        let Some(s) = self.segments.iter().rev().find(|s| s.k0 <= k) else {
            return Due::NotScheduled;
        };
        match s.offset_of(k - s.k0) {
            Some(d) if k < s.k_end() => Due::At(later(
                later(s.t0, Duration::try_from_secs_f64(d).unwrap_or(s.len)),
                shift(s),
            )),
            _ => Due::NotScheduled,
        }
    }

    /// Closed loop: the first time at or after `now` when worker `i` (0-based)
    /// is active, i.e. the concurrency is at least `i + 1`.
    pub fn active_from(&self, i: usize, now: Instant) -> Due {
        let need = i as f64 + 1.0;
        for s in self.segments.iter().filter(|s| s.end() > now) {
            let start = s.t0.max(now);
            let d0 = (start - s.t0).as_secs_f64();
            if s.level_at(d0) + 1e-9 >= need {
                return Due::At(start);
            }
            if s.slope > 0.0 {
                let d = (need - s.r0) / s.slope;
                if d <= s.len.as_secs_f64() {
                    let d = Duration::try_from_secs_f64(d.max(d0)).unwrap_or(s.len);
                    return Due::At(later(s.t0, d));
                }
            }
        }
        Due::NotScheduled
    }

    /// Closed loop: whether worker `i` should be sending at `t`.
    pub fn is_active(&self, i: usize, t: Instant) -> bool {
        self.level_at(t) + 1e-9 >= i as f64 + 1.0
    }

    /// Cuts the schedule at `t`: segments after it are dropped, the one
    /// containing it ends there. Returns the slots due by `t`.
    pub fn truncate_at(&mut self, t: Instant) -> f64 {
        let k = self.count_at(t);
        self.segments.retain(|s| s.t0 < t);
        if let Some(last) = self.segments.last_mut() {
            if last.end() > t {
                last.len = t - last.t0;
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

    fn seg(t0: Instant, secs: f64, k0: f64, r0: f64, slope: f64) -> Segment {
        Segment {
            t0,
            len: Duration::from_secs_f64(secs),
            k0,
            r0,
            slope,
            paused_before: Duration::ZERO,
            stage: 0,
        }
    }

    fn at(d: Due) -> Instant {
        match d {
            Due::At(t) => t,
            Due::NotScheduled => panic!("not scheduled"),
        }
    }

    #[test]
    fn constant_rate_spaces_slots_evenly() {
        let t0 = Instant::now();
        let s = Schedule {
            segments: vec![seg(t0, 10.0, 0.0, 100.0, 0.0)],
            ..Schedule::empty(0)
        };
        assert_eq!(at(s.due(0)), t0);
        let t = at(s.due(250)) - t0;
        assert!((t.as_secs_f64() - 2.5).abs() < 1e-9, "{t:?}");
        assert_eq!(s.due(1000), Due::NotScheduled, "past the end");
        assert!((s.k_end() - 1000.0).abs() < 1e-9);
    }

    #[test]
    fn ramp_integrates_the_rate() {
        // 0 -> 100 req/s over 10 s: 500 slots, half of them in the last 2.93 s.
        let t0 = Instant::now();
        let s = Schedule {
            segments: vec![seg(t0, 10.0, 0.0, 0.0, 10.0)],
            ..Schedule::empty(0)
        };
        assert!((s.k_end() - 500.0).abs() < 1e-6);
        let t = (at(s.due(250)) - t0).as_secs_f64();
        assert!((t - 50f64.sqrt()).abs() < 1e-6, "{t}");
        assert!((s.level_at(t0 + Duration::from_secs(5)) - 50.0).abs() < 1e-9);
        // And a ramp down reaches its end count exactly at its end.
        let down = Schedule {
            segments: vec![seg(t0, 10.0, 0.0, 100.0, -10.0)],
            ..Schedule::empty(0)
        };
        assert!((down.k_end() - 500.0).abs() < 1e-6);
        let t = (at(down.due(499)) - t0).as_secs_f64();
        assert!(t < 10.0 && t > 9.0, "{t}");
    }

    #[test]
    fn truncate_and_continue_keeps_slots_continuous() {
        let t0 = Instant::now();
        let mut s = Schedule {
            segments: vec![seg(t0, 10.0, 0.0, 100.0, 0.0)],
            ..Schedule::empty(0)
        };
        let tc = t0 + Duration::from_millis(1005);
        let k = s.truncate_at(tc);
        assert!((k - 100.5).abs() < 1e-9);
        s.extend(vec![seg(tc, 5.0, k, 1000.0, 0.0)]);
        // Slot 100 was due under the old rate, slot 101 under the new one.
        assert_eq!(at(s.due(100)), t0 + Duration::from_secs(1));
        let t101 = at(s.due(101)) - tc;
        assert!((t101.as_secs_f64() - 0.0005).abs() < 1e-9, "{t101:?}");
    }

    #[test]
    fn slots_due_before_a_pause_are_shifted_by_it() {
        let t0 = Instant::now();
        let mut s = Schedule {
            segments: vec![seg(t0, 10.0, 0.0, 10.0, 0.0)],
            ..Schedule::empty(0)
        };
        let tp = t0 + Duration::from_secs(2);
        let k = s.truncate_at(tp);
        s.paused = true;
        assert_eq!(s.due(25), Due::NotScheduled, "nothing is due while paused");
        // Resume 3 s later.
        let tr = tp + Duration::from_secs(3);
        s.paused = false;
        s.paused_total = Duration::from_secs(3);
        s.extend(vec![Segment {
            paused_before: s.paused_total,
            ..seg(tr, 8.0, k, 10.0, 0.0)
        }]);
        assert_eq!(
            at(s.due(15)),
            t0 + Duration::from_millis(1500) + Duration::from_secs(3)
        );
        assert_eq!(at(s.due(20)), tr);
        assert_eq!(at(s.due(25)), tr + Duration::from_millis(500));
    }

    #[test]
    fn closed_loop_workers_follow_the_ramp() {
        let t0 = Instant::now();
        let s = Schedule {
            segments: vec![
                seg(t0, 10.0, 0.0, 0.0, 1.0),
                seg(t0 + Duration::from_secs(10), 5.0, 0.0, 10.0, 0.0),
            ],
            ..Schedule::empty(0)
        };
        assert_eq!(at(s.active_from(0, t0)), t0 + Duration::from_secs(1));
        assert_eq!(at(s.active_from(4, t0)), t0 + Duration::from_secs(5));
        assert_eq!(
            at(s.active_from(9, t0 + Duration::from_secs(12))),
            t0 + Duration::from_secs(12)
        );
        assert_eq!(s.active_from(10, t0), Due::NotScheduled);
        assert!(s.is_active(2, t0 + Duration::from_secs(3)));
        assert!(!s.is_active(3, t0 + Duration::from_secs(3)));
    }
}
