//! A simulated Deployment controller: each new generation of a Deployment rolls out and
//! becomes Available `KubeSim::deployment_ready` after it was written, with the status a
//! real controller writes (observedGeneration, replica counts, Available and Progressing).
//!
//! No ReplicaSets or Pods are made: the demo has no images to run. What a test's setup
//! waits for (the rollout of the generation it applied) is what this simulates.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::core;
use super::ops;
use super::resource::Kind;
use super::resync::Resync;
use super::store::{self, Change, Key, Operation, Store, Subresource, Writer};

const KINDS: &[Kind] = &[Kind::Deployment];
const MANAGER: &str = "deployment-controller";

pub struct RolloutController {
    store: Arc<Store>,
    delay: Duration,
    /// uid -> (generation, when this controller first saw it).
    seen: HashMap<String, (i64, Instant)>,
}

impl RolloutController {
    pub fn new(store: Arc<Store>, delay: Duration) -> Self {
        RolloutController {
            store,
            delay,
            seen: HashMap::new(),
        }
    }

    pub async fn run(mut self, cancel: CancellationToken) {
        let mut resync = Resync::new(&self.store, KINDS);
        loop {
            let wake = self.pass(Instant::now());
            if !resync.wait(wake, &cancel).await {
                return;
            }
        }
    }

    /// One look at every Deployment; returns when the next rollout completes.
    pub fn pass(&mut self, now: Instant) -> Option<Instant> {
        let mut wake: Option<Instant> = None;
        let mut live = Vec::new();
        for d in self.store.list(Kind::Deployment, None).1 {
            let uid = core::uid(&d).to_owned();
            let generation = d["metadata"]["generation"].as_i64().unwrap_or(1);
            live.push(uid.clone());
            let since = match self.seen.get(&uid) {
                Some(&(g, t)) if g == generation => t,
                _ => {
                    self.seen.insert(uid.clone(), (generation, now));
                    now
                }
            };
            let done_at = since + self.delay;
            let ready = now >= done_at;
            let status = status(&d, generation, ready);
            if d["status"] != status {
                self.write_status(&d, &uid, status);
            }
            if !ready {
                wake = Some(wake.map_or(done_at, |w: Instant| w.min(done_at)));
            }
        }
        self.seen.retain(|uid, _| live.contains(uid));
        wake
    }

    fn write_status(&self, d: &Value, uid: &str, status: Value) {
        let key = Key::new(
            Kind::Deployment,
            d["metadata"]["namespace"].as_str().unwrap_or(""),
            d["metadata"]["name"].as_str().unwrap_or(""),
        );
        let writer = Writer {
            manager: MANAGER,
            operation: Operation::Update,
            subresource: Subresource::Status,
            dry_run: false,
        };
        // A Deployment deleted meanwhile needs no status.
        let _ = self.store.write(&key, writer, |cur| {
            let cur = cur
                .filter(|c| core::uid(c) == uid)
                .ok_or_else(|| ops::not_found(&key))?;
            let mut new = cur.clone();
            new["status"] = status;
            Ok(Change::Put(new))
        });
    }
}

/// The status of `d` at `generation`: rolling out, or rolled out.
pub fn status(d: &Value, generation: i64, ready: bool) -> Value {
    let replicas = d["spec"]["replicas"].as_i64().unwrap_or(1);
    // Available stays as it was while a later generation rolls out (the
    // old replicas still serve); a new Deployment is unavailable until ready.
    let was_available = d["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|c| c["type"] == "Available" && c["status"] == "True");
    let available = ready || was_available;
    let now = store::now_rfc3339();
    let condition = |kind: &str, on: bool, reason: &str, message: String| {
        json!({
            "type": kind,
            "status": if on { "True" } else { "False" },
            "reason": reason,
            "message": message,
            "lastUpdateTime": now,
            "lastTransitionTime": now,
        })
    };
    let name = d["metadata"]["name"].as_str().unwrap_or("");
    let updated = if ready { replicas } else { 0 };
    let counted = if available { replicas } else { 0 };
    json!({
        "observedGeneration": generation,
        "replicas": replicas,
        "updatedReplicas": updated,
        "readyReplicas": counted,
        "availableReplicas": counted,
        "conditions": [
            if available {
                condition("Available", true, "MinimumReplicasAvailable", "Deployment has minimum availability.".into())
            } else {
                condition("Available", false, "MinimumReplicasUnavailable", "Deployment does not have minimum availability.".into())
            },
            if ready {
                condition("Progressing", true, "NewReplicaSetAvailable", format!("ReplicaSet \"{name}\" has successfully progressed."))
            } else {
                condition("Progressing", true, "ReplicaSetUpdated", format!("ReplicaSet \"{name}\" is progressing."))
            },
        ],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_deployment_is_unavailable_until_its_rollout_is_done() {
        let d = json!({"metadata": {"name": "web"}, "spec": {"replicas": 3}});
        let s = status(&d, 1, false);
        assert_eq!(s["conditions"][0]["status"], "False");
        assert_eq!(s["updatedReplicas"], 0);
        let s = status(&d, 1, true);
        assert_eq!(s["conditions"][0]["status"], "True");
        assert_eq!(s["availableReplicas"], 3);
        assert_eq!(s["updatedReplicas"], 3);
        assert_eq!(s["observedGeneration"], 1);
    }

    #[test]
    fn a_new_generation_keeps_availability_but_not_its_updated_replicas() {
        let mut d = json!({"metadata": {"name": "web"}, "spec": {"replicas": 2}});
        d["status"] = status(&d, 1, true);
        let s = status(&d, 2, false);
        assert_eq!(s["conditions"][0]["status"], "True");
        assert_eq!(s["updatedReplicas"], 0);
        assert_eq!(s["observedGeneration"], 2);
    }
}
