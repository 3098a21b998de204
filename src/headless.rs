//! The headless view: progress lines on stderr, the summary on stdout, `summary.json` with `--out`.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use crate::engine::Control;
use crate::report::summary::{ReportError, Summary};
use crate::run::RunModel;
use crate::session::{Note, RunSession, SessionError, View};
use crate::spec::plan::Plan;
use crate::stats::summary::RunState;
use crate::stats::IntervalStats;
use rampdeck_base::fmt::{fmt_dur, fmt_level};

#[derive(Debug, thiserror::Error)]
pub enum HeadlessError {
    #[error(transparent)]
    Session(#[from] SessionError),
    #[error(transparent)]
    Report(#[from] ReportError),
    #[error(transparent)]
    Setup(#[from] crate::setup::SetupError),
}

#[derive(Debug, Clone, Default)]
pub struct Options {
    pub out: Option<PathBuf>,
    /// What the finished run prints on stdout.
    pub print: crate::report::Print,
    /// The library API's request source (`rampdeck::Plan::source`).
    pub source: Option<crate::engine::source::SourceHandle>,
}

/// Runs `plan` to the end (or until Ctrl-C / SIGTERM) and reports it.
/// `signals` were installed when the command started, so a stop that came
/// before the engine did still ends in a (possibly empty) summary.
pub async fn run(
    plan: Arc<Plan>,
    opts: &Options,
    mut signals: crate::signals::StopSignals,
) -> Result<Summary, HeadlessError> {
    // `[[setup]]` first; what it applied is removed however the run ends.
    let progress = crate::setup::Progress::stderr();
    let setup = crate::setup::before_run(&plan, &mut signals, &progress).await?;
    let result = run_applied(plan, opts, signals).await;
    if let Some(g) = setup {
        g.finish().await;
    }
    result
}

async fn run_applied(
    plan: Arc<Plan>,
    opts: &Options,
    signals: crate::signals::StopSignals,
) -> Result<Summary, HeadlessError> {
    let start = crate::engine::StartOptions {
        source: opts.source.clone(),
        ..Default::default()
    };
    let mut session = RunSession::start_with(plan.clone(), opts.out.as_deref(), start).await?;
    session.print = opts.print;
    let signals = tokio::spawn(forward_signals(session.control(), signals));
    let mut view = Stderr::new(plan);
    session.drive(&mut view).await;
    let summary = session.finish(&mut view).await;
    signals.abort();
    Ok(summary?)
}

/// Prints what happens as one line each on stderr, and a progress line a second.
pub struct Stderr {
    plan: Arc<Plan>,
    next_progress: Duration,
    err: std::io::Stderr,
}

impl Stderr {
    pub fn new(plan: Arc<Plan>) -> Self {
        Stderr {
            plan,
            next_progress: Duration::from_secs(1),
            err: std::io::stderr(),
        }
    }

    fn line(&mut self, at: Duration, text: &str) {
        let _ = writeln!(
            self.err,
            "[{:>7.1}s] {}",
            at.as_secs_f64(),
            crate::util::text::sanitize(text)
        );
    }
}

impl View for Stderr {
    fn note(&mut self, note: &Note, model: &mut RunModel) {
        use crate::probes::ProbeEvent;
        match note {
            Note::Event(e) => self.line(e.at, &e.message),
            Note::Interval(i, _) if i.elapsed >= self.next_progress => {
                self.next_progress += Duration::from_secs(1);
                let total = self.plan.load.duration();
                let line = progress_line(&self.plan, model, i, total);
                let _ = writeln!(self.err, "{line}");
            }
            Note::Interval(..) => {}
            Note::Probe(ProbeEvent::State { name, at, problem }) => match problem {
                Some(p) => self.line(*at, &format!("{name} failing: {p}")),
                None => self.line(*at, &format!("{name} ok again")),
            },
            Note::Route(r) => {
                let at = Duration::try_from_secs_f64(r.applied_at_s.unwrap_or(r.fired_at_s))
                    .unwrap_or_default();
                self.line(at, &r.message());
            }
            Note::Probe(_) => {}
        }
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
            crate::util::text::stderr_line!("stopping: the summary will still be written (signal again to stop waiting for requests in flight)");
        } else {
            crate::util::text::stderr_line!("stopping now: requests still in flight are abandoned");
        }
        first = false;
        if control.send(Control::Stop).is_err() {
            return;
        }
    }
}

/// A connections run's progress: the count held against its target,
/// opens, ends by cause, connect and echo times.
fn connections_line(
    last: &IntervalStats,
    c: &crate::stats::connections::ConnReport,
    stage: String,
    target: String,
) -> String {
    let n = &c.now;
    let secs = last.len.as_secs_f64().max(1e-9);
    let rtt = n.rtt_ms.map_or_else(String::new, |r| {
        format!(" | echo p50 {:.2}ms p99 {:.2}ms", r.p50, r.p99)
    });
    format!(
        "[{:>6.1}s] {stage} | {target} | established {} | opened {:.0}/s failed {} | connect p99 {:.2}ms{rtt} | server closed {} reset {}",
        last.run_clock.as_secs_f64(),
        n.established,
        n.opened as f64 / secs,
        c.run.failed,
        n.tcp_ms.p99,
        c.run.server_closed,
        c.run.resets,
    )
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
            format!("target {} {}", fmt_level(last.target), plan.level_unit())
        }
        _ => "schedule done".to_owned(),
    };
    if let Some(c) = &last.connections {
        return connections_line(last, c, stage, target);
    }
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
    ) + &delivery_part(model)
}

/// `[delivery]`: the sink's accounting so far, for the progress line.
fn delivery_part(model: &RunModel) -> String {
    let Some(d) = &model.delivery else {
        return String::new();
    };
    let recent = model.recent(Duration::from_secs(1));
    format!(
        " | delivered {:.1}/s in transit {} lost {} dup {} unknown {} | e2e p99 {:.1}ms",
        recent.delivered as f64 / recent.secs.max(1e-9),
        d.in_transit,
        d.lost,
        d.duplicates,
        d.unknown,
        d.recent_latency.p99
    )
}
