//! Probes against servers and commands with known behaviour: the demo control plane, bad
//! exposition text, 500s, hangs, PromQL errors; commands that succeed, fail, hang or do not exist.

mod support;

use std::time::{Duration, Instant};

use rampdeck::probes::{self, ProbeEvent, RunOutcome};
use rampdeck::spec::probes::*;

/// Runs `cfg` for `secs` and returns everything it reported.
async fn collect(cfg: ProbesConfig, secs: f64) -> Vec<ProbeEvent> {
    let mut p = probes::start(&cfg, probes::Stamp::wall(Instant::now())).unwrap();
    tokio::time::sleep(Duration::from_secs_f64(secs)).await;
    p.stop().await;
    let mut out = Vec::new();
    while let Ok(e) = p.events.try_recv() {
        out.push(e);
    }
    out
}

fn only_sources(sources: Vec<SourceConfig>) -> ProbesConfig {
    ProbesConfig {
        sources,
        stats: vec![],
        probes: vec![],
    }
}

fn scrape(url: String, cpu: &str, mem: &str) -> SourceConfig {
    SourceConfig {
        name: "cp".into(),
        kind: SourceKind::Scrape {
            url,
            cpu_metric: cpu.into(),
            memory_metric: mem.into(),
            labels: vec![],
        },
        interval: Duration::from_millis(200),
        timeout: Duration::from_millis(300),
    }
}

