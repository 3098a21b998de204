//! Requests built by Rust code: the `RequestSource` seam, what a source sees (`Context`, `Response`) and makes (`Call`), and how the engine turns a call into a request.
//!
//! A source replaces a profile's fixed or templated requests; everything
//! else (schedule, connections, timing, statistics, checks, the run log)
//! is the engine's own. One session per engine connection holds what a
//! virtual user keeps between its requests (a login token, say): a
//! connection sends one request at a time, so its session needs no lock.

use std::any::Any;
use std::sync::Arc;

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue};
use http::{HeaderMap, Method, Request, Uri};

use super::conn::{Body, Failure};
use crate::stats::ErrorKind;
use crate::template::Feeders;
use rampdeck_base::rng::Rng;

/// Builds each request of a run, and judges each response.
///
/// The engine calls [`request`](RequestSource::request) when a request is
/// due (open loop) or a connection is free (closed loop), on that
/// connection's task: keep it quick and never block in it. Everything
/// random should come from [`Context::rng`], so the run's `load.seed`
/// reproduces it.
pub trait RequestSource: Send + Sync + 'static {
    /// What one connection keeps between its requests (`()` for nothing).
    type Session: Send + 'static;

    /// A new connection's session (called once per engine connection,
    /// before its first request).
    fn session(&self) -> Self::Session;

    /// The next request on this connection.
    ///
    /// # Errors
    ///
    /// [`SourceError::DataEnd`] (from [`Context::data`]) ends the run
    /// cleanly; any other error counts the request as failed with kind
    /// `template` and the error's text.
    fn request(
        &self,
        ctx: &mut Context<'_>,
        session: &mut Self::Session,
    ) -> Result<Call, SourceError>;

    /// Judges a response that arrived whole (its body was read to the end;
    /// [`Response::body`] holds what [`Call::read_body`] asked to keep).
    /// `Err(reason)` counts it as failure kind `check`, with the reason,
    /// under its request's name. The profile's `expect` for that request,
    /// if any, is judged first; this is called either way, so a session
    /// sees every response.
    ///
    /// # Errors
    ///
    /// The reason the response fails the check, in words.
    fn check(&self, response: &Response<'_>, session: &mut Self::Session) -> Result<(), String> {
        let _ = (response, session);
        Ok(())
    }
}

/// A source from a closure with no session and no check; see [`from_fn`].
pub struct FnSource<F>(F);

/// A request source from a closure: `from_fn(|ctx| Ok(Call::get(format!("/item/{}", ctx.seq()))))`.
pub fn from_fn<F>(f: F) -> FnSource<F>
where
    F: Fn(&mut Context<'_>) -> Result<Call, SourceError> + Send + Sync + 'static,
{
    FnSource(f)
}

impl<F> RequestSource for FnSource<F>
where
    F: Fn(&mut Context<'_>) -> Result<Call, SourceError> + Send + Sync + 'static,
{
    type Session = ();

    fn session(&self) {}

    fn request(&self, ctx: &mut Context<'_>, _: &mut ()) -> Result<Call, SourceError> {
        (self.0)(ctx)
    }
}

/// Why a source could not build a request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SourceError {
    /// A `[[data]]` feeder with `on_end = "stop"` has no row left: the run
    /// ends cleanly, as a profile's templates end it.
    #[error("the [[data]] rows ran out")]
    DataEnd,
    /// No `[[data]]` file of the plan has this column.
    #[error("{0}")]
    UnknownColumn(String),
    /// Anything else; the request counts as failed (kind `template`).
    #[error("{0}")]
    Failed(String),
}

impl SourceError {
    /// A failure described in words.
    pub fn new(message: impl std::fmt::Display) -> Self {
        SourceError::Failed(message.to_string())
    }
}

/// What a request is built from: its slot, its seeded generator, the
/// plan's data rows and the agent index.
pub struct Context<'a> {
    seq: u64,
    agent: u32,
    seed: u64,
    drawn: &'a str,
    data: &'a Feeders,
    rng: Rng,
}

