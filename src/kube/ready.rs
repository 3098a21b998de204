//! Whether an object has reached a condition: a Deployment rolled out and Available, a Pod Ready, a Gateway Programmed, an HTTPRoute Accepted, any `status.conditions` type True.
//!
//! Pure functions of the object's JSON, so waits (setup, route actions) and
//! their tests share one definition, and a wait that times out can say what
//! it last saw.

use serde_json::Value;

/// What a wait saw in one look.
#[derive(Debug, Clone, PartialEq)]
pub struct Seen {
    pub met: bool,
    /// The object's state as an operator reads it: "Available=False
    /// (MinimumReplicasUnavailable), 0/3 updated", "not found".
    pub status: String,
}

/// The condition a kind is ready at, for `ready = true` (None: the kind has
/// no readiness of its own; it is ready once it exists).
pub fn default_condition(kind: &str) -> Option<&'static str> {
    Some(match kind {
        // StatefulSets and DaemonSets have no Available condition upstream.
        "Deployment" => "Available",
        "Pod" => "Ready",
        "Gateway" => "Programmed",
        "HTTPRoute" | "GRPCRoute" | "TLSRoute" | "TCPRoute" => "Accepted",
        "Job" => "Complete",
        _ => return None,
    })
}

/// Kinds a wait may name without applying one: (apiVersion, kind, resource).
pub const KNOWN_KINDS: [(&str, &str, &str); 11] = [
    ("apps/v1", "Deployment", "deployments.apps"),
    ("apps/v1", "StatefulSet", "statefulsets.apps"),
    ("apps/v1", "DaemonSet", "daemonsets.apps"),
    ("v1", "Pod", "pods"),
    ("v1", "Service", "services"),
    ("v1", "Secret", "secrets"),
    ("v1", "ConfigMap", "configmaps"),
    ("batch/v1", "Job", "jobs.batch"),
    (
        "gateway.networking.k8s.io/v1",
        "Gateway",
        "gateways.gateway.networking.k8s.io",
    ),
    (
        "gateway.networking.k8s.io/v1",
        "HTTPRoute",
        "httproutes.gateway.networking.k8s.io",
    ),
    (
        "gateway.networking.k8s.io/v1",
        "GRPCRoute",
        "grpcroutes.gateway.networking.k8s.io",
    ),
];

/// `kind` (any case) among `KNOWN_KINDS`.
pub fn known_kind(kind: &str) -> Option<(&'static str, &'static str, &'static str)> {
    KNOWN_KINDS
        .into_iter()
        .find(|k| k.1.eq_ignore_ascii_case(kind))
}

fn conditions(v: &Value) -> impl Iterator<Item = &Value> {
    v["conditions"].as_array().into_iter().flatten()
}

fn describe(c: &Value) -> String {
    let t = c["type"].as_str().unwrap_or("?");
    let s = c["status"].as_str().unwrap_or("?");
    match c["reason"].as_str().filter(|r| !r.is_empty()) {
        Some(r) => format!("{t}={s} ({r})"),
        None => format!("{t}={s}"),
    }
}

