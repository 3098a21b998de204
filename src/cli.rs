//! Command-line interface (clap): subcommands, flags, and how they map onto profiles.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "rampdeck",
    version,
    about = "A terminal console for live load tests of service meshes and API gateways",
    long_about = "A terminal console for live load tests of service meshes and API gateways.\n\n\
        Exit codes: 0 the run finished, 1 it could not run (bind, DNS, TLS setup), 2 bad input (profile or flags), \
        99 the run finished but a threshold failed or, with --baseline, a metric regressed."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// A repeat's flags: its own directory, headless, no baseline (the set
/// is judged once, after), one run; `$extra` for what else a command needs.
macro_rules! set_member {
    ($t:ty $(, |$each:ident, $args:ident| $extra:expr)?) => {
        impl crate::repeat_cmd::Member for $t {
            fn member(&self, dir: PathBuf) -> Self {
                let mut each = self.clone();
                each.out = Some(dir);
                each.headless = true;
                each.baseline = None;
                each.repeat = 1;
                $({
                    let ($each, $args) = (&mut each, self);
                    $extra;
                })?
                each
            }
        }
    };
}

// With a machine format the set prints, its runs do not.
set_member!(RunArgs, |each, args| each.output.quiet =
    args.output.print().machine());
set_member!(FindArgs);
set_member!(ScenarioArgs);

