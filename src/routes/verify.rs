//! Data-plane propagation: poll a URL every few milliseconds after an action until the answer matches.

use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method};

use crate::probes::http::{Fetched, HttpClient};
use crate::spec::routes::VerifyConfig;

/// The first matching answer, and what came before it.
#[derive(Debug, Clone, PartialEq)]
pub struct Verified {
    /// When the first matching response arrived.
    pub at: Instant,
    pub polls: u64,
    /// Answers that did not match yet, by status (0 for a transport error).
    pub misses: Vec<(u16, u64)>,
}

/// Polls until a response matches `cfg` or `cfg.timeout` passes.
pub async fn poll(client: &HttpClient, cfg: &VerifyConfig) -> Result<Verified, String> {
    let start = Instant::now();
    let mut headers = HeaderMap::new();
    if let Some(h) = &cfg.host {
        let v = HeaderValue::from_str(h)
            .map_err(|_| format!("verify.host '{h}' is not a valid header value"))?;
        headers.insert(http::header::HOST, v);
    }
    let mut polls = 0u64;
    let mut misses: Vec<(u16, u64)> = Vec::new();
    let mut last = String::from("no answer yet");
    let mut tick = tokio::time::interval(cfg.interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let left = cfg.timeout.saturating_sub(start.elapsed());
        if left.is_zero() {
            return Err(format!(
                "no matching answer from {} within {} ({polls} polls; last: {last})",
                cfg.url,
                rampdeck_base::fmt::fmt_dur(cfg.timeout)
            ));
        }
        polls += 1;
        let r = client
            .send(
                Method::GET,
                &cfg.url,
                headers.clone(),
                Bytes::new(),
                left.min(Duration::from_secs(2)),
            )
            .await;
        let status = match &r {
            Ok(f) if matches(cfg, f) => {
                return Ok(Verified {
                    at: Instant::now(),
                    polls,
                    misses,
                })
            }
            Ok(f) => {
                last = format!("HTTP {}", f.status);
                f.status
            }
            Err(e) => {
                last = e.to_string();
                0
            }
        };
        match misses.iter_mut().find(|(s, _)| *s == status) {
            Some((_, n)) => *n += 1,
            None => misses.push((status, 1)),
        }
    }
}

fn matches(cfg: &VerifyConfig, f: &Fetched) -> bool {
    if f.status != cfg.status {
        return false;
    }
    if let Some((name, want)) = &cfg.header {
        let Ok(name) = HeaderName::from_bytes(name.as_bytes()) else {
            return false;
        };
        let got = f.headers.get_all(name);
        if !got
            .iter()
            .any(|v| v.to_str().is_ok_and(|v| v.trim() == want))
        {
            return false;
        }
    }
    if let Some(text) = &cfg.body_contains {
        if !String::from_utf8_lossy(&f.body).contains(text.as_str()) {
            return false;
        }
    }
    true
}
