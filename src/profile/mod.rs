//! Profiles: the TOML schema, its validation into a `Plan`, CLI overrides, and ad-hoc URL plans.
//!
//! `schema` describes the file, `validate` decides what it means, `plan` is
//! what the rest of rampdeck runs from, `error` renders file:line:col messages.

pub mod agents;
pub mod connections;
pub mod data;
pub mod delivery;
pub mod error;
pub mod find;
pub mod grpc;
pub mod load;
pub mod probes;
pub mod request;
pub mod routes;
pub mod scenario;
pub mod schema;
pub mod setup;
pub mod target;
pub mod thresholds;
pub mod validate;

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderName, HeaderValue, Method};

pub use error::ProfileError;

use crate::spec::plan::{Endpoint, LoadPlan, Mode, Plan, RequestSpec, Stage, Target, TargetAddr};
use error::Source;

/// Reads and validates a profile file.
pub fn load(path: &str) -> Result<Plan, ProfileError> {
    parse(path, &read(path)?)
}

/// Reads a profile's text: at most `MAX_PROFILE_BYTES`, UTF-8, failing as
/// soon as either is broken (`/dev/zero` and `/dev/urandom` return at once).
pub fn read(path: &str) -> Result<String, ProfileError> {
    use std::io::Read;
    let io = |source| ProfileError::Read {
        path: path.to_owned(),
        source,
    };
    let whole = |message: String| ProfileError::Whole {
        path: path.to_owned(),
        message,
    };
    let limit = crate::util::limits::MAX_PROFILE_BYTES;
    let file = std::fs::File::open(path).map_err(io)?;
    let mut reader = std::io::BufReader::new(file).take(limit + 1);
    let mut buf = Vec::new();
    let mut chunk = [0u8; 64 * 1024];
    let mut checked = 0;
    loop {
        let n = match reader.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(io(e)),
        };
        buf.extend_from_slice(&chunk[..n]);
        if buf.len() as u64 > limit {
            return Err(whole(format!(
                "is larger than {} MiB, the most a profile may be; is this a profile?",
                limit / (1024 * 1024)
            )));
        }
        // Validate as it arrives; a character cut at the chunk's end waits for the next.
        match std::str::from_utf8(&buf[checked..]) {
            Ok(_) => checked = buf.len(),
            Err(e) if e.error_len().is_none() => checked += e.valid_up_to(),
            Err(e) => {
                return Err(whole(format!(
                    "is not UTF-8 text (invalid byte at offset {}); a profile is a TOML file",
                    checked + e.valid_up_to()
                )))
            }
        }
        if let Some(i) = chunk[..n].iter().position(|&b| b == 0) {
            return Err(whole(format!(
                "holds a NUL byte (offset {}); a profile is a TOML text file",
                buf.len() - n + i
            )));
        }
    }
    String::from_utf8(buf).map_err(|e| {
        whole(format!(
            "is not UTF-8 text (it ends inside a character at offset {})",
            e.utf8_error().valid_up_to()
        ))
    })
}

/// Validates profile text; `path` is only used in messages.
pub fn parse(path: &str, text: &str) -> Result<Plan, ProfileError> {
    let src = Source { path, text };
    let raw = from_toml(&src)?;
    validate::validate(&src, raw)
}

/// Parses the TOML into the schema, with errors at file:line:col.
fn from_toml(src: &Source) -> Result<schema::RawProfile, ProfileError> {
    toml::from_str(src.text).map_err(|e| {
        let message = plain_types(e.message());
        match e.span() {
            Some(span) => {
                // A bad value: name the field it was given for.
                let value_error = [
                    "invalid type",
                    "invalid value",
                    "invalid duration",
                    "invalid length",
                    "'",
                ]
                .iter()
                .any(|p| message.starts_with(p));
                match src.field_at(span.start).filter(|_| value_error) {
                    Some(field) => src.at(span, format!("{field}: {message}")),
                    None => src.at(span, message),
                }
            }
            None => src.whole(message),
        }
    })
}

/// Whether the text has a `[scenario]` table (so `check` validates it as a scenario profile).
pub fn is_scenario_profile(text: &str) -> bool {
    toml::from_str::<toml::Table>(text).is_ok_and(|t| t.contains_key("scenario"))
}

/// serde names Rust types ("expected f64"); users wrote TOML, so name TOML's.
fn plain_types(message: &str) -> String {
    message
        .replace("expected f64", "expected a number")
        .replace("expected i64", "expected a whole number")
        .replace("expected u64", "expected a whole number 0 or more")
}

/// Command-line values that replace the profile's.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub rate: Option<f64>,
    pub concurrency: Option<u32>,
    pub duration: Option<Duration>,
    /// `--agents SPEC`, with `--agent-token-file` for static agents.
    pub agents: Option<crate::spec::agents::AgentsSpec>,
    /// `--metrics-listen ADDR`.
    pub metrics_listen: Option<std::net::SocketAddr>,
}

