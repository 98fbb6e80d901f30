//! Embedded (throwaway) PostgreSQL + TimescaleDB cluster lifecycle.
//!
//! `EmbeddedServer::start` runs `initdb` into a private temporary directory (or `--data-dir`,
//! reused when it already holds a cluster), then spawns `postgres` directly as a child so the
//! postmaster PID is ours. The server listens on a free 127.0.0.1 port (password auth with a
//! per-run generated password) and on a Unix socket in a private 0700 directory (trust auth,
//! used for bootstrapping). When bench runs as root, initdb and postgres run as the `postgres`
//! OS user (PostgreSQL refuses to run as root); without such a user start fails with a clear
//! message. The postmaster gets `PR_SET_PDEATHSIG`, set after the uid switch, so even a
//! SIGKILLed bench cannot orphan it; `stop()`, `Drop` and Ctrl-C (through normal unwinding)
//! stop it and remove the temporary directory.

mod proc;
mod settings;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context};
use tokio_postgres::NoTls;

use crate::error::BenchError;
use proc::{Postmaster, RunAs};
pub use settings::{default_settings, merge_settings, parse_setting, DEFAULT_SETTINGS_DOC};

/// Name of the database bench creates inside an embedded cluster.
pub const EMBEDDED_DATABASE: &str = "esp_bench";
/// Superuser created by initdb in an embedded cluster.
pub const EMBEDDED_USER: &str = "postgres";

const FIX_HINT: &str = "run `make setup` (installs PostgreSQL and TimescaleDB), pass \
--pg-bin-dir DIR, or use an existing server with --database-url URL (for example \
`docker compose up -d`, see README)";

/// How to start an embedded server.
#[derive(Debug, Clone, Default)]
pub struct EmbeddedOptions {
    /// Directory with `postgres` and `initdb`; default: newest /usr/lib/postgresql/*/bin, else PATH.
    pub bin_dir: Option<PathBuf>,
    /// Keep the cluster here (created if missing, reused if it holds a cluster).
    pub data_dir: Option<PathBuf>,
    /// Settings layered over [`default_settings`] (scenario first, then CLI).
    pub settings: BTreeMap<String, String>,
}

/// A running embedded cluster. Stop it with [`EmbeddedServer::stop`]; dropping it stops it too
/// (immediate shutdown) and removes the temporary directory.
pub struct EmbeddedServer {
    bin_dir: PathBuf,
    run_dir: Option<tempfile::TempDir>,
    run_dir_path: PathBuf,
    data_dir: PathBuf,
    socket_dir: PathBuf,
    log_path: PathBuf,
    keep_data: bool,
    port: u16,
    password: String,
    settings: BTreeMap<String, String>,
    run_as: Option<RunAs>,
    /// Behind a lock so a cold-cache restart (`restart_shared`) works through `&self`.
    postmaster: std::sync::Mutex<Option<Postmaster>>,
}

impl std::fmt::Debug for EmbeddedServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedServer")
            .field("port", &self.port)
            .field("data_dir", &self.data_dir)
            .field("pid", &self.postmaster_pid())
            .finish_non_exhaustive()
    }
}

