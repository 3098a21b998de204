//! The lean HTTP/1.1 path against hyper's: the same fault servers, run once with each client
//! (`[target] http1 = "lean" | "hyper"`), must be classified the same way: the same outcomes
//! (statuses and error kinds), the same successes, and no request lost or invented.

mod support;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};

async fn raw_server<F, Fut>(handle: F) -> SocketAddr
where
    F: Fn(TcpStream, usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let handle = Arc::new(handle);
    tokio::spawn(async move {
        let mut n = 0;
        while let Ok((s, _)) = listener.accept().await {
            n += 1;
            tokio::spawn(handle(s, n));
        }
    });
    addr
}

/// Answers every request on a connection with `bytes`; `close` ends the
/// connection after each answer.
async fn answering(bytes: Vec<u8>, close: bool) -> SocketAddr {
    let bytes: Arc<[u8]> = bytes.into();
    raw_server(move |mut s, _| {
        let bytes = bytes.clone();
        async move {
            while support::read_head(&mut s).await.is_some() {
                if s.write_all(&bytes).await.is_err() || close {
                    return;
                }
            }
        }
    })
    .await
}

fn ok(body: &str, extra: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 200 OK\r\n{extra}content-length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// What a run's outcomes were: each status and error kind seen, and the
/// totals.
#[derive(Debug, PartialEq)]
struct Seen {
    outcomes: BTreeSet<String>,
    any_ok: bool,
    all_ok: bool,
}

async fn run(addr: SocketAddr, client: &str, extra: &str) -> (Seen, u64, u64) {
    let plan = support::plan(
        addr,
        &format!(
            "http1 = \"{client}\"\n{}{extra}\n[load]\nconcurrency = 2\nduration = \"800ms\"\n",
            if extra.starts_with("timeout") {
                ""
            } else {
                "timeout = \"500ms\"\n"
            }
        ),
    );
    let (r, _) = rampdeck::engine::run_to_end(plan).await.expect("the run");
    let t = &r.totals;
    let mut outcomes: BTreeSet<String> = t
        .status_list()
        .into_iter()
        .map(|(s, _)| format!("status {s}"))
        .collect();
    outcomes.extend(t.error_list().into_iter().map(|(k, _)| k.name().to_owned()));
    (
        Seen {
            outcomes,
            any_ok: t.ok > 0,
            all_ok: t.ok == t.finished,
        },
        t.finished,
        r.sent,
    )
}

async fn same(name: &str, addr: SocketAddr, extra: &str) -> Seen {
    let (lean, lean_done, lean_sent) = run(addr, "lean", extra).await;
    let (hyper, hyper_done, hyper_sent) = run(addr, "hyper", extra).await;
    assert_eq!(lean, hyper, "{name}: lean vs hyper");
    // Every request sent finished, one way or another, on both.
    assert_eq!(lean_done, lean_sent, "{name}: lean lost requests");
    assert_eq!(hyper_done, hyper_sent, "{name}: hyper lost requests");
    assert!(lean_done > 0, "{name}: nothing ran");
    lean
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fault_servers_are_classified_the_same_by_both_clients() {
    let _serial = support::SERIAL.lock().await;
    // Resets after reading the request.
    let s = same("reset", support::resetting_server().await, "").await;
    assert_eq!(s.outcomes, BTreeSet::from(["reset".to_owned()]));
    // Garbage instead of a response.
    let s = same(
        "garbage",
        answering(b"HELLO THERE\r\n\r\n".to_vec(), false).await,
        "",
    )
    .await;
    assert_eq!(s.outcomes, BTreeSet::from(["protocol".to_owned()]));
    // Never answers.
    let s = same("hang", support::hanging_server().await, "").await;
    assert_eq!(s.outcomes, BTreeSet::from(["timeout".to_owned()]));
    // Connection: close after every answer.
    let s = same(
        "close",
        answering(ok("ok", "connection: close\r\n"), true).await,
        "",
    )
    .await;
    assert!(s.all_ok, "{s:?}");
    // An interim 100 Continue before the answer.
    let mut cont = b"HTTP/1.1 100 Continue\r\n\r\n".to_vec();
    cont.extend(ok("ok", ""));
    let s = same("1xx", answering(cont, false).await, "").await;
    assert!(s.all_ok, "{s:?}");
    // A 1xx flood.
    let flood = b"HTTP/1.1 102 Processing\r\n\r\n".repeat(50);
    let s = same("1xx flood", answering(flood, false).await, "").await;
    assert_eq!(s.outcomes, BTreeSet::from(["protocol".to_owned()]));
    // Chunked with trailers, and a check that reads the body.
    let chunked = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\nx-trailer: 1\r\n\r\n".to_vec();
    let s = same(
        "chunked",
        answering(chunked, false).await,
        "[[request]]\npath = \"/\"\nexpect = { body_contains = \"hello world\" }",
    )
    .await;
    assert!(s.all_ok, "{s:?}");
    // A body cut short by the server closing.
    let short = b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nonly this".to_vec();
    let s = same("short body", answering(short, true).await, "").await;
    assert_eq!(s.outcomes, BTreeSet::from(["body".to_owned()]));
    // Too many headers.
    let mut big = String::from("HTTP/1.1 200 OK\r\n");
    for i in 0..300 {
        big.push_str(&format!("x-h{i}: v\r\n"));
    }
    big.push_str("content-length: 0\r\n\r\n");
    let s = same("300 headers", answering(big.into_bytes(), false).await, "").await;
    assert_eq!(s.outcomes, BTreeSet::from(["protocol".to_owned()]));
    // HTTP/1.0, the body ending with the connection.
    let old = b"HTTP/1.0 200 OK\r\n\r\nold style".to_vec();
    let s = same("http/1.0", answering(old, true).await, "").await;
    assert!(s.all_ok, "{s:?}");
    // A status outside 100-599 is kept.
    let odd = b"HTTP/1.1 999 Odd\r\ncontent-length: 0\r\n\r\n".to_vec();
    let s = same("status 999", answering(odd, false).await, "").await;
    assert_eq!(s.outcomes, BTreeSet::from(["status 999".to_owned()]));
    // A header check on a header the server sends.
    let s = same(
        "header check",
        answering(ok("ok", "x-backend: echo-v1\r\n"), false).await,
        "[[request]]\npath = \"/\"\nexpect = { header = { \"x-backend\" = \"echo-v2\" } }",
    )
    .await;
    assert_eq!(s.outcomes, BTreeSet::from(["check".to_owned()]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn servers_that_close_idle_connections_cost_no_request_on_either_client() {
    let _serial = support::SERIAL.lock().await;
    // Each connection answers one request, then closes after a short idle:
    // a keep-alive reuse then races the close, and the request goes again.
    let addr = raw_server(|mut s, _| async move {
        if support::read_head(&mut s).await.is_some() {
            let _ = s.write_all(&ok("ok", "")).await;
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    })
    .await;
    let s = same("idle close", addr, "").await;
    assert!(s.all_ok, "{s:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_and_large_bodies_are_read_whole_by_both() {
    let _serial = support::SERIAL.lock().await;
    // Trickled: 200 bytes, 20 at a time.
    let trickle = raw_server(|mut s, _| async move {
        while support::read_head(&mut s).await.is_some() {
            if s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 200\r\n\r\n")
                .await
                .is_err()
            {
                return;
            }
            for _ in 0..10 {
                tokio::time::sleep(Duration::from_millis(5)).await;
                if s.write_all(&[b'x'; 20]).await.is_err() {
                    return;
                }
            }
        }
    })
    .await;
    let s = same("trickle", trickle, "").await;
    assert!(s.all_ok, "{s:?}");
    // 20 MB.
    let body = vec![b'y'; 20 * 1024 * 1024];
    let mut big = format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n", body.len()).into_bytes();
    big.extend_from_slice(&body);
    let s = same("20 MB", answering(big, false).await, "timeout = \"10s\"").await;
    assert!(s.all_ok, "{s:?}");
}
