//! The agents' wire protocol: JSON messages over one WebSocket per agent, the plan as an agent receives it, intervals as run.jsonl writes them.
//!
//! The coordinator opens `ws://AGENT/v1/run` with `Authorization: Bearer
//! TOKEN`; every frame is one JSON object with a `type`. In order:
//!
//! 1. agent → `hello` (version, name, cores); coordinator → `ping`s, agent
//!    → `pong`s with its wall clock: the clock offset is taken from the
//!    ping with the shortest round trip (its half is the uncertainty).
//! 2. coordinator → `data` parts (each `[[data]]` file's cells, at most
//!    `DATA_PART` bytes a frame, so a large file never makes one frame too
//!    big), then `run`: the plan, this agent's share (`members`,
//!    `position`) and the start time on the agent's own clock; agent →
//!    `accepted` or `refused` (a target outside `--allow`, a bad plan).
//! 3. During the run: agent → `interval` (the run.jsonl interval line with
//!    its four HDR histograms, the failures' send times, the last errors),
//!    `event`; coordinator → `control` (with the run-clock time it takes
//!    effect), `share` (a new share from a run-clock time on). Both send
//!    `heartbeat` every second when they have nothing else to say.
//! 4. agent → `finished` (its run's counters), then it closes.
//!
//! A coordinator whose socket closes is gone: the agent stops sending load
//! at once. One that falls silent with its socket open is paused, and is
//! waited for up to `COORDINATOR_SILENCE`.

use std::time::Duration;

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::engine::event::Event;
use crate::engine::Control;
use crate::spec::plan::{
    Endpoint, LoadPlan, Mode, Plan, RequestSpec, Stage, StageKind, Target, TargetAddr,
};
use crate::stats::{ErrorKind, FailureAt, Outcome};

/// Bumped when a message changes meaning; both ends refuse another.
pub const VERSION: u32 = 2;
/// The path an agent serves the run on.
pub const PATH: &str = "/v1/run";
/// Both ends send something at least this often.
pub const HEARTBEAT: Duration = Duration::from_secs(1);
/// An agent that hears nothing from its coordinator for this long stops
/// sending load. A coordinator that dies closes its connection, which stops
/// the agent at once; silence with the connection open is a coordinator
/// paused (Ctrl-Z, SIGSTOP, a debugger, a stalled VM), tolerated this long.
pub const COORDINATOR_SILENCE: Duration = Duration::from_secs(15);
/// A coordinator that hears nothing from an agent for this long (while it
/// is itself running) counts the agent lost.
pub const AGENT_SILENCE: Duration = Duration::from_secs(3);
/// The largest frame either end accepts (an interval with full histograms
/// and 20,000 failures is well under this).
pub const MAX_FRAME: usize = 16 * 1024 * 1024;
/// The most text one `data` frame carries (JSON escaping at most doubles
/// it, far under `MAX_FRAME`).
pub const DATA_PART: usize = 1024 * 1024;
/// The most `[[data]]` text an agent takes for one run: the cells of files
/// within the data limit (a cell's separator becomes its newline; a JSON
/// number may be written longer), with room to spare.
pub const MAX_DATA_TEXT: usize = 2 * crate::util::files::DATA.limit as usize;

/// Coordinator to agent.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ToAgent {
    Ping {
        id: u64,
    },
    Run {
        plan: Box<WirePlan>,
        members: u32,
        position: u32,
        /// Run-clock zero on the agent's own wall clock (ns since the Unix epoch).
        start_unix_ns: u64,
        /// Its index in the run (`{{agent}}` in templates).
        #[serde(default)]
        agent: u32,
    },
    /// Part of feeder `feeder`'s cells (`Table::text`), in order, before `run`.
    Data {
        feeder: u32,
        part: String,
    },
    Control {
        /// The run-clock time it takes effect (None: on receipt).
        at_s: Option<f64>,
        command: WireControl,
    },
    Share {
        from_s: f64,
        members: u32,
        position: Option<u32>,
    },
    Heartbeat,
}

