//! Reading chunk scans out of an `EXPLAIN (VERBOSE, FORMAT JSON)` plan, with or without
//! ANALYZE.
//!
//! A chunk is in the plan when any plan node names it as its relation ("Relation Name", with
//! "Schema" when present). Chunks that the planner excluded never appear; chunks that
//! TimescaleDB's ChunkAppend or ConstraintAwareAppend removed at executor startup do not appear
//! either, but those nodes report how many ("Chunks excluded during startup"). With ANALYZE a
//! chunk is *executed* when one of its scan nodes ran at least once ("Actual Loops" > 0):
//! chunks that ChunkAppend skipped at run time ("Chunks excluded during runtime"), or that an
//! ordered append with a LIMIT never reached, show 0 loops ("never executed" in text format).
//!
//! Compressed chunks are read by a TimescaleDB decompression node over the compressed chunk's
//! table: a custom scan whose provider is [`DECOMPRESSION_NODES`] (`ColumnarScan` in 2.22+,
//! `DecompressChunk` before) and whose "Relation Name" is the chunk itself; its child scans the
//! internal `compress_hyper_*` table, which is no chunk of the hypertable and is not counted.
//!
//! The total is the number of chunks of every hypertable the plan touches, through one of its
//! chunks or its root table.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::model::facts::{ChunkInfo, ChunkScan, PlanChunks};

/// Custom scan providers that read a compressed chunk (the name changed in TimescaleDB 2.22).
pub const DECOMPRESSION_NODES: [&str; 2] = ["ColumnarScan", "DecompressChunk"];

/// What one relation's nodes did in an analysed plan.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct RelUse {
    /// Some node scanning it ran at least once (or the plan has no ANALYZE figures).
    executed: bool,
    /// Some executed node read it through a decompression node.
    compressed: bool,
}

/// Everything a plan walk collects.
#[derive(Debug, Default)]
struct Walk {
    rels: BTreeMap<(Option<String>, String), RelUse>,
    excluded_startup: u64,
    excluded_runtime: u64,
}

fn walk_plan(v: &Value, out: &mut Walk) {
    match v {
        Value::Array(items) => items.iter().for_each(|i| walk_plan(i, out)),
        Value::Object(map) => {
            if let Some(Value::String(rel)) = map.get("Relation Name") {
                let schema = map
                    .get("Schema")
                    .and_then(Value::as_str)
                    .map(str::to_string);
                // Without ANALYZE there are no loops: every node in the plan counts as run.
                let executed = map
                    .get("Actual Loops")
                    .and_then(Value::as_f64)
                    .is_none_or(|l| l > 0.0);
                let decompresses = map
                    .get("Custom Plan Provider")
                    .and_then(Value::as_str)
                    .is_some_and(|p| DECOMPRESSION_NODES.contains(&p));
                let u = out.rels.entry((schema, rel.clone())).or_default();
                u.executed |= executed;
                u.compressed |= executed && decompresses;
            }
            let count = |key: &str| map.get(key).and_then(Value::as_f64).unwrap_or(0.0);
            out.excluded_startup += count("Chunks excluded during startup").max(0.0) as u64;
            out.excluded_runtime += count("Chunks excluded during runtime").max(0.0) as u64;
            if let Some(p) = map.get("Plan") {
                walk_plan(p, out);
            }
            if let Some(ps) = map.get("Plans") {
                walk_plan(ps, out);
            }
        }
        _ => {}
    }
}

