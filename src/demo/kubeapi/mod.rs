//! A simulated Kubernetes API server and Gateway API implementation for the demo target.
//!
//! This is a simulation, not Kubernetes: it serves, on the demo control plane's listener
//! (plain http), the part of the API that kube-rs and kubectl use for Gateway API
//! `gateway.networking.k8s.io/v1` Gateways and HTTPRoutes: legacy discovery, get, list,
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
//! Simplifications: one pre-created Gateway is served (others are stored but not
//! programmed); apply owns whole `spec`/`status` rather than per-field sets; no
//! authentication, admission webhooks, finalizers, pagination (`limit` is ignored), JSON
//! or strategic merge patches, or YAML request bodies.

pub mod discovery;
pub mod error;
pub mod http;
pub mod kubeconfig;
pub mod openapi;
pub mod ops;
pub mod patch;
pub mod query;
pub mod reconcile;
pub mod resource;
pub mod store;
pub mod table;
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
    /// API requests served, for `/metrics`.
    pub requests: AtomicU64,
    sim: KubeSim,
    /// host:port of the control plane, reported by `/api`.
    server: String,
    /// When the API server started (RFC 3339): the creation time of every namespace.
    started: String,
    cancel: CancellationToken,
}

impl KubeApi {
    /// Seeds the store with the demo Gateway (status written, no routes attached) and starts
    /// the reconciler on the current runtime; both stop with `cancel`.
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
        Ok(Arc::new(KubeApi {
            store,
            stats,
            requests: AtomicU64::new(0),
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
