//! The profile's TOML schema as written by users: one struct per table, strict about unknown keys.
//!
//! These types only describe the file. Their meaning (defaults, ranges, how
//! fields combine) is decided in `validate.rs`, which turns them into a `Plan`.

use std::collections::BTreeMap;

use rampdeck_base::duration::Dur;
use serde::Deserialize;
use toml::Spanned;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawProfile {
    pub name: Option<String>,
    pub description: Option<String>,
    pub target: Option<Spanned<RawTarget>>,
    #[serde(default, rename = "request")]
    pub requests: Vec<Spanned<RawRequest>>,
    pub load: Option<Spanned<RawLoad>>,
    pub demo: Option<rampdeck_demo::profile::RawDemo>,
    #[serde(default, rename = "source")]
    pub sources: Vec<Spanned<RawSource>>,
    #[serde(default, rename = "stat")]
    pub stats: Vec<Spanned<RawStat>>,
    #[serde(default, rename = "probe")]
    pub probes: Vec<Spanned<RawProbe>>,
    pub thresholds: Option<RawThresholds>,
    pub kube: Option<RawKube>,
    #[serde(default, rename = "route_action")]
    pub route_actions: Vec<Spanned<RawRouteAction>>,
    /// Only read by `rampdeck scenario`.
    pub scenario: Option<Spanned<RawScenario>>,
    /// Only read by `rampdeck find`.
    pub find: Option<Spanned<RawFind>>,
    #[serde(default, rename = "data")]
    pub data: Vec<Spanned<RawData>>,
    /// Run the load from agents (`--agents` replaces it).
    pub agents: Option<Spanned<RawAgents>>,
    /// A sink for what the system delivers, and the accounting of every event.
    pub delivery: Option<Spanned<RawDelivery>>,
    /// rampdeck's own metrics endpoint (`--metrics-listen` replaces it).
    pub metrics: Option<Spanned<RawMetrics>>,
    /// The test's workload, applied before the load and removed after it.
    #[serde(default)]
    pub setup: Vec<Spanned<RawSetup>>,
}

/// `[[setup]]`: one manifest applied, and what to wait for.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSetup {
    pub manifest: Option<Spanned<String>>,
    #[serde(default)]
    pub vars: std::collections::BTreeMap<String, String>,
    pub ready: Option<bool>,
    #[serde(default)]
    pub wait: Vec<Spanned<RawWait>>,
    pub timeout: Option<Spanned<Dur>>,
    pub keep: Option<bool>,
}

/// `[[setup.wait]]` (and a kube route action's `wait`): a condition of
/// objects, or a URL answering a status.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawWait {
    pub kind: Option<Spanned<String>>,
    pub name: Option<Spanned<String>>,
    pub condition: Option<Spanned<String>>,
    pub url: Option<Spanned<String>>,
    pub status: Option<Spanned<i64>>,
}

/// `[metrics]`: where the OpenMetrics endpoint listens.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMetrics {
    pub listen: Option<Spanned<String>>,
}

/// `[delivery]`: the sink, how arrivals are correlated, how it answers.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDelivery {
    pub listen: Option<Spanned<String>>,
    /// The id each publish carries, a template (default "{{uuid}}").
    pub id: Option<Spanned<String>>,
    pub id_header: Option<Spanned<String>>,
    pub id_pointer: Option<Spanned<String>>,
    pub deadline: Option<Spanned<Dur>>,
    pub expect_copies: Option<Spanned<i64>>,
    pub capacity: Option<Spanned<i64>>,
    pub respond: Option<Spanned<RawRespond>>,
}

/// `[delivery.respond]`: the sink's answers.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRespond {
    pub status: Option<Spanned<i64>>,
    pub latency: Option<Spanned<Dur>>,
    pub failure_rate: Option<Spanned<f64>>,
    pub failure_status: Option<Spanned<i64>>,
}

