//! Query strings of API requests: percent-decoding, and the field and label selectors that
//! list and watch accept (equality-based, as kube-rs and kubectl send them).

use std::collections::HashMap;

use serde_json::Value;

use super::error::ApiError;
use super::resource::Kind;

/// Decoded query parameters; a repeated name keeps its last value.
#[derive(Debug, Default, Clone)]
pub struct Query(HashMap<String, String>);

impl Query {
    pub fn parse(raw: Option<&str>) -> Query {
        let mut map = HashMap::new();
        for pair in raw.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            map.insert(decode(k), decode(v));
        }
        Query(map)
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// `true`/`1` (as the API server accepts for watch) or absent/other.
    pub fn flag(&self, name: &str) -> bool {
        matches!(self.get(name), Some("true" | "1"))
    }
}

/// application/x-www-form-urlencoded decoding: `+` is a space, `%XX` a byte.
pub fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                let hex = std::str::from_utf8(&b[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(v) => {
                        out.push(v);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[derive(Debug, Clone, PartialEq)]
enum Requirement {
    Equals(String, String),
    NotEquals(String, String),
    Exists(String),
    NotExists(String),
}

/// A conjunction of equality requirements on labels or fields.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Selector {
    requirements: Vec<Requirement>,
}

impl Selector {
    pub fn labels(raw: Option<&str>) -> Result<Selector, ApiError> {
        Self::parse(raw, true)
    }

    /// Field selectors: `metadata.name` and `metadata.namespace` (as for custom resources),
    /// and the fields kube-apiserver indexes for the built-in kinds.
    pub fn fields(raw: Option<&str>, kind: Kind) -> Result<Selector, ApiError> {
        let s = Self::parse(raw, false)?;
        for r in &s.requirements {
            let (Requirement::Equals(k, _) | Requirement::NotEquals(k, _)) = r else {
                continue;
            };
            if !selectable_fields(kind).contains(&k.as_str()) {
                return Err(ApiError::BadRequest(format!(
                    "field label not supported: {k}"
                )));
            }
        }
        Ok(s)
    }

    fn parse(raw: Option<&str>, labels: bool) -> Result<Selector, ApiError> {
        let what = if labels { "label" } else { "field" };
        let mut requirements = Vec::new();
        for term in raw
            .unwrap_or("")
            .split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty())
        {
            let bad = || {
                ApiError::BadRequest(format!(
                    "unable to parse requirement: {what} selector \"{term}\": the demo API server supports k=v, k==v, k!=v{}",
                    if labels { ", k and !k" } else { "" }
                ))
            };
            let r = if let Some((k, v)) = term.split_once("!=") {
                Requirement::NotEquals(k.trim().to_owned(), v.trim().to_owned())
            } else if let Some((k, v)) = term.split_once("==").or_else(|| term.split_once('=')) {
                Requirement::Equals(k.trim().to_owned(), v.trim().to_owned())
            } else if !labels {
                return Err(bad());
            } else if let Some(k) = term.strip_prefix('!') {
                Requirement::NotExists(k.trim().to_owned())
            } else {
                Requirement::Exists(term.to_owned())
            };
            let key = match &r {
                Requirement::Equals(k, _)
                | Requirement::NotEquals(k, _)
                | Requirement::Exists(k)
                | Requirement::NotExists(k) => k,
            };
            if key.is_empty() || key.contains([' ', '(', ')', '!', '=']) {
                return Err(bad());
            }
            requirements.push(r);
        }
        Ok(Selector { requirements })
    }

    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    /// Whether `lookup(key)` (a label or field value) satisfies every requirement.
    fn matches_with(&self, lookup: impl Fn(&str) -> Option<String>) -> bool {
        self.requirements.iter().all(|r| match r {
            Requirement::Equals(k, v) => lookup(k).as_deref() == Some(v.as_str()),
            Requirement::NotEquals(k, v) => lookup(k).as_deref() != Some(v.as_str()),
            Requirement::Exists(k) => lookup(k).is_some(),
            Requirement::NotExists(k) => lookup(k).is_none(),
        })
    }
}

/// The fields a field selector may name for `kind`, as kube-apiserver allows them.
fn selectable_fields(kind: Kind) -> &'static [&'static str] {
    match kind {
        Kind::Pod => &[
            "metadata.name",
            "metadata.namespace",
            "spec.nodeName",
            "spec.restartPolicy",
            "spec.schedulerName",
            "spec.serviceAccountName",
            "spec.hostNetwork",
            "status.phase",
            "status.podIP",
            "status.nominatedNodeName",
        ],
        Kind::Job => &["metadata.name", "metadata.namespace", "status.successful"],
        Kind::Secret => &["metadata.name", "metadata.namespace", "type"],
        _ => &["metadata.name", "metadata.namespace"],
    }
}

