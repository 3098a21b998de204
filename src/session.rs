//! One run session: the engine, probes, route actions, run log, threshold watch and model, driven the same way by every view.
//!
//! The headless view and the console used to wire these each on their own,
//! and the copies drifted (a console run's log lost its drop and threshold
//! events). Now both start a `RunSession`, `drive` it to the end while it
//! folds every event into the model, the log and the thresholds, telling
//! their `View` what happened, and `finish` it into the summary. The model
//! sits behind a mutex so the console thread can draw it; only the session
//! writes it.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::mpsc;

use crate::engine::event::Event;
use crate::engine::{self, Control, EngineError, EngineEvent, RunResult};
use crate::probes::ProbeEvent;
use crate::report::summary::Summary;
use crate::report::thresholds::Watch;
use crate::run::log::{RunLog, RunLogError};
use crate::run::RunModel;
use crate::spec::plan::Plan;
use crate::stats::IntervalStats;

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error(transparent)]
    Probes(#[from] crate::probes::ProbeError),
    #[error(transparent)]
    Agents(#[from] crate::agents::AgentsError),
    #[error(transparent)]
    Delivery(#[from] crate::delivery::DeliveryError),
    #[error(transparent)]
    Export(#[from] crate::export::ExportError),
}

/// What a view is told as the session folds events in.
#[derive(Debug, Clone)]
pub enum Note {
    /// A timeline event (engine, threshold, route drop report, probe state).
    Event(Event),
    /// An interval was folded in (the model has it), with its histograms
    /// (a capacity search judges each step on its own window).
    Interval(Box<IntervalStats>, Arc<crate::stats::Histograms>),
    /// A probe or stat command reported.
    Probe(ProbeEvent),
    /// A route action firing moved on (fired, applied, propagated, failed).
    Route(Box<crate::routes::ActionRecord>),
}

/// How a view follows the run: print it (headless), log it (console),
/// steer it (a capacity search, which also keeps its progress in the model
/// for the console to draw).
pub trait View {
    fn note(&mut self, note: &Note, model: &mut RunModel);
}

/// A view that wants nothing.
pub struct Quiet;

impl View for Quiet {
    fn note(&mut self, _: &Note, _: &mut RunModel) {}
}

pub struct RunSession {
    pub plan: Arc<Plan>,
    control: mpsc::UnboundedSender<Control>,
    engine_events: Option<mpsc::UnboundedReceiver<EngineEvent>>,
    task: tokio::task::JoinHandle<RunResult>,
    pub started_at: std::time::SystemTime,
    probes: crate::probes::Probes,
    routes: crate::routes::RouteHandle,
    route_events: mpsc::UnboundedReceiver<crate::routes::ActionRecord>,
    log: Option<RunLog>,
    out: Option<PathBuf>,
    watch: Watch,
    model: Arc<Mutex<RunModel>>,
    /// `[delivery]`'s sink, stopped once the summary is made.
    delivery: Option<crate::delivery::Delivery>,
    /// `[metrics]`: the endpoint serving the model, stopped with the session.
    exporter: Option<crate::export::Exporter>,
    /// What the finished run prints on stdout (the summary table by default).
    pub print: crate::report::Print,
}

/// A poisoned lock still holds a consistent model (every write is one fold).
fn lock(m: &Mutex<RunModel>) -> MutexGuard<'_, RunModel> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl RunSession {
    /// Starts the engine, probes and route actions of `plan`; with `out`,
    /// the run log too (a log that cannot be written is reported and the
    /// run goes on without it).
    pub async fn start(plan: Arc<Plan>, out: Option<&Path>) -> Result<Self, SessionError> {
        Self::start_with(plan, out, engine::StartOptions::default()).await
    }

    pub async fn start_with(
        plan: Arc<Plan>,
        out: Option<&Path>,
        mut opts: engine::StartOptions,
    ) -> Result<Self, SessionError> {
        // The sink listens before any load, so `{{delivery.url}}` is known
        // to the requests and to route actions.
        let (plan, delivery) = match &plan.delivery {
            Some(config) => {
                let d = crate::delivery::Delivery::start(config).await?;
                crate::util::text::stderr_line!(
                    "delivery sink: {} (deadline {})",
                    d.url(),
                    rampdeck_base::fmt::fmt_dur(config.deadline)
                );
                let mut p = (*plan).clone();
                p.routes
                    .base_vars
                    .insert("delivery.url".into(), d.url().to_owned());
                opts.delivery = Some(d.tracker.clone());
                (Arc::new(p), Some(d))
            }
            None => (plan, None),
        };
        // The model exists before the load so the metrics endpoint can
        // listen (and fail on a taken port) before a request is sent.
        let model = Arc::new(Mutex::new(RunModel::for_plan(&plan)));
        let exporter = match &plan.metrics {
            Some(config) => {
                let names = crate::export::Names::of(&plan);
                let e = crate::export::Exporter::start(config, names, model.clone()).await?;
                crate::util::text::stderr_line!("metrics: {}", e.url());
                Some(e)
            }
            None => None,
        };
        let handle = match &plan.agents {
            Some(spec) => crate::agents::coordinator::start(plan.clone(), spec).await?,
            None => engine::start_with(plan.clone(), opts).await?,
        };
        let log = out.and_then(|dir| {
            let env = crate::run::env::Environment::capture(&plan, handle.started_at);
            RunLog::create(dir, &plan, &env, handle.started_at)
                .map_err(|e| {
                    crate::util::text::stderr_line!(
                        "warning: {e}; the run goes on without a run log"
                    )
                })
                .ok()
        });
        let probes = crate::probes::start(
            &plan.probes,
            crate::probes::Stamp::run(handle.started, engine::clock::reader(handle.clock.clone())),
        )?;
        let (route_tx, route_events) = mpsc::unbounded_channel();
        let routes =
            crate::routes::start_for(&plan, handle.started, Some(handle.clock.clone()), route_tx);
        Ok(RunSession {
            watch: Watch::new(
                plan.thresholds.clone(),
                plan.load.mode == crate::spec::plan::Mode::Open,
            )
            .with_stages(crate::report::summary::stage_names(&plan)),
            model,
            plan,
            control: handle.control,
            engine_events: Some(handle.events),
            task: handle.task,
            started_at: handle.started_at,
            probes,
            routes,
            route_events,
            log,
            out: out.map(Path::to_path_buf),
            delivery,
            exporter,
            print: crate::report::Print::Text,
        })
    }

    pub fn control(&self) -> mpsc::UnboundedSender<Control> {
        self.control.clone()
    }

    /// Fires route actions by index (the console's route menu).
    pub fn route_sender(&self) -> mpsc::UnboundedSender<usize> {
        self.routes.sender()
    }

    /// The model, for a view that draws it (the console thread).
    pub fn model(&self) -> Arc<Mutex<RunModel>> {
        self.model.clone()
    }

    /// Folds engine and probe events in until the engine has finished.
    /// Cancel-safe: dropped between events, it loses none.
    pub async fn drive(&mut self, view: &mut impl View) {
        loop {
            let Some(engine_events) = self.engine_events.as_mut() else {
                return;
            };
            tokio::select! {
                ev = engine_events.recv() => match ev {
                    Some(ev) => self.engine(ev, view),
                    None => {
                        self.engine_events = None;
                        return;
                    }
                },
                Some(pe) = self.probes.events.recv() => self.probe(pe, view),
                Some(r) = self.route_events.recv() => self.route(r, view),
            }
        }
    }

    /// Folds probe and route reports in for as long as it is awaited (the
    /// console after the engine finished, until the operator quits).
    pub async fn follow_probes(&mut self, view: &mut impl View) -> std::convert::Infallible {
        // The run is over: later readings show in the panes, not the summary.
        lock(&self.model).freeze_probe_stats();
        loop {
            tokio::select! {
                Some(pe) = self.probes.events.recv() => self.probe(pe, view),
                Some(r) = self.route_events.recv() => self.route(r, view),
                else => return std::future::pending().await,
            }
        }
    }

    fn write(&mut self, f: impl FnOnce(&mut RunLog) -> Result<(), RunLogError>) {
        if let Some(l) = self.log.as_mut() {
            if let Err(e) = f(l) {
                crate::util::text::stderr_line!("warning: {e}; the run goes on without a run log");
                self.log = None;
            }
        }
    }

    fn engine(&mut self, ev: EngineEvent, view: &mut impl View) {
        match &ev {
            EngineEvent::Interval(s) => self.write(|l| l.interval(s)),
            EngineEvent::Event(e) => self.write(|l| l.event(e)),
            EngineEvent::Agents(a) => self.write(|l| l.agents(a)),
        }
        let model = self.model.clone();
        let mut m = lock(&model);
        let mut notes = Vec::new();
        match &ev {
            EngineEvent::Event(e) => notes.push(Note::Event(e.clone())),
            EngineEvent::Interval(s) => notes.push(Note::Interval(
                Box::new(s.interval.clone()),
                s.histograms.clone(),
            )),
            EngineEvent::Agents(_) => {}
        }
        let interval = matches!(ev, EngineEvent::Interval(_));
        // Route drop reports whose window has passed, made by the fold.
        for e in m.apply(ev) {
            self.write(|l| l.event(&e));
            notes.push(Note::Event(e));
        }
        if interval {
            let changes = self.watch.update(&mut m);
            for e in m.threshold_changes(changes) {
                self.write(|l| l.event(&e));
                notes.push(Note::Event(e));
            }
        }
        for n in &notes {
            view.note(n, &mut m);
        }
    }

    fn route(&mut self, r: crate::routes::ActionRecord, view: &mut impl View) {
        self.write(|l| l.route(&r));
        let model = self.model.clone();
        let mut m = lock(&model);
        m.apply_route(r.clone());
        view.note(&Note::Route(Box::new(r)), &mut m);
    }

    fn probe(&mut self, pe: ProbeEvent, view: &mut impl View) {
        self.write(|l| l.probe(&pe));
        let model = self.model.clone();
        let mut m = lock(&model);
        m.apply_probe(pe.clone());
        view.note(&Note::Probe(pe), &mut m);
    }

    /// Stops route actions and probes, folds in what they still sent,
    /// closes the drop windows, and turns the run into its summary: printed,
    /// written to `summary.json` and as the run log's last line.
    pub async fn finish(
        mut self,
        view: &mut impl View,
    ) -> Result<Summary, crate::report::summary::ReportError> {
        // Whatever the engine still had (a view that stopped driving early).
        self.drive(view).await;
        self.routes.stop().await;
        self.probes.stop().await;
        while let Ok(pe) = self.probes.events.try_recv() {
            self.probe(pe, view);
        }
        while let Ok(r) = self.route_events.try_recv() {
            self.route(r, view);
        }
        let model = self.model.clone();
        let events = lock(&model).finish_routes();
        for e in events {
            self.write(|l| l.event(&e));
            view.note(&Note::Event(e), &mut lock(&model));
        }
        let result = match (&mut self.task).await {
            Ok(r) => r,
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        };
        if let Some(d) = self.delivery.take() {
            d.stop().await;
        }
        if let Some(e) = self.exporter.take() {
            e.stop().await;
        }
        let summary = Summary::new(&self.plan, &result, &lock(&model), self.started_at);
        if let Some(l) = self.log.take() {
            if let Err(e) = l.summary(&summary) {
                crate::util::text::stderr_line!("warning: {e}");
            }
        }
        crate::report::deliver(&summary, self.out.as_deref(), self.print)?;
        Ok(summary)
    }
}
