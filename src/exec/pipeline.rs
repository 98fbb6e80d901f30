//! The `bench run` pipeline as a library function: detect the server -> apply the schema ->
//! load (or reuse) the data -> query phases (optionally under live ingest) -> checks -> the
//! `Summary`. `cmd::run` wires it to the command line; `bench sweep` and the tests call
//! [`run_scenario`] directly. Writing reports is the caller's job, so a sweep can run many
//! scenarios and report once.
//!
//! Interruption (the cancellation token) never turns into an error here once the server is
//! reachable: the phases stop, and the summary is returned with `interrupted = true` and
//! whatever was measured, so the caller can write a partial report.

use std::collections::BTreeMap;

use anyhow::Context as _;
use chrono::{SecondsFormat, Utc};
use tokio_postgres::Client;
use tokio_util::sync::CancellationToken;

use crate::db::Target;
use crate::error::BenchError;
use crate::exec::queries::ParamContext;
use crate::exec::runner::{run_phase_dedicated, ExecSettings, Phase};
use crate::report::model::{
    CheckResult, Environment, LoadResult, QueryStats, ScenarioEcho, Summary, Verdict, FORMAT_NAME,
    SCHEMA_VERSION,
};
use crate::scenario::plan::{Plan, UnsupportedEffect};

/// `table` of the load row that reports live ingest during the query phase.
pub const LIVE_INGEST_TABLE: &str = "esp_telemetry (live ingest)";

/// `application_name` of the query connections; fault tests terminate backends by it.
pub const QUERY_APPLICATION_NAME: &str = "esp-bench-query";

/// Options of one run that are not part of the scenario.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Stops the run (default: the process-wide SIGINT/SIGTERM token).
    pub cancel: CancellationToken,
    /// Print one line per phase on stderr.
    pub progress: bool,
    /// Empty bench's own tables and load ledger before loading (`bench run --reset`). Never
    /// implied: without it, data of another fleet in the schema is refused, not replaced.
    pub reset: bool,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            cancel: crate::shutdown::token(),
            progress: true,
            reset: false,
        }
    }
}

fn is_interrupt(err: &anyhow::Error, cancel: &CancellationToken) -> bool {
    cancel.is_cancelled()
        || err.chain().any(|c| {
            matches!(
                c.downcast_ref::<BenchError>(),
                Some(BenchError::Interrupted)
            )
        })
}

