//! Stat probes: per stat command or URL, the last duration, p50/p95/p99, failures, and the last output.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Color;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};
use ratatui::Frame;

use super::block;
use crate::probes::RunOutcome;
use crate::run::RunModel;
use crate::ui::theme::Theme;
use crate::ui::view::fmt_ms;

pub fn draw(f: &mut Frame, area: Rect, model: &RunModel, focused: bool, theme: Theme) {
    let b = block(" Stat probes ", focused, theme);
    if model.probes.is_empty() {
        let text = vec![
            Line::styled(
                "No stat command or HTTP probe in this profile.",
                theme.bold(),
            ),
            Line::styled("Time your own tools while the load runs:", theme.dim()),
            Line::raw("[[stat]]  command = [\"linkerd\", \"viz\", \"stat\", \"deploy\"]"),
            Line::raw("[[probe]]  url = \"http://…/dashboard\""),
        ];
        f.render_widget(
            Paragraph::new(text).wrap(Wrap { trim: true }).block(b),
            area,
        );
        return;
    }
    let inner = b.inner(area);
    f.render_widget(b, area);
    let rows = (model.probes.len() as u16 * 2).min(inner.height);
    let [table, output] =
        Layout::vertical([Constraint::Length(rows), Constraint::Min(0)]).areas(inner);
    let mut lines = Vec::new();
    for p in &model.probes {
        let ms = |q: f64| fmt_ms(p.durations.value_at_quantile(q) as f64 / 1000.0);
        let (last, style) = match &p.last {
            None => ("waiting".to_owned(), theme.dim()),
            Some((took, RunOutcome::Ok)) => (
                format!("{}ms ok", fmt_ms(took.as_secs_f64() * 1000.0)),
                theme.fg(Color::Green),
            ),
            Some((took, RunOutcome::Failed(why))) => (
                format!("{}ms failed: {why}", fmt_ms(took.as_secs_f64() * 1000.0)),
                theme.fg(Color::Red),
            ),
            Some((_, RunOutcome::TimedOut)) => ("timed out".to_owned(), theme.fg(Color::Red)),
        };
        lines.push(Line::from(vec![
            Span::styled(format!("{} ", p.name), theme.bold()),
            Span::styled(last, style.add_modifier(ratatui::style::Modifier::BOLD)),
        ]));
        let (p50, p95, p99) = (ms(0.5), ms(0.95), ms(0.99));
        let mut bad = Vec::new();
        if p.failures > 0 {
            bad.push(Span::styled(
                format!(" · {} failed", p.failures),
                theme.fg(Color::Red),
            ));
        }
        if p.timeouts > 0 {
            bad.push(Span::styled(
                format!(" · {} timed out", p.timeouts),
                theme.fg(Color::Red),
            ));
        }
        let form = |text: String| {
            let mut v = vec![Span::styled(text, theme.dim())];
            v.extend(bad.iter().cloned());
            v
        };
        lines.push(super::fit(
            table.width,
            vec![
                form(format!(
                    "  p50 {p50} p95 {p95} p99 {p99} ms · {} runs",
                    p.runs
                )),
                form(format!("  p50 {p50} p95 {p95} p99 {p99} ms")),
                form(format!("  p50 {p50} p99 {p99} ms")),
                form(format!("p99 {p99} ms")),
            ],
        ));
    }
    f.render_widget(Paragraph::new(lines), table);
    if let Some(p) = model.probes.iter().find(|p| !p.output.is_empty()) {
        let mut out = vec![Line::styled(format!("── {} ──", p.name), theme.dim())];
        let room = output.height.saturating_sub(1) as usize;
        out.extend(
            p.output
                .iter()
                .rev()
                .take(room)
                .rev()
                .map(|l| Line::raw(l.clone())),
        );
        f.render_widget(Paragraph::new(out), output);
    }
}
