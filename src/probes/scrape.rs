//! Prometheus text exposition: pick a metric's samples by name and labels, and turn a CPU-seconds counter into cores.

use prometheus_parse::{Scrape, Value};

/// Parses exposition text. prometheus-parse skips lines it does not
/// understand, so text with no samples at all counts as malformed.
pub fn parse(text: &str) -> Result<Scrape, String> {
    let scrape = Scrape::parse(text.lines().map(|l| Ok(l.to_owned())))
        .map_err(|e| format!("malformed exposition text: {e}"))?;
    if scrape.samples.is_empty() {
        let first = text
            .lines()
            .find(|l| !l.trim().is_empty() && !l.starts_with('#'))
            .unwrap_or("(empty body)");
        return Err(format!(
            "malformed exposition text: no samples parsed (first line: '{}')",
            first.chars().take(60).collect::<String>()
        ));
    }
    Ok(scrape)
}

/// The sum of a metric's matching samples, and how many there were.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Reading {
    pub value: f64,
    pub series: usize,
}

/// Sums the counter/gauge/untyped samples named `name` that carry all of `labels`.
pub fn read(scrape: &Scrape, name: &str, labels: &[(String, String)]) -> Option<Reading> {
    let mut r = Reading {
        value: 0.0,
        series: 0,
    };
    for s in &scrape.samples {
        if s.metric != name
            || !labels
                .iter()
                .all(|(k, v)| s.labels.get(k) == Some(v.as_str()))
        {
            continue;
        }
        if let Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) = s.value {
            r.value += v;
            r.series += 1;
        }
    }
    (r.series > 0).then_some(r)
}

/// Rate of a monotonic counter between successive samples (CPU seconds per
/// second = cores). A counter that went down was reset (a restart): that
/// pair gives no rate, and counting starts again from the new value.
#[derive(Debug, Default, Clone)]
pub struct CounterRate {
    last: Option<(f64, f64)>,
}

impl CounterRate {
    /// `t` in seconds on any monotonic clock.
    pub fn update(&mut self, t: f64, value: f64) -> Option<f64> {
        let prev = self.last.replace((t, value));
        match prev {
            Some((t0, v0)) if value >= v0 && t > t0 => Some((value - v0) / (t - t0)),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "\
# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.
# TYPE process_cpu_seconds_total counter
process_cpu_seconds_total 12.5
# TYPE container_memory_working_set_bytes gauge
container_memory_working_set_bytes{namespace=\"linkerd\",pod=\"destination-1\"} 1000
container_memory_working_set_bytes{namespace=\"linkerd\",pod=\"identity-1\"} 500
container_memory_working_set_bytes{namespace=\"other\",pod=\"x\"} 7
untyped_thing 3
";

    #[test]
    fn reads_sums_and_filters_by_label() {
        let s = parse(TEXT).unwrap();
        assert_eq!(
            read(&s, "process_cpu_seconds_total", &[]),
            Some(Reading {
                value: 12.5,
                series: 1
            })
        );
        let linkerd = [("namespace".to_owned(), "linkerd".to_owned())];
        assert_eq!(
            read(&s, "container_memory_working_set_bytes", &linkerd),
            Some(Reading {
                value: 1500.0,
                series: 2
            })
        );
        assert_eq!(
            read(&s, "container_memory_working_set_bytes", &[]).map(|r| r.series),
            Some(3)
        );
        assert_eq!(
            read(&s, "untyped_thing", &[]).map(|r| r.value),
            Some(3.0),
            "no # TYPE: untyped still counts"
        );
        assert_eq!(read(&s, "missing_metric", &[]), None);
    }

    #[test]
    fn text_with_no_samples_is_malformed() {
        let err = parse("<html>oops</html>\n").unwrap_err();
        assert!(err.contains("malformed") && err.contains("<html>"), "{err}");
        assert!(parse("").is_err());
    }

    #[test]
    fn counter_rate_handles_resets_and_gaps() {
        let mut r = CounterRate::default();
        assert_eq!(r.update(0.0, 10.0), None, "one sample gives no rate");
        assert_eq!(r.update(2.0, 11.0), Some(0.5));
        assert_eq!(r.update(4.0, 0.2), None, "reset: the process restarted");
        assert_eq!(r.update(6.0, 1.2), Some(0.5));
        assert_eq!(r.update(6.0, 1.3), None, "no time passed");
        // A missed sample just makes the next rate span a longer time.
        assert_eq!(r.update(16.0, 6.3), Some(0.5));
    }
}
