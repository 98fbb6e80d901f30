//! `[load]`, `[ingest]` and `[run]`: loader sizing, live ingest, and the query phases'
//! defaults (warmup, stop condition, closed loop or fixed rate, plan cache mode).

use super::*;

pub(super) fn load(raw: &RawScenario, ctx: &Ctx) -> R<LoadPlan> {
    let l = raw.load.as_ref();
    Ok(LoadPlan {
        workers: ctx.u32(
            &l.and_then(|l| l.workers.clone()),
            "load.workers",
            defaults::LOAD_WORKERS,
            1,
            256,
        )?,
        batch_size: ctx.u32(
            &l.and_then(|l| l.batch_size.clone()),
            "load.batch_size",
            defaults::LOAD_BATCH,
            1,
            10_000_000,
        )?,
        max_retries: ctx.u32(
            &l.and_then(|l| l.max_retries.clone()),
            "load.max_retries",
            5,
            0,
            100,
        )?,
    })
}

pub(super) fn ingest(raw: &RawScenario, ctx: &Ctx) -> R<Option<IngestPlan>> {
    let Some(i) = raw.ingest.as_ref() else {
        return Ok(None);
    };
    let rows_per_sec = match &i.rows_per_sec {
        None => None,
        Some(v) => Some(ctx.float(v, "ingest.rows_per_sec", 0.0, 10_000_000.0, true)?),
    };
    let batch_size = ctx.u32(
        &i.batch_size,
        "ingest.batch_size",
        defaults::INGEST_BATCH,
        1,
        1_000_000,
    )?;
    if i.enabled == Some(false) {
        return Ok(None);
    }
    Ok(Some(IngestPlan {
        rows_per_sec,
        batch_size,
    }))
}

pub(super) fn run(raw: &RawScenario, ctx: &Ctx) -> R<RunPlan> {
    let section = ctx.locate("run");
    let r = raw.run.as_ref();
    let warmup_raw = r.and_then(|r| r.warmup.clone());
    let duration_raw = r.and_then(|r| r.duration.clone());
    let interval_raw = r.and_then(|r| r.stats_interval.clone());
    let warmup = ctx.opt_duration(
        &warmup_raw,
        "run.warmup",
        defaults::WARMUP,
        Duration::ZERO,
        DAY,
    )?;
    let duration = ctx.opt_duration(
        &duration_raw,
        "run.duration",
        defaults::DURATION,
        100 * MS,
        7 * DAY,
    )?;
    let stats_interval = ctx.opt_duration(
        &interval_raw,
        "run.stats_interval",
        defaults::STATS_INTERVAL,
        10 * MS,
        DAY,
    )?;
    let statement_timeout = ctx.opt_duration(
        &r.and_then(|r| r.statement_timeout.clone()),
        "run.statement_timeout",
        defaults::STATEMENT_TIMEOUT,
        MS,
        DAY,
    )?;
    check_warmup(
        ctx,
        "run",
        warmup,
        &warmup_raw,
        duration,
        &duration_raw,
        &section,
    )?;
    if stats_interval > duration {
        let (sp, field) = match (&interval_raw, &duration_raw) {
            (Some(v), _) => (v.span(), "run.stats_interval"),
            (None, Some(v)) => (v.span(), "run.duration"),
            (None, None) => (section.clone(), "run.stats_interval"),
        };
        return Err(ctx.err(
            &sp,
            field,
            format!(
                "stats_interval {} is longer than duration {}",
                fmt_d(stats_interval),
                fmt_d(duration)
            ),
        ));
    }
    Ok(RunPlan {
        warmup,
        duration,
        stats_interval,
        statement_timeout,
        reuse_data: r.and_then(|r| r.reuse_data).unwrap_or(false),
        state: match r.and_then(|r| r.state.as_ref()) {
            None => DataState::Steady,
            Some(v) => match v.get_ref().as_str() {
                "steady" => DataState::Steady,
                "fresh" => DataState::Fresh,
                other => {
                    return Err(ctx.err(
                        &v.span(),
                        "run.state",
                        format!("unknown value `{other}`, expected `steady` (compress and drop chunks as the policies would, before the queries) or `fresh` (as loaded)"),
                    ))
                }
            },
        },
        plan_cache_mode: plan_cache_mode(
            ctx,
            r.and_then(|r| r.plan_cache_mode.as_ref()),
            "run.plan_cache_mode",
            PlanCacheMode::Auto,
        )?,
        rounds: ctx.u32(
            &r.and_then(|r| r.rounds.clone()),
            "run.rounds",
            1,
            1,
            MAX_ROUNDS,
        )?,
        cache: cache_mode(ctx, r.and_then(|r| r.cache.as_ref()))?,
        capture: r.and_then(|r| r.capture).unwrap_or(true),
        what_if: what_if(ctx, r.and_then(|r| r.what_if.as_ref()))?,
        speed_reference: r.and_then(|r| r.speed_reference).unwrap_or(false),
    })
}

