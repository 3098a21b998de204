//! The headless view: progress lines on stderr, the summary on stdout, `summary.json` with `--out`.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use crate::engine::{self, Control, EngineError, EngineEvent};
use crate::profile::plan::{fmt_dur, fmt_level};
use crate::profile::Plan;
use crate::report::summary::{ReportError, Summary};
use crate::run::log::RunLog;
use crate::run::RunModel;
use crate::stats::summary::RunState;
use crate::stats::IntervalStats;

#[derive(Debug, thiserror::Error)]
pub enum HeadlessError {
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error(transparent)]
    Probes(#[from] crate::probes::ProbeError),
    #[error(transparent)]
    Report(#[from] ReportError),
}

#[derive(Debug, Clone, Default)]
pub struct Options {
    pub out: Option<PathBuf>,
}

/// Runs `plan` to the end (or until Ctrl-C / SIGTERM) and reports it.
/// `signals` were installed when the command started, so a stop that came
/// before the engine did still ends in a (possibly empty) summary.
pub async fn run(
    plan: Arc<Plan>,
    opts: &Options,
    signals: crate::signals::StopSignals,
) -> Result<Summary, HeadlessError> {
    let mut handle = engine::start(plan.clone()).await?;
    let started_at = handle.started_at;
    let mut log = open_log(&plan, opts, started_at);
    let mut probes = crate::probes::start(&plan.probes, handle.started)?;
    let mut routes = crate::routes::start_for(
        &plan,
        handle.started,
        Some(handle.clock.clone()),
        probes.sender(),
    );
    let signals = tokio::spawn(forward_signals(handle.control.clone(), signals));
    let mut model = RunModel::for_plan(&plan);
    let mut watch = crate::report::thresholds::Watch::new(
        plan.thresholds.clone(),
        plan.load.mode == crate::profile::Mode::Open,
    );
    let mut next_progress = Duration::from_secs(1);
    let total = plan.load.duration();
    let mut err = std::io::stderr();
    loop {
        let ev = tokio::select! {
            ev = handle.events.recv() => match ev {
                Some(ev) => ev,
                None => break,
            },
            Some(pe) = probes.events.recv() => {
                print_probe_state(&pe, &mut err);
                write_log(&mut log, |l| l.probe(&pe));
                model.apply_probe(pe);
                continue;
            }
        };
        match &ev {
            EngineEvent::Interval(s) => write_log(&mut log, |l| l.interval(s)),
            EngineEvent::Event(e) => write_log(&mut log, |l| l.event(e)),
        }
        match &ev {
            EngineEvent::Event(e) => {
                let _ = writeln!(
                    err,
                    "[{:>7.1}s] {}",
                    e.at.as_secs_f64(),
                    crate::util::text::sanitize(&e.message)
                );
            }
            EngineEvent::Interval(_) => {}
        }
        // Printed once the model has folded the interval into its totals.
        let progress = match &ev {
            EngineEvent::Interval(s) if s.interval.elapsed >= next_progress => {
                next_progress += Duration::from_secs(1);
                Some(s.interval.clone())
            }
            _ => None,
        };
        let interval = matches!(ev, EngineEvent::Interval(_));
        for e in model.apply(ev) {
            let _ = writeln!(
                err,
                "[{:>7.1}s] {}",
                e.at.as_secs_f64(),
                crate::util::text::sanitize(&e.message)
            );
            write_log(&mut log, |l| l.event(&e));
        }
        if let Some(last) = progress {
            let _ = writeln!(err, "{}", progress_line(&plan, &model, &last, total));
        }
        if interval {
            let changes = watch.update(&mut model);
            for (breach, text) in &changes {
                let at = model.last().map_or(0.0, |i| i.elapsed.as_secs_f64());
                let what = if *breach {
                    "threshold breached"
                } else {
                    "threshold holds again"
                };
                let _ = writeln!(err, "[{at:>7.1}s] {what}: {text}");
            }
            for e in model.threshold_changes(changes) {
                write_log(&mut log, |l| l.event(&e));
            }
        }
    }
    routes.stop().await;
    probes.stop().await;
    while let Ok(pe) = probes.events.try_recv() {
        print_probe_state(&pe, &mut err);
        write_log(&mut log, |l| l.probe(&pe));
        model.apply_probe(pe);
    }
    for e in model.finish_routes() {
        let _ = writeln!(
            err,
            "[{:>7.1}s] {}",
            e.at.as_secs_f64(),
            crate::util::text::sanitize(&e.message)
        );
        write_log(&mut log, |l| l.event(&e));
    }
    signals.abort();
    let result = match handle.task.await {
        Ok(r) => r,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    };
    let summary = Summary::new(&plan, &result, &model, started_at);
    close_log(log, &summary);
    crate::report::deliver(&summary, opts.out.as_deref())?;
    Ok(summary)
}

/// Opens `run.jsonl` and `latency.hlog` under `--out`. A log that cannot be
/// written never stops the run: it is reported and the run goes on without it.
pub fn open_log(plan: &Plan, opts: &Options, started_at: std::time::SystemTime) -> Option<RunLog> {
    let dir = opts.out.as_deref()?;
    let env = crate::run::env::Environment::capture(plan, started_at);
    RunLog::create(dir, plan, &env, started_at)
        .map_err(|e| eprintln!("warning: {e}; the run goes on without a run log"))
        .ok()
}

/// Writes one record; on failure, says so once and stops logging.
pub fn write_log(
    log: &mut Option<RunLog>,
    f: impl FnOnce(&mut RunLog) -> Result<(), crate::run::log::RunLogError>,
) {
    if let Some(l) = log.as_mut() {
        if let Err(e) = f(l) {
            eprintln!("warning: {e}; the run goes on without a run log");
            *log = None;
        }
    }
}

pub fn close_log(log: Option<RunLog>, summary: &Summary) {
    if let Some(l) = log {
        if let Err(e) = l.summary(summary) {
            eprintln!("warning: {e}");
        }
    }
}

fn print_probe_state(pe: &crate::probes::ProbeEvent, err: &mut impl Write) {
    use crate::probes::ProbeEvent;
    match pe {
        ProbeEvent::State { name, at, problem } => {
            let _ = match problem {
                Some(p) => writeln!(
                    err,
                    "[{:>7.1}s] {name} failing: {}",
                    at.as_secs_f64(),
                    crate::util::text::sanitize(p)
                ),
                None => writeln!(err, "[{:>7.1}s] {name} ok again", at.as_secs_f64()),
            };
        }
        ProbeEvent::Route(r) => {
            let _ = writeln!(
                err,
                "[{:>7.1}s] {}",
                pe.at().as_secs_f64(),
                crate::util::text::sanitize(&r.message())
            );
        }
        _ => {}
    }
}

/// First Ctrl-C or SIGTERM stops the run (the summary is still written);
/// a second one also stops waiting for requests in flight.
pub async fn forward_signals(
    control: mpsc::UnboundedSender<Control>,
    mut signals: crate::signals::StopSignals,
) {
    let mut first = true;
    while signals.next().await {
        if first {
            eprintln!("stopping: the summary will still be written (signal again to stop waiting for requests in flight)");
        } else {
            eprintln!("stopping now: requests still in flight are abandoned");
        }
        first = false;
        if control.send(Control::Stop).is_err() {
            return;
        }
    }
}

fn progress_line(plan: &Plan, model: &RunModel, last: &IntervalStats, total: Duration) -> String {
    let totals = &model.totals;
    let recent = model.recent(Duration::from_secs(1));
    // Numbered as the events number them: "stage 1/3".
    let n = plan.load.stages.len();
    let stage = plan
        .load
        .stages
        .get(last.stage)
        .map_or_else(String::new, |s| {
            format!("stage {}/{n} {:?}", last.stage + 1, s.kind).to_lowercase()
        });
    // Once the schedule is over there is no target, only the drain.
    let target = match last.state {
        RunState::Running | RunState::Paused if last.run_clock < total => {
            format!(
                "target {} {}",
                fmt_level(last.target),
                plan.load.mode.unit()
            )
        }
        _ => "schedule done".to_owned(),
    };
    let errors = totals.requests - totals.ok;
    // During warmup nothing is counted yet, so show the interval's own numbers.
    let (p50, p99, scope) = if totals.requests > 0 {
        (totals.latency.p50, totals.latency.p99, "so far")
    } else {
        (last.latency.p50, last.latency.p99, "interval")
    };
    format!(
        "[{:>6.1}s/{}] {}{} | {target} | sent {:.1}/s done {:.1}/s | p50 {:.2}ms p99 {:.2}ms ({scope}; now p99 {:.2}ms) | ok {} | errors {}{}",
        last.run_clock.as_secs_f64(),
        fmt_dur(total),
        stage,
        if last.warmup { " (warmup)" } else { "" },
        recent.sent_rate(),
        recent.done_rate(),
        p50,
        p99,
        last.latency.p99,
        recent.success_rate().map_or_else(|| "-".into(), |r| format!("{r:.2}%")),
        errors,
        if last.in_flight > 0 { format!(" | in flight {}", last.in_flight) } else { String::new() },
    )
}
