//! The simulated kubelet (and scheduler) of the demo's one node, `rampdeck-demo`: it binds
//! each new pod to the node (at most `KubeSim::max_pods` at once; the rest stay Pending as
//! Unschedulable), gives it a loopback pod IP (`podip`), runs its first container as a
//! local process (`container`), probes its readiness, and writes its status as a kubelet
//! would: phase Pending → Running → Succeeded/Failed, containerStatuses, and the
//! PodScheduled, PodReadyToStartContainers, Initialized, ContainersReady and Ready
//! conditions. A deleted pod's process gets SIGTERM, then SIGKILL after its grace period
//! (capped at `MAX_GRACE`), and the pod object is removed once the process is gone.
//!
//! Simplifications: only the first container runs (the others are reported waiting),
//! init containers and liveness or startup probes are not run, images are not pulled
//! (`command[0]` `rampdeck`, or no command, runs the rampdeck executable), and readiness is
//! probed every 100 ms until first ready, then every `periodSeconds`.

use std::collections::{HashMap, HashSet};
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::container::{self, Launch, LogBuffer, Process, Sig};
use super::core;
use super::ops::not_found;
use super::podip::{self, PodIp};
use super::resource::Kind;
use super::resync::Resync;
use super::store::{now_rfc3339, Change, Key, Operation, Store, Subresource, Writer};
use crate::config::KubeSim;

/// The node every pod runs on.
pub const NODE: &str = "rampdeck-demo";
pub const HOST_IP: &str = "127.0.0.1";
const MANAGER: &str = "kubelet";
const SCHEDULER: &str = "default-scheduler";
/// The longest the simulation waits for a container to stop after SIGTERM, whatever its
/// `terminationGracePeriodSeconds` (30 s by default) says.
pub const MAX_GRACE: Duration = Duration::from_secs(10);
const RESYNC: Duration = Duration::from_secs(1);
/// Readiness probes run this often until the first success (faster than any real period).
const PROBE_UNTIL_READY: Duration = Duration::from_millis(100);
/// A container waiting for its Secret looks again this often.
const CONFIG_RETRY: Duration = Duration::from_millis(500);
const NOT_RUN: &str = "the demo kubelet runs only a pod's first container";

/// What the kubelet keeps of a pod it runs: its output and its process.
#[derive(Default)]
pub struct Runtime {
    pub log: Arc<LogBuffer>,
    /// The container's process id while it runs, else 0.
    pid: AtomicU32,
}

impl Runtime {
    pub fn pid(&self) -> Option<u32> {
        Some(self.pid.load(Ordering::Relaxed)).filter(|p| *p != 0)
    }
}

pub struct Kubelet {
    store: Arc<Store>,
    agent_exe: PathBuf,
    slots: Arc<Semaphore>,
    max_pods: usize,
    /// By pod uid.
    runtimes: Mutex<HashMap<String, Arc<Runtime>>>,
    /// Started with the first container.
    watchdog: std::sync::OnceLock<Option<Arc<container::Watchdog>>>,
}

/// What the kubelet wants of a pod's worker.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Desired {
    Run,
    /// The pod is being deleted: stop its container within this grace period.
    Stop(Duration),
    /// The pod object is gone: kill at once.
    Gone,
}

/// Why a worker stops running its pod.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Halt {
    Delete(Duration),
    Gone,
    Cancel,
}

struct Worker {
    desired: watch::Sender<Desired>,
    task: JoinHandle<()>,
}

fn pod_key(pod: &Value) -> Key {
    let m = &pod["metadata"];
    Key::new(
        Kind::Pod,
        m["namespace"].as_str().unwrap_or(""),
        m["name"].as_str().unwrap_or(""),
    )
}

fn grace(pod: &Value) -> Duration {
    let secs = pod["metadata"]["deletionGracePeriodSeconds"]
        .as_i64()
        .unwrap_or(core::DEFAULT_GRACE_SECONDS)
        .max(0);
    Duration::from_secs(secs.unsigned_abs()).min(MAX_GRACE)
}

