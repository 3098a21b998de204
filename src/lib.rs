//! rampdeck: a terminal console for live load tests of service meshes and API gateways.
//!
//! # The library
//!
//! A Rust program can define what each request is and run it with the
//! same engine, statistics, console, thresholds, run log and reports as
//! `rampdeck run`: start from a profile ([`Plan`]), replace its request
//! source with a [`RequestSource`] (or a closure, [`from_fn`]), and call
//! [`run_headless`], [`run_console`] or [`run`] (the console in a terminal).
//!
//! ```no_run
//! use rampdeck::{from_fn, run_headless, Call, Plan, RunOptions};
//!
//! # fn main() -> Result<(), rampdeck::Error> {
//! let plan = Plan::from_toml("tenants", r#"
//!     [target]
//!     url = "http://127.0.0.1:8080"
//!     [load]
//!     rate = 200
//!     duration = "10s"
//! "#)?;
//! let tenants = ["acme", "globex", "initech"];
//! let plan = plan.source(from_fn(move |ctx| {
//!     let tenant = ctx.rng().choose(&tenants).copied().unwrap_or("acme");
//!     let path = format!("/orders/{}", ctx.seq());
//!     Ok(Call::get(path).header("host", format!("{tenant}.example")))
//! }));
//! let outcome = run_headless(plan, &RunOptions::new())?;
//! println!("p99 {:?} ms", outcome.latency_ms(99.0));
//! # Ok(())
//! # }
//! ```
//!
//! Per-connection state (a login token) lives in a
//! [`RequestSource::Session`]; per-response checks in
//! [`RequestSource::check`]. `examples/custom_requests.rs` and
//! `examples/login_flow.rs` run against the demo.
//!
//! The modules below the API are rampdeck's own (the `rampdeck` binary
//! and the integration tests use them); they are hidden from these docs
//! and may change in any release.
//!
//! # Layout
//!
//! Data flows one way: a profile becomes a `spec::plan::Plan` (`profile`
//! loads and validates it into the `spec` room's plain data), the `engine`
//! sends load on the run clock and records into `stats`, publishing
//! interval snapshots and events; a `session::RunSession` folds them, with
//! probe and route-action reports, into a `run::RunModel`, the run log and
//! the threshold watch; views (the headless runner and the console) drive
//! the session and read the model, and `report` turns the finished run into
//! a summary. Every room imports only rooms below it (`tests/layout.rs`
//! checks it; docs/development.md lists the floors). The demo target is the
//! `rampdeck-demo` crate and the helpers it shares the `rampdeck-base`
//! crate; neither imports this one. Domain modules never draw. `api` is the
//! public surface over all of it.

#![warn(missing_docs)]

mod api;

pub use api::{run, run_console, run_headless, Error, Outcome, Plan, RunOptions};
pub use engine::source::{from_fn, Call, Context, FnSource, RequestSource, Response, SourceError};
pub use rampdeck_base::rng::Rng;

#[doc(hidden)]
pub mod agents;
/// traffic-matrix's cells run as ordinary runs.
pub mod cells;
#[doc(hidden)]
pub mod checks;
#[doc(hidden)]
pub mod delivery;
#[doc(hidden)]
pub mod engine;
#[doc(hidden)]
pub mod export;
#[doc(hidden)]
pub mod find;
#[doc(hidden)]
pub mod headless;
#[doc(hidden)]
pub mod kube;
#[doc(hidden)]
pub mod live;
#[doc(hidden)]
pub mod probes;
#[doc(hidden)]
pub mod profile;
#[doc(hidden)]
pub mod report;
#[doc(hidden)]
pub mod routes;
#[doc(hidden)]
pub mod run;
#[doc(hidden)]
pub mod scenarios;
#[doc(hidden)]
pub mod session;
#[doc(hidden)]
pub mod setup;
#[doc(hidden)]
pub mod signals;
#[doc(hidden)]
pub mod spec;
#[doc(hidden)]
pub mod stats;
#[doc(hidden)]
pub mod template;
#[doc(hidden)]
pub mod ui;
#[doc(hidden)]
pub mod util;
