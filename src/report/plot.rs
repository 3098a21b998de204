//! SVG line charts (plotters) for reports: series over run time, with labelled event markers, and values under the cursor.
//!
//! Hovering: each chart carries a layer of transparent columns over its
//! plot area, each with an SVG `<title>` naming the x value and every
//! line's value there, which browsers show as a tooltip; no script, no
//! external asset, and the SVG stays one self-contained element.

use plotters::prelude::*;

pub struct Line<'a> {
    pub label: &'a str,
    pub color: RGBColor,
    pub points: Vec<(f64, f64)>,
}

pub const BLUE_: RGBColor = RGBColor(31, 119, 180);
pub const GREEN_: RGBColor = RGBColor(44, 160, 44);
pub const RED_: RGBColor = RGBColor(214, 39, 40);
pub const ORANGE_: RGBColor = RGBColor(255, 127, 14);
pub const GREY_: RGBColor = RGBColor(150, 150, 150);
pub const PURPLE_: RGBColor = RGBColor(148, 103, 189);
pub const PALETTE: [RGBColor; 5] = [BLUE_, GREEN_, ORANGE_, RED_, PURPLE_];

/// A chart of `lines` over seconds since the start, with a dashed vertical
/// line and a label per marker. Returns the SVG document.
pub fn line_chart(
    title: &str,
    y_desc: &str,
    lines: &[Line],
    markers: &[(f64, String)],
) -> Result<String, String> {
    shaded_line_chart(title, y_desc, lines, markers, &[])
}

/// `line_chart` with spans of x shaded yellow behind the lines (a
/// distributed run's intervals whose merged send rate fell short).
pub fn shaded_line_chart(
    title: &str,
    y_desc: &str,
    lines: &[Line],
    markers: &[(f64, String)],
    shade: &[(f64, f64)],
) -> Result<String, String> {
    let x_max = lines
        .iter()
        .flat_map(|l| l.points.iter().map(|p| p.0))
        .fold(1.0, f64::max);
    chart_with(
        title,
        ("seconds since start", 0.0, x_max, &|x| format!("{x:.1} s")),
        y_desc,
        lines,
        markers,
        shade,
    )
}

pub const SHADE_: RGBColor = RGBColor(255, 221, 87);

/// The x axis of `xy_chart`: its description, range, and how the hover names a value.
pub type XAxis<'a> = (&'a str, f64, f64, &'a dyn Fn(f64) -> String);

/// A chart of `lines` over any x axis (e.g. milliseconds from a flip).
pub fn xy_chart(
    title: &str,
    x: XAxis<'_>,
    y_desc: &str,
    lines: &[Line],
    markers: &[(f64, String)],
) -> Result<String, String> {
    chart_with(title, x, y_desc, lines, markers, &[])
}