impl Overrides {
    /// `--rate`/`--concurrency` replace the stages with one hold at that level;
    /// `--duration` alone cuts the stages short, or holds the final level longer.
    pub fn apply(&self, plan: &mut Plan) -> Result<(), ProfileError> {
        let flag = |flag: &str, message: String| ProfileError::Flag {
            flag: flag.into(),
            message,
        };
        if let Some(a) = &self.agents {
            plan.agents = Some(a.clone());
        }
        if let Some(listen) = self.metrics_listen {
            plan.metrics = Some(crate::spec::metrics::MetricsConfig { listen });
        }
        if let Some(d) = self.duration {
            if d.is_zero() {
                return Err(flag("--duration", "must be longer than 0".into()));
            }
        }
        let total = self.duration.unwrap_or_else(|| plan.load.duration());
        let level = match (self.rate, self.concurrency) {
            (Some(r), _) if r.is_nan() || r <= 0.0 || r.is_infinite() => {
                return Err(flag(
                    "--rate",
                    format!(
                        "must be more than 0 requests per second, got {}",
                        rampdeck_base::fmt::num(r)
                    ),
                ))
            }
            (Some(r), _) if r > crate::util::limits::MAX_RATE => {
                return Err(flag(
                    "--rate",
                    format!(
                        "{} is more than the most rampdeck sends ({})",
                        rampdeck_base::fmt::num(r),
                        crate::util::limits::MAX_RATE_TEXT
                    ),
                ))
            }
            (Some(r), _) => Some((Mode::Open, r)),
            (None, Some(0)) => return Err(flag("--concurrency", "must be at least 1".into())),
            (None, Some(c)) if c as i64 > crate::util::limits::MAX_CONNECTIONS => {
                return Err(flag(
                    "--concurrency",
                    format!("must be at most {}", crate::util::limits::MAX_CONNECTIONS),
                ))
            }
            (None, Some(c)) => Some((Mode::Closed, c as f64)),
            (None, None) => None,
        };
        if let Some((mode, level)) = level {
            if mode == Mode::Closed {
                plan.load.max_connections = plan.load.max_connections.max(level as usize);
                if plan.load.mode == Mode::Open {
                    plan.load.max_connections = level as usize;
                }
            }
            plan.load.mode = mode;
            plan.load.stages = vec![Stage::hold(level, total)];
        } else if self.duration.is_some() {
            plan.load.stages = fit_stages(&plan.load.stages, total);
        }
        if plan.load.warmup >= plan.load.duration() {
            return Err(flag(
                "--duration",
                format!(
                    "the run ({}) is not longer than the profile's warmup ({}), so nothing would be measured",
                    rampdeck_base::fmt::fmt_dur(plan.load.duration()),
                    rampdeck_base::fmt::fmt_dur(plan.load.warmup)
                ),
            ));
        }
        Ok(())
    }
}

/// Cuts `stages` at `total`, or extends the last level as a hold up to `total`.
fn fit_stages(stages: &[Stage], total: Duration) -> Vec<Stage> {
    let mut out = Vec::new();
    let mut start = Duration::ZERO;
    for s in stages {
        if start >= total {
            break;
        }
        let end = start + s.duration;
        if end <= total {
            out.push(*s);
        } else {
            let keep = total - start;
            let f = keep.as_secs_f64() / s.duration.as_secs_f64();
            out.push(Stage {
                to: s.from + (s.to - s.from) * f,
                duration: keep,
                ..*s
            });
        }
        start = end;
    }
    if start < total {
        let last = stages.last().map_or(0.0, |s| s.to);
        out.push(Stage::hold(last, total - start));
    }
    out
}

/// Flags for `rampdeck run URL`.
#[derive(Debug, Clone, Default)]
pub struct Adhoc {
    pub method: Option<String>,
    pub headers: Vec<String>,
    pub body: Option<String>,
    pub http2: bool,
    pub insecure: bool,
    pub timeout: Option<Duration>,
    /// `grpc://` runs: the descriptor set the `--data` JSON is encoded by.
    pub descriptor_set: Option<std::path::PathBuf>,
    /// `grpc://` runs: the request message as JSON.
    pub data: Option<String>,
}

/// Default level for an ad-hoc run without --rate/--concurrency, as oha and hey do.
pub const ADHOC_CONCURRENCY: u32 = 50;
pub const ADHOC_DURATION: Duration = Duration::from_secs(10);

