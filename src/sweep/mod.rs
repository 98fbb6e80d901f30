//! The `bench sweep` orchestrator (moved out of `plan`, which stays a pure capacity model): the scenario once per fleet size through the same pipeline as
//! `bench run` (`run::run_scenario`), each size in a fresh schema of its own
//! (`<schema>_w<wells>`), so no size sees another's rows and the load ledger never mixes
//! fleets. Only schemas this sweep created are dropped afterwards (unless kept); a schema of
//! that name that already exists is refused before anything runs.

use anyhow::Context;

use crate::db::schema::{self, Ownership};
use crate::db::{validate_schema_name, Target};
use crate::error::BenchError;
use crate::model::report::Summary;
use crate::run::pipeline::{run_scenario, RunOptions};
use crate::scenario::plan::Plan;

/// Options of a sweep that are not part of the scenario.
#[derive(Debug, Clone, Default)]
pub struct SweepOptions {
    /// Leave each size's schema (and its data) in place after measuring it.
    pub keep_schemas: bool,
    pub run: RunOptions,
}

/// What a sweep measured.
#[derive(Debug, Clone)]
pub struct SweepRuns {
    /// (wells, summary) in the order run.
    pub runs: Vec<(u32, Summary)>,
    /// Stopped by SIGINT/SIGTERM: `runs` holds the sizes measured until then.
    pub interrupted: bool,
    /// Schemas left in place (with `keep_schemas`, or when dropping one failed).
    pub kept: Vec<String>,
}

/// The schema a sweep uses for `wells` wells.
pub fn size_schema(base: &str, wells: u32) -> Result<String, BenchError> {
    let name = format!("{base}_w{wells}");
    validate_schema_name(&name)?;
    Ok(name)
}

/// Validate sweep sizes: at least two distinct sizes (a growth exponent needs two), each > 0.
/// Returns them in ascending order.
pub fn validate_sizes(wells: &[u32]) -> Result<Vec<u32>, BenchError> {
    let mut sizes = wells.to_vec();
    sizes.sort_unstable();
    if sizes.first() == Some(&0) {
        return Err(BenchError::Config(
            "--wells: every fleet size must be at least 1".into(),
        ));
    }
    if let Some(w) = sizes.windows(2).find(|w| w[0] == w[1]) {
        return Err(BenchError::Config(format!(
            "--wells: fleet size {} is given twice",
            w[0]
        )));
    }
    if sizes.len() < 2 {
        return Err(BenchError::Config(
            "--wells: a sweep needs at least two fleet sizes to fit how latency grows, e.g. \
             --wells 50,100,200,400"
                .into(),
        ));
    }
    Ok(sizes)
}

/// Run `plan` at each size of `wells` on `target`. `on_size` is called after each size (the
/// command writes that size's report there). `target.schema` is restored before returning.
pub async fn run_sweep(
    target: &mut Target,
    plan: &Plan,
    wells: &[u32],
    opts: SweepOptions,
    mut on_size: impl FnMut(u32, &Summary) -> anyhow::Result<()>,
) -> anyhow::Result<SweepRuns> {
    let base = target.schema.clone();
    let schemas = wells
        .iter()
        .map(|&w| size_schema(&base, w).map(|s| (w, s)))
        .collect::<Result<Vec<_>, _>>()?;
    // Refuse before running anything when a size's schema exists: a sweep measures each size
    // on an empty schema, and never drops what it did not create.
    {
        let client = target.connect().await?;
        for (_, s) in &schemas {
            if schema::schema_ownership(&client, s).await? != Ownership::Absent {
                return Err(BenchError::Config(format!(
                    "schema {s} already exists; bench sweep measures each fleet size in a fresh \
                     schema of its own (<schema>_w<wells>). Remove it with `bench schema reset \
                     --schema {s} --yes` if it is bench's, or pass another --schema"
                ))
                .into());
            }
        }
    }
    let mut out = SweepRuns {
        runs: Vec::new(),
        interrupted: false,
        kept: Vec::new(),
    };
    for (w, s) in schemas {
        if opts.run.cancel.is_cancelled() {
            out.interrupted = true;
            break;
        }
        target.schema = s.clone();
        let result = run_scenario(&plan.with_wells(w), target, opts.run.clone()).await;
        if opts.keep_schemas {
            out.kept.push(s.clone());
        } else if let Err(e) = drop_size_schema(target, &s).await {
            // The measurement stands; the leftover schema is reported, and a later sweep
            // refuses it by name rather than mixing data.
            eprintln!("warning: {e:#}");
            out.kept.push(s.clone());
        }
        target.schema = base.clone();
        let summary = result.with_context(|| format!("sweep at {w} wells (schema {s})"))?;
        on_size(w, &summary)?;
        let interrupted = summary.interrupted;
        out.runs.push((w, summary));
        if interrupted {
            out.interrupted = true;
            break;
        }
    }
    Ok(out)
}

async fn drop_size_schema(target: &Target, name: &str) -> anyhow::Result<()> {
    let client = target.connect().await?;
    schema::reset(&client, name)
        .await
        .with_context(|| format!("dropping the sweep's schema {name}"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_sorted_distinct_and_at_least_two() {
        assert_eq!(validate_sizes(&[400, 50, 100]).unwrap(), vec![50, 100, 400]);
        assert!(validate_sizes(&[50]).is_err());
        assert!(validate_sizes(&[50, 50]).is_err());
        assert!(validate_sizes(&[0, 50]).is_err());
    }

    #[test]
    fn size_schemas_are_valid_names() {
        assert_eq!(size_schema("esp_bench", 50).unwrap(), "esp_bench_w50");
        assert!(size_schema(&"x".repeat(62), 50).is_err());
    }
}
