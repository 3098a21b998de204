//! Probes: control-plane CPU and memory, and how responsive stat commands and URLs stay under load.
//!
//! `config` is what the profile asks for; `scrape` and `promql` read
//! resource numbers; `command` and `http` time stat commands and URLs. `start`
//! runs one task per source or probe, each on its own interval, and reports
//! `ProbeEvent`s on a channel, like the engine does. A failing source or
//! probe is a state with a reason, reported once per change; the run goes on.

pub mod command;
pub mod http;
pub mod promql;
pub mod scrape;
pub mod stamp;

pub use stamp::Stamp;

use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;

use crate::spec::probes::{
    HttpProbeConfig, ProbesConfig, SourceConfig, SourceKind, StatConfig, TokenSource,
};
use http::{FetchError, HttpClient};

#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error("probes: {0}")]
    Setup(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProbeKind {
    Stat,
    Http,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(tag = "result", content = "reason", rename_all = "snake_case")]
pub enum RunOutcome {
    Ok,
    Failed(String),
    TimedOut,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ProbeEvent {
    /// One reading of a component's resources; either number may be missing.
    Resource {
        component: String,
        at: Duration,
        cpu_cores: Option<f64>,
        memory_bytes: Option<f64>,
        /// How long the scrape or query took.
        took: Duration,
        /// e.g. "memory: summed 3 series".
        note: Option<String>,
    },
    /// One timed run of a stat command or HTTP probe.
    Run {
        name: String,
        kind: ProbeKind,
        at: Duration,
        took: Duration,
        outcome: RunOutcome,
        output: Vec<String>,
    },
    /// A source or probe started failing (with the reason) or recovered (None).
    State {
        name: String,
        at: Duration,
        problem: Option<String>,
    },
}

impl ProbeEvent {
    /// When it happened, since the run started.
    pub fn at(&self) -> Duration {
        match self {
            ProbeEvent::Resource { at, .. }
            | ProbeEvent::Run { at, .. }
            | ProbeEvent::State { at, .. } => *at,
        }
    }
}

pub struct Probes {
    pub events: mpsc::UnboundedReceiver<ProbeEvent>,
    tasks: JoinSet<()>,
    cancel: CancellationToken,
}

impl Probes {
    /// Stops every probe task and waits for them (a stat command in flight is killed).
    pub async fn stop(&mut self) {
        self.cancel.cancel();
        while self.tasks.join_next().await.is_some() {}
    }
}

/// Reports state changes only: a probe failing every 2 s logs once.
struct StateTracker {
    name: String,
    problem: Option<Option<String>>,
    stamp: Stamp,
}

impl StateTracker {
    fn new(name: &str, stamp: Stamp) -> Self {
        StateTracker {
            name: name.to_owned(),
            problem: None,
            stamp,
        }
    }

    fn set(&mut self, problem: Option<String>, tx: &mpsc::UnboundedSender<ProbeEvent>) {
        // Problems quote what servers and commands said: keep them printable.
        let problem = problem.map(|p| crate::util::text::sanitized(&p));
        // The first healthy reading is not news; the first failure is.
        let changed = match &self.problem {
            None => problem.is_some(),
            Some(old) => *old != problem,
        };
        if changed {
            let _ = tx.send(ProbeEvent::State {
                name: self.name.clone(),
                at: self.stamp.now(),
                problem: problem.clone(),
            });
        }
        self.problem = Some(problem);
    }
}

/// Starts every configured probe. `stamp` follows the run's clock, so probe
/// times line up with the engine's.
pub fn start(cfg: &ProbesConfig, stamp: Stamp) -> Result<Probes, ProbeError> {
    let (tx, events) = mpsc::unbounded_channel();
    let cancel = CancellationToken::new();
    let mut tasks = JoinSet::new();
    let client = if cfg.sources.is_empty() && cfg.probes.is_empty() {
        None
    } else {
        Some(HttpClient::new().map_err(ProbeError::Setup)?)
    };
    let ctx = |name: &str| Ctx {
        tx: tx.clone(),
        state: StateTracker::new(name, stamp.clone()),
    };
    if let Some(client) = client {
        for s in &cfg.sources {
            let step = SourceStep {
                ctx: ctx(&s.name),
                cfg: s.clone(),
                client: client.clone(),
                cpu: scrape::CounterRate::default(),
            };
            tasks.spawn(repeat(step, s.interval, stamp.clone(), cancel.clone()));
        }
        for p in &cfg.probes {
            let step = HttpStep {
                ctx: ctx(&p.name),
                cfg: p.clone(),
                client: client.clone(),
            };
            tasks.spawn(repeat(step, p.interval, stamp.clone(), cancel.clone()));
        }
    }
    for s in &cfg.stats {
        tasks.spawn(repeat(
            StatStep {
                ctx: ctx(&s.name),
                cfg: s.clone(),
            },
            s.interval,
            stamp.clone(),
            cancel.clone(),
        ));
    }
    Ok(Probes {
        events,
        tasks,
        cancel,
    })
}

/// One reading or run of a probe; `repeat` decides when.
trait Step: Send + 'static {
    /// `at` on the run clock (what is reported); `wall` since the start
    /// (what a counter's rate is taken over: a pause stops the run clock,
    /// not the control plane).
    fn run(&mut self, at: Duration, wall: Duration)
        -> impl std::future::Future<Output = ()> + Send;
}

/// What every probe task reports through.
struct Ctx {
    tx: mpsc::UnboundedSender<ProbeEvent>,
    state: StateTracker,
}

/// Runs `step` every `interval` until cancelled. A step in progress is
/// dropped on cancel (a stat command's process group is killed with it);
/// a step slower than its interval runs back to back, never in a burst.
async fn repeat<S: Step>(mut step: S, interval: Duration, stamp: Stamp, cancel: CancellationToken) {
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tick.tick() => {}
        }
        let (at, wall) = (stamp.now(), stamp.elapsed());
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = step.run(at, wall) => {}
        }
    }
}

