//! `rampdeck report DIR` for a scenario's `--out`: the verdict, the scenario's charts (attached-routes timeline, propagation distributions on both planes, route-change traffic and failures around each flip) and its tables.
//!
//! Built from the scenario's run log (`scenario_log`): the events for the
//! charts over time, the result line's report for everything measured.

use std::fmt::Write;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use super::document::{assemble, Document, DocumentError, Format};
use super::plot::{self, Line};
use crate::scenarios::log::{self as scenario_log, ScenarioRecording};
use crate::scenarios::ScenarioEvent;

/// Width of the bins failures are counted in around a flip.
const FLIP_BIN_MS: f64 = 10.0;

pub fn write_report(dir: &Path, format: Format) -> Result<Vec<PathBuf>, DocumentError> {
    let rec = scenario_log::read(dir)
        .map_err(|e| DocumentError::NoSummary(dir.to_owned(), e.to_string()))?;
    let report = rec.report.clone().unwrap_or(Value::Null);
    let charts = if format == Format::Json {
        Vec::new()
    } else {
        charts(&rec, &report)?
    };
    assemble(
        dir,
        format,
        &Document {
            title: format!("rampdeck scenario {}", rec.kind.name()),
            verdict: verdict(&rec, &report),
            charts,
            tables: tables(&rec, &report),
            json: json!({ "scenario": rec.kind.name(), "report": report, "events": rec.events }),
        },
    )
}

fn verdict(rec: &ScenarioRecording, r: &Value) -> String {
    let mut md = String::new();
    if rec.report.is_none() {
        let _ = writeln!(
            md,
            "## FAIL: incomplete\n\nThe log ends after {:.1}s without a result: the scenario was killed. The charts show what it did until then.\n",
            rec.duration().as_secs_f64()
        );
        return md;
    }
    let passed = r["outcome"] == "passed";
    let _ = writeln!(
        md,
        "## {}\n",
        if passed {
            "PASS: every criterion held"
        } else {
            "FAIL"
        }
    );
    for c in r["failed_criteria"].as_array().into_iter().flatten() {
        let _ = writeln!(md, "- {}", c.as_str().unwrap_or(""));
    }
    if r["interrupted"] == true {
        let _ = writeln!(md, "- stopped early: what ran is reported");
    }
    let _ = writeln!(md);
    let secs = |v: &Value| {
        v.as_f64()
            .map_or_else(|| "never".to_owned(), |x| format!("{x:.3}"))
    };
    if let Some(a) = r["attached_routes"].as_array().filter(|a| !a.is_empty()) {
        let _ = writeln!(md, "| routes | setup total (s) | setup after the last apply (s) | teardown (s) | status writes (setup) | apply errors |\n|---|---|---|---|---|---|");
        for x in a {
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} | {} |",
                x["routes"],
                secs(&x["setup_total_s"]),
                secs(&x["setup_s"]),
                secs(&x["teardown_s"]),
                x["status_writes_setup"],
                x["apply_errors"]
            );
        }
        let _ = writeln!(md);
    }
    if let Some(p) = r["route_probe"].as_array().filter(|p| !p.is_empty()) {
        let _ = writeln!(md, "| routes | propagated | data plane p50 / p99 (ms) | control plane p50 / p99 (ms) | errors |\n|---|---|---|---|---|");
        let ms = |v: &Value| {
            v.as_f64()
                .map_or_else(|| "-".to_owned(), |x| format!("{x:.1}"))
        };
        for x in p {
            let _ = writeln!(
                md,
                "| {} | {} | {} / {} | {} / {} | {} |",
                x["routes"],
                x["propagated"],
                ms(&x["data_plane_ms"]["p50"]),
                ms(&x["data_plane_ms"]["p99"]),
                ms(&x["control_plane_ms"]["p50"]),
                ms(&x["control_plane_ms"]["p99"]),
                x["error_count"]
            );
        }
        let _ = writeln!(md);
    }
    if let Some(c) = r["route_change"].as_object() {
        let line = serde_json::from_value::<ResolutionView>(Value::Object(c.clone()))
            .map(|v| v.line())
            .unwrap_or_default();
        let _ = writeln!(
            md,
            "| requests | ok | failed | flips | p99 during flips (ms) |\n|---|---|---|---|---|\n| {} | {} | {} | {} | {:.1} |\n\n{line}\n",
            c["requests"], c["ok"], c["failed"], c["iterations"],
            c["latency_during_ms"]["p99"].as_f64().unwrap_or(0.0),
        );
    }
    md
}

/// The route-change fields the resolution sentence needs.
#[derive(serde::Deserialize)]
struct ResolutionView {
    #[serde(default)]
    closed_loop: bool,
    #[serde(default)]
    resolution_ms: f64,
    #[serde(default)]
    send_gap_ms: crate::stats::Percentiles,
    rate: f64,
}

