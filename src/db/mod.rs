//! The only module that talks to PostgreSQL: connecting, server detection, schema, COPY and
//! catalog queries.
//!
//! [`Target`] is where a command works: an existing server (`--database-url` /
//! `DATABASE_URL`) or an embedded throwaway cluster, plus bench's own schema in it. Every
//! message that may carry a URL goes through [`crate::format::redact`].

pub mod catalog;
pub mod coord;
pub mod copy;
pub mod detect;
pub mod guard;
pub mod measure;
pub mod plans;
pub mod realism;
pub mod schema;
pub mod stat_statements;
pub mod steady;
pub mod wire;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;
use tokio_postgres::NoTls;

use crate::error::{pg_error_text, BenchError};
use crate::format::redact;

/// A connection's I/O, to be polled by whoever uses its client (until the connection closes).
pub type ConnectionFuture = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;

use crate::server::{EmbeddedOptions, EmbeddedServer};

/// Where bench is to work, as plain values: an existing server's URL or how to start the
/// embedded one, bench's schema, and what bench may do with that schema. The command layer
/// builds it from `--database-url`, `--pg-setting`, `--schema` and friends.
/// `Debug` is hand-written so the URL's password never reaches a log or report.
#[derive(Clone, Default)]
pub struct TargetSpec {
    /// Connection URL of an existing server; `None` (or empty) starts the embedded server.
    pub database_url: Option<String>,
    /// Keep the embedded cluster's data directory here instead of a temporary one.
    pub data_dir: Option<PathBuf>,
    /// Directory of the PostgreSQL server binaries for the embedded server.
    pub pg_bin_dir: Option<PathBuf>,
    /// `NAME=VALUE` settings for the embedded server, over the scenario's.
    pub pg_settings: Vec<String>,
    /// Bench's own schema in the target database.
    pub schema: String,
    /// Allow working in schema `public`.
    pub allow_public_schema: bool,
    /// Take over an existing schema bench did not create.
    pub adopt_schema: bool,
}

impl TargetSpec {
    /// The fields, password redacted, into a `Debug` builder (also used by the CLI's flags).
    pub fn debug_fields<'a, 'b>(
        &self,
        mut d: std::fmt::DebugStruct<'a, 'b>,
    ) -> std::fmt::DebugStruct<'a, 'b> {
        d.field("database_url", &self.database_url.as_deref().map(redact))
            .field("data_dir", &self.data_dir)
            .field("pg_bin_dir", &self.pg_bin_dir)
            .field("pg_settings", &self.pg_settings)
            .field("schema", &self.schema)
            .field("allow_public_schema", &self.allow_public_schema)
            .field("adopt_schema", &self.adopt_schema);
        d
    }
}

impl std::fmt::Debug for TargetSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.debug_fields(f.debug_struct("TargetSpec")).finish()
    }
}

/// Where bench works: a server URL, bench's schema in it, and the embedded server if bench
/// started one.
pub struct Target {
    /// Connection URL. May hold a password: never print it; use [`Target::display_url`].
    pub url: String,
    /// Bench's own schema (validated identifier).
    pub schema: String,
    /// The embedded server, when bench started one (no URL given).
    pub server: Option<EmbeddedServer>,
    config: tokio_postgres::Config,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Target")
            .field("url", &self.display_url())
            .field("schema", &self.schema)
            .field("embedded", &self.server.is_some())
            .finish()
    }
}

impl Target {
    /// Resolve `--database-url`/`DATABASE_URL`, or start an embedded server with the scenario's
    /// settings overridden by `--pg-setting`. Verifies the server is reachable (exit 2 with a
    /// clear message if not) and applies the namespace flags (`--allow-public-schema`,
    /// `--adopt-schema`).
    pub async fn open(
        args: &TargetSpec,
        scenario_settings: &BTreeMap<String, String>,
    ) -> anyhow::Result<Target> {
        validate_schema_name(&args.schema)?;
        if args.schema == "public" && !args.allow_public_schema {
            return Err(BenchError::Config(
                "refusing to work in schema \"public\": bench keeps its tables in its own schema \
                 (default esp_bench); pass --allow-public-schema to use public anyway"
                    .into(),
            )
            .into());
        }
        let mut cli_settings = BTreeMap::new();
        for s in &args.pg_settings {
            let (k, v) = crate::server::parse_setting(s)?;
            cli_settings.insert(k, v);
        }
        // An empty DATABASE_URL (e.g. `DATABASE_URL= bench ...`) means "no URL".
        let url = args
            .database_url
            .as_deref()
            .filter(|u| !u.trim().is_empty());
        let target = match url {
            Some(url) => {
                if !cli_settings.is_empty() {
                    return Err(BenchError::Config(
                        "--pg-setting applies only to the embedded server; with --database-url \
                         configure the server itself (ALTER SYSTEM / postgresql.conf)"
                            .into(),
                    )
                    .into());
                }
                if !scenario_settings.is_empty() {
                    eprintln!(
                        "note: the scenario's [server.settings] apply only to the embedded server; \
                         ignored for --database-url"
                    );
                }
                Target::for_url(url, &args.schema)?
            }
            None => {
                let settings = crate::server::merge_settings(scenario_settings, &cli_settings);
                let server = EmbeddedServer::start(EmbeddedOptions {
                    bin_dir: args.pg_bin_dir.clone(),
                    data_dir: args.data_dir.clone(),
                    settings,
                })
                .await
                .context("starting the embedded PostgreSQL+TimescaleDB server")?;
                Target::for_server(server, &args.schema)?
            }
        };
        let client = target.connect().await?;
        if args.adopt_schema || (args.schema == "public" && args.allow_public_schema) {
            schema::adopt(&client, &target.schema).await?;
        }
        Ok(target)
    }

