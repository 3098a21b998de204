//! Ctrl-C, SIGTERM and SIGHUP as one stream of "stop" requests, for the headless run, the console and the scenarios.

/// Waits for the operator (Ctrl-C), the system (SIGTERM) or a closed
/// terminal (SIGHUP: the window closed, the ssh session dropped) to ask
/// for a stop.
///
/// The handlers are installed by `new`: from then on none of these signals
/// kills the process, and one that arrives before the first `next` is
/// kept. Create it before anything else a command does, so a signal in the
/// first milliseconds still ends in a written (if empty) summary.
/// Set once any stop was asked for: a `--repeat` set runs no more repeats.
static STOP_ASKED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Whether the operator or the system asked this process to stop.
pub fn stop_asked() -> bool {
    STOP_ASKED.load(std::sync::atomic::Ordering::Relaxed)
}

pub struct StopSignals {
    #[cfg(unix)]
    term: Option<tokio::signal::unix::Signal>,
    #[cfg(unix)]
    int: Option<tokio::signal::unix::Signal>,
    #[cfg(unix)]
    hup: Option<tokio::signal::unix::Signal>,
    /// Which of stdin, stdout and stderr were a terminal at the start (a
    /// hung-up terminal no longer says it is one).
    #[cfg(unix)]
    ttys: [bool; 3],
}

impl StopSignals {
    /// Registers both handlers now. Needs a tokio runtime context.
    pub fn new() -> Self {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            StopSignals {
                term: signal(SignalKind::terminate()).ok(),
                int: signal(SignalKind::interrupt()).ok(),
                hup: signal(SignalKind::hangup()).ok(),
                ttys: {
                    use std::io::IsTerminal;
                    [
                        std::io::stdin().is_terminal(),
                        std::io::stdout().is_terminal(),
                        std::io::stderr().is_terminal(),
                    ]
                },
            }
        }
        #[cfg(not(unix))]
        StopSignals {}
    }

    /// The next stop request; false if signals cannot be received at all.
    pub async fn next(&mut self) -> bool {
        let asked = self.wait().await;
        if asked {
            STOP_ASKED.store(true, std::sync::atomic::Ordering::Relaxed);
        }
        asked
    }

    async fn wait(&mut self) -> bool {
        #[cfg(unix)]
        {
            async fn recv(s: Option<&mut tokio::signal::unix::Signal>) -> Option<()> {
                match s {
                    Some(s) => s.recv().await,
                    None => std::future::pending().await,
                }
            }
            if self.term.is_none() && self.int.is_none() && self.hup.is_none() {
                return false;
            }
            tokio::select! {
                r = recv(self.term.as_mut()) => r.is_some(),
                r = recv(self.int.as_mut()) => r.is_some(),
                r = recv(self.hup.as_mut()) => {
                    detach_from_terminal(self.ttys);
                    r.is_some()
                }
            }
        }
        #[cfg(not(unix))]
        {
            tokio::signal::ctrl_c().await.is_ok()
        }
    }
}

/// After a hang-up the terminal is gone: standard streams that were that
/// terminal now point at /dev/null, so the summary, teardown progress and
/// the console's restore write nowhere instead of failing (a print to a
/// hung-up terminal fails, and `println!` would panic). Streams redirected
/// to files or pipes are kept: they still take the output.
#[cfg(unix)]
fn detach_from_terminal([stdin, stdout, stderr]: [bool; 3]) {
    let Ok(null) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")
    else {
        return;
    };
    if stdin {
        // Not /dev/null: the console's input reader (crossterm) reads its
        // terminal in a loop that ends only on "would block", and spins on
        // the end-of-file a hung-up terminal (or /dev/null) gives. An empty
        // non-blocking pipe whose writer stays open always would block.
        match rustix::pipe::pipe() {
            Ok((reader, writer)) => {
                let _ = rustix::io::ioctl_fionbio(&reader, true);
                let _ = rustix::stdio::dup2_stdin(&reader);
                std::mem::forget(writer);
            }
            Err(_) => {
                let _ = rustix::stdio::dup2_stdin(&null);
            }
        }
    }
    if stdout {
        let _ = rustix::stdio::dup2_stdout(&null);
    }
    if stderr {
        let _ = rustix::stdio::dup2_stderr(&null);
    }
}

impl Default for StopSignals {
    fn default() -> Self {
        Self::new()
    }
}
