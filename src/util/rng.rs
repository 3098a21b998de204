//! Seeded, stateless randomness: the request mix is a function of (seed, slot), not of thread timing.

/// SplitMix64: a fixed, well-mixed hash of a 64-bit value. Stable forever,
/// which is what makes `seed` reproduce a run's request sequence.
#[inline]
pub fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// Picks an index with probability proportional to its weight.
#[derive(Debug, Clone)]
pub struct WeightedPick {
    /// Running sums of the weights.
    cumulative: Vec<u64>,
    seed: u64,
}

impl WeightedPick {
    pub fn new(weights: impl IntoIterator<Item = u32>, seed: u64) -> Self {
        let mut sum = 0u64;
        let cumulative = weights
            .into_iter()
            .map(|w| {
                sum += w as u64;
                sum
            })
            .collect();
        WeightedPick {
            cumulative,
            seed: splitmix64(seed),
        }
    }

    /// The choice for draw number `n` (a slot in open loop, a worker's request count in closed loop).
    #[inline]
    pub fn pick(&self, n: u64) -> usize {
        match self.cumulative.as_slice() {
            [] | [_] => 0,
            all => {
                let total = all[all.len() - 1];
                let r = splitmix64(self.seed ^ n) % total;
                all.partition_point(|&c| c <= r)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follows_weights_and_is_reproducible() {
        let p = WeightedPick::new([1, 3], 42);
        let picks: Vec<usize> = (0..40_000).map(|n| p.pick(n)).collect();
        let ones = picks.iter().filter(|&&i| i == 1).count() as f64 / 40_000.0;
        assert!((ones - 0.75).abs() < 0.01, "{ones}");
        let again: Vec<usize> = (0..40_000)
            .map(|n| WeightedPick::new([1, 3], 42).pick(n))
            .collect();
        assert_eq!(picks, again);
        let other: Vec<usize> = (0..100)
            .map(|n| WeightedPick::new([1, 3], 7).pick(n))
            .collect();
        assert_ne!(&picks[..100], &other[..]);
    }
}
