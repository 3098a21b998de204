//! The capacity search against servers with a known capacity: the demo route with `c` workers and a fixed service time `S` serves `c / S`, and the search must find it; a pool too small for the rate must be reported as rampdeck's limit, not the target's.

mod support;

use std::sync::Arc;
use std::time::Duration;

use rampdeck::find;
use rampdeck::find::search::Outcome;
use rampdeck::spec::find::FindConfig;
use rampdeck_demo::config::{DemoConfig, LatencyModel};

/// Searches `profile_tail` against an in-process demo with `route`.
async fn search(
    route: rampdeck_demo::config::DemoRoute,
    load: &str,
    tune: impl FnOnce(&mut FindConfig),
) -> find::result::CapacityResult {
    let _serial = support::SERIAL.lock().await;
    let demo = rampdeck_demo::DemoServer::start(&DemoConfig {
        routes: vec![route],
        ..DemoConfig::default()
    })
    .await
    .unwrap();
    let text = format!(
        "[target]\nurl = \"http://{}\"\ntimeout = \"2s\"\n[[request]]\nname = \"work\"\npath = \"/work\"\n{load}",
        demo.addrs.gateway
    );
    let plan = rampdeck::profile::parse("find.toml", &text).unwrap_or_else(|e| panic!("{e}"));
    let mut cfg = FindConfig::defaults(false);
    cfg.settle = Duration::from_millis(500);
    cfg.step = Duration::from_secs(1);
    cfg.confirm = Duration::from_secs(2);
    tune(&mut cfg);
    let searched = Arc::new(find::search_plan(&plan, &cfg));
    let (result, summary) = find::run(
        searched,
        cfg,
        None,
        rampdeck::session::Quiet,
        rampdeck::signals::StopSignals::new(),
        rampdeck::report::Print::Text,
    )
    .await
    .unwrap();
    // The search's answer is the run's planned end, not an early stop; its
    // levels' latency is given by level, never as one whole-search p99.
    assert!(!summary.stopped_early);
    let text = summary.render_text();
    assert!(!text.contains("stopped early"), "{text}");
    assert!(text.contains("Latency      by level below"), "{text}");
    assert!(!text.contains("    corrected "), "{text}");
    assert!(text.contains("By level (ms)"), "{text}");
    result
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finds_the_capacity_of_c_workers_at_a_fixed_service_time() {
    // 4 workers x 10 ms: 400 req/s. The SLO allows a few service times.
    let route = rampdeck_demo::config::DemoRoute {
        latency: LatencyModel::Fixed(Duration::from_millis(10)),
        workers: Some(4),
        ..support::route("/work")
    };
    let r = search(route, "[load]\nrate = 1\nduration = \"1s\"\n", |c| {
        c.search.start = 100.0;
        c.search.max_steps = 12;
        c.slo = vec![rampdeck::spec::thresholds::parse_criterion("p99 < 50ms").unwrap()];
    })
    .await;
    let found = r.max_sustainable.unwrap_or_else(|| panic!("{}", r.table()));
    assert!(
        (380.0..=420.0).contains(&found),
        "found {found}, capacity 400:\n{}",
        r.table()
    );
    assert!(r.steps.len() <= 12, "{}", r.table());
    assert!(matches!(r.outcome, Outcome::Found { .. }), "{}", r.table());
    // A saturating target with ample connections is the target's capacity,
    // failed on the SLO, never called rampdeck's limit.
    assert!(
        r.steps.iter().all(|s| s.verdict != "generator_limited"),
        "{}",
        r.table()
    );
    let f = r.lowest_failing.as_ref().unwrap();
    assert!(f.criterion.starts_with("p99 < 50ms"), "{f:?}");
    assert!(f.level > found);
    // Every step's record carries what capacity.json documents.
    let s = &r.steps[0];
    assert!(s.latency_ms.count > 0 && s.success_rate == Some(100.0) && !s.criteria.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pool_too_small_for_the_rate_is_the_generators_limit_not_a_capacity() {
    // 20 ms answers through 2 connections carry 100 req/s at most; the
    // target itself has no limit. 40 and 80/s fit (1.6 connections busy at
    // 80/s); at 160/s requests wait for a connection while the target still
    // answers in 20 ms.
    let route = rampdeck_demo::config::DemoRoute {
        latency: LatencyModel::Fixed(Duration::from_millis(20)),
        ..support::route("/work")
    };
    let r = search(
        route,
        "[load]\nrate = 1\nduration = \"1s\"\nmax_connections = 2\n",
        |c| {
            c.search.start = 40.0;
            c.slo = vec![rampdeck::spec::thresholds::parse_criterion("p99 < 100ms").unwrap()];
        },
    )
    .await;
    let Outcome::GeneratorLimited { why, passed, .. } = &r.outcome else {
        panic!("{}", r.table())
    };
    assert!(
        why.contains("Little's law") && why.contains("all 2 connections"),
        "{why}"
    );
    assert_eq!(*passed, Some(80.0), "{}", r.table());
    assert_eq!(r.max_sustainable, None, "no capacity is claimed");
    assert!(r.table().contains("NO CAPACITY"), "{}", r.table());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn f_in_a_running_console_searches_from_the_current_level_and_f_again_hands_back() {
    let _serial = support::SERIAL.lock().await;
    let server = support::fixed_server(200, "ok").await;
    let plan = support::plan(
        server,
        "[load]\nrate = 50\nduration = \"5s\"\n[thresholds]\np99 = \"< 1s\"\n[find]\nsettle = \"250ms\"\nstep = \"500ms\"\n",
    );
    let mut session = rampdeck::session::RunSession::start(plan.clone(), None)
        .await
        .unwrap();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let mut steer = find::steer::Steer::new(&plan, rampdeck::session::Quiet, rx, session.control());
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(1_000)).await;
        let _ = tx.send(());
        tokio::time::sleep(Duration::from_millis(2_500)).await;
        let _ = tx.send(());
    });
    session.drive(&mut steer).await;
    let model = session.model();
    {
        let m = model.lock().unwrap();
        let texts: Vec<&str> = m.events.iter().map(|e| e.message.as_str()).collect();
        // The search began at the run's level (50/s) and doubled on passing.
        assert!(texts.contains(&"marker: step 1: 50/s"), "{texts:?}");
        assert!(
            texts.iter().any(|t| t.starts_with("rate set to 100")),
            "{texts:?}"
        );
        // Stopped by hand: the plan's 50/s again.
        assert!(
            texts
                .iter()
                .any(|t| t.starts_with("the plan decides the level again: 50")),
            "{texts:?}"
        );
        let s = m.search.as_ref().unwrap();
        assert!(s.done && !s.points.is_empty(), "{s:?}");
    }
    session.finish(&mut rampdeck::session::Quiet).await.unwrap();
}
