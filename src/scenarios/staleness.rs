//! staleness (the mesh scale-test RFC's check): keep-alive connections used, held idle, the
//! backends rolled, then used again: a gateway that pooled connections to the old pods answers
//! 503 on the first requests after the roll. Every failure after the roll is charged to it;
//! failures before it are the baseline.
//!
//! Each connection is its own HTTP/1.1 connection (hyper's connection API, not a pool), so
//! "the same connection after the idle time" is what is tested; a connection the gateway
//! closed while idle is counted and reopened (clients reopen; a close is not a 503).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use serde::Serialize;

use super::objects::spread_route;
use super::{pause, Ctx, ScenarioError};
use crate::spec::kube::KubeOp;
use crate::stats::{new_histogram, Percentiles};

/// Longest wait for the roll action.
const ACTION_TIMEOUT: Duration = Duration::from_secs(300);

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StalenessResult {
    pub connections: usize,
    pub idle_s: f64,
    pub settle_s: f64,
    pub requests_per_connection: u32,
    pub roll: String,
    pub roll_error: Option<String>,
    /// Seconds since the start: when the roll action returned.
    pub rolled_at_s: Option<f64>,
    pub before: Phase,
    /// After the roll: every failure here is charged to it.
    pub after: Phase,
    /// Connections the gateway closed while they were idle (reopened for the resume).
    pub closed_while_idle: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Phase {
    pub requests: u64,
    pub ok: u64,
    pub status_503: u64,
    /// Failures by cause ("HTTP 503", "connection reset", ...).
    pub failures: BTreeMap<String, u64>,
    /// Connections whose first request of the phase failed.
    pub first_request_failed: u64,
    pub latency_ms: Percentiles,
}

impl Phase {
    pub fn failed(&self) -> u64 {
        self.failures.values().sum()
    }
}

type Sender = hyper::client::conn::http1::SendRequest<Empty<Bytes>>;

struct Conn {
    sender: Option<Sender>,
}

pub async fn run(ctx: &Ctx) -> Result<StalenessResult, ScenarioError> {
    let cfg = &ctx.cfg.staleness;
    let base = ctx.gateway_url()?;
    let url: http::Uri = base
        .parse()
        .map_err(|e| ScenarioError::Setup(format!("gateway_url '{base}': {e}")))?;
    if url.scheme_str() != Some("http") {
        return Err(ScenarioError::Setup(
            "staleness holds plain HTTP/1.1 connections: give an http:// gateway_url".into(),
        ));
    }
    let addr = format!(
        "{}:{}",
        url.host().unwrap_or("127.0.0.1"),
        url.port_u16().unwrap_or(80)
    );
    let Some(roll) = &cfg.roll else {
        return Err(ScenarioError::Setup(
            "staleness: give [scenario.staleness] roll (a command that rolls the backends, e.g. [\"kubectl\", \"rollout\", \"restart\", \"deployment/echo\"]), or run on the demo with --demo".into(),
        ));
    };
    let host = if cfg.create_route {
        cfg.hostname.clone()
    } else {
        url.authority().map_or_else(String::new, |a| a.to_string())
    };
    let route = cfg.create_route.then(|| {
        let c = &ctx.cfg.cluster;
        spread_route(
            c,
            format!("{}-stale", c.name_prefix),
            (&ctx.namespace, &ctx.gateway_namespace),
            &cfg.hostname,
            &cfg.path,
            &cfg.backends,
        )
    });
    if let Some(r) = &route {
        ctx.phase("create", format!("staleness: creating {}", r.name));
        ctx.kube()?.run(KubeOp::Apply, r).await?;
    }
    let path = cfg.path.clone();
    let result = held(ctx, &addr, &host, &path, roll).await;
    if let Some(r) = &route {
        if let Err(e) = ctx.kube()?.delete_route(&ctx.namespace, &r.name).await {
            ctx.log(format!("staleness: cannot delete {}: {e}", r.name));
        }
    }
    result
}

async fn held(
    ctx: &Ctx,
    addr: &str,
    host: &str,
    path: &str,
    roll: &super::action::Toggle,
) -> Result<StalenessResult, ScenarioError> {
    let cfg = &ctx.cfg.staleness;
    // The route must serve before the connections are opened.
    wait_serving(ctx, addr, host, path).await?;
    let mut conns = Vec::with_capacity(cfg.connections);
    for _ in 0..cfg.connections {
        conns.push(Conn {
            sender: Some(open(addr).await.map_err(ScenarioError::Setup)?),
        });
    }
    ctx.phase(
        "warm",
        format!(
            "staleness: {} connections, {} requests each",
            cfg.connections, cfg.requests
        ),
    );
    let mut closed = 0u64;
    let before = use_all(ctx, &mut conns, addr, host, path, &mut closed).await;
    phase_counts(ctx, &before);
    ctx.phase(
        "idle",
        format!(
            "staleness: holding {} connections idle for {}",
            cfg.connections,
            rampdeck_base::fmt::fmt_dur(cfg.idle)
        ),
    );
    let mut res = StalenessResult {
        connections: cfg.connections,
        idle_s: cfg.idle.as_secs_f64(),
        settle_s: cfg.settle.as_secs_f64(),
        requests_per_connection: cfg.requests,
        roll: roll.describe(),
        roll_error: None,
        rolled_at_s: None,
        before,
        after: Phase::default(),
        closed_while_idle: 0,
    };
    if !pause(&ctx.cancel, cfg.idle).await {
        return Ok(res);
    }
    match roll.run(&ctx.client, ACTION_TIMEOUT).await {
        Ok(at) => {
            res.rolled_at_s = Some(ctx.since(at).as_secs_f64());
            ctx.phase("roll", format!("staleness: rolled ({})", roll.describe()));
        }
        Err(e) => {
            ctx.log(format!("staleness: the roll failed: {e}"));
            res.roll_error = Some(e);
            return Ok(res);
        }
    }
    if !pause(&ctx.cancel, cfg.settle).await {
        return Ok(res);
    }
    ctx.phase(
        "resume",
        "staleness: using the idle connections again".to_owned(),
    );
    let mut closed_idle = 0u64;
    res.after = use_all(ctx, &mut conns, addr, host, path, &mut closed_idle).await;
    res.closed_while_idle = closed_idle;
    phase_counts(ctx, &res.after);
    if res.after.failed() > 0 {
        ctx.log(format!(
            "staleness: {} of {} requests after the roll failed ({} answered 503)",
            res.after.failed(),
            res.after.requests,
            res.after.status_503
        ));
    }
    Ok(res)
}

/// A phase's answers for the console's chart.
fn phase_counts(ctx: &Ctx, p: &Phase) {
    let _ = ctx.tx.send(super::ScenarioEvent::Traffic {
        at: ctx.now(),
        ok: p.ok,
        failed: p.failed(),
    });
}

async fn wait_serving(ctx: &Ctx, addr: &str, host: &str, path: &str) -> Result<(), ScenarioError> {
    let start = Instant::now();
    let limit = ctx.cfg.probe.timeout;
    loop {
        let last = match open(addr).await {
            Ok(mut s) => match request(&mut s, host, path, ctx.cfg.staleness.timeout).await {
                Ok(200) => return Ok(()),
                Ok(code) => format!("answer {code}"),
                Err(e) => e,
            },
            Err(e) => e,
        };
        if start.elapsed() > limit || !pause(&ctx.cancel, Duration::from_millis(20)).await {
            return Err(ScenarioError::Setup(format!(
                "staleness: http://{addr}{path} (Host {host}) did not answer 200 within {} ({last})",
                rampdeck_base::fmt::fmt_dur(limit)
            )));
        }
    }
}

/// `requests` requests on every connection, the connections in parallel; a connection found
/// closed before its first request is reopened and counted in `closed`.
async fn use_all(
    ctx: &Ctx,
    conns: &mut [Conn],
    addr: &str,
    host: &str,
    path: &str,
    closed: &mut u64,
) -> Phase {
    let cfg = &ctx.cfg.staleness;
    let mut tasks = tokio::task::JoinSet::new();
    for (i, c) in conns.iter_mut().enumerate() {
        let mut sender = c.sender.take();
        let (addr, host, path) = (addr.to_owned(), host.to_owned(), path.to_owned());
        let (n, timeout) = (cfg.requests, cfg.timeout);
        tasks.spawn(async move {
            let mut reopened = false;
            let usable = match &mut sender {
                Some(s) => !s.is_closed() && s.ready().await.is_ok(),
                None => false,
            };
            if !usable {
                reopened = true;
                sender = open(&addr).await.ok();
            }
            let mut out = Vec::new();
            for _ in 0..n {
                let t = Instant::now();
                let r = match &mut sender {
                    Some(s) => request(s, &host, &path, timeout).await,
                    None => Err("cannot reopen the connection".into()),
                };
                out.push((r, t.elapsed()));
            }
            (i, sender, reopened, out)
        });
    }
    let mut phase = Phase::default();
    let mut h = new_histogram();
    while let Some(done) = tasks.join_next().await {
        let Ok((i, sender, reopened, out)) = done else {
            continue;
        };
        conns[i].sender = sender;
        *closed += u64::from(reopened);
        for (k, (r, took)) in out.into_iter().enumerate() {
            phase.requests += 1;
            let cause = match r {
                Ok(code) if (200..400).contains(&code) => {
                    phase.ok += 1;
                    let _ = h.record(took.as_micros().max(1) as u64);
                    continue;
                }
                Ok(code) => {
                    if code == 503 {
                        phase.status_503 += 1;
                    }
                    format!("HTTP {code}")
                }
                Err(e) => e,
            };
            if k == 0 {
                phase.first_request_failed += 1;
            }
            *phase.failures.entry(cause).or_default() += 1;
        }
    }
    phase.latency_ms = Percentiles::of(&h);
    phase
}

async fn open(addr: &str) -> Result<Sender, String> {
    let stream = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| format!("connect {addr}: {e}"))?;
    let _ = stream.set_nodelay(true);
    let (sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .map_err(|e| format!("HTTP/1.1 handshake with {addr}: {e}"))?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(sender)
}

/// One GET; the status, or why there was none.
async fn request(s: &mut Sender, host: &str, path: &str, timeout: Duration) -> Result<u16, String> {
    let req = http::Request::get(path)
        .header(http::header::HOST, host)
        .body(Empty::<Bytes>::new())
        .map_err(|e| e.to_string())?;
    let go = async {
        s.ready().await.map_err(cause)?;
        let resp = s.send_request(req).await.map_err(cause)?;
        let code = resp.status().as_u16();
        resp.into_body().collect().await.map_err(cause)?;
        Ok(code)
    };
    tokio::time::timeout(timeout, go)
        .await
        .unwrap_or_else(|_| Err("timeout".into()))
}

fn cause(e: hyper::Error) -> String {
    if e.is_closed() || e.is_incomplete_message() {
        "connection closed".into()
    } else if e.is_timeout() {
        "timeout".into()
    } else {
        let s = e.to_string();
        s.rsplit(": ").next().unwrap_or(&s).to_owned()
    }
}
