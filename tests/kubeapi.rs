//! The demo's simulated Kubernetes Gateway API, driven by kube-rs as a real client would
//! drive a cluster, and by the real kubectl when it is installed (ignored test).

mod support;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use gateway_api::gateways::Gateway;
use gateway_api::httproutes::HttpRoute;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::watcher;
use kube::{Api, Client, Config};
use rampdeck_demo::config::{DemoConfig, KubeSim};
use rampdeck_demo::DemoServer;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const NS: &str = "rampdeck";
const LIMIT: Duration = Duration::from_secs(30);

fn sim() -> KubeSim {
    KubeSim {
        propagation: Duration::from_millis(20),
        ..KubeSim::default()
    }
}

/// The demo with no static routes (so unmatched requests are 404) and a kube-rs client for it.
async fn start(kube: KubeSim) -> (DemoServer, Client) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let server = DemoServer::start(&DemoConfig {
        routes: Vec::new(),
        kube,
        echo: Default::default(),
    })
    .await
    .expect("bind 127.0.0.1");
    let url = format!("http://{}", server.addrs.control).parse().unwrap();
    let mut config = Config::new(url);
    config.default_namespace = NS.to_owned();
    let client = Client::try_from(config).unwrap();
    (server, client)
}

fn route(name: &str, backend: &str) -> HttpRoute {
    serde_json::from_value(json!({
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": name, "namespace": NS, "labels": {"app.kubernetes.io/managed-by": "rampdeck"}},
        "spec": {
            "parentRefs": [{"name": "rampdeck"}],
            "hostnames": [format!("{name}.example.com")],
            "rules": [{
                "matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
                "backendRefs": [{"name": backend, "port": 8080}],
            }],
        },
    }))
    .unwrap()
}

fn api_code(e: &kube::Error) -> u16 {
    match e {
        kube::Error::Api(s) => s.code,
        other => panic!("expected a Status error, got {other:?}"),
    }
}

fn api_reason(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(s) => s.reason.clone(),
        other => panic!("expected a Status error, got {other:?}"),
    }
}

/// A raw HTTP/1.1 exchange: (status, headers text, body).
async fn raw(addr: SocketAddr, request: String) -> (u16, String, String) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(request.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await.unwrap();
    let text = String::from_utf8_lossy(&buf).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let code = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (code, head.to_ascii_lowercase(), body.to_owned())
}

/// A GET through the demo gateway with this Host.
async fn through_gateway(addr: SocketAddr, host: &str) -> (u16, String, String) {
    raw(
        addr,
        format!("GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"),
    )
    .await
}

