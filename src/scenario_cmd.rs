//! `rampdeck scenario`: builds the scenario from profile and flags, starts the demo if asked, runs it in a view, and maps the verdict to an exit code.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use rampdeck::profile::scenario::{route_count_flag, ScenarioPlan};
use rampdeck::profile::ProfileError;
use rampdeck::scenarios::config::ScenarioKind;
use rampdeck::scenarios::report::Outcome;
use rampdeck::scenarios::session::{self, Session};
use rampdeck::scenarios::{ScenarioError, ScenarioEvent};
use rampdeck::spec::probes::{SourceConfig, SourceKind, DEFAULT_CPU_METRIC, DEFAULT_MEMORY_METRIC};
use rampdeck_demo::{config::DemoConfig, DemoProcess};

use crate::cli::{ScenarioArgs, ScenarioName};
use crate::{EXIT_BAD_INPUT, EXIT_CANNOT_RUN, EXIT_THRESHOLDS_FAILED};

pub fn main(name: ScenarioName, args: &ScenarioArgs) -> ExitCode {
    if args.repeat > 1 {
        let tolerances = match rampdeck::report::compare::Tolerances::with_overrides(
            args.tolerance.tolerance,
            &args.tolerance.tolerance_for,
        ) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(EXIT_BAD_INPUT);
            }
        };
        let r = crate::repeat_cmd::Repeat {
            n: args.repeat,
            out: args.out.as_deref(),
            force: args.force,
            print: rampdeck::report::Print::Text,
            baseline: args.baseline.as_deref(),
            tolerances,
        };
        return crate::repeat_cmd::drive_each(&r, args, |each| once(name, each));
    }
    once(name, args)
}

fn once(name: ScenarioName, args: &ScenarioArgs) -> ExitCode {
    let kind = match name {
        ScenarioName::AttachedRoutes => ScenarioKind::AttachedRoutes,
        ScenarioName::RouteProbe => ScenarioKind::RouteProbe,
        ScenarioName::RouteChange => ScenarioKind::RouteChange,
        ScenarioName::RouteScale => ScenarioKind::RouteScale,
        ScenarioName::BackendFailover => ScenarioKind::BackendFailover,
        ScenarioName::Staleness => ScenarioKind::Staleness,
        ScenarioName::TrafficMatrix => ScenarioKind::TrafficMatrix,
    };
    let plan = match plan(kind, args) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(EXIT_BAD_INPUT);
        }
    };
    if let Some(dir) = &args.out {
        if let Err(e) = rampdeck::report::outputs::check_out_dir(dir, args.force) {
            eprintln!("error: {e}");
            return ExitCode::from(EXIT_BAD_INPUT);
        }
    }
    // A baseline, tolerances or a history file that cannot be used fail now, not after the run.
    if let Err(e) = rampdeck::report::compare::Tolerances::with_overrides(
        args.tolerance.tolerance,
        &args.tolerance.tolerance_for,
    ) {
        eprintln!("error: {e}");
        return ExitCode::from(EXIT_BAD_INPUT);
    }
    if let Some(base) = &args.baseline {
        if let Err(e) = rampdeck::report::scenario_compare::load(base) {
            eprintln!("error: --baseline: {e}");
            return ExitCode::from(EXIT_BAD_INPUT);
        }
    }
    if let Some(h) = &args.history {
        if let Err(e) = rampdeck::report::outputs::check_history(h) {
            eprintln!("error: {e}");
            return ExitCode::from(EXIT_BAD_INPUT);
        }
    }
    let rt = match crate::runtime() {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    rt.block_on(run(kind, plan, args))
}