/// Run `plan` against `target` end to end and return its summary (reports not written).
pub async fn run_scenario(
    plan: &Plan,
    target: &Target,
    opts: RunOptions,
) -> anyhow::Result<Summary> {
    let cancel = opts.cancel.clone();
    let started_at = Utc::now();
    let say = |msg: &str| {
        if opts.progress {
            eprintln!("[{}] {msg}", plan.name);
        }
    };

    let client = target.connect().await.context("connecting to the server")?;
    let info = crate::db::detect::detect(&client)
        .await
        .context("detecting the server's PostgreSQL and TimescaleDB versions")?;
    let settings = server_settings(&client).await?;
    let environment = environment(&info, target, settings);
    crate::db::schema::apply(&client, &target.schema, &info)
        .await
        .with_context(|| format!("applying the schema in {}", target.schema))?;
    // Background compression and retention jobs (community edition) would rewrite chunks in
    // the middle of the measurements, and retention would drop a fixed-end data set before it
    // is queried. They stay paused while bench loads and measures; the checks phase runs them
    // explicitly, and they are scheduled again at the end.
    let jobs_paused = if info.edition == crate::db::detect::Edition::Community {
        let n = crate::db::schema::set_jobs_scheduled(&client, &target.schema, false)
            .await
            .context("pausing the schema's TimescaleDB policy jobs")?;
        if n > 0 {
            say(&format!("paused {n} policy jobs for the run"));
        }
        n > 0
    } else {
        false
    };
    drop(client);
    if opts.reset && !cancel.is_cancelled() {
        say("--reset: emptying bench's tables and load ledger");
        crate::load::reset(target)
            .await
            .context("resetting bench's tables (--reset)")?;
    }

    let mut interrupted = false;
    let mut load = Vec::new();
    if !cancel.is_cancelled() {
        let fleet = crate::datagen::Fleet::new(&plan.fleet);
        let reuse = plan.run.reuse_data
            && crate::load::account(target, plan, &fleet)
                .await
                .context("reading the load ledger")?
                .complete();
        if reuse {
            say("data already loaded (reuse_data = true): skipping the load");
        } else {
            say("loading data");
            let load_opts = crate::load::LoadOptions {
                progress: if opts.progress {
                    crate::load::ProgressMode::Auto
                } else {
                    crate::load::ProgressMode::Quiet
                },
                cancel: cancel.clone(),
                fault: None,
            };
            match crate::load::load_all(target, plan, &fleet, load_opts).await {
                Ok(results) => load = results,
                Err(e) if is_interrupt(&e, &cancel) => interrupted = true,
                Err(e) => return Err(e.context("loading the scenario's data")),
            }
        }
    }

    let mut queries: Vec<QueryStats> = Vec::new();
    let mut ingest_errors = 0;
    if !interrupted && !cancel.is_cancelled() {
        let ingest = match &plan.ingest {
            Some(ip) => {
                say(&format!(
                    "live ingest during the query phase: {}",
                    match ip.rows_per_sec {
                        Some(r) => format!("{r} rows/s"),
                        None => "every well at its sample interval".to_string(),
                    }
                ));
                let fleet = crate::datagen::Fleet::new(&plan.fleet);
                Some(
                    crate::load::LiveIngest::start(target, plan, &fleet, cancel.clone())
                        .context("starting live ingest")?,
                )
            }
            None => None,
        };
        let result = query_phases(plan, target, &cancel, &say, &mut queries).await;
        if let Some(ingest) = ingest {
            let st = ingest.stop().await;
            ingest_errors = st.errors;
            load.push(LoadResult {
                table: LIVE_INGEST_TABLE.to_string(),
                rows: st.rows,
                seconds: st.seconds,
                rows_per_sec: st.rows_per_sec,
                workers: 1,
                batch_size: plan.ingest.as_ref().map_or(0, |i| i.batch_size),
                retries: st.errors,
            });
        }
        match result {
            Ok(was_interrupted) => interrupted |= was_interrupted,
            Err(e) if is_interrupt(&e, &cancel) => interrupted = true,
            Err(e) => return Err(e),
        }
    }
    interrupted |= cancel.is_cancelled();

    let (checks, storage) = if interrupted {
        (Vec::new(), Vec::new())
    } else {
        say("running checks");
        let client = target
            .connect()
            .await
            .context("connecting for the checks phase")?;
        match crate::checks::run_checks_phase_until(
            &client,
            &info,
            &target.schema,
            plan,
            &queries,
            &cancel,
        )
        .await
        {
            Ok(o) => {
                o.annotate(&mut queries);
                (o.checks, o.storage)
            }
            Err(e) if is_interrupt(&e, &cancel) => {
                interrupted = true;
                (Vec::new(), Vec::new())
            }
            Err(e) => return Err(e.context("checks phase")),
        }
    };
    if jobs_paused {
        let client = target
            .connect()
            .await
            .context("connecting to resume the policy jobs")?;
        crate::db::schema::set_jobs_scheduled(&client, &target.schema, true)
            .await
            .context("resuming the schema's TimescaleDB policy jobs")?;
    }
    let degraded = ingest_errors > 0 || queries.iter().any(|q| q.errors > 0);
    let verdict = verdict(interrupted, degraded, &checks, plan.checks.unsupported);

    Ok(Summary {
        format: FORMAT_NAME.to_string(),
        schema_version: SCHEMA_VERSION,
        bench_version: env!("CARGO_PKG_VERSION").to_string(),
        scenario: ScenarioEcho {
            name: plan.name.clone(),
            file: plan.file.clone(),
            fingerprint: crate::scenario::fingerprint(plan),
            resolved: serde_json::to_value(plan).context("serialising the resolved scenario")?,
        },
        environment,
        started_at: started_at.to_rfc3339_opts(SecondsFormat::Secs, true),
        finished_at: Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true),
        interrupted,
        degraded,
        load,
        storage,
        queries,
        checks,
        comparison: None,
        verdict,
    })
}

