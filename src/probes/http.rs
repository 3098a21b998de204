//! The probes' HTTP client (hyper-util's pooled client over rustls): GET with a timeout, body read whole.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderValue, Request};
use http_body_util::{BodyExt, Empty};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

/// Probe responses larger than this are cut off: a /metrics page is far smaller.
const MAX_BODY: usize = 16 * 1024 * 1024;

#[derive(Clone)]
pub struct HttpClient {
    client: Client<HttpsConnector<HttpConnector>, Empty<Bytes>>,
}

pub struct Fetched {
    pub status: u16,
    pub body: Bytes,
    pub took: Duration,
}

/// Why a fetch failed, worded for the pane.
#[derive(Debug, Clone, PartialEq)]
pub enum FetchError {
    TimedOut(Duration),
    Failed(String),
}

impl std::fmt::Display for FetchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FetchError::TimedOut(d) => write!(f, "no answer within {d:?}"),
            FetchError::Failed(m) => f.write_str(m),
        }
    }
}

impl HttpClient {
    pub fn new() -> Result<Self, String> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        // System roots; with none installed, https:// probes fail verification
        // and say so, while http:// probes work.
        let mut roots = rustls::RootCertStore::empty();
        roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS setup for probes: {e}"))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .build();
        Ok(HttpClient {
            client: Client::builder(TokioExecutor::new()).build(https),
        })
    }

    /// GETs `url`; `bearer` is sent as an Authorization header and never logged.
    pub async fn get(
        &self,
        url: &str,
        bearer: Option<&str>,
        timeout: Duration,
    ) -> Result<Fetched, FetchError> {
        let start = Instant::now();
        let mut req = Request::get(url)
            .body(Empty::new())
            .map_err(|e| FetchError::Failed(format!("invalid URL '{url}': {e}")))?;
        if let Some(token) = bearer {
            let value =
                HeaderValue::from_str(&format!("Bearer {}", token.trim())).map_err(|_| {
                    FetchError::Failed(
                        "the bearer token has characters a header cannot carry".into(),
                    )
                })?;
            req.headers_mut().insert(http::header::AUTHORIZATION, value);
        }
        let work = async {
            let resp = self
                .client
                .request(req)
                .await
                .map_err(|e| FetchError::Failed(crate::engine::conn::error_chain(&e)))?;
            let status = resp.status().as_u16();
            let body = http_body_util::Limited::new(resp.into_body(), MAX_BODY)
                .collect()
                .await
                .map_err(|e| FetchError::Failed(format!("reading the body: {e}")))?
                .to_bytes();
            Ok((status, body))
        };
        match tokio::time::timeout(timeout, work).await {
            Err(_) => Err(FetchError::TimedOut(timeout)),
            Ok(Err(e)) => Err(e),
            Ok(Ok((status, body))) => Ok(Fetched {
                status,
                body,
                took: start.elapsed(),
            }),
        }
    }
}
