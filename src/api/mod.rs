//! The library's public API: a `Plan` from a profile, a Rust request source in its place, and `run_headless` / `run_console` over the same engine, statistics, console, thresholds, run log and reports as `rampdeck run`.

mod outcome;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

pub use outcome::Outcome;

use crate::engine::source::{RequestSource, SourceHandle};
use crate::profile;

/// A validated run plan: target, requests, load stages, thresholds, probes,
/// route actions, as `rampdeck run PROFILE` runs it.
///
/// A program starts from a profile ([`Plan::from_file`] or
/// [`Plan::from_toml`]) and may replace its request source
/// ([`Plan::source`]): the profile's `[[request]]` entries then give the
/// request names and the weighted mix the source is told about, and
/// their `expect` checks still apply.
#[derive(Debug, Clone)]
pub struct Plan {
    inner: crate::spec::plan::Plan,
    /// `source`'s requests, handed to the engine when the plan runs.
    source: Option<SourceHandle>,
}

/// Why a plan could not be made or a run could not be done.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The profile, or a value given to a [`Plan`] method, is not valid (exit code 2).
    #[error("{0}")]
    Input(String),
    /// The run could not start, or what it measured could not be delivered (exit code 1).
    #[error("{0}")]
    Run(String),
}

impl Error {
    /// The exit code `rampdeck` gives for this error: 2 for bad input, 1 otherwise.
    pub fn exit_code(&self) -> ExitCode {
        match self {
            Error::Input(_) => ExitCode::from(2),
            Error::Run(_) => ExitCode::from(1),
        }
    }
}

impl Plan {
    /// Reads and validates a profile file; errors name the file, line and column.
    ///
    /// # Errors
    ///
    /// [`Error::Input`] when the file cannot be read or is not a valid profile.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Plan, Error> {
        let path = path.as_ref().display().to_string();
        profile::load(&path)
            .map(|inner| Plan {
                inner,
                source: None,
            })
            .map_err(|e| Error::Input(e.to_string()))
    }

    /// Validates profile text; `name` stands for the file in messages.
    ///
    /// # Errors
    ///
    /// [`Error::Input`] when the text is not a valid profile.
    pub fn from_toml(name: &str, text: &str) -> Result<Plan, Error> {
        profile::parse(name, text)
            .map(|inner| Plan {
                inner,
                source: None,
            })
            .map_err(|e| Error::Input(e.to_string()))
    }

    /// Sends the load to `url` (`http://` or `https://`, with an optional
    /// base path) instead of the profile's target; a `target = "demo"`
    /// plan then no longer starts the demo.
    ///
    /// # Errors
    ///
    /// [`Error::Input`] when `url` is not an http(s) URL.
    pub fn target(mut self, url: &str) -> Result<Plan, Error> {
        let endpoint = crate::spec::plan::Endpoint::parse(url)
            .map_err(|e| Error::Input(format!("target: {e}")))?;
        self.inner.target.addr = crate::spec::plan::TargetAddr::Url(endpoint);
        self.inner.demo = None;
        Ok(self)
    }

    /// Replaces the stages with one open-loop hold at `per_second`, as `--rate` does.
    ///
    /// # Errors
    ///
    /// [`Error::Input`] when the rate is not above 0.
    pub fn rate(self, per_second: f64) -> Result<Plan, Error> {
        self.overridden(profile::Overrides {
            rate: Some(per_second),
            ..Default::default()
        })
    }

    /// Replaces the stages with one closed-loop hold at `connections`, as `--concurrency` does.
    ///
    /// # Errors
    ///
    /// [`Error::Input`] when the count is 0 or above the most rampdeck holds.
    pub fn concurrency(self, connections: u32) -> Result<Plan, Error> {
        self.overridden(profile::Overrides {
            concurrency: Some(connections),
            ..Default::default()
        })
    }

    /// Cuts the stages at `duration`, or holds the last level longer, as `--duration` does.
    ///
    /// # Errors
    ///
    /// [`Error::Input`] when the run would measure nothing (0, or not past the warmup).
    pub fn duration(self, duration: Duration) -> Result<Plan, Error> {
        self.overridden(profile::Overrides {
            duration: Some(duration),
            ..Default::default()
        })
    }

    fn overridden(mut self, o: profile::Overrides) -> Result<Plan, Error> {
        o.apply(&mut self.inner)
            .map_err(|e| Error::Input(e.to_string()))?;
        Ok(self)
    }

    /// Builds every request with `source` instead of the profile's
    /// `[[request]]` entries (which still name them; a request with
    /// `weight = 0` is one only a source sends, by [`Call::name`](crate::Call::name)).
    pub fn source(mut self, source: impl RequestSource) -> Plan {
        self.source = Some(SourceHandle::new(source));
        self
    }

    /// The profile's name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The names of the plan's requests, in profile order.
    pub fn request_names(&self) -> impl Iterator<Item = &str> {
        self.inner.requests.iter().map(|r| r.name.as_str())
    }
}

