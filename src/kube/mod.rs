//! All Kubernetes access: one context holding the client, namespace and field manager; server-side apply, patch, delete; watchers and waits.
//!
//! Route actions, scenarios (and next the test's workload setup and the
//! agents' launcher) go through `KubeContext`; nothing else builds a kube
//! client. Inside this module `kube::` is the kube-rs crate.

pub mod context;
pub mod dynamic;
pub mod error;
pub mod ready;

pub use context::*;
pub use error::KubeError;