/// The profile (or the defaults) with the flags applied.
fn plan(kind: ScenarioKind, a: &ScenarioArgs) -> Result<ScenarioPlan, ProfileError> {
    let mut p = match &a.profile {
        Some(path) => rampdeck::profile::scenario::load(path)?,
        None => rampdeck::profile::scenario::parse("(defaults)", "")?,
    };
    let flag = |flag: &str, message: &str| ProfileError::Flag {
        flag: flag.into(),
        message: message.into(),
    };
    // A flag another scenario reads would be checked and then ignored: refuse it.
    let applies = [
        (
            "--routes",
            a.routes.is_some(),
            &[
                ScenarioKind::AttachedRoutes,
                ScenarioKind::RouteProbe,
                ScenarioKind::RouteScale,
                ScenarioKind::BackendFailover,
            ][..],
            "attached-routes, route-probe, route-scale and backend-failover only",
        ),
        (
            "--duration",
            a.duration.is_some(),
            &[ScenarioKind::RouteScale, ScenarioKind::TrafficMatrix][..],
            "route-scale and traffic-matrix only",
        ),
        (
            "--idle",
            a.idle.is_some(),
            &[ScenarioKind::Staleness][..],
            "staleness only",
        ),
        (
            "--churn-rate",
            a.churn_rate.is_some(),
            &[ScenarioKind::RouteScale][..],
            "route-scale only",
        ),
        (
            "--writers",
            a.writers.is_some(),
            &[ScenarioKind::AttachedRoutes][..],
            "attached-routes only",
        ),
        (
            "--write-rate",
            a.write_rate.is_some(),
            &[ScenarioKind::AttachedRoutes][..],
            "attached-routes only",
        ),
        (
            "--rate",
            a.rate.is_some(),
            &[
                ScenarioKind::RouteChange,
                ScenarioKind::RouteScale,
                ScenarioKind::BackendFailover,
                ScenarioKind::TrafficMatrix,
            ][..],
            "route-change, route-scale, backend-failover and traffic-matrix only",
        ),
        (
            "--max-rate",
            a.max_rate,
            &[ScenarioKind::RouteChange][..],
            "route-change only",
        ),
        (
            "--period",
            a.period.is_some(),
            &[ScenarioKind::RouteChange][..],
            "route-change only",
        ),
        (
            "--iterations",
            a.iterations.is_some(),
            &[ScenarioKind::RouteChange][..],
            "route-change only",
        ),
    ];
    for (name, given, kinds, which) in applies {
        if given && !kinds.contains(&kind) {
            return Err(flag(name, &format!("applies to {which}")));
        }
    }
    let c = &mut p.config;
    if let Some(n) = a.routes {
        let n = route_count_flag("--routes", n)?;
        c.attached.routes = vec![n];
        c.probe.routes = vec![n];
        c.scale.routes = n;
        c.failover.routes = n;
    }
    if let Some(d) = a.duration {
        if d.is_zero() {
            return Err(flag("--duration", "must be longer than 0"));
        }
        c.scale.duration = d;
        c.matrix.duration = d;
    }
    if let Some(d) = a.idle {
        if d.is_zero() {
            return Err(flag("--idle", "must be longer than 0"));
        }
        c.staleness.idle = d;
    }
    if let Some(r) = a.churn_rate {
        if !(r.is_finite() && r > 0.0 && r <= 1000.0) {
            return Err(flag(
                "--churn-rate",
                "must be more than 0 and at most 1000 patches per second",
            ));
        }
        c.scale.churn_rate = r;
    }
    if let Some(w) = a.writers {
        c.attached.writers = w as usize;
    }
    if let Some(r) = a.write_rate {
        if !(r.is_finite() && r > 0.0) {
            return Err(flag(
                "--write-rate",
                "must be more than 0 writes per second",
            ));
        }
        c.attached.write_rate = Some(r);
    }
    if let Some(r) = a.rate {
        if !(r.is_finite() && r > 0.0 && r <= 20_000.0) {
            return Err(flag(
                "--rate",
                "must be more than 0 and at most 20000 requests per second",
            ));
        }
        c.change.rate = r;
        c.change.max_rate = false;
        c.scale.rate = r;
        c.failover.rate = r;
        c.matrix.rate = r;
    }
    if a.max_rate {
        c.change.max_rate = true;
    }
    if let Some(d) = a.period {
        if d.is_zero() {
            return Err(flag("--period", "must be longer than 0"));
        }
        c.change.period = d;
    }
    if let Some(k) = a.iterations {
        c.change.iterations = k;
    }
    if let Some(u) = &a.gateway_url {
        rampdeck::spec::plan::Endpoint::parse(u).map_err(|m| flag("--gateway-url", &m))?;
        c.cluster.gateway_url = Some(u.clone());
    }
    for (f, v) in [("--gateway", &a.gateway), ("--namespace", &a.namespace)] {
        if let Some(v) = v {
            if !rampdeck::profile::scenario::is_dns_label(v) {
                return Err(flag(
                    f,
                    "is not a Kubernetes name (lower-case letters, digits and '-')",
                ));
            }
        }
    }
    if let Some(g) = &a.gateway {
        c.cluster.gateway = g.clone();
    }
    if let Some(n) = &a.namespace {
        c.cluster.namespace = Some(n.clone());
    }
    if let Some(ctx) = &a.context {
        c.kube.context = Some(ctx.clone());
    }
    if a.demo {
        let d = p.demo.get_or_insert_with(DemoConfig::default);
        if let Some(prop) = a.demo_propagation {
            d.kube.propagation = prop;
        }
        if let Some(s) = a.demo_swap_drop {
            d.kube.swap_drop = Some(s).filter(|s| !s.is_zero());
        }
        if let Some(i) = a.demo_health_check {
            d.kube.health_check = (!i.is_zero()).then_some(rampdeck_demo::health::HealthCheck {
                interval: i,
                fall: 3,
                rise: 2,
            });
        }
        if let Some(n) = a.demo_retries {
            d.kube.retries = n.min(10);
        }
        if let Some(n) = a.demo_stale_after_roll {
            d.kube.stale_after_roll = n;
        }
        if let Some(n) = a.demo_leak_per_route {
            d.kube.leak_per_route = n.min(16 << 20);
        }
        let pair = [
            ScenarioKind::RouteChange,
            ScenarioKind::BackendFailover,
            ScenarioKind::Staleness,
        ];
        if d.kube.backends.len() < 2 && pair.contains(&kind) {
            return Err(flag(
                "--demo",
                &format!(
                    "{} needs two demo backends ([demo.kube] backends)",
                    kind.name()
                ),
            ));
        }
    } else if c.cluster.gateway_url.is_none() && kind != ScenarioKind::AttachedRoutes {
        return Err(flag(
            "--gateway-url",
            &format!("{} sends traffic through the Gateway: give its address (e.g. --gateway-url http://203.0.113.10), or run it on the demo with --demo", kind.name()),
        ));
    }
    Ok(p)
}

