//! Leaf utilities several subsystems share; this module imports nothing else of the crate.
//!
//! `text` makes remote text safe to print or draw; `secret` keeps
//! credentials out of what rampdeck prints and stores; `limits` holds the
//! bounds every input is checked against.

pub mod limits;
pub mod secret;
pub mod text;
