//! The scenario console: a live chart of the scenario's progress (attachedRoutes vs routes applied, propagation per route, traffic around flips), control-plane readings and the log; the result table when it ends.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Color;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};
use ratatui::Frame;

use super::chart::{downsample, Reduce, Series, TimeChart};
use super::terminal::Flow;
use super::theme::Theme;
use crate::scenarios::config::ScenarioKind;
use crate::scenarios::report::ScenarioReport;
use crate::scenarios::session::Session;
use crate::scenarios::{ScenarioError, ScenarioEvent};

/// Log lines kept for the pane.
const LOG_LINES: usize = 500;

/// What the screen shows, built from the session's events.
pub struct Screen {
    pub kind: ScenarioKind,
    pub phase: String,
    pub log: VecDeque<String>,
    /// (seconds, value) per series; which series depends on the scenario.
    pub applied: Vec<(f64, f64)>,
    pub attached: Vec<(f64, f64)>,
    pub propagation: Vec<(f64, f64)>,
    pub ok: Vec<(f64, f64)>,
    pub failed: Vec<(f64, f64)>,
    /// backend-failover: answers per second per backend, and the backends' names.
    pub per_backend: Vec<Vec<(f64, f64)>>,
    pub backend_names: Vec<String>,
    pub markers: Vec<(f64, String)>,
    /// Latest (cpu cores, memory bytes) per component.
    pub resources: BTreeMap<String, (Option<f64>, Option<f64>)>,
    pub now: f64,
    /// The result table once the scenario has ended.
    pub result: Option<String>,
    pub stopping: bool,
    /// Playing a recorded scenario back: the playback state for the header.
    pub replay: Option<String>,
}

impl Screen {
    pub fn new(kind: ScenarioKind) -> Self {
        Screen {
            kind,
            phase: "connecting".into(),
            log: VecDeque::new(),
            applied: Vec::new(),
            attached: Vec::new(),
            propagation: Vec::new(),
            ok: Vec::new(),
            failed: Vec::new(),
            per_backend: Vec::new(),
            backend_names: Vec::new(),
            markers: Vec::new(),
            resources: BTreeMap::new(),
            now: 0.0,
            result: None,
            stopping: false,
            replay: None,
        }
    }

    pub fn apply(&mut self, ev: ScenarioEvent) {
        let mut line = |at: Duration, text: String| {
            if self.log.len() == LOG_LINES {
                self.log.pop_front();
            }
            self.log
                .push_back(format!("{:>7.2}s {text}", at.as_secs_f64()));
        };
        match ev {
            ScenarioEvent::Phase { at, label, text } => {
                line(at, text.clone());
                self.markers.push((at.as_secs_f64(), label));
                self.phase = text;
            }
            ScenarioEvent::Log { at, text } => line(at, text),
            ScenarioEvent::Attached {
                at,
                applied,
                attached,
            } => {
                let t = at.as_secs_f64();
                self.applied.push((t, applied as f64));
                if let Some(a) = attached {
                    self.attached.push((t, a as f64));
                }
            }
            ScenarioEvent::Propagated {
                at, data_plane_ms, ..
            } => self.propagation.push((at.as_secs_f64(), data_plane_ms)),
            ScenarioEvent::Traffic { at, ok, failed } => {
                let t = at.as_secs_f64();
                // Per 100 ms -> per second (staleness sends a phase's counts).
                let k = if self.kind == ScenarioKind::Staleness {
                    1.0
                } else {
                    10.0
                };
                self.ok.push((t, ok as f64 * k));
                self.failed.push((t, failed as f64 * k));
            }
            ScenarioEvent::Backends {
                at,
                interval_s,
                counts,
                failed,
                names,
            } => {
                if !names.is_empty() {
                    self.backend_names = names;
                }
                let t = at.as_secs_f64();
                let per_s = 1.0 / interval_s.max(1e-3);
                if self.per_backend.len() < counts.len() {
                    self.per_backend.resize(counts.len(), Vec::new());
                }
                for (series, n) in self.per_backend.iter_mut().zip(&counts) {
                    series.push((t, *n as f64 * per_s));
                }
                self.failed.push((t, failed as f64 * per_s));
            }
            ScenarioEvent::Flip {
                at,
                iteration,
                backend,
            } => {
                self.markers
                    .push((at.as_secs_f64(), format!("{iteration}:{backend}")));
            }
            ScenarioEvent::Resource {
                component,
                cpu_cores,
                memory_bytes,
                ..
            } => {
                self.resources.insert(component, (cpu_cores, memory_bytes));
            }
        }
    }
}

