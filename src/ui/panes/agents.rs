//! Agents: each agent of a distributed run with its state, share, send rate, p99, errors, clock offset and the age of its last report.

use ratatui::layout::{Constraint, Rect};
use ratatui::style::Color;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Row, Table};
use ratatui::Frame;

use super::block;
use crate::run::RunModel;
use crate::stats::agents::{AgentRow, AgentState};
use crate::ui::theme::Theme;

/// Columns from most to least needed; the narrowest panes keep the first.
const COLUMNS: [(&str, u16); 8] = [
    ("agent", 9),
    ("state", 7),
    ("share", 5),
    ("sent/s", 6),
    ("p99", 7),
    ("err", 4),
    ("clock", 7),
    ("age", 5),
];

fn cell(r: &AgentRow, col: usize) -> String {
    match col {
        0 => r.name.clone(),
        1 => r.state.label().to_owned(),
        2 => r
            .share
            .map_or_else(|| "-".to_owned(), |(p, n)| format!("{p}/{n}")),
        3 => rampdeck_base::fmt::fmt_rate(r.sent_rate),
        4 => r
            .p99_ms
            .map_or_else(|| "-".to_owned(), |v| format!("{v:.1}ms")),
        5 => r.failed.to_string(),
        6 => format!("{:+.1}ms", r.clock_offset_ms),
        _ => r
            .last_report_s
            .map_or_else(|| "-".to_owned(), |s| format!("{s:.1}s")),
    }
}

pub fn draw(f: &mut Frame, area: Rect, model: &RunModel, focused: bool, theme: Theme) {
    let Some(a) = &model.agents else {
        return;
    };
    let live = a.live();
    let title = format!(" Agents {live}/{} {} ", a.agents.len(), a.kind);
    let b = block(title, focused, theme);
    let inner = b.inner(area);
    f.render_widget(b, area);
    if inner.height < 2 || inner.width < 12 {
        return;
    }
    // As many columns as fit, in order of need.
    let mut used = 0u16;
    let cols: Vec<usize> = (0..COLUMNS.len())
        .take_while(|&i| {
            used += COLUMNS[i].1 + 1;
            used <= inner.width + 1
        })
        .collect();
    let short = a.under_supplied_s > 0.0;
    let table_height = inner.height - u16::from(short);
    let header = Row::new(cols.iter().map(|&i| Cell::from(COLUMNS[i].0))).style(theme.dim());
    let rows = a.agents.iter().map(|r| {
        let style = match r.state {
            AgentState::Lost => theme.fg(Color::Red),
            AgentState::Ready => theme.dim(),
            _ => ratatui::style::Style::default(),
        };
        Row::new(cols.iter().map(|&i| Cell::from(cell(r, i)))).style(style)
    });
    let widths: Vec<Constraint> = cols
        .iter()
        .map(|&i| Constraint::Length(COLUMNS[i].1))
        .collect();
    f.render_widget(
        Table::new(rows, widths).header(header).column_spacing(1),
        Rect {
            height: table_height,
            ..inner
        },
    );
    if short {
        let line = Line::from(vec![
            Span::styled("under-supplied ", theme.fg(Color::Yellow)),
            Span::raw(format!("{:.1}s", a.under_supplied_s)),
        ]);
        f.render_widget(
            Paragraph::new(line),
            Rect {
                y: inner.y + inner.height - 1,
                height: 1,
                ..inner
            },
        );
    }
}
