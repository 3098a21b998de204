//! What the simulated controller keeps of each HTTPRoute between passes, typed: the
//! parentRefs, hostnames, rules and the metadata it reads. As a `serde_json::Value` the same
//! fields cost a B-tree node (about 640 bytes) per JSON object, some twelve per route; typed,
//! a route is a few hundred bytes, so 5,000 routes do not cost the control plane 40 MB.

use rampdeck_base::httproute::MatchSpec;
use serde_json::{json, Map, Value};

#[derive(Debug, Clone, PartialEq)]
pub struct RouteView {
    pub uid: Box<str>,
    pub generation: i64,
    pub created: Box<str>,
    pub parents: Vec<ParentRef>,
    pub hostnames: Vec<Box<str>>,
    pub rules: Vec<RuleView>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ParentRef {
    pub group: Option<Box<str>>,
    pub kind: Option<Box<str>>,
    pub namespace: Option<Box<str>>,
    pub name: Box<str>,
    pub section: Option<Box<str>>,
    pub port: Option<i64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RuleView {
    pub matches: Vec<MatchSpec>,
    pub backends: Vec<BackendRef>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct BackendRef {
    pub group: Option<Box<str>>,
    pub kind: Option<Box<str>>,
    pub namespace: Option<Box<str>>,
    pub name: Box<str>,
    pub port: Option<i64>,
    pub weight: Option<u64>,
}

fn text(v: &Value) -> Option<Box<str>> {
    v.as_str().map(Box::from)
}

impl RouteView {
    /// Reads a stored HTTPRoute (validated on write, so missing fields take their defaults).
    pub fn of(obj: &Value) -> Self {
        let m = &obj["metadata"];
        let spec = &obj["spec"];
        let list = |v: &Value| v.as_array().cloned().unwrap_or_default();
        RouteView {
            uid: text(&m["uid"]).unwrap_or_default(),
            generation: m["generation"].as_i64().unwrap_or(1),
            created: text(&m["creationTimestamp"]).unwrap_or_default(),
            parents: list(&spec["parentRefs"])
                .iter()
                .map(|p| ParentRef {
                    group: text(&p["group"]),
                    kind: text(&p["kind"]),
                    namespace: text(&p["namespace"]),
                    name: text(&p["name"]).unwrap_or_default(),
                    section: text(&p["sectionName"]),
                    port: p["port"].as_i64(),
                })
                .collect(),
            hostnames: list(&spec["hostnames"]).iter().filter_map(text).collect(),
            rules: list(&spec["rules"])
                .iter()
                .map(|r| RuleView {
                    matches: list(&r["matches"])
                        .iter()
                        .map(MatchSpec::from_json)
                        .collect(),
                    backends: list(&r["backendRefs"])
                        .iter()
                        .map(|b| BackendRef {
                            group: text(&b["group"]),
                            kind: text(&b["kind"]),
                            namespace: text(&b["namespace"]),
                            name: text(&b["name"]).unwrap_or_default(),
                            port: b["port"].as_i64(),
                            weight: b["weight"].as_u64(),
                        })
                        .collect(),
                })
                .collect(),
        }
    }
}

impl ParentRef {
    /// The parentRef as the route wrote it, for its status.
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        let mut put = |k: &str, v: &Option<Box<str>>| {
            if let Some(v) = v {
                m.insert(k.to_owned(), json!(v.as_ref()));
            }
        };
        put("group", &self.group);
        put("kind", &self.kind);
        put("namespace", &self.namespace);
        put("sectionName", &self.section);
        m.insert("name".into(), json!(self.name.as_ref()));
        if let Some(p) = self.port {
            m.insert("port".into(), json!(p));
        }
        Value::Object(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_route_reads_into_its_view_and_its_parent_ref_round_trips() {
        let obj = json!({
            "metadata": {"uid": "u1", "generation": 3, "creationTimestamp": "2026-01-01T00:00:00Z"},
            "spec": {
                "parentRefs": [{"name": "gw", "namespace": "infra", "sectionName": "http", "port": 80}],
                "hostnames": ["a.example.com"],
                "rules": [{"matches": [{"path": {"type": "PathPrefix", "value": "/a"}}],
                           "backendRefs": [{"name": "echo-v1", "port": 8080, "weight": 3}]}],
            },
        });
        let v = RouteView::of(&obj);
        assert_eq!(v.generation, 3);
        assert_eq!(&*v.hostnames[0], "a.example.com");
        assert_eq!(v.rules[0].backends[0].weight, Some(3));
        assert_eq!(v.parents[0].to_json(), obj["spec"]["parentRefs"][0]);
    }
}