/// Where a run's results go and how the console draws.
#[derive(Debug, Clone)]
pub struct RunOptions {
    out: Option<PathBuf>,
    fps: u32,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions { out: None, fps: 10 }
    }
}

impl RunOptions {
    /// Nothing written to disk; the console at 10 frames a second.
    pub fn new() -> Self {
        RunOptions::default()
    }

    /// Writes `summary.json`, `run.jsonl` and the report inputs into `dir`,
    /// as `--out` does (the directory must be empty or new).
    pub fn out(mut self, dir: impl Into<PathBuf>) -> Self {
        self.out = Some(dir.into());
        self
    }

    /// Console frames per second (1 to 60).
    pub fn fps(mut self, fps: u32) -> Self {
        self.fps = fps.clamp(1, 60);
        self
    }
}

/// Runs `plan` with the console when stdin and stdout are a terminal, else
/// headless, as `rampdeck run` chooses.
///
/// # Errors
///
/// As [`run_headless`] and [`run_console`].
pub fn run(plan: Plan, options: &RunOptions) -> Result<Outcome, Error> {
    use std::io::IsTerminal;
    let console = std::io::stdout().is_terminal() && std::io::stdin().is_terminal();
    run_with(plan, options, console)
}

/// Runs `plan` with progress lines on stderr and the summary on stdout, as
/// `rampdeck run --headless` does, until it ends or Ctrl-C / SIGTERM stops
/// it (the summary is still delivered).
///
/// # Errors
///
/// [`Error::Input`] for a plan that cannot run as given, [`Error::Run`]
/// when the run could not start or its results could not be written.
pub fn run_headless(plan: Plan, options: &RunOptions) -> Result<Outcome, Error> {
    run_with(plan, options, false)
}

/// Runs `plan` with the console open, as `rampdeck run` does in a
/// terminal; when the operator quits, the run stops and its summary is
/// printed and written.
///
/// # Errors
///
/// As [`run_headless`], and [`Error::Run`] when there is no terminal or
/// the console failed (the run's summary is still delivered first).
pub fn run_console(plan: Plan, options: &RunOptions) -> Result<Outcome, Error> {
    use std::io::IsTerminal;
    if !(std::io::stdout().is_terminal() && std::io::stdin().is_terminal()) {
        return Err(Error::Run(
            "the console needs a terminal on stdin and stdout; use run_headless".into(),
        ));
    }
    run_with(plan, options, true)
}

fn run_with(plan: Plan, options: &RunOptions, console: bool) -> Result<Outcome, Error> {
    let source = plan.source;
    let mut plan = plan.inner;
    if source.is_some() && plan.agents.is_some() {
        return Err(Error::Input(
            "a Rust request source runs in this process, so this plan cannot run on agents; remove [agents]".into(),
        ));
    }
    let limit = crate::engine::fds::raise_limit();
    let connections = match plan.load.mode {
        crate::spec::plan::Mode::Open => plan.load.max_connections,
        crate::spec::plan::Mode::Closed => plan.load.peak_level().ceil() as usize,
    };
    crate::engine::fds::check(connections as u64, limit).map_err(Error::Input)?;
    if let Some(dir) = &options.out {
        crate::report::outputs::check_out_dir(dir, false).map_err(Error::Input)?;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Run(format!("cannot start the async runtime: {e}")))?;
    let signals = {
        let _in_runtime = rt.enter();
        crate::signals::StopSignals::new()
    };
    rt.block_on(async move {
        // The demo runs in this process: a program's own executable is
        // not rampdeck, so it cannot be the demo's child process.
        let demo = match (&plan.demo, &plan.target.addr) {
            (Some(config), crate::spec::plan::TargetAddr::Demo) => {
                let server = rampdeck_demo::DemoServer::start(config)
                    .await
                    .map_err(|e| Error::Run(e.to_string()))?;
                crate::util::text::stderr_line!(
                    "demo target (in this process): gateway http://{}  control plane http://{}/metrics",
                    server.addrs.gateway,
                    server.addrs.control
                );
                plan.with_demo(&server.addrs);
                Some(server)
            }
            _ => None,
        };
        let opts = crate::headless::Options {
            out: options.out.clone(),
            source,
            ..Default::default()
        };
        let plan = Arc::new(plan);
        let summary = if console {
            crate::live::run(plan, &opts, options.fps, signals)
                .await
                .map_err(|e| Error::Run(e.to_string()))
        } else {
            crate::headless::run(plan, &opts, signals)
                .await
                .map_err(|e| Error::Run(e.to_string()))
        };
        drop(demo);
        let summary = summary?;
        if let Some(why) = summary.could_not_run() {
            return Err(Error::Run(why));
        }
        Ok(Outcome::new(summary))
    })
}
