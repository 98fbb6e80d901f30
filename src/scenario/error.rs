//! Scenario errors: every one names the file, the line and column, and the dotted field path,
//! e.g. `scenarios/x.toml:12:5: field `fleet.wels`: unknown field `wels`, expected one of ...`.
//!
//! Byte offsets (from the TOML parser's spans) become 1-based line:column here; the dotted path
//! of a serde error is recovered by finding the innermost key or value of the document that
//! covers the error's span.

use std::fmt;
use std::ops::Range;

use crate::error::BenchError;

/// What went wrong, broadly; callers and tests match on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The file could not be read.
    Io,
    /// The file is empty (or holds only comments and whitespace).
    Empty,
    /// Not valid TOML.
    Syntax,
    /// Valid TOML of the wrong shape: unknown key, wrong type, missing key.
    Schema,
    /// Well-formed but meaningless: out-of-range value, unknown name, conflicting keys, ...
    Invalid,
}

/// A 1-based position in the scenario file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Location {
    pub line: usize,
    pub column: usize,
}

/// One clear error about one scenario file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScenarioError {
    pub kind: ErrorKind,
    /// Path of the scenario file as given.
    pub file: String,
    /// Always present except for I/O errors.
    pub location: Option<Location>,
    /// Dotted path of the offending field, e.g. `queries[2].targets.p95_ms`; empty when the
    /// error is about the whole file or a syntax error outside any key.
    pub field: String,
    pub message: String,
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.location {
            None => write!(f, "failed to read scenario {}: {}", self.file, self.message),
            Some(loc) => {
                write!(f, "{}:{}:{}: ", self.file, loc.line, loc.column)?;
                if !self.field.is_empty() {
                    write!(f, "field `{}`: ", self.field)?;
                }
                f.write_str(&self.message)
            }
        }
    }
}

impl std::error::Error for ScenarioError {}

impl From<ScenarioError> for BenchError {
    /// Scenario errors are configuration errors: exit code 2.
    fn from(e: ScenarioError) -> Self {
        BenchError::Config(e.to_string())
    }
}

impl ScenarioError {
    pub(crate) fn io(file: &str, err: &std::io::Error) -> Self {
        ScenarioError {
            kind: ErrorKind::Io,
            file: file.to_string(),
            location: None,
            field: String::new(),
            message: err.to_string(),
        }
    }

    /// An error at a byte offset of `src`.
    pub(crate) fn at(
        kind: ErrorKind,
        file: &str,
        src: &str,
        offset: usize,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        ScenarioError {
            kind,
            file: file.to_string(),
            location: Some(location_of(src, offset)),
            field: field.into(),
            message: message.into(),
        }
    }

    /// Line of the error, 0 for I/O errors.
    pub fn line(&self) -> usize {
        self.location.map_or(0, |l| l.line)
    }

    /// Column of the error, 0 for I/O errors.
    pub fn column(&self) -> usize {
        self.location.map_or(0, |l| l.column)
    }
}

/// 1-based line and column (in characters) of a byte offset; offsets past the end or inside a
/// multi-byte character are clamped, never a panic.
pub fn location_of(src: &str, offset: usize) -> Location {
    let mut offset = offset.min(src.len());
    while !src.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &src[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    Location { line, column }
}

/// Turn a parser message into one line (toml's can span several) and name Rust types the way
/// a scenario author knows them.
pub(crate) fn one_line(msg: &str) -> String {
    let joined = msg
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ");
    [
        ("expected i64", "expected an integer"),
        ("expected f64", "expected a number"),
        ("expected a sequence", "expected an array"),
        ("expected struct ", "expected a table "),
    ]
    .iter()
    .fold(joined, |m, (from, to)| m.replace(from, to))
}

/// The dotted path of the innermost key or value covering `span.start` in a syntactically valid
/// document, e.g. `queries[1].targets.p95_ms`. Empty when nothing covers it.
pub(crate) fn path_at(src: &str, span: &Range<usize>) -> String {
    let Ok(doc) = toml_edit::ImDocument::parse(src) else {
        return String::new();
    };
    let mut best: Option<(usize, String)> = None;
    walk_table(doc.as_table(), String::new(), span.start, &mut best);
    best.map(|(_, p)| p).unwrap_or_default()
}

fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_string()
    } else {
        format!("{prefix}.{key}")
    }
}

fn covers(r: &Option<Range<usize>>, at: usize) -> Option<usize> {
    match r {
        Some(r) if r.start <= at && at < r.end.max(r.start + 1) => Some(r.end - r.start),
        _ => None,
    }
}

