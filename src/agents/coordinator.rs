//! The coordinator: reaches the agents, starts them on one clock, relays the run's commands, merges their intervals, and survives losing one.
//!
//! `start` returns an ordinary `EngineHandle`, so a session drives a
//! distributed run exactly as it drives one on this machine. Its intervals
//! are merged by index (`merge`) once every live agent has reported one,
//! or a grace period after the interval's end. Level changes and pauses go
//! to the agents with the run-clock time they take effect, so every agent
//! computes the same schedule. An agent that closes its connection, or
//! misses two intervals' reports, is lost: an event, a chart marker, and
//! its share goes to the live agents from a slot a short lead ahead. A
//! joiner (a Job's replacement pod) gets the run's start, the level
//! changes so far and then a share. The coordinator only ever handles one
//! message per agent per interval, never per-request data.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use super::launch::{BoxIo, Dial, Fleet, Launched};
use super::merge::{AgentId, Merger};
use super::wire::{self, FromAgent, ToAgent, WireControl, WirePlan, WireResult};
use super::{AgentsError, AgentsSpec};
use crate::engine::clock::RunClock;
use crate::engine::event::{Event, EventKind};
use crate::engine::{Control, EngineEvent, EngineHandle, RunResult, Snapshot};
use crate::spec::plan::{Mode, Plan, TargetAddr};
use crate::stats::agents::{AgentRow, AgentState, AgentsStatus};
use crate::stats::{ErrorKind, IntervalStats, Measurements};
use crate::util::secret::Token;

/// One reached agent before the run: its socket and what the handshake measured.
struct Conn {
    launched: Launched,
    ws: WebSocketStream<BoxIo>,
    keep: Option<kube::api::Portforwarder>,
    /// Its wall clock minus ours (ns), and half the round trip it was measured with.
    offset_ns: i64,
    half_rtt: Duration,
}

fn proto(agent: &str, message: impl Into<String>) -> AgentsError {
    AgentsError::Protocol {
        agent: agent.to_owned(),
        message: message.into(),
    }
}

async fn send(ws: &mut WebSocketStream<BoxIo>, m: &ToAgent) -> Result<(), String> {
    super::server::send(ws, m).await
}

async fn recv(ws: &mut WebSocketStream<BoxIo>) -> Result<FromAgent, String> {
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(t))) => {
                return serde_json::from_str(t.as_str())
                    .map_err(|e| format!("not an agent message: {e}"))
            }
            Some(Ok(Message::Close(_))) | None => return Err("it closed the connection".into()),
            Some(Err(e)) => return Err(e.to_string()),
            Some(Ok(_)) => {}
        }
    }
}

/// Reaches one agent: the WebSocket with the token, its hello, and its
/// clock offset from the ping with the shortest round trip.
async fn connect(launched: Launched, token: &Token) -> Result<Conn, AgentsError> {
    let name = launched.name.clone();
    let failed = |message: String| AgentsError::Connect {
        agent: format!("{name} ({})", launched.dial.describe()),
        message,
    };
    let (io, keep) = launched.dial.open().await.map_err(failed)?;
    let host = match &launched.dial {
        Dial::Tcp(a) => a.clone(),
        Dial::PortForward { .. } => "agent".to_owned(),
    };
    let mut req = format!("ws://{host}{}", wire::PATH)
        .into_client_request()
        .map_err(|e| failed(e.to_string()))?;
    let bearer = http::HeaderValue::from_str(&token.bearer())
        .map_err(|_| failed("the token cannot go in a header".into()))?;
    req.headers_mut()
        .insert(http::header::AUTHORIZATION, bearer);
    let handshake =
        tokio_tungstenite::client_async_with_config(req, io, Some(super::server::ws_config()));
    let (mut ws, _) = match tokio::time::timeout(super::launch::CONNECT_TIMEOUT, handshake).await {
        Err(_) => return Err(failed("no WebSocket handshake within 10 s".into())),
        Ok(Err(tokio_tungstenite::tungstenite::Error::Http(resp))) => {
            let why = resp
                .body()
                .as_ref()
                .map(|b| String::from_utf8_lossy(b).into_owned())
                .unwrap_or_default();
            return Err(AgentsError::Refused {
                agent: format!("{name} ({})", launched.dial.describe()),
                reason: format!("HTTP {}: {}", resp.status().as_u16(), remote_text(&why)),
            });
        }
        Ok(Err(e)) => return Err(failed(e.to_string())),
        Ok(Ok(x)) => x,
    };
    let hello = tokio::time::timeout(Duration::from_secs(5), recv(&mut ws))
        .await
        .map_err(|_| proto(&name, "no hello within 5 s"))?
        .map_err(|e| proto(&name, e))?;
    match hello {
        FromAgent::Hello { version, .. } if version == wire::VERSION => {}
        FromAgent::Hello { version, .. } => {
            return Err(proto(
                &name,
                format!(
                    "speaks protocol {version}, this coordinator {}: use the same rampdeck version",
                    wire::VERSION
                ),
            ))
        }
        other => return Err(proto(&name, format!("expected hello, got {other:?}"))),
    }
    let mut best: Option<(Duration, i64)> = None;
    for id in 0..5u64 {
        let t0 = Instant::now();
        let ours = wire::unix_ns() as i64;
        send(&mut ws, &ToAgent::Ping { id })
            .await
            .map_err(|e| proto(&name, e))?;
        let pong = tokio::time::timeout(Duration::from_secs(5), recv(&mut ws))
            .await
            .map_err(|_| proto(&name, "no pong within 5 s"))?
            .map_err(|e| proto(&name, e))?;
        let FromAgent::Pong { unix_ns, .. } = pong else {
            return Err(proto(&name, "expected pong"));
        };
        let rtt = t0.elapsed();
        let offset = unix_ns as i64 - (ours + rtt.as_nanos() as i64 / 2);
        if best.is_none_or(|(r, _)| rtt < r) {
            best = Some((rtt, offset));
        }
    }
    let (rtt, offset_ns) = best.unwrap_or_default();
    Ok(Conn {
        launched,
        ws,
        keep,
        offset_ns,
        half_rtt: rtt / 2,
    })
}

