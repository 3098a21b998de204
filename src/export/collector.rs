//! The scrape: the run model, encoded as OpenMetrics families at the moment Prometheus asks.
//!
//! Counters are the run's totals after warmup (what summary.json counts), so
//! `rate()` over a scrape window and the summary's rates agree; `sent` and
//! the gauges include warmup. Histograms come from the model's exact HDR
//! histograms, put into latency buckets at each scrape.

use std::fmt;
use std::sync::{Arc, Mutex};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Unit;

use super::buckets::{self, Buckets, LATENCY_BOUNDS_S};
use super::Names;
use crate::routes::Phase;
use crate::run::RunModel;
use crate::stats::summary::RunState;
use crate::stats::Outcome;

type Labels = Vec<(&'static str, String)>;

#[derive(Debug)]
pub struct RunCollector {
    names: Names,
    model: Arc<Mutex<RunModel>>,
}

impl RunCollector {
    pub fn new(names: Names, model: Arc<Mutex<RunModel>>) -> Self {
        RunCollector { names, model }
    }
}

impl Collector for RunCollector {
    fn encode(&self, mut e: DescriptorEncoder) -> fmt::Result {
        // A poisoned lock still holds a consistent model (every write is one fold).
        let m = self.model.lock().unwrap_or_else(|p| p.into_inner());
        requests(&mut e, &self.names, &m)?;
        pace(&mut e, &self.names, &m)?;
        let c = m.cumulative();
        histogram(
            &mut e,
            "latency",
            "Successful responses' latency from the intended send time (coordinated omission corrected), after warmup",
            vec![(Vec::new(), buckets::of(&c.latency, &LATENCY_BOUNDS_S))],
        )?;
        histogram(
            &mut e,
            "service_time",
            "Successful responses' latency from the actual send time (service time), after warmup",
            vec![(Vec::new(), buckets::of(&c.service, &LATENCY_BOUNDS_S))],
        )?;
        probes(&mut e, &m)?;
        routes(&mut e, &m)?;
        agents(&mut e, &m)?;
        Ok(())
    }
}

fn family<T>(
    e: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    unit: Option<&Unit>,
    kind: MetricType,
    rows: Vec<(Labels, T)>,
    mut put: impl FnMut(&mut prometheus_client::encoding::MetricEncoder, &T) -> fmt::Result,
) -> fmt::Result {
    let mut m = e.encode_descriptor(name, help, unit, kind)?;
    for (labels, v) in &rows {
        let mut f = m.encode_family(labels)?;
        put(&mut f, v)?;
    }
    Ok(())
}

fn counters(
    e: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    rows: Vec<(Labels, u64)>,
) -> fmt::Result {
    family(e, name, help, None, MetricType::Counter, rows, |f, v| {
        f.encode_counter::<NoLabelSet, u64, u64>(v, None)
    })
}

fn gauges(
    e: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    unit: Option<&Unit>,
    rows: Vec<(Labels, f64)>,
) -> fmt::Result {
    family(e, name, help, unit, MetricType::Gauge, rows, |f, v| {
        f.encode_gauge(v)
    })
}

fn gauge(e: &mut DescriptorEncoder, name: &str, help: &str, v: f64) -> fmt::Result {
    gauges(e, name, help, None, vec![(Vec::new(), v)])
}

fn histogram(
    e: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    rows: Vec<(Labels, Buckets)>,
) -> fmt::Result {
    family(
        e,
        name,
        help,
        Some(&Unit::Seconds),
        MetricType::Histogram,
        rows,
        |f, b| f.encode_histogram::<NoLabelSet>(b.sum_s, b.count, &b.counts, None),
    )
}

fn outcome_label(o: Outcome) -> String {
    match o {
        Outcome::Status(s) => s.to_string(),
        Outcome::Error(k) => k.name().to_owned(),
    }
}

fn requests(e: &mut DescriptorEncoder, names: &Names, m: &RunModel) -> fmt::Result {
    let c = m.cumulative();
    let by_request = c
        .request_list()
        .into_iter()
        .map(|(r, o, n)| {
            let request = names
                .requests
                .get(r as usize)
                .cloned()
                .unwrap_or_else(|| format!("request-{r}"));
            (vec![("request", request), ("outcome", outcome_label(o))], n)
        })
        .collect();
    counters(
        e,
        "requests",
        "Requests finished after warmup, by request name and outcome (HTTP status, or error kind for failures without one)",
        by_request,
    )?;
    counters(
        e,
        "responses_ok",
        "Successful responses after warmup (1xx-3xx that passed their checks)",
        vec![(Vec::new(), c.ok)],
    )?;
    counters(
        e,
        "errors",
        "Failed requests after warmup, by kind (http_503, timeout, connect_refused, check, ...)",
        c.errors_by_name()
            .into_iter()
            .map(|(k, n)| (vec![("kind", k)], n))
            .collect(),
    )?;
    counters(
        e,
        "sent",
        "Requests sent, warmup included",
        vec![(Vec::new(), m.sent_total)],
    )
}

fn pace(e: &mut DescriptorEncoder, names: &Names, m: &RunModel) -> fmt::Result {
    let last = m.last();
    gauges(
        e,
        "target_level",
        "The level in force: requests per second (open loop), requests in flight (closed loop) or connections",
        None,
        vec![(vec![("unit", names.level_unit.to_owned())], m.level)],
    )?;
    let of = |f: fn(&crate::stats::IntervalStats) -> f64| last.map_or(0.0, f);
    gauge(
        e,
        "achieved_rate",
        "Requests sent per second in the latest interval",
        of(|i| i.sent_rate()),
    )?;
    gauge(
        e,
        "completed_rate",
        "Requests finished per second in the latest interval",
        of(|i| i.done_rate()),
    )?;
    gauge(
        e,
        "in_flight",
        "Requests sent and not yet finished",
        of(|i| i.in_flight as f64),
    )?;
    gauge(
        e,
        "behind",
        "Open loop: scheduled requests overdue and not yet sent (the generator or its connections are the limit)",
        of(|i| i.behind as f64),
    )?;
    gauge(
        e,
        "generator_cpu_ratio",
        "rampdeck's own CPU in the latest interval, as a share of the cores it may use",
        of(|i| i.cpu_percent.unwrap_or(0.0) / 100.0),
    )?;
    gauge(
        e,
        "generator_limited",
        "1 while rampdeck's CPU, not the target, limits the load",
        of(|i| f64::from(u8::from(i.generator_limited))),
    )?;
    gauge(
        e,
        "warmup",
        "1 during warmup (the counters start after it)",
        of(|i| f64::from(u8::from(i.warmup))),
    )?;
    let states = [
        RunState::Running,
        RunState::Paused,
        RunState::Stopping,
        RunState::Finished,
    ];
    gauges(
        e,
        "run_state",
        "1 for the run's state now",
        None,
        states
            .into_iter()
            .map(|s| {
                let on = f64::from(u8::from(s == m.state));
                (vec![("state", s.label().to_ascii_lowercase())], on)
            })
            .collect(),
    )
}

fn probes(e: &mut DescriptorEncoder, m: &RunModel) -> fmt::Result {
    let labels = |name: &str, kind: crate::probes::ProbeKind| -> Labels {
        let kind = match kind {
            crate::probes::ProbeKind::Stat => "stat",
            crate::probes::ProbeKind::Http => "http",
        };
        vec![("probe", name.to_owned()), ("kind", kind.to_owned())]
    };
    histogram(
        e,
        "probe_duration",
        "How long each stat command or HTTP probe run took",
        m.probes
            .iter()
            .map(|p| {
                (
                    labels(&p.name, p.kind),
                    buckets::of(&p.durations, &LATENCY_BOUNDS_S),
                )
            })
            .collect(),
    )?;
    counters(
        e,
        "probe_failures",
        "Probe runs that failed or timed out",
        m.probes
            .iter()
            .map(|p| (labels(&p.name, p.kind), p.failures + p.timeouts))
            .collect(),
    )?;
    let last = |s: &crate::stats::Series<(f64, f64)>| s.last().map(|x| x.1);
    gauges(
        e,
        "component_cpu",
        "A control-plane component's CPU, cores (its latest reading)",
        None,
        m.components
            .iter()
            .filter_map(|c| Some((vec![("component", c.name.clone())], last(&c.cpu)?)))
            .collect(),
    )?;
    gauges(
        e,
        "component_memory",
        "A control-plane component's memory (its latest reading)",
        Some(&Unit::Bytes),
        m.components
            .iter()
            .filter_map(|c| Some((vec![("component", c.name.clone())], last(&c.memory)?)))
            .collect(),
    )
}

fn routes(e: &mut DescriptorEncoder, m: &RunModel) -> fmt::Result {
    let records = &m.routes.records;
    let mut firings: Vec<(Labels, u64)> = Vec::new();
    for r in records {
        let result = match r.phase {
            Phase::Failed => "failed",
            Phase::Fired => "pending",
            Phase::Applied | Phase::Propagated => "ok",
        };
        let labels = vec![("action", r.action.clone()), ("result", result.to_owned())];
        match firings.iter_mut().find(|(l, _)| *l == labels) {
            Some((_, n)) => *n += 1,
            None => firings.push((labels, 1)),
        }
    }
    counters(
        e,
        "route_action_firings",
        "Route action firings, by action and result",
        firings,
    )?;
    // The latest firing of each action that has the figure.
    let latest = |f: fn(&crate::routes::ActionRecord) -> Option<f64>| -> Vec<(Labels, f64)> {
        let mut rows: Vec<(Labels, f64)> = Vec::new();
        for r in records {
            if let Some(ms) = f(r) {
                let labels = vec![("action", r.action.clone())];
                rows.retain(|(l, _)| *l != labels);
                rows.push((labels, ms / 1000.0));
            }
        }
        rows
    };
    let seconds = Some(&Unit::Seconds);
    gauges(
        e,
        "route_action_apply",
        "The latest firing's apply time (request sent to the API answering)",
        seconds,
        latest(|r| r.apply_ms),
    )?;
    gauges(
        e,
        "route_action_control_plane",
        "The latest firing's control-plane propagation (applied to status Accepted and ResolvedRefs at the new generation)",
        seconds,
        latest(|r| r.control_plane_ms),
    )?;
    gauges(
        e,
        "route_action_data_plane",
        "The latest firing's data-plane propagation (applied to the first matching verify response)",
        seconds,
        latest(|r| r.data_plane_ms),
    )?;
    gauges(
        e,
        "route_action_converged",
        "The latest firing's convergence (applied to every wait condition true), kube actions with waits",
        seconds,
        latest(|r| r.converged_ms),
    )?;
    counters(
        e,
        "route_action_drops",
        "Failures of the affected requests charged to route action firings (counted once a firing's drop window has closed)",
        {
            let mut rows: Vec<(Labels, u64)> = Vec::new();
            for r in records {
                let Some(d) = &r.drops else { continue };
                let labels = vec![("action", r.action.clone())];
                match rows.iter_mut().find(|(l, _)| *l == labels) {
                    Some((_, n)) => *n += d.drops,
                    None => rows.push((labels, d.drops)),
                }
            }
            rows
        },
    )
}

fn agents(e: &mut DescriptorEncoder, m: &RunModel) -> fmt::Result {
    // Families without agents are still described, so a dashboard's
    // queries find them (empty) in a run on one machine.
    let rows: &[crate::stats::agents::AgentRow] = m.agents.as_ref().map_or(&[], |a| &a.agents);
    let label = |r: &crate::stats::agents::AgentRow| vec![("agent", r.name.clone())];
    gauges(
        e,
        "agent_up",
        "1 while an agent is connected and reporting (ready or running)",
        None,
        rows.iter()
            .map(|r| {
                use crate::stats::agents::AgentState::*;
                let up = matches!(r.state, Ready | Running);
                (label(r), f64::from(u8::from(up)))
            })
            .collect(),
    )?;
    counters(
        e,
        "agent_sent",
        "Requests an agent sent, warmup included",
        rows.iter().map(|r| (label(r), r.sent)).collect(),
    )?;
    counters(
        e,
        "agent_failed",
        "Failed requests an agent reported after warmup",
        rows.iter().map(|r| (label(r), r.failed)).collect(),
    )?;
    gauges(
        e,
        "agent_send_rate",
        "An agent's send rate in its latest interval, requests per second",
        None,
        rows.iter().map(|r| (label(r), r.sent_rate)).collect(),
    )?;
    gauges(
        e,
        "agent_clock_offset",
        "An agent's wall clock minus the coordinator's",
        Some(&Unit::Seconds),
        rows.iter()
            .map(|r| (label(r), r.clock_offset_ms / 1000.0))
            .collect(),
    )
}
