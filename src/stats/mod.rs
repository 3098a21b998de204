//! Statistics: HDR histograms per interval and cumulative, counters by status and error kind, series.
//!
//! `recorder` is what the engine's connection tasks write into (sharded per
//! thread, no contended lock); `counts` is the mergeable unit; `summary` turns
//! histograms into the percentiles everyone else shows; `series` is the
//! bounded ring of interval summaries the charts draw from.

pub mod agents;
pub mod bootstrap;
pub mod changepoint;
pub mod connections;
pub mod delivery;
pub mod epochs;
pub mod measurements;
pub mod recorder;
pub mod series;
pub mod summary;

pub use measurements::{FailureAt, Measurements, Sent};
pub use recorder::Recorder;
pub use series::Series;
pub use summary::{IntervalStats, Percentiles, TotalsSummary};

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// Latencies are recorded in microseconds, 3 significant digits. The
/// histograms start sized for 1 µs to 60 s and grow when a larger value
/// comes (a backlog's corrected latency can exceed any request timeout), so
/// no value is ever clipped; the memory of one is about 140 KB until then.
pub const HIST_LOW_US: u64 = 1;
pub const HIST_HIGH_US: u64 = 60_000_000;
pub const HIST_SIGFIG: u8 = 3;

pub fn new_histogram() -> Histogram<u64> {
    // The bounds are constants that hdrhistogram accepts; this cannot fail.
    #[allow(clippy::expect_used)]
    let mut h = Histogram::new_with_bounds(HIST_LOW_US, HIST_HIGH_US, HIST_SIGFIG)
        .expect("constant histogram bounds are valid");
    h.auto(true);
    h
}

/// One interval's (or a run's) four latency histograms, in microseconds.
/// Successes, failed responses and transport errors are kept apart: a
/// connection refused in 50 µs or a fast 503 must not pull the success
/// percentiles down (a target that sheds load would look faster).
#[derive(Debug, Clone)]
pub struct Histograms {
    /// Successful responses, from the intended send time (corrected).
    pub latency: Histogram<u64>,
    /// Successful responses, from the actual send (service time).
    pub service: Histogram<u64>,
    /// Failed responses (4xx, 5xx, invalid status), corrected.
    pub failed: Histogram<u64>,
    /// Transport errors (refused, reset, timeout, ...): corrected time to the error.
    pub errored: Histogram<u64>,
    /// Successes and counts by level epoch.
    pub epochs: epochs::EpochParts,
}

impl Default for Histograms {
    fn default() -> Self {
        Histograms {
            latency: new_histogram(),
            service: new_histogram(),
            failed: new_histogram(),
            errored: new_histogram(),
            epochs: epochs::EpochParts::default(),
        }
    }
}

impl Histograms {
    /// Adds `other` in; the histograms grow as needed, so this cannot lose a value.
    pub fn add(&mut self, other: &Histograms) {
        let _ = self.latency.add(&other.latency);
        let _ = self.service.add(&other.service);
        let _ = self.failed.add(&other.failed);
        let _ = self.errored.add(&other.errored);
        self.epochs.merge(&other.epochs);
    }

    /// Failed responses and transport errors together (what `failed_*` thresholds judge).
    pub fn failures(&self) -> Histogram<u64> {
        let mut h = self.failed.clone();
        let _ = h.add(&self.errored);
        h
    }
}

/// Why a request failed without an HTTP status (statuses are counted by code).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// Nothing listens on the port (TCP RST to our SYN).
    ConnectRefused,
    /// The TCP (or TLS) connect did not finish within `connect_timeout`.
    ConnectTimeout,
    /// Any other connect failure: unreachable network, no route, address in use.
    Connect,
    /// The peer closed or reset the connection before a full response.
    Reset,
    /// The whole request (connect, send, response, body) exceeded `timeout`.
    Timeout,
    /// TLS handshake failed: bad certificate, protocol mismatch.
    Tls,
    /// The response head arrived, but reading its body failed.
    Body,
    /// The peer spoke something that is not valid HTTP.
    Protocol,
    /// rampdeck itself ran out of something (file descriptors, local
    /// ports, memory): the generator's limit, not the target's failure.
    LocalResources,
    /// A request's template rendered something HTTP cannot carry (a data
    /// value that is not a valid header value, say): never sent.
    Template,
    /// The response failed one of its request's `expect` checks (status,
    /// header, body): the target answered, but not as required.
    Check,
    // A gRPC call answered with a grpc-status other than OK, by code.
    /// gRPC status 1, CANCELLED.
    GrpcCancelled,
    /// gRPC status 2, UNKNOWN.
    GrpcUnknown,
    /// gRPC status 3, INVALID_ARGUMENT.
    GrpcInvalidArgument,
    /// gRPC status 4, DEADLINE_EXCEEDED.
    GrpcDeadlineExceeded,
    /// gRPC status 5, NOT_FOUND.
    GrpcNotFound,
    /// gRPC status 6, ALREADY_EXISTS.
    GrpcAlreadyExists,
    /// gRPC status 7, PERMISSION_DENIED.
    GrpcPermissionDenied,
    /// gRPC status 8, RESOURCE_EXHAUSTED.
    GrpcResourceExhausted,
    /// gRPC status 9, FAILED_PRECONDITION.
    GrpcFailedPrecondition,
    /// gRPC status 10, ABORTED.
    GrpcAborted,
    /// gRPC status 11, OUT_OF_RANGE.
    GrpcOutOfRange,
    /// gRPC status 12, UNIMPLEMENTED.
    GrpcUnimplemented,
    /// gRPC status 13, INTERNAL.
    GrpcInternal,
    /// gRPC status 14, UNAVAILABLE.
    GrpcUnavailable,
    /// gRPC status 15, DATA_LOSS.
    GrpcDataLoss,
    /// gRPC status 16, UNAUTHENTICATED.
    GrpcUnauthenticated,
}