/// Runs the console until the scenario ends and the operator leaves (q),
/// or quits early (q, Ctrl-C: the scenario stops and removes its routes first).
pub async fn run(
    session: Session,
    kind: ScenarioKind,
    fps: u32,
    theme: Theme,
) -> Result<ScenarioReport, ScenarioError> {
    let Session {
        events,
        cancel,
        task,
        origin,
    } = session;
    // The result table goes to the UI thread once the scenario has ended.
    let (result_tx, result_rx) = std::sync::mpsc::channel::<String>();
    let ui = tokio::task::spawn_blocking(move || -> std::io::Result<()> {
        let mut console = ScenarioConsole {
            screen: Screen::new(kind),
            events,
            results: result_rx,
            cancel,
            origin,
            theme,
        };
        super::terminal::run(&mut console, fps)
    });
    let report = match task.await {
        Ok(r) => r,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    };
    let _ = result_tx.send(match &report {
        Ok(r) => r.table(),
        Err(e) => format!("error: {e}"),
    });
    // The console stays up with the result until the operator leaves.
    if let Ok(Err(e)) = ui.await {
        return Err(ScenarioError::Setup(format!("console: {e}")));
    }
    report
}

/// The scenario's console as a screen of the terminal loop.
struct ScenarioConsole {
    screen: Screen,
    events: mpsc::UnboundedReceiver<ScenarioEvent>,
    results: std::sync::mpsc::Receiver<String>,
    cancel: CancellationToken,
    origin: Instant,
    theme: Theme,
}

impl super::terminal::Screen for ScenarioConsole {
    fn update(&mut self, _: Instant) -> Flow {
        let screen = &mut self.screen;
        while let Ok(ev) = self.events.try_recv() {
            screen.apply(ev);
        }
        if let Ok(table) = self.results.try_recv() {
            screen.result = Some(table);
        }
        // Stopped by a signal (SIGTERM, or Ctrl-C outside raw mode): no
        // one may be there to press q, so leave once the report is in.
        if screen.result.is_some() && self.cancel.is_cancelled() && !screen.stopping {
            return Flow::Leave;
        }
        // The clock (and the chart's time axis) stops when the scenario does.
        if screen.result.is_none() {
            screen.now = self.origin.elapsed().as_secs_f64();
        }
        Flow::Continue
    }

    fn draw(&mut self, f: &mut Frame, _: Instant) {
        draw(f, &self.screen, self.theme);
    }

    fn key(&mut self, key: &crossterm::event::KeyEvent) -> Flow {
        if super::keymap::scenario_action(key) != Some(super::app::Action::Quit) {
            return Flow::Continue;
        }
        if self.screen.result.is_some() {
            return Flow::Leave;
        }
        self.screen.stopping = true;
        self.cancel.cancel();
        Flow::Continue
    }
}

fn draw(f: &mut Frame, s: &Screen, theme: Theme) {
    // Once finished, the result table gets the room.
    let chart_share = if s.result.is_some() { 35 } else { 55 };
    let [header, chart, bottom] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Percentage(chart_share),
        Constraint::Min(6),
    ])
    .areas(f.area());
    let state = if let Some(r) = &s.replay {
        r.as_str()
    } else if s.result.is_some() {
        "FINISHED  q: exit"
    } else if s.stopping {
        "STOPPING (removing routes)"
    } else {
        "RUNNING  q: stop"
    };
    let head = Line::from(vec![
        Span::styled(
            format!(" rampdeck scenario {} ", s.kind.name()),
            theme.bold(),
        ),
        Span::raw(format!("│ {:.1}s │ ", s.now)),
        Span::styled(state, theme.bold()),
        Span::raw(format!(" │ {}", s.phase)),
    ]);
    f.render_widget(Paragraph::new(head), header);
    draw_chart(f, s, theme, chart);
    // The result table carries the control-plane max/avg: it gets the full width.
    if s.result.is_some() {
        draw_log(f, s, theme, bottom);
        return;
    }
    let [left, right] =
        Layout::horizontal([Constraint::Length(44), Constraint::Min(20)]).areas(bottom);
    draw_resources(f, s, theme, left);
    draw_log(f, s, theme, right);
}

