//! End-to-end tests of the simulated Jobs, Pods and Secrets, driven by kube-rs typed clients
//! as the agents' coordinator drives a cluster: pods run as local processes on loopback pod
//! IPs, Jobs replace and clean up their pods, and port-forward reaches a pod.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Pod, Secret};
use kube::api::{DeleteParams, ListParams, LogParams, PostParams};
use kube::{Api, Client, Config};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::config::{DemoConfig, KubeSim};
use crate::DemoServer;

const NS: &str = "rampdeck";
/// Every test ends well within this.
const LIMIT: Duration = Duration::from_secs(10);

async fn start() -> (DemoServer, Client) {
    start_with(KubeSim::default()).await
}

async fn start_with(kube: KubeSim) -> (DemoServer, Client) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let server = DemoServer::start(&DemoConfig {
        routes: Vec::new(),
        kube,
        echo: Default::default(),
    })
    .await
    .expect("bind 127.0.0.1");
    let url = format!("http://{}", server.addrs.control)
        .parse()
        .expect("url");
    let mut config = Config::new(url);
    config.default_namespace = NS.to_owned();
    let client = Client::try_from(config).expect("client");
    (server, client)
}

/// Polls `get` until `done` holds, failing after a few seconds.
async fn eventually<T, F, Fut>(what: &str, mut get: F, done: impl Fn(&T) -> bool) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = T>,
{
    let until = Instant::now() + Duration::from_secs(6);
    loop {
        let v = get().await;
        if done(&v) {
            return v;
        }
        assert!(Instant::now() < until, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn phase(p: &Pod) -> &str {
    p.status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or("")
}

fn pod_ip(p: &Pod) -> String {
    p.status
        .as_ref()
        .and_then(|s| s.pod_ip.clone())
        .unwrap_or_default()
}

fn index(p: &Pod) -> String {
    p.metadata
        .labels
        .as_ref()
        .and_then(|l| l.get("batch.kubernetes.io/job-completion-index").cloned())
        .unwrap_or_default()
}

fn ready(p: &Pod) -> bool {
    p.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// The container's process, from its containerID (`demo://<pid>`).
fn pid(p: &Pod) -> u32 {
    p.status
        .as_ref()
        .and_then(|s| s.container_statuses.as_ref())
        .and_then(|c| c.first())
        .and_then(|c| c.container_id.as_deref())
        .and_then(|id| id.strip_prefix("demo://"))
        .and_then(|pid| pid.parse().ok())
        .unwrap_or(0)
}

/// Whether any live (not zombie) process is in process group `pgid`.
fn group_alive(pgid: u32) -> bool {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return false;
    };
    dir.filter_map(Result::ok).any(|e| {
        let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else {
            return false;
        };
        // Fields after the command name: state, ppid, pgrp, ...
        let Some(rest) = stat.rfind(')').map(|i| &stat[i + 2..]) else {
            return false;
        };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        fields.first() != Some(&"Z") && fields.get(2) == Some(&pgid.to_string().as_str())
    })
}

fn sh_job(name: &str, script: &str, completions: i32) -> Job {
    serde_json::from_value(json!({
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name},
        "spec": {
            "completionMode": "Indexed",
            "completions": completions,
            "parallelism": completions,
            "backoffLimit": 1,
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {
                    "restartPolicy": "Never",
                    "terminationGracePeriodSeconds": 3,
                    "containers": [{
                        "name": "main",
                        "image": "busybox",
                        "command": ["sh", "-c", script],
                        "env": [
                            {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
                            {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "tok", "key": "token"}}},
                        ],
                    }],
                },
            },
        },
    }))
    .expect("a Job")
}

async fn create_secret(client: &Client) {
    let secrets: Api<Secret> = Api::default_namespaced(client.clone());
    let s: Secret = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "tok"},
        "stringData": {"token": "s3cr3t"},
    }))
    .expect("a Secret");
    let made = secrets.create(&PostParams::default(), &s).await.unwrap();
    let data = made.data.unwrap();
    assert_eq!(data["token"].0, b"s3cr3t");
    assert!(made.string_data.is_none());
}