impl<'a> Context<'a> {
    pub(crate) fn new(seed: u64, seq: u64, agent: u32, drawn: &'a str, data: &'a Feeders) -> Self {
        Context {
            seq,
            agent,
            seed,
            drawn,
            data,
            rng: Rng::for_request(seed, seq),
        }
    }

    /// The request's slot number: its place in the open-loop schedule, or
    /// a per-run count in closed loop (as `{{seq}}` in a template).
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// This process's index among a distributed run's agents (0 otherwise).
    pub fn agent(&self) -> u32 {
        self.agent
    }

    /// This request's random numbers, seeded by `load.seed` and the slot.
    pub fn rng(&mut self) -> &mut Rng {
        &mut self.rng
    }

    /// The name of the plan's `[[request]]` the weighted mix drew for this
    /// slot (a call counts as it unless [`Call::name`] says otherwise).
    pub fn drawn(&self) -> &'a str {
        self.drawn
    }

    /// The value of `column` in this slot's row of the `[[data]]` file
    /// that has it (rows are taken by the feeder's `order`).
    ///
    /// # Errors
    ///
    /// [`SourceError::DataEnd`] when a feeder with `on_end = "stop"` has no
    /// row left; [`SourceError::UnknownColumn`] when no data file has the column.
    pub fn data(&self, column: &str) -> Result<&'a str, SourceError> {
        let (f, c) = self.data.find(column).map_err(SourceError::UnknownColumn)?;
        let row = self
            .data
            .feeders
            .get(f)
            .and_then(|feeder| feeder.row(self.seq, self.seed))
            .ok_or(SourceError::DataEnd)?;
        Ok(row.get(c))
    }

    /// Milliseconds since the Unix epoch, now.
    pub fn now_ms(&self) -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64)
    }
}

/// One request a source sends: method, path, headers, body, and which of
/// the plan's requests it counts as.
///
/// The target's address, base path, `Host`, `User-Agent` and `[target]`
/// headers are added by the engine; headers set here replace those.
#[derive(Debug, Clone)]
pub struct Call {
    name: Option<String>,
    method: Method,
    path: String,
    headers: Vec<(HeaderName, HeaderValue)>,
    body: Bytes,
    keep: usize,
    /// The first thing given to the builder that a request cannot carry.
    invalid: Option<String>,
}

impl Call {
    /// A request with this method (`"GET"`, `"PATCH"`, ...) and path
    /// (starting with '/', query included).
    pub fn new(method: &str, path: impl Into<String>) -> Self {
        let path = path.into();
        let (method, mut invalid) = match Method::from_bytes(method.as_bytes()) {
            Ok(m) => (m, None),
            Err(_) => (
                Method::GET,
                Some(format!("'{method}' is not an HTTP method")),
            ),
        };
        if !path.starts_with('/') && invalid.is_none() {
            invalid = Some(format!("the path '{path}' does not start with '/'"));
        }
        Call {
            name: None,
            method,
            path,
            headers: Vec::new(),
            body: Bytes::new(),
            keep: 0,
            invalid,
        }
    }

    /// A GET of `path`.
    pub fn get(path: impl Into<String>) -> Self {
        Call::new("GET", path)
    }

    /// A POST to `path` (give it a [`body`](Call::body)).
    pub fn post(path: impl Into<String>) -> Self {
        Call::new("POST", path)
    }

    /// A PUT to `path`.
    pub fn put(path: impl Into<String>) -> Self {
        Call::new("PUT", path)
    }

    /// A DELETE of `path`.
    pub fn delete(path: impl Into<String>) -> Self {
        Call::new("DELETE", path)
    }

    /// Counts this request as the plan's `[[request]]` of this name
    /// (statistics, checks and failures go under it).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Sets a header (replacing one of the same name).
    pub fn header(mut self, name: &str, value: impl AsRef<str>) -> Self {
        let value = value.as_ref();
        match (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            (Ok(n), Ok(v)) => {
                self.headers.retain(|(k, _)| *k != n);
                self.headers.push((n, v));
            }
            (Err(_), _) => {
                self.invalid
                    .get_or_insert_with(|| format!("'{name}' is not a valid header name"));
            }
            (_, Err(_)) => {
                self.invalid.get_or_insert_with(|| {
                    format!(
                        "header {name}: '{}' is not a valid header value",
                        value.escape_debug()
                    )
                });
            }
        }
        self
    }

