//! Turns a parsed profile into a `Plan`: defaults, ranges, and how fields combine, each with its own message.

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderName, HeaderValue, Method};
use toml::Spanned;

use super::error::{ProfileError, Source};
use super::schema::*;
use crate::spec::plan::{
    Endpoint, LoadPlan, Mode, Plan, RequestSpec, Stage, StageKind, Target, TargetAddr,
};
use crate::util::limits::MAX_CONNECTIONS;

pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
pub const DEFAULT_INTERVAL: Duration = Duration::from_millis(250);
pub const DEFAULT_MAX_CONNECTIONS: usize = 100;
pub const DEFAULT_SEED: u64 = 1;

pub fn validate(src: &Source, mut raw: RawProfile) -> Result<Plan, ProfileError> {
    let demo = raw.demo.map(|d| demo_config(src, d)).transpose()?;
    let first_request = raw.requests.first().map(|r| r.span());
    let connections_mode = raw.load.as_ref().is_some_and(|l| {
        l.get_ref()
            .mode
            .as_ref()
            .is_some_and(|m| *m.get_ref() == RawMode::Connections)
    });
    // A connections target's scheme (tcp://, ws://) says what traffic it
    // carries; the endpoint is read as the HTTP URL with the same host.
    let mut conn_url = None;
    if connections_mode {
        if let Some(t) = raw.target.as_mut() {
            let span = t.span();
            let t = t.get_mut();
            if let Some(url) = t.url.take() {
                let (http, traffic) = super::connections::url_of(url.get_ref())
                    .map_err(|m| src.at(url.span(), format!("target.url: {m}")))?;
                conn_url = Some((url.get_ref().clone(), traffic));
                t.url = Some(Spanned::new(url.span(), http));
            } else if demo.is_none() {
                return Err(src.at(span, "target.url is missing: give the address to hold connections to, e.g. url = \"tcp://10.0.0.5:9000\" or \"wss://gw.example.com/chat\""));
            }
        }
    }
    let mut target = match raw.target {
        Some(t) => target(src, t, demo.is_some())?,
        None if demo.is_some() => Target {
            addr: TargetAddr::Demo,
            headers: Vec::new(),
            timeout: DEFAULT_TIMEOUT,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            http2: false,
            insecure: false,
            lean: true,
        },
        None => {
            return Err(src.whole(
                "missing [target] table: give target.url (e.g. url = \"http://127.0.0.1:8080\"), or add a [demo] table to run against the embedded demo",
            ))
        }
    };
    let mut data = std::sync::Arc::new(crate::template::Feeders::default());
    if raw.requests.is_empty() && !raw.data.is_empty() {
        return Err(src.at(
            raw.data[0].span(),
            "[[data]] is read by {{data.COLUMN}} in a [[request]], and this profile has none",
        ));
    }
    let requests = if raw.requests.is_empty() {
        vec![RequestSpec {
            name: "GET /".into(),
            method: Method::GET,
            path: "/".into(),
            headers: Vec::new(),
            body: Bytes::new(),
            weight: 1,
            template: None,
            expect: None,
            grpc: None,
        }]
    } else {
        // Templates read the data files, whose shuffle follows the seed.
        let seed = raw
            .load
            .as_ref()
            .and_then(|l| l.get_ref().seed.as_ref())
            .map_or(DEFAULT_SEED, |s| *s);
        let mut feeders = data_feeders(src, &raw.data, seed)?;
        feeders.delivery = raw.delivery.is_some();
        let first = raw.requests[0].span();
        let requests: Vec<RequestSpec> = raw
            .requests
            .into_iter()
            .enumerate()
            .map(|(i, r)| request(src, i, r, &feeders))
            .collect::<Result<_, _>>()?;
        if requests.iter().all(|r| r.weight == 0) {
            return Err(src.at(
                first,
                "every [[request]] has weight = 0, so the mix has nothing to send; give at least one a weight above 0",
            ));
        }
        data = std::sync::Arc::new(feeders);
        requests
    };
    // gRPC rides on HTTP/2 (h2 by ALPN over TLS, prior knowledge on
    // plaintext): a plan with a gRPC request speaks it for every request.
    if requests.iter().any(|r| r.grpc.is_some()) {
        target.http2 = true;
    }
    let Some(load) = raw.load else {
        if raw.scenario.is_some() {
            return Err(src.whole(
                "this profile has a [scenario] table and no [load]: run it with `rampdeck scenario NAME --profile PATH` (NAME: attached-routes, route-probe or route-change)",
            ));
        }
        return Err(src.whole(
            "missing [load] table: give load.rate and load.duration (open loop), load.concurrency and load.duration (closed loop), or [[load.stages]]",
        ));
    };
    let (load, conn_fields) = load_plan(src, load)?;
    let connections = match conn_fields {
        None => None,
        Some((mut plan, traffic)) => {
            if let Some(first) = first_request.clone() {
                return Err(src.at(
                    first,
                    "mode = \"connections\" sends no [[request]]: each connection's traffic is load.message every load.message_interval, echoed back",
                ));
            }
            match conn_url {
                Some((url, t)) => {
                    if let Some(tr) = &traffic {
                        return Err(src.at(tr.span(), "load.traffic chooses the demo's echo; with target.url, its scheme says the traffic (tcp://, ws://, wss://)"));
                    }
                    plan.traffic = t;
                    plan.url = Some(url);
                }
                None => plan.traffic = super::connections::demo_traffic(src, traffic.as_ref())?,
            }
            if let (crate::spec::connections::Traffic::Idle, Some(_)) =
                (&plan.traffic, plan.message_interval)
            {
                return Err(src.whole("load.message_interval needs an echo to send to: a tcp:// or ws:// target (an http(s):// target holds idle connections)"));
            }
            Some(std::sync::Arc::new(plan))
        }
    };
    let probes = probes_config(src, raw.sources, raw.stats, raw.probes, demo.is_some())?;
    let routes = super::routes::routes_config(
        src,
        raw.kube,
        raw.route_actions,
        demo.is_some(),
        load.duration(),
        &requests.iter().map(|r| r.name.clone()).collect::<Vec<_>>(),
    )?;
    let thresholds = match raw.thresholds {
        Some(_) if connections.is_some() => {
            return Err(src.whole(
                "[thresholds] judge requests, and mode = \"connections\" sends none; its connect times, failures and resets are in the summary",
            ))
        }
        Some(t) => thresholds(src, t, &probes, load.mode, raw.delivery.is_some())?,
        None => Vec::new(),
    };
    let find = raw.find.map(|f| find_config(src, f, &probes)).transpose()?;
    let agents = raw.agents.map(|a| agents_config(src, a)).transpose()?;
    if let (Some(_), Some(_)) = (&agents, &connections) {
        return Err(src.whole(
            "mode = \"connections\" holds its connections from this process; it cannot run with [agents]",
        ));
    }
    let delivery = match raw.delivery {
        None => None,
        Some(d) => {
            let span = d.span();
            let peak = (load.mode == Mode::Open).then(|| load.peak_level());
            let config = super::delivery::delivery_config(src, d, peak, &data)?;
            if !requests
                .iter()
                .any(|r| r.template.as_ref().is_some_and(|t| t.publishes()))
            {
                return Err(src.at(
                    span,
                    "[delivery]: no [[request]] carries {{delivery.id}}, so nothing is published to account for; put it in a header or the body, e.g. headers = { x-event-id = \"{{delivery.id}}\" }",
                ));
            }
            if agents.is_some() {
                return Err(src.at(
                    span,
                    "[delivery] counts events where the sink runs, and the publishes must be sent from the same process: it cannot run with [agents]",
                ));
            }
            Some(config)
        }
    };
    let setup = super::setup::setup_config(
        src,
        raw.setup,
        demo.is_some(),
        raw.name.as_deref().unwrap_or_else(|| {
            std::path::Path::new(src.path)
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or("profile")
        }),
    )?;
    let metrics = match raw.metrics {
        None => None,
        Some(m) => {
            let m = m.into_inner();
            let listen = match &m.listen {
                None => crate::spec::metrics::DEFAULT_LISTEN,
                Some(l) => crate::util::serve::listen_addr(l.get_ref())
                    .map_err(|e| src.at(l.span(), format!("metrics.listen: {e}")))?,
            };
            Some(crate::spec::metrics::MetricsConfig { listen })
        }
    };
    Ok(Plan {
        name: raw.name.unwrap_or_else(|| {
            std::path::Path::new(src.path)
                .file_stem()
                .map_or_else(|| "profile".into(), |s| s.to_string_lossy().into_owned())
        }),
        description: raw.description,
        source: Some(src.path.to_owned()),
        source_sha256: Some(crate::util::hash::sha256_hex(src.text)),
        target,
        requests,
        load,
        demo,
        probes,
        thresholds,
        routes,
        find,
        data,
        agents,
        delivery,
        connections,
        metrics,
        setup,
    })
}

