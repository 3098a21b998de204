//! The load engine: schedules, sends and times requests, takes control commands, publishes intervals.
//!
//! `start` spawns connection tasks (`worker`) and a supervisor (`supervisor`)
//! on the current tokio runtime and returns at once. The supervisor owns the
//! schedule and the statistics aggregation; the caller gets interval snapshots
//! and events on a channel and sends `Control` commands back. The engine never
//! waits on its consumer.

pub mod clock;
pub mod conn;
pub mod connections;
pub mod cpu;
pub mod event;
pub mod fds;
pub mod grpc;
pub mod lean;
pub mod memory;
pub mod pace;
pub mod schedule;
pub mod share;
pub mod source;
pub mod stream;
mod supervisor;
pub mod timer;
mod tls;
pub mod worker;

use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::header::{HeaderValue, HOST, USER_AGENT};
use http::{HeaderMap, Uri};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::engine::event::Event;
use crate::spec::plan::{Mode, Plan, TargetAddr};
use crate::stats::{ErrorKind, IntervalStats, Recorder};

pub use supervisor::{rate, RunResult};

/// Startup failures: the run could not begin (exit code 1).
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("the plan targets the embedded demo, but the demo gateway has not been started")]
    NoTarget,
    #[error("cannot resolve '{host}': {message}")]
    Resolve { host: String, message: String },
    #[error("TLS setup: {0}")]
    Tls(String),
    #[error("request '{name}': {message}")]
    Request { name: String, message: String },
}

/// Commands to a running engine; each takes effect within one scheduling tick.
#[derive(Debug, Clone, PartialEq)]
pub enum Control {
    Pause,
    Resume,
    TogglePause,
    /// Open loop: requests per second, until the current stage ends.
    SetRate(f64),
    /// Closed loop: requests in flight, until the current stage ends.
    SetConcurrency(u32),
    /// Drops a named marker on the timeline.
    Marker(String),
    /// Drops a hand-set level: the plan's stages decide again.
    FollowPlan,
    /// Stops the run early (a second Stop skips waiting for in-flight requests).
    Stop,
    /// Ends the run as its plan would: what steers it (a capacity search)
    /// has its answer. Stops like `Stop`, but the run did not stop early.
    End,
    /// Applies a command when the run clock reaches a time (an agent's
    /// coordinator sends level changes and pauses this way, so every agent
    /// computes the same schedule); one whose time has passed applies now,
    /// as if at that time.
    At(Duration, Box<Control>),
    /// An agent's share changes from the slot due at run-clock `from` on
    /// (an agent was lost or joined); `position` None leaves this one out.
    Share {
        from: Duration,
        members: u32,
        position: Option<u32>,
    },
}

/// What the engine tells its consumer.
#[derive(Debug, Clone)]
pub enum EngineEvent {
    Interval(Box<Snapshot>),
    Event(Event),
    /// A distributed run's agents, after each merged interval.
    Agents(Box<crate::stats::agents::AgentsStatus>),
}

/// One interval, plus everything after warmup so far.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub interval: IntervalStats,
    /// The interval's histograms (the run log stores them; a model folds
    /// them into its totals; an agent's coordinator merges them).
    pub histograms: Arc<crate::stats::Histograms>,
    /// The most recent message of each error kind seen so far.
    pub last_errors: Vec<(ErrorKind, String)>,
    /// The interval's failed requests with their send times (warmup
    /// included), up to `stats::measurements::FAILURES_KEPT`.
    pub failures: Vec<crate::stats::FailureAt>,
}

pub struct EngineHandle {
    pub control: mpsc::UnboundedSender<Control>,
    pub events: mpsc::UnboundedReceiver<EngineEvent>,
    pub task: JoinHandle<RunResult>,
    pub started_at: SystemTime,
    /// The instant every event's `at` counts from.
    pub started: std::time::Instant,
    /// The run clock, for whatever acts at a run-clock time (route actions).
    pub clock: tokio::sync::watch::Receiver<clock::RunClock>,
}