/// A one-request plan for `rampdeck run URL`.
pub fn adhoc(url: &str, flags: &Adhoc, overrides: &Overrides) -> Result<Plan, ProfileError> {
    let flag = |flag: &str, message: String| ProfileError::Flag {
        flag: flag.into(),
        message,
    };
    let shown = crate::util::secret::redact(url).into_owned();
    let grpc_scheme = url.split_once("://").and_then(|(scheme, rest)| {
        match scheme.to_ascii_lowercase().as_str() {
            "grpc" => Some(("http", rest)),
            "grpcs" => Some(("https", rest)),
            _ => None,
        }
    });
    if let Some((scheme, rest)) = grpc_scheme {
        return adhoc_grpc(&format!("{scheme}://{rest}"), &shown, flags, overrides);
    }
    if flags.descriptor_set.is_some() || flags.data.is_some() {
        return Err(flag(
            if flags.data.is_some() { "--data" } else { "--descriptor-set" },
            "applies to a gRPC run: give a grpc://HOST:PORT/package.Service/Method URL (grpcs:// for TLS)".into(),
        ));
    }
    let scheme_ok = url
        .split_once("://")
        .is_some_and(|(s, _)| s.eq_ignore_ascii_case("http") || s.eq_ignore_ascii_case("https"));
    if url.chars().any(char::is_control) || !scheme_ok {
        // Endpoint::parse words it (and a path cannot carry one either).
        Endpoint::parse(url).map_err(|m| flag("URL", m))?;
    }
    let uri: http::Uri = url
        .parse()
        .map_err(|e| flag("URL", format!("invalid URL '{shown}': {e}")))?;
    let path = uri
        .path_and_query()
        .map_or_else(|| "/".to_owned(), |p| p.as_str().to_owned());
    let base = format!(
        "{}://{}",
        uri.scheme_str().unwrap_or(""),
        uri.authority().map_or("", |a| a.as_str())
    );
    let endpoint = Endpoint::parse(&base).map_err(|m| flag("URL", m))?;
    let method = match &flags.method {
        Some(m) => Method::from_bytes(m.to_ascii_uppercase().as_bytes())
            .map_err(|_| flag("--method", format!("'{m}' is not an HTTP method")))?,
        None => Method::GET,
    };
    let headers = flags
        .headers
        .iter()
        .map(|h| {
            let (k, v) = h.split_once(':').ok_or_else(|| {
                flag(
                    "-H",
                    format!("'{h}' is not a header; write it as 'Name: value'"),
                )
            })?;
            let name = HeaderName::from_bytes(k.trim().as_bytes())
                .map_err(|_| flag("-H", format!("'{}' is not a valid header name", k.trim())))?;
            let value = HeaderValue::from_str(v.trim())
                .map_err(|_| flag("-H", format!("'{}' is not a valid header value", v.trim())))?;
            let body_len = flags.body.as_ref().map_or(0, String::len);
            if let Some(m) = crate::spec::plan::framing_problem(k.trim(), v.trim(), Some(body_len))
            {
                return Err(flag("-H", format!("{}: {m}", k.trim())));
            }
            Ok((name, value))
        })
        .collect::<Result<Vec<_>, ProfileError>>()?;
    if flags.timeout.is_some_and(|t| t.is_zero()) {
        return Err(flag("--timeout", "must be longer than 0".into()));
    }
    let timeout = flags.timeout.unwrap_or(validate::DEFAULT_TIMEOUT);
    let mut plan = Plan {
        name: format!("{method} {shown}"),
        description: None,
        source: None,
        source_sha256: None,
        target: Target {
            addr: TargetAddr::Url(endpoint),
            headers: Vec::new(),
            timeout,
            connect_timeout: validate::DEFAULT_CONNECT_TIMEOUT.min(timeout),
            http2: flags.http2,
            insecure: flags.insecure,
            lean: true,
        },
        requests: vec![RequestSpec {
            name: format!("{method} {path}"),
            method,
            path,
            headers,
            body: flags.body.clone().map(Bytes::from).unwrap_or_default(),
            weight: 1,
            template: None,
            expect: None,
            grpc: None,
        }],
        load: LoadPlan {
            mode: Mode::Closed,
            stages: vec![Stage::hold(ADHOC_CONCURRENCY as f64, ADHOC_DURATION)],
            max_connections: ADHOC_CONCURRENCY as usize,
            warmup: Duration::ZERO,
            seed: validate::DEFAULT_SEED,
            interval: validate::DEFAULT_INTERVAL,
        },
        demo: None,
        thresholds: Vec::new(),
        routes: Default::default(),
        find: None,
        data: Default::default(),
        agents: None,
        delivery: None,
        connections: None,
        metrics: None,
        setup: Default::default(),
        probes: crate::spec::probes::ProbesConfig {
            sources: Vec::new(),
            stats: Vec::new(),
            probes: Vec::new(),
        },
    };
    if overrides.rate.is_some() {
        plan.load.max_connections = validate::DEFAULT_MAX_CONNECTIONS;
    }
    overrides.apply(&mut plan)?;
    Ok(plan)
}

