//! The report's charts: SVG drawn with plotters' SVG backend, inlined in the HTML.
//!
//! Every line of a run (its plot line and its legend mark) is tagged
//! `class="series" data-series="<run>"`, so a reader (or a test) can find each run's series
//! in the SVG: one `data-series` value per run.

use plotters::chart::MeshStyle;
use plotters::coord::ranged1d::SegmentValue;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// One run's line on a chart.
#[derive(Debug, Clone)]
pub struct Series {
    pub name: String,
    /// `#RRGGBB`, distinct per run.
    pub color: (u8, u8, u8),
    /// A step function: (seconds, value from then on), in time order.
    pub steps: Vec<(f64, f64)>,
    /// Where the line ends (seconds).
    pub end: f64,
    /// Line width (wider lines drawn first stay visible under narrower ones).
    pub width: u32,
    /// The run's jobs, (start, end) in seconds, in time order: the bands under the chart.
    pub jobs: Vec<(f64, f64)>,
}

/// One bar of a bar chart.
#[derive(Debug, Clone)]
pub struct Bar {
    pub name: String,
    pub color: (u8, u8, u8),
    pub value: f64,
}

/// Colors for runs: static runs in blues, dynamic runs in oranges.
pub const STATIC_COLORS: [(u8, u8, u8); 3] =
    [(0x1F, 0x77, 0xB4), (0x6B, 0xAE, 0xD6), (0x08, 0x30, 0x6B)];
pub const DYNAMIC_COLORS: [(u8, u8, u8); 3] =
    [(0xE6, 0x55, 0x0D), (0xFD, 0xAE, 0x6B), (0x7F, 0x27, 0x04)];
/// Colors for eager-policy runs (a third side): greens.
pub const EAGER_COLORS: [(u8, u8, u8); 3] =
    [(0x2C, 0xA0, 0x2C), (0x98, 0xDF, 0x8A), (0x00, 0x44, 0x1B)];

pub fn hex(c: (u8, u8, u8)) -> String {
    format!("#{:02X}{:02X}{:02X}", c.0, c.1, c.2)
}

fn rgb(c: (u8, u8, u8)) -> RGBColor {
    RGBColor(c.0, c.1, c.2)
}

/// `c` mixed with white, opaque: a band's fill stays readable under its label, and its
/// pixels are never taken for the run's line (a browser test counts those by color).
fn tint(c: (u8, u8, u8), share: f64) -> RGBColor {
    let mix = |v: u8| (f64::from(v) * share + 255.0 * (1.0 - share)).round() as u8;
    RGBColor(mix(c.0), mix(c.1), mix(c.2))
}

/// The smallest text on a chart: readable at 100% zoom (plotters' default is about 8 px).
/// plotters sizes a font by its full height and writes SVG's `font-size` as that over 1.24,
/// so 17 is 13.7 px on the page.
pub const LABEL_PX: u32 = 17;
/// The axis descriptions ("seconds since the start"): 14.5 px.
const DESC_PX: u32 = 18;
/// Chart titles: 17.7 px.
const TITLE_PX: u32 = 22;
/// The width left of a plot for tick labels, the axis description and the bands' run names.
const Y_LABEL_AREA: u32 = 88;
/// The time axis's tick labels and description.
const TIME_AXIS_PX: u32 = 52;
/// One run's row of job and gap bands under a time chart.
const BAND_ROW_PX: u32 = 26;

/// plotters could not draw a chart.
#[derive(Debug, thiserror::Error)]
#[error("drawing a chart: {0}")]
pub struct ChartError(String);

fn err<E: std::fmt::Display>(e: E) -> ChartError {
    ChartError(e.to_string())
}

/// Draws on a white SVG canvas of `size`; returns the SVG.
fn draw_svg(
    size: (u32, u32),
    draw: impl FnOnce(&DrawingArea<SVGBackend<'_>, Shift>) -> Result<(), ChartError>,
) -> Result<String, ChartError> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        draw(&root)?;
        root.present().map_err(err)?;
    }
    Ok(svg)
}

