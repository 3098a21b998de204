//! The one terminal loop: raw mode and the alternate screen, frames at a rate, keys to the screen, restore on every exit.
//!
//! The live console, the replay and the scenario console are three
//! `Screen`s driven by this loop, so they poll, draw, redraw on a key or a
//! resize and restore the terminal the same way (ratatui's panic hook
//! restores it on a panic too).

use std::time::{Duration, Instant};

use crossterm::event::{self, Event, KeyEvent, KeyEventKind};
use ratatui::Frame;

/// What a screen wants after an update or a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    Continue,
    Leave,
}

pub trait Screen {
    /// Takes in what happened since the last call (new data, a signal).
    fn update(&mut self, now: Instant) -> Flow;
    fn draw(&mut self, f: &mut Frame, now: Instant);
    /// A key press (repeats included, releases not).
    fn key(&mut self, key: &KeyEvent) -> Flow;
}

/// Runs `screen` until it leaves; the terminal is restored on return.
pub fn run(screen: &mut impl Screen, fps: u32) -> std::io::Result<()> {
    let mut terminal = ratatui::try_init()?;
    let frame = Duration::from_secs_f64(1.0 / f64::from(fps.clamp(1, 60)));
    let mut next_frame = Instant::now();
    let result = loop {
        let now = Instant::now();
        if screen.update(now) == Flow::Leave {
            break Ok(());
        }
        if now >= next_frame {
            if let Err(e) = terminal.draw(|f| screen.draw(f, now)) {
                break Err(e);
            }
            next_frame = now + frame;
        }
        match event::poll(next_frame.saturating_duration_since(Instant::now())) {
            Ok(false) => continue,
            Ok(true) => {}
            Err(e) => break Err(e),
        }
        match event::read() {
            Ok(Event::Key(k)) if k.kind != KeyEventKind::Release => {
                if screen.key(&k) == Flow::Leave {
                    break Ok(());
                }
                // Show the effect of a key at once, not at the next frame.
                next_frame = Instant::now();
            }
            Ok(Event::Resize(..)) => next_frame = Instant::now(),
            Ok(_) => {}
            Err(e) => break Err(e),
        }
    };
    ratatui::restore();
    result
}
