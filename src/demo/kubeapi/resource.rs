//! The two Gateway API resources the demo serves and their names in paths, kinds and discovery.

/// API group of every resource served here.
pub const GROUP: &str = "gateway.networking.k8s.io";
/// The only served version.
pub const VERSION: &str = "v1";
/// `apiVersion` of every object served here.
pub const API_VERSION: &str = "gateway.networking.k8s.io/v1";

/// A served resource type. Ordered so stores and listings sort Gateways before HTTPRoutes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Gateway,
    HttpRoute,
}

impl Kind {
    pub const ALL: [Kind; 2] = [Kind::Gateway, Kind::HttpRoute];

    pub fn kind(self) -> &'static str {
        match self {
            Kind::Gateway => "Gateway",
            Kind::HttpRoute => "HTTPRoute",
        }
    }

    pub fn list_kind(self) -> &'static str {
        match self {
            Kind::Gateway => "GatewayList",
            Kind::HttpRoute => "HTTPRouteList",
        }
    }

    pub fn plural(self) -> &'static str {
        match self {
            Kind::Gateway => "gateways",
            Kind::HttpRoute => "httproutes",
        }
    }

    pub fn singular(self) -> &'static str {
        match self {
            Kind::Gateway => "gateway",
            Kind::HttpRoute => "httproute",
        }
    }

    /// As in the upstream CRDs, so `kubectl get gtw` works.
    pub fn short_names(self) -> &'static [&'static str] {
        match self {
            Kind::Gateway => &["gtw"],
            Kind::HttpRoute => &[],
        }
    }

    pub fn from_plural(plural: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.plural() == plural)
    }

    /// `httproutes.gateway.networking.k8s.io`, the resource name used in API messages.
    pub fn qualified(self) -> String {
        format!("{}.{GROUP}", self.plural())
    }
}
