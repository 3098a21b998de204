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

/// The seeded random numbers of one request: a function of the run's
/// `load.seed` and the request's slot number only, so the same profile and
/// seed send the same sequence of requests, in one process or over agents.
#[derive(Debug, Clone)]
pub struct Rng {
    state: u64,
}

impl Rng {
    /// The generator for request `seq` of a run seeded with `seed`.
    pub fn for_request(seed: u64, seq: u64) -> Self {
        Rng {
            state: splitmix64(seed ^ splitmix64(seq.wrapping_add(0x5eed))),
        }
    }

    /// The next 64 random bits.
    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        splitmix64(self.state)
    }

    /// A whole number from `lo` to `hi`, both included (`hi` below `lo` gives `lo`).
    pub fn int(&mut self, lo: i64, hi: i64) -> i64 {
        if hi <= lo {
            return lo;
        }
        let span = (hi as i128 - lo as i128 + 1) as u128;
        (lo as i128 + (self.next_u64() as u128 % span) as i128) as i64
    }

    /// One of `items`, uniformly (None when it is empty).
    pub fn choose<'a, T>(&mut self, items: &'a [T]) -> Option<&'a T> {
        if items.is_empty() {
            return None;
        }
        items.get((self.next_u64() % items.len() as u64) as usize)
    }

    /// True with probability `p` (0 to 1).
    pub fn chance(&mut self, p: f64) -> bool {
        ((self.next_u64() >> 11) as f64 / (1u64 << 53) as f64) < p
    }

    /// A version 4 UUID, from this generator (so it repeats with the seed).
    pub fn uuid(&mut self) -> String {
        let mut s = String::with_capacity(36);
        self.write_uuid(&mut s);
        s
    }

    /// `uuid`, written into `out`.
    pub fn write_uuid(&mut self, out: &mut String) {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let (a, b) = (self.next_u64(), self.next_u64());
        // Version 4, variant 1.
        let a = (a & 0xffff_ffff_ffff_0fff) | 0x4000;
        let b = (b & 0x3fff_ffff_ffff_ffff) | 0x8000_0000_0000_0000;
        let mut hex = [0u8; 32];
        for i in 0..16 {
            hex[i] = HEX[((a >> (60 - 4 * i)) & 0xf) as usize];
            hex[16 + i] = HEX[((b >> (60 - 4 * i)) & 0xf) as usize];
        }
        // 8-4-4-4-12.
        let mut buf = [b'-'; 36];
        buf[..8].copy_from_slice(&hex[..8]);
        buf[9..13].copy_from_slice(&hex[8..12]);
        buf[14..18].copy_from_slice(&hex[12..16]);
        buf[19..23].copy_from_slice(&hex[16..20]);
        buf[24..].copy_from_slice(&hex[20..]);
        // Only ASCII hex digits and dashes were written.
        out.push_str(std::str::from_utf8(&buf).unwrap_or_default());
    }
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
    fn uuids_are_version_4_and_match_the_formatted_words() {
        let mut r = Rng::for_request(9, 3);
        let mut again = r.clone();
        let u = r.uuid();
        let (a, b) = (again.next_u64(), again.next_u64());
        let a = (a & 0xffff_ffff_ffff_0fff) | 0x4000;
        let b = (b & 0x3fff_ffff_ffff_ffff) | 0x8000_0000_0000_0000;
        let want = format!(
            "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0xffff,
            b >> 48,
            b & 0xffff_ffff_ffff
        );
        assert_eq!(u, want);
        assert_eq!(&u[14..15], "4");
    }

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
