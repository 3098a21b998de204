//! Percentile summaries of histograms, and the per-interval and cumulative snapshots built from them.

use std::time::Duration;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use super::{ErrorKind, Measurements};

/// Latency percentiles in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Percentiles {
    pub p50: f64,
    pub p90: f64,
    pub p95: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
    pub mean: f64,
    pub count: u64,
}

impl Percentiles {
    pub fn of(h: &Histogram<u64>) -> Self {
        if h.is_empty() {
            return Percentiles::default();
        }
        let ms = |us: u64| us as f64 / 1000.0;
        Percentiles {
            p50: ms(h.value_at_quantile(0.50)),
            p90: ms(h.value_at_quantile(0.90)),
            p95: ms(h.value_at_quantile(0.95)),
            p99: ms(h.value_at_quantile(0.99)),
            p999: ms(h.value_at_quantile(0.999)),
            max: ms(h.max()),
            mean: h.mean() / 1000.0,
            count: h.len(),
        }
    }
}

/// Run state as the views show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunState {
    Running,
    Paused,
    Stopping,
    Finished,
}

impl RunState {
    pub fn label(self) -> &'static str {
        match self {
            RunState::Running => "RUNNING",
            RunState::Paused => "PAUSED",
            RunState::Stopping => "STOPPING",
            RunState::Finished => "FINISHED",
        }
    }
}

/// One interval (default 250 ms) of a run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IntervalStats {
    pub index: u64,
    /// Wall time since the run started, at the end of the interval.
    #[serde(
        rename = "elapsed_s",
        serialize_with = "secs",
        deserialize_with = "de_secs"
    )]
    pub elapsed: Duration,
    /// Run clock (pauses excluded) at the end of the interval.
    #[serde(
        rename = "run_clock_s",
        serialize_with = "secs",
        deserialize_with = "de_secs"
    )]
    pub run_clock: Duration,
    #[serde(
        rename = "len_s",
        serialize_with = "secs",
        deserialize_with = "de_secs"
    )]
    pub len: Duration,
    pub warmup: bool,
    /// The part of the interval inside the measured window (after warmup,
    /// before sending stopped): the achieved rate is `started` over the
    /// sum of these, live and at the end alike.
    #[serde(
        default,
        rename = "measured_s",
        serialize_with = "secs",
        deserialize_with = "de_secs"
    )]
    pub measured: Duration,
    pub state: RunState,
    pub stage: usize,
    /// Target level in force at the end of the interval (req/s or concurrency;
    /// while paused, the level the run resumes at; 0 once the schedule is over).
    pub target: f64,
    /// The level was set by hand and holds until the stage ends.
    pub manual: bool,
    /// Requests sent in the interval (warmup or not).
    #[serde(rename = "sent", alias = "started")]
    pub sent: u64,
    /// Requests that finished in it: responses of any status, and failures.
    #[serde(rename = "finished", alias = "completed")]
    pub finished: u64,
    pub ok: u64,
    pub in_flight: u64,
    /// Open loop: scheduled requests overdue (by more than 10 ms) and not
    /// yet sent at the interval's end, because every connection was busy or
    /// rampdeck was out of CPU.
    #[serde(default)]
    pub behind: u64,
    /// Open loop: slots the whole schedule made due in the interval (an
    /// agent's coordinator compares the agents' merged sends with it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due: Option<f64>,
    /// A distributed run's merged send rate fell short of the schedule in
    /// this interval (an agent was lost, or the agents could not keep up).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub under_supplied: bool,
    /// rampdeck's own CPU over the interval, in percent of the cores it may
    /// run on (100 = all of them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_percent: Option<f64>,
    /// rampdeck's CPU was saturated while the schedule fell behind: the
    /// generator, not the target, was the limit.
    #[serde(default)]
    pub generator_limited: bool,
    /// Successful responses only (corrected, service time).
    pub latency: Percentiles,
    pub service: Percentiles,
    /// Failed responses' corrected latency; transport errors' time to the error.
    #[serde(default)]
    pub failed_latency: Percentiles,
    #[serde(default)]
    pub error_latency: Percentiles,
    pub status: Vec<(u16, u64)>,
    pub errors: Vec<(ErrorKind, u64)>,
    /// Responses that failed their request's checks, by request index.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub checks: Vec<(u16, u64)>,
    /// Requests that finished, by request index and outcome (status or
    /// error kind): what the metrics endpoint labels by request name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub by_request: Vec<(u16, super::Outcome, u64)>,
    /// `[delivery]`: the interval's deliveries (taken when it closed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery: Option<crate::stats::delivery::DeliveryInterval>,
    /// `mode = "connections"`: the interval's connection numbers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connections: Option<crate::stats::connections::ConnReport>,
    /// The level epochs that began in this interval (`stats::epochs`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub epochs_begun: Vec<crate::stats::epochs::EpochMeta>,
}

