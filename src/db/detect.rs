//! Server detection: PostgreSQL and TimescaleDB versions, edition, and which TimescaleDB API
//! names this server offers. Everything version-dependent asks [`Api`] instead of hard-coding
//! one release's function names (2.18 added `*_columnstore_*` beside `*_compression_*`, and
//! some of the new names are procedures, called with CALL rather than SELECT).

use std::collections::BTreeMap;

use anyhow::Context;
use serde::Serialize;
use tokio_postgres::Client;

use crate::error::BenchError;

/// TimescaleDB edition, from `SHOW timescaledb.license`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Edition {
    /// `apache`: no compression/columnstore, no policies.
    Apache,
    /// `timescale` (TSL, the community edition): compression and policies available.
    Community,
}

impl Edition {
    pub fn is_community(self) -> bool {
        self == Edition::Community
    }

    /// The value `SHOW timescaledb.license` returns for this edition.
    pub fn license(self) -> &'static str {
        match self {
            Edition::Apache => "apache",
            Edition::Community => "timescale",
        }
    }
}

impl std::fmt::Display for Edition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Edition::Apache => "apache",
            Edition::Community => "community",
        })
    }
}

/// Whether a TimescaleDB routine is a function (SELECT) or a procedure (CALL).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RoutineKind {
    Function,
    Procedure,
    Aggregate,
}

/// Which TimescaleDB routines exist on this server, and how to call the version-dependent ones.
#[derive(Debug, Clone, Serialize)]
pub struct Api {
    /// Schema the extension is installed in (usually `public`).
    pub extension_schema: String,
    routines: BTreeMap<String, RoutineKind>,
}

impl Api {
    /// Build from (routine name, kind) pairs; used by [`detect`] and unit tests.
    pub fn from_routines(
        extension_schema: &str,
        routines: impl IntoIterator<Item = (String, RoutineKind)>,
    ) -> Api {
        Api {
            extension_schema: extension_schema.to_string(),
            routines: routines.into_iter().collect(),
        }
    }

    /// Does the extension define a routine with this name?
    pub fn has(&self, name: &str) -> bool {
        self.routines.contains_key(name)
    }

    pub fn kind(&self, name: &str) -> Option<RoutineKind> {
        self.routines.get(name).copied()
    }

    fn qualify(&self, name: &str) -> String {
        format!(
            "{}.{}",
            crate::db::quote_ident(&self.extension_schema),
            name
        )
    }

    fn first_function(&self, names: &[&str]) -> Option<String> {
        names
            .iter()
            .find(|n| self.kind(n) == Some(RoutineKind::Function))
            .map(|n| self.qualify(n))
    }

    /// `by_range()` dimension builder (2.13+), used by schema.sql's create_hypertable calls.
    pub fn has_by_range(&self) -> bool {
        self.has("by_range")
    }

    /// Qualified name of the hypertable compression statistics function:
    /// `hypertable_columnstore_stats` (2.18+) or `hypertable_compression_stats`.
    pub fn hypertable_compression_stats(&self) -> Option<String> {
        self.first_function(&[
            "hypertable_columnstore_stats",
            "hypertable_compression_stats",
        ])
    }

    /// Qualified name of the per-chunk compression statistics function:
    /// `chunk_columnstore_stats` (2.18+) or `chunk_compression_stats`.
    pub fn chunk_compression_stats(&self) -> Option<String> {
        self.first_function(&["chunk_columnstore_stats", "chunk_compression_stats"])
    }

    /// Qualified `hypertable_detailed_size` (all supported versions).
    pub fn hypertable_detailed_size(&self) -> Option<String> {
        self.first_function(&["hypertable_detailed_size"])
    }

    /// Qualified `show_chunks`.
    pub fn show_chunks(&self) -> Option<String> {
        self.first_function(&["show_chunks"])
    }

