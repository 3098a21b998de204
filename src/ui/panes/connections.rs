//! Connections: the count held against its target over time, opens and ends per second, connect phases and echo round trips (mode = "connections").

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Color;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};
use ratatui::Frame;

use super::block;
use crate::run::RunModel;
use crate::stats::connections::ConnInterval;
use crate::stats::Percentiles;
use crate::ui::app::App;
use crate::ui::chart::{Reduce, Series, TimeChart};
use crate::ui::theme::Theme;
use crate::ui::view::{self, fmt_rate};

/// The lines beside the chart: what is held, how connections end, the
/// phase and echo times. `run` is the totals so far, `now` the last interval.
fn numbers(now: &ConnInterval, run: &ConnInterval, secs: f64, theme: Theme) -> Vec<Line<'static>> {
    let bad = |n: u64| {
        if n > 0 {
            theme.fg(Color::Red)
        } else {
            theme.bold()
        }
    };
    let dim = |t: &str| Span::styled(t.to_owned(), theme.dim());
    let ms = |p: &Percentiles| format!("{:.2}/{:.2}ms ", p.p50, p.p99);
    let mut lines = vec![
        Line::from(vec![
            dim("opened "),
            Span::styled(
                format!("{}/s ", fmt_rate(now.opened as f64 / secs)),
                theme.fg(Color::Green),
            ),
            dim("closed "),
            Span::styled(
                format!("{}/s ", fmt_rate(now.closed as f64 / secs)),
                theme.bold(),
            ),
            dim("failed "),
            Span::styled(format!("{} ", run.failed), bad(run.failed)),
        ]),
        Line::from(vec![
            dim("server closed "),
            Span::styled(format!("{} ", run.server_closed), bad(run.server_closed)),
            dim("reset "),
            Span::styled(format!("{} ", run.resets), bad(run.resets)),
            dim(&run
                .reset_age_ms
                .or(run.server_close_age_ms)
                .map_or_else(String::new, |a| {
                    format!("at age p50 {:.1}s", a.p50 / 1000.0)
                })),
        ]),
        Line::from(vec![
            dim("connect p50/p99 tcp "),
            Span::styled(ms(&run.tcp_ms), theme.bold()),
        ]),
    ];
    let mut phases = Vec::new();
    if let Some(p) = &run.tls_ms {
        phases.extend([dim("tls "), Span::styled(ms(p), theme.bold())]);
    }
    if let Some(p) = &run.ws_ms {
        phases.extend([dim("ws "), Span::styled(ms(p), theme.bold())]);
    }
    if !phases.is_empty() {
        lines.push(Line::from(phases));
    }
    if let Some(r) = &run.rtt_ms {
        lines.push(Line::from(vec![
            dim("echo p50/p99 "),
            Span::styled(ms(r), theme.fg(Color::Cyan)),
            dim("failed "),
            Span::styled(
                format!("{}", run.message_failures),
                bad(run.message_failures),
            ),
        ]));
    }
    if let Some((kind, first)) = run.first.iter().next() {
        lines.push(Line::styled(
            format!("{kind}: {}", crate::util::text::sanitized(first)),
            theme.fg(Color::Red),
        ));
    }
    lines
}

pub fn draw(f: &mut Frame, area: Rect, app: &App, model: &RunModel, focused: bool, theme: Theme) {
    let run = model.connections.clone().unwrap_or_default();
    let last = model.last();
    let now = last
        .and_then(|i| i.connections.as_ref())
        .map(|c| c.now.clone())
        .unwrap_or_default();
    let secs = last.map_or(1.0, |i| i.secs());
    let target = last.map_or(0.0, |i| i.target);
    let title = Line::from(vec![
        Span::raw(" Connections "),
        // Green, as the established line in the chart.
        Span::styled(format!("{} ", now.established), theme.fg(Color::Green)),
        Span::styled(format!("of {} held ", fmt_rate(target)), theme.dim()),
        Span::styled(format!("(peak {}) ", run.peak.max(now.peak)), theme.dim()),
    ]);
    let b = block(title, focused, theme);
    let inner = b.inner(area);
    f.render_widget(b, area);
    if inner.height == 0 || inner.width < 12 {
        return;
    }
    let lines = numbers(&now, &run, secs.max(1e-9), theme);
    // Numbers at the right when the pane is wide, else under the chart;
    // alone when there is no room for a chart.
    let wide = inner.width >= 90;
    let text_width = 44u16;
    let rows = (lines.len() as u16).min(inner.height);
    let (chart_area, text_area) = if wide {
        let [c, t] =
            Layout::horizontal([Constraint::Min(0), Constraint::Length(text_width)]).areas(inner);
        (c, t)
    } else if inner.height >= rows + 4 {
        let [c, t] = Layout::vertical([Constraint::Min(0), Constraint::Length(rows)]).areas(inner);
        (c, t)
    } else {
        f.render_widget(Paragraph::new(lines).wrap(Wrap { trim: true }), inner);
        return;
    };
    // The first failure's message wraps rather than being cut.
    f.render_widget(Paragraph::new(lines).wrap(Wrap { trim: true }), text_area);
    let x = view::x_range(model, app.window);
    let markers = view::markers(model, x);
    let count = |pick: fn(&ConnInterval) -> u64| {
        view::points(model, x, move |i| {
            i.connections.as_ref().map(|c| pick(&c.now) as f64)
        })
    };
    let label = |v: f64| fmt_rate(v);
    let chart = TimeChart {
        series: vec![
            Series {
                color: Theme::TARGET,
                points: view::points(model, x, |i| i.connections.as_ref().map(|_| i.target)),
                reduce: Reduce::Mean,
            },
            Series {
                color: Color::Green,
                points: count(|c| c.established),
                reduce: Reduce::Mean,
            },
            Series {
                color: Color::Red,
                points: view::points(model, x, |i| {
                    i.connections.as_ref().map(|c| {
                        (c.now.resets + c.now.server_closed + c.now.failed) as f64 / i.secs()
                    })
                }),
                reduce: Reduce::Mean,
            },
        ],
        markers: &markers,
        x,
        y_label: &label,
        scale: crate::ui::chart::Scale::Linear,
        theme,
    };
    f.render_widget(chart, chart_area);
}
