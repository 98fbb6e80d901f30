//! Pages made of tables and plots: `bench sweep`'s index.html and `bench plan`'s page.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::{Figure, Link, Table};

/// The view of `tables.html`.
#[derive(Debug, Clone, Serialize)]
pub struct TablesPage {
    pub title: String,
    pub subtitle: String,
    pub links: Vec<Link>,
    pub tables: Vec<Table>,
    pub figures: Vec<Figure>,
    pub notes: Vec<String>,
}

/// Write a tables page to `dir/file_name`, inlining `plots` (paths absolute or relative to
/// `dir`), each captioned with its file name. Links point at files beside the page.
#[allow(clippy::too_many_arguments)]
pub fn write_tables_page(
    dir: &Path,
    file_name: &str,
    title: &str,
    subtitle: &str,
    tables: Vec<Table>,
    plots: &[PathBuf],
    links: Vec<Link>,
    notes: Vec<String>,
) -> anyhow::Result<PathBuf> {
    let figures = plots
        .iter()
        .map(|p| {
            let path = if p.is_absolute() || p.exists() {
                p.clone()
            } else {
                dir.join(p)
            };
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            Figure::from_file(&path, &name)
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let view = TablesPage {
        title: title.into(),
        subtitle: subtitle.into(),
        links,
        tables,
        figures,
        notes,
    };
    let out = dir.join(file_name);
    super::write(&out, "tables.html", &view)?;
    Ok(out)
}
