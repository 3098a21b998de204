//! The library API: a Rust request source, its sessions and checks, run through `run_headless`, and the two examples against a demo this test starts.

mod support;

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rampdeck::{from_fn, Call, Context, Plan, RequestSource, Response, RunOptions, SourceError};
use rampdeck_demo::config::DemoRoute;
use support::{recording_server, SERIAL};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime")
}

fn plan(text: &str) -> Plan {
    Plan::from_toml("api.toml", text).unwrap_or_else(|e| panic!("{e}"))
}

fn json(outcome: &rampdeck::Outcome) -> serde_json::Value {
    serde_json::from_str(&outcome.to_json()).expect("summary json")
}

#[test]
fn a_source_builds_every_request_and_the_seed_repeats_them() {
    let _serial = SERIAL.blocking_lock();
    let rt = runtime();
    let (addr, seen) = rt.block_on(recording_server());
    let text = format!(
        r#"
        [target]
        url = "http://{addr}"
        [[request]]
        name = "read"
        path = "/"
        weight = 3
        [[request]]
        name = "write"
        path = "/"
        weight = 1
        [load]
        rate = 400
        duration = "1s"
        seed = 5
        "#
    );
    let source = || {
        from_fn(|ctx: &mut Context<'_>| {
            let n = ctx.rng().int(0, 1_000_000);
            Ok(Call::get(format!("/item/{}?n={n}", ctx.seq())).header("x-user", ctx.drawn()))
        })
    };
    let mut runs = Vec::new();
    for _ in 0..2 {
        let outcome = rampdeck::run_headless(plan(&text).source(source()), &RunOptions::new())
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(outcome.requests(), 400);
        assert_eq!(outcome.succeeded(), 400);
        let mut got = std::mem::take(&mut *seen.lock().unwrap());
        got.sort();
        runs.push(got);
    }
    let seqs: std::collections::BTreeSet<&str> =
        runs[0].iter().map(|(p, _, _)| p.as_str()).collect();
    assert_eq!(seqs.len(), 400, "every request distinct");
    assert_eq!(runs[0], runs[1], "the same seed sends the same requests");
    let writes = runs[0].iter().filter(|(_, u, _)| u == "write").count();
    assert!(
        (60..=140).contains(&writes),
        "the 3:1 mix is drawn for the source: {writes} of 400 writes"
    );
}

/// Logs in once per connection, keeps the token, and every `bad_every`th
/// request sends a broken one: the demo refuses it, the check counts it
/// and the user logs in again.
struct Users {
    bad_every: u64,
    bad_sent: AtomicU64,
    logins_sent: AtomicU64,
}

#[derive(Default)]
struct User {
    token: Option<String>,
    sent: u64,
}

impl RequestSource for Users {
    type Session = User;

    fn session(&self) -> User {
        User::default()
    }

    fn request(&self, _: &mut Context<'_>, user: &mut User) -> Result<Call, SourceError> {
        let Some(token) = &user.token else {
            self.logins_sent.fetch_add(1, Ordering::Relaxed);
            return Ok(Call::post("/auth/login").name("login").read_body(128));
        };
        user.sent += 1;
        let token = if user.sent % self.bad_every == 0 {
            self.bad_sent.fetch_add(1, Ordering::Relaxed);
            format!("{token}0")
        } else {
            token.clone()
        };
        Ok(Call::get("/auth/orders/1").header("authorization", format!("Bearer {token}")))
    }

    fn check(&self, r: &Response<'_>, user: &mut User) -> Result<(), String> {
        match (r.name(), r.status()) {
            ("login", 200) => {
                let body = std::str::from_utf8(r.body()).map_err(|e| e.to_string())?;
                let token = body
                    .split('"')
                    .nth(3)
                    .ok_or_else(|| format!("no token in '{body}'"))?;
                user.token = Some(token.to_owned());
                Ok(())
            }
            (_, 401) => {
                user.token = None;
                Err("the token was refused".into())
            }
            _ => Ok(()),
        }
    }
}

