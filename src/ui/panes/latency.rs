//! Latency: p50, p90, p99, p99.9 per interval over the window, corrected or service time.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use super::block;
use crate::run::RunModel;
use crate::spec::plan::Mode;
use crate::stats::{IntervalStats, Percentiles};
use crate::ui::app::{App, LatencyView};
use crate::ui::chart::{Reduce, Series, TimeChart};
use crate::ui::theme::Theme;
use crate::ui::view::{self, fmt_ms};

pub fn draw(f: &mut Frame, area: Rect, app: &App, model: &RunModel, focused: bool, theme: Theme) {
    let view_name = match (app.plan.load.mode, app.latency_view) {
        (Mode::Closed, _) => "closed loop: service time",
        (Mode::Open, LatencyView::Corrected) => "corrected",
        (Mode::Open, LatencyView::Service) => "service time",
    };
    let pick = |i: &IntervalStats| -> Percentiles {
        match app.latency_view {
            LatencyView::Corrected => i.latency,
            LatencyView::Service => i.service,
        }
    };
    let title = Line::from(vec![
        Span::raw(" Latency "),
        Span::styled(format!("({view_name}) "), theme.bold()),
        Span::styled(format!("ms [{}] ", app.window.label()), theme.dim()),
    ]);
    let b = block(title, focused, theme);
    let inner = b.inner(area);
    f.render_widget(b, area);
    let [chart_area, legend] =
        Layout::vertical([Constraint::Min(1), Constraint::Length(1)]).areas(inner);
    let x = view::x_range(model, app.window);
    let has = |i: &IntervalStats| pick(i).count > 0;
    let series: Vec<Vec<(f64, f64)>> = [
        |p: Percentiles| p.p50,
        |p: Percentiles| p.p90,
        |p: Percentiles| p.p99,
        |p: Percentiles| p.p999,
    ]
    .iter()
    .map(|get| view::points(model, x, |i| has(i).then(|| get(pick(i)))))
    .collect();
    let markers = view::markers(model, x);
    let label = |v: f64| view::fmt_ms_axis(v);
    let chart = TimeChart {
        series: series
            .into_iter()
            .zip(Theme::SERIES)
            .map(|(points, color)| Series {
                color,
                points,
                reduce: Reduce::Max,
            })
            .collect(),
        markers: &markers,
        x,
        y_label: &label,
        theme,
    };
    f.render_widget(chart, chart_area);
    let now = model
        .series
        .iter()
        .rev()
        .find(|i| has(i))
        .map(pick)
        .unwrap_or_default();
    let names = ["p50", "p90", "p99", "p99.9"];
    let values = [now.p50, now.p90, now.p99, now.p999];
    let mut spans = Vec::new();
    for ((name, v), color) in names.iter().zip(values).zip(Theme::SERIES) {
        spans.push(Span::styled(format!("{name} "), theme.fg(color)));
        spans.push(Span::styled(format!("{} ", fmt_ms(v)), theme.bold()));
    }
    let percentiles = spans.clone();
    spans.push(Span::styled(
        format!("max {}", fmt_ms(now.max)),
        theme.dim(),
    ));
    // Narrow: the max goes before any percentile is cut.
    let line = super::fit(legend.width, vec![spans, percentiles]);
    f.render_widget(Paragraph::new(line), legend);
}