/// `ns` shifted by a signed offset, saturating.
fn shifted(ns: u64, by: i64) -> u64 {
    if by >= 0 {
        ns.saturating_add(by as u64)
    } else {
        ns.saturating_sub(by.unsigned_abs())
    }
}

/// Sends the plan's `[[data]]` rows in parts, before any agent is told
/// when to start: a start time chosen first would pass while a large file
/// was still on its way to the last agent, and that agent would begin late
/// with a backlog.
async fn preload(conn: &mut Conn, plan: &WirePlan) -> Result<(), AgentsError> {
    let name = conn.launched.name.clone();
    for part in plan.data_parts() {
        send(&mut conn.ws, &part)
            .await
            .map_err(|e| proto(&name, e))?;
    }
    Ok(())
}

/// How long an agent may take to turn `bytes` of data rows into feeders
/// after the run message arrives: ~40 MB/s, a fraction of a slow debug
/// build's speed, so a loaded machine still starts every agent together.
fn data_allowance(bytes: usize) -> Duration {
    Duration::from_millis((bytes / 40_000) as u64).min(Duration::from_secs(10))
}

/// Sends `Run` and waits for the agent's answer.
async fn begin(
    conn: &mut Conn,
    plan: &WirePlan,
    members: u32,
    position: u32,
    start_unix_ns: u64,
) -> Result<(), AgentsError> {
    let name = conn.launched.name.clone();
    let msg = ToAgent::Run {
        plan: Box::new(plan.clone()),
        members,
        position,
        start_unix_ns: shifted(start_unix_ns, conn.offset_ns),
        agent: position,
    };
    send(&mut conn.ws, &msg)
        .await
        .map_err(|e| proto(&name, e))?;
    let answer = tokio::time::timeout(Duration::from_secs(10), recv(&mut conn.ws))
        .await
        .map_err(|_| proto(&name, "no answer to the run within 10 s"))?
        .map_err(|e| proto(&name, e))?;
    match answer {
        FromAgent::Accepted => Ok(()),
        FromAgent::Refused { reason } => Err(AgentsError::Refused {
            agent: format!("{name} ({})", conn.launched.dial.describe()),
            reason: remote_text(&reason),
        }),
        other => Err(proto(
            &name,
            format!("expected accepted or refused, got {other:?}"),
        )),
    }
}

/// Text an agent sent, fit for a terminal and a log line: control
/// characters escaped, at most 300 characters.
fn remote_text(s: &str) -> String {
    crate::util::text::clip(&crate::util::text::sanitized(s), 300).into_owned()
}

/// What a reader task passes on.
enum Incoming {
    Msg(FromAgent),
    Closed(String),
}

/// Splits a connection into a writer (fed by the returned sender, with
/// heartbeats) and a reader (into `to`).
fn wire_up(
    id: AgentId,
    ws: WebSocketStream<BoxIo>,
    to: mpsc::UnboundedSender<(AgentId, Incoming)>,
) -> mpsc::UnboundedSender<ToAgent> {
    let (mut sink, mut stream) = ws.split();
    let (tx, mut rx) = mpsc::unbounded_channel::<ToAgent>();
    tokio::spawn(async move {
        let mut beat = tokio::time::interval(wire::HEARTBEAT);
        loop {
            let msg = tokio::select! {
                m = rx.recv() => match m { Some(m) => m, None => break },
                _ = beat.tick() => ToAgent::Heartbeat,
            };
            let Ok(text) = serde_json::to_string(&msg) else {
                continue;
            };
            if sink.send(Message::text(text)).await.is_err() {
                break;
            }
        }
        let _ = sink.close().await;
    });
    tokio::spawn(async move {
        let why = loop {
            match stream.next().await {
                Some(Ok(Message::Text(t))) => match serde_json::from_str::<FromAgent>(t.as_str()) {
                    Ok(m) => {
                        if to.send((id, Incoming::Msg(m))).is_err() {
                            return;
                        }
                    }
                    Err(e) => break format!("sent something that is not an agent message ({e})"),
                },
                Some(Ok(Message::Close(_))) | None => break "it closed the connection".to_owned(),
                Some(Err(e)) => break format!("its connection failed: {e}"),
                Some(Ok(_)) => {}
            }
        };
        let _ = to.send((id, Incoming::Closed(why)));
    });
    tx
}

