//! `[[source]]`, `[[stat]]` and `[[probe]]`: what is watched during a run, validated.

use std::time::Duration;

use toml::Spanned;

use super::error::{ProfileError, Source};
use super::schema::*;
use super::validate::positive_dur;
use rampdeck_base::duration::Dur;

/// Placeholders a profile may use in probe URLs and commands.
pub const DEMO_VARS: [&str; 2] = ["demo.control", "demo.gateway"];

/// Checks a probe URL, with `{{demo.*}}` standing for an address (only under `[demo]`).
pub(super) fn probe_url(
    src: &Source,
    field: &str,
    url: &Spanned<String>,
    has_demo: bool,
) -> Result<String, ProfileError> {
    let mut concrete = url.get_ref().clone();
    for var in DEMO_VARS {
        let pattern = format!("{{{{{var}}}}}");
        if concrete.contains(&pattern) {
            if !has_demo {
                return Err(src.at(
                    url.span(),
                    format!("{field}: '{pattern}' is the demo's address and only exists in a profile with [demo]"),
                ));
            }
            concrete = concrete.replace(&pattern, "http://127.0.0.1:1");
        }
    }
    if !concrete.contains("://") {
        return Err(src.at(
            url.span(),
            format!(
                "{field}: invalid URL '{0}': it needs http:// or https://, e.g. http://{0}",
                url.get_ref()
            ),
        ));
    }
    let uri: http::Uri = concrete.parse().map_err(|e| {
        src.at(
            url.span(),
            format!("{field}: invalid URL '{}': {e}", url.get_ref()),
        )
    })?;
    if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.authority().is_none() {
        return Err(src.at(
            url.span(),
            format!(
                "{field}: invalid URL '{}': it needs http:// or https:// and a host",
                url.get_ref()
            ),
        ));
    }
    Ok(url.get_ref().clone())
}

pub(super) fn probe_timing(
    src: &Source,
    field: &str,
    interval: Option<Spanned<Dur>>,
    timeout: Option<Spanned<Dur>>,
    default_interval: Duration,
) -> Result<(Duration, Duration), ProfileError> {
    let interval =
        positive_dur(src, &format!("{field}.interval"), interval)?.unwrap_or(default_interval);
    let timeout = positive_dur(src, &format!("{field}.timeout"), timeout)?.unwrap_or(
        crate::spec::probes::DEFAULT_PROBE_TIMEOUT.min(interval.max(Duration::from_secs(1))),
    );
    Ok((interval, timeout))
}

