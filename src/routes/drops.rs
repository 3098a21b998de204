//! The load's failed requests in the window around a route action, sorted into the action's drops, an outage already under way, and unrelated failures.
//!
//! "Zero drops" is the claim a route change is judged by, so every failure
//! in the window is charged to its real cause:
//! - a request the changed route does not serve (`Affects`) failed for its
//!   own reasons: **unrelated**, listed beside the drops, never counted in them;
//! - an affected request sent before the action was sent, or one that
//!   continues an outage that was under way when it was (failures of the
//!   affected requests no further apart than a few of their send gaps), is
//!   **before**: that outage belongs to whatever started it;
//! - an affected request sent before the action but failing after it was
//!   sent, with no outage under way, was **in flight at the change**: the
//!   action's, counted apart from its drops (a reload that cuts the
//!   requests it finds open);
//! - the rest are the action's **drops**, unless a later action's window
//!   counts the same failure as its own drop (an outage that began after
//!   that action was sent): then it is **later**, charged to that action
//!   only. So an outage is charged once, to the latest action sent before
//!   it began, and the actions' charges never add up to more than the run
//!   failed.
//!
//! Scheduled requests that had not left by the window's end because every
//! connection was waiting on the target (`not_sent`) are part of the same
//! outage and are counted beside the drops; when the generator itself was
//! out of CPU they are not the target's doing and are not charged.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::stats::{FailureAt, Outcome};

/// Failed requests listed per class at most; the counts stay exact.
pub const DROPS_LISTED: usize = 200;
/// Before and unrelated failures listed at most.
pub const OTHERS_LISTED: usize = 20;
/// Consecutive failures of the affected requests that make an outage
/// (one or two are the route's ordinary error rate).
const OUTAGE_RUN: usize = 3;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Drops {
    /// The window, relative to the action having applied.
    pub from_ms: f64,
    pub to_ms: f64,
    /// Failures of the affected requests that the action caused.
    #[serde(alias = "total")]
    pub drops: u64,
    /// Failures of the affected requests in an outage that began before
    /// the action was sent ("already failing before the change").
    #[serde(default)]
    pub before: u64,
    /// Failures of requests the changed route does not serve.
    #[serde(default)]
    pub unrelated: u64,
    /// Failures of an outage that began after a later action was sent:
    /// that action's drops, not this one's.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub later: u64,
    /// Affected requests sent before the action and failed after it was
    /// sent (no outage under way): the action's too, shown apart from
    /// `drops` ("in flight at the change").
    #[serde(default, skip_serializing_if = "is_zero")]
    pub in_flight: u64,
    /// Connections mode: `drops` are held connections the server closed or
    /// reset ("connections lost to the change"); this many lost connections
    /// were opened again from the action's send to the window's end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reconnected: Option<u64>,
    /// Scheduled requests that had not left by the end of the window, over
    /// the backlog there was when the action was sent.
    #[serde(default)]
    pub not_sent: u64,
    /// Why they were not sent: "connections waiting on the target" (counted
    /// against the action), "generator-limited" (rampdeck out of CPU) or an
    /// agent's share (a distributed run short of an agent): not counted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_sent_cause: Option<String>,
    /// Requests sent in the intervals the window spans (None in logs from
    /// before it): 0 means there was nothing to drop, not that nothing broke.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sent_in_window: Option<u64>,
    /// The action's drops by the profile's request name.
    pub by_request: BTreeMap<String, u64>,
    /// The first `DROPS_LISTED` drops and `OTHERS_LISTED` of each other
    /// class, in send order.
    pub listed: Vec<Drop>,
    /// False when the run ended before the window did.
    pub complete: bool,
}

impl Drops {
    /// Nothing was sent while the window was open.
    pub fn no_traffic(&self) -> bool {
        self.sent_in_window == Some(0)
    }

