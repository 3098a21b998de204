//! Admission checks the API server and the Gateway API CRD schemas apply: object identity
//! (apiVersion, kind, name, namespace), DNS-1123 names, decoding as the typed `gateway_api`
//! structs (reporting the failing field path the way kube-apiserver does), and pruning of
//! unknown fields under the `fieldValidation` directive. The built-in kinds' own rules are
//! in `builtin`; their unknown fields are kept.

use serde::de::DeserializeOwned;
use serde_json::Value;

use super::error::{ApiError, FieldError};
use super::resource::Kind;

const DNS1123_SUBDOMAIN: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";

/// DNS-1123 subdomain: at most 253 characters of dot-separated lowercase labels.
pub fn is_dns1123_subdomain(s: &str) -> bool {
    !s.is_empty() && s.len() <= 253 && s.split('.').all(is_dns1123_label_loose)
}

/// DNS-1123 label: at most 63 lowercase alphanumerics and '-', alphanumeric at both ends.
pub fn is_dns1123_label(s: &str) -> bool {
    s.len() <= 63 && is_dns1123_label_loose(s)
}

/// A label of a subdomain: lowercase alphanumerics and '-', alphanumeric at both ends.
fn is_dns1123_label_loose(l: &str) -> bool {
    let b = l.as_bytes();
    let alnum = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    !b.is_empty()
        && b.iter().all(|c| alnum(c) || *c == b'-')
        && b.first().is_some_and(alnum)
        && b.last().is_some_and(alnum)
}

/// Checks the body's apiVersion and kind against the path, as the server's decoder does.
pub fn check_type(kind: Kind, obj: &Value) -> Result<(), ApiError> {
    if !obj.is_object() {
        return Err(ApiError::BadRequest(
            "the body of the request must be a JSON object".to_owned(),
        ));
    }
    let api_version = obj.get("apiVersion").and_then(Value::as_str);
    let k = obj.get("kind").and_then(Value::as_str);
    match (api_version, k) {
        (None, _) | (Some(""), _) => Err(ApiError::BadRequest(
            "Object 'apiVersion' is missing in the request body".to_owned(),
        )),
        (_, None) | (_, Some("")) => Err(ApiError::BadRequest(
            "Object 'Kind' is missing in the request body".to_owned(),
        )),
        (Some(v), Some(k)) if v != kind.api_version() || k != kind.kind() => {
            Err(ApiError::BadRequest(format!(
                "the API version in the data ({v}) does not match the expected API version ({}), or the kind ({k}) is not {}",
                kind.api_version(),
                kind.kind()
            )))
        }
        _ => Ok(()),
    }
}

/// Checks `metadata.namespace` and `metadata.name` of a body against the URL's.
pub fn check_identity(
    obj: &Value,
    namespace: &str,
    url_name: Option<&str>,
) -> Result<(), ApiError> {
    if let Some(ns) = obj["metadata"]["namespace"].as_str() {
        if !ns.is_empty() && ns != namespace {
            return Err(ApiError::BadRequest(
                "the namespace of the provided object does not match the namespace sent on the request"
                    .to_owned(),
            ));
        }
    }
    if let (Some(url), Some(body)) = (url_name, obj["metadata"]["name"].as_str()) {
        if !body.is_empty() && body != url {
            return Err(ApiError::BadRequest(format!(
                "the name of the object ({body}) does not match the name on the URL ({url})"
            )));
        }
    }
    Ok(())
}

/// Everything the server checks on an object about to be stored.
pub fn check_object(kind: Kind, name: &str, obj: &Value) -> Result<(), ApiError> {
    let invalid = |errors| ApiError::Invalid {
        kind,
        name: name.to_owned(),
        errors,
    };
    if !is_dns1123_subdomain(name) {
        return Err(invalid(vec![FieldError::invalid(
            "metadata.name",
            &Value::String(name.to_owned()),
            DNS1123_SUBDOMAIN,
        )]));
    }
    if let Some(labels) = obj["metadata"].get("labels") {
        if !labels.is_null()
            && !labels
                .as_object()
                .is_some_and(|m| m.values().all(Value::is_string))
        {
            return Err(invalid(vec![FieldError::invalid(
                "metadata.labels",
                labels,
                "labels must be a map of strings",
            )]));
        }
    }
    let errors = match kind {
        Kind::HttpRoute => decode::<gateway_api::httproutes::HttpRoute>(obj)
            .err()
            .map_or_else(|| httproute_rules(obj), |e| vec![e]),
        Kind::Gateway => decode::<gateway_api::gateways::Gateway>(obj)
            .err()
            .map_or_else(|| gateway_rules(obj), |e| vec![e]),
        _ => super::builtin::check(kind, name, obj),
    };
    if errors.is_empty() {
        Ok(())
    } else {
        Err(invalid(errors))
    }
}

