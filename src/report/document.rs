//! `rampdeck report DIR`: the run's charts (SVG) and summary tables as Markdown, HTML or JSON.
//!
//! The charts come from the run log (`run.jsonl`), the tables from the
//! summary. HTML is one self-contained file with the SVGs inline; Markdown
//! writes the SVGs beside it and links them; JSON carries the series.

use std::fmt::Write;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use super::plot::{self, Line};
use super::series::{ComponentSeries, Series, CONNECTION_RATES};
use crate::engine::event::Event;
use crate::run::log;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Md,
    Json,
    Html,
}

#[derive(Debug, thiserror::Error)]
pub enum DocumentError {
    #[error(transparent)]
    Log(#[from] log::RunLogError),
    #[error("{0}: the run log has no summary line, there is no summary.json, and none can be rebuilt: {1}")]
    NoSummary(PathBuf, String),
    #[error("cannot draw '{0}'")]
    Plot(String),
    #[error("cannot write '{path}': {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Events worth a marker, as the console marks them.
/// The labelled chart marks (`run::event::chart_marks`); the report has no
/// axis ticks: the events table lists the rest.
fn markers(events: &[Event]) -> Vec<(f64, String)> {
    crate::engine::event::chart_marks(events)
        .into_iter()
        .filter_map(|m| Some((m.at, m.label?)))
        .collect()
}

/// (file name, title, svg) of each chart the run has data for.
fn charts(
    s: &Series,
    events: &[Event],
    hist: &crate::stats::Histograms,
) -> Result<Vec<(String, String, String)>, DocumentError> {
    let m = markers(events);
    let mut out = Vec::new();
    let dist = [
        ("corrected", plot::BLUE_, &hist.latency),
        ("service time", plot::GREEN_, &hist.service),
    ]
    .into_iter()
    .map(|(label, color, h)| Line {
        label,
        color,
        points: plot::percentile_points(h),
    })
    .collect::<Vec<_>>();
    if dist.iter().any(|l| !l.points.is_empty()) {
        let title = "Latency by percentile (successes, whole run)";
        let svg = plot::percentile_chart(title, &dist).map_err(DocumentError::Plot)?;
        out.push(("percentiles.svg".to_owned(), title.to_owned(), svg));
    }
    let mut add =
        |file: &str, title: &str, y: &str, lines: Vec<Line>| -> Result<(), DocumentError> {
            if lines.iter().any(|l| !l.points.is_empty()) {
                // Only the throughput chart shows where the agents fell short.
                let shade: &[(f64, f64)] = if file == "throughput.svg" {
                    &s.under_supplied
                } else {
                    &[]
                };
                let svg = plot::shaded_line_chart(title, y, &lines, &m, shade)
                    .map_err(DocumentError::Plot)?;
                out.push((file.to_owned(), title.to_owned(), svg));
            }
            Ok(())
        };
    // A connections run sends no requests: its own charts instead.
    let requests = s.established.is_empty();
    if !requests {
        connection_charts(s, &mut add)?;
    }
    if requests {
        add(
            "throughput.svg",
            if s.under_supplied.is_empty() {
                "Throughput"
            } else {
                "Throughput (yellow: the agents sent less than the schedule)"
            },
            "requests per second",
            vec![
                Line {
                    label: "target",
                    color: plot::GREY_,
                    points: s.target.clone(),
                },
                Line {
                    label: "ok",
                    color: plot::GREEN_,
                    points: s.ok_rps.clone(),
                },
                Line {
                    label: "errors",
                    color: plot::RED_,
                    points: s.error_rps.clone(),
                },
            ],
        )?;
        let names = ["p50", "p90", "p99", "p99.9"];
        add(
            "latency.svg",
            "Latency (corrected, per interval)",
            "milliseconds",
            names
                .iter()
                .zip(&s.latency)
                .zip(plot::PALETTE)
                .map(|((n, p), c)| Line {
                    label: n,
                    color: c,
                    points: p.clone(),
                })
                .collect(),
        )?;
    }
    let per_component = |get: fn(&ComponentSeries) -> &Vec<(f64, f64)>| -> Vec<Line> {
        s.components
            .iter()
            .zip(plot::PALETTE.iter().cycle())
            .map(|(c, &color)| Line {
                label: &c.name,
                color,
                points: get(c).clone(),
            })
            .collect()
    };
    add(
        "cpu.svg",
        "Control plane CPU",
        "cores",
        per_component(|c| &c.cpu),
    )?;
    add(
        "memory.svg",
        "Control plane memory",
        "MiB",
        per_component(|c| &c.memory_mib),
    )?;
    let probes: Vec<Line> = s
        .probes
        .iter()
        .zip(plot::PALETTE.iter().cycle())
        .map(|(p, &color)| Line {
            label: &p.0,
            color,
            points: p.1.clone(),
        })
        .collect();
    add(
        "probes.svg",
        "Stat commands and probes",
        "milliseconds per run",
        probes,
    )?;
    let rates = ["published", "delivered", "lost", "duplicates"];
    let colors = [plot::GREY_, plot::GREEN_, plot::RED_, plot::PALETTE[2]];
    add(
        "delivery.svg",
        "Delivery (events per second at the sink)",
        "events per second",
        rates
            .iter()
            .zip(&s.delivery_rates)
            .zip(colors)
            .map(|((n, p), color)| Line {
                label: n,
                color,
                points: p.clone(),
            })
            .collect(),
    )?;
    add(
        "delivery_latency.svg",
        "End-to-end latency (publish sent to delivery arrived, per interval)",
        "milliseconds",
        ["p50", "p99"]
            .iter()
            .zip(&s.delivery_latency)
            .zip(plot::PALETTE)
            .map(|((n, p), color)| Line {
                label: n,
                color,
                points: p.clone(),
            })
            .collect(),
    )?;
    Ok(out)
}

fn num(v: &Value) -> String {
    if let Some(b) = v.as_bool() {
        return if b { "yes" } else { "no" }.to_owned();
    }
    match v.as_f64() {
        Some(x) if x.fract() == 0.0 && x.abs() < 1e15 => format!("{}", x as i64),
        Some(x) => format!("{x:.3}"),
        None => v.as_str().map_or_else(|| "-".to_owned(), str::to_owned),
    }
}

/// A threshold's value in its unit: bytes as KiB/MiB/GiB, others with the unit after.
fn with_unit(v: &Value, unit: &Value) -> String {
    match (v.as_f64(), unit.as_str()) {
        (None, _) => "no data".to_owned(),
        (Some(x), Some("bytes")) => rampdeck_base::fmt::bytes(x),
        (Some(_), Some(u)) if !u.is_empty() => format!("{} {u}", num(v)),
        _ => num(v),
    }
}

/// What a reader needs first: pass or fail, the thresholds, and the
/// headline numbers (rate, success, p50/p99 corrected and service time).
fn verdict(s: &Value) -> String {
    let mut md = String::new();
    let ts = s["thresholds"].as_array().cloned().unwrap_or_default();
    let failed = ts
        .iter()
        .filter(|t| t["pass"].as_bool() != Some(true))
        .count();
    let _ = writeln!(
        md,
        "## {}\n",
        match (ts.len(), failed) {
            (0, _) => "No thresholds set".to_owned(),
            (n, 0) => format!("PASS: all {n} thresholds held"),
            (n, f) => format!("FAIL: {f} of {n} thresholds failed"),
        }
    );
    if let Some(why) = s["aborted"].as_str() {
        let _ = writeln!(
            md,
            "**The run could not go on:** {}\n",
            why.replace('|', "\\|")
        );
    }
    let c = &s["connections"];
    if c.is_object() {
        // A connections run: what was held and how connections ended.
        let _ = writeln!(
            md,
            "| held at most | opened | failed to open | closed by the server | reset | connect p99 (ms) | echo p99 (ms) |\n|---|---|---|---|---|---|---|\n| {} | {} | {} | {} | {} | {} | {} |",
            num(&c["peak"]),
            num(&c["opened"]),
            num(&c["failed"]),
            num(&c["server_closed"]),
            num(&c["resets"]),
            num(&c["tcp_ms"]["p99"]),
            num(&c["rtt_ms"]["p99"]),
        );
        return md;
    }
    let ms = |k: &str, p: &str| num(&s[k][p]);
    let _ = writeln!(
        md,
        "| achieved rate (req/s) | success (%) | p50 (ms) | p99 (ms) | service p50 (ms) | service p99 (ms) |\n|---|---|---|---|---|---|\n| {} | {} | {} | {} | {} | {} |",
        num(&s["rps"]),
        num(&s["success_rate"]),
        ms("latency_ms", "p50"),
        ms("latency_ms", "p99"),
        ms("service_time_ms", "p50"),
        ms("service_time_ms", "p99"),
    );
    if let Some(ts) = s["thresholds"].as_array().filter(|t| !t.is_empty()) {
        let _ = writeln!(
            md,
            "\n### Thresholds\n\n| threshold | actual | limit | result |\n|---|---|---|---|"
        );
        for t in ts {
            let result = if t["pass"].as_bool() == Some(true) {
                "pass"
            } else {
                "**FAIL**"
            };
            let _ = writeln!(
                md,
                "| {} {} | {} | {} | {result} |",
                num(&t["name"]),
                num(&t["expr"]).replace('<', "&lt;").replace('>', "&gt;"),
                with_unit(&t["actual"], &t["unit"]),
                with_unit(&t["limit"], &t["unit"])
            );
        }
    }
    md
}

/// The summary as Markdown tables (also used, converted, by the HTML report).
fn tables(s: &Value) -> String {
    let mut md = String::new();
    if let Some(why) = s["incomplete"].as_str() {
        let _ = writeln!(md, "**Incomplete:** {}\n", why.replace('|', "\\|"));
    }
    let _ = writeln!(md, "| | |\n|---|---|");
    let held = s["connections"].is_object();
    for (k, label) in [
        ("profile", "profile"),
        ("target", "target"),
        ("mode", "mode"),
        ("started_at", "started"),
        ("duration_s", "measured (s)"),
        ("requests", "requests"),
        ("rps", "requests/s"),
        ("success_rate", "success (%)"),
        ("not_sent", "not sent (never left)"),
        ("generator_limited_s", "generator-limited (s)"),
        ("thresholds_passed", "thresholds passed"),
    ] {
        let about_requests = matches!(
            k,
            "requests" | "rps" | "success_rate" | "not_sent" | "thresholds_passed"
        );
        if held && about_requests {
            continue;
        }
        let _ = writeln!(md, "| {label} | {} |", num(&s[k]).replace('|', "\\|"));
    }
    if held {
        connections(&mut md, &s["connections"]);
    }
    if !held {
        let _ = writeln!(md, "\n### Latency (ms)\n\n| | p50 | p90 | p95 | p99 | p99.9 | max | mean |\n|---|---|---|---|---|---|---|---|");
        for (k, label) in [
            ("latency_ms", "corrected"),
            ("service_time_ms", "service time"),
        ] {
            let _ = writeln!(md, "{}", percentile_row(label, &s[k]));
        }
        super::epochs::table(&mut md, s);
    }
    let map_table = |md: &mut String, title: &str, key: &str, head: &str| {
        if let Some(m) = s[key].as_object().filter(|m| !m.is_empty()) {
            let _ = writeln!(md, "\n### {title}\n\n| {head} | count |\n|---|---|");
            for (k, v) in m {
                let _ = writeln!(md, "| {k} | {} |", num(v));
            }
        }
    };
    map_table(&mut md, "Status codes", "status_codes", "status");
    map_table(&mut md, "Errors", "errors", "kind");
    if let Some(cs) = s["components"].as_array().filter(|c| !c.is_empty()) {
        let _ = writeln!(md, "\n### Control plane\n\n| component | cpu avg (cores) | cpu max (cores) | memory max (MiB) | samples |\n|---|---|---|---|---|");
        for c in cs {
            let mib = c["memory_max_bytes"]
                .as_f64()
                .map_or_else(|| "-".into(), |b| format!("{:.1}", b / 1048576.0));
            let _ = writeln!(
                md,
                "| {} | {} | {} | {mib} | {} |",
                num(&c["name"]),
                num(&c["cpu_avg_cores"]),
                num(&c["cpu_max_cores"]),
                num(&c["samples"])
            );
        }
    }
    if let Some(ps) = s["probes"].as_array().filter(|p| !p.is_empty()) {
        let _ = writeln!(md, "\n### Stat commands and probes (ms)\n\n| probe | runs | p50 | p95 | p99 | max | failed | timeouts |\n|---|---|---|---|---|---|---|---|");
        for p in ps {
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} | {} | {} | {} |",
                num(&p["name"]),
                num(&p["runs"]),
                num(&p["p50_ms"]),
                num(&p["p95_ms"]),
                num(&p["p99_ms"]),
                num(&p["max_ms"]),
                num(&p["failures"]),
                num(&p["timeouts"])
            );
        }
    }
    if let Some(rs) = s["route_actions"].as_array().filter(|r| !r.is_empty()) {
        route_actions(&mut md, rs);
    }
    if s["delivery"].is_object() {
        delivery(&mut md, &s["delivery"]);
    }
    if s["agents"].is_object() {
        agents(&mut md, &s["agents"]);
    }
    if let Some(es) = s["events"].as_array().filter(|e| !e.is_empty()) {
        let _ = writeln!(
            md,
            "\n### Events\n\n| time (s) | kind | event |\n|---|---|---|"
        );
        for e in es {
            let _ = writeln!(
                md,
                "| {:.1} | {} | {} |",
                e["at_s"].as_f64().unwrap_or(0.0),
                num(&e["type"]).replace('_', " "),
                num(&e["message"]).replace('|', "\\|")
            );
        }
    }
    md.push_str(&environment(&s["environment"]));
    md
}

