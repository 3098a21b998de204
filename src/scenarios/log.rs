//! A scenario's run log (`DIR/run.jsonl`): its header, every event as it happens, and the result at the end; read back by `replay` and `report`.
//!
//! Lines: `{"type": "scenario_header", "schema": 1, "scenario": ..,
//! "environment": .., "config": ..}`, then `{"type": "scenario_event", ..}`
//! per `ScenarioEvent`, then `{"type": "scenario_result", "table": ..,
//! "report": ..}` (the same object as scenario.json). Written as the
//! scenario goes and flushed at least once a second, so a killed scenario
//! keeps what it did; `read` tolerates a cut-off last line, as the load
//! run's log reader does.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use serde_json::{json, Value};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::config::{ScenarioConfig, ScenarioKind};
use super::report::ScenarioReport;
use super::{ScenarioError, ScenarioEvent};

pub const SCHEMA: u64 = 1;
/// The same file name as a load run's log: a directory holds one or the other.
pub const FILE: &str = crate::run::log::RUN_LOG;
const FLUSH_EVERY: Duration = Duration::from_secs(1);

/// Writes the log; one per scenario run.
pub struct ScenarioLog {
    path: PathBuf,
    out: std::io::BufWriter<std::fs::File>,
    flushed: Instant,
}

fn write_err(path: &Path, source: std::io::Error) -> ScenarioError {
    ScenarioError::Write {
        path: path.display().to_string(),
        source,
    }
}

impl ScenarioLog {
    /// Creates `dir/run.jsonl` and writes the header.
    pub fn create(
        dir: &Path,
        kind: ScenarioKind,
        cfg: &ScenarioConfig,
        profile: Option<String>,
    ) -> Result<Self, ScenarioError> {
        std::fs::create_dir_all(dir).map_err(|e| write_err(dir, e))?;
        let path = dir.join(FILE);
        let file = std::fs::File::create(&path).map_err(|e| write_err(&path, e))?;
        let sha = profile
            .as_ref()
            .and_then(|p| std::fs::read(p).ok())
            .map(|b| crate::util::hash::sha256_hex(&String::from_utf8_lossy(&b)));
        let mut log = ScenarioLog {
            path,
            out: std::io::BufWriter::new(file),
            flushed: Instant::now(),
        };
        log.line(&json!({
            "type": "scenario_header",
            "schema": SCHEMA,
            "rampdeck": env!("CARGO_PKG_VERSION"),
            "scenario": kind.name(),
            "environment": crate::run::env::Environment::capture_for(profile, sha, SystemTime::now()),
            "config": format!("{cfg:?}"),
        }))?;
        log.flush()?;
        Ok(log)
    }

    fn line(&mut self, v: &Value) -> Result<(), ScenarioError> {
        let mut text = v.to_string();
        text.push('\n');
        self.out
            .write_all(text.as_bytes())
            .map_err(|e| write_err(&self.path, e))
    }

    fn flush(&mut self) -> Result<(), ScenarioError> {
        self.flushed = Instant::now();
        self.out.flush().map_err(|e| write_err(&self.path, e))
    }

    pub fn event(&mut self, e: &ScenarioEvent) -> Result<(), ScenarioError> {
        let mut v = serde_json::to_value(e).unwrap_or(Value::Null);
        v["type"] = Value::from("scenario_event");
        self.line(&v)?;
        if self.flushed.elapsed() >= FLUSH_EVERY {
            self.flush()?;
        }
        Ok(())
    }

    /// The last line: the result table and the report.
    pub fn result(mut self, r: &ScenarioReport) -> Result<PathBuf, ScenarioError> {
        self.line(&json!({
            "type": "scenario_result",
            "table": r.table(),
            "report": r,
        }))?;
        self.flush()?;
        Ok(self.path)
    }
}

/// Passes the session's events on to a view, writing each to the log on
/// the way. The returned task ends with the log when the events do.
pub fn tee(
    mut events: mpsc::UnboundedReceiver<ScenarioEvent>,
    mut log: ScenarioLog,
) -> (
    mpsc::UnboundedReceiver<ScenarioEvent>,
    JoinHandle<(ScenarioLog, Option<ScenarioError>)>,
) {
    let (tx, rx) = mpsc::unbounded_channel();
    let task = tokio::spawn(async move {
        let mut failed = None;
        while let Some(e) = events.recv().await {
            if failed.is_none() {
                failed = log.event(&e).err();
            }
            let _ = tx.send(e);
        }
        if failed.is_none() {
            failed = log.flush().err();
        }
        (log, failed)
    });
    (rx, task)
}

/// A scenario's log read back.
#[derive(Debug, Clone)]
pub struct ScenarioRecording {
    pub kind: ScenarioKind,
    pub header: Value,
    pub events: Vec<ScenarioEvent>,
    /// The result table, when the scenario finished.
    pub table: Option<String>,
    /// The report (scenario.json's object), when it finished.
    pub report: Option<Value>,
    /// The last line was cut off (a killed scenario).
    pub truncated: bool,
}

