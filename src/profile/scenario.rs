//! Validates a profile's `[scenario]` table (with `[kube]`, `[demo]` and the control-plane sources) into what `rampdeck scenario` runs.

use std::time::Duration;

use toml::Spanned;

use super::error::{ProfileError, Source};
use super::schema::{RawProfile, RawScenario};
use super::validate::positive_dur;
use crate::scenarios::config::ScenarioConfig;
use crate::spec::probes::ProbesConfig;
use rampdeck_base::duration::Dur;
use rampdeck_demo::config::DemoConfig;

/// Route counts above this would take the API server longer than any run should.
pub const MAX_ROUTES: usize = 100_000;

/// A scenario profile, validated.
#[derive(Debug, Clone)]
pub struct ScenarioPlan {
    pub name: String,
    pub source: Option<String>,
    pub config: ScenarioConfig,
    pub demo: Option<DemoConfig>,
    /// Control-plane CPU/memory sources (and any stat or HTTP probes) run during the scenario.
    pub probes: ProbesConfig,
}

impl ScenarioPlan {
    /// What `rampdeck check` prints.
    pub fn describe(&self) -> String {
        use rampdeck_base::fmt::fmt_dur;
        use std::fmt::Write;
        let c = &self.config;
        let k = &c.cluster;
        let list = |v: &[usize]| {
            v.iter()
                .map(usize::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        };
        let mut s = String::new();
        let _ = writeln!(s, "scenario profile {}", self.name);
        let _ = writeln!(
            s,
            "cluster  {} (namespace {}); Gateway {}/{} at {}",
            c.kube.kubeconfig.as_ref().map_or_else(
                || "kubeconfig from $KUBECONFIG or ~/.kube/config".into(),
                |p| format!("kubeconfig {}", p.display())
            ),
            k.namespace
                .as_deref()
                .or(c.kube.namespace.as_deref())
                .unwrap_or("from the kubeconfig"),
            k.gateway_namespace
                .as_deref()
                .unwrap_or("(routes' namespace)"),
            k.gateway,
            k.gateway_url
                .as_deref()
                .unwrap_or("(no gateway_url: give --gateway-url, or --demo)")
        );
        let _ = writeln!(
            s,
            "routes   {}-<i> -> {}:{} (catch-all -> {})",
            k.name_prefix, k.backend, k.backend_port, k.missing_backend
        );
        let a = &c.attached;
        let _ = writeln!(
            s,
            "attached-routes  {} routes, {} writer(s){}, timeout {}{}{}",
            list(&a.routes),
            a.writers,
            a.write_rate
                .map_or_else(String::new, |r| format!(", {r} writes/s")),
            fmt_dur(a.timeout),
            a.max_setup
                .map_or_else(String::new, |d| format!(", max setup {}", fmt_dur(d))),
            a.max_teardown
                .map_or_else(String::new, |d| format!(", max teardown {}", fmt_dur(d))),
        );
        let p = &c.probe;
        let _ = writeln!(
            s,
            "route-probe      {} routes, probe every {}, timeout {}, max errors {}{}",
            list(&p.routes),
            fmt_dur(p.interval),
            fmt_dur(p.timeout),
            p.max_errors,
            p.max_p99
                .map_or_else(String::new, |d| format!(", max p99 {}", fmt_dur(d))),
        );
        let ch = &c.change;
        let _ = writeln!(
            s,
            "route-change     {} to {}, {} flips {} <-> {} every {}, {} before, {} after, max failures {}",
            if ch.max_rate {
                "closed loop at the rate answers come".to_owned()
            } else {
                format!("{} req/s", ch.rate)
            },
            ch.hostname,
            ch.iterations,
            ch.backends[0],
            ch.backends[1],
            fmt_dur(ch.period),
            fmt_dur(ch.before),
            fmt_dur(ch.after),
            ch.max_failures
        );
        let sc = &c.scale;
        let _ = writeln!(
            s,
            "route-scale      {} routes, churn {} at {} patches/s{}, traffic {} req/s, leak above {} MiB/h",
            sc.routes,
            fmt_dur(sc.duration),
            sc.churn_rate,
            sc.roll_every
                .filter(|_| sc.roll.is_some())
                .map_or_else(String::new, |d| format!(", roll every {}", fmt_dur(d))),
            sc.rate,
            sc.max_memory_slope_mib_per_hour
        );
        let f = &c.failover;
        let _ = writeln!(
            s,
            "backend-failover {} req/s over {}, {} x (kill {}, {} down, {} up){}",
            f.rate,
            if f.routes > 0 {
                format!("{} routes to {}", f.routes, f.backends.join(", "))
            } else {
                f.paths.join(", ")
            },
            f.cycles,
            f.flapping
                .as_deref()
                .or(f.backends.last().map(String::as_str))
                .unwrap_or("-"),
            fmt_dur(f.down),
            fmt_dur(f.up),
            f.kill.as_ref().map_or_else(
                || " (kill/revive: the demo's, with --demo)".to_owned(),
                |k| format!(" via {}", k.describe())
            )
        );
        let st = &c.staleness;
        let _ = writeln!(
            s,
            "staleness        {} connections idle {}, roll{}, {} requests each, max 503 {}",
            st.connections,
            fmt_dur(st.idle),
            st.roll.as_ref().map_or_else(
                || " (the demo's, with --demo)".to_owned(),
                |r| format!(" {}", r.describe())
            ),
            st.requests,
            st.max_503
        );
        let m = &c.matrix;
        let _ = writeln!(
            s,
            "traffic-matrix   {:?} connections x (max, {} req/s), {} each",
            m.connections,
            m.rate,
            fmt_dur(m.duration)
        );
        for src in &self.probes.sources {
            let _ = writeln!(s, "source   {} every {}", src.name, fmt_dur(src.interval));
        }
        if let Some(d) = &self.demo {
            let k = &d.kube;
            let _ = writeln!(
                s,
                "demo     propagation {}{}{}{} (used with --demo)",
                fmt_dur(k.propagation),
                k.swap_drop
                    .map_or_else(String::new, |x| format!(", swap_drop {}", fmt_dur(x))),
                k.health_check.map_or_else(String::new, |h| format!(
                    ", health checks every {} (fall {}, rise {})",
                    fmt_dur(h.interval),
                    h.fall,
                    h.rise
                )),
                if k.retries > 0 {
                    format!(", {} retries", k.retries)
                } else {
                    String::new()
                }
            );
        }
        s
    }
}

/// Reads and validates a scenario profile.
pub fn load(path: &str) -> Result<ScenarioPlan, ProfileError> {
    parse(path, &super::read(path)?)
}

pub fn parse(path: &str, text: &str) -> Result<ScenarioPlan, ProfileError> {
    let src = Source { path, text };
    let raw: RawProfile = super::from_toml(&src)?;
    validate(&src, raw)
}

fn validate(src: &Source, raw: RawProfile) -> Result<ScenarioPlan, ProfileError> {
    let demo = raw
        .demo
        .map(|d| super::validate::demo_config(src, d))
        .transpose()?;
    let probes =
        super::probes::probes_config(src, raw.sources, raw.stats, raw.probes, demo.is_some())?;
    let mut config = ScenarioConfig {
        kube: super::routes::kube_settings(raw.kube),
        ..ScenarioConfig::default()
    };
    if let Some(s) = raw.scenario {
        scenario(src, s, &mut config)?;
    }
    Ok(ScenarioPlan {
        name: raw.name.unwrap_or_else(|| {
            std::path::Path::new(src.path)
                .file_stem()
                .map_or_else(|| "scenario".into(), |s| s.to_string_lossy().into_owned())
        }),
        source: Some(src.path.to_owned()),
        config,
        demo,
        probes,
    })
}

fn scenario(
    src: &Source,
    s: Spanned<RawScenario>,
    c: &mut ScenarioConfig,
) -> Result<(), ProfileError> {
    let s = s.into_inner();
    let name = |v: Option<Spanned<String>>, field: &str| -> Result<Option<String>, ProfileError> {
        match v {
            Some(v) if !is_dns_label(v.get_ref()) => Err(src.at(
                v.span(),
                format!("scenario.{field}: '{}' is not a Kubernetes name (lower-case letters, digits and '-', at most 63, starting and ending with a letter or digit)", v.get_ref()),
            )),
            v => Ok(v.map(Spanned::into_inner)),
        }
    };
    let k = &mut c.cluster;
    if let Some(v) = name(s.gateway, "gateway")? {
        k.gateway = v;
    }
    k.gateway_namespace = name(s.gateway_namespace, "gateway_namespace")?;
    k.namespace = name(s.namespace, "namespace")?;
    if let Some(v) = name(s.backend, "backend")? {
        k.backend = v;
    }
    if let Some(v) = name(s.missing_backend, "missing_backend")? {
        k.missing_backend = v;
    }
    if let Some(v) = name(s.name_prefix, "name_prefix")? {
        k.name_prefix = v;
    }
    if let Some(p) = s.backend_port {
        k.backend_port = u16::try_from(*p.get_ref())
            .ok()
            .filter(|p| *p > 0)
            .ok_or_else(|| src.at(p.span(), "scenario.backend_port: must be 1 to 65535"))?;
    }
    if let Some(u) = s.gateway_url {
        check_url(u.get_ref())
            .map_err(|m| src.at(u.span(), format!("scenario.gateway_url: {m}")))?;
        k.gateway_url = Some(u.into_inner());
    }
    if let Some(a) = s.attached_routes {
        let f = "scenario.attached_routes";
        if let Some(r) = a.routes {
            c.attached.routes = route_counts(src, &format!("{f}.routes"), r)?;
        }
        if let Some(w) = a.writers {
            c.attached.writers = usize::try_from(*w.get_ref())
                .ok()
                .filter(|w| (1..=64).contains(w))
                .ok_or_else(|| src.at(w.span(), format!("{f}.writers: must be 1 to 64")))?;
        }
        if let Some(r) = a.write_rate {
            let v = *r.get_ref();
            if !(v.is_finite() && v > 0.0) {
                return Err(src.at(r.span(), format!("{f}.write_rate: must be more than 0 writes per second (leave it out for no limit)")));
            }
            c.attached.write_rate = Some(v);
        }
        if let Some(t) = positive_dur(src, &format!("{f}.timeout"), a.timeout)? {
            c.attached.timeout = t;
        }
        c.attached.max_setup = positive_dur(src, &format!("{f}.max_setup"), a.max_setup)?;
        c.attached.max_teardown = positive_dur(src, &format!("{f}.max_teardown"), a.max_teardown)?;
    }
    if let Some(p) = s.route_probe {
        let f = "scenario.route_probe";
        if let Some(r) = p.routes {
            c.probe.routes = route_counts(src, &format!("{f}.routes"), r)?;
        }
        if let Some(i) = positive_dur(src, &format!("{f}.interval"), p.interval)? {
            c.probe.interval = i;
        }
        if let Some(t) = positive_dur(src, &format!("{f}.timeout"), p.timeout)? {
            c.probe.timeout = t;
        }
        c.probe.max_p99 = positive_dur(src, &format!("{f}.max_p99"), p.max_p99)?;
        if let Some(m) = p.max_errors {
            c.probe.max_errors = non_negative(src, &format!("{f}.max_errors"), &m)?;
        }
    }
    if let Some(r) = s.route_change {
        let f = "scenario.route_change";
        let ch = &mut c.change;
        let rate_given = r.rate.is_some();
        if let Some(v) = r.rate {
            let x = *v.get_ref();
            if !(x.is_finite() && x > 0.0 && x <= 20_000.0) {
                return Err(src.at(
                    v.span(),
                    format!("{f}.rate: must be more than 0 and at most 20000 requests per second"),
                ));
            }
            ch.rate = x;
        }
        if let Some(m) = r.max_rate {
            if *m.get_ref() && rate_given {
                return Err(src.at(
                    m.span(),
                    format!("{f}.max_rate: give rate (open loop, requests per second) or max_rate = true (one closed-loop client, as fast as answers come), not both"),
                ));
            }
            ch.max_rate = *m.get_ref();
        }
        if let Some(p) = positive_dur(src, &format!("{f}.period"), r.period)? {
            ch.period = p;
        }
        if let Some(i) = r.iterations {
            ch.iterations = u32::try_from(*i.get_ref())
                .ok()
                .filter(|i| (1..=10_000).contains(i))
                .ok_or_else(|| src.at(i.span(), format!("{f}.iterations: must be 1 to 10000")))?;
        }
        if let Some(b) = r.backends {
            match b.get_ref().as_slice() {
                [x, y] if x != y && is_dns_label(x) && is_dns_label(y) => {
                    ch.backends = [x.clone(), y.clone()];
                }
                _ => {
                    return Err(src.at(b.span(), format!("{f}.backends: give two different Service names, e.g. [\"echo-v1\", \"echo-v2\"]")))
                }
            }
        }
        if let Some(h) = r.backend_header {
            if http::HeaderName::from_bytes(h.get_ref().as_bytes()).is_err() {
                return Err(src.at(
                    h.span(),
                    format!("{f}.backend_header: '{}' is not a header name", h.get_ref()),
                ));
            }
            ch.backend_header = Some(h.into_inner()).filter(|h| !h.is_empty());
        }
        if let Some(d) = dur_or_zero(r.before) {
            ch.before = d;
        }
        if let Some(d) = dur_or_zero(r.after) {
            ch.after = d;
        }
        if let Some(t) = positive_dur(src, &format!("{f}.timeout"), r.timeout)? {
            ch.timeout = t;
        }
        if let Some(m) = r.max_failures {
            ch.max_failures = non_negative(src, &format!("{f}.max_failures"), &m)?;
        }
        if let Some(h) = r.hostname {
            ch.hostname = h.into_inner();
        }
    }
    use super::scenario_tables as t;
    if let Some(r) = s.route_scale {
        t::route_scale(src, r, c)?;
    }
    if let Some(r) = s.backend_failover {
        t::backend_failover(src, r, c)?;
    }
    if let Some(r) = s.staleness {
        t::staleness(src, r, c)?;
    }
    if let Some(r) = s.traffic_matrix {
        t::traffic_matrix(src, r, c)?;
    }
    Ok(())
}

fn dur_or_zero(d: Option<Spanned<Dur>>) -> Option<Duration> {
    d.map(|d| d.get_ref().0)
}

fn non_negative(src: &Source, field: &str, v: &Spanned<i64>) -> Result<u64, ProfileError> {
    u64::try_from(*v.get_ref()).map_err(|_| src.at(v.span(), format!("{field}: must be 0 or more")))
}

/// `routes = 100` or `routes = [1000, 5000]` (one run per count, in order).
fn route_counts(
    src: &Source,
    field: &str,
    v: Spanned<toml::Value>,
) -> Result<Vec<usize>, ProfileError> {
    let bad = || {
        src.at(
            v.span(),
            format!("{field}: give a route count from 1 to {MAX_ROUTES}, or a list of them (e.g. [1000, 5000])"),
        )
    };
    let one = |x: &toml::Value| {
        x.as_integer()
            .and_then(|n| usize::try_from(n).ok())
            .filter(|n| (1..=MAX_ROUTES).contains(n))
    };
    match v.get_ref() {
        toml::Value::Array(a) if !a.is_empty() => {
            a.iter().map(|x| one(x).ok_or_else(bad)).collect()
        }
        x => one(x).map(|n| vec![n]).ok_or_else(bad),
    }
}

/// Checks a route count given on the command line.
pub fn route_count_flag(flag: &str, n: usize) -> Result<usize, ProfileError> {
    if (1..=MAX_ROUTES).contains(&n) {
        Ok(n)
    } else {
        Err(ProfileError::Flag {
            flag: flag.into(),
            message: format!("must be 1 to {MAX_ROUTES}"),
        })
    }
}

fn check_url(u: &str) -> Result<(), String> {
    crate::spec::plan::Endpoint::parse(u).map(|_| ())
}

/// RFC 1123 label: what Kubernetes accepts for Service and namespace names.
pub fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_gateway_api_bench() {
        let p = parse("s.toml", "").unwrap();
        assert_eq!(p.config.attached.routes, vec![1000]);
        assert_eq!(p.config.attached.writers, 1);
        assert_eq!(p.config.probe.interval, Duration::from_millis(5));
        assert_eq!(p.config.change.rate, 200.0);
        assert_eq!(p.config.change.period, Duration::from_millis(200));
        assert_eq!(p.config.change.iterations, 20);
        assert_eq!(p.config.change.max_failures, 0);
    }

