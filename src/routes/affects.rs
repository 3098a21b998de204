//! Which of the profile's requests a route action touches: those named by `affects`, or those the HTTPRoute it changed serves.
//!
//! A change to the shop route cannot drop a checkout request; counting
//! the checkout's own failures as the change's drops is the lie this
//! module prevents. The HTTPRoute's hostnames and match entries are
//! evaluated against each `[[request]]` as it goes on the wire (its Host
//! header, path, query, method and headers), with the same rules the demo
//! gateway routes by (`rampdeck_base::httproute`).

use http::{HeaderMap, HeaderValue};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::spec::plan::{Plan, TargetAddr};
use rampdeck_base::httproute::{RequestView, RouteMatch};

/// The requests a firing's drops are counted over.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Affects {
    /// Request names (profile order); empty when the route serves none of them.
    pub requests: Vec<String>,
    /// How they were chosen: "affects" (named in the profile) or
    /// "HTTPRoute ns/name" (matched from the object).
    pub from: String,
    /// Set when the match could not be evaluated exactly (a
    /// RegularExpression): name the requests with `affects`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caveat: Option<String>,
}

/// One of the profile's requests as a gateway would match it.
#[derive(Debug, Clone)]
pub struct RequestKey {
    pub name: String,
    host: String,
    path: String,
    query: Option<String>,
    method: String,
    headers: HeaderMap,
}

impl RequestKey {
    fn view(&self) -> RequestView<'_> {
        RequestView {
            host: &self.host,
            path: &self.path,
            method: &self.method,
            headers: &self.headers,
            query: self.query.as_deref(),
        }
    }
}

/// The plan's requests as they go on the wire: the target's headers and
/// then the request's (a request's `host` header wins, as in the engine).
pub fn request_keys(plan: &Plan) -> Vec<RequestKey> {
    let (authority, base) = match &plan.target.addr {
        TargetAddr::Url(e) => (e.authority.clone(), e.base_path.clone()),
        // The demo gateway listens on 127.0.0.1; its port does not matter here.
        TargetAddr::Demo => ("127.0.0.1".to_owned(), String::new()),
    };
    plan.requests
        .iter()
        .map(|r| {
            let mut headers = HeaderMap::new();
            if let Ok(v) = HeaderValue::from_str(&authority) {
                headers.insert(http::header::HOST, v);
            }
            for (k, v) in plan.target.headers.iter().chain(r.headers.iter()) {
                headers.insert(k.clone(), v.clone());
            }
            let host = headers
                .get(http::header::HOST)
                .and_then(|v| v.to_str().ok())
                .unwrap_or(&authority)
                .to_owned();
            let full = format!("{base}{}", r.path);
            let (path, query) = match full.split_once('?') {
                Some((p, q)) => (p.to_owned(), Some(q.to_owned())),
                None => (full, None),
            };
            RequestKey {
                name: r.name.clone(),
                host,
                path,
                query,
                method: r.method.as_str().to_owned(),
                headers,
            }
        })
        .collect()
}

/// The requests named by the profile's `affects`.
pub fn named(names: &[String]) -> Affects {
    Affects {
        requests: names.to_vec(),
        from: "affects".to_owned(),
        caveat: None,
    }
}

/// The requests an HTTPRoute (as the API server returned it) serves.
/// `route` is the whole object; `label` names it ("rampdeck/shop").
pub fn from_route(route: &Value, label: &str, keys: &[RequestKey]) -> Option<Affects> {
    if keys.is_empty() {
        // Started without the plan's requests: nothing to match against.
        return None;
    }
    let mut object = route.clone();
    // A typed round trip may leave `kind` out; the caller knows it is a route.
    object["kind"] = Value::from("HTTPRoute");
    let m = RouteMatch::from_object(&object)?;
    Some(Affects {
        requests: keys
            .iter()
            .filter(|k| m.serves(&k.view()))
            .map(|k| k.name.clone())
            .collect(),
        from: format!("HTTPRoute {label}"),
        caveat: m.ambiguous().then(|| {
            "the route has a RegularExpression match, which rampdeck does not evaluate: name the requests with `affects`".to_owned()
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn key(name: &str, host: &str, path: &str, method: &str) -> RequestKey {
        RequestKey {
            name: name.into(),
            host: host.into(),
            path: path.into(),
            query: None,
            method: method.into(),
            headers: HeaderMap::new(),
        }
    }

    #[test]
    fn the_shop_route_serves_the_shop_request_only() {
        let keys = [
            key("catalog", "127.0.0.1:8080", "/api/catalog", "GET"),
            key("checkout", "127.0.0.1:8080", "/api/checkout", "POST"),
            key("shop", "shop.example.com", "/shop/cart", "GET"),
        ];
        let route = json!({
            "metadata": {"name": "shop"},
            "spec": {"hostnames": ["shop.example.com"], "rules": [
                {"matches": [{"path": {"type": "PathPrefix", "value": "/shop"}}],
                 "backendRefs": [{"name": "echo-v2", "port": 8080}]}
            ]}
        });
        let a = from_route(&route, "rampdeck/shop", &keys).unwrap();
        assert_eq!(a.requests, vec!["shop".to_owned()]);
        assert_eq!(a.from, "HTTPRoute rampdeck/shop");
        assert!(a.caveat.is_none());
        let catch_all = json!({"spec": {"rules": [{"backendRefs": []}]}});
        let all = from_route(&catch_all, "ns/all", &keys).unwrap();
        assert_eq!(all.requests.len(), 3);
    }
}