/// The chunks an `EXPLAIN (ANALYZE, VERBOSE, FORMAT JSON)` plan planned, excluded and
/// executed, against the chunks of the hypertables it touches. Without ANALYZE every chunk in
/// the plan counts as executed.
pub fn plan_chunks(plan: &Value, chunks: &[ChunkInfo], hypertable_schema: &str) -> PlanChunks {
    let mut w = Walk::default();
    walk_plan(plan, &mut w);
    let matches = |schema: &Option<String>, name: &str, want_schema: &str, want_name: &str| {
        name == want_name && schema.as_deref().is_none_or(|s| s == want_schema)
    };
    let mut seen: BTreeMap<(&str, &str), RelUse> = BTreeMap::new();
    let mut hypertables: BTreeSet<String> = BTreeSet::new();
    for ((schema, name), u) in &w.rels {
        for c in chunks {
            if matches(schema, name, &c.schema, &c.name) {
                let e = seen.entry((&c.schema, &c.name)).or_default();
                e.executed |= u.executed;
                e.compressed |= u.compressed;
                hypertables.insert(c.hypertable.clone());
            }
            if matches(schema, name, hypertable_schema, &c.hypertable) {
                hypertables.insert(c.hypertable.clone());
            }
        }
    }
    let total = chunks
        .iter()
        .filter(|c| hypertables.contains(&c.hypertable))
        .count() as u64;
    let top = |key: &str| plan.get(0).and_then(|p| p.get(key)).and_then(Value::as_f64);
    PlanChunks {
        chunks_total: total,
        chunks_planned: (seen.len() as u64 + w.excluded_startup).min(total),
        chunks_excluded_startup: w.excluded_startup,
        chunks_excluded_runtime: w.excluded_runtime,
        chunks_executed: seen.values().filter(|u| u.executed).count() as u64,
        chunks_executed_compressed: seen.values().filter(|u| u.compressed).count() as u64,
        hypertables: hypertables.into_iter().collect(),
        execution_ms: top("Execution Time"),
        planning_ms: top("Planning Time"),
    }
}

/// Every (schema, relation) named by a node of the plan tree. The schema is None when the plan
/// was produced without VERBOSE.
pub fn relations(plan: &Value) -> BTreeSet<(Option<String>, String)> {
    let mut out = BTreeSet::new();
    walk(plan, &mut out);
    out
}

fn walk(v: &Value, out: &mut BTreeSet<(Option<String>, String)>) {
    match v {
        Value::Array(items) => items.iter().for_each(|i| walk(i, out)),
        Value::Object(map) => {
            if let Some(Value::String(rel)) = map.get("Relation Name") {
                let schema = map
                    .get("Schema")
                    .and_then(Value::as_str)
                    .map(str::to_string);
                out.insert((schema, rel.clone()));
            }
            if let Some(p) = map.get("Plan") {
                walk(p, out);
            }
            if let Some(ps) = map.get("Plans") {
                walk(ps, out);
            }
        }
        _ => {}
    }
}

