//! Admission of core/v1 Pods and Secrets as kube-apiserver does it, in part: decoding as the
//! k8s-openapi types (so a wrong type names its field), the defaults the API server writes
//! (restartPolicy, grace period, QoS class, `stringData` merged into `data`), and the
//! validation rules a pod spec most often trips. Unknown fields are kept: built-in types are
//! not pruned here. Also the small readers of pod state the kubelet, controllers and tables
//! share.

use base64::Engine;
use serde_json::{json, Map, Value};

use super::error::FieldError;
use super::validate::{decode, is_dns1123_label};

/// Default `terminationGracePeriodSeconds`, as in the API.
pub const DEFAULT_GRACE_SECONDS: i64 = 30;
const RESTART_POLICIES: [&str; 3] = ["Always", "OnFailure", "Never"];

/// The API server's defaults for a pod spec (a Pod's, or a Job's template's).
pub fn default_pod_spec(spec: &mut Value, restart_policy: Option<&str>) {
    let Some(s) = spec.as_object_mut() else {
        return;
    };
    if let Some(policy) = restart_policy {
        s.entry("restartPolicy").or_insert(json!(policy));
    }
    s.entry("terminationGracePeriodSeconds")
        .or_insert(json!(DEFAULT_GRACE_SECONDS));
    s.entry("dnsPolicy").or_insert(json!("ClusterFirst"));
    s.entry("schedulerName")
        .or_insert(json!("default-scheduler"));
    s.entry("securityContext").or_insert(json!({}));
    for list in ["containers", "initContainers"] {
        for c in s
            .get_mut(list)
            .and_then(Value::as_array_mut)
            .into_iter()
            .flatten()
        {
            default_container(c);
        }
    }
}

fn default_container(c: &mut Value) {
    let image = c["image"].as_str().unwrap_or("").to_owned();
    let Some(m) = c.as_object_mut() else {
        return;
    };
    // The image's last path segment carries the tag, if any; no tag means latest.
    let tag = image
        .rsplit('/')
        .next()
        .and_then(|last| last.split_once(':'))
        .map(|(_, t)| t);
    let pull = if matches!(tag, None | Some("latest")) {
        "Always"
    } else {
        "IfNotPresent"
    };
    m.entry("imagePullPolicy").or_insert(json!(pull));
    m.entry("terminationMessagePath")
        .or_insert(json!("/dev/termination-log"));
    m.entry("terminationMessagePolicy").or_insert(json!("File"));
    m.entry("resources").or_insert(json!({}));
    for p in m
        .get_mut("ports")
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
    {
        if let Some(p) = p.as_object_mut() {
            p.entry("protocol").or_insert(json!("TCP"));
        }
    }
    for e in m
        .get_mut("env")
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
    {
        if let Some(f) = e
            .get_mut("valueFrom")
            .and_then(|v| v.get_mut("fieldRef"))
            .and_then(Value::as_object_mut)
        {
            f.entry("apiVersion").or_insert(json!("v1"));
        }
    }
    for probe in ["readinessProbe", "livenessProbe", "startupProbe"] {
        if let Some(p) = m.get_mut(probe).and_then(Value::as_object_mut) {
            p.entry("timeoutSeconds").or_insert(json!(1));
            p.entry("periodSeconds").or_insert(json!(10));
            p.entry("successThreshold").or_insert(json!(1));
            p.entry("failureThreshold").or_insert(json!(3));
        }
    }
}

/// Defaults for a Pod on every write.
pub fn default_pod(obj: &mut Value) {
    if obj["spec"].is_object() {
        default_pod_spec(&mut obj["spec"], Some("Always"));
    }
}

/// What a new Pod starts as: Pending, with its QoS class.
pub fn on_create_pod(obj: &mut Value) {
    let qos = qos_class(&obj["spec"]);
    obj["status"] = json!({"phase": "Pending", "qosClass": qos});
}

/// Guaranteed when every container's requests equal its cpu and memory limits, BestEffort
/// when no container asks for anything, Burstable otherwise.
fn qos_class(spec: &Value) -> &'static str {
    let containers: Vec<&Value> = spec["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .collect();
    let any = containers.iter().any(|c| {
        ["requests", "limits"]
            .iter()
            .any(|k| c["resources"][k].as_object().is_some_and(|m| !m.is_empty()))
    });
    if !any {
        return "BestEffort";
    }
    let guaranteed = containers.iter().all(|c| {
        let r = &c["resources"];
        ["cpu", "memory"].iter().all(|res| {
            let limit = &r["limits"][res];
            let request = if r["requests"][res].is_null() {
                limit
            } else {
                &r["requests"][res]
            };
            !limit.is_null() && request == limit
        })
    });
    if guaranteed {
        "Guaranteed"
    } else {
        "Burstable"
    }
}

