//! rampdeck: a terminal console for live load tests of service meshes and API gateways.
//!
//! Data flows one way: a profile becomes a `Plan` (`profile`), the `engine`
//! sends load and records into `stats`, publishing interval snapshots and
//! events that a `run::RunModel` collects; views (the headless runner and the
//! console) read the model, and `report` turns the finished run into a
//! summary. `demo` is the embedded target. Domain modules never draw.

pub mod demo;
pub mod engine;
pub mod headless;
pub mod live;
pub mod probes;
pub mod profile;
pub mod report;
pub mod routes;
pub mod run;
pub mod scenarios;
pub mod session;
pub mod signals;
pub mod stats;
pub mod ui;
pub mod util;
