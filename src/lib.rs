//! rampdeck: a terminal console for live load tests of service meshes and API gateways.
//!
//! Data flows one way: a profile becomes a `Plan` (`profile`), the `engine`
//! sends load on the run clock and records into `stats`, publishing
//! interval snapshots and events; a `session::RunSession` folds them, with
//! probe and route-action reports, into a `run::RunModel`, the run log and
//! the threshold watch; views (the headless runner and the console) drive
//! the session and read the model, and `report` turns the finished run into
//! a summary. `demo` is the embedded target; `util` holds leaf helpers
//! (redaction, escaping, input bounds) and `httproute` the Gateway API
//! match rules; both import nothing else of the crate. Domain modules never draw.

pub mod agents;
pub mod checks;
pub mod demo;
pub mod engine;
pub mod find;
pub mod headless;
pub mod httproute;
pub mod kube;
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
pub mod template;
pub mod ui;
pub mod util;
