//! The simulated Job controller. For each Job it keeps up to `parallelism` pods running
//! (Indexed: one per index not yet succeeded, named `{job}-{index}-{suffix}`, with the
//! completion-index label, annotation and `JOB_COMPLETION_INDEX`; NonIndexed: until
//! `completions` pods have succeeded), replaces a pod that failed or was deleted (after a
//! short back-off: 100 ms doubling per failure of the index, at most 10 s), and writes the
//! Job's status: active, ready, terminating, succeeded, failed, completedIndexes,
//! failedIndexes, startTime, completionTime and the SuccessCriteriaMet/Complete or
//! FailureTarget/Failed conditions. It honours backoffLimit, backoffLimitPerIndex,
//! maxFailedIndexes, activeDeadlineSeconds, suspend, podReplacementPolicy and
//! ttlSecondsAfterFinished. A pod deleted by someone else counts as failed, as with the
//! real controller's pod tracking; one it deleted itself (beyond parallelism, or once the
//! Job finished) does not. Pods are found by their `controller-uid` label; counts live in
//! this process (and in the Job's status), not in pod finalizers.
//!
//! Not simulated: podFailurePolicy rules, successPolicy, work-queue Jobs (no `completions`;
//! refused at admission), and the real controller's 10 s back-off.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde_json::{json, Value};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::batch::{COMPLETION_INDEX, CONTROLLER_UID};
use super::container::completion_index;
use super::core;
use super::deletion::delete_background;
use super::ops::{self, WriteOptions};
use super::resource::Kind;
use super::resync::Resync;
use super::store::{now_rfc3339, Change, Key, Operation, Store, Subresource, Writer};

/// Field manager of the controller's writes.
pub const MANAGER: &str = "job-controller";
const KINDS: &[Kind] = &[Kind::Job, Kind::Pod];
const RESYNC: Duration = Duration::from_secs(2);
const BACKOFF_BASE: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(10);
/// Pods created per Job per look, as the real controller's MaxPodCreateDeletePerSync; the
/// creations' own events bring the next look.
const MAX_CREATE: i64 = 500;

/// What the controller remembers of a Job between looks.
#[derive(Debug, Default)]
struct Track {
    /// Pods whose end (success or failure) is counted, by uid.
    counted: HashSet<String>,
    /// Pods seen not yet ended, by uid, with their index (-1 for NonIndexed).
    live: HashMap<String, i64>,
    /// Pods this controller deleted: their end is not a failure.
    removed: HashSet<String>,
    succeeded: i64,
    failed: i64,
    completed: BTreeSet<i64>,
    failed_indexes: BTreeSet<i64>,
    /// Failures per index (-1 for NonIndexed) and when it may get a new pod.
    failures: HashMap<i64, u32>,
    retry_at: HashMap<i64, Instant>,
}

/// `1,3-5` as in `status.completedIndexes`.
pub fn format_indexes(set: &BTreeSet<i64>) -> String {
    let mut parts = Vec::new();
    let mut iter = set.iter().copied().peekable();
    while let Some(start) = iter.next() {
        let mut end = start;
        while iter.peek() == Some(&(end + 1)) {
            end += 1;
            iter.next();
        }
        parts.push(if end == start {
            start.to_string()
        } else {
            format!("{start}-{end}")
        });
    }
    parts.join(",")
}

pub fn parse_indexes(s: &str) -> BTreeSet<i64> {
    let mut set = BTreeSet::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (a, b) = part.split_once('-').unwrap_or((part, part));
        if let (Ok(a), Ok(b)) = (a.trim().parse::<i64>(), b.trim().parse::<i64>()) {
            // A range is at most `completions` long, which admission bounds.
            set.extend(a..=b.min(a.saturating_add(100_000)));
        }
    }
    set
}

