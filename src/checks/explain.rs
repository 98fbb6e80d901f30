//! Explanations of failed checks (`summary.explanations`): for each failed check, one reason
//! backed by a number from the plan or the server, and a suggested next step. Pure: it reads
//! the parts of a summary, so it is tested without a server.

use crate::db::plans::group;
use crate::report::model::{
    CheckResult, Explanation, PlanChunks, QueryStats, TableStorage, WhatIf,
};
use crate::scenario::plan::UnsupportedEffect;

use super::eval::fmt_num;

/// What the explanations read.
#[derive(Debug, Clone, Copy)]
pub struct Input<'a> {
    pub checks: &'a [CheckResult],
    pub queries: &'a [QueryStats],
    pub storage: &'a [TableStorage],
    pub what_if: &'a [WhatIf],
    /// Why `[run] what_if` measured nothing (e.g. the Apache edition has no continuous
    /// aggregates), when it was asked for.
    pub what_if_note: Option<&'a str>,
    /// Queries a continuous aggregate can answer (the built-in fleet and well aggregates).
    pub cagg_candidates: &'a [String],
    /// Whether `[run] what_if` asked for "cagg".
    pub cagg_requested: bool,
    pub unsupported: UnsupportedEffect,
}

/// One explanation per failed check, in the checks' order.
pub fn explain(input: &Input) -> Vec<Explanation> {
    input
        .checks
        .iter()
        .filter(|c| super::eval::counts_as_failure(c, input.unsupported))
        .map(|c| explain_one(input, c))
        .collect()
}

