//! Gateway API HTTPRoute matching (hostnames, path, method, headers, query) and its precedence keys; a leaf that imports nothing else of the crate.
//!
//! Two users: the demo gateway's route table (`demo::routing`) decides which
//! rule serves a request, and route actions (`routes::affects`) decide which
//! of a profile's requests a changed route serves, so that only their
//! failures count as the change's drops.

use std::cmp::Reverse;

use http::HeaderMap;
use serde_json::Value;

/// The parts of a request that routing looks at.
pub struct RequestView<'a> {
    /// Host header or authority, any case, with or without a port.
    pub host: &'a str,
    pub path: &'a str,
    pub method: &'a str,
    pub headers: &'a HeaderMap,
    pub query: Option<&'a str>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostMatch {
    Exact(String),
    /// "*.example.com" stored as ".example.com".
    Wildcard(String),
    Any,
}

impl HostMatch {
    pub fn parse(h: &str) -> HostMatch {
        let h = h.to_ascii_lowercase();
        match h.strip_prefix('*') {
            Some(suffix) => HostMatch::Wildcard(suffix.to_owned()),
            None => HostMatch::Exact(h),
        }
    }

    /// `host` as `normalize_host` leaves it.
    pub fn matches(&self, host: &str) -> bool {
        match self {
            HostMatch::Exact(h) => h == host,
            HostMatch::Wildcard(suffix) => {
                host.len() > suffix.len() && host.ends_with(suffix.as_str())
            }
            HostMatch::Any => true,
        }
    }

