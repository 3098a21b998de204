//! Control plane: CPU and memory per component. Until resource sources exist, says what is missing.

use ratatui::layout::Rect;
use ratatui::text::Line;
use ratatui::widgets::{Paragraph, Wrap};
use ratatui::Frame;

use super::block;
use crate::ui::theme::Theme;

pub fn draw(f: &mut Frame, area: Rect, focused: bool, theme: Theme) {
    let b = block(" Control plane ", focused, theme);
    let text = vec![
        Line::styled("No resource sources configured.", theme.bold()),
        Line::styled(
            "CPU (cores) and memory per component show here once the profile can name a /metrics scrape or a PromQL query; this build does not read them yet.",
            theme.dim(),
        ),
    ];
    f.render_widget(
        Paragraph::new(text).wrap(Wrap { trim: true }).block(b),
        area,
    );
}
