//! The run's route actions as the views see them: each firing's record, and its drops once the window has passed.

use std::collections::VecDeque;
use std::time::Duration;

use crate::engine::event::{Event, EventKind};
use crate::routes::{drops, ActionRecord, Phase};
use crate::spec::routes::{DROPS_AFTER, DROPS_BEFORE};
use crate::stats::{FailureAt, IntervalStats};

/// Failures kept while windows are open: a bad run must not grow memory.
const FAILURES_RING: usize = 500_000;
/// Intervals' pace kept: enough for a window and its settle time.
const PACE_RING: usize = 4096;
/// Failures of the affected requests this many of their mean send gaps
/// apart still continue one outage (a gap that long is e^-10 unlikely
/// while every request fails)...
const OUTAGE_GAPS: f64 = 10.0;
/// ...within these bounds.
const OUTAGE_GAP_MIN: Duration = Duration::from_millis(20);
const OUTAGE_GAP_MAX: Duration = Duration::from_secs(1);

/// An applied firing as the windows it overlaps see it.
#[derive(Debug, Clone)]
struct Sent {
    fired: Duration,
    applied: Duration,
    affected: Option<Vec<bool>>,
}

/// One interval as the drop windows need it.
#[derive(Debug, Clone, Copy)]
struct PaceAt {
    /// Run clock at the interval's end.
    end: Duration,
    len: Duration,
    sent: u64,
    behind: u64,
    generator_limited: bool,
    /// A distributed run's merged interval sent short of the plan (an
    /// agent lost or behind).
    under_supplied: bool,
    /// Connections mode: lost connections opened again in the interval.
    reconnected: Option<u64>,
}

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
    /// Their weights (the share of the load each gets).
    weights: Vec<u32>,
    /// Recent intervals' send rate and backlog.
    pace: VecDeque<PaceAt>,
    /// Playing back a run log: drop windows are not recomputed.
    replay: bool,
}

