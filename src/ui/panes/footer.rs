//! Footer: key hints for the current input mode, or a short notice.

use std::time::Instant;

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use crate::ui::app::App;
use crate::ui::keymap;
use crate::ui::theme::Theme;

pub fn draw(f: &mut Frame, area: Rect, app: &App, now: Instant, theme: Theme) {
    let mut spans = Vec::new();
    if let Some(status) = &app.replay_status {
        spans.push(Span::styled(
            format!(" {status} "),
            theme.state(crate::stats::summary::RunState::Finished),
        ));
        spans.push(Span::raw(" "));
    }
    if let Some(notice) = app.notice_at(now) {
        spans.push(Span::styled(
            format!(" {notice} "),
            theme.state(crate::stats::summary::RunState::Paused),
        ));
        spans.push(Span::raw(" "));
    }
    for b in keymap::bindings(&app.mode) {
        let Some(hint) = b.hint else { continue };
        spans.push(Span::styled(format!(" {} ", b.key.label()), theme.bold()));
        spans.push(Span::styled(format!("{hint} "), theme.dim()));
    }
    f.render_widget(Paragraph::new(Line::from(spans)), area);
}
