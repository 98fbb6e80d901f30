//! Issue 7 promises proved through the real `bench` binary against embedded servers
//! (docs/guarantees.md maps every promise to its test):
//! - secrets: a planted password never reaches stdout, stderr or any report file, on success
//!   paths (`run`, `load`, `info`, `compare`) and on the wrong-password error path;
//! - the user's data: identifiers are quoted (keyword schema names work end to end), nothing is
//!   dropped or replaced without an explicit flag;
//! - faults: an unreachable server at the start of `run`/`load` is exit 2; SIGINT/SIGTERM
//!   during the load and checks phases of `bench run` give exit 130, a partial report marked
//!   interrupted, and no postgres process or temp dir left behind (the query phase is covered
//!   by tests/exec.rs); SIGINT to `bench load` leaves table and ledger consistent and a re-run
//!   loads exactly the generator's rows;
//! - a runaway query is stopped by `[run] statement_timeout`: errors counted (SQLSTATE 57014,
//!   keyed `timeout`), the run finishes degraded, exit 1.
//!
//! No assertion is about how long something took.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use esp_bench::db::Target;
use nix::sys::signal::Signal;

mod common;
use common::Leftovers;

fn bench() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_bench"));
    // Never pick up a server or password from the developer's environment.
    c.env_remove("DATABASE_URL").env_remove("PGPASSWORD");
    c
}

fn write_scenario(dir: &Path, name: &str, body: &str) -> PathBuf {
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, format!("[scenario]\nname = \"{name}\"\n\n{body}")).unwrap();
    path
}

/// Little data, one short custom query phase, checks that need much data switched off.
const TINY: &str = r#"
[fleet]
wells = 2
sample_interval = "300s"
span = "2d"
end = "2025-01-31T00:00:00Z"

[run]
warmup = "0s"
duration = "1s"
stats_interval = "500ms"

[[queries]]
name = "count_well"
sql = "SELECT count(*) FROM esp_telemetry WHERE well_id = $1"
params = [{ kind = "random_well" }]

[checks]
chunk_counts = false
policies = false
retention = false
"#;

fn text(out: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Every regular file under `dir`, recursively.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let ft = e.file_type().unwrap();
            if ft.is_dir() {
                todo.push(e.path());
            } else if ft.is_file() {
                out.push(e.path());
            }
        }
    }
    out
}

fn password_of(url: &str) -> String {
    url::Url::parse(url)
        .unwrap()
        .password()
        .expect("the embedded server's URL carries a password")
        .to_string()
}

/// `bench run`, `load`, `info` and `compare` on a live server, with the password in the URL and
/// in PGPASSWORD: the password is in no output and no file of the report directory.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn planted_password_appears_in_no_output_and_no_report_file() {
    let server = common::server().await;
    let left = Leftovers::of(&server);
    let url = server.url();
    let password = password_of(&url);
    assert!(password.len() >= 16, "a generated password");
    let bare = format!("postgres://postgres@127.0.0.1:{}/esp_bench", server.port());
    let dir = tempfile::tempdir().unwrap();
    let scenario = write_scenario(dir.path(), "secrets", TINY);
    let report = dir.path().join("report");
    let summary = report.join("summary.json");

    let runs: Vec<(&str, Command)> = vec![
        ("run", {
            let mut c = bench();
            c.arg("run")
                .arg(&scenario)
                .args(["--database-url", &url, "--out"])
                .arg(&report);
            c
        }),
        ("info", {
            let mut c = bench();
            c.args(["info", "--database-url", &url]);
            c
        }),
        ("info --json (PGPASSWORD)", {
            let mut c = bench();
            c.args(["info", "--json", "--database-url", &bare])
                .env("PGPASSWORD", &password);
            c
        }),
        ("load (rerun: resumes)", {
            let mut c = bench();
            c.arg("load").arg(&scenario).args(["--database-url", &url]);
            c
        }),
        ("load --schema other (PGPASSWORD)", {
            let mut c = bench();
            c.arg("load")
                .arg(&scenario)
                .args(["--schema", "other_bench", "--database-url", &bare])
                .env("PGPASSWORD", &password);
            c
        }),
        ("compare", {
            let mut c = bench();
            c.arg("compare").arg(&summary).arg(&summary);
            c
        }),
        ("compare --format json", {
            let mut c = bench();
            c.arg("compare")
                .arg(&summary)
                .arg(&summary)
                .args(["--format", "json"]);
            c
        }),
    ];
    let mut outputs = Vec::new();
    for (what, mut cmd) in runs {
        let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
            .await
            .unwrap();
        let all = text(&out);
        assert!(!all.contains(&password), "{what}: password printed:\n{all}");
        outputs.push((what, out));
    }
    // The commands really did their work (a command that failed early proves nothing).
    for (what, out) in &outputs {
        assert!(
            out.status.code() == Some(0) || out.status.code() == Some(1),
            "{what}: {}",
            text(out)
        );
    }
    let files = files_under(&report);
    assert!(
        files.iter().any(|f| f.ends_with("summary.json")),
        "{files:?}"
    );
    assert!(files.len() >= 3, "{files:?}");
    for f in &files {
        let bytes = std::fs::read(f).unwrap();
        assert!(
            !String::from_utf8_lossy(&bytes).contains(&password),
            "password written to {}",
            f.display()
        );
    }
    server.stop().await.unwrap();
    left.assert_gone();
}

