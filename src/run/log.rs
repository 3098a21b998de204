//! The run log: `run.jsonl` written as the run goes (a crash loses at most the last second)
//! and `latency.hlog` in HdrHistogram's interval log format; and reading a log back.
//!
//! `run.jsonl` is one JSON object per line, each with a `type`: a `header`
//! (schema, version, environment, plan), then `interval` lines (with the
//! interval's corrected-latency and service-time histograms, base64 of
//! HdrHistogram's V2 deflate encoding, values in microseconds), `probe` and
//! `event` lines as they happen, and a final `summary` line.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use base64::Engine as _;
use hdrhistogram::serialization::interval_log::{IntervalLogWriterBuilder, Tag};
use hdrhistogram::serialization::{Deserializer, Serializer, V2DeflateSerializer};
use hdrhistogram::Histogram;
use serde_json::{json, Value};

use super::env::Environment;
use crate::engine::event::Event;
use crate::engine::Snapshot;
use crate::probes::{ProbeEvent, RunOutcome};
use crate::spec::plan::Plan;

pub const SCHEMA: u64 = 1;
pub const RUN_LOG: &str = "run.jsonl";
pub const HLOG: &str = "latency.hlog";

#[derive(Debug, thiserror::Error)]
pub enum RunLogError {
    #[error("cannot write the run log '{path}': {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot read the run log '{path}': {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}:{line}: not a run log line: {message}")]
    Corrupt {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("{path}: written by a newer rampdeck (schema {found}; this one reads up to {SCHEMA}); use a newer rampdeck to read it")]
    NewerSchema { path: PathBuf, found: u64 },
    #[error("{path}: has no header line; it is not a rampdeck run log")]
    NoHeader { path: PathBuf },
}

pub struct RunLog {
    path: PathBuf,
    out: BufWriter<File>,
    hlog_path: PathBuf,
    hlog: BufWriter<File>,
    serializer: V2DeflateSerializer,
    scratch: Vec<u8>,
    last_flush: Instant,
}

/// Flushed at least this often, so a killed run loses at most this much.
const FLUSH_EVERY: Duration = Duration::from_secs(1);

impl RunLog {
    pub fn create(
        dir: &Path,
        plan: &Plan,
        env: &Environment,
        started_at: SystemTime,
    ) -> Result<Self, RunLogError> {
        let path = dir.join(RUN_LOG);
        let hlog_path = dir.join(HLOG);
        let open = |p: &Path| {
            std::fs::create_dir_all(dir)
                .and_then(|_| File::create(p))
                .map(BufWriter::new)
                .map_err(|source| RunLogError::Write {
                    path: p.to_owned(),
                    source,
                })
        };
        let mut log = RunLog {
            out: open(&path)?,
            hlog: open(&hlog_path)?,
            path,
            hlog_path,
            serializer: V2DeflateSerializer::new(),
            scratch: Vec::new(),
            last_flush: Instant::now(),
        };
        let header = json!({
            "type": "header",
            "schema": SCHEMA,
            "rampdeck": env!("CARGO_PKG_VERSION"),
            "environment": env,
            "plan": {
                "name": plan.name,
                "target": plan.target_display(),
                "mode": match plan.load.mode { crate::spec::plan::Mode::Open => "open", crate::spec::plan::Mode::Closed => "closed" },
                "warmup_s": plan.load.warmup.as_secs_f64(),
                "interval_s": plan.load.interval.as_secs_f64(),
                "stages": plan.load.stages.iter().map(|s| json!({
                    "kind": match s.kind { crate::spec::plan::StageKind::Ramp => "ramp", crate::spec::plan::StageKind::Hold => "hold" },
                    "from": s.from, "to": s.to, "duration_s": s.duration.as_secs_f64(),
                    "name": s.name,
                })).collect::<Vec<_>>(),
            },
        });
        log.line(&header)?;
        // The hlog header, as HdrHistogram's Java tools write it.
        let mut head = Vec::new();
        IntervalLogWriterBuilder::new()
            .add_comment(&format!("rampdeck {} run of '{}': latency in microseconds", env!("CARGO_PKG_VERSION"), plan.name))
            .add_comment("tag 'corrected' is latency from the intended send time, 'service' from the actual send")
            .with_start_time(started_at)
            .with_base_time(started_at)
            .with_max_value_divisor(1000.0)
            .begin_log_with(&mut head, &mut log.serializer)
            .map_err(|source| RunLogError::Write { path: log.hlog_path.clone(), source })?;
        head.extend_from_slice(b"\"StartTimestamp\",\"Interval_Length\",\"Interval_Max\",\"Interval_Compressed_Histogram\"\n");
        log.hlog
            .write_all(&head)
            .map_err(|source| RunLogError::Write {
                path: log.hlog_path.clone(),
                source,
            })?;
        log.flush()?;
        Ok(log)
    }

