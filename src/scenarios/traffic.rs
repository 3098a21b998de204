//! route-change's traffic: an open-loop sender that keeps every request (send time, latency, status or error, which backend answered).
//!
//! The load engine aggregates into histograms and never looks at response
//! headers; route-change needs each request attributed to a backend and to
//! the flip nearest it, at a modest rate (hundreds per second). Each request
//! goes out at its scheduled time on its own task, so a slow answer never
//! delays the next one (no coordinated omission), and latency is measured
//! from the scheduled time.

use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::probes::http::{FetchError, Fetched, HttpClient};

/// One request.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// When it was scheduled to go, since the scenario's origin.
    pub sent: Duration,
    /// From the scheduled send to the whole answer.
    pub latency: Duration,
    pub answer: Answer,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// An HTTP answer; `backend` indexes the backends list when recognised.
    Status { code: u16, backend: Option<usize> },
    /// No answer: timeout, refused, reset...
    Error(String),
}

impl Answer {
    pub fn ok(&self) -> bool {
        matches!(self, Answer::Status { code, .. } if (200..300).contains(code))
    }
}

/// What to send and how to tell the backends apart.
#[derive(Debug, Clone)]
pub struct TrafficPlan {
    /// The URL, or with `paths` the base they are appended to.
    pub url: String,
    /// Sent to in turn (request k to `paths[k % len]`); empty: `url` as it is.
    pub paths: Vec<PathTarget>,
    pub host: String,
    pub rate: f64,
    /// Closed loop: the next request leaves when the last one answered (`rate` unused).
    pub closed: bool,
    pub duration: Duration,
    pub timeout: Duration,
    pub backends: Vec<String>,
    pub backend_header: Option<String>,
}

/// One path of a plan, with its own Host when it has one.
#[derive(Debug, Clone, PartialEq)]
pub struct PathTarget {
    pub path: String,
    pub host: Option<String>,
}

impl PathTarget {
    pub fn path(path: impl Into<String>) -> Self {
        PathTarget {
            path: path.into(),
            host: None,
        }
    }
}

impl TrafficPlan {
    /// Request k's URL and the Host it overrides, if any.
    fn url_for(&self, k: u64) -> (String, Option<&str>) {
        if self.paths.is_empty() {
            (self.url.clone(), None)
        } else {
            let p = &self.paths[(k % self.paths.len() as u64) as usize];
            (format!("{}{}", self.url, p.path), p.host.as_deref())
        }
    }

    fn headers_for(&self, base: &HeaderMap, host: Option<&str>) -> HeaderMap {
        let mut h = base.clone();
        if let Some(v) = host.and_then(|h| HeaderValue::from_str(h).ok()) {
            h.insert(http::header::HOST, v);
        }
        h
    }
}

/// Sends `plan.rate` requests per second for `plan.duration` (or until
/// cancelled), streaming each finished request to `out`; closed loop, one
/// after the other as fast as they are answered.
pub async fn send(
    client: HttpClient,
    plan: TrafficPlan,
    origin: Instant,
    cancel: CancellationToken,
    out: mpsc::UnboundedSender<Sample>,
) {
    let mut headers = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_str(&plan.host) {
        // An empty host leaves the URL's authority as the Host.
        if !plan.host.is_empty() {
            headers.insert(http::header::HOST, v);
        }
    }
    if plan.closed {
        return send_closed(client, plan, headers, origin, cancel, out).await;
    }
    let plan = std::sync::Arc::new(plan);
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for k in 0u64.. {
        let due = start + Duration::from_secs_f64(k as f64 / plan.rate);
        if due >= start + plan.duration {
            break;
        }
        tokio::select! {
            _ = cancel.cancelled() => break,
            _ = tokio::time::sleep_until(due.into()) => {}
        }
        let (client, headers, plan, out) =
            (client.clone(), headers.clone(), plan.clone(), out.clone());
        tasks.spawn(async move {
            let (url, host) = plan.url_for(k);
            let headers = plan.headers_for(&headers, host);
            let r = client
                .send(Method::GET, &url, headers, Bytes::new(), plan.timeout)
                .await;
            let answer = answer(r, &plan);
            let _ = out.send(Sample {
                sent: due.saturating_duration_since(origin),
                latency: due.elapsed(),
                answer,
            });
        });
        // Reap finished tasks as we go so the set stays small.
        while tasks.try_join_next().is_some() {}
    }
    while tasks.join_next().await.is_some() {}
}

/// One client, one request at a time: each leaves as the last one answers,
/// so the gap between requests is the target's answer time (and, at most,
/// `timeout` while it does not answer).
async fn send_closed(
    client: HttpClient,
    plan: TrafficPlan,
    headers: HeaderMap,
    origin: Instant,
    cancel: CancellationToken,
    out: mpsc::UnboundedSender<Sample>,
) {
    let start = Instant::now();
    let mut k = 0u64;
    while start.elapsed() < plan.duration {
        let sent = Instant::now();
        let (url, host) = plan.url_for(k);
        let h = plan.headers_for(&headers, host);
        k += 1;
        let r = tokio::select! {
            _ = cancel.cancelled() => return,
            r = client.send(Method::GET, &url, h, Bytes::new(), plan.timeout) => r,
        };
        let _ = out.send(Sample {
            sent: sent.saturating_duration_since(origin),
            latency: sent.elapsed(),
            answer: answer(r, &plan),
        });
    }
}

fn answer(r: Result<Fetched, FetchError>, plan: &TrafficPlan) -> Answer {
    match r {
        Ok(f) => Answer::Status {
            code: f.status,
            backend: which_backend(&f, &plan.backends, plan.backend_header.as_deref()),
        },
        Err(FetchError::TimedOut(_)) => Answer::Error("timeout".into()),
        Err(FetchError::Failed(m)) => Answer::Error(short(&m)),
    }
}

/// The backend named by the header, else by the body (http-echo answers with its text).
pub fn which_backend(f: &Fetched, backends: &[String], header: Option<&str>) -> Option<usize> {
    let named = |v: &str| backends.iter().position(|b| b == v.trim());
    if let Some(h) = header {
        if let Some(v) = f.headers.get(h).and_then(|v| v.to_str().ok()) {
            return named(v);
        }
    }
    std::str::from_utf8(&f.body).ok().and_then(named)
}

/// The last cause of a transport error, which is the one that says what happened.
fn short(m: &str) -> String {
    let last = m.rsplit(": ").next().unwrap_or(m);
    last.chars().take(80).collect()
}
