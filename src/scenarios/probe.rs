//! route-probe: routes applied one at a time; after each, the data plane is probed every few milliseconds until the route answers 200.
//!
//! Timers, per route (client clock):
//! - apply: the apply call started -> it returned;
//! - data plane: the apply returned -> the first probe answer that was 200;
//! - control plane: the apply returned -> the first watch event with the
//!   route Accepted at its generation (ResolvedRefs stays False: the
//!   catch-all's backend is missing on purpose);
//! - route time: the apply started -> the first 200 (what one route costs).
//!
//! Answers other than 200 and 404 while waiting are errors (a 500 means
//! the catch-all rule was programmed before the `/i` rule), counted by
//! status, 0 for no answer.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method};
use serde::Serialize;

use super::objects::{hostname, numbered_route, route_name};
use super::{Ctx, ScenarioError, ScenarioEvent};
use crate::kube::RouteState;
use crate::spec::kube::KubeOp;
use crate::stats::{new_histogram, Percentiles};

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProbeResult {
    pub routes: usize,
    /// Routes that answered 200 within the timeout.
    pub propagated: usize,
    pub data_plane_ms: Percentiles,
    /// For the routes whose watch event arrived.
    pub control_plane_ms: Percentiles,
    pub apply_ms: Percentiles,
    pub route_ms: Percentiles,
    /// Answers that were neither 200 nor 404, by status (0: no answer).
    pub errors: BTreeMap<u16, u64>,
    pub error_count: u64,
    pub polls: u64,
    pub per_route: Vec<RouteTiming>,
    /// First problem per kind (apply failed, timed out), for the table.
    pub problems: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RouteTiming {
    pub index: usize,
    pub apply_ms: f64,
    pub data_plane_ms: Option<f64>,
    pub control_plane_ms: Option<f64>,
    pub route_ms: Option<f64>,
    pub polls: u64,
    pub errors: u64,
}

/// How long after the last route the control-plane watch may still report.
const WATCH_GRACE: Duration = Duration::from_secs(5);
/// One probe request never waits longer than this.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

pub async fn run(ctx: &Ctx, n: usize) -> Result<ProbeResult, ScenarioError> {
    let cfg = &ctx.cfg.probe;
    let base = ctx.gateway_url()?;
    let mut watch = ctx.kube()?.watch_routes(&ctx.namespace, &ctx.selector());
    ctx.phase(
        "probing",
        format!(
            "route-probe: {n} routes, one at a time, probing every {}",
            rampdeck_base::fmt::fmt_dur(cfg.interval)
        ),
    );
    let mut ready: HashMap<String, Instant> = HashMap::new();
    let mut per_route = Vec::with_capacity(n);
    let mut applied_at: HashMap<String, (usize, Instant)> = HashMap::new();
    let mut errors: BTreeMap<u16, u64> = BTreeMap::new();
    let mut problems = Vec::new();
    let mut created = 0;
    for i in 1..=n {
        if ctx.cancel.is_cancelled() {
            break;
        }
        let target = numbered_route(&ctx.cfg.cluster, &ctx.namespace, &ctx.gateway_namespace, i);
        let start = Instant::now();
        let applied = ctx.kube()?.run(KubeOp::Apply, &target).await;
        let done = Instant::now();
        created = i;
        if let Err(e) = applied {
            problems.push(format!("route {i}: apply failed: {e}"));
            ctx.log(format!("route-probe: route {i}: apply failed: {e}"));
            break;
        }
        applied_at.insert(target.name.clone(), (i, done));
        let url = format!("{base}/{i}");
        let probed = poll(ctx, &url, &hostname(i), &mut errors).await;
        drain(&mut watch, &mut ready);
        let apply_ms = ms(done - start);
        let timing = match probed {
            Ok((at, polls, errs)) => {
                let data = ms(at.saturating_duration_since(done));
                let _ = ctx.tx.send(ScenarioEvent::Propagated {
                    at: ctx.since(at),
                    index: i,
                    data_plane_ms: data,
                });
                RouteTiming {
                    index: i,
                    apply_ms,
                    data_plane_ms: Some(data),
                    control_plane_ms: None,
                    route_ms: Some(ms(at.saturating_duration_since(start))),
                    polls,
                    errors: errs,
                }
            }
            Err((why, polls, errs)) => {
                ctx.log(format!("route-probe: route {i}: {why}"));
                problems.push(format!("route {i}: {why}"));
                RouteTiming {
                    index: i,
                    apply_ms,
                    data_plane_ms: None,
                    control_plane_ms: None,
                    route_ms: None,
                    polls,
                    errors: errs,
                }
            }
        };
        per_route.push(timing);
        if i % 10 == 0 || i == n {
            ctx.log(format!("route-probe: {i}/{n} routes serving"));
        }
    }
    // Control-plane events may trail the data plane; give them a moment.
    let grace = Instant::now() + WATCH_GRACE;
    while ready.len() < applied_at.len() && !ctx.cancel.is_cancelled() {
        match tokio::time::timeout_at(grace.into(), watch.recv()).await {
            Ok(Some((t, (name, state)))) => note_ready(&mut ready, t, name, &state),
            _ => break,
        }
    }
    for (name, (i, done)) in &applied_at {
        if let (Some(t), Some(r)) = (ready.get(name), per_route.get_mut(i - 1)) {
            r.control_plane_ms = Some(ms(t.saturating_duration_since(*done)));
        }
    }
    ctx.phase("cleanup", format!("route-probe: deleting {created} routes"));
    for i in 1..=created {
        if let Err(e) = ctx
            .kube()?
            .delete_route(&ctx.namespace, &route_name(&ctx.cfg.cluster, i))
            .await
        {
            problems.push(format!("route {i}: delete failed: {e}"));
        }
    }
    let pct = |f: &dyn Fn(&RouteTiming) -> Option<f64>| {
        let mut h = new_histogram();
        for r in &per_route {
            if let Some(v) = f(r) {
                let _ = h.record(((v * 1000.0) as u64).max(1));
            }
        }
        Percentiles::of(&h)
    };
    Ok(ProbeResult {
        routes: n,
        propagated: per_route
            .iter()
            .filter(|r| r.data_plane_ms.is_some())
            .count(),
        data_plane_ms: pct(&|r| r.data_plane_ms),
        control_plane_ms: pct(&|r| r.control_plane_ms),
        apply_ms: pct(&|r| Some(r.apply_ms)),
        route_ms: pct(&|r| r.route_ms),
        error_count: errors.values().sum(),
        errors,
        polls: per_route.iter().map(|r| r.polls).sum(),
        per_route,
        problems,
    })
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn drain(
    watch: &mut tokio::sync::mpsc::UnboundedReceiver<(Instant, (String, RouteState))>,
    ready: &mut HashMap<String, Instant>,
) {
    while let Ok((t, (name, state))) = watch.try_recv() {
        note_ready(ready, t, name, &state);
    }
}

/// Keeps the first time each route was Accepted at its own generation.
fn note_ready(ready: &mut HashMap<String, Instant>, t: Instant, name: String, s: &RouteState) {
    if s.accepted_generation.is_some_and(|g| g >= s.generation) {
        ready.entry(name).or_insert(t);
    }
}

type Polled = (Instant, u64, u64);

/// Probes `url` with `host` every interval until a 200; returns when it
/// arrived, the polls and the error answers, or why it gave up.
async fn poll(
    ctx: &Ctx,
    url: &str,
    host: &str,
    errors: &mut BTreeMap<u16, u64>,
) -> Result<Polled, (String, u64, u64)> {
    let cfg = &ctx.cfg.probe;
    let mut headers = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_str(host) {
        headers.insert(http::header::HOST, v);
    }
    let start = Instant::now();
    let mut tick = tokio::time::interval(cfg.interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let (mut polls, mut errs) = (0u64, 0u64);
    let mut last = String::from("no answer yet");
    loop {
        tokio::select! {
            _ = ctx.cancel.cancelled() => return Err(("cancelled".into(), polls, errs)),
            _ = tick.tick() => {}
        }
        let left = cfg.timeout.saturating_sub(start.elapsed());
        if left.is_zero() {
            return Err((
                format!(
                    "no 200 from {url} (Host {host}) within {} ({polls} probes; last: {last})",
                    rampdeck_base::fmt::fmt_dur(cfg.timeout)
                ),
                polls,
                errs,
            ));
        }
        polls += 1;
        let r = ctx
            .client
            .send(
                Method::GET,
                url,
                headers.clone(),
                Bytes::new(),
                left.min(PROBE_TIMEOUT),
            )
            .await;
        let status = match r {
            Ok(f) if f.status == 200 => return Ok((Instant::now(), polls, errs)),
            Ok(f) if f.status == 404 => {
                last = "HTTP 404".into();
                continue;
            }
            Ok(f) => {
                last = format!("HTTP {}", f.status);
                f.status
            }
            Err(e) => {
                last = e.to_string();
                0
            }
        };
        errs += 1;
        *errors.entry(status).or_default() += 1;
    }
}
