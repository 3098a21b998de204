//! Stamps what the probes and route actions report with the run's clock, so every time shown or written is on the header's clock.

use std::sync::Arc;
use std::time::{Duration, Instant};

/// The run-clock time at a wall instant (the engine's clock, read through
/// a closure: probes do not reach into the engine).
pub type ClockReader = Arc<dyn Fn(Instant) -> Duration + Send + Sync>;

/// Run-clock stamps when there is a run clock to follow, wall time since
/// the start otherwise; wall time stays at hand for what needs real elapsed
/// time (a counter's rate: a pause stops the run clock, not the control plane).
#[derive(Clone)]
pub struct Stamp {
    start: Instant,
    clock: Option<ClockReader>,
}

impl std::fmt::Debug for Stamp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stamp")
            .field("start", &self.start)
            .field("run_clock", &self.clock.is_some())
            .finish()
    }
}

impl Stamp {
    /// Follows a run clock.
    pub fn run(start: Instant, clock: ClockReader) -> Self {
        Stamp {
            start,
            clock: Some(clock),
        }
    }

    /// No run clock (a scenario: nothing pauses it): wall time since `start`.
    pub fn wall(start: Instant) -> Self {
        Stamp { start, clock: None }
    }

    /// Run-clock time now.
    pub fn now(&self) -> Duration {
        self.at(Instant::now())
    }

    /// Run-clock time at wall time `t`.
    pub fn at(&self, t: Instant) -> Duration {
        match &self.clock {
            Some(c) => c(t),
            None => t.saturating_duration_since(self.start),
        }
    }

    /// Wall time since the start.
    pub fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stamp_follows_its_clock_and_keeps_wall_time() {
        let start = Instant::now();
        // A clock that stood still for the first 5 s of wall time.
        let s = Stamp::run(
            start,
            Arc::new(move |t: Instant| {
                t.saturating_duration_since(start)
                    .saturating_sub(Duration::from_secs(5))
            }),
        );
        let later = start + Duration::from_secs(7);
        assert_eq!(s.at(later), Duration::from_secs(2));
        assert_eq!(Stamp::wall(start).at(later), Duration::from_secs(7));
    }
}
