//! One scenario run in the background: control-plane probes started beside it, its events streamed to a view, its report returned.

use std::time::Instant;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::config::{ScenarioConfig, ScenarioKind};
use super::report::ScenarioReport;
use super::resources::Resources;
use super::{ScenarioError, ScenarioEvent};
use crate::probes::ProbeEvent;
use crate::spec::probes::ProbesConfig;

pub struct Session {
    pub events: mpsc::UnboundedReceiver<ScenarioEvent>,
    /// Cancel to stop early: waits end, created routes are still removed.
    pub cancel: CancellationToken,
    pub task: JoinHandle<Result<ScenarioReport, ScenarioError>>,
    pub origin: Instant,
}

/// Starts `kind` on the current runtime.
pub fn start(kind: ScenarioKind, cfg: ScenarioConfig, probes: ProbesConfig) -> Session {
    let (tx, events) = mpsc::unbounded_channel();
    let cancel = CancellationToken::new();
    let origin = Instant::now();
    let task = tokio::spawn(run(kind, cfg, probes, tx, cancel.clone(), origin));
    Session {
        events,
        cancel,
        task,
        origin,
    }
}

async fn run(
    kind: ScenarioKind,
    cfg: ScenarioConfig,
    probes_cfg: ProbesConfig,
    tx: mpsc::UnboundedSender<ScenarioEvent>,
    cancel: CancellationToken,
    origin: Instant,
) -> Result<ScenarioReport, ScenarioError> {
    let ctx = super::connect(cfg, kind, probes_cfg.clone(), tx.clone(), cancel, origin).await?;
    let mut probes = crate::probes::start(&probes_cfg, crate::probes::Stamp::wall(origin))
        .map_err(|e| ScenarioError::Setup(e.to_string()))?;
    let probe_events = std::mem::replace(&mut probes.events, mpsc::unbounded_channel().1);
    let folding = tokio::spawn(fold_resources(probe_events, tx));
    let result = super::run(&ctx, kind).await;
    probes.stop().await;
    let (resources, readings) = folding.await.unwrap_or_default();
    result.map(|mut r| {
        r.control_plane = resources;
        if let Some(s) = &mut r.route_scale {
            s.fold_readings(&readings, &ctx.cfg.scale);
        }
        r.judge(&ctx.cfg);
        r
    })
}

/// One source reading: (seconds since the start, component, cpu cores, memory bytes).
pub type Reading = (f64, String, Option<f64>, Option<f64>);

/// Passes control-plane readings on to the view and keeps their max/avg, and every
/// reading (route-scale fits its memory slope to them).
async fn fold_resources(
    mut rx: mpsc::UnboundedReceiver<ProbeEvent>,
    tx: mpsc::UnboundedSender<ScenarioEvent>,
) -> (Resources, Vec<Reading>) {
    let mut r = Resources::default();
    let mut readings = Vec::new();
    while let Some(ev) = rx.recv().await {
        match ev {
            ProbeEvent::Resource {
                component,
                at,
                cpu_cores,
                memory_bytes,
                ..
            } => {
                r.add(&component, cpu_cores, memory_bytes);
                readings.push((at.as_secs_f64(), component.clone(), cpu_cores, memory_bytes));
                let _ = tx.send(ScenarioEvent::Resource {
                    at,
                    component,
                    cpu_cores,
                    memory_bytes,
                });
            }
            ProbeEvent::State {
                name,
                at,
                problem: Some(p),
            } => {
                let _ = tx.send(ScenarioEvent::Log {
                    at,
                    text: format!("{name} failing: {p}"),
                });
            }
            _ => {}
        }
    }
    (r, readings)
}
