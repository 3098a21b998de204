//! Probes against real components: Caddy's /metrics as a scrape source and a Prometheus
//! server (scraping that Caddy) as a PromQL source, all on 127.0.0.1 ports this test picks.

mod support;

use std::net::TcpListener;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rampdeck::probes::{self, ProbeEvent};
use rampdeck::spec::probes::*;

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

async fn wait_until_ok(url: &str, what: &str) {
    let client = probes::http::HttpClient::new().unwrap();
    let start = Instant::now();
    loop {
        if let Ok(f) = client.get(url, None, Duration::from_secs(1)).await {
            if f.status == 200 {
                return;
            }
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "{what} did not come up at {url}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn spawn(program: &str, args: &[String], home: &std::path::Path) -> tokio::process::Child {
    tokio::process::Command::new(program)
        .args(args)
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("XDG_DATA_HOME", home.join("data"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {program}: {e}"))
}

#[derive(Default, Debug)]
struct Seen {
    cpu: Vec<f64>,
    memory: Vec<f64>,
    took: Vec<Duration>,
    problems: Vec<String>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs caddy and prometheus (apt-get install caddy prometheus)"]
async fn caddy_metrics_and_prometheus_queries_give_real_cpu_and_memory() {
    let _serial = support::SERIAL.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let (admin, site, prom) = (free_port(), free_port(), free_port());
    std::fs::write(
        dir.path().join("Caddyfile"),
        format!("{{\n\tadmin 127.0.0.1:{admin}\n\tservers {{\n\t\tmetrics\n\t}}\n}}\nhttp://127.0.0.1:{site} {{\n\trespond \"ok\"\n}}\n"),
    )
    .unwrap();
    let _caddy = spawn(
        "caddy",
        &[
            "run".into(),
            "--config".into(),
            dir.path().join("Caddyfile").display().to_string(),
            "--adapter".into(),
            "caddyfile".into(),
        ],
        dir.path(),
    );
    wait_until_ok(&format!("http://127.0.0.1:{admin}/metrics"), "caddy").await;
    std::fs::write(
        dir.path().join("prometheus.yml"),
        format!("global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: caddy\n    static_configs:\n      - targets: ['127.0.0.1:{admin}']\n"),
    )
    .unwrap();
    let _prometheus = spawn(
        "prometheus",
        &[
            format!(
                "--config.file={}",
                dir.path().join("prometheus.yml").display()
            ),
            format!("--storage.tsdb.path={}", dir.path().join("tsdb").display()),
            format!("--web.listen-address=127.0.0.1:{prom}"),
        ],
        dir.path(),
    );
    wait_until_ok(&format!("http://127.0.0.1:{prom}/-/ready"), "prometheus").await;

    // Load on Caddy so its CPU is not idle.
    let plan = rampdeck::profile::parse(
        "load.toml",
        &format!("[target]\nurl = \"http://127.0.0.1:{site}\"\n[load]\nconcurrency = 4\nduration = \"9s\"\n"),
    )
    .unwrap();
    let load = tokio::spawn(rampdeck::engine::run_to_end(Arc::new(plan)));

    let cfg = ProbesConfig {
        sources: vec![
            SourceConfig {
                name: "caddy".into(),
                kind: SourceKind::Scrape {
                    url: format!("http://127.0.0.1:{admin}/metrics"),
                    cpu_metric: DEFAULT_CPU_METRIC.into(),
                    memory_metric: DEFAULT_MEMORY_METRIC.into(),
                    labels: vec![],
                },
                interval: Duration::from_millis(500),
                timeout: Duration::from_secs(2),
            },
            SourceConfig {
                name: "caddy via prometheus".into(),
                kind: SourceKind::Promql {
                    url: format!("http://127.0.0.1:{prom}"),
                    cpu_query: Some(
                        "sum(rate(process_cpu_seconds_total{job=\"caddy\"}[4s]))".into(),
                    ),
                    memory_query: Some("sum(process_resident_memory_bytes{job=\"caddy\"})".into()),
                    token: None,
                },
                interval: Duration::from_secs(1),
                timeout: Duration::from_secs(2),
            },
        ],
        stats: vec![],
        probes: vec![],
    };
    let mut p = probes::start(&cfg, probes::Stamp::wall(Instant::now())).unwrap();
    tokio::time::sleep(Duration::from_secs(9)).await;
    p.stop().await;
    let (result, _) = load.await.unwrap().unwrap();
    assert!(
        result.totals.ok > 1000,
        "caddy served the load: {}",
        result.totals.ok
    );

    let mut scrape = Seen::default();
    let mut promql = Seen::default();
    while let Ok(e) = p.events.try_recv() {
        match e {
            ProbeEvent::Resource {
                component,
                cpu_cores,
                memory_bytes,
                took,
                ..
            } => {
                let s = if component == "caddy" {
                    &mut scrape
                } else {
                    &mut promql
                };
                s.cpu.extend(cpu_cores);
                s.memory.extend(memory_bytes);
                s.took.push(took);
            }
            ProbeEvent::State {
                name,
                problem: Some(p),
                ..
            } => {
                let s = if name == "caddy" {
                    &mut scrape
                } else {
                    &mut promql
                };
                s.problems.push(p);
            }
            _ => {}
        }
    }
    for (name, s) in [("scrape", &scrape), ("promql", &promql)] {
        assert!(
            s.cpu.iter().any(|&c| c > 0.0),
            "{name}: real non-zero CPU: {s:?}"
        );
        assert!(
            s.memory.iter().all(|&m| m > 1e6) && !s.memory.is_empty(),
            "{name}: real memory: {s:?}"
        );
        assert!(
            s.took
                .iter()
                .all(|t| *t > Duration::ZERO && *t < Duration::from_secs(2)),
            "{name}: query latency: {s:?}"
        );
    }
    assert!(scrape.problems.is_empty(), "{:?}", scrape.problems);
    // Prometheus needs two scrapes before rate() has a value; early "no series" is expected.
    assert!(
        promql.problems.iter().all(|p| p.contains("no series")),
        "{:?}",
        promql.problems
    );
}

/// An `http` route action against Caddy's admin API, under load on a stable
/// route: the new route's propagation is measured, and the stable route
/// loses nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs caddy (apt-get install caddy)"]
async fn caddy_admin_api_route_add_propagates_with_zero_drops_on_the_stable_route() {
    let _serial = support::SERIAL.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let (admin, site) = (free_port(), free_port());
    let config = serde_json::json!({
        "admin": {"listen": format!("127.0.0.1:{admin}")},
        "apps": {"http": {"servers": {"srv0": {
            "listen": [format!("127.0.0.1:{site}")],
            // Host matchers would otherwise turn on automatic HTTPS.
            "automatic_https": {"disable": true},
            "routes": [{"match": [{"host": ["stable.local"]}],
                        "handle": [{"handler": "static_response", "body": "stable"}]}]
        }}}}
    });
    std::fs::write(dir.path().join("caddy.json"), config.to_string()).unwrap();
    let _caddy = spawn(
        "caddy",
        &[
            "run".into(),
            "--config".into(),
            dir.path().join("caddy.json").display().to_string(),
        ],
        dir.path(),
    );
    wait_until_ok(&format!("http://127.0.0.1:{admin}/config/"), "caddy").await;
    let profile = format!(
        r#"
[target]
url = "http://127.0.0.1:{site}"
headers = {{ host = "stable.local" }}
[load]
rate = 300
duration = "6s"

[[route_action]]
name = "add new.local"
kind = "http"
method = "POST"
url = "http://127.0.0.1:{admin}/config/apps/http/servers/srv0/routes"
headers = {{ "content-type" = "application/json" }}
body = '{{"match": [{{"host": ["new.local"]}}], "handle": [{{"handler": "static_response", "body": "new route"}}]}}'
at = "1s"
verify = {{ url = "{{{{target}}}}/", host = "new.local", body_contains = "new route" }}
"#
    );
    let plan = rampdeck::profile::parse("caddy-routes.toml", &profile).unwrap();
    let out = dir.path().join("out");
    let opts = rampdeck::headless::Options {
        out: Some(out.clone()),
        ..Default::default()
    };
    let summary =
        rampdeck::headless::run(Arc::new(plan), &opts, rampdeck::signals::StopSignals::new())
            .await
            .unwrap();
    assert!(summary.requests > 1500, "{}", summary.requests);
    assert_eq!(summary.failed, 0, "the stable route lost requests");
    let json = support::summary(&out);
    let a = &json["route_actions"][0];
    assert_eq!(a["phase"], "propagated", "{a}");
    let data_plane = a["data_plane_ms"].as_f64().unwrap();
    // Caddy applies a config change before its admin call returns, so the
    // first poll already matches; it must still be a real, small number.
    assert!((0.0..1000.0).contains(&data_plane), "{a}");
    assert!(a["apply_ms"].as_f64().unwrap() > 0.0, "{a}");
    assert_eq!(a["drops"]["drops"], 0, "{a}");
    assert_eq!(a["drops"]["complete"], true, "{a}");
    eprintln!(
        "caddy: apply {:.1} ms, data plane {:.1} ms after {} polls",
        a["apply_ms"].as_f64().unwrap(),
        data_plane,
        a["verify_polls"]
    );
}
