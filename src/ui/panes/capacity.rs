//! Capacity: a search's steps against the offered level (p99 and p50, passing green, failing red, rampdeck-limited yellow), the SLO as a line, the bounds and where the search is.

use ratatui::layout::Rect;
use ratatui::style::{Color, Style};
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span};
use ratatui::widgets::canvas::{Canvas, Points};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use super::block;
use crate::run::search::StepMark;
use crate::run::RunModel;
use crate::ui::theme::Theme;

pub fn draw(f: &mut Frame, area: Rect, model: &RunModel, focused: bool, theme: Theme) {
    let Some(s) = &model.search else {
        return;
    };
    let b = block(" Capacity ", focused, theme);
    let inner = b.inner(area);
    f.render_widget(b, area);
    if inner.height < 3 || inner.width < 10 {
        return;
    }
    let rate =
        |v: Option<f64>| v.map_or("-".to_owned(), |v| rampdeck_base::fmt::fmt_level(v.round()));
    let w = inner.width;
    let head = vec![
        super::fit(
            w,
            vec![
                vec![Span::styled(s.status.clone(), theme.bold())],
                vec![Span::styled(s.short.clone(), theme.bold())],
            ],
        ),
        super::fit(
            w,
            vec![
                vec![
                    Span::styled("passed ", theme.dim()),
                    Span::styled(rate(s.bounds.0), theme.fg(Color::Green)),
                    Span::styled(" · failed ", theme.dim()),
                    Span::styled(rate(s.bounds.1), theme.fg(Color::Red)),
                    Span::styled(format!(" {}", s.unit), theme.dim()),
                ],
                vec![
                    Span::styled(rate(s.bounds.0), theme.fg(Color::Green)),
                    Span::styled("..", theme.dim()),
                    Span::styled(rate(s.bounds.1), theme.fg(Color::Red)),
                ],
            ],
        ),
    ];
    let mut head = head;
    let mut rows = head.len() as u16;
    // Why the newest failed step failed: its criterion and actual value
    // (wrapped: the actual is at its end).
    if let Some(why) = &s.last_failure {
        head.push(Line::styled(why.clone(), theme.fg(Color::Red)));
        rows += (why.chars().count() as u16).div_ceil(w.max(1));
    }
    let text = Rect {
        height: rows.min(inner.height),
        ..inner
    };
    f.render_widget(
        Paragraph::new(head).wrap(ratatui::widgets::Wrap { trim: true }),
        text,
    );
    let chart = Rect {
        y: inner.y + rows.min(inner.height),
        height: inner.height.saturating_sub(rows),
        ..inner
    };
    if chart.height < 3 || s.points.is_empty() {
        return;
    }
    // The control plane's CPU beside the latency, when a source is sampled.
    let has_cpu = s.points.iter().any(|p| p.cpu.is_some()) && chart.width >= 40;
    let (chart, cpu_area) = if has_cpu {
        let [a, b] = ratatui::layout::Layout::horizontal([
            ratatui::layout::Constraint::Percentage(62),
            ratatui::layout::Constraint::Percentage(38),
        ])
        .areas(chart);
        (a, Some(b))
    } else {
        (chart, None)
    };
    // Latency on a log axis: a failing step is orders above a passing one.
    let log = |ms: f64| ms.max(0.01).log10();
    let x_max = s.points.iter().map(|p| p.level).fold(1.0, f64::max) * 1.1;
    let ys = s
        .points
        .iter()
        .flat_map(|p| [p.p50_ms, p.p99_ms])
        .chain(s.slo_ms.as_ref().map(|x| x.1));
    let (lo, hi) = ys.fold((f64::MAX, f64::MIN), |(l, h), v| {
        (l.min(log(v)), h.max(log(v)))
    });
    let (lo, hi) = (lo - 0.2, hi.max(lo + 1.0) + 0.2);
    let color = |c: Color| if theme.color { c } else { Color::Reset };
    let mark = |m: StepMark| match m {
        StepMark::Pass => Color::Green,
        StepMark::Fail => Color::Red,
        StepMark::GeneratorLimited => Color::Yellow,
    };
    let ms_label = |v: f64| {
        let ms = 10f64.powf(v);
        if ms >= 1000.0 {
            format!("{:.1}s", ms / 1000.0)
        } else {
            format!("{ms:.0}ms")
        }
    };
    let canvas = Canvas::default()
        // Whole-cell dots: one point per step must be seen at a glance.
        .marker(Marker::Dot)
        .x_bounds([0.0, x_max])
        .y_bounds([lo, hi])
        .paint(|ctx| {
            if let Some((name, limit)) = &s.slo_ms {
                // The SLO as a rule of text: the dots are the steps alone.
                let rule = "─".repeat(chart.width as usize);
                ctx.print(0.0, log(*limit), Line::styled(rule, theme.dim()));
                ctx.layer();
                ctx.print(
                    0.0,
                    log(*limit),
                    Line::styled(format!("{name} {}", ms_label(log(*limit))), theme.dim()),
                );
            }
            let p50: Vec<(f64, f64)> = s.points.iter().map(|p| (p.level, log(p.p50_ms))).collect();
            ctx.draw(&Points {
                coords: &p50,
                color: color(Color::Blue),
            });
            for m in [StepMark::Pass, StepMark::Fail, StepMark::GeneratorLimited] {
                let pts: Vec<(f64, f64)> = s
                    .points
                    .iter()
                    .filter(|p| p.mark == m)
                    .map(|p| (p.level, log(p.p99_ms)))
                    .collect();
                ctx.draw(&Points {
                    coords: &pts,
                    color: color(mark(m)),
                });
            }
            ctx.layer();
            // The axis top's label, unless the SLO's sits there already.
            let near = s
                .slo_ms
                .as_ref()
                .is_some_and(|(_, l)| (hi - log(*l)).abs() < 0.15 * (hi - lo));
            if !near {
                ctx.print(
                    0.0,
                    hi,
                    Line::styled(ms_label(hi), Style::new().fg(color(Color::DarkGray))),
                );
            }
            ctx.print(
                x_max * 0.7,
                lo,
                Line::styled(
                    format!("{} {}", rampdeck_base::fmt::fmt_rate(x_max), s.unit),
                    theme.dim(),
                ),
            );
        });
    f.render_widget(canvas, chart);
    if let Some(area) = cpu_area {
        draw_cpu(f, area, s, x_max, theme);
    }
}

