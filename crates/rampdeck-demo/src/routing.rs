//! The demo gateway's dynamic route table, programmed from HTTPRoutes by the simulated
//! control plane, and request matching with Gateway API precedence: most specific hostname
//! (exact, then longest wildcard, then none), Exact path over PathPrefix, longest prefix,
//! method, most header and query matches, oldest route, then namespace/name and rule order.
//! Reading the table is one `Arc` clone per request.

use std::cmp::Reverse;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use rampdeck_base::httproute::{normalize_host, HostMatch};
use rampdeck_base::httproute::{MatchSpec, RequestView};
use rampdeck_base::rng::splitmix64;

use crate::health::{BackendHealth, HealthSettings};

/// A route as the control plane hands it to the data plane.
#[derive(Debug, Clone, PartialEq)]
pub struct RouteSpec {
    pub namespace: String,
    pub name: String,
    /// creationTimestamp (RFC 3339, whole seconds): older routes win ties.
    pub created: String,
    pub hostnames: Vec<String>,
    pub rules: Vec<RuleSpec>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RuleSpec {
    /// None matches everything (as a PathPrefix "/" match does).
    pub matches: Vec<MatchSpec>,
    pub backends: Vec<BackendSpec>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct BackendSpec {
    pub name: String,
    pub weight: u32,
    /// False when the reference cannot resolve whatever its name (wrong kind, other namespace).
    pub valid_ref: bool,
}

/// What the gateway does with a request that matched an HTTPRoute rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Serve from known backend `index` (into `Router::backends`).
    Backend(usize),
    /// Unknown backend, invalid reference, no backendRefs or only zero weights: the Gateway API
    /// requires a 500.
    Unroutable,
    /// The swap-drop fault: the route's backends just changed.
    Dropped,
    /// The picked backend (and every retry) did not answer: dead, or a stale pooled connection.
    NoAnswer(crate::health::Failure),
}

struct Backend {
    weight: u64,
    /// Index of a known backend, or None when the reference does not resolve.
    known: Option<usize>,
}

struct Rule {
    backends: Vec<Backend>,
}

struct Programmed {
    namespace: String,
    name: String,
    rules: Vec<Rule>,
    /// Per rule, the (backend, weight) list: a change is a route swap.
    signature: Vec<Vec<(String, u32)>>,
    swapped_at: Option<Instant>,
}

struct Entry {
    host: HostMatch,
    matcher: MatchSpec,
    route: usize,
    rule: usize,
}

impl Entry {
    fn matches(&self, req: &RequestView<'_>, host: &str) -> bool {
        self.host.matches(host) && self.matcher.matches(req)
    }
}

/// One programmed configuration; replaced whole on every reconcile.
#[derive(Default)]
pub struct RouteTable {
    routes: Vec<Programmed>,
    /// Sorted by precedence: the first match wins.
    entries: Vec<Entry>,
}

pub struct Router {
    table: RwLock<Arc<RouteTable>>,
    backends: Vec<String>,
    /// Requests served per known backend (same order as `backends`).
    pub backend_requests: Vec<AtomicU64>,
    /// Requests answered 500 because the matched rule's backend does not resolve.
    pub unroutable: AtomicU64,
    /// Requests answered 503 by the swap-drop fault.
    pub dropped: AtomicU64,
    swap_drop: Option<Duration>,
    draws: AtomicU64,
    /// Which backends are alive and which the gateway has ejected.
    pub health: Arc<BackendHealth>,
    /// Requests answered 503 because no backend answered.
    pub no_answer: AtomicU64,
}

impl Router {
    pub fn new(backends: &[String], swap_drop: Option<Duration>) -> Self {
        Self::with_health(backends, swap_drop, HealthSettings::default())
    }

    pub fn with_health(
        backends: &[String],
        swap_drop: Option<Duration>,
        health: HealthSettings,
    ) -> Self {
        Router {
            health: Arc::new(BackendHealth::new(backends.len(), health)),
            no_answer: AtomicU64::new(0),
            table: RwLock::new(Arc::new(RouteTable::default())),
            backend_requests: backends.iter().map(|_| AtomicU64::new(0)).collect(),
            backends: backends.to_vec(),
            unroutable: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            swap_drop,
            draws: AtomicU64::new(1),
        }
    }

    pub fn backends(&self) -> &[String] {
        &self.backends
    }

    pub fn backend_index(&self, name: &str) -> Option<usize> {
        self.backends.iter().position(|b| b == name)
    }

