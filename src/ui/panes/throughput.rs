//! Throughput: responses per second (ok vs errors) over the window, with the target rate.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Color;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use super::block;
use crate::run::RunModel;
use crate::spec::plan::Mode;
use crate::stats::summary::RunState;
use crate::ui::app::App;
use crate::ui::chart::{Reduce, Series, TimeChart};
use crate::ui::theme::Theme;
use crate::ui::view::{self, fmt_rate, RECENT};

pub fn draw(f: &mut Frame, area: Rect, app: &App, model: &RunModel, focused: bool, theme: Theme) {
    let recent = model.recent(RECENT);
    let failed = recent.finished - recent.ok;
    let secs = recent.secs.max(1e-9);
    // While paused no interval comes: the last one's rates are not what is
    // happening now.
    let paused = model.state == RunState::Paused;
    // Responses per second: the header's "achieved" is what was sent.
    let now = if paused {
        Span::styled("paused ", theme.state(RunState::Paused))
    } else {
        Span::styled(
            format!("{} resp/s ", fmt_rate(recent.done_rate())),
            theme.bold(),
        )
    };
    let title = Line::from(vec![
        Span::raw(" Throughput "),
        now,
        Span::styled(format!("[{}] ", app.window.label()), theme.dim()),
    ]);
    let b = block(title, focused, theme);
    let inner = b.inner(area);
    f.render_widget(b, area);
    let [chart_area, legend] =
        Layout::vertical([Constraint::Min(1), Constraint::Length(1)]).areas(inner);
    let x = view::x_range(model, app.window);
    let open = app.plan.load.mode == Mode::Open;
    let ok = view::points(model, x, |i| Some(i.ok as f64 / i.secs()));
    let err = view::points(model, x, |i| Some(i.failed() as f64 / i.secs()));
    let target = if open {
        view::points(model, x, |i| Some(i.target))
    } else {
        Vec::new()
    };
    // A distributed run's intervals whose merged send rate fell short
    // (a lost agent's share, agents that could not keep up): their sent
    // rate in yellow, over the target line.
    let short = view::points(model, x, |i| i.under_supplied.then(|| i.sent_rate()));
    let any_short = !short.is_empty();
    let markers = view::markers(model, x);
    let label = |v: f64| format!("{} req/s", fmt_rate(v));
    let chart = TimeChart {
        series: vec![
            Series {
                color: Theme::TARGET,
                points: target,
                reduce: Reduce::Mean,
            },
            Series {
                color: Color::Green,
                points: ok,
                reduce: Reduce::Mean,
            },
            Series {
                color: Color::Red,
                points: err,
                reduce: Reduce::Mean,
            },
            Series {
                color: Color::Yellow,
                points: short,
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
    if paused {
        let line = Line::from(vec![
            Span::styled("paused · nothing sent · ", theme.dim()),
            Span::styled("space", theme.bold()),
            Span::styled(" resumes", theme.dim()),
        ]);
        f.render_widget(Paragraph::new(line), legend);
        return;
    }
    let in_flight = model.last().map_or(0, |i| i.in_flight);
    let mut spans = vec![
        Span::styled("ok ", theme.fg(Color::Green)),
        Span::styled(
            format!("{} ", fmt_rate(recent.ok as f64 / secs)),
            theme.bold(),
        ),
        Span::styled("err ", theme.fg(Color::Red)),
        Span::styled(format!("{} ", fmt_rate(failed as f64 / secs)), theme.bold()),
    ];
    // The header already shows the achieved (sent) rate; repeat it when there is room.
    if open && legend.width >= 48 {
        spans.push(Span::styled("target ", theme.fg(Theme::TARGET)));
        spans.push(Span::styled("sent ", theme.dim()));
        spans.push(Span::styled(
            format!("{} ", fmt_rate(recent.sent_rate())),
            theme.bold(),
        ));
    }
    if any_short && legend.width >= 60 {
        spans.push(Span::styled("short ", theme.fg(Color::Yellow)));
    }
    spans.push(Span::styled("/s · in flight ", theme.dim()));
    spans.push(Span::styled(in_flight.to_string(), theme.bold()));
    // A tick on the baseline is explained where there is room for it.
    let used: usize = spans.iter().map(|s| s.content.chars().count()).sum();
    let tick = " · ▴ first error, see Events";
    if markers.iter().any(|m| m.label.is_none())
        && used + tick.chars().count() <= legend.width as usize
    {
        spans.push(Span::styled(tick, theme.fg(Theme::MARKER)));
    }
    f.render_widget(Paragraph::new(Line::from(spans)), legend);
}
