//! The HTTPRoutes the scenarios create, shaped like gateway-api-bench's.

use serde_json::{json, Value};

use super::config::Cluster;
use crate::kube::Target;
use crate::spec::kube::ObjectKind;

/// Label on every route a scenario creates (value: the name prefix), so
/// leftovers of an interrupted run can be found and removed.
pub const LABEL: &str = "rampdeck.dev/scenario";

/// Route `i`: hostname `i-route.example.com`, PathPrefix `/i` to the backend,
/// and a catch-all rule to a backend that does not exist. Before the route
/// is programmed the hostname answers 404; once it is, `/i` answers 200; a
/// 500 means the catch-all was programmed without the `/i` rule.
pub fn numbered_route(c: &Cluster, namespace: &str, gateway_namespace: &str, i: usize) -> Target {
    let rules = json!([
        {
            "matches": [{"path": {"type": "PathPrefix", "value": format!("/{i}")}}],
            "backendRefs": [backend_ref(c, &c.backend)],
        },
        {"backendRefs": [backend_ref(c, &c.missing_backend)]},
    ]);
    route(
        c,
        route_name(c, i),
        namespace,
        gateway_namespace,
        &hostname(i),
        rules,
    )
}

/// route-change's route: every path of `hostname` to `backend`.
pub fn flip_route(
    c: &Cluster,
    namespace: &str,
    gateway_namespace: &str,
    hostname: &str,
    backend: &str,
) -> Target {
    let rules = json!([{"backendRefs": [backend_ref(c, backend)]}]);
    let name = format!("{}-flip", c.name_prefix);
    route(c, name, namespace, gateway_namespace, hostname, rules)
}

/// A route spreading `path_prefix` of `hostname` over `backends` (weight 1 each): the
/// backend-failover and staleness routes.
pub fn spread_route(
    c: &Cluster,
    name: String,
    (namespace, gateway_namespace): (&str, &str),
    hostname: &str,
    path_prefix: &str,
    backends: &[String],
) -> Target {
    let refs: Vec<Value> = backends
        .iter()
        .map(|b| {
            let mut r = backend_ref(c, b);
            r["weight"] = json!(1);
            r
        })
        .collect();
    let rules = json!([{
        "matches": [{"path": {"type": "PathPrefix", "value": path_prefix}}],
        "backendRefs": refs,
    }]);
    route(c, name, namespace, gateway_namespace, hostname, rules)
}

/// An HTTPRoute for one hostname on the scenario's Gateway, labelled as the scenario's.
fn route(
    c: &Cluster,
    name: String,
    namespace: &str,
    gateway_namespace: &str,
    hostname: &str,
    rules: Value,
) -> Target {
    let body = json!({
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": { LABEL: c.name_prefix },
        },
        "spec": {
            "parentRefs": [{"name": c.gateway, "namespace": gateway_namespace}],
            "hostnames": [hostname],
            "rules": rules,
        },
    });
    Target {
        kind: ObjectKind::HttpRoute,
        name,
        namespace: Some(namespace.to_owned()),
        body,
    }
}

fn backend_ref(c: &Cluster, service: &str) -> Value {
    json!({"name": service, "port": c.backend_port})
}

pub fn route_name(c: &Cluster, i: usize) -> String {
    format!("{}-{i}", c.name_prefix)
}

pub fn hostname(i: usize) -> String {
    format!("{i}-route.example.com")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenarios::config::ScenarioConfig;

    #[test]
    fn numbered_routes_are_valid_httproutes() {
        let c = ScenarioConfig::default().cluster;
        let t = numbered_route(&c, "apps", "infra", 7);
        assert_eq!(t.name, "rampdeck-scale-7");
        let r: gateway_api::httproutes::HttpRoute = serde_json::from_value(t.body).unwrap();
        assert_eq!(r.spec.hostnames.unwrap(), vec!["7-route.example.com"]);
        let rules = r.spec.rules.unwrap();
        assert_eq!(rules.len(), 2);
        let parent = &r.spec.parent_refs.unwrap()[0];
        assert_eq!(parent.namespace.as_deref(), Some("infra"));
        assert_eq!(
            r.metadata.labels.unwrap().get(LABEL).map(String::as_str),
            Some("rampdeck-scale")
        );
    }
}
