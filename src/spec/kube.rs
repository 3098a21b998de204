//! How to reach Kubernetes (`[kube]`) and the object kinds and operations rampdeck performs there.

use std::path::PathBuf;

/// `[kube]`: unset fields come from the kubeconfig (or `$KUBECONFIG`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct KubeSettings {
    pub kubeconfig: Option<PathBuf>,
    pub context: Option<String>,
    pub namespace: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KubeOp {
    /// Server-side apply, field manager `rampdeck`.
    Apply,
    /// JSON merge patch.
    Patch,
    Delete,
}

impl KubeOp {
    pub fn verb(self) -> &'static str {
        match self {
            KubeOp::Apply => "apply",
            KubeOp::Patch => "patch",
            KubeOp::Delete => "delete",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObjectKind {
    HttpRoute,
    Gateway,
}

impl ObjectKind {
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "httproute" | "httproutes" => Some(ObjectKind::HttpRoute),
            "gateway" | "gateways" => Some(ObjectKind::Gateway),
            _ => None,
        }
    }

    pub fn kind(self) -> &'static str {
        match self {
            ObjectKind::HttpRoute => "HTTPRoute",
            ObjectKind::Gateway => "Gateway",
        }
    }

    pub fn plural(self) -> &'static str {
        match self {
            ObjectKind::HttpRoute => "httproutes",
            ObjectKind::Gateway => "gateways",
        }
    }
}