impl Track {
    fn from_status(job: &Value) -> Track {
        let s = &job["status"];
        Track {
            succeeded: s["succeeded"].as_i64().unwrap_or(0),
            failed: s["failed"].as_i64().unwrap_or(0),
            completed: parse_indexes(s["completedIndexes"].as_str().unwrap_or("")),
            failed_indexes: parse_indexes(s["failedIndexes"].as_str().unwrap_or("")),
            ..Track::default()
        }
    }

    fn fail(&mut self, index: i64) {
        self.failed += 1;
        let n = self.failures.entry(index).or_insert(0);
        *n += 1;
        let delay = BACKOFF_BASE
            .saturating_mul(1 << (*n - 1).min(16))
            .min(BACKOFF_MAX);
        self.retry_at.insert(index, Instant::now() + delay);
    }
}

pub struct JobController {
    store: Arc<Store>,
    tracks: HashMap<String, Track>,
}

/// A Job's spec, as the controller reads it (defaults applied at admission).
struct Spec {
    completions: i64,
    parallelism: i64,
    indexed: bool,
    backoff_limit: i64,
    per_index: Option<i64>,
    max_failed_indexes: Option<i64>,
    suspend: bool,
    replace_when_failed: bool,
    deadline: Option<i64>,
    ttl: Option<i64>,
}

impl Spec {
    fn of(job: &Value) -> Spec {
        let s = &job["spec"];
        Spec {
            completions: s["completions"].as_i64().unwrap_or(1).max(0),
            parallelism: s["parallelism"].as_i64().unwrap_or(1).max(0),
            indexed: s["completionMode"] == "Indexed",
            backoff_limit: s["backoffLimit"].as_i64().unwrap_or(6),
            per_index: s["backoffLimitPerIndex"].as_i64(),
            max_failed_indexes: s["maxFailedIndexes"].as_i64(),
            suspend: s["suspend"] == true,
            replace_when_failed: s["podReplacementPolicy"] == "Failed",
            deadline: s["activeDeadlineSeconds"].as_i64(),
            ttl: s["ttlSecondsAfterFinished"].as_i64(),
        }
    }
}

fn key_of(kind: Kind, obj: &Value) -> Key {
    let m = &obj["metadata"];
    Key::new(
        kind,
        m["namespace"].as_str().unwrap_or(""),
        m["name"].as_str().unwrap_or(""),
    )
}

fn time_of(s: Option<&str>) -> Option<SystemTime> {
    s.and_then(|t| humantime::parse_rfc3339(t).ok())
}

/// When, as an `Instant`, the wall-clock time `at` comes (at most a day ahead: a look
/// comes sooner anyway).
fn instant_at(at: SystemTime) -> Instant {
    let ahead = at
        .duration_since(SystemTime::now())
        .unwrap_or(Duration::ZERO)
        .min(Duration::from_secs(86_400));
    Instant::now() + ahead
}

/// `t` plus `secs` seconds, or None past the end of time (a deadline that never comes).
fn after(t: SystemTime, secs: i64) -> Option<SystemTime> {
    t.checked_add(Duration::from_secs(secs.unsigned_abs()))
}