/// Each step's mean control-plane CPU (cores) against the offered level.
fn draw_cpu(
    f: &mut Frame,
    area: Rect,
    s: &crate::run::search::SearchProgress,
    x_max: f64,
    theme: Theme,
) {
    let color = |c: Color| if theme.color { c } else { Color::Reset };
    let top = s
        .points
        .iter()
        .filter_map(|p| p.cpu)
        .fold(0.0, f64::max)
        .max(0.001)
        * 1.2;
    let canvas = Canvas::default()
        .marker(Marker::Dot)
        .x_bounds([0.0, x_max])
        .y_bounds([0.0, top])
        .paint(|ctx| {
            for m in [StepMark::Pass, StepMark::Fail, StepMark::GeneratorLimited] {
                let pts: Vec<(f64, f64)> = s
                    .points
                    .iter()
                    .filter(|p| p.mark == m)
                    .filter_map(|p| Some((p.level, p.cpu?)))
                    .collect();
                ctx.draw(&Points {
                    coords: &pts,
                    color: color(match m {
                        StepMark::Pass => Color::Green,
                        StepMark::Fail => Color::Red,
                        StepMark::GeneratorLimited => Color::Yellow,
                    }),
                });
            }
            ctx.layer();
            ctx.print(
                0.0,
                top,
                Line::styled(format!("cpu {top:.2} cores"), theme.dim()),
            );
        });
    f.render_widget(canvas, area);
}