struct SourceStep {
    ctx: Ctx,
    cfg: SourceConfig,
    client: HttpClient,
    cpu: scrape::CounterRate,
}

impl Step for SourceStep {
    async fn run(&mut self, at: Duration, wall: Duration) {
        let t0 = Instant::now();
        let reading = read_source(&self.cfg, &self.client, &mut self.cpu, wall).await;
        let took = t0.elapsed();
        match reading {
            Ok(r) => {
                let _ = self.ctx.tx.send(ProbeEvent::Resource {
                    component: self.cfg.name.clone(),
                    at,
                    cpu_cores: r.cpu,
                    memory_bytes: r.memory,
                    took,
                    note: (!r.notes.is_empty())
                        .then(|| crate::util::text::sanitized(&r.notes.join("; "))),
                });
                self.ctx.state.set(
                    (!r.problems.is_empty()).then(|| r.problems.join("; ")),
                    &self.ctx.tx,
                );
            }
            Err(problem) => self.ctx.state.set(Some(problem), &self.ctx.tx),
        }
    }
}

struct StatStep {
    ctx: Ctx,
    cfg: StatConfig,
}

impl Step for StatStep {
    async fn run(&mut self, at: Duration, _wall: Duration) {
        let run = command::run(&self.cfg).await;
        self.ctx.report(
            &self.cfg.name,
            ProbeKind::Stat,
            at,
            run.took,
            run.outcome,
            run.lines,
            self.cfg.timeout,
        );
    }
}

struct HttpStep {
    ctx: Ctx,
    cfg: HttpProbeConfig,
    client: HttpClient,
}

impl Step for HttpStep {
    async fn run(&mut self, at: Duration, _wall: Duration) {
        let t0 = Instant::now();
        let fetched = self.client.get(&self.cfg.url, None, self.cfg.timeout).await;
        let took = t0.elapsed();
        let outcome = match fetched {
            Ok(f) if f.status == self.cfg.expect_status => RunOutcome::Ok,
            Ok(f) => RunOutcome::Failed(format!(
                "HTTP {}, expected {}",
                f.status, self.cfg.expect_status
            )),
            Err(FetchError::TimedOut(_)) => RunOutcome::TimedOut,
            Err(FetchError::Failed(m)) => RunOutcome::Failed(m),
        };
        self.ctx.report(
            &self.cfg.name,
            ProbeKind::Http,
            at,
            took,
            outcome,
            Vec::new(),
            self.cfg.timeout,
        );
    }
}