/// A step chart of one quantity over time, one line per run, and under it (on the same time
/// axis) one row of bands per run: its jobs, and the gaps between them.
///
/// `size` is the line chart's; the bands add [`BAND_ROW_PX`] per run below it.
pub fn step_chart(
    title: &str,
    y_desc: &str,
    series: &[Series],
    size: (u32, u32),
) -> Result<String, ChartError> {
    let x_max = series.iter().map(|s| s.end).fold(1.0f64, f64::max).ceil();
    let y_top = series
        .iter()
        .flat_map(|s| s.steps.iter().map(|p| p.1))
        .fold(1.0f64, f64::max);
    let y_max = (y_top * 1.15).ceil().max(y_top + 1.0);
    // Runs without jobs (the what-if report's policies) get no bands.
    let with_bands = series.iter().any(|s| !s.jobs.is_empty());
    let rows = series.len().max(1) as u32;
    // The bands' chart: its rows, the time axis's labels and description, a margin.
    let bands_h = if with_bands {
        rows * BAND_ROW_PX + 4 + TIME_AXIS_PX + 6
    } else {
        0
    };
    let svg = draw_svg((size.0, size.1 + bands_h), |root| {
        let (upper, lower) = root.split_vertically(size.1);
        let mut chart = ChartBuilder::on(&upper)
            .caption(title, ("sans-serif", TITLE_PX))
            .margin_top(12)
            .margin_left(12)
            .margin_right(12)
            .margin_bottom(if with_bands { 0 } else { 6 })
            // With bands, the time axis is drawn once, under them.
            .x_label_area_size(if with_bands { 0 } else { TIME_AXIS_PX })
            .y_label_area_size(Y_LABEL_AREA)
            .build_cartesian_2d(0f64..x_max, 0f64..y_max)
            .map_err(err)?;
        readable(&mut chart.configure_mesh())
            .x_desc(if with_bands {
                ""
            } else {
                "seconds since the start"
            })
            .y_desc(y_desc)
            .y_label_formatter(&|v| {
                if (v - v.round()).abs() < 1e-9 {
                    format!("{v:.0}")
                } else {
                    String::new()
                }
            })
            .draw()
            .map_err(err)?;
        for s in series {
            let color = rgb(s.color);
            let mut points: Vec<(f64, f64)> = Vec::with_capacity(s.steps.len() * 2 + 1);
            let mut prev: Option<f64> = None;
            for &(t, v) in &s.steps {
                if let Some(p) = prev {
                    points.push((t, p));
                }
                points.push((t, v));
                prev = Some(v);
            }
            if let Some(p) = prev {
                points.push((s.end, p));
            }
            let width = s.width.max(1);
            chart
                .draw_series(LineSeries::new(points, color.stroke_width(width)))
                .map_err(err)?
                .label(s.name.clone())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 22, y)], color.stroke_width(width.max(3)))
                });
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.85))
            .border_style(RGBColor(180, 180, 180))
            .label_font(("sans-serif", LABEL_PX))
            .draw()
            .map_err(err)?;
        if !with_bands {
            return Ok(());
        }
        let plot_px = size.0.saturating_sub(24 + Y_LABEL_AREA).max(1);
        draw_bands(&lower, series, x_max, plot_px)
    })?;
    Ok(tag_series(
        &svg,
        series.iter().map(|s| (s.name.as_str(), s.color)),
    ))
}

