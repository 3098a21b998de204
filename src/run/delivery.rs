//! Delivery so far, as the model folds it from the intervals: the counts the Delivery pane and the live thresholds read.

use crate::stats::delivery::{DeliveryInterval, DeliveryTotals};
use crate::stats::Percentiles;

/// Every interval's delivery counts added up, and the latest interval.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DeliverySoFar {
    pub published: u64,
    pub delivered: u64,
    pub lost: u64,
    pub duplicates: u64,
    pub unknown: u64,
    pub late: u64,
    pub out_of_order: u64,
    /// In transit at the latest interval's end.
    pub in_transit: u64,
    /// The latest interval with deliveries: its end-to-end latency.
    pub recent_latency: Percentiles,
    /// The worst interval p99 so far (the run's exact p99 is in the summary).
    pub worst_p99_ms: f64,
}

impl DeliverySoFar {
    pub fn fold(&mut self, d: &DeliveryInterval) {
        self.published += d.published;
        self.delivered += d.delivered;
        self.lost += d.lost;
        self.duplicates += d.duplicates;
        self.unknown += d.unknown;
        self.late += d.late;
        self.out_of_order += d.out_of_order;
        self.in_transit = d.in_transit;
        if d.latency_ms.count > 0 {
            self.recent_latency = d.latency_ms;
            self.worst_p99_ms = self.worst_p99_ms.max(d.latency_ms.p99);
        }
    }

    /// Percent of decided events (delivered + lost) delivered.
    pub fn delivered_pct(&self) -> Option<f64> {
        let decided = self.delivered + self.lost;
        (decided > 0).then(|| 100.0 * self.delivered as f64 / decided as f64)
    }

    /// The counts as a run's totals, for a summary rebuilt from the run log
    /// (its latency is the worst interval's, not the run's exact one).
    pub fn totals(&self) -> DeliveryTotals {
        DeliveryTotals {
            published: self.published,
            delivered: self.delivered,
            lost: self.lost,
            pending: self.in_transit,
            duplicates: self.duplicates,
            unknown: self.unknown,
            late: self.late,
            out_of_order: self.out_of_order,
            delivered_pct: self.delivered_pct(),
            latency_ms: Percentiles {
                p99: self.worst_p99_ms,
                ..self.recent_latency
            },
            ..DeliveryTotals::default()
        }
    }
}