    /// The name used to compress one chunk: `compress_chunk` or `convert_to_columnstore`.
    pub fn compress_chunk(&self) -> Option<&'static str> {
        ["compress_chunk", "convert_to_columnstore"]
            .into_iter()
            .find(|n| self.has(n))
    }

    /// A full statement compressing the chunk given by the SQL expression `chunk` (for example
    /// `$1::regclass`), idempotent for already compressed chunks. `compress_chunk` (a function)
    /// is preferred; `convert_to_columnstore` is a procedure and needs CALL.
    pub fn compress_chunk_sql(&self, chunk: &str) -> Option<String> {
        self.call_sql(&["compress_chunk", "convert_to_columnstore"], chunk)
    }

    /// Like [`Api::compress_chunk_sql`] for decompression (`decompress_chunk` /
    /// `convert_to_rowstore`).
    pub fn decompress_chunk_sql(&self, chunk: &str) -> Option<String> {
        self.call_sql(&["decompress_chunk", "convert_to_rowstore"], chunk)
    }

    /// The name used to add a compression policy: `add_compression_policy` or
    /// `add_columnstore_policy`.
    pub fn add_compression_policy(&self) -> Option<&'static str> {
        ["add_compression_policy", "add_columnstore_policy"]
            .into_iter()
            .find(|n| self.has(n))
    }

    /// A statement adding a compression policy on `table` (a quoted identifier or regclass
    /// expression) compressing chunks older than `after` (an interval literal such as
    /// `INTERVAL '7 days'`), idempotent.
    pub fn add_compression_policy_sql(&self, table: &str, after: &str) -> Option<String> {
        self.call_sql(
            &["add_compression_policy", "add_columnstore_policy"],
            &format!("{table}, {after}, if_not_exists => true"),
        )
    }

    /// A statement removing the compression policy on `table`, if any.
    pub fn remove_compression_policy_sql(&self, table: &str) -> Option<String> {
        self.call_sql(
            &["remove_compression_policy", "remove_columnstore_policy"],
            &format!("{table}, if_exists => true"),
        )
    }

    /// `SELECT f(args)` or `CALL p(args)` for the first existing routine of `names`.
    fn call_sql(&self, names: &[&str], args: &str) -> Option<String> {
        names.iter().find_map(|n| match self.kind(n)? {
            RoutineKind::Function => Some(format!("SELECT {}({args})", self.qualify(n))),
            RoutineKind::Procedure => Some(format!("CALL {}({args})", self.qualify(n))),
            RoutineKind::Aggregate => None,
        })
    }
}

/// What [`detect`] found.
#[derive(Debug, Clone, Serialize)]
pub struct ServerInfo {
    /// `SHOW server_version`, e.g. "15.14 (Debian 15.14-0+deb12u1)".
    pub postgres_version: String,
    /// `server_version_num`, e.g. 150014.
    pub postgres_version_num: u32,
    /// Installed extension version in this database, e.g. "2.19.3".
    pub timescaledb_version: String,
    pub edition: Edition,
    pub api: Api,
    /// `current_database()`.
    pub database: String,
    /// `current_user`.
    pub user: String,
}

impl ServerInfo {
    /// TimescaleDB version as (major, minor, patch); unparsable parts are 0.
    pub fn timescaledb_semver(&self) -> (u32, u32, u32) {
        parse_semver(&self.timescaledb_version)
    }
}

/// Parse "2.19.3" (or "2.19.3-dev") into numbers; missing parts are 0.
pub fn parse_semver(v: &str) -> (u32, u32, u32) {
    let mut parts = v.split(['.', '-']).map(|p| p.parse::<u32>().unwrap_or(0));
    (
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
    )
}

