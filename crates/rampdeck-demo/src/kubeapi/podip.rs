//! Pod IPs for the simulated kubelet: each pod gets its own loopback address, 127.0.1.1,
//! 127.0.1.2, ... up to 127.0.254.254 (Linux routes all of 127/8 to `lo`), so several pods
//! can listen on the same containerPort as pods on a real node can, each in its own network
//! namespace. Addresses are handed out round-robin and process-wide (tests run several demo
//! API servers in one process); one whose declared ports something else on the machine
//! already listens on is skipped.

use std::collections::BTreeSet;
use std::net::{Ipv4Addr, SocketAddrV4, TcpListener};
use std::sync::Mutex;

/// 254 addresses in each of 127.0.1.x ..= 127.0.254.x (x = 1..=254).
const SPAN: u32 = 254 * 254;
/// Candidates whose ports are taken before the probe is given up (something listening on
/// the wildcard address takes them on every address).
const PROBES: u32 = 32;

struct Pool {
    next: u32,
    in_use: BTreeSet<Ipv4Addr>,
}

static POOL: Mutex<Pool> = Mutex::new(Pool {
    next: 0,
    in_use: BTreeSet::new(),
});

fn pool() -> std::sync::MutexGuard<'static, Pool> {
    // The pool is a counter and a set, consistent after any panic.
    POOL.lock().unwrap_or_else(|e| e.into_inner())
}

fn address(i: u32) -> Ipv4Addr {
    let i = i % SPAN;
    Ipv4Addr::new(127, 0, (1 + i / 254) as u8, (1 + i % 254) as u8)
}

/// A pod's address, returned to the pool when dropped.
#[derive(Debug)]
pub struct PodIp(Ipv4Addr);

impl PodIp {
    pub fn addr(&self) -> Ipv4Addr {
        self.0
    }
}

impl Drop for PodIp {
    fn drop(&mut self) {
        pool().in_use.remove(&self.0);
    }
}

/// Whether every one of `ports` can be listened on at `ip` right now.
fn ports_free(ip: Ipv4Addr, ports: &[u16]) -> bool {
    ports
        .iter()
        .all(|p| TcpListener::bind(SocketAddrV4::new(ip, *p)).is_ok())
}

/// The next free address, preferring one where `ports` (the pod's TCP containerPorts) are
/// free; None only when every address is held by a pod.
pub fn allocate(ports: &[u16]) -> Option<PodIp> {
    let mut pool = pool();
    if pool.in_use.len() as u32 >= SPAN {
        return None;
    }
    let mut probed = 0;
    let mut fallback = None;
    for _ in 0..SPAN {
        let ip = address(pool.next);
        pool.next = (pool.next + 1) % SPAN;
        if pool.in_use.contains(&ip) {
            continue;
        }
        if probed < PROBES && !ports.is_empty() && !ports_free(ip, ports) {
            probed += 1;
            fallback.get_or_insert(ip);
            continue;
        }
        let ip = if probed >= PROBES {
            fallback.unwrap_or(ip)
        } else {
            ip
        };
        pool.in_use.insert(ip);
        return Some(PodIp(ip));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_distinct_and_skip_taken_ports() {
        assert_eq!(address(0), Ipv4Addr::new(127, 0, 1, 1));
        assert_eq!(address(253), Ipv4Addr::new(127, 0, 1, 254));
        assert_eq!(address(254), Ipv4Addr::new(127, 0, 2, 1));
        assert_eq!(address(SPAN), Ipv4Addr::new(127, 0, 1, 1));
        let a = allocate(&[]).unwrap();
        let b = allocate(&[]).unwrap();
        assert_ne!(a.addr(), b.addr());
        // Something already listens on the next address's port: it is skipped.
        let next = address(pool().next);
        let taken = TcpListener::bind(SocketAddrV4::new(next, 0)).unwrap();
        let port = taken.local_addr().unwrap().port();
        let c = allocate(&[port]).unwrap();
        assert_ne!(c.addr(), next);
        let held = c.addr();
        drop(c);
        assert!(!pool().in_use.contains(&held));
    }
}