/// The most rounds a query phase may be split into.
const MAX_ROUNDS: u32 = 100;

/// `[run] rounds`: every query's phase must still have something to measure in each round,
/// and cold phases (one restart of the server each) cannot be split.
pub(super) fn check_rounds(
    raw: &RawScenario,
    ctx: &Ctx,
    run: &RunPlan,
    queries: &[QueryPlan],
) -> R<()> {
    let n = run.rounds;
    if n <= 1 {
        return Ok(());
    }
    let sp = raw
        .run
        .as_ref()
        .and_then(|r| r.rounds.as_ref())
        .map_or_else(|| ctx.locate("run"), |v| v.span());
    if run.cache != CacheMode::Hot {
        return Err(ctx.err(
            &sp,
            "run.rounds",
            format!(
                "rounds = {n} needs cache = \"hot\": a cold phase starts with a restart of the \
                 server, which {n} rounds would repeat {n} times per query; use rounds = 1 with \
                 cold caches"
            ),
        ));
    }
    let floor = run.stats_interval.max(100 * MS);
    for (i, q) in queries.iter().enumerate() {
        let short = match q.stop {
            StopCondition::Duration { duration } if duration / n < floor => format!(
                "queries[{i}] ({}): duration {} in {n} rounds is {} a round, shorter than {}",
                q.name,
                fmt_d(duration),
                fmt_d(duration / n),
                if run.stats_interval >= 100 * MS {
                    format!("run.stats_interval {}", fmt_d(run.stats_interval))
                } else {
                    "100ms".to_string()
                }
            ),
            StopCondition::Count { count } if count < u64::from(n) => format!(
                "queries[{i}] ({}): count {count} cannot be split into {n} rounds",
                q.name
            ),
            _ => continue,
        };
        return Err(ctx.err(&sp, "run.rounds", short));
    }
    Ok(())
}

/// `[run] cache = "hot" | "cold" | "both"`.
fn cache_mode(ctx: &Ctx, v: Option<&S<String>>) -> R<CacheMode> {
    let Some(v) = v else {
        return Ok(CacheMode::Hot);
    };
    Ok(match v.get_ref().as_str() {
        "hot" => CacheMode::Hot,
        "cold" => CacheMode::Cold,
        "both" => CacheMode::Both,
        other => {
            return Err(ctx.err(
                &v.span(),
                "run.cache",
                format!(
                    "unknown value `{other}`, expected `hot` (caches as the previous phases left \
                     them), `cold` (restart the embedded server and drop the OS page cache \
                     before each phase) or `both`"
                ),
            ))
        }
    })
}

/// `[run] what_if = ["cagg"]`: known kinds, each once.
fn what_if(ctx: &Ctx, v: Option<&S<Vec<S<String>>>>) -> R<Vec<WhatIfKind>> {
    let Some(v) = v else { return Ok(Vec::new()) };
    let mut out = Vec::new();
    for item in v.get_ref() {
        let Some(kind) = WhatIfKind::ALL
            .into_iter()
            .find(|k| k.name() == item.get_ref().as_str())
        else {
            let names: Vec<&str> = WhatIfKind::ALL.iter().map(|k| k.name()).collect();
            return Err(ctx.err(
                &item.span(),
                "run.what_if",
                format!(
                    "unknown alternative `{}`, expected one of {}",
                    item.get_ref(),
                    list(&names)
                ),
            ));
        };
        if out.contains(&kind) {
            return Err(ctx.err(
                &item.span(),
                "run.what_if",
                format!("`{}` is listed twice", kind.name()),
            ));
        }
        out.push(kind);
    }
    Ok(out)
}