fn draw_chart(f: &mut Frame, s: &Screen, theme: Theme, area: Rect) {
    let x = (0.0, s.now.max(1.0));
    let w = area.width.saturating_sub(2);
    let (title, series, unit): (String, Vec<Series>, &str) = match s.kind {
        ScenarioKind::AttachedRoutes => (
            " routes applied (cyan) vs Gateway attachedRoutes (green) ".into(),
            vec![
                series(Color::Cyan, &s.applied, Reduce::Max, x, w),
                series(Color::Green, &s.attached, Reduce::Max, x, w),
            ],
            "",
        ),
        ScenarioKind::RouteProbe => (
            " data-plane propagation per route, ms (apply returned -> first 200) ".into(),
            vec![series(Color::Yellow, &s.propagation, Reduce::Max, x, w)],
            "ms",
        ),
        ScenarioKind::RouteChange | ScenarioKind::RouteScale | ScenarioKind::TrafficMatrix => (
            match s.kind {
                ScenarioKind::RouteChange => {
                    " answers/s: ok (green), failed (red); markers: flips "
                }
                ScenarioKind::RouteScale => {
                    " answers/s during the churn: ok (green), failed (red) "
                }
                _ => " answers/s per cell: ok (green), failed (red); markers: cells ",
            }
            .into(),
            vec![
                series(Color::Green, &s.ok, Reduce::Mean, x, w),
                series(Color::Red, &s.failed, Reduce::Max, x, w),
            ],
            "/s",
        ),
        ScenarioKind::Staleness => (
            " answers per phase: ok (green), failed (red); markers: warm, idle, roll, resume "
                .into(),
            vec![
                series(Color::Green, &s.ok, Reduce::Max, x, w),
                series(Color::Red, &s.failed, Reduce::Max, x, w),
            ],
            "",
        ),
        ScenarioKind::BackendFailover => {
            const COLORS: [Color; 4] = [Color::Green, Color::Cyan, Color::Magenta, Color::Yellow];
            let names: Vec<&str> = ["green", "cyan", "magenta", "yellow"].to_vec();
            let mut v: Vec<Series> = s
                .per_backend
                .iter()
                .enumerate()
                .map(|(i, p)| series(COLORS[i % 4], p, Reduce::Mean, x, w))
                .collect();
            v.push(series(Color::Red, &s.failed, Reduce::Max, x, w));
            let legend: Vec<String> = s
                .backend_names
                .iter()
                .enumerate()
                .map(|(i, b)| format!("{b} ({})", names[i % 4]))
                .collect();
            (
                format!(" answers/s: {}, failed (red) ", legend.join(", ")),
                v,
                "/s",
            )
        }
    };
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(theme.border(true))
        .title(title.as_str());
    let inner = block.inner(area);
    f.render_widget(block, area);
    let label = move |v: f64| format!("{v:.0}{unit}");
    // Every flip gets its line; labels that would overlap are left out.
    let markers: Vec<crate::ui::view::ChartMarker> = s
        .markers
        .iter()
        .map(|(t, l)| crate::ui::view::ChartMarker {
            x: *t,
            label: Some(l.clone()),
        })
        .collect();
    let chart = TimeChart {
        series,
        markers: &markers,
        x,
        y_label: &label,
        scale: crate::ui::chart::Scale::Linear,
        theme,
    };
    f.render_widget(chart, inner);
}

/// A series reduced to what the chart can show, so a frame does not copy a long history.
fn series(
    color: Color,
    points: &[(f64, f64)],
    reduce: Reduce,
    x: (f64, f64),
    width: u16,
) -> Series {
    Series {
        color,
        points: downsample(points, x, usize::from(width) * 2, reduce),
        reduce,
    }
}

fn draw_resources(f: &mut Frame, s: &Screen, theme: Theme, area: Rect) {
    let mut lines = Vec::new();
    if s.resources.is_empty() {
        lines.push(Line::styled("no [[source]] in the profile", theme.dim()));
    }
    for (name, (cpu, mem)) in &s.resources {
        lines.push(Line::styled(name.clone(), theme.bold()));
        lines.push(Line::raw(format!(
            "  cpu {}  mem {}",
            cpu.map_or("-".into(), |c| format!("{c:.3} cores")),
            mem.map_or("-".into(), |m| format!("{:.1} MiB", m / 1048576.0))
        )));
    }
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(theme.border(false))
        .title(" control plane ");
    f.render_widget(Paragraph::new(lines).block(block), area);
}

