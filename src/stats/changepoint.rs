//! Change points in a metric's history: where a series of runs shifted level, found by binary segmentation with a permutation test.
//!
//! Each segment of the series is cut where a rank statistic (Wilcoxon's
//! standardised rank sum of a run of points against the rest) is largest,
//! over every run of points: one touching an end is a step, one inside is a
//! level that came and went (circular binary segmentation, so a regression
//! that was fixed is found too, which a single best split misses). The cut
//! stands when that maximum is larger than in all but `alpha` of random
//! reorderings of the same segment, so a series of pure noise, however
//! long, has about `alpha` chance of one false change in all. The pieces
//! are then searched again. Ranks, not values, so one outlier run (a stall, a
//! noisy neighbour) cannot pass for a shift; the shift reported is between
//! the medians of the segments on each side. This is the test E-Divisive
//! and Hunter use (a permutation test of the best split), with a rank
//! statistic in place of their energy distance.

use rampdeck_base::rng::Rng;

#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Fewest points on each side of a split.
    pub min_size: usize,
    /// The largest permutation p-value that stands as a change.
    pub alpha: f64,
    pub permutations: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            min_size: 4,
            alpha: 0.001,
            permutations: 1999,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ChangePoint {
    /// The first point of the new level.
    pub index: usize,
    /// Medians of the segments before and after (up to the neighbouring
    /// change points).
    pub before: f64,
    pub after: f64,
    pub p_value: f64,
}

impl ChangePoint {
    /// The shift, percent of the level before (None from a zero level).
    pub fn shift_pct(&self) -> Option<f64> {
        (self.before != 0.0).then(|| (self.after - self.before) / self.before.abs() * 100.0)
    }
}

/// The change points of `series`, in order.
pub fn detect(series: &[f64], opts: &Options) -> Vec<ChangePoint> {
    let mut splits = Vec::new();
    let mut rng = Rng::for_request(0xc4a9_e5d1, series.len() as u64);
    let mut stack = vec![(0, series.len())];
    while let Some((a, b)) = stack.pop() {
        if let Some((cut, p)) = best_cut(&series[a..b], opts, &mut rng) {
            let mut edges = vec![a];
            for k in [cut.0, cut.1] {
                if k > 0 && k < b - a {
                    splits.push((a + k, p));
                    edges.push(a + k);
                }
            }
            edges.push(b);
            for w in edges.windows(2) {
                stack.push((w[0], w[1]));
            }
        }
    }
    splits.sort_by_key(|s| s.0);
    let bounds: Vec<usize> = std::iter::once(0)
        .chain(splits.iter().map(|s| s.0))
        .chain(std::iter::once(series.len()))
        .collect();
    splits
        .iter()
        .enumerate()
        .map(|(i, &(index, p_value))| ChangePoint {
            index,
            before: super::bootstrap::median(&series[bounds[i]..index]),
            after: super::bootstrap::median(&series[index..bounds[i + 2]]),
            p_value,
        })
        .collect()
}

/// The segment's best cut `[i, j)` against the rest (a step when it
/// touches an end, a level that came and went when it does not) and its
/// p-value, when it stands.
fn best_cut(seg: &[f64], opts: &Options, rng: &mut Rng) -> Option<((usize, usize), f64)> {
    let min = opts.min_size.max(1);
    if seg.len() < 2 * min {
        return None;
    }
    let mut ranks = ranks(seg);
    let (cut, observed) = max_statistic(&ranks, min)?;
    if observed <= 0.0 {
        return None;
    }
    // Past this many reorderings as extreme, the cut cannot stand: stop.
    let allowed = (opts.alpha * (opts.permutations + 1) as f64).floor() as usize;
    let mut as_large = 0;
    for _ in 0..opts.permutations {
        shuffle(&mut ranks, rng);
        if max_statistic(&ranks, min).is_some_and(|(_, s)| s >= observed - 1e-9) {
            as_large += 1;
            if as_large + 1 > allowed {
                return None;
            }
        }
    }
    let p = (as_large + 1) as f64 / (opts.permutations + 1) as f64;
    (p <= opts.alpha).then_some((cut, p))
}