/// `expect`: every value checked now.
fn expect(
    src: &Source,
    field: &str,
    raw: &Spanned<super::schema::RawExpect>,
) -> Result<crate::checks::Expect, ProfileError> {
    let e = raw.get_ref();
    let bad = |m: String| src.at(raw.span(), format!("{field}.expect.{m}"));
    let mut out = crate::checks::Expect::default();
    for &s in e.status.iter().flatten() {
        if !(100..=599).contains(&s) {
            return Err(bad(format!(
                "status: {s} is not an HTTP status (100 to 599)"
            )));
        }
        out.status.push(s as u16);
    }
    if e.status.as_ref().is_some_and(Vec::is_empty) {
        return Err(bad("status: give at least one status, e.g. [200]".into()));
    }
    for (k, v) in &e.header {
        let name = HeaderName::from_bytes(k.as_bytes())
            .map_err(|_| bad(format!("header: '{k}' is not a valid header name")))?;
        out.headers.push((name, v.clone()));
    }
    match &e.body_contains {
        Some(s) if s.is_empty() => return Err(bad("body_contains: must not be empty".into())),
        Some(s) if s.len() > crate::checks::BODY_LIMIT => {
            return Err(bad(format!(
                "body_contains: longer than the {} bytes a check reads",
                crate::checks::BODY_LIMIT
            )))
        }
        s => out.body_contains = s.clone(),
    }
    match e.body_max_bytes {
        Some(n) if n < 0 => return Err(bad(format!("body_max_bytes: must be 0 or more, got {n}"))),
        n => out.body_max_bytes = n.map(|n| n as usize),
    }
    Ok(out)
}

/// `[[data]]` files, read now (relative to the profile), so a bad one is
/// bad input before the run.
fn data_feeders(
    src: &Source,
    raw: &[Spanned<super::schema::RawData>],
    seed: u64,
) -> Result<crate::template::Feeders, ProfileError> {
    use crate::template::{Feeder, OnEnd, Order};
    let mut feeders = Vec::new();
    for (i, d) in raw.iter().enumerate() {
        let d = d.get_ref();
        let order = match d.order.as_ref().map(|o| o.get_ref().as_str()) {
            None | Some("sequential") => Order::Sequential,
            Some("random") => Order::Random,
            Some("shuffle") => Order::Shuffle,
            Some(other) => {
                return Err(src.at(
                    d.order.as_ref().map_or(0..0, |o| o.span()),
                    format!("data[{i}].order: '{other}' is not an order; use \"sequential\", \"random\" or \"shuffle\""),
                ))
            }
        };
        let on_end = match d.on_end.as_ref().map(|o| o.get_ref().as_str()) {
            None | Some("wrap") => OnEnd::Wrap,
            Some("stop") => OnEnd::Stop,
            Some(other) => {
                return Err(src.at(
                    d.on_end.as_ref().map_or(0..0, |o| o.span()),
                    format!("data[{i}].on_end: '{other}' is not allowed; use \"wrap\" or \"stop\""),
                ))
            }
        };
        let file = std::path::Path::new(d.file.get_ref());
        let path = match std::path::Path::new(src.path).parent() {
            Some(dir) if file.is_relative() => dir.join(file),
            _ => file.to_owned(),
        };
        let name = d.name.clone().unwrap_or_else(|| {
            file.file_stem()
                .map_or_else(|| format!("data{i}"), |s| s.to_string_lossy().into_owned())
        });
        let f = Feeder::load(&path, order, on_end, seed, name)
            .map_err(|e| src.at(d.file.span(), format!("data[{i}].file: {e}")))?;
        feeders.push(f);
    }
    Ok(crate::template::Feeders {
        feeders,
        delivery: false,
    })
}

/// The span of byte `offset` inside a TOML string value at `span` (after
/// its opening quote; exact for strings without escapes).
fn inside(span: &std::ops::Range<usize>, offset: usize) -> std::ops::Range<usize> {
    let at = span.start + 1 + offset;
    at..(at + 2).min(span.end.max(at + 1))
}