/// `[agents]`: where a distributed run's agents come from.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAgents {
    /// local, static or kubernetes.
    pub kind: Spanned<String>,
    pub count: Option<Spanned<i64>>,
    pub addresses: Option<Spanned<Vec<String>>>,
    pub token_file: Option<String>,
    pub namespace: Option<String>,
    pub image: Option<String>,
    pub job_template: Option<String>,
}

/// `[find]`: a capacity search's bounds, steps and SLO.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFind {
    pub start: Option<Spanned<f64>>,
    pub max: Option<Spanned<f64>>,
    pub factor: Option<Spanned<f64>>,
    /// A fraction (0.02) of the passing level.
    pub precision: Option<Spanned<f64>>,
    pub max_steps: Option<Spanned<i64>>,
    pub step: Option<Spanned<Dur>>,
    pub settle: Option<Spanned<Dur>>,
    pub confirm: Option<Spanned<Dur>>,
    /// Criteria in the `[thresholds]` syntax, e.g. ["p99 < 50ms"].
    pub slo: Option<Spanned<Vec<String>>>,
    /// Search concurrency (closed loop) instead of rate.
    pub concurrency: Option<bool>,
}

/// `[scenario]`: the Gateway API scenarios' cluster settings and, per scenario, its sizes and criteria.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawScenario {
    pub gateway: Option<Spanned<String>>,
    pub gateway_namespace: Option<Spanned<String>>,
    pub namespace: Option<Spanned<String>>,
    pub gateway_url: Option<Spanned<String>>,
    pub backend: Option<Spanned<String>>,
    pub backend_port: Option<Spanned<i64>>,
    pub missing_backend: Option<Spanned<String>>,
    pub name_prefix: Option<Spanned<String>>,
    pub attached_routes: Option<RawAttachedRoutes>,
    pub route_probe: Option<RawRouteProbe>,
    pub route_change: Option<RawRouteChange>,
    pub route_scale: Option<super::scenario_tables::RawRouteScale>,
    pub backend_failover: Option<super::scenario_tables::RawBackendFailover>,
    pub staleness: Option<super::scenario_tables::RawStaleness>,
    pub traffic_matrix: Option<super::scenario_tables::RawTrafficMatrix>,
}

/// `[scenario.attached_routes]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAttachedRoutes {
    /// A count or a list of counts.
    pub routes: Option<Spanned<toml::Value>>,
    pub writers: Option<Spanned<i64>>,
    pub write_rate: Option<Spanned<f64>>,
    pub timeout: Option<Spanned<Dur>>,
    pub max_setup: Option<Spanned<Dur>>,
    pub max_teardown: Option<Spanned<Dur>>,
}

/// `[scenario.route_probe]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRouteProbe {
    pub routes: Option<Spanned<toml::Value>>,
    pub interval: Option<Spanned<Dur>>,
    pub timeout: Option<Spanned<Dur>>,
    pub max_p99: Option<Spanned<Dur>>,
    pub max_errors: Option<Spanned<i64>>,
}

/// `[scenario.route_change]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRouteChange {
    pub rate: Option<Spanned<f64>>,
    /// A closed-loop client at the rate answers come, instead of `rate`.
    pub max_rate: Option<Spanned<bool>>,
    pub period: Option<Spanned<Dur>>,
    pub iterations: Option<Spanned<i64>>,
    pub backends: Option<Spanned<Vec<String>>>,
    pub backend_header: Option<Spanned<String>>,
    pub before: Option<Spanned<Dur>>,
    pub after: Option<Spanned<Dur>>,
    pub timeout: Option<Spanned<Dur>>,
    pub max_failures: Option<Spanned<i64>>,
    pub hostname: Option<Spanned<String>>,
}

/// `[kube]`: which cluster route actions talk to.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawKube {
    pub kubeconfig: Option<String>,
    pub context: Option<String>,
    pub namespace: Option<String>,
}

