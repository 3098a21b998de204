//! The DELETE verb as kube-apiserver runs it: graceful deletion of pods (the object gets a
//! `deletionTimestamp` and stays until the kubelet has stopped its process), and the
//! propagation policies for dependents (`ownerReferences`): Background (the garbage
//! collector deletes them after the owner), Foreground (the owner waits, with the
//! `foregroundDeletion` finalizer, until they are gone) and Orphan (their references to the
//! owner are removed). Jobs default to Orphan with the API server's warning, as upstream.

use std::time::{Duration, SystemTime};

use serde_json::{json, Value};

use super::core;
use super::error::{ApiError, FieldError};
use super::ops::{check_delete_preconditions, not_found, WriteOptions};
use super::resource::Kind;
use super::store::{Change, Committed, Key, Operation, Store, Subresource, Writer};

pub const FOREGROUND_FINALIZER: &str = "foregroundDeletion";
/// The garbage collector's field manager.
pub const GC_MANAGER: &str = "generic-garbage-collector";

const JOB_ORPHAN_WARNING: &str = "child pods are preserved by default when jobs are deleted; set propagationPolicy=Background to remove them or set propagationPolicy=Orphan to suppress this warning";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    Background,
    Foreground,
    Orphan,
}

/// The propagation policy of a delete: DeleteOptions' `propagationPolicy`, else the
/// deprecated `orphanDependents`, else the kind's default (Orphan for Jobs, with a warning).
pub fn policy(kind: Kind, options: &Value, opts: &WriteOptions) -> Result<Policy, ApiError> {
    match options["propagationPolicy"].as_str() {
        Some("Background") => return Ok(Policy::Background),
        Some("Foreground") => return Ok(Policy::Foreground),
        Some("Orphan") => return Ok(Policy::Orphan),
        Some(other) => {
            return Err(ApiError::InvalidOptions {
                what: "DeleteOptions.meta.k8s.io \"\"",
                error: FieldError::not_supported(
                    "propagationPolicy",
                    &Value::String(other.to_owned()),
                    &["Foreground", "Background", "Orphan"],
                ),
            })
        }
        None => {}
    }
    match options["orphanDependents"].as_bool() {
        Some(true) => return Ok(Policy::Orphan),
        Some(false) => return Ok(Policy::Background),
        None => {}
    }
    if kind == Kind::Job {
        opts.warnings
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(JOB_ORPHAN_WARNING.to_owned());
        return Ok(Policy::Orphan);
    }
    Ok(Policy::Background)
}

/// How long a pod being deleted with `requested` seconds (DeleteOptions) gets to stop: the
/// request's, else its spec's, else 30 s; none for a pod that never ran or has finished.
fn pod_grace(pod: &Value, requested: Option<i64>) -> i64 {
    if pod["spec"]["nodeName"].as_str().is_none_or(str::is_empty) || core::is_terminal(pod) {
        return 0;
    }
    requested
        .or_else(|| pod["spec"]["terminationGracePeriodSeconds"].as_i64())
        .unwrap_or(core::DEFAULT_GRACE_SECONDS)
        .max(0)
}

fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()
}

