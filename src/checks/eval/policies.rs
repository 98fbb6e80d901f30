//! Compression and retention policies, and what retention leaves behind.

use super::*;

/// `policies.<table>.<kind>` (kind "compression" or "retention"): exactly the expected job.
pub fn policy_check(
    table: &str,
    kind: &str,
    expected_after_s: u64,
    jobs: &[PolicyJob],
) -> CheckResult {
    let proc_name = match kind {
        "compression" => "policy_compression",
        _ => "policy_retention",
    };
    let key = if kind == "compression" {
        "compress_after"
    } else {
        "drop_after"
    };
    let name = format!("policies.{table}.{kind}");
    let target = format!("{key} == {}", fmt_secs(expected_after_s as f64));
    let mine: Vec<&PolicyJob> = jobs
        .iter()
        .filter(|j| j.hypertable == table && j.proc_name == proc_name)
        .collect();
    let mut r = result(name, "policies", target, None, CheckStatus::Fail, None);
    match mine.as_slice() {
        [] => r.note = Some(format!("no {proc_name} job for {table}")),
        [j] => {
            r.measured = j.after_s;
            r.measured_text = Some(match j.after_s {
                Some(s) => format!("{key} = {} (job {})", fmt_secs(s), j.job_id),
                None => format!("job {} config {}", j.job_id, j.config),
            });
            r.status = pass_if(j.after_s == Some(expected_after_s as f64));
        }
        many => {
            r.note = Some(format!(
                "{} {proc_name} jobs for {table} (jobs {}); expected one",
                many.len(),
                many.iter()
                    .map(|j| j.job_id.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        }
    }
    r
}

/// The target text of a retention check.
pub fn retention_target(window_s: u64, chunk_interval_s: u64) -> String {
    format!(
        "no chunk before data end - {}, oldest row >= cutoff - {}",
        fmt_secs(window_s as f64),
        fmt_secs(chunk_interval_s as f64)
    )
}

/// `retention.<table>`: no chunk lies wholly before the cutoff, and the oldest row is at most
/// one chunk interval older than the cutoff (retention drops whole chunks only, so the chunk
/// that holds the cutoff keeps its older rows). Measured: the oldest row's age beyond the
/// cutoff, seconds (0 when none is older).
pub fn retention_check(table: &str, window_s: u64, st: &RetentionState) -> CheckResult {
    let name = format!("retention.{table}");
    let target = retention_target(window_s, st.chunk_interval_s);
    let over_s = st
        .oldest_row
        .map(|o| (st.cutoff - o).num_seconds().max(0) as f64)
        .unwrap_or(0.0);
    let row_ok = over_s <= st.chunk_interval_s as f64;
    let ok = st.chunks_before_cutoff == 0 && row_ok;
    let mut note = format!(
        "cutoff {}; {}; dropped {} chunks; {} chunks left before the cutoff; oldest row {}",
        ts(st.cutoff),
        st.method,
        st.dropped,
        st.chunks_before_cutoff,
        st.oldest_row.map(ts).unwrap_or_else(|| "none".into())
    );
    if !row_ok {
        note.push_str(" (older than cutoff - chunk interval)");
    }
    let mut r = result(
        name,
        "retention",
        target,
        Some(over_s),
        pass_if(ok),
        Some(note),
    );
    r.measured_text = Some(format!(
        "oldest row {} s before the cutoff",
        fmt_num(over_s)
    ));
    r
}