    /// The request body.
    pub fn body(mut self, body: impl Into<Bytes>) -> Self {
        self.body = body.into();
        self
    }

    /// Response body bytes to keep for the check.
    pub(crate) fn keep(&self) -> usize {
        self.keep
    }

    /// Keeps up to `max_bytes` of the response body for
    /// [`RequestSource::check`]; without it the body is read and dropped,
    /// never buffered.
    pub fn read_body(mut self, max_bytes: usize) -> Self {
        self.keep = max_bytes;
        self
    }
}

/// A response, as [`RequestSource::check`] sees it.
pub struct Response<'a> {
    pub(crate) name: &'a str,
    pub(crate) status: u16,
    pub(crate) headers: &'a HeaderMap,
    pub(crate) body: &'a [u8],
    pub(crate) body_len: usize,
}

impl Response<'_> {
    /// The name of the `[[request]]` this answers.
    pub fn name(&self) -> &str {
        self.name
    }

    /// The HTTP status code.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// A header's value (the first, if several), when it is text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The body, up to what [`Call::read_body`] asked to keep (empty without it).
    pub fn body(&self) -> &[u8] {
        self.body
    }

    /// The body's whole length in bytes, kept or not.
    pub fn body_len(&self) -> usize {
        self.body_len
    }
}

/// A source with its session type erased, as the engine holds it.
pub(crate) trait DynSource: Send + Sync {
    fn session(&self) -> Box<dyn Any + Send>;
    fn request(
        &self,
        ctx: &mut Context<'_>,
        session: &mut (dyn Any + Send),
    ) -> Result<Call, SourceError>;
    fn check(&self, response: &Response<'_>, session: &mut (dyn Any + Send)) -> Result<(), String>;
}

/// A session always comes from its own source's `session()`.
const FOREIGN_SESSION: &str = "rampdeck: a session of another source";

impl<T: RequestSource> DynSource for T {
    fn session(&self) -> Box<dyn Any + Send> {
        Box::new(RequestSource::session(self))
    }

    fn request(
        &self,
        ctx: &mut Context<'_>,
        session: &mut (dyn Any + Send),
    ) -> Result<Call, SourceError> {
        match session.downcast_mut::<T::Session>() {
            Some(s) => RequestSource::request(self, ctx, s),
            None => Err(SourceError::new(FOREIGN_SESSION)),
        }
    }

    fn check(&self, response: &Response<'_>, session: &mut (dyn Any + Send)) -> Result<(), String> {
        match session.downcast_mut::<T::Session>() {
            Some(s) => RequestSource::check(self, response, s),
            None => Err(FOREIGN_SESSION.into()),
        }
    }
}

/// A plan's request source (`Plan::source`): shared by every connection.
#[derive(Clone)]
pub struct SourceHandle(pub(crate) Arc<dyn DynSource>);

impl SourceHandle {
    pub(crate) fn new(source: impl RequestSource) -> Self {
        SourceHandle(Arc::new(source))
    }
}

impl std::fmt::Debug for SourceHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SourceHandle(a Rust request source)")
    }
}

/// The engine's side of a source: what every call gets (the target's
/// headers and address) and the plan's request names.
pub(crate) struct Custom {
    pub source: Arc<dyn DynSource>,
    /// User-Agent, Host, the URL's userinfo and `[target]` headers.
    pub base: HeaderMap,
    /// What goes before a call's path (see `worker::Prepared::prefix`).
    pub prefix: String,
}

