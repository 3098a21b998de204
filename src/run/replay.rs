//! Replay: a recorded run (`run.jsonl`) played back into a `RunModel` at any speed, stepping
//! and jumping between events. The console draws the model as it would a live run.
//!
//! Totals are rebuilt from the recorded per-interval histograms, so a replay
//! shows the same percentiles the run's summary reported.

use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use super::log::{self, RunLogError};
use super::RunModel;
use crate::engine::event::Event;
use crate::probes::{ProbeEvent, ProbeKind, RunOutcome};
use crate::spec::plan::{Endpoint, LoadPlan, Mode, Plan, Stage, StageKind, Target, TargetAddr};
use crate::stats::{Histograms, IntervalStats};

#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error(transparent)]
    Log(#[from] RunLogError),
    #[error("{0}: the run log has no intervals to replay")]
    Empty(String),
    #[error("{path}: interval {index}: {message}")]
    Interval {
        path: String,
        index: usize,
        message: String,
    },
}

enum Item {
    /// The interval line's byte offset in the run log: intervals are read
    /// back from the file as the replay reaches them, so a long run's
    /// histograms (four of ~140 KB each, decoded) are never all in memory.
    Interval(u64),
    Event(Event),
    Probe(ProbeEvent),
    Route(Box<crate::routes::ActionRecord>),
}

/// A run read back for replay.
pub struct Recording {
    /// What the header says ran (enough for the console's header and units).
    pub plan: Plan,
    /// In time order.
    items: Vec<(Duration, Item)>,
    /// The run log, for reading intervals back.
    lines: Option<log::Lines>,
    pub duration: Duration,
    pub truncated: bool,
    /// The run log's header line (plan, environment, start time).
    pub header: Value,
}

fn secs(v: &Value) -> Duration {
    Duration::try_from_secs_f64(v.as_f64().unwrap_or(0.0)).unwrap_or_default()
}

fn plan_of(header: &Value) -> Plan {
    let p = &header["plan"];
    let mode = if p["mode"] == "closed" {
        Mode::Closed
    } else {
        Mode::Open
    };
    let stages = p["stages"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| Stage {
            kind: if s["kind"] == "ramp" {
                StageKind::Ramp
            } else {
                StageKind::Hold
            },
            from: s["from"].as_f64().unwrap_or(0.0),
            to: s["to"].as_f64().unwrap_or(0.0),
            duration: secs(&s["duration_s"]),
            name: s["name"].as_str().map(str::to_owned),
        })
        .collect();
    let target = p["target"].as_str().unwrap_or("");
    Plan {
        source: header["environment"]["profile"].as_str().map(str::to_owned),
        source_sha256: header["environment"]["profile_sha256"]
            .as_str()
            .map(str::to_owned),
        ..Plan::new(
            p["name"].as_str().unwrap_or("recorded run").to_owned(),
            Target {
                addr: Endpoint::parse(target).map_or(TargetAddr::Demo, TargetAddr::Url),
                headers: Vec::new(),
                timeout: Duration::from_secs(10),
                connect_timeout: Duration::from_secs(3),
                http2: false,
                insecure: false,
                lean: true,
            },
            Vec::new(),
            LoadPlan {
                mode,
                stages,
                max_connections: 0,
                warmup: secs(&p["warmup_s"]),
                seed: 0,
                interval: secs(&p["interval_s"]),
            },
        )
    }
}

