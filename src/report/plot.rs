//! Plots (SVG): the latency percentile distribution of each query, and the x/y charts of
//! `bench sweep` and `bench plan`. The pages that show them are `report::html`'s.
//!
//! Rendering goes through plotters' SVG backend, which writes text as SVG `<text>` elements and
//! lays labels out with its built-in size estimate, so no font file or font feature is needed:
//! the viewer (browser) picks the font. Every plot is one self-contained SVG file, which the
//! HTML pages inline so they need no network and no other file.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context};
use plotters::coord::ranged1d::{AsRangedCoord, Ranged, ValueFormatter};
use plotters::prelude::*;

use super::model::{QueryStats, Summary};
use super::units;

const WIDTH: u32 = 960;
const HEIGHT: u32 = 540;
/// Width of the legend column of charts with several series.
const LEGEND_WIDTH: u32 = 200;

/// One line on an x/y chart.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub name: String,
    /// (x, y) points, drawn in the given order.
    pub points: Vec<(f64, f64)>,
}

/// How an axis prints its tick values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AxisFormat {
    /// Plain number with k/M/G suffixes for large values.
    Number,
    /// Bytes in binary units (KiB, MiB, GiB, TiB).
    Bytes,
    /// Milliseconds.
    Millis,
    /// x = 1 / (1 - quantile), printed as a percentile ("99.9%").
    Percentile,
}

/// Description of one x/y chart: title, axes and whether each axis is logarithmic.
#[derive(Debug, Clone)]
pub struct Chart {
    pub title: String,
    pub x_desc: String,
    pub y_desc: String,
    pub x_format: AxisFormat,
    pub y_format: AxisFormat,
    pub log_x: bool,
    pub log_y: bool,
    /// Name the series in a legend column right of the plot.
    pub legend: bool,
}

/// Write one latency percentile distribution plot per query of a `bench run` summary into
/// `dir` (created if missing), named `latency-<query>.svg`. Queries without any successful
/// sample are skipped. Returns the files written, in query order.
pub fn write_run_plots(dir: &Path, summary: &Summary) -> anyhow::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("failed to create plot directory {}", dir.display()))?;
    let mut written = Vec::new();
    for q in &summary.queries {
        let points = percentile_points(q)
            .with_context(|| format!("failed to read the latency histogram of query {}", q.name))?;
        if points.is_empty() {
            continue;
        }
        let path = dir.join(format!("latency-{}.svg", file_stem(&q.name)));
        let chart = Chart {
            title: format!("{}: latency by percentile ({} queries)", q.name, q.count),
            x_desc: "percentile".into(),
            y_desc: "latency".into(),
            x_format: AxisFormat::Percentile,
            y_format: AxisFormat::Millis,
            log_x: true,
            log_y: false,
            legend: false,
        };
        let series = [Series {
            name: q.name.clone(),
            points,
        }];
        write_chart(&path, &chart, &series)?;
        written.push(path);
    }
    Ok(written)
}

/// Render `series` as lines with points into an SVG file at `path`.
pub fn write_chart(path: &Path, chart: &Chart, series: &[Series]) -> anyhow::Result<()> {
    let pts = || series.iter().flat_map(|s| s.points.iter().copied());
    let (x0, x1, bx) = axis_range(pts().map(|p| p.0), chart.log_x, chart.x_format)
        .ok_or_else(|| anyhow!("nothing to plot for {}", chart.title))?;
    let (y0, y1, by) = axis_range(pts().map(|p| p.1), chart.log_y, chart.y_format)
        .ok_or_else(|| anyhow!("nothing to plot for {}", chart.title))?;
    let result = match (chart.log_x, chart.log_y) {
        (false, false) => render(path, chart, series, x0..x1, y0..y1),
        (true, false) => render(path, chart, series, (x0..x1).log_scale().base(bx), y0..y1),
        (false, true) => render(path, chart, series, x0..x1, (y0..y1).log_scale().base(by)),
        (true, true) => render(
            path,
            chart,
            series,
            (x0..x1).log_scale().base(bx),
            (y0..y1).log_scale().base(by),
        ),
    };
    result.with_context(|| format!("failed to render plot {}", path.display()))
}

