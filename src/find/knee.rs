//! The knee of the latency-against-rate curve: Kneedle (Satopää et al., 2011), the point of maximum curvature.
//!
//! Both axes are scaled to [0, 1]; for a curve that rises ever faster (a
//! hockey stick), the knee is where it lies furthest below the line from
//! its first point to its last, i.e. where `x - y` peaks.

/// The x of the knee of `points` (x, y), None with fewer than three distinct x.
pub fn knee(points: &[(f64, f64)]) -> Option<f64> {
    let mut p: Vec<(f64, f64)> = points
        .iter()
        .copied()
        .filter(|(x, y)| x.is_finite() && y.is_finite())
        .collect();
    p.sort_by(|a, b| a.0.total_cmp(&b.0));
    p.dedup_by(|a, b| a.0 == b.0);
    if p.len() < 3 {
        return None;
    }
    let (x0, x1) = (p[0].0, p[p.len() - 1].0);
    let (y0, y1) = p.iter().fold((f64::MAX, f64::MIN), |(lo, hi), q| {
        (lo.min(q.1), hi.max(q.1))
    });
    if x1 <= x0 || y1 <= y0 {
        return None;
    }
    let scaled = p
        .iter()
        .map(|&(x, y)| ((x - x0) / (x1 - x0), (y - y0) / (y1 - y0), x));
    let (best, gap) = scaled.fold((None, f64::MIN), |(best, gap), (xn, yn, x)| {
        let d = xn - yn;
        if d > gap {
            (Some(x), d)
        } else {
            (best, gap)
        }
    });
    // A straight or concave curve has no knee worth the name.
    (gap > 0.05).then_some(best).flatten()
}

#[cfg(test)]
mod tests {
    #[test]
    fn finds_the_knee_of_a_hockey_stick() {
        // Flat at 5 ms until 1,000/s, then latency climbs steeply.
        let pts: Vec<(f64, f64)> = (1..=20)
            .map(|i| {
                let x = i as f64 * 100.0;
                let y = if x <= 1_000.0 {
                    5.0
                } else {
                    5.0 + (x - 1_000.0) * 0.5
                };
                (x, y)
            })
            .collect();
        assert_eq!(super::knee(&pts), Some(1_000.0));
    }

    #[test]
    fn a_straight_line_or_too_few_points_has_none() {
        let line: Vec<(f64, f64)> = (0..10).map(|i| (i as f64, i as f64 * 2.0)).collect();
        assert_eq!(super::knee(&line), None);
        assert_eq!(super::knee(&[(1.0, 1.0), (2.0, 5.0)]), None);
    }
}
