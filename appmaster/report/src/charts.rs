//! The report's charts: SVG drawn with plotters' SVG backend, inlined in the HTML.
//!
//! Every line of a run (its plot line and its legend mark) is tagged
//! `class="series" data-series="<run>"`, so a reader (or a test) can find each run's series
//! in the SVG: one `data-series` value per run.

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

/// A step chart of one quantity over time, one line per run.
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
    let svg = draw_svg(size, |root| {
        let mut chart = ChartBuilder::on(root)
            .caption(title, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(50)
            .build_cartesian_2d(0f64..x_max, 0f64..y_max)
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc("seconds since the start")
            .y_desc(y_desc)
            .y_label_formatter(&|v| {
                if (v - v.round()).abs() < 1e-9 {
                    format!("{v:.0}")
                } else {
                    String::new()
                }
            })
            .max_light_lines(2)
            .light_line_style(RGBColor(242, 242, 242))
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
            .label_font(("sans-serif", 14))
            .draw()
            .map_err(err)
    })?;
    Ok(tag_series(
        &svg,
        series.iter().map(|s| (s.name.as_str(), s.color)),
    ))
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
            .caption(title, ("sans-serif", 16))
            .margin(10)
            .x_label_area_size(30)
            .y_label_area_size(60)
            .build_cartesian_2d((0u32..n - 1).into_segmented(), 0f64..y_max)
            .map_err(err)?;
        let formatter = |v: &SegmentValue<u32>| match v {
            SegmentValue::CenterOf(i) => names.get(*i as usize).cloned().unwrap_or_default(),
            _ => String::new(),
        };
        chart
            .configure_mesh()
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
        let label = TextStyle::from(("sans-serif", 13).into_font())
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
            },
            Series {
                name: "dynamic".into(),
                color: DYNAMIC_COLORS[0],
                steps: vec![(0.0, 0.0), (0.4, 1.0), (1.5, 2.0), (12.0, 0.0)],
                end: 32.0,
                width: 2,
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
