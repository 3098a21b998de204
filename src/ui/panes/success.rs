//! Success: the success rate as a big number, status codes, and error kinds with their last message.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};
use ratatui::Frame;

use super::block;
use crate::run::RunModel;
use crate::ui::theme::Theme;
use rampdeck_base::fmt::group;

/// Recent success is judged over this window, so one bad interval shows but does not flicker.
const WINDOW: std::time::Duration = std::time::Duration::from_secs(5);

pub fn draw(f: &mut Frame, area: Rect, model: &RunModel, focused: bool, theme: Theme) {
    let recent = model.recent(WINDOW);
    let rate = recent.success_rate();
    let style = theme.success(rate);
    let b = block(" Success ", focused, theme);
    let inner = b.inner(area);
    f.render_widget(b, area);
    let text = rate.map_or_else(|| "--".to_owned(), |r| format!("{r:.2}%"));
    let big_rows = if inner.height >= 6 && inner.width as usize >= big_width(&text) {
        3
    } else {
        1
    };
    let [number, rest] =
        Layout::vertical([Constraint::Length(big_rows), Constraint::Min(0)]).areas(inner);
    if big_rows == 3 {
        let lines: Vec<Line> = big_text(&text)
            .into_iter()
            .map(|l| Line::styled(l, style))
            .collect();
        f.render_widget(Paragraph::new(lines), number);
    } else {
        f.render_widget(
            Paragraph::new(Line::from(vec![
                Span::styled(text, style),
                Span::styled("  last 5 s", theme.dim()),
            ])),
            number,
        );
    }

    let t = &model.totals;
    let mut lines = Vec::new();
    let total_rate = t
        .success_rate()
        .map_or_else(|| "-".into(), |r| format!("{r:.3}%"));
    let count = group(t.requests);
    lines.push(super::fit(
        rest.width,
        vec![
            vec![
                Span::styled("since warmup ", theme.dim()),
                Span::raw(format!("{total_rate} of {count}")),
            ],
            vec![
                Span::styled("total ", theme.dim()),
                Span::raw(format!("{total_rate} of {count}")),
            ],
            vec![Span::raw(format!("{total_rate} of {count}"))],
            vec![Span::raw(total_rate.clone())],
        ],
    ));
    // Requests the schedule asked for that have not left: the rate above
    // counts only what was sent, so they stand beside it.
    if let Some(i) = model.last().filter(|i| i.behind > 0) {
        let why = if i.generator_limited {
            "rampdeck out of CPU"
        } else {
            "connections waiting on the target"
        };
        lines.push(Line::from(vec![
            Span::styled(
                format!("not sent {} ", group(i.behind)),
                theme
                    .fg(ratatui::style::Color::Red)
                    .add_modifier(ratatui::style::Modifier::BOLD),
            ),
            Span::styled(why, theme.dim()),
        ]));
    }
    if !t.status.is_empty() {
        let mut spans = vec![Span::styled("status ", theme.dim())];
        for (code, n) in &t.status {
            let s = if crate::stats::is_failure_status(*code) {
                theme.fg(ratatui::style::Color::Red)
            } else {
                Style::new()
            };
            spans.push(Span::styled(
                format!("{code} "),
                s.add_modifier(ratatui::style::Modifier::BOLD),
            ));
            spans.push(Span::raw(format!("{}  ", group(*n))));
        }
        lines.push(Line::from(spans));
    }
    for (kind, n) in &t.errors {
        let msg = model
            .last_errors
            .iter()
            .find(|(k, _)| k == kind)
            .map_or("", |(_, m)| m.as_str());
        lines.push(Line::from(vec![
            Span::styled(
                format!("{kind} "),
                theme
                    .fg(ratatui::style::Color::Red)
                    .add_modifier(ratatui::style::Modifier::BOLD),
            ),
            Span::raw(format!("{} ", group(*n))),
            Span::styled(msg.to_owned(), theme.dim()),
        ]));
    }
    // Errors seen during warmup only are not in the totals but still worth a line.
    for (kind, msg) in model
        .last_errors
        .iter()
        .filter(|(k, _)| !t.errors.iter().any(|(e, _)| e == k))
    {
        lines.push(Line::from(vec![
            Span::styled(format!("{kind} "), theme.fg(ratatui::style::Color::Red)),
            Span::styled(msg.clone(), theme.dim()),
        ]));
    }
    f.render_widget(Paragraph::new(lines).wrap(Wrap { trim: true }), rest);
}

/// A 3-row block font for digits, '.', '%' and '-'.
fn glyph(c: char) -> [&'static str; 3] {
    match c {
        '0' => ["█▀█", "█ █", "▀▀▀"],
        '1' => ["▄█ ", " █ ", "▀▀▀"],
        '2' => ["▀▀█", "█▀▀", "▀▀▀"],
        '3' => ["▀▀█", " ▀█", "▀▀▀"],
        '4' => ["█ █", "▀▀█", "  ▀"],
        '5' => ["█▀▀", "▀▀█", "▀▀▀"],
        '6' => ["█▀▀", "█▀█", "▀▀▀"],
        '7' => ["▀▀█", "  █", "  ▀"],
        '8' => ["█▀█", "█▀█", "▀▀▀"],
        '9' => ["█▀█", "▀▀█", "▀▀▀"],
        '.' => [" ", " ", "▀"],
        '%' => ["▀ █", " █ ", "█ ▄"],
        _ => ["   ", "▀▀▀", "   "],
    }
}

fn big_width(text: &str) -> usize {
    text.chars().map(|c| glyph(c)[0].chars().count() + 1).sum()
}

fn big_text(text: &str) -> [String; 3] {
    let mut rows = [String::new(), String::new(), String::new()];
    for c in text.chars() {
        for (row, part) in rows.iter_mut().zip(glyph(c)) {
            row.push_str(part);
            row.push(' ');
        }
    }
    rows
}
