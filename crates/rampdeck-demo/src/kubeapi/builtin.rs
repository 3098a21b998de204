//! Admission hooks for the built-in kinds (Jobs, Pods, Secrets), called by the write paths
//! the Gateway API kinds share: defaults on every write, defaults that need the new
//! object's uid at creation, validation, and the fields an update may not change.

use serde_json::Value;

use super::error::{ApiError, FieldError};
use super::resource::Kind;
use super::{batch, core};

/// The API server's defaults, applied to every write before validation.
pub fn default(kind: Kind, obj: &mut Value) {
    match kind {
        Kind::Job => batch::default_job(obj),
        Kind::Pod => core::default_pod(obj),
        Kind::Secret => core::default_secret(obj),
        _ => {}
    }
}

/// Fields of a new object that depend on its uid or start its status; run by the store
/// when it stamps a created object.
pub fn on_create(kind: Kind, obj: &mut Value) {
    match kind {
        Kind::Job => batch::on_create_job(obj),
        Kind::Pod => core::on_create_pod(obj),
        _ => {}
    }
}

/// Validation errors of a built-in object (empty for the Gateway API kinds).
pub fn check(kind: Kind, name: &str, obj: &Value) -> Vec<FieldError> {
    match kind {
        Kind::Job => batch::check_job(name, obj),
        Kind::Pod => core::check_pod(obj),
        Kind::Secret => core::check_secret(obj),
        _ => Vec::new(),
    }
}

/// The API server's immutability rules on an update from `cur` to `new` (both admitted):
/// a Job's selector, template and completion mode (and completions, unless an Indexed
/// Job scales completions with parallelism), a Pod's spec apart from its images (the
/// scheduler's binding is not an update), an immutable Secret's data.
pub fn check_update(kind: Kind, name: &str, cur: &Value, new: &Value) -> Result<(), ApiError> {
    let immutable = |field: &str, detail: &str, value: &Value| ApiError::Invalid {
        kind,
        name: name.to_owned(),
        errors: vec![FieldError::invalid(field, value, detail)],
    };
    match kind {
        Kind::Job => {
            let (a, b) = (&cur["spec"], &new["spec"]);
            for field in ["selector", "template", "completionMode"] {
                if a[field] != b[field] {
                    return Err(immutable(
                        &format!("spec.{field}"),
                        "field is immutable",
                        &b[field],
                    ));
                }
            }
            let elastic = b["completionMode"] == "Indexed" && b["completions"] == b["parallelism"];
            if a["completions"] != b["completions"] && !elastic {
                return Err(immutable(
                    "spec.completions",
                    "field is immutable (an Indexed Job may change it together with parallelism)",
                    &b["completions"],
                ));
            }
            Ok(())
        }
        Kind::Pod => {
            let without_images = |spec: &Value| {
                let mut s = spec.clone();
                for list in ["containers", "initContainers"] {
                    for c in s
                        .get_mut(list)
                        .and_then(Value::as_array_mut)
                        .into_iter()
                        .flatten()
                    {
                        if let Some(m) = c.as_object_mut() {
                            m.remove("image");
                        }
                    }
                }
                s
            };
            if without_images(&cur["spec"]) != without_images(&new["spec"]) {
                return Err(immutable(
                    "spec",
                    "pod updates may not change fields other than `spec.containers[*].image`, `spec.initContainers[*].image` (the demo allows no other changes)",
                    &Value::String("<spec>".to_owned()),
                ));
            }
            Ok(())
        }
        Kind::Secret => {
            if cur["immutable"] == true && (cur["data"] != new["data"] || new["immutable"] != true)
            {
                return Err(immutable(
                    "data",
                    "field is immutable when `immutable` is set",
                    &Value::String("<secret contents redacted>".to_owned()),
                ));
            }
            Ok(())
        }
        _ => Ok(()),
    }
}
