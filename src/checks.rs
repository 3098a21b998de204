//! Response checks (`[[request]] expect = {...}`): status, headers, body, judged per response; a leaf module.
//!
//! A check that needs the body (`body_contains`, `body_max_bytes`) reads it,
//! up to `body_max_bytes` or `BODY_LIMIT`; the others never buffer it.

/// Bodies read for `body_contains` stop here (what a check can look into).
pub const BODY_LIMIT: usize = 1024 * 1024;

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Expect {
    /// Allowed statuses (empty: any).
    pub status: Vec<u16>,
    /// Headers that must have exactly this value (names lowercase).
    pub headers: Vec<(http::HeaderName, String)>,
    pub body_contains: Option<String>,
    pub body_max_bytes: Option<usize>,
}

impl Expect {
    pub fn needs_body(&self) -> bool {
        self.body_contains.is_some() || self.body_max_bytes.is_some()
    }

    /// How much of the body to keep (None: none).
    pub fn keep(&self) -> Option<usize> {
        self.body_contains.as_ref().map(|_| BODY_LIMIT)
    }

    /// The status and headers, before the body: the first check that fails, in words.
    pub fn head(&self, status: u16, headers: &http::HeaderMap) -> Option<String> {
        if !self.status.is_empty() && !self.status.contains(&status) {
            return Some(format!(
                "status {status}, expected {}",
                self.status
                    .iter()
                    .map(u16::to_string)
                    .collect::<Vec<_>>()
                    .join(" or ")
            ));
        }
        for (name, want) in &self.headers {
            match headers
                .get(name)
                .map(|v| String::from_utf8_lossy(v.as_bytes()))
            {
                Some(got) if got == *want => {}
                Some(got) => return Some(format!("header {name} was '{got}', expected '{want}'")),
                None => return Some(format!("header {name} missing, expected '{want}'")),
            }
        }
        None
    }

    /// The body (`len` bytes in all, `kept` of them held): the first check that fails.
    pub fn body(&self, len: usize, kept: &[u8]) -> Option<String> {
        if let Some(max) = self.body_max_bytes {
            if len > max {
                return Some(format!("body of {len} bytes, at most {max} allowed"));
            }
        }
        if let Some(want) = &self.body_contains {
            let found = kept
                .windows(want.len().max(1))
                .any(|w| w == want.as_bytes());
            if !found {
                return Some(format!("body does not contain '{want}'"));
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_say_which_failed() {
        let e = Expect {
            status: vec![200, 201],
            headers: vec![(http::HeaderName::from_static("x-backend"), "v2".into())],
            body_contains: Some("ok".into()),
            body_max_bytes: Some(10),
        };
        let mut h = http::HeaderMap::new();
        assert_eq!(e.head(503, &h).unwrap(), "status 503, expected 200 or 201");
        assert_eq!(
            e.head(200, &h).unwrap(),
            "header x-backend missing, expected 'v2'"
        );
        h.insert("x-backend", http::HeaderValue::from_static("v1"));
        assert_eq!(
            e.head(200, &h).unwrap(),
            "header x-backend was 'v1', expected 'v2'"
        );
        h.insert("x-backend", http::HeaderValue::from_static("v2"));
        assert_eq!(e.head(201, &h), None);
        assert_eq!(e.body(2, b"ok"), None);
        assert_eq!(e.body(3, b"nope").unwrap(), "body does not contain 'ok'");
        assert_eq!(
            e.body(11, b"ok").unwrap(),
            "body of 11 bytes, at most 10 allowed"
        );
    }
}
