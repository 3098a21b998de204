//! The three Gateway API scenarios end to end against the in-process demo: the measured numbers must match what the demo was set to.

use std::sync::atomic::Ordering;
use std::time::Duration;

use rampdeck::scenarios::config::{ScenarioConfig, ScenarioKind};
use rampdeck::scenarios::report::{Outcome, ScenarioReport};
use rampdeck::scenarios::session;
use rampdeck::spec::probes::ProbesConfig;
use rampdeck_demo::config::DemoConfig;
use rampdeck_demo::DemoServer;

struct Demo {
    server: DemoServer,
    cfg: ScenarioConfig,
    _dir: tempfile::TempDir,
}

/// The demo with `propagation`, and a scenario config pointing at it.
async fn demo(propagation: Duration, swap_drop: Option<Duration>) -> Demo {
    let mut config = DemoConfig::default();
    config.kube.propagation = propagation;
    config.kube.swap_drop = swap_drop;
    let server = DemoServer::start(&config).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    rampdeck_demo::kubeapi::kubeconfig::write_kubeconfig(
        &kubeconfig,
        server.addrs.control,
        "rampdeck",
    )
    .unwrap();
    let mut cfg = ScenarioConfig::default();
    cfg.kube.kubeconfig = Some(kubeconfig);
    cfg.cluster.gateway_url = Some(format!("http://{}", server.addrs.gateway));
    cfg.change.backend_header = Some("x-backend".into());
    Demo {
        server,
        cfg,
        _dir: dir,
    }
}

