//! PATCH: JSON merge patch (RFC 7386) and a simplified server-side apply. Apply creates the
//! object if absent, otherwise merges labels and annotations and replaces the whole spec (or
//! status) with the applied one; field ownership is tracked per top-level field (spec,
//! status) in managedFields, so an apply that changes a field another manager owns is a
//! conflict unless forced.

use serde_json::{Map, Value};

use super::error::{ApiError, FieldError};
use super::ops::{check_precondition, not_found, scoped, WriteOptions};
use super::store::{
    other_owners, owned_field, Change, Committed, Key, Operation, Store, Subresource,
};
use super::validate;

pub const MERGE_PATCH: &str = "application/merge-patch+json";
pub const APPLY_PATCH: &str = "application/apply-patch+yaml";
const JSON_PATCH: &str = "application/json-patch+json";
const STRATEGIC_MERGE_PATCH: &str = "application/strategic-merge-patch+json";

/// RFC 7386: objects merge recursively, null deletes, anything else replaces.
pub fn merge(target: &mut Value, patch: &Value) {
    match patch {
        Value::Object(p) => {
            if !target.is_object() {
                *target = Value::Object(Map::new());
            }
            if let Value::Object(t) = target {
                for (k, v) in p {
                    if v.is_null() {
                        t.remove(k);
                    } else {
                        merge(t.entry(k.clone()).or_insert(Value::Null), v);
                    }
                }
            }
        }
        other => *target = other.clone(),
    }
}

/// A PATCH request to an object or its status.
pub struct PatchRequest<'a> {
    pub content_type: &'a str,
    pub body: &'a [u8],
    /// `fieldManager`, when the client gave one (apply requires it).
    pub field_manager: Option<&'a str>,
    pub force: bool,
}

pub fn patch(
    store: &Store,
    key: &Key,
    sub: Subresource,
    req: &PatchRequest<'_>,
    opts: &WriteOptions,
) -> Result<Committed, ApiError> {
    let media = req
        .content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match media.as_str() {
        MERGE_PATCH => merge_patch(store, key, sub, req.body, opts),
        APPLY_PATCH => apply(store, key, sub, req, opts),
        JSON_PATCH | STRATEGIC_MERGE_PATCH => Err(ApiError::UnsupportedMediaType(format!(
            "the demo API server does not support {media} patches; use {MERGE_PATCH} or {APPLY_PATCH} (server-side apply)"
        ))),
        other => Err(ApiError::UnsupportedMediaType(format!(
            "the body of the request was in an unknown format ({}) - accepted media types include: {MERGE_PATCH}, {APPLY_PATCH}",
            if other.is_empty() { "no Content-Type" } else { other }
        ))),
    }
}

fn parse(body: &[u8], what: &str) -> Result<Value, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::BadRequest(format!("error decoding {what} body as JSON: {e}")))
}

fn merge_patch(
    store: &Store,
    key: &Key,
    sub: Subresource,
    body: &[u8],
    opts: &WriteOptions,
) -> Result<Committed, ApiError> {
    let patch = parse(body, "merge patch")?;
    if !patch.is_object() {
        return Err(ApiError::BadRequest(
            "a merge patch must be a JSON object".to_owned(),
        ));
    }
    store.write(key, opts.writer(Operation::Update, sub), |cur| {
        let cur = cur.ok_or_else(|| not_found(key))?;
        check_precondition(key, &patch, cur, false)?;
        let mut merged = cur.clone();
        merge(&mut merged, &patch);
        validate::check_type(key.kind, &merged)?;
        validate::check_identity(&merged, &key.namespace, Some(&key.name))?;
        let mut new = scoped(cur, merged, sub);
        opts.admit_update(key.kind, &key.name, cur, &mut new)?;
        Ok(Change::Put(new))
    })
}

