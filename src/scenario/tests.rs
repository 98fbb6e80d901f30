//! Unit tests of parsing and validation: defaults, durations, each rule, error positions.

use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};

use super::*;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap() + chrono::Duration::milliseconds(678)
}

fn ok(src: &str) -> Plan {
    match parse(src, "t.toml", now()) {
        Ok(p) => p,
        Err(e) => panic!("expected a valid scenario, got: {e}"),
    }
}

fn err(src: &str) -> ScenarioError {
    match parse(src, "t.toml", now()) {
        Ok(p) => panic!("expected an error, got a plan: {p:?}"),
        Err(e) => e,
    }
}

/// Assert an error's line:col, field and a fragment of its message.
fn expect(src: &str, line: usize, col: usize, field: &str, fragment: &str) -> ScenarioError {
    let e = err(src);
    assert_eq!((e.line(), e.column()), (line, col), "position of: {e}");
    assert_eq!(e.field, field, "field of: {e}");
    assert!(e.message.contains(fragment), "`{fragment}` not in: {e}");
    e
}

const Q: &str = "[[queries]]\nname = \"latest_24h\"\n";

#[test]
fn defaults_fill_everything() {
    let p = ok("[fleet]\n");
    assert_eq!(p.name, "t");
    assert_eq!(p.file, "t.toml");
    assert_eq!(p.fleet.wells, defaults::WELLS);
    assert_eq!(p.fleet.sample_interval, Duration::from_secs(60));
    assert_eq!(p.fleet.span, Duration::from_secs(32 * 86_400));
    assert!(p.fleet.end_is_now);
    // "now" is truncated to whole seconds.
    assert_eq!(
        p.fleet.end,
        Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap()
    );
    assert_eq!(p.fleet.seed, 42);
    assert_eq!(p.fleet.faults, defaults::faults());
    assert_eq!(p.fleet.dirty, defaults::dirty());
    assert_eq!(
        p.load,
        LoadPlan {
            workers: 2,
            batch_size: 50_000,
            max_retries: 5
        }
    );
    assert_eq!(p.ingest, None);
    assert_eq!(p.run.warmup, Duration::from_secs(2));
    assert_eq!(p.run.duration, Duration::from_secs(10));
    assert_eq!(p.run.stats_interval, Duration::from_secs(1));
    assert_eq!(p.run.statement_timeout, Duration::from_secs(30));
    assert!(!p.run.reuse_data);
    assert!(p.queries.is_empty());
    assert_eq!(p.mix, None);
    assert_eq!(p.checks.unsupported, UnsupportedEffect::Skip);
    assert!(p.checks.chunk_counts && p.checks.policies && p.checks.retention);
    assert_eq!(p.checks.telemetry_min_reduction_pct, None);
    assert_eq!(p.gate.max_regression_pct, 10.0);
    assert_eq!(
        p.gate.metrics,
        vec![Metric::P50Ms, Metric::P95Ms, Metric::P99Ms]
    );
    assert_eq!(p.gate.alpha, 0.05);
}

#[test]
fn query_defaults_come_from_run() {
    let p = ok(&format!("[run]\nwarmup = \"1s\"\nduration = \"5s\"\n{Q}"));
    let q = &p.queries[0];
    assert_eq!(q.kind, QueryKind::Builtin(Builtin::Latest24h));
    assert_eq!(q.mode, LoadMode::Closed { clients: 1 });
    assert_eq!(q.warmup, Duration::from_secs(1));
    assert_eq!(
        q.stop,
        StopCondition::Duration {
            duration: Duration::from_secs(5)
        }
    );
    assert_eq!(q.weight, 0);
    assert!(q.targets.is_empty());
}

#[test]
fn durations_accept_humantime_forms() {
    let p = ok("[fleet]\nsample_interval = \"1m\"\nspan = \"1day 12h\"\n[run]\nwarmup = \"0s\"\nduration = \"1500ms\"\nstats_interval = \"500ms\"\n");
    assert_eq!(p.fleet.sample_interval, Duration::from_secs(60));
    assert_eq!(p.fleet.span, Duration::from_secs(36 * 3600));
    assert_eq!(p.run.warmup, Duration::ZERO);
    assert_eq!(p.run.duration, Duration::from_millis(1500));
}

#[test]
fn duration_errors() {
    expect(
        "[fleet]\nsample_interval = 10\n",
        2,
        19,
        "fleet.sample_interval",
        "expected a duration string",
    );
    expect(
        "[fleet]\nsample_interval = \"10 parsecs\"\n",
        2,
        19,
        "fleet.sample_interval",
        "invalid duration",
    );
    expect(
        "[fleet]\nsample_interval = \"500ms\"\n",
        2,
        19,
        "fleet.sample_interval",
        "between 1s and 1day",
    );
    expect(
        "[fleet]\nsample_interval = \"1500ms\"\n",
        2,
        19,
        "fleet.sample_interval",
        "whole number of seconds",
    );
    expect(
        "[fleet]\nspan = \"11years\"\n",
        2,
        8,
        "fleet.span",
        "between",
    );
    expect(
        "[fleet]\nsample_interval = \"1h\"\nspan = \"30m\"\n",
        3,
        8,
        "fleet.span",
        "shorter than sample_interval",
    );
    expect(
        "[run]\nwarmup = \"10s\"\nduration = \"10s\"\n",
        2,
        10,
        "run.warmup",
        "shorter than duration",
    );
    expect(
        "[run]\nduration = \"1s\"\n",
        2,
        12,
        "run.duration",
        "shorter than duration",
    );
    expect(
        "[run]\nstats_interval = \"20s\"\n",
        2,
        18,
        "run.stats_interval",
        "longer than duration",
    );
    expect(
        "[run]\nstatement_timeout = \"0s\"\n",
        2,
        21,
        "run.statement_timeout",
        "between",
    );
}

