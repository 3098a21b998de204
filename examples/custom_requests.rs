//! Requests built by Rust code: many tenants, ids that defeat caches, JSON bodies, and a per-response check, run with rampdeck's engine, console and summary.
//!
//! ```text
//! cargo run --example custom_requests                 # against the embedded demo
//! cargo run --example custom_requests -- http://127.0.0.1:8080 --duration 10
//! ```
//!
//! With a terminal it opens the console (q quits); otherwise it runs
//! headless and prints the summary. The exit code is rampdeck's: 0, 99 when
//! a threshold failed, 1 when the run could not be done, 2 for bad input.

mod common;

use std::process::ExitCode;

use rampdeck::{Call, Context, RequestSource, Response, RunOptions, SourceError};

/// The profile gives the target, the load, the thresholds and the names of
/// the two requests (and their 4:1 mix); the source below builds them.
const PROFILE: &str = r#"
name = "custom requests"
# No [target] url: the [demo] table makes the embedded demo the target.

[[request]]
name = "item"
path = "/api/items"
weight = 4

[[request]]
name = "order"
method = "POST"
path = "/api/orders"
weight = 1

[load]
rate = 200
duration = "20s"
seed = 7

[thresholds]
success_rate = "> 97"
p99 = "< 250ms"

[demo]

[[demo.route]]
prefix = "/api/items"
latency = "3ms"
latency_p99 = "20ms"
body_bytes = 1024

[[demo.route]]
prefix = "/api/orders"
latency = "12ms"
latency_p99 = "80ms"
error_rate = 0.01
"#;

/// What a catalog page's body must be, in bytes (the demo route's `body_bytes`).
const ITEM_BYTES: usize = 1024;

struct Shop {
    tenants: Vec<String>,
}

impl RequestSource for Shop {
    type Session = ();

    fn session(&self) {}

    fn request(&self, ctx: &mut Context<'_>, _: &mut ()) -> Result<Call, SourceError> {
        // Every random value comes from the context's generator, seeded by
        // load.seed and the slot: the same seed sends the same requests.
        let tenant = ctx.rng().choose(&self.tenants).cloned().unwrap_or_default();
        Ok(match ctx.drawn() {
            "order" => {
                let body = format!(
                    r#"{{"id":"{}","tenant":"{tenant}","items":{},"at_ms":{}}}"#,
                    ctx.rng().uuid(),
                    ctx.rng().int(1, 9),
                    ctx.now_ms()
                );
                Call::post("/api/orders")
                    .header("content-type", "application/json")
                    .header("x-tenant", &tenant)
                    .body(body)
            }
            // `{{seq}}` in a template: every item request is distinct.
            _ => Call::get(format!(
                "/api/items/{}?nocache={}",
                ctx.rng().int(1, 5000),
                ctx.seq()
            ))
            .header("x-tenant", &tenant),
        })
    }

    fn check(&self, response: &Response<'_>, _: &mut ()) -> Result<(), String> {
        // Counts the body without keeping it (no read_body on the call).
        if response.name() == "item"
            && response.status() == 200
            && response.body_len() != ITEM_BYTES
        {
            return Err(format!(
                "a catalog page of {} bytes, expected {ITEM_BYTES}",
                response.body_len()
            ));
        }
        Ok(())
    }
}

fn main() -> ExitCode {
    let tenants = (1..=50).map(|i| format!("tenant-{i:02}")).collect();
    let plan = match common::plan("custom_requests", PROFILE) {
        Ok(p) => p.source(Shop { tenants }),
        Err(e) => {
            eprintln!("error: {e}");
            return e.exit_code();
        }
    };
    // The console in a terminal, else headless, as `rampdeck run` chooses.
    match rampdeck::run(plan, &RunOptions::new()) {
        Ok(outcome) => outcome.exit_code(),
        Err(e) => {
            eprintln!("error: {e}");
            e.exit_code()
        }
    }
}
