//! The resources the demo serves and their names in paths, kinds and discovery: the Gateway
//! API's Gateways and HTTPRoutes, and the built-in batch/v1 Jobs and core/v1 Pods and Secrets.

/// API group of the Gateway API resources.
pub const GROUP: &str = "gateway.networking.k8s.io";
/// The only served version of every group.
pub const VERSION: &str = "v1";
/// `apiVersion` of the Gateway API objects.
pub const API_VERSION: &str = "gateway.networking.k8s.io/v1";
/// API group of Jobs.
pub const BATCH: &str = "batch";

/// A served resource type. Ordered so stores and listings sort Gateways before HTTPRoutes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Gateway,
    HttpRoute,
    Job,
    Pod,
    Secret,
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

pub const CORE_V1: GroupVersion = GroupVersion {
    group: "",
    version: VERSION,
};
pub const BATCH_V1: GroupVersion = GroupVersion {
    group: BATCH,
    version: VERSION,
};
pub const GATEWAY_V1: GroupVersion = GroupVersion {
    group: GROUP,
    version: VERSION,
};
/// The named groups of `/apis`, in the order discovery lists them.
pub const NAMED_GROUPS: [GroupVersion; 2] = [GATEWAY_V1, BATCH_V1];

impl Kind {
    pub const ALL: [Kind; 5] = [
        Kind::Gateway,
        Kind::HttpRoute,
        Kind::Job,
        Kind::Pod,
        Kind::Secret,
    ];
    /// The kinds the simulated Gateway API controller reads.
    pub const GATEWAY_API: [Kind; 2] = [Kind::Gateway, Kind::HttpRoute];

    pub fn kind(self) -> &'static str {
        match self {
            Kind::Gateway => "Gateway",
            Kind::HttpRoute => "HTTPRoute",
            Kind::Job => "Job",
            Kind::Pod => "Pod",
            Kind::Secret => "Secret",
        }
    }

    pub fn list_kind(self) -> &'static str {
        match self {
            Kind::Gateway => "GatewayList",
            Kind::HttpRoute => "HTTPRouteList",
            Kind::Job => "JobList",
            Kind::Pod => "PodList",
            Kind::Secret => "SecretList",
        }
    }

    pub fn plural(self) -> &'static str {
        match self {
            Kind::Gateway => "gateways",
            Kind::HttpRoute => "httproutes",
            Kind::Job => "jobs",
            Kind::Pod => "pods",
            Kind::Secret => "secrets",
        }
    }

    pub fn singular(self) -> &'static str {
        match self {
            Kind::Gateway => "gateway",
            Kind::HttpRoute => "httproute",
            Kind::Job => "job",
            Kind::Pod => "pod",
            Kind::Secret => "secret",
        }
    }

    /// As upstream, so `kubectl get gtw` and `kubectl get po` work.
    pub fn short_names(self) -> &'static [&'static str] {
        match self {
            Kind::Gateway => &["gtw"],
            Kind::Pod => &["po"],
            Kind::HttpRoute | Kind::Job | Kind::Secret => &[],
        }
    }

    /// Discovery categories: `kubectl get all` lists pods and jobs.
    pub fn categories(self) -> &'static [&'static str] {
        match self {
            Kind::Gateway | Kind::HttpRoute => &["gateway-api"],
            Kind::Job | Kind::Pod => &["all"],
            Kind::Secret => &[],
        }
    }

    /// The API group: "" for the core group.
    pub fn group(self) -> &'static str {
        match self {
            Kind::Gateway | Kind::HttpRoute => GROUP,
            Kind::Job => BATCH,
            Kind::Pod | Kind::Secret => "",
        }
    }

    pub fn group_version(self) -> GroupVersion {
        GroupVersion {
            group: self.group(),
            version: VERSION,
        }
    }

    /// `apiVersion` of this kind's objects.
    pub fn api_version(self) -> &'static str {
        match self {
            Kind::Gateway | Kind::HttpRoute => API_VERSION,
            Kind::Job => "batch/v1",
            Kind::Pod | Kind::Secret => "v1",
        }
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
            [Kind::Pod, Kind::Secret]
        );
    }
}
