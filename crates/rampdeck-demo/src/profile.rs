//! The `[demo]` table of a profile: its TOML schema and its validation into a `DemoConfig`; an error names the byte span it points at, which the profile loader turns into file:line:col.

use std::ops::Range;
use std::time::Duration;

use rampdeck_base::duration::Dur;
use serde::Deserialize;
use toml::Spanned;

use crate::config::{DemoConfig, DemoRoute, LatencyModel, Stall};

/// What is wrong with the table, and where in the profile's text.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigError {
    pub span: Range<usize>,
    pub message: String,
}

/// Where errors are made (the loader knows the file; this knows the span).
struct Src;

impl Src {
    fn at(&self, span: Range<usize>, message: impl Into<String>) -> ConfigError {
        ConfigError {
            span,
            message: message.into(),
        }
    }
}

/// The `[demo]` table, validated.
pub fn validate(raw: RawDemo) -> Result<DemoConfig, ConfigError> {
    demo_config(&Src, raw)
}

fn positive_dur(
    src: &Src,
    field: &str,
    d: Option<Spanned<Dur>>,
) -> Result<Option<Duration>, ConfigError> {
    match d {
        Some(d) if d.get_ref().0.is_zero() => {
            Err(src.at(d.span(), format!("{field}: must be longer than 0")))
        }
        Some(d) => Ok(Some(d.get_ref().0)),
        None => Ok(None),
    }
}

/// The embedded demo target's behaviour (`rampdeck demo`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDemo {
    #[serde(default, rename = "route")]
    pub routes: Vec<Spanned<RawDemoRoute>>,
    pub kube: Option<RawDemoKube>,
    pub echo: Option<Spanned<RawDemoEcho>>,
}

/// `[demo.echo]`: the TCP and WebSocket echoes' latency and faults.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDemoEcho {
    pub latency: Option<Spanned<Dur>>,
    pub reset_after: Option<Spanned<Dur>>,
    pub close_after: Option<Spanned<Dur>>,
    pub close_code: Option<Spanned<i64>>,
}

/// `[demo.kube]`: the demo's simulated Gateway API implementation.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDemoKube {
    pub namespace: Option<String>,
    pub gateway: Option<String>,
    pub backends: Option<Spanned<Vec<String>>>,
    /// HTTPRoute write -> data plane serving it and status written.
    pub propagation: Option<Spanned<Dur>>,
    /// Fault: requests to a route get 503 for this long after its backends change.
    pub swap_drop: Option<Spanned<Dur>>,
    /// HTTPRoutes that exist (and are programmed) before the load starts.
    #[serde(default, rename = "route")]
    pub routes: Vec<Spanned<RawSeedRoute>>,
    /// A Deployment's new generation written -> rolled out (Available).
    pub deployment_ready: Option<Spanned<Dur>>,
    /// Simulated RBAC: "VERB RESOURCE" requests answered 403.
    pub forbid: Option<Spanned<Vec<String>>>,
    /// Active health checks: `{ interval = "500ms", fall = 3, rise = 2 }`.
    pub health_check: Option<Spanned<RawHealthCheck>>,
    /// Outlier detection: `{ consecutive = 5, eject_for = "5s" }`.
    pub outlier: Option<Spanned<RawOutlier>>,
    pub retries: Option<Spanned<i64>>,
    /// Fault: requests per backend failing on stale pooled connections after a roll.
    pub stale_after_roll: Option<Spanned<i64>>,
    /// Fault: bytes the control plane keeps per HTTPRoute write.
    pub leak_per_route: Option<Spanned<i64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHealthCheck {
    pub interval: Spanned<Dur>,
    pub fall: Option<Spanned<i64>>,
    pub rise: Option<Spanned<i64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawOutlier {
    pub consecutive: Option<Spanned<i64>>,
    pub eject_for: Spanned<Dur>,
}

/// `[[demo.kube.route]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSeedRoute {
    pub name: Spanned<String>,
    #[serde(default)]
    pub hostnames: Vec<String>,
    pub path_prefix: Option<Spanned<String>>,
    pub backend: Spanned<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDemoRoute {
    pub prefix: Spanned<String>,
    /// Fixed latency, or the median of a log-normal latency when `latency_p99` is set.
    pub latency: Option<Spanned<Dur>>,
    pub latency_p99: Option<Spanned<Dur>>,
    pub error_rate: Option<Spanned<f64>>,
    pub error_status: Option<Spanned<i64>>,
    pub stall_every: Option<Spanned<Dur>>,
    pub stall_for: Option<Spanned<Dur>>,
    pub body_bytes: Option<Spanned<i64>>,
    /// Requests served at once (the rest queue): a route with a capacity.
    pub workers: Option<Spanned<i64>>,
    /// Accept events and POST them on to the webhook in `x-relay-to`.
    pub relay: Option<Spanned<RawRelay>>,
}

/// `relay = { ... }` on a demo route.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRelay {
    pub delay: Option<Spanned<Dur>>,
    pub loss: Option<Spanned<f64>>,
    pub duplicate: Option<Spanned<f64>>,
    pub retries: Option<Spanned<i64>>,
    pub retry_after: Option<Spanned<Dur>>,
}

