use super::*;
use crate::checks::verdict;
use crate::model::report::Percentiles;
use crate::model::report::Verdict;
use crate::model::tables::{DIAGNOSTICS, TELEMETRY};
use crate::scenario::plan::UnsupportedEffect;
use crate::scenario::plan::{Builtin, LoadMode, QueryKind, StopCondition, Threshold};
use chrono::TimeZone;
use std::collections::BTreeMap;

fn qplan(name: &str, targets: Vec<(Metric, f64)>) -> QueryPlan {
    QueryPlan {
        name: name.into(),
        kind: QueryKind::Builtin(Builtin::Latest24h),
        mode: LoadMode::Closed { clients: 1 },
        warmup: Duration::from_secs(1),
        stop: StopCondition::Count { count: 10 },
        weight: 0,
        targets: targets
            .into_iter()
            .map(|(metric, threshold)| Threshold { metric, threshold })
            .collect(),
        max_chunks_scanned: None,
        min_pruning_speedup: None,
        writes: false,
        plan_cache_mode: Default::default(),
    }
}

fn stats(name: &str, count: u64, errors: u64, p95: f64) -> QueryStats {
    QueryStats {
        name: name.into(),
        mode: "closed".into(),
        clients: 1,
        rate: None,
        count,
        errors,
        errors_by_sqlstate: BTreeMap::new(),
        rows_returned: 0,
        duration_s: 10.0,
        throughput_qps: count as f64 / 10.0,
        latency_ms: Percentiles {
            mean: p95 / 2.0,
            p50: p95 / 2.0,
            p90: p95,
            p95,
            p99: p95,
            p999: p95,
            max: p95,
        },
        schedule_lag_ms: None,
        histogram: String::new(),
        intervals: vec![],
        plan: None,
        evidence: None,
    }
}

#[test]
fn latency_pass_and_fail() {
    let plan = vec![qplan(
        "latest_24h",
        vec![(Metric::P95Ms, 10.0), (Metric::ThroughputQps, 50.0)],
    )];
    let r = latency_checks(&plan, &[stats("latest_24h", 1000, 0, 4.2)]);
    assert_eq!(r.len(), 2);
    assert_eq!(r[0].name, "latency.latest_24h.p95_ms");
    assert_eq!(r[0].target, "<= 10");
    assert_eq!(r[0].measured, Some(4.2));
    assert_eq!(r[0].status, CheckStatus::Pass);
    assert_eq!(r[1].name, "latency.latest_24h.throughput_qps");
    assert_eq!(r[1].target, ">= 50");
    assert_eq!(r[1].status, CheckStatus::Pass);

    let r = latency_checks(&plan, &[stats("latest_24h", 100, 0, 12.5)]);
    assert_eq!(r[0].status, CheckStatus::Fail);
    assert_eq!(r[0].measured, Some(12.5));
    assert_eq!(r[1].status, CheckStatus::Fail, "10 qps < 50 qps");
}

#[test]
fn error_rate_target() {
    let plan = vec![qplan("q", vec![(Metric::ErrorRate, 0.01)])];
    let r = latency_checks(&plan, &[stats("q", 90, 10, 1.0)]);
    assert_eq!(r[0].measured, Some(0.1));
    assert_eq!(r[0].status, CheckStatus::Fail);
    assert!(r[0].note.as_deref().unwrap().contains("10 errors of 100"));
}

#[test]
fn missing_query_stats_is_a_failed_check_not_silence() {
    let plan = vec![qplan("agg_7d_fleet", vec![(Metric::P95Ms, 50.0)])];
    let r = latency_checks(&plan, &[stats("latest_24h", 10, 0, 1.0)]);
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].status, CheckStatus::Fail);
    assert_eq!(r[0].measured, None);
    assert!(r[0].note.as_deref().unwrap().contains("agg_7d_fleet"));
}

#[test]
fn no_successful_execution_fails_latency_target() {
    let plan = vec![qplan("q", vec![(Metric::P50Ms, 50.0)])];
    let r = latency_checks(&plan, &[stats("q", 0, 5, 0.0)]);
    assert_eq!(r[0].status, CheckStatus::Fail);
    assert_eq!(r[0].measured, None);
}