    fn line(&mut self, v: &Value) -> Result<(), RunLogError> {
        serde_json::to_writer(&mut self.out, v)
            .map_err(std::io::Error::other)
            .and_then(|_| self.out.write_all(b"\n"))
            .map_err(|source| RunLogError::Write {
                path: self.path.clone(),
                source,
            })?;
        if self.last_flush.elapsed() >= FLUSH_EVERY {
            self.flush()?;
        }
        Ok(())
    }

    pub fn flush(&mut self) -> Result<(), RunLogError> {
        self.last_flush = Instant::now();
        self.out.flush().map_err(|source| RunLogError::Write {
            path: self.path.clone(),
            source,
        })?;
        self.hlog.flush().map_err(|source| RunLogError::Write {
            path: self.hlog_path.clone(),
            source,
        })
    }

    pub fn interval(&mut self, s: &Snapshot) -> Result<(), RunLogError> {
        let v = interval_line(s, &mut self.serializer, &mut self.scratch);
        let h = &s.histograms;
        {
            let start = s.interval.run_clock.saturating_sub(s.interval.len);
            let mut buf = Vec::new();
            for (hist, tag) in [
                (&h.latency, "corrected"),
                (&h.service, "service"),
                (&h.failed, "failed"),
                (&h.errored, "errored"),
            ] {
                if hist.is_empty() {
                    continue;
                }
                let mut w = IntervalLogWriterBuilder::new()
                    .with_max_value_divisor(1000.0)
                    .begin_log_with(&mut buf, &mut self.serializer)
                    .map_err(|source| RunLogError::Write {
                        path: self.hlog_path.clone(),
                        source,
                    })?;
                w.write_histogram(hist, start, s.interval.len, Tag::new(tag))
                    .map_err(|e| RunLogError::Write {
                        path: self.hlog_path.clone(),
                        source: std::io::Error::other(format!("{e:?}")),
                    })?;
            }
            self.hlog
                .write_all(&buf)
                .map_err(|source| RunLogError::Write {
                    path: self.hlog_path.clone(),
                    source,
                })?;
        }
        self.line(&v)
    }

    pub fn event(&mut self, e: &Event) -> Result<(), RunLogError> {
        let mut v = serde_json::to_value(e).unwrap_or(Value::Null);
        if let Value::Object(map) = &mut v {
            // The event's own `type` (paused, stage, ...) moves to `event`.
            let kind = map.remove("type").unwrap_or(Value::Null);
            map.insert("event".into(), kind);
            map.insert("type".into(), json!("event"));
        }
        self.line(&v)
    }

    pub fn probe(&mut self, e: &ProbeEvent) -> Result<(), RunLogError> {
        let v = match e {
            ProbeEvent::Resource {
                component,
                at,
                cpu_cores,
                memory_bytes,
                took,
                note,
            } => json!({
                "type": "resource", "component": component, "at_s": at.as_secs_f64(),
                "cpu_cores": cpu_cores, "memory_bytes": memory_bytes, "took_ms": took.as_secs_f64() * 1000.0, "note": note,
            }),
            ProbeEvent::Run {
                name,
                kind,
                at,
                took,
                outcome,
                output,
            } => json!({
                "type": "probe_run", "name": name, "kind": kind, "at_s": at.as_secs_f64(),
                "took_ms": took.as_secs_f64() * 1000.0,
                "result": match outcome { RunOutcome::Ok => "ok", RunOutcome::Failed(_) => "failed", RunOutcome::TimedOut => "timeout" },
                "reason": match outcome { RunOutcome::Failed(r) => Some(r.as_str()), _ => None },
                "output": output,
            }),
            ProbeEvent::State { name, at, problem } => json!({
                "type": "probe_state", "name": name, "at_s": at.as_secs_f64(), "problem": problem,
            }),
        };
        self.line(&v)
    }

    /// A distributed run's agents, as the coordinator last saw them.
    pub fn agents(&mut self, a: &crate::stats::agents::AgentsStatus) -> Result<(), RunLogError> {
        let mut v = serde_json::to_value(a).unwrap_or(Value::Null);
        v["type"] = json!("agents");
        self.line(&v)
    }

