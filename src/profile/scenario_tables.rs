//! `[scenario.route_scale]`, `[scenario.backend_failover]`, `[scenario.staleness]` and
//! `[scenario.traffic_matrix]`: their TOML shape and validation into `ScenarioConfig`.

use serde::Deserialize;
use toml::Spanned;

use super::error::{ProfileError, Source};
use super::validate::positive_dur;
use crate::scenarios::action::Toggle;
use crate::scenarios::config::{BackendFrom, ScenarioConfig};
use rampdeck_base::duration::Dur;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRouteScale {
    pub routes: Option<Spanned<i64>>,
    pub writers: Option<Spanned<i64>>,
    pub duration: Option<Spanned<Dur>>,
    pub churn_rate: Option<Spanned<f64>>,
    /// "2s", or "0s" for no rolls.
    pub roll_every: Option<Spanned<Dur>>,
    pub roll: Option<Spanned<Vec<String>>>,
    pub rate: Option<Spanned<f64>>,
    pub timeout: Option<Spanned<Dur>>,
    pub control_plane: Option<String>,
    pub data_plane: Option<String>,
    pub max_memory_slope: Option<Spanned<f64>>,
    pub p99_budget: Option<Spanned<Dur>>,
    pub propagation_budget: Option<Spanned<Dur>>,
    pub max_failures: Option<Spanned<i64>>,
    pub min_score: Option<Spanned<f64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBackendFailover {
    pub routes: Option<Spanned<i64>>,
    pub paths: Option<Spanned<Vec<String>>>,
    pub hostname: Option<String>,
    pub backends: Option<Spanned<Vec<String>>>,
    pub flapping: Option<Spanned<String>>,
    pub backend_from: Option<Spanned<String>>,
    pub rate: Option<Spanned<f64>>,
    pub interval: Option<Spanned<Dur>>,
    pub before: Option<Spanned<Dur>>,
    pub down: Option<Spanned<Dur>>,
    pub up: Option<Spanned<Dur>>,
    pub cycles: Option<Spanned<i64>>,
    pub kill: Option<Spanned<Vec<String>>>,
    pub revive: Option<Spanned<Vec<String>>>,
    pub timeout: Option<Spanned<Dur>>,
    pub max_ejection: Option<Spanned<Dur>>,
    pub max_sent_to_dead: Option<Spanned<i64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStaleness {
    pub connections: Option<Spanned<i64>>,
    pub idle: Option<Spanned<Dur>>,
    pub requests: Option<Spanned<i64>>,
    pub settle: Option<Spanned<Dur>>,
    pub create_route: Option<bool>,
    pub hostname: Option<String>,
    pub path: Option<Spanned<String>>,
    pub backends: Option<Spanned<Vec<String>>>,
    pub roll: Option<Spanned<Vec<String>>>,
    pub timeout: Option<Spanned<Dur>>,
    pub max_503: Option<Spanned<i64>>,
    pub max_failures: Option<Spanned<i64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTrafficMatrix {
    pub connections: Option<Spanned<Vec<i64>>>,
    pub rate: Option<Spanned<f64>>,
    pub duration: Option<Spanned<Dur>>,
    pub warmup: Option<Spanned<Dur>>,
    pub path: Option<Spanned<String>>,
    pub host: Option<String>,
}

/// An integer field in `lo..=hi`.
fn int(src: &Source, field: &str, v: &Spanned<i64>, lo: i64, hi: i64) -> Result<u64, ProfileError> {
    if (lo..=hi).contains(v.get_ref()) {
        Ok(*v.get_ref() as u64)
    } else {
        Err(src.at(
            v.span(),
            format!("{field}: must be from {lo} to {hi}, got {}", v.get_ref()),
        ))
    }
}

/// A rate in (0, max].
fn rate(src: &Source, field: &str, v: &Spanned<f64>, max: f64) -> Result<f64, ProfileError> {
    let x = *v.get_ref();
    if x.is_finite() && x > 0.0 && x <= max {
        Ok(x)
    } else {
        Err(src.at(
            v.span(),
            format!("{field}: must be more than 0 and at most {max}"),
        ))
    }
}

fn command(src: &Source, field: &str, v: Spanned<Vec<String>>) -> Result<Toggle, ProfileError> {
    if v.get_ref().first().is_none_or(|c| c.is_empty()) {
        return Err(src.at(
            v.span(),
            format!("{field}: give the command as a list, program first, e.g. [\"kubectl\", \"rollout\", \"restart\", \"deployment/echo\"]"),
        ));
    }
    Ok(Toggle::Command(v.into_inner()))
}

fn names(src: &Source, field: &str, v: Spanned<Vec<String>>) -> Result<Vec<String>, ProfileError> {
    let ok = v.get_ref().len() >= 2 && v.get_ref().iter().all(|n| super::scenario::is_dns_label(n));
    if !ok {
        return Err(src.at(
            v.span(),
            format!("{field}: give two or more Service names, e.g. [\"echo-v1\", \"echo-v2\"]"),
        ));
    }
    Ok(v.into_inner())
}

fn path(src: &Source, field: &str, v: Spanned<String>) -> Result<String, ProfileError> {
    if !v.get_ref().starts_with('/') {
        return Err(src.at(
            v.span(),
            format!("{field}: must start with '/', e.g. \"/\""),
        ));
    }
    Ok(v.into_inner())
}

pub fn route_scale(
    src: &Source,
    r: RawRouteScale,
    c: &mut ScenarioConfig,
) -> Result<(), ProfileError> {
    let f = "scenario.route_scale";
    let s = &mut c.scale;
    if let Some(v) = &r.routes {
        s.routes = int(
            src,
            &format!("{f}.routes"),
            v,
            1,
            super::scenario::MAX_ROUTES as i64,
        )? as usize;
    }
    if let Some(v) = &r.writers {
        s.writers = int(src, &format!("{f}.writers"), v, 1, 64)? as usize;
    }
    if let Some(d) = positive_dur(src, &format!("{f}.duration"), r.duration)? {
        s.duration = d;
    }
    if let Some(v) = &r.churn_rate {
        s.churn_rate = rate(src, &format!("{f}.churn_rate"), v, 1000.0)?;
    }
    if let Some(d) = r.roll_every {
        s.roll_every = Some(d.get_ref().0).filter(|d| !d.is_zero());
    }
    if let Some(v) = r.roll {
        s.roll = Some(command(src, &format!("{f}.roll"), v)?);
    }
    if let Some(v) = &r.rate {
        s.rate = rate(src, &format!("{f}.rate"), v, 20_000.0)?;
    }
    if let Some(d) = positive_dur(src, &format!("{f}.timeout"), r.timeout)? {
        s.timeout = d;
    }
    s.control_plane = r.control_plane;
    s.data_plane = r.data_plane;
    if let Some(v) = &r.max_memory_slope {
        s.max_memory_slope_mib_per_hour = rate(src, &format!("{f}.max_memory_slope"), v, 1e9)?;
    }
    if let Some(d) = positive_dur(src, &format!("{f}.p99_budget"), r.p99_budget)? {
        s.p99_budget = d;
    }
    if let Some(d) = positive_dur(
        src,
        &format!("{f}.propagation_budget"),
        r.propagation_budget,
    )? {
        s.propagation_budget = d;
    }
    if let Some(v) = &r.max_failures {
        s.max_failures = Some(int(src, &format!("{f}.max_failures"), v, 0, i64::MAX)?);
    }
    if let Some(v) = &r.min_score {
        let x = *v.get_ref();
        if !(0.0..=100.0).contains(&x) {
            return Err(src.at(v.span(), format!("{f}.min_score: must be from 0 to 100")));
        }
        s.min_score = Some(x);
    }
    Ok(())
}

pub fn backend_failover(
    src: &Source,
    r: RawBackendFailover,
    c: &mut ScenarioConfig,
) -> Result<(), ProfileError> {
    let f = "scenario.backend_failover";
    let s = &mut c.failover;
    if let Some(v) = &r.routes {
        s.routes = int(src, &format!("{f}.routes"), v, 0, 10_000)? as usize;
    }
    if let Some(v) = r.paths {
        let span = v.span();
        let list = v.into_inner();
        if list.is_empty() || list.iter().any(|p| !p.starts_with('/')) {
            return Err(src.at(
                span,
                format!("{f}.paths: list paths starting with '/', e.g. [\"/\"]"),
            ));
        }
        s.paths = list;
    }
    if let Some(h) = r.hostname {
        s.hostname = h;
    }
    if let Some(v) = r.backends {
        s.backends = names(src, &format!("{f}.backends"), v)?;
    }
    if let Some(v) = r.flapping {
        if !s.backends.contains(v.get_ref()) {
            return Err(src.at(
                v.span(),
                format!(
                    "{f}.flapping: '{}' is not one of the backends ({})",
                    v.get_ref(),
                    s.backends.join(", ")
                ),
            ));
        }
        s.flapping = Some(v.into_inner());
    }
    if let Some(v) = r.backend_from {
        s.backend_from = BackendFrom::parse(v.get_ref())
            .map_err(|m| src.at(v.span(), format!("{f}.backend_from: {m}")))?;
    }
    if let Some(v) = &r.rate {
        s.rate = rate(src, &format!("{f}.rate"), v, 20_000.0)?;
    }
    if let Some(d) = positive_dur(src, &format!("{f}.interval"), r.interval)? {
        s.interval = d;
    }
    if let Some(d) = r.before {
        s.before = d.get_ref().0;
    }
    if let Some(d) = positive_dur(src, &format!("{f}.down"), r.down)? {
        s.down = d;
    }
    if let Some(d) = positive_dur(src, &format!("{f}.up"), r.up)? {
        s.up = d;
    }
    if let Some(v) = &r.cycles {
        s.cycles = int(src, &format!("{f}.cycles"), v, 1, 1000)? as u32;
    }
    if let Some(v) = r.kill {
        s.kill = Some(command(src, &format!("{f}.kill"), v)?);
    }
    if let Some(v) = r.revive {
        s.revive = Some(command(src, &format!("{f}.revive"), v)?);
    }
    if let Some(d) = positive_dur(src, &format!("{f}.timeout"), r.timeout)? {
        s.timeout = d;
    }
    s.max_ejection = positive_dur(src, &format!("{f}.max_ejection"), r.max_ejection)?;
    if let Some(v) = &r.max_sent_to_dead {
        s.max_sent_to_dead = Some(int(src, &format!("{f}.max_sent_to_dead"), v, 0, i64::MAX)?);
    }
    Ok(())
}

pub fn staleness(
    src: &Source,
    r: RawStaleness,
    c: &mut ScenarioConfig,
) -> Result<(), ProfileError> {
    let f = "scenario.staleness";
    let s = &mut c.staleness;
    if let Some(v) = &r.connections {
        s.connections = int(src, &format!("{f}.connections"), v, 1, 10_000)? as usize;
    }
    if let Some(d) = positive_dur(src, &format!("{f}.idle"), r.idle)? {
        s.idle = d;
    }
    if let Some(v) = &r.requests {
        s.requests = int(src, &format!("{f}.requests"), v, 1, 10_000)? as u32;
    }
    if let Some(d) = r.settle {
        s.settle = d.get_ref().0;
    }
    if let Some(b) = r.create_route {
        s.create_route = b;
    }
    if let Some(h) = r.hostname {
        s.hostname = h;
    }
    if let Some(p) = r.path {
        s.path = path(src, &format!("{f}.path"), p)?;
    }
    if let Some(v) = r.backends {
        s.backends = names(src, &format!("{f}.backends"), v)?;
    }
    if let Some(v) = r.roll {
        s.roll = Some(command(src, &format!("{f}.roll"), v)?);
    }
    if let Some(d) = positive_dur(src, &format!("{f}.timeout"), r.timeout)? {
        s.timeout = d;
    }
    if let Some(v) = &r.max_503 {
        s.max_503 = int(src, &format!("{f}.max_503"), v, 0, i64::MAX)?;
    }
    if let Some(v) = &r.max_failures {
        s.max_failures = int(src, &format!("{f}.max_failures"), v, 0, i64::MAX)?;
    }
    Ok(())
}

pub fn traffic_matrix(
    src: &Source,
    r: RawTrafficMatrix,
    c: &mut ScenarioConfig,
) -> Result<(), ProfileError> {
    let f = "scenario.traffic_matrix";
    let s = &mut c.matrix;
    if let Some(v) = r.connections {
        let ok = !v.get_ref().is_empty() && v.get_ref().iter().all(|n| (1..=10_000).contains(n));
        if !ok {
            return Err(src.at(
                v.span(),
                format!("{f}.connections: list counts from 1 to 10000, e.g. [1, 16, 512]"),
            ));
        }
        s.connections = v.get_ref().iter().map(|n| *n as usize).collect();
    }
    if let Some(v) = &r.rate {
        s.rate = rate(src, &format!("{f}.rate"), v, 1_000_000.0)?;
    }
    if let Some(d) = positive_dur(src, &format!("{f}.duration"), r.duration)? {
        s.duration = d;
    }
    if let Some(d) = r.warmup {
        s.warmup = d.get_ref().0;
    }
    if let Some(p) = r.path {
        s.path = path(src, &format!("{f}.path"), p)?;
    }
    s.host = r.host.or(s.host.take());
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    #[test]
    fn the_new_tables_are_read_and_bad_values_named() {
        let p = crate::profile::scenario::parse(
            "s.toml",
            r#"
[scenario.route_scale]
routes = 200
duration = "1m"
churn_rate = 20.0
roll_every = "0s"
[scenario.backend_failover]
routes = 0
paths = ["/a", "/b"]
backend_from = "header:X-Server"
kill = ["kill", "1"]
revive = ["true"]
[scenario.staleness]
idle = "30s"
create_route = false
roll = ["true"]
[scenario.traffic_matrix]
connections = [1, 4]
rate = 200.0
duration = "2s"
"#,
        )
        .unwrap();
        let c = p.config;
        assert_eq!(c.scale.routes, 200);
        assert_eq!(c.scale.roll_every, None);
        assert_eq!(c.failover.paths, vec!["/a", "/b"]);
        assert_eq!(c.failover.backend_from.header(), Some("x-server"));
        assert_eq!(c.staleness.idle, Duration::from_secs(30));
        assert!(!c.staleness.create_route);
        assert_eq!(c.matrix.connections, vec![1, 4]);
        for (text, want) in [
            ("[scenario.backend_failover]\nbackend_from = \"json\"\n", "s.toml:2:16: scenario.backend_failover.backend_from: 'json' is not a backend source"),
            ("[scenario.backend_failover]\nflapping = \"echo-v9\"\n", "scenario.backend_failover.flapping: 'echo-v9' is not one of the backends"),
            ("[scenario.traffic_matrix]\nconnections = [0]\n", "s.toml:2:15: scenario.traffic_matrix.connections"),
            ("[scenario.staleness]\nroll = []\n", "scenario.staleness.roll: give the command as a list"),
            ("[scenario.route_scale]\nchurn_rate = 0.0\n", "scenario.route_scale.churn_rate: must be more than 0"),
        ] {
            let e = crate::profile::scenario::parse("s.toml", text).unwrap_err().to_string();
            assert!(e.contains(want), "{text:?}: {e}");
        }
    }
}