/// DELETE of an object. The result is `Deleted` when it is gone, else `Updated` or
/// `Unchanged` with its deletionTimestamp set (graceful or foreground deletion).
pub fn delete(
    store: &Store,
    key: &Key,
    options: &Value,
    opts: &WriteOptions,
) -> Result<Committed, ApiError> {
    let policy = policy(key.kind, options, opts)?;
    let grace = options["gracePeriodSeconds"].as_i64();
    let pre = &options["preconditions"];
    if policy == Policy::Orphan && !opts.dry_run {
        let current = store.get(key).ok_or_else(|| not_found(key))?;
        check_delete_preconditions(key, pre, &current)?;
        orphan_dependents(store, &key.namespace, core::uid(&current));
    }
    let writer = opts.writer(Operation::Update, Subresource::Main);
    store.write(key, writer, |cur| {
        let cur = cur.ok_or_else(|| not_found(key))?;
        check_delete_preconditions(key, pre, cur)?;
        let mut new = cur.clone();
        if key.kind == Kind::Pod {
            let grace = pod_grace(cur, grace);
            if grace == 0 {
                return Ok(Change::Delete);
            }
            // A grace period past the end of time is as good as a year.
            let deadline = SystemTime::now()
                .checked_add(Duration::from_secs(grace.unsigned_abs()))
                .unwrap_or_else(|| SystemTime::now() + Duration::from_secs(365 * 86_400));
            let shorter = match cur["metadata"]["deletionTimestamp"]
                .as_str()
                .and_then(|t| humantime::parse_rfc3339(t).ok())
            {
                Some(current) => deadline < current,
                None => true,
            };
            if shorter {
                new["metadata"]["deletionTimestamp"] = json!(rfc3339(deadline));
                new["metadata"]["deletionGracePeriodSeconds"] = json!(grace);
            }
            return Ok(Change::Terminate(new));
        }
        if policy == Policy::Foreground {
            if !core::is_terminating(cur) {
                new["metadata"]["deletionTimestamp"] = json!(rfc3339(SystemTime::now()));
                new["metadata"]["deletionGracePeriodSeconds"] = json!(0);
            }
            let finalizers = new["metadata"]["finalizers"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            if !finalizers.iter().any(|f| f == FOREGROUND_FINALIZER) {
                let mut f = finalizers;
                f.push(json!(FOREGROUND_FINALIZER));
                new["metadata"]["finalizers"] = Value::Array(f);
            }
            return Ok(Change::Terminate(new));
        }
        Ok(Change::Delete)
    })
}

/// Objects of the built-in kinds in `namespace` with an ownerReference to `uid`.
pub fn dependents(store: &Store, namespace: &str, uid: &str) -> Vec<(Key, Value)> {
    let mut out = Vec::new();
    for kind in Kind::ALL.into_iter().filter(|k| k.builtin()) {
        for o in store.list(kind, Some(namespace)).1 {
            if owner_refs(&o).iter().any(|r| r["uid"] == uid) {
                let name = o["metadata"]["name"].as_str().unwrap_or("");
                out.push((Key::new(kind, namespace, name), (*o).clone()));
            }
        }
    }
    out
}

pub fn owner_refs(obj: &Value) -> Vec<Value> {
    obj["metadata"]["ownerReferences"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn gc_writer() -> Writer<'static> {
    Writer {
        manager: GC_MANAGER,
        operation: Operation::Update,
        subresource: Subresource::Main,
        dry_run: false,
    }
}

/// Removes the ownerReferences matching `drop` from the object at `key`.
pub fn strip_owner_refs(store: &Store, key: &Key, drop: impl Fn(&Value) -> bool) {
    // Gone meanwhile: nothing left to orphan.
    let _ = store.write(key, gc_writer(), |cur| {
        let cur = cur.ok_or_else(|| not_found(key))?;
        let mut new = cur.clone();
        let kept: Vec<Value> = owner_refs(cur).into_iter().filter(|r| !drop(r)).collect();
        if let Some(m) = new["metadata"].as_object_mut() {
            if kept.is_empty() {
                m.remove("ownerReferences");
            } else {
                m.insert("ownerReferences".to_owned(), Value::Array(kept));
            }
        }
        Ok(Change::Put(new))
    });
}

fn orphan_dependents(store: &Store, namespace: &str, uid: &str) {
    for (key, _) in dependents(store, namespace, uid) {
        strip_owner_refs(store, &key, |r| r["uid"] == uid);
    }
}

/// What the garbage collector and controllers delete with: Background, default grace.
pub fn delete_background(store: &Store, key: &Key, manager: &str) -> Result<Committed, ApiError> {
    let opts = WriteOptions {
        manager: manager.to_owned(),
        ..Default::default()
    };
    delete(
        store,
        key,
        &json!({"propagationPolicy": "Background"}),
        &opts,
    )
}

/// The Status a DELETE answers with when the object is gone (kube-apiserver returns the
/// deleted object itself for pods and custom resources only).
pub fn success_status(kind: Kind, obj: &Value) -> Value {
    let mut details = json!({
        "name": obj["metadata"]["name"],
        "kind": kind.plural(),
        "uid": obj["metadata"]["uid"],
    });
    if !kind.group().is_empty() {
        details["group"] = json!(kind.group());
    }
    json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success",
        "details": details,
    })
}