impl ResolutionView {
    fn line(&self) -> String {
        if self.closed_loop {
            format!(
                "Detection resolution {:.1} ms: one client sent as fast as answers came ({:.0}/s), every {:.2} ms (median); an outage shorter than {:.1} ms can go unseen.",
                self.resolution_ms, self.rate, self.send_gap_ms.p50, self.resolution_ms
            )
        } else {
            format!(
                "Detection resolution {:.1} ms at {}/s: an outage shorter than one request interval can go unseen.",
                self.resolution_ms, self.rate
            )
        }
    }
}

fn charts(
    rec: &ScenarioRecording,
    r: &Value,
) -> Result<Vec<(String, String, String)>, DocumentError> {
    let mut out = Vec::new();
    let phases: Vec<(f64, String)> = rec
        .events
        .iter()
        .filter_map(|e| match e {
            ScenarioEvent::Phase { at, label, .. } => Some((at.as_secs_f64(), label.clone())),
            _ => None,
        })
        .collect();
    let mut add =
        |file: &str, title: &str, svg: Result<String, String>| -> Result<(), DocumentError> {
            out.push((
                file.to_owned(),
                title.to_owned(),
                svg.map_err(DocumentError::Plot)?,
            ));
            Ok(())
        };
    for (i, a) in r["attached_routes"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        let points = |key: &str| -> Vec<(f64, f64)> {
            a["timeline"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|p| Some((p["t_s"].as_f64()?, p[key].as_f64()?)))
                .collect()
        };
        let title = format!(
            "attached-routes: {} routes, present vs the Gateway's attachedRoutes",
            a["routes"]
        );
        let lines = [
            Line {
                label: "routes present",
                color: plot::BLUE_,
                points: points("routes"),
            },
            Line {
                label: "attachedRoutes",
                color: plot::GREEN_,
                points: points("attached"),
            },
        ];
        if lines.iter().any(|l| !l.points.is_empty()) {
            add(
                &format!("attached-{i}.svg"),
                &title,
                plot::line_chart(&title, "routes", &lines, &phases),
            )?;
        }
    }
    for (i, p) in r["route_probe"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        let dist = |key: &str| {
            let mut h = crate::stats::new_histogram();
            for t in p["per_route"].as_array().into_iter().flatten() {
                if let Some(ms) = t[key].as_f64() {
                    let _ = h.record(((ms * 1000.0) as u64).max(1));
                }
            }
            plot::percentile_points(&h)
        };
        let title = format!(
            "route-probe: propagation by percentile, {} routes",
            p["routes"]
        );
        let lines = [
            Line {
                label: "data plane (apply -> first 200)",
                color: plot::BLUE_,
                points: dist("data_plane_ms"),
            },
            Line {
                label: "control plane (apply -> Accepted)",
                color: plot::ORANGE_,
                points: dist("control_plane_ms"),
            },
        ];
        if lines.iter().any(|l| !l.points.is_empty()) {
            add(
                &format!("propagation-{i}.svg"),
                &title,
                plot::percentile_chart(&title, &lines),
            )?;
        }
    }
    if let Some(c) = r["route_change"].as_object() {
        // Traffic over time with the flips marked.
        let (mut ok, mut failed) = (Vec::new(), Vec::new());
        let mut flips = Vec::new();
        for e in &rec.events {
            match e {
                ScenarioEvent::Traffic {
                    at,
                    ok: o,
                    failed: f,
                } => {
                    ok.push((at.as_secs_f64(), *o as f64 * 10.0));
                    failed.push((at.as_secs_f64(), *f as f64 * 10.0));
                }
                ScenarioEvent::Flip { at, iteration, .. } => {
                    flips.push((at.as_secs_f64(), format!("{iteration}")))
                }
                _ => {}
            }
        }
        let title = "route-change: answers per second, flips marked";
        let lines = [
            Line {
                label: "ok",
                color: plot::GREEN_,
                points: ok,
            },
            Line {
                label: "failed",
                color: plot::RED_,
                points: failed,
            },
        ];
        if lines.iter().any(|l| !l.points.is_empty()) {
            add(
                "traffic.svg",
                title,
                plot::line_chart(title, "answers per second", &lines, &flips),
            )?;
        }
        // Failures by their offset from the nearest flip.
        let offsets: Vec<f64> = c["failures"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|f| f["offset_ms"].as_f64())
            .collect();
        if !offsets.is_empty() {
            // The flip itself (0) is always in view.
            let lo = ((offsets.iter().copied().fold(f64::MAX, f64::min) / FLIP_BIN_MS).floor()
                - 1.0)
                .min(-1.0);
            let hi = ((offsets.iter().copied().fold(f64::MIN, f64::max) / FLIP_BIN_MS).ceil()
                + 1.0)
                .max(1.0);
            let points: Vec<(f64, f64)> = (lo as i64..=hi as i64)
                .map(|b| {
                    let n = offsets
                        .iter()
                        .filter(|&&o| (o / FLIP_BIN_MS).floor() as i64 == b)
                        .count();
                    (b as f64 * FLIP_BIN_MS, n as f64)
                })
                .collect();
            let title = "route-change: failed requests around the flips (all flips, 10 ms bins)";
            let fmt = |x: f64| format!("{x:+.0} ms");
            let svg = plot::xy_chart(
                title,
                (
                    "milliseconds from the nearest flip (applied)",
                    lo * FLIP_BIN_MS,
                    hi * FLIP_BIN_MS,
                    &fmt,
                ),
                "failed requests",
                &[Line {
                    label: "failed",
                    color: plot::RED_,
                    points,
                }],
                &[(0.0, "flip".to_owned())],
            );
            add("flip-failures.svg", title, svg)?;
        }
    }
    let f = &r["backend_failover"];
    if f.is_object() {
        // Answers per second per backend, kills and revives marked.
        let names: Vec<String> = f["backends"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|b| b.as_str().map(str::to_owned))
            .collect();
        let per_s = 1000.0 / f["interval_ms"].as_f64().unwrap_or(100.0).max(1.0);
        let bins = f["timeline"].as_array().cloned().unwrap_or_default();
        let colors = [plot::BLUE_, plot::GREEN_, plot::PURPLE_, plot::ORANGE_];
        let mut lines: Vec<Line> = names
            .iter()
            .enumerate()
            .map(|(i, n)| Line {
                label: n,
                color: colors[i % colors.len()],
                points: bins
                    .iter()
                    .filter_map(|b| Some((b["t_s"].as_f64()?, b["counts"][i].as_f64()? * per_s)))
                    .collect(),
            })
            .collect();
        lines.push(Line {
            label: "failed",
            color: plot::RED_,
            points: bins
                .iter()
                .filter_map(|b| Some((b["t_s"].as_f64()?, b["failed"].as_f64()? * per_s)))
                .collect(),
        });
        let title =
            "backend-failover: answers per second by backend (send time), kills and revives marked";
        add(
            "failover.svg",
            title,
            plot::line_chart(title, "answers per second", &lines, &phases),
        )?;
    }
    let sc = &r["route_scale"];
    if sc.is_object() {
        let series = sc["series"].as_array().cloned().unwrap_or_default();
        let mut names: Vec<String> = Vec::new();
        for x in &series {
            if let Some(n) = x["component"].as_str() {
                if !names.iter().any(|m| m == n) {
                    names.push(n.to_owned());
                }
            }
        }
        let colors = [plot::BLUE_, plot::ORANGE_, plot::PURPLE_, plot::GREEN_];
        let line = |key: &'static str| -> Vec<Line> {
            names
                .iter()
                .enumerate()
                .map(|(i, n)| Line {
                    label: n,
                    color: colors[i % colors.len()],
                    points: series
                        .iter()
                        .filter(|x| x["component"].as_str() == Some(n.as_str()))
                        .filter_map(|x| Some((x["t_s"].as_f64()?, x[key].as_f64()?)))
                        .collect(),
                })
                .collect()
        };
        let title = "route-scale: memory over the run (MiB), phases marked";
        add(
            "scale-memory.svg",
            title,
            plot::line_chart(title, "MiB", &line("memory_mib"), &phases),
        )?;
        let title = "route-scale: CPU over the run (cores), phases marked";
        add(
            "scale-cpu.svg",
            title,
            plot::line_chart(title, "cores", &line("cpu_cores"), &phases),
        )?;
    }
    Ok(out)
}

