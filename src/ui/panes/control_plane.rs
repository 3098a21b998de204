//! Control plane: CPU (cores) and memory per component over time, current and max, or why a source fails.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Color;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};
use ratatui::Frame;

use super::{block, fit};
use crate::run::RunModel;
use crate::ui::app::App;
use crate::ui::chart::{Reduce, Series, TimeChart};
use crate::ui::theme::Theme;
use crate::ui::view::{self, fmt_ms};
use rampdeck_base::fmt::bytes;

pub fn draw(f: &mut Frame, area: Rect, app: &App, model: &RunModel, focused: bool, theme: Theme) {
    let b = block(" Control plane ", focused, theme);
    if model.components.is_empty() {
        let text = vec![
            Line::styled("No resource sources in this profile.", theme.bold()),
            Line::styled("Add one to see its CPU and memory under load:", theme.dim()),
            Line::raw("[[source]]  name = \"destination\""),
            Line::raw("kind = \"scrape\"  url = \"http://…/metrics\""),
            Line::styled(
                "or kind = \"promql\" with cpu_query / memory_query.",
                theme.dim(),
            ),
        ];
        f.render_widget(
            Paragraph::new(text).wrap(Wrap { trim: true }).block(b),
            area,
        );
        return;
    }
    let inner = b.inner(area);
    f.render_widget(b, area);
    let rows = model.components.len() as u16 * 2;
    let [table, charts] = Layout::vertical([
        Constraint::Length(rows.min(inner.height)),
        Constraint::Min(0),
    ])
    .areas(inner);
    let mut lines: Vec<Line> = Vec::new();
    for (c, &color) in model.components.iter().zip(Theme::SERIES.iter().cycle()) {
        let name = Span::styled(
            format!("{} ", c.name),
            theme.fg(color).add_modifier(ratatui::style::Modifier::BOLD),
        );
        if let Some(p) = &c.problem {
            lines.push(Line::from(vec![
                name,
                Span::styled("failing", theme.fg(Color::Red)),
            ]));
            lines.push(Line::styled(format!("  {p}"), theme.fg(Color::Red)));
            continue;
        }
        if c.samples == 0 {
            lines.push(Line::from(vec![
                name,
                Span::styled("waiting for the first sample", theme.dim()),
            ]));
            lines.push(Line::raw(""));
            continue;
        }
        let cpu = c
            .cpu
            .last()
            .map_or_else(|| "-".to_owned(), |p| format!("{:.3}", p.1));
        let mem = c
            .memory
            .last()
            .map_or_else(|| "-".to_owned(), |p| bytes(p.1));
        let took = fmt_ms(c.took.value_at_quantile(0.5) as f64 / 1000.0);
        let w = table.width;
        lines.push(fit(
            w,
            vec![
                vec![
                    name.clone(),
                    Span::styled(format!("{took}ms per scrape"), theme.dim()),
                ],
                vec![name.clone(), Span::styled(format!("{took}ms"), theme.dim())],
                vec![name],
            ],
        ));
        let (cpu_max, mem_max) = (format!("{:.3}", c.cpu_max), bytes(c.memory_max));
        let dim = |s: String| Span::styled(s, theme.dim());
        let bold = |s: &str| Span::styled(s.to_owned(), theme.bold());
        lines.push(fit(
            w,
            vec![
                vec![
                    dim("  cpu ".into()),
                    bold(&cpu),
                    dim(format!(" (max {cpu_max})  mem ")),
                    bold(&mem),
                    dim(format!(" (max {mem_max})")),
                ],
                vec![
                    dim("  cpu ".into()),
                    bold(&cpu),
                    dim("  mem ".into()),
                    bold(&mem),
                    dim(format!(" (max {mem_max})")),
                ],
                vec![
                    dim("  cpu ".into()),
                    bold(&cpu),
                    dim("  mem ".into()),
                    bold(&mem),
                ],
                vec![
                    dim("cpu ".into()),
                    bold(&cpu),
                    dim(" mem ".into()),
                    bold(&mem),
                ],
                vec![bold(&cpu), dim(" ".into()), bold(&mem)],
            ],
        ));
    }
    f.render_widget(Paragraph::new(lines), table);
    if charts.height < 4 {
        return;
    }
    let x = view::x_range(model, app.window);
    let [cpu_area, mem_area] = Layout::horizontal([Constraint::Fill(1); 2]).areas(charts);
    let series = |get: fn(
        &crate::run::probes::ComponentView,
    ) -> &crate::stats::Series<(f64, f64)>|
     -> Vec<Series> {
        model
            .components
            .iter()
            .zip(Theme::SERIES.iter().cycle())
            .map(|(c, &color)| Series {
                color,
                points: get(c).iter().copied().filter(|p| p.0 >= x.0).collect(),
                reduce: Reduce::Max,
            })
            .collect()
    };
    let cores = |v: f64| format!("{v:.2} cores");
    let mem = |v: f64| bytes(v);
    f.render_widget(
        TimeChart {
            series: series(|c| &c.cpu),
            markers: &[],
            x,
            y_label: &cores,
            scale: crate::ui::chart::Scale::Linear,
            theme,
        },
        cpu_area,
    );
    f.render_widget(
        TimeChart {
            series: series(|c| &c.memory),
            markers: &[],
            x,
            y_label: &mem,
            scale: crate::ui::chart::Scale::Linear,
            theme,
        },
        mem_area,
    );
}
