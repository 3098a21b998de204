//! The demo's relay route: it accepts an event, answers 202, and POSTs the event on to a webhook after a delay, losing, duplicating and retrying as configured.
//!
//! The webhook is the URL in the event's `x-relay-to` header (a run with a
//! `[delivery]` sink puts `{{delivery.url}}` there); the demo relays only
//! to loopback addresses. Each copy goes out with the event's body and its
//! `x-*` and `content-type` headers; a copy answered with anything but 2xx
//! (or not answered) is sent again after `retry_after`, doubling, up to
//! `retries` times: the retry policy a webhook service applies.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;
use serde::{Deserialize, Serialize};

use rampdeck_base::rng::splitmix64;

/// The header that names the webhook.
pub const TO_HEADER: &str = "x-relay-to";
/// The most of an event's body the relay takes.
pub const MAX_EVENT: usize = 1024 * 1024;

/// How a relay route delivers.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RelayConfig {
    /// Before the first attempt.
    pub delay: Duration,
    /// Share of events (0 to 1) never sent on.
    pub loss: f64,
    /// Share of events sent twice.
    pub duplicate: f64,
    /// Attempts after a copy that was refused or not answered.
    pub retries: u32,
    /// Wait before the first retry (it doubles each time).
    pub retry_after: Duration,
}

impl Default for RelayConfig {
    fn default() -> Self {
        RelayConfig {
            delay: Duration::from_millis(20),
            loss: 0.0,
            duplicate: 0.0,
            retries: 3,
            retry_after: Duration::from_millis(100),
        }
    }
}

/// An accepted event, not yet sent on.
pub struct Job {
    to: hyper::Uri,
    headers: Vec<(hyper::header::HeaderName, hyper::header::HeaderValue)>,
    body: Bytes,
    config: RelayConfig,
}

/// The relay's client and its draws.
pub struct Relay {
    client: Client<HttpConnector, Full<Bytes>>,
    draws: AtomicU64,
}

impl Default for Relay {
    fn default() -> Self {
        Relay::new()
    }
}

fn refuse(code: StatusCode, text: String) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(text)));
    *r.status_mut() = code;
    r
}

impl Relay {
    pub fn new() -> Self {
        Relay {
            client: Client::builder(TokioExecutor::new()).build_http(),
            draws: AtomicU64::new(1),
        }
    }

    fn uniform(&self) -> f64 {
        let n = self.draws.fetch_add(1, Ordering::Relaxed);
        (splitmix64(n ^ 0x7e1a) >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Takes the event (its webhook, headers and body), or the answer refusing it.
    pub async fn accept(
        &self,
        config: RelayConfig,
        req: Request<Incoming>,
    ) -> Result<Job, Response<Full<Bytes>>> {
        let (parts, body) = req.into_parts();
        let to = parts
            .headers
            .get(TO_HEADER)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| {
                refuse(
                    StatusCode::BAD_REQUEST,
                    format!("a relay route needs the webhook URL in {TO_HEADER}\n"),
                )
            })?;
        let to: hyper::Uri = to.parse().map_err(|_| {
            refuse(
                StatusCode::BAD_REQUEST,
                format!("{TO_HEADER}: '{to}' is not a URL\n"),
            )
        })?;
        let loopback = matches!(to.host(), Some("127.0.0.1" | "localhost" | "[::1]"));
        if to.scheme_str() != Some("http") || !loopback {
            return Err(refuse(
                StatusCode::BAD_REQUEST,
                "the demo relays only to http:// on 127.0.0.1, [::1] or localhost\n".into(),
            ));
        }
        let body = Limited::new(body, MAX_EVENT)
            .collect()
            .await
            .map(|c| c.to_bytes())
            .map_err(|_| {
                refuse(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    format!("an event is at most {MAX_EVENT} bytes\n"),
                )
            })?;
        let headers = parts
            .headers
            .iter()
            .filter(|(k, _)| {
                let k = k.as_str();
                (k.starts_with("x-") && k != TO_HEADER) || k == "content-type"
            })
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        Ok(Job {
            to,
            headers,
            body,
            config,
        })
    }

    /// Sends the event on in the background: lost, once, or twice.
    pub fn start(self: &std::sync::Arc<Self>, job: Job) {
        if job.config.loss > 0.0 && self.uniform() < job.config.loss {
            return;
        }
        let copies = if job.config.duplicate > 0.0 && self.uniform() < job.config.duplicate {
            2
        } else {
            1
        };
        let relay = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(job.config.delay).await;
            for _ in 0..copies {
                relay.deliver(&job).await;
            }
        });
    }

    /// One copy, with the retry policy.
    async fn deliver(&self, job: &Job) {
        let mut wait = job.config.retry_after;
        for attempt in 0..=job.config.retries {
            if attempt > 0 {
                tokio::time::sleep(wait).await;
                wait = wait.saturating_mul(2);
            }
            let mut req = Request::new(Full::new(job.body.clone()));
            *req.method_mut() = hyper::Method::POST;
            *req.uri_mut() = job.to.clone();
            for (k, v) in &job.headers {
                req.headers_mut().insert(k.clone(), v.clone());
            }
            let answered =
                tokio::time::timeout(Duration::from_secs(10), self.client.request(req)).await;
            if let Ok(Ok(resp)) = answered {
                let ok = resp.status().is_success();
                // Read to the end so the connection is reused.
                let _ = resp.into_body().collect().await;
                if ok {
                    return;
                }
            }
        }
    }
}