/// Count the chunks a plan scans against the chunks of the hypertables it touches.
/// `chunks` lists the chunks of every hypertable in the bench schema; `hypertable_schema` is
/// that schema (to recognise a scan of the root table).
pub fn chunk_scan(plan: &Value, chunks: &[ChunkInfo], hypertable_schema: &str) -> ChunkScan {
    let rels = relations(plan);
    let matches = |schema: &Option<String>, name: &str, want_schema: &str, want_name: &str| {
        name == want_name && schema.as_deref().is_none_or(|s| s == want_schema)
    };
    let mut scanned: BTreeSet<(&str, &str)> = BTreeSet::new();
    let mut hypertables: BTreeSet<String> = BTreeSet::new();
    for (schema, name) in &rels {
        for c in chunks {
            if matches(schema, name, &c.schema, &c.name) {
                scanned.insert((&c.schema, &c.name));
                hypertables.insert(c.hypertable.clone());
            }
            if matches(schema, name, hypertable_schema, &c.hypertable) {
                hypertables.insert(c.hypertable.clone());
            }
        }
    }
    let total = chunks
        .iter()
        .filter(|c| hypertables.contains(&c.hypertable))
        .count() as u64;
    ChunkScan {
        scanned: scanned.len() as u64,
        total,
        hypertables: hypertables.into_iter().collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};
    use serde_json::json;

    fn chunk(ht: &str, n: u32) -> ChunkInfo {
        let start = Utc.with_ymd_and_hms(2025, 1, n, 0, 0, 0).unwrap();
        ChunkInfo {
            hypertable: ht.into(),
            schema: "_timescaledb_internal".into(),
            name: format!("_hyper_1_{n}_chunk"),
            range_start: start,
            range_end: start + chrono::Duration::days(1),
            is_compressed: false,
        }
    }

    #[test]
    fn counts_distinct_chunk_nodes_of_touched_hypertables() {
        let chunks: Vec<ChunkInfo> = (1..=9).map(|n| chunk("esp_telemetry", n)).collect();
        let mut other = chunk("diagnostic_results", 20);
        other.name = "_hyper_2_20_chunk".into();
        let mut all = chunks.clone();
        all.push(other);
        let plan = json!([{ "Plan": {
            "Node Type": "Custom Scan", "Relation Name": "esp_telemetry", "Schema": "bench",
            "Plans": [
                { "Node Type": "Index Scan", "Relation Name": "_hyper_1_8_chunk",
                  "Schema": "_timescaledb_internal" },
                { "Node Type": "Sort", "Plans": [
                    { "Node Type": "Seq Scan", "Relation Name": "_hyper_1_9_chunk",
                      "Schema": "_timescaledb_internal" },
                    { "Node Type": "Seq Scan", "Relation Name": "_hyper_1_9_chunk",
                      "Schema": "_timescaledb_internal" }
                ]}
            ]
        }}]);
        let s = chunk_scan(&plan, &all, "bench");
        assert_eq!(s.scanned, 2);
        assert_eq!(s.total, 9);
        assert_eq!(s.hypertables, vec!["esp_telemetry".to_string()]);
    }

    #[test]
    fn fully_excluded_plan_scans_nothing_of_its_root_table() {
        let chunks: Vec<ChunkInfo> = (1..=3).map(|n| chunk("esp_telemetry", n)).collect();
        let plan = json!([{ "Plan": { "Node Type": "Custom Scan",
            "Relation Name": "esp_telemetry", "Schema": "bench", "Plans": [] } }]);
        let s = chunk_scan(&plan, &chunks, "bench");
        assert_eq!((s.scanned, s.total), (0, 3));
    }

    /// The chunks of the server the fixtures were captured on: TimescaleDB 2.23.1 community,
    /// the default scenario's fleet (100 wells x 32 days x 60 s, data end 2026-11-01), every
    /// telemetry chunk older than 7 days (1..=25) compressed; diagnostics chunks 33..=38.
    fn fixture_chunks() -> Vec<ChunkInfo> {
        let mut out: Vec<ChunkInfo> = (1..=32)
            .map(|n| {
                let mut c = chunk("esp_telemetry", 1);
                c.name = format!("_hyper_1_{n}_chunk");
                c.is_compressed = n <= 25;
                c
            })
            .collect();
        out.extend((33..=38).map(|n| {
            let mut c = chunk("diagnostic_results", 1);
            c.name = format!("_hyper_2_{n}_chunk");
            c
        }));
        out
    }

    fn fixture(name: &str) -> Value {
        let text = match name {
            "last_value-generic" => {
                include_str!("../../tests/fixtures/explain/tsl-2.23.1-last_value-generic.json")
            }
            "last_value-custom" => {
                include_str!("../../tests/fixtures/explain/tsl-2.23.1-last_value-custom.json")
            }
            "latest_24h-generic" => {
                include_str!("../../tests/fixtures/explain/tsl-2.23.1-latest_24h-generic.json")
            }
            "ordered-limit" => {
                include_str!("../../tests/fixtures/explain/tsl-2.23.1-ordered-limit.json")
            }
            "runtime-exclusion" => {
                include_str!("../../tests/fixtures/explain/tsl-2.23.1-runtime-exclusion.json")
            }
            other => panic!("no fixture {other}"),
        };
        serde_json::from_str(text).unwrap()
    }

    #[test]
    fn last_value_generic_plan_scans_every_chunk_custom_plan_one() {
        // ConstraintAwareAppend cannot exclude on parameters: "Chunks excluded during
        // startup: 0", and every chunk is executed, 25 of them through ColumnarScan.
        let g = plan_chunks(
            &fixture("last_value-generic"),
            &fixture_chunks(),
            "esp_bench",
        );
        assert_eq!(
            (
                g.chunks_total,
                g.chunks_planned,
                g.chunks_excluded_startup,
                g.chunks_executed,
                g.chunks_executed_compressed
            ),
            (32, 32, 0, 32, 25),
            "{g:?}"
        );
        assert_eq!(g.hypertables, vec!["esp_telemetry".to_string()]);
        assert!(g.execution_ms.unwrap() > 10.0, "{g:?}");
        // The custom plan has no append node at all: the planner kept one chunk.
        let c = plan_chunks(
            &fixture("last_value-custom"),
            &fixture_chunks(),
            "esp_bench",
        );
        assert_eq!(
            (
                c.chunks_total,
                c.chunks_planned,
                c.chunks_executed,
                c.chunks_executed_compressed
            ),
            (32, 1, 1, 0),
            "{c:?}"
        );
        assert!(c.execution_ms.unwrap() < g.execution_ms.unwrap());
    }

    #[test]
    fn startup_exclusion_counts_as_planned_not_executed() {
        // ChunkAppend in the generic plan of latest_24h: 31 chunks removed at startup.
        let p = plan_chunks(
            &fixture("latest_24h-generic"),
            &fixture_chunks(),
            "esp_bench",
        );
        assert_eq!(
            (
                p.chunks_total,
                p.chunks_planned,
                p.chunks_excluded_startup,
                p.chunks_executed
            ),
            (32, 32, 31, 1),
            "{p:?}"
        );
    }

    #[test]
    fn never_executed_chunks_are_planned_only() {
        // Ordered ChunkAppend under LIMIT 5: the newest chunk satisfies the limit, the other 31
        // nodes show 0 loops ("never executed").
        let p = plan_chunks(&fixture("ordered-limit"), &fixture_chunks(), "esp_bench");
        assert_eq!(
            (
                p.chunks_planned,
                p.chunks_executed,
                p.chunks_executed_compressed
            ),
            (32, 1, 0),
            "{p:?}"
        );
        // The planned count is what the plan-only reading reports.
        assert_eq!(
            chunk_scan(&fixture("ordered-limit"), &fixture_chunks(), "esp_bench").scanned,
            32
        );
    }

    #[test]
    fn runtime_exclusion_in_a_parallel_plan() {
        // `timestamp > (SELECT max(...) FROM diagnostic_results) - 2 days`: the bound is known
        // only at run time, so ChunkAppend (under Gather) skips 29 chunks while running; loops
        // are summed over the parallel workers. The initplan scans all 6 diagnostics chunks.
        let p = plan_chunks(
            &fixture("runtime-exclusion"),
            &fixture_chunks(),
            "esp_bench",
        );
        assert_eq!(p.chunks_total, 38);
        assert_eq!(p.chunks_excluded_runtime, 29);
        assert_eq!(p.chunks_excluded_startup, 0);
        assert_eq!(p.chunks_planned, 38);
        assert_eq!(p.chunks_executed, 3 + 6, "{p:?}");
        assert_eq!(p.chunks_executed_compressed, 0);
        assert_eq!(
            p.hypertables,
            vec![
                "diagnostic_results".to_string(),
                "esp_telemetry".to_string()
            ]
        );
    }

    #[test]
    fn a_plan_without_analyze_counts_its_nodes_as_executed() {
        let chunks: Vec<ChunkInfo> = (1..=3).map(|n| chunk("esp_telemetry", n)).collect();
        let plan = json!([{ "Plan": { "Node Type": "Custom Scan",
            "Custom Plan Provider": "ChunkAppend", "Relation Name": "esp_telemetry",
            "Schema": "bench", "Chunks excluded during startup": 2,
            "Plans": [{ "Node Type": "Seq Scan", "Relation Name": "_hyper_1_3_chunk",
                        "Schema": "_timescaledb_internal" }] } }]);
        let p = plan_chunks(&plan, &chunks, "bench");
        assert_eq!(
            (
                p.chunks_planned,
                p.chunks_executed,
                p.chunks_excluded_startup
            ),
            (3, 1, 2)
        );
        assert_eq!(p.execution_ms, None);
    }

    #[test]
    fn schema_mismatch_is_not_a_chunk() {
        let chunks = vec![chunk("esp_telemetry", 1)];
        let plan = json!([{ "Plan": { "Node Type": "Seq Scan",
            "Relation Name": "_hyper_1_1_chunk", "Schema": "elsewhere" } }]);
        assert_eq!(chunk_scan(&plan, &chunks, "bench"), ChunkScan::default());
        // Without VERBOSE there is no schema: the name alone decides.
        let plan = json!([{ "Plan": { "Node Type": "Seq Scan",
            "Relation Name": "_hyper_1_1_chunk" } }]);
        assert_eq!(chunk_scan(&plan, &chunks, "bench").scanned, 1);
    }
}
