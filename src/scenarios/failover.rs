//! backend-failover: open-loop traffic over M routes to a pair of backends while one of them
//! is killed and revived; per interval, requests per backend; per kill, when the dead backend
//! stopped getting traffic (ejection), how many requests went to it while dead, and when the
//! revived one got traffic back (recovery).
//!
//! Timeline (client clock): routes created and probed until every path answers (not timed);
//! traffic for `before`, then `cycles` of kill, `down`, revive, `up`. A kill's reference time
//! is when its action returned, as a flip's is in route-change; a request still in flight
//! when it was started is charged to it. Requests are placed by their
//! scheduled send time. A request "went to the dead backend" when it was sent between a kill
//! and its revive and failed (the dead backend cannot answer, so the failure is its) or was
//! answered in its name. The ejection is the send time of the last such request after the
//! kill, provided the traffic after it and before the revive ran clean for at least the
//! settle window (else the backend was never ejected); the detection resolution is 1/rate.

use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::mpsc;

use super::action::Toggle;
use super::config::FailoverConfig;
use super::objects::spread_route;
use super::traffic::{self, Answer, PathTarget, Sample, TrafficPlan};
use super::{pause, Ctx, ScenarioError, ScenarioEvent};
use crate::spec::kube::KubeOp;
use crate::stats::{new_histogram, Percentiles};