/// `[agents]` into a launcher spec; paths are taken relative to the profile.
fn agents_config(
    src: &Source,
    raw: Spanned<super::schema::RawAgents>,
) -> Result<crate::spec::agents::AgentsSpec, ProfileError> {
    use crate::spec::agents::{AgentsSpec, MAX_AGENTS};
    let span = raw.span();
    let a = raw.into_inner();
    let relative = |p: &str| {
        let p = std::path::Path::new(p);
        match std::path::Path::new(src.path).parent() {
            Some(dir) if p.is_relative() => dir.join(p),
            _ => p.to_owned(),
        }
    };
    let count = |what: &str| -> Result<usize, ProfileError> {
        match &a.count {
            Some(c) if (1..=MAX_AGENTS as i64).contains(c.get_ref()) => Ok(*c.get_ref() as usize),
            Some(c) => Err(src.at(
                c.span(),
                format!(
                    "agents.count: must be 1 to {MAX_AGENTS}, got {}",
                    c.get_ref()
                ),
            )),
            None => Err(src.at(
                span.clone(),
                format!("agents.count: {what} agents need a count"),
            )),
        }
    };
    let unused = |field: &str, present: bool| -> Result<(), ProfileError> {
        if present {
            Err(src.at(
                span.clone(),
                format!(
                    "agents.{field}: not used with kind = \"{}\"",
                    a.kind.get_ref()
                ),
            ))
        } else {
            Ok(())
        }
    };
    match a.kind.get_ref().as_str() {
        "local" => {
            unused("addresses", a.addresses.is_some())?;
            unused("namespace", a.namespace.is_some())?;
            unused("image", a.image.is_some())?;
            unused("job_template", a.job_template.is_some())?;
            Ok(AgentsSpec::Local { count: count("local")? })
        }
        "static" => {
            unused("count", a.count.is_some())?;
            let Some(addrs) = &a.addresses else {
                return Err(src.at(span, "agents.addresses: static agents need their HOST:PORT addresses"));
            };
            if addrs.get_ref().is_empty() || addrs.get_ref().len() > MAX_AGENTS {
                return Err(src.at(addrs.span(), format!("agents.addresses: give 1 to {MAX_AGENTS} addresses")));
            }
            for x in addrs.get_ref() {
                crate::spec::agents::check_address(x)
                    .map_err(|e| src.at(addrs.span(), format!("agents.addresses: {e}")))?;
            }
            Ok(AgentsSpec::Static {
                addresses: addrs.get_ref().clone(),
                token_file: a.token_file.as_deref().map(relative),
            })
        }
        "kubernetes" => Ok(AgentsSpec::Kubernetes {
            count: count("kubernetes")?,
            namespace: a.namespace.clone(),
            image: a.image.clone(),
            job_template: a.job_template.as_deref().map(relative),
        }),
        other => Err(src.at(
            a.kind.span(),
            format!("agents.kind: '{other}' is not a kind of agents; use \"local\", \"static\" or \"kubernetes\""),
        )),
    }
}

/// `[find]` into a search configuration; every value checked against what makes a search.
fn find_config(
    src: &Source,
    raw: Spanned<super::schema::RawFind>,
    probes: &crate::spec::probes::ProbesConfig,
) -> Result<crate::spec::find::FindConfig, ProfileError> {
    let f = raw.into_inner();
    let closed = f.concurrency.unwrap_or(false);
    let mut c = crate::spec::find::FindConfig::defaults(closed);
    let positive =
        |v: &Option<Spanned<f64>>, field: &str, what: &str| -> Result<Option<f64>, ProfileError> {
            match v {
                Some(x) if !(x.get_ref().is_finite() && *x.get_ref() > 0.0) => Err(src.at(
                    x.span(),
                    format!(
                        "find.{field}: must be more than 0 ({what}), got {}",
                        x.get_ref()
                    ),
                )),
                Some(x) => Ok(Some(*x.get_ref())),
                None => Ok(None),
            }
        };
    let unit = if closed {
        "requests in flight"
    } else {
        "requests per second"
    };
    if let Some(v) = positive(&f.start, "start", unit)? {
        c.search.start = v;
    }
    if let Some(v) = positive(&f.max, "max", unit)? {
        c.search.max = v;
    }
    if c.search.max < c.search.start {
        let span = f
            .max
            .as_ref()
            .or(f.start.as_ref())
            .map_or(0..0, |s| s.span());
        return Err(src.at(
            span,
            format!(
                "find.max: {} is below find.start {}",
                c.search.max, c.search.start
            ),
        ));
    }
    if let Some(x) = &f.factor {
        if !(x.get_ref().is_finite() && *x.get_ref() > 1.0 && *x.get_ref() <= 10.0) {
            return Err(src.at(
                x.span(),
                format!(
                    "find.factor: the growth per step must be more than 1 and at most 10, got {}",
                    x.get_ref()
                ),
            ));
        }
        c.search.factor = *x.get_ref();
    }
    if let Some(x) = &f.precision {
        if !(x.get_ref().is_finite() && *x.get_ref() > 0.0 && *x.get_ref() < 1.0) {
            return Err(src.at(x.span(), format!("find.precision: a fraction of the passing level, more than 0 and below 1 (0.02 is 2%), got {}", x.get_ref())));
        }
        c.search.precision = *x.get_ref();
    }
    if let Some(x) = &f.max_steps {
        if !(2..=100).contains(x.get_ref()) {
            return Err(src.at(
                x.span(),
                format!("find.max_steps: must be from 2 to 100, got {}", x.get_ref()),
            ));
        }
        c.search.max_steps = *x.get_ref() as u32;
    }
    if let Some(d) = positive_dur(src, "find.step", f.step)? {
        c.step = d;
    }
    if let Some(d) = &f.settle {
        c.settle = d.get_ref().0;
    }
    if let Some(d) = positive_dur(src, "find.confirm", f.confirm)? {
        c.confirm = d;
    }
    if let Some(list) = &f.slo {
        for text in list.get_ref() {
            let t = crate::spec::thresholds::parse_criterion(text)
                .map_err(|m| src.at(list.span(), format!("find.slo: {m}")))?;
            c.slo.push(t);
        }
        crate::spec::find::check_slo(&c.slo, probes)
            .map_err(|m| src.at(list.span(), format!("find.slo: {m}")))?;
    }
    Ok(c)
}