#[test]
fn unsupported_follows_the_effect() {
    let checks = vec![
        result(
            "a".into(),
            "latency",
            "<= 1".into(),
            Some(0.5),
            CheckStatus::Pass,
            None,
        ),
        unsupported_check(
            "compression.esp_telemetry.reduction_pct".into(),
            "compression",
            ">= 90".into(),
            "apache",
        ),
    ];
    assert_eq!(
        checks[1].note.as_deref(),
        Some("unsupported: needs TimescaleDB community edition (this server: apache)")
    );
    assert_eq!(
        verdict(false, false, &checks, UnsupportedEffect::Skip),
        Verdict::Pass
    );
    assert_eq!(
        verdict(false, false, &checks, UnsupportedEffect::Fail),
        Verdict::Fail
    );
    let mut failing = checks.clone();
    failing[0].status = CheckStatus::Fail;
    assert_eq!(
        verdict(false, false, &failing, UnsupportedEffect::Skip),
        Verdict::Fail
    );
    assert_eq!(
        verdict(false, false, &[], UnsupportedEffect::Fail),
        Verdict::Pass
    );
}

fn scan(total: u64, planned: u64, startup: u64, executed: u64, compressed: u64) -> PlanChunks {
    PlanChunks {
        chunks_total: total,
        chunks_planned: planned,
        chunks_excluded_startup: startup,
        chunks_excluded_runtime: 0,
        chunks_executed: executed,
        chunks_executed_compressed: compressed,
        hypertables: vec!["esp_telemetry".into()],
        execution_ms: Some(1.5),
        planning_ms: Some(0.2),
    }
}

/// last_value on TimescaleDB 2.23.1 community (tests/fixtures/explain): the custom plan
/// executes 1 of 32 chunks, the generic plan (ConstraintAwareAppend, 0 excluded at
/// startup) all 32, 25 of them compressed.
fn last_value_plans() -> QueryPlans {
    QueryPlans {
        custom: Some(PlanProbe::Measured(scan(32, 1, 0, 1, 0))),
        generic: PlanProbe::Measured(scan(32, 32, 0, 32, 25)),
    }
}

#[test]
fn pruning_counts_executed_chunks_of_the_reachable_plans() {
    let ran = PlanEvidence {
        plan_cache_mode: "auto".into(),
        custom_plans: Some(0),
        generic_plans: Some(812),
        ..Default::default()
    };
    // auto: the plan cache may pick the generic plan, so its 32 chunks count.
    let r = pruning_check(
        "last_value",
        2,
        PlanCacheMode::Auto,
        &last_value_plans(),
        Some(&ran),
    );
    assert_eq!((r.status, r.measured), (CheckStatus::Fail, Some(32.0)));
    let note = r.note.unwrap();
    assert!(
        note.contains("custom plan: 1 of 32 chunks executed (1 planned, 0 excluded at startup, 0 compressed; 1.5 ms)"),
        "{note}"
    );
    assert!(
        note.contains("generic plan: 32 of 32 chunks executed (32 planned, 0 excluded at startup, 25 compressed; 1.5 ms)"),
        "{note}"
    );
    assert!(note.contains("ran 0 custom and 812 generic plans (plan_cache_mode auto)"));
    assert!(note.starts_with("esp_telemetry; "), "{note}");

    // force_custom_plan: only the custom plan can run; the generic one is shown, not counted.
    let r = pruning_check(
        "last_value",
        2,
        PlanCacheMode::ForceCustomPlan,
        &last_value_plans(),
        None,
    );
    assert_eq!((r.status, r.measured), (CheckStatus::Pass, Some(1.0)));
    assert!(r
        .note
        .unwrap()
        .contains("not counted under force_custom_plan: generic plan: 32 of 32"));
    let r = pruning_check(
        "last_value",
        40,
        PlanCacheMode::ForceGenericPlan,
        &last_value_plans(),
        None,
    );
    assert_eq!((r.status, r.measured), (CheckStatus::Pass, Some(32.0)));
}

