//! Entry point: parses the command line, runs the command, and maps failures to exit codes.
//!
//! Exit codes: 0 the run finished; 1 it could not run (bind, DNS, TLS
//! setup, writing reports); 2 bad input (profile or flags, as clap does);
//! 99 the run finished but a threshold failed or a metric regressed
//! against the baseline.

mod cli;
mod find_cmd;
mod repeat_cmd;
mod scenario_cmd;
mod setup_cmd;
mod trend_cmd;

use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;

use cli::{Cli, Command, RunArgs};
use rampdeck::profile::{self, Overrides, ProfileError};
use rampdeck::report::compare;
use rampdeck::spec::plan::Plan;
use rampdeck::{headless, live};
use rampdeck_demo::config::DemoConfig;

/// `rampdeck demo` works from any directory, so its profile is built in.
const DEMO_PROFILE: &str = include_str!("../profiles/demo.toml");
const DEMO_PROFILE_PATH: &str = "profiles/demo.toml";

pub(crate) const EXIT_CANNOT_RUN: u8 = 1;
pub(crate) const EXIT_BAD_INPUT: u8 = 2;
/// k6's convention: the run finished but a threshold failed (or, with a
/// baseline, a metric regressed).
pub(crate) const EXIT_THRESHOLDS_FAILED: u8 = 99;

fn main() -> ExitCode {
    // Installs the panic hook that reports panics readably; errors we expect
    // are reported below with their own exit codes.
    let _ = color_eyre::install();
    // Before anything opens a file: the hard limit, as Go's runtime does.
    let fd_limit = rampdeck::engine::fds::raise_limit();
    let cli = Cli::parse();
    match cli.command {
        Command::Check { profiles } => check(&profiles),
        Command::Setup { profile, kube } => setup_cmd::run(&profile, &kube, setup_cmd::Part::Setup),
        Command::Teardown { profile, kube } => {
            setup_cmd::run(&profile, &kube, setup_cmd::Part::Teardown)
        }
        Command::Completions { shell } => {
            use std::io::Write;
            // Into memory first: clap_complete panics on a failed write
            // (`rampdeck completions bash | head`); a closed pipe is fine.
            let mut script = Vec::new();
            clap_complete::generate(
                shell,
                &mut cli::completion_command(),
                "rampdeck",
                &mut script,
            );
            let _ = std::io::stdout().write_all(&script);
            ExitCode::SUCCESS
        }
        Command::Scenario { name, args } => scenario_cmd::main(name, &args),
        Command::Find {
            target,
            args,
            adhoc,
        } => find_cmd::main(target.as_deref(), &args, &adhoc, fd_limit),
        Command::Compare {
            base,
            new,
            tolerance,
            aa,
            strict,
        } => compare(&base, &new, &tolerance, aa, strict),
        Command::Report {
            dir,
            format,
            release,
            tolerance,
        } => match (release, dir) {
            (Some(pair), _) => release_summary(&pair, &tolerance),
            (None, Some(dir)) => report(&dir, format),
            (None, None) => ExitCode::from(EXIT_BAD_INPUT),
        },
        Command::Trend {
            history,
            metric,
            by,
            testbed,
            last,
            html,
            width,
            tolerance,
        } => trend_cmd::main(&trend_cmd::Args {
            history,
            metric,
            by,
            testbed,
            last: last as usize,
            html,
            width: width as usize,
            tolerance,
        }),
        Command::Replay { dir, speed, fps } => replay(&dir, speed, fps),
        Command::DemoTarget { config_json } => demo_target(&config_json),
        Command::Agent {
            listen,
            token_file,
            allow,
            name,
            exit_with_stdin,
        } => agent(listen, token_file.as_deref(), allow, name, exit_with_stdin),
        Command::DemoStat { url, timeout } => demo_stat(&url, timeout),
        Command::Demo {
            profile,
            swap_drop,
            run,
        } => repeated(&run, |run| {
            demo(profile.as_deref(), swap_drop, run, fd_limit)
        }),
        Command::Run { target, run, adhoc } => {
            repeated(&run, |run| run_target(&target, run, &adhoc, fd_limit))
        }
    }
}