/// `[[route_action]]`: a route change fired by a key or at an offset into the run.
/// The fields of each kind are checked in validation, so a field of another
/// kind gets a message naming the kind it belongs to.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRouteAction {
    pub name: Option<String>,
    pub key: Option<Spanned<i64>>,
    pub kind: Spanned<String>,
    /// One duration or a list of them.
    pub at: Option<Spanned<toml::Value>>,
    pub timeout: Option<Spanned<Dur>>,
    /// name = "value" or name = ["value1", "value2"] (one per firing, in turn).
    #[serde(default)]
    pub vars: BTreeMap<String, Spanned<toml::Value>>,
    /// The `[[request]]` names whose failures count as this action's drops.
    pub affects: Option<Spanned<Vec<String>>>,
    // kind = "kube"
    pub op: Option<Spanned<String>>,
    pub manifest: Option<Spanned<String>>,
    pub object: Option<Spanned<toml::Table>>,
    pub resource: Option<Spanned<String>>,
    pub patch: Option<Spanned<toml::Table>>,
    pub namespace: Option<Spanned<String>>,
    pub watch: Option<Spanned<bool>>,
    /// What the change converges to: `[{ kind, name, condition }]` or `[{ url, status }]`.
    #[serde(default)]
    pub wait: Vec<Spanned<RawWait>>,
    // kind = "http"
    pub method: Option<Spanned<String>>,
    pub url: Option<Spanned<String>>,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    pub body: Option<Spanned<String>>,
    pub expect_status: Option<Spanned<i64>>,
    // kind = "command"
    pub command: Option<Spanned<Vec<String>>>,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    pub cwd: Option<String>,
    pub verify: Option<Spanned<RawVerify>>,
}

/// `verify = { url = ..., host = ..., status = 200, header = "x-backend: echo-v2" }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawVerify {
    pub url: Spanned<String>,
    pub host: Option<String>,
    pub status: Option<Spanned<i64>>,
    pub header: Option<Spanned<String>>,
    pub body_contains: Option<String>,
    pub interval: Option<Spanned<Dur>>,
    pub timeout: Option<Spanned<Dur>>,
}

/// `[thresholds]`: `metric = "<op> <value>"`, e.g. `p99 = "< 250ms"`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawThresholds {
    pub p50: Option<Spanned<String>>,
    pub p90: Option<Spanned<String>>,
    pub p95: Option<Spanned<String>>,
    pub p99: Option<Spanned<String>>,
    pub p999: Option<Spanned<String>>,
    pub max: Option<Spanned<String>>,
    pub mean: Option<Spanned<String>>,
    pub service_p50: Option<Spanned<String>>,
    pub service_p90: Option<Spanned<String>>,
    pub service_p95: Option<Spanned<String>>,
    pub service_p99: Option<Spanned<String>>,
    pub service_p999: Option<Spanned<String>>,
    pub service_max: Option<Spanned<String>>,
    /// Failed responses and transport errors (the rest of `p99`'s requests).
    pub failed_p50: Option<Spanned<String>>,
    pub failed_p90: Option<Spanned<String>>,
    pub failed_p95: Option<Spanned<String>>,
    pub failed_p99: Option<Spanned<String>>,
    pub failed_p999: Option<Spanned<String>>,
    pub failed_max: Option<Spanned<String>>,
    pub success_rate: Option<Spanned<String>>,
    pub rps: Option<Spanned<String>>,
    /// `[delivery]`: percent of events delivered, end-to-end latency, counts.
    pub delivery_rate: Option<Spanned<String>>,
    pub delivery_p50: Option<Spanned<String>>,
    pub delivery_p99: Option<Spanned<String>>,
    pub delivery_max: Option<Spanned<String>>,
    pub duplicates: Option<Spanned<String>>,
    pub lost: Option<Spanned<String>>,
    /// Per `[[source]]` name.
    #[serde(default)]
    pub component: BTreeMap<String, Spanned<RawComponentThresholds>>,
    /// Per `[[stat]]` or `[[probe]]` name.
    #[serde(default)]
    pub probe: BTreeMap<String, Spanned<RawProbeThresholds>>,
    /// Per level epoch, by number: `[thresholds.epoch.2]`.
    #[serde(default)]
    pub epoch: BTreeMap<String, Spanned<RawLevelThresholds>>,
    /// Per stage, by name or number: `[thresholds.stage.peak]`.
    #[serde(default)]
    pub stage: BTreeMap<String, Spanned<RawLevelThresholds>>,
}