fn condition(previous: &Value, kind: &str, reason: &str, message: &str) -> Value {
    let since = previous["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["type"] == kind && c["status"] == "True")
        .and_then(|c| c["lastTransitionTime"].as_str())
        .map_or_else(now_rfc3339, str::to_owned);
    json!({
        "type": kind,
        "status": "True",
        "reason": reason,
        "message": message,
        "lastProbeTime": since,
        "lastTransitionTime": since,
    })
}

/// The pod the controller creates for `index` of `job`.
pub fn pod_for(job: &Value, index: Option<i64>) -> Value {
    let name = job["metadata"]["name"].as_str().unwrap_or("");
    let template = &job["spec"]["template"];
    let mut labels = template["metadata"]["labels"].clone();
    if !labels.is_object() {
        labels = json!({});
    }
    let mut annotations = template["metadata"]["annotations"].clone();
    if !annotations.is_object() {
        annotations = json!({});
    }
    let mut spec = template["spec"].clone();
    let generate_name = match index {
        Some(i) => {
            labels[COMPLETION_INDEX] = json!(i.to_string());
            annotations[COMPLETION_INDEX] = json!(i.to_string());
            spec["hostname"] = json!(format!("{name}-{i}"));
            let env = json!({"name": "JOB_COMPLETION_INDEX", "valueFrom": {"fieldRef": {
                "fieldPath": format!("metadata.annotations['{COMPLETION_INDEX}']"),
            }}});
            for list in ["containers", "initContainers"] {
                for c in spec
                    .get_mut(list)
                    .and_then(Value::as_array_mut)
                    .into_iter()
                    .flatten()
                {
                    match c.get_mut("env").and_then(Value::as_array_mut) {
                        Some(e) => e.push(env.clone()),
                        None => c["env"] = json!([env]),
                    }
                }
            }
            format!("{name}-{i}-")
        }
        None => format!("{name}-"),
    };
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "generateName": generate_name,
            "labels": labels,
            "annotations": annotations,
            "ownerReferences": [{
                "apiVersion": "batch/v1",
                "kind": "Job",
                "name": name,
                "uid": core::uid(job),
                "controller": true,
                "blockOwnerDeletion": true,
            }],
        },
        "spec": spec,
    })
}

impl JobController {
    pub fn new(store: Arc<Store>) -> Self {
        JobController {
            store,
            tracks: HashMap::new(),
        }
    }

    pub async fn run(mut self, cancel: CancellationToken) {
        let mut resync = Resync::new(&self.store, KINDS);
        loop {
            let wake = self.pass();
            let next = Instant::now() + RESYNC;
            let next = wake.map_or(next, |w| w.min(next));
            if !resync.wait(Some(next), &cancel).await {
                return;
            }
        }
    }

    /// One look at every Job; returns when the next look is due for a back-off, deadline
    /// or TTL.
    pub fn pass(&mut self) -> Option<Instant> {
        let jobs = self.store.list(Kind::Job, None).1;
        let mut pods: HashMap<(String, String), Vec<Arc<Value>>> = HashMap::new();
        for p in self.store.list(Kind::Pod, None).1 {
            if let Some(uid) = core::label(&p, CONTROLLER_UID) {
                let ns = p["metadata"]["namespace"].as_str().unwrap_or("").to_owned();
                pods.entry((ns, uid.to_owned()))
                    .or_default()
                    .push(p.clone());
            }
        }
        let mut wake: Option<Instant> = None;
        let mut seen = HashSet::new();
        for job in jobs {
            let uid = core::uid(&job).to_owned();
            seen.insert(uid.clone());
            let ns = job["metadata"]["namespace"]
                .as_str()
                .unwrap_or("")
                .to_owned();
            let mine = pods.remove(&(ns, uid)).unwrap_or_default();
            if let Some(w) = self.sync(&job, &mine) {
                wake = Some(wake.map_or(w, |x: Instant| x.min(w)));
            }
        }
        self.tracks.retain(|uid, _| seen.contains(uid));
        wake
    }

