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
use crate::ui::view::fmt_ms as fmt_short;

/// Milliseconds as the pane writes them after "ms" or before "ms": whole
/// milliseconds from a second up ("3003", never "3.00s ms").
fn fmt_ms(v: f64) -> String {
    if v >= 1000.0 {
        format!("{v:.0}")
    } else {
        fmt_short(v)
    }
}

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
        // (long, short) forms of the last run; the reason for a failure
        // is in the Log pane too, so it is the first thing to go.
        let (last, short, style) = match &p.last {
            None => ("waiting".to_owned(), "waiting".to_owned(), theme.dim()),
            Some((took, RunOutcome::Ok)) => {
                let t = format!("{}ms", fmt_ms(took.as_secs_f64() * 1000.0));
                (format!("{t} ok"), t, theme.fg(Color::Green))
            }
            Some((took, RunOutcome::Failed(why))) => {
                let t = format!("{}ms", fmt_ms(took.as_secs_f64() * 1000.0));
                (
                    format!("{t} failed: {why}"),
                    format!("{t} failed"),
                    theme.fg(Color::Red),
                )
            }
            Some((_, RunOutcome::TimedOut)) => (
                "timed out".to_owned(),
                "timed out".to_owned(),
                theme.fg(Color::Red),
            ),
        };
        let style = style.add_modifier(ratatui::style::Modifier::BOLD);
        let name = |n: String| Span::styled(n, theme.bold());
        // A name may be shortened (with '…'); the duration never is.
        let room = (table.width as usize).saturating_sub(short.chars().count() + 1);
        let clipped = if p.name.chars().count() > room && room >= 4 {
            let head: String = p.name.chars().take(room - 1).collect();
            format!("{head}… ")
        } else {
            format!("{} ", p.name)
        };
        lines.push(super::fit(
            table.width,
            vec![
                vec![name(format!("{} ", p.name)), Span::styled(last, style)],
                vec![
                    name(format!("{} ", p.name)),
                    Span::styled(short.clone(), style),
                ],
                vec![name(clipped), Span::styled(short.clone(), style)],
                vec![Span::styled(short, style)],
            ],
        ));
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
                form(format!("p50 {p50} p95 {p95} p99 {p99} ms")),
                // 80x24: p95 stays, the unit goes (the pane's numbers are ms).
                form(format!("p50 {p50} p95 {p95} p99 {p99}")),
                form(format!("  p50 {p50} p99 {p99} ms")),
                form(format!("p99 {p99} ms")),
                // Failures and timeouts are in Events and the log too: they
                // go before a number would be cut.
                vec![Span::styled(
                    format!("p50 {p50} p95 {p95} p99 {p99}"),
                    theme.dim(),
                )],
                vec![Span::styled(format!("p50 {p50} p99 {p99} ms"), theme.dim())],
                vec![Span::styled(format!("p99 {p99} ms"), theme.dim())],
            ],
        ));
    }
    f.render_widget(Paragraph::new(lines), table);
    if let Some(p) = model.probes.iter().find(|p| !p.output.is_empty()) {
        let mut out = vec![Line::styled(format!("── {} ──", p.name), theme.dim())];
        let room = output.height.saturating_sub(1) as usize;
        let width = output.width as usize;
        let lines: Vec<String> = p.output.iter().map(|l| squeeze(l, width)).collect();
        // Rows a line takes once wrapped.
        let rows = |l: &String| l.chars().count().div_ceil(width.max(1)).max(1);
        // A table's rows mean nothing without its header: the first line
        // stays when it and at least the latest line fit; then as many of
        // the latest as fit.
        let mut shown: Vec<&String> = Vec::new();
        let mut left = room;
        let head = match lines.split_first() {
            Some((h, rest))
                if !rest.is_empty() && rows(h) + rest.last().map_or(0, rows) <= room =>
            {
                left -= rows(h);
                Some(h)
            }
            _ => None,
        };
        let body = if head.is_some() {
            &lines[1..]
        } else {
            &lines[..]
        };
        for l in body.iter().rev() {
            if rows(l) > left {
                break;
            }
            left -= rows(l);
            shown.push(l);
        }
        // A line taller than the room still shows its start.
        if shown.is_empty() {
            shown.extend(body.last());
        }
        shown.reverse();
        out.extend(head.into_iter().chain(shown).map(|l| Line::raw(l.clone())));
        // What still does not fit wraps: a command's numbers are never cut.
        f.render_widget(Paragraph::new(out).wrap(Wrap { trim: false }), output);
    }
}

/// A command's table line made to fit `width`: runs of spaces between
/// columns shrink to two, then to one, before anything would be cut.
pub fn squeeze(line: &str, width: usize) -> String {
    let mut s = line.trim_end().to_owned();
    for keep in [2, 1] {
        if s.chars().count() <= width {
            break;
        }
        let mut out = String::with_capacity(s.len());
        let mut run = 0;
        for c in s.chars() {
            if c == ' ' {
                run += 1;
                if run <= keep {
                    out.push(c);
                }
            } else {
                run = 0;
                out.push(c);
            }
        }
        s = out;
    }
    s
}

#[cfg(test)]
mod tests {
    #[test]
    fn table_lines_shrink_their_gaps_before_anything_is_cut() {
        let line = "web            1/1   100.00%   429.0rps           4ms";
        assert_eq!(super::squeeze(line, 80), line);
        assert_eq!(super::squeeze(line, 40), "web  1/1  100.00%  429.0rps  4ms");
        assert_eq!(super::squeeze(line, 30), "web 1/1 100.00% 429.0rps 4ms");
    }
}
