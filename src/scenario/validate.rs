//! Raw scenario -> validated `Plan`: fill defaults, check ranges, names and cross-field rules.
//! Every rejection points at the offending value (or its table when the value is missing).

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::error::{span_of_path, ErrorKind, ScenarioError};
use super::plan::*;
use super::raw::*;
use super::sql::{placeholders, SqlScanError};

/// Rows a scenario may describe at most (wells x samples per well); beyond it counts and
/// progress arithmetic stop being meaningful and the data would not fit anywhere anyway.
pub const MAX_TELEMETRY_ROWS: u128 = 1_000_000_000_000;
/// Longest history a scenario may generate: ten (Julian) years.
pub const MAX_SPAN: Duration = Duration::from_secs(10 * 31_557_600);

const SEC: Duration = Duration::from_secs(1);
const MS: Duration = Duration::from_millis(1);
const DAY: Duration = Duration::from_secs(86_400);

/// Settings the embedded server manages itself; a scenario may not override them.
const MANAGED_SETTINGS: [&str; 8] = [
    "port",
    "listen_addresses",
    "unix_socket_directories",
    "data_directory",
    "config_file",
    "hba_file",
    "ident_file",
    "external_pid_file",
];

type R<T> = Result<T, ScenarioError>;

pub(crate) struct Ctx<'a> {
    pub file: &'a str,
    pub src: &'a str,
}

impl Ctx<'_> {
    fn err(&self, span: &Range<usize>, field: &str, msg: impl Into<String>) -> ScenarioError {
        ScenarioError::at(
            ErrorKind::Invalid,
            self.file,
            self.src,
            span.start,
            field,
            msg,
        )
    }

    /// Position of a table or value by dotted path (`mix`, `queries[1].params`), for errors
    /// about something missing from it; the start of the file when it cannot be found.
    fn locate(&self, path: &str) -> Range<usize> {
        span_of_path(self.src, path).unwrap_or(0..0)
    }

    fn int(&self, v: &Option<S<i64>>, field: &str, default: i64, min: i64, max: i64) -> R<i64> {
        let Some(v) = v else { return Ok(default) };
        let n = *v.get_ref();
        if n < min || n > max {
            return Err(self.err(&v.span(), field, range_msg(n, min, max)));
        }
        Ok(n)
    }

    fn u32(&self, v: &Option<S<i64>>, field: &str, default: u32, min: u32, max: u32) -> R<u32> {
        // The bounds are u32, so the checked value converts without loss.
        let n = self.int(v, field, default.into(), min.into(), max.into())?;
        Ok(u32::try_from(n).unwrap_or(max))
    }

    /// A finite float in `[min, max]` (or `(min, max]` when `min_exclusive`).
    fn float(&self, v: &S<f64>, field: &str, min: f64, max: f64, min_exclusive: bool) -> R<f64> {
        let x = *v.get_ref();
        let low_ok = if min_exclusive { x > min } else { x >= min };
        if !x.is_finite() || !low_ok || x > max {
            let low = if min_exclusive {
                format!("greater than {min}")
            } else {
                format!("at least {min}")
            };
            return Err(self.err(
                &v.span(),
                field,
                format!("must be {low} and at most {max}, got {x}"),
            ));
        }
        Ok(x)
    }

    fn opt_float(
        &self,
        v: &Option<S<f64>>,
        field: &str,
        default: f64,
        min: f64,
        max: f64,
    ) -> R<f64> {
        match v {
            None => Ok(default),
            Some(v) => self.float(v, field, min, max, false),
        }
    }

    fn probability(&self, v: &Option<S<f64>>, field: &str, default: f64) -> R<f64> {
        self.opt_float(v, field, default, 0.0, 1.0)
    }

    /// A duration written as a string such as "10s", "5m", "32d" or "1h 30m".
    fn duration(
        &self,
        v: &S<toml::Value>,
        field: &str,
        min: Duration,
        max: Duration,
    ) -> R<Duration> {
        let toml::Value::String(s) = v.get_ref() else {
            return Err(self.err(
                &v.span(),
                field,
                format!(
                    "expected a duration string such as \"10s\", \"5m\" or \"32d\", got {}",
                    type_name(v.get_ref())
                ),
            ));
        };
        let d = humantime::parse_duration(s.trim()).map_err(|e| {
            self.err(
                &v.span(),
                field,
                format!("invalid duration \"{s}\": {e} (use e.g. \"10s\", \"5m\", \"32d\")"),
            )
        })?;
        if d < min || d > max {
            return Err(self.err(
                &v.span(),
                field,
                format!(
                    "must be between {} and {}, got {}",
                    fmt_d(min),
                    fmt_d(max),
                    fmt_d(d)
                ),
            ));
        }
        Ok(d)
    }

    fn opt_duration(
        &self,
        v: &Option<S<toml::Value>>,
        field: &str,
        default: Duration,
        min: Duration,
        max: Duration,
    ) -> R<Duration> {
        match v {
            None => Ok(default),
            Some(v) => self.duration(v, field, min, max),
        }
    }

    /// A percentage written as a number (10) or a string ("10%").
    fn percent(
        &self,
        v: &S<toml::Value>,
        field: &str,
        min_excl: f64,
        max: f64,
        max_excl: bool,
    ) -> R<f64> {
        let x = match v.get_ref() {
            toml::Value::Integer(i) => *i as f64,
            toml::Value::Float(f) => *f,
            toml::Value::String(s) => {
                let t = s.trim();
                let t = t.strip_suffix('%').unwrap_or(t).trim();
                t.parse::<f64>().map_err(|_| {
                    self.err(
                        &v.span(),
                        field,
                        format!("expected a percentage such as 10 or \"10%\", got \"{s}\""),
                    )
                })?
            }
            other => {
                return Err(self.err(
                    &v.span(),
                    field,
                    format!(
                        "expected a percentage such as 10 or \"10%\", got {}",
                        type_name(other)
                    ),
                ))
            }
        };
        let high_ok = if max_excl { x < max } else { x <= max };
        if !x.is_finite() || x <= min_excl || !high_ok {
            let high = if max_excl {
                format!("less than {max}")
            } else {
                format!("at most {max}")
            };
            return Err(self.err(
                &v.span(),
                field,
                format!("must be greater than {min_excl}% and {high}%, got {x}%"),
            ));
        }
        Ok(x)
    }
}