impl EmbeddedServer {
    /// initdb (unless reusing `data_dir`), start postgres, wait until it accepts connections,
    /// create database `esp_bench` and the timescaledb extension in it.
    pub async fn start(opts: EmbeddedOptions) -> anyhow::Result<EmbeddedServer> {
        let bin_dir = find_bin_dir(opts.bin_dir.as_deref())?;
        check_timescaledb_files(&bin_dir)?;
        let run_as = RunAs::detect()?;
        proc::remove_stale_run_dirs();

        let run_dir = tempfile::Builder::new()
            .prefix(proc::RUN_DIR_PREFIX)
            .tempdir()
            .context("cannot create a temporary directory for the embedded server")?;
        let run_dir_path = run_dir.path().to_path_buf();
        std::fs::write(
            run_dir_path.join("owner.pid"),
            std::process::id().to_string(),
        )
        .context("cannot write owner.pid in the embedded server's directory")?;
        let socket_dir = run_dir_path.join("socket");
        std::fs::create_dir(&socket_dir)
            .with_context(|| format!("cannot create {}", socket_dir.display()))?;
        let log_path = run_dir_path.join("postgres.log");
        if let Some(ra) = &run_as {
            ra.chown(&run_dir_path)?;
            ra.chown(&socket_dir)?;
        }

        let (data_dir, keep_data) = match &opts.data_dir {
            Some(d) => {
                let abs = std::path::absolute(d)
                    .with_context(|| format!("invalid --data-dir {}", d.display()))?;
                (abs, true)
            }
            None => (run_dir_path.join("data"), false),
        };

        let mut settings = merge_settings(&default_settings(), &opts.settings);
        settings::ensure_timescaledb_preloaded(&mut settings);

        let password = proc::random_password();
        let mut server = EmbeddedServer {
            bin_dir,
            run_dir: Some(run_dir),
            run_dir_path,
            data_dir,
            socket_dir,
            log_path,
            keep_data,
            port: 0,
            password,
            settings,
            run_as,
            postmaster: std::sync::Mutex::new(None),
        };
        // On any error below, `server` is dropped: its Drop stops postgres and removes the dir.
        server.init_cluster().await?;
        server.launch_on_free_port().await?;
        server.bootstrap().await?;
        Ok(server)
    }

