//! The object store: objects as JSON, the global resourceVersion, server-set metadata
//! (uid, creationTimestamp, generation, managedFields), a bounded event history for watches
//! resuming from a resourceVersion, and the broadcast of every write to watchers and the
//! reconciler.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Instant, SystemTime};

use serde_json::{json, Map, Value};
use tokio::sync::{broadcast, mpsc};

use super::error::ApiError;
use super::resource::Kind;

/// Events kept for watches that resume from a resourceVersion; older ones get 410 Expired,
/// as after an etcd compaction.
pub const HISTORY: usize = 1024;

/// Where an object lives. Ordered by kind, then namespace, then name, as listings are.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key {
    pub kind: Kind,
    pub namespace: String,
    pub name: String,
}

impl Key {
    pub fn new(kind: Kind, namespace: &str, name: &str) -> Self {
        Key {
            kind,
            namespace: namespace.to_owned(),
            name: name.to_owned(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    Added,
    Modified,
    Deleted,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
}

/// One committed write.
#[derive(Debug)]
pub struct Event {
    pub rv: u64,
    pub key: Key,
    pub kind: EventType,
    /// The object after the write; for DELETED, its last state stamped with the delete's rv.
    /// Kept as text, as at rest: the history and the watchers' ring hold 1,024 events each,
    /// and parsed they held some 27 MB of routes (the memory a short route-scale run saw
    /// climb); consumers parse it with `object()`.
    object: Stored,
    /// The object before the write, so selector watches can turn MODIFIED into ADDED/DELETED.
    old: Option<Stored>,
    pub at: Instant,
    /// Only the status subresource changed: the desired state is the same.
    pub status_only: bool,
}

impl Event {
    /// The object after the write (parsed).
    pub fn object(&self) -> Arc<Value> {
        self.object.value()
    }

    /// The object before the write (parsed).
    pub fn old(&self) -> Option<Arc<Value>> {
        self.old.as_ref().map(Stored::value)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subresource {
    Main,
    Status,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Apply,
    Update,
}

/// Who writes and how: recorded in managedFields.
#[derive(Debug, Clone, Copy)]
pub struct Writer<'a> {
    pub manager: &'a str,
    pub operation: Operation,
    pub subresource: Subresource,
    pub dry_run: bool,
}

/// What a write closure decided.
pub enum Change {
    Put(Value),
    /// A put that starts (or shortens) a graceful or foreground deletion: the object's
    /// `deletionTimestamp`, `deletionGracePeriodSeconds` and `finalizers` are taken as given,
    /// where every other write keeps the stored ones.
    Terminate(Value),
    Delete,
}

#[derive(Debug, Clone)]
pub enum Committed {
    Created(Arc<Value>),
    Updated(Arc<Value>),
    /// The write changed nothing, so no resourceVersion was spent and no event sent.
    Unchanged(Arc<Value>),
    Deleted(Arc<Value>),
}

impl Committed {
    pub fn object(&self) -> &Arc<Value> {
        match self {
            Committed::Created(o)
            | Committed::Updated(o)
            | Committed::Unchanged(o)
            | Committed::Deleted(o) => o,
        }
    }
}

/// Where a watch starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Since {
    /// Synthetic ADDED events for the current objects, then live events.
    Now,
    /// Events after this resourceVersion, from the history.
    Rv(u64),
}

/// A watch's first events and its subscription, taken atomically so nothing falls between.
pub struct WatchStart {
    pub initial: Vec<Arc<Event>>,
    pub live: broadcast::Receiver<Arc<Event>>,
    /// The resourceVersion the watch is current to once `initial` is sent.
    pub rv: u64,
}

struct Inner {
    rv: u64,
    /// Events with rv <= this were dropped from the history.
    compacted: u64,
    objects: BTreeMap<Key, Stored>,
    history: VecDeque<Arc<Event>>,
}

/// An object at rest: compact JSON text. A `serde_json::Value` spends a
/// B-tree node (about 640 bytes) on every JSON object, however small, and
/// a route with its managedFields has some forty: 26 KB parsed against
/// about 2 KB as text. Reads parse it (outside the lock); the events in
/// flight to watchers and the reconciler keep the parsed form.
#[derive(Clone)]
struct Stored(Arc<str>);

impl std::fmt::Debug for Stored {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl Stored {
    fn new(v: &Value) -> Self {
        Stored(v.to_string().into())
    }

    fn value(&self) -> Arc<Value> {
        // It was serialized from a Value here, so it parses.
        Arc::new(serde_json::from_str(&self.0).unwrap_or(Value::Null))
    }
}

pub struct Store {
    inner: Mutex<Inner>,
    watchers: broadcast::Sender<Arc<Event>>,
    reconciler: mpsc::UnboundedSender<Arc<Event>>,
    uids: AtomicU64,
    seed: u64,
}

impl Store {
    /// The store and the receiving end of its event feed for the reconciler, which must see
    /// every write in order (a broadcast receiver could lag and lose some).
    pub fn new() -> (Store, mpsc::UnboundedReceiver<Arc<Event>>) {
        let (watchers, _) = broadcast::channel(HISTORY);
        let (reconciler, rx) = mpsc::unbounded_channel();
        let seed = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        let store = Store {
            inner: Mutex::new(Inner {
                rv: 0,
                compacted: 0,
                objects: BTreeMap::new(),
                history: VecDeque::with_capacity(HISTORY),
            }),
            watchers,
            reconciler,
            uids: AtomicU64::new(1),
            seed,
        };
        (store, rx)
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves consistent data (every mutation is a single
        // insert/remove), so keep serving.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Every committed write from now on, for controllers that resync on change; a receiver
    /// that lags loses events, so those controllers read the store again rather than trust
    /// the feed.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Event>> {
        self.watchers.subscribe()
    }

    pub fn resource_version(&self) -> u64 {
        self.lock().rv
    }

    pub fn get(&self, key: &Key) -> Option<Arc<Value>> {
        let stored = self.lock().objects.get(key).cloned();
        stored.map(|s| s.value())
    }

    /// Objects of `kind`, in one namespace or all, and the resourceVersion they are current to.
    pub fn list(&self, kind: Kind, namespace: Option<&str>) -> (u64, Vec<Arc<Value>>) {
        let (rv, stored): (u64, Vec<Stored>) = {
            let inner = self.lock();
            let items = inner
                .objects
                .iter()
                .filter(|(k, _)| k.kind == kind && namespace.is_none_or(|ns| k.namespace == ns))
                .map(|(_, v)| v.clone())
                .collect();
            (inner.rv, items)
        };
        (rv, stored.iter().map(Stored::value).collect())
    }

    /// Namespaces that hold at least one object.
    pub fn namespaces(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .lock()
            .objects
            .keys()
            .map(|k| k.namespace.clone())
            .collect();
        v.sort();
        v.dedup();
        v
    }

    /// Runs `decide` on the current object and commits its decision atomically: the server
    /// fields are set here, so every write path (create, update, patch, apply, status,
    /// reconciler) stamps objects the same way.
    pub fn write(
        &self,
        key: &Key,
        writer: Writer<'_>,
        decide: impl FnOnce(Option<&Value>) -> Result<Change, ApiError>,
    ) -> Result<Committed, ApiError> {
        let mut inner = self.lock();
        let old = inner.objects.get(key).map(Stored::value);
        match decide(old.as_deref())? {
            Change::Delete => {
                let Some(old) = old else {
                    return Err(ApiError::NotFound {
                        kind: key.kind,
                        name: key.name.clone(),
                    });
                };
                if writer.dry_run {
                    return Ok(Committed::Deleted(old));
                }
                let rv = inner.rv + 1;
                let mut last = (*old).clone();
                set_meta(&mut last, "resourceVersion", json!(rv.to_string()));
                let last = Arc::new(last);
                let was = inner.objects.remove(key);
                self.commit(
                    &mut inner,
                    key,
                    EventType::Deleted,
                    Stored::new(&last),
                    was.or_else(|| Some(Stored::new(&old))),
                    false,
                );
                Ok(Committed::Deleted(last))
            }
            Change::Put(new) => self.put(&mut inner, key, writer, new, old, false),
            Change::Terminate(new) => self.put(&mut inner, key, writer, new, old, true),
        }
    }

    /// Commits `new` (stamped) as the object at `key`, unless it changes nothing.
    fn put(
        &self,
        inner: &mut Inner,
        key: &Key,
        writer: Writer<'_>,
        new: Value,
        old: Option<Arc<Value>>,
        terminating: bool,
    ) -> Result<Committed, ApiError> {
        let mut obj = self.stamp(key, new, old.as_deref(), terminating);
        if let Some(old) = &old {
            if same_ignoring_bookkeeping(&obj, old) {
                return Ok(Committed::Unchanged(old.clone()));
            }
        }
        record_manager(&mut obj, old.as_deref(), writer, &key.kind.api_version());
        let rv = inner.rv + 1;
        set_meta(&mut obj, "resourceVersion", json!(rv.to_string()));
        let obj = Arc::new(obj);
        if writer.dry_run {
            return Ok(match old {
                None => Committed::Created(obj),
                Some(_) => Committed::Updated(obj),
            });
        }
        let stored = Stored::new(&obj);
        let was = inner.objects.insert(key.clone(), stored.clone());
        let (event, status_only) = match &old {
            None => (EventType::Added, false),
            Some(_) => (
                EventType::Modified,
                writer.subresource == Subresource::Status,
            ),
        };
        let created = old.is_none();
        let old_text = was.or_else(|| old.as_deref().map(Stored::new));
        self.commit(inner, key, event, stored, old_text, status_only);
        Ok(if created {
            Committed::Created(obj)
        } else {
            Committed::Updated(obj)
        })
    }

    /// Spends a resourceVersion on an event: history, watchers, reconciler.
    fn commit(
        &self,
        inner: &mut Inner,
        key: &Key,
        kind: EventType,
        object: Stored,
        old: Option<Stored>,
        status_only: bool,
    ) {
        inner.rv += 1;
        let event = Arc::new(Event {
            rv: inner.rv,
            key: key.clone(),
            kind,
            object,
            old,
            at: Instant::now(),
            status_only,
        });
        if inner.history.len() == HISTORY {
            if let Some(gone) = inner.history.pop_front() {
                inner.compacted = gone.rv;
            }
        }
        inner.history.push_back(event.clone());
        // Sent under the lock, so subscribers see events in resourceVersion order and a watch
        // that subscribes under the same lock misses none. No receivers is not an error.
        let _ = self.watchers.send(event.clone());
        let _ = self.reconciler.send(event);
    }

    /// Sets the fields the server owns: identity from the key, uid, creationTimestamp and
    /// generation (bumped only when spec changes), managedFields and the deletion marks kept
    /// from the old object (unless `terminating` sets the marks), and the built-in kinds'
    /// defaults that need the new object's uid.
    fn stamp(&self, key: &Key, mut obj: Value, old: Option<&Value>, terminating: bool) -> Value {
        if !obj.is_object() {
            obj = json!({});
        }
        obj["apiVersion"] = json!(key.kind.api_version());
        obj["kind"] = json!(key.kind.kind());
        if !obj["metadata"].is_object() {
            obj["metadata"] = json!({});
        }
        set_meta(&mut obj, "name", json!(key.name));
        set_meta(&mut obj, "namespace", json!(key.namespace));
        if let Some(m) = obj["metadata"].as_object_mut() {
            m.remove("generateName");
        }
        match old {
            None => {
                set_meta(&mut obj, "uid", json!(self.new_uid()));
                set_meta(&mut obj, "creationTimestamp", json!(now_rfc3339()));
                set_meta(&mut obj, "generation", json!(1));
                set_meta(&mut obj, "managedFields", json!([]));
                if let Some(m) = obj["metadata"].as_object_mut() {
                    m.remove("deletionTimestamp");
                    m.remove("deletionGracePeriodSeconds");
                }
                super::builtin::on_create(key.kind, &mut obj);
            }
            Some(old) => {
                let deletion: &[&str] = if terminating {
                    &[]
                } else {
                    &["deletionTimestamp", "deletionGracePeriodSeconds"]
                };
                for field in ["uid", "creationTimestamp", "managedFields"]
                    .iter()
                    .chain(deletion)
                {
                    match old["metadata"].get(field) {
                        Some(v) => set_meta(&mut obj, field, v.clone()),
                        None => {
                            if let Some(m) = obj["metadata"].as_object_mut() {
                                m.remove(*field);
                            }
                        }
                    }
                }
                let generation = old["metadata"]["generation"].as_i64().unwrap_or(1);
                let bump = i64::from(obj.get("spec") != old.get("spec"));
                set_meta(&mut obj, "generation", json!(generation + bump));
            }
        }
        obj
    }

    /// A random-looking RFC 4122 version 4 uid; unique per store.
    fn new_uid(&self) -> String {
        use rampdeck_base::rng::splitmix64;
        let n = self.uids.fetch_add(1, Ordering::Relaxed);
        let a = splitmix64(self.seed ^ n);
        let b = splitmix64(a ^ n.rotate_left(32));
        format!(
            "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0xfff,
            0x8000 | (b >> 48) & 0x3fff,
            b & 0xffff_ffff_ffff
        )
    }

    /// The first events of a watch on objects selected by `wants`, and its live subscription.
    pub fn watch(
        &self,
        since: Since,
        wants: impl Fn(&Key) -> bool,
    ) -> Result<WatchStart, ApiError> {
        let inner = self.lock();
        let live = self.watchers.subscribe();
        let rv = inner.rv;
        let initial = match since {
            Since::Now => {
                // The snapshot is taken under the lock with the subscription;
                // parsing it need not be.
                let current: Vec<(Key, Stored)> = inner
                    .objects
                    .iter()
                    .filter(|(k, _)| wants(k))
                    .map(|(k, o)| (k.clone(), o.clone()))
                    .collect();
                drop(inner);
                current
                    .into_iter()
                    .map(|(key, o)| {
                        let rv = meta_rv(&o.value());
                        Arc::new(Event {
                            rv,
                            key,
                            kind: EventType::Added,
                            object: o,
                            old: None,
                            at: Instant::now(),
                            status_only: false,
                        })
                    })
                    .collect()
            }
            Since::Rv(rv) => {
                if rv < inner.compacted {
                    return Err(ApiError::Expired {
                        requested: rv,
                        oldest: inner.compacted + 1,
                    });
                }
                inner
                    .history
                    .iter()
                    .filter(|e| e.rv > rv && wants(&e.key))
                    .cloned()
                    .collect()
            }
        };
        Ok(WatchStart { initial, live, rv })
    }
}

/// An object's metadata.resourceVersion as a number (0 if missing).
pub fn meta_rv(obj: &Value) -> u64 {
    obj["metadata"]["resourceVersion"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

pub fn set_meta(obj: &mut Value, field: &str, value: Value) {
    if let Some(m) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        m.insert(field.to_owned(), value);
    }
}

/// Equal apart from resourceVersion and managedFields, which every write changes.
fn same_ignoring_bookkeeping(a: &Value, b: &Value) -> bool {
    fn strip(v: &Value) -> Value {
        let mut v = v.clone();
        if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut) {
            m.remove("resourceVersion");
            m.remove("managedFields");
        }
        v
    }
    strip(a) == strip(b)
}

/// The top-level field a subresource's writes own: coarse-grained field ownership (whole
/// `spec`, whole `status`) stands in for the per-field sets of real server-side apply.
pub fn owned_field(sub: Subresource) -> &'static str {
    match sub {
        Subresource::Main => "spec",
        Subresource::Status => "status",
    }
}

/// Managers other than `manager` that own `field` of `obj`.
pub fn other_owners(obj: &Value, field: &str, manager: &str) -> Vec<String> {
    let key = format!("f:{field}");
    obj["metadata"]["managedFields"]
        .as_array()
        .map(|entries| {
            entries
                .iter()
                .filter(|e| e["manager"].as_str() != Some(manager))
                .filter(|e| e["fieldsV1"].get(&key).is_some())
                .filter_map(|e| e["manager"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// Updates managedFields for a write: the writer owns the field its subresource covers; when
/// the write changed that field, other managers lose it (as with server-side apply after an
/// update or a forced apply); when it did not, ownership is shared.
fn record_manager(obj: &mut Value, old: Option<&Value>, writer: Writer<'_>, api_version: &str) {
    let field = owned_field(writer.subresource);
    let key = format!("f:{field}");
    let changed = old.is_none_or(|o| o.get(field) != obj.get(field));
    let sub = match writer.subresource {
        Subresource::Main => None,
        Subresource::Status => Some("status"),
    };
    let op = match writer.operation {
        Operation::Apply => "Apply",
        Operation::Update => "Update",
    };
    let mut entries: Vec<Value> = obj["metadata"]["managedFields"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if changed {
        for e in &mut entries {
            if e["manager"].as_str() != Some(writer.manager) {
                if let Some(f) = e.get_mut("fieldsV1").and_then(Value::as_object_mut) {
                    f.remove(&key);
                }
            }
        }
    }
    let present = obj.get(field).is_some();
    let mine = entries.iter_mut().find(|e| {
        e["manager"].as_str() == Some(writer.manager)
            && e["operation"].as_str() == Some(op)
            && e.get("subresource").and_then(Value::as_str) == sub
    });
    match mine {
        Some(e) => {
            e["time"] = json!(now_rfc3339());
            if present {
                e["fieldsV1"][&key] = json!({});
            }
        }
        None if present => {
            let mut e = json!({
                "manager": writer.manager,
                "operation": op,
                "apiVersion": api_version,
                "time": now_rfc3339(),
                "fieldsType": "FieldsV1",
                "fieldsV1": Value::Object(Map::from_iter([(key.clone(), json!({}))])),
            });
            if let Some(s) = sub {
                e["subresource"] = json!(s);
            }
            entries.push(e);
        }
        None => {}
    }
    entries.retain(|e| e["fieldsV1"].as_object().is_some_and(|f| !f.is_empty()));
    set_meta(obj, "managedFields", Value::Array(entries));
}

/// Now as the API server writes timestamps: RFC 3339, whole seconds, UTC.
pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_seconds(SystemTime::now()).to_string()
}