fn chart_with(
    title: &str,
    (x_desc, x_min, x_max, fmt_x): XAxis<'_>,
    y_desc: &str,
    lines: &[Line],
    markers: &[(f64, String)],
    shade: &[(f64, f64)],
) -> Result<String, String> {
    let x_max = if x_max > x_min { x_max } else { x_min + 1.0 };
    let y_top = lines
        .iter()
        .flat_map(|l| l.points.iter().map(|p| p.1))
        .fold(0.0, f64::max);
    let y_max = if y_top > 0.0 { y_top * 1.15 } else { 1.0 };
    let mut svg = String::new();
    let hover;
    {
        let root = SVGBackend::with_string(&mut svg, (960, 320)).into_drawing_area();
        let err = |e: DrawingAreaErrorKind<_>| format!("drawing '{title}': {e}");
        root.fill(&WHITE).map_err(err)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(32)
            .y_label_area_size(64)
            .build_cartesian_2d(x_min..x_max, 0f64..y_max)
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc(x_desc)
            .y_desc(y_desc)
            .light_line_style(WHITE.mix(0.0))
            .draw()
            .map_err(err)?;
        chart
            .draw_series(shade.iter().map(|&(a, b)| {
                Rectangle::new(
                    [(a.max(x_min), 0.0), (b.min(x_max), y_max)],
                    SHADE_.mix(0.35).filled(),
                )
            }))
            .map_err(err)?;
        // Each label takes the first of four rows where it clears the one
        // before it; one that fits nowhere is left out (its line stays, and
        // the events table has its words).
        const ROWS: usize = 4;
        let mut row_end = [i32::MIN; ROWS];
        for (t, label) in markers {
            let style = ShapeStyle::from(&PURPLE_.mix(0.6)).stroke_width(1);
            chart
                .draw_series(LineSeries::new(vec![(*t, 0.0), (*t, y_max)], style))
                .map_err(err)?;
            let (px, _) = chart.backend_coord(&(*t, 0.0));
            // About 6 px per character at 11 px.
            let width = 6 * label.chars().count() as i32 + 4;
            let Some(row) = row_end.iter().position(|&end| px > end) else {
                continue;
            };
            row_end[row] = px + width;
            let y = y_max * (0.97 - 0.07 * row as f64);
            chart
                .draw_series(std::iter::once(Text::new(
                    label.clone(),
                    (*t, y),
                    ("sans-serif", 11).into_font().color(&PURPLE_),
                )))
                .map_err(err)?;
        }
        // The legend goes where the newest data are not: a rise at the end
        // (the part a reader looks at first) is never hidden under it.
        let right = x_min + 0.6 * (x_max - x_min);
        let high_right = lines
            .iter()
            .flat_map(|l| l.points.iter())
            .any(|&(x, y)| x >= right && y > 0.55 * y_max);
        let legend = if high_right {
            SeriesLabelPosition::LowerRight
        } else {
            SeriesLabelPosition::UpperRight
        };
        draw_lines(&mut chart, lines, legend, title)?;
        hover = hover_layer(&chart, lines, (x_min, x_max), y_max, fmt_x, y_desc);
        root.present().map_err(err)?;
    }
    Ok(with_hover(svg, &hover))
}

/// One point per step against the offered level: passing steps green,
/// failing red (the caller's groups), the SLO's limit as a dashed line, a
/// logarithmic y axis (an overloaded step's latency is orders of magnitude
/// above a passing one's), and each point titled for hovering.
pub fn scatter_chart(
    title: &str,
    x_desc: &str,
    y_desc: &str,
    groups: &[Line],
    limit: Option<(&str, f64)>,
) -> Result<String, String> {
    let all = || groups.iter().flat_map(|g| g.points.iter().copied());
    let x_max = all().map(|p| p.0).fold(1.0, f64::max) * 1.05;
    let ys = all().map(|p| p.1).chain(limit.map(|l| l.1));
    let (y_lo, y_hi) = ys.fold((f64::MAX, 0.0f64), |(lo, hi), y| {
        (if y > 0.0 { lo.min(y) } else { lo }, hi.max(y))
    });
    let y_min = if y_lo < f64::MAX { y_lo / 2.0 } else { 0.1 };
    let y_max = (y_hi * 2.0).max(y_min * 10.0);
    let mut svg = String::new();
    let mut hover = String::from("<g class=\"hover\">");
    {
        let root = SVGBackend::with_string(&mut svg, (960, 320)).into_drawing_area();
        let err = |e: DrawingAreaErrorKind<_>| format!("drawing '{title}': {e}");
        root.fill(&WHITE).map_err(err)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(32)
            .y_label_area_size(64)
            .build_cartesian_2d(0f64..x_max, (y_min..y_max).log_scale())
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc(x_desc)
            .y_desc(y_desc)
            .light_line_style(WHITE.mix(0.0))
            .draw()
            .map_err(err)?;
        if let Some((label, y)) = limit {
            let style = ShapeStyle::from(&GREY_).stroke_width(1);
            chart
                .draw_series(LineSeries::new(vec![(0.0, y), (x_max, y)], style))
                .map_err(err)?
                .label(label.to_owned())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], style));
        }
        for g in groups.iter().filter(|g| !g.points.is_empty()) {
            let color = g.color;
            chart
                .draw_series(
                    g.points
                        .iter()
                        .filter(|p| p.1 > 0.0)
                        .map(|&p| Circle::new(p, 4, ShapeStyle::from(&color).filled())),
                )
                .map_err(err)?
                .label(g.label)
                .legend(move |(x, y)| {
                    Circle::new((x + 9, y), 4, ShapeStyle::from(&color).filled())
                });
            for &(x, y) in g.points.iter().filter(|p| p.1 > 0.0) {
                let (px, py) = chart.backend_coord(&(x, y));
                hover.push_str(&format!(
                    "<circle cx=\"{px}\" cy=\"{py}\" r=\"7\" fill=\"transparent\" pointer-events=\"all\"><title>{}: {} at {} {}</title></circle>",
                    xml(g.label),
                    short(y),
                    short(x),
                    xml(x_desc)
                ));
            }
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.85))
            .border_style(GREY_)
            .draw()
            .map_err(err)?;
        root.present().map_err(err)?;
    }
    hover.push_str("</g>");
    Ok(with_hover(svg, &hover))
}

