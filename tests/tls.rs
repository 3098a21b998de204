//! TLS: verification is on by default (a self-signed gateway fails as `tls`), `insecure`
//! opts out, and HTTP/2 is negotiated by ALPN.

mod support;

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper::Response;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rampdeck::engine;
use rampdeck::stats::ErrorKind;
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::net::TcpListener;

/// An HTTPS server with a fresh self-signed certificate; answers 200 with the
/// negotiated HTTP version in a header.
async fn tls_server() -> SocketAddr {
    tls_server_with(&[b"h2", b"http/1.1"], false).await
}

/// The same with the ALPN protocols it accepts, and (`ca`) a certificate
/// that is a CA's, not a server's.
async fn tls_server_with(alpn: &[&[u8]], ca: bool) -> SocketAddr {
    let mut params =
        rcgen::CertificateParams::new(vec!["127.0.0.1".into(), "localhost".into()]).unwrap();
    if ca {
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    }
    let signing_key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertifiedKey {
        cert: params.self_signed(&signing_key).unwrap(),
        signing_key,
    };
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(cert.signing_key.serialize_der()));
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![cert.cert.der().clone()], key)
    .unwrap();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let svc = service_fn(|req: hyper::Request<hyper::body::Incoming>| async move {
                    let version = format!("{:?}", req.version());
                    let mut resp = Response::new(Full::new(Bytes::from_static(b"ok")));
                    resp.headers_mut()
                        .insert("x-version", version.parse().unwrap());
                    // HTTP/1.1 over TLS answers 200, HTTP/2 answers 202, so the test sees which ran.
                    if req.version() == hyper::Version::HTTP_2 {
                        *resp.status_mut() = hyper::StatusCode::ACCEPTED;
                    }
                    Ok::<_, std::convert::Infallible>(resp)
                });
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(tls), svc)
                    .await;
            });
        }
    });
    addr
}

/// The binary with `args`, off the async threads.
async fn rampdeck(args: Vec<String>) -> std::process::Output {
    tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_rampdeck"))
            .args(&args)
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

fn https_plan(addr: SocketAddr, target_extra: &str) -> Arc<rampdeck::spec::plan::Plan> {
    let text = format!("[target]\nurl = \"https://{addr}\"\n{target_extra}\n[load]\nrate = 50\nduration = \"1s\"\n");
    Arc::new(rampdeck::profile::parse("tls.toml", &text).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_self_signed_gateway_fails_verification_as_tls() {
    let _serial = support::SERIAL.lock().await;
    let addr = tls_server().await;
    let (r, _) = engine::run_to_end(https_plan(addr, "")).await.unwrap();
    assert!(r.totals.finished >= 45);
    assert_eq!(
        r.totals.errors[ErrorKind::Tls.index()],
        r.totals.finished,
        "{:?}",
        r.totals.error_list()
    );
    let msg = r
        .last_errors
        .iter()
        .find(|(k, _)| *k == ErrorKind::Tls)
        .map(|(_, m)| m.as_str())
        .unwrap_or("");
    assert!(msg.contains("certificate"), "{msg}");
    // In words, not rustls' debug text.
    assert!(
        msg.contains("not signed by a CA this machine trusts"),
        "{msg}"
    );
    assert!(!msg.contains("UnknownIssuer"), "{msg}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ca_certificate_as_the_servers_own_is_said_in_words() {
    let _serial = support::SERIAL.lock().await;
    let addr = tls_server_with(&[b"http/1.1"], true).await;
    let (r, _) = engine::run_to_end(https_plan(addr, "")).await.unwrap();
    let msg = &r.last_errors[0].1;
    assert!(
        msg.contains("presented a CA certificate as its own"),
        "{msg}"
    );
    assert!(!msg.contains("OtherError"), "{msg}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_where_every_handshake_fails_is_exit_1() {
    let addr = tls_server().await;
    let url = format!("https://{addr}/");
    let o = rampdeck(vec![
        "run".to_string(),
        url.clone(),
        "--rate".to_string(),
        "20".to_string(),
        "--duration".to_string(),
        "1s".to_string(),
        "--headless".to_string(),
    ])
    .await;
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("every TLS handshake failed"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_to_a_server_without_alpn_h2_stops_with_exit_1() {
    let _serial = support::SERIAL.lock().await;
    // No ALPN at all (the handshake succeeds, then h2 frames meet HTTP/1.1),
    // and ALPN without h2 (the server refuses the handshake).
    for alpn in [&[][..], &[&b"http/1.1"[..]][..]] {
        let addr = tls_server_with(alpn, false).await;
        let plan = Arc::new(
        rampdeck::profile::parse(
            "tls.toml",
            &format!("[target]\nurl = \"https://{addr}\"\ninsecure = true\nhttp2 = true\n[load]\nrate = 50\nduration = \"30s\"\n"),
        )
        .unwrap(),
    );
        let t0 = std::time::Instant::now();
        let (r, _) = engine::run_to_end(plan).await.unwrap();
        assert!(
            t0.elapsed() < std::time::Duration::from_secs(5),
            "{:?}",
            t0.elapsed()
        );
        let why = r.aborted.expect("the run stops");
        assert!(why.contains("did not negotiate HTTP/2"), "{why}");
        let e = &r.totals.errors;
        assert_eq!(
            e[ErrorKind::Protocol.index()] + e[ErrorKind::Tls.index()],
            r.totals.finished
        );
        let url = format!("https://{addr}/");
        let o = rampdeck(vec![
            "run".to_string(),
            url.clone(),
            "--http2".to_string(),
            "--insecure".to_string(),
            "--rate".to_string(),
            "20".to_string(),
            "--duration".to_string(),
            "30s".to_string(),
            "--headless".to_string(),
        ])
        .await;
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{err}");
        assert!(err.contains("did not negotiate HTTP/2"), "{err}");
        assert!(!err.contains("frame with invalid size"), "{err}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn insecure_accepts_it_over_http1_and_http2() {
    let _serial = support::SERIAL.lock().await;
    let addr = tls_server().await;
    let (r, _) = engine::run_to_end(https_plan(addr, "insecure = true"))
        .await
        .unwrap();
    assert_eq!(
        r.totals.status_list(),
        vec![(200, r.totals.finished)],
        "{:?}",
        r.totals.error_list()
    );
    let (r, _) = engine::run_to_end(https_plan(addr, "insecure = true\nhttp2 = true"))
        .await
        .unwrap();
    assert_eq!(
        r.totals.status_list(),
        vec![(202, r.totals.finished)],
        "{:?}",
        r.totals.error_list()
    );
    assert!(r.totals.finished >= 45);
}