struct Agent {
    row: AgentRow,
    tx: mpsc::UnboundedSender<ToAgent>,
    last_interval: Instant,
    last_heard: Instant,
    in_flight: u64,
    total: hdrhistogram::Histogram<u64>,
    result: Option<WireResult>,
    /// The interval index from which it is expected in the merge.
    from_index: u64,
    /// What it has sent and finished so far, to check its next interval against.
    sofar: super::vet::Sofar,
    /// Dropped for a bad frame: nothing more of it is read.
    refused: bool,
    _keep: Option<kube::api::Portforwarder>,
}

/// Starts a distributed run of `plan` on the agents of `spec`.
pub async fn start(plan: Arc<Plan>, spec: &AgentsSpec) -> Result<EngineHandle, AgentsError> {
    let wire_plan = WirePlan::of(&plan).map_err(AgentsError::Plan)?;
    let TargetAddr::Url(endpoint) = &plan.target.addr else {
        return Err(AgentsError::Plan(
            "the demo target has no address yet".into(),
        ));
    };
    let target = if endpoint.host.contains(':') {
        format!("[{}]:{}", endpoint.host, endpoint.port)
    } else {
        format!("{}:{}", endpoint.host, endpoint.port)
    };
    let launch = super::launch::launch(spec, &target, Some(&plan.routes.kube)).await?;
    let token = launch.token.clone();
    let fleet = launch.fleet;
    let mut conns = Vec::new();
    let mut failure = None;
    let pending: Vec<_> = launch
        .agents
        .into_iter()
        .map(|l| connect(l, &token))
        .collect();
    for r in futures_util::future::join_all(pending).await {
        match r {
            Ok(c) => conns.push(c),
            Err(e) => {
                failure.get_or_insert(e);
            }
        }
    }
    if let Some(e) = failure {
        fleet.shutdown().await;
        return Err(e);
    }
    let loaded =
        futures_util::future::join_all(conns.iter_mut().map(|c| preload(c, &wire_plan))).await;
    if let Some(e) = loaded.into_iter().find_map(Result::err) {
        drop(conns);
        fleet.shutdown().await;
        return Err(e);
    }
    let max_half = conns.iter().map(|c| c.half_rtt).max().unwrap_or_default();
    let lead = lead_of(max_half);
    // Far enough ahead for every agent to hear of it, read its data rows
    // and build its engine.
    let ahead = Duration::from_millis(500) + lead + data_allowance(wire_plan.data_bytes());
    let origin = Instant::now() + ahead;
    let start_unix = wire::unix_ns() + ahead.as_nanos() as u64;
    let members = conns.len() as u32;
    let begun = futures_util::future::join_all(
        conns
            .iter_mut()
            .enumerate()
            .map(|(i, c)| begin(c, &wire_plan, members, i as u32, start_unix)),
    )
    .await;
    if let Some(e) = begun.into_iter().find_map(Result::err) {
        drop(conns);
        fleet.shutdown().await;
        return Err(e);
    }
    let (control_tx, control_rx) = mpsc::unbounded_channel();
    let (events_tx, events_rx) = mpsc::unbounded_channel();
    let (clock_tx, clock_rx) = watch::channel(RunClock::new(origin));
    let (in_tx, in_rx) = mpsc::unbounded_channel();
    let now = Instant::now();
    let mut agents = Vec::new();
    for (id, c) in conns.into_iter().enumerate() {
        let tx = wire_up(id, c.ws, in_tx.clone());
        agents.push(Agent {
            row: row(
                &c.launched,
                c.offset_ns,
                c.half_rtt,
                Some((id as u32 + 1, members)),
                0.0,
                AgentState::Running,
            ),
            tx,
            last_interval: now.max(origin),
            last_heard: now,
            in_flight: 0,
            total: crate::stats::new_histogram(),
            result: None,
            from_index: 0,
            sofar: Default::default(),
            refused: false,
            _keep: c.keep,
        });
    }
    let started_at = std::time::SystemTime::now() + ahead;
    let coordinator = Coordinator {
        delta: plan.load.interval.max(Duration::from_millis(10)),
        kind: spec.kind(),
        wire_plan,
        plan,
        token,
        agents,
        merger: Merger::default(),
        events: events_tx,
        clock: clock_tx,
        origin,
        start_unix,
        lead,
        in_tx,
        levels: Vec::new(),
        stops: 0,
        ended: false,
        pause_at: None,
        first_seen: Default::default(),
        last_errors: BTreeMap::new(),
        totals: Measurements::default(),
        sent: 0,
        sent_measured: 0,
        due: 0.0,
        under_supplied: Duration::ZERO,
        ended_without_agents: false,
        last_tick: Instant::now(),
        stall_grace_until: None,
    };
    let joins = launch.joins;
    let task = tokio::spawn(coordinator.run(control_rx, in_rx, joins, fleet));
    Ok(EngineHandle {
        control: control_tx,
        events: events_rx,
        task,
        started_at,
        started: origin.into_std(),
        clock: clock_rx,
    })
}