impl Kubelet {
    pub fn new(store: Arc<Store>, sim: &KubeSim) -> Arc<Kubelet> {
        let agent_exe = sim
            .agent_exe
            .clone()
            .or_else(|| std::env::current_exe().ok())
            .unwrap_or_else(|| PathBuf::from("rampdeck"));
        let max_pods = sim.max_pods.max(1);
        Arc::new(Kubelet {
            store,
            agent_exe,
            slots: Arc::new(Semaphore::new(max_pods)),
            max_pods,
            runtimes: Mutex::new(HashMap::new()),
            watchdog: std::sync::OnceLock::new(),
        })
    }

    fn watchdog(&self) -> Option<Arc<container::Watchdog>> {
        if !cfg!(target_os = "linux") {
            return None;
        }
        self.watchdog
            .get_or_init(|| container::Watchdog::start().map(Arc::new))
            .clone()
    }

    fn runtimes(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Runtime>>> {
        self.runtimes.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The runtime of the pod now stored under `namespace`/`name`, if it ever started.
    pub fn runtime(&self, namespace: &str, name: &str) -> Option<Arc<Runtime>> {
        let pod = self.store.get(&Key::new(Kind::Pod, namespace, name))?;
        self.runtimes().get(core::uid(&pod)).cloned()
    }

    /// The process id of a pod's running container.
    pub fn pid(&self, namespace: &str, name: &str) -> Option<u32> {
        self.runtime(namespace, name)?.pid()
    }

    /// Runs pods until cancelled; then every worker kills its process.
    pub async fn run(self: Arc<Self>, cancel: CancellationToken) {
        let mut resync = Resync::new(&self.store, &[Kind::Pod]);
        let mut workers: HashMap<String, Worker> = HashMap::new();
        loop {
            self.sync(&mut workers, &cancel);
            let next = tokio::time::Instant::now() + RESYNC;
            if !resync.wait(Some(next), &cancel).await {
                return;
            }
        }
    }

    fn sync(self: &Arc<Self>, workers: &mut HashMap<String, Worker>, cancel: &CancellationToken) {
        let pods = self.store.list(Kind::Pod, None).1;
        let mut seen = HashSet::new();
        for pod in pods {
            let uid = core::uid(&pod).to_owned();
            seen.insert(uid.clone());
            let key = pod_key(&pod);
            let terminating = core::is_terminating(&pod);
            match workers.get(&uid) {
                Some(w) if !w.task.is_finished() => {
                    if terminating {
                        let g = grace(&pod);
                        w.desired.send_if_modified(|d| match d {
                            Desired::Run => {
                                *d = Desired::Stop(g);
                                true
                            }
                            Desired::Stop(old) if g < *old => {
                                *old = g;
                                true
                            }
                            _ => false,
                        });
                    }
                }
                // Nothing runs for it (any more): a deleted pod can go at once.
                Some(_) | None if terminating => self.remove(&key, &uid),
                Some(_) => {}
                None if core::is_terminal(&pod) => {}
                None => {
                    let (tx, rx) = watch::channel(Desired::Run);
                    let runtime = Arc::new(Runtime::default());
                    self.runtimes().insert(uid.clone(), runtime.clone());
                    let w = PodWorker {
                        kubelet: self.clone(),
                        key,
                        uid: uid.clone(),
                        desired: rx,
                        cancel: cancel.clone(),
                        runtime,
                        status: PodState::default(),
                        _permit: None,
                        _ip: None,
                    };
                    let task = tokio::spawn(w.run());
                    workers.insert(uid, Worker { desired: tx, task });
                }
            }
        }
        workers.retain(|uid, w| {
            if seen.contains(uid) {
                return true;
            }
            // Dropping the handle detaches the task, which kills the process and ends.
            let _ = w.desired.send(Desired::Gone);
            false
        });
        self.runtimes().retain(|uid, _| seen.contains(uid));
    }

    /// Removes the pod object the kubelet is done with, unless it was replaced meanwhile.
    fn remove(&self, key: &Key, uid: &str) {
        let writer = Writer {
            manager: MANAGER,
            operation: Operation::Update,
            subresource: Subresource::Main,
            dry_run: false,
        };
        // Already gone is fine.
        let _ = self.store.write(key, writer, |cur| match cur {
            Some(c) if core::uid(c) == uid => Ok(Change::Delete),
            _ => Err(not_found(key)),
        });
    }
}

/// A container's state as containerStatuses reports it.
#[derive(Debug, Clone, Default, PartialEq)]
enum CState {
    #[default]
    Creating,
    Waiting {
        reason: &'static str,
        message: String,
    },
    Running {
        started_at: String,
    },
    Terminated(Terminated),
}

#[derive(Debug, Clone, PartialEq)]
struct Terminated {
    exit_code: i64,
    signal: Option<i32>,
    reason: &'static str,
    message: String,
    started_at: String,
    finished_at: String,
}

impl Terminated {
    fn json(&self) -> Value {
        let mut t = json!({
            "exitCode": self.exit_code,
            "reason": self.reason,
            "startedAt": self.started_at,
            "finishedAt": self.finished_at,
        });
        if let Some(s) = self.signal {
            t["signal"] = json!(s);
        }
        if !self.message.is_empty() {
            t["message"] = json!(self.message);
        }
        t
    }
}

impl CState {
    fn json(&self) -> Value {
        match self {
            CState::Creating => json!({"waiting": {"reason": "ContainerCreating"}}),
            CState::Waiting { reason, message } => {
                json!({"waiting": {"reason": reason, "message": message}})
            }
            CState::Running { started_at } => json!({"running": {"startedAt": started_at}}),
            CState::Terminated(t) => json!({"terminated": t.json()}),
        }
    }
}

/// Everything the kubelet writes into a pod's status.
#[derive(Debug, Clone, Default)]
struct PodState {
    scheduled: Option<bool>,
    unschedulable: String,
    ip: Option<Ipv4Addr>,
    start_time: Option<String>,
    phase: &'static str,
    state: CState,
    last_state: Option<Terminated>,
    ready: bool,
    restarts: i64,
    container_id: Option<String>,
}

/// A condition, keeping `lastTransitionTime` from `previous` when its status is the same.
fn condition(previous: &Value, kind: &str, ok: bool, reason: Option<&str>, message: &str) -> Value {
    let status = if ok { "True" } else { "False" };
    let since = previous["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["type"] == kind && c["status"] == status)
        .and_then(|c| c["lastTransitionTime"].as_str())
        .map_or_else(now_rfc3339, str::to_owned);
    let mut c =
        json!({"type": kind, "status": status, "lastProbeTime": null, "lastTransitionTime": since});
    if let Some(r) = reason {
        c["reason"] = json!(r);
    }
    if !message.is_empty() {
        c["message"] = json!(message);
    }
    c
}

impl PodState {
    fn status(&self, pod: &Value) -> Value {
        let prev = &pod["status"];
        let mut s = json!({
            "phase": if self.phase.is_empty() { "Pending" } else { self.phase },
            "qosClass": prev["qosClass"],
        });
        if self.scheduled == Some(false) {
            s["conditions"] = json!([condition(
                prev,
                "PodScheduled",
                false,
                Some("Unschedulable"),
                &self.unschedulable
            )]);
            return s;
        }
        let containers: Vec<&Value> = pod["spec"]["containers"]
            .as_array()
            .into_iter()
            .flatten()
            .collect();
        let first = containers
            .first()
            .and_then(|c| c["name"].as_str())
            .unwrap_or("");
        let terminal = matches!(self.phase, "Succeeded" | "Failed");
        let ready = self.ready && self.phase == "Running";
        let (reason, message) = if terminal {
            (Some("PodCompleted"), String::new())
        } else if ready {
            (None, String::new())
        } else {
            (
                Some("ContainersNotReady"),
                format!("containers with unready status: [{first}]"),
            )
        };
        s["conditions"] = json!([
            condition(
                prev,
                "PodReadyToStartContainers",
                self.ip.is_some() && !terminal,
                None,
                ""
            ),
            condition(prev, "Initialized", true, None, ""),
            condition(prev, "Ready", ready, reason, &message),
            condition(prev, "ContainersReady", ready, reason, &message),
            condition(prev, "PodScheduled", true, None, ""),
        ]);
        s["hostIP"] = json!(HOST_IP);
        s["hostIPs"] = json!([{"ip": HOST_IP}]);
        if let Some(ip) = self.ip {
            s["podIP"] = json!(ip.to_string());
            s["podIPs"] = json!([{"ip": ip.to_string()}]);
        }
        if let Some(t) = &self.start_time {
            s["startTime"] = json!(t);
        }
        let statuses: Vec<Value> = containers
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let mut cs = json!({
                    "name": c["name"],
                    "image": c["image"],
                    "imageID": "",
                    "ready": false,
                    "started": false,
                    "restartCount": 0,
                });
                if i > 0 {
                    cs["state"] =
                        json!({"waiting": {"reason": "NotRunByDemo", "message": NOT_RUN}});
                    return cs;
                }
                cs["state"] = self.state.json();
                cs["ready"] = json!(ready);
                cs["started"] = json!(matches!(self.state, CState::Running { .. }));
                cs["restartCount"] = json!(self.restarts);
                if let Some(id) = &self.container_id {
                    cs["containerID"] = json!(id);
                }
                if let Some(t) = &self.last_state {
                    cs["lastState"] = json!({"terminated": t.json()});
                }
                cs
            })
            .collect();
        s["containerStatuses"] = json!(statuses);
        s
    }
}

/// A readiness probe, as far as the simulation runs it.
#[derive(Debug, Clone)]
enum Check {
    Tcp(u16),
    Http { port: u16, path: String },
    Exec(Vec<String>),
}

#[derive(Debug, Clone)]
struct Probe {
    check: Check,
    initial_delay: Duration,
    period: Duration,
    timeout: Duration,
    success_threshold: u32,
    failure_threshold: u32,
}

/// A probe's `port`: a number, or the name of one of the container's ports.
fn probe_port(container: &Value, port: &Value) -> Option<u16> {
    if let Some(n) = port.as_u64() {
        return u16::try_from(n).ok();
    }
    let name = port.as_str()?;
    if let Ok(n) = name.parse() {
        return Some(n);
    }
    container["ports"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| p["name"] == name)
        .and_then(|p| p["containerPort"].as_u64())
        .and_then(|n| u16::try_from(n).ok())
}

impl Probe {
    fn of(container: &Value) -> Option<Probe> {
        let p = container.get("readinessProbe").filter(|p| p.is_object())?;
        let secs = |field: &str, default: u64| {
            Duration::from_secs(
                p[field]
                    .as_u64()
                    .unwrap_or(default)
                    .max(u64::from(field != "initialDelaySeconds"))
                    // Beyond an hour a probe would as well never run.
                    .min(3600),
            )
        };
        let check = if p["tcpSocket"].is_object() {
            Check::Tcp(probe_port(container, &p["tcpSocket"]["port"])?)
        } else if p["grpc"].is_object() {
            // No gRPC health client here: a connection is the check.
            Check::Tcp(probe_port(container, &p["grpc"]["port"])?)
        } else if p["httpGet"].is_object() {
            let h = &p["httpGet"];
            Check::Http {
                port: probe_port(container, &h["port"])?,
                path: h["path"].as_str().unwrap_or("/").to_owned(),
            }
        } else if p["exec"].is_object() {
            Check::Exec(
                p["exec"]["command"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|s| s.as_str().map(str::to_owned))
                    .collect(),
            )
        } else {
            return None;
        };
        Some(Probe {
            check,
            initial_delay: secs("initialDelaySeconds", 0),
            period: secs("periodSeconds", 10),
            timeout: secs("timeoutSeconds", 1),
            success_threshold: p["successThreshold"].as_u64().unwrap_or(1).max(1) as u32,
            failure_threshold: p["failureThreshold"].as_u64().unwrap_or(3).max(1) as u32,
        })
    }