/// Keep the narrowest matching span (the innermost element).
fn consider(best: &mut Option<(usize, String)>, width: usize, path: String) {
    if best.as_ref().is_none_or(|(w, _)| width <= *w) {
        *best = Some((width, path));
    }
}

fn walk_table(t: &toml_edit::Table, prefix: String, at: usize, best: &mut Option<(usize, String)>) {
    // The root "table" is no field.
    if let (false, Some(w)) = (prefix.is_empty(), covers(&t.span(), at)) {
        consider(best, w, prefix.clone());
    }
    for (key, item) in t.iter() {
        let path = join(&prefix, key);
        if let Some((k, _)) = t.get_key_value(key) {
            if let Some(w) = covers(&k.span(), at) {
                consider(best, w, path.clone());
            }
        }
        walk_item(item, path, at, best);
    }
}

fn walk_item(item: &toml_edit::Item, path: String, at: usize, best: &mut Option<(usize, String)>) {
    match item {
        toml_edit::Item::None => {}
        toml_edit::Item::Value(v) => walk_value(v, path, at, best),
        toml_edit::Item::Table(t) => walk_table(t, path, at, best),
        toml_edit::Item::ArrayOfTables(a) => {
            for (i, t) in a.iter().enumerate() {
                walk_table(t, format!("{path}[{i}]"), at, best);
            }
        }
    }
}

fn walk_value(v: &toml_edit::Value, path: String, at: usize, best: &mut Option<(usize, String)>) {
    let Some(w) = covers(&v.span(), at) else {
        return;
    };
    consider(best, w, path.clone());
    match v {
        toml_edit::Value::Array(a) => {
            for (i, e) in a.iter().enumerate() {
                walk_value(e, format!("{path}[{i}]"), at, best);
            }
        }
        toml_edit::Value::InlineTable(t) => {
            for (key, e) in t.iter() {
                let p = join(&path, key);
                if let Some((k, _)) = t.get_key_value(key) {
                    if let Some(w) = covers(&k.span(), at) {
                        consider(best, w, p.clone());
                    }
                }
                walk_value(e, p, at, best);
            }
        }
        _ => {}
    }
}

/// A node reached while following a dotted path through a document.
enum Node<'a> {
    Item(&'a toml_edit::Item),
    Table(&'a toml_edit::Table),
    Value(&'a toml_edit::Value),
}

impl<'a> Node<'a> {
    fn child(&self, key: &str) -> Option<(&'a toml_edit::Key, &'a toml_edit::Item)> {
        match *self {
            Node::Item(i) => i.as_table_like()?.get_key_value(key),
            Node::Table(t) => t.get_key_value(key),
            Node::Value(v) => v.as_inline_table()?.get_key_value(key),
        }
    }

    fn index(&self, i: usize) -> Option<Node<'a>> {
        match *self {
            Node::Item(toml_edit::Item::ArrayOfTables(a)) => a.get(i).map(Node::Table),
            Node::Item(toml_edit::Item::Value(toml_edit::Value::Array(a)))
            | Node::Value(toml_edit::Value::Array(a)) => a.get(i).map(Node::Value),
            _ => None,
        }
    }

    fn span(&self) -> Option<Range<usize>> {
        match *self {
            Node::Item(i) => i.span(),
            Node::Table(t) => t.span(),
            Node::Value(v) => v.span(),
        }
    }
}

/// Span of the element at a dotted path such as `mix` or `queries[1].params`: the key's span
/// for a keyed element (a table's header name), the element's own span for an indexed one.
pub(crate) fn span_of_path(src: &str, path: &str) -> Option<Range<usize>> {
    let doc = toml_edit::ImDocument::parse(src).ok()?;
    let mut node = Node::Table(doc.as_table());
    let mut span = None;
    for seg in path.split('.') {
        let (name, indices) = match seg.find('[') {
            Some(i) => (&seg[..i], &seg[i..]),
            None => (seg, ""),
        };
        let (key, item) = node.child(name)?;
        node = Node::Item(item);
        // Values and table headers point at themselves; implicit tables at their key.
        span = node.span().or_else(|| key.span());
        for idx in indices.split('[').filter(|s| !s.is_empty()) {
            let i: usize = idx.trim_end_matches(']').parse().ok()?;
            node = node.index(i)?;
            span = node.span();
        }
    }
    span
}

/// Best-effort field path for a syntax error, where no document exists: the last table header
/// before the error line, and the key on the error line when it has one.
pub(crate) fn path_near_syntax_error(src: &str, offset: usize) -> String {
    let loc = location_of(src, offset);
    let mut table = String::new();
    let mut key = String::new();
    for (i, line) in src.lines().enumerate() {
        let n = i + 1;
        if n > loc.line {
            break;
        }
        let t = line.trim();
        if n < loc.line || t.starts_with('[') {
            if let Some(h) = header_name(t) {
                table = h;
            }
        }
        if n == loc.line {
            if let Some((k, _)) = t.split_once('=') {
                let k = k.trim();
                if !k.is_empty()
                    && k.chars()
                        .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c))
                {
                    key = k.to_string();
                }
            }
        }
    }
    match (table.is_empty(), key.is_empty()) {
        (_, true) => table,
        (true, false) => key,
        (false, false) => format!("{table}.{key}"),
    }
}

