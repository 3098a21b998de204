//! route-scale (gateway-api-bench's route-load): N routes applied, then churned for a duration
//! (routes patched at a rate, backends rolled) with traffic held to them throughout, while the
//! sources watch both planes. Reports write and propagation latency over the run, each
//! component's memory over time with a fitted slope (MiB per hour, 95% interval) and a leak
//! verdict, and a weighted score (80% data plane, 20% control plane) that compare can gate.
//!
//! A patch adds a hostname alias (`g<k>.<i>-route.example.com`), so it bumps the route's
//! generation without changing what the traffic's requests match; its propagation is from the
//! patch answered to the watch seeing the route Accepted at that generation.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::mpsc;

use super::config::ScaleConfig;
use super::fit::{self, Slope};
use super::objects::{hostname, numbered_route};
use super::traffic::{self, PathTarget, Sample, TrafficPlan};
use super::{pause, Ctx, ScenarioError, ScenarioEvent};
use crate::spec::kube::KubeOp;
use crate::stats::{new_histogram, Percentiles};

/// At most this many routes get traffic (each request goes to the next in turn).
const TRAFFIC_ROUTES: usize = 100;
/// Longest wait for every route to be Accepted after the initial apply.
const READY_TIMEOUT: Duration = Duration::from_secs(600);
const MIB: f64 = 1024.0 * 1024.0;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScaleResult {
    pub routes: usize,
    pub applied: usize,
    pub apply_errors: u64,
    /// First apply sent -> last answered.
    pub apply_s: f64,
    /// First apply sent -> every route Accepted (None: not within the wait).
    pub ready_s: Option<f64>,
    /// Seconds since the scenario started: the churn's start and end.
    pub churn_from_s: f64,
    pub churn_until_s: f64,
    /// The memory slope is fitted from here (the churn's second half) to its end: in the
    /// first half bounded caches fill (watch histories, pools), which is growth but no leak.
    pub fit_from_s: f64,
    pub patches: u64,
    pub patch_errors: u64,
    pub rolls: u64,
    pub roll_errors: u64,
    /// Every write's answer time (initial applies and patches).
    pub write_ms: Percentiles,
    /// Patch answered -> the route Accepted at the patch's generation.
    pub propagation_ms: Percentiles,
    /// Patches never seen Accepted by the end.
    pub unpropagated: u64,
    pub traffic_routes: usize,
    pub requests: u64,
    pub ok: u64,
    pub failed: u64,
    pub success_rate: f64,
    pub latency_ms: Percentiles,
    /// Per source over the churn: memory trend and CPU (filled in from the readings).
    pub components: Vec<Trend>,
    /// The readings over the whole run, at most `SERIES_POINTS` per component.
    pub series: Vec<Reading>,
    pub score: Score,
    /// The control plane's verdict: "leak", "no leak" or "inconclusive".
    pub leak: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Trend {
    pub name: String,
    /// "control plane", "data plane", or "" for another source.
    pub role: String,
    pub samples: usize,
    pub memory_start_mib: Option<f64>,
    pub memory_end_mib: Option<f64>,
    /// Fitted over the churn's second half, MiB per hour, with its 95% interval.
    pub memory_slope_mib_per_hour: Option<f64>,
    pub memory_slope_lo: Option<f64>,
    pub memory_slope_hi: Option<f64>,
    pub leak: String,
    pub cpu_avg_cores: Option<f64>,
    pub cpu_max_cores: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Reading {
    pub t_s: f64,
    pub component: String,
    pub cpu_cores: Option<f64>,
    pub memory_mib: Option<f64>,
}

/// 0-100 each; `weighted` = 0.8 × data plane + 0.2 × control plane.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Score {
    pub data_plane: f64,
    pub control_plane: f64,
    pub weighted: f64,
}

const SERIES_POINTS: usize = 240;

struct Write {
    name: String,
    sent: Instant,
    done: Instant,
    result: Result<Option<i64>, String>,
}

pub async fn run(ctx: &Ctx) -> Result<ScaleResult, ScenarioError> {
    let cfg = &ctx.cfg.scale;
    let base = ctx.gateway_url()?;
    let kube = ctx.kube()?.clone();
    let c = ctx.cfg.cluster.clone();
    let mut watch = kube.watch_routes(&ctx.namespace, &ctx.selector());
    // Accepted at a generation, per route: the newest seen.
    let mut accepted: HashMap<String, (i64, Instant)> = HashMap::new();
    let mut writes_h = new_histogram();
    ctx.phase(
        "apply",
        format!(
            "route-scale: applying {} routes with {} writers",
            cfg.routes, cfg.writers
        ),
    );
    let first = Instant::now();
    let (wtx, mut wrx) = mpsc::unbounded_channel::<Write>();
    let next = Arc::new(AtomicUsize::new(1));
    for _ in 0..cfg.writers.max(1) {
        let (kube, c, next, wtx, cancel) = (
            kube.clone(),
            c.clone(),
            next.clone(),
            wtx.clone(),
            ctx.cancel.clone(),
        );
        let (ns, gw_ns, n) = (
            ctx.namespace.clone(),
            ctx.gateway_namespace.clone(),
            cfg.routes,
        );
        tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i > n || cancel.is_cancelled() {
                    return;
                }
                let t = numbered_route(&c, &ns, &gw_ns, i);
                let sent = Instant::now();
                let r = kube.run(KubeOp::Apply, &t).await;
                let _ = wtx.send(Write {
                    name: t.name,
                    sent,
                    done: Instant::now(),
                    result: r.map(|a| a.generation).map_err(|e| e.to_string()),
                });
            }
        });
    }
    drop(wtx);
    let (mut applied, mut apply_errors) = (0usize, 0u64);
    let mut last_answer = first;
    let mut generation: HashMap<String, i64> = HashMap::new();
    while let Some(w) = wrx.recv().await {
        record(&mut writes_h, w.done - w.sent);
        last_answer = last_answer.max(w.done);
        match w.result {
            Ok(g) => {
                applied += 1;
                generation.insert(w.name, g.unwrap_or(1));
            }
            Err(e) => {
                apply_errors += 1;
                if apply_errors <= 3 {
                    ctx.log(format!("route-scale: apply {} failed: {e}", w.name));
                }
            }
        }
        if applied % 100 == 0 {
            let _ = ctx.tx.send(ScenarioEvent::Attached {
                at: ctx.now(),
                applied,
                attached: None,
            });
        }
    }
    let apply_s = (last_answer - first).as_secs_f64();
    // Every applied route Accepted at its generation.
    let ready_s = loop {
        while let Ok((t, (name, s))) = watch.try_recv() {
            if let Some(g) = s.accepted_generation {
                accepted.insert(name, (g, t));
            }
        }
        let done = generation
            .iter()
            .all(|(n, g)| accepted.get(n).is_some_and(|(a, _)| a >= g));
        if done {
            let t = accepted.values().map(|(_, t)| *t).max().unwrap_or(first);
            break Some((t.max(first) - first).as_secs_f64());
        }
        if first.elapsed() > READY_TIMEOUT || !pause(&ctx.cancel, Duration::from_millis(50)).await {
            ctx.log("route-scale: not every route was Accepted; churning anyway");
            break None;
        }
    };
    let mut result = ScaleResult {
        routes: cfg.routes,
        applied,
        apply_errors,
        apply_s,
        ready_s,
        churn_from_s: ctx.now().as_secs_f64(),
        churn_until_s: ctx.now().as_secs_f64(),
        fit_from_s: ctx.now().as_secs_f64(),
        patches: 0,
        patch_errors: 0,
        rolls: 0,
        roll_errors: 0,
        write_ms: Percentiles::default(),
        propagation_ms: Percentiles::default(),
        unpropagated: 0,
        traffic_routes: applied.min(TRAFFIC_ROUTES),
        requests: 0,
        ok: 0,
        failed: 0,
        success_rate: 0.0,
        latency_ms: Percentiles::default(),
        components: Vec::new(),
        series: Vec::new(),
        score: Score::default(),
        leak: "inconclusive".into(),
    };
    if !ctx.cancel.is_cancelled() && applied > 0 {
        churn(
            ctx,
            cfg,
            &base,
            &kube,
            &mut watch,
            &mut result,
            &mut writes_h,
        )
        .await;
    }
    result.write_ms = Percentiles::of(&writes_h);
    ctx.phase("teardown", "route-scale: deleting the routes".to_owned());
    let mut deleted = 0;
    for i in 1..=cfg.routes {
        let name = super::objects::route_name(&c, i);
        if kube.delete_route(&ctx.namespace, &name).await.is_ok() {
            deleted += 1;
        }
    }
    ctx.log(format!("route-scale: deleted {deleted} routes"));
    Ok(result)
}

