//! Latency buckets for the exported histograms, and an HDR histogram (µs) turned into them.
//!
//! Prometheus histograms have fixed buckets; rampdeck's HDR histograms keep
//! 3 significant digits. The buckets follow a 1-2.5-5 progression from
//! 100 µs to 60 s (the HDR range), which `histogram_quantile` interpolates
//! within a bucket; the exact percentiles stay in summary.json.

use hdrhistogram::Histogram;

/// Upper bounds, seconds; +Inf follows.
pub const LATENCY_BOUNDS_S: [f64; 18] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0, 25.0, 60.0,
];

/// A histogram as Prometheus encodes it: per-bucket (not cumulative)
/// counts with their upper bounds, the sum and the count.
#[derive(Debug, Clone, PartialEq)]
pub struct Buckets {
    pub counts: Vec<(f64, u64)>,
    pub sum_s: f64,
    pub count: u64,
}

/// `h` (values in µs) in `bounds` (seconds) plus +Inf. Each recorded value
/// goes to the first bucket whose bound it does not exceed; the sum is the
/// histogram's mean times its count (HDR keeps no exact sum; it is within
/// the histogram's 0.1% precision).
pub fn of(h: &Histogram<u64>, bounds: &[f64]) -> Buckets {
    let mut counts: Vec<(f64, u64)> = bounds
        .iter()
        .map(|&b| (b, 0))
        .chain(std::iter::once((f64::INFINITY, 0)))
        .collect();
    for v in h.iter_recorded() {
        // The bucket's lowest value: a value recorded as 1000 µs stays
        // at or under the 1 ms bound whatever its HDR bucket's width.
        let us = h.lowest_equivalent(v.value_iterated_to());
        let s = us as f64 / 1e6;
        let slot = counts
            .iter()
            .position(|(b, _)| s <= *b)
            .unwrap_or(counts.len() - 1);
        counts[slot].1 += v.count_at_value();
    }
    let count = h.len();
    Buckets {
        counts,
        sum_s: h.mean() * count as f64 / 1e6,
        count,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_land_in_their_buckets() {
        let mut h = crate::stats::new_histogram();
        for us in [50, 100, 101, 999, 1000, 1001, 40_000, 70_000_000] {
            let _ = h.record(us.min(crate::stats::HIST_HIGH_US));
        }
        let b = of(&h, &LATENCY_BOUNDS_S);
        let at = |bound: f64| b.counts.iter().find(|(x, _)| *x == bound).map(|c| c.1);
        assert_eq!(at(0.0001), Some(2), "{b:?}"); // 50 and 100 µs
        assert_eq!(at(0.00025), Some(1)); // 101 µs
        assert_eq!(at(0.001), Some(2)); // 999 and 1000 µs
        assert_eq!(at(0.0025), Some(1)); // 1001 µs
        assert_eq!(at(0.05), Some(1)); // 40 ms
        assert_eq!(at(60.0), Some(1)); // clamped to 60 s
        assert_eq!(b.counts.iter().map(|c| c.1).sum::<u64>(), 8);
        assert_eq!(b.count, 8);
        let exact = (50 + 100 + 101 + 999 + 1000 + 1001 + 40_000 + 60_000_000) as f64 / 1e6;
        assert!(
            (b.sum_s - exact).abs() / exact < 0.001,
            "{} vs {exact}",
            b.sum_s
        );
    }

    #[test]
    fn an_empty_histogram_has_empty_buckets() {
        let b = of(&crate::stats::new_histogram(), &LATENCY_BOUNDS_S);
        assert_eq!(b.count, 0);
        assert_eq!(b.counts.len(), LATENCY_BOUNDS_S.len() + 1);
        assert!(b.counts.iter().all(|c| c.1 == 0));
        assert_eq!(b.sum_s, 0.0);
    }
}
