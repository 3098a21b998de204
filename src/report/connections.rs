//! The connections block of the text summary: held, opened, closed by whom, resets with their age, connect phases and echo round trips.

use std::fmt::Write;

use crate::stats::connections::ConnInterval;
use crate::stats::Percentiles;
use rampdeck_base::fmt::group;

fn row(s: &mut String, name: &str, p: &Percentiles) {
    let _ = writeln!(
        s,
        "    {name:<14}{:>9.3}{:>9.3}{:>9.3}{:>9.3}{:>9.3}{:>9.3}{:>8}",
        p.p50,
        p.p90,
        p.p99,
        p.p999,
        p.max,
        p.mean,
        group(p.count)
    );
}

/// Per measured second, for the summary's rates.
fn per_s(n: u64, secs: f64) -> f64 {
    if secs > 0.0 {
        n as f64 / secs
    } else {
        0.0
    }
}

/// The connection lines of the text summary, in place of the request lines.
pub fn render_text(s: &mut String, c: &ConnInterval, secs: f64) {
    let _ = writeln!(
        s,
        "  Connections  {} held at most   {} opened ({:.1}/s)   {} failed to open",
        group(c.peak),
        group(c.opened),
        per_s(c.opened, secs),
        group(c.failed),
    );
    let _ = writeln!(
        s,
        "  Ended        {} closed by rampdeck   {} closed by the server   {} reset{}",
        group(c.closed),
        group(c.server_closed),
        group(c.resets),
        if c.established > 0 {
            format!("   {} still open", group(c.established))
        } else {
            String::new()
        }
    );
    if c.reconnected > 0 {
        let _ = writeln!(
            s,
            "  Reconnected  {} of the {} lost",
            group(c.reconnected),
            group(c.server_closed + c.resets)
        );
    }
    if !c.close_codes.is_empty() {
        let codes: Vec<String> = c
            .close_codes
            .iter()
            .map(|(k, n)| format!("{k}: {}", group(*n)))
            .collect();
        let _ = writeln!(s, "  Close codes  {}", codes.join("   "));
    }
    if c.messages + c.message_failures > 0 {
        let _ = writeln!(
            s,
            "  Messages     {} echoed   {} failed",
            group(c.messages),
            group(c.message_failures)
        );
    }
    let _ = writeln!(s);
    let _ = writeln!(
        s,
        "  {:<16}{:>9}{:>9}{:>9}{:>9}{:>9}{:>9}{:>8}",
        "Times (ms)", "p50", "p90", "p99", "p99.9", "max", "mean", "count"
    );
    row(s, "tcp connect", &c.tcp_ms);
    if let Some(p) = &c.tls_ms {
        row(s, "tls handshake", p);
    }
    if let Some(p) = &c.ws_ms {
        row(s, "ws upgrade", p);
    }
    if let Some(p) = &c.rtt_ms {
        row(s, "echo rtt", p);
    }
    if let Some(p) = &c.server_close_age_ms {
        row(s, "age at close", p);
    }
    if let Some(p) = &c.reset_age_ms {
        row(s, "age at reset", p);
    }
    if let Some(p) = &c.reconnect_ms {
        row(s, "reconnect gap", p);
    }
    if !c.failures.is_empty() {
        let f: Vec<String> = c
            .failures
            .iter()
            .map(|(k, n)| format!("{k}: {}", group(*n)))
            .collect();
        let _ = writeln!(s, "  Open failed  {}", f.join("   "));
    }
    for (kind, msg) in &c.first {
        let _ = writeln!(s, "    {kind}: {msg}");
    }
}
