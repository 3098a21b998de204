//! What the simulated kubelet runs for a container: a local process, not a container. The
//! command line and environment are built as the kubelet builds them (`env` and `envFrom`,
//! `fieldRef`, `secretKeyRef`, `$(VAR)` expansion with `$$` escapes), from nothing of the
//! demo's own environment but PATH and HOME. Each process leads its own process group, so
//! stopping the container stops everything it started; the group is killed when its leader
//! exits (as a container's processes die with its init), when the handle is dropped, and,
//! on Linux, when the demo process dies however it dies: the leader by `PR_SET_PDEATHSIG`,
//! the rest of its group by a `Watchdog`. Output goes to a bounded log.

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};

use serde_json::Value;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::sync::watch;

use super::batch::COMPLETION_INDEX;
use super::core;
use super::resource::Kind;
use super::store::{Key, Store};

/// The bytes of output kept per pod, as a rotated container log would keep its tail.
pub const LOG_BYTES: usize = 64 * 1024;
/// PATH for a demo whose own environment has none.
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// A container's process as the kubelet would start it.
#[derive(Debug, Clone, PartialEq)]
pub struct Launch {
    pub program: PathBuf,
    pub args: Vec<String>,
    /// The whole environment, in definition order.
    pub env: Vec<(String, String)>,
    pub cwd: Option<PathBuf>,
}

/// Environment variables in definition order; a later definition replaces an earlier one.
#[derive(Default)]
struct Env {
    vars: Vec<(String, String)>,
    index: HashMap<String, usize>,
}

impl Env {
    fn set(&mut self, name: &str, value: String) {
        match self.index.get(name) {
            Some(&i) => self.vars[i].1 = value,
            None => {
                self.index.insert(name.to_owned(), self.vars.len());
                self.vars.push((name.to_owned(), value));
            }
        }
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.index.get(name).map(|&i| self.vars[i].1.as_str())
    }
}

/// `$(VAR)` references replaced through `lookup`, as the kubelet expands command, args and
/// env values: `$$` is a literal `$`, and a reference to an undefined variable (or an
/// unterminated one) is kept as written.
pub fn expand(input: &str, lookup: impl Fn(&str) -> Option<String>) -> String {
    let b = input.as_bytes();
    let mut out: Vec<u8> = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'$' || i + 1 == b.len() {
            out.push(b[i]);
            i += 1;
            continue;
        }
        match b[i + 1] {
            b'$' => {
                out.push(b'$');
                i += 2;
            }
            b'(' => match b[i + 2..].iter().position(|&c| c == b')') {
                Some(len) => {
                    let name = &input[i + 2..i + 2 + len];
                    match lookup(name) {
                        Some(v) => out.extend_from_slice(v.as_bytes()),
                        None => out.extend_from_slice(&b[i..i + 3 + len]),
                    }
                    i += 3 + len;
                }
                None => {
                    out.extend_from_slice(b"$(");
                    i += 2;
                }
            },
            other => {
                out.push(b'$');
                out.push(other);
                i += 2;
            }
        }
    }
    // Only whole UTF-8 sequences were copied or inserted.
    String::from_utf8_lossy(&out).into_owned()
}

/// `metadata.labels['key']` → ("labels", "key").
fn subscript<'a>(path: &'a str, map: &str) -> Option<&'a str> {
    let rest = path.strip_prefix("metadata.")?.strip_prefix(map)?;
    let inner = rest.strip_prefix('[')?.strip_suffix(']')?;
    inner
        .strip_prefix('\'')
        .and_then(|s| s.strip_suffix('\''))
        .or_else(|| inner.strip_prefix('"').and_then(|s| s.strip_suffix('"')))
}

