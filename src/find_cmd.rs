//! `rampdeck find`: the capacity search from the command line: the plan (profile, URL or the demo), the search's settings from `[find]` and the flags, the run, the table, capacity.json and the exit code.

use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::Arc;

use rampdeck::find;
use rampdeck::find::search::Outcome;
use rampdeck::profile::{self, ProfileError};
use rampdeck::spec::find::FindConfig;
use rampdeck::spec::plan::Plan;

use crate::cli::{AdhocArgs, FindArgs};
use crate::{EXIT_BAD_INPUT, EXIT_CANNOT_RUN, EXIT_THRESHOLDS_FAILED};

/// `--demo`: one route whose capacity is known by construction (8 workers,
/// 5 ms each: 1,600 req/s), and an SLO a few service times wide.
const DEMO_FIND: &str = r#"
name = "find --demo"
[target]
timeout = "2s"
[[request]]
name = "work"
path = "/work"
[load]
rate = 100
duration = "1m"
max_connections = 256
[demo]
[[demo.route]]
prefix = "/work"
latency = "5ms"
workers = 8
[[source]]
name = "demo control plane"
kind = "scrape"
url = "{{demo.control}}/metrics"
interval = "1s"
[find]
start = 200
max = 20000
slo = ["p99 < 25ms", "success_rate > 99.9"]
"#;

pub fn main(
    target: Option<&str>,
    args: &FindArgs,
    adhoc: &AdhocArgs,
    fd_limit: Option<u64>,
) -> ExitCode {
    if args.repeat > 1 {
        if args.output.format != crate::cli::OutputFormat::Text {
            eprintln!("error: --repeat with --output {:?}: a set of searches writes repeats.json under --out; read that", args.output.format);
            return ExitCode::from(EXIT_BAD_INPUT);
        }
        let r = crate::repeat_cmd::Repeat {
            n: args.repeat,
            out: args.out.as_deref(),
            force: args.force,
            print: rampdeck::report::Print::Text,
            baseline: args.baseline.as_deref(),
            tolerances: rampdeck::report::compare::Tolerances {
                default_pct: args.tolerance,
                ..Default::default()
            },
        };
        return crate::repeat_cmd::drive_each(&r, args, |each| once(target, each, adhoc, fd_limit));
    }
    once(target, args, adhoc, fd_limit)
}

fn once(
    target: Option<&str>,
    args: &FindArgs,
    adhoc: &AdhocArgs,
    fd_limit: Option<u64>,
) -> ExitCode {
    let (plan, cfg) = match plan(target, args, adhoc) {
        Ok(x) => x,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(EXIT_BAD_INPUT);
        }
    };
    let connections = if cfg.closed {
        cfg.search.max.ceil() as u64
    } else {
        plan.load.max_connections as u64
    };
    let checks = [
        rampdeck::engine::fds::check(connections, fd_limit),
        args.out.as_deref().map_or(Ok(()), |d| {
            rampdeck::report::outputs::check_out_dir(d, args.force)
        }),
    ];
    for c in checks {
        if let Err(e) = c {
            eprintln!("error: {e}");
            return ExitCode::from(EXIT_BAD_INPUT);
        }
    }
    if let Err(e) = rampdeck::report::compare::Tolerances::with_overrides(args.tolerance, &[]) {
        eprintln!("error: --tolerance: {e}");
        return ExitCode::from(EXIT_BAD_INPUT);
    }
    let baseline = match &args.baseline {
        Some(b) => match rampdeck::report::capacity_compare::load(b) {
            Ok(v) => Some(v),
            Err(e) => {
                eprintln!("error: --baseline: {e}");
                return ExitCode::from(EXIT_BAD_INPUT);
            }
        },
        None => None,
    };
    let rt = match crate::runtime() {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    let signals = {
        let _in = rt.enter();
        rampdeck::signals::StopSignals::new()
    };
    rt.block_on(run(plan, cfg, args, signals, baseline))
}

fn flag(flag: &str, message: impl Into<String>) -> ProfileError {
    ProfileError::Flag {
        flag: flag.into(),
        message: message.into(),
    }
}

/// The highest level a search may name: a rate, or requests in flight.
fn max_level(closed: bool) -> f64 {
    if closed {
        rampdeck::util::limits::MAX_CONNECTIONS as f64
    } else {
        rampdeck::util::limits::MAX_RATE
    }
}

