//! `[[setup]]` against the demo's simulated Kubernetes API, through the binary: the sample
//! workload applied and its Deployments rolled out before the load, everything removed after
//! the run, after SIGTERM during setup and during the run, after a 403 and after a wait that
//! timed out; leftovers of a killed run removed at the next start; `rampdeck setup` and
//! `teardown`; a kube route action on a Secret timed to the rollout it causes.

mod support;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use rampdeck_demo::config::{DemoConfig, KubeSim};
use rampdeck_demo::kubeapi::resource::Kind;
use rampdeck_demo::DemoServer;
use tokio::io::{AsyncBufReadExt, BufReader};

const EXE: &str = env!("CARGO_BIN_EXE_rampdeck");
const NS: &str = "rampdeck-sample";

fn manifest(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("manifests")
        .join(name)
        .display()
        .to_string()
}

async fn demo(ready: Duration, forbid: &[&str]) -> (DemoServer, tempfile::TempDir, PathBuf) {
    support::demo_with_kube(&DemoConfig {
        kube: KubeSim {
            deployment_ready: ready,
            forbid: forbid.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        },
        ..Default::default()
    })
    .await
}

fn profile(demo: &DemoServer, kubeconfig: &Path, duration: &str, setup: &str) -> String {
    format!(
        r#"name = "setup-test"
[target]
url = "http://{}"
[load]
rate = 50
duration = "{duration}"
warmup = "0s"
[kube]
kubeconfig = "{}"
{setup}
"#,
        demo.addrs.gateway,
        kubeconfig.display()
    )
}

fn sample(timeout: &str) -> String {
    format!(
        "[[setup]]\nmanifest = \"{}\"\ntimeout = \"{timeout}\"\n",
        manifest("sample-workload.yaml")
    )
}

/// What the demo API holds in the sample namespace.
fn left(demo: &DemoServer) -> Vec<String> {
    let mut out = Vec::new();
    for kind in Kind::ALL {
        for o in demo.kube.store.list(kind, Some(NS)).1 {
            out.push(format!(
                "{} {}",
                kind.kind(),
                o["metadata"]["name"].as_str().unwrap_or("")
            ));
        }
    }
    out
}

struct Run {
    child: tokio::process::Child,
    lines: tokio::sync::mpsc::UnboundedReceiver<String>,
    seen: Vec<String>,
}