fn target(src: &Source, t: Spanned<RawTarget>, has_demo: bool) -> Result<Target, ProfileError> {
    let span = t.span();
    let t = t.into_inner();
    let addr = match t.url {
        Some(url) => TargetAddr::Url(
            Endpoint::parse(url.get_ref()).map_err(|m| {
                let scheme = url.get_ref().split_once("://").map(|(s, _)| s.to_ascii_lowercase());
                let hint = match scheme.as_deref() {
                    Some("tcp" | "tls" | "ws" | "wss") => {
                        " (a tcp://, tls://, ws:// or wss:// target holds connections: add mode = \"connections\" to [load])"
                    }
                    _ => "",
                };
                src.at(url.span(), format!("target.url: {m}{hint}"))
            })?,
        ),
        None if has_demo => TargetAddr::Demo,
        None => {
            return Err(src.at(
                span,
                "target.url is missing: give the base URL of the gateway, e.g. url = \"https://gw.example.com\"",
            ))
        }
    };
    let timeout = positive_dur(src, "target.timeout", t.timeout)?.unwrap_or(DEFAULT_TIMEOUT);
    let connect_timeout = positive_dur(src, "target.connect_timeout", t.connect_timeout)?
        .unwrap_or(DEFAULT_CONNECT_TIMEOUT.min(timeout));
    Ok(Target {
        addr,
        headers: headers(src, "target.headers", t.headers, None)?,
        timeout,
        connect_timeout,
        http2: t.http2,
        insecure: t.insecure,
        lean: match &t.http1 {
            None => true,
            Some(v) => match v.get_ref().as_str() {
                "lean" => true,
                "hyper" => false,
                other => {
                    return Err(src.at(
                        v.span(),
                        format!("target.http1: '{other}' is not a client; use \"lean\" (the default: requests serialized once, answers parsed in place) or \"hyper\""),
                    ))
                }
            },
        },
    })
}

/// Headers; `body_len` is the request's body (None for target-wide headers,
/// which apply to requests of every size).
fn headers(
    src: &Source,
    field: &str,
    map: std::collections::BTreeMap<String, Spanned<String>>,
    body_len: Option<usize>,
) -> Result<Vec<(HeaderName, HeaderValue)>, ProfileError> {
    map.into_iter()
        .map(|(k, v)| {
            if let Some(m) = crate::spec::plan::framing_problem(&k, v.get_ref(), body_len) {
                return Err(src.at(v.span(), format!("{field}.{k}: {m}")));
            }
            let name = HeaderName::from_bytes(k.as_bytes()).map_err(|_| {
                src.at(
                    v.span(),
                    format!("{field}: '{k}' is not a valid header name"),
                )
            })?;
            let value = HeaderValue::from_str(v.get_ref()).map_err(|_| {
                src.at(
                    v.span(),
                    format!(
                        "{field}.{k}: '{}' is not a valid header value (printable ASCII only)",
                        v.get_ref()
                    ),
                )
            })?;
            Ok((name, value))
        })
        .collect()
}

fn request(
    src: &Source,
    i: usize,
    r: Spanned<RawRequest>,
    feeders: &crate::template::Feeders,
) -> Result<RequestSpec, ProfileError> {
    let field = format!("request[{i}]");
    let span = r.span();
    let r = r.into_inner();
    match r.kind.as_ref().map(|k| k.get_ref().as_str()) {
        None | Some("http") => {}
        Some("grpc") => return grpc_request(src, &field, span, r, feeders),
        Some(other) => {
            return Err(src.at(
                r.kind.as_ref().map_or(span, |k| k.span()),
                format!("{field}.kind: '{other}' is not a request kind; use \"http\" (the default) or \"grpc\""),
            ))
        }
    }
    let grpc_only = [
        ("service", r.service.as_ref().map(|v| v.span())),
        ("metadata", r.metadata.values().next().map(|v| v.span())),
        ("message", r.message.as_ref().map(|v| v.span())),
        ("message_file", r.message_file.as_ref().map(|v| v.span())),
        (
            "descriptor_set",
            r.descriptor_set.as_ref().map(|v| v.span()),
        ),
    ];
    if let Some((name, Some(at))) = grpc_only.into_iter().find(|(_, s)| s.is_some()) {
        return Err(src.at(
            at,
            format!("{field}.{name} belongs to a gRPC request: add kind = \"grpc\""),
        ));
    }
    let method = match r.method {
        Some(m) => {
            Method::from_bytes(m.get_ref().to_ascii_uppercase().as_bytes()).map_err(|_| {
                src.at(
                    m.span(),
                    format!("{field}.method: '{}' is not an HTTP method", m.get_ref()),
                )
            })?
        }
        None => Method::GET,
    };
    use crate::template::{RequestTemplate, Template};
    let mut template = RequestTemplate::default();
    let compile = |text: &str, span: &std::ops::Range<usize>, what: &str| {
        Template::compile(text, feeders).map_err(|e| {
            src.at(
                inside(span, e.offset),
                format!("{field}.{what}: {}", e.message),
            )
        })
    };
    if let Some(p) = &r.path {
        template.path = compile(p.get_ref(), &p.span(), "path")?;
    }
    for (k, v) in &r.headers {
        if let Some(t) = compile(v.get_ref(), &v.span(), &format!("headers.{k}"))? {
            let name = HeaderName::from_bytes(k.as_bytes()).map_err(|_| {
                src.at(
                    v.span(),
                    format!("{field}.headers: '{k}' is not a valid header name"),
                )
            })?;
            template.headers.push((name, t));
        }
    }
    if let Some(b) = &r.body {
        template.body = compile(b.get_ref(), &b.span(), "body")?;
        // A JSON body: data values inside its strings are JSON-escaped.
        let json_type = r.headers.iter().any(|(k, v)| {
            k.eq_ignore_ascii_case("content-type")
                && v.get_ref().to_ascii_lowercase().contains("json")
        });
        let looks_json = b.get_ref().trim_start().starts_with(['{', '[']);
        if let (Some(t), true) = (template.body.as_mut(), json_type || looks_json) {
            t.escape_in_json_strings();
        }
    }
    // A templated path is checked once rendered; its literal parts here.
    let path_text = r.path.as_ref().map(|p| p.get_ref().clone());
    let templated_path = template.path.is_some();
    let path = match r.path {
        Some(p) if templated_path && p.get_ref().starts_with('/') => p.into_inner(),
        Some(p) if p.get_ref().chars().any(char::is_control) => {
            let at = p.get_ref().find(char::is_control).unwrap_or(0);
            return Err(src.at(
                p.span(),
                format!(
                    "{field}.path: it contains a control character (CR, LF, tab or similar) at byte {at}; a request path cannot carry one (write it percent-encoded, e.g. %0A)"
                ),
            ));
        }
        Some(p) if p.get_ref().starts_with('/') && p.get_ref().parse::<http::uri::PathAndQuery>().is_ok() => {
            p.into_inner()
        }
        Some(p) => {
            return Err(src.at(
                p.span(),
                format!("{field}.path: '{}' is not a path; it must start with '/', e.g. \"/api/items?page=1\"", p.get_ref()),
            ))
        }
        None => return Err(src.at(span, format!("{field}.path is missing, e.g. path = \"/api/items\""))),
    };
    let weight = weight(src, &field, r.weight)?;
    let expect = match &r.expect {
        None => None,
        Some(e) => Some(std::sync::Arc::new(expect(src, &field, e)?)),
    };
    Ok(RequestSpec {
        expect,
        name: r.name.unwrap_or_else(|| format!("{method} {path}")),
        method,
        path,
        headers: headers(
            src,
            &format!("{field}.headers"),
            r.headers,
            // A templated body's length varies: hyper frames each one.
            (template.body.is_none()).then(|| r.body.as_ref().map_or(0, |b| b.get_ref().len())),
        )?,
        body: r
            .body
            .map(|b| Bytes::from(b.into_inner()))
            .unwrap_or_default(),
        weight,
        template: (!template.is_empty()).then(|| {
            let _ = path_text;
            std::sync::Arc::new(template)
        }),
        grpc: None,
    })
}

