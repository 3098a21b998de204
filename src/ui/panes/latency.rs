//! Latency: p50, p90, p99, p99.9 per interval over the window, corrected or service time.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use super::block;
use crate::run::RunModel;
use crate::spec::plan::Mode;
use crate::stats::{IntervalStats, Percentiles};
use crate::ui::app::{App, LatencyScope, LatencyView};
use crate::ui::chart::{Reduce, Scale, Series, TimeChart};
use crate::ui::theme::Theme;
use crate::ui::view::{self, fmt_ms};

/// The charted percentiles, and the samples each needs to be more than
/// the largest few values (1 / (1 - q)).
type Quantile = (&'static str, fn(Percentiles) -> f64, u64);
const QUANTILES: [Quantile; 4] = [
    ("p50", |p| p.p50, 1),
    ("p90", |p| p.p90, 10),
    ("p99", |p| p.p99, 100),
    ("p99.9", |p| p.p999, 1000),
];

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
        Span::styled(
            format!(
                "ms{} [{}] ",
                if app.latency_scale == Scale::Log {
                    " log"
                } else {
                    ""
                },
                app.window.label()
            ),
            theme.dim(),
        ),
    ]);
    let b = block(title, focused, theme);
    let inner = b.inner(area);
    f.render_widget(b, area);
    let [chart_area, legend] =
        Layout::vertical([Constraint::Min(1), Constraint::Length(1)]).areas(inner);
    let x = view::x_range(model, app.window);
    let has = |i: &IntervalStats| pick(i).count > 0;
    // An interval with too few samples has no p99 (or p99.9) of its own,
    // only its largest values: those points are left out, not drawn equal.
    let series: Vec<Vec<(f64, f64)>> = QUANTILES
        .iter()
        .map(|&(_, get, needs)| {
            view::points(model, x, |i| {
                let p = pick(i);
                (has(i) && p.count >= needs).then(|| get(p))
            })
        })
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
        scale: app.latency_scale,
        theme,
    };
    f.render_widget(chart, chart_area);
    let (scope, now) = legend_values(app, model, has, pick);
    let values = QUANTILES.map(|(name, get, needs)| {
        let v = if now.count >= needs {
            fmt_ms(get(now))
        } else {
            format!("n<{needs}")
        };
        (name, v)
    });
    // The latest interval is the default and goes unlabelled.
    let labelled = app.latency_scope != LatencyScope::Interval;
    let mut spans = Vec::new();
    if labelled {
        spans.push(Span::styled(format!("{scope} "), theme.bold()));
    }
    for ((name, v), color) in values.into_iter().zip(Theme::SERIES) {
        spans.push(Span::styled(format!("{name} "), theme.fg(color)));
        spans.push(Span::styled(format!("{v} "), theme.bold()));
    }
    let percentiles = spans[usize::from(labelled)..].to_vec();
    spans.push(Span::styled(
        format!("max {}", fmt_ms(now.max)),
        theme.dim(),
    ));
    // Narrow: the max and the scope's name go before any percentile is cut.
    let mut no_max = spans.clone();
    no_max.pop();
    // A labelled legend keeps its label before p90: at 80 columns "level 1"
    // with p50, p99 and p99.9 says more than four unlabelled numbers.
    let short: Vec<Span> = no_max
        .iter()
        .enumerate()
        .filter(|(i, _)| !labelled || !(3..5).contains(i))
        .map(|(_, s)| s.clone())
        .collect();
    // Narrower still: p90 goes, so p99 and p99.9 are never cut at the border.
    let mut no_p90 = percentiles.clone();
    no_p90.drain(2..4);
    let line = super::fit(
        legend.width,
        vec![spans, no_max, short, percentiles, no_p90],
    );
    f.render_widget(Paragraph::new(line), legend);
}

/// The legend's label and percentiles: the latest interval's, the level
/// in force since it began (its own epoch's histogram), or the run's.
fn legend_values(
    app: &App,
    model: &RunModel,
    has: impl Fn(&IntervalStats) -> bool,
    pick: impl Fn(&IntervalStats) -> Percentiles,
) -> (String, Percentiles) {
    let service = app.latency_view == LatencyView::Service;
    match app.latency_scope {
        LatencyScope::Interval => (
            "now".to_owned(),
            model
                .series
                .iter()
                .rev()
                .find(|i| has(i))
                .map(pick)
                .unwrap_or_default(),
        ),
        LatencyScope::Run => (
            "run".to_owned(),
            if service {
                model.totals.service
            } else {
                model.totals.latency
            },
        ),
        LatencyScope::Level => {
            let rc = model
                .last()
                .map_or(std::time::Duration::ZERO, |i| i.run_clock);
            match model.epochs.current(rc) {
                Some((n, _, part)) => (
                    format!("level {n}"),
                    part.map_or_else(Percentiles::default, |p| {
                        Percentiles::of(if service { &p.service } else { &p.latency })
                    }),
                ),
                None => ("level -".to_owned(), Percentiles::default()),
            }
        }
    }
}