/// A run command once, or with `--repeat N` N times as a set.
fn repeated(run: &RunArgs, mut one: impl FnMut(&RunArgs) -> ExitCode) -> ExitCode {
    if run.repeat < 2 {
        return one(run);
    }
    let tolerances = match tolerances(&run.tolerance) {
        Ok(t) => t,
        Err(code) => return code,
    };
    let print = run.output.print();
    let r = repeat_cmd::Repeat {
        n: run.repeat,
        out: run.out.as_deref(),
        force: run.force,
        print,
        baseline: run.baseline.as_deref(),
        tolerances,
    };
    repeat_cmd::drive_each(&r, run, |each| one(each))
}

fn demo(
    profile: Option<&str>,
    swap_drop: Option<std::time::Duration>,
    run: &RunArgs,
    fd_limit: Option<u64>,
) -> ExitCode {
    let (rt, signals) = match start_run() {
        Ok(x) => x,
        Err(code) => return code,
    };
    let plan = match profile {
        Some(path) => profile::load(path),
        None => profile::parse(DEMO_PROFILE_PATH, DEMO_PROFILE),
    };
    let plan = plan.and_then(|mut p| {
        let demo = p.demo.get_or_insert_with(DemoConfig::default);
        if swap_drop.is_some() {
            demo.kube.swap_drop = swap_drop;
        }
        overrides(run).apply(&mut p)?;
        Ok(p)
    });
    with_plan(rt, signals, plan, run, fd_limit)
}

fn run_target(
    target: &str,
    run: &RunArgs,
    adhoc: &cli::AdhocArgs,
    fd_limit: Option<u64>,
) -> ExitCode {
    let (rt, signals) = match start_run() {
        Ok(x) => x,
        Err(code) => return code,
    };
    // Anything with a scheme is a URL (ftp:// gets "unsupported scheme", not "cannot read profile").
    let is_url = target.contains("://");
    let plan = if is_url {
        profile::adhoc(target, &adhoc.flags(), &overrides(run))
    } else if let Some(flag) = adhoc.given().first() {
        Err(ProfileError::Flag {
            flag: (*flag).into(),
            message: format!("applies to URL runs only; '{target}' is a profile, so set it there"),
        })
    } else {
        profile::load(target).and_then(|mut p| {
            overrides(run).apply(&mut p)?;
            Ok(p)
        })
    };
    with_plan(rt, signals, plan, run, fd_limit)
}

/// `rampdeck replay DIR`: a run's console, or a scenario's, played back.
fn replay(dir: &std::path::Path, speed: u32, fps: u32) -> ExitCode {
    enum Recorded {
        Run(Box<rampdeck::run::replay::Recording>),
        Scenario(Box<rampdeck::scenarios::log::ScenarioRecording>),
    }
    let loaded = if rampdeck::scenarios::log::is_scenario_log(dir) {
        rampdeck::scenarios::log::read(dir)
            .map(|r| Recorded::Scenario(Box::new(r)))
            .map_err(|e| e.to_string())
    } else {
        rampdeck::run::replay::Recording::load(dir)
            .map(|r| Recorded::Run(Box::new(r)))
            .map_err(|e| e.to_string())
    };
    let recorded = match loaded {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(EXIT_BAD_INPUT);
        }
    };
    if !(std::io::stdout().is_terminal() && std::io::stdin().is_terminal()) {
        eprintln!("error: replay draws the console and needs a terminal; for a file, use `rampdeck report {}`", dir.display());
        return ExitCode::from(EXIT_BAD_INPUT);
    }
    let theme = rampdeck::ui::theme::Theme::from_env();
    let played = match recorded {
        Recorded::Run(rec) => {
            let mut r = rampdeck::run::replay::Replay::new(*rec);
            while r.speed < speed {
                r.faster(true);
            }
            rampdeck::ui::replay::run(r, fps, theme).map_err(|e| e.to_string())
        }
        Recorded::Scenario(rec) => {
            rampdeck::ui::scenario::replay(*rec, speed, fps, theme).map_err(|e| e.to_string())
        }
    };
    match played {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(EXIT_CANNOT_RUN)
        }
    }
}

