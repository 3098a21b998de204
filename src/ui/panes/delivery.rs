//! Delivery: events delivered per second against those published, in transit, lost, duplicated and unknown, and the end-to-end latency, from the `[delivery]` sink.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Color;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use super::block;
use crate::run::RunModel;
use crate::ui::app::App;
use crate::ui::chart::{Reduce, Series, TimeChart};
use crate::ui::theme::Theme;
use crate::ui::view::{self, fmt_rate};

pub fn draw(f: &mut Frame, area: Rect, app: &App, model: &RunModel, focused: bool, theme: Theme) {
    let Some(d) = &model.delivery else {
        return;
    };
    let last = model.last().and_then(|i| {
        i.delivery
            .as_ref()
            .map(|d| (d.delivered as f64 / i.secs(), d))
    });
    let rate = last.map_or(0.0, |(r, _)| r);
    let title = Line::from(vec![
        Span::raw(" Delivery "),
        // Cyan, as the delivered line in the chart.
        Span::styled(format!("{} /s ", fmt_rate(rate)), theme.fg(Color::Cyan)),
    ]);
    let b = block(title, focused, theme);
    let inner = b.inner(area);
    f.render_widget(b, area);
    if inner.height == 0 || inner.width < 12 {
        return;
    }
    // A label in its chart line's colour (None: not charted); a bad count
    // above zero in red.
    let num = |label: &'static str, line: Option<Color>, n: u64, bad: bool| {
        let style = if bad && n > 0 {
            theme.fg(Color::Red)
        } else {
            theme.bold()
        };
        vec![
            Span::styled(label, line.map_or_else(|| theme.dim(), |c| theme.fg(c))),
            Span::styled(format!("{n} "), style),
        ]
    };
    let mut counts: Vec<Span> = Vec::new();
    counts.extend(num("in transit ", None, d.in_transit, false));
    counts.extend(num("lost ", Some(Color::Red), d.lost, true));
    counts.extend(num("dup ", Some(Color::Yellow), d.duplicates, true));
    counts.extend(num("unknown ", None, d.unknown, true));
    if d.late > 0 {
        counts.extend(num("late ", None, d.late, true));
    }
    let l = d.recent_latency;
    let latency = |with_pct: bool| {
        let mut v = vec![
            Span::styled("end to end ", theme.dim()),
            Span::styled("p50 ", theme.dim()),
            Span::styled(format!("{:.1}ms ", l.p50), theme.bold()),
            Span::styled("p99 ", theme.dim()),
            Span::styled(format!("{:.1}ms ", l.p99), theme.bold()),
        ];
        if let (true, Some(p)) = (with_pct, d.delivered_pct()) {
            v.push(Span::styled(format!("· {p:.2}% delivered"), theme.dim()));
        }
        v
    };
    let lines = [
        Line::from(counts),
        super::fit(inner.width, vec![latency(true), latency(false)]),
    ];
    let text_rows = (inner.height as usize).min(lines.len()) as u16;
    // The chart above the numbers when it has room for one; else the
    // numbers alone, from the top.
    if inner.height < text_rows + 3 {
        f.render_widget(Paragraph::new(lines[..text_rows as usize].to_vec()), inner);
        return;
    }
    let [chart_area, text] =
        Layout::vertical([Constraint::Min(0), Constraint::Length(text_rows)]).areas(inner);
    f.render_widget(Paragraph::new(lines[..text_rows as usize].to_vec()), text);
    let x = view::x_range(model, app.window);
    let per_s = |pick: fn(&crate::stats::delivery::DeliveryInterval) -> u64| {
        view::points(model, x, move |i| {
            i.delivery.as_ref().map(|d| pick(d) as f64 / i.secs())
        })
    };
    let markers = view::markers(model, x);
    let label = |v: f64| format!("{}/s", fmt_rate(v));
    let chart = TimeChart {
        series: vec![
            Series {
                color: Theme::TARGET,
                points: per_s(|d| d.published),
                reduce: Reduce::Mean,
            },
            Series {
                color: Color::Cyan,
                points: per_s(|d| d.delivered),
                reduce: Reduce::Mean,
            },
            Series {
                color: Color::Red,
                points: per_s(|d| d.lost),
                reduce: Reduce::Mean,
            },
            Series {
                color: Color::Yellow,
                points: per_s(|d| d.duplicates),
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