#[test]
fn counts_must_be_in_range() {
    expect("[fleet]\nwells = 0\n", 2, 9, "fleet.wells", "at least 1");
    expect("[fleet]\nwells = -5\n", 2, 9, "fleet.wells", "at least 1");
    expect("[load]\nworkers = 0\n", 2, 11, "load.workers", "at least 1");
    expect(
        "[load]\nbatch_size = 99999999999\n",
        2,
        14,
        "load.batch_size",
        "between",
    );
    expect(
        "[load]\nmax_retries = -1\n",
        2,
        15,
        "load.max_retries",
        "between 0 and 100",
    );
    expect("[fleet]\nseed = -1\n", 2, 8, "fleet.seed", "between 0");
}

#[test]
fn huge_fleets_are_refused() {
    let e = expect(
        "[fleet]\nwells = 1000000\nsample_interval = \"1s\"\nspan = \"3650d\"\n",
        2,
        9,
        "fleet.wells",
        "telemetry rows",
    );
    assert!(e.message.contains("limit"));
    // Integers beyond i64 are refused by the TOML parser itself, with a position.
    let e = err("[fleet]\nwells = 99999999999999999999999\n");
    assert_eq!(e.line(), 2);
    assert_eq!(e.kind, ErrorKind::Syntax);
}

#[test]
fn end_forms() {
    let p = ok("[fleet]\nend = \"2025-11-20T00:00:00Z\"\n");
    assert!(!p.fleet.end_is_now);
    assert_eq!(
        p.fleet.end,
        Utc.with_ymd_and_hms(2025, 11, 20, 0, 0, 0).unwrap()
    );
    let p = ok("[fleet]\nend = 2025-11-20T02:00:00+02:00\n");
    assert_eq!(
        p.fleet.end,
        Utc.with_ymd_and_hms(2025, 11, 20, 0, 0, 0).unwrap()
    );
    assert_eq!(p.fleet.start(), p.fleet.end - chrono::Duration::days(32));
    let p = ok("[fleet]\nend = \"now\"\n");
    assert!(p.fleet.end_is_now);
    expect(
        "[fleet]\nend = \"yesterday\"\n",
        2,
        7,
        "fleet.end",
        "invalid instant",
    );
    expect(
        "[fleet]\nend = 2025-11-20T00:00:00\n",
        2,
        7,
        "fleet.end",
        "UTC offset",
    );
    expect(
        "[fleet]\nend = 2025-11-20\n",
        2,
        7,
        "fleet.end",
        "not an instant",
    );
    expect("[fleet]\nend = 5\n", 2, 7, "fleet.end", "got an integer");
    expect(
        "[fleet]\nend = \"1970-01-02T00:00:00Z\"\n",
        2,
        7,
        "fleet.end",
        "before 1970",
    );
}

#[test]
fn unknown_keys_name_path_and_position() {
    let e = expect(
        "[fleet]\nwels = 3\n",
        2,
        1,
        "fleet.wels",
        "unknown field `wels`",
    );
    assert!(e.message.contains("`wells`"), "{e}");
    assert_eq!(e.kind, ErrorKind::Schema);
    assert_eq!(e.to_string().split(": ").next(), Some("t.toml:2:1"));
    expect("[fleets]\n", 1, 2, "fleets", "unknown field `fleets`");
    expect(
        &format!("{Q}clients = 1\nclient = 2\n"),
        4,
        1,
        "queries[0].client",
        "unknown field `client`",
    );
    expect(
        "[[queries]]\nname = \"q\"\nsql = \"select $1\"\nparams = [{ kind = \"fixed\", vaule = 1 }]\n",
        4,
        29,
        "queries[0].params[0].vaule",
        "unknown field `vaule`",
    );
}

#[test]
fn wrong_types_name_path_and_position() {
    let e = expect(
        "[fleet]\nwells = \"many\"\n",
        2,
        9,
        "fleet.wells",
        "expected an integer",
    );
    assert_eq!(e.kind, ErrorKind::Schema);
    expect(
        "[run]\nreuse_data = 1\n",
        2,
        14,
        "run.reuse_data",
        "invalid type",
    );
    expect("queries = 3\n", 1, 11, "queries", "expected an array");
    expect(
        "[[queries]]\nclients = 2\n",
        1,
        1,
        "queries[0]",
        "missing field `name`",
    );
}

