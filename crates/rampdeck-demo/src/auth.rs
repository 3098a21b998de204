//! The demo's login endpoints, for multi-step flows: `POST /auth/login` issues a token, and `/auth/...` answers only requests that carry one.
//!
//! Tokens are `t<n>.<mac>`: the demo checks them without keeping a table
//! (the mac is a keyed hash of *n*, the key drawn when the demo starts), so
//! any number of virtual users can log in.

use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use hyper::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use hyper::{Method, Response, StatusCode};

use rampdeck_base::rng::splitmix64;

/// Where the endpoints live.
pub const PREFIX: &str = "/auth/";

/// Issues and checks tokens.
#[derive(Debug)]
pub struct Auth {
    key: u64,
    issued: AtomicU64,
}

impl Auth {
    pub fn new() -> Self {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        Auth {
            key: splitmix64(now ^ u64::from(std::process::id())),
            issued: AtomicU64::new(0),
        }
    }

    fn mac(&self, n: u64) -> u64 {
        splitmix64(n ^ self.key)
    }

    /// Tokens issued so far.
    pub fn issued(&self) -> u64 {
        self.issued.load(Ordering::Relaxed)
    }

    fn valid(&self, token: &str) -> bool {
        let Some((n, mac)) = token.strip_prefix('t').and_then(|t| t.split_once('.')) else {
            return false;
        };
        match (n.parse::<u64>(), u64::from_str_radix(mac, 16)) {
            (Ok(n), Ok(mac)) => self.mac(n) == mac,
            _ => false,
        }
    }

    /// The answer to a request under `PREFIX`.
    pub fn handle(
        &self,
        method: &Method,
        path: &str,
        headers: &hyper::HeaderMap,
    ) -> Response<http_body_util::Full<Bytes>> {
        if path == "/auth/login" {
            if method != Method::POST {
                return json(
                    StatusCode::METHOD_NOT_ALLOWED,
                    "{\"error\":\"POST to log in\"}".into(),
                );
            }
            let n = self.issued.fetch_add(1, Ordering::Relaxed);
            let token = format!("t{n}.{:016x}", self.mac(n));
            return json(StatusCode::OK, format!("{{\"token\":\"{token}\"}}\n"));
        }
        let token = headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        match token {
            Some(t) if self.valid(t) => json(
                StatusCode::OK,
                format!("{{\"path\":\"{}\"}}\n", path.escape_default()),
            ),
            Some(_) => json(
                StatusCode::UNAUTHORIZED,
                "{\"error\":\"invalid token\"}\n".into(),
            ),
            None => json(
                StatusCode::UNAUTHORIZED,
                "{\"error\":\"log in first: POST /auth/login, then send Authorization: Bearer TOKEN\"}\n"
                    .into(),
            ),
        }
    }
}

impl Default for Auth {
    fn default() -> Self {
        Auth::new()
    }
}

fn json(status: StatusCode, body: String) -> Response<http_body_util::Full<Bytes>> {
    let mut r = Response::new(http_body_util::Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_issued_and_checked() {
        let a = Auth::new();
        let none = hyper::HeaderMap::new();
        let r = a.handle(&Method::GET, "/auth/orders", &none);
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        let r = a.handle(&Method::POST, "/auth/login", &none);
        assert_eq!(r.status(), StatusCode::OK);
        let token = format!("t0.{:016x}", a.mac(0));
        assert!(a.valid(&token));
        assert!(!a.valid("t0.0000000000000000"));
        assert!(!a.valid("t1"));
        let mut h = hyper::HeaderMap::new();
        h.insert(
            AUTHORIZATION,
            HeaderValue::from_str(&format!("Bearer {token}")).unwrap_or_else(|_| unreachable!()),
        );
        assert_eq!(
            a.handle(&Method::GET, "/auth/orders", &h).status(),
            StatusCode::OK
        );
        assert_eq!(a.issued(), 1);
    }
}