/// Every per-query phase in file order, then the mix. Returns true when interrupted.
async fn query_phases(
    plan: &Plan,
    target: &Target,
    cancel: &CancellationToken,
    say: &impl Fn(&str),
    out: &mut Vec<QueryStats>,
) -> anyhow::Result<bool> {
    let settings = ExecSettings {
        seed: plan.fleet.seed,
        ctx: ParamContext::from_plan(plan),
        stats_interval: plan.run.stats_interval,
        statement_timeout: plan.run.statement_timeout,
        application_name: QUERY_APPLICATION_NAME.to_string(),
    };
    let mut phases: Vec<Phase> = plan
        .queries
        .iter()
        .enumerate()
        .map(|(i, q)| Phase::single(q, i))
        .collect();
    if let Some(mix) = &plan.mix {
        let weighted: Vec<_> = plan
            .queries
            .iter()
            .filter(|q| q.weight > 0)
            .cloned()
            .collect();
        if !weighted.is_empty() {
            phases.push(Phase {
                label: "mix:".into(),
                queries: weighted,
                mode: mix.mode.clone(),
                warmup: mix.warmup,
                stop: mix.stop.clone(),
                stream: plan.queries.len() as u64,
                plan_cache_mode: mix.plan_cache_mode,
            });
        }
    }
    for phase in &phases {
        if cancel.is_cancelled() {
            return Ok(true);
        }
        let name = match phase.queries.as_slice() {
            [one] if phase.label.is_empty() => one.name.clone(),
            _ => "mix".to_string(),
        };
        say(&format!("query phase {name}"));
        // The phase runs on its own thread, on its own connections to the same target.
        let conn = Target::for_url(&target.url, &target.schema)?;
        let outcome = run_phase_dedicated(conn, phase.clone(), settings.clone(), cancel.clone())
            .await
            .with_context(|| format!("query phase `{name}`"))?;
        out.extend(outcome.stats);
        if outcome.interrupted {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Interrupted beats everything; then any failed check or a degraded run fails.
pub fn verdict(
    interrupted: bool,
    degraded: bool,
    checks: &[CheckResult],
    unsupported: UnsupportedEffect,
) -> Verdict {
    if interrupted {
        return Verdict::Interrupted;
    }
    let failed = checks
        .iter()
        .any(|c| crate::checks::eval::counts_as_failure(c, unsupported));
    if failed || degraded {
        Verdict::Fail
    } else {
        Verdict::Pass
    }
}

/// Server settings that shape benchmark results, as the server reports them.
pub const REPORTED_SETTINGS: [&str; 14] = [
    "shared_buffers",
    "work_mem",
    "maintenance_work_mem",
    "effective_cache_size",
    "max_connections",
    "max_worker_processes",
    "max_parallel_workers",
    "max_parallel_workers_per_gather",
    "jit",
    "random_page_cost",
    "synchronous_commit",
    "fsync",
    "timescaledb.max_background_workers",
    "timescaledb.license",
];

async fn server_settings(client: &Client) -> anyhow::Result<BTreeMap<String, String>> {
    let names: Vec<String> = REPORTED_SETTINGS.iter().map(|s| s.to_string()).collect();
    let rows = client
        .query(
            "SELECT name, current_setting(name) FROM pg_settings WHERE name = ANY($1)",
            &[&names],
        )
        .await
        .context("reading the server's settings")?;
    Ok(rows
        .iter()
        .map(|r| (r.get::<_, String>(0), r.get::<_, String>(1)))
        .collect())
}

fn environment(
    info: &crate::db::detect::ServerInfo,
    target: &Target,
    settings: BTreeMap<String, String>,
) -> Environment {
    Environment {
        postgres_version: info.postgres_version.clone(),
        timescaledb_version: info.timescaledb_version.clone(),
        edition: info.edition.to_string(),
        server: if target.is_embedded() {
            "embedded".into()
        } else {
            "external".into()
        },
        cores: std::thread::available_parallelism()
            .map(|n| n.get() as u32)
            .unwrap_or(1),
        memory_bytes: memory_bytes().unwrap_or(0),
        os: os_description(),
        settings,
    }
}

/// `MemTotal` from /proc/meminfo, bytes.
pub fn memory_bytes() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    parse_meminfo(&text)
}

fn parse_meminfo(text: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

fn os_description() -> String {
    match nix::sys::utsname::uname() {
        Ok(u) => format!(
            "{} {} {}",
            u.sysname().to_string_lossy(),
            u.release().to_string_lossy(),
            u.machine().to_string_lossy()
        ),
        Err(_) => std::env::consts::OS.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::model::CheckStatus;

    fn check(status: CheckStatus) -> CheckResult {
        CheckResult {
            name: "x".into(),
            kind: "latency".into(),
            target: "<= 1".into(),
            measured: Some(1.0),
            measured_text: None,
            status,
            note: None,
        }
    }

    #[test]
    fn verdict_rules() {
        let skip = UnsupportedEffect::Skip;
        let fail = UnsupportedEffect::Fail;
        assert_eq!(
            verdict(false, false, &[check(CheckStatus::Pass)], skip),
            Verdict::Pass
        );
        assert_eq!(
            verdict(false, false, &[check(CheckStatus::Fail)], skip),
            Verdict::Fail
        );
        assert_eq!(
            verdict(false, true, &[check(CheckStatus::Pass)], skip),
            Verdict::Fail
        );
        assert_eq!(
            verdict(true, true, &[check(CheckStatus::Fail)], skip),
            Verdict::Interrupted
        );
        assert_eq!(
            verdict(false, false, &[check(CheckStatus::Unsupported)], skip),
            Verdict::Pass
        );
        assert_eq!(
            verdict(false, false, &[check(CheckStatus::Unsupported)], fail),
            Verdict::Fail
        );
    }

    #[test]
    fn meminfo_parses() {
        assert_eq!(
            parse_meminfo("MemTotal:       16318480 kB\nMemFree: 1 kB\n"),
            Some(16318480 * 1024)
        );
        assert_eq!(parse_meminfo("nothing"), None);
    }
}
