//! The validated run plan every subsystem works from: target, requests, load stages, demo settings.

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderName, HeaderValue, Method};

use rampdeck_base::fmt::{fmt_dur, fmt_level};
use rampdeck_demo::config::DemoConfig;

/// One validated profile, after CLI overrides. Built only by `profile::validate`
/// or `Plan::adhoc`, so every value in it is already known to be usable.
#[derive(Debug, Clone)]
pub struct Plan {
    pub name: String,
    pub description: Option<String>,
    /// The profile file this came from (None for an ad-hoc URL run).
    pub source: Option<String>,
    /// SHA-256 of the profile's text, so a report names exactly what ran.
    pub source_sha256: Option<String>,
    pub target: Target,
    pub requests: Vec<RequestSpec>,
    pub load: LoadPlan,
    pub demo: Option<DemoConfig>,
    pub probes: crate::spec::probes::ProbesConfig,
    /// Pass/fail criteria, judged live and at the end (exit code 99 on a breach).
    pub thresholds: Vec<crate::spec::thresholds::Threshold>,
    /// Route actions fired by key or schedule.
    pub routes: crate::spec::routes::RoutesConfig,
    /// `[find]`: what `rampdeck find` searches (None: its defaults).
    pub find: Option<crate::spec::find::FindConfig>,
    /// `[[data]]` feeders the requests' templates read.
    pub data: std::sync::Arc<crate::template::Feeders>,
    /// `[agents]` or `--agents`: send the load from agents (None: from here).
    pub agents: Option<crate::spec::agents::AgentsSpec>,
    /// `[delivery]`: a sink for what the system delivers, and the accounting of every event.
    pub delivery: Option<crate::spec::delivery::DeliveryConfig>,
    /// `mode = "connections"`: held connections instead of requests (the
    /// load's level is their count).
    pub connections: Option<std::sync::Arc<crate::spec::connections::ConnectionsPlan>>,
    /// `[metrics]` or `--metrics-listen`: rampdeck's own metrics endpoint.
    pub metrics: Option<crate::spec::metrics::MetricsConfig>,
    /// `[[setup]]`: the test's workload, applied before the load and removed after.
    pub setup: crate::spec::setup::SetupConfig,
}

impl Plan {
    /// A plan of `target`, `requests` and `load` with every optional section
    /// empty: the one shape the loader, ad-hoc runs, agents and replay
    /// build on (`Plan { demo, ..Plan::new(..) }`).
    pub fn new(name: String, target: Target, requests: Vec<RequestSpec>, load: LoadPlan) -> Plan {
        Plan {
            name,
            description: None,
            source: None,
            source_sha256: None,
            target,
            requests,
            load,
            demo: None,
            probes: Default::default(),
            thresholds: Vec::new(),
            routes: Default::default(),
            find: None,
            data: Default::default(),
            agents: None,
            delivery: None,
            connections: None,
            metrics: None,
            setup: Default::default(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Target {
    pub addr: TargetAddr,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub timeout: Duration,
    pub connect_timeout: Duration,
    pub http2: bool,
    pub insecure: bool,
    /// Plain HTTP/1.1 on the lean path (`engine::lean`); `http1 = "hyper"` turns it off.
    pub lean: bool,
}

/// Where load goes: a URL, or the embedded demo gateway whose port is only
/// known once it has started (see `Plan::with_demo_address`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetAddr {
    Url(Endpoint),
    Demo,
}

/// A parsed base URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub https: bool,
    pub host: String,
    pub port: u16,
    /// `host[:port]` as it goes into the Host header / :authority (never the userinfo).
    pub authority: String,
    /// Path prefix from the base URL, without a trailing slash ("" for none).
    pub base_path: String,
    /// `user:password@` from the URL: sent as `Authorization: Basic`, as curl
    /// does, and shown as `user:***@`.
    pub userinfo: Option<crate::util::secret::UserInfo>,
}

impl Endpoint {
    pub fn parse(url: &str) -> Result<Self, String> {
        // Messages quote the URL: never with its password.
        let shown = crate::util::secret::redact(url);
        if let Some(i) = url.find(|c: char| c.is_control()) {
            return Err(format!(
                "invalid URL '{}': it contains a control character (byte {i}); a URL cannot carry CR, LF or other control characters",
                crate::util::text::sanitize(&shown)
            ));
        }
        if let Some((scheme, _)) = url.split_once("://") {
            if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
                return Err(format!(
                    "invalid URL '{shown}': unsupported scheme '{scheme}'; rampdeck sends HTTP, use http:// or https://"
                ));
            }
        }
        let uri: http::Uri = url
            .parse()
            .map_err(|e| format!("invalid URL '{shown}': {e}"))?;
        let https = match uri.scheme_str() {
            Some("http") => false,
            Some("https") => true,
            Some(other) => {
                return Err(format!(
                    "invalid URL '{shown}': unsupported scheme '{other}'; rampdeck sends HTTP, use http:// or https://"
                ))
            }
            None => {
                return Err(format!(
                    "invalid URL '{shown}': it needs a scheme, e.g. http://{shown}"
                ))
            }
        };
        let authority = uri
            .authority()
            .ok_or_else(|| format!("invalid URL '{shown}': it has no host"))?;
        let (userinfo, host_port) = crate::util::secret::split_userinfo(authority.as_str());
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']');
        if host.is_empty() {
            return Err(format!("invalid URL '{shown}': it has no host"));
        }
        if uri.query().is_some() {
            return Err(format!(
                "invalid URL '{shown}': a base URL cannot carry a query; put it in a request path"
            ));
        }
        let port = match explicit_port(host_port) {
            None => {
                if https {
                    443
                } else {
                    80
                }
            }
            Some(text) => match text.parse::<u32>() {
                Ok(p @ 1..=65535) => p as u16,
                _ => {
                    return Err(format!(
                        "invalid URL '{shown}': port '{text}' is not a port; it must be a number from 1 to 65535"
                    ))
                }
            },
        };
        Ok(Endpoint {
            https,
            host: host.to_owned(),
            port,
            authority: host_port.to_owned(),
            base_path: uri.path().trim_end_matches('/').to_owned(),
            userinfo,
        })
    }