    async fn run(&self, ip: Ipv4Addr, launch: &Launch) -> bool {
        let attempt = async {
            match &self.check {
                Check::Tcp(port) => tokio::net::TcpStream::connect((ip, *port)).await.is_ok(),
                Check::Http { port, path } => http_ok(ip, *port, path).await,
                Check::Exec(cmd) => exec_ok(cmd, launch).await,
            }
        };
        tokio::time::timeout(self.timeout, attempt)
            .await
            .unwrap_or(false)
    }
}

/// An HTTP GET answered 2xx or 3xx, as the kubelet's httpGet probe judges.
async fn http_ok(ip: Ipv4Addr, port: u16, path: &str) -> bool {
    let Ok(mut s) = tokio::net::TcpStream::connect((ip, port)).await else {
        return false;
    };
    let req = format!(
        "GET {path} HTTP/1.1\r\nHost: {ip}:{port}\r\nUser-Agent: kube-probe/{}.{}\r\nAccept: */*\r\nConnection: close\r\n\r\n",
        super::discovery::MAJOR,
        super::discovery::MINOR
    );
    if s.write_all(req.as_bytes()).await.is_err() {
        return false;
    }
    let mut head = [0u8; 64];
    let mut n = 0;
    while n < head.len() {
        match s.read(&mut head[n..]).await {
            Ok(0) | Err(_) => break,
            Ok(k) => n += k,
        }
        if head[..n].contains(&b'\n') {
            break;
        }
    }
    let line = String::from_utf8_lossy(&head[..n]);
    line.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse::<u16>().ok())
        .is_some_and(|c| (200..400).contains(&c))
}