type AddChart<'a> = dyn FnMut(&str, &str, &str, Vec<Line>) -> Result<(), DocumentError> + 'a;

/// A connections run's charts: held against the target, opens and ends
/// per second, echo round trips.
fn connection_charts(s: &Series, add: &mut AddChart<'_>) -> Result<(), DocumentError> {
    add(
        "connections.svg",
        "Connections held",
        "connections",
        vec![
            Line {
                label: "target",
                color: plot::GREY_,
                points: s.target.clone(),
            },
            Line {
                label: "established",
                color: plot::GREEN_,
                points: s.established.clone(),
            },
        ],
    )?;
    let colors = [
        plot::GREEN_,
        plot::GREY_,
        plot::PALETTE[2],
        plot::RED_,
        plot::PALETTE[4],
    ];
    add(
        "connection_events.svg",
        "Connections opened and ended",
        "per second",
        CONNECTION_RATES
            .iter()
            .zip(&s.connection_rates)
            .zip(colors)
            .map(|(((_, label), p), color)| Line {
                label,
                color,
                points: p.clone(),
            })
            .collect(),
    )?;
    add(
        "echo_rtt.svg",
        "Echo round trip (per interval)",
        "milliseconds",
        ["p50", "p99"]
            .iter()
            .zip(&s.echo_rtt)
            .zip(plot::PALETTE)
            .map(|((n, p), color)| Line {
                label: n,
                color,
                points: p.clone(),
            })
            .collect(),
    )
}