impl RouteLog {
    pub fn new(request_timeout: Duration, requests: Vec<(String, u32)>) -> Self {
        let (requests, weights) = requests.into_iter().unzip();
        RouteLog {
            settle: request_timeout,
            requests,
            weights,
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
        Event {
            at,
            wall: None,
            kind,
            message,
        }
    }

    /// For replay: the recorded drop events stand; none are recomputed.
    pub fn recorded(&mut self) {
        self.replay = true;
    }

    /// Takes an interval and its failures; returns the drop reports of
    /// windows that closed by the interval's end.
    pub fn interval(&mut self, failures: &[FailureAt], i: &IntervalStats) -> Vec<Event> {
        if self.replay {
            return Vec::new();
        }
        let now = i.run_clock;
        if self.pace.len() == PACE_RING {
            self.pace.pop_front();
        }
        self.pace.push_back(PaceAt {
            end: now,
            len: i.len,
            sent: i.sent,
            behind: i.behind,
            generator_limited: i.generator_limited,
            under_supplied: i.under_supplied,
            reconnected: i.connections.as_ref().map(|c| c.now.reconnected),
        });
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
        while self.pace.len() > 2 && self.pace[1].end < keep_from {
            self.pace.pop_front();
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
        let mut records = std::mem::take(&mut self.records);
        let applied_at = |r: &ActionRecord| {
            r.applied_at_s
                .and_then(|s| Duration::try_from_secs_f64(s).ok())
        };
        let closing = |at: Duration| ending || now >= at + DROPS_AFTER + self.settle;
        // Most intervals close no window: then nothing more to do.
        if !records
            .iter()
            .filter(|r| r.drops.is_none())
            .filter_map(applied_at)
            .any(closing)
        {
            self.records = records;
            return out;
        }
        // Every applied firing, for the windows that overlap it.
        let applied: Vec<Sent> = records
            .iter()
            .filter_map(|r| {
                let at = applied_at(r)?;
                let fired = Duration::try_from_secs_f64(r.fired_at_s)
                    .unwrap_or_default()
                    .min(at);
                Some(Sent {
                    fired,
                    applied: at,
                    affected: self.affected(r),
                })
            })
            .collect();
        for r in records.iter_mut().filter(|r| r.drops.is_none()) {
            let Some(at) = applied_at(r) else {
                continue;
            };
            if !closing(at) {
                continue;
            }
            let complete = now >= at + DROPS_AFTER + self.settle && !self.overflowed;
            let d = self.window(r, at, complete, &applied);
            let message = drops_line(&r.action, &d);
            out.push(Event {
                at: at + DROPS_AFTER,
                wall: None,
                kind: EventKind::RouteDrops {
                    name: r.action.clone(),
                    drops: d.charged(),
                },
                message,
            });
            r.drops = Some(d);
        }
        self.records = records;
        out
    }

    /// Sorts one firing's window: its drops, an outage under way, unrelated
    /// failures, and the scheduled requests that could not leave.
    fn window(
        &self,
        r: &ActionRecord,
        at: Duration,
        complete: bool,
        applied: &[Sent],
    ) -> drops::Drops {
        let fired = Duration::try_from_secs_f64(r.fired_at_s)
            .unwrap_or_default()
            .min(at);
        let affected = self.affected(r);
        let end = at + DROPS_AFTER;
        // Firings sent after this one while its window is open: each takes
        // the outages that begin after it was sent, and the backlog that
        // grows after it.
        let overlapping: Vec<&Sent> = applied
            .iter()
            .filter(|o| o.fired > fired && o.fired <= end)
            .collect();
        let later: Vec<drops::Window<'_>> = overlapping
            .iter()
            .map(|o| drops::Window {
                fired: o.fired,
                applied: o.applied,
                before: DROPS_BEFORE,
                after: DROPS_AFTER,
                affected: o.affected.as_deref(),
                outage_gap: self.outage_gap(o.fired, o.affected.as_deref()),
                complete,
                names: &self.requests,
                later: &[],
            })
            .collect();
        let mut d = drops::collect(
            &self.failures,
            &drops::Window {
                fired,
                applied: at,
                before: DROPS_BEFORE,
                after: DROPS_AFTER,
                affected: affected.as_deref(),
                outage_gap: self.outage_gap(fired, affected.as_deref()),
                complete,
                names: &self.requests,
                later: &later,
            },
        );
        // The backlog when the action was sent, and its peak in the window
        // up to the next firing's send (which counts the rest from there).
        let end = overlapping.iter().map(|o| o.fired).min().unwrap_or(end);
        let base = self
            .pace
            .iter()
            .rev()
            .find(|p| p.end <= fired)
            .map_or(0, |p| p.behind);
        let during: Vec<&PaceAt> = self
            .pace
            .iter()
            .filter(|p| p.end > fired && p.end.saturating_sub(p.len) < end)
            .collect();
        let peak = during.iter().map(|p| p.behind).max().unwrap_or(0);
        if during.iter().any(|p| p.reconnected.is_some()) {
            d.reconnected = Some(during.iter().filter_map(|p| p.reconnected).sum());
        }
        d.not_sent = peak.saturating_sub(base);
        // Held connections are the traffic of a connections run, whatever
        // it sends on them: only request runs can have none.
        if !during.iter().any(|p| p.reconnected.is_some()) {
            d.sent_in_window = Some(during.iter().map(|p| p.sent).sum());
        }
        if d.not_sent > 0 {
            let cause = if during.iter().any(|p| p.under_supplied) {
                drops::AGENT_SHORT
            } else if during.iter().any(|p| p.generator_limited) {
                drops::GENERATOR_LIMITED
            } else {
                drops::WAITING_ON_TARGET
            };
            d.not_sent_cause = Some(cause.to_owned());
        }
        d
    }

    /// Per request of the plan: does the firing's route serve it? None: all.
    fn affected(&self, r: &ActionRecord) -> Option<Vec<bool>> {
        r.affects.as_ref().map(|a| {
            self.requests
                .iter()
                .map(|n| a.requests.contains(n))
                .collect()
        })
    }

    /// How far apart the affected requests' failures may be and still be
    /// one outage: a multiple of their mean send gap at the firing.
    fn outage_gap(&self, fired: Duration, affected: Option<&[bool]>) -> Duration {
        let total: u64 = self.weights.iter().map(|&w| u64::from(w)).sum();
        let share = match affected {
            Some(a) if total > 0 => {
                let mine: u64 = self
                    .weights
                    .iter()
                    .zip(a)
                    .filter(|(_, &on)| on)
                    .map(|(&w, _)| u64::from(w))
                    .sum();
                mine as f64 / total as f64
            }
            _ => 1.0,
        };
        let rate = self
            .pace
            .iter()
            .find(|p| p.end >= fired && !p.len.is_zero())
            .or(self.pace.back())
            .map_or(0.0, |p| p.sent as f64 / p.len.as_secs_f64().max(1e-9));
        let per_second = rate * share;
        if per_second <= 0.0 {
            return OUTAGE_GAP_MAX;
        }
        Duration::from_secs_f64((OUTAGE_GAPS / per_second).min(OUTAGE_GAP_MAX.as_secs_f64()))
            .clamp(OUTAGE_GAP_MIN, OUTAGE_GAP_MAX)
    }
}

/// "route flip: zero drops from -1 s to +5 s", or the drops and what else
/// failed; for held connections, the connections lost and reopened.
pub fn drops_line(action: &str, d: &drops::Drops) -> String {
    let held = d.reconnected.is_some();
    let (none, what) = if held {
        ("no connection lost", "connections lost to the change")
    } else {
        ("zero drops", "drops")
    };
    let window = format!("{:+.0} s to {:+.0} s", d.from_ms / 1000.0, d.to_ms / 1000.0);
    let cut = if d.complete {
        ""
    } else {
        " (window cut short)"
    };
    let mut line = if d.no_traffic() && d.drops + d.before + d.unrelated + d.in_flight == 0 {
        // Nothing sent, nothing to drop: "zero drops" would pass for a clean change.
        format!("route {action}: no traffic in the window ({window}{cut}): nothing to count")
    } else if d.drops == 0 {
        format!("route {action}: {none} from {window}{cut}")
    } else {
        let first: Vec<String> = d
            .listed
            .iter()
            .filter(|x| x.class == drops::Class::Drop)
            .take(5)
            .map(|x| match held {
                true => format!("{:+.0} ms {}", x.offset_ms, x.outcome),
                false => format!("{:+.0} ms {} {}", x.offset_ms, x.request, x.outcome),
            })
            .collect();
        let by: Vec<String> = d
            .by_request
            .iter()
            .map(|(k, n)| format!("{k} {n}"))
            .collect();
        let by = if held {
            String::new()
        } else {
            format!(" ({})", by.join(", "))
        };
        format!(
            "route {action}: {} {what} from {window}{cut}{by}: {}{}",
            d.drops,
            first.join(", "),
            if d.drops > 5 { ", …" } else { "" }
        )
    };
    if let Some(n) = d.reconnected.filter(|_| d.drops > 0 || d.before > 0) {
        let secs = (d.to_ms / 1000.0).max(1e-3);
        line += &format!(
            "; {n} reopened by the window's end ({:.1}/s)",
            n as f64 / secs
        );
    }
    if d.in_flight > 0 {
        let first: Vec<String> = d
            .listed
            .iter()
            .filter(|x| x.class == drops::Class::InFlight)
            .take(3)
            .map(|x| format!("{:+.0} ms {} {}", x.offset_ms, x.request, x.outcome))
            .collect();
        line += &format!(
            "; {} in flight at the change failed after it was sent (charged to it: {}{})",
            d.in_flight,
            first.join(", "),
            if d.in_flight > 3 { ", …" } else { "" }
        );
    }
    if d.not_sent > 0 {
        let cause = d
            .not_sent_cause
            .as_deref()
            .unwrap_or(drops::WAITING_ON_TARGET);
        let charged = if cause == drops::GENERATOR_LIMITED || cause == drops::AGENT_SHORT {
            ", not charged to the route"
        } else {
            ""
        };
        line += &format!(
            "; {} scheduled requests not sent ({cause}{charged})",
            d.not_sent
        );
    }
    if d.before > 0 {
        line += &format!("; {} already failing before the change", d.before);
    }
    if d.unrelated > 0 {
        line += &format!("; {} unrelated failures in the window", d.unrelated);
    }
    if d.later > 0 {
        line += &format!(
            "; {} in an outage that began after a later change was sent (charged to it)",
            d.later
        );
    }
    line
}
