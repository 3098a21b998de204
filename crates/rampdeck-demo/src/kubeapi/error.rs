//! Kubernetes API errors: one enum for the simulated API server, rendered as `Status` objects
//! the way kube-apiserver renders them, so kube-rs returns `kube::Error::Api` and kubectl prints
//! its usual `Error from server (...)` lines.

use serde_json::{json, Value};

use super::resource::Kind;

/// What a field failed on, as in apimachinery's `field.Error`.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldProblem {
    /// The value, rendered as JSON, and why it is wrong.
    Invalid {
        value: String,
        detail: String,
    },
    Required(String),
    /// The value, rendered as JSON, and the values allowed.
    NotSupported {
        value: String,
        supported: Vec<String>,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct FieldError {
    /// `spec.rules[0].backendRefs[0].port`
    pub field: String,
    pub problem: FieldProblem,
}

impl FieldError {
    pub fn invalid(field: impl Into<String>, value: &Value, detail: impl Into<String>) -> Self {
        FieldError {
            field: field.into(),
            problem: FieldProblem::Invalid {
                value: value.to_string(),
                detail: detail.into(),
            },
        }
    }

    pub fn required(field: impl Into<String>, detail: impl Into<String>) -> Self {
        FieldError {
            field: field.into(),
            problem: FieldProblem::Required(detail.into()),
        }
    }

    pub fn not_supported(field: impl Into<String>, value: &Value, supported: &[&str]) -> Self {
        FieldError {
            field: field.into(),
            problem: FieldProblem::NotSupported {
                value: value.to_string(),
                supported: supported.iter().map(|s| (*s).to_owned()).collect(),
            },
        }
    }

    fn reason(&self) -> &'static str {
        match self.problem {
            FieldProblem::Invalid { .. } => "FieldValueInvalid",
            FieldProblem::Required(_) => "FieldValueRequired",
            FieldProblem::NotSupported { .. } => "FieldValueNotSupported",
        }
    }

    /// The message without the field, as in a Status cause.
    fn bare(&self) -> String {
        match &self.problem {
            FieldProblem::Invalid { value, detail } => format!("Invalid value: {value}: {detail}"),
            FieldProblem::Required(d) if d.is_empty() => "Required value".to_owned(),
            FieldProblem::Required(d) => format!("Required value: {d}"),
            FieldProblem::NotSupported { value, supported } => format!(
                "Unsupported value: {value}: supported values: {}",
                supported
                    .iter()
                    .map(|s| Value::String(s.clone()).to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.bare())
    }
}

/// Every failure the simulated API server reports.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ApiError {
    #[error("{} \"{name}\" not found", kind.qualified())]
    NotFound { kind: Kind, name: String },
    #[error("{} \"{name}\" already exists", kind.qualified())]
    AlreadyExists { kind: Kind, name: String },
    #[error("Operation cannot be fulfilled on {} \"{name}\": {detail}", kind.qualified())]
    Conflict {
        kind: Kind,
        name: String,
        detail: String,
    },
    /// Server-side apply found fields owned by other managers.
    #[error("Apply failed with {} conflict{}: {}", conflicts.len(), if conflicts.len() == 1 { "" } else { "s" }, conflicts.join(", "))]
    ApplyConflict {
        kind: Kind,
        name: String,
        conflicts: Vec<String>,
    },
    #[error("{} \"{name}\" is invalid: {}", kind.qualified_kind(), join_fields(.errors))]
    Invalid {
        kind: Kind,
        name: String,
        errors: Vec<FieldError>,
    },
    /// Invalid request options (not the object), e.g. apply without a field manager.
    #[error("{what} is invalid: {error}")]
    InvalidOptions {
        what: &'static str,
        error: FieldError,
    },
    #[error("{0}")]
    BadRequest(String),
    #[error("the server does not allow this method on the requested resource")]
    MethodNotAllowed,
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// A watch asked for history that was already compacted away.
    #[error("too old resource version: {requested} ({oldest})")]
    Expired { requested: u64, oldest: u64 },
    #[error("the server could not find the requested resource")]
    PathNotFound,
    #[error("the request body is larger than the {0} bytes the server accepts")]
    TooLarge(usize),
    /// Simulated RBAC refused the request (`rbac`).
    #[error("{} \"{name}\" is forbidden: {message}", kind.qualified())]
    Forbidden {
        kind: Kind,
        name: String,
        message: String,
    },
}

fn join_fields(errors: &[FieldError]) -> String {
    match errors {
        [one] => one.to_string(),
        many => format!(
            "[{}]",
            many.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

impl ApiError {
    pub fn code(&self) -> u16 {
        match self {
            ApiError::NotFound { .. } | ApiError::PathNotFound => 404,
            ApiError::AlreadyExists { .. }
            | ApiError::Conflict { .. }
            | ApiError::ApplyConflict { .. } => 409,
            ApiError::Invalid { .. } | ApiError::InvalidOptions { .. } => 422,
            ApiError::BadRequest(_) => 400,
            ApiError::MethodNotAllowed => 405,
            ApiError::UnsupportedMediaType(_) => 415,
            ApiError::Expired { .. } => 410,
            ApiError::TooLarge(_) => 413,
            ApiError::Forbidden { .. } => 403,
        }
    }

    pub fn reason(&self) -> &'static str {
        match self {
            ApiError::NotFound { .. } | ApiError::PathNotFound => "NotFound",
            ApiError::AlreadyExists { .. } => "AlreadyExists",
            ApiError::Conflict { .. } | ApiError::ApplyConflict { .. } => "Conflict",
            ApiError::Invalid { .. } | ApiError::InvalidOptions { .. } => "Invalid",
            ApiError::BadRequest(_) => "BadRequest",
            ApiError::MethodNotAllowed => "MethodNotAllowed",
            ApiError::UnsupportedMediaType(_) => "UnsupportedMediaType",
            // kube-apiserver says Expired (HTTP 410 Gone) for compacted watch history;
            // kube-rs' watcher keys on the 410 and re-lists.
            ApiError::Expired { .. } => "Expired",
            ApiError::TooLarge(_) => "RequestEntityTooLarge",
            ApiError::Forbidden { .. } => "Forbidden",
        }
    }

    /// The `Status` object kube-apiserver would send.
    pub fn status(&self) -> Value {
        let mut s = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.to_string(),
            "reason": self.reason(),
            "code": self.code(),
        });
        let details = match self {
            // NotFound and friends name the resource (plural); Invalid names the kind.
            ApiError::NotFound { kind, name }
            | ApiError::AlreadyExists { kind, name }
            | ApiError::Forbidden { kind, name, .. }
            | ApiError::Conflict { kind, name, .. } => {
                json!({"name": name, "group": kind.group(), "kind": kind.plural()})
            }
            ApiError::ApplyConflict {
                kind,
                name,
                conflicts,
            } => json!({
                "name": name, "group": kind.group(), "kind": kind.plural(),
                "causes": conflicts.iter().map(|c| json!({
                    "reason": "FieldManagerConflict", "message": c,
                })).collect::<Vec<_>>(),
            }),
            ApiError::Invalid { kind, name, errors } => json!({
                "name": name, "group": kind.group(), "kind": kind.kind(),
                "causes": errors.iter().map(|e| json!({
                    "reason": e.reason(), "message": e.bare(), "field": e.field,
                })).collect::<Vec<_>>(),
            }),
            ApiError::InvalidOptions { error, .. } => json!({
                "causes": [{"reason": error.reason(), "message": error.bare(), "field": error.field}],
            }),
            _ => Value::Null,
        };
        if !details.is_null() {
            s["details"] = details;
            // The core group is "" and kube-apiserver omits empty fields.
            if let Some(d) = s["details"].as_object_mut() {
                if d.get("group").is_some_and(|g| g == "") {
                    d.remove("group");
                }
            }
        }
        s
    }
}