fn demo_config(src: &Src, mut d: RawDemo) -> Result<DemoConfig, ConfigError> {
    let echo = d
        .echo
        .take()
        .map(|e| demo_echo(src, e))
        .transpose()?
        .unwrap_or_default();
    if d.routes.is_empty() {
        let kube = d.kube.map(|k| demo_kube(src, k)).transpose()?;
        return Ok(DemoConfig {
            kube: kube.unwrap_or_default(),
            echo,
            ..DemoConfig::default()
        });
    }
    let mut routes = Vec::with_capacity(d.routes.len());
    for (i, r) in d.routes.into_iter().enumerate() {
        let field = format!("demo.route[{i}]");
        let r = r.into_inner();
        if !r.prefix.get_ref().starts_with('/') {
            return Err(src.at(
                r.prefix.span(),
                format!(
                    "{field}.prefix: must start with '/', got '{}'",
                    r.prefix.get_ref()
                ),
            ));
        }
        let mut route = DemoRoute::new(r.prefix.get_ref());
        route.latency = match (r.latency, r.latency_p99) {
            (None, None) => LatencyModel::None,
            (Some(l), None) => LatencyModel::Fixed(l.get_ref().0),
            (Some(l), Some(p99)) => {
                if p99.get_ref().0 < l.get_ref().0 {
                    return Err(src.at(
                        p99.span(),
                        format!("{field}.latency_p99: must not be below latency (the median)"),
                    ));
                }
                LatencyModel::LogNormal {
                    p50: l.get_ref().0,
                    p99: p99.get_ref().0,
                }
            }
            (None, Some(p99)) => {
                return Err(src.at(
                    p99.span(),
                    format!("{field}.latency_p99 needs latency (the median) too"),
                ))
            }
        };
        if let Some(e) = r.error_rate {
            let v = *e.get_ref();
            if !(0.0..=1.0).contains(&v) {
                return Err(src.at(
                    e.span(),
                    format!("{field}.error_rate: must be a fraction from 0 to 1, got {v}"),
                ));
            }
            route.error_rate = v;
        }
        if let Some(s) = r.error_status {
            if !(100..=599).contains(s.get_ref()) {
                return Err(src.at(
                    s.span(),
                    format!(
                        "{field}.error_status: must be an HTTP status from 100 to 599, got {}",
                        s.get_ref()
                    ),
                ));
            }
            route.error_status = *s.get_ref() as u16;
        }
        route.stall = match (r.stall_every, r.stall_for) {
            (Some(e), Some(f)) => {
                if f.get_ref().0 >= e.get_ref().0 {
                    return Err(src.at(
                        f.span(),
                        format!("{field}.stall_for: must be shorter than stall_every"),
                    ));
                }
                Some(Stall {
                    every: e.get_ref().0,
                    duration: f.get_ref().0,
                })
            }
            (None, None) => None,
            (Some(e), None) => {
                return Err(src.at(e.span(), format!("{field}: stall_every needs stall_for")))
            }
            (None, Some(f)) => {
                return Err(src.at(f.span(), format!("{field}: stall_for needs stall_every")))
            }
        };
        if let Some(b) = r.body_bytes {
            if !(0..=16 * 1024 * 1024).contains(b.get_ref()) {
                return Err(src.at(
                    b.span(),
                    format!(
                        "{field}.body_bytes: must be from 0 to 16777216, got {}",
                        b.get_ref()
                    ),
                ));
            }
            route.body_bytes = *b.get_ref() as usize;
        }
        if let Some(w) = r.workers {
            if !(1..=100_000).contains(w.get_ref()) {
                return Err(src.at(
                    w.span(),
                    format!(
                        "{field}.workers: must be from 1 to 100000 requests served at once, got {}",
                        w.get_ref()
                    ),
                ));
            }
            route.workers = Some(*w.get_ref() as usize);
        }
        if let Some(r) = r.relay {
            route.relay = Some(demo_relay(src, &format!("{field}.relay"), r.into_inner())?);
        }
        routes.push(route);
    }
    let kube = match d.kube {
        Some(k) => demo_kube(src, k)?,
        None => Default::default(),
    };
    Ok(DemoConfig { routes, kube, echo })
}

