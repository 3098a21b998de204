//! Console state and its one `update`: actions in, state changes and engine commands out. No terminal.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::engine::Control;
use crate::spec::plan::{Mode, Plan};
use rampdeck_base::fmt::fmt_level;

/// Everything a key can ask for (see `keymap` for which key does what).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Action {
    TogglePause,
    /// Change the level by this fraction of its current value.
    Nudge(f64),
    EditLevel,
    RouteMenu,
    /// Fire the route action bound to this digit (from the route menu).
    FireRoute(u8),
    StartMarker,
    ToggleLatencyView,
    /// The latency legend: this interval, the level in force so far, the whole run.
    CycleLatencyScope,
    /// The latency chart's y scale: linear / log.
    ToggleLatencyScale,
    CycleWindow,
    ToggleZoom,
    ToggleSearch,
    FocusNext,
    FocusPrev,
    ToggleLog,
    ToggleHelp,
    Dismiss,
    Quit,
    AskQuit,
    Confirm,
    Input(char),
    Backspace,
    Submit,
    Cancel,
    // Replay.
    PlayPause,
    /// One interval forward (true) or back.
    Step(bool),
    /// Faster (true) or slower.
    Faster(bool),
    NextEvent,
}

/// What `update` asks the console loop to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    Engine(Control),
    /// Fire route action `index` (profile order).
    Route(usize),
    /// Start a capacity search from the current level, or stop the one running.
    ToggleSearch,
    Quit,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InputMode {
    Normal,
    /// Playing back a recorded run: playback keys instead of run control.
    Replay,
    Help,
    RouteMenu,
    /// Typing an exact rate or concurrency.
    EditLevel(String),
    /// Typing a marker's name.
    Marker(String),
    ConfirmQuit,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pane {
    Throughput,
    Latency,
    Success,
    ControlPlane,
    Stat,
    Events,
    /// A capacity search's steps against the offered level (only while one runs).
    Capacity,
    /// A distributed run's agents (only when the load comes from agents).
    Agents,
    /// `[delivery]`: the sink's accounting (only with a sink).
    Delivery,
    /// `mode = "connections"`: held connections, in place of the request panes.
    Connections,
}

impl Pane {
    pub const ALL: [Pane; 10] = [
        Pane::Connections,
        Pane::Throughput,
        Pane::Latency,
        Pane::Success,
        Pane::ControlPlane,
        Pane::Stat,
        Pane::Events,
        Pane::Capacity,
        Pane::Agents,
        Pane::Delivery,
    ];

    /// The next pane (`by` = 1) or the previous, over the panes on screen.
    fn step(self, by: isize, shown: Shown) -> Pane {
        let shown: Vec<Pane> = Pane::ALL
            .into_iter()
            .filter(|&p| shown.capacity || p != Pane::Capacity)
            .filter(|&p| shown.agents || p != Pane::Agents)
            .filter(|&p| shown.delivery || p != Pane::Delivery)
            // A connections run shows its pane in place of the request panes.
            .filter(|&p| match p {
                Pane::Connections => shown.connections,
                Pane::Throughput | Pane::Latency | Pane::Success => !shown.connections,
                _ => true,
            })
            .collect();
        let i = shown.iter().position(|&p| p == self).unwrap_or(0) as isize;
        shown[(i + by).rem_euclid(shown.len() as isize) as usize]
    }
}

/// The panes that are on screen only sometimes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Shown {
    /// A capacity search runs.
    pub capacity: bool,
    /// The load comes from agents.
    pub agents: bool,
    /// A `[delivery]` sink runs.
    pub delivery: bool,
    /// A connections run (its pane replaces the request panes).
    pub connections: bool,
}

/// How much history the charts show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChartWindow {
    M1,
    M5,
    M15,
    All,
}

impl ChartWindow {
    pub fn duration(self) -> Option<Duration> {
        match self {
            ChartWindow::M1 => Some(Duration::from_secs(60)),
            ChartWindow::M5 => Some(Duration::from_secs(300)),
            ChartWindow::M15 => Some(Duration::from_secs(900)),
            ChartWindow::All => None,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            ChartWindow::M1 => "1m",
            ChartWindow::M5 => "5m",
            ChartWindow::M15 => "15m",
            ChartWindow::All => "all",
        }
    }