    /// The base URL as shown and stored: a password is `***`.
    pub fn url(&self) -> String {
        format!(
            "{}://{}{}{}",
            if self.https { "https" } else { "http" },
            self.userinfo
                .as_ref()
                .map_or_else(String::new, |u| u.shown()),
            self.authority,
            self.base_path
        )
    }
}

/// The port text of `host:port` or `[v6]:port`, if one is written.
fn explicit_port(host_port: &str) -> Option<&str> {
    let after_host = match host_port.rfind(']') {
        Some(i) => &host_port[i + 1..],
        None => host_port,
    };
    after_host.rsplit_once(':').map(|(_, p)| p)
}

/// Why a header the user set would break the request's framing, if it
/// would. rampdeck sets Content-Length from the body (hyper frames it); a
/// different one truncates the body or hangs the server waiting for more,
/// and a user Transfer-Encoding would make the server misread the body.
/// `body_len` is None for target-wide headers, sent with every body size.
pub fn framing_problem(name: &str, value: &str, body_len: Option<usize>) -> Option<String> {
    if name.eq_ignore_ascii_case("transfer-encoding") {
        return Some(
            "rampdeck frames the body itself; remove this header (a body is sent with Content-Length)"
                .into(),
        );
    }
    if !name.eq_ignore_ascii_case("content-length") {
        return None;
    }
    match body_len {
        None => Some(
            "Content-Length cannot be set for every request; rampdeck sets it from each request's body, so remove it"
                .into(),
        ),
        Some(len) if value.trim().parse::<usize>().ok() != Some(len) => Some(format!(
            "'{value}' disagrees with the body ({len} bytes); remove it, rampdeck sets Content-Length from the body"
        )),
        Some(_) => None,
    }
}

#[derive(Debug, Clone)]
pub struct RequestSpec {
    pub name: String,
    pub method: Method,
    /// Path and query, starting with '/', appended to the base path.
    pub path: String,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub body: Bytes,
    pub weight: u32,
    /// Its `{{...}}` placeholders, compiled (None: it is sent as it is).
    pub template: Option<std::sync::Arc<crate::template::RequestTemplate>>,
    /// `expect`: what a response must be to count as a success.
    pub expect: Option<std::sync::Arc<crate::checks::Expect>>,
    /// `kind = "grpc"`: a unary call, judged by its grpc-status.
    pub grpc: Option<std::sync::Arc<crate::spec::grpc::GrpcRequest>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Requests leave at a scheduled rate whatever the responses do.
    Open,
    /// A fixed number of requests in flight; the next leaves when one returns.
    Closed,
}