/// A request's share of the mix (default 1).
fn weight(src: &Source, field: &str, w: Option<Spanned<i64>>) -> Result<u32, ProfileError> {
    match w {
        Some(w) if (0..=1_000_000).contains(w.get_ref()) => Ok(*w.get_ref() as u32),
        Some(w) => Err(src.at(
            w.span(),
            format!(
                "{field}.weight: must be a whole number from 0 (sent only when a Rust request source names it) to 1000000, got {}",
                w.get_ref()
            ),
        )),
        None => Ok(1),
    }
}

/// `kind = "grpc"`: a unary call, POSTed to `/package.Service/Method` over HTTP/2.
fn grpc_request(
    src: &Source,
    field: &str,
    span: std::ops::Range<usize>,
    r: RawRequest,
    feeders: &crate::template::Feeders,
) -> Result<RequestSpec, ProfileError> {
    use crate::template::{RequestTemplate, Template};
    let http_only = [
        ("path", r.path.as_ref().map(|v| v.span())),
        ("body", r.body.as_ref().map(|v| v.span())),
        ("headers", r.headers.values().next().map(|v| v.span())),
        ("expect", r.expect.as_ref().map(|v| v.span())),
    ];
    if let Some((name, Some(at))) = http_only.into_iter().find(|(_, s)| s.is_some()) {
        let instead = match name {
            "path" => "service and method make the path",
            "body" => "give the message as message (JSON) or message_file",
            "headers" => "gRPC calls carry metadata = { ... }",
            _ => "a call is judged by its grpc-status",
        };
        return Err(src.at(
            at,
            format!("{field}.{name} does not apply to kind = \"grpc\": {instead}"),
        ));
    }
    // Anything with a placeholder goes the template way, a broken one too,
    // so an unknown name is refused below rather than sent literally.
    let compiles = |text: &str| !matches!(Template::compile(text, feeders), Ok(None));
    let built = super::grpc::build(
        src,
        super::grpc::Raw {
            field,
            span: span.clone(),
            service: r.service,
            method: r.method,
            message: r.message,
            message_file: r.message_file,
            descriptor_set: r.descriptor_set,
        },
        compiles,
    )?;
    let mut template = RequestTemplate::default();
    if let Some((json, at)) = &built.template_json {
        template.body = Template::compile(json, feeders)
            .map_err(|e| src.at(at.clone(), format!("{field}.message: {}", e.message)))?;
        if let Some(t) = template.body.as_mut() {
            t.escape_in_json_strings();
        }
        // Tried once here, so a message that cannot be encoded is refused
        // before the run rather than failing every call.
        if let (Some(t), Some(input)) = (&template.body, &built.grpc.input) {
            let mut ctx = crate::template::Context::new(0, 0, 0);
            let mut text = String::new();
            let mut row = |fi: usize| feeders.feeders.get(fi).and_then(|f| f.row(0, 0));
            if t.render(&mut ctx, &mut row, &mut text).is_some() {
                crate::util::grpc::encode_json(input, &text).map_err(|e| {
                    src.at(
                        at.clone(),
                        format!("{field}.message: rendered for the first call as {text}: {e}"),
                    )
                })?;
            }
        }
    }
    for (k, v) in &r.metadata {
        let compiled = Template::compile(v.get_ref(), feeders).map_err(|e| {
            src.at(
                inside(&v.span(), e.offset),
                format!("{field}.metadata.{k}: {}", e.message),
            )
        })?;
        if let Some(t) = compiled {
            let name = HeaderName::from_bytes(k.as_bytes()).map_err(|_| {
                src.at(
                    v.span(),
                    format!("{field}.metadata: '{k}' is not a valid metadata key"),
                )
            })?;
            template.headers.push((name, t));
        }
    }
    let reserved = r.metadata.iter().find(|(k, _)| {
        let k = k.to_ascii_lowercase();
        k.starts_with("grpc-") || k == "content-type" || k == "te"
    });
    if let Some((k, v)) = reserved {
        return Err(src.at(
            v.span(),
            format!("{field}.metadata.{k}: gRPC itself sets this key (grpc-timeout comes from target.timeout)"),
        ));
    }
    let mut headers = headers(src, &format!("{field}.metadata"), r.metadata, None)?;
    headers.push((
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/grpc"),
    ));
    headers.push((http::header::TE, HeaderValue::from_static("trailers")));
    let weight = weight(src, field, r.weight)?;
    let path = format!("/{}", built.grpc.full_method);
    Ok(RequestSpec {
        name: r.name.unwrap_or_else(|| built.grpc.full_method.clone()),
        method: Method::POST,
        path,
        headers,
        body: super::grpc::body(&built.message),
        weight,
        template: (!template.is_empty()).then(|| std::sync::Arc::new(template)),
        expect: None,
        grpc: Some(built.grpc),
    })
}

pub(crate) fn positive_dur(
    src: &Source,
    field: &str,
    d: Option<Spanned<Dur>>,
) -> Result<Option<Duration>, ProfileError> {
    match d {
        Some(d) if d.get_ref().0.is_zero() => {
            Err(src.at(d.span(), format!("{field}: must be longer than 0")))
        }
        Some(d) => Ok(Some(d.get_ref().0)),
        None => Ok(None),
    }
}

/// A connections plan (but for its traffic) and `load.traffic`.
type ConnFields = (
    crate::spec::connections::ConnectionsPlan,
    Option<Spanned<String>>,
);

