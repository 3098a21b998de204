//! The probes' HTTP client (hyper-util's pooled client over rustls): requests with a timeout, body read whole.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Request};
use http_body_util::{BodyExt, Full};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

/// Probe responses larger than this are cut off: a /metrics page is far smaller.
const MAX_BODY: usize = 16 * 1024 * 1024;

#[derive(Clone)]
pub struct HttpClient {
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
}

pub struct Fetched {
    pub status: u16,
    pub headers: HeaderMap,
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

/// `http://user:pw@host/x` as `http://host/x` and its Basic `Authorization`
/// (curl's way): hyper would otherwise put the userinfo in the Host header.
fn without_userinfo(
    url: &str,
) -> Result<(std::borrow::Cow<'_, str>, Option<HeaderValue>), FetchError> {
    let Some((scheme, rest)) = url.split_once("://") else {
        return Ok((url.into(), None));
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (info, host) = crate::util::secret::split_userinfo(&rest[..end]);
    let Some(info) = info else {
        return Ok((url.into(), None));
    };
    let mut value = HeaderValue::from_str(&info.basic_auth()).map_err(|_| {
        FetchError::Failed("the URL's user or password has characters a header cannot carry".into())
    })?;
    value.set_sensitive(true);
    Ok((
        format!("{scheme}://{host}{}", &rest[end..]).into(),
        Some(value),
    ))
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
        let mut headers = HeaderMap::new();
        if let Some(token) = bearer {
            let value =
                HeaderValue::from_str(&format!("Bearer {}", token.trim())).map_err(|_| {
                    FetchError::Failed(
                        "the bearer token has characters a header cannot carry".into(),
                    )
                })?;
            headers.insert(http::header::AUTHORIZATION, value);
        }
        self.send(Method::GET, url, headers, Bytes::new(), timeout)
            .await
    }

    /// Sends any request; a `host` header in `headers` overrides the URL's.
    pub async fn send(
        &self,
        method: Method,
        url: &str,
        headers: HeaderMap,
        body: Bytes,
        timeout: Duration,
    ) -> Result<Fetched, FetchError> {
        let start = Instant::now();
        let (url, auth) = without_userinfo(url)?;
        let mut req = Request::builder()
            .method(method)
            .uri(url.as_ref())
            .body(Full::new(body))
            .map_err(|e| {
                FetchError::Failed(format!(
                    "invalid URL '{}': {e}",
                    crate::util::secret::redact(&url)
                ))
            })?;
        if let Some(auth) = auth {
            req.headers_mut().insert(http::header::AUTHORIZATION, auth);
        }
        req.headers_mut().extend(headers);
        let work = async {
            let resp = self
                .client
                .request(req)
                .await
                .map_err(|e| FetchError::Failed(crate::util::text::error_chain(&e)))?;
            let status = resp.status().as_u16();
            let headers = resp.headers().clone();
            let body = http_body_util::Limited::new(resp.into_body(), MAX_BODY)
                .collect()
                .await
                .map_err(|e| {
                    FetchError::Failed(if e.is::<http_body_util::LengthLimitError>() {
                        format!(
                            "the body is larger than {} MiB, the most a probe reads",
                            MAX_BODY / (1024 * 1024)
                        )
                    } else {
                        format!("reading the body: {e}")
                    })
                })?
                .to_bytes();
            Ok((status, headers, body))
        };
        match tokio::time::timeout(timeout, work).await {
            Err(_) => Err(FetchError::TimedOut(timeout)),
            Ok(Err(e)) => Err(e),
            Ok(Ok((status, headers, body))) => Ok(Fetched {
                status,
                headers,
                body,
                took: start.elapsed(),
            }),
        }
    }
}
