//! Overlays: help, the exact-rate and marker prompts, the route-action menu, the quit prompt.

use ratatui::layout::{Constraint, Flex, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph, Wrap};
use ratatui::Frame;

use super::block;
use crate::profile::Mode;
use crate::ui::app::{App, InputMode};
use crate::ui::keymap;
use crate::ui::theme::Theme;

fn centered(area: Rect, width: u16, height: u16) -> Rect {
    let [v] = Layout::vertical([Constraint::Length(height.min(area.height))])
        .flex(Flex::Center)
        .areas(area);
    let [h] = Layout::horizontal([Constraint::Length(width.min(area.width))])
        .flex(Flex::Center)
        .areas(v);
    h
}

pub fn draw(f: &mut Frame, area: Rect, app: &App, theme: Theme) {
    let unit = match app.plan.load.mode {
        Mode::Open => "req/s",
        Mode::Closed => "in flight",
    };
    let (title, lines, width): (String, Vec<Line>, u16) = match &app.mode {
        InputMode::Normal | InputMode::Replay => return,
        InputMode::Help => {
            let table = keymap::bindings(if app.replaying {
                &InputMode::Replay
            } else {
                &InputMode::Normal
            });
            let lines = table
                .iter()
                .map(|b| {
                    Line::from(vec![
                        Span::styled(format!(" {:>9}  ", b.key.label()), theme.bold()),
                        Span::raw(b.help),
                    ])
                })
                .collect();
            (" Keys ".into(), lines, 56)
        }
        InputMode::EditLevel(text) => {
            let what = match app.plan.load.mode {
                Mode::Open => "Rate",
                Mode::Closed => "Concurrency",
            };
            (
                format!(" {what} "),
                vec![
                    Line::from(vec![
                        Span::raw(format!(" {what} ({unit}): ")),
                        Span::styled(format!("{text}▏"), theme.bold()),
                    ]),
                    Line::styled(
                        " Enter applies until this stage ends · Esc cancels",
                        theme.dim(),
                    ),
                ],
                56,
            )
        }
        InputMode::Marker(text) => (
            " Marker ".into(),
            vec![
                Line::from(vec![
                    Span::raw(" Name: "),
                    Span::styled(format!("{text}▏"), theme.bold()),
                ]),
                Line::styled(
                    " Enter drops it on the charts (empty: numbered) · Esc cancels",
                    theme.dim(),
                ),
            ],
            64,
        ),
        InputMode::RouteMenu => (
            " Route actions ".into(),
            vec![
                Line::styled(" No route actions configured.", theme.bold()),
                Line::styled(
                    " Route changes (Gateway API, admin APIs, commands) are not in this build yet.",
                    theme.dim(),
                ),
                Line::styled(" Esc closes.", theme.dim()),
            ],
            64,
        ),
        InputMode::ConfirmQuit => (
            " Quit? ".into(),
            vec![
                Line::styled(" Stop the run and quit?", theme.bold()),
                Line::styled(" The summary is still printed and written.", theme.dim()),
                Line::from(vec![
                    Span::styled(" y ", theme.bold()),
                    Span::raw("quit   "),
                    Span::styled(" n ", theme.bold()),
                    Span::raw("keep running"),
                ]),
            ],
            48,
        ),
    };
    let height = lines.len() as u16 + 2;
    let r = centered(area, width, height);
    f.render_widget(Clear, r);
    f.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(block(title, true, theme)),
        r,
    );
}
