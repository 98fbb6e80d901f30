//! `[run] what_if = ["cagg"]`: for each failing fleet or well aggregate (the built-ins
//! `agg_7d_fleet`, `agg_7d_well`, `dashboard_hourly`), build an hourly continuous aggregate
//! of esp_telemetry in bench's schema, refresh it, measure the equivalent query against it with
//! the same runner in a short phase, record a `WhatIf`, and drop the aggregate again.
//! Continuous aggregates need the TimescaleDB community edition: on the Apache edition nothing
//! is built and the explanation says so.

use std::time::{Duration, Instant};

use anyhow::Context;
use tokio_util::sync::CancellationToken;

use crate::db::Target;
use crate::exec::queries;
use crate::exec::runner::{run_phase_dedicated, ExecSettings, Phase};
use crate::model::report::{CheckResult, CheckStatus, QueryStats, WhatIf};
use crate::scenario::plan::{Builtin, QueryKind, QueryPlan, StopCondition};

/// The continuous aggregate's name in bench's schema.
pub const CAGG: &str = "whatif_telemetry_hourly";

/// Longest measured stage of a what-if phase.
pub const PHASE_LIMIT: Duration = Duration::from_secs(5);

/// RNG stream of the what-if phases (apart from the query phases').
const STREAM: u64 = 0x3A7_0000;

/// What the explanations say when continuous aggregates cannot be built here.
pub fn apache_note(edition: &str) -> String {
    format!(
        "continuous aggregates need the TimescaleDB community edition; this server runs the \
         {edition} edition, so what_if = [\"cagg\"] measured nothing (run bench against a \
         server with the community edition, e.g. --pg-bin-dir pointing at one)"
    )
}

/// The queries a continuous aggregate can answer.
pub fn candidates(queries: &[QueryPlan]) -> Vec<String> {
    queries
        .iter()
        .filter(|q| alternative_sql(q).is_some())
        .map(|q| q.name.clone())
        .collect()
}

/// The definition of the aggregate (over `schema.esp_telemetry`).
pub fn cagg_definition(schema: &str) -> String {
    let avg = |c: &str| format!("avg({c}) AS {c}");
    format!(
        "CREATE MATERIALIZED VIEW \"{schema}\".{CAGG} \
         WITH (timescaledb.continuous, timescaledb.materialized_only = true) AS \
         SELECT well_id, time_bucket('1 hour', \"timestamp\") AS bucket, \
         sum(flow_rate) AS flow_sum, count(flow_rate) AS flow_n, \
         max(flow_rate) AS flow_max, min(flow_rate) AS flow_min, {} \
         FROM \"{schema}\".esp_telemetry GROUP BY well_id, bucket WITH NO DATA",
        [
            "frequency_hz",
            "motor_current_a",
            "intake_pressure_psi",
            "discharge_pressure_psi",
            "motor_temp_f",
            "vibration_g",
            "flow_rate",
        ]
        .map(avg)
        .join(", ")
    )
}

/// The query against the aggregate that answers `q` (same parameters, in the same order).
pub fn alternative_sql(q: &QueryPlan) -> Option<String> {
    let QueryKind::Builtin(b) = &q.kind else {
        return None;
    };
    Some(match b {
        Builtin::Agg7dFleet => format!(
            "SELECT well_id, sum(flow_sum) / nullif(sum(flow_n), 0) AS avg_flow, \
             max(flow_max) AS max_flow, min(flow_min) AS min_flow FROM {CAGG} \
             WHERE bucket > $1::timestamptz - interval '7 days' GROUP BY well_id"
        ),
        Builtin::Agg7dWell => format!(
            "SELECT well_id, sum(flow_sum) / nullif(sum(flow_n), 0) AS avg_flow, \
             max(flow_max) AS max_flow, min(flow_min) AS min_flow FROM {CAGG} \
             WHERE well_id = $1 AND bucket > $2::timestamptz - interval '7 days' \
             GROUP BY well_id"
        ),
        Builtin::DashboardHourly => format!(
            "SELECT bucket, frequency_hz, motor_current_a, intake_pressure_psi, \
             discharge_pressure_psi, motor_temp_f, vibration_g, flow_rate FROM {CAGG} \
             WHERE well_id = $1 AND bucket > $2::timestamptz - interval '7 days' \
             ORDER BY bucket"
        ),
        _ => return None,
    })
}

