//! The series a run report charts, built line by line from the run log and folded to
//! at most `MAX_POINTS` a line, so a report's memory does not grow with the run's length.
//!
//! Folding merges neighbouring points in pairs, keeping the later time: rates
//! and levels average (the chart shows the mean rate over the longer step),
//! latency percentiles and probe durations keep the larger value, so a spike
//! is never folded away.

use serde_json::Value;

/// Points a line keeps; past twice this it folds to half.
pub const MAX_POINTS: usize = 2_000;

/// A component's CPU (cores) and memory (MiB) over time.
#[derive(Debug, Default, serde::Serialize)]
pub struct ComponentSeries {
    pub name: String,
    pub cpu: Vec<(f64, f64)>,
    pub memory_mib: Vec<(f64, f64)>,
}

/// The series a report draws, in seconds since the start.
#[derive(Debug, Default, serde::Serialize)]
pub struct Series {
    pub ok_rps: Vec<(f64, f64)>,
    pub error_rps: Vec<(f64, f64)>,
    pub target: Vec<(f64, f64)>,
    /// p50, p90, p99, p99.9 corrected latency, ms.
    pub latency: [Vec<(f64, f64)>; 4],
    pub components: Vec<ComponentSeries>,
    /// Per stat command or HTTP probe: (name, run durations in ms).
    pub probes: Vec<(String, Vec<(f64, f64)>)>,
    /// A distributed run: the (start, end) of intervals whose merged send
    /// rate fell short of the schedule.
    pub under_supplied: Vec<(f64, f64)>,
    /// `[delivery]`: published, delivered, lost and duplicated per second,
    /// and the end-to-end p50 and p99 (ms) of each interval's deliveries.
    pub delivery_rates: [Vec<(f64, f64)>; 4],
    pub delivery_latency: [Vec<(f64, f64)>; 2],
    /// `mode = "connections"`: established at each interval's end; opened,
    /// closed by rampdeck, closed by the server, reset and failed per
    /// second; the echo's p50 and p99 (ms).
    pub established: Vec<(f64, f64)>,
    pub connection_rates: [Vec<(f64, f64)>; 5],
    pub echo_rtt: [Vec<(f64, f64)>; 2],
}

/// The connection counts a report charts per second, and their labels.
pub(super) const CONNECTION_RATES: [(&str, &str); 5] = [
    ("opened", "opened"),
    ("closed", "closed by rampdeck"),
    ("server_closed", "closed by the server"),
    ("resets", "reset"),
    ("failed", "failed to open"),
];

impl Series {
    /// Adds an interval line's points.
    pub fn push_interval(&mut self, v: &Value) {
        let s = self;
        let (t, len) = (
            // Charts are on the run clock (logs from before it: wall time).
            v["run_clock_s"]
                .as_f64()
                .or_else(|| v["elapsed_s"].as_f64())
                .unwrap_or(0.0),
            v["len_s"].as_f64().unwrap_or(0.0),
        );
        // A near-empty last interval gives no meaningful rate.
        if len >= 0.05 {
            let ok = v["ok"].as_f64().unwrap_or(0.0);
            // "completed" in logs written before it was called "finished".
            let done = v["finished"]
                .as_f64()
                .or(v["completed"].as_f64())
                .unwrap_or(0.0);
            s.ok_rps.push((t, ok / len));
            s.error_rps.push((t, (done - ok) / len));
        }
        s.target.push((t, v["target"].as_f64().unwrap_or(0.0)));
        if v["under_supplied"].as_bool() == Some(true) {
            // Adjacent short intervals make one band.
            match s.under_supplied.last_mut() {
                Some(last) if (last.1 - (t - len)).abs() < 1e-6 => last.1 = t,
                _ => s.under_supplied.push((t - len, t)),
            }
        }
        if v["latency"]["count"].as_u64().unwrap_or(0) > 0 {
            for (k, key) in ["p50", "p90", "p99", "p999"].iter().enumerate() {
                s.latency[k].push((t, v["latency"][key].as_f64().unwrap_or(0.0)));
            }
        }
        let c = &v["connections"]["now"];
        if c.is_object() {
            s.established
                .push((t, c["established"].as_f64().unwrap_or(0.0)));
            // The closing of everything held at the end is in the table:
            // charted per second it would dwarf the run.
            if len >= 0.05 && v["state"].as_str() == Some("running") {
                for (k, (key, _)) in CONNECTION_RATES.iter().enumerate() {
                    s.connection_rates[k].push((t, c[key].as_f64().unwrap_or(0.0) / len));
                }
            }
            if c["rtt_ms"]["count"].as_u64().unwrap_or(0) > 0 {
                for (k, key) in ["p50", "p99"].iter().enumerate() {
                    s.echo_rtt[k].push((t, c["rtt_ms"][key].as_f64().unwrap_or(0.0)));
                }
            }
        }
        let d = &v["delivery"];
        if d.is_object() && len >= 0.05 {
            for (k, key) in ["published", "delivered", "lost", "duplicates"]
                .iter()
                .enumerate()
            {
                s.delivery_rates[k].push((t, d[key].as_f64().unwrap_or(0.0) / len));
            }
            if d["latency_ms"]["count"].as_u64().unwrap_or(0) > 0 {
                for (k, key) in ["p50", "p99"].iter().enumerate() {
                    s.delivery_latency[k].push((t, d["latency_ms"][key].as_f64().unwrap_or(0.0)));
                }
            }
        }
        s.fold_if_long();
    }

