//! Server-side printing: the `meta.k8s.io/v1` Table kubectl asks for (`Accept: ...;as=Table`),
//! with the columns of the upstream CRDs' additionalPrinterColumns and of kube-apiserver's
//! printers for Jobs, Pods and Secrets, so `kubectl get gateways` or `kubectl get
//! jobs,pods` shows what it shows on a real cluster.

use std::time::{Duration, SystemTime};

use serde_json::{json, Value};

use super::resource::Kind;

/// Whether the client asked for a Table (kubectl's `get` without `-o`).
pub fn wanted(accept: &str) -> bool {
    accept
        .split(',')
        .next()
        .is_some_and(|first| first.replace(' ', "").contains(";as=Table"))
}

fn column(name: &str, ty: &str, format: &str, description: &str) -> Value {
    json!({"name": name, "type": ty, "format": format, "description": description, "priority": 0})
}

/// A column kubectl shows only with `-o wide`.
fn wide(name: &str, description: &str) -> Value {
    let mut c = column(name, "string", "", description);
    c["priority"] = json!(1);
    c
}

fn columns(kind: Kind) -> Vec<Value> {
    let name = column(
        "Name",
        "string",
        "name",
        "Name must be unique within a namespace.",
    );
    let age = column(
        "Age",
        "date",
        "",
        "CreationTimestamp is a timestamp representing the server time when this object was created.",
    );
    match kind {
        Kind::Gateway => vec![
            name,
            column("Class", "string", "", ""),
            column("Address", "string", "", ""),
            column("Programmed", "string", "", ""),
            age,
        ],
        Kind::HttpRoute => vec![name, column("Hostnames", "string", "", ""), age],
        Kind::Job => vec![
            name,
            column("Status", "string", "", "Status of the job."),
            column("Completions", "string", "", "The desired number of successfully finished pods the job should be run with."),
            column("Duration", "string", "", "Time required to complete the job."),
            age,
            wide("Containers", "Names of each container in the template."),
            wide("Images", "Images referenced by each container in the template."),
            wide("Selector", "Query over pods that should match the pod count."),
        ],
        Kind::Pod => vec![
            name,
            column("Ready", "string", "", "The aggregate readiness state of this pod for accepting traffic."),
            column("Status", "string", "", "The aggregate status of the containers in this pod."),
            column("Restarts", "string", "", "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted."),
            age,
            wide("IP", "IP address allocated to the pod."),
            wide("Node", "Name of the Node this pod is assigned to."),
            wide("Nominated Node", "Name of the Node this pod is nominated to."),
            wide("Readiness Gates", "Pod Readiness Gates."),
        ],
        Kind::Secret => vec![
            name,
            column("Type", "string", "", "The type of secret"),
            column("Data", "string", "", "The number of entries in the secret"),
            age,
        ],
        Kind::Deployment => vec![
            name,
            column("Ready", "string", "", "Number of the pod with ready state"),
            column("Up-to-date", "string", "", "Total number of non-terminated pods targeted by this deployment that have the desired template spec"),
            column("Available", "string", "", "Total number of available pods (ready for at least minReadySeconds) targeted by this deployment"),
            age,
        ],
        _ => vec![name, age],
    }
}

/// kubectl's STATUS of a Job.
fn job_status(job: &Value) -> &'static str {
    use super::core::{condition_true, is_terminating};
    if condition_true(job, "Complete") {
        "Complete"
    } else if condition_true(job, "Failed") {
        "Failed"
    } else if is_terminating(job) {
        "Terminating"
    } else if condition_true(job, "SuccessCriteriaMet") {
        "SuccessCriteriaMet"
    } else if condition_true(job, "FailureTarget") {
        "FailureTarget"
    } else if condition_true(job, "Suspended") {
        "Suspended"
    } else {
        "Running"
    }
}

/// kubectl's STATUS of a Pod: a waiting or terminated container's reason, Terminating
/// while being deleted, else the phase.
fn pod_status(pod: &Value) -> String {
    let status = &pod["status"];
    let mut reason = status["reason"]
        .as_str()
        .or(status["phase"].as_str())
        .unwrap_or("Pending")
        .to_owned();
    let mut running = false;
    for c in status["containerStatuses"]
        .as_array()
        .into_iter()
        .flatten()
        .rev()
    {
        let state = &c["state"];
        if let Some(r) = state["waiting"]["reason"]
            .as_str()
            .filter(|r| !r.is_empty())
        {
            if r != "NotRunByDemo" {
                reason = r.to_owned();
            }
        } else if state["terminated"].is_object() {
            let t = &state["terminated"];
            reason = match (t["reason"].as_str(), t["signal"].as_i64()) {
                (Some(r), _) if !r.is_empty() => r.to_owned(),
                (_, Some(sig)) if sig != 0 => format!("Signal:{sig}"),
                _ => format!("ExitCode:{}", t["exitCode"].as_i64().unwrap_or(0)),
            };
        } else if c["ready"] == true && state["running"].is_object() {
            running = true;
        }
    }
    if reason == "Completed" && running {
        reason = "Running".to_owned();
    }
    if super::core::is_terminating(pod) {
        reason = "Terminating".to_owned();
    }
    reason
}

