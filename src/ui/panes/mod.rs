//! One module per pane; each draws itself from the `App` and `RunModel` into its area.

pub mod agents;
pub mod capacity;
pub mod connections;
pub mod control_plane;
pub mod delivery;
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

/// The first of `forms` (widest first) that fits `width` cells, else the
/// last: a pane drops fields and labels as it narrows, and never cuts a
/// number at its border.
pub fn fit(width: u16, forms: Vec<Vec<Span<'_>>>) -> Line<'_> {
    let len = |f: &Vec<Span<'_>>| f.iter().map(|s| s.content.chars().count()).sum::<usize>();
    let mut chosen = None;
    let mut last = None;
    for f in forms {
        if chosen.is_none() && len(&f) <= width as usize {
            chosen = Some(f);
        } else {
            last = Some(f);
        }
    }
    Line::from(chosen.or(last).unwrap_or_default())
}

pub fn key_value<'a>(key: &'a str, value: String, theme: Theme) -> Vec<Span<'a>> {
    vec![
        Span::styled(key, theme.dim()),
        Span::raw(" "),
        Span::styled(value, theme.bold().remove_modifier(Modifier::empty())),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fit_takes_the_widest_form_that_fits_whole() {
        let forms = || {
            vec![
                vec![Span::raw("cpu 0.140 (max 0.150)")],
                vec![Span::raw("cpu 0.140")],
                vec![Span::raw("0.140")],
            ]
        };
        let text = |l: Line| {
            l.spans
                .iter()
                .map(|s| s.content.to_string())
                .collect::<String>()
        };
        assert_eq!(text(fit(40, forms())), "cpu 0.140 (max 0.150)");
        assert_eq!(text(fit(12, forms())), "cpu 0.140");
        assert_eq!(text(fit(5, forms())), "0.140");
        // Nothing fits: the narrowest form, for the border to cut.
        assert_eq!(text(fit(2, forms())), "0.140");
    }
}
