//! Every COPY and load-ledger statement bench sends.
//!
//! A load batch is one transaction: claim the batch in the ledger, stream its rows with
//! `COPY ... FROM STDIN (FORMAT binary)`, record the server's row count, commit. Because the
//! ledger row and the rows commit or roll back together, the ledger is the exact account of
//! what is loaded, and claiming first (`INSERT ... ON CONFLICT DO NOTHING`) makes a retried
//! batch wait for, then see, any earlier attempt that did commit: never loaded twice.
//!
//! Also here: reading a table back as binary COPY to count rows and compute the
//! order-independent digest that tests compare against the generator.

use std::pin::Pin;

use bytes::{Buf, Bytes};
use futures_util::{SinkExt, StreamExt};
use tokio_postgres::{Client, CopyInSink};

/// The ledger table, created in bench's own schema beside the data tables.
pub const LEDGER_TABLE: &str = "esp_bench_load_ledger";

pub use super::quote_ident;

/// `"schema"."table"`.
pub fn qualified(schema: &str, table: &str) -> String {
    format!("{}.{}", quote_ident(schema), quote_ident(table))
}

fn ledger(schema: &str) -> String {
    qualified(schema, LEDGER_TABLE)
}

/// Create the ledger if it is missing (the caller marks it as bench's and checks that an
/// existing one is). Columns: the table loaded, the batch key (index of the
/// batch's first work unit), how many consecutive units the batch covered, the rows COPY
/// reported, the fingerprint of the fleet the rows came from, and when it committed.
pub async fn ensure_ledger(client: &Client, schema: &str) -> Result<(), tokio_postgres::Error> {
    let sql = format!(
        "CREATE TABLE IF NOT EXISTS {} (
            table_name  text        NOT NULL,
            batch_key   bigint      NOT NULL,
            units       bigint      NOT NULL,
            rows        bigint      NOT NULL,
            fingerprint text        NOT NULL,
            loaded_at   timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (table_name, batch_key)
        )",
        ledger(schema)
    );
    client.batch_execute(&sql).await
}

/// One committed batch as the ledger records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LedgerBatch {
    pub first_unit: u64,
    pub units: u64,
    pub rows: u64,
}

/// Every committed batch of `table`, in unit order.
pub async fn ledger_batches(
    client: &Client,
    schema: &str,
    table: &str,
) -> Result<Vec<LedgerBatch>, tokio_postgres::Error> {
    let sql = format!(
        "SELECT batch_key, units, rows FROM {} WHERE table_name = $1 ORDER BY batch_key",
        ledger(schema)
    );
    let rows = client.query(&sql, &[&table]).await?;
    Ok(rows
        .iter()
        .map(|r| LedgerBatch {
            first_unit: r.get::<_, i64>(0) as u64,
            units: r.get::<_, i64>(1) as u64,
            rows: r.get::<_, i64>(2) as u64,
        })
        .collect())
}

/// Distinct fleet fingerprints in the ledger (more than one, or a different one, means the
/// target holds another scenario's data).
pub async fn ledger_fingerprints(
    client: &Client,
    schema: &str,
) -> Result<Vec<String>, tokio_postgres::Error> {
    let sql = format!(
        "SELECT DISTINCT fingerprint FROM {} ORDER BY 1",
        ledger(schema)
    );
    let rows = client.query(&sql, &[]).await?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

/// Rows of batch `key` of `table` when it committed, `None` when it did not. Used when a
/// COMMIT's outcome is unknown.
pub async fn ledger_rows(
    client: &Client,
    schema: &str,
    table: &str,
    key: u64,
) -> Result<Option<u64>, tokio_postgres::Error> {
    let sql = format!(
        "SELECT rows FROM {} WHERE table_name = $1 AND batch_key = $2",
        ledger(schema)
    );
    Ok(client
        .query_opt(&sql, &[&table, &(key as i64)])
        .await?
        .map(|r| r.get::<_, i64>(0) as u64))
}

/// Name the session (so operators and fault tests can find loader backends in
/// `pg_stat_activity`) and return its backend pid.
pub async fn identify(
    client: &Client,
    application_name: &str,
) -> Result<i32, tokio_postgres::Error> {
    let row = client
        .query_one(
            "SELECT set_config('application_name', $1, false), pg_backend_pid()",
            &[&application_name],
        )
        .await?;
    Ok(row.get(1))
}

/// Empty the data tables and the ledger in one transaction (`bench load --reset`).
pub async fn reset(
    client: &Client,
    schema: &str,
    tables: &[&str],
) -> Result<(), tokio_postgres::Error> {
    let mut names: Vec<String> = tables.iter().map(|t| qualified(schema, t)).collect();
    names.push(ledger(schema));
    let sql = format!("BEGIN; TRUNCATE {}; COMMIT;", names.join(", "));
    client.batch_execute(&sql).await
}

/// What one batch is, for the SQL that loads it.
#[derive(Debug, Clone, Copy)]
pub struct BatchSql<'a> {
    pub schema: &'a str,
    pub table: &'a str,
    /// Quoted, comma-separated column list of the COPY.
    pub columns: &'a str,
    pub key: u64,
    pub units: u64,
    pub fingerprint: &'a str,
    /// Sharded followers: a query that must return `true` inside the batch's transaction
    /// before it writes (`coord::write_gate_sql`: the leader's run is open).
    pub gate: Option<&'a str>,
}

