//! Chunk counts and chunk intervals against the production schema.

use super::*;

/// Chunks a table holding data over `span_s` seconds may have with `interval_s` chunks aligned
/// to the epoch: ceil(span / interval) full-or-partial chunks, plus one when the span straddles
/// a chunk boundary. When the data actually present (first and last row) reaches past the
/// nominal span (live ingest after the end) or fills less of it (sparse diagnostics), the
/// range follows the data: the bounds become the aligned chunks between first and last row.
pub fn expected_chunks(
    span_s: u64,
    interval_s: u64,
    data: Option<(DateTime<Utc>, DateTime<Utc>)>,
) -> (u64, u64) {
    let interval_s = interval_s.max(1);
    let nominal = span_s.div_ceil(interval_s);
    let (mut lo, mut hi) = (nominal, nominal + 1);
    if let Some((first, last)) = data {
        let i = interval_s as i64;
        let aligned = (last.timestamp().div_euclid(i) - first.timestamp().div_euclid(i) + 1) as u64;
        lo = lo.min(aligned);
        hi = hi.max(aligned);
    } else {
        lo = 0;
    }
    (lo, hi)
}

/// `chunks.<table>.count` within [lo, hi] of [`expected_chunks`].
pub fn chunk_count_check(
    table: &str,
    count: u64,
    span_s: u64,
    interval_s: u64,
    data: Option<(DateTime<Utc>, DateTime<Utc>)>,
) -> CheckResult {
    let (lo, hi) = expected_chunks(span_s, interval_s, data);
    let range = match data {
        Some((a, b)) => format!("rows {} .. {}", ts(a), ts(b)),
        None => "no rows".to_string(),
    };
    let note = format!(
        "span {} / chunk interval {} -> {}..{} chunks; {range}",
        fmt_secs(span_s as f64),
        fmt_secs(interval_s as f64),
        lo,
        hi
    );
    result(
        format!("chunks.{table}.count"),
        "chunks",
        format!("in [{lo}, {hi}]"),
        Some(count as f64),
        pass_if(count >= lo && count <= hi),
        Some(note),
    )
}

/// `chunks.<table>.interval_s == expected` (None: the table is not a hypertable).
pub fn chunk_interval_check(table: &str, actual_s: Option<u64>, expected_s: u64) -> CheckResult {
    let name = format!("chunks.{table}.interval_s");
    let target = format!("== {expected_s}");
    match actual_s {
        Some(a) => result(
            name,
            "chunks",
            target,
            Some(a as f64),
            pass_if(a == expected_s),
            Some(format!("{} chunks", fmt_secs(a as f64))),
        ),
        None => result(
            name,
            "chunks",
            target,
            None,
            CheckStatus::Fail,
            Some(format!("{table} is not a hypertable in the bench schema")),
        ),
    }
}
