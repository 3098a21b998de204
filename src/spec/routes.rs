//! What the profile asks route actions to do: plain data, decided by `profile::validate`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use crate::spec::kube::{KubeOp, KubeSettings, ObjectKind};

/// Every `[[route_action]]`, plus how to reach Kubernetes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RoutesConfig {
    pub kube: KubeSettings,
    pub actions: Vec<ActionConfig>,
    /// Run-wide `{{vars}}` (target, demo addresses), filled in before the run.
    pub base_vars: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ActionConfig {
    pub name: String,
    /// 1-9: the digit that fires it from the console's route menu.
    pub key: Option<u8>,
    /// Offsets into the run at which it fires by itself (headless runs use these).
    pub at: Vec<Duration>,
    /// How long the action itself may take before it counts as hung.
    pub timeout: Duration,
    /// `{{name}}` values; a list is used in turn, one value per firing.
    pub vars: BTreeMap<String, Vec<String>>,
    /// `affects`: the profile's requests (by name) whose failures are this
    /// action's drops. Unset: the requests its HTTPRoute serves, or every
    /// request when that cannot be told (http and command actions).
    pub affects: Option<Vec<String>>,
    pub kind: ActionKind,
    pub verify: Option<VerifyConfig>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ActionKind {
    Kube(KubeAction),
    Http(HttpAction),
    Command(CommandAction),
}

impl ActionKind {
    pub fn name(&self) -> &'static str {
        match self {
            ActionKind::Kube(_) => "kube",
            ActionKind::Http(_) => "http",
            ActionKind::Command(_) => "command",
        }
    }
}

/// Where a kube action's object comes from; templated at each firing.
#[derive(Debug, Clone, PartialEq)]
pub enum ObjectSource {
    /// A YAML or JSON file (e.g. manifests/httproute.yaml).
    File(PathBuf),
    /// A table in the profile, as JSON.
    Inline(serde_json::Value),
    /// Only a kind and name (`resource = "httproute/route-1"`), for delete and patch.
    Named { kind: ObjectKind, name: String },
}

#[derive(Debug, Clone, PartialEq)]
pub struct KubeAction {
    pub op: KubeOp,
    pub object: ObjectSource,
    /// For patch: the merge patch (templated); the object names its target.
    pub patch: Option<serde_json::Value>,
    /// Overrides `[kube].namespace` and the object's own.
    pub namespace: Option<String>,
    /// Watch the route's status for control-plane propagation.
    pub watch: bool,
    /// Conditions the change converges to (objects of any kind, or a URL);
    /// empty: each applied object's own readiness, where its kind has one.
    pub waits: Vec<crate::spec::setup::WaitSpec>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct HttpAction {
    pub method: http::Method,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<String>,
    /// Any 2xx when unset.
    pub expect_status: Option<u16>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CommandAction {
    pub argv: Vec<String>,
    pub env: Vec<(String, String)>,
    pub cwd: Option<PathBuf>,
}

/// A data-plane check polled after the action returns, until it matches.
#[derive(Debug, Clone, PartialEq)]
pub struct VerifyConfig {
    pub url: String,
    /// Sent as the Host header (routes are matched by hostname).
    pub host: Option<String>,
    pub status: u16,
    /// `name: value` that must be in the response.
    pub header: Option<(String, String)>,
    /// Text that must be in the body, e.g. "echo-v2".
    pub body_contains: Option<String>,
    pub interval: Duration,
    pub timeout: Duration,
}

pub const DEFAULT_ACTION_TIMEOUT: Duration = Duration::from_secs(30);
pub const DEFAULT_VERIFY_INTERVAL: Duration = Duration::from_millis(5);
pub const DEFAULT_VERIFY_TIMEOUT: Duration = Duration::from_secs(30);
/// Failed requests from this long before an action...
pub const DROPS_BEFORE: Duration = Duration::from_secs(1);
/// ...to this long after it are listed as its drops.
pub const DROPS_AFTER: Duration = Duration::from_secs(5);

impl RoutesConfig {
    pub fn is_empty(&self) -> bool {
        self.actions.is_empty()
    }

    pub fn uses_kube(&self) -> bool {
        self.actions
            .iter()
            .any(|a| matches!(a.kind, ActionKind::Kube(_)))
    }
}
