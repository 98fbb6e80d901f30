//! `[fleet]`, `[faults]` and `[dirty]`: the wells, the span and its end, and the rates of
//! faults and imperfect data.

use super::*;

pub(super) fn fleet(raw: &RawScenario, ctx: &Ctx, now: DateTime<Utc>) -> R<FleetPlan> {
    let section = ctx.locate("fleet");
    let f = raw.fleet.as_ref();
    let wells_raw = f.and_then(|f| f.wells.clone());
    let wells = ctx.u32(&wells_raw, "fleet.wells", defaults::WELLS, 1, 1_000_000)?;

    let interval_raw = f.and_then(|f| f.sample_interval.clone());
    let sample_interval = ctx.opt_duration(
        &interval_raw,
        "fleet.sample_interval",
        defaults::SAMPLE_INTERVAL,
        SEC,
        DAY,
    )?;
    if !whole_seconds(sample_interval) {
        let sp = interval_raw.as_ref().map_or(section.clone(), |v| v.span());
        return Err(ctx.err(
            &sp,
            "fleet.sample_interval",
            "must be a whole number of seconds",
        ));
    }

    let span_raw = f.and_then(|f| f.span.clone());
    let span = ctx.opt_duration(&span_raw, "fleet.span", defaults::SPAN, SEC, MAX_SPAN)?;
    let span_span = span_raw.as_ref().map_or(section.clone(), |v| v.span());
    if !whole_seconds(span) {
        return Err(ctx.err(
            &span_span,
            "fleet.span",
            "must be a whole number of seconds",
        ));
    }
    if span < sample_interval {
        return Err(ctx.err(
            &span_span,
            "fleet.span",
            format!(
                "span {} is shorter than sample_interval {}",
                fmt_d(span),
                fmt_d(sample_interval)
            ),
        ));
    }
    let samples = u128::from(span.as_secs() / sample_interval.as_secs());
    let rows = samples * u128::from(wells);
    if rows > MAX_TELEMETRY_ROWS {
        let sp = wells_raw.as_ref().map_or(span_span.clone(), |v| v.span());
        return Err(ctx.err(
            &sp,
            "fleet.wells",
            format!("{wells} wells x {samples} samples per well = {rows} telemetry rows, more than the limit of {MAX_TELEMETRY_ROWS}"),
        ));
    }

    let (end, end_is_now) = end(f, ctx, now, span, &section)?;
    let seed = ctx.int(
        &f.and_then(|f| f.seed.clone()),
        "fleet.seed",
        defaults::SEED as i64,
        0,
        i64::MAX,
    )? as u64;

    Ok(FleetPlan {
        wells,
        sample_interval,
        span,
        end,
        end_is_now,
        seed,
        faults: faults(raw, ctx)?,
        dirty: dirty(raw, ctx, span)?,
    })
}

pub(super) fn end(
    f: Option<&RawFleet>,
    ctx: &Ctx,
    now: DateTime<Utc>,
    span: Duration,
    section: &Range<usize>,
) -> R<(DateTime<Utc>, bool)> {
    const HINT: &str = "expected \"now\" or an RFC 3339 instant such as \"2025-11-20T00:00:00Z\"";
    let field = "fleet.end";
    let (end, is_now, sp) = match f.and_then(|f| f.end.as_ref()) {
        None => (truncate(now), true, section.clone()),
        Some(v) => {
            let text = match v.get_ref() {
                toml::Value::String(s) => s.trim().to_string(),
                toml::Value::Datetime(d) if d.offset.is_none() || d.time.is_none() || d.date.is_none() => {
                    return Err(ctx.err(
                        &v.span(),
                        field,
                        format!("{d} is not an instant: it needs a date, a time and a UTC offset, e.g. 2025-11-20T00:00:00Z"),
                    ))
                }
                toml::Value::Datetime(d) => d.to_string(),
                other => {
                    return Err(ctx.err(
                        &v.span(),
                        field,
                        format!("{HINT}, got {}", type_name(other)),
                    ))
                }
            };
            if text.eq_ignore_ascii_case("now") {
                (truncate(now), true, v.span())
            } else {
                let t = DateTime::parse_from_rfc3339(&text).map_err(|e| {
                    ctx.err(
                        &v.span(),
                        field,
                        format!("invalid instant \"{text}\": {e}; {HINT} (with a UTC offset)"),
                    )
                })?;
                (t.with_timezone(&Utc), false, v.span())
            }
        }
    };
    let start_ok = chrono::Duration::from_std(span)
        .ok()
        .and_then(|d| end.checked_sub_signed(d))
        .is_some_and(|s| s.timestamp() >= 0);
    if !start_ok {
        return Err(ctx.err(
            &sp,
            field,
            format!(
                "end {end} minus span {} falls before 1970-01-01",
                fmt_d(span)
            ),
        ));
    }
    if end.timestamp() > 253_402_300_799 {
        return Err(ctx.err(&sp, field, "end is after the year 9999"));
    }
    Ok((end, is_now))
}

