//! Route actions against scripted servers: Kubernetes API errors (403, 404, 409, 422, a hang), admin-API and command actions.

mod support;

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rampdeck::routes::{ActionRecord, Phase};
use rampdeck::spec::kube::{KubeOp, KubeSettings};
use rampdeck::spec::routes::*;
use tokio::net::TcpListener;

/// Answers every request with `status` and `body`, or never (`None`).
async fn scripted(answer: Option<(u16, String)>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let answer = Arc::new(answer);
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let answer = answer.clone();
            tokio::spawn(async move {
                let svc = service_fn(move |_req: Request<hyper::body::Incoming>| {
                    let answer = answer.clone();
                    async move {
                        match answer.as_ref() {
                            Some((code, body)) => {
                                let mut r = Response::new(Full::new(Bytes::from(body.clone())));
                                *r.status_mut() = hyper::StatusCode::from_u16(*code).unwrap();
                                r.headers_mut()
                                    .insert("content-type", "application/json".parse().unwrap());
                                Ok::<_, Infallible>(r)
                            }
                            None => {
                                tokio::time::sleep(Duration::from_secs(3600)).await;
                                Ok(Response::new(Full::new(Bytes::new())))
                            }
                        }
                    }
                });
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    addr
}

fn status(code: u16, reason: &str, message: &str, name: &str) -> String {
    serde_json::json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": message, "reason": reason, "code": code,
        "details": if name.is_empty() { serde_json::json!({}) } else { serde_json::json!({"name": name, "group": "gateway.networking.k8s.io", "kind": "httproutes"}) },
    })
    .to_string()
}

fn kubeconfig(dir: &std::path::Path, server: SocketAddr) -> std::path::PathBuf {
    let path = dir.join("kubeconfig");
    std::fs::write(
        &path,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: http://{server}\ncontexts:\n- name: test\n  context:\n    cluster: c\n    user: u\n    namespace: rampdeck\ncurrent-context: test\nusers:\n- name: u\n  user: {{}}\n"
        ),
    )
    .unwrap();
    path
}

fn route_object() -> serde_json::Value {
    serde_json::json!({
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
        "metadata": {"name": "route-{{n}}"},
        "spec": {"parentRefs": [{"name": "rampdeck"}],
                 "rules": [{"backendRefs": [{"name": "echo-v1", "port": 8080}]}]}
    })
}

fn action(kind: ActionKind, timeout: Duration) -> ActionConfig {
    ActionConfig {
        name: "flip".into(),
        key: Some(1),
        at: Vec::new(),
        timeout,
        vars: BTreeMap::new(),
        affects: None,
        kind,
        verify: None,
    }
}

fn kube_apply() -> ActionKind {
    ActionKind::Kube(KubeAction {
        op: KubeOp::Apply,
        object: ObjectSource::Inline(route_object()),
        patch: None,
        namespace: None,
        watch: false,
        waits: Vec::new(),
    })
}

/// Fires action 0 once and returns its final record.
async fn fire_once(cfg: RoutesConfig) -> ActionRecord {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let mut h = rampdeck::routes::start(Arc::new(cfg), BTreeMap::new(), Instant::now(), None, tx);
    h.fire(0);
    let last = tokio::time::timeout(Duration::from_secs(20), async {
        while let Some(ev) = rx.recv().await {
            if matches!(ev.phase, Phase::Failed | Phase::Propagated) {
                return ev;
            }
        }
        panic!("the runner stopped without a final record");
    })
    .await
    .expect("a final record within 20 s");
    h.stop().await;
    last
}

async fn kube_error(answer: Option<(u16, String)>, timeout: Duration) -> String {
    let server = scripted(answer).await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = RoutesConfig {
        kube: KubeSettings {
            kubeconfig: Some(kubeconfig(dir.path(), server)),
            ..Default::default()
        },
        actions: vec![action(kube_apply(), timeout)],
        base_vars: BTreeMap::new(),
    };
    let r = fire_once(cfg).await;
    assert_eq!(r.phase, Phase::Failed, "{r:?}");
    assert_eq!(r.detail, "apply HTTPRoute rampdeck/route-1");
    r.error.unwrap()
}

#[tokio::test]
async fn forbidden_names_the_verb_resource_and_the_rbac_manifest() {
    let e = kube_error(
        Some((403, status(403, "Forbidden", "httproutes.gateway.networking.k8s.io \"route-1\" is forbidden: User \"x\" cannot patch resource", "route-1"))),
        Duration::from_secs(5),
    )
    .await;
    assert!(
        e.contains(
            "not allowed to patch httproutes.gateway.networking.k8s.io in namespace rampdeck"
        ),
        "{e}"
    );
    assert!(e.contains("manifests/rbac.yaml"), "{e}");
}

