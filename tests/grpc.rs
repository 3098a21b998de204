//! gRPC unary load: outcomes by grpc-status against the demo echo (OK, an injected UNAVAILABLE, DEADLINE_EXCEEDED), a real grpcio server, the ad-hoc grpc:// run, and refused profiles.

mod support;

use std::io::BufRead;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::Ordering;

use support::SERIAL;

const EXE: &str = env!("CARGO_BIN_EXE_rampdeck");

fn descriptor() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("assets/grpc/echo.pb")
        .display()
        .to_string()
}

/// A closed-loop gRPC plan against `addr` sending `message` for `calls` calls.
fn profile(addr: SocketAddr, timeout: &str, message: &str, load: &str) -> String {
    format!(
        r#"
[target]
url = "http://{addr}"
timeout = "{timeout}"

[[request]]
kind = "grpc"
name = "say"
service = "rampdeck.demo.Echo"
method = "Say"
descriptor_set = "{}"
message = '{message}'
metadata = {{ "x-client" = "test" }}

[load]
{load}
"#,
        descriptor()
    )
}

async fn run(dir: &Path, text: &str) -> serde_json::Value {
    let name = dir.join("g.toml");
    let out = support::run_headless(name.to_str().unwrap(), text, dir).await;
    support::summary(&out)
}

