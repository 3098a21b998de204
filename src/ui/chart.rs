//! Time-series charts on a braille `Canvas`, with labelled vertical event markers and axis ticks.
//!
//! ratatui's `Chart` cannot place text at a data coordinate, and event
//! markers need labels, so charts are drawn on a `Canvas`: lines per series,
//! a vertical line and a label per labelled event, a tick (`▴`) on the
//! baseline for the others, y labels at the top, middle and bottom, and a
//! row of run-clock times under a tall enough chart. Labels never overlap
//! and keep off the data where a row allows; the newest is placed first, and
//! one that fits nowhere is left out (its line stays; the Events pane has
//! its words).

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Color, Style};
use ratatui::symbols::Marker;
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
    pub scale: Scale,
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

/// How values map to rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Scale {
    #[default]
    Linear,
    /// Log10 from a power of ten below the smallest value: after a stall,
    /// p50..p99 keep their own rows instead of collapsing into the bottom one.
    Log,
}

/// Charts this tall get a time axis (a row of run-clock times) and a
/// middle y label; shorter ones keep every row for data.
pub const TIME_AXIS_MIN_HEIGHT: u16 = 5;
pub const TIME_AXIS_MIN_WIDTH: u16 = 24;

/// `secs` of run clock as the header writes it (`0m45s`).
fn fmt_clock(secs: f64) -> String {
    super::view::fmt_clock(std::time::Duration::from_secs_f64(secs.max(0.0).round()))
}

/// Maps data to the canvas' cells, as ratatui's braille grid does (two
/// dots a column, four a row), so labels can be kept off the lines.
struct Grid {
    x: (f64, f64),
    y: (f64, f64),
    cols: usize,
    rows: usize,
}

impl Grid {
    fn dot(&self, (x, y): (f64, f64)) -> (f64, f64) {
        let dx = (self.x.1 - self.x.0).max(1e-12);
        let dy = (self.y.1 - self.y.0).max(1e-12);
        (
            (x - self.x.0) / dx * (self.cols * 2 - 1) as f64,
            (self.y.1 - y) / dy * (self.rows * 4 - 1) as f64,
        )
    }

    /// Every cell a segment from `a` to `b` passes through.
    fn mark(&self, busy: &mut [Vec<bool>], a: (f64, f64), b: (f64, f64)) {
        let (a, b) = (self.dot(a), self.dot(b));
        let steps = (b.0 - a.0).abs().max((b.1 - a.1).abs()).ceil().max(1.0) as usize;
        for k in 0..=steps {
            let t = k as f64 / steps as f64;
            let (dx, dy) = (a.0 + (b.0 - a.0) * t, a.1 + (b.1 - a.1) * t);
            if dx < 0.0 || dy < 0.0 {
                continue;
            }
            let (c, r) = ((dx / 2.0) as usize, (dy / 4.0) as usize);
            if let Some(cell) = busy.get_mut(r).and_then(|row| row.get_mut(c)) {
                *cell = true;
            }
        }
    }
}