/// Points the scenario at the running demo: its kubeconfig, Gateway, backends and `/metrics`.
fn use_demo(p: &mut ScenarioPlan, d: &DemoProcess, kubeconfig: PathBuf) {
    let Some(demo) = &p.demo else { return };
    let sim = &demo.kube;
    let c = &mut p.config;
    c.kube.kubeconfig = Some(kubeconfig);
    c.kube.context = None;
    c.kube.namespace = Some(sim.namespace.clone());
    c.cluster.namespace = Some(sim.namespace.clone());
    c.cluster.gateway_namespace = Some(sim.namespace.clone());
    c.cluster.gateway = sim.gateway.clone();
    c.cluster.gateway_url = Some(format!("http://{}", d.addrs.gateway));
    if let Some(b) = sim.backends.first() {
        c.cluster.backend = b.clone();
    }
    if let [a, b, ..] = sim.backends.as_slice() {
        c.change.backends = [a.clone(), b.clone()];
    }
    c.change.backend_header = Some(rampdeck_demo::gateway::BACKEND_HEADER.to_owned());
    c.failover.backends = sim.backends.clone();
    c.staleness.backends = sim.backends.clone();
    // The demo's fault switches: what an operator's kill/revive/roll commands do on a cluster.
    let switch = |path: String| rampdeck::scenarios::action::Toggle::Post {
        url: format!("http://{}/demo/{path}", d.addrs.control),
        bearer: Some(d.addrs.admin_token.clone()),
    };
    let flapping = c
        .failover
        .flapping
        .clone()
        .or_else(|| sim.backends.last().cloned())
        .unwrap_or_default();
    c.failover
        .kill
        .get_or_insert_with(|| switch(format!("backends/{flapping}/down")));
    c.failover
        .revive
        .get_or_insert_with(|| switch(format!("backends/{flapping}/up")));
    c.staleness
        .roll
        .get_or_insert_with(|| switch("backends/roll".into()));
    c.scale
        .roll
        .get_or_insert_with(|| switch("backends/roll".into()));
    if p.probes.sources.is_empty() {
        p.probes.sources.push(SourceConfig {
            name: "demo control plane".into(),
            kind: SourceKind::Scrape {
                url: "{{demo.control}}/metrics".into(),
                cpu_metric: DEFAULT_CPU_METRIC.into(),
                memory_metric: DEFAULT_MEMORY_METRIC.into(),
                labels: Vec::new(),
            },
            interval: Duration::from_millis(500),
            timeout: Duration::from_secs(2),
        });
    }
    p.probes.substitute(&[
        ("demo.control", format!("http://{}", d.addrs.control)),
        ("demo.gateway", format!("http://{}", d.addrs.gateway)),
    ]);
}

