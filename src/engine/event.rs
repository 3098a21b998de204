//! Events: everything that happens in a run (pauses, rate changes, stages, first errors), with its time.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::stats::ErrorKind;

/// Serialized flat: `{"at_s": 12.5, "type": "level_set", "from": 400, "to": 440, "message": "..."}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Run-clock time (since the start, less time paused): the clock of the
    /// header, the stages, `at` and the charts.
    #[serde(
        rename = "at_s",
        serialize_with = "crate::stats::summary::secs",
        deserialize_with = "crate::stats::summary::de_secs"
    )]
    pub at: Duration,
    /// Wall time since the start (pauses included), kept beside it in the
    /// run log only (None in a summary, and in logs written before it).
    #[serde(
        rename = "wall_s",
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "crate::stats::summary::opt_secs",
        deserialize_with = "crate::stats::summary::de_opt_secs"
    )]
    pub wall: Option<Duration>,
    #[serde(flatten)]
    pub kind: EventKind,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EventKind {
    Started,
    Stage {
        index: usize,
    },
    WarmupEnded,
    Paused,
    Resumed,
    /// The level (rate or concurrency) was set by hand.
    LevelSet {
        from: f64,
        to: f64,
    },
    Marker {
        name: String,
    },
    /// The first failure of this kind in the run.
    FirstError {
        kind: ErrorKind,
    },
    /// The first response with this failing (4xx/5xx) status.
    FirstStatus {
        code: u16,
    },
    /// A resource source or probe started failing.
    ProbeFailing {
        name: String,
    },
    /// It works again.
    ProbeRecovered {
        name: String,
    },
    /// A threshold started failing during the run.
    ThresholdBreached,
    /// It holds again.
    ThresholdRecovered,
    /// A route action started.
    RouteFired {
        name: String,
    },
    /// It applied (the chart marker).
    RouteApplied {
        name: String,
    },
    /// Its verify probe and/or watch saw it take effect.
    RoutePropagated {
        name: String,
    },
    RouteFailed {
        name: String,
    },
    /// The load's failed requests around it, once its window has passed.
    RouteDrops {
        name: String,
        drops: u64,
    },
    Warning,
    /// rampdeck's CPU is saturated and the schedule falls behind.
    GeneratorLimited,
    /// The schedule falls behind with every connection waiting on the target.
    ConnectionsBusy,
    /// It keeps up again.
    KeepingUp,
    /// A distributed run's agent stopped reporting (its share went to the others).
    AgentLost {
        name: String,
    },
    /// An agent joined a running distributed run (a replacement pod) and took a share.
    AgentJoined {
        name: String,
    },
    Stopping {
        early: bool,
    },
    Finished,
}

impl EventKind {
    /// Short label for chart markers and the events list.
    pub fn label(&self) -> String {
        match self {
            EventKind::Started => "start".into(),
            EventKind::Stage { index } => format!("stage {}", index + 1),
            EventKind::WarmupEnded => "warm".into(),
            EventKind::Paused => "pause".into(),
            EventKind::Resumed => "resume".into(),
            EventKind::LevelSet { to, .. } => {
                format!("set {}", rampdeck_base::fmt::fmt_level(*to))
            }
            EventKind::Marker { name } => name.clone(),
            EventKind::FirstError { kind } => kind.name().into(),
            EventKind::FirstStatus { code } => format!("http {code}"),
            EventKind::ProbeFailing { name } => format!("{name} failing"),
            EventKind::ProbeRecovered { name } => format!("{name} ok"),
            EventKind::ThresholdBreached => "breach".into(),
            EventKind::ThresholdRecovered => "holds".into(),
            EventKind::RouteFired { name } => format!("{name}…"),
            EventKind::RouteApplied { name } => name.clone(),
            EventKind::RoutePropagated { name } => format!("{name} ok"),
            EventKind::RouteFailed { name } => format!("{name} failed"),
            EventKind::RouteDrops { drops, .. } => format!("{drops} drops"),
            EventKind::Warning => "warn".into(),
            EventKind::GeneratorLimited => "generator-limited".into(),
            EventKind::ConnectionsBusy => "conns busy".into(),
            EventKind::KeepingUp => "keeps up".into(),
            EventKind::AgentLost { name } => format!("{name} lost"),
            EventKind::AgentJoined { name } => format!("{name} joined"),
            EventKind::Stopping { .. } => "stop".into(),
            EventKind::Finished => "end".into(),
        }
    }
}

/// How an event goes on a chart (the console's and the report's alike).
#[derive(Debug, Clone, PartialEq)]
pub struct ChartMark {
    /// Seconds since the run started.
    pub at: f64,
    /// A labelled line (what the operator, the stages, the route actions
    /// and a capacity search did), or None: a tick on the axis only (what
    /// the run noticed by itself: a first error, a first failing status).
    pub label: Option<String>,
}

/// The events worth a chart mark. Everything else (pace changes, probes,
/// warnings) is in the events list only. A level set together with a
/// marker is one thing (a capacity search's step) and gets one mark.
pub fn chart_marks(events: &[Event]) -> Vec<ChartMark> {
    let marker_at: Vec<Duration> = events
        .iter()
        .filter(|e| matches!(e.kind, EventKind::Marker { .. }))
        .map(|e| e.at)
        .collect();
    let with_marker = |at: Duration| {
        marker_at
            .iter()
            .any(|m| m.abs_diff(at) < Duration::from_millis(300))
    };
    events
        .iter()
        .filter_map(|e| {
            let labelled = match e.kind {
                EventKind::LevelSet { .. } if with_marker(e.at) => return None,
                EventKind::Paused
                | EventKind::Resumed
                | EventKind::LevelSet { .. }
                | EventKind::Marker { .. }
                | EventKind::WarmupEnded
                | EventKind::RouteApplied { .. }
                | EventKind::RouteFailed { .. }
                | EventKind::GeneratorLimited
                | EventKind::AgentLost { .. }
                | EventKind::AgentJoined { .. }
                | EventKind::ThresholdBreached => true,
                // Stage 1 starts at 0: no mark needed there.
                EventKind::Stage { index } if index > 0 => true,
                EventKind::FirstError { .. } | EventKind::FirstStatus { .. } => false,
                _ => return None,
            };
            Some(ChartMark {
                at: e.at.as_secs_f64(),
                label: labelled.then(|| e.kind.label()),
            })
        })
        .collect()
}
