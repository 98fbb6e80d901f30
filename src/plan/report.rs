//! The files of a `bench sweep` folder: sweep.csv, fit.csv, the sweep plots and index.html
//! (each size's own report is written by `report::write_reports`). Kept apart from the
//! runner so it is testable without a server.

use std::path::{Path, PathBuf};

use anyhow::Context;

use super::io::write_csv;
use super::plots::write_sweep_plots;
use super::sweep::{fit_rows, sweep_rows, FitRow, SweepRow};
use super::table::{fit_grid, fit_table, sweep_grid, sweep_table};
use crate::report::html::{tables::write_tables_page, Link, Table};
use crate::report::model::Summary;

/// What a sweep wrote.
#[derive(Debug, Clone)]
pub struct SweepOutputs {
    pub rows: Vec<SweepRow>,
    pub fits: Vec<FitRow>,
    pub sweep_csv: PathBuf,
    pub fit_csv: PathBuf,
    pub plots: Vec<PathBuf>,
    pub index: PathBuf,
    /// The console rendering of the measurements and the fit.
    pub text: String,
}

/// Write sweep.csv, fit.csv, the plots and index.html for the measured sizes (in the order
/// run) into `dir`.
pub fn write_sweep_outputs(dir: &Path, runs: &[(u32, Summary)]) -> anyhow::Result<SweepOutputs> {
    std::fs::create_dir_all(dir).with_context(|| format!("failed to create {}", dir.display()))?;
    let rows: Vec<SweepRow> = runs
        .iter()
        .flat_map(|(wells, s)| sweep_rows(s, *wells))
        .collect();
    let fits = fit_rows(&rows);
    let sweep_csv = dir.join("sweep.csv");
    write_csv(&sweep_csv, &rows)?;
    let fit_csv = dir.join("fit.csv");
    write_csv(&fit_csv, &fits)?;
    let plots = write_sweep_plots(dir, &rows)?;
    let text = format!(
        "{}\ngrowth of p95 with rows (fitted, p95 ~ rows^k):\n{}",
        sweep_table(&rows),
        fit_table(&fits)
    );
    let name = runs
        .first()
        .map(|(_, s)| s.scenario.name.clone())
        .unwrap_or_default();
    let link = |f: &str| Link {
        href: f.into(),
        label: f.into(),
    };
    let index = write_tables_page(
        dir,
        "index.html",
        &format!("esp-bench sweep: {name}"),
        &format!(
            "{} sizes measured; each size's own report is in its folder",
            runs.len()
        ),
        vec![
            Table::from_grid("sweep", "Measurements per size", &sweep_grid(&rows)),
            Table::from_grid(
                "fit",
                "Growth of p95 with rows (fitted, p95 ~ rows^k)",
                &fit_grid(&fits),
            ),
        ],
        &plots,
        vec![link("sweep.csv"), link("fit.csv")],
        Vec::new(),
    )?;
    Ok(SweepOutputs {
        rows,
        fits,
        sweep_csv,
        fit_csv,
        plots,
        index,
        text,
    })
}