fn record(h: &mut hdrhistogram::Histogram<u64>, d: Duration) {
    let _ = h.record(d.as_micros().max(1) as u64);
}

/// The churn with traffic: patches at `churn_rate`, a roll every `roll_every`.
async fn churn(
    ctx: &Ctx,
    cfg: &ScaleConfig,
    base: &str,
    kube: &crate::kube::KubeContext,
    watch: &mut mpsc::UnboundedReceiver<(Instant, (String, crate::kube::context::RouteState))>,
    result: &mut ScaleResult,
    writes_h: &mut hdrhistogram::Histogram<u64>,
) {
    ctx.phase(
        "churn",
        format!(
            "route-scale: churning for {} ({} patches/s{}), traffic {} req/s over {} routes",
            rampdeck_base::fmt::fmt_dur(cfg.duration),
            cfg.churn_rate,
            cfg.roll_every.map_or_else(String::new, |d| format!(
                ", backends rolled every {}",
                rampdeck_base::fmt::fmt_dur(d)
            )),
            cfg.rate,
            result.traffic_routes
        ),
    );
    let c = &ctx.cfg.cluster;
    let plan = TrafficPlan {
        url: base.to_owned(),
        paths: (1..=result.traffic_routes)
            .map(|i| PathTarget {
                path: format!("/{i}"),
                host: Some(hostname(i)),
            })
            .collect(),
        host: String::new(),
        rate: cfg.rate,
        closed: false,
        duration: cfg.duration,
        timeout: cfg.timeout,
        backends: vec![c.backend.clone()],
        backend_header: None,
    };
    let (stx, mut srx) = mpsc::unbounded_channel::<Sample>();
    let sender = tokio::spawn(traffic::send(
        ctx.client.clone(),
        plan,
        ctx.origin,
        ctx.cancel.clone(),
        stx,
    ));
    let start = Instant::now();
    let end = start + cfg.duration;
    let (ptx, mut prx) = mpsc::unbounded_channel::<Write>();
    let mut patch_tick = tokio::time::interval(Duration::from_secs_f64(1.0 / cfg.churn_rate));
    patch_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let roll_every = cfg.roll_every.filter(|_| cfg.roll.is_some());
    let mut roll_tick = tokio::time::interval(roll_every.unwrap_or(Duration::from_secs(3600)));
    roll_tick.tick().await;
    let mut progress = tokio::time::interval(Duration::from_millis(100));
    let mut pending: Pending = HashMap::new();
    let mut prop_h = new_histogram();
    let mut lat_h = new_histogram();
    let (mut ok_tick, mut failed_tick) = (0u64, 0u64);
    let mut k = 0usize;
    let (ns, gw_ns) = (ctx.namespace.clone(), ctx.gateway_namespace.clone());
    let mut traffic_done = false;
    loop {
        let churning = Instant::now() < end && !ctx.cancel.is_cancelled();
        if !churning && traffic_done {
            break;
        }
        tokio::select! {
            s = srx.recv(), if !traffic_done => match s {
                Some(s) => {
                    result.requests += 1;
                    if s.answer.ok() {
                        result.ok += 1;
                        ok_tick += 1;
                        record(&mut lat_h, s.latency);
                    } else {
                        result.failed += 1;
                        failed_tick += 1;
                    }
                }
                None => traffic_done = true,
            },
            _ = patch_tick.tick(), if churning => {
                k += 1;
                let i = (k - 1) % result.applied + 1;
                let mut t = numbered_route(c, &ns, &gw_ns, i);
                if let Some(h) = t.body["spec"]["hostnames"].as_array_mut() {
                    h.push(serde_json::Value::String(format!("g{k}.{}", hostname(i))));
                }
                let (kube, ptx) = (kube.clone(), ptx.clone());
                tokio::spawn(async move {
                    let sent = Instant::now();
                    let r = kube.run(KubeOp::Apply, &t).await;
                    let _ = ptx.send(Write {
                        name: t.name,
                        sent,
                        done: Instant::now(),
                        result: r.map(|a| a.generation).map_err(|e| e.to_string()),
                    });
                });
            }
            Some(w) = prx.recv() => patch_answered(ctx, w, result, writes_h, &mut pending),
            Some((t, (name, st))) = watch.recv() => patch_seen(t, &name, &st, &mut pending, &mut prop_h),
            _ = roll_tick.tick(), if churning && roll_every.is_some() => {
                if let Some(roll) = &cfg.roll {
                    result.rolls += 1;
                    if let Err(e) = roll.run(&ctx.client, Duration::from_secs(60)).await {
                        result.roll_errors += 1;
                        if result.roll_errors <= 3 {
                            ctx.log(format!("route-scale: roll failed: {e}"));
                        }
                    }
                }
            }
            _ = progress.tick() => {
                let _ = ctx.tx.send(ScenarioEvent::Traffic {
                    at: ctx.now(),
                    ok: std::mem::take(&mut ok_tick),
                    failed: std::mem::take(&mut failed_tick),
                });
            }
        }
    }
    let _ = sender.await;
    // Patches still answering, and their propagation: a short grace.
    let grace = Instant::now() + Duration::from_secs(5);
    while (!pending.is_empty() || result.patches < k as u64) && Instant::now() < grace {
        tokio::select! {
            Some((t, (name, st))) = watch.recv() => patch_seen(t, &name, &st, &mut pending, &mut prop_h),
            Some(w) = prx.recv() => patch_answered(ctx, w, result, writes_h, &mut pending),
            _ = tokio::time::sleep_until(grace.into()) => break,
        }
    }
    result.unpropagated = pending.len() as u64;
    result.churn_until_s = ctx.since(end.min(Instant::now())).as_secs_f64();
    result.fit_from_s = result.churn_from_s + (result.churn_until_s - result.churn_from_s) / 2.0;
    result.propagation_ms = Percentiles::of(&prop_h);
    result.latency_ms = Percentiles::of(&lat_h);
    result.success_rate = if result.requests > 0 {
        100.0 * result.ok as f64 / result.requests as f64
    } else {
        0.0
    };
}