/// A few of the CEL and pattern rules of the HTTPRoute CRD that catch common mistakes.
fn httproute_rules(obj: &Value) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let spec = &obj["spec"];
    for (i, h) in spec["hostnames"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        let ok = h.as_str().is_some_and(|h| {
            let rest = h.strip_prefix("*.").unwrap_or(h);
            is_dns1123_subdomain(rest) && rest.parse::<std::net::Ipv4Addr>().is_err()
        });
        if !ok {
            errors.push(FieldError::invalid(
                format!("spec.hostnames[{i}]"),
                h,
                "must be a lowercase RFC 1123 hostname, optionally prefixed by a '*.' wildcard label, and not an IP address",
            ));
        }
    }
    for (r, rule) in spec["rules"].as_array().into_iter().flatten().enumerate() {
        for (m, mat) in rule["matches"].as_array().into_iter().flatten().enumerate() {
            let path = &mat["path"];
            let exact_or_prefix =
                matches!(path["type"].as_str(), None | Some("Exact" | "PathPrefix"));
            if let Some(v) = path["value"].as_str() {
                if exact_or_prefix && !v.starts_with('/') {
                    errors.push(FieldError::invalid(
                        format!("spec.rules[{r}].matches[{m}].path"),
                        path,
                        "value must be an absolute path and start with '/' when type one of ['Exact', 'PathPrefix']",
                    ));
                }
            }
        }
        for (b, backend) in rule["backendRefs"]
            .as_array()
            .into_iter()
            .flatten()
            .enumerate()
        {
            if let Some(w) = backend["weight"].as_i64() {
                if !(0..=1_000_000).contains(&w) {
                    errors.push(FieldError::invalid(
                        format!("spec.rules[{r}].backendRefs[{b}].weight"),
                        &backend["weight"],
                        "should be between 0 and 1000000",
                    ));
                }
            }
        }
    }
    errors
}

fn gateway_rules(obj: &Value) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let listeners = obj["spec"]["listeners"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if listeners.is_empty() {
        errors.push(FieldError::required(
            "spec.listeners",
            "a Gateway needs at least one listener",
        ));
    }
    let mut names = std::collections::HashSet::new();
    for (i, l) in listeners.iter().enumerate() {
        if let Some(name) = l["name"].as_str() {
            if !names.insert(name) {
                errors.push(FieldError::invalid(
                    format!("spec.listeners[{i}].name"),
                    &l["name"],
                    "Listener name must be unique within the Gateway",
                ));
            }
        }
        if let Some(port) = l["port"].as_i64() {
            if !(1..=65535).contains(&port) {
                errors.push(FieldError::invalid(
                    format!("spec.listeners[{i}].port"),
                    &l["port"],
                    "should be between 1 and 65535",
                ));
            }
        }
    }
    errors
}

/// What to do with unknown fields (`fieldValidation`); they are pruned in every case, as
/// for CRDs with structural schemas.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FieldValidation {
    /// Reject the request.
    Strict,
    /// Accept it with a `Warning` header per field (the server's default).
    #[default]
    Warn,
    Ignore,
}

impl FieldValidation {
    pub fn parse(raw: Option<&str>) -> Result<Self, ApiError> {
        match raw {
            None | Some("") | Some("Warn") => Ok(FieldValidation::Warn),
            Some("Strict") => Ok(FieldValidation::Strict),
            Some("Ignore") => Ok(FieldValidation::Ignore),
            Some(other) => Err(ApiError::BadRequest(format!(
                "fieldValidation: Unsupported value: {other:?}: supported values: \"Ignore\", \"Strict\", \"Warn\""
            ))),
        }
    }
}