/// The candidates whose own phase failed a latency check.
pub fn failing(queries: &[QueryPlan], checks: &[CheckResult]) -> Vec<QueryPlan> {
    queries
        .iter()
        .filter(|q| alternative_sql(q).is_some())
        .filter(|q| {
            let prefix = format!("latency.{}.", q.name);
            checks
                .iter()
                .any(|c| c.name.starts_with(&prefix) && c.status == CheckStatus::Fail)
        })
        .cloned()
        .collect()
}

/// The short phase that measures `alt_sql` in place of `q`.
fn alternative_phase(q: &QueryPlan, alt_sql: String, index: usize) -> Phase {
    let mut alt = q.clone();
    alt.name = format!("whatif:cagg:{}", q.name);
    alt.kind = QueryKind::Custom {
        sql: alt_sql,
        params: queries::param_gens(q),
        time_bounded: true,
    };
    alt.targets = Vec::new();
    alt.max_chunks_scanned = None;
    alt.min_pruning_speedup = None;
    alt.warmup = q.warmup.min(Duration::from_secs(1));
    alt.stop = match q.stop {
        StopCondition::Duration { duration } => StopCondition::Duration {
            duration: duration.min(PHASE_LIMIT),
        },
        StopCondition::Count { count } => StopCondition::Count {
            count: count.min(500),
        },
    };
    let mut phase = Phase::single(&alt, index);
    phase.stream = STREAM + index as u64;
    phase
}

/// Build, refresh and measure; drop the aggregate afterwards whatever happened.
pub async fn measure_cagg(
    target: &Target,
    failing: &[QueryPlan],
    baseline: &[QueryStats],
    settings: &ExecSettings,
    cancel: &CancellationToken,
) -> anyhow::Result<Vec<WhatIf>> {
    if failing.is_empty() {
        return Ok(Vec::new());
    }
    let client = target.connect().await?;
    let definition = cagg_definition(&target.schema);
    let drop_sql = format!(
        "DROP MATERIALIZED VIEW IF EXISTS \"{}\".{CAGG}",
        target.schema
    );
    let result = async {
        client.batch_execute(&drop_sql).await?;
        client
            .batch_execute(&definition)
            .await
            .context("creating the continuous aggregate")?;
        let started = Instant::now();
        // Not inside a transaction block: one statement per call.
        client
            .batch_execute(&format!(
                "CALL refresh_continuous_aggregate('\"{}\".{CAGG}', NULL, NULL)",
                target.schema
            ))
            .await
            .context("refreshing the continuous aggregate")?;
        let refresh_s = started.elapsed().as_secs_f64();
        client
            .batch_execute(&format!("ANALYZE \"{}\".{CAGG}", target.schema))
            .await?;
        let mut out = Vec::new();
        for (i, q) in failing.iter().enumerate() {
            if cancel.is_cancelled() {
                break;
            }
            let Some(alt_sql) = alternative_sql(q) else {
                continue;
            };
            let phase = alternative_phase(q, alt_sql.clone(), i);
            let conn = Target::for_url(&target.url, &target.schema)?;
            let outcome = run_phase_dedicated(conn, phase, settings.clone(), cancel.clone())
                .await
                .with_context(|| format!("what-if phase of `{}`", q.name))?;
            let Some(st) = outcome.stats.first() else {
                continue;
            };
            let base = baseline.iter().find(|s| s.name == q.name);
            let errors = if st.errors > 0 {
                format!(", {} errors", st.errors)
            } else {
                String::new()
            };
            out.push(WhatIf {
                query: q.name.clone(),
                kind: "cagg".into(),
                sql: format!("{definition};\n{alt_sql}"),
                baseline_p95_ms: base.map_or(0.0, |b| b.latency_ms.p95),
                alternative_p95_ms: st.latency_ms.p95,
                note: format!(
                    "hourly continuous aggregate refreshed over the whole data set in {refresh_s:.1} s; \
                     {} executions in {:.1} s, mean {:.2} ms{errors}; the 7-day window's edge is \
                     rounded to the hour",
                    st.count, st.duration_s, st.latency_ms.mean
                ),
            });
        }
        Ok::<_, anyhow::Error>(out)
    }
    .await;
    let dropped = client.batch_execute(&drop_sql).await;
    let out = result?;
    dropped.context("dropping the what-if continuous aggregate")?;
    Ok(out)
}

