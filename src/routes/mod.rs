//! Route actions: change routes mid-run (Gateway API through kube-rs, admin APIs, commands) and measure how the change propagates.
//!
//! `config` is what the profile asks for; `kube` holds all Kubernetes
//! access; `verify` polls the data plane; `runner` fires actions (by key or
//! on schedule) and reports each firing as an `ActionRecord` on the probe
//! channel; `affects` says which of the profile's requests an action
//! touches, and `drops` sorts the load's failed requests around it into
//! the action's drops, an outage already under way, and unrelated ones. A
//! failing action is reported and the run goes on.

pub mod affects;
pub mod drops;
pub mod dynamic;
pub mod runner;
pub mod verify;

use serde::{Deserialize, Serialize};

pub use runner::{start, start_for, RouteHandle};

/// Everything that can go wrong with one firing; shown in the events pane, never fatal.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RouteError {
    #[error(transparent)]
    Kube(#[from] crate::kube::KubeError),
    #[error("{0}")]
    Template(String),
    #[error("{0}")]
    Http(String),
    #[error("{0}")]
    Command(String),
    #[error("no answer within {0} (the action's timeout)")]
    TimedOut(String),
    #[error("still running (firing {0}); wait for it to finish")]
    Busy(u32),
    /// A `wait` the change should converge to did not come true in time.
    #[error("{0}")]
    Converge(String),
}

/// Where a firing is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    Fired,
    Applied,
    Propagated,
    Failed,
}

/// One firing of one action, updated as it goes: what was done, how long it
/// took to apply and to propagate, and the load's drops around it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActionRecord {
    pub action: String,
    pub kind: String,
    /// 1 for the first firing of this action, 2 for the next...
    pub firing: u32,
    pub phase: Phase,
    /// e.g. "apply HTTPRoute rampdeck/route-1 (backend=echo-v2)".
    pub detail: String,
    /// Seconds since the run started.
    pub fired_at_s: f64,
    /// When the action returned (the reference point for propagation and drops).
    pub applied_at_s: Option<f64>,
    pub apply_ms: Option<f64>,
    /// Action applied -> first verify response that matched.
    pub data_plane_ms: Option<f64>,
    pub verify_polls: Option<u64>,
    /// Verify answers before the match, by status (0 = no answer).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub verify_misses: Vec<(u16, u64)>,
    /// Action applied -> the route's Accepted and ResolvedRefs conditions at
    /// its new generation (or, for a delete, the Gateway's attachedRoutes going down).
    pub control_plane_ms: Option<f64>,
    /// The parent Gateway's attachedRoutes, last seen by the watch.
    pub attached_routes: Option<i64>,
    /// A kube action's `wait` conditions: action applied -> every one true
    /// (a rotated Secret's Deployment rolled out, a scale Available).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub converged_ms: Option<f64>,
    pub error: Option<String>,
    /// The requests whose failures are this firing's drops; None counts
    /// every request (an http or command action without `affects`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub affects: Option<affects::Affects>,
    /// Filled in by the run model once the drop window has passed.
    pub drops: Option<drops::Drops>,
}

impl ActionRecord {
    /// The line the events pane and the headless progress show for this phase.
    pub fn message(&self) -> String {
        let ms = |v: Option<f64>| v.map(|v| format!("{v:.0} ms"));
        match self.phase {
            Phase::Fired => format!("route {}: {}…", self.action, self.detail),
            Phase::Applied => format!(
                "route {}: applied in {}",
                self.action,
                ms(self.apply_ms).unwrap_or_default()
            ),
            Phase::Propagated => {
                let mut parts = Vec::new();
                if let Some(d) = ms(self.data_plane_ms) {
                    parts.push(format!("data plane {d}"));
                }
                if let Some(c) = ms(self.control_plane_ms) {
                    parts.push(format!("control plane {c}"));
                }
                if let Some(a) = self.attached_routes {
                    parts.push(format!("attachedRoutes {a}"));
                }
                if let Some(c) = ms(self.converged_ms) {
                    parts.push(format!("converged {c}"));
                }
                if parts.is_empty() {
                    format!("route {}: done", self.action)
                } else {
                    format!("route {}: propagated: {}", self.action, parts.join(", "))
                }
            }
            Phase::Failed => format!(
                "route {}: failed: {}",
                self.action,
                self.error.as_deref().unwrap_or("unknown")
            ),
        }
    }
}
