//! route-change: open-loop traffic to one HTTPRoute while it flips between two backends every period; every failed request is listed against the nearest flip.
//!
//! Timeline (client clock): the route is created on the first backend and
//! probed until it serves from it (not timed); traffic then runs for
//! `before`, flips `iterations` times `period` apart, and `after`. A flip's
//! reference time is when its apply returned. Requests are attributed by
//! their scheduled send time: to a phase (before, during = first flip to
//! one period after the last, after), to the flip window they fall in
//! (from one flip's apply returning to the next's), and to the nearest flip.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::mpsc;

use super::objects::flip_route;
use super::traffic::{self, Answer, Sample, TrafficPlan};
use super::{pause, Ctx, ScenarioError, ScenarioEvent};
use crate::spec::kube::KubeOp;
use crate::stats::{new_histogram, Percentiles};

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChangeResult {
    /// The open-loop rate asked for; with `closed_loop`, the rate achieved.
    pub rate: f64,
    /// One client sending as fast as answers came (`max_rate`).
    pub closed_loop: bool,
    /// How short an outage the traffic could miss: the longest gap between
    /// two requests sent during the flips (open loop: 1 / rate).
    pub resolution_ms: f64,
    /// Gaps between consecutive requests during the flips.
    pub send_gap_ms: Percentiles,
    pub period_ms: f64,
    pub iterations: u32,
    pub backends: [String; 2],
    pub requests: u64,
    pub ok: u64,
    pub failed: u64,
    /// Every failed request, in send order.
    pub failures: Vec<FailedRequest>,
    pub flips: Vec<FlipRecord>,
    pub latency_before_ms: Percentiles,
    pub latency_during_ms: Percentiles,
    pub latency_after_ms: Percentiles,
    /// Answers that named neither backend (a misrouted request, or an echo that does not say).
    pub unrecognised: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FailedRequest {
    /// Seconds since the scenario started (scheduled send time).
    pub sent_s: f64,
    /// The nearest flip (by apply returned) and the offset from it, negative when before it.
    pub flip: u32,
    pub offset_ms: f64,
    /// "HTTP 503", "timeout", "connection refused"...
    pub answer: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FlipRecord {
    pub iteration: u32,
    /// The backend the route points at after this flip.
    pub backend: String,
    /// When the apply started and returned, seconds since the scenario started.
    pub started_s: f64,
    pub applied_s: Option<f64>,
    pub apply_ms: Option<f64>,
    pub error: Option<String>,
    /// Requests sent from this flip's apply returning to the next one's.
    pub requests: u64,
    /// Answers in that window by backend name ("failed", "other" for the rest).
    pub answers: BTreeMap<String, u64>,
    /// Fraction of the window's answers from the new backend.
    pub new_share: Option<f64>,
    /// Offset of the first request the new backend answered, and of the last the old one did.
    pub first_new_ms: Option<f64>,
    pub last_old_ms: Option<f64>,
    /// Failed requests this flip caused: sent from its start to the next
    /// flip's, outside an outage that was under way when it started (as
    /// route actions' drops are sorted: `routes::drops`).
    pub drops: u64,
    /// Failures in the second before it started, and the rest of an outage
    /// under way then: "already failing before the change".
    pub before: u64,
}

/// Time between probes while waiting for the new route to serve.
const READY_POLL: Duration = Duration::from_millis(10);

pub async fn run(ctx: &Ctx) -> Result<ChangeResult, ScenarioError> {
    let cfg = ctx.cfg.change.clone();
    let base = ctx.gateway_url()?;
    let route = |b: &str| {
        flip_route(
            &ctx.cfg.cluster,
            &ctx.namespace,
            &ctx.gateway_namespace,
            &cfg.hostname,
            b,
        )
    };
    ctx.phase(
        "create",
        format!(
            "route-change: creating {} -> {}",
            cfg.hostname, cfg.backends[0]
        ),
    );
    ctx.kube()?
        .run(KubeOp::Apply, &route(&cfg.backends[0]))
        .await?;
    let plan = TrafficPlan {
        url: format!("{base}/"),
        paths: Vec::new(),
        host: cfg.hostname.clone(),
        rate: cfg.rate,
        closed: cfg.max_rate,
        duration: cfg.before + cfg.period * cfg.iterations + cfg.after,
        timeout: cfg.timeout,
        backends: cfg.backends.to_vec(),
        backend_header: cfg.backend_header.clone(),
    };
    let result = match wait_serving(ctx, &plan).await {
        Ok(()) => Ok(flip_under_load(ctx, &cfg, plan, &route).await),
        Err(e) => Err(e),
    };
    let name = route(&cfg.backends[0]).name;
    if let Err(e) = ctx.kube()?.delete_route(&ctx.namespace, &name).await {
        ctx.log(format!("route-change: cannot delete {name}: {e}"));
    }
    result
}

/// Probes until the route answers from its first backend, so traffic starts on a working route.
async fn wait_serving(ctx: &Ctx, plan: &TrafficPlan) -> Result<(), ScenarioError> {
    let start = Instant::now();
    let mut headers = http::HeaderMap::new();
    if let Ok(v) = http::HeaderValue::from_str(&plan.host) {
        headers.insert(http::header::HOST, v);
    }
    loop {
        let r = ctx
            .client
            .send(
                http::Method::GET,
                &plan.url,
                headers.clone(),
                bytes::Bytes::new(),
                plan.timeout,
            )
            .await;
        if let Ok(f) = r {
            let backend =
                traffic::which_backend(&f, &plan.backends, plan.backend_header.as_deref());
            if f.status == 200 && backend == Some(0) {
                return Ok(());
            }
        }
        if start.elapsed() > ctx.cfg.probe.timeout || !pause(&ctx.cancel, READY_POLL).await {
            return Err(ScenarioError::Setup(format!(
                "route-change: {} (Host {}) did not answer 200 from {} within {}",
                plan.url,
                plan.host,
                plan.backends[0],
                rampdeck_base::fmt::fmt_dur(ctx.cfg.probe.timeout)
            )));
        }
    }
}

async fn flip_under_load(
    ctx: &Ctx,
    cfg: &super::config::ChangeConfig,
    plan: TrafficPlan,
    route: &(dyn Fn(&str) -> crate::kube::Target + Sync),
) -> ChangeResult {
    ctx.phase(
        "traffic",
        format!(
            "route-change: traffic at {} req/s; {} flips every {} after {}",
            cfg.rate,
            cfg.iterations,
            rampdeck_base::fmt::fmt_dur(cfg.period),
            rampdeck_base::fmt::fmt_dur(cfg.before)
        ),
    );
    let (tx, mut samples_rx) = mpsc::unbounded_channel();
    let sender = tokio::spawn(traffic::send(
        ctx.client.clone(),
        plan,
        ctx.origin,
        ctx.cancel.clone(),
        tx,
    ));
    let traffic_start = Instant::now();
    let mut samples: Vec<Sample> = Vec::new();
    let mut flips: Vec<FlipRecord> = Vec::new();
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    let (mut ok, mut failed) = (0u64, 0u64);
    let mut next_flip = 0u32;
    loop {
        let due = traffic_start + cfg.before + cfg.period * next_flip;
        let flipping = next_flip < cfg.iterations && !ctx.cancel.is_cancelled();
        tokio::select! {
            s = samples_rx.recv() => match s {
                Some(s) => {
                    if s.answer.ok() { ok += 1 } else { failed += 1 }
                    samples.push(s);
                }
                None => break,
            },
            _ = tick.tick() => {
                let _ = ctx.tx.send(ScenarioEvent::Traffic { at: ctx.now(), ok, failed });
                (ok, failed) = (0, 0);
            }
            _ = tokio::time::sleep_until(due.into()), if flipping => {
                next_flip += 1;
                let backend = &cfg.backends[(next_flip % 2) as usize];
                flips.push(flip(ctx, next_flip, backend, route).await);
            }
        }
    }
    let _ = sender.await;
    analyse(cfg, samples, flips)
}

async fn flip(
    ctx: &Ctx,
    iteration: u32,
    backend: &str,
    route: &(dyn Fn(&str) -> crate::kube::Target + Sync),
) -> FlipRecord {
    let started = Instant::now();
    let r = match ctx.kube() {
        Ok(k) => k.run(KubeOp::Apply, &route(backend)).await,
        Err(e) => Err(crate::kube::KubeError::Kubeconfig(e.to_string())),
    };
    let done = Instant::now();
    let _ = ctx.tx.send(ScenarioEvent::Flip {
        at: ctx.since(done),
        iteration,
        backend: backend.to_owned(),
    });
    let mut rec = FlipRecord {
        iteration,
        backend: backend.to_owned(),
        started_s: ctx.since(started).as_secs_f64(),
        applied_s: None,
        apply_ms: None,
        error: None,
        requests: 0,
        answers: BTreeMap::new(),
        new_share: None,
        first_new_ms: None,
        last_old_ms: None,
        drops: 0,
        before: 0,
    };
    match r {
        Ok(_) => {
            rec.applied_s = Some(ctx.since(done).as_secs_f64());
            rec.apply_ms = Some((done - started).as_secs_f64() * 1000.0);
        }
        Err(e) => {
            ctx.log(format!("route-change: flip {iteration} failed: {e}"));
            rec.error = Some(e.to_string());
        }
    }
    rec
}

/// Sorts each flip's failures into its drops and an outage already under
/// way, with the rules route actions use. The scenario's traffic goes to the
/// flipped route only, so no failure is unrelated.
fn split_drops(cfg: &super::config::ChangeConfig, samples: &[Sample], flips: &mut [FlipRecord]) {
    let failed: Vec<crate::stats::FailureAt> = samples
        .iter()
        .filter(|s| !s.answer.ok())
        .map(|s| crate::stats::FailureAt {
            sent: s.sent,
            outcome: match &s.answer {
                Answer::Status { code, .. } => crate::stats::Outcome::Status(*code),
                Answer::Error(_) => crate::stats::Outcome::Error(crate::stats::ErrorKind::Connect),
            },
            request: 0,
            // The scenario's latency is from the scheduled send.
            ended: s.sent.saturating_add(s.latency),
        })
        .collect();
    let secs = |s: f64| Duration::try_from_secs_f64(s).unwrap_or_default();
    let starts: Vec<Duration> = flips.iter().map(|f| secs(f.started_s)).collect();
    let end = samples.last().map_or(Duration::ZERO, |s| s.sent);
    // Ten of the traffic's send gaps: a longer quiet spell ends an outage.
    let gap = Duration::from_secs_f64((10.0 / cfg.rate.max(1e-3)).clamp(0.02, 1.0));
    let names = ["route".to_owned()];
    for (i, f) in flips.iter_mut().enumerate() {
        let start = starts[i];
        let lead = start.saturating_sub(i.checked_sub(1).map_or(Duration::ZERO, |p| starts[p]));
        let next = starts
            .get(i + 1)
            .copied()
            .unwrap_or(end + Duration::from_millis(1));
        // The window ends just before the next flip starts.
        let after = next
            .saturating_sub(start)
            .saturating_sub(Duration::from_nanos(1));
        let d = crate::routes::drops::collect(
            &failed,
            &crate::routes::drops::Window {
                fired: start,
                applied: start,
                before: lead.min(crate::spec::routes::DROPS_BEFORE),
                after,
                affected: None,
                outage_gap: gap,
                complete: true,
                names: &names,
                later: &[],
            },
        );
        f.drops = d.drops;
        f.before = d.before;
    }
}

/// Attributes every request to its phase, flip window and nearest flip.
pub fn analyse(
    cfg: &super::config::ChangeConfig,
    mut samples: Vec<Sample>,
    mut flips: Vec<FlipRecord>,
) -> ChangeResult {
    samples.sort_by_key(|s| s.sent);
    let refs: Vec<(u32, f64)> = flips
        .iter()
        .map(|f| (f.iteration, f.applied_s.unwrap_or(f.started_s)))
        .collect();
    let first_flip = flips.first().map(|f| f.started_s);
    let during_end = flips.last().map(|f| f.started_s + cfg.period.as_secs_f64());
    let (mut before, mut during, mut after) = (new_histogram(), new_histogram(), new_histogram());
    let mut failures = Vec::new();
    let mut unrecognised = 0;
    let mut ok = 0;
    for s in &samples {
        let t = s.sent.as_secs_f64();
        let us = (s.latency.as_micros() as u64).max(1);
        let h = match (first_flip, during_end) {
            (Some(f), _) if t < f => &mut before,
            (Some(_), Some(e)) if t < e => &mut during,
            (None, _) => &mut before,
            _ => &mut after,
        };
        let _ = h.record(us);
        if s.answer.ok() {
            ok += 1;
        }
        if matches!(s.answer, Answer::Status { backend: None, .. }) && s.answer.ok() {
            unrecognised += 1;
        }
        // The window this request falls in: the last flip applied before it was sent.
        let window = refs.iter().rposition(|&(_, at)| at <= t);
        if let Some(w) = window {
            let f = &mut flips[w];
            f.requests += 1;
            let offset = (t - refs[w].1) * 1000.0;
            let new = (f.iteration % 2) as usize;
            let key = match &s.answer {
                Answer::Status {
                    backend: Some(b),
                    code,
                } if (200..300).contains(code) => {
                    if *b == new {
                        f.first_new_ms.get_or_insert(offset);
                    } else {
                        f.last_old_ms = Some(offset);
                    }
                    cfg.backends[*b].clone()
                }
                a if a.ok() => "other".to_owned(),
                _ => "failed".to_owned(),
            };
            *f.answers.entry(key).or_default() += 1;
        }
        if !s.answer.ok() {
            let (flip, offset_ms) = refs
                .iter()
                .map(|&(i, at)| (i, (t - at) * 1000.0))
                .min_by(|a, b| a.1.abs().total_cmp(&b.1.abs()))
                .unwrap_or((0, 0.0));
            failures.push(FailedRequest {
                sent_s: t,
                flip,
                offset_ms,
                answer: match &s.answer {
                    Answer::Status { code, .. } => format!("HTTP {code}"),
                    Answer::Error(e) => e.clone(),
                },
            });
        }
    }
    split_drops(cfg, &samples, &mut flips);
    for f in &mut flips {
        let answered: u64 = f
            .answers
            .iter()
            .filter(|(k, _)| *k != "failed")
            .map(|(_, v)| v)
            .sum();
        if answered > 0 {
            let new = f.answers.get(&f.backend).copied().unwrap_or(0);
            f.new_share = Some(new as f64 / answered as f64);
        }
    }
    // How far apart requests went while the route was flipping.
    let mut gaps = new_histogram();
    let mut span = (f64::MAX, 0.0f64);
    let in_flips = |t: f64| first_flip.is_some_and(|f| t >= f) && during_end.is_some_and(|e| t < e);
    let flipping: Vec<f64> = samples
        .iter()
        .map(|s| s.sent.as_secs_f64())
        .filter(|&t| in_flips(t))
        .collect();
    for w in flipping.windows(2) {
        let _ = gaps.record((((w[1] - w[0]) * 1e6) as u64).max(1));
        span = (span.0.min(w[0]), span.1.max(w[1]));
    }
    let send_gap_ms = Percentiles::of(&gaps);
    let achieved = if span.1 > span.0 {
        (flipping.len().saturating_sub(1)) as f64 / (span.1 - span.0)
    } else {
        0.0
    };
    ChangeResult {
        rate: if cfg.max_rate { achieved } else { cfg.rate },
        closed_loop: cfg.max_rate,
        resolution_ms: if send_gap_ms.count > 0 {
            send_gap_ms.max
        } else {
            1000.0 / cfg.rate.max(1e-9)
        },
        send_gap_ms,
        period_ms: cfg.period.as_secs_f64() * 1000.0,
        iterations: cfg.iterations,
        backends: cfg.backends.clone(),
        requests: samples.len() as u64,
        ok,
        failed: failures.len() as u64,
        failures,
        flips,
        latency_before_ms: Percentiles::of(&before),
        latency_during_ms: Percentiles::of(&during),
        latency_after_ms: Percentiles::of(&after),
        unrecognised,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenarios::config::ScenarioConfig;

    fn sample(ms: u64, answer: Answer) -> Sample {
        Sample {
            sent: Duration::from_millis(ms),
            latency: Duration::from_millis(2),
            answer,
        }
    }

    fn flip(iteration: u32, at_s: f64, backend: &str) -> FlipRecord {
        FlipRecord {
            iteration,
            backend: backend.into(),
            started_s: at_s - 0.005,
            applied_s: Some(at_s),
            apply_ms: Some(5.0),
            error: None,
            requests: 0,
            answers: BTreeMap::new(),
            new_share: None,
            first_new_ms: None,
            last_old_ms: None,
            drops: 0,
            before: 0,
        }
    }

    #[test]
    fn failures_are_placed_against_the_nearest_flip_and_shares_per_window() {
        let cfg = ScenarioConfig::default().change;
        let v1 = |ms| {
            sample(
                ms,
                Answer::Status {
                    code: 200,
                    backend: Some(0),
                },
            )
        };
        let v2 = |ms| {
            sample(
                ms,
                Answer::Status {
                    code: 200,
                    backend: Some(1),
                },
            )
        };
        let samples = vec![
            v1(500),
            v1(1010), // after flip 1 (1.000 s), still the old backend
            v2(1050),
            sample(
                1080,
                Answer::Status {
                    code: 503,
                    backend: None,
                },
            ),
            v2(1150),
            v1(1250), // after flip 2 (1.200 s)
            sample(1190, Answer::Error("timeout".into())),
        ];
        let flips = vec![flip(1, 1.0, "echo-v2"), flip(2, 1.2, "echo-v1")];
        let r = analyse(&cfg, samples, flips);
        assert_eq!((r.requests, r.ok, r.failed), (7, 5, 2));
        assert_eq!(r.failures[0].flip, 1);
        assert!((r.failures[0].offset_ms - 80.0).abs() < 1e-6);
        assert_eq!(r.failures[1].flip, 2);
        assert!((r.failures[1].offset_ms + 10.0).abs() < 1e-6);
        // Both were sent after flip 1 started (0.995 s) and before flip 2
        // did (1.195 s): flip 1's drops, and "already failing" for flip 2.
        assert_eq!((r.flips[0].drops, r.flips[0].before), (2, 0));
        assert_eq!((r.flips[1].drops, r.flips[1].before), (0, 2));
        assert_eq!(r.failures[1].answer, "timeout");
        let f1 = &r.flips[0];
        assert_eq!(f1.requests, 5);
        assert_eq!(f1.answers.get("echo-v2"), Some(&2));
        assert_eq!(f1.answers.get("echo-v1"), Some(&1));
        assert_eq!(f1.answers.get("failed"), Some(&2));
        assert!((f1.new_share.unwrap() - 2.0 / 3.0).abs() < 1e-9);
        assert!((f1.first_new_ms.unwrap() - 50.0).abs() < 1e-6);
        assert!((f1.last_old_ms.unwrap() - 10.0).abs() < 1e-6);
        assert_eq!(r.flips[1].new_share, Some(1.0));
        assert_eq!(r.latency_before_ms.count, 1);
    }
}