fn render<X, Y>(
    path: &Path,
    chart: &Chart,
    series: &[Series],
    x_spec: X,
    y_spec: Y,
) -> anyhow::Result<()>
where
    X: AsRangedCoord<Value = f64>,
    Y: AsRangedCoord<Value = f64>,
    X::CoordDescType: ValueFormatter<f64>,
    Y::CoordDescType: ValueFormatter<f64>,
    <X::CoordDescType as Ranged>::ValueType: Copy,
{
    let root = SVGBackend::new(path, (WIDTH, HEIGHT)).into_drawing_area();
    root.fill(&WHITE).map_err(plot_err)?;
    let body = root
        .titled(&chart.title, ("sans-serif", 20))
        .map_err(plot_err)?;
    // The legend gets a column right of the plot, where it cannot hide data.
    let (plot_area, legend_area) = if chart.legend {
        let (a, b) = body.split_horizontally(WIDTH - LEGEND_WIDTH);
        (a, Some(b))
    } else {
        (body, None)
    };
    let mut ctx = ChartBuilder::on(&plot_area)
        .margin(16)
        .margin_right(if legend_area.is_some() { 8 } else { 48 })
        .x_label_area_size(48)
        .y_label_area_size(80)
        .build_cartesian_2d(x_spec, y_spec)
        .map_err(plot_err)?;
    let (xf, yf) = (chart.x_format, chart.y_format);
    let x_fmt = move |v: &f64| format_value(*v, xf);
    let y_fmt = move |v: &f64| format_value(*v, yf);
    ctx.configure_mesh()
        .x_desc(chart.x_desc.as_str())
        .y_desc(chart.y_desc.as_str())
        .x_labels(20)
        .y_labels(12)
        .x_label_formatter(&x_fmt)
        .y_label_formatter(&y_fmt)
        .light_line_style(TRANSPARENT)
        .draw()
        .map_err(plot_err)?;
    for (i, s) in series.iter().enumerate() {
        let color = series_color(i).to_rgba();
        ctx.draw_series(LineSeries::new(
            s.points.iter().copied(),
            color.stroke_width(2),
        ))
        .map_err(plot_err)?;
        // Mark measured points when there are few of them (sweep/plan sizes).
        if s.points.len() <= 32 {
            ctx.draw_series(
                s.points
                    .iter()
                    .map(|&(x, y)| Circle::new((x, y), 3, color.filled())),
            )
            .map_err(plot_err)?;
        }
        if let Some(legend) = &legend_area {
            let y = 28 + 20 * i as i32;
            legend
                .draw(&PathElement::new(
                    vec![(0, y), (24, y)],
                    color.stroke_width(2),
                ))
                .map_err(plot_err)?;
            legend
                .draw(&Text::new(
                    s.name.clone(),
                    (30, y - 7),
                    ("sans-serif", 13).into_font(),
                ))
                .map_err(plot_err)?;
        }
    }
    root.present().map_err(plot_err)?;
    Ok(())
}

/// Colours that keep at least 4.5:1 contrast on white (WCAG AA), in a fixed order.
pub fn series_color(i: usize) -> RGBColor {
    const COLORS: [RGBColor; 6] = [
        RGBColor(0, 90, 181),   // blue
        RGBColor(196, 60, 0),   // vermilion
        RGBColor(0, 120, 80),   // green
        RGBColor(120, 60, 160), // purple
        RGBColor(150, 90, 0),   // ochre
        RGBColor(80, 80, 80),   // grey
    ];
    COLORS[i % COLORS.len()]
}

fn plot_err<E: std::error::Error + Send + Sync>(e: DrawingAreaErrorKind<E>) -> anyhow::Error {
    anyhow!("{e}")
}

pub use crate::stats::decode_histogram;

/// The percentile distribution of one query as (1 / (1 - quantile), latency ms) points, the
/// x transform used by HdrHistogram plots so the tail gets room on a log axis. Uses the
/// histogram when it holds samples; falls back to the summary's percentiles when the histogram
/// is absent. Empty when the query has no successful sample.
pub fn percentile_points(q: &QueryStats) -> anyhow::Result<Vec<(f64, f64)>> {
    if q.count == 0 {
        return Ok(Vec::new());
    }
    if q.histogram.trim().is_empty() {
        let l = &q.latency_ms;
        let cap = percentile_cap(q.count);
        // The minimum is not in the summary: the curve starts at the median.
        let mut pts = vec![(2.0, l.p50)];
        for (quantile, v) in [(0.9, l.p90), (0.95, l.p95), (0.99, l.p99), (0.999, l.p999)] {
            let x = 1.0 / (1.0 - quantile);
            if x < cap {
                pts.push((x, v));
            }
        }
        pts.push((cap, l.max));
        return Ok(pts);
    }
    let h = decode_histogram(&q.histogram)?;
    if h.is_empty() {
        return Ok(Vec::new());
    }
    let cap = percentile_cap(h.len());
    let mut pts: Vec<(f64, f64)> = vec![(1.0, h.min() as f64 / 1000.0)];
    for v in h.iter_quantiles(5) {
        let quantile = v.quantile_iterated_to();
        let x = if quantile >= 1.0 {
            cap
        } else {
            (1.0 / (1.0 - quantile)).min(cap)
        };
        let ms = h.highest_equivalent(v.value_iterated_to()) as f64 / 1000.0;
        if x >= 1.0 {
            pts.push((x, ms));
        }
    }
    pts.push((cap, h.max() as f64 / 1000.0));
    Ok(pts)
}