/// Polls `get` until `done` holds, failing after a few seconds.
async fn eventually<T, F, Fut>(what: &str, mut get: F, done: impl Fn(&T) -> bool) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = T>,
{
    let until = Instant::now() + Duration::from_secs(5);
    loop {
        let v = get().await;
        if done(&v) {
            return v;
        }
        assert!(Instant::now() < until, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn condition<'a>(
    r: &'a HttpRoute,
    kind: &str,
) -> Option<&'a k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition> {
    r.status
        .as_ref()?
        .parents
        .first()?
        .conditions
        .iter()
        .find(|c| c.type_ == kind)
}

fn attached(g: &Gateway) -> i32 {
    g.status
        .as_ref()
        .and_then(|s| s.listeners.as_ref())
        .and_then(|l| l.first())
        .map_or(-1, |l| l.attached_routes)
}

#[tokio::test]
async fn discovery_finds_gateway_api_resources() {
    tokio::time::timeout(LIMIT, async {
        let (_server, client) = start(sim()).await;
        let version = client.apiserver_version().await.unwrap();
        assert_eq!(version.major, "1");
        let discovery = kube::discovery::Discovery::new(client.clone())
            .run()
            .await
            .unwrap();
        let group = discovery
            .get("gateway.networking.k8s.io")
            .expect("the group is discovered");
        let kinds: Vec<String> = group
            .recommended_resources()
            .into_iter()
            .map(|(ar, caps)| {
                assert!(caps.supports_operation(kube::discovery::verbs::WATCH));
                assert_eq!(caps.scope, kube::discovery::Scope::Namespaced);
                ar.kind
            })
            .collect();
        assert!(kinds.contains(&"HTTPRoute".to_owned()), "{kinds:?}");
        assert!(kinds.contains(&"Gateway".to_owned()), "{kinds:?}");
        let (ar, _) = kube::discovery::pinned_kind(
            &client,
            &kube::api::GroupVersionKind::gvk("gateway.networking.k8s.io", "v1", "HTTPRoute"),
        )
        .await
        .unwrap();
        assert_eq!(ar.plural, "httproutes");
        // Paths outside the served API are 404 Status objects.
        let missing: Result<serde_json::Value, _> = client
            .request(
                http::Request::get("/apis/autoscaling/v2")
                    .body(Vec::new())
                    .unwrap(),
            )
            .await;
        assert_eq!(api_code(&missing.unwrap_err()), 404);
    })
    .await
    .expect("test finished in time");
}

#[tokio::test]
async fn create_get_list_replace_patch_delete() {
    tokio::time::timeout(LIMIT, async {
        let (_server, client) = start(sim()).await;
        let routes: Api<HttpRoute> = Api::default_namespaced(client.clone());
        let created = routes
            .create(&PostParams::default(), &route("route-1", "echo-v1"))
            .await
            .unwrap();
        let meta = &created.metadata;
        assert_eq!(meta.generation, Some(1));
        assert!(meta.uid.is_some() && meta.creation_timestamp.is_some());
        let rv1: u64 = meta.resource_version.as_deref().unwrap().parse().unwrap();

        let got = routes.get("route-1").await.unwrap();
        assert_eq!(got.spec, created.spec);
        let list = routes.list(&ListParams::default()).await.unwrap();
        assert_eq!(list.items.len(), 1);
        assert!(list.metadata.resource_version.is_some());
        let selected = routes
            .list(&ListParams::default().labels("app.kubernetes.io/managed-by=other"))
            .await
            .unwrap();
        assert!(selected.items.is_empty());
        let by_name = routes
            .list(&ListParams::default().fields("metadata.name=route-1"))
            .await
            .unwrap();
        assert_eq!(by_name.items.len(), 1);

        // Creating it again, or with a bad name, is refused like the API server does.
        let again = routes
            .create(&PostParams::default(), &route("route-1", "echo-v1"))
            .await
            .unwrap_err();
        assert_eq!(
            (api_code(&again), api_reason(&again).as_str()),
            (409, "AlreadyExists")
        );
        let invalid = routes
            .create(&PostParams::default(), &route("Bad_Name", "echo-v1"))
            .await
            .unwrap_err();
        assert_eq!(
            (api_code(&invalid), api_reason(&invalid).as_str()),
            (422, "Invalid")
        );
        assert!(invalid.to_string().contains("metadata.name"), "{invalid}");

        // A type error names the field, as the CRD schema validation would.
        let bad_port = serde_json::json!({
            "apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
            "metadata": {"name": "bad-port"},
            "spec": {"rules": [{"backendRefs": [{"name": "echo-v1", "port": "http"}]}]},
        });
        let raw_api: Api<kube::api::DynamicObject> = Api::default_namespaced_with(
            client.clone(),
            &kube::api::ApiResource::erase::<HttpRoute>(&()),
        );
        let e = raw_api
            .create(
                &PostParams::default(),
                &serde_json::from_value(bad_port).unwrap(),
            )
            .await
            .unwrap_err();
        assert_eq!(api_code(&e), 422);
        assert!(
            e.to_string().contains("spec.rules[0].backendRefs[0].port"),
            "{e}"
        );

        // Unknown fields: rejected under Strict, pruned (with a warning) by default.
        let typo: kube::api::DynamicObject = serde_json::from_value(json!({
            "apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
            "metadata": {"name": "typo"},
            "spec": {"hostnamez": ["typo.example.com"], "parentRefs": [{"name": "rampdeck"}]},
        }))
        .unwrap();
        let strict = PatchParams::apply("rampdeck").validation_strict();
        let e = raw_api
            .patch("typo", &strict, &Patch::Apply(&typo))
            .await
            .unwrap_err();
        assert_eq!(api_code(&e), 400);
        assert!(
            e.to_string().contains("unknown field \"spec.hostnamez\""),
            "{e}"
        );
        let pruned = raw_api.create(&PostParams::default(), &typo).await.unwrap();
        assert!(
            pruned.data["spec"].get("hostnamez").is_none(),
            "{:?}",
            pruned.data
        );
        raw_api
            .delete("typo", &DeleteParams::default())
            .await
            .unwrap();

        // Replace: a new spec bumps generation; a stale resourceVersion is a conflict. The
        // controller writes status too, so wait for it before reading a resourceVersion.
        let got = eventually(
            "route status",
            || routes.get("route-1"),
            |r| r.as_ref().is_ok_and(|r| condition(r, "Accepted").is_some()),
        )
        .await
        .unwrap();
        let mut changed = got.clone();
        changed.spec = route("route-1", "echo-v2").spec;
        let replaced = routes
            .replace("route-1", &PostParams::default(), &changed)
            .await
            .unwrap();
        assert_eq!(replaced.metadata.generation, Some(2));
        let rv2: u64 = replaced
            .metadata
            .resource_version
            .as_deref()
            .unwrap()
            .parse()
            .unwrap();
        assert!(rv2 > rv1);
        let stale = routes
            .replace("route-1", &PostParams::default(), &changed)
            .await
            .unwrap_err();
        assert_eq!(
            (api_code(&stale), api_reason(&stale).as_str()),
            (409, "Conflict")
        );

        eventually(
            "status for generation 2",
            || routes.get("route-1"),
            |r| {
                r.as_ref().is_ok_and(|r| {
                    condition(r, "Accepted").and_then(|c| c.observed_generation) == Some(2)
                })
            },
        )
        .await
        .unwrap();

        // Merge patch: labels change, spec and generation do not.
        let patched = routes
            .patch(
                "route-1",
                &PatchParams::default(),
                &Patch::Merge(json!({"metadata": {"labels": {"tier": "edge"}}})),
            )
            .await
            .unwrap();
        assert_eq!(patched.metadata.labels.as_ref().unwrap()["tier"], "edge");
        assert_eq!(patched.metadata.generation, Some(2));
        // Status sent to the main resource is ignored.
        let ignored = routes
            .patch(
                "route-1",
                &PatchParams::default(),
                &Patch::Merge(
                    json!({"status": {"parents": []}, "metadata": {"labels": {"x": "y"}}}),
                ),
            )
            .await
            .unwrap();
        assert_eq!(ignored.status, patched.status);
        let strategic = routes
            .patch(
                "route-1",
                &PatchParams::default(),
                &Patch::Strategic(json!({"metadata": {"labels": {"x": "z"}}})),
            )
            .await
            .unwrap_err();
        assert_eq!(api_code(&strategic), 415);

        // The status subresource changes status only.
        let st = routes
            .patch_status(
                "route-1",
                &PatchParams::default(),
                &Patch::Merge(
                    json!({"metadata": {"labels": {"via": "status"}}, "status": {"parents": []}}),
                ),
            )
            .await
            .unwrap();
        assert!(st.status.is_some_and(|s| s.parents.is_empty()));
        assert!(!st.metadata.labels.unwrap().contains_key("via"));
        assert_eq!(st.metadata.generation, Some(2));

        let deleted = routes
            .delete("route-1", &DeleteParams::default())
            .await
            .unwrap();
        assert!(deleted.is_left(), "the deleted object comes back");
        let gone = routes.get("route-1").await.unwrap_err();
        assert_eq!(api_code(&gone), 404);
        let gone = routes
            .delete("route-1", &DeleteParams::default())
            .await
            .unwrap_err();
        assert_eq!(api_code(&gone), 404);
    })
    .await
    .expect("test finished in time");
}

#[tokio::test]
async fn server_side_apply_status_and_attached_routes() {
    tokio::time::timeout(LIMIT, async {
        let (server, client) = start(sim()).await;
        let routes: Api<HttpRoute> = Api::default_namespaced(client.clone());
        let gateways: Api<Gateway> = Api::default_namespaced(client.clone());
        let ssa = PatchParams::apply("rampdeck");

        let gw = gateways.get("rampdeck").await.unwrap();
        assert_eq!(gw.spec.gateway_class_name, "rampdeck-demo");
        assert_eq!(attached(&gw), 0);
        let programmed = gw.status.as_ref().and_then(|s| s.conditions.as_ref()).unwrap();
        assert!(programmed.iter().any(|c| c.type_ == "Programmed" && c.status == "True"));

        let applied = routes
            .patch("route-1", &ssa, &Patch::Apply(route("route-1", "echo-v1")))
            .await
            .unwrap();
        assert_eq!(applied.metadata.generation, Some(1));
        let managers: Vec<_> = applied
            .metadata
            .managed_fields
            .iter()
            .flatten()
            .map(|m| m.manager.clone().unwrap_or_default())
            .collect();
        assert_eq!(managers, ["rampdeck"]);

        let r = eventually(
            "route status",
            || routes.get_status("route-1"),
            |r| r.as_ref().is_ok_and(|r| condition(r, "ResolvedRefs").is_some()),
        )
        .await
        .unwrap();
        let accepted = condition(&r, "Accepted").unwrap();
        assert_eq!((accepted.status.as_str(), accepted.observed_generation), ("True", Some(1)));
        assert_eq!(condition(&r, "ResolvedRefs").unwrap().status, "True");
        let parent = &r.status.as_ref().unwrap().parents[0];
        assert_eq!(parent.controller_name, "rampdeck.dev/demo-gateway");
        eventually("attachedRoutes 1", || gateways.get("rampdeck"), |g| {
            g.as_ref().is_ok_and(|g| attached(g) == 1)
        })
        .await
        .unwrap();

        // Apply again with another backend: generation 2, status follows.
        let applied = routes
            .patch("route-1", &ssa, &Patch::Apply(route("route-1", "echo-v2")))
            .await
            .unwrap();
        assert_eq!(applied.metadata.generation, Some(2));
        let r = eventually("observedGeneration 2", || routes.get("route-1"), |r| {
            r.as_ref().is_ok_and(|r| {
                condition(r, "Accepted").and_then(|c| c.observed_generation) == Some(2)
            })
        })
        .await
        .unwrap();
        assert_eq!(r.spec.rules.unwrap()[0].backend_refs.as_ref().unwrap()[0].name, "echo-v2");

        // Another manager changing the spec conflicts unless it forces.
        let other = routes
            .patch("route-1", &PatchParams::apply("other"), &Patch::Apply(route("route-1", "echo-v1")))
            .await
            .unwrap_err();
        assert_eq!(api_code(&other), 409);
        assert!(other.to_string().contains("conflict with \"rampdeck\""), "{other}");
        routes
            .patch(
                "route-1",
                &PatchParams::apply("other").force(),
                &Patch::Apply(route("route-1", "echo-v2")),
            )
            .await
            .unwrap();

        // An unknown backend: accepted, but ResolvedRefs False.
        routes
            .patch(
                "route-2",
                &ssa,
                &Patch::Apply(route("route-2", "echo-v9")),
            )
            .await
            .unwrap();
        let r2 = eventually("route-2 status", || routes.get("route-2"), |r| {
            r.as_ref().is_ok_and(|r| condition(r, "ResolvedRefs").is_some())
        })
        .await
        .unwrap();
        let resolved = condition(&r2, "ResolvedRefs").unwrap();
        assert_eq!((resolved.status.as_str(), resolved.reason.as_str()), ("False", "BackendNotFound"));
        eventually("attachedRoutes 2", || gateways.get("rampdeck"), |g| {
            g.as_ref().is_ok_and(|g| attached(g) == 2)
        })
        .await
        .unwrap();
        let (code, _, _) = through_gateway(server.addrs.gateway, "route-2.example.com").await;
        assert_eq!(code, 500, "an unresolved backendRef is a 500");

        routes.delete("route-1", &DeleteParams::default()).await.unwrap();
        routes.delete("route-2", &DeleteParams::default()).await.unwrap();
        eventually("attachedRoutes 0", || gateways.get("rampdeck"), |g| {
            g.as_ref().is_ok_and(|g| attached(g) == 0)
        })
        .await
        .unwrap();

        // Apply needs a field manager.
        let (code, _, body) = raw(
            server.addrs.control,
            format!(
                "PATCH /apis/gateway.networking.k8s.io/v1/namespaces/{NS}/httproutes/x HTTP/1.1\r\nHost: k\r\nContent-Type: application/apply-patch+yaml\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{{}}"
            ),
        )
        .await;
        assert_eq!(code, 422, "{body}");
        assert!(body.contains("fieldManager"), "{body}");
    })
    .await
    .expect("test finished in time");
}

#[tokio::test]
async fn watcher_sees_added_modified_deleted() {
    tokio::time::timeout(LIMIT, async {
        let (_server, client) = start(sim()).await;
        let routes: Api<HttpRoute> = Api::default_namespaced(client.clone());
        let mut events = watcher(routes.clone(), watcher::Config::default()).boxed();
        // The initial list is empty; wait for it so later writes arrive as live events.
        loop {
            match events.next().await.unwrap().unwrap() {
                watcher::Event::InitDone => break,
                watcher::Event::Init | watcher::Event::InitApply(_) => {}
                other => panic!("unexpected {other:?}"),
            }
        }
        routes
            .create(&PostParams::default(), &route("route-1", "echo-v1"))
            .await
            .unwrap();
        routes
            .patch(
                "route-1",
                &PatchParams::default(),
                &Patch::Merge(json!({"metadata": {"labels": {"step": "two"}}})),
            )
            .await
            .unwrap();
        routes
            .delete("route-1", &DeleteParams::default())
            .await
            .unwrap();
        let mut seen = Vec::new();
        while let Some(e) = events.next().await {
            match e.unwrap() {
                watcher::Event::Apply(r) => {
                    let step = r
                        .metadata
                        .labels
                        .as_ref()
                        .and_then(|l| l.get("step").cloned());
                    seen.push(format!("apply:{}", step.unwrap_or_default()));
                }
                watcher::Event::Delete(_) => {
                    seen.push("delete".to_owned());
                    break;
                }
                _ => {}
            }
        }
        // ADDED, MODIFIED (label), possibly MODIFIED (status from the controller), DELETED.
        assert_eq!(seen.first().map(String::as_str), Some("apply:"), "{seen:?}");
        assert!(seen.contains(&"apply:two".to_owned()), "{seen:?}");
        assert_eq!(seen.last().map(String::as_str), Some("delete"), "{seen:?}");
    })
    .await
    .expect("test finished in time");
}

#[tokio::test]
async fn watch_from_compacted_history_is_expired() {
    tokio::time::timeout(LIMIT, async {
        let (server, client) = start(sim()).await;
        let gateways: Api<Gateway> = Api::default_namespaced(client.clone());
        // More writes than the history keeps.
        for i in 0..rampdeck_demo::kubeapi::store::HISTORY + 10 {
            gateways
                .patch(
                    "rampdeck",
                    &PatchParams::default(),
                    &Patch::Merge(json!({"metadata": {"labels": {"n": i.to_string()}}})),
                )
                .await
                .unwrap();
        }
        let (code, _, body) = raw(
            server.addrs.control,
            format!("GET /apis/gateway.networking.k8s.io/v1/namespaces/{NS}/gateways?watch=true&resourceVersion=1&timeoutSeconds=1 HTTP/1.1\r\nHost: k\r\nConnection: close\r\n\r\n"),
        )
        .await;
        assert_eq!(code, 200);
        assert!(body.contains("\"type\":\"ERROR\""), "{body}");
        assert!(body.contains("\"code\":410"), "{body}");
        // A recent resourceVersion resumes with just the later events.
        let rv = gateways.get("rampdeck").await.unwrap().metadata.resource_version.unwrap();
        let (_, _, body) = raw(
            server.addrs.control,
            format!("GET /apis/gateway.networking.k8s.io/v1/namespaces/{NS}/gateways?watch=1&resourceVersion={rv}&timeoutSeconds=1&allowWatchBookmarks=true HTTP/1.1\r\nHost: k\r\nConnection: close\r\n\r\n"),
        )
        .await;
        assert!(!body.contains("\"type\":\"ADDED\""), "{body}");
    })
    .await
    .expect("test finished in time");
}

#[tokio::test]
async fn routes_are_served_after_the_propagation_delay() {
    let _serial = support::SERIAL.lock().await;
    tokio::time::timeout(LIMIT, async {
        let propagation = Duration::from_millis(100);
        let (server, client) = start(KubeSim {
            propagation,
            ..KubeSim::default()
        })
        .await;
        let routes: Api<HttpRoute> = Api::default_namespaced(client.clone());
        let gw = server.addrs.gateway;
        let (code, _, _) = through_gateway(gw, "route-1.example.com").await;
        assert_eq!(code, 404, "no route yet");

        let before = Instant::now();
        routes
            .patch(
                "route-1",
                &PatchParams::apply("rampdeck"),
                &Patch::Apply(route("route-1", "echo-v1")),
            )
            .await
            .unwrap();
        let written = Instant::now();
        let (served_at, head, body) = loop {
            let (code, head, body) = through_gateway(gw, "route-1.example.com:80").await;
            if code == 200 {
                break (Instant::now(), head, body);
            }
            assert_eq!(code, 404);
            assert!(before.elapsed() < Duration::from_secs(3), "never served");
            tokio::time::sleep(Duration::from_millis(2)).await;
        };
        assert_eq!(body, "echo-v1\n");
        assert!(head.contains("x-backend: echo-v1"), "{head}");
        let upper = served_at - written;
        let lower = served_at - before;
        assert!(
            lower >= propagation,
            "served after {lower:?}, before the {propagation:?} delay"
        );
        assert!(
            upper <= propagation + Duration::from_millis(400),
            "served {upper:?} after the write, configured {propagation:?}"
        );
        // Other hosts still fall through to the (empty) static table.
        let (code, _, _) = through_gateway(gw, "elsewhere.example.com").await;
        assert_eq!(code, 404);

        let (_, _, metrics) = raw(
            server.addrs.control,
            "GET /metrics HTTP/1.1\r\nHost: k\r\nConnection: close\r\n\r\n".to_owned(),
        )
        .await;
        assert!(
            metrics.contains("demo_gateway_backend_requests_total{backend=\"echo-v1\"} 1"),
            "{metrics}"
        );
        assert!(
            metrics.contains("demo_gateway_httproutes_programmed 1"),
            "{metrics}"
        );
    })
    .await
    .expect("test finished in time");
}

/// Applies route-1 on echo-v1, waits until served, swaps it to echo-v2 and counts 503s
/// until echo-v2 has answered for a while.
async fn swap_and_count_503s(swap_drop: Option<Duration>) -> usize {
    let (server, client) = start(KubeSim {
        propagation: Duration::from_millis(20),
        swap_drop,
        ..KubeSim::default()
    })
    .await;
    let routes: Api<HttpRoute> = Api::default_namespaced(client.clone());
    let gw = server.addrs.gateway;
    let ssa = PatchParams::apply("rampdeck");
    routes
        .patch("route-1", &ssa, &Patch::Apply(route("route-1", "echo-v1")))
        .await
        .unwrap();
    eventually(
        "echo-v1 served",
        || through_gateway(gw, "route-1.example.com"),
        |r| r.0 == 200,
    )
    .await;
    routes
        .patch("route-1", &ssa, &Patch::Apply(route("route-1", "echo-v2")))
        .await
        .unwrap();
    let start = Instant::now();
    let (mut drops, mut v2) = (0, 0);
    while v2 < 20 {
        let (code, _, body) = through_gateway(gw, "route-1.example.com").await;
        match (code, body.as_str()) {
            (503, _) => drops += 1,
            (200, "echo-v2\n") => v2 += 1,
            (200, "echo-v1\n") => {}
            other => panic!("unexpected answer {other:?}"),
        }
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "echo-v2 never served"
        );
    }
    drops
}

