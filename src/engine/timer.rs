//! A sub-millisecond timer for the open-loop schedule.
//!
//! tokio's timer wheel has 1 ms granularity: a request due 0.1 ms from now
//! would leave up to 1 ms late, and that lateness would show up as server
//! latency in the corrected percentiles. On Linux each connection task owns a
//! `timerfd` (an hrtimer, microsecond precision) registered with tokio's
//! reactor, so waiting costs no thread and no spinning. Elsewhere it falls
//! back to tokio's timer, with its 1 ms granularity.

use std::time::Instant;

#[cfg(target_os = "linux")]
pub struct PreciseTimer {
    fd: Option<tokio::io::unix::AsyncFd<std::os::fd::OwnedFd>>,
}

#[cfg(target_os = "linux")]
impl PreciseTimer {
    pub fn new() -> Self {
        use rustix::time::{timerfd_create, TimerfdClockId, TimerfdFlags};
        // If the process is out of file descriptors, degrade to tokio's timer
        // rather than fail the run.
        let fd = timerfd_create(
            TimerfdClockId::Monotonic,
            TimerfdFlags::NONBLOCK | TimerfdFlags::CLOEXEC,
        )
        .ok()
        .and_then(|fd| {
            // SAFETY: the OwnedFd is moved into the AsyncFd, which owns it
            // until dropped, so the descriptor stays open and unchanged for
            // the registration's whole life.
            unsafe {
                tokio::io::unix::AsyncFd::register_with_interest(fd, tokio::io::Interest::READABLE)
            }
            .ok()
        });
        PreciseTimer { fd }
    }

    pub async fn sleep_until(&self, deadline: Instant) {
        use rustix::time::{timerfd_settime, Itimerspec, TimerfdTimerFlags, Timespec};
        let now = Instant::now();
        if deadline <= now {
            return;
        }
        let Some(fd) = &self.fd else {
            return tokio::time::sleep_until(deadline.into()).await;
        };
        let d = deadline - now;
        let spec = Itimerspec {
            it_interval: Timespec {
                tv_sec: 0,
                tv_nsec: 0,
            },
            it_value: Timespec {
                tv_sec: d.as_secs() as _,
                tv_nsec: d.subsec_nanos().max(1) as _,
            },
        };
        // Re-arming also clears any expiry left over from a cancelled wait.
        if timerfd_settime(fd.get_ref(), TimerfdTimerFlags::empty(), &spec).is_err() {
            return tokio::time::sleep_until(deadline.into()).await;
        }
        loop {
            let Ok(mut guard) = fd.readable().await else {
                return tokio::time::sleep_until(deadline.into()).await;
            };
            let mut buf = [0u8; 8];
            match guard.try_io(|inner| {
                rustix::io::read(inner.get_ref(), &mut buf[..]).map_err(std::io::Error::from)
            }) {
                Ok(Ok(_)) => return,
                Ok(Err(_)) => return tokio::time::sleep_until(deadline.into()).await,
                // Stale readiness from an earlier wait: wait again.
                Err(_would_block) => continue,
            }
        }
    }
}

#[cfg(not(target_os = "linux"))]
pub struct PreciseTimer;

#[cfg(not(target_os = "linux"))]
impl PreciseTimer {
    pub fn new() -> Self {
        PreciseTimer
    }

    pub async fn sleep_until(&self, deadline: Instant) {
        tokio::time::sleep_until(deadline.into()).await
    }
}

impl Default for PreciseTimer {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn wakes_at_the_deadline_not_before() {
        let timer = PreciseTimer::new();
        for us in [300u64, 1500, 50] {
            let deadline = Instant::now() + Duration::from_micros(us);
            timer.sleep_until(deadline).await;
            assert!(Instant::now() >= deadline);
        }
        // A cancelled wait leaves no stale wake-up behind.
        let early = Instant::now() + Duration::from_micros(100);
        let _ = tokio::time::timeout(Duration::from_micros(1), timer.sleep_until(early)).await;
        std::thread::sleep(Duration::from_millis(1));
        let deadline = Instant::now() + Duration::from_millis(3);
        timer.sleep_until(deadline).await;
        assert!(Instant::now() >= deadline);
    }
}
