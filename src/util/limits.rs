//! Bounds on what input may ask for, checked where it is parsed, so no later arithmetic can overflow.

/// Upper bound on connections/workers: beyond this a single process runs out
/// of file descriptors and the numbers stop meaning anything.
pub const MAX_CONNECTIONS: i64 = 20_000;

/// The highest rate (requests or connections per second) any flag or
/// profile field may give: far past what one machine sends, and small
/// enough that counts derived from it (rate x a year) stay in a u64.
pub const MAX_RATE: f64 = 10_000_000.0;

/// How `MAX_RATE` is written in messages.
pub const MAX_RATE_TEXT: &str = "10,000,000 per second";

/// The largest profile file rampdeck reads.
pub const MAX_PROFILE_BYTES: u64 = 16 * 1024 * 1024;