/// A probe line of the run log as the event it recorded.
fn probe_event(v: &Value) -> Option<ProbeEvent> {
    let at = secs(&v["at_s"]);
    let name = |k: &str| v[k].as_str().unwrap_or("?").to_owned();
    let ms = |k: &str| {
        Duration::try_from_secs_f64(v[k].as_f64().unwrap_or(0.0) / 1000.0).unwrap_or_default()
    };
    Some(match v["type"].as_str()? {
        "resource" => ProbeEvent::Resource {
            component: name("component"),
            at,
            cpu_cores: v["cpu_cores"].as_f64(),
            memory_bytes: v["memory_bytes"].as_f64(),
            took: ms("took_ms"),
            note: v["note"].as_str().map(str::to_owned),
        },
        "probe_run" => ProbeEvent::Run {
            name: name("name"),
            kind: if v["kind"] == "http" {
                ProbeKind::Http
            } else {
                ProbeKind::Stat
            },
            at,
            took: ms("took_ms"),
            outcome: match v["result"].as_str() {
                Some("ok") => RunOutcome::Ok,
                Some("timeout") => RunOutcome::TimedOut,
                _ => RunOutcome::Failed(v["reason"].as_str().unwrap_or("failed").to_owned()),
            },
            output: v["output"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|l| l.as_str().map(str::to_owned))
                .collect(),
        },
        "probe_state" => ProbeEvent::State {
            name: name("name"),
            at,
            problem: v["problem"].as_str().map(str::to_owned),
        },
        _ => return None,
    })
}

impl Recording {
    pub fn load(dir: &Path) -> Result<Recording, ReplayError> {
        let mut lines = log::Lines::open(dir)?;
        let path = dir.display().to_string();
        let mut header = Value::Null;
        let mut items: Vec<(Duration, Item)> = Vec::new();
        let mut index = 0;
        let mut routes = Vec::new();
        while let Some(line) = lines.next() {
            let (offset, line) = line?;
            match line {
                log::LogLine::Header(v) => header = v,
                log::LogLine::Interval(v) => {
                    // Checked now, so playback never meets a broken interval.
                    let stats: IntervalStats =
                        serde_json::from_value(v).map_err(|e| ReplayError::Interval {
                            path: path.clone(),
                            index,
                            message: e.to_string(),
                        })?;
                    // Counters no run can make are a corrupt log, not numbers to fold in.
                    let recorded = stats.status.iter().map(|(_, n)| *n).sum::<u64>();
                    if stats.ok > stats.finished || recorded > stats.finished {
                        return Err(ReplayError::Interval {
                            path: path.clone(),
                            index,
                            message: format!(
                                "line {}: ok {}, responses by status {recorded}, but finished {}: the counters do not add up (a corrupt log)",
                                lines.line_number(),
                                stats.ok,
                                stats.finished
                            ),
                        });
                    }
                    index += 1;
                    items.push((stats.run_clock, Item::Interval(offset)));
                }
                log::LogLine::Event(e) => items.push((e.at, Item::Event(e))),
                log::LogLine::Probe(v) if v["type"] == "route_action" => routes.push(v),
                log::LogLine::Probe(v) => {
                    if let Some(p) = probe_event(&v) {
                        items.push((p.at(), Item::Probe(p)));
                    }
                }
                log::LogLine::Agents(_) | log::LogLine::Summary(_) => {}
            }
        }
        if index == 0 {
            return Err(ReplayError::Empty(path));
        }
        items.extend(
            routes
                .into_iter()
                .filter_map(|v| serde_json::from_value::<crate::routes::ActionRecord>(v).ok())
                .map(|r| {
                    let at = Duration::try_from_secs_f64(r.applied_at_s.unwrap_or(r.fired_at_s))
                        .unwrap_or_default();
                    (at, Item::Route(Box::new(r)))
                }),
        );
        // Stable: at equal times, intervals before the events they explain.
        items.sort_by_key(|(at, _)| *at);
        let duration = items.last().map_or(Duration::ZERO, |(at, _)| *at);
        Ok(Recording {
            plan: plan_of(&header),
            items,
            truncated: lines.truncated,
            lines: Some(lines),
            duration,
            header,
        })
    }

    /// Interval `offset`'s stats and histograms, read back from the log.
    fn interval(&mut self, offset: u64) -> Option<(IntervalStats, Histograms)> {
        let (v, h) = self.lines.as_mut()?.interval_at(offset).ok()?;
        Some((serde_json::from_value(v).ok()?, h))
    }
}

/// Playback state over a recording.
pub struct Replay {
    pub recording: Recording,
    pub position: Duration,
    pub playing: bool,
    /// 1, 2, 4, 8 or 16.
    pub speed: u32,
    pub model: RunModel,
    next: usize,
}

