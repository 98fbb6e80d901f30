//! What a shard costs, and what sharding changes, on one embedded server:
//!
//! 1. CPU of a shard against the server's at a fixed query rate: `bench run` with fixed-rate
//!    phases and live ingest, CPU seconds of the bench process and of every PostgreSQL process
//!    (from /proc/<pid>/stat, the postmaster's children included) between the first query
//!    phase and the checks.
//! 2. N = 1: the same scenario unsharded and as `--shard 0/1`, alternated, p50/p95/p99 and
//!    throughput of every query side by side.
//!
//! Needs the release binary next to this example (`cargo build --release` first):
//!
//!     cargo build --release && cargo run --release --example shard_cpu -- --rate 200 --runs 2

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

use anyhow::{bail, Context};
use clap::Parser;
use esp_bench::server::{EmbeddedOptions, EmbeddedServer};

#[derive(Parser, Debug)]
struct Args {
    /// Fixed rate of the first phase, queries/s (agg_7d_well runs at a quarter of it).
    #[arg(long, default_value_t = 200.0)]
    rate: f64,
    /// Built-in query of the first phase (latest_24h returns 1,440 rows per execution;
    /// agg_7d_fleet or dashboard_hourly make the server do more per row returned).
    #[arg(long, default_value = "latest_24h")]
    query: String,
    /// Measured seconds per phase.
    #[arg(long, default_value_t = 20)]
    seconds: u64,
    /// Pairs of unsharded / --shard 0/1 runs for the N = 1 comparison, in ABBA order (so a
    /// drift of the machine does not favour one side).
    #[arg(long, default_value_t = 2)]
    runs: u32,
    /// Live ingest during the phases, rows/s (0: none, so the data does not grow between runs).
    #[arg(long, default_value_t = 500.0)]
    ingest: f64,
}

fn scenario(query: &str, rate: f64, seconds: u64, ingest: f64) -> String {
    let ingest = if ingest > 0.0 {
        format!("[ingest]\nrows_per_sec = {ingest}\nbatch_size = 100\n")
    } else {
        String::new()
    };
    format!(
        r#"[scenario]
name = "shardcpu"

[fleet]
wells = 100
sample_interval = "60s"
span = "8d"
end = "2026-01-01T00:00:00Z"
seed = 3

[load]
workers = 2
batch_size = 50000

{ingest}
[run]
warmup = "2s"
duration = "{seconds}s"
stats_interval = "1s"
statement_timeout = "10s"
state = "fresh"
reuse_data = true

[[queries]]
name = "{query}"
rate = {rate}
clients = 4

[[queries]]
name = "agg_7d_well"
rate = {quarter}
clients = 2

[checks]
chunk_counts = false
policies = false
retention = false
"#,
        quarter = rate / 4.0
    )
}

/// utime + stime (+ cutime + cstime with `children`) of `pid`, in clock ticks.
fn ticks(pid: u32, children: bool) -> u64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0;
    };
    let Some(close) = stat.rfind(')') else {
        return 0;
    };
    let f: Vec<u64> = stat[close + 2..]
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0))
        .collect();
    // Fields after the command: state(0) ppid(1) ... utime(11) stime(12) cutime(13) cstime(14).
    let own = f.get(11).copied().unwrap_or(0) + f.get(12).copied().unwrap_or(0);
    if children {
        own + f.get(13).copied().unwrap_or(0) + f.get(14).copied().unwrap_or(0)
    } else {
        own
    }
}

fn ppid(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let close = stat.rfind(')')?;
    stat[close + 2..].split_whitespace().nth(1)?.parse().ok()
}

/// CPU ticks of the postmaster and all its live children (exited ones are in its cutime).
fn server_ticks(postmaster: u32) -> u64 {
    let mut total = ticks(postmaster, true);
    if let Ok(entries) = std::fs::read_dir("/proc") {
        for e in entries.flatten() {
            if let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) {
                if ppid(pid) == Some(postmaster) {
                    total += ticks(pid, false);
                }
            }
        }
    }
    total
}

struct Measured {
    bench_s: f64,
    server_s: f64,
    summary: esp_bench::report::model::Summary,
}