fn n(v: &serde_json::Value) -> u64 {
    v.as_u64().unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_succeed_and_failures_are_counted_by_grpc_code() {
    let _g = SERIAL.lock().await;
    let mut unavailable = support::route("/");
    unavailable.error_rate = 0.25;
    unavailable.error_status = 503;
    let demo = support::demo(vec![unavailable]).await;
    let dir = tempfile::tempdir().unwrap();
    let text = profile(
        demo.addrs.gateway,
        "2s",
        r#"{"text": "hi", "seq": {{seq}}}"#,
        "concurrency = 4\nduration = \"1500ms\"",
    );
    let s = run(dir.path(), &text).await;
    let requests = n(&s["requests"]);
    let ok = n(&s["ok"]);
    let unavailable = n(&s["errors"]["grpc_unavailable"]);
    assert!(requests > 200, "{s}");
    assert_eq!(ok + unavailable, requests, "{s}");
    // The demo's own count of what it failed equals rampdeck's.
    let c = &demo.gateway.counters[0];
    assert_eq!(c.errors.load(Ordering::Relaxed), unavailable, "{s}");
    assert_eq!(c.ok.load(Ordering::Relaxed), ok, "{s}");
    let share = unavailable as f64 / requests as f64;
    assert!((0.18..0.32).contains(&share), "{share} {s}");
    let msg = s["error_messages"]["grpc_unavailable"]
        .as_str()
        .unwrap_or("");
    assert!(msg.contains("UNAVAILABLE: injected failure"), "{s}");
    // The failed calls were HTTP 200s too: their outcome is the grpc-status.
    assert_eq!(n(&s["status_codes"]["200"]), ok, "{s}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_past_its_deadline_is_deadline_exceeded_at_the_deadline() {
    let _g = SERIAL.lock().await;
    let demo = support::demo(vec![support::fixed("/", 400)]).await;
    let dir = tempfile::tempdir().unwrap();
    let text = profile(
        demo.addrs.gateway,
        "100ms",
        r#"{"text": "slow"}"#,
        "concurrency = 2\nduration = \"1s\"",
    );
    let s = run(dir.path(), &text).await;
    let requests = n(&s["requests"]);
    assert!(requests >= 10, "{s}");
    assert_eq!(n(&s["errors"]["grpc_deadline_exceeded"]), requests, "{s}");
    assert_eq!(n(&s["ok"]), 0, "{s}");
    // The server's own answer (it honoured grpc-timeout), at about 100 ms.
    let msg = s["error_messages"]["grpc_deadline_exceeded"]
        .as_str()
        .unwrap_or("");
    assert!(msg.contains("grpc-status 4 DEADLINE_EXCEEDED"), "{s}");
    let p50 = s["error_latency_ms"]["p50"].as_f64().unwrap_or(0.0);
    assert!((95.0..160.0).contains(&p50), "{p50} {s}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_method_is_unimplemented() {
    let _g = SERIAL.lock().await;
    let demo = support::demo(vec![support::route("/")]).await;
    let dir = tempfile::tempdir().unwrap();
    // message_file: raw bytes, no descriptor, so any method name goes.
    std::fs::write(dir.path().join("m.bin"), b"\x0a\x02hi").unwrap();
    let text = format!(
        r#"
[target]
url = "http://{}"

[[request]]
kind = "grpc"
service = "rampdeck.demo.Echo"
method = "Shout"
message_file = "m.bin"

[load]
concurrency = 1
duration = "300ms"
"#,
        demo.addrs.gateway
    );
    let s = run(dir.path(), &text).await;
    assert!(n(&s["requests"]) > 0, "{s}");
    assert_eq!(
        n(&s["errors"]["grpc_unimplemented"]),
        n(&s["requests"]),
        "{s}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ad_hoc_grpc_url_run_sends_the_data_message() {
    let _g = SERIAL.lock().await;
    let demo = support::demo(vec![support::route("/")]).await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let url = format!("grpc://{}/rampdeck.demo.Echo/Say", demo.addrs.gateway);
    let o = tokio::process::Command::new(EXE)
        .args(["run", &url, "--descriptor-set", &descriptor()])
        .args([
            "--data",
            r#"{"text": "adhoc"}"#,
            "--headless",
            "--concurrency",
            "2",
        ])
        .args(["--duration", "1s", "--out"])
        .arg(&out)
        .output()
        .await
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let s = support::summary(&out);
    assert!(n(&s["requests"]) > 20, "{s}");
    assert_eq!(n(&s["ok"]), n(&s["requests"]), "{s}");
    // A field the message type lacks is refused before any call, exit 2.
    let o = Command::new(EXE)
        .args(["run", &url, "--descriptor-set", &descriptor()])
        .args(["--data", r#"{"txt": "x"}"#, "--headless"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("--data") && err.contains("txt"), "{err}");
}

#[test]
fn bad_grpc_requests_are_refused_with_their_place() {
    let dir = tempfile::tempdir().unwrap();
    let check = |body: &str| {
        let p = dir.path().join("bad.toml");
        std::fs::write(
            &p,
            format!("[target]\nurl = \"http://127.0.0.1:9\"\n\n[[request]]\nkind = \"grpc\"\n{body}\n[load]\nrate = 1\nduration = \"1s\"\n"),
        )
        .unwrap();
        let o = Command::new(EXE).arg("check").arg(&p).output().unwrap();
        assert_eq!(o.status.code(), Some(2));
        String::from_utf8_lossy(&o.stderr).into_owned()
    };
    let ds = descriptor();
    let e = check(&format!(
        "service = \"Echo\"\nmethod = \"Say\"\ndescriptor_set = \"{ds}\"\n"
    ));
    assert!(
        e.contains("bad.toml:6:11") && e.contains("it has: rampdeck.demo.Echo"),
        "{e}"
    );
    let e = check(&format!(
        "service = \"rampdeck.demo.Echo\"\nmethod = \"Say\"\ndescriptor_set = \"{ds}\"\nmessage = '{{\"txt\": 1}}'\n"
    ));
    assert!(e.contains("request[0].message") && e.contains("txt"), "{e}");
    let e = check("service = \"rampdeck.demo.Echo\"\nmethod = \"Say\"\npath = \"/x\"\n");
    assert!(
        e.contains("request[0].path does not apply to kind = \"grpc\""),
        "{e}"
    );
    let e = check("service = \"rampdeck.demo.Echo\"\nmethod = \"Say\"\nmessage = '{}'\n");
    assert!(e.contains("descriptor_set"), "{e}");
    // An unknown placeholder is refused, as in an HTTP body, not sent literally.
    let e = check(&format!(
        "service = \"rampdeck.demo.Echo\"\nmethod = \"Say\"\ndescriptor_set = \"{ds}\"\nmessage = '{{\"text\": \"{{{{nope}}}}\"}}'\n"
    ));
    assert!(
        e.contains("request[0].message") && e.contains("unknown placeholder 'nope'"),
        "{e}"
    );
}

/// The Python grpcio echo server (tests/fixtures/grpc/echo_server.py), its
/// port and the log of the calls it served.
struct Grpcio {
    child: std::process::Child,
    port: u16,
    log: std::path::PathBuf,
}

impl Drop for Grpcio {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn grpcio(dir: &Path) -> Grpcio {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/grpc/echo_server.py");
    let log = dir.join("calls.log");
    let mut child = Command::new("python3")
        .arg(script)
        .arg(&log)
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3");
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port = line
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("no port from the grpcio server: {line:?}"));
    Grpcio { child, port, log }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs grpcio (pip install grpcio)"]
async fn a_real_grpcio_server_answers_the_same_calls() {
    let _g = SERIAL.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let server = grpcio(dir.path());
    let addr: SocketAddr = format!("127.0.0.1:{}", server.port).parse().unwrap();
    // Every 10th call asks to fail; seq makes each call distinct.
    let text = profile(
        addr,
        "2s",
        r#"{"text": "{{rand_choice("ok", "ok", "ok", "ok", "ok", "ok", "ok", "ok", "ok", "fail")}}", "seq": {{seq}}}"#,
        "rate = 200\nduration = \"2s\"\nseed = 4",
    );
    let s = run(dir.path(), &text).await;
    let requests = n(&s["requests"]);
    assert_eq!(requests, 400, "{s}");
    let log = std::fs::read_to_string(&server.log).unwrap();
    let calls: Vec<(u64, &str)> = log
        .lines()
        .map(|l| {
            let (seq, text) = l.split_once(' ').unwrap();
            (seq.parse().unwrap(), text)
        })
        .collect();
    // The server decoded every message: each seq once, 0..400.
    let mut seqs: Vec<u64> = calls.iter().map(|c| c.0).collect();
    seqs.sort_unstable();
    assert_eq!(seqs, (0..400).collect::<Vec<_>>());
    let failed = calls.iter().filter(|c| c.1 == "fail").count() as u64;
    assert!(failed > 10, "{failed}");
    assert_eq!(n(&s["errors"]["grpc_unavailable"]), failed, "{s}");
    assert_eq!(n(&s["ok"]), requests - failed, "{s}");
    let msg = s["error_messages"]["grpc_unavailable"]
        .as_str()
        .unwrap_or("");
    assert!(msg.contains("asked to fail"), "{s}");
}

/// An HTTP/2 server whose every gRPC reply is `body` then `grpc-status: 0`
/// in trailers (`encoding`: a grpc-encoding header to send).
async fn raw_grpc_server(body: &'static [u8], encoding: Option<&'static str>) -> SocketAddr {
    raw_grpc_server_with(body, encoding, None).await
}

/// As `raw_grpc_server`, with a `(grpc-status, grpc-message)` in the trailers.
async fn raw_grpc_server_with(
    body: &'static [u8],
    encoding: Option<&'static str>,
    status: Option<(&'static str, String)>,
) -> SocketAddr {
    use http_body_util::StreamBody;
    use hyper::body::Frame;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((s, _)) = listener.accept().await {
            let status = status.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |_req| {
                    let status = status.clone();
                    async move {
                        let mut trailers = http::HeaderMap::new();
                        match status {
                            Some((code, message)) => {
                                trailers
                                    .insert("grpc-status", http::HeaderValue::from_static(code));
                                trailers.insert(
                                    "grpc-message",
                                    http::HeaderValue::try_from(message).unwrap(),
                                );
                            }
                            None => {
                                trailers.insert("grpc-status", http::HeaderValue::from_static("0"));
                            }
                        }
                        let mut frames: Vec<Result<Frame<bytes::Bytes>, std::convert::Infallible>> =
                            Vec::new();
                        if !body.is_empty() {
                            frames.push(Ok(Frame::data(bytes::Bytes::from_static(body))));
                        }
                        frames.push(Ok(Frame::trailers(trailers)));
                        let mut resp = hyper::Response::new(StreamBody::new(
                            futures_util::stream::iter(frames),
                        ));
                        resp.headers_mut().insert(
                            "content-type",
                            http::HeaderValue::from_static("application/grpc"),
                        );
                        if let Some(e) = encoding {
                            resp.headers_mut()
                                .insert("grpc-encoding", http::HeaderValue::from_static(e));
                        }
                        Ok::<_, std::convert::Infallible>(resp)
                    }
                });
                let _ =
                    hyper::server::conn::http2::Builder::new(hyper_util::rt::TokioExecutor::new())
                        .serve_connection(hyper_util::rt::TokioIo::new(s), svc)
                        .await;
            });
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_reply_frames_are_protocol_errors_not_ok() {
    let _g = SERIAL.lock().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("m.bin"), b"\x0a\x02hi").unwrap();
    let cases: [(&'static [u8], Option<&'static str>, &str); 5] = [
        (
            b"\0\xff\xff\xff\xffabc",
            None,
            "prefix says 4294967295 bytes, 3 came",
        ),
        (b"\0\0", None, "2 of its 5 bytes"),
        (b"\x01\0\0\0\x02hi", None, "no grpc-encoding"),
        (b"", None, "status OK with 0 messages"),
        (b"\0\0\0\0\x02hi", None, ""),
    ];
    for (body, encoding, needle) in cases {
        let addr = raw_grpc_server(body, encoding).await;
        let text = format!(
            "[target]\nurl = \"http://{addr}\"\n[[request]]\nkind = \"grpc\"\nservice = \"a.B\"\nmethod = \"C\"\nmessage_file = \"m.bin\"\n[load]\nconcurrency = 1\nduration = \"300ms\"\n"
        );
        let s = run(dir.path(), &text).await;
        let requests = n(&s["requests"]);
        assert!(requests > 0, "{s}");
        if needle.is_empty() {
            assert_eq!(n(&s["ok"]), requests, "a well-formed reply is OK: {s}");
            continue;
        }
        assert_eq!(n(&s["ok"]), 0, "{needle}: {s}");
        assert_eq!(n(&s["errors"]["protocol"]), requests, "{needle}: {s}");
        assert!(s.to_string().contains(needle), "wanted '{needle}' in {s}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_status_message_is_named_not_taken_for_silence() {
    let _g = SERIAL.lock().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("m.bin"), b"\x0a\x02hi").unwrap();
    // A 20 KB message (past h2's 16 KB default) is read; a 200 KB one is
    // past rampdeck's limit and says so, at once, not at the deadline.
    for (size, kind, needle) in [
        (20_000, "grpc_internal", "xxxx"),
        (200_000, "protocol", "larger than rampdeck reads"),
    ] {
        let addr = raw_grpc_server_with(b"", None, Some(("13", "x".repeat(size)))).await;
        let text = format!(
            "[target]\nurl = \"http://{addr}\"\ntimeout = \"2s\"\n[[request]]\nkind = \"grpc\"\nservice = \"a.B\"\nmethod = \"C\"\nmessage_file = \"m.bin\"\n[load]\nconcurrency = 1\nduration = \"300ms\"\n"
        );
        let s = run(dir.path(), &text).await;
        let requests = n(&s["requests"]);
        assert!(
            requests > 1,
            "answered at once, not at the 2 s deadline: {s}"
        );
        assert_eq!(n(&s["errors"][kind]), requests, "{size}: {s}");
        let msg = s["error_messages"][kind].as_str().unwrap_or("");
        assert!(msg.contains(needle), "{size}: {msg}");
        assert!(msg.len() < 1_000, "{size}: the message is cut short");
    }
}