    fn current(&self) -> Arc<RouteTable> {
        self.table.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Routes currently programmed.
    pub fn programmed(&self) -> usize {
        self.current().routes.len()
    }

    /// Replaces the table with `specs`. A route whose backends differ from the programmed
    /// one's is a swap: it starts the swap-drop window.
    pub fn program(&self, specs: &[RouteSpec]) {
        let old = self.current();
        let now = Instant::now();
        let mut table = RouteTable::default();
        let mut keyed = Vec::new();
        for spec in specs {
            let signature: Vec<Vec<(String, u32)>> = spec
                .rules
                .iter()
                .map(|r| {
                    r.backends
                        .iter()
                        .map(|b| (b.name.clone(), b.weight))
                        .collect()
                })
                .collect();
            let before = old
                .routes
                .iter()
                .find(|p| p.namespace == spec.namespace && p.name == spec.name);
            let swapped_at = match before {
                Some(p) if p.signature != signature => Some(now),
                Some(p) => p.swapped_at,
                None => None,
            };
            let rules = spec
                .rules
                .iter()
                .map(|r| {
                    let backends: Vec<Backend> = r
                        .backends
                        .iter()
                        .map(|b| Backend {
                            weight: u64::from(b.weight),
                            known: b.valid_ref.then(|| self.backend_index(&b.name)).flatten(),
                        })
                        .collect();
                    Rule { backends }
                })
                .collect();
            let route = table.routes.len();
            table.routes.push(Programmed {
                namespace: spec.namespace.clone(),
                name: spec.name.clone(),
                rules,
                signature,
                swapped_at,
            });
            let hosts: Vec<HostMatch> = if spec.hostnames.is_empty() {
                vec![HostMatch::Any]
            } else {
                spec.hostnames.iter().map(|h| HostMatch::parse(h)).collect()
            };
            for (r, rule) in spec.rules.iter().enumerate() {
                let matches = if rule.matches.is_empty() {
                    vec![MatchSpec::everything()]
                } else {
                    rule.matches.clone()
                };
                for (m, matcher) in matches.into_iter().enumerate() {
                    for host in &hosts {
                        keyed.push((
                            (
                                host.rank(),
                                matcher.path.rank(),
                                matcher.method.is_none(),
                                Reverse(matcher.headers.len()),
                                Reverse(matcher.query.len()),
                                spec.created.clone(),
                                spec.namespace.clone(),
                                spec.name.clone(),
                                r,
                                m,
                            ),
                            Entry {
                                host: host.clone(),
                                matcher: matcher.clone(),
                                route,
                                rule: r,
                            },
                        ));
                    }
                }
            }
        }
        keyed.sort_by(|a, b| a.0.cmp(&b.0));
        table.entries = keyed.into_iter().map(|(_, e)| e).collect();
        *self.table.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(table);
    }

    /// The decision for a request, or None when no HTTPRoute matches it. Measurements the outcome.
    pub fn route(&self, req: &RequestView<'_>) -> Option<Decision> {
        let table = self.current();
        if table.entries.is_empty() {
            return None;
        }
        let host = normalize_host(req.host);
        let entry = table.entries.iter().find(|e| e.matches(req, &host))?;
        let route = &table.routes[entry.route];
        if let (Some(window), Some(at)) = (self.swap_drop, route.swapped_at) {
            if at.elapsed() < window {
                self.dropped.fetch_add(1, Ordering::Relaxed);
                return Some(Decision::Dropped);
            }
        }
        let rule = &route.rules[entry.rule];
        // An invalid reference keeps its share of the traffic, answered 500 (the Gateway API's rule).
        let Some(Some(first)) = self.pick(rule, &[]) else {
            self.unroutable.fetch_add(1, Ordering::Relaxed);
            return Some(Decision::Unroutable);
        };
        let mut tried = vec![first];
        let mut i = first;
        loop {
            match self.health.attempt(i) {
                Ok(()) => {
                    self.backend_requests[i].fetch_add(1, Ordering::Relaxed);
                    return Some(Decision::Backend(i));
                }
                Err(why) => {
                    let next = (tried.len() <= self.health.settings().retries as usize)
                        .then(|| self.pick(rule, &tried))
                        .flatten()
                        .flatten();
                    match next {
                        Some(n) => {
                            tried.push(n);
                            i = n;
                        }
                        None => {
                            self.no_answer.fetch_add(1, Ordering::Relaxed);
                            return Some(Decision::NoAnswer(why));
                        }
                    }
                }
            }
        }
    }

    /// A backend of `rule` by weight, among those in rotation (all of them when the gateway
    /// has ejected every one: Envoy's panic mode), leaving out `tried`; Some(None) is an
    /// invalid reference (only on a first try). None when nothing has weight.
    fn pick(&self, rule: &Rule, tried: &[usize]) -> Option<Option<usize>> {
        let usable = |b: &Backend, rotation: bool| {
            b.weight > 0
                && match b.known {
                    Some(i) => !tried.contains(&i) && (!rotation || self.health.in_rotation(i)),
                    None => tried.is_empty(),
                }
        };
        let rotation = rule
            .backends
            .iter()
            .any(|b| b.known.is_some() && usable(b, true));
        let total: u64 = rule
            .backends
            .iter()
            .filter(|b| usable(b, rotation))
            .map(|b| b.weight)
            .sum();
        if total == 0 {
            return None;
        }
        let n = self.draws.fetch_add(1, Ordering::Relaxed);
        let mut ticket = splitmix64(n) % total;
        rule.backends
            .iter()
            .filter(|b| usable(b, rotation))
            .find(|b| {
                if ticket < b.weight {
                    true
                } else {
                    ticket -= b.weight;
                    false
                }
            })
            .map(|b| b.known)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderMap;
    use rampdeck_base::httproute::PathMatch;

    fn route(name: &str, created: &str, hosts: &[&str], rules: Vec<RuleSpec>) -> RouteSpec {
        RouteSpec {
            namespace: "ns".into(),
            name: name.into(),
            created: created.into(),
            hostnames: hosts.iter().map(|h| h.to_string()).collect(),
            rules,
        }
    }

    fn rule(path: PathMatch, backend: &str) -> RuleSpec {
        RuleSpec {
            matches: vec![MatchSpec {
                path,
                method: None,
                headers: vec![],
                query: vec![],
            }],
            backends: vec![BackendSpec {
                name: backend.into(),
                weight: 1,
                valid_ref: true,
            }],
        }
    }

    fn ask(r: &Router, host: &str, path: &str) -> Option<Decision> {
        let headers = HeaderMap::new();
        r.route(&RequestView {
            host,
            path,
            method: "GET",
            headers: &headers,
            query: None,
        })
    }

    #[test]
    fn precedence_and_segments() {
        let r = Router::new(&["a".into(), "b".into(), "c".into()], None);
        r.program(&[
            route(
                "any",
                "2024-01-01T00:00:00Z",
                &[],
                vec![rule(PathMatch::Prefix("/".into()), "a")],
            ),
            route(
                "wild",
                "2024-01-01T00:00:00Z",
                &["*.example.com"],
                vec![rule(PathMatch::Prefix("/".into()), "b")],
            ),
            route(
                "exact",
                "2024-01-01T00:00:00Z",
                &["x.example.com"],
                vec![
                    rule(PathMatch::Prefix("/api".into()), "c"),
                    rule(PathMatch::Exact("/api/v1".into()), "a"),
                ],
            ),
        ]);
        assert_eq!(
            ask(&r, "x.example.com:8080", "/api/x"),
            Some(Decision::Backend(2))
        );
        assert_eq!(
            ask(&r, "X.Example.com", "/api/v1"),
            Some(Decision::Backend(0))
        );
        assert_eq!(
            ask(&r, "x.example.com", "/apix"),
            Some(Decision::Backend(1))
        );
        assert_eq!(ask(&r, "y.example.com", "/"), Some(Decision::Backend(1)));
        assert_eq!(ask(&r, "example.com", "/"), Some(Decision::Backend(0)));
        assert_eq!(ask(&r, "other", "/zzz"), Some(Decision::Backend(0)));
    }

    #[test]
    fn unknown_backend_and_swap_drop() {
        let r = Router::new(&["a".into(), "b".into()], Some(Duration::from_secs(60)));
        r.program(&[route(
            "r",
            "t",
            &["h"],
            vec![rule(PathMatch::Prefix("/".into()), "zzz")],
        )]);
        assert_eq!(ask(&r, "h", "/"), Some(Decision::Unroutable));
        assert_eq!(ask(&r, "other", "/"), None);
        r.program(&[route(
            "r",
            "t",
            &["h"],
            vec![rule(PathMatch::Prefix("/".into()), "a")],
        )]);
        assert_eq!(ask(&r, "h", "/"), Some(Decision::Dropped));
        let r = Router::new(&["a".into()], Some(Duration::from_secs(60)));
        r.program(&[route(
            "r",
            "t",
            &["h"],
            vec![rule(PathMatch::Prefix("/".into()), "a")],
        )]);
        assert_eq!(ask(&r, "h", "/"), Some(Decision::Backend(0)));
    }
}
