//! Time-series charts on a braille `Canvas`, with labelled vertical event markers and axis ticks.
//!
//! ratatui's `Chart` cannot place text at a data coordinate, and event
//! markers need labels, so charts are drawn on a `Canvas`: lines per series,
//! a vertical line and a label per labelled event, a tick on the axis for
//! the others, y-axis labels in the corners. Labels never overlap: each
//! takes the first row where it fits, and one that fits nowhere is left out
//! (its line stays; the Events pane has its words).

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Color, Style};
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span};
use ratatui::widgets::canvas::{Canvas, Line as Segment};
use ratatui::widgets::Widget;

use super::theme::Theme;
use super::view::ChartMarker;

/// How points that fall into one screen column are combined.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reduce {
    /// Keep the highest (latency: a spike must not vanish when zoomed out).
    Max,
    /// Average (rates).
    Mean,
}

pub struct Series {
    pub color: Color,
    pub points: Vec<(f64, f64)>,
    pub reduce: Reduce,
}

pub struct TimeChart<'a> {
    pub series: Vec<Series>,
    /// Each event in view.
    pub markers: &'a [ChartMarker],
    pub x: (f64, f64),
    pub y_label: &'a dyn Fn(f64) -> String,
    pub theme: Theme,
}

/// Combines points into at most `buckets` by x, so drawing cost does not grow with history.
pub fn downsample(
    points: &[(f64, f64)],
    x: (f64, f64),
    buckets: usize,
    reduce: Reduce,
) -> Vec<(f64, f64)> {
    if points.len() <= buckets || buckets == 0 || x.1 <= x.0 {
        return points.to_vec();
    }
    let width = (x.1 - x.0) / buckets as f64;
    let mut out: Vec<(f64, f64)> = Vec::with_capacity(buckets);
    let (mut cur, mut sum, mut n, mut max, mut last_x) = (usize::MAX, 0.0, 0u32, f64::MIN, 0.0);
    let flush = |out: &mut Vec<(f64, f64)>, sum: f64, n: u32, max: f64, x: f64| {
        if n > 0 {
            out.push((
                x,
                if reduce == Reduce::Max {
                    max
                } else {
                    sum / n as f64
                },
            ));
        }
    };
    for &(px, py) in points {
        let b = (((px - x.0) / width).floor().max(0.0) as usize).min(buckets - 1);
        if b != cur {
            flush(&mut out, sum, n, max, last_x);
            (cur, sum, n, max) = (b, 0.0, 0, f64::MIN);
        }
        sum += py;
        n += 1;
        max = max.max(py);
        last_x = px;
    }
    flush(&mut out, sum, n, max, last_x);
    out
}

/// A y-axis maximum a little above `v`, on a round number.
pub fn nice_max(v: f64) -> f64 {
    if v.is_nan() || v <= 0.0 || v.is_infinite() {
        return 1.0;
    }
    let v = v * 1.1;
    let mag = 10f64.powf(v.log10().floor());
    for m in [1.0, 2.0, 2.5, 5.0, 10.0] {
        if m * mag >= v {
            return m * mag;
        }
    }
    10.0 * mag
}