/// Patches answered, waiting for the watch to see them Accepted: (generation, answered at).
type Pending = HashMap<String, (i64, Instant)>;

/// A patch's answer: its write time, and its generation to wait for.
fn patch_answered(
    ctx: &Ctx,
    w: Write,
    result: &mut ScaleResult,
    writes_h: &mut hdrhistogram::Histogram<u64>,
    pending: &mut Pending,
) {
    record(writes_h, w.done - w.sent);
    result.patches += 1;
    match w.result {
        Ok(Some(g)) => {
            pending.insert(w.name, (g, w.done));
        }
        Ok(None) => {}
        Err(e) => {
            result.patch_errors += 1;
            if result.patch_errors <= 3 {
                ctx.log(format!("route-scale: patch {} failed: {e}", w.name));
            }
        }
    }
}

/// A watch event: a pending patch Accepted at its generation has propagated.
fn patch_seen(
    t: Instant,
    name: &str,
    s: &crate::kube::context::RouteState,
    pending: &mut Pending,
    prop_h: &mut hdrhistogram::Histogram<u64>,
) {
    if let (Some(a), Some(&(g, done))) = (s.accepted_generation, pending.get(name)) {
        if a >= g {
            record(prop_h, t.saturating_duration_since(done));
            pending.remove(name);
        }
    }
}

