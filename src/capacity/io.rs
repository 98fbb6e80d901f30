//! Files of the planner: reading a summary.json and a sweep.csv, writing plan.csv, sweep.csv
//! and fit.csv. Bad input is a `BenchError::Config` (exit 2) naming the file and the problem.

use std::io::Write;
use std::path::Path;

use anyhow::Context;
use serde::Serialize;

use super::project::{PlanRow, Projection};
use super::sweep::SweepRow;
use crate::error::BenchError;
use crate::model::report::Summary;

/// Read and validate a summary.json written by `bench run` (malformed or foreign JSON is a
/// configuration error naming the file; see `report::read_summary`).
pub fn read_summary(path: &Path) -> anyhow::Result<Summary> {
    crate::report::read_summary(path)
}

/// Write plan rows as CSV: the `PlanRow` columns, then for each query of the summary
/// `p95_ms_measured_<q>`, `p95_exponent_<q>` and `p95_ms_projected_<q>`.
pub fn write_plan_csv<W: Write>(out: W, projections: &[Projection]) -> anyhow::Result<()> {
    // The fixed columns come from the derived Serialize of PlanRow (declared once); they are
    // serialised to memory and read back as records so the per-query columns can follow.
    let mut fixed = csv::Writer::from_writer(Vec::new());
    for p in projections {
        fixed.serialize(&p.row)?;
    }
    if projections.is_empty() {
        fixed.write_record(plan_fixed_headers())?;
    }
    let bytes = fixed.into_inner().map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut reader = csv::Reader::from_reader(bytes.as_slice());
    let mut header = reader.headers()?.clone();
    let queries: Vec<&str> = projections
        .first()
        .map(|p| p.queries.iter().map(|q| q.name.as_str()).collect())
        .unwrap_or_default();
    for q in &queries {
        header.push_field(&format!("p95_ms_measured_{q}"));
        header.push_field(&format!("p95_exponent_{q}"));
        header.push_field(&format!("p95_ms_projected_{q}"));
    }
    let mut w = csv::Writer::from_writer(out);
    w.write_record(&header)?;
    for (rec, p) in reader.records().zip(projections) {
        let mut rec = rec?;
        for q in &p.queries {
            rec.push_field(&q.p95_ms_measured.to_string());
            rec.push_field(&q.exponent.map(|k| k.to_string()).unwrap_or_default());
            rec.push_field(
                &q.p95_ms_projected
                    .map(|v| v.to_string())
                    .unwrap_or_default(),
            );
        }
        w.write_record(&rec)?;
    }
    w.flush()?;
    Ok(())
}

/// The fixed column names of plan.csv, in order.
pub fn plan_fixed_headers() -> Vec<String> {
    // Serialise an empty row and keep only the header line.
    let row = PlanRow::default();
    let mut w = csv::Writer::from_writer(Vec::new());
    if w.serialize(&row).is_err() {
        return Vec::new();
    }
    let bytes = w.into_inner().unwrap_or_default();
    let mut r = csv::Reader::from_reader(bytes.as_slice());
    r.headers()
        .map(|h| h.iter().map(str::to_string).collect())
        .unwrap_or_default()
}

/// Write serialisable rows as a CSV file with a header line.
pub fn write_csv<T: Serialize>(path: &Path, rows: &[T]) -> anyhow::Result<()> {
    let file = std::fs::File::create(path)
        .with_context(|| format!("failed to create {}", path.display()))?;
    let mut w = csv::Writer::from_writer(file);
    for r in rows {
        w.serialize(r)
            .with_context(|| format!("failed to write {}", path.display()))?;
    }
    w.flush()
        .with_context(|| format!("failed to write {}", path.display()))?;
    Ok(())
}

/// Read a sweep.csv written by `bench sweep`.
pub fn read_sweep_csv(path: &Path) -> anyhow::Result<Vec<SweepRow>> {
    let shown = path.display();
    let file = std::fs::File::open(path)
        .map_err(|e| BenchError::Config(format!("cannot read sweep {shown}: {e}")))?;
    let mut r = csv::Reader::from_reader(file);
    let mut rows = Vec::new();
    for rec in r.deserialize::<SweepRow>() {
        let row = rec.map_err(|e| {
            BenchError::Config(format!(
                "sweep {shown} is not a sweep.csv written by `bench sweep`: {e}"
            ))
        })?;
        rows.push(row);
    }
    if rows.is_empty() {
        return Err(BenchError::Config(format!("sweep {shown} holds no measurements")).into());
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_headers_start_with_wells() {
        let h = plan_fixed_headers();
        assert_eq!(h.first().map(String::as_str), Some("wells"));
        assert!(h.iter().any(|c| c == "rows_per_day"));
        assert_eq!(h.last().map(String::as_str), Some("latency_model"));
    }
}
