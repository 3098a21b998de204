//! OpenAPI v3 for the served group, built from the gateway-api CRD schemas. kubectl reads it
//! before writing: a PATCH operation listing `fieldValidation` tells it the server validates
//! fields itself (otherwise `kubectl apply` fails with "failed to download openapi"), and
//! `kubectl explain` reads the schemas. `/openapi/v2` stays 404, as kubectl only falls back
//! to it when v3 is missing.

use std::sync::OnceLock;

use kube::CustomResourceExt;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use super::resource::{Kind, API_VERSION, GROUP, VERSION};

/// Path of the group-version document, relative to the server.
pub const GROUP_VERSION_PATH: &str = "/openapi/v3/apis/gateway.networking.k8s.io/v1";

fn schema_name(kind: Kind) -> String {
    format!("io.k8s.networking.gateway.{VERSION}.{}", kind.kind())
}

fn gvk(kind: Kind) -> Value {
    json!({"group": GROUP, "version": VERSION, "kind": kind.kind()})
}

/// The CRD's openAPIV3Schema for `kind`, tagged with its group-version-kind.
fn kind_schema(kind: Kind) -> Value {
    let crd = match kind {
        Kind::Gateway => gateway_api::gateways::Gateway::crd(),
        Kind::HttpRoute => gateway_api::httproutes::HttpRoute::crd(),
    };
    let mut schema = crd
        .spec
        .versions
        .first()
        .and_then(|v| v.schema.as_ref())
        .and_then(|s| s.open_api_v3_schema.as_ref())
        .and_then(|s| serde_json::to_value(s).ok())
        .unwrap_or_else(|| json!({"type": "object"}));
    schema["x-kubernetes-group-version-kind"] = json!([gvk(kind)]);
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
        "x-kubernetes-group-version-kind": [{"group": GROUP, "version": VERSION, "kind": kind.list_kind()}],
    })
}

fn query_param(name: &str) -> Value {
    json!({"name": name, "in": "query", "schema": {"type": "string", "uniqueItems": true}})
}

/// One operation; `write` adds the write options, `patch` the patch media types and `force`.
fn operation(kind: Kind, action: &str, id: &str, list: bool, write: bool, patch: bool) -> Value {
    let target = if list {
        kind.list_kind().to_owned()
    } else {
        kind.kind().to_owned()
    };
    let reference = json!({"$ref": format!(
        "#/components/schemas/{}",
        if list { format!("io.k8s.networking.gateway.{VERSION}.{target}") } else { schema_name(kind) }
    )});
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
        "operationId": format!("{id}GatewayNetworkingV1{}{}", if list { "" } else { "Namespaced" }, target),
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": gvk(kind),
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

fn build() -> Value {
    let mut paths = Map::new();
    let mut schemas = Map::new();
    for kind in Kind::ALL {
        let p = kind.plural();
        let collection = format!("/apis/{API_VERSION}/namespaces/{{namespace}}/{p}");
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
        paths.insert(
            format!("{collection}/{{name}}/status"),
            json!({
                "get": operation(kind, "get", "read", false, false, false),
                "put": operation(kind, "put", "replace", false, true, false),
                "patch": operation(kind, "patch", "patch", false, true, true),
            }),
        );
        paths.insert(
            format!("/apis/{API_VERSION}/{p}"),
            json!({"get": operation(kind, "list", "list", true, false, false)}),
        );
        schemas.insert(schema_name(kind), kind_schema(kind));
        schemas.insert(
            format!("io.k8s.networking.gateway.{VERSION}.{}", kind.list_kind()),
            list_schema(kind),
        );
    }
    json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes (rampdeck demo)", "version": format!("v{}.{}.0", super::discovery::MAJOR, super::discovery::MINOR)},
        "paths": paths,
        "components": {"schemas": schemas},
    })
}

/// The group-version document and its hash, built once.
fn document() -> &'static (Value, String) {
    static DOC: OnceLock<(Value, String)> = OnceLock::new();
    DOC.get_or_init(|| {
        let doc = build();
        let hash = Sha256::digest(doc.to_string().as_bytes())
            .iter()
            .map(|b| format!("{b:02X}"))
            .collect();
        (doc, hash)
    })
}

/// `/openapi/v3`: where each group-version's document is.
pub fn root() -> Value {
    let hash = &document().1;
    json!({"paths": {
        format!("apis/{API_VERSION}"): {"serverRelativeURL": format!("{GROUP_VERSION_PATH}?hash={hash}")},
    }})
}

/// `/openapi/v3/apis/gateway.networking.k8s.io/v1`
pub fn group_version() -> &'static Value {
    &document().0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patch_operations_advertise_field_validation() {
        let doc = group_version();
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
    }
}