impl Widget for TimeChart<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        if area.width < 4 || area.height < 2 {
            return;
        }
        // A narrow chart (the control plane's pair) keeps its top label only:
        // three times and three values would cover its data.
        let full = area.width >= TIME_AXIS_MIN_WIDTH;
        let with_axis = area.height >= TIME_AXIS_MIN_HEIGHT && full;
        let plot = Rect {
            height: area.height - u16::from(with_axis),
            ..area
        };
        let color = |c: Color| if self.theme.color { c } else { Color::Reset };
        let buckets = plot.width as usize * 2;
        let mut series: Vec<(Color, Vec<(f64, f64)>)> = self
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
        let values = || series.iter().flat_map(|(_, p)| p.iter().map(|p| p.1));
        let peak = values().fold(0.0, f64::max);
        let x = self.x;
        let y_max = nice_max(peak);
        // On a log scale values are drawn as their log10, from a power of
        // ten at or below the smallest positive value.
        let (y_bounds, y_at) = match self.scale {
            Scale::Linear => ((0.0, y_max), None),
            Scale::Log => {
                let low = values().filter(|v| *v > 0.0).fold(f64::INFINITY, f64::min);
                let lo = if low.is_finite() {
                    10f64.powf(low.log10().floor())
                } else {
                    y_max / 10.0
                }
                .min(y_max / 10.0);
                ((lo.log10(), y_max.log10()), Some(lo))
            }
        };
        if let Some(lo) = y_at {
            for (_, points) in &mut series {
                for p in points.iter_mut() {
                    p.1 = p.1.max(lo).log10();
                }
            }
        }
        let top = y_bounds.1;
        let value_of = |row_y: f64| match self.scale {
            Scale::Linear => row_y,
            Scale::Log => 10f64.powf(row_y),
        };
        let label_style = self.theme.dim();
        let marker_style = Style::new().fg(color(Theme::MARKER));
        Canvas::default()
            .marker(Marker::Braille)
            .x_bounds([x.0, x.1])
            .y_bounds([y_bounds.0, y_bounds.1])
            .paint(|ctx| {
                for m in self.markers.iter().filter(|m| m.label.is_some()) {
                    ctx.draw(&Segment {
                        x1: m.x,
                        y1: y_bounds.0,
                        x2: m.x,
                        y2: top,
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
                            y1: w[0].1.min(top),
                            x2: w[1].0,
                            y2: w[1].1.min(top),
                            color: *c,
                        });
                    }
                }
            })
            .render(plot, buf);

        // Text goes straight into the buffer, cell-exact, over the lines.
        let (cols, rows) = (plot.width as usize, plot.height as usize);
        let grid = Grid {
            x,
            y: y_bounds,
            cols,
            rows,
        };
        let mut busy = vec![vec![false; cols]; rows];
        for (_, points) in &series {
            for w in points.windows(2) {
                grid.mark(
                    &mut busy,
                    (w[0].0, w[0].1.min(top)),
                    (w[1].0, w[1].1.min(top)),
                );
            }
        }
        let mut taken: Vec<Vec<(usize, usize)>> = vec![Vec::new(); rows];
        let mut put = |row: usize,
                       col: usize,
                       text: &str,
                       style: Style,
                       taken: &mut Vec<Vec<(usize, usize)>>| {
            let len = text.chars().count();
            buf.set_string(plot.x + col as u16, plot.y + row as u16, text, style);
            taken[row].push((col, col + len));
        };
        // Y labels: top, middle (tall enough charts), bottom.
        put(
            0,
            0,
            &(self.y_label)(value_of(top)),
            label_style,
            &mut taken,
        );
        if rows >= 5 && full {
            // A round value, on the row it falls in: half the top (linear),
            // or the power of ten nearest the middle (log).
            let mid = match self.scale {
                Scale::Linear => y_max / 2.0,
                Scale::Log => ((y_bounds.0 + top) / 2.0).round(),
            };
            let row = ((grid.dot((x.0, mid)).1 / 4.0) as usize).clamp(1, rows - 2);
            put(
                row,
                0,
                &(self.y_label)(value_of(mid)),
                label_style,
                &mut taken,
            );
        }
        if rows >= 3 && full {
            let bottom = match self.scale {
                Scale::Linear => "0".to_owned(),
                Scale::Log => (self.y_label)(value_of(y_bounds.0)),
            };
            put(rows - 1, 0, &bottom, label_style, &mut taken);
        }
        let col_of = |mx: f64| {
            let span = (x.1 - x.0).max(1e-9);
            (((mx - x.0) / span) * (cols.saturating_sub(1)) as f64)
                .round()
                .clamp(0.0, cols.saturating_sub(1) as f64) as usize
        };
        for m in self.markers.iter().filter(|m| m.label.is_none()) {
            put(rows - 1, col_of(m.x), "▴", marker_style, &mut taken);
        }
        // Marker labels below the top label, off the data where a row allows.
        if rows >= 4 {
            let places = place_labels(self.markers, x, cols, &busy, &taken);
            for (m, place) in self.markers.iter().zip(places) {
                let (Some(label), Some((row, col))) = (&m.label, place) else {
                    continue;
                };
                put(row, col, label, marker_style, &mut taken);
            }
        }
        if with_axis {
            let axis_row = Rect {
                y: area.y + area.height - 1,
                height: 1,
                ..area
            };
            let (left, mid, right) = (fmt_clock(x.0), fmt_clock((x.0 + x.1) / 2.0), fmt_clock(x.1));
            let w = axis_row.width as usize;
            let mut line = vec![' '; w];
            let mut write = |at: usize, s: &str| {
                for (i, ch) in s.chars().enumerate() {
                    if let Some(c) = line.get_mut(at + i) {
                        *c = ch;
                    }
                }
            };
            write(0, &left);
            let mid_at = (w / 2).saturating_sub(mid.len() / 2);
            if mid_at > left.len() + 1 && mid_at + mid.len() + 1 < w.saturating_sub(right.len()) {
                write(mid_at, &mid);
            }
            write(w.saturating_sub(right.len()), &right);
            buf.set_string(
                axis_row.x,
                axis_row.y,
                line.iter().collect::<String>(),
                label_style,
            );
        }
    }
}

