//! The end-of-run summary: one struct, rendered as a wrk/oha-style table or written as `summary.json`.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::Serialize;

use super::thresholds::{judge, Facts};
use crate::engine::event::Event;
use crate::engine::RunResult;
use crate::run::RunModel;
use crate::spec::plan::{Mode, Plan};
use crate::spec::thresholds::Verdict;
use crate::stats::Percentiles;
use rampdeck_base::fmt::{bytes, group};

pub const SCHEMA: u32 = 1;

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("cannot create output directory '{path}': {source}")]
    CreateDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write '{path}': {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Field names and units are the documented summary.json schema (docs/output.md).
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub schema: u32,
    pub rampdeck: &'static str,
    pub profile: String,
    pub source: Option<String>,
    pub target: String,
    pub mode: &'static str,
    pub started_at: String,
    /// Where it ran: version, git commit, host, CPU, kernel, profile hash.
    pub environment: crate::run::env::Environment,
    /// Requests completed after warmup (responses and failures).
    pub requests: u64,
    pub ok: u64,
    pub failed: u64,
    /// Measured time: after warmup, pauses excluded, until sending stopped.
    pub duration_s: f64,
    /// Throughput: requests sent in the measured window that got a
    /// response (any status), per second. Refused connects and resets are
    /// attempts, not throughput.
    pub rps: f64,
    /// Requests sent in the measured window per second, answered or not.
    pub attempts_rps: f64,
    /// Requests that got a response (any HTTP status, a gRPC status, or
    /// a response that failed its checks).
    pub responses: u64,
    /// Percent of `requests` that got a 1xx-3xx response (0-100).
    pub success_rate: f64,
    /// Successful responses: corrected latency and service time.
    pub latency_ms: Percentiles,
    pub service_time_ms: Percentiles,
    /// Failed responses (4xx, 5xx, invalid status), corrected.
    pub failed_latency_ms: Percentiles,
    /// Transport errors (refused, reset, timeout, ...): corrected time to the error.
    pub error_latency_ms: Percentiles,
    /// Both of those together, as `failed_*` thresholds judge them.
    pub failed_ms: Percentiles,
    pub status_codes: BTreeMap<String, u64>,
    pub errors: BTreeMap<String, u64>,
    /// Responses that failed their request's `expect` checks, by request name.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub checks: BTreeMap<String, u64>,
    pub sent: u64,
    /// Open loop: scheduled requests that never left (the success rate
    /// counts only what was sent).
    pub not_sent: u64,
    /// Why: "connections waiting on the target" or "generator-limited".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_sent_cause: Option<String>,
    /// Measured seconds in which rampdeck's CPU was saturated while the
    /// schedule fell behind: the generator, not the target, was the limit.
    pub generator_limited_s: f64,
    pub unfinished: u64,
    /// Sent again on a new connection because the server closed the old
    /// one before processing them (HTTP/1.1 keep-alive close, HTTP/2
    /// GOAWAY): reconnects, not failures.
    pub resent: u64,
    pub warmup_s: f64,
    pub paused_s: f64,
    pub elapsed_s: f64,
    pub stopped_early: bool,
    /// A capacity search steered the level: the whole run's percentiles mix
    /// passing and failing levels, so the text gives them by level only.
    #[serde(skip)]
    pub searched: bool,
    /// Set when this summary was rebuilt from a killed run's log: what is missing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub incomplete: Option<String>,
    /// Why the run stopped because no request could succeed (exit code 1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aborted: Option<String>,
    pub error_messages: BTreeMap<String, String>,
    /// Control-plane components: CPU in cores, memory in bytes.
    pub components: Vec<ComponentSummary>,
    /// Stat commands and HTTP probes: how long they took under load.
    pub probes: Vec<ProbeSummary>,
    /// Each `[thresholds]` entry judged on this summary's numbers.
    pub thresholds: Vec<Verdict>,
    /// None without thresholds; false makes the exit code 99.
    pub thresholds_passed: Option<bool>,
    /// Each route action firing: apply time, propagation, drops around it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub route_actions: Vec<crate::routes::ActionRecord>,
    /// A distributed run's agents: per-agent totals, state, share, clock offset.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agents: Option<crate::stats::agents::AgentsStatus>,
    /// A distributed run: measured seconds whose merged send rate fell short of the schedule.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub under_supplied_s: Option<f64>,
    /// `[delivery]`: every published event's account (docs/delivery.md).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delivery: Option<crate::stats::delivery::DeliveryTotals>,
    /// `mode = "connections"`: the held connections' numbers (docs/connections.md).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connections: Option<crate::stats::connections::ConnInterval>,
    /// The run by level epoch (each stage, hand-set level and search step)
    /// and by stage: percentiles of one level each, never mixed.
    pub epochs: Vec<crate::stats::epochs::EpochRow>,
    pub stages: Vec<crate::stats::epochs::StageRow>,
    pub events: Vec<Event>,
    /// The measured successes' histograms (µs; base64 of HdrHistogram's V2
    /// deflate encoding), so repeated runs merge into exact percentiles.
    pub hdr: SummaryHdr,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct SummaryHdr {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub corrected: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ComponentSummary {
    pub name: String,
    pub samples: u64,
    pub cpu_avg_cores: Option<f64>,
    pub cpu_max_cores: Option<f64>,
    pub memory_max_bytes: Option<f64>,
    /// How long the scrape or query itself took.
    pub query_ms: Option<Percentiles>,
    /// Why it was failing at the end, if it was.
    pub problem: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ProbeSummary {
    pub name: String,
    pub kind: crate::probes::ProbeKind,
    pub runs: u64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub failures: u64,
    pub timeouts: u64,
    pub problem: Option<String>,
}

/// Requests that got an answer: any HTTP status, a gRPC status, or a
/// response that failed its checks.
fn responses(t: &crate::stats::Measurements) -> u64 {
    let statuses: u64 = t.status_list().iter().map(|(_, n)| n).sum();
    let answered: u64 = t
        .error_list()
        .iter()
        .filter(|(k, _)| k.is_grpc() || *k == crate::stats::ErrorKind::Check)
        .map(|(_, n)| n)
        .sum();
    statuses + answered
}

impl Summary {
    pub fn new(plan: &Plan, result: &RunResult, model: &RunModel, started_at: SystemTime) -> Self {
        let t = &result.totals;
        let errors = t.errors_by_name();
        let answered = responses(t);
        Summary {
            schema: SCHEMA,
            rampdeck: env!("CARGO_PKG_VERSION"),
            profile: plan.name.clone(),
            source: plan.source.clone(),
            target: plan.target_display(),
            mode: match plan.load.mode {
                _ if plan.connections.is_some() => "connections",
                Mode::Open => "open",
                Mode::Closed => "closed",
            },
            started_at: humantime::format_rfc3339_seconds(started_at).to_string(),
            environment: crate::run::env::Environment::capture(plan, started_at),
            requests: t.finished,
            ok: t.ok,
            failed: t.failed(),
            duration_s: result.measured.as_secs_f64(),
            rps: if t.finished > 0 {
                result.rps() * answered as f64 / t.finished as f64
            } else {
                0.0
            },
            attempts_rps: result.rps(),
            responses: answered,
            success_rate: t.success_rate().unwrap_or(0.0),
            latency_ms: Percentiles::of(&t.latency),
            service_time_ms: Percentiles::of(&t.service),
            hdr: SummaryHdr {
                corrected: crate::run::log::encode_histogram(&t.latency),
                service: crate::run::log::encode_histogram(&t.service),
            },
            failed_latency_ms: Percentiles::of(&t.failed_latency),
            error_latency_ms: Percentiles::of(&t.error_latency),
            failed_ms: {
                let mut all = t.failed_latency.clone();
                let _ = all.add(&t.error_latency);
                Percentiles::of(&all)
            },
            status_codes: t
                .status_list()
                .into_iter()
                .map(|(c, n)| (c.to_string(), n))
                .collect(),
            errors,
            checks: t
                .check_list()
                .into_iter()
                .map(|(i, n)| {
                    let name = plan
                        .requests
                        .get(i as usize)
                        .map_or_else(|| format!("request {i}"), |r| r.name.clone());
                    (name, n)
                })
                .collect(),
            sent: result.sent,
            not_sent: result.dropped,
            not_sent_cause: (result.dropped > 0).then(|| {
                // A distributed run that lost an agent: its share went
                // unsent until the others took it, not the target's doing.
                let lost: Vec<String> = model
                    .agents
                    .iter()
                    .flat_map(|a| a.agents.iter())
                    .filter(|r| r.state == crate::stats::agents::AgentState::Lost)
                    .map(|r| match r.lost_at_s {
                        Some(t) => format!("{} (lost at {t:.1}s)", r.name),
                        None => r.name.clone(),
                    })
                    .collect();
                if !lost.is_empty() {
                    format!(
                        "an agent was lost: {}; its share went unsent until the others took it",
                        lost.join(", ")
                    )
                } else {
                    lag_cause(result.behind_cause).to_owned()
                }
            }),
            generator_limited_s: result.generator_limited.as_secs_f64(),
            unfinished: result.unfinished,
            resent: result.resent,
            warmup_s: plan.load.warmup.as_secs_f64(),
            paused_s: result.paused.as_secs_f64(),
            elapsed_s: result.elapsed.as_secs_f64(),
            stopped_early: result.stopped_early,
            searched: model.search.is_some(),
            aborted: result.aborted.clone(),
            incomplete: None,
            error_messages: result
                .last_errors
                .iter()
                .map(|(k, m)| (k.name().to_owned(), m.clone()))
                .collect(),
            components: model
                .probe_stats()
                .0
                .iter()
                .map(|c| ComponentSummary {
                    name: c.name.clone(),
                    samples: c.samples,
                    cpu_avg_cores: c.cpu_avg(),
                    cpu_max_cores: (!c.cpu.is_empty()).then_some(c.cpu_max),
                    memory_max_bytes: (!c.memory.is_empty()).then_some(c.memory_max),
                    query_ms: (!c.took.is_empty()).then(|| Percentiles::of(&c.took)),
                    problem: c.problem.clone(),
                })
                .collect(),
            probes: model
                .probe_stats()
                .1
                .iter()
                .map(|p| {
                    let d = Percentiles::of(&p.durations);
                    ProbeSummary {
                        name: p.name.clone(),
                        kind: p.kind,
                        runs: p.runs,
                        p50_ms: d.p50,
                        p95_ms: d.p95,
                        p99_ms: d.p99,
                        max_ms: d.max,
                        failures: p.failures,
                        timeouts: p.timeouts,
                        problem: p.problem.clone(),
                    }
                })
                .collect(),
            thresholds: Vec::new(),
            thresholds_passed: None,
            route_actions: model.routes.records.clone(),
            agents: model.agents.clone(),
            under_supplied_s: model.agents.as_ref().map(|a| a.under_supplied_s),
            delivery: result.delivery.clone().map(|mut d| {
                d.delivery_rate = crate::engine::rate(d.delivered, result.measured);
                d
            }),
            connections: result.connections.clone(),
            epochs: model.epochs.rows(&stage_names(plan)),
            stages: model.epochs.stages(&stage_names(plan)),
            // Run-clock times only: wall time stays in the run log.
            events: model
                .events
                .iter()
                .map(|e| Event {
                    wall: None,
                    ..e.clone()
                })
                .collect(),
        }
        .judged(plan, model)
    }

    /// Why this run measured nothing about the target, if so: the run
    /// stopped on a fatal failure, or every request failed its TLS
    /// handshake. Either is exit code 1 (it could not run), not a result.
    pub fn could_not_run(&self) -> Option<String> {
        if let Some(why) = &self.aborted {
            return Some(why.clone());
        }
        let tls = self.errors.get("tls").copied().unwrap_or(0);
        if self.requests > 0 && tls == self.requests {
            return Some(format!(
                "every TLS handshake failed ({} requests): {}",
                self.requests,
                self.error_messages.get("tls").map_or("", String::as_str)
            ));
        }
        if self.requests == 0 || self.ok > 0 || self.connections.is_some() {
            return None;
        }
        // Not one success: whatever thresholds say, this measured no target.
        let (kind, n) = self
            .errors
            .iter()
            .max_by_key(|(_, n)| **n)
            .map_or(("", 0), |(k, n)| (k.as_str(), *n));
        let first = self
            .error_messages
            .get(kind)
            .map_or(String::new(), |m| format!(": {m}"));
        Some(if self.responses == 0 {
            format!(
                "no response from the target: all {} requests failed before an answer ({kind}: {}{first})",
                group(self.requests),
                group(n)
            )
        } else {
            let codes: Vec<String> = self
                .status_codes
                .iter()
                .map(|(c, n)| format!("{c}: {}", group(*n)))
                // An http_NNN kind repeats a status code above.
                .chain(
                    (n > 0 && !kind.starts_with("http_"))
                        .then(|| format!("{kind}: {}{first}", group(n))),
                )
                .collect();
            format!(
                "no successful response from the target: {} requests, none succeeded ({})",
                group(self.requests),
                codes.join(", ")
            )
        })
    }

    fn judged(mut self, plan: &Plan, model: &RunModel) -> Self {
        if !plan.thresholds.is_empty() {
            self.thresholds = judge(&plan.thresholds, &Facts::of_summary(&self, model));
            self.thresholds_passed = Some(self.thresholds.iter().all(|v| v.pass));
        }
        self
    }

    pub fn write_json(&self, dir: &Path) -> Result<PathBuf, ReportError> {
        std::fs::create_dir_all(dir).map_err(|source| ReportError::CreateDir {
            path: dir.to_owned(),
            source,
        })?;
        let path = dir.join("summary.json");
        let mut text = serde_json::to_string_pretty(self)
            .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
        text.push('\n');
        std::fs::write(&path, text).map_err(|source| ReportError::Write {
            path: path.clone(),
            source,
        })?;
        Ok(path)
    }

    /// The table printed at the end of a run.
    /// A search over several levels: latency is shown per level only.
    fn by_level_only(&self) -> bool {
        self.searched && self.epochs.len() > 1
    }

    pub fn render_text(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "Summary: {} -> {} ({}{})",
            self.profile,
            self.target,
            self.mode,
            if self.mode == "connections" {
                ""
            } else {
                " loop"
            }
        );
        let mut timing = format!("  Measured     {:.2}s", self.duration_s);
        if self.warmup_s > 0.0 {
            let _ = write!(timing, " (after {:.1}s warmup)", self.warmup_s);
        }
        if self.paused_s > 0.0 {
            let _ = write!(timing, ", {:.1}s paused not counted", self.paused_s);
        }
        if self.stopped_early {
            timing.push_str(", stopped early");
        }
        let _ = writeln!(s, "{timing}");
        if let Some(c) = &self.connections {
            super::connections::render_text(&mut s, c, self.duration_s);
        } else {
            let not_sent = if self.not_sent > 0 {
                format!(
                    " of sent   {} not sent ({})",
                    group(self.not_sent),
                    self.not_sent_cause.as_deref().unwrap_or(WAITING_ON_TARGET)
                )
            } else {
                String::new()
            };
            let _ = writeln!(
                s,
                "  Requests     {}   ok {}   failed {}   success {:.2}%{not_sent}",
                group(self.requests),
                group(self.ok),
                group(self.failed),
                self.success_rate
            );
            if self.generator_limited_s > 0.0 {
                let _ = writeln!(
                    s,
                    "  Generator    LIMITED for {:.1}s: rampdeck's own CPU was saturated while the schedule fell behind; latency and throughput then are rampdeck's limit, not the target's",
                    self.generator_limited_s
                );
            }
            if self.responses < self.requests {
                let _ = writeln!(
                    s,
                    "  Throughput   {:.2} req/s   ({:.1} attempts/s, {} unanswered)",
                    self.rps,
                    self.attempts_rps,
                    group(self.requests - self.responses)
                );
            } else {
                let _ = writeln!(s, "  Throughput   {:.2} req/s", self.rps);
            }
            let _ = writeln!(s);
            if self.ok == 0 {
                let _ = writeln!(s, "  Latency      none: not one successful response");
            } else if self.by_level_only() {
                let _ = writeln!(
                    s,
                    "  Latency      by level below (a search's levels do not add up to one)"
                );
            } else {
                let _ = writeln!(
                    s,
                    "  {:<14}{:>9}{:>9}{:>9}{:>9}{:>9}{:>9}{:>9}",
                    "Latency (ms)", "p50", "p90", "p95", "p99", "p99.9", "max", "mean"
                );
            }
            for (name, p) in [
                ("corrected", &self.latency_ms),
                ("service time", &self.service_time_ms),
            ]
            .into_iter()
            .filter(|_| self.ok > 0 && !self.by_level_only())
            {
                let _ = writeln!(
                    s,
                    "    {name:<12}{:>9}{:>9}{:>9}{:>9}{:>9}{:>9}{:>9}",
                    ms(p.p50),
                    ms(p.p90),
                    ms(p.p95),
                    ms(p.p99),
                    ms(p.p999),
                    ms(p.max),
                    ms(p.mean)
                );
            }
            if self.epochs.len() > 1 {
                super::epochs::render_text(&mut s, &self.epochs);
            }
            let _ = writeln!(s);
            let codes: Vec<String> = self
                .status_codes
                .iter()
                .map(|(c, n)| format!("{c}: {}", group(*n)))
                .collect();
            let _ = writeln!(
                s,
                "  Status codes {}",
                if codes.is_empty() {
                    "none".into()
                } else {
                    codes.join("   ")
                }
            );
            let errs: Vec<String> = self
                .errors
                .iter()
                .map(|(k, n)| format!("{k}: {}", group(*n)))
                .collect();
            let _ = writeln!(
                s,
                "  Errors       {}",
                if errs.is_empty() {
                    "none".into()
                } else {
                    errs.join("   ")
                }
            );
            for (kind, msg) in &self.error_messages {
                let _ = writeln!(s, "    {kind}: {msg}");
            }
            if !self.checks.is_empty() {
                let by: Vec<String> = self
                    .checks
                    .iter()
                    .map(|(r, n)| format!("{r} {}", group(*n)))
                    .collect();
                let _ = writeln!(s, "  Checks failed {}", by.join("   "));
            }
        }
        if let Some(d) = &self.delivery {
            super::delivery::render_text(&mut s, d);
        }
        if !self.components.is_empty() {
            let _ = writeln!(s);
            let _ = writeln!(
                s,
                "  Control plane        cpu avg    cpu max    mem max   samples   query p50"
            );
            for c in &self.components {
                let cores =
                    |v: Option<f64>| v.map_or_else(|| "-".to_owned(), |v| format!("{v:.3}"));
                let _ = writeln!(
                    s,
                    "    {:<18}{:>9}{:>11}{:>11}{:>10}{:>12}",
                    c.name,
                    cores(c.cpu_avg_cores),
                    cores(c.cpu_max_cores),
                    c.memory_max_bytes.map_or_else(|| "-".to_owned(), bytes),
                    c.samples,
                    c.query_ms
                        .map_or_else(|| "-".to_owned(), |p| format!("{}ms", ms(p.p50)))
                );
                if let Some(p) = &c.problem {
                    let _ = writeln!(s, "      failing: {p}");
                }
            }
        }
        if !self.probes.is_empty() {
            let _ = writeln!(s);
            let _ = writeln!(
                s,
                "  {:<19}{:>6}{:>9}{:>9}{:>9}{:>9}{:>7}{:>9}",
                "Probes (ms)", "runs", "p50", "p95", "p99", "max", "failed", "timeouts"
            );
            for p in &self.probes {
                let _ = writeln!(
                    s,
                    "    {:<17}{:>6}{:>9}{:>9}{:>9}{:>9}{:>7}{:>9}",
                    p.name.chars().take(17).collect::<String>(),
                    p.runs,
                    ms(p.p50_ms),
                    ms(p.p95_ms),
                    ms(p.p99_ms),
                    ms(p.max_ms),
                    p.failures,
                    p.timeouts
                );
                if let Some(why) = &p.problem {
                    let _ = writeln!(s, "      failing: {why}");
                }
            }
        }
        if let Some(a) = &self.agents {
            let lost = a
                .agents
                .iter()
                .filter(|r| r.state == crate::stats::agents::AgentState::Lost)
                .count();
            let _ = writeln!(s);
            let _ = writeln!(
                s,
                "  Agents: {} {}{}; under-supplied {:.1} s",
                a.agents.len(),
                a.kind,
                if lost > 0 {
                    format!(", {lost} lost")
                } else {
                    String::new()
                },
                a.under_supplied_s
            );
            let _ = writeln!(
                s,
                "    {:<20}{:>9}{:>12}{:>10}{:>10}{:>12}",
                "agent", "state", "sent", "failed", "p99 ms", "clock ms"
            );
            for r in &a.agents {
                let _ = writeln!(
                    s,
                    "    {:<20}{:>9}{:>12}{:>10}{:>10}{:>12}",
                    r.name.chars().take(20).collect::<String>(),
                    r.state.label(),
                    r.sent,
                    r.failed,
                    r.total_p99_ms
                        .map_or_else(|| "-".to_owned(), |v| format!("{v:.2}")),
                    format!("{:+.2}", r.clock_offset_ms)
                );
            }
        }
        if !self.route_actions.is_empty() {
            let _ = writeln!(s);
            let converged = self.route_actions.iter().any(|r| r.converged_ms.is_some());
            let _ = writeln!(
                s,
                "  {:<22}{:>7}{:>9}{:>11}{:>11}{}{:>6}",
                "Route actions",
                "at (s)",
                "apply",
                "data pl.",
                "control",
                if converged {
                    format!("{:>10}", "converged")
                } else {
                    String::new()
                },
                "drops"
            );
            for r in &self.route_actions {
                let opt =
                    |v: Option<f64>| v.map_or_else(|| "-".to_owned(), |v| format!("{v:.0} ms"));
                let drops = r
                    .drops
                    .as_ref()
                    .map_or_else(|| "-".to_owned(), |d| d.charged().to_string());
                let conv = if converged {
                    format!("{:>10}", opt(r.converged_ms))
                } else {
                    String::new()
                };
                let _ = writeln!(
                    s,
                    "    {:<20}{:>7.1}{:>9}{:>11}{:>11}{conv}{:>6}",
                    format!("{} #{}", r.action, r.firing)
                        .chars()
                        .take(20)
                        .collect::<String>(),
                    r.applied_at_s.unwrap_or(r.fired_at_s),
                    opt(r.apply_ms),
                    opt(r.data_plane_ms),
                    opt(r.control_plane_ms),
                    drops
                );
                if let Some(e) = &r.error {
                    let _ = writeln!(s, "      failed: {e}");
                }
                if let Some(d) = r
                    .drops
                    .as_ref()
                    .filter(|d| d.charged() + d.before + d.unrelated + d.later > 0)
                {
                    let _ = writeln!(s, "      {}", crate::run::routes::drops_line(&r.action, d));
                }
            }
            // Each failure is charged to one firing at most, so the charged
            // drops are a part of the run's failures, said in one line.
            let charged: u64 = self
                .route_actions
                .iter()
                .filter_map(|r| r.drops.as_ref())
                .map(|d| d.drops + d.in_flight)
                .sum();
            if charged > 0 {
                // Held connections: the losses are what the firings are charged with.
                let (failed, what) = match &self.connections {
                    Some(c) => (c.server_closed + c.resets, "lost connections"),
                    None => (self.failed, "failed"),
                };
                let _ = writeln!(
                    s,
                    "    drops charged {} of {} {what} (one firing each at most)",
                    group(charged),
                    group(failed)
                );
            }
        }
        if !self.thresholds.is_empty() {
            let _ = writeln!(s);
            let failed = self.thresholds.iter().filter(|v| !v.pass).count();
            let verdict = if failed == 0 {
                "all passed".to_owned()
            } else {
                format!("{failed} FAILED")
            };
            let _ = writeln!(s, "  Thresholds   {verdict}");
            for v in &self.thresholds {
                let _ = writeln!(
                    s,
                    "    {} {}",
                    if v.pass { "pass" } else { "FAIL" },
                    v.describe()
                );
            }
        }
        if self.not_sent > 0 {
            let advice = match self.not_sent_cause.as_deref() {
                Some(GENERATOR_LIMITED) => {
                    "rampdeck ran out of CPU: lower the rate or spread the load over agents"
                }
                None | Some(WAITING_ON_TARGET) => {
                    "every connection was waiting on the target: raise load.max_connections or lower the rate"
                }
                // Another named cause (a lost agent): it, not the target.
                Some(other) => other,
            };
            let _ = writeln!(
                s,
                "  Note: {} scheduled requests never left; {advice}.",
                group(self.not_sent)
            );
        }
        if self.unfinished > 0 {
            let _ = writeln!(
                s,
                "  Note: {} requests were still in flight at the end and are not counted.",
                group(self.unfinished)
            );
        }
        if self.resent > 0 {
            let _ = writeln!(
                s,
                "  Note: {} requests went again on a new connection: the server closed the old one before processing them (keep-alive close or HTTP/2 GOAWAY); they are not failures.",
                group(self.resent)
            );
        }
        // Error messages and probe problems quote servers and commands:
        // no control character of theirs reaches the terminal.
        // Tables are laid out for 80 columns; prose lines wrap there, under
        // their own first word.
        s.lines()
            .flat_map(|l| crate::util::text::wrap(&crate::util::text::sanitize(l), TEXT_WIDTH))
            .map(|l| l + "\n")
            .collect()
    }
}

use crate::routes::drops::{GENERATOR_LIMITED, WAITING_ON_TARGET};

/// The printed summary fits a terminal this wide.
pub const TEXT_WIDTH: usize = 80;

/// The summary's words for why the schedule fell behind.
/// The plan's stage names, by stage (None where the profile gave none).
pub fn stage_names(plan: &Plan) -> Vec<Option<String>> {
    plan.load.stages.iter().map(|s| s.name.clone()).collect()
}

pub fn lag_cause(lag: crate::engine::pace::Lag) -> &'static str {
    match lag {
        crate::engine::pace::Lag::GeneratorLimited => GENERATOR_LIMITED,
        _ => WAITING_ON_TARGET,
    }
}

fn ms(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.3}")
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_broken_gauge_prints_short() {
        assert_eq!(rampdeck_base::fmt::bytes(1.79e308), "1.790e308 B");
        assert_eq!(rampdeck_base::fmt::bytes(123456789.0), "117.7 MiB");
    }

    #[test]
    fn groups_thousands() {
        assert_eq!(rampdeck_base::fmt::group(0), "0");
        assert_eq!(rampdeck_base::fmt::group(999), "999");
        assert_eq!(rampdeck_base::fmt::group(1234567), "1,234,567");
    }
}
