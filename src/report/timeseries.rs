//! Time series of one query phase: latency percentiles and throughput per stats interval,
//! stacked with the resource series (server and bench CPU, WAL, live ingest) on one shared
//! time axis, and checkpoints drawn as vertical marks across every panel, so warm-up,
//! checkpoints and ingest interference line up by eye. One SVG per phase (plotters' SVG
//! backend, no font files, no network).

use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context};
use plotters::prelude::*;

use super::model::{QueryStats, ResourceSample, Summary};
use super::plot::{format_value, series_color, AxisFormat, Series};

const WIDTH: u32 = 960;
const PANEL_HEIGHT: u32 = 160;
const TITLE_HEIGHT: u32 = 36;
const LEGEND_WIDTH: u32 = 210;

/// One panel of a stacked time-series chart.
#[derive(Debug, Clone)]
pub struct Panel {
    pub y_desc: String,
    pub y_format: AxisFormat,
    pub series: Vec<Series>,
    /// Draw y on a log scale (series whose values span decades, e.g. a mix's p95s).
    pub log_y: bool,
}

/// One phase of a run: its name (a query's name, or "mix") and the queries measured in it.
#[derive(Debug, Clone)]
pub struct Phase<'a> {
    pub name: String,
    pub queries: Vec<&'a QueryStats>,
    pub resources: Vec<&'a ResourceSample>,
}

/// The phase a query ran in: "mix" for the mix phase's queries (`mix:<query>`), else the
/// query's own name.
pub fn phase_of(query: &str) -> &str {
    if query.starts_with("mix:") {
        "mix"
    } else {
        query
    }
}

/// The phases of a summary in run order, each with its queries and resource samples.
pub fn phases(summary: &Summary) -> Vec<Phase<'_>> {
    let mut out: Vec<Phase> = Vec::new();
    for q in &summary.queries {
        let name = phase_of(&q.name);
        match out.iter_mut().find(|p| p.name == name) {
            Some(p) => p.queries.push(q),
            None => out.push(Phase {
                name: name.to_string(),
                queries: vec![q],
                resources: Vec::new(),
            }),
        }
    }
    if let Some(r) = &summary.resources {
        for s in &r.samples {
            if let Some(p) = out.iter_mut().find(|p| p.name == s.phase) {
                p.resources.push(s);
            }
        }
    }
    out
}

/// Width of each interval of a series of interval end times: the gap to the previous end (the
/// first interval starts at 0).
fn widths(ends: &[f64]) -> Vec<f64> {
    let mut prev = 0.0;
    ends.iter()
        .map(|&t| {
            let w = t - prev;
            prev = t;
            w
        })
        .collect()
}