    #[test]
    fn lists_of_sizes_and_settings_are_read() {
        let p = parse(
            "s.toml",
            r#"
[scenario]
gateway = "gw"
gateway_url = "http://10.0.0.1"
[scenario.attached_routes]
routes = [1000, 5000]
writers = 4
write_rate = 50.0
max_setup = "30s"
[scenario.route_change]
backends = ["a", "b"]
iterations = 5
"#,
        )
        .unwrap();
        assert_eq!(p.config.cluster.gateway, "gw");
        assert_eq!(p.config.attached.routes, vec![1000, 5000]);
        assert_eq!(p.config.attached.writers, 4);
        assert_eq!(p.config.attached.write_rate, Some(50.0));
        assert_eq!(p.config.attached.max_setup, Some(Duration::from_secs(30)));
        assert_eq!(p.config.change.backends, ["a".to_string(), "b".to_string()]);
        assert_eq!(p.config.change.iterations, 5);
    }

    #[test]
    fn the_presets_are_valid() {
        let quick = parse(
            "profiles/scenarios-quick.toml",
            include_str!("../../profiles/scenarios-quick.toml"),
        )
        .unwrap();
        assert_eq!(quick.config.attached.routes, vec![100]);
        assert_eq!(quick.config.probe.routes, vec![100]);
        assert_eq!(quick.config.cluster.backend_port, 8080);
        let full = parse(
            "profiles/scenarios-comprehensive.toml",
            include_str!("../../profiles/scenarios-comprehensive.toml"),
        )
        .unwrap();
        assert_eq!(full.config.attached.routes, vec![1000, 5000]);
        assert_eq!(full.config.probe.routes, vec![1000, 5000]);
    }

    #[test]
    fn bad_values_name_file_line_and_field() {
        let cases = [
            (
                "[scenario.attached_routes]\nroutes = 0\n",
                "s.toml:2:10: scenario.attached_routes.routes",
            ),
            (
                "[scenario.attached_routes]\nwriters = 100\n",
                "s.toml:2:11: scenario.attached_routes.writers: must be 1 to 64",
            ),
            (
                "[scenario.route_change]\nbackends = [\"a\"]\n",
                "s.toml:2:12: scenario.route_change.backends",
            ),
            (
                "[scenario]\ngateway = \"My_GW\"\n",
                "s.toml:2:11: scenario.gateway: 'My_GW' is not a Kubernetes name",
            ),
            (
                "[scenario]\ngateway_url = \"10.0.0.1\"\n",
                "s.toml:2:15: scenario.gateway_url",
            ),
            (
                "[scenario.route_probe]\ninterval = \"0s\"\n",
                "scenario.route_probe.interval: must be longer than 0",
            ),
            ("[scenario.route_probe]\nfoo = 1\n", "unknown field `foo`"),
        ];
        for (text, want) in cases {
            let e = parse("s.toml", text).unwrap_err().to_string();
            assert!(e.contains(want), "{text:?}: {e}");
        }
    }
}