impl ScaleResult {
    /// Fills in the trends, series, leak verdict and score from the sources' readings
    /// (`(seconds, component, cpu cores, memory bytes)`), once the scenario has ended.
    pub fn fold_readings(
        &mut self,
        readings: &[(f64, String, Option<f64>, Option<f64>)],
        cfg: &ScaleConfig,
    ) {
        let mut names: Vec<String> = Vec::new();
        for (_, n, _, _) in readings {
            if !names.contains(n) {
                names.push(n.clone());
            }
        }
        let control = cfg.control_plane.clone().or_else(|| names.first().cloned());
        let data = cfg.data_plane.clone();
        self.components = names
            .iter()
            .map(|name| {
                let mine: Vec<_> = readings.iter().filter(|r| &r.1 == name).collect();
                let churn: Vec<(f64, f64)> = mine
                    .iter()
                    .filter(|r| r.0 >= self.churn_from_s && r.0 <= self.churn_until_s)
                    .filter_map(|r| r.3.map(|m| (r.0, m / MIB)))
                    .collect();
                let fitted: Vec<(f64, f64)> = churn
                    .iter()
                    .copied()
                    .filter(|p| p.0 >= self.fit_from_s)
                    .collect();
                let slope: Option<Slope> = fit::slope(&fitted);
                let per_h = |v: f64| v * 3600.0;
                let leak = verdict(slope, cfg.max_memory_slope_mib_per_hour);
                let cpus: Vec<f64> = mine
                    .iter()
                    .filter(|r| r.0 >= self.churn_from_s && r.0 <= self.churn_until_s)
                    .filter_map(|r| r.2)
                    .collect();
                Trend {
                    name: name.clone(),
                    role: if Some(name) == control.as_ref() {
                        "control plane".into()
                    } else if Some(name) == data.as_ref() {
                        "data plane".into()
                    } else {
                        String::new()
                    },
                    samples: mine.len(),
                    memory_start_mib: churn.first().map(|p| p.1),
                    memory_end_mib: churn.last().map(|p| p.1),
                    memory_slope_mib_per_hour: slope.map(|s| per_h(s.per_s)),
                    memory_slope_lo: slope.map(|s| per_h(s.lo)),
                    memory_slope_hi: slope.map(|s| per_h(s.hi)),
                    leak,
                    cpu_avg_cores: (!cpus.is_empty())
                        .then(|| cpus.iter().sum::<f64>() / cpus.len() as f64),
                    cpu_max_cores: cpus.iter().copied().reduce(f64::max),
                }
            })
            .collect();
        for name in &names {
            let mine: Vec<_> = readings.iter().filter(|r| &r.1 == name).collect();
            let step = mine.len().div_ceil(SERIES_POINTS).max(1);
            self.series
                .extend(mine.iter().step_by(step).map(|r| Reading {
                    t_s: r.0,
                    component: name.clone(),
                    cpu_cores: r.2,
                    memory_mib: r.3.map(|m| m / MIB),
                }));
        }
        self.leak = self
            .components
            .iter()
            .find(|t| t.role == "control plane")
            .map_or_else(|| "inconclusive".into(), |t| t.leak.clone());
        self.score = self.scored(cfg);
    }

