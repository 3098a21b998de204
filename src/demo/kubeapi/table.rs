//! Server-side printing: the `meta.k8s.io/v1` Table kubectl asks for (`Accept: ...;as=Table`),
//! with the columns of the upstream CRDs' additionalPrinterColumns, so `kubectl get
//! gateways` shows what it shows on a real cluster.

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
    }
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
    let d = SystemTime::now()
        .duration_since(t)
        .unwrap_or(Duration::ZERO)
        .as_secs();
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