/// Detect versions, edition and the TimescaleDB API of the connected database. Fails with an
/// environment error (exit 2) when the timescaledb extension is not installed in it.
pub async fn detect(client: &Client) -> anyhow::Result<ServerInfo> {
    let row = client
        .query_one(
            "SELECT current_setting('server_version'), \
                    current_setting('server_version_num')::int4, \
                    current_database()::text, current_user::text",
            &[],
        )
        .await
        .context("reading the server version")?;
    let postgres_version: String = row.get(0);
    let postgres_version_num = row.get::<_, i32>(1).max(0) as u32;
    let database: String = row.get(2);
    let user: String = row.get(3);

    let ext = client
        .query_opt(
            "SELECT extversion::text, extnamespace::regnamespace::text \
             FROM pg_extension WHERE extname = 'timescaledb'",
            &[],
        )
        .await
        .context("looking for the timescaledb extension")?;
    let Some(ext) = ext else {
        let available = client
            .query_opt(
                "SELECT default_version FROM pg_available_extensions WHERE name = 'timescaledb'",
                &[],
            )
            .await
            .context("looking for an installable timescaledb extension")?
            .is_some();
        let fix = if available {
            format!(
                "connect as a superuser or the database owner and run CREATE EXTENSION timescaledb; \
                 in database {database}"
            )
        } else {
            "this server has no TimescaleDB: use the embedded server (omit --database-url; \
             `make setup` installs TimescaleDB) or the Docker image (`docker compose up -d`)"
                .to_string()
        };
        return Err(BenchError::Environment(format!(
            "the timescaledb extension is not installed in database {database}: {fix}"
        ))
        .into());
    };
    let timescaledb_version: String = ext.get(0);
    let extension_schema: String = ext.get(1);

    let license: String = client
        .query_one("SELECT current_setting('timescaledb.license', true)", &[])
        .await
        .context("reading timescaledb.license")?
        .try_get::<_, Option<String>>(0)?
        .unwrap_or_default();
    let edition = match license.as_str() {
        "apache" => Edition::Apache,
        "timescale" => Edition::Community,
        other => {
            return Err(BenchError::Environment(format!(
                "unknown timescaledb.license {other:?} (expected 'apache' or 'timescale')"
            ))
            .into())
        }
    };

    let rows = client
        .query(
            "SELECT DISTINCT p.proname::text, p.prokind::text \
             FROM pg_proc p \
             JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid \
                             AND d.deptype = 'e' \
             JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'timescaledb' \
             WHERE p.pronamespace = e.extnamespace",
            &[],
        )
        .await
        .context("listing the timescaledb extension's functions")?;
    let routines = rows.iter().filter_map(|r| {
        let name: String = r.get(0);
        let kind = match r.get::<_, String>(1).as_str() {
            "f" | "w" => RoutineKind::Function,
            "p" => RoutineKind::Procedure,
            "a" => RoutineKind::Aggregate,
            _ => return None,
        };
        Some((name, kind))
    });
    let api = Api::from_routines(&extension_schema, routines);

    Ok(ServerInfo {
        postgres_version,
        postgres_version_num,
        timescaledb_version,
        edition,
        api,
        database,
        user,
    })
}

/// One server setting as `pg_settings` reports it.
#[derive(Debug, Clone, Serialize)]
pub struct Setting {
    pub name: String,
    pub setting: String,
    /// `pg_settings.unit` (e.g. "8kB", "ms"), empty when unitless.
    pub unit: String,
    /// Human-readable value (`current_setting(name)`), e.g. "1GB".
    pub value: String,
    /// Where the value came from: default, configuration file, command line, ...
    pub source: String,
}

/// Settings that change benchmark results.
pub const BENCHMARK_SETTINGS: &[&str] = &[
    "shared_buffers",
    "effective_cache_size",
    "work_mem",
    "maintenance_work_mem",
    "max_wal_size",
    "checkpoint_timeout",
    "synchronous_commit",
    "fsync",
    "wal_level",
    "jit",
    "random_page_cost",
    "max_connections",
    "max_worker_processes",
    "max_parallel_workers",
    "max_parallel_workers_per_gather",
    "shared_preload_libraries",
    "timescaledb.max_background_workers",
    "timescaledb.telemetry_level",
    "timescaledb.enable_chunk_skipping",
];