/// An exec probe: the command, in the container's environment, exits 0.
async fn exec_ok(cmd: &[String], launch: &Launch) -> bool {
    let Some((program, args)) = cmd.split_first() else {
        return false;
    };
    let mut c = tokio::process::Command::new(program);
    c.args(args)
        .env_clear()
        .envs(launch.env.iter().map(|(k, v)| (k, v)))
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true);
    c.status().await.is_ok_and(|s| s.success())
}

/// Runs one pod from binding to its end.
struct PodWorker {
    kubelet: Arc<Kubelet>,
    key: Key,
    uid: String,
    desired: watch::Receiver<Desired>,
    cancel: CancellationToken,
    runtime: Arc<Runtime>,
    status: PodState,
    /// A place on the node, held while the pod is bound and not finished.
    _permit: Option<OwnedSemaphorePermit>,
    _ip: Option<PodIp>,
}

/// Resolves when the worker must stop; level-triggered, so it may be raced and retried.
async fn halted(desired: &mut watch::Receiver<Desired>, cancel: &CancellationToken) -> Halt {
    loop {
        match *desired.borrow_and_update() {
            Desired::Stop(g) => return Halt::Delete(g),
            Desired::Gone => return Halt::Gone,
            Desired::Run => {}
        }
        tokio::select! {
            _ = cancel.cancelled() => return Halt::Cancel,
            changed = desired.changed() => if changed.is_err() {
                // The kubelet dropped this worker: the pod is gone.
                return Halt::Gone;
            },
        }
    }
}

