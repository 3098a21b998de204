//! Turns a parsed profile into a `Plan`: defaults, ranges, and how fields combine, each with its own message.

use std::time::Duration;

use bytes::Bytes;
use http::Method;
use toml::Spanned;

use super::error::{ProfileError, Source};
use super::schema::*;
use super::{
    agents::agents_config, data::data_feeders, find::find_config, load::load_plan,
    probes::probes_config, request::request, target::target, thresholds::thresholds,
};
use crate::spec::plan::{Mode, Plan, RequestSpec, Target, TargetAddr};
use rampdeck_base::duration::Dur;

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
        Some(t) => thresholds(
            src,
            t,
            &probes,
            load.mode,
            raw.delivery.is_some(),
            &load.stages,
        )?,
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

/// The `[demo]` table, validated by the demo itself; its errors point into this file.
pub(super) fn demo_config(
    src: &Source,
    raw: rampdeck_demo::profile::RawDemo,
) -> Result<rampdeck_demo::config::DemoConfig, ProfileError> {
    rampdeck_demo::profile::validate(raw).map_err(|e| src.at(e.span, e.message))
}