/// The settings summary.json's `environment.settings` records (what baselines were recorded
/// with, so the list stays as it is; `bench info` shows [`BENCHMARK_SETTINGS`]).
pub const REPORTED_SETTINGS: [&str; 14] = [
    "shared_buffers",
    "work_mem",
    "maintenance_work_mem",
    "effective_cache_size",
    "max_connections",
    "max_worker_processes",
    "max_parallel_workers",
    "max_parallel_workers_per_gather",
    "jit",
    "random_page_cost",
    "synchronous_commit",
    "fsync",
    "timescaledb.max_background_workers",
    "timescaledb.license",
];

/// The benchmark-relevant settings (those of [`BENCHMARK_SETTINGS`] this server knows).
pub async fn benchmark_settings(client: &Client) -> anyhow::Result<Vec<Setting>> {
    read_settings(client, BENCHMARK_SETTINGS).await
}

/// [`REPORTED_SETTINGS`] this server knows, name -> human-readable value.
pub async fn reported_settings(client: &Client) -> anyhow::Result<BTreeMap<String, String>> {
    Ok(read_settings(client, &REPORTED_SETTINGS)
        .await?
        .into_iter()
        .map(|s| (s.name, s.value))
        .collect())
}

/// The settings of `names` this server knows, in that order: the one settings query.
pub async fn read_settings(client: &Client, names: &[&str]) -> anyhow::Result<Vec<Setting>> {
    let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    let rows = client
        .query(
            "SELECT s.name::text, s.setting::text, coalesce(s.unit, '')::text, \
                    current_setting(s.name)::text, s.source::text \
             FROM pg_settings s JOIN unnest($1::text[]) WITH ORDINALITY AS n(name, ord) \
               ON n.name = s.name ORDER BY n.ord",
            &[&names],
        )
        .await
        .context("reading server settings")?;
    Ok(rows
        .iter()
        .map(|r| Setting {
            name: r.get(0),
            setting: r.get(1),
            unit: r.get(2),
            value: r.get(3),
            source: r.get(4),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(names: &[(&str, RoutineKind)]) -> Api {
        Api::from_routines("public", names.iter().map(|(n, k)| (n.to_string(), *k)))
    }

    #[test]
    fn prefers_new_stats_names_when_present() {
        let old = api(&[("hypertable_compression_stats", RoutineKind::Function)]);
        assert_eq!(
            old.hypertable_compression_stats().as_deref(),
            Some("\"public\".hypertable_compression_stats")
        );
        let new = api(&[
            ("hypertable_compression_stats", RoutineKind::Function),
            ("hypertable_columnstore_stats", RoutineKind::Function),
        ]);
        assert_eq!(
            new.hypertable_compression_stats().as_deref(),
            Some("\"public\".hypertable_columnstore_stats")
        );
        assert_eq!(api(&[]).chunk_compression_stats(), None);
    }

    #[test]
    fn procedures_are_called_with_call() {
        let only_new = api(&[
            ("convert_to_columnstore", RoutineKind::Procedure),
            ("add_columnstore_policy", RoutineKind::Procedure),
        ]);
        assert_eq!(
            only_new.compress_chunk_sql("$1::regclass").unwrap(),
            "CALL \"public\".convert_to_columnstore($1::regclass)"
        );
        assert!(only_new
            .add_compression_policy_sql("t", "INTERVAL '7 days'")
            .unwrap()
            .starts_with("CALL \"public\".add_columnstore_policy(t, INTERVAL '7 days'"));
        let both = api(&[
            ("compress_chunk", RoutineKind::Function),
            ("convert_to_columnstore", RoutineKind::Procedure),
        ]);
        assert_eq!(
            both.compress_chunk_sql("c").unwrap(),
            "SELECT \"public\".compress_chunk(c)"
        );
        assert_eq!(both.compress_chunk(), Some("compress_chunk"));
    }

    #[test]
    fn semver_parses() {
        assert_eq!(parse_semver("2.19.3"), (2, 19, 3));
        assert_eq!(parse_semver("2.23.1-dev"), (2, 23, 1));
        assert_eq!(parse_semver("x"), (0, 0, 0));
    }
}
