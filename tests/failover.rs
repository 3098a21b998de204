//! backend-failover, staleness and traffic-matrix end to end against the in-process demo (its
//! health checks, retries and stale-connection fault set to known values), and backend-failover
//! against a real HAProxy with health checks.

use std::time::Duration;

use rampdeck::scenarios::action::Toggle;
use rampdeck::scenarios::config::{ScenarioConfig, ScenarioKind};
use rampdeck::scenarios::report::{Outcome, ScenarioReport};
use rampdeck::scenarios::session;
use rampdeck::spec::probes::ProbesConfig;
use rampdeck_demo::config::DemoConfig;
use rampdeck_demo::health::HealthCheck;
use rampdeck_demo::DemoServer;

struct Demo {
    server: DemoServer,
    cfg: ScenarioConfig,
    _dir: tempfile::TempDir,
}

async fn demo(config: DemoConfig) -> Demo {
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
    let switch = |path: &str| Toggle::Post {
        url: format!("http://{}/demo/{path}", server.addrs.control),
        bearer: Some(server.addrs.admin_token.clone()),
    };
    cfg.failover.kill = Some(switch("backends/echo-v2/down"));
    cfg.failover.revive = Some(switch("backends/echo-v2/up"));
    cfg.failover.routes = 4;
    cfg.failover.before = Duration::from_millis(500);
    cfg.failover.down = Duration::from_secs(2);
    cfg.failover.up = Duration::from_millis(1500);
    cfg.failover.cycles = 2;
    cfg.staleness.roll = Some(switch("backends/roll"));
    cfg.staleness.connections = 8;
    cfg.staleness.requests = 2;
    cfg.staleness.settle = Duration::from_millis(100);
    Demo {
        server,
        cfg,
        _dir: dir,
    }
}

async fn run(kind: ScenarioKind, cfg: &ScenarioConfig, probes: ProbesConfig) -> ScenarioReport {
    let s = session::start(kind, cfg.clone(), probes);
    let mut events = s.events;
    let drain = tokio::spawn(async move { while events.recv().await.is_some() {} });
    let report = s.task.await.unwrap().unwrap_or_else(|e| panic!("{e}"));
    drain.abort();
    report
}