fn demo_echo(src: &Src, e: Spanned<RawDemoEcho>) -> Result<crate::config::EchoConfig, ConfigError> {
    let e = e.into_inner();
    let mut out = crate::config::EchoConfig {
        latency: e.latency.map_or(Duration::ZERO, |l| l.get_ref().0),
        reset_after: positive_dur(src, "demo.echo.reset_after", e.reset_after)?,
        close_after: positive_dur(src, "demo.echo.close_after", e.close_after)?,
        ..Default::default()
    };
    if let Some(c) = e.close_code {
        // Codes a server may send (RFC 6455 7.4): 1000-1003, 1007-1014, 3000-4999.
        let v = *c.get_ref();
        if !matches!(v, 1000..=1003 | 1007..=1014 | 3000..=4999) {
            return Err(src.at(c.span(), format!("demo.echo.close_code: {v} is not a close code a server may send (1000-1003, 1007-1014, 3000-4999)")));
        }
        out.close_code = v as u16;
    }
    Ok(out)
}

fn demo_relay(
    src: &Src,
    field: &str,
    r: RawRelay,
) -> Result<crate::relay::RelayConfig, ConfigError> {
    let mut c = crate::relay::RelayConfig::default();
    let share = |v: &Spanned<f64>, what: &str| {
        let x = *v.get_ref();
        if (0.0..=1.0).contains(&x) {
            Ok(x)
        } else {
            Err(src.at(
                v.span(),
                format!("{field}.{what}: must be from 0 to 1 (a share of events), got {x}"),
            ))
        }
    };
    if let Some(d) = r.delay {
        c.delay = d.into_inner().0;
    }
    if let Some(l) = &r.loss {
        c.loss = share(l, "loss")?;
    }
    if let Some(d) = &r.duplicate {
        c.duplicate = share(d, "duplicate")?;
    }
    if let Some(n) = r.retries {
        if !(0..=20).contains(n.get_ref()) {
            return Err(src.at(
                n.span(),
                format!("{field}.retries: must be from 0 to 20, got {}", n.get_ref()),
            ));
        }
        c.retries = *n.get_ref() as u32;
    }
    if let Some(d) = r.retry_after {
        c.retry_after = d.into_inner().0;
    }
    Ok(c)
}

