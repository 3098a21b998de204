//! Requests that vary: templates and `[[data]]` feeders against a server that records what it gets.

mod support;

use std::net::SocketAddr;
use std::process::Command;
use std::sync::{Arc, Mutex};

use support::{recording_server, SERIAL};

/// The `{{seq}}` in a recorded `/item/SEQ?...` path.
fn seq_of(path: &str) -> u64 {
    path.split('/')
        .nth(2)
        .and_then(|p| p.split('?').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("not an /item/SEQ path: {path}"))
}

fn users(dir: &std::path::Path, n: usize) {
    let mut csv = String::from("user,team\n");
    for i in 0..n {
        csv.push_str(&format!("u{i},\"team, {}\"\n", i % 3));
    }
    std::fs::write(dir.join("users.csv"), csv).unwrap();
}

async fn run(dir: &std::path::Path, addr: SocketAddr, body: &str) -> serde_json::Value {
    // Named inside `dir`, so its [[data]] files are found beside it.
    let name = dir.join("t.toml");
    let text = format!("[target]\nurl = \"http://{addr}\"\n{body}");
    let out = support::run_headless(name.to_str().unwrap(), &text, dir).await;
    support::summary(&out)
}

const REQUEST: &str = r#"
[[request]]
name = "item"
method = "POST"
path = "/item/{{seq}}?team={{data.team}}&r={{rand_int(1, 9)}}"
headers = { x-user = "{{data.user}}" }
body = '{"id": "{{uuid}}", "user": "{{data.user}}", "agent": {{agent}}}'
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seq_rows_in_order_and_stop_after_the_last_row() {
    let _g = SERIAL.lock().await;
    let (addr, seen) = recording_server().await;
    let dir = tempfile::tempdir().unwrap();
    users(dir.path(), 50);
    let v = run(
        dir.path(),
        addr,
        &format!("[load]\nrate = 200\nduration = \"5s\"\n[[data]]\nfile = \"users.csv\"\non_end = \"stop\"\n{REQUEST}"),
    )
    .await;
    let mut got = seen.lock().unwrap().clone();
    assert_eq!(got.len(), 50, "one request per row, then the run ends");
    assert_eq!(v["sent"], 50);
    assert_eq!(
        v["not_sent"], 0,
        "slots past the last row are not 'not sent': {v:#}"
    );
    assert!(
        v["duration_s"].as_f64().unwrap() < 1.0,
        "it ended at the last row"
    );
    got.sort_by_key(|(p, _, _)| seq_of(p));
    for (i, (path, user, body)) in got.iter().enumerate() {
        assert!(
            path.starts_with(&format!("/item/{i}?team=team,%20{}&r=", i % 3)),
            "{path}"
        );
        assert_eq!(user, &format!("u{i}"));
        let b: serde_json::Value = serde_json::from_str(body).expect("the body is JSON");
        assert_eq!(b["user"], format!("u{i}"));
        assert_eq!(b["agent"], 0);
        assert_eq!(b["id"].as_str().unwrap().len(), 36);
    }
    let events = v["events"].as_array().unwrap();
    assert!(events
        .iter()
        .any(|e| e["message"].as_str().unwrap().contains("rows ran out")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_seed_sends_the_same_requests_and_another_seed_others() {
    let _g = SERIAL.lock().await;
    let dir = tempfile::tempdir().unwrap();
    users(dir.path(), 20);
    let mut runs = Vec::new();
    for seed in [5, 5, 6] {
        let (addr, seen) = recording_server().await;
        run(
            dir.path(),
            addr,
            &format!("[load]\nrate = 100\nduration = \"5s\"\nseed = {seed}\n[[data]]\nfile = \"users.csv\"\norder = \"shuffle\"\non_end = \"stop\"\n{REQUEST}"),
        )
        .await;
        let mut got = seen.lock().unwrap().clone();
        got.sort_by_key(|(p, _, _)| seq_of(p));
        runs.push(
            got.into_iter()
                .map(|(p, u, _)| format!("{p} {u}"))
                .collect::<Vec<_>>(),
        );
    }
    assert_eq!(runs[0].len(), 20);
    assert_eq!(
        runs[0], runs[1],
        "seed 5 twice: the same requests in the same slots"
    );
    assert_ne!(runs[0], runs[2], "seed 6 shuffles otherwise");
    let mut users: Vec<&str> = runs[0]
        .iter()
        .map(|l| l.rsplit(' ').next().unwrap())
        .collect();
    users.sort();
    users.dedup();
    assert_eq!(users.len(), 20, "a shuffle uses every row once");
}

fn check(dir: &std::path::Path, body: &str) -> (i32, String) {
    let path = dir.join("bad.toml");
    std::fs::write(
        &path,
        format!(
            "[target]\nurl = \"http://127.0.0.1:9\"\n[load]\nrate = 1\nduration = \"1s\"\n{body}"
        ),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_rampdeck"))
        .args(["check", path.to_str().unwrap()])
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout),
    )
}

#[test]
fn bad_templates_and_data_files_are_refused_with_where_and_what() {
    let dir = tempfile::tempdir().unwrap();
    users(dir.path(), 3);
    std::fs::write(dir.path().join("broken.csv"), "a,b\n1,2\n3\n").unwrap();
    for (body, want) in [
        (
            "[[request]]\npath = \"/x/{{sequence}}\"\n",
            "request[0].path: unknown placeholder 'sequence'",
        ),
        (
            "[[request]]\npath = \"/x/{{rand_int(9, 1)}}\"\n",
            "the first bound must not be above the second",
        ),
        ("[[request]]\npath = \"/x/{{seq\"\n", "'{{' is not closed"),
        (
            "[[data]]\nfile = \"users.csv\"\n[[request]]\npath = \"/x/{{data.email}}\"\n",
            "no [[data]] file has a column 'email' (columns: user, team in",
        ),
        (
            "[[data]]\nfile = \"broken.csv\"\n[[request]]\npath = \"/x/{{data.a}}\"\n",
            "broken.csv:3: has 1 fields; the header has 2",
        ),
        (
            "[[data]]\nfile = \"missing.csv\"\n[[request]]\npath = \"/\"\n",
            "data[0].file: cannot read",
        ),
        (
            "[[data]]\nfile = \"users.csv\"\norder = \"backwards\"\n[[request]]\npath = \"/\"\n",
            "data[0].order: 'backwards' is not an order",
        ),
        (
            "[[request]]\npath = \"/\"\nheaders = { x-a = \"{{uuid(3)}}\" }\n",
            "request[0].headers.x-a: uuid takes no arguments",
        ),
    ] {
        let (code, text) = check(dir.path(), body);
        assert_eq!(code, 2, "{body}: {text}");
        assert!(text.contains(want), "{body}: want '{want}' in:\n{text}");
        assert!(
            text.contains("bad.toml:"),
            "names the file and line: {text}"
        );
    }
}

/// Answers `/checked` with `x-backend: v1` (the wrong one) to every tenth
/// request and `v2` otherwise, `/body` with "ok" or, every fifth, "nope";
/// counts the wrong answers it gave.
async fn mixed_server() -> (SocketAddr, Arc<Mutex<(u64, u64)>>) {
    use hyper::service::service_fn;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let counts: Arc<Mutex<(u64, u64)>> = Arc::default();
    let wrong: Arc<Mutex<(u64, u64)>> = Arc::default();
    let (c2, w2) = (counts.clone(), wrong.clone());
    tokio::spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            let (c, w) = (c2.clone(), w2.clone());
            let svc = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                let (c, w) = (c.clone(), w.clone());
                async move {
                    let mut r = hyper::Response::builder();
                    let body: &'static [u8] = if req.uri().path() == "/checked" {
                        let n = {
                            let mut g = c.lock().unwrap();
                            g.0 += 1;
                            g.0
                        };
                        let bad = n % 10 == 0;
                        if bad {
                            w.lock().unwrap().0 += 1;
                        }
                        r = r.header("x-backend", if bad { "v1" } else { "v2" });
                        b"ok"
                    } else {
                        let n = {
                            let mut g = c.lock().unwrap();
                            g.1 += 1;
                            g.1
                        };
                        if n % 5 == 0 {
                            w.lock().unwrap().1 += 1;
                            b"nope"
                        } else {
                            b"all ok"
                        }
                    };
                    Ok::<_, std::convert::Infallible>(
                        r.body(http_body_util::Full::new(bytes::Bytes::from_static(body)))
                            .unwrap(),
                    )
                }
            });
            tokio::spawn(async move {
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(sock), svc)
                    .await;
            });
        }
    });
    (addr, wrong)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_checks_count_as_check_failures_of_their_request() {
    let _g = SERIAL.lock().await;
    let (addr, wrong) = mixed_server().await;
    let dir = tempfile::tempdir().unwrap();
    let v = run(
        dir.path(),
        addr,
        r#"[load]
rate = 400
duration = "3s"
[[request]]
name = "checked"
path = "/checked"
expect = { status = [200], header = { x-backend = "v2" } }
[[request]]
name = "body"
path = "/body"
expect = { body_contains = "ok", body_max_bytes = 16 }
"#,
    )
    .await;
    let (bad_header, bad_body) = *wrong.lock().unwrap();
    assert!(bad_header > 40 && bad_body > 80, "{bad_header} {bad_body}");
    assert_eq!(v["checks"]["checked"], bad_header, "{:#}", v["checks"]);
    assert_eq!(v["checks"]["body"], bad_body);
    assert_eq!(v["errors"]["check"], bad_header + bad_body);
    assert_eq!(v["failed"], bad_header + bad_body);
    let msg = v["error_messages"]["check"].as_str().unwrap();
    assert!(
        msg.contains("'checked': header x-backend was 'v1', expected 'v2'")
            || msg.contains("'body': body does not contain 'ok'"),
        "{msg}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_data_values_are_encoded_for_where_they_go() {
    let _g = SERIAL.lock().await;
    let (addr, seen) = recording_server().await;
    let dir = tempfile::tempdir().unwrap();
    // A spreadsheet's BOM, a quote, angle brackets and a JSON object.
    std::fs::write(
        dir.path().join("odd.jsonl"),
        "\u{feff}{\"user\": \"a\\\"b <x>\", \"doc\": {\"k\": 1}}\n{\"user\": \"c&d=e f\", \"doc\": [1, 2]}\n",
    )
    .unwrap();
    let s = run(
        dir.path(),
        addr,
        r#"
[[data]]
file = "odd.jsonl"
[[request]]
method = "POST"
path = "/u/{{data.user}}?q={{data.user}}"
headers = { x-user = "{{data.user}}", content-type = "application/json" }
body = '{"user": "{{data.user}}", "doc": {{data.doc}}, "as_text": "{{data.doc}}"}'
[load]
rate = 20
duration = "1s"
"#,
    )
    .await;
    assert_eq!(
        s["ok"], s["requests"],
        "every request sent and answered: {s}"
    );
    assert!(s["errors"].get("template").is_none(), "{s}");
    let seen = seen.lock().unwrap();
    assert!(seen.len() >= 15, "{}", seen.len());
    for (path, user, body) in seen.iter() {
        let v: serde_json::Value =
            serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"));
        let u = v["user"].as_str().unwrap();
        assert!(u == "a\"b <x>" || u == "c&d=e f", "{body}");
        assert_eq!(user, u, "the header carries the value as it is");
        assert!(v["doc"].is_object() || v["doc"].is_array(), "{body}");
        assert!(v["as_text"].is_string(), "{body}");
        if u.starts_with('a') {
            assert_eq!(path, "/u/a%22b%20%3Cx%3E?q=a%22b%20%3Cx%3E", "{path}");
        } else {
            // `&` and `=` are the query's own: a value keeps them (a list of URLs replays).
            assert_eq!(path, "/u/c&d=e%20f?q=c&d=e%20f", "{path}");
        }
    }
}

#[test]
fn a_bom_is_not_a_column_name_and_a_column_named_twice_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("bom.csv"), "\u{feff}user,team\nu1,t1\n").unwrap();
    std::fs::write(dir.path().join("twice.csv"), "user,user\nu1,u2\n").unwrap();
    std::fs::write(dir.path().join("ctl.csv"), "user\n\"a\u{1}b\"\n").unwrap();
    let (code, text) = check(
        dir.path(),
        "[[data]]\nfile = \"bom.csv\"\n[[request]]\npath = \"/x/{{data.user}}\"\n",
    );
    assert_eq!(code, 0, "{text}");
    let (code, text) = check(
        dir.path(),
        "[[data]]\nfile = \"twice.csv\"\n[[request]]\npath = \"/x/{{data.user}}\"\n",
    );
    assert_eq!(code, 2, "{text}");
    assert!(
        text.contains("twice.csv:1: the column 'user' is named twice"),
        "{text}"
    );
    let (code, text) = check(
        dir.path(),
        "[[data]]\nfile = \"ctl.csv\"\n[[request]]\npath = \"/x/{{data.user}}\"\n",
    );
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("ctl.csv:2: column 'user'"), "{text}");
}
