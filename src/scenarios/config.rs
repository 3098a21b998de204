//! What a scenario run asks for: plain data, decided by `profile::scenario` and the command line.

use std::time::Duration;

use crate::spec::kube::KubeSettings;

/// The gateway-api-bench tests (and the mesh scale-test RFC's staleness check).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ScenarioKind {
    AttachedRoutes,
    RouteProbe,
    RouteChange,
    RouteScale,
    BackendFailover,
    Staleness,
    TrafficMatrix,
}

impl ScenarioKind {
    pub fn name(self) -> &'static str {
        match self {
            ScenarioKind::AttachedRoutes => "attached-routes",
            ScenarioKind::RouteProbe => "route-probe",
            ScenarioKind::RouteChange => "route-change",
            ScenarioKind::RouteScale => "route-scale",
            ScenarioKind::BackendFailover => "backend-failover",
            ScenarioKind::Staleness => "staleness",
            ScenarioKind::TrafficMatrix => "traffic-matrix",
        }
    }

    pub const ALL: [ScenarioKind; 7] = [
        ScenarioKind::AttachedRoutes,
        ScenarioKind::RouteProbe,
        ScenarioKind::RouteChange,
        ScenarioKind::RouteScale,
        ScenarioKind::BackendFailover,
        ScenarioKind::Staleness,
        ScenarioKind::TrafficMatrix,
    ];

    /// Whether it needs the Kubernetes API whatever its settings (the others create
    /// routes only when asked, and otherwise use the gateway as it is).
    pub fn needs_kube(self, cfg: &ScenarioConfig) -> bool {
        match self {
            ScenarioKind::AttachedRoutes
            | ScenarioKind::RouteProbe
            | ScenarioKind::RouteChange
            | ScenarioKind::RouteScale => true,
            ScenarioKind::BackendFailover => cfg.failover.routes > 0,
            ScenarioKind::Staleness => cfg.staleness.create_route,
            ScenarioKind::TrafficMatrix => false,
        }
    }

    /// The kind named `name` ("route-change"), as `name` gives it.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.name() == name)
    }
}

/// Everything one `rampdeck scenario` run needs.
#[derive(Debug, Clone, PartialEq)]
pub struct ScenarioConfig {
    pub kube: KubeSettings,
    pub cluster: Cluster,
    pub attached: AttachedConfig,
    pub probe: ProbeConfig,
    pub change: ChangeConfig,
    pub scale: ScaleConfig,
    pub failover: FailoverConfig,
    pub staleness: StalenessConfig,
    pub matrix: MatrixConfig,
}

/// How a response names the backend that answered.
#[derive(Debug, Clone, PartialEq)]
pub enum BackendFrom {
    /// `header:x-backend`.
    Header(String),
    /// `body`: the body (trimmed) is the backend's name, as hashicorp/http-echo answers.
    Body,
}

impl BackendFrom {
    /// `header:NAME` or `body`.
    pub fn parse(s: &str) -> Result<Self, String> {
        match s.split_once(':') {
            Some(("header", h)) if http::HeaderName::from_bytes(h.as_bytes()).is_ok() => {
                Ok(BackendFrom::Header(h.to_ascii_lowercase()))
            }
            None if s == "body" => Ok(BackendFrom::Body),
            _ => Err(format!(
                "'{s}' is not a backend source: give \"header:NAME\" (e.g. \"header:x-backend\") or \"body\""
            )),
        }
    }

    pub fn header(&self) -> Option<&str> {
        match self {
            BackendFrom::Header(h) => Some(h),
            BackendFrom::Body => None,
        }
    }
}

/// route-scale: N routes applied, then churned (patched at a rate, backends rolled) for a
/// duration with traffic held, while both planes' CPU and memory are watched.
#[derive(Debug, Clone, PartialEq)]
pub struct ScaleConfig {
    pub routes: usize,
    /// Concurrent writers for the initial apply.
    pub writers: usize,
    /// How long the churn lasts once every route is applied.
    pub duration: Duration,
    /// Route patches per second during the churn.
    pub churn_rate: f64,
    /// Backends rolled this often during the churn (None: never).
    pub roll_every: Option<Duration>,
    /// The roll (the demo's fault switch is filled in; a command on a cluster).
    pub roll: Option<super::action::Toggle>,
    /// Requests per second held throughout, over the routes in turn.
    pub rate: f64,
    pub timeout: Duration,
    /// The component (source name) the score and leak verdict take as the control plane;
    /// None: the first source.
    pub control_plane: Option<String>,
    /// The data plane's source, if it is another one.
    pub data_plane: Option<String>,
    /// A memory slope confidently above this (its 95% interval wholly above) is a leak.
    pub max_memory_slope_mib_per_hour: f64,
    /// The data-plane score's p99 budget: a p99 at or under it costs nothing.
    pub p99_budget: Duration,
    /// The control-plane score's propagation budget (p99 of patch -> Accepted).
    pub propagation_budget: Duration,
    /// Fail when more requests than this failed.
    pub max_failures: Option<u64>,
    /// Fail when the weighted score is below this.
    pub min_score: Option<f64>,
}