/// A connections run's numbers: held, opened, ended by cause, phases, echoes.
fn connections(md: &mut String, c: &Value) {
    let _ = write!(
        md,
        "\n### Connections\n\n| held at most | opened | failed to open | closed by rampdeck | closed by the server | reset | echoes | echoes failed |\n|---|---|---|---|---|---|---|---|\n| {} | {} | {} | {} | {} | {} | {} | {} |\n",
        num(&c["peak"]),
        num(&c["opened"]),
        num(&c["failed"]),
        num(&c["closed"]),
        num(&c["server_closed"]),
        num(&c["resets"]),
        num(&c["messages"]),
        num(&c["message_failures"]),
    );
    let _ = writeln!(
        md,
        "\n| time (ms) | p50 | p90 | p95 | p99 | p99.9 | max | mean |\n|---|---|---|---|---|---|---|---|"
    );
    for (key, label) in [
        ("tcp_ms", "TCP connect"),
        ("tls_ms", "TLS handshake"),
        ("ws_ms", "WebSocket upgrade"),
        ("rtt_ms", "echo round trip"),
        ("server_close_age_ms", "age when the server closed"),
        ("reset_age_ms", "age when reset"),
    ] {
        if c[key].is_object() {
            let _ = writeln!(md, "{}", percentile_row(label, &c[key]));
        }
    }
    for (title, key, head) in [
        ("Open failures", "failures", "kind"),
        ("WebSocket close codes", "close_codes", "code"),
    ] {
        if let Some(m) = c[key].as_object().filter(|m| !m.is_empty()) {
            let _ = writeln!(md, "\n### {title}\n\n| {head} | count |\n|---|---|");
            for (k, v) in m {
                let _ = writeln!(md, "| {k} | {} |", num(v));
            }
        }
    }
    if let Some(m) = c["first"].as_object().filter(|m| !m.is_empty()) {
        let _ = writeln!(md, "\n| first of its kind | message |\n|---|---|");
        for (k, v) in m {
            let _ = writeln!(md, "| {k} | {} |", num(v).replace('|', "\\|"));
        }
    }
}

