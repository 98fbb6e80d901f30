//! Plots of `bench plan` (projected storage against fleet size, projected p95 against fleet
//! size) and `bench sweep` (measured p95 and storage against fleet size).

use std::path::{Path, PathBuf};

use super::project::Projection;
use super::sweep::SweepRow;
use crate::report::plot::{write_chart, AxisFormat, Chart, Series};

/// Write `<prefix>-storage.svg` and, when any latency was projected, `<prefix>-latency.svg`
/// into `dir`. Returns the files written.
pub fn write_plan_plots(
    dir: &Path,
    prefix: &str,
    projections: &[Projection],
) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let x = |p: &Projection| f64::from(p.row.wells);
    let mut storage = vec![Series {
        name: "raw (uncompressed)".into(),
        points: projections
            .iter()
            .map(|p| (x(p), p.row.raw_storage_bytes as f64))
            .collect(),
    }];
    let compressed: Vec<(f64, f64)> = projections
        .iter()
        .filter_map(|p| p.row.compressed_storage_bytes.map(|b| (x(p), b as f64)))
        .collect();
    if !compressed.is_empty() {
        storage.push(Series {
            name: "compressed after compress_after".into(),
            points: compressed,
        });
    }
    let retention = projections.first().map_or(0.0, |p| p.row.retention_days);
    let path = dir.join(format!("{prefix}-storage.svg"));
    write_chart(
        &path,
        &Chart {
            title: format!(
                "projected storage over {retention} days of retention{}",
                if storage.len() == 1 {
                    " (compression not measured)"
                } else {
                    ""
                }
            ),
            x_desc: "wells".into(),
            y_desc: "storage".into(),
            x_format: AxisFormat::Number,
            y_format: AxisFormat::Bytes,
            log_x: true,
            log_y: true,
            legend: true,
        },
        &storage,
    )?;
    out.push(path);

    let names: Vec<String> = projections
        .first()
        .map(|p| p.queries.iter().map(|q| q.name.clone()).collect())
        .unwrap_or_default();
    let latency: Vec<Series> = names
        .iter()
        .enumerate()
        .map(|(i, name)| Series {
            name: name.clone(),
            points: projections
                .iter()
                .filter_map(|p| {
                    p.queries
                        .get(i)
                        .and_then(|q| q.p95_ms_projected)
                        .map(|v| (x(p), v))
                })
                .collect(),
        })
        .filter(|s| !s.points.is_empty())
        .collect();
    if !latency.is_empty() {
        let path = dir.join(format!("{prefix}-latency.svg"));
        write_chart(
            &path,
            &Chart {
                title: "projected p95 latency (growth exponents from bench sweep)".into(),
                x_desc: "wells".into(),
                y_desc: "p95 latency".into(),
                x_format: AxisFormat::Number,
                y_format: AxisFormat::Millis,
                log_x: true,
                log_y: true,
                legend: true,
            },
            &latency,
        )?;
        out.push(path);
    }
    Ok(out)
}

/// Write `sweep-latency.svg` (measured p95 per query against wells) and `sweep-storage.svg`
/// (measured storage against wells) into `dir`.
pub fn write_sweep_plots(dir: &Path, rows: &[SweepRow]) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut names: Vec<&str> = Vec::new();
    for r in rows {
        if !names.contains(&r.query.as_str()) {
            names.push(&r.query);
        }
    }
    let latency: Vec<Series> = names
        .iter()
        .map(|name| Series {
            name: name.to_string(),
            points: rows
                .iter()
                .filter(|r| r.query == *name && r.count > 0)
                .map(|r| (f64::from(r.wells), r.p95_ms))
                .collect(),
        })
        .filter(|s| !s.points.is_empty())
        .collect();
    if !latency.is_empty() {
        let path = dir.join("sweep-latency.svg");
        write_chart(
            &path,
            &Chart {
                title: "measured p95 latency against fleet size".into(),
                x_desc: "wells".into(),
                y_desc: "p95 latency".into(),
                x_format: AxisFormat::Number,
                y_format: AxisFormat::Millis,
                log_x: true,
                log_y: true,
                legend: true,
            },
            &latency,
        )?;
        out.push(path);
    }
    // One storage point per fleet size (every query row of a size repeats it).
    let mut sizes: Vec<(u32, u64, u64)> = Vec::new();
    for r in rows {
        if !sizes.iter().any(|s| s.0 == r.wells) {
            sizes.push((r.wells, r.storage_bytes, r.telemetry_bytes));
        }
    }
    sizes.sort_by_key(|s| s.0);
    let storage = vec![
        Series {
            name: "all hypertables".into(),
            points: sizes
                .iter()
                .filter(|s| s.1 > 0)
                .map(|s| (f64::from(s.0), s.1 as f64))
                .collect(),
        },
        Series {
            name: "esp_telemetry".into(),
            points: sizes
                .iter()
                .filter(|s| s.2 > 0)
                .map(|s| (f64::from(s.0), s.2 as f64))
                .collect(),
        },
    ];
    let storage: Vec<Series> = storage
        .into_iter()
        .filter(|s| !s.points.is_empty())
        .collect();
    if !storage.is_empty() {
        let path = dir.join("sweep-storage.svg");
        write_chart(
            &path,
            &Chart {
                title: "measured storage against fleet size".into(),
                x_desc: "wells".into(),
                y_desc: "storage (heap + indexes)".into(),
                x_format: AxisFormat::Number,
                y_format: AxisFormat::Bytes,
                log_x: true,
                log_y: true,
                legend: true,
            },
            &storage,
        )?;
        out.push(path);
    }
    Ok(out)
}