/// A `fieldRef` value of `pod`, as the downward API gives it.
fn field_ref(pod: &Value, path: &str) -> Result<String, String> {
    let m = &pod["metadata"];
    let s = |v: &Value| v.as_str().unwrap_or("").to_owned();
    let ips = |field: &str| {
        pod["status"][field]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| p["ip"].as_str())
            .collect::<Vec<_>>()
            .join(",")
    };
    Ok(match path {
        "metadata.name" => s(&m["name"]),
        "metadata.namespace" => s(&m["namespace"]),
        "metadata.uid" => s(&m["uid"]),
        "spec.nodeName" => s(&pod["spec"]["nodeName"]),
        "spec.serviceAccountName" => pod["spec"]["serviceAccountName"]
            .as_str()
            .unwrap_or("default")
            .to_owned(),
        "status.hostIP" => s(&pod["status"]["hostIP"]),
        "status.hostIPs" => ips("hostIPs"),
        "status.podIP" => s(&pod["status"]["podIP"]),
        "status.podIPs" => ips("podIPs"),
        other => {
            if let Some(k) = subscript(other, "labels") {
                s(&m["labels"][k])
            } else if let Some(k) = subscript(other, "annotations") {
                s(&m["annotations"][k])
            } else {
                return Err(format!("unsupported fieldPath: {other}"));
            }
        }
    })
}

/// A `resourceFieldRef` value: the container's own request or limit as written, else, for
/// limits, the node's (its CPUs; memory unknown, so 0).
fn resource_ref(container: &Value, resource: &str) -> String {
    let (section, name) = resource.split_once('.').unwrap_or(("limits", resource));
    match &container["resources"][section][name] {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ if resource == "limits.cpu" => std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .to_string(),
        _ => "0".to_owned(),
    }
}

fn secret(store: &Store, namespace: &str, name: &str) -> Option<Arc<Value>> {
    store.get(&Key::new(Kind::Secret, namespace, name))
}

/// The container's environment from its spec, or why the kubelet cannot create it yet (a
/// missing Secret or key: `CreateContainerConfigError`).
fn container_env(store: &Store, pod: &Value, container: &Value) -> Result<Env, String> {
    let ns = pod["metadata"]["namespace"].as_str().unwrap_or("");
    let mut env = Env::default();
    for from in container["envFrom"].as_array().into_iter().flatten() {
        let prefix = from["prefix"].as_str().unwrap_or("");
        if let Some(r) = from.get("secretRef").filter(|r| r.is_object()) {
            let name = r["name"].as_str().unwrap_or("");
            match secret(store, ns, name) {
                Some(s) => {
                    for k in s["data"].as_object().into_iter().flatten().map(|(k, _)| k) {
                        if let Some(v) = core::secret_value(&s, k) {
                            env.set(&format!("{prefix}{k}"), String::from_utf8_lossy(&v).into());
                        }
                    }
                }
                None if r["optional"] == true => {}
                None => return Err(format!("secret \"{name}\" not found")),
            }
        } else if let Some(r) = from.get("configMapRef").filter(|r| r.is_object()) {
            // The demo serves no ConfigMaps.
            if r["optional"] != true {
                return Err(format!(
                    "configmap \"{}\" not found",
                    r["name"].as_str().unwrap_or("")
                ));
            }
        }
    }
    for e in container["env"].as_array().into_iter().flatten() {
        let name = e["name"].as_str().unwrap_or("");
        let from = &e["valueFrom"];
        let value = if from.is_object() {
            if let Some(path) = from["fieldRef"]["fieldPath"].as_str() {
                field_ref(pod, path)?
            } else if let Some(resource) = from["resourceFieldRef"]["resource"].as_str() {
                resource_ref(container, resource)
            } else if from["secretKeyRef"].is_object() {
                let r = &from["secretKeyRef"];
                let (sname, key) = (
                    r["name"].as_str().unwrap_or(""),
                    r["key"].as_str().unwrap_or(""),
                );
                match secret(store, ns, sname) {
                    Some(s) => match core::secret_value(&s, key) {
                        Some(v) => String::from_utf8_lossy(&v).into_owned(),
                        None if r["optional"] == true => continue,
                        None => {
                            return Err(format!("couldn't find key {key} in Secret {ns}/{sname}"))
                        }
                    },
                    None if r["optional"] == true => continue,
                    None => return Err(format!("secret \"{sname}\" not found")),
                }
            } else if from["configMapKeyRef"].is_object() {
                let r = &from["configMapKeyRef"];
                if r["optional"] == true {
                    continue;
                }
                return Err(format!(
                    "configmap \"{}\" not found",
                    r["name"].as_str().unwrap_or("")
                ));
            } else {
                String::new()
            }
        } else {
            let raw = e["value"].as_str().unwrap_or("");
            expand(raw, |v| env.get(v).map(str::to_owned))
        };
        env.set(name, value);
    }
    Ok(env)
}