/// `plan_cache_mode = "auto" | "force_custom_plan" | "force_generic_plan"`.
pub(super) fn plan_cache_mode(
    ctx: &Ctx,
    v: Option<&S<String>>,
    field: &str,
    default: PlanCacheMode,
) -> R<PlanCacheMode> {
    let Some(v) = v else { return Ok(default) };
    PlanCacheMode::from_name(v.get_ref()).ok_or_else(|| {
        let names: Vec<&str> = PlanCacheMode::ALL.iter().map(|m| m.name()).collect();
        ctx.err(
            &v.span(),
            field,
            format!(
                "unknown value `{}`, expected one of {}",
                v.get_ref(),
                list(&names)
            ),
        )
    })
}

/// Warmup happens before the measured duration; a warmup as long as the measurement means the
/// scenario was mistyped.
pub(super) fn check_warmup(
    ctx: &Ctx,
    prefix: &str,
    warmup: Duration,
    warmup_raw: &Option<S<toml::Value>>,
    duration: Duration,
    duration_raw: &Option<S<toml::Value>>,
    section: &Range<usize>,
) -> R<()> {
    if warmup < duration {
        return Ok(());
    }
    let (sp, key) = match (warmup_raw, duration_raw) {
        (Some(w), _) => (w.span(), "warmup"),
        (None, Some(d)) => (d.span(), "duration"),
        (None, None) => (section.clone(), "warmup"),
    };
    Err(ctx.err(
        &sp,
        &format!("{prefix}.{key}"),
        format!(
            "warmup {} must be shorter than duration {}",
            fmt_d(warmup),
            fmt_d(duration)
        ),
    ))
}

/// Closed loop or fixed rate, from `clients` and `rate`.
pub(super) fn mode(
    ctx: &Ctx,
    prefix: &str,
    clients: &Option<S<i64>>,
    rate: &Option<S<f64>>,
    default_clients: u32,
) -> R<LoadMode> {
    let clients = ctx.u32(
        clients,
        &format!("{prefix}.clients"),
        default_clients,
        1,
        1024,
    )?;
    Ok(match rate {
        None => LoadMode::Closed { clients },
        Some(r) => LoadMode::FixedRate {
            rate: ctx.float(r, &format!("{prefix}.rate"), 0.0, 1_000_000.0, true)?,
            clients,
        },
    })
}

#[allow(clippy::too_many_arguments)]
pub(super) fn stop(
    ctx: &Ctx,
    prefix: &str,
    duration_raw: &Option<S<toml::Value>>,
    count_raw: &Option<S<i64>>,
    warmup: Duration,
    warmup_raw: &Option<S<toml::Value>>,
    run: &RunPlan,
    section: &Range<usize>,
) -> R<StopCondition> {
    if let (Some(_), Some(c)) = (duration_raw, count_raw) {
        return Err(ctx.err(
            &c.span(),
            &format!("{prefix}.count"),
            "`count` and `duration` are mutually exclusive: give one",
        ));
    }
    if let Some(c) = count_raw {
        let count = ctx.int(
            &Some(c.clone()),
            &format!("{prefix}.count"),
            1,
            1,
            1_000_000_000,
        )?;
        return Ok(StopCondition::Count {
            count: count as u64,
        });
    }
    let duration = ctx.opt_duration(
        duration_raw,
        &format!("{prefix}.duration"),
        run.duration,
        100 * MS,
        7 * DAY,
    )?;
    // Inherit the [run] pair silently only when both are inherited; otherwise check the pair.
    check_warmup(
        ctx,
        prefix,
        warmup,
        warmup_raw,
        duration,
        duration_raw,
        section,
    )?;
    if run.stats_interval > duration {
        let sp = duration_raw.as_ref().map_or(section.clone(), |v| v.span());
        return Err(ctx.err(
            &sp,
            &format!("{prefix}.duration"),
            format!(
                "duration {} is shorter than run.stats_interval {}",
                fmt_d(duration),
                fmt_d(run.stats_interval)
            ),
        ));
    }
    Ok(StopCondition::Duration { duration })
}