fn range_msg(n: i64, min: i64, max: i64) -> String {
    if n < min && min == 1 {
        format!("must be at least 1 (and at most {max}), got {n}")
    } else {
        format!("must be between {min} and {max}, got {n}")
    }
}

fn fmt_d(d: Duration) -> String {
    if d.is_zero() {
        "0s".to_string()
    } else {
        humantime::format_duration(d).to_string()
    }
}

fn type_name(v: &toml::Value) -> &'static str {
    match v {
        toml::Value::String(_) => "a string",
        toml::Value::Integer(_) => "an integer",
        toml::Value::Float(_) => "a float",
        toml::Value::Boolean(_) => "a boolean",
        toml::Value::Datetime(_) => "a datetime",
        toml::Value::Array(_) => "an array",
        toml::Value::Table(_) => "a table",
    }
}

/// Names used in report file names: ASCII letters, digits, `_`, `-`, `.`.
fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && !s.starts_with('.')
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c))
}

fn guc_name_ok(s: &str) -> bool {
    // 63 = NAMEDATALEN - 1, as `--pg-setting` accepts.
    s.len() <= 63
        && s.split('.').all(|part| {
            let mut cs = part.chars();
            matches!(cs.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
                && cs.all(|c| c.is_ascii_alphanumeric() || c == '_')
        })
}

fn whole_seconds(d: Duration) -> bool {
    d.subsec_nanos() == 0
}

fn list(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn metric_names() -> Vec<&'static str> {
    Metric::ALL.iter().map(|m| m.name()).collect()
}

fn unknown_metric_msg(name: &str) -> String {
    let mut msg = format!(
        "unknown metric `{name}`, expected one of {}",
        list(&metric_names())
    );
    let guess = format!("{name}_ms");
    if Metric::from_name(&guess).is_some() {
        msg.push_str(&format!(" (did you mean `{guess}`?)"));
    }
    msg
}

pub(crate) fn validate(raw: RawScenario, ctx: &Ctx, now: DateTime<Utc>) -> R<Plan> {
    let (name, description) = meta(&raw, ctx)?;
    let server_settings = settings(&raw, ctx)?;
    let fleet = fleet(&raw, ctx, now)?;
    let load = load(&raw, ctx)?;
    let ingest = ingest(&raw, ctx)?;
    let run = run(&raw, ctx)?;
    let has_mix = raw.mix.is_some();
    let queries = queries(&raw, ctx, &fleet, &run, has_mix)?;
    let mix = mix(&raw, ctx, &run, &queries)?;
    let checks = checks(&raw, ctx)?;
    let gate = gate(&raw, ctx)?;
    Ok(Plan {
        name,
        description,
        file: ctx.file.to_string(),
        server_settings,
        fleet,
        load,
        ingest,
        run,
        queries,
        mix,
        checks,
        gate,
    })
}

fn meta(raw: &RawScenario, ctx: &Ctx) -> R<(String, String)> {
    let m = raw.scenario.as_ref();
    let name = match m.and_then(|m| m.name.as_ref()) {
        Some(n) => {
            if !valid_name(n.get_ref()) {
                return Err(ctx.err(
                    &n.span(),
                    "scenario.name",
                    format!(
                        "invalid name \"{}\": use 1-64 ASCII letters, digits, `_`, `-` or `.` (it names report directories)",
                        n.get_ref()
                    ),
                ));
            }
            n.get_ref().clone()
        }
        None => default_name(ctx.file),
    };
    let description = m
        .and_then(|m| m.description.as_ref())
        .map(|d| d.get_ref().clone())
        .unwrap_or_default();
    Ok((name, description))
}

/// The file stem, made safe for directory names.
fn default_name(file: &str) -> String {
    let stem = Path::new(file)
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("");
    let cleaned: String = stem
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "_-.".contains(c) {
                c
            } else {
                '-'
            }
        })
        .take(64)
        .collect();
    let cleaned = cleaned.trim_start_matches('.').to_string();
    if cleaned.is_empty() {
        "scenario".to_string()
    } else {
        cleaned
    }
}

