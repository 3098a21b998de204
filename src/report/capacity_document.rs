//! The capacity search's part of `rampdeck report DIR` (when DIR holds capacity.json): the result first, then latency and control-plane CPU against the offered level (one point per step, pass green, fail red, the SLO's limit as a line), then the steps.

use std::fmt::Write;
use std::path::Path;

use serde_json::Value;

use super::plot::{self, Line};

/// capacity.json in `dir`, if a search wrote one.
pub fn load(dir: &Path) -> Option<Value> {
    let text =
        crate::util::files::read_text(&dir.join("capacity.json"), crate::util::files::SUMMARY)
            .ok()?;
    serde_json::from_str(&text).ok()
}

fn unit(c: &Value) -> &'static str {
    if c["searched"] == "concurrency" {
        "in flight"
    } else {
        "req/s"
    }
}

/// The search's verdict: what it found, and why it stopped.
pub fn verdict(c: &Value) -> String {
    let u = unit(c);
    let o = &c["outcome"];
    let level = |v: &Value| v.as_f64().map_or("-".to_owned(), |x| format!("{x:.1}"));
    let head = match o["kind"].as_str().unwrap_or("") {
        "found" => format!("## PASS: max sustainable {} {u}", level(&o["level"])),
        "above_max" => format!(
            "## PASS: at least {} {u} (every step up to the maximum passed)",
            level(&o["level"])
        ),
        "first_step_failed" => format!(
            "## FAIL: the first step ({} {u}) broke {}",
            level(&o["level"]),
            o["criterion"].as_str().unwrap_or("")
        ),
        "generator_limited" => format!(
            "## FAIL: no capacity: {}",
            o["why"].as_str().unwrap_or("rampdeck was the limit")
        ),
        "not_confirmed" => "## FAIL: no level held its confirmation".to_owned(),
        _ => "## FAIL: out of steps before the bounds met".to_owned(),
    };
    let mut md = format!("{head}\n\n");
    let _ = writeln!(
        md,
        "| max sustainable ({u}) | lowest failing ({u}) | broke first | knee ({u}) | theory (req/s) | steps |\n|---|---|---|---|---|---|\n| {} | {} | {} | {} | {} | {} |",
        level(&c["max_sustainable"]),
        level(&c["lowest_failing"]["level"]),
        c["lowest_failing"]["criterion"].as_str().unwrap_or("-").replace('|', "\\|"),
        level(&c["knee"]),
        level(&c["theory"]),
        c["steps"].as_array().map_or(0, Vec::len),
    );
    if let Some(u) = c["usl"].as_object() {
        let _ = writeln!(
            md,
            "\nUniversal Scalability Law: σ {:.4}, κ {:.6}, λ {:.1}/s; peak {} at {} in flight (R² {:.3}).",
            u["sigma"].as_f64().unwrap_or(0.0),
            u["kappa"].as_f64().unwrap_or(0.0),
            u["lambda"].as_f64().unwrap_or(0.0),
            level(&u["peak_throughput"]),
            level(&u["peak_concurrency"]),
            u["r_squared"].as_f64().unwrap_or(0.0)
        );
    }
    md
}

type Points = Vec<(f64, f64)>;

/// (level, value) of each step, split by verdict: (passed, the rest).
fn by_verdict(c: &Value, get: impl Fn(&Value) -> Option<f64>) -> (Points, Points) {
    let (mut pass, mut fail) = (Vec::new(), Vec::new());
    for s in c["steps"].as_array().into_iter().flatten() {
        let (Some(x), Some(y)) = (s["level"].as_f64(), get(s)) else {
            continue;
        };
        if s["verdict"] == "pass" {
            pass.push((x, y));
        } else {
            fail.push((x, y));
        }
    }
    (pass, fail)
}

