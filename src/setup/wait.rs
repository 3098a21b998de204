//! Waiting for objects to reach a condition, or for a URL to answer, with a timeout that reports the last status seen.

use std::time::{Duration, Instant};

use super::{Progress, SetupError, SetupEvent};
use crate::kube::dynamic::ObjectRef;
use crate::kube::{ready, KubeContext};

/// How often a wait looks again.
pub const POLL: Duration = Duration::from_millis(200);
/// How often a long wait says what it still sees.
pub const REPORT_EVERY: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, PartialEq)]
pub enum Wait {
    Object {
        object: ObjectRef,
        condition: String,
    },
    Url {
        url: String,
        status: u16,
    },
}

impl Wait {
    /// "Deployment rampdeck-sample/web Available", "http://.../healthz answering 200".
    pub fn what(&self) -> String {
        match self {
            Wait::Object { object, condition } => format!("{object} {condition}"),
            Wait::Url { url, status } => {
                format!("{} answering {status}", crate::util::secret::redact(url))
            }
        }
    }
}

/// Looks once: whether the wait is over, and what was seen.
async fn look(
    ctx: Option<&KubeContext>,
    client: Option<&crate::probes::http::HttpClient>,
    w: &Wait,
) -> ready::Seen {
    match w {
        Wait::Object { object, condition } => match ctx {
            Some(ctx) => match ctx.get_object(object).await {
                Ok(obj) => ready::check(obj.as_ref(), condition),
                Err(e) => ready::Seen {
                    met: false,
                    status: e.to_string(),
                },
            },
            None => ready::Seen {
                met: false,
                status: "no Kubernetes connection".into(),
            },
        },
        Wait::Url { url, status } => match client {
            None => ready::Seen {
                met: false,
                status: "no HTTP client".into(),
            },
            Some(c) => match c.get(url, None, Duration::from_secs(5)).await {
                Ok(f) => ready::Seen {
                    met: f.status == *status,
                    status: format!("answered {}", f.status),
                },
                Err(e) => ready::Seen {
                    met: false,
                    status: e.to_string(),
                },
            },
        },
    }
}

/// Waits for `w` until `timeout`, telling `progress` how it goes; returns how long it took.
pub async fn until(
    ctx: Option<&KubeContext>,
    w: &Wait,
    timeout: Duration,
    progress: &Progress,
) -> Result<Duration, SetupError> {
    // Only a URL wait needs an HTTP client (it loads the system's roots).
    let client = match w {
        Wait::Url { .. } => {
            Some(
                crate::probes::http::HttpClient::new().map_err(|e| SetupError::Object {
                    object: w.what(),
                    error: crate::kube::KubeError::Transport(e),
                })?,
            )
        }
        Wait::Object { .. } => None,
    };
    let start = Instant::now();
    let what = w.what();
    progress.report(SetupEvent::Waiting {
        what: what.clone(),
        timeout,
    });
    let mut next_report = start + REPORT_EVERY;
    loop {
        let seen = look(ctx, client.as_ref(), w).await;
        let waited = start.elapsed();
        if seen.met {
            progress.report(SetupEvent::Met { what, took: waited });
            return Ok(waited);
        }
        if waited >= timeout {
            return Err(SetupError::WaitTimedOut {
                what,
                timeout,
                last: seen.status,
            });
        }
        if Instant::now() >= next_report {
            next_report += REPORT_EVERY;
            progress.report(SetupEvent::StillWaiting {
                what: what.clone(),
                status: seen.status,
                waited,
            });
        }
        tokio::time::sleep(POLL.min(timeout.saturating_sub(waited))).await;
    }
}

/// Waits for all of `waits` at once (they share the timeout, so none
/// outlives it); a failure is reported for the first of them in order,
/// whichever timer fired first.
pub async fn all(
    ctx: Option<&KubeContext>,
    waits: &[Wait],
    timeout: Duration,
    progress: &Progress,
) -> Result<(), SetupError> {
    let each = waits.iter().map(|w| until(ctx, w, timeout, progress));
    futures_util::future::join_all(each)
        .await
        .into_iter()
        .find_map(Result::err)
        .map_or(Ok(()), Err)
}