/// `report --release BASE NEW`: Markdown on stdout.
fn release_summary(pair: &[std::path::PathBuf], t: &cli::ToleranceArgs) -> ExitCode {
    let tol = match tolerances(t) {
        Ok(t) => t,
        Err(code) => return code,
    };
    let [base, new] = pair else {
        eprintln!("error: --release takes two results: BASE NEW");
        return ExitCode::from(EXIT_BAD_INPUT);
    };
    match rampdeck::report::release::summary(base, new, &tol) {
        Ok((md, regressed)) => {
            print!("{md}");
            if regressed {
                ExitCode::from(EXIT_THRESHOLDS_FAILED)
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(EXIT_BAD_INPUT)
        }
    }
}

fn report(dir: &std::path::Path, format: cli::ReportFormat) -> ExitCode {
    use rampdeck::report::document::{write_report, DocumentError, Format};
    let format = match format {
        cli::ReportFormat::Md => Format::Md,
        cli::ReportFormat::Html => Format::Html,
        cli::ReportFormat::Json => Format::Json,
    };
    match write_report(dir, format) {
        Ok(files) => {
            for f in files {
                println!("wrote {}", f.display());
            }
            ExitCode::SUCCESS
        }
        // A directory without a usable run log is the user's input.
        Err(e @ (DocumentError::Log(_) | DocumentError::NoSummary(..))) => {
            eprintln!("error: {e}");
            ExitCode::from(EXIT_BAD_INPUT)
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(EXIT_CANNOT_RUN)
        }
    }
}

fn tolerances(t: &cli::ToleranceArgs) -> Result<compare::Tolerances, ExitCode> {
    compare::Tolerances::with_overrides(t.tolerance, &t.tolerance_for).map_err(|e| {
        eprintln!("error: {e}");
        ExitCode::from(EXIT_BAD_INPUT)
    })
}

fn compare(
    base: &std::path::Path,
    new: &std::path::Path,
    t: &cli::ToleranceArgs,
    aa: bool,
    strict: bool,
) -> ExitCode {
    let tol = match tolerances(t) {
        Ok(t) => t,
        Err(code) => return code,
    };
    use rampdeck::report::repeats::RunSet;
    let (base_set, new_set) = match (RunSet::load(base), RunSet::load(new)) {
        (Ok(b), Ok(n)) => (b, n),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("error: {e}");
            return ExitCode::from(EXIT_BAD_INPUT);
        }
    };
    // Every pair of results across the sides: another profile, target or
    // mode makes the comparison one of two different tests.
    let mut differ: Vec<String> = Vec::new();
    for b in &base_set.results {
        for n in &new_set.results {
            for m in compare::mismatches(b, n) {
                if !differ.contains(&m) {
                    differ.push(m);
                }
            }
        }
    }
    if !differ.is_empty() {
        let what = format!(
            "{} and {} are not like for like: {}",
            base.display(),
            new.display(),
            differ.join("; ")
        );
        if strict {
            eprintln!("error: {what} (--strict)");
            return ExitCode::from(EXIT_BAD_INPUT);
        }
        eprintln!("warning: {what}; the verdicts compare two different tests");
    }
    if aa || base_set.is_repeated() || new_set.is_repeated() {
        use rampdeck::report::verdict;
        if base_set.kind != new_set.kind {
            eprintln!(
                "error: cannot compare '{}' with '{}': one is a {:?} result, the other a {:?} result",
                base.display(),
                new.display(),
                base_set.kind,
                new_set.kind
            );
            return ExitCode::from(EXIT_BAD_INPUT);
        }
        let c = verdict::compare(&base_set, &new_set, &tol);
        if aa {
            print!("{}", verdict::render_noise(&c));
            return ExitCode::SUCCESS;
        }
        print!("{}", verdict::render(&c));
        return if verdict::has_regression(&c) {
            ExitCode::from(EXIT_THRESHOLDS_FAILED)
        } else {
            ExitCode::SUCCESS
        };
    }
    let (Some(base), Some(new)) = (base_set.results.first(), new_set.results.first()) else {
        return ExitCode::from(EXIT_BAD_INPUT);
    };
    let (base, new) = (base.clone(), new.clone());
    use rampdeck::report::{capacity_compare, scenario_compare};
    let rows = match (
        scenario_compare::is_scenario(&base),
        scenario_compare::is_scenario(&new),
    ) {
        _ if capacity_compare::is_capacity(&base) || capacity_compare::is_capacity(&new) => {
            match capacity_compare::compare(&base, &new, &tol) {
                Ok(rows) => rows,
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::from(EXIT_BAD_INPUT);
                }
            }
        }
        (false, false) => {
            let unmatched = compare::unmatched_tolerances(&base, &new, &tol);
            if !unmatched.is_empty() {
                eprintln!(
                    "error: --tolerance-for {}: neither run has {} (a component or probe name as the runs' summaries spell it)",
                    unmatched.join(", "),
                    if unmatched.len() == 1 { "it" } else { "them" }
                );
                return ExitCode::from(EXIT_BAD_INPUT);
            }
            compare::compare(&base, &new, &tol)
        }
        (true, true) => match scenario_compare::compare(&base, &new, &tol) {
            Ok(rows) => rows,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(EXIT_BAD_INPUT);
            }
        },
        _ => {
            eprintln!("error: cannot compare a scenario result with a load run's summary");
            return ExitCode::from(EXIT_BAD_INPUT);
        }
    };
    print!("{}", compare::render(&rows));
    if compare::has_regression(&rows) {
        ExitCode::from(EXIT_THRESHOLDS_FAILED)
    } else {
        ExitCode::SUCCESS
    }
}