/// `rampdeck run grpc://HOST:PORT/package.Service/Method --descriptor-set F
/// --data JSON`: one unary call, as ghz runs it; `url` is already http(s).
fn adhoc_grpc(
    url: &str,
    shown: &str,
    flags: &Adhoc,
    overrides: &Overrides,
) -> Result<Plan, ProfileError> {
    let flag = |flag: &str, message: String| ProfileError::Flag {
        flag: flag.into(),
        message,
    };
    let (base, method_path) = match url.split_once("://").map(|(s, r)| (s, r.split_once('/'))) {
        Some((scheme, Some((authority, path)))) => (format!("{scheme}://{authority}"), path),
        _ => {
            return Err(flag(
                "URL",
                format!("'{shown}' names no method: write grpc://HOST:PORT/package.Service/Method"),
            ))
        }
    };
    let Some((service, method)) = method_path.trim_end_matches('/').rsplit_once('/') else {
        return Err(flag(
            "URL",
            format!("'{shown}' names no method: write grpc://HOST:PORT/package.Service/Method"),
        ));
    };
    if flags.method.is_some() || flags.body.is_some() {
        return Err(flag(
            if flags.method.is_some() {
                "--method"
            } else {
                "--body"
            },
            "does not apply to a gRPC run: the message is --data (JSON, with --descriptor-set)"
                .into(),
        ));
    }
    let message = match &flags.descriptor_set {
        Some(path) => {
            let pool = grpc::load_pool(path).map_err(|e| flag("--descriptor-set", e))?;
            let m = grpc::find_method(&pool, service, method).map_err(|e| flag("URL", e))?;
            let json = flags.data.as_deref().unwrap_or("{}");
            crate::util::grpc::encode_json(&m.input(), json).map_err(|e| flag("--data", e))?
        }
        None if flags.data.is_some() => {
            return Err(flag(
                "--data",
                "is JSON, which needs the method's types: add --descriptor-set api.pb (protoc --include_imports --descriptor_set_out=api.pb api.proto)".into(),
            ))
        }
        // No types: an empty message, which every method accepts.
        None => Vec::new(),
    };
    let plain = Adhoc {
        method: Some("POST".into()),
        headers: flags.headers.clone(),
        http2: true,
        descriptor_set: None,
        data: None,
        body: None,
        ..flags.clone()
    };
    let mut plan = adhoc(&format!("{base}/{service}/{method}"), &plain, overrides)?;
    let full_method = format!("{service}/{method}");
    plan.name = format!("gRPC {shown}");
    if let Some(r) = plan.requests.first_mut() {
        r.name = full_method.clone();
        r.body = grpc::body(&message);
        r.headers.push((
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/grpc"),
        ));
        r.headers
            .push((http::header::TE, HeaderValue::from_static("trailers")));
        r.grpc = Some(std::sync::Arc::new(crate::spec::grpc::GrpcRequest {
            full_method,
            input: None,
            message_json: None,
        }));
    }
    Ok(plan)
}

impl Plan {
    /// The run-wide `{{vars}}` of route actions and setup manifests:
    /// `{{target}}`, `{{rampdeck}}` and, under `[demo]`, the demo's addresses.
    pub fn run_vars(&self) -> crate::template::vars::Vars {
        let mut base = self.routes.base_vars.clone();
        if let TargetAddr::Url(e) = &self.target.addr {
            base.insert("target".into(), e.url());
        }
        if let Ok(exe) = std::env::current_exe() {
            base.insert("rampdeck".into(), exe.display().to_string());
        }
        base
    }

    /// Fills in the demo's addresses once it is listening: the target, and
    /// `{{demo.control}}` / `{{demo.gateway}}` / `{{rampdeck}}` in probes.
    pub fn with_demo(&mut self, addrs: &rampdeck_demo::DemoAddrs) {
        let mut vars = vec![
            ("demo.control", format!("http://{}", addrs.control)),
            ("demo.gateway", format!("http://{}", addrs.gateway)),
        ];
        if let Ok(exe) = std::env::current_exe() {
            vars.push(("rampdeck", exe.display().to_string()));
        }
        self.probes.substitute(&vars);
        for (k, v) in vars {
            self.routes.base_vars.insert(k.to_owned(), v);
        }
        // A connections run's TCP echo has its own port.
        let tcp = self
            .connections
            .as_ref()
            .is_some_and(|c| c.traffic == crate::spec::connections::Traffic::Tcp);
        self.with_demo_address(if tcp { addrs.echo } else { addrs.gateway });
    }

