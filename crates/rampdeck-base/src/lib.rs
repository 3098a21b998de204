//! Leaf helpers that rampdeck and its demo target both use; this crate depends on neither.
//!
//! `duration` parses and bounds durations from input; `fmt` formats durations, levels and sizes as rampdeck prints them; `rng`
//! is the seeded randomness of the request mix and the demo; `grpc` is
//! gRPC's framing and deadline header; `httproute` the Gateway API's
//! HTTPRoute match rules (what the demo gateway routes by and what route
//! actions are checked against).

pub mod duration;
pub mod fmt;
pub mod grpc;
pub mod httproute;
pub mod rng;