fn settings(raw: &RawScenario, ctx: &Ctx) -> R<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    let Some(map) = raw.server.as_ref().and_then(|s| s.settings.as_ref()) else {
        return Ok(out);
    };
    // File order, so a duplicate is reported where it is repeated.
    let mut entries: Vec<_> = map.iter().collect();
    entries.sort_by_key(|(k, _)| k.span().start);
    for (k, v) in entries {
        let name = k.get_ref();
        let field = format!("server.settings.{name}");
        if !guc_name_ok(name) {
            return Err(ctx.err(
                &k.span(),
                &field,
                format!("invalid setting name `{name}`: expected a PostgreSQL parameter name such as `shared_buffers` or `timescaledb.max_background_workers`"),
            ));
        }
        let lower = name.to_ascii_lowercase();
        if MANAGED_SETTINGS.contains(&lower.as_str()) {
            return Err(ctx.err(
                &k.span(),
                &field,
                format!("`{name}` is managed by the embedded server and cannot be set"),
            ));
        }
        let value = match v.get_ref() {
            toml::Value::String(s) => s.clone(),
            toml::Value::Integer(i) => i.to_string(),
            toml::Value::Float(f) if f.is_finite() => f.to_string(),
            toml::Value::Boolean(b) => if *b { "on" } else { "off" }.to_string(),
            other => {
                return Err(ctx.err(
                    &v.span(),
                    &field,
                    format!(
                        "expected a string, number or boolean setting value, got {}",
                        type_name(other)
                    ),
                ))
            }
        };
        if value.chars().any(|c| c.is_control()) {
            return Err(ctx.err(
                &v.span(),
                &field,
                "setting values may not contain control characters or newlines",
            ));
        }
        if out.insert(lower.clone(), value).is_some() {
            return Err(ctx.err(
                &k.span(),
                &field,
                format!("setting `{lower}` is given twice (names are case-insensitive)"),
            ));
        }
    }
    Ok(out)
}