    /// Points a `[demo]` plan at the demo gateway once it is listening.
    pub fn with_demo_address(&mut self, addr: std::net::SocketAddr) {
        if self.target.addr == TargetAddr::Demo {
            self.target.addr = TargetAddr::Url(Endpoint {
                https: false,
                host: addr.ip().to_string(),
                port: addr.port(),
                authority: addr.to_string(),
                base_path: String::new(),
                userinfo: None,
            });
        }
    }

    /// What the load's level counts: requests per second, requests in
    /// flight, or connections held.
    pub fn level_unit(&self) -> &'static str {
        match self.connections {
            Some(_) => "connections",
            None => self.load.mode.unit(),
        }
    }

    pub fn target_display(&self) -> String {
        if let (Some(c), TargetAddr::Url(e)) = (&self.connections, &self.target.addr) {
            return match (&c.url, &c.traffic) {
                (Some(url), _) => crate::util::secret::redact(url).into_owned(),
                (None, crate::spec::connections::Traffic::WebSocket { path }) => {
                    format!("ws://{}{path}", e.authority)
                }
                (None, _) => format!("tcp://{}", e.authority),
            };
        }
        match &self.target.addr {
            TargetAddr::Url(e) => e.url(),
            TargetAddr::Demo => match self.connections.as_ref().map(|c| &c.traffic) {
                Some(crate::spec::connections::Traffic::WebSocket { .. }) => {
                    "embedded demo WebSocket echo".into()
                }
                Some(_) => "embedded demo TCP echo".into(),
                None => "embedded demo gateway".into(),
            },
        }
    }

    /// `rampdeck check`'s lines for a connections run: what each connection does.
    fn describe_connections(&self, s: &mut String, c: &crate::spec::connections::ConnectionsPlan) {
        use std::fmt::Write;
        let traffic = match (&c.traffic, c.message_interval) {
            (crate::spec::connections::Traffic::Idle, _) | (_, None) => "held idle".to_owned(),
            (t, Some(every)) => format!(
                "a {}-byte {} message every {}, its echo timed (timeout {})",
                c.message.len(),
                if matches!(t, crate::spec::connections::Traffic::Tcp) {
                    "TCP"
                } else {
                    "WebSocket"
                },
                rampdeck_base::fmt::fmt_dur(every),
                rampdeck_base::fmt::fmt_dur(self.target.timeout)
            ),
        };
        let _ = writeln!(s, "traffic  {traffic}");
        let _ = writeln!(
            s,
            "load     connections: open up to {}/s, hold each {}{}, seed {}, {} intervals",
            rampdeck_base::fmt::fmt_level(c.open_rate),
            c.hold.map_or_else(
                || "to the end of the run".to_owned(),
                rampdeck_base::fmt::fmt_dur
            ),
            match c.proxy {
                Some(crate::spec::connections::ProxyVersion::V1) =>
                    ", PROXY protocol v1 header first",
                Some(crate::spec::connections::ProxyVersion::V2) =>
                    ", PROXY protocol v2 header first",
                None => "",
            },
            self.load.seed,
            rampdeck_base::fmt::fmt_dur(self.load.interval)
        );
    }

    /// What `rampdeck check` prints: what this plan would run.
    pub fn describe(&self) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        let l = &self.load;
        let _ = writeln!(s, "profile  {}", self.name);
        if let Some(d) = &self.description {
            let _ = writeln!(s, "         {}", d.trim());
        }
        let t = &self.target;
        let _ = writeln!(
            s,
            "target   {} ({}, timeout {}, connect timeout {}{})",
            self.target_display(),
            match (&self.connections, &t.addr) {
                (Some(_), TargetAddr::Url(e)) if e.https => "TLS",
                (Some(_), _) => "TCP",
                (None, _) if t.http2 => "HTTP/2",
                (None, _) => "HTTP/1.1",
            },
            rampdeck_base::fmt::fmt_dur(t.timeout),
            rampdeck_base::fmt::fmt_dur(t.connect_timeout),
            if t.insecure {
                ", TLS verification OFF"
            } else {
                ""
            }
        );
        if let Some(c) = &self.connections {
            self.describe_connections(&mut s, c);
        } else {
            let total_weight: u32 = self.requests.iter().map(|r| r.weight).sum();
            for r in &self.requests {
                if let Some(g) = &r.grpc {
                    let _ = writeln!(
                        s,
                        "request  {:>5.1}%  gRPC {}  ({}; deadline {} as grpc-timeout)",
                        100.0 * r.weight as f64 / total_weight as f64,
                        g.full_method,
                        match (&g.message_json, &g.input) {
                            (Some(_), _) => "message rendered from its JSON per call".to_owned(),
                            (None, Some(d)) => format!(
                                "{} of {} bytes",
                                d.full_name(),
                                r.body.len().saturating_sub(5)
                            ),
                            (None, None) =>
                                format!("{} raw message bytes", r.body.len().saturating_sub(5)),
                        },
                        rampdeck_base::fmt::fmt_dur(self.target.timeout),
                    );
                    continue;
                }
                let _ = writeln!(
                    s,
                    "request  {:>5.1}%  {} {}{}",
                    100.0 * r.weight as f64 / total_weight as f64,
                    r.method,
                    r.path,
                    if r.body.is_empty() {
                        String::new()
                    } else {
                        format!("  ({} byte body)", r.body.len())
                    }
                );
            }
            let _ = writeln!(
                s,
                "load     {} loop, {}, {}, seed {}, {} intervals",
                match l.mode {
                    Mode::Open => "open",
                    Mode::Closed => "closed",
                },
                match l.mode {
                    Mode::Open => format!("up to {} connections", l.max_connections),
                    Mode::Closed => format!("up to {} workers", l.max_connections),
                },
                if l.warmup.is_zero() {
                    "no warmup".to_owned()
                } else {
                    format!(
                        "warmup {} (not counted)",
                        rampdeck_base::fmt::fmt_dur(l.warmup)
                    )
                },
                l.seed,
                rampdeck_base::fmt::fmt_dur(l.interval)
            );
        }
        let mut at = Duration::ZERO;
        for (i, st) in l.stages.iter().enumerate() {
            let _ = writeln!(
                s,
                "stage {}  at {:>8}  {}",
                i + 1,
                rampdeck_base::fmt::fmt_dur(at),
                st.describe(self.level_unit())
            );
            at += st.duration;
        }
        let expected: f64 = match l.mode {
            Mode::Open if self.connections.is_none() => l
                .stages
                .iter()
                .map(|st| (st.from + st.to) / 2.0 * st.duration.as_secs_f64())
                .sum(),
            _ => f64::NAN,
        };
        let _ = write!(s, "total    {}", rampdeck_base::fmt::fmt_dur(at));
        if expected.is_finite() {
            let _ = write!(s, ", about {} requests", expected.round() as u64);
        }
        s.push('\n');
        for src in &self.probes.sources {
            let what = match &src.kind {
                crate::spec::probes::SourceKind::Scrape { url, .. } => format!("scrape {url}"),
                crate::spec::probes::SourceKind::Promql { url, .. } => format!("promql {url}"),
            };
            let _ = writeln!(
                s,
                "source   {}: {what} every {}",
                src.name,
                rampdeck_base::fmt::fmt_dur(src.interval)
            );
        }
        for st in &self.probes.stats {
            let _ = writeln!(
                s,
                "stat     {}: {} every {}, timeout {}",
                st.name,
                st.argv.join(" "),
                rampdeck_base::fmt::fmt_dur(st.interval),
                rampdeck_base::fmt::fmt_dur(st.timeout)
            );
        }
        for p in &self.probes.probes {
            let _ = writeln!(
                s,
                "probe    {}: GET {} expecting {} every {}",
                p.name,
                p.url,
                p.expect_status,
                rampdeck_base::fmt::fmt_dur(p.interval)
            );
        }
        if let Some(d) = &self.delivery {
            let _ = writeln!(
                s,
                "delivery sink on {}, id {} from {}, deadline {}, {} cop{} expected, room for {} events in flight; answers {}{}",
                d.listen,
                d.id_text,
                match &d.id_from {
                    crate::spec::delivery::IdFrom::Header(h) => format!("header {h}"),
                    crate::spec::delivery::IdFrom::Pointer(p) => format!("JSON pointer {p}"),
                },
                rampdeck_base::fmt::fmt_dur(d.deadline),
                d.expect_copies,
                if d.expect_copies == 1 { "y" } else { "ies" },
                d.capacity,
                d.respond.status,
                if d.respond.failure_rate > 0.0 {
                    format!(
                        ", {:.1}% {}",
                        d.respond.failure_rate * 100.0,
                        d.respond.failure_status
                    )
                } else {
                    String::new()
                }
            );
        }
        for st in &self.setup.steps {
            let mut waits: Vec<String> = Vec::new();
            if st.ready {
                waits.push("each object ready".into());
            }
            for w in &st.waits {
                waits.push(match w {
                    crate::spec::setup::WaitSpec::Condition {
                        kind,
                        name,
                        condition,
                    } => format!(
                        "{kind}{} {condition}",
                        name.as_ref().map_or_else(String::new, |n| format!(" {n}"))
                    ),
                    crate::spec::setup::WaitSpec::Url { url, status } => {
                        format!("{} answering {status}", crate::util::secret::redact(url))
                    }
                });
            }
            let _ = writeln!(
                s,
                "setup    apply {}{}, wait for {} (timeout {}){}",
                st.manifest.display(),
                if st.vars.is_empty() {
                    String::new()
                } else {
                    format!(
                        " ({})",
                        st.vars
                            .iter()
                            .map(|(k, v)| format!("{k}={v}"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                },
                if waits.is_empty() {
                    "nothing".into()
                } else {
                    waits.join(", ")
                },
                rampdeck_base::fmt::fmt_dur(st.timeout),
                if st.keep {
                    "; kept after the run"
                } else {
                    "; removed after the run"
                }
            );
        }
        if let Some(m) = &self.metrics {
            let _ = writeln!(s, "metrics  OpenMetrics at http://{}/metrics", m.listen);
        }
        for t in &self.thresholds {
            let _ = writeln!(s, "threshold {} {}", t.name, t.expr);
        }
        if let Some(f) = &self.find {
            let _ = writeln!(
                s,
                "find     {} from {} up to {}, x{} then bisect to {:.1}%, steps {} + {} settling, confirm {}, at most {} steps, SLO {}",
                if f.closed { "concurrency" } else { "rate" },
                rampdeck_base::fmt::fmt_level(f.search.start),
                rampdeck_base::fmt::fmt_level(f.search.max),
                f.search.factor,
                f.search.precision * 100.0,
                rampdeck_base::fmt::fmt_dur(f.step),
                rampdeck_base::fmt::fmt_dur(f.settle),
                rampdeck_base::fmt::fmt_dur(f.confirm),
                f.search.max_steps,
                if f.slo.is_empty() {
                    "the profile's [thresholds]".to_owned()
                } else {
                    f.slo
                        .iter()
                        .map(|t| format!("{} {}", t.name, t.expr))
                        .collect::<Vec<_>>()
                        .join(", ")
                }
            );
        }
        if let (Some(demo), Some(_)) = (&self.demo, &self.connections) {
            let e = &demo.echo;
            let _ = writeln!(
                s,
                "demo     echo: TCP on its own port, WebSocket at {} on the gateway; latency {}{}{}",
                rampdeck_demo::config::WS_PATH,
                rampdeck_base::fmt::fmt_dur(e.latency),
                e.reset_after.map_or(String::new(), |d| format!(
                    ", FAULT: each connection reset after {}",
                    rampdeck_base::fmt::fmt_dur(d)
                )),
                e.close_after.map_or(String::new(), |d| format!(
                    ", FAULT: each connection closed by the server after {} (WebSocket code {})",
                    rampdeck_base::fmt::fmt_dur(d),
                    e.close_code
                )),
            );
        } else if let Some(demo) = &self.demo {
            for r in &demo.routes {
                let _ = writeln!(
                    s,
                    "demo     route {:<16} {}, {:.1}% errors ({}){}{}",
                    r.prefix,
                    r.latency,
                    r.error_rate * 100.0,
                    r.error_status,
                    r.stall.map_or(String::new(), |st| format!(
                        ", stalls {} every {}",
                        rampdeck_base::fmt::fmt_dur(st.duration),
                        rampdeck_base::fmt::fmt_dur(st.every)
                    )),
                    r.workers
                        .map_or(String::new(), |w| format!(", {w} workers (the rest queue)"))
                );
                if let Some(relay) = &r.relay {
                    let _ = writeln!(
                        s,
                        "         relays to x-relay-to after {}, {:.1}% lost, {:.1}% twice, {} retries from {}",
                        rampdeck_base::fmt::fmt_dur(relay.delay),
                        relay.loss * 100.0,
                        relay.duplicate * 100.0,
                        relay.retries,
                        rampdeck_base::fmt::fmt_dur(relay.retry_after)
                    );
                }
            }
            let k = &demo.kube;
            let _ = writeln!(
                s,
                "demo     kube API (simulated): Gateway {}/{}, backends {}, propagation {}{}",
                k.namespace,
                k.gateway,
                k.backends.join(", "),
                rampdeck_base::fmt::fmt_dur(k.propagation),
                k.swap_drop.map_or(String::new(), |d| format!(
                    ", FAULT: 503s for {} after a backend swap",
                    rampdeck_base::fmt::fmt_dur(d)
                ))
            );
        }
        for a in &self.routes.actions {
            use crate::spec::routes::{ActionKind, ObjectSource};
            let what = match &a.kind {
                ActionKind::Kube(k) => {
                    let obj = match &k.object {
                        ObjectSource::File(p) => p.display().to_string(),
                        ObjectSource::Inline(v) => format!(
                            "{} {}",
                            v["kind"].as_str().unwrap_or("?"),
                            v["metadata"]["name"].as_str().unwrap_or("?")
                        ),
                        ObjectSource::Named { kind, name } => format!("{} {name}", kind.kind()),
                    };
                    format!(
                        "kube {} {obj}{}",
                        k.op.verb(),
                        if k.watch { ", watch" } else { "" }
                    )
                }
                ActionKind::Http(h) => format!("http {} {}", h.method, h.url),
                ActionKind::Command(c) => format!("command {}", c.argv.join(" ")),
            };
            let key = a.key.map_or_else(|| "-".to_owned(), |k| k.to_string());
            let at: Vec<String> =
                a.at.iter()
                    .map(|d| rampdeck_base::fmt::fmt_dur(*d))
                    .collect();
            let _ = writeln!(
                s,
                "route    [{key}] {}: {what}{}{}",
                a.name,
                if at.is_empty() {
                    String::new()
                } else {
                    format!(", at {}", at.join(", "))
                },
                if a.verify.is_some() { ", verify" } else { "" }
            );
        }
        // Probe, source and action URLs may carry userinfo too.
        crate::util::secret::redact(&s).into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(text: &str) -> Result<Plan, String> {
        parse("t.toml", text).map_err(|e| e.to_string())
    }

    const BASE: &str = "[target]\nurl = \"http://127.0.0.1:8080\"\n";

    #[test]
    fn shorthand_rate_is_one_hold() {
        let p = plan(&format!("{BASE}[load]\nrate = 200\nduration = \"30s\"\n")).unwrap();
        assert_eq!(p.load.mode, Mode::Open);
        assert_eq!(
            p.load.stages,
            vec![Stage::hold(200.0, Duration::from_secs(30))]
        );
    }

    #[test]
    fn concurrency_implies_closed() {
        let p = plan(&format!(
            "{BASE}[load]\nconcurrency = 8\nduration = \"5s\"\n"
        ))
        .unwrap();
        assert_eq!(p.load.mode, Mode::Closed);
        assert_eq!(p.load.max_connections, 8);
    }

    #[test]
    fn stages_default_from_previous_level() {
        let p = plan(&format!(
            "{BASE}[load]\n[[load.stages]]\nkind = \"ramp\"\nfrom = 0\nto = 100\nduration = \"10s\"\n[[load.stages]]\nkind = \"hold\"\nduration = \"20s\"\n[[load.stages]]\nkind = \"ramp\"\nto = 0\nduration = \"5s\"\n"
        ))
        .unwrap();
        assert_eq!(
            p.load.stages[1],
            Stage::hold(100.0, Duration::from_secs(20))
        );
        assert_eq!(p.load.stages[2].from, 100.0);
        assert_eq!(p.load.duration(), Duration::from_secs(35));
    }

    #[test]
    fn each_mistake_has_its_own_message() {
        let cases = [
            (
                "[load]\nrate = 0\nduration = \"1s\"\n",
                "t.toml:4:8: load.rate: must be more than 0",
            ),
            (
                "[load]\nrate = 5\nduration = \"1s\"\nwarmup = \"2s\"\n",
                "load.warmup: '2s' is not shorter than the run (1s)",
            ),
            ("[load]\nstages = []\n", "load.stages is empty"),
            ("[load]\nrate = 5\n", "load.duration is missing"),
            (
                "[load]\nrate = 5\nduration = \"fast\"\n",
                "invalid duration 'fast'",
            ),
        ];
        for (load, want) in cases {
            let err = plan(&format!("{BASE}{load}")).unwrap_err();
            assert!(err.contains(want), "{load:?}: {err}");
        }
        let err =
            plan("[target]\nurl = \"htp://x\"\n[load]\nrate = 1\nduration = \"1s\"\n").unwrap_err();
        assert!(
            err.contains("t.toml:2:7: target.url: invalid URL 'htp://x'"),
            "{err}"
        );
    }

    #[test]
    fn unknown_key_lists_allowed_keys() {
        let err = plan(&format!("{BASE}[load]\nrat = 5\n")).unwrap_err();
        assert!(
            err.contains("unknown field `rat`, expected one of `mode`, `rate`"),
            "{err}"
        );
    }

    #[test]
    fn duration_override_cuts_and_extends() {
        let ramp = Stage {
            kind: crate::spec::plan::StageKind::Ramp,
            from: 0.0,
            to: 100.0,
            duration: Duration::from_secs(10),
        };
        let cut = fit_stages(&[ramp], Duration::from_secs(5));
        assert_eq!(cut[0].to, 50.0);
        let ext = fit_stages(&[ramp], Duration::from_secs(15));
        assert_eq!(ext[1], Stage::hold(100.0, Duration::from_secs(5)));
    }

    #[test]
    fn adhoc_defaults_to_closed_loop() {
        let p = adhoc(
            "http://127.0.0.1:9/x?y=1",
            &Adhoc::default(),
            &Overrides::default(),
        )
        .unwrap();
        assert_eq!(p.requests[0].path, "/x?y=1");
        assert_eq!(p.load.mode, Mode::Closed);
        let p = adhoc(
            "http://127.0.0.1:9/",
            &Adhoc::default(),
            &Overrides {
                rate: Some(100.0),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(p.load.mode, Mode::Open);
    }
}