    fn scored(&self, cfg: &ScaleConfig) -> Score {
        let budget = |budget: Duration, actual: f64| {
            if actual <= 0.0 {
                1.0
            } else {
                (budget.as_secs_f64() * 1000.0 / actual).min(1.0)
            }
        };
        let data_plane = if self.requests == 0 {
            0.0
        } else {
            100.0
                * (self.ok as f64 / self.requests as f64)
                * budget(cfg.p99_budget, self.latency_ms.p99)
        };
        let writes = self.patches.max(1) as f64;
        let control_plane = if self.patches == 0 {
            0.0
        } else {
            100.0
                * budget(cfg.propagation_budget, self.propagation_ms.p99)
                * (1.0 - (self.patch_errors + self.unpropagated) as f64 / writes).max(0.0)
                * if self.leak == "leak" { 0.0 } else { 1.0 }
        };
        Score {
            data_plane,
            control_plane,
            weighted: 0.8 * data_plane + 0.2 * control_plane,
        }
    }
}

/// "leak" when the whole 95% interval is above the threshold, "no leak" when it is wholly
/// below, else "inconclusive" (run longer).
fn verdict(slope: Option<Slope>, max_mib_per_hour: f64) -> String {
    match slope {
        None => "inconclusive".into(),
        Some(s) if s.lo * 3600.0 > max_mib_per_hour => "leak".into(),
        Some(s) if s.hi * 3600.0 < max_mib_per_hour => "no leak".into(),
        Some(_) => "inconclusive".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenarios::config::ScenarioConfig;

    fn result() -> ScaleResult {
        ScaleResult {
            routes: 10,
            applied: 10,
            apply_errors: 0,
            apply_s: 1.0,
            ready_s: Some(1.0),
            churn_from_s: 10.0,
            churn_until_s: 70.0,
            fit_from_s: 40.0,
            patches: 100,
            patch_errors: 0,
            rolls: 0,
            roll_errors: 0,
            write_ms: Percentiles::default(),
            propagation_ms: Percentiles {
                p99: 2000.0,
                ..Percentiles::default()
            },
            unpropagated: 0,
            traffic_routes: 10,
            requests: 1000,
            ok: 990,
            failed: 10,
            success_rate: 99.0,
            latency_ms: Percentiles {
                p99: 100.0,
                ..Percentiles::default()
            },
            components: Vec::new(),
            series: Vec::new(),
            score: Score::default(),
            leak: String::new(),
        }
    }

    #[test]
    fn a_steady_climb_is_a_leak_and_costs_the_control_plane_its_score() {
        let cfg = ScenarioConfig::default().scale;
        let mut r = result();
        // 1 MiB a second over the churn (3600 MiB/h), noise-free; memory before it flat.
        let readings: Vec<_> = (0..80)
            .map(|t| {
                let mib = if t < 10 { 50.0 } else { 50.0 + (t - 10) as f64 };
                (t as f64, "cp".to_string(), Some(0.1), Some(mib * MIB))
            })
            .collect();
        r.fold_readings(&readings, &cfg);
        let t = &r.components[0];
        assert_eq!(t.role, "control plane");
        assert!((t.memory_slope_mib_per_hour.unwrap() - 3600.0).abs() < 1e-6);
        assert_eq!(r.leak, "leak");
        assert_eq!(r.score.control_plane, 0.0);
        // 99% ok, p99 twice the 50 ms budget: 49.5.
        assert!((r.score.data_plane - 49.5).abs() < 1e-9);
        assert!((r.score.weighted - 0.8 * 49.5).abs() < 1e-9);
    }

    #[test]
    fn flat_memory_is_no_leak() {
        let cfg = ScenarioConfig::default().scale;
        let mut r = result();
        let readings: Vec<_> = (0..80)
            .map(|t| {
                let mib = 50.0 + if t % 2 == 0 { 0.1 } else { -0.1 };
                (t as f64, "cp".to_string(), Some(0.1), Some(mib * MIB))
            })
            .collect();
        r.fold_readings(&readings, &cfg);
        assert_eq!(r.leak, "no leak");
        // Propagation p99 2 s against a 1 s budget: half marks.
        assert!((r.score.control_plane - 50.0).abs() < 1e-9);
    }
}