/// Whether `command[0]` names the rampdeck executable (the demo's only image).
fn is_rampdeck(program: &str) -> bool {
    program == "rampdeck" || program.ends_with("/rampdeck")
}

/// The process for `container` of `pod` (whose status already carries its pod IP). A
/// container without `command` runs the image's entrypoint, which here is rampdeck's.
pub fn prepare(
    store: &Store,
    pod: &Value,
    container: &Value,
    agent_exe: &Path,
) -> Result<Launch, String> {
    let env = container_env(store, pod, container)?;
    let lookup = |v: &str| env.get(v).map(str::to_owned);
    let strings = |field: &str| -> Vec<String> {
        container[field]
            .as_array()
            .into_iter()
            .flatten()
            .map(|s| expand(s.as_str().unwrap_or(""), lookup))
            .collect()
    };
    let mut command = strings("command");
    let args = strings("args");
    let program = if command.is_empty() || is_rampdeck(&command[0]) {
        agent_exe.to_path_buf()
    } else {
        PathBuf::from(command[0].clone())
    };
    if !command.is_empty() {
        command.remove(0);
    }
    command.extend(args);
    let mut full = Env::default();
    full.set(
        "PATH",
        std::env::var("PATH").unwrap_or_else(|_| DEFAULT_PATH.to_owned()),
    );
    if let Ok(home) = std::env::var("HOME") {
        full.set("HOME", home);
    }
    let hostname = pod["spec"]["hostname"]
        .as_str()
        .or(pod["metadata"]["name"].as_str())
        .unwrap_or("");
    full.set("HOSTNAME", hostname.to_owned());
    for (k, v) in env.vars {
        full.set(&k, v);
    }
    Ok(Launch {
        program,
        args: command,
        env: full.vars,
        cwd: container["workingDir"]
            .as_str()
            .filter(|d| !d.is_empty())
            .map(PathBuf::from),
    })
}

/// The last `LOG_BYTES` of a pod's output, and how much was ever written (for followers).
pub struct LogBuffer {
    tail: Mutex<VecDeque<u8>>,
    /// Bytes ever appended, and whether the container has stopped for good.
    state: watch::Sender<(u64, bool)>,
}

impl Default for LogBuffer {
    fn default() -> Self {
        LogBuffer {
            tail: Mutex::new(VecDeque::new()),
            state: watch::channel((0, false)).0,
        }
    }
}

impl LogBuffer {
    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<u8>> {
        self.tail.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn append(&self, bytes: &[u8]) {
        let mut tail = self.lock();
        tail.extend(bytes);
        let excess = tail.len().saturating_sub(LOG_BYTES);
        tail.drain(..excess);
        drop(tail);
        self.state.send_modify(|(n, _)| *n += bytes.len() as u64);
    }

    /// Everything kept, and the count of bytes ever written up to its end.
    pub fn contents(&self) -> (Vec<u8>, u64) {
        let tail = self.lock();
        (tail.iter().copied().collect(), self.state.borrow().0)
    }

    /// The kept bytes written after the first `from` bytes.
    pub fn since(&self, from: u64) -> (Vec<u8>, u64) {
        let (all, total) = self.contents();
        let skip = (all.len() as u64).saturating_sub(total.saturating_sub(from)) as usize;
        (all[skip.min(all.len())..].to_vec(), total)
    }

    pub fn set_finished(&self, finished: bool) {
        self.state.send_modify(|(_, f)| *f = finished);
    }

    pub fn subscribe(&self) -> watch::Receiver<(u64, bool)> {
        self.state.subscribe()
    }
}

async fn pump(mut from: impl AsyncRead + Unpin, log: Arc<LogBuffer>) {
    let mut buf = vec![0u8; 8192];
    loop {
        match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => log.append(&buf[..n]),
        }
    }
}