fn overrides(run: &RunArgs) -> Overrides {
    Overrides {
        rate: run.rate,
        concurrency: run.concurrency,
        duration: run.duration,
        agents: run.agents.spec(),
        metrics_listen: run.metrics_listen,
    }
}

fn check(paths: &[String]) -> ExitCode {
    let mut bad = 0;
    for path in paths {
        // A URL is checked as the ad-hoc plan `run URL` would make, and
        // shown with its password redacted, never as a file path.
        if path.contains("://") {
            let shown = rampdeck::util::secret::redact(path);
            match profile::adhoc(path, &Default::default(), &Default::default()) {
                Ok(plan) => println!("{shown}: ok\n{}", indent(&plan.describe())),
                Err(e) => {
                    eprintln!("error: {}", rampdeck::util::secret::redact(&e.to_string()));
                    bad += 1;
                }
            }
            continue;
        }
        let is_scenario = profile::read(path).is_ok_and(|t| profile::is_scenario_profile(&t));
        if is_scenario {
            match profile::scenario::load(path) {
                Ok(plan) => println!("{path}: ok\n{}", indent(&plan.describe())),
                Err(e) => {
                    eprintln!("error: {e}");
                    bad += 1;
                }
            }
            continue;
        }
        match profile::load(path) {
            Ok(plan) => println!("{path}: ok\n{}", indent(&plan.describe())),
            Err(e) => {
                eprintln!("error: {e}");
                bad += 1;
            }
        }
    }
    if bad > 0 {
        ExitCode::from(EXIT_BAD_INPUT)
    } else {
        ExitCode::SUCCESS
    }
}

fn indent(s: &str) -> String {
    s.lines().map(|l| format!("  {l}\n")).collect()
}

/// On one core (`taskset -c 0`, a 1-CPU container) a current-thread
/// runtime: the multi-thread scheduler's stealing and wake-ups buy nothing
/// there and cost about 1% of the CPU per request. Otherwise one worker
/// thread per core the process may use (`TOKIO_WORKER_THREADS` sets it).
pub(crate) fn runtime() -> Result<tokio::runtime::Runtime, ExitCode> {
    let one_core = std::env::var_os("TOKIO_WORKER_THREADS").is_none()
        && std::thread::available_parallelism().is_ok_and(|n| n.get() == 1);
    let mut b = if one_core {
        tokio::runtime::Builder::new_current_thread()
    } else {
        tokio::runtime::Builder::new_multi_thread()
    };
    b.enable_all().build().map_err(|e| {
        eprintln!("error: cannot start the async runtime: {e}");
        ExitCode::from(EXIT_CANNOT_RUN)
    })
}

