//! The run log: a real run written to run.jsonl and latency.hlog, read back to the same numbers
//! as its summary; a killed run's truncated log; a log from a newer rampdeck.

mod support;

use std::process::Command;

use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};
use hdrhistogram::serialization::Deserializer;
use hdrhistogram::Histogram;
use rampdeck::run::log::{read, RunLogError};

/// One headless run of 2 s at 200/s against a 2 ms route, logged into a temp dir.
fn logged_run() -> tempfile::TempDir {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let server = rt.block_on(support::demo(vec![
        support::fixed("/", 2),
        support::failing("/x", 503),
    ]));
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_rampdeck"))
        .args([
            "run",
            &format!("http://{}/", server.addrs.gateway),
            "--rate",
            "200",
            "--duration",
            "2s",
            "--headless",
            "--out",
        ])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    dir
}

#[test]
fn the_log_reads_back_to_the_summary_numbers() {
    let dir = logged_run();
    let log = read(dir.path()).unwrap();
    assert!(!log.truncated);
    assert_eq!(log.header["schema"], 1);
    assert!(log.header["environment"]["cores"].as_u64().unwrap() >= 1);
    assert!(log.header["environment"]["started_at"]
        .as_str()
        .unwrap()
        .ends_with('Z'));
    let summary: serde_json::Value = support::summary(dir.path());
    assert_eq!(
        log.summary.as_ref().unwrap()["requests"],
        summary["requests"],
        "the last line is the summary"
    );
    assert!(summary["environment"]["rampdeck"].is_string());

    // Merging the intervals' histograms gives exactly the summary's percentiles.
    let mut merged = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).unwrap();
    let mut service = merged.clone();
    for i in &log.intervals {
        assert_eq!(i.line["warmup"], false);
        if i.line["ok"].as_u64().unwrap_or(0) > 0 {
            assert!(i.line["hdr"].is_string(), "corrected histogram");
        }
        merged.add(&i.histograms.latency).unwrap();
        service.add(&i.histograms.service).unwrap();
    }
    assert_eq!(merged.len(), summary["requests"].as_u64().unwrap());
    assert_eq!(merged.len(), 400);
    let ms = |h: &Histogram<u64>, q: f64| h.value_at_quantile(q) as f64 / 1000.0;
    assert_eq!(
        ms(&merged, 0.99),
        summary["latency_ms"]["p99"].as_f64().unwrap()
    );
    assert_eq!(
        ms(&merged, 0.5),
        summary["latency_ms"]["p50"].as_f64().unwrap()
    );
    assert_eq!(
        merged.max() as f64 / 1000.0,
        summary["latency_ms"]["max"].as_f64().unwrap()
    );
    assert_eq!(
        ms(&service, 0.99),
        summary["service_time_ms"]["p99"].as_f64().unwrap()
    );
    assert!(log
        .events
        .iter()
        .any(|e| e.kind == rampdeck::engine::event::EventKind::Started));
    // One clock: events are on the run clock everywhere; wall time is
    // beside them in the run log only.
    assert!(
        log.events.iter().all(|e| e.wall.is_some()),
        "{:?}",
        log.events
    );
    let events = summary["events"].as_array().unwrap();
    assert!(!events.is_empty());
    assert!(
        events.iter().all(|e| e.get("wall_s").is_none()),
        "{events:?}"
    );
}

#[test]
fn the_hlog_is_read_by_hdrhistograms_interval_log_reader() {
    let dir = logged_run();
    let text = std::fs::read(dir.path().join("latency.hlog")).unwrap();
    assert!(String::from_utf8_lossy(&text).contains("#[StartTime: "));
    let mut total = 0;
    let mut intervals = 0;
    for entry in IntervalLogIterator::new(&text) {
        if let LogEntry::Interval(h) = entry.expect("a valid hlog line") {
            if h.tag().map(|t| t.as_str()) == Some("corrected") {
                let bytes = base64::Engine::decode(
                    &base64::engine::general_purpose::STANDARD,
                    h.encoded_histogram(),
                )
                .unwrap();
                let hist: Histogram<u64> = Deserializer::new()
                    .deserialize(&mut std::io::Cursor::new(bytes))
                    .unwrap();
                total += hist.len();
                intervals += 1;
                assert!(h.duration().as_secs_f64() > 0.0);
            }
        }
    }
    assert!(intervals >= 8, "{intervals}");
    assert_eq!(total, 400);
}

