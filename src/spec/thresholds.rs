//! Thresholds (k6-style pass/fail criteria) as a profile writes them, the criterion language, and a judged threshold's verdict.
//!
//! A threshold is a metric, an operator and a bound: `p99 = "< 250ms"`,
//! `success_rate = "> 99.9"`, `rps = ">= 99% of target"`, a component's
//! `cpu_max = "< 0.5"` or `memory_max = "< 200MiB"`, a probe's `p95 = "< 2s"`.
//! Values are compared in the metric's own unit (ms, %, req/s, cores, bytes).
//! `report::thresholds` judges them against a run.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Op {
    #[serde(rename = "<")]
    Lt,
    #[serde(rename = "<=")]
    Le,
    #[serde(rename = ">")]
    Gt,
    #[serde(rename = ">=")]
    Ge,
}

impl Op {
    pub fn holds(self, actual: f64, limit: f64) -> bool {
        match self {
            Op::Lt => actual < limit,
            Op::Le => actual <= limit,
            Op::Gt => actual > limit,
            Op::Ge => actual >= limit,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pct {
    P50,
    P90,
    P95,
    P99,
    P999,
    Max,
    Mean,
}

impl Pct {
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "p50" => Pct::P50,
            "p90" => Pct::P90,
            "p95" => Pct::P95,
            "p99" => Pct::P99,
            "p999" => Pct::P999,
            "max" => Pct::Max,
            "mean" => Pct::Mean,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Metric {
    /// Successful responses' corrected latency, ms.
    Latency(Pct),
    /// Successful responses' service time, ms.
    Service(Pct),
    /// Failed responses' and transport errors' corrected latency, ms.
    Failed(Pct),
    /// Percent of requests that succeeded.
    SuccessRate,
    /// Completed requests per second.
    Rps,
    CpuAvg(String),
    CpuMax(String),
    MemoryMax(String),
    /// A stat command's or HTTP probe's duration, ms.
    Probe(String, Pct),
    /// `[delivery]`: percent of decided events (delivered + lost) delivered.
    DeliveryRate,
    /// `[delivery]`: end-to-end latency, ms.
    Delivery(Pct),
    /// `[delivery]`: copies beyond the expected.
    Duplicates,
    /// `[delivery]`: events not delivered by the deadline.
    Lost,
    /// One level epoch's or one stage's latency, service time, success rate
    /// or achieved rate (`stats::epochs`): `epoch.2.p99`, `stage.peak.p99`.
    Scoped(Scope, Box<Metric>),
}

/// Which part of a run a scoped metric judges.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// The Nth level epoch (1-based, in the order they began).
    Epoch(usize),
    /// A stage by its profile name, or by its 1-based number.
    Stage(String),
}

impl Scope {
    pub fn prefix(&self) -> String {
        match self {
            Scope::Epoch(n) => format!("epoch.{n}"),
            Scope::Stage(s) => format!("stage.{s}"),
        }
    }
}

impl Metric {
    pub fn unit(&self) -> &'static str {
        match self {
            Metric::Latency(_)
            | Metric::Service(_)
            | Metric::Failed(_)
            | Metric::Probe(..)
            | Metric::Delivery(_) => "ms",
            Metric::SuccessRate | Metric::DeliveryRate => "%",
            Metric::Duplicates | Metric::Lost => "events",
            Metric::Rps => "req/s",
            Metric::CpuAvg(_) | Metric::CpuMax(_) => "cores",
            Metric::MemoryMax(_) => "bytes",
            Metric::Scoped(_, m) => m.unit(),
        }
    }

    /// What an epoch or a stage can be judged on.
    pub fn scopable(&self) -> bool {
        matches!(
            self,
            Metric::Latency(_) | Metric::Service(_) | Metric::SuccessRate | Metric::Rps
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Bound {
    Value(f64),
    /// A percentage of the run's mean target rate (open loop).
    OfTarget(f64),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Threshold {
    /// Where it was written, e.g. "p99" or "component.destination.cpu_max".
    pub name: String,
    /// As written, e.g. "< 250ms".
    pub expr: String,
    pub metric: Metric,
    pub op: Op,
    pub bound: Bound,
}

impl Metric {
    /// The metric a threshold name stands for, as `[thresholds]` spells
    /// them: `p99`, `service_p99`, `failed_p99`, `mean`, `success_rate`,
    /// `rps`, `component.NAME.cpu_avg|cpu_max|memory_max`, `probe.NAME.p95`.
    pub fn named(name: &str) -> Option<Metric> {
        // Stage names are one word (no dots), epochs numbers from 1.
        let scoped = |rest: &str, scope: &dyn Fn(&str) -> Option<Scope>| {
            let (which, field) = rest.split_once('.')?;
            let inner = Metric::named(field).filter(Metric::scopable)?;
            Some(Metric::Scoped(scope(which)?, Box::new(inner)))
        };
        if let Some(rest) = name.strip_prefix("epoch.") {
            return scoped(rest, &|n| {
                n.parse().ok().filter(|n| *n >= 1).map(Scope::Epoch)
            });
        }
        if let Some(rest) = name.strip_prefix("stage.") {
            return scoped(rest, &|s| {
                (!s.is_empty()).then(|| Scope::Stage(s.to_owned()))
            });
        }
        if let Some(rest) = name.strip_prefix("component.") {
            let (comp, field) = rest.rsplit_once('.')?;
            let comp = comp.to_owned();
            return match field {
                "cpu_avg" => Some(Metric::CpuAvg(comp)),
                "cpu_max" => Some(Metric::CpuMax(comp)),
                "memory_max" => Some(Metric::MemoryMax(comp)),
                _ => None,
            };
        }
        if let Some(rest) = name.strip_prefix("probe.") {
            let (probe, field) = rest.rsplit_once('.')?;
            return Pct::from_name(field).map(|p| Metric::Probe(probe.to_owned(), p));
        }
        match name {
            "success_rate" => Some(Metric::SuccessRate),
            "rps" => Some(Metric::Rps),
            "delivery_rate" => Some(Metric::DeliveryRate),
            "duplicates" => Some(Metric::Duplicates),
            "lost" => Some(Metric::Lost),
            _ if name.starts_with("delivery_") => {
                Pct::from_name(&name["delivery_".len()..]).map(Metric::Delivery)
            }
            _ => {
                if let Some(p) = name.strip_prefix("service_") {
                    Pct::from_name(p).map(Metric::Service)
                } else if let Some(p) = name.strip_prefix("failed_") {
                    Pct::from_name(p).map(Metric::Failed)
                } else {
                    Pct::from_name(name).map(Metric::Latency)
                }
            }
        }
    }
}

/// Parses a whole criterion, `"NAME OP VALUE"` (`"p99 < 50ms"`,
/// `"component.destination.cpu_max < 0.5"`, `"probe.viz stat.p95 < 2s"`),
/// as the `[thresholds]` table would have it.
pub fn parse_criterion(text: &str) -> Result<Threshold, String> {
    let at = text.find(['<', '>']).ok_or_else(|| {
        format!("'{text}' has no < or >; write it like \"p99 < 50ms\" or \"success_rate > 99.9\"")
    })?;
    let (name, rest) = (text[..at].trim(), &text[at..]);
    let metric = Metric::named(name).ok_or_else(|| {
        format!("'{text}': '{name}' is not a metric; use p50, p90, p95, p99, p999, max, mean (corrected latency), service_p99 and the like, failed_p99, success_rate, rps, component.NAME.cpu_avg|cpu_max|memory_max, probe.NAME.p95, or one level's epoch.N.p99 / stage.NAME.p99 (also service_*, success_rate, rps)")
    })?;
    parse(name, metric, rest)
}

/// Parses `"<op> <value>"` for `metric`; the error says what is allowed.
pub fn parse(name: &str, metric: Metric, text: &str) -> Result<Threshold, String> {
    let t = text.trim();
    let (op, rest) = [("<=", Op::Le), (">=", Op::Ge), ("<", Op::Lt), (">", Op::Gt)]
        .iter()
        .find_map(|(s, op)| t.strip_prefix(s).map(|r| (*op, r.trim())))
        .ok_or_else(|| {
            format!(
                "'{text}' does not start with <, <=, > or >=; write it like {}",
                example(&metric)
            )
        })?;
    let bad = || {
        format!(
            "'{text}': '{rest}' is not a {}; write it like {}",
            what(&metric),
            example(&metric)
        )
    };
    let kind = match &metric {
        Metric::Scoped(_, inner) => inner.as_ref(),
        m => m,
    };
    let bound = match kind {
        Metric::Latency(_)
        | Metric::Service(_)
        | Metric::Failed(_)
        | Metric::Probe(..)
        | Metric::Delivery(_) => {
            let d = rampdeck_base::duration::parse_duration(rest).map_err(|_| bad())?;
            Bound::Value(d.as_secs_f64() * 1000.0)
        }
        Metric::Duplicates | Metric::Lost => Bound::Value(rest.parse().map_err(|_| bad())?),
        Metric::SuccessRate | Metric::DeliveryRate => Bound::Value(
            rest.trim_end_matches('%')
                .trim()
                .parse()
                .map_err(|_| bad())?,
        ),
        Metric::Rps => match rest.strip_suffix("of target") {
            Some(pct) => Bound::OfTarget(
                pct.trim()
                    .trim_end_matches('%')
                    .trim()
                    .parse()
                    .map_err(|_| bad())?,
            ),
            None => Bound::Value(rest.parse().map_err(|_| bad())?),
        },
        Metric::CpuAvg(_) | Metric::CpuMax(_) => Bound::Value(
            rest.trim_end_matches("cores")
                .trim()
                .parse()
                .map_err(|_| bad())?,
        ),
        Metric::MemoryMax(_) => Bound::Value(parse_bytes(rest).ok_or_else(bad)?),
        Metric::Scoped(..) => return Err(bad()),
    };
    // "NaN" and "inf" parse as numbers, but no measurement can be judged against them.
    let (Bound::Value(v) | Bound::OfTarget(v)) = bound;
    if !v.is_finite() {
        return Err(bad());
    }
    Ok(Threshold {
        name: name.to_owned(),
        expr: t.to_owned(),
        metric,
        op,
        bound,
    })
}

fn what(m: &Metric) -> &'static str {
    match m {
        Metric::Scoped(_, inner) => what(inner),
        Metric::Latency(_)
        | Metric::Service(_)
        | Metric::Failed(_)
        | Metric::Probe(..)
        | Metric::Delivery(_) => "duration",
        Metric::SuccessRate | Metric::DeliveryRate => "percentage",
        Metric::Duplicates | Metric::Lost => "number of events",
        Metric::Rps => "rate (a number, or \"N% of target\")",
        Metric::CpuAvg(_) | Metric::CpuMax(_) => "number of cores",
        Metric::MemoryMax(_) => "size",
    }
}

fn example(m: &Metric) -> &'static str {
    match m {
        Metric::Scoped(_, inner) => example(inner),
        Metric::Latency(_)
        | Metric::Service(_)
        | Metric::Failed(_)
        | Metric::Probe(..)
        | Metric::Delivery(_) => "\"< 250ms\"",
        Metric::SuccessRate | Metric::DeliveryRate => "\"> 99.9\"",
        Metric::Duplicates | Metric::Lost => "\"<= 0\"",
        Metric::Rps => "\">= 99% of target\" or \">= 950\"",
        Metric::CpuAvg(_) | Metric::CpuMax(_) => "\"< 0.5\"",
        Metric::MemoryMax(_) => "\"< 200MiB\"",
    }
}

/// "200MiB", "1.5GB", "4096" (bytes).
fn parse_bytes(s: &str) -> Option<f64> {
    let s = s.trim();
    let split = s.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: f64 = num.trim().parse().ok()?;
    let mult = match unit.trim() {
        "" | "B" => 1.0,
        "KB" | "kB" => 1e3,
        "MB" => 1e6,
        "GB" => 1e9,
        "KiB" => 1024.0,
        "MiB" => 1024.0 * 1024.0,
        "GiB" => 1024.0 * 1024.0 * 1024.0,
        _ => return None,
    };
    Some(n * mult)
}

/// One threshold's result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verdict {
    pub name: String,
    pub expr: String,
    pub unit: &'static str,
    /// None: no data to judge (no requests, no samples).
    pub actual: Option<f64>,
    pub limit: Option<f64>,
    pub pass: bool,
}

impl Verdict {
    /// "p99 744 ms": the criterion's metric and what it measured (a table
    /// cell; `describe` says the rest).
    pub fn brief(&self) -> String {
        format!("{} {}", self.name, self.values().0)
    }

    pub fn describe(&self) -> String {
        let (actual, limit) = self.values();
        format!(
            "{} {} (actual {actual}, limit {limit})",
            self.name, self.expr
        )
    }

    /// The actual and the limit as text, with the digits to tell them apart.
    fn values(&self) -> (String, String) {
        let v = |x: Option<f64>, digits: Option<usize>| match x {
            None => "no data".to_owned(),
            Some(x) if self.unit == "bytes" => rampdeck_base::fmt::bytes(x),
            Some(x) => match digits {
                Some(d) => format!("{x:.d$} {}", self.unit),
                None => format!("{} {}", short(x), self.unit),
            },
        };
        // A breach by less than the shown digits would read "actual 99.00
        // %, limit 99.00 %": show as many digits as it takes to tell them apart.
        let digits = match (self.actual, self.limit) {
            (Some(a), Some(l)) if a != l && self.unit != "bytes" && short(a) == short(l) => {
                (3..=9).find(|d| format!("{a:.d$}") != format!("{l:.d$}"))
            }
            _ => None,
        };
        (v(self.actual, digits), v(self.limit, digits))
    }
}

fn short(x: f64) -> String {
    if x.abs() >= 100.0 {
        format!("{x:.0}")
    } else if x.abs() >= 1.0 {
        format!("{x:.2}")
    } else {
        format!("{x:.3}")
    }
}

#[cfg(test)]
mod describe_tests {
    use super::*;

    #[test]
    fn a_breach_by_a_hair_shows_the_digits_that_differ() {
        let v = Verdict {
            name: "success_rate".into(),
            expr: "> 99".into(),
            unit: "%",
            actual: Some(98.9962),
            limit: Some(99.0),
            pass: false,
        };
        assert_eq!(
            v.describe(),
            "success_rate > 99 (actual 98.996 %, limit 99.000 %)"
        );
        let far = Verdict {
            actual: Some(97.5),
            ..v
        };
        assert!(far.describe().contains("actual 97.50 %, limit 99.00 %"));
    }
}