/// The right end of the percentile axis: the next power of ten at or above the sample count
/// (with n samples, quantiles beyond 1 - 1/n are the maximum).
fn percentile_cap(count: u64) -> f64 {
    let n = (count.max(10)) as f64;
    10f64.powf(n.log10().ceil())
}

/// The drawn range of an axis and, for a log axis, its base.
fn axis_range(
    values: impl Iterator<Item = f64>,
    log: bool,
    format: AxisFormat,
) -> Option<(f64, f64, f64)> {
    let vals: Vec<f64> = values
        .filter(|v| v.is_finite() && (!log || *v > 0.0))
        .collect();
    if vals.is_empty() {
        return None;
    }
    let lo = vals.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = vals.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if !log {
        let lo = lo.min(0.0);
        let hi = if hi <= lo { lo + 1.0 } else { hi * 1.05 };
        return Some((lo, hi, 10.0));
    }
    if format == AxisFormat::Percentile {
        return Some((1.0, hi.max(10.0), 10.0));
    }
    let base = log_base(format, lo, hi);
    // plotters labels a log axis from the first power of the base in range on (plus
    // intermediate values when few powers are in range), so the low end is widened to a whole
    // power of the base; the top keeps a small margin.
    let lo = base.powf((lo.ln() / base.ln()).floor());
    let mut hi = hi * 1.1;
    if hi <= lo * 1.5 {
        hi = lo * base;
    }
    Some((lo, hi, base))
}

/// Log base of an axis: powers of two give bytes round labels (8 GiB, 16 GiB), and give a
/// latency axis spanning few decades more than one or two labels; wider ranges use decades.
fn log_base(format: AxisFormat, lo: f64, hi: f64) -> f64 {
    match format {
        AxisFormat::Bytes => 2.0,
        AxisFormat::Millis if hi / lo <= 1000.0 => 2.0,
        _ => 10.0,
    }
}

/// Format an axis value for tick labels.
pub fn format_value(v: f64, format: AxisFormat) -> String {
    match format {
        AxisFormat::Number => units::si(v),
        AxisFormat::Millis => units::ms(v),
        AxisFormat::Bytes => units::bytes(v),
        AxisFormat::Percentile => {
            // plotters puts intermediate ticks between the decades of a log axis; only the
            // decades (0%, 90%, 99%, 99.9%, ...) get a label, or the labels run together.
            let decade = v.log10();
            if v <= 1.0 {
                "0%".into()
            } else if (decade - decade.round()).abs() > 1e-6 {
                String::new()
            } else {
                let p = 100.0 * (1.0 - 1.0 / v);
                format!("{}%", (p * 1e6).round() / 1e6)
            }
        }
    }
}

pub use crate::report::files::file_stem;

/// An SVG file's text without its XML prolog, for inlining into an HTML page.
pub fn strip_xml_prolog(svg: &str) -> &str {
    let s = svg.trim_start();
    if s.starts_with("<?xml") {
        if let Some(end) = s.find("?>") {
            return s[end + 2..].trim_start();
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;
    use hdrhistogram::Histogram;

    #[test]
    fn percentile_labels_read_like_hdr_plots() {
        assert_eq!(format_value(1.0, AxisFormat::Percentile), "0%");
        assert_eq!(format_value(10.0, AxisFormat::Percentile), "90%");
        assert_eq!(format_value(1000.0, AxisFormat::Percentile), "99.9%");
        // Intermediate log ticks between decades carry no label (they ran together).
        assert_eq!(format_value(3.0, AxisFormat::Percentile), "");
    }

    #[test]
    fn byte_and_number_labels() {
        assert_eq!(format_value(1536.0, AxisFormat::Bytes), "1.5 KiB");
        assert_eq!(format_value(2500.0, AxisFormat::Number), "2.5k");
        assert_eq!(format_value(12.5, AxisFormat::Millis), "12.5 ms");
        assert_eq!(format_value(2500.0, AxisFormat::Millis), "2.5 s");
        assert_eq!(format_value(1e6, AxisFormat::Millis), "16.7 min");
    }

    #[test]
    fn file_stems_are_safe() {
        assert_eq!(file_stem("latest_24h"), "latest_24h");
        assert_eq!(file_stem("a/b c"), "a_b_c");
    }

    #[test]
    fn histogram_points_cover_min_to_max() {
        let mut h = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).unwrap();
        for v in 1..=1000u64 {
            h.record(v * 100).unwrap();
        }
        let mut buf = Vec::new();
        use hdrhistogram::serialization::Serializer as _;
        hdrhistogram::serialization::V2DeflateSerializer::new()
            .serialize(&h, &mut buf)
            .unwrap();
        let decoded = decode_histogram(&base64::engine::general_purpose::STANDARD.encode(&buf))
            .expect("decodes");
        assert_eq!(decoded.len(), 1000);
        let first = decoded.min() as f64 / 1000.0;
        assert!((first - 0.1).abs() < 0.001);
    }
}