/// The cut `[i, j)` whose rank sum is furthest from what chance gives (as
/// |z|), each piece it leaves at least `min` long, and that |z|.
fn max_statistic(ranks: &[f64], min: usize) -> Option<((usize, usize), f64)> {
    let n = ranks.len();
    let nf = n as f64;
    let mut prefix = Vec::with_capacity(n + 1);
    prefix.push(0.0);
    for r in ranks {
        prefix.push(prefix[prefix.len() - 1] + r);
    }
    let mut best: Option<((usize, usize), f64)> = None;
    for i in 0..n {
        if i > 0 && i < min {
            continue;
        }
        for j in i + min..=n {
            let m = j - i;
            if (j < n && n - j < min) || n - m < min {
                continue;
            }
            let mf = m as f64;
            let expected = mf * (nf + 1.0) / 2.0;
            let sd = (mf * (nf - mf) * (nf + 1.0) / 12.0).sqrt();
            let z = ((prefix[j] - prefix[i] - expected) / sd).abs();
            if best.is_none_or(|(_, b)| z > b + 1e-12) {
                best = Some(((i, j), z));
            }
        }
    }
    best
}

/// Ranks from 1, ties given their average rank.
fn ranks(values: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&a, &b| values[a].total_cmp(&values[b]));
    let mut out = vec![0.0; values.len()];
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && values[order[j + 1]] == values[order[i]] {
            j += 1;
        }
        let rank = (i + j) as f64 / 2.0 + 1.0;
        for &o in &order[i..=j] {
            out[o] = rank;
        }
        i = j + 1;
    }
    out
}

fn shuffle(v: &mut [f64], rng: &mut Rng) {
    for i in (1..v.len()).rev() {
        let j = (rng.next_u64() % (i as u64 + 1)) as usize;
        v.swap(i, j);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Normal noise around `mean` with `sd`, seeded (Box-Muller).
    fn noise(n: usize, mean: f64, sd: f64, seed: u64) -> Vec<f64> {
        let mut rng = Rng::for_request(seed, 1);
        let mut u = || ((rng.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64;
        (0..n)
            .map(|_| {
                let (a, b) = (u(), u());
                mean + sd * (-2.0 * a.ln()).sqrt() * (2.0 * std::f64::consts::PI * b).cos()
            })
            .collect()
    }

    #[test]
    fn a_step_at_run_30_of_50_is_found_within_two_runs() {
        for seed in 0..20 {
            // 2% run-to-run noise, a 10% step up at run 30.
            let mut s = noise(50, 5.0, 0.1, seed);
            for v in &mut s[30..] {
                *v += 0.5;
            }
            let cps = detect(&s, &Options::default());
            assert_eq!(cps.len(), 1, "seed {seed}: {cps:?}");
            assert!(cps[0].index.abs_diff(30) <= 2, "seed {seed}: {cps:?}");
            let shift = cps[0].shift_pct().unwrap();
            assert!((6.0..14.0).contains(&shift), "seed {seed}: {shift}");
        }
    }

    #[test]
    fn pure_noise_has_no_change_point() {
        for seed in 100..120 {
            let s = noise(50, 5.0, 0.1, seed);
            assert_eq!(detect(&s, &Options::default()), vec![], "seed {seed}");
        }
        // An outlier run is not a level shift.
        let mut s = noise(50, 5.0, 0.1, 7);
        s[47] = 50.0;
        s[48] = 40.0;
        assert_eq!(detect(&s, &Options::default()), vec![]);
    }

    #[test]
    fn two_steps_are_both_found_and_short_series_have_none() {
        let mut s = noise(60, 100.0, 1.0, 3);
        for v in &mut s[20..40] {
            *v -= 10.0;
        }
        let cps = detect(&s, &Options::default());
        let at: Vec<usize> = cps.iter().map(|c| c.index).collect();
        assert_eq!(at.len(), 2, "{cps:?}");
        assert!(at[0].abs_diff(20) <= 2 && at[1].abs_diff(40) <= 2, "{at:?}");
        assert!(cps[0].shift_pct().unwrap() < -5.0 && cps[1].shift_pct().unwrap() > 5.0);
        assert!(detect(&[1.0, 2.0, 3.0], &Options::default()).is_empty());
        assert!(detect(&[], &Options::default()).is_empty());
    }
}
