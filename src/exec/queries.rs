//! The SQL of every query a scenario can run, and its parameters.
//!
//! Time windows are relative to the *data end* (the scenario's `fleet.end`, which is "now" when
//! the file says `end = "now"`), passed as a `timestamptz` parameter rather than `now()`, so
//! scenarios with a fixed end measure the same rows on every run. Because the bound is a
//! parameter of a prepared statement, TimescaleDB prunes chunks at *execution* time
//! (ChunkAppend runtime exclusion), which is what production clients using prepared statements
//! see; the checks phase also EXPLAINs with the values inlined as literals (planner exclusion).
//!
//! `sql_for` and `params_for` are the stable interface used by the checks phase as well.

use std::time::Duration;

use chrono::{DateTime, Utc};
use rand::Rng;
use rand_pcg::rand_core::SeedableRng;
use tokio_postgres::types::ToSql;

use crate::scenario::plan::{Builtin, ParamGen, Plan, QueryKind, QueryPlan};

/// A boxed parameter value ready to bind.
pub type Param = Box<dyn ToSql + Send + Sync>;

/// What parameter generators need to know about the data.
#[derive(Debug, Clone, PartialEq)]
pub struct ParamContext {
    /// Number of wells in the fleet (ids from `datagen::well_id(0..wells)`).
    pub wells: u32,
    /// First instant of the generated history.
    pub data_start: DateTime<Utc>,
    /// Last instant of the generated history (the scenario's "now").
    pub data_end: DateTime<Utc>,
}

impl ParamContext {
    pub fn from_plan(plan: &Plan) -> ParamContext {
        ParamContext {
            wells: plan.fleet.wells,
            data_start: plan.fleet.start(),
            data_end: plan.fleet.end,
        }
    }
}

/// The deterministic RNG of one execution: a pure function of (scenario seed, stream, index).
/// `stream` separates queries and phases; `index` is the execution's sequence number within its
/// phase (shared by all workers), so parameters repeat exactly at any concurrency.
pub fn rng_for(seed: u64, stream: u64, index: u64) -> rand_pcg::Pcg64Mcg {
    let mut x = seed ^ 0x9e37_79b9_7f4a_7c15;
    x = splitmix(x ^ splitmix(stream.wrapping_add(0x51_7cc1_b727_220a)));
    x = splitmix(x ^ splitmix(index.wrapping_add(0x2545_f491_4f6c_dd1d)));
    rand_pcg::Pcg64Mcg::seed_from_u64(x)
}

fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn interval_literal(d: Duration) -> String {
    format!("interval '{} seconds'", d.as_secs().max(1))
}

/// The SQL text of a query. Built-ins take the well id (text) and the data end (timestamptz)
/// as parameters; see [`params_for`] for the order.
pub fn sql_for(q: &QueryPlan) -> String {
    match &q.kind {
        QueryKind::Custom { sql, .. } => sql.clone(),
        QueryKind::Builtin(b) => builtin_sql(b),
    }
}

