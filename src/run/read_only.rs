//! The query phase is read-only: writing queries are refused on any server but bench's
//! embedded one, custom queries are tried once in a read-only transaction before anything is
//! loaded, and a query that tried to write during the phase ends the run.

use anyhow::Context as _;

use crate::db::Target;
use crate::error::BenchError;
use crate::exec::queries::ParamContext;
use crate::model::report::QueryStats;
use crate::scenario::plan::Plan;

/// Queries that write run only where no user data can be: on bench's embedded throwaway
/// server. Refused (exit 2) on any other server, before anything is touched.
pub fn refuse_writes_on_external(plan: &Plan, target: &Target) -> anyhow::Result<()> {
    let writing: Vec<&str> = plan
        .queries
        .iter()
        .filter(|q| q.writes)
        .map(|q| q.name.as_str())
        .collect();
    if !writing.is_empty() && !target.is_embedded() {
        return Err(BenchError::Config(format!(
            "query {} sets `writes = true`: writing queries run only on bench's embedded \
             throwaway server, never on a server given by --database-url, because their SQL \
             could write outside bench's schema",
            writing
                .iter()
                .map(|w| format!("`{w}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ))
        .into());
    }
    Ok(())
}

/// SQLSTATE 25006: a statement tried to write in a read-only transaction.
const READ_ONLY_VIOLATION: &str = "25006";

/// A query that tried to write during the query phase ends the run (exit 2), naming it.
pub(crate) fn refuse_writes_seen(queries: &[QueryStats]) -> anyhow::Result<()> {
    let offenders: Vec<String> = queries
        .iter()
        .filter(|q| q.errors_by_sqlstate.contains_key(READ_ONLY_VIOLATION))
        .map(|q| format!("`{}`", q.name))
        .collect();
    if offenders.is_empty() {
        return Ok(());
    }
    Err(BenchError::Config(format!(
        "query {} tried to write during the query phase (SQLSTATE 25006, read-only \
         transaction): the query phase is read-only; a query that must write sets \
         `writes = true` (embedded server only)",
        offenders.join(", ")
    ))
    .into())
}

/// Run each custom query that does not declare `writes = true` once, in a read-only
/// transaction that is rolled back, before any data is loaded: a query that writes is refused
/// (exit 2) before it can touch anything, naming the query. Other failures are left to the
/// query phase, which counts them.
pub(crate) async fn preflight_read_only(plan: &Plan, target: &Target) -> anyhow::Result<()> {
    let customs: Vec<(usize, &crate::scenario::plan::QueryPlan)> = plan
        .queries
        .iter()
        .enumerate()
        .filter(|(_, q)| {
            !q.writes && matches!(q.kind, crate::scenario::plan::QueryKind::Custom { .. })
        })
        .collect();
    if customs.is_empty() {
        return Ok(());
    }
    let client = target.connect().await?;
    let ctx = ParamContext::from_plan(plan);
    for (i, q) in customs {
        let sql = crate::exec::queries::sql_for(q);
        let mut rng = crate::exec::queries::rng_for(plan.fleet.seed, 0xF11E_0000 + i as u64, 0);
        let params = crate::exec::queries::params_for(q, &ctx, &mut rng);
        let refs: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = params
            .iter()
            .map(|p| p.as_ref() as &(dyn tokio_postgres::types::ToSql + Sync))
            .collect();
        client
            .batch_execute("BEGIN READ ONLY; SET LOCAL statement_timeout = '5s'")
            .await
            .context("preflight of the custom queries")?;
        let r = client.query(sql.as_str(), &refs).await;
        let _ = client.batch_execute("ROLLBACK").await;
        if let Err(e) = r {
            if e.code().map(|c| c.code()) == Some(READ_ONLY_VIOLATION) {
                return Err(BenchError::Config(format!(
                    "query `{}` writes ({}): the query phase is read-only, so bench refuses it \
                     before loading anything. A query that must write sets `writes = true`, and \
                     then runs only on bench's embedded throwaway server",
                    q.name,
                    crate::error::pg_error_text(&e)
                ))
                .into());
            }
        }
    }
    Ok(())
}
