//! Footer: key hints for the current input mode and run state, or a short notice; always whole at the screen's width.

use std::time::Instant;

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use crate::stats::summary::RunState;
use crate::ui::app::{Action, App};
use crate::ui::keymap;
use crate::ui::theme::Theme;

/// The hints to show: what the keys do in `state` (a paused run offers
/// resume; a finished one has nothing to pause, steer or fire).
pub fn hints(app: &App, state: RunState) -> Vec<(String, &'static str)> {
    let finished = state == RunState::Finished && app.replay_status.is_none();
    keymap::bindings(&app.mode)
        .into_iter()
        .filter_map(|b| {
            let hint = b.hint?;
            let steering = matches!(
                b.action,
                Action::TogglePause
                    | Action::Nudge(_)
                    | Action::EditLevel
                    | Action::RouteMenu
                    | Action::StartMarker
                    | Action::ToggleSearch
            );
            if finished && steering {
                return None;
            }
            let hint = match b.action {
                Action::TogglePause if state == RunState::Paused => "resume",
                _ => hint,
            };
            Some((b.key.label(), hint))
        })
        .collect()
}

/// Which hints go first when the line is too narrow: the chart keys, then
/// marking and routes; pause/resume, help and quit stay.
fn drop_order(hint: &str) -> u8 {
    match hint {
        "zoom" => 0,
        "window" => 1,
        "view" => 2,
        "mark" => 3,
        "set" => 4,
        "routes" => 5,
        "rate" => 6,
        _ => u8::MAX,
    }
}

pub fn draw(f: &mut Frame, area: Rect, app: &App, state: RunState, now: Instant, theme: Theme) {
    let mut spans = Vec::new();
    if let Some(status) = &app.replay_status {
        spans.push(Span::styled(
            format!(" {status} "),
            theme.state(RunState::Finished),
        ));
        spans.push(Span::raw(" "));
    }
    if let Some(notice) = app.notice_at(now) {
        spans.push(Span::styled(
            format!(" {notice} "),
            theme.state(RunState::Paused),
        ));
        spans.push(Span::raw(" "));
    }
    let used: usize = spans.iter().map(|s| s.content.chars().count()).sum();
    let mut hints = hints(app, state);
    let len = |h: &[(String, &str)]| {
        h.iter()
            .map(|(k, v)| k.chars().count() + v.chars().count() + 3)
            .sum::<usize>()
    };
    while used + len(&hints) > area.width as usize {
        let Some(i) = hints
            .iter()
            .enumerate()
            .filter(|(_, (_, h))| drop_order(h) != u8::MAX)
            .min_by_key(|(_, (_, h))| drop_order(h))
            .map(|(i, _)| i)
        else {
            break;
        };
        hints.remove(i);
    }
    for (key, hint) in hints {
        spans.push(Span::styled(format!(" {key} "), theme.bold()));
        spans.push(Span::styled(format!("{hint} "), theme.dim()));
    }
    f.render_widget(Paragraph::new(Line::from(spans)), area);
}
