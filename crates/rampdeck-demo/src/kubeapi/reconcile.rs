//! The simulated Gateway API controller. It sees each HTTPRoute or Gateway write only after
//! the configured propagation delay (as a real data plane sees config late), then in one
//! pass: programs the demo gateway's route table with the accepted routes, writes each
//! route's `status.parents` (Accepted, ResolvedRefs) and, when it changed, the Gateway's
//! status (listeners' attachedRoutes). Writes whose delay ends while a pass is pending or
//! running are handled by that pass, so a burst costs few Gateway status writes.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use serde_json::{json, Value};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::error::ApiError;
use super::resource::{Kind, API_VERSION, GROUP};
use super::routeview::{BackendRef, RouteView};
use super::store::{
    now_rfc3339, Change, Committed, Event, Key, Operation, Store, Subresource, Writer,
};
use crate::config::KubeSim;
use crate::routing::{BackendSpec, RouteSpec, Router, RuleSpec};

/// `controllerName` in route status, and the field manager of status writes.
pub const CONTROLLER: &str = "rampdeck.dev/demo-gateway";
/// `gatewayClassName` of the pre-created Gateway.
pub const GATEWAY_CLASS: &str = "rampdeck-demo";
/// Annotation on the pre-created Gateway: where its data plane listens.
pub const DATA_PLANE_ANNOTATION: &str = "rampdeck.dev/data-plane";

/// Counters for the control plane's `/metrics`.
#[derive(Debug, Default)]
pub struct ReconcileStats {
    pub passes: AtomicU64,
    pub gateway_status_writes: AtomicU64,
    pub route_status_writes: AtomicU64,
    /// Bytes held by the `leak_per_route` fault.
    pub leaked_bytes: AtomicU64,
}

/// The pre-created Gateway as a user would have applied it (spec only).
pub fn demo_gateway(sim: &KubeSim, data_plane: &str) -> Value {
    json!({
        "apiVersion": API_VERSION,
        "kind": "Gateway",
        "metadata": {
            "name": sim.gateway,
            "namespace": sim.namespace,
            "annotations": {DATA_PLANE_ANNOTATION: data_plane},
        },
        "spec": {
            "gatewayClassName": GATEWAY_CLASS,
            "listeners": [{
                "name": "http",
                "protocol": "HTTP",
                "port": 80,
                "allowedRoutes": {"namespaces": {"from": "Same"}},
            }],
        },
    })
}

/// A condition, keeping `lastTransitionTime` from `previous` when the status did not change.
fn condition(
    previous: &Value,
    kind: &str,
    ok: bool,
    reason: &str,
    message: &str,
    generation: i64,
) -> Value {
    let status = if ok { "True" } else { "False" };
    let since = previous
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["type"] == kind && c["status"] == status)
        .and_then(|c| c["lastTransitionTime"].as_str())
        .map_or_else(now_rfc3339, str::to_owned);
    json!({
        "type": kind,
        "status": status,
        "reason": reason,
        "message": message,
        "observedGeneration": generation,
        "lastTransitionTime": since,
    })
}

/// A condition before it is stamped with times.
#[derive(Debug, Clone, PartialEq)]
struct Cond {
    kind: &'static str,
    ok: bool,
    reason: &'static str,
    message: String,
}

impl Cond {
    fn new(kind: &'static str, ok: bool, reason: &'static str, message: impl Into<String>) -> Self {
        Cond {
            kind,
            ok,
            reason,
            message: message.into(),
        }
    }
}

/// Our status for one parentRef of a route.
struct ParentStatus {
    parent_ref: Value,
    conditions: Vec<Cond>,
}

/// What the pass decided for one route.
struct RouteVerdict {
    key: Key,
    uid: Value,
    generation: i64,
    parents: Vec<ParentStatus>,
}

