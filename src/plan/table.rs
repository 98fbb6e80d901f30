//! Console tables for `bench plan` (one column per fleet size, one line per figure) and
//! `bench sweep` (one line per query with its fitted exponent). Human units here; the CSV
//! files carry the exact numbers.

use super::project::Projection;
use super::sweep::{FitRow, SweepRow};
use super::units::duration_label;
use crate::report::units::{bytes as format_bytes, thousands as group_thousands};

/// Lay out rows of cells as a left-aligned first column and right-aligned others.
pub fn render(rows: &[Vec<String>]) -> String {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let mut widths = vec![0usize; cols];
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            widths[i] = widths[i].max(c.chars().count());
        }
    }
    let mut out = String::new();
    for r in rows {
        let mut line = String::new();
        for (i, c) in r.iter().enumerate() {
            let pad = widths[i] - c.chars().count();
            if i == 0 {
                line.push_str(c);
                line.push_str(&" ".repeat(pad));
            } else {
                line.push_str("  ");
                line.push_str(&" ".repeat(pad));
                line.push_str(c);
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

fn count(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        group_thousands(v as u64)
    } else {
        format!("{v:.1}")
    }
}

fn opt<T>(v: Option<T>, f: impl Fn(T) -> String) -> String {
    v.map(f).unwrap_or_else(|| "-".to_string())
}

/// The plan as a table: one column per fleet size.
pub fn plan_table(projections: &[Projection]) -> String {
    let (rows, notes) = plan_grid(projections);
    let mut out = render(&rows);
    for n in notes {
        out.push_str(&n);
        out.push('\n');
    }
    out
}

/// The plan's cells (first row: the fleet sizes) and the lines printed under them.
pub fn plan_grid(projections: &[Projection]) -> (Vec<Vec<String>>, Vec<String>) {
    let mut rows: Vec<Vec<String>> = Vec::new();
    let mut line = |label: &str, f: &dyn Fn(&Projection) -> String| {
        let mut r = vec![label.to_string()];
        r.extend(projections.iter().map(f));
        rows.push(r);
    };
    line("wells", &|p| group_thousands(u64::from(p.row.wells)));
    line("sample interval", &|p| format!("{} s", p.row.interval_s));
    line("rows/day", &|p| count(p.row.rows_per_day));
    line("retention", &|p| format!("{} d", p.row.retention_days));
    line("rows retained", &|p| count(p.row.rows_retained));
    line("bytes/row measured", &|p| {
        format!("{:.1}", p.row.bytes_per_row_measured)
    });
    line("compression ratio", &|p| {
        opt(p.row.compression_ratio_measured, |r| format!("{r:.2}x"))
    });
    if projections
        .iter()
        .any(|p| p.row.bytes_per_row_projected != p.row.bytes_per_row_measured)
    {
        line("bytes/row projected", &|p| {
            format!("{:.1}", p.row.bytes_per_row_projected)
        });
        line("compression projected", &|p| {
            opt(p.row.compression_ratio_projected, |r| format!("{r:.2}x"))
        });
    }
    line("raw storage", &|p| {
        format_bytes(p.row.raw_storage_bytes as f64)
    });
    line("compressed storage", &|p| {
        opt(p.row.compressed_storage_bytes, |b| format_bytes(b as f64))
    });
    line("chunk interval", &|p| {
        duration_label(p.row.chunk_interval_s)
    });
    line("chunk incl. indexes", &|p| {
        format_bytes(p.row.chunk_bytes as f64)
    });
    line("memory assumed", &|p| {
        format_bytes(p.row.memory_bytes as f64)
    });
    line("chunk fits 25% mem", &|p| {
        if p.row.chunk_fits_memory { "yes" } else { "NO" }.to_string()
    });
    line("recommended chunk", &|p| {
        p.row
            .recommended_chunk_interval_s
            .map(duration_label)
            .unwrap_or_else(|| "none fits".to_string())
    });
    line("ingest required", &|p| {
        format!("{} rows/s", count(p.row.ingest_rows_per_sec_required))
    });
    line("ingest measured", &|p| {
        opt(p.row.ingest_rows_per_sec_measured, |r| {
            format!("{} rows/s", count(r.round()))
        })
    });
    line("ingest headroom", &|p| {
        opt(p.row.ingest_headroom, |h| format!("{h:.1}x"))
    });
    if projections
        .iter()
        .any(|p| p.row.extrapolation_factor.is_some())
    {
        line("rows / sweep max", &|p| {
            opt(p.row.extrapolation_factor, |f| format!("{f:.1}x"))
        });
    }
    // Latency lines only when a sweep gave growth exponents; the CSV always has the columns.
    let projected = projections
        .iter()
        .any(|p| p.queries.iter().any(|q| q.exponent.is_some()));
    if let Some(first) = projections.first().filter(|_| projected) {
        for (i, q) in first.queries.iter().enumerate() {
            let label = match q.exponent {
                Some(k) => format!("p95 {} (k={k:.2})", q.name),
                None => format!("p95 {} (no fit)", q.name),
            };
            line(&label, &|p| {
                opt(p.queries.get(i).and_then(|q| q.p95_ms_projected), |v| {
                    format!("{v:.2} ms")
                })
            });
        }
    }
    let mut notes = Vec::new();
    if let Some(first) = projections.first() {
        if first.row.compression_ratio_measured.is_none() {
            notes.push(format!("compression: {}", first.row.compression_note));
        }
        notes.push(format!(
            "assumed: memory from {}, chunk interval from {}; latency: {}",
            first.row.memory_source, first.row.chunk_interval_source, first.row.latency_model
        ));
        let r = &first.row;
        notes.push(format!(
            "bytes/row: heap {:.1} + index {:.1} (indexes {}; measured index {:.1}){}; split from {}",
            r.heap_bytes_per_row,
            r.index_bytes_per_row,
            r.index_model,
            r.index_bytes_per_row_measured,
            match (r.channel_bytes_per_row, r.channel_compression_ratio) {
                (Some(c), Some(x)) => format!("; channels {c:.1} B/row, {x:.2}x alone"),
                _ => String::new(),
            },
            r.split_source
        ));
    }
    (rows, notes)
}

/// The sweep measurements as a table: one line per (size, query).
pub fn sweep_table(rows: &[SweepRow]) -> String {
    render(&sweep_grid(rows))
}

/// The cells of [`sweep_table`], header first.
pub fn sweep_grid(rows: &[SweepRow]) -> Vec<Vec<String>> {
    let mut t = vec![vec![
        "wells".to_string(),
        "rows".into(),
        "query".into(),
        "p50 ms".into(),
        "p95 ms".into(),
        "p99 ms".into(),
        "qps".into(),
        "ingest rows/s".into(),
        "storage".into(),
        "bytes/row".into(),
    ]];
    for r in rows {
        t.push(vec![
            r.wells.to_string(),
            group_thousands(r.rows),
            r.query.clone(),
            format!("{:.2}", r.p50_ms),
            format!("{:.2}", r.p95_ms),
            format!("{:.2}", r.p99_ms),
            format!("{:.1}", r.throughput_qps),
            opt(r.ingest_rows_per_sec, |v| count(v.round())),
            format_bytes(r.storage_bytes as f64),
            format!("{:.1}", r.bytes_per_row),
        ]);
    }
    t
}

/// The fitted growth exponents as a table.
pub fn fit_table(fits: &[FitRow]) -> String {
    render(&fit_grid(fits))
}

/// The cells of [`fit_table`], header first.
pub fn fit_grid(fits: &[FitRow]) -> Vec<Vec<String>> {
    let mut t = vec![vec![
        "query".to_string(),
        "sizes".into(),
        "rows".into(),
        "p95 ms".into(),
        "k (p95 ~ rows^k)".into(),
        "r2".into(),
    ]];
    for f in fits {
        t.push(vec![
            f.query.clone(),
            f.points.to_string(),
            format!(
                "{}..{}",
                group_thousands(f.rows_min),
                group_thousands(f.rows_max)
            ),
            format!("{:.2}..{:.2}", f.p95_ms_at_rows_min, f.p95_ms_at_rows_max),
            opt(f.exponent_k, |k| format!("{k:.3}")),
            opt(f.r_squared, |r| format!("{r:.3}")),
        ]);
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_are_grouped() {
        assert_eq!(group_thousands(1_728_000), "1,728,000");
        assert_eq!(group_thousands(999), "999");
        assert_eq!(count(2.5), "2.5");
    }

    #[test]
    fn columns_align() {
        let t = render(&[
            vec!["a".into(), "1".into()],
            vec!["long".into(), "100".into()],
        ]);
        assert_eq!(t, "a       1\nlong  100\n");
    }
}
