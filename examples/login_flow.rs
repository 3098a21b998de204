//! A multi-step flow: each virtual user (one engine connection) logs in once, keeps its token in its session, and sends authenticated requests with it; a refused token logs it in again.
//!
//! ```text
//! cargo run --example login_flow                      # against the embedded demo
//! cargo run --example login_flow -- http://127.0.0.1:8080 --duration 10
//! ```
//!
//! The demo answers `POST /auth/login` with `{"token": "..."}` and
//! `/auth/...` only with `Authorization: Bearer TOKEN` (else 401).

mod common;

use std::process::ExitCode;

use rampdeck::{Call, Context, RequestSource, Response, RunOptions, SourceError};

/// `login` has weight 0: the mix never draws it, the source sends it by name.
const PROFILE: &str = r#"
name = "login flow"
# No [target] url: the [demo] table makes the embedded demo the target.

[[request]]
name = "login"
method = "POST"
path = "/auth/login"
weight = 0

[[request]]
name = "orders"
path = "/auth/orders"
weight = 3

[[request]]
name = "profile"
path = "/auth/profile"
weight = 1

[load]
mode = "closed"
concurrency = 20
duration = "15s"
seed = 11

[thresholds]
success_rate = "> 99.9"

[demo]
"#;

/// What a login answer may be at most; the check reads this much of it.
const LOGIN_BYTES: usize = 256;

/// One virtual user's state.
#[derive(Default)]
struct User {
    token: Option<String>,
}

struct LoginFlow;

impl RequestSource for LoginFlow {
    type Session = User;

    fn session(&self) -> User {
        User::default()
    }

    fn request(&self, ctx: &mut Context<'_>, user: &mut User) -> Result<Call, SourceError> {
        let Some(token) = &user.token else {
            let body = format!(r#"{{"user":"user-{}"}}"#, ctx.seq());
            return Ok(Call::post("/auth/login")
                .name("login")
                .header("content-type", "application/json")
                .body(body)
                .read_body(LOGIN_BYTES));
        };
        let path = match ctx.drawn() {
            "orders" => format!("/auth/orders/{}", ctx.rng().int(1, 10_000)),
            _ => "/auth/profile".to_owned(),
        };
        Ok(Call::get(path).header("authorization", format!("Bearer {token}")))
    }

    fn check(&self, response: &Response<'_>, user: &mut User) -> Result<(), String> {
        match (response.name(), response.status()) {
            ("login", 200) => {
                let token =
                    token_of(response.body()).ok_or("the login answer holds no \"token\"")?;
                user.token = Some(token.to_owned());
                Ok(())
            }
            // The token expired or was refused: this user logs in again.
            (_, 401) => {
                user.token = None;
                Err("the token was refused".into())
            }
            _ => Ok(()),
        }
    }
}

/// The value of `"token"` in a small JSON object.
fn token_of(body: &[u8]) -> Option<&str> {
    let text = std::str::from_utf8(body).ok()?;
    let rest = text.split_once("\"token\"")?.1.trim_start();
    let rest = rest.strip_prefix(':')?.trim_start().strip_prefix('"')?;
    rest.split_once('"').map(|(t, _)| t)
}

fn main() -> ExitCode {
    let plan = match common::plan("login_flow", PROFILE) {
        Ok(p) => p.source(LoginFlow),
        Err(e) => {
            eprintln!("error: {e}");
            return e.exit_code();
        }
    };
    match rampdeck::run(plan, &RunOptions::new()) {
        Ok(outcome) => {
            eprintln!(
                "{} requests, {} refused tokens",
                outcome.requests(),
                outcome.check_failures("orders") + outcome.check_failures("profile")
            );
            outcome.exit_code()
        }
        Err(e) => {
            eprintln!("error: {e}");
            e.exit_code()
        }
    }
}