/// Where it ran, as a table (runs, scenarios and searches alike).
pub(super) fn environment(env: &Value) -> String {
    let mut md = String::new();
    if env.is_object() {
        let _ = writeln!(md, "\n### Environment\n\n| | |\n|---|---|");
        for k in [
            "rampdeck",
            "git_commit",
            "hostname",
            "cpu_model",
            "cores",
            "kernel",
            "profile",
            "profile_sha256",
        ] {
            let _ = writeln!(md, "| {k} | {} |", num(&env[k]).replace('|', "\\|"));
        }
    }
    md
}

/// `[delivery]`: every event's account and the end-to-end latency.
fn delivery(md: &mut String, d: &Value) {
    let _ = write!(
        md,
        "\n### Delivery (sink {}, deadline {} s)\n\n| published | delivered | lost | pending | duplicates | unknown | late | out of order | delivered/s |\n|---|---|---|---|---|---|---|---|---|\n| {} | {} ({}) | {} | {} | {} | {} | {} | {} | {} |\n",
        escape(d["sink"].as_str().unwrap_or("?")),
        num(&d["deadline_s"]),
        num(&d["published"]),
        num(&d["delivered"]),
        d["delivered_pct"]
            .as_f64()
            .map_or_else(|| "-".to_owned(), |p| format!("{p:.2}%")),
        num(&d["lost"]),
        num(&d["pending"]),
        num(&d["duplicates"]),
        num(&d["unknown"]),
        num(&d["late"]),
        num(&d["out_of_order"]),
        num(&d["delivery_rate"]),
    );
    let _ = writeln!(
        md,
        "\n| end to end (ms) | p50 | p90 | p95 | p99 | p99.9 | max | mean |\n|---|---|---|---|---|---|---|---|\n{}",
        percentile_row("publish sent to delivery arrived", &d["latency_ms"])
    );
}

