//! Retention during a run: what the production retention policies would drop of a scenario's
//! data (said before loading), the windows the migration notes declare, and each table's
//! cutoff in steady state.

use chrono::{SecondsFormat, Utc};

use crate::scenario::plan::Plan;

/// Data older than now() minus a retention policy's window will be dropped by that policy
/// once it runs: say so before loading.
pub fn retention_warnings(plan: &Plan, community: bool, what_bench_does: &str) -> Vec<String> {
    if !community {
        return Vec::new();
    }
    let now = Utc::now();
    let start = plan.fleet.start();
    crate::model::tables::TABLES
        .iter()
        .filter_map(|spec| {
            let policy_cutoff = now - chrono::Duration::seconds(spec.drop_after_s as i64);
            (start < policy_cutoff).then(|| {
                format!(
                    "note: {}: this scenario's data starts {} but its retention policy keeps \
                     only what is newer than now() - {} ({}): once the policy runs it drops \
                     that part. {what_bench_does}",
                    spec.table,
                    start.to_rfc3339_opts(SecondsFormat::Secs, true),
                    crate::format::fmt_secs(spec.drop_after_s as f64),
                    policy_cutoff.to_rfc3339_opts(SecondsFormat::Secs, true),
                )
            })
        })
        .collect()
}

/// The windows of production's policies as the migration notes declare them.
pub fn declared_windows() -> Vec<crate::db::steady::Windows> {
    crate::model::tables::TABLES
        .iter()
        .map(|t| crate::db::steady::Windows {
            table: t.table,
            compress_after_s: t.compress_after_s,
            drop_after_s: t.drop_after_s,
        })
        .collect()
}

/// Each table's retention cutoff (data end − drop_after): what steady state keeps.
pub(crate) fn retention_cutoffs(
    plan: &Plan,
    windows: &[crate::db::steady::Windows],
) -> Vec<(crate::load::Table, chrono::DateTime<Utc>)> {
    crate::load::Table::ALL
        .iter()
        .filter_map(|t| {
            windows.iter().find(|w| w.table == t.name()).map(|w| {
                (
                    *t,
                    plan.fleet.end - chrono::Duration::seconds(w.drop_after_s as i64),
                )
            })
        })
        .collect()
}
