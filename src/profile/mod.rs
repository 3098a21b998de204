//! Profiles: the TOML schema, its validation into a `Plan`, CLI overrides, and ad-hoc URL plans.
//!
//! `schema` describes the file, `validate` decides what it means, `plan` is
//! what the rest of rampdeck runs from, `error` renders file:line:col messages.

pub mod agents;
pub mod connections;
pub mod data;
pub mod delivery;
pub mod describe;
pub mod error;
pub mod find;
pub mod grpc;
pub mod load;
pub mod probes;
pub mod request;
pub mod routes;
pub mod scenario;
pub mod scenario_tables;
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
            out.push(s.clone());
        } else {
            let keep = total - start;
            let f = keep.as_secs_f64() / s.duration.as_secs_f64();
            out.push(Stage {
                to: s.from + (s.to - s.from) * f,
                duration: keep,
                ..s.clone()
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
    let mut plan = Plan::new(
        format!("{method} {shown}"),
        Target {
            addr: TargetAddr::Url(endpoint),
            headers: Vec::new(),
            timeout,
            connect_timeout: validate::DEFAULT_CONNECT_TIMEOUT.min(timeout),
            http2: flags.http2,
            insecure: flags.insecure,
            lean: true,
        },
        vec![RequestSpec {
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
        LoadPlan {
            mode: Mode::Closed,
            stages: vec![Stage::hold(ADHOC_CONCURRENCY as f64, ADHOC_DURATION)],
            max_connections: ADHOC_CONCURRENCY as usize,
            warmup: Duration::ZERO,
            seed: validate::DEFAULT_SEED,
            interval: validate::DEFAULT_INTERVAL,
        },
    );
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
            name: None,
        };
        let cut = fit_stages(std::slice::from_ref(&ramp), Duration::from_secs(5));
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