/// How [`begin_batch`] ended.
pub enum Begun {
    /// The COPY is open inside the batch's transaction.
    Open(OpenBatch),
    /// The ledger already holds the key: an earlier attempt committed (rolled back).
    AlreadyLoaded,
    /// The gate said no (rolled back): the leader's run is not open any more.
    Refused,
}

/// An open batch transaction with its COPY in progress.
pub struct OpenBatch {
    sink: Pin<Box<CopyInSink<Bytes>>>,
}

/// Start a batch: BEGIN, check the gate (if any), claim its key in the ledger, start the
/// binary COPY. Returns `AlreadyLoaded` (transaction rolled back) when the ledger already
/// holds the key: an earlier attempt committed. If an earlier attempt is still in flight the
/// claim waits for its outcome.
pub async fn begin_batch(
    client: &Client,
    b: &BatchSql<'_>,
) -> Result<Begun, tokio_postgres::Error> {
    client.batch_execute("BEGIN").await?;
    if let Some(gate) = b.gate {
        if !super::coord::write_allowed(client, gate).await? {
            client.batch_execute("ROLLBACK").await?;
            return Ok(Begun::Refused);
        }
    }
    let claim = format!(
        "INSERT INTO {} (table_name, batch_key, units, rows, fingerprint)
         VALUES ($1, $2, $3, 0, $4) ON CONFLICT DO NOTHING",
        ledger(b.schema)
    );
    let claimed = client
        .execute(
            &claim,
            &[&b.table, &(b.key as i64), &(b.units as i64), &b.fingerprint],
        )
        .await?;
    if claimed == 0 {
        client.batch_execute("ROLLBACK").await?;
        return Ok(Begun::AlreadyLoaded);
    }
    let copy = format!(
        "COPY {} ({}) FROM STDIN (FORMAT binary)",
        qualified(b.schema, b.table),
        b.columns
    );
    let sink = client.copy_in::<_, Bytes>(&copy).await?;
    Ok(Begun::Open(OpenBatch {
        sink: Box::pin(sink),
    }))
}

impl OpenBatch {
    /// Send one chunk of binary COPY data (the header must lead the first chunk).
    pub async fn send(&mut self, chunk: Bytes) -> Result<(), tokio_postgres::Error> {
        self.sink.as_mut().send(chunk).await
    }

    /// End the COPY and record the row count in the ledger; the transaction stays open.
    /// Dropping an `OpenBatch` instead aborts the COPY (CopyFail), failing the transaction.
    pub async fn finish(
        mut self,
        client: &Client,
        b: &BatchSql<'_>,
    ) -> Result<u64, tokio_postgres::Error> {
        let rows = self.sink.as_mut().finish().await?;
        let sql = format!(
            "UPDATE {} SET rows = $3 WHERE table_name = $1 AND batch_key = $2",
            ledger(b.schema)
        );
        client
            .execute(&sql, &[&b.table, &(b.key as i64), &(rows as i64)])
            .await?;
        Ok(rows)
    }
}

/// COMMIT the open batch transaction. If this fails because the connection dropped, the
/// outcome is unknown: the next attempt's claim in [`begin_batch`] settles it.
pub async fn commit(client: &Client) -> Result<(), tokio_postgres::Error> {
    client.batch_execute("COMMIT").await
}