fn builtin_sql(b: &Builtin) -> String {
    match b {
        // The seed's query, with now() replaced by the data end.
        Builtin::Latest24h => "SELECT * FROM esp_telemetry \
             WHERE well_id = $1 AND \"timestamp\" > $2::timestamptz - interval '24 hours' \
             ORDER BY \"timestamp\" DESC"
            .to_string(),
        // The seed's 7-day fleet aggregate.
        Builtin::Agg7dFleet => "SELECT well_id, avg(flow_rate) AS avg_flow, \
             max(flow_rate) AS max_flow, min(flow_rate) AS min_flow \
             FROM esp_telemetry WHERE \"timestamp\" > $1::timestamptz - interval '7 days' \
             GROUP BY well_id"
            .to_string(),
        Builtin::Agg7dWell => "SELECT well_id, avg(flow_rate) AS avg_flow, \
             max(flow_rate) AS max_flow, min(flow_rate) AS min_flow \
             FROM esp_telemetry WHERE well_id = $1 \
             AND \"timestamp\" > $2::timestamptz - interval '7 days' \
             GROUP BY well_id"
            .to_string(),
        // Latest reading per well within the last day before the data end: bounded so that
        // old chunks are pruned, as a dashboard's "current state" panel would do.
        Builtin::LastValue => "SELECT DISTINCT ON (well_id) * FROM esp_telemetry \
             WHERE \"timestamp\" > $1::timestamptz - interval '24 hours' \
             AND \"timestamp\" <= $1::timestamptz \
             ORDER BY well_id, \"timestamp\" DESC"
            .to_string(),
        Builtin::DashboardHourly => "SELECT time_bucket('1 hour', \"timestamp\") AS bucket, \
             avg(frequency_hz) AS frequency_hz, avg(motor_current_a) AS motor_current_a, \
             avg(intake_pressure_psi) AS intake_pressure_psi, \
             avg(discharge_pressure_psi) AS discharge_pressure_psi, \
             avg(motor_temp_f) AS motor_temp_f, avg(vibration_g) AS vibration_g, \
             avg(flow_rate) AS flow_rate \
             FROM esp_telemetry WHERE well_id = $1 \
             AND \"timestamp\" > $2::timestamptz - interval '7 days' \
             GROUP BY bucket ORDER BY bucket"
            .to_string(),
        Builtin::DiagnosticsRecent => "SELECT \"timestamp\", well_id, condition, severity, \
             confidence, message FROM diagnostic_results \
             WHERE severity IN ('critical', 'warning') \
             AND \"timestamp\" > $1::timestamptz - interval '24 hours' \
             ORDER BY \"timestamp\" DESC"
            .to_string(),
        // History as production holds it: one well's daily buckets over 30 days, most of
        // which lie in chunks older than the compression policy's 7 days.
        Builtin::History30dDaily => "SELECT time_bucket('1 day', \"timestamp\") AS day, \
             count(*) AS samples, avg(flow_rate) AS avg_flow, \
             avg(intake_pressure_psi) AS avg_intake_pressure_psi, \
             max(motor_temp_f) AS max_motor_temp_f, max(vibration_g) AS max_vibration_g \
             FROM esp_telemetry WHERE well_id = $1 \
             AND \"timestamp\" > $2::timestamptz - interval '30 days' \
             AND \"timestamp\" <= $2::timestamptz \
             GROUP BY day ORDER BY day"
            .to_string(),
        Builtin::TopVibration { top_n, window } => format!(
            "SELECT well_id, avg(vibration_g) AS mean_vibration_g, max(vibration_g) AS max_vibration_g \
             FROM esp_telemetry WHERE \"timestamp\" > $1::timestamptz - {} \
             GROUP BY well_id ORDER BY mean_vibration_g DESC NULLS LAST LIMIT {}",
            interval_literal(*window),
            top_n
        ),
    }
}

/// The parameter generators a query binds, in `$1, $2, ...` order.
pub fn param_gens(q: &QueryPlan) -> Vec<ParamGen> {
    match &q.kind {
        QueryKind::Custom { params, .. } => params.clone(),
        QueryKind::Builtin(b) => match b {
            Builtin::Latest24h
            | Builtin::Agg7dWell
            | Builtin::DashboardHourly
            | Builtin::History30dDaily => {
                vec![ParamGen::RandomWell, ParamGen::DataEnd]
            }
            Builtin::Agg7dFleet
            | Builtin::LastValue
            | Builtin::DiagnosticsRecent
            | Builtin::TopVibration { .. } => vec![ParamGen::DataEnd],
        },
    }
}

/// One concrete value drawn from a generator.
#[derive(Debug, Clone, PartialEq)]
pub enum ParamValue {
    Text(String),
    Int(i64),
    Float(f64),
    Timestamp(DateTime<Utc>),
}

impl ParamValue {
    pub fn boxed(self) -> Param {
        match self {
            ParamValue::Text(s) => Box::new(s),
            ParamValue::Int(i) => Box::new(i),
            ParamValue::Float(f) => Box::new(f),
            ParamValue::Timestamp(t) => Box::new(t),
        }
    }

    /// The value as an SQL literal (for EXPLAIN with inlined values).
    pub fn sql_literal(&self) -> String {
        match self {
            ParamValue::Text(s) => format!("'{}'", s.replace('\'', "''")),
            ParamValue::Int(i) => i.to_string(),
            ParamValue::Float(f) => format!("{f:?}::float8"),
            ParamValue::Timestamp(t) => format!("'{}'::timestamptz", t.to_rfc3339()),
        }
    }
}

/// Draw one value from a generator.
pub fn draw(gen: &ParamGen, ctx: &ParamContext, rng: &mut impl Rng) -> ParamValue {
    match gen {
        ParamGen::RandomWell => ParamValue::Text(crate::datagen::well_id(
            rng.random_range(0..ctx.wells.max(1)),
        )),
        ParamGen::RandomWindowEnd { min_back } => {
            let lo = ctx.data_start
                + chrono::Duration::from_std(*min_back).unwrap_or(chrono::Duration::zero());
            let span_ms = (ctx.data_end - lo).num_milliseconds().max(0);
            let off = if span_ms > 0 {
                rng.random_range(0..=span_ms)
            } else {
                0
            };
            ParamValue::Timestamp(lo.min(ctx.data_end) + chrono::Duration::milliseconds(off))
        }
        ParamGen::DataEnd => ParamValue::Timestamp(ctx.data_end),
        ParamGen::FixedText { value } => ParamValue::Text(value.clone()),
        ParamGen::FixedInt { value } => ParamValue::Int(*value),
        ParamGen::FixedFloat { value } => ParamValue::Float(*value),
    }
}