    fn sync(&mut self, job: &Value, pods: &[Arc<Value>]) -> Option<Instant> {
        let spec = Spec::of(job);
        let job_key = key_of(Kind::Job, job);
        let uid = core::uid(job).to_owned();
        let track = self
            .tracks
            .entry(uid.clone())
            .or_insert_with(|| Track::from_status(job));
        let index_of = |p: &Value| {
            if spec.indexed {
                completion_index(p).unwrap_or(-1)
            } else {
                -1
            }
        };
        // Count every pod's end once; one that vanished before it ended failed.
        let present: HashSet<&str> = pods.iter().map(|p| core::uid(p)).collect();
        let vanished: Vec<(String, i64)> = track
            .live
            .iter()
            .filter(|(u, _)| !present.contains(u.as_str()))
            .map(|(u, i)| (u.clone(), *i))
            .collect();
        for (u, i) in vanished {
            track.live.remove(&u);
            if !track.counted.remove(&u) && !track.removed.contains(&u) {
                track.fail(i);
            }
        }
        track.counted.retain(|u| present.contains(u.as_str()));
        track.removed.retain(|u| present.contains(u.as_str()));
        for p in pods {
            let pu = core::uid(p).to_owned();
            let i = index_of(p);
            if track.counted.contains(&pu) {
                continue;
            }
            match core::phase(p) {
                "Succeeded" => {
                    track.succeeded += 1;
                    if spec.indexed && (0..spec.completions).contains(&i) {
                        track.completed.insert(i);
                    }
                    track.counted.insert(pu.clone());
                }
                "Failed" => {
                    if !track.removed.contains(&pu) {
                        track.fail(i);
                    }
                    track.counted.insert(pu.clone());
                }
                _ => {}
            }
            track.live.insert(pu, i);
        }
        if let Some(limit) = spec.per_index {
            for (i, n) in &track.failures {
                if *i >= 0 && i64::from(*n) > limit && !track.completed.contains(i) {
                    track.failed_indexes.insert(*i);
                }
            }
        }

        let running: Vec<&Arc<Value>> = pods.iter().filter(|p| !core::is_terminal(p)).collect();
        let active: Vec<&Arc<Value>> = running
            .iter()
            .copied()
            .filter(|p| !core::is_terminating(p))
            .collect();
        let terminating = running.len() - active.len();
        let ready = active.iter().filter(|p| core::is_ready(p)).count();
        let prev = &job["status"];
        let finished = core::condition_true(job, "Complete") || core::condition_true(job, "Failed");
        let now = SystemTime::now();
        let start = time_of(prev["startTime"].as_str()).or_else(|| (!spec.suspend).then_some(now));
        let mut wake: Option<Instant> = None;
        let mut soon = |at: Instant| wake = Some(wake.map_or(at, |w: Instant| w.min(at)));

        let success = if spec.indexed {
            track.completed.len() as i64 >= spec.completions
        } else {
            track.succeeded >= spec.completions
        };
        let mut failure: Option<(&str, &str)> = None;
        if let (Some(d), Some(s)) = (spec.deadline, start) {
            match after(s, d) {
                Some(due) if now >= due => {
                    failure = Some((
                        "DeadlineExceeded",
                        "Job was active longer than specified deadline",
                    ));
                }
                Some(due) if !finished => soon(instant_at(due)),
                _ => {}
            }
        }
        if failure.is_none() && !success {
            if spec.per_index.is_some() {
                let over = spec
                    .max_failed_indexes
                    .is_some_and(|m| track.failed_indexes.len() as i64 > m);
                let settled = track.completed.len() + track.failed_indexes.len();
                if over {
                    failure = Some((
                        "MaxFailedIndexesExceeded",
                        "Job has exceeded the specified maximal number of failed indexes",
                    ));
                } else if !track.failed_indexes.is_empty() && settled as i64 >= spec.completions {
                    failure = Some(("FailedIndexes", "Job has failed indexes"));
                }
            } else if track.failed > spec.backoff_limit {
                failure = Some((
                    "BackoffLimitExceeded",
                    "Job has reached the specified backoff limit",
                ));
            }
        }
        let deleting = core::is_terminating(job);
        let done = finished || success || failure.is_some();
        let mut created = 0;
        if !deleting {
            if done || spec.suspend {
                let stop: Vec<&Arc<Value>> = active.to_vec();
                self.remove_pods(&uid, &stop);
            } else {
                created = self.scale(job, &spec, &active, &running, &mut soon);
            }
        }

        let track = self.tracks.get(&uid)?;
        let mut status = json!({
            "active": active.len() as i64 + created,
            "ready": ready,
            "terminating": terminating,
            "succeeded": track.succeeded,
            "failed": track.failed,
        });
        if let Some(s) = start {
            status["startTime"] = json!(humantime::format_rfc3339_seconds(s).to_string());
        }
        if spec.indexed {
            status["completedIndexes"] = json!(format_indexes(&track.completed));
            if spec.per_index.is_some() {
                status["failedIndexes"] = json!(format_indexes(&track.failed_indexes));
            }
        }
        let mut conditions: Vec<Value> = Vec::new();
        let settled = running.is_empty();
        if finished {
            // Terminal: the conditions stand as written.
            conditions = prev["conditions"].as_array().cloned().unwrap_or_default();
            if let Some(t) = prev.get("completionTime") {
                status["completionTime"] = t.clone();
            }
        } else if spec.suspend && !done {
            conditions.push(condition(
                prev,
                "Suspended",
                "JobSuspended",
                "Job suspended",
            ));
        } else if let Some((reason, message)) = failure {
            conditions.push(condition(prev, "FailureTarget", reason, message));
            if settled {
                conditions.push(condition(prev, "Failed", reason, message));
            }
        } else if success {
            conditions.push(condition(
                prev,
                "SuccessCriteriaMet",
                "CompletionsReached",
                "Reached expected number of succeeded pods",
            ));
            if settled {
                conditions.push(condition(
                    prev,
                    "Complete",
                    "CompletionsReached",
                    "Reached expected number of succeeded pods",
                ));
                status["completionTime"] = json!(prev["completionTime"]
                    .as_str()
                    .map_or_else(now_rfc3339, str::to_owned));
            }
        }
        if !conditions.is_empty() {
            status["conditions"] = Value::Array(conditions);
        }
        self.write_status(&job_key, &uid, status.clone());

        // Finished Jobs go after ttlSecondsAfterFinished, as the TTL controller does it.
        let finished_at = status["conditions"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|c| (c["type"] == "Complete" || c["type"] == "Failed") && c["status"] == "True")
            .and_then(|c| time_of(c["lastTransitionTime"].as_str()));
        if let (Some(ttl), Some(at), false) = (spec.ttl, finished_at, deleting) {
            match after(at, ttl) {
                Some(due) if now >= due => {
                    let _ =
                        delete_background(&self.store, &job_key, "ttl-after-finished-controller");
                }
                Some(due) => soon(instant_at(due)),
                None => {}
            }
        }
        wake
    }

