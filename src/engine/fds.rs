//! File descriptors: raise the soft limit at start, check a plan fits under it, tell local exhaustion from a target's failure.

/// Descriptors a run needs besides its connections: the runtime, the
/// terminal, the run log, probes, route actions, the demo's pipes.
pub const OVERHEAD: u64 = 128;

/// Raises the soft `RLIMIT_NOFILE` to the hard limit (as Go's runtime
/// does since 1.19), returning the limit now in force, if it can be read.
pub fn raise_limit() -> Option<u64> {
    #[cfg(target_os = "linux")]
    {
        use rustix::process::{getrlimit, setrlimit, Resource};
        let mut l = getrlimit(Resource::Nofile);
        if let (Some(cur), Some(max)) = (l.current, l.maximum) {
            if cur < max {
                l.current = Some(max);
                if setrlimit(Resource::Nofile, l).is_ok() {
                    return Some(max);
                }
            }
        }
        let l = getrlimit(Resource::Nofile);
        l.current.or(Some(u64::MAX))
    }
    #[cfg(not(target_os = "linux"))]
    None
}

/// Why `connections` cannot be held open under `limit`, if they cannot.
pub fn check(connections: u64, limit: Option<u64>) -> Result<(), String> {
    let Some(limit) = limit else { return Ok(()) };
    let need = connections.saturating_add(OVERHEAD);
    if need > limit {
        return Err(format!(
            "the plan holds up to {connections} connections, which with rampdeck's own files needs about {need} file descriptors, but this process may open only {limit} (ulimit -n; the hard limit is already in force). Raise the hard limit or lower max_connections / the concurrency"
        ));
    }
    Ok(())
}

/// Whether a connect failed for want of local resources: descriptors
/// (EMFILE, ENFILE), ephemeral ports (EADDRNOTAVAIL), buffers or memory.
pub fn is_local_exhaustion(e: &std::io::Error) -> bool {
    matches!(e.raw_os_error(), Some(23 | 24 | 99 | 105 | 12))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plan_over_the_limit_is_refused_before_the_run() {
        assert!(check(3000, Some(1024)).unwrap_err().contains("1024"));
        assert!(check(100, Some(1024)).is_ok());
        assert!(check(3000, None).is_ok());
        let emfile = std::io::Error::from_raw_os_error(24);
        assert!(is_local_exhaustion(&emfile));
        let refused = std::io::Error::from_raw_os_error(111);
        assert!(!is_local_exhaustion(&refused));
    }
}
