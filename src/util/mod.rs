//! Leaf utilities several subsystems share; this module imports nothing else of the crate.
//!
//! `text` makes remote text safe to print or draw; `secret` keeps
//! credentials out of what rampdeck prints and stores; `limits` holds the
//! bounds every input is checked against; `rng` is the seeded randomness
//! of the request mix and the demo; `fmt` formats durations and levels;
//! `grpc` is gRPC's framing and deadline header; `files` reads input files
//! within a per-kind size limit.
//! The demo depends on these and its own config only.

pub mod files;
pub mod fmt;
pub mod grpc;
pub mod hash;
pub mod limits;
pub mod rng;
pub mod secret;
pub mod serve;
pub mod text;
