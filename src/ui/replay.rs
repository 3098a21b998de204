//! `rampdeck replay`: the console over a recorded run, with playback keys instead of run control.

use std::sync::Arc;
use std::time::Instant;

use super::app::{Action, App, Command, RunView};
use super::console::ConsoleError;
use super::draw::{draw, DrawContext};
use super::keymap;
use super::terminal::{self, Flow, Screen};
use super::theme::Theme;
use super::view::fmt_clock;
use crate::run::replay::Replay;

pub fn run(replay: Replay, fps: u32, theme: Theme) -> Result<(), ConsoleError> {
    let mut app = App::for_replay(Arc::new(replay.recording.plan.clone()));
    if replay.recording.truncated {
        app.notice = Some((
            "the log ends in a cut-off line (a killed run): replaying what was written".into(),
            Instant::now(),
        ));
    }
    let mut screen = Playback {
        replay,
        app,
        theme,
        last: Instant::now(),
    };
    terminal::run(&mut screen, fps).map_err(ConsoleError::Terminal)
}

/// A recorded run as a screen of the terminal loop.
struct Playback {
    replay: Replay,
    app: App,
    theme: Theme,
    last: Instant,
}

impl Screen for Playback {
    fn update(&mut self, now: Instant) -> Flow {
        self.replay.advance(now - self.last);
        self.last = now;
        Flow::Continue
    }

    fn draw(&mut self, f: &mut ratatui::Frame, now: Instant) {
        let r = &self.replay;
        self.app.replay_status = Some(format!(
            "REPLAY {} {}x {} / {}",
            if r.playing { "▶" } else { "⏸" },
            r.speed,
            fmt_clock(r.position),
            fmt_clock(r.recording.duration)
        ));
        // Live-only parts (the log widget) have nothing to show in a replay.
        let ctx = DrawContext {
            now,
            theme: self.theme,
            live_log: false,
        };
        draw(f, &self.app, &self.replay.model, &ctx);
    }

    fn key(&mut self, key: &crossterm::event::KeyEvent) -> Flow {
        let Some(action) = keymap::action(&self.app.mode, key) else {
            return Flow::Continue;
        };
        match action {
            Action::PlayPause => self.replay.toggle(),
            Action::Step(forward) => self.replay.step(forward),
            Action::Faster(up) => self.replay.faster(up),
            Action::NextEvent => {
                let msg = self
                    .replay
                    .next_event()
                    .unwrap_or_else(|| "no more events".into());
                self.app.notice = Some((msg, Instant::now()));
            }
            other => {
                let view = RunView {
                    now: Instant::now(),
                    level: 0.0,
                    finished: true,
                    paused: !self.replay.playing,
                };
                if self.app.update(other, &view).contains(&Command::Quit) {
                    return Flow::Leave;
                }
            }
        }
        Flow::Continue
    }
}
