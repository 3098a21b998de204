//! Ctrl-C and SIGTERM as one stream of "stop" requests, for the headless run and the scenarios.

/// Waits for the operator (Ctrl-C) or the system (SIGTERM) to ask for a stop.
pub struct StopSignals {
    #[cfg(unix)]
    term: Option<tokio::signal::unix::Signal>,
}

impl StopSignals {
    /// Registers for SIGTERM now, so one that arrives before the first `next` is not lost.
    pub fn new() -> Self {
        StopSignals {
            #[cfg(unix)]
            term: tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok(),
        }
    }

    /// The next stop request; false if signals cannot be received at all.
    pub async fn next(&mut self) -> bool {
        #[cfg(unix)]
        let term = async {
            match self.term.as_mut() {
                Some(t) => {
                    t.recv().await;
                }
                None => std::future::pending().await,
            }
        };
        #[cfg(not(unix))]
        let term = std::future::pending::<()>();
        tokio::select! {
            r = tokio::signal::ctrl_c() => r.is_ok(),
            _ = term => true,
        }
    }
}

impl Default for StopSignals {
    fn default() -> Self {
        Self::new()
    }
}
