//! `[delivery]` as validated: where the sink listens, the id each publish carries and where arrivals carry it, the deadline and the sink's answers.

use std::net::SocketAddr;
use std::time::Duration;

/// What `[delivery]` asks for, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct DeliveryConfig {
    /// Where the sink listens (default 127.0.0.1, an ephemeral port).
    pub listen: SocketAddr,
    /// The id each publish carries (`{{delivery.id}}` renders it).
    pub id: crate::template::Template,
    /// The id as the profile wrote it.
    pub id_text: String,
    /// Where an arrival carries the id.
    pub id_from: IdFrom,
    pub deadline: Duration,
    pub expect_copies: u32,
    /// Events the correlation table holds at once.
    pub capacity: usize,
    pub respond: Respond,
}

/// Where the sink finds an arrival's id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdFrom {
    Header(http::HeaderName),
    /// A JSON pointer into the body (RFC 6901), e.g. `/data/id`.
    Pointer(String),
}

/// How the sink answers deliveries.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Respond {
    pub status: u16,
    pub latency: Duration,
    /// This share of deliveries (0 to 1) get `failure_status` instead.
    pub failure_rate: f64,
    pub failure_status: u16,
}

impl Default for Respond {
    fn default() -> Self {
        Respond {
            status: 200,
            latency: Duration::ZERO,
            failure_rate: 0.0,
            failure_status: 500,
        }
    }
}
