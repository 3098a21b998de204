//! Overlays: help, the exact-rate and marker prompts, the route-action menu, the quit prompt.

use ratatui::layout::{Constraint, Flex, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph, Wrap};
use ratatui::Frame;

use ratatui::style::Color;

use super::block;
use crate::routes::Phase;
use crate::run::RunModel;
use crate::spec::plan::Mode;
use crate::spec::routes::ActionKind;
use crate::ui::app::{Action, App, InputMode};
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

/// One line per route action: its key, name, what it does, and its last result.
fn route_menu(app: &App, model: &RunModel, theme: Theme) -> Vec<Line<'static>> {
    let actions = &app.plan.routes.actions;
    if actions.is_empty() {
        return vec![
            Line::styled(" No route actions in this profile.", theme.bold()),
            Line::styled(
                " Add [[route_action]] tables (kind kube, http or command) with key = 1-9.",
                theme.dim(),
            ),
            Line::styled(" Esc closes.", theme.dim()),
        ];
    }
    let mut lines = Vec::new();
    // Names up to 32 characters stay whole (a longer one is clipped with …).
    let name_width = actions
        .iter()
        .map(|a| a.name.chars().count())
        .max()
        .unwrap_or(0)
        .clamp(12, 32);
    for a in actions {
        let key = a.key.map_or_else(|| " ".to_owned(), |k| k.to_string());
        let what = match &a.kind {
            ActionKind::Kube(k) => format!("kube {}", k.op.verb()),
            ActionKind::Http(h) => format!("http {}", h.method),
            ActionKind::Command(_) => "command".to_owned(),
        };
        let sched = if a.at.is_empty() {
            String::new()
        } else {
            let at: Vec<String> =
                a.at.iter()
                    .map(|d| rampdeck_base::fmt::fmt_dur(*d))
                    .collect();
            format!(" at {}", at.join(", "))
        };
        lines.push(Line::from(vec![
            Span::styled(format!(" {key} "), theme.bold()),
            Span::raw(format!(
                "{:<name_width$} ",
                if a.name.chars().count() > name_width {
                    a.name.chars().take(name_width - 1).chain(['…']).collect()
                } else {
                    a.name.clone()
                }
            )),
            Span::styled(format!("{what}{sched}"), theme.dim()),
        ]));
        if let Some(r) = model
            .routes
            .records
            .iter()
            .rev()
            .find(|r| r.action == a.name)
        {
            let color = match r.phase {
                Phase::Failed => Color::Red,
                Phase::Propagated => Color::Green,
                _ => Theme::MARKER,
            };
            lines.push(Line::styled(
                format!("     #{} {}", r.firing, r.message()),
                theme.fg(color),
            ));
        }
        // The newest firing whose drop window has closed: its split.
        if let Some((firing, d)) = model
            .routes
            .records
            .iter()
            .rev()
            .filter(|r| r.action == a.name)
            .find_map(|r| r.drops.as_ref().map(|d| (r.firing, d)))
        {
            let color = if d.charged() > 0 {
                Color::Red
            } else {
                Color::Green
            };
            let mut text = if d.no_traffic() {
                format!("     #{firing} no traffic in the window: nothing to count")
            } else {
                format!("     #{firing} drops {}", d.charged())
            };
            for (n, label) in [
                (d.in_flight, "in flight"),
                (d.before, "before"),
                (d.unrelated, "unrelated"),
                (d.not_sent, "not sent"),
            ] {
                if n > 0 {
                    text += &format!(" · {label} {n}");
                }
            }
            lines.push(Line::styled(text, theme.fg(color)));
        }
    }
    lines.push(Line::styled(
        " A digit fires its action; progress shows in Events · Esc closes",
        theme.dim(),
    ));
    lines
}

/// One help line for two bindings that do opposite things.
fn pair(a: &keymap::Binding, b: &keymap::Binding) -> Option<(String, &'static str)> {
    let help = match (a.action, b.action) {
        (Action::Nudge(x), Action::Nudge(y)) if x == -y && x >= 0.1 => {
            "rate (or concurrency) up / down 10%"
        }
        (Action::Nudge(x), Action::Nudge(y)) if x == -y => "rate up / down 1%",
        (Action::FocusNext, Action::FocusPrev) => "focus the next / previous pane",
        (Action::Step(true), Action::Step(false)) => "step one interval forward / back",
        (Action::Faster(true), Action::Faster(false)) => "faster / slower (1x to 16x)",
        _ => return None,
    };
    let key = |k: keymap::Key| match k {
        keymap::Key::BackTab => "S-Tab".to_owned(),
        k => k.label(),
    };
    Some((format!("{} {}", key(a.key), key(b.key)), help))
}

pub fn draw(f: &mut Frame, area: Rect, app: &App, model: &RunModel, theme: Theme) {
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
            // Opposite keys share a line, so the whole table fits 24 rows.
            let mut lines = Vec::new();
            let mut i = 0;
            while i < table.len() {
                let b = table[i];
                let (key, help) = match table.get(i + 1).and_then(|n| pair(b, n)) {
                    Some((key, help)) => {
                        i += 1;
                        (key, help)
                    }
                    None => (b.key.label(), b.help),
                };
                lines.push(Line::from(vec![
                    Span::styled(format!(" {key:>9}  "), theme.bold()),
                    Span::raw(help),
                ]));
                i += 1;
            }
            // What the charts draw that no key explains.
            lines.push(Line::from(vec![
                Span::styled(format!(" {:>9}  ", "▴"), theme.fg(Theme::MARKER)),
                Span::raw("on a chart: a first error or status (in Events)"),
            ]));
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
        InputMode::RouteMenu => (" Route actions ".into(), route_menu(app, model, theme), 84),
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