/// Validation of a Pod.
pub fn check_pod(obj: &Value) -> Vec<FieldError> {
    if let Err(e) = decode::<k8s_openapi::api::core::v1::Pod>(obj) {
        return vec![e];
    }
    if obj.get("spec").is_none_or(Value::is_null) {
        return vec![FieldError::required("spec", "")];
    }
    check_pod_spec(&obj["spec"], "spec", &RESTART_POLICIES)
}

/// Validation of a pod spec at `path`, whose restartPolicy must be one of `policies`.
pub fn check_pod_spec(spec: &Value, path: &str, policies: &[&str]) -> Vec<FieldError> {
    let mut errors = Vec::new();
    match spec.get("restartPolicy").filter(|p| !p.is_null()) {
        None => errors.push(FieldError::required(
            format!("{path}.restartPolicy"),
            format!(
                "valid values: {}",
                policies
                    .iter()
                    .map(|p| format!("{p:?}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )),
        Some(p) if !p.as_str().is_some_and(|p| policies.contains(&p)) => errors.push(
            FieldError::not_supported(format!("{path}.restartPolicy"), p, policies),
        ),
        Some(_) => {}
    }
    let containers = spec["containers"].as_array().cloned().unwrap_or_default();
    if containers.is_empty() {
        errors.push(FieldError::required(format!("{path}.containers"), ""));
    }
    let mut names = std::collections::HashSet::new();
    for (list, items) in [
        ("containers", containers),
        (
            "initContainers",
            spec["initContainers"]
                .as_array()
                .cloned()
                .unwrap_or_default(),
        ),
    ] {
        for (i, c) in items.iter().enumerate() {
            let at = format!("{path}.{list}[{i}]");
            let name = c["name"].as_str().unwrap_or("");
            if !is_dns1123_label(name) {
                errors.push(FieldError::invalid(
                    format!("{at}.name"),
                    &c["name"],
                    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character",
                ));
            } else if !names.insert(name.to_owned()) {
                errors.push(FieldError {
                    field: format!("{at}.name"),
                    problem: super::error::FieldProblem::Invalid {
                        value: c["name"].to_string(),
                        detail: "Duplicate value".to_owned(),
                    },
                });
            }
            if c["image"].as_str().is_none_or(str::is_empty) {
                errors.push(FieldError::required(format!("{at}.image"), ""));
            }
            for (j, p) in c["ports"].as_array().into_iter().flatten().enumerate() {
                if !p["containerPort"]
                    .as_i64()
                    .is_some_and(|n| (1..=65535).contains(&n))
                {
                    errors.push(FieldError::invalid(
                        format!("{at}.ports[{j}].containerPort"),
                        &p["containerPort"],
                        "must be between 1 and 65535, inclusive",
                    ));
                }
            }
            for (j, e) in c["env"].as_array().into_iter().flatten().enumerate() {
                let n = e["name"].as_str().unwrap_or("");
                if !is_env_name(n) {
                    errors.push(FieldError::invalid(
                        format!("{at}.env[{j}].name"),
                        &e["name"],
                        "a valid environment variable name must consist of alphabetic characters, digits, '_', '-', or '.', and must not start with a digit",
                    ));
                }
            }
        }
    }
    if let Some(g) = spec.get("terminationGracePeriodSeconds") {
        if g.as_i64().is_none_or(|g| g < 0) {
            errors.push(FieldError::invalid(
                format!("{path}.terminationGracePeriodSeconds"),
                g,
                "must be greater than or equal to 0",
            ));
        }
    }
    errors
}

fn is_env_name(n: &str) -> bool {
    !n.is_empty()
        && !n.starts_with(|c: char| c.is_ascii_digit())
        && n.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

/// Secrets on every write: `stringData` is merged into `data` (base64) and dropped, as the
/// API server does; `type` defaults to Opaque.
pub fn default_secret(obj: &mut Value) {
    let Some(m) = obj.as_object_mut() else {
        return;
    };
    m.entry("type").or_insert(json!("Opaque"));
    let Some(string_data) = m.remove("stringData") else {
        return;
    };
    let data = m.entry("data").or_insert_with(|| Value::Object(Map::new()));
    if data.is_null() {
        *data = Value::Object(Map::new());
    }
    if let (Some(data), Some(strings)) = (data.as_object_mut(), string_data.as_object()) {
        for (k, v) in strings {
            // A non-string value is left for decoding to reject below.
            let encoded = match v.as_str() {
                Some(s) => json!(base64::engine::general_purpose::STANDARD.encode(s)),
                None => v.clone(),
            };
            data.insert(k.clone(), encoded);
        }
    }
}

/// Validation of a Secret: data values are base64 and keys are valid file names.
pub fn check_secret(obj: &Value) -> Vec<FieldError> {
    if let Err(e) = decode::<k8s_openapi::api::core::v1::Secret>(obj) {
        return vec![e];
    }
    let mut errors = Vec::new();
    let mut size = 0;
    for (k, v) in obj["data"].as_object().into_iter().flatten() {
        let ok = !k.is_empty()
            && k != "."
            && k != ".."
            && k.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if !ok {
            errors.push(FieldError::invalid(
                format!("data[{k}]"),
                &Value::String(k.clone()),
                "a valid config key must consist of alphanumeric characters, '-', '_' or '.'",
            ));
        }
        size += v.as_str().map_or(0, |s| s.len() * 3 / 4);
    }
    if size > 1024 * 1024 {
        errors.push(FieldError::invalid(
            "data",
            &Value::String("<secret contents redacted>".to_owned()),
            "Too long: may not be more than 1048576 bytes",
        ));
    }
    errors
}

/// A Secret's value for `key`, decoded.
pub fn secret_value(secret: &Value, key: &str) -> Option<Vec<u8>> {
    let encoded = secret["data"][key].as_str()?;
    base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .ok()
}

pub fn phase(pod: &Value) -> &str {
    pod["status"]["phase"].as_str().unwrap_or("Pending")
}

/// Succeeded or Failed: the pod's containers will not run again.
pub fn is_terminal(pod: &Value) -> bool {
    matches!(phase(pod), "Succeeded" | "Failed")
}

pub fn is_terminating(obj: &Value) -> bool {
    obj["metadata"]["deletionTimestamp"].is_string()
}

/// Whether the pod's Ready condition is True.
pub fn is_ready(pod: &Value) -> bool {
    condition_true(pod, "Ready")
}

pub fn condition_true(obj: &Value, kind: &str) -> bool {
    obj["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|c| c["type"] == kind && c["status"] == "True")
}

pub fn uid(obj: &Value) -> &str {
    obj["metadata"]["uid"].as_str().unwrap_or("")
}

pub fn label<'a>(obj: &'a Value, name: &str) -> Option<&'a str> {
    obj["metadata"]["labels"][name].as_str()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_merge_string_data() {
        let mut s = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"},
            "data": {"a": "eA=="}, "stringData": {"token": "hunter2"}});
        default_secret(&mut s);
        assert_eq!(s["data"]["token"], "aHVudGVyMg==");
        assert_eq!(s["type"], "Opaque");
        assert!(s.get("stringData").is_none());
        assert!(check_secret(&s).is_empty());
        assert_eq!(secret_value(&s, "token").unwrap(), b"hunter2");
        let bad = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"},
            "data": {"a": "not base64!"}});
        assert_eq!(check_secret(&bad)[0].field, "data.a");
    }

    #[test]
    fn pod_specs_are_defaulted_and_checked() {
        let mut p = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
            "spec": {"containers": [{"name": "c", "image": "busybox:1.36",
                "ports": [{"containerPort": 80}]}]}});
        default_pod(&mut p);
        assert_eq!(p["spec"]["restartPolicy"], "Always");
        assert_eq!(
            p["spec"]["containers"][0]["imagePullPolicy"],
            "IfNotPresent"
        );
        assert_eq!(p["spec"]["containers"][0]["ports"][0]["protocol"], "TCP");
        assert!(check_pod(&p).is_empty(), "{:?}", check_pod(&p));
        on_create_pod(&mut p);
        assert_eq!(p["status"]["qosClass"], "BestEffort");
        let mut bad = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
            "spec": {"containers": [], "restartPolicy": "Sometimes"}});
        default_pod(&mut bad);
        let fields: Vec<String> = check_pod(&bad).into_iter().map(|e| e.field).collect();
        assert_eq!(fields, ["spec.restartPolicy", "spec.containers"]);
        let typed = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
            "spec": {"containers": [{"name": "c", "ports": [{"containerPort": "eighty"}]}]}});
        assert_eq!(
            check_pod(&typed)[0].field,
            "spec.containers[0].ports[0].containerPort"
        );
    }
}