#[test]
fn syntax_errors_have_position_and_nearby_field() {
    let e = err("[fleet]\nwells = = 3\n");
    assert_eq!(e.kind, ErrorKind::Syntax);
    assert_eq!(e.line(), 2);
    assert_eq!(e.field, "fleet.wells");
    assert!(e.message.starts_with("invalid TOML"));
    let e = err("[fleet\n");
    assert_eq!((e.kind, e.line()), (ErrorKind::Syntax, 1));
    // Duplicate keys are a TOML error too.
    let e = err("[fleet]\nwells = 1\nwells = 2\n");
    assert_eq!((e.kind, e.line()), (ErrorKind::Syntax, 3));
}

#[test]
fn empty_files_are_refused() {
    for src in ["", "   \n\n", "# only a comment\n"] {
        let e = err(src);
        assert_eq!(e.kind, ErrorKind::Empty);
        assert_eq!((e.line(), e.column()), (1, 1));
        assert!(e.message.contains("empty"));
    }
}

#[test]
fn builtin_queries() {
    let mut src = String::new();
    for n in Builtin::NAMES {
        src.push_str(&format!("[[queries]]\nname = \"{n}\"\n"));
    }
    src.push_str("top_n = 5\nwindow = \"6h\"\n");
    let p = ok(&src);
    assert_eq!(p.queries.len(), Builtin::NAMES.len());
    for (q, n) in p.queries.iter().zip(Builtin::NAMES) {
        let QueryKind::Builtin(b) = &q.kind else {
            panic!("not a builtin")
        };
        assert_eq!(b.name(), n);
        assert!(b.time_bounded());
    }
    assert_eq!(
        p.queries[Builtin::NAMES.len() - 1].kind,
        QueryKind::Builtin(Builtin::TopVibration {
            top_n: 5,
            window: Duration::from_secs(6 * 3600)
        })
    );
    // Defaults of top_vibration.
    let p = ok("[[queries]]\nname = \"top_vibration\"\n");
    assert_eq!(
        p.queries[0].kind,
        QueryKind::Builtin(Builtin::TopVibration {
            top_n: 10,
            window: Duration::from_secs(86_400)
        })
    );
}

#[test]
fn builtin_key_runs_a_builtin_under_another_name() {
    let p = ok(&format!("{Q}[[queries]]\nname = \"latest_24h_fixed\"\nbuiltin = \"latest_24h\"\nrate = 50\nclients = 4\n"));
    assert_eq!(p.queries[1].kind, QueryKind::Builtin(Builtin::Latest24h));
    assert_eq!(
        p.queries[1].mode,
        LoadMode::FixedRate {
            rate: 50.0,
            clients: 4
        }
    );
    assert!(p.query("latest_24h_fixed").is_some());
}

#[test]
fn query_name_errors() {
    let e = expect(
        "[[queries]]\nname = \"latest_42h\"\n",
        2,
        8,
        "queries[0].name",
        "unknown built-in query `latest_42h`",
    );
    assert!(e.message.contains("`latest_24h`"));
    expect(
        "[[queries]]\nname = \"x\"\nbuiltin = \"nope\"\n",
        3,
        11,
        "queries[0].builtin",
        "unknown built-in",
    );
    expect(
        &format!("{Q}{Q}"),
        4,
        8,
        "queries[1].name",
        "duplicate query name `latest_24h` (first used on line 2)",
    );
    expect(
        "[[queries]]\nname = \"a b\"\nsql = \"select 1\"\n",
        2,
        8,
        "queries[0].name",
        "invalid query name",
    );
    expect(
        "[[queries]]\nname = \"latest_24h\"\nsql = \"select 1\"\n",
        2,
        8,
        "queries[0].name",
        "is a built-in query name",
    );
    expect(
        &format!("{Q}top_n = 3\n"),
        3,
        9,
        "queries[0].top_n",
        "only for the built-in `top_vibration`",
    );
    expect(
        "[[queries]]\nname = \"top_vibration\"\ntop_n = 0\n",
        3,
        9,
        "queries[0].top_n",
        "at least 1",
    );
    expect(
        &format!("{Q}params = []\n"),
        3,
        10,
        "queries[0].params",
        "only for custom queries",
    );
}