async fn run(kind: ScenarioKind, mut plan: ScenarioPlan, args: &ScenarioArgs) -> ExitCode {
    let mut demo = None;
    if args.demo {
        let config = plan.demo.clone().unwrap_or_default();
        let d = match rampdeck_demo::launch::launch(&config, args.out.as_deref(), "scenario").await
        {
            Ok(d) => d,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(EXIT_CANNOT_RUN);
            }
        };
        let path = match &d.kubeconfig {
            Ok(p) => p.clone(),
            Err(e) => {
                eprintln!("error: {e}");
                d.stop().await;
                return ExitCode::from(EXIT_CANNOT_RUN);
            }
        };
        eprintln!(
            "demo (simulated Gateway API, propagation {}{}): gateway http://{}  kubectl --kubeconfig {} get httproutes,gateways",
            rampdeck_base::fmt::fmt_dur(config.kube.propagation),
            config.kube.swap_drop.map_or_else(String::new, |s| format!(", swap_drop {}", rampdeck_base::fmt::fmt_dur(s))),
            d.process.addrs.gateway,
            path.display()
        );
        use_demo(&mut plan, &d.process, path);
        demo = Some(d);
    }
    plan.config.matrix.runner = Some(rampdeck::cells::runner());
    let mut session = session::start(kind, plan.config.clone(), plan.probes.clone());
    // With --out, every event goes to the run log on its way to the view,
    // so `replay` and `report` work on the scenario (and a killed one keeps
    // what it did).
    let mut logging = None;
    if let Some(dir) = &args.out {
        match rampdeck::scenarios::log::ScenarioLog::create(
            dir,
            kind,
            &plan.config,
            plan.source.clone(),
        ) {
            Ok(log) => {
                let events = std::mem::replace(
                    &mut session.events,
                    tokio::sync::mpsc::unbounded_channel().1,
                );
                let (events, task) = rampdeck::scenarios::log::tee(events, log);
                session.events = events;
                logging = Some(task);
            }
            Err(e) => eprintln!("warning: no run log: {e}"),
        }
    }
    let signals = tokio::spawn(cancel_on_signal(session.cancel.clone()));
    let console =
        !args.headless && std::io::stdout().is_terminal() && std::io::stdin().is_terminal();
    let result = if console {
        rampdeck::ui::scenario::run(
            session,
            kind,
            args.fps,
            rampdeck::ui::theme::Theme::from_env(),
        )
        .await
    } else {
        headless(session).await
    };
    signals.abort();
    if let Some(d) = demo {
        d.stop().await;
    }
    let report = match result {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(EXIT_CANNOT_RUN);
        }
    };
    print!("{}", report.table());
    if let Some(task) = logging {
        match task.await {
            Ok((log, None)) => {
                if let Err(e) = log.result(&report) {
                    eprintln!("warning: run log: {e}");
                }
            }
            Ok((_, Some(e))) => eprintln!("warning: run log: {e}"),
            Err(e) => eprintln!("warning: run log: {e}"),
        }
    }
    if let Some(dir) = &args.out {
        match report.write(dir) {
            Ok(p) => eprintln!("wrote {}", p.display()),
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(EXIT_CANNOT_RUN);
            }
        }
    }
    let regression = match after_scenario(&report, args) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(EXIT_CANNOT_RUN);
        }
    };
    match report.outcome {
        Outcome::Passed if !regression => ExitCode::SUCCESS,
        _ => ExitCode::from(EXIT_THRESHOLDS_FAILED),
    }
}