    /// Creates the pods the Job lacks and deletes those beyond parallelism; returns how many
    /// it created.
    fn scale(
        &mut self,
        job: &Value,
        spec: &Spec,
        active: &[&Arc<Value>],
        running: &[&Arc<Value>],
        soon: &mut impl FnMut(Instant),
    ) -> i64 {
        let uid = core::uid(job).to_owned();
        let ns = job["metadata"]["namespace"]
            .as_str()
            .unwrap_or("")
            .to_owned();
        let Some(track) = self.tracks.get(&uid) else {
            return 0;
        };
        // With podReplacementPolicy Failed, a pod still terminating holds its place.
        let busy = if spec.replace_when_failed {
            running.len()
        } else {
            active.len()
        } as i64;
        let mut room = (spec.parallelism - busy).min(MAX_CREATE);
        // Terminating pods are on their way out: only active ones are surplus.
        let surplus = active.len() as i64 - spec.parallelism;
        let now = Instant::now();
        let mut wanted: Vec<Option<i64>> = Vec::new();
        let mut excess: Vec<&Arc<Value>> = Vec::new();
        if spec.indexed {
            let mut held: HashMap<i64, usize> = HashMap::new();
            for p in active {
                let i = completion_index(p).unwrap_or(-1);
                let n = held.entry(i).or_insert(0);
                *n += 1;
                // Duplicates, stray indexes and finished indexes are not kept.
                if *n > 1 || !(0..spec.completions).contains(&i) || track.completed.contains(&i) {
                    excess.push(p);
                }
            }
            if spec.replace_when_failed {
                for p in running.iter().filter(|p| core::is_terminating(p)) {
                    held.entry(completion_index(p).unwrap_or(-1)).or_insert(1);
                }
            }
            for i in 0..spec.completions {
                if room <= 0 {
                    break;
                }
                if held.contains_key(&i)
                    || track.completed.contains(&i)
                    || track.failed_indexes.contains(&i)
                {
                    continue;
                }
                match track.retry_at.get(&i) {
                    Some(at) if *at > now => soon(*at),
                    _ => {
                        wanted.push(Some(i));
                        room -= 1;
                    }
                }
            }
        } else {
            let remaining = spec.completions - track.succeeded - busy;
            let n = room.min(remaining);
            match track.retry_at.get(&-1) {
                Some(at) if *at > now && n > 0 => soon(*at),
                _ => wanted.extend((0..n.max(0)).map(|_| None)),
            }
        }
        if surplus > 0 {
            // Parallelism was lowered: stop the highest indexes (the newest pods) first.
            let mut sorted: Vec<&Arc<Value>> = active.to_vec();
            sorted.sort_by_key(|p| {
                (
                    completion_index(p).unwrap_or(-1),
                    p["metadata"]["creationTimestamp"]
                        .as_str()
                        .unwrap_or("")
                        .to_owned(),
                )
            });
            excess.extend(
                sorted
                    .into_iter()
                    .rev()
                    .take(surplus.unsigned_abs() as usize),
            );
        }
        self.remove_pods(&uid, &excess);
        let opts = WriteOptions {
            manager: MANAGER.to_owned(),
            ..Default::default()
        };
        let mut created = 0;
        for index in wanted {
            // A generated name that collides is retried on the next look.
            if ops::create(&self.store, Kind::Pod, &ns, pod_for(job, index), &opts).is_ok() {
                created += 1;
            }
        }
        created
    }

