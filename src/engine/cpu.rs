//! rampdeck's own CPU use per interval, and whether it is the limit: the generator must never pass for the target.
//!
//! The process CPU clock (CLOCK_PROCESS_CPUTIME_ID, every thread, the
//! figure `/proc/self/stat` carries in ticks but here in nanoseconds) over
//! real time gives the cores rampdeck used. Saturated means at least 90% of
//! the cores it may run on (its affinity mask): the engine's tokio runtime
//! has one worker per such core, so past that, requests leave late because
//! rampdeck, not the target, is out of CPU.

use std::time::{Duration, Instant};

use rustix::time::{clock_gettime, ClockId};

/// Share of the usable cores from which rampdeck counts as saturated.
pub const SATURATED: f64 = 0.9;

/// Samples the process CPU clock against real time.
#[derive(Debug, Clone)]
pub struct CpuMeter {
    last_cpu: Duration,
    last_wall: Instant,
    /// Cores rampdeck may run on.
    pub cores: usize,
    /// A fixed reading (cores used) instead of the clock, for tests.
    fixed: Option<f64>,
}

fn process_cpu() -> Duration {
    let t = clock_gettime(ClockId::ProcessCPUTime);
    Duration::new(
        t.tv_sec.max(0) as u64,
        t.tv_nsec.clamp(0, 999_999_999) as u32,
    )
}

impl Default for CpuMeter {
    fn default() -> Self {
        CpuMeter::new()
    }
}

impl CpuMeter {
    pub fn new() -> Self {
        CpuMeter {
            last_cpu: process_cpu(),
            last_wall: Instant::now(),
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            fixed: None,
        }
    }

    /// Always reads `cores_used` of `cores`: a test's way to make the
    /// generator the limit (or not) whatever the machine does.
    pub fn fixed(cores_used: f64, cores: usize) -> Self {
        CpuMeter {
            cores,
            fixed: Some(cores_used),
            ..CpuMeter::new()
        }
    }

    /// Cores used since the last sample (None over too short a time to say).
    pub fn sample(&mut self) -> Option<f64> {
        if let Some(f) = self.fixed {
            return Some(f);
        }
        let (cpu, wall) = (process_cpu(), Instant::now());
        let dw = wall.saturating_duration_since(self.last_wall);
        if dw < Duration::from_millis(20) {
            return None;
        }
        let dc = cpu.saturating_sub(self.last_cpu);
        self.last_cpu = cpu;
        self.last_wall = wall;
        Some(dc.as_secs_f64() / dw.as_secs_f64())
    }

    /// Whether `cores_used` is all rampdeck can have.
    pub fn saturated(&self, cores_used: f64) -> bool {
        cores_used >= SATURATED * self.cores as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_busy_thread_shows_as_about_one_core() {
        let mut m = CpuMeter::new();
        let start = Instant::now();
        let mut x = 0u64;
        while start.elapsed() < Duration::from_millis(120) {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
        }
        std::hint::black_box(x);
        let used = m.sample().unwrap();
        // One thread spinning: close to one core (other test threads may add some).
        assert!(used > 0.2, "{used}");
        assert!(!m.saturated(0.1));
        assert!(m.saturated(m.cores as f64));
    }
}
