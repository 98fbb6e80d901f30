use super::*;
use crate::model::report::{
    CheckStatus, CompressionDetails, PlanEvidence, PlanSummary, QueryEvidence, ServerTime,
};

fn check(name: &str, kind: &str, target: &str, measured: f64) -> CheckResult {
    CheckResult {
        name: name.into(),
        kind: kind.into(),
        target: target.into(),
        measured: Some(measured),
        measured_text: None,
        status: CheckStatus::Fail,
        note: None,
    }
}

fn stats(name: &str, mean: f64) -> QueryStats {
    QueryStats {
        name: name.into(),
        mode: "closed".into(),
        clients: 1,
        rate: None,
        count: 100,
        errors: 0,
        errors_by_sqlstate: Default::default(),
        rows_returned: 2000,
        duration_s: 10.0,
        throughput_qps: 10.0,
        latency_ms: crate::model::report::Percentiles {
            mean,
            p95: mean * 1.2,
            ..Default::default()
        },
        schedule_lag_ms: None,
        histogram: String::new(),
        intervals: Vec::new(),
        plan: Some(PlanEvidence {
            plan_cache_mode: "auto".into(),
            custom: Some(PlanChunks {
                chunks_total: 33,
                chunks_executed: 31,
                chunks_executed_compressed: 29,
                ..Default::default()
            }),
            ..Default::default()
        }),
        evidence: Some(QueryEvidence {
            plan: Some(PlanSummary {
                plan: "custom".into(),
                top_node: "HashAggregate".into(),
                rows: 20,
                ..Default::default()
            }),
            server: Some(ServerTime {
                calls: 100,
                mean_exec_ms: 118.0,
                stddev_exec_ms: 5.0,
                mean_plan_ms: Some(0.5),
                shared_blks_read: 1_248_000,
                shared_blks_hit: 100,
                ..Default::default()
            }),
            ..Default::default()
        }),
    }
}

fn input<'a>(
    checks: &'a [CheckResult],
    queries: &'a [QueryStats],
    what_if: &'a [WhatIf],
    candidates: &'a [String],
) -> Input<'a> {
    Input {
        checks,
        queries,
        storage: &[],
        what_if,
        what_if_note: None,
        cagg_candidates: candidates,
        cagg_requested: false,
        unsupported: UnsupportedEffect::Skip,
    }
}

#[test]
fn latency_reason_carries_server_and_plan_numbers() {
    let checks = [
        check("latency.agg_7d_fleet.p95_ms", "latency", "<= 50", 145.0),
        CheckResult {
            status: CheckStatus::Pass,
            ..check("latency.other.p95_ms", "latency", "<= 50", 1.0)
        },
    ];
    let qs = [stats("agg_7d_fleet", 121.0)];
    let cands = ["agg_7d_fleet".to_string()];
    let ex = explain(&input(&checks, &qs, &[], &cands));
    assert_eq!(ex.len(), 1, "only failed checks are explained");
    let e = &ex[0];
    assert_eq!(e.check, "latency.agg_7d_fleet.p95_ms");
    assert!(
        e.reason.contains("p95 145 ms against ≤ 50 ms"),
        "{}",
        e.reason
    );
    assert!(
        e.reason.contains(
            "server mean 118 ms (execution 118 ms + planning 500 µs) of the client's mean 121 ms"
        ),
        "{}",
        e.reason
    );
    assert!(
        e.reason.contains("12 480 shared blocks read"),
        "{}",
        e.reason
    );
    assert!(
        e.reason
            .contains("custom plan executes 31 of 33 chunks (29 compressed)"),
        "{}",
        e.reason
    );
    assert_eq!(
        e.next_step.as_deref(),
        Some("a continuous aggregate: set [run] what_if = [\"cagg\"] to measure it")
    );

    let w = [WhatIf {
        query: "agg_7d_fleet".into(),
        kind: "cagg".into(),
        sql: String::new(),
        baseline_p95_ms: 145.0,
        alternative_p95_ms: 3.2,
        note: "hourly buckets".into(),
    }];
    let ex = explain(&input(&checks, &qs, &w, &cands));
    assert!(
        ex[0]
            .next_step
            .as_deref()
            .unwrap()
            .contains("measured p95 3.2 ms against 145 ms"),
        "{:?}",
        ex[0].next_step
    );
}

#[test]
fn latency_of_a_generic_plan_that_scans_everything_suggests_custom_plans() {
    let checks = [check("latency.last_value.p95_ms", "latency", "<= 10", 78.0)];
    let mut q = stats("last_value", 70.0);
    let pe = q.plan.as_mut().unwrap();
    pe.custom = Some(PlanChunks {
        chunks_total: 32,
        chunks_executed: 1,
        ..Default::default()
    });
    pe.generic = Some(PlanChunks {
        chunks_total: 32,
        chunks_executed: 32,
        chunks_executed_compressed: 25,
        ..Default::default()
    });
    q.evidence.as_mut().unwrap().plan.as_mut().unwrap().plan = "generic".into();
    let ex = explain(&input(&checks, &[q], &[], &[]));
    assert!(
        ex[0]
            .reason
            .contains("generic plan executes 32 of 32 chunks (25 compressed)"),
        "{}",
        ex[0].reason
    );
    let next = ex[0].next_step.as_deref().unwrap();
    assert!(
        next.contains("force_custom_plan") && next.contains("executes 1"),
        "{next}"
    );
}

