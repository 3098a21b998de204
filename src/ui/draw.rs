//! The whole screen: layout at any size, zoom, the too-small message, overlays.

use std::time::Instant;

use ratatui::layout::{Alignment, Constraint, Layout, Rect};
use ratatui::text::Line;
use ratatui::widgets::{Paragraph, Wrap};
use ratatui::Frame;

use super::app::{App, Pane};
use super::panes::{
    agents, capacity, connections, control_plane, delivery, events, footer, header, latency,
    overlay, stat, success, throughput,
};
use super::theme::Theme;
use crate::run::RunModel;

/// Below this the panes would be garbled; a message is shown instead.
pub const MIN_WIDTH: u16 = 70;
pub const MIN_HEIGHT: u16 = 20;

pub struct DrawContext {
    pub now: Instant,
    pub theme: Theme,
    /// Draw the tui-logger widget (off in snapshot tests: its buffer is process-global).
    pub live_log: bool,
}

pub fn draw(f: &mut Frame, app: &App, model: &RunModel, ctx: &DrawContext) {
    let area = f.area();
    let theme = ctx.theme;
    if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
        let msg = vec![
            Line::styled("Terminal too small", theme.bold()),
            Line::raw(format!(
                "{}x{}: rampdeck needs at least {MIN_WIDTH}x{MIN_HEIGHT}.",
                area.width, area.height
            )),
            Line::styled("The run goes on; q q quits.", theme.dim()),
        ];
        let y = area.height.saturating_sub(3) / 2;
        let r = Rect {
            y: area.y + y,
            height: area.height.min(3),
            ..area
        };
        f.render_widget(
            Paragraph::new(msg)
                .alignment(Alignment::Center)
                .wrap(Wrap { trim: true }),
            r,
        );
        return;
    }
    let [head, body, foot] = Layout::vertical([
        Constraint::Length(3),
        Constraint::Min(0),
        Constraint::Length(1),
    ])
    .areas(area);
    header::draw(f, head, app, model, theme);
    if app.zoom {
        pane(f, body, app.focus, app, model, ctx);
    } else {
        let layout = if model.connections.is_some() {
            connections_panes(body).to_vec()
        } else {
            panes(body).to_vec()
        };
        for (p, r) in layout {
            // A capacity search and a distributed run's agents take the
            // right part of the events row.
            let beside: Vec<Pane> = [
                (model.search.is_some(), Pane::Capacity),
                (model.agents.is_some(), Pane::Agents),
                (model.delivery.is_some(), Pane::Delivery),
            ]
            .into_iter()
            .filter_map(|(on, p)| on.then_some(p))
            .collect();
            if p == Pane::Events && !beside.is_empty() {
                let events_share = match beside.as_slice() {
                    [Pane::Capacity] => 55,
                    // The agents' table needs its columns.
                    [_] => 40,
                    _ => 34,
                };
                let mut widths = vec![Constraint::Percentage(events_share)];
                widths.extend(beside.iter().map(|_| Constraint::Fill(1)));
                let areas = Layout::horizontal(widths).split(r);
                pane(f, areas[0], p, app, model, ctx);
                for (i, b) in beside.iter().enumerate() {
                    pane(f, areas[i + 1], *b, app, model, ctx);
                }
            } else {
                pane(f, r, p, app, model, ctx);
            }
        }
    }
    footer::draw(f, foot, app, model.state, ctx.now, theme);
    overlay::draw(f, area, app, model, theme);
}

/// The body's three rows: charts, the small panes, events. On a short
/// screen (80x24) the events keep five lines and the small panes three, and
/// the charts take what is left; taller, the charts get half.
fn rows(body: Rect) -> [Constraint; 3] {
    if body.height < 26 {
        [
            Constraint::Min(6),
            Constraint::Length(5),
            Constraint::Length(7),
        ]
    } else {
        [
            Constraint::Fill(4),
            Constraint::Fill(2),
            Constraint::Fill(2),
        ]
    }
}

/// Where each pane goes in the body (the screen less header and footer).
/// Charts get the most room; at small sizes the others shrink first.
pub fn panes(body: Rect) -> [(Pane, Rect); 6] {
    let [top, mid, bottom] = Layout::vertical(rows(body)).areas(body);
    let [tp, lat] = Layout::horizontal([Constraint::Fill(1); 2]).areas(top);
    // Wide, the success pane's big digits need less than 40%: a stat
    // command's table line gets the room.
    // The control plane's two numbers need less than the stat table.
    // At 80 columns the success pane says "total" for "since warmup", so
    // the stat table keeps p50, p95 and p99.
    let (success, cp) = if mid.width >= 100 { (34, 30) } else { (36, 26) };
    let [succ, cp, st] = Layout::horizontal([
        Constraint::Percentage(success),
        Constraint::Percentage(cp),
        Constraint::Fill(1),
    ])
    .areas(mid);
    [
        (Pane::Throughput, tp),
        (Pane::Latency, lat),
        (Pane::Success, succ),
        (Pane::ControlPlane, cp),
        (Pane::Stat, st),
        (Pane::Events, bottom),
    ]
}

/// A connections run's layout: its pane where the request panes go.
pub fn connections_panes(body: Rect) -> [(Pane, Rect); 4] {
    let [top, mid, bottom] = Layout::vertical(rows(body)).areas(body);
    let [cp, st] = Layout::horizontal([Constraint::Fill(1); 2]).areas(mid);
    [
        (Pane::Connections, top),
        (Pane::ControlPlane, cp),
        (Pane::Stat, st),
        (Pane::Events, bottom),
    ]
}

/// The body's area on a screen of `area`.
pub fn body(area: Rect) -> Rect {
    let [_, body, _] = Layout::vertical([
        Constraint::Length(3),
        Constraint::Min(0),
        Constraint::Length(1),
    ])
    .areas(area);
    body
}

pub fn pane(f: &mut Frame, r: Rect, p: Pane, app: &App, model: &RunModel, ctx: &DrawContext) {
    let focused = app.focus == p;
    let theme = ctx.theme;
    match p {
        Pane::Throughput => throughput::draw(f, r, app, model, focused, theme),
        Pane::Latency => latency::draw(f, r, app, model, focused, theme),
        Pane::Success => success::draw(f, r, model, focused, theme),
        Pane::ControlPlane => control_plane::draw(f, r, app, model, focused, theme),
        Pane::Stat => stat::draw(f, r, model, focused, theme),
        Pane::Events => events::draw(f, r, app, model, ctx.live_log, focused, theme),
        Pane::Capacity => capacity::draw(f, r, model, focused, theme),
        Pane::Agents => agents::draw(f, r, model, focused, theme),
        Pane::Delivery => delivery::draw(f, r, app, model, focused, theme),
        Pane::Connections => connections::draw(f, r, app, model, focused, theme),
    }
}
