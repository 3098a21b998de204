//! All Kubernetes access: one `KubeContext` holding the client, typed Gateway API operations, and API errors explained.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use gateway_api::gateways::Gateway;
use gateway_api::httproutes::HttpRoute;
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::runtime::{watcher, WatchStreamExt};
use serde_json::Value;
use tokio::sync::mpsc;

use super::error::KubeError;
use crate::spec::kube::{KubeOp, KubeSettings, ObjectKind};

/// The field manager rampdeck's server-side applies own their fields under.
pub const FIELD_MANAGER: &str = "rampdeck";

/// The client, and the namespace objects without one go to.
#[derive(Clone)]
pub struct KubeContext {
    client: kube::Client,
    pub namespace: String,
    /// "context NAME (SERVER)" for messages.
    pub describe: String,
    /// Kinds resolved by discovery so far (`dynamic`).
    pub(crate) kinds: super::dynamic::Kinds,
}

impl KubeContext {
    /// Builds the client from the kubeconfig the settings name, else
    /// `$KUBECONFIG`, else `~/.kube/config`; errors say which file and
    /// context were looked for.
    pub async fn connect(s: &KubeSettings) -> Result<Self, KubeError> {
        let path = kubeconfig_path(s)?;
        let kc = Kubeconfig::read_from(&path).map_err(|e| {
            KubeError::Kubeconfig(format!(
                "cannot read kubeconfig {}: {e}{}",
                path.display(),
                if path.exists() { "" } else { NO_CLUSTER }
            ))
        })?;
        if let Some(ctx) = &s.context {
            if !kc.contexts.iter().any(|c| &c.name == ctx) {
                let have: Vec<_> = kc.contexts.iter().map(|c| c.name.as_str()).collect();
                return Err(KubeError::Kubeconfig(format!(
                    "kubeconfig {} has no context '{ctx}' (it has: {})",
                    path.display(),
                    if have.is_empty() {
                        "none".into()
                    } else {
                        have.join(", ")
                    }
                )));
            }
        }
        let context = s
            .context
            .clone()
            .or_else(|| kc.current_context.clone())
            .unwrap_or_else(|| "(none)".into());
        let opts = KubeConfigOptions {
            context: s.context.clone(),
            ..Default::default()
        };
        let config = kube::Config::from_custom_kubeconfig(kc, &opts)
            .await
            .map_err(|e| {
                KubeError::Kubeconfig(format!(
                    "kubeconfig {} context '{context}': {e}",
                    path.display()
                ))
            })?;
        let describe = format!("context {context} ({})", config.cluster_url);
        let namespace = s
            .namespace
            .clone()
            .unwrap_or_else(|| config.default_namespace.clone());
        let client = kube::Client::try_from(config)
            .map_err(|e| KubeError::Kubeconfig(format!("{describe}: {e}")))?;
        Ok(KubeContext {
            client,
            namespace,
            describe,
            kinds: Default::default(),
        })
    }

    fn routes(&self, ns: &str) -> Api<HttpRoute> {
        Api::namespaced(self.client.clone(), ns)
    }

    fn gateways(&self, ns: &str) -> Api<Gateway> {
        Api::namespaced(self.client.clone(), ns)
    }