/// Removes the fields of `obj` that `kind`'s schema does not know and returns their paths.
/// `obj` must already decode (see `check_object`).
pub fn prune(kind: Kind, obj: &mut Value) -> Vec<String> {
    let known = match kind {
        Kind::HttpRoute => decode::<gateway_api::httproutes::HttpRoute>(obj)
            .ok()
            .and_then(|t| serde_json::to_value(t).ok()),
        Kind::Gateway => decode::<gateway_api::gateways::Gateway>(obj)
            .ok()
            .and_then(|t| serde_json::to_value(t).ok()),
        // Built-in types keep unknown fields here: no schema to prune by.
        _ => None,
    };
    let Some(known) = known else {
        return Vec::new();
    };
    let mut unknown = Vec::new();
    unknown_fields(obj, &known, "", "", &mut unknown);
    for (_, pointer) in &unknown {
        if let Some((parent, key)) = pointer.rsplit_once('/') {
            let key = key.replace("~1", "/").replace("~0", "~");
            if let Some(m) = obj.pointer_mut(parent).and_then(Value::as_object_mut) {
                m.remove(&key);
            }
        }
    }
    unknown.into_iter().map(|(path, _)| path).collect()
}

/// Keys present in `input` but dropped by a typed round trip (`known`): (path, JSON pointer).
fn unknown_fields(
    input: &Value,
    known: &Value,
    path: &str,
    pointer: &str,
    out: &mut Vec<(String, String)>,
) {
    match (input, known) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in a {
                let child_path = join(path, k);
                let child_pointer =
                    format!("{pointer}/{}", k.replace('~', "~0").replace('/', "~1"));
                match b.get(k) {
                    // Null is how clients say "unset"; the round trip drops it.
                    None if v.is_null() => {}
                    None => out.push((child_path, child_pointer)),
                    Some(kv) => unknown_fields(v, kv, &child_path, &child_pointer, out),
                }
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                unknown_fields(
                    x,
                    y,
                    &format!("{path}[{i}]"),
                    &format!("{pointer}/{i}"),
                    out,
                );
            }
        }
        _ => {}
    }
}

/// Decodes `obj` as `T`; on failure, the field path and serde's reason.
pub fn decode<T: DeserializeOwned>(obj: &Value) -> Result<T, FieldError> {
    // serde_json reports where it failed only as a line and column, so render the object
    // with one value per line and remember each line's field path.
    let mut doc = Located::default();
    doc.render(obj, "", "");
    match serde_json::from_str::<T>(&doc.text) {
        Ok(v) => Ok(v),
        Err(e) => {
            let (path, pointer) = doc
                .lines
                .get(e.line().saturating_sub(1))
                .cloned()
                .unwrap_or_default();
            let msg = e.to_string();
            let reason = msg
                .rfind(" at line ")
                .map_or(msg.as_str(), |i| &msg[..i])
                .to_owned();
            if let Some(missing) = reason
                .strip_prefix("missing field `")
                .and_then(|r| r.strip_suffix('`'))
            {
                return Err(FieldError::required(join(&path, missing), ""));
            }
            let value = obj.pointer(&pointer).cloned().unwrap_or(Value::Null);
            let field = if path.is_empty() {
                "<root>".to_owned()
            } else {
                path
            };
            Err(FieldError::invalid(field, &value, reason))
        }
    }
}

fn join(path: &str, field: &str) -> String {
    if path.is_empty() {
        field.to_owned()
    } else {
        format!("{path}.{field}")
    }
}

/// JSON text with one value per line, and each line's (field path, JSON pointer).
#[derive(Default)]
struct Located {
    text: String,
    lines: Vec<(String, String)>,
}

impl Located {
    fn line(&mut self, s: &str, path: &str, pointer: &str) {
        self.text.push_str(s);
        self.text.push('\n');
        self.lines.push((path.to_owned(), pointer.to_owned()));
    }

    /// Renders `v` (at `path`/`pointer`); the opening line is written by the caller's prefix.
    fn render(&mut self, v: &Value, path: &str, pointer: &str) {
        self.render_with(v, path, pointer, "", "");
    }

