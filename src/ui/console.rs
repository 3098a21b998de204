//! The terminal loop: raw mode and alternate screen on a thread of its own, input, frames, restore.
//!
//! The UI thread owns the `RunModel` and drains engine events without
//! locking, so drawing can never hold up the engine's runtime. It exits on
//! quit, on SIGTERM, or by panicking; in every case the terminal is restored
//! (ratatui's panic hook runs before color-eyre's report) and the caller
//! still has what it needs to stop the run and write the summary.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::sync::mpsc;

use super::app::{App, Command, RunView};
use super::draw::{draw, DrawContext};
use super::keymap;
use super::terminal::{Flow, Screen};
use super::theme::Theme;
use crate::engine::Control;
use crate::probes::ProbeEvent;
use crate::run::RunModel;
use crate::spec::plan::Plan;
use crate::stats::summary::RunState;

#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    #[error("cannot set up the terminal: {0}")]
    Terminal(std::io::Error),
    #[error("the console stopped unexpectedly (see the report above); the run was stopped")]
    Crashed,
}

pub struct ConsoleOptions {
    pub fps: u32,
    pub theme: Theme,
    /// Fires route actions by index (the route menu's digits).
    pub routes: mpsc::UnboundedSender<usize>,
    /// The `f` key: starts or stops a capacity search.
    pub search: Option<mpsc::UnboundedSender<()>>,
}

/// Runs the console on the calling thread until the operator quits or
/// `exit` is set, drawing `model` (which the run session keeps current).
/// Sends `Stop` to the engine on the way out if it is still running.
pub fn run(
    plan: Arc<Plan>,
    model: Arc<Mutex<RunModel>>,
    control: mpsc::UnboundedSender<Control>,
    exit: Arc<AtomicBool>,
    opts: ConsoleOptions,
) -> Result<(), ConsoleError> {
    let mut screen = Live {
        app: App::new(plan),
        model,
        control,
        exit,
        theme: opts.theme,
        routes: opts.routes,
        search: opts.search,
        // Fault injection for the end-to-end tests: proves a panicking
        // console still restores the terminal and the run's summary is
        // still written.
        panic_after_first_frame: std::env::var_os("RAMPDECK_FAULT")
            .is_some_and(|v| v == "console-panic"),
    };
    super::terminal::run(&mut screen, opts.fps).map_err(ConsoleError::Terminal)?;
    if screen.lock().state != RunState::Finished {
        let _ = screen.control.send(Control::Stop);
    }
    Ok(())
}

/// The live console as a screen of the terminal loop.
struct Live {
    app: App,
    model: Arc<Mutex<RunModel>>,
    control: mpsc::UnboundedSender<Control>,
    exit: Arc<AtomicBool>,
    theme: Theme,
    routes: mpsc::UnboundedSender<usize>,
    search: Option<mpsc::UnboundedSender<()>>,
    panic_after_first_frame: bool,
}

impl Live {
    fn lock(&self) -> std::sync::MutexGuard<'_, RunModel> {
        self.model.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Screen for Live {
    fn update(&mut self, _: Instant) -> Flow {
        if self.exit.load(Ordering::Relaxed) {
            Flow::Leave
        } else {
            Flow::Continue
        }
    }

    fn draw(&mut self, f: &mut ratatui::Frame, now: Instant) {
        let ctx = DrawContext {
            now,
            theme: self.theme,
            live_log: true,
        };
        let (capacity, agents, delivery, connections) = {
            let m = self.lock();
            (
                m.search.is_some(),
                m.agents.is_some(),
                m.delivery.is_some(),
                m.connections.is_some(),
            )
        };
        self.app.capacity = capacity;
        self.app.agents = agents;
        self.app.delivery = delivery;
        if connections && !self.app.connections {
            // A replayed connections run: its pane, focused.
            self.app.connections = true;
            self.app.focus = crate::ui::app::Pane::Connections;
        }
        let m = self.model.lock().unwrap_or_else(|e| e.into_inner());
        draw(f, &self.app, &m, &ctx);
        if self.panic_after_first_frame && m.last().is_some() {
            drop(m);
            panic!("RAMPDECK_FAULT=console-panic: injected console failure");
        }
    }

    fn key(&mut self, key: &crossterm::event::KeyEvent) -> Flow {
        let Some(action) = keymap::action(&self.app.mode, key) else {
            return Flow::Continue;
        };
        let run = {
            let m = self.lock();
            RunView {
                now: Instant::now(),
                level: m.level,
                finished: m.state == RunState::Finished,
                paused: m.state == RunState::Paused,
            }
        };
        let mut flow = Flow::Continue;
        for cmd in self.app.update(action, &run) {
            match cmd {
                Command::Engine(c) => {
                    let _ = self.control.send(c);
                }
                Command::Route(i) => {
                    let _ = self.routes.send(i);
                }
                Command::ToggleSearch => match &self.search {
                    Some(s) => {
                        let _ = s.send(());
                    }
                    None => {
                        self.app.notice = Some((
                            "this console is a capacity search already".into(),
                            Instant::now(),
                        ))
                    }
                },
                Command::Quit => flow = Flow::Leave,
            }
        }
        flow
    }
}

/// The session's view for a console run. The Events pane shows the run's
/// timeline (from the model); the Log pane gets only what is not an event:
/// each stat command and probe run with its outcome (and a failure's last output line),
/// the sources' notes, and a failed route action's full error.
pub struct LogPane;

impl crate::session::View for LogPane {
    fn note(&mut self, note: &crate::session::Note, _: &mut RunModel) {
        use crate::probes::RunOutcome;
        use crate::session::Note;
        match note {
            Note::Probe(ProbeEvent::Run {
                name,
                took,
                outcome,
                output,
                ..
            }) => {
                let last = output.last().map_or(String::new(), |l| format!(" | {l}"));
                let ms = took.as_secs_f64() * 1000.0;
                match outcome {
                    // Its output is in the stat pane; the log keeps it for failures.
                    RunOutcome::Ok => tracing::info!(target: "probe", "{name} {ms:.1} ms ok"),
                    RunOutcome::TimedOut => {
                        tracing::warn!(target: "probe", "{name} timed out after {ms:.0} ms")
                    }
                    RunOutcome::Failed(why) => {
                        tracing::warn!(target: "probe", "{name} failed after {ms:.1} ms: {why}{last}")
                    }
                }
            }
            Note::Probe(ProbeEvent::Resource {
                component,
                note: Some(n),
                ..
            }) => tracing::info!(target: "source", "{component}: {n}"),
            Note::Route(r) => {
                if let Some(e) = &r.error {
                    tracing::warn!(target: "route", "{} #{}: {e}", r.action, r.firing);
                }
            }
            Note::Event(_) | Note::Interval(..) | Note::Probe(_) => {}
        }
    }
}

/// Sends log records to the console's log pane.
pub fn init_logging() {
    use tracing_subscriber::layer::SubscriberExt;
    let _ = tui_logger::init_logger(tui_logger::LevelFilter::Info);
    tui_logger::set_default_level(tui_logger::LevelFilter::Info);
    let subscriber = tracing_subscriber::registry().with(tui_logger::TuiTracingSubscriberLayer);
    let _ = tracing::subscriber::set_global_default(subscriber);
}
