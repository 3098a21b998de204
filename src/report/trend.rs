//! `rampdeck trend HISTORY.jsonl`: each metric over runs (by time or by git commit) on one testbed, its change points, and whether the latest one is a regression; drawn for a terminal and as an HTML report.

use std::fmt::Write;

use super::compare::{Scale, Tolerances, Worse};
use super::history::Entry;
use crate::stats::changepoint::{self, ChangePoint};

/// What the x axis of a trend is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum By {
    /// Each history line is a point, in file (time) order.
    Time,
    /// Consecutive lines of one commit are one point (their median): a
    /// commit run five times counts once, with its noise folded in.
    Git,
}

pub struct Options {
    /// Metric names as `compare` spells them; empty: the usual ones.
    pub metrics: Vec<String>,
    pub by: By,
    /// Only lines of this testbed (a substring); default: the newest line's.
    pub testbed: Option<String>,
    pub tolerance: Tolerances,
    /// The newest this many points are analysed.
    pub last: usize,
}

/// One point of a series.
#[derive(Debug, Clone)]
pub struct Point {
    /// A time (RFC 3339) or a commit.
    pub label: String,
    pub value: f64,
    /// The history lines it stands for.
    pub lines: Vec<usize>,
}

#[derive(Debug, Clone)]
pub struct Shift {
    pub change: ChangePoint,
    /// Percent (relative metrics) or points.
    pub by: f64,
    pub worse_by: f64,
    pub regression: bool,
}

pub struct Series {
    pub metric: String,
    pub worse: Worse,
    pub scale: Scale,
    pub tolerance: f64,
    pub points: Vec<Point>,
    pub shifts: Vec<Shift>,
}

impl Series {
    /// The newest change point, when it is a regression beyond tolerance.
    pub fn latest_regression(&self) -> Option<&Shift> {
        self.shifts.last().filter(|s| s.regression)
    }
}

pub struct Trend {
    pub testbed: Option<String>,
    /// Lines of other testbeds, and lines without the metric or commit.
    pub other_testbeds: usize,
    pub without_commit: usize,
    pub series: Vec<Series>,
}

impl Trend {
    pub fn regressed(&self) -> bool {
        self.series.iter().any(|s| s.latest_regression().is_some())
    }
}

/// Which way is worse for a metric, and its scale, by its name.
pub fn direction(name: &str) -> (Worse, Scale) {
    let last = name.rsplit('.').next().unwrap_or(name);
    let points = last == "success_rate" || name.starts_with("errors.");
    let lower_worse =
        ["rps", "success_rate", "propagated"].contains(&last) || name.starts_with("capacity.");
    (
        if lower_worse {
            Worse::Lower
        } else {
            Worse::Higher
        },
        if points {
            Scale::Points
        } else {
            Scale::Relative
        },
    )
}

const DEFAULT_METRICS: [&str; 5] = ["p50", "p95", "p99", "rps", "success_rate"];

/// Every metric name the lines have.
pub fn metric_names(entries: &[Entry]) -> Vec<String> {
    let mut names: Vec<String> = entries
        .iter()
        .flat_map(|e| e.metrics.keys().cloned())
        .collect();
    names.sort();
    names.dedup();
    names
}

/// The trend of `entries` as `opts` asks; an unknown metric is an error
/// naming those the history has.
pub fn analyze(entries: &[Entry], opts: &Options) -> Result<Trend, String> {
    let testbed = match &opts.testbed {
        Some(t) => Some(t.clone()),
        None => entries.iter().rev().find_map(|e| e.testbed.clone()),
    };
    let on_bed: Vec<&Entry> = entries
        .iter()
        .filter(|e| match (&testbed, &e.testbed) {
            (Some(want), Some(t)) => t.contains(want.as_str()),
            // Old lines carry no testbed: kept only when no testbed is chosen.
            (Some(_), None) => opts.testbed.is_none(),
            (None, _) => true,
        })
        .collect();
    if on_bed.is_empty() {
        return Err(format!(
            "no history line is from testbed '{}'",
            testbed.unwrap_or_default()
        ));
    }
    let other_testbeds = entries.len() - on_bed.len();
    let names: Vec<String> = if opts.metrics.is_empty() {
        let have = metric_names(&on_bed.iter().map(|e| (*e).clone()).collect::<Vec<_>>());
        let usual: Vec<String> = DEFAULT_METRICS
            .iter()
            .filter(|m| have.iter().any(|h| h == *m))
            .map(|m| (*m).to_owned())
            .collect();
        if usual.is_empty() {
            have
        } else {
            usual
        }
    } else {
        let have = metric_names(entries);
        for m in &opts.metrics {
            if !have.contains(m) {
                return Err(format!(
                    "--metric '{m}': no history line has it; these do: {}",
                    have.join(", ")
                ));
            }
        }
        opts.metrics.clone()
    };
    let mut without_commit = 0;
    let series = names
        .into_iter()
        .map(|metric| {
            let (points, skipped) = points_of(&on_bed, &metric, opts.by);
            without_commit = without_commit.max(skipped);
            let start = points.len().saturating_sub(opts.last.max(1));
            let points = points[start..].to_vec();
            let (worse, scale) = direction(&metric);
            let tolerance = opts.tolerance.of(&metric, scale);
            let values: Vec<f64> = points.iter().map(|p| p.value).collect();
            let shifts = changepoint::detect(&values, &changepoint::Options::default())
                .into_iter()
                .map(|c| {
                    let by = match scale {
                        Scale::Points => c.after - c.before,
                        Scale::Relative => c.shift_pct().unwrap_or(0.0),
                    };
                    let worse_by = if worse == Worse::Higher { by } else { -by };
                    Shift {
                        regression: worse_by > tolerance,
                        change: c,
                        by,
                        worse_by,
                    }
                })
                .collect();
            Series {
                metric,
                worse,
                scale,
                tolerance,
                points,
                shifts,
            }
        })
        .collect();
    Ok(Trend {
        testbed,
        other_testbeds,
        without_commit,
        series,
    })
}