    /// What the action is charged with: its drops and, when the target held
    /// the connections, the requests that could not be sent.
    pub fn charged(&self) -> u64 {
        let not_sent = match self.not_sent_cause.as_deref() {
            Some(GENERATOR_LIMITED | AGENT_SHORT) => 0,
            _ => self.not_sent,
        };
        self.drops + self.in_flight + not_sent
    }
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

pub const WAITING_ON_TARGET: &str = "connections waiting on the target";
pub const GENERATOR_LIMITED: &str = "generator-limited";
pub const AGENT_SHORT: &str = "an agent's share (an agent was lost or fell behind)";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Class {
    #[default]
    Drop,
    Before,
    Unrelated,
    Later,
    /// Sent before the action and failed after it was sent, with no outage
    /// under way: the action's, counted apart from its drops.
    InFlight,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Drop {
    /// Send time minus the action's applied time.
    pub offset_ms: f64,
    /// "http 503", "reset", "timeout"...
    pub outcome: String,
    /// The profile's name for the request.
    pub request: String,
    #[serde(default)]
    pub class: Class,
}

pub fn outcome_name(o: Outcome) -> String {
    match o {
        // A held connection the server closed: FIN (0) or a WebSocket close
        // code (1000 and up); HTTP statuses are 100-999.
        Outcome::Status(0) => "closed by the server".to_owned(),
        Outcome::Status(s) if s >= 1000 => format!("websocket close {s}"),
        Outcome::Status(s) => format!("http {s}"),
        Outcome::Error(k) => k.name().to_owned(),
    }
}

/// One drop window to sort.
pub struct Window<'a> {
    /// When the action was sent and when it returned (run start = 0).
    pub fired: Duration,
    pub applied: Duration,
    pub before: Duration,
    pub after: Duration,
    /// Per request index: does the action touch it? None: every request.
    pub affected: Option<&'a [bool]>,
    /// Failures of the affected requests no further apart than this
    /// continue an outage.
    pub outage_gap: Duration,
    pub complete: bool,
    pub names: &'a [String],
    /// The windows of actions sent after this one while its window was
    /// open: a failure one of them counts as its drop is theirs.
    pub later: &'a [Window<'a>],
}

/// The failures `w` looks at: sent within [applied - before, applied + after], in send order.
fn in_window<'a>(failures: &[&'a FailureAt], w: &Window<'_>) -> Vec<&'a FailureAt> {
    let from = w.applied.saturating_sub(w.before);
    let to = w.applied + w.after;
    let mut hits: Vec<&FailureAt> = failures
        .iter()
        .copied()
        .filter(|f| f.sent >= from && f.sent <= to)
        .collect();
    hits.sort_by_key(|f| f.sent);
    hits
}

/// Each of `hits` (in send order) as `w` alone sees it: a drop, an outage
/// already under way, or unrelated.
fn classes(hits: &[&FailureAt], w: &Window<'_>) -> Vec<Class> {
    let touches = |i: u16| {
        w.affected
            .is_none_or(|a| a.get(i as usize).copied().unwrap_or(false))
    };
    // The affected requests' failures so far: the last one's send time,
    // how many came in a row (no gap over `outage_gap`), and whether an
    // outage that began before the action is still going.
    let mut last: Option<Duration> = None;
    let mut run = 0usize;
    let mut outage = false;
    hits.iter()
        .map(|f| {
            if !touches(f.request) {
                return Class::Unrelated;
            }
            let close = last.is_some_and(|l| f.sent - l <= w.outage_gap);
            run = if close { run + 1 } else { 1 };
            last = Some(f.sent);
            if f.sent < w.fired && f.ended > w.fired && !(outage && close) {
                Class::InFlight
            } else if f.sent < w.fired {
                outage = run >= OUTAGE_RUN;
                Class::Before
            } else if outage && close {
                Class::Before
            } else {
                outage = false;
                Class::Drop
            }
        })
        .collect()
}

