//! pg_stat_statements: whether bench can read it, snapshots of bench's own statements, and
//! the per-phase deltas reported as `queries[].evidence.server`.
//!
//! bench creates the extension only on its embedded throwaway server. On a server given by
//! `--database-url` it is used when already installed, and never created: the report says it
//! is missing and how to enable it. Snapshots are filtered to bench's statements (by query
//! identifier, else by text) in the current database.
//!
//! pg_stat_statements keeps a running mean and (population) standard deviation per statement;
//! a delta over a phase needs the sums, so each snapshot turns them into the sum
//! (`total_exec_time`) and the sum of squares (`(stddev² + mean²) · calls`), which subtract.

use anyhow::{Context, Result};
use tokio_postgres::Client;

use crate::model::report::ServerTime;

/// How to enable pg_stat_statements on a server bench did not start.
pub const ENABLE_HINT: &str = "add pg_stat_statements to shared_preload_libraries (and set \
pg_stat_statements.track_planning = on), restart the server, then run CREATE EXTENSION \
pg_stat_statements in this database";

/// Where bench reads pg_stat_statements, or why it cannot.
#[derive(Debug, Clone, PartialEq)]
pub enum Availability {
    /// The view, schema-qualified and quoted.
    Ready {
        view: String,
    },
    Missing(String),
}

fn quote_ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// Find (embedded server: create) the extension and check that the view answers.
pub async fn prepare(client: &Client, embedded: bool) -> Availability {
    let find = async {
        client
            .query_opt(
                "SELECT n.nspname::text FROM pg_extension e \
                 JOIN pg_namespace n ON n.oid = e.extnamespace \
                 WHERE e.extname = 'pg_stat_statements'",
                &[],
            )
            .await
            .map(|r| r.map(|r| r.get::<_, String>(0)))
    };
    let mut schema = match find.await {
        Ok(s) => s,
        Err(e) => {
            return Availability::Missing(format!(
                "cannot read pg_extension: {}",
                super::pg_error_text(&e)
            ))
        }
    };
    if schema.is_none() {
        if !embedded {
            return Availability::Missing(format!(
                "pg_stat_statements is not installed in this database, so server-side time is \
                 not measured (bench never creates extensions on a server it did not start): \
                 {ENABLE_HINT}"
            ));
        }
        // The embedded server is bench's own throwaway cluster.
        if let Err(e) = client
            .batch_execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements WITH SCHEMA public")
            .await
        {
            return Availability::Missing(format!(
                "CREATE EXTENSION pg_stat_statements failed on the embedded server: {}",
                super::pg_error_text(&e)
            ));
        }
        schema = Some("public".into());
    }
    let view = format!(
        "{}.pg_stat_statements",
        quote_ident(schema.as_deref().unwrap_or("public"))
    );
    match client
        .query(format!("SELECT 1 FROM {view} LIMIT 1").as_str(), &[])
        .await
    {
        Ok(_) => Availability::Ready { view },
        Err(e) => Availability::Missing(format!(
            "pg_stat_statements is installed but cannot be read ({}): {ENABLE_HINT}",
            super::pg_error_text(&e)
        )),
    }
}

/// The counters of one statement (summed over its rows), as sums so that they subtract.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Counters {
    pub calls: u64,
    /// Sum of execution times, ms.
    pub exec_sum_ms: f64,
    /// Sum of squared execution times, ms².
    pub exec_sumsq_ms2: f64,
    pub plans: u64,
    pub plan_sum_ms: f64,
    pub rows: u64,
    pub shared_blks_hit: u64,
    pub shared_blks_read: u64,
    pub shared_blks_written: u64,
    pub temp_blks_read: u64,
    pub temp_blks_written: u64,
}

impl Counters {
    /// One pg_stat_statements row: its mean and population stddev become sums.
    pub fn from_row(calls: u64, total_ms: f64, mean_ms: f64, stddev_ms: f64) -> Counters {
        Counters {
            calls,
            exec_sum_ms: total_ms,
            exec_sumsq_ms2: (stddev_ms * stddev_ms + mean_ms * mean_ms) * calls as f64,
            ..Counters::default()
        }
    }

    pub fn add(&mut self, o: &Counters) {
        self.calls += o.calls;
        self.exec_sum_ms += o.exec_sum_ms;
        self.exec_sumsq_ms2 += o.exec_sumsq_ms2;
        self.plans += o.plans;
        self.plan_sum_ms += o.plan_sum_ms;
        self.rows += o.rows;
        self.shared_blks_hit += o.shared_blks_hit;
        self.shared_blks_read += o.shared_blks_read;
        self.shared_blks_written += o.shared_blks_written;
        self.temp_blks_read += o.temp_blks_read;
        self.temp_blks_written += o.temp_blks_written;
    }

    /// `self - before`, what ran in between, as counters that add up over several stretches. A
    /// statement evicted or reset in between (counters went down) counts from zero.
    pub fn since(&self, before: &Counters) -> Counters {
        if self.calls < before.calls {
            return *self;
        }
        let d = |a: u64, b: u64| a.saturating_sub(b);
        Counters {
            calls: self.calls - before.calls,
            exec_sum_ms: self.exec_sum_ms - before.exec_sum_ms,
            exec_sumsq_ms2: self.exec_sumsq_ms2 - before.exec_sumsq_ms2,
            plans: d(self.plans, before.plans),
            plan_sum_ms: (self.plan_sum_ms - before.plan_sum_ms).max(0.0),
            rows: d(self.rows, before.rows),
            shared_blks_hit: d(self.shared_blks_hit, before.shared_blks_hit),
            shared_blks_read: d(self.shared_blks_read, before.shared_blks_read),
            shared_blks_written: d(self.shared_blks_written, before.shared_blks_written),
            temp_blks_read: d(self.temp_blks_read, before.temp_blks_read),
            temp_blks_written: d(self.temp_blks_written, before.temp_blks_written),
        }
    }