/// The wait before restart `restarts + 1`: 1 s, 2 s, 4 s, 8 s, then 10 s (the kubelet's
/// 10 s to 5 min, shortened).
fn backoff(restarts: i64) -> Duration {
    let exp = restarts.clamp(1, 5) - 1;
    Duration::from_secs(1 << exp).min(Duration::from_secs(10))
}

impl PodWorker {
    async fn run(mut self) {
        let halt = self.lifecycle().await;
        self.runtime.log.set_finished(true);
        self.runtime.pid.store(0, Ordering::Relaxed);
        if let Some(Halt::Delete(_)) = halt {
            self.kubelet.remove(&self.key, &self.uid);
        }
    }

    fn pod(&self) -> Option<Arc<Value>> {
        self.kubelet
            .store
            .get(&self.key)
            .filter(|p| core::uid(p) == self.uid)
    }

    /// Writes the current state as the pod's status.
    fn write_status(&self) {
        let writer = Writer {
            manager: MANAGER,
            operation: Operation::Update,
            subresource: Subresource::Status,
            dry_run: false,
        };
        // A pod deleted meanwhile is the sync loop's to notice.
        let _ = self.kubelet.store.write(&self.key, writer, |cur| {
            let cur = cur
                .filter(|c| core::uid(c) == self.uid)
                .ok_or_else(|| not_found(&self.key))?;
            let mut new = cur.clone();
            new["status"] = self.status.status(cur);
            Ok(Change::Put(new))
        });
    }

    /// Binds the pod to the node, as the scheduler would; false if it is gone or bound to
    /// another node (which it then never leaves Pending on).
    fn bind(&self) -> bool {
        let writer = Writer {
            manager: SCHEDULER,
            operation: Operation::Update,
            subresource: Subresource::Main,
            dry_run: false,
        };
        let state = &self.status;
        let bound = self.kubelet.store.write(&self.key, writer, |cur| {
            let cur = cur
                .filter(|c| core::uid(c) == self.uid)
                .ok_or_else(|| not_found(&self.key))?;
            match cur["spec"]["nodeName"].as_str() {
                Some(n) if !n.is_empty() && n != NODE => Err(not_found(&self.key)),
                _ => {
                    let mut new = cur.clone();
                    new["spec"]["nodeName"] = json!(NODE);
                    new["status"] = state.status(cur);
                    Ok(Change::Put(new))
                }
            }
        });
        bound.is_ok()
    }

