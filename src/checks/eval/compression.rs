//! Compression: the storage reduction of the chunks the policy compresses, per-chunk facts,
//! and the causes of a ratio below target.

use super::*;

/// Storage reduction in percent: (1 - after / before) * 100.
pub fn reduction_pct(b: &CompressionBytes) -> Option<f64> {
    (b.before_bytes > 0).then(|| (1.0 - b.after_bytes as f64 / b.before_bytes as f64) * 100.0)
}

/// `compression.<table>.reduction_pct >= min` over the chunks the policy would compress.
pub fn compression_check(
    table: &str,
    min_pct: f64,
    compress_after_s: u64,
    bytes: &CompressionBytes,
) -> CheckResult {
    let name = format!("compression.{table}.reduction_pct");
    let target = format!(">= {}", fmt_num(min_pct));
    if bytes.chunks == 0 {
        return result(
            name,
            "compression",
            target,
            None,
            CheckStatus::Fail,
            Some(format!(
                "no chunk ends more than {} before the data end: the span is too short to \
                 measure compression",
                fmt_secs(compress_after_s as f64)
            )),
        );
    }
    let Some(pct) = reduction_pct(bytes) else {
        return result(
            name,
            "compression",
            target,
            None,
            CheckStatus::Fail,
            Some("compression statistics report 0 bytes before compression".into()),
        );
    };
    let note = format!(
        "{} chunks older than {}: {} -> {} bytes ({}x)",
        bytes.chunks,
        fmt_secs(compress_after_s as f64),
        bytes.before_bytes,
        bytes.after_bytes,
        if bytes.after_bytes > 0 {
            fmt_num(bytes.before_bytes as f64 / bytes.after_bytes as f64)
        } else {
            "inf".into()
        }
    );
    result(
        name,
        "compression",
        target,
        Some(pct),
        pass_if(pct >= min_pct),
        Some(note),
    )
}

/// Rows per compressed batch below which the per-batch fixed costs dominate (a batch holds up
/// to 1000 rows; below a tenth of that, headers and metadata outweigh the compressed values).
pub const FEW_ROWS_PER_SEGMENT: f64 = 100.0;

/// A ratio counts as far below the target when it is less than half the target's ratio.
pub const FAR_BELOW_FACTOR: f64 = 0.5;

/// PostgreSQL's page size: the smallest non-empty relation.
pub(super) const PAGE_BYTES: u64 = 8192;

pub(super) fn ratio_of(before: u64, after: u64) -> Option<f64> {
    (before > 0 && after > 0).then(|| before as f64 / after as f64)
}

/// Sum per-chunk compression facts into the table's figures.
pub fn compression_details(
    value_columns: &[&str],
    per_chunk: Vec<ChunkCompression>,
) -> CompressionDetails {
    let rows: u64 = per_chunk.iter().map(|c| c.rows).sum();
    let segments = per_chunk
        .iter()
        .map(|c| c.segments)
        .sum::<Option<u64>>()
        .filter(|_| !per_chunk.is_empty());
    let before = per_chunk
        .iter()
        .fold(ByteSplit::default(), |a, c| a + c.before);
    let after = per_chunk
        .iter()
        .fold(ByteSplit::default(), |a, c| a + c.after);
    let values_before: Option<u64> = per_chunk.iter().map(|c| c.values_before_bytes).sum();
    let values_after: Option<u64> = per_chunk.iter().map(|c| c.values_after_bytes).sum();
    let (values_before, values_after) = if per_chunk.is_empty() {
        (None, None)
    } else {
        (values_before, values_after)
    };
    CompressionDetails {
        chunks: per_chunk.len() as u64,
        rows,
        segments,
        rows_per_segment: segments.filter(|&s| s > 0).map(|s| rows as f64 / s as f64),
        before,
        after,
        ratio: ratio_of(before.total_bytes, after.total_bytes),
        value_columns: value_columns.iter().map(|c| c.to_string()).collect(),
        values_before_bytes: values_before,
        values_after_bytes: values_after,
        values_ratio: values_before
            .zip(values_after)
            .and_then(|(b, a)| ratio_of(b, a)),
        per_chunk,
    }
}

/// The totals the older checks and `storage[]` carry.
pub fn compression_bytes(d: &CompressionDetails) -> CompressionBytes {
    CompressionBytes {
        chunks: d.chunks,
        before_bytes: d.before.total_bytes,
        after_bytes: d.after.total_bytes,
    }
}

pub(super) fn split_text(b: &ByteSplit) -> String {
    format!(
        "table {}, index {}, toast {}",
        b.table_bytes, b.index_bytes, b.toast_bytes
    )
}

pub(super) fn pct(part: u64, whole: u64) -> String {
    if whole == 0 {
        "0%".into()
    } else {
        format!(
            "{}%",
            fmt_num((part as f64 / whole as f64 * 100.0 * 10.0).round() / 10.0)
        )
    }
}

