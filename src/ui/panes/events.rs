//! Events and log: the run's timeline (pauses, rate changes, markers, stages, first errors) and the log.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Color;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use super::block;
use crate::run::{EventKind, RunModel};
use crate::ui::app::App;
use crate::ui::theme::Theme;

pub fn draw(
    f: &mut Frame,
    area: Rect,
    app: &App,
    model: &RunModel,
    live_log: bool,
    focused: bool,
    theme: Theme,
) {
    let (events_area, log_area) = if app.show_log && live_log && area.width >= 60 {
        let [e, l] = Layout::horizontal([Constraint::Percentage(55), Constraint::Percentage(45)])
            .areas(area);
        (e, Some(l))
    } else {
        (area, None)
    };
    let b = block(" Events ", focused, theme);
    let inner = b.inner(events_area);
    f.render_widget(b, events_area);
    let rows = inner.height as usize;
    let lines: Vec<Line> = model
        .events
        .iter()
        .rev()
        .take(rows)
        .rev()
        .map(|e| {
            let color = match e.kind {
                EventKind::FirstError { .. }
                | EventKind::FirstStatus { .. }
                | EventKind::Warning
                | EventKind::RouteFailed { .. } => Color::Red,
                EventKind::RouteDrops { drops, .. } if drops > 0 => Color::Red,
                EventKind::RouteDrops { .. } | EventKind::RoutePropagated { .. } => Color::Green,
                EventKind::RouteFired { .. } | EventKind::RouteApplied { .. } => Theme::MARKER,
                EventKind::Paused
                | EventKind::Resumed
                | EventKind::LevelSet { .. }
                | EventKind::Marker { .. } => Theme::MARKER,
                _ => Color::Reset,
            };
            Line::from(vec![
                Span::styled(format!("{:>7.1}s ", e.at.as_secs_f64()), theme.dim()),
                Span::styled(e.message.clone(), theme.fg(color)),
            ])
        })
        .collect();
    f.render_widget(Paragraph::new(lines), inner);
    if let Some(log_area) = log_area {
        let log = tui_logger::TuiLoggerWidget::default()
            .block(block(" Log ", false, theme))
            .output_target(false)
            .output_file(false)
            .output_line(false)
            .output_level(Some(tui_logger::TuiLoggerLevelOutput::Abbreviated))
            .style_error(theme.fg(Color::Red))
            .style_warn(theme.fg(Color::Yellow))
            .style_info(theme.fg(Color::Reset));
        f.render_widget(log, log_area);
    }
}