    /// None: the pod finished (and stays); Some: why it was stopped.
    async fn lifecycle(&mut self) -> Option<Halt> {
        let kubelet = self.kubelet.clone();
        let permit = match kubelet.slots.clone().try_acquire_owned() {
            Ok(p) => p,
            Err(_) => {
                self.status.scheduled = Some(false);
                self.status.unschedulable = format!(
                    "0/1 nodes are available: 1 Too many pods (the demo node runs at most {}).",
                    kubelet.max_pods
                );
                self.write_status();
                tokio::select! {
                    p = kubelet.slots.clone().acquire_owned() => p.ok()?,
                    h = halted(&mut self.desired, &self.cancel) => return Some(h),
                }
            }
        };
        self._permit = Some(permit);
        self.status.scheduled = Some(true);
        self.status.phase = "Pending";
        if !self.bind() {
            return Some(Halt::Gone);
        }
        let pod = self.pod()?;
        let spec_container = pod["spec"]["containers"][0].clone();
        let ports: Vec<u16> = spec_container["ports"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|p| p["protocol"].as_str().unwrap_or("TCP") == "TCP")
            .filter_map(|p| p["containerPort"].as_u64())
            .filter_map(|p| u16::try_from(p).ok())
            .collect();
        let ip = loop {
            if let Some(ip) = podip::allocate(&ports) {
                break ip;
            }
            self.status.state = CState::Waiting {
                reason: "ContainerCreating",
                message: "no free pod IP on the demo node".to_owned(),
            };
            self.write_status();
            tokio::select! {
                _ = tokio::time::sleep(RESYNC) => {}
                h = halted(&mut self.desired, &self.cancel) => return Some(h),
            }
        };
        let addr = ip.addr();
        self._ip = Some(ip);
        self.status.ip = Some(addr);
        self.status.start_time = Some(now_rfc3339());
        self.status.state = CState::Creating;
        self.write_status();
        let launch = loop {
            let mut view = (*self.pod()?).clone();
            view["status"]["podIP"] = json!(addr.to_string());
            view["status"]["podIPs"] = json!([{"ip": addr.to_string()}]);
            view["status"]["hostIP"] = json!(HOST_IP);
            view["status"]["hostIPs"] = json!([{"ip": HOST_IP}]);
            match container::prepare(&kubelet.store, &view, &spec_container, &kubelet.agent_exe) {
                Ok(l) => break l,
                Err(message) => {
                    let waiting = CState::Waiting {
                        reason: "CreateContainerConfigError",
                        message,
                    };
                    if self.status.state != waiting {
                        self.status.state = waiting;
                        self.write_status();
                    }
                    tokio::select! {
                        _ = tokio::time::sleep(CONFIG_RETRY) => {}
                        h = halted(&mut self.desired, &self.cancel) => return Some(h),
                    }
                }
            }
        };
        let policy = pod["spec"]["restartPolicy"]
            .as_str()
            .unwrap_or("Always")
            .to_owned();
        let probe = Probe::of(&spec_container);
        loop {
            let (ended, halt) = self.run_once(&launch, addr, probe.as_ref()).await;
            let code = ended.exit_code;
            self.status.ready = false;
            self.status.state = CState::Terminated(ended.clone());
            if let Some(h) = halt {
                self.status.phase = if code == 0 { "Succeeded" } else { "Failed" };
                if h != Halt::Cancel {
                    self.write_status();
                }
                return Some(h);
            }
            let restart = match policy.as_str() {
                "Always" => true,
                "OnFailure" => code != 0,
                _ => false,
            };
            if !restart {
                self.status.phase = if code == 0 { "Succeeded" } else { "Failed" };
                self.write_status();
                return None;
            }
            // The first restart is at once; later ones back off, as the kubelet's do.
            self.status.last_state = Some(ended);
            if self.status.restarts > 0 {
                let wait = backoff(self.status.restarts);
                self.status.state = CState::Waiting {
                    reason: "CrashLoopBackOff",
                    message: format!(
                        "back-off {}s restarting failed container={} pod={}_{}({})",
                        wait.as_secs(),
                        spec_container["name"].as_str().unwrap_or(""),
                        self.key.name,
                        self.key.namespace,
                        self.uid
                    ),
                };
                self.write_status();
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    h = halted(&mut self.desired, &self.cancel) => return Some(h),
                }
            }
            self.status.restarts += 1;
        }
    }

    /// Starts the container once and waits for it to end, probing readiness meanwhile.
    /// Some halt: it was stopped on request.
    async fn run_once(
        &mut self,
        launch: &Launch,
        ip: Ipv4Addr,
        probe: Option<&Probe>,
    ) -> (Terminated, Option<Halt>) {
        let started_at = now_rfc3339();
        self.runtime.log.set_finished(false);
        let watchdog = self.kubelet.watchdog();
        let mut process = match Process::spawn(launch, self.runtime.log.clone(), watchdog) {
            Ok(p) => p,
            Err(e) => {
                let message = format!(
                    "failed to create containerd task: exec: {:?}: {e}",
                    launch.program.display().to_string()
                );
                self.runtime.log.append(format!("{message}\n").as_bytes());
                return (
                    Terminated {
                        exit_code: 128,
                        signal: None,
                        reason: "StartError",
                        message,
                        started_at: started_at.clone(),
                        finished_at: now_rfc3339(),
                    },
                    None,
                );
            }
        };
        self.runtime.pid.store(process.pid, Ordering::Relaxed);
        self.status.container_id = Some(format!("demo://{}", process.pid));
        self.status.state = CState::Running {
            started_at: started_at.clone(),
        };
        self.status.phase = "Running";
        self.status.ready = probe.is_none();
        self.write_status();
        let ran_at = tokio::time::Instant::now();
        let (mut successes, mut failures) = (0u32, 0u32);
        let exit = |status: std::io::Result<std::process::ExitStatus>, started_at: &str| {
            let (exit_code, signal) = match status {
                Ok(s) => container::exit_code(s),
                Err(_) => (137, Some(9)),
            };
            Terminated {
                exit_code,
                signal,
                reason: if exit_code == 0 { "Completed" } else { "Error" },
                message: String::new(),
                started_at: started_at.to_owned(),
                finished_at: now_rfc3339(),
            }
        };
        loop {
            let interval = match probe {
                Some(p) if !self.status.ready => {
                    let delay = (ran_at + p.initial_delay)
                        .saturating_duration_since(tokio::time::Instant::now());
                    delay.max(PROBE_UNTIL_READY)
                }
                Some(p) => p.period,
                None => Duration::from_secs(3600),
            };
            tokio::select! {
                status = process.wait() => {
                    self.runtime.pid.store(0, Ordering::Relaxed);
                    return (exit(status, &started_at), None);
                }
                _ = tokio::time::sleep(interval), if probe.is_some() => {
                    let Some(p) = probe else { continue };
                    if p.run(ip, launch).await {
                        successes += 1;
                        failures = 0;
                        if !self.status.ready && successes >= p.success_threshold {
                            self.status.ready = true;
                            self.write_status();
                        }
                    } else {
                        failures += 1;
                        successes = 0;
                        if self.status.ready && failures >= p.failure_threshold {
                            self.status.ready = false;
                            self.write_status();
                        }
                    }
                }
                h = halted(&mut self.desired, &self.cancel) => {
                    let status = match h {
                        Halt::Delete(grace) => {
                            process.signal(Sig::Term);
                            match tokio::time::timeout(grace, process.wait()).await {
                                Ok(s) => s,
                                Err(_) => {
                                    process.signal(Sig::Kill);
                                    process.wait().await
                                }
                            }
                        }
                        Halt::Gone | Halt::Cancel => {
                            process.signal(Sig::Kill);
                            // SIGKILL cannot be ignored; the bound only guards a stuck reaper.
                            tokio::time::timeout(Duration::from_secs(2), process.wait())
                                .await
                                .unwrap_or_else(|_| Err(std::io::ErrorKind::TimedOut.into()))
                        }
                    };
                    self.runtime.pid.store(0, Ordering::Relaxed);
                    return (exit(status, &started_at), Some(h));
                }
            }
        }
    }
}
