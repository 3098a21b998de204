//! The demo gateway's view of its echo backends: whether each is alive (a fault the operator
//! toggles), whether the gateway has ejected it (active health checks, passive outlier
//! detection), retries to another backend, and stale pooled connections after a roll.
//!
//! A real gateway learns a backend died only by checking it or by failing on it; this one
//! does the same, so the backend-failover scenario measures an ejection time that follows
//! from the settings (`interval` × `fall` for active checks) and not from the fault itself.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// `[demo.kube.health_check]`: the gateway checks each backend every `interval`; `fall`
/// failed checks in a row eject it, `rise` passed checks in a row bring it back.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct HealthCheck {
    pub interval: Duration,
    pub fall: u32,
    pub rise: u32,
}

/// `[demo.kube.outlier]`: `consecutive` failed requests in a row eject a backend for `eject_for`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Outlier {
    pub consecutive: u32,
    pub eject_for: Duration,
}

/// How the gateway treats its backends' health; plain settings from `KubeSim`.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct HealthSettings {
    pub check: Option<HealthCheck>,
    pub outlier: Option<Outlier>,
    /// Further backends tried when the picked one does not answer.
    pub retries: u32,
    /// Fault: after a roll, this many requests per backend fail on pooled connections to
    /// the old pods before the gateway notices.
    pub stale_after_roll: u32,
}

#[derive(Default)]
struct One {
    dead: AtomicBool,
    /// Ejected by the active checks.
    checked_out: AtomicBool,
    /// Ejected by outlier detection until this many µs after `origin` (0: not ejected).
    outlier_until_us: AtomicU64,
    fails_in_row: AtomicU32,
    passes_in_row: AtomicU32,
    requests_in_row_failed: AtomicU32,
    stale: AtomicU32,
    /// Requests that reached this backend while it was dead.
    pub sent_while_dead: AtomicU64,
}

/// Per known backend (the router's order), shared by the router, the checker and the control plane.
pub struct BackendHealth {
    settings: HealthSettings,
    backends: Vec<One>,
    origin: Instant,
}

impl BackendHealth {
    pub fn new(count: usize, settings: HealthSettings) -> Self {
        BackendHealth {
            settings,
            backends: (0..count).map(|_| One::default()).collect(),
            origin: Instant::now(),
        }
    }

    pub fn settings(&self) -> HealthSettings {
        self.settings
    }

    /// The fault: backend `i` stops (or starts again) answering.
    pub fn set_dead(&self, i: usize, dead: bool) {
        if let Some(b) = self.backends.get(i) {
            b.dead.store(dead, Ordering::Relaxed);
        }
    }

    pub fn is_dead(&self, i: usize) -> bool {
        self.backends
            .get(i)
            .is_some_and(|b| b.dead.load(Ordering::Relaxed))
    }

    /// Whether the gateway currently sends traffic to `i`.
    pub fn in_rotation(&self, i: usize) -> bool {
        let Some(b) = self.backends.get(i) else {
            return false;
        };
        if b.checked_out.load(Ordering::Relaxed) {
            return false;
        }
        let until = b.outlier_until_us.load(Ordering::Relaxed);
        until == 0 || self.now_us() >= until
    }

    /// A roll: every backend's pods are replaced, pooled connections to the old ones go stale.
    pub fn roll(&self) {
        for b in &self.backends {
            b.stale
                .store(self.settings.stale_after_roll, Ordering::Relaxed);
        }
    }

    /// What sending one request to `i` does: Ok when it answers; Err when it does not
    /// (dead, or a stale pooled connection), counted for outlier detection.
    pub fn attempt(&self, i: usize) -> Result<(), Failure> {
        let Some(b) = self.backends.get(i) else {
            return Err(Failure::Dead);
        };
        let failed = if b.dead.load(Ordering::Relaxed) {
            b.sent_while_dead.fetch_add(1, Ordering::Relaxed);
            Some(Failure::Dead)
        } else if b
            .stale
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
            .is_ok()
        {
            Some(Failure::Stale)
        } else {
            None
        };
        match failed {
            None => {
                b.requests_in_row_failed.store(0, Ordering::Relaxed);
                Ok(())
            }
            Some(f) => {
                let n = b.requests_in_row_failed.fetch_add(1, Ordering::Relaxed) + 1;
                if let Some(o) = self.settings.outlier {
                    if n >= o.consecutive.max(1) {
                        b.requests_in_row_failed.store(0, Ordering::Relaxed);
                        let until = self.now_us() + o.eject_for.as_micros() as u64;
                        b.outlier_until_us.store(until.max(1), Ordering::Relaxed);
                    }
                }
                Err(f)
            }
        }
    }