impl Mode {
    pub fn unit(self) -> &'static str {
        match self {
            Mode::Open => "req/s",
            Mode::Closed => "concurrent",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StageKind {
    Ramp,
    Hold,
}

/// Why `which` (a stage's name, or its 1-based number) names no stage of
/// `stages`, if it does not; the message lists what would.
pub fn unknown_stage(stages: &[Stage], which: &str) -> Option<String> {
    if let Ok(n) = which.parse::<usize>() {
        return (n == 0 || n > stages.len()).then(|| {
            format!(
                "stage {n}: the plan has {} stage(s), numbered from 1",
                stages.len()
            )
        });
    }
    if stages.iter().any(|s| s.name.as_deref() == Some(which)) {
        return None;
    }
    let names: Vec<String> = stages
        .iter()
        .filter_map(|s| s.name.as_ref().map(|n| format!("'{n}'")))
        .collect();
    Some(if names.is_empty() {
        format!("no stage is named '{which}' (none has a name: give [[load.stages]] a name = \"...\", or use its number)")
    } else {
        format!(
            "no stage is named '{which}' (named stages: {}; or use a number)",
            names.join(", ")
        )
    })
}

/// A stage moves the level (rate in open mode, concurrency in closed mode)
/// linearly from `from` to `to`; a hold has `from == to`.
#[derive(Debug, Clone, PartialEq)]
pub struct Stage {
    pub kind: StageKind,
    pub from: f64,
    pub to: f64,
    pub duration: Duration,
    /// What `stage.NAME.p99` calls it (the profile's `name`; else its number).
    pub name: Option<String>,
}

impl Stage {
    pub fn hold(level: f64, duration: Duration) -> Self {
        Stage {
            kind: StageKind::Hold,
            from: level,
            to: level,
            duration,
            name: None,
        }
    }

    /// In words, with the level's unit (`Plan::level_unit`).
    pub fn describe(&self, unit: &str) -> String {
        match self.kind {
            StageKind::Hold => format!(
                "hold {} {} for {}",
                fmt_level(self.from),
                unit,
                fmt_dur(self.duration)
            ),
            StageKind::Ramp => format!(
                "ramp {} -> {} {} over {}",
                fmt_level(self.from),
                fmt_level(self.to),
                unit,
                fmt_dur(self.duration)
            ),
        }
    }
}

#[derive(Debug, Clone)]
pub struct LoadPlan {
    pub mode: Mode,
    pub stages: Vec<Stage>,
    /// Open mode: the connection pool size (HTTP/1.1: requests in flight at most).
    /// Closed mode: the most workers that can ever be asked for.
    pub max_connections: usize,
    pub warmup: Duration,
    pub seed: u64,
    pub interval: Duration,
}

impl LoadPlan {
    pub fn duration(&self) -> Duration {
        self.stages.iter().map(|s| s.duration).sum()
    }

    /// The stage index and level at `t` into the run (run clock, pauses excluded).
    /// Past the end, the last stage's final level.
    pub fn level_at(&self, t: Duration) -> (usize, f64) {
        let mut start = Duration::ZERO;
        for (i, s) in self.stages.iter().enumerate() {
            let end = start + s.duration;
            if t < end {
                let f = (t - start).as_secs_f64() / s.duration.as_secs_f64();
                return (i, s.from + (s.to - s.from) * f);
            }
            start = end;
        }
        let last = self.stages.len().saturating_sub(1);
        (last, self.stages.last().map_or(0.0, |s| s.to))
    }

    /// Start offset of stage `i` on the run clock.
    pub fn stage_start(&self, i: usize) -> Duration {
        self.stages.iter().take(i).map(|s| s.duration).sum()
    }

    pub fn peak_level(&self) -> f64 {
        self.stages
            .iter()
            .map(|s| s.from.max(s.to))
            .fold(0.0, f64::max)
    }
}

// Formatting lives in the leaf `util::fmt`; re-exported for the many callers here.

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_parses_base_url() {
        let e = Endpoint::parse("https://gw.example.com:8443/api/").unwrap();
        assert!(e.https);
        assert_eq!(e.port, 8443);
        assert_eq!(e.authority, "gw.example.com:8443");
        assert_eq!(e.base_path, "/api");
        let e = Endpoint::parse("http://[::1]/").unwrap();
        assert_eq!((e.host.as_str(), e.port), ("::1", 80));
    }

    #[test]
    fn endpoint_rejects_bad_urls() {
        assert!(Endpoint::parse("ftp://x")
            .unwrap_err()
            .contains("scheme 'ftp'"));
        assert!(Endpoint::parse("example.com")
            .unwrap_err()
            .contains("needs a scheme"));
        assert!(Endpoint::parse("http://x/?a=1")
            .unwrap_err()
            .contains("query"));
    }

    #[test]
    fn level_follows_stages() {
        let plan = LoadPlan {
            mode: Mode::Open,
            stages: vec![
                Stage {
                    kind: StageKind::Ramp,
                    from: 0.0,
                    to: 100.0,
                    duration: Duration::from_secs(10),
                    name: None,
                },
                Stage::hold(100.0, Duration::from_secs(5)),
            ],
            max_connections: 1,
            warmup: Duration::ZERO,
            seed: 1,
            interval: Duration::from_millis(250),
        };
        assert_eq!(plan.level_at(Duration::from_secs(5)), (0, 50.0));
        assert_eq!(plan.level_at(Duration::from_secs(12)), (1, 100.0));
        assert_eq!(plan.level_at(Duration::from_secs(99)), (1, 100.0));
        assert_eq!(plan.duration(), Duration::from_secs(15));
    }
}