    fn render_with(&mut self, v: &Value, path: &str, pointer: &str, prefix: &str, suffix: &str) {
        match v {
            Value::Object(m) => {
                self.line(&format!("{prefix}{{"), path, pointer);
                let n = m.len();
                for (i, (k, child)) in m.iter().enumerate() {
                    let key = Value::String(k.clone()).to_string();
                    let comma = if i + 1 < n { "," } else { "" };
                    let child_path = join(path, k);
                    let child_pointer =
                        format!("{pointer}/{}", k.replace('~', "~0").replace('/', "~1"));
                    self.render_with(
                        child,
                        &child_path,
                        &child_pointer,
                        &format!("{key}:"),
                        comma,
                    );
                }
                self.line(&format!("}}{suffix}"), path, pointer);
            }
            Value::Array(a) => {
                self.line(&format!("{prefix}["), path, pointer);
                let n = a.len();
                for (i, child) in a.iter().enumerate() {
                    let comma = if i + 1 < n { "," } else { "" };
                    self.render_with(
                        child,
                        &format!("{path}[{i}]"),
                        &format!("{pointer}/{i}"),
                        "",
                        comma,
                    );
                }
                self.line(&format!("]{suffix}"), path, pointer);
            }
            scalar => self.line(&format!("{prefix}{scalar}{suffix}"), path, pointer),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kubeapi::resource::API_VERSION;
    use serde_json::json;

    #[test]
    fn unknown_fields_are_pruned() {
        let mut obj = json!({
            "apiVersion": API_VERSION, "kind": "HTTPRoute",
            "metadata": {"name": "r", "namespace": "n", "labels": {"a": "b"}, "uid": "u",
                "resourceVersion": "3", "generation": 2, "creationTimestamp": "2024-01-01T00:00:00Z",
                "managedFields": [{"manager": "m", "operation": "Apply", "apiVersion": API_VERSION,
                    "time": "2024-01-01T00:00:00Z", "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {}}}]},
            "spec": {"hostnames": ["a.example"], "backendRef": "typo", "parentRefs": [{"name": "g", "nme": 1}],
                "rules": [{"backendRefs": [{"name": "echo-v1", "port": 8080, "weight": null}]}]},
            "status": {"parents": []},
        });
        let unknown = prune(Kind::HttpRoute, &mut obj);
        assert_eq!(unknown, ["spec.backendRef", "spec.parentRefs[0].nme"]);
        assert!(obj["spec"].get("backendRef").is_none());
        assert!(prune(Kind::HttpRoute, &mut obj).is_empty());
    }

    #[test]
    fn dns_names() {
        assert!(is_dns1123_subdomain("route-1.example"));
        assert!(!is_dns1123_subdomain("Bad_Name"));
        assert!(!is_dns1123_subdomain("-x"));
        assert!(!is_dns1123_subdomain(""));
    }

    #[test]
    fn decode_errors_name_the_field() {
        let bad_port = json!({
            "apiVersion": API_VERSION, "kind": "HTTPRoute",
            "metadata": {"name": "r"},
            "spec": {"rules": [{"backendRefs": [{"name": "echo-v1", "port": "eighty"}]}]}
        });
        let e = decode::<gateway_api::httproutes::HttpRoute>(&bad_port).unwrap_err();
        assert_eq!(e.field, "spec.rules[0].backendRefs[0].port");
        assert!(e.to_string().contains("\"eighty\""), "{e}");

        let no_name = json!({
            "apiVersion": API_VERSION, "kind": "HTTPRoute",
            "metadata": {"name": "r"},
            "spec": {"parentRefs": [{"namespace": "x"}]}
        });
        let e = decode::<gateway_api::httproutes::HttpRoute>(&no_name).unwrap_err();
        assert_eq!(e.field, "spec.parentRefs[0].name", "{e}");

        let no_spec =
            json!({"apiVersion": API_VERSION, "kind": "HTTPRoute", "metadata": {"name": "r"}});
        let e = decode::<gateway_api::httproutes::HttpRoute>(&no_spec).unwrap_err();
        assert_eq!(e.field, "spec", "{e}");

        let bad_enum = json!({
            "apiVersion": API_VERSION, "kind": "HTTPRoute", "metadata": {"name": "r"},
            "spec": {"rules": [{"matches": [{"path": {"type": "Glob", "value": "/"}}]}]}
        });
        let e = decode::<gateway_api::httproutes::HttpRoute>(&bad_enum).unwrap_err();
        assert_eq!(e.field, "spec.rules[0].matches[0].path.type", "{e}");
    }
}