/// How far ahead a level change is scheduled: long enough for the slowest
/// agent to hear of it first.
fn lead_of(max_half_rtt: Duration) -> Duration {
    (max_half_rtt * 6).max(Duration::from_millis(250))
}

fn row(
    l: &Launched,
    offset_ns: i64,
    half_rtt: Duration,
    share: Option<(u32, u32)>,
    joined: f64,
    state: AgentState,
) -> AgentRow {
    AgentRow {
        name: l.name.clone(),
        address: l.dial.describe(),
        state,
        share,
        sent: 0,
        ok: 0,
        failed: 0,
        sent_rate: 0.0,
        p99_ms: None,
        total_p99_ms: None,
        clock_offset_ms: offset_ns as f64 / 1e6,
        clock_uncertainty_ms: half_rtt.as_secs_f64() * 1000.0,
        last_report_s: None,
        joined_at_s: joined,
        lost_at_s: None,
        intervals: 0,
        pid: l.pid,
        hdr: None,
    }
}

struct Coordinator {
    plan: Arc<Plan>,
    wire_plan: WirePlan,
    token: Token,
    kind: &'static str,
    delta: Duration,
    agents: Vec<Agent>,
    merger: Merger,
    events: mpsc::UnboundedSender<EngineEvent>,
    clock: watch::Sender<RunClock>,
    origin: Instant,
    start_unix: u64,
    lead: Duration,
    in_tx: mpsc::UnboundedSender<(AgentId, Incoming)>,
    /// Level changes sent so far, with their run-clock times (a joiner replays them).
    levels: Vec<(f64, WireControl)>,
    stops: u32,
    /// `Control::End`: one of the stops was the plan's own end.
    ended: bool,
    /// A pause the agents take at this run-clock time (the coordinator's clock stops then too).
    pause_at: Option<Duration>,
    first_seen: std::collections::BTreeSet<String>,
    last_errors: BTreeMap<ErrorKind, String>,
    totals: Measurements,
    sent: u64,
    sent_measured: u64,
    due: f64,
    under_supplied: Duration,
    ended_without_agents: bool,
    /// When `tick` last ran, to notice that this process was stopped.
    last_tick: Instant,
    /// After a stall: intervals close only when complete until then.
    stall_grace_until: Option<Instant>,
}

/// A gap between ticks (every 100 ms) past this is a stall of the coordinator.
const STALL: Duration = Duration::from_secs(1);

impl Coordinator {
    fn rc(&self) -> Duration {
        self.clock.borrow().now()
    }

    fn emit(&self, kind: EventKind, message: impl Into<String>) {
        let _ = self.events.send(EngineEvent::Event(Event {
            at: self.rc(),
            wall: Some(self.origin.elapsed()),
            kind,
            message: message.into(),
        }));
    }

    fn live(&self) -> Vec<AgentId> {
        (0..self.agents.len())
            .filter(|&i| self.agents[i].row.state == AgentState::Running)
            .collect()
    }

    fn leader(&self) -> Option<AgentId> {
        self.live().first().copied()
    }

    fn broadcast(&self, m: ToAgent) {
        for a in self
            .agents
            .iter()
            .filter(|a| a.row.state == AgentState::Running)
        {
            let _ = a.tx.send(m.clone());
        }
    }

    fn paused(&self) -> bool {
        self.clock.borrow().paused_since.is_some()
    }

    fn control(&mut self, c: Control) {
        let at = self.rc() + self.lead;
        match c {
            Control::Marker(name) => self.emit(
                EventKind::Marker { name: name.clone() },
                format!("marker: {name}"),
            ),
            Control::TogglePause => {
                let next = if self.paused() || self.pause_at.is_some() {
                    Control::Resume
                } else {
                    Control::Pause
                };
                self.control(next)
            }
            Control::Pause if !self.paused() && self.pause_at.is_none() => {
                self.pause_at = Some(at);
                self.broadcast(ToAgent::Control {
                    at_s: Some(at.as_secs_f64()),
                    command: WireControl::Pause,
                });
            }
            Control::Resume if self.paused() || self.pause_at.is_some() => {
                self.pause_at = None;
                self.broadcast(ToAgent::Control {
                    at_s: None,
                    command: WireControl::Resume,
                });
                let now = Instant::now();
                self.clock.send_modify(|c| {
                    if let Some(p) = c.paused_since.take() {
                        c.paused_total += now - p;
                    }
                });
            }
            Control::Pause | Control::Resume => {}
            Control::SetRate(_) | Control::SetConcurrency(_) | Control::FollowPlan => {
                if let Some(w) = WireControl::of(&c) {
                    self.levels.push((at.as_secs_f64(), w));
                    self.broadcast(ToAgent::Control {
                        at_s: Some(at.as_secs_f64()),
                        command: w,
                    });
                }
            }
            Control::End | Control::Stop => {
                // A search's answer ends the run as planned (not early).
                self.ended |= matches!(c, Control::End);
                self.stops += 1;
                self.broadcast(ToAgent::Control {
                    at_s: None,
                    command: WireControl::Stop,
                });
            }
            Control::At(..) | Control::Share { .. } => {}
        }
    }