    /// Precedence: exact before wildcard before none; longer before shorter.
    pub fn rank(&self) -> (u8, Reverse<usize>) {
        match self {
            HostMatch::Exact(h) => (0, Reverse(h.len())),
            HostMatch::Wildcard(s) => (1, Reverse(s.len())),
            HostMatch::Any => (2, Reverse(0)),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum PathMatch {
    Exact(String),
    /// Segment-wise: "/foo" matches "/foo" and "/foo/bar", not "/foobar".
    Prefix(String),
    /// A match type this crate does not implement (RegularExpression): matches nothing.
    Unsupported,
}

impl PathMatch {
    pub fn matches(&self, path: &str) -> bool {
        match self {
            PathMatch::Exact(p) => p == path,
            PathMatch::Prefix(p) => {
                let p = p.trim_end_matches('/');
                p.is_empty()
                    || path == p
                    || (path.starts_with(p) && path.as_bytes().get(p.len()) == Some(&b'/'))
            }
            PathMatch::Unsupported => false,
        }
    }

    pub fn rank(&self) -> (u8, Reverse<usize>) {
        match self {
            PathMatch::Exact(p) => (0, Reverse(p.len())),
            PathMatch::Prefix(p) => (1, Reverse(p.len())),
            PathMatch::Unsupported => (2, Reverse(0)),
        }
    }

    /// True when the match cannot be evaluated here (a RegularExpression).
    pub fn is_unsupported(&self) -> bool {
        matches!(self, PathMatch::Unsupported)
    }
}

/// One entry of a rule's `matches`.
#[derive(Debug, Clone, PartialEq)]
pub struct MatchSpec {
    pub path: PathMatch,
    /// Upper-case HTTP method.
    pub method: Option<String>,
    /// Exact header matches; names are compared case-insensitively.
    pub headers: Vec<(String, String)>,
    /// Exact query parameter matches.
    pub query: Vec<(String, String)>,
}

impl MatchSpec {
    /// What a rule without `matches` means: PathPrefix "/".
    pub fn everything() -> Self {
        MatchSpec {
            path: PathMatch::Prefix("/".to_owned()),
            method: None,
            headers: Vec::new(),
            query: Vec::new(),
        }
    }

    /// Reads one `matches` entry of an HTTPRoute rule (JSON as the API server stores it).
    pub fn from_json(m: &Value) -> MatchSpec {
        let path = &m["path"];
        let value = path["value"].as_str().unwrap_or("/").to_owned();
        let mut path = match path["type"].as_str() {
            None | Some("PathPrefix") => PathMatch::Prefix(value),
            Some("Exact") => PathMatch::Exact(value),
            Some(_) => PathMatch::Unsupported,
        };
        let exact_pairs = |field: &str, lower: bool| -> Option<Vec<(String, String)>> {
            m[field]
                .as_array()
                .into_iter()
                .flatten()
                .map(|h| {
                    let exact = h["type"].as_str().is_none_or(|t| t == "Exact");
                    let name = h["name"].as_str().unwrap_or("");
                    let name = if lower {
                        name.to_ascii_lowercase()
                    } else {
                        name.to_owned()
                    };
                    exact.then(|| (name, h["value"].as_str().unwrap_or("").to_owned()))
                })
                .collect()
        };
        let headers = exact_pairs("headers", true);
        let query = exact_pairs("queryParams", false);
        if headers.is_none() || query.is_none() {
            // RegularExpression matches are implementation-specific: not evaluated.
            path = PathMatch::Unsupported;
        }
        MatchSpec {
            path,
            method: m["method"].as_str().map(str::to_owned),
            headers: headers.unwrap_or_default(),
            query: query.unwrap_or_default(),
        }
    }

    /// Whether a request (whose host already matched) matches this entry.
    pub fn matches(&self, req: &RequestView<'_>) -> bool {
        self.path.matches(req.path)
            && self
                .method
                .as_deref()
                .is_none_or(|want| want.eq_ignore_ascii_case(req.method))
            && self.headers.iter().all(|(name, value)| {
                req.headers
                    .get_all(name.as_str())
                    .iter()
                    .any(|v| v.as_bytes() == value.as_bytes())
            })
            && self.query.iter().all(|(name, value)| {
                req.query
                    .unwrap_or("")
                    .split('&')
                    .filter_map(|kv| kv.split_once('=').or(Some((kv, ""))))
                    .any(|(k, v)| k == name && v == value)
            })
    }
}

/// What one HTTPRoute matches, ignoring its backends: a request it serves
/// matches one of its hostnames and one of its rules' match entries.
#[derive(Debug, Clone, PartialEq)]
pub struct RouteMatch {
    pub hosts: Vec<HostMatch>,
    /// Every rule's entries together (a rule without `matches` gives PathPrefix "/").
    pub matches: Vec<MatchSpec>,
}

impl RouteMatch {
    /// Reads an HTTPRoute object (or a merge patch's `spec`): None when the
    /// object is not an HTTPRoute.
    pub fn from_object(route: &Value) -> Option<RouteMatch> {
        if route.get("kind").and_then(Value::as_str) != Some("HTTPRoute") {
            return None;
        }
        let spec = &route["spec"];
        let hosts = hostnames(spec);
        let mut matches = Vec::new();
        let rules = spec["rules"].as_array().map_or(&[][..], Vec::as_slice);
        for rule in rules {
            match rule["matches"].as_array() {
                Some(ms) if !ms.is_empty() => matches.extend(ms.iter().map(MatchSpec::from_json)),
                _ => matches.push(MatchSpec::everything()),
            }
        }
        if rules.is_empty() {
            // The CRD defaults rules to one PathPrefix "/" rule.
            matches.push(MatchSpec::everything());
        }
        Some(RouteMatch { hosts, matches })
    }

    /// Whether the route matches the request.
    pub fn serves(&self, req: &RequestView<'_>) -> bool {
        let host = normalize_host(req.host);
        self.hosts.iter().any(|h| h.matches(&host)) && self.matches.iter().any(|m| m.matches(req))
    }

    /// True when a match entry could not be evaluated (a RegularExpression):
    /// which requests the route serves is then a guess.
    pub fn ambiguous(&self) -> bool {
        self.matches.iter().any(|m| m.path.is_unsupported())
    }
}

/// An HTTPRoute spec's hostnames; none means any host.
pub fn hostnames(spec: &Value) -> Vec<HostMatch> {
    let hosts: Vec<HostMatch> = spec["hostnames"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(HostMatch::parse)
        .collect();
    if hosts.is_empty() {
        vec![HostMatch::Any]
    } else {
        hosts
    }
}

/// Lower case, without the port and a trailing dot; IPv6 literals keep their brackets.
pub fn normalize_host(host: &str) -> String {
    let h = if host.starts_with('[') {
        host.split_once(']').map_or(host, |(a, _)| a)
    } else {
        host.rsplit_once(':').map_or(host, |(h, _)| h)
    };
    h.trim_end_matches('.').to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn serves(route: &RouteMatch, host: &str, path_and_query: &str, method: &str) -> bool {
        let headers = HeaderMap::new();
        let (path, query) = match path_and_query.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (path_and_query, None),
        };
        route.serves(&RequestView {
            host,
            path,
            method,
            headers: &headers,
            query,
        })
    }

    #[test]
    fn a_route_serves_its_hostnames_and_paths_only() {
        let shop = RouteMatch::from_object(&json!({
            "kind": "HTTPRoute",
            "spec": {"hostnames": ["shop.example.com"], "rules": [
                {"matches": [{"path": {"type": "PathPrefix", "value": "/shop"}}]},
                {"matches": [{"path": {"type": "Exact", "value": "/pay"}, "method": "POST"}]},
            ]}
        }))
        .unwrap();
        assert!(serves(&shop, "shop.example.com", "/shop/cart", "GET"));
        assert!(serves(&shop, "SHOP.example.com:8080", "/shop", "GET"));
        assert!(!serves(&shop, "shop.example.com", "/shopping", "GET"));
        assert!(!serves(&shop, "127.0.0.1:9000", "/shop/cart", "GET"));
        assert!(serves(&shop, "shop.example.com", "/pay", "POST"));
        assert!(!serves(&shop, "shop.example.com", "/pay", "GET"));
        assert!(!shop.ambiguous());
    }

    #[test]
    fn no_hostnames_or_rules_match_everything_and_regex_is_ambiguous() {
        let any = RouteMatch::from_object(&json!({"kind": "HTTPRoute", "spec": {}})).unwrap();
        assert!(serves(&any, "x", "/anything?q=1", "DELETE"));
        let regex = RouteMatch::from_object(&json!({
            "kind": "HTTPRoute",
            "spec": {"rules": [{"matches": [{"path": {"type": "RegularExpression", "value": "/a.*"}}]}]}
        }))
        .unwrap();
        assert!(regex.ambiguous());
        assert!(!serves(&regex, "x", "/abc", "GET"));
        assert!(RouteMatch::from_object(&json!({"kind": "Gateway"})).is_none());
    }
}
