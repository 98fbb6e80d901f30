//! Ingest benchmark (`make bench-ingest`): the same telemetry rows loaded into freshly created
//! `esp_telemetry` tables (all production indexes) on one server, three ways:
//!
//! 1. `psql \copy ... (FORMAT binary)` from a file pre-generated with bench's encoder,
//! 2. `psql \copy ... (FORMAT csv)` from a pre-generated CSV file,
//! 3. bench's loader (`load::load_all`: parallel binary COPY with the ledger).
//!
//! Prints rows/s of each and the ratio bench / psql-binary. File generation is not timed;
//! bench's figure includes generating and encoding the rows as it loads (its telemetry phase).
//! Without --database-url (or DATABASE_URL) an embedded throwaway server is started.
//!
//!     cargo run --release --example bench_ingest -- --rows 3000000 --workers 2

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Context};
use bytes::BytesMut;
use clap::Parser;
use esp_bench::datagen::{encode, Fleet, TELEMETRY_COLUMNS, TELEMETRY_TABLE};
use esp_bench::db::{detect, quote_ident, schema, Target};
use esp_bench::load::{self, LoadOptions, ProgressMode};
use esp_bench::scenario::{self, Plan};
use esp_bench::server::{EmbeddedOptions, EmbeddedServer};

#[derive(Parser, Debug)]
#[command(about = "bench load vs psql \\copy (binary, CSV) into esp_telemetry")]
struct Args {
    /// Telemetry rows to load (approximately: whole samples of 50 wells at 10 s).
    #[arg(long, default_value_t = 3_000_000)]
    rows: u64,
    /// bench loader workers.
    #[arg(long, default_value_t = 2)]
    workers: u32,
    /// bench loader batch size (rows per COPY transaction).
    #[arg(long, default_value_t = 100_000)]
    batch_size: u32,
    /// Runs of each method; the best (fastest) run of each is reported.
    #[arg(long, default_value_t = 1)]
    repeat: u32,
    /// Existing server (postgres://...); default: an embedded throwaway server.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,
    /// Schema bench creates and drops for the benchmark.
    #[arg(long, default_value = "esp_bench_ingest")]
    schema: String,
    /// psql client binary.
    #[arg(long, default_value = "psql")]
    psql: PathBuf,
    /// Directory for the pre-generated files (default: a temporary directory).
    #[arg(long)]
    work_dir: Option<PathBuf>,
}

const WELLS: u64 = 50;
const INTERVAL_S: u64 = 10;

fn plan(rows: u64, workers: u32, batch_size: u32) -> anyhow::Result<Plan> {
    let samples = rows.div_ceil(WELLS).max(1);
    let toml = format!(
        r#"
[scenario]
name = "bench-ingest"
[fleet]
wells = {WELLS}
sample_interval = "{INTERVAL_S}s"
span = "{}s"
end = "2026-01-01T00:00:00Z"
seed = 1
[load]
workers = {workers}
batch_size = {batch_size}
max_retries = 5
"#,
        samples * INTERVAL_S
    );
    Ok(scenario::parse(&toml, "bench-ingest", chrono::Utc::now())?)
}

/// Write every telemetry row of `fleet`, binary and CSV. Returns the row count.
fn write_files(fleet: &Fleet, bin: &Path, csv: &Path) -> anyhow::Result<u64> {
    let mut b = BufWriter::with_capacity(1 << 20, std::fs::File::create(bin)?);
    let mut c = BufWriter::with_capacity(1 << 20, std::fs::File::create(csv)?);
    let mut rows = Vec::new();
    let mut bb = BytesMut::with_capacity(1 << 20);
    let mut cb = BytesMut::with_capacity(1 << 20);
    encode::binary_header(&mut bb);
    let mut n = 0u64;
    for block in fleet.blocks_iter() {
        rows.clear();
        fleet.telemetry_block(&block, &mut rows);
        for r in &rows {
            encode::telemetry_binary(r, &mut bb);
            encode::telemetry_csv(r, &mut cb);
        }
        n += rows.len() as u64;
        b.write_all(&bb)?;
        c.write_all(&cb)?;
        bb.clear();
        cb.clear();
    }
    encode::binary_trailer(&mut bb);
    b.write_all(&bb)?;
    b.flush()?;
    c.flush()?;
    Ok(n)
}

/// Drop and re-create bench's schema: a fresh, empty esp_telemetry with all its indexes.
async fn fresh_tables(target: &Target) -> anyhow::Result<()> {
    let client = target.connect().await?;
    schema::reset(&client, &target.schema).await?;
    let info = detect::detect(&client).await?;
    schema::apply(&client, &target.schema, &info).await?;
    client.batch_execute("CHECKPOINT").await?;
    Ok(())
}

async fn count(target: &Target) -> anyhow::Result<u64> {
    let client = target.connect().await?;
    let sql = format!(
        "SELECT count(*) FROM {}.{}",
        quote_ident(&target.schema),
        quote_ident(TELEMETRY_TABLE)
    );
    Ok(client.query_one(&sql, &[]).await?.get::<_, i64>(0) as u64)
}

