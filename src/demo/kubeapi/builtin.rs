//! Admission hooks for the built-in kinds (Jobs, Pods, Secrets), called by the write paths
//! the Gateway API kinds share: defaults on every write, defaults that need the new
//! object's uid at creation, and validation.

use serde_json::Value;

use super::error::FieldError;
use super::resource::Kind;
use super::{batch, core};

/// The API server's defaults, applied to every write before validation.
pub fn default(kind: Kind, obj: &mut Value) {
    match kind {
        Kind::Job => batch::default_job(obj),
        Kind::Pod => core::default_pod(obj),
        Kind::Secret => core::default_secret(obj),
        Kind::Gateway | Kind::HttpRoute => {}
    }
}

/// Fields of a new object that depend on its uid or start its status; run by the store
/// when it stamps a created object.
pub fn on_create(kind: Kind, obj: &mut Value) {
    match kind {
        Kind::Job => batch::on_create_job(obj),
        Kind::Pod => core::on_create_pod(obj),
        Kind::Secret | Kind::Gateway | Kind::HttpRoute => {}
    }
}

/// Validation errors of a built-in object (empty for the Gateway API kinds).
pub fn check(kind: Kind, name: &str, obj: &Value) -> Vec<FieldError> {
    match kind {
        Kind::Job => batch::check_job(name, obj),
        Kind::Pod => core::check_pod(obj),
        Kind::Secret => core::check_secret(obj),
        Kind::Gateway | Kind::HttpRoute => Vec::new(),
    }
}
