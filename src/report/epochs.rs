//! The run by level epoch in words: the printed summary's table, and the report's table and latency-vs-level chart.

use std::fmt::Write;

use crate::stats::epochs::{EpochKind, EpochRow};

/// A level as the tables show it: one number for a hold, `a->b` for a ramp.
pub fn level(r: &EpochRow) -> String {
    // Whole numbers from 10 up: a ramp cut by warmup starts at 166.67.
    let f = |v: f64| {
        if v >= 10.0 {
            format!("{v:.0}")
        } else {
            rampdeck_base::fmt::fmt_level(v)
        }
    };
    if (r.from - r.to).abs() < 1e-9 {
        f(r.from)
    } else {
        format!("{}->{}", f(r.from), f(r.to))
    }
}

/// What decided the level: the stage (by name when it has one), a hand-set
/// level, or the plan again after one.
pub fn what(r: &EpochRow) -> String {
    let stage = match &r.stage_name {
        Some(n) => n.clone(),
        None => format!("stage {}", r.stage),
    };
    match r.kind {
        EpochKind::Stage => stage,
        EpochKind::Set => format!("set in {stage}"),
        EpochKind::Plan => format!("plan in {stage}"),
    }
}

/// Milliseconds in at most 6 characters ("-" for no samples).
fn ms(v: f64, n: u64) -> String {
    match n {
        0 => "-".to_owned(),
        _ if v >= 1000.0 => format!("{v:.0}"),
        _ if v >= 100.0 => format!("{v:.1}"),
        _ => format!("{v:.2}"),
    }
}

/// The printed summary's "By level" table (76 columns; names are cut to
/// 14 characters, summary.json has them whole).
pub fn render_text(s: &mut String, rows: &[EpochRow]) {
    let _ = writeln!(s);
    let _ = writeln!(
        s,
        "  By level (ms)         level  window (s)   sent success    p50    p99  p99.9"
    );
    for r in rows {
        let what: String = what(r).chars().take(14).collect();
        let p = &r.latency;
        let success = r
            .success_rate
            .map_or_else(|| "-".to_owned(), |x| format!("{x:.2}%"));
        let window = format!("{:.1}-{:.1}", r.start_s, r.end_s);
        let _ = writeln!(
            s,
            "  {:>2} {what:<14}{:>9} {window:>11}{:>7}{success:>8}{:>7}{:>7}{:>7}",
            r.index,
            level(r),
            rampdeck_base::fmt::group(r.sent),
            ms(p.p50, p.count),
            ms(p.p99, p.count),
            ms(p.p999, p.count),
        );
    }
}

/// The report's "By level" table, from summary.json's `epochs` (shown when
/// a run has more than one).
pub fn table(md: &mut String, summary: &serde_json::Value) {
    let Some(rows) = epoch_rows(summary) else {
        return;
    };
    let _ = writeln!(
        md,
        "\n### By level (each epoch's own schedule; ms)\n\n| # | set by | level | from (s) | to (s) | sent | achieved/s | success (%) | p50 | p90 | p99 | p99.9 | service p99 |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|"
    );
    for r in &rows {
        let p = &r.latency;
        let n = |v: f64| ms(v, p.count);
        let _ = writeln!(
            md,
            "| {} | {} | {} | {:.1} | {:.1} | {} | {:.1} | {} | {} | {} | {} | {} | {} |",
            r.index,
            what(r).replace('|', "\\|"),
            level(r),
            r.start_s,
            r.end_s,
            r.sent,
            r.achieved,
            r.success_rate
                .map_or_else(|| "-".to_owned(), |x| format!("{x:.2}")),
            n(p.p50),
            n(p.p90),
            n(p.p99),
            n(p.p999),
            ms(r.service.p99, r.service.count),
        );
    }
}

/// The "latency against the level" chart: each epoch's p50, p99 and p99.9
/// at the level it asked for (a ramp at its mean level).
pub fn chart(summary: &serde_json::Value) -> Result<Option<(String, String, String)>, String> {
    let Some(rows) = epoch_rows(summary) else {
        return Ok(None);
    };
    let with = |get: fn(&crate::stats::Percentiles) -> f64| {
        rows.iter()
            .filter(|r| r.latency.count > 0)
            .map(|r| (r.level, get(&r.latency)))
            .collect::<Vec<_>>()
    };
    let lines = [
        ("p50", super::plot::BLUE_, with(|p| p.p50)),
        ("p99", super::plot::ORANGE_, with(|p| p.p99)),
        ("p99.9", super::plot::RED_, with(|p| p.p999)),
    ];
    if lines.iter().all(|l| l.2.is_empty()) {
        return Ok(None);
    }
    let groups: Vec<super::plot::Line> = lines
        .into_iter()
        .map(|(label, color, points)| super::plot::Line {
            label,
            color,
            points,
        })
        .collect();
    let unit = match summary["mode"].as_str() {
        Some("closed") => "concurrency asked for",
        _ => "rate asked for (req/s)",
    };
    let title = "Latency against the level (one point per epoch)";
    let svg = super::plot::scatter_chart(title, unit, "milliseconds (log)", &groups, None)?;
    Ok(Some(("levels.svg".to_owned(), title.to_owned(), svg)))
}

/// The epochs of a summary that has more than one (older summaries have none).
fn epoch_rows(summary: &serde_json::Value) -> Option<Vec<EpochRow>> {
    let list = summary["epochs"].as_array().filter(|l| l.len() > 1)?;
    serde_json::from_value(serde_json::Value::Array(list.clone())).ok()
}
