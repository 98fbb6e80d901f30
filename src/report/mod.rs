//! Reports: the serde model of summary.json (`model`) and its writers: `files` (summary.json,
//! results.csv, checks.csv, one .hgrm per query, and reading summary.json back), `console`
//! (the summary table), `plot` and `timeseries` (SVG plots), `html` (the pages, from
//! templates) and `units` (the human units every page and plot uses).
pub mod console;
pub mod evidence;
pub mod files;
pub mod html;
pub use crate::model::report as model;
pub mod plot;
pub mod timeseries;
pub use crate::model::units;

pub use files::{read_summary, write_reports, CheckRow, QueryRow, ReportFiles};