/// After the checks: measure the requested alternatives (`[run] what_if`), then explain every
/// failed check (`checks::explain`). A what-if that cannot run becomes the explanation's note,
/// never an error of the run.
#[allow(clippy::too_many_arguments)]
pub async fn run_and_explain(
    plan: &crate::scenario::plan::Plan,
    target: &Target,
    info: &crate::db::detect::ServerInfo,
    checks: &[CheckResult],
    queries_done: &[QueryStats],
    storage: &[crate::model::report::TableStorage],
    cancel: &CancellationToken,
    say: &impl Fn(&str),
) -> (Vec<WhatIf>, Vec<crate::model::report::Explanation>) {
    use crate::scenario::plan::WhatIfKind;
    let cagg_requested = plan.run.what_if.contains(&WhatIfKind::Cagg);
    let mut note = None;
    let mut what_if = Vec::new();
    if cagg_requested {
        let failing = failing(&plan.queries, checks);
        if failing.is_empty() {
            say("what_if cagg: no fleet or well aggregate failed its target; nothing to measure");
        } else if !info.edition.is_community() {
            let n = apache_note(&info.edition.to_string());
            say(&format!("what_if cagg: {n}"));
            note = Some(n);
        } else {
            say(&format!(
                "what_if cagg: measuring {} against an hourly continuous aggregate",
                failing
                    .iter()
                    .map(|q| q.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
            let settings = ExecSettings {
                seed: plan.fleet.seed,
                ctx: queries::ParamContext::from_plan(plan),
                stats_interval: plan.run.stats_interval,
                statement_timeout: plan.run.statement_timeout,
                application_name: crate::exec::QUERY_APPLICATION_NAME.to_string(),
                read_only: true,
                speed_reference: false,
            };
            match measure_cagg(target, &failing, queries_done, &settings, cancel).await {
                Ok(w) => what_if = w,
                Err(e) => {
                    let n = format!("the continuous aggregate could not be measured: {e:#}");
                    say(&format!("what_if cagg: {n}"));
                    note = Some(n);
                }
            }
        }
    }
    let cands = candidates(&plan.queries);
    let explanations = crate::checks::explain::explain(&crate::checks::explain::Input {
        checks,
        queries: queries_done,
        storage,
        what_if: &what_if,
        what_if_note: note.as_deref(),
        cagg_candidates: &cands,
        cagg_requested,
        unsupported: plan.checks.unsupported,
    });
    (what_if, explanations)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fleet_and_well_aggregates_have_alternatives_with_the_same_parameters() {
        let src =
            "[fleet]\n[[queries]]\nname = \"agg_7d_fleet\"\n[[queries]]\nname = \"agg_7d_well\"\n\
                   [[queries]]\nname = \"dashboard_hourly\"\n[[queries]]\nname = \"latest_24h\"\n";
        let plan = crate::scenario::parse(src, "t.toml", chrono::Utc::now())
            .unwrap_or_else(|e| panic!("{e}"));
        let c = candidates(&plan.queries);
        assert_eq!(c, vec!["agg_7d_fleet", "agg_7d_well", "dashboard_hourly"]);
        for q in &plan.queries {
            if let Some(sql) = alternative_sql(q) {
                let n = queries::param_gens(q).len();
                assert!(sql.contains(&format!("${n}")), "{sql}");
                assert!(!sql.contains(&format!("${}", n + 1)), "{sql}");
            }
        }
    }
}
