//! Cold caches for `[run] cache = "cold" | "both"`: before a cold phase the embedded server is
//! restarted (shared_buffers empty) and the OS page cache dropped (`sync`, then
//! `echo 3 > /proc/sys/vm/drop_caches`), where permitted. Only bench's embedded server can be
//! restarted; what could not be done is said, never silently skipped.

use anyhow::Context;

use crate::db::Target;

/// Why cold phases cannot run on this run, or None when they can.
pub fn cold_refusal(target: &Target, live_ingest: bool, sharded: bool) -> Option<String> {
    if !target.is_embedded() {
        Some(
            "cache = cold: bench restarts only its own embedded server, not a server given by \
             --database-url; the phases ran with the caches as they were (hot)"
                .into(),
        )
    } else if live_ingest {
        Some(
            "cache = cold: a restart would break live ingest's connection mid-batch; with \
             [ingest] live the phases ran hot"
                .into(),
        )
    } else if sharded {
        Some(
            "cache = cold: a sharded run cannot restart the server under the other shards; the \
             phases ran hot"
                .into(),
        )
    } else {
        None
    }
}

/// Drop the OS page cache: `sync`, then write 3 to /proc/sys/vm/drop_caches. Err says why it
/// was not permitted.
pub fn drop_os_cache() -> Result<(), String> {
    nix::unistd::sync();
    std::fs::write("/proc/sys/vm/drop_caches", "3").map_err(|e| {
        format!(
            "writing /proc/sys/vm/drop_caches failed ({e}): it needs root on the host (not in an \
             unprivileged container)"
        )
    })
}

/// Make the caches cold before a phase: restart the embedded server, drop the OS page cache.
/// Returns a note when the OS cache could not be dropped.
pub async fn make_cold(target: &Target) -> anyhow::Result<Option<String>> {
    let server = target
        .server
        .as_ref()
        .context("cache = cold needs bench's embedded server")?;
    server
        .restart_shared()
        .await
        .context("restarting the embedded server for a cold phase")?;
    Ok(drop_os_cache().err().map(|why| {
        format!(
            "cache = cold: the OS page cache was not dropped: {why}; cold phases start with \
             empty shared_buffers but with the OS cache as the previous phase left it"
        )
    }))
}
