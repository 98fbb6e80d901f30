//! `[[query]]` and `[mix]`: built-in and custom queries, their parameters and targets, and
//! the weighted mix.

use super::*;

pub(super) fn queries(
    raw: &RawScenario,
    ctx: &Ctx,
    fleet: &FleetPlan,
    run: &RunPlan,
    has_mix: bool,
) -> R<Vec<QueryPlan>> {
    let mut out: Vec<QueryPlan> = Vec::new();
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for (i, q) in raw.queries.iter().flatten().enumerate() {
        let prefix = format!("queries[{i}]");
        let section = q.name.span();
        let name = q.name.get_ref();
        let name_field = format!("{prefix}.name");
        if !valid_name(name) {
            return Err(ctx.err(
                &q.name.span(),
                &name_field,
                format!("invalid query name \"{name}\": use 1-64 ASCII letters, digits, `_`, `-` or `.` (it names report files)"),
            ));
        }
        if let Some(line) = seen.get(name) {
            return Err(ctx.err(
                &q.name.span(),
                &name_field,
                format!("duplicate query name `{name}` (first used on line {line}); names must be unique, use `builtin = \"...\"` to run a built-in twice"),
            ));
        }
        seen.insert(
            name.clone(),
            crate::scenario::error::location_of(ctx.src, q.name.span().start).line,
        );

        let kind = kind(ctx, q, &prefix, fleet)?;
        let time_bounded = kind.time_bounded();
        let mode = mode(ctx, &prefix, &q.clients, &q.rate, defaults::QUERY_CLIENTS)?;
        let warmup = ctx.opt_duration(
            &q.warmup,
            &format!("{prefix}.warmup"),
            run.warmup,
            Duration::ZERO,
            DAY,
        )?;
        let stop = stop(
            ctx,
            &prefix,
            &q.duration,
            &q.count,
            warmup,
            &q.warmup,
            run,
            &section,
        )?;
        let weight = ctx.u32(&q.weight, &format!("{prefix}.weight"), 0, 0, 1_000_000)?;
        if weight > 0 && !has_mix {
            if let Some(w) = &q.weight {
                return Err(ctx.err(
                    &w.span(),
                    &format!("{prefix}.weight"),
                    "`weight` only has a meaning in a [mix] phase, and this scenario has no [mix] section",
                ));
            }
        }
        let targets = targets(ctx, q, &prefix)?;
        let max_chunks_scanned = match &q.max_chunks_scanned {
            None => None,
            Some(v) => {
                let field = format!("{prefix}.max_chunks_scanned");
                require_time_bounded(ctx, time_bounded, &v.span(), &field, name)?;
                Some(ctx.int(&Some(v.clone()), &field, 1, 1, 1_000_000)? as u64)
            }
        };
        let min_pruning_speedup = match &q.min_pruning_speedup {
            None => None,
            Some(v) => {
                let field = format!("{prefix}.min_pruning_speedup");
                require_time_bounded(ctx, time_bounded, &v.span(), &field, name)?;
                Some(ctx.float(v, &field, 1.0, 1_000_000.0, false)?)
            }
        };
        let writes = q.writes.as_ref().is_some_and(|w| *w.get_ref());
        if let (QueryKind::Builtin(_), Some(w)) = (&kind, &q.writes) {
            return Err(ctx.err(
                &w.span(),
                &format!("{prefix}.writes"),
                "`writes` is only for custom queries (with `sql`); built-ins only read",
            ));
        }
        if let QueryKind::Custom { sql, .. } = &kind {
            if !writes {
                if let Some(word) = crate::scenario::sql::read_only_escape(sql) {
                    let sp = q.sql.as_ref().map_or(section.clone(), |s| s.span());
                    return Err(ctx.err(
                        &sp,
                        &format!("{prefix}.sql"),
                        format!("query `{name}` uses `{word}`, which could leave the query phase's read-only transactions; bench refuses it (a query that must write sets `writes = true`, and then runs only on the embedded throwaway server)"),
                    ));
                }
            }
        }
        out.push(QueryPlan {
            name: name.clone(),
            kind,
            mode,
            warmup,
            stop,
            weight,
            targets,
            max_chunks_scanned,
            min_pruning_speedup,
            writes,
            plan_cache_mode: plan_cache_mode(
                ctx,
                q.plan_cache_mode.as_ref(),
                &format!("{prefix}.plan_cache_mode"),
                run.plan_cache_mode,
            )?,
        });
    }
    Ok(out)
}

pub(super) fn require_time_bounded(
    ctx: &Ctx,
    bounded: bool,
    sp: &Range<usize>,
    field: &str,
    name: &str,
) -> R<()> {
    if bounded {
        return Ok(());
    }
    Err(ctx.err(
        sp,
        field,
        format!("query `{name}` is not time-bounded, so chunk pruning cannot be checked (custom queries declare `time_bounded = true`)"),
    ))
}

