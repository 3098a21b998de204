//! The engine's write side: one `Measurements` shard per OS thread, so recording never contends.
//!
//! Connection tasks call `record` from whichever runtime thread polls them.
//! Each thread is given its own shard the first time it records, so the lock
//! taken per request is only ever contended by the aggregator's swap, once
//! per interval. Memory is fixed by the shard count, not by connections or
//! requests.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use super::{Measurements, Outcome, Sent};

/// Keeps each shard on its own cache lines so threads do not false-share.
#[repr(align(128))]
struct Padded<T>(T);

pub struct Recorder {
    shards: Box<[Padded<Mutex<Measurements>>]>,
    /// Requests sent, per shard.
    sent: Box<[Padded<AtomicU64>]>,
    /// Requests sent again on a new connection because the server closed
    /// the old one before processing them; rare, so one shared counter.
    resent: AtomicU64,
}

static NEXT_THREAD: AtomicUsize = AtomicUsize::new(0);
thread_local! {
    static THREAD_SLOT: Cell<usize> = const { Cell::new(usize::MAX) };
}

fn thread_slot() -> usize {
    THREAD_SLOT.with(|s| {
        let mut v = s.get();
        if v == usize::MAX {
            v = NEXT_THREAD.fetch_add(1, Ordering::Relaxed);
            s.set(v);
        }
        v
    })
}

fn lock(m: &Mutex<Measurements>) -> MutexGuard<'_, Measurements> {
    // A panic while holding the lock leaves plain counters behind; keep them.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Recorder {
    /// `threads` is the number of runtime threads that will record; a few more
    /// shards than that keep collisions (two threads, one shard) rare.
    pub fn new(threads: usize) -> Self {
        let n = (threads.max(1) * 2).next_power_of_two().clamp(4, 64);
        Recorder {
            shards: (0..n)
                .map(|_| Padded(Mutex::new(Measurements::default())))
                .collect(),
            sent: (0..n).map(|_| Padded(AtomicU64::new(0))).collect(),
            resent: AtomicU64::new(0),
        }
    }

    fn slot(&self) -> usize {
        thread_slot() & (self.shards.len() - 1)
    }

    /// Measurements a request leaving (for in-flight and sent rates).
    #[inline]
    pub fn sent(&self) {
        self.sent[self.slot()].0.fetch_add(1, Ordering::Relaxed);
    }

    #[inline]
    pub fn record(
        &self,
        latency: Duration,
        service: Duration,
        outcome: Outcome,
        sent: Sent,
        message: impl FnOnce() -> String,
    ) {
        lock(&self.shards[self.slot()].0).record(latency, service, outcome, sent, message);
    }

    /// Measurements a request sent again on a new connection (not a new request).
    pub fn resent(&self) {
        self.resent.fetch_add(1, Ordering::Relaxed);
    }

    pub fn resent_total(&self) -> u64 {
        self.resent.load(Ordering::Relaxed)
    }

    /// Requests sent so far (monotonic).
    pub fn sent_total(&self) -> u64 {
        self.sent.iter().map(|s| s.0.load(Ordering::Relaxed)).sum()
    }

    /// Moves everything recorded since the last drain into `into`. `spare` is
    /// swapped in for each non-empty shard, so the lock is held for a pointer
    /// swap, not for the merge.
    pub fn drain_into(&self, into: &mut Measurements, spare: &mut Measurements) {
        for shard in self.shards.iter() {
            {
                let mut g = lock(&shard.0);
                if g.is_empty() {
                    continue;
                }
                std::mem::swap(&mut *g, spare);
            }
            into.merge(spare);
            spare.reset();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::ErrorKind;
    use std::sync::Arc;

    #[test]
    fn threads_record_and_drain_everything() {
        let rec = Arc::new(Recorder::new(4));
        let handles: Vec<_> = (0..4)
            .map(|t| {
                let rec = rec.clone();
                std::thread::spawn(move || {
                    for i in 0..1000u64 {
                        rec.sent();
                        let outcome = if i % 10 == 0 {
                            Outcome::Error(ErrorKind::Timeout)
                        } else {
                            Outcome::Status(200)
                        };
                        rec.record(
                            Duration::from_micros(100 + i),
                            Duration::from_micros(50),
                            outcome,
                            Sent::default(),
                            || format!("t{t}"),
                        );
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        let mut all = Measurements::default();
        let mut spare = Measurements::default();
        rec.drain_into(&mut all, &mut spare);
        assert_eq!(rec.sent_total(), 4000);
        assert_eq!((all.finished, all.ok), (4000, 3600));
        assert_eq!(all.errors[ErrorKind::Timeout.index()], 400);
        let mut again = Measurements::default();
        rec.drain_into(&mut again, &mut spare);
        assert!(again.is_empty(), "a drain takes the data out");
    }
}
