//! Bootstrap intervals over repeated runs: of one set's statistic, and of the change between two sets (the noise-aware verdicts stand on these).
//!
//! The unit resampled is a run, not a request: run-to-run noise (another
//! process on the machine, a cold cache, where the scheduler put the
//! threads) is what a regression gate must see past, and requests of one
//! run are not independent of each other. A latency percentile of a
//! resample is taken from the merged HDR data of the runs drawn, as the
//! pooled figure is, so the interval is of the same statistic that is shown.

use hdrhistogram::Histogram;
use rampdeck_base::rng::Rng;

/// Replicates per interval: enough for stable 2.5/97.5 percentiles.
pub const REPLICATES: usize = 2000;

/// The seed of every interval: the same data give the same verdict.
const SEED: u64 = 0x7a3d_51c2;

/// A set of runs' values of one metric, resampled by run.
pub enum Sample<'a> {
    /// One value per run; a resample's statistic is their mean.
    Values(&'a [f64]),
    /// One histogram per run (values in microseconds, reported in ms); a
    /// resample's statistic is `quantile` of the merge of the runs drawn.
    Merged(&'a Pooled),
}

impl Sample<'_> {
    fn runs(&self) -> usize {
        match self {
            Sample::Values(v) => v.len(),
            Sample::Merged(p) => p.runs(),
        }
    }

    /// The statistic of a resample given as how many times each run was drawn.
    fn of(&self, weights: &[u32]) -> Option<f64> {
        match self {
            Sample::Values(v) => {
                let n: u32 = weights.iter().sum();
                (n > 0).then(|| {
                    v.iter()
                        .zip(weights)
                        .map(|(x, w)| x * f64::from(*w))
                        .sum::<f64>()
                        / f64::from(n)
                })
            }
            Sample::Merged(p) => p.quantile(weights),
        }
    }

    /// The statistic of all the runs, each once.
    pub fn whole(&self) -> Option<f64> {
        self.of(&vec![1; self.runs()])
    }
}

/// Several runs' histograms on one shared value axis, so a resample's
/// merged percentile is a weighted walk instead of a histogram merge.
pub struct Pooled {
    quantile: f64,
    /// The distinct recorded values (µs, highest equivalent), ascending.
    axis: Vec<u64>,
    /// Per run, its count at each axis value.
    counts: Vec<Vec<u64>>,
    totals: Vec<u64>,
}

impl Pooled {
    /// `quantile` (0-1) of runs' histograms; empty histograms are kept as
    /// runs with nothing recorded.
    pub fn new(hists: &[&Histogram<u64>], quantile: f64) -> Self {
        let mut axis: Vec<u64> = hists
            .iter()
            .flat_map(|h| h.iter_recorded().map(|v| v.value_iterated_to()))
            .collect();
        axis.sort_unstable();
        axis.dedup();
        let counts = hists
            .iter()
            .map(|h| {
                let mut c = vec![0; axis.len()];
                for v in h.iter_recorded() {
                    if let Ok(i) = axis.binary_search(&v.value_iterated_to()) {
                        c[i] += v.count_at_value();
                    }
                }
                c
            })
            .collect();
        Pooled {
            quantile: quantile.clamp(0.0, 1.0),
            axis,
            totals: hists.iter().map(|h| h.len()).collect(),
            counts,
        }
    }

    pub fn runs(&self) -> usize {
        self.counts.len()
    }

    /// The quantile, in ms, of the runs merged `weights[i]` times each:
    /// the rank HdrHistogram's `value_at_quantile` uses (ceil, at least 1).
    fn quantile(&self, weights: &[u32]) -> Option<f64> {
        let total: u64 = self
            .totals
            .iter()
            .zip(weights)
            .map(|(t, w)| t * u64::from(*w))
            .sum();
        if total == 0 {
            return None;
        }
        let rank = ((self.quantile * total as f64).ceil() as u64).clamp(1, total);
        let mut seen = 0;
        for (j, v) in self.axis.iter().enumerate() {
            seen += self
                .counts
                .iter()
                .zip(weights)
                .map(|(c, w)| c[j] * u64::from(*w))
                .sum::<u64>();
            if seen >= rank {
                return Some(*v as f64 / 1000.0);
            }
        }
        self.axis.last().map(|v| *v as f64 / 1000.0)
    }
}

/// A 95% interval (2.5th and 97.5th percentiles of the replicates).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Interval {
    pub lo: f64,
    pub hi: f64,
}

/// How many times each of `n` runs is drawn in one resample of size `n`.
fn draw(rng: &mut Rng, n: usize, weights: &mut [u32]) {
    weights.iter_mut().for_each(|w| *w = 0);
    for _ in 0..n {
        weights[(rng.next_u64() % n as u64) as usize] += 1;
    }
}

fn percentile_interval(mut reps: Vec<f64>) -> Option<Interval> {
    if reps.is_empty() {
        return None;
    }
    reps.sort_by(f64::total_cmp);
    let at = |p: f64| reps[((p * (reps.len() - 1) as f64).round() as usize).min(reps.len() - 1)];
    Some(Interval {
        lo: at(0.025),
        hi: at(0.975),
    })
}

