//! The layer test: every top-level module of `src/` may import only modules of earlier
//! layers, and top-level modules form no cycle. It reads every `src/**/*.rs`, collects the
//! `use crate::...` and `crate::x::` paths (inside functions too; `use crate::{a, b::c}`
//! groups included; comments skipped), maps each file and each path to its top-level module,
//! and fails naming `file:line` for every import that points the wrong way.
//!
//! The order is written once, here, and mirrored in README.md's "Layout" section (checked
//! below). A new top-level module must be given a place in it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Lowest layer first. A module may import any module listed before it, never one after it.
const LAYERS: &[&str] = &[
    "error",    // error kinds, exit codes, how an error is printed
    "shutdown", // the process-wide cancellation token
    "format",   // numbers, durations, redaction: how values are printed
    "model",    // the shared vocabulary: report model, measurement facts, metrics, settings
    "scenario", // TOML -> validated plan
    "datagen",  // pure, seeded telemetry
    "realism",  // compression model and texture statistics
    "stats",    // per-worker histograms and their merge
    "server",   // the embedded cluster
    "db",       // the only code that talks to PostgreSQL
    "load",     // COPY workers, ledger, live ingest
    "exec",     // query running only
    "checks",   // pure evaluation and the verdict
    "probe",    // evidence capture: statements, resources, plans, cold caches, what-if
    "report",   // writers of the report model
    "compare",  // the regression gate
    "capacity", // pure capacity model (`bench plan`)
    "shard",    // sharded runs: division, coordination, merge
    "run",      // the `bench run` orchestrator
    "sweep",    // the `bench sweep` orchestrator
    "cmd",      // the command line and one file per subcommand
];

/// Modules that may be missing from the tree (placed in the order ahead of their code).
const NOT_YET: &[&str] = &[];

#[derive(Debug, Clone, PartialEq, Eq)]
struct Import {
    /// The top-level module imported.
    target: String,
    /// 1-based line of the path.
    line: usize,
}

/// Every `crate::<module>` path in `text`, outside comments, with its line. Groups
/// (`use crate::{a::x, b}`) give one import per top-level name.
fn imports(text: &str) -> Vec<Import> {
    let mut out = Vec::new();
    let code = strip_comments(text);
    let bytes = code.as_bytes();
    let mut i = 0;
    while let Some(found) = code[i..].find("crate::") {
        let start = i + found;
        i = start + "crate::".len();
        // `crate::` must start a path segment, not end an identifier (e.g. `my_crate::`).
        if start > 0 && (bytes[start - 1].is_ascii_alphanumeric() || bytes[start - 1] == b'_') {
            continue;
        }
        let line = code[..start].matches('\n').count() + 1;
        if code[i..].starts_with('{') {
            let body_end = matching_brace(&code[i..]).map_or(code.len(), |e| i + e);
            for name in group_heads(&code[i + 1..body_end]) {
                out.push(Import {
                    target: name.to_string(),
                    line,
                });
            }
            i = body_end;
        } else {
            let name: String = code[i..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                out.push(Import { target: name, line });
            }
        }
    }
    out
}

