//! The resources the demo serves and their names in paths, kinds and discovery: the Gateway
//! API's Gateways and HTTPRoutes, the built-in Jobs, Pods and Secrets it simulates, and the
//! namespaced kinds of a sample workload, stored as sent.

/// API group of the Gateway API resources.
pub const GROUP: &str = "gateway.networking.k8s.io";
/// The only served version of every group.
pub const VERSION: &str = "v1";
/// `apiVersion` of the Gateway API objects.
pub const API_VERSION: &str = "gateway.networking.k8s.io/v1";
/// API group of Jobs.
pub const BATCH: &str = "batch";

/// A served resource type. Ordered so stores and listings sort Gateways before HTTPRoutes.
///
/// Past the Gateway API kinds, Jobs, Pods and Secrets (which the demo
/// simulates), it stores the namespaced kinds a sample workload is made of
/// as they are sent, with open schemas: Deployments (with a simulated
/// rollout, `rollout`), the other apps/v1 workloads, ConfigMaps, Services,
/// ServiceAccounts, RBAC Roles, NetworkPolicies, PodDisruptionBudgets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Gateway,
    HttpRoute,
    Job,
    Pod,
    Secret,
    ConfigMap,
    Service,
    ServiceAccount,
    PersistentVolumeClaim,
    Deployment,
    StatefulSet,
    DaemonSet,
    ReplicaSet,
    Role,
    RoleBinding,
    NetworkPolicy,
    Ingress,
    PodDisruptionBudget,
}

/// A served API group and its one version, in discovery order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupVersion {
    /// "" for the legacy core group (`/api/v1`).
    pub group: &'static str,
    pub version: &'static str,
}

impl GroupVersion {
    /// `v1` or `batch/v1`: an `apiVersion` and discovery's `groupVersion`.
    pub fn api_version(self) -> String {
        if self.group.is_empty() {
            self.version.to_owned()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// `api/v1` or `apis/batch/v1`: the path prefix without the leading slash.
    pub fn path(self) -> String {
        if self.group.is_empty() {
            format!("api/{}", self.version)
        } else {
            format!("apis/{}/{}", self.group, self.version)
        }
    }

    pub fn kinds(self) -> impl Iterator<Item = Kind> {
        Kind::ALL
            .into_iter()
            .filter(move |k| k.group() == self.group)
    }
}

const fn gv(group: &'static str) -> GroupVersion {
    GroupVersion {
        group,
        version: VERSION,
    }
}

pub const CORE_V1: GroupVersion = gv("");
pub const BATCH_V1: GroupVersion = gv(BATCH);
pub const GATEWAY_V1: GroupVersion = gv(GROUP);
pub const APPS_V1: GroupVersion = gv("apps");
pub const RBAC_V1: GroupVersion = gv("rbac.authorization.k8s.io");
pub const NETWORKING_V1: GroupVersion = gv("networking.k8s.io");
pub const POLICY_V1: GroupVersion = gv("policy");
/// The named groups of `/apis`, in the order discovery lists them.
pub const NAMED_GROUPS: [GroupVersion; 6] = [
    GATEWAY_V1,
    BATCH_V1,
    APPS_V1,
    RBAC_V1,
    NETWORKING_V1,
    POLICY_V1,
];

/// A kind's names in paths, discovery and messages.
struct Names {
    kind: &'static str,
    plural: &'static str,
    group: &'static str,
    short: &'static [&'static str],
    categories: &'static [&'static str],
}

impl Kind {
    pub const ALL: [Kind; 18] = [
        Kind::Gateway,
        Kind::HttpRoute,
        Kind::Job,
        Kind::Pod,
        Kind::Secret,
        Kind::ConfigMap,
        Kind::Service,
        Kind::ServiceAccount,
        Kind::PersistentVolumeClaim,
        Kind::Deployment,
        Kind::StatefulSet,
        Kind::DaemonSet,
        Kind::ReplicaSet,
        Kind::Role,
        Kind::RoleBinding,
        Kind::NetworkPolicy,
        Kind::Ingress,
        Kind::PodDisruptionBudget,
    ];
    /// The kinds the simulated Gateway API controller reads.
    pub const GATEWAY_API: [Kind; 2] = [Kind::Gateway, Kind::HttpRoute];