/// A wrong password on a live server: `info`, `load` and `run` fail with exit 2 naming the
/// server, and never echo the wrong password (from the URL or from PGPASSWORD).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_password_error_does_not_echo_it() {
    let server = common::server().await;
    let left = Leftovers::of(&server);
    let port = server.port();
    let wrong = "WrongPlanted-7c1e9a";
    assert_ne!(wrong, password_of(&server.url()));
    let url = format!("postgres://postgres:{wrong}@127.0.0.1:{port}/esp_bench");
    let bare = format!("postgres://postgres@127.0.0.1:{port}/esp_bench");
    let dir = tempfile::tempdir().unwrap();
    let scenario = write_scenario(dir.path(), "wrongpw", TINY);
    let report = dir.path().join("report");

    let runs: Vec<(&str, Command)> = vec![
        ("info", {
            let mut c = bench();
            c.args(["info", "--database-url", &url]);
            c
        }),
        ("info (PGPASSWORD)", {
            let mut c = bench();
            c.args(["info", "--database-url", &bare])
                .env("PGPASSWORD", wrong);
            c
        }),
        ("load", {
            let mut c = bench();
            c.arg("load").arg(&scenario).env("DATABASE_URL", &url);
            c
        }),
        ("run", {
            let mut c = bench();
            c.arg("run")
                .arg(&scenario)
                .args(["--database-url", &url, "--out"])
                .arg(&report);
            c
        }),
    ];
    for (what, mut cmd) in runs {
        let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
            .await
            .unwrap();
        let all = text(&out);
        assert_eq!(out.status.code(), Some(2), "{what}: {all}");
        assert!(
            !all.contains(wrong),
            "{what}: wrong password echoed:\n{all}"
        );
        assert!(!all.contains("panicked"), "{what}: {all}");
        // The error says which server refused (with the password masked).
        assert!(all.contains(&format!("127.0.0.1:{port}")), "{what}: {all}");
        assert!(
            all.contains("password") || all.contains("authentication"),
            "{what}: the error should say authentication failed:\n{all}"
        );
    }
    if report.exists() {
        for f in files_under(&report) {
            let s = String::from_utf8_lossy(&std::fs::read(&f).unwrap()).to_string();
            assert!(!s.contains(wrong), "wrong password in {}", f.display());
        }
    }
    server.stop().await.unwrap();
    left.assert_gone();
}

/// PIDs whose parent is `pid` (read from /proc).
fn children_of(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(p) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else {
            continue;
        };
        // "pid (comm) state ppid ...": fields after the last ')'.
        let ppid = stat[stat.rfind(')').map_or(0, |i| i + 1)..]
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse::<u32>().ok());
        if ppid == Some(pid) {
            out.push(p);
        }
    }
    out
}