#[test]
fn load_modes_and_stop_conditions() {
    let p = ok(&format!("{Q}rate = 20.5\ncount = 100\nwarmup = \"0s\"\n"));
    assert_eq!(
        p.queries[0].mode,
        LoadMode::FixedRate {
            rate: 20.5,
            clients: 1
        }
    );
    assert_eq!(p.queries[0].stop, StopCondition::Count { count: 100 });
    expect(
        &format!("{Q}duration = \"5s\"\ncount = 10\n"),
        4,
        9,
        "queries[0].count",
        "mutually exclusive",
    );
    expect(
        &format!("{Q}rate = 0\n"),
        3,
        8,
        "queries[0].rate",
        "greater than 0",
    );
    expect(
        &format!("{Q}rate = -3.0\n"),
        3,
        8,
        "queries[0].rate",
        "greater than 0",
    );
    expect(
        &format!("{Q}rate = nan\n"),
        3,
        8,
        "queries[0].rate",
        "greater than 0",
    );
    expect(
        &format!("{Q}clients = 0\n"),
        3,
        11,
        "queries[0].clients",
        "at least 1",
    );
    expect(
        &format!("{Q}count = 0\n"),
        3,
        9,
        "queries[0].count",
        "at least 1",
    );
    expect(
        &format!("{Q}warmup = \"30s\"\n"),
        3,
        10,
        "queries[0].warmup",
        "shorter than duration",
    );
    expect(
        &format!("{Q}warmup = \"0s\"\nduration = \"500ms\"\n"),
        4,
        12,
        "queries[0].duration",
        "shorter than run.stats_interval",
    );
}

#[test]
fn targets_and_metric_names() {
    let p = ok(&format!(
        "{Q}targets = {{ p99_ms = 20, p95_ms = 10, error_rate = 0, throughput_qps = 5.5 }}\n"
    ));
    let t = &p.queries[0].targets;
    assert_eq!(
        t[0],
        Threshold {
            metric: Metric::P95Ms,
            threshold: 10.0
        }
    );
    assert_eq!(
        t[1],
        Threshold {
            metric: Metric::P99Ms,
            threshold: 20.0
        }
    );
    assert_eq!(
        t[2],
        Threshold {
            metric: Metric::ErrorRate,
            threshold: 0.0
        }
    );
    assert_eq!(
        t[3],
        Threshold {
            metric: Metric::ThroughputQps,
            threshold: 5.5
        }
    );
    let e = expect(
        &format!("{Q}targets = {{ p95 = 10 }}\n"),
        3,
        13,
        "queries[0].targets.p95",
        "unknown metric `p95`",
    );
    assert!(e.message.contains("did you mean `p95_ms`"));
    expect(
        &format!("{Q}targets = {{ p95_ms = 0 }}\n"),
        3,
        22,
        "queries[0].targets.p95_ms",
        "greater than 0",
    );
    expect(
        &format!("{Q}targets = {{ error_rate = 2 }}\n"),
        3,
        26,
        "queries[0].targets.error_rate",
        "at most 1",
    );
    expect(
        &format!("{Q}targets = {{ p95_ms = \"fast\" }}\n"),
        3,
        22,
        "queries[0].targets.p95_ms",
        "invalid type",
    );
}

#[test]
fn pruning_checks_need_time_bounded_queries() {
    let p = ok(&format!(
        "{Q}max_chunks_scanned = 2\nmin_pruning_speedup = 10\n"
    ));
    assert_eq!(p.queries[0].max_chunks_scanned, Some(2));
    assert_eq!(p.queries[0].min_pruning_speedup, Some(10.0));
    expect("[[queries]]\nname = \"q\"\nsql = \"select 1\"\ntime_bounded = false\nmax_chunks_scanned = 2\n", 5, 22, "queries[0].max_chunks_scanned", "not time-bounded");
    expect(
        "[[queries]]\nname = \"q\"\nsql = \"select 1\"\nmin_pruning_speedup = 2\n",
        4,
        23,
        "queries[0].min_pruning_speedup",
        "time_bounded = true",
    );
    expect(
        &format!("{Q}max_chunks_scanned = 0\n"),
        3,
        22,
        "queries[0].max_chunks_scanned",
        "at least 1",
    );
    expect(
        &format!("{Q}min_pruning_speedup = 0.5\n"),
        3,
        23,
        "queries[0].min_pruning_speedup",
        "at least 1",
    );
}

