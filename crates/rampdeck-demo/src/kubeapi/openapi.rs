//! OpenAPI v3 for the served group-versions: the Gateway API's built from the gateway-api
//! CRD schemas, batch/v1 and core/v1 with open schemas (any field is accepted, none is
//! described). kubectl reads it before writing: a PATCH operation listing
//! `fieldValidation` tells it the server validates fields itself (otherwise `kubectl apply`
//! fails with "failed to download openapi"), and `kubectl explain` reads the schemas.
//! `/openapi/v2` stays 404, as kubectl only falls back to it when v3 is missing.

use std::sync::OnceLock;

use kube::CustomResourceExt;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use super::resource::{GroupVersion, Kind, BATCH_V1, CORE_V1, GATEWAY_V1, VERSION};

/// The served group-versions' documents, in `root` order.
const DOCUMENTS: [GroupVersion; 3] = [GATEWAY_V1, BATCH_V1, CORE_V1];

fn schema_name_of(kind: Kind, name: &str) -> String {
    match kind.group() {
        "" => format!("io.k8s.api.core.{VERSION}.{name}"),
        "batch" => format!("io.k8s.api.batch.{VERSION}.{name}"),
        _ => format!("io.k8s.networking.gateway.{VERSION}.{name}"),
    }
}

fn schema_name(kind: Kind) -> String {
    schema_name_of(kind, kind.kind())
}

fn gvk(kind: Kind, name: &str) -> Value {
    json!({"group": kind.group(), "version": VERSION, "kind": name})
}

/// The CRD's openAPIV3Schema for a Gateway API kind, or an open object for a built-in one,
/// tagged with its group-version-kind.
fn kind_schema(kind: Kind) -> Value {
    let crd = match kind {
        Kind::Gateway => Some(gateway_api::gateways::Gateway::crd()),
        Kind::HttpRoute => Some(gateway_api::httproutes::HttpRoute::crd()),
        _ => None,
    };
    let mut schema = crd
        .and_then(|crd| {
            crd.spec
                .versions
                .first()
                .and_then(|v| v.schema.as_ref())
                .and_then(|s| s.open_api_v3_schema.as_ref())
                .and_then(|s| serde_json::to_value(s).ok())
        })
        .unwrap_or_else(|| json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true}));
    schema["x-kubernetes-group-version-kind"] = json!([gvk(kind, kind.kind())]);
    schema
}

fn list_schema(kind: Kind) -> Value {
    json!({
        "type": "object",
        "required": ["items"],
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"type": "object"},
            "items": {"type": "array", "items": {"$ref": format!("#/components/schemas/{}", schema_name(kind))}},
        },
        "x-kubernetes-group-version-kind": [gvk(kind, &kind.list_kind())],
    })
}

fn query_param(name: &str) -> Value {
    json!({"name": name, "in": "query", "schema": {"type": "string", "uniqueItems": true}})
}

/// `GatewayNetworkingV1`, `BatchV1`, `CoreV1`: the group in operation ids.
fn id_group(kind: Kind) -> &'static str {
    match kind.group() {
        "" => "CoreV1",
        "batch" => "BatchV1",
        _ => "GatewayNetworkingV1",
    }
}

/// One operation; `write` adds the write options, `patch` the patch media types and `force`.
fn operation(kind: Kind, action: &str, id: &str, list: bool, write: bool, patch: bool) -> Value {
    let target = if list {
        kind.list_kind()
    } else {
        kind.kind().to_owned()
    };
    let reference =
        json!({"$ref": format!("#/components/schemas/{}", schema_name_of(kind, &target))});
    let mut params = Vec::new();
    if write {
        params.extend(["dryRun", "fieldManager", "fieldValidation"].map(query_param));
    }
    if patch {
        params.push(query_param("force"));
    }
    if list {
        params.extend(
            [
                "fieldSelector",
                "labelSelector",
                "resourceVersion",
                "timeoutSeconds",
                "watch",
            ]
            .map(query_param),
        );
    }
    let mut op = json!({
        "operationId": format!("{id}{}{}{}", id_group(kind), if list { "" } else { "Namespaced" }, target),
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": gvk(kind, kind.kind()),
        "parameters": params,
        "responses": {"200": {"description": "OK", "content": {"application/json": {"schema": reference}}}},
    });
    if patch {
        op["requestBody"] = json!({"content": {
            "application/merge-patch+json": {"schema": {"type": "object"}},
            "application/apply-patch+yaml": {"schema": {"type": "object"}},
        }, "required": true});
    } else if write {
        op["requestBody"] =
            json!({"content": {"application/json": {"schema": reference}}, "required": true});
    }
    op
}