impl RouteVerdict {
    /// Everything the status write depends on, hashed: an unchanged verdict
    /// needs no write (and no read of the stored route).
    fn signature(&self) -> u64 {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        self.uid.to_string().hash(&mut h);
        self.generation.hash(&mut h);
        for p in &self.parents {
            p.parent_ref.to_string().hash(&mut h);
            for c in &p.conditions {
                (c.kind, c.ok, c.reason, &c.message).hash(&mut h);
            }
        }
        h.finish()
    }
}

/// A listener of the demo Gateway as far as attaching routes goes.
struct Listener {
    name: String,
    port: i64,
    http: bool,
    allowed: Value,
}

impl Listener {
    /// Whether a route in `namespace` may attach, per `allowedRoutes` (namespaces default to Same).
    fn allows(&self, namespace: &str, gateway_ns: &str) -> bool {
        let kinds_ok = self.allowed["kinds"].as_array().is_none_or(|kinds| {
            kinds
                .iter()
                .any(|k| k["kind"] == "HTTPRoute" && k["group"].as_str().unwrap_or(GROUP) == GROUP)
        });
        let ns = &self.allowed["namespaces"];
        let ns_ok = match ns["from"].as_str().unwrap_or("Same") {
            "All" => true,
            "Selector" => ns["selector"]["matchLabels"]
                .as_object()
                .is_some_and(|labels| {
                    // Namespaces here carry only their name label.
                    labels.iter().all(|(k, v)| {
                        k == "kubernetes.io/metadata.name" && v.as_str() == Some(namespace)
                    })
                }),
            _ => namespace == gateway_ns,
        };
        kinds_ok && ns_ok
    }
}

pub struct Reconciler {
    store: Arc<Store>,
    router: Arc<Router>,
    sim: KubeSim,
    /// IP reported in the Gateway's status.addresses.
    address: String,
    stats: Arc<ReconcileStats>,
    /// Gateways (and the other Gateway API kinds but routes) as this controller has seen
    /// them, late by the propagation delay.
    view: BTreeMap<Key, Arc<Value>>,
    /// HTTPRoutes as it has seen them: only what it reads, typed (`RouteView`).
    routes: BTreeMap<Key, RouteView>,
    /// The verdict last written for each route (`RouteVerdict::signature`).
    written: std::collections::HashMap<Key, u64>,
    /// The `leak_per_route` fault: bytes kept per route write, never freed.
    leaked: Vec<Box<[u8]>>,
}

impl Reconciler {
    pub fn new(
        store: Arc<Store>,
        router: Arc<Router>,
        sim: KubeSim,
        address: String,
        stats: Arc<ReconcileStats>,
    ) -> Self {
        Reconciler {
            store,
            router,
            sim,
            address,
            stats,
            view: BTreeMap::new(),
            routes: BTreeMap::new(),
            written: std::collections::HashMap::new(),
            leaked: Vec::new(),
        }
    }

    /// Programs what the store already holds (the seeded Gateway and
    /// routes) at once, so the demo serves its routes before any load.
    pub fn prime(&mut self) {
        for kind in Kind::GATEWAY_API {
            for obj in self.store.list(kind, None).1 {
                let m = &obj["metadata"];
                let key = Key::new(
                    kind,
                    m["namespace"].as_str().unwrap_or(""),
                    m["name"].as_str().unwrap_or(""),
                );
                self.see(key, &obj);
            }
        }
        self.pass();
    }

    fn gateway_key(&self) -> Key {
        Key::new(Kind::Gateway, &self.sim.namespace, &self.sim.gateway)
    }