fn apply(
    store: &Store,
    key: &Key,
    sub: Subresource,
    req: &PatchRequest<'_>,
    opts: &WriteOptions,
) -> Result<Committed, ApiError> {
    // The handler already made `fieldManager` the writer's manager; apply just requires it.
    let Some(manager) = req.field_manager.filter(|m| !m.is_empty()) else {
        return Err(ApiError::InvalidOptions {
            what: "PatchOptions.meta.k8s.io \"\"",
            error: FieldError::required("fieldManager", "is required for apply patch"),
        });
    };
    // kubectl and kube-rs send apply bodies as JSON (which is YAML too); the demo parses JSON.
    let applied = serde_json::from_slice::<Value>(req.body).map_err(|e| {
        ApiError::BadRequest(format!(
            "the demo API server reads apply patches as JSON (as kubectl and kube-rs send them); this body is not JSON: {e}"
        ))
    })?;
    validate::check_type(key.kind, &applied)?;
    validate::check_identity(&applied, &key.namespace, Some(&key.name))?;
    let field = owned_field(sub);
    store.write(key, opts.writer(Operation::Apply, sub), |cur| {
        let Some(cur) = cur else {
            if sub == Subresource::Status {
                return Err(not_found(key));
            }
            let mut new = applied.clone();
            if let Some(m) = new.as_object_mut() {
                m.remove("status");
            }
            opts.admit(key.kind, &key.name, &mut new)?;
            return Ok(Change::Put(new));
        };
        check_precondition(key, &applied, cur, false)?;
        // A built-in object's applied field is merged into the stored one (with the server's
        // defaults, generated selector and labels kept), not put in its place.
        let builtin_merged = key.kind.builtin().then(|| {
            let mut merged = cur.clone();
            merge_applied(&mut merged, &applied, field);
            super::builtin::default(key.kind, &mut merged);
            merged
        });
        let changes = match &builtin_merged {
            Some(m) => m.get(field) != cur.get(field),
            None => applied
                .get(field)
                .is_some_and(|v| Some(v) != cur.get(field)),
        };
        if changes && !req.force {
            let owners = other_owners(cur, field, manager);
            if !owners.is_empty() {
                return Err(ApiError::ApplyConflict {
                    kind: key.kind,
                    name: key.name.clone(),
                    conflicts: owners
                        .iter()
                        .map(|o| {
                            format!(
                                "conflict with \"{o}\" using {}: .{field}",
                                key.kind.api_version()
                            )
                        })
                        .collect(),
                });
            }
        }
        let mut new = cur.clone();
        if sub == Subresource::Main {
            for map in ["labels", "annotations"] {
                if let Some(Value::Object(add)) = applied["metadata"].get(map) {
                    let meta = &mut new["metadata"];
                    if !meta[map].is_object() {
                        meta[map] = Value::Object(Map::new());
                    }
                    for (k, v) in add {
                        meta[map][k] = v.clone();
                    }
                }
            }
        }
        match &builtin_merged {
            Some(m) => {
                if let Some(v) = m.get(field) {
                    new[field] = v.clone();
                }
                if sub == Subresource::Main && key.kind == super::resource::Kind::Secret {
                    for f in ["data", "type", "immutable"] {
                        if let Some(v) = m.get(f) {
                            new[f] = v.clone();
                        }
                    }
                }
            }
            None => {
                if let Some(v) = applied.get(field) {
                    new[field] = v.clone();
                }
            }
        }
        opts.admit_update(key.kind, &key.name, cur, &mut new)?;
        Ok(Change::Put(new))
    })
}

/// `applied`'s `field` (and, for a Secret, its data) merged into `target` as a merge patch
/// would: maps merge, lists are replaced.
fn merge_applied(target: &mut Value, applied: &Value, field: &str) {
    for f in [field, "data", "stringData", "type", "immutable"] {
        if let Some(v) = applied.get(f) {
            if f == field || target["kind"] == "Secret" {
                merge(&mut target[f], v);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::merge;
    use serde_json::json;

    #[test]
    fn rfc7386_examples() {
        let mut t = json!({"a": "b", "c": {"d": "e", "f": "g"}});
        merge(&mut t, &json!({"a": "z", "c": {"f": null}}));
        assert_eq!(t, json!({"a": "z", "c": {"d": "e"}}));
        let mut t = json!({"a": [1, 2]});
        merge(&mut t, &json!({"a": [3]}));
        assert_eq!(t, json!({"a": [3]}));
        let mut t = json!("x");
        merge(&mut t, &json!({"a": {"b": null, "c": 1}}));
        assert_eq!(t, json!({"a": {"c": 1}}));
    }
}