fn build(gv: GroupVersion) -> Value {
    let mut paths = Map::new();
    let mut schemas = Map::new();
    let prefix = gv.path();
    for kind in gv.kinds() {
        let p = kind.plural();
        let collection = format!("/{prefix}/namespaces/{{namespace}}/{p}");
        paths.insert(
            collection.clone(),
            json!({
                "get": operation(kind, "list", "list", true, false, false),
                "post": operation(kind, "post", "create", false, true, false),
            }),
        );
        paths.insert(
            format!("{collection}/{{name}}"),
            json!({
                "get": operation(kind, "get", "read", false, false, false),
                "put": operation(kind, "put", "replace", false, true, false),
                "patch": operation(kind, "patch", "patch", false, true, true),
                "delete": operation(kind, "delete", "delete", false, false, false),
            }),
        );
        if kind.has_status() {
            paths.insert(
                format!("{collection}/{{name}}/status"),
                json!({
                    "get": operation(kind, "get", "read", false, false, false),
                    "put": operation(kind, "put", "replace", false, true, false),
                    "patch": operation(kind, "patch", "patch", false, true, true),
                }),
            );
        }
        paths.insert(
            format!("/{prefix}/{p}"),
            json!({"get": operation(kind, "list", "list", true, false, false)}),
        );
        schemas.insert(schema_name(kind), kind_schema(kind));
        schemas.insert(schema_name_of(kind, &kind.list_kind()), list_schema(kind));
    }
    json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes (rampdeck demo)", "version": format!("v{}.{}.0", super::discovery::MAJOR, super::discovery::MINOR)},
        "paths": paths,
        "components": {"schemas": schemas},
    })
}

/// Each group-version's document and its hash, built once.
fn documents() -> &'static [(GroupVersion, Value, String)] {
    static DOCS: OnceLock<Vec<(GroupVersion, Value, String)>> = OnceLock::new();
    DOCS.get_or_init(|| {
        DOCUMENTS
            .into_iter()
            .map(|gv| {
                let doc = build(gv);
                let hash = Sha256::digest(doc.to_string().as_bytes())
                    .iter()
                    .map(|b| format!("{b:02X}"))
                    .collect();
                (gv, doc, hash)
            })
            .collect()
    })
}

/// `/openapi/v3`: where each group-version's document is.
pub fn root() -> Value {
    let mut paths = Map::new();
    for (gv, _, hash) in documents() {
        paths.insert(
            gv.path(),
            json!({"serverRelativeURL": format!("/openapi/v3/{}?hash={hash}", gv.path())}),
        );
    }
    json!({"paths": paths})
}

/// `/openapi/v3/apis/{group}/v1` or `/openapi/v3/api/v1`
pub fn group_version(gv: GroupVersion) -> Option<&'static Value> {
    documents()
        .iter()
        .find(|(g, _, _)| *g == gv)
        .map(|(_, doc, _)| doc)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patch_operations_advertise_field_validation() {
        let doc = group_version(GATEWAY_V1).unwrap();
        let patch = &doc["paths"]
            ["/apis/gateway.networking.k8s.io/v1/namespaces/{namespace}/httproutes/{name}"]
            ["patch"];
        assert_eq!(
            patch["x-kubernetes-group-version-kind"]["kind"],
            "HTTPRoute"
        );
        assert!(patch["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"] == "fieldValidation"));
        let schema = &doc["components"]["schemas"]["io.k8s.networking.gateway.v1.HTTPRoute"];
        assert!(
            schema["properties"]["spec"]["properties"]["rules"].is_object(),
            "{schema}"
        );
        assert!(
            root()["paths"]["apis/gateway.networking.k8s.io/v1"]["serverRelativeURL"]
                .as_str()
                .unwrap()
                .contains("?hash=")
        );
        let batch = group_version(BATCH_V1).unwrap();
        let patch = &batch["paths"]["/apis/batch/v1/namespaces/{namespace}/jobs/{name}"]["patch"];
        assert_eq!(patch["x-kubernetes-group-version-kind"]["kind"], "Job");
        assert_eq!(patch["operationId"], "patchBatchV1NamespacedJob");
        assert!(root()["paths"]["api/v1"]["serverRelativeURL"]
            .as_str()
            .unwrap()
            .starts_with("/openapi/v3/api/v1?hash="));
    }
}
