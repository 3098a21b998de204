//! The run clock: time since the run started, less time paused; every schedule, stage, interval and `at` is on it.

use std::time::Duration;

use tokio::time::Instant;

/// The run clock's state, published by the supervisor (a `watch` channel)
/// for anything that acts at a run-clock time (route actions' `at`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunClock {
    /// Wall time of run-clock zero.
    pub origin: Instant,
    /// Pauses that have ended.
    pub paused_total: Duration,
    /// When the pause in progress began.
    pub paused_since: Option<Instant>,
    /// The run is over: nothing more will happen on this clock.
    pub stopped: bool,
}

impl RunClock {
    pub fn new(origin: Instant) -> Self {
        RunClock {
            origin,
            paused_total: Duration::ZERO,
            paused_since: None,
            stopped: false,
        }
    }

    /// Run-clock time at wall time `t`.
    pub fn at(&self, t: Instant) -> Duration {
        let paused_now = self
            .paused_since
            .map_or(Duration::ZERO, |p| t.saturating_duration_since(p));
        t.saturating_duration_since(self.origin)
            .saturating_sub(self.paused_total.saturating_add(paused_now))
    }

    pub fn now(&self) -> Duration {
        self.at(Instant::now())
    }

    /// When run-clock `rc` comes, if the run is not paused (None while it is).
    pub fn wall(&self, rc: Duration) -> Option<Instant> {
        self.paused_since
            .is_none()
            .then(|| super::schedule::later(self.origin, rc.saturating_add(self.paused_total)))
    }

    /// Wall time since the start (pauses included), as events are stamped.
    pub fn elapsed_at(&self, t: Instant) -> Duration {
        t.saturating_duration_since(self.origin)
    }
}

/// A run-clock reader for what runs beside the engine and may not know it
/// (probes, route actions): the run-clock time at a wall instant.
pub fn reader(
    clock: tokio::sync::watch::Receiver<RunClock>,
) -> std::sync::Arc<dyn Fn(std::time::Instant) -> Duration + Send + Sync> {
    std::sync::Arc::new(move |t| clock.borrow().at(Instant::from_std(t)))
}

/// Waits until the run clock published on `rx` reaches `rc`, following
/// pauses; false if the run ended (or the clock is gone) first.
pub async fn wait_until(rx: &mut tokio::sync::watch::Receiver<RunClock>, rc: Duration) -> bool {
    loop {
        let clock = *rx.borrow_and_update();
        if clock.stopped {
            return false;
        }
        if clock.now() >= rc {
            return true;
        }
        match clock.wall(rc) {
            Some(t) => {
                tokio::select! {
                    _ = tokio::time::sleep_until(t) => {}
                    r = rx.changed() => if r.is_err() { return false },
                }
            }
            None => {
                if rx.changed().await.is_err() {
                    return false;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_run_clock_stops_while_paused() {
        let (tx, mut rx) = tokio::sync::watch::channel(RunClock::new(Instant::now()));
        let waiter = tokio::spawn(async move {
            let ok = wait_until(&mut rx, Duration::from_secs(10)).await;
            (ok, Instant::now())
        });
        let origin = tx.borrow().origin;
        tokio::time::sleep(Duration::from_secs(4)).await;
        tx.send_modify(|c| c.paused_since = Some(Instant::now()));
        tokio::time::sleep(Duration::from_secs(5)).await;
        tx.send_modify(|c| {
            c.paused_total += Instant::now() - c.paused_since.unwrap_or(origin);
            c.paused_since = None;
        });
        let (ok, fired) = waiter.await.unwrap();
        assert!(ok);
        // 10 s of run clock plus the 5 s pause.
        assert_eq!(fired - origin, Duration::from_secs(15));
    }
}