/// The 95% bootstrap interval of one set's statistic.
pub fn interval(sample: &Sample) -> Option<Interval> {
    let n = sample.runs();
    if n == 0 {
        return None;
    }
    let mut rng = Rng::for_request(SEED, n as u64);
    let mut w = vec![0; n];
    let reps = (0..REPLICATES)
        .filter_map(|_| {
            draw(&mut rng, n, &mut w);
            sample.of(&w)
        })
        .collect();
    percentile_interval(reps)
}

/// How a change is measured: percent of the base's statistic, or the plain
/// difference (percentage points for rates that are already percents).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Relative,
    Points,
}

impl Change {
    pub fn of(self, base: f64, new: f64) -> Option<f64> {
        match self {
            Change::Points => Some(new - base),
            Change::Relative if base != 0.0 => Some((new - base) / base * 100.0),
            Change::Relative => (new == 0.0).then_some(0.0),
        }
    }
}

/// The 95% bootstrap interval of the change from `base` to `new`, each set
/// resampled by run on its own (a set of one run contributes no spread).
pub fn change_interval(base: &Sample, new: &Sample, change: Change) -> Option<Interval> {
    let (nb, nn) = (base.runs(), new.runs());
    if nb == 0 || nn == 0 {
        return None;
    }
    let mut rng = Rng::for_request(SEED, (nb * 1000 + nn) as u64);
    let (mut wb, mut wn) = (vec![0; nb], vec![0; nn]);
    let reps = (0..REPLICATES)
        .filter_map(|_| {
            draw(&mut rng, nb, &mut wb);
            draw(&mut rng, nn, &mut wn);
            change.of(base.of(&wb)?, new.of(&wn)?)
        })
        .collect();
    percentile_interval(reps)
}

/// Mean, median, sample standard deviation, min and max of some values.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Spread {
    pub mean: f64,
    pub median: f64,
    pub stdev: f64,
    pub min: f64,
    pub max: f64,
}

impl Spread {
    pub fn of(values: &[f64]) -> Option<Spread> {
        if values.is_empty() {
            return None;
        }
        let n = values.len() as f64;
        let mean = values.iter().sum::<f64>() / n;
        let var = if values.len() > 1 {
            values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0)
        } else {
            0.0
        };
        Some(Spread {
            mean,
            median: median(values),
            stdev: var.sqrt(),
            min: values.iter().copied().fold(f64::INFINITY, f64::min),
            max: values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        })
    }

    /// The coefficient of variation, percent (None around a zero mean).
    pub fn cv_pct(&self) -> Option<f64> {
        (self.mean.abs() > 1e-12).then(|| self.stdev / self.mean.abs() * 100.0)
    }
}

pub fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hist(values: impl IntoIterator<Item = u64>) -> Histogram<u64> {
        let mut h = crate::stats::new_histogram();
        for v in values {
            h.record(v).unwrap();
        }
        h
    }

    #[test]
    fn a_resamples_merged_percentile_is_the_merged_histograms() {
        let a = hist((0..1000).map(|i| 1000 + i * 7));
        let b = hist((0..500).map(|i| 3000 + i * 13));
        let c = hist([]);
        for q in [0.01, 0.5, 0.9, 0.99, 0.999, 1.0] {
            let p = Pooled::new(&[&a, &b, &c], q);
            for w in [[1, 1, 1], [2, 0, 1], [0, 3, 0], [1, 2, 2]] {
                let mut merged = crate::stats::new_histogram();
                for (h, n) in [&a, &b, &c].iter().zip(w) {
                    for _ in 0..n {
                        merged.add(*h).unwrap();
                    }
                }
                let want = merged.value_at_quantile(q) as f64 / 1000.0;
                assert_eq!(p.quantile(&w), Some(want), "q {q} w {w:?}");
            }
        }
        assert_eq!(Pooled::new(&[&c], 0.5).quantile(&[1]), None);
    }

    #[test]
    fn a_clear_shift_is_outside_the_noise_and_equal_sets_straddle_zero() {
        let base = [5.0, 5.1, 4.9, 5.05, 4.95];
        let slower = [5.5, 5.6, 5.45, 5.55, 5.5];
        let i = change_interval(
            &Sample::Values(&base),
            &Sample::Values(&slower),
            Change::Relative,
        )
        .unwrap();
        assert!(i.lo > 7.0 && i.hi < 13.0, "{i:?}");
        let again = [5.02, 4.97, 5.08, 4.93, 5.0];
        let i = change_interval(
            &Sample::Values(&base),
            &Sample::Values(&again),
            Change::Relative,
        )
        .unwrap();
        assert!(i.lo < 0.0 && i.hi > 0.0, "{i:?}");
        assert!(i.hi - i.lo < 4.0, "{i:?}");
        let one = interval(&Sample::Values(&[3.0])).unwrap();
        assert_eq!((one.lo, one.hi), (3.0, 3.0));
        let points = change_interval(
            &Sample::Values(&[99.0, 99.0]),
            &Sample::Values(&[98.0, 98.0]),
            Change::Points,
        )
        .unwrap();
        assert_eq!((points.lo, points.hi), (-1.0, -1.0));
    }

    #[test]
    fn spread_of_values() {
        let s = Spread::of(&[1.0, 2.0, 3.0, 4.0]).unwrap();
        assert_eq!((s.mean, s.median, s.min, s.max), (2.5, 2.5, 1.0, 4.0));
        assert!((s.stdev - 1.290_994).abs() < 1e-5);
        assert!((s.cv_pct().unwrap() - 51.639_8).abs() < 1e-3);
        assert!(Spread::of(&[]).is_none());
    }
}