pub(super) fn kind(ctx: &Ctx, q: &RawQuery, prefix: &str, fleet: &FleetPlan) -> R<QueryKind> {
    let name = q.name.get_ref();
    if let Some(sql) = &q.sql {
        if let Some(b) = &q.builtin {
            return Err(ctx.err(
                &b.span(),
                &format!("{prefix}.builtin"),
                "a query is either a built-in (`builtin`/`name`) or custom (`sql`), not both",
            ));
        }
        if Builtin::NAMES.contains(&name.as_str()) {
            return Err(ctx.err(
                &q.name.span(),
                &format!("{prefix}.name"),
                format!(
                    "`{name}` is a built-in query name; give the custom query (`sql`) another name"
                ),
            ));
        }
        forbid_builtin_keys(ctx, q, prefix)?;
        return custom(ctx, q, sql, prefix, fleet);
    }
    for (key, present) in [
        (
            "params",
            q.params
                .as_ref()
                .map(|_| ctx.locate(&format!("{prefix}.params"))),
        ),
        ("time_bounded", q.time_bounded.as_ref().map(|p| p.span())),
    ] {
        if let Some(sp) = present {
            return Err(ctx.err(
                &sp,
                &format!("{prefix}.{key}"),
                format!("`{key}` is only for custom queries (with `sql`)"),
            ));
        }
    }
    let (bname, bspan, bfield) = match &q.builtin {
        Some(b) => (b.get_ref(), b.span(), format!("{prefix}.builtin")),
        None => (name, q.name.span(), format!("{prefix}.name")),
    };
    let builtin = match bname.as_str() {
        "latest_24h" => Builtin::Latest24h,
        "agg_7d_fleet" => Builtin::Agg7dFleet,
        "agg_7d_well" => Builtin::Agg7dWell,
        "last_value" => Builtin::LastValue,
        "dashboard_hourly" => Builtin::DashboardHourly,
        "diagnostics_recent" => Builtin::DiagnosticsRecent,
        "history_30d_daily" => Builtin::History30dDaily,
        "top_vibration" => Builtin::TopVibration {
            top_n: ctx.u32(
                &q.top_n,
                &format!("{prefix}.top_n"),
                defaults::TOP_N,
                1,
                100_000,
            )?,
            window: ctx.opt_duration(
                &q.window,
                &format!("{prefix}.window"),
                defaults::TOP_WINDOW,
                fleet.sample_interval,
                MAX_SPAN,
            )?,
        },
        other => {
            return Err(ctx.err(
                &bspan,
                &bfield,
                format!(
                "unknown built-in query `{other}`, expected one of {}; a custom query needs `sql`",
                list(&Builtin::NAMES)
            ),
            ))
        }
    };
    if !matches!(builtin, Builtin::TopVibration { .. }) {
        forbid_builtin_keys(ctx, q, prefix)?;
    }
    Ok(QueryKind::Builtin(builtin))
}

/// `top_n` and `window` belong to `top_vibration` only.
pub(super) fn forbid_builtin_keys(ctx: &Ctx, q: &RawQuery, prefix: &str) -> R<()> {
    for (key, present) in [
        ("top_n", q.top_n.as_ref().map(|p| p.span())),
        ("window", q.window.as_ref().map(|p| p.span())),
    ] {
        if let Some(sp) = present {
            return Err(ctx.err(
                &sp,
                &format!("{prefix}.{key}"),
                format!("`{key}` is only for the built-in `top_vibration`"),
            ));
        }
    }
    Ok(())
}

pub(super) fn custom(
    ctx: &Ctx,
    q: &RawQuery,
    sql: &S<String>,
    prefix: &str,
    fleet: &FleetPlan,
) -> R<QueryKind> {
    let sql_field = format!("{prefix}.sql");
    let text = sql.get_ref();
    if text.trim().is_empty() {
        return Err(ctx.err(&sql.span(), &sql_field, "custom SQL is empty"));
    }
    let used = placeholders(text).map_err(|e| match e {
        SqlScanError::BadPlaceholder(p) => ctx.err(
            &sql.span(),
            &sql_field,
            format!("invalid placeholder `{p}`: use $1 to $65535"),
        ),
        SqlScanError::Unterminated(what) => ctx.err(
            &sql.span(),
            &sql_field,
            format!("unterminated {what} in SQL"),
        ),
    })?;
    let raw_params: &[RawParam] = q.params.as_deref().unwrap_or(&[]);
    let highest = used.iter().next_back().copied().unwrap_or(0);
    if let Some(missing) = (1..=highest).find(|n| !used.contains(n)) {
        return Err(ctx.err(
            &sql.span(),
            &sql_field,
            format!("the SQL uses ${highest} but not ${missing}; placeholders must be numbered $1..$n without gaps"),
        ));
    }
    if raw_params.len() != highest as usize {
        let params_span = match &q.params {
            Some(_) => ctx.locate(&format!("{prefix}.params")),
            None => sql.span(),
        };
        return Err(ctx.err(
            &params_span,
            &format!("{prefix}.params"),
            format!(
                "the SQL has {highest} placeholder(s) ($1..${highest}) but {} parameter generator(s) are given",
                raw_params.len()
            ),
        ));
    }
    let mut params = Vec::with_capacity(raw_params.len());
    for (j, p) in raw_params.iter().enumerate() {
        params.push(param(ctx, p, &format!("{prefix}.params[{j}]"), fleet)?);
    }
    Ok(QueryKind::Custom {
        sql: text.clone(),
        params,
        time_bounded: q.time_bounded.as_ref().is_some_and(|t| *t.get_ref()),
    })
}

