//! Regression tests for the second hardening sweep: endless inputs, bad numbers, signals and
//! the limits each surface now has; each case one that once failed.

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

const EXE: &str = env!("CARGO_BIN_EXE_rampdeck");

fn rampdeck(args: &[&str]) -> Output {
    Command::new(EXE)
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("RAMPDECK_AGENT_TOKEN")
        .output()
        .expect("run rampdeck")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

#[test]
fn endless_inputs_are_refused_at_once_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let data = write(
        dir.path(),
        "data.toml",
        "[target]\nurl = \"http://127.0.0.1:9\"\n[[data]]\nname = \"users\"\nfile = \"/dev/zero\"\n[[request]]\npath = \"/{{users.id}}\"\n[load]\nrate = 1\nduration = \"1s\"\n",
    );
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec![
                "run",
                "grpc://127.0.0.1:9/a.B/C",
                "--descriptor-set",
                "/dev/zero",
                "--data",
                "{}",
                "--duration",
                "1s",
            ],
            "a descriptor set",
        ),
        (vec!["check", &data], "a [[data]] file"),
        (
            vec!["compare", "/dev/zero", "/dev/zero"],
            "character device",
        ),
        (vec!["report", "/dev/zero"], "character device"),
        (
            vec![
                "run",
                "http://127.0.0.1:9/",
                "--agents",
                "static:127.0.0.1:9",
                "--agent-token-file",
                "/dev/zero",
                "--duration",
                "1s",
            ],
            "a token file",
        ),
        (
            vec![
                "agent",
                "--listen",
                "127.0.0.1:0",
                "--allow",
                "127.0.0.1:9",
                "--token-file",
                "/dev/zero",
            ],
            "a token file",
        ),
    ];
    for (args, needle) in cases {
        let t0 = Instant::now();
        let o = rampdeck(&args);
        let t = text(&o);
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "{args:?}: {:?}",
            t0.elapsed()
        );
        assert!(t.contains(needle), "{args:?}: wanted '{needle}' in: {t}");
        assert_ne!(o.status.code(), Some(0), "{args:?}: {t}");
        assert!(o.status.code().is_some(), "{args:?} was killed: {t}");
    }
}

#[test]
fn a_hang_up_stops_a_headless_run_like_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let child = Command::new(EXE)
        .args([
            "demo",
            "--headless",
            "--rate",
            "50",
            "--duration",
            "30s",
            "--out",
        ])
        .arg(&out)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Past the demo profile's 5 s warmup, so something is measured.
    std::thread::sleep(Duration::from_secs(7));
    let pid = rustix::process::Pid::from_child(&child);
    rustix::process::kill_process(pid, rustix::process::Signal::HUP).unwrap();
    let t0 = Instant::now();
    let o = child.wait_with_output().unwrap();
    assert!(t0.elapsed() < Duration::from_secs(15), "{:?}", t0.elapsed());
    // Not killed (129): ended as a stopped run, its thresholds judged.
    assert!(
        matches!(o.status.code(), Some(0 | 99)),
        "{:?} {}",
        o.status,
        text(&o)
    );
    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(s["stopped_early"], true, "{s}");
    assert!(s["requests"].as_u64().unwrap_or(0) > 50, "{s}");
}