/// backend-failover: one backend of a pair is killed and revived while traffic goes to it.
#[derive(Debug, Clone, PartialEq)]
pub struct FailoverConfig {
    /// HTTPRoutes created, each with both backends (0: send to `paths` as the gateway is).
    pub routes: usize,
    /// Paths sent to in turn when `routes` is 0.
    pub paths: Vec<String>,
    /// Host of the created routes.
    pub hostname: String,
    pub backends: Vec<String>,
    /// The backend killed (None: the last of `backends`).
    pub flapping: Option<String>,
    pub backend_from: BackendFrom,
    pub rate: f64,
    /// The per-backend counts' interval (the live pane's and the report's).
    pub interval: Duration,
    pub before: Duration,
    /// How long the backend stays dead in each cycle, then alive.
    pub down: Duration,
    pub up: Duration,
    pub cycles: u32,
    pub kill: Option<super::action::Toggle>,
    pub revive: Option<super::action::Toggle>,
    pub timeout: Duration,
    /// Fail when the dead backend was still getting traffic later than this after the kill.
    pub max_ejection: Option<Duration>,
    /// Fail when more requests than this went to the dead backend (all cycles).
    pub max_sent_to_dead: Option<u64>,
}

/// staleness: connections held idle across a backend roll, then used again.
#[derive(Debug, Clone, PartialEq)]
pub struct StalenessConfig {
    pub connections: usize,
    pub idle: Duration,
    /// Requests per connection before the idle time and again after the roll.
    pub requests: u32,
    /// From the roll to the resume (a rollout's time to settle).
    pub settle: Duration,
    /// Create one HTTPRoute over the backends (else send to `path` as the gateway is).
    pub create_route: bool,
    pub hostname: String,
    pub path: String,
    pub backends: Vec<String>,
    pub roll: Option<super::action::Toggle>,
    pub timeout: Duration,
    pub max_503: u64,
    pub max_failures: u64,
}

/// traffic-matrix: gateway-api-bench's benchtool matrix, connections x (max, fixed rate).
#[derive(Debug, Clone, PartialEq)]
pub struct MatrixConfig {
    pub connections: Vec<usize>,
    /// The fixed rate, requests per second.
    pub rate: f64,
    /// Per cell, after `warmup`.
    pub duration: Duration,
    pub warmup: Duration,
    pub path: String,
    pub host: Option<String>,
    /// Runs each cell as an ordinary run; set by the caller (`rampdeck::cells::runner()`),
    /// as the run session sits above this room.
    pub runner: Option<super::matrix::CellRunner>,
}

/// Where the routes go and how the data plane is reached.
#[derive(Debug, Clone, PartialEq)]
pub struct Cluster {
    /// The Gateway the routes attach to.
    pub gateway: String,
    /// Its namespace (None: the routes' namespace).
    pub gateway_namespace: Option<String>,
    /// Where routes are created (None: the kubeconfig's namespace).
    pub namespace: Option<String>,
    /// The Gateway's data-plane address, e.g. http://203.0.113.10 (filled in for the demo).
    pub gateway_url: Option<String>,
    /// The Service routes send traffic to (route-probe, attached-routes).
    pub backend: String,
    pub backend_port: u16,
    /// A Service that does not exist: route-probe's catch-all rule points at it.
    pub missing_backend: String,
    /// Created routes are named `<prefix>-<i>` and labelled `rampdeck.dev/scenario=<prefix>`.
    pub name_prefix: String,
}

/// attached-routes: N routes onto one Gateway, then all removed.
#[derive(Debug, Clone, PartialEq)]
pub struct AttachedConfig {
    /// Route counts; more than one runs the scenario once per count, in order.
    pub routes: Vec<usize>,
    pub writers: usize,
    /// Writes per second across all writers (None: as fast as the API server answers).
    pub write_rate: Option<f64>,
    /// Longest wait for attachedRoutes to reach its target (setup or teardown).
    pub timeout: Duration,
    /// Fail when setup (last route applied -> attachedRoutes == N) takes longer.
    pub max_setup: Option<Duration>,
    /// Fail when teardown (first delete -> attachedRoutes back to where it started) takes longer.
    pub max_teardown: Option<Duration>,
}

