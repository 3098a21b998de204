//! Delivery verification end to end: the binary publishes through the demo relay to its own sink, and every event is accounted for (delivered, lost, duplicated, unknown, pending).

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const EXE: &str = env!("CARGO_BIN_EXE_rampdeck");

/// A profile publishing at `rate` for `secs` through a relay route with `relay`, and `delivery` extra lines.
fn profile(rate: u32, secs: u32, relay: &str, delivery: &str) -> String {
    format!(
        r#"
[target]
timeout = "2s"

[[request]]
name = "publish"
method = "POST"
path = "/events"
headers = {{ "content-type" = "application/json", "x-event-id" = "{{{{delivery.id}}}}", "x-relay-to" = "{{{{delivery.url}}}}" }}
body = '{{"id": "{{{{delivery.id}}}}"}}'

[load]
rate = {rate}
duration = "{secs}s"
max_connections = 32

[delivery]
id = "evt-{{{{seq}}}}-{{{{uuid}}}}"
{delivery}

[demo]

[[demo.route]]
prefix = "/events"
relay = {{ {relay} }}
"#
    )
}

fn write(dir: &Path, text: &str) -> String {
    let p = dir.join("delivery.toml");
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

fn run(dir: &Path, text: &str) -> (Output, serde_json::Value) {
    let path = write(dir, text);
    let out = dir.join("out");
    let o = Command::new(EXE)
        .args(["run", &path, "--headless", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    let summary = std::fs::read_to_string(out.join("summary.json"))
        .unwrap_or_else(|e| panic!("{e}\n{}", String::from_utf8_lossy(&o.stderr)));
    (o, serde_json::from_str(&summary).unwrap())
}

fn n(v: &serde_json::Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a count: {v}"))
}

#[test]
fn lost_and_duplicated_events_are_counted_within_binomial_bounds() {
    let dir = tempfile::tempdir().unwrap();
    // 3,000 events, 1% lost and 0.5% duplicated by the relay, 40 ms late.
    let (o, s) = run(
        dir.path(),
        &profile(
            1000,
            3,
            r#"delay = "40ms", loss = 0.01, duplicate = 0.005"#,
            r#"deadline = "1s""#,
        ),
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let d = &s["delivery"];
    let published = n(&d["published"]);
    assert_eq!(
        published,
        n(&s["requests"]),
        "every accepted publish is an event"
    );
    assert!((2990..=3010).contains(&published), "{published}");
    let (delivered, lost) = (n(&d["delivered"]), n(&d["lost"]));
    // Binomial(3000, 1%): mean 30, sd 5.4; (2970, 0.5%): mean 15, sd 3.8.
    assert!((10..=55).contains(&lost), "lost {lost}");
    assert!((3..=32).contains(&n(&d["duplicates"])), "{d}");
    assert_eq!(
        delivered + lost,
        published,
        "every event delivered or lost: {d}"
    );
    assert_eq!(n(&d["pending"]), 0, "the run waited out the deadline: {d}");
    assert_eq!(n(&d["unknown"]), 0);
    let p50 = d["latency_ms"]["p50"].as_f64().unwrap();
    assert!(
        (40.0..55.0).contains(&p50),
        "end to end p50 {p50} ms, the relay waits 40"
    );
    // A lost event is only known after its deadline.
    let first_lost = s["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| {
            e["message"]
                .as_str()
                .unwrap_or("")
                .starts_with("first lost events")
        })
        .unwrap_or_else(|| panic!("no first-lost event"));
    assert!(first_lost["at_s"].as_f64().unwrap() >= 1.0, "{first_lost}");
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("Delivery     "), "{text}");
}

#[test]
fn a_sink_refusing_some_deliveries_sees_the_retries_as_duplicates_not_losses() {
    let dir = tempfile::tempdir().unwrap();
    let (o, s) = run(
        dir.path(),
        &profile(
            500,
            3,
            r#"delay = "10ms", retries = 5, retry_after = "30ms""#,
            "deadline = \"2s\"\n[delivery.respond]\nfailure_rate = 0.1\nfailure_status = 500",
        ),
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let d = &s["delivery"];
    let published = n(&d["published"]);
    assert_eq!(n(&d["lost"]), 0, "retried until accepted: {d}");
    assert_eq!(n(&d["delivered"]), published, "{d}");
    // Each refused copy is one copy too many: about 1/9 of the events.
    let dups = n(&d["duplicates"]);
    let expected = published as f64 * 0.1 / 0.9;
    assert!(
        (dups as f64 - expected).abs() < 5.0 * expected.sqrt() + 3.0,
        "{dups} duplicates, about {expected:.0} expected"
    );
    // The retried ones wait for it: the tail moves past the retry delay.
    let p99 = d["latency_ms"]["p99"].as_f64().unwrap();
    assert!(p99 >= 40.0, "end to end p99 {p99} ms");
}

#[test]
fn sigterm_mid_run_reports_events_in_transit_as_pending() {
    let dir = tempfile::tempdir().unwrap();
    // The relay holds every event 3 s; the run is stopped after 1.5 s.
    let path = write(
        dir.path(),
        &profile(200, 10, r#"delay = "3s""#, r#"deadline = "20s""#),
    );
    let out = dir.path().join("out");
    let child = Command::new(EXE)
        .args(["run", &path, "--headless", "--out"])
        .arg(&out)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    let pid = rustix::process::Pid::from_child(&child);
    let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
    let started = Instant::now();
    let o = child.wait_with_output().unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(6),
        "did not wait out the deadline"
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    let d = &s["delivery"];
    assert!(n(&d["published"]) > 100, "{d}");
    assert_eq!(n(&d["pending"]), n(&d["published"]), "all in transit: {d}");
    assert_eq!(n(&d["lost"]), 0, "pending is not lost: {d}");
    assert_eq!(n(&d["delivered"]), 0);
}

#[test]
fn arrivals_with_ids_never_published_are_unknown() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        &profile(50, 3, r#"delay = "10ms""#, r#"deadline = "1s""#),
    );
    let out = dir.path().join("out");
    let mut child = Command::new(EXE)
        .args(["run", &path, "--headless", "--out"])
        .arg(&out)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The sink's address is the first thing the run prints.
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut sink = None;
    let mut line = String::new();
    while stderr.read_line(&mut line).unwrap_or(0) > 0 {
        if let Some(rest) = line.trim().strip_prefix("delivery sink: http://") {
            sink = rest.split_whitespace().next().map(str::to_owned);
            break;
        }
        line.clear();
    }
    let sink = sink.expect("the sink's address");
    for i in 0..5 {
        let mut c = std::net::TcpStream::connect(&sink).unwrap();
        write!(
            c,
            "POST / HTTP/1.1\r\nhost: {sink}\r\nx-event-id: never-{i}\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{{}}"
        )
        .unwrap();
        let mut answer = String::new();
        let _ = std::io::Read::read_to_string(&mut c, &mut answer);
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    }
    // Drain stderr so the run never blocks on it.
    std::thread::spawn(move || for _ in stderr.lines() {});
    assert!(child.wait().unwrap().success());
    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    let d = &s["delivery"];
    assert_eq!(n(&d["unknown"]), 5, "{d}");
    assert_eq!(n(&d["delivered"]), n(&d["published"]), "{d}");
}

#[test]
fn bad_delivery_tables_are_refused_with_where_and_what() {
    let dir = tempfile::tempdir().unwrap();
    let base = profile(10, 1, r#"delay = "10ms""#, "");
    let cases: [(&str, &str, &str); 7] = [
        (
            "[delivery]\n",
            "[delivery]\nid_header = \"x-id\"\nid_pointer = \"/id\"\n",
            "delivery: give id_header or id_pointer, not both",
        ),
        (
            "[delivery]\n",
            "[delivery]\ndeadline = \"0s\"\n",
            "delivery.deadline: must be longer than 0",
        ),
        (
            "[delivery]\n",
            "[delivery]\nexpect_copies = 0\n",
            "delivery.expect_copies: must be from 1 to 1000, got 0",
        ),
        (
            "[delivery]\n",
            "[delivery]\nid_pointer = \"data/id\"\n",
            "delivery.id_pointer: 'data/id' is not a JSON pointer",
        ),
        (
            "[delivery]\n",
            "[delivery]\nlisten = \"everywhere\"\n",
            "delivery.listen: 'everywhere' is not an address",
        ),
        (
            "[delivery]\n",
            "[delivery]\nid = \"fixed\"\n",
            "delivery.id: 'fixed' has no placeholder",
        ),
        (
            "\"x-event-id\" = \"{{delivery.id}}\", ",
            "",
            "[delivery]: no [[request]] carries {{delivery.id}}",
        ),
    ];
    for (from, to, message) in cases {
        let text = base.replacen("id = \"evt-{{seq}}-{{uuid}}\"\n", "", 1);
        let text = text.replacen(from, to, 1);
        // The body carries the id too: drop it where the case removes the header.
        let text = if to.is_empty() {
            text.replace(r#"body = '{"id": "{{delivery.id}}"}'"#, "")
        } else {
            text
        };
        let path = write(dir.path(), &text);
        let o = Command::new(EXE).args(["check", &path]).output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{message}: {err}");
        assert!(err.contains(message), "wanted '{message}' in: {err}");
        assert!(
            err.contains("delivery.toml:"),
            "names the file and line: {err}"
        );
    }
    // Placeholders and thresholds of delivery need the table.
    let cases = [
        (
            base.replacen("[delivery]\nid = \"evt-{{seq}}-{{uuid}}\"\n", "", 1),
            "delivery.id needs a [delivery] table",
        ),
        (
            "[target]\nurl = \"http://127.0.0.1:9\"\n[load]\nrate = 1\nduration = \"1s\"\n[thresholds]\nlost = \"<= 0\"\n".to_owned(),
            "thresholds.lost: judges delivery, and this profile has no [delivery] table",
        ),
    ];
    for (text, message) in cases {
        let path = write(dir.path(), &text);
        let o = Command::new(EXE).args(["check", &path]).output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{err}");
        assert!(err.contains(message), "wanted '{message}' in: {err}");
    }
}

#[test]
fn a_capacity_search_refuses_delivery_slos() {
    let o = Command::new(EXE)
        .args(["find", "http://127.0.0.1:9/", "--slo", "lost <= 0"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("'lost <= 0' judges delivery, which a capacity search's steps do not measure"),
        "{err}"
    );
}

/// Runs `rampdeck run PATH --headless` and returns its exit status and its
/// peak RSS (KiB) as /proc last showed it.
fn run_measured(path: &str) -> (std::process::ExitStatus, u64) {
    let mut child = Command::new(EXE)
        .args(["run", path, "--headless"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut peak = 0;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return (status, peak);
        }
        let hwm = std::fs::read_to_string(format!("/proc/{}/status", child.id()))
            .unwrap_or_default()
            .lines()
            .find(|l| l.starts_with("VmHWM:"))
            .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
            .unwrap_or(0);
        peak = peak.max(hwm);
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

#[test]
fn a_deadline_too_long_for_the_rate_is_refused_and_a_long_one_allocates_little() {
    let dir = tempfile::tempdir().unwrap();
    // 366 days at 5 events/s: room for 395 million, past the cap.
    let path = write(
        dir.path(),
        &profile(5, 1, r#"delay = "1ms""#, r#"deadline = "366d""#),
    );
    let o = Command::new(EXE).args(["check", &path]).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("needs room for 395,280,013 events")
            && err.contains("(50,000,000)")
            && err.contains("delivery.toml:"),
        "{err}"
    );
    // 30 days at 5/s is within the cap (32 million): the table grows with
    // what is in flight instead of preallocating ~1.4 GB for it.
    let path = write(
        dir.path(),
        &profile(5, 2, r#"delay = "1ms""#, r#"deadline = "30d""#),
    );
    let (status, rss) = run_measured(&path);
    assert!(status.success(), "{status}");
    assert!(rss > 0 && rss < 300 * 1024, "peak RSS {rss} KiB");
}
