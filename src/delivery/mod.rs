//! Delivery verification: a sink that receives what the system under test delivers, correlated with what the run published, and the accounting of every event.
//!
//! A publish is a request whose template carries `{{delivery.id}}`: when
//! it is sent, its id enters the correlation table (`table`) with its send
//! time. The sink (`sink`) reads the id of each arrival from a header or a
//! JSON pointer and classifies it: delivered (the first accepted copy, or
//! the last of `expect_copies`), a duplicate (a copy beyond those), unknown
//! (an id never published), late (after its deadline). A sweep each
//! interval turns events older than the deadline into lost ones; whatever is
//! in transit when the run stops is pending, not lost. End-to-end latency
//! runs from the publish's send to the arrival, in HDR histograms.

pub mod sink;
pub mod table;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::stats::delivery::{DeliveryInterval, DeliveryTotals};

use crate::spec::delivery::{DeliveryConfig, IdFrom};

#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    #[error("delivery sink: cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// The run's delivery accounting, shared by the engine (publishes), the
/// sink (arrivals) and the supervisor (sweeps, intervals).
pub struct Tracker {
    pub config: DeliveryConfig,
    /// The sink's address as the system under test should call it.
    pub url: std::sync::Arc<str>,
    table: table::Table,
    epoch: Instant,
    counts: crate::stats::delivery::Counts,
    latency: Mutex<crate::stats::delivery::Latency>,
    /// The previous interval's totals, for per-interval counts.
    last: Mutex<crate::stats::delivery::Totals>,
    /// The highest publish seq delivered so far (out-of-order detection).
    highest: AtomicU64,
}

impl Tracker {
    pub fn new(config: DeliveryConfig, url: &str) -> Self {
        Tracker {
            table: table::Table::new(config.capacity),
            config,
            url: url.into(),
            epoch: Instant::now(),
            counts: crate::stats::delivery::Counts::default(),
            latency: Mutex::new(crate::stats::delivery::Latency::new()),
            last: Mutex::new(crate::stats::delivery::Totals::default()),
            highest: AtomicU64::new(0),
        }
    }

    fn ns(&self, at: Instant) -> u64 {
        at.saturating_duration_since(self.epoch).as_nanos() as u64
    }

    /// A publish left at `at` carrying `id`.
    pub fn publish(&self, id: &str, seq: u64, at: Instant) {
        let hash = table::hash_of(id.as_bytes());
        match self.table.publish(hash, seq, self.ns(at)) {
            Ok(()) => self.counts.published.fetch_add(1, Ordering::Relaxed),
            Err(table::Full::Full) => self.counts.untracked.fetch_add(1, Ordering::Relaxed),
        };
    }

    /// The publish carrying `id` failed (no 2xx answer): the system never
    /// accepted it, so it is not expected at the sink.
    pub fn publish_failed(&self, id: &str) {
        if self.table.withdraw(table::hash_of(id.as_bytes())) {
            self.counts.published.fetch_sub(1, Ordering::Relaxed);
            self.counts.refused.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// A copy of `id` arrived at `at`; `accepted`: the sink answered 2xx.
    pub fn arrive(&self, id: &[u8], accepted: bool, at: Instant) {
        let now = self.ns(at);
        let expect = self.config.expect_copies;
        let outcome = self.table.arrive(table::hash_of(id), |e| {
            e.copies = e.copies.saturating_add(1);
            let was = e.state;
            if accepted {
                e.accepted = e.accepted.saturating_add(1);
            }
            let done = e.state == table::State::InTransit && u32::from(e.accepted) >= expect;
            if done {
                e.state = table::State::Delivered;
            }
            (
                was,
                done,
                u32::from(e.copies) > expect,
                e.seq,
                now.saturating_sub(e.sent_ns),
            )
        });
        let c = &self.counts;
        c.arrivals.fetch_add(1, Ordering::Relaxed);
        let Some((was, done, extra, seq, latency_ns)) = outcome else {
            c.unknown.fetch_add(1, Ordering::Relaxed);
            return;
        };
        if extra {
            c.duplicates.fetch_add(1, Ordering::Relaxed);
        }
        if was == table::State::Lost {
            c.late.fetch_add(1, Ordering::Relaxed);
            return;
        }
        if done {
            c.delivered.fetch_add(1, Ordering::Relaxed);
            if self.highest.fetch_max(seq, Ordering::Relaxed) > seq {
                c.out_of_order.fetch_add(1, Ordering::Relaxed);
            }
            if let Ok(mut l) = self.latency.lock() {
                l.record(Duration::from_nanos(latency_ns));
            }
        }
    }

    /// Marks what passed its deadline as lost and forgets what is older
    /// than twice the deadline; returns how many are still in transit.
    pub fn sweep(&self, now: Instant) -> u64 {
        let deadline = self.config.deadline.as_nanos() as u64;
        let swept = self
            .table
            .sweep(self.ns(now), deadline, deadline.saturating_mul(2));
        self.counts.lost.fetch_add(swept.lost, Ordering::Relaxed);
        self.counts
            .in_transit
            .store(swept.in_transit, Ordering::Relaxed);
        swept.in_transit
    }

    /// Sweeps, and takes the interval's counts and latency.
    pub fn interval(&self, now: Instant) -> DeliveryInterval {
        self.sweep(now);
        let totals = self.counts.totals();
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        let latency = self
            .latency
            .lock()
            .map(|mut l| l.take_interval())
            .unwrap_or_default();
        let d = DeliveryInterval::between(&last, &totals, latency);
        *last = totals;
        d
    }

    /// Everything so far, with the run's end-to-end latency; what is in
    /// transit now is pending.
    pub fn totals(&self) -> DeliveryTotals {
        let t = self.counts.totals();
        let latency = self.latency.lock().map(|l| l.total()).unwrap_or_default();
        DeliveryTotals::new(&t, latency, self.url.to_string(), self.config.deadline)
    }
}

/// A started sink and the tracker it fills.
pub struct Delivery {
    pub tracker: std::sync::Arc<Tracker>,
    sink: sink::Sink,
}

impl Delivery {
    /// Binds the sink and serves it on the current runtime.
    pub async fn start(config: &DeliveryConfig) -> Result<Delivery, DeliveryError> {
        let (listener, addr) = sink::Sink::bind(config.listen).await?;
        let tracker = std::sync::Arc::new(Tracker::new(config.clone(), &format!("http://{addr}")));
        let sink = sink::Sink::serve(listener, tracker.clone());
        Ok(Delivery { tracker, sink })
    }

    pub fn url(&self) -> &str {
        &self.tracker.url
    }

    /// Stops the sink (after the run's last interval).
    pub async fn stop(self) {
        self.sink.stop().await;
    }
}

/// Room for what a run can have in flight: twice the deadline at the peak
/// rate (a copy is recognised that long), with a margin; closed loop has no
/// known rate, so it gets room for 1,000,000.
pub fn default_capacity(peak_rate: Option<f64>, deadline: Duration) -> usize {
    match peak_rate {
        // Saturates (as usize) for absurd inputs; the profile refuses past its cap.
        Some(r) => ((r * (2.0 * deadline.as_secs_f64() + 2.0) * 1.25).ceil() as usize).max(4096),
        None => 1_000_000,
    }
}