/// The runtime and the stop signals, first thing for a command that runs
/// load: a Ctrl-C or SIGTERM from here on ends in a written summary.
pub(crate) fn start_run(
) -> Result<(tokio::runtime::Runtime, rampdeck::signals::StopSignals), ExitCode> {
    let rt = runtime()?;
    let signals = {
        let _in_runtime = rt.enter();
        rampdeck::signals::StopSignals::new()
    };
    Ok((rt, signals))
}

fn with_plan(
    rt: tokio::runtime::Runtime,
    signals: rampdeck::signals::StopSignals,
    plan: Result<Plan, ProfileError>,
    run: &RunArgs,
    fd_limit: Option<u64>,
) -> ExitCode {
    let plan = match plan {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(EXIT_BAD_INPUT);
        }
    };
    // Everything that can be known before the run is checked before it.
    let connections = match plan.load.mode {
        rampdeck::spec::plan::Mode::Open => plan.load.max_connections,
        rampdeck::spec::plan::Mode::Closed => plan.load.peak_level().ceil() as usize,
    };
    let checks = [
        rampdeck::engine::fds::check(connections as u64, fd_limit),
        run.out.as_deref().map_or(Ok(()), |d| {
            rampdeck::report::outputs::check_out_dir(d, run.force)
        }),
        run.history
            .as_deref()
            .map_or(Ok(()), rampdeck::report::outputs::check_history),
    ];
    for c in checks {
        if let Err(e) = c {
            eprintln!("error: {e}");
            return ExitCode::from(EXIT_BAD_INPUT);
        }
    }
    // Bad tolerances or a baseline that cannot be read fail now, not after the run.
    if let Err(code) = tolerances(&run.tolerance) {
        return code;
    }
    if let Some(base) = &run.baseline {
        if let Err(e) = rampdeck::report::repeats::RunSet::load(base) {
            eprintln!("error: --baseline: {e}");
            return ExitCode::from(EXIT_BAD_INPUT);
        }
    }
    rt.block_on(run_plan(plan, run, signals))
}

/// Points the plan's route actions at the demo's simulated Kubernetes API
/// (unless `[kube]` names another), so the demo runs the same kube-rs path
/// a real cluster does.
fn use_demo_kubeconfig(plan: &mut Plan, launched: &rampdeck_demo::launch::Launched) {
    let Some(demo) = plan.demo.as_ref() else {
        return;
    };
    let ns = demo.kube.namespace.clone();
    match &launched.kubeconfig {
        Ok(path) => {
            eprintln!(
                "demo Kubernetes API (simulated): kubectl --kubeconfig {} get httproutes,gateways",
                path.display()
            );
            let k = &mut plan.routes.kube;
            if k.kubeconfig.is_none() {
                k.kubeconfig = Some(path.clone());
                k.context = None;
                k.namespace.get_or_insert(ns);
            }
            plan.routes
                .base_vars
                .insert("demo.kubeconfig".into(), path.display().to_string());
        }
        Err(e) => eprintln!("warning: {e}; kube route actions will fail"),
    }
}