/// The panels of one phase: latency (p50/p95/p99 of a single query, p95 of each query of the
/// mix), throughput, then the resource series that hold any value. Empty when the phase has
/// no interval samples.
pub fn phase_panels(phase: &Phase) -> (Vec<Panel>, Vec<f64>) {
    let mut panels = Vec::new();
    let with_samples: Vec<&&QueryStats> = phase
        .queries
        .iter()
        .filter(|q| !q.intervals.is_empty())
        .collect();
    if with_samples.is_empty() {
        return (panels, Vec::new());
    }
    let mut latency = Vec::new();
    let mut throughput = Vec::new();
    for q in &with_samples {
        let t: Vec<f64> = q.intervals.iter().map(|i| i.t_s).collect();
        let w = widths(&t);
        let done = || q.intervals.iter().filter(|i| i.count > 0);
        if with_samples.len() == 1 {
            for (label, pick) in [
                (
                    "p50",
                    (|i: &super::model::IntervalStats| i.p50_ms) as fn(&_) -> f64,
                ),
                ("p95", |i| i.p95_ms),
                ("p99", |i| i.p99_ms),
            ] {
                latency.push(Series {
                    name: label.into(),
                    points: done().map(|i| (i.t_s, pick(i))).collect(),
                });
            }
        } else {
            latency.push(Series {
                name: format!("{} p95", q.name.trim_start_matches("mix:")),
                points: done().map(|i| (i.t_s, i.p95_ms)).collect(),
            });
        }
        throughput.push(Series {
            name: if with_samples.len() == 1 {
                "queries/s".into()
            } else {
                q.name.trim_start_matches("mix:").to_string()
            },
            points: q
                .intervals
                .iter()
                .zip(&w)
                .filter(|(_, w)| **w > 0.0)
                .map(|(i, w)| (i.t_s, i.count as f64 / w))
                .collect(),
        });
    }
    // A mix's queries can differ by decades: a log axis keeps the fast ones visible.
    let (lo, hi) = latency
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.1))
        .filter(|v| *v > 0.0)
        .fold((f64::INFINITY, 0.0f64), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
    let log_y = with_samples.len() > 1 && hi / lo > 20.0;
    panels.push(Panel {
        y_desc: if log_y {
            "latency (log scale)".into()
        } else {
            "latency".into()
        },
        y_format: AxisFormat::Millis,
        series: latency,
        log_y,
    });
    panels.push(Panel {
        y_desc: "throughput (q/s)".into(),
        y_format: AxisFormat::Number,
        series: throughput,
        log_y: false,
    });

    let r = &phase.resources;
    let rt: Vec<f64> = r.iter().map(|s| s.t_s).collect();
    let rw = widths(&rt);
    let series_of = |name: &str, f: &dyn Fn(&ResourceSample, f64) -> Option<f64>| Series {
        name: name.into(),
        points: r
            .iter()
            .zip(&rw)
            .filter_map(|(s, w)| f(s, *w).map(|v| (s.t_s, v)))
            .collect(),
    };
    let keep = |v: Vec<Series>| -> Vec<Series> {
        v.into_iter().filter(|s| !s.points.is_empty()).collect()
    };
    let cpu = keep(vec![
        series_of("server CPU", &|s, _| s.server_cpu_pct),
        series_of("bench CPU", &|s, _| Some(s.bench_cpu_pct)),
    ]);
    if !cpu.is_empty() {
        panels.push(Panel {
            y_desc: "CPU (% of a core)".into(),
            y_format: AxisFormat::Number,
            series: cpu,
            log_y: false,
        });
    }
    let per_s = |v: Option<u64>, w: f64| v.filter(|_| w > 0.0).map(|b| b as f64 / w);
    let wal = keep(vec![series_of("WAL/s", &|s, w| per_s(s.wal_bytes, w))]);
    if !wal.is_empty() {
        panels.push(Panel {
            y_desc: "WAL written /s".into(),
            y_format: AxisFormat::Bytes,
            series: wal,
            log_y: false,
        });
    }
    let buffers = keep(vec![
        series_of("by backends", &|s, w| {
            per_s(s.buffers_backend, w).map(|b| b * 8192.0)
        }),
        series_of("by checkpointer", &|s, w| {
            per_s(s.buffers_checkpoint, w).map(|b| b * 8192.0)
        }),
    ]);
    if buffers.iter().any(|s| s.points.iter().any(|p| p.1 > 0.0)) {
        panels.push(Panel {
            y_desc: "buffers written /s".into(),
            y_format: AxisFormat::Bytes,
            series: buffers,
            log_y: false,
        });
    }
    let ingest = keep(vec![series_of("ingest rows/s", &|s, _| {
        s.ingest_rows_per_s
    })]);
    if !ingest.is_empty() {
        panels.push(Panel {
            y_desc: "live ingest (rows/s)".into(),
            y_format: AxisFormat::Number,
            series: ingest,
            log_y: false,
        });
    }
    let checkpoints: Vec<f64> = r
        .iter()
        .filter(|s| s.checkpoints.unwrap_or(0) > 0)
        .map(|s| s.t_s)
        .collect();
    (panels, checkpoints)
}

/// Write one stacked time-series SVG per phase with interval samples into `dir`, named
/// `timeseries-<phase>.svg`. Returns (phase name, file) in run order.
pub fn write_phase_plots(dir: &Path, summary: &Summary) -> anyhow::Result<Vec<(String, PathBuf)>> {
    let mut out = Vec::new();
    for phase in phases(summary) {
        let (panels, checkpoints) = phase_panels(&phase);
        // Nothing to draw (no interval has a width): no plot rather than a failed report.
        if !panels
            .iter()
            .any(|p| p.series.iter().any(|s| !s.points.is_empty()))
        {
            continue;
        }
        let path = dir.join(format!(
            "timeseries-{}.svg",
            super::files::file_stem(&phase.name)
        ));
        let title = format!("phase {}: per stats interval", phase.name);
        write_panels(&path, &title, &panels, &checkpoints)
            .with_context(|| format!("failed to render plot {}", path.display()))?;
        out.push((phase.name.clone(), path));
    }
    Ok(out)
}

