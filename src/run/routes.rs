//! The run's route actions as the views see them: each firing's record, and its drops once the window has passed.

use std::collections::VecDeque;
use std::time::Duration;

use super::event::{Event, EventKind};
use crate::routes::config::{DROPS_AFTER, DROPS_BEFORE};
use crate::routes::{drops, ActionRecord, Phase};
use crate::stats::FailureAt;

/// Failures kept while windows are open: a bad run must not grow memory.
const FAILURES_RING: usize = 500_000;

#[derive(Debug, Clone, Default)]
pub struct RouteLog {
    /// Every firing, in the order they fired.
    pub records: Vec<ActionRecord>,
    /// Failed requests of the last few seconds, by send time.
    failures: VecDeque<FailureAt>,
    /// How long after a window ends its requests can still complete (the
    /// request timeout): a drop window closes only then.
    settle: Duration,
    /// A record's failures are also cut when the ring overflows.
    overflowed: bool,
    /// The plan's request names, for the drop list.
    requests: Vec<String>,
    /// Playing back a run log: drop windows are not recomputed.
    replay: bool,
}

impl RouteLog {
    pub fn new(request_timeout: Duration, requests: Vec<String>) -> Self {
        RouteLog {
            settle: request_timeout,
            requests,
            ..RouteLog::default()
        }
    }

    /// Folds in a firing's new state; returns the event it makes.
    pub fn update(&mut self, r: ActionRecord) -> Event {
        let at = Duration::try_from_secs_f64(match r.phase {
            Phase::Fired => r.fired_at_s,
            _ => r.applied_at_s.unwrap_or(r.fired_at_s),
        })
        .unwrap_or_default();
        let name = r.action.clone();
        let kind = match r.phase {
            Phase::Fired => EventKind::RouteFired { name },
            Phase::Applied => EventKind::RouteApplied { name },
            Phase::Propagated => EventKind::RoutePropagated { name },
            Phase::Failed => EventKind::RouteFailed { name },
        };
        let message = r.message();
        match self
            .records
            .iter_mut()
            .find(|x| x.action == r.action && x.firing == r.firing)
        {
            Some(x) => {
                let drops = x.drops.take();
                *x = r;
                x.drops = drops;
            }
            None => self.records.push(r),
        }
        Event { at, kind, message }
    }

    /// For replay: the recorded drop events stand; none are recomputed.
    pub fn recorded(&mut self) {
        self.replay = true;
    }

    /// Takes an interval's failures; returns the drop reports of windows
    /// that closed by `now` (the interval's end).
    pub fn interval(&mut self, failures: &[FailureAt], now: Duration) -> Vec<Event> {
        if self.replay {
            return Vec::new();
        }
        if !self.records.is_empty() {
            for f in failures {
                if self.failures.len() == FAILURES_RING {
                    self.failures.pop_front();
                    self.overflowed = true;
                }
                self.failures.push_back(*f);
            }
        }
        let out = self.close(now, false);
        // Keep what an open (or future) window may still need.
        let keep_from = self
            .open()
            .map(|at| at.saturating_sub(DROPS_BEFORE))
            .min()
            .unwrap_or(now.saturating_sub(DROPS_BEFORE));
        while self.failures.front().is_some_and(|f| f.sent < keep_from) {
            self.failures.pop_front();
        }
        out
    }

    /// Closes every open window with what there is (the run ended).
    pub fn finish(&mut self) -> Vec<Event> {
        if self.replay {
            return Vec::new();
        }
        self.close(Duration::MAX, true)
    }

    fn open(&self) -> impl Iterator<Item = Duration> + '_ {
        self.records
            .iter()
            .filter(|r| r.drops.is_none())
            .filter_map(|r| r.applied_at_s)
            .map(|s| Duration::try_from_secs_f64(s).unwrap_or_default())
    }

    fn close(&mut self, now: Duration, ending: bool) -> Vec<Event> {
        let mut out = Vec::new();
        for r in self.records.iter_mut().filter(|r| r.drops.is_none()) {
            let Some(at) = r
                .applied_at_s
                .and_then(|s| Duration::try_from_secs_f64(s).ok())
            else {
                continue;
            };
            let closes = at + DROPS_AFTER + self.settle;
            if now < closes && !ending {
                continue;
            }
            let complete = now >= closes && !self.overflowed;
            let d = drops::collect(
                &self.failures,
                at,
                DROPS_BEFORE,
                DROPS_AFTER,
                complete,
                &self.requests,
            );
            let message = drops_line(&r.action, &d);
            out.push(Event {
                at: at + DROPS_AFTER,
                kind: EventKind::RouteDrops {
                    name: r.action.clone(),
                    drops: d.total,
                },
                message,
            });
            r.drops = Some(d);
        }
        out
    }
}

/// "route flip: 0 failed requests from -1 s to +5 s", or the first few drops.
pub fn drops_line(action: &str, d: &drops::Drops) -> String {
    let window = format!("{:+.0} s to {:+.0} s", d.from_ms / 1000.0, d.to_ms / 1000.0);
    let cut = if d.complete {
        ""
    } else {
        " (window cut short)"
    };
    if d.total == 0 {
        return format!("route {action}: zero failed requests from {window}{cut}");
    }
    let first: Vec<String> = d
        .listed
        .iter()
        .take(5)
        .map(|x| format!("{:+.0} ms {} {}", x.offset_ms, x.request, x.outcome))
        .collect();
    let by: Vec<String> = d
        .by_request
        .iter()
        .map(|(k, n)| format!("{k} {n}"))
        .collect();
    format!(
        "route {action}: {} failed requests from {window}{cut} ({}): {}{}",
        d.total,
        by.join(", "),
        first.join(", "),
        if d.total > 5 { ", …" } else { "" }
    )
}
