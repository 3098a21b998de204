//! Durations and levels as rampdeck prints them: "1m 30s", "250ms", "200", "12.50".

use std::time::Duration;

pub fn fmt_level(v: f64) -> String {
    if (v - v.round()).abs() < 1e-9 {
        format!("{}", v.round() as i64)
    } else {
        format!("{v:.2}")
    }
}

pub fn fmt_dur(d: Duration) -> String {
    // humantime prints "1m 30s", "250ms"; drop sub-millisecond noise first.
    let ms = Duration::from_millis(d.as_millis() as u64);
    humantime::format_duration(ms).to_string()
}