/// Agent to coordinator.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum FromAgent {
    Hello {
        version: u32,
        name: String,
        cores: usize,
    },
    Pong {
        id: u64,
        unix_ns: u64,
    },
    Accepted,
    Refused {
        reason: String,
    },
    Interval {
        /// The run.jsonl interval line (`run::log::interval_line`).
        line: Value,
        #[serde(default)]
        failures: Vec<WireFailure>,
        #[serde(default)]
        last_errors: Vec<(ErrorKind, String)>,
    },
    Event {
        event: Event,
    },
    Finished {
        result: WireResult,
    },
    Heartbeat,
}

/// The commands an agent takes (levels, pauses and stops; markers, route
/// actions and the capacity search stay on the coordinator).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "command", content = "value", rename_all = "snake_case")]
pub enum WireControl {
    Pause,
    Resume,
    SetRate(f64),
    SetConcurrency(u32),
    FollowPlan,
    Stop,
}

impl WireControl {
    pub fn of(c: &Control) -> Option<WireControl> {
        Some(match c {
            Control::Pause => WireControl::Pause,
            Control::Resume => WireControl::Resume,
            Control::SetRate(r) => WireControl::SetRate(*r),
            Control::SetConcurrency(c) => WireControl::SetConcurrency(*c),
            Control::FollowPlan => WireControl::FollowPlan,
            Control::Stop | Control::End => WireControl::Stop,
            _ => return None,
        })
    }

    pub fn control(self) -> Control {
        match self {
            WireControl::Pause => Control::Pause,
            WireControl::Resume => Control::Resume,
            WireControl::SetRate(r) => Control::SetRate(r),
            WireControl::SetConcurrency(c) => Control::SetConcurrency(c),
            WireControl::FollowPlan => Control::FollowPlan,
            WireControl::Stop => Control::Stop,
        }
    }
}

/// One failed request: its send time (µs since the start), how it failed
/// (a status, or an error kind), which request, and how long it took (µs).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct WireFailure(pub u64, pub WireOutcome, pub u16, #[serde(default)] pub u64);

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum WireOutcome {
    Status(u16),
    Error(ErrorKind),
}

impl From<&FailureAt> for WireFailure {
    fn from(f: &FailureAt) -> Self {
        let outcome = match f.outcome {
            Outcome::Status(s) => WireOutcome::Status(s),
            Outcome::Error(k) => WireOutcome::Error(k),
        };
        let took = f.ended.saturating_sub(f.sent);
        WireFailure(
            f.sent.as_micros() as u64,
            outcome,
            f.request,
            took.as_micros() as u64,
        )
    }
}

impl From<WireFailure> for FailureAt {
    fn from(WireFailure(us, o, request, took): WireFailure) -> Self {
        let sent = Duration::from_micros(us);
        FailureAt {
            sent,
            outcome: match o {
                WireOutcome::Status(s) => Outcome::Status(s),
                WireOutcome::Error(k) => Outcome::Error(k),
            },
            request,
            ended: sent.saturating_add(Duration::from_micros(took)),
        }
    }
}

/// An agent's run, counted as `engine::RunResult` counts it (the latency
/// totals are not sent: the coordinator has every interval's histograms).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct WireResult {
    pub sent: u64,
    pub dropped: u64,
    pub unfinished: u64,
    pub resent: u64,
    pub elapsed_s: f64,
    pub measured_s: f64,
    pub paused_s: f64,
    pub generator_limited_s: f64,
    pub generator_limited_cause: bool,
    pub aborted: Option<String>,
    #[serde(default)]
    pub last_errors: Vec<(ErrorKind, String)>,
}

/// The part of a plan an agent runs: the target, the requests and the load.
/// Probes, thresholds, route actions and the search stay on the coordinator.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WirePlan {
    pub name: String,
    /// The base URL with its user and password (an agent sends them as the
    /// coordinator would; neither end logs them).
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub timeout_s: f64,
    pub connect_timeout_s: f64,
    pub http2: bool,
    pub insecure: bool,
    /// `target.http1 = "hyper"` sends false.
    #[serde(default = "yes")]
    pub lean: bool,
    pub requests: Vec<WireRequest>,
    pub mode: WireMode,
    pub stages: Vec<WireStage>,
    pub max_connections: usize,
    pub warmup_s: f64,
    pub seed: u64,
    pub interval_s: f64,
    /// `[[data]]` rows the templates read (each agent renders its own slots).
    #[serde(default)]
    pub data: Vec<WireFeeder>,
}

