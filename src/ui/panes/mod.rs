//! One module per pane; each draws itself from the `App` and `RunModel` into its area.

pub mod control_plane;
pub mod events;
pub mod footer;
pub mod header;
pub mod latency;
pub mod overlay;
pub mod stat;
pub mod success;
pub mod throughput;

use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::Block;

use super::theme::Theme;

/// A pane's bordered block, highlighted when focused.
pub fn block<'a>(title: impl Into<Line<'a>>, focused: bool, theme: Theme) -> Block<'a> {
    Block::bordered()
        .border_style(theme.border(focused))
        .title(title.into().style(theme.bold()))
}

pub fn key_value<'a>(key: &'a str, value: String, theme: Theme) -> Vec<Span<'a>> {
    vec![
        Span::styled(key, theme.dim()),
        Span::raw(" "),
        Span::styled(value, theme.bold().remove_modifier(Modifier::empty())),
    ]
}