/// [`copy_rows`] inside a transaction that first checks `gate` (see [`BatchSql::gate`]).
/// `Ok(None)`: the gate said no and nothing was written.
pub async fn copy_rows_gated(
    client: &Client,
    schema: &str,
    table: &str,
    columns: &str,
    data: Bytes,
    gate: &str,
) -> Result<Option<u64>, tokio_postgres::Error> {
    client.batch_execute("BEGIN").await?;
    let r = async {
        if !super::coord::write_allowed(client, gate).await? {
            return Ok(None);
        }
        let n = copy_rows(client, schema, table, columns, data).await?;
        Ok(Some(n))
    }
    .await;
    match r {
        Ok(Some(n)) => {
            client.batch_execute("COMMIT").await?;
            Ok(Some(n))
        }
        Ok(None) => {
            client.batch_execute("ROLLBACK").await?;
            Ok(None)
        }
        Err(e) => {
            let _ = client.batch_execute("ROLLBACK").await;
            Err(e)
        }
    }
}

/// One standalone binary COPY of `data` (header, tuples, trailer) into `schema.table`, in its
/// own implicit transaction. Live ingest uses it; bulk loads use [`begin_batch`].
pub async fn copy_rows(
    client: &Client,
    schema: &str,
    table: &str,
    columns: &str,
    data: Bytes,
) -> Result<u64, tokio_postgres::Error> {
    let copy = format!(
        "COPY {} ({}) FROM STDIN (FORMAT binary)",
        qualified(schema, table),
        columns
    );
    let sink = client.copy_in::<_, Bytes>(&copy).await?;
    futures_util::pin_mut!(sink);
    sink.as_mut().send(data).await?;
    sink.finish().await
}

/// Row count and order-independent digest of rows, computed over each row's binary COPY
/// tuple: the generator side hashes the tuples it encodes, the database side the tuples
/// `COPY ... TO STDOUT (FORMAT binary)` returns, so equal digests mean equal multisets of
/// rows (a lost or duplicated row changes both count and sum).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Digest {
    pub rows: u64,
    pub sum: u64,
}

impl Digest {
    /// Add one tuple (its 16-bit field count and every field, as binary COPY lays them out).
    pub fn add_tuple(&mut self, tuple: &[u8]) {
        self.rows += 1;
        self.sum = self.sum.wrapping_add(hash64(tuple));
    }

    /// Add every tuple of a stretch of binary COPY data that holds whole tuples only (no
    /// header, no trailer).
    pub fn add_tuples(&mut self, mut data: &[u8]) -> Result<(), String> {
        while !data.is_empty() {
            let len = tuple_len(data)?.ok_or("incomplete tuple in COPY data")?;
            self.add_tuple(&data[..len]);
            data = &data[len..];
        }
        Ok(())
    }

    pub fn merge(&mut self, other: Digest) {
        self.rows += other.rows;
        self.sum = self.sum.wrapping_add(other.sum);
    }
}

/// FNV-1a over the bytes, then a 64-bit finaliser (splitmix) so sums of hashes of similar
/// tuples do not cancel in low bits.
pub fn hash64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h ^= h >> 30;
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^= h >> 27;
    h = h.wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

/// Length of the tuple at the start of `data`: `Ok(None)` when the data ends mid-tuple,
/// `Ok(Some(2))` for the trailer (field count -1). Errors on malformed lengths.
pub fn tuple_len(data: &[u8]) -> Result<Option<usize>, String> {
    if data.len() < 2 {
        return Ok(None);
    }
    let fields = i16::from_be_bytes([data[0], data[1]]);
    if fields == -1 {
        return Ok(Some(2));
    }
    if fields < 0 {
        return Err(format!("bad field count {fields} in binary COPY data"));
    }
    let mut pos = 2usize;
    for _ in 0..fields {
        if data.len() < pos + 4 {
            return Ok(None);
        }
        let len = i32::from_be_bytes([data[pos], data[pos + 1], data[pos + 2], data[pos + 3]]);
        pos += 4;
        if len >= 0 {
            pos += len as usize;
        } else if len != -1 {
            return Err(format!("bad field length {len} in binary COPY data"));
        }
    }
    if data.len() < pos {
        return Ok(None);
    }
    Ok(Some(pos))
}

