//! The one `Summary` fixture the tests (and the merge benchmark) start from: scenario `ci`,
//! one minute on 2026-01-01, an external community server, no load, no checks, verdict pass.
//! Each test sets the fields it is about; a new report field is added here once.
#![allow(dead_code)]

use std::collections::BTreeMap;

use esp_bench::report::model::{
    Environment, QueryStats, ScenarioEcho, Summary, Verdict, FORMAT_NAME, SCHEMA_VERSION,
};

/// The environment of the fixture: PostgreSQL 17.6, TimescaleDB 2.23.1 community, 4 cores,
/// 16 GiB, one setting.
pub fn environment() -> Environment {
    Environment {
        postgres_version: "17.6".into(),
        timescaledb_version: "2.23.1".into(),
        edition: "community".into(),
        server: "external".into(),
        cores: 4,
        memory_bytes: 16 << 30,
        os: "linux".into(),
        settings: BTreeMap::from([("shared_buffers".into(), "1GB".into())]),
        shards: Vec::new(),
    }
}

/// A summary holding `queries` and nothing else measured.
pub fn summary(queries: Vec<QueryStats>) -> Summary {
    Summary {
        format: FORMAT_NAME.into(),
        schema_version: SCHEMA_VERSION,
        bench_version: "0.1.0".into(),
        scenario: ScenarioEcho {
            name: "ci".into(),
            file: "scenarios/ci.toml".into(),
            fingerprint: "00c0ffee00c0ffee".into(),
            resolved: serde_json::json!({"name": "ci"}),
        },
        environment: environment(),
        started_at: "2026-01-01T00:00:00Z".into(),
        finished_at: "2026-01-01T00:01:00Z".into(),
        interrupted: false,
        degraded: false,
        load: vec![],
        verification: vec![],
        preparation: None,
        writes: false,
        storage: vec![],
        queries,
        checks: vec![],
        comparison: None,
        verdict: Verdict::Pass,
        shard: None,
        resources: None,
        explanations: vec![],
        what_if: vec![],
    }
}