/// Why a ratio is below 1 or far below the target, from the per-chunk facts: every cause the
/// figures show, with its numbers.
pub fn compression_causes(d: &CompressionDetails) -> Vec<String> {
    let mut out = Vec::new();
    if let (Some(rps), Some(segs)) = (d.rows_per_segment, d.segments) {
        if rps < FEW_ROWS_PER_SEGMENT && segs > 0 && d.rows > 0 {
            let per_batch = (d.after.table_bytes + d.after.toast_bytes) as f64 / segs as f64;
            let same_rows = d.before.table_bytes as f64 / d.rows as f64 * rps;
            out.push(format!(
                "few rows per segment: {} rows in {} segments, {} rows per segment on average \
                 (a batch holds up to 1000), so each batch's fixed cost (tuple header, \
                 segment-by values, min/max metadata, a header per compressed column) \
                 dominates: {} bytes per compressed batch against {} bytes for the same rows \
                 uncompressed",
                d.rows,
                segs,
                fmt_num(rps),
                fmt_num(per_batch.round()),
                fmt_num(same_rows.round())
            ));
        }
    }
    // Toast holds compressed data once values are large; only a bare toast relation (its
    // index's one page per chunk) is a fixed cost.
    let bare_toast = if d.after.toast_bytes <= PAGE_BYTES * d.chunks {
        d.after.toast_bytes
    } else {
        0
    };
    let fixed = d.after.index_bytes + bare_toast;
    if d.chunks > 0 && d.after.total_bytes > 0 && fixed * 4 >= d.after.total_bytes {
        out.push(format!(
            "per-chunk fixed overhead: the compressed chunks' indexes{} take {} of the {} bytes \
             after compression ({}; {} bytes per chunk over {} chunks), whatever the data",
            if bare_toast > 0 {
                " and empty toast"
            } else {
                ""
            },
            fixed,
            d.after.total_bytes,
            pct(fixed, d.after.total_bytes),
            fmt_num((fixed as f64 / d.chunks as f64).round()),
            d.chunks
        ));
    }
    if d.chunks > 0 && d.rows / d.chunks.max(1) < 10_000 {
        out.push(format!(
            "small chunks: {} rows per chunk on average, so the fixed pages of each relation \
             ({PAGE_BYTES} bytes minimum) weigh on both sides",
            fmt_num((d.rows as f64 / d.chunks as f64).round())
        ));
    }
    if let (Some(v), Some(r)) = (d.values_ratio, d.ratio) {
        if v > r * 1.5 {
            out.push(format!(
                "the value columns alone compress {}x: the rest of the compressed bytes \
                 (identity, timestamps, segment-by values, metadata, indexes) holds the ratio down",
                fmt_num(v)
            ));
        }
    }
    out
}

/// `compression.<table>.reduction_pct >= min` from per-chunk facts, with the split of before and
/// after bytes in the note and, when the ratio is below 1 or below half the target's ratio, the
/// causes the figures show (see [`compression_causes`]).
pub fn compression_details_check(
    table: &str,
    min_pct: f64,
    compress_after_s: u64,
    d: &CompressionDetails,
) -> CheckResult {
    let mut r = compression_check(table, min_pct, compress_after_s, &compression_bytes(d));
    let Some(ratio) = d.ratio else {
        return r;
    };
    let mut note = r.note.take().unwrap_or_default();
    note.push_str(&format!(
        "; before: {}; after: {}",
        split_text(&d.before),
        split_text(&d.after)
    ));
    if d.before.total_bytes > 0 {
        note.push_str(&format!(
            " (indexes {} of the before bytes)",
            pct(d.before.index_bytes, d.before.total_bytes)
        ));
    }
    match (d.segments, d.rows_per_segment) {
        (Some(s), Some(rps)) => note.push_str(&format!(
            "; {} rows in {} segments ({} rows per segment)",
            d.rows,
            s,
            fmt_num(rps)
        )),
        _ => note.push_str(&format!("; {} rows", d.rows)),
    }
    if let (Some(b), Some(a)) = (d.values_before_bytes, d.values_after_bytes) {
        note.push_str(&format!(
            "; value columns alone: {b} -> {a} bytes ({}x)",
            d.values_ratio.map(fmt_num).unwrap_or_else(|| "-".into())
        ));
    }
    let target_ratio = if min_pct < 100.0 {
        1.0 / (1.0 - min_pct / 100.0)
    } else {
        f64::INFINITY
    };
    let why = if ratio < 1.0 {
        Some(format!("compression grew the data ({}x)", fmt_num(ratio)))
    } else if ratio < target_ratio * FAR_BELOW_FACTOR {
        Some(format!(
            "the ratio {}x is far below the target's {}x",
            fmt_num(ratio),
            fmt_num(target_ratio)
        ))
    } else {
        None
    };
    if let Some(why) = why {
        let causes = compression_causes(d);
        if causes.is_empty() {
            note.push_str(&format!("; {why}: no cause found in the per-chunk figures"));
        } else {
            note.push_str(&format!("; {why}. Why: {}", causes.join("; ")));
        }
    }
    r.note = Some(note);
    r
}
