//! What a connections run measures: connect phases, opens, closes by whom and at what age, resets, echo round trips; per interval and in total.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::stats::{new_histogram, FailureAt, Outcome, Percentiles};

/// How a held connection ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ended {
    /// rampdeck closed it: its hold was over, the count went down, or the run ended.
    Closed,
    /// The server closed it (TCP FIN, or a WebSocket close with this code).
    ServerClosed(Option<u16>),
    /// The connection was reset (RST) or broke mid-stream.
    Reset(String),
    /// An echo did not come back in time, or came back wrong: rampdeck
    /// closed the connection, since its bytes can no longer be matched.
    EchoFailed(String),
}

/// The counts and histograms of a span of the run.
struct Measure {
    tcp: Histogram<u64>,
    tls: Histogram<u64>,
    ws: Histogram<u64>,
    rtt: Histogram<u64>,
    /// Connection age when the server closed it, or it was reset.
    server_close_age: Histogram<u64>,
    reset_age: Histogram<u64>,
    /// From a connection's loss (server close, reset) to its replacement established.
    reconnect: Histogram<u64>,
    reconnected: u64,
    opened: u64,
    failed: u64,
    closed: u64,
    server_closed: u64,
    resets: u64,
    messages: u64,
    message_failures: u64,
    /// Failed connects by kind (`connect_refused`, `tls`, `websocket`, ...).
    failures: BTreeMap<&'static str, u64>,
    /// WebSocket close codes the server sent.
    close_codes: BTreeMap<u16, u64>,
    /// The first message of each failure kind (connects, resets, echoes).
    first: BTreeMap<&'static str, String>,
}

impl Measure {
    fn new() -> Self {
        Measure {
            tcp: new_histogram(),
            tls: new_histogram(),
            ws: new_histogram(),
            rtt: new_histogram(),
            server_close_age: new_histogram(),
            reset_age: new_histogram(),
            reconnect: new_histogram(),
            reconnected: 0,
            opened: 0,
            failed: 0,
            closed: 0,
            server_closed: 0,
            resets: 0,
            messages: 0,
            message_failures: 0,
            failures: BTreeMap::new(),
            close_codes: BTreeMap::new(),
            first: BTreeMap::new(),
        }
    }

    fn merge(&mut self, o: &Measure) {
        let _ = self.tcp.add(&o.tcp);
        let _ = self.tls.add(&o.tls);
        let _ = self.ws.add(&o.ws);
        let _ = self.rtt.add(&o.rtt);
        let _ = self.server_close_age.add(&o.server_close_age);
        let _ = self.reset_age.add(&o.reset_age);
        let _ = self.reconnect.add(&o.reconnect);
        self.reconnected += o.reconnected;
        self.opened += o.opened;
        self.failed += o.failed;
        self.closed += o.closed;
        self.server_closed += o.server_closed;
        self.resets += o.resets;
        self.messages += o.messages;
        self.message_failures += o.message_failures;
        for (k, n) in &o.failures {
            *self.failures.entry(k).or_default() += n;
        }
        for (k, n) in &o.close_codes {
            *self.close_codes.entry(*k).or_default() += n;
        }
        for (k, m) in &o.first {
            self.first.entry(k).or_insert_with(|| m.clone());
        }
    }

    fn note(&mut self, kind: &'static str, message: impl FnOnce() -> String) {
        self.first.entry(kind).or_insert_with(message);
    }
}

fn record(h: &mut Histogram<u64>, d: Duration) {
    let v = (d.as_micros().min(u64::MAX as u128) as u64).max(1);
    if h.record(v).is_err() {
        h.saturating_record(v);
    }
}

/// One interval's (or the whole run's) connection numbers.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ConnInterval {
    /// Established at the end of the span, and the most at once in it.
    pub established: u64,
    pub peak: u64,
    pub opened: u64,
    pub failed: u64,
    /// Closed by rampdeck (hold over, count lowered, run ended).
    pub closed: u64,
    /// Closed by the server (FIN or a WebSocket close).
    pub server_closed: u64,
    pub resets: u64,
    /// Lost connections (closed by the server, reset) opened again, and
    /// the gap from the loss to the new one established, ms.
    #[serde(default)]
    pub reconnected: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reconnect_ms: Option<Percentiles>,
    /// Connect phases, ms: TCP, TLS, WebSocket upgrade.
    pub tcp_ms: Percentiles,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_ms: Option<Percentiles>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ws_ms: Option<Percentiles>,
    /// Echo round trips, ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rtt_ms: Option<Percentiles>,
    pub messages: u64,
    pub message_failures: u64,
    /// Age at a server's close and at a reset, ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_close_age_ms: Option<Percentiles>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reset_age_ms: Option<Percentiles>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub failures: BTreeMap<String, u64>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub close_codes: BTreeMap<u16, u64>,
    /// The first message of each kind of failure.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub first: BTreeMap<String, String>,
}

