//! The live view: the engine in the background, the console in front, the summary after.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::engine::{self, EngineError};
use tokio::sync::mpsc;

use crate::engine::EngineEvent;
use crate::headless::{close_log, open_log, write_log, Options};
use crate::probes::ProbeEvent;
use crate::profile::plan::fmt_dur;
use crate::profile::Plan;
use crate::report::summary::{ReportError, Summary};
use crate::run::log::RunLog;
use crate::run::RunModel;
use crate::ui::console::{self, ConsoleError, ConsoleOptions};
use crate::ui::theme::Theme;

#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error(transparent)]
    Report(#[from] ReportError),
    #[error(transparent)]
    Probes(#[from] crate::probes::ProbeError),
    /// The console failed or panicked; the run was stopped and its summary delivered.
    #[error(transparent)]
    Console(#[from] ConsoleError),
}

/// Runs `plan` with the console open; after the operator quits (or the
/// console fails) the run is stopped and its summary printed and written.
pub async fn run(
    plan: Arc<Plan>,
    opts: &Options,
    fps: u32,
    mut signals: crate::signals::StopSignals,
) -> Result<Summary, LiveError> {
    console::init_logging();
    let handle = engine::start(plan.clone()).await?;
    let started_at = handle.started_at;
    let mut probes = crate::probes::start(&plan.probes, handle.started)?;
    let mut routes = crate::routes::start_for(
        &plan,
        handle.started,
        Some(handle.clock.clone()),
        probes.sender(),
    );
    // With --out, a tee writes the run log and passes events on to the
    // console, which does no file I/O of its own.
    let probe_in = std::mem::replace(&mut probes.events, tokio::sync::mpsc::unbounded_channel().1);
    let (engine_events, probe_events, tee_task) = match open_log(&plan, opts, started_at) {
        Some(log) => {
            let (e, p, task) = tee(handle.events, probe_in, log);
            (e, p, Some(task))
        }
        None => (handle.events, probe_in, None),
    };
    let control = handle.control.clone();
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
    let ui = {
        let (plan, control, exit) = (plan.clone(), control.clone(), exit.clone());
        // The console thread owns the events while it runs and hands them back.
        let events = engine_events;
        let opts = ConsoleOptions {
            fps,
            theme: Theme::from_env(),
            routes: routes.sender(),
        };
        std::thread::Builder::new()
            .name("console".into())
            .spawn(move || console::run(plan, events, probe_events, control, exit, opts))
            .map_err(|e| LiveError::Console(ConsoleError::Terminal(e)))?
    };
    let joined = tokio::task::spawn_blocking(move || ui.join()).await;
    console_open.store(false, Ordering::Relaxed);
    let (mut model, events, failure) = match joined {
        Ok(Ok(Ok(exit))) => {
            probes.events = exit.probe_events;
            (exit.model, Some(exit.events), None)
        }
        Ok(Ok(Err(e))) => (RunModel::for_plan(&plan), None, Some(e)),
        // A panic: ratatui's hook has restored the terminal and the report is printed.
        Ok(Err(_)) | Err(_) => (RunModel::for_plan(&plan), None, Some(ConsoleError::Crashed)),
    };
    if failure.is_some() {
        let _ = control.send(engine::Control::Stop);
    }
    if model.state != crate::stats::summary::RunState::Finished {
        eprintln!(
            "stopping the run: waiting up to {} for requests in flight (Ctrl-C to abandon them)",
            fmt_dur(engine::drain_timeout(&plan))
        );
    }
    if let Some(mut events) = events {
        while let Some(ev) = events.recv().await {
            model.apply(ev);
        }
    }
    routes.stop().await;
    probes.stop().await;
    // Closes once the probe tasks (and the tee, if any) are done.
    while let Some(pe) = probes.events.recv().await {
        model.apply_probe(pe);
    }
    let result = match handle.task.await {
        Ok(r) => r,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    };
    signal_task.abort();
    model.finish_routes();
    let summary = Summary::new(&plan, &result, &model, started_at);
    if let Some(task) = tee_task {
        close_log(task.await.ok().flatten(), &summary);
    }
    crate::report::deliver(&summary, opts.out.as_deref())?;
    match failure {
        Some(e) => Err(e.into()),
        None => Ok(summary),
    }
}

type Tee = (
    mpsc::UnboundedReceiver<EngineEvent>,
    mpsc::UnboundedReceiver<ProbeEvent>,
    tokio::task::JoinHandle<Option<RunLog>>,
);

/// Logs every engine and probe event and forwards it. Logging goes on if the
/// console is gone (a panic), so the log still covers the whole run.
fn tee(
    mut engine_in: mpsc::UnboundedReceiver<EngineEvent>,
    mut probe_in: mpsc::UnboundedReceiver<ProbeEvent>,
    log: RunLog,
) -> Tee {
    let (etx, engine_out) = mpsc::unbounded_channel();
    let (ptx, probe_out) = mpsc::unbounded_channel();
    let task = tokio::spawn(async move {
        let mut log = Some(log);
        let (mut etx, mut ptx) = (Some(etx), Some(ptx));
        loop {
            tokio::select! {
                ev = engine_in.recv(), if etx.is_some() => match ev {
                    Some(ev) => {
                        match &ev {
                            EngineEvent::Interval(s) => write_log(&mut log, |l| l.interval(s)),
                            EngineEvent::Event(e) => write_log(&mut log, |l| l.event(e)),
                        }
                        if let Some(tx) = &etx {
                            let _ = tx.send(ev);
                        }
                    }
                    None => etx = None,
                },
                pe = probe_in.recv(), if ptx.is_some() => match pe {
                    Some(pe) => {
                        write_log(&mut log, |l| l.probe(&pe));
                        if let Some(tx) = &ptx {
                            let _ = tx.send(pe);
                        }
                    }
                    None => ptx = None,
                },
                else => break,
            }
        }
        log
    });
    (engine_out, probe_out, task)
}
