//! The binary as users run it: `check` on good and bad profiles, exit codes, headless runs,
//! summary.json, and a clean stop on SIGTERM.

mod support;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

fn rampdeck(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rampdeck"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run rampdeck")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn every_shipped_profile_passes_check() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("profiles");
    let mut profiles: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .map(|p| format!("profiles/{}", p.file_name().unwrap().to_string_lossy()))
        .collect();
    profiles.sort();
    assert!(profiles.len() >= 3, "{profiles:?}");
    let args: Vec<&str> = std::iter::once("check")
        .chain(profiles.iter().map(String::as_str))
        .collect();
    let out = rampdeck(&args);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    for p in &profiles {
        assert!(text.contains(&format!("{p}: ok")), "{text}");
    }
    assert!(
        text.contains("stage 1") && text.contains("ramp 0 -> 1000 req/s over 2m"),
        "{text}"
    );
}

/// Each invalid fixture: exit code 2 and exactly this first line, then toml's caret excerpt.
#[test]
fn invalid_profiles_get_their_own_messages() {
    let cases = [
        ("bad-type", "6:8: load.rate: invalid type: string \"fast\", expected a number", "rate = \"fast\""),
        (
            "unknown-key",
            "5:1: unknown field `rat`, expected one of `mode`, `rate`, `concurrency`, `duration`, `max_connections`, `warmup`, `seed`, `interval`, `stages`",
            "rat = 100",
        ),
        (
            "bad-url",
            "2:7: target.url: invalid URL 'htp://gateway.example.com': unsupported scheme 'htp'; rampdeck sends HTTP, use http:// or https://",
            "url = ",
        ),
        ("zero-rate", "5:8: load.rate: must be more than 0 requests per second, got 0", "rate = 0"),
        ("empty-stages", "5:10: load.stages is empty: add at least one stage", "stages = []"),
        ("long-warmup", "7:10: load.warmup: '2m' is not shorter than the run (1m)", "warmup = \"2m\""),
        ("bad-stage-kind", "6:8: unknown variant `spike`, expected `ramp` or `hold`", "kind = \"spike\""),
        (
            "bad-threshold",
            "9:7: thresholds.p99: 'fast' does not start with <, <=, > or >=; write it like \"< 250ms\"",
            "p99 = \"fast\"",
        ),
        (
            "unknown-threshold-component",
            "13:1: thresholds.component.identity: no [[source]] is named 'identity' (sources: 'destination')",
            "[thresholds.component.identity]",
        ),
        (
            "bad-source-kind",
            "10:8: source[0].kind: unknown source kind 'statsd': use \"scrape\" (a /metrics endpoint) or \"promql\" (a Prometheus server)",
            "kind = \"statsd\"",
        ),
        (
            "bad-probe-url",
            "10:7: probe[0].url: invalid URL '127.0.0.1:8084/dashboard': it needs http:// or https://, e.g. http://127.0.0.1:8084/dashboard",
            "url = ",
        ),
    ];
    for (name, message, line) in cases {
        let path = format!("tests/fixtures/{name}.toml");
        let out = rampdeck(&["check", &path]);
        assert_eq!(out.status.code(), Some(2), "{name}: {}", stderr(&out));
        let err = stderr(&out);
        let first = err.lines().next().unwrap_or_default();
        assert!(
            first.starts_with(&format!("error: {path}:{message}")),
            "{name}:\n{err}"
        );
        assert!(
            err.contains(line) && err.contains('^'),
            "{name}: caret excerpt missing:\n{err}"
        );
    }
}

