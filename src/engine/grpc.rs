//! gRPC unary calls over the engine's HTTP/2 connections: message framing, the deadline header, and reading grpc-status.
//!
//! A unary call is an HTTP/2 POST to `/package.Service/Method` whose body is
//! one length-prefixed message; the answer's outcome is the `grpc-status`
//! in its trailers (or in its headers for a trailers-only answer). The
//! message is encoded once at plan time unless its JSON has placeholders;
//! then it is rendered and encoded per call by the method's descriptor.

use http::HeaderMap;

use crate::stats::ErrorKind;

/// One call's outcome other than OK, as the server (or proxy) gave it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    pub code: u32,
    pub message: String,
}

impl Status {
    pub fn kind(&self) -> ErrorKind {
        ErrorKind::grpc(self.code)
    }

    /// What the operator sees as the first error of its kind.
    pub fn describe(&self) -> String {
        let name = code_name(self.code);
        if self.message.is_empty() {
            format!("grpc-status {} {name}", self.code)
        } else {
            format!("grpc-status {} {name}: {}", self.code, self.message)
        }
    }
}

/// The protocol's name for a status code.
pub fn code_name(code: u32) -> &'static str {
    const NAMES: [&str; 17] = [
        "OK",
        "CANCELLED",
        "UNKNOWN",
        "INVALID_ARGUMENT",
        "DEADLINE_EXCEEDED",
        "NOT_FOUND",
        "ALREADY_EXISTS",
        "PERMISSION_DENIED",
        "RESOURCE_EXHAUSTED",
        "FAILED_PRECONDITION",
        "ABORTED",
        "OUT_OF_RANGE",
        "UNIMPLEMENTED",
        "INTERNAL",
        "UNAVAILABLE",
        "DATA_LOSS",
        "UNAUTHENTICATED",
    ];
    NAMES
        .get(code as usize)
        .copied()
        .unwrap_or("(not a gRPC code)")
}

/// The call's outcome from its trailers (or, for a trailers-only answer,
/// its headers): Ok(None) is OK, Ok(Some) another code, Err a response
/// that carries no grpc-status at all.
pub fn status(headers: &HeaderMap, trailers: Option<&HeaderMap>) -> Result<Option<Status>, String> {
    let from = trailers
        .filter(|t| t.contains_key("grpc-status"))
        .unwrap_or(headers);
    let Some(code) = from.get("grpc-status") else {
        return Err(
            "the answer has no grpc-status (in trailers or headers): the server or a proxy on the way does not speak gRPC".into(),
        );
    };
    let code = code
        .to_str()
        .ok()
        .and_then(|c| c.trim().parse::<u32>().ok())
        .ok_or_else(|| format!("grpc-status {:?} is not a number", code))?;
    if code == 0 {
        return Ok(None);
    }
    let message = from
        .get("grpc-message")
        // grpc-message is percent-encoded UTF-8.
        .map(|m| {
            let text = crate::util::text::percent_decode(&String::from_utf8_lossy(m.as_bytes()));
            crate::util::text::clip(&text, super::conn::MAX_FAILURE_TEXT).into_owned()
        })
        .unwrap_or_default();
    Ok(Some(Status { code, message }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn reads_status_from_trailers_or_a_trailers_only_head() {
        let mut t = HeaderMap::new();
        t.insert("grpc-status", HeaderValue::from_static("14"));
        t.insert(
            "grpc-message",
            HeaderValue::from_static("no%20healthy%20upstream"),
        );
        let s = status(&HeaderMap::new(), Some(&t)).unwrap().unwrap();
        assert_eq!(s.kind(), ErrorKind::GrpcUnavailable);
        assert_eq!(
            s.describe(),
            "grpc-status 14 UNAVAILABLE: no healthy upstream"
        );
        // Trailers-only: the status is in the head.
        assert_eq!(status(&t, None).unwrap().unwrap().code, 14);
        let mut ok = HeaderMap::new();
        ok.insert("grpc-status", HeaderValue::from_static("0"));
        assert_eq!(status(&HeaderMap::new(), Some(&ok)), Ok(None));
        assert!(status(&HeaderMap::new(), None)
            .unwrap_err()
            .contains("no grpc-status"));
        assert_eq!(ErrorKind::grpc(99), ErrorKind::GrpcUnknown);
        assert_eq!(ErrorKind::grpc(4).name(), "grpc_deadline_exceeded");
    }
}
