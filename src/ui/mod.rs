//! The live console (ratatui): what the operator sees and the keys that steer the run.
//!
//! `app` holds the console's state and turns `keymap` actions into state
//! changes and engine commands; `draw` and `panes` render a `RunModel` (plain
//! data from the domain modules) without touching the engine; `console` owns
//! the terminal, its thread and its restoration on every exit path.

pub mod app;
pub mod chart;
pub mod console;
pub mod draw;
pub mod keymap;
pub mod panes;
pub mod replay;
pub mod scenario;
pub mod terminal;
pub mod theme;
pub mod view;