/// What one epoch or stage is judged on.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLevelThresholds {
    pub p50: Option<Spanned<String>>,
    pub p90: Option<Spanned<String>>,
    pub p95: Option<Spanned<String>>,
    pub p99: Option<Spanned<String>>,
    pub p999: Option<Spanned<String>>,
    pub max: Option<Spanned<String>>,
    pub mean: Option<Spanned<String>>,
    pub service_p50: Option<Spanned<String>>,
    pub service_p90: Option<Spanned<String>>,
    pub service_p95: Option<Spanned<String>>,
    pub service_p99: Option<Spanned<String>>,
    pub service_p999: Option<Spanned<String>>,
    pub success_rate: Option<Spanned<String>>,
    pub rps: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawComponentThresholds {
    pub cpu_avg: Option<Spanned<String>>,
    pub cpu_max: Option<Spanned<String>>,
    pub memory_max: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawProbeThresholds {
    pub p50: Option<Spanned<String>>,
    pub p95: Option<Spanned<String>>,
    pub p99: Option<Spanned<String>>,
    pub max: Option<Spanned<String>>,
}

/// `[[source]]`: where a control-plane component's CPU and memory come from.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSource {
    pub name: Option<String>,
    /// "scrape" or "promql"; checked in validation so the error names the field.
    pub kind: Spanned<String>,
    pub url: Spanned<String>,
    pub interval: Option<Spanned<Dur>>,
    pub timeout: Option<Spanned<Dur>>,
    pub cpu_metric: Option<String>,
    pub memory_metric: Option<String>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    pub cpu_query: Option<Spanned<String>>,
    pub memory_query: Option<Spanned<String>>,
    pub bearer_token_file: Option<String>,
    pub bearer_token_env: Option<String>,
}

/// `[[stat]]`: a command timed on an interval.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStat {
    pub name: Option<String>,
    pub command: Spanned<Vec<String>>,
    #[serde(default)]
    pub shell: bool,
    pub interval: Option<Spanned<Dur>>,
    pub timeout: Option<Spanned<Dur>>,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    pub cwd: Option<String>,
    pub lines: Option<Spanned<i64>>,
    /// "exit" (default) or "first_line".
    pub until: Option<Spanned<String>>,
}