/// Columns over the plot area for hovering.
const HOVER_COLUMNS: usize = 240;

/// Transparent columns, each titled with `x` and every line's nearest value.
fn hover_layer(
    chart: &Chart<'_, '_>,
    lines: &[Line],
    x: (f64, f64),
    y_max: f64,
    fmt_x: &dyn Fn(f64) -> String,
    unit: &str,
) -> String {
    let span = (x.1 - x.0).max(1e-9);
    let step = span / HOVER_COLUMNS as f64;
    let (_, top) = chart.backend_coord(&(x.0, y_max));
    let (_, bottom) = chart.backend_coord(&(x.0, 0.0));
    let mut out = String::from("<g class=\"hover\">");
    for i in 0..HOVER_COLUMNS {
        let (a, b) = (x.0 + step * i as f64, x.0 + step * (i + 1) as f64);
        let mid = (a + b) / 2.0;
        let values: Vec<String> = lines
            .iter()
            .filter_map(|l| {
                let p = l
                    .points
                    .iter()
                    .filter(|p| p.0 >= a && p.0 < b)
                    .max_by(|p, q| p.1.total_cmp(&q.1))?;
                Some(format!("{} {} {unit}", xml(l.label), short(p.1)))
            })
            .collect();
        if values.is_empty() {
            continue;
        }
        let (pa, _) = chart.backend_coord(&(a, 0.0));
        let (pb, _) = chart.backend_coord(&(b, 0.0));
        out.push_str(&format!(
            "<rect x=\"{pa}\" y=\"{top}\" width=\"{}\" height=\"{}\" fill=\"transparent\" pointer-events=\"all\"><title>{}: {}</title></rect>",
            (pb - pa).max(1),
            (bottom - top).max(1),
            xml(&fmt_x(mid)),
            values.join(" · ")
        ));
    }
    out.push_str("</g>");
    out
}

/// Puts the hover layer last, so it is on top of everything drawn.
fn with_hover(svg: String, hover: &str) -> String {
    match svg.rfind("</svg>") {
        Some(i) => format!("{}{hover}{}", &svg[..i], &svg[i..]),
        None => svg,
    }
}