/// The rows of job and gap bands under a time chart, one per run (the first on top), on the
/// line chart's time axis (same margins and label area, so the two line up).
fn draw_bands(
    area: &DrawingArea<SVGBackend<'_>, Shift>,
    series: &[Series],
    x_max: f64,
    plot_px: u32,
) -> Result<(), ChartError> {
    let rows = series.len().max(1) as u32;
    let names: Vec<String> = series.iter().map(|s| s.name.clone()).collect();
    let row_of = |i: usize| rows - 1 - i as u32;
    let mut chart = ChartBuilder::on(area)
        .margin_top(4)
        .margin_left(12)
        .margin_right(12)
        .margin_bottom(6)
        .x_label_area_size(TIME_AXIS_PX)
        .y_label_area_size(Y_LABEL_AREA)
        .build_cartesian_2d(0f64..x_max, (0u32..rows - 1).into_segmented())
        .map_err(err)?;
    let formatter = |v: &SegmentValue<u32>| match v {
        SegmentValue::CenterOf(r) => names
            .get((rows - 1 - *r) as usize)
            .cloned()
            .unwrap_or_default(),
        _ => String::new(),
    };
    readable(&mut chart.configure_mesh())
        .disable_y_mesh()
        .x_desc("seconds since the start")
        .y_labels(rows as usize)
        .y_label_formatter(&formatter)
        .draw()
        .map_err(err)?;
    // Labels go inside a band when it is wide enough for them.
    let px = |secs: f64| secs / x_max * f64::from(plot_px);
    let label = TextStyle::from(("sans-serif", LABEL_PX).into_font())
        .color(&RGBColor(34, 34, 34))
        .pos(Pos::new(HPos::Center, VPos::Center));
    let gap_label = label.color(&RGBColor(110, 110, 110));
    for (i, s) in series.iter().enumerate() {
        let (y0, y1) = (
            SegmentValue::Exact(row_of(i)),
            SegmentValue::Exact(row_of(i) + 1),
        );
        let mid = SegmentValue::CenterOf(row_of(i));
        let band = |from: f64, to: f64, fill: RGBColor| {
            [
                Rectangle::new([(from, y0.clone()), (to, y1.clone())], fill.filled()),
                // A white edge keeps neighbouring bands and rows apart.
                Rectangle::new(
                    [(from, y0.clone()), (to, y1.clone())],
                    WHITE.stroke_width(2),
                ),
            ]
        };
        let gaps: Vec<(f64, f64)> = s
            .jobs
            .windows(2)
            .filter(|w| w[1].0 > w[0].1)
            .map(|w| (w[0].1, w[1].0))
            .collect();
        chart
            .draw_series(
                gaps.iter()
                    .flat_map(|&(a, b)| band(a, b, RGBColor(236, 236, 236))),
            )
            .map_err(err)?;
        chart
            .draw_series(
                s.jobs
                    .iter()
                    .flat_map(|&(a, b)| band(a, b.max(a), tint(s.color, 0.45))),
            )
            .map_err(err)?;
        let mut texts = Vec::new();
        for (k, &(a, b)) in s.jobs.iter().enumerate() {
            let text = format!("job {k}");
            if px(b - a) >= 8.0 * text.len() as f64 {
                texts.push(Text::new(text, ((a + b) / 2.0, mid.clone()), label.clone()));
            }
        }
        for &(a, b) in &gaps {
            if px(b - a) >= 32.0 {
                texts.push(Text::new(
                    "gap".to_string(),
                    ((a + b) / 2.0, mid.clone()),
                    gap_label.clone(),
                ));
            }
        }
        chart.draw_series(texts).map_err(err)?;
    }
    Ok(())
}

/// The text sizes and light grid every chart here uses.
fn readable<'m, 'a, 'b, X, Y, DB>(
    mesh: &'m mut MeshStyle<'a, 'b, X, Y, DB>,
) -> &'m mut MeshStyle<'a, 'b, X, Y, DB>
where
    X: Ranged,
    Y: Ranged,
    DB: DrawingBackend,
{
    mesh.label_style(("sans-serif", LABEL_PX))
        .axis_desc_style(("sans-serif", DESC_PX))
        .max_light_lines(2)
        .light_line_style(RGBColor(242, 242, 242))
}