    /// `postgres://postgres:<password>@127.0.0.1:PORT/esp_bench` (TCP on loopback). Holds the
    /// generated password: never print it unredacted.
    pub fn url(&self) -> String {
        format!(
            "postgres://{EMBEDDED_USER}:{}@127.0.0.1:{}/{EMBEDDED_DATABASE}",
            self.password, self.port
        )
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// PID of the postmaster (0 when stopped).
    pub fn postmaster_pid(&self) -> u32 {
        self.lock_postmaster()
            .as_ref()
            .map(|p| p.pid())
            .unwrap_or(0)
    }

    fn lock_postmaster(&self) -> std::sync::MutexGuard<'_, Option<Postmaster>> {
        self.postmaster.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn take_postmaster(&self) -> Option<Postmaster> {
        self.lock_postmaster().take()
    }

    /// The temporary directory holding socket, log and (without --data-dir) the cluster.
    /// Removed by `stop()`/`Drop`.
    pub fn run_dir(&self) -> &Path {
        &self.run_dir_path
    }

    /// The cluster's data directory: inside `run_dir()` unless `--data-dir` was given.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// True when the cluster lives in a user-given `--data-dir`, which `stop()` keeps.
    pub fn keeps_data(&self) -> bool {
        self.keep_data
    }

    pub fn socket_dir(&self) -> &Path {
        &self.socket_dir
    }

    /// The server log (stderr of the postmaster), inside `run_dir()`.
    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// The last `lines` lines of the server log, for error messages after a crash.
    pub fn log_tail(&self, lines: usize) -> String {
        tail_lines(&proc::read_log_from(&self.log_path, 0), lines)
    }

    /// The effective settings the server was started with (defaults, scenario, CLI).
    pub fn settings(&self) -> &BTreeMap<String, String> {
        &self.settings
    }

    /// Fast shutdown, then start again on the same port and data directory (fault tests).
    pub async fn restart(&mut self) -> anyhow::Result<()> {
        self.restart_shared().await
    }

    /// [`EmbeddedServer::restart`] through a shared reference: a cold-cache phase
    /// (`[run] cache = "cold"`) restarts the server mid-run to empty shared_buffers. Every
    /// connection to it is closed by the restart.
    pub async fn restart_shared(&self) -> anyhow::Result<()> {
        if let Some(pm) = self.take_postmaster() {
            pm.stop_fast().await?;
        }
        let port = self.port;
        self.launch_same_port()
            .await
            .with_context(|| format!("restarting the embedded server on port {port}"))
    }

    /// Fast shutdown and removal of the temporary directory (the --data-dir cluster is kept).
    pub async fn stop(mut self) -> anyhow::Result<()> {
        let result = match self.take_postmaster() {
            Some(pm) => pm.stop_fast().await,
            None => Ok(()),
        };
        let cleanup = self.remove_run_dir();
        result.and(cleanup)
    }

    fn remove_run_dir(&mut self) -> anyhow::Result<()> {
        if let Some(dir) = self.run_dir.take() {
            let path = dir.path().to_path_buf();
            dir.close()
                .with_context(|| format!("cannot remove {}", path.display()))?;
        }
        Ok(())
    }

    async fn init_cluster(&mut self) -> anyhow::Result<()> {
        if self.data_dir.join("PG_VERSION").exists() {
            return Ok(()); // reuse an existing --data-dir cluster
        }
        if !self.data_dir.exists() {
            std::fs::create_dir_all(&self.data_dir)
                .with_context(|| format!("cannot create data dir {}", self.data_dir.display()))?;
        }
        if let Some(ra) = &self.run_as {
            ra.chown(&self.data_dir)?;
        }
        let pwfile = self.run_dir_path.join("pwfile");
        std::fs::write(&pwfile, format!("{}\n", self.password))
            .context("cannot write initdb's password file")?;
        if let Some(ra) = &self.run_as {
            ra.chown(&pwfile)?;
        }
        let mut cmd = tokio::process::Command::new(self.bin_dir.join("initdb"));
        cmd.arg("-D")
            .arg(&self.data_dir)
            .args([
                "-U",
                EMBEDDED_USER,
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
            ])
            .args(["--auth-local=trust", "--auth-host=scram-sha-256"])
            .arg(format!("--pwfile={}", pwfile.display()))
            .current_dir(&self.run_dir_path)
            .env_remove("PGDATA")
            .stdin(std::process::Stdio::null())
            // Own process group: a terminal Ctrl-C reaches bench, which then stops cleanly.
            .process_group(0)
            .kill_on_drop(true);
        if let Some(ra) = &self.run_as {
            cmd.uid(ra.uid).gid(ra.gid);
        }
        let out = cmd
            .output()
            .await
            .with_context(|| format!("cannot run {}", self.bin_dir.join("initdb").display()))?;
        let _ = std::fs::remove_file(&pwfile);
        if !out.status.success() {
            if crate::shutdown::token().is_cancelled() {
                return Err(BenchError::Interrupted.into());
            }
            let mut msg = String::from_utf8_lossy(&out.stderr).into_owned();
            msg.push_str(&String::from_utf8_lossy(&out.stdout));
            return Err(BenchError::Environment(format!(
                "initdb into {} failed ({}):\n{}",
                self.data_dir.display(),
                out.status,
                tail_lines(&msg, 20)
            ))
            .into());
        }
        Ok(())
    }

    async fn launch_on_free_port(&mut self) -> anyhow::Result<()> {
        let mut last_err = None;
        for _ in 0..5 {
            let port = proc::free_port()?;
            match self.launch(port).await {
                Ok(()) => return Ok(()),
                Err(e) if proc::is_port_conflict(&e) => last_err = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last_err.unwrap_or_else(|| anyhow!("no free port found")))
    }

    /// Spawn the postmaster on `port` and wait until it accepts connections.
    async fn launch(&mut self, port: u16) -> anyhow::Result<()> {
        self.port = port;
        self.launch_same_port().await
    }

    /// Spawn the postmaster on `self.port` and wait until it accepts connections.
    async fn launch_same_port(&self) -> anyhow::Result<()> {
        let port = self.port;
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log_path)
            .with_context(|| format!("cannot open {}", self.log_path.display()))?;
        let log_offset = log.metadata().map(|m| m.len()).unwrap_or(0);
        let mut args: Vec<String> = vec!["-D".into(), self.data_dir.display().to_string()];
        let fixed = [
            ("port", port.to_string()),
            ("listen_addresses", "127.0.0.1".to_string()),
            (
                "unix_socket_directories",
                self.socket_dir.display().to_string(),
            ),
            ("logging_collector", "off".to_string()),
        ];
        for (k, v) in fixed.iter() {
            args.push("-c".into());
            args.push(format!("{k}={v}"));
        }
        for (k, v) in &self.settings {
            args.push("-c".into());
            args.push(format!("{k}={v}"));
        }
        let pm = Postmaster::spawn(
            &self.bin_dir.join("postgres"),
            &args,
            &self.run_dir_path,
            log,
            self.run_as.clone(),
        )?;
        let pid = pm.pid();
        *self.lock_postmaster() = Some(pm);
        self.wait_ready(log_offset).await.map_err(|e| {
            if crate::error::is_interrupted(&e) {
                e
            } else {
                e.context(format!(
                    "embedded PostgreSQL (pid {pid}, port {port}) did not start"
                ))
            }
        })
    }

    async fn wait_ready(&self, log_offset: u64) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(90);
        let token = crate::shutdown::token();
        loop {
            let exited = self
                .lock_postmaster()
                .as_ref()
                .map(|p| p.exit_status())
                .unwrap_or(Some("not started".into()));
            if let Some(status) = exited {
                drop(self.take_postmaster());
                let log = proc::read_log_from(&self.log_path, log_offset);
                return Err(classify_start_failure(&status, &log));
            }
            match self.socket_client("postgres").await {
                Ok(_) => return Ok(()),
                Err(e) if Instant::now() > deadline => {
                    let log = proc::read_log_from(&self.log_path, log_offset);
                    return Err(anyhow!(
                        "not accepting connections after 90 s ({e}); server log:\n{}",
                        tail_lines(&log, 20)
                    ));
                }
                Err(_) => {}
            }
            if token.is_cancelled() {
                return Err(BenchError::Interrupted.into());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// A superuser connection over the private Unix socket (trust auth).
    async fn socket_client(&self, dbname: &str) -> anyhow::Result<tokio_postgres::Client> {
        let mut cfg = tokio_postgres::Config::new();
        cfg.host_path(&self.socket_dir)
            .port(self.port)
            .user(EMBEDDED_USER)
            .dbname(dbname)
            .application_name("esp-bench")
            .connect_timeout(Duration::from_secs(5));
        let (client, conn) = cfg.connect(NoTls).await?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(client)
    }

    /// Set the TCP password, create the database and the extension (idempotent, for reuse).
    async fn bootstrap(&self) -> anyhow::Result<()> {
        let admin = self
            .socket_client("postgres")
            .await
            .context("connecting to the embedded server's socket")?;
        // The password is alphanumeric (generated), so it needs no escaping.
        admin
            .batch_execute(&format!(
                "ALTER ROLE {EMBEDDED_USER} PASSWORD '{}'",
                self.password
            ))
            .await
            .context("setting the embedded server's password")?;
        let exists = admin
            .query_opt(
                "SELECT 1 FROM pg_database WHERE datname = $1",
                &[&EMBEDDED_DATABASE],
            )
            .await
            .context("checking for the bench database")?
            .is_some();
        if !exists {
            admin
                .batch_execute(&format!("CREATE DATABASE {EMBEDDED_DATABASE}"))
                .await
                .context("creating the bench database")?;
        }
        let db = self
            .socket_client(EMBEDDED_DATABASE)
            .await
            .context("connecting to the bench database")?;
        db.batch_execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
            .await
            .map_err(|e| {
                BenchError::Environment(format!(
                    "CREATE EXTENSION timescaledb failed in the embedded server: {}; {FIX_HINT}",
                    crate::error::pg_error_text(&e)
                ))
            })?;
        Ok(())
    }
}

impl Drop for EmbeddedServer {
    fn drop(&mut self) {
        if let Some(pm) = self.take_postmaster() {
            pm.stop_now();
        }
        if let Err(e) = self.remove_run_dir() {
            eprintln!("warning: {e:#}");
        }
    }
}

/// Locate `postgres` and `initdb`. Explicit dir first, then the newest
/// /usr/lib/postgresql/<major>/bin, then `postgres` on PATH.
pub fn find_bin_dir(explicit: Option<&Path>) -> anyhow::Result<PathBuf> {
    let has_bins = |d: &Path| d.join("postgres").is_file() && d.join("initdb").is_file();
    if let Some(d) = explicit {
        if has_bins(d) {
            return Ok(d.to_path_buf());
        }
        return Err(BenchError::Environment(format!(
            "--pg-bin-dir {} does not contain the PostgreSQL server binaries postgres and initdb; {FIX_HINT}",
            d.display()
        ))
        .into());
    }
    let mut majors: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let major = e.file_name().to_str()?.parse::<u32>().ok()?;
            Some((major, e.path().join("bin")))
        })
        .filter(|(_, bin)| has_bins(bin))
        .collect();
    majors.sort();
    if let Some((_, bin)) = majors.pop() {
        return Ok(bin);
    }
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            let candidate = dir.join("postgres");
            if candidate.is_file() {
                let real = std::fs::canonicalize(&candidate).unwrap_or(candidate);
                if let Some(parent) = real.parent() {
                    if has_bins(parent) {
                        return Ok(parent.to_path_buf());
                    }
                }
                if has_bins(&dir) {
                    return Ok(dir);
                }
            }
        }
    }
    Err(BenchError::Environment(format!(
        "PostgreSQL server binaries (postgres, initdb) not found in /usr/lib/postgresql/*/bin or on PATH; {FIX_HINT}"
    ))
    .into())
}

