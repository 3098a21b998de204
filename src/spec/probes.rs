//! What to probe: resource sources (scrape, PromQL), stat commands and HTTP probes. Plain data.

use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProbesConfig {
    pub sources: Vec<SourceConfig>,
    pub stats: Vec<StatConfig>,
    pub probes: Vec<HttpProbeConfig>,
}

impl ProbesConfig {
    pub fn is_empty(&self) -> bool {
        self.sources.is_empty() && self.stats.is_empty() && self.probes.is_empty()
    }

    /// Why `metric` cannot be measured here: it names a component no
    /// `[[source]]` is, or a probe no `[[stat]]` or `[[probe]]` is, with the
    /// names there are (None: it can, or it names neither).
    pub fn missing(&self, metric: &crate::spec::thresholds::Metric) -> Option<String> {
        use crate::spec::thresholds::Metric;
        let list = |v: Vec<&str>| match v.is_empty() {
            true => "none".to_owned(),
            false => v
                .iter()
                .map(|n| format!("'{n}'"))
                .collect::<Vec<_>>()
                .join(", "),
        };
        match metric {
            Metric::CpuAvg(c) | Metric::CpuMax(c) | Metric::MemoryMax(c) => {
                let known: Vec<&str> = self.sources.iter().map(|s| s.name.as_str()).collect();
                (!known.contains(&c.as_str()))
                    .then(|| format!("no [[source]] is named '{c}' (sources: {})", list(known)))
            }
            Metric::Probe(p, _) => {
                let known: Vec<&str> = self
                    .stats
                    .iter()
                    .map(|s| s.name.as_str())
                    .chain(self.probes.iter().map(|x| x.name.as_str()))
                    .collect();
                (!known.contains(&p.as_str())).then(|| {
                    format!(
                        "no [[stat]] or [[probe]] is named '{p}' (probes: {})",
                        list(known)
                    )
                })
            }
            _ => None,
        }
    }

    /// Replaces `{{name}}` variables in every URL, argv element and
    /// working directory (the demo's addresses are only known once it runs).
    pub fn substitute(&mut self, vars: &[(&str, String)]) {
        let sub = |s: &mut String| {
            for (k, v) in vars {
                *s = s.replace(&format!("{{{{{k}}}}}"), v);
            }
        };
        for src in &mut self.sources {
            match &mut src.kind {
                SourceKind::Scrape { url, .. } | SourceKind::Promql { url, .. } => sub(url),
            }
        }
        for st in &mut self.stats {
            st.argv.iter_mut().for_each(sub);
        }
        for p in &mut self.probes {
            sub(&mut p.url);
        }
    }
}

/// A control-plane component whose CPU and memory are sampled.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceConfig {
    pub name: String,
    pub kind: SourceKind,
    pub interval: Duration,
    pub timeout: Duration,
}

#[derive(Debug, Clone, PartialEq)]
pub enum SourceKind {
    /// A Prometheus text endpoint; CPU is the rate of a seconds counter.
    Scrape {
        url: String,
        cpu_metric: String,
        memory_metric: String,
        /// Only samples with all of these labels count (exact match).
        labels: Vec<(String, String)>,
    },
    /// A Prometheus server's /api/v1/query.
    Promql {
        url: String,
        cpu_query: Option<String>,
        memory_query: Option<String>,
        token: Option<TokenSource>,
    },
}

/// Where a bearer token is read from, each time it is needed; never logged.
#[derive(Debug, Clone, PartialEq)]
pub enum TokenSource {
    File(PathBuf),
    Env(String),
}

/// A command timed on an interval, like `linkerd viz stat deploy`.
#[derive(Debug, Clone, PartialEq)]
pub struct StatConfig {
    pub name: String,
    pub argv: Vec<String>,
    /// Run `argv` joined by spaces with `sh -c`.
    pub shell: bool,
    pub interval: Duration,
    pub timeout: Duration,
    pub env: Vec<(String, String)>,
    pub cwd: Option<PathBuf>,
    /// How many of the last output lines to keep.
    pub keep_lines: usize,
    /// When a run's time stops: at exit, or at its first output line.
    pub until: Until,
}

/// `[[stat]] until`: what a stat run is timed to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Until {
    /// The command's exit (it must exit 0).
    #[default]
    Exit,
    /// Its first line on stdout (e.g. `kubectl logs -f`, which never
    /// exits): then it is stopped, and the run counts as a success.
    FirstLine,
}

/// A URL (a dashboard page, an admin endpoint) timed on an interval.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpProbeConfig {
    pub name: String,
    pub url: String,
    pub expect_status: u16,
    pub interval: Duration,
    pub timeout: Duration,
}

pub const DEFAULT_CPU_METRIC: &str = "process_cpu_seconds_total";
pub const DEFAULT_MEMORY_METRIC: &str = "process_resident_memory_bytes";
pub const DEFAULT_SOURCE_INTERVAL: Duration = Duration::from_secs(2);
pub const DEFAULT_PROBE_INTERVAL: Duration = Duration::from_secs(5);
pub const DEFAULT_PROBE_TIMEOUT: Duration = Duration::from_secs(5);
pub const DEFAULT_KEEP_LINES: usize = 8;