fn containers_of(spec: &Value, field: &str) -> String {
    spec["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c[field].as_str())
        .collect::<Vec<_>>()
        .join(",")
}

/// `3m12s` between two RFC 3339 times (or from `start` to now).
fn between(start: Option<&str>, end: Option<&str>) -> String {
    let Some(s) = start.and_then(|c| humantime::parse_rfc3339(c).ok()) else {
        return String::new();
    };
    let e = end
        .and_then(|c| humantime::parse_rfc3339(c).ok())
        .unwrap_or_else(SystemTime::now);
    short(e.duration_since(s).unwrap_or(Duration::ZERO).as_secs())
}

fn cells(kind: Kind, obj: &Value) -> Vec<Value> {
    let name = json!(obj["metadata"]["name"].as_str().unwrap_or(""));
    let age = json!(age(obj["metadata"]["creationTimestamp"].as_str()));
    match kind {
        Kind::Gateway => {
            let status = &obj["status"];
            let addresses: Vec<&str> = status["addresses"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|a| a["value"].as_str())
                .collect();
            let programmed = status["conditions"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|c| c["type"] == "Programmed")
                .and_then(|c| c["status"].as_str())
                .unwrap_or("");
            vec![
                name,
                json!(obj["spec"]["gatewayClassName"].as_str().unwrap_or("")),
                json!(addresses.join(" ")),
                json!(programmed),
                age,
            ]
        }
        Kind::HttpRoute => {
            let hostnames = match obj["spec"].get("hostnames") {
                Some(h) if !h.is_null() => h.to_string(),
                _ => String::new(),
            };
            vec![name, json!(hostnames), age]
        }
        Kind::Job => {
            let (spec, status) = (&obj["spec"], &obj["status"]);
            let succeeded = status["succeeded"].as_i64().unwrap_or(0);
            let completions = match spec["completions"].as_i64() {
                Some(c) => format!("{succeeded}/{c}"),
                None => format!(
                    "{succeeded}/1 of {}",
                    spec["parallelism"].as_i64().unwrap_or(1)
                ),
            };
            let template = &spec["template"]["spec"];
            let selector: Vec<String> = spec["selector"]["matchLabels"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
                .collect();
            vec![
                name,
                json!(job_status(obj)),
                json!(completions),
                json!(between(
                    status["startTime"].as_str(),
                    status["completionTime"].as_str()
                )),
                age,
                json!(containers_of(template, "name")),
                json!(containers_of(template, "image")),
                json!(selector.join(",")),
            ]
        }
        Kind::Pod => {
            let statuses: Vec<&Value> = obj["status"]["containerStatuses"]
                .as_array()
                .into_iter()
                .flatten()
                .collect();
            let total = obj["spec"]["containers"].as_array().map_or(0, Vec::len);
            let ready = statuses.iter().filter(|c| c["ready"] == true).count();
            let restarts: i64 = statuses
                .iter()
                .filter_map(|c| c["restartCount"].as_i64())
                .sum();
            let none = || json!("<none>");
            let text = |v: &Value| {
                v.as_str()
                    .filter(|s| !s.is_empty())
                    .map_or_else(none, |s| json!(s))
            };
            vec![
                name,
                json!(format!("{ready}/{total}")),
                json!(pod_status(obj)),
                json!(restarts.to_string()),
                age,
                text(&obj["status"]["podIP"]),
                text(&obj["spec"]["nodeName"]),
                text(&obj["status"]["nominatedNodeName"]),
                none(),
            ]
        }
        Kind::Secret => vec![
            name,
            json!(obj["type"].as_str().unwrap_or("Opaque")),
            json!(obj["data"].as_object().map_or(0, |d| d.len()).to_string()),
            age,
        ],
        Kind::Deployment => {
            let n = |v: &Value| v.as_i64().unwrap_or(0);
            let s = &obj["status"];
            let want = obj["spec"]["replicas"].as_i64().unwrap_or(1);
            vec![
                name,
                json!(format!("{}/{want}", n(&s["readyReplicas"]))),
                json!(n(&s["updatedReplicas"]).to_string()),
                json!(n(&s["availableReplicas"]).to_string()),
                age,
            ]
        }
        _ => vec![name, age],
    }
}

/// A Table of `objects`; `headers` adds the column definitions.
pub fn table(kind: Kind, objects: &[&Value], resource_version: u64, headers: bool) -> Value {
    let rows: Vec<Value> = objects
        .iter()
        .map(|o| {
            json!({
                "cells": cells(kind, o),
                "object": {
                    "kind": "PartialObjectMetadata",
                    "apiVersion": "meta.k8s.io/v1",
                    "metadata": o["metadata"],
                },
            })
        })
        .collect();
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": resource_version.to_string()},
        "columnDefinitions": if headers { columns(kind) } else { Vec::new() },
        "rows": rows,
    })
}

/// kubectl's short ages: 45s, 3m12s, 17m, 5h3m, 3d4h, 12d.
fn age(created: Option<&str>) -> String {
    let Some(t) = created.and_then(|c| humantime::parse_rfc3339(c).ok()) else {
        return "<unknown>".to_owned();
    };
    short(
        SystemTime::now()
            .duration_since(t)
            .unwrap_or(Duration::ZERO)
            .as_secs(),
    )
}

/// `d` seconds as kubectl prints durations.
fn short(d: u64) -> String {
    let (m, h, days) = (d / 60, d / 3600, d / 86400);
    match d {
        _ if d < 120 => format!("{d}s"),
        _ if m < 10 => format!("{m}m{}s", d % 60),
        _ if h < 3 => format!("{m}m"),
        _ if h < 8 => format!("{h}h{}m", m % 60),
        _ if h < 48 => format!("{h}h"),
        _ if days < 8 => format!("{days}d{}h", h % 24),
        _ => format!("{days}d"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_header() {
        assert!(wanted("application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json"));
        assert!(!wanted("application/json"));
    }
}