pub fn probes_config(
    src: &Source,
    sources: Vec<Spanned<RawSource>>,
    stats: Vec<Spanned<RawStat>>,
    probes: Vec<Spanned<RawProbe>>,
    has_demo: bool,
) -> Result<crate::spec::probes::ProbesConfig, ProfileError> {
    use crate::spec::probes::*;
    let mut out = ProbesConfig {
        sources: Vec::new(),
        stats: Vec::new(),
        probes: Vec::new(),
    };
    for (i, s) in sources.into_iter().enumerate() {
        let field = format!("source[{i}]");
        let s = s.into_inner();
        let url = probe_url(src, &format!("{field}.url"), &s.url, has_demo)?;
        let (interval, timeout) =
            probe_timing(src, &field, s.interval, s.timeout, DEFAULT_SOURCE_INTERVAL)?;
        let kind = match s.kind.get_ref().as_str() {
            "scrape" => {
                for (q, name) in [(&s.cpu_query, "cpu_query"), (&s.memory_query, "memory_query")] {
                    if let Some(q) = q {
                        return Err(src.at(q.span(), format!("{field}.{name} applies to kind = \"promql\"; a scrape source names metrics with cpu_metric / memory_metric")));
                    }
                }
                SourceKind::Scrape {
                    url,
                    cpu_metric: s.cpu_metric.unwrap_or_else(|| DEFAULT_CPU_METRIC.into()),
                    memory_metric: s.memory_metric.unwrap_or_else(|| DEFAULT_MEMORY_METRIC.into()),
                    labels: s.labels.into_iter().collect(),
                }
            }
            "promql" => {
                if s.cpu_query.is_none() && s.memory_query.is_none() {
                    return Err(src.at(
                        s.kind.span(),
                        format!("{field}: a promql source needs cpu_query and/or memory_query, e.g. cpu_query = 'sum(rate(container_cpu_usage_seconds_total{{namespace=\"linkerd\"}}[1m]))'"),
                    ));
                }
                let token = match (s.bearer_token_file, s.bearer_token_env) {
                    (Some(_), Some(_)) => return Err(src.at(s.kind.span(), format!("{field}: give bearer_token_file or bearer_token_env, not both"))),
                    (Some(f), None) => Some(TokenSource::File(f.into())),
                    (None, Some(e)) => Some(TokenSource::Env(e)),
                    (None, None) => None,
                };
                SourceKind::Promql {
                    url,
                    cpu_query: s.cpu_query.map(Spanned::into_inner),
                    memory_query: s.memory_query.map(Spanned::into_inner),
                    token,
                }
            }
            other => {
                return Err(src.at(s.kind.span(), format!("{field}.kind: unknown source kind '{other}': use \"scrape\" (a /metrics endpoint) or \"promql\" (a Prometheus server)")))
            }
        };
        out.sources.push(SourceConfig {
            name: s.name.unwrap_or_else(|| format!("source {}", i + 1)),
            kind,
            interval,
            timeout,
        });
    }
    for (i, s) in stats.into_iter().enumerate() {
        let field = format!("stat[{i}]");
        let s = s.into_inner();
        if s.command.get_ref().is_empty() || s.command.get_ref()[0].trim().is_empty() {
            return Err(src.at(s.command.span(), format!("{field}.command: give the program and its arguments, e.g. [\"linkerd\", \"viz\", \"stat\", \"deploy\"]")));
        }
        let (interval, timeout) =
            probe_timing(src, &field, s.interval, s.timeout, DEFAULT_PROBE_INTERVAL)?;
        let keep_lines = match s.lines {
            Some(l) if (1..=200).contains(l.get_ref()) => *l.get_ref() as usize,
            Some(l) => {
                return Err(src.at(
                    l.span(),
                    format!("{field}.lines: must be from 1 to 200, got {}", l.get_ref()),
                ))
            }
            None => DEFAULT_KEEP_LINES,
        };
        let until = match s.until.as_ref().map(|u| (u.get_ref().as_str(), u.span())) {
            None | Some(("exit", _)) => crate::spec::probes::Until::Exit,
            Some(("first_line", _)) => crate::spec::probes::Until::FirstLine,
            Some((other, span)) => {
                return Err(src.at(
                    span,
                    format!("{field}.until: '{other}' is not allowed; use \"exit\" (time the command to its exit) or \"first_line\" (to its first line of output, then stop it)"),
                ))
            }
        };
        let argv = s.command.into_inner();
        out.stats.push(StatConfig {
            until,
            name: s.name.unwrap_or_else(|| argv.join(" ")),
            argv,
            shell: s.shell,
            interval,
            timeout,
            env: s.env.into_iter().collect(),
            cwd: s.cwd.map(Into::into),
            keep_lines,
        });
    }
    for (i, p) in probes.into_iter().enumerate() {
        let field = format!("probe[{i}]");
        let p = p.into_inner();
        let url = probe_url(src, &format!("{field}.url"), &p.url, has_demo)?;
        let (interval, timeout) =
            probe_timing(src, &field, p.interval, p.timeout, DEFAULT_PROBE_INTERVAL)?;
        let expect_status = match p.expect_status {
            Some(s) if (100..=599).contains(s.get_ref()) => *s.get_ref() as u16,
            Some(s) => {
                return Err(src.at(
                    s.span(),
                    format!(
                        "{field}.expect_status: must be an HTTP status from 100 to 599, got {}",
                        s.get_ref()
                    ),
                ))
            }
            None => 200,
        };
        out.probes.push(HttpProbeConfig {
            name: p.name.unwrap_or_else(|| url.clone()),
            url,
            expect_status,
            interval,
            timeout,
        });
    }
    Ok(out)
}
