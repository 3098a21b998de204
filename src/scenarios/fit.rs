//! A least-squares line through (time, value) readings with the 95% interval of its slope:
//! route-scale's memory slope and leak verdict.
//!
//! Readings a scrape apart are not independent (memory moves slowly), so the interval is
//! narrower than the truth; the verdict therefore asks the whole interval to clear the
//! threshold, and a run too short to say is called inconclusive, not clean.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Slope {
    /// Units per second.
    pub per_s: f64,
    /// 95% interval of `per_s`.
    pub lo: f64,
    pub hi: f64,
    pub samples: usize,
}

/// Two-sided 95% Student t quantile for `df` degrees of freedom.
fn t95(df: usize) -> f64 {
    const T: [f64; 30] = [
        12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160,
        2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056,
        2.052, 2.048, 2.045, 2.042,
    ];
    match df {
        0 => f64::INFINITY,
        1..=30 => T[df - 1],
        31..=60 => 2.0,
        _ => 1.96,
    }
}

/// The fitted slope, or None with fewer than three readings or no spread in time.
pub fn slope(points: &[(f64, f64)]) -> Option<Slope> {
    let n = points.len();
    if n < 3 {
        return None;
    }
    let nf = n as f64;
    let mx = points.iter().map(|p| p.0).sum::<f64>() / nf;
    let my = points.iter().map(|p| p.1).sum::<f64>() / nf;
    let sxx: f64 = points.iter().map(|p| (p.0 - mx).powi(2)).sum();
    if sxx <= 0.0 {
        return None;
    }
    let sxy: f64 = points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    let b = sxy / sxx;
    let a = my - b * mx;
    let sse: f64 = points.iter().map(|p| (p.1 - a - b * p.0).powi(2)).sum();
    let se = (sse / (nf - 2.0) / sxx).sqrt();
    let half = t95(n - 2) * se;
    Some(Slope {
        per_s: b,
        lo: b - half,
        hi: b + half,
        samples: n,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_exact_line_has_its_slope_and_no_width() {
        let p: Vec<(f64, f64)> = (0..10).map(|i| (i as f64, 3.0 + 2.0 * i as f64)).collect();
        let s = slope(&p).unwrap();
        assert!((s.per_s - 2.0).abs() < 1e-12);
        assert!((s.hi - s.lo).abs() < 1e-9);
    }

    #[test]
    fn noise_around_a_flat_line_has_an_interval_around_zero() {
        // A deterministic zig-zag: no trend.
        let p: Vec<(f64, f64)> = (0..40)
            .map(|i| (i as f64, if i % 2 == 0 { 10.0 } else { 12.0 }))
            .collect();
        let s = slope(&p).unwrap();
        assert!(s.lo < 0.0 && s.hi > 0.0, "{s:?}");
        assert!(slope(&p[..2]).is_none());
    }
}
