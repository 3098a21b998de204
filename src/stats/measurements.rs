//! `Measurements`: the successes', failed responses' and transport errors' latency histograms, plus counters by status and error kind.

use std::time::Duration;

use hdrhistogram::Histogram;

use super::epochs::EpochParts;
use super::{new_histogram, ErrorKind, Histograms, Outcome};

/// Status codes are counted by code: hyper accepts 100-999 from the wire,
/// and an odd code (999) is kept as it came so the operator sees it.
pub const STATUS_SLOTS: usize = 1000;

/// The mergeable unit of statistics: a shard, an interval, or a whole run.
#[derive(Debug, Clone)]
pub struct Measurements {
    /// Successful responses, from the intended send time (coordinated-omission corrected).
    pub latency: Histogram<u64>,
    /// Successful responses, from the actual send time.
    pub service: Histogram<u64>,
    /// Failed responses (4xx, 5xx, invalid status), corrected.
    pub failed_latency: Histogram<u64>,
    /// Transport errors, corrected time to the error.
    pub error_latency: Histogram<u64>,
    pub status: Box<[u64; STATUS_SLOTS]>,
    pub errors: [u64; ErrorKind::COUNT],
    pub ok: u64,
    pub finished: u64,
    /// The first message seen per error kind since the last reset.
    pub messages: [Option<String>; ErrorKind::COUNT],
    /// When each failed request was sent, up to `FAILURES_KEPT`: route
    /// actions list the drops around them from these.
    pub failures: Vec<FailureAt>,
    /// Failed checks by request (profile order; grown on the first one).
    pub checks: Vec<u64>,
    /// Finished requests by request index and outcome; a request sees few
    /// outcomes, so each row is a short list searched in order.
    pub by_request: Vec<Vec<(Outcome, u64)>>,
    /// The same requests by level epoch (`stats::epochs`).
    pub epochs: EpochParts,
}

/// Failed requests kept with their send time per shard and per interval.
/// Beyond this the counts stay exact but the per-request list is cut (and
/// says so through `failures_dropped`).
pub const FAILURES_KEPT: usize = 20_000;

/// A finished request's send: when (since the run started, wall time),
/// which of the plan's requests, and the level epoch whose schedule sent it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Sent {
    pub at: Duration,
    pub request: u16,
    pub epoch: u32,
}

impl Sent {
    /// A send of epoch 0 (a run without level changes, or a test).
    pub fn at(at: Duration, request: u16) -> Self {
        Sent {
            at,
            request,
            epoch: 0,
        }
    }
}

/// One failed request: when it was sent (since the run started) and how it failed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FailureAt {
    pub sent: Duration,
    pub outcome: Outcome,
    /// Which of the plan's requests (profile order).
    pub request: u16,
    /// When it ended (sent plus its service time): a request in flight
    /// across a route change is told from one that failed before it.
    pub ended: Duration,
}

impl Default for Measurements {
    fn default() -> Self {
        Measurements {
            latency: new_histogram(),
            service: new_histogram(),
            failed_latency: new_histogram(),
            error_latency: new_histogram(),
            status: Box::new([0; STATUS_SLOTS]),
            errors: [0; ErrorKind::COUNT],
            ok: 0,
            finished: 0,
            messages: Default::default(),
            failures: Vec::new(),
            checks: Vec::new(),
            by_request: Vec::new(),
            epochs: EpochParts::default(),
        }
    }
}

/// Adds `n` requests of `request` that ended as `outcome`.
fn add_outcome(rows: &mut Vec<Vec<(Outcome, u64)>>, request: usize, outcome: Outcome, n: u64) {
    if rows.len() <= request {
        rows.resize_with(request + 1, Vec::new);
    }
    let row = &mut rows[request];
    match row.iter_mut().find(|(o, _)| *o == outcome) {
        Some((_, c)) => *c = c.saturating_add(n),
        None => row.push((outcome, n)),
    }
}

/// Adds per-request check counts into `into`, growing it as needed.
fn add_checks(into: &mut Vec<u64>, from: impl Iterator<Item = (usize, u64)>) {
    for (i, n) in from {
        if n == 0 {
            continue;
        }
        if into.len() <= i {
            into.resize(i + 1, 0);
        }
        into[i] = into[i].saturating_add(n);
    }
}

fn micros(d: Duration) -> u64 {
    // Sub-microsecond values still count as a sample; the histograms grow
    // for large ones (a value past even that saturates rather than panics).
    (d.as_micros().min(u64::MAX as u128) as u64).max(1)
}

/// Records `d`, growing the histogram for a value past its range (only a
/// value past what hdrhistogram can represent at all saturates).
fn record(h: &mut Histogram<u64>, d: Duration) {
    let v = micros(d);
    if h.record(v).is_err() {
        h.saturating_record(v);
    }
}

