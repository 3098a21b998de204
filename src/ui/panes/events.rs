//! Events and log: the run's timeline (pauses, rate changes, markers, stages, first errors) and the log.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Color;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use super::block;
use crate::engine::event::EventKind;
use crate::run::RunModel;
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
    let width = inner.width as usize;
    // Long events wrap under their text instead of being cut at the border.
    // Whole events, newest last: the oldest that do not fit are left out
    // (never the head of one, which would leave its tail without a time).
    let mut groups: Vec<Vec<Line>> = Vec::new();
    let mut used = 0;
    for e in model.events.iter().rev() {
        if used >= rows {
            break;
        }
        let mut group = Vec::new();
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
        let stamp = format!("{:>7.1}s ", e.at.as_secs_f64());
        let indent = stamp.chars().count();
        for (i, part) in wrap(&e.message, width.saturating_sub(indent).max(8))
            .into_iter()
            .enumerate()
        {
            let head = if i == 0 {
                Span::styled(stamp.clone(), theme.dim())
            } else {
                Span::raw(" ".repeat(indent))
            };
            group.push(Line::from(vec![head, Span::styled(part, theme.fg(color))]));
        }
        if used + group.len() > rows && !groups.is_empty() {
            break;
        }
        used += group.len();
        groups.push(group);
    }
    let lines: Vec<Line> = groups.into_iter().rev().flatten().take(rows).collect();
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

/// `text` in pieces of at most `width` characters, broken at spaces where it can.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut line = String::new();
    for word in text.split(' ') {
        let fits =
            line.chars().count() + usize::from(!line.is_empty()) + word.chars().count() <= width;
        if !fits && !line.is_empty() {
            out.push(std::mem::take(&mut line));
        }
        let mut word: Vec<char> = word.chars().collect();
        // A word longer than the line is cut into lines of its own.
        while word.len() > width {
            out.push(word.drain(..width).collect());
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.extend(word);
    }
    if !line.is_empty() || out.is_empty() {
        out.push(line);
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn long_events_wrap_whole() {
        let w = super::wrap("route shop flip: 3 failed requests from -1 s to +5 s", 20);
        assert!(w.iter().all(|l| l.chars().count() <= 20), "{w:?}");
        assert_eq!(
            w.join(" "),
            "route shop flip: 3 failed requests from -1 s to +5 s"
        );
        assert_eq!(super::wrap("", 10), vec![String::new()]);
        assert_eq!(super::wrap("abcdefghijkl", 5), vec!["abcde", "fghij", "kl"]);
    }
}
