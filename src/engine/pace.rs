//! Whether the schedule keeps up, and what holds it back when it does not: rampdeck's own CPU, or every connection waiting on the target.
//!
//! Open loop only. `behind` is the number of scheduled requests overdue by
//! more than `LATE` at an interval's end. Falling behind with rampdeck's
//! CPU saturated is the generator's limit and must never pass for the
//! target's latency or capacity; falling behind with CPU to spare means
//! every connection was busy, which is the target's latency (or too few
//! `max_connections`).

use std::time::Duration;

/// A request this late is counted as not sent yet.
pub const LATE: Duration = Duration::from_millis(10);
/// Clean intervals in a row before "keeps up again" (no flapping).
const RECOVER_AFTER: u32 = 4;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lag {
    KeepingUp,
    /// rampdeck's CPU saturated while the schedule fell behind.
    GeneratorLimited,
    /// Behind with CPU to spare: the connections were all waiting.
    ConnectionsBusy,
}

/// The pace over the run: state changes for the events, totals for the summary.
#[derive(Debug, Default)]
pub struct Pace {
    state: Option<Lag>,
    clean: u32,
    last_behind: u64,
    /// Measured time in generator-limited intervals.
    pub generator_limited: Duration,
    /// Growth of the backlog while generator-limited, and otherwise.
    grown: [u64; 2],
}

impl Pace {
    /// Folds in one interval; returns the new state when it changed.
    pub fn observe(&mut self, behind: u64, saturated: bool, measured: Duration) -> Option<Lag> {
        let now = match (behind > 0, saturated) {
            (false, _) => Lag::KeepingUp,
            (true, true) => Lag::GeneratorLimited,
            (true, false) => Lag::ConnectionsBusy,
        };
        let grown = behind.saturating_sub(self.last_behind);
        self.last_behind = behind;
        self.grown[usize::from(now != Lag::GeneratorLimited)] += grown;
        if now == Lag::GeneratorLimited {
            self.generator_limited += measured;
        }
        let was = self.state.unwrap_or(Lag::KeepingUp);
        if now == Lag::KeepingUp {
            self.clean += 1;
            if was != Lag::KeepingUp && self.clean >= RECOVER_AFTER {
                self.state = Some(Lag::KeepingUp);
                return Some(Lag::KeepingUp);
            }
            return None;
        }
        self.clean = 0;
        (now != was).then(|| {
            self.state = Some(now);
            now
        })
    }

    /// Why the backlog grew, mostly: for requests never sent at the end.
    pub fn cause(&self) -> Lag {
        if self.grown[0] > self.grown[1] {
            Lag::GeneratorLimited
        } else {
            Lag::ConnectionsBusy
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn states_change_once_and_recover_after_a_clean_second() {
        let mut p = Pace::default();
        assert_eq!(p.observe(0, true, S), None, "busy but keeping up");
        assert_eq!(p.observe(500, true, S), Some(Lag::GeneratorLimited));
        assert_eq!(p.observe(900, true, S), None);
        assert_eq!(p.observe(950, false, S), Some(Lag::ConnectionsBusy));
        for _ in 0..3 {
            assert_eq!(p.observe(0, false, S), None);
        }
        assert_eq!(p.observe(0, false, S), Some(Lag::KeepingUp));
        assert_eq!(p.generator_limited, 2 * S);
        assert_eq!(
            p.cause(),
            Lag::GeneratorLimited,
            "900 of 950 grew while limited"
        );
    }
}
