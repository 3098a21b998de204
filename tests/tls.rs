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
    let cert =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".into(), "localhost".into()]).unwrap();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(cert.signing_key.serialize_der()));
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![cert.cert.der().clone()], key)
    .unwrap();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
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

fn https_plan(addr: SocketAddr, target_extra: &str) -> Arc<rampdeck::profile::Plan> {
    let text = format!("[target]\nurl = \"https://{addr}\"\n{target_extra}\n[load]\nrate = 50\nduration = \"1s\"\n");
    Arc::new(rampdeck::profile::parse("tls.toml", &text).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_self_signed_gateway_fails_verification_as_tls() {
    let _serial = support::SERIAL.lock().await;
    let addr = tls_server().await;
    let (r, _) = engine::run_to_end(https_plan(addr, "")).await.unwrap();
    assert!(r.totals.completed >= 45);
    assert_eq!(
        r.totals.errors[ErrorKind::Tls.index()],
        r.totals.completed,
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
        vec![(200, r.totals.completed)],
        "{:?}",
        r.totals.error_list()
    );
    let (r, _) = engine::run_to_end(https_plan(addr, "insecure = true\nhttp2 = true"))
        .await
        .unwrap();
    assert_eq!(
        r.totals.status_list(),
        vec![(202, r.totals.completed)],
        "{:?}",
        r.totals.error_list()
    );
    assert!(r.totals.completed >= 45);
}