/// The plan searched and the search's settings, flags over `[find]` over defaults.
fn plan(
    target: Option<&str>,
    a: &FindArgs,
    adhoc: &AdhocArgs,
) -> Result<(Plan, FindConfig), ProfileError> {
    let mut plan = match target {
        None => profile::parse("(find --demo)", DEMO_FIND)?,
        Some(t) if t.contains("://") => {
            profile::adhoc(t, &adhoc.flags(), &profile::Overrides::default())?
        }
        Some(t) => {
            if let Some(f) = adhoc.given().first() {
                return Err(flag(
                    f,
                    format!("applies to URL searches only; '{t}' is a profile, so set it there"),
                ));
            }
            profile::load(t)?
        }
    };
    if plan.connections.is_some() {
        return Err(flag(
            "PROFILE",
            "is a connections profile: find searches a request rate or concurrency, and a connections run sends no requests",
        ));
    }
    if let Some(spec) = a.agents.spec() {
        plan.agents = Some(spec);
    }
    let mut cfg = match plan.find.clone() {
        Some(c) if c.closed == a.concurrency || !a.concurrency => c,
        _ => FindConfig::defaults(a.concurrency),
    };
    if a.concurrency && !cfg.closed {
        cfg = FindConfig::defaults(true);
    }
    let positive = |name: &str, v: Option<f64>| -> Result<Option<f64>, ProfileError> {
        match v {
            Some(x) if !(x.is_finite() && x > 0.0) => {
                Err(flag(name, format!("must be more than 0, got {x}")))
            }
            other => Ok(other),
        }
    };
    // Concurrency counts requests in flight: a whole number of them, and
    // never past the rate cap either way.
    let level = |name: &str, v: Option<f64>| -> Result<Option<f64>, ProfileError> {
        let v = positive(name, v)?;
        match v {
            Some(x) if cfg.closed && x.fract() != 0.0 => Err(flag(
                name,
                format!(
                    "{} is not a whole number: --concurrency searches requests in flight (1, 2, 50, ...)",
                    rampdeck_base::fmt::num(x)
                ),
            )),
            Some(x) if x > max_level(cfg.closed) => Err(flag(
                name,
                format!(
                    "{} is more than the most rampdeck sends ({})",
                    rampdeck_base::fmt::num(x),
                    if cfg.closed { format!("{} in flight", rampdeck_base::fmt::group(rampdeck::util::limits::MAX_CONNECTIONS as u64)) } else { rampdeck::util::limits::MAX_RATE_TEXT.to_owned() }
                ),
            )),
            other => Ok(other),
        }
    };
    if let Some(v) = level("--start", a.start)? {
        cfg.search.start = v;
    }
    if let Some(v) = level("--max", a.max)? {
        cfg.search.max = v;
    }
    if cfg.search.max < cfg.search.start {
        return Err(flag(
            "--max",
            format!(
                "{} is below the start level {}",
                cfg.search.max, cfg.search.start
            ),
        ));
    }
    if let Some(f) = a.factor {
        if !(f.is_finite() && f > 1.0 && f <= 10.0) {
            return Err(flag(
                "--factor",
                format!("must be more than 1 and at most 10, got {f}"),
            ));
        }
        cfg.search.factor = f;
    }
    if let Some(p) = &a.precision {
        let v = match p.trim().strip_suffix('%') {
            Some(pct) => pct.trim().parse::<f64>().map(|x| x / 100.0),
            None => p.trim().parse::<f64>(),
        };
        match v {
            Ok(x) if x > 0.0 && x < 1.0 => cfg.search.precision = x,
            _ => {
                return Err(flag(
                    "--precision",
                    format!("'{p}': give a share of the passing level, e.g. 2% or 0.02"),
                ))
            }
        }
    }
    if let Some(k) = a.max_steps {
        cfg.search.max_steps = k;
    }
    if let Some(d) = a.step {
        if d.is_zero() {
            return Err(flag("--step", "must be longer than 0"));
        }
        cfg.step = d;
    }
    if let Some(d) = a.settle {
        cfg.settle = d;
    }
    if let Some(d) = a.confirm {
        if d.is_zero() {
            return Err(flag("--confirm", "must be longer than 0"));
        }
        cfg.confirm = d;
    }
    if !a.slo.is_empty() {
        cfg.slo = a
            .slo
            .iter()
            .map(|t| rampdeck::spec::thresholds::parse_criterion(t).map_err(|m| flag("--slo", m)))
            .collect::<Result<_, _>>()?;
    }
    if cfg.slo.is_empty() {
        cfg.slo = rampdeck::spec::find::slo_of_thresholds(&plan.thresholds);
    }
    if cfg.slo.is_empty() {
        return Err(flag(
            "--slo",
            "a search needs an SLO: give --slo \"p99 < 50ms\" (repeatable), [find] slo, or [thresholds] in the profile",
        ));
    }
    rampdeck::spec::find::check_slo(&cfg.slo, &plan.probes).map_err(|m| flag("--slo", m))?;
    if let Some(n) = a.max_connections {
        plan.load.max_connections = n as usize;
    }
    // Step windows lie on the interval grid.
    let grid = plan.load.interval;
    for d in [&mut cfg.settle, &mut cfg.step, &mut cfg.confirm] {
        let n = d.as_nanos().div_ceil(grid.as_nanos().max(1));
        *d = grid.saturating_mul(n.min(u32::MAX as u128) as u32);
    }
    Ok((plan, cfg))
}