/// `text` with `//` comments (doc comments included) and string literals blanked, newlines
/// kept so line numbers stay right.
fn strip_comments(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    let mut in_str = false;
    while let Some(c) = chars.next() {
        if in_str {
            match c {
                '\\' => {
                    out.push(' ');
                    if let Some(n) = chars.next() {
                        out.push(if n == '\n' { '\n' } else { ' ' });
                    }
                }
                '"' => {
                    in_str = false;
                    out.push('"');
                }
                '\n' => out.push('\n'),
                _ => out.push(' '),
            }
        } else if c == '/' && chars.peek() == Some(&'/') {
            for n in chars.by_ref() {
                if n == '\n' {
                    out.push('\n');
                    break;
                }
            }
        } else if c == '"' {
            in_str = true;
            out.push('"');
        } else if c == '\'' {
            // A char literal such as '"' or '\'' must not open a string; lifetimes pass.
            out.push(c);
            let mut look = chars.clone();
            match (look.next(), look.next()) {
                (Some('\\'), _) => {
                    // '\n', '\'', '\u{..}': the backslash, the escaped char, up to the quote.
                    chars.next();
                    chars.next();
                    for n in chars.by_ref() {
                        if n == '\'' {
                            break;
                        }
                    }
                    out.push('\'');
                }
                (Some(_), Some('\'')) => {
                    chars.next();
                    chars.next();
                    out.push_str(" '");
                }
                _ => {}
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Index of the `}` matching the `{` at the start of `s`.
fn matching_brace(s: &str) -> Option<usize> {
    let mut depth = 0;
    for (i, c) in s.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
}

/// The first segment of every comma-separated item at depth 0 of a `{...}` group body.
fn group_heads(body: &str) -> Vec<&str> {
    let mut heads = Vec::new();
    let mut depth = 0;
    let mut item_start = 0;
    for (i, c) in body
        .char_indices()
        .chain(std::iter::once((body.len(), ',')))
    {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                let item = body[item_start..i.min(body.len())].trim();
                let head = item
                    .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .next()
                    .unwrap_or("");
                if !head.is_empty() && head != "self" {
                    heads.push(head);
                }
                item_start = i + 1;
            }
            _ => {}
        }
    }
    heads
}

fn src_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

/// The top-level module a file of `src/` belongs to; `None` for the crate root (`lib.rs`,
/// `main.rs`), which wires everything and may use every layer.
fn module_of(rel: &Path) -> Option<String> {
    let first = rel.components().next()?.as_os_str().to_str()?;
    match first {
        "lib.rs" | "main.rs" => None,
        f => Some(f.trim_end_matches(".rs").to_string()),
    }
}

/// The top-level modules of the tree: the files and folders directly under `src/`.
fn tree_modules() -> BTreeSet<String> {
    std::fs::read_dir(src_dir())
        .unwrap()
        .filter_map(|e| {
            let p = e.unwrap().path();
            let name = p.file_name()?.to_str()?.to_string();
            if p.is_dir() {
                Some(name)
            } else {
                let m = name.strip_suffix(".rs")?;
                (m != "lib" && m != "main").then(|| m.to_string())
            }
        })
        .collect()
}

/// Every wrong-way import of the tree as `file:line: message`, and the module graph.
fn violations() -> (Vec<String>, BTreeMap<String, BTreeSet<String>>) {
    let rank: BTreeMap<&str, usize> = LAYERS.iter().enumerate().map(|(i, m)| (*m, i)).collect();
    let mut problems = Vec::new();
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut files = Vec::new();
    rust_files(&src_dir(), &mut files);
    for path in files {
        let rel = path.strip_prefix(src_dir()).unwrap();
        let Some(module) = module_of(rel) else {
            continue;
        };
        let text = std::fs::read_to_string(&path).unwrap();
        for imp in imports(&text) {
            if imp.target == module || !rank.contains_key(imp.target.as_str()) {
                // Same module, or not a module (a crate-root item such as `crate::main_with`).
                continue;
            }
            graph
                .entry(module.clone())
                .or_default()
                .insert(imp.target.clone());
            let (Some(&from), Some(&to)) =
                (rank.get(module.as_str()), rank.get(imp.target.as_str()))
            else {
                continue;
            };
            if to > from {
                problems.push(format!(
                    "src/{}:{}: `{module}` (layer {from}) imports `{}` (layer {to}), a later layer",
                    rel.display(),
                    imp.line,
                    imp.target
                ));
            }
        }
    }
    (problems, graph)
}

/// A cycle of the module graph, as `a -> b -> ... -> a`, if there is one.
fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        stack: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(pos) = stack.iter().position(|n| n == node) {
            let mut cycle = stack[pos..].to_vec();
            cycle.push(node.to_string());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        stack.push(node.to_string());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(c) = visit(next, graph, stack, done) {
                return Some(c);
            }
        }
        stack.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = BTreeSet::new();
    for node in graph.keys() {
        if let Some(c) = visit(node, graph, &mut Vec::new(), &mut done) {
            return Some(c);
        }
    }
    None
}

#[test]
fn every_top_level_module_has_a_layer() {
    let listed: BTreeSet<String> = LAYERS.iter().map(|s| s.to_string()).collect();
    let unplaced: Vec<_> = tree_modules().difference(&listed).cloned().collect();
    assert!(
        unplaced.is_empty(),
        "top-level modules without a layer in tests/layers.rs LAYERS: {unplaced:?}"
    );
    let missing: Vec<_> = listed
        .difference(&tree_modules())
        .filter(|m| !NOT_YET.contains(&m.as_str()))
        .cloned()
        .collect();
    assert!(
        missing.is_empty(),
        "LAYERS names modules not in src/: {missing:?}"
    );
}

#[test]
fn imports_point_only_to_earlier_layers() {
    let (problems, _) = violations();
    assert!(
        problems.is_empty(),
        "{} import(s) point the wrong way (allowed order: {}):\n{}",
        problems.len(),
        LAYERS.join(" < "),
        problems.join("\n")
    );
}

#[test]
fn top_level_modules_form_no_cycle() {
    let (_, graph) = violations();
    if let Some(cycle) = find_cycle(&graph) {
        panic!("top-level modules form a cycle: {}", cycle.join(" -> "));
    }
}

#[test]
fn the_scanner_finds_every_form_of_crate_path() {
    let text = "use crate::db::Target;\n\
                use crate::{model::report::Summary, format, scenario::{Plan, Metric}};\n\
                // use crate::cmd::cli; (a comment)\n\
                /// [`crate::run::checks`] in a doc comment\n\
                fn f() { let s = \"crate::sweep::x\"; let q = '\"'; crate::exec::runner::go(); }\n\
                use my_crate::load::X;\n";
    let got: Vec<(String, usize)> = imports(text)
        .into_iter()
        .map(|i| (i.target, i.line))
        .collect();
    let want: Vec<(String, usize)> = [
        ("db", 1),
        ("model", 2),
        ("format", 2),
        ("scenario", 2),
        ("exec", 5),
    ]
    .into_iter()
    .map(|(m, l)| (m.to_string(), l))
    .collect();
    assert_eq!(got, want);

    let mut graph = BTreeMap::new();
    graph.insert("a".to_string(), BTreeSet::from(["b".to_string()]));
    graph.insert("b".to_string(), BTreeSet::from(["a".to_string()]));
    assert_eq!(
        find_cycle(&graph),
        Some(vec!["a".to_string(), "b".to_string(), "a".to_string()])
    );
}

/// README.md's "Layout" section lists the `src/` modules in the same order as [`LAYERS`].
#[test]
fn readme_layout_follows_the_layers() {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
        .expect("reading README.md");
    let section = readme
        .split("\n## Layout")
        .nth(1)
        .expect("README.md has a `## Layout` section");
    let section = section.split("\n## ").next().unwrap_or(section);
    let mut listed = Vec::new();
    for line in section.lines() {
        let Some(rest) = line.trim_start().strip_prefix("src/") else {
            continue;
        };
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if LAYERS.contains(&name.as_str()) && !listed.contains(&name) {
            listed.push(name);
        }
    }
    let expected: Vec<String> = LAYERS
        .iter()
        .filter(|m| !NOT_YET.contains(m) || listed.iter().any(|l| l == *m))
        .map(|s| s.to_string())
        .collect();
    assert_eq!(
        listed, expected,
        "README.md's Layout section must list src/ modules in the layer order of tests/layers.rs"
    );
}
