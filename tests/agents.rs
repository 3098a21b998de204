//! Distributed runs on this machine: local agents merged exactly, a killed agent, a killed coordinator, refusals.

mod support;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use hdrhistogram::serialization::Deserializer;
use rampdeck::profile;
use rampdeck::spec::agents::AgentsSpec;
use support::SERIAL;

const EXE: &str = env!("CARGO_BIN_EXE_rampdeck");

/// Called with each request's headers as it arrives.
type Seen = Arc<dyn Fn(&http::HeaderMap) + Send + Sync>;

/// A server that answers 200 after `delay`, telling `seen` of each request.
async fn server(delay: Duration, seen: Seen) -> SocketAddr {
    use hyper::service::service_fn;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((s, _)) = listener.accept().await {
            let seen = seen.clone();
            let svc = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                seen(req.headers());
                async move {
                    tokio::time::sleep(delay).await;
                    Ok::<_, std::convert::Infallible>(hyper::Response::new(
                        http_body_util::Full::new(bytes::Bytes::from_static(b"ok")),
                    ))
                }
            });
            tokio::spawn(async move {
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(s), svc)
                    .await;
            });
        }
    });
    addr
}

/// A server that answers 200 after `delay` and counts what it got.
async fn counting_server(delay: Duration) -> (SocketAddr, Arc<AtomicU64>) {
    let count = Arc::new(AtomicU64::new(0));
    let c = count.clone();
    let addr = server(
        delay,
        Arc::new(move |_| {
            c.fetch_add(1, Ordering::Relaxed);
        }),
    )
    .await;
    (addr, count)
}

fn plan_with(addr: SocketAddr, load: &str, agents: AgentsSpec) -> rampdeck::spec::plan::Plan {
    let text = format!("[target]\nurl = \"http://{addr}\"\n[load]\n{load}\n");
    let mut plan = profile::parse("agents.toml", &text).unwrap_or_else(|e| panic!("{e}"));
    plan.agents = Some(agents);
    plan
}

async fn run(
    plan: rampdeck::spec::plan::Plan,
    out: &std::path::Path,
) -> Result<rampdeck::report::summary::Summary, String> {
    std::env::set_var("RAMPDECK_AGENT_EXE", EXE);
    rampdeck::headless::run(
        Arc::new(plan),
        &rampdeck::headless::Options {
            out: Some(out.to_owned()),
            ..Default::default()
        },
        rampdeck::signals::StopSignals::new(),
    )
    .await
    .map_err(|e| e.to_string())
}

fn decode(b64: &str) -> hdrhistogram::Histogram<u64> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .expect("base64");
    Deserializer::new()
        .deserialize(&mut std::io::Cursor::new(bytes))
        .expect("histogram")
}