    /// Gives every live agent its share from a lead ahead on.
    fn reshare(&mut self) {
        let live = self.live();
        let members = live.len() as u32;
        let from = self.rc() + self.lead;
        for (p, &id) in live.iter().enumerate() {
            let a = &mut self.agents[id];
            a.row.share = Some((p as u32 + 1, members));
            let _ = a.tx.send(ToAgent::Share {
                from_s: from.as_secs_f64(),
                members,
                position: Some(p as u32),
            });
        }
    }

    fn lose(&mut self, id: AgentId, why: &str) {
        let now = self.rc();
        let a = &mut self.agents[id];
        if a.row.state != AgentState::Running && a.row.state != AgentState::Ready {
            return;
        }
        let was_running = a.row.state == AgentState::Running;
        a.row.state = AgentState::Lost;
        a.row.share = None;
        a.row.lost_at_s = Some(now.as_secs_f64());
        let name = a.row.name.clone();
        let left = self.live().len();
        self.emit(
            EventKind::AgentLost { name: name.clone() },
            format!(
                "{name} lost ({why}): {} its share",
                if left == 0 {
                    "no agent is left to take".to_owned()
                } else {
                    format!("{left} live agent{} take", if left == 1 { "" } else { "s" })
                }
            ),
        );
        if was_running && left > 0 {
            self.reshare();
        }
    }

    /// Drops an agent whose frame did not pass `vet`: lost with the reason,
    /// its connection closed, nothing more of it folded in.
    fn refuse(&mut self, id: AgentId, why: &str) {
        let reason = format!("it sent a bad frame: {why}");
        self.lose(id, &reason);
        let a = &mut self.agents[id];
        a.row.state = AgentState::Lost;
        a.refused = true;
        // Dropping the sender ends its writer, which closes the connection.
        a.tx = mpsc::unbounded_channel().0;
    }

    fn on_interval(
        &mut self,
        id: AgentId,
        line: serde_json::Value,
        failures: Vec<wire::WireFailure>,
        last: Vec<(ErrorKind, String)>,
    ) {
        let hist = crate::run::log::line_histograms(&line);
        let stats = serde_json::from_value::<IntervalStats>(line);
        let (Ok(hist), Ok(stats)) = (hist, stats) else {
            self.emit(
                EventKind::Warning,
                format!(
                    "{}: sent an interval that does not read; it is left out",
                    self.agents[id].row.name
                ),
            );
            return;
        };
        let grid = super::vet::Grid {
            delta: self.delta,
            now: self.rc(),
            slack: self.lead + self.delta * 4 + Duration::from_secs(1),
        };
        let sofar = match super::vet::interval(&grid, self.agents[id].sofar, &stats, &hist) {
            Ok(s) => s,
            Err(why) => return self.refuse(id, &why),
        };
        for (k, m) in last {
            self.last_errors.insert(k, m);
        }
        let a = &mut self.agents[id];
        a.sofar = sofar;
        a.last_interval = Instant::now();
        a.in_flight = stats.in_flight;
        a.row.intervals += 1;
        a.row.sent += stats.sent;
        a.row.sent_rate = stats.sent_rate();
        a.row.p99_ms = (stats.latency.count > 0).then_some(stats.latency.p99);
        if !stats.warmup {
            a.row.ok += stats.ok;
            a.row.failed += stats.failed();
            let _ = a.total.add(&hist.latency);
            a.row.total_p99_ms =
                (!a.total.is_empty()).then(|| a.total.value_at_quantile(0.99) as f64 / 1000.0);
        }
        let failures = failures.into_iter().map(Into::into).collect();
        self.merger.add(id, stats, &hist, failures);
    }

