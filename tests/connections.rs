//! The connections mode end to end: 10,000 held TCP connections, resets with their age, WebSocket echoes and close codes, PROXY headers through a real HAProxy, and refusals before the run.

mod support;

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use support::SERIAL;

const EXE: &str = env!("CARGO_BIN_EXE_rampdeck");

/// Runs the profile `text` headless (its demo in a child process, as
/// `rampdeck run` does); its output and summary.json.
fn run(dir: &Path, text: &str) -> (Output, serde_json::Value) {
    let p = dir.join("c.toml");
    std::fs::write(&p, text).unwrap();
    let out = dir.join("out");
    let o = Command::new(EXE)
        .arg("run")
        .arg(&p)
        .args(["--headless", "--force", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    let summary = std::fs::read_to_string(out.join("summary.json"))
        .unwrap_or_else(|e| panic!("{e}\n{}", String::from_utf8_lossy(&o.stderr)));
    (o, serde_json::from_str(&summary).unwrap())
}

fn n(v: &serde_json::Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a count: {v}"))
}

fn f(v: &serde_json::Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_tcp_connections_are_held_echoed_and_closed_cleanly() {
    let _g = SERIAL.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let (o, s) = run(
        dir.path(),
        r#"
[load]
mode = "connections"
rate = 5000
message = "hello-echo"
message_interval = "2s"

[[load.stages]]
kind = "ramp"
from = 0
to = 10000
duration = "2s"

[[load.stages]]
kind = "hold"
duration = "5s"

[demo]
"#,
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let c = &s["connections"];
    assert_eq!(n(&c["peak"]), 10_000, "{c}");
    assert_eq!(n(&c["opened"]), 10_000, "{c}");
    assert_eq!(n(&c["failed"]), 0, "{c}");
    assert_eq!(n(&c["resets"]), 0, "{c}");
    assert_eq!(n(&c["server_closed"]), 0, "{c}");
    // Every one closed by rampdeck at the end, none left open.
    assert_eq!(n(&c["closed"]), 10_000, "{c}");
    assert_eq!(n(&c["established"]), 0, "{c}");
    // Each held about 5 s past the ramp: two or three echoes each.
    let echoed = n(&c["messages"]);
    assert!(echoed >= 20_000, "{c}");
    assert_eq!(n(&c["message_failures"]), 0, "{c}");
    assert_eq!(n(&c["rtt_ms"]["count"]), echoed, "{c}");
    assert!(f(&c["rtt_ms"]["p50"]) > 0.0, "{c}");
    assert_eq!(n(&c["tcp_ms"]["count"]), 10_000, "{c}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_resets_after_two_seconds_shows_resets_at_that_age() {
    let _g = SERIAL.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let (_, s) = run(
        dir.path(),
        r#"
[load]
mode = "connections"
target = 200
rate = 1000
duration = "3500ms"

[demo]

[demo.echo]
reset_after = "2s"
"#,
    );
    let c = &s["connections"];
    // The first 200 were reset at 2 s and replaced; their replacements
    // (opened from 2 s on) were still open at 3.5 s and closed by rampdeck.
    assert_eq!(n(&c["resets"]), 200, "{c}");
    assert_eq!(n(&c["opened"]), 400, "{c}");
    assert_eq!(n(&c["closed"]), 200, "{c}");
    let age = &c["reset_age_ms"];
    assert_eq!(n(&age["count"]), 200, "{c}");
    assert!((1950.0..2300.0).contains(&f(&age["p50"])), "{c}");
    assert!((1950.0..2400.0).contains(&f(&age["max"])), "{c}");
    let first = c["first"]["reset"].as_str().unwrap_or("");
    assert!(first.contains("at age 2."), "{c}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_echoes_are_timed_and_a_server_close_keeps_its_code() {
    let _g = SERIAL.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let (_, s) = run(
        dir.path(),
        r#"
[load]
mode = "connections"
traffic = "websocket"
target = 50
rate = 500
duration = "2500ms"
message = "ws-ping"
message_interval = "200ms"

[demo]

[demo.echo]
latency = "3ms"
"#,
    );
    let c = &s["connections"];
    assert_eq!(n(&c["opened"]), 50, "{c}");
    assert_eq!(n(&c["ws_ms"]["count"]), 50, "{c}");
    let echoed = n(&c["messages"]);
    assert!(echoed >= 400, "{c}");
    assert_eq!(n(&c["message_failures"]), 0, "{c}");
    // The demo waits 3 ms before each echo.
    assert!(f(&c["rtt_ms"]["p50"]) >= 3.0, "{c}");
    assert_eq!(n(&c["closed"]), 50, "{c}");

    let (_, s) = run(
        dir.path(),
        r#"
[load]
mode = "connections"
traffic = "websocket"
target = 20
rate = 500
hold = "10s"
duration = "1800ms"

[demo]

[demo.echo]
close_after = "1s"
close_code = 4001
"#,
    );
    let c = &s["connections"];
    assert_eq!(n(&c["server_closed"]), 20, "{c}");
    assert_eq!(n(&c["close_codes"]["4001"]), 20, "{c}");
    assert!(
        (950.0..1300.0).contains(&f(&c["server_close_age_ms"]["p50"])),
        "{c}"
    );
    assert_eq!(n(&c["resets"]), 0, "{c}");
}

#[test]
fn bad_connections_profiles_are_refused_before_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let check = |text: &str| {
        let p = dir.path().join("bad.toml");
        std::fs::write(&p, text).unwrap();
        let o = Command::new(EXE).arg("check").arg(&p).output().unwrap();
        assert_eq!(
            o.status.code(),
            Some(2),
            "{}",
            String::from_utf8_lossy(&o.stdout)
        );
        String::from_utf8_lossy(&o.stderr).into_owned()
    };
    let e = check("[target]\nurl = \"tcp://127.0.0.1:9\"\n[load]\nmode = \"connections\"\ntarget = 10\nduration = \"1s\"\nproxy_protocol = \"v3\"\n");
    assert!(
        e.contains("bad.toml:7:18") && e.contains("use \"v1\" (text) or \"v2\""),
        "{e}"
    );
    let e = check("[target]\nurl = \"udp://127.0.0.1:9\"\n[load]\nmode = \"connections\"\ntarget = 10\nduration = \"1s\"\n");
    assert!(e.contains("unsupported scheme 'udp'"), "{e}");
    let e = check("[target]\nurl = \"http://127.0.0.1:9\"\n[load]\nmode = \"connections\"\ntarget = 10\nduration = \"1s\"\nmessage_interval = \"1s\"\n");
    assert!(e.contains("message_interval needs an echo"), "{e}");
    let e = check("[target]\nurl = \"tcp://127.0.0.1:9\"\n[[request]]\npath = \"/\"\n[load]\nmode = \"connections\"\ntarget = 10\nduration = \"1s\"\n");
    assert!(
        e.contains("bad.toml:3:1") && e.contains("sends no [[request]]"),
        "{e}"
    );
    let e = check("[target]\nurl = \"http://127.0.0.1:9\"\n[load]\nrate = 10\nduration = \"1s\"\nhold = \"1s\"\n");
    assert!(
        e.contains("load.hold belongs to mode = \"connections\""),
        "{e}"
    );
    let e =
        check("[target]\nurl = \"ws://127.0.0.1:9/chat\"\n[load]\nrate = 10\nduration = \"1s\"\n");
    assert!(e.contains("add mode = \"connections\""), "{e}");
}

#[test]
fn a_count_above_the_descriptor_limit_is_refused_before_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("many.toml");
    std::fs::write(
        &p,
        "[target]\nurl = \"tcp://127.0.0.1:9\"\n[load]\nmode = \"connections\"\ntarget = 5000\nduration = \"1s\"\n",
    )
    .unwrap();
    // A hard limit of 1024: rampdeck raises its soft limit to it, and
    // 5,000 connections still do not fit, so it says so and exits 2.
    let o = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "ulimit -n 1024 && exec {EXE} run {} --headless",
            p.display()
        ))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("5000 connections") && err.contains("1024"),
        "{err}"
    );
}

/// HAProxy in TCP mode in front of an echo, requiring a PROXY header
/// (`accept-proxy`); killed when dropped.
struct Haproxy {
    child: std::process::Child,
    port: u16,
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn haproxy(dir: &Path, backend: std::net::SocketAddr) -> Haproxy {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let cfg = dir.join("haproxy.cfg");
    std::fs::write(
        &cfg,
        format!(
            "global\n  maxconn 1000\ndefaults\n  mode tcp\n  timeout connect 2s\n  timeout client 10s\n  timeout server 10s\nfrontend f\n  bind 127.0.0.1:{port} accept-proxy\n  default_backend b\nbackend b\n  server echo {backend}\n"
        ),
    )
    .unwrap();
    let child = Command::new("haproxy")
        .arg("-db")
        .arg("-f")
        .arg(&cfg)
        .spawn()
        .expect("haproxy");
    // Listening once a connection is accepted.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "haproxy did not listen"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    Haproxy { child, port }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs haproxy (apt-get install haproxy)"]
async fn proxy_protocol_headers_are_accepted_by_a_real_haproxy() {
    let _g = SERIAL.lock().await;
    let demo = support::demo(vec![support::route("/")]).await;
    let dir = tempfile::tempdir().unwrap();
    let hp = haproxy(dir.path(), demo.addrs.echo);
    let profile = |proxy: &str| {
        format!(
            "[target]\nurl = \"tcp://127.0.0.1:{}\"\ntimeout = \"1s\"\n[load]\nmode = \"connections\"\ntarget = 20\nrate = 200\nduration = \"1500ms\"\nmessage_interval = \"200ms\"\n{proxy}\n",
            hp.port
        )
    };
    for version in ["v1", "v2"] {
        let (_, s) = run(
            dir.path(),
            &profile(&format!("proxy_protocol = \"{version}\"")),
        );
        let c = &s["connections"];
        // HAProxy passed every connection on to the echo: the header parsed.
        assert_eq!(n(&c["opened"]), 20, "{version}: {c}");
        assert!(n(&c["messages"]) >= 80, "{version}: {c}");
        assert_eq!(n(&c["message_failures"]), 0, "{version}: {c}");
        assert_eq!(
            n(&c["resets"]) + n(&c["server_closed"]),
            0,
            "{version}: {c}"
        );
    }
    // Without the header HAProxy drops the connection: no echo comes back.
    let (_, s) = run(dir.path(), &profile(""));
    let c = &s["connections"];
    assert_eq!(n(&c["messages"]), 0, "{c}");
    assert!(
        n(&c["resets"]) + n(&c["server_closed"]) + n(&c["message_failures"]) >= 20,
        "{c}"
    );
}

/// A real nginx in front of the demo's WebSocket echo, run from its own
/// prefix directory (stopped when dropped).
struct Nginx {
    dir: std::path::PathBuf,
    port: u16,
}

impl Nginx {
    fn start(dir: &Path, backend: std::net::SocketAddr) -> Nginx {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let d = dir.display();
        std::fs::create_dir_all(dir.join("tmp")).unwrap();
        std::fs::write(
            dir.join("nginx.conf"),
            format!(
                "pid {d}/nginx.pid;\nerror_log {d}/error.log;\nworker_processes 1;\n\
                 events {{ worker_connections 512; }}\n\
                 http {{\n  access_log off;\n  client_body_temp_path {d}/tmp;\n  proxy_temp_path {d}/tmp;\n\
                 fastcgi_temp_path {d}/tmp;\n  uwsgi_temp_path {d}/tmp;\n  scgi_temp_path {d}/tmp;\n\
                 server {{\n    listen 127.0.0.1:{port};\n    location / {{\n\
                 proxy_pass http://{backend};\n      proxy_http_version 1.1;\n\
                 proxy_set_header Upgrade $http_upgrade;\n      proxy_set_header Connection \"upgrade\";\n\
                 proxy_read_timeout 60s;\n    }}\n  }}\n}}\n"
            ),
        )
        .unwrap();
        let n = Nginx {
            dir: dir.to_owned(),
            port,
        };
        n.up();
        n
    }

    /// `nginx -p DIR -c DIR/nginx.conf ARGS...`, as a command action runs it.
    fn argv(&self, args: &[&str]) -> Vec<String> {
        let mut v = vec![
            "nginx".to_owned(),
            "-p".to_owned(),
            self.dir.display().to_string(),
            "-c".to_owned(),
            self.dir.join("nginx.conf").display().to_string(),
        ];
        v.extend(args.iter().map(|a| (*a).to_owned()));
        v
    }

    fn up(&self) {
        let argv = self.argv(&[]);
        let o = Command::new(&argv[0])
            .args(&argv[1..])
            .output()
            .expect("nginx");
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(std::time::Instant::now() < deadline, "nginx did not listen");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// A restart as a shell line: stop, wait for the old master to exit, start.
    fn restart_line(&self) -> String {
        let q = |v: Vec<String>| v.join(" ");
        format!(
            "{stop}; while [ -e {d}/nginx.pid ]; do sleep 0.05; done; {start}",
            stop = q(self.argv(&["-s", "stop"])),
            d = self.dir.display(),
            start = q(self.argv(&[]))
        )
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let argv = self.argv(&["-s", "stop"]);
        let _ = Command::new(&argv[0]).args(&argv[1..]).output();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs nginx (apt-get install nginx-light)"]
async fn websockets_through_nginx_survive_a_reload_and_a_restart_is_charged_to_its_firing() {
    let _g = SERIAL.lock().await;
    let demo = support::demo(vec![support::route("/")]).await;
    let dir = tempfile::tempdir().unwrap();
    let nginx = Nginx::start(&dir.path().join("nginx"), demo.addrs.gateway);
    let profile = |action: &str| {
        format!(
            "[target]\nurl = \"ws://127.0.0.1:{}/ws/echo\"\ntimeout = \"1s\"\n\
             [load]\nmode = \"connections\"\ntarget = 20\nrate = 200\nduration = \"5s\"\n\
             message = \"through nginx\"\nmessage_interval = \"200ms\"\n\
             [[route_action]]\nname = \"change\"\nkind = \"command\"\ncommand = {action}\nat = \"2s\"\n",
            nginx.port
        )
    };
    let toml_list = |v: Vec<String>| {
        format!(
            "[{}]",
            v.iter()
                .map(|a| format!("{a:?}"))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    // A graceful reload: the old worker keeps its upgraded connections.
    let (o, s) = run(
        dir.path(),
        &profile(&toml_list(nginx.argv(&["-s", "reload"]))),
    );
    let c = &s["connections"];
    let d = &s["route_actions"][0]["drops"];
    let phase = &s["route_actions"][0]["phase"];
    assert!(
        phase == "applied" || phase == "propagated",
        "{phase}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(n(&d["drops"]), 0, "{d}");
    assert_eq!(n(&c["server_closed"]) + n(&c["resets"]), 0, "{c}");
    assert_eq!(n(&c["message_failures"]), 0, "{c}");
    let said = |s: &serde_json::Value, what: &str| {
        s["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["message"].as_str().unwrap_or("").contains(what))
    };
    assert!(
        said(&s, "route change: no connection lost from -1 s to +5 s"),
        "{:#}",
        s["events"]
    );

    // A restart: every connection is lost at the change, charged to it,
    // and each is opened again once nginx is back.
    let restart = toml_list(vec!["sh".into(), "-c".into(), nginx.restart_line()]);
    let (o, s) = run(dir.path(), &profile(&restart));
    let c = &s["connections"];
    let d = &s["route_actions"][0]["drops"];
    let lost = n(&c["server_closed"]) + n(&c["resets"]);
    assert_eq!(
        n(&d["drops"]),
        20,
        "{d}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(lost, 20, "{c}");
    assert_eq!(n(&d["before"]), 0, "{d}");
    assert_eq!(n(&d["reconnected"]), 20, "{d}");
    assert_eq!(n(&c["reconnected"]), 20, "{c}");
    // The gap runs from the loss to the replacement's upgrade: at least
    // the time nginx was down, well under the window.
    let gap = &c["reconnect_ms"];
    assert!(f(&gap["p50"]) > 1.0 && f(&gap["max"]) < 3000.0, "{gap}");
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("20 connections lost to the change"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_connection_is_reopened_and_its_gap_timed_unless_reconnect_is_off() {
    let _g = SERIAL.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let profile = |reconnect: &str| {
        format!(
            "[load]\nmode = \"connections\"\ntraffic = \"websocket\"\ntarget = 10\nrate = 100\n\
             duration = \"1800ms\"\n{reconnect}\n[demo]\n[demo.echo]\nclose_after = \"1s\"\nclose_code = 1001\n"
        )
    };
    // The demo closes each connection at 1 s; each is opened again at
    // once (the open rate allows 100/s), so the gap is about 10 ms or less.
    let (_, s) = run(dir.path(), &profile(""));
    let c = &s["connections"];
    assert_eq!(n(&c["server_closed"]), 10, "{c}");
    assert_eq!(n(&c["reconnected"]), 10, "{c}");
    assert_eq!(n(&c["opened"]), 20, "{c}");
    assert!(f(&c["reconnect_ms"]["max"]) < 200.0, "{c}");
    // reconnect = false: they stay lost.
    let (_, s) = run(dir.path(), &profile("reconnect = false"));
    let c = &s["connections"];
    assert_eq!(n(&c["server_closed"]), 10, "{c}");
    assert_eq!((n(&c["opened"]), n(&c["reconnected"])), (10, 0), "{c}");
    assert!(c.get("reconnect_ms").is_none(), "{c}");
}
