//! The load's failed requests in the window around a route action: "zero drops" is the claim to check.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::stats::{FailureAt, Outcome};

/// Failed requests listed per action at most; the total stays exact.
pub const DROPS_LISTED: usize = 200;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Drops {
    /// The window, relative to the action having applied.
    pub from_ms: f64,
    pub to_ms: f64,
    pub total: u64,
    /// Failed requests by the profile's request name: a route change should
    /// only touch the requests its route serves.
    pub by_request: std::collections::BTreeMap<String, u64>,
    /// The first `DROPS_LISTED`, in send order.
    pub listed: Vec<Drop>,
    /// False when the run ended before the window did.
    pub complete: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Drop {
    /// Send time minus the action's applied time.
    pub offset_ms: f64,
    /// "http 503", "reset", "timeout"...
    pub outcome: String,
    /// The profile's name for the request.
    pub request: String,
}

pub fn outcome_name(o: Outcome) -> String {
    match o {
        Outcome::Status(s) => format!("http {s}"),
        Outcome::Error(k) => k.name().to_owned(),
    }
}

/// Collects the failures sent within [at - before, at + after].
pub fn collect<'a>(
    failures: impl IntoIterator<Item = &'a FailureAt>,
    at: Duration,
    before: Duration,
    after: Duration,
    complete: bool,
    names: &[String],
) -> Drops {
    let from = at.saturating_sub(before);
    let to = at + after;
    let mut hits: Vec<&FailureAt> = failures
        .into_iter()
        .filter(|f| f.sent >= from && f.sent <= to)
        .collect();
    hits.sort_by_key(|f| f.sent);
    let offset = |d: Duration| (d.as_secs_f64() - at.as_secs_f64()) * 1000.0;
    let name = |i: u16| {
        names
            .get(i as usize)
            .cloned()
            .unwrap_or_else(|| format!("request {i}"))
    };
    let mut by_request = std::collections::BTreeMap::new();
    for f in &hits {
        *by_request.entry(name(f.request)).or_insert(0) += 1;
    }
    Drops {
        by_request,
        from_ms: offset(from),
        to_ms: after.as_secs_f64() * 1000.0,
        total: hits.len() as u64,
        listed: hits
            .iter()
            .take(DROPS_LISTED)
            .map(|f| Drop {
                offset_ms: offset(f.sent),
                outcome: outcome_name(f.outcome),
                request: name(f.request),
            })
            .collect(),
        complete,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::ErrorKind;

    #[test]
    fn lists_failures_inside_the_window_only() {
        let f = |ms: u64, o| FailureAt {
            sent: Duration::from_millis(ms),
            outcome: o,
            request: 1,
        };
        let failures = [
            f(8_900, Outcome::Status(503)), // 1.1 s before: outside
            f(9_500, Outcome::Status(503)), // 0.5 s before
            f(10_020, Outcome::Error(ErrorKind::Reset)),
            f(15_000, Outcome::Status(502)), // exactly +5 s: inside
            f(15_001, Outcome::Status(502)), // outside
        ];
        let d = collect(
            &failures,
            Duration::from_secs(10),
            Duration::from_secs(1),
            Duration::from_secs(5),
            true,
            &["catalog".to_owned(), "shop".to_owned()],
        );
        assert_eq!(d.total, 3);
        assert_eq!(d.from_ms, -1000.0);
        let offs: Vec<_> = d
            .listed
            .iter()
            .map(|x| x.offset_ms.round() as i64)
            .collect();
        assert_eq!(offs, vec![-500, 20, 5000]);
        assert_eq!(d.listed[1].outcome, "reset");
        assert_eq!(d.listed[0].outcome, "http 503");
        assert_eq!(d.listed[0].request, "shop");
    }
}