#[test]
fn latency_outside_the_server_says_so() {
    let checks = [check("latency.last_value.p95_ms", "latency", "<= 10", 78.0)];
    let mut q = stats("last_value", 70.0);
    if let Some(s) = q.evidence.as_mut().and_then(|e| e.server.as_mut()) {
        s.mean_exec_ms = 6.0;
    }
    let ex = explain(&input(&checks, &[q], &[], &[]));
    assert!(ex[0]
        .next_step
        .as_deref()
        .unwrap()
        .contains("outside the server"));
}

#[test]
fn speedup_reason_bounds_the_ratio_by_chunks() {
    let mut c = check(
        "pruning_speedup.latest_24h",
        "pruning_speedup",
        ">= 10",
        1.5,
    );
    c.note = Some("median 2 ms pruned".into());
    let mut q = stats("latest_24h", 2.0);
    q.plan.as_mut().unwrap().custom = Some(PlanChunks {
        chunks_total: 8,
        chunks_executed: 2,
        ..Default::default()
    });
    let ex = explain(&input(std::slice::from_ref(&c), &[q], &[], &[]));
    assert!(
        ex[0].reason.contains("a bound of about 4x"),
        "{}",
        ex[0].reason
    );
    assert!(ex[0]
        .next_step
        .as_deref()
        .unwrap()
        .contains("lengthen [fleet] span"));
}

#[test]
fn speedup_with_room_in_the_bound_points_at_the_data_size() {
    let c = check(
        "pruning_speedup.latest_24h",
        "pruning_speedup",
        ">= 1",
        0.72,
    );
    let mut q = stats("latest_24h", 2.0);
    q.plan.as_mut().unwrap().custom = Some(PlanChunks {
        chunks_total: 31,
        chunks_executed: 2,
        ..Default::default()
    });
    let ex = explain(&input(std::slice::from_ref(&c), &[q], &[], &[]));
    assert!(
        ex[0].reason.contains("a bound of about 15.5x"),
        "{}",
        ex[0].reason
    );
    assert!(
        ex[0].next_step.as_deref().unwrap().contains("larger fleet"),
        "{:?}",
        ex[0].next_step
    );
}

fn storage_with(d: CompressionDetails) -> TableStorage {
    TableStorage {
        table: "esp_telemetry".into(),
        rows: 0,
        rows_exact: true,
        chunks: 12,
        chunk_interval_s: 86400,
        total_bytes: 0,
        heap_bytes: 0,
        index_bytes: 0,
        toast_bytes: 0,
        compressed_before_bytes: None,
        compressed_after_bytes: None,
        compressed_chunks: None,
        compression: Some(d),
    }
}

#[test]
fn compression_with_full_batches_names_the_ratio_the_target_needs() {
    let c = check(
        "compression.esp_telemetry.reduction_pct",
        "compression",
        ">= 90",
        87.9,
    );
    let d = CompressionDetails {
        chunks: 23,
        ratio: Some(8.28),
        values_ratio: Some(2.3),
        rows_per_segment: Some(720.0),
        ..Default::default()
    };
    let storage = [storage_with(d)];
    let checks = [c];
    let mut i = input(&checks, &[], &[], &[]);
    i.storage = &storage;
    let ex = explain(&i);
    let next = ex[0].next_step.as_deref().unwrap();
    assert!(
        next.contains("a 90% reduction needs a 10x ratio and this data compresses 8.3x"),
        "{next}"
    );
}

#[test]
fn compression_reason_gives_ratio_and_index_share() {
    let c = check(
        "compression.esp_telemetry.reduction_pct",
        "compression",
        ">= 90",
        70.0,
    );
    let mut d = CompressionDetails {
        chunks: 12,
        ratio: Some(3.33),
        values_ratio: Some(9.8),
        rows_per_segment: Some(120.0),
        ..Default::default()
    };
    d.after.total_bytes = 100;
    d.after.index_bytes = 40;
    let storage = [storage_with(d)];
    let checks = [c];
    let mut i = input(&checks, &[], &[], &[]);
    i.storage = &storage;
    let ex = explain(&i);
    let r = &ex[0].reason;
    assert!(r.contains("12 chunks compressed 3.3x overall"), "{r}");
    assert!(r.contains("the value columns alone 9.8x"), "{r}");
    assert!(r.contains("indexes are 40% of the compressed bytes"), "{r}");
    assert!(ex[0]
        .next_step
        .as_deref()
        .unwrap()
        .contains("batches are small"));
}

#[test]
fn apache_what_if_note_is_the_next_step() {
    let checks = [check(
        "latency.agg_7d_fleet.p95_ms",
        "latency",
        "<= 50",
        145.0,
    )];
    let qs = [stats("agg_7d_fleet", 121.0)];
    let cands = ["agg_7d_fleet".to_string()];
    let mut i = input(&checks, &qs, &[], &cands);
    i.cagg_requested = true;
    i.what_if_note = Some("continuous aggregates need the TimescaleDB community edition");
    let ex = explain(&i);
    assert!(ex[0]
        .next_step
        .as_deref()
        .unwrap()
        .contains("need the TimescaleDB community edition"));
}
