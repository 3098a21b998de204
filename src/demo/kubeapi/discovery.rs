//! Legacy (unaggregated) discovery documents: /version, /api, /api/v1, /apis and the
//! gateway.networking.k8s.io group, plus the read-only namespaces of core v1. kubectl asks
//! for aggregated discovery first and falls back to these when the answer is plain JSON.

use serde_json::{json, Value};

use super::resource::{Kind, API_VERSION, GROUP, VERSION};

/// The Kubernetes version the demo claims; kubectl 1.31 to 1.33 talk to it without a skew warning.
pub const MAJOR: &str = "1";
pub const MINOR: &str = "32";

pub fn version() -> Value {
    json!({
        "major": MAJOR,
        "minor": MINOR,
        "gitVersion": format!("v{MAJOR}.{MINOR}.0-rampdeck-demo"),
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2025-01-01T00:00:00Z",
        "goVersion": "go1.23.0",
        "compiler": "gc",
        "platform": format!("{}/{}", std::env::consts::OS, go_arch()),
    })
}

fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

/// `/api`: the core group's versions.
pub fn core_versions(server: &str) -> Value {
    json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server}],
    })
}

/// `/api/v1`: only namespaces are served from the core group.
pub fn core_resources() -> Value {
    json!({
        "kind": "APIResourceList",
        "groupVersion": "v1",
        "resources": [{
            "name": "namespaces",
            "singularName": "namespace",
            "namespaced": false,
            "kind": "Namespace",
            "verbs": ["get", "list"],
            "shortNames": ["ns"],
        }],
    })
}

fn group_body() -> Value {
    let version = json!({"groupVersion": API_VERSION, "version": VERSION});
    json!({
        "name": GROUP,
        "versions": [version.clone()],
        "preferredVersion": version,
    })
}

/// `/apis`
pub fn groups() -> Value {
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": [group_body()]})
}

/// `/apis/gateway.networking.k8s.io`
pub fn group() -> Value {
    let mut g = group_body();
    g["kind"] = json!("APIGroup");
    g["apiVersion"] = json!("v1");
    g
}

/// `/apis/gateway.networking.k8s.io/v1`
pub fn resources() -> Value {
    let mut list = Vec::new();
    for kind in Kind::ALL {
        list.push(json!({
            "name": kind.plural(),
            "singularName": kind.singular(),
            "namespaced": true,
            "kind": kind.kind(),
            "verbs": ["delete", "deletecollection", "get", "list", "patch", "create", "update", "watch"],
            "shortNames": kind.short_names(),
            "categories": ["gateway-api"],
        }));
        list.push(json!({
            "name": format!("{}/status", kind.plural()),
            "singularName": "",
            "namespaced": true,
            "kind": kind.kind(),
            "verbs": ["get", "patch", "update"],
        }));
    }
    json!({
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": API_VERSION,
        "resources": list,
    })
}

/// A namespace as `kubectl get ns` shows it: every namespace exists, is Active, and was
/// created when the demo started.
pub fn namespace(name: &str, created: &str) -> Value {
    json!({
        "kind": "Namespace",
        "apiVersion": "v1",
        "metadata": {
            "name": name,
            "labels": {"kubernetes.io/metadata.name": name},
            "creationTimestamp": created,
        },
        "spec": {"finalizers": ["kubernetes"]},
        "status": {"phase": "Active"},
    })
}

pub fn namespace_list(names: &[String], created: &str, resource_version: u64) -> Value {
    json!({
        "kind": "NamespaceList",
        "apiVersion": "v1",
        "metadata": {"resourceVersion": resource_version.to_string()},
        "items": names.iter().map(|n| namespace(n, created)).collect::<Vec<_>>(),
    })
}