/// Spawn `bench run scenario --out out` on an embedded server, wait until a stderr line
/// contains `marker`, give the phase `settle` to get going, send `signal`, and check the
/// promises: exit 130, a partial summary marked interrupted, nothing left behind.
/// Returns the partial summary.
fn interrupt_run_at(
    scenario: &Path,
    out: &Path,
    marker: &str,
    settle: Duration,
    signal: Signal,
) -> serde_json::Value {
    let mut child = bench()
        .arg("run")
        .arg(scenario)
        .arg("--out")
        .arg(out)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let stdout = child.stdout.take().unwrap();
    let stdout = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut BufReader::new(stdout), &mut s);
        s
    });
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut seen = Vec::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        seen.push(line.clone());
        if line.contains(marker) {
            break;
        }
    }
    assert!(
        seen.last().is_some_and(|l| l.contains(marker)),
        "never saw `{marker}` on stderr:\n{}",
        seen.join("\n")
    );
    // The embedded server: its run dir (owned by this bench) and the postmaster in it.
    let run_dirs = common::run_dirs_of(pid);
    assert_eq!(run_dirs.len(), 1, "one embedded-server dir: {run_dirs:?}");
    let postmaster = common::postmaster_pid_in(&run_dirs[0].join("data"))
        .expect("the embedded postmaster is running");
    assert!(common::pid_running(postmaster));
    // Every process of that cluster: the postmaster's children (backends, background workers)
    // and anything naming the run dir. Only inspected, never signalled.
    let mut cluster = children_of(postmaster);
    cluster.extend(common::postgres_pids_mentioning(
        &run_dirs[0].display().to_string(),
    ));
    assert!(
        !cluster.is_empty(),
        "the cluster has backends or workers at the time of the signal"
    );
    std::thread::sleep(settle);
    assert!(
        child.try_wait().unwrap().is_none(),
        "bench finished before the signal: the phase was too short\n{}",
        seen.join("\n")
    );
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), signal).unwrap();
    // Keep draining stderr so bench never blocks on a full pipe.
    let drain = std::thread::spawn(move || lines.map_while(Result::ok).collect::<Vec<_>>());
    let status = child.wait().unwrap();
    let rest = drain.join().unwrap();
    let stdout = stdout.join().unwrap();
    let log = format!(
        "stderr before the signal:\n{}\nafter:\n{}\nstdout:\n{stdout}",
        seen.join("\n"),
        rest.join("\n")
    );
    assert_eq!(status.code(), Some(130), "{signal:?}: {log}");
    let name = signal.as_str();
    assert!(
        rest.iter().any(|l| l.contains(&format!("{name} received"))),
        "{log}"
    );
    assert!(!log.contains("panicked"), "{log}");
    // Nothing left: postmaster, any process started in the run dir, the run dir itself.
    assert!(
        common::wait_until_gone(postmaster, Duration::from_secs(30)),
        "postmaster {postmaster} left running after {signal:?}: {log}"
    );
    for p in cluster {
        assert!(
            common::wait_until_gone(p, Duration::from_secs(30)),
            "postgres process {p} left running after {signal:?}"
        );
    }
    assert!(
        common::run_dirs_of(pid).is_empty() && !run_dirs[0].exists(),
        "temp dir {} left behind after {signal:?}",
        run_dirs[0].display()
    );
    // The partial report.
    let path = out.join("summary.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("no partial {}: {e}\n{log}", path.display()));
    let summary: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(summary["interrupted"], true, "{text}");
    assert_eq!(summary["verdict"], "interrupted", "{text}");
    assert!(
        stdout.contains("interrupted") || stdout.contains("INTERRUPTED"),
        "the console summary says the run was interrupted:\n{stdout}"
    );
    summary
}

/// Big enough that loading takes many seconds even in a release build (2M telemetry rows),
/// with a long query phase behind it: a signal that arrived after the load would show up as
/// query results in the partial report, and fail the test.
const BIG_LOAD: &str = r#"
[fleet]
wells = 200
sample_interval = "60s"
span = "7d"
end = "2025-01-31T00:00:00Z"

[load]
workers = 2
batch_size = 5000

[run]
warmup = "0s"
duration = "120s"

[[queries]]
name = "latest_24h"

[checks]
chunk_counts = false
policies = false
retention = false
"#;

fn interrupt_during_load(signal: Signal) {
    let dir = tempfile::tempdir().unwrap();
    let scenario = write_scenario(dir.path(), "load-interrupt", BIG_LOAD);
    let out = dir.path().join("report");
    let summary = interrupt_run_at(
        &scenario,
        &out,
        "loading data",
        Duration::from_millis(1500),
        signal,
    );
    // Stopped in the load: no query phase ran, no check was evaluated.
    assert_eq!(summary["queries"].as_array().unwrap().len(), 0, "{summary}");
    assert_eq!(summary["checks"].as_array().unwrap().len(), 0, "{summary}");
}

