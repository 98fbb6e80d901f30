//! Reading chunk scans out of an `EXPLAIN (VERBOSE, FORMAT JSON)` plan.
//!
//! A chunk counts as scanned when any plan node names it as its relation ("Relation Name", with
//! "Schema" when present). Chunks that TimescaleDB excluded at plan time or at executor startup
//! (ChunkAppend "Chunks excluded during startup") do not appear as nodes, so they are not
//! counted. The total is the number of chunks of every hypertable the plan touches, through one
//! of its chunks or its root table.

use std::collections::BTreeSet;

use serde_json::Value;

use super::facts::{ChunkInfo, ChunkScan};

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
