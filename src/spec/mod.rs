//! What a run is, as plain data: the `Plan` and each section's configuration, validated by `profile` and read by every subsystem.
//!
//! The floor of the crate: these types hold values only (no I/O, no
//! tasks) and import nothing above `util` and `template`, so any room can
//! read a plan without reaching into another room's runtime.

pub mod agents;
pub mod connections;
pub mod delivery;
pub mod find;
pub mod grpc;
pub mod kube;
pub mod metrics;
pub mod plan;
pub mod probes;
pub mod routes;
pub mod setup;
pub mod thresholds;