#[test]
fn sigint_during_load_exits_130_with_partial_report_and_no_server_left() {
    interrupt_during_load(Signal::SIGINT);
}

#[test]
fn sigterm_during_load_exits_130_with_partial_report_and_no_server_left() {
    interrupt_during_load(Signal::SIGTERM);
}

/// A checks phase that lasts several seconds: the pruning-speedup check runs this time-bounded
/// query at least 8 times (with and without pruning), each sleeping 1 s on the server.
const SLOW_CHECKS: &str = r#"
[fleet]
wells = 2
sample_interval = "300s"
span = "3d"
end = "2025-01-31T00:00:00Z"

[run]
warmup = "0s"
statement_timeout = "30s"

[[queries]]
name = "sleepy_window"
sql = """
SELECT (SELECT count(*) FROM esp_telemetry
        WHERE "timestamp" > $1::timestamptz - interval '1 hour' AND "timestamp" <= $1::timestamptz),
       pg_sleep(1)
"""
params = [{ kind = "data_end" }]
time_bounded = true
count = 1
min_pruning_speedup = 1

[checks]
chunk_counts = false
policies = false
retention = false
"#;

fn interrupt_during_checks(signal: Signal) {
    let dir = tempfile::tempdir().unwrap();
    let scenario = write_scenario(dir.path(), "checks-interrupt", SLOW_CHECKS);
    let out = dir.path().join("report");
    let summary = interrupt_run_at(
        &scenario,
        &out,
        "running checks",
        Duration::from_millis(1500),
        signal,
    );
    // The query phase finished before the signal and its figures are kept.
    assert_eq!(summary["queries"][0]["count"], 1, "{summary}");
}

#[test]
fn sigint_during_checks_exits_130_with_partial_report_and_no_server_left() {
    interrupt_during_checks(Signal::SIGINT);
}

#[test]
fn sigterm_during_checks_exits_130_with_partial_report_and_no_server_left() {
    interrupt_during_checks(Signal::SIGTERM);
}

/// `SELECT pg_sleep(5)` under `statement_timeout = "200ms"`: every execution is cancelled by
/// the server (SQLSTATE 57014, reported as `timeout`), the run finishes degraded, exit 1.
#[test]
fn statement_timeout_stops_runaway_queries_and_marks_the_run_degraded() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = write_scenario(
        dir.path(),
        "timeout",
        r#"
[fleet]
wells = 2
sample_interval = "300s"
span = "2d"
end = "2025-01-31T00:00:00Z"

[run]
warmup = "0s"
duration = "2s"
stats_interval = "500ms"
statement_timeout = "200ms"

[[queries]]
name = "runaway"
sql = "SELECT pg_sleep(5)"

[checks]
chunk_counts = false
policies = false
retention = false
"#,
    );
    let out_dir = dir.path().join("report");
    let out = bench()
        .arg("run")
        .arg(&scenario)
        .arg("--out")
        .arg(&out_dir)
        .output()
        .unwrap();
    let log = text(&out);
    assert_eq!(out.status.code(), Some(1), "{log}");
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out_dir.join("summary.json")).unwrap())
            .unwrap();
    assert_eq!(summary["interrupted"], false, "{summary}");
    assert_eq!(summary["degraded"], true, "{summary}");
    assert_eq!(summary["verdict"], "fail", "{summary}");
    let q = &summary["queries"][0];
    assert_eq!(q["name"], "runaway");
    // No pg_sleep(5) ever completed: the timeout cut every one of them.
    assert_eq!(q["count"], 0, "{q}");
    let errors = q["errors"].as_u64().unwrap();
    assert!(errors >= 1, "{q}");
    // SQLSTATE 57014 (query_canceled) raised by statement_timeout is keyed `timeout`, apart
    // from other cancellations (docs/report-format.md, `errors_by_sqlstate`).
    let by_state = q["errors_by_sqlstate"].as_object().unwrap();
    assert_eq!(by_state.len(), 1, "only statement timeouts: {q}");
    assert_eq!(
        by_state.get("timeout").and_then(|n| n.as_u64()),
        Some(errors),
        "errors counted as statement timeouts (57014): {q}"
    );
}