    /// Applies, patches or deletes one object; returns the generation the
    /// server gave it (None after a delete) and its parent Gateway, if any.
    pub async fn run(&self, op: KubeOp, obj: &Target) -> Result<Applied, KubeError> {
        let ns = obj.namespace.as_deref().unwrap_or(&self.namespace);
        let what = || Resource {
            verb: op.verb(),
            kind: obj.kind,
            namespace: ns.to_owned(),
            name: obj.name.clone(),
        };
        let pp = PatchParams::apply(FIELD_MANAGER).force();
        let mp = PatchParams::default();
        let result = match (op, obj.kind) {
            (KubeOp::Apply, ObjectKind::HttpRoute) => {
                let typed: HttpRoute = typed(&obj.body, obj.kind)?;
                let r = self
                    .routes(ns)
                    .patch(&obj.name, &pp, &Patch::Apply(&typed))
                    .await;
                r.map(|r| Applied::route(&r))
            }
            (KubeOp::Apply, ObjectKind::Gateway) => {
                let typed: Gateway = typed(&obj.body, obj.kind)?;
                let r = self
                    .gateways(ns)
                    .patch(&obj.name, &pp, &Patch::Apply(&typed))
                    .await;
                r.map(|g| Applied {
                    generation: g.metadata.generation,
                    parent: None,
                    route: None,
                })
            }
            (KubeOp::Patch, ObjectKind::HttpRoute) => self
                .routes(ns)
                .patch(&obj.name, &mp, &Patch::Merge(&obj.body))
                .await
                .map(|r| Applied::route(&r)),
            (KubeOp::Patch, ObjectKind::Gateway) => self
                .gateways(ns)
                .patch(&obj.name, &mp, &Patch::Merge(&obj.body))
                .await
                .map(|g| Applied {
                    generation: g.metadata.generation,
                    parent: None,
                    route: None,
                }),
            (KubeOp::Delete, ObjectKind::HttpRoute) => {
                // The parent is read first, so its attachedRoutes can be watched going down.
                let before = match self.routes(ns).get_opt(&obj.name).await {
                    Ok(Some(r)) => Applied::route(&r),
                    Ok(None) => Applied {
                        generation: None,
                        parent: None,
                        route: None,
                    },
                    Err(e) => return Err(explain(e, &what())),
                };
                self.routes(ns)
                    .delete(&obj.name, &DeleteParams::default())
                    .await
                    .map(|_| Applied {
                        generation: None,
                        ..before
                    })
            }
            (KubeOp::Delete, ObjectKind::Gateway) => self
                .gateways(ns)
                .delete(&obj.name, &DeleteParams::default())
                .await
                .map(|_| Applied {
                    generation: None,
                    parent: None,
                    route: None,
                }),
        };
        result.map_err(|e| explain(e, &what()))
    }

    /// Streams (arrival time, route or None when deleted) for one HTTPRoute.
    pub fn watch_route(&self, ns: &str, name: &str) -> mpsc::UnboundedReceiver<(Instant, Seen)> {
        let api = self.routes(ns);
        let cfg = watcher::Config::default().fields(&format!("metadata.name={name}"));
        spawn_watch(api, cfg, |r: &HttpRoute| Seen::Route(route_state(r)))
    }

    /// Streams (arrival time, attachedRoutes summed over listeners) for one Gateway.
    pub fn watch_gateway(&self, ns: &str, name: &str) -> mpsc::UnboundedReceiver<(Instant, Seen)> {
        let api = self.gateways(ns);
        let cfg = watcher::Config::default().fields(&format!("metadata.name={name}"));
        spawn_watch(api, cfg, |g: &Gateway| Seen::Attached(attached_routes(g)))
    }

    /// Lists the Gateway's attachedRoutes now (for the watch baseline).
    pub async fn attached_routes(&self, ns: &str, name: &str) -> Result<i64, KubeError> {
        let what = Resource {
            verb: "get",
            kind: ObjectKind::Gateway,
            namespace: ns.to_owned(),
            name: name.to_owned(),
        };
        self.gateways(ns)
            .get(name)
            .await
            .map(|g| attached_routes(&g))
            .map_err(|e| explain(e, &what))
    }