fn demo_kube(src: &Src, k: RawDemoKube) -> Result<crate::config::KubeSim, ConfigError> {
    let mut sim = crate::config::KubeSim::default();
    if let Some(ns) = k.namespace {
        sim.namespace = ns;
    }
    if let Some(g) = k.gateway {
        sim.gateway = g;
    }
    if let Some(b) = k.backends {
        if b.get_ref().is_empty() {
            return Err(src.at(b.span(), "demo.kube.backends: list at least one backend name, e.g. [\"echo-v1\", \"echo-v2\"]"));
        }
        sim.backends = b.into_inner();
    }
    if let Some(p) = k.propagation {
        if p.get_ref().0 > Duration::from_secs(60) {
            return Err(src.at(p.span(), "demo.kube.propagation: must be at most 60s"));
        }
        sim.propagation = p.get_ref().0;
    }
    if let Some(s) = k.swap_drop {
        sim.swap_drop = positive_dur(src, "demo.kube.swap_drop", Some(s))?;
    }
    if let Some(d) = k.deployment_ready {
        if d.get_ref().0 > Duration::from_secs(600) {
            return Err(src.at(d.span(), "demo.kube.deployment_ready: must be at most 10m"));
        }
        sim.deployment_ready = d.get_ref().0;
    }
    if let Some(f) = k.forbid {
        for rule in f.get_ref() {
            if crate::kubeapi::rbac::Rule::parse(rule).is_none() {
                return Err(src.at(
                    f.span(),
                    format!("demo.kube.forbid: '{rule}' is not \"VERB RESOURCE\"; VERB is one of {}, RESOURCE a plural resource name with its group, e.g. \"create configmaps\" or \"patch deployments.apps\"", crate::kubeapi::rbac::VERBS.join(", ")),
                ));
            }
        }
        sim.forbid = f.into_inner();
    }
    let count = |v: &Spanned<i64>, field: &str, max: i64| -> Result<u32, ConfigError> {
        if (0..=max).contains(v.get_ref()) {
            Ok(*v.get_ref() as u32)
        } else {
            Err(src.at(
                v.span(),
                format!(
                    "demo.kube.{field}: must be from 0 to {max}, got {}",
                    v.get_ref()
                ),
            ))
        }
    };
    if let Some(h) = k.health_check {
        let interval = positive_dur(
            src,
            "demo.kube.health_check.interval",
            Some(h.get_ref().interval.clone()),
        )?
        .unwrap_or(Duration::from_millis(500));
        let fall = h
            .get_ref()
            .fall
            .as_ref()
            .map(|v| count(v, "health_check.fall", 100))
            .transpose()?
            .unwrap_or(3)
            .max(1);
        let rise = h
            .get_ref()
            .rise
            .as_ref()
            .map(|v| count(v, "health_check.rise", 100))
            .transpose()?
            .unwrap_or(2)
            .max(1);
        sim.health_check = Some(crate::health::HealthCheck {
            interval,
            fall,
            rise,
        });
    }
    if let Some(o) = k.outlier {
        let eject_for = positive_dur(
            src,
            "demo.kube.outlier.eject_for",
            Some(o.get_ref().eject_for.clone()),
        )?
        .unwrap_or(Duration::from_secs(5));
        let consecutive = o
            .get_ref()
            .consecutive
            .as_ref()
            .map(|v| count(v, "outlier.consecutive", 1000))
            .transpose()?
            .unwrap_or(5)
            .max(1);
        sim.outlier = Some(crate::health::Outlier {
            consecutive,
            eject_for,
        });
    }
    if let Some(r) = &k.retries {
        sim.retries = count(r, "retries", 10)?;
    }
    if let Some(r) = &k.stale_after_roll {
        sim.stale_after_roll = count(r, "stale_after_roll", 1_000_000)?;
    }
    if let Some(r) = &k.leak_per_route {
        sim.leak_per_route = count(r, "leak_per_route", 16 << 20)? as usize;
    }
    for (i, r) in k.routes.into_iter().enumerate() {
        let r = r.into_inner();
        let field = format!("demo.kube.route[{i}]");
        let name = r.name.get_ref();
        let dns = |s: &str| {
            !s.is_empty()
                && s.len() <= 253
                && s.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
        };
        if !dns(name) {
            return Err(src.at(r.name.span(), format!("{field}.name: '{name}' is not a Kubernetes object name (lower-case letters, digits, '-' and '.')")));
        }
        if sim
            .routes
            .iter()
            .any(|x: &crate::config::SeedRoute| &x.name == name)
        {
            return Err(src.at(
                r.name.span(),
                format!("{field}.name: '{name}' is used by another [[demo.kube.route]]"),
            ));
        }
        if !sim.backends.contains(r.backend.get_ref()) {
            return Err(src.at(
                r.backend.span(),
                format!(
                    "{field}.backend: '{}' is not one of demo.kube.backends ({})",
                    r.backend.get_ref(),
                    sim.backends.join(", ")
                ),
            ));
        }
        let path_prefix = match r.path_prefix {
            Some(p) if !p.get_ref().starts_with('/') => {
                return Err(src.at(
                    p.span(),
                    format!("{field}.path_prefix: must start with '/', e.g. \"/shop\""),
                ))
            }
            Some(p) => p.into_inner(),
            None => "/".to_owned(),
        };
        sim.routes.push(crate::config::SeedRoute {
            name: name.clone(),
            hostnames: r.hostnames,
            path_prefix,
            backend: r.backend.into_inner(),
        });
    }
    Ok(sim)
}