#[test]
fn a_killed_runs_truncated_log_reads_up_to_the_cut() {
    let dir = logged_run();
    let path = dir.path().join("run.jsonl");
    let text = std::fs::read_to_string(&path).unwrap();
    let full = read(&path).unwrap();
    // Cut the file in the middle of its last interval line, as a kill would.
    let lines: Vec<&str> = text.lines().collect();
    let keep = lines.len() - 3;
    let mut cut: String = lines[..keep].iter().map(|l| format!("{l}\n")).collect();
    cut.push_str(&lines[keep][..lines[keep].len() / 2]);
    std::fs::write(&path, cut).unwrap();
    let partial = read(&path).unwrap();
    assert!(partial.truncated);
    assert!(partial.summary.is_none());
    assert!(!partial.intervals.is_empty() && partial.intervals.len() < full.intervals.len());

    // A broken line that is not the last is an error naming it.
    std::fs::write(&path, format!("{}\n{{broken\n{}\n", lines[0], lines[1])).unwrap();
    let err = read(&path).unwrap_err().to_string();
    assert!(err.contains("run.jsonl:2: not a run log line"), "{err}");
}

#[test]
fn a_newer_schema_is_refused_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("run.jsonl");
    std::fs::write(&path, "{\"type\":\"header\",\"schema\":7}\n").unwrap();
    let err = read(&path).unwrap_err();
    assert!(matches!(err, RunLogError::NewerSchema { found: 7, .. }));
    assert!(
        err.to_string()
            .contains("written by a newer rampdeck (schema 7; this one reads up to 1)"),
        "{err}"
    );
}

#[test]
fn reports_render_with_their_charts_in_every_format() {
    let dir = logged_run();
    let report = |format: &str| {
        let o = Command::new(env!("CARGO_BIN_EXE_rampdeck"))
            .args(["report", dir.path().to_str().unwrap(), "--format", format])
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "{format}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    };
    report("md");
    let md = std::fs::read_to_string(dir.path().join("report.md")).unwrap();
    assert!(
        md.contains("![Throughput](throughput.svg)")
            && md.contains("![Latency (corrected, per interval)](latency.svg)"),
        "{md}"
    );
    assert!(
        md.contains("| requests | 400 |")
            && md.contains("### Latency (ms)")
            && md.contains("| 200 | 400 |"),
        "{md}"
    );
    for svg in ["throughput.svg", "latency.svg"] {
        let text = std::fs::read_to_string(dir.path().join(svg)).unwrap();
        assert!(
            text.contains("<svg") && text.contains("seconds since start"),
            "{svg}"
        );
    }
    assert!(
        !dir.path().join("cpu.svg").exists(),
        "no control plane in this run, so no CPU chart"
    );

    report("html");
    let html = std::fs::read_to_string(dir.path().join("report.html")).unwrap();
    assert!(html.matches("<svg").count() >= 2, "charts inline");
    assert!(
        html.contains("<table>") && html.contains("<td>requests</td><td>400</td>"),
        "tables"
    );
    for external in ["<script", "<link", " src=", "href=\"http"] {
        assert!(!html.contains(external), "self-contained: found {external}");
    }

    report("json");
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("report.json")).unwrap()).unwrap();
    assert_eq!(json["summary"]["requests"], 400);
    assert!(json["series"]["ok_rps"].as_array().unwrap().len() >= 8);

    // A directory that is not a run is bad input.
    let o = Command::new(env!("CARGO_BIN_EXE_rampdeck"))
        .args(["report", "/tmp"])
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn a_replay_ends_with_the_summary_numbers_and_steps_both_ways() {
    use rampdeck::run::replay::{Recording, Replay};
    use std::time::Duration;
    let dir = logged_run();
    let summary: serde_json::Value = support::summary(dir.path());
    let mut r = Replay::new(Recording::load(dir.path()).unwrap());
    assert_eq!(r.recording.plan.name, summary["profile"].as_str().unwrap());
    assert_eq!(r.model.totals.requests, 0);

    // Played to the end: the same totals the run reported.
    r.seek(r.recording.duration);
    let t = &r.model.totals;
    assert_eq!(t.requests, summary["requests"].as_u64().unwrap());
    assert_eq!(t.ok, summary["ok"].as_u64().unwrap());
    assert_eq!(
        t.latency.p50,
        summary["latency_ms"]["p50"].as_f64().unwrap()
    );
    assert_eq!(
        t.latency.p99,
        summary["latency_ms"]["p99"].as_f64().unwrap()
    );
    assert_eq!(
        t.latency.max,
        summary["latency_ms"]["max"].as_f64().unwrap()
    );
    assert_eq!(
        t.service.p99,
        summary["service_time_ms"]["p99"].as_f64().unwrap()
    );
    assert!(!r.playing, "playback stops at the end");

    // Back one interval, then from the start: totals shrink, the model is rebuilt.
    let shown = r.model.series.len();
    r.step(false);
    assert_eq!(r.model.series.len(), shown - 1, "one interval back");
    for _ in 0..3 {
        r.step(false);
    }
    assert!(r.model.totals.requests < t_requests(&summary));
    r.seek(Duration::ZERO);
    assert_eq!(r.model.totals.requests, 0);
    r.step(true);
    let first = r.position;
    assert!(
        first > Duration::ZERO && r.model.series.len() == 1,
        "one interval in"
    );

    // The stage is stamped when it began (at 0), not when an interval
    // was flushed; the next event after the first interval is the end.
    assert!(
        r.model
            .events
            .iter()
            .any(|e| e.message.contains("stage 1/1") && e.at == Duration::ZERO),
        "{:?}",
        r.model.events
    );
    let msg = r.next_event().expect("an event");
    assert!(msg.contains("schedule complete"), "{msg}");
    // Speed goes 1 -> 16 and no further; playing advances by wall time x speed.
    for _ in 0..6 {
        r.faster(true);
    }
    assert_eq!(r.speed, 16);
    r.seek(Duration::ZERO);
    r.playing = true;
    r.advance(Duration::from_millis(100));
    assert_eq!(r.position, Duration::from_millis(1600));
}

