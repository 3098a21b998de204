//! The keymap: one table per input mode, used to dispatch keys, draw the help overlay and the footer.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::app::{Action, InputMode};

/// A key as the table lists it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    Char(char),
    Ctrl(char),
    Tab,
    BackTab,
    Esc,
    Enter,
    Backspace,
    Left,
    Right,
}

impl Key {
    pub fn label(self) -> String {
        match self {
            Key::Char(' ') => "space".into(),
            Key::Char(c) => c.to_string(),
            Key::Ctrl(c) => format!("Ctrl-{}", c.to_ascii_uppercase()),
            Key::Tab => "Tab".into(),
            Key::BackTab => "Shift-Tab".into(),
            Key::Esc => "Esc".into(),
            Key::Enter => "Enter".into(),
            Key::Backspace => "Bksp".into(),
            Key::Left => "←".into(),
            Key::Right => "→".into(),
        }
    }

    fn of(ev: &KeyEvent) -> Option<Key> {
        match ev.code {
            KeyCode::Char(c) if ev.modifiers.contains(KeyModifiers::CONTROL) => {
                Some(Key::Ctrl(c.to_ascii_lowercase()))
            }
            KeyCode::Char(c) => Some(Key::Char(c)),
            KeyCode::Tab => Some(Key::Tab),
            KeyCode::BackTab => Some(Key::BackTab),
            KeyCode::Esc => Some(Key::Esc),
            KeyCode::Enter => Some(Key::Enter),
            KeyCode::Backspace => Some(Key::Backspace),
            KeyCode::Left => Some(Key::Left),
            KeyCode::Right => Some(Key::Right),
            _ => None,
        }
    }
}

/// One row of the keymap: key, action, and what the help overlay says.
pub struct Binding {
    pub key: Key,
    pub action: Action,
    pub help: &'static str,
    /// Shown in the footer when there is room.
    pub hint: Option<&'static str>,
}

const fn b(key: Key, action: Action, help: &'static str, hint: Option<&'static str>) -> Binding {
    Binding {
        key,
        action,
        help,
        hint,
    }
}

/// Run control, for a live run.
const RUN: &[Binding] = &[
    b(
        Key::Char(' '),
        Action::TogglePause,
        "pause / resume sending",
        Some("pause"),
    ),
    b(
        Key::Char('+'),
        Action::Nudge(0.10),
        "rate (or concurrency) up 10%",
        Some("rate"),
    ),
    b(
        Key::Char('-'),
        Action::Nudge(-0.10),
        "rate (or concurrency) down 10%",
        None,
    ),
    b(Key::Char(']'), Action::Nudge(0.01), "rate up 1%", None),
    b(Key::Char('['), Action::Nudge(-0.01), "rate down 1%", None),
    b(
        Key::Char('='),
        Action::EditLevel,
        "type an exact rate, Enter to apply",
        Some("set"),
    ),
    b(
        Key::Char('r'),
        Action::RouteMenu,
        "route actions menu",
        Some("routes"),
    ),
    b(
        Key::Char('m'),
        Action::StartMarker,
        "drop a named marker on the charts",
        Some("mark"),
    ),
    b(
        Key::Char('f'),
        Action::ToggleSearch,
        "find capacity from here (f again stops)",
        None,
    ),
    b(
        Key::Char('l'),
        Action::ToggleLog,
        "show / hide the log pane",
        None,
    ),
];

/// Playback, for `rampdeck replay`.
const PLAYBACK: &[Binding] = &[
    b(
        Key::Char(' '),
        Action::PlayPause,
        "play / pause",
        Some("play"),
    ),
    b(
        Key::Right,
        Action::Step(true),
        "step one interval forward",
        Some("step"),
    ),
    b(
        Key::Left,
        Action::Step(false),
        "step one interval back",
        None,
    ),
    b(
        Key::Char('+'),
        Action::Faster(true),
        "faster (up to 16x)",
        Some("speed"),
    ),
    b(
        Key::Char('-'),
        Action::Faster(false),
        "slower (down to 1x)",
        None,
    ),
    b(
        Key::Char('n'),
        Action::NextEvent,
        "jump to the next event",
        Some("next event"),
    ),
];

/// What the charts and panes show; the same live and in a replay.
const VIEW: &[Binding] = &[
    b(
        Key::Char('v'),
        Action::ToggleLatencyView,
        "latency: corrected / service time",
        Some("view"),
    ),
    b(
        Key::Char('e'),
        Action::CycleLatencyScope,
        "latency legend: interval / level / run",
        None,
    ),
    b(
        Key::Char('s'),
        Action::ToggleLatencyScale,
        "latency chart: linear / log scale (after a stall)",
        None,
    ),
    b(
        Key::Char('w'),
        Action::CycleWindow,
        "chart window: 1m, 5m, 15m, all",
        Some("window"),
    ),
    b(
        Key::Char('z'),
        Action::ToggleZoom,
        "zoom the focused pane",
        Some("zoom"),
    ),
    b(Key::Tab, Action::FocusNext, "focus the next pane", None),
    b(
        Key::BackTab,
        Action::FocusPrev,
        "focus the previous pane",
        None,
    ),
    b(
        Key::Char('?'),
        Action::ToggleHelp,
        "this help",
        Some("help"),
    ),
    b(Key::Esc, Action::Dismiss, "close zoom or overlay", None),
];

