//! `[thresholds]`: pass/fail criteria, each naming a metric the plan can measure.

use toml::Spanned;

use super::error::{ProfileError, Source};
use super::schema::*;
use crate::spec::plan::Mode;

pub(super) fn thresholds(
    src: &Source,
    raw: RawThresholds,
    probes: &crate::spec::probes::ProbesConfig,
    mode: Mode,
    delivery: bool,
    stages: &[crate::spec::plan::Stage],
) -> Result<Vec<crate::spec::thresholds::Threshold>, ProfileError> {
    use crate::spec::thresholds::{parse, Bound, Metric, Pct, Scope};
    let mut out = Vec::new();
    let mut add = |name: String,
                   metric: Metric,
                   text: Option<Spanned<String>>|
     -> Result<(), ProfileError> {
        if let Some(text) = text {
            let t = parse(&name, metric, text.get_ref())
                .map_err(|m| src.at(text.span(), format!("thresholds.{name}: {m}")))?;
            if mode == Mode::Closed && matches!(t.bound, Bound::OfTarget(_)) {
                return Err(src.at(text.span(), format!("thresholds.{name}: '% of target' compares with the target rate of an open-loop run; a closed loop has none, so give a rate, e.g. \">= 950\"")));
            }
            out.push(t);
        }
        Ok(())
    };
    let latency = [
        ("p50", Pct::P50, raw.p50, raw.service_p50, raw.failed_p50),
        ("p90", Pct::P90, raw.p90, raw.service_p90, raw.failed_p90),
        ("p95", Pct::P95, raw.p95, raw.service_p95, raw.failed_p95),
        ("p99", Pct::P99, raw.p99, raw.service_p99, raw.failed_p99),
        (
            "p999",
            Pct::P999,
            raw.p999,
            raw.service_p999,
            raw.failed_p999,
        ),
        ("max", Pct::Max, raw.max, raw.service_max, raw.failed_max),
    ];
    for (name, pct, corrected, service, failed) in latency {
        add(name.into(), Metric::Latency(pct), corrected)?;
        add(format!("service_{name}"), Metric::Service(pct), service)?;
        add(format!("failed_{name}"), Metric::Failed(pct), failed)?;
    }
    add("mean".into(), Metric::Latency(Pct::Mean), raw.mean)?;
    add("success_rate".into(), Metric::SuccessRate, raw.success_rate)?;
    add("rps".into(), Metric::Rps, raw.rps)?;
    let delivery_thresholds = [
        ("delivery_rate", Metric::DeliveryRate, raw.delivery_rate),
        ("delivery_p50", Metric::Delivery(Pct::P50), raw.delivery_p50),
        ("delivery_p99", Metric::Delivery(Pct::P99), raw.delivery_p99),
        ("delivery_max", Metric::Delivery(Pct::Max), raw.delivery_max),
        ("duplicates", Metric::Duplicates, raw.duplicates),
        ("lost", Metric::Lost, raw.lost),
    ];
    for (name, metric, text) in delivery_thresholds {
        if let (Some(t), false) = (&text, delivery) {
            return Err(src.at(
                t.span(),
                format!(
                    "thresholds.{name}: judges delivery, and this profile has no [delivery] table"
                ),
            ));
        }
        add(name.into(), metric, text)?;
    }
    for (component, t) in raw.component {
        if let Some(why) = probes.missing(&Metric::CpuAvg(component.clone())) {
            return Err(src.at(t.span(), format!("thresholds.component.{component}: {why}")));
        }
        let t = t.into_inner();
        add(
            format!("component.{component}.cpu_avg"),
            Metric::CpuAvg(component.clone()),
            t.cpu_avg,
        )?;
        add(
            format!("component.{component}.cpu_max"),
            Metric::CpuMax(component.clone()),
            t.cpu_max,
        )?;
        add(
            format!("component.{component}.memory_max"),
            Metric::MemoryMax(component.clone()),
            t.memory_max,
        )?;
    }
    for (probe, t) in raw.probe {
        if let Some(why) = probes.missing(&Metric::Probe(probe.clone(), Pct::P50)) {
            return Err(src.at(t.span(), format!("thresholds.probe.{probe}: {why}")));
        }
        let t = t.into_inner();
        for (name, pct, text) in [
            ("p50", Pct::P50, t.p50),
            ("p95", Pct::P95, t.p95),
            ("p99", Pct::P99, t.p99),
            ("max", Pct::Max, t.max),
        ] {
            add(
                format!("probe.{probe}.{name}"),
                Metric::Probe(probe.clone(), pct),
                text,
            )?;
        }
    }
    for (n, t) in raw.epoch {
        let Some(n) = n.parse::<usize>().ok().filter(|n| *n >= 1) else {
            return Err(src.at(t.span(), format!("thresholds.epoch.{n}: an epoch is named by its number, 1 for the first level the run holds (each stage, hand-set level and search step is one)")));
        };
        for (field, metric, text) in level_thresholds(t.into_inner()) {
            add(
                format!("epoch.{n}.{field}"),
                Metric::Scoped(Scope::Epoch(n), Box::new(metric)),
                text,
            )?;
        }
    }
    for (s, t) in raw.stage {
        if let Some(why) = crate::spec::plan::unknown_stage(stages, &s) {
            return Err(src.at(t.span(), format!("thresholds.stage.{s}: {why}")));
        }
        for (field, metric, text) in level_thresholds(t.into_inner()) {
            add(
                format!("stage.{s}.{field}"),
                Metric::Scoped(Scope::Stage(s.clone()), Box::new(metric)),
                text,
            )?;
        }
    }
    Ok(out)
}

/// An epoch's or a stage's thresholds, each with its metric.
fn level_thresholds(
    t: RawLevelThresholds,
) -> Vec<(
    &'static str,
    crate::spec::thresholds::Metric,
    Option<Spanned<String>>,
)> {
    use crate::spec::thresholds::{Metric, Pct};
    vec![
        ("p50", Metric::Latency(Pct::P50), t.p50),
        ("p90", Metric::Latency(Pct::P90), t.p90),
        ("p95", Metric::Latency(Pct::P95), t.p95),
        ("p99", Metric::Latency(Pct::P99), t.p99),
        ("p999", Metric::Latency(Pct::P999), t.p999),
        ("max", Metric::Latency(Pct::Max), t.max),
        ("mean", Metric::Latency(Pct::Mean), t.mean),
        ("service_p50", Metric::Service(Pct::P50), t.service_p50),
        ("service_p90", Metric::Service(Pct::P90), t.service_p90),
        ("service_p95", Metric::Service(Pct::P95), t.service_p95),
        ("service_p99", Metric::Service(Pct::P99), t.service_p99),
        ("service_p999", Metric::Service(Pct::P999), t.service_p999),
        ("success_rate", Metric::SuccessRate, t.success_rate),
        ("rps", Metric::Rps, t.rps),
    ]
}
