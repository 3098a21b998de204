//! Stat commands: run, time, keep the last output lines; past the timeout, kill the whole process group.

use std::process::Stdio;
use std::time::{Duration, Instant};

use super::config::StatConfig;
use super::RunOutcome;

pub struct CommandRun {
    pub took: Duration,
    pub outcome: RunOutcome,
    pub lines: Vec<String>,
}

/// Kills the command's whole process group if the run ends without the
/// command having exited: on timeout, and when the probe is cancelled
/// mid-run (dropping the future). Disarmed once the leader has been reaped,
/// so a recycled group id is never signalled.
struct GroupKill(Option<u32>);

impl GroupKill {
    fn kill(&mut self) {
        #[cfg(unix)]
        if let Some(pid) = self
            .0
            .take()
            .and_then(|p| rustix::process::Pid::from_raw(p as i32))
        {
            let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
        }
        #[cfg(not(unix))]
        self.0.take();
    }
}

impl Drop for GroupKill {
    fn drop(&mut self) {
        self.kill();
    }
}

pub async fn run(cfg: &StatConfig) -> CommandRun {
    let start = Instant::now();
    let mut cmd = if cfg.shell {
        let mut c = tokio::process::Command::new("sh");
        c.arg("-c").arg(cfg.argv.join(" "));
        c
    } else {
        let mut c = tokio::process::Command::new(&cfg.argv[0]);
        c.args(&cfg.argv[1..]);
        c
    };
    cmd.envs(cfg.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    if let Some(dir) = &cfg.cwd {
        cmd.current_dir(dir);
    }
    // Its own process group, so a timeout can kill everything it started.
    #[cfg(unix)]
    cmd.process_group(0);
    let child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            let what = match e.kind() {
                std::io::ErrorKind::NotFound => format!("command not found: '{}'", cfg.argv[0]),
                std::io::ErrorKind::PermissionDenied => {
                    format!("not executable: '{}'", cfg.argv[0])
                }
                _ => format!("cannot start '{}': {e}", cfg.argv[0]),
            };
            return CommandRun {
                took: start.elapsed(),
                outcome: RunOutcome::Failed(what),
                lines: Vec::new(),
            };
        }
    };
    let mut group = GroupKill(child.id());
    let waited = tokio::time::timeout(cfg.timeout, child.wait_with_output()).await;
    if matches!(waited, Ok(Ok(_))) {
        group.0 = None;
    }
    match waited {
        Err(_) => {
            group.kill();
            CommandRun {
                took: start.elapsed(),
                outcome: RunOutcome::TimedOut,
                lines: Vec::new(),
            }
        }
        Ok(Err(e)) => CommandRun {
            took: start.elapsed(),
            outcome: RunOutcome::Failed(format!("waiting for it: {e}")),
            lines: Vec::new(),
        },
        Ok(Ok(out)) => {
            let took = start.elapsed();
            let text = if out.stdout.is_empty() {
                &out.stderr
            } else {
                &out.stdout
            };
            let text = String::from_utf8_lossy(text);
            let all: Vec<&str> = text.lines().collect();
            let lines = all[all.len().saturating_sub(cfg.keep_lines)..]
                .iter()
                .map(|l| l.to_string())
                .collect();
            let outcome = match out.status.code() {
                Some(0) => RunOutcome::Ok,
                Some(code) => RunOutcome::Failed(format!("exit status {code}")),
                None => RunOutcome::Failed("killed by a signal".into()),
            };
            CommandRun {
                took,
                outcome,
                lines,
            }
        }
    }
}
