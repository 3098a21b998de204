//! `rampdeck replay`: the console over a recorded run, with playback keys instead of run control.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crossterm::event::{self, Event, KeyEventKind};

use super::app::{Action, App, Command, RunView};
use super::console::ConsoleError;
use super::draw::{draw, DrawContext};
use super::keymap;
use super::theme::Theme;
use super::view::fmt_clock;
use crate::run::replay::Replay;

pub fn run(mut replay: Replay, fps: u32, theme: Theme) -> Result<(), ConsoleError> {
    let mut terminal = ratatui::try_init().map_err(ConsoleError::Terminal)?;
    let mut app = App::for_replay(Arc::new(replay.recording.plan.clone()));
    if replay.recording.truncated {
        app.notice = Some((
            "the log ends in a cut-off line (a killed run): replaying what was written".into(),
            Instant::now(),
        ));
    }
    let frame = Duration::from_secs_f64(1.0 / fps.clamp(1, 60) as f64);
    let (mut last, mut next_frame) = (Instant::now(), Instant::now());
    let result = loop {
        let now = Instant::now();
        replay.advance(now - last);
        last = now;
        if now >= next_frame {
            app.replay_status = Some(format!(
                "REPLAY {} {}x {} / {}",
                if replay.playing { "▶" } else { "⏸" },
                replay.speed,
                fmt_clock(replay.position),
                fmt_clock(replay.recording.duration)
            ));
            // Live-only parts (the log widget) have nothing to show in a replay.
            let ctx = DrawContext {
                now,
                theme,
                live_log: false,
            };
            if let Err(e) = terminal.draw(|f| draw(f, &app, &replay.model, &ctx)) {
                break Err(ConsoleError::Terminal(e));
            }
            next_frame = now + frame;
        }
        match event::poll(next_frame.saturating_duration_since(Instant::now())) {
            Ok(false) => continue,
            Ok(true) => {}
            Err(e) => break Err(ConsoleError::Terminal(e)),
        }
        let key = match event::read() {
            Ok(Event::Key(k)) if k.kind != KeyEventKind::Release => k,
            Ok(_) => continue,
            Err(e) => break Err(ConsoleError::Terminal(e)),
        };
        let Some(action) = keymap::action(&app.mode, &key) else {
            continue;
        };
        match action {
            Action::PlayPause => replay.toggle(),
            Action::Step(forward) => replay.step(forward),
            Action::Faster(up) => replay.faster(up),
            Action::NextEvent => {
                let msg = replay
                    .next_event()
                    .unwrap_or_else(|| "no more events".into());
                app.notice = Some((msg, Instant::now()));
            }
            other => {
                let view = RunView {
                    now: Instant::now(),
                    level: 0.0,
                    finished: true,
                    paused: !replay.playing,
                };
                if app.update(other, &view).contains(&Command::Quit) {
                    break Ok(());
                }
            }
        }
        next_frame = Instant::now();
    };
    ratatui::restore();
    result
}
