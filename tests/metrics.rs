//! rampdeck's own metrics endpoint (`[metrics]`, `--metrics-listen`): scraped by hand during a
//! run against a demo gateway route with a fixed delay, and by a real Prometheus whose PromQL
//! `rate()` must agree with summary.json.

mod support;

use std::net::TcpListener;
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// One HTTP/1.1 GET; (status line and headers, body).
async fn get(port: u16, path: &str) -> Option<(String, String)> {
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .ok()?;
    s.write_all(format!("GET {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n").as_bytes())
        .await
        .ok()?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await.ok()?;
    let text = String::from_utf8(buf).ok()?;
    let (head, body) = text.split_once("\r\n\r\n")?;
    Some((head.to_owned(), body.to_owned()))
}

/// Sum of the samples named exactly `name` (any labels).
fn sum(body: &str, name: &str) -> f64 {
    body.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| {
            l.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

fn profile(target: std::net::SocketAddr, metrics: u16, rate: u32, duration: &str) -> String {
    format!(
        r#"[target]
url = "http://{target}"
timeout = "2s"

[[request]]
name = "fast"
path = "/fast"
weight = 3

[[request]]
name = "missing"
path = "/missing"
weight = 1

[load]
rate = {rate}
duration = "{duration}"
warmup = "1s"

[metrics]
listen = "127.0.0.1:{metrics}"
"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scrape_during_the_run_counts_what_the_summary_counts() {
    let _serial = support::SERIAL.lock().await;
    let demo = support::demo(vec![support::fixed("/fast", 5)]).await;
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let text = profile(demo.addrs.gateway, port, 200, "5s");
    let scraper = tokio::spawn(async move {
        let mut scrapes = Vec::new();
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(8) {
            if let Some(s) = get(port, "/metrics").await {
                scrapes.push(s);
            } else if !scrapes.is_empty() {
                break; // the run ended and the endpoint with it
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        scrapes
    });
    let out = support::run_headless("metrics.toml", &text, dir.path()).await;
    let scrapes = scraper.await.unwrap();
    let s = support::summary(&out);
    assert!(scrapes.len() >= 8, "{} scrapes", scrapes.len());

    let (head, last) = scrapes.last().unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: application/openmetrics-text; version=1.0.0"),
        "{head}"
    );
    // Counters never go down from one scrape to the next.
    let totals: Vec<f64> = scrapes
        .iter()
        .map(|(_, b)| sum(b, "rampdeck_requests_total"))
        .collect();
    assert!(totals.windows(2).all(|w| w[0] <= w[1]), "{totals:?}");
    // The last scrape saw all but the last interval or two of the run.
    let requests = s["requests"].as_f64().unwrap();
    let seen = sum(last, "rampdeck_requests_total");
    assert!(
        seen <= requests && seen >= requests - 200.0 * 0.8,
        "scrape {seen} vs summary {requests}"
    );
    // By request name and outcome: the demo has no /missing route (404).
    assert!(
        last.contains(r#"rampdeck_requests_total{request="fast",outcome="200"}"#),
        "{last}"
    );
    assert!(
        last.contains(r#"rampdeck_requests_total{request="missing",outcome="404"}"#),
        "{last}"
    );
    assert!(
        last.contains(r#"rampdeck_errors_total{kind="http_404"}"#),
        "{last}"
    );
    let ok = sum(last, "rampdeck_responses_ok_total");
    assert_eq!(sum(last, "rampdeck_latency_seconds_count"), ok);
    assert!(ok > 0.0);
    // A 5 ms route: the corrected latency's median bucket is under 25 ms.
    let le25 = last
        .lines()
        .find(|l| l.starts_with(r#"rampdeck_latency_seconds_bucket{le="0.025"}"#))
        .and_then(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .unwrap();
    assert!(le25 > ok * 0.5, "{le25} of {ok} under 25 ms");
    assert!(last.contains(r#"rampdeck_target_level{unit="requests_per_second"} 200"#));
    assert!(last.trim_end().ends_with("# EOF"), "{last}");
    // Every metric the shipped Grafana dashboard charts is described.
    for name in dashboard_metrics() {
        let family = ["_bucket", "_total"]
            .iter()
            .find_map(|s| name.strip_suffix(s))
            .unwrap_or(&name);
        assert!(
            last.contains(&format!("# TYPE {family} ")),
            "the dashboard charts {name}, which the endpoint does not serve"
        );
    }
}

/// The dashboard's PromQL expressions, with Grafana's variables filled in.
fn dashboard_queries() -> Vec<String> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/assets/grafana-dashboard.json");
    let d: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let mut out = Vec::new();
    for p in d["panels"].as_array().unwrap() {
        for t in p["targets"].as_array().into_iter().flatten() {
            let e = t["expr"].as_str().unwrap();
            out.push(
                e.replace("$__rate_interval", "4s")
                    .replace("$__range", "1m")
                    .replace("$job", ".*"),
            );
        }
    }
    assert!(out.len() > 10, "{out:?}");
    out
}

fn dashboard_metrics() -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for q in dashboard_queries() {
        let mut rest = q.as_str();
        while let Some(i) = rest.find("rampdeck_") {
            let n: String = rest[i..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            rest = &rest[i + n.len()..];
            if !names.contains(&n) {
                names.push(n);
            }
        }
    }
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_taken_port_fails_before_any_load_and_other_paths_are_404() {
    let _serial = support::SERIAL.lock().await;
    let demo = support::demo(vec![support::fixed("/fast", 1)]).await;
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("p.toml"),
        profile(demo.addrs.gateway, port, 50, "2s"),
    )
    .unwrap();
    let run = tokio::process::Command::new(env!("CARGO_BIN_EXE_rampdeck"))
        .args(["run", "--headless"])
        .arg(dir.path().join("p.toml"))
        .stdin(Stdio::null())
        .output()
        .await
        .unwrap();
    let err = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!(
            "metrics endpoint: cannot listen on 127.0.0.1:{port}"
        )),
        "{err}"
    );
    assert!(
        !err.contains("started:"),
        "no load before the endpoint: {err}"
    );
    drop(taken);

    // A live endpoint answers only /metrics.
    let port = free_port();
    let text = profile(demo.addrs.gateway, port, 50, "2s");
    let dir2 = tempfile::tempdir().unwrap();
    let probe = tokio::spawn(async move {
        for _ in 0..50 {
            if let Some(r) = get(port, "/other").await {
                return Some(r);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        None
    });
    support::run_headless("metrics.toml", &text, dir2.path()).await;
    let (head, _) = probe.await.unwrap().expect("the endpoint answered");
    assert!(head.starts_with("HTTP/1.1 404"), "{head}");
}

async fn query(prom: u16, q: &str, at: f64) -> f64 {
    let url = format!("/api/v1/query?query={}&time={at:.3}", encode(q));
    let (_, body) = get(prom, &url).await.expect("prometheus answers");
    // `connection: close` answers may be chunked; take the JSON object.
    let json = &body[body.find('{').unwrap_or(0)..=body.rfind('}').unwrap_or(body.len() - 1)];
    let v: serde_json::Value =
        serde_json::from_str(json).unwrap_or_else(|e| panic!("{q}: {e}: {body}"));
    assert_eq!(v["status"], "success", "{q}: {v}");
    v["data"]["result"][0]["value"][1]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("{q}: no value: {v}"))
}

fn encode(q: &str) -> String {
    q.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'_' | b'.' | b'-' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs prometheus (apt-get install prometheus)"]
async fn prometheus_rate_agrees_with_the_summary() {
    let _serial = support::SERIAL.lock().await;
    let demo = support::demo(vec![support::fixed("/fast", 5)]).await;
    let (metrics, prom) = (free_port(), free_port());
    let dir = tempfile::tempdir().unwrap();
    const SCRAPE_S: f64 = 1.0;
    std::fs::write(
        dir.path().join("prometheus.yml"),
        format!("global:\n  scrape_interval: {SCRAPE_S}s\nscrape_configs:\n  - job_name: rampdeck\n    static_configs:\n      - targets: ['127.0.0.1:{metrics}']\n"),
    )
    .unwrap();
    let _prometheus = tokio::process::Command::new("prometheus")
        .arg(format!(
            "--config.file={}",
            dir.path().join("prometheus.yml").display()
        ))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.path().join("tsdb").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{prom}"))
        .env("HOME", dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start prometheus");
    let up = Instant::now();
    while !get(prom, "/-/ready")
        .await
        .is_some_and(|(h, _)| h.starts_with("HTTP/1.1 200"))
    {
        assert!(
            up.elapsed() < Duration::from_secs(30),
            "prometheus did not start"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    const RATE: f64 = 200.0;
    let out = support::run_headless(
        "metrics.toml",
        &profile(demo.addrs.gateway, metrics, RATE as u32, "14s"),
        dir.path(),
    )
    .await;
    let ended = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let s = support::summary(&out);
    // Let Prometheus write its last scrape.
    tokio::time::sleep(Duration::from_secs(2)).await;

    // Over the steady part (after the 1 s warmup), the PromQL rate is the
    // summary's rate within one scrape interval's worth of its window.
    // The window is placed on the samples Prometheus actually has (its
    // scrapes may start late on a busy machine): from the first scrape
    // after warmup to the last one before sending stopped.
    let (_, body) = get(
        prom,
        &format!(
            "/api/v1/query?query={}&time={:.3}",
            encode("rampdeck_sent_total[2m]"),
            ended + 2.0
        ),
    )
    .await
    .expect("prometheus answers");
    let json = &body[body.find('{').unwrap_or(0)..=body.rfind('}').unwrap_or(body.len() - 1)];
    let v: serde_json::Value = serde_json::from_str(json).unwrap();
    let points: Vec<(f64, f64)> = v["data"]["result"][0]["values"]
        .as_array()
        .unwrap_or_else(|| panic!("no samples: {v}"))
        .iter()
        .filter_map(|p| Some((p[0].as_f64()?, p[1].as_str()?.parse().ok()?)))
        .collect();
    let top = points.iter().map(|p| p.1).fold(0.0, f64::max);
    let first = points
        .iter()
        .find(|p| p.1 >= 2.0 * RATE)
        .map(|p| p.0)
        .unwrap();
    let last = points
        .iter()
        .rev()
        .find(|p| p.1 < top)
        .map(|p| p.0)
        .unwrap();
    let window_s = (last - first - 1.0).min(8.0).floor();
    assert!(window_s >= 4.0, "too few samples: {points:?}");
    let at = last;
    let rate = query(
        prom,
        &format!("sum(rate(rampdeck_requests_total[{window_s}s]))"),
        at,
    )
    .await;
    let rps = s["rps"].as_f64().unwrap();
    let slack = rps * SCRAPE_S / window_s;
    assert!(
        (rate - rps).abs() <= slack,
        "PromQL rate {rate:.1}/s vs summary {rps:.1}/s (allowed {slack:.1})"
    );
    // The last scraped total is the summary's, less at most a scrape
    // interval and a stats interval of requests.
    let last = query(
        prom,
        "max_over_time(sum(rampdeck_requests_total)[1m:250ms])",
        ended + 2.0,
    )
    .await;
    let requests = s["requests"].as_f64().unwrap();
    assert!(
        last <= requests && requests - last <= rps * (SCRAPE_S + 0.25) + 1.0,
        "Prometheus saw {last} of {requests}"
    );
    // The latency histogram's count follows the successful responses.
    let count = query(
        prom,
        "max_over_time(rampdeck_latency_seconds_count[1m])",
        ended + 2.0,
    )
    .await;
    let ok = s["ok"].as_f64().unwrap();
    assert!(
        count <= ok && ok - count <= rps * (SCRAPE_S + 0.25) + 1.0,
        "{count} vs {ok}"
    );
    // And its median, from the buckets, is near the 5 ms route.
    let p50 = query(
        prom,
        &format!("histogram_quantile(0.5, sum by (le) (rate(rampdeck_latency_seconds_bucket[{window_s}s])))"),
        at,
    )
    .await;
    assert!(p50 > 0.0025 && p50 <= 0.025, "PromQL p50 {p50}");
    // The Grafana dashboard's queries all parse and evaluate.
    for q in dashboard_queries() {
        let url = format!("/api/v1/query?query={}&time={at:.3}", encode(&q));
        let (_, body) = get(prom, &url).await.expect("prometheus answers");
        assert!(body.contains(r#""status":"success""#), "{q}: {body}");
    }
}
