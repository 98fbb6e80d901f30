//! The facts of the machine and server a run measured on, for summary.json's `environment`:
//! versions and edition (from `db::detect`), embedded or external, cores, memory, OS, and the
//! benchmark-relevant settings.

use std::collections::BTreeMap;

use anyhow::Context as _;

use crate::db::detect::ServerInfo;
use crate::db::Target;
use crate::model::report::Environment;

/// Detect the server on `client` and gather the run's environment: the start of every run,
/// leader or follower.
pub(crate) async fn detect(
    client: &tokio_postgres::Client,
    target: &Target,
) -> anyhow::Result<(ServerInfo, Environment)> {
    let info = crate::db::detect::detect(client)
        .await
        .context("detecting the server's PostgreSQL and TimescaleDB versions")?;
    let settings = crate::db::detect::reported_settings(client).await?;
    let environment = environment(&info, target, settings);
    Ok((info, environment))
}

pub(crate) fn environment(
    info: &crate::db::detect::ServerInfo,
    target: &Target,
    settings: BTreeMap<String, String>,
) -> Environment {
    Environment {
        postgres_version: info.postgres_version.clone(),
        timescaledb_version: info.timescaledb_version.clone(),
        edition: info.edition.to_string(),
        server: if target.is_embedded() {
            "embedded".into()
        } else {
            "external".into()
        },
        cores: std::thread::available_parallelism()
            .map(|n| n.get() as u32)
            .unwrap_or(1),
        memory_bytes: memory_bytes().unwrap_or(0),
        os: os_description(),
        settings,
        shards: Vec::new(),
    }
}

/// `MemTotal` from /proc/meminfo, bytes.
pub fn memory_bytes() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    parse_meminfo(&text)
}

fn parse_meminfo(text: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

fn os_description() -> String {
    match nix::sys::utsname::uname() {
        Ok(u) => format!(
            "{} {} {}",
            u.sysname().to_string_lossy(),
            u.release().to_string_lossy(),
            u.machine().to_string_lossy()
        ),
        Err(_) => std::env::consts::OS.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meminfo_parses() {
        assert_eq!(
            parse_meminfo("MemTotal:       16318480 kB\nMemFree: 1 kB\n"),
            Some(16318480 * 1024)
        );
        assert_eq!(parse_meminfo("nothing"), None);
    }
}
