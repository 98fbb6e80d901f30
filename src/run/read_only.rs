//! The query phase is read-only: writing queries are refused on any server but bench's
//! embedded one, custom queries are tried once in a read-only transaction before anything is
//! loaded, and a query that tried to write during the phase ends the run.

use anyhow::Context as _;

use crate::db::Target;
use crate::error::BenchError;
use crate::exec::queries::{ParamContext, ParamValue};
use crate::model::report::QueryStats;
use crate::scenario::plan::ParamGen;
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

/// Prepare each custom query and run each that does not declare `writes = true` once, in a
/// read-only transaction that is rolled back, before any data is loaded: a parameter whose
/// values cannot be sent as the type its `$n` has is refused ([`check_param_types`]), and so is
/// a query that writes, before it can touch anything (exit 2, naming the query). Other failures,
/// a query the server cannot prepare among them, are left to the query phase, which counts them.
pub(crate) async fn preflight_read_only(plan: &Plan, target: &Target) -> anyhow::Result<()> {
    let customs: Vec<(usize, &crate::scenario::plan::QueryPlan)> = plan
        .queries
        .iter()
        .enumerate()
        .filter(|(_, q)| matches!(q.kind, crate::scenario::plan::QueryKind::Custom { .. }))
        .collect();
    if customs.is_empty() {
        return Ok(());
    }
    let client = target.connect().await?;
    let ctx = ParamContext::from_plan(plan);
    for (i, q) in customs {
        let sql = crate::exec::queries::sql_for(q);
        let Ok(stmt) = client.prepare(&sql).await else {
            continue;
        };
        let mut rng = crate::exec::queries::rng_for(plan.fleet.seed, 0xF11E_0000 + i as u64, 0);
        let values = crate::exec::queries::values_for(q, &ctx, &mut rng);
        check_param_types(plan, i, stmt.params(), &values)?;
        if q.writes {
            continue;
        }
        let params: Vec<_> = values.into_iter().map(ParamValue::boxed).collect();
        let refs: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = params
            .iter()
            .map(|p| p.as_ref() as &(dyn tokio_postgres::types::ToSql + Sync))
            .collect();
        client
            .batch_execute("BEGIN READ ONLY; SET LOCAL statement_timeout = '5s'")
            .await
            .context("preflight of the custom queries")?;
        let r = client.query(&stmt, &refs).await;
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

/// The PostgreSQL type bench sends a drawn value as.
fn sent_as(v: &ParamValue) -> &'static str {
    match v {
        ParamValue::Text(_) => "text",
        ParamValue::Int(_) => "int8",
        ParamValue::Float(_) => "float8",
        ParamValue::Timestamp(_) => "timestamptz",
    }
}

/// The values drawn for query `i` must fit the types PostgreSQL inferred for its `$n` (`types`;
/// a TOML integer is sent as int8, so `LIMIT $1::int` with `value = 2500` does not fit: int4).
/// Such a parameter would fail every execution of the phase before it reached the server, so
/// it is refused before loading (exit 2) with the scenario's file, line and field.
fn check_param_types(
    plan: &Plan,
    i: usize,
    types: &[tokio_postgres::types::Type],
    values: &[ParamValue],
) -> anyhow::Result<()> {
    let q = &plan.queries[i];
    let crate::scenario::plan::QueryKind::Custom { params, .. } = &q.kind else {
        return Ok(());
    };
    for (j, ((gen, ty), value)) in params.iter().zip(types).zip(values).enumerate() {
        let mut buf = bytes::BytesMut::new();
        if value.clone().boxed().to_sql_checked(ty, &mut buf).is_ok() {
            continue;
        }
        let n = j + 1;
        let msg = format!(
            "query `{}`: parameter ${n} is sent as {} (the {} of `kind = \"{}\"`), but the \
             SQL makes ${n} {}, so every execution would fail before reaching the server; \
             cast it in the SQL to the type sent (`${n}::{}`, then convert as needed) or \
             give a value of the type the SQL expects",
            q.name,
            sent_as(value),
            match gen {
                ParamGen::FixedInt { .. } => "TOML integer",
                ParamGen::FixedFloat { .. } => "TOML float",
                ParamGen::FixedText { .. } => "TOML string",
                _ => "value",
            },
            param_kind(gen),
            ty.name(),
            sent_as(value),
        );
        let field = format!("queries[{i}].params[{j}]");
        let at = crate::scenario::error_at(&plan.file, &field, &format!("queries[{i}]"), msg);
        return Err(BenchError::from(at).into());
    }
    Ok(())
}

/// The scenario's `kind` of a generator.
fn param_kind(gen: &ParamGen) -> &'static str {
    match gen {
        ParamGen::RandomWell => "random_well",
        ParamGen::RandomWindowEnd { .. } => "random_window_end",
        ParamGen::DataEnd => "data_end",
        ParamGen::FixedText { .. } | ParamGen::FixedInt { .. } | ParamGen::FixedFloat { .. } => {
            "fixed"
        }
    }
}
