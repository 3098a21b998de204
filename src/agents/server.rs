//! `rampdeck agent`: serves one coordinator's run at a time over the wire protocol, sends only to allowed targets, stops when its coordinator is gone.
//!
//! The agent binds 127.0.0.1 unless told otherwise, takes a coordinator
//! only with the token (compared in constant time; never logged), refuses a
//! plan whose target is not in `--allow` (an agent must not become an open
//! relay for load against arbitrary hosts) and runs one run at a time. Its
//! engine is the ordinary one with a share of the schedule; what it
//! measures goes back as run.jsonl interval lines.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use super::wire::{self, FromAgent, ToAgent, WireResult};
use super::AgentsError;
use crate::engine::{self, Control, EngineEvent};

/// What `rampdeck agent` was started with.
#[derive(Clone)]
pub struct AgentOptions {
    pub listen: SocketAddr,
    pub token: crate::util::secret::Token,
    /// `host:port` pairs a plan may target (hosts compared case-blind).
    pub allow: Vec<(String, u16)>,
    /// How this agent calls itself to its coordinator.
    pub name: String,
}

/// Parses `--allow`: comma-separated `HOST:PORT` (or `[V6]:PORT`).
pub fn parse_allow(text: &str) -> Result<Vec<(String, u16)>, String> {
    let mut out = Vec::new();
    for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (host, port) = item
            .rsplit_once(':')
            .ok_or_else(|| format!("'{item}' is not HOST:PORT"))?;
        let port: u16 = port
            .parse()
            .ok()
            .filter(|&p| p > 0)
            .ok_or_else(|| format!("'{item}': the port must be 1 to 65535"))?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() {
            return Err(format!("'{item}' has no host"));
        }
        out.push((host.to_ascii_lowercase(), port));
    }
    if out.is_empty() {
        return Err("give at least one HOST:PORT the agent may send load to".into());
    }
    Ok(out)
}

/// Whether a plan's endpoint is one the agent may send to.
fn allowed(allow: &[(String, u16)], host: &str, port: u16) -> bool {
    allow
        .iter()
        .any(|(h, p)| *p == port && h.eq_ignore_ascii_case(host))
}