#[test]
fn custom_sql_and_params() {
    let src = r#"[fleet]
span = "10d"
[[queries]]
name = "by_well"
sql = "select avg(motor_current) from esp_telemetry where well_id = $1 and timestamp > $2 - interval '1 day' and timestamp <= $2 and x < $3 and y = $4 and z = $5 and t <= $6"
params = [
  { kind = "random_well" },
  { kind = "random_window_end", min_back = "2d" },
  { kind = "fixed", value = 5 },
  { kind = "fixed", value = 2.5 },
  { kind = "fixed", value = "WELL-001" },
  { kind = "data_end" },
]
time_bounded = true
max_chunks_scanned = 3
"#;
    let p = ok(src);
    let QueryKind::Custom {
        params,
        time_bounded,
        ..
    } = &p.queries[0].kind
    else {
        panic!("not custom")
    };
    assert!(*time_bounded);
    assert_eq!(
        params,
        &vec![
            ParamGen::RandomWell,
            ParamGen::RandomWindowEnd {
                min_back: Duration::from_secs(2 * 86_400)
            },
            ParamGen::FixedInt { value: 5 },
            ParamGen::FixedFloat { value: 2.5 },
            ParamGen::FixedText {
                value: "WELL-001".into()
            },
            ParamGen::DataEnd,
        ]
    );
    let base = "[[queries]]\nname = \"q\"\n";
    expect(
        &format!("{base}sql = \"select $1, $2\"\nparams = [{{ kind = \"random_well\" }}]\n"),
        4,
        10,
        "queries[0].params",
        "2 placeholder(s)",
    );
    expect(
        &format!("{base}sql = \"select $1\"\n"),
        3,
        7,
        "queries[0].params",
        "1 placeholder(s) ($1..$1) but 0",
    );
    expect(
        &format!("{base}sql = \"select '$1'\"\nparams = [{{ kind = \"random_well\" }}]\n"),
        4,
        10,
        "queries[0].params",
        "0 placeholder(s)",
    );
    expect(&format!("{base}sql = \"select $2\"\nparams = [{{ kind = \"data_end\" }}, {{ kind = \"data_end\" }}]\n"), 3, 7, "queries[0].sql", "not $1");
    expect(
        &format!("{base}sql = \"select $0\"\n"),
        3,
        7,
        "queries[0].sql",
        "invalid placeholder",
    );
    expect(
        &format!("{base}sql = \"select 'x\"\n"),
        3,
        7,
        "queries[0].sql",
        "unterminated string literal",
    );
    expect(
        &format!("{base}sql = \"  \"\n"),
        3,
        7,
        "queries[0].sql",
        "empty",
    );
    expect(
        &format!("{base}sql = \"select $1\"\nparams = [{{ kind = \"random\" }}]\n"),
        4,
        20,
        "queries[0].params[0].kind",
        "unknown parameter kind `random`",
    );
    expect(
        &format!("{base}sql = \"select $1\"\nparams = [{{ kind = \"fixed\" }}]\n"),
        4,
        20,
        "queries[0].params[0].value",
        "needs a `value`",
    );
    expect(
        &format!("{base}sql = \"select $1\"\nparams = [{{ kind = \"fixed\", value = true }}]\n"),
        4,
        37,
        "queries[0].params[0].value",
        "got a boolean",
    );
    expect(
        &format!("{base}sql = \"select $1\"\nparams = [{{ kind = \"random_well\", value = 1 }}]\n"),
        4,
        43,
        "queries[0].params[0].value",
        "does not apply",
    );
    expect(&format!("{base}sql = \"select $1\"\nparams = [{{ kind = \"random_window_end\", min_back = \"40d\" }}]\n"), 4, 52, "queries[0].params[0].min_back", "between");
    expect(
        &format!("{base}builtin = \"latest_24h\"\nsql = \"select 1\"\n"),
        3,
        11,
        "queries[0].builtin",
        "not both",
    );
}

#[test]
fn mix_rules() {
    let p = ok(&format!(
        "{Q}weight = 3\n[mix]\nclients = 4\nduration = \"20s\"\n"
    ));
    let m = p.mix.unwrap();
    assert_eq!(m.mode, LoadMode::Closed { clients: 4 });
    assert_eq!(
        m.stop,
        StopCondition::Duration {
            duration: Duration::from_secs(20)
        }
    );
    assert_eq!(p.queries[0].weight, 3);
    expect(
        &format!("{Q}weight = 3\n"),
        3,
        10,
        "queries[0].weight",
        "no [mix] section",
    );
    expect(
        &format!("{Q}[mix]\nclients = 2\n"),
        3,
        1,
        "mix",
        "no queries",
    );
    expect(
        &format!("{Q}weight = 1\n[mix]\nrate = 10\ncount = 5\nduration = \"5s\"\n"),
        6,
        9,
        "mix.count",
        "mutually exclusive",
    );
    expect(
        &format!("{Q}weight = -1\n"),
        3,
        10,
        "queries[0].weight",
        "between 0",
    );
}

#[test]
fn ingest_section() {
    let p = ok("[ingest]\nrows_per_sec = 500\n");
    assert_eq!(
        p.ingest,
        Some(IngestPlan {
            rows_per_sec: Some(500.0),
            batch_size: 1_000
        })
    );
    let p = ok("[ingest]\nbatch_size = 10\n");
    assert_eq!(
        p.ingest,
        Some(IngestPlan {
            rows_per_sec: None,
            batch_size: 10
        })
    );
    assert_eq!(
        ok("[ingest]\nenabled = false\nrows_per_sec = 5\n").ingest,
        None
    );
    expect(
        "[ingest]\nrows_per_sec = 0\n",
        2,
        16,
        "ingest.rows_per_sec",
        "greater than 0",
    );
    expect(
        "[ingest]\nenabled = false\nbatch_size = 0\n",
        3,
        14,
        "ingest.batch_size",
        "at least 1",
    );
}