fn t_requests(summary: &serde_json::Value) -> u64 {
    summary["requests"].as_u64().unwrap()
}

/// The kinds of event lines in a run log.
fn event_kinds(dir: &std::path::Path) -> std::collections::BTreeSet<String> {
    std::fs::read_to_string(dir.join("run.jsonl"))
        .unwrap()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["type"] == "event")
        .filter_map(|v| v["event"].as_str().map(str::to_owned))
        .collect()
}

#[test]
fn a_console_run_and_a_headless_run_log_the_same_event_kinds() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let server = support::demo(vec![support::failing("/", 503)]).await;
        // A breached threshold and a route action's drop report: what the
        // console path used to leave out of its log.
        let plan = support::plan(
            server.addrs.gateway,
            "timeout = \"1s\"\n[load]\nrate = 50\nduration = \"2s\"\n[thresholds]\nsuccess_rate = \"> 99\"\n\
             [[route_action]]\nname = \"flip\"\nkind = \"command\"\ncommand = [\"true\"]\nat = \"500ms\"\n",
        );
        let dir = tempfile::tempdir().unwrap();
        let (console, headless) = (dir.path().join("console"), dir.path().join("headless"));
        // The console's path: the session with the log pane's view.
        let mut s = rampdeck::session::RunSession::start(plan.clone(), Some(&console))
            .await
            .unwrap();
        let mut view = rampdeck::ui::console::LogPane;
        s.drive(&mut view).await;
        s.finish(&mut view).await.unwrap();
        rampdeck::headless::run(
            plan,
            &rampdeck::headless::Options {
                out: Some(headless.clone()),
                ..Default::default()
            },
            rampdeck::signals::StopSignals::new(),
        )
        .await
        .unwrap();
        let (a, b) = (event_kinds(&console), event_kinds(&headless));
        assert_eq!(a, b);
        for kind in ["threshold_breached", "route_drops", "stage", "finished"] {
            assert!(a.contains(kind), "{kind} missing from {a:?}");
        }
    });
}

#[test]
fn a_report_leads_with_the_verdict_and_plots_latency_by_percentile() {
    let dir = logged_run();
    let o = Command::new(env!("CARGO_BIN_EXE_rampdeck"))
        .args(["report", dir.path().to_str().unwrap()])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let md = std::fs::read_to_string(dir.path().join("report.md")).unwrap();
    let verdict = md.find("## No thresholds set").expect("a verdict");
    let headline = md
        .find("| achieved rate (req/s) |")
        .expect("headline numbers");
    let first_chart = md.find("![").expect("charts");
    assert!(verdict < headline && headline < first_chart, "{md}");
    assert!(md.contains("![Latency by percentile"), "{md}");
    let svg = std::fs::read_to_string(dir.path().join("percentiles.svg")).unwrap();
    assert!(
        svg.contains("99%") && svg.contains("99.9%"),
        "the 1/(1-p) axis labels"
    );
}
