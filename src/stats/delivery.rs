//! Delivery statistics: counters, end-to-end latency histograms, and the interval and run records they become.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::stats::Percentiles;

/// Running counts, bumped by publishes, arrivals and sweeps.
#[derive(Debug, Default)]
pub struct Counts {
    pub published: AtomicU64,
    /// Publishes that failed (no 2xx): not expected to arrive.
    pub refused: AtomicU64,
    /// Publishes the correlation table had no room for: not accounted.
    pub untracked: AtomicU64,
    pub arrivals: AtomicU64,
    pub delivered: AtomicU64,
    pub lost: AtomicU64,
    pub duplicates: AtomicU64,
    pub unknown: AtomicU64,
    pub late: AtomicU64,
    pub out_of_order: AtomicU64,
    /// A gauge, set by each sweep.
    pub in_transit: AtomicU64,
}

/// The counts at one moment.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Totals {
    pub published: u64,
    pub refused: u64,
    pub untracked: u64,
    pub arrivals: u64,
    pub delivered: u64,
    pub lost: u64,
    pub duplicates: u64,
    pub unknown: u64,
    pub late: u64,
    pub out_of_order: u64,
    pub in_transit: u64,
}

impl Counts {
    pub fn totals(&self) -> Totals {
        let r = |a: &AtomicU64| a.load(Ordering::Relaxed);
        Totals {
            published: r(&self.published),
            refused: r(&self.refused),
            untracked: r(&self.untracked),
            arrivals: r(&self.arrivals),
            delivered: r(&self.delivered),
            lost: r(&self.lost),
            duplicates: r(&self.duplicates),
            unknown: r(&self.unknown),
            late: r(&self.late),
            out_of_order: r(&self.out_of_order),
            in_transit: r(&self.in_transit),
        }
    }
}

/// End-to-end latency, microseconds: this interval's and the run's.
pub struct Latency {
    interval: Histogram<u64>,
    total: Histogram<u64>,
}

fn histogram() -> Histogram<u64> {
    // 1 us to 1 hour at 3 significant digits: constant bounds hdrhistogram accepts.
    #[allow(clippy::expect_used)]
    Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("constant bounds are valid")
}

impl Latency {
    pub fn new() -> Self {
        Latency {
            interval: histogram(),
            total: histogram(),
        }
    }

    pub fn record(&mut self, d: Duration) {
        let us = (d.as_micros() as u64).max(1);
        self.interval.saturating_record(us);
        self.total.saturating_record(us);
    }

    /// This interval's percentiles (ms); the interval starts over.
    pub fn take_interval(&mut self) -> Percentiles {
        let p = ms(&self.interval);
        self.interval.reset();
        p
    }

    pub fn total(&self) -> Percentiles {
        ms(&self.total)
    }
}

impl Default for Latency {
    fn default() -> Self {
        Latency::new()
    }
}

/// Percentiles in ms of a histogram in us.
fn ms(h: &Histogram<u64>) -> Percentiles {
    if h.is_empty() {
        return Percentiles::default();
    }
    let q = |p: f64| h.value_at_quantile(p) as f64 / 1000.0;
    Percentiles {
        p50: q(0.5),
        p90: q(0.9),
        p95: q(0.95),
        p99: q(0.99),
        p999: q(0.999),
        max: h.max() as f64 / 1000.0,
        mean: h.mean() / 1000.0,
        count: h.len(),
    }
}

/// One interval of delivery (run.jsonl's `delivery` in each interval).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DeliveryInterval {
    pub published: u64,
    pub delivered: u64,
    pub lost: u64,
    pub duplicates: u64,
    pub unknown: u64,
    pub late: u64,
    pub out_of_order: u64,
    /// Published, not delivered, not past the deadline, at the interval's end.
    pub in_transit: u64,
    /// End-to-end latency (publish sent to delivery arrived) of this interval's deliveries, ms.
    pub latency_ms: Percentiles,
}

impl DeliveryInterval {
    pub fn between(a: &Totals, b: &Totals, latency_ms: Percentiles) -> Self {
        DeliveryInterval {
            published: b.published.saturating_sub(a.published),
            delivered: b.delivered.saturating_sub(a.delivered),
            lost: b.lost.saturating_sub(a.lost),
            duplicates: b.duplicates.saturating_sub(a.duplicates),
            unknown: b.unknown.saturating_sub(a.unknown),
            late: b.late.saturating_sub(a.late),
            out_of_order: b.out_of_order.saturating_sub(a.out_of_order),
            in_transit: b.in_transit,
            latency_ms,
        }
    }
}

/// The run's delivery accounting (`summary.json` `delivery`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DeliveryTotals {
    /// The sink's URL (`{{delivery.url}}`).
    pub sink: String,
    pub deadline_s: f64,
    /// Publishes sent whose request succeeded (or got no answer yet).
    pub published: u64,
    /// Publishes that failed: never accepted, so not expected.
    pub refused: u64,
    /// Publishes the correlation table had no room for (not accounted).
    pub untracked: u64,
    pub arrivals: u64,
    pub delivered: u64,
    /// Not arrived by the deadline.
    pub lost: u64,
    /// In transit when the run stopped, within their deadline: not lost.
    pub pending: u64,
    /// Copies beyond `expect_copies`.
    pub duplicates: u64,
    /// Arrivals with an id never published (or forgotten: older than twice the deadline).
    pub unknown: u64,
    /// Copies that arrived after their event's deadline (it stays lost).
    pub late: u64,
    /// Deliveries of an event published before one already delivered.
    pub out_of_order: u64,
    /// Percent of decided events (delivered + lost) that were delivered.
    pub delivered_pct: Option<f64>,
    /// Deliveries per second over the run (set by the summary).
    pub delivery_rate: f64,
    pub latency_ms: Percentiles,
}

impl DeliveryTotals {
    pub fn new(t: &Totals, latency_ms: Percentiles, sink: String, deadline: Duration) -> Self {
        let decided = t.delivered + t.lost;
        DeliveryTotals {
            sink,
            deadline_s: deadline.as_secs_f64(),
            published: t.published,
            refused: t.refused,
            untracked: t.untracked,
            arrivals: t.arrivals,
            delivered: t.delivered,
            lost: t.lost,
            pending: t.in_transit,
            duplicates: t.duplicates,
            unknown: t.unknown,
            late: t.late,
            out_of_order: t.out_of_order,
            delivered_pct: (decided > 0).then(|| 100.0 * t.delivered as f64 / decided as f64),
            delivery_rate: 0.0,
            latency_ms,
        }
    }
}
