//! `[metrics]` or `--metrics-listen`: where rampdeck's own OpenMetrics endpoint listens (`export` serves it).

use std::net::SocketAddr;

/// The port `[metrics]` listens on when it names none (OpenTelemetry's
/// Prometheus exporter port, so dashboards that scrape it find it).
pub const DEFAULT_LISTEN: SocketAddr = SocketAddr::V4(std::net::SocketAddrV4::new(
    std::net::Ipv4Addr::LOCALHOST,
    9464,
));

/// `[metrics]` or `--metrics-listen`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricsConfig {
    pub listen: SocketAddr,
}
