//! Colours and styles, in one place so NO_COLOR can turn them all off.

use ratatui::style::{Color, Modifier, Style};

use crate::stats::summary::RunState;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Theme {
    pub color: bool,
}

impl Theme {
    /// Colour unless NO_COLOR is set to anything non-empty (https://no-color.org).
    pub fn from_env() -> Self {
        Theme {
            color: std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
        }
    }

    pub fn fg(self, c: Color) -> Style {
        if self.color {
            Style::new().fg(c)
        } else {
            Style::new()
        }
    }

    pub fn bold(self) -> Style {
        Style::new().add_modifier(Modifier::BOLD)
    }

    pub fn dim(self) -> Style {
        if self.color {
            Style::new().fg(Color::DarkGray)
        } else {
            Style::new()
        }
    }

    pub fn border(self, focused: bool) -> Style {
        match (focused, self.color) {
            (true, true) => Style::new().fg(Color::Cyan),
            (true, false) => Style::new().add_modifier(Modifier::BOLD),
            (false, _) => self.dim(),
        }
    }

    pub fn state(self, s: RunState) -> Style {
        let c = match s {
            RunState::Running => Color::Green,
            RunState::Paused => Color::Yellow,
            RunState::Stopping => Color::Magenta,
            RunState::Finished => Color::Blue,
        };
        if self.color {
            Style::new()
                .fg(Color::Black)
                .bg(c)
                .add_modifier(Modifier::BOLD)
        } else {
            Style::new().add_modifier(Modifier::REVERSED | Modifier::BOLD)
        }
    }

    /// Success rate colour: green at 99.9% and up, yellow from 99%, red below.
    pub fn success(self, rate: Option<f64>) -> Style {
        let c = match rate {
            None => return self.dim(),
            Some(r) if r >= 99.9 => Color::Green,
            Some(r) if r >= 99.0 => Color::Yellow,
            Some(_) => Color::Red,
        };
        self.fg(c).add_modifier(Modifier::BOLD)
    }

    /// A breached threshold: white on red, or reversed without colour.
    pub fn breach(self) -> Style {
        if self.color {
            Style::new()
                .fg(Color::White)
                .bg(Color::Red)
                .add_modifier(Modifier::BOLD)
        } else {
            Style::new().add_modifier(Modifier::REVERSED | Modifier::BOLD)
        }
    }

    /// Series colours, in order.
    pub const SERIES: [Color; 4] = [Color::Cyan, Color::Green, Color::Yellow, Color::Red];
    pub const TARGET: Color = Color::DarkGray;
    pub const MARKER: Color = Color::Magenta;
}