    /// Feeds on the store's events until cancelled; each event takes effect `propagation` after
    /// it was committed. Status-only events are the controller's own output and change nothing;
    /// events of the built-in kinds (Jobs, Pods, Secrets) are not its business.
    pub async fn run(
        mut self,
        mut events: mpsc::UnboundedReceiver<Arc<Event>>,
        cancel: CancellationToken,
    ) {
        let delay = self.sim.propagation;
        let mut pending: VecDeque<Arc<Event>> = VecDeque::new();
        loop {
            let due = pending.front().map(|e| Instant::from_std(e.at) + delay);
            tokio::select! {
                _ = cancel.cancelled() => return,
                got = events.recv() => match got {
                    Some(e) if !e.status_only && !e.key.kind.builtin() => pending.push_back(e),
                    Some(_) => {}
                    None => return,
                },
                _ = sleep_until(due), if due.is_some() => {
                    while let Ok(e) = events.try_recv() {
                        if !e.status_only && !e.key.kind.builtin() {
                            pending.push_back(e);
                        }
                    }
                    let now = Instant::now();
                    let mut changed = false;
                    while let Some(e) = pending.front() {
                        if Instant::from_std(e.at) + delay > now {
                            break;
                        }
                        if let Some(e) = pending.pop_front() {
                            self.observe(&e);
                            changed = true;
                        }
                    }
                    if changed {
                        self.pass();
                    }
                }
            }
        }
    }

    fn see(&mut self, key: Key, obj: &Arc<Value>) {
        if key.kind == Kind::HttpRoute {
            self.routes.insert(key, RouteView::of(obj));
        } else {
            self.view.insert(key, obj.clone());
        }
    }

    fn observe(&mut self, e: &Event) {
        match e.kind {
            super::store::EventType::Deleted => {
                self.view.remove(&e.key);
                self.routes.remove(&e.key);
                self.written.remove(&e.key);
            }
            _ => {
                self.see(e.key.clone(), &e.object());
                let n = self.sim.leak_per_route;
                if n > 0 && e.key.kind == Kind::HttpRoute {
                    // Written, not just allocated, so the pages are resident and the leak
                    // shows in the process's memory as a real one does.
                    self.leaked.push(vec![0xa5u8; n].into_boxed_slice());
                    self.stats
                        .leaked_bytes
                        .fetch_add(n as u64, Ordering::Relaxed);
                }
            }
        }
    }