fn run_log(dir: &std::path::Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(dir.join("run.jsonl"))
        .expect("run.jsonl")
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_local_agents_send_the_plans_rate_and_merge_exactly() {
    let _g = SERIAL.lock().await;
    let (addr, count) = counting_server(Duration::from_millis(1)).await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let plan = plan_with(
        addr,
        "rate = 3000\nduration = \"6s\"\ninterval = \"500ms\"",
        AgentsSpec::Local { count: 3 },
    );
    let s = run(plan, &out).await.expect("the run");
    let v = support::summary(&out);
    let rps = v["rps"].as_f64().unwrap();
    assert!(
        (rps - 3000.0).abs() <= 15.0,
        "merged achieved rate {rps}/s, plan 3000/s"
    );
    assert_eq!(v["not_sent"], 0, "{v:#}");
    assert_eq!(
        count.load(Ordering::Relaxed),
        s.sent,
        "the server saw every request once"
    );
    let agents = v["agents"]["agents"].as_array().expect("per-agent totals");
    assert_eq!(agents.len(), 3);
    // Each agent sent a third of the slots (k mod 3).
    let sent: Vec<u64> = agents.iter().map(|a| a["sent"].as_u64().unwrap()).collect();
    assert_eq!(sent.iter().sum::<u64>(), s.sent);
    for n in &sent {
        assert!((*n as f64 - s.sent as f64 / 3.0).abs() <= 2.0, "{sent:?}");
    }
    // The merged percentiles are those of the sum of the agents' own histograms.
    let mut sum = rampdeck::stats::new_histogram();
    for a in agents {
        sum.add(decode(a["hdr"].as_str().expect("the agent's histogram")))
            .unwrap();
    }
    let ms = |us: u64| us as f64 / 1000.0;
    assert_eq!(
        v["latency_ms"]["p50"].as_f64().unwrap(),
        ms(sum.value_at_quantile(0.5))
    );
    assert_eq!(
        v["latency_ms"]["p99"].as_f64().unwrap(),
        ms(sum.value_at_quantile(0.99))
    );
    assert_eq!(v["latency_ms"]["max"].as_f64().unwrap(), ms(sum.max()));
    assert_eq!(v["latency_ms"]["count"].as_u64().unwrap(), sum.len());
    assert_eq!(v["under_supplied_s"].as_f64(), Some(0.0));
    // Each interval line holds all three agents' parts.
    let lines = run_log(&out);
    assert!(lines.iter().any(|l| l["type"] == "agents"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agents_merge_each_level_epoch_exactly() {
    let _g = SERIAL.lock().await;
    let (addr, _count) = counting_server(Duration::from_millis(1)).await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let plan = plan_with(
        addr,
        "interval = \"500ms\"\n[[load.stages]]\nkind = \"hold\"\ntarget = 400\nduration = \"2s\"\nname = \"low\"\n\
         [[load.stages]]\nkind = \"hold\"\ntarget = 800\nduration = \"2s\"\nname = \"high\"",
        AgentsSpec::Local { count: 2 },
    );
    run(plan, &out).await.expect("the run");
    let v = support::summary(&out);
    let epochs = v["epochs"].as_array().expect("epochs");
    assert_eq!(epochs.len(), 2, "{:#}", v["epochs"]);
    // Both agents' parts of each epoch, merged: the plan's level each.
    for (e, want) in epochs.iter().zip([400.0, 800.0]) {
        let got = e["achieved"].as_f64().unwrap();
        assert!((got - want).abs() <= want * 0.03, "{e:#}");
    }
    assert_eq!(epochs[1]["stage_name"], "high");
    let sent: u64 = epochs.iter().map(|e| e["sent"].as_u64().unwrap()).sum();
    assert_eq!(sent, v["requests"].as_u64().unwrap());
}

/// This process's child processes running `rampdeck agent`.
fn agent_children() -> Vec<u32> {
    let me = std::process::id();
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse::<u32>().ok());
        let cmd = std::fs::read_to_string(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        if ppid == Some(me) && cmd.split('\0').any(|a| a == "agent") {
            out.push(pid);
        }
    }
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_agents_share_goes_to_the_others_and_its_intervals_are_kept() {
    let _g = SERIAL.lock().await;
    let (addr, _) = counting_server(Duration::from_millis(1)).await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let plan = plan_with(
        addr,
        "rate = 1500\nduration = \"8s\"\ninterval = \"500ms\"",
        AgentsSpec::Local { count: 3 },
    );
    let killer = tokio::spawn(async {
        tokio::time::sleep(Duration::from_secs(4)).await;
        let pids = agent_children();
        assert_eq!(pids.len(), 3, "three agents run: {pids:?}");
        let _ = Command::new("kill")
            .args(["-KILL", &pids[1].to_string()])
            .status();
        pids[1]
    });
    let s = run(plan, &out).await.expect("the run goes on and ends");
    let killed = killer.await.unwrap();
    let v = support::summary(&out);
    let agents = v["agents"]["agents"].as_array().unwrap();
    let lost: Vec<_> = agents.iter().filter(|a| a["state"] == "lost").collect();
    assert_eq!(lost.len(), 1, "{agents:#?}");
    assert_eq!(lost[0]["pid"].as_u64(), Some(killed as u64));
    // Nothing it reported is lost: the run's total is the agents' sum.
    let sent: u64 = agents.iter().map(|a| a["sent"].as_u64().unwrap()).sum();
    assert_eq!(sent, s.sent);
    assert!(
        lost[0]["sent"].as_u64().unwrap() > 1000,
        "its first seconds are in: {:?}",
        lost[0]["sent"]
    );
    let events = v["events"].as_array().unwrap();
    let loss = events
        .iter()
        .find(|e| e["type"] == "agent_lost")
        .unwrap_or_else(|| panic!("a loss event: {events:#?}"));
    let lost_at = loss["at_s"].as_f64().unwrap();
    // From 1 s after the loss on, every interval sends what is due.
    let lines = run_log(&out);
    let mut checked = 0;
    for l in lines.iter().filter(|l| l["type"] == "interval") {
        let end = l["elapsed_s"].as_f64().unwrap();
        let len = l["len_s"].as_f64().unwrap();
        let Some(due) = l["due"].as_f64() else {
            continue;
        };
        if end - len >= lost_at + 1.0 && due > 100.0 {
            let sent = l["sent"].as_f64().unwrap();
            assert!(
                (sent - due).abs() <= due * 0.02 + 3.0,
                "interval ending {end}: sent {sent} of {due}"
            );
            checked += 1;
        }
    }
    assert!(checked >= 4, "intervals checked after the loss: {checked}");
    let short = v["under_supplied_s"].as_f64().unwrap();
    assert!(short <= 1.0, "{short}");
    if v["not_sent"].as_u64().unwrap() > 0 {
        let cause = v["not_sent_cause"].as_str().unwrap_or("");
        assert!(
            cause.starts_with("an agent was lost: agent-1 (lost at ")
                && cause.ends_with("its share went unsent until the others took it"),
            "unsent slots are the lost agent's, named, not the target's: {cause}"
        );
    }
    // The report lists the agents and shades what they under-supplied.
    rampdeck::report::document::write_report(&out, rampdeck::report::document::Format::Md)
        .expect("the report");
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(
        md.contains("### Agents (local") && md.contains("| agent-1 |"),
        "{md}"
    );
    let svg = std::fs::read_to_string(out.join("throughput.svg")).unwrap();
    assert_eq!(
        short > 0.0,
        svg.contains("#FFDD57"),
        "shade iff under-supplied ({short} s)"
    );
}

struct Agent {
    child: Child,
    addr: String,
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_agent(token: &str, allow: &str) -> Agent {
    start_agent_with(token, allow, None)
}

/// An agent, with at most `fds` open files if given (soft and hard limit).
fn start_agent_with(token: &str, allow: &str, fds: Option<u32>) -> Agent {
    let mut command = match fds {
        Some(n) => {
            let mut c = Command::new("sh");
            c.args(["-c", &format!("ulimit -n {n} && exec \"$0\" \"$@\""), EXE]);
            c
        }
        None => Command::new(EXE),
    };
    let mut child = command
        .args([
            "agent",
            "--listen",
            "127.0.0.1:0",
            "--allow",
            allow,
            "--name",
            "by-hand",
        ])
        .env("RAMPDECK_AGENT_TOKEN", token)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn an agent");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .trim()
        .strip_prefix("rampdeck agent listening on ")
        .expect("its address")
        .to_owned();
    Agent { child, addr }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_token_and_a_target_outside_allow_are_refused_in_words() {
    let _g = SERIAL.lock().await;
    let (addr, count) = counting_server(Duration::ZERO).await;
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, "the-wrong-token-0123456789\n").unwrap();
    let agent = start_agent("the-right-token-0123456789", &addr.to_string());
    let spec = |file: &std::path::Path| AgentsSpec::Static {
        addresses: vec![agent.addr.clone()],
        token_file: Some(file.to_owned()),
    };
    let e = run(
        plan_with(addr, "rate = 10\nduration = \"1s\"", spec(&token_file)),
        &dir.path().join("a"),
    )
    .await
    .unwrap_err();
    assert!(
        e.contains("refused") && e.contains("401") && e.contains("wrong or missing token"),
        "{e}"
    );
    assert!(
        !e.contains("the-wrong-token"),
        "the token is never shown: {e}"
    );
    // The right token, a target the agent was not told it may load.
    std::fs::write(&token_file, "the-right-token-0123456789").unwrap();
    let other = support::fixed_server(200, "x").await;
    let e = run(
        plan_with(other, "rate = 10\nduration = \"1s\"", spec(&token_file)),
        &dir.path().join("b"),
    )
    .await
    .unwrap_err();
    assert!(
        e.contains(&format!("target {}", other)) && e.contains("--allow"),
        "{e}"
    );
    // And the allowed one runs.
    run(
        plan_with(addr, "rate = 50\nduration = \"1s\"", spec(&token_file)),
        &dir.path().join("c"),
    )
    .await
    .expect("an allowed run");
    assert!(count.load(Ordering::Relaxed) >= 45);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agents_stop_sending_soon_after_their_coordinator_is_killed() {
    let _g = SERIAL.lock().await;
    let (addr, count) = counting_server(Duration::ZERO).await;
    let token = "a-token-for-this-test-0123";
    let agent = start_agent(token, &addr.to_string());
    let mut coordinator = Command::new(EXE)
        .args([
            "run",
            &format!("http://{addr}/"),
            "--rate",
            "200",
            "--duration",
            "60s",
            "--headless",
        ])
        .args(["--agents", &format!("static:{}", agent.addr)])
        .env("RAMPDECK_AGENT_TOKEN", token)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn the coordinator");
    let deadline = Instant::now() + Duration::from_secs(15);
    while count.load(Ordering::Relaxed) < 200 {
        assert!(Instant::now() < deadline, "the load never started");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    coordinator.kill().expect("SIGKILL the coordinator");
    let _ = coordinator.wait();
    let killed = Instant::now();
    tokio::time::sleep(Duration::from_secs(5)).await;
    let at_5s = count.load(Ordering::Relaxed);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        count.load(Ordering::Relaxed),
        at_5s,
        "load still arriving {:?} after the coordinator died",
        killed.elapsed()
    );
    drop(agent);
}

/// The demo's simulated cluster (with its kubelet running the rampdeck
/// binary) and a profile for a distributed run through it.
async fn cluster(
    count: usize,
    seconds: u32,
) -> (
    rampdeck_demo::DemoServer,
    tempfile::TempDir,
    String,
    std::path::PathBuf,
) {
    let mut config = rampdeck_demo::config::DemoConfig {
        routes: vec![support::fixed("/", 1)],
        ..Default::default()
    };
    config.kube.agent_exe = Some(EXE.into());
    let (demo, dir, kubeconfig) = support::demo_with_kube(&config).await;
    let profile = format!(
        "[target]\nurl = \"http://{}\"\n[load]\nrate = 400\nduration = \"{seconds}s\"\ninterval = \"500ms\"\n[kube]\nkubeconfig = \"{}\"\nnamespace = \"{}\"\n[agents]\nkind = \"kubernetes\"\ncount = {count}\n",
        demo.addrs.gateway,
        kubeconfig.display(),
        config.kube.namespace
    );
    (demo, dir, profile, kubeconfig)
}

async fn client(kubeconfig: &std::path::Path) -> kube::Client {
    let kc = kube::config::Kubeconfig::read_from(kubeconfig).unwrap();
    let cfg = kube::Config::from_custom_kubeconfig(kc, &Default::default())
        .await
        .unwrap();
    kube::Client::try_from(cfg).unwrap()
}

async fn jobs_left(client: &kube::Client) -> usize {
    let jobs: kube::Api<k8s_openapi::api::batch::v1::Job> = kube::Api::all(client.clone());
    jobs.list(&Default::default())
        .await
        .map_or(usize::MAX, |l| l.items.len())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubernetes_agents_run_as_an_indexed_job_a_deleted_pod_rejoins_and_the_job_is_deleted() {
    let _g = SERIAL.lock().await;
    let (_demo, dir, profile, kubeconfig) = cluster(2, 10).await;
    let client = client(&kubeconfig).await;
    let pods: kube::Api<k8s_openapi::api::core::v1::Pod> = kube::Api::all(client.clone());
    let deleter = {
        let pods = pods.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(4)).await;
            let list = pods.list(&Default::default()).await.unwrap();
            let victim = list.items.iter().find(|p| {
                p.metadata
                    .labels
                    .as_ref()
                    .and_then(|l| l.get("batch.kubernetes.io/job-completion-index"))
                    .map(String::as_str)
                    == Some("1")
            });
            let victim = victim.expect("the pod of index 1");
            let ns = victim.metadata.namespace.clone().unwrap();
            let api: kube::Api<k8s_openapi::api::core::v1::Pod> =
                kube::Api::namespaced(pods.clone().into_client(), &ns);
            api.delete(
                victim.metadata.name.as_deref().unwrap(),
                &Default::default(),
            )
            .await
            .unwrap();
        })
    };
    let out = support::run_headless("agents.toml", &profile, dir.path()).await;
    deleter.await.unwrap();
    let v = support::summary(&out);
    let agents = v["agents"]["agents"].as_array().unwrap();
    assert_eq!(v["agents"]["kind"], "kubernetes");
    assert!(
        agents.len() >= 3,
        "two agents and the rejoined index: {agents:#?}"
    );
    assert!(agents
        .iter()
        .any(|a| a["state"] == "lost" && a["name"] == "agent-1"));
    assert!(
        agents
            .iter()
            .any(|a| a["name"] == "agent-1#2" && a["sent"].as_u64().unwrap() > 0),
        "{agents:#?}"
    );
    let events = v["events"].as_array().unwrap();
    assert!(
        events.iter().any(|e| e["type"] == "agent_joined"),
        "{events:#?}"
    );
    assert!(agents
        .iter()
        .all(|a| a["address"].as_str().unwrap().starts_with("pod ")));
    assert_eq!(
        jobs_left(&client).await,
        0,
        "the Job is deleted after the run"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_coordinator_stopped_by_sigterm_deletes_its_job() {
    let _g = SERIAL.lock().await;
    let (_demo, dir, profile, kubeconfig) = cluster(2, 30).await;
    let client = client(&kubeconfig).await;
    let path = dir.path().join("agents.toml");
    std::fs::write(&path, profile).unwrap();
    let mut coordinator = Command::new(EXE)
        .args(["run", path.to_str().unwrap(), "--headless"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the coordinator");
    let stderr = coordinator.stderr.take().unwrap();
    // Wait until the run is under way (its first progress line).
    // Keep reading its stderr to the end: a closed pipe would fail its writes.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for l in BufReader::new(stderr).lines().map_while(Result::ok) {
            if l.contains("/30s]") {
                let _ = tx.send(());
            }
        }
    });
    tokio::task::spawn_blocking(move || rx.recv_timeout(Duration::from_secs(30)))
        .await
        .unwrap()
        .expect("the run started");
    assert_eq!(jobs_left(&client).await, 1, "the Job runs");
    let _ = Command::new("kill")
        .args(["-TERM", &coordinator.id().to_string()])
        .status();
    let status = coordinator.wait().unwrap();
    assert!(status.code().is_some(), "it exited, not killed: {status:?}");
    assert_eq!(
        jobs_left(&client).await,
        0,
        "the Job is deleted after SIGTERM"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_before_auth_never_lock_the_coordinator_out() {
    let _g = SERIAL.lock().await;
    let (addr, count) = counting_server(Duration::ZERO).await;
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, "the-right-token-0123456789").unwrap();
    // 400 connections that never say a word, to an agent that may hold 260
    // files: it keeps 16 unauthenticated (the newest evict the oldest), so
    // its descriptors never run out and the coordinator still gets in.
    let agent = start_agent_with("the-right-token-0123456789", &addr.to_string(), Some(260));
    let mut idle = Vec::new();
    for _ in 0..400 {
        idle.push(tokio::net::TcpStream::connect(&agent.addr).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let spec = AgentsSpec::Static {
        addresses: vec![agent.addr.clone()],
        token_file: Some(token_file.clone()),
    };
    run(
        plan_with(addr, "rate = 50\nduration = \"1s\"", spec),
        &dir.path().join("a"),
    )
    .await
    .expect("the coordinator gets in past the idle connections");
    assert!(count.load(Ordering::Relaxed) >= 45);
    drop(idle);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_coordinator_stopped_for_six_seconds_keeps_its_agents_and_its_numbers() {
    let _g = SERIAL.lock().await;
    let (addr, count) = counting_server(Duration::ZERO).await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let coordinator = tokio::process::Command::new(EXE)
        .args([
            "run",
            &format!("http://{addr}/"),
            "--rate",
            "100",
            "--duration",
            "14s",
        ])
        .args(["--agents", "local:2", "--headless", "--out"])
        .arg(&out)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = rustix::process::Pid::from_raw(coordinator.id().unwrap() as i32).unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    // Ctrl-Z, then fg six seconds later.
    rustix::process::kill_process(pid, rustix::process::Signal::STOP).unwrap();
    tokio::time::sleep(Duration::from_secs(6)).await;
    rustix::process::kill_process(pid, rustix::process::Signal::CONT).unwrap();
    let o = tokio::time::timeout(Duration::from_secs(40), coordinator.wait_with_output())
        .await
        .expect("the run ends")
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert!(err.contains("the coordinator was stopped for"), "{err}");
    assert!(!err.contains(" lost ("), "no agent lost: {err}");
    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    // The agents sent the whole schedule while the coordinator was stopped.
    let sent = s["sent"].as_u64().unwrap();
    assert!((1350..=1450).contains(&sent), "sent {sent} of 1,400: {s}");
    assert!(s["not_sent"].as_u64().unwrap() < 30, "{s}");
    assert_eq!(
        count.load(Ordering::Relaxed),
        sent,
        "the server saw what was counted"
    );
    // The summary's length agrees with the intervals it was folded from.
    let covered: f64 = run_log(&out)
        .iter()
        .filter(|v| v["type"] == "interval")
        .map(|v| v["len_s"].as_f64().unwrap_or(0.0))
        .sum();
    let duration = s["elapsed_s"].as_f64().unwrap();
    assert!(
        (covered - duration).abs() < 1.0,
        "intervals cover {covered} s, the run {duration} s: {s}"
    );
}

/// A server that keeps each request's `x-id` header and its `x-blob` length.
async fn id_server() -> (SocketAddr, Arc<std::sync::Mutex<Vec<String>>>) {
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let s2 = seen.clone();
    let addr = server(
        Duration::ZERO,
        Arc::new(move |h: &http::HeaderMap| {
            let id = h
                .get("x-id")
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
            let blob = h.get("x-blob").map_or(0, |v| v.len());
            s2.lock()
                .unwrap()
                .push(format!("{} {blob}", id.unwrap_or_default()));
        }),
    )
    .await;
    (addr, seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_8_mb_data_file_reaches_every_agent_in_parts() {
    let _g = SERIAL.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let (addr, seen) = id_server().await;
    // 8 MB of backslashes: 16 MB as one JSON frame, past the agents' limit.
    let blob = "\\".repeat(3_990);
    let mut csv = String::from("id,blob\n");
    let mut rows = 0;
    while csv.len() < 8_000_000 {
        csv.push_str(&format!("row{rows},{blob}\n"));
        rows += 1;
    }
    std::fs::write(dir.path().join("big.csv"), &csv).unwrap();
    let profile = format!(
        "[target]\nurl = \"http://{addr}\"\n[[data]]\nfile = \"big.csv\"\n[[request]]\npath = \"/\"\nheaders = {{ x-id = \"{{{{data.id}}}}\", x-blob = \"{{{{data.blob}}}}\" }}\n[load]\nrate = 100\nduration = \"1s\"\nwarmup = \"0s\"\n"
    );
    std::fs::write(dir.path().join("p.toml"), profile).unwrap();
    let o = tokio::process::Command::new(EXE)
        .args([
            "run",
            "--headless",
            "--agents",
            "local:2",
            "--output",
            "json",
            "p.toml",
        ])
        .current_dir(dir.path())
        .output()
        .await
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{err}");
    let s: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(s["ok"], 100, "{s}");
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 100);
    // Slots 0..99 take rows 0..99, each whole, split between the agents.
    let mut ids: Vec<String> = seen.iter().map(|l| l.to_string()).collect();
    ids.sort();
    let mut want: Vec<String> = (0..100).map(|i| format!("row{i} 3990")).collect();
    want.sort();
    assert_eq!(ids, want);
    assert!(rows > 1_900);
}