#[test]
fn planned_but_never_executed_chunks_do_not_count() {
    // An ordered append under LIMIT plans 32 chunks and runs 1.
    let plans = QueryPlans {
        custom: None,
        generic: PlanProbe::Measured(scan(32, 32, 0, 1, 0)),
    };
    let r = pruning_check("latest", 2, PlanCacheMode::ForceCustomPlan, &plans, None);
    // Without parameters the generic plan is the only plan, whatever the mode.
    assert_eq!((r.status, r.measured), (CheckStatus::Pass, Some(1.0)));
    assert_eq!(
        plans.report().2.as_deref(),
        Some("no parameters: the generic plan is the only plan")
    );
}

#[test]
fn unmeasured_or_empty_plans() {
    let failed = QueryPlans {
        custom: Some(PlanProbe::Measured(scan(30, 2, 0, 2, 0))),
        generic: PlanProbe::Failed("could not determine data type of parameter $1".into()),
    };
    let r = pruning_check("q", 2, PlanCacheMode::Auto, &failed, None);
    assert_eq!((r.status, r.measured), (CheckStatus::Pass, Some(2.0)));
    assert!(r
        .note
        .unwrap()
        .contains("generic plan not measured: could not determine"));
    let (c, g, note) = failed.report();
    assert!(c.is_some() && g.is_none());
    assert!(note.unwrap().starts_with("generic plan not measured"));

    let none = QueryPlans {
        custom: None,
        generic: PlanProbe::Failed("boom".into()),
    };
    let r = pruning_check("q", 2, PlanCacheMode::Auto, &none, None);
    assert_eq!((r.status, r.measured), (CheckStatus::Fail, None));
    assert!(r.note.unwrap().starts_with("no plan could be measured"));

    let elsewhere = QueryPlans {
        custom: None,
        generic: PlanProbe::Measured(PlanChunks::default()),
    };
    let r = pruning_check("q", 2, PlanCacheMode::Auto, &elsewhere, None);
    assert_eq!(r.status, CheckStatus::Fail);
    assert!(r
        .note
        .unwrap()
        .starts_with("the plan touches no hypertable"));
}

#[test]
fn speedup_uses_medians_and_requires_defeated_pruning() {
    let ms = |v: &[u64]| {
        v.iter()
            .map(|&m| Duration::from_millis(m))
            .collect::<Vec<_>>()
    };
    let pruned = ChunkScan {
        scanned: 1,
        total: 10,
        hypertables: vec!["t".into()],
    };
    let full = ChunkScan {
        scanned: 10,
        total: 10,
        hypertables: vec!["t".into()],
    };
    let r = speedup_check(
        "q",
        10.0,
        &ms(&[2, 1, 100]),
        &ms(&[30, 20, 25]),
        &pruned,
        &full,
    );
    assert_eq!(r.measured, Some(12.5));
    assert_eq!(r.status, CheckStatus::Pass);
    let r = speedup_check(
        "q",
        20.0,
        &ms(&[2, 1, 100]),
        &ms(&[30, 20, 25]),
        &pruned,
        &full,
    );
    assert_eq!(r.status, CheckStatus::Fail);
    let r = speedup_check(
        "q",
        10.0,
        &ms(&[2, 1, 100]),
        &ms(&[30, 20, 25]),
        &pruned,
        &pruned,
    );
    assert_eq!(r.status, CheckStatus::Fail);
    assert!(r.note.unwrap().contains("could not be fully defeated"));
    assert_eq!(
        speedup_check("q", 1.0, &[], &ms(&[1]), &pruned, &full).status,
        CheckStatus::Fail
    );
    assert_eq!(median_ms(&ms(&[4, 1, 3, 2])), Some(2.5));
}