    /// Deletes pods of the Job `uid` whose end is then not counted as a failure.
    fn remove_pods(&mut self, uid: &str, pods: &[&Arc<Value>]) {
        for p in pods {
            if let Some(t) = self.tracks.get_mut(uid) {
                t.removed.insert(core::uid(p).to_owned());
            }
            let _ = delete_background(&self.store, &key_of(Kind::Pod, p), MANAGER);
        }
    }

    fn write_status(&self, key: &Key, uid: &str, status: Value) {
        let writer = Writer {
            manager: MANAGER,
            operation: Operation::Update,
            subresource: Subresource::Status,
            dry_run: false,
        };
        // A Job deleted meanwhile needs no status.
        let _ = self.store.write(key, writer, |cur| {
            let cur = cur
                .filter(|c| core::uid(c) == uid)
                .ok_or_else(|| ops::not_found(key))?;
            let mut new = cur.clone();
            new["status"] = status;
            Ok(Change::Put(new))
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_sets_round_trip() {
        let set: BTreeSet<i64> = [0, 1, 2, 5, 7, 8].into_iter().collect();
        assert_eq!(format_indexes(&set), "0-2,5,7-8");
        assert_eq!(parse_indexes("0-2,5,7-8"), set);
        assert!(parse_indexes("").is_empty());
    }

    #[test]
    fn pods_carry_the_index() {
        let job = json!({"metadata": {"name": "agents", "uid": "u1"}, "spec": {"template": {
            "metadata": {"labels": {"app": "a"}},
            "spec": {"containers": [{"name": "c", "image": "i", "env": [{"name": "X", "value": "1"}]}]}}}});
        let p = pod_for(&job, Some(2));
        assert_eq!(p["metadata"]["generateName"], "agents-2-");
        assert_eq!(p["metadata"]["labels"][COMPLETION_INDEX], "2");
        assert_eq!(p["metadata"]["labels"]["app"], "a");
        assert_eq!(p["metadata"]["annotations"][COMPLETION_INDEX], "2");
        assert_eq!(p["metadata"]["ownerReferences"][0]["uid"], "u1");
        assert_eq!(
            p["spec"]["containers"][0]["env"][1]["name"],
            "JOB_COMPLETION_INDEX"
        );
        assert_eq!(p["spec"]["hostname"], "agents-2");
    }
}