/// `[[probe]]`: a URL timed on an interval.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawProbe {
    pub name: Option<String>,
    pub url: Spanned<String>,
    pub expect_status: Option<Spanned<i64>>,
    pub interval: Option<Spanned<Dur>>,
    pub timeout: Option<Spanned<Dur>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTarget {
    /// Base URL; request paths are appended to it. Optional when `[demo]` is present.
    pub url: Option<Spanned<String>>,
    #[serde(default)]
    pub headers: BTreeMap<String, Spanned<String>>,
    pub timeout: Option<Spanned<Dur>>,
    pub connect_timeout: Option<Spanned<Dur>>,
    #[serde(default)]
    pub http2: bool,
    /// Skip TLS certificate verification. Off unless asked for.
    #[serde(default)]
    pub insecure: bool,
    /// The plain HTTP/1.1 client: "lean" (default) or "hyper".
    pub http1: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRequest {
    pub name: Option<String>,
    pub method: Option<Spanned<String>>,
    pub path: Option<Spanned<String>>,
    #[serde(default)]
    pub headers: BTreeMap<String, Spanned<String>>,
    pub body: Option<Spanned<String>>,
    pub weight: Option<Spanned<i64>>,
    /// Response checks: a response that fails one is a `check` failure.
    pub expect: Option<Spanned<RawExpect>>,
    /// "http" (the default) or "grpc".
    pub kind: Option<Spanned<String>>,
    /// gRPC: the full service name, `package.Service`.
    pub service: Option<Spanned<String>>,
    /// gRPC: request metadata (sent as HTTP/2 headers; templates apply).
    #[serde(default)]
    pub metadata: BTreeMap<String, Spanned<String>>,
    /// gRPC: the request message as JSON text or a table, encoded by `descriptor_set`.
    pub message: Option<Spanned<toml::Value>>,
    /// gRPC: the request message as raw protobuf bytes.
    pub message_file: Option<Spanned<String>>,
    /// gRPC: a descriptor set file (`protoc --include_imports --descriptor_set_out`).
    pub descriptor_set: Option<Spanned<String>>,
}

/// `expect = { status = [200], header = { "x-backend" = "v2" }, body_contains = "ok", body_max_bytes = 65536 }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawExpect {
    pub status: Option<Vec<i64>>,
    #[serde(default)]
    pub header: BTreeMap<String, String>,
    pub body_contains: Option<String>,
    pub body_max_bytes: Option<i64>,
}

/// `[[data]]`: a CSV or JSON Lines file whose rows `{{data.COLUMN}}` reads.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawData {
    /// For `{{data.NAME.COLUMN}}` when two files share a column (default: the file's stem).
    pub name: Option<String>,
    pub file: Spanned<String>,
    /// sequential (default), random or shuffle.
    pub order: Option<Spanned<String>>,
    /// wrap (default) or stop.
    pub on_end: Option<Spanned<String>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RawMode {
    Open,
    Closed,
    Connections,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLoad {
    pub mode: Option<Spanned<RawMode>>,
    /// Shorthand for one `hold` stage at this rate (open mode).
    pub rate: Option<Spanned<f64>>,
    /// Shorthand for one `hold` stage at this concurrency (closed mode).
    pub concurrency: Option<Spanned<i64>>,
    pub duration: Option<Spanned<Dur>>,
    pub max_connections: Option<Spanned<i64>>,
    pub warmup: Option<Spanned<Dur>>,
    pub seed: Option<u64>,
    pub interval: Option<Spanned<Dur>>,
    pub stages: Option<Spanned<Vec<Spanned<RawStage>>>>,
    /// Connections mode: how many connections to hold (shorthand for one stage).
    pub target: Option<Spanned<i64>>,
    /// Connections mode: how long each connection is held (default: to the end).
    pub hold: Option<Spanned<Dur>>,
    /// Connections mode: the payload each message carries.
    pub message: Option<Spanned<String>>,
    /// Connections mode: a message every this often on each connection.
    pub message_interval: Option<Spanned<Dur>>,
    /// Connections mode: "v1" or "v2", a PROXY protocol header first.
    pub proxy_protocol: Option<Spanned<String>>,
    /// Connections mode against the demo: "tcp" or "websocket".
    pub traffic: Option<Spanned<String>>,
    /// Connections mode: reopen a connection the server closed or reset
    /// (default true), timing the gap; false leaves it lost.
    pub reconnect: Option<Spanned<bool>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RawStageKind {
    Ramp,
    Hold,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStage {
    pub kind: Spanned<RawStageKind>,
    /// Ramp start; defaults to where the previous stage ended.
    pub from: Option<Spanned<f64>>,
    /// Ramp end.
    pub to: Option<Spanned<f64>>,
    /// Hold level; defaults to where the previous stage ended.
    pub target: Option<Spanned<f64>>,
    pub duration: Spanned<Dur>,
    /// What thresholds and compare call it: `stage.NAME.p99`.
    pub name: Option<Spanned<String>>,
}