impl Run {
    fn start(args: &[&str], dir: &Path) -> Run {
        let mut child = tokio::process::Command::new(EXE)
            .args(args)
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("start rampdeck");
        let (tx, lines) = tokio::sync::mpsc::unbounded_channel();
        let err = child.stderr.take().unwrap();
        tokio::spawn(async move {
            let mut r = BufReader::new(err).lines();
            while let Ok(Some(l)) = r.next_line().await {
                let _ = tx.send(l);
            }
        });
        Run {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Reads stderr until a line contains `text`.
    async fn until(&mut self, text: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            match tokio::time::timeout(Duration::from_secs(1), self.lines.recv()).await {
                Ok(Some(l)) => {
                    let hit = l.contains(text);
                    self.seen.push(l);
                    if hit {
                        return;
                    }
                }
                Ok(None) => break,
                Err(_) => {}
            }
        }
        panic!("no line with '{text}' in:\n{}", self.seen.join("\n"));
    }

    fn term(&self) {
        let pid = self.child.id().expect("running");
        let ok = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .unwrap();
        assert!(ok.success());
    }

    /// Waits for the exit; (code, all of stderr).
    async fn end(mut self) -> (Option<i32>, String) {
        let status = tokio::time::timeout(Duration::from_secs(60), self.child.wait())
            .await
            .expect("exits within 60 s")
            .unwrap();
        while let Some(l) = self.lines.recv().await {
            self.seen.push(l);
        }
        (status.code(), self.seen.join("\n"))
    }
}

/// `rampdeck setup|teardown PROFILE`, which must succeed; its stdout.
fn by_hand(command: &str, profile: &str) -> String {
    let out = std::process::Command::new(EXE)
        .args([command, profile])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{command}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn write(dir: &Path, text: &str) -> String {
    let p = dir.join("p.toml");
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sample_workload_is_applied_waited_for_and_removed_after_the_run() {
    let _serial = support::SERIAL.lock().await;
    let (demo, dir, kc) = demo(Duration::from_millis(800), &[]).await;
    let p = write(dir.path(), &profile(&demo, &kc, "2s", &sample("30s")));
    let mut run = Run::start(&["run", "--headless", &p], dir.path());
    run.until("Deployment rampdeck-sample/traffic Available after")
        .await;
    // Applied and rolled out before any request.
    let mut held = left(&demo);
    held.sort();
    assert_eq!(
        held,
        ["Deployment traffic", "Deployment web", "Service web"],
        "{held:?}"
    );
    let web = demo
        .kube
        .store
        .list(Kind::Deployment, Some(NS))
        .1
        .into_iter()
        .find(|d| d["metadata"]["name"] == "web")
        .unwrap();
    assert_eq!(
        web["metadata"]["labels"]["rampdeck.dev/setup"],
        "setup-test"
    );
    assert_eq!(web["status"]["availableReplicas"], 3);
    let (code, err) = run.end().await;
    assert_eq!(code, Some(0), "{err}");
    let at = |t: &str| err.find(t).unwrap_or_else(|| panic!("no '{t}' in {err}"));
    assert!(at("Available after") < at("started:"), "{err}");
    assert!(
        at("started:") < at("deleted Deployment rampdeck-sample/web"),
        "{err}"
    );
    // Reverse order: the Namespace (applied first) goes last.
    assert!(at("deleted Deployment rampdeck-sample/web") < at("deleted Namespace rampdeck-sample"));
    // The rollout took the simulated 800 ms.
    let took: f64 = err
        .lines()
        .find(|l| l.contains("Deployment rampdeck-sample/web Available after"))
        .and_then(|l| {
            l.rsplit("after ")
                .next()?
                .trim_end_matches(" s")
                .parse()
                .ok()
        })
        .unwrap();
    assert!((0.7..5.0).contains(&took), "{took}");
    assert!(left(&demo).is_empty(), "{:?}", left(&demo));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_during_setup_or_during_the_run_still_removes_everything() {
    let _serial = support::SERIAL.lock().await;
    // During setup: the rollout would take 20 s.
    let (demo, dir, kc) = demo(Duration::from_secs(20), &[]).await;
    let p = write(dir.path(), &profile(&demo, &kc, "5s", &sample("1m")));
    let mut run = Run::start(&["run", "--headless", &p], dir.path());
    run.until("waiting for Deployment rampdeck-sample/traffic")
        .await;
    assert_eq!(left(&demo).len(), 3);
    run.term();
    let (code, err) = run.end().await;
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("setup interrupted"), "{err}");
    assert!(
        !err.contains("started:"),
        "no load after an interrupted setup: {err}"
    );
    assert!(left(&demo).is_empty(), "{:?}", left(&demo));

    // During the run.
    let (demo, dir, kc) = self::demo(Duration::from_millis(100), &[]).await;
    let p = write(dir.path(), &profile(&demo, &kc, "30s", &sample("1m")));
    let mut run = Run::start(&["run", "--headless", "--out", "out", &p], dir.path());
    run.until("started:").await;
    assert_eq!(left(&demo).len(), 3);
    run.term();
    let (code, err) = run.end().await;
    assert_eq!(code, Some(0), "{err}");
    assert!(dir.path().join("out/summary.json").exists());
    assert!(err.contains("deleted Namespace rampdeck-sample"), "{err}");
    assert!(left(&demo).is_empty(), "{:?}", left(&demo));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_403_names_the_verb_and_resource_and_tears_down_what_was_applied() {
    let _serial = support::SERIAL.lock().await;
    let (demo, dir, kc) = demo(Duration::from_millis(100), &["patch services"]).await;
    let p = write(dir.path(), &profile(&demo, &kc, "2s", &sample("30s")));
    let (code, err) = Run::start(&["run", "--headless", &p], dir.path())
        .end()
        .await;
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("403 Forbidden: not allowed to patch services in namespace rampdeck-sample (Service rampdeck-sample/web)"),
        "{err}"
    );
    // The Deployment applied before the Service was removed again.
    assert!(
        err.contains("deleted Deployment rampdeck-sample/web"),
        "{err}"
    );
    assert!(!err.contains("started:"), "{err}");
    assert!(left(&demo).is_empty(), "{:?}", left(&demo));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wait_on_a_kind_without_a_name_waits_for_every_object_of_that_kind() {
    let _serial = support::SERIAL.lock().await;
    let (demo, dir, kc) = demo(Duration::from_millis(800), &[]).await;
    // Own readiness off: only the wait can hold the run back.
    let setup = format!(
        "{}ready = false\nwait = [{{ kind = \"Deployment\" }}]\n",
        sample("30s")
    );
    let p = write(dir.path(), &profile(&demo, &kc, "1s", &setup));
    let (code, err) = Run::start(&["run", "--headless", &p], dir.path())
        .end()
        .await;
    assert_eq!(code, Some(0), "{err}");
    let at = |t: &str| err.find(t).unwrap_or_else(|| panic!("no '{t}' in {err}"));
    for d in ["web", "traffic"] {
        assert!(
            at(&format!("Deployment rampdeck-sample/{d} Available after")) < at("started:"),
            "{err}"
        );
    }
    assert!(!err.contains("waiting for Service"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wait_that_times_out_says_what_it_last_saw() {
    let _serial = support::SERIAL.lock().await;
    let (demo, dir, kc) = demo(Duration::from_secs(30), &[]).await;
    let p = write(dir.path(), &profile(&demo, &kc, "2s", &sample("1s")));
    let (code, err) = Run::start(&["run", "--headless", &p], dir.path())
        .end()
        .await;
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("Deployment rampdeck-sample/web Available did not happen within 1s; last seen: Available=False (MinimumReplicasUnavailable), 0/3 updated, 0/3 available"),
        "{err}"
    );
    assert!(left(&demo).is_empty(), "{:?}", left(&demo));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn setup_and_teardown_by_hand_and_leftovers_removed_at_the_next_start() {
    let _serial = support::SERIAL.lock().await;
    let (demo, dir, kc) = demo(Duration::from_millis(100), &[]).await;
    let p = write(dir.path(), &profile(&demo, &kc, "1s", &sample("30s")));
    let said = by_hand("setup", &p);
    assert!(
        said.contains("applied 4 object(s), labelled rampdeck.dev/setup=setup-test"),
        "{said}"
    );
    assert_eq!(left(&demo).len(), 3, "kept after `rampdeck setup`");

    // A run finds them as an earlier run's leftovers, removes and re-applies.
    let (code, err) = Run::start(&["run", "--headless", &p], dir.path())
        .end()
        .await;
    assert_eq!(code, Some(0), "{err}");
    assert!(
        err.contains("removed Deployment rampdeck-sample/web, left by an earlier run"),
        "{err}"
    );
    assert!(left(&demo).is_empty());

    // `teardown` removes by label what `setup` left.
    by_hand("setup", &p);
    let said = by_hand("teardown", &p);
    // The three namespaced objects (the demo keeps no labels on its
    // namespaces, so its Namespace is not found by label; a cluster's is).
    assert!(
        said.contains("removed 3 object(s) labelled rampdeck.dev/setup=setup-test"),
        "{said}"
    );
    assert!(left(&demo).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secret_rotation_reports_apply_and_convergence_time() {
    let _serial = support::SERIAL.lock().await;
    let (demo, dir, kc) = demo(Duration::from_millis(600), &[]).await;
    let secret = manifest("rotating-secret.yaml");
    let text = profile(
        &demo,
        &kc,
        "4s",
        &format!(
            r#"[[setup]]
manifest = "{secret}"
vars = {{ revision = "0" }}

[[route_action]]
name = "rotate"
kind = "kube"
manifest = "{secret}"
vars = {{ revision = ["1"] }}
at = ["1s"]
timeout = "10s"
wait = [{{ kind = "Deployment", name = "api", condition = "Available" }}]
"#
        ),
    );
    let out = support::run_headless("rotate.toml", &text, dir.path()).await;
    let s = support::summary(&out);
    let r = &s["route_actions"][0];
    assert_eq!(r["phase"], "propagated", "{r}");
    assert!(
        r["detail"]
            .as_str()
            .unwrap()
            .starts_with("apply Secret rampdeck-sample/api-token, Deployment rampdeck-sample/api"),
        "{r}"
    );
    let converged = r["converged_ms"].as_f64().unwrap();
    assert!((550.0..5000.0).contains(&converged), "{r}");
    assert!(r["apply_ms"].as_f64().unwrap() < converged, "{r}");
    // The Secret was rotated (then removed with the rest at the end).
    assert!(left(&demo).is_empty(), "{:?}", left(&demo));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_after_setup_still_tears_down() {
    let _serial = support::SERIAL.lock().await;
    let (demo, dir, kc) = demo(Duration::from_millis(100), &[]).await;
    let text = profile(&demo, &kc, "1s", &sample("30s"));
    let plan =
        rampdeck::profile::parse(&dir.path().join("p.toml").display().to_string(), &text).unwrap();
    let task = tokio::spawn(async move {
        let mut signals = rampdeck::signals::StopSignals::new();
        let quiet = rampdeck::setup::Progress::new(|_| {});
        let _guard = rampdeck::setup::before_run(&plan, &mut signals, &quiet)
            .await
            .expect("setup")
            .expect("a guard");
        panic!("the run panics with the workload applied");
    });
    assert!(task.await.unwrap_err().is_panic());
    // The guard's Drop deleted what was applied, on its own thread.
    assert!(left(&demo).is_empty(), "{:?}", left(&demo));
}