/// Serves until the process is stopped. Prints its address on stdout first
/// (`rampdeck agent listening on ADDR`) so a launcher that asked for port 0
/// learns the port.
pub async fn serve(opts: AgentOptions) -> Result<(), AgentsError> {
    let listener = TcpListener::bind(opts.listen)
        .await
        .map_err(|source| AgentsError::Listen {
            addr: opts.listen,
            source,
        })?;
    let addr = listener
        .local_addr()
        .map_err(|source| AgentsError::Listen {
            addr: opts.listen,
            source,
        })?;
    println!("rampdeck agent listening on {addr}");
    eprintln!(
        "rampdeck agent '{}': accepting a coordinator with the token; load only to {}",
        opts.name,
        opts.allow
            .iter()
            .map(|(h, p)| format!("{h}:{p}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let busy = Arc::new(AtomicBool::new(false));
    let opts = Arc::new(opts);
    // Connections not yet authenticated: a few at a time, each with a
    // deadline; a new one evicts the oldest, so idle or slow connections
    // can never lock the coordinator out.
    let unauthenticated = Arc::new(tokio::sync::Semaphore::new(MAX_HANDSHAKES));
    let mut waiting: std::collections::VecDeque<(
        Arc<AtomicBool>,
        tokio_util::sync::CancellationToken,
    )> = Default::default();
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                // EMFILE and the like: wait, do not spin.
                eprintln!("agent: accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        waiting.retain(|(done, _)| !done.load(Ordering::Acquire));
        let permit = match unauthenticated.clone().try_acquire_owned() {
            Ok(p) => p,
            Err(_) => {
                if let Some((_, oldest)) = waiting.pop_front() {
                    oldest.cancel();
                }
                match tokio::time::timeout(
                    Duration::from_secs(1),
                    unauthenticated.clone().acquire_owned(),
                )
                .await
                {
                    Ok(Ok(p)) => p,
                    _ => continue,
                }
            }
        };
        let done = Arc::new(AtomicBool::new(false));
        let evict = tokio_util::sync::CancellationToken::new();
        waiting.push_back((done.clone(), evict.clone()));
        let (opts, busy) = (opts.clone(), busy.clone());
        tokio::spawn(async move {
            let pre_auth = PreAuth {
                permit,
                done,
                evict,
            };
            if let Err(e) = session(stream, peer, &opts, &busy, pre_auth).await {
                eprintln!("agent: coordinator {peer}: {e}");
            }
        });
    }
}

fn reject(code: u16, text: &str) -> ErrorResponse {
    let mut r = ErrorResponse::new(Some(text.to_owned()));
    *r.status_mut() = http::StatusCode::from_u16(code).unwrap_or(http::StatusCode::FORBIDDEN);
    r
}

/// Releases the one-run slot however the session ends.
struct Slot<'a>(&'a AtomicBool);

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

pub fn ws_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .max_message_size(Some(wire::MAX_FRAME))
        .max_frame_size(Some(wire::MAX_FRAME))
}

/// A connection's place among those not yet authenticated.
struct PreAuth {
    permit: tokio::sync::OwnedSemaphorePermit,
    done: Arc<AtomicBool>,
    evict: tokio_util::sync::CancellationToken,
}

/// Connections an agent holds before they authenticate.
pub const MAX_HANDSHAKES: usize = 16;
/// How long a connection has to complete its authenticated handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

async fn session(
    stream: TcpStream,
    peer: SocketAddr,
    opts: &AgentOptions,
    busy: &AtomicBool,
    pre_auth: PreAuth,
) -> Result<(), String> {
    let _ = stream.set_nodelay(true);
    let mut claimed = false;
    // The handshake's callback type is tungstenite's; its error is an HTTP response.
    #[allow(clippy::result_large_err)]
    let check = |req: &Request, resp: Response| -> Result<Response, ErrorResponse> {
        if req.uri().path() != wire::PATH {
            return Err(reject(404, "not a rampdeck agent path"));
        }
        let presented = req
            .headers()
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        if !opts.token.matches(presented) {
            return Err(reject(401, "wrong or missing token"));
        }
        if busy.swap(true, Ordering::AcqRel) {
            return Err(reject(
                409,
                "busy: this agent runs another coordinator's run",
            ));
        }
        claimed = true;
        Ok(resp)
    };
    let handshake = tokio::time::timeout(
        HANDSHAKE_TIMEOUT,
        tokio_tungstenite::accept_hdr_async_with_config(stream, check, Some(ws_config())),
    );
    let ws = tokio::select! {
        r = handshake => r.map_err(|_| format!(
            "no authenticated handshake within {}s: closed",
            HANDSHAKE_TIMEOUT.as_secs()
        )),
        _ = pre_auth.evict.cancelled() => Err("closed before it authenticated: newer connections were waiting".to_owned()),
    };
    let _slot = claimed.then(|| Slot(busy));
    pre_auth.done.store(true, Ordering::Release);
    drop(pre_auth.permit);
    let mut ws = ws?.map_err(|e| format!("handshake: {e}"))?;
    eprintln!("agent: coordinator {peer} connected");
    send(
        &mut ws,
        &FromAgent::Hello {
            version: wire::VERSION,
            name: opts.name.clone(),
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
        },
    )
    .await?;
    // Feeders' rows, as `data` frames bring them before the run.
    let mut data: Vec<String> = Vec::new();
    let mut data_bytes = 0usize;
    loop {
        let msg = match tokio::time::timeout(wire::COORDINATOR_SILENCE, next(&mut ws)).await {
            Ok(Some(m)) => m,
            Ok(None) => return Ok(()),
            Err(_) => return Err("silent before the run began".into()),
        };
        match msg {
            ToAgent::Ping { id } => {
                send(
                    &mut ws,
                    &FromAgent::Pong {
                        id,
                        unix_ns: wire::unix_ns(),
                    },
                )
                .await?
            }
            ToAgent::Heartbeat => {}
            ToAgent::Data { feeder, part } => {
                data_bytes += part.len();
                let feeder = feeder as usize;
                // A plan's feeders are few; the cap keeps a coordinator
                // from making this agent hold more than a run could use.
                if data_bytes > wire::MAX_DATA_TEXT || feeder >= 64 {
                    let reason = format!(
                        "more [[data]] than an agent takes (feeder {feeder}, {data_bytes} bytes; at most 64 feeders and {} bytes)",
                        wire::MAX_DATA_TEXT
                    );
                    eprintln!("agent: refused a run from {peer}: {reason}");
                    send(&mut ws, &FromAgent::Refused { reason }).await?;
                    return Ok(());
                }
                if data.len() <= feeder {
                    data.resize(feeder + 1, String::new());
                }
                data[feeder].push_str(&part);
            }
            ToAgent::Run {
                mut plan,
                members,
                position,
                start_unix_ns,
                agent,
            } => {
                let checked = plan
                    .attach(std::mem::take(&mut data))
                    .and_then(|()| plan.plan())
                    .and_then(|p| {
                        let e = plan.endpoint()?;
                        if allowed(&opts.allow, &e.host, e.port) {
                            Ok(p)
                        } else {
                            Err(format!(
                                "target {}:{} is not in this agent's --allow ({})",
                                e.host,
                                e.port,
                                opts.allow
                                    .iter()
                                    .map(|(h, p)| format!("{h}:{p}"))
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            ))
                        }
                    });
                let plan = match checked {
                    Ok(p) => p,
                    Err(reason) => {
                        eprintln!("agent: refused a run from {peer}: {reason}");
                        send(&mut ws, &FromAgent::Refused { reason }).await?;
                        return Ok(());
                    }
                };
                eprintln!(
                    "agent: run '{}' against {} from {peer}: share {}/{}",
                    plan.name,
                    plan.target_display(),
                    position + 1,
                    members
                );
                return run(&mut ws, plan, (members, position), start_unix_ns, agent).await;
            }
            other => return Err(format!("unexpected before a run: {other:?}")),
        }
    }
}

/// The agent's wall-clock time `unix_ns` as an instant of this process.
fn instant_of(unix_ns: u64) -> tokio::time::Instant {
    let now = tokio::time::Instant::now();
    let here = wire::unix_ns();
    if unix_ns >= here {
        now + Duration::from_nanos(unix_ns - here)
    } else {
        now.checked_sub(Duration::from_nanos(here - unix_ns))
            .unwrap_or(now)
    }
}

async fn run(
    ws: &mut WebSocketStream<TcpStream>,
    plan: crate::spec::plan::Plan,
    (members, position): (u32, u32),
    start_unix_ns: u64,
    agent: u32,
) -> Result<(), String> {
    let plan = Arc::new(plan);
    let opts = engine::StartOptions {
        origin: Some(instant_of(start_unix_ns)),
        share: Some(engine::share::Share::new(members, position)),
        agent,
        ..Default::default()
    };
    let mut h = match engine::start_with(plan.clone(), opts).await {
        Ok(h) => h,
        Err(e) => {
            let reason = format!("cannot start: {e}");
            send(
                ws,
                &FromAgent::Refused {
                    reason: reason.clone(),
                },
            )
            .await?;
            return Err(reason);
        }
    };
    send(ws, &FromAgent::Accepted).await?;
    let mut serializer = hdrhistogram::serialization::V2DeflateSerializer::new();
    let mut scratch = Vec::new();
    let mut heartbeat = tokio::time::interval(wire::HEARTBEAT);
    let mut heard = tokio::time::Instant::now();
    let mut coordinator_gone = false;
    loop {
        tokio::select! {
            ev = h.events.recv() => match ev {
                Some(EngineEvent::Interval(s)) => {
                    let line = crate::run::log::interval_line(&s, &mut serializer, &mut scratch);
                    let msg = FromAgent::Interval {
                        line,
                        failures: s.failures.iter().map(Into::into).collect(),
                        last_errors: s.last_errors.clone(),
                    };
                    if !coordinator_gone && send(ws, &msg).await.is_err() {
                        coordinator_gone = stop_now(&h.control, "its socket failed");
                    }
                }
                Some(EngineEvent::Event(event)) => {
                    if !coordinator_gone && send(ws, &FromAgent::Event { event }).await.is_err() {
                        coordinator_gone = stop_now(&h.control, "its socket failed");
                    }
                }
                Some(EngineEvent::Agents(_)) => {}
                None => break,
            },
            msg = next(ws), if !coordinator_gone => match msg {
                Some(m) => {
                    heard = tokio::time::Instant::now();
                    match m {
                        ToAgent::Control { at_s, command } => {
                            let c = command.control();
                            let c = match at_s.and_then(|s| Duration::try_from_secs_f64(s).ok()) {
                                Some(at) => Control::At(at, Box::new(c)),
                                None => c,
                            };
                            let _ = h.control.send(c);
                        }
                        ToAgent::Share { from_s, members, position } => {
                            let from = Duration::try_from_secs_f64(from_s).unwrap_or_default();
                            eprintln!("agent: share now {} of {members} from run clock {from_s:.2}s",
                                position.map_or("none".to_owned(), |p| (p + 1).to_string()));
                            let _ = h.control.send(Control::Share { from, members, position });
                        }
                        ToAgent::Heartbeat | ToAgent::Ping { .. } => {}
                        ToAgent::Run { .. } | ToAgent::Data { .. } => {}
                    }
                }
                None => coordinator_gone = stop_now(&h.control, "it closed the connection"),
            },
            _ = heartbeat.tick() => {
                if !coordinator_gone && heard.elapsed() > wire::COORDINATOR_SILENCE {
                    coordinator_gone = stop_now(&h.control, "it fell silent");
                } else if !coordinator_gone && send(ws, &FromAgent::Heartbeat).await.is_err() {
                    coordinator_gone = stop_now(&h.control, "its socket failed");
                }
            }
        }
    }
    let result = match h.task.await {
        Ok(r) => r,
        Err(e) => return Err(format!("the engine failed: {e}")),
    };
    eprintln!(
        "agent: run over: {} sent{}",
        result.sent,
        if coordinator_gone {
            " (coordinator gone)"
        } else {
            ""
        }
    );
    if coordinator_gone {
        return Ok(());
    }
    let result = WireResult {
        sent: result.sent,
        dropped: result.dropped,
        unfinished: result.unfinished,
        resent: result.resent,
        elapsed_s: result.elapsed.as_secs_f64(),
        measured_s: result.measured.as_secs_f64(),
        paused_s: result.paused.as_secs_f64(),
        generator_limited_s: result.generator_limited.as_secs_f64(),
        generator_limited_cause: result.behind_cause == engine::pace::Lag::GeneratorLimited,
        aborted: result.aborted,
        last_errors: result.last_errors,
    };
    send(ws, &FromAgent::Finished { result }).await?;
    let _ = ws.close(None).await;
    Ok(())
}

/// The coordinator is gone: stop sending at once, abandoning what is in
/// flight (nobody is left to report it to).
fn stop_now(control: &tokio::sync::mpsc::UnboundedSender<Control>, why: &str) -> bool {
    eprintln!("agent: coordinator lost ({why}): stopping the load now");
    let _ = control.send(Control::Stop);
    let _ = control.send(Control::Stop);
    true
}

pub async fn send<S>(ws: &mut WebSocketStream<S>, msg: &impl serde::Serialize) -> Result<(), String>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let text = serde_json::to_string(msg).map_err(|e| e.to_string())?;
    ws.send(Message::text(text))
        .await
        .map_err(|e| e.to_string())
}

/// The next message from the coordinator; None when it closed or broke
/// the protocol (a frame that is not one of ours ends the session).
async fn next(ws: &mut WebSocketStream<TcpStream>) -> Option<ToAgent> {
    loop {
        match ws.next().await? {
            Ok(Message::Text(t)) => match serde_json::from_str(t.as_str()) {
                Ok(m) => return Some(m),
                Err(e) => {
                    eprintln!("agent: not a coordinator message ({e}); closing");
                    return None;
                }
            },
            Ok(Message::Close(_)) | Err(_) => return None,
            Ok(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allow_lists_parse_and_match() {
        let a = parse_allow("gw.example:80, [::1]:8080,127.0.0.1:9").unwrap();
        assert!(allowed(&a, "GW.example", 80));
        assert!(allowed(&a, "::1", 8080));
        assert!(!allowed(&a, "gw.example", 81));
        assert!(!allowed(&a, "evil.example", 80));
        assert!(parse_allow("").is_err());
        assert!(parse_allow("host").is_err());
        assert!(parse_allow("host:0").is_err());
    }
}
