//! Admission of batch/v1 Jobs as kube-apiserver does it, in part: the defaults it writes
//! (parallelism 1, backoffLimit, completionMode, podReplacementPolicy), the generated
//! selector and template labels that tie a Job to its pods (they need the new Job's uid),
//! and the validation rules of the completion modes. Spec changes after creation are not
//! checked for immutability.

use serde_json::{json, Map, Value};

use super::core;
use super::error::FieldError;
use super::validate::decode;

/// Labels the API server puts on a Job's pod template (and so on its pods).
pub const CONTROLLER_UID: &str = "batch.kubernetes.io/controller-uid";
pub const JOB_NAME: &str = "batch.kubernetes.io/job-name";
/// The legacy spellings, still written by the API server.
pub const LEGACY_CONTROLLER_UID: &str = "controller-uid";
pub const LEGACY_JOB_NAME: &str = "job-name";
/// Label and annotation of an Indexed Job's pods.
pub const COMPLETION_INDEX: &str = "batch.kubernetes.io/job-completion-index";

/// The largest `completions` of an Indexed Job, as upstream.
const MAX_INDEXED_COMPLETIONS: i64 = 100_000;

/// Defaults for a Job on every write.
pub fn default_job(obj: &mut Value) {
    // A Job without labels gets its template's, as the API server's defaulting does.
    let template_labels = obj["spec"]["template"]["metadata"]["labels"].clone();
    if template_labels.as_object().is_some_and(|l| !l.is_empty())
        && obj["metadata"]["labels"]
            .as_object()
            .is_none_or(Map::is_empty)
        && obj["metadata"].is_object()
    {
        obj["metadata"]["labels"] = template_labels;
    }
    let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    if spec.get("completions").is_none_or(Value::is_null)
        && spec.get("parallelism").is_none_or(Value::is_null)
    {
        spec.insert("completions".to_owned(), json!(1));
    }
    spec.entry("parallelism").or_insert(json!(1));
    let per_index = spec
        .get("backoffLimitPerIndex")
        .is_some_and(|v| !v.is_null());
    spec.entry("backoffLimit")
        .or_insert(json!(if per_index { i64::from(i32::MAX) } else { 6 }));
    spec.entry("completionMode").or_insert(json!("NonIndexed"));
    spec.entry("suspend").or_insert(json!(false));
    spec.entry("manualSelector").or_insert(json!(false));
    let replacement = if spec.get("podFailurePolicy").is_some_and(|v| !v.is_null()) {
        "Failed"
    } else {
        "TerminatingOrFailed"
    };
    spec.entry("podReplacementPolicy")
        .or_insert(json!(replacement));
    if let Some(t) = spec.get_mut("template").and_then(Value::as_object_mut) {
        if let Some(s) = t.get_mut("spec") {
            core::default_pod_spec(s, None);
        }
    }
}

/// A new Job's generated selector and template labels: its uid ties its pods to it.
pub fn on_create_job(obj: &mut Value) {
    let uid = core::uid(obj).to_owned();
    let name = obj["metadata"]["name"].as_str().unwrap_or("").to_owned();
    if obj["spec"]["manualSelector"] != true {
        obj["spec"]["selector"] = json!({"matchLabels": {CONTROLLER_UID: uid}});
    }
    let template = &mut obj["spec"]["template"];
    if !template.is_object() {
        return;
    }
    if !template["metadata"].is_object() {
        template["metadata"] = json!({});
    }
    if !template["metadata"]["labels"].is_object() {
        template["metadata"]["labels"] = json!({});
    }
    let labels = &mut template["metadata"]["labels"];
    labels[CONTROLLER_UID] = json!(uid);
    labels[JOB_NAME] = json!(name);
    labels[LEGACY_CONTROLLER_UID] = json!(uid);
    labels[LEGACY_JOB_NAME] = json!(name);
}