    /// Adds a probe line's points (resource samples, probe runs).
    pub fn push_probe(&mut self, p: &Value) {
        let s = self;
        let name = |k: &str| p[k].as_str().unwrap_or("?").to_owned();
        let t = p["at_s"].as_f64().unwrap_or(0.0);
        match p["type"].as_str() {
            Some("resource") => {
                let n = name("component");
                let i = match s.components.iter().position(|c| c.name == n) {
                    Some(i) => i,
                    None => {
                        s.components.push(ComponentSeries {
                            name: n,
                            ..ComponentSeries::default()
                        });
                        s.components.len() - 1
                    }
                };
                if let Some(c) = p["cpu_cores"].as_f64() {
                    s.components[i].cpu.push((t, c));
                }
                if let Some(m) = p["memory_bytes"].as_f64() {
                    s.components[i].memory_mib.push((t, m / (1024.0 * 1024.0)));
                }
            }
            Some("probe_run") => {
                let n = name("name");
                match s.probes.iter_mut().find(|x| x.0 == n) {
                    Some(x) => x.1.push((t, p["took_ms"].as_f64().unwrap_or(0.0))),
                    None => s
                        .probes
                        .push((n, vec![(t, p["took_ms"].as_f64().unwrap_or(0.0))])),
                }
            }
            _ => {}
        }
        s.fold_if_long();
    }
}

#[derive(Clone, Copy)]
enum Fold {
    Mean,
    Max,
}

/// Halves `v` when it holds twice `MAX_POINTS`.
fn fold(v: &mut Vec<(f64, f64)>, how: Fold) {
    if v.len() < 2 * MAX_POINTS {
        return;
    }
    let folded: Vec<(f64, f64)> = v
        .chunks(2)
        .map(|c| match (c, how) {
            ([a, b], Fold::Mean) => (b.0, (a.1 + b.1) / 2.0),
            ([a, b], Fold::Max) => (b.0, a.1.max(b.1)),
            (c, _) => c[0],
        })
        .collect();
    *v = folded;
}

impl Series {
    fn fold_if_long(&mut self) {
        use Fold::{Max, Mean};
        fold(&mut self.ok_rps, Mean);
        fold(&mut self.error_rps, Mean);
        fold(&mut self.target, Mean);
        for l in &mut self.latency {
            fold(l, Max);
        }
        for c in &mut self.components {
            fold(&mut c.cpu, Mean);
            fold(&mut c.memory_mib, Max);
        }
        for (_, p) in &mut self.probes {
            fold(p, Max);
        }
        for l in &mut self.delivery_rates {
            fold(l, Mean);
        }
        for l in &mut self.delivery_latency {
            fold(l, Max);
        }
        fold(&mut self.established, Mean);
        for l in &mut self.connection_rates {
            fold(l, Mean);
        }
        for l in &mut self.echo_rtt {
            fold(l, Max);
        }
        // Bands: adjacent ones merge when there are too many to draw.
        if self.under_supplied.len() >= 2 * MAX_POINTS {
            let merged: Vec<(f64, f64)> = self
                .under_supplied
                .chunks(2)
                .map(|c| (c[0].0, c[c.len() - 1].1))
                .collect();
            self.under_supplied = merged;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_long_run_folds_to_a_bounded_series_keeping_spikes() {
        let mut s = Series::default();
        for k in 0..100_000u64 {
            let p99 = if k == 77_777 { 900.0 } else { 10.0 };
            s.push_interval(&json!({
                "elapsed_s": (k + 1) as f64 * 0.25, "len_s": 0.25, "ok": 25, "finished": 25,
                "target": 100.0, "state": "running",
                "latency": {"count": 25, "p50": 1.0, "p90": 2.0, "p99": p99, "p999": p99},
            }));
        }
        assert!(s.ok_rps.len() < 2 * MAX_POINTS, "{}", s.ok_rps.len());
        assert!(s.latency[2].len() < 2 * MAX_POINTS);
        // The mean rate survives folding; the one spike too.
        assert!(s.ok_rps.iter().all(|p| (p.1 - 100.0).abs() < 1e-9));
        assert_eq!(s.latency[2].iter().filter(|p| p.1 == 900.0).count(), 1);
        assert_eq!(s.ok_rps.last().unwrap().0, 25_000.0);
    }
}
