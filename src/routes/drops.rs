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
//! - the rest are the action's **drops**.
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
    /// Scheduled requests that had not left by the end of the window, over
    /// the backlog there was when the action was sent.
    #[serde(default)]
    pub not_sent: u64,
    /// Why they were not sent: "connections waiting on the target" (counted
    /// against the action) or "generator-limited" (rampdeck out of CPU: not).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_sent_cause: Option<String>,
    /// The action's drops by the profile's request name.
    pub by_request: BTreeMap<String, u64>,
    /// The first `DROPS_LISTED` drops and `OTHERS_LISTED` of each other
    /// class, in send order.
    pub listed: Vec<Drop>,
    /// False when the run ended before the window did.
    pub complete: bool,
}

impl Drops {
    /// What the action is charged with: its drops and, when the target held
    /// the connections, the requests that could not be sent.
    pub fn charged(&self) -> u64 {
        let not_sent = match self.not_sent_cause.as_deref() {
            Some(GENERATOR_LIMITED) => 0,
            _ => self.not_sent,
        };
        self.drops + not_sent
    }
}

pub const WAITING_ON_TARGET: &str = "connections waiting on the target";
pub const GENERATOR_LIMITED: &str = "generator-limited";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Class {
    #[default]
    Drop,
    Before,
    Unrelated,
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
}

/// Sorts the failures sent within [applied - before, applied + after].
pub fn collect<'a>(failures: impl IntoIterator<Item = &'a FailureAt>, w: &Window<'_>) -> Drops {
    let from = w.applied.saturating_sub(w.before);
    let to = w.applied + w.after;
    let mut hits: Vec<&FailureAt> = failures
        .into_iter()
        .filter(|f| f.sent >= from && f.sent <= to)
        .collect();
    hits.sort_by_key(|f| f.sent);
    let offset = |d: Duration| (d.as_secs_f64() - w.applied.as_secs_f64()) * 1000.0;
    let name = |i: u16| {
        w.names
            .get(i as usize)
            .cloned()
            .unwrap_or_else(|| format!("request {i}"))
    };
    let touches = |i: u16| {
        w.affected
            .is_none_or(|a| a.get(i as usize).copied().unwrap_or(false))
    };
    let mut d = Drops {
        from_ms: offset(from),
        to_ms: w.after.as_secs_f64() * 1000.0,
        drops: 0,
        before: 0,
        unrelated: 0,
        not_sent: 0,
        not_sent_cause: None,
        by_request: BTreeMap::new(),
        listed: Vec::new(),
        complete: w.complete,
    };
    // The affected requests' failures so far: the last one's send time,
    // how many came in a row (no gap over `outage_gap`), and whether an
    // outage that began before the action is still going.
    let mut last: Option<Duration> = None;
    let mut run = 0usize;
    let mut outage = false;
    let mut listed = [0usize; 3];
    for f in hits {
        let class = if !touches(f.request) {
            Class::Unrelated
        } else {
            let close = last.is_some_and(|l| f.sent - l <= w.outage_gap);
            run = if close { run + 1 } else { 1 };
            last = Some(f.sent);
            if f.sent < w.fired {
                outage = run >= OUTAGE_RUN;
                Class::Before
            } else if outage && close {
                Class::Before
            } else {
                outage = false;
                Class::Drop
            }
        };
        match class {
            Class::Drop => {
                d.drops += 1;
                *d.by_request.entry(name(f.request)).or_insert(0) += 1;
            }
            Class::Before => d.before += 1,
            Class::Unrelated => d.unrelated += 1,
        }
        let cap = if class == Class::Drop {
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
        FailureAt {
            sent: Duration::from_millis(ms),
            outcome: o,
            request,
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
        }
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
}
