//! `rampdeck check`'s account of a plan: what it would run, section by section, with every URL's password redacted.

use std::fmt::Write;
use std::time::Duration;

use crate::spec::plan::{Mode, Plan, TargetAddr};

impl Plan {
    /// What the plan would run, one line per item, as `rampdeck check` prints it.
    pub fn describe(&self) -> String {
        let mut s = String::new();
        self.describe_target(&mut s);
        self.describe_requests(&mut s);
        self.describe_stages(&mut s);
        self.describe_watchers(&mut s);
        self.describe_delivery(&mut s);
        self.describe_setup(&mut s);
        self.describe_judging(&mut s);
        self.describe_demo(&mut s);
        self.describe_routes(&mut s);
        // Probe, source and action URLs may carry userinfo too.
        crate::util::secret::redact(&s).into_owned()
    }

    /// The profile, its description and the target.
    fn describe_target(&self, s: &mut String) {
        let _ = writeln!(s, "profile  {}", self.name);
        if let Some(d) = &self.description {
            let _ = writeln!(s, "         {}", d.trim());
        }
        let t = &self.target;
        let _ = writeln!(
            s,
            "target   {} ({}, timeout {}, connect timeout {}{})",
            self.target_display(),
            match (&self.connections, &t.addr) {
                (Some(_), TargetAddr::Url(e)) if e.https => "TLS",
                (Some(_), _) => "TCP",
                (None, _) if t.http2 => "HTTP/2",
                (None, _) => "HTTP/1.1",
            },
            rampdeck_base::fmt::fmt_dur(t.timeout),
            rampdeck_base::fmt::fmt_dur(t.connect_timeout),
            if t.insecure {
                ", TLS verification OFF"
            } else {
                ""
            }
        );
    }

    /// The request mix (or the connections) and the load line.
    fn describe_requests(&self, s: &mut String) {
        let l = &self.load;
        if let Some(c) = &self.connections {
            self.describe_connections(s, c);
        } else {
            let total_weight: u32 = self.requests.iter().map(|r| r.weight).sum();
            for r in &self.requests {
                if let Some(g) = &r.grpc {
                    let _ = writeln!(
                        s,
                        "request  {:>5.1}%  gRPC {}  ({}; deadline {} as grpc-timeout)",
                        100.0 * r.weight as f64 / total_weight as f64,
                        g.full_method,
                        match (&g.message_json, &g.input) {
                            (Some(_), _) => "message rendered from its JSON per call".to_owned(),
                            (None, Some(d)) => format!(
                                "{} of {} bytes",
                                d.full_name(),
                                r.body.len().saturating_sub(5)
                            ),
                            (None, None) =>
                                format!("{} raw message bytes", r.body.len().saturating_sub(5)),
                        },
                        rampdeck_base::fmt::fmt_dur(self.target.timeout),
                    );
                    continue;
                }
                let _ = writeln!(
                    s,
                    "request  {:>5.1}%  {} {}{}",
                    100.0 * r.weight as f64 / total_weight as f64,
                    r.method,
                    r.path,
                    if r.body.is_empty() {
                        String::new()
                    } else {
                        format!("  ({} byte body)", r.body.len())
                    }
                );
            }
            let _ = writeln!(
                s,
                "load     {} loop, {}, {}, seed {}, {} intervals",
                match l.mode {
                    Mode::Open => "open",
                    Mode::Closed => "closed",
                },
                match l.mode {
                    Mode::Open => format!("up to {} connections", l.max_connections),
                    Mode::Closed => format!("up to {} workers", l.max_connections),
                },
                if l.warmup.is_zero() {
                    "no warmup".to_owned()
                } else {
                    format!(
                        "warmup {} (not counted)",
                        rampdeck_base::fmt::fmt_dur(l.warmup)
                    )
                },
                l.seed,
                rampdeck_base::fmt::fmt_dur(l.interval)
            );
        }
    }

    /// Each stage with its start, the total and the requests expected.
    fn describe_stages(&self, s: &mut String) {
        let l = &self.load;
        let mut at = Duration::ZERO;
        for (i, st) in l.stages.iter().enumerate() {
            let _ = writeln!(
                s,
                "stage {}  at {:>8}  {}",
                i + 1,
                rampdeck_base::fmt::fmt_dur(at),
                st.describe(self.level_unit())
            );
            at += st.duration;
        }
        let expected: f64 = match l.mode {
            Mode::Open if self.connections.is_none() => l
                .stages
                .iter()
                .map(|st| (st.from + st.to) / 2.0 * st.duration.as_secs_f64())
                .sum(),
            _ => f64::NAN,
        };
        let _ = write!(s, "total    {}", rampdeck_base::fmt::fmt_dur(at));
        if expected.is_finite() {
            let _ = write!(s, ", about {} requests", expected.round() as u64);
        }
        s.push('\n');
    }