#[tokio::test]
async fn missing_crds_are_named() {
    let e = kube_error(
        Some((
            404,
            status(
                404,
                "NotFound",
                "the server could not find the requested resource",
                "",
            ),
        )),
        Duration::from_secs(5),
    )
    .await;
    assert!(e.contains("Gateway API CRDs are not installed"), "{e}");
}

#[tokio::test]
async fn conflict_and_invalid_show_the_servers_message() {
    let e = kube_error(
        Some((
            409,
            status(
                409,
                "Conflict",
                "Apply failed with 1 conflict: conflict with \"kubectl\": .spec.rules",
                "route-1",
            ),
        )),
        Duration::from_secs(5),
    )
    .await;
    assert!(
        e.starts_with("409 Conflict on HTTPRoute rampdeck/route-1"),
        "{e}"
    );
    assert!(e.contains("conflict with \"kubectl\""), "{e}");
    let e = kube_error(
        Some((422, status(422, "Invalid", "HTTPRoute.gateway.networking.k8s.io \"route-1\" is invalid: spec.hostnames[0]: Invalid value", "route-1"))),
        Duration::from_secs(5),
    )
    .await;
    assert!(
        e.starts_with("422 Invalid HTTPRoute rampdeck/route-1"),
        "{e}"
    );
    assert!(e.contains("spec.hostnames[0]"), "{e}");
}

#[tokio::test]
async fn a_hanging_api_server_times_out_and_says_so() {
    let started = Instant::now();
    let e = kube_error(None, Duration::from_millis(500)).await;
    assert!(e.contains("no answer within 500ms"), "{e}");
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[tokio::test]
async fn a_missing_kubeconfig_or_context_says_which() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope");
    let mut cfg = RoutesConfig {
        kube: KubeSettings {
            kubeconfig: Some(missing.clone()),
            ..Default::default()
        },
        actions: vec![action(kube_apply(), Duration::from_secs(5))],
        base_vars: BTreeMap::new(),
    };
    let r = fire_once(cfg.clone()).await;
    let e = r.error.unwrap();
    assert!(
        e.contains(&format!("cannot read kubeconfig {}", missing.display())),
        "{e}"
    );

    let server = scripted(Some((200, "{}".into()))).await;
    cfg.kube.kubeconfig = Some(kubeconfig(dir.path(), server));
    cfg.kube.context = Some("prod".into());
    let e = fire_once(cfg).await.error.unwrap();
    assert!(e.contains("has no context 'prod' (it has: test)"), "{e}");
}

#[tokio::test]
async fn http_action_reports_status_and_body_on_failure() {
    let server = scripted(Some((400, "{\"error\":\"bad route\"}".into()))).await;
    let cfg = RoutesConfig {
        actions: vec![action(
            ActionKind::Http(HttpAction {
                method: http::Method::POST,
                url: format!("http://{server}/config/apps/http/servers/srv0/routes"),
                headers: vec![("content-type".into(), "application/json".into())],
                body: Some("{\"n\": {{n}}}".into()),
                expect_status: None,
            }),
            Duration::from_secs(5),
        )],
        ..Default::default()
    };
    let r = fire_once(cfg).await;
    let e = r.error.unwrap();
    assert!(
        e.contains("answered HTTP 400: {\"error\":\"bad route\"}"),
        "{e}"
    );
}

#[tokio::test]
async fn command_action_applies_and_verify_measures_propagation() {
    // The verify URL answers 200 at once, so propagation is one poll away.
    let server = scripted(Some((200, "echo-v2\n".into()))).await;
    let mut a = action(
        ActionKind::Command(CommandAction {
            argv: vec!["sh".into(), "-c".into(), "sleep 0.05".into()],
            env: Vec::new(),
            cwd: None,
        }),
        Duration::from_secs(5),
    );
    a.verify = Some(VerifyConfig {
        url: format!("http://{server}/"),
        host: Some("route-1.example.com".into()),
        status: 200,
        header: None,
        body_contains: Some("echo-v2".into()),
        interval: Duration::from_millis(5),
        timeout: Duration::from_secs(5),
    });
    let r = fire_once(RoutesConfig {
        actions: vec![a],
        ..Default::default()
    })
    .await;
    assert_eq!(r.phase, Phase::Propagated, "{r:?}");
    assert!(r.apply_ms.unwrap() >= 50.0, "{r:?}");
    assert!(r.data_plane_ms.unwrap() < 1000.0, "{r:?}");
    assert_eq!(r.verify_polls, Some(1));

    let failing = action(
        ActionKind::Command(CommandAction {
            argv: vec![
                "sh".into(),
                "-c".into(),
                "echo no such route >&2; exit 3".into(),
            ],
            env: Vec::new(),
            cwd: None,
        }),
        Duration::from_secs(5),
    );
    let r = fire_once(RoutesConfig {
        actions: vec![failing],
        ..Default::default()
    })
    .await;
    let e = r.error.unwrap();
    assert!(
        e.contains("exit status 3") && e.contains("no such route"),
        "{e}"
    );
}

