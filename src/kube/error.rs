//! Kubernetes failures, worded for the operator: kubeconfig, permissions, missing CRDs, API answers, transport, manifests.

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum KubeError {
    #[error("{0}")]
    Kubeconfig(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NoCrds(String),
    #[error("{message}")]
    Api { code: u16, message: String },
    #[error("{0}")]
    Transport(String),
    #[error("{0}")]
    Manifest(String),
    #[error("{0}")]
    UnknownKind(String),
}