fn draw_log(f: &mut Frame, s: &Screen, theme: Theme, area: Rect) {
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(theme.border(false))
        .title(if s.result.is_some() {
            " result "
        } else {
            " log "
        });
    let rows = area.height.saturating_sub(2) as usize;
    let lines: Vec<Line> = match &s.result {
        Some(table) => table.lines().map(|l| Line::raw(l.to_owned())).collect(),
        None => s
            .log
            .iter()
            .skip(s.log.len().saturating_sub(rows))
            .map(|l| Line::raw(l.clone()))
            .collect(),
    };

    f.render_widget(
        Paragraph::new(lines)
            .block(block)
            .wrap(Wrap { trim: false }),
        area,
    );
}

/// Plays a scenario's run log back (`rampdeck replay DIR`): the same screen,
/// fed the recorded events at their times, with the replay's playback keys.
pub fn replay(
    rec: crate::scenarios::log::ScenarioRecording,
    speed: u32,
    fps: u32,
    theme: Theme,
) -> std::io::Result<()> {
    let mut p = Playback {
        screen: Screen::new(rec.kind),
        duration: rec.duration(),
        rec,
        next: 0,
        position: Duration::ZERO,
        playing: true,
        speed: crate::run::replay::SPEEDS
            .iter()
            .copied()
            .find(|&s| s >= speed)
            .unwrap_or(16),
        last: Instant::now(),
        theme,
    };
    super::terminal::run(&mut p, fps)
}

struct Playback {
    rec: crate::scenarios::log::ScenarioRecording,
    screen: Screen,
    duration: Duration,
    /// The next event to apply.
    next: usize,
    position: Duration,
    playing: bool,
    speed: u32,
    last: Instant,
    theme: Theme,
}

/// A step of the arrow keys.
const STEP: Duration = Duration::from_secs(1);

impl Playback {
    /// Moves to `t`: forward by applying what happened in between, back by
    /// starting over.
    fn seek(&mut self, t: Duration) {
        let t = t.min(self.duration);
        if t < self.position {
            self.screen = Screen::new(self.rec.kind);
            self.next = 0;
        }
        while let Some(e) = self.rec.events.get(self.next).filter(|e| e.at() <= t) {
            self.screen.apply(e.clone());
            self.next += 1;
        }
        self.position = t;
        self.screen.now = t.as_secs_f64();
        let ended = t >= self.duration;
        self.screen.result = ended.then(|| {
            self.rec.table.clone().unwrap_or_else(|| {
                "the log ends without a result: the scenario was killed".to_owned()
            })
        });
        if ended {
            self.playing = false;
        }
        self.show_state();
    }

    fn show_state(&mut self) {
        self.screen.replay = Some(format!(
            "REPLAY {} {}x {:.1}s / {:.1}s  space: play  q: exit",
            if self.playing { "▶" } else { "⏸" },
            self.speed,
            self.position.as_secs_f64(),
            self.duration.as_secs_f64(),
        ));
    }
}

impl super::terminal::Screen for Playback {
    fn update(&mut self, now: Instant) -> Flow {
        let wall = now - self.last;
        self.last = now;
        if self.playing {
            self.seek(self.position + wall * self.speed);
        }
        Flow::Continue
    }

    fn draw(&mut self, f: &mut Frame, _: Instant) {
        draw(f, &self.screen, self.theme);
    }

    fn key(&mut self, key: &crossterm::event::KeyEvent) -> Flow {
        use super::app::{Action, InputMode};
        match super::keymap::action(&InputMode::Replay, key) {
            Some(Action::Quit) => return Flow::Leave,
            Some(Action::PlayPause) => {
                if self.position >= self.duration {
                    self.seek(Duration::ZERO);
                }
                self.playing = !self.playing;
            }
            Some(Action::Faster(up)) => {
                let speeds = crate::run::replay::SPEEDS;
                let i = speeds.iter().position(|&s| s == self.speed).unwrap_or(0);
                self.speed = if up {
                    speeds[(i + 1).min(speeds.len() - 1)]
                } else {
                    speeds[i.saturating_sub(1)]
                };
            }
            Some(Action::Step(forward)) => {
                self.playing = false;
                let t = if forward {
                    self.position + STEP
                } else {
                    self.position.saturating_sub(STEP)
                };
                self.seek(t);
            }
            _ => {}
        }
        self.show_state();
        Flow::Continue
    }
}