impl Measurements {
    /// Records one finished request. `message` is only called the first time
    /// an error kind is seen since the last reset, so errors do not allocate.
    #[inline]
    pub fn record(
        &mut self,
        latency: Duration,
        service: Duration,
        outcome: Outcome,
        Sent {
            at: sent,
            request,
            epoch,
        }: Sent,
        message: impl FnOnce() -> String,
    ) {
        if !outcome.is_ok() && self.failures.len() < FAILURES_KEPT {
            self.failures.push(FailureAt {
                sent,
                outcome,
                request,
                ended: sent.saturating_add(service),
            });
        }
        match outcome {
            _ if outcome.is_ok() => {
                record(&mut self.latency, latency);
                record(&mut self.service, service);
                self.epochs
                    .record(epoch, Some((micros(latency), micros(service))));
            }
            // A response that failed a check is a failed response.
            Outcome::Status(_) | Outcome::Error(ErrorKind::Check) => {
                record(&mut self.failed_latency, latency);
                self.epochs.record(epoch, None);
            }
            Outcome::Error(_) => {
                record(&mut self.error_latency, latency);
                self.epochs.record(epoch, None);
            }
        }
        self.finished += 1;
        add_outcome(&mut self.by_request, request as usize, outcome, 1);
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
                if kind == ErrorKind::Check {
                    let i = request as usize;
                    if self.checks.len() <= i {
                        self.checks.resize(i + 1, 0);
                    }
                    self.checks[i] += 1;
                }
                let m = &mut self.messages[kind.index()];
                if m.is_none() {
                    *m = Some(message());
                }
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.finished == 0
    }

    pub fn failed(&self) -> u64 {
        self.finished - self.ok
    }

    pub fn merge(&mut self, other: &Measurements) {
        if other.is_empty() {
            return;
        }
        // The histograms grow as needed, so adding cannot go out of range.
        let _ = self.latency.add(&other.latency);
        let _ = self.service.add(&other.service);
        let _ = self.failed_latency.add(&other.failed_latency);
        let _ = self.error_latency.add(&other.error_latency);
        for (a, b) in self.status.iter_mut().zip(other.status.iter()) {
            *a += b;
        }
        for (a, b) in self.errors.iter_mut().zip(other.errors.iter()) {
            *a += b;
        }
        add_checks(&mut self.checks, other.checks.iter().copied().enumerate());
        for (r, row) in other.by_request.iter().enumerate() {
            for &(o, n) in row {
                add_outcome(&mut self.by_request, r, o, n);
            }
        }
        self.ok += other.ok;
        self.finished += other.finished;
        let room = FAILURES_KEPT.saturating_sub(self.failures.len());
        self.failures
            .extend(other.failures.iter().take(room).copied());
        for (a, b) in self.messages.iter_mut().zip(other.messages.iter()) {
            if a.is_none() {
                a.clone_from(b);
            }
        }
        self.epochs.merge(&other.epochs);
    }

    pub fn reset(&mut self) {
        if self.is_empty() {
            return;
        }
        self.latency.reset();
        self.service.reset();
        self.failed_latency.reset();
        self.error_latency.reset();
        self.status.fill(0);
        self.errors = [0; ErrorKind::COUNT];
        self.ok = 0;
        self.finished = 0;
        self.messages = Default::default();
        self.failures.clear();
        self.checks.fill(0);
        // Rows keep their capacity: no allocation per interval.
        self.by_request.iter_mut().for_each(Vec::clear);
        self.epochs.reset();
    }

    /// Failures by name, as summary.json's `errors` lists them: error kinds
    /// and failing HTTP statuses (`http_503`) together.
    pub fn errors_by_name(&self) -> std::collections::BTreeMap<String, u64> {
        let mut errors: std::collections::BTreeMap<String, u64> = self
            .error_list()
            .into_iter()
            .map(|(k, n)| (k.name().to_owned(), n))
            .collect();
        for (code, n) in self.status_list() {
            if super::is_failure_status(code) {
                *errors.entry(super::http_error_name(code)).or_default() += n;
            }
        }
        errors
    }

    /// Finished requests by request index and outcome.
    pub fn request_list(&self) -> Vec<(u16, Outcome, u64)> {
        self.by_request
            .iter()
            .enumerate()
            .flat_map(|(r, row)| {
                row.iter()
                    .filter(|(_, n)| *n > 0)
                    .map(move |&(o, n)| (r as u16, o, n))
            })
            .collect()
    }