/// Sorts the failures sent within [applied - before, applied + after].
pub fn collect<'a>(failures: impl IntoIterator<Item = &'a FailureAt>, w: &Window<'_>) -> Drops {
    let all: Vec<&FailureAt> = failures.into_iter().collect();
    let hits = in_window(&all, w);
    // What later actions count as their own drops, by send time and request.
    let mut theirs = std::collections::HashSet::new();
    for l in w.later {
        let mine = in_window(&all, l);
        for (f, c) in mine.iter().zip(classes(&mine, l)) {
            if matches!(c, Class::Drop | Class::InFlight) {
                theirs.insert((f.sent, f.request));
            }
        }
    }
    let from = w.applied.saturating_sub(w.before);
    let offset = |d: Duration| (d.as_secs_f64() - w.applied.as_secs_f64()) * 1000.0;
    let name = |i: u16| {
        w.names
            .get(i as usize)
            .cloned()
            .unwrap_or_else(|| format!("request {i}"))
    };
    let mut d = Drops {
        from_ms: offset(from),
        to_ms: w.after.as_secs_f64() * 1000.0,
        drops: 0,
        before: 0,
        unrelated: 0,
        later: 0,
        in_flight: 0,
        reconnected: None,
        not_sent: 0,
        not_sent_cause: None,
        sent_in_window: None,
        by_request: BTreeMap::new(),
        listed: Vec::new(),
        complete: w.complete,
    };
    let mut listed = [0usize; 5];
    for (f, class) in hits.iter().zip(classes(&hits, w)) {
        let class = match class {
            Class::Drop | Class::InFlight if theirs.contains(&(f.sent, f.request)) => Class::Later,
            c => c,
        };
        match class {
            Class::Drop => {
                d.drops += 1;
                *d.by_request.entry(name(f.request)).or_insert(0) += 1;
            }
            Class::Before => d.before += 1,
            Class::Unrelated => d.unrelated += 1,
            Class::Later => d.later += 1,
            Class::InFlight => {
                d.in_flight += 1;
                *d.by_request.entry(name(f.request)).or_insert(0) += 1;
            }
        }
        let cap = if matches!(class, Class::Drop | Class::InFlight) {
            DROPS_LISTED
        } else {
            OTHERS_LISTED
        };
        let slot = &mut listed[class as usize];
        if *slot < cap {
            *slot += 1;
            d.listed.push(Drop {
                offset_ms: offset(f.sent),
                outcome: outcome_name(f.outcome),
                request: name(f.request),
                class,
            });
        }
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::ErrorKind;

    fn f(ms: u64, request: u16, o: Outcome) -> FailureAt {
        // A fast failure: it ends within a millisecond of its send.
        FailureAt {
            sent: Duration::from_millis(ms),
            outcome: o,
            request,
            ended: Duration::from_millis(ms) + Duration::from_micros(500),
        }
    }

    fn window<'a>(affected: Option<&'a [bool]>, names: &'a [String]) -> Window<'a> {
        Window {
            fired: Duration::from_millis(9_990),
            applied: Duration::from_secs(10),
            before: Duration::from_secs(1),
            after: Duration::from_secs(5),
            affected,
            outage_gap: Duration::from_millis(50),
            complete: true,
            names,
            later: &[],
        }
    }

    /// A failure sent at `sent_ms` that ended at `ended_ms`.
    fn slow(sent_ms: u64, ended_ms: u64, request: u16) -> FailureAt {
        FailureAt {
            sent: Duration::from_millis(sent_ms),
            outcome: Outcome::Error(ErrorKind::Reset),
            request,
            ended: Duration::from_millis(ended_ms),
        }
    }

    #[test]
    fn a_request_in_flight_at_the_change_is_its_own_and_counted_apart() {
        let names = names();
        // Sent at 9.5 s, cut at 10.05 s: in flight when the action went (9.99 s).
        let failures = [slow(9_500, 10_050, 1), f(10_100, 1, Outcome::Status(503))];
        let d = collect(&failures, &window(None, &names));
        assert_eq!((d.in_flight, d.drops, d.before), (1, 1, 0));
        assert_eq!(d.charged(), 2);
        assert_eq!(d.by_request["shop"], 2);
        assert_eq!(d.listed[0].class, Class::InFlight);
        // Failed before the action was sent: already failing, not its own.
        let d = collect(&[slow(9_500, 9_900, 1)], &window(None, &names));
        assert_eq!((d.in_flight, d.before), (0, 1));
        // An outage under way when it went keeps its in-flight requests.
        let failures = [
            f(9_800, 1, Outcome::Status(503)),
            f(9_820, 1, Outcome::Status(503)),
            f(9_840, 1, Outcome::Status(503)),
            slow(9_860, 10_200, 1),
        ];
        let d = collect(&failures, &window(None, &names));
        assert_eq!((d.in_flight, d.before), (0, 4));
        // A request the route does not serve is unrelated, in flight or not.
        let only = [true, false];
        let d = collect(&[slow(9_500, 10_050, 1)], &window(Some(&only), &names));
        assert_eq!((d.in_flight, d.unrelated), (0, 1));
    }

    #[test]
    fn one_in_flight_at_a_later_change_is_that_changes() {
        let names = names();
        let mut later = window(None, &names);
        later.fired = Duration::from_millis(11_990);
        later.applied = Duration::from_secs(12);
        // Sent after the first action, cut by the second one.
        let failures = [slow(11_900, 12_050, 1)];
        let first = Window {
            later: std::slice::from_ref(&later),
            ..window(None, &names)
        };
        let d = collect(&failures, &first);
        assert_eq!((d.drops, d.in_flight, d.later), (0, 0, 1));
        let d2 = collect(&failures, &later);
        assert_eq!((d2.in_flight, d2.drops), (1, 0));
    }

    fn names() -> Vec<String> {
        vec!["checkout".to_owned(), "shop".to_owned()]
    }

    #[test]
    fn only_failures_inside_the_window_count() {
        let failures = [
            f(8_900, 1, Outcome::Status(503)), // 1.1 s before: outside
            f(10_020, 1, Outcome::Error(ErrorKind::Reset)),
            f(15_000, 1, Outcome::Status(502)), // exactly +5 s: inside
            f(15_001, 1, Outcome::Status(502)), // outside
        ];
        let names = names();
        let d = collect(&failures, &window(None, &names));
        assert_eq!((d.drops, d.before, d.unrelated), (2, 0, 0));
        assert_eq!(d.from_ms, -1000.0);
        let offs: Vec<_> = d
            .listed
            .iter()
            .map(|x| x.offset_ms.round() as i64)
            .collect();
        assert_eq!(offs, vec![20, 5000]);
        assert_eq!(d.listed[0].outcome, "reset");
        assert_eq!(d.listed[0].request, "shop");
        assert_eq!(d.by_request["shop"], 2);
    }

    #[test]
    fn other_requests_failures_are_unrelated_and_never_drops() {
        // The checkout's own 2% 503s during a shop flip.
        let failures = [
            f(10_100, 0, Outcome::Status(503)),
            f(12_000, 0, Outcome::Status(503)),
            f(12_500, 1, Outcome::Status(503)),
        ];
        let names = names();
        let affected = [false, true];
        let d = collect(&failures, &window(Some(&affected), &names));
        assert_eq!((d.drops, d.before, d.unrelated), (1, 0, 2));
        assert_eq!(d.charged(), 1);
        assert_eq!(d.by_request.len(), 1);
        let classes: Vec<Class> = d.listed.iter().map(|x| x.class).collect();
        assert_eq!(classes, [Class::Unrelated, Class::Unrelated, Class::Drop]);
    }

    #[test]
    fn an_outage_under_way_belongs_to_what_started_it() {
        // Shop failing every 10 ms from 9.5 s (the previous firing's
        // outage) until 10.1 s, then a separate failure at 11 s.
        let mut failures: Vec<FailureAt> = (0..60)
            .map(|i| f(9_500 + i * 10, 1, Outcome::Status(404)))
            .collect();
        failures.push(f(11_000, 1, Outcome::Status(503)));
        let names = names();
        let affected = [false, true];
        let d = collect(&failures, &window(Some(&affected), &names));
        assert_eq!(
            d.before, 60,
            "the whole outage, also the part after the firing"
        );
        assert_eq!(d.drops, 1, "only the failure after the outage ended");
        // Scattered failures before the firing do not make an outage: a
        // failure just after the firing is the action's.
        let sparse = [
            f(9_000, 1, Outcome::Status(503)),
            f(9_985, 1, Outcome::Status(503)),
            f(10_000, 1, Outcome::Status(503)),
        ];
        let d = collect(&sparse, &window(Some(&affected), &names));
        assert_eq!((d.before, d.drops), (2, 1));
    }

    #[test]
    fn requests_not_sent_are_charged_unless_the_generator_was_the_limit() {
        let names = names();
        let mut d = collect(&[], &window(None, &names));
        d.not_sent = 40;
        d.not_sent_cause = Some(WAITING_ON_TARGET.to_owned());
        assert_eq!(d.charged(), 40);
        d.not_sent_cause = Some(GENERATOR_LIMITED.to_owned());
        assert_eq!(d.charged(), 0);
    }

    #[test]
    fn old_logs_with_a_total_still_read() {
        let d: Drops = serde_json::from_str(
            r#"{"from_ms":-1000,"to_ms":5000,"total":3,"by_request":{},"listed":[],"complete":true}"#,
        )
        .unwrap();
        assert_eq!((d.drops, d.before, d.unrelated, d.not_sent), (3, 0, 0, 0));
    }

    /// A firing sent at `fired_ms` (applied 10 ms later) that touches every request.
    fn firing<'a>(fired_ms: u64, names: &'a [String], later: &'a [Window<'a>]) -> Window<'a> {
        Window {
            fired: Duration::from_millis(fired_ms),
            applied: Duration::from_millis(fired_ms + 10),
            before: Duration::from_secs(1),
            after: Duration::from_secs(5),
            affected: None,
            outage_gap: Duration::from_millis(50),
            complete: true,
            names,
            later,
        }
    }

    /// Failures of request 0 every 10 ms over [from, to).
    fn outage(from_ms: u64, to_ms: u64) -> Vec<FailureAt> {
        (from_ms..to_ms)
            .step_by(10)
            .map(|ms| f(ms, 0, Outcome::Status(503)))
            .collect()
    }

    #[test]
    fn an_outage_that_began_after_a_later_firing_is_charged_to_it_alone() {
        let names = names();
        // The first firing (10 s) changed nothing; the second (13 s) killed
        // the backend: 190 failures from 13.1 s to 15 s, inside both windows.
        let failures = outage(13_100, 15_000);
        let second = [firing(13_000, &names, &[])];
        let first = collect(&failures, &firing(10_000, &names, &second));
        let last = collect(&failures, &second[0]);
        assert_eq!((first.drops, first.later), (0, 190), "{first:?}");
        assert_eq!((last.drops, last.before), (190, 0));
        assert!(first.charged() + last.charged() <= failures.len() as u64);
        assert!(drops_line_mentions_later(&first));
    }

    fn drops_line_mentions_later(d: &Drops) -> bool {
        crate::run::routes::drops_line("a", d).contains("charged to it")
    }

    #[test]
    fn two_outages_back_to_back_are_each_charged_to_the_firing_before_them() {
        let names = names();
        let mut failures = outage(10_100, 11_000);
        failures.extend(outage(13_100, 14_000));
        let second = [firing(13_000, &names, &[])];
        let first = collect(&failures, &firing(10_000, &names, &second));
        let last = collect(&failures, &second[0]);
        assert_eq!((first.drops, first.later), (90, 90));
        assert_eq!((last.drops, last.before), (90, 0));
        // One outage running through the second firing stays the first's.
        let failures = outage(10_100, 14_000);
        let first = collect(&failures, &firing(10_000, &names, &second));
        let last = collect(&failures, &second[0]);
        assert_eq!((first.drops, first.later), (390, 0));
        assert_eq!(last.drops, 0, "{last:?}");
        assert_eq!(last.before, 199, "from its window's start, 12.01 s");
    }

    #[test]
    fn over_random_firings_and_outages_no_failure_is_charged_twice() {
        let names = names();
        let mut seed = 7u64;
        let mut next = |n: u64| {
            seed = rampdeck_base::rng::splitmix64(seed);
            seed % n
        };
        for _case in 0..300 {
            let mut fired: Vec<u64> = (0..1 + next(4)).map(|_| 1_000 + next(15_000)).collect();
            fired.sort_unstable();
            fired.dedup();
            let mut failures = Vec::new();
            for _ in 0..next(5) {
                let start = next(20_000);
                let len = 10 + next(40) * 10;
                let step = if next(3) == 0 { 80 } else { 10 };
                // Some outages are of slow requests, in flight across a firing.
                let took = if next(2) == 0 { 0 } else { next(3_000) };
                failures.extend((start..start + len).step_by(step as usize).map(|ms| {
                    let mut x = f(ms, (ms % 2) as u16, Outcome::Status(503));
                    x.ended += Duration::from_millis(took);
                    x
                }));
            }
            failures.sort_by_key(|x| x.sent);
            failures.dedup_by_key(|x| (x.sent, x.request));
            let plain: Vec<Window<'_>> = fired.iter().map(|&t| firing(t, &names, &[])).collect();
            let mut charged = std::collections::HashMap::new();
            let mut total = 0;
            for (i, &t) in fired.iter().enumerate() {
                let end = Duration::from_millis(t + 10) + Duration::from_secs(5);
                let later: Vec<Window<'_>> = plain[i + 1..]
                    .iter()
                    .filter(|w| w.fired <= end)
                    .map(|w| firing(w.fired.as_millis() as u64, &names, &[]))
                    .collect();
                let d = collect(&failures, &firing(t, &names, &later));
                total += d.drops + d.in_flight;
                for x in d
                    .listed
                    .iter()
                    .filter(|x| matches!(x.class, Class::Drop | Class::InFlight))
                {
                    let key = (
                        (x.offset_ms + (t + 10) as f64).round() as i64,
                        x.request.clone(),
                    );
                    *charged.entry(key).or_insert(0) += 1;
                }
            }
            assert!(
                total <= failures.len() as u64,
                "{fired:?}: {total} > {}",
                failures.len()
            );
            assert!(
                charged.values().all(|&n| n == 1),
                "a failure charged twice with firings at {fired:?}"
            );
        }
    }
}
