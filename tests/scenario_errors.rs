//! Bad scenarios fail with one clear error at the right place; good ones validate; nothing
//! panics.
//!
//! The corpus in tests/fixtures/bad-scenarios/ describes itself: each file's first line is
//! `# expect: LINE:COL FIELD | MESSAGE FRAGMENT` (FIELD `-` when the error names no field).
//! Only the zero-byte `empty.toml` cannot carry the line; its expectation is written here.

use std::path::{Path, PathBuf};

use chrono::{TimeZone, Utc};
use esp_bench::error::BenchError;
use esp_bench::scenario::{self, Builtin, ErrorKind, Metric, Plan, QueryKind};
use proptest::prelude::*;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/bad-scenarios")
}

fn shipped(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios")
        .join(name)
}

struct Expect {
    line: usize,
    column: usize,
    field: String,
    fragment: String,
}

fn expectation(path: &Path) -> Expect {
    if path.file_name().is_some_and(|n| n == "empty.toml") {
        return Expect {
            line: 1,
            column: 1,
            field: String::new(),
            fragment: "empty".into(),
        };
    }
    let bytes = std::fs::read(path).unwrap();
    let text = String::from_utf8_lossy(&bytes);
    let header = text
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("# expect: "))
        .unwrap_or_else(|| panic!("{} has no `# expect:` first line", path.display()));
    let (head, fragment) = header
        .split_once(" | ")
        .expect("`# expect: L:C FIELD | FRAGMENT`");
    let (pos, field) = head.split_once(' ').expect("`L:C FIELD`");
    let (line, column) = pos.split_once(':').expect("`L:C`");
    Expect {
        line: line.parse().unwrap(),
        column: column.parse().unwrap(),
        field: if field == "-" {
            String::new()
        } else {
            field.to_string()
        },
        fragment: fragment.to_string(),
    }
}

#[test]
fn every_bad_scenario_fails_at_its_position() {
    let mut files: Vec<PathBuf> = std::fs::read_dir(fixtures())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    assert!(
        files.len() >= 20,
        "the corpus shrank to {} files",
        files.len()
    );
    let mut kinds = std::collections::BTreeSet::new();
    for path in &files {
        let want = expectation(path);
        let err = match scenario::load(path) {
            Ok(_) => panic!("{} validated but should not", path.display()),
            Err(e) => e,
        };
        let shown = err.to_string();
        let prefix = format!("{}:{}:{}: ", path.display(), want.line, want.column);
        assert!(
            shown.starts_with(&prefix),
            "{}: expected `{prefix}...`, got `{shown}`",
            path.display()
        );
        assert_eq!(err.field, want.field, "{}: {shown}", path.display());
        if !want.field.is_empty() {
            assert!(
                shown.contains(&format!("field `{}`: ", want.field)),
                "{shown}"
            );
        }
        assert!(
            shown.contains(&want.fragment),
            "{}: `{}` not in `{shown}`",
            path.display(),
            want.fragment
        );
        // One line: an error printed in a CI log is readable as is.
        assert!(!shown.contains('\n'), "{shown}");
        kinds.insert(format!("{:?}", err.kind));
    }
    // The corpus covers every kind of error a file can have.
    for k in ["Empty", "Syntax", "Schema", "Invalid"] {
        assert!(kinds.contains(k), "no fixture produces a {k} error");
    }
}

#[test]
fn bad_scenarios_are_config_errors() {
    let err = scenario::load_config(&fixtures().join("unknown-key-fleet.toml")).unwrap_err();
    let config = err.chain().find_map(|c| c.downcast_ref::<BenchError>());
    let Some(BenchError::Config(msg)) = config else {
        panic!("not a BenchError::Config: {err:?}")
    };
    assert!(
        msg.contains("unknown-key-fleet.toml:3:1: field `fleet.wels`: unknown field `wels`"),
        "{msg}"
    );
    let missing = scenario::load(Path::new("scenarios/does-not-exist.toml")).unwrap_err();
    assert_eq!(missing.kind, ErrorKind::Io);
    assert!(missing
        .to_string()
        .contains("scenarios/does-not-exist.toml"));
}

