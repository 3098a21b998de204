//! The Universal Scalability Law fitted to throughput against concurrency: X(N) = λN / (1 + σ(N−1) + κN(N−1)).
//!
//! σ is contention (the serial part), κ coherency (crosstalk); the peak is
//! at N* = sqrt((1 − σ) / κ). For a given λ the law is linear in σ and κ:
//! λN/X − 1 = σ(N−1) + κN(N−1), solved by least squares; λ itself is
//! chosen (golden-section search) to minimise the squared error in X.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct UslFit {
    /// Throughput of one worker alone.
    pub lambda: f64,
    pub sigma: f64,
    pub kappa: f64,
    /// The concurrency where throughput peaks (None when κ is 0).
    pub peak_concurrency: Option<f64>,
    pub peak_throughput: Option<f64>,
    /// Of the fit in X.
    pub r_squared: f64,
}

impl UslFit {
    pub fn throughput(&self, n: f64) -> f64 {
        self.lambda * n / (1.0 + self.sigma * (n - 1.0) + self.kappa * n * (n - 1.0))
    }
}

/// σ, κ (both at least 0) for a given λ, and the squared error in X.
fn solve(points: &[(f64, f64)], lambda: f64) -> (f64, f64, f64) {
    let (mut aa, mut ab, mut bb, mut ay, mut by) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for &(n, x) in points {
        let (a, b) = (n - 1.0, n * (n - 1.0));
        let y = lambda * n / x - 1.0;
        aa += a * a;
        ab += a * b;
        bb += b * b;
        ay += a * y;
        by += b * y;
    }
    let det = aa * bb - ab * ab;
    let (mut sigma, mut kappa) = if det.abs() > 1e-12 {
        ((ay * bb - by * ab) / det, (aa * by - ab * ay) / det)
    } else {
        (0.0, 0.0)
    };
    // Negative parameters have no meaning: refit the other alone.
    if sigma < 0.0 {
        sigma = 0.0;
        kappa = if bb > 0.0 { (by / bb).max(0.0) } else { 0.0 };
    } else if kappa < 0.0 {
        kappa = 0.0;
        sigma = if aa > 0.0 { (ay / aa).max(0.0) } else { 0.0 };
    }
    let f = UslFit {
        lambda,
        sigma,
        kappa,
        peak_concurrency: None,
        peak_throughput: None,
        r_squared: 0.0,
    };
    let sse = points
        .iter()
        .map(|&(n, x)| (x - f.throughput(n)).powi(2))
        .sum();
    (sigma, kappa, sse)
}

/// Fits `points` (concurrency, throughput); None with fewer than four.
pub fn fit(points: &[(f64, f64)]) -> Option<UslFit> {
    let pts: Vec<(f64, f64)> = points
        .iter()
        .copied()
        .filter(|&(n, x)| n >= 1.0 && x > 0.0 && n.is_finite() && x.is_finite())
        .collect();
    if pts.len() < 4 {
        return None;
    }
    // λ lies near the best per-worker throughput seen.
    let per = pts.iter().map(|&(n, x)| x / n).fold(0.0, f64::max);
    let (mut lo, mut hi) = (per * 0.5, per * 4.0);
    let g = (5f64.sqrt() - 1.0) / 2.0;
    for _ in 0..200 {
        let (m1, m2) = (hi - g * (hi - lo), lo + g * (hi - lo));
        if solve(&pts, m1).2 < solve(&pts, m2).2 {
            hi = m2;
        } else {
            lo = m1;
        }
    }
    let lambda = (lo + hi) / 2.0;
    let (sigma, kappa, sse) = solve(&pts, lambda);
    let mean = pts.iter().map(|p| p.1).sum::<f64>() / pts.len() as f64;
    let sst: f64 = pts.iter().map(|p| (p.1 - mean).powi(2)).sum();
    let mut f = UslFit {
        lambda,
        sigma,
        kappa,
        peak_concurrency: None,
        peak_throughput: None,
        r_squared: if sst > 0.0 { 1.0 - sse / sst } else { 1.0 },
    };
    if kappa > 0.0 && sigma < 1.0 {
        let n = ((1.0 - sigma) / kappa).sqrt();
        f.peak_concurrency = Some(n);
        f.peak_throughput = Some(f.throughput(n));
    }
    Some(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovers_sigma_and_kappa_from_synthetic_points() {
        let truth = UslFit {
            lambda: 1_000.0,
            sigma: 0.05,
            kappa: 0.002,
            peak_concurrency: None,
            peak_throughput: None,
            r_squared: 1.0,
        };
        let pts: Vec<(f64, f64)> = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0]
            .iter()
            .map(|&n| (n, truth.throughput(n)))
            .collect();
        let f = fit(&pts).unwrap();
        let close = |a: f64, b: f64| ((a - b) / b).abs() < 0.05;
        assert!(close(f.sigma, 0.05), "{f:?}");
        assert!(close(f.kappa, 0.002), "{f:?}");
        assert!(close(f.lambda, 1_000.0), "{f:?}");
        let peak = ((1.0 - 0.05) / 0.002f64).sqrt();
        assert!(close(f.peak_concurrency.unwrap(), peak), "{f:?}");
        assert!(f.r_squared > 0.999, "{f:?}");
        assert!(fit(&pts[..3]).is_none());
    }
}
