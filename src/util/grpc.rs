//! gRPC's wire format that both the engine and the demo speak: message framing and `grpc-timeout`.

use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use http::HeaderValue;

/// A message as a gRPC length-prefixed frame: flag 0 (uncompressed), its
/// length as four big-endian bytes, the bytes.
pub fn frame(message: &[u8]) -> Bytes {
    let mut b = BytesMut::with_capacity(5 + message.len());
    b.put_u8(0);
    b.put_u32(message.len() as u32);
    b.put_slice(message);
    b.freeze()
}

/// The framed message in a request or response body: its bytes, or why it is not one.
pub fn unframe(body: &[u8]) -> Result<&[u8], String> {
    let [flag, a, b, c, d, rest @ ..] = body else {
        return Err(format!(
            "a gRPC message needs a 5-byte prefix; the body has {} bytes",
            body.len()
        ));
    };
    if *flag != 0 {
        return Err("the message is compressed (flag 1); rampdeck sends and reads uncompressed messages only".into());
    }
    let len = u32::from_be_bytes([*a, *b, *c, *d]) as usize;
    rest.get(..len).ok_or_else(|| {
        format!(
            "the prefix says {len} bytes, the body carries {}",
            rest.len()
        )
    })
}

/// `grpc-timeout` for a deadline: at most eight digits, in the finest unit
/// that fits (the protocol's rule), rounded up so the server never sees a
/// deadline shorter than rampdeck's.
pub fn timeout_header(d: Duration) -> HeaderValue {
    let units: [(u128, &str); 4] = [(1, "u"), (1_000, "m"), (1_000_000, "S"), (60_000_000, "M")];
    let us = d.as_micros().max(1);
    for (per, unit) in units {
        let n = us.div_ceil(per);
        if n < 100_000_000 {
            return HeaderValue::from_str(&format!("{n}{unit}"))
                .unwrap_or(HeaderValue::from_static("99999999M"));
        }
    }
    HeaderValue::from_static("99999999M")
}

/// The deadline a `grpc-timeout` value asks for (the demo honours it).
pub fn parse_timeout(v: &str) -> Option<Duration> {
    let (digits, unit) = v.split_at(v.len().checked_sub(1)?);
    if digits.is_empty() || digits.len() > 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(n * 3600),
        "M" => Duration::from_secs(n * 60),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_and_unframes() {
        let f = frame(b"abc");
        assert_eq!(&f[..], b"\0\0\0\0\x03abc");
        assert_eq!(unframe(&f).unwrap(), b"abc");
        assert!(unframe(b"\0\0\0\0\x05ab").unwrap_err().contains("5 bytes"));
        assert!(unframe(b"\x01\0\0\0\0").unwrap_err().contains("compressed"));
    }

    #[test]
    fn timeout_header_fits_eight_digits_and_round_trips() {
        assert_eq!(timeout_header(Duration::from_secs(5)), "5000000u");
        assert_eq!(timeout_header(Duration::from_secs(200)), "200000m");
        assert_eq!(timeout_header(Duration::from_secs(200_000)), "200000S");
        for d in [Duration::from_millis(1500), Duration::from_secs(3)] {
            let v = timeout_header(d);
            assert_eq!(parse_timeout(v.to_str().unwrap()), Some(d));
        }
        assert_eq!(parse_timeout("123456789m"), None);
        assert_eq!(parse_timeout("5x"), None);
    }
}
