//! The live view: the run session in the background, the console in front, the summary after.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::engine;
use crate::headless::Options;
use crate::report::summary::{ReportError, Summary};
use crate::session::{RunSession, SessionError, View};
use crate::spec::plan::Plan;
use crate::stats::summary::RunState;
use crate::ui::console::{self, ConsoleError, ConsoleOptions, LogPane};
use crate::ui::theme::Theme;
use rampdeck_base::fmt::fmt_dur;

#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    #[error(transparent)]
    Session(#[from] SessionError),
    #[error(transparent)]
    Report(#[from] ReportError),
    /// The console failed or panicked; the run was stopped and its summary delivered.
    #[error(transparent)]
    Console(#[from] ConsoleError),
    #[error(transparent)]
    Setup(#[from] crate::setup::SetupError),
}

/// Runs `plan` with the console open; after the operator quits (or the
/// console fails) the run is stopped and its summary printed and written.
pub async fn run(
    plan: Arc<Plan>,
    opts: &Options,
    fps: u32,
    signals: crate::signals::StopSignals,
) -> Result<Summary, LiveError> {
    let steer_plan = plan.clone();
    run_with(plan, opts, fps, signals, move |s| {
        // `f` starts a capacity search from the current level.
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let view = crate::find::steer::Steer::new(&steer_plan, LogPane, rx, s.control());
        (view, Some(tx))
    })
    .await
    .map(|(summary, _)| summary)
}

/// `run`, with the session followed by the view `make_view` builds for it
/// (a capacity search steers the run this way) and, if it takes them, the
/// sender of the console's `f` presses; returns the view too.
pub async fn run_with<V: View>(
    plan: Arc<Plan>,
    opts: &Options,
    fps: u32,
    mut signals: crate::signals::StopSignals,
    make_view: impl FnOnce(&RunSession) -> (V, Option<tokio::sync::mpsc::UnboundedSender<()>>),
) -> Result<(Summary, V), LiveError> {
    // `[[setup]]` runs on the terminal before the console opens (its
    // progress stays on screen above it and after it closes); what it
    // applied is removed however the run ends.
    let progress = crate::setup::Progress::stderr();
    let setup = crate::setup::before_run(&plan, &mut signals, &progress).await?;
    let result = console_run(plan, opts, fps, signals, make_view).await;
    if let Some(g) = setup {
        g.finish().await;
    }
    result
}

async fn console_run<V: View>(
    plan: Arc<Plan>,
    opts: &Options,
    fps: u32,
    mut signals: crate::signals::StopSignals,
    make_view: impl FnOnce(&RunSession) -> (V, Option<tokio::sync::mpsc::UnboundedSender<()>>),
) -> Result<(Summary, V), LiveError> {
    console::init_logging();
    let start = crate::engine::StartOptions {
        source: opts.source.clone(),
        ..Default::default()
    };
    let mut session = RunSession::start_with(plan.clone(), opts.out.as_deref(), start).await?;
    session.print = opts.print;
    let control = session.control();
    let exit = Arc::new(AtomicBool::new(false));
    // SIGTERM (and SIGINT from outside the terminal) closes the console,
    // which then stops the run; once it is closed, a signal stops waiting
    // for requests in flight, as in a headless run.
    let console_open = Arc::new(AtomicBool::new(true));
    let signal_task = {
        let (exit, open, control) = (exit.clone(), console_open.clone(), control.clone());
        tokio::spawn(async move {
            while signals.next().await {
                if open.load(Ordering::Relaxed) {
                    exit.store(true, Ordering::Relaxed);
                } else {
                    eprintln!("stopping now: requests still in flight are abandoned");
                    if control.send(engine::Control::Stop).is_err() {
                        return;
                    }
                }
            }
        })
    };
    let (mut view, search) = make_view(&session);
    let ui = {
        let (plan, control, exit, model) =
            (plan.clone(), control.clone(), exit.clone(), session.model());
        let opts = ConsoleOptions {
            fps,
            theme: Theme::from_env(),
            routes: session.route_sender(),
            search,
        };
        std::thread::Builder::new()
            .name("console".into())
            .spawn(move || console::run(plan, model, control, exit, opts))
            .map_err(|e| LiveError::Console(ConsoleError::Terminal(e)))?
    };
    // The session folds events in while the console draws; the console
    // stays up after the run ends, until the operator quits.
    let mut joined = tokio::task::spawn_blocking(move || ui.join());
    let joined = tokio::select! {
        j = &mut joined => j,
        () = session.drive(&mut view) => tokio::select! {
            j = &mut joined => j,
            never = session.follow_probes(&mut view) => match never {},
        },
    };
    console_open.store(false, Ordering::Relaxed);
    let failure = match joined {
        Ok(Ok(Ok(()))) => None,
        Ok(Ok(Err(e))) => Some(e),
        // A panic: ratatui's hook has restored the terminal and the report is printed.
        Ok(Err(_)) | Err(_) => Some(ConsoleError::Crashed),
    };
    if failure.is_some() {
        let _ = control.send(engine::Control::Stop);
    }
    let state = session
        .model()
        .lock()
        .map(|m| m.state)
        .unwrap_or(RunState::Running);
    if state != RunState::Finished {
        eprintln!(
            "stopping the run: waiting up to {} for requests in flight (Ctrl-C to abandon them)",
            fmt_dur(engine::drain_timeout(&plan))
        );
    }
    let summary = session.finish(&mut view).await;
    signal_task.abort();
    let summary = summary?;
    match failure {
        Some(e) => Err(e.into()),
        None => Ok((summary, view)),
    }
}