#[test]
fn faults_and_dirty() {
    let p = ok("[faults]\ngas_lock_per_day = 1\n[dirty]\nspike_rate = 0.01\nstuck_mean = \"5m\"\n");
    assert_eq!(p.fleet.faults.gas_lock_per_day, 1.0);
    assert_eq!(p.fleet.faults.trip_per_day, defaults::faults().trip_per_day);
    assert_eq!(p.fleet.dirty.spike_rate, 0.01);
    assert_eq!(p.fleet.dirty.stuck_mean, Duration::from_secs(300));
    expect(
        "[faults]\nsand_per_day = -1\n",
        2,
        16,
        "faults.sand_per_day",
        "at least 0",
    );
    expect(
        "[dirty]\nlate_rate = 1.5\n",
        2,
        13,
        "dirty.late_rate",
        "at most 1",
    );
    expect(
        "[dirty]\ndead_sensor_fraction = 0.6\nmissing_sensor_fraction = 0.6\n",
        3,
        27,
        "dirty.missing_sensor_fraction",
        "must not exceed 1",
    );
    expect(
        "[dirty]\ndropout_mean = \"0s\"\n",
        2,
        16,
        "dirty.dropout_mean",
        "between",
    );
}

#[test]
fn server_settings() {
    let p = ok("[server.settings]\nshared_buffers = \"256MB\"\nmax_parallel_workers_per_gather = 2\njit = false\n\"timescaledb.max_background_workers\" = 8\n");
    assert_eq!(p.server_settings["shared_buffers"], "256MB");
    assert_eq!(p.server_settings["max_parallel_workers_per_gather"], "2");
    assert_eq!(p.server_settings["jit"], "off");
    assert_eq!(p.server_settings["timescaledb.max_background_workers"], "8");
    expect(
        "[server.settings]\n\"shared buffers\" = \"1GB\"\n",
        2,
        1,
        "server.settings.shared buffers",
        "invalid setting name",
    );
    expect(
        "[server.settings]\nport = 5432\n",
        2,
        1,
        "server.settings.port",
        "managed by the embedded server",
    );
    expect(
        "[server.settings]\nwork_mem = [1]\n",
        2,
        12,
        "server.settings.work_mem",
        "got an array",
    );
    expect(
        "[server.settings]\nwork_mem = \"1\\n2\"\n",
        2,
        12,
        "server.settings.work_mem",
        "control characters",
    );
    expect(
        "[server.settings]\nwork_mem = \"1MB\"\nWORK_MEM = \"2MB\"\n",
        3,
        1,
        "server.settings.WORK_MEM",
        "given twice",
    );
    expect(
        "[server]\nsetting = {}\n",
        2,
        1,
        "server.setting",
        "unknown field `setting`",
    );
}

#[test]
fn checks_section() {
    let p = ok("[checks]\nunsupported = \"fail\"\ntelemetry_min_reduction_pct = 90\ndiagnostics_min_reduction_pct = \"85%\"\nchunk_counts = false\n");
    assert_eq!(p.checks.unsupported, UnsupportedEffect::Fail);
    assert_eq!(p.checks.telemetry_min_reduction_pct, Some(90.0));
    assert_eq!(p.checks.diagnostics_min_reduction_pct, Some(85.0));
    assert!(!p.checks.chunk_counts);
    expect(
        "[checks]\nunsupported = \"ignore\"\n",
        2,
        15,
        "checks.unsupported",
        "expected `skip` or `fail`",
    );
    expect(
        "[checks]\ntelemetry_min_reduction_pct = 100\n",
        2,
        31,
        "checks.telemetry_min_reduction_pct",
        "less than 100",
    );
    expect(
        "[checks]\ntelemetry_min_reduction_pct = \"lots\"\n",
        2,
        31,
        "checks.telemetry_min_reduction_pct",
        "expected a percentage",
    );
}

#[test]
fn gate_section() {
    let p =
        ok("[gate]\nmax_regression = \"15%\"\nmetrics = [\"p95_ms\", \"mean_ms\"]\nalpha = 0.01\n");
    assert_eq!(p.gate.max_regression_pct, 15.0);
    assert_eq!(p.gate.metrics, vec![Metric::P95Ms, Metric::MeanMs]);
    assert_eq!(p.gate.alpha, 0.01);
    assert_eq!(
        ok("[gate]\nmax_regression = 7.5\n").gate.max_regression_pct,
        7.5
    );
    expect(
        "[gate]\nmetrics = [\"p95_ms\", \"p96_ms\"]\n",
        2,
        22,
        "gate.metrics[1]",
        "unknown metric `p96_ms`",
    );
    expect(
        "[gate]\nmetrics = []\n",
        2,
        11,
        "gate.metrics",
        "at least one metric",
    );
    expect(
        "[gate]\nmetrics = [\"p95_ms\", \"p95_ms\"]\n",
        2,
        22,
        "gate.metrics[1]",
        "listed twice",
    );
    expect(
        "[gate]\nmax_regression = \"0%\"\n",
        2,
        18,
        "gate.max_regression",
        "greater than 0",
    );
    expect("[gate]\nalpha = 0.9\n", 2, 9, "gate.alpha", "at most 0.5");
}

#[test]
fn scenario_names() {
    assert_eq!(
        ok("[scenario]\nname = \"nightly-1\"\ndescription = \"d\"\n").name,
        "nightly-1"
    );
    assert_eq!(
        parse("[fleet]\n", "dir/my scenario.toml", now())
            .unwrap()
            .name,
        "my-scenario"
    );
    expect(
        "[scenario]\nname = \"../x\"\n",
        2,
        8,
        "scenario.name",
        "invalid name",
    );
}