#[tokio::test]
async fn swap_drop_fault_drops_requests_during_a_backend_swap() {
    let _serial = support::SERIAL.lock().await;
    tokio::time::timeout(LIMIT, async {
        let with = swap_and_count_503s(Some(Duration::from_millis(200))).await;
        assert!(with > 0, "the fault should drop requests after the swap");
        let without = swap_and_count_503s(None).await;
        assert_eq!(without, 0, "no drops without the fault");
    })
    .await
    .expect("test finished in time");
}

/// Runs kubectl against the demo and returns its stdout, failing the test if kubectl fails.
async fn kubectl(
    kubeconfig: std::path::PathBuf,
    cache: std::path::PathBuf,
    args: &[&str],
    stdin: Option<&str>,
) -> String {
    let mut child = tokio::process::Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .arg("--cache-dir")
        .arg(&cache)
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("kubectl runs");
    let mut input = child.stdin.take().unwrap();
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).await.unwrap();
    }
    drop(input);
    let out = tokio::time::timeout(Duration::from_secs(30), child.wait_with_output())
        .await
        .expect("kubectl finished")
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    println!("$ kubectl {}\n{stdout}{stderr}", args.join(" "));
    assert!(out.status.success(), "kubectl {args:?} failed: {stderr}");
    stdout
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs kubectl (apt-get install kubernetes-client)"]
async fn kubectl_reads_and_writes_the_demo_api() {
    let (server, client) = start(sim()).await;
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    rampdeck_demo::kubeapi::write_kubeconfig(&kubeconfig, server.addrs.control, NS).unwrap();
    let routes: Api<HttpRoute> = Api::default_namespaced(client.clone());
    routes
        .patch(
            "route-1",
            &PatchParams::apply("rampdeck"),
            &Patch::Apply(route("route-1", "echo-v1")),
        )
        .await
        .unwrap();
    let gateways: Api<Gateway> = Api::default_namespaced(client.clone());
    eventually(
        "attachedRoutes 1",
        || gateways.get("rampdeck"),
        |g| g.as_ref().is_ok_and(|g| attached(g) == 1),
    )
    .await
    .unwrap();

    let cache = dir.path().join("cache");
    let kubectl = |args: &'static [&'static str], stdin: Option<&'static str>| {
        kubectl(kubeconfig.clone(), cache.clone(), args, stdin)
    };

    let yaml = kubectl(&["get", "httproutes", "-o", "yaml"], None).await;
    assert!(yaml.contains("name: route-1"), "{yaml}");
    assert!(
        yaml.contains("controllerName: rampdeck.dev/demo-gateway"),
        "{yaml}"
    );
    let table = kubectl(&["get", "gateways"], None).await;
    assert!(
        table.contains("CLASS") && table.contains("rampdeck-demo"),
        "{table}"
    );
    let table = kubectl(&["get", "httproutes"], None).await;
    assert!(table.contains("route-1.example.com"), "{table}");
    let count = kubectl(
        &[
            "get",
            "gateway",
            "rampdeck",
            "-o",
            "jsonpath={.status.listeners[0].attachedRoutes}",
        ],
        None,
    )
    .await;
    assert_eq!(count.trim(), "1");

    let manifest = "apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: route-2
spec:
  parentRefs: [{name: rampdeck}]
  hostnames: [route-2.example.com]
  rules:
  - backendRefs: [{name: echo-v2, port: 8080}]
";
    let applied = kubectl(&["apply", "--server-side", "-f", "-"], Some(manifest)).await;
    assert!(applied.contains("route-2"), "{applied}");
    eventually(
        "attachedRoutes 2",
        || gateways.get("rampdeck"),
        |g| g.as_ref().is_ok_and(|g| attached(g) == 2),
    )
    .await
    .unwrap();
    let (code, _, body) = through_gateway(server.addrs.gateway, "route-2.example.com").await;
    assert_eq!((code, body.as_str()), (200, "echo-v2\n"));
    let waited = kubectl(
        &[
            "wait",
            "--for=condition=Accepted",
            "--timeout=10s",
            "gateway/rampdeck",
        ],
        None,
    )
    .await;
    assert!(waited.contains("condition met"), "{waited}");
    let deleted = kubectl(&["delete", "httproute", "route-2"], None).await;
    assert!(deleted.contains("deleted"), "{deleted}");
    let ns = kubectl(&["get", "namespaces"], None).await;
    assert!(ns.contains("rampdeck"), "{ns}");
}
