//! `bench plan`: wiring only. Arguments are validated into a `plan::PlanRequest`, projected by
//! `plan::build_plan`, then printed, written as CSV and plotted.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Args, ValueEnum};

use crate::error::{BenchError, Outcome};
use crate::plan::{self, io, plots, table, units, IndexModel, PlanRequest};

/// `--indexes`: which indexes the projected fleet has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Indexes {
    /// The measured run's schema (primary key and its indexes).
    Measured,
    /// No index on the hypertable.
    None,
}

/// Arguments of `bench plan`.
#[derive(Args, Debug)]
pub struct PlanArgs {
    /// summary.json of a `bench run` report: bytes per row, compression ratio, ingest rate and
    /// query latency are taken from it.
    #[arg(long, value_name = "SUMMARY")]
    pub from: PathBuf,

    /// Fleet sizes to project, comma-separated, e.g. 200,1000,5000.
    #[arg(long, value_delimiter = ',', required = true, value_name = "N,...")]
    pub wells: Vec<u32>,

    /// Sample interval of every well, e.g. 10s.
    #[arg(long, value_name = "DURATION")]
    pub interval: String,

    /// Retention window, e.g. 30d (production).
    #[arg(long, default_value = "30d", value_name = "DURATION")]
    pub retention: String,

    /// Chunks older than this are compressed, e.g. 7d (production).
    #[arg(long, default_value = "7d", value_name = "DURATION")]
    pub compress_after: String,

    /// Server memory the chunk size is checked against, e.g. 64GiB. Default: the memory of the
    /// machine that produced the summary.
    #[arg(long, value_name = "SIZE")]
    pub memory: Option<String>,

    /// Chunk interval to size, e.g. 1d. Default: the measured run's telemetry chunk interval.
    #[arg(long, value_name = "DURATION")]
    pub chunk_interval: Option<String>,

    /// sweep.csv from `bench sweep`: its fitted growth exponents project query latency.
    #[arg(long, value_name = "SWEEP_CSV")]
    pub sweep: Option<PathBuf>,

    /// Indexes of the projected fleet: `measured` (the run's schema; bytes per row and
    /// compression ratio as measured) or `none` (heap bytes only; the ratio follows from the
    /// measured compressed bytes per row).
    #[arg(long, value_enum, default_value = "measured", value_name = "MODEL")]
    pub indexes: Indexes,

    /// Index bytes per uncompressed row of the projected fleet, instead of the measured ones
    /// (e.g. from `index_bytes_per_row_measured` of a run with that index set).
    #[arg(long, value_name = "BYTES", conflicts_with = "indexes")]
    pub index_bytes_per_row: Option<f64>,

    /// Write the plan as CSV here; plots (<stem>-storage.svg, <stem>-latency.svg) and
    /// <stem>.html go beside it.
    #[arg(short = 'o', long, value_name = "CSV")]
    pub output: Option<PathBuf>,
}

impl PlanArgs {
    /// Parse and check every argument before any work starts.
    pub fn validate(&self) -> Result<PlanRequest, BenchError> {
        let dur = |flag: &str, s: &str| {
            units::parse_duration(s).map_err(|e| BenchError::Config(format!("--{flag}: {e}")))
        };
        if self.wells.is_empty() || self.wells.contains(&0) {
            return Err(BenchError::Config(
                "--wells: every fleet size must be at least 1".into(),
            ));
        }
        let chunk_interval = match &self.chunk_interval {
            Some(s) => {
                let d = dur("chunk-interval", s)?;
                if d.as_secs() == 0 || d.subsec_nanos() != 0 {
                    return Err(BenchError::Config(format!(
                        "--chunk-interval: {s:?} must be a whole number of seconds"
                    )));
                }
                Some(d)
            }
            None => None,
        };
        let indexes = match (self.index_bytes_per_row, self.indexes) {
            (Some(b), _) if !(b.is_finite() && b >= 0.0) => {
                return Err(BenchError::Config(format!(
                    "--index-bytes-per-row: {b} must be a number of bytes, 0 or more"
                )))
            }
            (Some(b), _) => IndexModel::BytesPerRow(b),
            (None, Indexes::Measured) => IndexModel::Measured,
            (None, Indexes::None) => IndexModel::None,
        };
        Ok(PlanRequest {
            indexes,
            from: self.from.clone(),
            wells: self.wells.clone(),
            interval: dur("interval", &self.interval)?,
            retention: dur("retention", &self.retention)?,
            compress_after: dur("compress-after", &self.compress_after)?,
            memory_bytes: self
                .memory
                .as_deref()
                .map(|m| {
                    units::parse_bytes(m).map_err(|e| BenchError::Config(format!("--memory: {e}")))
                })
                .transpose()?,
            chunk_interval,
            sweep: self.sweep.clone(),
        })
    }
}

pub async fn run(args: PlanArgs) -> anyhow::Result<Outcome> {
    let req = args.validate()?;
    let projections = plan::build_plan(&req)?;
    let rendered = table::plan_table(&projections);
    print!("{rendered}");
    if let Some(out) = &args.output {
        write_outputs(out, &projections)?;
    }
    Ok(Outcome::Pass)
}

fn write_outputs(out: &Path, projections: &[plan::Projection]) -> anyhow::Result<()> {
    let dir = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&dir).with_context(|| format!("failed to create {}", dir.display()))?;
    let file = std::fs::File::create(out)
        .with_context(|| format!("failed to create {}", out.display()))?;
    io::write_plan_csv(std::io::BufWriter::new(file), projections)
        .with_context(|| format!("failed to write {}", out.display()))?;
    let stem = out
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "plan".into());
    let plots = plots::write_plan_plots(&dir, &stem, projections)?;
    let (grid, notes) = table::plan_grid(projections);
    let csv_name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let index = crate::report::html::tables::write_tables_page(
        &dir,
        &format!("{stem}.html"),
        "esp-bench capacity plan",
        "one column per fleet size; the CSV holds the exact figures",
        vec![crate::report::html::Table::from_grid(
            "plan",
            "Projection per fleet size",
            &grid,
        )],
        &plots,
        vec![crate::report::html::Link {
            href: csv_name.clone(),
            label: csv_name,
        }],
        notes,
    )?;
    eprintln!("wrote {}", out.display());
    for p in plots.iter().chain(std::iter::once(&index)) {
        eprintln!("wrote {}", p.display());
    }
    Ok(())
}