/// Fail early, with the fix, when the timescaledb library is missing for these binaries.
/// Only checks when the library directory can be determined; otherwise startup reports it.
fn check_timescaledb_files(bin_dir: &Path) -> anyhow::Result<()> {
    let mut lib_dirs = Vec::new();
    let pg_config = bin_dir.join("pg_config");
    if pg_config.is_file() {
        if let Ok(out) = std::process::Command::new(&pg_config)
            .arg("--pkglibdir")
            .output()
        {
            if out.status.success() {
                let s = String::from_utf8_lossy(&out.stdout).trim().to_string();
                if !s.is_empty() {
                    lib_dirs.push(PathBuf::from(s));
                }
            }
        }
    }
    if let Some(parent) = bin_dir.parent() {
        lib_dirs.push(parent.join("lib"));
    }
    let existing: Vec<&PathBuf> = lib_dirs.iter().filter(|d| d.is_dir()).collect();
    if existing.is_empty() {
        return Ok(());
    }
    let found = existing.iter().any(|d| d.join("timescaledb.so").is_file());
    if found {
        return Ok(());
    }
    Err(BenchError::Environment(format!(
        "the TimescaleDB extension is not installed for the PostgreSQL server in {} (no timescaledb.so in {}); {FIX_HINT}",
        bin_dir.display(),
        existing
            .iter()
            .map(|d| d.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    ))
    .into())
}

fn classify_start_failure(status: &str, log: &str) -> anyhow::Error {
    let tail = tail_lines(log, 20);
    if log.contains("could not access file \"timescaledb\"") {
        return BenchError::Environment(format!(
            "PostgreSQL could not load the timescaledb library; {FIX_HINT}\nserver log:\n{tail}"
        ))
        .into();
    }
    if log.contains("could not bind") || log.contains("Address already in use") {
        return anyhow::Error::new(proc::PortConflict(tail));
    }
    BenchError::Environment(format!(
        "the embedded postgres exited during startup ({status}); server log:\n{tail}"
    ))
    .into()
}

fn tail_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let start = lines.len().saturating_sub(n);
    lines[start..].join("\n")
}

#[cfg(test)]
mod tests;
