//! Stat commands: run, time, keep the last output lines; past the timeout, kill the whole process group.

use std::process::Stdio;
use std::time::{Duration, Instant};

use super::RunOutcome;
use crate::spec::probes::StatConfig;

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
    // The agents' token is rampdeck's, not the command's: its output is logged.
    cmd.env_remove(crate::util::secret::AGENT_TOKEN_ENV)
        .envs(cfg.env.iter().map(|(k, v)| (k, v)))
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
    let mut child = match cmd.spawn() {
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
    let (stdout, stderr) = (child.stdout.take(), child.stderr.take());
    let keep = cfg.keep_lines;
    if cfg.until == crate::spec::probes::Until::FirstLine {
        return first_line(cfg, start, child, group, stdout, stderr).await;
    }
    let work = async {
        // Both pipes are read as they fill (a full pipe would block the
        // command), keeping only the last lines: memory is bounded by
        // `keep * MAX_LINE_BYTES` whatever the command prints.
        let (out, err) = tokio::join!(tail(stdout, keep), tail(stderr, keep));
        let status = child.wait().await;
        (out, err, status)
    };
    let waited = tokio::time::timeout(cfg.timeout, work).await;
    if matches!(waited, Ok((_, _, Ok(_)))) {
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
        Ok((_, _, Err(e))) => CommandRun {
            took: start.elapsed(),
            outcome: RunOutcome::Failed(format!("waiting for it: {e}")),
            lines: Vec::new(),
        },
        Ok((out, err, Ok(status))) => {
            let took = start.elapsed();
            let lines = if out.is_empty() { err } else { out }.into_lines();
            let outcome = match status.code() {
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

/// `until = "first_line"`: the time to the command's first stdout line
/// (e.g. `kubectl logs -f` starting to stream); then its process group is
/// stopped. Exiting before any line is a failure with its stderr.
async fn first_line(
    cfg: &StatConfig,
    start: Instant,
    mut child: tokio::process::Child,
    mut group: GroupKill,
    stdout: Option<tokio::process::ChildStdout>,
    stderr: Option<tokio::process::ChildStderr>,
) -> CommandRun {
    let err = tokio::spawn(tail(stderr, cfg.keep_lines));
    let read = async {
        let Some(out) = stdout else {
            return Ok(None);
        };
        first_line_of(out).await
    };
    let first = tokio::time::timeout(cfg.timeout, read).await;
    let took = start.elapsed();
    match first {
        Err(_) => {
            group.kill();
            err.abort();
            CommandRun {
                took,
                outcome: RunOutcome::TimedOut,
                lines: Vec::new(),
            }
        }
        Ok(Ok(Some(line))) => {
            // Timed: now stop it (it may never exit on its own).
            group.kill();
            let _ = child.wait().await;
            err.abort();
            CommandRun {
                took,
                outcome: RunOutcome::Ok,
                lines: vec![line],
            }
        }
        Ok(result) => {
            // Stdout closed (or broke) with no line: it exited, or is exiting.
            let status = tokio::time::timeout(Duration::from_secs(1), child.wait()).await;
            if matches!(status, Ok(Ok(_))) {
                group.0 = None;
            }
            let lines = match tokio::time::timeout(Duration::from_millis(500), err).await {
                Ok(Ok(t)) => t.into_lines(),
                _ => Vec::new(),
            };
            let why = match (result, status) {
                (Err(e), _) => format!("reading its output: {e}"),
                (_, Ok(Ok(s))) => match s.code() {
                    Some(code) => format!("exited (status {code}) before its first line of output"),
                    None => "killed by a signal before its first line of output".to_owned(),
                },
                _ => "closed its output before its first line".to_owned(),
            };
            CommandRun {
                took,
                outcome: RunOutcome::Failed(why),
                lines,
            }
        }
    }
}

/// A kept line is cut at this many bytes (and says so).
pub const MAX_LINE_BYTES: usize = 4096;

/// Reads to the end of the first line (or of the output), keeping at most
/// `MAX_LINE_BYTES` of it: a 100 MB line costs a buffer, not 100 MB.
async fn first_line_of(
    mut out: impl tokio::io::AsyncRead + Unpin,
) -> std::io::Result<Option<String>> {
    use tokio::io::AsyncReadExt;
    let mut t = Tail::new(1);
    let mut buf = vec![0u8; 16 * 1024];
    let mut any = false;
    loop {
        let n = out.read(&mut buf).await?;
        if n == 0 {
            // The output ended: a last line without its newline still counts.
            return Ok(any.then(|| t.into_lines().pop().unwrap_or_default()));
        }
        any = true;
        if let Some(end) = buf[..n].iter().position(|&b| b == b'\n') {
            t.feed(&buf[..=end]);
            return Ok(Some(t.into_lines().pop().unwrap_or_default()));
        }
        t.feed(&buf[..n]);
    }
}

/// The last `keep` lines of a stream, each at most `MAX_LINE_BYTES`.
#[derive(Debug, Default)]
pub struct Tail {
    keep: usize,
    lines: std::collections::VecDeque<String>,
    /// The line being read, up to the cap.
    current: Vec<u8>,
    /// Bytes of the current line beyond the cap, discarded.
    cut: usize,
    /// Anything at all arrived.
    any: bool,
}

impl Tail {
    pub fn new(keep: usize) -> Self {
        Tail {
            keep,
            ..Tail::default()
        }
    }

    pub fn feed(&mut self, mut bytes: &[u8]) {
        self.any |= !bytes.is_empty();
        while let Some(i) = bytes.iter().position(|&b| b == b'\n') {
            self.take(&bytes[..i]);
            self.end_line();
            bytes = &bytes[i + 1..];
        }
        self.take(bytes);
    }

    fn take(&mut self, part: &[u8]) {
        let room = MAX_LINE_BYTES.saturating_sub(self.current.len());
        let n = part.len().min(room);
        self.current.extend_from_slice(&part[..n]);
        self.cut += part.len() - n;
    }

    fn end_line(&mut self) {
        let mut line = String::from_utf8_lossy(&self.current)
            .trim_end_matches('\r')
            .to_owned();
        if self.cut > 0 {
            line.push_str(&format!(" [cut: {} more bytes]", self.cut));
        }
        self.current.clear();
        self.cut = 0;
        if self.keep == 0 {
            return;
        }
        if self.lines.len() == self.keep {
            self.lines.pop_front();
        }
        // Command output is drawn in a pane and logged: keep it printable.
        self.lines.push_back(crate::util::text::sanitized(&line));
    }

    pub fn is_empty(&self) -> bool {
        !self.any
    }

    pub fn into_lines(mut self) -> Vec<String> {
        if !self.current.is_empty() || self.cut > 0 {
            self.end_line();
        }
        self.lines.into()
    }
}

async fn tail(pipe: Option<impl tokio::io::AsyncRead + Unpin>, keep: usize) -> Tail {
    use tokio::io::AsyncReadExt;
    let mut t = Tail::new(keep);
    let Some(mut pipe) = pipe else { return t };
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        match pipe.read(&mut buf).await {
            Ok(0) | Err(_) => return t,
            Ok(n) => t.feed(&buf[..n]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_first_line_is_read_bounded() {
        // 20 MB before the first newline, in small writes.
        let (mut w, r) = tokio::io::duplex(64 * 1024);
        let writer = tokio::spawn(async move {
            use tokio::io::AsyncWriteExt;
            let chunk = vec![b'y'; 64 * 1024];
            for _ in 0..320 {
                w.write_all(&chunk).await.unwrap();
            }
            w.write_all(b"\nsecond\n").await.unwrap();
        });
        let line = first_line_of(r).await.unwrap().unwrap();
        assert!(
            line.starts_with("yyyy") && line.len() < MAX_LINE_BYTES + 40,
            "{}",
            line.len()
        );
        assert!(
            line.contains("more bytes]"),
            "{}",
            &line[MAX_LINE_BYTES - 10..]
        );
        writer.await.unwrap();
        let (mut w, r) = tokio::io::duplex(1024);
        tokio::spawn(async move {
            use tokio::io::AsyncWriteExt;
            w.write_all("héllo \x1b[2J".as_bytes()).await.unwrap();
        });
        assert_eq!(first_line_of(r).await.unwrap().unwrap(), "héllo \\x1b[2J");
    }

    #[tokio::test]
    async fn a_command_never_sees_the_agents_token() {
        // Set for this process as an agent or coordinator has it.
        std::env::set_var(
            crate::util::secret::AGENT_TOKEN_ENV,
            "secret-token-0123456789",
        );
        let cfg = StatConfig {
            name: "env".into(),
            argv: vec!["sh".into(), "-c".into(), "env; echo done".into()],
            shell: false,
            interval: Duration::from_secs(1),
            timeout: Duration::from_secs(5),
            env: vec![],
            cwd: None,
            keep_lines: 1000,
            until: crate::spec::probes::Until::Exit,
        };
        let r = run(&cfg).await;
        assert!(r.lines.iter().any(|l| l == "done"), "{:?}", r.lines);
        assert!(
            !r.lines.iter().any(|l| l.contains("secret-token")),
            "{:?}",
            r.lines
        );
    }

    #[test]
    fn keeps_the_last_lines_and_cuts_long_ones() {
        let mut t = Tail::new(2);
        t.feed(b"one\ntwo\nthr");
        t.feed(b"ee\r\n");
        let long = vec![b'x'; 10 * MAX_LINE_BYTES];
        for chunk in long.chunks(1000) {
            t.feed(chunk);
        }
        let lines = t.into_lines();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0], "three");
        assert!(lines[1].starts_with("xxxx"));
        assert!(
            lines[1].ends_with(&format!("[cut: {} more bytes]", 9 * MAX_LINE_BYTES)),
            "{}",
            &lines[1][MAX_LINE_BYTES..]
        );
        assert!(lines[1].len() < MAX_LINE_BYTES + 40);
        let mut esc = Tail::new(1);
        esc.feed(b"\x1b]0;t\x07ok\n");
        assert_eq!(esc.into_lines(), vec!["\\x1b]0;t\\x07ok"]);
    }
}
