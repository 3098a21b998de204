//! Engine accuracy against servers with known behaviour: rates, concurrency, control, stages,
//! coordinated omission and error classes. Measurements and percentiles are asserted, never speed.

mod support;

use std::time::Duration;

use rampdeck::engine::event::EventKind;
use rampdeck::engine::{self, Control, EngineEvent};
use rampdeck::stats::summary::RunState;
use rampdeck::stats::{ErrorKind, IntervalStats, Percentiles};
use support::*;

fn intervals(events: &[EngineEvent]) -> Vec<IntervalStats> {
    events
        .iter()
        .filter_map(|e| match e {
            EngineEvent::Interval(s) => Some(s.interval.clone()),
            EngineEvent::Event(_) | EngineEvent::Agents(_) => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_loop_rate_is_within_one_percent() {
    let _serial = SERIAL.lock().await;
    let server = demo(vec![route("/")]).await;
    let plan = plan(
        server.addrs.gateway,
        "[load]\nrate = 2000\nduration = \"5s\"\nmax_connections = 50\n",
    );
    let (result, _) = engine::run_to_end(plan).await.unwrap();
    let rate = result.sent as f64 / 5.0;
    assert!(
        (rate - 2000.0).abs() <= 20.0,
        "sent {} in 5 s = {rate}/s",
        result.sent
    );
    assert!(
        (result.rps() - 2000.0).abs() <= 20.0,
        "completed rate {}",
        result.rps()
    );
    assert_eq!(result.totals.finished, result.totals.ok);
    assert_eq!((result.dropped, result.unfinished), (0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_loop_holds_the_asked_concurrency() {
    let _serial = SERIAL.lock().await;
    let server = demo(vec![fixed("/", 20)]).await;
    let plan = plan(
        server.addrs.gateway,
        "[load]\nconcurrency = 8\nduration = \"2s\"\n",
    );
    let (result, events) = engine::run_to_end(plan).await.unwrap();
    let ivs = intervals(&events);
    // Between responses a worker has nothing in flight for a moment; with a
    // 20 ms server all 8 are busy nearly all the time, never more.
    let running: Vec<_> = ivs
        .iter()
        .filter(|i| i.state == RunState::Running && i.index > 0)
        .collect();
    assert!(
        running.iter().all(|i| i.in_flight <= 8),
        "{:?}",
        running.iter().map(|i| i.in_flight).collect::<Vec<_>>()
    );
    assert!(running.iter().filter(|i| i.in_flight >= 7).count() * 10 >= running.len() * 8);
    // 8 workers x (1 / ~21 ms) each: about 380 req/s.
    let rps = result.rps();
    assert!((300.0..=400.0).contains(&rps), "{rps}");
}

/// A plan run against the in-process target on paused tokio time.
async fn run_virtual(
    body: &str,
    behaviour: engine::memory::Behaviour,
    controls: Vec<(Duration, Control)>,
) -> (
    engine::RunResult,
    Vec<EngineEvent>,
    Vec<tokio::time::Instant>,
    tokio::time::Instant,
) {
    run_virtual_cpu(body, behaviour, controls, None).await
}

/// `run_virtual`, with rampdeck's CPU read as `cpu` says.
async fn run_virtual_cpu(
    body: &str,
    behaviour: engine::memory::Behaviour,
    controls: Vec<(Duration, Control)>,
    cpu: Option<engine::cpu::CpuMeter>,
) -> (
    engine::RunResult,
    Vec<EngineEvent>,
    Vec<tokio::time::Instant>,
    tokio::time::Instant,
) {
    let plan = plan("127.0.0.1:9".parse().unwrap(), body);
    let target = engine::memory::MemoryTarget::new(behaviour);
    let received = target.received.clone();
    let origin = tokio::time::Instant::now();
    let mut h = engine::start_with(
        plan,
        engine::StartOptions {
            memory: Some(target),
            cpu,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let control = h.control.clone();
    tokio::spawn(async move {
        for (at, c) in controls {
            tokio::time::sleep_until(origin + at).await;
            let _ = control.send(c);
        }
    });
    let mut events = Vec::new();
    while let Some(e) = h.events.recv().await {
        events.push(e);
    }
    let result = h.task.await.unwrap();
    (result, events, received.times(), origin)
}

#[tokio::test(start_paused = true)]
async fn pause_with_a_backlog_sends_nothing_and_is_charged_to_no_request() {
    // 200/s asked of 10 connections to a 200 ms server (50/s): a backlog
    // grows from the start. Paused at 1 s for 4 s.
    let (result, events, received, origin) = run_virtual(
        "[load]\nrate = 200\nduration = \"3s\"\nmax_connections = 10\n",
        engine::memory::Behaviour {
            status: 200,
            delay: Duration::from_millis(200),
        },
        vec![
            (Duration::from_secs(1), Control::Pause),
            (Duration::from_secs(5), Control::Resume),
        ],
    )
    .await;
    // Nothing reached the server while paused (those in flight at the
    // pause had arrived before it).
    let during: Vec<_> = received
        .iter()
        .map(|t| *t - origin)
        .filter(|t| *t > Duration::from_millis(1001) && *t < Duration::from_secs(5))
        .collect();
    assert!(during.is_empty(), "sent while paused: {during:?}");
    assert_eq!(result.paused, Duration::from_secs(4));
    assert_eq!(result.measured, Duration::from_secs(3));
    // 3 s of run clock at 50/s.
    assert!((145..=160).contains(&result.sent), "sent {}", result.sent);
    // The backlog's corrected latency is what it waited while the run
    // clock ran: under 3 s, never the 4 s pause on top.
    let p = Percentiles::of(&result.totals.latency);
    assert!(
        p.max > 1500.0 && p.max < 3000.0,
        "corrected max {} ms",
        p.max
    );
    // No interval is published while the clock stands still, and the
    // intervals lie on the run-clock grid.
    let ivs = intervals(&events);
    for (n, i) in ivs.iter().enumerate().take(12) {
        assert_eq!(i.index, n as u64);
        assert_eq!(
            i.run_clock,
            Duration::from_millis(250) * (n as u32 + 1),
            "{n}"
        );
    }
    assert!(ivs.iter().all(|i| i.state != RunState::Paused));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_rate_takes_effect_within_250ms() {
    let _serial = SERIAL.lock().await;
    let server = demo(vec![route("/")]).await;
    let plan = plan(
        server.addrs.gateway,
        "[load]\nrate = 200\nduration = \"3s\"\ninterval = \"100ms\"\n",
    );
    let mut h = engine::start(plan).await.unwrap();
    let control = h.control.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(1000)).await;
        let _ = control.send(Control::SetRate(1000.0));
    });
    let mut events = Vec::new();
    while let Some(e) = h.events.recv().await {
        events.push(e);
    }
    h.task.await.unwrap();
    let change = events
        .iter()
        .find_map(|e| match e {
            EngineEvent::Event(ev) if matches!(ev.kind, EventKind::LevelSet { .. }) => Some(ev.at),
            _ => None,
        })
        .expect("a LevelSet event");
    let ivs = intervals(&events);
    // Every full interval that starts 250 ms after the change runs at the new rate.
    let after: Vec<_> = ivs
        .iter()
        .filter(|i| {
            i.elapsed - i.len >= change + Duration::from_millis(250)
                && i.state == RunState::Running
                && i.run_clock < Duration::from_millis(2900)
        })
        .collect();
    assert!(
        after.len() >= 10,
        "{} intervals after the change",
        after.len()
    );
    for i in after {
        assert!(
            (i.sent_rate() - 1000.0).abs() <= 150.0,
            "interval {} sent {}/s",
            i.index,
            i.sent_rate()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stages_ramp_as_written() {
    let _serial = SERIAL.lock().await;
    let server = demo(vec![route("/")]).await;
    let plan = plan(
        server.addrs.gateway,
        "[load]\n[[load.stages]]\nkind = \"ramp\"\nfrom = 0\nto = 1000\nduration = \"4s\"\n[[load.stages]]\nkind = \"hold\"\nduration = \"1s\"\n",
    );
    let (result, events) = engine::run_to_end(plan).await.unwrap();
    // The ramp sends 0.5 * 4 s * 1000/s = 2000, the hold 1000.
    assert!(
        (result.sent as f64 - 3000.0).abs() <= 30.0,
        "sent {}",
        result.sent
    );
    // Per second of the ramp: 125, 375, 625, 875.
    let ivs = intervals(&events);
    for (second, want) in [(0u64, 125.0), (1, 375.0), (2, 625.0), (3, 875.0)] {
        let sent: u64 = ivs
            .iter()
            .filter(|i| {
                let mid = i.run_clock.saturating_sub(i.len / 2);
                mid >= Duration::from_secs(second) && mid < Duration::from_secs(second + 1)
            })
            .map(|i| i.sent)
            .sum();
        assert!(
            (sent as f64 - want).abs() <= want * 0.1 + 5.0,
            "second {second}: sent {sent}, want {want}"
        );
    }
    let stages: Vec<usize> = events
        .iter()
        .filter_map(|e| match e {
            EngineEvent::Event(ev) => match ev.kind {
                EventKind::Stage { index } => Some(index),
                _ => None,
            },
            _ => None,
        })
        .collect();
    assert_eq!(stages, vec![0, 1]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stall_shows_in_corrected_latency_not_in_service_time() {
    let _serial = SERIAL.lock().await;
    // One 1 s stall, 3 s into a 5 s run at 500/s over 10 connections.
    let server = demo(vec![stalling(
        "/",
        Duration::from_secs(3),
        Duration::from_secs(1),
    )])
    .await;
    let plan = plan(
        server.addrs.gateway,
        "[load]\nrate = 500\nduration = \"5s\"\nmax_connections = 10\n",
    );
    let (result, _) = engine::run_to_end(plan).await.unwrap();
    let corrected = Percentiles::of(&result.totals.latency);
    let service = Percentiles::of(&result.totals.service);
    assert!(corrected.p99 >= 400.0, "corrected p99 {} ms", corrected.p99);
    assert!(service.p99 < 50.0, "service-time p99 {} ms", service.p99);
    assert!(
        corrected.max >= 900.0 && service.max >= 900.0,
        "the stalled requests themselves took ~1 s"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduler_jitter_does_not_pass_for_latency() {
    let _serial = SERIAL.lock().await;
    let server = demo(vec![fixed("/", 2)]).await;
    let plan = plan(
        server.addrs.gateway,
        "[load]\nrate = 300\nduration = \"3s\"\n",
    );
    let (result, _) = engine::run_to_end(plan).await.unwrap();
    let corrected = Percentiles::of(&result.totals.latency);
    let service = Percentiles::of(&result.totals.service);
    let gap = corrected.p50 - service.p50;
    assert!(
        (0.0..0.4).contains(&gap),
        "corrected p50 {} ms vs service p50 {} ms",
        corrected.p50,
        service.p50
    );
}

async fn errors_of(
    body: &str,
    addr: std::net::SocketAddr,
) -> (rampdeck::engine::RunResult, Vec<EngineEvent>) {
    let plan = plan(addr, body);
    tokio::time::timeout(Duration::from_secs(20), engine::run_to_end(plan))
        .await
        .expect("the run finishes")
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_port_counts_connect_refused() {
    let _serial = SERIAL.lock().await;
    let (r, events) = errors_of(
        "[load]\nrate = 100\nduration = \"1s\"\n",
        closed_port().await,
    )
    .await;
    assert!(r.totals.finished >= 95, "{}", r.totals.finished);
    assert_eq!(
        r.totals.errors[ErrorKind::ConnectRefused.index()],
        r.totals.finished
    );
    let first = events.iter().any(|e| matches!(e, EngineEvent::Event(ev) if ev.kind == EventKind::FirstError { kind: ErrorKind::ConnectRefused } && ev.message.contains("refused")));
    assert!(first, "the first refusal is logged with its message");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resetting_server_counts_resets() {
    let _serial = SERIAL.lock().await;
    let (r, _) = errors_of(
        "[load]\nrate = 100\nduration = \"1s\"\n",
        resetting_server().await,
    )
    .await;
    assert!(r.totals.finished >= 95, "{}", r.totals.finished);
    assert_eq!(
        r.totals.errors[ErrorKind::Reset.index()],
        r.totals.finished,
        "{:?}",
        r.totals.error_list()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_server_counts_timeouts() {
    let _serial = SERIAL.lock().await;
    let server = demo(vec![fixed("/", 400)]).await;
    let (r, _) = errors_of(
        "timeout = \"100ms\"\n[load]\nrate = 50\nduration = \"1s\"\n",
        server.addrs.gateway,
    )
    .await;
    assert!(r.totals.finished >= 45, "{}", r.totals.finished);
    assert_eq!(
        r.totals.errors[ErrorKind::Timeout.index()],
        r.totals.finished
    );
    // A timed-out request took the timeout, not the server's 400 ms; it is
    // in the errors' histogram, never in the successes'.
    assert!(r.totals.latency.is_empty());
    let p = Percentiles::of(&r.totals.error_latency);
    assert!(p.max < 200.0 && p.p50 >= 100.0, "{p:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_503_route_counts_http_503() {
    let _serial = SERIAL.lock().await;
    let server = demo(vec![failing("/", 503)]).await;
    let (r, _) = errors_of(
        "[load]\nrate = 100\nduration = \"1s\"\n",
        server.addrs.gateway,
    )
    .await;
    assert!(r.totals.finished >= 95);
    assert_eq!(r.totals.status_list(), vec![(503, r.totals.finished)]);
    assert_eq!((r.totals.ok, r.totals.success_rate()), (0, Some(0.0)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_multiplexes_and_counts_like_http1() {
    let _serial = SERIAL.lock().await;
    let server = demo(vec![fixed("/", 5)]).await;
    let (r, _) = errors_of(
        "http2 = true\n[load]\nrate = 500\nduration = \"1s\"\n",
        server.addrs.gateway,
    )
    .await;
    assert!((r.sent as f64 - 500.0).abs() <= 5.0, "{}", r.sent);
    assert_eq!(
        r.totals.ok,
        r.totals.finished,
        "{:?}",
        r.totals.error_list()
    );
}

/// A server that answers one request per connection, keeps it alive, and
/// closes it after 20 ms idle (as a gateway does on a config reload).
async fn idle_closing_server() -> std::net::SocketAddr {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let mut got = Vec::new();
                while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => got.extend_from_slice(&buf[..n]),
                    }
                }
                let _ = s
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                    .await;
                tokio::time::sleep(Duration::from_millis(20)).await;
                // Dropping the socket closes it: a clean FIN on an idle connection.
            });
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_closed_by_the_server_lose_no_requests() {
    let _serial = SERIAL.lock().await;
    let addr = idle_closing_server().await;
    // 5 connections at 50/s: each sits idle ~100 ms between requests, so
    // nearly every request finds its connection closed by the server.
    let plan = plan(
        addr,
        "timeout = \"1s\"\n[load]\nrate = 50\nduration = \"2s\"\nmax_connections = 5\n",
    );
    let (result, _) = engine::run_to_end(plan).await.unwrap();
    let t = &result.totals;
    assert_eq!(t.finished, 100);
    assert_eq!(
        t.ok, 100,
        "a request on a connection the server had closed must go out on a new one, not hang: errors {:?}",
        t.error_list()
    );
}

/// A server that answers the first request on each connection and, when a
/// second arrives on it, reads it and closes without answering: the race of
/// a request sent just as the server closes an idle keep-alive connection.
/// With `reset`, it drops the connection with RST (linger 0) instead of FIN.
async fn closes_on_second_request_server(reset: bool) -> std::net::SocketAddr {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                for answered in [true, false] {
                    let mut got = Vec::new();
                    while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                        match s.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => got.extend_from_slice(&buf[..n]),
                        }
                    }
                    if answered {
                        let _ = s
                            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                            .await;
                    }
                }
                // Dropped unanswered: FIN (or RST) with no response bytes.
                if reset {
                    // Deprecated because a non-zero linger blocks the
                    // dropping thread; zero linger resets at once.
                    #[allow(deprecated)]
                    let _ = s.set_linger(Some(Duration::ZERO));
                }
            });
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unanswered_request_on_a_reused_connection_is_retried_only_if_idempotent() {
    let _serial = SERIAL.lock().await;
    let addr = closes_on_second_request_server(false).await;
    let load = "[load]\nrate = 50\nduration = \"1s\"\nmax_connections = 2\n";
    let get = plan(addr, &format!("timeout = \"1s\"\n{load}"));
    let (result, _) = engine::run_to_end(get).await.unwrap();
    assert_eq!(
        (result.totals.finished, result.totals.ok),
        (50, 50),
        "a GET the server closed on unanswered goes again on a new connection: {:?}",
        result.totals.error_list()
    );
    let post = plan(
        addr,
        &format!(
            "timeout = \"1s\"\n[[request]]\nmethod = \"POST\"\npath = \"/\"\nbody = \"x\"\n{load}"
        ),
    );
    let (result, _) = engine::run_to_end(post).await.unwrap();
    let t = &result.totals;
    // A POST may have been acted on: it is never sent twice, so it fails.
    assert_eq!(t.finished, 50);
    assert!(t.failed() >= 20, "ok {} of {}", t.ok, t.finished);
    assert_eq!(t.failed(), t.errors.iter().sum::<u64>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reset_before_any_answer_on_a_reused_connection_is_retried_for_a_get() {
    let _serial = SERIAL.lock().await;
    let addr = closes_on_second_request_server(true).await;
    let get = plan(
        addr,
        "timeout = \"1s\"\n[load]\nrate = 50\nduration = \"1s\"\nmax_connections = 2\n",
    );
    let (result, _) = engine::run_to_end(get).await.unwrap();
    assert_eq!(
        (result.totals.finished, result.totals.ok),
        (50, 50),
        "{:?}",
        result.totals.error_list()
    );
}

#[tokio::test(start_paused = true)]
async fn the_achieved_rate_is_sent_per_measured_second_live_and_at_the_end() {
    // 100/s for 2 s against a 1.5 s server: half the completions come in
    // the drain, after sending stopped. Dividing completions by 2 s would
    // still come to 100/s here, so the window also starts after a warmup.
    let (result, events, _, _) = run_virtual(
        "[load]\nrate = 100\nduration = \"3s\"\nwarmup = \"1s\"\nmax_connections = 300\n",
        engine::memory::Behaviour {
            status: 200,
            delay: Duration::from_millis(1500),
        },
        vec![],
    )
    .await;
    assert_eq!(result.measured, Duration::from_secs(2));
    // (A slot due exactly on the warmup boundary may count on either side.)
    assert!(
        (199..=200).contains(&result.sent_measured),
        "{}",
        result.sent_measured
    );
    assert!((result.rps() - 100.0).abs() <= 0.5, "{}", result.rps());
    // Completed after warmup includes the drain: more than sent in the window.
    assert!(result.totals.finished > 200, "{}", result.totals.finished);
    // The live figure, from the intervals as a console or threshold sees
    // them, is the same number.
    let mut model = rampdeck::run::RunModel::default();
    for e in events {
        model.apply(e);
    }
    let live = rampdeck::report::thresholds::Facts::live(&model, true);
    assert!(
        (live.rps - result.rps()).abs() < 1e-9,
        "live {} final {}",
        live.rps,
        result.rps()
    );
    assert_eq!(model.totals.requests, result.totals.finished);
}

/// The pace events a run made, by type.
fn pace_events(events: &[EngineEvent]) -> Vec<(String, String)> {
    events
        .iter()
        .filter_map(|e| match e {
            EngineEvent::Event(ev) => Some(ev),
            _ => None,
        })
        .filter(|e| {
            matches!(
                e.kind,
                EventKind::GeneratorLimited | EventKind::ConnectionsBusy | EventKind::KeepingUp
            )
        })
        .map(|e| (e.kind.label(), e.message.clone()))
        .collect()
}

#[tokio::test(start_paused = true)]
async fn falling_behind_with_cpu_saturated_is_the_generators_limit() {
    // 400/s asked of 4 connections to a 50 ms server (80/s), with
    // rampdeck's CPU read as saturated: the generator is to blame.
    let body = "[load]\nrate = 400\nduration = \"3s\"\nmax_connections = 4\n";
    let slow = engine::memory::Behaviour {
        status: 200,
        delay: Duration::from_millis(50),
    };
    let (result, events, _, _) = run_virtual_cpu(
        body,
        slow,
        Vec::new(),
        Some(engine::cpu::CpuMeter::fixed(2.0, 2)),
    )
    .await;
    let pace = pace_events(&events);
    assert_eq!(pace.len(), 1, "{pace:?}");
    assert_eq!(pace[0].0, "generator-limited");
    assert!(
        pace[0]
            .1
            .starts_with("generator-limited: rampdeck at 100% CPU (2 cores), sending "),
        "{pace:?}"
    );
    assert!(
        result.generator_limited >= Duration::from_secs(2),
        "{:?}",
        result.generator_limited
    );
    assert_eq!(result.behind_cause, engine::pace::Lag::GeneratorLimited);
    let limited: Vec<bool> = events
        .iter()
        .filter_map(|e| match e {
            EngineEvent::Interval(s) => Some(s.interval.generator_limited),
            _ => None,
        })
        .collect();
    assert!(limited.iter().filter(|&&l| l).count() >= 2, "{limited:?}");

    // The same backlog with CPU to spare: every connection was waiting on the target.
    let (result, events, _, _) = run_virtual_cpu(
        body,
        slow,
        Vec::new(),
        Some(engine::cpu::CpuMeter::fixed(0.3, 2)),
    )
    .await;
    let pace = pace_events(&events);
    assert_eq!(pace.len(), 1, "{pace:?}");
    assert_eq!(pace[0].0, "conns busy");
    assert!(
        pace[0]
            .1
            .starts_with("all 4 connections busy waiting on the target"),
        "{pace:?}"
    );
    assert_eq!(result.generator_limited, Duration::ZERO);
    assert_eq!(result.behind_cause, engine::pace::Lag::ConnectionsBusy);
    // 3 s at 80/s leaves about 960 of the 1,200 scheduled unsent at the end.
    assert!((850..=1000).contains(&result.dropped), "{}", result.dropped);
}
