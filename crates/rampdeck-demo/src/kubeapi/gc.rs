//! The simulated garbage collector: deletes objects of the built-in kinds whose owners (by
//! `ownerReferences` uid) are all gone, drops references to owners that are gone when others
//! remain, and finishes foreground deletions: an owner with the `foregroundDeletion`
//! finalizer has its dependents deleted and is removed once none is left.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio_util::sync::CancellationToken;

use super::core;
use super::deletion::{self, delete_background, owner_refs, FOREGROUND_FINALIZER, GC_MANAGER};
use super::resource::Kind;
use super::resync::Resync;
use super::store::{Change, Key, Operation, Store, Subresource, Writer};

const KINDS: &[Kind] = &[Kind::Job, Kind::Pod, Kind::Secret];
/// A look without a write, so nothing is missed if a write raced the last look.
const RESYNC: Duration = Duration::from_secs(2);

pub async fn run(store: Arc<Store>, cancel: CancellationToken) {
    let mut resync = Resync::new(&store, KINDS);
    loop {
        pass(&store);
        let next = tokio::time::Instant::now() + RESYNC;
        if !resync.wait(Some(next), &cancel).await {
            return;
        }
    }
}

/// One look at every owned object and every foreground deletion.
pub fn pass(store: &Store) {
    let mut objects: Vec<(Key, Arc<Value>)> = Vec::new();
    for kind in KINDS.iter().copied() {
        for o in store.list(kind, None).1 {
            let m = &o["metadata"];
            let key = Key::new(
                kind,
                m["namespace"].as_str().unwrap_or(""),
                m["name"].as_str().unwrap_or(""),
            );
            objects.push((key, o));
        }
    }
    // Owners are looked up when needed, not taken from the listing above: an owner created
    // after its kind was listed, with a dependent created before the dependent's kind was,
    // would look gone.
    let mut owners: HashMap<Key, Option<String>> = HashMap::new();
    let mut exists = |ns: &str, r: &Value| {
        let kind = Kind::ALL
            .into_iter()
            .find(|k| r["kind"] == k.kind() && r["apiVersion"] == k.api_version());
        let Some(kind) = kind else {
            // An owner of a kind the demo does not serve cannot be checked: leave it be.
            return true;
        };
        let key = Key::new(kind, ns, r["name"].as_str().unwrap_or(""));
        let uid = owners
            .entry(key)
            .or_insert_with_key(|k| store.get(k).map(|o| core::uid(&o).to_owned()));
        uid.as_deref() == r["uid"].as_str()
    };
    for (key, o) in &objects {
        let refs = owner_refs(o);
        if refs.is_empty() || core::is_terminating(o) {
            continue;
        }
        let gone: Vec<&Value> = refs.iter().filter(|r| !exists(&key.namespace, r)).collect();
        if gone.len() == refs.len() {
            // Deleted meanwhile, or already being deleted: either way nothing more to do.
            let _ = delete_background(store, key, GC_MANAGER);
        } else if !gone.is_empty() {
            let gone: HashSet<&str> = gone.iter().filter_map(|r| r["uid"].as_str()).collect();
            deletion::strip_owner_refs(store, key, |r| {
                r["uid"].as_str().is_some_and(|u| gone.contains(u))
            });
        }
    }
    for (key, o) in &objects {
        let foreground = o["metadata"]["finalizers"]
            .as_array()
            .is_some_and(|f| f.iter().any(|f| f == FOREGROUND_FINALIZER));
        if !foreground || !core::is_terminating(o) {
            continue;
        }
        let uid = core::uid(o);
        let dependents: Vec<&(Key, Arc<Value>)> = objects
            .iter()
            .filter(|(k, d)| {
                k.namespace == key.namespace && owner_refs(d).iter().any(|r| r["uid"] == uid)
            })
            .collect();
        if dependents.is_empty() {
            let writer = Writer {
                manager: GC_MANAGER,
                operation: Operation::Update,
                subresource: Subresource::Main,
                dry_run: false,
            };
            let _ = store.write(key, writer, |cur| match cur {
                Some(c) if core::uid(c) == uid => Ok(Change::Delete),
                _ => Err(super::ops::not_found(key)),
            });
        } else {
            for (k, d) in dependents {
                if !core::is_terminating(d) {
                    let _ = delete_background(store, k, GC_MANAGER);
                }
            }
        }
    }
}