impl Widget for TimeChart<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        if area.width < 4 || area.height < 2 {
            return;
        }
        let color = |c: Color| if self.theme.color { c } else { Color::Reset };
        let buckets = area.width as usize * 2;
        let series: Vec<(Color, Vec<(f64, f64)>)> = self
            .series
            .iter()
            .map(|s| {
                (
                    color(s.color),
                    downsample(&s.points, self.x, buckets, s.reduce),
                )
            })
            .collect();
        // The axis fits what is drawn, so a point averaged away cannot stretch it.
        let peak = series
            .iter()
            .flat_map(|(_, p)| p.iter().map(|p| p.1))
            .fold(0.0, f64::max);
        let (x, y_max) = (self.x, nice_max(peak));
        let top = (self.y_label)(y_max);
        let label_style = self.theme.dim();
        let marker_style = Style::new().fg(color(Theme::MARKER));
        Canvas::default()
            .marker(Marker::Braille)
            .x_bounds([x.0, x.1])
            .y_bounds([0.0, y_max])
            .paint(|ctx| {
                for m in self.markers.iter().filter(|m| m.label.is_some()) {
                    ctx.draw(&Segment {
                        x1: m.x,
                        y1: 0.0,
                        x2: m.x,
                        y2: y_max,
                        color: color(Theme::MARKER),
                    });
                }
                for (c, points) in &series {
                    if let [only] = points.as_slice() {
                        ctx.draw(&Segment {
                            x1: only.0,
                            y1: only.1,
                            x2: only.0,
                            y2: only.1,
                            color: *c,
                        });
                    }
                    for w in points.windows(2) {
                        ctx.draw(&Segment {
                            x1: w[0].0,
                            y1: w[0].1.min(y_max),
                            x2: w[1].0,
                            y2: w[1].1.min(y_max),
                            color: *c,
                        });
                    }
                }
                ctx.layer();
                ctx.print(
                    x.0,
                    y_max,
                    Line::from(Span::styled(top.clone(), label_style)),
                );
                for m in self.markers.iter().filter(|m| m.label.is_none()) {
                    ctx.print(m.x, 0.0, Line::from(Span::styled("▴", marker_style)));
                }
                // Labels start below the y-axis label and step down; too
                // short a chart gets lines only.
                if area.height >= 5 {
                    let rows = area.height as f64;
                    let levels = ((area.height - 1) / 2).clamp(1, 4) as usize;
                    let places = place_labels(self.markers, x, area.width, levels);
                    for (m, row) in self.markers.iter().zip(places) {
                        let (Some(label), Some(row)) = (&m.label, row) else {
                            continue;
                        };
                        let y = y_max * (1.0 - (1.0 + row as f64 + 0.5) / rows);
                        ctx.print(
                            m.x,
                            y,
                            Line::from(Span::styled(format!(" {label}"), marker_style)),
                        );
                    }
                }
            })
            .render(area, buf);
    }
}

/// The row (0 = top) for each labelled marker's label, None when it fits
/// on no row without touching another or the right edge.
pub fn place_labels(
    markers: &[ChartMarker],
    x: (f64, f64),
    width: u16,
    levels: usize,
) -> Vec<Option<usize>> {
    let span = (x.1 - x.0).max(1e-9);
    let cols = f64::from(width.saturating_sub(1));
    // The last column each row's labels reach so far.
    let mut taken: Vec<Option<u16>> = vec![None; levels];
    markers
        .iter()
        .map(|m| {
            let label = m.label.as_ref()?;
            let start = (((m.x - x.0) / span) * cols).round().clamp(0.0, cols) as u16;
            let end = start.saturating_add(label.chars().count() as u16 + 1);
            if end > width {
                return None;
            }
            let row = taken.iter().position(|t| t.is_none_or(|t| start > t))?;
            taken[row] = Some(end);
            Some(row)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn marker(x: f64, label: Option<&str>) -> ChartMarker {
        ChartMarker {
            x,
            label: label.map(str::to_owned),
        }
    }

    #[test]
    fn labels_never_overlap_and_the_crowded_one_is_left_out() {
        // 100 s over 50 columns: 2 s per column.
        let ms = [
            marker(0.0, Some("warm")),    // columns 0-4
            marker(2.0, Some("set 400")), // starts at 1: next row
            marker(4.0, None),            // a tick takes no row
            marker(4.0, Some("pause")),   // starts at 2: third row
            marker(6.0, Some("resume")),  // no row left
            marker(20.0, Some("shop")),   // column 10: top row is free again
            marker(99.0, Some("late")),   // would run past the right edge
        ];
        let rows = place_labels(&ms, (0.0, 100.0), 50, 3);
        assert_eq!(
            rows,
            vec![Some(0), Some(1), None, Some(2), None, Some(0), None]
        );
    }

    #[test]
    fn downsampling_keeps_spikes_with_max_and_levels_with_mean() {
        let points: Vec<(f64, f64)> = (0..1000)
            .map(|i| (i as f64, if i == 500 { 100.0 } else { 1.0 }))
            .collect();
        let max = downsample(&points, (0.0, 1000.0), 10, Reduce::Max);
        assert_eq!(max.len(), 10);
        assert_eq!(max.iter().filter(|p| p.1 == 100.0).count(), 1);
        let mean = downsample(&points, (0.0, 1000.0), 10, Reduce::Mean);
        assert!(mean.iter().all(|p| p.1 < 2.0));
    }

    #[test]
    fn nice_maxima() {
        assert_eq!(nice_max(0.0), 1.0);
        assert_eq!(nice_max(9.0), 10.0);
        assert_eq!(nice_max(430.0), 500.0);
        assert_eq!(nice_max(1900.0), 2500.0);
    }
}