pub(super) const PARAM_KINDS: [&str; 4] = ["random_well", "random_window_end", "data_end", "fixed"];

pub(super) fn param(ctx: &Ctx, p: &RawParam, prefix: &str, fleet: &FleetPlan) -> R<ParamGen> {
    let kind = p.kind.get_ref().as_str();
    let no = |key: &str, v: &Option<S<toml::Value>>| -> R<()> {
        match v {
            Some(v) => Err(ctx.err(
                &v.span(),
                &format!("{prefix}.{key}"),
                format!("`{key}` does not apply to parameter kind `{kind}`"),
            )),
            None => Ok(()),
        }
    };
    match kind {
        "random_well" | "data_end" => {
            no("min_back", &p.min_back)?;
            no("value", &p.value)?;
            Ok(if kind == "random_well" {
                ParamGen::RandomWell
            } else {
                ParamGen::DataEnd
            })
        }
        "random_window_end" => {
            no("value", &p.value)?;
            let min_back = ctx.opt_duration(
                &p.min_back,
                &format!("{prefix}.min_back"),
                defaults::MIN_BACK.min(fleet.span),
                Duration::ZERO,
                fleet.span,
            )?;
            Ok(ParamGen::RandomWindowEnd { min_back })
        }
        "fixed" => {
            no("min_back", &p.min_back)?;
            let Some(v) = &p.value else {
                return Err(ctx.err(
                    &p.kind.span(),
                    &format!("{prefix}.value"),
                    "a `fixed` parameter needs a `value`",
                ));
            };
            match v.get_ref() {
                toml::Value::String(s) => Ok(ParamGen::FixedText { value: s.clone() }),
                toml::Value::Integer(i) => Ok(ParamGen::FixedInt { value: *i }),
                toml::Value::Float(f) if f.is_finite() => Ok(ParamGen::FixedFloat { value: *f }),
                other => Err(ctx.err(
                    &v.span(),
                    &format!("{prefix}.value"),
                    format!(
                        "a fixed value must be a string, an integer or a finite float, got {} (write timestamps as strings and cast in SQL, e.g. $1::timestamptz)",
                        type_name(other)
                    ),
                )),
            }
        }
        other => Err(ctx.err(
            &p.kind.span(),
            &format!("{prefix}.kind"),
            format!(
                "unknown parameter kind `{other}`, expected one of {}",
                list(&PARAM_KINDS)
            ),
        )),
    }
}

pub(super) fn targets(ctx: &Ctx, q: &RawQuery, prefix: &str) -> R<Vec<Threshold>> {
    let mut out = Vec::new();
    for (k, v) in q.targets.iter().flatten() {
        let field = format!("{prefix}.targets.{}", k.get_ref());
        let Some(metric) = Metric::from_name(k.get_ref()) else {
            return Err(ctx.err(&k.span(), &field, unknown_metric_msg(k.get_ref())));
        };
        let threshold = match metric {
            Metric::ErrorRate => ctx.float(v, &field, 0.0, 1.0, false)?,
            _ => ctx.float(v, &field, 0.0, 1e9, true)?,
        };
        out.push(Threshold { metric, threshold });
    }
    out.sort_by_key(|t| t.metric);
    Ok(out)
}

pub(super) fn mix(
    raw: &RawScenario,
    ctx: &Ctx,
    run: &RunPlan,
    queries: &[QueryPlan],
) -> R<Option<MixPlan>> {
    let Some(m) = raw.mix.as_ref() else {
        return Ok(None);
    };
    let section = ctx.locate("mix");
    if !queries.iter().any(|q| q.weight > 0) {
        return Err(ctx.err(
            &section,
            "mix",
            "the [mix] phase has no queries: give at least one [[queries]] entry a `weight` above 0",
        ));
    }
    let mode = mode(ctx, "mix", &m.clients, &m.rate, defaults::MIX_CLIENTS)?;
    let warmup = ctx.opt_duration(&m.warmup, "mix.warmup", run.warmup, Duration::ZERO, DAY)?;
    let stop = stop(
        ctx,
        "mix",
        &m.duration,
        &m.count,
        warmup,
        &m.warmup,
        run,
        &section,
    )?;
    let plan_cache_mode = plan_cache_mode(
        ctx,
        m.plan_cache_mode.as_ref(),
        "mix.plan_cache_mode",
        run.plan_cache_mode,
    )?;
    Ok(Some(MixPlan {
        mode,
        warmup,
        stop,
        plan_cache_mode,
    }))
}
