//! `bench sweep` results: one `SweepRow` per (fleet size, query) measured, and one `FitRow`
//! per query with the fitted growth exponent of its p95 against rows. The long layout (one
//! row per size and query) keeps the columns fixed whatever the scenario's queries are.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::fit::fit_power_law;
use super::project::LatencyModel;
use crate::model::report::Summary;
use crate::model::tables::TELEMETRY_TABLE;

/// One row of sweep.csv: one query at one fleet size.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SweepRow {
    /// Fleet size of this run.
    pub wells: u32,
    /// Telemetry rows in the table when the queries ran.
    pub rows: u64,
    pub query: String,
    /// Successful queries measured.
    pub count: u64,
    pub errors: u64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub throughput_qps: f64,
    /// Telemetry load rate of this run (rows/s), empty when nothing was loaded.
    pub ingest_rows_per_sec: Option<f64>,
    /// Total bytes of every measured hypertable (heap + indexes + toast, before compression).
    pub storage_bytes: u64,
    /// Total bytes of the telemetry hypertable.
    pub telemetry_bytes: u64,
    /// telemetry_bytes / rows.
    pub bytes_per_row: f64,
}

/// One row of fit.csv: how a query's p95 grows with rows, p95 = a · rows^k.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FitRow {
    pub query: String,
    /// Fleet sizes with at least one successful sample.
    pub points: usize,
    pub rows_min: u64,
    pub rows_max: u64,
    pub p95_ms_at_rows_min: f64,
    pub p95_ms_at_rows_max: f64,
    /// Least-squares slope of ln p95 against ln rows; empty when it cannot be fitted.
    pub exponent_k: Option<f64>,
    /// Fit quality on the log-log points (1 with two points).
    pub r_squared: Option<f64>,
    pub note: String,
}

/// The sweep rows of one run at `wells` wells.
pub fn sweep_rows(summary: &Summary, wells: u32) -> Vec<SweepRow> {
    let tel = summary.storage.iter().find(|t| t.table == TELEMETRY_TABLE);
    let rows = tel.map_or(0, |t| t.rows);
    let telemetry_bytes = tel.map_or(0, |t| t.total_bytes);
    let storage_bytes = summary.storage.iter().map(|t| t.total_bytes).sum();
    let loads: Vec<_> = summary
        .load
        .iter()
        .filter(|l| l.table == TELEMETRY_TABLE)
        .collect();
    let load_rows: u64 = loads.iter().map(|l| l.rows).sum();
    let load_secs: f64 = loads.iter().map(|l| l.seconds).sum();
    let ingest = (load_rows > 0 && load_secs > 0.0).then(|| load_rows as f64 / load_secs);
    summary
        .queries
        .iter()
        .map(|q| SweepRow {
            wells,
            rows,
            query: q.name.clone(),
            count: q.count,
            errors: q.errors,
            p50_ms: q.latency_ms.p50,
            p95_ms: q.latency_ms.p95,
            p99_ms: q.latency_ms.p99,
            throughput_qps: q.throughput_qps,
            ingest_rows_per_sec: ingest,
            storage_bytes,
            telemetry_bytes,
            bytes_per_row: if rows > 0 {
                telemetry_bytes as f64 / rows as f64
            } else {
                0.0
            },
        })
        .collect()
}

/// Fit p95 against rows for every query in the sweep, in first-seen query order.
pub fn fit_rows(rows: &[SweepRow]) -> Vec<FitRow> {
    let mut order: Vec<&str> = Vec::new();
    for r in rows {
        if !order.contains(&r.query.as_str()) {
            order.push(&r.query);
        }
    }
    order
        .into_iter()
        .map(|name| {
            let mut pts: Vec<(u64, f64)> = rows
                .iter()
                .filter(|r| r.query == name && r.count > 0 && r.rows > 0)
                .map(|r| (r.rows, r.p95_ms))
                .collect();
            pts.sort_by_key(|p| p.0);
            let fit = fit_power_law(&pts.iter().map(|&(x, y)| (x as f64, y)).collect::<Vec<_>>());
            let (first, last) = (pts.first().copied(), pts.last().copied());
            FitRow {
                query: name.to_string(),
                points: pts.len(),
                rows_min: first.map_or(0, |p| p.0),
                rows_max: last.map_or(0, |p| p.0),
                p95_ms_at_rows_min: first.map_or(0.0, |p| p.1),
                p95_ms_at_rows_max: last.map_or(0.0, |p| p.1),
                exponent_k: fit.map(|f| f.k),
                r_squared: fit.map(|f| f.r_squared),
                note: match fit {
                    Some(f) => format!("least squares on ln p95 vs ln rows, {} sizes", f.n),
                    None => "not fitted: needs two sizes with different row counts and samples"
                        .to_string(),
                },
            }
        })
        .collect()
}

/// Query name -> fitted exponent, for `bench plan --sweep`.
pub fn exponents(fits: &[FitRow]) -> BTreeMap<String, f64> {
    fits.iter()
        .filter_map(|f| f.exponent_k.map(|k| (f.query.clone(), k)))
        .collect()
}

/// The latency model a plan takes from a sweep: fitted exponents and the largest row count.
pub fn latency_model(rows: &[SweepRow]) -> LatencyModel {
    LatencyModel {
        exponents: exponents(&fit_rows(rows)),
        rows_max: rows.iter().map(|r| r.rows).max().unwrap_or(0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(wells: u32, rows: u64, query: &str, p95: f64) -> SweepRow {
        SweepRow {
            wells,
            rows,
            query: query.into(),
            count: 10,
            errors: 0,
            p50_ms: p95 / 2.0,
            p95_ms: p95,
            p99_ms: p95 * 1.5,
            throughput_qps: 100.0,
            ingest_rows_per_sec: Some(1e5),
            storage_bytes: rows * 120,
            telemetry_bytes: rows * 100,
            bytes_per_row: 100.0,
        }
    }

    #[test]
    fn fits_each_query_separately() {
        let rows = vec![
            row(50, 1000, "flat", 2.0),
            row(50, 1000, "linear", 1.0),
            row(100, 2000, "flat", 2.0),
            row(100, 2000, "linear", 2.0),
            row(200, 4000, "flat", 2.0),
            row(200, 4000, "linear", 4.0),
        ];
        let fits = fit_rows(&rows);
        assert_eq!(fits.len(), 2);
        assert_eq!(fits[0].query, "flat");
        assert!(fits[0].exponent_k.unwrap().abs() < 1e-12);
        assert!((fits[1].exponent_k.unwrap() - 1.0).abs() < 1e-12);
        assert_eq!(fits[1].rows_min, 1000);
        assert_eq!(fits[1].p95_ms_at_rows_max, 4.0);
        let k = exponents(&fits);
        assert_eq!(k.len(), 2);
    }

    #[test]
    fn a_query_without_samples_is_not_fitted() {
        let mut a = row(50, 1000, "q", 2.0);
        a.count = 0;
        let fits = fit_rows(&[a, row(100, 2000, "q", 3.0)]);
        assert_eq!(fits[0].exponent_k, None);
        assert_eq!(fits[0].points, 1);
        assert!(exponents(&fits).is_empty());
    }
}
