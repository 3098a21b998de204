//! The delivery block of the text summary: published, delivered, lost, pending, duplicates, unknown, and the end-to-end latency.

use std::fmt::Write;

use rampdeck_base::fmt::group;

/// The delivery lines of the text summary.
pub fn render_text(s: &mut String, d: &crate::stats::delivery::DeliveryTotals) {
    let _ = writeln!(s);
    let _ = writeln!(
        s,
        "  Delivery     {} published   {} delivered{}   {} lost   {} pending   {:.2} delivered/s",
        group(d.published),
        group(d.delivered),
        d.delivered_pct
            .map_or_else(String::new, |p| format!(" ({p:.2}%)")),
        group(d.lost),
        group(d.pending),
        d.delivery_rate
    );
    let _ = writeln!(
        s,
        "               {} duplicates   {} unknown   {} late   {} out of order{}{}",
        group(d.duplicates),
        group(d.unknown),
        group(d.late),
        group(d.out_of_order),
        if d.refused > 0 {
            format!("   {} publishes refused", group(d.refused))
        } else {
            String::new()
        },
        if d.untracked > 0 {
            format!("   {} not tracked (table full)", group(d.untracked))
        } else {
            String::new()
        }
    );
    let l = &d.latency_ms;
    let _ = writeln!(
        s,
        "    end to end (ms)  p50 {:.3}   p90 {:.3}   p99 {:.3}   p99.9 {:.3}   max {:.3}   (deadline {})",
        l.p50,
        l.p90,
        l.p99,
        l.p999,
        l.max,
        rampdeck_base::fmt::fmt_dur(std::time::Duration::try_from_secs_f64(d.deadline_s).unwrap_or_default())
    );
}