/// Validation of a Job.
pub fn check_job(name: &str, obj: &Value) -> Vec<FieldError> {
    if let Err(e) = decode::<k8s_openapi::api::batch::v1::Job>(obj) {
        return vec![e];
    }
    let mut errors = Vec::new();
    if name.len() > 63 {
        // Its name becomes a label value of its pods.
        errors.push(FieldError::invalid(
            "metadata.name",
            &Value::String(name.to_owned()),
            "must be no more than 63 characters",
        ));
    }
    let spec = &obj["spec"];
    if spec.is_null() {
        return vec![FieldError::required("spec", "")];
    }
    let template = &spec["template"];
    if template["spec"].is_null() {
        errors.push(FieldError::required("spec.template.spec", ""));
    } else {
        errors.extend(core::check_pod_spec(
            &template["spec"],
            "spec.template.spec",
            &["OnFailure", "Never"],
        ));
    }
    for field in [
        "completions",
        "parallelism",
        "backoffLimit",
        "backoffLimitPerIndex",
        "maxFailedIndexes",
        "activeDeadlineSeconds",
        "ttlSecondsAfterFinished",
    ] {
        if let Some(v) = spec.get(field).filter(|v| !v.is_null()) {
            let min = if field == "activeDeadlineSeconds" {
                1
            } else {
                0
            };
            if v.as_i64().is_none_or(|n| n < min) {
                errors.push(FieldError::invalid(
                    format!("spec.{field}"),
                    v,
                    if min == 1 {
                        "must be greater than 0"
                    } else {
                        "must be greater than or equal to 0"
                    },
                ));
            }
        }
    }
    let mode = &spec["completionMode"];
    let indexed = mode == "Indexed";
    if !indexed && mode != "NonIndexed" {
        errors.push(FieldError::not_supported(
            "spec.completionMode",
            mode,
            &["NonIndexed", "Indexed"],
        ));
    }
    if indexed {
        match spec["completions"].as_i64() {
            None => errors.push(FieldError::required(
                "spec.completions",
                "when completion mode is Indexed",
            )),
            Some(n) if n > MAX_INDEXED_COMPLETIONS => errors.push(FieldError::invalid(
                "spec.completions",
                &spec["completions"],
                format!("must be less than or equal to {MAX_INDEXED_COMPLETIONS} when completion mode is Indexed"),
            )),
            Some(_) => {}
        }
    } else if spec["completions"].is_null() {
        // The work-queue pattern (no completions) is not simulated.
        errors.push(FieldError::required(
            "spec.completions",
            "the demo's Job controller runs Jobs with a completion count only (no work-queue Jobs)",
        ));
    }
    if !spec["backoffLimitPerIndex"].is_null() && !indexed {
        errors.push(FieldError::invalid(
            "spec.backoffLimitPerIndex",
            &spec["backoffLimitPerIndex"],
            "requires indexed completion mode",
        ));
    }
    if !spec["maxFailedIndexes"].is_null() && spec["backoffLimitPerIndex"].is_null() {
        errors.push(FieldError::required(
            "spec.backoffLimitPerIndex",
            "when maxFailedIndexes is specified",
        ));
    }
    let policy = &spec["podReplacementPolicy"];
    if !policy.is_null() && policy != "Failed" && policy != "TerminatingOrFailed" {
        errors.push(FieldError::not_supported(
            "spec.podReplacementPolicy",
            policy,
            &["Failed", "TerminatingOrFailed"],
        ));
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(spec: Value) -> Value {
        json!({"apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": "j", "uid": "u-1"}, "spec": spec})
    }

    #[test]
    fn defaults_selector_and_modes() {
        let mut j = job(json!({
            "completionMode": "Indexed", "completions": 3,
            "template": {"metadata": {"labels": {"app": "a"}},
                "spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "i"}]}},
        }));
        default_job(&mut j);
        assert_eq!(j["spec"]["parallelism"], 1);
        assert_eq!(j["spec"]["backoffLimit"], 6);
        assert_eq!(j["metadata"]["labels"]["app"], "a");
        assert!(check_job("j", &j).is_empty(), "{:?}", check_job("j", &j));
        on_create_job(&mut j);
        assert_eq!(j["spec"]["selector"]["matchLabels"][CONTROLLER_UID], "u-1");
        assert_eq!(j["spec"]["template"]["metadata"]["labels"][JOB_NAME], "j");
        assert_eq!(j["spec"]["template"]["metadata"]["labels"]["app"], "a");

        let mut bad = job(json!({
            "completionMode": "Indexed",
            "template": {"spec": {"restartPolicy": "Always", "containers": [{"name": "c", "image": "i"}]}},
        }));
        default_job(&mut bad);
        bad["spec"]["completions"] = Value::Null;
        let fields: Vec<String> = check_job("j", &bad).into_iter().map(|e| e.field).collect();
        assert_eq!(
            fields,
            ["spec.template.spec.restartPolicy", "spec.completions"]
        );
    }
}
