//! The run by level epoch in words: the printed summary's table, and the report's table and latency-vs-level chart.

use std::fmt::Write;

use crate::stats::epochs::{EpochKind, EpochRow};

/// A level as the tables show it: one number for a hold, `a->b` for a ramp.
pub fn level(r: &EpochRow) -> String {
    let f = rampdeck_base::fmt::fmt_level;
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