pub fn charts(c: &Value) -> Result<Vec<(String, String, String)>, String> {
    let mut out = Vec::new();
    let x = format!("offered ({})", unit(c));
    let (p99_pass, p99_fail) = by_verdict(c, |s| s["latency_ms"]["p99"].as_f64());
    let p50: Points = {
        let (a, b) = by_verdict(c, |s| s["latency_ms"]["p50"].as_f64());
        a.into_iter().chain(b).collect()
    };
    // The SLO's first latency limit, as a line.
    let limit = c["steps"][0]["criteria"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|v| v["unit"] == "ms" && !v["name"].as_str().unwrap_or("").starts_with("probe."))
        .and_then(|v| Some((v["name"].as_str()?.to_owned(), v["limit"].as_f64()?)));
    let title = "Latency against the offered level (one point per step)";
    let label = limit.as_ref().map(|(n, _)| format!("SLO {n}"));
    let svg = plot::scatter_chart(
        title,
        &x,
        "milliseconds (log)",
        &[
            Line {
                label: "p99, step passed",
                color: plot::GREEN_,
                points: p99_pass,
            },
            Line {
                label: "p99, step failed",
                color: plot::RED_,
                points: p99_fail,
            },
            Line {
                label: "p50",
                color: plot::BLUE_,
                points: p50,
            },
        ],
        limit
            .as_ref()
            .zip(label.as_deref())
            .map(|((_, v), l)| (l, *v)),
    )?;
    out.push(("capacity-latency.svg".to_owned(), title.to_owned(), svg));
    let components: Vec<String> = c["steps"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|s| s["components"].as_array().into_iter().flatten())
        .filter_map(|x| x["name"].as_str().map(str::to_owned))
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    for (i, name) in components.iter().enumerate() {
        let cpu = |s: &Value| {
            s["components"]
                .as_array()?
                .iter()
                .find(|x| x["name"] == name.as_str())?["cpu_avg_cores"]
                .as_f64()
        };
        let (pass, fail) = by_verdict(c, cpu);
        if pass.is_empty() && fail.is_empty() {
            continue;
        }
        let title = format!("{name}: CPU against the offered level");
        let svg = plot::scatter_chart(
            &title,
            &x,
            "cores (log)",
            &[
                Line {
                    label: "step passed",
                    color: plot::GREEN_,
                    points: pass,
                },
                Line {
                    label: "step failed",
                    color: plot::RED_,
                    points: fail,
                },
            ],
            None,
        )?;
        out.push((format!("capacity-cpu-{i}.svg"), title, svg));
    }
    Ok(out)
}

pub fn tables(c: &Value) -> String {
    let mut md = String::from("\n### Capacity search steps\n\n| step | level | achieved | p50 (ms) | p99 (ms) | service p99 (ms) | success (%) | verdict |\n|---|---|---|---|---|---|---|---|\n");
    let n = |v: &Value| v.as_f64().map_or("-".to_owned(), |x| format!("{x:.2}"));
    for s in c["steps"].as_array().into_iter().flatten() {
        let _ = writeln!(
            md,
            "| {}{} | {} | {} | {} | {} | {} | {} | {}{} |",
            s["index"],
            if s["confirm"] == true {
                " (confirm)"
            } else {
                ""
            },
            n(&s["level"]),
            n(&s["achieved"]),
            n(&s["latency_ms"]["p50"]),
            n(&s["latency_ms"]["p99"]),
            n(&s["service_time_ms"]["p99"]),
            n(&s["success_rate"]),
            s["verdict"].as_str().unwrap_or(""),
            s["why"]
                .as_str()
                .map_or_else(String::new, |w| format!(": {}", w.replace('|', "\\|"))),
        );
    }
    for cost in c["cost"].as_array().into_iter().flatten() {
        let _ = writeln!(
            md,
            "\nCost at the found level, {}: {} cores{}, memory {}.",
            cost["component"].as_str().unwrap_or(""),
            n(&cost["cpu_cores"]),
            cost["cpu_per_1k_rps"]
                .as_f64()
                .map_or_else(String::new, |v| format!(" ({v:.3} per 1,000 req/s)")),
            cost["memory_bytes"]
                .as_f64()
                .map_or("-".to_owned(), rampdeck_base::fmt::bytes)
        );
    }
    md
}
