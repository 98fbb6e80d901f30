//! `bench realism` on a server: load generated and real data into the bare table shape,
//! compress every chunk, and read the server's own figures.
//!
//! The shape is the one the realism measurements use: `(well_id text, ts timestamptz, one
//! double precision column per channel)`, a hypertable on `ts` with the default time index,
//! compression segmented by `well_id` and ordered by `ts DESC`, 1-hour and 1-day chunks. Tables
//! live in bench's own schema (claimed with bench's marker, refused if foreign), carry bench's
//! table marker, and are dropped afterwards, with the schema when bench created it for this.

use anyhow::Context;
use bytes::{BufMut, Bytes, BytesMut};
use futures_util::SinkExt;
use serde::Serialize;
use tokio_postgres::Client;

use super::detect::{self, Api};
use super::measure::{self, qualified};
use super::schema::{self, Ownership};
use super::{quote_ident, Target};
use crate::datagen::encode::{binary_header, binary_trailer, PG_EPOCH_OFFSET_US};
use crate::datagen::{Fleet, CHANNEL_NAMES};
use crate::error::pg_error_text;
use crate::error::BenchError;
use crate::realism::{walk_fleet, walk_real, Layout, RealData, RowSink};
use crate::scenario::FleetPlan;

/// The chunk intervals measured: (label, SQL interval, seconds).
pub const CHUNKS: [(&str, &str, u64); 2] = [("1h", "1 hour", 3600), ("1d", "1 day", 86_400)];

/// What to load.
#[derive(Debug, Clone)]
pub struct Inputs {
    /// The generated data's fleet plan, layout and a label.
    pub generated: Option<(FleetPlan, Layout, String)>,
    /// Real data and a label.
    pub real: Option<(RealData, String)>,
    /// Sampling intervals, seconds (whole multiples of each source's interval).
    pub levels_s: Vec<u64>,
}

/// The server's figures for every table loaded.
#[derive(Debug, Clone, Serialize)]
pub struct ServerFigures {
    pub server: String,
    pub timescaledb_version: String,
    pub schema: String,
    pub tables: Vec<TableFigures>,
}

/// One source at one interval and chunk size, as the server stored it.
#[derive(Debug, Clone, Serialize)]
pub struct TableFigures {
    /// "generated" or "real".
    pub kind: String,
    pub source: String,
    pub interval_s: u64,
    pub chunk_interval_s: u64,
    pub rows: u64,
    pub chunks: u64,
    /// `hypertable_detailed_size` total before and after compressing every chunk.
    pub before_bytes: u64,
    pub after_bytes: u64,
    pub ratio: Option<f64>,
    /// Compressed bytes per non-null value over all channel columns.
    pub bytes_per_value: Option<f64>,
    pub columns: Vec<ColumnFigures>,
}

/// One channel column: `pg_column_size` summed over the compressed chunks.
#[derive(Debug, Clone, Serialize)]
pub struct ColumnFigures {
    pub column: String,
    pub values: u64,
    pub bytes: u64,
    pub bytes_per_value: Option<f64>,
}

/// Load, compress and measure every (source, interval, chunk size) on `target`, then drop
/// what was created. Needs the community edition (compression).
pub async fn measure(target: &Target, inputs: &Inputs) -> anyhow::Result<ServerFigures> {
    let client = target.connect().await?;
    let info = detect::detect(&client).await?;
    if !info.edition.is_community() {
        return Err(BenchError::Environment(format!(
            "bench realism measures compression, which needs the TimescaleDB community edition; \
             {} runs the {} edition (without a server, bench realism reports the model only)",
            target.display_url(),
            info.edition
        ))
        .into());
    }
    let schema = target.schema.clone();
    let created_schema = schema::claim(&client, &schema).await?;
    let mut created: Vec<String> = Vec::new();
    let result = measure_all(&client, &info.api, &schema, inputs, &mut created).await;
    let cleanup = cleanup(&client, &schema, &created, created_schema).await;
    let tables = result?;
    cleanup?;
    Ok(ServerFigures {
        server: target.display_url(),
        timescaledb_version: info.timescaledb_version.clone(),
        schema,
        tables,
    })
}