async fn job_pods(pods: &Api<Pod>, job: &str) -> Vec<Pod> {
    pods.list(&ListParams::default().labels(&format!("batch.kubernetes.io/job-name={job}")))
        .await
        .map(|l| l.items)
        .unwrap_or_default()
}

#[cfg(target_os = "linux")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn indexed_job_runs_replaces_and_cleans_up_its_pods() {
    tokio::time::timeout(LIMIT, async {
        let (server, client) = start().await;
        create_secret(&client).await;
        let jobs: Api<Job> = Api::default_namespaced(client.clone());
        let pods: Api<Pod> = Api::default_namespaced(client.clone());
        let job = sh_job(
            "agents",
            "echo $JOB_COMPLETION_INDEX $POD_IP $TOKEN; sleep 30",
            2,
        );
        let made = jobs.create(&PostParams::default(), &job).await.unwrap();
        let uid = made.metadata.uid.clone().unwrap();
        let selector = made.spec.as_ref().unwrap().selector.clone().unwrap();
        assert_eq!(
            selector.match_labels.unwrap()["batch.kubernetes.io/controller-uid"],
            uid
        );

        let running = eventually(
            "2 running pods",
            || job_pods(&pods, "agents"),
            |ps| ps.len() == 2 && ps.iter().all(|p| phase(p) == "Running" && ready(p)),
        )
        .await;
        let ips: BTreeSet<String> = running.iter().map(pod_ip).collect();
        assert_eq!(ips.len(), 2, "distinct pod IPs: {ips:?}");
        assert!(ips.iter().all(|ip| ip.starts_with("127.0.")), "{ips:?}");
        let indexes: BTreeSet<String> = running.iter().map(index).collect();
        assert_eq!(indexes, ["0", "1"].map(String::from).into());
        for p in &running {
            let name = p.metadata.name.clone().unwrap();
            let i = index(p);
            assert!(name.starts_with(&format!("agents-{i}-")), "{name}");
            assert_eq!(name.len(), format!("agents-{i}-").len() + 5, "{name}");
            let owner = &p.metadata.owner_references.as_ref().unwrap()[0];
            assert_eq!(
                (owner.kind.as_str(), owner.uid.as_str()),
                ("Job", uid.as_str())
            );
            assert_eq!(owner.controller, Some(true));
            let labels = p.metadata.labels.as_ref().unwrap();
            assert_eq!(labels["job-name"], "agents");
            assert_eq!(labels["controller-uid"], uid);
            assert_eq!(labels["app"], "agents");
            assert_eq!(
                p.metadata.annotations.as_ref().unwrap()
                    ["batch.kubernetes.io/job-completion-index"],
                i
            );
            let expected = format!("{i} {} s3cr3t\n", pod_ip(p));
            let log = eventually(
                "the pod's output",
                || async {
                    pods.logs(&name, &LogParams::default())
                        .await
                        .unwrap_or_default()
                },
                |l| !l.is_empty(),
            )
            .await;
            assert_eq!(log, expected);
            assert_eq!(server.kube.kubelet.pid(NS, &name), Some(pid(p)));
            assert!(group_alive(pid(p)));
        }
        let job_now = eventually(
            "job status active 2",
            || async { jobs.get("agents").await.unwrap() },
            |j| {
                j.status
                    .as_ref()
                    .is_some_and(|s| s.active == Some(2) && s.ready == Some(2))
            },
        )
        .await;
        assert!(job_now.status.unwrap().start_time.is_some());

        // A deleted pod goes away (its process with it) and its index gets a new pod.
        let victim = running.iter().find(|p| index(p) == "0").unwrap();
        let victim_name = victim.metadata.name.clone().unwrap();
        let deleted = pods
            .delete(&victim_name, &DeleteParams::default())
            .await
            .unwrap();
        let terminating = deleted.left().expect("a pod is deleted gracefully");
        assert!(terminating.metadata.deletion_timestamp.is_some());
        let _ = eventually(
            "the deleted pod gone",
            || pods.get_opt(&victim_name),
            |p| matches!(p, Ok(None)),
        )
        .await;
        assert!(
            !group_alive(pid(victim)),
            "the deleted pod's processes are gone"
        );
        let replaced = eventually(
            "a new pod for index 0",
            || job_pods(&pods, "agents"),
            |ps| {
                ps.iter().any(|p| {
                    index(p) == "0"
                        && phase(p) == "Running"
                        && p.metadata.name.as_deref() != Some(&victim_name)
                })
            },
        )
        .await;
        let failed = jobs.get("agents").await.unwrap().status.unwrap().failed;
        assert_eq!(failed, Some(1), "a deleted pod counts as failed");

        // Deleting the Job (Background) takes its pods and their processes.
        let pids: Vec<u32> = replaced.iter().map(pid).filter(|p| *p != 0).collect();
        assert_eq!(pids.len(), 2);
        jobs.delete("agents", &DeleteParams::background())
            .await
            .unwrap();
        let _ = eventually(
            "the job gone",
            || jobs.get_opt("agents"),
            |j| matches!(j, Ok(None)),
        )
        .await;
        eventually(
            "its pods gone",
            || job_pods(&pods, "agents"),
            |ps| ps.is_empty(),
        )
        .await;
        for p in pids {
            assert!(!group_alive(p), "process group {p} is gone");
        }
    })
    .await
    .expect("test finished in time");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_complete_fail_and_orphan_by_default() {
    tokio::time::timeout(LIMIT, async {
        let (_server, client) = start().await;
        create_secret(&client).await;
        let jobs: Api<Job> = Api::default_namespaced(client.clone());
        let pods: Api<Pod> = Api::default_namespaced(client.clone());
        jobs.create(&PostParams::default(), &sh_job("ok", "exit 0", 2))
            .await
            .unwrap();
        jobs.create(&PostParams::default(), &sh_job("bad", "exit 3", 1))
            .await
            .unwrap();
        let cond = |j: &Job, kind: &str| {
            j.status
                .as_ref()
                .and_then(|s| s.conditions.as_ref())
                .is_some_and(|c| c.iter().any(|c| c.type_ == kind && c.status == "True"))
        };
        let ok = eventually(
            "ok complete",
            || async { jobs.get("ok").await.unwrap() },
            |j| cond(j, "Complete"),
        )
        .await;
        let status = ok.status.unwrap();
        assert_eq!(status.succeeded, Some(2));
        assert_eq!(status.completed_indexes.as_deref(), Some("0-1"));
        assert!(status.completion_time.is_some());
        let bad = eventually(
            "bad failed",
            || async { jobs.get("bad").await.unwrap() },
            |j| cond(j, "Failed"),
        )
        .await;
        // backoffLimit 1: the first pod and one replacement failed.
        assert_eq!(bad.status.unwrap().failed, Some(2));
        let bad_pods = job_pods(&pods, "bad").await;
        assert_eq!(bad_pods.len(), 2);
        let terminated = bad_pods[0]
            .status
            .as_ref()
            .unwrap()
            .container_statuses
            .as_ref()
            .unwrap()[0]
            .state
            .as_ref()
            .unwrap()
            .terminated
            .clone()
            .unwrap();
        assert_eq!(terminated.exit_code, 3);
        assert_eq!(phase(&bad_pods[0]), "Failed");

        // Without a propagation policy a Job's pods stay, no longer owned.
        jobs.delete("ok", &DeleteParams::default()).await.unwrap();
        let _ = eventually("ok gone", || jobs.get_opt("ok"), |j| matches!(j, Ok(None))).await;
        let left = job_pods(&pods, "ok").await;
        assert_eq!(left.len(), 2);
        assert!(left.iter().all(|p| p.metadata.owner_references.is_none()));
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(
            job_pods(&pods, "ok").await.len(),
            2,
            "the collector leaves orphans"
        );

        // Foreground: the Job stays, marked, until its pods are gone.
        let marked = jobs
            .delete("bad", &DeleteParams::foreground())
            .await
            .unwrap()
            .left()
            .expect("the Job waits for its pods");
        assert!(marked.metadata.deletion_timestamp.is_some());
        assert!(marked
            .metadata
            .finalizers
            .unwrap()
            .contains(&"foregroundDeletion".to_owned()));
        let _ = eventually(
            "bad gone",
            || jobs.get_opt("bad"),
            |j| matches!(j, Ok(None)),
        )
        .await;
        assert!(job_pods(&pods, "bad").await.is_empty());

        // ttlSecondsAfterFinished: a finished Job is deleted with its pods.
        let mut short = sh_job("short", "exit 0", 1);
        short.spec.as_mut().unwrap().ttl_seconds_after_finished = Some(0);
        jobs.create(&PostParams::default(), &short).await.unwrap();
        let _ = eventually(
            "short gone",
            || jobs.get_opt("short"),
            |j| matches!(j, Ok(None)),
        )
        .await;
        eventually(
            "its pod gone",
            || job_pods(&pods, "short"),
            |ps| ps.is_empty(),
        )
        .await;
    })
    .await
    .expect("test finished in time");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pod_restarts_and_a_watcher_sees_it() {
    use futures_util::StreamExt;
    use kube::runtime::{watcher, WatchStreamExt};
    tokio::time::timeout(LIMIT, async {
        let (_server, client) = start().await;
        let pods: Api<Pod> = Api::default_namespaced(client.clone());
        let mut events = watcher(pods.clone(), watcher::Config::default().labels("app=crashy"))
            .applied_objects()
            .boxed();
        let pod: Pod = serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "crashy", "labels": {"app": "crashy"}},
            "spec": {"containers": [{"name": "c", "image": "busybox", "command": ["sh", "-c", "echo once; exit 1"]}]},
        }))
        .unwrap();
        pods.create(&PostParams::default(), &pod).await.unwrap();
        // restartPolicy Always (a bare pod's default): the kubelet restarts it after a back-off.
        loop {
            let p = events.next().await.expect("the watch goes on").expect("an event");
            let cs = p.status.as_ref().and_then(|s| s.container_statuses.clone()).unwrap_or_default();
            if cs.first().is_some_and(|c| c.restart_count >= 1) {
                let c = &cs[0];
                assert_eq!(c.last_state.as_ref().unwrap().terminated.as_ref().unwrap().exit_code, 1);
                assert_eq!(phase(&p), "Running");
                break;
            }
        }
        let log = eventually(
            "the restarted container's output",
            || async { pods.logs("crashy", &LogParams::default()).await.unwrap_or_default() },
            |l| l.matches("once\n").count() >= 2,
        )
        .await;
        assert!(log.starts_with("once\nonce\n"), "{log:?}");
        let table = _server.kube.store.get(&super::store::Key::new(super::resource::Kind::Pod, NS, "crashy")).unwrap();
        assert_eq!(super::table::table(super::resource::Kind::Pod, &[&table], 0, true)["rows"][0]["cells"][3], "1");
    })
    .await
    .expect("test finished in time");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pod_waits_for_its_secret() {
    tokio::time::timeout(LIMIT, async {
        let (_server, client) = start().await;
        let pods: Api<Pod> = Api::default_namespaced(client.clone());
        let pod: Pod = serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"generateName": "waiter-"},
            "spec": {
                "terminationGracePeriodSeconds": 0,
                "containers": [{"name": "c", "image": "busybox", "command": ["sleep", "30"],
                    "env": [{"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "tok", "key": "token"}}}]}],
            },
        }))
        .unwrap();
        let made = pods.create(&PostParams::default(), &pod).await.unwrap();
        let name = made.metadata.name.unwrap();
        assert!(name.starts_with("waiter-") && name.len() == 12, "{name}");
        let waiting = eventually(
            "CreateContainerConfigError",
            || async { pods.get(&name).await.unwrap() },
            |p| {
                p.status
                    .as_ref()
                    .and_then(|s| s.container_statuses.as_ref())
                    .and_then(|c| c[0].state.as_ref())
                    .and_then(|s| s.waiting.as_ref())
                    .is_some_and(|w| w.reason.as_deref() == Some("CreateContainerConfigError"))
            },
        )
        .await;
        assert_eq!(phase(&waiting), "Pending");
        create_secret(&client).await;
        eventually(
            "running once the secret exists",
            || async { pods.get(&name).await.unwrap() },
            |p| phase(p) == "Running",
        )
        .await;
        // Grace 0: gone at once.
        pods.delete(&name, &DeleteParams::default().grace_period(0))
            .await
            .unwrap();
        assert!(pods.get_opt(&name).await.unwrap().is_none());
    })
    .await
    .expect("test finished in time");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_node_leaves_pods_pending() {
    tokio::time::timeout(LIMIT, async {
        let (_server, client) = start_with(KubeSim {
            max_pods: 1,
            ..KubeSim::default()
        })
        .await;
        let pods: Api<Pod> = Api::default_namespaced(client.clone());
        for name in ["first", "second"] {
            let pod: Pod = serde_json::from_value(json!({
                "apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": name},
                "spec": {"terminationGracePeriodSeconds": 1,
                    "containers": [{"name": "c", "image": "busybox", "command": ["sleep", "30"]}]},
            }))
            .unwrap();
            pods.create(&PostParams::default(), &pod).await.unwrap();
            eventually(
                "the pod seen by the scheduler",
                || async { pods.get(name).await.unwrap() },
                |p| p.status.as_ref().is_some_and(|s| s.conditions.is_some()),
            )
            .await;
        }
        let second = pods.get("second").await.unwrap();
        let scheduled = &second.status.as_ref().unwrap().conditions.as_ref().unwrap()[0];
        assert_eq!(
            (scheduled.type_.as_str(), scheduled.status.as_str()),
            ("PodScheduled", "False")
        );
        assert_eq!(scheduled.reason.as_deref(), Some("Unschedulable"));
        assert!(second.spec.unwrap().node_name.is_none());
        pods.delete("first", &DeleteParams::default())
            .await
            .unwrap();
        eventually(
            "the second pod running in its place",
            || async { pods.get("second").await.unwrap() },
            |p| phase(p) == "Running",
        )
        .await;
    })
    .await
    .expect("test finished in time");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn port_forward_reaches_a_pod() {
    tokio::time::timeout(LIMIT, async {
        let (_server, client) = start().await;
        let pods: Api<Pod> = Api::default_namespaced(client.clone());
        let pod: Pod = serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "echo"},
            "spec": {
                "terminationGracePeriodSeconds": 1,
                "containers": [{
                    "name": "c", "image": "busybox", "command": ["sleep", "30"],
                    "ports": [{"name": "echo", "containerPort": 7070}],
                    "readinessProbe": {"tcpSocket": {"port": "echo"}, "periodSeconds": 1},
                }],
            },
        }))
        .unwrap();
        pods.create(&PostParams::default(), &pod).await.unwrap();
        let running = eventually(
            "running with an IP",
            || async { pods.get("echo").await.unwrap() },
            |p| phase(p) == "Running" && !pod_ip(p).is_empty(),
        )
        .await;
        assert!(!ready(&running), "not ready before its port listens");
        // The pod's process cannot listen, so the test listens on the pod's IP for it.
        let listener = tokio::net::TcpListener::bind((pod_ip(&running).as_str(), 7070))
            .await
            .unwrap();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut buf = [0u8; 1024];
                    while let Ok(n) = s.read(&mut buf).await {
                        if n == 0 || s.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                });
            }
        });
        eventually(
            "ready once the port listens",
            || async { pods.get("echo").await.unwrap() },
            ready,
        )
        .await;

        let mut pf = pods.portforward("echo", &[7070]).await.unwrap();
        let mut stream = pf.take_stream(7070).unwrap();
        stream.write_all(b"hello through the API").await.unwrap();
        let mut got = vec![0u8; 21];
        stream.read_exact(&mut got).await.unwrap();
        assert_eq!(got, b"hello through the API");
        drop(stream);
        pf.join().await.unwrap();

        // Two ports on one WebSocket: channels 0/1 and 2/3.
        let greeter = tokio::net::TcpListener::bind((pod_ip(&running).as_str(), 7072))
            .await
            .unwrap();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = greeter.accept().await {
                let _ = s.write_all(b"hi\n").await;
            }
        });
        let mut pf = pods.portforward("echo", &[7070, 7072]).await.unwrap();
        let (mut echo, mut greet) = (pf.take_stream(7070).unwrap(), pf.take_stream(7072).unwrap());
        let mut hi = [0u8; 3];
        greet.read_exact(&mut hi).await.unwrap();
        assert_eq!(&hi, b"hi\n");
        echo.write_all(b"ping").await.unwrap();
        let mut pong = [0u8; 4];
        echo.read_exact(&mut pong).await.unwrap();
        assert_eq!(&pong, b"ping");
        drop((echo, greet));
        pf.join().await.unwrap();

        // Nothing listens on 7071: the error channel says so.
        let mut pf = pods.portforward("echo", &[7071]).await.unwrap();
        let error = pf.take_error(7071).unwrap().await;
        let message = error.expect("an error message");
        assert!(message.contains("connection refused"), "{message}");

        let missing = pods.portforward("nope", &[7070]).await;
        assert!(missing.is_err());
    })
    .await
    .expect("test finished in time");
}