#[test]
fn with_wells_and_row_counts() {
    let p = ok("[fleet]\nwells = 100\nsample_interval = \"60s\"\nspan = \"32d\"\n");
    assert_eq!(p.fleet.samples_per_well(), 32 * 1440);
    assert_eq!(p.fleet.nominal_telemetry_rows(), 100 * 32 * 1440);
    let q = p.with_wells(7);
    assert_eq!(q.fleet.wells, 7);
    assert_eq!(q.fleet.seed, p.fleet.seed);
    assert_eq!(p.with_wells(0).fleet.wells, 1);
}

#[test]
fn fingerprint_is_stable_and_ignores_file_and_now() {
    let src = format!("[fleet]\nwells = 3\n{Q}");
    let a = parse(&src, "a.toml", now()).unwrap();
    let b = parse(&src, "elsewhere/a.toml", now() + chrono::Duration::hours(5)).unwrap();
    assert_eq!(fingerprint(&a), fingerprint(&b));
    assert_eq!(fingerprint(&a).len(), 16);
    let c = parse(&format!("[fleet]\nwells = 4\n{Q}"), "a.toml", now()).unwrap();
    assert_ne!(fingerprint(&a), fingerprint(&c));
    // A fixed end is part of the configuration.
    let d = parse("[fleet]\nend = \"2025-01-01T00:00:00Z\"\n", "a.toml", now()).unwrap();
    let e = parse("[fleet]\nend = \"2025-01-02T00:00:00Z\"\n", "a.toml", now()).unwrap();
    assert_ne!(fingerprint(&d), fingerprint(&e));
    // Prose is not configuration; a target is.
    let f = parse(
        &format!("[scenario]\ndescription = \"x\"\n[fleet]\nwells = 3\n{Q}"),
        "a.toml",
        now(),
    )
    .unwrap();
    assert_eq!(fingerprint(&a), fingerprint(&f));
    let g = parse(
        &format!("[fleet]\nwells = 3\n{Q}targets = {{ p95_ms = 9 }}\n"),
        "a.toml",
        now(),
    )
    .unwrap();
    assert_ne!(fingerprint(&a), fingerprint(&g));
}

#[test]
fn load_reports_io_errors_and_config_exit() {
    let e = load(std::path::Path::new("no/such/scenario.toml")).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Io);
    assert!(e
        .to_string()
        .starts_with("failed to read scenario no/such/scenario.toml:"));
    let any = load_config(std::path::Path::new("no/such/scenario.toml")).unwrap_err();
    assert!(matches!(
        any.downcast_ref::<crate::error::BenchError>(),
        Some(crate::error::BenchError::Config(_))
    ));
}

#[test]
fn plan_cache_mode_per_query_run_and_mix() {
    // Default: auto everywhere.
    let p = ok(&format!("{Q}weight = 1\n[mix]\n"));
    assert_eq!(p.run.plan_cache_mode, PlanCacheMode::Auto);
    assert_eq!(p.queries[0].plan_cache_mode, PlanCacheMode::Auto);
    assert_eq!(p.mix.as_ref().unwrap().plan_cache_mode, PlanCacheMode::Auto);

    // [run] sets the default of the queries and of the mix; a query's own key wins for its own
    // phase only; [mix] has its own key.
    let p = ok(&format!(
        "[run]\nplan_cache_mode = \"force_custom_plan\"\n{Q}weight = 1\n\
         [[queries]]\nname = \"last_value\"\nweight = 1\nplan_cache_mode = \"force_generic_plan\"\n\
         [mix]\n"
    ));
    assert_eq!(p.run.plan_cache_mode, PlanCacheMode::ForceCustomPlan);
    assert_eq!(p.queries[0].plan_cache_mode, PlanCacheMode::ForceCustomPlan);
    assert_eq!(
        p.queries[1].plan_cache_mode,
        PlanCacheMode::ForceGenericPlan
    );
    assert_eq!(
        p.mix.as_ref().unwrap().plan_cache_mode,
        PlanCacheMode::ForceCustomPlan
    );
    let p = ok(&format!(
        "{Q}weight = 1\n[mix]\nplan_cache_mode = \"force_generic_plan\"\n"
    ));
    assert_eq!(p.queries[0].plan_cache_mode, PlanCacheMode::Auto);
    assert_eq!(
        p.mix.as_ref().unwrap().plan_cache_mode,
        PlanCacheMode::ForceGenericPlan
    );
    // The resolved scenario records it.
    let json = serde_json::to_value(&p).unwrap();
    assert_eq!(json["mix"]["plan_cache_mode"], "force_generic_plan");
    assert_eq!(json["queries"][0]["plan_cache_mode"], "auto");
}