/// The planned time of the queries' own phases, s: every round has its own warmup and a share of
/// the measured stage (count-stopped queries are not timed).
fn query_phase_secs(plan: &Plan) -> f64 {
    let rounds = f64::from(plan.run.rounds);
    plan.queries
        .iter()
        .map(|q| match q.stop {
            scenario::StopCondition::Duration { duration } => {
                rounds * q.warmup.as_secs_f64() + duration.as_secs_f64()
            }
            scenario::StopCondition::Count { .. } => 0.0,
        })
        .sum()
}

fn load_shipped(name: &str) -> Plan {
    scenario::load(&shipped(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn builtin_names(plan: &Plan) -> Vec<&'static str> {
    plan.queries
        .iter()
        .filter_map(|q| match &q.kind {
            QueryKind::Builtin(b) => Some(b.name()),
            QueryKind::Custom { .. } => None,
        })
        .collect()
}

fn p95(plan: &Plan, query: &str) -> Option<f64> {
    plan.query(query)?
        .targets
        .iter()
        .find(|t| t.metric == Metric::P95Ms)
        .map(|t| t.threshold)
}

/// The seed's claims, as every shipped scenario must check them.
fn assert_seed_claims(plan: &Plan) {
    for b in Builtin::NAMES {
        assert!(
            builtin_names(plan).contains(&b),
            "{}: built-in {b} missing",
            plan.name
        );
    }
    assert_eq!(p95(plan, "latest_24h"), Some(10.0));
    assert_eq!(p95(plan, "agg_7d_fleet"), Some(50.0));
    assert_eq!(p95(plan, "agg_7d_well"), Some(50.0));
    let latest = plan.query("latest_24h").unwrap();
    assert_eq!(latest.max_chunks_scanned, Some(2));
    // default/production check the seed's 10x claim; the CI gate's scenario only requires
    // pruning not to be slower (see the comment in scenarios/ci.toml).
    let speedup = if plan.name == "ci" { 1.0 } else { 10.0 };
    assert_eq!(latest.min_pruning_speedup, Some(speedup));
    assert_eq!(plan.checks.telemetry_min_reduction_pct, Some(90.0));
    assert_eq!(plan.checks.diagnostics_min_reduction_pct, Some(85.0));
    assert!(plan.checks.chunk_counts && plan.checks.policies && plan.checks.retention);
    // Retention (30 days) has something to drop.
    assert!(plan.fleet.span > std::time::Duration::from_secs(30 * 86_400));
    assert!(plan.fleet.end_is_now);
}

#[test]
fn default_scenario_is_the_scaled_production_shape() {
    let plan = load_shipped("default.toml");
    assert_eq!(plan.name, "default");
    assert_seed_claims(&plan);
    assert!(plan.fleet.nominal_telemetry_rows() >= 4_000_000);
    assert!(plan.mix.is_some() && plan.ingest.is_some());
    // Query phase budget: at most ~2.5 minutes including the mix.
    let secs = query_phase_secs(&plan);
    assert!(secs <= 150.0, "query phases take {secs} s");
}

#[test]
fn ci_scenario_is_small() {
    let plan = load_shipped("ci.toml");
    assert_eq!(plan.name, "ci");
    assert_seed_claims(&plan);
    assert!(plan.fleet.nominal_telemetry_rows() <= 300_000);
    let secs = query_phase_secs(&plan);
    assert!(secs <= 48.0, "query phases take {secs} s");
}

#[test]
fn production_scenario_is_full_density() {
    let plan = load_shipped("production.toml");
    assert_seed_claims(&plan);
    assert_eq!(plan.fleet.wells, 1000);
    assert_eq!(
        plan.fleet.sample_interval,
        std::time::Duration::from_secs(10)
    );
    assert!(plan.fleet.nominal_telemetry_rows() >= 250_000_000);
}

#[test]
fn fingerprints_of_shipped_scenarios_are_stable_across_runs() {
    let src = std::fs::read_to_string(shipped("ci.toml")).unwrap();
    let a = scenario::parse(
        &src,
        "scenarios/ci.toml",
        Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(),
    )
    .unwrap();
    let b = scenario::parse(
        &src,
        "other/ci.toml",
        Utc.with_ymd_and_hms(2026, 2, 1, 0, 0, 0).unwrap(),
    )
    .unwrap();
    assert_eq!(scenario::fingerprint(&a), scenario::fingerprint(&b));
    let default = load_shipped("default.toml");
    assert_ne!(scenario::fingerprint(&a), scenario::fingerprint(&default));
}

/// Ok, or an error with a real position: never a panic, never an unplaced error.
fn check_outcome(src: &str) -> Result<(), TestCaseError> {
    let now = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    if let Err(e) = scenario::parse(src, "fuzz.toml", now) {
        let loc = e
            .location
            .ok_or_else(|| TestCaseError::fail(format!("no location: {e}")))?;
        prop_assert!(loc.line >= 1 && loc.column >= 1, "{e}");
        prop_assert!(
            loc.line <= src.lines().count().max(1) + 1,
            "line past the end: {e}"
        );
        let prefix = format!("fuzz.toml:{}:{}: ", loc.line, loc.column);
        prop_assert!(e.to_string().starts_with(&prefix), "{}", e);
    }
    Ok(())
}

/// Edits that keep a file close to valid TOML, so validation (not only the parser) is reached.
#[derive(Debug, Clone)]
enum Edit {
    Delete(usize, usize),
    Insert(usize, String),
    DuplicateLine(usize),
    DropLine(usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    let token = prop::sample::select(vec![
        "0",
        "-1",
        "9999999999999999999",
        "1e400",
        "nan",
        "\"\"",
        "\"0s\"",
        "\"1h\"",
        "\"now\"",
        "[",
        "]",
        "{",
        "}",
        "=",
        ",",
        "\"",
        "'",
        "\n",
        "[[queries]]\nname = \"latest_24h\"\n",
        "[mix]\n",
        "weight = 1\n",
        "count = 3\n",
        "$1",
        "é",
        "\\u0000",
        "p95",
        "true",
        "1979-05-27T07:32:00Z",
    ])
    .prop_map(str::to_string);
    prop_oneof![
        (any::<usize>(), 1usize..20).prop_map(|(a, n)| Edit::Delete(a, n)),
        (any::<usize>(), token).prop_map(|(a, t)| Edit::Insert(a, t)),
        any::<usize>().prop_map(Edit::DuplicateLine),
        any::<usize>().prop_map(Edit::DropLine),
    ]
}

fn apply(src: &str, e: &Edit) -> String {
    let chars: Vec<char> = src.chars().collect();
    let mut lines: Vec<&str> = src.lines().collect();
    match e {
        Edit::Delete(at, n) => {
            let at = at % (chars.len() + 1);
            let end = (at + n).min(chars.len());
            chars[..at].iter().chain(&chars[end..]).collect()
        }
        Edit::Insert(at, t) => {
            let at = at % (chars.len() + 1);
            let mut s: String = chars[..at].iter().collect();
            s.push_str(t);
            s.extend(&chars[at..]);
            s
        }
        Edit::DuplicateLine(i) if !lines.is_empty() => {
            let i = i % lines.len();
            lines.insert(i, lines[i]);
            lines.join("\n")
        }
        Edit::DropLine(i) if !lines.is_empty() => {
            lines.remove(i % lines.len());
            lines.join("\n")
        }
        _ => src.to_string(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn random_text_never_panics(src in any::<String>()) {
        check_outcome(&src)?;
    }

    #[test]
    fn random_tomlish_text_never_panics(src in "[\\[\\]a-z_=\"0-9 .\n{},#-]{0,200}") {
        check_outcome(&src)?;
    }

    #[test]
    fn mutated_valid_scenarios_never_panic(edits in prop::collection::vec(edit(), 1..6), which in 0usize..3) {
        let name = ["ci.toml", "default.toml", "production.toml"][which];
        let mut src = std::fs::read_to_string(shipped(name)).unwrap();
        for e in &edits {
            src = apply(&src, e);
        }
        check_outcome(&src)?;
    }
}

/// Every complete TOML example in docs/scenarios.md validates, so the documentation cannot drift
/// from the format.
#[test]
fn documented_examples_validate() {
    let doc =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/scenarios.md"))
            .unwrap();
    let blocks: Vec<&str> = doc
        .split("```toml\n")
        .skip(1)
        .filter_map(|b| b.split_once("```").map(|(code, _)| code))
        .collect();
    assert!(blocks.len() >= 3, "docs/scenarios.md lost its examples");
    let now = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    let mut validated = 0;
    for code in blocks {
        // The section overview lists bare headers only.
        if !code.contains('=') {
            continue;
        }
        if let Err(e) = scenario::parse(code, "docs/scenarios.md", now) {
            panic!("documented example does not validate: {e}\n{code}");
        }
        validated += 1;
    }
    assert!(validated >= 3, "only {validated} examples validated");
}
