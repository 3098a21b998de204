//! Test servers with known behaviour on 127.0.0.1, and helpers to build plans for them.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rampdeck::profile;
use rampdeck::spec::plan::Plan;
use rampdeck_demo::config::{DemoConfig, DemoRoute, LatencyModel, Stall};
use rampdeck_demo::DemoServer;
use tokio::io::AsyncReadExt;
use tokio::net::TcpListener;

/// Load tests share two cores; running them one at a time keeps each one's
/// numbers about the engine, not about its neighbours.
pub static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

pub fn route(prefix: &str) -> DemoRoute {
    DemoRoute {
        body_bytes: 16,
        ..DemoRoute::new(prefix)
    }
}

/// A demo gateway with these routes, served from the test's runtime.
pub async fn demo(routes: Vec<DemoRoute>) -> DemoServer {
    DemoServer::start(&DemoConfig {
        routes,
        ..Default::default()
    })
    .await
    .expect("bind 127.0.0.1")
}

pub fn fixed(prefix: &str, ms: u64) -> DemoRoute {
    DemoRoute {
        latency: LatencyModel::Fixed(Duration::from_millis(ms)),
        ..route(prefix)
    }
}

pub fn stalling(prefix: &str, every: Duration, duration: Duration) -> DemoRoute {
    DemoRoute {
        stall: Some(Stall { every, duration }),
        ..route(prefix)
    }
}

pub fn failing(prefix: &str, status: u16) -> DemoRoute {
    DemoRoute {
        error_rate: 1.0,
        error_status: status,
        ..route(prefix)
    }
}

/// A server that reads the request and then resets the connection (RST).
pub async fn resetting_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 1024];
                let _ = s.read(&mut buf).await;
                // Linger 0 turns the close into a reset.
                let _ = s.set_zero_linger();
                drop(s);
            });
        }
    });
    addr
}

/// A port with nothing listening on it.
pub async fn closed_port() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    addr
}

/// A plan from a profile body, with `[target] url` pointing at `addr`.
pub fn plan(addr: SocketAddr, body: &str) -> Arc<Plan> {
    let text = format!("[target]\nurl = \"http://{addr}\"\n{body}");
    Arc::new(profile::parse("test.toml", &text).unwrap_or_else(|e| panic!("{e}")))
}

/// A server that answers every request with `status` and `body`.
pub async fn fixed_server(status: u16, body: &'static str) -> SocketAddr {
    use hyper::service::service_fn;
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((s, _)) = listener.accept().await {
            let svc = service_fn(
                move |_req: hyper::Request<hyper::body::Incoming>| async move {
                    let mut r = hyper::Response::new(http_body_util::Full::new(
                        bytes::Bytes::from_static(body.as_bytes()),
                    ));
                    *r.status_mut() = hyper::StatusCode::from_u16(status).expect("status");
                    Ok::<_, std::convert::Infallible>(r)
                },
            );
            tokio::spawn(async move {
                let builder = hyper_util::server::conn::auto::Builder::new(
                    hyper_util::rt::TokioExecutor::new(),
                );
                let _ = builder
                    .serve_connection(hyper_util::rt::TokioIo::new(s), svc)
                    .await;
            });
        }
    });
    addr
}

/// A server that accepts connections and never answers.
pub async fn hanging_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = listener.accept().await {
            held.push(s);
        }
    });
    addr
}

/// The `summary.json` a run wrote into `dir`.
pub fn summary(dir: &std::path::Path) -> serde_json::Value {
    let path = dir.join("summary.json");
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The demo with `config`, and a kubeconfig for its simulated Kubernetes API
/// in a temporary directory (kept as long as the returned one lives).
pub async fn demo_with_kube(
    config: &DemoConfig,
) -> (DemoServer, tempfile::TempDir, std::path::PathBuf) {
    let demo = DemoServer::start(config).await.expect("bind 127.0.0.1");
    let dir = tempfile::tempdir().expect("temp dir");
    let kubeconfig = dir.path().join("kubeconfig");
    rampdeck_demo::kubeapi::kubeconfig::write_kubeconfig(
        &kubeconfig,
        demo.addrs.control,
        "rampdeck",
    )
    .expect("kubeconfig");
    (demo, dir, kubeconfig)
}

/// Runs the profile `text` headless with `--out DIR/out`; returns that directory.
pub async fn run_headless(name: &str, text: &str, dir: &std::path::Path) -> std::path::PathBuf {
    let plan = profile::parse(name, text).unwrap_or_else(|e| panic!("{e}"));
    let out = dir.join("out");
    rampdeck::headless::run(
        Arc::new(plan),
        &rampdeck::headless::Options {
            out: Some(out.clone()),
            ..Default::default()
        },
        rampdeck::signals::StopSignals::new(),
    )
    .await
    .expect("the run");
    out
}

/// What the server got: path and query, `x-user`, body.
pub type Seen = Arc<std::sync::Mutex<Vec<(String, String, String)>>>;

pub async fn recording_server() -> (SocketAddr, Seen) {
    use http_body_util::BodyExt;
    use hyper::service::service_fn;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let seen: Seen = Arc::default();
    let s = seen.clone();
    tokio::spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            let s = s.clone();
            let svc = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                let s = s.clone();
                async move {
                    let path = req
                        .uri()
                        .path_and_query()
                        .map_or(String::new(), |p| p.to_string());
                    let user = req
                        .headers()
                        .get("x-user")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("")
                        .to_owned();
                    let body = req
                        .into_body()
                        .collect()
                        .await
                        .map(|b| b.to_bytes())
                        .unwrap_or_default();
                    s.lock().unwrap().push((
                        path,
                        user,
                        String::from_utf8_lossy(&body).into_owned(),
                    ));
                    Ok::<_, std::convert::Infallible>(hyper::Response::new(
                        http_body_util::Full::new(bytes::Bytes::from_static(b"ok")),
                    ))
                }
            });
            tokio::spawn(async move {
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(sock), svc)
                    .await;
            });
        }
    });
    (addr, seen)
}

/// Reads one request head (up to the blank line) from a raw test server's
/// connection; None once the client closed it.
pub async fn read_head(s: &mut tokio::net::TcpStream) -> Option<String> {
    let mut buf = Vec::new();
    let mut b = [0u8; 4096];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = s.read(&mut b).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&b[..n]);
    }
    Some(String::from_utf8_lossy(&buf).into_owned())
}