async fn run_plan(
    mut plan: Plan,
    run: &RunArgs,
    signals: rampdeck::signals::StopSignals,
) -> ExitCode {
    let demo = match &plan.demo {
        Some(config) => {
            match rampdeck_demo::launch::launch(config, run.out.as_deref(), "demo").await {
                Ok(d) => {
                    let addrs = &d.process.addrs;
                    eprintln!(
                        "demo target: gateway http://{}  control plane http://{}/metrics  (a simulation, see docs/demo.md)",
                        addrs.gateway, addrs.control
                    );
                    plan.with_demo(addrs);
                    use_demo_kubeconfig(&mut plan, &d);
                    Some(d)
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::from(EXIT_CANNOT_RUN);
                }
            }
        }
        None => None,
    };
    let opts = headless::Options {
        out: run.out.clone(),
        print: run.output.print(),
        source: None,
    };
    // The console needs a terminal on both ends; a pipe or file gets the headless view.
    let console =
        !run.headless && std::io::stdout().is_terminal() && std::io::stdin().is_terminal();
    let plan = Arc::new(plan);
    let result = if console {
        live::run(plan, &opts, run.fps, signals)
            .await
            .map_err(|e| e.to_string())
    } else {
        headless::run(plan, &opts, signals)
            .await
            .map_err(|e| e.to_string())
    };
    if let Some(d) = demo {
        d.stop().await;
    }
    let tol = match tolerances(&run.tolerance) {
        Ok(t) => t,
        Err(code) => return code,
    };
    let result = result.and_then(|summary| {
        if let Some(why) = summary.could_not_run() {
            return Err(why);
        }
        let regression = rampdeck::report::after_run(
            &summary,
            run.baseline.as_deref(),
            run.history.as_deref(),
            &tol,
            run.output.print(),
        )?;
        Ok(summary.thresholds_passed == Some(false) || regression)
    });
    match result {
        Ok(true) => ExitCode::from(EXIT_THRESHOLDS_FAILED),
        Ok(false) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(EXIT_CANNOT_RUN)
        }
    }
}

fn demo_stat(url: &str, timeout: std::time::Duration) -> ExitCode {
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    match rt.block_on(fetch_demo_stats(url, timeout)) {
        Ok(stats) => {
            print!("{}", stats.table());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(EXIT_CANNOT_RUN)
        }
    }
}

/// The demo control plane's `/stats`, fetched with the probes' client.
async fn fetch_demo_stats(
    url: &str,
    timeout: std::time::Duration,
) -> Result<rampdeck_demo::control::DemoStats, String> {
    let client = rampdeck::probes::http::HttpClient::new()?;
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

/// `rampdeck agent`: serve runs for coordinators until stopped.
fn agent(
    listen: std::net::SocketAddr,
    token_file: Option<&std::path::Path>,
    allow: Option<String>,
    name: Option<String>,
    exit_with_stdin: bool,
) -> ExitCode {
    use rampdeck::agents;
    let token = match agents::token_from(token_file, agents::TokenFor::Agent) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(EXIT_BAD_INPUT);
        }
    };
    let allow = match allow.or_else(|| std::env::var("RAMPDECK_AGENT_ALLOW").ok()) {
        Some(a) => agents::server::parse_allow(&a),
        None => Err("give --allow HOST:PORT[,...] (or RAMPDECK_AGENT_ALLOW): the targets this agent may send load to".into()),
    };
    let allow = match allow {
        Ok(a) => a,
        Err(e) => {
            eprintln!("error: --allow: {e}");
            return ExitCode::from(EXIT_BAD_INPUT);
        }
    };
    let name = name
        .or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|h| h.trim().to_owned())
        })
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| "agent".into());
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    let opts = agents::server::AgentOptions {
        listen,
        token,
        allow,
        name,
    };
    let served = rt.block_on(async move {
        let stdin_closed = async {
            if exit_with_stdin {
                use tokio::io::AsyncReadExt;
                let mut buf = [0u8; 64];
                let mut stdin = tokio::io::stdin();
                while matches!(stdin.read(&mut buf).await, Ok(n) if n > 0) {}
            } else {
                std::future::pending::<()>().await
            }
        };
        tokio::select! {
            r = agents::server::serve(opts) => r,
            _ = stdin_closed => Ok(()),
            _ = tokio::signal::ctrl_c() => Ok(()),
        }
    });
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(EXIT_CANNOT_RUN)
        }
    }
}

fn demo_target(config_json: &str) -> ExitCode {
    let config: DemoConfig = match serde_json::from_str(config_json) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: --config-json: {e}");
            return ExitCode::from(EXIT_BAD_INPUT);
        }
    };
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    match rt.block_on(rampdeck_demo::run_child(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(EXIT_CANNOT_RUN)
        }
    }
}