impl ScenarioRecording {
    /// How long it ran: the last event's time.
    pub fn duration(&self) -> Duration {
        self.events
            .iter()
            .map(ScenarioEvent::at)
            .max()
            .unwrap_or_default()
    }
}

/// Whether `dir`'s run log is a scenario's.
pub fn is_scenario_log(dir: &Path) -> bool {
    let path = if dir.is_dir() {
        dir.join(FILE)
    } else {
        dir.to_owned()
    };
    use crate::util::files;
    files::open(&path, files::LOG_LINE)
        .ok()
        .and_then(|f| {
            let mut first = Vec::new();
            let mut r = std::io::BufReader::new(f);
            files::read_line_bounded(&mut r, &mut first, files::LOG_LINE.limit)
                .ok()?
                .ok()?;
            serde_json::from_slice::<Value>(&first).ok()
        })
        .is_some_and(|v| v["type"] == "scenario_header")
}

/// Reads a scenario's run log (a directory or the file).
pub fn read(dir: &Path) -> Result<ScenarioRecording, ScenarioError> {
    let path = if dir.is_dir() {
        dir.join(FILE)
    } else {
        dir.to_owned()
    };
    let shown = path.display().to_string();
    let text = crate::util::files::read_text(&path, crate::util::files::SUMMARY).map_err(|e| {
        ScenarioError::Write {
            path: shown.clone(),
            source: std::io::Error::other(e.to_string()),
        }
    })?;
    let bad = |line: usize, why: String| ScenarioError::Setup(format!("{shown}:{line}: {why}"));
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let mut rec = ScenarioRecording {
        kind: ScenarioKind::RouteChange,
        header: Value::Null,
        events: Vec::new(),
        table: None,
        report: None,
        truncated: false,
    };
    for (i, line) in lines.iter().enumerate() {
        let last = i + 1 == lines.len();
        let v: Value = match serde_json::from_str(line) {
            Ok(v) => v,
            Err(_) if last && !text.ends_with('\n') => {
                rec.truncated = true;
                break;
            }
            Err(e) => return Err(bad(i + 1, e.to_string())),
        };
        match v["type"].as_str() {
            Some("scenario_header") => {
                if v["schema"].as_u64().unwrap_or(0) > SCHEMA {
                    return Err(bad(
                        i + 1,
                        "written by a newer rampdeck (schema above 1)".into(),
                    ));
                }
                let name = v["scenario"].as_str().unwrap_or("");
                rec.kind = ScenarioKind::parse(name)
                    .ok_or_else(|| bad(i + 1, format!("unknown scenario '{name}'")))?;
                rec.header = v;
            }
            Some("scenario_event") => {
                let e: ScenarioEvent =
                    serde_json::from_value(v).map_err(|e| bad(i + 1, e.to_string()))?;
                rec.events.push(e);
            }
            Some("scenario_result") => {
                rec.table = v["table"].as_str().map(str::to_owned);
                rec.report = Some(v["report"].clone());
            }
            _ => {}
        }
    }
    if rec.header.is_null() {
        return Err(bad(
            1,
            "not a scenario's run log (no scenario_header line)".into(),
        ));
    }
    Ok(rec)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_round_trip_through_the_log_and_a_cut_last_line_is_tolerated() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = ScenarioLog::create(
            dir.path(),
            ScenarioKind::RouteChange,
            &ScenarioConfig::default(),
            None,
        )
        .unwrap();
        let events = [
            ScenarioEvent::Phase {
                at: Duration::from_millis(100),
                label: "traffic".into(),
                text: "route-change: traffic".into(),
            },
            ScenarioEvent::Flip {
                at: Duration::from_millis(2_300),
                iteration: 1,
                backend: "echo-v2".into(),
            },
            ScenarioEvent::Traffic {
                at: Duration::from_millis(2_400),
                ok: 19,
                failed: 1,
            },
        ];
        for e in &events {
            log.event(e).unwrap();
        }
        drop(log);
        let rec = read(dir.path()).unwrap();
        assert_eq!(rec.kind, ScenarioKind::RouteChange);
        assert_eq!(rec.events, events);
        assert_eq!(rec.duration(), Duration::from_millis(2_400));
        assert!(rec.table.is_none() && !rec.truncated);
        assert!(is_scenario_log(dir.path()));
        // Killed mid-line.
        let path = dir.path().join(FILE);
        let mut text = std::fs::read_to_string(&path).unwrap();
        text.push_str("{\"type\": \"scenario_ev");
        std::fs::write(&path, text).unwrap();
        let rec = read(dir.path()).unwrap();
        assert!(rec.truncated);
        assert_eq!(rec.events.len(), 3);
    }
}