fn load_plan(
    src: &Source,
    load: Spanned<RawLoad>,
) -> Result<(LoadPlan, Option<ConnFields>), ProfileError> {
    let load_span = load.span();
    let mut l = load.into_inner();
    let mode = match (&l.mode, &l.rate, &l.concurrency) {
        (Some(m), _, _) => *m.get_ref(),
        (None, None, Some(_)) => RawMode::Closed,
        _ => RawMode::Open,
    };
    let connection_only = [
        ("target", l.target.as_ref().map(|v| v.span())),
        ("hold", l.hold.as_ref().map(|v| v.span())),
        ("message", l.message.as_ref().map(|v| v.span())),
        (
            "message_interval",
            l.message_interval.as_ref().map(|v| v.span()),
        ),
        (
            "proxy_protocol",
            l.proxy_protocol.as_ref().map(|v| v.span()),
        ),
        ("traffic", l.traffic.as_ref().map(|v| v.span())),
    ];
    let mut conn = None;
    if mode == RawMode::Connections {
        if let Some(c) = &l.concurrency {
            return Err(src.at(c.span(), "mode = \"connections\": the count of connections to hold is load.target (load.rate is how many open per second)"));
        }
        let (mut plan, traffic) = super::connections::fields(
            src,
            super::connections::Raw {
                hold: l.hold.take(),
                message: l.message.take(),
                message_interval: l.message_interval.take(),
                proxy_protocol: l.proxy_protocol.take(),
                traffic: l.traffic.take(),
            },
        )?;
        if let Some(r) = l.rate.take() {
            let v = *r.get_ref();
            if !(v.is_finite() && v > 0.0 && v <= crate::util::limits::MAX_RATE) {
                return Err(src.at(
                    r.span(),
                    format!(
                        "load.rate: connections opened per second must be more than 0 and at most {}, got {}",
                        crate::util::limits::MAX_RATE_TEXT,
                        rampdeck_base::fmt::num(v)
                    ),
                ));
            }
            plan.open_rate = v;
        }
        if let Some(t) = &l.target {
            if !(1..=MAX_CONNECTIONS).contains(t.get_ref()) {
                return Err(src.at(t.span(), format!("load.target: connections to hold, a whole number from 1 to {MAX_CONNECTIONS}, got {}", t.get_ref())));
            }
        }
        // The count is the level, as a closed loop's concurrency is.
        l.concurrency = l.target.take();
        conn = Some((plan, traffic));
    } else if let Some((name, Some(at))) = connection_only.into_iter().find(|(_, s)| s.is_some()) {
        return Err(src.at(at, format!("load.{name} belongs to mode = \"connections\"")));
    }
    let mode = match mode {
        RawMode::Open => Mode::Open,
        RawMode::Closed | RawMode::Connections => Mode::Closed,
    };
    if let (Mode::Open, Some(c)) = (mode, &l.concurrency) {
        return Err(src.at(
            c.span(),
            "load.concurrency applies to mode = \"closed\"; in open mode give load.rate (requests per second)",
        ));
    }
    if let (Mode::Closed, Some(r)) = (mode, &l.rate) {
        return Err(src.at(
            r.span(),
            "load.rate applies to mode = \"open\"; in closed mode give load.concurrency",
        ));
    }
    let duration = positive_dur(src, "load.duration", l.duration)?;
    let shorthand = match (&l.rate, &l.concurrency) {
        (Some(r), _) => {
            let v = *r.get_ref();
            if v.is_nan() || v <= 0.0 || v.is_infinite() {
                return Err(src.at(
                    r.span(),
                    format!(
                        "load.rate: must be more than 0 requests per second, got {}",
                        rampdeck_base::fmt::num(v)
                    ),
                ));
            }
            if v > crate::util::limits::MAX_RATE {
                return Err(src.at(
                    r.span(),
                    format!(
                        "load.rate: {} is more than the most rampdeck sends ({})",
                        rampdeck_base::fmt::num(v),
                        crate::util::limits::MAX_RATE_TEXT
                    ),
                ));
            }
            Some((v, r.span()))
        }
        (None, Some(c)) => {
            let v = *c.get_ref();
            if !(1..=MAX_CONNECTIONS).contains(&v) {
                return Err(src.at(c.span(), format!("load.concurrency: must be a whole number from 1 to {MAX_CONNECTIONS}, got {v}")));
            }
            Some((v as f64, c.span()))
        }
        (None, None) => None,
    };
    let stages = match (shorthand, l.stages) {
        (Some((_, span)), Some(_)) => {
            return Err(src.at(
                span,
                "give either a single level (load.rate / load.concurrency with load.duration) or [[load.stages]], not both",
            ))
        }
        (Some((level, span)), None) => {
            let Some(d) = duration else {
                return Err(src.at(span, "load.duration is missing: how long to hold this level, e.g. duration = \"60s\""));
            };
            vec![Stage::hold(level, d)]
        }
        (None, Some(stages)) => {
            if duration.is_some() {
                return Err(src.at(load_span, "load.duration applies to the single-level form; with [[load.stages]] each stage has its own duration"));
            }
            stage_list(src, mode, stages)?
        }
        (None, None) => {
            return Err(src.at(
                load_span,
                "load needs a level: load.rate and load.duration (open loop), load.concurrency and load.duration (closed loop), or [[load.stages]]",
            ))
        }
    };
    let Some(total) = rampdeck_base::duration::total(stages.iter().map(|s| s.duration)) else {
        return Err(src.at(
            load_span,
            format!(
                "load: the stages add up to more than the longest run rampdeck accepts ({})",
                rampdeck_base::duration::MAX_DURATION_TEXT
            ),
        ));
    };
    let warmup = match l.warmup {
        Some(w) if w.get_ref().0 >= total => {
            return Err(src.at(
                w.span(),
                format!(
                    "load.warmup: '{}' is not shorter than the run ({}); warmup is excluded from statistics, so nothing would be measured",
                    rampdeck_base::fmt::fmt_dur(w.get_ref().0),
                    rampdeck_base::fmt::fmt_dur(total)
                ),
            ))
        }
        Some(w) => w.get_ref().0,
        None => Duration::ZERO,
    };
    let peak = stages.iter().map(|s| s.from.max(s.to)).fold(0.0, f64::max);
    let max_connections = match l.max_connections {
        Some(m) if (1..=MAX_CONNECTIONS).contains(m.get_ref()) => {
            let span = m.span();
            let m = *m.get_ref() as usize;
            if mode == Mode::Closed && (m as f64) < peak {
                return Err(src.at(
                    span,
                    format!("load.max_connections: {m} is below the peak concurrency {peak} the stages ask for"),
                ));
            }
            m
        }
        Some(m) => {
            return Err(src.at(
                m.span(),
                format!(
                "load.max_connections: must be a whole number from 1 to {MAX_CONNECTIONS}, got {}",
                m.get_ref()
            ),
            ))
        }
        None if mode == Mode::Closed => (peak.ceil() as usize).max(1),
        None => DEFAULT_MAX_CONNECTIONS,
    };
    let interval = match l.interval {
        Some(i)
            if i.get_ref().0 < Duration::from_millis(50)
                || i.get_ref().0 > Duration::from_secs(10) =>
        {
            return Err(src.at(i.span(), "load.interval: must be from 50ms to 10s"))
        }
        Some(i) => i.get_ref().0,
        None => DEFAULT_INTERVAL,
    };
    let plan = LoadPlan {
        mode,
        stages,
        max_connections,
        warmup,
        seed: l.seed.unwrap_or(DEFAULT_SEED),
        interval,
    };
    Ok((plan, conn))
}