/// A request's checks as they go to an agent.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WireExpect {
    pub status: Vec<u16>,
    pub headers: Vec<(String, String)>,
    pub body_contains: Option<String>,
    pub body_max_bytes: Option<usize>,
}

impl WireExpect {
    fn of(e: &crate::checks::Expect) -> Self {
        WireExpect {
            status: e.status.clone(),
            headers: e
                .headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
            body_contains: e.body_contains.clone(),
            body_max_bytes: e.body_max_bytes,
        }
    }

    fn expect(self) -> crate::checks::Expect {
        crate::checks::Expect {
            status: self.status,
            headers: self
                .headers
                .into_iter()
                .filter_map(|(k, v)| {
                    http::HeaderName::from_bytes(k.as_bytes())
                        .ok()
                        .map(|n| (n, v))
                })
                .collect(),
            body_contains: self.body_contains,
            body_max_bytes: self.body_max_bytes,
        }
    }
}

/// A `[[data]]` feeder as it goes to an agent: its rows travel apart, in
/// `data` frames, and are attached before the plan is rebuilt.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WireFeeder {
    pub name: String,
    pub path: String,
    pub columns: Vec<String>,
    /// The length of its cells' text, what the `data` frames add up to.
    pub bytes: u64,
    pub random: bool,
    pub shuffle: bool,
    pub stop: bool,
    #[serde(skip)]
    pub table: Option<std::sync::Arc<crate::template::Table>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WireMode {
    Open,
    Closed,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WireStage {
    pub ramp: bool,
    pub from: f64,
    pub to: f64,
    pub duration_s: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WireRequest {
    #[serde(default)]
    pub expect: Option<WireExpect>,
    pub name: String,
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    /// base64
    pub body: String,
    pub weight: u32,
    #[serde(default)]
    pub grpc: Option<WireGrpc>,
}

/// A gRPC request: its method, and for a templated message the types to
/// encode it by (the descriptor set, as the agent has no profile files).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WireGrpc {
    pub full_method: String,
    /// The message's JSON with its placeholders (None: the body is final).
    pub message_json: Option<String>,
    /// base64 of the descriptor set, and the message type in it.
    pub descriptor_set: Option<String>,
    pub input: Option<String>,
}

impl WireGrpc {
    fn of(g: &crate::spec::grpc::GrpcRequest) -> Self {
        let b64 = base64::engine::general_purpose::STANDARD;
        let templated = g.input.as_ref().filter(|_| g.message_json.is_some());
        WireGrpc {
            full_method: g.full_method.clone(),
            message_json: g.message_json.clone(),
            descriptor_set: templated.map(|d| b64.encode(d.parent_pool().encode_to_vec())),
            input: templated.map(|d| d.full_name().to_owned()),
        }
    }

    fn request(&self) -> Result<crate::spec::grpc::GrpcRequest, String> {
        let input = match (&self.descriptor_set, &self.input) {
            (Some(ds), Some(name)) => {
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(ds)
                    .map_err(|e| format!("descriptor set: {e}"))?;
                let pool = prost_reflect::DescriptorPool::decode(bytes.as_slice())
                    .map_err(|e| format!("descriptor set: {e}"))?;
                Some(
                    pool.get_message_by_name(name)
                        .ok_or_else(|| format!("descriptor set: no message {name}"))?,
                )
            }
            _ => None,
        };
        Ok(crate::spec::grpc::GrpcRequest {
            full_method: self.full_method.clone(),
            input,
            message_json: self.message_json.clone(),
        })
    }
}

fn header_pairs(h: &[(http::HeaderName, http::HeaderValue)]) -> Vec<(String, String)> {
    h.iter()
        .map(|(k, v)| {
            (
                k.to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect()
}

fn headers_of(
    pairs: &[(String, String)],
) -> Result<Vec<(http::HeaderName, http::HeaderValue)>, String> {
    pairs
        .iter()
        .map(|(k, v)| {
            let name = http::HeaderName::from_bytes(k.as_bytes())
                .map_err(|e| format!("header name '{k}': {e}"))?;
            let value = http::HeaderValue::from_str(v).map_err(|e| format!("header '{k}': {e}"))?;
            Ok((name, value))
        })
        .collect()
}

/// A duration the plan sent, checked (a coordinator is trusted with the
/// token, but a bad value still must not panic the agent).
fn dur(s: f64, what: &str) -> Result<Duration, String> {
    if !s.is_finite() || s < 0.0 {
        return Err(format!(
            "{what} must be a non-negative number of seconds, not {s}"
        ));
    }
    Duration::try_from_secs_f64(s)
        .map(|d| d.min(rampdeck_base::duration::MAX_DURATION))
        .map_err(|e| format!("{what}: {e}"))
}

impl WirePlan {
    /// The plan as an agent gets it. A demo plan must have its address by now.
    pub fn of(plan: &Plan) -> Result<WirePlan, String> {
        let TargetAddr::Url(e) = &plan.target.addr else {
            return Err("the plan's demo target has no address yet".into());
        };
        let userinfo = e
            .userinfo
            .as_ref()
            .map_or_else(String::new, |u| match &u.password {
                Some(p) => format!("{}:{}@", u.user, p),
                None => format!("{}@", u.user),
            });
        Ok(WirePlan {
            name: plan.name.clone(),
            url: format!(
                "{}://{}{}{}",
                if e.https { "https" } else { "http" },
                userinfo,
                e.authority,
                e.base_path
            ),
            headers: header_pairs(&plan.target.headers),
            timeout_s: plan.target.timeout.as_secs_f64(),
            connect_timeout_s: plan.target.connect_timeout.as_secs_f64(),
            http2: plan.target.http2,
            insecure: plan.target.insecure,
            lean: plan.target.lean,
            requests: plan
                .requests
                .iter()
                .map(|r| WireRequest {
                    expect: r.expect.as_deref().map(WireExpect::of),
                    name: r.name.clone(),
                    method: r.method.to_string(),
                    path: r.path.clone(),
                    headers: header_pairs(&r.headers),
                    body: base64::engine::general_purpose::STANDARD.encode(&r.body),
                    weight: r.weight,
                    grpc: r.grpc.as_deref().map(WireGrpc::of),
                })
                .collect(),
            mode: match plan.load.mode {
                Mode::Open => WireMode::Open,
                Mode::Closed => WireMode::Closed,
            },
            stages: plan
                .load
                .stages
                .iter()
                .map(|s| WireStage {
                    ramp: s.kind == StageKind::Ramp,
                    from: s.from,
                    to: s.to,
                    duration_s: s.duration.as_secs_f64(),
                })
                .collect(),
            max_connections: plan.load.max_connections,
            warmup_s: plan.load.warmup.as_secs_f64(),
            seed: plan.load.seed,
            interval_s: plan.load.interval.as_secs_f64(),
            data: plan
                .data
                .feeders
                .iter()
                .map(|f| WireFeeder {
                    name: f.name.clone(),
                    path: f.path.clone(),
                    columns: f.columns.clone(),
                    bytes: f.table.text().len() as u64,
                    table: Some(f.table.clone()),
                    random: f.order == crate::template::Order::Random,
                    shuffle: f.order == crate::template::Order::Shuffle,
                    stop: f.on_end == crate::template::OnEnd::Stop,
                })
                .collect(),
        })
    }

    /// The `data` frames that carry the feeders' rows, to send before `run`;
    /// each part is cut on a character boundary.
    pub fn data_parts(&self) -> impl Iterator<Item = ToAgent> + '_ {
        self.data.iter().enumerate().flat_map(|(i, f)| {
            let text = f.table.as_deref().map_or("", |t| t.text());
            let mut at = 0;
            std::iter::from_fn(move || {
                if at >= text.len() {
                    return None;
                }
                let mut end = (at + DATA_PART).min(text.len());
                while !text.is_char_boundary(end) {
                    end -= 1;
                }
                let part = text[at..end].to_owned();
                at = end;
                Some(ToAgent::Data {
                    feeder: i as u32,
                    part,
                })
            })
        })
    }

    /// Bytes of data rows `data_parts` sends.
    pub fn data_bytes(&self) -> usize {
        self.data
            .iter()
            .map(|f| f.table.as_deref().map_or(0, |t| t.text().len()))
            .sum()
    }

    /// Attaches the rows that arrived in `data` frames (`parts[i]`: feeder
    /// i's text); each must be whole and as long as the plan said.
    pub fn attach(&mut self, mut parts: Vec<String>) -> Result<(), String> {
        if parts.len() > self.data.len() {
            return Err(format!(
                "data came for {} feeders; the plan has {}",
                parts.len(),
                self.data.len()
            ));
        }
        // A feeder no part came for has no rows, which is refused below.
        parts.resize(self.data.len(), String::new());
        for (f, text) in self.data.iter_mut().zip(parts) {
            if text.len() as u64 != f.bytes {
                return Err(format!(
                    "data feeder '{}': {} bytes of its rows arrived, the plan says {}",
                    f.name,
                    text.len(),
                    f.bytes
                ));
            }
            let table = crate::template::Table::from_text(text, f.columns.len())
                .map_err(|e| format!("data feeder '{}': {e}", f.name))?;
            if table.rows() == 0 {
                return Err(format!("data feeder '{}' has no rows", f.name));
            }
            if let Some(c) = table
                .text()
                .chars()
                .find(|c| c.is_control() && !matches!(c, '\t' | '\n'))
            {
                return Err(format!(
                    "data feeder '{}' holds the control character {:?}",
                    f.name, c
                ));
            }
            f.table = Some(table.shared());
        }
        Ok(())
    }

    /// The endpoint the plan sends to (what `--allow` is checked against).
    pub fn endpoint(&self) -> Result<Endpoint, String> {
        Endpoint::parse(&self.url)
    }

    /// Back into a plan an engine runs; every value is checked again.
    pub fn plan(&self) -> Result<Plan, String> {
        use crate::template::{Feeder, Feeders, OnEnd, Order, RequestTemplate, Template};
        let endpoint = self.endpoint()?;
        let data = Feeders {
            feeders: self
                .data
                .iter()
                .map(|f| {
                    let table = f.table.clone().ok_or_else(|| {
                        format!("data feeder '{}': its rows did not arrive", f.name)
                    })?;
                    Ok(Feeder::new(
                        f.name.clone(),
                        f.path.clone(),
                        f.columns.clone(),
                        table,
                        match (f.random, f.shuffle) {
                            (true, _) => Order::Random,
                            (_, true) => Order::Shuffle,
                            _ => Order::Sequential,
                        },
                        if f.stop { OnEnd::Stop } else { OnEnd::Wrap },
                        self.seed,
                    ))
                })
                .collect::<Result<_, String>>()?,
            // Delivery accounting runs where the sink is, never on agents.
            delivery: false,
        };
        let compile = |name: &str, what: &str, text: &str| {
            Template::compile(text, &data)
                .map_err(|e| format!("request '{name}': {what}: {}", e.message))
        };
        let mut requests = Vec::new();
        for r in &self.requests {
            if !r.path.starts_with('/') {
                return Err(format!("request '{}': path must start with '/'", r.name));
            }
            let body = base64::engine::general_purpose::STANDARD
                .decode(&r.body)
                .map_err(|e| format!("request '{}': body: {e}", r.name))?;
            let grpc = r
                .grpc
                .as_ref()
                .map(|g| {
                    g.request()
                        .map_err(|e| format!("request '{}': {e}", r.name))
                })
                .transpose()?;
            // A gRPC body is a framed message; its template is the JSON.
            let body_text = match &grpc {
                Some(g) => g.message_json.as_deref(),
                None => std::str::from_utf8(&body).ok(),
            };
            let mut template = RequestTemplate {
                path: compile(&r.name, "path", &r.path)?,
                headers: Vec::new(),
                body: match body_text {
                    Some(text) => compile(&r.name, "body", text)?,
                    None => None,
                },
            };
            for (k, v) in &r.headers {
                if let Some(t) = compile(&r.name, k, v)? {
                    let name = http::HeaderName::from_bytes(k.as_bytes())
                        .map_err(|e| format!("header name '{k}': {e}"))?;
                    template.headers.push((name, t));
                }
            }
            requests.push(RequestSpec {
                expect: r.expect.clone().map(|e| std::sync::Arc::new(e.expect())),
                template: (!template.is_empty()).then(|| std::sync::Arc::new(template)),
                name: r.name.clone(),
                method: http::Method::from_bytes(r.method.as_bytes())
                    .map_err(|e| format!("request '{}': method: {e}", r.name))?,
                path: r.path.clone(),
                headers: headers_of(&r.headers)?,
                body: body.into(),
                weight: r.weight,
                grpc: grpc.map(std::sync::Arc::new),
            });
        }
        if requests.is_empty() || requests.iter().all(|r| r.weight == 0) {
            return Err("the plan has no request to send".into());
        }
        let mut stages = Vec::new();
        for s in &self.stages {
            if !(s.from.is_finite() && s.to.is_finite() && s.from >= 0.0 && s.to >= 0.0) {
                return Err("a stage's level must be a non-negative number".into());
            }
            let duration = dur(s.duration_s, "a stage's duration")?;
            if duration.is_zero() {
                return Err("a stage must last longer than 0 s".into());
            }
            stages.push(Stage {
                kind: if s.ramp {
                    StageKind::Ramp
                } else {
                    StageKind::Hold
                },
                from: s.from,
                to: s.to,
                duration,
                // Names serve the coordinator's summary; an agent needs none.
                name: None,
            });
        }
        if stages.is_empty() {
            return Err("the plan has no stage".into());
        }
        let max = crate::util::limits::MAX_CONNECTIONS as usize;
        if self.max_connections == 0 || self.max_connections > max {
            return Err(format!("max_connections must be 1 to {max}"));
        }
        let interval = dur(self.interval_s, "interval")?;
        if interval < Duration::from_millis(10) {
            return Err("interval must be at least 10 ms".into());
        }
        Ok(Plan {
            data: std::sync::Arc::new(data),
            ..Plan::new(
                self.name.clone(),
                Target {
                    addr: TargetAddr::Url(endpoint),
                    headers: headers_of(&self.headers)?,
                    timeout: dur(self.timeout_s, "timeout")?,
                    connect_timeout: dur(self.connect_timeout_s, "connect_timeout")?,
                    http2: self.http2,
                    insecure: self.insecure,
                    lean: self.lean,
                },
                requests,
                LoadPlan {
                    mode: match self.mode {
                        WireMode::Open => Mode::Open,
                        WireMode::Closed => Mode::Closed,
                    },
                    stages,
                    max_connections: self.max_connections,
                    warmup: dur(self.warmup_s, "warmup")?,
                    seed: self.seed,
                    interval,
                },
            )
        })
    }
}

/// Nanoseconds since the Unix epoch on this machine's wall clock.
pub fn unix_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// Serde's default for fields that are true unless sent.
fn yes() -> bool {
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plan_goes_over_the_wire_and_back() {
        let flags = crate::profile::Adhoc::default();
        let mut plan = crate::profile::adhoc(
            "http://user:pw@127.0.0.1:8080/api",
            &flags,
            &Default::default(),
        )
        .unwrap();
        plan.requests[0].body = bytes::Bytes::from_static(b"\x00\x01body");
        let wire = WirePlan::of(&plan).unwrap();
        let text = serde_json::to_string(&ToAgent::Run {
            plan: Box::new(wire),
            members: 3,
            position: 1,
            start_unix_ns: 5,
            agent: 1,
        })
        .unwrap();
        let ToAgent::Run { plan: back, .. } = serde_json::from_str(&text).unwrap() else {
            panic!("not a run");
        };
        let back = back.plan().unwrap();
        assert_eq!(back.target.addr, plan.target.addr, "userinfo included");
        assert_eq!(back.requests[0].body, plan.requests[0].body);
        assert_eq!(back.load.stages, plan.load.stages);
        assert_eq!(back.load.mode, plan.load.mode);
    }

    #[test]
    fn data_rows_travel_in_parts_and_must_arrive_whole() {
        let flags = crate::profile::Adhoc::default();
        let mut plan =
            crate::profile::adhoc("http://127.0.0.1:8080/", &flags, &Default::default()).unwrap();
        // 3 MB of cells with a two-byte character, so parts cut inside rows
        // and must find a character boundary.
        let rows: Vec<Vec<String>> = (0..150_000)
            .map(|i| vec![format!("user-é-{i:08}"), "x".into()])
            .collect();
        let table = crate::template::Table::of_rows(2, &rows).unwrap().shared();
        std::sync::Arc::make_mut(&mut plan.data)
            .feeders
            .push(crate::template::Feeder::new(
                "users".into(),
                "users.csv".into(),
                vec!["user".into(), "x".into()],
                table.clone(),
                crate::template::Order::Sequential,
                crate::template::OnEnd::Wrap,
                1,
            ));
        let wire = WirePlan::of(&plan).unwrap();
        let parts: Vec<String> = wire
            .data_parts()
            .map(|m| serde_json::to_string(&m).unwrap())
            .collect();
        assert!(parts.len() >= 3, "{}", parts.len());
        assert!(parts.iter().all(|p| p.len() < MAX_FRAME));
        let text = serde_json::to_string(&ToAgent::Run {
            plan: Box::new(wire),
            members: 1,
            position: 0,
            start_unix_ns: 5,
            agent: 0,
        })
        .unwrap();
        assert!(text.len() < 10_000, "the rows are not in the run frame");
        let ToAgent::Run { plan: mut back, .. } = serde_json::from_str(&text).unwrap() else {
            panic!("not a run");
        };
        assert!(back.clone().plan().unwrap_err().contains("did not arrive"));
        let mut received = vec![String::new()];
        for p in &parts {
            let ToAgent::Data { feeder, part } = serde_json::from_str(p).unwrap() else {
                panic!("not data");
            };
            received[feeder as usize].push_str(&part);
        }
        let mut short = back.clone();
        let mut cut = received.clone();
        let n = cut[0].len() - 1;
        cut[0].truncate(n);
        assert!(short
            .attach(cut)
            .unwrap_err()
            .contains("bytes of its rows arrived"));
        back.attach(received).unwrap();
        let rebuilt = back.plan().unwrap();
        assert_eq!(*rebuilt.data.feeders[0].table, *table);
        let row = rebuilt.data.feeders[0].row(149_999, 1).unwrap();
        assert_eq!(row.get(0), "user-é-00149999");
    }

    #[test]
    fn secrets_compare_whole() {
        use crate::util::secret::same_secret;
        assert!(same_secret(b"abc", b"abc"));
        assert!(!same_secret(b"abc", b"abd"));
        assert!(!same_secret(b"abc", b"abcd"));
        assert!(!same_secret(b"", b"a"));
    }

    #[test]
    fn controls_and_failures_round_trip() {
        for c in [
            WireControl::SetRate(12.5),
            WireControl::Pause,
            WireControl::Stop,
        ] {
            let t = serde_json::to_string(&c).unwrap();
            assert_eq!(serde_json::from_str::<WireControl>(&t).unwrap(), c);
        }
        let f = FailureAt {
            sent: Duration::from_micros(1500),
            outcome: Outcome::Error(ErrorKind::Reset),
            request: 2,
            ended: Duration::from_micros(2700),
        };
        let w = WireFailure::from(&f);
        let t = serde_json::to_string(&w).unwrap();
        assert_eq!(
            FailureAt::from(serde_json::from_str::<WireFailure>(&t).unwrap()),
            f
        );
    }
}
