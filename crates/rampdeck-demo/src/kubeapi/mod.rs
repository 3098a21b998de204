//! A simulated Kubernetes API server and Gateway API implementation for the demo target.
//!
//! This is a simulation, not Kubernetes: it serves, on the demo control plane's listener
//! (plain http), the part of the API that kube-rs and kubectl use for Gateway API
//! `gateway.networking.k8s.io/v1` Gateways and HTTPRoutes, and for batch/v1 Jobs and
//! core/v1 Pods and Secrets: legacy discovery, get, list,
//! watch (with resourceVersion history, bookmarks, selectors), create, update, JSON merge
//! patch, a simplified server-side apply, delete, and the status subresource, with errors as
//! `Status` objects, plus OpenAPI v3 built from the CRD schemas (kubectl validates writes
//! with it). Unknown fields are pruned as for CRDs. Objects live in memory and vanish with
//! the process. A simulated controller (`reconcile`) sees each HTTPRoute write after
//! `KubeSim::propagation`, programs
//! the demo gateway's route table (`demo::routing`) and writes route and Gateway status as a
//! real implementation would, so load tests can measure route propagation, attachment and
//! swap behaviour without a cluster.
//!
//! Jobs run for real, on this machine: a simulated Job controller (`jobs`) creates their
//! pods, a simulated kubelet (`kubelet`) runs each pod's first container as a local process
//! on its own loopback pod IP (127.0.1.x), probes its readiness and writes its status, a
//! garbage collector (`gc`) deletes the pods of deleted Jobs (`deletion` has the graceful
//! pod deletion and propagation policies), and pods are reachable through port-forward
//! (`portforward`, the WebSocket protocol kube-rs speaks) and have logs. Every process is
//! killed when the demo stops.
//!
//! Simplifications: one pre-created Gateway is served (others are stored but not
//! programmed); apply owns whole `spec`/`status` rather than per-field sets; no
//! authentication, admission webhooks, user finalizers, pagination (`limit` is ignored),
//! JSON or strategic merge patches (so `kubectl apply` of a changed built-in object needs
//! `--server-side`), or YAML request bodies; the built-in kinds keep unknown fields and
//! their OpenAPI schemas are open; no images, containers or network namespaces.

pub mod batch;
pub mod builtin;
pub mod container;
pub mod core;
pub mod deletion;
pub mod discovery;
pub mod error;
pub mod gc;
pub mod http;
pub mod jobs;
pub mod kubeconfig;
pub mod kubelet;
pub mod openapi;
pub mod ops;
pub mod patch;
pub mod podip;
pub mod portforward;
pub mod query;
pub mod rbac;
pub mod reconcile;
pub mod resource;
pub mod resync;
pub mod rollout;
pub mod routeview;
pub mod store;
pub mod table;
#[cfg(test)]
mod tests;
pub mod validate;
pub mod watch;

use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use hyper::body::Incoming;
use hyper::{Request, Response};
use tokio_util::sync::CancellationToken;

pub use error::ApiError;
pub use kubeconfig::{kubeconfig_yaml, write_kubeconfig};
pub use reconcile::ReconcileStats;

use super::config::KubeSim;
use super::routing::Router;
use store::Store;

/// The API server state shared by request handlers and the reconciler.
pub struct KubeApi {
    pub store: Arc<Store>,
    pub stats: Arc<ReconcileStats>,
    /// Runs the pods; `kubelet.pid(namespace, name)` is a pod's process.
    pub kubelet: Arc<kubelet::Kubelet>,
    /// API requests served, for `/metrics`.
    pub requests: AtomicU64,
    /// `[demo.kube] forbid`: requests answered 403.
    pub forbidden: Vec<rbac::Rule>,
    sim: KubeSim,
    /// host:port of the control plane, reported by `/api`.
    server: String,
    /// When the API server started (RFC 3339): the creation time of every namespace.
    started: String,
    cancel: CancellationToken,
}

impl KubeApi {
    /// Seeds the store with the demo Gateway (status written, no routes attached) and starts
    /// the reconciler, the Job controller, the garbage collector and the kubelet on the
    /// current runtime; all stop with `cancel` (the kubelet killing every pod's process).
    pub fn start(
        sim: &KubeSim,
        router: Arc<Router>,
        control: SocketAddr,
        data_plane: SocketAddr,
        cancel: CancellationToken,
    ) -> Result<Arc<KubeApi>, ApiError> {
        let (store, events) = Store::new();
        let store = Arc::new(store);
        let address = data_plane.ip().to_string();
        reconcile::seed(&store, sim, &data_plane.to_string(), &address)?;
        let stats = Arc::new(ReconcileStats::default());
        let mut reconciler =
            reconcile::Reconciler::new(store.clone(), router, sim.clone(), address, stats.clone());
        reconciler.prime();
        tokio::spawn(reconciler.run(events, cancel.clone()));
        tokio::spawn(jobs::JobController::new(store.clone()).run(cancel.clone()));
        tokio::spawn(gc::run(store.clone(), cancel.clone()));
        tokio::spawn(
            rollout::RolloutController::new(store.clone(), sim.deployment_ready)
                .run(cancel.clone()),
        );
        let kubelet = kubelet::Kubelet::new(store.clone(), sim);
        tokio::spawn(kubelet.clone().run(cancel.clone()));
        Ok(Arc::new(KubeApi {
            store,
            stats,
            kubelet,
            requests: AtomicU64::new(0),
            forbidden: rbac::rules(&sim.forbid),
            sim: sim.clone(),
            server: control.to_string(),
            started: store::now_rfc3339(),
            cancel,
        }))
    }

    /// Whether the control plane should hand a request for `path` to this API server.
    pub fn serves(path: &str) -> bool {
        ["/api", "/apis", "/version", "/openapi"]
            .iter()
            .any(|p| path == *p || path.starts_with(&format!("{p}/")))
    }

    pub async fn handle(&self, req: Request<Incoming>) -> Response<http::Body> {
        http::handle(self, req).await
    }
}