    /// Requests that reached backend `i` while it was dead.
    pub fn sent_while_dead(&self, i: usize) -> u64 {
        self.backends
            .get(i)
            .map_or(0, |b| b.sent_while_dead.load(Ordering::Relaxed))
    }

    /// One round of active checks (called every `HealthCheck::interval`).
    pub fn check_all(&self) {
        let Some(c) = self.settings.check else { return };
        for b in &self.backends {
            if b.dead.load(Ordering::Relaxed) {
                b.passes_in_row.store(0, Ordering::Relaxed);
                let n = b.fails_in_row.fetch_add(1, Ordering::Relaxed) + 1;
                if n >= c.fall.max(1) {
                    b.checked_out.store(true, Ordering::Relaxed);
                }
            } else {
                b.fails_in_row.store(0, Ordering::Relaxed);
                let n = b.passes_in_row.fetch_add(1, Ordering::Relaxed) + 1;
                if n >= c.rise.max(1) {
                    b.checked_out.store(false, Ordering::Relaxed);
                }
            }
        }
    }

    fn now_us(&self) -> u64 {
        self.origin.elapsed().as_micros() as u64
    }
}

/// Why a request to a backend got no answer from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// The backend is down.
    Dead,
    /// A pooled connection to a pod a roll replaced.
    Stale,
}

/// Runs the active checks until cancelled.
pub async fn run_checks(
    health: std::sync::Arc<BackendHealth>,
    cancel: tokio_util::sync::CancellationToken,
) {
    let Some(c) = health.settings.check else {
        return;
    };
    let mut tick = tokio::time::interval(c.interval.max(Duration::from_millis(1)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tick.tick() => health.check_all(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn active_checks_eject_after_fall_and_restore_after_rise() {
        let h = BackendHealth::new(
            2,
            HealthSettings {
                check: Some(HealthCheck {
                    interval: Duration::from_millis(100),
                    fall: 3,
                    rise: 2,
                }),
                ..Default::default()
            },
        );
        h.set_dead(1, true);
        h.check_all();
        h.check_all();
        assert!(h.in_rotation(1), "two failed checks of three");
        h.check_all();
        assert!(!h.in_rotation(1));
        assert!(h.in_rotation(0));
        h.set_dead(1, false);
        h.check_all();
        assert!(!h.in_rotation(1), "one passed check of two");
        h.check_all();
        assert!(h.in_rotation(1));
    }

    #[test]
    fn outlier_detection_ejects_after_consecutive_failures() {
        let h = BackendHealth::new(
            1,
            HealthSettings {
                outlier: Some(Outlier {
                    consecutive: 2,
                    eject_for: Duration::from_secs(60),
                }),
                ..Default::default()
            },
        );
        h.set_dead(0, true);
        assert_eq!(h.attempt(0), Err(Failure::Dead));
        assert!(h.in_rotation(0));
        assert_eq!(h.attempt(0), Err(Failure::Dead));
        assert!(!h.in_rotation(0));
        assert_eq!(h.sent_while_dead(0), 2);
    }

    #[test]
    fn a_roll_makes_the_next_requests_stale() {
        let h = BackendHealth::new(
            1,
            HealthSettings {
                stale_after_roll: 2,
                ..Default::default()
            },
        );
        h.roll();
        assert_eq!(h.attempt(0), Err(Failure::Stale));
        assert_eq!(h.attempt(0), Err(Failure::Stale));
        assert_eq!(h.attempt(0), Ok(()));
    }
}