#[test]
fn levels_past_the_caps_and_fractional_concurrency_are_refused_in_short_words() {
    let o = rampdeck(&[
        "run",
        "http://127.0.0.1:9/",
        "--rate",
        "1e308",
        "--duration",
        "1s",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("1.000e308 is more than the most rampdeck sends (10,000,000 per second)"),
        "{}",
        text(&o)
    );
    let o = rampdeck(&[
        "find",
        "http://127.0.0.1:9/",
        "--concurrency",
        "--start",
        "0.5",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("0.5 is not a whole number"),
        "{}",
        text(&o)
    );
    let o = rampdeck(&["find", "http://127.0.0.1:9/", "--start", "1e308"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).len() < 300, "{}", text(&o));
}

#[test]
fn check_of_a_url_never_shows_its_password() {
    let o = rampdeck(&["check", "http://user:s3cret-pass@127.0.0.1:9/x"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(!text(&o).contains("s3cret"), "{}", text(&o));
    assert!(
        text(&o).contains("http://user:***@127.0.0.1:9"),
        "{}",
        text(&o)
    );
}

/// A short headless run against a server this test starts, into `out`.
fn short_run(out: &Path) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        use std::io::{Read, Write};
        for s in listener.incoming().take(200) {
            let Ok(mut s) = s else { continue };
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n) = s.read(&mut buf) {
                    if n == 0
                        || s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                            .is_err()
                    {
                        break;
                    }
                }
            });
        }
    });
    let o = rampdeck(&[
        "run",
        &format!("http://{addr}/"),
        "--rate",
        "20",
        "--duration",
        "1s",
        "--headless",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
}

#[test]
fn a_missing_summary_json_falls_back_to_the_logs_summary_and_bad_counters_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    short_run(&out);
    std::fs::remove_file(out.join("summary.json")).unwrap();
    let o = rampdeck(&["compare", out.to_str().unwrap(), out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(!text(&o).contains("killed"), "{}", text(&o));
    assert!(
        text(&o).contains("using the summary the run wrote"),
        "{}",
        text(&o)
    );
    // A corrupt log (ok above finished, no summary line) is refused, not
    // turned into "success 1434%".
    let log = std::fs::read_to_string(out.join("run.jsonl")).unwrap();
    let bad: String = log
        .lines()
        .filter(|l| !l.contains("\"type\":\"summary\""))
        .map(|l| {
            let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
            if v["type"] == "interval" && v["finished"].as_u64().unwrap_or(0) > 0 {
                v["ok"] = serde_json::json!(v["finished"].as_u64().unwrap() * 14);
            }
            format!("{v}\n")
        })
        .collect();
    std::fs::write(out.join("run.jsonl"), bad).unwrap();
    let o = rampdeck(&["compare", out.to_str().unwrap(), out.to_str().unwrap()]);
    assert_ne!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        text(&o).contains("the counters do not add up"),
        "{}",
        text(&o)
    );
    assert!(!text(&o).contains("1434"), "{}", text(&o));
}

#[test]
fn compare_refuses_tolerances_that_can_never_apply_and_has_no_latency_without_successes() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    short_run(&out);
    let run = out.to_str().unwrap();
    let o = rampdeck(&["compare", run, run, "--tolerance-for", "errors.foo=5"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let o = rampdeck(&[
        "compare",
        run,
        run,
        "--tolerance-for",
        "component.nope.cpu_max=5",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("component.nope.cpu_max: neither run has it"),
        "{}",
        text(&o)
    );
    let o = rampdeck(&["compare", run, run, "--tolerance-for", "errors.http_503=5"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    // A run with no successful response has no latency to be "better".
    let dead = dir.path().join("dead");
    let o = rampdeck(&[
        "run",
        "http://127.0.0.1:9/",
        "--rate",
        "20",
        "--duration",
        "1s",
        "--headless",
        "--out",
        dead.to_str().unwrap(),
    ]);
    assert!(o.status.code().is_some(), "{}", text(&o));
    let o = rampdeck(&["compare", run, dead.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(99), "{}", text(&o));
    assert!(!text(&o).contains("better"), "{}", text(&o));
}

#[test]
fn a_search_refuses_a_baseline_with_negative_levels_and_slos_on_unknown_names() {
    let dir = tempfile::tempdir().unwrap();
    let base = write(
        dir.path(),
        "capacity.json",
        r#"{"searched": "rate", "steps": [], "max_sustainable": -300, "knee": null}"#,
    );
    let o = rampdeck(&[
        "find",
        "http://127.0.0.1:9/",
        "--slo",
        "p99 < 50ms",
        "--baseline",
        &base,
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("'max_sustainable' is -300"),
        "{}",
        text(&o)
    );
    let o = rampdeck(&[
        "find",
        "http://127.0.0.1:9/",
        "--slo",
        "component.istiod.cpu_max < 2",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("no [[source]] is named 'istiod' (sources: none)"),
        "{}",
        text(&o)
    );
    let profile = write(
        dir.path(),
        "p.toml",
        "[target]\nurl = \"http://127.0.0.1:9/\"\n[load]\nrate = 10\nduration = \"1s\"\n[find]\nslo = [\"probe.viz.p95 < 2s\"]\n",
    );
    let o = rampdeck(&["check", &profile]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("p.toml:7:")
            && text(&o).contains("no [[stat]] or [[probe]] is named 'viz'"),
        "{}",
        text(&o)
    );
}