async fn cleanup(
    client: &Client,
    schema: &str,
    created: &[String],
    created_schema: bool,
) -> anyhow::Result<()> {
    let mut first_err = None;
    for t in created {
        if let Err(e) = client
            .batch_execute(&format!("DROP TABLE IF EXISTS {}", qualified(schema, t)))
            .await
        {
            first_err.get_or_insert_with(|| {
                anyhow::anyhow!("dropping {schema}.{t}: {}", pg_error_text(&e))
            });
        }
    }
    if created_schema {
        schema::drop_if_created_and_empty(client, schema).await?;
    }
    match first_err {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// The tables' name: `realism_<kind>_<interval>s_<chunk>`.
pub fn table_name(kind: &str, interval_s: u64, chunk: &str) -> String {
    format!("realism_{kind}_{interval_s}s_{chunk}")
}

async fn measure_all(
    client: &Client,
    api: &Api,
    schema: &str,
    inputs: &Inputs,
    created: &mut Vec<String>,
) -> anyhow::Result<Vec<TableFigures>> {
    let mut out = Vec::new();
    let mut sources: Vec<(&str, &str, Source)> = Vec::new();
    if let Some((plan, layout, label)) = &inputs.generated {
        sources.push((
            "generated",
            label,
            Source::Fleet(plan.clone(), layout.clone()),
        ));
    }
    if let Some((data, label)) = &inputs.real {
        sources.push(("real", label, Source::Real(data.clone())));
    }
    for (kind, label, src) in &sources {
        let base = src.base_interval_s();
        for &level in &inputs.levels_s {
            if level < base || level % base != 0 {
                continue;
            }
            for (chunk_label, chunk_sql, chunk_s) in CHUNKS {
                if crate::shutdown::token().is_cancelled() {
                    return Err(BenchError::Interrupted.into());
                }
                let table = table_name(kind, level, chunk_label);
                let fig = load_and_measure(
                    client,
                    api,
                    schema,
                    &table,
                    chunk_sql,
                    src,
                    level / base,
                    created,
                )
                .await
                .with_context(|| {
                    format!("measuring {kind} data at {level} s, {chunk_sql} chunks")
                })?;
                eprintln!(
                    "realism: {kind} at {level} s, {chunk_sql} chunks: {} rows, ratio {}",
                    fig.rows,
                    fig.ratio
                        .map(|r| format!("{r:.2}x"))
                        .unwrap_or_else(|| "-".into())
                );
                out.push(TableFigures {
                    kind: kind.to_string(),
                    source: label.to_string(),
                    interval_s: level,
                    chunk_interval_s: chunk_s,
                    ..fig
                });
            }
        }
    }
    Ok(out)
}

/// A source of rows for loading.
#[derive(Debug, Clone)]
enum Source {
    Fleet(FleetPlan, Layout),
    Real(RealData),
}

impl Source {
    fn base_interval_s(&self) -> u64 {
        match self {
            Source::Fleet(p, _) => p.sample_interval.as_secs().max(1),
            Source::Real(d) => d.base_interval_s(),
        }
    }

    fn channels(&self) -> Vec<String> {
        match self {
            Source::Fleet(..) => CHANNEL_NAMES.iter().map(|s| s.to_string()).collect(),
            Source::Real(d) => d.channels.clone(),
        }
    }
}

/// Encodes the rows of every `factor`-th sample as binary COPY tuples of the bare shape and
/// hands over chunks of about 4 MB.
struct CopyEncoder<F: FnMut(Bytes) -> bool> {
    factor: u64,
    buf: BytesMut,
    emit: F,
    open: bool,
}

impl<F: FnMut(Bytes) -> bool> CopyEncoder<F> {
    fn flush(&mut self) {
        if self.open && !self.buf.is_empty() {
            let chunk = self.buf.split().freeze();
            self.open = (self.emit)(chunk);
        }
    }
}

impl<F: FnMut(Bytes) -> bool> RowSink for CopyEncoder<F> {
    fn row(&mut self, well: &str, sample: u64, ts_us: i64, values: &[Option<f64>], _u: &[f64]) {
        if !sample.is_multiple_of(self.factor) || !self.open {
            return;
        }
        let b = &mut self.buf;
        b.put_i16(2 + values.len() as i16);
        b.put_i32(well.len() as i32);
        b.put_slice(well.as_bytes());
        b.put_i32(8);
        b.put_i64(ts_us - PG_EPOCH_OFFSET_US);
        for v in values {
            match v {
                Some(v) => {
                    b.put_i32(8);
                    b.put_f64(*v);
                }
                None => b.put_i32(-1),
            }
        }
        if self.buf.len() >= 4 << 20 {
            self.flush();
        }
    }

    fn end_series(&mut self) {}
}

#[allow(clippy::too_many_arguments)]
async fn load_and_measure(
    client: &Client,
    api: &Api,
    schema: &str,
    table: &str,
    chunk_sql: &str,
    src: &Source,
    factor: u64,
    created: &mut Vec<String>,
) -> anyhow::Result<TableFigures> {
    let channels = src.channels();
    match schema::table_ownership(client, schema, table).await? {
        Ownership::Absent => {}
        // Left by an interrupted earlier run: bench's own, so it may go.
        Ownership::Owned => client
            .batch_execute(&format!("DROP TABLE {}", qualified(schema, table)))
            .await
            .map_err(|e| anyhow::anyhow!("dropping {schema}.{table}: {}", pg_error_text(&e)))?,
        Ownership::Foreign { .. } => {
            return Err(BenchError::Config(format!(
                "table \"{schema}\".\"{table}\" exists and was not created by esp-bench; bench \
                 will not touch it. Use another --schema NAME"
            ))
            .into())
        }
    }
    let q = qualified(schema, table);
    let cols: Vec<String> = channels
        .iter()
        .map(|c| format!("{} double precision", quote_ident(c)))
        .collect();
    let ext = quote_ident(&api.extension_schema);
    let ddl = format!(
        "CREATE TABLE {q} (well_id text NOT NULL, ts timestamptz NOT NULL, {cols});",
        cols = cols.join(", ")
    );
    client
        .batch_execute(&ddl)
        .await
        .map_err(|e| anyhow::anyhow!("creating {q}: {}", pg_error_text(&e)))?;
    created.push(table.to_string());
    schema::mark_table(client, schema, table).await?;
    let setup = format!(
        "SELECT {ext}.create_hypertable('{s}.{t}'::regclass, {ext}.by_range('ts', INTERVAL '{chunk_sql}'));
         ALTER TABLE {q} SET (timescaledb.compress, timescaledb.compress_segmentby = 'well_id',
                              timescaledb.compress_orderby = 'ts DESC');",
        s = quote_ident(schema).replace('\'', "''"),
        t = quote_ident(table).replace('\'', "''"),
    );
    client.batch_execute(&setup).await.map_err(|e| {
        anyhow::anyhow!("making {q} a compressed hypertable: {}", pg_error_text(&e))
    })?;

    // Stream the rows: a blocking thread encodes, this task sends.
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Bytes>(4);
    let src2 = src.clone();
    let producer = tokio::task::spawn_blocking(move || {
        let mut head = BytesMut::new();
        binary_header(&mut head);
        let mut enc = CopyEncoder {
            factor,
            buf: head,
            emit: |b: Bytes| tx.blocking_send(b).is_ok(),
            open: true,
        };
        match &src2 {
            Source::Fleet(plan, layout) => walk_fleet(&Fleet::new(plan), layout, &mut enc),
            Source::Real(data) => walk_real(data, &mut enc),
        }
        binary_trailer(&mut enc.buf);
        enc.flush();
    });
    let names: Vec<String> = ["well_id".to_string(), "ts".to_string()]
        .into_iter()
        .chain(channels.iter().map(|c| quote_ident(c)))
        .collect();
    let copy = format!("COPY {q} ({}) FROM STDIN (FORMAT binary)", names.join(", "));
    let sink = client
        .copy_in::<_, Bytes>(copy.as_str())
        .await
        .map_err(|e| anyhow::anyhow!("starting COPY into {q}: {}", pg_error_text(&e)))?;
    futures_util::pin_mut!(sink);
    while let Some(chunk) = rx.recv().await {
        sink.as_mut()
            .send(chunk)
            .await
            .map_err(|e| anyhow::anyhow!("COPY into {q}: {}", pg_error_text(&e)))?;
    }
    producer.await.context("the row encoder thread failed")?;
    let rows = sink
        .finish()
        .await
        .map_err(|e| anyhow::anyhow!("finishing COPY into {q}: {}", pg_error_text(&e)))?;

    let counts_sql = format!(
        "SELECT {} FROM {q}",
        channels
            .iter()
            .map(|c| format!("count({})", quote_ident(c)))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let row = client
        .query_one(counts_sql.as_str(), &[])
        .await
        .with_context(|| format!("counting values in {q}"))?;
    let values: Vec<u64> = (0..channels.len())
        .map(|i| row.get::<_, i64>(i).max(0) as u64)
        .collect();

    let before = measure::hypertable_size(client, api, schema, table).await?;
    let chunks: Vec<_> = measure::chunks(client, schema)
        .await?
        .into_iter()
        .filter(|c| c.hypertable == table)
        .collect();
    for c in &chunks {
        measure::compress_chunk(client, api, c).await?;
    }
    let after = measure::hypertable_size(client, api, schema, table).await?;

    let compressed = client
        .query(
            "SELECT format('%I.%I', cc.schema_name, cc.table_name) \
             FROM _timescaledb_catalog.chunk c \
             JOIN _timescaledb_catalog.chunk cc ON cc.id = c.compressed_chunk_id \
             JOIN _timescaledb_catalog.hypertable h ON h.id = c.hypertable_id \
             WHERE h.schema_name = $1 AND h.table_name = $2",
            &[&schema, &table],
        )
        .await
        .with_context(|| format!("listing the compressed chunks of {q}"))?;
    let mut bytes = vec![0u64; channels.len()];
    let sizes = channels
        .iter()
        .map(|c| format!("coalesce(sum(pg_column_size({})), 0)::int8", quote_ident(c)))
        .collect::<Vec<_>>()
        .join(", ");
    for r in &compressed {
        let name: String = r.get(0);
        let row = client
            .query_one(format!("SELECT {sizes} FROM {name}").as_str(), &[])
            .await
            .with_context(|| format!("reading column sizes of {name}"))?;
        for (i, b) in bytes.iter_mut().enumerate() {
            *b += row.get::<_, i64>(i).max(0) as u64;
        }
    }
    let columns: Vec<ColumnFigures> = channels
        .iter()
        .enumerate()
        .map(|(i, c)| ColumnFigures {
            column: c.clone(),
            values: values[i],
            bytes: bytes[i],
            bytes_per_value: (values[i] > 0).then(|| bytes[i] as f64 / values[i] as f64),
        })
        .collect();
    let (tb, tv): (u64, u64) = (bytes.iter().sum(), values.iter().sum());
    Ok(TableFigures {
        kind: String::new(),
        source: String::new(),
        interval_s: 0,
        chunk_interval_s: 0,
        rows,
        chunks: chunks.len() as u64,
        before_bytes: before.total,
        after_bytes: after.total,
        ratio: (after.total > 0).then(|| before.total as f64 / after.total as f64),
        bytes_per_value: (tv > 0).then(|| tb as f64 / tv as f64),
        columns,
    })
}

/// The server's figures as console text.
pub fn render(f: &ServerFigures) -> String {
    use std::fmt::Write;
    let mut o = String::new();
    let _ = writeln!(
        o,
        "\nserver figures ({}, TimescaleDB {}, schema {}; tables dropped afterwards):",
        f.server, f.timescaledb_version, f.schema
    );
    let _ = writeln!(
        o,
        "  {:<10} {:>5} {:>6} {:>9} {:>7} {:>12} {:>12} {:>7} {:>6}",
        "data", "at", "chunks", "rows", "chunks", "before", "after", "ratio", "B/v"
    );
    for t in &f.tables {
        let _ = writeln!(
            o,
            "  {:<10} {:>4}s {:>6} {:>9} {:>7} {:>12} {:>12} {:>7} {:>6}",
            t.kind,
            t.interval_s,
            if t.chunk_interval_s == 3600 {
                "1h"
            } else {
                "1d"
            },
            t.rows,
            t.chunks,
            t.before_bytes,
            t.after_bytes,
            t.ratio
                .map(|r| format!("{r:.2}x"))
                .unwrap_or_else(|| "-".into()),
            t.bytes_per_value
                .map(|r| format!("{r:.2}"))
                .unwrap_or_else(|| "-".into()),
        );
    }
    for t in &f.tables {
        let cols: Vec<String> = t
            .columns
            .iter()
            .map(|c| {
                format!(
                    "{} {}",
                    c.column,
                    c.bytes_per_value
                        .map(|r| format!("{r:.2}"))
                        .unwrap_or_else(|| "-".into())
                )
            })
            .collect();
        let _ = writeln!(
            o,
            "  {} {} s {} chunks, B/v per column: {}",
            t.kind,
            t.interval_s,
            if t.chunk_interval_s == 3600 {
                "1h"
            } else {
                "1d"
            },
            cols.join(", ")
        );
    }
    o
}