fn tables(rec: &ScenarioRecording, r: &Value) -> String {
    let mut md = String::new();
    if let Some(fs) = r["route_change"]["flips"]
        .as_array()
        .filter(|f| !f.is_empty())
    {
        let _ = writeln!(md, "\n### Flips\n\n| flip | to | apply (ms) | requests | new share | first new (ms) | last old (ms) | drops | already failing |\n|---|---|---|---|---|---|---|---|---|");
        let ms = |v: &Value| {
            v.as_f64()
                .map_or_else(|| "-".to_owned(), |x| format!("{x:.0}"))
        };
        for f in fs {
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                f["iteration"],
                f["backend"].as_str().unwrap_or(""),
                f["apply_ms"]
                    .as_f64()
                    .map_or_else(|| "-".to_owned(), |x| format!("{x:.1}")),
                f["requests"],
                f["new_share"]
                    .as_f64()
                    .map_or_else(|| "-".to_owned(), |x| format!("{:.0}%", x * 100.0)),
                ms(&f["first_new_ms"]),
                ms(&f["last_old_ms"]),
                f["drops"].as_u64().unwrap_or(0),
                f["before"].as_u64().unwrap_or(0),
            );
        }
    }
    if let Some(table) = &rec.table {
        let _ = writeln!(md, "\n### Result\n\n```\n{}\n```", table.trim_end());
    }
    let phases: Vec<(f64, &str)> = rec
        .events
        .iter()
        .filter_map(|e| match e {
            ScenarioEvent::Phase { at, text, .. } | ScenarioEvent::Log { at, text } => {
                Some((at.as_secs_f64(), text.as_str()))
            }
            _ => None,
        })
        .collect();
    if !phases.is_empty() {
        let _ = writeln!(md, "\n### Events\n\n| time (s) | event |\n|---|---|");
        for (t, text) in phases {
            let _ = writeln!(md, "| {t:.2} | {} |", text.replace('|', "\\|"));
        }
    }
    md.push_str(&super::document::environment(&rec.header["environment"]));
    md
}
