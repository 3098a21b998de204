//! Where a run ran: version, git commit, host, CPU, kernel, start time, profile and its hash.

use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::spec::plan::Plan;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Environment {
    pub rampdeck: String,
    /// HEAD of the working directory's repository, "+dirty" with local changes.
    pub git_commit: Option<String>,
    pub hostname: Option<String>,
    pub cpu_model: Option<String>,
    pub cores: usize,
    pub kernel: Option<String>,
    pub started_at: String,
    pub profile: Option<String>,
    pub profile_sha256: Option<String>,
}

impl Environment {
    pub fn capture(plan: &Plan, started_at: SystemTime) -> Self {
        Self::capture_for(plan.source.clone(), plan.source_sha256.clone(), started_at)
    }

    /// For a run without a load plan (a scenario): the profile path and hash given.
    pub fn capture_for(
        profile: Option<String>,
        profile_sha256: Option<String>,
        started_at: SystemTime,
    ) -> Self {
        #[cfg(target_os = "linux")]
        let (hostname, kernel) = {
            let u = rustix::system::uname();
            (
                Some(u.nodename().to_string_lossy().into_owned()),
                Some(u.release().to_string_lossy().into_owned()),
            )
        };
        #[cfg(not(target_os = "linux"))]
        let (hostname, kernel) = (None, None);
        Environment {
            rampdeck: env!("CARGO_PKG_VERSION").to_owned(),
            git_commit: git_commit(),
            hostname,
            cpu_model: cpu_model(),
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            kernel,
            started_at: humantime::format_rfc3339_seconds(started_at).to_string(),
            profile,
            profile_sha256,
        }
    }
}

fn git_commit() -> Option<String> {
    let run = |args: &[&str]| {
        std::process::Command::new("git")
            .args(args)
            .stderr(std::process::Stdio::null())
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
    };
    let head = run(&["rev-parse", "HEAD"]).filter(|h| !h.is_empty())?;
    let dirty =
        run(&["status", "--porcelain", "--untracked-files=no"]).is_some_and(|s| !s.is_empty());
    Some(if dirty { format!("{head}+dirty") } else { head })
}

fn cpu_model() -> Option<String> {
    let info = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    info.lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, v)| v.trim().to_owned())
}