fn problems(events: &[ProbeEvent]) -> Vec<Option<String>> {
    events
        .iter()
        .filter_map(|e| {
            if let ProbeEvent::State { problem, .. } = e {
                Some(problem.clone())
            } else {
                None
            }
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scraping_the_demo_control_plane_gives_cpu_and_memory() {
    let demo = support::demo(vec![support::route("/")]).await;
    let url = format!("http://{}/metrics", demo.addrs.control);
    let events = collect(
        only_sources(vec![scrape(url, DEFAULT_CPU_METRIC, DEFAULT_MEMORY_METRIC)]),
        1.1,
    )
    .await;
    let samples: Vec<_> = events
        .iter()
        .filter_map(|e| {
            if let ProbeEvent::Resource {
                cpu_cores,
                memory_bytes,
                took,
                ..
            } = e
            {
                Some((*cpu_cores, *memory_bytes, *took))
            } else {
                None
            }
        })
        .collect();
    assert!(samples.len() >= 4, "{samples:?}");
    assert_eq!(samples[0].0, None, "the first sample has no rate yet");
    assert!(
        samples[1..].iter().all(|s| s.0.is_some_and(|c| c >= 0.0)),
        "{samples:?}"
    );
    assert!(
        samples.iter().all(|s| s.1.is_some_and(|m| m > 1e6)),
        "{samples:?}"
    );
    assert!(samples
        .iter()
        .all(|s| s.2 > Duration::ZERO && s.2 < Duration::from_millis(300)));
    assert!(
        problems(&events).is_empty(),
        "a healthy source reports no state change: {events:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_sources_fail_with_their_reason_once() {
    let bad_text = support::fixed_server(200, "<html>not metrics</html>\n").await;
    let error = support::fixed_server(500, "oops").await;
    let hang = support::hanging_server().await;
    let demo = support::demo(vec![support::route("/")]).await;
    let cases = [
        (
            format!("http://{bad_text}/metrics"),
            DEFAULT_CPU_METRIC,
            "malformed exposition text",
        ),
        (
            format!("http://{error}/metrics"),
            DEFAULT_CPU_METRIC,
            "HTTP 500",
        ),
        (
            format!("http://{hang}/metrics"),
            DEFAULT_CPU_METRIC,
            "no answer within",
        ),
        (
            format!("http://{}/metrics", support::closed_port().await),
            DEFAULT_CPU_METRIC,
            "Connection refused",
        ),
        (
            format!("http://{}/metrics", demo.addrs.control),
            "no_such_metric",
            "metric 'no_such_metric' not found",
        ),
    ];
    for (url, cpu, want) in cases {
        let events = collect(
            only_sources(vec![scrape(url.clone(), cpu, DEFAULT_MEMORY_METRIC)]),
            1.0,
        )
        .await;
        let p = problems(&events);
        assert_eq!(
            p.len(),
            1,
            "{url}: one state change, not one per failure: {p:?}"
        );
        let why = p[0].clone().unwrap_or_default();
        assert!(why.contains(want), "{url}: '{why}' should say '{want}'");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promql_errors_are_reported_and_values_summed() {
    let err = support::fixed_server(
        400,
        r#"{"status":"error","errorType":"bad_data","error":"1:5: parse error"}"#,
    )
    .await;
    let ok = support::fixed_server(
        200,
        r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"pod":"a"},"value":[1,"0.25"]},{"metric":{"pod":"b"},"value":[1,"0.5"]}]}}"#,
    )
    .await;
    let source = |addr: std::net::SocketAddr| SourceConfig {
        name: "prom".into(),
        kind: SourceKind::Promql {
            url: format!("http://{addr}"),
            cpu_query: Some("sum(rate(x[1m]))".into()),
            memory_query: None,
            token: None,
        },
        interval: Duration::from_millis(200),
        timeout: Duration::from_millis(300),
    };
    let events = collect(only_sources(vec![source(err)]), 0.5).await;
    assert_eq!(
        problems(&events),
        vec![Some(
            "cpu_query: PromQL error (bad_data): 1:5: parse error".into()
        )]
    );
    let events = collect(only_sources(vec![source(ok)]), 0.5).await;
    let first = events.iter().find_map(|e| {
        if let ProbeEvent::Resource {
            cpu_cores, note, ..
        } = e
        {
            Some((*cpu_cores, note.clone()))
        } else {
            None
        }
    });
    assert_eq!(
        first,
        Some((Some(0.75), Some("cpu: summed 2 series".into())))
    );
}

fn stat(argv: &[&str], timeout_ms: u64) -> StatConfig {
    StatConfig {
        name: argv.join(" "),
        argv: argv.iter().map(|s| s.to_string()).collect(),
        shell: false,
        interval: Duration::from_millis(300),
        timeout: Duration::from_millis(timeout_ms),
        env: vec![("PROBE_VAR".into(), "from-profile".into())],
        cwd: None,
        keep_lines: 2,
        until: rampdeck::spec::probes::Until::Exit,
    }
}

async fn runs(cfg: StatConfig, secs: f64) -> Vec<(Duration, RunOutcome, Vec<String>)> {
    collect(
        ProbesConfig {
            sources: vec![],
            stats: vec![cfg],
            probes: vec![],
        },
        secs,
    )
    .await
    .into_iter()
    .filter_map(|e| {
        if let ProbeEvent::Run {
            took,
            outcome,
            output,
            ..
        } = e
        {
            Some((took, outcome, output))
        } else {
            None
        }
    })
    .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stat_commands_are_timed_and_classified() {
    let ok = runs(
        stat(&["sh", "-c", "echo one; echo two; echo $PROBE_VAR"], 2000),
        0.5,
    )
    .await;
    assert!(!ok.is_empty());
    assert_eq!(ok[0].1, RunOutcome::Ok);
    assert_eq!(
        ok[0].2,
        vec!["two".to_string(), "from-profile".to_string()],
        "the last 2 lines, env passed"
    );

    let fail = runs(stat(&["sh", "-c", "echo broken >&2; exit 3"], 2000), 0.5).await;
    assert_eq!(fail[0].1, RunOutcome::Failed("exit status 3".into()));
    assert_eq!(
        fail[0].2,
        vec!["broken".to_string()],
        "stderr is kept when stdout is empty"
    );

    let missing = runs(stat(&["rampdeck-no-such-command"], 2000), 0.5).await;
    assert_eq!(
        missing[0].1,
        RunOutcome::Failed("command not found: 'rampdeck-no-such-command'".into())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_stat_command_is_killed_with_its_children() {
    // The shell starts a child of its own; both must die at the timeout.
    let hang = runs(
        stat(&["sh", "-c", "sleep 31.7 & sleep 31.7; wait"], 300),
        0.9,
    )
    .await;
    assert!(!hang.is_empty());
    assert_eq!(hang[0].1, RunOutcome::TimedOut);
    assert!(
        hang[0].0 >= Duration::from_millis(300) && hang[0].0 < Duration::from_millis(800),
        "{:?}",
        hang[0].0
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    let left = std::process::Command::new("pgrep")
        .args(["-f", "sleep 31.7"])
        .output()
        .unwrap();
    assert!(
        left.stdout.is_empty(),
        "left running: {}",
        String::from_utf8_lossy(&left.stdout)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_probes_check_the_status() {
    let demo = support::demo(vec![support::route("/")]).await;
    let probe = |url: String, expect: u16| HttpProbeConfig {
        name: url.clone(),
        url,
        expect_status: expect,
        interval: Duration::from_millis(200),
        timeout: Duration::from_millis(300),
    };
    let events = collect(
        ProbesConfig {
            sources: vec![],
            stats: vec![],
            probes: vec![
                probe(format!("http://{}/healthz", demo.addrs.control), 200),
                probe(format!("http://{}/nope", demo.addrs.control), 200),
                probe(format!("http://{}/", support::hanging_server().await), 200),
            ],
        },
        0.7,
    )
    .await;
    let outcome = |suffix: &str| {
        events.iter().find_map(|e| match e {
            ProbeEvent::Run { name, outcome, .. } if name.ends_with(suffix) => {
                Some(outcome.clone())
            }
            _ => None,
        })
    };
    assert_eq!(outcome("/healthz"), Some(RunOutcome::Ok));
    assert_eq!(
        outcome("/nope"),
        Some(RunOutcome::Failed("HTTP 404, expected 200".into()))
    );
    let timed_out = events.iter().any(|e| {
        matches!(
            e,
            ProbeEvent::Run {
                outcome: RunOutcome::TimedOut,
                ..
            }
        )
    });
    assert!(timed_out, "the hanging server times out: {events:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn until_first_line_times_the_first_output_and_stops_the_command() {
    use rampdeck::probes::command::run;
    use rampdeck::spec::probes::Until;
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("pid");
    // Like `kubectl logs -f`: a line after 200 ms, then it would go on forever.
    let mut cfg = stat(
        &[
            "sh",
            "-c",
            &format!(
                "echo $$ > {}; sleep 0.2; echo ready; exec sleep 30",
                pidfile.display()
            ),
        ],
        5000,
    );
    cfg.until = Until::FirstLine;
    let r = run(&cfg).await;
    assert_eq!(r.outcome, RunOutcome::Ok, "{:?}", r.lines);
    assert_eq!(r.lines, vec!["ready"]);
    assert!(
        (Duration::from_millis(180)..Duration::from_millis(1500)).contains(&r.took),
        "{:?}",
        r.took
    );
    // Stopped once timed: its process is gone.
    let pid = std::fs::read_to_string(&pidfile).unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        !std::path::Path::new(&format!("/proc/{}", pid.trim())).exists(),
        "the command was left running"
    );

    // Exiting before any line is a failure, with what it said on stderr.
    let mut cfg = stat(&["sh", "-c", "echo 'no such pod' >&2; exit 3"], 5000);
    cfg.until = Until::FirstLine;
    let r = run(&cfg).await;
    assert_eq!(
        r.outcome,
        RunOutcome::Failed("exited (status 3) before its first line of output".into())
    );
    assert_eq!(r.lines, vec!["no such pod"]);

    // No line within the timeout.
    let mut cfg = stat(&["sleep", "5"], 300);
    cfg.until = Until::FirstLine;
    let r = run(&cfg).await;
    assert_eq!(r.outcome, RunOutcome::TimedOut);
}