/// The values of one execution of `q`.
pub fn values_for(q: &QueryPlan, ctx: &ParamContext, rng: &mut impl Rng) -> Vec<ParamValue> {
    param_gens(q).iter().map(|g| draw(g, ctx, rng)).collect()
}

/// The bound parameters of one execution of `q`.
pub fn params_for(q: &QueryPlan, ctx: &ParamContext, rng: &mut impl Rng) -> Vec<Param> {
    values_for(q, ctx, rng)
        .into_iter()
        .map(ParamValue::boxed)
        .collect()
}

/// `sql` with `$n` placeholders replaced by literals (highest numbers first, so `$1` does not
/// clobber `$10`). For EXPLAIN with planner-time chunk exclusion.
pub fn inline_params(sql: &str, values: &[ParamValue]) -> String {
    let mut out = sql.to_string();
    for (i, v) in values.iter().enumerate().rev() {
        out = out.replace(&format!("${}", i + 1), &v.sql_literal());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::plan::{LoadMode, StopCondition};

    fn q(kind: QueryKind) -> QueryPlan {
        QueryPlan {
            name: "q".into(),
            kind,
            mode: LoadMode::Closed { clients: 1 },
            warmup: Duration::ZERO,
            stop: StopCondition::Count { count: 1 },
            weight: 1,
            targets: vec![],
            max_chunks_scanned: None,
            min_pruning_speedup: None,
            writes: false,
            plan_cache_mode: Default::default(),
        }
    }

    fn ctx() -> ParamContext {
        let end = DateTime::parse_from_rfc3339("2025-01-31T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        ParamContext {
            wells: 10,
            data_start: end - chrono::Duration::days(30),
            data_end: end,
        }
    }

    fn all_builtins() -> Vec<Builtin> {
        vec![
            Builtin::Latest24h,
            Builtin::Agg7dFleet,
            Builtin::Agg7dWell,
            Builtin::LastValue,
            Builtin::DashboardHourly,
            Builtin::DiagnosticsRecent,
            Builtin::TopVibration {
                top_n: 5,
                window: Duration::from_secs(3600),
            },
            Builtin::History30dDaily,
        ]
    }

    #[test]
    fn placeholders_match_generators() {
        for b in all_builtins() {
            let qp = q(QueryKind::Builtin(b));
            let sql = sql_for(&qp);
            let n = param_gens(&qp).len();
            for i in 1..=n {
                assert!(sql.contains(&format!("${i}")), "{sql} lacks ${i}");
            }
            assert!(!sql.contains(&format!("${}", n + 1)), "{sql}");
            assert!(!sql.to_lowercase().contains("now()"), "{sql}");
        }
    }

    #[test]
    fn parameters_are_a_pure_function_of_seed_and_index() {
        let qp = q(QueryKind::Custom {
            sql: "SELECT $1, $2".into(),
            params: vec![
                ParamGen::RandomWell,
                ParamGen::RandomWindowEnd {
                    min_back: Duration::from_secs(86_400),
                },
            ],
            time_bounded: true,
        });
        let a = values_for(&qp, &ctx(), &mut rng_for(7, 1, 42));
        let b = values_for(&qp, &ctx(), &mut rng_for(7, 1, 42));
        assert_eq!(a, b);
        let many: Vec<_> = (0..50)
            .map(|i| values_for(&qp, &ctx(), &mut rng_for(7, 1, i)))
            .collect();
        assert!(
            many.iter().any(|v| v != &a),
            "different indexes give different values"
        );
        for v in many {
            match &v[1] {
                ParamValue::Timestamp(t) => {
                    assert!(*t >= ctx().data_start + chrono::Duration::days(1));
                    assert!(*t <= ctx().data_end);
                }
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn inlining_replaces_high_numbers_first() {
        let vals: Vec<ParamValue> = (1..=10).map(ParamValue::Int).collect();
        assert_eq!(inline_params("$1 $10", &vals), "1 10");
        assert_eq!(
            inline_params("$1", &[ParamValue::Text("a'b".into())]),
            "'a''b'"
        );
    }
}