const QUIT_RUN: &[Binding] = &[
    b(
        Key::Char('q'),
        Action::Quit,
        "quit (press twice within 2 s)",
        Some("quit"),
    ),
    b(Key::Ctrl('c'), Action::AskQuit, "quit (asks first)", None),
];

const QUIT_REPLAY: &[Binding] = &[
    b(Key::Char('q'), Action::Quit, "quit", Some("quit")),
    b(Key::Ctrl('c'), Action::Quit, "quit", None),
];

const TEXT: &[Binding] = &[
    b(Key::Enter, Action::Submit, "apply", Some("apply")),
    b(Key::Esc, Action::Cancel, "cancel", Some("cancel")),
    b(
        Key::Backspace,
        Action::Backspace,
        "delete a character",
        None,
    ),
    b(Key::Ctrl('c'), Action::Cancel, "cancel", None),
];

const CONFIRM: &[Binding] = &[
    b(
        Key::Char('y'),
        Action::Confirm,
        "stop the run and quit",
        Some("yes, quit"),
    ),
    b(Key::Char('n'), Action::Cancel, "keep running", Some("no")),
    b(Key::Esc, Action::Cancel, "keep running", None),
];

/// The route menu: a digit fires the action bound to it.
const ROUTE_MENU: &[Binding] = &[
    b(
        Key::Char('1'),
        Action::FireRoute(1),
        "fire route action 1",
        Some("…9 fire"),
    ),
    b(
        Key::Char('2'),
        Action::FireRoute(2),
        "fire route action 2",
        None,
    ),
    b(
        Key::Char('3'),
        Action::FireRoute(3),
        "fire route action 3",
        None,
    ),
    b(
        Key::Char('4'),
        Action::FireRoute(4),
        "fire route action 4",
        None,
    ),
    b(
        Key::Char('5'),
        Action::FireRoute(5),
        "fire route action 5",
        None,
    ),
    b(
        Key::Char('6'),
        Action::FireRoute(6),
        "fire route action 6",
        None,
    ),
    b(
        Key::Char('7'),
        Action::FireRoute(7),
        "fire route action 7",
        None,
    ),
    b(
        Key::Char('8'),
        Action::FireRoute(8),
        "fire route action 8",
        None,
    ),
    b(
        Key::Char('9'),
        Action::FireRoute(9),
        "fire route action 9",
        None,
    ),
];

const OVERLAY: &[Binding] = &[
    b(Key::Esc, Action::Dismiss, "close", Some("close")),
    b(Key::Char('?'), Action::Dismiss, "close", None),
    b(Key::Char('q'), Action::Dismiss, "close", None),
    b(Key::Char('r'), Action::Dismiss, "close", None),
];

/// A scenario's console: its only key leaves (stopping it first if it runs).
pub const SCENARIO: &[Binding] = &[
    b(
        Key::Char('q'),
        Action::Quit,
        "stop the scenario (its routes are removed first), or leave once it has ended",
        Some("quit"),
    ),
    b(Key::Esc, Action::Quit, "the same as q", None),
    b(Key::Ctrl('c'), Action::Quit, "the same as q", None),
];

/// The action for a key in a scenario's console.
pub fn scenario_action(ev: &KeyEvent) -> Option<Action> {
    let key = Key::of(ev)?;
    SCENARIO.iter().find(|b| b.key == key).map(|b| b.action)
}

/// The keys of `mode`, in the order the help and the footer list them.
pub fn bindings(mode: &InputMode) -> Vec<&'static Binding> {
    let tables: &[&'static [Binding]] = match mode {
        InputMode::Normal => &[RUN, VIEW, QUIT_RUN],
        InputMode::Replay => &[PLAYBACK, VIEW, QUIT_REPLAY],
        InputMode::EditLevel(_) | InputMode::Marker(_) => &[TEXT],
        InputMode::ConfirmQuit => &[CONFIRM],
        InputMode::Help => &[OVERLAY],
        InputMode::RouteMenu => &[ROUTE_MENU, OVERLAY],
    };
    tables.iter().flat_map(|t| t.iter()).collect()
}

/// The action for a key in `mode`; text prompts take printable characters as input.
pub fn action(mode: &InputMode, ev: &KeyEvent) -> Option<Action> {
    let key = Key::of(ev)?;
    if let Some(found) = bindings(mode).into_iter().find(|b| b.key == key) {
        return Some(found.action);
    }
    match (mode, key) {
        (InputMode::EditLevel(_) | InputMode::Marker(_), Key::Char(c)) => Some(Action::Input(c)),
        _ => None,
    }
}