#[test]
fn plan_cache_mode_errors_point_at_the_value() {
    expect(
        "[run]\nplan_cache_mode = \"generic\"\n",
        2,
        19,
        "run.plan_cache_mode",
        "unknown value `generic`, expected one of `auto`, `force_custom_plan`, `force_generic_plan`",
    );
    expect(
        &format!("{Q}plan_cache_mode = \"custom\"\n"),
        3,
        19,
        "queries[0].plan_cache_mode",
        "unknown value `custom`",
    );
    expect(
        &format!("{Q}weight = 1\n[mix]\nplan_cache_mode = \"AUTO\"\n"),
        5,
        19,
        "mix.plan_cache_mode",
        "unknown value `AUTO`",
    );
    expect(
        "[run]\nplan_cache_mode = 1\n",
        2,
        19,
        "run.plan_cache_mode",
        "invalid type",
    );
}

#[test]
fn run_cache_capture_and_what_if() {
    let p = ok(&format!("[fleet]\n{Q}"));
    assert_eq!(p.run.cache, CacheMode::Hot);
    assert!(p.run.capture);
    assert!(p.run.what_if.is_empty());
    let p = ok(&format!(
        "[fleet]\n[run]\ncache = \"both\"\ncapture = false\nwhat_if = [\"cagg\"]\n{Q}"
    ));
    assert_eq!(p.run.cache, CacheMode::Both);
    assert!(!p.run.capture);
    assert_eq!(p.run.what_if, vec![WhatIfKind::Cagg]);
    expect(
        &format!("[fleet]\n[run]\ncache = \"warm\"\n{Q}"),
        3,
        9,
        "run.cache",
        "unknown value `warm`",
    );
    expect(
        &format!("[fleet]\n[run]\nwhat_if = [\"cagg\", \"index\"]\n{Q}"),
        3,
        20,
        "run.what_if",
        "unknown alternative `index`",
    );
    expect(
        &format!("[fleet]\n[run]\nwhat_if = [\"cagg\", \"cagg\"]\n{Q}"),
        3,
        20,
        "run.what_if",
        "listed twice",
    );
}

#[test]
fn default_cache_and_what_if_keep_the_fingerprint() {
    let a = ok(&format!("[fleet]\n{Q}"));
    let b = ok(&format!(
        "[fleet]\n[run]\ncache = \"hot\"\ncapture = false\n{Q}"
    ));
    assert_eq!(fingerprint(&a), fingerprint(&b));
    let c = ok(&format!("[fleet]\n[run]\ncache = \"cold\"\n{Q}"));
    assert_ne!(fingerprint(&a), fingerprint(&c));
}

#[test]
fn rounds_split_each_query_phase_and_are_checked() {
    let p = ok(&format!("[run]\nduration = \"4s\"\nrounds = 4\n{Q}"));
    assert_eq!(p.run.rounds, 4);
    assert_eq!(ok(Q).run.rounds, 1);
    // One round is the default and leaves the fingerprint as it was; more rounds change it.
    let one = ok(&format!("[run]\nrounds = 1\n{Q}"));
    assert_eq!(fingerprint(&one), fingerprint(&ok(Q)));
    assert_ne!(
        fingerprint(&p),
        fingerprint(&ok(&format!("[run]\nduration = \"4s\"\n{Q}")))
    );
    expect(
        &format!("[run]\nrounds = 0\n{Q}"),
        2,
        10,
        "run.rounds",
        "at least 1 (and at most 100)",
    );
    expect(
        &format!("[run]\nrounds = 101\n{Q}"),
        2,
        10,
        "run.rounds",
        "between 1 and 100",
    );
    // 4 s in 8 rounds is 500 ms a round, under the default 1 s stats interval.
    let e = expect(
        &format!("[run]\nduration = \"4s\"\nrounds = 8\n{Q}"),
        3,
        10,
        "run.rounds",
        "500ms a round, shorter than run.stats_interval 1s",
    );
    assert!(e.message.contains("queries[0] (latest_24h)"), "{e}");
    expect(
        &format!("[run]\nrounds = 3\n{Q}count = 2\n"),
        2,
        10,
        "run.rounds",
        "count 2 cannot be split into 3 rounds",
    );
    expect(
        &format!("[run]\nrounds = 2\ncache = \"both\"\n{Q}"),
        2,
        10,
        "run.rounds",
        "needs cache = \"hot\"",
    );
}

#[test]
fn the_speed_reference_is_off_by_default_and_changes_the_fingerprint_when_on() {
    let on = ok(&format!("[run]\nspeed_reference = true\n{Q}"));
    assert!(on.run.speed_reference);
    assert!(!ok(Q).run.speed_reference);
    // Off is the default and leaves the fingerprint as it was; on changes what is measured.
    let off = ok(&format!("[run]\nspeed_reference = false\n{Q}"));
    assert_eq!(fingerprint(&off), fingerprint(&ok(Q)));
    assert_ne!(fingerprint(&on), fingerprint(&ok(Q)));
    // A wrong type names the file's line and the field.
    let e = err(&format!("[run]\nspeed_reference = \"yes\"\n{Q}"));
    assert_eq!(e.line(), 2, "{e}");
    assert!(e.to_string().contains("speed_reference"), "{e}");
    assert!(e.to_string().starts_with("t.toml:2:"), "{e}");
}
