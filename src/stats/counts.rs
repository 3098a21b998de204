//! `Counts`: histograms of corrected latency and service time, plus counters by status and error kind.

use std::time::Duration;

use hdrhistogram::Histogram;

use super::{new_histogram, ErrorKind, Outcome, HIST_HIGH_US};

/// Status codes are counted by code: hyper accepts 100-999 from the wire,
/// and an odd code (999) is kept as it came so the operator sees it.
pub const STATUS_SLOTS: usize = 1000;

/// The mergeable unit of statistics: a shard, an interval, or a whole run.
#[derive(Debug, Clone)]
pub struct Counts {
    /// From the intended send time (coordinated-omission corrected).
    pub latency: Histogram<u64>,
    /// From the actual send time.
    pub service: Histogram<u64>,
    pub status: Box<[u64; STATUS_SLOTS]>,
    pub errors: [u64; ErrorKind::COUNT],
    pub ok: u64,
    pub completed: u64,
    /// The first message seen per error kind since the last reset.
    pub messages: [Option<String>; ErrorKind::COUNT],
    /// When each failed request was sent, up to `FAILURES_KEPT`: route
    /// actions list the drops around them from these.
    pub failures: Vec<FailureAt>,
}

/// Failed requests kept with their send time per shard and per interval.
/// Beyond this the counts stay exact but the per-request list is cut (and
/// says so through `failures_dropped`).
pub const FAILURES_KEPT: usize = 20_000;

/// One failed request: when it was sent (since the run started) and how it failed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FailureAt {
    pub sent: Duration,
    pub outcome: Outcome,
    /// Which of the plan's requests (profile order).
    pub request: u16,
}

impl Default for Counts {
    fn default() -> Self {
        Counts {
            latency: new_histogram(),
            service: new_histogram(),
            status: Box::new([0; STATUS_SLOTS]),
            errors: [0; ErrorKind::COUNT],
            ok: 0,
            completed: 0,
            messages: Default::default(),
            failures: Vec::new(),
        }
    }
}

fn micros(d: Duration) -> u64 {
    // Sub-microsecond values still count as a sample; beyond 60 s they saturate.
    (d.as_micros() as u64).clamp(1, HIST_HIGH_US)
}

impl Counts {
    /// Records one finished request. `message` is only called the first time
    /// an error kind is seen since the last reset, so errors do not allocate.
    #[inline]
    pub fn record(
        &mut self,
        latency: Duration,
        service: Duration,
        outcome: Outcome,
        (sent, request): (Duration, u16),
        message: impl FnOnce() -> String,
    ) {
        if !outcome.is_ok() && self.failures.len() < FAILURES_KEPT {
            self.failures.push(FailureAt {
                sent,
                outcome,
                request,
            });
        }
        self.latency.saturating_record(micros(latency));
        self.service.saturating_record(micros(service));
        self.completed += 1;
        match outcome {
            Outcome::Status(code) => {
                let slot = if (code as usize) < STATUS_SLOTS {
                    code as usize
                } else {
                    0
                };
                self.status[slot] += 1;
                if outcome.is_ok() {
                    self.ok += 1;
                }
            }
            Outcome::Error(kind) => {
                self.errors[kind.index()] += 1;
                let m = &mut self.messages[kind.index()];
                if m.is_none() {
                    *m = Some(message());
                }
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.completed == 0
    }

    pub fn failed(&self) -> u64 {
        self.completed - self.ok
    }

    pub fn merge(&mut self, other: &Counts) {
        if other.is_empty() {
            return;
        }
        // Both histograms share bounds, so adding cannot go out of range.
        let _ = self.latency.add(&other.latency);
        let _ = self.service.add(&other.service);
        for (a, b) in self.status.iter_mut().zip(other.status.iter()) {
            *a += b;
        }
        for (a, b) in self.errors.iter_mut().zip(other.errors.iter()) {
            *a += b;
        }
        self.ok += other.ok;
        self.completed += other.completed;
        let room = FAILURES_KEPT.saturating_sub(self.failures.len());
        self.failures
            .extend(other.failures.iter().take(room).copied());
        for (a, b) in self.messages.iter_mut().zip(other.messages.iter()) {
            if a.is_none() {
                a.clone_from(b);
            }
        }
    }

    pub fn reset(&mut self) {
        if self.is_empty() {
            return;
        }
        self.latency.reset();
        self.service.reset();
        self.status.fill(0);
        self.errors = [0; ErrorKind::COUNT];
        self.ok = 0;
        self.completed = 0;
        self.messages = Default::default();
        self.failures.clear();
    }

    /// Non-zero status counts, by code.
    pub fn status_list(&self) -> Vec<(u16, u64)> {
        self.status
            .iter()
            .enumerate()
            .filter(|(_, &n)| n > 0)
            .map(|(code, &n)| (code as u16, n))
            .collect()
    }

    /// Non-zero transport error counts.
    pub fn error_list(&self) -> Vec<(ErrorKind, u64)> {
        ErrorKind::ALL
            .iter()
            .map(|&k| (k, self.errors[k.index()]))
            .filter(|&(_, n)| n > 0)
            .collect()
    }

    /// Success rate in percent; None when nothing completed.
    pub fn success_rate(&self) -> Option<f64> {
        (self.completed > 0).then(|| 100.0 * self.ok as f64 / self.completed as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_and_merges() {
        let mut a = Counts::default();
        a.record(
            Duration::from_millis(5),
            Duration::from_millis(4),
            Outcome::Status(200),
            (Duration::from_millis(7), 0),
            String::new,
        );
        a.record(
            Duration::from_millis(9),
            Duration::from_millis(9),
            Outcome::Status(503),
            (Duration::from_millis(7), 0),
            String::new,
        );
        let mut b = Counts::default();
        b.record(
            Duration::from_secs(1),
            Duration::from_secs(1),
            Outcome::Error(ErrorKind::Reset),
            (Duration::from_millis(7), 0),
            || "reset by peer".into(),
        );
        b.record(
            Duration::from_secs(1),
            Duration::from_secs(1),
            Outcome::Error(ErrorKind::Reset),
            (Duration::from_millis(7), 0),
            || unreachable!(),
        );
        a.merge(&b);
        assert_eq!((a.completed, a.ok, a.failed()), (4, 1, 3));
        assert_eq!(a.status_list(), vec![(200, 1), (503, 1)]);
        assert_eq!(a.error_list(), vec![(ErrorKind::Reset, 2)]);
        assert_eq!(
            a.messages[ErrorKind::Reset.index()].as_deref(),
            Some("reset by peer")
        );
        assert_eq!(a.success_rate(), Some(25.0));
        // Every failure keeps its send time; successes are not listed.
        assert_eq!(a.failures.len(), 3);
        assert_eq!(a.failures[0].outcome, Outcome::Status(503));
        assert_eq!(a.failures[0].sent, Duration::from_millis(7));
        a.reset();
        assert!(a.is_empty() && a.latency.is_empty() && a.messages.iter().all(Option::is_none));
        assert!(a.failures.is_empty());
    }

    #[test]
    fn huge_latency_saturates_instead_of_vanishing() {
        let mut a = Counts::default();
        a.record(
            Duration::from_secs(600),
            Duration::ZERO,
            Outcome::Status(200),
            (Duration::from_millis(7), 0),
            String::new,
        );
        assert_eq!(a.latency.len(), 1);
        assert!(a.latency.max() >= HIST_HIGH_US - HIST_HIGH_US / 1000);
        assert_eq!(a.service.max(), 1);
    }
}