impl IntervalStats {
    pub fn secs(&self) -> f64 {
        self.len.as_secs_f64().max(1e-9)
    }
    /// Requests sent per second (what the generator achieved).
    pub fn sent_rate(&self) -> f64 {
        self.sent as f64 / self.secs()
    }
    /// Responses (or failures) per second.
    pub fn done_rate(&self) -> f64 {
        self.finished as f64 / self.secs()
    }
    pub fn failed(&self) -> u64 {
        // A corrupt log or a buggy agent may say ok > finished: never wrap.
        self.finished.saturating_sub(self.ok)
    }
}

/// Durations in logs and reports are plain seconds.
pub fn secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

pub fn de_secs<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let v = <f64 as serde::Deserialize>::deserialize(d)?;
    Duration::try_from_secs_f64(v).map_err(serde::de::Error::custom)
}

pub fn opt_secs<S: serde::Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => s.serialize_some(&d.as_secs_f64()),
        None => s.serialize_none(),
    }
}

pub fn de_opt_secs<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    <Option<f64> as serde::Deserialize>::deserialize(d)?
        .map(|v| Duration::try_from_secs_f64(v).map_err(serde::de::Error::custom))
        .transpose()
}

/// Everything after warmup so far.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TotalsSummary {
    pub requests: u64,
    pub ok: u64,
    /// Successful responses only.
    pub latency: Percentiles,
    pub service: Percentiles,
    pub failed_latency: Percentiles,
    pub error_latency: Percentiles,
    /// Failed responses and transport errors together (`failed_*` thresholds).
    pub failures: Percentiles,
    pub status: Vec<(u16, u64)>,
    pub errors: Vec<(ErrorKind, u64)>,
}

impl TotalsSummary {
    pub fn of(c: &Measurements) -> Self {
        let mut failures = c.failed_latency.clone();
        let _ = failures.add(&c.error_latency);
        TotalsSummary {
            requests: c.finished,
            ok: c.ok,
            latency: Percentiles::of(&c.latency),
            service: Percentiles::of(&c.service),
            failed_latency: Percentiles::of(&c.failed_latency),
            error_latency: Percentiles::of(&c.error_latency),
            failures: Percentiles::of(&failures),
            status: c.status_list(),
            errors: c.error_list(),
        }
    }

    pub fn success_rate(&self) -> Option<f64> {
        (self.requests > 0).then(|| 100.0 * self.ok as f64 / self.requests as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::{Outcome, Sent};

    #[test]
    fn percentiles_of_known_values() {
        let mut c = Measurements::default();
        for ms in 1..=1000u64 {
            c.record(
                Duration::from_millis(ms),
                Duration::from_millis(1),
                Outcome::Status(200),
                Sent::at(Duration::from_millis(7), 0),
                String::new,
            );
        }
        let p = Percentiles::of(&c.latency);
        // 3 significant digits: within 0.1% of the exact value.
        let close = |a: f64, b: f64| (a - b).abs() <= b * 0.001 + 0.001;
        assert!(close(p.p50, 500.0), "{p:?}");
        assert!(close(p.p99, 990.0), "{p:?}");
        assert!(close(p.p999, 999.0), "{p:?}");
        assert!(close(p.max, 1000.0), "{p:?}");
        assert_eq!(p.count, 1000);
        assert_eq!(
            Percentiles::of(&Measurements::default().latency),
            Percentiles::default()
        );
    }
}
