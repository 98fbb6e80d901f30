//! Generator determinism and stream validity through the public API (no server needed):
//! `bench generate` bytes are identical for any worker count and job size, a different seed
//! gives different bytes, and the binary stream parses back into the rows the model counts.
use std::time::Duration;

use chrono::{TimeZone, Utc};
use esp_bench::datagen::stream::{write_table, Format, StreamOptions, Table};
use esp_bench::datagen::{self, Fleet, TELEMETRY_COLUMNS};
use esp_bench::scenario::FleetPlan;

fn plan(seed: u64) -> FleetPlan {
    FleetPlan {
        wells: 5,
        sample_interval: Duration::from_secs(10),
        span: Duration::from_secs(86_400),
        end: Utc
            .with_ymd_and_hms(2026, 3, 1, 0, 0, 0)
            .single()
            .expect("valid instant"),
        end_is_now: false,
        seed,
        faults: esp_bench::scenario::FaultRates {
            gas_lock_per_day: 0.5,
            pump_off_per_day: 0.5,
            sand_per_day: 0.3,
            trip_per_day: 0.5,
        },
        dirty: esp_bench::scenario::DirtyRates {
            duplicate_rate: 2e-3,
            late_rate: 2e-3,
            spike_rate: 1e-3,
            ..datagen::default_dirty()
        },
    }
}

fn generate(
    fleet: &Fleet,
    table: Table,
    format: Format,
    workers: usize,
    units_per_job: u64,
) -> Vec<u8> {
    let mut out = Vec::new();
    let stats = write_table(
        fleet,
        table,
        format,
        StreamOptions {
            workers,
            units_per_job,
        },
        &mut out,
    )
    .expect("writing to a Vec cannot fail");
    assert!(!stats.broken_pipe);
    assert_eq!(stats.bytes, out.len() as u64);
    out
}

#[test]
fn output_is_identical_for_any_worker_count_and_job_size() {
    let fleet = Fleet::new(&plan(7));
    for table in [Table::Telemetry, Table::Diagnostics] {
        for format in [Format::Binary, Format::Csv] {
            let one = generate(&fleet, table, format, 1, 1);
            assert!(one.len() > 100, "{table:?} {format:?} produced nothing");
            assert_eq!(
                one,
                generate(&fleet, table, format, 4, 1),
                "{table:?} {format:?} 4 workers"
            );
            assert_eq!(
                one,
                generate(&fleet, table, format, 4, 3),
                "{table:?} {format:?} job size 3"
            );
            assert_eq!(
                one,
                generate(&fleet, table, format, 2, 1000),
                "{table:?} {format:?} one job"
            );
        }
    }
}

#[test]
fn another_seed_gives_other_bytes() {
    let a = generate(
        &Fleet::new(&plan(7)),
        Table::Telemetry,
        Format::Binary,
        2,
        1,
    );
    let b = generate(
        &Fleet::new(&plan(8)),
        Table::Telemetry,
        Format::Binary,
        2,
        1,
    );
    assert_ne!(a, b);
    let a = generate(&Fleet::new(&plan(7)), Table::Diagnostics, Format::Csv, 2, 1);
    let b = generate(&Fleet::new(&plan(8)), Table::Diagnostics, Format::Csv, 2, 1);
    assert_ne!(a, b);
}

/// Parse a binary COPY stream; returns rows (each a list of fields, None = NULL).
fn parse_binary(mut b: &[u8]) -> Vec<Vec<Option<Vec<u8>>>> {
    assert_eq!(&b[..11], b"PGCOPY\n\xff\r\n\0");
    b = &b[19..];
    let mut rows = Vec::new();
    loop {
        let n = i16::from_be_bytes([b[0], b[1]]);
        b = &b[2..];
        if n == -1 {
            assert!(b.is_empty(), "bytes after the trailer");
            return rows;
        }
        let mut row = Vec::new();
        for _ in 0..n {
            let len = i32::from_be_bytes([b[0], b[1], b[2], b[3]]);
            b = &b[4..];
            if len < 0 {
                row.push(None);
            } else {
                row.push(Some(b[..len as usize].to_vec()));
                b = &b[len as usize..];
            }
        }
        rows.push(row);
    }
}

#[test]
fn binary_and_csv_streams_agree_with_the_model() {
    let fleet = Fleet::new(&plan(3));
    let bin = generate(&fleet, Table::Telemetry, Format::Binary, 2, 2);
    let rows = parse_binary(&bin);
    let expected: u64 = fleet
        .blocks()
        .iter()
        .map(|b| fleet.block_row_count(b))
        .sum();
    assert_eq!(rows.len() as u64, expected);
    assert!(rows.iter().all(|r| r.len() == TELEMETRY_COLUMNS.len()));
    // Timestamps inside the span (PostgreSQL epoch), well ids of the fleet.
    let pg_epoch = 946_684_800_000_000i64;
    for r in &rows {
        let ts = i64::from_be_bytes(
            r[0].as_ref()
                .expect("timestamp")
                .as_slice()
                .try_into()
                .expect("8 bytes"),
        );
        assert!(ts + pg_epoch >= fleet.start_us() && ts + pg_epoch < fleet.end_us());
        let id = String::from_utf8(r[1].clone().expect("well_id")).expect("utf-8");
        assert!(id.starts_with("WELL-00") && id.len() == 8, "{id}");
    }
    let csv = generate(&fleet, Table::Telemetry, Format::Csv, 2, 2);
    let lines = csv.split(|b| *b == b'\n').filter(|l| !l.is_empty()).count();
    assert_eq!(lines, rows.len());

    let diags = parse_binary(&generate(&fleet, Table::Diagnostics, Format::Binary, 3, 1));
    let expected: usize = (0..fleet.wells()).map(|w| fleet.diagnostics(w).len()).sum();
    assert!(expected > 0);
    assert_eq!(diags.len(), expected);
    assert!(diags
        .iter()
        .all(|r| r.len() == datagen::DIAGNOSTIC_COLUMNS.len()));
}