#[test]
fn chunk_counts_within_alignment_tolerance() {
    let day = 86_400;
    let at = |d: u32, h: u32| Utc.with_ymd_and_hms(2025, 1, d, h, 0, 0).unwrap();
    // 10 days from midnight to midnight: 10 chunks (11 if it straddled a boundary).
    assert_eq!(
        expected_chunks(10 * day, day, Some((at(1, 0), at(10, 23)))),
        (10, 11)
    );
    // 10 days from noon to noon: 11 aligned chunks.
    let data = Some((at(1, 12), at(11, 11)));
    assert_eq!(expected_chunks(10 * day, day, data), (10, 11));
    assert_eq!(
        chunk_count_check("t", 11, 10 * day, day, data).status,
        CheckStatus::Pass
    );
    assert_eq!(
        chunk_count_check("t", 12, 10 * day, day, data).status,
        CheckStatus::Fail
    );
    assert_eq!(
        chunk_count_check("t", 9, 10 * day, day, data).status,
        CheckStatus::Fail
    );
    // Live ingest past the end: one more chunk is allowed.
    assert_eq!(
        expected_chunks(10 * day, day, Some((at(1, 12), at(12, 1)))),
        (10, 12)
    );
    // Sparse data covering 3 days of a 10-day span: 3 chunks are enough.
    assert_eq!(
        expected_chunks(10 * day, day, Some((at(5, 0), at(7, 1)))),
        (3, 11)
    );
    // 7-day chunks over 30 days: 5 or 6.
    assert_eq!(expected_chunks(30 * day, 7 * day, None), (0, 6));
}

#[test]
fn chunk_interval() {
    let r = chunk_interval_check("esp_telemetry", Some(86_400), TELEMETRY.chunk_interval_s);
    assert_eq!(
        (r.status, r.target.as_str()),
        (CheckStatus::Pass, "== 86400")
    );
    assert_eq!(
        chunk_interval_check("d", Some(86_400), DIAGNOSTICS.chunk_interval_s).status,
        CheckStatus::Fail
    );
    assert_eq!(chunk_interval_check("d", None, 1).status, CheckStatus::Fail);
}

#[test]
fn compression_reduction() {
    let b = CompressionBytes {
        chunks: 3,
        before_bytes: 1000,
        after_bytes: 80,
    };
    let r = compression_check("esp_telemetry", 90.0, 7 * 86_400, &b);
    assert_eq!(r.measured, Some(92.0));
    assert_eq!(r.status, CheckStatus::Pass);
    assert!(r.note.unwrap().contains("12.5x"));
    let r = compression_check("esp_telemetry", 95.0, 7 * 86_400, &b);
    assert_eq!(r.status, CheckStatus::Fail);
    let none = CompressionBytes::default();
    let r = compression_check("esp_telemetry", 90.0, 7 * 86_400, &none);
    assert_eq!((r.status, r.measured), (CheckStatus::Fail, None));
}

fn at(d: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 9, d, 0, 0, 0).unwrap()
}

#[allow(clippy::too_many_arguments)]
fn chunk_facts(
    name: &str,
    rows: u64,
    segments: u64,
    before: [u64; 3],
    after: [u64; 3],
    values: (u64, u64),
) -> ChunkCompression {
    let split = |b: [u64; 3]| ByteSplit {
        table_bytes: b[0],
        index_bytes: b[1],
        toast_bytes: b[2],
        total_bytes: b[0] + b[1] + b[2],
    };
    ChunkCompression {
        chunk: name.into(),
        range_start: at(1),
        range_end: at(8),
        rows,
        segments: Some(segments),
        rows_per_segment: Some(rows as f64 / segments as f64),
        before: split(before),
        after: split(after),
        values_before_bytes: Some(values.0),
        values_after_bytes: Some(values.1),
    }
}