/// Longest wait for a kill or revive action.
const ACTION_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FailoverResult {
    pub rate: f64,
    /// Shortest outage the traffic is sure to see: 1/rate.
    pub resolution_ms: f64,
    pub interval_ms: f64,
    /// Clean traffic needed after the last request to the dead backend for it to count as ejected.
    pub settle_ms: f64,
    pub routes: usize,
    pub paths: usize,
    pub backends: Vec<String>,
    pub flapping: String,
    /// The kill and revive actions, described (a token left out).
    pub kill: String,
    pub revive: String,
    pub requests: u64,
    pub ok: u64,
    pub failed: u64,
    /// Answers per backend (same order as `backends`).
    pub per_backend: Vec<u64>,
    /// Answers naming no known backend.
    pub unrecognised: u64,
    /// Requests that went to the dead backend, all cycles.
    pub sent_to_dead: u64,
    /// Failures sent while every backend was alive: not a kill's doing.
    pub failed_outside: u64,
    pub cycles: Vec<Cycle>,
    /// Successful answers' latency while the backend was dead, and otherwise.
    pub latency_down_ms: Percentiles,
    pub latency_up_ms: Percentiles,
    /// Per interval of send time: answers per backend and failures.
    pub timeline: Vec<Bin>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Cycle {
    pub cycle: u32,
    /// When the kill action returned (seconds since the scenario started).
    pub killed_at_s: f64,
    pub revived_at_s: Option<f64>,
    pub kill_error: Option<String>,
    pub revive_error: Option<String>,
    /// Requests sent between the kill and the revive that went to the dead backend.
    pub sent_to_dead: u64,
    /// Requests sent between the kill and the revive.
    pub sent: u64,
    /// Kill -> the last request that went to the dead backend (0 when none did).
    pub ejection_ms: Option<f64>,
    /// False when requests still went to the dead backend within the settle window before the revive.
    pub ejected: bool,
    /// Revive -> the first answer from the revived backend (None: none before the next kill or the end).
    pub recovery_ms: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Bin {
    pub t_s: f64,
    pub counts: Vec<u64>,
    pub failed: u64,
}

pub async fn run(ctx: &Ctx) -> Result<FailoverResult, ScenarioError> {
    let cfg = &ctx.cfg.failover;
    let base = ctx.gateway_url()?;
    let flapping = cfg
        .flapping
        .clone()
        .or_else(|| cfg.backends.last().cloned())
        .unwrap_or_default();
    let (Some(kill), Some(revive)) = (&cfg.kill, &cfg.revive) else {
        return Err(ScenarioError::Setup(
            "backend-failover: give [scenario.backend_failover] kill and revive (commands that stop and start the flapping backend), or run on the demo with --demo".into(),
        ));
    };
    let (paths, host, created) = if cfg.routes > 0 {
        let c = &ctx.cfg.cluster;
        let names: Vec<_> = (1..=cfg.routes)
            .map(|i| {
                spread_route(
                    c,
                    format!("{}-failover-{i}", c.name_prefix),
                    (&ctx.namespace, &ctx.gateway_namespace),
                    &cfg.hostname,
                    &format!("/failover/{i}"),
                    &cfg.backends,
                )
            })
            .collect();
        ctx.phase(
            "create",
            format!(
                "backend-failover: creating {} routes over {}",
                cfg.routes,
                cfg.backends.join(", ")
            ),
        );
        for r in &names {
            ctx.kube()?.run(KubeOp::Apply, r).await?;
        }
        let paths = (1..=cfg.routes)
            .map(|i| PathTarget::path(format!("/failover/{i}")))
            .collect();
        (paths, cfg.hostname.clone(), names)
    } else {
        let paths = cfg.paths.iter().map(PathTarget::path).collect();
        (paths, String::new(), Vec::new())
    };
    let plan = TrafficPlan {
        url: base,
        paths,
        host,
        rate: cfg.rate,
        closed: false,
        duration: cfg.before + (cfg.down + cfg.up) * cfg.cycles,
        timeout: cfg.timeout,
        backends: cfg.backends.clone(),
        backend_header: cfg.backend_from.header().map(str::to_owned),
    };
    let result = match wait_serving(ctx, &plan).await {
        Ok(()) => Ok(under_load(ctx, cfg, plan, &flapping, kill, revive).await),
        Err(e) => Err(e),
    };
    for r in &created {
        if let Err(e) = ctx.kube()?.delete_route(&ctx.namespace, &r.name).await {
            ctx.log(format!("backend-failover: cannot delete {}: {e}", r.name));
        }
    }
    result
}

/// Probes every path until each answers 200, so traffic starts on working routes.
async fn wait_serving(ctx: &Ctx, plan: &TrafficPlan) -> Result<(), ScenarioError> {
    let start = Instant::now();
    let limit = ctx.cfg.probe.timeout;
    let mut headers = http::HeaderMap::new();
    if !plan.host.is_empty() {
        if let Ok(v) = http::HeaderValue::from_str(&plan.host) {
            headers.insert(http::header::HOST, v);
        }
    }
    let paths = if plan.paths.is_empty() {
        vec![PathTarget::path("")]
    } else {
        plan.paths.clone()
    };
    for p in &paths {
        let url = format!("{}{}", plan.url, p.path);
        loop {
            let r = ctx
                .client
                .send(
                    http::Method::GET,
                    &url,
                    headers.clone(),
                    bytes::Bytes::new(),
                    plan.timeout,
                )
                .await;
            if matches!(r, Ok(ref f) if f.status == 200) {
                break;
            }
            if start.elapsed() > limit || !pause(&ctx.cancel, Duration::from_millis(20)).await {
                return Err(ScenarioError::Setup(format!(
                    "backend-failover: {url} did not answer 200 within {} ({})",
                    rampdeck_base::fmt::fmt_dur(limit),
                    match r {
                        Ok(f) => format!("last answer {}", f.status),
                        Err(e) => e.to_string(),
                    }
                )));
            }
        }
    }
    Ok(())
}

/// A kill or revive as it happened.
struct Switched {
    sent: Instant,
    at: Instant,
    error: Option<String>,
}

async fn switch(ctx: &Ctx, what: &str, backend: &str, t: &Toggle) -> Switched {
    let sent = Instant::now();
    let r = t.run(&ctx.client, ACTION_TIMEOUT).await;
    let at = Instant::now();
    let error = r.err();
    match &error {
        // The action itself is in the result table's header line and scenario.json; the
        // log line stays short enough for an 80-column pane.
        None => ctx.phase(
            if what == "kill" { "kill" } else { "revive" },
            format!("backend-failover: {what} {backend}"),
        ),
        Some(e) => ctx.log(format!("backend-failover: {what} {backend} failed: {e}")),
    }
    Switched { sent, at, error }
}

async fn under_load(
    ctx: &Ctx,
    cfg: &FailoverConfig,
    plan: TrafficPlan,
    flapping: &str,
    kill: &Toggle,
    revive: &Toggle,
) -> FailoverResult {
    ctx.phase(
        "traffic",
        format!(
            "backend-failover: {} req/s over {} path(s); {} kill(s) of {flapping}, down {}, up {}",
            cfg.rate,
            plan.paths.len().max(1),
            cfg.cycles,
            rampdeck_base::fmt::fmt_dur(cfg.down),
            rampdeck_base::fmt::fmt_dur(cfg.up)
        ),
    );
    let backends = plan.backends.clone();
    let paths = plan.paths.len().max(1);
    let (tx, mut rx) = mpsc::unbounded_channel();
    let sender = tokio::spawn(traffic::send(
        ctx.client.clone(),
        plan,
        ctx.origin,
        ctx.cancel.clone(),
        tx,
    ));
    let start = Instant::now();
    let mut samples: Vec<Sample> = Vec::new();
    let mut switches: Vec<(Switched, Option<Switched>)> = Vec::new();
    let mut tick = tokio::time::interval(cfg.interval);
    let mut counts = vec![0u64; backends.len()];
    let mut failed = 0u64;
    // Step 2k is cycle k's kill, 2k + 1 its revive.
    let mut step = 0u32;
    let mut names = backends.clone();
    loop {
        let cycle = step / 2;
        let due = start + cfg.before + (cfg.down + cfg.up) * cycle + cfg.down * (step % 2);
        let switching = cycle < cfg.cycles && !ctx.cancel.is_cancelled();
        tokio::select! {
            s = rx.recv() => match s {
                Some(s) => {
                    match &s.answer {
                        Answer::Status { backend: Some(b), .. } if s.answer.ok() => counts[*b] += 1,
                        a if !a.ok() => failed += 1,
                        _ => {}
                    }
                    samples.push(s);
                }
                None => break,
            },
            _ = tick.tick() => {
                let _ = ctx.tx.send(ScenarioEvent::Backends {
                    at: ctx.now(),
                    interval_s: cfg.interval.as_secs_f64(),
                    counts: std::mem::replace(&mut counts, vec![0; backends.len()]),
                    failed: std::mem::take(&mut failed),
                    names: std::mem::take(&mut names),
                });
            }
            _ = tokio::time::sleep_until(due.into()), if switching => {
                if step % 2 == 0 {
                    switches.push((switch(ctx, "kill", flapping, kill).await, None));
                } else if let Some(last) = switches.last_mut() {
                    last.1 = Some(switch(ctx, "revive", flapping, revive).await);
                }
                step += 1;
            }
        }
    }
    let _ = sender.await;
    // A cancelled run may have left the backend dead: bring it back whatever happened.
    if let Some((_, None)) = switches.last() {
        let r = switch(ctx, "revive", flapping, revive).await;
        if let Some(last) = switches.last_mut() {
            last.1 = Some(r);
        }
    }
    let windows: Vec<Window> = switches
        .iter()
        .enumerate()
        .map(|(i, (k, r))| Window {
            cycle: i as u32 + 1,
            kill_sent: ctx.since(k.sent).as_secs_f64(),
            kill: ctx.since(k.at).as_secs_f64(),
            revive: r.as_ref().map(|r| ctx.since(r.at).as_secs_f64()),
            kill_error: k.error.clone(),
            revive_error: r.as_ref().and_then(|r| r.error.clone()),
        })
        .collect();
    let flapping_index = backends.iter().position(|b| b == flapping);
    let mut r = analyse(cfg, &backends, flapping_index, &samples, &windows);
    r.flapping = flapping.to_owned();
    r.kill = kill.describe();
    r.revive = revive.describe();
    r.routes = cfg.routes;
    r.paths = paths;
    r
}

/// One kill and its revive, in seconds since the scenario started.
#[derive(Debug, Clone)]
pub struct Window {
    pub cycle: u32,
    /// When the kill action was started: the backend may be dead from then on, so failures
    /// from here are the kill's.
    pub kill_sent: f64,
    /// When it returned: the backend is surely dead; the ejection time counts from here.
    pub kill: f64,
    pub revive: Option<f64>,
    pub kill_error: Option<String>,
    pub revive_error: Option<String>,
}

/// The whole result from the samples and the kill windows (pure, so tests can feed it).
pub fn analyse(
    cfg: &FailoverConfig,
    backends: &[String],
    flapping: Option<usize>,
    samples: &[Sample],
    windows: &[Window],
) -> FailoverResult {
    let interval = cfg.interval.as_secs_f64().max(1e-3);
    let resolution = 1.0 / cfg.rate;
    let settle = (2.0 * interval).max(20.0 * resolution);
    let mut sorted: Vec<&Sample> = samples.iter().collect();
    sorted.sort_by_key(|s| s.sent);
    // An answer in the dead backend's name counts from when the kill had surely taken
    // effect (an answer it gave just before is not one "while dead"); a failure counts from
    // when the kill started.
    let went_to_dead = |s: &Sample, w: &Window| match &s.answer {
        Answer::Status { backend, .. } if s.answer.ok() => {
            backend.is_some() && *backend == flapping && s.sent.as_secs_f64() >= w.kill
        }
        _ => true,
    };
    // A request is the kill's when it was still in flight as the kill started (its
    // answer came after) and was sent before the revive returned.
    let in_flight = |s: &Sample, w: &Window| {
        let t = s.sent.as_secs_f64();
        t + s.latency.as_secs_f64() >= w.kill_sent && w.revive.is_none_or(|r| t < r)
    };
    let in_window = |s: &Sample| windows.iter().any(|w| in_flight(s, w));
    let mut per_backend = vec![0u64; backends.len()];
    let (mut ok, mut failed, mut unrecognised, mut outside) = (0u64, 0u64, 0u64, 0u64);
    let mut down_h = new_histogram();
    let mut up_h = new_histogram();
    let mut timeline: Vec<Bin> = Vec::new();
    for s in &sorted {
        let t = s.sent.as_secs_f64();
        let bin = (t / interval).floor() as usize;
        let first = timeline
            .first()
            .map_or(bin, |b| (b.t_s / interval).round() as usize);
        while timeline.len() <= bin.saturating_sub(first) {
            let k = first + timeline.len();
            timeline.push(Bin {
                t_s: k as f64 * interval,
                counts: vec![0; backends.len()],
                failed: 0,
            });
        }
        let b = &mut timeline[bin.saturating_sub(first)];
        let down = in_window(s);
        if s.answer.ok() {
            ok += 1;
            let us = s.latency.as_micros().max(1) as u64;
            let _ = if down {
                down_h.record(us)
            } else {
                up_h.record(us)
            };
            match &s.answer {
                Answer::Status {
                    backend: Some(i), ..
                } => {
                    per_backend[*i] += 1;
                    b.counts[*i] += 1;
                }
                _ => unrecognised += 1,
            }
        } else {
            failed += 1;
            b.failed += 1;
            if !down {
                outside += 1;
            }
        }
    }
    let cycles: Vec<Cycle> = windows
        .iter()
        .enumerate()
        .map(|(i, w)| {
            let prev_revive = i
                .checked_sub(1)
                .and_then(|p| windows[p].revive)
                .unwrap_or(f64::NEG_INFINITY);
            let inside: Vec<&&Sample> = sorted
                .iter()
                .filter(|s| in_flight(s, w) && s.sent.as_secs_f64() >= prev_revive)
                .collect();
            let dead: Vec<f64> = inside
                .iter()
                .filter(|s| went_to_dead(s, w))
                .map(|s| s.sent.as_secs_f64())
                .collect();
            let last_dead = dead.last().copied();
            let ejected = match (last_dead, w.revive) {
                (None, _) => true,
                (Some(l), Some(r)) => r - l >= settle,
                (Some(_), None) => false,
            };
            let ejection_ms = if w.kill_error.is_some() {
                None
            } else {
                Some(last_dead.map_or(0.0, |l| ((l - w.kill) * 1000.0).max(0.0)))
            }
            .filter(|_| ejected);
            let next_kill = windows.get(i + 1).map_or(f64::INFINITY, |n| n.kill);
            let recovery_ms = w.revive.and_then(|r| {
                sorted
                    .iter()
                    .find(|s| {
                        let t = s.sent.as_secs_f64();
                        t >= r
                            && t < next_kill
                            && s.answer.ok()
                            && matches!(s.answer, Answer::Status { backend, .. } if backend.is_some() && backend == flapping)
                    })
                    .map(|s| (s.sent.as_secs_f64() - r) * 1000.0)
            });
            Cycle {
                cycle: w.cycle,
                killed_at_s: w.kill,
                revived_at_s: w.revive,
                kill_error: w.kill_error.clone(),
                revive_error: w.revive_error.clone(),
                sent_to_dead: dead.len() as u64,
                sent: inside.len() as u64,
                ejection_ms,
                ejected,
                recovery_ms,
            }
        })
        .collect();
    FailoverResult {
        rate: cfg.rate,
        resolution_ms: resolution * 1000.0,
        interval_ms: interval * 1000.0,
        settle_ms: settle * 1000.0,
        routes: 0,
        paths: 0,
        backends: backends.to_vec(),
        flapping: String::new(),
        kill: String::new(),
        revive: String::new(),
        requests: sorted.len() as u64,
        ok,
        failed,
        per_backend,
        unrecognised,
        sent_to_dead: cycles.iter().map(|c| c.sent_to_dead).sum(),
        failed_outside: outside,
        cycles,
        latency_down_ms: Percentiles::of(&down_h),
        latency_up_ms: Percentiles::of(&up_h),
        timeline,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenarios::config::ScenarioConfig;

    fn sample(t_ms: u64, answer: Answer) -> Sample {
        Sample {
            sent: Duration::from_millis(t_ms),
            latency: Duration::from_millis(2),
            answer,
        }
    }

    fn from(b: usize) -> Answer {
        Answer::Status {
            code: 200,
            backend: Some(b),
        }
    }

    fn dead() -> Answer {
        Answer::Status {
            code: 503,
            backend: None,
        }
    }

    /// Every 10 ms from 0 to 6 s; killed at 1 s, failing until 2.5 s, revived at 4 s,
    /// back from 4.3 s.
    fn run_of(failing_until_ms: u64) -> FailoverResult {
        let cfg = ScenarioConfig::default().failover;
        let cfg = FailoverConfig { rate: 100.0, ..cfg };
        let mut s = Vec::new();
        for t in (0..6000).step_by(10) {
            let a = if (1000..failing_until_ms).contains(&t) && t % 20 == 0 {
                dead()
            } else if t % 20 == 0 && !(1000..4300).contains(&t) {
                from(1)
            } else {
                from(0)
            };
            s.push(sample(t, a));
        }
        let w = Window {
            cycle: 1,
            kill_sent: 1.0,
            kill: 1.0,
            revive: Some(4.0),
            kill_error: None,
            revive_error: None,
        };
        let names = vec!["a".to_string(), "b".to_string()];
        analyse(&cfg, &names, Some(1), &s, &[w])
    }

    #[test]
    fn ejection_is_the_last_request_to_the_dead_backend_and_recovery_its_first_answer() {
        let r = run_of(2500);
        let c = &r.cycles[0];
        assert!(c.ejected);
        assert_eq!(c.ejection_ms, Some(1480.0));
        assert_eq!(c.sent_to_dead, 75);
        assert!((c.recovery_ms.unwrap() - 300.0).abs() < 1e-6);
        assert_eq!(r.failed_outside, 0);
        assert_eq!(r.requests, 600);
        assert_eq!(r.timeline.len(), 60);
        assert_eq!(r.timeline[20].failed, 5);
    }

    #[test]
    fn a_backend_failing_until_the_revive_was_never_ejected() {
        let r = run_of(4000);
        let c = &r.cycles[0];
        assert!(!c.ejected);
        assert_eq!(c.ejection_ms, None);
        assert_eq!(c.sent_to_dead, 150);
    }
}
