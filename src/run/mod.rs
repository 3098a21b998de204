//! A run as the views see it: the interval series, the events, the totals so far.

pub mod delivery;
pub mod env;
pub mod log;
pub mod model;
pub mod probes;
pub mod replay;
pub mod routes;
pub mod search;

pub use model::RunModel;
