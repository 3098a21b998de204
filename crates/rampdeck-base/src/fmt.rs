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

/// Any number for a message, in at most a few characters more than it
/// needs: plain when ordinary, scientific past 1e15 (a 1e308 from input
/// or a broken gauge is "1.000e308", not 309 digits).
pub fn num(v: f64) -> String {
    if !v.is_finite() {
        return format!("{v}");
    }
    if v != 0.0 && (v.abs() >= 1e15 || v.abs() < 1e-6) {
        format!("{v:.3e}")
    } else {
        format!("{v}")
    }
}

/// A rate for a sentence: "950", "38k", "1.2k", "1.5M".
pub fn fmt_rate(v: f64) -> String {
    let v = v.max(0.0);
    if v >= 999_500.0 {
        format!("{:.1}M", v / 1e6)
    } else if v >= 9_950.0 {
        format!("{:.0}k", v / 1e3)
    } else if v >= 1_000.0 {
        format!("{:.1}k", v / 1e3)
    } else {
        format!("{v:.0}")
    }
}

/// 1234567 -> "1,234,567".
pub fn group(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// 123456789 -> "117.7 MiB".
pub fn bytes(v: f64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    // A broken gauge (1.79e308) is printed in a few characters, not 300 digits.
    if !v.is_finite() || v.abs() >= 1024f64.powi(4) * 1e6 {
        return format!("{} B", num(v));
    }
    let mut v = v;
    let mut i = 0;
    while v >= 1024.0 && i < UNITS.len() - 1 {
        v /= 1024.0;
        i += 1;
    }
    if i == 0 {
        format!("{v:.0} B")
    } else {
        format!("{v:.1} {}", UNITS[i])
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn huge_numbers_stay_short() {
        assert_eq!(super::num(1e308), "1.000e308");
        assert_eq!(super::num(0.5), "0.5");
        assert_eq!(super::num(200.0), "200");
    }

    #[test]
    fn rates_read_as_words() {
        use super::fmt_rate;
        assert_eq!(fmt_rate(950.4), "950");
        assert_eq!(fmt_rate(1_234.0), "1.2k");
        assert_eq!(fmt_rate(38_012.0), "38k");
        assert_eq!(fmt_rate(50_000.0), "50k");
        assert_eq!(fmt_rate(2_500_000.0), "2.5M");
    }
}