impl Custom {
    /// The plan request a call counts as (its `name`, else the one drawn)
    /// and the call as it goes on the wire.
    pub fn resolve(
        &self,
        requests: &[super::worker::Prepared],
        drawn: usize,
        call: &Call,
    ) -> Result<(usize, Request<Body>), Failure> {
        let index = match &call.name {
            None => drawn,
            Some(name) => requests.iter().position(|p| p.name == *name).ok_or_else(|| {
                Failure::new(
                    ErrorKind::Template,
                    format!(
                        "the request source named '{name}', which the plan has no [[request]] for (it has: {})",
                        requests
                            .iter()
                            .map(|p| p.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                )
            })?,
        };
        Ok((index, self.build(call)?))
    }

    /// The call as it goes on the wire.
    pub fn build(&self, call: &Call) -> Result<Request<Body>, Failure> {
        if let Some(why) = &call.invalid {
            return Err(Failure::new(ErrorKind::Template, why.clone()));
        }
        let mut uri = String::with_capacity(self.prefix.len() + call.path.len());
        uri.push_str(&self.prefix);
        uri.push_str(&call.path);
        let uri = Uri::from_maybe_shared(Bytes::from(uri)).map_err(|e| {
            Failure::new(
                ErrorKind::Template,
                format!("the path '{}' is not a URI path: {e}", call.path),
            )
        })?;
        let mut req = Request::new(Body::new(call.body.clone()));
        *req.method_mut() = call.method.clone();
        *req.uri_mut() = uri;
        let headers = req.headers_mut();
        *headers = self.base.clone();
        for (k, v) in &call.headers {
            headers.insert(k.clone(), v.clone());
        }
        Ok(req)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_say_what_they_cannot_carry() {
        let c = Call::get("nope");
        assert_eq!(
            c.invalid.as_deref(),
            Some("the path 'nope' does not start with '/'")
        );
        let c = Call::new("GE T", "/");
        assert_eq!(c.invalid.as_deref(), Some("'GE T' is not an HTTP method"));
        let c = Call::get("/").header("x-a", "1\n2").header("bad name", "v");
        assert_eq!(
            c.invalid.as_deref(),
            Some("header x-a: '1\\n2' is not a valid header value"),
            "the first problem is kept"
        );
        let c = Call::get("/").header("x-a", "1").header("X-A", "2");
        assert_eq!(c.headers.len(), 1, "a header set twice is replaced");
        assert_eq!(c.headers[0].1, "2");
    }

    #[test]
    fn built_calls_carry_the_target_headers_and_replace_them() {
        let mut base = HeaderMap::new();
        base.insert("user-agent", HeaderValue::from_static("rampdeck/x"));
        base.insert("host", HeaderValue::from_static("gw:80"));
        let custom = Custom {
            source: Arc::new(from_fn(|_| Ok(Call::get("/")))),
            base,
            prefix: "/base".into(),
        };
        let req = custom
            .build(
                &Call::post("/login?x=1")
                    .header("host", "tenant-a")
                    .body("hi"),
            )
            .unwrap_or_else(|_| panic!("builds"));
        assert_eq!(req.uri(), "/base/login?x=1");
        assert_eq!(req.method(), Method::POST);
        assert_eq!(req.headers()["host"], "tenant-a");
        assert_eq!(req.headers()["user-agent"], "rampdeck/x");
    }

    #[test]
    fn context_data_follows_the_feeders() {
        let f = crate::template::Feeder::new(
            "users".into(),
            "users.csv".into(),
            vec!["user".into()],
            crate::template::Table::of_rows(1, &[vec!["ann"], vec!["bob"]])
                .unwrap()
                .shared(),
            crate::template::Order::Sequential,
            crate::template::OnEnd::Stop,
            1,
        );
        let feeders = Feeders {
            feeders: vec![f],
            delivery: false,
        };
        let ctx = Context::new(1, 1, 0, "r", &feeders);
        assert_eq!(ctx.data("user"), Ok("bob"));
        assert!(matches!(
            ctx.data("nope"),
            Err(SourceError::UnknownColumn(_))
        ));
        let past = Context::new(1, 2, 0, "r", &feeders);
        assert_eq!(past.data("user"), Err(SourceError::DataEnd));
    }
}