/// `psql \copy` of `file` in `format`; returns wall seconds.
fn psql_copy(args: &Args, target: &Target, file: &Path, format: &str) -> anyhow::Result<f64> {
    let mut url = url::Url::parse(&target.url).context("parsing the server URL")?;
    let password = url.password().map(str::to_string);
    let _ = url.set_password(None);
    let cols = TELEMETRY_COLUMNS
        .iter()
        .map(|c| quote_ident(c))
        .collect::<Vec<_>>()
        .join(", ");
    let copy = format!(
        "\\copy {}.{} ({cols}) from '{}' with (format {format})",
        quote_ident(&target.schema),
        quote_ident(TELEMETRY_TABLE),
        file.display()
    );
    let mut cmd = Command::new(&args.psql);
    cmd.arg("-X")
        .arg("-q")
        .arg("-v")
        .arg("ON_ERROR_STOP=1")
        .arg("-d")
        .arg(url.as_str())
        .arg("-c")
        .arg(&copy);
    if let Some(p) = password {
        cmd.env("PGPASSWORD", p);
    }
    let start = Instant::now();
    let status = cmd
        .status()
        .with_context(|| format!("running {}", args.psql.display()))?;
    let secs = start.elapsed().as_secs_f64();
    if !status.success() {
        bail!("psql \\copy ({format}) failed: {status}");
    }
    Ok(secs)
}

struct Measured {
    method: &'static str,
    rows: u64,
    seconds: f64,
}

impl Measured {
    fn rate(&self) -> f64 {
        self.rows as f64 / self.seconds
    }
}

fn keep_best(best: &mut Option<Measured>, m: Measured) {
    if best.as_ref().is_none_or(|b| m.seconds < b.seconds) {
        *best = Some(m);
    }
}

async fn run(args: &Args, target: &Target) -> anyhow::Result<()> {
    let plan = plan(args.rows, args.workers, args.batch_size)?;
    let fleet = Fleet::new(&plan.fleet);
    let tmp = tempfile::tempdir()?;
    let dir = args
        .work_dir
        .clone()
        .unwrap_or_else(|| tmp.path().to_path_buf());
    std::fs::create_dir_all(&dir)?;
    let bin = dir.join("telemetry.bin");
    let csv = dir.join("telemetry.csv");
    let t = Instant::now();
    let rows = write_files(&fleet, &bin, &csv)?;
    eprintln!(
        "generated {rows} rows: {} ({} MB) and {} ({} MB) in {:.1}s",
        bin.display(),
        std::fs::metadata(&bin)?.len() >> 20,
        csv.display(),
        std::fs::metadata(&csv)?.len() >> 20,
        t.elapsed().as_secs_f64()
    );

    let (mut pbin, mut pcsv, mut bench) = (None, None, None);
    for round in 1..=args.repeat {
        for (format, slot) in [("binary", &mut pbin), ("csv", &mut pcsv)] {
            fresh_tables(target).await?;
            let seconds = psql_copy(
                args,
                target,
                if format == "binary" { &bin } else { &csv },
                format,
            )?;
            let n = count(target).await?;
            anyhow::ensure!(n == rows, "psql {format} loaded {n} rows, expected {rows}");
            eprintln!("round {round}: psql \\copy {format}: {:.2}s", seconds);
            keep_best(
                slot,
                Measured {
                    method: if format == "binary" {
                        "psql \\copy binary"
                    } else {
                        "psql \\copy csv"
                    },
                    rows,
                    seconds,
                },
            );
        }
        fresh_tables(target).await?;
        let opts = LoadOptions {
            progress: ProgressMode::Quiet,
            ..Default::default()
        };
        let results = load::load_all(target, &plan, &fleet, opts).await?;
        let tel = &results[0];
        let n = count(target).await?;
        anyhow::ensure!(
            n == rows && tel.rows == rows,
            "bench loaded {n} rows, expected {rows}"
        );
        eprintln!(
            "round {round}: bench load ({} workers): {:.2}s",
            tel.workers, tel.seconds
        );
        keep_best(
            &mut bench,
            Measured {
                method: "bench load",
                rows,
                seconds: tel.seconds,
            },
        );
    }
    let (Some(pbin), Some(pcsv), Some(bench)) = (pbin, pcsv, bench) else {
        bail!("nothing measured");
    };
    println!(
        "ingest into {TELEMETRY_TABLE} (all indexes), {rows} rows, best of {}:",
        args.repeat
    );
    println!("{:<22} {:>10} {:>12}", "method", "seconds", "rows/s");
    for m in [&pbin, &pcsv, &bench] {
        println!("{:<22} {:>10.2} {:>12.0}", m.method, m.seconds, m.rate());
    }
    println!(
        "ratio bench / psql-binary: {:.2} (bench: {} workers, batch {})",
        bench.rate() / pbin.rate(),
        args.workers,
        args.batch_size
    );
    println!(
        "ratio bench / psql-csv:    {:.2}",
        bench.rate() / pcsv.rate()
    );
    let client = target.connect().await?;
    schema::reset(&client, &target.schema).await?;
    Ok(())
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let result = async {
        match &args.database_url {
            Some(url) => {
                let target = Target::for_url(url, &args.schema)?;
                run(&args, &target).await
            }
            None => {
                let server = EmbeddedServer::start(EmbeddedOptions::default()).await?;
                let target = Target::for_server(server, &args.schema)?;
                let r = run(&args, &target).await;
                target.close().await?;
                r
            }
        }
    }
    .await;
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            esp_bench::report_error(&e);
            std::process::ExitCode::from(2)
        }
    }
}
