//! Checks on what an agent sends before the coordinator folds it in: a hostile or buggy
//! agent's frame is refused with a named reason (and the agent dropped), never merged.
//!
//! The checks are what the coordinator can know without trusting the agent:
//! an interval's index lies within the run's grid and not ahead of the
//! coordinator's own run clock, its length is one interval, its counts are
//! consistent (ok within finished, finished within what the agent has sent
//! give or take one interval's sends,
//! a histogram no larger than its count) and within the most any rate could
//! send in its length; `finished` comes only once the agent's share is over.

use std::time::Duration;

use crate::stats::{Histograms, IntervalStats};
use crate::util::limits::MAX_RATE;

/// What the coordinator knows when an agent's interval arrives.
pub struct Grid {
    /// The interval length of the run.
    pub delta: Duration,
    /// The coordinator's run clock now.
    pub now: Duration,
    /// How far an agent's clock may lead the coordinator's (level lead,
    /// clock uncertainty and a margin).
    pub slack: Duration,
}

/// An agent's counts so far (all intervals, warmup included).
#[derive(Debug, Default, Clone, Copy)]
pub struct Sofar {
    pub sent: u64,
    pub finished: u64,
}

/// Checks one interval; on success returns the agent's counts with it added.
pub fn interval(
    grid: &Grid,
    sofar: Sofar,
    s: &IntervalStats,
    h: &Histograms,
) -> Result<Sofar, String> {
    let delta = grid.delta.as_secs_f64().max(1e-3);
    let ahead = (grid.now + grid.slack).as_secs_f64() / delta + 1.0;
    if s.index as f64 > ahead {
        return Err(format!(
            "interval index {} is ahead of the run's grid (at most {} at {:.1}s)",
            s.index,
            ahead.floor() as u64,
            grid.now.as_secs_f64()
        ));
    }
    if s.len > grid.delta * 2 + Duration::from_millis(100) {
        return Err(format!(
            "interval {} is {:.3}s long; the run's intervals are {:.3}s",
            s.index,
            s.len.as_secs_f64(),
            delta
        ));
    }
    // The most any rate may send in the interval (closed loop has no rate,
    // but cannot beat the cap either).
    let most = (MAX_RATE * (s.len.as_secs_f64() + delta)).ceil() as u64;
    for (what, n) in [
        ("sent", s.sent),
        ("finished", s.finished),
        ("in flight", s.in_flight),
    ] {
        if n > most {
            return Err(format!(
                "interval {}: {what} {n} is more than any rate sends in {:.3}s",
                s.index,
                s.len.as_secs_f64()
            ));
        }
    }
    if s.ok > s.finished {
        return Err(format!(
            "interval {}: ok {} is more than finished {}",
            s.index, s.ok, s.finished
        ));
    }
    let next = Sofar {
        sent: sofar.sent.saturating_add(s.sent),
        finished: sofar.finished.saturating_add(s.finished),
    };
    // A response counted a moment before its send (the counters are
    // per thread) may land one interval early: allow that much.
    if next.finished > next.sent.saturating_add(s.sent).saturating_add(100) {
        return Err(format!(
            "interval {}: {} requests finished in all, but only {} were sent",
            s.index, next.finished, next.sent
        ));
    }
    let recorded = h.latency.len() + h.failed.len() + h.errored.len();
    if recorded > s.finished {
        return Err(format!(
            "interval {}: its histograms hold {recorded} requests, but {} finished",
            s.index, s.finished
        ));
    }
    // The epochs split the same requests: never more of them, and an
    // epoch's successes no more than its requests (the log reader checks that).
    let by_epoch: u64 = h.epochs.iter().map(|p| p.finished).sum();
    if by_epoch > s.finished {
        return Err(format!(
            "interval {}: its epochs hold {by_epoch} requests, but {} finished",
            s.index, s.finished
        ));
    }
    if s.epochs_begun.len() > 16 {
        return Err(format!(
            "interval {}: {} epochs begun in one interval (levels change at most a few times a second)",
            s.index,
            s.epochs_begun.len()
        ));
    }
    Ok(next)
}

/// Checks a `finished` frame: only once the schedule is over (or the run
/// was stopped), so an agent cannot end a run at once.
pub fn finished(
    now: Duration,
    schedule_end: Duration,
    stopped: bool,
    delta: Duration,
) -> Result<(), String> {
    if stopped || now + delta * 2 >= schedule_end {
        Ok(())
    } else {
        Err(format!(
            "it said it had finished at {:.1}s, before its share ends at {:.1}s",
            now.as_secs_f64(),
            schedule_end.as_secs_f64()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grid(now: u64) -> Grid {
        Grid {
            delta: Duration::from_millis(250),
            now: Duration::from_secs(now),
            slack: Duration::from_secs(1),
        }
    }

    fn iv(index: u64, sent: u64, finished: u64, ok: u64) -> IntervalStats {
        let p = serde_json::json!({"count": 0, "max": 0.0, "mean": 0.0, "p50": 0.0, "p90": 0.0, "p95": 0.0, "p99": 0.0, "p999": 0.0});
        serde_json::from_value(serde_json::json!({
            "index": index, "elapsed_s": 1.0, "run_clock_s": 1.0, "len_s": 0.25, "warmup": false,
            "state": "running", "stage": 0, "target": 10.0, "manual": false,
            "sent": sent, "finished": finished, "ok": ok, "in_flight": 0,
            "latency": p, "service": p, "status": [], "errors": [],
        }))
        .unwrap()
    }

    #[test]
    fn an_index_far_past_the_grid_is_refused() {
        let h = Histograms::default();
        let e = interval(&grid(10), Sofar::default(), &iv(1 << 50, 1, 1, 1), &h).unwrap_err();
        assert!(e.contains("ahead of the run's grid"), "{e}");
        assert!(interval(&grid(10), Sofar::default(), &iv(40, 1, 1, 1), &h).is_ok());
    }

    #[test]
    fn impossible_counts_are_refused() {
        let h = Histograms::default();
        let g = grid(10);
        let e = interval(&g, Sofar::default(), &iv(3, u64::MAX, 0, 0), &h).unwrap_err();
        assert!(e.contains("more than any rate"), "{e}");
        let e = interval(&g, Sofar::default(), &iv(3, 5, 5, 6), &h).unwrap_err();
        assert!(e.contains("ok 6 is more than finished 5"), "{e}");
        let e = interval(
            &g,
            Sofar {
                sent: 2,
                finished: 2,
            },
            &iv(3, 1, 400, 400),
            &h,
        )
        .unwrap_err();
        assert!(e.contains("only 3 were sent"), "{e}");
        // One interval's early count is tolerated.
        assert!(interval(
            &g,
            Sofar {
                sent: 1000,
                finished: 998
            },
            &iv(3, 0, 4, 4),
            &h
        )
        .is_ok());
        let mut h = Histograms::default();
        for _ in 0..9 {
            h.latency.record(1000).unwrap();
        }
        let e = interval(&g, Sofar::default(), &iv(3, 5, 5, 5), &h).unwrap_err();
        assert!(e.contains("hold 9 requests"), "{e}");
    }

    #[test]
    fn finishing_before_the_share_ends_is_refused() {
        let d = Duration::from_millis(250);
        let e = finished(Duration::ZERO, Duration::from_secs(30), false, d).unwrap_err();
        assert!(e.contains("before its share ends at 30.0s"), "{e}");
        assert!(finished(Duration::from_secs(30), Duration::from_secs(30), false, d).is_ok());
        assert!(finished(Duration::from_secs(3), Duration::from_secs(30), true, d).is_ok());
    }
}