fn health(interval_ms: u64) -> DemoConfig {
    let mut c = DemoConfig::default();
    c.kube.health_check = Some(HealthCheck {
        interval: Duration::from_millis(interval_ms),
        fall: 3,
        rise: 2,
    });
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_checks_eject_the_dead_backend_after_interval_times_fall() {
    let d = demo(health(200)).await;
    let r = run(
        ScenarioKind::BackendFailover,
        &d.cfg,
        ProbesConfig::default(),
    )
    .await;
    let f = r.backend_failover.as_ref().unwrap();
    assert_eq!(r.outcome, Outcome::Passed, "{}", r.table());
    assert_eq!(f.cycles.len(), 2);
    for c in &f.cycles {
        assert!(c.ejected, "{c:?}");
        // 3 failed checks 200 ms apart: the third is 400-600 ms after the kill.
        let e = c.ejection_ms.unwrap();
        assert!((380.0..700.0).contains(&e), "ejection {e} ms");
        // Half the requests go to the dead one until then: about 100/s x 0.4-0.6 s.
        assert!((30..=80).contains(&c.sent_to_dead), "{c:?}");
        // 2 passed checks: back 200-400 ms after the revive.
        let back = c.recovery_ms.unwrap();
        assert!((180.0..500.0).contains(&back), "recovery {back} ms");
    }
    // What the demo counted is what rampdeck charged.
    let dead = d.server.gateway.router.health.sent_while_dead(1);
    assert_eq!(dead, f.sent_to_dead, "{}", r.table());
    assert_eq!(f.failed, f.sent_to_dead);
    assert_eq!(f.failed_outside, 0);
    assert_eq!(f.unrecognised, 0);
    // The timeline names both backends; in a dead interval past the ejection only echo-v1 answers.
    let bins = &f.timeline;
    let k = &f.cycles[0];
    let mid = bins
        .iter()
        .find(|b| b.t_s >= k.killed_at_s + 1.2 && b.t_s < k.killed_at_s + 1.3)
        .unwrap();
    assert!(mid.counts[0] >= 15 && mid.counts[1] == 0, "{mid:?}");
    assert!(r.table().contains("ejection"), "{}", r.table());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_health_checks_the_dead_backend_is_never_ejected_and_retries_hide_it() {
    let d = demo(DemoConfig::default()).await;
    let mut cfg = d.cfg.clone();
    cfg.failover.cycles = 1;
    let r = run(ScenarioKind::BackendFailover, &cfg, ProbesConfig::default()).await;
    let f = r.backend_failover.as_ref().unwrap();
    assert_eq!(r.outcome, Outcome::Failed);
    let c = &f.cycles[0];
    assert!(!c.ejected && c.ejection_ms.is_none(), "{c:?}");
    // Half of 2 s at 200/s.
    assert!((150..=250).contains(&c.sent_to_dead), "{c:?}");
    assert!(
        r.failed_criteria
            .iter()
            .any(|x| x.contains("never ejected")),
        "{:?}",
        r.failed_criteria
    );
    drop(d);

    let mut config = DemoConfig::default();
    config.kube.retries = 1;
    let d = demo(config).await;
    let mut cfg = d.cfg.clone();
    cfg.failover.cycles = 1;
    let r = run(ScenarioKind::BackendFailover, &cfg, ProbesConfig::default()).await;
    let f = r.backend_failover.as_ref().unwrap();
    assert_eq!(r.outcome, Outcome::Passed, "{}", r.table());
    // Every request to the dead backend was retried on the live one: none failed.
    assert_eq!(f.sent_to_dead, 0);
    assert_eq!(f.failed, 0);
    assert!(d.server.gateway.router.health.sent_while_dead(1) > 100);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staleness_charges_the_503s_after_a_roll_to_it() {
    let mut config = DemoConfig::default();
    config.kube.stale_after_roll = 3;
    let d = demo(config).await;
    let mut cfg = d.cfg.clone();
    cfg.staleness.idle = Duration::from_secs(30);
    let r = run(ScenarioKind::Staleness, &cfg, ProbesConfig::default()).await;
    let s = r.staleness.as_ref().unwrap();
    assert_eq!(r.outcome, Outcome::Failed);
    assert_eq!(s.before.requests, 16);
    assert_eq!(s.before.failed(), 0);
    // 3 stale pooled connections per backend, two backends.
    assert_eq!(s.after.requests, 16);
    assert_eq!(s.after.status_503, 6, "{}", r.table());
    assert_eq!(s.after.failed(), 6);
    assert_eq!(s.closed_while_idle, 0);
    assert!(
        r.table().contains("charged to the roll: HTTP 503 x6"),
        "{}",
        r.table()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staleness_passes_when_the_gateway_handles_the_roll() {
    let d = demo(DemoConfig::default()).await;
    let mut cfg = d.cfg.clone();
    cfg.staleness.idle = Duration::from_secs(30);
    let r = run(ScenarioKind::Staleness, &cfg, ProbesConfig::default()).await;
    let s = r.staleness.as_ref().unwrap();
    assert_eq!(r.outcome, Outcome::Passed, "{}", r.table());
    assert_eq!(s.after.requests, 16);
    assert_eq!(s.after.status_503, 0);
    let rolled = s.rolled_at_s.unwrap();
    assert!(rolled >= 30.0, "rolled at {rolled}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traffic_matrix_holds_the_fixed_rate_and_goes_faster_at_max() {
    let d = demo(DemoConfig::default()).await;
    let mut cfg = d.cfg.clone();
    cfg.matrix.connections = vec![1, 8];
    cfg.matrix.rate = 200.0;
    cfg.matrix.duration = Duration::from_secs(1);
    cfg.matrix.warmup = Duration::from_millis(200);
    cfg.matrix.runner = Some(rampdeck::cells::runner());
    let profile = format!(
        "[[source]]\nname = \"demo\"\nkind = \"scrape\"\nurl = \"http://{}/metrics\"\ninterval = \"200ms\"\n[target]\nurl = \"http://127.0.0.1:1\"\n[load]\nrate = 1\nduration = \"1s\"\n",
        d.server.addrs.control
    );
    let probes = rampdeck::profile::parse("p.toml", &profile).unwrap().probes;
    let r = run(ScenarioKind::TrafficMatrix, &cfg, probes).await;
    let m = r.traffic_matrix.as_ref().unwrap();
    assert_eq!(r.outcome, Outcome::Passed, "{}", r.table());
    assert_eq!(m.cells.len(), 4);
    for c in &m.cells {
        assert_eq!(c.failed, 0, "{c:?}");
        assert!(c.latency_ms.p50 > 0.0 && c.latency_ms.p50 < 50.0, "{c:?}");
        assert!(c.rampdeck_cores.is_some(), "{c:?}");
        assert!(!c.target_cpu.is_empty(), "{c:?}");
        if c.load == "fixed" {
            assert!((180.0..220.0).contains(&c.rps), "{c:?}");
        } else {
            // The demo's route answers in 2 ms: one connection manages a few hundred a second.
            assert!(c.rps > 250.0, "{c:?}");
        }
    }
    let max8 = m
        .cells
        .iter()
        .find(|c| c.connections == 8 && c.load == "max")
        .unwrap();
    let max1 = m
        .cells
        .iter()
        .find(|c| c.connections == 1 && c.load == "max")
        .unwrap();
    assert!(max8.rps > 3.0 * max1.rps, "{} vs {}", max8.rps, max1.rps);
    let table = r.table();
    assert!(table.contains("conns   load"), "{table}");
}

/// Two Python HTTP servers behind a real HAProxy that checks them every 200 ms (fall 3,
/// rise 2) and names the server that answered in `x-backend`; the scenario kills one with a
/// signal and starts it again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs haproxy and python3 (apt-get install haproxy python3)"]
async fn haproxy_health_checks_eject_a_killed_backend() {
    use std::process::Command;
    let dir = tempfile::tempdir().unwrap();
    let free = || {
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    };
    let (front, b1, b2) = (free(), free(), free());
    let script = dir.path().join("backend.sh");
    // Starts (or restarts) a backend and records its pid; the backend answers 200 to GET.
    std::fs::write(
        &script,
        "#!/bin/sh\ncd \"$1\" || exit 1\necho ok > index.html\npython3 -m http.server --bind 127.0.0.1 \"$2\" >/dev/null 2>&1 &\necho $! > \"$1/pid-$2\"\n",
    )
    .unwrap();
    let sh = |port: u16| {
        Command::new("sh")
            .arg(&script)
            .arg(dir.path())
            .arg(port.to_string())
            .status()
            .unwrap()
    };
    assert!(sh(b1).success() && sh(b2).success());
    let cfg = format!(
        "global\n  log stdout format raw local0 emerg\ndefaults\n  mode http\n  timeout connect 500ms\n  timeout client 5s\n  timeout server 5s\n  retries 0\nfrontend f\n  bind 127.0.0.1:{front}\n  default_backend b\nbackend b\n  balance roundrobin\n  http-response set-header x-backend %s\n  option httpchk GET /\n  server one 127.0.0.1:{b1} check inter 200ms fall 3 rise 2\n  server two 127.0.0.1:{b2} check inter 200ms fall 3 rise 2\n"
    );
    let cfg_path = dir.path().join("haproxy.cfg");
    std::fs::write(&cfg_path, cfg).unwrap();
    let mut haproxy = tokio::process::Command::new("haproxy")
        .arg("-db")
        .arg("-f")
        .arg(&cfg_path)
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    // Both servers up and checked.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let mut c = ScenarioConfig::default();
    c.cluster.gateway_url = Some(format!("http://127.0.0.1:{front}"));
    c.failover.routes = 0;
    c.failover.paths = vec!["/".into()];
    c.failover.backends = vec!["one".into(), "two".into()];
    c.failover.flapping = Some("two".into());
    c.failover.before = Duration::from_millis(500);
    c.failover.down = Duration::from_secs(3);
    c.failover.up = Duration::from_secs(2);
    c.failover.cycles = 1;
    let pid = dir.path().join(format!("pid-{b2}"));
    c.failover.kill = Some(Toggle::Command(vec![
        "sh".into(),
        "-c".into(),
        format!("kill $(cat {})", pid.display()),
    ]));
    c.failover.revive = Some(Toggle::Command(vec![
        "sh".into(),
        script.display().to_string(),
        dir.path().display().to_string(),
        b2.to_string(),
    ]));
    let r = run(ScenarioKind::BackendFailover, &c, ProbesConfig::default()).await;
    let _ = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "kill $(cat {}/pid-*) 2>/dev/null",
            dir.path().display()
        ))
        .status();
    let _ = haproxy.kill().await;
    let f = r.backend_failover.as_ref().unwrap();
    let k = &f.cycles[0];
    assert!(k.kill_error.is_none() && k.revive_error.is_none(), "{k:?}");
    assert!(k.ejected, "{}", r.table());
    // interval x fall = 600 ms; the check that notices is up to one interval later.
    let e = k.ejection_ms.unwrap();
    assert!(
        (350.0..1000.0).contains(&e),
        "ejection {e} ms\n{}",
        r.table()
    );
    assert!(k.sent_to_dead > 0, "{}", r.table());
    assert!(k.recovery_ms.is_some(), "{}", r.table());
    assert_eq!(f.failed_outside, 0, "{}", r.table());
    assert_eq!(r.outcome, Outcome::Passed, "{}", r.table());
    eprintln!("{}", r.table());
}