/// Where each labelled marker's label goes: `(row, first column)`, None
/// when it fits nowhere. The newest marker is placed first, so it is the
/// one that keeps its label in a crowd; a label goes right of its line, or
/// left of it at the right edge; rows are tried from the top, first one
/// free of data and labels, then one free of labels only. Row 0 and the
/// last row belong to the axis labels and ticks.
pub fn place_labels(
    markers: &[ChartMarker],
    x: (f64, f64),
    cols: usize,
    busy: &[Vec<bool>],
    taken: &[Vec<(usize, usize)>],
) -> Vec<Option<(usize, usize)>> {
    let rows = busy.len();
    let span = (x.1 - x.0).max(1e-9);
    let mut taken: Vec<Vec<(usize, usize)>> = taken.to_vec();
    let mut out = vec![None; markers.len()];
    let mut order: Vec<usize> = (0..markers.len())
        .filter(|&i| markers[i].label.is_some())
        .collect();
    order.sort_by(|&a, &b| markers[b].x.total_cmp(&markers[a].x));
    for i in order {
        let Some(label) = &markers[i].label else {
            continue;
        };
        let len = label.chars().count();
        let at = (((markers[i].x - x.0) / span) * cols.saturating_sub(1) as f64)
            .round()
            .clamp(0.0, cols.saturating_sub(1) as f64) as usize;
        let start = if at + 1 + len <= cols {
            at + 1
        } else if at >= len {
            at - len
        } else {
            continue;
        };
        let end = start + len;
        // One column of air between labels.
        let free = |row: usize, taken: &[Vec<(usize, usize)>]| {
            taken[row].iter().all(|&(a, b)| end < a || start > b)
        };
        let clear = |row: usize| !busy[row][start..end].iter().any(|b| *b);
        let label_rows = 1..rows.saturating_sub(1);
        let row = label_rows
            .clone()
            .find(|&r| free(r, &taken) && clear(r))
            .or_else(|| label_rows.clone().find(|&r| free(r, &taken)));
        if let Some(row) = row {
            taken[row].push((start, end));
            out[i] = Some((row, start));
        }
    }
    out
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
    fn labels_never_overlap_the_newest_wins_and_the_crowded_one_is_left_out() {
        // 100 s over 50 columns, 5 rows (label rows 1..=3).
        let busy = vec![vec![false; 50]; 5];
        let ms = [
            marker(0.0, Some("warm")),    // column 0: right of it, 1-5
            marker(2.0, Some("set 400")), // column 1
            marker(4.0, None),            // a tick takes no row
            marker(4.0, Some("pause")),   // column 2
            marker(6.0, Some("resume")),  // column 3: placed before the older ones
            marker(20.0, Some("shop")),   // column 10
            marker(99.0, Some("late")),   // column 49: left of its line
        ];
        let places = place_labels(&ms, (0.0, 100.0), 50, &busy, &vec![Vec::new(); 5]);
        assert_eq!(places[6], Some((1, 45)), "the newest, left of its line");
        assert_eq!(places[5], Some((1, 11)));
        // Ends a column before shop's: it shares the top row.
        assert_eq!(places[4], Some((1, 4)));
        assert_eq!(places[3], Some((2, 3)));
        assert_eq!(places[2], None, "a tick");
        assert_eq!(places[1], Some((3, 2)));
        // No row is left for the oldest.
        assert_eq!(places[0], None);
    }

    #[test]
    fn a_label_takes_a_row_clear_of_the_data() {
        // The data run along row 1 over columns 0-20: the label goes below.
        let mut busy = vec![vec![false; 40]; 6];
        busy[1][..20].fill(true);
        let ms = [marker(10.0, Some("deploy"))];
        let places = place_labels(&ms, (0.0, 39.0), 40, &busy, &vec![Vec::new(); 6]);
        assert_eq!(places[0], Some((2, 11)));
        // Data on every label row: the first row free of labels.
        let busy = vec![vec![true; 40]; 6];
        let places = place_labels(&ms, (0.0, 39.0), 40, &busy, &vec![Vec::new(); 6]);
        assert_eq!(places[0], Some((1, 11)));
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