    /// Deletes one HTTPRoute; one that is already gone counts as deleted.
    pub async fn delete_route(&self, ns: &str, name: &str) -> Result<(), KubeError> {
        let what = Resource {
            verb: "delete",
            kind: ObjectKind::HttpRoute,
            namespace: ns.to_owned(),
            name: name.to_owned(),
        };
        match self.routes(ns).delete(name, &DeleteParams::default()).await {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(s))
                if s.code == 404 && s.details.as_ref().is_some_and(|d| !d.name.is_empty()) =>
            {
                Ok(())
            }
            Err(e) => Err(explain(e, &what)),
        }
    }

    /// Names of the HTTPRoutes in `ns` carrying `label_selector` (leftovers of an earlier run).
    pub async fn list_routes(
        &self,
        ns: &str,
        label_selector: &str,
    ) -> Result<Vec<String>, KubeError> {
        let what = Resource {
            verb: "list",
            kind: ObjectKind::HttpRoute,
            namespace: ns.to_owned(),
            name: String::new(),
        };
        let lp = kube::api::ListParams::default().labels(label_selector);
        self.routes(ns)
            .list_metadata(&lp)
            .await
            .map(|l| {
                l.items
                    .into_iter()
                    .filter_map(|m| m.metadata.name)
                    .collect()
            })
            .map_err(|e| explain(e, &what))
    }

    /// Streams every write the watch sees to one Gateway: (arrival time,
    /// attachedRoutes, resourceVersion). Each new resourceVersion is one
    /// write; the scenarios only touch routes, so these are status writes.
    pub fn watch_gateway_writes(
        &self,
        ns: &str,
        name: &str,
    ) -> mpsc::UnboundedReceiver<(Instant, GatewaySeen)> {
        let api = self.gateways(ns);
        let cfg = watcher::Config::default().fields(&format!("metadata.name={name}"));
        spawn_watch_with(api, cfg, |ev| match ev {
            watcher::Event::Apply(g) | watcher::Event::InitApply(g) => Some(GatewaySeen {
                attached: attached_routes(&g),
                resource_version: g.metadata.resource_version.clone().unwrap_or_default(),
            }),
            _ => None,
        })
    }

    /// Streams (arrival time, route name, state) for every HTTPRoute in `ns` carrying `label_selector`.
    pub fn watch_routes(
        &self,
        ns: &str,
        label_selector: &str,
    ) -> mpsc::UnboundedReceiver<(Instant, (String, RouteState))> {
        let api = self.routes(ns);
        let cfg = watcher::Config::default().labels(label_selector);
        spawn_watch_with(api, cfg, |ev| match ev {
            watcher::Event::Apply(r) | watcher::Event::InitApply(r) => {
                Some((r.metadata.name.clone().unwrap_or_default(), route_state(&r)))
            }
            _ => None,
        })
    }

    pub fn client(&self) -> kube::Client {
        self.client.clone()
    }
}

/// What a watch saw in one event.
#[derive(Debug, Clone, PartialEq)]
pub enum Seen {
    Route(RouteState),
    Attached(i64),
    Deleted,
    /// The watch itself failed (it retries); the reason, for the events pane.
    Error(String),
}

/// The parts of an HTTPRoute's status that say whether it is in force.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RouteState {
    pub generation: i64,
    /// Lowest observedGeneration among the Accepted and ResolvedRefs
    /// conditions that are True on every parent (None if any is not True).
    pub ready_generation: Option<i64>,
    /// Lowest observedGeneration of Accepted=True over every parent (None
    /// if any parent has not accepted it). route-probe uses this: its
    /// catch-all rule points at a missing backend, so ResolvedRefs stays False.
    pub accepted_generation: Option<i64>,
    /// "Accepted=False (NoMatchingParent)" and the like.
    pub problems: Vec<String>,
}

pub fn route_state(r: &HttpRoute) -> RouteState {
    let generation = r.metadata.generation.unwrap_or(0);
    let mut ready: Option<i64> = None;
    let mut problems = Vec::new();
    let parents = r
        .status
        .as_ref()
        .map(|s| s.parents.as_slice())
        .unwrap_or(&[]);
    let mut all = !parents.is_empty();
    let mut accepted: Option<i64> = None;
    let mut all_accepted = all;
    for p in parents {
        match p
            .conditions
            .iter()
            .find(|c| c.type_ == "Accepted" && c.status == "True")
        {
            Some(c) => {
                let g = c.observed_generation.unwrap_or(0);
                accepted = Some(accepted.map_or(g, |a| a.min(g)));
            }
            None => all_accepted = false,
        }
        for want in ["Accepted", "ResolvedRefs"] {
            match p.conditions.iter().find(|c| c.type_ == want) {
                Some(c) if c.status == "True" => {
                    let g = c.observed_generation.unwrap_or(0);
                    ready = Some(ready.map_or(g, |r| r.min(g)));
                }
                Some(c) => {
                    all = false;
                    problems.push(format!("{want}={} ({})", c.status, c.reason));
                }
                None => all = false,
            }
        }
    }
    RouteState {
        generation,
        ready_generation: if all { ready } else { None },
        accepted_generation: if all_accepted { accepted } else { None },
        problems,
    }
}