    fn on_event(&mut self, id: AgentId, e: Event) {
        let name = self.agents[id].row.name.clone();
        let leader = self.leader() == Some(id);
        let relay = match &e.kind {
            // The run's own course: once, from the leader (every agent has the same).
            EventKind::Stage { .. }
            | EventKind::WarmupEnded
            | EventKind::Paused
            | EventKind::Resumed
            | EventKind::LevelSet { .. }
            | EventKind::Stopping { .. } => leader,
            EventKind::FirstError { kind } => self.first_seen.insert(format!("e:{kind}")),
            EventKind::FirstStatus { code } => self.first_seen.insert(format!("s:{code}")),
            EventKind::Started | EventKind::Finished | EventKind::Marker { .. } => false,
            _ => {
                let mut e = e;
                e.message = format!("{name}: {}", e.message);
                let _ = self.events.send(EngineEvent::Event(e));
                return;
            }
        };
        if relay {
            if matches!(
                e.kind,
                EventKind::FirstError { .. } | EventKind::FirstStatus { .. }
            ) {
                let mut e = e;
                e.message = format!("{} (on {name})", e.message);
                let _ = self.events.send(EngineEvent::Event(e));
            } else {
                let _ = self.events.send(EngineEvent::Event(e));
            }
        }
    }

    /// Agents whose part of the next interval the merge waits for.
    fn expected(&self) -> Vec<AgentId> {
        let next = self.merger.next_index();
        (0..self.agents.len())
            .filter(|&i| {
                let a = &self.agents[i];
                a.row.state == AgentState::Running && a.from_index <= next
            })
            .collect()
    }

    /// Closes every interval that is complete, or whose grace has passed.
    fn flush(&mut self, end: bool) {
        loop {
            let next = self.merger.next_index();
            let expected = self.expected();
            let grid_end = self.delta.saturating_mul(next as u32 + 1);
            let grace = self.delta + self.lead;
            // Just after a stall of our own, parts still queued are not late.
            let stalled = self.stall_grace_until.is_some_and(|t| Instant::now() < t);
            let overdue = !self.paused() && !stalled && self.rc() > grid_end + grace;
            let ready = (self.merger.complete(&expected) && !expected.is_empty())
                || (overdue && self.merger.has_any())
                || (expected.is_empty() && self.merger.has_any())
                || (end && self.merger.has_any());
            if !ready {
                return;
            }
            let Some(m) = self.merger.close() else {
                continue;
            };
            self.publish(m);
        }
    }

    fn publish(&mut self, m: super::merge::Merged) {
        let s = &m.stats;
        self.sent += s.sent;
        if !s.warmup && s.measured > Duration::ZERO {
            self.sent_measured += s.sent;
        }
        self.due += s.due.unwrap_or(0.0);
        if s.under_supplied && s.measured > Duration::ZERO {
            self.under_supplied += s.len;
        }
        if !s.warmup {
            self.totals.add_interval(s, &m.histograms);
        }
        let snapshot = Snapshot {
            interval: m.stats,
            histograms: Arc::new(m.histograms),
            last_errors: self
                .last_errors
                .iter()
                .map(|(k, v)| (*k, v.clone()))
                .collect(),
            failures: m.failures,
        };
        let _ = self.events.send(EngineEvent::Interval(Box::new(snapshot)));
        let _ = self
            .events
            .send(EngineEvent::Agents(Box::new(self.status())));
    }

    /// The status with each agent's own histogram (the run's last one).
    fn final_status(&self) -> AgentsStatus {
        use base64::Engine as _;
        use hdrhistogram::serialization::Serializer as _;
        let mut st = self.status();
        let mut ser = hdrhistogram::serialization::V2DeflateSerializer::new();
        for (row, a) in st.agents.iter_mut().zip(&self.agents) {
            let mut buf = Vec::new();
            if !a.total.is_empty() && ser.serialize(&a.total, &mut buf).is_ok() {
                row.hdr = Some(base64::engine::general_purpose::STANDARD.encode(&buf));
            }
        }
        st
    }

    fn status(&self) -> AgentsStatus {
        AgentsStatus {
            kind: self.kind.to_owned(),
            agents: self
                .agents
                .iter()
                .map(|a| {
                    let mut r = a.row.clone();
                    r.last_report_s =
                        (r.intervals > 0).then(|| a.last_interval.elapsed().as_secs_f64());
                    r
                })
                .collect(),
            under_supplied_s: self.under_supplied.as_secs_f64(),
            late_reports: self.merger.late,
        }
    }

