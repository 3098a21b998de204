//! Header: profile, target, mode, stage, elapsed/total with a gauge, target vs achieved, run state.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{LineGauge, Paragraph};
use ratatui::Frame;

use crate::run::RunModel;
use crate::spec::plan::Mode;
use crate::stats::summary::RunState;
use crate::ui::app::App;
use crate::ui::theme::Theme;
use crate::ui::view::{fmt_clock, fmt_rate, RECENT};
use rampdeck_base::fmt::fmt_level;

pub fn draw(f: &mut Frame, area: Rect, app: &App, model: &RunModel, theme: Theme) {
    let [top, mid, gauge] = Layout::vertical([Constraint::Length(1); 3]).areas(area);
    let plan = &app.plan;
    let last = model.last();
    let state = model.state;
    let mode = match plan.load.mode {
        _ if plan.connections.is_some() => "connections",
        Mode::Open => "open loop",
        Mode::Closed => "closed loop",
    };
    // A recorded run is a replay, whatever state its log reached.
    let state_label =
        if app.mode == crate::ui::app::InputMode::Replay || app.replay_status.is_some() {
            " REPLAY ".to_owned()
        } else {
            format!(" {} ", state.label())
        };
    // Thresholds judged so far: green while they hold, red once one breaks.
    let failing = model
        .thresholds
        .iter()
        .filter(|v| !v.pass && v.actual.is_some())
        .count();
    let (badge, badge_style) = match (model.thresholds.len(), failing) {
        (0, _) => (String::new(), theme.dim()),
        (n, 0) => (
            format!(" ✓ {n} thresholds "),
            theme.fg(ratatui::style::Color::Green),
        ),
        (_, f) => (
            format!(
                " ✗ {f} threshold{} breached ",
                if f == 1 { "" } else { "s" }
            ),
            theme.breach(),
        ),
    };
    let right_width = (badge.chars().count() + state_label.chars().count()) as u16;
    let [left, right] =
        Layout::horizontal([Constraint::Min(10), Constraint::Length(right_width)]).areas(top);
    let title = Line::from(vec![
        Span::styled(" rampdeck ", theme.bold()),
        Span::styled("│ ", theme.dim()),
        Span::styled(plan.name.clone(), theme.bold()),
        Span::styled(" → ", theme.dim()),
        Span::raw(plan.target_display()),
        Span::styled(" │ ", theme.dim()),
        Span::raw(mode),
    ]);
    f.render_widget(Paragraph::new(title), left);
    f.render_widget(
        Paragraph::new(Line::from(vec![
            Span::styled(badge, badge_style),
            Span::styled(state_label, theme.state(state)),
        ])),
        right,
    );

    let total = plan.load.duration();
    let run_clock = last.map_or_else(Default::default, |i| i.run_clock);
    let stage_idx = last.map_or(0, |i| i.stage);
    let stage_text = plan
        .load
        .stages
        .get(stage_idx)
        .map_or_else(String::new, |s| {
            let kind = match s.kind {
                crate::spec::plan::StageKind::Ramp => {
                    format!("ramp {}→{}", fmt_level(s.from), fmt_level(s.to))
                }
                crate::spec::plan::StageKind::Hold => "hold".to_owned(),
            };
            format!("stage {}/{} {kind}", stage_idx + 1, plan.load.stages.len())
        });
    // While a capacity search steers, where it is says more than the
    // stage; once it has ended (or was stopped) the stage has the header back.
    let searching = model.search.as_ref().filter(|s| !s.done);
    let short_stage = searching.map(|s| s.short.clone());
    let stage_text = searching.map_or(stage_text, |s| s.status.clone());
    // While paused the run clock stands still and no interval comes: the
    // last ones would show a rate that is not being sent.
    let recent = if model.state == crate::stats::summary::RunState::Paused {
        crate::run::model::Recent::default()
    } else {
        model.recent(RECENT)
    };
    let target = model.level;
    let manual = if last.is_some_and(|i| i.manual) {
        " (by hand)"
    } else {
        ""
    };
    let established = last
        .and_then(|i| i.connections.as_ref())
        .map(|c| c.now.established);
    let (target, achieved) = match plan.load.mode {
        _ if plan.connections.is_some() => (
            format!("{} connections{manual}", fmt_level(target.floor())),
            format!("{} established", established.unwrap_or(0)),
        ),
        Mode::Open => (
            format!("{}/s{manual}", fmt_rate(target)),
            format!("{}/s", fmt_rate(recent.sent_rate())),
        ),
        Mode::Closed => (
            format!("{} in flight{manual}", fmt_level(target.floor())),
            format!("{} req/s", fmt_rate(recent.done_rate())),
        ),
    };
    let warm = if last.is_some_and(|i| i.warmup) {
        " · warmup, not counted"
    } else {
        ""
    };
    let sep = || Span::styled(" · ", theme.dim());
    let in_flight = last.map_or(0, |i| i.in_flight).to_string();
    // When the schedule falls behind, say who is to blame: rampdeck's own
    // CPU must never pass for the target's latency.
    let lag = last.filter(|i| i.behind > 0).map(|i| {
        if i.generator_limited {
            let cpu = i.cpu_percent.unwrap_or(0.0);
            (
                format!(
                    "GENERATOR-LIMITED: rampdeck at {cpu:.0}% CPU, sending {} of {}",
                    achieved, target
                ),
                format!("GENERATOR-LIMITED {cpu:.0}% CPU"),
                "GEN-LIMITED".to_owned(),
            )
        } else if i.under_supplied {
            // A distributed run short of an agent: its share, not the target.
            let n = rampdeck_base::fmt::group(i.behind);
            (
                format!("{n} not sent: an agent's share (an agent lost or behind)"),
                format!("{n} not sent: agent short"),
                format!("{n} not sent"),
            )
        } else {
            let n = rampdeck_base::fmt::group(i.behind);
            (
                format!("{n} not sent: all connections waiting on the target"),
                format!("{n} not sent: conns busy"),
                format!("{n} not sent"),
            )
        }
    });
    let lead = |stage: bool, labels: bool| {
        let mut v = vec![Span::raw(" ")];
        if stage {
            v.push(Span::raw(stage_text.clone()));
            v.push(sep());
        }
        // Narrow: a search's step stays, in its short form.
        if !stage {
            if let Some(short) = &short_stage {
                v.push(Span::raw(short.clone()));
                v.push(sep());
            }
        }
        if labels {
            v.push(Span::styled("target ", theme.dim()));
        }
        v.push(Span::styled(target.clone(), theme.bold()));
        v.push(sep());
        if labels && established.is_none() {
            v.push(Span::styled("achieved ", theme.dim()));
        }
        v.push(Span::styled(achieved.clone(), theme.bold()));
        v
    };
    let tail = |v: &mut Vec<Span<'static>>, flight: bool, lag_form: Option<usize>| {
        // A connections run has no requests in flight.
        if flight && established.is_none() {
            v.push(sep());
            v.push(Span::styled("in flight ", theme.dim()));
            v.push(Span::raw(in_flight.clone()));
        }
        if let (Some((long, mid, short)), Some(form)) = (&lag, lag_form) {
            v.push(sep());
            let text = [long, mid, short][form.min(2)].clone();
            v.push(Span::styled(text, theme.breach()));
        } else if lag.is_none() {
            v.push(Span::styled(warm, theme.dim()));
        }
    };
    let mut forms = Vec::new();
    for (stage, labels, flight, lag_form) in [
        (true, true, true, Some(0)),
        (true, true, false, Some(0)),
        (false, true, false, Some(0)),
        (true, true, true, Some(1)),
        (false, true, false, Some(1)),
        (false, false, false, Some(1)),
        (false, false, false, Some(2)),
    ] {
        if lag.is_none() && lag_form != Some(0) {
            continue;
        }
        let mut v = lead(stage, labels);
        tail(&mut v, flight, lag_form);
        forms.push(v);
    }
    if lag.is_none() {
        let mut v = lead(false, true);
        tail(&mut v, true, None);
        forms.push(v);
        forms.push(lead(false, false));
    }
    let line = match model.state {
        // The run is over: what it came to, and how to leave.
        RunState::Finished if app.replay_status.is_none() => finished_line(model, mid.width, theme),
        RunState::Paused => paused_line(&target, mid.width, theme),
        _ => super::fit(mid.width, forms),
    };
    f.render_widget(Paragraph::new(line), mid);
    let ratio = if total.is_zero() {
        0.0
    } else {
        (run_clock.as_secs_f64() / total.as_secs_f64()).clamp(0.0, 1.0)
    };
    let g = LineGauge::default()
        .ratio(ratio)
        .label(format!(" {} / {} ", fmt_clock(run_clock), fmt_clock(total)))
        .filled_style(theme.fg(ratatui::style::Color::Cyan))
        .unfilled_style(theme.dim());
    f.render_widget(g, gauge);
}