    pub fn route(&mut self, r: &crate::routes::ActionRecord) -> Result<(), RunLogError> {
        let mut v = serde_json::to_value(r).unwrap_or_else(|e| json!({ "error": e.to_string() }));
        v["type"] = json!("route_action");
        v["at_s"] = json!(r.applied_at_s.unwrap_or(r.fired_at_s));
        self.line(&v)
    }

    /// The run's summary (`report::summary::Summary`) as the last line.
    pub fn summary(mut self, s: &impl serde::Serialize) -> Result<(), RunLogError> {
        let mut v = serde_json::to_value(s).unwrap_or(Value::Null);
        if let Value::Object(map) = &mut v {
            map.insert("type".into(), json!("summary"));
        }
        self.line(&v)?;
        self.flush()
    }
}

/// An interval as its `run.jsonl` line (also what an agent sends its
/// coordinator): the interval's fields, `type`, and the four histograms as
/// base64 of HdrHistogram's V2 deflate encoding (empty ones left out).
pub fn interval_line(
    s: &Snapshot,
    serializer: &mut V2DeflateSerializer,
    scratch: &mut Vec<u8>,
) -> Value {
    let mut v = serde_json::to_value(&s.interval).unwrap_or(Value::Null);
    let h = &s.histograms;
    if let Value::Object(map) = &mut v {
        map.insert("type".into(), json!("interval"));
        for (key, hist) in [
            ("hdr", &h.latency),
            ("hdr_service", &h.service),
            ("hdr_failed", &h.failed),
            ("hdr_errored", &h.errored),
        ] {
            // Empty ones are left out; the reader takes absent as empty.
            if hist.is_empty() {
                continue;
            }
            scratch.clear();
            if serializer.serialize(hist, scratch).is_ok() {
                map.insert(
                    key.into(),
                    json!(base64::engine::general_purpose::STANDARD.encode(&*scratch)),
                );
            }
        }
        // The interval's requests by level epoch: successes' two histograms and the counts.
        let mut epochs = Vec::new();
        for p in h.epochs.iter() {
            let mut e = json!({"id": p.id, "ok": p.ok, "finished": p.finished});
            for (key, hist) in [("hdr", &p.latency), ("hdr_service", &p.service)] {
                scratch.clear();
                if !hist.is_empty() && serializer.serialize(hist, scratch).is_ok() {
                    e[key] = json!(base64::engine::general_purpose::STANDARD.encode(&*scratch));
                }
            }
            epochs.push(e);
        }
        if !epochs.is_empty() {
            map.insert("hdr_epochs".into(), Value::Array(epochs));
        }
    }
    v
}

/// The four histograms of an interval line (absent ones empty).
pub fn line_histograms(v: &Value) -> Result<crate::stats::Histograms, String> {
    let mut histograms = crate::stats::Histograms::default();
    for (key, slot) in [
        ("hdr", &mut histograms.latency),
        ("hdr_service", &mut histograms.service),
        ("hdr_failed", &mut histograms.failed),
        ("hdr_errored", &mut histograms.errored),
    ] {
        if let Some(h) = decode(v, key)? {
            let _ = slot.add(&h);
        }
    }
    if let Some(list) = v.get("hdr_epochs") {
        let list = list
            .as_array()
            .ok_or("'hdr_epochs' must be a list of the interval's epochs")?;
        for e in list {
            let count = |k: &str| {
                e[k].as_u64()
                    .ok_or_else(|| format!("'hdr_epochs' entry lacks a whole number '{k}'"))
            };
            let id = u32::try_from(count("id")?)
                .map_err(|_| "'hdr_epochs' entry's 'id' is past 2^32".to_owned())?;
            let mut part = crate::stats::epochs::EpochParts::new_part(id);
            part.ok = count("ok")?;
            part.finished = count("finished")?;
            if part.ok > part.finished {
                return Err(format!(
                    "'hdr_epochs' entry {id} has more successes ({}) than finished requests ({})",
                    part.ok, part.finished
                ));
            }
            for (key, slot) in [
                ("hdr", &mut part.latency),
                ("hdr_service", &mut part.service),
            ] {
                if let Some(h) = decode(e, key)? {
                    let _ = slot.add(&h);
                }
            }
            histograms.epochs.add_part(&part);
        }
    }
    Ok(histograms)
}

/// An interval line with its decoded histograms (empty where absent).
#[derive(Debug, Clone)]
pub struct LoggedInterval {
    pub line: Value,
    pub histograms: crate::stats::Histograms,
}