fn short(v: f64) -> String {
    if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else if v.abs() >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

fn xml(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

type Chart<'a, 'b> = ChartContext<
    'a,
    SVGBackend<'b>,
    Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>,
>;

/// Draws `lines` (2 px, each with its legend entry) and the legend box at `legend`.
fn draw_lines<'a>(
    chart: &mut Chart<'a, 'a>,
    lines: &[Line],
    legend: SeriesLabelPosition,
    title: &str,
) -> Result<(), String> {
    let err = |e: DrawingAreaErrorKind<_>| format!("drawing '{title}': {e}");
    for l in lines.iter().filter(|l| !l.points.is_empty()) {
        let color = l.color;
        chart
            .draw_series(LineSeries::new(
                l.points.iter().copied(),
                ShapeStyle::from(&color).stroke_width(2),
            ))
            .map_err(err)?
            .label(l.label)
            .legend(move |(x, y)| {
                PathElement::new(
                    vec![(x, y), (x + 18, y)],
                    ShapeStyle::from(&color).stroke_width(2),
                )
            });
    }
    chart
        .configure_series_labels()
        .position(legend)
        .background_style(WHITE.mix(0.85))
        .border_style(GREY_)
        .draw()
        .map_err(err)
}

/// HdrHistogram's percentile distribution plot: latency against percentile
/// on a 1/(1-p) axis (x = log10(1/(1-p)): 0 is 0%, 1 is 90%, 2 is 99%, ...),
/// so the tail gets the room it matters by.
pub fn percentile_chart(title: &str, lines: &[Line]) -> Result<String, String> {
    let x_max = lines
        .iter()
        .flat_map(|l| l.points.iter().map(|p| p.0))
        .fold(2.0, f64::max)
        .ceil();
    let y_top = lines
        .iter()
        .flat_map(|l| l.points.iter().map(|p| p.1))
        .fold(0.0, f64::max);
    let y_max = if y_top > 0.0 { y_top * 1.1 } else { 1.0 };
    let percent = |x: &f64| {
        let p = 100.0 * (1.0 - 10f64.powf(-x));
        let digits = (x.round() as i64 - 2).max(0) as usize;
        format!("{p:.digits$}%")
    };
    let mut svg = String::new();
    let hover;
    {
        let root = SVGBackend::with_string(&mut svg, (960, 320)).into_drawing_area();
        let err = |e: DrawingAreaErrorKind<_>| format!("drawing '{title}': {e}");
        root.fill(&WHITE).map_err(err)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 18))
            .margin(12)
            .margin_right(36)
            .x_label_area_size(32)
            .y_label_area_size(64)
            .build_cartesian_2d(0f64..x_max, 0f64..y_max)
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc("percentile")
            .y_desc("milliseconds")
            .x_labels(x_max as usize + 1)
            .x_label_formatter(&percent)
            .light_line_style(WHITE.mix(0.0))
            .draw()
            .map_err(err)?;
        // Percentile lines rise to the right: the legend goes where they are not.
        draw_lines(&mut chart, lines, SeriesLabelPosition::LowerRight, title)?;
        let exact = |x: f64| {
            let p = 100.0 * (1.0 - 10f64.powf(-x));
            format!("{p:.3}%")
        };
        hover = hover_layer(&chart, lines, (0.0, x_max), y_max, &exact, "ms");
        root.present().map_err(err)?;
    }
    Ok(with_hover(svg, &hover))
}

/// A histogram's (x = log10(1/(1-p)), latency ms) points for `percentile_chart`.
pub fn percentile_points(h: &hdrhistogram::Histogram<u64>) -> Vec<(f64, f64)> {
    if h.is_empty() {
        return Vec::new();
    }
    h.iter_quantiles(4)
        .filter(|v| v.quantile_iterated_to() < 1.0)
        .map(|v| {
            let q = v.quantile_iterated_to();
            (
                (1.0 / (1.0 - q)).log10(),
                v.value_iterated_to() as f64 / 1000.0,
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_percentile_axis_reads_as_percentiles() {
        let mut h = hdrhistogram::Histogram::<u64>::new(3).unwrap();
        for v in 1..=10_000u64 {
            h.record(v * 100).unwrap();
        }
        let pts = percentile_points(&h);
        assert!(pts.len() > 20);
        // x grows with the percentile; the tail is near 1 s (10_000 * 100 µs).
        assert!(pts.windows(2).all(|w| w[0].0 <= w[1].0));
        assert!(pts.last().unwrap().1 > 900.0);
        let svg = percentile_chart(
            "Latency by percentile",
            &[Line {
                label: "corrected",
                color: BLUE_,
                points: pts,
            }],
        )
        .unwrap();
        for label in ["90%", "99%", "99.9%"] {
            assert!(svg.contains(label), "{label} missing");
        }
    }

    #[test]
    fn draws_lines_markers_and_labels() {
        let svg = line_chart(
            "Latency",
            "ms",
            &[Line {
                label: "p99",
                color: RED_,
                points: vec![(0.0, 1.0), (1.0, 3.0), (2.0, 2.0)],
            }],
            &[(1.5, "pause".into())],
        )
        .unwrap();
        assert!(svg.starts_with("<svg") && svg.contains("</svg>"));
        assert!(
            svg.contains("polyline") || svg.contains("<path"),
            "lines are drawn"
        );
        for text in ["Latency", "p99", "pause", "seconds since start"] {
            assert!(svg.contains(text), "{text} missing");
        }
        // Hovering names the time and the value there.
        assert!(svg.contains("<title>1.0 s: p99 3.00 ms</title>"), "{svg}");
        assert!(
            svg.trim_end().ends_with("</g></svg>"),
            "the hover layer is on top"
        );
    }
}
