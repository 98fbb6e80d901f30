//! The HTML pages of bench's outputs: a run's `index.html` (`run`), `bench compare --html`
//! (`compare`), and the pages of `bench sweep` and `bench plan` (`tables`). Every page is a
//! minijinja template compiled into the binary (`src/report/templates/`), rendered from a
//! serialisable view built here; the engine's auto-escaping is the only HTML escaper. Pages
//! are self-contained: CSS in the page, plots inlined as SVG, no script, no font, no network.

pub mod compare;
pub mod overview;
pub mod run;
pub mod run_tables;
pub mod tables;

use std::path::Path;

use anyhow::Context;
use minijinja::value::{Serde, Value};
use minijinja::{AutoEscape, Environment, UndefinedBehavior};
use serde::Serialize;

use super::units;

/// The templates, by name. `.html` and `.svg` are auto-escaped.
const TEMPLATES: [(&str, &str); 6] = [
    ("base.html", include_str!("../templates/base.html")),
    ("macros.html", include_str!("../templates/macros.html")),
    ("index.html", include_str!("../templates/index.html")),
    ("compare.html", include_str!("../templates/compare.html")),
    ("tables.html", include_str!("../templates/tables.html")),
    ("overview.svg", include_str!("../templates/overview.svg")),
];

fn environment() -> anyhow::Result<Environment<'static>> {
    let mut env = Environment::new();
    // A misspelt field is an error, not an empty cell.
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_auto_escape_callback(|name| {
        if name.ends_with(".html") || name.ends_with(".svg") {
            AutoEscape::Html
        } else {
            AutoEscape::None
        }
    });
    env.set_syntax(
        minijinja::syntax::SyntaxConfig::builder()
            .trim_blocks(true)
            .lstrip_blocks(true)
            .build()
            .context("template syntax")?,
    );
    env.add_filter("ms", |v: f64| units::ms(v));
    env.add_filter("secs", |v: f64| units::secs(v));
    env.add_filter("bytes", |v: f64| units::bytes(v));
    env.add_filter("count", |v: f64| units::count(v));
    env.add_filter("decimal", |v: f64| units::decimal(v));
    env.add_filter("pct", |v: f64| units::pct(v));
    env.add_filter("change", |v: f64| units::change_pct(v));
    for (name, source) in TEMPLATES {
        env.add_template(name, source)
            .with_context(|| format!("template {name} does not compile"))?;
    }
    Ok(env)
}

/// Render template `name` with `view` as its context.
pub fn render<T: Serialize>(name: &str, view: &T) -> anyhow::Result<String> {
    let env = environment()?;
    let tmpl = env
        .get_template(name)
        .with_context(|| format!("no template {name}"))?;
    tmpl.render(Value::from(Serde(view)))
        .map_err(|e| anyhow::anyhow!("{}", describe(&e)))
        .with_context(|| format!("failed to render {name}"))
}

/// A template error with its chain of causes (includes and macros).
fn describe(e: &minijinja::Error) -> String {
    let mut s = format!("{e:#}");
    let mut src = std::error::Error::source(e);
    while let Some(inner) = src {
        s.push_str(&format!("\ncaused by: {inner:#}"));
        src = inner.source();
    }
    s
}

/// Render `name` with `view` and write it to `path`.
pub fn write<T: Serialize>(path: &Path, name: &str, view: &T) -> anyhow::Result<()> {
    let html = render(name, view)?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("failed to create {}", dir.display()))?;
    }
    std::fs::write(path, html).with_context(|| format!("failed to write {}", path.display()))
}

/// A table as the pages show it: a header, rows of formatted cells, and which columns are
/// numbers (right-aligned).
#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct Table {
    pub id: String,
    pub title: String,
    pub header: Vec<String>,
    pub numeric: Vec<bool>,
    pub rows: Vec<Vec<String>>,
    pub notes: Vec<String>,
}

impl Table {
    /// A table whose columns are given as (header, numeric).
    pub fn new(id: &str, title: &str, columns: &[(&str, bool)]) -> Table {
        Table {
            id: id.into(),
            title: title.into(),
            header: columns.iter().map(|c| c.0.to_string()).collect(),
            numeric: columns.iter().map(|c| c.1).collect(),
            rows: Vec::new(),
            notes: Vec::new(),
        }
    }

    /// A table from rows of cells whose first row is the header (the layout of the plan and
    /// sweep console tables). A column is numeric (right-aligned) when every cell of it reads
    /// as a figure: it starts with a digit or a sign, or is "-".
    pub fn from_grid(id: &str, title: &str, grid: &[Vec<String>]) -> Table {
        let header = grid.first().cloned().unwrap_or_default();
        let figure = |c: &str| {
            c == "-" || c.starts_with(|ch: char| ch.is_ascii_digit() || ch == '-' || ch == '+')
        };
        let numeric = (0..header.len())
            .map(|i| {
                grid.iter()
                    .skip(1)
                    .all(|r| r.get(i).is_none_or(|c| figure(c)))
            })
            .collect();
        Table {
            id: id.into(),
            title: title.into(),
            header,
            numeric,
            rows: grid.iter().skip(1).cloned().collect(),
            notes: Vec::new(),
        }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }
}

/// An SVG plot inlined into a page, with its caption and the file it came from.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Figure {
    pub id: String,
    /// The SVG markup (written by plotters, which escapes its text): inserted unescaped.
    pub svg: String,
    pub caption: String,
    /// File name of the SVG beside the page.
    pub file: String,
}

impl Figure {
    /// Read an SVG file for inlining.
    pub fn from_file(path: &Path, caption: &str) -> anyhow::Result<Figure> {
        let svg = std::fs::read_to_string(path)
            .with_context(|| format!("failed to read plot {}", path.display()))?;
        let file = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        Ok(Figure {
            id: format!("fig-{}", file.trim_end_matches(".svg")),
            svg: super::plot::strip_xml_prolog(&svg).to_string(),
            caption: caption.into(),
            file,
        })
    }
}

/// A link to another file of the report.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Link {
    pub href: String,
    pub label: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_compiles() {
        environment().expect("templates compile");
    }

    #[test]
    fn text_is_escaped_once_by_the_engine() {
        let mut t = Table::new("t", "a <b> & \"c\"", &[("x", false)]);
        t.row(vec!["<script>alert(1)</script>".into()]);
        let html = render(
            "tables.html",
            &tables::TablesPage {
                title: "<t>".into(),
                subtitle: String::new(),
                links: vec![],
                tables: vec![t],
                figures: vec![],
                notes: vec![],
            },
        )
        .expect("renders");
        assert!(
            html.contains("&lt;script&gt;alert(1)&lt;&#x2f;script&gt;"),
            "{html}"
        );
        assert!(!html.contains("<script>"));
        assert!(!html.contains("&amp;lt;"), "escaped twice: {html}");
    }
}