    /// Sources, stat commands and probes.
    fn describe_watchers(&self, s: &mut String) {
        for src in &self.probes.sources {
            let what = match &src.kind {
                crate::spec::probes::SourceKind::Scrape { url, .. } => format!("scrape {url}"),
                crate::spec::probes::SourceKind::Promql { url, .. } => format!("promql {url}"),
            };
            let _ = writeln!(
                s,
                "source   {}: {what} every {}",
                src.name,
                rampdeck_base::fmt::fmt_dur(src.interval)
            );
        }
        for st in &self.probes.stats {
            let _ = writeln!(
                s,
                "stat     {}: {} every {}, timeout {}",
                st.name,
                st.argv.join(" "),
                rampdeck_base::fmt::fmt_dur(st.interval),
                rampdeck_base::fmt::fmt_dur(st.timeout)
            );
        }
        for p in &self.probes.probes {
            let _ = writeln!(
                s,
                "probe    {}: GET {} expecting {} every {}",
                p.name,
                p.url,
                p.expect_status,
                rampdeck_base::fmt::fmt_dur(p.interval)
            );
        }
    }

    /// The delivery sink.
    fn describe_delivery(&self, s: &mut String) {
        if let Some(d) = &self.delivery {
            let _ = writeln!(
                s,
                "delivery sink on {}, id {} from {}, deadline {}, {} cop{} expected, room for {} events in flight; answers {}{}",
                d.listen,
                d.id_text,
                match &d.id_from {
                    crate::spec::delivery::IdFrom::Header(h) => format!("header {h}"),
                    crate::spec::delivery::IdFrom::Pointer(p) => format!("JSON pointer {p}"),
                },
                rampdeck_base::fmt::fmt_dur(d.deadline),
                d.expect_copies,
                if d.expect_copies == 1 { "y" } else { "ies" },
                d.capacity,
                d.respond.status,
                if d.respond.failure_rate > 0.0 {
                    format!(
                        ", {:.1}% {}",
                        d.respond.failure_rate * 100.0,
                        d.respond.failure_status
                    )
                } else {
                    String::new()
                }
            );
        }
    }