fn stage_list(
    src: &Source,
    mode: Mode,
    stages: Spanned<Vec<Spanned<RawStage>>>,
) -> Result<Vec<Stage>, ProfileError> {
    let span = stages.span();
    let stages = stages.into_inner();
    if stages.is_empty() {
        return Err(src.at(
            span,
            "load.stages is empty: add at least one stage, e.g. { kind = \"hold\", target = 100, duration = \"60s\" }",
        ));
    }
    let max = if mode == Mode::Closed {
        MAX_CONNECTIONS as f64
    } else {
        crate::util::limits::MAX_RATE
    };
    let level = |field: String, v: &Spanned<f64>| -> Result<f64, ProfileError> {
        let x = *v.get_ref();
        if !(0.0..=max).contains(&x) || !x.is_finite() {
            return Err(src.at(
                v.span(),
                format!(
                    "{field}: must be from 0 to {}, got {}",
                    rampdeck_base::fmt::group(max as u64),
                    rampdeck_base::fmt::num(x)
                ),
            ));
        }
        if mode == Mode::Closed && x.fract() != 0.0 {
            return Err(src.at(
                v.span(),
                format!("{field}: concurrency must be a whole number, got {x}"),
            ));
        }
        Ok(x)
    };
    let mut out: Vec<Stage> = Vec::with_capacity(stages.len());
    for (i, s) in stages.into_iter().enumerate() {
        let field = format!("load.stages[{i}]");
        let s_span = s.span();
        let s = s.into_inner();
        let prev = out.last().map(|p| p.to);
        let duration = s.duration.get_ref().0;
        if duration.is_zero() {
            return Err(src.at(
                s.duration.span(),
                format!("{field}.duration: must be longer than 0"),
            ));
        }
        let stage = match *s.kind.get_ref() {
            RawStageKind::Ramp => {
                if let Some(t) = &s.target {
                    return Err(src.at(
                        t.span(),
                        format!("{field}: a ramp takes 'from' and 'to', not 'target'"),
                    ));
                }
                let from = match (&s.from, prev) {
                    (Some(f), _) => level(format!("{field}.from"), f)?,
                    (None, Some(p)) => p,
                    (None, None) => {
                        return Err(src.at(
                            s_span,
                            format!("{field}: the first ramp needs 'from' (where it starts)"),
                        ))
                    }
                };
                let Some(to) = &s.to else {
                    return Err(src.at(
                        s_span,
                        format!("{field}: a ramp needs 'to' (where it ends)"),
                    ));
                };
                Stage {
                    kind: StageKind::Ramp,
                    from,
                    to: level(format!("{field}.to"), to)?,
                    duration,
                }
            }
            RawStageKind::Hold => {
                if let Some(f) = s.from.as_ref().or(s.to.as_ref()) {
                    return Err(src.at(
                        f.span(),
                        format!("{field}: a hold takes 'target', not 'from'/'to'"),
                    ));
                }
                let target = match (&s.target, prev) {
                    (Some(t), _) => level(format!("{field}.target"), t)?,
                    (None, Some(p)) => p,
                    (None, None) => {
                        return Err(src.at(
                            s_span,
                            format!("{field}: the first hold needs 'target' (the level to hold)"),
                        ))
                    }
                };
                Stage::hold(target, duration)
            }
        };
        out.push(stage);
    }
    if out.iter().all(|s| s.from <= 0.0 && s.to <= 0.0) {
        return Err(src.at(
            span,
            "load.stages: every stage is at level 0, so nothing would be sent",
        ));
    }
    Ok(out)
}

/// The `[demo]` table, validated by the demo itself; its errors point into this file.
pub(super) fn demo_config(
    src: &Source,
    raw: rampdeck_demo::profile::RawDemo,
) -> Result<rampdeck_demo::config::DemoConfig, ProfileError> {
    rampdeck_demo::profile::validate(raw).map_err(|e| src.at(e.span, e.message))
}

/// Placeholders a profile may use in probe URLs and commands.
pub const DEMO_VARS: [&str; 2] = ["demo.control", "demo.gateway"];

/// Checks a probe URL, with `{{demo.*}}` standing for an address (only under `[demo]`).
fn probe_url(
    src: &Source,
    field: &str,
    url: &Spanned<String>,
    has_demo: bool,
) -> Result<String, ProfileError> {
    let mut concrete = url.get_ref().clone();
    for var in DEMO_VARS {
        let pattern = format!("{{{{{var}}}}}");
        if concrete.contains(&pattern) {
            if !has_demo {
                return Err(src.at(
                    url.span(),
                    format!("{field}: '{pattern}' is the demo's address and only exists in a profile with [demo]"),
                ));
            }
            concrete = concrete.replace(&pattern, "http://127.0.0.1:1");
        }
    }
    if !concrete.contains("://") {
        return Err(src.at(
            url.span(),
            format!(
                "{field}: invalid URL '{0}': it needs http:// or https://, e.g. http://{0}",
                url.get_ref()
            ),
        ));
    }
    let uri: http::Uri = concrete.parse().map_err(|e| {
        src.at(
            url.span(),
            format!("{field}: invalid URL '{}': {e}", url.get_ref()),
        )
    })?;
    if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.authority().is_none() {
        return Err(src.at(
            url.span(),
            format!(
                "{field}: invalid URL '{}': it needs http:// or https:// and a host",
                url.get_ref()
            ),
        ));
    }
    Ok(url.get_ref().clone())
}

fn probe_timing(
    src: &Source,
    field: &str,
    interval: Option<Spanned<Dur>>,
    timeout: Option<Spanned<Dur>>,
    default_interval: Duration,
) -> Result<(Duration, Duration), ProfileError> {
    let interval =
        positive_dur(src, &format!("{field}.interval"), interval)?.unwrap_or(default_interval);
    let timeout = positive_dur(src, &format!("{field}.timeout"), timeout)?.unwrap_or(
        crate::spec::probes::DEFAULT_PROBE_TIMEOUT.min(interval.max(Duration::from_secs(1))),
    );
    Ok((interval, timeout))
}