/// A bar chart, one bar per run.
pub fn bar_chart(
    title: &str,
    unit: &str,
    bars: &[Bar],
    size: (u32, u32),
) -> Result<String, ChartError> {
    let n = bars.len().max(1) as u32;
    let top = bars.iter().map(|b| b.value).fold(0.0f64, f64::max);
    let y_max = if top > 0.0 { top * 1.2 } else { 1.0 };
    let names: Vec<String> = bars.iter().map(|b| b.name.clone()).collect();
    draw_svg(size, |root| {
        let mut chart = ChartBuilder::on(root)
            .caption(title, ("sans-serif", TITLE_PX))
            .margin(10)
            .x_label_area_size(30)
            .y_label_area_size(60)
            .build_cartesian_2d((0u32..n - 1).into_segmented(), 0f64..y_max)
            .map_err(err)?;
        let formatter = |v: &SegmentValue<u32>| match v {
            SegmentValue::CenterOf(i) => names.get(*i as usize).cloned().unwrap_or_default(),
            _ => String::new(),
        };
        readable(&mut chart.configure_mesh())
            .disable_x_mesh()
            .x_labels(n as usize)
            .x_label_formatter(&formatter)
            .y_desc(unit)
            .y_label_formatter(&|v| compact(*v))
            .light_line_style(TRANSPARENT)
            .draw()
            .map_err(err)?;
        let colors: Vec<RGBColor> = bars.iter().map(|b| rgb(b.color)).collect();
        chart
            .draw_series(
                Histogram::vertical(&chart)
                    .margin(14)
                    .style_func(|v, _| match v {
                        SegmentValue::Exact(i) | SegmentValue::CenterOf(i) => {
                            colors.get(*i as usize).copied().unwrap_or(BLACK).filled()
                        }
                        SegmentValue::Last => BLACK.filled(),
                    })
                    .data(bars.iter().enumerate().map(|(i, b)| (i as u32, b.value))),
            )
            .map_err(err)?;
        let label = TextStyle::from(("sans-serif", LABEL_PX).into_font())
            .pos(Pos::new(HPos::Center, VPos::Bottom));
        chart
            .draw_series(bars.iter().enumerate().map(|(i, b)| {
                Text::new(
                    compact(b.value),
                    (SegmentValue::CenterOf(i as u32), b.value + y_max * 0.01),
                    label.clone(),
                )
            }))
            .map_err(err)?;
        Ok(())
    })
}

/// `12.3`, `1234`, `12.3k`, `1.23M`.
pub fn compact(v: f64) -> String {
    let a = v.abs();
    if a >= 1e6 {
        format!("{:.2}M", v / 1e6)
    } else if a >= 1e4 {
        format!("{:.1}k", v / 1e3)
    } else if a >= 100.0 || (v - v.round()).abs() < 1e-9 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

/// Tags every polyline drawn in a series' color with `class="series" data-series="NAME"`.
fn tag_series<'a>(svg: &str, series: impl Iterator<Item = (&'a str, (u8, u8, u8))>) -> String {
    let mut out = svg.to_string();
    for (name, color) in series {
        let needle = format!(
            "<polyline fill=\"none\" opacity=\"1\" stroke=\"{}\"",
            hex(color)
        );
        let tagged = format!(
            "<polyline class=\"series\" data-series=\"{}\" fill=\"none\" opacity=\"1\" stroke=\"{}\"",
            common::html::escape(name),
            hex(color)
        );
        out = out.replace(&needle, &tagged);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_run_is_one_tagged_series() {
        let series = vec![
            Series {
                name: "static".into(),
                color: STATIC_COLORS[0],
                steps: vec![(0.0, 0.0), (0.5, 2.0)],
                end: 30.0,
                width: 4,
                jobs: vec![(0.5, 4.0), (20.0, 24.0)],
            },
            Series {
                name: "dynamic".into(),
                color: DYNAMIC_COLORS[0],
                steps: vec![(0.0, 0.0), (0.4, 1.0), (1.5, 2.0), (12.0, 0.0)],
                end: 32.0,
                width: 2,
                jobs: vec![(1.0, 6.0), (21.0, 26.0)],
            },
        ];
        let svg = step_chart("Executors", "executors", &series, (800, 300)).unwrap();
        assert!(svg.starts_with("<svg"), "{}", &svg[..100]);
        for name in ["static", "dynamic"] {
            let n = svg.matches(&format!("data-series=\"{name}\"")).count();
            // The line and its legend mark.
            assert_eq!(n, 2, "{name}: {n}");
        }
        assert!(svg.contains("seconds since the start"));
        let bars = bar_chart(
            "executor-seconds",
            "s",
            &[
                Bar {
                    name: "static".into(),
                    color: STATIC_COLORS[0],
                    value: 72.0,
                },
                Bar {
                    name: "dynamic".into(),
                    color: DYNAMIC_COLORS[0],
                    value: 42.0,
                },
            ],
            (300, 260),
        )
        .unwrap();
        assert!(bars.contains("\n72\n") && bars.contains("\n42\n"), "{bars}");
    }

    #[test]
    fn compact_numbers() {
        assert_eq!(compact(72.0), "72");
        assert_eq!(compact(12.34), "12.3");
        assert_eq!(compact(123_456.0), "123.5k");
        assert_eq!(compact(2_500_000.0), "2.50M");
    }
}
