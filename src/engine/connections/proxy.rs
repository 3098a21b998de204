//! PROXY protocol headers (HAProxy's spec, versions 1 and 2) that a connection sends before anything else.
//!
//! The header tells a proxy configured with `accept-proxy` (HAProxy,
//! Envoy's proxy_protocol listener filter, NGINX `proxy_protocol`) the
//! client's address; here it carries the connection's own two ends.

use std::net::SocketAddr;

use crate::spec::connections::ProxyVersion;

/// The 12 bytes every version 2 header starts with.
const V2_SIGNATURE: [u8; 12] = *b"\r\n\r\n\0\r\nQUIT\n";

/// The header for a connection from `src` to `dst`.
pub fn header(version: ProxyVersion, src: SocketAddr, dst: SocketAddr) -> Vec<u8> {
    match version {
        ProxyVersion::V1 => v1(src, dst),
        ProxyVersion::V2 => v2(src, dst),
    }
}

fn v1(src: SocketAddr, dst: SocketAddr) -> Vec<u8> {
    match (src, dst) {
        (SocketAddr::V4(s), SocketAddr::V4(d)) => format!(
            "PROXY TCP4 {} {} {} {}\r\n",
            s.ip(),
            d.ip(),
            s.port(),
            d.port()
        ),
        (SocketAddr::V6(s), SocketAddr::V6(d)) => format!(
            "PROXY TCP6 {} {} {} {}\r\n",
            s.ip(),
            d.ip(),
            s.port(),
            d.port()
        ),
        // Mixed families cannot be said in one line: the spec's UNKNOWN.
        _ => "PROXY UNKNOWN\r\n".to_owned(),
    }
    .into_bytes()
}

fn v2(src: SocketAddr, dst: SocketAddr) -> Vec<u8> {
    let mut h = V2_SIGNATURE.to_vec();
    // Version 2, command PROXY.
    h.push(0x21);
    match (src, dst) {
        (SocketAddr::V4(s), SocketAddr::V4(d)) => {
            // AF_INET, STREAM; 12 address bytes.
            h.push(0x11);
            h.extend_from_slice(&12u16.to_be_bytes());
            h.extend_from_slice(&s.ip().octets());
            h.extend_from_slice(&d.ip().octets());
            h.extend_from_slice(&s.port().to_be_bytes());
            h.extend_from_slice(&d.port().to_be_bytes());
        }
        (SocketAddr::V6(s), SocketAddr::V6(d)) => {
            // AF_INET6, STREAM; 36 address bytes.
            h.push(0x21);
            h.extend_from_slice(&36u16.to_be_bytes());
            h.extend_from_slice(&s.ip().octets());
            h.extend_from_slice(&d.ip().octets());
            h.extend_from_slice(&s.port().to_be_bytes());
            h.extend_from_slice(&d.port().to_be_bytes());
        }
        _ => {
            // AF_UNSPEC: the receiver uses the connection's real addresses.
            h.push(0x00);
            h.extend_from_slice(&0u16.to_be_bytes());
        }
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_1_is_one_text_line() {
        let h = header(
            ProxyVersion::V1,
            "127.0.0.1:50000".parse().unwrap(),
            "127.0.0.2:443".parse().unwrap(),
        );
        assert_eq!(h, b"PROXY TCP4 127.0.0.1 127.0.0.2 50000 443\r\n");
        let h6 = header(
            ProxyVersion::V1,
            "[::1]:1".parse().unwrap(),
            "[::1]:2".parse().unwrap(),
        );
        assert_eq!(h6, b"PROXY TCP6 ::1 ::1 1 2\r\n");
    }

    #[test]
    fn version_2_is_the_signature_then_the_binary_addresses() {
        let h = header(
            ProxyVersion::V2,
            "10.0.0.1:258".parse().unwrap(),
            "10.0.0.2:443".parse().unwrap(),
        );
        assert_eq!(&h[..12], &V2_SIGNATURE);
        assert_eq!(&h[12..16], &[0x21, 0x11, 0, 12]);
        assert_eq!(&h[16..20], &[10, 0, 0, 1]);
        assert_eq!(&h[20..24], &[10, 0, 0, 2]);
        assert_eq!(&h[24..28], &[1, 2, 1, 187]);
        assert_eq!(h.len(), 28);
        let h6 = header(
            ProxyVersion::V2,
            "[::1]:1".parse().unwrap(),
            "[::1]:2".parse().unwrap(),
        );
        assert_eq!(&h6[12..16], &[0x21, 0x21, 0, 36]);
        assert_eq!(h6.len(), 16 + 36);
    }
}