fn run_once(
    bin: &Path,
    scenario: &Path,
    url: &str,
    out: &Path,
    shard: bool,
    postmaster: u32,
) -> anyhow::Result<Measured> {
    let mut cmd = Command::new(bin);
    cmd.args([
        "run",
        scenario.to_str().unwrap(),
        "--database-url",
        url,
        "--out",
    ])
    .arg(out)
    .env_remove("DATABASE_URL")
    .stdout(Stdio::null())
    .stderr(Stdio::piped());
    if shard {
        cmd.args(["--shard", "0/1"]);
    }
    let mut child = cmd.spawn().context("spawning bench")?;
    let pid = child.id();
    let hz = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)?.unwrap_or(100) as f64;
    let marks: Arc<Mutex<Vec<(u64, u64)>>> = Arc::default();
    let m = marks.clone();
    let stderr = child.stderr.take().context("stderr")?;
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            // The window: from the first query phase to the checks.
            let first_phase = line.contains("] query phase ") && m.lock().unwrap().is_empty();
            if first_phase || line.contains("] running checks") {
                m.lock()
                    .unwrap()
                    .push((ticks(pid, false), server_ticks(postmaster)));
            }
        }
    });
    let status = child.wait()?;
    let _ = reader.join();
    if !status.success() && status.code() != Some(1) {
        bail!("bench run failed: {status}");
    }
    let marks = marks.lock().unwrap().clone();
    if marks.len() < 2 {
        bail!("did not see the query phases start and end");
    }
    let summary = esp_bench::report::read_summary(&out.join("summary.json"))?;
    Ok(Measured {
        bench_s: (marks[1].0 - marks[0].0) as f64 / hz,
        server_s: (marks[1].1 - marks[0].1) as f64 / hz,
        summary,
    })
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let bin = std::env::current_exe()?
        .parent()
        .and_then(Path::parent)
        .map(|d| d.join("bench"))
        .context("locating the bench binary")?;
    if !bin.exists() {
        bail!(
            "{} not found: run `cargo build --release` first",
            bin.display()
        );
    }
    let server = EmbeddedServer::start(EmbeddedOptions::default()).await?;
    let url = server.url();
    let postmaster = server.postmaster_pid();
    let dir = tempfile::tempdir()?;
    let scen: PathBuf = dir.path().join("shardcpu.toml");
    std::fs::write(
        &scen,
        scenario(&args.query, args.rate, args.seconds, args.ingest),
    )?;
    println!(
        "scenario: 100 wells x 8 d x 60 s; {} at {} q/s (4 clients), agg_7d_well at {} q/s \
         (2 clients), live ingest {} rows/s; {} s per phase",
        args.query,
        args.rate,
        args.rate / 4.0,
        args.ingest,
        args.seconds
    );
    let mut rows = Vec::new();
    for i in 0..args.runs * 2 {
        // ABBA: unsharded, sharded, sharded, unsharded, ...
        let shard = matches!(i % 4, 1 | 2);
        let out = dir.path().join(format!("r{i}"));
        let m = run_once(&bin, &scen, &url, &out, shard, postmaster)?;
        println!(
            "run {i} ({}): bench CPU {:.2} s, server CPU {:.2} s: bench = {:.1}% of the server",
            if shard { "--shard 0/1" } else { "unsharded" },
            m.bench_s,
            m.server_s,
            100.0 * m.bench_s / m.server_s.max(1e-9)
        );
        rows.push((shard, m));
    }
    println!(
        "\n{:<12} {:<12} {:>9} {:>9} {:>9} {:>9} {:>8}",
        "mode", "query", "p50_ms", "p95_ms", "p99_ms", "qps", "count"
    );
    for (shard, m) in &rows {
        for q in &m.summary.queries {
            println!(
                "{:<12} {:<12} {:>9.3} {:>9.3} {:>9.3} {:>9.1} {:>8}",
                if *shard { "shard 0/1" } else { "unsharded" },
                q.name,
                q.latency_ms.p50,
                q.latency_ms.p95,
                q.latency_ms.p99,
                q.throughput_qps,
                q.count
            );
        }
    }
    server.stop().await?;
    Ok(())
}