/// Runs kubectl against the demo and returns its stdout, failing the test if kubectl fails.
async fn kubectl(kubeconfig: &std::path::Path, args: &[&str], stdin: Option<&str>) -> String {
    let cache = kubeconfig.with_file_name("cache");
    let mut child = tokio::process::Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .arg("--cache-dir")
        .arg(&cache)
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("kubectl runs");
    let mut input = child.stdin.take().expect("stdin");
    if let Some(text) = stdin {
        input
            .write_all(text.as_bytes())
            .await
            .expect("stdin written");
    }
    drop(input);
    let out = child.wait_with_output().await.expect("kubectl finished");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    println!("$ kubectl {}\n{stdout}{stderr}", args.join(" "));
    assert!(out.status.success(), "kubectl {args:?} failed: {stderr}");
    stdout
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs kubectl (apt-get install kubernetes-client)"]
async fn kubectl_creates_and_gets_jobs_and_pods() {
    tokio::time::timeout(Duration::from_secs(30), async {
        let (server, client) = start().await;
        let dir = tempfile::tempdir().expect("temp dir");
        let kubeconfig = dir.path().join("kubeconfig");
        super::write_kubeconfig(&kubeconfig, server.addrs.control, NS).expect("kubeconfig");
        let manifest = "apiVersion: batch/v1
kind: Job
metadata:
  name: agents
spec:
  completionMode: Indexed
  completions: 2
  parallelism: 2
  template:
    spec:
      restartPolicy: Never
      terminationGracePeriodSeconds: 2
      containers:
      - name: agent
        image: busybox
        command: [sh, -c, 'echo index $JOB_COMPLETION_INDEX; sleep 30']
";
        let created = kubectl(&kubeconfig, &["create", "-f", "-"], Some(manifest)).await;
        assert!(created.contains("job.batch/agents created"), "{created}");
        let pods: Api<Pod> = Api::default_namespaced(client.clone());
        eventually(
            "2 running pods",
            || job_pods(&pods, "agents"),
            |ps| ps.len() == 2 && ps.iter().all(|p| phase(p) == "Running"),
        )
        .await;
        let table = kubectl(&kubeconfig, &["get", "jobs,pods", "-n", NS], None).await;
        for want in [
            "STATUS",
            "COMPLETIONS",
            "job.batch/agents",
            "Running",
            "0/2",
            "READY",
            "RESTARTS",
            "pod/agents-0-",
            "pod/agents-1-",
            "1/1",
        ] {
            assert!(table.contains(want), "{want:?} in\n{table}");
        }
        let wide = kubectl(&kubeconfig, &["get", "pods", "-o", "wide"], None).await;
        assert!(
            wide.contains("127.0.") && wide.contains("rampdeck-demo"),
            "{wide}"
        );
        let waited = kubectl(
            &kubeconfig,
            &[
                "wait",
                "--for=condition=Ready",
                "pod",
                "-l",
                "job-name=agents",
                "--timeout=10s",
            ],
            None,
        )
        .await;
        assert!(waited.contains("condition met"), "{waited}");
        let logs = kubectl(
            &kubeconfig,
            &["logs", "-l", "batch.kubernetes.io/job-completion-index=1"],
            None,
        )
        .await;
        assert_eq!(logs.trim(), "index 1");
        let deleted = kubectl(&kubeconfig, &["delete", "job", "agents"], None).await;
        assert!(deleted.contains("deleted"), "{deleted}");
        eventually(
            "its pods gone",
            || job_pods(&pods, "agents"),
            |ps| ps.is_empty(),
        )
        .await;
    })
    .await
    .expect("test finished in time");
}