impl ErrorKind {
    pub const ALL: [ErrorKind; 27] = [
        ErrorKind::ConnectRefused,
        ErrorKind::ConnectTimeout,
        ErrorKind::Connect,
        ErrorKind::Reset,
        ErrorKind::Timeout,
        ErrorKind::Tls,
        ErrorKind::Body,
        ErrorKind::Protocol,
        ErrorKind::LocalResources,
        ErrorKind::Template,
        ErrorKind::Check,
        ErrorKind::GrpcCancelled,
        ErrorKind::GrpcUnknown,
        ErrorKind::GrpcInvalidArgument,
        ErrorKind::GrpcDeadlineExceeded,
        ErrorKind::GrpcNotFound,
        ErrorKind::GrpcAlreadyExists,
        ErrorKind::GrpcPermissionDenied,
        ErrorKind::GrpcResourceExhausted,
        ErrorKind::GrpcFailedPrecondition,
        ErrorKind::GrpcAborted,
        ErrorKind::GrpcOutOfRange,
        ErrorKind::GrpcUnimplemented,
        ErrorKind::GrpcInternal,
        ErrorKind::GrpcUnavailable,
        ErrorKind::GrpcDataLoss,
        ErrorKind::GrpcUnauthenticated,
    ];
    pub const COUNT: usize = Self::ALL.len();

    /// The kind for a gRPC status code other than OK (0); a code outside
    /// the 16 the protocol defines counts as UNKNOWN.
    pub fn grpc(code: u32) -> ErrorKind {
        match code {
            1 => ErrorKind::GrpcCancelled,
            3 => ErrorKind::GrpcInvalidArgument,
            4 => ErrorKind::GrpcDeadlineExceeded,
            5 => ErrorKind::GrpcNotFound,
            6 => ErrorKind::GrpcAlreadyExists,
            7 => ErrorKind::GrpcPermissionDenied,
            8 => ErrorKind::GrpcResourceExhausted,
            9 => ErrorKind::GrpcFailedPrecondition,
            10 => ErrorKind::GrpcAborted,
            11 => ErrorKind::GrpcOutOfRange,
            12 => ErrorKind::GrpcUnimplemented,
            13 => ErrorKind::GrpcInternal,
            14 => ErrorKind::GrpcUnavailable,
            15 => ErrorKind::GrpcDataLoss,
            16 => ErrorKind::GrpcUnauthenticated,
            _ => ErrorKind::GrpcUnknown,
        }
    }

    pub fn is_grpc(self) -> bool {
        self.index() >= ErrorKind::GrpcCancelled.index()
    }

    pub fn index(self) -> usize {
        self as usize
    }

    pub fn name(self) -> &'static str {
        match self {
            ErrorKind::ConnectRefused => "connect_refused",
            ErrorKind::ConnectTimeout => "connect_timeout",
            ErrorKind::Connect => "connect",
            ErrorKind::Reset => "reset",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Tls => "tls",
            ErrorKind::Body => "body",
            ErrorKind::Protocol => "protocol",
            ErrorKind::LocalResources => "local_resources",
            ErrorKind::Template => "template",
            ErrorKind::Check => "check",
            ErrorKind::GrpcCancelled => "grpc_cancelled",
            ErrorKind::GrpcUnknown => "grpc_unknown",
            ErrorKind::GrpcInvalidArgument => "grpc_invalid_argument",
            ErrorKind::GrpcDeadlineExceeded => "grpc_deadline_exceeded",
            ErrorKind::GrpcNotFound => "grpc_not_found",
            ErrorKind::GrpcAlreadyExists => "grpc_already_exists",
            ErrorKind::GrpcPermissionDenied => "grpc_permission_denied",
            ErrorKind::GrpcResourceExhausted => "grpc_resource_exhausted",
            ErrorKind::GrpcFailedPrecondition => "grpc_failed_precondition",
            ErrorKind::GrpcAborted => "grpc_aborted",
            ErrorKind::GrpcOutOfRange => "grpc_out_of_range",
            ErrorKind::GrpcUnimplemented => "grpc_unimplemented",
            ErrorKind::GrpcInternal => "grpc_internal",
            ErrorKind::GrpcUnavailable => "grpc_unavailable",
            ErrorKind::GrpcDataLoss => "grpc_data_loss",
            ErrorKind::GrpcUnauthenticated => "grpc_unauthenticated",
        }
    }
}

impl std::fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// How one request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Status(u16),
    Error(ErrorKind),
}

impl Outcome {
    /// 1xx-3xx count as success; 4xx and 5xx, codes outside 100-599 and
    /// transport errors do not.
    pub fn is_ok(self) -> bool {
        matches!(self, Outcome::Status(s) if (100..400).contains(&s))
    }
}

/// Whether an HTTP status counts as a failed request (4xx, 5xx, or a code
/// outside 100-599, which no HTTP version defines).
pub fn is_failure_status(status: u16) -> bool {
    !(100..400).contains(&status)
}

/// The `errors` key for a failing HTTP status, e.g. "http_503"; every code
/// outside 100-599 (999, 600) is "http_invalid_status".
pub fn http_error_name(status: u16) -> String {
    if (100..600).contains(&status) {
        format!("http_{status}")
    } else {
        "http_invalid_status".to_owned()
    }
}
