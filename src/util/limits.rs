//! Bounds on what input may ask for, checked where it is parsed, so no later arithmetic can overflow.

use std::time::Duration;

/// The longest duration any flag or profile field may give (and the
/// longest run): a year. Monotonic clocks and tokio's timer handle far
/// more, so time arithmetic on run-clock values stays far from overflow.
pub const MAX_DURATION: Duration = Duration::from_secs(366 * 24 * 3600);

/// How `MAX_DURATION` is written in messages.
pub const MAX_DURATION_TEXT: &str = "366 days";

/// Upper bound on connections/workers: beyond this a single process runs out
/// of file descriptors and the numbers stop meaning anything.
pub const MAX_CONNECTIONS: i64 = 20_000;

/// The highest rate (requests or connections per second) any flag or
/// profile field may give: far past what one machine sends, and small
/// enough that counts derived from it (rate x a year) stay in a u64.
pub const MAX_RATE: f64 = 10_000_000.0;

/// How `MAX_RATE` is written in messages.
pub const MAX_RATE_TEXT: &str = "10,000,000 per second";

/// The largest profile file rampdeck reads.
pub const MAX_PROFILE_BYTES: u64 = 16 * 1024 * 1024;

/// Parses a humantime duration ("500ms", "30s", "1h 30m") from input and
/// bounds it by `MAX_DURATION`; the error says what went wrong, without the
/// field name (callers put that in front).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(text)
        .map_err(|e| format!("invalid duration '{text}' ({e}): write it like \"500ms\", \"30s\", \"2m\" or \"1h 30m\""))?;
    check_duration(d).map_err(|m| format!("'{text}' {m}"))
}

/// Adds durations without overflowing; None past `MAX_DURATION`.
pub fn total(ds: impl IntoIterator<Item = Duration>) -> Option<Duration> {
    ds.into_iter()
        .try_fold(Duration::ZERO, |a, d| a.checked_add(d))
        .filter(|t| *t <= MAX_DURATION)
}

/// Checks a duration from input against `MAX_DURATION`.
pub fn check_duration(d: Duration) -> Result<Duration, String> {
    if d > MAX_DURATION {
        Err(format!(
            "is longer than the most rampdeck accepts ({MAX_DURATION_TEXT})"
        ))
    } else {
        Ok(d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn huge_durations_are_refused_at_parse_time() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("366days"), Ok(MAX_DURATION));
        for huge in ["300000000000y", "9300000000000000000s", "367days"] {
            let e = parse_duration(huge).unwrap_err();
            assert!(
                e.contains("366 days") || e.contains("invalid duration"),
                "{huge}: {e}"
            );
        }
        assert_eq!(total([MAX_DURATION, Duration::from_secs(1)]), None);
        assert_eq!(total([Duration::MAX, Duration::MAX]), None);
    }
}
