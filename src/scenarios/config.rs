//! What a scenario run asks for: plain data, decided by `profile::scenario` and the command line.

use std::time::Duration;

use crate::spec::kube::KubeSettings;

/// The three gateway-api-bench tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ScenarioKind {
    AttachedRoutes,
    RouteProbe,
    RouteChange,
}

impl ScenarioKind {
    pub fn name(self) -> &'static str {
        match self {
            ScenarioKind::AttachedRoutes => "attached-routes",
            ScenarioKind::RouteProbe => "route-probe",
            ScenarioKind::RouteChange => "route-change",
        }
    }

    pub const ALL: [ScenarioKind; 3] = [
        ScenarioKind::AttachedRoutes,
        ScenarioKind::RouteProbe,
        ScenarioKind::RouteChange,
    ];

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
        }
    }
}
