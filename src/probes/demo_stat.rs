//! `rampdeck demo-stat URL`: the demo control plane's `/stats`, fetched with the probes' client (the demo's stat command).

use std::time::Duration;

use crate::demo::control::DemoStats;

pub async fn fetch_stats(url: &str, timeout: Duration) -> Result<DemoStats, String> {
    let client = super::http::HttpClient::new()?;
    let stats_url = format!("{}/stats", url.trim_end_matches('/'));
    let f = client
        .get(&stats_url, None, timeout)
        .await
        .map_err(|e| format!("{stats_url}: {e}"))?;
    if f.status != 200 {
        return Err(format!("{stats_url}: HTTP {}", f.status));
    }
    serde_json::from_slice(&f.body).map_err(|e| format!("{stats_url}: not demo stats: {e}"))
}