/// diagnostic_results on TimescaleDB 2.23.1 community, default scenario (100 wells, 32 d):
/// the three chunks older than 14 days, as chunk_columnstore_stats and the compressed
/// chunks reported them (summary.json of a `bench run` on that server).
fn diagnostics_facts() -> CompressionDetails {
    compression_details(
        DIAGNOSTICS.value_columns,
        vec![
            chunk_facts(
                "_hyper_2_33_chunk",
                317,
                179,
                [73728, 106496, 8192],
                [122880, 32768, 8192],
                (22870, 51907),
            ),
            chunk_facts(
                "_hyper_2_34_chunk",
                257,
                172,
                [65536, 65536, 8192],
                [114688, 32768, 8192],
                (18538, 46950),
            ),
            chunk_facts(
                "_hyper_2_38_chunk",
                40,
                36,
                [8192, 49152, 8192],
                [49152, 16384, 8192],
                (2901, 8965),
            ),
        ],
    )
}

#[test]
fn compression_details_sum_per_chunk_facts() {
    let d = diagnostics_facts();
    assert_eq!((d.chunks, d.rows, d.segments), (3, 614, Some(387)));
    assert_eq!(d.before.total_bytes, 188416 + 139264 + 65536);
    assert_eq!(d.after.total_bytes, 163840 + 155648 + 73728);
    assert_eq!(d.before.index_bytes, 106496 + 65536 + 49152);
    assert!((d.rows_per_segment.unwrap() - 614.0 / 387.0).abs() < 1e-12);
    assert_eq!(d.values_before_bytes, Some(44309));
    assert_eq!(d.values_ratio, Some(44309.0 / 107822.0));
    assert_eq!(d.value_columns, vec!["condition", "confidence", "message"]);
    let empty = compression_details(&["a"], vec![]);
    assert_eq!((empty.chunks, empty.segments, empty.ratio), (0, None, None));
}

#[test]
fn a_ratio_below_one_says_why_with_numbers() {
    // All three chunks: 393216 -> 393216 bytes, 1x against the 6.667x of 85%.
    let d = diagnostics_facts();
    let r = compression_details_check("diagnostic_results", 85.0, 14 * 86_400, &d);
    assert_eq!((r.status, r.measured), (CheckStatus::Fail, Some(0.0)));
    let note = r.note.unwrap();
    assert!(
        note.contains("before: table 147456, index 221184, toast 24576"),
        "{note}"
    );
    assert!(
        note.contains("after: table 286720, index 81920, toast 24576"),
        "{note}"
    );
    assert!(
        note.contains("(indexes 56.3% of the before bytes)"),
        "{note}"
    );
    assert!(
        note.contains("614 rows in 387 segments (1.587 rows per segment)"),
        "{note}"
    );
    assert!(
        note.contains("the ratio 1x is far below the target's 6.667x. Why: "),
        "{note}"
    );
    // (286720 + 24576) / 387 = 804 bytes per batch; 147456 / 614 x 1.587 = 381 bytes.
    assert!(
        note.contains("804 bytes per compressed batch against 381 bytes"),
        "{note}"
    );
    assert!(
        note.contains("indexes and empty toast take 106496 of the 393216 bytes"),
        "{note}"
    );
    assert!(note.contains("small chunks: 205 rows per chunk"), "{note}");
    assert!(
        note.contains("value columns alone: 44309 -> 107822 bytes (0.411x)"),
        "{note}"
    );

    // The two chunks that grew: 204800 -> 229376 bytes.
    let mut two = d.per_chunk.clone();
    two.remove(0);
    let d = compression_details(DIAGNOSTICS.value_columns, two);
    let r = compression_details_check("diagnostic_results", 85.0, 14 * 86_400, &d);
    let m = r.measured.unwrap();
    assert!(
        (m - (1.0 - 229376.0 / 204800.0) * 100.0).abs() < 1e-9,
        "{m}"
    );
    let note = r.note.unwrap();
    assert!(note.contains("compression grew the data (0.893x). Why: few rows per segment: 297 rows in 208 segments"), "{note}");
}