async fn run(
    mut plan: Plan,
    cfg: FindConfig,
    args: &FindArgs,
    signals: rampdeck::signals::StopSignals,
    baseline: Option<serde_json::Value>,
) -> ExitCode {
    let demo = match &plan.demo {
        Some(config) => {
            match rampdeck_demo::launch::launch(config, args.out.as_deref(), "find").await {
                Ok(d) => {
                    eprintln!(
                        "demo target: gateway http://{} (a simulation, see docs/demo.md)",
                        d.process.addrs.gateway
                    );
                    plan.with_demo(&d.process.addrs);
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
    let searched = Arc::new(find::search_plan(&plan, &cfg));
    eprintln!(
        "searching {} from {} up to {}: steps of {} after {} settling, precision {:.1}%, SLO {}",
        if cfg.closed { "concurrency" } else { "rate" },
        cfg.search.start,
        cfg.search.max,
        rampdeck_base::fmt::fmt_dur(cfg.step),
        rampdeck_base::fmt::fmt_dur(cfg.settle),
        cfg.search.precision * 100.0,
        cfg.slo
            .iter()
            .map(|t| format!("{} {}", t.name, t.expr))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let console =
        !args.headless && std::io::stdout().is_terminal() && std::io::stdin().is_terminal();
    // With --output json, stdout carries the search's result alone.
    let json = args.output.format != crate::cli::OutputFormat::Text;
    let print = if json {
        rampdeck::report::Print::Nothing
    } else {
        rampdeck::report::Print::Text
    };
    let found = if console {
        // The console draws the search (its capacity pane) as it goes.
        let opts = rampdeck::headless::Options {
            out: args.out.clone(),
            print,
            source: None,
        };
        let (c, conns) = (cfg.clone(), searched.load.max_connections);
        match rampdeck::live::run_with(searched.clone(), &opts, 10, signals, move |s| {
            (
                find::driver::Driver::new(c, s.control(), conns, rampdeck::ui::console::LogPane),
                None,
            )
        })
        .await
        {
            Ok((summary, driver)) => {
                find::conclude(&searched, &cfg, &driver, &summary, args.out.as_deref())
                    .map(|r| (r, summary))
                    .map_err(|e| e.to_string())
            }
            Err(e) => Err(e.to_string()),
        }
    } else {
        let view = rampdeck::headless::Stderr::new(searched.clone());
        find::run(searched, cfg, args.out.as_deref(), view, signals, print)
            .await
            .map_err(|e| e.to_string())
    };
    if let Some(d) = demo {
        d.stop().await;
    }
    let (result, _summary) = match found {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(EXIT_CANNOT_RUN);
        }
    };
    match args.output.format {
        crate::cli::OutputFormat::Text => print!("{}", result.table()),
        crate::cli::OutputFormat::Json => match serde_json::to_string_pretty(&result) {
            Ok(text) => println!("{text}"),
            Err(e) => eprintln!("error: the result as JSON: {e}"),
        },
        format => {
            use rampdeck::report::bench_formats;
            eprint!("{}", result.table());
            let v = serde_json::to_value(&result).unwrap_or_default();
            let measures = bench_formats::of_result(&v);
            let name = format!("capacity {}", v["target"].as_str().unwrap_or(""));
            let doc = if format == crate::cli::OutputFormat::Bmf {
                bench_formats::bmf(&name, &measures)
            } else {
                if let Some(dir) = &args.out {
                    if let Err(e) = bench_formats::write_benchmark_action(dir, &name, &measures) {
                        eprintln!("warning: {e}");
                    }
                }
                bench_formats::benchmark_action(&name, &measures, true)
            };
            println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
        }
    }
    if let Some(dir) = &args.out {
        eprintln!("wrote {}", dir.join("capacity.json").display());
    }
    // The baseline is judged as `rampdeck compare` judges two searches.
    let mut regression = false;
    if let Some(base) = &baseline {
        let tol = rampdeck::report::compare::Tolerances::with_overrides(args.tolerance, &[]);
        let now = serde_json::to_value(&result).unwrap_or_default();
        match tol
            .map_err(|e| e.to_string())
            .and_then(|t| rampdeck::report::capacity_compare::compare(base, &now, &t))
        {
            Ok(rows) => {
                let table = rampdeck::report::compare::render(&rows);
                if json {
                    eprint!("{table}");
                } else {
                    print!("{table}");
                }
                regression = rampdeck::report::compare::has_regression(&rows);
            }
            Err(e) => eprintln!("warning: --baseline: {e}"),
        }
    }
    match result.outcome {
        Outcome::Found { .. } | Outcome::AboveMax { .. } if !regression => ExitCode::SUCCESS,
        Outcome::OutOfSteps {
            passed: Some(_), ..
        } if !regression => ExitCode::SUCCESS,
        // rampdeck could not measure the target: not a verdict on it.
        Outcome::GeneratorLimited { .. } => ExitCode::from(EXIT_CANNOT_RUN),
        _ => ExitCode::from(EXIT_THRESHOLDS_FAILED),
    }
}