/// One run uses one instant everywhere: whole seconds.
pub(super) fn truncate(now: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp(now.timestamp(), 0).unwrap_or(now)
}

pub(super) fn faults(raw: &RawScenario, ctx: &Ctx) -> R<FaultRates> {
    let d = defaults::faults();
    let Some(f) = raw.faults.as_ref() else {
        return Ok(d);
    };
    let rate = |v: &Option<S<f64>>, name: &str, default: f64| {
        ctx.opt_float(v, &format!("faults.{name}"), default, 0.0, 100.0)
    };
    Ok(FaultRates {
        gas_lock_per_day: rate(&f.gas_lock_per_day, "gas_lock_per_day", d.gas_lock_per_day)?,
        pump_off_per_day: rate(&f.pump_off_per_day, "pump_off_per_day", d.pump_off_per_day)?,
        sand_per_day: rate(&f.sand_per_day, "sand_per_day", d.sand_per_day)?,
        trip_per_day: rate(&f.trip_per_day, "trip_per_day", d.trip_per_day)?,
    })
}

pub(super) fn dirty(raw: &RawScenario, ctx: &Ctx, span: Duration) -> R<DirtyRates> {
    let d = defaults::dirty();
    let Some(r) = raw.dirty.as_ref() else {
        return Ok(d);
    };
    let max_mean = span.min(30 * DAY).max(SEC);
    let out = DirtyRates {
        dropout_rate: ctx.probability(&r.dropout_rate, "dirty.dropout_rate", d.dropout_rate)?,
        dropout_mean: ctx.opt_duration(
            &r.dropout_mean,
            "dirty.dropout_mean",
            d.dropout_mean,
            SEC,
            max_mean,
        )?,
        stuck_rate: ctx.probability(&r.stuck_rate, "dirty.stuck_rate", d.stuck_rate)?,
        stuck_mean: ctx.opt_duration(
            &r.stuck_mean,
            "dirty.stuck_mean",
            d.stuck_mean,
            SEC,
            max_mean,
        )?,
        spike_rate: ctx.probability(&r.spike_rate, "dirty.spike_rate", d.spike_rate)?,
        duplicate_rate: ctx.probability(
            &r.duplicate_rate,
            "dirty.duplicate_rate",
            d.duplicate_rate,
        )?,
        late_rate: ctx.probability(&r.late_rate, "dirty.late_rate", d.late_rate)?,
        dead_sensor_fraction: ctx.probability(
            &r.dead_sensor_fraction,
            "dirty.dead_sensor_fraction",
            d.dead_sensor_fraction,
        )?,
        missing_sensor_fraction: ctx.probability(
            &r.missing_sensor_fraction,
            "dirty.missing_sensor_fraction",
            d.missing_sensor_fraction,
        )?,
    };
    if out.dead_sensor_fraction + out.missing_sensor_fraction > 1.0 {
        let sp = r
            .missing_sensor_fraction
            .as_ref()
            .or(r.dead_sensor_fraction.as_ref())
            .map_or_else(|| ctx.locate("dirty"), |v| v.span());
        return Err(ctx.err(
            &sp,
            "dirty.missing_sensor_fraction",
            "dead_sensor_fraction + missing_sensor_fraction must not exceed 1",
        ));
    }
    Ok(out)
}
