//! What the demo target does per route (latency model, error rate, periodic stalls) and how its
//! simulated Kubernetes Gateway API behaves. Plain data.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The gateway's WebSocket echo path.
pub const WS_PATH: &str = "/ws/echo";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DemoConfig {
    pub routes: Vec<DemoRoute>,
    /// The simulated Gateway API control plane; absent in older JSON, hence the default.
    #[serde(default)]
    pub kube: KubeSim,
    /// The TCP and WebSocket echoes (the connections mode's targets).
    #[serde(default)]
    pub echo: EchoConfig,
}

/// `[demo.echo]`: how the demo's TCP echo and the gateway's WebSocket echo
/// (`WS_PATH`) behave.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct EchoConfig {
    /// Added before each echo.
    pub latency: Duration,
    /// Fault: each connection is reset (RST) this long after it was accepted.
    pub reset_after: Option<Duration>,
    /// Fault: each connection is closed by the server (FIN, or a WebSocket
    /// close with `close_code`) this long after it was accepted.
    pub close_after: Option<Duration>,
    pub close_code: u16,
}

impl Default for EchoConfig {
    fn default() -> Self {
        EchoConfig {
            latency: Duration::ZERO,
            reset_after: None,
            close_after: None,
            close_code: 1001,
        }
    }
}

/// How the demo's simulated Gateway API implementation behaves (see `demo::kubeapi`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct KubeSim {
    /// Namespace of the pre-created Gateway; also the kubeconfig's default namespace.
    pub namespace: String,
    /// Name of the pre-created Gateway that HTTPRoutes attach to.
    pub gateway: String,
    /// Services that exist: each answers 200 with `"<name>\n"` and `x-backend: <name>`.
    pub backends: Vec<String>,
    /// From an accepted HTTPRoute write to the data plane serving it and its status being written.
    pub propagation: Duration,
    /// Fault: after a programmed route's backends change, requests matching it get 503 for this
    /// long, like a gateway that drops traffic while it swaps a route.
    pub swap_drop: Option<Duration>,
    /// HTTPRoutes the cluster starts with, programmed before any load: the
    /// demo is a working gateway whose route actions change existing routes.
    pub routes: Vec<SeedRoute>,
    /// What the simulated kubelet runs for a container whose `command[0]` is `rampdeck`
    /// (or that has no command): None is this executable (`std::env::current_exe`), right
    /// for `rampdeck demo`; tests running the demo in-process set the rampdeck binary.
    pub agent_exe: Option<std::path::PathBuf>,
    /// Pods the simulated node runs at once (the kubelet's maxPods); more stay Pending.
    pub max_pods: usize,
    /// From a Deployment's new generation being written to its rollout being
    /// done (Available, every replica updated).
    pub deployment_ready: Duration,
    /// Simulated RBAC: requests the API server refuses with 403, as
    /// "VERB RESOURCE" (`create configmaps`, `delete deployments.apps`).
    pub forbid: Vec<String>,
    /// Active health checks of the echo backends (None: the gateway never checks).
    pub health_check: Option<crate::health::HealthCheck>,
    /// Passive outlier detection: failed requests in a row eject a backend for a while.
    pub outlier: Option<crate::health::Outlier>,
    /// Further backends of a rule tried when the picked one does not answer.
    pub retries: u32,
    /// Fault: after a backend roll (`POST /demo/backends/roll`), this many requests per
    /// backend fail on pooled connections to the replaced pods (the staleness bug).
    pub stale_after_roll: u32,
    /// Fault: the control plane keeps this many bytes per HTTPRoute write and never frees
    /// them (the leak route-scale must catch).
    pub leak_per_route: usize,
}

impl KubeSim {
    /// The gateway's backend-health settings.
    pub fn health(&self) -> crate::health::HealthSettings {
        crate::health::HealthSettings {
            check: self.health_check,
            outlier: self.outlier,
            retries: self.retries,
            stale_after_roll: self.stale_after_roll,
        }
    }
}

/// `[[demo.kube.route]]`: one pre-created HTTPRoute with one rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeedRoute {
    pub name: String,
    /// None matches any host.
    pub hostnames: Vec<String>,
    pub path_prefix: String,
    pub backend: String,
}

impl Default for KubeSim {
    fn default() -> Self {
        KubeSim {
            namespace: "rampdeck".to_owned(),
            gateway: "rampdeck".to_owned(),
            backends: vec!["echo-v1".to_owned(), "echo-v2".to_owned()],
            propagation: Duration::from_millis(50),
            swap_drop: None,
            routes: Vec::new(),
            agent_exe: None,
            max_pods: 110,
            deployment_ready: Duration::from_secs(2),
            forbid: Vec::new(),
            health_check: None,
            outlier: None,
            retries: 0,
            stale_after_roll: 0,
            leak_per_route: 0,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DemoRoute {
    pub prefix: String,
    pub latency: LatencyModel,
    /// Fraction of requests (0..=1) answered with `error_status`.
    pub error_rate: f64,
    pub error_status: u16,
    /// Every `every`, the route answers nothing for `duration` (a GC pause, a
    /// stuck upstream): requests arriving then wait until the stall ends.
    pub stall: Option<Stall>,
    pub body_bytes: usize,
    /// Requests served at once; the rest wait in a queue, first come first
    /// served, so the route has a real capacity (`workers` / mean latency)
    /// and queueing shows in the latency. None: unlimited.
    #[serde(default)]
    pub workers: Option<usize>,
    /// A relay: accept events (202) and POST them on to a webhook.
    #[serde(default)]
    pub relay: Option<super::relay::RelayConfig>,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Stall {
    pub every: Duration,
    pub duration: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum LatencyModel {
    None,
    Fixed(Duration),
    /// Log-normal with the given median and 99th percentile.
    LogNormal {
        p50: Duration,
        p99: Duration,
    },
}

impl DemoRoute {
    pub fn new(prefix: &str) -> Self {
        DemoRoute {
            prefix: prefix.to_owned(),
            latency: LatencyModel::None,
            error_rate: 0.0,
            error_status: 503,
            stall: None,
            body_bytes: 64,
            workers: None,
            relay: None,
        }
    }
}

impl Default for DemoConfig {
    /// Used when a profile has `[demo]` with no routes: one well-behaved route.
    fn default() -> Self {
        DemoConfig {
            routes: vec![DemoRoute {
                latency: LatencyModel::Fixed(Duration::from_millis(2)),
                ..DemoRoute::new("/")
            }],
            kube: KubeSim::default(),
            echo: EchoConfig::default(),
        }
    }
}

impl std::fmt::Display for LatencyModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use rampdeck_base::fmt::fmt_dur;
        match self {
            LatencyModel::None => f.write_str("no added latency"),
            LatencyModel::Fixed(d) => write!(f, "latency {}", fmt_dur(*d)),
            LatencyModel::LogNormal { p50, p99 } => {
                write!(f, "latency p50 {} p99 {}", fmt_dur(*p50), fmt_dur(*p99))
            }
        }
    }
}