/// A run log read back.
#[derive(Debug, Clone)]
pub struct RunLogContents {
    pub header: Value,
    pub intervals: Vec<LoggedInterval>,
    pub events: Vec<Event>,
    pub probes: Vec<Value>,
    pub summary: Option<Value>,
    /// A distributed run's agents as last logged.
    pub agents: Option<Value>,
    /// Set when the last line was cut off (a killed run): everything before it was read.
    pub truncated: bool,
}

/// A histogram field: absent is fine (a run without `--out` histograms),
/// present but undecodable is corruption, never silently "no data".
/// A histogram as run logs and summaries carry it: base64 of
/// HdrHistogram's V2 deflate encoding (None for an empty one).
pub fn encode_histogram(h: &Histogram<u64>) -> Option<String> {
    if h.is_empty() {
        return None;
    }
    let mut bytes = Vec::new();
    V2DeflateSerializer::new().serialize(h, &mut bytes).ok()?;
    Some(base64::engine::general_purpose::STANDARD.encode(bytes))
}

/// `v[key]` read back as `encode_histogram` wrote it (absent: None).
pub fn decode(v: &Value, key: &str) -> Result<Option<Histogram<u64>>, String> {
    let field = &v[key];
    if field.is_null() {
        return Ok(None);
    }
    let b64 = field
        .as_str()
        .ok_or_else(|| format!("'{key}' must be a base64 string"))?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .map_err(|e| format!("'{key}' is not valid base64: {e}"))?;
    Deserializer::new()
        .deserialize(&mut std::io::Cursor::new(bytes))
        .map(Some)
        .map_err(|e| format!("'{key}' is not an HdrHistogram: {e}"))
}

/// A run log's path: `dir/run.jsonl` for a directory, else the file itself.
pub fn log_path(path: &Path) -> PathBuf {
    if path.is_dir() {
        path.join(RUN_LOG)
    } else {
        path.to_owned()
    }
}

/// One line of a run log, read back.
#[derive(Debug, Clone)]
pub enum LogLine {
    Header(Value),
    Interval(Value),
    Event(Event),
    /// `resource`, `probe_run`, `probe_state` and `route_action` lines.
    Probe(Value),
    Agents(Value),
    Summary(Value),
}

/// A run log read line by line, so a long run costs a line's memory, not
/// the file's. Each item is the line's byte offset and the line; a cut-off
/// last line (a killed run) ends the lines and sets `truncated`.
pub struct Lines {
    path: PathBuf,
    reader: std::io::BufReader<File>,
    buf: Vec<u8>,
    line: usize,
    offset: u64,
    header_seen: bool,
    done: bool,
    pub truncated: bool,
}