/// The process groups of a kubelet's containers, killed by a separate `sh` if the demo
/// process dies without stopping them (SIGKILL, or a signal's default action, runs no
/// destructor; PR_SET_PDEATHSIG reaches only each group's leader). The shell, in its own
/// process group so a terminal's Ctrl-C does not reach it, reads `+ pgid` and `- pgid`
/// lines; at end of input (the demo's end, however it came) it kills the groups listed.
pub struct Watchdog {
    stdin: Mutex<Option<std::process::ChildStdin>>,
    child: Mutex<Option<std::process::Child>>,
}

const WATCHDOG: &str = r#"trap '' HUP INT
live=""
while read -r op g; do
  case "$op" in
    +) live="$live $g" ;;
    -) next=""; for x in $live; do [ "$x" = "$g" ] || next="$next $x"; done; live="$next" ;;
  esac
done
for g in $live; do kill -9 -"$g" 2>/dev/null; done
"#;

impl Watchdog {
    /// Starts the shell; None where there is none (the handles' own kills remain).
    pub fn start() -> Option<Watchdog> {
        let mut cmd = std::process::Command::new("/bin/sh");
        cmd.arg("-c")
            .arg(WATCHDOG)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        #[cfg(unix)]
        {
            use std::os::unix::process::CommandExt;
            cmd.process_group(0);
        }
        let mut child = cmd.spawn().ok()?;
        let stdin = child.stdin.take()?;
        Some(Watchdog {
            stdin: Mutex::new(Some(stdin)),
            child: Mutex::new(Some(child)),
        })
    }

    fn tell(&self, op: char, pgid: u32) {
        use std::io::Write;
        let mut stdin = self.stdin.lock().unwrap_or_else(|e| e.into_inner());
        // A line is far below the pipe's buffer, so this does not block on a live reader.
        if let Some(s) = stdin.as_mut() {
            if writeln!(s, "{op} {pgid}").is_err() {
                *stdin = None;
            }
        }
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        // End of input: the shell kills what is still listed and exits; reap it off-thread.
        drop(self.stdin.lock().unwrap_or_else(|e| e.into_inner()).take());
        if let Some(mut child) = self.child.lock().unwrap_or_else(|e| e.into_inner()).take() {
            std::thread::spawn(move || child.wait());
        }
    }
}