/// A metric's points, and how many lines were left out for having no commit.
fn points_of(entries: &[&Entry], metric: &str, by: By) -> (Vec<Point>, usize) {
    let mut points: Vec<Point> = Vec::new();
    let mut group: Vec<f64> = Vec::new();
    let mut skipped = 0;
    let flush = |points: &mut Vec<Point>, group: &mut Vec<f64>| {
        if let Some(p) = points.last_mut() {
            if !group.is_empty() {
                p.value = crate::stats::bootstrap::median(group);
            }
        }
        group.clear();
    };
    for e in entries {
        let Some(v) = e.metric(metric) else {
            continue;
        };
        match by {
            By::Time => points.push(Point {
                label: e.at.clone().unwrap_or_else(|| format!("line {}", e.line)),
                value: v,
                lines: vec![e.line],
            }),
            By::Git => {
                let Some(commit) = &e.git_commit else {
                    skipped += 1;
                    continue;
                };
                if points.last().is_some_and(|p| &p.label == commit) {
                    group.push(v);
                    if let Some(p) = points.last_mut() {
                        p.lines.push(e.line);
                    }
                } else {
                    flush(&mut points, &mut group);
                    group.push(v);
                    points.push(Point {
                        label: commit.clone(),
                        value: v,
                        lines: vec![e.line],
                    });
                }
            }
        }
    }
    flush(&mut points, &mut group);
    (points, skipped)
}

/// The unit a metric is in, by its name ("" when it has none).
pub fn unit_of(metric: &str, scale: Scale) -> &'static str {
    let last = metric.rsplit('.').next().unwrap_or(metric);
    match (scale, last) {
        (Scale::Points, _) => "%",
        (_, "rps") => "req/s",
        (_, "cpu_max") => "cores",
        (_, "memory_max") => "bytes",
        // p99, service_p99, data_plane_p50: a latency percentile.
        _ if last.rsplit('_').next().is_some_and(|q| {
            q.len() > 1 && q.starts_with('p') && q[1..].chars().all(|c| c.is_ascii_digit())
        }) =>
        {
            "ms"
        }
        _ if last.ends_with("_s") => "s",
        _ => "",
    }
}

fn short(label: &str) -> String {
    // A commit: its first 8 characters; a time: the date and minute.
    if label.len() >= 16 && label.as_bytes().get(4) == Some(&b'-') {
        label[..16].replace('T', " ")
    } else {
        label.chars().take(8).collect()
    }
}

fn shift_words(s: &Series, sh: &Shift) -> String {
    let p = &s.points[sh.change.index];
    let u = unit_of(&s.metric, s.scale);
    let by = match s.scale {
        Scale::Points => format!("{:+.2} points", sh.by),
        Scale::Relative => format!("{:+.1}%", sh.by),
    };
    let verdict = if sh.regression {
        format!("REGRESSION (worse by more than {}", s.tolerance)
            + match s.scale {
                Scale::Points => " points)",
                Scale::Relative => "%)",
            }
    } else if sh.worse_by > 0.0 {
        "worse, within tolerance".to_owned()
    } else {
        "better".to_owned()
    };
    format!(
        "point {} ({}): {} -> {} {u} ({by}, p = {:.4}): {verdict}",
        sh.change.index + 1,
        p.label,
        super::repeats::num(sh.change.before),
        super::repeats::num(sh.change.after),
        sh.change.p_value
    )
}

