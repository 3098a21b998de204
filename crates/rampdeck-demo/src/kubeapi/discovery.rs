//! Legacy (unaggregated) discovery documents: /version, /api, /api/v1 (namespaces, read
//! only, and pods with their status, log and portforward subresources, and secrets), /apis
//! and its groups (gateway.networking.k8s.io and batch). kubectl asks for aggregated
//! discovery first and falls back to these when the answer is plain JSON.

use serde_json::{json, Value};

use super::resource::{GroupVersion, Kind, CORE_V1, NAMED_GROUPS, VERSION};

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

const ALL_VERBS: [&str; 8] = [
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];

fn resource(kind: Kind) -> Value {
    json!({
        "name": kind.plural(),
        "singularName": kind.singular(),
        "namespaced": true,
        "kind": kind.kind(),
        "verbs": ALL_VERBS,
        "shortNames": kind.short_names(),
        "categories": kind.categories(),
    })
}

fn subresource(kind: Kind, sub: &str, sub_kind: &str, verbs: &[&str]) -> Value {
    json!({
        "name": format!("{}/{sub}", kind.plural()),
        "singularName": "",
        "namespaced": true,
        "kind": sub_kind,
        "verbs": verbs,
    })
}

/// The resources (and subresources) of a group-version.
fn resource_list(gv: GroupVersion) -> Vec<Value> {
    let mut list = Vec::new();
    if gv == CORE_V1 {
        list.push(json!({
            "name": "namespaces",
            "singularName": "namespace",
            "namespaced": false,
            "kind": "Namespace",
            "verbs": ["get", "list"],
            "shortNames": ["ns"],
        }));
    }
    for kind in gv.kinds() {
        list.push(resource(kind));
        match kind {
            k if !k.has_status() => {}
            Kind::Pod => {
                list.push(subresource(kind, "log", "Pod", &["get"]));
                list.push(subresource(
                    kind,
                    "portforward",
                    "PodPortForwardOptions",
                    &["create", "get"],
                ));
                list.push(subresource(
                    kind,
                    "status",
                    "Pod",
                    &["get", "patch", "update"],
                ));
            }
            _ => list.push(subresource(
                kind,
                "status",
                kind.kind(),
                &["get", "patch", "update"],
            )),
        }
    }
    list
}

/// `/api/v1`
pub fn core_resources() -> Value {
    json!({
        "kind": "APIResourceList",
        "groupVersion": "v1",
        "resources": resource_list(CORE_V1),
    })
}

fn group_body(gv: GroupVersion) -> Value {
    let version = json!({"groupVersion": gv.api_version(), "version": VERSION});
    json!({
        "name": gv.group,
        "versions": [version.clone()],
        "preferredVersion": version,
    })
}

/// `/apis`
pub fn groups() -> Value {
    let groups: Vec<Value> = NAMED_GROUPS.into_iter().map(group_body).collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

/// `/apis/{group}`
pub fn group(gv: GroupVersion) -> Value {
    let mut g = group_body(gv);
    g["kind"] = json!("APIGroup");
    g["apiVersion"] = json!("v1");
    g
}

/// `/apis/{group}/v1`
pub fn resources(gv: GroupVersion) -> Value {
    json!({
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": gv.api_version(),
        "resources": resource_list(gv),
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