/// A running container process; its process group is killed when this is dropped.
pub struct Process {
    child: tokio::process::Child,
    pub pid: u32,
    /// The leader was reaped: its pid may be reused, so the group is not signalled again.
    reaped: bool,
    watchdog: Option<Arc<Watchdog>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sig {
    Term,
    Kill,
}

impl Process {
    pub fn spawn(
        launch: &Launch,
        log: Arc<LogBuffer>,
        watchdog: Option<Arc<Watchdog>>,
    ) -> std::io::Result<Process> {
        let mut cmd = tokio::process::Command::new(&launch.program);
        cmd.args(&launch.args)
            .env_clear()
            .envs(launch.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        if let Some(dir) = &launch.cwd {
            cmd.current_dir(dir);
        }
        #[cfg(unix)]
        cmd.process_group(0);
        #[cfg(target_os = "linux")]
        // SAFETY: the closure runs in the forked child before exec and only makes the
        // prctl system call, which is async-signal-safe; it touches no memory of the parent.
        unsafe {
            cmd.pre_exec(|| {
                rustix::process::set_parent_process_death_signal(Some(
                    rustix::process::Signal::KILL,
                ))
                .map_err(std::io::Error::from)
            });
        }
        let mut child = cmd.spawn()?;
        let pid = child.id().unwrap_or(0);
        if let Some(out) = child.stdout.take() {
            tokio::spawn(pump(out, log.clone()));
        }
        if let Some(err) = child.stderr.take() {
            tokio::spawn(pump(err, log));
        }
        if let Some(w) = &watchdog {
            w.tell('+', pid);
        }
        Ok(Process {
            child,
            pid,
            reaped: false,
            watchdog,
        })
    }

    /// The group is dead and its id may be reused: the watchdog must not kill it later.
    fn forget(&mut self) {
        self.reaped = true;
        if let Some(w) = self.watchdog.take() {
            w.tell('-', self.pid);
        }
    }

    /// Signals every process of the container.
    pub fn signal(&mut self, sig: Sig) {
        if self.reaped {
            return;
        }
        #[cfg(target_os = "linux")]
        if let Some(pid) = rustix::process::Pid::from_raw(self.pid as i32) {
            let s = match sig {
                Sig::Term => rustix::process::Signal::TERM,
                Sig::Kill => rustix::process::Signal::KILL,
            };
            if rustix::process::kill_process_group(pid, s).is_ok() {
                return;
            }
        }
        if sig == Sig::Kill {
            let _ = self.child.start_kill();
        }
    }

    /// Waits for the leader to exit, then kills what is left of its group.
    pub async fn wait(&mut self) -> std::io::Result<ExitStatus> {
        let status = self.child.wait().await?;
        // Reaped, but the group lives on while any member does, so its id is not reused yet.
        self.signal(Sig::Kill);
        self.forget();
        Ok(status)
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.signal(Sig::Kill);
        // tokio reaps the killed leader; the group was just killed.
        self.forget();
    }
}

/// The exit code and signal of a finished container, as container runtimes report them
/// (a signal `n` is exit code 128 + n).
pub fn exit_code(status: ExitStatus) -> (i64, Option<i32>) {
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(sig) = status.signal() {
            return (128 + i64::from(sig), Some(sig));
        }
    }
    (i64::from(status.code().unwrap_or(1)), None)
}

/// The completion index of a Job's pod, from its annotation.
pub fn completion_index(pod: &Value) -> Option<i64> {
    pod["metadata"]["annotations"][COMPLETION_INDEX]
        .as_str()
        .or_else(|| core::label(pod, COMPLETION_INDEX))
        .and_then(|s| s.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn expansion_as_the_kubelet_does() {
        let vars = |v: &str| match v {
            "POD_IP" => Some("127.0.1.7".to_owned()),
            "EMPTY" => Some(String::new()),
            _ => None,
        };
        assert_eq!(expand("$(POD_IP):7070", vars), "127.0.1.7:7070");
        assert_eq!(expand("$$(POD_IP)", vars), "$(POD_IP)");
        assert_eq!(expand("$$$(POD_IP)", vars), "$127.0.1.7");
        assert_eq!(expand("$(NOPE) $(EMPTY)x", vars), "$(NOPE) x");
        assert_eq!(expand("a $b $(unterminated", vars), "a $b $(unterminated");
        assert_eq!(expand("trailing $", vars), "trailing $");
        assert_eq!(
            expand("héllo $(POD_IP) ünïcode", vars),
            "héllo 127.0.1.7 ünïcode"
        );
    }

    #[test]
    fn env_and_command_from_the_spec() {
        let (store, _events) = Store::new();
        let secret = json!({"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "tok", "namespace": "ns"}, "data": {"token": "czNjcjN0"}});
        let key = Key::new(Kind::Secret, "ns", "tok");
        let writer = super::super::store::Writer {
            manager: "test",
            operation: super::super::store::Operation::Update,
            subresource: super::super::store::Subresource::Main,
            dry_run: false,
        };
        store
            .write(&key, writer, |_| {
                Ok(super::super::store::Change::Put(secret))
            })
            .unwrap();
        let pod = json!({
            "metadata": {"name": "j-0-abcde", "namespace": "ns",
                "labels": {"app": "a"}, "annotations": {COMPLETION_INDEX: "0"}},
            "status": {"podIP": "127.0.1.9"},
        });
        let container = json!({
            "name": "c", "image": "ghcr.io/rampdeck/rampdeck:latest",
            "command": ["rampdeck"],
            "args": ["agent", "--listen", "$(POD_IP):7070", "$$(POD_IP)", "$(TOKEN)"],
            "env": [
                {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
                {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "tok", "key": "token"}}},
                {"name": "INDEX", "valueFrom": {"fieldRef": {"fieldPath":
                    "metadata.annotations['batch.kubernetes.io/job-completion-index']"}}},
                {"name": "APP", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}},
                {"name": "ADDR", "value": "$(POD_IP):1"},
            ],
        });
        let l = prepare(&store, &pod, &container, Path::new("/opt/rampdeck")).unwrap();
        assert_eq!(l.program, Path::new("/opt/rampdeck"));
        assert_eq!(
            l.args,
            ["agent", "--listen", "127.0.1.9:7070", "$(POD_IP)", "s3cr3t"]
        );
        let env: HashMap<_, _> = l.env.iter().cloned().collect();
        assert_eq!(env["INDEX"], "0");
        assert_eq!(env["APP"], "a");
        assert_eq!(env["ADDR"], "127.0.1.9:1");
        assert_eq!(env["HOSTNAME"], "j-0-abcde");
        assert!(env.contains_key("PATH"));

        let missing = json!({"name": "c", "image": "i", "command": ["sh"], "env": [
            {"name": "T", "valueFrom": {"secretKeyRef": {"name": "tok", "key": "nope"}}}]});
        assert_eq!(
            prepare(&store, &pod, &missing, Path::new("x")).unwrap_err(),
            "couldn't find key nope in Secret ns/tok"
        );
        let optional = json!({"name": "c", "image": "i", "command": ["sh"], "env": [
            {"name": "T", "valueFrom": {"secretKeyRef": {"name": "gone", "key": "k", "optional": true}}}]});
        let l = prepare(&store, &pod, &optional, Path::new("x")).unwrap();
        assert_eq!(l.program, Path::new("sh"));
        assert!(!l.env.iter().any(|(k, _)| k == "T"));
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn the_watchdog_kills_listed_groups_at_its_end() {
        use std::os::unix::process::CommandExt;
        let alive = |pid: u32| {
            std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .is_ok_and(|s| s.rfind(')').is_some_and(|i| !s[i + 2..].starts_with('Z')))
        };
        let spawn = || {
            std::process::Command::new("sleep")
                .arg("30")
                .process_group(0)
                .spawn()
                .unwrap()
        };
        let (mut listed, mut forgotten) = (spawn(), spawn());
        let dog = Watchdog::start().unwrap();
        dog.tell('+', listed.id());
        dog.tell('+', forgotten.id());
        dog.tell('-', forgotten.id());
        drop(dog);
        // The shell kills the listed group once its input ends.
        let killed = listed.wait().unwrap();
        assert!(!killed.success());
        assert!(alive(forgotten.id()), "a forgotten group is left alone");
        let _ = forgotten.kill();
        let _ = forgotten.wait();
    }

    #[test]
    fn log_keeps_the_tail() {
        let log = LogBuffer::default();
        log.append(b"hello ");
        log.append(&vec![b'x'; LOG_BYTES]);
        let (all, total) = log.contents();
        assert_eq!(all.len(), LOG_BYTES);
        assert_eq!(total, 6 + LOG_BYTES as u64);
        let (recent, _) = log.since(total - 3);
        assert_eq!(recent, b"xxx");
    }
}