/// The trend for a terminal: a chart per metric (values labelled at top,
/// middle and bottom; change points marked ▲ under the axis) and each
/// change point in words.
pub fn render(t: &Trend, by: By, width: usize) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "Trend on testbed {}{}",
        t.testbed.as_deref().unwrap_or("(not recorded)"),
        if t.other_testbeds > 0 {
            format!(" ({} lines of other testbeds left out)", t.other_testbeds)
        } else {
            String::new()
        }
    );
    if by == By::Git && t.without_commit > 0 {
        let _ = writeln!(
            s,
            "  {} lines without a git commit left out",
            t.without_commit
        );
    }
    for series in &t.series {
        s.push('\n');
        chart(&mut s, series, width);
    }
    s
}

fn chart(s: &mut String, series: &Series, width: usize) {
    const ROWS: usize = 8;
    let u = unit_of(&series.metric, series.scale);
    let _ = writeln!(
        s,
        "{}{} · {} points",
        series.metric,
        if u.is_empty() {
            String::new()
        } else {
            format!(" ({u})")
        },
        series.points.len()
    );
    let cols = width.saturating_sub(12).max(10);
    let from = series.points.len().saturating_sub(cols);
    let shown = &series.points[from..];
    if shown.is_empty() {
        let _ = writeln!(s, "  (no points)");
        return;
    }
    let lo = shown.iter().map(|p| p.value).fold(f64::INFINITY, f64::min);
    let hi = shown
        .iter()
        .map(|p| p.value)
        .fold(f64::NEG_INFINITY, f64::max);
    let span = if hi > lo { hi - lo } else { 1.0 };
    let row_of = |v: f64| (((v - lo) / span) * (ROWS - 1) as f64).round() as usize;
    let mut grid = vec![vec![' '; shown.len()]; ROWS];
    for (x, p) in shown.iter().enumerate() {
        grid[ROWS - 1 - row_of(p.value)][x] = '•';
    }
    for (r, row) in grid.iter().enumerate() {
        let label = match r {
            0 => super::repeats::num(hi),
            _ if r == ROWS / 2 => super::repeats::num((hi + lo) / 2.0),
            _ if r == ROWS - 1 => super::repeats::num(lo),
            _ => String::new(),
        };
        let tick = if label.is_empty() { '│' } else { '┤' };
        let _ = writeln!(s, "{label:>10} {tick}{}", row.iter().collect::<String>());
    }
    let mut axis = vec!['─'; shown.len()];
    for sh in &series.shifts {
        if let Some(x) = sh.change.index.checked_sub(from) {
            if x < axis.len() {
                axis[x] = '▲';
            }
        }
    }
    let _ = writeln!(s, "{:>10} └{}", "", axis.iter().collect::<String>());
    let first = short(&shown[0].label);
    let last = short(&shown[shown.len() - 1].label);
    let gap = shown.len().saturating_sub(first.len() + last.len()).max(1);
    let _ = writeln!(s, "{:>10}  {first}{}{last}", "", " ".repeat(gap));
    if series.shifts.is_empty() {
        let _ = writeln!(s, "  no change point (a level shift would be marked ▲)");
    }
    for sh in &series.shifts {
        let _ = writeln!(s, "  ▲ {}", shift_words(series, sh));
    }
}