/// A headless run against the in-process demo with scheduled kube actions:
/// summary.json carries each firing, its propagation (the demo's configured
/// delay) and the drops around it, with the demo's swap fault on and off.
async fn scheduled_flip(swap_drop: Option<&str>) -> serde_json::Value {
    let mut config = rampdeck_demo::config::DemoConfig::default();
    config.kube.propagation = Duration::from_millis(100);
    config.kube.swap_drop = swap_drop.map(|d| humantime::parse_duration(d).unwrap());
    let (demo, dir, kubeconfig) = support::demo_with_kube(&config).await;
    let profile = format!(
        r#"
[target]
url = "http://{gw}"
timeout = "1s"
[[request]]
name = "shop"
path = "/shop"
headers = {{ host = "shop.example.com" }}
[load]
rate = 200
duration = "8s"
[kube]
kubeconfig = "{kc}"
[[route_action]]
name = "flip"
kind = "kube"
at = ["10ms", "1500ms"]
vars = {{ backend = ["echo-v1", "echo-v2"] }}
watch = true
verify = {{ url = "{{{{target}}}}/shop", host = "shop.example.com", header = "x-backend: {{{{backend}}}}" }}
[route_action.object]
apiVersion = "gateway.networking.k8s.io/v1"
kind = "HTTPRoute"
metadata = {{ name = "shop", namespace = "rampdeck" }}
spec = {{ parentRefs = [{{ name = "rampdeck" }}], hostnames = ["shop.example.com"], rules = [{{ backendRefs = [{{ name = "{{{{backend}}}}", port = 8080 }}] }}] }}
"#,
        gw = demo.addrs.gateway,
        kc = kubeconfig.display()
    );
    let out = support::run_headless("flip.toml", &profile, dir.path()).await;
    // The run log keeps each firing and replays.
    let log = rampdeck::run::log::read(&out).unwrap();
    let fired = log
        .probes
        .iter()
        .filter(|p| p["type"] == "route_action")
        .count();
    assert!(
        fired >= 6,
        "fired, applied, propagated for two firings: {fired}"
    );
    rampdeck::run::replay::Recording::load(&out).unwrap();
    let text = std::fs::read_to_string(out.join("summary.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scheduled_flip_writes_propagation_and_drops_to_the_summary() {
    let s = scheduled_flip(None).await;
    let actions = s["route_actions"].as_array().unwrap();
    assert_eq!(actions.len(), 2, "{actions:?}");
    let flip = &actions[1];
    assert_eq!(flip["phase"], "propagated", "{flip}");
    assert_eq!(
        flip["detail"],
        "apply HTTPRoute rampdeck/shop (backend=echo-v2)"
    );
    // The demo programs routes 100 ms after a write: both planes see that.
    for key in ["data_plane_ms", "control_plane_ms"] {
        let ms = flip[key].as_f64().unwrap();
        assert!((95.0..400.0).contains(&ms), "{key} {ms}: {flip}");
    }
    assert_eq!(flip["attached_routes"], 1);
    // Without a fault, a flip between two live backends drops nothing.
    assert_eq!(flip["drops"]["drops"], 0, "{flip}");
    assert_eq!(flip["drops"]["complete"], true, "{flip}");
    // The first firing created the route: until it was programmed the
    // hostname had no route, so the verify probe and the load got 404s.
    let create = &actions[0];
    assert_eq!(create["phase"], "propagated", "{create}");
    assert_eq!(create["verify_misses"][0][0], 404, "{create}");
    let misses = create["verify_misses"][0][1].as_u64().unwrap();
    assert!(misses >= 10, "{create}");
    let listed = create["drops"]["listed"].as_array().unwrap();
    assert!(!listed.is_empty(), "{create}");
    for d in listed {
        assert_eq!(d["outcome"], "http 404", "{create}");
        assert!(d["offset_ms"].as_f64().unwrap() < 150.0, "{create}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demos_swap_fault_shows_up_as_listed_drops() {
    let s = scheduled_flip(Some("50ms")).await;
    let flip = &s["route_actions"][1];
    let d = &flip["drops"];
    let total = d["drops"].as_u64().unwrap();
    // 200 req/s for 50 ms: about 10 requests get the 503.
    assert!((3..=25).contains(&total), "{d}");
    for drop in d["listed"].as_array().unwrap() {
        assert_eq!(drop["outcome"], "http 503", "{d}");
        assert_eq!(drop["request"], "shop");
        // Sent after the action applied, within propagation + fault (+ slack).
        let off = drop["offset_ms"].as_f64().unwrap();
        assert!((50.0..400.0).contains(&off), "{d}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scheduled_action_fires_on_the_run_clock_after_a_pause() {
    let _serial = support::SERIAL.lock().await;
    let server = support::fixed_server(200, "ok").await;
    // Stage 2 begins at run clock 1 s, and so does the action; the run is
    // paused from 0.3 s to 1.3 s, so both come at 2 s of wall time, and both
    // are stamped 1 s: one clock for everything shown (wall time beside it).
    let plan = support::plan(
        server,
        "[load]\n[[load.stages]]\nkind = \"hold\"\ntarget = 10\nduration = \"1s\"\n[[load.stages]]\nkind = \"hold\"\ntarget = 20\nduration = \"1s\"\n\
         [[route_action]]\nname = \"flip\"\nkind = \"command\"\ncommand = [\"true\"]\nat = \"1s\"\n",
    );
    let mut h = rampdeck::engine::start(plan.clone()).await.unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let mut routes = rampdeck::routes::start_for(&plan, h.started, Some(h.clock.clone()), tx);
    let control = h.control.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let _ = control.send(rampdeck::engine::Control::Pause);
        tokio::time::sleep(Duration::from_millis(1000)).await;
        let _ = control.send(rampdeck::engine::Control::Resume);
    });
    let (mut stage2, mut stage2_wall, mut paused, mut resumed) = (None, None, None, None);
    while let Some(e) = h.events.recv().await {
        if let rampdeck::engine::EngineEvent::Event(e) = e {
            match e.kind {
                rampdeck::engine::event::EventKind::Stage { index: 1 } => {
                    stage2 = Some(e.at);
                    stage2_wall = e.wall;
                }
                rampdeck::engine::event::EventKind::Paused => paused = Some(e.at),
                rampdeck::engine::event::EventKind::Resumed => resumed = Some(e.at),
                _ => {}
            }
        }
    }
    routes.stop().await;
    let _ = h.task.await;
    let mut fired = None;
    while let Ok(e) = rx.try_recv() {
        fired.get_or_insert(e.fired_at_s);
    }
    let fired = fired.expect("the action fired");
    let stage2 = stage2.expect("stage 2 began").as_secs_f64();
    let wall = stage2_wall.expect("wall time beside it").as_secs_f64();
    assert!((fired - 1.0).abs() < 0.1, "fired at run clock {fired} s");
    assert!((stage2 - 1.0).abs() < 0.01, "stage 2 at {stage2} s");
    assert!(
        (wall - 2.0).abs() < 0.05,
        "stage 2 at {wall} s of wall time"
    );
    // The clock stood still while paused: the resume has the pause's stamp.
    let (p, r) = (paused.expect("paused"), resumed.expect("resumed"));
    assert!(
        r.abs_diff(p) < Duration::from_millis(5),
        "paused {p:?}, resumed {r:?}"
    );
}

/// A change applied while nothing is sent says so: "no traffic in the
/// window", not "zero drops" (which would pass for a clean change).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_firing_with_no_traffic_in_its_window_says_so() {
    let _serial = support::SERIAL.lock().await;
    let server = support::fixed_server(200, "ok").await;
    let dir = tempfile::tempdir().unwrap();
    // One request every 10 s: only the first, at 0 s, is sent in 9 s; the
    // action at 3 s has its window (3 s to 8 s) to itself.
    let profile = format!(
        "[target]\nurl = \"http://{server}/\"\n[load]\nrate = 0.1\nduration = \"9s\"\n\
         [[route_action]]\nname = \"quiet\"\nkind = \"command\"\ncommand = [\"true\"]\nat = \"3s\"\n"
    );
    let out = support::run_headless("quiet.toml", &profile, dir.path()).await;
    let s = support::summary(&out);
    let d = &s["route_actions"][0]["drops"];
    assert_eq!(d["sent_in_window"], 0, "{d}");
    let line = s["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["type"] == "route_drops")
        .map(|e| e["message"].as_str().unwrap().to_owned())
        .unwrap();
    assert!(
        line.contains("route quiet: no traffic in the window"),
        "{line}"
    );
    assert!(!line.contains("zero drops"), "{line}");
}
