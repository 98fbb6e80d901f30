//! The tables of a run's `index.html`: queries (with the server's time when captured),
//! storage, load, verification, preparation and environment, in human units.

use super::Table;
use crate::report::model::Summary;
use crate::report::units::{self, bytes, count, ms, secs};

/// The tables below the checks.
pub fn tables(summary: &Summary) -> Vec<Table> {
    let mut out = Vec::new();
    let mut t = Table::new(
        "queries",
        "Queries",
        &[
            ("query", false),
            ("mode", false),
            ("queries", true),
            ("throughput", true),
            ("p50", true),
            ("p95", true),
            ("p99", true),
            ("max", true),
            ("errors", true),
            ("server mean", true),
            ("client − server", true),
            ("cache hit", true),
        ],
    );
    let mut by_sqlstate = Vec::new();
    for q in &summary.queries {
        let l = &q.latency_ms;
        let server = q.evidence.as_ref().and_then(|e| e.server.as_ref());
        let errors = if q.errors == 0 {
            "0".to_string()
        } else {
            let by: Vec<String> = q
                .errors_by_sqlstate
                .iter()
                .map(|(k, v)| format!("{k} ×{}", count(*v as f64)))
                .collect();
            by_sqlstate.push(format!("{}: {}", q.name, by.join(", ")));
            format!(
                "{} ({})",
                count(q.errors as f64),
                units::fraction_pct(q.error_rate())
            )
        };
        t.row(vec![
            q.name.clone(),
            match q.rate {
                Some(r) => format!("{}/s ×{}", units::decimal(r), q.clients),
                None => format!("closed ×{}", q.clients),
            },
            count(q.count as f64),
            format!("{} q/s", units::decimal(q.throughput_qps)),
            ms(l.p50),
            ms(l.p95),
            ms(l.p99),
            ms(l.max),
            errors,
            server.map_or("-".into(), |s| ms(s.mean_exec_ms)),
            server
                .and_then(|s| s.client_minus_server_ms)
                .map_or("-".into(), ms),
            server
                .filter(|s| s.shared_blks_hit + s.shared_blks_read > 0)
                .map_or("-".into(), |s| {
                    units::pct(
                        s.shared_blks_hit as f64 / (s.shared_blks_hit + s.shared_blks_read) as f64
                            * 100.0,
                    )
                }),
        ]);
    }
    t.notes.push(
        "mode: closed ×N is N clients back to back; R/s ×N is a fixed rate of R queries/s \
         over N clients. Server columns: pg_stat_statements over the phase."
            .into(),
    );
    if !by_sqlstate.is_empty() {
        t.notes
            .push(format!("errors by SQLSTATE: {}", by_sqlstate.join("; ")));
    }
    if summary.queries.iter().any(|q| q.schedule_lag_ms.is_some()) {
        t.notes.push(
            "fixed-rate latency is timed from each query's intended start (no coordinated \
             omission)"
                .into(),
        );
    }
    out.push(t);

    let mut t = Table::new(
        "storage",
        "Storage",
        &[
            ("table", false),
            ("rows", true),
            ("chunks", true),
            ("chunk interval", true),
            ("total", true),
            ("heap", true),
            ("indexes", true),
            ("toast", true),
            ("compressed", true),
        ],
    );
    for s in &summary.storage {
        t.row(vec![
            s.table.clone(),
            format!(
                "{}{}",
                if s.rows_exact { "" } else { "≈ " },
                count(s.rows as f64)
            ),
            units::count_of(s.chunks as f64, "chunk"),
            secs(s.chunk_interval_s as f64),
            bytes(s.total_bytes as f64),
            bytes(s.heap_bytes as f64),
            bytes(s.index_bytes as f64),
            bytes(s.toast_bytes as f64),
            match (s.compressed_before_bytes, s.compressed_after_bytes) {
                (Some(b), Some(a)) if a > 0 => format!(
                    "{} → {} ({}, {})",
                    bytes(b as f64),
                    bytes(a as f64),
                    units::ratio(b as f64 / a as f64),
                    units::count_of(s.compressed_chunks.unwrap_or(0) as f64, "chunk")
                ),
                _ => "not measured".into(),
            },
        ]);
    }
    out.push(t);

    let mut t = Table::new(
        "load",
        "Load",
        &[
            ("table", false),
            ("rows", true),
            ("time", true),
            ("rate", true),
            ("workers", true),
            ("batch", true),
            ("retries", true),
        ],
    );
    for l in &summary.load {
        t.row(vec![
            l.table.clone(),
            count(l.rows as f64),
            secs(l.seconds),
            units::rate(l.rows_per_sec, "rows/s"),
            l.workers.to_string(),
            units::count_of(l.batch_size as f64, "row"),
            count(l.retries as f64),
        ]);
    }
    out.push(t);

    if !summary.verification.is_empty() {
        let mut t = Table::new(
            "verification",
            "Verification",
            &[
                ("stage", false),
                ("table", false),
                ("result", false),
                ("stored", true),
                ("expected", true),
                ("ledger", true),
                ("wells off", true),
                ("note", false),
            ],
        );
        for v in &summary.verification {
            for tv in &v.tables {
                t.row(vec![
                    v.stage.clone(),
                    tv.table.clone(),
                    if tv.ok {
                        "✓ verified"
                    } else {
                        "✗ MISMATCH"
                    }
                    .into(),
                    count(tv.stored_rows as f64),
                    count(tv.expected_rows as f64),
                    count(tv.ledger_rows as f64),
                    format!("{} of {}", tv.wells_mismatched, tv.wells),
                    tv.note.clone(),
                ]);
            }
        }
        out.push(t);
    }

    if let Some(p) = &summary.preparation {
        let mut t = Table::new(
            "preparation",
            &format!("Preparation (state {})", p.state),
            &[
                ("table", false),
                ("compress after", true),
                ("drop after", true),
                ("chunks before", true),
                ("dropped", true),
                ("compressed", true),
                ("after", true),
                ("time", true),
            ],
        );
        for tp in &p.tables {
            t.row(vec![
                tp.table.clone(),
                secs(tp.compress_after_s as f64),
                secs(tp.drop_after_s as f64),
                count(tp.chunks_before as f64),
                count(tp.chunks_dropped as f64),
                if tp.compression_applied {
                    format!(
                        "{} ({} in total)",
                        count(tp.chunks_compressed as f64),
                        count(tp.chunks_compressed_total as f64)
                    )
                } else {
                    "not applied".into()
                },
                count(tp.chunks_after as f64),
                secs(tp.compress_seconds + tp.drop_seconds),
            ]);
        }
        t.notes.push(format!(
            "{} in all, of which {} {}",
            secs(p.seconds),
            if p.maintenance.is_empty() {
                "ANALYZE"
            } else {
                &p.maintenance
            },
            secs(p.analyze_seconds)
        ));
        t.notes.extend(p.notes.iter().cloned());
        out.push(t);
    }

    let env = &summary.environment;
    let mut t = Table::new("environment", "Environment", &[("", false), ("", false)]);
    t.row(vec![
        "server".into(),
        format!(
            "PostgreSQL {}, TimescaleDB {} ({} edition, {})",
            env.postgres_version, env.timescaledb_version, env.edition, env.server
        ),
    ]);
    t.row(vec![
        "machine".into(),
        format!(
            "{}, {} cores, {} memory",
            env.os,
            env.cores,
            bytes(env.memory_bytes as f64)
        ),
    ]);
    t.row(vec![
        "scenario".into(),
        format!(
            "{} ({}, fingerprint {})",
            summary.scenario.name, summary.scenario.file, summary.scenario.fingerprint
        ),
    ]);
    for (k, v) in &env.settings {
        t.row(vec![k.clone(), v.clone()]);
    }
    for s in &env.shards {
        t.row(vec![
            format!("shard {}", s.index),
            format!(
                "{} pid {}, wells {}..{}, clock offset {}, {:?}",
                s.host,
                s.pid,
                s.wells_start,
                s.wells_end,
                ms(s.clock_offset_ms),
                s.verdict
            ),
        ]);
    }
    out.push(t);
    out
}