impl Ctx {
    /// Reports one timed run, and its state if that changed.
    #[allow(clippy::too_many_arguments)]
    fn report(
        &mut self,
        name: &str,
        kind: ProbeKind,
        at: Duration,
        took: Duration,
        outcome: RunOutcome,
        output: Vec<String>,
        timeout: Duration,
    ) {
        let outcome = match outcome {
            RunOutcome::Failed(m) => RunOutcome::Failed(crate::util::text::sanitized(&m)),
            o => o,
        };
        let problem = match &outcome {
            RunOutcome::Ok => None,
            RunOutcome::Failed(m) => Some(m.clone()),
            RunOutcome::TimedOut => Some(format!("timed out after {timeout:?}")),
        };
        self.state.set(problem, &self.tx);
        let _ = self.tx.send(ProbeEvent::Run {
            name: name.to_owned(),
            kind,
            at,
            took,
            outcome,
            output,
        });
    }
}

#[derive(Default)]
struct SourceReading {
    cpu: Option<f64>,
    memory: Option<f64>,
    notes: Vec<String>,
    problems: Vec<String>,
}

fn fetch_problem(url: &str, e: FetchError) -> String {
    format!("{}: {e}", crate::util::secret::redact(url))
}

async fn read_source(
    cfg: &SourceConfig,
    client: &HttpClient,
    cpu_rate: &mut scrape::CounterRate,
    at: Duration,
) -> Result<SourceReading, String> {
    let mut r = SourceReading::default();
    match &cfg.kind {
        SourceKind::Scrape {
            url,
            cpu_metric,
            memory_metric,
            labels,
        } => {
            let f = client
                .get(url, None, cfg.timeout)
                .await
                .map_err(|e| fetch_problem(url, e))?;
            if f.status != 200 {
                return Err(format!(
                    "{}: HTTP {}",
                    crate::util::secret::redact(url),
                    f.status
                ));
            }
            let text = String::from_utf8_lossy(&f.body);
            let s = scrape::parse(&text)?;
            match scrape::read(&s, cpu_metric, labels) {
                Some(v) => {
                    // A NaN counter must not become the rate's baseline.
                    r.cpu = if v.value.is_finite() {
                        cpu_rate.update(at.as_secs_f64(), v.value)
                    } else {
                        Some(v.value)
                    };
                    if v.series > 1 {
                        r.notes.push(format!("cpu: summed {} series", v.series));
                    }
                }
                None => r.problems.push(format!(
                    "metric '{cpu_metric}' not found in {} samples",
                    s.samples.len()
                )),
            }
            match scrape::read(&s, memory_metric, labels) {
                Some(v) => {
                    r.memory = Some(v.value);
                    if v.series > 1 {
                        r.notes.push(format!("memory: summed {} series", v.series));
                    }
                }
                None => r.problems.push(format!(
                    "metric '{memory_metric}' not found in {} samples",
                    s.samples.len()
                )),
            }
        }
        SourceKind::Promql {
            url,
            cpu_query,
            memory_query,
            token,
        } => {
            let token = match token {
                None => None,
                Some(TokenSource::File(p)) => Some(
                    crate::util::files::read_text(p, crate::util::files::TOKEN)
                        .map_err(|e| format!("bearer_token_file: {e}"))?,
                ),
                Some(TokenSource::Env(v)) => Some(
                    std::env::var(v).map_err(|_| format!("bearer_token_env: ${v} is not set"))?,
                ),
            };
            for (query, slot, what) in [
                (cpu_query, &mut r.cpu, "cpu"),
                (memory_query, &mut r.memory, "memory"),
            ] {
                let Some(q) = query else { continue };
                let f = client
                    .get(&promql::query_url(url, q), token.as_deref(), cfg.timeout)
                    .await
                    .map_err(|e| fetch_problem(url, e))?;
                match promql::parse(f.status, &f.body) {
                    Ok((v, series)) => {
                        *slot = Some(v);
                        if series > 1 {
                            r.notes.push(format!("{what}: summed {series} series"));
                        }
                    }
                    Err(e) => r.problems.push(format!("{what}_query: {e}")),
                }
            }
        }
    }
    // NaN and ±Inf are valid in the exposition format and in PromQL, but
    // they are no measurement: record "no data", never 0 or 1e308.
    for (slot, what) in [(&mut r.cpu, "cpu"), (&mut r.memory, "memory")] {
        if let Some(v) = slot.filter(|v| !v.is_finite()) {
            *slot = None;
            r.problems
                .push(format!("{what}: the sample is {v}, no data"));
        }
    }
    if r.cpu.is_none() && r.memory.is_none() && !r.problems.is_empty() {
        return Err(r.problems.join("; "));
    }
    Ok(r)
}