/// Identifiers are quoted, not just validated: a schema named like SQL keywords (`select`,
/// `user`) is accepted by validation and works for apply, load, run and reset; any unquoted
/// use would be a syntax error. The user's own `public` tables are untouched throughout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyword_schema_names_are_quoted_end_to_end() {
    let server = common::server().await;
    let left = Leftovers::of(&server);
    let url = server.url();
    let client = Target::for_url(&url, "esp_bench")
        .unwrap()
        .connect()
        .await
        .unwrap();
    client
        .batch_execute(
            "CREATE TABLE public.esp_telemetry (note text); \
             INSERT INTO public.esp_telemetry VALUES ('user data');",
        )
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let scenario = write_scenario(dir.path(), "keywords", TINY);
    for schema in ["select", "user"] {
        let report = dir.path().join(format!("report-{schema}"));
        let steps: Vec<Vec<String>> = vec![
            vec!["schema".into(), "apply".into()],
            vec!["load".into(), scenario.display().to_string()],
            vec![
                "run".into(),
                scenario.display().to_string(),
                "--out".into(),
                report.display().to_string(),
            ],
            vec!["schema".into(), "reset".into(), "--yes".into()],
        ];
        for args in steps {
            let mut cmd = bench();
            cmd.args(&args)
                .args(["--schema", schema, "--database-url", &url]);
            let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
                .await
                .unwrap();
            assert_eq!(
                out.status.code(),
                Some(0),
                "{schema} {args:?}: {}",
                text(&out)
            );
        }
        let left_over: i64 = client
            .query_one(
                "SELECT count(*) FROM pg_namespace WHERE nspname = $1",
                &[&schema],
            )
            .await
            .unwrap()
            .get(0);
        assert_eq!(left_over, 0, "reset drops the schema bench created");
    }
    let rows: Vec<String> = client
        .query("SELECT note FROM public.esp_telemetry", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(rows, vec!["user data".to_string()]);
    drop(client);
    server.stop().await.unwrap();
    left.assert_gone();
}

async fn telemetry_rows(client: &tokio_postgres::Client) -> i64 {
    client
        .query_one("SELECT count(*) FROM esp_bench.esp_telemetry", &[])
        .await
        .unwrap()
        .get(0)
}

/// Reset is never implicit: `schema reset` without `--yes`, and `run`/`load` of another fleet
/// into a schema holding data, are refused with a message naming the flag, and the data stays.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_is_dropped_or_replaced_without_an_explicit_flag() {
    let server = common::server().await;
    let left = Leftovers::of(&server);
    let url = server.url();
    let dir = tempfile::tempdir().unwrap();
    let scenario = write_scenario(dir.path(), "keep", TINY);
    let other_fleet = write_scenario(dir.path(), "other", &TINY.replace("wells = 2", "wells = 3"));
    let run = |args: Vec<String>| {
        let url = url.clone();
        tokio::task::spawn_blocking(move || {
            bench()
                .args(&args)
                .args(["--database-url", &url])
                .output()
                .unwrap()
        })
    };
    let s = |p: &Path| p.display().to_string();

    let out = run(vec!["load".into(), s(&scenario)]).await.unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let client = Target::for_url(&url, "esp_bench")
        .unwrap()
        .connect()
        .await
        .unwrap();
    let loaded = telemetry_rows(&client).await;
    assert!(loaded > 0);

    let out = run(vec!["schema".into(), "reset".into()]).await.unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("--yes"), "{}", text(&out));
    assert_eq!(telemetry_rows(&client).await, loaded);

    for cmd in ["load", "run"] {
        let mut args = vec![cmd.to_string(), s(&other_fleet)];
        if cmd == "run" {
            args.extend(["--out".into(), s(&dir.path().join("report"))]);
        }
        let out = run(args).await.unwrap();
        let all = text(&out);
        assert_eq!(out.status.code(), Some(2), "{cmd}: {all}");
        assert!(all.contains("different fleet"), "{cmd}: {all}");
        assert!(all.contains("--reset") && all.contains("--schema"), "{all}");
        assert_eq!(telemetry_rows(&client).await, loaded, "{cmd} changed data");
    }

    // The same fleet again resumes (nothing to do) rather than reloading or duplicating.
    let out = run(vec!["load".into(), s(&scenario)]).await.unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(telemetry_rows(&client).await, loaded);

    // Only the explicit flag drops.
    let out = run(vec!["schema".into(), "reset".into(), "--yes".into()])
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let tables: i64 = client
        .query_one(
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'esp_bench'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(tables, 0);
    drop(client);
    server.stop().await.unwrap();
    left.assert_gone();
}