/// A paused run's line: nothing is being sent, whatever the last interval said.
fn paused_line(target: &str, width: u16, theme: Theme) -> Line<'static> {
    let forms = vec![
        vec![
            Span::styled(" PAUSED", theme.state(RunState::Paused)),
            Span::styled(": nothing is sent · target ", theme.dim()),
            Span::styled(target.to_owned(), theme.bold()),
            Span::styled(" when resumed · ", theme.dim()),
            Span::styled("space", theme.bold()),
            Span::styled(" resumes", theme.dim()),
        ],
        vec![
            Span::styled(" PAUSED", theme.state(RunState::Paused)),
            Span::styled(": nothing is sent · ", theme.dim()),
            Span::styled("space", theme.bold()),
            Span::styled(" resumes", theme.dim()),
        ],
    ];
    super::fit(width, forms)
}

/// A finished run's line: the summary's headline and verdict, and q.
fn finished_line(model: &RunModel, width: u16, theme: Theme) -> Line<'static> {
    let t = &model.totals;
    let failing: Vec<&crate::spec::thresholds::Verdict> =
        model.thresholds.iter().filter(|v| !v.pass).collect();
    let (verdict, bad) = if t.requests > 0 && t.ok == 0 {
        ("FAIL: no successful response".to_owned(), true)
    } else if !failing.is_empty() {
        (
            format!(
                "FAIL: {} threshold{} breached",
                failing.len(),
                if failing.len() == 1 { "" } else { "s" }
            ),
            true,
        )
    } else if model.thresholds.is_empty() {
        ("done".to_owned(), false)
    } else {
        ("PASS".to_owned(), false)
    };
    let style = if bad {
        theme.breach()
    } else {
        theme.fg(ratatui::style::Color::Green)
    };
    let success = if t.requests == 0 {
        0.0
    } else {
        100.0 * t.ok as f64 / t.requests as f64
    };
    let numbers = format!(
        "{} requests · {success:.2}% ok · p99 {} ms",
        rampdeck_base::fmt::group(t.requests),
        crate::ui::view::fmt_ms(t.latency.p99)
    );
    let quit = || {
        vec![
            Span::styled(" · ", theme.dim()),
            Span::styled("q", theme.bold()),
            Span::styled(" to quit", theme.dim()),
        ]
    };
    let head = |with_numbers: bool| {
        let mut v = vec![
            Span::styled(" FINISHED ", theme.state(RunState::Finished)),
            Span::raw(" "),
            Span::styled(verdict.clone(), style),
        ];
        if with_numbers {
            v.push(Span::styled(" · ", theme.dim()));
            v.push(Span::raw(numbers.clone()));
        }
        v.extend(quit());
        v
    };
    super::fit(width, vec![head(true), head(false)])
}
