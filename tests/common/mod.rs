//! Shared helpers for integration tests: an embedded PostgreSQL+TimescaleDB server per test,
//! a `Target` on it, and checks that nothing is left behind.
//!
//! Each server costs an initdb (a second or two). Use one per test; call `stop()` (or
//! `close()` on the target) at the end so the test also proves the cleanup.
#![allow(dead_code)]

pub mod summary;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use esp_bench::db::Target;
use esp_bench::server::{EmbeddedOptions, EmbeddedServer};

/// Settings for test servers: small memory and no flushes, so many can run in parallel.
/// (Durability of a throwaway test cluster does not matter.)
pub fn test_settings() -> BTreeMap<String, String> {
    [
        ("shared_buffers", "128MB"),
        ("effective_cache_size", "512MB"),
        ("fsync", "off"),
        ("synchronous_commit", "off"),
        ("full_page_writes", "off"),
        ("max_connections", "60"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// A fresh embedded server with [`test_settings`].
pub async fn server() -> EmbeddedServer {
    server_with(BTreeMap::new()).await
}

/// A fresh embedded server with [`test_settings`] overridden by `extra`.
pub async fn server_with(extra: BTreeMap<String, String>) -> EmbeddedServer {
    let mut settings = test_settings();
    settings.extend(extra);
    EmbeddedServer::start(EmbeddedOptions {
        settings,
        ..Default::default()
    })
    .await
    .unwrap_or_else(|e| panic!("embedded server failed to start: {e:#}"))
}

/// A target (schema `esp_bench`) on a fresh embedded server. `target.close()` stops it.
pub async fn target() -> Target {
    target_in("esp_bench").await
}

/// A target with bench's schema named `schema` on a fresh embedded server.
pub async fn target_in(schema: &str) -> Target {
    Target::for_server(server().await, schema).expect("target for the embedded server")
}

/// What to check after a server is gone.
#[derive(Debug, Clone)]
pub struct Leftovers {
    pub pid: u32,
    pub run_dir: PathBuf,
}

impl Leftovers {
    pub fn of(server: &EmbeddedServer) -> Leftovers {
        Leftovers {
            pid: server.postmaster_pid(),
            run_dir: server.run_dir().to_path_buf(),
        }
    }

    /// Assert the postmaster has exited and the temporary directory is gone.
    pub fn assert_gone(&self) {
        assert!(
            wait_until_gone(self.pid, Duration::from_secs(30)),
            "postmaster {} still running",
            self.pid
        );
        assert!(
            !self.run_dir.exists(),
            "temporary directory {} left behind",
            self.run_dir.display()
        );
    }
}

/// Is `pid` a live (non-zombie) process? Zombies count as gone: in a container the reaper
/// may be slow or absent.
pub fn pid_running(pid: u32) -> bool {
    if pid == 0 {
        return false;
    }
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => false,
        Ok(stat) => {
            // "pid (comm) S ...": the state follows the last ')'.
            let state = stat
                .rfind(')')
                .and_then(|i| stat[i + 1..].split_whitespace().next())
                .unwrap_or("");
            state != "Z" && state != "X"
        }
    }
}

/// Poll until `pid` is gone; false if still running after `timeout`.
pub fn wait_until_gone(pid: u32, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while pid_running(pid) {
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    true
}

/// PIDs of running postgres processes whose command line mentions `needle` (a port argument
/// or a directory).
pub fn postgres_pids_mentioning(needle: &str) -> Vec<u32> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return out;
    };
    for e in entries.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(cmd) = std::fs::read(e.path().join("cmdline")) else {
            continue;
        };
        let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
        if cmd.contains("postgres") && cmd.contains(needle) && pid_running(pid) {
            out.push(pid);
        }
    }
    out
}

/// Embedded-server run directories in the temp dir whose owner.pid is `owner`.
pub fn run_dirs_of(owner: u32) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return out;
    };
    for e in entries.flatten() {
        let name = e.file_name();
        if !name.to_string_lossy().starts_with("esp-bench-pg.") {
            continue;
        }
        let owner_file = e.path().join("owner.pid");
        if std::fs::read_to_string(&owner_file)
            .ok()
            .and_then(|s| s.trim().parse::<u32>().ok())
            == Some(owner)
        {
            out.push(e.path());
        }
    }
    out
}

/// The postmaster PID recorded in a cluster's postmaster.pid, if the file exists.
pub fn postmaster_pid_in(data_dir: &Path) -> Option<u32> {
    std::fs::read_to_string(data_dir.join("postmaster.pid"))
        .ok()?
        .lines()
        .next()?
        .trim()
        .parse()
        .ok()
}

/// A loopback port with nothing listening on it (bound, then closed).
pub fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    l.local_addr().expect("local addr").port()
}

/// Environment variable naming a directory of PostgreSQL server binaries (`postgres`,
/// `initdb`) whose TimescaleDB is the community (TSL) edition, production's. Tests of the
/// community tier run only when it is set; without it each prints one visible SKIPPED line.
pub const COMMUNITY_ENV: &str = "ESP_BENCH_COMMUNITY_PG_BIN";

/// The community-edition binaries, or `None` after printing
/// `SKIPPED: needs community edition: <test>` straight to stderr (past the test harness's
/// output capture, so the line shows in `make test`).
pub fn community_bin(test: &str) -> Option<PathBuf> {
    use std::io::Write as _;
    let dir = std::env::var_os(COMMUNITY_ENV)
        .filter(|d| !d.is_empty())
        .map(PathBuf::from);
    match dir {
        Some(d) if d.join("postgres").is_file() => Some(d),
        Some(d) => panic!(
            "{COMMUNITY_ENV}={} has no `postgres` binary: point it at the bin directory of a \
             PostgreSQL installation with community TimescaleDB",
            d.display()
        ),
        None => {
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED: needs community edition: {test} (set {COMMUNITY_ENV} to the bin \
                 directory of a PostgreSQL with community TimescaleDB)"
            );
            None
        }
    }
}

/// A fresh embedded server on the community binaries in `bin`, with [`test_settings`]
/// overridden by `extra`.
pub async fn community_server_with(bin: &Path, extra: BTreeMap<String, String>) -> EmbeddedServer {
    let mut settings = test_settings();
    settings.extend(extra);
    let server = EmbeddedServer::start(EmbeddedOptions {
        bin_dir: Some(bin.to_path_buf()),
        settings,
        ..Default::default()
    })
    .await
    .unwrap_or_else(|e| panic!("community embedded server failed to start: {e:#}"));
    server
}

/// A target (schema `esp_bench`) on a fresh community-edition embedded server.
pub async fn community_target(bin: &Path) -> Target {
    Target::for_server(
        community_server_with(bin, BTreeMap::new()).await,
        "esp_bench",
    )
    .expect("target for the community embedded server")
}
