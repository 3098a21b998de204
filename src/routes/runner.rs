//! Fires route actions (from a key or on schedule), one task per firing, and reports each as an `ActionRecord`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue};
use tokio::sync::{mpsc, Mutex};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::affects::RequestKey;
use super::{ActionRecord, Phase, RouteError};
use crate::kube::{after, KubeContext, KubeError, Seen, Target};
use crate::probes::http::HttpClient;
use crate::spec::kube::{KubeOp, ObjectKind};
use crate::spec::routes::{
    ActionConfig, ActionKind, CommandAction, HttpAction, KubeAction, ObjectSource, RoutesConfig,
};
use crate::template::vars::{render, render_json, Vars};

/// The console's (and the schedule's) way to fire actions.
pub struct RouteHandle {
    fire: mpsc::UnboundedSender<usize>,
    cancel: CancellationToken,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl RouteHandle {
    /// A handle that fires nothing (a plan without route actions).
    pub fn none() -> Self {
        RouteHandle {
            fire: mpsc::unbounded_channel().0,
            cancel: CancellationToken::new(),
            task: None,
        }
    }

    /// Fires action `index` (profile order); busy actions say so in the events.
    pub fn fire(&self, index: usize) {
        let _ = self.fire.send(index);
    }

    /// A sender the console thread can keep.
    pub fn sender(&self) -> mpsc::UnboundedSender<usize> {
        self.fire.clone()
    }

    /// Cancels scheduled and running firings (kube watches end, commands are killed).
    pub async fn stop(&mut self) {
        self.cancel.cancel();
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
    }
}

/// Shared by every firing.
struct Ctx {
    cfg: Arc<RoutesConfig>,
    base: Vars,
    origin: Instant,
    /// Firings are stamped on the run clock (the one `at` and the header use).
    stamp: crate::probes::Stamp,
    tx: mpsc::UnboundedSender<ActionRecord>,
    http: Option<HttpClient>,
    /// Connected on first use and kept; a failed connect is retried next firing.
    kube: Mutex<Option<KubeContext>>,
    /// The profile's requests, to tell which of them a changed route serves.
    requests: Vec<RequestKey>,
}

/// Starts the plan's route actions, with the run-wide variables filled in.
pub fn start_for(
    plan: &crate::spec::plan::Plan,
    origin: Instant,
    clock: Option<RunClockRx>,
    tx: mpsc::UnboundedSender<ActionRecord>,
) -> RouteHandle {
    let base = plan.run_vars();
    let requests = super::affects::request_keys(plan);
    start_with(
        Arc::new(plan.routes.clone()),
        base,
        origin,
        clock,
        tx,
        requests,
    )
}

/// The engine's run clock, which scheduled firings (`at`) follow.
pub type RunClockRx = tokio::sync::watch::Receiver<crate::engine::clock::RunClock>;

/// Starts the runner. `base` holds the run-wide `{{vars}}` (target, demo
/// addresses); `origin` is the run's start, so times line up with the engine's.
/// `at` firings wait for the run clock (`clock`): a pause delays them, so
/// they fire in the stage the profile says; without one, wall time from `origin`.
pub fn start(
    cfg: Arc<RoutesConfig>,
    base: Vars,
    origin: Instant,
    clock: Option<RunClockRx>,
    tx: mpsc::UnboundedSender<ActionRecord>,
) -> RouteHandle {
    start_with(cfg, base, origin, clock, tx, Vec::new())
}

/// `start`, knowing the profile's requests (which a changed HTTPRoute serves).
fn start_with(
    cfg: Arc<RoutesConfig>,
    base: Vars,
    origin: Instant,
    mut clock: Option<RunClockRx>,
    tx: mpsc::UnboundedSender<ActionRecord>,
    requests: Vec<RequestKey>,
) -> RouteHandle {
    let (fire, mut fire_rx) = mpsc::unbounded_channel::<usize>();
    let cancel = CancellationToken::new();
    if cfg.is_empty() {
        return RouteHandle {
            fire,
            cancel,
            task: None,
        };
    }
    let ctx = Arc::new(Ctx {
        http: HttpClient::new().ok(),
        cfg: cfg.clone(),
        base,
        origin,
        stamp: match &clock {
            Some(c) => crate::probes::Stamp::run(origin, crate::engine::clock::reader(c.clone())),
            None => crate::probes::Stamp::wall(origin),
        },
        tx,
        kube: Mutex::new(None),
        requests,
    });
    let stop = cancel.clone();
    let task = tokio::spawn(async move {
        let mut schedule: Vec<(Duration, usize)> = cfg
            .actions
            .iter()
            .enumerate()
            .flat_map(|(i, a)| a.at.iter().map(move |&t| (t, i)))
            .collect();
        schedule.sort();
        let mut next = 0;
        let mut firings = vec![0u32; cfg.actions.len()];
        let mut running: Vec<Option<u32>> = vec![None; cfg.actions.len()];
        let mut tasks: JoinSet<usize> = JoinSet::new();
        loop {
            let due = schedule.get(next).map(|&(t, _)| t);
            let origin = ctx.origin;
            let clock = clock.as_mut();
            let sleep = async move {
                match (due, clock) {
                    (Some(rc), Some(clock)) => {
                        if !crate::engine::clock::wait_until(clock, rc).await {
                            // The run is over: no more scheduled firings.
                            std::future::pending::<()>().await;
                        }
                    }
                    (Some(t), None) => tokio::time::sleep_until((origin + t).into()).await,
                    (None, _) => std::future::pending().await,
                }
            };
            let index = tokio::select! {
                _ = stop.cancelled() => break,
                Some(i) = fire_rx.recv() => i,
                () = sleep => { next += 1; schedule[next - 1].1 }
                Some(Ok(i)) = tasks.join_next(), if !tasks.is_empty() => {
                    running[i] = None;
                    continue;
                }
            };
            let Some(action) = cfg.actions.get(index) else {
                continue;
            };
            firings[index] += 1;
            let firing = firings[index];
            if let Some(busy) = running[index] {
                let mut r = record(action, firing, ctx.stamp.now());
                r.phase = Phase::Failed;
                r.detail = "skipped".into();
                r.error = Some(RouteError::Busy(busy).to_string());
                ctx.send(&r);
                continue;
            }
            running[index] = Some(firing);
            let ctx = ctx.clone();
            let stop = stop.clone();
            tasks.spawn(async move {
                tokio::select! {
                    _ = stop.cancelled() => {}
                    _ = ctx.fire(index, firing) => {}
                }
                index
            });
        }
        tasks.shutdown().await;
    });
    RouteHandle {
        fire,
        cancel,
        task: Some(task),
    }
}

fn record(a: &ActionConfig, firing: u32, at: Duration) -> ActionRecord {
    ActionRecord {
        action: a.name.clone(),
        kind: a.kind.name().into(),
        firing,
        phase: Phase::Fired,
        detail: String::new(),
        fired_at_s: at.as_secs_f64(),
        applied_at_s: None,
        apply_ms: None,
        data_plane_ms: None,
        verify_polls: None,
        verify_misses: Vec::new(),
        control_plane_ms: None,
        attached_routes: None,
        converged_ms: None,
        error: None,
        affects: a.affects.as_deref().map(super::affects::named),
        drops: None,
    }
}

/// A kube action's `namespace`, templated.
fn kube_namespace(k: &KubeAction, vars: &Vars) -> Result<Option<String>, RouteError> {
    k.namespace
        .as_deref()
        .map(|n| render(n, vars))
        .transpose()
        .map_err(RouteError::Template)
}

/// "Secret rampdeck/api-token, Deployment rampdeck/web".
fn describe_objects(objects: &[serde_json::Value], ns: Option<&str>, default_ns: &str) -> String {
    objects
        .iter()
        .map(|o| {
            let ns = ns
                .or_else(|| o["metadata"]["namespace"].as_str())
                .unwrap_or(default_ns);
            format!(
                "{} {ns}/{}",
                o["kind"].as_str().unwrap_or("?"),
                o["metadata"]["name"].as_str().unwrap_or("?")
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// This firing's variables: the run's, the action's (a list gives its
/// values in turn), and `{{n}}`, the firing number.
pub fn firing_vars(base: &Vars, a: &ActionConfig, firing: u32) -> Vars {
    let mut v = base.clone();
    for (k, values) in &a.vars {
        if !values.is_empty() {
            let i = (firing as usize - 1) % values.len();
            v.insert(k.clone(), values[i].clone());
        }
    }
    v.insert("n".into(), firing.to_string());
    v
}

/// Watches started before a kube action, so no status update is missed.
struct Watches {
    route: Option<mpsc::UnboundedReceiver<(Instant, Seen)>>,
    gateway: Option<mpsc::UnboundedReceiver<(Instant, Seen)>>,
    /// attachedRoutes before the action (for deletes).
    baseline: Option<i64>,
}

impl Ctx {
    fn send(&self, r: &ActionRecord) {
        let _ = self.tx.send(r.clone());
    }

    async fn fire(&self, index: usize, firing: u32) {
        let a = &self.cfg.actions[index];
        let mut r = record(a, firing, self.stamp.now());
        let vars = firing_vars(&self.base, a, firing);
        let shown: Vec<String> = a
            .vars
            .keys()
            .filter_map(|k| vars.get(k).map(|v| format!("{k}={v}")))
            .collect();
        let suffix = if shown.is_empty() {
            String::new()
        } else {
            format!(" ({})", shown.join(", "))
        };
        match self.run(a, &vars, &mut r, &suffix).await {
            Ok(()) => {}
            Err(e) => {
                r.phase = Phase::Failed;
                r.error = Some(e.to_string());
                self.send(&r);
            }
        }
    }

    async fn run(
        &self,
        a: &ActionConfig,
        vars: &Vars,
        r: &mut ActionRecord,
        suffix: &str,
    ) -> Result<(), RouteError> {
        let tmpl = |s: &str| render(s, vars).map_err(RouteError::Template);
        let started = Instant::now();
        let mut watches = None;
        let mut kube_target = None;
        let mut converge = None;
        match &a.kind {
            ActionKind::Kube(k) => 'kube: {
                if let Some(objects) = self.kube_objects(k, vars)? {
                    if !super::dynamic::typed(&objects) {
                        let kctx = self.kube_context().await?;
                        let ns = kube_namespace(k, vars)?;
                        r.detail = format!(
                            "{} {}{suffix}",
                            k.op.verb(),
                            describe_objects(&objects, ns.as_deref(), &kctx.namespace)
                        );
                        self.send(r);
                        let refs = tokio::time::timeout(
                            a.timeout,
                            super::dynamic::act(&kctx, k.op, &objects, ns.as_deref()),
                        )
                        .await
                        .map_err(|_| {
                            RouteError::TimedOut(rampdeck_base::fmt::fmt_dur(a.timeout))
                        })??;
                        let waits = super::dynamic::waits(&k.waits, k.op, &refs, &kctx.namespace)
                            .map_err(RouteError::Converge)?;
                        converge = Some((kctx, waits));
                        break 'kube;
                    }
                }
                let target = self.kube_target(k, vars)?;
                let kctx = self.kube_context().await?;
                let ns = target.namespace.clone().unwrap_or(kctx.namespace.clone());
                r.detail = format!(
                    "{} {} {ns}/{}{suffix}",
                    k.op.verb(),
                    target.kind.kind(),
                    target.name
                );
                self.send(r);
                if k.watch {
                    watches = Some(self.start_watches(&kctx, k.op, &target, &ns).await);
                }
                let applied = tokio::time::timeout(a.timeout, kctx.run(k.op, &target))
                    .await
                    .map_err(|_| RouteError::TimedOut(rampdeck_base::fmt::fmt_dur(a.timeout)))??;
                if r.affects.is_none() {
                    r.affects = applied.route.as_ref().and_then(|route| {
                        super::affects::from_route(
                            route,
                            &format!("{ns}/{}", target.name),
                            &self.requests,
                        )
                    });
                }
                kube_target = Some((kctx, k.op, applied));
            }
            ActionKind::Http(h) => {
                let url = tmpl(&h.url)?;
                r.detail = format!("{} {url}{suffix}", h.method);
                self.send(r);
                self.http_action(h, &url, vars, a.timeout).await?;
            }
            ActionKind::Command(c) => {
                let argv = c
                    .argv
                    .iter()
                    .map(|s| tmpl(s))
                    .collect::<Result<Vec<_>, _>>()?;
                r.detail = format!("{}{suffix}", argv.join(" "));
                self.send(r);
                command_action(c, argv, a.timeout).await?;
            }
        }
        let applied_at = Instant::now();
        r.phase = Phase::Applied;
        r.applied_at_s = Some(self.stamp.at(applied_at).as_secs_f64());
        r.apply_ms = Some(ms(applied_at - started));
        self.send(r);

        let verify = async {
            match &a.verify {
                Some(v) => {
                    let mut v = v.clone();
                    v.url = tmpl(&v.url)?;
                    v.host = v.host.as_deref().map(tmpl).transpose()?;
                    if let Some((name, value)) = &v.header {
                        v.header = Some((name.clone(), tmpl(value)?));
                    }
                    v.body_contains = v.body_contains.as_deref().map(tmpl).transpose()?;
                    let client = self.http.as_ref().ok_or_else(|| {
                        RouteError::Http("no HTTP client (TLS setup failed)".into())
                    })?;
                    super::verify::poll(client, &v)
                        .await
                        .map(Some)
                        .map_err(|e| RouteError::Http(format!("verify: {e}")))
                }
                None => Ok(None),
            }
        };
        let control = async {
            match (watches, &kube_target) {
                (Some(w), Some((_, op, applied))) => {
                    wait_control_plane(w, *op, applied.generation, applied_at, a.timeout)
                        .await
                        .map(Some)
                }
                _ => Ok(None),
            }
        };
        let converged = async {
            match &converge {
                Some((kctx, waits)) if !waits.is_empty() => {
                    let quiet = crate::setup::Progress::new(|_| {});
                    crate::setup::wait::all(Some(kctx), waits, a.timeout, &quiet)
                        .await
                        .map(|()| Some(Instant::now()))
                        .map_err(|e| match e {
                            crate::setup::SetupError::WaitTimedOut {
                                what,
                                timeout,
                                last,
                            } => RouteError::Converge(format!(
                                "did not converge: {what} did not happen within {}; last seen: {last}",
                                rampdeck_base::fmt::fmt_dur(timeout)
                            )),
                            other => RouteError::Converge(other.to_string()),
                        })
                }
                _ => Ok(None),
            }
        };
        let (v, c, g) = tokio::join!(verify, control, converged);
        let mut failed = None;
        match g {
            Ok(Some(at)) => r.converged_ms = Some(ms(after(at, applied_at))),
            Ok(None) => {}
            Err(e) => failed = Some(e),
        }
        match v {
            Ok(Some(v)) => {
                r.data_plane_ms = Some(ms(after(v.at, applied_at)));
                r.verify_polls = Some(v.polls);
                r.verify_misses = v.misses;
            }
            Ok(None) => {}
            Err(e) => failed = Some(e),
        }
        match c {
            Ok(Some((cp, attached))) => {
                r.control_plane_ms = cp.map(ms);
                r.attached_routes = attached;
            }
            Ok(None) => {}
            Err(e) => failed = failed.or(Some(e)),
        }
        if let Some(e) = failed {
            return Err(e);
        }
        r.phase = Phase::Propagated;
        self.send(r);
        Ok(())
    }

    async fn kube_context(&self) -> Result<KubeContext, RouteError> {
        let mut guard = self.kube.lock().await;
        if let Some(k) = guard.as_ref() {
            return Ok(k.clone());
        }
        let k = KubeContext::connect(&self.cfg.kube).await?;
        *guard = Some(k.clone());
        Ok(k)
    }

    /// The objects a manifest or inline object holds, templated (None for a
    /// `resource = "kind/name"` action).
    fn kube_objects(
        &self,
        k: &KubeAction,
        vars: &Vars,
    ) -> Result<Option<Vec<serde_json::Value>>, RouteError> {
        match &k.object {
            ObjectSource::File(path) => {
                let text = crate::util::files::read_text(path, crate::util::files::MANIFEST)
                    .map_err(|e| RouteError::Kube(KubeError::Manifest(e.to_string())))?;
                let text = render(&text, vars)
                    .map_err(|e| RouteError::Template(format!("{}: {e}", path.display())))?;
                let docs: Vec<serde_json::Value> =
                    serde_saphyr::from_multiple(&text).map_err(|e| {
                        RouteError::Kube(KubeError::Manifest(format!(
                            "{}: not valid YAML: {e}",
                            path.display()
                        )))
                    })?;
                Ok(Some(docs.into_iter().filter(|d| !d.is_null()).collect()))
            }
            ObjectSource::Inline(v) => Ok(Some(vec![
                render_json(v, vars).map_err(RouteError::Template)?
            ])),
            ObjectSource::Named { .. } => Ok(None),
        }
    }

    fn kube_target(&self, k: &KubeAction, vars: &Vars) -> Result<Target, RouteError> {
        let ns = kube_namespace(k, vars)?;
        let object = match &k.object {
            // The typed way is taken for exactly one HTTPRoute or Gateway
            // (`dynamic::typed`); anything else went the dynamic way.
            ObjectSource::File(path) => Some(
                self.kube_objects(k, vars)?
                    .and_then(|o| o.into_iter().next())
                    .ok_or_else(|| {
                        RouteError::Kube(KubeError::Manifest(format!(
                            "{}: the file has no object",
                            path.display()
                        )))
                    })?,
            ),
            ObjectSource::Inline(v) => Some(render_json(v, vars).map_err(RouteError::Template)?),
            ObjectSource::Named { kind, name } => {
                let name = render(name, vars).map_err(RouteError::Template)?;
                return Ok(Target {
                    kind: *kind,
                    name,
                    namespace: ns,
                    body: match &k.patch {
                        Some(p) => render_json(p, vars).map_err(RouteError::Template)?,
                        None => serde_json::Value::Null,
                    },
                });
            }
        };
        let object = object.unwrap_or(serde_json::Value::Null);
        let mut t = Target::from_object(object, ns.as_deref())
            .map_err(|m| RouteError::Kube(KubeError::Manifest(m)))?;
        if k.op == KubeOp::Patch {
            if let Some(p) = &k.patch {
                t.body = render_json(p, vars).map_err(RouteError::Template)?;
            }
        }
        Ok(t)
    }

    async fn start_watches(&self, kctx: &KubeContext, op: KubeOp, t: &Target, ns: &str) -> Watches {
        let route = (t.kind == ObjectKind::HttpRoute && op != KubeOp::Delete)
            .then(|| kctx.watch_route(ns, &t.name));
        // The parent Gateway, from the object (apply) or the server (delete).
        let parent = parent_ref(&t.body);
        let parent = match (parent, op) {
            (Some(p), _) => Some(p),
            (None, KubeOp::Delete) if t.kind == ObjectKind::HttpRoute => {
                let api: kube::Api<gateway_api::httproutes::HttpRoute> =
                    kube::Api::namespaced(kctx.client(), ns);
                api.get_opt(&t.name)
                    .await
                    .ok()
                    .flatten()
                    .and_then(|r| serde_json::to_value(&r).ok().and_then(|v| parent_ref(&v)))
            }
            _ => None,
        };
        let (gateway, baseline) = match parent {
            Some((pns, name)) => {
                let pns = pns.unwrap_or_else(|| ns.to_owned());
                let baseline = kctx.attached_routes(&pns, &name).await.ok();
                (Some(kctx.watch_gateway(&pns, &name)), baseline)
            }
            None => (None, None),
        };
        Watches {
            route,
            gateway,
            baseline,
        }
    }

    async fn http_action(
        &self,
        h: &HttpAction,
        url: &str,
        vars: &Vars,
        timeout: Duration,
    ) -> Result<(), RouteError> {
        let client = self
            .http
            .as_ref()
            .ok_or_else(|| RouteError::Http("no HTTP client (TLS setup failed)".into()))?;
        let mut headers = HeaderMap::new();
        for (k, v) in &h.headers {
            let v = render(v, vars).map_err(RouteError::Template)?;
            let name = HeaderName::from_bytes(k.as_bytes())
                .map_err(|_| RouteError::Http(format!("invalid header name '{k}'")))?;
            let value = HeaderValue::from_str(&v)
                .map_err(|_| RouteError::Http(format!("header {k}: invalid value '{v}'")))?;
            headers.insert(name, value);
        }
        let body = match &h.body {
            Some(b) => Bytes::from(render(b, vars).map_err(RouteError::Template)?),
            None => Bytes::new(),
        };
        let f = client
            .send(h.method.clone(), url, headers, body, timeout)
            .await
            .map_err(|e| match e {
                crate::probes::http::FetchError::TimedOut(_) => {
                    RouteError::TimedOut(rampdeck_base::fmt::fmt_dur(timeout))
                }
                crate::probes::http::FetchError::Failed(m) => {
                    RouteError::Http(format!("{}: {m}", crate::util::secret::redact(url)))
                }
            })?;
        let ok = match h.expect_status {
            Some(s) => f.status == s,
            None => (200..300).contains(&f.status),
        };
        if !ok {
            let body = String::from_utf8_lossy(&f.body);
            let body = body.trim();
            let cut: String = body.chars().take(300).collect();
            let cut = crate::util::text::sanitized(&cut);
            return Err(RouteError::Http(format!(
                "{} {} answered HTTP {}{}{}",
                h.method,
                crate::util::secret::redact(url),
                f.status,
                if cut.is_empty() { "" } else { ": " },
                cut
            )));
        }
        Ok(())
    }
}

/// (namespace, name) of an object's first parentRef.
fn parent_ref(v: &serde_json::Value) -> Option<(Option<String>, String)> {
    let p = v.get("spec")?.get("parentRefs")?.get(0)?;
    if p.get("kind")
        .and_then(|k| k.as_str())
        .is_some_and(|k| k != "Gateway")
    {
        return None;
    }
    let name = p.get("name")?.as_str()?.to_owned();
    let ns = p
        .get("namespace")
        .and_then(|n| n.as_str())
        .map(str::to_owned);
    Some((ns, name))
}

/// Waits for the control plane to have taken the change in: the route's
/// conditions at its new generation (apply, patch), or the Gateway's
/// attachedRoutes going down (delete). Returns that time and the last
/// attachedRoutes seen.
async fn wait_control_plane(
    mut w: Watches,
    op: KubeOp,
    generation: Option<i64>,
    applied_at: Instant,
    timeout: Duration,
) -> Result<(Option<Duration>, Option<i64>), RouteError> {
    let mut attached = w.baseline;
    let mut last_problem = String::from("no status yet");
    let deadline = tokio::time::Instant::from(applied_at + timeout);
    let mut done_at: Option<Instant> = None;
    loop {
        let route_next = async {
            match w.route.as_mut() {
                Some(rx) if done_at.is_none() => rx.recv().await,
                _ => std::future::pending().await,
            }
        };
        let gw_next = async {
            match w.gateway.as_mut() {
                Some(rx) => rx.recv().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = tokio::time::sleep_until(deadline) => {
                if let Some(t) = done_at {
                    return Ok((Some(after(t, applied_at)), attached));
                }
                return Err(RouteError::TimedOut(format!(
                    "{} waiting for the control plane ({last_problem})",
                    rampdeck_base::fmt::fmt_dur(timeout)
                )));
            }
            Some((t, seen)) = route_next => match seen {
                Seen::Route(s) => {
                    let want = generation.unwrap_or(s.generation);
                    if s.ready_generation.is_some_and(|g| g >= want) {
                        done_at = Some(t);
                    } else if !s.problems.is_empty() {
                        last_problem = s.problems.join(", ");
                    }
                }
                Seen::Error(e) => last_problem = format!("watch: {e}"),
                _ => {}
            },
            Some((t, seen)) = gw_next => match seen {
                Seen::Attached(n) => {
                    attached = Some(n);
                    if op == KubeOp::Delete && w.baseline.is_some_and(|b| n < b) {
                        return Ok((Some(after(t, applied_at)), attached));
                    }
                }
                Seen::Error(e) => last_problem = format!("gateway watch: {e}"),
                _ => {}
            },
        }
        if let Some(t) = done_at {
            // The Gateway's count is written in the same pass on most
            // implementations; give it a moment to arrive, not more.
            let grace = tokio::time::sleep(Duration::from_millis(100));
            tokio::pin!(grace);
            if let Some(rx) = w.gateway.as_mut() {
                loop {
                    tokio::select! {
                        _ = &mut grace => break,
                        Some((_, seen)) = rx.recv() => if let Seen::Attached(n) = seen { attached = Some(n) },
                    }
                }
            }
            return Ok((Some(after(t, applied_at)), attached));
        }
        if op == KubeOp::Delete && w.gateway.is_none() {
            return Ok((None, attached));
        }
    }
}

async fn command_action(
    c: &CommandAction,
    argv: Vec<String>,
    timeout: Duration,
) -> Result<(), RouteError> {
    let cfg = crate::spec::probes::StatConfig {
        name: argv.join(" "),
        argv,
        shell: false,
        interval: timeout,
        timeout,
        env: c.env.clone(),
        cwd: c.cwd.clone(),
        keep_lines: 5,
        until: crate::spec::probes::Until::Exit,
    };
    let run = crate::probes::command::run(&cfg).await;
    match run.outcome {
        crate::probes::RunOutcome::Ok => Ok(()),
        crate::probes::RunOutcome::TimedOut => {
            Err(RouteError::TimedOut(rampdeck_base::fmt::fmt_dur(timeout)))
        }
        crate::probes::RunOutcome::Failed(why) => Err(RouteError::Command(format!(
            "{}: {why}{}{}",
            cfg.name,
            if run.lines.is_empty() { "" } else { ": " },
            run.lines.join(" / ")
        ))),
    }
}

/// Which digit fires which action, for the console's menu.
pub fn keys(cfg: &RoutesConfig) -> BTreeMap<u8, usize> {
    cfg.actions
        .iter()
        .enumerate()
        .filter_map(|(i, a)| a.key.map(|k| (k, i)))
        .collect()
}