impl ConnInterval {
    fn of(m: &Measure, established: u64, peak: u64) -> Self {
        let some = |h: &Histogram<u64>| (!h.is_empty()).then(|| Percentiles::of(h));
        ConnInterval {
            established,
            peak,
            opened: m.opened,
            failed: m.failed,
            closed: m.closed,
            server_closed: m.server_closed,
            resets: m.resets,
            reconnected: m.reconnected,
            reconnect_ms: some(&m.reconnect),
            tcp_ms: Percentiles::of(&m.tcp),
            tls_ms: some(&m.tls),
            ws_ms: some(&m.ws),
            rtt_ms: some(&m.rtt),
            messages: m.messages,
            message_failures: m.message_failures,
            server_close_age_ms: some(&m.server_close_age),
            reset_age_ms: some(&m.reset_age),
            failures: m
                .failures
                .iter()
                .map(|(k, n)| ((*k).to_owned(), *n))
                .collect(),
            close_codes: m.close_codes.clone(),
            first: m
                .first
                .iter()
                .map(|(k, v)| ((*k).to_owned(), v.clone()))
                .collect(),
        }
    }
}

/// An interval's numbers and the run's so far (after warmup): a run log
/// read back, or a report rebuilt from it, has the totals without the
/// histograms.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ConnReport {
    pub now: ConnInterval,
    pub run: ConnInterval,
}

/// Shared by every connection task; the supervisor drains it per interval.
pub struct ConnStats {
    interval: Mutex<Measure>,
    /// The interval's lost connections (closed by the server, reset), as
    /// failures at their time: route actions charge them like requests.
    losses: Mutex<Vec<FailureAt>>,
    total: Mutex<Measure>,
    established: AtomicU64,
    /// The most established at once since the last drain, and over the run.
    peak: AtomicU64,
    peak_total: AtomicU64,
}

impl Default for ConnStats {
    fn default() -> Self {
        Self::new()
    }
}

impl ConnStats {
    pub fn new() -> Self {
        ConnStats {
            interval: Mutex::new(Measure::new()),
            losses: Mutex::new(Vec::new()),
            total: Mutex::new(Measure::new()),
            established: AtomicU64::new(0),
            peak: AtomicU64::new(0),
            peak_total: AtomicU64::new(0),
        }
    }

