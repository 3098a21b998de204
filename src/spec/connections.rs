//! `mode = "connections"`: connections opened at a rate up to a held count, with optional echo traffic and a PROXY header.
//!
//! The count is the run's level: stages ramp it and the console's level
//! keys change it, exactly as they do a closed loop's concurrency, so the
//! connections mode is scheduled as a closed loop whose workers each hold
//! one connection at a time instead of sending requests.

use std::time::Duration;

use bytes::Bytes;

/// What a connections run does.
#[derive(Debug, Clone, PartialEq)]
pub struct ConnectionsPlan {
    /// Connections opened per second at most (new and replacements).
    pub open_rate: f64,
    /// How long each is held before rampdeck closes it (and opens another
    /// while the count asks for it); None: to the end of the run.
    pub hold: Option<Duration>,
    pub traffic: Traffic,
    /// What each message carries; the echo must return it whole.
    pub message: Bytes,
    /// A message every this often on each connection (None: held idle).
    pub message_interval: Option<Duration>,
    /// Sent first on every connection, before TLS or anything else.
    pub proxy: Option<ProxyVersion>,
    /// The URL as the profile gave it (tcp://, ws://, ...), for display.
    pub url: Option<String>,
    /// Reopen a connection the server closed or reset (timing the gap from
    /// the loss to the new one established); false: it stays lost.
    pub reconnect: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Traffic {
    /// tcp://: raw bytes, echoed back.
    Tcp,
    /// ws:// or wss://: text messages on a WebSocket, echoed back; the
    /// handshake's request path.
    WebSocket { path: String },
    /// http:// or https://: the connection (and its TLS) only.
    Idle,
}

impl Traffic {
    pub fn name(&self) -> &'static str {
        match self {
            Traffic::Tcp => "tcp",
            Traffic::WebSocket { .. } => "websocket",
            Traffic::Idle => "idle",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyVersion {
    V1,
    V2,
}

/// Per connection, bytes a message may carry.
pub const MAX_MESSAGE: usize = 64 * 1024;
/// The fastest a connection may send.
pub const MIN_MESSAGE_INTERVAL: Duration = Duration::from_millis(10);
pub const DEFAULT_OPEN_RATE: f64 = 500.0;
