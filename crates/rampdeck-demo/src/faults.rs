//! The demo's fault switches on its control port: `POST /demo/backends/NAME/down` and `/up`
//! stop and restart an echo backend, `POST /demo/backends/roll` replaces every backend's pods.
//! Each needs `Authorization: Bearer TOKEN`, the token the demo hands its parent (never logged).

use std::io::Read;

use http::{HeaderMap, Method, StatusCode};

use super::gateway::Gateway;

/// The paths served here.
pub const PREFIX: &str = "/demo/";

/// A fresh 128-bit token from the OS.
pub fn new_token() -> String {
    let mut b = [0u8; 16];
    let filled = std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut b))
        .is_ok();
    if !filled {
        // No /dev/urandom: the clock and the address of a stack value, hashed. Weaker, but the
        // port is on 127.0.0.1 and lives as long as the demo.
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        let x = rampdeck_base::rng::splitmix64(t ^ (&b as *const _ as u64));
        b[..8].copy_from_slice(&x.to_le_bytes());
        b[8..].copy_from_slice(&rampdeck_base::rng::splitmix64(x).to_le_bytes());
    }
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Applies a fault switch; (status, answer text).
pub fn handle(
    gw: &Gateway,
    token: &str,
    method: &Method,
    path: &str,
    headers: &HeaderMap,
) -> (StatusCode, String) {
    let given = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if given != Some(token) {
        return (
            StatusCode::UNAUTHORIZED,
            "give Authorization: Bearer <the demo's admin token>\n".into(),
        );
    }
    if method != Method::POST {
        return (StatusCode::METHOD_NOT_ALLOWED, "use POST\n".into());
    }
    let health = &gw.router.health;
    let rest = path.trim_start_matches(PREFIX);
    if rest == "backends/roll" {
        health.roll();
        return (StatusCode::OK, "rolled every backend\n".into());
    }
    let parts: Vec<&str> = rest.split('/').collect();
    match parts.as_slice() {
        ["backends", name, state @ ("down" | "up")] => match gw.router.backend_index(name) {
            Some(i) => {
                health.set_dead(i, *state == "down");
                (StatusCode::OK, format!("{name} {state}\n"))
            }
            None => (
                StatusCode::NOT_FOUND,
                format!(
                    "no backend '{name}'; the demo has {}\n",
                    gw.router.backends().join(", ")
                ),
            ),
        },
        _ => (
            StatusCode::NOT_FOUND,
            "try POST /demo/backends/NAME/down, /demo/backends/NAME/up or /demo/backends/roll\n"
                .into(),
        ),
    }
}
