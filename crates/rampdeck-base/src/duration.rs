//! Durations from input: humantime text, bounded so no later arithmetic on run-clock values can overflow.

use std::time::Duration;

/// The longest duration any flag or profile field may give (and the
/// longest run): a year. Monotonic clocks and tokio's timer handle far
/// more, so time arithmetic on run-clock values stays far from overflow.
pub const MAX_DURATION: Duration = Duration::from_secs(366 * 24 * 3600);

/// How `MAX_DURATION` is written in messages.
pub const MAX_DURATION_TEXT: &str = "366 days";

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

/// A humantime duration from a profile ("30s", "2m", "250ms"), bounded as
/// `parse_duration` bounds it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Dur(pub Duration);

impl<'de> serde::Deserialize<'de> for Dur {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        parse_duration(&text)
            .map(Dur)
            .map_err(serde::de::Error::custom)
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
