//! attached-routes: N HTTPRoutes onto one Gateway by W writers, timed until the Gateway's attachedRoutes counts them all, then removed and timed back down.
//!
//! Timers (all from the client's clock):
//! - setup: the last route's apply returned -> the first Gateway watch event
//!   with attachedRoutes >= baseline + routes applied;
//! - setup total: the first apply started -> that same event;
//! - teardown: the first delete started -> the first watch event with
//!   attachedRoutes back at the baseline.
//!
//! Status writes are the distinct resourceVersions of the Gateway the watch
//! saw after its first event (the scenario writes only routes, so every
//! Gateway write is the controller's status update).

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::mpsc;

use super::objects::{numbered_route, route_name};
use super::{Ctx, ScenarioError, ScenarioEvent};
use crate::kube::GatewaySeen;
use crate::spec::kube::KubeOp;

/// One size's result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AttachedResult {
    pub routes: usize,
    pub writers: usize,
    pub write_rate: Option<f64>,
    /// attachedRoutes before the scenario (other routes on the Gateway).
    pub baseline_attached: i64,
    pub applied: usize,
    pub apply_errors: u64,
    pub first_apply_error: Option<String>,
    /// First apply started -> last apply returned.
    pub apply_s: f64,
    /// Last apply returned -> attachedRoutes reached baseline + applied (None: never did).
    pub setup_s: Option<f64>,
    /// First apply started -> attachedRoutes reached baseline + applied.
    pub setup_total_s: Option<f64>,
    /// First delete started -> last delete returned.
    pub delete_s: f64,
    pub delete_errors: u64,
    /// First delete started -> attachedRoutes back at the baseline (None: never was).
    pub teardown_s: Option<f64>,
    /// Gateway writes the watch saw during setup and during teardown.
    pub status_writes_setup: u64,
    pub status_writes_teardown: u64,
    pub max_attached: i64,
    /// Every change: seconds since the scenario started, routes present (applied, not yet deleted), attachedRoutes.
    pub timeline: Vec<TimelinePoint>,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct TimelinePoint {
    pub t_s: f64,
    pub routes: usize,
    pub attached: i64,
}

/// How long to wait for the Gateway watch's first event.
const WATCH_START: Duration = Duration::from_secs(15);