#[test]
fn a_good_ratio_gets_the_split_but_no_excuse() {
    // One esp_telemetry chunk of the same run: 143,979 rows, 200 segments.
    let d = compression_details(
        TELEMETRY.value_columns,
        vec![chunk_facts(
            "_hyper_1_1_chunk",
            143_979,
            200,
            [19_038_208, 15_826_944, 8192],
            [90112, 32768, 3_923_968],
            (9_398_776, 3_386_032),
        )],
    );
    let r = compression_details_check("esp_telemetry", 85.0, 7 * 86_400, &d);
    assert_eq!(r.status, CheckStatus::Pass);
    let note = r.note.unwrap();
    assert!(
        note.contains("(indexes 45.4% of the before bytes)"),
        "{note}"
    );
    assert!(!note.contains("Why"), "{note}");
    let r = compression_details_check("esp_telemetry", 90.0, 7 * 86_400, &d);
    assert_eq!(r.status, CheckStatus::Fail, "8.6x is 88.4%");
    // 8.6x is not far below the 10x of 90%: no cause is claimed.
    assert!(!r.note.unwrap().contains("Why"));
    // Against 99% (100x) it is far below: the causes are looked for.
    let r = compression_details_check("esp_telemetry", 99.0, 7 * 86_400, &d);
    let note = r.note.unwrap();
    assert!(note.contains("far below the target's 100x"), "{note}");
}

#[test]
fn policies() {
    let job = |id, proc_name: &str, ht: &str, after: f64| PolicyJob {
        job_id: id,
        proc_name: proc_name.into(),
        hypertable: ht.into(),
        after_s: Some(after),
        config: "{}".into(),
    };
    let jobs = vec![
        job(1000, "policy_retention", "esp_telemetry", 30.0 * 86_400.0),
        job(1002, "policy_compression", "esp_telemetry", 7.0 * 86_400.0),
        job(
            1003,
            "policy_compression",
            "diagnostic_results",
            7.0 * 86_400.0,
        ),
    ];
    let r = policy_check("esp_telemetry", "compression", 7 * 86_400, &jobs);
    assert_eq!(r.status, CheckStatus::Pass);
    assert_eq!(
        r.measured_text.as_deref(),
        Some("compress_after = 7 d (job 1002)")
    );
    assert_eq!(
        policy_check("esp_telemetry", "retention", 30 * 86_400, &jobs).status,
        CheckStatus::Pass
    );
    let r = policy_check("diagnostic_results", "compression", 14 * 86_400, &jobs);
    assert_eq!(r.status, CheckStatus::Fail, "7 d is not 14 d");
    let r = policy_check("diagnostic_results", "retention", 90 * 86_400, &jobs);
    assert_eq!(r.status, CheckStatus::Fail);
    assert!(r.note.unwrap().contains("no policy_retention job"));
}

#[test]
fn retention() {
    let cutoff = Utc.with_ymd_and_hms(2025, 1, 10, 12, 0, 0).unwrap();
    let mut st = RetentionState {
        cutoff,
        chunks_before_cutoff: 0,
        oldest_row: Some(Utc.with_ymd_and_hms(2025, 1, 10, 0, 0, 0).unwrap()),
        chunk_interval_s: 86_400,
        method: "drop_chunks".into(),
        dropped: 3,
    };
    let r = retention_check("esp_telemetry", 30 * 86_400, &st);
    assert_eq!(r.status, CheckStatus::Pass);
    assert_eq!(r.measured, Some(43_200.0));
    st.chunks_before_cutoff = 1;
    assert_eq!(retention_check("t", 1, &st).status, CheckStatus::Fail);
    st.chunks_before_cutoff = 0;
    st.oldest_row = Some(Utc.with_ymd_and_hms(2025, 1, 8, 0, 0, 0).unwrap());
    assert_eq!(retention_check("t", 1, &st).status, CheckStatus::Fail);
    st.oldest_row = None;
    assert_eq!(retention_check("t", 1, &st).status, CheckStatus::Pass);
}

#[test]
fn number_formatting() {
    assert_eq!(fmt_num(10.0), "10");
    assert_eq!(fmt_num(0.5), "0.5");
    assert_eq!(fmt_num(1.0 / 3.0), "0.333");
    assert_eq!(fmt_secs(7.0 * 86_400.0), "7 d");
    assert_eq!(fmt_secs(7200.0), "2 h");
    assert_eq!(fmt_secs(90.0), "90 s");
}