/// The command line as completions offer it: without the internal
/// commands (`demo-target`), which clap_complete would still list.
pub fn completion_command() -> clap::Command {
    use clap::CommandFactory;
    let full = Cli::command();
    let mut c = clap::Command::new("rampdeck").version(env!("CARGO_PKG_VERSION"));
    if let Some(a) = full.get_about() {
        c = c.about(a.clone());
    }
    for a in full.get_arguments() {
        c = c.arg(a.clone());
    }
    for sub in full.get_subcommands().filter(|s| !s.is_hide_set()) {
        c = c.subcommand(sub.clone());
    }
    c
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Start the embedded demo target on 127.0.0.1 and run the demo profile against it.
    Demo {
        /// A profile with a [demo] table to use instead of the built-in demo profile.
        #[arg(long, value_name = "PROFILE")]
        profile: Option<String>,
        /// Fault: the demo gateway answers 503 this long on a route whose backend just changed
        /// (sets [demo.kube] swap_drop), to see real drops charged to that route only.
        #[arg(long, value_name = "D", value_parser = parse_duration)]
        swap_drop: Option<Duration>,
        #[command(flatten)]
        run: RunArgs,
    },
    /// Run a profile, or a single URL (like oha/hey) with the request flags below.
    Run {
        /// A profile (.toml), an http(s):// URL, or a grpc(s)://HOST:PORT/package.Service/Method URL.
        target: String,
        #[command(flatten)]
        run: RunArgs,
        #[command(flatten)]
        adhoc: AdhocArgs,
    },
    /// Play a recorded run or scenario (its --out directory) back in the console: space, arrows, +/-, n.
    Replay {
        /// The run's --out directory (with run.jsonl).
        dir: PathBuf,
        /// Start at this speed: 1, 2, 4, 8 or 16.
        #[arg(long, default_value_t = 1, value_parser = parse_speed)]
        speed: u32,
        /// Console frames per second.
        #[arg(long, value_name = "N", default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=60))]
        fps: u32,
    },
    /// Compare two runs' summaries (or two scenario results, or two capacity searches); exit 99 if a metric got worse beyond its tolerance.
    ///
    /// Either side may be a --repeat set (its --out directory): then each metric gets a
    /// direction-aware verdict from the 95% bootstrap interval of its change: a regression
    /// only when the whole interval is worse by more than the tolerance, "noise" when it
    /// holds zero. --aa reports two sets of one build as measured noise per metric.
    Compare {
        /// The baseline: a run's --out directory or summary.json, or a --repeat set's directory.
        base: PathBuf,
        /// The run (or set) to judge.
        new: PathBuf,
        #[command(flatten)]
        tolerance: ToleranceArgs,
        /// A/A: BASE and NEW are the same build; print each metric's measured noise and the tolerance it calls for (exit 0).
        #[arg(long)]
        aa: bool,
        /// Refuse (exit 2) instead of warning when BASE and NEW ran another profile, target or mode.
        #[arg(long)]
        strict: bool,
    },
    /// Each metric of a --history file over runs, with change points: a terminal chart, and with --html a report; exit 99 when the newest change point is a regression beyond tolerance.
    ///
    /// Change points: circular binary segmentation with a rank permutation test (p <= 0.001),
    /// so an outlier run is not a shift and pure noise rarely gives one. Only lines of one
    /// testbed (host, CPU, cores, kernel) are joined: the newest line's, or --testbed.
    Trend {
        /// The --history file (JSON lines).
        history: PathBuf,
        /// Metrics to show, as compare names them (p50, p95, p99, rps, success_rate, errors.KIND, component.NAME.cpu_max, ...); repeatable or comma-separated. Default: p50, p95, p99, rps, success_rate.
        #[arg(long, value_name = "NAME", value_delimiter = ',')]
        metric: Vec<String>,
        /// x axis: each line in time order, or each git commit (its lines' median).
        #[arg(long, value_enum, default_value_t = TrendBy::Time)]
        by: TrendBy,
        /// Only lines whose testbed contains this text (default: the newest line's testbed).
        #[arg(long, value_name = "TEXT")]
        testbed: Option<String>,
        /// The newest N points are analysed.
        #[arg(long, value_name = "N", default_value_t = 200, value_parser = clap::value_parser!(u64).range(8..=5000))]
        last: u64,
        /// Also write the trend as a self-contained HTML report here.
        #[arg(long, value_name = "FILE")]
        html: Option<PathBuf>,
        /// Terminal chart width in columns.
        #[arg(long, value_name = "COLS", default_value_t = 80, value_parser = clap::value_parser!(u64).range(40..=400))]
        width: u64,
        #[command(flatten)]
        tolerance: ToleranceArgs,
    },
    /// Write a report of a finished run, scenario or capacity search (its --out directory): charts and tables.
    ///
    /// With --release BASE NEW: a short performance summary for release notes instead, in
    /// Markdown on stdout: the verdict table of NEW against BASE (runs or --repeat sets).
    Report {
        /// The run's --out directory (with run.jsonl and summary.json).
        #[arg(required_unless_present = "release")]
        dir: Option<PathBuf>,
        /// md: report.md with SVG charts beside it; html: one self-contained report.html; json: report.json with the series.
        #[arg(long, value_enum, default_value_t = ReportFormat::Md)]
        format: ReportFormat,
        /// Print a release's performance summary (Markdown) of NEW against BASE; exit 99 when a metric regressed.
        #[arg(long, num_args = 2, value_names = ["BASE", "NEW"], conflicts_with = "dir")]
        release: Option<Vec<PathBuf>>,
        #[command(flatten)]
        tolerance: ToleranceArgs,
    },
    /// Run a Gateway API scenario (after gateway-api-bench) against a cluster or the demo; exit 0 pass, 99 fail.
    ///
    /// attached-routes: N routes onto one Gateway, timed until attachedRoutes counts them, then removed.
    /// route-probe: routes applied one at a time, each probed every 5 ms until it answers 200.
    /// route-change: open-loop traffic while one route flips between two backends; any failed request fails it.
    /// route-scale: N routes applied, then churned with traffic held; memory slope, leak verdict, score.
    /// backend-failover: one of two backends killed and revived under traffic; ejection and recovery times.
    /// staleness: keep-alive connections held idle across a backend roll; any 503 after it fails.
    /// traffic-matrix: 1, 16 and 512 connections at max and at a fixed rate; one table.
    Scenario {
        #[arg(value_enum)]
        name: ScenarioName,
        #[command(flatten)]
        args: ScenarioArgs,
    },
    /// Search for the highest rate (or, with --concurrency, the concurrency) that holds the SLO:
    /// double until a step fails, bisect to --precision, confirm; writes capacity.json with --out.
    Find {
        /// A profile (.toml) or an http(s):// URL; leave out with --demo.
        #[arg(required_unless_present = "demo")]
        target: Option<String>,
        #[command(flatten)]
        args: FindArgs,
        #[command(flatten)]
        adhoc: AdhocArgs,
    },
    /// Print a shell completion script: `source <(rampdeck completions bash)`, or write it where your shell loads completions from.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Apply a profile's [[setup]] workload and wait for it, then leave it in place (remove it with `teardown`).
    Setup {
        #[arg(value_name = "PROFILE")]
        profile: String,
        #[command(flatten)]
        kube: KubeArgs,
    },
    /// Remove what a profile's [[setup]] applied (found by its label), also what a killed run left.
    Teardown {
        #[arg(value_name = "PROFILE")]
        profile: String,
        #[command(flatten)]
        kube: KubeArgs,
    },
    /// Validate profiles and print what each would run.
    Check {
        #[arg(required = true, value_name = "PROFILE")]
        profiles: Vec<String>,
    },
    /// Print the demo control plane's per-route stats (the demo's `stat` command, like `linkerd viz stat`).
    DemoStat {
        /// The demo control plane's base URL, e.g. http://127.0.0.1:41234
        url: String,
        /// Give up after this long.
        #[arg(long, value_name = "D", value_parser = parse_duration, default_value = "5s")]
        timeout: Duration,
    },
    /// Serve load for a coordinator (`--agents`): one run at a time, only to --allow targets, only with the token.
    ///
    /// The coordinator connects over WebSocket (ws://LISTEN/v1/run, `Authorization: Bearer TOKEN`);
    /// the agent stops sending within seconds if its coordinator goes away. See docs/agents.md.
    Agent {
        /// Address to listen on (port 0: any free port, printed on stdout).
        #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:7070")]
        listen: std::net::SocketAddr,
        /// File holding the token coordinators must present (else $RAMPDECK_AGENT_TOKEN); at least 16 characters.
        #[arg(long, value_name = "FILE")]
        token_file: Option<PathBuf>,
        /// Targets this agent may send load to, HOST:PORT[,HOST:PORT...] (else $RAMPDECK_AGENT_ALLOW).
        #[arg(long, value_name = "HOST:PORT,...")]
        allow: Option<String>,
        /// The name this agent gives its coordinator (default: the host name).
        #[arg(long, value_name = "NAME")]
        name: Option<String>,
        /// Exit when stdin closes (local agents, so a killed coordinator leaves none behind).
        #[arg(long, hide = true)]
        exit_with_stdin: bool,
    },
    /// Serve the demo target in this process (used by `rampdeck demo`).
    #[command(hide = true)]
    DemoTarget {
        #[arg(long)]
        config_json: String,
    },
}