pub async fn run(ctx: &Ctx, n: usize) -> Result<AttachedResult, ScenarioError> {
    let cfg = &ctx.cfg.attached;
    let gw = &ctx.cfg.cluster.gateway;
    let mut watch = ctx.kube()?.watch_gateway_writes(&ctx.gateway_namespace, gw);
    // Writes start only once the watch has listed, so none is missed.
    let first = tokio::time::timeout(WATCH_START, watch.recv())
        .await
        .ok()
        .flatten()
        .ok_or_else(|| {
            ScenarioError::Setup(format!(
                "the watch on Gateway {}/{gw} sent nothing within {}s (is watch allowed? see manifests/rbac.yaml)",
                ctx.gateway_namespace,
                WATCH_START.as_secs()
            ))
        })?;
    let mut state = Tracker::new(ctx, first.1);
    let baseline = state.attached;
    ctx.phase(
        "setup",
        format!(
            "attached-routes: applying {n} routes ({} writer{}{}); Gateway has {baseline} attached",
            cfg.writers,
            if cfg.writers == 1 { "" } else { "s" },
            cfg.write_rate
                .map_or_else(String::new, |r| format!(", {r}/s"))
        ),
    );

    // Setup.
    let started = Instant::now();
    let deadline = started + cfg.timeout;
    let (done_tx, mut done) = mpsc::unbounded_channel();
    // Stops the apply writers on cancel or timeout.
    let stop_applying = ctx.cancel.child_token();
    spawn_writers(
        ctx,
        (1..=n).collect(),
        Write::Apply,
        started,
        done_tx,
        &stop_applying,
    );
    let mut created = Vec::with_capacity(n);
    let mut applied = 0usize;
    let mut apply_errors = 0u64;
    let mut first_apply_error = None;
    let mut last_applied = started;
    let mut finished = 0usize;
    let mut setup_reached = None;
    loop {
        let all_done = finished == n;
        if all_done && state.attached >= baseline + applied as i64 {
            // attachedRoutes only grows during setup: its last change is when it got there.
            setup_reached = Some(state.changed_at.max(started));
            break;
        }
        tokio::select! {
            _ = ctx.cancel.cancelled() => break,
            _ = tokio::time::sleep_until(deadline.into()) => {
                ctx.log(format!("attached-routes: attachedRoutes {} did not reach {} within {}s", state.attached, baseline + applied as i64, cfg.timeout.as_secs()));
                break;
            }
            Some((t, seen)) = watch.recv() => state.seen(ctx, t, seen, applied),
            Some((t, i, result)) = done.recv() => {
                finished += 1;
                last_applied = t;
                match result {
                    Ok(()) => {
                        applied += 1;
                        created.push(i);
                    }
                    Err(e) => {
                        apply_errors += 1;
                        if first_apply_error.is_none() {
                            ctx.log(format!("attached-routes: apply failed: {e}"));
                            first_apply_error = Some(e);
                        }
                    }
                }
                state.point(ctx, t, applied);
            }
        }
    }
    // Applies in flight when setup stopped early still land: wait for them,
    // so every route that exists is deleted below.
    stop_applying.cancel();
    while let Some((_, i, result)) = done.recv().await {
        if result.is_ok() {
            applied += 1;
            created.push(i);
        }
    }
    let apply_s = last_applied.duration_since(started).as_secs_f64();
    let status_writes_setup = state.take_writes();
    let setup_s =
        setup_reached.map(|t: Instant| t.saturating_duration_since(last_applied).as_secs_f64());
    let setup_total_s = setup_reached.map(|t| t.duration_since(started).as_secs_f64());
    match setup_s {
        Some(s) => ctx.log(format!(
            "attached-routes: {applied} routes applied in {apply_s:.2}s; attachedRoutes {} {s:.3}s after the last apply",
            state.attached
        )),
        None => ctx.log(format!(
            "attached-routes: setup incomplete: {applied} applied, attachedRoutes {}",
            state.attached
        )),
    }

    // Teardown: always runs (even when cancelled), so nothing is left behind.
    ctx.phase(
        "teardown",
        format!("attached-routes: deleting {applied} routes"),
    );
    let del_started = Instant::now();
    let del_deadline = del_started + cfg.timeout;
    let (done_tx, mut done) = mpsc::unbounded_channel();
    let to_delete = created.len();
    spawn_writers(
        ctx,
        created,
        Write::Delete,
        del_started,
        done_tx,
        &ctx.cancel,
    );
    let mut deleted = 0usize;
    let mut delete_errors = 0u64;
    let mut last_deleted = del_started;
    let mut teardown_reached = None;
    let mut present = applied;
    loop {
        if deleted == to_delete && state.attached <= baseline {
            teardown_reached = Some(state.changed_at.max(del_started));
            break;
        }
        // Deletes finish even when cancelled; only the wait for the count is cut short.
        let waiting = deleted == to_delete;
        tokio::select! {
            _ = ctx.cancel.cancelled(), if waiting => break,
            _ = tokio::time::sleep_until(del_deadline.into()), if waiting => {
                ctx.log(format!("attached-routes: attachedRoutes {} did not return to {baseline} within {}s", state.attached, cfg.timeout.as_secs()));
                break;
            }
            Some((t, seen)) = watch.recv() => state.seen(ctx, t, seen, present),
            Some((t, _, result)) = done.recv() => {
                deleted += 1;
                last_deleted = t;
                present = present.saturating_sub(1);
                if let Err(e) = result {
                    delete_errors += 1;
                    ctx.log(format!("attached-routes: delete failed: {e}"));
                }
                state.point(ctx, t, present);
            }
            else => break,
        }
    }
    let teardown_s = teardown_reached.map(|t| t.duration_since(del_started).as_secs_f64());
    let status_writes_teardown = state.take_writes();
    match teardown_s {
        Some(s) => ctx.log(format!(
            "attached-routes: attachedRoutes back to {baseline} {s:.3}s after the first delete"
        )),
        None => ctx.log(format!(
            "attached-routes: teardown incomplete: attachedRoutes {}",
            state.attached
        )),
    }
    Ok(AttachedResult {
        routes: n,
        writers: cfg.writers,
        write_rate: cfg.write_rate,
        baseline_attached: baseline,
        applied,
        apply_errors,
        first_apply_error,
        apply_s,
        setup_s,
        setup_total_s,
        delete_s: last_deleted.duration_since(del_started).as_secs_f64(),
        delete_errors,
        teardown_s,
        status_writes_setup,
        status_writes_teardown,
        max_attached: state.max_attached,
        timeline: state.timeline,
    })
}