#[test]
fn bad_flags_are_bad_input() {
    let out = rampdeck(&["run", "profiles/closed-loop.toml", "--method", "POST"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("--method: applies to URL runs only"),
        "{}",
        stderr(&out)
    );
    let out = rampdeck(&["run", "http://127.0.0.1:9/", "--rate", "0"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("--rate: must be more than 0"),
        "{}",
        stderr(&out)
    );
    let out = rampdeck(&[
        "run",
        "http://127.0.0.1:9/",
        "--rate",
        "5",
        "--concurrency",
        "5",
    ]);
    assert_eq!(out.status.code(), Some(2), "clap rejects conflicting flags");
    let out = rampdeck(&["run", "missing.toml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("missing.toml: cannot read profile"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn url_run_writes_a_summary_with_the_documented_keys() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let server = rt.block_on(support::demo(vec![
        support::failing("/fail", 503),
        support::route("/"),
    ]));
    let dir = tempfile::tempdir().unwrap();
    let url = format!("http://{}/", server.addrs.gateway);
    let out = rampdeck(&[
        "run",
        &url,
        "--rate",
        "200",
        "--duration",
        "2s",
        "--headless",
        "--out",
        dir.path().to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("Latency (ms)")
            && stdout.contains("service time")
            && stdout.contains("200: 400"),
        "{stdout}"
    );
    let json: serde_json::Value = support::summary(dir.path());
    assert_eq!(json["schema"], 1);
    assert_eq!(json["requests"], 400);
    assert!(
        (json["duration_s"].as_f64().unwrap() - 2.0).abs() < 0.05,
        "{}",
        json["duration_s"]
    );
    assert!((json["rps"].as_f64().unwrap() - 200.0).abs() < 5.0);
    assert_eq!(json["success_rate"], 100.0);
    for key in ["latency_ms", "service_time_ms"] {
        for p in ["p50", "p90", "p95", "p99", "p999", "max"] {
            assert!(json[key][p].as_f64().unwrap() > 0.0, "{key}.{p}");
        }
    }
    assert_eq!(json["status_codes"]["200"], 400);
    assert!(json["errors"].as_object().unwrap().is_empty());

    // A failing route: its errors are counted by code.
    let url = format!("http://{}/fail", server.addrs.gateway);
    let out = rampdeck(&[
        "run",
        &url,
        "--concurrency",
        "2",
        "--duration",
        "1s",
        "--out",
        dir.path().to_str().unwrap(),
        "--force",
    ]);
    // Not one success: exit 1, "no successful response", and the summary kept.
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("no successful response from the target: ")
            && stderr(&out).contains("(503: "),
        "{}",
        stderr(&out)
    );
    let json: serde_json::Value = support::summary(dir.path());
    assert_eq!(json["success_rate"], 0.0);
    assert_eq!(json["rps"], json["attempts_rps"], "503s are answers");
    assert_eq!(json["errors"]["http_503"], json["requests"]);
}

#[test]
fn demo_runs_headless_when_stdout_is_not_a_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let out = rampdeck(&[
        "demo",
        "--duration",
        "7s",
        "--out",
        dir.path().to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("demo target: gateway http://127.0.0.1:"),
        "{err}"
    );
    assert!(err.contains("warmup over"), "{err}");
    // The printed summary fits an 80-column terminal, tables and notes.
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("Probes (ms)") && text.contains("Latency (ms)"),
        "{text}"
    );
    for l in text.lines() {
        assert!(
            l.chars().count() <= 80,
            "{} columns: {l}",
            l.chars().count()
        );
    }
    let json: serde_json::Value = support::summary(dir.path());
    assert!(json["requests"].as_u64().unwrap() > 100, "{json}");
    assert!(json["success_rate"].as_f64().unwrap() > 90.0);
}