fn ms(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

fn explain_one(input: &Input, c: &CheckResult) -> Explanation {
    let mut parts = c.name.splitn(3, '.');
    let kind = parts.next().unwrap_or("");
    let subject = parts.next().unwrap_or("");
    let (reason, next_step) = match kind {
        "latency" => latency(input, c, subject),
        "pruning" => pruning(input, subject),
        "pruning_speedup" => speedup(input, c, subject),
        "compression" => compression(input, c, subject),
        _ => (fallback(c), None),
    };
    Explanation {
        check: c.name.clone(),
        reason,
        next_step,
    }
}

fn fallback(c: &CheckResult) -> String {
    let measured = match (c.measured, &c.measured_text) {
        (Some(v), _) => fmt_num(v),
        (None, Some(t)) => t.clone(),
        (None, None) => "nothing".into(),
    };
    match &c.note {
        Some(n) => format!("measured {measured} against {}: {n}", c.target),
        None => format!("measured {measured} against {}", c.target),
    }
}

/// The chunks line of a plan: "executes 31 of 33 chunks (29 compressed)".
fn chunks_text(p: &PlanChunks) -> String {
    format!(
        "executes {} of {} chunks ({} compressed)",
        p.chunks_executed, p.chunks_total, p.chunks_executed_compressed
    )
}

/// The plan chunk facts of the plan the query's phase ran.
fn ran_chunks(q: &QueryStats) -> Option<&PlanChunks> {
    let pe = q.plan.as_ref()?;
    let generic = q
        .evidence
        .as_ref()
        .and_then(|e| e.plan.as_ref())
        .is_some_and(|p| p.plan == "generic");
    if generic {
        pe.generic.as_ref()
    } else {
        pe.custom.as_ref().or(pe.generic.as_ref())
    }
}

fn latency(input: &Input, c: &CheckResult, query: &str) -> (String, Option<String>) {
    let Some(q) = input.queries.iter().find(|q| q.name == query) else {
        return (fallback(c), None);
    };
    let mut why = Vec::new();
    if let Some(v) = c.measured {
        why.push(format!(
            "{} {} against {}",
            metric_of(c),
            fmt_num(v),
            c.target
        ));
    }
    let ev = q.evidence.as_ref();
    let server = ev.and_then(|e| e.server.as_ref());
    let mut outside_server = false;
    match server {
        Some(s) => {
            let server_ms = s.mean_exec_ms + s.mean_plan_ms.unwrap_or(0.0);
            let client = q.latency_ms.mean;
            why.push(format!(
                "server mean {} ms (execution {} + planning {}) of the client's mean {} ms",
                ms(server_ms),
                ms(s.mean_exec_ms),
                ms(s.mean_plan_ms.unwrap_or(0.0)),
                ms(client)
            ));
            outside_server = client > 0.0 && server_ms < 0.5 * client;
            if let (Some(per_call_read), Some(per_call_hit)) = (
                s.shared_blks_read.checked_div(s.calls),
                s.shared_blks_hit.checked_div(s.calls),
            ) {
                why.push(format!(
                    "{} shared blocks read and {} hit per call",
                    group(per_call_read),
                    group(per_call_hit)
                ));
            }
        }
        None => {
            if let Some(n) = ev.and_then(|e| e.server_note.as_ref()) {
                why.push(format!("server time unknown ({n})"));
            }
        }
    }
    let chunks = ran_chunks(q);
    let label = ev
        .and_then(|e| e.plan.as_ref())
        .map_or("the", |p| p.plan.as_str());
    if let Some(p) = chunks {
        why.push(format!("{label} plan {}", chunks_text(p)));
    }
    // The phase ran a generic plan that executes more chunks than the custom plan would.
    let generic_worse = match (label, q.plan.as_ref()) {
        ("generic", Some(pe)) => match (&pe.custom, &pe.generic) {
            (Some(c), Some(g)) if c.chunks_executed < g.chunks_executed => Some((c, g)),
            _ => None,
        },
        _ => None,
    };
    if let Some(p) = ev.and_then(|e| e.plan.as_ref()) {
        why.push(format!(
            "top node {}, {} rows, {} parallel worker{}",
            p.top_node,
            group(p.rows),
            p.workers_launched,
            if p.workers_launched == 1 { "" } else { "s" }
        ));
    }

    let next = if let Some((c, g)) = generic_worse {
        Some(format!(
            "the phase ran the generic plan, which executes {} of {} chunks where the custom \
             plan executes {}: set plan_cache_mode = \"force_custom_plan\" on the query (or \
             send the time bound as a literal)",
            g.chunks_executed, g.chunks_total, c.chunks_executed
        ))
    } else if input.cagg_candidates.iter().any(|n| n == query) {
        match input
            .what_if
            .iter()
            .find(|w| w.query == query && w.kind == "cagg")
        {
            Some(w) => Some(format!(
                "a continuous aggregate: measured p95 {} ms against {} ms without it ({})",
                ms(w.alternative_p95_ms),
                ms(w.baseline_p95_ms),
                w.note
            )),
            None => match (input.cagg_requested, input.what_if_note) {
                (true, Some(n)) => Some(format!("a continuous aggregate; {n}")),
                _ => Some(
                    "a continuous aggregate: set [run] what_if = [\"cagg\"] to measure it".into(),
                ),
            },
        }
    } else if outside_server {
        Some(
            "most of the latency is outside the server's execution: check the number of \
             clients against the cores (queueing), the rows returned per call, and the network"
                .into(),
        )
    } else if chunks.is_some_and(|p| p.chunks_total > 2 && 2 * p.chunks_executed > p.chunks_total) {
        Some(
            "the query reads most chunks: bound it in time (a predicate on \"timestamp\" the \
             planner can prune on), or precompute it (a continuous aggregate)"
                .into(),
        )
    } else if server.is_some_and(|s| s.shared_blks_read > s.shared_blks_hit) {
        Some(
            "most blocks come from outside shared_buffers: raise shared_buffers, or compare \
             with [run] cache = \"both\""
                .into(),
        )
    } else {
        match ev.and_then(|e| e.plan_files.iter().find(|f| f.ends_with(".txt"))) {
            Some(f) => Some(format!("read {f} for the plan node that takes the time")),
            None => Some("run with [run] capture = true to save the query's plan".into()),
        }
    };
    (why.join("; "), next)
}

fn metric_of(c: &CheckResult) -> &str {
    c.name.rsplit('.').next().unwrap_or("value")
}

fn pruning(input: &Input, query: &str) -> (String, Option<String>) {
    let q = input.queries.iter().find(|q| q.name == query);
    let pe = q.and_then(|q| q.plan.as_ref());
    let custom = pe.and_then(|p| p.custom.as_ref());
    let generic = pe.and_then(|p| p.generic.as_ref());
    let mut why = Vec::new();
    if let Some(c) = custom {
        why.push(format!("the custom plan {}", chunks_text(c)));
    }
    if let Some(g) = generic {
        why.push(format!("the generic plan {}", chunks_text(g)));
    }
    if let Some(p) = pe {
        if let (Some(c), Some(g)) = (p.custom_plans, p.generic_plans) {
            why.push(format!(
                "the phase ran {c} custom and {g} generic executions (plan_cache_mode {})",
                p.plan_cache_mode
            ));
        }
    }
    let next = match (custom, generic) {
        (Some(c), Some(g)) if c.chunks_executed < g.chunks_executed => Some(
            "the generic plan cannot prune at plan time: set plan_cache_mode = \
             \"force_custom_plan\" on the query, or pass the time bound as a literal"
                .into(),
        ),
        _ => Some(
            "bound the query in time with a predicate on \"timestamp\" the planner can compare \
             with chunk ranges"
                .into(),
        ),
    };
    if why.is_empty() {
        why.push("no plan was measured".into());
    }
    (why.join("; "), next)
}

fn speedup(input: &Input, c: &CheckResult, query: &str) -> (String, Option<String>) {
    let q = input.queries.iter().find(|q| q.name == query);
    let p = q.and_then(ran_chunks);
    let mut why = Vec::new();
    if let Some(v) = c.measured {
        why.push(format!("speedup {}x against {}", fmt_num(v), c.target));
    }
    let mut next = None;
    if let Some(p) = p.filter(|p| p.chunks_executed > 0) {
        let bound = p.chunks_total as f64 / p.chunks_executed as f64;
        why.push(format!(
            "the pruned plan {}: pruning can save at most the other {} chunks, a bound of about \
             {}x on the speedup",
            chunks_text(p),
            p.chunks_total - p.chunks_executed.min(p.chunks_total),
            fmt_num((bound * 10.0).round() / 10.0)
        ));
        let min: f64 = c
            .target
            .trim_start_matches(">=")
            .trim()
            .parse()
            .unwrap_or(0.0);
        if min > 0.0 && bound >= min {
            next = Some(format!(
                "the plan prunes (a bound of about {}x), but skipping the other chunks saves \
                 little at this data size: each one is cheap next to the query's fixed cost; \
                 measure on a larger fleet (more wells, a shorter sample_interval)",
                fmt_num((bound * 10.0).round() / 10.0)
            ));
        } else if min > 0.0 && bound < min {
            next = Some(format!(
                "a {}x speedup needs the data to span at least {} times the chunks the query \
                 reads: lengthen [fleet] span or shorten the chunk interval, or lower \
                 min_pruning_speedup",
                fmt_num(min),
                fmt_num(min)
            ));
        }
    }
    if let Some(n) = &c.note {
        why.push(n.clone());
    }
    if next.is_none() {
        next = Some(
            "compare the pruned and unpruned plans: chunks the unpruned query reads compressed \
             are cheap, which shrinks the speedup"
                .into(),
        );
    }
    (why.join("; "), next)
}

fn compression(input: &Input, c: &CheckResult, table: &str) -> (String, Option<String>) {
    let d = input
        .storage
        .iter()
        .find(|s| s.table == table)
        .and_then(|s| s.compression.as_ref());
    let Some(d) = d else {
        return (fallback(c), None);
    };
    let mut why = Vec::new();
    if let Some(v) = c.measured {
        why.push(format!("reduction {}% against {}", fmt_num(v), c.target));
    }
    if let Some(r) = d.ratio {
        why.push(format!(
            "{} chunks compressed {}x overall",
            d.chunks,
            fmt_num((r * 10.0).round() / 10.0)
        ));
    }
    if let Some(v) = d.values_ratio {
        why.push(format!(
            "the value columns alone {}x",
            fmt_num((v * 10.0).round() / 10.0)
        ));
    }
    let index_share = (d.after.total_bytes > 0)
        .then(|| d.after.index_bytes as f64 / d.after.total_bytes as f64 * 100.0);
    if let Some(s) = index_share {
        why.push(format!("indexes are {:.0}% of the compressed bytes", s));
    }
    if let Some(r) = d.rows_per_segment {
        why.push(format!(
            "{} rows per compressed batch (at most 1000)",
            r.round()
        ));
    }
    let next = if d.rows_per_segment.is_some_and(|r| r < 200.0) {
        Some(
            "batches are small: fewer segment_by values per chunk (a longer chunk interval or a \
             coarser segment_by) fill them"
                .into(),
        )
    } else if index_share.is_some_and(|s| s > 30.0) {
        Some("the indexes of the compressed chunks dominate: review compress_segmentby and the indexes kept".into())
    } else {
        let min: f64 = c
            .target
            .trim_start_matches(">=")
            .trim()
            .parse()
            .unwrap_or(0.0);
        match d.ratio {
            Some(r) if min > 0.0 && min < 100.0 => Some(format!(
                "a {}% reduction needs a {}x ratio and this data compresses {}x: review \
                 compress_segmentby and compress_orderby, and how noisy the value columns are \
                 (they compress {}x alone)",
                fmt_num(min),
                fmt_num((1000.0 / (100.0 - min)).round() / 10.0),
                fmt_num((r * 10.0).round() / 10.0),
                d.values_ratio
                    .map_or("?".to_string(), |v| fmt_num((v * 10.0).round() / 10.0))
            )),
            _ => Some("see docs/guarantees.md for what the target assumes".into()),
        }
    };
    (why.join("; "), next)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::model::{
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
            latency_ms: crate::report::model::Percentiles {
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
            e.reason.contains("p95_ms 145 against <= 50"),
            "{}",
            e.reason
        );
        assert!(
            e.reason.contains(
                "server mean 118 ms (execution 118 + planning 0.50) of the client's mean 121 ms"
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
                .contains("measured p95 3.20 ms against 145 ms"),
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
}