/// A writer that accepts a few bytes, then reports a closed pipe (like `bench generate | head`).
struct ClosedPipe(usize);

impl std::io::Write for ClosedPipe {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.0 == 0 {
            return Err(std::io::ErrorKind::BrokenPipe.into());
        }
        let n = buf.len().min(self.0);
        self.0 -= n;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_closed_pipe_stops_the_stream_without_error() {
    let fleet = Fleet::new(&plan(1));
    let mut out = ClosedPipe(100_000);
    let opts = StreamOptions {
        workers: 3,
        units_per_job: 1,
    };
    let stats = write_table(&fleet, Table::Telemetry, Format::Csv, opts, &mut out)
        .expect("broken pipe is not an error");
    assert!(stats.broken_pipe);
    assert!(stats.bytes < 100_000);
}

/// `bench generate` end to end (scenario file -> file), as the CLI runs it.
#[tokio::test]
async fn bench_generate_files_match_across_worker_counts() {
    use esp_bench::cmd::generate::{run, FormatArg, GenerateArgs, TableArg};
    let dir = tempfile::tempdir().expect("temp dir");
    let scenario = dir.path().join("s.toml");
    std::fs::write(
        &scenario,
        "[fleet]\nwells = 3\nsample_interval = \"30s\"\nspan = \"1d\"\nend = \"now\"\nseed = 5\n",
    )
    .expect("write scenario");
    let gen = |workers: u32, seed: Option<u64>, table: TableArg, name: &str| {
        let out = dir.path().join(name);
        let args = GenerateArgs {
            scenario: scenario.clone(),
            table,
            format: FormatArg::Binary,
            output: out.display().to_string(),
            workers: Some(workers),
            end: Some("2026-02-01T00:00:00Z".into()),
            seed,
        };
        (args, out)
    };
    let mut files = Vec::new();
    for (workers, seed, table, name) in [
        (1, None, TableArg::Telemetry, "t1.bin"),
        (4, None, TableArg::Telemetry, "t4.bin"),
        (4, Some(6), TableArg::Telemetry, "t4s6.bin"),
        (1, None, TableArg::Diagnostics, "d1.bin"),
        (4, None, TableArg::Diagnostics, "d4.bin"),
    ] {
        let (args, out) = gen(workers, seed, table, name);
        run(args).await.expect("bench generate succeeds");
        files.push(std::fs::read(out).expect("output written"));
    }
    assert!(files[0].len() > 1000);
    assert_eq!(files[0], files[1]);
    assert_ne!(files[0], files[2]);
    assert_eq!(files[3], files[4]);
    // Zero workers is a usage error, not a panic.
    let (mut args, _) = gen(1, None, TableArg::Telemetry, "x.bin");
    args.workers = Some(0);
    assert!(run(args).await.is_err());
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 12, ..Default::default() })]

    /// For any small fleet, the stream is the same whatever the workers and job size.
    #[test]
    fn any_split_gives_the_same_bytes(
        seed in proptest::prelude::any::<u64>(),
        wells in 1u32..4,
        interval in proptest::sample::select(vec![1u64, 7, 60]),
        workers in 2usize..5,
        per_job in 1u64..6,
    ) {
        let mut p = plan(seed);
        p.wells = wells;
        p.sample_interval = Duration::from_secs(interval);
        p.span = Duration::from_secs(6 * 3600);
        let fleet = Fleet::new(&p);
        let one = generate(&fleet, Table::Telemetry, Format::Binary, 1, 1);
        proptest::prop_assert_eq!(&one, &generate(&fleet, Table::Telemetry, Format::Binary, workers, per_job));
    }
}

#[test]
fn a_stop_request_interrupts_the_stream() {
    let fleet = Fleet::new(&plan(2));
    let calls = std::cell::Cell::new(0);
    let stop = || {
        calls.set(calls.get() + 1);
        calls.get() > 2
    };
    let mut out = Vec::new();
    let opts = StreamOptions {
        workers: 2,
        units_per_job: 1,
    };
    let err = esp_bench::datagen::stream::write_table_until(
        &fleet,
        Table::Telemetry,
        Format::Binary,
        opts,
        &mut out,
        &stop,
    )
    .expect_err("stopped");
    assert_eq!(err.kind(), std::io::ErrorKind::Interrupted);
    assert!(out.len() < generate(&fleet, Table::Telemetry, Format::Binary, 1, 1).len());
}