#[derive(Clone, Default)]
pub struct StartOptions {
    /// Send to an in-process server instead of the network, so engine
    /// tests can run on paused tokio time (`tokio::time::pause()`); its
    /// timers then are tokio's too.
    pub memory: Option<memory::MemoryTarget>,
    /// rampdeck's own CPU as the engine sees it; a fixed reading lets tests
    /// make the generator the limit on purpose.
    pub cpu: Option<cpu::CpuMeter>,
    /// When run-clock zero is (an agent starts when its coordinator says;
    /// None: now).
    pub origin: Option<tokio::time::Instant>,
    /// An agent's part of the schedule (None: all of it).
    pub share: Option<share::Share>,
    /// An agent's index in its run (`{{agent}}`; 0 for a run on its own).
    pub agent: u32,
    /// `[delivery]`'s tracker, which the sink (started by the session) fills.
    pub delivery: Option<Arc<crate::delivery::Tracker>>,
    /// A Rust request source (the library API) that builds every request
    /// instead of the plan's, whose requests then give the names and the mix.
    pub source: Option<source::SourceHandle>,
}

/// Starts a run of `plan` on the current runtime.
pub async fn start(plan: Arc<Plan>) -> Result<EngineHandle, EngineError> {
    start_with(plan, StartOptions::default()).await
}