/// Whether `obj` (None: it does not exist) meets `condition` now.
///
/// - `"exists"`: the object is there.
/// - A Deployment at `Available` is as
///   `kubectl rollout status` sees it: the controller observed the current
///   generation, every replica is updated and available, and the Available
///   condition is True.
/// - Route kinds (`Accepted`, `ResolvedRefs`, ...) look in
///   `status.parents[*].conditions`, at the route's current generation; a
///   route with several parents must have it in every one.
/// - Otherwise: `status.conditions` holds `condition` with status True, at
///   the current generation where the condition says which it saw.
pub fn check(obj: Option<&Value>, condition: &str) -> Seen {
    let Some(obj) = obj else {
        return Seen {
            met: false,
            status: "not found".into(),
        };
    };
    if condition.eq_ignore_ascii_case("exists") {
        return Seen {
            met: true,
            status: "exists".into(),
        };
    }
    let kind = obj["kind"].as_str().unwrap_or("");
    let generation = obj["metadata"]["generation"].as_i64();
    let status = &obj["status"];
    let current = |observed: Option<i64>| match (generation, observed) {
        (Some(g), Some(o)) => o >= g,
        _ => true,
    };
    if status["parents"].is_array() {
        let parents: Vec<&Value> = status["parents"].as_array().into_iter().flatten().collect();
        if parents.is_empty() {
            return Seen {
                met: false,
                status: "no parent has reported status yet".into(),
            };
        }
        let mut seen = Vec::new();
        let mut met = true;
        for p in &parents {
            let c = conditions(p).find(|c| c["type"] == condition);
            let ok = c.is_some_and(|c| {
                c["status"] == "True" && current(c["observedGeneration"].as_i64())
            });
            met &= ok;
            seen.push(c.map_or_else(|| format!("no {condition} condition"), describe));
        }
        return Seen {
            met,
            status: seen.join("; "),
        };
    }
    let c = conditions(status).find(|c| c["type"] == condition);
    let cond_ok =
        c.is_some_and(|c| c["status"] == "True" && current(c["observedGeneration"].as_i64()));
    let mut text = c.map_or_else(|| format!("no {condition} condition yet"), describe);
    let mut met = cond_ok;
    if kind == "Deployment" && condition == "Available" {
        let want = obj["spec"]["replicas"].as_i64().unwrap_or(1);
        let n = |f: &str| status[f].as_i64().unwrap_or(0);
        let observed = current(status["observedGeneration"].as_i64())
            && status.get("observedGeneration").is_some();
        let rolled = n("updatedReplicas") >= want && n("availableReplicas") >= want;
        met = cond_ok && observed && rolled;
        text = format!(
            "{text}, {}/{want} updated, {}/{want} available{}",
            n("updatedReplicas"),
            n("availableReplicas"),
            if observed {
                ""
            } else {
                ", generation not yet observed"
            }
        );
    }
    Seen { met, status: text }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_deployment_is_available_once_its_generation_rolled_out() {
        let mut d = json!({
            "kind": "Deployment",
            "metadata": {"generation": 2},
            "spec": {"replicas": 3},
            "status": {
                "observedGeneration": 1, "updatedReplicas": 3, "availableReplicas": 3,
                "conditions": [{"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable"}],
            },
        });
        let s = check(Some(&d), "Available");
        assert!(!s.met, "generation 2 not observed: {s:?}");
        assert!(s.status.contains("generation not yet observed"), "{s:?}");
        d["status"]["observedGeneration"] = json!(2);
        d["status"]["updatedReplicas"] = json!(1);
        let s = check(Some(&d), "Available");
        assert!(!s.met);
        assert_eq!(
            s.status,
            "Available=True (MinimumReplicasAvailable), 1/3 updated, 3/3 available"
        );
        d["status"]["updatedReplicas"] = json!(3);
        assert!(check(Some(&d), "Available").met);
    }

    #[test]
    fn routes_are_accepted_by_every_parent_at_their_generation() {
        let r = |gen_seen: i64| {
            json!({
                "kind": "HTTPRoute",
                "metadata": {"generation": 3},
                "status": {"parents": [
                    {"conditions": [{"type": "Accepted", "status": "True", "observedGeneration": gen_seen}]},
                ]},
            })
        };
        assert!(!check(Some(&r(2)), "Accepted").met);
        assert!(check(Some(&r(3)), "Accepted").met);
        let none = json!({"kind": "HTTPRoute", "status": {"parents": []}});
        assert_eq!(
            check(Some(&none), "Accepted").status,
            "no parent has reported status yet"
        );
    }

    #[test]
    fn plain_conditions_and_existence() {
        let pod = json!({"kind": "Pod", "status": {"conditions": [{"type": "Ready", "status": "False", "reason": "ContainersNotReady"}]}});
        let s = check(Some(&pod), "Ready");
        assert_eq!(
            (s.met, s.status.as_str()),
            (false, "Ready=False (ContainersNotReady)")
        );
        assert!(check(Some(&pod), "exists").met);
        assert_eq!(check(None, "Ready").status, "not found");
        assert_eq!(default_condition("Gateway"), Some("Programmed"));
        assert_eq!(default_condition("ConfigMap"), None);
    }
}