/// One row of a latency table: p50 to max and the mean.
fn percentile_row(label: &str, p: &Value) -> String {
    format!(
        "| {label} | {} | {} | {} | {} | {} | {} | {} |",
        num(&p["p50"]),
        num(&p["p90"]),
        num(&p["p95"]),
        num(&p["p99"]),
        num(&p["p999"]),
        num(&p["max"]),
        num(&p["mean"])
    )
}

/// A distributed run's agents: each one's totals, state, share and clock.
fn agents(md: &mut String, a: &Value) {
    let _ = writeln!(
        md,
        "\n### Agents ({}, under-supplied {:.1} s)\n\n| agent | where | state | sent | ok | failed | its p99 (ms) | clock offset (ms) | joined (s) | lost (s) |\n|---|---|---|---|---|---|---|---|---|---|",
        num(&a["kind"]),
        a["under_supplied_s"].as_f64().unwrap_or(0.0)
    );
    for r in a["agents"].as_array().map_or(&[][..], Vec::as_slice) {
        let opt = |k: &str, digits: usize| {
            r[k].as_f64()
                .map_or_else(|| "-".to_owned(), |v| format!("{v:.digits$}"))
        };
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {} | {} | {} ±{} | {} | {} |",
            num(&r["name"]).replace('|', "\\|"),
            num(&r["address"]).replace('|', "\\|"),
            num(&r["state"]),
            num(&r["sent"]),
            num(&r["ok"]),
            num(&r["failed"]),
            opt("total_p99_ms", 2),
            opt("clock_offset_ms", 2),
            opt("clock_uncertainty_ms", 2),
            opt("joined_at_s", 1),
            opt("lost_at_s", 1),
        );
    }
}

