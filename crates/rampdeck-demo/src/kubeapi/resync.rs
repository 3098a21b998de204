//! When the simulated controllers (garbage collector, Job controller, kubelet) look at the
//! store again: on a write to a kind they care about, at a time they asked for, or after
//! their event feed lagged. They are level-triggered, so coalescing a burst of writes into
//! one look loses nothing.

use std::sync::Arc;

use tokio::sync::broadcast::{self, error::RecvError, error::TryRecvError};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::resource::Kind;
use super::store::{Event, Store};

pub struct Resync {
    events: broadcast::Receiver<Arc<Event>>,
    kinds: &'static [Kind],
}

impl Resync {
    pub fn new(store: &Store, kinds: &'static [Kind]) -> Self {
        Resync {
            events: store.subscribe(),
            kinds,
        }
    }

    /// Waits for a write to one of the kinds or for `until`; false once cancelled.
    pub async fn wait(&mut self, until: Option<Instant>, cancel: &CancellationToken) -> bool {
        loop {
            let got = tokio::select! {
                _ = cancel.cancelled() => return false,
                _ = sleep_until(until) => return true,
                got = self.events.recv() => got,
            };
            match got {
                Ok(e) if !self.kinds.contains(&e.key.kind) => continue,
                Ok(_) | Err(RecvError::Lagged(_)) => {
                    // Whatever else is queued is seen by the same look.
                    loop {
                        match self.events.try_recv() {
                            Ok(_) | Err(TryRecvError::Lagged(_)) => {}
                            Err(TryRecvError::Empty) => return true,
                            Err(TryRecvError::Closed) => return !cancel.is_cancelled(),
                        }
                    }
                }
                Err(RecvError::Closed) => return false,
            }
        }
    }
}

async fn sleep_until(until: Option<Instant>) {
    match until {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}
