//! Ctrl-C and SIGTERM as one stream of "stop" requests, for the headless run, the console and the scenarios.

/// Waits for the operator (Ctrl-C) or the system (SIGTERM) to ask for a stop.
///
/// Both handlers are installed by `new`: from then on neither signal kills
/// the process, and one that arrives before the first `next` is kept. Create
/// it before anything else a command does, so a signal in the first
/// milliseconds still ends in a written (if empty) summary.
pub struct StopSignals {
    #[cfg(unix)]
    term: Option<tokio::signal::unix::Signal>,
    #[cfg(unix)]
    int: Option<tokio::signal::unix::Signal>,
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
            }
        }
        #[cfg(not(unix))]
        StopSignals {}
    }

    /// The next stop request; false if signals cannot be received at all.
    pub async fn next(&mut self) -> bool {
        #[cfg(unix)]
        {
            async fn recv(s: Option<&mut tokio::signal::unix::Signal>) -> Option<()> {
                match s {
                    Some(s) => s.recv().await,
                    None => std::future::pending().await,
                }
            }
            if self.term.is_none() && self.int.is_none() {
                return false;
            }
            tokio::select! {
                r = recv(self.term.as_mut()) => r.is_some(),
                r = recv(self.int.as_mut()) => r.is_some(),
            }
        }
        #[cfg(not(unix))]
        {
            tokio::signal::ctrl_c().await.is_ok()
        }
    }
}

impl Default for StopSignals {
    fn default() -> Self {
        Self::new()
    }
}