impl Lines {
    /// Opens `run.jsonl` (a directory or the file).
    pub fn open(path: &Path) -> Result<Lines, RunLogError> {
        let path = log_path(path);
        let file = crate::util::files::open(&path, crate::util::files::LOG_LINE).map_err(|e| {
            RunLogError::Read {
                path: path.clone(),
                source: std::io::Error::other(e.to_string()),
            }
        })?;
        Ok(Lines {
            path,
            reader: std::io::BufReader::new(file),
            buf: Vec::new(),
            line: 0,
            offset: 0,
            header_seen: false,
            done: false,
            truncated: false,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn corrupt(&self, message: String) -> RunLogError {
        RunLogError::Corrupt {
            path: self.path.clone(),
            line: self.line,
            message,
        }
    }

    fn next_line(&mut self) -> Result<Option<(u64, LogLine)>, RunLogError> {
        use std::io::BufRead;
        loop {
            if self.done {
                return Ok(None);
            }
            let at = self.offset;
            let n = crate::util::files::read_line_bounded(
                &mut self.reader,
                &mut self.buf,
                crate::util::files::LOG_LINE.limit,
            )
            .map_err(|source| RunLogError::Read {
                path: self.path.clone(),
                source,
            })?;
            self.line += 1;
            let n = match n {
                Ok(0) => {
                    self.done = true;
                    if !self.header_seen {
                        return Err(RunLogError::NoHeader {
                            path: self.path.clone(),
                        });
                    }
                    return Ok(None);
                }
                Ok(n) => n,
                Err(()) => {
                    return Err(self.corrupt(format!(
                        "a line longer than {}",
                        crate::util::files::limit_text(crate::util::files::LOG_LINE.limit)
                    )))
                }
            };
            self.offset += n as u64;
            let ended = self.buf.last() == Some(&b'\n');
            if self.buf.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let v: Value = match serde_json::from_slice(&self.buf) {
                Ok(v) => v,
                Err(e) => {
                    // Only the last line may be cut off (a killed run).
                    let last = !ended
                        || (e.is_eof()
                            && self.reader.fill_buf().map(|b| b.is_empty()).unwrap_or(true));
                    if last {
                        self.truncated = true;
                        self.done = true;
                        if !self.header_seen {
                            return Err(RunLogError::NoHeader {
                                path: self.path.clone(),
                            });
                        }
                        return Ok(None);
                    }
                    return Err(self.corrupt(e.to_string()));
                }
            };
            let item = match v["type"].as_str() {
                Some("header") => {
                    let found = v["schema"].as_u64().unwrap_or(0);
                    if found > SCHEMA {
                        return Err(RunLogError::NewerSchema {
                            path: self.path.clone(),
                            found,
                        });
                    }
                    self.header_seen = true;
                    LogLine::Header(v)
                }
                Some("interval") => LogLine::Interval(v),
                Some("event") => {
                    // Written with the event's own type moved to `event`; move it back.
                    let mut v = v;
                    if let Value::Object(map) = &mut v {
                        let kind = map.remove("event").unwrap_or(Value::Null);
                        map.insert("type".into(), kind);
                    }
                    let e: Event = serde_json::from_value(v)
                        .map_err(|e| self.corrupt(format!("event: {e}")))?;
                    LogLine::Event(e)
                }
                Some("resource" | "probe_run" | "probe_state" | "route_action") => {
                    LogLine::Probe(v)
                }
                Some("agents") => LogLine::Agents(v),
                Some("summary") => LogLine::Summary(v),
                _ => return Err(self.corrupt("no known 'type'".into())),
            };
            if !self.header_seen {
                return Err(RunLogError::NoHeader {
                    path: self.path.clone(),
                });
            }
            return Ok(Some((at, item)));
        }
    }

    /// The interval line at `offset` (as `next` gave it) with its
    /// histograms: replay reads intervals back from the file one at a time.
    pub fn interval_at(
        &mut self,
        offset: u64,
    ) -> Result<(Value, crate::stats::Histograms), RunLogError> {
        use std::io::{Seek, SeekFrom};
        self.reader
            .seek(SeekFrom::Start(offset))
            .map_err(|source| RunLogError::Read {
                path: self.path.clone(),
                source,
            })?;
        self.offset = offset;
        self.done = false;
        self.header_seen = true;
        match self.next_line()? {
            Some((_, LogLine::Interval(v))) => {
                let h = line_histograms(&v).map_err(|m| self.corrupt(m))?;
                Ok((v, h))
            }
            _ => Err(self.corrupt(format!("no interval line at byte {offset}"))),
        }
    }

    /// The histograms of an interval line this reader just gave, as an error naming its line.
    pub fn histograms(&self, v: &Value) -> Result<crate::stats::Histograms, RunLogError> {
        line_histograms(v).map_err(|m| self.corrupt(m))
    }

    /// The line number of the line `next` gave last.
    pub fn line_number(&self) -> usize {
        self.line
    }
}

impl Iterator for Lines {
    type Item = Result<(u64, LogLine), RunLogError>;
    fn next(&mut self) -> Option<Self::Item> {
        let r = self.next_line().transpose();
        if matches!(r, Some(Err(_))) {
            self.done = true;
        }
        r
    }
}

/// The summary line a finished run wrote last in its log, if any (read
/// line by line).
pub fn logged_summary(path: &Path) -> Result<Option<Value>, RunLogError> {
    let mut found = None;
    for line in Lines::open(path)? {
        if let (_, LogLine::Summary(v)) = line? {
            found = Some(v);
        }
    }
    Ok(found)
}

/// Reads a whole run log into memory (for short logs and tests; reports
/// and replay stream with `Lines`). A cut-off last line is tolerated and
/// reported; a broken line elsewhere is an error naming it.
pub fn read(path: &Path) -> Result<RunLogContents, RunLogError> {
    let mut lines = Lines::open(path)?;
    let mut out = RunLogContents {
        header: Value::Null,
        intervals: Vec::new(),
        events: Vec::new(),
        probes: Vec::new(),
        summary: None,
        agents: None,
        truncated: false,
    };
    while let Some(item) = lines.next() {
        match item?.1 {
            LogLine::Header(v) => out.header = v,
            LogLine::Interval(v) => {
                let histograms = lines.histograms(&v)?;
                out.intervals.push(LoggedInterval {
                    line: v,
                    histograms,
                });
            }
            LogLine::Event(e) => out.events.push(e),
            LogLine::Probe(v) => out.probes.push(v),
            LogLine::Agents(v) => out.agents = Some(v),
            LogLine::Summary(v) => out.summary = Some(v),
        }
    }
    out.truncated = lines.truncated;
    Ok(out)
}