    /// Checks for silent agents and a pause whose time has come.
    fn tick(&mut self) {
        // A tick far later than its 100 ms: this process was stopped (Ctrl-Z,
        // SIGSTOP) or starved. The agents went on and their reports wait in
        // the sockets: hear them out before judging anyone silent.
        let gap = self.last_tick.elapsed();
        self.last_tick = Instant::now();
        if gap > STALL {
            let now = Instant::now();
            for a in self
                .agents
                .iter_mut()
                .filter(|a| a.row.state == AgentState::Running)
            {
                a.last_heard = now;
                a.last_interval = now;
            }
            self.stall_grace_until = Some(now + self.delta * 4 + Duration::from_secs(1));
            self.emit(
                EventKind::Warning,
                format!(
                    "the coordinator was stopped for {:.1}s (Ctrl-Z, SIGSTOP or a stall): the agents went on; their reports are read now",
                    gap.as_secs_f64()
                ),
            );
            return;
        }
        if let Some(at) = self.pause_at {
            if self.rc() >= at {
                self.pause_at = None;
                let when = self.clock.borrow().wall(at).unwrap_or_else(Instant::now);
                self.clock
                    .send_modify(|c| c.paused_since = Some(when.min(Instant::now())));
            }
        }
        let paused = self.paused();
        let silence = self.delta * 2 + Duration::from_millis(500);
        let lost: Vec<(AgentId, &'static str)> = self
            .agents
            .iter()
            .enumerate()
            .filter(|(_, a)| a.row.state == AgentState::Running)
            .filter_map(|(i, a)| {
                if a.last_heard.elapsed() > wire::AGENT_SILENCE.max(silence) {
                    Some((i, "silent"))
                } else if !paused
                    && Instant::now() > self.origin
                    && a.last_interval.elapsed() > silence
                {
                    Some((i, "missed two intervals' reports"))
                } else {
                    None
                }
            })
            .collect();
        for (i, why) in lost {
            self.lose(i, why);
        }
    }

    fn join(&mut self, c: Conn) {
        let id = self.agents.len();
        let mut c = c;
        let n = self
            .agents
            .iter()
            .filter(|a| a.row.name == c.launched.name)
            .count();
        if n > 0 {
            c.launched.name = format!("{}#{}", c.launched.name, n + 1);
        }
        let paused_total = self.clock.borrow().paused_total;
        let start = self.start_unix + paused_total.as_nanos() as u64;
        let run = ToAgent::Run {
            plan: Box::new(self.wire_plan.clone()),
            // A share of nothing until `reshare` gives it one.
            members: 1,
            position: 1,
            start_unix_ns: shifted(start, c.offset_ns),
            agent: id as u32,
        };
        let joined = self.rc().as_secs_f64();
        let tx = wire_up(id, c.ws, self.in_tx.clone());
        for part in self.wire_plan.data_parts() {
            let _ = tx.send(part);
        }
        let _ = tx.send(run);
        for (at, w) in &self.levels {
            let _ = tx.send(ToAgent::Control {
                at_s: Some(*at),
                command: *w,
            });
        }
        if self.paused() {
            let _ = tx.send(ToAgent::Control {
                at_s: None,
                command: WireControl::Pause,
            });
        }
        self.agents.push(Agent {
            row: row(
                &c.launched,
                c.offset_ns,
                c.half_rtt,
                None,
                joined,
                AgentState::Ready,
            ),
            tx,
            last_interval: Instant::now(),
            last_heard: Instant::now(),
            in_flight: 0,
            total: crate::stats::new_histogram(),
            result: None,
            from_index: u64::MAX,
            sofar: Default::default(),
            refused: false,
            _keep: c.keep,
        });
    }

    async fn run(
        mut self,
        mut control: mpsc::UnboundedReceiver<Control>,
        mut incoming: mpsc::UnboundedReceiver<(AgentId, Incoming)>,
        mut joins: Option<mpsc::UnboundedReceiver<Launched>>,
        fleet: Fleet,
    ) -> RunResult {
        let _ = self.events.send(EngineEvent::Event(Event {
            at: Duration::ZERO,
            wall: Some(Duration::ZERO),
            kind: EventKind::Started,
            message: format!(
                "started: {} against {} from {} {} agents",
                self.plan.name,
                self.plan.target_display(),
                self.agents.len(),
                self.kind
            ),
        }));
        let _ = self
            .events
            .send(EngineEvent::Agents(Box::new(self.status())));
        let (conn_tx, mut conn_rx) = mpsc::unbounded_channel::<Result<Conn, AgentsError>>();
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        let mut control_open = true;
        loop {
            tokio::select! {
                c = control.recv(), if control_open => match c {
                    Some(c) => self.control(c),
                    None => control_open = false,
                },
                Some((id, m)) = incoming.recv() => {
                    self.agents[id].last_heard = Instant::now();
                    // A dropped agent's frames still queued are not folded in.
                    if self.agents[id].refused && !matches!(m, Incoming::Closed(_)) {
                        continue;
                    }
                    match m {
                        Incoming::Msg(FromAgent::Interval { line, failures, last_errors }) => {
                            self.on_interval(id, line, failures, last_errors);
                            self.flush(false);
                        }
                        Incoming::Msg(FromAgent::Event { event }) => self.on_event(id, event),
                        Incoming::Msg(FromAgent::Finished { result }) => {
                            let end = self.plan.load.duration();
                            if let Err(why) = super::vet::finished(self.rc(), end, self.stops > 0, self.delta) {
                                self.refuse(id, &why);
                                continue;
                            }
                            let a = &mut self.agents[id];
                            a.result = Some(result);
                            if a.row.state == AgentState::Running {
                                a.row.state = AgentState::Finished;
                            }
                        }
                        Incoming::Msg(FromAgent::Accepted) => {
                            if self.agents[id].row.state == AgentState::Ready && self.stops == 0 {
                                let next = self.merger.next_index();
                                let a = &mut self.agents[id];
                                a.row.state = AgentState::Running;
                                a.from_index = next + 1;
                                a.last_interval = Instant::now();
                                let name = a.row.name.clone();
                                self.emit(EventKind::AgentJoined { name: name.clone() }, format!("{name} joined ({}): it takes a share", self.agents[id].row.address));
                                self.reshare();
                            }
                        }
                        Incoming::Msg(FromAgent::Refused { reason }) => {
                            let name = self.agents[id].row.name.clone();
                            self.agents[id].row.state = AgentState::Lost;
                            self.emit(EventKind::Warning, format!("{name} refused to join: {}", remote_text(&reason)));
                        }
                        Incoming::Msg(_) => {}
                        Incoming::Closed(why) => {
                            if self.agents[id].result.is_none() {
                                self.lose(id, &why);
                            }
                        }
                    }
                }
                Some(l) = async { match joins.as_mut() { Some(j) => j.recv().await, None => std::future::pending().await } } => {
                    if self.stops == 0 {
                        let (token, tx) = (self.token.clone(), conn_tx.clone());
                        tokio::spawn(async move { let _ = tx.send(connect(l, &token).await); });
                    }
                }
                Some(c) = conn_rx.recv() => match c {
                    Ok(c) if self.stops == 0 => self.join(c),
                    Ok(_) => {}
                    Err(e) => self.emit(EventKind::Warning, format!("a joining agent could not be reached: {e}")),
                },
                _ = tick.tick() => {
                    self.tick();
                    self.flush(false);
                }
            }
            let running = self
                .agents
                .iter()
                .any(|a| matches!(a.row.state, AgentState::Running));
            if !running {
                if !self.agents.iter().any(|a| a.result.is_some()) {
                    self.ended_without_agents = true;
                }
                break;
            }
        }
        // Whatever is still queued from the agents (their last intervals).
        while let Ok((id, m)) = incoming.try_recv() {
            if self.agents[id].refused {
                continue;
            }
            if let Incoming::Msg(FromAgent::Interval {
                line,
                failures,
                last_errors,
            }) = m
            {
                self.on_interval(id, line, failures, last_errors);
            }
        }
        self.flush(true);
        let _ = self
            .events
            .send(EngineEvent::Agents(Box::new(self.final_status())));
        fleet.shutdown().await;
        self.clock.send_modify(|c| c.stopped = true);
        self.result()
    }

    fn result(&mut self) -> RunResult {
        let results: Vec<&WireResult> = self
            .agents
            .iter()
            .filter_map(|a| a.result.as_ref())
            .collect();
        let max = |f: fn(&WireResult) -> f64| results.iter().map(|r| f(r)).fold(0.0, f64::max);
        let secs = |s: f64| Duration::try_from_secs_f64(s).unwrap_or_default();
        let lost_in_flight: u64 = self
            .agents
            .iter()
            .filter(|a| a.result.is_none())
            .map(|a| a.in_flight)
            .sum();
        let measured = if results.is_empty() {
            self.rc().saturating_sub(self.plan.load.warmup)
        } else {
            secs(max(|r| r.measured_s))
        };
        let dropped = match self.plan.load.mode {
            Mode::Open => (self.due.round() as u64).saturating_sub(self.sent),
            Mode::Closed => 0,
        };
        let aborted = results.iter().find_map(|r| r.aborted.clone()).or_else(|| {
            self.ended_without_agents
                .then(|| "every agent was lost".to_owned())
        });
        let limited = results.iter().any(|r| r.generator_limited_cause);
        let message = format!("finished after {:.1}s", self.origin.elapsed().as_secs_f64());
        self.emit(EventKind::Finished, message);
        RunResult {
            totals: std::mem::take(&mut self.totals),
            elapsed: self.origin.elapsed(),
            measured,
            paused: self.clock.borrow().paused_total,
            sent: self.sent,
            sent_measured: self.sent_measured,
            dropped,
            unfinished: results.iter().map(|r| r.unfinished).sum::<u64>() + lost_in_flight,
            stopped_early: self.stops > u32::from(self.ended),
            last_errors: self
                .last_errors
                .iter()
                .map(|(k, v)| (*k, v.clone()))
                .collect(),
            aborted,
            resent: results.iter().map(|r| r.resent).sum(),
            generator_limited: secs(max(|r| r.generator_limited_s)),
            delivery: None,
            connections: None,
            behind_cause: if limited {
                crate::engine::pace::Lag::GeneratorLimited
            } else {
                crate::engine::pace::Lag::ConnectionsBusy
            },
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_agents_words_are_escaped_and_bounded() {
        let t = super::remote_text("no\x1b]0;owned\x07 way");
        assert_eq!(t, "no\\x1b]0;owned\\x07 way");
        let long = super::remote_text(&"x".repeat(5000));
        assert!(
            long.len() < 400 && long.ends_with("(4700 more bytes)"),
            "{long}"
        );
    }
}