#[test]
fn an_unwritable_out_dir_is_bad_input_before_the_run() {
    let started = std::time::Instant::now();
    let out = rampdeck(&[
        "demo",
        "--rate",
        "50",
        "--duration",
        "60s",
        "--out",
        "/proc/rampdeck-cannot-write",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    // Found before the run, not after 60 s of it.
    assert!(started.elapsed() < Duration::from_secs(20));
    assert!(!String::from_utf8_lossy(&out.stdout).contains("Summary:"));
    assert!(
        stderr(&out).contains("--out '/proc/rampdeck-cannot-write': cannot create it"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn sigterm_stops_the_run_and_still_writes_the_summary() {
    let dir = tempfile::tempdir().unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_rampdeck"))
        .args([
            "demo",
            "--headless",
            "--rate",
            "100",
            "--duration",
            "60s",
            "--out",
            dir.path().to_str().unwrap(),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(7));
    let pid = rustix::process::Pid::from_child(&child);
    rustix::process::kill_process(pid, rustix::process::Signal::TERM).unwrap();
    let started = std::time::Instant::now();
    let out = child.wait_with_output().unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "stopping took {:?}",
        started.elapsed()
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("stopped early"));
    let json: serde_json::Value = support::summary(dir.path());
    assert_eq!(json["stopped_early"], true);
    assert!(
        json["requests"].as_u64().unwrap() >= 150,
        "{}",
        json["requests"]
    );
}

#[test]
fn thresholds_decide_the_exit_code() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let server = rt.block_on(support::demo(vec![support::fixed("/", 5)]));
    let dir = tempfile::tempdir().unwrap();
    let profile = |name: &str, thresholds: &str| {
        let path = dir.path().join(format!("{name}.toml"));
        std::fs::write(
            &path,
            format!("[target]\nurl = \"http://{}\"\n[load]\nrate = 100\nduration = \"3s\"\n[thresholds]\n{thresholds}", server.addrs.gateway),
        )
        .unwrap();
        path.display().to_string()
    };
    let out_dir = dir.path().join("out");
    // One directory for every run: --force replaces the previous run's files.
    let out = |p: &str| {
        rampdeck(&[
            "run",
            p,
            "--headless",
            "--out",
            out_dir.to_str().unwrap(),
            "--force",
        ])
    };

    // A 5 ms route cannot have a p99 under 1 ms.
    let failing = profile("fail", "p99 = \"< 1ms\"\nsuccess_rate = \"> 99\"\n");
    let o = out(&failing);
    assert_eq!(o.status.code(), Some(99), "{}", stderr(&o));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("Thresholds   1 FAILED")
            && text.contains("FAIL p99 < 1ms")
            && text.contains("pass success_rate > 99"),
        "{text}"
    );
    assert!(
        stderr(&o).contains("threshold breached: p99 < 1ms"),
        "breach is logged live: {}",
        stderr(&o)
    );
    let json: serde_json::Value = support::summary(&out_dir);
    assert_eq!(json["thresholds_passed"], false);
    assert_eq!(json["thresholds"][0]["name"], "p99");
    assert!(json["events"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["type"] == "threshold_breached"));
    let log = std::fs::read_to_string(out_dir.join("run.jsonl")).unwrap();
    assert!(
        log.lines()
            .any(|l| l.contains("\"type\":\"event\"") && l.contains("threshold_breached")),
        "the breach is in the run log as it happened"
    );

    let passing = profile(
        "pass",
        "p99 = \"< 1s\"\nrps = \">= 95% of target\"\nsuccess_rate = \"> 99.9\"\n",
    );
    let o = out(&passing);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}\n{}",
        stderr(&o),
        String::from_utf8_lossy(&o.stdout)
    );
    let json: serde_json::Value = support::summary(&out_dir);
    assert_eq!(json["thresholds_passed"], true);
}

#[test]
fn baselines_catch_regressions_and_history_grows() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let server = rt.block_on(support::demo(vec![
        support::fixed("/fast", 1),
        support::fixed("/slow", 30),
    ]));
    let dir = tempfile::tempdir().unwrap();
    let (fast, slow, history) = (
        dir.path().join("fast"),
        dir.path().join("slow"),
        dir.path().join("history.jsonl"),
    );
    let run = |path: &str, out: &Path, extra: &[&str]| {
        let url = format!("http://{}{path}", server.addrs.gateway);
        let mut args = vec![
            "run",
            url.as_str(),
            "--rate",
            "100",
            "--duration",
            "2s",
            "--headless",
            "--out",
            out.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        args.push("--history");
        args.push(history.to_str().unwrap());
        rampdeck(&args)
    };
    let o = run("/fast", &fast, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    // Same route again against the first run: no regression.
    let again = dir.path().join("again");
    let o = run(
        "/fast",
        &again,
        &[
            "--baseline",
            fast.to_str().unwrap(),
            "--tolerance-for",
            "p95=100",
            "--tolerance-for",
            "p99=100",
            // A 1 ms route's tail moves with whatever else the machine runs.
            "--tolerance-for",
            "service_p99=200",
        ],
    );
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}\n{}",
        stderr(&o),
        String::from_utf8_lossy(&o.stdout)
    );
    assert!(String::from_utf8_lossy(&o.stdout).contains("Compared with the baseline"));
    // A 30x slower route: a regression, exit 99.
    let o = run("/slow", &slow, &["--baseline", fast.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(99), "{}", stderr(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("REGRESSION"),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );

    // The compare command says the same, both ways round.
    let o = rampdeck(&["compare", fast.to_str().unwrap(), slow.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(99));
    let table = String::from_utf8_lossy(&o.stdout);
    assert!(
        table
            .lines()
            .any(|l| l.contains("p99") && l.contains("REGRESSION")),
        "{table}"
    );
    // The other way round the fast run is no regression. Its corrected
    // tail (2 s at 100/s) moves with any stall of a busy machine (one
    // 140 ms stall made p99 144 ms once), so that tail gets room; its
    // service time must still be no worse than the slow route's.
    let o = rampdeck(&[
        "compare",
        slow.to_str().unwrap(),
        fast.to_str().unwrap(),
        "--tolerance-for",
        "p95=1000",
        "--tolerance-for",
        "p99=1000",
    ]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    assert!(String::from_utf8_lossy(&o.stdout).contains("better"));

    // Bad input: exit 2, before any run.
    let o = rampdeck(&["compare", "/nonexistent", slow.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("cannot read '/nonexistent/summary.json'")
            || stderr(&o).contains("cannot read '/nonexistent'"),
        "{}",
        stderr(&o)
    );
    let o = run(
        "/fast",
        &dir.path().join("fresh"),
        &["--baseline", "/nonexistent"],
    );
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("--baseline"), "{}", stderr(&o));

    let lines = std::fs::read_to_string(&history).unwrap();
    assert_eq!(
        lines.lines().count(),
        3,
        "one history line per finished run:\n{lines}"
    );
    for l in lines.lines() {
        let v: serde_json::Value = serde_json::from_str(l).unwrap();
        assert!(v["p99_ms"].as_f64().unwrap() > 0.0 && v["requests"].as_u64().unwrap() > 0);
    }
}

#[test]
fn scenarios_exit_0_on_pass_99_on_fail_and_2_on_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("pass");
    let o = rampdeck(&[
        "scenario",
        "route-change",
        "--demo",
        "--headless",
        "--iterations",
        "3",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("PASSED"), "{stdout}");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("scenario.json")).unwrap()).unwrap();
    assert_eq!(json["scenario"], "route-change");
    assert_eq!(json["outcome"], "passed");
    assert_eq!(json["route_change"]["flips"].as_array().unwrap().len(), 3);
    assert!(
        json["control_plane"]["demo control plane"]["samples"]
            .as_u64()
            .unwrap()
            >= 1
    );

    let failing = dir.path().join("fail");
    let o = rampdeck(&[
        "scenario",
        "route-change",
        "--demo",
        "--headless",
        "--iterations",
        "3",
        "--demo-swap-drop",
        "30ms",
        "--out",
        failing.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(99), "{}", stderr(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("FAILED: "));

    // Both wrote a run log that `report` reads: the flips, their drops and
    // the failures around them.
    let log = std::fs::read_to_string(failing.join("run.jsonl")).unwrap();
    let first: serde_json::Value = serde_json::from_str(log.lines().next().unwrap()).unwrap();
    assert_eq!(first["type"], "scenario_header");
    assert_eq!(first["scenario"], "route-change");
    assert_eq!(log.matches("\"event\":\"flip\"").count(), 3, "{log}");
    assert!(log
        .lines()
        .last()
        .unwrap()
        .contains("\"type\":\"scenario_result\""));
    let o = rampdeck(&["report", failing.to_str().unwrap(), "--format", "html"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let html = std::fs::read_to_string(failing.join("report.html")).unwrap();
    for want in [
        "<h2>FAIL</h2>",
        "route-change: failed requests around the flips",
        "route-change: answers per second, flips marked",
        "<th>drops</th>",
        "Detection resolution 5.0 ms at 200/s",
    ] {
        assert!(
            html.contains(want),
            "{want} missing from the scenario report"
        );
    }
    let o = rampdeck(&["report", out.to_str().unwrap(), "--format", "json"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    assert_eq!(doc["report"]["outcome"], "passed");
    assert!(doc["events"].as_array().unwrap().len() > 10);

    let o = rampdeck(&["scenario", "attached-routes", "--demo", "--routes", "0"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("--routes: must be 1 to"),
        "{}",
        stderr(&o)
    );
    let o = rampdeck(&["scenario", "route-probe"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--gateway-url"), "{}", stderr(&o));
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[scenario.route_change]\niterations = 0\n").unwrap();
    let o = rampdeck(&[
        "scenario",
        "route-change",
        "--demo",
        "--profile",
        bad.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("bad.toml:2:14: scenario.route_change.iterations: must be 1 to 10000"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn scenario_results_have_baselines_history_and_compare() {
    let dir = tempfile::tempdir().unwrap();
    let (base, new, history) = (
        dir.path().join("base"),
        dir.path().join("new"),
        dir.path().join("history.jsonl"),
    );
    let scenario = |out: &Path, extra: &[&str]| {
        let mut args = vec![
            "scenario",
            "attached-routes",
            "--demo",
            "--routes",
            "20",
            "--headless",
            "--out",
            out.to_str().unwrap(),
            "--history",
            history.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        rampdeck(&args)
    };
    let o = scenario(&base, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    // Against itself with room for a busy machine: no regression.
    let o = scenario(
        &new,
        &[
            "--baseline",
            base.to_str().unwrap(),
            "--tolerance",
            "100000",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("attached.20.setup_total_s"),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    // A baseline that was ten thousand times faster: a regression, exit 99.
    let fast = dir.path().join("fast.json");
    let mut v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(base.join("scenario.json")).unwrap()).unwrap();
    let setup = v["attached_routes"][0]["setup_total_s"].as_f64().unwrap();
    v["attached_routes"][0]["setup_total_s"] = serde_json::json!(setup / 10_000.0);
    std::fs::write(&fast, v.to_string()).unwrap();
    let o = rampdeck(&["compare", fast.to_str().unwrap(), new.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(99), "{}", stderr(&o));
    assert!(String::from_utf8_lossy(&o.stdout)
        .lines()
        .any(|l| l.contains("attached.20.setup_total_s") && l.contains("REGRESSION")));
    // A scenario result and a load run's summary do not compare.
    let run = dir.path().join("run");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let server = rt.block_on(support::fixed_server(200, "ok"));
    let url = format!("http://{server}/");
    let o = rampdeck(&[
        "run",
        &url,
        "--rate",
        "10",
        "--duration",
        "1s",
        "--out",
        run.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = rampdeck(&["compare", run.to_str().unwrap(), new.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert_eq!(
        std::fs::read_to_string(&history).unwrap().lines().count(),
        2
    );
}

#[test]
fn find_exits_99_when_the_first_step_fails_and_2_on_a_bad_slo_or_find_table() {
    // The demo's route takes 5 ms: a 1 ms p99 fails at once.
    let o = rampdeck(&[
        "find",
        "--demo",
        "--headless",
        "--slo",
        "p99 < 1ms",
        "--settle",
        "250ms",
        "--step",
        "500ms",
    ]);
    assert_eq!(o.status.code(), Some(99), "{}", stderr(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    // The search ending is the run's planned end; one level is the whole run.
    assert!(!out.contains("stopped early"), "{out}");
    assert!(out.contains("    corrected "), "{out}");
    for l in out.lines() {
        assert!(l.chars().count() <= 80, "{l}");
    }
    assert!(
        out.contains("FAILED at the first step (200 req/s): p99 < 1ms"),
        "{out}"
    );

    let o = rampdeck(&["find", "--demo", "--slo", "p99 = 5ms"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("--slo: 'p99 = 5ms' has no < or >"),
        "{}",
        stderr(&o)
    );
    let o = rampdeck(&["find", "--demo", "--slo", "latency < 5ms"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("'latency' is not a metric"),
        "{}",
        stderr(&o)
    );

    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "[target]\nurl = \"http://127.0.0.1:9\"\n[load]\nrate = 1\nduration = \"1s\"\n[find]\nprecision = 2\n",
    )
    .unwrap();
    let o = rampdeck(&["find", bad.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("bad.toml:7:13: find.precision: a fraction"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn output_json_puts_the_summary_alone_on_stdout() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("o");
    // Nothing listens on port 9: every request is refused, quickly.
    let o = rampdeck(&[
        "run",
        "http://127.0.0.1:9/",
        "--duration",
        "500ms",
        "--concurrency",
        "2",
        "--output",
        "json",
        "--out",
        out.to_str().unwrap(),
    ]);
    // A dead target is exit 1 ("no response"), its summary still printed.
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("error: no response from the target: all "),
        "{}",
        stderr(&o)
    );
    let printed: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not one JSON object: {e}\n{}",
            String::from_utf8_lossy(&o.stdout)
        )
    });
    let written: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(printed, written);
    assert!(printed["errors"]["connect_refused"].as_u64().unwrap() > 0);
    // The human tables still show, on stderr.
    assert!(
        stderr(&o).contains("Summary: ") && stderr(&o).contains("Errors       connect_refused"),
        "{}",
        stderr(&o)
    );

    // A search's result, alone, as capacity.json has it.
    let o = rampdeck(&[
        "find",
        "--demo",
        "--headless",
        "--slo",
        "p99 < 1ms",
        "--settle",
        "250ms",
        "--step",
        "500ms",
        "--output",
        "json",
    ]);
    assert_eq!(o.status.code(), Some(99), "{}", stderr(&o));
    let result: serde_json::Value = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("{e}\n{}", String::from_utf8_lossy(&o.stdout)));
    assert!(
        result["outcome"].is_object() || result["outcome"].is_string(),
        "{result}"
    );
    assert!(
        result["steps"].as_array().is_some_and(|s| !s.is_empty()),
        "{result}"
    );
}

#[test]
fn completion_scripts_load_in_their_shells() {
    let o = rampdeck(&["completions", "bash"]);
    assert!(o.status.success());
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("rampdeck.bash");
    std::fs::write(&script, &o.stdout).unwrap();
    // Sourced cleanly, it registers the completion function for rampdeck.
    let b = Command::new("bash")
        .arg("-c")
        .arg(format!(
            "set -e; source {}; complete -p rampdeck",
            script.display()
        ))
        .output()
        .unwrap();
    assert!(b.status.success(), "{}", String::from_utf8_lossy(&b.stderr));
    assert!(String::from_utf8_lossy(&b.stdout).contains("-F _rampdeck rampdeck"));
    for shell in ["zsh", "fish"] {
        let o = rampdeck(&["completions", shell]);
        assert!(o.status.success());
        let text = String::from_utf8_lossy(&o.stdout);
        assert!(
            text.contains("rampdeck") && text.contains("completions"),
            "{shell}"
        );
    }
    let o = rampdeck(&["completions", "tcsh"]);
    assert_eq!(o.status.code(), Some(2));
}