/// Where `setup` and `teardown` reach Kubernetes (they replace `[kube]`).
#[derive(Debug, Args)]
pub struct KubeArgs {
    /// The kubeconfig (default: [kube] kubeconfig, $KUBECONFIG, ~/.kube/config).
    #[arg(long, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
    /// The kubeconfig context (default: its current one).
    #[arg(long, value_name = "NAME")]
    pub context: Option<String>,
}

#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// No console: progress on stderr, summary on stdout (the default when stdout is not a terminal).
    #[arg(long)]
    pub headless: bool,
    /// Open loop at this many requests per second (replaces the profile's stages).
    #[arg(long, value_name = "N", conflicts_with = "concurrency")]
    pub rate: Option<f64>,
    /// Closed loop with this many requests in flight (replaces the profile's stages).
    #[arg(long, value_name = "N")]
    pub concurrency: Option<u32>,
    /// Run length, e.g. 30s or 5m (cuts the stages short, or holds the last level longer).
    #[arg(long, value_name = "D", value_parser = parse_duration)]
    pub duration: Option<Duration>,
    /// Write summary.json, run.jsonl (the run log) and latency.hlog into this directory (and, for the demo, the kubeconfig of its simulated Kubernetes API).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Compare the finished run with this earlier run (its --out directory); exit 99 on a regression.
    #[arg(long, value_name = "DIR")]
    pub baseline: Option<PathBuf>,
    /// Append one line per run to this JSON-lines file, for trends.
    #[arg(long, value_name = "FILE")]
    pub history: Option<PathBuf>,
    /// Write into an --out directory that already holds a run, replacing its files.
    #[arg(long)]
    pub force: bool,
    /// Run it N times, one directory each under --out (run-1, run-2, ...), and write repeats.json: each metric's value over all runs, spread and 95% interval; compare takes the directory. Headless.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub repeat: u32,
    #[command(flatten)]
    pub tolerance: ToleranceArgs,
    /// Console frames per second.
    #[arg(long, value_name = "N", default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=60))]
    pub fps: u32,
    /// Serve rampdeck's own metrics (OpenMetrics, for Prometheus) at http://ADDR/metrics while the run is live, e.g. 127.0.0.1:9464.
    #[arg(long, value_name = "ADDR", value_parser = rampdeck::util::serve::listen_addr)]
    pub metrics_listen: Option<std::net::SocketAddr>,
    #[command(flatten)]
    pub agents: AgentArgs,
    #[command(flatten)]
    pub output: OutputArgs,
}