    fn with<R>(&self, f: impl FnOnce(&mut Measure) -> R) -> R {
        let mut m = self.interval.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut m)
    }

    pub fn established_now(&self) -> u64 {
        self.established.load(Ordering::Relaxed)
    }

    /// A connection is up: its phases' times.
    pub fn opened(&self, tcp: Duration, tls: Option<Duration>, ws: Option<Duration>) {
        let now = self.established.fetch_add(1, Ordering::Relaxed) + 1;
        self.peak.fetch_max(now, Ordering::Relaxed);
        self.peak_total.fetch_max(now, Ordering::Relaxed);
        self.with(|m| {
            m.opened += 1;
            record(&mut m.tcp, tcp);
            if let Some(t) = tls {
                record(&mut m.tls, t);
            }
            if let Some(w) = ws {
                record(&mut m.ws, w);
            }
        });
    }

    /// A connect (or its TLS, PROXY header or WebSocket upgrade) failed.
    pub fn failed(&self, kind: &'static str, message: String) {
        self.with(|m| {
            m.failed += 1;
            *m.failures.entry(kind).or_default() += 1;
            m.note(kind, || message);
        });
    }

    pub fn echoed(&self, rtt: Duration) {
        self.with(|m| {
            m.messages += 1;
            record(&mut m.rtt, rtt);
        });
    }

    /// A lost connection's replacement is up, `gap` after the loss.
    pub fn reopened(&self, gap: Duration) {
        self.with(|m| {
            m.reconnected += 1;
            record(&mut m.reconnect, gap);
        });
    }

    /// The lost connections since the last call, by when they were lost.
    pub fn take_losses(&self) -> Vec<FailureAt> {
        std::mem::take(&mut *self.losses.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// An established connection ended, `age` after it was opened, at `at`
    /// since the run started (wall time, as failures are).
    pub fn ended(&self, how: &Ended, age: Duration, at: Duration) {
        self.established.fetch_sub(1, Ordering::Relaxed);
        let lost = match how {
            // A close without a WebSocket code is 0 (`routes::drops::outcome_name`).
            Ended::ServerClosed(code) => Some(Outcome::Status(code.unwrap_or(0))),
            Ended::Reset(_) => Some(Outcome::Error(crate::stats::ErrorKind::Reset)),
            Ended::Closed | Ended::EchoFailed(_) => None,
        };
        if let Some(outcome) = lost {
            let mut l = self.losses.lock().unwrap_or_else(|e| e.into_inner());
            if l.len() < crate::stats::measurements::FAILURES_KEPT {
                l.push(FailureAt {
                    sent: at,
                    outcome,
                    request: 0,
                    ended: at,
                });
            }
        }
        self.with(|m| match how {
            Ended::Closed => m.closed += 1,
            Ended::ServerClosed(code) => {
                m.server_closed += 1;
                record(&mut m.server_close_age, age);
                if let Some(c) = code {
                    *m.close_codes.entry(*c).or_default() += 1;
                }
                let age = format!("{:.2}s", age.as_secs_f64());
                m.note("server_closed", || match code {
                    Some(c) => format!(
                        "the server closed a connection with WebSocket code {c} at age {age}"
                    ),
                    None => format!("the server closed a connection (FIN) at age {age}"),
                });
            }
            Ended::Reset(why) => {
                m.resets += 1;
                record(&mut m.reset_age, age);
                let age = format!("{:.2}s", age.as_secs_f64());
                m.note("reset", || format!("{why} at age {age}"));
            }
            Ended::EchoFailed(why) => {
                m.message_failures += 1;
                m.closed += 1;
                m.note("echo", || why.clone());
            }
        });
    }

    /// The interval so far (folded into the run's totals unless it is
    /// warmup), and the run's totals after it.
    pub fn interval(&self, warmup: bool) -> ConnReport {
        let now = self.drain(warmup);
        ConnReport {
            now,
            run: self.totals(),
        }
    }

    fn drain(&self, warmup: bool) -> ConnInterval {
        let m = {
            let mut cur = self.interval.lock().unwrap_or_else(|e| e.into_inner());
            std::mem::replace(&mut *cur, Measure::new())
        };
        if !warmup {
            self.total
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .merge(&m);
        }
        let established = self.established_now();
        let peak = self
            .peak
            .swap(established, Ordering::Relaxed)
            .max(established);
        ConnInterval::of(&m, established, peak)
    }

    /// Everything after warmup, with the run's peak.
    pub fn totals(&self) -> ConnInterval {
        let t = self.total.lock().unwrap_or_else(|e| e.into_inner());
        ConnInterval::of(
            &t,
            self.established_now(),
            self.peak_total.load(Ordering::Relaxed),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ends_are_charged_to_their_cause_and_totals_skip_warmup() {
        let s = ConnStats::new();
        let ms = Duration::from_millis;
        s.opened(ms(1), Some(ms(3)), None);
        s.opened(ms(2), Some(ms(4)), None);
        let warm = s.interval(true);
        assert_eq!(
            (warm.now.opened, warm.now.established, warm.now.peak),
            (2, 2, 2)
        );
        // Warmup is not in the totals, but what it opened is still held.
        assert_eq!(warm.run.opened, 0);
        s.opened(ms(1), Some(ms(3)), None);
        s.echoed(ms(5));
        s.ended(
            &Ended::Reset("the connection broke".into()),
            Duration::from_secs(2),
            ms(2_500),
        );
        s.ended(
            &Ended::ServerClosed(Some(4001)),
            Duration::from_secs(1),
            ms(2_600),
        );
        s.ended(&Ended::EchoFailed("no echo".into()), ms(10), ms(2_700));
        s.reopened(ms(300));
        // The server's close and the reset are lost connections; an echo failure is rampdeck's close.
        let lost: Vec<_> = s
            .take_losses()
            .iter()
            .map(|f| (f.sent, f.outcome))
            .collect();
        assert_eq!(
            lost,
            [
                (ms(2_500), Outcome::Error(crate::stats::ErrorKind::Reset)),
                (ms(2_600), Outcome::Status(4001))
            ]
        );
        assert!(s.take_losses().is_empty());
        s.failed("connect_refused", "connect to 127.0.0.1:9: refused".into());
        let r = s.interval(false);
        assert_eq!(r.now.established, 0);
        assert_eq!(r.now.peak, 3);
        assert_eq!(
            (
                r.run.opened,
                r.run.failed,
                r.run.resets,
                r.run.server_closed
            ),
            (1, 1, 1, 1)
        );
        // An echo failure closes its connection from rampdeck's side.
        assert_eq!(
            (r.run.closed, r.run.message_failures, r.run.messages),
            (1, 1, 1)
        );
        assert_eq!(r.run.close_codes.get(&4001), Some(&1));
        assert_eq!(r.run.reconnected, 1);
        assert!((299.0..301.0).contains(&r.run.reconnect_ms.unwrap().p50));
        assert_eq!(r.run.failures.get("connect_refused"), Some(&1));
        let age = r.run.reset_age_ms.unwrap();
        assert!((1990.0..2010.0).contains(&age.p50), "{age:?}");
        assert!(r.run.first["reset"].contains("at age 2.00s"));
        assert_eq!(r.run.tls_ms.unwrap().count, 1);
        assert!(r.run.ws_ms.is_none());
        // The next interval starts empty; the totals keep everything.
        let next = s.interval(false);
        assert_eq!(next.now.opened, 0);
        assert_eq!(next.run.resets, 1);
        assert_eq!(s.totals().peak, 3);
    }
}