/// Render stacked panels sharing one x axis (seconds into the measured phase); `marks` are x
/// positions drawn as dashed vertical lines in every panel (checkpoints).
pub fn write_panels(
    path: &Path,
    title: &str,
    panels: &[Panel],
    marks: &[f64],
) -> anyhow::Result<()> {
    let all_x = || {
        panels
            .iter()
            .flat_map(|p| p.series.iter().flat_map(|s| s.points.iter().map(|q| q.0)))
    };
    let x_max = all_x().fold(f64::NEG_INFINITY, f64::max);
    if !x_max.is_finite() {
        return Err(anyhow!("nothing to plot for {title}"));
    }
    let x_max = if x_max <= 0.0 { 1.0 } else { x_max * 1.02 };
    let height = TITLE_HEIGHT + PANEL_HEIGHT * panels.len() as u32 + 30;
    let root = SVGBackend::new(path, (WIDTH, height)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let (head, body) = root.split_vertically(TITLE_HEIGHT);
    head.draw(&Text::new(
        title.to_string(),
        (16, 10),
        ("sans-serif", 18).into_font(),
    ))
    .map_err(err)?;
    let (body, _foot) = body.split_vertically(PANEL_HEIGHT * panels.len() as u32 + 30);
    let areas = body.split_evenly((panels.len(), 1));
    let last = panels.len() - 1;
    for (i, (panel, area)) in panels.iter().zip(areas.iter()).enumerate() {
        let (plot_area, legend) = area.split_horizontally(WIDTH - LEGEND_WIDTH);
        // A log axis is drawn as log10 of the values on a linear axis, labelled back.
        let y_of = |v: f64| if panel.log_y { v.max(1e-6).log10() } else { v };
        let ys = || {
            panel
                .series
                .iter()
                .flat_map(|s| s.points.iter().map(|p| y_of(p.1)))
        };
        let (y_lo, y_hi) = if panel.log_y {
            let lo = ys().fold(f64::INFINITY, f64::min).floor();
            let hi = ys().fold(f64::NEG_INFINITY, f64::max);
            (lo, if hi <= lo { lo + 1.0 } else { hi + 0.1 })
        } else {
            let hi = ys().fold(0.0f64, f64::max);
            (0.0, if hi <= 0.0 { 1.0 } else { hi * 1.1 })
        };
        let mut ctx = ChartBuilder::on(&plot_area)
            .margin(6)
            .margin_right(8)
            .x_label_area_size(if i == last { 36 } else { 18 })
            .y_label_area_size(84)
            .build_cartesian_2d(0.0..x_max, y_lo..y_hi)
            .map_err(err)?;
        let yf = panel.y_format;
        let log_y = panel.log_y;
        let y_fmt = move |v: &f64| format_value(if log_y { 10f64.powf(*v) } else { *v }, yf);
        let x_fmt = |v: &f64| format!("{} s", super::units::decimal(*v));
        let mut mesh = ctx.configure_mesh();
        mesh.y_desc(panel.y_desc.as_str())
            .y_labels(if panel.log_y { 4 } else { 5 })
            .x_labels(12)
            .y_label_formatter(&y_fmt)
            .x_label_formatter(&x_fmt)
            .light_line_style(TRANSPARENT)
            .bold_line_style(RGBColor(225, 225, 225));
        if i == last {
            mesh.x_desc("seconds into the measured phase");
        }
        mesh.draw().map_err(err)?;
        for &m in marks {
            ctx.draw_series(DashedLineSeries::new(
                vec![(m, y_lo), (m, y_hi)],
                4,
                3,
                RGBColor(120, 120, 120).stroke_width(1),
            ))
            .map_err(err)?;
        }
        for (j, s) in panel.series.iter().enumerate() {
            let color = series_color(j);
            let points: Vec<(f64, f64)> = s.points.iter().map(|p| (p.0, y_of(p.1))).collect();
            ctx.draw_series(LineSeries::new(
                points.iter().copied(),
                color.stroke_width(2),
            ))
            .map_err(err)?;
            // A distinct marker shape per series, so lines differ without colour too.
            if points.len() <= 120 {
                let pts = points.iter().copied();
                match j % 3 {
                    0 => ctx
                        .draw_series(pts.map(|p| Circle::new(p, 2, color.filled())))
                        .map(|_| ()),
                    1 => ctx
                        .draw_series(pts.map(|p| TriangleMarker::new(p, 3, color.filled())))
                        .map(|_| ()),
                    _ => ctx
                        .draw_series(pts.map(|p| Cross::new(p, 3, color.stroke_width(1))))
                        .map(|_| ()),
                }
                .map_err(err)?;
            }
            let y = 18 + 18 * j as i32;
            legend
                .draw(&PathElement::new(
                    vec![(0, y), (24, y)],
                    color.stroke_width(2),
                ))
                .map_err(err)?;
            legend
                .draw(&Text::new(
                    s.name.clone(),
                    (30, y - 7),
                    ("sans-serif", 13).into_font(),
                ))
                .map_err(err)?;
        }
        if !marks.is_empty() && i == 0 {
            let y = 18 + 18 * panel.series.len() as i32;
            legend
                .draw(&PathElement::new(
                    vec![(0, y), (8, y), (12, y), (20, y)],
                    RGBColor(120, 120, 120).stroke_width(1),
                ))
                .map_err(err)?;
            legend
                .draw(&Text::new(
                    format!("checkpoint ({})", marks.len()),
                    (30, y - 7),
                    ("sans-serif", 13).into_font(),
                ))
                .map_err(err)?;
        }
    }
    root.present().map_err(err)?;
    Ok(())
}

fn err<E: std::error::Error + Send + Sync>(e: DrawingAreaErrorKind<E>) -> anyhow::Error {
    anyhow!("{e}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mix_queries_share_one_phase() {
        assert_eq!(phase_of("mix:last_value"), "mix");
        assert_eq!(phase_of("last_value"), "last_value");
    }

    #[test]
    fn interval_widths_start_at_zero() {
        assert_eq!(widths(&[1.0, 2.0, 3.5]), vec![1.0, 1.0, 1.5]);
    }
}