/// Runs a scenario to the end, with the demo's `/metrics` as a control-plane source.
async fn run(kind: ScenarioKind, d: &Demo) -> ScenarioReport {
    let profile = format!(
        "[[source]]\nname = \"demo\"\nkind = \"scrape\"\nurl = \"http://{}/metrics\"\ninterval = \"100ms\"\n[target]\nurl = \"http://127.0.0.1:1\"\n[load]\nrate = 1\nduration = \"1s\"\n",
        d.server.addrs.control
    );
    let probes: ProbesConfig = rampdeck::profile::parse("p.toml", &profile).unwrap().probes;
    let s = session::start(kind, d.cfg.clone(), probes);
    let mut events = s.events;
    let drain = tokio::spawn(async move { while events.recv().await.is_some() {} });
    let report = s.task.await.unwrap().unwrap_or_else(|e| panic!("{e}"));
    drain.abort();
    // Everything the scenario created is gone again.
    let (_, routes) = d
        .server
        .kube
        .store
        .list(rampdeck_demo::kubeapi::resource::Kind::HttpRoute, None);
    assert!(routes.is_empty(), "left behind: {routes:?}");
    report
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attached_routes_counts_setup_teardown_and_status_writes() {
    let mut d = demo(Duration::from_millis(100), None).await;
    d.cfg.attached.routes = vec![30, 60];
    d.cfg.attached.writers = 3;
    let before = d
        .server
        .kube
        .stats
        .gateway_status_writes
        .load(Ordering::Relaxed);
    let r = run(ScenarioKind::AttachedRoutes, &d).await;
    let writes = d
        .server
        .kube
        .stats
        .gateway_status_writes
        .load(Ordering::Relaxed)
        - before;
    assert_eq!(r.outcome, Outcome::Passed, "{}", r.table());
    assert_eq!(r.attached_routes.len(), 2);
    let mut seen = 0;
    for (a, n) in r.attached_routes.iter().zip([30, 60]) {
        assert_eq!((a.routes, a.applied, a.apply_errors), (n, n, 0));
        assert_eq!(a.max_attached, n as i64);
        assert_eq!(a.writers, 3);
        // The demo programs a write 100 ms after it: the last apply is seen then.
        let setup = a.setup_s.unwrap();
        assert!((0.095..0.5).contains(&setup), "setup {setup}");
        let teardown = a.teardown_s.unwrap();
        assert!(
            teardown >= 0.095 && teardown < a.delete_s + 0.5,
            "teardown {teardown}"
        );
        assert_eq!(a.timeline.last().map(|p| p.attached), Some(0));
        assert!(a.timeline.iter().any(|p| p.attached == n as i64));
        seen += a.status_writes_setup + a.status_writes_teardown;
    }
    // Every Gateway status write the demo made was seen by the watch.
    assert_eq!(seen, writes);
    let cp = r.control_plane.0["demo"].summary();
    assert!(
        cp.samples >= 2 && cp.memory_max_bytes.unwrap() > 1e6,
        "{cp:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attached_routes_write_rate_paces_the_writers() {
    let mut d = demo(Duration::from_millis(20), None).await;
    d.cfg.attached.routes = vec![20];
    d.cfg.attached.writers = 4;
    d.cfg.attached.write_rate = Some(50.0);
    let r = run(ScenarioKind::AttachedRoutes, &d).await;
    let a = &r.attached_routes[0];
    // 20 writes at 50/s: the last is due 380 ms after the first.
    assert!(a.apply_s >= 0.37, "apply took {}s", a.apply_s);
    assert_eq!(r.outcome, Outcome::Passed, "{}", r.table());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn route_probe_measures_the_demos_propagation_on_both_planes() {
    let mut d = demo(Duration::from_millis(80), None).await;
    d.cfg.probe.routes = vec![12];
    let r = run(ScenarioKind::RouteProbe, &d).await;
    assert_eq!(r.outcome, Outcome::Passed, "{}", r.table());
    let p = &r.route_probe[0];
    assert_eq!((p.routes, p.propagated, p.error_count), (12, 12, 0));
    // 80 ms propagation, probed every 5 ms: the first 200 comes 80-100 ms after the apply.
    assert!(
        p.data_plane_ms.p50 >= 79.0 && p.data_plane_ms.max < 150.0,
        "{:?}",
        p.data_plane_ms
    );
    assert!(p.control_plane_ms.count == 12, "{:?}", p.control_plane_ms);
    assert!(
        p.control_plane_ms.p50 >= 79.0 && p.control_plane_ms.max < 150.0,
        "{:?}",
        p.control_plane_ms
    );
    for t in &p.per_route {
        // While the route was not programmed the hostname answered 404 (not an error).
        assert!(
            t.polls > 5,
            "route {} answered after {} polls",
            t.index,
            t.polls
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn route_probe_counts_answers_that_are_neither_200_nor_404() {
    let mut d = demo(Duration::from_millis(30), None).await;
    d.cfg.probe.routes = vec![3];
    d.cfg.probe.timeout = Duration::from_millis(400);
    // The `/i` rule points at a Service that does not exist: the demo answers 500.
    d.cfg.cluster.backend = "no-such-service".into();
    let r = run(ScenarioKind::RouteProbe, &d).await;
    let p = &r.route_probe[0];
    assert_eq!(p.propagated, 0);
    assert!(
        p.errors.get(&500).copied().unwrap_or(0) > 10,
        "{:?}",
        p.errors
    );
    assert_eq!(r.outcome, Outcome::Failed);
    assert!(
        r.failed_criteria
            .iter()
            .any(|c| c.contains("error answers")),
        "{:?}",
        r.failed_criteria
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn route_change_passes_without_the_fault_and_shows_the_switch() {
    let mut d = demo(Duration::from_millis(40), None).await;
    d.cfg.change.iterations = 6;
    d.cfg.change.before = Duration::from_millis(500);
    d.cfg.change.after = Duration::from_millis(500);
    let r = run(ScenarioKind::RouteChange, &d).await;
    let c = r.route_change.as_ref().unwrap();
    assert_eq!(r.outcome, Outcome::Passed, "{}", r.table());
    assert_eq!(c.failed, 0);
    // 200/s for 0.5 + 6 x 0.2 + 0.5 s.
    assert!((430..=445).contains(&c.requests), "{} requests", c.requests);
    assert_eq!(c.flips.len(), 6);
    for f in &c.flips {
        assert!(f.error.is_none());
        // The new backend answers from 40 ms after the flip (plus one 5 ms send slot).
        let first = f.first_new_ms.unwrap();
        assert!(
            (35.0..60.0).contains(&first),
            "flip {}: first new at {first}",
            f.iteration
        );
        let share = f.new_share.unwrap();
        assert!(share > 0.6, "flip {}: share {share}", f.iteration);
    }
    assert!(c.latency_before_ms.count > 90 && c.latency_during_ms.count > 200);
    assert_eq!(c.unrecognised, 0);
    // The verdict says how short a drop it could have seen.
    let table = r.table();
    let want = format!("detection resolution {:.1}ms", 1000.0 / c.rate);
    assert!(table.contains(&want), "{table}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn route_change_fails_and_lists_the_drops_of_a_swap_fault() {
    let mut d = demo(Duration::from_millis(40), Some(Duration::from_millis(30))).await;
    d.cfg.change.iterations = 4;
    d.cfg.change.before = Duration::from_millis(300);
    d.cfg.change.after = Duration::from_millis(300);
    let r = run(ScenarioKind::RouteChange, &d).await;
    let c = r.route_change.as_ref().unwrap();
    assert_eq!(r.outcome, Outcome::Failed);
    // 30 ms of 503s per flip at 200/s: about 6 per flip, starting when the change lands (+40 ms).
    assert!((16..=32).contains(&c.failed), "{} failed", c.failed);
    for f in &c.failures {
        assert_eq!(f.answer, "HTTP 503");
        assert!((30.0..90.0).contains(&f.offset_ms), "{f:?}");
    }
    let flips: std::collections::BTreeSet<u32> = c.failures.iter().map(|f| f.flip).collect();
    assert_eq!(flips.len(), 4, "every flip dropped requests");
    // Each flip is charged with its own drops; what the previous flip
    // dropped (sent before this one started) is "before", never its drops.
    assert_eq!(c.flips.iter().map(|f| f.drops).sum::<u64>(), c.failed);
    assert!(c.flips.iter().all(|f| f.drops > 0), "{:?}", c.flips);
    assert_eq!(c.flips[0].before, 0);
    for w in c.flips.windows(2) {
        assert_eq!(w[1].before, w[0].drops, "{:?}", c.flips);
    }
    assert!(r
        .table()
        .contains("failed requests (offset from the nearest flip)"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn route_change_at_max_rate_sees_a_short_drop_and_says_its_resolution() {
    // A 10 ms fault: at 200/s (5 ms apart) about two requests see it; one
    // client sending as fast as the demo answers (well under 1 ms apart on
    // 127.0.0.1) sees many, and its resolution is its measured gap.
    let mut d = demo(Duration::from_millis(40), Some(Duration::from_millis(10))).await;
    d.cfg.change.iterations = 2;
    d.cfg.change.before = Duration::from_millis(300);
    d.cfg.change.after = Duration::from_millis(300);
    d.cfg.change.max_rate = true;
    d.cfg.change.max_failures = 1_000_000;
    let r = run(ScenarioKind::RouteChange, &d).await;
    let c = r.route_change.as_ref().unwrap();
    assert!(c.closed_loop);
    assert!(c.rate > 500.0, "achieved {}/s", c.rate);
    assert!(c.send_gap_ms.count > 100, "{:?}", c.send_gap_ms);
    assert!(c.send_gap_ms.p50 < 2.0, "{:?}", c.send_gap_ms);
    assert_eq!(c.resolution_ms, c.send_gap_ms.max);
    // The fault shows as several drops per flip (10 ms at over 500/s).
    for f in &c.flips {
        assert!(f.drops >= 3, "flip {}: {} drops", f.iteration, f.drops);
    }
    let table = r.table();
    assert!(table.contains("as fast as answers came"), "{table}");
    let want = format!(
        "detection resolution {:.1}ms: requests went every",
        c.resolution_ms
    );
    assert!(table.contains(&want), "{table}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_scenario_removes_its_routes_and_reports_what_ran() {
    let mut d = demo(Duration::from_millis(20), None).await;
    d.cfg.attached.routes = vec![200];
    d.cfg.attached.write_rate = Some(40.0);
    let s = session::start(
        ScenarioKind::AttachedRoutes,
        d.cfg.clone(),
        ProbesConfig {
            sources: Vec::new(),
            stats: Vec::new(),
            probes: Vec::new(),
        },
    );
    let mut events = s.events;
    let drain = tokio::spawn(async move { while events.recv().await.is_some() {} });
    tokio::time::sleep(Duration::from_millis(500)).await;
    s.cancel.cancel();
    let r = tokio::time::timeout(Duration::from_secs(5), s.task)
        .await
        .expect("a cancelled scenario ends promptly")
        .unwrap()
        .unwrap();
    drain.abort();
    assert!(r.interrupted);
    assert_eq!(r.outcome, Outcome::Failed);
    assert_eq!(
        r.failed_criteria,
        vec!["interrupted before the end".to_owned()]
    );
    let a = &r.attached_routes[0];
    assert!((10..60).contains(&a.applied), "{} applied", a.applied);
    let (_, routes) = d
        .server
        .kube
        .store
        .list(rampdeck_demo::kubeapi::resource::Kind::HttpRoute, None);
    assert!(routes.is_empty(), "left behind: {}", routes.len());
}