pub fn probes_config(
    src: &Source,
    sources: Vec<Spanned<RawSource>>,
    stats: Vec<Spanned<RawStat>>,
    probes: Vec<Spanned<RawProbe>>,
    has_demo: bool,
) -> Result<crate::spec::probes::ProbesConfig, ProfileError> {
    use crate::spec::probes::*;
    let mut out = ProbesConfig {
        sources: Vec::new(),
        stats: Vec::new(),
        probes: Vec::new(),
    };
    for (i, s) in sources.into_iter().enumerate() {
        let field = format!("source[{i}]");
        let s = s.into_inner();
        let url = probe_url(src, &format!("{field}.url"), &s.url, has_demo)?;
        let (interval, timeout) =
            probe_timing(src, &field, s.interval, s.timeout, DEFAULT_SOURCE_INTERVAL)?;
        let kind = match s.kind.get_ref().as_str() {
            "scrape" => {
                for (q, name) in [(&s.cpu_query, "cpu_query"), (&s.memory_query, "memory_query")] {
                    if let Some(q) = q {
                        return Err(src.at(q.span(), format!("{field}.{name} applies to kind = \"promql\"; a scrape source names metrics with cpu_metric / memory_metric")));
                    }
                }
                SourceKind::Scrape {
                    url,
                    cpu_metric: s.cpu_metric.unwrap_or_else(|| DEFAULT_CPU_METRIC.into()),
                    memory_metric: s.memory_metric.unwrap_or_else(|| DEFAULT_MEMORY_METRIC.into()),
                    labels: s.labels.into_iter().collect(),
                }
            }
            "promql" => {
                if s.cpu_query.is_none() && s.memory_query.is_none() {
                    return Err(src.at(
                        s.kind.span(),
                        format!("{field}: a promql source needs cpu_query and/or memory_query, e.g. cpu_query = 'sum(rate(container_cpu_usage_seconds_total{{namespace=\"linkerd\"}}[1m]))'"),
                    ));
                }
                let token = match (s.bearer_token_file, s.bearer_token_env) {
                    (Some(_), Some(_)) => return Err(src.at(s.kind.span(), format!("{field}: give bearer_token_file or bearer_token_env, not both"))),
                    (Some(f), None) => Some(TokenSource::File(f.into())),
                    (None, Some(e)) => Some(TokenSource::Env(e)),
                    (None, None) => None,
                };
                SourceKind::Promql {
                    url,
                    cpu_query: s.cpu_query.map(Spanned::into_inner),
                    memory_query: s.memory_query.map(Spanned::into_inner),
                    token,
                }
            }
            other => {
                return Err(src.at(s.kind.span(), format!("{field}.kind: unknown source kind '{other}': use \"scrape\" (a /metrics endpoint) or \"promql\" (a Prometheus server)")))
            }
        };
        out.sources.push(SourceConfig {
            name: s.name.unwrap_or_else(|| format!("source {}", i + 1)),
            kind,
            interval,
            timeout,
        });
    }
    for (i, s) in stats.into_iter().enumerate() {
        let field = format!("stat[{i}]");
        let s = s.into_inner();
        if s.command.get_ref().is_empty() || s.command.get_ref()[0].trim().is_empty() {
            return Err(src.at(s.command.span(), format!("{field}.command: give the program and its arguments, e.g. [\"linkerd\", \"viz\", \"stat\", \"deploy\"]")));
        }
        let (interval, timeout) =
            probe_timing(src, &field, s.interval, s.timeout, DEFAULT_PROBE_INTERVAL)?;
        let keep_lines = match s.lines {
            Some(l) if (1..=200).contains(l.get_ref()) => *l.get_ref() as usize,
            Some(l) => {
                return Err(src.at(
                    l.span(),
                    format!("{field}.lines: must be from 1 to 200, got {}", l.get_ref()),
                ))
            }
            None => DEFAULT_KEEP_LINES,
        };
        let until = match s.until.as_ref().map(|u| (u.get_ref().as_str(), u.span())) {
            None | Some(("exit", _)) => crate::spec::probes::Until::Exit,
            Some(("first_line", _)) => crate::spec::probes::Until::FirstLine,
            Some((other, span)) => {
                return Err(src.at(
                    span,
                    format!("{field}.until: '{other}' is not allowed; use \"exit\" (time the command to its exit) or \"first_line\" (to its first line of output, then stop it)"),
                ))
            }
        };
        let argv = s.command.into_inner();
        out.stats.push(StatConfig {
            until,
            name: s.name.unwrap_or_else(|| argv.join(" ")),
            argv,
            shell: s.shell,
            interval,
            timeout,
            env: s.env.into_iter().collect(),
            cwd: s.cwd.map(Into::into),
            keep_lines,
        });
    }
    for (i, p) in probes.into_iter().enumerate() {
        let field = format!("probe[{i}]");
        let p = p.into_inner();
        let url = probe_url(src, &format!("{field}.url"), &p.url, has_demo)?;
        let (interval, timeout) =
            probe_timing(src, &field, p.interval, p.timeout, DEFAULT_PROBE_INTERVAL)?;
        let expect_status = match p.expect_status {
            Some(s) if (100..=599).contains(s.get_ref()) => *s.get_ref() as u16,
            Some(s) => {
                return Err(src.at(
                    s.span(),
                    format!(
                        "{field}.expect_status: must be an HTTP status from 100 to 599, got {}",
                        s.get_ref()
                    ),
                ))
            }
            None => 200,
        };
        out.probes.push(HttpProbeConfig {
            name: p.name.unwrap_or_else(|| url.clone()),
            url,
            expect_status,
            interval,
            timeout,
        });
    }
    Ok(out)
}

fn thresholds(
    src: &Source,
    raw: RawThresholds,
    probes: &crate::spec::probes::ProbesConfig,
    mode: Mode,
    delivery: bool,
) -> Result<Vec<crate::spec::thresholds::Threshold>, ProfileError> {
    use crate::spec::thresholds::{parse, Bound, Metric, Pct};
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
        if !probes.sources.iter().any(|s| s.name == component) {
            let known: Vec<&str> = probes.sources.iter().map(|s| s.name.as_str()).collect();
            return Err(src.at(t.span(), format!("thresholds.component.{component}: no [[source]] is named '{component}' (sources: {})", list(&known))));
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
        let known: Vec<&str> = probes
            .stats
            .iter()
            .map(|s| s.name.as_str())
            .chain(probes.probes.iter().map(|p| p.name.as_str()))
            .collect();
        if !known.contains(&probe.as_str()) {
            return Err(src.at(t.span(), format!("thresholds.probe.{probe}: no [[stat]] or [[probe]] is named '{probe}' (probes: {})", list(&known))));
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
    Ok(out)
}

fn list(names: &[&str]) -> String {
    if names.is_empty() {
        "none".into()
    } else {
        names
            .iter()
            .map(|n| format!("'{n}'"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}