pub fn attached_routes(g: &Gateway) -> i64 {
    g.status
        .as_ref()
        .and_then(|s| s.listeners.as_ref())
        .map_or(0, |ls| {
            ls.iter().map(|l| i64::from(l.attached_routes)).sum()
        })
}

fn spawn_watch<K, F>(
    api: Api<K>,
    cfg: watcher::Config,
    seen: F,
) -> mpsc::UnboundedReceiver<(Instant, Seen)>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug + Send + 'static,
    F: Fn(&K) -> Seen + Send + 'static,
{
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut stream = std::pin::pin!(watcher(api, cfg));
        while let Some(ev) = stream.next().await {
            let now = Instant::now();
            let item = match ev {
                Ok(watcher::Event::Apply(k) | watcher::Event::InitApply(k)) => seen(&k),
                Ok(watcher::Event::Delete(_)) => Seen::Deleted,
                Ok(_) => continue,
                Err(e) => Seen::Error(e.to_string()),
            };
            // The receiver is gone once the action has its answer.
            if tx.send((now, item)).is_err() {
                return;
            }
        }
    });
    rx
}

/// One Gateway write seen by `watch_gateway_writes`.
#[derive(Debug, Clone, PartialEq)]
pub struct GatewaySeen {
    pub attached: i64,
    pub resource_version: String,
}

/// Like `spawn_watch`, for callers that keep only some events (watch
/// errors are retried by the watcher and not passed on).
fn spawn_watch_with<K, T, F>(
    api: Api<K>,
    cfg: watcher::Config,
    keep: F,
) -> mpsc::UnboundedReceiver<(Instant, T)>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug + Send + 'static,
    T: Send + 'static,
    F: Fn(watcher::Event<K>) -> Option<T> + Send + 'static,
{
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        // Backoff, so an unreachable API server is retried, not spun on.
        let mut stream = std::pin::pin!(watcher(api, cfg).default_backoff());
        while let Some(ev) = stream.next().await {
            let now = Instant::now();
            let Some(item) = ev.ok().and_then(&keep) else {
                continue;
            };
            if tx.send((now, item)).is_err() {
                return;
            }
        }
    });
    rx
}

/// One object to act on, after templating.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    pub kind: ObjectKind,
    pub name: String,
    pub namespace: Option<String>,
    /// The object (apply) or the merge patch (patch); unused for delete.
    pub body: Value,
}

impl Target {
    /// Reads kind, name and namespace from a whole object.
    pub fn from_object(body: Value, ns_override: Option<&str>) -> Result<Self, String> {
        let kind_s = body.get("kind").and_then(Value::as_str).unwrap_or("");
        let kind = ObjectKind::parse(kind_s).ok_or_else(|| {
            if kind_s.is_empty() {
                "the object has no kind: give kind = \"HTTPRoute\" or \"Gateway\"".to_owned()
            } else {
                format!("kind '{kind_s}' is not supported: use HTTPRoute or Gateway")
            }
        })?;
        let meta = body.get("metadata");
        let name = meta
            .and_then(|m| m.get("name"))
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty())
            .ok_or("the object has no metadata.name")?
            .to_owned();
        let namespace = ns_override.map(str::to_owned).or_else(|| {
            meta.and_then(|m| m.get("namespace"))
                .and_then(Value::as_str)
                .map(str::to_owned)
        });
        let mut body = body;
        if let (Some(ns), Some(m)) = (&namespace, body.get_mut("metadata")) {
            m["namespace"] = Value::String(ns.clone());
        }
        Ok(Target {
            kind,
            name,
            namespace,
            body,
        })
    }
}

/// What the server answered.
#[derive(Debug, Clone, PartialEq)]
pub struct Applied {
    pub generation: Option<i64>,
    /// (namespace, name) of the first parent Gateway.
    pub parent: Option<(Option<String>, String)>,
    /// The HTTPRoute as the API server returned it (after an apply or a
    /// patch; as it was, for a delete): which requests it serves.
    pub route: Option<Value>,
}

