//! What a scenario does to the system under test mid-run: kill or revive a backend, roll the
//! backends. A command on the operator's machine, or an HTTP POST (the demo's fault switches).

use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method};

use crate::probes::http::HttpClient;

/// One switch.
#[derive(Clone, PartialEq)]
pub enum Toggle {
    /// argv, run without a shell; exit status 0 is success.
    Command(Vec<String>),
    /// POST to `url`, with a bearer token when given (never printed).
    Post { url: String, bearer: Option<String> },
}

impl std::fmt::Debug for Toggle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

impl Toggle {
    /// How the log names it (the token left out).
    pub fn describe(&self) -> String {
        match self {
            Toggle::Command(argv) => argv.join(" "),
            Toggle::Post { url, .. } => format!("POST {url}"),
        }
    }

    /// Runs it; Ok with when it returned, Err with what went wrong.
    pub async fn run(&self, client: &HttpClient, timeout: Duration) -> Result<Instant, String> {
        match self {
            Toggle::Command(argv) => {
                let Some((exe, args)) = argv.split_first() else {
                    return Err("empty command".into());
                };
                let out = tokio::time::timeout(
                    timeout,
                    tokio::process::Command::new(exe)
                        .args(args)
                        .stdin(std::process::Stdio::null())
                        .kill_on_drop(true)
                        .output(),
                )
                .await
                .map_err(|_| format!("'{}' did not finish within {timeout:?}", self.describe()))?
                .map_err(|e| format!("cannot run '{exe}': {e}"))?;
                if out.status.success() {
                    Ok(Instant::now())
                } else {
                    let err = String::from_utf8_lossy(&out.stderr);
                    Err(format!(
                        "'{}' failed ({}): {}",
                        self.describe(),
                        out.status,
                        err.trim().chars().take(200).collect::<String>()
                    ))
                }
            }
            Toggle::Post { url, bearer } => {
                let mut headers = HeaderMap::new();
                if let Some(t) = bearer {
                    let v = HeaderValue::from_str(&format!("Bearer {t}"))
                        .map_err(|_| "the token is not a header value".to_owned())?;
                    headers.insert(http::header::AUTHORIZATION, v);
                }
                let r = client
                    .send(Method::POST, url, headers, Bytes::new(), timeout)
                    .await
                    .map_err(|e| format!("POST {url}: {e}"))?;
                if (200..300).contains(&r.status) {
                    Ok(Instant::now())
                } else {
                    Err(format!(
                        "POST {url}: {} {}",
                        r.status,
                        String::from_utf8_lossy(&r.body).trim()
                    ))
                }
            }
        }
    }
}