/// route-probe: routes applied one at a time, each probed until it serves.
#[derive(Debug, Clone, PartialEq)]
pub struct ProbeConfig {
    pub routes: Vec<usize>,
    /// Time between probes of one route.
    pub interval: Duration,
    /// Longest wait for one route to answer 200.
    pub timeout: Duration,
    /// Fail when the data-plane propagation p99 is above this.
    pub max_p99: Option<Duration>,
    /// Fail when more answers than this were neither 200 nor 404.
    pub max_errors: u64,
}

/// route-change: steady open-loop traffic while one route flips between two backends.
#[derive(Debug, Clone, PartialEq)]
pub struct ChangeConfig {
    /// Requests per second (open loop).
    pub rate: f64,
    /// Instead of `rate`: one closed-loop client sending the next request
    /// as soon as the last one answered (gateway-api-bench's way): the
    /// detection resolution is then its measured gap between requests.
    pub max_rate: bool,
    /// Time between flips.
    pub period: Duration,
    pub iterations: u32,
    /// The two backends the route flips between (the first is where it starts).
    pub backends: [String; 2],
    /// Response header naming the backend that answered; without it the
    /// body (trimmed) is matched against the backend names, as
    /// hashicorp/http-echo answers with its `-text`.
    pub backend_header: Option<String>,
    /// Traffic before the first flip (the baseline latency).
    pub before: Duration,
    /// Traffic after the last flip (late failures still count).
    pub after: Duration,
    /// Per-request timeout.
    pub timeout: Duration,
    /// Fail when more requests than this failed.
    pub max_failures: u64,
    /// The flipped route's hostname.
    pub hostname: String,
}

impl Default for ScenarioConfig {
    fn default() -> Self {
        ScenarioConfig {
            kube: KubeSettings::default(),
            cluster: Cluster {
                gateway: "rampdeck".into(),
                gateway_namespace: None,
                namespace: None,
                gateway_url: None,
                backend: "echo-v1".into(),
                backend_port: 8080,
                missing_backend: "rampdeck-missing".into(),
                name_prefix: "rampdeck-scale".into(),
            },
            attached: AttachedConfig {
                routes: vec![1000],
                writers: 1,
                write_rate: None,
                timeout: Duration::from_secs(600),
                max_setup: None,
                max_teardown: None,
            },
            probe: ProbeConfig {
                routes: vec![100],
                interval: Duration::from_millis(5),
                timeout: Duration::from_secs(60),
                max_p99: None,
                max_errors: 0,
            },
            change: ChangeConfig {
                rate: 200.0,
                max_rate: false,
                period: Duration::from_millis(200),
                iterations: 20,
                backends: ["echo-v1".into(), "echo-v2".into()],
                backend_header: Some("x-backend".into()),
                before: Duration::from_secs(2),
                after: Duration::from_secs(2),
                timeout: Duration::from_secs(2),
                max_failures: 0,
                hostname: "flip.example.com".into(),
            },
            scale: ScaleConfig {
                routes: 5000,
                writers: 4,
                duration: Duration::from_secs(30 * 60),
                churn_rate: 1.0,
                roll_every: Some(Duration::from_secs(2)),
                roll: None,
                rate: 100.0,
                timeout: Duration::from_secs(2),
                control_plane: None,
                data_plane: None,
                max_memory_slope_mib_per_hour: 20.0,
                p99_budget: Duration::from_millis(50),
                propagation_budget: Duration::from_secs(1),
                max_failures: None,
                min_score: None,
            },
            failover: FailoverConfig {
                routes: 16,
                paths: vec!["/".into()],
                hostname: "failover.example.com".into(),
                backends: vec!["echo-v1".into(), "echo-v2".into()],
                flapping: None,
                backend_from: BackendFrom::Header("x-backend".into()),
                rate: 200.0,
                interval: Duration::from_millis(100),
                before: Duration::from_secs(2),
                down: Duration::from_secs(5),
                up: Duration::from_secs(5),
                cycles: 2,
                kill: None,
                revive: None,
                timeout: Duration::from_secs(1),
                max_ejection: None,
                max_sent_to_dead: None,
            },
            staleness: StalenessConfig {
                connections: 16,
                idle: Duration::from_secs(600),
                requests: 5,
                settle: Duration::from_secs(2),
                create_route: true,
                hostname: "stale.example.com".into(),
                path: "/".into(),
                backends: vec!["echo-v1".into(), "echo-v2".into()],
                roll: None,
                timeout: Duration::from_secs(2),
                max_503: 0,
                max_failures: 0,
            },
            matrix: MatrixConfig {
                connections: vec![1, 16, 512],
                rate: 1000.0,
                duration: Duration::from_secs(10),
                warmup: Duration::from_secs(1),
                path: "/".into(),
                host: None,
                runner: None,
            },
        }
    }
}