    /// A target for an existing server URL (not connected yet). Fills a missing password from
    /// `PGPASSWORD` or the password file (`PGPASSFILE`, default ~/.pgpass).
    pub fn for_url(url: &str, schema: &str) -> anyhow::Result<Target> {
        validate_schema_name(schema)?;
        let mut config = tokio_postgres::Config::from_str(url).map_err(|e| {
            BenchError::Config(redact(&format!(
                "invalid database URL {url}: {e} (expected postgres://user:password@host:port/db)"
            )))
        })?;
        if config.get_password().is_none() {
            if let Some(pw) = password_from_env_or_file(&config) {
                config.password(pw);
            }
        }
        Ok(Target {
            url: url.to_string(),
            schema: schema.to_string(),
            server: None,
            config,
        })
    }

    /// A target for an embedded server bench (or a test) started.
    pub fn for_server(server: EmbeddedServer, schema: &str) -> anyhow::Result<Target> {
        let mut t = Target::for_url(&server.url(), schema)?;
        t.server = Some(server);
        Ok(t)
    }

    /// A new connection with `search_path = <schema>, public` and `application_name =
    /// esp-bench`, and the future that performs its I/O: the caller polls it alongside its
    /// calls on the client (the query runner does, as pgbench's single loop does), or spawns it.
    pub async fn connect_driven(
        &self,
    ) -> anyhow::Result<(tokio_postgres::Client, ConnectionFuture)> {
        let cfg = self.session_config();
        let (client, conn) = cfg
            .connect(NoTls)
            .await
            .map_err(|e| self.connect_error(&pg_error_text(&e)))?;
        // Errors surface on the client's next call; nothing to do with them here.
        Ok((client, Box::pin(async move { drop(conn.await) })))
    }

    /// [`Target::connect_driven`] on a socket bench opens itself and shares with the
    /// connection's [`wire::Wire`], bench's own path for the measured executions.
    pub async fn connect_wire(
        &self,
    ) -> anyhow::Result<(tokio_postgres::Client, ConnectionFuture, wire::Wire)> {
        let cfg = self.session_config();
        let (stream, addr) = wire::open_socket(&cfg)
            .await
            .map_err(|e| self.connect_error(&e.to_string()))?;
        let (client, conn) = cfg
            .connect_raw(stream.clone(), NoTls)
            .await
            .map_err(|e| self.connect_error(&pg_error_text(&e)))?;
        Ok((
            client,
            Box::pin(async move { drop(conn.await) }),
            wire::Wire::new(stream, addr),
        ))
    }

    fn connect_error(&self, cause: &str) -> anyhow::Error {
        BenchError::Environment(format!(
            "cannot connect to {}: {}; check that the server is running and reachable \
             (without --database-url bench starts its own server)",
            self.display_url(),
            redact(cause)
        ))
        .into()
    }

    /// The configuration of a session: bench's schema first on the search path, and a
    /// connect timeout unless the URL sets one.
    fn session_config(&self) -> tokio_postgres::Config {
        let mut cfg = self.config.clone();
        cfg.application_name("esp-bench");
        let search_path = format!("-c search_path={},public", self.schema);
        let options = match cfg.get_options() {
            Some(o) if !o.trim().is_empty() => format!("{o} {search_path}"),
            _ => search_path,
        };
        cfg.options(options);
        if cfg.get_connect_timeout().is_none() {
            cfg.connect_timeout(Duration::from_secs(10));
        }
        cfg
    }

    /// [`Target::connect_driven`] with the connection's I/O on a task of its own.
    pub async fn connect(&self) -> anyhow::Result<tokio_postgres::Client> {
        let (client, conn) = self.connect_driven().await?;
        tokio::spawn(conn);
        Ok(client)
    }

    /// The URL with any password replaced by `***`; prefixed with "embedded" when bench runs
    /// the server.
    pub fn display_url(&self) -> String {
        let u = redact(&self.url);
        if self.server.is_some() {
            format!("embedded server {u}")
        } else {
            u
        }
    }

