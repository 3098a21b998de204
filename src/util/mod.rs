//! Leaf utilities several subsystems share; this module imports nothing else of the crate.
//!
//! `text` makes remote text safe to print or draw; `secret` keeps
//! credentials out of what rampdeck prints and stores; `limits` holds the
//! bounds every input is checked against; `files` reads input files
//! within a per-kind size limit; `grpc` encodes JSON messages by
//! descriptor; `hash` digests profiles; `serve` bounds listeners. What the
//! demo shares (formatting, the seeded rng, gRPC framing, route matching)
//! is the `rampdeck-base` crate.

pub mod files;
pub mod grpc;
pub mod hash;
pub mod limits;
pub mod secret;
pub mod serve;
pub mod text;