fn fleet(raw: &RawScenario, ctx: &Ctx, now: DateTime<Utc>) -> R<FleetPlan> {
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

fn end(
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
fn truncate(now: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp(now.timestamp(), 0).unwrap_or(now)
}

fn faults(raw: &RawScenario, ctx: &Ctx) -> R<FaultRates> {
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

fn dirty(raw: &RawScenario, ctx: &Ctx, span: Duration) -> R<DirtyRates> {
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

fn load(raw: &RawScenario, ctx: &Ctx) -> R<LoadPlan> {
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

fn ingest(raw: &RawScenario, ctx: &Ctx) -> R<Option<IngestPlan>> {
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

fn run(raw: &RawScenario, ctx: &Ctx) -> R<RunPlan> {
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
        cache: cache_mode(ctx, r.and_then(|r| r.cache.as_ref()))?,
        capture: r.and_then(|r| r.capture).unwrap_or(true),
        what_if: what_if(ctx, r.and_then(|r| r.what_if.as_ref()))?,
    })
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
fn plan_cache_mode(
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
fn check_warmup(
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
fn mode(
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
fn stop(
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

fn queries(
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
            super::error::location_of(ctx.src, q.name.span().start).line,
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
                if let Some(word) = super::sql::read_only_escape(sql) {
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

fn require_time_bounded(
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

fn kind(ctx: &Ctx, q: &RawQuery, prefix: &str, fleet: &FleetPlan) -> R<QueryKind> {
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
fn forbid_builtin_keys(ctx: &Ctx, q: &RawQuery, prefix: &str) -> R<()> {
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

fn custom(
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

const PARAM_KINDS: [&str; 4] = ["random_well", "random_window_end", "data_end", "fixed"];

fn param(ctx: &Ctx, p: &RawParam, prefix: &str, fleet: &FleetPlan) -> R<ParamGen> {
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

fn targets(ctx: &Ctx, q: &RawQuery, prefix: &str) -> R<Vec<Target>> {
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
        out.push(Target { metric, threshold });
    }
    out.sort_by_key(|t| t.metric);
    Ok(out)
}

fn mix(raw: &RawScenario, ctx: &Ctx, run: &RunPlan, queries: &[QueryPlan]) -> R<Option<MixPlan>> {
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

fn checks(raw: &RawScenario, ctx: &Ctx) -> R<ChecksPlan> {
    let c = raw.checks.as_ref();
    let unsupported = match c.and_then(|c| c.unsupported.as_ref()) {
        None => UnsupportedEffect::Skip,
        Some(u) => match u.get_ref().as_str() {
            "skip" => UnsupportedEffect::Skip,
            "fail" => UnsupportedEffect::Fail,
            other => {
                return Err(ctx.err(
                    &u.span(),
                    "checks.unsupported",
                    format!("unknown value `{other}`, expected `skip` or `fail`"),
                ))
            }
        },
    };
    let pct = |v: Option<&S<toml::Value>>, field: &str| -> R<Option<f64>> {
        v.map(|v| ctx.percent(v, field, 0.0, 100.0, true))
            .transpose()
    };
    Ok(ChecksPlan {
        unsupported,
        chunk_counts: c.and_then(|c| c.chunk_counts).unwrap_or(true),
        telemetry_min_reduction_pct: pct(
            c.and_then(|c| c.telemetry_min_reduction_pct.as_ref()),
            "checks.telemetry_min_reduction_pct",
        )?,
        diagnostics_min_reduction_pct: pct(
            c.and_then(|c| c.diagnostics_min_reduction_pct.as_ref()),
            "checks.diagnostics_min_reduction_pct",
        )?,
        policies: c.and_then(|c| c.policies).unwrap_or(true),
        retention: c.and_then(|c| c.retention).unwrap_or(true),
    })
}

fn gate(raw: &RawScenario, ctx: &Ctx) -> R<GatePlan> {
    let g = raw.gate.as_ref();
    let max_regression_pct = match g.and_then(|g| g.max_regression.as_ref()) {
        None => defaults::MAX_REGRESSION_PCT,
        Some(v) => ctx.percent(v, "gate.max_regression", 0.0, 1000.0, false)?,
    };
    let metrics = match g.and_then(|g| g.metrics.as_ref()) {
        None => defaults::GATE_METRICS.to_vec(),
        Some(list) => {
            if list.is_empty() {
                return Err(ctx.err(
                    &ctx.locate("gate.metrics"),
                    "gate.metrics",
                    "the gate needs at least one metric (a gate that compares nothing passes everything)",
                ));
            }
            let mut out = Vec::new();
            let mut seen = BTreeSet::new();
            for (i, m) in list.iter().enumerate() {
                let field = format!("gate.metrics[{i}]");
                let Some(metric) = Metric::from_name(m.get_ref()) else {
                    return Err(ctx.err(&m.span(), &field, unknown_metric_msg(m.get_ref())));
                };
                if !seen.insert(metric) {
                    return Err(ctx.err(
                        &m.span(),
                        &field,
                        format!("metric `{}` is listed twice", metric.name()),
                    ));
                }
                out.push(metric);
            }
            out
        }
    };
    let alpha = match g.and_then(|g| g.alpha.as_ref()) {
        None => defaults::ALPHA,
        Some(v) => ctx.float(v, "gate.alpha", 0.0, 0.5, true)?,
    };
    Ok(GatePlan {
        max_regression_pct,
        metrics,
        alpha,
    })
}

/// Every default in one place (docs/scenarios.md lists them).
pub mod defaults {
    use std::time::Duration;

    use crate::scenario::plan::{DirtyRates, FaultRates, Metric};

    pub const WELLS: u32 = 10;
    pub const SAMPLE_INTERVAL: Duration = Duration::from_secs(60);
    pub const SPAN: Duration = Duration::from_secs(32 * 86_400);
    pub const SEED: u64 = 42;
    pub const LOAD_WORKERS: u32 = 2;
    pub const LOAD_BATCH: u32 = 50_000;
    pub const INGEST_BATCH: u32 = 1_000;
    pub const WARMUP: Duration = Duration::from_secs(2);
    pub const DURATION: Duration = Duration::from_secs(10);
    pub const STATS_INTERVAL: Duration = Duration::from_secs(1);
    pub const STATEMENT_TIMEOUT: Duration = Duration::from_secs(30);
    pub const QUERY_CLIENTS: u32 = 1;
    pub const MIX_CLIENTS: u32 = 2;
    pub const TOP_N: u32 = 10;
    pub const TOP_WINDOW: Duration = Duration::from_secs(86_400);
    pub const MIN_BACK: Duration = Duration::from_secs(86_400);
    pub const MAX_REGRESSION_PCT: f64 = 10.0;
    pub const GATE_METRICS: [Metric; 3] = [Metric::P50Ms, Metric::P95Ms, Metric::P99Ms];
    pub const ALPHA: f64 = 0.05;

    /// Fault rates when `[faults]` leaves them out: the data generator's defaults.
    pub fn faults() -> FaultRates {
        crate::datagen::default_faults()
    }

    /// Imperfect-data rates when `[dirty]` leaves them out: the data generator's defaults.
    pub fn dirty() -> DirtyRates {
        crate::datagen::default_dirty()
    }
}