/// `--history` and `--baseline` after a scenario, as after a run; true on a regression.
fn after_scenario(
    report: &rampdeck::scenarios::report::ScenarioReport,
    args: &ScenarioArgs,
) -> Result<bool, String> {
    use rampdeck::report::{compare, scenario_compare};
    let value = serde_json::to_value(report).map_err(|e| e.to_string())?;
    if let Some(path) = &args.history {
        let line = serde_json::json!({
            "at": humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
            "scenario": value["scenario"],
            "outcome": value["outcome"],
            "attached_routes": value["attached_routes"].as_array().map(|a| a.iter().map(|x| serde_json::json!({
                "routes": x["routes"], "setup_total_s": x["setup_total_s"], "teardown_s": x["teardown_s"],
            })).collect::<Vec<_>>()),
            "route_probe": value["route_probe"].as_array().map(|a| a.iter().map(|x| serde_json::json!({
                "routes": x["routes"], "data_plane_p99_ms": x["data_plane_ms"]["p99"], "control_plane_p99_ms": x["control_plane_ms"]["p99"],
            })).collect::<Vec<_>>()),
            "route_change_failed": value["route_change"]["failed"],
        });
        let mut line = line;
        let env =
            rampdeck::run::env::Environment::capture_for(None, None, std::time::SystemTime::now());
        rampdeck::report::history::enrich(
            &mut line,
            &value,
            &serde_json::to_value(env).unwrap_or_default(),
        );
        rampdeck::report::append_history(path, &line)?;
    }
    let Some(base) = &args.baseline else {
        return Ok(false);
    };
    let tol = compare::Tolerances::with_overrides(
        args.tolerance.tolerance,
        &args.tolerance.tolerance_for,
    )
    .map_err(|e| e.to_string())?;
    let base = scenario_compare::load(base).map_err(|e| e.to_string())?;
    let rows = scenario_compare::compare(&base, &value, &tol)?;
    println!("Compared with the baseline:\n{}", compare::render(&rows));
    Ok(compare::has_regression(&rows))
}

/// Progress lines on stderr until the scenario ends.
async fn headless(
    mut s: Session,
) -> Result<rampdeck::scenarios::report::ScenarioReport, ScenarioError> {
    let mut err = std::io::stderr();
    while let Some(ev) = s.events.recv().await {
        let (at, text) = match ev {
            ScenarioEvent::Phase { at, text, .. } => (at, format!("== {text}")),
            ScenarioEvent::Log { at, text } => (at, text),
            ScenarioEvent::Flip {
                at,
                iteration,
                backend,
            } => (at, format!("route-change: flip {iteration} -> {backend}")),
            _ => continue,
        };
        let _ = writeln!(err, "[{:>7.2}s] {text}", at.as_secs_f64());
    }
    match s.task.await {
        Ok(r) => r,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}

/// Ctrl-C or SIGTERM ends the scenario early; the routes it made are still removed and the report written.
async fn cancel_on_signal(cancel: tokio_util::sync::CancellationToken) {
    if rampdeck::signals::StopSignals::new().next().await {
        eprintln!("stopping: removing the scenario's routes, then writing the report");
        cancel.cancel();
    }
}