    pub fn is_embedded(&self) -> bool {
        self.server.is_some()
    }

    /// Stop the embedded server, if any, and remove its temporary directory.
    pub async fn close(mut self) -> anyhow::Result<()> {
        match self.server.take() {
            Some(s) => s.stop().await,
            None => Ok(()),
        }
    }
}

/// Password for a URL without one: `PGPASSWORD`, else the first matching line of the libpq
/// password file (`PGPASSFILE` or ~/.pgpass: host:port:database:user:password, `*` matches).
fn password_from_env_or_file(cfg: &tokio_postgres::Config) -> Option<String> {
    if let Ok(pw) = std::env::var("PGPASSWORD") {
        if !pw.is_empty() {
            return Some(pw);
        }
    }
    let path = match std::env::var_os("PGPASSFILE") {
        Some(p) => std::path::PathBuf::from(p),
        None => std::path::PathBuf::from(std::env::var_os("HOME")?).join(".pgpass"),
    };
    let text = std::fs::read_to_string(path).ok()?;
    let host = match cfg.get_hosts().first() {
        Some(tokio_postgres::config::Host::Tcp(h)) => h.clone(),
        Some(tokio_postgres::config::Host::Unix(p)) => p.display().to_string(),
        None => "localhost".to_string(),
    };
    let port = cfg.get_ports().first().copied().unwrap_or(5432).to_string();
    let user = cfg.get_user().unwrap_or("").to_string();
    let db = cfg.get_dbname().unwrap_or(&user).to_string();
    pgpass_lookup(&text, &host, &port, &db, &user)
}

fn pgpass_lookup(text: &str, host: &str, port: &str, db: &str, user: &str) -> Option<String> {
    for line in text.lines() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let mut fields = Vec::new();
        let mut cur = String::new();
        let mut chars = line.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => {
                    if let Some(n) = chars.next() {
                        cur.push(n);
                    }
                }
                ':' if fields.len() < 4 => fields.push(std::mem::take(&mut cur)),
                _ => cur.push(c),
            }
        }
        fields.push(cur);
        if fields.len() != 5 {
            continue;
        }
        let m = |pat: &str, v: &str| pat == "*" || pat == v;
        let host_ok = m(&fields[0], host)
            || (fields[0] == "localhost" && (host == "127.0.0.1" || host.starts_with('/')));
        if host_ok && m(&fields[1], port) && m(&fields[2], db) && m(&fields[3], user) {
            return Some(fields[4].clone());
        }
    }
    None
}

/// A schema name bench accepts: a lowercase SQL identifier that needs no quoting
/// (`[a-z_][a-z0-9_]*`, at most 63 bytes), not a system schema.
pub fn validate_schema_name(name: &str) -> Result<(), BenchError> {
    let mut chars = name.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_');
    let rest_ok = chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if !first_ok || !rest_ok || name.len() > 63 {
        return Err(BenchError::Config(format!(
            "invalid --schema {name:?}: use a lowercase identifier matching [a-z_][a-z0-9_]* \
             (at most 63 characters)"
        )));
    }
    if name.starts_with("pg_")
        || name == "information_schema"
        || name.starts_with("_timescaledb")
        || name == "timescaledb_information"
        || name == "timescaledb_experimental"
        || name == "toolkit_experimental"
    {
        return Err(BenchError::Config(format!(
            "invalid --schema {name:?}: that is a system or extension schema"
        )));
    }
    Ok(())
}

/// `"name"` with embedded quotes doubled: safe for any identifier.
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `'text'` with embedded quotes doubled, for the few statements that take no parameters
/// (COMMENT ON, SET).
pub fn quote_literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

#[cfg(test)]
mod tests {
    use super::{pgpass_lookup, validate_schema_name};

    #[test]
    fn pgpass_matches_fields_and_wildcards() {
        let file =
            "# comment\nother:5432:*:u:nope\n127.0.0.1:5433:db:u:first\n*:*:*:u:any\\:colon\n";
        assert_eq!(
            pgpass_lookup(file, "127.0.0.1", "5433", "db", "u").as_deref(),
            Some("first")
        );
        assert_eq!(
            pgpass_lookup(file, "h", "1", "d", "u").as_deref(),
            Some("any:colon")
        );
        assert_eq!(pgpass_lookup(file, "h", "1", "d", "v"), None);
    }

    #[test]
    fn schema_names_are_validated() {
        for ok in ["esp_bench", "_x", "bench2", "public"] {
            assert!(validate_schema_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "Esp",
            "a b",
            "a;b",
            "pg_temp",
            "_timescaledb_internal",
            "x\"y",
        ] {
            assert!(validate_schema_name(bad).is_err(), "{bad}");
        }
        assert!(validate_schema_name(&"a".repeat(64)).is_err());
    }
}
