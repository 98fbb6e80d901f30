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

/// The machine's total memory in bytes (the kernel's `sysinfo`, what /proc/meminfo's
/// MemTotal reports).
pub fn memory_bytes() -> Option<u64> {
    nix::sys::sysinfo::sysinfo().ok().map(|i| i.ram_total())
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
    fn memory_is_known() {
        let bytes = memory_bytes().expect("sysinfo answers on Linux");
        // The kernel reports the same figure in /proc/meminfo, in kB.
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap();
        let kb: u64 = meminfo
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap();
        assert_eq!(bytes, kb * 1024);
    }
}