/// Per route action firing: when, how long it took to apply and to
/// propagate, and its drop window's split.
fn route_actions(md: &mut String, rs: &[Value]) {
    // Convergence (kube actions with waits) only when some firing has it.
    let converged = rs.iter().any(|r| r["converged_ms"].is_number());
    let (head, rule) = if converged {
        (" converged (ms) |", "---|")
    } else {
        ("", "")
    };
    let _ = writeln!(
        md,
        "\n### Route actions\n\n| action | at (s) | apply (ms) | data plane (ms) | control plane (ms) |{head} drops | in flight at the change | not sent | already failing | unrelated | a later change's | counted over |\n|---|---|---|---|---|{rule}---|---|---|---|---|---|---|"
    );
    for r in rs {
        let d = &r["drops"];
        // Counts left out of a window when 0 (in_flight, later) read as 0.
        let cell = |k: &str| {
            if d.is_object() {
                num(d.get(k).unwrap_or(&Value::from(0)))
            } else {
                "-".to_owned()
            }
        };
        let over = match r["affects"]["requests"].as_array() {
            Some(a) if a.is_empty() => "no request".to_owned(),
            Some(a) => a
                .iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(", "),
            None => "every request".to_owned(),
        };
        let ms = |k: &str| {
            r[k].as_f64()
                .map_or_else(|| "-".to_owned(), |v| format!("{v:.0}"))
        };
        let conv = if converged {
            format!(" {} |", ms("converged_ms"))
        } else {
            String::new()
        };
        let _ = writeln!(
            md,
            "| {} #{}{} | {:.1} | {} | {} | {} |{conv} {} | {} | {} | {} | {} | {} | {} |",
            num(&r["action"]).replace('|', "\\|"),
            num(&r["firing"]),
            r["error"].as_str().map_or_else(String::new, |e| format!(
                " (failed: {})",
                e.replace('|', "\\|")
            )),
            r["applied_at_s"]
                .as_f64()
                .or(r["fired_at_s"].as_f64())
                .unwrap_or(0.0),
            ms("apply_ms"),
            ms("data_plane_ms"),
            ms("control_plane_ms"),
            cell("drops"),
            cell("in_flight"),
            cell("not_sent"),
            cell("before"),
            cell("unrelated"),
            cell("later"),
            over.replace('|', "\\|"),
        );
    }
}