/// A selectable field's value as the API server compares it: missing is "" (so
/// `spec.nodeName=` selects unscheduled pods), numbers and booleans as text.
fn field_value(obj: &Value, field: &str) -> String {
    let v = match field {
        "status.successful" => &obj["status"]["succeeded"],
        "spec.serviceAccountName" if obj["spec"]["serviceAccountName"].is_null() => {
            return "default".to_owned()
        }
        "spec.hostNetwork" if obj["spec"]["hostNetwork"].is_null() => return "false".to_owned(),
        _ => field.split('.').fold(obj, |v, part| &v[part]),
    };
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// A list or watch's selection of objects.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub namespace: Option<String>,
    pub labels: Selector,
    pub fields: Selector,
}

impl Filter {
    pub fn from_query(q: &Query, kind: Kind, namespace: Option<&str>) -> Result<Filter, ApiError> {
        Ok(Filter {
            namespace: namespace.map(str::to_owned),
            labels: Selector::labels(q.get("labelSelector"))?,
            fields: Selector::fields(q.get("fieldSelector"), kind)?,
        })
    }

    pub fn matches(&self, obj: &Value) -> bool {
        let meta = &obj["metadata"];
        let ns = meta["namespace"].as_str();
        if let Some(want) = &self.namespace {
            if ns != Some(want.as_str()) {
                return false;
            }
        }
        let labels = meta["labels"].as_object();
        self.labels.matches_with(|k| {
            labels
                .and_then(|l| l.get(k))
                .and_then(Value::as_str)
                .map(str::to_owned)
        }) && self.fields.matches_with(|k| Some(field_value(obj, k)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn query_and_selectors() {
        let q = Query::parse(Some(
            "&watch=1&fieldSelector=metadata.name%3Droute-1&labelSelector=app%3Dweb,tier!=db",
        ));
        assert!(q.flag("watch"));
        let f = Filter::from_query(&q, Kind::HttpRoute, Some("ns")).unwrap();
        let obj =
            json!({"metadata": {"name": "route-1", "namespace": "ns", "labels": {"app": "web"}}});
        assert!(f.matches(&obj));
        let other =
            json!({"metadata": {"name": "route-2", "namespace": "ns", "labels": {"app": "web"}}});
        assert!(!f.matches(&other));
        assert!(Selector::fields(Some("spec.x=1"), Kind::HttpRoute).is_err());
        let pods = Filter::from_query(
            &Query::parse(Some(
                "fieldSelector=status.phase%3DRunning,spec.nodeName!%3D",
            )),
            Kind::Pod,
            None,
        )
        .unwrap();
        let running = json!({"metadata": {"name": "p"}, "spec": {"nodeName": "n"}, "status": {"phase": "Running"}});
        assert!(pods.matches(&running));
        let pending =
            json!({"metadata": {"name": "p"}, "spec": {}, "status": {"phase": "Pending"}});
        assert!(!pods.matches(&pending));
        assert!(Selector::labels(Some("app in (a,b)")).is_err());
        assert_eq!(decode("a%2Fb+c%"), "a/b c%");
    }
}
