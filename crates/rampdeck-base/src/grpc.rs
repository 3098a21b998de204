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

/// Checks a response body's length-prefixed messages as they arrive,
/// keeping none of them: a prefix cut short, a message shorter than its
/// prefix says, or a compressed message the headers gave no encoding for
/// is a protocol error, never an OK call.
#[derive(Debug, Default)]
pub struct Deframer {
    prefix: [u8; 5],
    /// Prefix bytes read of the current message (0..=5).
    have: usize,
    /// Message bytes still to come after a complete prefix.
    left: u64,
    /// The current message's length as its prefix said.
    len: u64,
    pub messages: u64,
    /// The headers named a grpc-encoding, so flag 1 is allowed.
    pub encoded: bool,
}

impl Deframer {
    pub fn new(encoded: bool) -> Self {
        Deframer {
            encoded,
            ..Deframer::default()
        }
    }

    pub fn feed(&mut self, mut data: &[u8]) -> Result<(), String> {
        while !data.is_empty() {
            if self.have < 5 {
                let take = (5 - self.have).min(data.len());
                self.prefix[self.have..self.have + take].copy_from_slice(&data[..take]);
                self.have += take;
                data = &data[take..];
                if self.have == 5 {
                    match self.prefix[0] {
                        0 => {}
                        1 if self.encoded => {}
                        1 => {
                            return Err(
                                "a compressed message (flag 1) with no grpc-encoding header".into(),
                            )
                        }
                        f => {
                            return Err(format!(
                                "a message prefix with flag {f} (only 0 and 1 exist)"
                            ))
                        }
                    }
                    let [_, a, b, c, d] = self.prefix;
                    self.len = u64::from(u32::from_be_bytes([a, b, c, d]));
                    self.left = self.len;
                    if self.left == 0 {
                        self.messages += 1;
                        self.have = 0;
                    }
                }
            } else {
                let take = (self.left.min(data.len() as u64)) as usize;
                self.left -= take as u64;
                data = &data[take..];
                if self.left == 0 {
                    self.messages += 1;
                    self.have = 0;
                }
            }
        }
        Ok(())
    }

    /// At the body's end: whether it ended between messages.
    pub fn finish(&self) -> Result<u64, String> {
        match self.have {
            0 => Ok(self.messages),
            5 => Err(format!(
                "the body ended inside a message: its prefix says {} bytes, {} came",
                self.len,
                self.len - self.left
            )),
            n => Err(format!(
                "the body ended inside a message prefix ({n} of its 5 bytes)"
            )),
        }
    }
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
    fn malformed_response_frames_are_named() {
        let check = |body: &[u8], encoded: bool| {
            let mut d = Deframer::new(encoded);
            // Fed a byte at a time: the checks hold across frame boundaries.
            for b in body {
                d.feed(std::slice::from_ref(b))?;
            }
            d.finish()
        };
        assert_eq!(check(&frame(b"hello"), false), Ok(1));
        assert_eq!(
            check(&[&frame(b"a")[..], &frame(b"")[..]].concat(), false),
            Ok(2)
        );
        assert_eq!(check(b"", false), Ok(0));
        let e = check(b"\0\xff\xff\xff\xffabc", false).unwrap_err();
        assert!(e.contains("prefix says 4294967295 bytes, 3 came"), "{e}");
        let e = check(b"\0\0", false).unwrap_err();
        assert!(e.contains("2 of its 5 bytes"), "{e}");
        let e = check(b"\x01\0\0\0\x01x", false).unwrap_err();
        assert!(e.contains("no grpc-encoding"), "{e}");
        assert_eq!(check(b"\x01\0\0\0\x01x", true), Ok(1));
        assert!(check(b"\x07\0\0\0\0", true).unwrap_err().contains("flag 7"));
    }

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