impl Applied {
    fn route(r: &HttpRoute) -> Self {
        let parent = r
            .spec
            .parent_refs
            .as_ref()
            .and_then(|p| p.first())
            .filter(|p| p.kind.as_deref().is_none_or(|k| k == "Gateway"))
            .map(|p| (p.namespace.clone(), p.name.clone()));
        Applied {
            generation: r.metadata.generation,
            parent,
            route: serde_json::to_value(r).ok(),
        }
    }
}

fn typed<T: serde::de::DeserializeOwned>(v: &Value, kind: ObjectKind) -> Result<T, KubeError> {
    serde_json::from_value(v.clone()).map_err(|e| {
        KubeError::Manifest(format!(
            "not a valid {} (gateway.networking.k8s.io/v1): {e}",
            kind.kind()
        ))
    })
}

/// The object an API call was about, for error messages.
pub struct Resource {
    pub verb: &'static str,
    pub kind: ObjectKind,
    pub namespace: String,
    pub name: String,
}

/// Turns an API error into what the operator needs to do about it.
pub fn explain(e: kube::Error, r: &Resource) -> KubeError {
    let plural = r.kind.plural();
    match e {
        kube::Error::Api(s) => {
            let msg = s.message.clone();
            match s.code {
                403 => KubeError::Forbidden(format!(
                    "403 Forbidden: not allowed to {} {plural}.gateway.networking.k8s.io in namespace {} ({msg}); grant it with manifests/rbac.yaml (Role rampdeck: httproutes get, list, watch, create, patch, delete; gateways get, list, watch)",
                    rbac_verb(r.verb), r.namespace
                )),
                404 if s.details.as_ref().is_none_or(|d| d.name.is_empty()) => {
                    KubeError::NoCrds(format!(
                        "404 on gateway.networking.k8s.io/v1 {plural}: the Gateway API CRDs are not installed in this cluster (install the standard channel: kubectl apply -f https://github.com/kubernetes-sigs/gateway-api/releases/latest/download/standard-install.yaml)"
                    ))
                }
                404 => KubeError::Api {
                    code: 404,
                    message: format!("{} {}/{} not found: {msg}", r.kind.kind(), r.namespace, r.name),
                },
                409 => KubeError::Api {
                    code: 409,
                    message: format!("409 Conflict on {} {}/{}: {msg}", r.kind.kind(), r.namespace, r.name),
                },
                422 => KubeError::Api {
                    code: 422,
                    message: format!("422 Invalid {} {}/{}: {msg}", r.kind.kind(), r.namespace, r.name),
                },
                code => KubeError::Api {
                    code,
                    message: format!("{code} {}: {msg}", s.reason),
                },
            }
        }
        other => KubeError::Transport(format!(
            "{} {} {}/{}: {}",
            r.verb,
            r.kind.kind(),
            r.namespace,
            r.name,
            crate::util::text::error_chain(&other)
        )),
    }
}

/// The RBAC verb behind an operation (server-side apply is a patch, or a create).
fn rbac_verb(op: &str) -> &str {
    match op {
        "apply" => "patch",
        v => v,
    }
}

/// The hint for an operator who has no cluster at hand.
const NO_CLUSTER: &str = "; without a cluster, add --demo (scenario, find) or use `rampdeck demo` to run against the demo's simulated Kubernetes API";

fn kubeconfig_path(s: &KubeSettings) -> Result<PathBuf, KubeError> {
    if let Some(p) = &s.kubeconfig {
        return Ok(p.clone());
    }
    if let Some(env) = std::env::var_os("KUBECONFIG").filter(|v| !v.is_empty()) {
        let first = std::env::split_paths(&env).next().unwrap_or_default();
        return Ok(first);
    }
    let home = std::env::var_os("HOME").map(PathBuf::from);
    match home {
        Some(h) => Ok(h.join(".kube").join("config")),
        None => Err(KubeError::Kubeconfig(
            format!("no kubeconfig: set [kube] kubeconfig, $KUBECONFIG, or $HOME (for ~/.kube/config){NO_CLUSTER}"),
        )),
    }
}

/// How long ago `t` was, or zero if it is later than `since`.
pub fn after(t: Instant, since: Instant) -> Duration {
    t.saturating_duration_since(since)
}