/// Binary COPY signature: the first 11 bytes of the header.
const SIGNATURE: &[u8; 11] = b"PGCOPY\n\xff\r\n\0";

/// Read `table` back (the given quoted column list, in that order) with a binary
/// `COPY ... TO STDOUT` and digest every row. Streams: memory stays bounded.
pub async fn table_digest(
    client: &Client,
    schema: &str,
    table: &str,
    columns: &str,
) -> Result<Digest, anyhow::Error> {
    let sql = format!(
        "COPY (SELECT {} FROM {}) TO STDOUT (FORMAT binary)",
        columns,
        qualified(schema, table)
    );
    let stream = client.copy_out(&sql).await?;
    futures_util::pin_mut!(stream);
    let mut buf: Vec<u8> = Vec::new();
    let mut digest = Digest::default();
    let mut header_done = false;
    let mut trailer_seen = false;
    while let Some(chunk) = stream.next().await {
        let mut chunk = chunk?;
        buf.extend_from_slice(chunk.chunk());
        chunk.advance(chunk.remaining());
        let mut pos = 0usize;
        if !header_done {
            if buf.len() < 19 {
                continue;
            }
            anyhow::ensure!(&buf[..11] == SIGNATURE, "not binary COPY data");
            let ext = u32::from_be_bytes([buf[15], buf[16], buf[17], buf[18]]) as usize;
            if buf.len() < 19 + ext {
                continue;
            }
            pos = 19 + ext;
            header_done = true;
        }
        while let Some(len) = tuple_len(&buf[pos..]).map_err(anyhow::Error::msg)? {
            if len == 2 && buf[pos..pos + 2] == [0xff, 0xff] {
                trailer_seen = true;
                pos += 2;
                break;
            }
            digest.add_tuple(&buf[pos..pos + len]);
            pos += len;
        }
        buf.drain(..pos);
    }
    anyhow::ensure!(
        trailer_seen,
        "binary COPY data from {table} ended without a trailer"
    );
    Ok(digest)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tuple(fields: &[Option<&[u8]>]) -> Vec<u8> {
        let mut v = (fields.len() as i16).to_be_bytes().to_vec();
        for f in fields {
            match f {
                Some(b) => {
                    v.extend_from_slice(&(b.len() as i32).to_be_bytes());
                    v.extend_from_slice(b);
                }
                None => v.extend_from_slice(&(-1i32).to_be_bytes()),
            }
        }
        v
    }

    #[test]
    fn tuple_len_walks_fields_and_nulls() {
        let t = tuple(&[Some(b"abc"), None, Some(&[1, 2, 3, 4, 5, 6, 7, 8])]);
        assert_eq!(tuple_len(&t), Ok(Some(t.len())));
        assert_eq!(tuple_len(&t[..t.len() - 1]), Ok(None));
        assert_eq!(tuple_len(&[0xff, 0xff]), Ok(Some(2)));
        assert!(tuple_len(&[0x00, 0x01, 0xff, 0xff, 0xff, 0xf0]).is_err());
    }

    #[test]
    fn digest_is_order_independent_and_sees_duplicates() {
        let a = tuple(&[Some(b"well-1"), Some(b"x")]);
        let b = tuple(&[Some(b"well-2"), None]);
        let mut ab = Digest::default();
        ab.add_tuples(&[a.clone(), b.clone()].concat()).unwrap();
        let mut ba = Digest::default();
        ba.add_tuple(&b);
        ba.add_tuple(&a);
        assert_eq!(ab, ba);
        let mut dup = ab;
        dup.add_tuple(&a);
        assert_ne!(dup.sum, ab.sum);
        assert_eq!(dup.rows, 3);
        // Swapping a value between two rows changes the digest.
        let a2 = tuple(&[Some(b"well-1"), None]);
        let b2 = tuple(&[Some(b"well-2"), Some(b"x")]);
        let mut swapped = Digest::default();
        swapped.add_tuple(&a2);
        swapped.add_tuple(&b2);
        assert_ne!(swapped, ab);
    }

    #[test]
    fn identifiers_are_quoted() {
        assert_eq!(qualified("a\"b", "t"), "\"a\"\"b\".\"t\"");
        assert_eq!(qualified("esp_bench", "t"), "\"esp_bench\".\"t\"");
    }
}
