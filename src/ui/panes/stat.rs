//! Stat probes: how responsive a `stat` command or dashboard is under load. Until probes exist, says so.

use ratatui::layout::Rect;
use ratatui::text::Line;
use ratatui::widgets::{Paragraph, Wrap};
use ratatui::Frame;

use super::block;
use crate::ui::theme::Theme;

pub fn draw(f: &mut Frame, area: Rect, focused: bool, theme: Theme) {
    let b = block(" Stat probes ", focused, theme);
    let text = vec![
        Line::styled("No stat command or HTTP probe configured.", theme.bold()),
        Line::styled(
            "Timing a command such as `linkerd viz stat` or a dashboard URL while the load runs needs [[stat]] / [[probe]] support, which this build does not have yet.",
            theme.dim(),
        ),
    ];
    f.render_widget(
        Paragraph::new(text).wrap(Wrap { trim: true }).block(b),
        area,
    );
}