pub(super) fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The report's Markdown as HTML (CommonMark with tables). Raw HTML in it is
/// shown as text, never run: cells carry text from the run (a server's error
/// body, a stat command's output).
pub(super) fn md_to_html(md: &str) -> String {
    use pulldown_cmark::{Event, Options, Parser};
    let events = Parser::new_ext(md, Options::ENABLE_TABLES).map(|e| match e {
        Event::Html(h) | Event::InlineHtml(h) => Event::Text(h),
        e => e,
    });
    let mut html = String::new();
    pulldown_cmark::html::push_html(&mut html, events);
    html
}

fn write(path: PathBuf, text: &str) -> Result<PathBuf, DocumentError> {
    std::fs::write(&path, text).map_err(|source| DocumentError::Write {
        path: path.clone(),
        source,
    })?;
    Ok(path)
}

/// Writes the report for the run in `dir`; returns the files written.
pub fn write_report(dir: &Path, format: Format) -> Result<Vec<PathBuf>, DocumentError> {
    if crate::scenarios::log::is_scenario_log(dir) {
        return super::scenario_document::write_report(dir, format);
    }
    // Streamed: a line's memory at a time, the chart series folded to a
    // bounded size, the histograms summed as they come.
    let mut lines = log::Lines::open(dir)?;
    let mut s = Series::default();
    let mut hist = crate::stats::Histograms::default();
    let mut logged_summary = None;
    let mut logged_events = Vec::new();
    while let Some(line) = lines.next() {
        match line?.1 {
            log::LogLine::Interval(v) => {
                s.push_interval(&v);
                // The whole run's histograms, as the summary counted them (after warmup).
                if v["warmup"] != true {
                    hist.add(&lines.histograms(&v)?);
                }
            }
            log::LogLine::Probe(v) => s.push_probe(&v),
            log::LogLine::Event(e) if logged_events.len() < crate::run::model::EVENTS_CAPACITY => {
                logged_events.push(e)
            }
            log::LogLine::Summary(v) => logged_summary = Some(v),
            _ => {}
        }
    }
    if lines.truncated {
        eprintln!("warning: {}: the run log ends in a cut-off line (a killed run); reporting what was written", dir.display());
    }
    let summary = match (logged_summary, super::compare::load(dir)) {
        (Some(s), _) => s,
        (None, Ok(s)) => s,
        // Killed before its summary: rebuild it from the intervals written.
        (None, Err(_)) => {
            let rebuilt = super::rebuild::rebuild(dir)
                .map_err(|e| DocumentError::NoSummary(dir.to_owned(), e.to_string()))?;
            if let Some(why) = &rebuilt.incomplete {
                eprintln!("warning: {}: incomplete: {why}", dir.display());
            }
            serde_json::to_value(&rebuilt).unwrap_or_default()
        }
    };
    let title = format!(
        "rampdeck report: {}",
        summary["profile"].as_str().unwrap_or("run")
    );
    // A capacity search's run: its result leads, its charts first.
    let capacity = super::capacity_document::load(dir);
    let doc =
        json!({ "summary": summary, "series": s, "events": logged_events, "capacity": capacity });
    let mut all_charts = Vec::new();
    if format != Format::Json {
        if let Some(c) = &capacity {
            all_charts.extend(super::capacity_document::charts(c).map_err(DocumentError::Plot)?);
        }
        // The summary's timeline has everything the run made, the route
        // actions' events too (the log keeps those as route_action lines).
        let events: Vec<Event> = serde_json::from_value(summary["events"].clone())
            .unwrap_or_else(|_| logged_events.clone());
        all_charts.extend(charts(&s, &events, &hist)?);
        all_charts.extend(super::epochs::chart(&summary).map_err(DocumentError::Plot)?);
    }
    let (verdict, tables) = match &capacity {
        Some(c) => (
            super::capacity_document::verdict(c),
            super::capacity_document::tables(c) + &tables(&summary),
        ),
        None => (verdict(&summary), tables(&summary)),
    };
    let title = if capacity.is_some() {
        title.replace("rampdeck report", "rampdeck capacity search")
    } else {
        title
    };
    assemble(
        dir,
        format,
        &Document {
            title,
            verdict,
            charts: all_charts,
            tables,
            json: doc,
        },
    )
}