/// What a finished run (or search) prints on stdout.
#[derive(Debug, Clone, Args)]
pub struct OutputArgs {
    /// text: the summary table; json: the summary (a search: its result) as one JSON object on stdout, for jq; bmf: Bencher Metric Format; benchmark-action: github-action-benchmark's customSmallerIsBetter JSON (with --out, both directions as files). With any but text, everything else goes to stderr.
    #[arg(long = "output", value_name = "FORMAT", value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
    /// Set for the runs of a --repeat set: the set prints, its runs do not.
    #[arg(skip)]
    pub quiet: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    Text,
    Json,
    Bmf,
    BenchmarkAction,
}

impl OutputArgs {
    pub fn print(&self) -> rampdeck::report::Print {
        if self.quiet {
            return rampdeck::report::Print::Nothing;
        }
        match self.format {
            OutputFormat::Text => rampdeck::report::Print::Text,
            OutputFormat::Json => rampdeck::report::Print::Json,
            OutputFormat::Bmf => rampdeck::report::Print::Bmf,
            OutputFormat::BenchmarkAction => rampdeck::report::Print::BenchmarkAction,
        }
    }
}

/// Where the load comes from, for run, demo and find.
#[derive(Debug, Clone, Args)]
pub struct AgentArgs {
    /// Send the load from agents: local:N (processes here), static:HOST:PORT,... (started by hand) or kubernetes:N (an Indexed Job).
    #[arg(long, value_name = "SPEC", value_parser = parse_agents)]
    pub agents: Option<rampdeck::spec::agents::AgentsSpec>,
    /// The token static agents were started with (else $RAMPDECK_AGENT_TOKEN).
    #[arg(long, value_name = "FILE")]
    pub agent_token_file: Option<PathBuf>,
}

impl AgentArgs {
    /// `--agents` with `--agent-token-file` folded in.
    pub fn spec(&self) -> Option<rampdeck::spec::agents::AgentsSpec> {
        let mut spec = self.agents.clone()?;
        if let rampdeck::spec::agents::AgentsSpec::Static { token_file, .. } = &mut spec {
            *token_file = self.agent_token_file.clone();
        }
        Some(spec)
    }
}