/// What the Gateway watch has shown so far.
struct Tracker {
    attached: i64,
    max_attached: i64,
    versions: HashSet<String>,
    writes: u64,
    /// When attachedRoutes last changed.
    changed_at: Instant,
    timeline: Vec<TimelinePoint>,
    origin: Instant,
}

impl Tracker {
    fn new(ctx: &Ctx, first: GatewaySeen) -> Self {
        Tracker {
            attached: first.attached,
            max_attached: first.attached,
            versions: HashSet::from([first.resource_version]),
            writes: 0,
            changed_at: ctx.origin,
            timeline: Vec::new(),
            origin: ctx.origin,
        }
    }

    fn seen(&mut self, ctx: &Ctx, t: Instant, seen: GatewaySeen, routes: usize) {
        // A relist repeats versions already seen: only new ones are writes.
        if self.versions.insert(seen.resource_version) {
            self.writes += 1;
        }
        if seen.attached != self.attached {
            self.attached = seen.attached;
            self.max_attached = self.max_attached.max(seen.attached);
            self.changed_at = t;
            self.point(ctx, t, routes);
        }
    }

    fn point(&mut self, ctx: &Ctx, t: Instant, routes: usize) {
        let at = t.saturating_duration_since(self.origin);
        self.timeline.push(TimelinePoint {
            t_s: at.as_secs_f64(),
            routes,
            attached: self.attached,
        });
        let _ = ctx.tx.send(ScenarioEvent::Attached {
            at,
            applied: routes,
            attached: Some(self.attached),
        });
    }

    fn take_writes(&mut self) -> u64 {
        std::mem::take(&mut self.writes)
    }
}

#[derive(Debug, Clone, Copy)]
enum Write {
    Apply,
    Delete,
}

/// Starts the writers: each claims the next of `routes` (route numbers)
/// and, with a rate limit, waits for that claim's slot (`start + k / rate`),
/// so W writers share one rate. Each write's (return time, route, result)
/// goes to `done`. Once cancelled, deletes go as fast as the server answers.
fn spawn_writers(
    ctx: &Ctx,
    routes: Vec<usize>,
    op: Write,
    start: Instant,
    done: mpsc::UnboundedSender<(Instant, usize, Result<(), String>)>,
    stop: &tokio_util::sync::CancellationToken,
) {
    let routes = Arc::new(routes);
    let next = Arc::new(AtomicUsize::new(0));
    let rate = ctx.cfg.attached.write_rate;
    for _ in 0..ctx.cfg.attached.writers.max(1) {
        let next = next.clone();
        let routes = routes.clone();
        let done = done.clone();
        let Some(kube) = ctx.kube.clone() else { return };
        let cluster = ctx.cfg.cluster.clone();
        let (ns, gw_ns) = (ctx.namespace.clone(), ctx.gateway_namespace.clone());
        let cancel = stop.clone();
        tokio::spawn(async move {
            loop {
                let k = next.fetch_add(1, Ordering::Relaxed);
                let Some(&i) = routes.get(k) else {
                    return;
                };
                if let Some(r) = rate {
                    let due = start + Duration::from_secs_f64(k as f64 / r);
                    tokio::select! {
                        _ = cancel.cancelled() => {}
                        _ = tokio::time::sleep_until(due.into()) => {}
                    }
                }
                let result = match op {
                    // A cancelled setup stops creating routes (the setup
                    // loop has stopped counting; teardown removes what exists).
                    Write::Apply if cancel.is_cancelled() => return,
                    Write::Apply => kube
                        .run(KubeOp::Apply, &numbered_route(&cluster, &ns, &gw_ns, i))
                        .await
                        .map(|_| ())
                        .map_err(|e| e.to_string()),
                    Write::Delete => kube
                        .delete_route(&ns, &route_name(&cluster, i))
                        .await
                        .map_err(|e| e.to_string()),
                };
                if done.send((Instant::now(), i, result)).is_err() {
                    return;
                }
            }
        });
    }
}