/// One report's parts, in the order a reader wants them.
pub(super) struct Document {
    pub title: String,
    /// Markdown starting "## PASS" or "## FAIL" (or another heading).
    pub verdict: String,
    /// (file name, title, SVG document).
    pub charts: Vec<(String, String, String)>,
    pub tables: String,
    /// What `--format json` writes.
    pub json: Value,
}

/// Writes `d` as report.md (with the SVGs beside it), one self-contained
/// report.html (SVGs inline, the verdict in a banner of its colour), or
/// report.json.
pub(super) fn assemble(
    dir: &Path,
    format: Format,
    d: &Document,
) -> Result<Vec<PathBuf>, DocumentError> {
    match format {
        Format::Json => {
            let text = serde_json::to_string_pretty(&d.json).unwrap_or_default();
            Ok(vec![write(dir.join("report.json"), &text)?])
        }
        Format::Md => {
            let mut written = Vec::new();
            let mut md = format!("# {}\n\n{}\n", d.title, d.verdict);
            for (file, chart_title, svg) in &d.charts {
                written.push(write(dir.join(file), svg)?);
                let _ = writeln!(md, "![{chart_title}]({file})\n");
            }
            md.push_str(&d.tables);
            written.insert(0, write(dir.join("report.md"), &md)?);
            Ok(written)
        }
        Format::Html => {
            let mut html = format!(
                "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>{0}</title>\n<style>body{{font-family:sans-serif;max-width:1000px;margin:2em auto;color:#222}}table{{border-collapse:collapse;margin:.5em 0 1.5em}}td,th{{border:1px solid #ccc;padding:.25em .6em;text-align:left}}th{{background:#f4f4f4}}svg{{max-width:100%;height:auto}}pre{{background:#f6f6f6;padding:.6em;overflow-x:auto}}</style>\n</head><body>\n<h1>{0}</h1>\n",
                escape(&d.title)
            );
            let pass = !d.verdict.contains("## FAIL");
            let _ = writeln!(
                html,
                "<div style=\"border-left:6px solid {};background:{};padding:.2em 1em;margin-bottom:1em\">{}</div>",
                if pass { "#1e7b34" } else { "#b3261e" },
                if pass { "#eef8ee" } else { "#fdeeee" },
                md_to_html(&d.verdict)
            );
            for (_, _, svg) in &d.charts {
                // The SVG document minus its XML prolog, inline.
                let start = svg.find("<svg").unwrap_or(0);
                html.push_str(&svg[start..]);
                html.push('\n');
            }
            html.push_str(&md_to_html(&d.tables));
            html.push_str("</body></html>\n");
            Ok(vec![write(dir.join("report.html"), &html)?])
        }
    }
}

#[cfg(test)]
mod tests {
    use super::md_to_html;

    #[test]
    fn tables_headings_and_bold_render_and_html_from_the_run_is_only_text() {
        let html = md_to_html(
            "## Errors\n\n| kind | message |\n|---|---|\n| **reset** | <script>alert(1)</script> a \\| b |\n\nplain <b>x</b>\n",
        );
        assert!(html.contains("<h2>Errors</h2>"), "{html}");
        assert!(html.contains("<th>kind</th>"), "{html}");
        assert!(html.contains("<strong>reset</strong>"), "{html}");
        assert!(html.contains("a | b"), "{html}");
        assert!(
            !html.contains("<script>") && !html.contains("<b>x"),
            "{html}"
        );
        assert!(html.contains("&lt;script&gt;"), "{html}");
    }
}