    /// As upstream, so `kubectl get gtw`, `po` or `deploy` work and
    /// `kubectl get all` lists the workloads.
    fn names(self) -> Names {
        let n = |kind, plural, group, short, categories| Names {
            kind,
            plural,
            group,
            short,
            categories,
        };
        const ALL: &[&str] = &["all"];
        const GW: &[&str] = &["gateway-api"];
        match self {
            Kind::Gateway => n("Gateway", "gateways", GROUP, &["gtw"], GW),
            Kind::HttpRoute => n("HTTPRoute", "httproutes", GROUP, &[], GW),
            Kind::Job => n("Job", "jobs", BATCH, &[], ALL),
            Kind::Pod => n("Pod", "pods", "", &["po"], ALL),
            Kind::Secret => n("Secret", "secrets", "", &[], &[]),
            Kind::ConfigMap => n("ConfigMap", "configmaps", "", &["cm"], &[]),
            Kind::Service => n("Service", "services", "", &["svc"], ALL),
            Kind::ServiceAccount => n("ServiceAccount", "serviceaccounts", "", &["sa"], &[]),
            Kind::PersistentVolumeClaim => n(
                "PersistentVolumeClaim",
                "persistentvolumeclaims",
                "",
                &["pvc"],
                &[],
            ),
            Kind::Deployment => n("Deployment", "deployments", "apps", &["deploy"], ALL),
            Kind::StatefulSet => n("StatefulSet", "statefulsets", "apps", &["sts"], ALL),
            Kind::DaemonSet => n("DaemonSet", "daemonsets", "apps", &["ds"], ALL),
            Kind::ReplicaSet => n("ReplicaSet", "replicasets", "apps", &["rs"], ALL),
            Kind::Role => n("Role", "roles", RBAC_V1.group, &[], &[]),
            Kind::RoleBinding => n("RoleBinding", "rolebindings", RBAC_V1.group, &[], &[]),
            Kind::NetworkPolicy => n(
                "NetworkPolicy",
                "networkpolicies",
                NETWORKING_V1.group,
                &["netpol"],
                &[],
            ),
            Kind::Ingress => n("Ingress", "ingresses", NETWORKING_V1.group, &["ing"], &[]),
            Kind::PodDisruptionBudget => n(
                "PodDisruptionBudget",
                "poddisruptionbudgets",
                "policy",
                &["pdb"],
                &[],
            ),
        }
    }

    pub fn kind(self) -> &'static str {
        self.names().kind
    }

    pub fn list_kind(self) -> String {
        format!("{}List", self.kind())
    }

    pub fn plural(self) -> &'static str {
        self.names().plural
    }

    pub fn singular(self) -> String {
        self.kind().to_ascii_lowercase()
    }

    pub fn short_names(self) -> &'static [&'static str] {
        self.names().short
    }

    /// Discovery categories: `kubectl get all` lists pods, jobs and the workloads.
    pub fn categories(self) -> &'static [&'static str] {
        self.names().categories
    }

    /// The API group: "" for the core group.
    pub fn group(self) -> &'static str {
        self.names().group
    }

    pub fn group_version(self) -> GroupVersion {
        gv(self.group())
    }

    /// `apiVersion` of this kind's objects.
    pub fn api_version(self) -> String {
        self.group_version().api_version()
    }

    /// Stored as sent with an open schema (no admission of its own): the
    /// kinds a sample workload brings, past those the demo simulates.
    pub fn generic(self) -> bool {
        !matches!(
            self,
            Kind::Gateway | Kind::HttpRoute | Kind::Job | Kind::Pod | Kind::Secret
        )
    }

    /// Has a status subresource (Secrets, ConfigMaps, accounts and RBAC objects do not).
    pub fn has_status(self) -> bool {
        !matches!(
            self,
            Kind::Secret
                | Kind::ConfigMap
                | Kind::ServiceAccount
                | Kind::Role
                | Kind::RoleBinding
                | Kind::NetworkPolicy
        )
    }

    /// A Kubernetes built-in type (not a custom resource): no pruning of unknown fields.
    pub fn builtin(self) -> bool {
        !matches!(self, Kind::Gateway | Kind::HttpRoute)
    }

    /// The kind of `plural` in the group-version `group`/`version`, if served.
    pub fn from_path(group: &str, version: &str, plural: &str) -> Option<Kind> {
        Kind::ALL
            .into_iter()
            .find(|k| k.group() == group && version == VERSION && k.plural() == plural)
    }

    /// `httproutes.gateway.networking.k8s.io`, `jobs.batch` or `pods`: the resource name used
    /// in API messages.
    pub fn qualified(self) -> String {
        match self.group() {
            "" => self.plural().to_owned(),
            g => format!("{}.{g}", self.plural()),
        }
    }

    /// `HTTPRoute.gateway.networking.k8s.io`, `Job.batch` or `Pod`: the kind as "is invalid"
    /// messages name it.
    pub fn qualified_kind(self) -> String {
        match self.group() {
            "" => self.kind().to_owned(),
            g => format!("{}.{g}", self.kind()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(Kind::from_path("", "v1", "pods"), Some(Kind::Pod));
        assert_eq!(Kind::from_path("batch", "v1", "jobs"), Some(Kind::Job));
        assert_eq!(Kind::from_path("batch", "v1", "pods"), None);
        assert_eq!(
            Kind::from_path(GROUP, "v1", "httproutes"),
            Some(Kind::HttpRoute)
        );
        assert_eq!(Kind::Job.qualified(), "jobs.batch");
        assert_eq!(Kind::Pod.qualified(), "pods");
        assert_eq!(Kind::Pod.qualified_kind(), "Pod");
        assert_eq!(BATCH_V1.path(), "apis/batch/v1");
        assert_eq!(CORE_V1.api_version(), "v1");
        assert_eq!(
            CORE_V1.kinds().collect::<Vec<_>>(),
            [
                Kind::Pod,
                Kind::Secret,
                Kind::ConfigMap,
                Kind::Service,
                Kind::ServiceAccount,
                Kind::PersistentVolumeClaim
            ]
        );
        assert_eq!(
            Kind::from_path("apps", "v1", "deployments"),
            Some(Kind::Deployment)
        );
        assert_eq!(Kind::Deployment.api_version(), "apps/v1");
        assert_eq!(Kind::NetworkPolicy.list_kind(), "NetworkPolicyList");
        assert_eq!(Kind::Role.qualified(), "roles.rbac.authorization.k8s.io");
    }
}