fn parse_agents(s: &str) -> Result<rampdeck::spec::agents::AgentsSpec, String> {
    rampdeck::spec::agents::AgentsSpec::parse(s)
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum ScenarioName {
    AttachedRoutes,
    RouteProbe,
    RouteChange,
    RouteScale,
    BackendFailover,
    Staleness,
    TrafficMatrix,
}

#[derive(Debug, Clone, Args)]
pub struct FindArgs {
    /// Search the demo: one route with 8 workers and a 5 ms service time (capacity 1,600 req/s by construction).
    #[arg(long, conflicts_with = "target")]
    pub demo: bool,
    #[command(flatten)]
    pub agents: AgentArgs,
    #[command(flatten)]
    pub output: OutputArgs,
    /// A criterion in the [thresholds] syntax, e.g. "p99 < 50ms" or "component.destination.cpu_max < 0.5" (repeatable; default: the profile's [find] slo, else its [thresholds]).
    #[arg(long, value_name = "EXPR")]
    pub slo: Vec<String>,
    /// The first level (req/s; with --concurrency, requests in flight).
    #[arg(long, value_name = "N")]
    pub start: Option<f64>,
    /// The highest level to try.
    #[arg(long, value_name = "N")]
    pub max: Option<f64>,
    /// Growth per step until the first failure.
    #[arg(long, value_name = "F")]
    pub factor: Option<f64>,
    /// Stop when (lowest fail - highest pass) / highest pass is at most this: 2% or 0.02.
    #[arg(long, value_name = "P")]
    pub precision: Option<String>,
    /// Steps at most, confirmations included.
    #[arg(long, value_name = "K", value_parser = clap::value_parser!(u32).range(2..=100))]
    pub max_steps: Option<u32>,
    /// Each step's judged window.
    #[arg(long, value_name = "D", value_parser = parse_duration)]
    pub step: Option<Duration>,
    /// Held before each step's window, not judged.
    #[arg(long, value_name = "D", value_parser = parse_duration)]
    pub settle: Option<Duration>,
    /// The found level's final hold.
    #[arg(long, value_name = "D", value_parser = parse_duration)]
    pub confirm: Option<Duration>,
    /// Search concurrency (closed loop) instead of rate, and fit the Universal Scalability Law.
    #[arg(long)]
    pub concurrency: bool,
    /// The connection pool (open loop).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=100000))]
    pub max_connections: Option<u32>,
    /// No console: progress on stderr, the table on stdout.
    #[arg(long)]
    pub headless: bool,
    /// Write capacity.json, summary.json and run.jsonl into this directory.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Write into an --out directory that already holds a run.
    #[arg(long)]
    pub force: bool,
    /// Run it N times, one directory each under --out (run-1, run-2, ...), and write repeats.json: each metric's value over all runs, spread and 95% interval; compare takes the directory. Headless; not with --output json.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub repeat: u32,
    /// An earlier search (its --out directory or capacity.json): exit 99 when the capacity fell by more than --tolerance.
    #[arg(long, value_name = "DIR")]
    pub baseline: Option<PathBuf>,
    /// With --baseline: how far the capacity may fall, in percent.
    #[arg(long, value_name = "PCT", default_value_t = 10.0)]
    pub tolerance: f64,
}

#[derive(Debug, Clone, Args)]
pub struct ScenarioArgs {
    /// A profile with a [scenario] table (and [kube], [[source]]), e.g. profiles/scenarios-quick.toml.
    #[arg(long, value_name = "PROFILE")]
    pub profile: Option<String>,
    /// Run against the embedded demo's simulated Kubernetes API and gateway instead of a cluster.
    #[arg(long)]
    pub demo: bool,
    /// With --demo: how long the demo takes to program a route change.
    #[arg(long, value_name = "D", value_parser = parse_duration, requires = "demo")]
    pub demo_propagation: Option<Duration>,
    /// With --demo: fault that answers 503 this long after a route's backend changes.
    #[arg(long, value_name = "D", value_parser = parse_duration, requires = "demo")]
    pub demo_swap_drop: Option<Duration>,
    /// The Gateway's data-plane address, e.g. http://203.0.113.10 (route-probe, route-change).
    #[arg(long, value_name = "URL")]
    pub gateway_url: Option<String>,
    /// The Gateway the routes attach to.
    #[arg(long, value_name = "NAME")]
    pub gateway: Option<String>,
    /// Namespace for the routes (default: the kubeconfig's).
    #[arg(long, value_name = "NS")]
    pub namespace: Option<String>,
    /// Kubeconfig context.
    #[arg(long, value_name = "NAME")]
    pub context: Option<String>,
    /// Routes to create (attached-routes, route-probe, route-scale, backend-failover); replaces the profile's counts.
    #[arg(long, value_name = "N")]
    pub routes: Option<usize>,
    /// attached-routes: concurrent writers.
    #[arg(long, value_name = "W", value_parser = clap::value_parser!(u32).range(1..=64))]
    pub writers: Option<u32>,
    /// attached-routes: writes per second across all writers.
    #[arg(long, value_name = "R")]
    pub write_rate: Option<f64>,
    /// Requests per second (route-change, route-scale, backend-failover; traffic-matrix's fixed rate).
    #[arg(long, value_name = "N", conflicts_with = "max_rate")]
    pub rate: Option<f64>,
    /// route-scale: how long the churn lasts; traffic-matrix: each cell's measured time.
    #[arg(long, value_name = "D", value_parser = parse_duration)]
    pub duration: Option<Duration>,
    /// staleness: how long the connections are held idle before the roll.
    #[arg(long, value_name = "D", value_parser = parse_duration)]
    pub idle: Option<Duration>,
    /// route-scale: route patches per second during the churn.
    #[arg(long, value_name = "R")]
    pub churn_rate: Option<f64>,
    /// backend-failover on the demo: its gateway checks backends this often (fall 3, rise 2).
    #[arg(long, value_name = "D", value_parser = parse_duration, requires = "demo")]
    pub demo_health_check: Option<Duration>,
    /// backend-failover on the demo: further backends its gateway tries when one does not answer.
    #[arg(long, value_name = "N", requires = "demo")]
    pub demo_retries: Option<u32>,
    /// staleness on the demo: requests per backend that fail on stale connections after a roll.
    #[arg(long, value_name = "N", requires = "demo")]
    pub demo_stale_after_roll: Option<u32>,
    /// route-scale on the demo: bytes its control plane keeps per route write (a leak).
    #[arg(long, value_name = "BYTES", requires = "demo")]
    pub demo_leak_per_route: Option<usize>,
    /// route-change: one closed-loop client sending as fast as answers come, instead of --rate;
    /// the detection resolution is its measured gap between requests.
    #[arg(long)]
    pub max_rate: bool,
    /// route-change: time between flips.
    #[arg(long, value_name = "D", value_parser = parse_duration)]
    pub period: Option<Duration>,
    /// route-change: number of flips.
    #[arg(long, value_name = "K", value_parser = clap::value_parser!(u32).range(1..=10000))]
    pub iterations: Option<u32>,
    /// Write scenario.json (and, with --demo, the demo's kubeconfig) into this directory.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Write into an --out directory that already holds a result, replacing its files.
    #[arg(long)]
    pub force: bool,
    /// Run it N times, one directory each under --out (run-1, run-2, ...), and write repeats.json: each metric's value over all runs, spread and 95% interval; compare takes the directory. Headless.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub repeat: u32,
    /// Compare the result with this earlier scenario result (its --out directory or scenario.json); exit 99 on a regression.
    #[arg(long, value_name = "DIR")]
    pub baseline: Option<PathBuf>,
    /// Append one line per scenario run to this JSON-lines file, for trends.
    #[arg(long, value_name = "FILE")]
    pub history: Option<PathBuf>,
    #[command(flatten)]
    pub tolerance: ToleranceArgs,
    /// No console: progress on stderr, the result table on stdout.
    #[arg(long)]
    pub headless: bool,
    /// Console frames per second.
    #[arg(long, value_name = "N", default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=60))]
    pub fps: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TrendBy {
    Time,
    Git,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum ReportFormat {
    Md,
    Html,
    Json,
}

#[derive(Debug, Clone, Args)]
pub struct ToleranceArgs {
    /// How much worse (percent) a metric may get before it is a regression.
    #[arg(long, value_name = "PCT", default_value_t = 10.0)]
    pub tolerance: f64,
    /// A metric's own tolerance, METRIC=PCT (e.g. p99=20, component.destination.cpu_max=25); repeatable.
    #[arg(long = "tolerance-for", value_name = "METRIC=PCT")]
    pub tolerance_for: Vec<String>,
}

#[derive(Debug, Args)]
pub struct AdhocArgs {
    /// HTTP method for a URL run.
    #[arg(long, short = 'm', value_name = "METHOD")]
    pub method: Option<String>,
    /// Request header for a URL run, 'Name: value' (repeatable).
    #[arg(short = 'H', long = "header", value_name = "HEADER")]
    pub headers: Vec<String>,
    /// Request body for a URL run.
    #[arg(long, short = 'd', value_name = "BODY")]
    pub body: Option<String>,
    /// Use HTTP/2 for a URL run (h2 over TLS via ALPN, or prior knowledge on http://).
    #[arg(long)]
    pub http2: bool,
    /// Skip TLS certificate verification for a URL run.
    #[arg(long)]
    pub insecure: bool,
    /// Per-request timeout for a URL run, e.g. 2s (a gRPC call's deadline).
    #[arg(long, value_name = "D", value_parser = parse_duration)]
    pub timeout: Option<Duration>,
    /// gRPC URL run: the descriptor set (protoc --include_imports --descriptor_set_out) that --data is encoded by.
    #[arg(long, value_name = "FILE")]
    pub descriptor_set: Option<std::path::PathBuf>,
    /// gRPC URL run: the request message as JSON, e.g. '{"text": "hi"}'.
    #[arg(long, value_name = "JSON")]
    pub data: Option<String>,
}

impl AdhocArgs {
    /// The request the flags describe, for `profile::adhoc`.
    pub fn flags(&self) -> rampdeck::profile::Adhoc {
        rampdeck::profile::Adhoc {
            method: self.method.clone(),
            headers: self.headers.clone(),
            body: self.body.clone(),
            http2: self.http2,
            insecure: self.insecure,
            timeout: self.timeout,
            descriptor_set: self.descriptor_set.clone(),
            data: self.data.clone(),
        }
    }

    /// The flag names given, for the error when they are used with a profile.
    pub fn given(&self) -> Vec<&'static str> {
        let mut v = Vec::new();
        if self.method.is_some() {
            v.push("--method");
        }
        if !self.headers.is_empty() {
            v.push("-H");
        }
        if self.body.is_some() {
            v.push("--body");
        }
        if self.http2 {
            v.push("--http2");
        }
        if self.insecure {
            v.push("--insecure");
        }
        if self.timeout.is_some() {
            v.push("--timeout");
        }
        if self.descriptor_set.is_some() {
            v.push("--descriptor-set");
        }
        if self.data.is_some() {
            v.push("--data");
        }
        v
    }
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    rampdeck_base::duration::parse_duration(s)
}

fn parse_speed(s: &str) -> Result<u32, String> {
    match s.parse::<u32>() {
        Ok(n) if [1, 2, 4, 8, 16].contains(&n) => Ok(n),
        _ => Err(format!("'{s}' is not a replay speed; use 1, 2, 4, 8 or 16")),
    }
}