pub const SPEEDS: [u32; 5] = [1, 2, 4, 8, 16];

impl Replay {
    pub fn new(recording: Recording) -> Self {
        let mut model = RunModel::for_plan(&recording.plan);
        // The log has each window's drop report as an event; the replayed
        // intervals carry no per-request failures to recompute them from.
        model.routes.recorded();
        Replay {
            recording,
            position: Duration::ZERO,
            playing: true,
            speed: 1,
            model,
            next: 0,
        }
    }

    fn apply(&mut self, i: usize) {
        match &self.recording.items[i].1 {
            // The model folds the totals from the histograms, as it does live.
            // The log was checked when loaded; a file changed since is skipped.
            Item::Interval(offset) => {
                if let Some((stats, h)) = self.recording.interval(*offset) {
                    self.model.apply_interval(stats, &h);
                }
            }
            Item::Event(e) => self.model.push_event(e.clone()),
            Item::Probe(p) => self.model.apply_probe(p.clone()),
            Item::Route(r) => self.model.apply_route((**r).clone()),
        }
    }

    /// Moves to `t` (clamped to the recording): forward by applying what
    /// happened in between, backward by rebuilding from the start.
    pub fn seek(&mut self, t: Duration) {
        let t = t.min(self.recording.duration);
        if t < self.position {
            let emptied = Recording {
                plan: self.recording.plan.clone(),
                items: Vec::new(),
                lines: None,
                duration: Duration::ZERO,
                truncated: false,
                header: Value::Null,
            };
            let rec = std::mem::replace(&mut self.recording, emptied);
            let (playing, speed) = (self.playing, self.speed);
            *self = Replay::new(rec);
            (self.playing, self.speed) = (playing, speed);
        }
        while self.next < self.recording.items.len() && self.recording.items[self.next].0 <= t {
            self.apply(self.next);
            self.next += 1;
        }
        self.position = t;
        if self.at_end() {
            self.playing = false;
        }
    }

    pub fn at_end(&self) -> bool {
        self.position >= self.recording.duration
    }

    /// Plays `wall` of real time at the current speed.
    pub fn advance(&mut self, wall: Duration) {
        if self.playing {
            self.seek(self.position + wall * self.speed);
        }
    }

    pub fn toggle(&mut self) {
        if self.at_end() {
            self.seek(Duration::ZERO);
            self.playing = true;
        } else {
            self.playing = !self.playing;
        }
    }

    /// One interval forward or back; pauses. Back means: the interval before
    /// the latest one shown becomes the latest.
    pub fn step(&mut self, forward: bool) {
        self.playing = false;
        let times: Vec<Duration> = self
            .recording
            .items
            .iter()
            .filter_map(|(at, i)| matches!(i, Item::Interval(_)).then_some(*at))
            .collect();
        let target = if forward {
            times.iter().copied().find(|at| *at > self.position)
        } else {
            let shown = times
                .iter()
                .copied()
                .filter(|at| *at <= self.position)
                .max();
            shown.and_then(|cur| times.iter().copied().filter(|at| *at < cur).max())
        };
        self.seek(target.unwrap_or(if forward {
            self.recording.duration
        } else {
            Duration::ZERO
        }));
    }

    pub fn faster(&mut self, up: bool) {
        let i = SPEEDS.iter().position(|&s| s == self.speed).unwrap_or(0);
        self.speed = if up {
            SPEEDS[(i + 1).min(SPEEDS.len() - 1)]
        } else {
            SPEEDS[i.saturating_sub(1)]
        };
    }

    /// Jumps to the next event after the current position (a pause, a rate
    /// change, a marker, a breach); returns its message.
    pub fn next_event(&mut self) -> Option<String> {
        let (at, msg) = self.recording.items.iter().find_map(|(at, i)| match i {
            Item::Event(e) if *at > self.position => Some((*at, e.message.clone())),
            _ => None,
        })?;
        self.seek(at);
        Some(msg)
    }
}