pub async fn start_with(plan: Arc<Plan>, opts: StartOptions) -> Result<EngineHandle, EngineError> {
    let TargetAddr::Url(endpoint) = &plan.target.addr else {
        return Err(EngineError::NoTarget);
    };
    let connector = match &opts.memory {
        Some(m) => conn::Connector::memory(m.clone(), &plan.target),
        None => conn::Connector::new(endpoint, &plan.target).await?,
    };
    // What every request carries: User-Agent, Host (HTTP/1.1), the URL's
    // userinfo and `[target]` headers.
    let target_error = |message: String| EngineError::Request {
        name: "target".into(),
        message,
    };
    let mut base = HeaderMap::new();
    base.insert(
        USER_AGENT,
        HeaderValue::from_static(concat!("rampdeck/", env!("CARGO_PKG_VERSION"))),
    );
    if !plan.target.http2 {
        let host =
            HeaderValue::from_str(&endpoint.authority).map_err(|e| target_error(e.to_string()))?;
        base.insert(HOST, host);
    }
    // curl's way: userinfo in the URL is Basic auth (never part of
    // Host); an Authorization header the profile sets wins.
    if let Some(info) = &endpoint.userinfo {
        let value = HeaderValue::from_str(&info.basic_auth()).map_err(|_| {
            target_error("the URL's user or password has characters a header cannot carry".into())
        })?;
        base.insert(http::header::AUTHORIZATION, value);
    }
    for (k, v) in &plan.target.headers {
        base.insert(k.clone(), v.clone());
    }
    let prefix = if plan.target.http2 {
        format!(
            "{}://{}{}",
            if endpoint.https { "https" } else { "http" },
            endpoint.authority,
            endpoint.base_path
        )
    } else {
        endpoint.base_path.clone()
    };
    let requests = plan
        .requests
        .iter()
        .map(|r| {
            // A templated path is rendered per request; its text is no URI.
            let templated = r.template.as_ref().is_some_and(|t| t.path.is_some());
            let path = format!("{prefix}{}", if templated { "/" } else { r.path.as_str() });
            let uri: Uri =
                path.parse()
                    .map_err(|e: http::uri::InvalidUri| EngineError::Request {
                        name: r.name.clone(),
                        message: e.to_string(),
                    })?;
            let mut headers = base.clone();
            for (k, v) in &r.headers {
                headers.insert(k.clone(), v.clone());
            }
            // A templated header's name is in the map already, so each
            // rendered value replaces it in place: the per-request clone
            // of the map never grows.
            if let Some(t) = &r.template {
                for (name, _) in &t.headers {
                    headers
                        .entry(name.clone())
                        .or_insert(HeaderValue::from_static(""));
                }
            }
            // The call's deadline is the run's timeout.
            if r.grpc.is_some() {
                headers.insert(
                    http::HeaderName::from_static("grpc-timeout"),
                    rampdeck_base::grpc::timeout_header(plan.target.timeout),
                );
            }
            Ok(worker::Prepared {
                grpc: r.grpc.clone(),
                name: r.name.clone(),
                expect: r.expect.clone(),
                method: r.method.clone(),
                uri,
                headers,
                body: r.body.clone(),
                publishes: r.template.as_ref().is_some_and(|t| t.publishes()),
                template: r.template.clone(),
                prefix: prefix.clone(),
                wire: None,
            })
        })
        .collect::<Result<Vec<_>, EngineError>>()?;
    // Plain HTTP/1.1 without gRPC takes the lean path unless the profile
    // says `http1 = "hyper"`; its fixed requests are serialized now.
    let lean = plan.target.lean
        && !plan.target.http2
        && !connector.is_tls()
        && plan.requests.iter().all(|r| r.grpc.is_none());
    let mut requests = requests;
    if lean {
        for p in &mut requests {
            p.wire = Some(Bytes::from(lean::encode(&p.build(), &p.body)));
        }
    }
    let threads = tokio::runtime::Handle::current().metrics().num_workers();
    let peak = plan.load.peak_level().ceil() as usize;
    let workers = match (plan.load.mode, &opts.share) {
        (Mode::Open, _) => plan.load.max_connections,
        (Mode::Closed, None) => peak,
        (Mode::Closed, Some(share)) => share.local_workers(peak),
    };
    let now = tokio::time::Instant::now();
    let origin = opts.origin.unwrap_or(now);
    let started_at = match origin.checked_duration_since(now) {
        Some(ahead) => SystemTime::now() + ahead,
        None => SystemTime::now() - (now - origin),
    };
    let shared = Arc::new(worker::Shared {
        connector,
        pick: rampdeck_base::rng::WeightedPick::new(
            plan.requests.iter().map(|r| r.weight),
            plan.load.seed,
        ),
        requests,
        recorder: Recorder::new(threads),
        next_slot: AtomicU64::new(0),
        timeout: plan.target.timeout,
        h2: plan.target.http2.then(|| conn::H2Pool::new(workers.max(1))),
        lean,
        stop: CancellationToken::new(),
        fatal: std::sync::OnceLock::new(),
        tokio_timers: opts.memory.is_some(),
        data: plan.data.clone(),
        seed: plan.load.seed,
        agent: opts.agent,
        seq: AtomicU64::new(0),
        data_end: CancellationToken::new(),
        data_end_at: AtomicU64::new(u64::MAX),
        delivery: opts.delivery.clone(),
        connections: plan.connections.as_ref().map(|c| {
            Arc::new(connections::ConnRun::new(
                c.clone(),
                &endpoint.authority,
                endpoint.https,
                plan.target.timeout,
            ))
        }),
        custom: opts.source.as_ref().map(|s| source::Custom {
            source: s.0.clone(),
            base,
            prefix,
        }),
    });
    let (control_tx, control_rx) = mpsc::unbounded_channel();
    let (events_tx, events_rx) = mpsc::unbounded_channel();
    let (clock_tx, clock_rx) = tokio::sync::watch::channel(clock::RunClock::new(origin));
    let mut sup = supervisor::Supervisor::new(
        plan,
        shared,
        events_tx,
        clock_tx,
        workers,
        origin,
        opts.share.map(Arc::new),
    );
    if let Some(cpu) = opts.cpu {
        sup.cpu = cpu;
    }
    let task = tokio::spawn(sup.run(control_rx));
    Ok(EngineHandle {
        control: control_tx,
        events: events_rx,
        task,
        started_at,
        started: origin.into_std(),
        clock: clock_rx,
    })
}

/// Runs `plan` to completion with no consumer attached; for tests and benchmarks.
pub async fn run_to_end(plan: Arc<Plan>) -> Result<(RunResult, Vec<EngineEvent>), EngineError> {
    let mut h = start(plan).await?;
    let mut events = Vec::new();
    while let Some(e) = h.events.recv().await {
        events.push(e);
    }
    let result = h
        .task
        .await
        .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()));
    Ok((result, events))
}

/// How long a stopping run waits for requests in flight before abandoning them.
pub fn drain_timeout(plan: &Plan) -> Duration {
    plan.target.timeout + Duration::from_millis(500)
}