    /// `after - self` as the report's deltas (None when nothing ran in between). A statement
    /// evicted or reset in between (counters went down) counts from zero.
    pub fn delta(&self, after: &Counters, client_mean_ms: Option<f64>) -> Option<ServerTime> {
        let g = after.since(self);
        if g.calls == 0 {
            return None;
        }
        let n = g.calls as f64;
        let mean = g.exec_sum_ms / n;
        let var = (g.exec_sumsq_ms2 / n - mean * mean).max(0.0);
        Some(ServerTime {
            calls: g.calls,
            mean_exec_ms: mean,
            stddev_exec_ms: var.sqrt(),
            mean_plan_ms: (g.plans > 0).then(|| g.plan_sum_ms / g.plans as f64),
            rows: g.rows,
            shared_blks_hit: g.shared_blks_hit,
            shared_blks_read: g.shared_blks_read,
            shared_blks_written: g.shared_blks_written,
            temp_blks_read: g.temp_blks_read,
            temp_blks_written: g.temp_blks_written,
            // Planning happens per execution with custom plans, once with the generic one:
            // the per-call share is what the client waited for.
            client_minus_server_ms: client_mean_ms.map(|c| c - mean - g.plan_sum_ms / n),
        })
    }
}

/// One statement bench watches: its text and (when the server computes them) its identifier.
#[derive(Debug, Clone, PartialEq)]
pub struct Watched {
    pub sql: String,
    pub query_id: Option<i64>,
}

/// The counters of every watched statement, in `watched` order (zero when not listed yet).
pub async fn snapshot(client: &Client, view: &str, watched: &[Watched]) -> Result<Vec<Counters>> {
    let ids: Vec<i64> = watched.iter().filter_map(|w| w.query_id).collect();
    let texts: Vec<String> = watched.iter().map(|w| w.sql.clone()).collect();
    let rows = client
        .query(
            format!(
                "SELECT queryid, query, calls, total_exec_time, mean_exec_time, \
                 stddev_exec_time, plans, total_plan_time, rows, shared_blks_hit, \
                 shared_blks_read, shared_blks_written, temp_blks_read, temp_blks_written \
                 FROM {view} \
                 WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) \
                 AND (queryid = ANY($1) OR query = ANY($2))"
            )
            .as_str(),
            &[&ids, &texts],
        )
        .await
        .context("reading pg_stat_statements")?;
    let mut out = vec![Counters::default(); watched.len()];
    for r in rows {
        let qid: Option<i64> = r.get(0);
        let text: String = r.get(1);
        let Some(k) = watched.iter().position(|w| match (w.query_id, qid) {
            (Some(a), Some(b)) => a == b,
            _ => w.sql == text,
        }) else {
            continue;
        };
        let u = |i: usize| r.get::<_, i64>(i).max(0) as u64;
        let mut c = Counters::from_row(u(2), r.get(3), r.get(4), r.get(5));
        c.plans = u(6);
        c.plan_sum_ms = r.get(7);
        c.rows = u(8);
        c.shared_blks_hit = u(9);
        c.shared_blks_read = u(10);
        c.shared_blks_written = u(11);
        c.temp_blks_read = u(12);
        c.temp_blks_written = u(13);
        out[k].add(&c);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Running mean and population stddev of a sample, as pg_stat_statements keeps them.
    fn row(xs: &[f64]) -> Counters {
        let n = xs.len() as f64;
        let mean = xs.iter().sum::<f64>() / n;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n;
        Counters::from_row(xs.len() as u64, xs.iter().sum(), mean, var.sqrt())
    }

    #[test]
    fn delta_stddev_is_that_of_the_new_executions_alone() {
        let before = [10.0, 12.0, 11.0];
        let new = [100.0, 120.0, 110.0, 130.0];
        let all: Vec<f64> = before.iter().chain(new.iter()).copied().collect();
        let d = row(&before).delta(&row(&all), Some(120.0)).unwrap();
        let mean = new.iter().sum::<f64>() / 4.0;
        let sd = (new.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / 4.0).sqrt();
        assert_eq!(d.calls, 4);
        assert!((d.mean_exec_ms - mean).abs() < 1e-9, "{}", d.mean_exec_ms);
        assert!(
            (d.stddev_exec_ms - sd).abs() < 1e-6,
            "{} vs {sd}",
            d.stddev_exec_ms
        );
        assert!((d.client_minus_server_ms.unwrap() - (120.0 - mean)).abs() < 1e-9);
    }

    #[test]
    fn delta_of_nothing_is_none_and_a_reset_counts_from_zero() {
        let a = row(&[5.0, 7.0]);
        assert_eq!(a.delta(&a, None), None);
        let after_reset = row(&[3.0]);
        let d = a.delta(&after_reset, None).unwrap();
        assert_eq!(d.calls, 1);
        assert!((d.mean_exec_ms - 3.0).abs() < 1e-9);
        assert!(d.stddev_exec_ms.abs() < 1e-9);
    }

    #[test]
    fn counters_add_like_one_sample() {
        let mut a = row(&[1.0, 2.0]);
        a.add(&row(&[3.0, 4.0]));
        let d = Counters::default().delta(&a, None).unwrap();
        let all = row(&[1.0, 2.0, 3.0, 4.0]);
        let e = Counters::default().delta(&all, None).unwrap();
        assert!((d.stddev_exec_ms - e.stddev_exec_ms).abs() < 1e-9);
        assert_eq!(d.calls, 4);
    }
}