    fn next(self) -> Self {
        match self {
            ChartWindow::M1 => ChartWindow::M5,
            ChartWindow::M5 => ChartWindow::M15,
            ChartWindow::M15 => ChartWindow::All,
            ChartWindow::All => ChartWindow::M1,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LatencyView {
    Corrected,
    Service,
}

/// What the latency pane's legend sums up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LatencyScope {
    /// The latest interval with successes.
    Interval,
    /// The level epoch in force, from its start (`stats::epochs`).
    Level,
    /// Everything after warmup.
    Run,
}

impl LatencyScope {
    pub fn next(self) -> Self {
        match self {
            LatencyScope::Interval => LatencyScope::Level,
            LatencyScope::Level => LatencyScope::Run,
            LatencyScope::Run => LatencyScope::Interval,
        }
    }
}

/// A second `q` within this long quits.
pub const QUIT_WINDOW: Duration = Duration::from_secs(2);

/// What `update` needs to know about the run right now.
#[derive(Debug, Clone, Copy)]
pub struct RunView {
    pub now: Instant,
    /// The current target level (rate or concurrency).
    pub level: f64,
    pub finished: bool,
    pub paused: bool,
}

pub struct App {
    pub plan: Arc<Plan>,
    pub mode: InputMode,
    pub focus: Pane,
    pub zoom: bool,
    pub window: ChartWindow,
    pub latency_view: LatencyView,
    pub latency_scope: LatencyScope,
    pub latency_scale: crate::ui::chart::Scale,
    pub show_log: bool,
    quit_armed: Option<Instant>,
    /// A short message for the footer, and when it was set.
    pub notice: Option<(String, Instant)>,
    markers: u32,
    /// The level last asked for, so quick repeated `+` presses compound
    /// before the engine's next snapshot shows the change.
    pending_level: Option<(f64, Instant)>,
    /// A recorded run is being played back (`rampdeck replay`).
    pub replaying: bool,
    /// Playback position and speed, for the footer.
    pub replay_status: Option<String>,
    /// A capacity search steers the run: its pane is on screen.
    pub capacity: bool,
    /// The load comes from agents: their pane is on screen.
    pub agents: bool,
    /// A `[delivery]` sink runs: its pane is on screen.
    pub delivery: bool,
    /// A connections run: its pane replaces the request panes.
    pub connections: bool,
}

impl App {
    fn shown(&self) -> Shown {
        Shown {
            capacity: self.capacity,
            agents: self.agents,
            delivery: self.delivery,
            connections: self.connections,
        }
    }

    pub fn new(plan: Arc<Plan>) -> Self {
        App {
            focus: if plan.connections.is_some() {
                Pane::Connections
            } else {
                Pane::Throughput
            },
            connections: plan.connections.is_some(),
            plan,
            mode: InputMode::Normal,
            zoom: false,
            window: ChartWindow::M1,
            latency_view: LatencyView::Corrected,
            latency_scope: LatencyScope::Interval,
            latency_scale: crate::ui::chart::Scale::Linear,
            show_log: true,
            quit_armed: None,
            notice: None,
            markers: 0,
            pending_level: None,
            replaying: false,
            replay_status: None,
            capacity: false,
            agents: false,
            delivery: false,
        }
    }

    /// A console for `rampdeck replay`: playback keys, no run control.
    pub fn for_replay(plan: Arc<Plan>) -> Self {
        App {
            mode: InputMode::Replay,
            replaying: true,
            ..App::new(plan)
        }
    }

    fn notify(&mut self, text: impl Into<String>, now: Instant) {
        self.notice = Some((text.into(), now));
    }

    /// The footer notice, while it is fresh.
    pub fn notice_at(&self, now: Instant) -> Option<&str> {
        self.notice
            .as_ref()
            .filter(|(_, at)| now.duration_since(*at) < Duration::from_secs(4))
            .map(|(t, _)| t.as_str())
    }

    pub fn quit_armed_at(&self, now: Instant) -> bool {
        self.quit_armed
            .is_some_and(|t| now.duration_since(t) < QUIT_WINDOW)
    }

    fn set_level(&mut self, level: f64, run: &RunView) -> Vec<Command> {
        // `+` held down never passes the most a profile may ask for.
        let most = match self.plan.load.mode {
            Mode::Open => crate::util::limits::MAX_RATE,
            Mode::Closed => crate::util::limits::MAX_CONNECTIONS as f64,
        };
        let level = level.clamp(0.0, most);
        self.pending_level = Some((level, run.now));
        let unit = self.plan.level_unit();
        self.notify(
            format!("target set to {} {unit}", fmt_level(level)),
            run.now,
        );
        vec![Command::Engine(match self.plan.load.mode {
            Mode::Open => Control::SetRate(level),
            Mode::Closed => Control::SetConcurrency(level.round() as u32),
        })]
    }

    /// The level `+`/`-` start from: the engine's, unless a change we just
    /// asked for has not shown up in a snapshot yet.
    fn base_level(&self, run: &RunView) -> f64 {
        match self.pending_level {
            Some((l, at)) if run.now.duration_since(at) < Duration::from_millis(600) => l,
            _ => run.level,
        }
    }

    pub fn update(&mut self, action: Action, run: &RunView) -> Vec<Command> {
        match (&mut self.mode, action) {
            (InputMode::Normal, Action::TogglePause) => {
                if run.finished {
                    return vec![];
                }
                self.notify(if run.paused { "resuming" } else { "pausing" }, run.now);
                vec![Command::Engine(Control::TogglePause)]
            }
            (InputMode::Normal, Action::Nudge(f)) => {
                if run.finished {
                    return vec![];
                }
                let base = self.base_level(run);
                let next = match self.plan.load.mode {
                    Mode::Open => base * (1.0 + f),
                    // Whole workers, and always at least one step.
                    Mode::Closed => {
                        let step = (base * f).round();
                        let step = if step == 0.0 { f.signum() } else { step };
                        (base + step).max(1.0)
                    }
                };
                self.set_level(next, run)
            }
            (InputMode::Normal, Action::EditLevel) => {
                if !run.finished {
                    self.mode = InputMode::EditLevel(String::new());
                }
                vec![]
            }
            (InputMode::Normal, Action::RouteMenu) => {
                self.mode = InputMode::RouteMenu;
                vec![]
            }
            (InputMode::RouteMenu, Action::FireRoute(digit)) => {
                match crate::routes::runner::keys(&self.plan.routes).get(&digit) {
                    Some(&index) if !run.finished => {
                        self.mode = InputMode::Normal;
                        vec![Command::Route(index)]
                    }
                    // An unbound digit (or a finished run): the menu stays open.
                    _ => vec![],
                }
            }
            (InputMode::Normal, Action::ToggleSearch) if !run.finished => {
                vec![Command::ToggleSearch]
            }
            (InputMode::Normal, Action::StartMarker) => {
                self.mode = InputMode::Marker(String::new());
                vec![]
            }
            (
                InputMode::Replay,
                Action::ToggleLatencyView
                | Action::CycleLatencyScope
                | Action::ToggleLatencyScale
                | Action::CycleWindow
                | Action::ToggleZoom
                | Action::FocusNext
                | Action::FocusPrev,
            ) => {
                self.mode = InputMode::Normal;
                let out = self.update(action, run);
                self.mode = InputMode::Replay;
                out
            }
            (InputMode::Replay, Action::ToggleHelp) => {
                self.mode = InputMode::Help;
                self.replaying = true;
                vec![]
            }
            (InputMode::Replay, Action::Dismiss) => {
                self.zoom = false;
                vec![]
            }
            (InputMode::Replay, Action::Quit) => vec![Command::Quit],
            (InputMode::Normal, Action::ToggleLatencyView) => {
                self.latency_view = match self.latency_view {
                    LatencyView::Corrected => LatencyView::Service,
                    LatencyView::Service => LatencyView::Corrected,
                };
                vec![]
            }
            (InputMode::Normal, Action::CycleLatencyScope) => {
                self.latency_scope = self.latency_scope.next();
                let what = match self.latency_scope {
                    LatencyScope::Interval => "latency legend: the latest interval",
                    LatencyScope::Level => "latency legend: the level in force, since it began",
                    LatencyScope::Run => "latency legend: the whole run after warmup",
                };
                self.notify(what.to_owned(), run.now);
                vec![]
            }
            (InputMode::Normal, Action::ToggleLatencyScale) => {
                use crate::ui::chart::Scale;
                let (next, what) = match self.latency_scale {
                    Scale::Linear => (Scale::Log, "latency chart: log scale"),
                    Scale::Log => (Scale::Linear, "latency chart: linear scale"),
                };
                self.latency_scale = next;
                self.notify(what.to_owned(), run.now);
                vec![]
            }
            (InputMode::Normal, Action::CycleWindow) => {
                self.window = self.window.next();
                self.notify(format!("chart window {}", self.window.label()), run.now);
                vec![]
            }
            (InputMode::Normal, Action::ToggleZoom) => {
                self.zoom = !self.zoom;
                vec![]
            }
            (InputMode::Normal, Action::FocusNext) => {
                self.focus = self.focus.step(1, self.shown());
                vec![]
            }
            (InputMode::Normal, Action::FocusPrev) => {
                self.focus = self.focus.step(-1, self.shown());
                vec![]
            }
            (InputMode::Normal, Action::ToggleLog) => {
                self.show_log = !self.show_log;
                vec![]
            }
            (InputMode::Normal, Action::ToggleHelp) => {
                self.mode = InputMode::Help;
                vec![]
            }
            (InputMode::Normal, Action::Dismiss) => {
                self.zoom = false;
                vec![]
            }
            (InputMode::Normal, Action::Quit) => {
                if run.finished || self.quit_armed_at(run.now) {
                    return vec![Command::Quit];
                }
                self.quit_armed = Some(run.now);
                self.notify("press q again within 2 s to stop the run and quit", run.now);
                vec![]
            }
            (InputMode::Normal, Action::AskQuit) => {
                if run.finished {
                    return vec![Command::Quit];
                }
                self.mode = InputMode::ConfirmQuit;
                vec![]
            }
            (InputMode::ConfirmQuit, Action::Confirm) => vec![Command::Quit],
            (InputMode::EditLevel(text) | InputMode::Marker(text), Action::Input(c)) => {
                if text.chars().count() < 40 {
                    text.push(c);
                }
                vec![]
            }
            (InputMode::EditLevel(text) | InputMode::Marker(text), Action::Backspace) => {
                text.pop();
                vec![]
            }
            (InputMode::EditLevel(text), Action::Submit) => {
                let text = text.trim().to_owned();
                match text.parse::<f64>() {
                    Ok(v)
                        if v.is_finite()
                            && v >= 0.0
                            && (self.plan.load.mode == Mode::Open || v.fract() == 0.0) =>
                    {
                        self.mode = InputMode::Normal;
                        self.set_level(v, run)
                    }
                    _ => {
                        let want = match self.plan.load.mode {
                            Mode::Open => "a rate in requests per second, e.g. 250 or 12.5",
                            Mode::Closed => "a whole number of requests in flight, e.g. 20",
                        };
                        self.notify(format!("'{text}' is not {want}"), run.now);
                        vec![]
                    }
                }
            }
            (InputMode::Marker(text), Action::Submit) => {
                self.markers += 1;
                let name = match text.trim() {
                    "" => format!("mark {}", self.markers),
                    t => t.to_owned(),
                };
                self.mode = InputMode::Normal;
                self.notify(format!("marker '{name}' dropped"), run.now);
                vec![Command::Engine(Control::Marker(name))]
            }
            (_, Action::Cancel | Action::Dismiss) => {
                self.mode = if self.replaying {
                    InputMode::Replay
                } else {
                    InputMode::Normal
                };
                vec![]
            }
            _ => vec![],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ui::keymap;
    use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

    fn app(profile: &str) -> App {
        let text = format!(
            "[target]\nurl = \"http://127.0.0.1:8080\"\n[load]\n{profile}\nduration = \"60s\"\n"
        );
        App::new(Arc::new(crate::profile::parse("t.toml", &text).unwrap()))
    }

    fn run(now: Instant, level: f64) -> RunView {
        RunView {
            now,
            level,
            finished: false,
            paused: false,
        }
    }

    /// Presses `code` (with `mods`) and returns the commands.
    fn press(app: &mut App, code: KeyCode, mods: KeyModifiers, run: &RunView) -> Vec<Command> {
        let action = keymap::action(&app.mode, &KeyEvent::new(code, mods)).expect("key is bound");
        app.update(action, run)
    }

    fn key(app: &mut App, c: char, run: &RunView) -> Vec<Command> {
        press(app, KeyCode::Char(c), KeyModifiers::NONE, run)
    }

    fn rate(cmds: &[Command]) -> f64 {
        match cmds {
            [Command::Engine(Control::SetRate(r))] => *r,
            other => panic!("expected one SetRate, got {other:?}"),
        }
    }

    #[test]
    fn space_pauses_and_resumes() {
        let mut a = app("rate = 100");
        let now = Instant::now();
        assert_eq!(
            key(&mut a, ' ', &run(now, 100.0)),
            vec![Command::Engine(Control::TogglePause)]
        );
        let finished = RunView {
            finished: true,
            ..run(now, 100.0)
        };
        assert!(
            key(&mut a, ' ', &finished).is_empty(),
            "nothing to pause after the end"
        );
    }

    #[test]
    fn plus_minus_and_brackets_step_the_rate() {
        let mut a = app("rate = 100");
        let t0 = Instant::now();
        let close = |a: f64, b: f64| (a - b).abs() < 1e-9;
        assert!(close(rate(&key(&mut a, '+', &run(t0, 100.0))), 110.0));
        // Pressed again before a snapshot shows 110: compounds from 110.
        assert!(close(
            rate(&key(
                &mut a,
                '+',
                &run(t0 + Duration::from_millis(100), 100.0)
            )),
            121.0
        ));
        let later = t0 + Duration::from_secs(2);
        assert!(close(rate(&key(&mut a, '-', &run(later, 200.0))), 180.0));
        let later = later + Duration::from_secs(2);
        assert!(close(rate(&key(&mut a, ']', &run(later, 200.0))), 202.0));
        let later = later + Duration::from_secs(2);
        assert!(close(rate(&key(&mut a, '[', &run(later, 200.0))), 198.0));
    }

    #[test]
    fn closed_loop_steps_whole_workers() {
        let mut a = app("concurrency = 5");
        let t0 = Instant::now();
        assert_eq!(
            key(&mut a, ']', &run(t0, 5.0)),
            vec![Command::Engine(Control::SetConcurrency(6))]
        );
        let t1 = t0 + Duration::from_secs(1);
        assert_eq!(
            key(&mut a, '-', &run(t1, 50.0)),
            vec![Command::Engine(Control::SetConcurrency(45))]
        );
    }

    #[test]
    fn equals_takes_an_exact_rate() {
        let mut a = app("rate = 100");
        let r = run(Instant::now(), 100.0);
        assert!(key(&mut a, '=', &r).is_empty());
        assert_eq!(a.mode, InputMode::EditLevel(String::new()));
        for c in "2x".chars() {
            key(&mut a, c, &r);
        }
        assert!(
            press(&mut a, KeyCode::Enter, KeyModifiers::NONE, &r).is_empty(),
            "'2x' is not a rate"
        );
        assert!(a.notice_at(r.now).is_some_and(|n| n.contains("not a rate")));
        press(&mut a, KeyCode::Backspace, KeyModifiers::NONE, &r);
        key(&mut a, '5', &r);
        key(&mut a, '0', &r);
        assert_eq!(
            rate(&press(&mut a, KeyCode::Enter, KeyModifiers::NONE, &r)),
            250.0
        );
        assert_eq!(a.mode, InputMode::Normal);
        key(&mut a, '=', &r);
        assert!(press(&mut a, KeyCode::Esc, KeyModifiers::NONE, &r).is_empty());
        assert_eq!(a.mode, InputMode::Normal);
    }

    #[test]
    fn m_drops_a_named_or_numbered_marker() {
        let mut a = app("rate = 100");
        let r = run(Instant::now(), 100.0);
        key(&mut a, 'm', &r);
        assert_eq!(
            press(&mut a, KeyCode::Enter, KeyModifiers::NONE, &r),
            vec![Command::Engine(Control::Marker("mark 1".into()))]
        );
        key(&mut a, 'm', &r);
        for c in "deploy v2".chars() {
            key(&mut a, c, &r);
        }
        assert_eq!(
            press(&mut a, KeyCode::Enter, KeyModifiers::NONE, &r),
            vec![Command::Engine(Control::Marker("deploy v2".into()))]
        );
    }

    #[test]
    fn view_keys_change_only_the_view() {
        let mut a = app("rate = 100");
        let r = run(Instant::now(), 100.0);
        assert!(key(&mut a, 'v', &r).is_empty());
        assert_eq!(a.latency_view, LatencyView::Service);
        key(&mut a, 'w', &r);
        assert_eq!(a.window, ChartWindow::M5);
        key(&mut a, 'w', &r);
        key(&mut a, 'w', &r);
        assert_eq!(a.window, ChartWindow::All);
        key(&mut a, 'w', &r);
        assert_eq!(a.window, ChartWindow::M1);
        key(&mut a, 'z', &r);
        assert!(a.zoom);
        press(&mut a, KeyCode::Esc, KeyModifiers::NONE, &r);
        assert!(!a.zoom);
        press(&mut a, KeyCode::Tab, KeyModifiers::NONE, &r);
        assert_eq!(a.focus, Pane::Latency);
        press(&mut a, KeyCode::BackTab, KeyModifiers::SHIFT, &r);
        press(&mut a, KeyCode::BackTab, KeyModifiers::SHIFT, &r);
        assert_eq!(a.focus, Pane::Events);
        key(&mut a, 'l', &r);
        assert!(!a.show_log);
        key(&mut a, '?', &r);
        assert_eq!(a.mode, InputMode::Help);
        key(&mut a, '?', &r);
        assert_eq!(a.mode, InputMode::Normal);
        key(&mut a, 'r', &r);
        assert_eq!(a.mode, InputMode::RouteMenu);
        press(&mut a, KeyCode::Esc, KeyModifiers::NONE, &r);
        assert_eq!(a.mode, InputMode::Normal);
    }

    #[test]
    fn one_stray_key_does_not_quit() {
        let mut a = app("rate = 100");
        let t0 = Instant::now();
        assert!(key(&mut a, 'q', &run(t0, 1.0)).is_empty());
        assert_eq!(
            key(&mut a, 'q', &run(t0 + Duration::from_millis(1500), 1.0)),
            vec![Command::Quit]
        );
        let mut a = app("rate = 100");
        assert!(key(&mut a, 'q', &run(t0, 1.0)).is_empty());
        assert!(
            key(&mut a, 'q', &run(t0 + Duration::from_secs(3), 1.0)).is_empty(),
            "too late: arms again"
        );
        // Ctrl-C asks; n keeps running, y quits.
        let r = run(t0, 1.0);
        assert!(press(&mut a, KeyCode::Char('c'), KeyModifiers::CONTROL, &r).is_empty());
        assert_eq!(a.mode, InputMode::ConfirmQuit);
        assert!(key(&mut a, 'n', &r).is_empty());
        press(&mut a, KeyCode::Char('c'), KeyModifiers::CONTROL, &r);
        assert_eq!(key(&mut a, 'y', &r), vec![Command::Quit]);
        // After the run has finished, q quits at once.
        let mut a = app("rate = 100");
        assert_eq!(
            key(
                &mut a,
                'q',
                &RunView {
                    finished: true,
                    ..r
                }
            ),
            vec![Command::Quit]
        );
    }
}