fn header_name(t: &str) -> Option<String> {
    // An unclosed header (`[fleet`) still names its table.
    let inner = if let Some(r) = t.strip_prefix("[[") {
        r.split_once("]]").map_or(r, |(h, _)| h)
    } else {
        let r = t.strip_prefix('[')?;
        r.split_once(']').map_or(r, |(h, _)| h)
    };
    let inner = inner.trim();
    if inner.is_empty()
        || !inner
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-. ".contains(c))
    {
        return None;
    }
    Some(inner.replace(' ', ""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_and_column_are_one_based() {
        let src = "a = 1\nbb = 2\n";
        assert_eq!(location_of(src, 0), Location { line: 1, column: 1 });
        assert_eq!(location_of(src, 6), Location { line: 2, column: 1 });
        assert_eq!(location_of(src, 8), Location { line: 2, column: 3 });
        // Past the end is clamped.
        assert_eq!(location_of(src, 999), Location { line: 3, column: 1 });
    }

    #[test]
    fn columns_count_characters_not_bytes() {
        let src = "name = \"é\" x";
        // 'x' is at byte 12 (é is two bytes) but character 11.
        assert_eq!(
            location_of(src, 12),
            Location {
                line: 1,
                column: 12
            }
        );
        // An offset inside 'é' does not panic.
        assert_eq!(location_of(src, 9).line, 1);
    }

    #[test]
    fn path_at_finds_nested_keys() {
        let src = "[fleet]\nwells = 3\n[[queries]]\nname = \"a\"\n[[queries]]\nname = \"b\"\ntargets = { p95_ms = 3 }\n";
        let off = src.find("p95_ms").unwrap();
        assert_eq!(path_at(src, &(off..off + 6)), "queries[1].targets.p95_ms");
        let off = src.find("wells").unwrap();
        assert_eq!(path_at(src, &(off..off + 5)), "fleet.wells");
        let off = src.find('3').unwrap();
        assert_eq!(path_at(src, &(off..off + 1)), "fleet.wells");
        assert_eq!(
            path_at("[[queries]]\nclients = 2\n", &(0..23)),
            "queries[0]"
        );
    }

    #[test]
    fn span_of_path_finds_tables_and_elements() {
        let src = "[server.settings]\na = 1\n[[queries]]\nname = \"a\"\nparams = [{ kind = \"x\" }]\n[mix]\n";
        let at = |p: &str| span_of_path(src, p).map(|r| location_of(src, r.start));
        assert_eq!(at("mix"), Some(Location { line: 6, column: 1 }));
        assert_eq!(
            at("queries[0].params"),
            Some(Location {
                line: 5,
                column: 10
            })
        );
        assert_eq!(
            at("queries[0].params[0]"),
            Some(Location {
                line: 5,
                column: 11
            })
        );
        assert_eq!(at("server.settings"), Some(Location { line: 1, column: 1 }));
        assert_eq!(at("nope"), None);
        assert_eq!(at("queries[7]"), None);
    }

    #[test]
    fn syntax_error_path_uses_header_and_key() {
        let src = "[fleet]\nwells = = 3\n";
        let off = src.find("= 3").unwrap();
        assert_eq!(path_near_syntax_error(src, off), "fleet.wells");
    }

    #[test]
    fn display_has_file_line_column_field() {
        let e = ScenarioError::at(
            ErrorKind::Invalid,
            "s.toml",
            "a\nbc",
            3,
            "fleet.wells",
            "bad",
        );
        assert_eq!(e.to_string(), "s.toml:2:2: field `fleet.wells`: bad");
    }
}