    /// The `[[setup]]` steps and their waits.
    fn describe_setup(&self, s: &mut String) {
        for st in &self.setup.steps {
            let mut waits: Vec<String> = Vec::new();
            if st.ready {
                waits.push("each object ready".into());
            }
            for w in &st.waits {
                waits.push(match w {
                    crate::spec::setup::WaitSpec::Condition {
                        kind,
                        name,
                        condition,
                    } => format!(
                        "{kind}{} {condition}",
                        name.as_ref().map_or_else(String::new, |n| format!(" {n}"))
                    ),
                    crate::spec::setup::WaitSpec::Url { url, status } => {
                        format!("{} answering {status}", crate::util::secret::redact(url))
                    }
                });
            }
            let _ = writeln!(
                s,
                "setup    apply {}{}, wait for {} (timeout {}){}",
                st.manifest.display(),
                if st.vars.is_empty() {
                    String::new()
                } else {
                    format!(
                        " ({})",
                        st.vars
                            .iter()
                            .map(|(k, v)| format!("{k}={v}"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                },
                if waits.is_empty() {
                    "nothing".into()
                } else {
                    waits.join(", ")
                },
                rampdeck_base::fmt::fmt_dur(st.timeout),
                if st.keep {
                    "; kept after the run"
                } else {
                    "; removed after the run"
                }
            );
        }
    }

    /// The metrics endpoint, thresholds and the search.
    fn describe_judging(&self, s: &mut String) {
        if let Some(m) = &self.metrics {
            let _ = writeln!(s, "metrics  OpenMetrics at http://{}/metrics", m.listen);
        }
        for t in &self.thresholds {
            let _ = writeln!(s, "threshold {} {}", t.name, t.expr);
        }
        if let Some(f) = &self.find {
            let _ = writeln!(
                s,
                "find     {} from {} up to {}, x{} then bisect to {:.1}%, steps {} + {} settling, confirm {}, at most {} steps, SLO {}",
                if f.closed { "concurrency" } else { "rate" },
                rampdeck_base::fmt::fmt_level(f.search.start),
                rampdeck_base::fmt::fmt_level(f.search.max),
                f.search.factor,
                f.search.precision * 100.0,
                rampdeck_base::fmt::fmt_dur(f.step),
                rampdeck_base::fmt::fmt_dur(f.settle),
                rampdeck_base::fmt::fmt_dur(f.confirm),
                f.search.max_steps,
                if f.slo.is_empty() {
                    "the profile's [thresholds]".to_owned()
                } else {
                    f.slo
                        .iter()
                        .map(|t| format!("{} {}", t.name, t.expr))
                        .collect::<Vec<_>>()
                        .join(", ")
                }
            );
        }
    }

    /// The demo target.
    fn describe_demo(&self, s: &mut String) {
        if let (Some(demo), Some(_)) = (&self.demo, &self.connections) {
            let e = &demo.echo;
            let _ = writeln!(
                s,
                "demo     echo: TCP on its own port, WebSocket at {} on the gateway; latency {}{}{}",
                rampdeck_demo::config::WS_PATH,
                rampdeck_base::fmt::fmt_dur(e.latency),
                e.reset_after.map_or(String::new(), |d| format!(
                    ", FAULT: each connection reset after {}",
                    rampdeck_base::fmt::fmt_dur(d)
                )),
                e.close_after.map_or(String::new(), |d| format!(
                    ", FAULT: each connection closed by the server after {} (WebSocket code {})",
                    rampdeck_base::fmt::fmt_dur(d),
                    e.close_code
                )),
            );
        } else if let Some(demo) = &self.demo {
            for r in &demo.routes {
                let _ = writeln!(
                    s,
                    "demo     route {:<16} {}, {:.1}% errors ({}){}{}",
                    r.prefix,
                    r.latency,
                    r.error_rate * 100.0,
                    r.error_status,
                    r.stall.map_or(String::new(), |st| format!(
                        ", stalls {} every {}",
                        rampdeck_base::fmt::fmt_dur(st.duration),
                        rampdeck_base::fmt::fmt_dur(st.every)
                    )),
                    r.workers
                        .map_or(String::new(), |w| format!(", {w} workers (the rest queue)"))
                );
                if let Some(relay) = &r.relay {
                    let _ = writeln!(
                        s,
                        "         relays to x-relay-to after {}, {:.1}% lost, {:.1}% twice, {} retries from {}",
                        rampdeck_base::fmt::fmt_dur(relay.delay),
                        relay.loss * 100.0,
                        relay.duplicate * 100.0,
                        relay.retries,
                        rampdeck_base::fmt::fmt_dur(relay.retry_after)
                    );
                }
            }
            let k = &demo.kube;
            let _ = writeln!(
                s,
                "demo     kube API (simulated): Gateway {}/{}, backends {}, propagation {}{}",
                k.namespace,
                k.gateway,
                k.backends.join(", "),
                rampdeck_base::fmt::fmt_dur(k.propagation),
                k.swap_drop.map_or(String::new(), |d| format!(
                    ", FAULT: 503s for {} after a backend swap",
                    rampdeck_base::fmt::fmt_dur(d)
                ))
            );
        }
    }

    /// The route actions.
    fn describe_routes(&self, s: &mut String) {
        for a in &self.routes.actions {
            use crate::spec::routes::{ActionKind, ObjectSource};
            let what = match &a.kind {
                ActionKind::Kube(k) => {
                    let obj = match &k.object {
                        ObjectSource::File(p) => p.display().to_string(),
                        ObjectSource::Inline(v) => format!(
                            "{} {}",
                            v["kind"].as_str().unwrap_or("?"),
                            v["metadata"]["name"].as_str().unwrap_or("?")
                        ),
                        ObjectSource::Named { kind, name } => format!("{} {name}", kind.kind()),
                    };
                    format!(
                        "kube {} {obj}{}",
                        k.op.verb(),
                        if k.watch { ", watch" } else { "" }
                    )
                }
                ActionKind::Http(h) => format!("http {} {}", h.method, h.url),
                ActionKind::Command(c) => format!("command {}", c.argv.join(" ")),
            };
            let key = a.key.map_or_else(|| "-".to_owned(), |k| k.to_string());
            let at: Vec<String> =
                a.at.iter()
                    .map(|d| rampdeck_base::fmt::fmt_dur(*d))
                    .collect();
            let _ = writeln!(
                s,
                "route    [{key}] {}: {what}{}{}",
                a.name,
                if at.is_empty() {
                    String::new()
                } else {
                    format!(", at {}", at.join(", "))
                },
                if a.verify.is_some() { ", verify" } else { "" }
            );
        }
    }

    /// `rampdeck check`'s lines for a connections run: what each connection does.
    fn describe_connections(&self, s: &mut String, c: &crate::spec::connections::ConnectionsPlan) {
        use std::fmt::Write;
        let traffic = match (&c.traffic, c.message_interval) {
            (crate::spec::connections::Traffic::Idle, _) | (_, None) => "held idle".to_owned(),
            (t, Some(every)) => format!(
                "a {}-byte {} message every {}, its echo timed (timeout {})",
                c.message.len(),
                if matches!(t, crate::spec::connections::Traffic::Tcp) {
                    "TCP"
                } else {
                    "WebSocket"
                },
                rampdeck_base::fmt::fmt_dur(every),
                rampdeck_base::fmt::fmt_dur(self.target.timeout)
            ),
        };
        let _ = writeln!(s, "traffic  {traffic}");
        let _ = writeln!(
            s,
            "load     connections: open up to {}/s, hold each {}{}, seed {}, {} intervals",
            rampdeck_base::fmt::fmt_level(c.open_rate),
            c.hold.map_or_else(
                || "to the end of the run".to_owned(),
                rampdeck_base::fmt::fmt_dur
            ),
            match c.proxy {
                Some(crate::spec::connections::ProxyVersion::V1) =>
                    ", PROXY protocol v1 header first",
                Some(crate::spec::connections::ProxyVersion::V2) =>
                    ", PROXY protocol v2 header first",
                None => "",
            },
            self.load.seed,
            rampdeck_base::fmt::fmt_dur(self.load.interval)
        );
    }
}