/// `run` and `load` against a server that is not there: one clear error naming the address,
/// exit 2, no panic, no report directory created.
#[test]
fn unreachable_server_at_start_of_run_and_load_exits_2() {
    let port = common::closed_port();
    let url = format!("postgres://bench:NotThere-91c3@127.0.0.1:{port}/esp_telemetry");
    let dir = tempfile::tempdir().unwrap();
    let scenario = write_scenario(dir.path(), "unreachable", TINY);
    let report = dir.path().join("report");
    for cmd in ["run", "load"] {
        let mut c = bench();
        c.arg(cmd).arg(&scenario).args(["--database-url", &url]);
        if cmd == "run" {
            c.arg("--out").arg(&report);
        }
        let out = c.output().unwrap();
        let all = text(&out);
        assert_eq!(out.status.code(), Some(2), "{cmd}: {all}");
        assert!(all.contains("cannot connect to"), "{cmd}: {all}");
        assert!(all.contains(&format!("127.0.0.1:{port}")), "{cmd}: {all}");
        assert!(
            !all.contains("panicked") && !all.contains("NotThere-91c3"),
            "{all}"
        );
        assert_eq!(
            String::from_utf8_lossy(&out.stderr)
                .matches("error:")
                .count(),
            1,
            "{cmd}: one error: {all}"
        );
    }
    assert!(!report.exists(), "no report for a run that never started");
}

/// SIGINT to `bench load` (the CLI) in mid-COPY: exit 130 with an "interrupted" error, the
/// tables hold exactly what the ledger says (no half batch); a re-run completes with exactly
/// the generator's rows: none lost, none duplicated.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigint_to_bench_load_keeps_the_ledger_exact_and_rerun_completes() {
    use esp_bench::load::verify;
    let server = common::server().await;
    let left = Leftovers::of(&server);
    let url = server.url();
    let dir = tempfile::tempdir().unwrap();
    let scenario = write_scenario(
        dir.path(),
        "load-sigint",
        r#"
[fleet]
wells = 60
sample_interval = "60s"
span = "7d"
end = "2025-01-31T00:00:00Z"

[load]
workers = 2
batch_size = 5000
"#,
    );
    let plan = esp_bench::scenario::load_config(&scenario).unwrap();
    let fleet = esp_bench::datagen::Fleet::new(&plan.fleet);
    let load = {
        let (scenario, url) = (scenario.clone(), url.clone());
        move || {
            let mut c = bench();
            c.arg("load")
                .arg(&scenario)
                .args(["--progress", "quiet", "--database-url", &url]);
            c
        }
    };
    let child = load()
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let watcher = Target::for_url(&url, "esp_bench")
        .unwrap()
        .connect()
        .await
        .unwrap();
    // Wait until a COPY is streaming, then interrupt.
    let mut copying = false;
    for _ in 0..600 {
        let n: i64 = watcher
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE query ILIKE 'COPY%' AND state = 'active'",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        if n > 0 {
            copying = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(copying, "the load never started a COPY");
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), Signal::SIGINT).unwrap();
    let out = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
        .await
        .unwrap();
    let all = text(&out);
    assert_eq!(out.status.code(), Some(130), "{all}");
    assert!(all.contains("interrupted"), "{all}");
    assert!(!all.contains("panicked"), "{all}");

    let after_signal = verify::check_tables(&watcher, "esp_bench", &fleet)
        .await
        .unwrap();
    for c in &after_signal {
        assert!(
            c.consistent(),
            "table and ledger disagree after SIGINT: {c}"
        );
    }
    assert!(
        after_signal.iter().any(|c| !c.exact()),
        "the load had finished before the signal: the test proves nothing"
    );

    let out = tokio::task::spawn_blocking(move || load().output().unwrap())
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    for c in verify::check_tables(&watcher, "esp_bench", &fleet)
        .await
        .unwrap()
    {
        assert!(c.exact(), "after the re-run: {c}");
        assert_eq!(c.lost(), 0);
    }
    drop(watcher);
    server.stop().await.unwrap();
    left.assert_gone();
}