    /// One reconcile: program the data plane, then write route and Gateway status.
    pub fn pass(&mut self) {
        self.stats.passes.fetch_add(1, Ordering::Relaxed);
        let gw_key = self.gateway_key();
        let gateway = self.view.get(&gw_key).cloned();
        let listeners: Vec<Listener> = gateway
            .as_deref()
            .and_then(|g| g["spec"]["listeners"].as_array())
            .into_iter()
            .flatten()
            .map(|l| Listener {
                name: l["name"].as_str().unwrap_or("").to_owned(),
                port: l["port"].as_i64().unwrap_or(0),
                http: l["protocol"] == "HTTP",
                allowed: l["allowedRoutes"].clone(),
            })
            .collect();
        let mut attached: BTreeMap<String, BTreeSet<Key>> = BTreeMap::new();
        let mut programmed = Vec::new();
        let mut verdicts = Vec::new();
        for (key, route) in &self.routes {
            let generation = route.generation;
            let resolved = self.resolve_refs(route, &key.namespace);
            let mut parents = Vec::new();
            let mut accepted = false;
            for parent in &route.parents {
                let group = parent.group.as_deref().unwrap_or(GROUP);
                let kind = parent.kind.as_deref().unwrap_or("Gateway");
                let ns = parent.namespace.as_deref().unwrap_or(&key.namespace);
                let name = &*parent.name;
                if group != GROUP || kind != "Gateway" {
                    continue;
                }
                let target = Key::new(Kind::Gateway, ns, name);
                let ours = target == gw_key;
                if !ours && self.view.contains_key(&target) {
                    // Another implementation's Gateway: not ours to report on.
                    continue;
                }
                let verdict = if !ours || gateway.is_none() {
                    Cond::new(
                        "Accepted",
                        false,
                        "NoMatchingParent",
                        format!("Gateway {ns}/{name} does not exist"),
                    )
                } else {
                    let section = parent.section.as_deref();
                    let port = parent.port;
                    let fitting: Vec<&Listener> = listeners
                        .iter()
                        .filter(|l| section.is_none_or(|s| s == l.name))
                        .filter(|l| port.is_none_or(|p| p == l.port))
                        .collect();
                    let allowing: Vec<&&Listener> = fitting
                        .iter()
                        .filter(|l| l.http && l.allows(&key.namespace, &self.sim.namespace))
                        .collect();
                    if fitting.is_empty() {
                        Cond::new(
                            "Accepted",
                            false,
                            "NoMatchingParent",
                            "no listener of the Gateway matches the parentRef's sectionName and port",
                        )
                    } else if allowing.is_empty() {
                        Cond::new(
                            "Accepted",
                            false,
                            "NotAllowedByListeners",
                            "the Gateway's listeners do not allow routes from this namespace",
                        )
                    } else {
                        for l in allowing {
                            attached
                                .entry(l.name.clone())
                                .or_default()
                                .insert(key.clone());
                        }
                        accepted = true;
                        Cond::new("Accepted", true, "Accepted", "Route is accepted")
                    }
                };
                parents.push(ParentStatus {
                    parent_ref: parent.to_json(),
                    conditions: vec![verdict, resolved.clone()],
                });
            }
            if accepted {
                programmed.push(self.route_spec(key, route));
            }
            verdicts.push(RouteVerdict {
                key: key.clone(),
                uid: Value::String(route.uid.to_string()),
                generation,
                parents,
            });
        }
        self.router.program(&programmed);
        for v in verdicts {
            let sig = v.signature();
            if self.written.get(&v.key) == Some(&sig) {
                continue;
            }
            let key = v.key.clone();
            match self.write_route_status(v) {
                Ok(c) => {
                    if let Committed::Updated(_) = c {
                        self.stats
                            .route_status_writes
                            .fetch_add(1, Ordering::Relaxed);
                    }
                    self.written.insert(key, sig);
                }
                Err(_) => {
                    self.written.remove(&key);
                }
            }
        }
        if gateway.is_some() {
            let counts: Vec<(String, usize)> = listeners
                .iter()
                .map(|l| {
                    (
                        l.name.clone(),
                        attached.get(&l.name).map_or(0, BTreeSet::len),
                    )
                })
                .collect();
            if let Ok(Committed::Updated(_)) = self.write_gateway_status(&counts) {
                self.stats
                    .gateway_status_writes
                    .fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// ResolvedRefs for a route: every backendRef must name a Service that exists.
    fn resolve_refs(&self, route: &RouteView, namespace: &str) -> Cond {
        for rule in &route.rules {
            for b in &rule.backends {
                let name = &*b.name;
                if let Some(reason) = self.unresolved(b, namespace) {
                    let message = match reason {
                        "InvalidKind" => {
                            format!("backendRef {name}: only core Services are supported")
                        }
                        "RefNotPermitted" => format!(
                            "backendRef {name}: cross-namespace references need a ReferenceGrant"
                        ),
                        _ => format!(
                            "Service {}/{name} not found",
                            b.namespace.as_deref().unwrap_or(namespace)
                        ),
                    };
                    return Cond::new("ResolvedRefs", false, reason, message);
                }
            }
        }
        Cond::new(
            "ResolvedRefs",
            true,
            "ResolvedRefs",
            "All references are resolved",
        )
    }

    /// Why a backendRef does not resolve, as a Gateway API condition reason.
    fn unresolved(&self, backend: &BackendRef, route_ns: &str) -> Option<&'static str> {
        let group = backend.group.as_deref().unwrap_or("");
        let kind = backend.kind.as_deref().unwrap_or("Service");
        let ns = backend.namespace.as_deref().unwrap_or(route_ns);
        let name = &*backend.name;
        if !group.is_empty() || kind != "Service" {
            Some("InvalidKind")
        } else if ns != route_ns {
            Some("RefNotPermitted")
        } else if ns != self.sim.namespace || self.router.backend_index(name).is_none() {
            // The echo Services exist only in the demo's namespace.
            Some("BackendNotFound")
        } else {
            None
        }
    }

    fn route_spec(&self, key: &Key, route: &RouteView) -> RouteSpec {
        let mut rules: Vec<RuleSpec> = route
            .rules
            .iter()
            .map(|rule| RuleSpec {
                matches: rule.matches.clone(),
                backends: rule
                    .backends
                    .iter()
                    .map(|b| BackendSpec {
                        name: b.name.to_string(),
                        weight: b.weight.map_or(1, |w| w.min(u64::from(u32::MAX)) as u32),
                        valid_ref: self.unresolved(b, &key.namespace).is_none(),
                    })
                    .collect(),
            })
            .collect();
        if rules.is_empty() {
            // The CRD defaults rules to one PathPrefix "/" rule without backends.
            rules.push(RuleSpec {
                matches: Vec::new(),
                backends: Vec::new(),
            });
        }
        RouteSpec {
            namespace: key.namespace.clone(),
            name: key.name.clone(),
            created: route.created.to_string(),
            hostnames: route.hostnames.iter().map(|h| h.to_string()).collect(),
            rules,
        }
    }

    fn status_writer(&self) -> Writer<'static> {
        Writer {
            manager: CONTROLLER,
            operation: Operation::Update,
            subresource: Subresource::Status,
            dry_run: false,
        }
    }

    /// Replaces this controller's entries in `status.parents`, keeping other controllers'.
    fn write_route_status(&self, v: RouteVerdict) -> Result<Committed, ApiError> {
        self.store.write(&v.key, self.status_writer(), |cur| {
            let cur = cur.ok_or(ApiError::NotFound {
                kind: Kind::HttpRoute,
                name: v.key.name.clone(),
            })?;
            if cur["metadata"]["uid"] != v.uid {
                // Deleted and re-created since this pass's view: its own pass will follow.
                return Err(ApiError::Conflict {
                    kind: Kind::HttpRoute,
                    name: v.key.name.clone(),
                    detail: "the object was re-created".to_owned(),
                });
            }
            let previous: Vec<Value> = cur["status"]["parents"].as_array().cloned().unwrap_or_default();
            let mut parents: Vec<Value> = previous
                .iter()
                .filter(|p| p["controllerName"] != CONTROLLER)
                .cloned()
                .collect();
            for p in &v.parents {
                let before = previous
                    .iter()
                    .find(|q| q["controllerName"] == CONTROLLER && q["parentRef"] == p.parent_ref)
                    .map_or(Value::Null, |q| q["conditions"].clone());
                parents.push(json!({
                    "parentRef": p.parent_ref,
                    "controllerName": CONTROLLER,
                    "conditions": p.conditions.iter()
                        .map(|c| condition(&before, c.kind, c.ok, c.reason, &c.message, v.generation))
                        .collect::<Vec<_>>(),
                }));
            }
            let mut new = cur.clone();
            if parents.is_empty() && cur.get("status").is_none() {
                return Ok(Change::Put(new));
            }
            new["status"] = json!({"parents": parents});
            Ok(Change::Put(new))
        })
    }

    fn write_gateway_status(&self, attached: &[(String, usize)]) -> Result<Committed, ApiError> {
        let key = self.gateway_key();
        self.store.write(&key, self.status_writer(), |cur| {
            let cur = cur.ok_or(ApiError::NotFound {
                kind: Kind::Gateway,
                name: key.name.clone(),
            })?;
            let mut new = cur.clone();
            new["status"] = gateway_status(cur, attached, &self.address);
            Ok(Change::Put(new))
        })
    }
}

/// The Gateway's status with `attached` routes per listener name; conditions keep their
/// lastTransitionTime from the current status when unchanged.
pub fn gateway_status(gateway: &Value, attached: &[(String, usize)], address: &str) -> Value {
    let generation = gateway["metadata"]["generation"].as_i64().unwrap_or(1);
    let before = &gateway["status"];
    let listeners: Vec<Value> = gateway["spec"]["listeners"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|l| {
            let name = l["name"].as_str().unwrap_or("");
            let http = l["protocol"] == "HTTP";
            let prev = before["listeners"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|p| p["name"] == name)
                .map_or(Value::Null, |p| p["conditions"].clone());
            let count = attached.iter().find(|(n, _)| n == name).map_or(0, |(_, c)| *c);
            let conditions = if http {
                vec![
                    condition(&prev, "Accepted", true, "Accepted", "Listener is accepted", generation),
                    condition(&prev, "Programmed", true, "Programmed", "Listener is programmed", generation),
                    condition(&prev, "ResolvedRefs", true, "ResolvedRefs", "All references are resolved", generation),
                    condition(&prev, "Conflicted", false, "NoConflicts", "No conflicts", generation),
                ]
            } else {
                vec![
                    condition(&prev, "Accepted", false, "UnsupportedProtocol", "the demo gateway serves HTTP listeners only", generation),
                    condition(&prev, "Programmed", false, "Invalid", "Listener is not accepted", generation),
                ]
            };
            json!({
                "name": name,
                "attachedRoutes": count,
                "supportedKinds": if http { json!([{"group": GROUP, "kind": "HTTPRoute"}]) } else { json!([]) },
                "conditions": conditions,
            })
        })
        .collect();
    let prev = &before["conditions"];
    json!({
        "addresses": [{"type": "IPAddress", "value": address}],
        "conditions": [
            condition(prev, "Accepted", true, "Accepted", "Gateway is accepted", generation),
            condition(prev, "Programmed", true, "Programmed", "Gateway is programmed", generation),
        ],
        "listeners": listeners,
    })
}

async fn sleep_until(due: Option<Instant>) {
    match due {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}

/// Writes the pre-created Gateway and its initial status (no routes attached yet).
pub fn seed(store: &Store, sim: &KubeSim, data_plane: &str, address: &str) -> Result<(), ApiError> {
    let key = Key::new(Kind::Gateway, &sim.namespace, &sim.gateway);
    let gateway = demo_gateway(sim, data_plane);
    let setup = Writer {
        manager: "rampdeck",
        operation: Operation::Apply,
        subresource: Subresource::Main,
        dry_run: false,
    };
    super::validate::check_object(Kind::Gateway, &sim.gateway, &gateway)?;
    store.write(&key, setup, |_| Ok(Change::Put(gateway)))?;
    let writer = Writer {
        manager: CONTROLLER,
        operation: Operation::Update,
        subresource: Subresource::Status,
        dry_run: false,
    };
    let counts = vec![("http".to_owned(), 0)];
    store.write(&key, writer, |cur| {
        let mut g = cur.cloned().unwrap_or(Value::Null);
        g["status"] = gateway_status(&g, &counts, address);
        Ok(Change::Put(g))
    })?;
    for r in &sim.routes {
        let key = Key::new(Kind::HttpRoute, &sim.namespace, &r.name);
        let route = seed_route(sim, r);
        super::validate::check_object(Kind::HttpRoute, &r.name, &route)?;
        store.write(&key, setup, |_| Ok(Change::Put(route)))?;
    }
    Ok(())
}

/// A `[[demo.kube.route]]` as a user would have applied it.
fn seed_route(sim: &KubeSim, r: &crate::config::SeedRoute) -> Value {
    json!({
        "apiVersion": API_VERSION,
        "kind": "HTTPRoute",
        "metadata": {"name": r.name, "namespace": sim.namespace},
        "spec": {
            "parentRefs": [{"name": sim.gateway}],
            "hostnames": r.hostnames,
            "rules": [{
                "matches": [{"path": {"type": "PathPrefix", "value": r.path_prefix}}],
                "backendRefs": [{"name": r.backend, "port": 8080}],
            }],
        },
    })
}