#[test]
fn sessions_log_in_once_per_connection_and_checks_count_by_name() {
    let _serial = SERIAL.blocking_lock();
    let rt = runtime();
    let demo = rt.block_on(support::demo(vec![support::route("/")]));
    let text = format!(
        r#"
        [target]
        url = "http://{}"
        [[request]]
        name = "login"
        method = "POST"
        path = "/auth/login"
        weight = 0
        [[request]]
        name = "orders"
        path = "/auth/orders"
        [load]
        mode = "closed"
        concurrency = 5
        duration = "1500ms"
        "#,
        demo.addrs.gateway
    );
    let users = Arc::new(Users {
        bad_every: 50,
        bad_sent: AtomicU64::new(0),
        logins_sent: AtomicU64::new(0),
    });
    struct Shared(Arc<Users>);
    impl RequestSource for Shared {
        type Session = User;
        fn session(&self) -> User {
            User::default()
        }
        fn request(&self, c: &mut Context<'_>, u: &mut User) -> Result<Call, SourceError> {
            self.0.request(c, u)
        }
        fn check(&self, r: &Response<'_>, u: &mut User) -> Result<(), String> {
            self.0.check(r, u)
        }
    }
    let outcome = rampdeck::run_headless(
        plan(&text).source(Shared(users.clone())),
        &RunOptions::new(),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let bad = users.bad_sent.load(Ordering::Relaxed);
    assert!(bad > 10, "enough broken tokens sent to count: {bad}");
    // Each refusal is one check failure under its request's name, and one
    // more login; the rest succeeded with the token the session kept.
    assert_eq!(outcome.check_failures("orders"), bad);
    assert_eq!(outcome.check_failures("login"), 0);
    assert_eq!(outcome.errors("check"), bad);
    assert_eq!(outcome.requests() - outcome.succeeded(), bad);
    // One login per connection, and one after each refusal, except a
    // refusal as the run ended (at most one per connection): the schedule
    // was over before its login could go.
    let logins = users.logins_sent.load(Ordering::Relaxed);
    assert_eq!(
        demo.gateway.auth.issued(),
        logins,
        "every login sent was answered"
    );
    assert!(
        (bad..=5 + bad).contains(&logins),
        "one login per connection, and one per refusal: {logins} logins, {bad} refusals"
    );
}

#[test]
fn rows_running_out_end_the_run_and_bad_calls_are_failures_that_say_why() {
    let _serial = SERIAL.blocking_lock();
    let rt = runtime();
    let (addr, seen) = rt.block_on(recording_server());
    let dir = tempfile::tempdir().unwrap();
    let mut csv = String::from("user\n");
    for i in 0..30 {
        csv.push_str(&format!("u{i}\n"));
    }
    std::fs::write(dir.path().join("users.csv"), csv).unwrap();
    let text = format!(
        r#"
        [target]
        url = "http://{addr}"
        [[data]]
        file = "{}"
        on_end = "stop"
        [[request]]
        path = "/"
        [load]
        rate = 100
        duration = "10s"
        "#,
        dir.path().join("users.csv").display()
    );
    let source = from_fn(|ctx: &mut Context<'_>| {
        let user = ctx.data("user")?;
        if ctx.seq() % 10 == 9 {
            return Ok(Call::get("/").name("nope"));
        }
        Ok(Call::get(format!("/u/{user}")).header("x-user", user))
    });
    let started = std::time::Instant::now();
    let outcome = rampdeck::run_headless(plan(&text).source(source), &RunOptions::new())
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "the run ended with the rows"
    );
    assert_eq!(outcome.requests(), 30);
    assert_eq!(outcome.errors("template"), 3);
    let got = seen.lock().unwrap();
    assert_eq!(got.len(), 27);
    assert!(got.iter().all(|(p, u, _)| *p == format!("/u/{u}")));
    let summary = json(&outcome);
    let message = summary["error_messages"]["template"].as_str().unwrap_or("");
    assert!(
        message.contains("named 'nope', which the plan has no [[request]] for (it has: GET /)"),
        "{message}"
    );
}

#[test]
fn plans_refuse_what_cannot_run() {
    let base = "[target]\nurl = \"http://127.0.0.1:9\"\n[load]\nrate = 10\nduration = \"1s\"\n";
    let e = plan(base).rate(0.0).unwrap_err();
    assert!(e.to_string().contains("--rate: must be more than 0"), "{e}");
    assert_eq!(
        format!("{:?}", e.exit_code()),
        format!("{:?}", std::process::ExitCode::from(2))
    );
    let e = plan(base).target("ftp://x").unwrap_err();
    assert!(e.to_string().starts_with("target:"), "{e}");
    let e = Plan::from_toml("bad.toml", "[load]\nrate = \"fast\"\n").unwrap_err();
    assert!(e.to_string().starts_with("bad.toml:2:"), "{e}");
    let text = format!("{base}[agents]\nkind = \"local\"\ncount = 2\n");
    let with_agents = plan(&text).source(from_fn(|_| Ok(Call::get("/"))));
    let e = rampdeck::run_headless(with_agents, &RunOptions::new()).unwrap_err();
    assert!(e.to_string().contains("cannot run on agents"), "{e}");
    let e = Plan::from_toml(
        "zero.toml",
        "[target]\nurl = \"http://127.0.0.1:9\"\n[[request]]\npath = \"/\"\nweight = 0\n[load]\nrate = 1\nduration = \"1s\"\n",
    )
    .unwrap_err();
    assert!(
        e.to_string().contains("every [[request]] has weight = 0"),
        "{e}"
    );
}

/// `target/debug/examples/NAME`, built by `cargo test` (or now, when only this test was built).
fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test path");
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target dir");
    let path = dir.join("examples").join(name);
    if !path.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let ok = Command::new(cargo)
            .args(["build", "--example", name, "--manifest-path"])
            .arg(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml"))
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "cargo build --example {name}");
    }
    path
}

fn run_example(name: &str, url: &str) -> (i32, String, String) {
    let out = Command::new(example(name))
        .args([url, "--duration", "2"])
        .stdin(Stdio::null())
        .output()
        .expect("run the example");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn the_examples_run_against_a_demo() {
    let _serial = SERIAL.blocking_lock();
    let rt = runtime();
    let demo = rt.block_on(support::demo(vec![
        DemoRoute {
            body_bytes: 1024,
            ..DemoRoute::new("/api/items")
        },
        support::route("/api/orders"),
    ]));
    let url = format!("http://{}", demo.addrs.gateway);

    let (code, stdout, stderr) = run_example("custom_requests", &url);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(stdout.contains("Requests     400"), "{stdout}");
    assert!(
        stdout.contains("Errors       none"),
        "the body check passed: {stdout}"
    );
    assert!(stdout.contains("Thresholds   all passed"), "{stdout}");

    let (code, stdout, stderr) = run_example("login_flow", &url);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(stdout.contains("success 100.00%"), "{stdout}");
    assert!(stderr.contains(" 0 refused tokens"), "{stderr}");
    assert_eq!(
        demo.gateway.auth.issued(),
        20,
        "each of the 20 connections logged in once"
    );
}