/// The trend as a self-contained HTML page: per metric an SVG chart of
/// the points and each segment's median, change points marked, and the
/// change points in a table.
pub fn html(t: &Trend) -> Result<String, String> {
    use super::plot::{xy_chart, Line, BLUE_, ORANGE_};
    let esc = super::document::escape;
    let mut body = String::new();
    let _ = write!(
        body,
        "<h1>rampdeck trend</h1><p>Testbed: {}{}</p>",
        esc(t.testbed.as_deref().unwrap_or("(not recorded)")),
        if t.other_testbeds > 0 {
            format!(" ({} lines of other testbeds left out)", t.other_testbeds)
        } else {
            String::new()
        }
    );
    for series in &t.series {
        let u = unit_of(&series.metric, series.scale);
        let points: Vec<(f64, f64)> = series
            .points
            .iter()
            .enumerate()
            .map(|(i, p)| ((i + 1) as f64, p.value))
            .collect();
        // Each segment's median, as a step line.
        let mut levels = Vec::new();
        let bounds: Vec<usize> = std::iter::once(0)
            .chain(series.shifts.iter().map(|s| s.change.index))
            .chain(std::iter::once(series.points.len()))
            .collect();
        for w in bounds.windows(2) {
            let vals: Vec<f64> = series.points[w[0]..w[1]].iter().map(|p| p.value).collect();
            if vals.is_empty() {
                continue;
            }
            let m = crate::stats::bootstrap::median(&vals);
            levels.push(((w[0] + 1) as f64 - 0.5, m));
            levels.push((w[1] as f64 + 0.5, m));
        }
        let markers: Vec<(f64, String)> = series
            .shifts
            .iter()
            .map(|s| {
                let by = match series.scale {
                    Scale::Points => format!("{:+.2}pt", s.by),
                    Scale::Relative => format!("{:+.1}%", s.by),
                };
                ((s.change.index + 1) as f64, by)
            })
            .collect();
        let labels: Vec<String> = series.points.iter().map(|p| p.label.clone()).collect();
        let fmt = move |x: f64| {
            let i = x.round() as usize;
            labels
                .get(i.wrapping_sub(1))
                .map_or_else(|| format!("{x:.0}"), |l| format!("point {i}: {l}"))
        };
        let svg = xy_chart(
            &series.metric,
            ("point", 0.5, series.points.len() as f64 + 0.5, &fmt),
            if u.is_empty() { &series.metric } else { u },
            &[
                Line {
                    label: "each point",
                    color: BLUE_,
                    points,
                },
                Line {
                    label: "level (median between change points)",
                    color: ORANGE_,
                    points: levels,
                },
            ],
            &markers,
        )?;
        let _ = write!(body, "<section>{svg}");
        if series.shifts.is_empty() {
            body.push_str("<p>No change point.</p>");
        } else {
            body.push_str("<table><tr><th>change point</th></tr>");
            for sh in &series.shifts {
                let _ = write!(
                    body,
                    "<tr><td{}>{}</td></tr>",
                    if sh.regression { " class=\"bad\"" } else { "" },
                    esc(&shift_words(series, sh))
                );
            }
            body.push_str("</table>");
        }
        body.push_str("</section>");
    }
    Ok(format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>rampdeck trend</title><style>body{{font-family:sans-serif;max-width:1000px;margin:auto}}td.bad{{color:#b00;font-weight:bold}}table{{border-collapse:collapse}}td{{padding:2px 8px}}</style></head><body>{body}</body></html>\n"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn entries(values: &[f64], commits: Option<&[&str]>) -> Vec<Entry> {
        values
            .iter()
            .enumerate()
            .map(|(i, v)| Entry {
                line: i + 1,
                at: Some(format!("2026-12-{:02}T10:00:00Z", i % 28 + 1)),
                git_commit: commits.map(|c| c[i].to_owned()),
                profile: None,
                testbed: Some("ci".into()),
                metrics: json!({"p95": v, "rps": 1000.0 - v})
                    .as_object()
                    .unwrap()
                    .clone(),
            })
            .collect()
    }

    fn opts(metrics: &[&str], by: By) -> Options {
        Options {
            metrics: metrics.iter().map(|m| (*m).to_owned()).collect(),
            by,
            testbed: None,
            tolerance: Tolerances::default(),
            last: 200,
        }
    }

    #[test]
    fn a_step_up_in_latency_is_the_latest_regression_and_a_fix_clears_it() {
        let mut v: Vec<f64> = (0..40).map(|i| 5.0 + 0.05 * ((i * 7 % 5) as f64)).collect();
        for x in &mut v[25..] {
            *x *= 1.3;
        }
        let t = analyze(&entries(&v, None), &opts(&["p95", "rps"], By::Time)).unwrap();
        let p95 = &t.series[0];
        assert_eq!(p95.shifts.len(), 1);
        assert!(p95.shifts[0].change.index.abs_diff(25) <= 2);
        assert!(p95.latest_regression().is_some());
        // rps fell by ~0.2%: a change, but within tolerance.
        assert!(t.series[1].latest_regression().is_none());
        assert!(t.regressed());
        let text = render(&t, By::Time, 80);
        assert!(text.contains("▲ point 26"), "{text}");
        assert!(text.contains("REGRESSION"), "{text}");
        for x in &mut v[32..] {
            *x /= 1.3;
        }
        let t = analyze(&entries(&v, None), &opts(&["p95"], By::Time)).unwrap();
        assert!(!t.regressed(), "the newest change is the fix");
        assert!(html(&t).unwrap().contains("<svg"));
    }

    #[test]
    fn by_git_folds_a_commits_repeats_into_one_point() {
        let v = [5.0, 5.2, 4.8, 6.0, 6.2];
        let c = ["a", "a", "a", "b", "b"];
        let t = analyze(&entries(&v, Some(&c)), &opts(&["p95"], By::Git)).unwrap();
        let p = &t.series[0].points;
        assert_eq!(p.len(), 2);
        assert_eq!((p[0].value, p[1].value), (5.0, 6.1));
        assert_eq!(p[1].lines, vec![4, 5]);
        let err = analyze(&entries(&v, None), &opts(&["p77"], By::Time))
            .err()
            .unwrap();
        assert!(err.contains("p95, rps"), "{err}");
    }
}