    /// Non-zero failed-check counts, by request index.
    pub fn check_list(&self) -> Vec<(u16, u64)> {
        self.checks
            .iter()
            .enumerate()
            .filter(|(_, &n)| n > 0)
            .map(|(i, &n)| (i as u16, n))
            .collect()
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

    /// Folds in a finished interval: its counters and its histograms.
    /// This is how a model (or a coordinator merging agents) builds totals
    /// from intervals, exactly, without the engine's own.
    pub fn add_interval(&mut self, i: &super::IntervalStats, h: &Histograms) {
        let _ = self.latency.add(&h.latency);
        let _ = self.service.add(&h.service);
        let _ = self.failed_latency.add(&h.failed);
        let _ = self.error_latency.add(&h.errored);
        // The epochs' parts are folded by `stats::epochs::EpochBook`, not here.
        self.finished = self.finished.saturating_add(i.finished);
        self.ok = self.ok.saturating_add(i.ok);
        for &(code, n) in &i.status {
            if let Some(slot) = self.status.get_mut(code as usize) {
                *slot = slot.saturating_add(n);
            }
        }
        for &(kind, n) in &i.errors {
            let c = &mut self.errors[kind.index()];
            *c = c.saturating_add(n);
        }
        add_checks(
            &mut self.checks,
            i.checks.iter().map(|&(r, n)| (r as usize, n)),
        );
        for &(r, o, n) in &i.by_request {
            add_outcome(&mut self.by_request, r as usize, o, n);
        }
    }

    /// A copy of the four histograms (for a snapshot or the run log).
    pub fn histograms(&self) -> Histograms {
        Histograms {
            latency: self.latency.clone(),
            service: self.service.clone(),
            failed: self.failed_latency.clone(),
            errored: self.error_latency.clone(),
            epochs: self.epochs.clone(),
        }
    }

    /// Success rate in percent; None when nothing completed.
    pub fn success_rate(&self) -> Option<f64> {
        (self.finished > 0).then(|| 100.0 * self.ok as f64 / self.finished as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_and_huge_latencies_land_in_their_own_histograms_whole() {
        let mut c = Measurements::default();
        let ms = Duration::from_millis;
        for _ in 0..100 {
            c.record(
                ms(100),
                ms(90),
                Outcome::Status(200),
                Sent::at(ms(1), 0),
                String::new,
            );
        }
        // A fast 503 and a 50 µs refusal do not move the success percentiles.
        for _ in 0..1000 {
            c.record(
                ms(1),
                ms(1),
                Outcome::Status(503),
                Sent::at(ms(1), 0),
                String::new,
            );
            c.record(
                Duration::from_micros(50),
                Duration::from_micros(50),
                Outcome::Error(ErrorKind::ConnectRefused),
                Sent::at(ms(1), 0),
                String::new,
            );
        }
        let p = |h: &Histogram<u64>| crate::stats::Percentiles::of(h);
        assert!(
            (p(&c.latency).p50 - 100.0).abs() < 0.2,
            "{:?}",
            p(&c.latency)
        );
        assert_eq!(p(&c.latency).count, 100);
        assert_eq!(p(&c.failed_latency).count, 1000);
        assert_eq!(p(&c.error_latency).count, 1000);
        assert!(p(&c.error_latency).p99 < 0.06);
        // A 90 s corrected latency is recorded as 90 s, not clipped at 60.
        c.record(
            ms(90_000),
            ms(5),
            Outcome::Status(200),
            Sent::at(ms(1), 0),
            String::new,
        );
        let max = p(&c.latency).max;
        assert!((max - 90_000.0).abs() < 90.0, "{max}");
        let mut total = Measurements::default();
        total.merge(&c);
        assert!((p(&total.latency).max - 90_000.0).abs() < 90.0);
    }

    #[test]
    fn records_and_merges() {
        let mut a = Measurements::default();
        a.record(
            Duration::from_millis(5),
            Duration::from_millis(4),
            Outcome::Status(200),
            Sent::at(Duration::from_millis(7), 0),
            String::new,
        );
        a.record(
            Duration::from_millis(9),
            Duration::from_millis(9),
            Outcome::Status(503),
            Sent::at(Duration::from_millis(7), 0),
            String::new,
        );
        let mut b = Measurements::default();
        b.record(
            Duration::from_secs(1),
            Duration::from_secs(1),
            Outcome::Error(ErrorKind::Reset),
            Sent::at(Duration::from_millis(7), 0),
            || "reset by peer".into(),
        );
        b.record(
            Duration::from_secs(1),
            Duration::from_secs(1),
            Outcome::Error(ErrorKind::Reset),
            Sent::at(Duration::from_millis(7), 0),
            || unreachable!(),
        );
        a.merge(&b);
        assert_eq!((a.finished, a.ok, a.failed()), (4, 1, 3));
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
    fn huge_latency_is_kept_whole() {
        let mut a = Measurements::default();
        a.record(
            Duration::from_secs(600),
            Duration::ZERO,
            Outcome::Status(200),
            Sent::at(Duration::from_millis(7), 0),
            String::new,
        );
        assert_eq!(a.latency.len(), 1);
        // Ten minutes, to 3 significant digits (the histogram grew for it).
        assert!(
            a.latency.max().abs_diff(600_000_000) < 600_000,
            "{}",
            a.latency.max()
        );
        assert_eq!(a.service.max(), 1);
    }
}
